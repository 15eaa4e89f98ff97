/* gemv-avx512.c - AVX-512 + VNNI matrix-vector kernels for single-token steps (decoding): groups
 * of 4 weight rows against one activation row, y[r] = dot(W row r, a). Every weight byte is read
 * once per token, so these loops are what generation speed is made of.
 *
 * Exactness: the integer sums are exact and the float combination follows the summation-order
 * contract of ops/kernels.h operation by operation (Q4_K per sub-block pair, Q5_K / Q6_K / Q8_0
 * in 8 lanes of 4 elements, Q4_0 per block), so every result equals the reference vec_dot bit
 * for bit (and thus the batch GEMM tiles: a prompt gives the same logits whether it is evaluated
 * in one batch or token by token). What makes them
makes them faster than a row loop over vec_dot:
 *   - 4 rows per pass share the activation loads and shuffles;
 *   - the per-block horizontal sums of the 4 rows are done together by one transposing reduction
 *     (red4: 4 vectors -> one vector of 4-row sums), and the float work per block runs on the 4
 *     rows at once in one 128-bit vector;
 *   - the 6-bit k-quant scales are spread with a broadcast and in-lane byte shuffles;
 *   - the group after the current one is prefetched linearly (4 rows read in parallel are 4 streams,
 *     which the hardware prefetchers follow poorly).
 * The last nr % 4 rows run as a group whose missing rows repeat the last row (results dropped).
 * Compiled with the AVX-512 options (by file name); only called when the CPU has AVX-512
 * F/BW/VL + VNNI. Block layouts: see kernels-avx2.c. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#elif defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif
#include "ops/arch/x86/arch.h"
#include "ops/arch/x86/x86-common.h"

#define GV_INLINE static inline __attribute__((always_inline))
/* bytes past the next row group at which prefetching runs (measured: 1-4 KB all help) */
#define GV_PREFETCH_AHEAD 2048

/* pshufb control: every int16 lane of a 128-bit lane takes byte b, zero-extended */
#define SH16(b) ((long long)(0x8000800080008000ull | (0x0001000100010001ull * (unsigned long long)(b))))

GV_INLINE __m512i lanes4(long long b0, long long b1, long long b2, long long b3)
{
    return _mm512_set_epi64(b3, b3, b2, b2, b1, b1, b0, b0);
}

/* rows of a group: pointers to the 4 rows (missing rows repeat the last one) */
typedef struct gv_rows {
    const uint8_t *p[4];
} gv_rows;

GV_INLINE gv_rows gv_group(const uint8_t *w, size_t ws, int nr)
{
    gv_rows g;
    for (int r = 0; r < 4; r++)
        g.p[r] = w + (size_t)(r < nr ? r : nr - 1) * ws;
    return g;
}

/* Prefetch a slice of the next group (group bytes after w) at block step b of nb. */
GV_INLINE void gv_prefetch(const uint8_t *w, size_t group, int nb, int b)
{
    const char *base = (const char *)w + group + GV_PREFETCH_AHEAD;
    const size_t per = (group + (size_t)nb - 1) / (size_t)nb;
    for (size_t o = (size_t)b * per; o < (size_t)(b + 1) * per; o += 64)
        _mm_prefetch(base + o, _MM_HINT_T0);
}

/* Transposing reduction: 128-bit lane l of the result holds, in element r, the sum of the 4
 * int32 in lane l of v[r]. */
GV_INLINE __m512i red4(__m512i v0, __m512i v1, __m512i v2, __m512i v3)
{
    const __m512i t01 = _mm512_add_epi32(_mm512_unpacklo_epi32(v0, v1), _mm512_unpackhi_epi32(v0, v1));
    const __m512i t23 = _mm512_add_epi32(_mm512_unpacklo_epi32(v2, v3), _mm512_unpackhi_epi32(v2, v3));
    return _mm512_add_epi32(_mm512_unpacklo_epi64(t01, t23), _mm512_unpackhi_epi64(t01, t23));
}

GV_INLINE __m256i red4_256(__m256i v0, __m256i v1, __m256i v2, __m256i v3)
{
    const __m256i t01 = _mm256_add_epi32(_mm256_unpacklo_epi32(v0, v1), _mm256_unpackhi_epi32(v0, v1));
    const __m256i t23 = _mm256_add_epi32(_mm256_unpacklo_epi32(v2, v3), _mm256_unpackhi_epi32(v2, v3));
    return _mm256_add_epi32(_mm256_unpacklo_epi64(t01, t23), _mm256_unpackhi_epi64(t01, t23));
}

