/*
 * medge.h - the public C API of libmedge: offline medical AI (MedGemma, BiomedCLIP) on CPUs.
 *
 * Usage sketch:
 *
 *     medge_model *model;
 *     medge_model_params mp = medge_model_default_params();
 *     if (medge_model_load("medgemma-4b-it-Q4_K_S.gguf", mp, &model) != MEDGE_OK) {
 *         fprintf(stderr, "%s\n", medge_errmsg(NULL));
 *         return 1;
 *     }
 *     ...
 *     medge_model_free(model);
 *
 * Conventions (hold for every function below):
 * - Constructors return a medge_status and fill an out-parameter; destructors are *_free and
 *   accept NULL.
 * - On failure, medge_errmsg(handle) gives the detail for calls on a handle, and
 *   medge_errmsg(NULL) the detail of the calling thread's last failure (also set for handle
 *   calls). The returned text stays valid until the next libmedge call on that handle/thread.
 * - libmedge never aborts, exits or prints; diagnostics go to the log callback.
 * - Strings are UTF-8. Memory libmedge allocates for the caller is freed with medge_free().
 */
#ifndef MEDGE_H
#define MEDGE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(MEDGE_BUILDING) && defined(__GNUC__)
#define MEDGE_API __attribute__((visibility("default")))
#else
#define MEDGE_API
#endif

#define MEDGE_VERSION_MAJOR 0
#define MEDGE_VERSION_MINOR 1
#define MEDGE_VERSION_PATCH 0

/* Status codes. Append only: values never change meaning. */
typedef enum medge_status {
    MEDGE_OK = 0,
    MEDGE_ERR_INVALID_ARG = 1,   /* a caller-supplied argument is invalid */
    MEDGE_ERR_NOMEM = 2,         /* allocation failed or the request needs more memory than allowed */
    MEDGE_ERR_IO = 3,            /* open/read/write/rename failed */
    MEDGE_ERR_FORMAT = 4,        /* the file or data is malformed (truncated, bad magic, bad offsets...) */
    MEDGE_ERR_UNSUPPORTED = 5,   /* well formed, but a version/type/feature medge does not support */
    MEDGE_ERR_NOT_FOUND = 6,     /* a key, tensor, file or token was not found */
    MEDGE_ERR_MISMATCH = 7,      /* shapes, types or vocabularies of two inputs do not agree */
    MEDGE_ERR_RANGE = 8,         /* a value is out of range (token id, context length, ...) */
    MEDGE_ERR_CONTEXT_FULL = 9,  /* the session's context has no room for the request */
    MEDGE_ERR_ABORTED = 10,      /* the caller's abort callback stopped the work */
    MEDGE_ERR_INTERNAL = 11      /* a bug in medge: please report it */
} medge_status;

/* Static English text for a status code; never NULL. Any thread. */
MEDGE_API const char *medge_status_str(medge_status rc);

/* Detail of the last failure: of the handle if non-NULL (any medge_* handle), otherwise of the
 * calling thread. Never NULL ("" when there was none). Owned by libmedge. */
MEDGE_API const char *medge_errmsg(const void *handle);

/* Version string "MAJOR.MINOR.PATCH"; static. */
MEDGE_API const char *medge_version(void);

/* Logging. Levels ordered by severity. The callback may be called from any thread libmedge
 * uses; set it before other calls. NULL restores the default (which discards everything). */
typedef enum medge_log_level {
    MEDGE_LOG_DEBUG = 0,
    MEDGE_LOG_INFO = 1,
    MEDGE_LOG_WARN = 2,
    MEDGE_LOG_ERROR = 3
} medge_log_level;
typedef void (*medge_log_fn)(medge_log_level level, const char *msg, void *user);
MEDGE_API void medge_log_set(medge_log_fn fn, void *user);

/* Free memory that libmedge allocated for the caller. NULL is fine. */
MEDGE_API void medge_free(void *p);

/* Random-access read callbacks, for loading from places that are not plain files (Android
 * assets, encrypted stores). read_at copies n bytes at offset into dst and returns the number
 * of bytes copied (short only at end of data, 0 on error). size is the total data size. */
typedef struct medge_io {
    void *user;
    uint64_t size;
    size_t (*read_at)(void *user, uint64_t offset, void *dst, size_t n);
} medge_io;

#ifdef __cplusplus
}
#endif
#endif /* MEDGE_H */
