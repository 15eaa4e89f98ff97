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

/* ---------------------------------------------------------------------------------------------
 * BiomedCLIP: image and text embeddings in one joint space, and zero-shot classification.
 * A medge_clip holds a loaded BiomedCLIP GGUF (from `medge convert` of an open_clip checkpoint,
 * optionally `medge quantize`d) plus its threads and scratch memory. Use one handle from one
 * thread at a time (load one per thread to run in parallel; the weights are mapped read-only
 * and shared by the OS page cache).
 *
 *     medge_clip *clip;
 *     if (medge_clip_load("biomedclip-f32.gguf", medge_clip_default_params(), &clip) != MEDGE_OK) ...
 *     float img[512], probs[3];
 *     medge_clip_embed_image(clip, rgb, width, height, img);        // 8-bit RGB, any size
 *     const char *labels[] = {"chest X-ray", "brain MRI", "skin lesion"};
 *     medge_clip_classify(clip, img, labels, 3, "this is a photo of {}", probs, NULL);
 *     medge_clip_free(clip);
 * ------------------------------------------------------------------------------------------- */
typedef struct medge_clip medge_clip;

typedef struct medge_clip_params {
    int n_threads; /* worker threads including the caller; <= 0: one per core */
} medge_clip_params;

MEDGE_API medge_clip_params medge_clip_default_params(void);
/* Load a BiomedCLIP GGUF (memory-mapped). On failure *out is NULL and medge_errmsg(NULL) says why. */
MEDGE_API medge_status medge_clip_load(const char *path, medge_clip_params params, medge_clip **out);
/* Same from a caller-owned GGUF image in memory, which must outlive the handle. */
MEDGE_API medge_status medge_clip_load_memory(const void *data, size_t size, medge_clip_params params,
                                              medge_clip **out);
MEDGE_API void medge_clip_free(medge_clip *clip);
/* Length of every embedding (512 for BiomedCLIP). */
MEDGE_API int medge_clip_embed_dim(const medge_clip *clip);
/* Side of the square model input (224). */
MEDGE_API int medge_clip_image_size(const medge_clip *clip);
/* exp of the trained logit scale (the softmax temperature of zero-shot classification). */
MEDGE_API float medge_clip_logit_scale(const medge_clip *clip);

/* open_clip's preprocessing, bit-exact with torchvision + Pillow: bicubic resize of the shortest
 * side to the input size, center crop, CLIP mean/std. rgb: width * height * 3 bytes, interleaved,
 * rows packed. pixels: caller buffer of 3 * size * size floats (planar CHW). */
MEDGE_API medge_status medge_clip_preprocess(medge_clip *clip, const uint8_t *rgb, int32_t width, int32_t height,
                                             float *pixels);
/* L2-normalised image embedding (embed_dim floats, caller buffer) of preprocessed pixels. */
MEDGE_API medge_status medge_clip_embed_pixels(medge_clip *clip, const float *pixels, float *embedding);
/* Preprocess + embed 8-bit RGB. */
MEDGE_API medge_status medge_clip_embed_image(medge_clip *clip, const uint8_t *rgb, int32_t width, int32_t height,
                                              float *embedding);
/* WordPiece token ids of text as the model sees them ([CLS] ... [SEP], at most the context length).
 * Writes min(n, max_ids) ids and sets *n_ids to the full count. */
MEDGE_API medge_status medge_clip_tokenize(medge_clip *clip, const char *text, int32_t *ids, int max_ids,
                                           int *n_ids);
/* L2-normalised text embedding of a UTF-8 string (embed_dim floats, caller buffer). */
MEDGE_API medge_status medge_clip_embed_text(medge_clip *clip, const char *text, float *embedding);
/* Zero-shot classification of an image embedding: each label is put into template_ at "{}"
 * (NULL: "this is a photo of {}"; a template without "{}" gets the label appended), embedded,
 * and probs[i] = softmax(logit_scale * <image, text_i>). probs (n_labels floats) is required;
 * logits (n_labels floats) may be NULL. */