/* element r = total of all 16 int32 of v[r] */
GV_INLINE __m128i sum4(__m512i v0, __m512i v1, __m512i v2, __m512i v3)
{
    const __m512i t = red4(v0, v1, v2, v3);
    const __m256i h = _mm256_add_epi32(_mm512_castsi512_si256(t), _mm512_extracti64x4_epi64(t, 1));
    return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

GV_INLINE __m128i sum4_256(__m256i v0, __m256i v1, __m256i v2, __m256i v3)
{
    const __m256i t = red4_256(v0, v1, v2, v3);
    return _mm_add_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
}

GV_INLINE __m128i ld4_u32(const gv_rows *g, size_t off)
{
    uint32_t v[4];
    for (int r = 0; r < 4; r++)
        memcpy(&v[r], g->p[r] + off, 4);
    return _mm_set_epi32((int)v[3], (int)v[2], (int)v[1], (int)v[0]);
}

GV_INLINE void gv_store(float *y, int nr, __m128 acc)
{
    float t[4];
    _mm_storeu_ps(t, acc);
    for (int r = 0; r < nr; r++)
        y[r] = t[r];
}

/* ---- k-quants against Q8_K: d (f32), qs[256], bsums[16] (292 bytes) ---- */

typedef struct q8k_act {
    __m512i y[4]; /* Q4_K / Q5_K: sub-blocks paired as the weights (see below); Q6_K: in order */
    __m256i bs;   /* the 16 int16 bsums */
    float d;
} q8k_act;

/* Q4_K / Q5_K: a 64-byte load of qs holds chunks c, c+1 (32 bytes each), whose low nibbles are
 * sub-blocks 2c and 2c+2 and high nibbles 2c+1 and 2c+3: activations regrouped to match. */
GV_INLINE void q8k_load_pairs(const uint8_t *y, q8k_act *a)
{
    const __m512i Y0 = _mm512_loadu_si512((const void *)(y + 4)), Y1 = _mm512_loadu_si512((const void *)(y + 68));
    const __m512i Y2 = _mm512_loadu_si512((const void *)(y + 132)), Y3 = _mm512_loadu_si512((const void *)(y + 196));
    a->y[0] = _mm512_shuffle_i64x2(Y0, Y1, 0x44);
    a->y[1] = _mm512_shuffle_i64x2(Y0, Y1, 0xee);
    a->y[2] = _mm512_shuffle_i64x2(Y2, Y3, 0x44);
    a->y[3] = _mm512_shuffle_i64x2(Y2, Y3, 0xee);
    a->bs = _mm256_loadu_si256((const __m256i *)(y + 260));
    a->d = x86_rdf32(y);
}

GV_INLINE void q8k_load_plain(const uint8_t *y, q8k_act *a)
{
    for (int k = 0; k < 4; k++)
        a->y[k] = _mm512_loadu_si512((const void *)(y + 4 + 64 * k));
    a->bs = _mm256_loadu_si256((const __m256i *)(y + 260));
    a->d = x86_rdf32(y);
}

/* The 6-bit scales and mins of a Q4_K / Q5_K block (12 bytes at s12): int16 scale vectors for the
 * four sub-block-pair products, and int16 pairs m_j m_j against the 16 bsums. */
typedef struct k4_scales {
    __m512i s[4]; /* sc(0|2), sc(1|3), sc(4|6), sc(5|7), each over its 16 int16 lanes */
    __m256i m;
} k4_scales;

GV_INLINE void k4_unpack(const uint8_t *s12, k4_scales *k)
{
    uint32_t u0, u1, u2;
    memcpy(&u0, s12, 4);
    memcpy(&u1, s12 + 4, 4);
    memcpy(&u2, s12 + 8, 4);
    const uint64_t sc = (uint64_t)(u0 & 0x3f3f3f3fu) |
                        (uint64_t)((u2 & 0x0f0f0f0fu) | (((u0 >> 6) & 0x03030303u) << 4)) << 32;
    const uint64_t mn = (uint64_t)(u1 & 0x3f3f3f3fu) |
                        (uint64_t)(((u2 >> 4) & 0x0f0f0f0fu) | (((u1 >> 6) & 0x03030303u) << 4)) << 32;
    const __m512i scb = _mm512_set1_epi64((long long)sc);
    k->s[0] = _mm512_shuffle_epi8(scb, lanes4(SH16(0), SH16(0), SH16(2), SH16(2)));
    k->s[1] = _mm512_shuffle_epi8(scb, lanes4(SH16(1), SH16(1), SH16(3), SH16(3)));
    k->s[2] = _mm512_shuffle_epi8(scb, lanes4(SH16(4), SH16(4), SH16(6), SH16(6)));
    k->s[3] = _mm512_shuffle_epi8(scb, lanes4(SH16(5), SH16(5), SH16(7), SH16(7)));
    /* lane 0: j = 0..3, lane 1: j = 4..7 */
    k->m = _mm256_shuffle_epi8(_mm256_set1_epi64x((long long)mn),
                               _mm256_set_epi64x((long long)0x8007800780068006ull, (long long)0x8005800580048004ull,
                                                 (long long)0x8003800380028002ull, (long long)0x8001800180008000ull));
}

/* sc * q * y for 4-bit (Q4_K) or 5-bit (Q5_K) codes v[0..3] (paired): lo gets the products of
 * v[0], v[1] (sub-blocks 0,1 | 2,3), hi those of v[2], v[3] (4,5 | 6,7); int32 lane k of each
 * 256-bit half holds elements 4k..4k+3 of its sub-blocks. */
GV_INLINE void k4_isum2(const __m512i v[4], const k4_scales *k, const q8k_act *a, __m512i *lo, __m512i *hi)
{
    __m512i is = _mm512_dpwssd_epi32(_mm512_setzero_si512(), _mm512_maddubs_epi16(v[0], a->y[0]), k->s[0]);
    *lo = _mm512_dpwssd_epi32(is, _mm512_maddubs_epi16(v[1], a->y[1]), k->s[1]);
    is = _mm512_dpwssd_epi32(_mm512_setzero_si512(), _mm512_maddubs_epi16(v[2], a->y[2]), k->s[2]);
    *hi = _mm512_dpwssd_epi32(is, _mm512_maddubs_epi16(v[3], a->y[3]), k->s[3]);
}

GV_INLINE void q4k_codes(const uint8_t *x, __m512i v[4])
{
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    const __m512i q01 = _mm512_loadu_si512((const void *)(x + 16)), q23 = _mm512_loadu_si512((const void *)(x + 80));
    v[0] = _mm512_and_si512(q01, m4);
    v[1] = _mm512_and_si512(_mm512_srli_epi16(q01, 4), m4);
    v[2] = _mm512_and_si512(q23, m4);
    v[3] = _mm512_and_si512(_mm512_srli_epi16(q23, 4), m4);
}

GV_INLINE __m512i bits2(unsigned long long lo, unsigned long long hi)
{
    return _mm512_set_epi64((long long)hi, (long long)hi, (long long)hi, (long long)hi, (long long)lo, (long long)lo,
                            (long long)lo, (long long)lo);
}

/* Q5_K: Q4_K's layout with qh[32] before qs; bit c of qh[l] adds 16 to value l of sub-block c */
GV_INLINE void q5k_codes(const uint8_t *x, __m512i v[4])
{
    const __m512i m4 = _mm512_set1_epi8(0x0f), b16 = _mm512_set1_epi8(16);
    const unsigned long long B = 0x0101010101010101ull;
    const __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(x + 16)));
    const __m512i q01 = _mm512_loadu_si512((const void *)(x + 48)), q23 = _mm512_loadu_si512((const void *)(x + 112));
    v[0] = _mm512_and_si512(q01, m4);
    v[1] = _mm512_and_si512(_mm512_srli_epi16(q01, 4), m4);
    v[2] = _mm512_and_si512(q23, m4);
    v[3] = _mm512_and_si512(_mm512_srli_epi16(q23, 4), m4);
    v[0] = _mm512_mask_add_epi8(v[0], _mm512_test_epi8_mask(qh, bits2(B * 1, B * 4)), v[0], b16);
    v[1] = _mm512_mask_add_epi8(v[1], _mm512_test_epi8_mask(qh, bits2(B * 2, B * 8)), v[1], b16);
    v[2] = _mm512_mask_add_epi8(v[2], _mm512_test_epi8_mask(qh, bits2(B * 16, B * 64)), v[2], b16);
    v[3] = _mm512_mask_add_epi8(v[3], _mm512_test_epi8_mask(qh, bits2(B * 32, B * 128)), v[3], b16);
}

