/* error.h - internal error reporting: set a thread-local message with a status, copy it into
 * a handle, overflow-safe size arithmetic. Every libmedge failure path goes through medge_err. */
#ifndef MEDGE_CORE_ERROR_H
#define MEDGE_CORE_ERROR_H

#include "medge.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MEDGE_ERRMSG_MAX 512

/* Every public handle struct starts with this, so medge_errmsg(handle) can find the text. */
typedef struct medge_handle {
    char errmsg[MEDGE_ERRMSG_MAX];
} medge_handle;

#if defined(__GNUC__)
#define MEDGE_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define MEDGE_PRINTF(a, b)
#endif

/* Set the calling thread's error message (printf style) and return rc. */
medge_status medge_err(medge_status rc, const char *fmt, ...) MEDGE_PRINTF(2, 3);
/* Prefix the thread's current message with "prefix: " (e.g. a file name), return rc. */
medge_status medge_err_prefix(medge_status rc, const char *fmt, ...) MEDGE_PRINTF(2, 3);
/* The thread's current message. */
const char *medge_err_last(void);
/* Copy the thread's message into a handle (call when a handle function fails). Returns rc. */
medge_status medge_handle_fail(medge_handle *h, medge_status rc);
void medge_err_clear(void);

/* Overflow-checked arithmetic: return false on overflow. */
static inline bool medge_add_u64(uint64_t a, uint64_t b, uint64_t *r) { return !__builtin_add_overflow(a, b, r); }
static inline bool medge_mul_u64(uint64_t a, uint64_t b, uint64_t *r) { return !__builtin_mul_overflow(a, b, r); }
static inline bool medge_mul_size(size_t a, size_t b, size_t *r) { return !__builtin_mul_overflow(a, b, r); }
static inline uint64_t medge_pad_u64(uint64_t x, uint64_t align) { return (x + align - 1) / align * align; }

#define MEDGE_TRY(expr)                           \
    do {                                          \
        medge_status medge_try_rc_ = (expr);      \
        if (medge_try_rc_ != MEDGE_OK)            \
            return medge_try_rc_;                 \
    } while (0)

#endif
