/* elem-neon.c - elementwise ops of the kernel table (ops/kernels.h) with base AArch64 NEON, equal
 * bit for bit to the portable versions in ops/kernels.c; one copy serves the neon, dotprod and i8mm
 * tables:
 *  - geglu: ggml's fp16 GELU table, indexed by the fp16 rounding of the gate (fcvtn rounds to
 *    nearest even like medge_fp32_to_fp16), four lookups per vector (NEON has no gather), widened
 *    exactly (fcvtl). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#elif defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif
#include "ops/arch/arm/arch.h"
#include "ops/arch/arm/arm-common.h"

/* g = gelu_tanh(g) * u: 0 for g <= -10, g * u for g >= 10 (and NaN), table * u between */
static inline float32x4_t geglu4(float32x4_t x, float32x4_t u)
{
    const uint32x4_t lo = vcleq_f32(x, vdupq_n_f32(-10.0f));
    const uint32x4_t mid = vandq_u32(vcgtq_f32(x, vdupq_n_f32(-10.0f)), vcltq_f32(x, vdupq_n_f32(10.0f)));
    /* lanes outside (-10, 10) look up entry 0 (the result is not used) */
    const uint16x4_t h = vand_u16(vreinterpret_u16_f16(vcvt_f16_f32(x)), vmovn_u32(mid));
    const uint16_t t[4] = {ops_gelu_fp16_table[vget_lane_u16(h, 0)], ops_gelu_fp16_table[vget_lane_u16(h, 1)],
                           ops_gelu_fp16_table[vget_lane_u16(h, 2)], ops_gelu_fp16_table[vget_lane_u16(h, 3)]};
    const float32x4_t gl = vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(t)));
    const float32x4_t r = vmulq_f32(vbslq_f32(mid, gl, x), u);
    return vbslq_f32(lo, vdupq_n_f32(0.0f), r);
}

void arm_geglu(int n, float *g, const float *u)
{
    int i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(g + i, geglu4(vld1q_f32(g + i), vld1q_f32(u + i)));
    if (i < n) {
        float tg[4] = {0}, tu[4] = {0};
        memcpy(tg, g + i, (size_t)(n - i) * sizeof(float));
        memcpy(tu, u + i, (size_t)(n - i) * sizeof(float));
        vst1q_f32(tg, geglu4(vld1q_f32(tg), vld1q_f32(tu)));
        memcpy(g + i, tg, (size_t)(n - i) * sizeof(float));
    }
}
