/* gemv-avx512.c - AVX-512 + VNNI matrix-vector kernels for single-token steps (decoding): groups
 * of 4 weight rows against one activation row, y[r] = dot(W row r, a). Every weight byte is read
 * once per token, so these loops are what generation speed is made of.
 *
 * Exactness: each block's integer sums are exact and the float combination per block and the
 * running sum over blocks follow the portable reference (quant/vecdot.c) operation by operation,
 * so every result equals the reference vec_dot bit for bit (and thus the batch GEMM tiles: a
 * prompt gives the same logits whether it is evaluated in one batch or token by token). What
 * makes them faster than a row loop over vec_dot:
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

/* sum over the block of sc * q * y for 4-bit (Q4_K) or 5-bit (Q5_K) codes v[0..3] (paired) */
GV_INLINE __m512i k4_isum(const __m512i v[4], const k4_scales *k, const q8k_act *a)
{
    __m512i is = _mm512_dpwssd_epi32(_mm512_setzero_si512(), _mm512_maddubs_epi16(v[0], a->y[0]), k->s[0]);
    is = _mm512_dpwssd_epi32(is, _mm512_maddubs_epi16(v[1], a->y[1]), k->s[1]);
    is = _mm512_dpwssd_epi32(is, _mm512_maddubs_epi16(v[2], a->y[2]), k->s[2]);
    return _mm512_dpwssd_epi32(is, _mm512_maddubs_epi16(v[3], a->y[3]), k->s[3]);
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

/* acc[r] += (d_r * yd) * isum_r - (dmin_r * yd) * msum_r, as the reference, for the 4 rows; dd
 * holds the fp16 pairs (d, dmin) of the 4 rows */
GV_INLINE __m128 k4_combine(__m128 acc, __m128i dd, float yd, __m128i isum, __m128i msum)
{
    const __m256 f = _mm256_permutevar8x32_ps(_mm256_cvtph_ps(dd), _mm256_set_epi32(7, 5, 3, 1, 6, 4, 2, 0));
    const __m256 s = _mm256_mul_ps(f, _mm256_set1_ps(yd)); /* d*yd | dmin*yd */
    const __m256 p = _mm256_mul_ps(s, _mm256_cvtepi32_ps(_mm256_inserti128_si256(_mm256_castsi128_si256(isum), msum, 1)));
    return _mm_add_ps(acc, _mm_sub_ps(_mm256_castps256_ps128(p), _mm256_extractf128_ps(p, 1)));
}

/* 4 rows of Q4_K (q5 = 0) or Q5_K (q5 = 1) */
GV_INLINE void k4_group(int q5, int nb, const uint8_t *w, size_t ws, int nr, const uint8_t *y, float *out)
{
    const size_t bsz = q5 ? 176 : 144;
    const gv_rows g = gv_group(w, ws, nr);
    __m128 acc = _mm_setzero_ps();
    for (int b = 0; b < nb; b++) {
        q8k_act a;
        q8k_load_pairs(y + (size_t)b * 292, &a);
        gv_prefetch(w, (size_t)nr * ws, nb, b);
        __m512i is[4];
        __m256i ms[4];
        for (int r = 0; r < 4; r++) {
            const uint8_t *x = g.p[r] + (size_t)b * bsz;
            k4_scales k;
            k4_unpack(x + 4, &k);
            __m512i v[4];
            if (q5)
                q5k_codes(x, v);
            else
                q4k_codes(x, v);
            is[r] = k4_isum(v, &k, &a);
            ms[r] = _mm256_madd_epi16(a.bs, k.m);
        }
        acc = k4_combine(acc, ld4_u32(&g, (size_t)b * bsz), a.d, sum4(is[0], is[1], is[2], is[3]),
                         sum4_256(ms[0], ms[1], ms[2], ms[3]));
    }
    gv_store(out, nr, acc);
}

void x86_avx512_gemv_q4_K(int n, int nr, const void *w, size_t w_stride, const void *a, float *y)
{
    const uint8_t *W = w;
    for (int r = 0; r < nr; r += 4)
        k4_group(0, n / 256, W + (size_t)r * w_stride, w_stride, nr - r < 4 ? nr - r : 4, a, y + r);
}

void x86_avx512_gemv_q5_K(int n, int nr, const void *w, size_t w_stride, const void *a, float *y)
{
    const uint8_t *W = w;
    for (int r = 0; r < nr; r += 4)
        k4_group(1, n / 256, W + (size_t)r * w_stride, w_stride, nr - r < 4 ? nr - r : 4, a, y + r);
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

GV_INLINE void q6k_group(int nb, const uint8_t *w, size_t ws, int nr, const uint8_t *y, float *out)
{
    const gv_rows g = gv_group(w, ws, nr);
    __m128 acc = _mm_setzero_ps();
    for (int b = 0; b < nb; b++) {
        q8k_act a;
        q8k_load_plain(y + (size_t)b * 292, &a);
        gv_prefetch(w, (size_t)nr * ws, nb, b);
        __m512i is[4];
        for (int r = 0; r < 4; r++)
            is[r] = q6k_isum(g.p[r] + (size_t)b * 210, &a);
        /* the fp16 d of the 4 rows: the high halves of the words at offset 206 */
        const __m128i dw = _mm_srli_epi32(ld4_u32(&g, (size_t)b * 210 + 206), 16);
        const __m128 d = _mm_cvtph_ps(_mm_packus_epi32(dw, dw));
        /* (d * yd) * (float)isum */
        acc = _mm_add_ps(acc, _mm_mul_ps(_mm_mul_ps(d, _mm_set1_ps(a.d)), _mm_cvtepi32_ps(sum4(is[0], is[1], is[2], is[3]))));
    }
    gv_store(out, nr, acc);
}

void x86_avx512_gemv_q6_K(int n, int nr, const void *w, size_t w_stride, const void *a, float *y)
{
    const uint8_t *W = w;
    for (int r = 0; r < nr; r += 4)
        q6k_group(n / 256, W + (size_t)r * w_stride, w_stride, nr - r < 4 ? nr - r : 4, a, y + r);
}

/* ---- Q8_0 (d, qs[32]: 34 bytes) and Q4_0 (d, qs[16]: 18 bytes) against Q8_0 activations.
 * Reference per block: sumf += (float)sumi * (dx * dy). The int8 products use VNNI with the
 * activations made unsigned: (y + 128) . x - 128 * sum(x) = y . x, exact for every byte. ---- */

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

/* acc[r] += (float)sumi[r] * (dx[r] * dy), one block */
GV_INLINE __m128 b32_combine(__m128 acc, __m128i sumi, __m128 dx, float dy)
{
    return _mm_add_ps(acc, _mm_mul_ps(_mm_cvtepi32_ps(sumi), _mm_mul_ps(dx, _mm_set1_ps(dy))));
}

/* exact int sum of one Q8_0 / Q4_0 block per row, portable (the blocks past the vector loop) */
static int sumi_q8_0(const uint8_t *x, const uint8_t *y)
{
    int s = 0;
    for (int j = 0; j < 32; j++)
        s += (int8_t)x[2 + j] * (int8_t)y[2 + j];
    return s;
}

static int sumi_q4_0(const uint8_t *x, const uint8_t *y)
{
    int s = 0;
    for (int j = 0; j < 16; j++)
        s += ((x[2 + j] & 15) - 8) * (int8_t)y[2 + j] + ((x[2 + j] >> 4) - 8) * (int8_t)y[18 + j];
    return s;
}

GV_INLINE __m128 tail_blocks(int q4, int b0, int nb, const gv_rows *g, const uint8_t *y, __m128 acc)
{
    const size_t bsz = q4 ? 18 : 34;
    for (int b = b0; b < nb; b++) {
        int s[4];
        for (int r = 0; r < 4; r++)
            s[r] = q4 ? sumi_q4_0(g->p[r] + (size_t)b * bsz, y + (size_t)b * 34)
                      : sumi_q8_0(g->p[r] + (size_t)b * bsz, y + (size_t)b * 34);
        acc = b32_combine(acc, _mm_set_epi32(s[3], s[2], s[1], s[0]),
                          _mm256_castps256_ps128(ld8_h(g, (size_t)b * bsz, (size_t)b * bsz)), x86_h2f(x86_rd16(y + (size_t)b * 34)));
    }
    return acc;
}

/* Q8_0: four blocks per step, two per 64-byte vector; red4 then lane pairs give the 4 blocks'
 * sums of the 4 rows, one block per 128-bit lane. The 16 scales (4 rows x 4 blocks) come in one
 * gather. */
GV_INLINE void q80_group(int nb, const uint8_t *w, size_t ws, int nr, const uint8_t *y, float *out)
{
    const gv_rows g = gv_group(w, ws, nr);
    const __m512i c128 = _mm512_set1_epi8((char)0x80);
    /* gather offsets from row 0: element 4k + r = row r, block k */
    int ro[4];
    for (int r = 0; r < 4; r++)
        ro[r] = (int)(g.p[r] - g.p[0]);
    const __m512i gidx = _mm512_add_epi32(_mm512_set_epi32(ro[3], ro[2], ro[1], ro[0], ro[3], ro[2], ro[1], ro[0], ro[3],
                                                           ro[2], ro[1], ro[0], ro[3], ro[2], ro[1], ro[0]),
                                          _mm512_set_epi32(102, 102, 102, 102, 68, 68, 68, 68, 34, 34, 34, 34, 0, 0, 0, 0));
    __m128 acc = _mm_setzero_ps();
    int b = 0;
    for (; b + 4 <= nb; b += 4) {
        const uint8_t *yb = y + (size_t)b * 34;
        const __m512i yu0 = _mm512_xor_si512(ld2x32(yb + 2, yb + 36), c128);
        const __m512i yu1 = _mm512_xor_si512(ld2x32(yb + 70, yb + 104), c128);
        gv_prefetch(w, (size_t)nr * ws, nb / 4, b / 4);
        __m512i v0[4], v1[4];
        for (int r = 0; r < 4; r++) {
            const uint8_t *x = g.p[r] + (size_t)b * 34;
            const __m512i x0 = ld2x32(x + 2, x + 36), x1 = ld2x32(x + 70, x + 104);
            v0[r] = _mm512_sub_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), yu0, x0),
                                     _mm512_dpbusd_epi32(_mm512_setzero_si512(), c128, x0));
            v1[r] = _mm512_sub_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), yu1, x1),
                                     _mm512_dpbusd_epi32(_mm512_setzero_si512(), c128, x1));
        }
        const __m512i t0 = red4(v0[0], v0[1], v0[2], v0[3]), t1 = red4(v1[0], v1[1], v1[2], v1[3]);
        const __m512i s = _mm512_add_epi32(_mm512_shuffle_i32x4(t0, t1, 0x88), _mm512_shuffle_i32x4(t0, t1, 0xdd));
        const __m512 dx = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_i32gather_epi32(gidx, (const void *)(g.p[0] + (size_t)b * 34), 1)));
        acc = b32_combine(acc, _mm512_castsi512_si128(s), _mm512_castps512_ps128(dx), x86_h2f(x86_rd16(yb)));
        acc = b32_combine(acc, _mm512_extracti32x4_epi32(s, 1), _mm512_extractf32x4_ps(dx, 1), x86_h2f(x86_rd16(yb + 34)));
        acc = b32_combine(acc, _mm512_extracti32x4_epi32(s, 2), _mm512_extractf32x4_ps(dx, 2), x86_h2f(x86_rd16(yb + 68)));
        acc = b32_combine(acc, _mm512_extracti32x4_epi32(s, 3), _mm512_extractf32x4_ps(dx, 3), x86_h2f(x86_rd16(yb + 102)));
    }
    acc = tail_blocks(0, b, nb, &g, y, acc);
    gv_store(out, nr, acc);
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
    acc = tail_blocks(1, b, nb, &g, y, acc);
    gv_store(out, nr, acc);
}

void x86_avx512_gemv_q4_0(int n, int nr, const void *w, size_t w_stride, const void *a, float *y)
{
    const uint8_t *W = w;
    for (int r = 0; r < nr; r += 4)
        q40_group(n / 32, W + (size_t)r * w_stride, w_stride, nr - r < 4 ? nr - r : 4, a, y + r);
}
