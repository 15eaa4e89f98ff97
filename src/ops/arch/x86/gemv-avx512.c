/* gemv-avx512.c - AVX-512 + VNNI matrix-vector kernels for single-token steps (decoding): groups
 * of weight rows (8 for Q4_K and Q6_K, 4 for the others) against one activation row, y[r] =
 * dot(W row r, a). Every weight byte is read once per token, so these loops are what generation
 * speed is made of.
 *
 * Exactness: the integer sums are exact and the float combination follows the summation-order
 * contract of ops/kernels.h operation by operation (Q4_K per sub-block pair, Q5_K / Q6_K / Q8_0
 * in 8 lanes of 4 elements, Q4_0 per block), so every result equals the reference vec_dot bit
 * for bit (and thus the batch GEMM tiles: a prompt gives the same logits whether it is evaluated
 * in one batch or token by token). What makes them faster than a row loop over vec_dot:
 *   - the rows of a group share the activation loads and shuffles;
 *   - the per-block horizontal sums of 4 rows are done together by one transposing reduction
 *     (red4: 4 vectors -> one vector of 4-row sums), and the float work per block runs on the
 *     rows of the group at once, one row (or 8 lanes of a row) per float lane;
 *   - the group after the current one is prefetched linearly (rows read in parallel are as many
 *     streams, which the hardware prefetchers follow poorly).
 * The last rows of a matrix run as a group whose missing rows repeat the last row (results
 * dropped). Compiled with the AVX-512 options (by file name); only called when the CPU has
 * AVX-512 F/BW/VL + VNNI. Block layouts: see kernels-avx2.c. */
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

/* ---- Q4_K, 8 rows per pass. The codes go straight into vpdpbusd (unsigned nibbles times the int8
 * activations, 4 products per int32 lane; the high nibbles are taken in place, x16, and shifted
 * back after the reduction). The 6-bit scales are applied after the reduction instead of before:
 * a transposing reduction of 4 rows (red4, in-lane unpacks) leaves per 128-bit lane the 4 rows'
 * sums of 16 elements, small enough for int16, which vpmaddwd / vpdpwssd multiply by the scales
 * and add in sub-block pairs. The scales and mins of 4 rows are decoded at once from their
 * 16-byte block headers (one row per 128-bit lane) and spread to the lanes with vpermw. The float
 * part (the "pairs" order of ops/kernels.h: acc = fma(isum_p, d*yd, acc), accm = fma(msum_p,
 * dmin*yd, accm), p = 0..3) runs on the 8 rows at once, one row per float lane. ---- */

/* word index vectors (vpermw) of the Q4_K kernel */
typedef struct q4k_idx {
    __m512i s[4]; /* scale of (lane l, row r) for the 4 reduced vectors: sub-blocks (0|2) (1|3) (4|6) (5|7) */
    __m512i m;    /* int16 pairs (m_2p, m_2p+1) of (lane p, row r) */
} q4k_idx;

static const uint16_t q4k_idx_words[5][32] = {
/* scales: word 8r + j of the widened scales into the low word of int32 (lane l, row r) */
#define S1(j, r) 8 * (r) + (j), 0
#define SL(j) S1(j, 0), S1(j, 1), S1(j, 2), S1(j, 3)
    {SL(0), SL(0), SL(2), SL(2)},
    {SL(1), SL(1), SL(3), SL(3)},
    {SL(4), SL(4), SL(6), SL(6)},
    {SL(5), SL(5), SL(7), SL(7)},
/* mins: words 8r + 2p, 8r + 2p + 1 of the widened mins into int32 (lane p, row r) */
#define ML(p) 2 * (p), 2 * (p) + 1, 8 + 2 * (p), 9 + 2 * (p), 16 + 2 * (p), 17 + 2 * (p), 24 + 2 * (p), 25 + 2 * (p)
    {ML(0), ML(1), ML(2), ML(3)},
#undef ML
#undef SL
#undef S1
};

