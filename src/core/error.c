/* error.c - status strings, thread-local error messages and the per-handle copy of them. */
#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char tls_msg[MEDGE_ERRMSG_MAX];

const char *medge_status_str(medge_status rc)
{
    switch (rc) {
    case MEDGE_OK: return "ok";
    case MEDGE_ERR_INVALID_ARG: return "invalid argument";
    case MEDGE_ERR_NOMEM: return "out of memory";
    case MEDGE_ERR_IO: return "input/output error";
    case MEDGE_ERR_FORMAT: return "malformed data";
    case MEDGE_ERR_UNSUPPORTED: return "unsupported";
    case MEDGE_ERR_NOT_FOUND: return "not found";
    case MEDGE_ERR_MISMATCH: return "mismatch";
    case MEDGE_ERR_RANGE: return "out of range";
    case MEDGE_ERR_CONTEXT_FULL: return "context full";
    case MEDGE_ERR_ABORTED: return "aborted";
    case MEDGE_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

medge_status medge_err(medge_status rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tls_msg, sizeof tls_msg, fmt, ap);
    va_end(ap);
    return rc;
}

medge_status medge_err_prefix(medge_status rc, const char *fmt, ...)
{
    char prefix[MEDGE_ERRMSG_MAX], old[MEDGE_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, tls_msg, sizeof old);
    const char *rest = old[0] ? old : medge_status_str(rc);
    size_t np = strnlen(prefix, sizeof tls_msg - 1);
    memcpy(tls_msg, prefix, np);
    size_t k = np;
    if (k + 2 < sizeof tls_msg) {
        memcpy(tls_msg + k, ": ", 2);
        k += 2;
    }
    size_t nr = strnlen(rest, sizeof tls_msg - 1 - k);
    memcpy(tls_msg + k, rest, nr);
    tls_msg[k + nr] = 0;
    return rc;
}

const char *medge_err_last(void) { return tls_msg; }

void medge_err_clear(void) { tls_msg[0] = 0; }

medge_status medge_handle_fail(medge_handle *h, medge_status rc)
{
    if (h) {
        memcpy(h->errmsg, tls_msg, sizeof h->errmsg);
        h->errmsg[sizeof h->errmsg - 1] = 0;
    }
    return rc;
}

const char *medge_errmsg(const void *handle)
{
    if (handle)
        return ((const medge_handle *)handle)->errmsg;
    return tls_msg;
}

const char *medge_version(void) { return "0.1.0"; }