/* d*yd and dmin*yd of the 4 rows from the fp16 pairs (d, dmin) */
GV_INLINE void k4_scale4(__m128i dd, float yd, __m128 *d, __m128 *dmin)
{
    const __m256 f = _mm256_permutevar8x32_ps(_mm256_cvtph_ps(dd), _mm256_set_epi32(7, 5, 3, 1, 6, 4, 2, 0));
    const __m256 s = _mm256_mul_ps(f, _mm256_set1_ps(yd));
    *d = _mm256_castps256_ps128(s);
    *dmin = _mm256_extractf128_ps(s, 1);
}

/* 4 rows of Q4_K, order "pairs": per sub-block pair p, acc = fma(isum_p, d*yd, acc) and
 * accm = fma(msum_p, dmin*yd, accm) for the 4 rows at once */
GV_INLINE void q4k_group(int nb, const uint8_t *w, size_t ws, int nr, const uint8_t *y, float *out)
{
    const gv_rows g = gv_group(w, ws, nr);
    __m128 acc = _mm_setzero_ps(), accm = _mm_setzero_ps();
    for (int b = 0; b < nb; b++) {
        q8k_act a;
        q8k_load_pairs(y + (size_t)b * 292, &a);
        gv_prefetch(w, (size_t)nr * ws, nb, b);
        __m512i lo[4], hi[4];
        __m256i ms[4];
        for (int r = 0; r < 4; r++) {
            const uint8_t *x = g.p[r] + (size_t)b * 144;
            k4_scales k;
            k4_unpack(x + 4, &k);
            __m512i v[4];
            q4k_codes(x, v);
            k4_isum2(v, &k, &a, &lo[r], &hi[r]);
            ms[r] = _mm256_madd_epi16(a.bs, k.m); /* lane j: m_j * (bsums[2j] + bsums[2j+1]) */
        }
        /* 128-bit lane l of tl / th: the 4 rows' sums of that lane; pair p = lanes 2(p&1), 2(p&1)+1 */
        const __m512i tl = red4(lo[0], lo[1], lo[2], lo[3]), th = red4(hi[0], hi[1], hi[2], hi[3]);
        const __m512i sl = _mm512_add_epi32(tl, _mm512_shuffle_i32x4(tl, tl, 0xb1));
        const __m512i sh = _mm512_add_epi32(th, _mm512_shuffle_i32x4(th, th, 0xb1));
        __m128i is[4];
        is[0] = _mm512_castsi512_si128(sl);
        is[1] = _mm512_extracti32x4_epi32(sl, 2);
        is[2] = _mm512_castsi512_si128(sh);
        is[3] = _mm512_extracti32x4_epi32(sh, 2);
        /* mins: hadd gives [r0: m01 m23 | r1: ...]; pairs 0..3 of row r at (lane 0: 0,1; lane 1: 0,1) */
        const __m256 h01 = _mm256_castsi256_ps(_mm256_hadd_epi32(ms[0], ms[1]));
        const __m256 h23 = _mm256_castsi256_ps(_mm256_hadd_epi32(ms[2], ms[3]));
        const __m256 mA = _mm256_shuffle_ps(h01, h23, 0x88); /* lane 0: pair 0 of rows 0..3; lane 1: pair 2 */
        const __m256 mB = _mm256_shuffle_ps(h01, h23, 0xdd); /* pair 1 | pair 3 */
        __m128i msm[4];
        msm[0] = _mm256_castsi256_si128(_mm256_castps_si256(mA));
        msm[1] = _mm256_castsi256_si128(_mm256_castps_si256(mB));
        msm[2] = _mm256_extracti128_si256(_mm256_castps_si256(mA), 1);
        msm[3] = _mm256_extracti128_si256(_mm256_castps_si256(mB), 1);
        __m128 d, dmin;
        k4_scale4(ld4_u32(&g, (size_t)b * 144), a.d, &d, &dmin);
        for (int p = 0; p < 4; p++) {
            acc = _mm_fmadd_ps(_mm_cvtepi32_ps(is[p]), d, acc);
            accm = _mm_fmadd_ps(_mm_cvtepi32_ps(msm[p]), dmin, accm);
        }
    }
    gv_store(out, nr, _mm_sub_ps(acc, accm));
}

