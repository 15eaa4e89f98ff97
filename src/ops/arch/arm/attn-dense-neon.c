/* attn-dense-neon.c - NEON tile kernel (F32) for the dense (vision encoder) attention of
 * ops/attention-dense.c, with base AArch64 NEON for every ARM table. It computes exactly what the
 * portable tile kernel computes (same key blocks of 64 for the online softmax, the same FMA chains
 * over head dims and keys, the same exp2 polynomial without fusion), but with register blocks
 * that fit the 32 NEON registers: a tile of 16 queries (four 4-lane vectors, queries in the lanes)
 * against 4 keys, or 4 head dims, at a time = 16 accumulators, each step one vector load for the
 * 4 keys' (head dims') values and multiplies by lane. (The portable loops, vectorised by the
 * compiler, keep 32 queries x 4 rows = 32 accumulators and spill a third of them every step.)
 * Keys are packed 4 at a time, transposed: [key / 4][head dim][key % 4]; values as rows of the head
 * dims rounded up to 4. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#elif defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif
#include "ops/arch/arm/arch.h"
#include "ops/arch/arm/arm-common.h"

#include <math.h>

#define QB 16 /* queries per tile: 4 vectors */
#define BK 64 /* keys per block of the online softmax (the portable kernel's) */

static int round_up(int x, int m) { return (x + m - 1) / m * m; }

/* keys [npad / 4][D][4] then values [npad][Dp] */
static size_t kv_bytes(int n, int D)
{
    size_t b = (size_t)round_up(n, BK) * ((size_t)D + (size_t)round_up(D, 4)) * sizeof(float);
    return (b + 63) & ~(size_t)63;
}

/* qt [D][QB], scores [BK][QB], ot [Dp][QB], max [QB], sum [QB] */
static size_t work_bytes(int D) { return ((size_t)D + BK + (size_t)round_up(D, 4) + 2) * QB * sizeof(float); }

static void pack(const float *k, const float *v, size_t ld, int n, int D, void *kv, int s0, int s1)
{
    const int npad = round_up(n, BK), Dp = round_up(D, 4);
    float *kp = kv, *vp = kp + (size_t)npad * (size_t)D;
    for (int s = s0; s < s1; s++) {
        float *kd = kp + (size_t)(s / 4) * (size_t)D * 4 + (size_t)(s % 4);
        for (int d = 0; d < D; d++)
            kd[(size_t)d * 4] = s < n ? k[(size_t)s * ld + (size_t)d] : 0;
        for (int d = 0; d < Dp; d++)
            vp[(size_t)s * (size_t)Dp + (size_t)d] = s < n && d < D ? v[(size_t)s * ld + (size_t)d] : 0;
    }
}

/* the portable exp2_neg lane by lane: 2^x for x <= 0, 0 below -126; the rounding to an integer
 * by adding and subtracting 1.5 * 2^23, the polynomial as separate multiplies and adds */
ARM_INLINE float32x4_t exp2_neg(float32x4_t x)
{
    const float32x4_t lim = vdupq_n_f32(-126.0f), big = vdupq_n_f32(12582912.0f);
    const uint32x4_t under = vcltq_f32(x, lim);
    const float32x4_t xc = vbslq_f32(under, lim, x);
    const float32x4_t n = vsubq_f32(vaddq_f32(xc, big), big);
    const float32x4_t f = vsubq_f32(xc, n);
    float32x4_t p = vdupq_n_f32(1.535336188319500e-4f);
    p = vaddq_f32(vmulq_f32(p, f), vdupq_n_f32(1.339887440266574e-3f));
    p = vaddq_f32(vmulq_f32(p, f), vdupq_n_f32(9.618437357674640e-3f));
    p = vaddq_f32(vmulq_f32(p, f), vdupq_n_f32(5.550332471162809e-2f));
    p = vaddq_f32(vmulq_f32(p, f), vdupq_n_f32(2.402264791363012e-1f));
    p = vaddq_f32(vmulq_f32(p, f), vdupq_n_f32(6.931472028550421e-1f));
    p = vaddq_f32(vmulq_f32(p, f), vdupq_n_f32(1.0f));
    const int32x4_t r = vaddq_s32(vreinterpretq_s32_f32(p), vshlq_n_s32(vcvtq_s32_f32(n), 23));
    return vbslq_f32(under, vdupq_n_f32(0.0f), vreinterpretq_f32_s32(r));
}

/* acc[r][v] = fma(b[r], a[v], acc[r][v]) for r, v < 4 (b's lanes: 4 keys or 4 head dims) */
#define FMA_4X4(acc, a, b)                                         \
    do {                                                           \
        for (int v_ = 0; v_ < 4; v_++) {                           \
            acc[0][v_] = vfmaq_laneq_f32(acc[0][v_], a[v_], b, 0); \
            acc[1][v_] = vfmaq_laneq_f32(acc[1][v_], a[v_], b, 1); \
            acc[2][v_] = vfmaq_laneq_f32(acc[2][v_], a[v_], b, 2); \
            acc[3][v_] = vfmaq_laneq_f32(acc[3][v_], a[v_], b, 3); \
        }                                                          \
    } while (0)

