/* attn-avx512.c - query rows of the non-flash attention of ops/attention.c (ops_attn_rows_fn of
 * ops/kernels.h) with AVX-512 F/VL/BW, bit for bit the portable C:
 *  - scores: the portable code keeps 16 lane accumulators per (row, key) (lane = element % 16, FMA
 *    chain over the row) and adds them with _mm512_reduce_add_ps's tree; here one vector per
 *    (row, key) holds those 16 lanes, 16 of them at a time (e.g. 8 rows x 2 keys: each key row is
 *    converted once for all rows), and the 16 trees run together through shuffles (each add pairs
 *    the same two values as the portable tree);
 *  - softmax: ggml's vector exp (the same FMA sequence; scalef = ldexpf for integral exponents),
 *    group sums per 16 positions exactly as the portable loop;
 *  - values: the accumulator of lane l collects the cells whose position % 16 == l in position
 *    order; 16 output elements at a time, the value rows are converted to floats once for all rows,
 *    then for each row the 16 lane accumulators stay in registers while a run of consecutive
 *    positions streams past (cell i of the run feeds register i % 16); the lane tree gives the
 *    outputs. */
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

#define KPF 8 /* key blocks of prefetch distance */

/* Scores of NQ rows against the keys [i0, i1): s[r * ns + i]. Register tiles of QT = min(NQ, 16)
 * rows x NK = 16 / QT keys (each key row converted once per tile); more than 16 rows go in groups
 * of 16 over the same block of keys, which is then in L1; the last block repeats its last key,
 * not stored. */