/* The text embeddings of zero-shot labels: label i put into template_ as medge_clip_classify does,
 * embedded into text_embeddings + i * embed_dim (n_labels * embed_dim floats, caller buffer).
 * Embed a label set once and score many images with medge_clip_zero_shot. */
MEDGE_API medge_status medge_clip_embed_labels(medge_clip *clip, const char *const *labels, int n_labels,
                                               const char *template_, float *text_embeddings);
/* probs[i] = softmax_i(logit_scale * <image_embedding, text_embeddings[i]>) over n_labels rows of
 * embed_dim floats; logits (n_labels floats) may be NULL. No model run: cheap per image. */
MEDGE_API medge_status medge_clip_zero_shot(const medge_clip *clip, const float *image_embedding,
                                            const float *text_embeddings, int n_labels, float *probs, float *logits);
MEDGE_API medge_status medge_clip_classify(medge_clip *clip, const float *image_embedding, const char *const *labels,
                                           int n_labels, const char *template_, float *probs, float *logits);

/* ---- Text generation: MedGemma / Gemma 3 text models ----
 *
 *     medge_model *m;  medge_session *s;  int32_t tok;
 *     medge_model_load("medgemma-4b-it-Q4_K_S.gguf", medge_model_default_params(), &m);
 *     medge_session_new(m, medge_session_default_params(), &s);
 *     medge_session_eval(s, prompt_ids, n_prompt);          // logits of the last position
 *     for (;;) {
 *         medge_session_sample(s, &tok);                      // greedy unless set_sampler said otherwise
 *         if (medge_model_is_eog(m, tok)) break;
 *         medge_session_eval(s, &tok, 1);
 *     }
 *     medge_session_free(s);  medge_model_free(m);
 *
 * A model is read-only after loading and may be shared by sessions on different threads; a
 * session is used by one thread at a time (it owns its worker threads). */
typedef struct medge_model medge_model;
typedef struct medge_session medge_session;

typedef struct medge_model_params {
    int use_mmap; /* 1 (default): map the file read-only and use the weights in place; 0: read it */
    /* With use_mmap, 1 (default): map the weights in 2 MB pages where the kernel has transparent
     * huge pages (Linux "always" or "madvise"): generation streams every weight once per token,
     * and 4 KB pages cost TLB misses and prefetcher stops (measured: about 1.2x decode speed).
     * When the page cache holds the file in 4 KB pages (it was just written or copied), those
     * cached pages are dropped once so that the first use reads the file again from storage, in
     * 2 MB pages (later loads find it so). Same memory as the plain mapping. 0: plain mapping. */
    int huge_pages;
} medge_model_params;

MEDGE_API medge_model_params medge_model_default_params(void);
/* Load a Gemma 3 text GGUF (llama.cpp's layout or medge's). Every tensor is checked against the
 * hyperparameters. On success *out owns the file mapping; free with medge_model_free. */
MEDGE_API medge_status medge_model_load(const char *path, medge_model_params params, medge_model **out);
/* Load from a caller-owned buffer that must stay valid and unchanged until medge_model_free. */
MEDGE_API medge_status medge_model_load_memory(const void *data, size_t size, medge_model_params params,
                                               medge_model **out);
/* Load through read callbacks (the weights are read into memory owned by the model). */
MEDGE_API medge_status medge_model_load_io(const medge_io *io, medge_model_params params, medge_model **out);
MEDGE_API void medge_model_free(medge_model *model);
MEDGE_API int medge_model_n_vocab(const medge_model *model);
MEDGE_API int medge_model_n_embd(const medge_model *model);
MEDGE_API int medge_model_n_ctx_train(const medge_model *model);
/* Bytes of weight data. */
MEDGE_API uint64_t medge_model_size(const medge_model *model);
/* 1 if token ends a generation (<eos> or <end_of_turn>), else 0. */
MEDGE_API int medge_model_is_eog(const medge_model *model, int32_t token);
/* Beginning-of-sequence token id, or -1 when the file names none. */
MEDGE_API int32_t medge_model_bos(const medge_model *model);

typedef enum medge_kv_type {
    MEDGE_KV_F16 = 0, /* default: as llama.cpp */
    MEDGE_KV_Q8_0 = 1,
    MEDGE_KV_F32 = 2
} medge_kv_type;

