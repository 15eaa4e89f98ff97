/* attn-neon.c - query rows of the non-flash attention of ops/attention.c (ops_attn_rows_fn of
 * ops/kernels.h) with base AArch64 NEON, bit for bit the portable C; one copy serves the neon,
 * dotprod and i8mm tables (nothing here needs the extensions):
 *  - scores: the portable code keeps 16 lane accumulators per (row, key) (lane = element % 16, FMA
 *    chain over the row); here they are 4 vectors per (row, key), 4 (row, key) pairs per register
 *    tile (each key vector converted once for the tile's rows), and the lane trees of the 4 pairs
 *    (_mm512_reduce_add_ps's 8 + 8, 4 + 4, then (t0 + t2) + (t1 + t3)) run together through zips,
 *    each add pairing the same two values as the portable tree;
 *  - softmax: ggml's vector exp (the same FMA sequence; ldexpf as two exact-then-rounding
 *    multiplies by powers of two), group sums per 16 positions exactly as the portable loop;
 *  - values: the accumulator of lane l collects the cells whose position % 16 == l in position
 *    order; 32 output elements per pass, the value rows converted to floats once for all rows, then
 *    for each row and 4 output elements the 16 lane accumulators stay in registers while a run of
 *    consecutive positions streams past (cell i of the run feeds register i % 16); the lane tree
 *    gives the outputs. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#elif defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif
#include "ops/arch/arm/arch.h"
#include "ops/arch/arm/arm-common.h"

#include <math.h>
#include <string.h>

/* 4 elements i..i+3 of a cache row (F16 or F32) as floats */
ARM_INLINE float32x4_t ld_row(const void *p, size_t i, int f16)
{
    if (f16)
        return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16((const uint16_t *)p + i)));
    return vld1q_f32((const float *)p + i);
}

/* the portable reduce16 of 16 values held as 4 vectors (elements 0-3, 4-7, 8-11, 12-15) up to
 * t4: t8[i] = a[i] + a[i+8], t4[i] = t8[i] + t8[i+4] */
ARM_INLINE float32x4_t tree_t4(const float32x4_t *a)
{
    return vaddq_f32(vaddq_f32(a[0], a[2]), vaddq_f32(a[1], a[3]));
}

/* lane k = (T[k][0] + T[k][2]) + (T[k][1] + T[k][3]), the last step of reduce16 for 4 t4 vectors */
ARM_INLINE float32x4_t tree_last4(float32x4_t t0, float32x4_t t1, float32x4_t t2, float32x4_t t3)
{
    /* [t0[0] + t0[2], t1[0] + t1[2], t0[1] + t0[3], t1[1] + t1[3]] */
    const float32x4_t s01 = vaddq_f32(vzip1q_f32(t0, t1), vzip2q_f32(t0, t1));
    const float32x4_t s23 = vaddq_f32(vzip1q_f32(t2, t3), vzip2q_f32(t2, t3));
    return vaddq_f32(vcombine_f32(vget_low_f32(s01), vget_low_f32(s23)),
                     vcombine_f32(vget_high_f32(s01), vget_high_f32(s23)));
}

/* GCC hoists the loads of a whole unrolled step ahead of its FMAs: with 16 accumulators live
 * that needs more than 32 registers and spills accumulators inside the loops (objdump: up to 13
 * stack loads and stores per 16 fmla). An empty asm that clobbers memory keeps each quarter's loads
 * after the previous quarter's FMAs (the accumulators are registers, nothing is written back), and
 * the score loops are unrolled by pragma so their accumulator array is scalarised: the inner loops
 * then have no stack traffic. */
#define ARM_SCHED_BARRIER() __asm__ volatile("" ::: "memory")

#define KPF 8 /* key blocks of prefetch distance */

/* Scores of NQ rows against the keys [i0, i1): s[r * ns + i]. Register tiles of QT = min(NQ, 4)
 * rows x NK = 4 / QT keys (16 accumulators); more than 4 rows go in groups of 4 over the same
 * block of keys, which is then in L1; the last block repeats its last key, not stored. */