/* 4 rows at byte offset off: isum (lane p, element r) = sc_2p*S_2p + sc_2p+1*S_2p+1 of row r,
 * msum likewise with the mins and the activation block sums, hdr = the 4 block headers */
GV_INLINE void q4k_sub4(const uint8_t *const *p, size_t off, const __m512i y[4], __m512i bv, const q4k_idx *ix,
                        __m512i *isum, __m512i *msum, __m512i *hdr)
{
    const __m512i m4 = _mm512_set1_epi8(0x0f), z = _mm512_setzero_si512();
    __m512i q[4][2];
    for (int r = 0; r < 4; r++) {
        q[r][0] = _mm512_loadu_si512((const void *)(p[r] + off + 16));
        q[r][1] = _mm512_loadu_si512((const void *)(p[r] + off + 80));
    }
    /* int32 lane of row r: 4 products of one sub-block; q[r][h] holds sub-blocks 4h | 4h+2 in its
     * low nibbles and 4h+1 | 4h+3 in its high nibbles */
#define Q4K_LO(r, h) _mm512_dpbusd_epi32(z, _mm512_and_si512(q[r][h], m4), y[2 * (h)])
#define Q4K_HI(r, h) _mm512_dpbusd_epi32(z, _mm512_andnot_si512(m4, q[r][h]), y[2 * (h) + 1])
    const __m512i R0 = red4(Q4K_LO(0, 0), Q4K_LO(1, 0), Q4K_LO(2, 0), Q4K_LO(3, 0));
    const __m512i R1 = _mm512_srai_epi32(red4(Q4K_HI(0, 0), Q4K_HI(1, 0), Q4K_HI(2, 0), Q4K_HI(3, 0)), 4);
    const __m512i R2 = red4(Q4K_LO(0, 1), Q4K_LO(1, 1), Q4K_LO(2, 1), Q4K_LO(3, 1));
    const __m512i R3 = _mm512_srai_epi32(red4(Q4K_HI(0, 1), Q4K_HI(1, 1), Q4K_HI(2, 1), Q4K_HI(3, 1)), 4);
#undef Q4K_LO
#undef Q4K_HI
    /* headers, row r in lane r: d, dmin (fp16), scales[12] */
    __m512i H = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(p[0] + off)));
    H = _mm512_inserti32x4(H, _mm_loadu_si128((const __m128i *)(p[1] + off)), 1);
    H = _mm512_inserti32x4(H, _mm_loadu_si128((const __m128i *)(p[2] + off)), 2);
    H = _mm512_inserti32x4(H, _mm_loadu_si128((const __m128i *)(p[3] + off)), 3);
    *hdr = H;
    /* D, lane r: sc0..sc7, m0..m7 of row r (get_scale_min_k4): for j < 4 sc = s[j] & 63,
     * m = s[j+4] & 63; for j >= 4 sc = (s[j+4] & 15) | (s[j-4] >> 6) << 4, m = (s[j+4] >> 4) |
     * (s[j] >> 6) << 4, with s[i] = header byte 4 + i */
    const __m512i ctl_lo = _mm512_broadcast_i32x4(_mm_setr_epi8(4, 5, 6, 7, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15));
    const __m512i ctl_hi = _mm512_broadcast_i32x4(_mm_setr_epi8(-1, -1, -1, -1, 4, 5, 6, 7, -1, -1, -1, -1, 8, 9, 10, 11));
    const __m512i keep = _mm512_broadcast_i32x4(_mm_setr_epi8(63, 63, 63, 63, 15, 15, 15, 15, 63, 63, 63, 63, 15, 15, 15, 15));
    const __m512i A = _mm512_shuffle_epi8(H, ctl_lo);
    const __m512i lo = _mm512_mask_blend_epi8(0xf000f000f000f000ull, A, _mm512_srli_epi16(A, 4));
    const __m512i hi = _mm512_srli_epi16(_mm512_shuffle_epi8(H, ctl_hi), 2); /* bits 6-7 -> 4-5 */
    const __m512i D = _mm512_ternarylogic_epi32(_mm512_and_si512(lo, keep), hi, _mm512_set1_epi8(0x30), 0xf8);
    /* widened to int16, lane r: sc0..7 of row r (sc16), m0..7 (m16); the scales go into the low
     * words of int32 lanes (high words zero) and multiply the int16-sized sums by vpmaddwd */
    const __m512i sc16 = _mm512_unpacklo_epi8(D, _mm512_setzero_si512()), m16 = _mm512_unpackhi_epi8(D, _mm512_setzero_si512());
    const __mmask32 w0 = 0x55555555u;
    const __m512i P01 = _mm512_dpwssd_epi32(_mm512_madd_epi16(R0, _mm512_maskz_permutexvar_epi16(w0, ix->s[0], sc16)), R1,
                                            _mm512_maskz_permutexvar_epi16(w0, ix->s[1], sc16));
    const __m512i P23 = _mm512_dpwssd_epi32(_mm512_madd_epi16(R2, _mm512_maskz_permutexvar_epi16(w0, ix->s[2], sc16)), R3,
                                            _mm512_maskz_permutexvar_epi16(w0, ix->s[3], sc16));
    /* P01: lanes 0,1 the two halves of pair 0, lanes 2,3 of pair 1; P23 pairs 2, 3 */
    *isum = _mm512_add_epi32(_mm512_shuffle_i32x4(P01, P23, 0x88), _mm512_shuffle_i32x4(P01, P23, 0xdd));
    *msum = _mm512_madd_epi16(_mm512_permutexvar_epi16(ix->m, m16), bv);
}

