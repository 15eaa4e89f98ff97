/* ops.h - the small set of tensor operations every model's forward pass is written with.
 *
 * Weights are views into a mapped GGUF (any type of quant/types.h, used in place). Activations
 * are row-major float32: a batch of n rows of width d is float[n][d]. Every op that takes a
 * pool splits its work by rows across the pool's threads (pool may be NULL: one thread) and
 * returns when done. The portable C in src/ops/*.c is the reference; src/ops/arch/<isa>/
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
/* y[t][o] += bias[o] (bias: F32 tensor of W->ne[1]); convenience for models with biases. */
void ops_add_bias(float *y, const float *bias, int n_tok, int d);

/* Row of a weight (embedding lookup): dst[0..ne0) = dequantized row r of W. */
medge_status ops_get_row(const medge_tensor *W, int64_t r, float *dst);

/* In place over n rows of width d: x = x / sqrt(mean(x^2) + eps) * w  (w may be NULL). */
void ops_rmsnorm(float *x, const float *w, int n, int d, float eps);
/* In place: x = (x - mean) / sqrt(var + eps) * w + b  (w, b may be NULL). */
void ops_layernorm(float *x, const float *w, const float *b, int n, int d, float eps);
/* In place, n elements. gelu_tanh uses ggml's fp16 table semantics when exact == 0. */
void ops_gelu_tanh(float *x, int64_t n);
void ops_gelu_erf(float *x, int64_t n);
/* In place softmax over each of n rows of width d. */
void ops_softmax(float *x, int n, int d);
/* NEOX RoPE in place on x: [n_tok][n_head][head_dim], positions pos[n_tok]; theta_i =
 * pos * freq_scale * base^(-2i/n_rot) computed incrementally as ggml does. */
void ops_rope_neox(float *x, const int32_t *pos, int n_tok, int n_head, int head_dim, int n_rot, float base,
                   float freq_scale);
#endif
