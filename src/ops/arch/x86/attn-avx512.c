/* attn-avx512.c - one query row of the non-flash attention of ops/attention.c (ops_attn_row_fn of
 * ops/kernels.h) with AVX-512 F/VL/BW, bit for bit the portable C:
 *  - scores: the portable code keeps 16 lane accumulators per key (lane = element % 16, FMA chain
 *    over the row) and adds them with _mm512_reduce_add_ps's tree; here one vector per key holds
 *    those 16 lanes, 16 keys at a time, and the 16 trees run together through shuffles (each add
 *    pairs the same two values as the portable tree);
 *  - softmax: ggml's vector exp (the same FMA sequence; scalef = ldexpf for integral exponents),
 *    group sums per 16 positions exactly as the portable loop;
 *  - values: the accumulator of lane l collects the cells whose position % 16 == l in position
 *    order; for each 16 output elements the 16 lane accumulators stay in registers while a run of
 *    consecutive positions streams past (cell i of the run feeds register i % 16), then the lane
 *    tree gives the outputs. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#elif defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif
#include "ops/arch/x86/arch.h"
#include "ops/arch/x86/x86-common.h"

#include <math.h>

#define INLINE static inline __attribute__((always_inline))

/* 16 elements of a cache row (F16 or F32) as floats */
INLINE __m512 ld_row(const void *p, size_t i, int f16)
{
    if (f16)
        return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)p + i)));
    return _mm512_loadu_ps((const float *)p + i);
}

/* The _mm512_reduce_add_ps tree of 16 vectors at once: lane k of the result = tree sum of A[k]
 * (the portable reduce16: t8[i] = a[i] + a[i+8], t4[i] = t8[i] + t8[i+4],
 * (t4[0] + t4[2]) + (t4[1] + t4[3])). */
INLINE __m512 reduce16x16(const __m512 *A)
{
    __m512 S1[8], S2[4], S3[2];
    for (int p = 0; p < 8; p++) /* quarters: t8[0..3] of A[2p], t8[4..7] of A[2p], same of A[2p+1] */
        S1[p] = _mm512_add_ps(_mm512_shuffle_f32x4(A[2 * p], A[2 * p + 1], 0x44),
                              _mm512_shuffle_f32x4(A[2 * p], A[2 * p + 1], 0xee));
    for (int r = 0; r < 4; r++) /* quarter i: t4 of A[4r + i] */
        S2[r] = _mm512_add_ps(_mm512_shuffle_f32x4(S1[2 * r], S1[2 * r + 1], 0x88),
                              _mm512_shuffle_f32x4(S1[2 * r], S1[2 * r + 1], 0xdd));
    for (int m = 0; m < 2; m++) /* quarter i: t4[0]+t4[2], t4[1]+t4[3] of A[8m+i], then of A[8m+4+i] */
        S3[m] = _mm512_add_ps(_mm512_shuffle_ps(S2[2 * m], S2[2 * m + 1], 0x44),
                              _mm512_shuffle_ps(S2[2 * m], S2[2 * m + 1], 0xee));
    /* lane 4i + j: the sum of A[4j + i] */
    const __m512 S4 = _mm512_add_ps(_mm512_shuffle_ps(S3[0], S3[1], 0x88), _mm512_shuffle_ps(S3[0], S3[1], 0xdd));
    const __m512i idx = _mm512_set_epi32(15, 11, 7, 3, 14, 10, 6, 2, 13, 9, 5, 1, 12, 8, 4, 0);
    return _mm512_permutexvar_ps(idx, S4);
}

/* scalar reduce16 (the portable tree) */
static inline float reduce16(const float *a)
{
    float t8[8], t4[4];
    for (int i = 0; i < 8; i++)
        t8[i] = a[i] + a[i + 8];
    for (int i = 0; i < 4; i++)
        t4[i] = t8[i] + t8[i + 4];
    return (t4[0] + t4[2]) + (t4[1] + t4[3]);
}