/* lanes8 accumulation of 4 rows: L[r] (8 int32 lanes per row) fused with d[r] into acc01 (rows
 * 0,1) and acc23 (rows 2,3), 8 float lanes per row */
GV_INLINE void lanes8_fma4(const __m256i L[4], __m128 d, __m512 *acc01, __m512 *acc23)
{
    const __m512i l01 = _mm512_inserti64x4(_mm512_castsi256_si512(L[0]), L[1], 1);
    const __m512i l23 = _mm512_inserti64x4(_mm512_castsi256_si512(L[2]), L[3], 1);
    const __m512 d4 = _mm512_castps128_ps512(d);
    const __m512 d01 = _mm512_permutexvar_ps(_mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0), d4);
    const __m512 d23 = _mm512_permutexvar_ps(_mm512_set_epi32(3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2), d4);
    *acc01 = _mm512_fmadd_ps(d01, _mm512_cvtepi32_ps(l01), *acc01);
    *acc23 = _mm512_fmadd_ps(d23, _mm512_cvtepi32_ps(l23), *acc23);
}

/* hsum8 of each row's 8 lanes: ((a0+a4) + (a2+a6)) + ((a1+a5) + (a3+a7)), 4 rows at once */
GV_INLINE __m128 lanes8_hsum4(__m512 acc01, __m512 acc23)
{
    /* per row: r_i = a_i + a_(i+4), i = 0..3 */
    const __m512 s01 = _mm512_add_ps(acc01, _mm512_permutexvar_ps(_mm512_set_epi32(11, 10, 9, 8, 15, 14, 13, 12, 3, 2, 1, 0, 7, 6, 5, 4), acc01));
    const __m512 s23 = _mm512_add_ps(acc23, _mm512_permutexvar_ps(_mm512_set_epi32(11, 10, 9, 8, 15, 14, 13, 12, 3, 2, 1, 0, 7, 6, 5, 4), acc23));
    /* rows' r0..r3 at elements 0..3 (row 0), 8..11 (row 1) of s01, same for s23: gather [r0 r1 r2 r3] x 4 rows */
    const __m512 q = _mm512_permutex2var_ps(s01, _mm512_set_epi32(27, 26, 25, 24, 19, 18, 17, 16, 11, 10, 9, 8, 3, 2, 1, 0), s23);
    /* q: 128-bit lane r = row r's (r0, r1, r2, r3); (r0 + r2) + (r1 + r3) */
    const __m512 t = _mm512_add_ps(q, _mm512_shuffle_ps(q, q, 0x4e)); /* (r0+r2, r1+r3, ..) */
    const __m512 u = _mm512_add_ps(t, _mm512_shuffle_ps(t, t, 0xb1)); /* element 0 of lane r */
    const __m512 v = _mm512_permutexvar_ps(_mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 12, 8, 4, 0), u);
    return _mm512_castps512_ps128(v);
}