INLINE void scores(int NQ, int hd, int i0, int i1, const float *qf, const void *const *kr, float *s, size_t ns,
                   int f16)
{
    const int QT = NQ < 16 ? NQ : 16, NK = 16 / QT;
    for (int b = i0; b < i1; b += NK) {
        const int nk = i1 - b < NK ? i1 - b : NK;
        const void *k[16];
        for (int i = 0; i < NK; i++)
            k[i] = kr[b + (i < nk ? i : nk - 1)];
        /* the key rows a few blocks ahead (long lists come from memory) */
        const void *kp = b + KPF * NK < i1 ? kr[b + KPF * NK] : NULL;
        for (int g = 0; g < NQ; g += QT) {
            const float *qg = qf + (size_t)g * (size_t)hd;
            __m512 A[16]; /* A[i * QT + r] */
            for (int i = 0; i < 16; i++)
                A[i] = _mm512_setzero_ps();
            for (int e = 0; e < hd; e += 16) {
                if (g == 0 && kp && (e * (f16 ? 2 : 4)) % 64 == 0)
                    _mm_prefetch((const char *)kp + (size_t)e * (f16 ? 2 : 4), _MM_HINT_T0);
                __m512 q[16];
                for (int r = 0; r < QT; r++)
                    q[r] = _mm512_load_ps(qg + (size_t)r * (size_t)hd + e);
                for (int i = 0; i < NK; i++) {
                    const __m512 kv = ld_row(k[i], (size_t)e, f16);
                    for (int r = 0; r < QT; r++)
                        A[i * QT + r] = _mm512_fmadd_ps(kv, q[r], A[i * QT + r]);
                }
            }
            float t[16];
            _mm512_storeu_ps(t, reduce16x16(A));
            for (int i = 0; i < nk; i++)
                for (int r = 0; r < QT; r++)
                    s[(size_t)(g + r) * ns + (size_t)(b + i)] = t[i * QT + r];
        }
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

/* Softmax of one row's scores s[0..n) (n >= 1) into probabilities, rounded to F16 for an F16 cache. */
INLINE void softmax_row(int n, float *s, const int32_t *pos, int f16)
{
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
    const __m512i iota = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    double sum = 0;
    float g[16];
    int32_t grp = -1;
    for (i = 0; i < n; i++) {
        if (pos[i] / 16 != grp) {
            if (grp >= 0)
                sum += (double)ops_reduce16(g);
            /* a whole aligned group of consecutive positions: one load */
            if (pos[i] % 16 == 0 && i + 16 <= n &&
                _mm512_cmpneq_epi32_mask(_mm512_loadu_si512((const void *)(pos + i)),
                                         _mm512_add_epi32(_mm512_set1_epi32(pos[i]), iota)) == 0) {
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
    sum += (double)ops_reduce16(g);
    const __m512 inv = _mm512_set1_ps((float)(1.0 / sum));
    for (i = 0; i < n; i += 16) {
        const __mmask16 k = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 p = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, s + i), inv);
        if (f16)
            p = _mm512_cvtph_ps(_mm512_cvtps_ph(p, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        _mm512_mask_storeu_ps(s + i, k, p);
    }
}

/* The lane accumulators R[0..15] of 16 output elements over the cells [i0, i1) of one run of
 * consecutive positions (cell i0 feeds register 0); vf[32 i]: 16 value elements of cell i as floats. */
INLINE void run_values(int i0, int i1, const float *vf, const float *pr, __m512 *R)
{
    int i = i0;
    for (; i + 16 <= i1; i += 16)
        for (int l = 0; l < 16; l++)
            R[l] = _mm512_fmadd_ps(_mm512_load_ps(vf + (size_t)(i + l) * 32), _mm512_set1_ps(pr[i + l]), R[l]);
    for (int l = 0; l < 16; l++)
        if (i + l < i1)
            R[l] = _mm512_fmadd_ps(_mm512_load_ps(vf + (size_t)(i + l) * 32), _mm512_set1_ps(pr[i + l]), R[l]);
}

/* cells per chunk of the value pass over long cell lists (32 converted elements each: 16 KB) */
#define VCH 128

/* vf[(i - base) * 32 + 0..ne) = elements e0.. of the value rows of cells [i0, i1) as floats; the
 * rows of the next cells are prefetched */
INLINE void convert_values(int i0, int i1, int n0, int n1, int base, int e0, int ne, int hd, const void *const *vr,
                           float *vf, int f16, int wrap)
{
    for (int i = i0; i < i1; i++) {
        /* the same elements of the next chunk's cells (the rows wait in memory while this
         * chunk is multiplied), or at the end of the list (when another pass over it follows:
         * wrap) the next elements of the first chunk's */
        const int ip = i + (i1 - i0);
        if (ip < n1)
            _mm_prefetch((const char *)vr[ip] + (size_t)e0 * (f16 ? 2 : 4), _MM_HINT_T1);
        else if (wrap && e0 + 32 < hd && ip - n1 < i1 - i0)
            _mm_prefetch((const char *)vr[n0 + (ip - n1)] + (size_t)(e0 + 32) * (f16 ? 2 : 4), _MM_HINT_T0);
        _mm512_store_ps(vf + (size_t)(i - base) * 32, ld_row(vr[i], (size_t)e0, f16));
        if (ne == 32)
            _mm512_store_ps(vf + (size_t)(i - base) * 32 + 16, ld_row(vr[i], (size_t)e0 + 16, f16));
    }
}

/* One row's lane accumulators lanes[0..15] over its cells [s0, s1) (vf and pr indexed from cell
 * base), run by run of consecutive positions (cell r0 of a run feeds lane pos[r0] % 16). */
INLINE void row_values(int s0, int s1, int base, const int *rend, const int32_t *pos, const float *vf, const float *pr,
                       __m512 *lanes)
{
    for (int r0 = s0; r0 < s1;) {
        const int r1 = rend[r0] < s1 ? rend[r0] : s1;
        const int L = pos[r0] % 16;
        __m512 R[16];
        for (int l = 0; l < 16; l++)
            R[l] = lanes[(L + l) & 15];
        run_values(r0 - base, r1 - base, vf, pr + base, R);
        for (int l = 0; l < 16; l++)
            lanes[(L + l) & 15] = R[l];
        r0 = r1;
    }
}

/* row_values for both halves of a 32-element pass at once (vf holds 32 floats per cell), lanes
 * L0 (elements 0-15) and L1 (16-31): the lanes go in two groups of 8 (lanes 8g..8g+7), so the 16
 * accumulators of a group stay in registers and each probability broadcast feeds two FMAs. A run
 * starting at lane L reaches lane 8g + j at its cells s + j + 16m (m >= -1, cell >= the run's
 * first), s = (8g - L) mod 16; every lane still takes its cells in position order. */
INLINE void row_values_pair(int s0, int s1, int base, const int *rend, const int32_t *pos, const float *vf,
                            const float *pr, __m512 *L0, __m512 *L1)
{
    for (int g = 0; g < 2; g++) {
        __m512 A0[8], A1[8];
        for (int j = 0; j < 8; j++) {
            A0[j] = L0[8 * g + j];
            A1[j] = L1[8 * g + j];
        }
        for (int r0 = s0; r0 < s1;) {
            const int r1 = rend[r0] < s1 ? rend[r0] : s1;
            int c = r0 + ((8 * g - pos[r0] % 16) & 15) - 16; /* the run may start inside the group */
            if (c + 8 > r0) {
                const float *v = vf + (size_t)(c - base) * 32, *p = pr + c;
                for (int j = 0; j < 8; j++)
                    if (c + j >= r0 && c + j < r1) {
                        const __m512 P = _mm512_set1_ps(p[j]);
                        A0[j] = _mm512_fmadd_ps(_mm512_load_ps(v + 32 * j), P, A0[j]);
                        A1[j] = _mm512_fmadd_ps(_mm512_load_ps(v + 32 * j + 16), P, A1[j]);
                    }
            }
            c += 16;
            for (; c + 8 <= r1; c += 16) {
                const float *v = vf + (size_t)(c - base) * 32, *p = pr + c;
                for (int j = 0; j < 8; j++) {
                    const __m512 P = _mm512_set1_ps(p[j]);
                    A0[j] = _mm512_fmadd_ps(_mm512_load_ps(v + 32 * j), P, A0[j]);
                    A1[j] = _mm512_fmadd_ps(_mm512_load_ps(v + 32 * j + 16), P, A1[j]);
                }
            }
            if (c < r1) {
                const float *v = vf + (size_t)(c - base) * 32, *p = pr + c;
                for (int j = 0; j < 8; j++)
                    if (c + j < r1) {
                        const __m512 P = _mm512_set1_ps(p[j]);
                        A0[j] = _mm512_fmadd_ps(_mm512_load_ps(v + 32 * j), P, A0[j]);
                        A1[j] = _mm512_fmadd_ps(_mm512_load_ps(v + 32 * j + 16), P, A1[j]);
                    }
            }
            r0 = r1;
        }
        for (int j = 0; j < 8; j++) {
            L0[8 * g + j] = A0[j];
            L1[8 * g + j] = A1[j];
        }
    }
}

/* the portable lane tree of 16 lane accumulators */
INLINE __m512 lane_tree(const __m512 *lanes)
{
    __m512 t8[8], t4[4];
    for (int l = 0; l < 8; l++)
        t8[l] = _mm512_add_ps(lanes[l], lanes[l + 8]);
    for (int l = 0; l < 4; l++)
        t4[l] = _mm512_add_ps(t8[l], t8[l + 4]);
    return _mm512_add_ps(_mm512_add_ps(t4[0], t4[2]), _mm512_add_ps(t4[1], t4[3]));
}

INLINE void rows(int NQ, int hd, int n, const float *const *q, const int *lo, const int *hi, const void *const *kr,
                 const void *const *vr, const int32_t *pos, float *work, float *const *out, int f16)
{
    /* work: lanes [256] | qf [NQ][hd] | vf [n][32] | scores [NQ][n] | run ends [n] (int) */
    __m512 *lanes = (__m512 *)work;
    float *qf = work + 256, *vf = qf + (size_t)NQ * (size_t)hd, *sc = vf + (size_t)n * 32;
    int *rend = (int *)(sc + (size_t)NQ * (size_t)n);
    int a = n, b = 0;
    for (int r = 0; r < NQ; r++) {
        for (int e = 0; e < hd; e += 16) { /* q rounded to the cache type, as floats */
            __m512 v = _mm512_loadu_ps(q[r] + e);
            if (f16)
                v = _mm512_cvtph_ps(_mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
            _mm512_store_ps(qf + (size_t)r * (size_t)hd + e, v);
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
    /* 32 output elements (one 64-byte line of an F16 row) per pass over the value rows */
    const int chunked = b - a >= VCH + 16 * NQ; /* the work area then has room for LB */
    /* Chunked lists with room for every element's accumulators in the work area (b - a >= VCH +
     * NQ hd / 2) take all the elements of a chunk's rows before the next chunk, so each value row
     * is read whole and the rows stream in order; otherwise one pass over the list per 32
     * elements, which reads each row 64 bytes at a time (decoding at depth 8192: the value loads
     * were a third of this kernel's time). Prompts at depth gain too although their accumulators
     * (16 rows: 256 KB) leave L1: Q4_K_S pp512 at depth 7648, 3 alternating pairs, 59.3 / 63.0 /
     * 51.1 tok/s against 55.9 / 48.3 / 49.1 with this path kept to NQ hd <= 512. */
    const int EW = chunked && b - a >= VCH + NQ * hd / 2 ? hd : 32; /* elements per pass */
    __m512 *LB = (__m512 *)(vf + (size_t)VCH * 32); /* chunked: [NQ][EW / 16][16] lane accumulators */
    for (int e0 = 0; e0 < hd && !chunked; e0 += 32) {
        const int ne = hd - e0 < 32 ? 16 : 32;
        convert_values(a, b, a, b, a, e0, ne, hd, vr, vf, f16, 1);
        if (ne == 32) {
            for (int r = 0; r < NQ; r++) {
                __m512 P2[32];
                for (int l = 0; l < 32; l++)
                    P2[l] = _mm512_setzero_ps();
                row_values_pair(lo[r], hi[r], a, rend, pos, vf, sc + (size_t)r * (size_t)n, P2, P2 + 16);
                _mm512_storeu_ps(out[r] + e0, lane_tree(P2));
                _mm512_storeu_ps(out[r] + e0 + 16, lane_tree(P2 + 16));
            }
            continue;
        }
        for (int r = 0; r < NQ; r++) {
            for (int l = 0; l < 16; l++)
                lanes[l] = _mm512_setzero_ps();
            row_values(lo[r], hi[r], a, rend, pos, vf, sc + (size_t)r * (size_t)n, lanes);
            _mm512_storeu_ps(out[r] + e0, lane_tree(lanes));
        }
    }
    /* long lists: chunks of VCH cells, so the converted values stay in L1 while every row takes
     * its share; each row's lane accumulators wait in LB between chunks */
    for (int E0 = 0; E0 < hd && chunked; E0 += EW) {
        const int nb = (hd - E0 < EW ? hd - E0 : EW) / 16; /* 16-element blocks of this pass */
        for (int i = 0; i < NQ * (EW / 16) * 16; i++)
            LB[i] = _mm512_setzero_ps();
        for (int c0 = a; c0 < b; c0 += VCH) {
            const int c1 = b - c0 < VCH ? b : c0 + VCH;
            for (int e0 = E0; e0 < E0 + nb * 16; e0 += 32) {
                const int ne = E0 + nb * 16 - e0 < 32 ? 16 : 32;
                convert_values(c0, c1, a, b, c0, e0, ne, hd, vr, vf, f16, EW == 32);
                for (int r = 0; r < NQ; r++) {
                    const int s0 = lo[r] > c0 ? lo[r] : c0, s1 = hi[r] < c1 ? hi[r] : c1;
                    __m512 *L = LB + ((size_t)r * (size_t)(EW / 16) + (size_t)(e0 - E0) / 16) * 16;
                    if (s0 >= s1)
                        continue;
                    if (ne == 32)
                        row_values_pair(s0, s1, c0, rend, pos, vf, sc + (size_t)r * (size_t)n, L, L + 16);
                    else
                        row_values(s0, s1, c0, rend, pos, vf, sc + (size_t)r * (size_t)n, L);
                }
            }
        }
        for (int r = 0; r < NQ; r++)
            for (int h = 0; h < nb; h++)
                _mm512_storeu_ps(out[r] + E0 + 16 * h, lane_tree(LB + ((size_t)r * (size_t)(EW / 16) + (size_t)h) * 16));
    }
}

/* 32, 16, 8, 4, 2 or 1 rows per pass (a pass converts each key and value row once) */
#define ROWS_SWITCH(F16)                                                                                               \
    for (int r0 = 0; r0 < nq;) {                                                                                       \
        const int m = nq - r0 >= 32 ? 32 : nq - r0 >= 16 ? 16 : nq - r0 >= 8 ? 8 : nq - r0 >= 4 ? 4 : nq - r0 >= 2 ? 2 : 1; \
        switch (m) {                                                                                                   \
        case 32: rows(32, hd, n, q + r0, lo + r0, hi + r0, kr, vr, pos, work, out + r0, F16); break;                   \
        case 16: rows(16, hd, n, q + r0, lo + r0, hi + r0, kr, vr, pos, work, out + r0, F16); break;                   \
        case 8: rows(8, hd, n, q + r0, lo + r0, hi + r0, kr, vr, pos, work, out + r0, F16); break;                     \
        case 4: rows(4, hd, n, q + r0, lo + r0, hi + r0, kr, vr, pos, work, out + r0, F16); break;                     \
        case 2: rows(2, hd, n, q + r0, lo + r0, hi + r0, kr, vr, pos, work, out + r0, F16); break;                     \
        default: rows(1, hd, n, q + r0, lo + r0, hi + r0, kr, vr, pos, work, out + r0, F16); break;                    \
        }                                                                                                              \
        r0 += m;                                                                                                       \
    }

void x86_avx512_attn_rows_f16(int hd, int nq, int n, const float *const *q, const int *lo, const int *hi,
                              const void *const *kr, const void *const *vr, const int32_t *pos, float *work,
                              float *const *out)
{
    ROWS_SWITCH(1)
}

void x86_avx512_attn_rows_f32(int hd, int nq, int n, const float *const *q, const int *lo, const int *hi,
                              const void *const *kr, const void *const *vr, const int32_t *pos, float *work,
                              float *const *out)
{
    ROWS_SWITCH(0)
}
