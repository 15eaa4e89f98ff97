/* arch.h - AArch64 kernels behind the table of ops/kernels.h: NEON (baseline of every AArch64
 * CPU), NEON with the dot-product extension (sdot, ARMv8.2+: Snapdragon 845 and later) and with
 * the int8 matrix multiply (smmla, ARMv8.6 / i8mm: Snapdragon 8 Gen 1, Cortex-A510/A710 and
 * later). Row kernels and activation quantizers: arm-kernels.inc (kernels-neon.c,
 * kernels-dotprod.c); single-token gemv: arm-gemv.inc (gemv-neon.c, gemv-dotprod.c); GEMM tiles
 * for batches: arm-gemm.inc (gemm-neon.c, gemm-dotprod.c, gemm-i8mm.c). Each .inc is compiled
 * once per variant with the ISA flags CMake gives by file name. Attention rows (attn-neon.c), the
 * dense attention tiles (attn-dense-neon.c), GeGLU and the fp16 row conversions (elem-neon.c) need
 * base NEON only and serve every variant. ops/kernels.c includes this
 * header and calls ops_arch_init (arm-init.c).
 *
 * Exactness: every quantized dot product computes each block's integer sums exactly and combines
 * them in float in the reference's order, so results equal the portable reference bit for bit;
 * the activation quantizers produce the reference's bytes. Float rows use vector partial sums. */
#ifndef MEDGE_OPS_ARCH_ARM_H
#define MEDGE_OPS_ARCH_ARM_H
#include "ops/kernels.h"

#define ARM_DECLARE(sfx)                                                                    \
    void arm_##sfx##_vec_dot_q4_K(int n, float *s, const void *x, const void *y);          \
    void arm_##sfx##_vec_dot_q5_K(int n, float *s, const void *x, const void *y);          \
    void arm_##sfx##_vec_dot_q6_K(int n, float *s, const void *x, const void *y);          \
    void arm_##sfx##_vec_dot_q8_0(int n, float *s, const void *x, const void *y);          \
    void arm_##sfx##_vec_dot_q4_0(int n, float *s, const void *x, const void *y);          \
    void arm_##sfx##_vec_dot_f16(int n, float *s, const void *x, const void *y);           \
    void arm_##sfx##_vec_dot_bf16(int n, float *s, const void *x, const void *y);          \
    void arm_##sfx##_vec_dot_f32(int n, float *s, const void *x, const void *y);           \
    void arm_##sfx##_quantize_q8_K(const float *x, void *y, int64_t n);                    \
    void arm_##sfx##_quantize_q8_0(const float *x, void *y, int64_t n);

ARM_DECLARE(neon)
ARM_DECLARE(dotprod)

/* gemv-<sfx>.c: single-token matrix-vector kernels (bit-exact, see arm-gemv.inc) */
#define ARM_DECLARE_GEMV(sfx)                                                                        \
    void arm_##sfx##_gemv_q4_K(int n, int nr, const void *w, size_t w_stride, const void *a, float *y); \
    void arm_##sfx##_gemv_q5_K(int n, int nr, const void *w, size_t w_stride, const void *a, float *y); \
    void arm_##sfx##_gemv_q6_K(int n, int nr, const void *w, size_t w_stride, const void *a, float *y); \
    void arm_##sfx##_gemv_q8_0(int n, int nr, const void *w, size_t w_stride, const void *a, float *y); \
    void arm_##sfx##_gemv_q4_0(int n, int nr, const void *w, size_t w_stride, const void *a, float *y);
ARM_DECLARE_GEMV(neon)
ARM_DECLARE_GEMV(dotprod)

/* gemm-<sfx>.c: GEMM tiles (quantized: bit-exact; float: summation order), see arm-gemm.inc;
 * the i8mm file has smmla versions of Q4_K and Q4_0 only (its table keeps the sdot tiles of the
 * lanes8 types Q8_0, Q5_K, Q6_K and the float ones) */
#define ARM_DECLARE_GEMM(sfx)                                                                                 \
    extern const ops_gemm_kernel arm_##sfx##_gemm_q4_K, arm_##sfx##_gemm_q5_K, arm_##sfx##_gemm_q6_K,          \
        arm_##sfx##_gemm_q8_0, arm_##sfx##_gemm_q4_0, arm_##sfx##_gemm_f32, arm_##sfx##_gemm_f16,             \
        arm_##sfx##_gemm_bf16;
ARM_DECLARE_GEMM(neon)
ARM_DECLARE_GEMM(dotprod)
extern const ops_gemm_kernel arm_i8mm_gemm_q4_K, arm_i8mm_gemm_q4_0;

/* attn-neon.c, elem-neon.c: base NEON only, installed in every variant's table (bit-exact) */
void arm_attn_rows_f16(int hd, int nq, int n, const float *const *q, const int *lo, const int *hi,
                       const void *const *kr, const void *const *vr, const int32_t *pos, float *work,
                       float *const *out);
void arm_attn_rows_f32(int hd, int nq, int n, const float *const *q, const int *lo, const int *hi,
                       const void *const *kr, const void *const *vr, const int32_t *pos, float *work,
                       float *const *out);
void arm_geglu(int n, float *g, const float *u);
void arm_fp32_to_fp16_row(const float *x, uint16_t *y, int64_t n);
void arm_quantize_f16(const float *x, void *y, int64_t n);
void arm_fp16_to_fp32_row(const uint16_t *x, float *y, int64_t n);
/* attn-dense-neon.c: the dense (vision) attention tiles, F32 (base NEON, every variant) */
extern const ops_attn_kernel arm_attn_dense_f32;
#endif