/* 4 rows of Q5_K, order "lanes8" (int lane k of a row = the two 256-bit halves' lane k added;
 * mins in a per-row running sum) */
GV_INLINE void q5k_group(int nb, const uint8_t *w, size_t ws, int nr, const uint8_t *y, float *out)
{
    const gv_rows g = gv_group(w, ws, nr);
    __m512 acc01 = _mm512_setzero_ps(), acc23 = _mm512_setzero_ps();
    __m128 summs = _mm_setzero_ps();
    for (int b = 0; b < nb; b++) {
        q8k_act a;
        q8k_load_pairs(y + (size_t)b * 292, &a);
        gv_prefetch(w, (size_t)nr * ws, nb, b);
        __m256i L[4], ms[4];
        for (int r = 0; r < 4; r++) {
            const uint8_t *x = g.p[r] + (size_t)b * 176;
            k4_scales k;
            k4_unpack(x + 4, &k);
            __m512i v[4], lo, hi;
            q5k_codes(x, v);
            k4_isum2(v, &k, &a, &lo, &hi);
            const __m512i t = _mm512_add_epi32(lo, hi);
            L[r] = _mm256_add_epi32(_mm512_castsi512_si256(t), _mm512_extracti64x4_epi64(t, 1));
            ms[r] = _mm256_madd_epi16(a.bs, k.m);
        }
        __m128 d, dmin;
        k4_scale4(ld4_u32(&g, (size_t)b * 176), a.d, &d, &dmin);
        /* the reference's d = yd * d_x and dmin = -yd * dmin_x: the same products */
        lanes8_fma4(L, d, &acc01, &acc23);
        summs = _mm_fmadd_ps(_mm_xor_ps(dmin, _mm_set1_ps(-0.0f)), _mm_cvtepi32_ps(sum4_256(ms[0], ms[1], ms[2], ms[3])), summs);
    }
    gv_store(out, nr, _mm_add_ps(lanes8_hsum4(acc01, acc23), summs));
}

void x86_avx512_gemv_q4_K(int n, int nr, const void *w, size_t w_stride, const void *a, float *y)
{
    const uint8_t *W = w;
    for (int r = 0; r < nr; r += 4)
        q4k_group(n / 256, W + (size_t)r * w_stride, w_stride, nr - r < 4 ? nr - r : 4, a, y + r);
}

void x86_avx512_gemv_q5_K(int n, int nr, const void *w, size_t w_stride, const void *a, float *y)
{
    const uint8_t *W = w;
    for (int r = 0; r < nr; r += 4)
        q5k_group(n / 256, W + (size_t)r * w_stride, w_stride, nr - r < 4 ? nr - r : 4, a, y + r);
}

/* ---- Q6_K: ql[128], qh[64], scales[16] (int8), d (fp16) (210 bytes). Half h (128 values) takes
 * 64 bytes of ql and 32 of qh; the low nibbles of ql are values 0..63 of the half, the high ones
 * 64..127 (activations in their own order). The codes stay unsigned (0..63) and the offset -32 is
 * folded in through the bsums: sum(sc * (q-32) * y) = sum(sc * q * y) - 32 * sum(sc * bsum). ---- */

