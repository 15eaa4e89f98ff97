/* gemma3.h - the Gemma 3 text decoder (MedGemma 4B's language model): hyperparameters and
 * weights read from a GGUF (llama.cpp's layout, arch "gemma3"), the KV cache (sliding-window
 * layers keep a ring of `window` cells, global layers the whole context), and the forward pass of
 * specs/gemma3.md §3 over a batch of tokens or of external embeddings (image tokens, §3.1). */
#ifndef MEDGE_MODELS_GEMMA3_H
#define MEDGE_MODELS_GEMMA3_H
#include "formats/gguf.h"
#include "ops/ops.h"

#include <stdbool.h>

typedef struct gemma3_hparams {
    int n_vocab;    /* rows of token_embd */
    int n_embd;     /* E */
    int n_layer;
    int n_head, n_kv_head, head_dim; /* H, HKV, D */
    int n_ff;       /* F */
    int n_ctx_train;
    int window;     /* sliding window of the local layers (keys with qpos - kpos < window) */
    int swa_pattern; /* layer il is global iff (il + 1) % swa_pattern == 0 (pattern 1: all global) */
    int n_rot;
    float eps;
    float rope_base, rope_scale;         /* global layers: base, freq scale (= 1 / linear factor) */
    float rope_base_swa, rope_scale_swa; /* local layers */
    float attn_scale;                    /* applied to q before q.k */
    float embd_scale;                    /* sqrt(n_embd), for token embeddings only */
} gemma3_hparams;

typedef struct gemma3_layer {
    medge_tensor attn_norm, wq, wk, wv, q_norm, k_norm, wo, post_attn_norm; /* norms: F32 [E] or [D] */
    medge_tensor ffn_norm, ffn_gate, ffn_up, ffn_down, post_ffw_norm;
    bool swa; /* sliding-window (local) layer */
} gemma3_layer;

typedef struct gemma3_model {
    gguf_ctx *gguf;   /* owned; weights point into its mapping or into `owned` */
    void *owned;      /* tensor data read through callbacks (NULL when mapped) */
    gemma3_hparams hp;
    medge_tensor tok_embd; /* [E, n_vocab] */
    medge_tensor output;   /* [E, n_vocab]: output.weight, or tok_embd when tied */
    medge_tensor output_norm;
    gemma3_layer *layers;
    int32_t bos, eos, eot; /* -1 when unknown */
    uint64_t weight_bytes;  /* bytes of tensor data */
} gemma3_model;

/* Build the model from an opened GGUF; takes ownership of g (closed on failure too). Every tensor
 * is checked (name, type, shape) against the hyperparameters; unknown tensors are refused. When g
 * was opened through callbacks, the tensor data is read into one buffer. */
medge_status gemma3_load(gguf_ctx *g, gemma3_model **out);
void gemma3_free(gemma3_model *m);
/* Read and check the hyperparameters only (no tensors). */
medge_status gemma3_read_hparams(const gguf_ctx *g, gemma3_hparams *hp);
bool gemma3_layer_is_swa(const gemma3_hparams *hp, int il);

/* ---- KV cache ---- */
/* Sliding-window layers keep a ring of window + GEMMA3_SWA_SLACK cells (at most n_ctx): once the
 * ring has wrapped, the context can still be rolled back by up to GEMMA3_SWA_SLACK + 1 positions
 * (a chat turn re-tokenizes the previous answer, whose last tokens may come out differently);
 * rolling back further clears the cache and the caller evaluates the prompt again. 32 cells keep
 * MedGemma 4B's cache at 8192 positions at 25.7% of a full-size one. */
#define GEMMA3_SWA_SLACK 32

typedef struct gemma3_cache {
    uint32_t type;     /* F16 (default) or Q8_0 (or F32) */
    int n_ctx;
    int window;        /* the model's sliding window (0: none) */
    int cap_swa;       /* cells of a sliding-window layer: min(window + GEMMA3_SWA_SLACK, n_ctx) */
    size_t row_bytes;  /* bytes of one head_dim row of `type` */
    void **k, **v;     /* per layer: [n_kv_head][cap] rows (head-major: decoding reads each
                        * head's keys and values in order), all in mem; see gemma3_cache_row */
    void *mem;         /* medge_alloc_huge block of mem_bytes */
    size_t mem_bytes;
    int32_t *pos_swa;  /* [cap_swa]: position held by each cell of the local layers, -1: empty */
    int32_t *pos_glb;  /* [n_ctx] */
    int n_past;        /* positions 0..n_past-1 are in the cache */
    bool wrapped;      /* some sliding-window cell was overwritten (no rollback below n_past) */
} gemma3_cache;