static void rows(const void *kv, int n, int D, const float *q, size_t ldq, int nq, float scale, float *out,
                 size_t ldo, void *work)
{
    const int npad = round_up(n, BK), Dp = round_up(D, 4);
    const float *kp = kv, *vp = kp + (size_t)npad * (size_t)D;
    float *qt = work, *st = qt + (size_t)D * QB, *ot = st + (size_t)BK * QB, *mx = ot + (size_t)Dp * QB,
          *sum = mx + QB;
    for (int d = 0; d < D; d++)
        for (int c = 0; c < QB; c++)
            qt[(size_t)d * QB + (size_t)c] = c < nq ? q[(size_t)c * ldq + (size_t)d] * scale : 0;
    memset(ot, 0, (size_t)Dp * QB * sizeof(float));
    for (int c = 0; c < QB; c++) {
        mx[c] = -INFINITY;
        sum[c] = 0;
    }
    for (int kb = 0; kb < npad; kb += BK) {
        /* scores st[s][c] = k_s . q_c (log2 units), 4 keys x 16 queries per register block */
        for (int s0 = 0; s0 < BK; s0 += 4) {
            float32x4_t acc[4][4];
            for (int r = 0; r < 4; r++)
                for (int v = 0; v < 4; v++)
                    acc[r][v] = vdupq_n_f32(0.0f);
            const float *k4 = kp + (size_t)(kb + s0) * (size_t)D;
            for (int d = 0; d < D; d++) {
                const float32x4_t kv4 = vld1q_f32(k4 + (size_t)d * 4);
                float32x4_t qv[4];
                for (int v = 0; v < 4; v++)
                    qv[v] = vld1q_f32(qt + (size_t)d * QB + 4 * v);
                FMA_4X4(acc, qv, kv4);
            }
            for (int r = 0; r < 4; r++)
                for (int v = 0; v < 4; v++)
                    vst1q_f32(st + (size_t)(s0 + r) * QB + 4 * v,
                              kb + s0 + r < n ? acc[r][v] : vdupq_n_f32(-INFINITY));
        }
        /* online softmax: new maximum, rescale what was summed so far */
        float32x4_t alpha[4];
        for (int v = 0; v < 4; v++) {
            const float32x4_t m0 = vld1q_f32(mx + 4 * v);
            float32x4_t mn = m0;
            for (int s = 0; s < BK; s++) { /* the portable `st > m ? st : m` */
                const float32x4_t x = vld1q_f32(st + (size_t)s * QB + 4 * v);
                mn = vbslq_f32(vcgtq_f32(x, mn), x, mn);
            }
            alpha[v] = exp2_neg(vsubq_f32(m0, mn));
            vst1q_f32(mx + 4 * v, mn);
            float32x4_t part = vdupq_n_f32(0.0f);
            for (int s = 0; s < BK; s++) {
                float *ps = st + (size_t)s * QB + 4 * v;
                const float32x4_t p = exp2_neg(vsubq_f32(vld1q_f32(ps), mn));
                vst1q_f32(ps, p);
                part = vaddq_f32(part, p);
            }
            vst1q_f32(sum + 4 * v, vaddq_f32(vmulq_f32(vld1q_f32(sum + 4 * v), alpha[v]), part));
        }
        /* ot[d][c] = alpha[c] * ot[d][c] + sum_s v_s[d] p[s][c], 4 head dims x 16 queries */
        for (int d0 = 0; d0 < Dp; d0 += 4) {
            float32x4_t acc[4][4];
            for (int r = 0; r < 4; r++)
                for (int v = 0; v < 4; v++)
                    acc[r][v] = vmulq_f32(vld1q_f32(ot + (size_t)(d0 + r) * QB + 4 * v), alpha[v]);
            const float *v0 = vp + (size_t)kb * (size_t)Dp + (size_t)d0;
            for (int s = 0; s < BK; s++) {
                const float32x4_t vv = vld1q_f32(v0 + (size_t)s * (size_t)Dp);
                float32x4_t pv[4];
                for (int v = 0; v < 4; v++)
                    pv[v] = vld1q_f32(st + (size_t)s * QB + 4 * v);
                FMA_4X4(acc, pv, vv);
            }
            for (int r = 0; r < 4; r++)
                for (int v = 0; v < 4; v++)
                    vst1q_f32(ot + (size_t)(d0 + r) * QB + 4 * v, acc[r][v]);
        }
    }
    for (int c = 0; c < nq; c++) {
        const float inv = 1.0f / sum[c];
        for (int d = 0; d < D; d++)
            out[(size_t)c * ldo + (size_t)d] = ot[(size_t)d * QB + (size_t)c] * inv;
    }
}

const ops_attn_kernel arm_attn_dense_f32 = {QB, BK, kv_bytes, work_bytes, pack, rows};