/* Abort callback, called between layers of an evaluation: return non-zero to stop it
 * (MEDGE_ERR_ABORTED). Called on the thread that called the evaluation. */
typedef int (*medge_abort_fn)(void *user);

typedef struct medge_session_params {
    int n_ctx;            /* positions of context (default 4096; <= 0: the model's training context) */
    int n_batch;          /* most positions per forward pass of a prompt (default 512) */
    int n_threads;        /* worker threads (default and <= 0: one per online core) */
    medge_kv_type kv_type;
    uint64_t max_memory;  /* refuse a session whose estimate (weights + session) is larger; 0 (default):
                             the machine's available memory (MemAvailable) when it can be read */
    medge_abort_fn abort_fn;
    void *abort_user;
} medge_session_params;

MEDGE_API medge_session_params medge_session_default_params(void);
/* Bytes a session with these parameters allocates (KV cache, batch buffers, logits); the
 * model's weights (medge_model_size) come on top. */
MEDGE_API uint64_t medge_session_memory(const medge_model *model, medge_session_params params);
/* Create a session. MEDGE_ERR_NOMEM with a message giving both numbers when the estimate does
 * not fit max_memory. The model must outlive the session. */
MEDGE_API medge_status medge_session_new(const medge_model *model, medge_session_params params,
                                         medge_session **out);
MEDGE_API void medge_session_free(medge_session *s);

/* Evaluate n tokens appended at the end of the context (in batches of n_batch). Afterwards
 * medge_session_logits gives the last position's logits. MEDGE_ERR_CONTEXT_FULL (nothing
 * evaluated) when they do not fit; MEDGE_ERR_RANGE for a token id outside the vocabulary. */
MEDGE_API medge_status medge_session_eval(medge_session *s, const int32_t *tokens, int n);
/* Same, and write every position's logits to out ([n][n_vocab] floats, caller-owned). */
MEDGE_API medge_status medge_session_eval_all(medge_session *s, const int32_t *tokens, int n, float *out);
/* Context reuse: tokens is the whole sequence wanted in the context (e.g. the chat so far).
 * Positions it shares with the session's context are kept; the context is cut back to the
 * common prefix and only the rest is evaluated. *n_reused (may be NULL) = positions kept. */
MEDGE_API medge_status medge_session_eval_prefix(medge_session *s, const int32_t *tokens, int n, int *n_reused);
/* Evaluate n external embeddings ([n][n_embd] floats: image tokens from the vision projector)
 * at the next n positions, without the token-embedding scale. bidirectional != 0: the n rows
 * attend to each other in both directions (Gemma 3 images); they are evaluated in one pass. */
MEDGE_API medge_status medge_session_eval_embd(medge_session *s, const float *embd, int n, int bidirectional);
/* Logits (n_vocab floats) of the last evaluated position; NULL before the first evaluation.
 * Owned by the session, valid until the next call on it. */
MEDGE_API const float *medge_session_logits(const medge_session *s);
MEDGE_API int medge_session_n_past(const medge_session *s);
MEDGE_API int medge_session_n_ctx(const medge_session *s);
/* Keep the first n_keep positions and forget the rest. When sliding-window layers have already
 * dropped positions that are needed, the whole context is cleared (returns MEDGE_OK; check
 * medge_session_n_past). */
MEDGE_API medge_status medge_session_rewind(medge_session *s, int n_keep);

/* Sampling from the last logits. */
#define MEDGE_SEED_RANDOM 0xFFFFFFFFFFFFFFFFull
typedef struct medge_sampler_params {
    float temperature;       /* <= 0: greedy (arg-max, lowest id on ties); default 0.8 */
    int top_k;               /* keep the k most likely (0: all); default 40 */
    float top_p;             /* nucleus: smallest set with probability >= top_p (1: off); default 0.95 */
    float min_p;             /* drop tokens below min_p * p(max) (0: off); default 0.05 */
    float repeat_penalty;    /* divide positive / multiply negative logits of recent tokens (1: off) */
    int repeat_last_n;       /* how many recent tokens the penalties look at (default 64) */
    float presence_penalty;  /* subtracted once from the logit of every recent token (0: off) */
    float frequency_penalty; /* subtracted per occurrence (0: off) */
    uint64_t seed;           /* MEDGE_SEED_RANDOM: from the clock */
} medge_sampler_params;