/* the upper 8 floats (AVX512F only: no DQ needed) */
GV_INLINE __m256 hi256_ps(__m512 v) { return _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)); }

GV_INLINE void q4k_group8(int nb, const uint8_t *w, size_t ws, int nr, const uint8_t *y, const q4k_idx *ix, float *out)
{
    const uint8_t *p[8];
    for (int r = 0; r < 8; r++)
        p[r] = w + (size_t)(r < nr ? r : nr - 1) * ws;
    static const uint16_t dsel[32] = {0, 8, 16, 24, 32, 40, 48, 56, 1, 9, 17, 25, 33, 41, 49, 57};
    const __m512i didx = _mm512_loadu_si512((const void *)dsel);
    /* (lane p, row r) of the two 4-row halves -> pairs p, p+1 of the 8 rows */
    const __m512i pidx01 = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
    const __m512i pidx23 = _mm512_setr_epi32(8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31);
    const __m512i bidx = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 4, 4, 4, 4, 5, 5, 5, 5);
    __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++) {
        q8k_act a;
        q8k_load_pairs(y + (size_t)b * 292, &a);
        /* lane p: int16 (B_2p, B_2p+1), B_j = bsums[2j] + bsums[2j+1] */
        const __m256i B32 = _mm256_madd_epi16(a.bs, _mm256_set1_epi16(1));
        const __m512i bv = _mm512_permutexvar_epi32(bidx, _mm512_castsi256_si512(_mm256_packs_epi32(B32, B32)));
        gv_prefetch(w, (size_t)nr * ws, nb, b);
        __m512i iA, mA, hA, iB, mB, hB;
        q4k_sub4(p, (size_t)b * 144, a.y, bv, ix, &iA, &mA, &hA);
        q4k_sub4(p + 4, (size_t)b * 144, a.y, bv, ix, &iB, &mB, &hB);
        /* d * yd of rows 0..7, dmin * yd of rows 0..7 */
        const __m512 dd = _mm512_mul_ps(_mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutex2var_epi16(hA, didx, hB))),
                                        _mm512_set1_ps(a.d));
        const __m256 d = _mm512_castps512_ps256(dd), dm = hi256_ps(dd);
        const __m512 i01 = _mm512_cvtepi32_ps(_mm512_permutex2var_epi32(iA, pidx01, iB));
        const __m512 i23 = _mm512_cvtepi32_ps(_mm512_permutex2var_epi32(iA, pidx23, iB));
        const __m512 m01 = _mm512_cvtepi32_ps(_mm512_permutex2var_epi32(mA, pidx01, mB));
        const __m512 m23 = _mm512_cvtepi32_ps(_mm512_permutex2var_epi32(mA, pidx23, mB));
        acc = _mm256_fmadd_ps(_mm512_castps512_ps256(i01), d, acc);
        accm = _mm256_fmadd_ps(_mm512_castps512_ps256(m01), dm, accm);
        acc = _mm256_fmadd_ps(hi256_ps(i01), d, acc);
        accm = _mm256_fmadd_ps(hi256_ps(m01), dm, accm);
        acc = _mm256_fmadd_ps(_mm512_castps512_ps256(i23), d, acc);
        accm = _mm256_fmadd_ps(_mm512_castps512_ps256(m23), dm, accm);
        acc = _mm256_fmadd_ps(hi256_ps(i23), d, acc);
        accm = _mm256_fmadd_ps(hi256_ps(m23), dm, accm);
    }
    float t[8];
    _mm256_storeu_ps(t, _mm256_sub_ps(acc, accm));
    for (int r = 0; r < nr; r++)
        out[r] = t[r];
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
    q4k_idx ix;
    for (int k = 0; k < 4; k++)
        ix.s[k] = _mm512_loadu_si512((const void *)q4k_idx_words[k]);
    ix.m = _mm512_loadu_si512((const void *)q4k_idx_words[4]);
    for (int r = 0; r < nr; r += 8)
        q4k_group8(n / 256, W + (size_t)r * w_stride, w_stride, nr - r < 8 ? nr - r : 8, a, &ix, y + r);
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
 * folded in through the bsums: sum(sc * (q-32) * y) = sum(sc * q * y) - 32 * sum(sc * bsum).
 * One row at a time: rows read one after the other are one sequential stream (the output matrix,
 * 262144 x 2560, streams faster so than in groups of rows, and the per-row work is small). Per
 * block, vpdpbusd gives the sums of 4 products (lane k of each 32-element group g, |sum| <= 63 *
 * 128 * 4: int16-sized); vpermt2w pairs lane k of group g with lane k of group g + 2 in one int32
 * and vpdpwssd multiplies both by their scales and adds them into lane k of the row's sum; lanes
 * k and k + 8 of the result (even and odd groups) are added at the end of the block. ---- */

