/* arch.h - x86-64 kernels (AVX2 + FMA + F16C, and AVX-512 with VNNI) behind the table of
 * ops/kernels.h. ops/kernels.c includes this header and calls ops_arch_init, defined in
 * x86-init.c, which picks the best version of each kernel for the detected CPU.
 *
 * Exactness: the quantized dot products (Q4_K, Q5_K, Q6_K against Q8_K, Q8_0 and Q4_0 against
 * Q8_0) compute their integer sums exactly and combine them in float in the order ops/kernels.h
 * states (llama.cpp's x86 order), so vec_dot, gemv and GEMM tiles all equal the portable
 * reference bit for bit; float dot products keep vector partial sums (same terms, other
 * summation order). The activation quantizers produce the reference's bytes. The single-row
 * AVX2 dot products are also the AVX-512 machines' vec_dot (their 8-lane order is the
 * contract's). */
#ifndef MEDGE_OPS_ARCH_X86_H
#define MEDGE_OPS_ARCH_X86_H
#include "ops/kernels.h"

/* kernels-avx2.c */
void x86_avx2_vec_dot_q4_K(int n, float *s, const void *x, const void *y);
void x86_avx2_vec_dot_q5_K(int n, float *s, const void *x, const void *y);
void x86_avx2_vec_dot_q6_K(int n, float *s, const void *x, const void *y);
void x86_avx2_vec_dot_q8_0(int n, float *s, const void *x, const void *y);
void x86_avx2_vec_dot_q4_0(int n, float *s, const void *x, const void *y);
void x86_avx2_vec_dot_f16(int n, float *s, const void *x, const void *y);
void x86_avx2_vec_dot_bf16(int n, float *s, const void *x, const void *y);
void x86_avx2_vec_dot_f32(int n, float *s, const void *x, const void *y);
void x86_avx2_quantize_q8_K(const float *x, void *y, int64_t n);
void x86_avx2_quantize_q8_0(const float *x, void *y, int64_t n);
void x86_avx2_quantize_f16(const float *x, void *y, int64_t n);
void x86_avx2_fp16_to_fp32_row(const uint16_t *x, float *y, int64_t n);
void x86_avx2_fp32_to_fp16_row(const float *x, uint16_t *y, int64_t n);
void x86_avx2_mad_f16(int n, float *y, float a, const void *x);
void x86_avx2_mad_f32(int n, float *y, float a, const void *x);

/* gemm-avx2.c: batch tiles on the weight rows in place (AVX2 + FMA + F16C) */
extern const ops_gemm_kernel x86_avx2_gemm_f32, x86_avx2_gemm_f16, x86_avx2_gemm_bf16, x86_avx2_gemm_q8_0;

/* gemm-avx512.c: batch tiles (AVX-512 F/BW/VL + VNNI; BF16 also needs AVX512_BF16) */
extern const ops_gemm_kernel x86_avx512_gemm_q4_K, x86_avx512_gemm_q5_K, x86_avx512_gemm_q6_K, x86_avx512_gemm_q8_0,
    x86_avx512_gemm_q4_0, x86_avx512_gemm_f32, x86_avx512_gemm_f16, x86_avx512_gemm_bf16;

/* attention-dense-avx512.c (AVX-512 F/BW/VL; the BF16 one also AVX512_BF16) */
extern const ops_attn_kernel x86_avx512_attn_f32;
extern const ops_attn_kernel x86_avx512_attn_bf16;

/* attn-avx512.c (AVX-512 F/BW/VL): rows of the non-flash attention, bit for bit attention.c */
void x86_avx512_attn_rows_f16(int hd, int nq, int n, const float *const *q, const int *lo, const int *hi,
                              const void *const *kr, const void *const *vr, const int32_t *pos, float *work,
                              float *const *out);
void x86_avx512_attn_rows_f32(int hd, int nq, int n, const float *const *q, const int *lo, const int *hi,
                              const void *const *kr, const void *const *vr, const int32_t *pos, float *work,
                              float *const *out);

/* elem-avx512.c (AVX-512 F/BW/VL): elementwise ops, bit for bit the portable ones */
void x86_avx512_geglu(int n, float *g, const float *u);

/* gemv-avx512.c (AVX-512 F/BW/VL + VNNI): single-token matrix-vector kernels */
void x86_avx512_gemv_q4_K(int n, int nr, const void *w, size_t w_stride, const void *a, float *y);
void x86_avx512_gemv_q5_K(int n, int nr, const void *w, size_t w_stride, const void *a, float *y);
void x86_avx512_gemv_q6_K(int n, int nr, const void *w, size_t w_stride, const void *a, float *y);
void x86_avx512_gemv_q8_0(int n, int nr, const void *w, size_t w_stride, const void *a, float *y);
void x86_avx512_gemv_q4_0(int n, int nr, const void *w, size_t w_stride, const void *a, float *y);
#endif