ARM_INLINE void scores(int NQ, int hd, int i0, int i1, const float *qf, const void *const *kr, float *s, size_t ns,
                       int f16)
{
    const int QT = NQ < 4 ? NQ : 4, NK = 4 / QT;
    const size_t esz = f16 ? 2 : 4;
    for (int b = i0; b < i1; b += NK) {
        const int nk = i1 - b < NK ? i1 - b : NK;
        const void *k[4];
        for (int i = 0; i < NK; i++)
            k[i] = kr[b + (i < nk ? i : nk - 1)];
        /* the key rows a few blocks ahead (long lists come from memory) */
        const int bp = b + KPF * NK;
        for (int g = 0; g < NQ; g += QT) {
            const float *qg = qf + (size_t)g * (size_t)hd;
            float32x4_t A[16]; /* A[(i * QT + r) * 4 + quarter] */
#pragma GCC unroll 16
            for (int i = 0; i < 16; i++)
                A[i] = vdupq_n_f32(0.0f);
            for (int e = 0; e < hd; e += 16) {
                if (g == 0 && (e * (int)esz) % 64 == 0)
                    for (int i = 0; i < NK && bp + i < i1; i++)
                        __builtin_prefetch((const char *)kr[bp + i] + (size_t)e * esz, 0, 3);
#pragma GCC unroll 4
                for (int v = 0; v < 4; v++) {
                    float32x4_t qv[4], kv[4];
#pragma GCC unroll 4
                    for (int r = 0; r < QT; r++)
                        qv[r] = vld1q_f32(qg + (size_t)r * (size_t)hd + e + 4 * v);
#pragma GCC unroll 4
                    for (int i = 0; i < NK; i++)
                        kv[i] = ld_row(k[i], (size_t)(e + 4 * v), f16);
#pragma GCC unroll 4
                    for (int i = 0; i < NK; i++)
#pragma GCC unroll 4
                        for (int r = 0; r < QT; r++)
                            A[(i * QT + r) * 4 + v] = vfmaq_f32(A[(i * QT + r) * 4 + v], kv[i], qv[r]);
                    ARM_SCHED_BARRIER();
                }
            }
            float t[4];
            vst1q_f32(t, tree_last4(tree_t4(A), tree_t4(A + 4), tree_t4(A + 8), tree_t4(A + 12)));
            for (int i = 0; i < nk; i++)
                for (int r = 0; r < QT; r++)
                    s[(size_t)(g + r) * ns + (size_t)(b + i)] = t[i * QT + r];
        }
    }
}

/* ggml_v_expf (AVX-512), as attention.c's v_expf lane by lane; _mm512_scalef_ps(j, n) (ldexpf,
 * |n| <= 192) as j * 2^(n >> 1), exact because j ~ 1 stays normal, times 2^(n - (n >> 1)), the one
 * rounding (also into the subnormals or to infinity) */
ARM_INLINE float32x4_t v_expf(float32x4_t x)
{
    const float32x4_t r = vdupq_n_f32(0x1.8p23f);
    const float32x4_t z = vfmaq_f32(r, x, vdupq_n_f32(0x1.715476p+0f));
    const float32x4_t n = vsubq_f32(z, r);
    const float32x4_t b =
        vfmsq_f32(vfmsq_f32(x, n, vdupq_n_f32(0x1.62e4p-1f)), n, vdupq_n_f32(0x1.7f7d1cp-20f));
    const float32x4_t u = vmulq_f32(b, b);
    const float32x4_t p5 = vfmaq_f32(vdupq_n_f32(0x1.573e2ep-5f), vdupq_n_f32(0x1.0e4020p-7f), b);
    const float32x4_t p3 = vfmaq_f32(vdupq_n_f32(0x1.fffdb6p-2f), vdupq_n_f32(0x1.555e66p-3f), b);
    const float32x4_t p1 = vfmaq_f32(vdupq_n_f32(1.0f), vdupq_n_f32(0x1.ffffecp-1f), b);
    const float32x4_t j = vfmaq_f32(p1, vfmaq_f32(p3, p5, u), u);
    const int32x4_t ni = vcvtq_s32_f32(n), n1 = vshrq_n_s32(ni, 1), n2 = vsubq_s32(ni, n1);
    const float32x4_t e1 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n1, vdupq_n_s32(127)), 23));
    const float32x4_t e2 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n2, vdupq_n_s32(127)), 23));
    const float32x4_t scaled = vmulq_f32(vmulq_f32(j, e1), e2);
    const uint32x4_t ok = vcaleq_f32(n, vdupq_n_f32(192.0f)); /* false for NaN, as !(|n| <= 192) */
    const float32x4_t big = vbslq_f32(vclezq_f32(n), vdupq_n_f32(0.0f), vdupq_n_f32(INFINITY));
    return vbslq_f32(ok, scaled, big);
}