/* Cells of layer il's cache (the ring of a sliding-window layer, n_ctx for a global one). */
static inline int gemma3_cache_cap(const gemma3_cache *c, const gemma3_hparams *hp, int il)
{
    return gemma3_layer_is_swa(hp, il) ? c->cap_swa : c->n_ctx;
}
/* The key (v = 0) or value (v = 1) row of KV head h for position pos in layer il: cell pos % cap. */
static inline uint8_t *gemma3_cache_row(const gemma3_cache *c, const gemma3_hparams *hp, int il, int v, int32_t pos,
                                        int h)
{
    const size_t cap = (size_t)gemma3_cache_cap(c, hp, il);
    return (uint8_t *)(v ? c->v[il] : c->k[il]) + ((size_t)h * cap + (size_t)pos % cap) * c->row_bytes;
}

/* Bytes of the KV cache for n_ctx positions (what gemma3_cache_init allocates). */
uint64_t gemma3_kv_bytes(const gemma3_hparams *hp, int n_ctx, uint32_t type);
medge_status gemma3_cache_init(gemma3_cache *c, const gemma3_hparams *hp, int n_ctx, uint32_t type);
void gemma3_cache_free(gemma3_cache *c);
/* Forget everything from position n on (n <= n_past). Returns false (and clears the cache) when
 * that is impossible because the sliding-window rings already overwrote cells still needed, i.e.
 * the ring wrapped and n_past - n > cap_swa - window + 1: then re-evaluate from the start. */
bool gemma3_cache_truncate(gemma3_cache *c, int n);
void gemma3_cache_clear(gemma3_cache *c);

/* ---- forward pass ---- */
/* Optional observer of the weight matmuls of the decoder layers (for importance matrices,
 * specs/imatrix-and-kld.md §1.4): called before each y = W x with the weight and its input
 * activations x[n][w->ne[0]] (n rows of the batch). The output projection is not reported.
 * A non-OK status aborts the evaluation like an error of the matmul itself. */
typedef medge_status (*gemma3_matmul_hook)(void *user, const medge_tensor *w, const float *x, int n);

/* Per-session buffers for batches of up to n_max rows (grown on demand). */
typedef struct gemma3_state {
    gemma3_matmul_hook hook; /* NULL (default): no observer */
    void *hook_user;
    int n_max;
    float *x, *xb, *xb2, *q, *k, *v, *att, *gate, *up;
    uint8_t *kb, *vb; /* the batch's K/V rows converted to the cache type */
    int32_t *pos;
    ops_scratch scratch;
} gemma3_state;
void gemma3_state_free(gemma3_state *s);
/* Bytes of the batch buffers for n rows (for the memory estimate). */
uint64_t gemma3_state_bytes(const gemma3_hparams *hp, int n, uint32_t kv_type);

/* Called between layers; returning true aborts the evaluation. */
typedef bool (*gemma3_abort_fn)(void *user);

typedef struct gemma3_batch {
    const int32_t *tokens; /* n token ids, or NULL with embd */
    const float *embd;     /* [n][n_embd] external embeddings (not scaled), or NULL */
    int n;
    bool bidirectional;    /* the n rows attend to each other in both directions (embd only) */
    float *logits;         /* output or NULL */
    bool logits_all;       /* true: logits is [n][n_vocab]; false: [n_vocab] of the last row */
} gemma3_batch;

/* Evaluate a batch at positions cache->n_past.. and append it to the cache. On
 * MEDGE_ERR_ABORTED the cache keeps its previous positions when possible, else it is cleared
 * (n_past becomes 0). */
medge_status gemma3_eval(const gemma3_model *m, gemma3_cache *cache, gemma3_state *st, medge_pool *pool,
                         const gemma3_batch *b, gemma3_abort_fn abort_fn, void *abort_user);
#endif