/* s[i] = score of key i for i < n (keys past n in the last block repeat key n - 1, not stored) */
INLINE void scores(int hd, int n, const float *qf, const void *const *kr, float *s, int f16)
{
    for (int i0 = 0; i0 < n; i0 += 16) {
        const int nk = n - i0 < 16 ? n - i0 : 16;
        const void *k[16];
        for (int i = 0; i < 16; i++)
            k[i] = kr[i0 + (i < nk ? i : nk - 1)];
        __m512 A[16];
        for (int i = 0; i < 16; i++)
            A[i] = _mm512_setzero_ps();
        for (int e = 0; e < hd; e += 16) {
            const __m512 q = _mm512_load_ps(qf + e);
            for (int i = 0; i < 16; i++)
                A[i] = _mm512_fmadd_ps(ld_row(k[i], (size_t)e, f16), q, A[i]);
        }
        const __m512 r = reduce16x16(A);
        if (nk == 16)
            _mm512_storeu_ps(s + i0, r);
        else
            _mm512_mask_storeu_ps(s + i0, (__mmask16)((1u << nk) - 1), r);
    }
}

/* ggml_v_expf (AVX-512), as attention.c's v_expf lane by lane */
INLINE __m512 v_expf(__m512 x)
{
    const __m512 r = _mm512_set1_ps(0x1.8p23f);
    const __m512 z = _mm512_fmadd_ps(x, _mm512_set1_ps(0x1.715476p+0f), r);
    const __m512 n = _mm512_sub_ps(z, r);
    const __m512 b = _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.7f7d1cp-20f),
                                      _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.62e4p-1f), x));
    const __m512 u = _mm512_mul_ps(b, b);
    const __m512 j = _mm512_fmadd_ps(
        _mm512_fmadd_ps(_mm512_fmadd_ps(_mm512_set1_ps(0x1.0e4020p-7f), b, _mm512_set1_ps(0x1.573e2ep-5f)), u,
                        _mm512_fmadd_ps(_mm512_set1_ps(0x1.555e66p-3f), b, _mm512_set1_ps(0x1.fffdb6p-2f))),
        u, _mm512_fmadd_ps(_mm512_set1_ps(0x1.ffffecp-1f), b, _mm512_set1_ps(1.0f)));
    const __m512 an = _mm512_abs_ps(n);
    const __mmask16 ok = _mm512_cmp_ps_mask(an, _mm512_set1_ps(192.0f), _CMP_LE_OQ);
    const __mmask16 neg = _mm512_cmp_ps_mask(n, _mm512_setzero_ps(), _CMP_LE_OQ);
    const __m512 big = _mm512_mask_blend_ps(neg, _mm512_set1_ps(INFINITY), _mm512_setzero_ps());
    return _mm512_mask_blend_ps(ok, big, _mm512_scalef_ps(j, n));
}

/* The lane accumulators R[0..15] of 16 output elements over the cells [i0, i1) of one run of
 * consecutive positions (cell i0 feeds register 0). */
INLINE void run_values(int i0, int i1, const void *const *vr, const float *pr, size_t e, int f16, __m512 *R)
{
    int i = i0;
    for (; i + 16 <= i1; i += 16)
        for (int l = 0; l < 16; l++)
            R[l] = _mm512_fmadd_ps(ld_row(vr[i + l], e, f16), _mm512_set1_ps(pr[i + l]), R[l]);
    for (int l = 0; l < 16; l++)
        if (i + l < i1)
            R[l] = _mm512_fmadd_ps(ld_row(vr[i + l], e, f16), _mm512_set1_ps(pr[i + l]), R[l]);
}