/* Softmax of one row's scores s[0..n) (n >= 1) into probabilities, rounded to F16 for an F16 cache. */
ARM_INLINE void softmax_row(int n, float *s, const int32_t *pos, int f16)
{
    /* the maximum: maxnm skips NaN like the portable `v > mx ? v : mx` */
    float32x4_t mx = vdupq_n_f32(-INFINITY);
    int i = 0;
    for (; i + 4 <= n; i += 4)
        mx = vmaxnmq_f32(mx, vld1q_f32(s + i));
    float m = vmaxnmvq_f32(mx);
    for (; i < n; i++)
        m = s[i] > m ? s[i] : m;
    const float32x4_t vm = vdupq_n_f32(m);
    for (i = 0; i + 4 <= n; i += 4)
        vst1q_f32(s + i, v_expf(vsubq_f32(vld1q_f32(s + i), vm)));
    if (i < n) {
        float t[4] = {0};
        memcpy(t, s + i, (size_t)(n - i) * sizeof(float));
        vst1q_f32(t, v_expf(vsubq_f32(vld1q_f32(t), vm)));
        memcpy(s + i, t, (size_t)(n - i) * sizeof(float));
    }
    /* the group sums in position order, as the portable loop */
    double sum = 0;
    float g[16];
    int32_t grp = -1;
    for (i = 0; i < n; i++) {
        if (pos[i] / 16 != grp) {
            if (grp >= 0)
                sum += (double)ops_reduce16(g);
            /* a whole aligned group of consecutive positions: the cells themselves */
            if (pos[i] % 16 == 0 && i + 16 <= n && pos[i + 15] == pos[i] + 15) {
                int run = 1;
                for (int l = 1; l < 15 && run; l++)
                    run = pos[i + l] == pos[i] + l;
                if (run) {
                    memcpy(g, s + i, sizeof g);
                    grp = pos[i] / 16;
                    i += 15;
                    continue;
                }
            }
            memset(g, 0, sizeof g);
            grp = pos[i] / 16;
        }
        g[pos[i] % 16] = s[i];
    }
    sum += (double)ops_reduce16(g);
    const float32x4_t inv = vdupq_n_f32((float)(1.0 / sum));
    for (i = 0; i < n; i += 4) {
        float t[4] = {0};
        const int m4 = n - i < 4 ? n - i : 4;
        memcpy(t, s + i, (size_t)m4 * sizeof(float));
        float32x4_t p = vmulq_f32(vld1q_f32(t), inv);
        if (f16)
            p = vcvt_f32_f16(vcvt_f16_f32(p));
        vst1q_f32(t, p);
        memcpy(s + i, t, (size_t)m4 * sizeof(float));
    }
}

/* The lane accumulators R[0..15] of 4 output elements over the cells [i0, i1) of one run of
 * consecutive positions (cell i0 feeds register 0); vf[32 i]: the 4 value elements of cell i. */
ARM_INLINE void run_values(int i0, int i1, const float *vf, const float *pr, float32x4_t *R)
{
    int i = i0;
    for (; i + 16 <= i1; i += 16)
        for (int l = 0; l < 16; l++) {
            R[l] = vfmaq_n_f32(R[l], vld1q_f32(vf + (size_t)(i + l) * 32), pr[i + l]);
            if (l % 4 == 3)
                ARM_SCHED_BARRIER();
        }
    for (int l = 0; l < 16; l++)
        if (i + l < i1)
            R[l] = vfmaq_n_f32(R[l], vld1q_f32(vf + (size_t)(i + l) * 32), pr[i + l]);
}

/* cells per chunk of the value pass over long cell lists (32 converted elements each: 16 KB) */
#define VCH 128

/* vf[(i - base) * 32 + 0..ne) = elements e0.. of the value rows of cells [i0, i1) as floats; the
 * same elements of the next chunk's cells are prefetched (they wait in memory while this chunk is
 * multiplied), or at the end of the list the next elements of the first chunk's */