GV_INLINE __m512i q6k_isum(const uint8_t *x, const q8k_act *a)
{
    const __m512i m4 = _mm512_set1_epi8(0x0f), m3 = _mm512_set1_epi8(0x30);
    const __m256i s16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(x + 192)));
    const __m512i s512 = _mm512_zextsi256_si512(s16);
    __m512i is = _mm512_dpwssd_epi32(_mm512_setzero_si512(), _mm512_zextsi256_si512(a->bs),
                                     _mm512_zextsi256_si512(_mm256_sub_epi16(_mm256_setzero_si256(), _mm256_slli_epi16(s16, 5))));
    /* int16 lane i of the product of values 64k..64k+63 takes scale 4k + i/8 */
    const __m512i i0 = _mm512_set_epi64(0x0003000300030003ll, 0x0003000300030003ll, 0x0002000200020002ll,
                                        0x0002000200020002ll, 0x0001000100010001ll, 0x0001000100010001ll, 0, 0);
    for (int h = 0; h < 2; h++) {
        const __m512i ql = _mm512_loadu_si512((const void *)(x + 64 * h));
        const __m256i qh = _mm256_loadu_si256((const __m256i *)(x + 128 + 32 * h));
        /* hA = qh (values 0..31 | 64..95) and qh >> 2 (32..63 | 96..127): bits 0-1 are the high
         * bits of the low-nibble values, bits 4-5 those of the high-nibble values */
        const __m512i hA = _mm512_inserti64x4(_mm512_castsi256_si512(qh), _mm256_srli_epi16(qh, 2), 1);
        const __m512i qa = _mm512_ternarylogic_epi32(_mm512_and_si512(ql, m4), _mm512_slli_epi16(hA, 4), m3, 0xf8);
        const __m512i qb = _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4), hA, m3, 0xf8);
        const __m512i ia = _mm512_add_epi16(i0, _mm512_set1_epi16((short)(8 * h)));
        const __m512i ib = _mm512_add_epi16(i0, _mm512_set1_epi16((short)(8 * h + 4)));
        is = _mm512_dpwssd_epi32(is, _mm512_maddubs_epi16(qa, a->y[2 * h]), _mm512_permutexvar_epi16(ia, s512));
        is = _mm512_dpwssd_epi32(is, _mm512_maddubs_epi16(qb, a->y[2 * h + 1]), _mm512_permutexvar_epi16(ib, s512));
    }
    return is;
}

/* 4 rows of Q6_K, order "lanes8": int lane k of a row = lanes k and k + 8 of q6k_isum (the
 * offset sits in lanes 0..7, as the contract assigns it) */
GV_INLINE void q6k_group(int nb, const uint8_t *w, size_t ws, int nr, const uint8_t *y, float *out)
{
    const gv_rows g = gv_group(w, ws, nr);
    __m512 acc01 = _mm512_setzero_ps(), acc23 = _mm512_setzero_ps();
    for (int b = 0; b < nb; b++) {
        q8k_act a;
        q8k_load_plain(y + (size_t)b * 292, &a);
        gv_prefetch(w, (size_t)nr * ws, nb, b);
        __m256i L[4];
        for (int r = 0; r < 4; r++) {
            const __m512i is = q6k_isum(g.p[r] + (size_t)b * 210, &a);
            L[r] = _mm256_add_epi32(_mm512_castsi512_si256(is), _mm512_extracti64x4_epi64(is, 1));
        }
        /* the fp16 d of the 4 rows: the high halves of the words at offset 206; d = yd * d_x */
        const __m128i dw = _mm_srli_epi32(ld4_u32(&g, (size_t)b * 210 + 206), 16);
        const __m128 d = _mm_mul_ps(_mm_cvtph_ps(_mm_packus_epi32(dw, dw)), _mm_set1_ps(a.d));
        lanes8_fma4(L, d, &acc01, &acc23);
    }
    gv_store(out, nr, lanes8_hsum4(acc01, acc23));
}

void x86_avx512_gemv_q6_K(int n, int nr, const void *w, size_t w_stride, const void *a, float *y)
{
    const uint8_t *W = w;
    for (int r = 0; r < nr; r += 4)
        q6k_group(n / 256, W + (size_t)r * w_stride, w_stride, nr - r < 4 ? nr - r : 4, a, y + r);
}

/* ---- Q8_0 (d, qs[32]: 34 bytes) and Q4_0 (d, qs[16]: 18 bytes) against Q8_0 activations.
 * Q4_0 (seq): acc = fma((float)sumi, dx * dy, acc) per block; Q8_0 (lanes8): 8 float lanes of 4
 * elements each. The int8 products use VNNI with the activations made unsigned:
 * (y + 128) . x - 128 * sum(x) = y . x, exact for every byte. ---- */

