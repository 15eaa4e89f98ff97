/* ops.h - the small set of tensor operations every model's forward pass is written with.
 *
 * Weights are views into a mapped GGUF (any type of quant/types.h, used in place). Activations
 * are row-major float32: a batch of n rows of width d is float[n][d]. Every op that takes a
 * pool splits its work by rows across the pool's threads (pool may be NULL: one thread) and
 * returns when done. The portable C in src/ops/ (*.c) is the reference; src/ops/arch/<isa>/
 * overrides the inner kernels through the table in ops/kernels.h (chosen once at run time,
 * MEDGE_FORCE_SCALAR=1 forces the reference).
 *
 * Numerics follow ggml's CPU backend where the references depend on it: a weight matmul first
 * quantizes the activation rows to the weight type's vec_dot_type (Q8_K for k-quants, Q8_0 for
 * the 32-blocks, F16 for F16 weights, BF16 for BF16) and then takes integer / reduced dot
 * products; F32 weights use F32 activations. */
#ifndef MEDGE_OPS_OPS_H
#define MEDGE_OPS_OPS_H
#include "core/error.h"
#include "core/threadpool.h"
#include "quant/types.h"

/* A weight tensor view: ne[0] = row length (input features), ne[1] = rows (output features). */
typedef struct medge_tensor {
    const char *name;
    uint32_t type;   /* enum ggml_type */
    int64_t ne[4];   /* ne[0] fastest */
    size_t nb1;      /* bytes per row (quant_row_size(type, ne[0])) */
    const void *data;
} medge_tensor;

/* Per-thread-pool scratch that ops grow on demand (quantized activations, partial sums).
 * Owned by a session (or a model run); not shared between concurrent callers. */
typedef struct ops_scratch {
    void *buf;
    size_t size;
} ops_scratch;
void ops_scratch_free(ops_scratch *s);
/* Make s at least n bytes (64-byte aligned); MEDGE_ERR_NOMEM on failure. */
medge_status ops_scratch_reserve(ops_scratch *s, size_t n);

/* y[t][o] = sum_i W[o][i] * x[t][i] for t < n_tok, o < W->ne[1]; x: [n_tok][W->ne[0]],
 * y: [n_tok][W->ne[1]] (y must not alias x). */
medge_status ops_matmul(medge_pool *pool, ops_scratch *scratch, const medge_tensor *W, const float *x, float *y,
                        int n_tok);
/* y[i] = x W[i]^T for nw matrices with the same input x (ne0 equal): the same values as nw calls
 * of ops_matmul, but a single token whose matrices share an activation type is converted once
 * and multiplied by all of them in one pool run (one barrier instead of nw). */
medge_status ops_matmul_multi(medge_pool *pool, ops_scratch *scratch, const medge_tensor *const *W, int nw,
                              const float *x, float *const *y, int n_tok);
/* Whether ops_matmul has kernels for weights of this type (F32/F16/BF16 always; quantized types
 * once their vec_dot and activation quantizer exist). */
bool ops_matmul_supported(uint32_t type);
/* y[t][o] += bias[o] (bias: F32 tensor of W->ne[1]); convenience for models with biases. */
void ops_add_bias(float *y, const float *bias, int n_tok, int d);

/* Row of a weight (embedding lookup): dst[0..ne0) = dequantized row r of W. */
medge_status ops_get_row(const medge_tensor *W, int64_t r, float *dst);

/* In place over n rows of width d: x = x / sqrt(mean(x^2) + eps) * w  (w may be NULL). */
void ops_rmsnorm(float *x, const float *w, int n, int d, float eps);
/* In place: x = (x - mean) / sqrt(var + eps) * w + b  (w, b may be NULL). */
void ops_layernorm(float *x, const float *w, const float *b, int n, int d, float eps);
/* In place, n elements. gelu_tanh follows ggml's CPU backend: an fp16 lookup table of
 * 0.5x(1+tanh(sqrt(2/pi)(x+0.044715x^3))) indexed by fp16(x), x<=-10 -> 0, x>=10 -> x.
 * gelu_erf is the exact 0.5x(1+erf(x/sqrt2)) in float. */
void ops_gelu_tanh(float *x, int64_t n);
void ops_gelu_erf(float *x, int64_t n);
/* GeGLU in place: gate[i] = gelu_tanh(gate[i]) * up[i] over n elements (table GELU as above). */
void ops_geglu(float *gate, const float *up, int64_t n);
/* In place softmax over each of n rows of width d (sum accumulated in double, as ggml). */
void ops_softmax(float *x, int n, int d);
/* NEOX RoPE in place on x: [n_tok][n_head][head_dim], positions pos[n_tok]; theta_i =
 * pos * freq_scale * base^(-2i/n_rot) computed incrementally as ggml does. n_rot <= head_dim,
 * n_rot even and <= 1024; dims past n_rot are left unchanged. */
void ops_rope_neox(float *x, const int32_t *pos, int n_tok, int n_head, int head_dim, int n_rot, float base,
                   float freq_scale);
/* x[i] *= s over n elements. */
void ops_scale(float *x, int64_t n, float s);
/* y[i] += x[i] over n elements. */
void ops_add(float *y, const float *x, int64_t n);

/* ---- attention over a KV cache ----
 * Keys and values of one layer come from one or more views (e.g. the cache holding earlier
 * positions and the rows of the current batch); a view's cell c holds, for each KV head h, a key
 * row at k + (c * n_kv_head + h) * row_bytes (same for v), of type F32, F16 or Q8_0, and the
 * position pos[c] (< 0: empty cell, ignored). */
typedef struct ops_kv_view {
    uint32_t type;
    const void *k, *v;
    size_t row_bytes; /* bytes of one head_dim row of type */
    /* the row of cell c, KV head h starts at byte c * cell_bytes + h * head_bytes of k (and v):
     * cell-major ([cell][head], cell_bytes = n_kv_head * row_bytes, head_bytes = row_bytes) or
     * head-major ([head][cell], cell_bytes = row_bytes: each head's rows one block, read in order) */
    size_t cell_bytes, head_bytes;
    const int32_t *pos;
    int n_cells;
    int first; /* cells are visited first, first + 1, ... (mod n_cells): a ring in position order */
} ops_kv_view;

typedef struct ops_attn_params {
    int n_head, n_kv_head, head_dim; /* query head h uses KV head h / (n_head / n_kv_head) */
    int window;        /* > 0: a key is visible only if qpos - kpos < window (sliding window) */
    int32_t bidir_lo;  /* keys at positions in [bidir_lo, bidir_hi) are visible to queries in the */
    int32_t bidir_hi;  /* same range regardless of order (image tokens); lo >= hi: none */
} ops_attn_params;

/* out[t][h] = sum_c softmax_c(q[t][h] . k[c][h']) v[c][h'] over the visible cells (kpos <= qpos,
 * or both in the bidirectional range; window rule), q: [n_tok][n_head][head_dim] already scaled,
 * out: same shape. As ggml does, q is converted to the key type's activation type (F16 for an
 * F16 cache, Q8_0 for a Q8_0 cache) before the dot products; softmax in float with a double sum;
 * cells are visited in view order. A query with no visible key gets zeros. */
medge_status ops_attention(medge_pool *pool, ops_scratch *scratch, const ops_attn_params *p, const float *q,
                           const int32_t *qpos, int n_tok, const ops_kv_view *views, int n_views, float *out);
#endif
