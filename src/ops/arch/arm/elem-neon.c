/* elem-neon.c - elementwise ops of the kernel table (ops/kernels.h) with base AArch64 NEON, equal
 * bit for bit to the portable versions in ops/kernels.c; one copy serves the neon, dotprod and i8mm
 * tables:
 *  - geglu: ggml's fp16 GELU table, indexed by the fp16 rounding of the gate (fcvtn rounds to
 *    nearest even like medge_fp32_to_fp16), four lookups per vector (NEON has no gather), widened
 *    exactly (fcvtl);
 *  - fp16 rows (fp32_to_fp16_row, the F16 activation quantizer, fp16_to_fp32_row): fcvtn / fcvtl,
 *    whose rounding (to nearest even), infinities and subnormals are medge_fp32_to_fp16's and
 *    medge_fp16_to_fp32's; NaN lanes are rebuilt as those write them (sign | 0x7e00 one way, the
 *    payload shifted unquieted the other), where the hardware would keep or quiet payloads. */
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

/* 4 floats to fp16 as medge_fp32_to_fp16 */
static inline uint16x4_t f32_to_f16_4(float32x4_t x)
{
    const uint16x4_t h = vreinterpret_u16_f16(vcvt_f16_f32(x));
    const uint16x4_t nan = vorr_u16(vand_u16(vshrn_n_u32(vreinterpretq_u32_f32(x), 16), vdup_n_u16(0x8000)),
                                    vdup_n_u16(0x7e00));
    return vbsl_u16(vmovn_u32(vmvnq_u32(vceqq_f32(x, x))), nan, h);
}

/* 4 fp16 values to floats as medge_fp16_to_fp32 */
static inline float32x4_t f16_to_f32_4(uint16x4_t h)
{
    const float32x4_t f = vcvt_f32_f16(vreinterpret_f16_u16(h));
    const uint32x4_t w = vmovl_u16(h);
    const uint32x4_t nan = vorrq_u32(vorrq_u32(vshlq_n_u32(vandq_u32(w, vdupq_n_u32(0x8000)), 16),
                                               vdupq_n_u32(0x7f800000)),
                                     vshlq_n_u32(vandq_u32(w, vdupq_n_u32(0x3ff)), 13));
    const uint32x4_t is_nan = vcgtq_u32(vandq_u32(w, vdupq_n_u32(0x7fff)), vdupq_n_u32(0x7c00));
    return vbslq_f32(is_nan, vreinterpretq_f32_u32(nan), f);
}

void arm_fp32_to_fp16_row(const float *x, uint16_t *y, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        vst1_u16(y + i, f32_to_f16_4(vld1q_f32(x + i)));
        vst1_u16(y + i + 4, f32_to_f16_4(vld1q_f32(x + i + 4)));
    }
    for (; i < n; i += 4) {
        float t[4] = {0};
        uint16_t h[4];
        const int64_t m = n - i < 4 ? n - i : 4;
        memcpy(t, x + i, (size_t)m * sizeof(float));
        vst1_u16(h, f32_to_f16_4(vld1q_f32(t)));
        memcpy(y + i, h, (size_t)m * sizeof(uint16_t));
    }
}

void arm_quantize_f16(const float *x, void *y, int64_t n) { arm_fp32_to_fp16_row(x, y, n); }

void arm_fp16_to_fp32_row(const uint16_t *x, float *y, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        vst1q_f32(y + i, f16_to_f32_4(vld1_u16(x + i)));
        vst1q_f32(y + i + 4, f16_to_f32_4(vld1_u16(x + i + 4)));
    }
    for (; i < n; i += 4) {
        uint16_t h[4] = {0};
        float t[4];
        const int64_t m = n - i < 4 ? n - i : 4;
        memcpy(h, x + i, (size_t)m * sizeof(uint16_t));
        vst1q_f32(t, f16_to_f32_4(vld1_u16(h)));
        memcpy(y + i, t, (size_t)m * sizeof(float));
    }
}