/* 64 bytes made of two 32-byte pieces */
GV_INLINE __m512i ld2x32(const uint8_t *a, const uint8_t *b)
{
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)a)),
                              _mm256_loadu_si256((const __m256i *)b), 1);
}

/* the fp16 words at offsets o0 and o1 of the 4 rows, as floats: [o0: rows 0..3 | o1: rows 0..3]
 * (built in registers: a store and reload of the halves would stall on forwarding) */
GV_INLINE __m256 ld8_h(const gv_rows *g, size_t o0, size_t o1)
{
    const __m128i lo = _mm_set1_epi32(0xffff);
    return _mm256_cvtph_ps(_mm_packus_epi32(_mm_and_si128(ld4_u32(g, o0), lo), _mm_and_si128(ld4_u32(g, o1), lo)));
}

/* acc[r] = fma((float)sumi[r], dx[r] * dy, acc[r]), one block (Q4_0) */
GV_INLINE __m128 b32_combine(__m128 acc, __m128i sumi, __m128 dx, float dy)
{
    return _mm_fmadd_ps(_mm_cvtepi32_ps(sumi), _mm_mul_ps(dx, _mm_set1_ps(dy)), acc);
}

/* exact int sum of one Q4_0 block per row, portable (the blocks past the vector loop) */
static int sumi_q4_0(const uint8_t *x, const uint8_t *y)
{
    int s = 0;
    for (int j = 0; j < 16; j++)
        s += ((x[2 + j] & 15) - 8) * (int8_t)y[2 + j] + ((x[2 + j] >> 4) - 8) * (int8_t)y[18 + j];
    return s;
}

GV_INLINE __m128 tail_blocks(int b0, int nb, const gv_rows *g, const uint8_t *y, __m128 acc)
{
    const size_t bsz = 18;
    for (int b = b0; b < nb; b++) {
        int s[4];
        for (int r = 0; r < 4; r++)
            s[r] = sumi_q4_0(g->p[r] + (size_t)b * bsz, y + (size_t)b * 34);
        acc = b32_combine(acc, _mm_set_epi32(s[3], s[2], s[1], s[0]),
                          _mm256_castps256_ps128(ld8_h(g, (size_t)b * bsz, (size_t)b * bsz)), x86_h2f(x86_rd16(y + (size_t)b * 34)));
    }
    return acc;
}

/* Q8_0: two blocks per 64-byte vector and row; each block's 8 int32 lanes (4 elements each) of
 * rows 0,1 and rows 2,3 are fused into 8-lane float accumulators, block by block. */
GV_INLINE void q80_group(int nb, const uint8_t *w, size_t ws, int nr, const uint8_t *y, float *out)
{
    const gv_rows g = gv_group(w, ws, nr);
    const __m512i c128 = _mm512_set1_epi8((char)0x80);
    __m512 acc01 = _mm512_setzero_ps(), acc23 = _mm512_setzero_ps();
    int b = 0;
    for (; b + 2 <= nb; b += 2) {
        const uint8_t *yb = y + (size_t)b * 34;
        const __m512i yu = _mm512_xor_si512(ld2x32(yb + 2, yb + 36), c128);
        gv_prefetch(w, (size_t)nr * ws, nb / 2, b / 2);
        __m512i v[4];
        for (int r = 0; r < 4; r++) {
            const uint8_t *x = g.p[r] + (size_t)b * 34;
            const __m512i x0 = ld2x32(x + 2, x + 36);
            v[r] = _mm512_sub_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), yu, x0),
                                    _mm512_dpbusd_epi32(_mm512_setzero_si512(), c128, x0));
        }
        const __m256 dx = ld8_h(&g, (size_t)b * 34, (size_t)b * 34 + 34); /* block b rows 0..3 | b + 1 */
        for (int k = 0; k < 2; k++) {
            __m256i L[4];
            for (int r = 0; r < 4; r++)
                L[r] = k ? _mm512_extracti64x4_epi64(v[r], 1) : _mm512_castsi512_si256(v[r]);
            const __m128 d = _mm_mul_ps(k ? _mm256_extractf128_ps(dx, 1) : _mm256_castps256_ps128(dx),
                                        _mm_set1_ps(x86_h2f(x86_rd16(yb + 34 * k))));
            lanes8_fma4(L, d, &acc01, &acc23);
        }
    }
    for (; b < nb; b++) {
        const uint8_t *yb = y + (size_t)b * 34;
        const __m256i yu = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(yb + 2)), _mm256_set1_epi8((char)0x80));
        __m256i L[4];
        for (int r = 0; r < 4; r++) {
            const __m256i x0 = _mm256_loadu_si256((const __m256i *)(g.p[r] + (size_t)b * 34 + 2));
            L[r] = _mm256_sub_epi32(_mm256_dpbusd_epi32(_mm256_setzero_si256(), yu, x0),
                                    _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8((char)0x80), x0));
        }
        const __m128 d = _mm_mul_ps(_mm256_castps256_ps128(ld8_h(&g, (size_t)b * 34, (size_t)b * 34)),
                                    _mm_set1_ps(x86_h2f(x86_rd16(yb))));
        lanes8_fma4(L, d, &acc01, &acc23);
    }
    gv_store(out, nr, lanes8_hsum4(acc01, acc23));
}