ARM_INLINE void convert_values(int i0, int i1, int n0, int n1, int base, int e0, int ne, int hd,
                               const void *const *vr, float *vf, int f16)
{
    const size_t esz = f16 ? 2 : 4;
    for (int i = i0; i < i1; i++) {
        const int ip = i + (i1 - i0);
        if (ip < n1)
            __builtin_prefetch((const char *)vr[ip] + (size_t)e0 * esz, 0, 2);
        else if (e0 + 32 < hd && ip - n1 < i1 - i0)
            __builtin_prefetch((const char *)vr[n0 + (ip - n1)] + (size_t)(e0 + 32) * esz, 0, 3);
        float *d = vf + (size_t)(i - base) * 32;
        for (int e = 0; e < ne; e += 4)
            vst1q_f32(d + e, ld_row(vr[i], (size_t)(e0 + e), f16));
    }
}

/* One row's lane accumulators lanes[0..15] (4 output elements) over its cells [s0, s1) (vf and pr
 * indexed from cell base), run by run of consecutive positions (cell r0 of a run feeds lane
 * pos[r0] % 16). */
ARM_INLINE void row_values(int s0, int s1, int base, const int *rend, const int32_t *pos, const float *vf,
                           const float *pr, float32x4_t *lanes)
{
    for (int r0 = s0; r0 < s1;) {
        const int r1 = rend[r0] < s1 ? rend[r0] : s1;
        const int L = pos[r0] % 16;
        float32x4_t R[16];
        for (int l = 0; l < 16; l++)
            R[l] = lanes[(L + l) & 15];
        run_values(r0 - base, r1 - base, vf, pr + base, R);
        for (int l = 0; l < 16; l++)
            lanes[(L + l) & 15] = R[l];
        r0 = r1;
    }
}

/* the portable lane tree of 16 lane accumulators */
ARM_INLINE float32x4_t lane_tree(const float32x4_t *lanes)
{
    float32x4_t t8[8], t4[4];
    for (int l = 0; l < 8; l++)
        t8[l] = vaddq_f32(lanes[l], lanes[l + 8]);
    for (int l = 0; l < 4; l++)
        t4[l] = vaddq_f32(t8[l], t8[l + 4]);
    return vaddq_f32(vaddq_f32(t4[0], t4[2]), vaddq_f32(t4[1], t4[3]));
}