/* the 8 lanes of "lanes8" for one Q6_K block (k in lanes 0..7 + lanes 8..15), offset included */
GV_INLINE __m512i q6k_lanes(const uint8_t *x, const __m512i y[4], __m256i bs, __m512i pair, __m512i sidx0, __m512i sidx1)
{
    const __m512i m4 = _mm512_set1_epi8(0x0f), m3 = _mm512_set1_epi8(0x30), z = _mm512_setzero_si512();
    const __m256i s16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(x + 192)));
    /* lane k: -32 * (sc[2k] * bsums[2k] + sc[2k+1] * bsums[2k+1]) */
    __m512i acc = _mm512_zextsi256_si512(_mm256_madd_epi16(bs, _mm256_sub_epi16(_mm256_setzero_si256(), _mm256_slli_epi16(s16, 5))));
    /* qh of both halves, and shifted by 2: bits 0-1 / 4-5 are the high bits of values 0..31 / 64..95,
     * after the shift those of 32..63 / 96..127 */
    const __m512i qh = _mm512_loadu_si512((const void *)(x + 128)), qh2 = _mm512_srli_epi16(qh, 2);
    __m512i v[4];
    for (int h = 0; h < 2; h++) {
        const __m512i ql = _mm512_loadu_si512((const void *)(x + 64 * h));
        const __m512i hA = _mm512_shuffle_i64x2(qh, qh2, h ? 0xee : 0x44);
        const __m512i qa = _mm512_ternarylogic_epi32(_mm512_and_si512(ql, m4), _mm512_slli_epi16(hA, 4), m3, 0xf8);
        const __m512i qb = _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4), hA, m3, 0xf8);
        v[2 * h] = _mm512_dpbusd_epi32(z, qa, y[2 * h]);         /* groups 4h, 4h+1 */
        v[2 * h + 1] = _mm512_dpbusd_epi32(z, qb, y[2 * h + 1]); /* groups 4h+2, 4h+3 */
    }
    const __m512i s512 = _mm512_castsi256_si512(s16);
    acc = _mm512_dpwssd_epi32(acc, _mm512_permutex2var_epi16(v[0], pair, v[1]), _mm512_permutexvar_epi16(sidx0, s512));
    return _mm512_dpwssd_epi32(acc, _mm512_permutex2var_epi16(v[2], pair, v[3]), _mm512_permutexvar_epi16(sidx1, s512));
}

