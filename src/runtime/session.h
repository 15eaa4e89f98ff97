/* session.h - internals of the public medge_model / medge_session handles (include/medge.h):
 * a session owns the KV cache, the batch buffers, the worker pool, the token history (for
 * context reuse and repetition penalties) and the sampler state. Other layers (vision) use these
 * structs through the public functions; the fields are internal. */
#ifndef MEDGE_RUNTIME_SESSION_H
#define MEDGE_RUNTIME_SESSION_H
#include "core/error.h"
#include "models/gemma3.h"

struct medge_model {
    medge_handle h;
    gemma3_model *g;
    /* the weight file when the model holds it itself (has_map): with use_mmap and huge_pages the
     * mapping of core/file.h medge_map_file_huge (2 MB-aligned, advised huge pages; a plain
     * mapping where the system has none), with use_mmap = 0 the file read into memory; with
     * use_mmap alone the GGUF reader owns the mapping and has_map is false */
    medge_map owned_map;
    bool has_map;
};

typedef struct sampler_state {
    medge_sampler_params p;
    uint64_t rng;
    bool set;
} sampler_state;

struct medge_session {
    medge_handle h;
    const medge_model *model;
    medge_session_params params;
    medge_pool *pool;
    gemma3_cache cache;
    gemma3_state state;
    float *logits;   /* [n_vocab] of the last position */
    bool have_logits;
    int32_t *hist;   /* [n_ctx]: token at each position, -1 for embeddings */
    sampler_state smp;
    struct sampler_cand *cand; /* [n_vocab] sampling workspace */
};

/* Bytes of memory the machine has available (MemAvailable of /proc/meminfo), 0 if unknown. */
uint64_t runtime_mem_available(void);
/* Sampling over logits with a history of recent tokens (sampling.c). */
struct sampler_cand {
    int32_t id;
    float logit;
    float p;
};
medge_status sampler_sample(sampler_state *st, const float *logits, int n_vocab, const int32_t *hist, int n_hist,
                            struct sampler_cand *cand, int32_t *out);
uint64_t sampler_seed_from_clock(void);
#endif