INLINE void row(int hd, int n, const void *qv, const void *const *kr, const void *const *vr, const int32_t *pos,
                float *s, float *acc, float *out, int f16)
{
    /* q as floats (exact for F16) */
    float *qf = acc;
    for (int e = 0; e < hd; e += 16)
        _mm512_store_ps(qf + e, ld_row(qv, (size_t)e, f16));
    scores(hd, n, qf, kr, s, f16);

    __m512 mx = _mm512_set1_ps(-INFINITY);
    int i = 0;
    for (; i + 16 <= n; i += 16)
        mx = _mm512_max_ps(mx, _mm512_loadu_ps(s + i));
    float m = _mm512_reduce_max_ps(mx);
    for (; i < n; i++)
        m = s[i] > m ? s[i] : m;

    /* exps, then the group sums in position order (as the portable loop) */
    const __m512 vm = _mm512_set1_ps(m);
    for (i = 0; i < n; i += 16) {
        const __mmask16 k = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(s + i, k, v_expf(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, s + i), vm)));
    }
    double sum = 0;
    float g[16];
    int32_t grp = -1;
    for (i = 0; i < n; i++) {
        if (pos[i] / 16 != grp) {
            if (grp >= 0)
                sum += (double)reduce16(g);
            /* a whole aligned group of consecutive positions: one load */
            if (pos[i] % 16 == 0 && i + 16 <= n &&
                _mm512_cmpneq_epi32_mask(_mm512_loadu_si512((const void *)(pos + i)),
                                         _mm512_add_epi32(_mm512_set1_epi32(pos[i]),
                                                          _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5,
                                                                           4, 3, 2, 1, 0))) == 0) {
                _mm512_storeu_ps(g, _mm512_loadu_ps(s + i));
                grp = pos[i] / 16;
                i += 15;
                continue;
            }
            memset(g, 0, sizeof g);
            grp = pos[i] / 16;
        }
        g[pos[i] % 16] = s[i];
    }
    sum += (double)reduce16(g);
    const __m512 inv = _mm512_set1_ps((float)(1.0 / sum));
    for (i = 0; i < n; i += 16) { /* probabilities, rounded to F16 for an F16 cache */
        const __mmask16 k = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 p = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, s + i), inv);
        if (f16)
            p = _mm512_cvtph_ps(_mm512_cvtps_ph(p, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        _mm512_mask_storeu_ps(s + i, k, p);
    }

    /* values, 16 output elements at a time; lanes[l] lives in registers within a run of
     * consecutive positions, in memory (acc) between runs */
    __m512 *lanes = (__m512 *)acc;
    for (int e = 0; e < hd; e += 16) {
        for (int l = 0; l < 16; l++)
            lanes[l] = _mm512_setzero_ps();
        for (int r0 = 0; r0 < n;) {
            int r1 = r0 + 1;
            while (r1 < n && pos[r1] == pos[r1 - 1] + 1)
                r1++;
            const int L = pos[r0] % 16;
            __m512 R[16];
            for (int l = 0; l < 16; l++)
                R[l] = lanes[(L + l) & 15];
            run_values(r0, r1, vr, s, (size_t)e, f16, R);
            for (int l = 0; l < 16; l++)
                lanes[(L + l) & 15] = R[l];
            r0 = r1;
        }
        __m512 t8[8], t4[4];
        for (int l = 0; l < 8; l++)
            t8[l] = _mm512_add_ps(lanes[l], lanes[l + 8]);
        for (int l = 0; l < 4; l++)
            t4[l] = _mm512_add_ps(t8[l], t8[l + 4]);
        _mm512_storeu_ps(out + e, _mm512_add_ps(_mm512_add_ps(t4[0], t4[2]), _mm512_add_ps(t4[1], t4[3])));
    }
}

void x86_avx512_attn_row_f16(int hd, int n, const void *q, const void *const *kr, const void *const *vr,
                              const int32_t *pos, float *work, float *acc, float *out)
{
    row(hd, n, q, kr, vr, pos, work, acc, out, 1);
}

void x86_avx512_attn_row_f32(int hd, int n, const void *q, const void *const *kr, const void *const *vr,
                              const int32_t *pos, float *work, float *acc, float *out)
{
    row(hd, n, q, kr, vr, pos, work, acc, out, 0);
}