void x86_avx512_gemv_q8_0(int n, int nr, const void *w, size_t w_stride, const void *a, float *y)
{
    const uint8_t *W = w;
    for (int r = 0; r < nr; r += 4)
        q80_group(n / 32, W + (size_t)r * w_stride, w_stride, nr - r < 4 ? nr - r : 4, a, y + r);
}

/* 16 bytes at each of 4 addresses, one per 128-bit lane */
GV_INLINE __m512i ld4x16(const uint8_t *p, size_t stride)
{
    __m512i v = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)p));
    v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(p + stride)), 1);
    v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(p + 2 * stride)), 2);
    return _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(p + 3 * stride)), 3);
}

/* Q4_0: four blocks per vector, one per 128-bit lane (low nibbles: values 0..15, high: 16..31);
 * codes unsigned 0..15, the offset -8 subtracted as 8 * sum(y) per block */
GV_INLINE void q40_group(int nb, const uint8_t *w, size_t ws, int nr, const uint8_t *y, float *out)
{
    const gv_rows g = gv_group(w, ws, nr);
    const __m512i m4 = _mm512_set1_epi8(0x0f), c8 = _mm512_set1_epi8(8);
    __m128 acc = _mm_setzero_ps();
    int b = 0;
    for (; b + 4 <= nb; b += 4) {
        const uint8_t *yb = y + (size_t)b * 34;
        const __m512i Y01 = ld2x32(yb + 2, yb + 36), Y23 = ld2x32(yb + 70, yb + 104);
        const __m512i yl = _mm512_shuffle_i64x2(Y01, Y23, 0x88); /* values 0..15 of blocks 0..3 */
        const __m512i yh = _mm512_shuffle_i64x2(Y01, Y23, 0xdd); /* values 16..31 */
        const __m512i ys = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), c8, yl), c8, yh);
        gv_prefetch(w, (size_t)nr * ws, nb / 4, b / 4);
        __m512i v[4];
        for (int r = 0; r < 4; r++) {
            const __m512i q = ld4x16(g.p[r] + (size_t)b * 18 + 2, 18);
            v[r] = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_and_si512(q, m4), yl),
                                       _mm512_and_si512(_mm512_srli_epi16(q, 4), m4), yh);
        }
        /* lane l: the 4 rows' sums of block b + l, minus 8 * sum(y) of that block */
        const __m512i s = _mm512_sub_epi32(red4(v[0], v[1], v[2], v[3]), red4(ys, ys, ys, ys));
        const __m256 dx01 = ld8_h(&g, (size_t)b * 18, (size_t)b * 18 + 18);
        const __m256 dx23 = ld8_h(&g, (size_t)b * 18 + 36, (size_t)b * 18 + 54);
        acc = b32_combine(acc, _mm512_castsi512_si128(s), _mm256_castps256_ps128(dx01), x86_h2f(x86_rd16(yb)));
        acc = b32_combine(acc, _mm512_extracti32x4_epi32(s, 1), _mm256_extractf128_ps(dx01, 1), x86_h2f(x86_rd16(yb + 34)));
        acc = b32_combine(acc, _mm512_extracti32x4_epi32(s, 2), _mm256_castps256_ps128(dx23), x86_h2f(x86_rd16(yb + 68)));
        acc = b32_combine(acc, _mm512_extracti32x4_epi32(s, 3), _mm256_extractf128_ps(dx23, 1), x86_h2f(x86_rd16(yb + 102)));
    }
    acc = tail_blocks(b, nb, &g, y, acc);
    gv_store(out, nr, acc);
}

void x86_avx512_gemv_q4_0(int n, int nr, const void *w, size_t w_stride, const void *a, float *y)
{
    const uint8_t *W = w;
    for (int r = 0; r < nr; r += 4)
        q40_group(n / 32, W + (size_t)r * w_stride, w_stride, nr - r < 4 ? nr - r : 4, a, y + r);
}