void x86_avx512_gemv_q6_K(int n, int nr, const void *w, size_t w_stride, const void *a, float *y)
{
    /* int32 lane i of a pair: the low words of lane i of both sources. Lane i of v[0] is lane i % 8
     * of group i / 8, scale 2 * (i / 8) + (i % 8) / 4 = i / 4; of v[1] two groups later, scale
     * i / 4 + 4; v[2], v[3]: 8 more */
    static const uint16_t pair_w[32] = {0,  32, 2,  34, 4,  36, 6,  38, 8,  40, 10, 42, 12, 44, 14, 46,
                                        16, 48, 18, 50, 20, 52, 22, 54, 24, 56, 26, 58, 28, 60, 30, 62};
    static const uint16_t sidx_w[32] = {0, 4, 0, 4, 0, 4, 0, 4, 1, 5, 1, 5, 1, 5, 1, 5,
                                        2, 6, 2, 6, 2, 6, 2, 6, 3, 7, 3, 7, 3, 7, 3, 7};
    const __m512i pair = _mm512_loadu_si512((const void *)pair_w), sidx0 = _mm512_loadu_si512((const void *)sidx_w);
    const __m512i sidx1 = _mm512_add_epi16(sidx0, _mm512_set1_epi16(8));
    const uint8_t *W = w, *A = a;
    const int nb = n / 256;
    for (int r = 0; r < nr; r++) {
        const uint8_t *x = W + (size_t)r * w_stride;
        __m256 acc = _mm256_setzero_ps();
        for (int b = 0; b < nb; b++) {
            const uint8_t *yb = A + (size_t)b * 292, *xb = x + (size_t)b * 210;
            q8k_act ya;
            q8k_load_plain(yb, &ya);
            const __m512i l16 = q6k_lanes(xb, ya.y, ya.bs, pair, sidx0, sidx1);
            const __m256i L = _mm256_add_epi32(_mm512_castsi512_si256(l16), _mm512_extracti64x4_epi64(l16, 1));
            /* acc[k] = fma(d, L_k, acc[k]), d = yd * d_x */
            acc = _mm256_fmadd_ps(_mm256_set1_ps(ya.d * x86_h2f(x86_rd16(xb + 208))), _mm256_cvtepi32_ps(L), acc);
        }
        float t[8];
        _mm256_storeu_ps(t, acc);
        y[r] = ((t[0] + t[4]) + (t[2] + t[6])) + ((t[1] + t[5]) + (t[3] + t[7]));
    }
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

/* Q4_0: four blocks (72 bytes) per row and step, block k in 128-bit lane k (low nibbles: values
 * 0..15, high: 16..31); codes unsigned 0..15, the offset -8 subtracted as 8 * sum(y) per block.
 * The 16 code bytes of a block start 2 bytes after its fp16 d, so every field of the 4 blocks is
 * word-aligned: one vpermt2w over the 64 bytes at the step's start (words 0..31) and the 64 bytes
 * 8 further (words 32..63 = bytes 8 + 2j, still inside the 72) moves the codes into their lanes,
 * and the d of 4 rows x 4 blocks are picked the same way from the first loads (instead of four
 * 16-byte loads and inserts per row and sixteen scalar fp16 loads). */
static const uint16_t q40_words[3][32] = {
/* codes: word 1 + 9k + j of the step (j < 8) into lane k */
#define QW(w) ((w) < 32 ? (w) : (w) + 28)
#define QL(k) QW(1 + 9 * (k)), QW(2 + 9 * (k)), QW(3 + 9 * (k)), QW(4 + 9 * (k)), QW(5 + 9 * (k)), QW(6 + 9 * (k)), \
              QW(7 + 9 * (k)), QW(8 + 9 * (k))
    {QL(0), QL(1), QL(2), QL(3)},
#undef QL
#undef QW
    /* d of block k (word 9k) of the first source into word 4k, of the second into 4k + 1 ... */
    {0, 32, 0, 0, 9, 41, 0, 0, 18, 50, 0, 0, 27, 59, 0, 0},
    /* ... and into words 4k + 2, 4k + 3 */
    {0, 0, 0, 32, 0, 0, 9, 41, 0, 0, 18, 50, 0, 0, 27, 59},
};

GV_INLINE void q40_group(int nb, const uint8_t *w, size_t ws, int nr, const uint8_t *y, float *out)
{
    const gv_rows g = gv_group(w, ws, nr);
    const __m512i m4 = _mm512_set1_epi8(0x0f), c8 = _mm512_set1_epi8(8);
    const __m512i qidx = _mm512_loadu_si512((const void *)q40_words[0]);
    const __m512i d01 = _mm512_loadu_si512((const void *)q40_words[1]), d23 = _mm512_loadu_si512((const void *)q40_words[2]);
    __m128 acc = _mm_setzero_ps();
    int b = 0;
    for (; b + 4 <= nb; b += 4) {
        const uint8_t *yb = y + (size_t)b * 34;
        const __m512i Y01 = ld2x32(yb + 2, yb + 36), Y23 = ld2x32(yb + 70, yb + 104);
        const __m512i yl = _mm512_shuffle_i64x2(Y01, Y23, 0x88); /* values 0..15 of blocks 0..3 */
        const __m512i yh = _mm512_shuffle_i64x2(Y01, Y23, 0xdd); /* values 16..31 */
        const __m512i ys = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), c8, yl), c8, yh);
        gv_prefetch(w, (size_t)nr * ws, nb / 4, b / 4);
        __m512i v[4], lo[4];
        for (int r = 0; r < 4; r++) {
            const uint8_t *x = g.p[r] + (size_t)b * 18;
            lo[r] = _mm512_loadu_si512((const void *)x);
            const __m512i q = _mm512_permutex2var_epi16(lo[r], qidx, _mm512_loadu_si512((const void *)(x + 8)));
            v[r] = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_and_si512(q, m4), yl),
                                       _mm512_and_si512(_mm512_srli_epi16(q, 4), m4), yh);
        }
        /* lane k: the 4 rows' sums of block b + k, minus 8 * sum(y) of that block */
        const __m512i s = _mm512_sub_epi32(red4(v[0], v[1], v[2], v[3]), red4(ys, ys, ys, ys));
        /* lane k: d of block b + k, rows 0..3 */
        const __m512i dh = _mm512_mask_blend_epi16(0xcccccccc, _mm512_permutex2var_epi16(lo[0], d01, lo[1]),
                                                    _mm512_permutex2var_epi16(lo[2], d23, lo[3]));
        const __m512 dx = _mm512_cvtph_ps(_mm512_castsi512_si256(dh));
        acc = b32_combine(acc, _mm512_castsi512_si128(s), _mm512_castps512_ps128(dx), x86_h2f(x86_rd16(yb)));
        acc = b32_combine(acc, _mm512_extracti32x4_epi32(s, 1), _mm512_extractf32x4_ps(dx, 1), x86_h2f(x86_rd16(yb + 34)));
        acc = b32_combine(acc, _mm512_extracti32x4_epi32(s, 2), _mm512_extractf32x4_ps(dx, 2), x86_h2f(x86_rd16(yb + 68)));
        acc = b32_combine(acc, _mm512_extracti32x4_epi32(s, 3), _mm512_extractf32x4_ps(dx, 3), x86_h2f(x86_rd16(yb + 102)));
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