ARM_INLINE void rows(int NQ, int hd, int n, const float *const *q, const int *lo, const int *hi,
                     const void *const *kr, const void *const *vr, const int32_t *pos, float *work, float *const *out,
                     int f16)
{
    /* work: lanes [16 vectors] | qf [NQ][hd] | vf [n][32] | scores [NQ][n] | run ends [n] (int) */
    float32x4_t *lanes = (float32x4_t *)work;
    float *qf = work + 256, *vf = qf + (size_t)NQ * (size_t)hd, *sc = vf + (size_t)n * 32;
    int *rend = (int *)(sc + (size_t)NQ * (size_t)n);
    int a = n, b = 0;
    for (int r = 0; r < NQ; r++) {
        for (int e = 0; e < hd; e += 4) { /* q rounded to the cache type, as floats */
            float32x4_t v = vld1q_f32(q[r] + e);
            if (f16)
                v = vcvt_f32_f16(vcvt_f16_f32(v));
            vst1q_f32(qf + (size_t)r * (size_t)hd + e, v);
        }
        if (lo[r] < hi[r]) {
            a = lo[r] < a ? lo[r] : a;
            b = hi[r] > b ? hi[r] : b;
        }
    }
    if (a >= b) {
        for (int r = 0; r < NQ; r++)
            memset(out[r], 0, (size_t)hd * sizeof(float));
        return;
    }
    scores(NQ, hd, a, b, qf, kr, sc, (size_t)n, f16);
    for (int r = 0; r < NQ; r++)
        if (lo[r] < hi[r])
            softmax_row(hi[r] - lo[r], sc + (size_t)r * (size_t)n + lo[r], pos + lo[r], f16);
    /* runs of consecutive positions: rend[i] = end of the run holding cell i */
    rend[b - 1] = b;
    for (int i = b - 2; i >= a; i--)
        rend[i] = pos[i + 1] == pos[i] + 1 ? rend[i + 1] : i + 1;
    /* 32 output elements (one 64-byte line of an F16 row) per pass over the value rows; long
     * lists in chunks of VCH cells, so the converted values stay in L1 while every row takes its
     * share, each row's lane accumulators waiting in LB between chunks (the work area has room
     * for both when the list is that long) */
    const int chunk = b - a >= VCH + 16 * NQ ? VCH : b - a;
    float32x4_t *LB = (float32x4_t *)(vf + (size_t)VCH * 32); /* chunked: [NQ][8][16] */
    for (int e0 = 0; e0 < hd; e0 += 32) {
        const int ne = hd - e0 < 32 ? 16 : 32;
        if (chunk == b - a) {
            convert_values(a, b, a, b, a, e0, ne, hd, vr, vf, f16);
            for (int r = 0; r < NQ; r++)
                for (int h = 0; h < ne; h += 4) {
                    for (int l = 0; l < 16; l++)
                        lanes[l] = vdupq_n_f32(0.0f);
                    row_values(lo[r], hi[r], a, rend, pos, vf + h, sc + (size_t)r * (size_t)n, lanes);
                    vst1q_f32(out[r] + e0 + h, lane_tree(lanes));
                }
            continue;
        }
        for (int i = 0; i < NQ * 8 * 16; i++)
            LB[i] = vdupq_n_f32(0.0f);
        for (int c0 = a; c0 < b; c0 += chunk) {
            const int c1 = b - c0 < chunk ? b : c0 + chunk;
            convert_values(c0, c1, a, b, c0, e0, ne, hd, vr, vf, f16);
            for (int r = 0; r < NQ; r++) {
                const int s0 = lo[r] > c0 ? lo[r] : c0, s1 = hi[r] < c1 ? hi[r] : c1;
                if (s0 < s1)
                    for (int h = 0; h < ne; h += 4)
                        row_values(s0, s1, c0, rend, pos, vf + h, sc + (size_t)r * (size_t)n,
                                   LB + (size_t)(r * 8 + h / 4) * 16);
            }
        }
        for (int r = 0; r < NQ; r++)
            for (int h = 0; h < ne; h += 4)
                vst1q_f32(out[r] + e0 + h, lane_tree(LB + (size_t)(r * 8 + h / 4) * 16));
    }
}

/* 32, 16, 8, 4, 2 or 1 rows per pass (a pass converts each key and value row once per 4 rows) */
#define ROWS_SWITCH(F16)                                                                                     \
    for (int r0 = 0; r0 < nq;) {                                                                             \
        const int m = nq - r0 >= 32 ? 32 : nq - r0 >= 16 ? 16 : nq - r0 >= 8 ? 8 : nq - r0 >= 4 ? 4 : nq - r0 >= 2 ? 2 : 1; \
        switch (m) {                                                                                         \
        case 32: rows(32, hd, n, q + r0, lo + r0, hi + r0, kr, vr, pos, work, out + r0, F16); break;         \
        case 16: rows(16, hd, n, q + r0, lo + r0, hi + r0, kr, vr, pos, work, out + r0, F16); break;         \
        case 8: rows(8, hd, n, q + r0, lo + r0, hi + r0, kr, vr, pos, work, out + r0, F16); break;           \
        case 4: rows(4, hd, n, q + r0, lo + r0, hi + r0, kr, vr, pos, work, out + r0, F16); break;           \
        case 2: rows(2, hd, n, q + r0, lo + r0, hi + r0, kr, vr, pos, work, out + r0, F16); break;           \
        default: rows(1, hd, n, q + r0, lo + r0, hi + r0, kr, vr, pos, work, out + r0, F16); break;          \
        }                                                                                                    \
        r0 += m;                                                                                             \
    }

void arm_attn_rows_f16(int hd, int nq, int n, const float *const *q, const int *lo, const int *hi,
                       const void *const *kr, const void *const *vr, const int32_t *pos, float *work,
                       float *const *out)
{
    ROWS_SWITCH(1)
}

void arm_attn_rows_f32(int hd, int nq, int n, const float *const *q, const int *lo, const int *hi,
                       const void *const *kr, const void *const *vr, const int32_t *pos, float *work,
                       float *const *out)
{
    ROWS_SWITCH(0)
}
