/* attention-dense.h - full (unmasked, bidirectional) multi-head attention over large batches, as a
 * vision encoder needs it (4096 patches attending to each other). Computed flash-style: tiles of
 * queries against tiles of keys with an online softmax, so no n x n score matrix is ever stored;
 * the tile kernels come from the table of ops/kernels.h (AVX-512 F32 / BF16 where available, the
 * portable C of attention-dense.c otherwise and under MEDGE_FORCE_SCALAR=1). */
#ifndef MEDGE_OPS_ATTENTION_DENSE_H
#define MEDGE_OPS_ATTENTION_DENSE_H
#include "ops/ops.h"

typedef enum ops_attn_prec {
    OPS_ATTN_F32 = 0,  /* float dot products (the reference) */
    OPS_ATTN_BF16 = 1, /* q, k, v and the probabilities rounded to BF16 for the dot products (F32
                          sums) where the CPU has BF16 dot products; F32 elsewhere */
} ops_attn_prec;

/* q, k, v, out: [n][n_head * head_dim] (out must not alias q, k or v);
 * out[t][h] = sum_s softmax_s(scale * q[t][h] . k[s][h]) v[s][h]. scratch grows to hold the
 * packed keys and values of every head plus per-thread tiles. */
medge_status ops_attention_dense(medge_pool *pool, ops_scratch *scratch, const float *q, const float *k,
                                 const float *v, float *out, int n, int n_head, int head_dim, float scale,
                                 ops_attn_prec prec);
/* Same with the tile kernels of table ks (tests compare ops_kernels_ref() with ops_kernels_get()). */
struct ops_kernels;
medge_status ops_attention_dense_with(const struct ops_kernels *ks, medge_pool *pool, ops_scratch *scratch,
                                      const float *q, const float *k, const float *v, float *out, int n, int n_head,
                                      int head_dim, float scale, ops_attn_prec prec);
#endif
