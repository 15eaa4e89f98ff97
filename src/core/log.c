/* log.c - forwards formatted messages to the callback set with medge_log_set (none by default:
 * libmedge never prints on its own). */
#include "core/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

static medge_log_fn _Atomic log_fn;
static void *_Atomic log_user;

void medge_log_set(medge_log_fn fn, void *user)
{
    atomic_store(&log_user, user);
    atomic_store(&log_fn, fn);
}

void medge_log(medge_log_level level, const char *fmt, ...)
{
    medge_log_fn fn = atomic_load(&log_fn);
    if (!fn)
        return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fn(level, buf, atomic_load(&log_user));
}

void medge_free(void *p) { free(p); }