MEDGE_API medge_sampler_params medge_sampler_default_params(void);
/* Set the sampler of a session (and seed its random generator). Until called: greedy. */
MEDGE_API medge_status medge_session_set_sampler(medge_session *s, medge_sampler_params params);
/* Pick the next token from the last logits (penalties look at the session's recent tokens).
 * The token is not evaluated: pass it to medge_session_eval. */
MEDGE_API medge_status medge_session_sample(medge_session *s, int32_t *token);

/* ---------------------------------------------------------------------------------------------
 * Vision: the Gemma 3 / MedGemma image encoder (SigLIP tower + projector) from an mmproj GGUF
 * (llama.cpp's or medge's), and image prompts.
 *
 *     medge_vision *v;  medge_image *img;
 *     medge_vision_load("mmproj-medgemma-4b-it-F16.gguf", medge_vision_default_params(), &v);
 *     medge_vision_check_model(v, model);                     // width / tokens match?
 *     float *embd = malloc(sizeof(float) * medge_vision_n_tokens(v) * medge_vision_n_embd(v));
 *     medge_vision_encode(v, img, embd);
 *     medge_session_eval(s, text_before, n_before);           // "...<start_of_turn>user\n..."
 *     medge_session_eval_image(s, v, embd);                   // <start_of_image> embd <end_of_image>
 *     medge_session_eval(s, text_after, n_after);
 *
 * A medge_vision is used by one thread at a time (it owns its worker threads and buffers).
 * ------------------------------------------------------------------------------------------- */
typedef struct medge_vision medge_vision;

typedef struct medge_vision_params {
    int n_threads; /* worker threads (default and <= 0: one per online core) */
} medge_vision_params;

MEDGE_API medge_vision_params medge_vision_default_params(void);
/* Load an mmproj GGUF (arch "clip", projector "gemma3"); weights of any supported type are used
 * from the file mapping. MEDGE_ERR_MISMATCH for an mmproj of another kind of model. */
MEDGE_API medge_status medge_vision_load(const char *path, medge_vision_params params, medge_vision **out);
MEDGE_API void medge_vision_free(medge_vision *v);
/* Embeddings one image becomes (256 for MedGemma) and their width (= the text model's width). */
MEDGE_API int medge_vision_n_tokens(const medge_vision *v);
MEDGE_API int medge_vision_n_embd(const medge_vision *v);
/* Side of the square input in pixels (896 for MedGemma). */
MEDGE_API int medge_vision_image_size(const medge_vision *v);
/* MEDGE_OK when the text model can take this encoder's embeddings (same width, the vocabulary
 * has <start_of_image> and <end_of_image>); else MEDGE_ERR_MISMATCH saying what differs. */
MEDGE_API medge_status medge_vision_check_model(const medge_vision *v, const medge_model *model);
/* Encode one image: resized to the square input as the Hugging Face Gemma 3 processor does
 * (Pillow bilinear, aspect ratio not kept), normalised with the file's mean / std, then the
 * encoder and projector. embd: caller-owned [n_tokens][n_embd] floats. */
MEDGE_API medge_status medge_vision_encode(medge_vision *v, const medge_image *img, float *embd);
/* Same from preprocessed planes ([3][image_size][image_size] floats, already normalised). */
MEDGE_API medge_status medge_vision_encode_planes(medge_vision *v, const float *planes, float *embd);
/* Evaluate an image in a session as llama.cpp feeds Gemma 3 images: the <start_of_image> token,
 * the n_tokens embeddings at consecutive positions attending to each other in both directions,
 * then <end_of_image>. embd from medge_vision_encode. Checks the model first
 * (medge_vision_check_model) and the room left in the context (MEDGE_ERR_CONTEXT_FULL, nothing
 * evaluated). */
MEDGE_API medge_status medge_session_eval_image(medge_session *s, const medge_vision *v, const float *embd);

#ifdef __cplusplus
}
#endif
#endif /* MEDGE_H */
