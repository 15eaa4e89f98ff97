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


/* ---------------------------------------------------------------------------------------------
 * Images (vision). A medge_image is 8-bit RGB, row-major, interleaved (R,G,B per pixel).
 * libmedge decodes PPM/PGM and DICOM itself; PNG and JPEG (also JPEG inside DICOM) go through a
 * codec the caller provides (the medge tools use libpng / libjpeg-turbo; an Android app can use
 * its own decoders, or decode itself and pass raw RGB). Images are immutable after creation and
 * may be read from any thread.
 * ------------------------------------------------------------------------------------------- */
typedef struct medge_image medge_image;

typedef enum medge_image_format {
    MEDGE_IMAGE_UNKNOWN = 0,
    MEDGE_IMAGE_PNG = 1,
    MEDGE_IMAGE_JPEG = 2,
    MEDGE_IMAGE_PNM = 3,   /* PPM / PGM (P2, P3, P5, P6) */
    MEDGE_IMAGE_DICOM = 4  /* DICOM Part 10 file */
} medge_image_format;

/* A decoder for compressed formats libmedge does not decode itself. decode() gets the whole
 * encoded data of one image (format MEDGE_IMAGE_PNG or MEDGE_IMAGE_JPEG), creates the result with
 * medge_image_from_pixels and stores it in *out. On failure it returns a status other than
 * MEDGE_OK and writes a NUL-terminated reason (at most err_size bytes) into err. */
typedef struct medge_image_codec {
    void *user;
    medge_status (*decode)(void *user, medge_image_format format, const uint8_t *data, size_t size,
                           medge_image **out, char *err, size_t err_size);
} medge_image_codec;

typedef struct medge_image_params {
    const medge_image_codec *codec; /* NULL: PNG/JPEG are refused with a message saying so */
    uint64_t max_pixels;            /* refuse images with more pixels (default 2^27) */
    /* DICOM grayscale display: when window_width > 0 these replace the file's Window Center /
     * Width (in rescaled units). Without either, the full range of the image's values is used
     * (8-bit unsigned data without rescale is taken as is). */
    double window_center, window_width;
} medge_image_params;

MEDGE_API medge_image_params medge_image_default_params(void);

/* Which format the bytes look like (magic numbers only). Any thread. */
MEDGE_API medge_image_format medge_image_sniff(const void *data, size_t size);
/* Decode an image held in memory (format found by content). *out is owned by the caller
 * (medge_image_free). Errors: MEDGE_ERR_FORMAT (malformed/truncated), MEDGE_ERR_UNSUPPORTED
 * (a variant medge does not decode, e.g. a DICOM transfer syntax: the message names it). */
MEDGE_API medge_status medge_image_decode(const void *data, size_t size, medge_image_params params,
                                          medge_image **out);
/* Same, reading a file. */
MEDGE_API medge_status medge_image_load(const char *path, medge_image_params params, medge_image **out);
/* Copy caller pixels into a new image. channels: 1 (gray, replicated to RGB), 3 (RGB) or 4
 * (RGBA, alpha dropped); stride: bytes between rows (0 = width * channels). */
MEDGE_API medge_status medge_image_from_pixels(const uint8_t *pixels, int32_t width, int32_t height, int channels,
                                               size_t stride, medge_image **out);
MEDGE_API void medge_image_free(medge_image *img);
MEDGE_API int32_t medge_image_width(const medge_image *img);
MEDGE_API int32_t medge_image_height(const medge_image *img);
/* The pixels: width * height * 3 bytes, owned by the image. */
MEDGE_API const uint8_t *medge_image_rgb(const medge_image *img);

typedef enum medge_resample {
    MEDGE_RESAMPLE_BILINEAR = 0, /* Pillow's BILINEAR (antialiased when shrinking), bit-exact */
    MEDGE_RESAMPLE_BICUBIC = 1   /* Pillow's BICUBIC (a = -0.5), bit-exact */
} medge_resample;
/* Resize to width x height as Pillow's Image.resize does (8-bit fixed point, horizontal pass
 * first). *out is a new image owned by the caller. */
MEDGE_API medge_status medge_image_resize(const medge_image *img, int32_t width, int32_t height,
                                          medge_resample filter, medge_image **out);
/* dst[c][y][x] = (rgb / 255 - mean[c]) / std[c], planar float32 (3 * width * height). */
MEDGE_API void medge_image_to_planar(const medge_image *img, const float mean[3], const float std[3], float *dst);

#ifdef __cplusplus
}
#endif
#endif /* MEDGE_H */
