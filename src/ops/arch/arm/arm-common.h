/* arm-common.h - small NEON helpers shared by the AArch64 row kernels, gemv kernels and GEMM
 * tiles (arm-kernels.inc, arm-gemv.inc, arm-gemm.inc): unaligned scalar reads, fp16 conversion,
 * the Q4_K / Q5_K scale unpacking, the contract's hsum8, and the 16-byte int8 dot products with
 * and without the dot-product extension. Included only by files compiled for
 * AArch64 (src/ops/arch/arm/). */
#ifndef MEDGE_OPS_ARCH_ARM_COMMON_H
#define MEDGE_OPS_ARCH_ARM_COMMON_H
#include <arm_neon.h>
#include <stdint.h>
#include <string.h>

#define ARM_INLINE static inline __attribute__((always_inline))

ARM_INLINE uint16_t arm_rd16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

ARM_INLINE float arm_rdf32(const uint8_t *p)
{
    float v;
    memcpy(&v, p, 4);
    return v;
}

ARM_INLINE float arm_h2f(uint16_t h)
{
    return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h))), 0);
}

/* the fp16 values at p[0], p[1], p[2], p[3] (each 2 bytes, any alignment) as 4 floats */
ARM_INLINE float32x4_t arm_h2f4(const uint8_t *p0, const uint8_t *p1, const uint8_t *p2, const uint8_t *p3)
{
    const uint16_t h[4] = {arm_rd16(p0), arm_rd16(p1), arm_rd16(p2), arm_rd16(p3)};
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(h)));
}

/* Q4_K / Q5_K scales (sc[0..7]) and mins (sc[8..15]) of one block from its 12 packed bytes
 * (get_scale_min_k4 for all 8 sub-blocks at once) */
ARM_INLINE void arm_k4_scales(const uint8_t *s12, uint8_t sc[16])
{
    uint32_t u0, u1, u2;
    memcpy(&u0, s12, 4);
    memcpy(&u1, s12 + 4, 4);
    memcpy(&u2, s12 + 8, 4);
    const uint32_t a0 = u0 & 0x3f3f3f3fu, a1 = (u2 & 0x0f0f0f0fu) | (((u0 >> 6) & 0x03030303u) << 4);
    const uint32_t b0 = u1 & 0x3f3f3f3fu, b1 = ((u2 >> 4) & 0x0f0f0f0fu) | (((u1 >> 6) & 0x03030303u) << 4);
    memcpy(sc, &a0, 4);
    memcpy(sc + 4, &a1, 4);
    memcpy(sc + 8, &b0, 4);
    memcpy(sc + 12, &b1, 4);
}

/* acc + the products of a and b, 4 per lane (summed exactly; lane grouping differs without
 * dotprod, the lane total does not). */
ARM_INLINE int32x4_t arm_dot16(int32x4_t acc, int8x16_t a, int8x16_t b)
{
#if defined(__ARM_FEATURE_DOTPROD)
    return vdotq_s32(acc, a, b);
#else
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(b)));
    return vpadalq_s16(acc, vmull_high_s8(a, b));
#endif
}

/* lane i = the sum of a * b over bytes 4i..4i+3, exactly these 4 (the "lanes8" order of
 * ops/kernels.h needs the 4-element sums themselves) */
ARM_INLINE int32x4_t arm_dot4(int8x16_t a, int8x16_t b)
{
#if defined(__ARM_FEATURE_DOTPROD)
    return vdotq_s32(vdupq_n_s32(0), a, b);
#else
    const int32x4_t lo = vpaddlq_s16(vmull_s8(vget_low_s8(a), vget_low_s8(b)));
    const int32x4_t hi = vpaddlq_s16(vmull_high_s8(a, b));
    return vpaddq_s32(lo, hi);
#endif
}

/* ops/kernels.h's hsum8 of lanes 0..3 (lo) and 4..7 (hi): ((a0+a4) + (a2+a6)) + ((a1+a5) + (a3+a7)) */
ARM_INLINE float arm_hsum8(float32x4_t lo, float32x4_t hi)
{
    const float32x4_t r = vaddq_f32(lo, hi);
    return (vgetq_lane_f32(r, 0) + vgetq_lane_f32(r, 2)) + (vgetq_lane_f32(r, 1) + vgetq_lane_f32(r, 3));
}

/* Lane-indexed dot product: lane i of acc += dot(bytes 4i..4i+3 of w, bytes 4L..4L+3 of a).
 * Without dotprod: broadcast, widening multiplies, pairwise adds (|pair| <= 2 * 128 * 127 fits
 * int16). L must be a literal. */
#if defined(__ARM_FEATURE_DOTPROD)
#define ARM_DOTL(acc, w, a, L) vdotq_laneq_s32((acc), (w), (a), (L))
#else
#define ARM_DOTL(acc, w, a, L) arm_dotl_emul((acc), (w), vreinterpretq_s8_s32(vdupq_laneq_s32(vreinterpretq_s32_s8(a), (L))))
ARM_INLINE int32x4_t arm_dotl_emul(int32x4_t acc, int8x16_t w, int8x16_t b)
{
    const int16x8_t p = vmull_s8(vget_low_s8(w), vget_low_s8(b)), q = vmull_high_s8(w, b);
    return vpadalq_s16(acc, vpaddq_s16(p, q));
}
#endif

/* element r = the total of the 4 lanes of v_r */
ARM_INLINE int32x4_t arm_red4(int32x4_t v0, int32x4_t v1, int32x4_t v2, int32x4_t v3)
{
    return vpaddq_s32(vpaddq_s32(v0, v1), vpaddq_s32(v2, v3));
}

/* store the first n (1..4) lanes of v */
ARM_INLINE void arm_store_n(float *y, float32x4_t v, int n)
{
    if (n >= 4) {
        vst1q_f32(y, v);
        return;
    }
    float t[4];
    vst1q_f32(t, v);
    for (int i = 0; i < n; i++)
        y[i] = t[i];
}
#endif
