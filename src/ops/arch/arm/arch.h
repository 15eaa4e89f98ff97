/* arch.h - AArch64 kernels behind the table of ops/kernels.h: NEON (baseline of every AArch64
 * CPU) and NEON with the dot-product extension (sdot, ARMv8.2+: Snapdragon 845 and later). The
 * same source (arm-kernels.inc) is compiled twice, once per file, with and without dotprod.
 * ops/kernels.c includes this header and calls ops_arch_init (arm-init.c).
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
#endif
