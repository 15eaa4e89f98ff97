/* quant.h - the row functions of every block format (dequantize, reference quantize, reference
 * dot products) and the chunk quantizer equal to ggml_quantize_chunk. The traits table in
 * types.h points at these; callers normally go through quant_get_traits() or the functions
 * below. All functions are pure (no globals) and thread-safe. */
#ifndef MEDGE_QUANT_QUANT_H
#define MEDGE_QUANT_QUANT_H
#include "quant/blocks.h"
#include "quant/types.h"

/* ---- dequantization (n elements, a multiple of the block size) ---- */
void quant_dequant_f32(const void *x, float *y, int64_t n);
void quant_dequant_f16(const void *x, float *y, int64_t n);
void quant_dequant_bf16(const void *x, float *y, int64_t n);
void quant_dequant_q4_0(const void *x, float *y, int64_t n);
void quant_dequant_q4_1(const void *x, float *y, int64_t n);
void quant_dequant_q5_0(const void *x, float *y, int64_t n);
void quant_dequant_q5_1(const void *x, float *y, int64_t n);
void quant_dequant_q8_0(const void *x, float *y, int64_t n);
void quant_dequant_q8_1(const void *x, float *y, int64_t n);
void quant_dequant_q2_K(const void *x, float *y, int64_t n);
void quant_dequant_q3_K(const void *x, float *y, int64_t n);
void quant_dequant_q4_K(const void *x, float *y, int64_t n);
void quant_dequant_q5_K(const void *x, float *y, int64_t n);
void quant_dequant_q6_K(const void *x, float *y, int64_t n);
void quant_dequant_q8_K(const void *x, float *y, int64_t n);
void quant_dequant_iq4_nl(const void *x, float *y, int64_t n);
void quant_dequant_iq4_xs(const void *x, float *y, int64_t n);

/* ---- reference quantizers without imatrix (ggml's quantize_row_*_ref; IQ4_NL as the chunk
 * path with ntry 7) ---- */
void quant_ref_f32(const float *x, void *y, int64_t n);
void quant_ref_f16(const float *x, void *y, int64_t n);
void quant_ref_bf16(const float *x, void *y, int64_t n);
void quant_ref_q4_0(const float *x, void *y, int64_t n);
void quant_ref_q4_1(const float *x, void *y, int64_t n);
void quant_ref_q5_0(const float *x, void *y, int64_t n);
void quant_ref_q5_1(const float *x, void *y, int64_t n);
void quant_ref_q8_0(const float *x, void *y, int64_t n);
void quant_ref_q8_1(const float *x, void *y, int64_t n);
void quant_ref_q2_K(const float *x, void *y, int64_t n);
void quant_ref_q3_K(const float *x, void *y, int64_t n);
void quant_ref_q4_K(const float *x, void *y, int64_t n);
void quant_ref_q5_K(const float *x, void *y, int64_t n);
void quant_ref_q6_K(const float *x, void *y, int64_t n);
void quant_ref_q8_K(const float *x, void *y, int64_t n);
void quant_ref_iq4_nl(const float *x, void *y, int64_t n);
void quant_ref_iq4_xs(const float *x, void *y, int64_t n);
/* The plain scalar forms of the Q4_K / Q5_K / Q6_K / IQ4_XS reference searches (the quant_ref_* above run
 * the same operations lane-parallel); kept to test one against the other. */
void quant_ref_q4_K_scalar(const float *x, void *y, int64_t n);
void quant_ref_q5_K_scalar(const float *x, void *y, int64_t n);
void quant_ref_q6_K_scalar(const float *x, void *y, int64_t n);
void quant_ref_iq4_xs_scalar(const float *x, void *y, int64_t n);

/* ---- activation quantizers as llama.cpp's CPU backend runs them on x86-64 (AVX/AVX2:
 * quantize_row_q8_0 / q8_1 use id = 127/amax and round half to even; quantize_row_q8_K is the
 * reference). Use these for the activations of quantized matmuls; the *_ref versions above are
 * what ggml_quantize_chunk writes for Q8_0 weights. ---- */
void quant_act_q8_0(const float *x, void *y, int64_t n);
void quant_act_q8_1(const float *x, void *y, int64_t n);
#define quant_act_q8_K quant_ref_q8_K
/* The activation quantizer for a vec_dot_type (Q8_0, Q8_1, Q8_K, F16, BF16, F32), else NULL. */
quant_from_float_fn quant_act_quantizer(enum ggml_type vec_dot_type);

/* ---- reference dot products: x a row of the weight type, y a row of its vec_dot_type ---- */
void quant_vec_dot_f32(int n, float *s, const void *x, const void *y);
void quant_vec_dot_f16(int n, float *s, const void *x, const void *y);
void quant_vec_dot_bf16(int n, float *s, const void *x, const void *y);
void quant_vec_dot_q4_0_q8_0(int n, float *s, const void *x, const void *y);
void quant_vec_dot_q4_1_q8_1(int n, float *s, const void *x, const void *y);
void quant_vec_dot_q5_0_q8_0(int n, float *s, const void *x, const void *y);
void quant_vec_dot_q5_1_q8_1(int n, float *s, const void *x, const void *y);
void quant_vec_dot_q8_0_q8_0(int n, float *s, const void *x, const void *y);
void quant_vec_dot_q2_K_q8_K(int n, float *s, const void *x, const void *y);
void quant_vec_dot_q3_K_q8_K(int n, float *s, const void *x, const void *y);
void quant_vec_dot_q4_K_q8_K(int n, float *s, const void *x, const void *y);
void quant_vec_dot_q5_K_q8_K(int n, float *s, const void *x, const void *y);
void quant_vec_dot_q6_K_q8_K(int n, float *s, const void *x, const void *y);
void quant_vec_dot_q8_K_q8_K(int n, float *s, const void *x, const void *y);
void quant_vec_dot_iq4_nl_q8_0(int n, float *s, const void *x, const void *y);
void quant_vec_dot_iq4_xs_q8_K(int n, float *s, const void *x, const void *y);

/* ---- chunk quantization, equal to ggml_quantize_chunk(t, src, dst, 0, nrows, n_per_row, imatrix):
 * imatrix (n_per_row floats, one per column, or NULL) selects ggml's importance-weighted paths
 * for the types that have them (specs/quantization.md §2). Returns bytes written
 * (nrows * row size), 0 when the type cannot be quantized to or n_per_row does not fit its
 * block size. */
size_t quant_quantize_rows(enum ggml_type t, const float *src, void *dst, int64_t nrows, int64_t n_per_row,
                           const float *imatrix);
/* True when quant_quantize_rows can produce type t. */
bool quant_can_quantize(enum ggml_type t);
/* True when the imatrix changes what quant_quantize_rows writes for t. */
bool quant_uses_imatrix(enum ggml_type t);
#endif
