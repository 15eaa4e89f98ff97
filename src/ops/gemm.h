/* gemm.h - dense products for large batches (thousands of rows, as a vision encoder has): the
 * weight is repacked once per use into panels of output columns (F32, k-major) and multiplied
 * by tiles of activation rows in a register-blocked kernel written so the compiler vectorises it
 * along the outputs (each output keeps its own sum in k order, so no reassociation is needed).
 * (Dense attention over such batches is in ops/attention-dense.h.) */
#ifndef MEDGE_OPS_GEMM_H
#define MEDGE_OPS_GEMM_H
#include "ops/ops.h"

typedef struct ops_packed {
    int64_t in, out;  /* K, M */
    int64_t n_panels; /* ceil(M / OPS_GEMM_NR) */
    float *data;      /* [n_panels][K][NR] (owned by the caller's buffer) */
} ops_packed;

/* Floats a packed copy of a [in -> out] weight needs. */
size_t ops_gemm_packed_size(int64_t in, int64_t out);
/* Dequantize + repack W (any type with a row dequantizer) into dst (ops_gemm_packed_size floats). */
medge_status ops_gemm_pack(medge_pool *pool, const medge_tensor *W, float *dst, ops_packed *out);
/* Same from a row-major F32 matrix src [out][in] with row stride ld floats (transpose = 0), or
 * from src [in][out] (transpose = 1: column o of the product is column o of src). */
void ops_gemm_pack_f32(medge_pool *pool, const float *src, int64_t in, int64_t out, size_t ld, int transpose,
                       float *dst, ops_packed *p);
/* y[t][o] = sum_k x[t][k] * W[o][k] (+ bias[o] when bias != NULL), x: [n][ldx], y: [n][ldy].
 * scratch holds the packed activations. */
medge_status ops_gemm(medge_pool *pool, ops_scratch *scratch, const ops_packed *W, const float *x, size_t ldx,
                      float *y, size_t ldy, int n, const float *bias);

#endif
