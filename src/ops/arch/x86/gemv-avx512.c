/* gemv-avx512.c - AVX-512 + VNNI matrix-vector kernels for single-token steps (decoding): several
 * weight rows against one activation row, y[r] = dot(W row r, a). Every weight byte is read once
 * per token, so these loops are what generation speed is made of. Compared with the row kernels
 * of kernels-avx512.c they
 *   - keep float vector accumulators across blocks and reduce once per row (no per-block
 *     horizontal sums),
 *   - unpack the 6-bit k-quant scales with a broadcast and byte shuffles instead of permutes,
 *   - fold the block minimums / the Q6_K offset into the integer sums (VNNI dpwssd),
 *   - run 2-4 rows per pass so the activation loads and shuffles are shared.
 * Each block's integer sums are exact; only the float summation order differs from the portable
 * reference (tests/test-kernels.c bounds the difference). Compiled with the AVX-512 options (by
 * file name); only called when the CPU has AVX-512 F/BW/VL + VNNI. */
#include "ops/arch/x86/arch.h"
#include "ops/arch/x86/x86-common.h"

#define GV_INLINE static inline __attribute__((always_inline))
/* bytes past the next row group at which prefetching runs (measured: 1-4 KB all help) */
#define GV_PREFETCH_AHEAD 2048

/* pshufb controls: lane k of a 128-bit lane holds byte `b` zero-extended to int16 */
#define SH16(b) ((long long)(0x8080808080808080ull & ~0x00ff00ff00ff00ffull) | (long long)(0x0001000100010001ull * (b)))

GV_INLINE __m512i bytes_to_i16_lanes(long long b0, long long b1, long long b2, long long b3)
{
    return _mm512_set_epi64(b3, b3, b2, b2, b1, b1, b0, b0);
}

/* Rows of a group are read in parallel streams, which the hardware prefetchers follow poorly;
 * the group after this one (nr rows = group bytes from w) is prefetched linearly, a slice per
 * block step. */
GV_INLINE void gv_prefetch(const uint8_t *w, size_t group, int nb, int b)
{
    const char *base = (const char *)w + group + GV_PREFETCH_AHEAD;
    const size_t per = (group + (size_t)nb - 1) / (size_t)nb;
    for (size_t o = (size_t)b * per; o < (size_t)(b + 1) * per; o += 64)
        _mm_prefetch(base + o, _MM_HINT_T0);
}

GV_INLINE float gv_hsum(__m512 v) { return _mm512_reduce_add_ps(v); }

/* ---- Q4_K: d, dmin (fp16), scales[12], qs[128] (144 bytes) against Q8_K: d (f32), qs[256],
 * bsums[16] (292 bytes). qs chunk c (32 bytes) holds sub-block 2c in its low nibbles and 2c+1 in
 * its high nibbles; a 64-byte load holds chunks (c, c+1), so its low nibbles pair sub-blocks
 * (2c | 2c+2) and the activations are regrouped to match. ---- */

typedef struct q8k_act {
    __m512i y[4]; /* y(0|2), y(1|3), y(4|6), y(5|7): 32-value sub-blocks paired as the weights */
    __m256i bs;   /* 16 int16 sums of 16 values */
    float d;
} q8k_act;

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

/* The 6-bit scales and mins of a Q4_K / Q5_K block (12 bytes at s12) as int16 vectors for the
 * four (sub-block pair) products, and the int16 pairs m_j m_j against the 16 bsums. */
typedef struct k4_scales {
    __m512i s[4]; /* sc(0|2), sc(1|3), sc(4|6), sc(5|7), each repeated over its 16 int16 lanes */
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
    k->s[0] = _mm512_shuffle_epi8(scb, bytes_to_i16_lanes(SH16(0), SH16(0), SH16(2), SH16(2)));
    k->s[1] = _mm512_shuffle_epi8(scb, bytes_to_i16_lanes(SH16(1), SH16(1), SH16(3), SH16(3)));
    k->s[2] = _mm512_shuffle_epi8(scb, bytes_to_i16_lanes(SH16(4), SH16(4), SH16(6), SH16(6)));
    k->s[3] = _mm512_shuffle_epi8(scb, bytes_to_i16_lanes(SH16(5), SH16(5), SH16(7), SH16(7)));
    /* lane 0: j = 0..3, lane 1: j = 4..7 */
    k->m = _mm256_shuffle_epi8(_mm256_set1_epi64x((long long)mn),
                               _mm256_set_epi64x((long long)0x8007800780068006ull, (long long)0x8005800580048004ull,
                                                 (long long)0x8003800380028002ull, (long long)0x8001800180008000ull));
}

/* acc += d*yd * is, accm += dmin*yd * sum(m*bsum), with d, dmin the block's leading fp16 pair */
GV_INLINE void k4_accumulate(const uint8_t *x, const k4_scales *k, const __m512i is, const __m256i bs, float yd,
                             __m512 *acc, __m256 *accm)
{
    const __m256i ms = _mm256_madd_epi16(bs, k->m);
    const __m128 dd = _mm_mul_ps(_mm_cvtph_ps(_mm_cvtsi32_si128((int)(x86_rd16(x) | (uint32_t)x86_rd16(x + 2) << 16))),
                                 _mm_set1_ps(yd));
    *acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(is), _mm512_broadcastss_ps(dd), *acc);
    *accm = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ms), _mm256_broadcastss_ps(_mm_movehdup_ps(dd)), *accm);
}

/* one Q4_K block: acc += d*yd * sum(sc*q*y), accm += dmin*yd * sum(m*bsum) */
GV_INLINE void q4k_block(const uint8_t *x, const q8k_act *a, __m512 *acc, __m256 *accm)
{
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    k4_scales k;
    k4_unpack(x + 4, &k);
    const __m512i q01 = _mm512_loadu_si512((const void *)(x + 16)), q23 = _mm512_loadu_si512((const void *)(x + 80));
    __m512i is = _mm512_dpwssd_epi32(_mm512_setzero_si512(), _mm512_maddubs_epi16(_mm512_and_si512(q01, m4), a->y[0]), k.s[0]);
    is = _mm512_dpwssd_epi32(is, _mm512_maddubs_epi16(_mm512_and_si512(_mm512_srli_epi16(q01, 4), m4), a->y[1]), k.s[1]);
    is = _mm512_dpwssd_epi32(is, _mm512_maddubs_epi16(_mm512_and_si512(q23, m4), a->y[2]), k.s[2]);
    is = _mm512_dpwssd_epi32(is, _mm512_maddubs_epi16(_mm512_and_si512(_mm512_srli_epi16(q23, 4), m4), a->y[3]), k.s[3]);
    k4_accumulate(x, &k, is, a->bs, a->d, acc, accm);
}

GV_INLINE void q4k_rows(int nb, int nr, const uint8_t *w, size_t ws, const uint8_t *y, float *out)
{
    __m512 acc[4];
    __m256 accm[4];
    for (int r = 0; r < nr; r++) {
        acc[r] = _mm512_setzero_ps();
        accm[r] = _mm256_setzero_ps();
    }
    for (int b = 0; b < nb; b++) {
        q8k_act a;
        q8k_load_pairs(y + (size_t)b * 292, &a);
        gv_prefetch(w, (size_t)nr * ws, nb, b);
        for (int r = 0; r < nr; r++)
            q4k_block(w + (size_t)r * ws + (size_t)b * 144, &a, &acc[r], &accm[r]);
    }
    for (int r = 0; r < nr; r++)
        out[r] = gv_hsum(acc[r]) - x86_hsum_f32(accm[r]);
}

void x86_avx512_gemv_q4_K(int n, int nr, const void *w, size_t w_stride, const void *a, float *y)
{
    const int nb = n / 256;
    const uint8_t *W = w;
    int r = 0;
    for (; r + 4 <= nr; r += 4)
        q4k_rows(nb, 4, W + (size_t)r * w_stride, w_stride, a, y + r);
    for (; r + 2 <= nr; r += 2)
        q4k_rows(nb, 2, W + (size_t)r * w_stride, w_stride, a, y + r);
    for (; r < nr; r++)
        q4k_rows(nb, 1, W + (size_t)r * w_stride, w_stride, a, y + r);
}

/* ---- Q5_K: d, dmin, scales[12], qh[32], qs[128] (176 bytes): Q4_K's layout plus a fifth bit per
 * value, bit c of qh[l] for sub-block c. A 64-byte broadcast of qh tested against one bit per half
 * gives the byte mask of the values that get +16. ---- */

GV_INLINE __m512i q5_bits(unsigned long long lo, unsigned long long hi)
{
    return _mm512_set_epi64((long long)hi, (long long)hi, (long long)hi, (long long)hi, (long long)lo, (long long)lo, (long long)lo,
                            (long long)lo);
}

GV_INLINE void q5k_block(const uint8_t *x, const q8k_act *a, __m512 *acc, __m256 *accm)
{
    const __m512i m4 = _mm512_set1_epi8(0x0f), b16 = _mm512_set1_epi8(16);
    k4_scales k;
    k4_unpack(x + 4, &k);
    const __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(x + 16)));
    const __m512i q01 = _mm512_loadu_si512((const void *)(x + 48)), q23 = _mm512_loadu_si512((const void *)(x + 112));
    const unsigned long long B = 0x0101010101010101ull;
    const __m512i v0 = _mm512_mask_add_epi8(_mm512_and_si512(q01, m4), _mm512_test_epi8_mask(qh, q5_bits(B * 1, B * 4)),
                                            _mm512_and_si512(q01, m4), b16);
    const __m512i h01 = _mm512_and_si512(_mm512_srli_epi16(q01, 4), m4);
    const __m512i v1 = _mm512_mask_add_epi8(h01, _mm512_test_epi8_mask(qh, q5_bits(B * 2, B * 8)), h01, b16);
    const __m512i v2 = _mm512_mask_add_epi8(_mm512_and_si512(q23, m4), _mm512_test_epi8_mask(qh, q5_bits(B * 16, B * 64)),
                                            _mm512_and_si512(q23, m4), b16);
    const __m512i h23 = _mm512_and_si512(_mm512_srli_epi16(q23, 4), m4);
    const __m512i v3 = _mm512_mask_add_epi8(h23, _mm512_test_epi8_mask(qh, q5_bits(B * 32, B * 128)), h23, b16);
    __m512i is = _mm512_dpwssd_epi32(_mm512_setzero_si512(), _mm512_maddubs_epi16(v0, a->y[0]), k.s[0]);
    is = _mm512_dpwssd_epi32(is, _mm512_maddubs_epi16(v1, a->y[1]), k.s[1]);
    is = _mm512_dpwssd_epi32(is, _mm512_maddubs_epi16(v2, a->y[2]), k.s[2]);
    is = _mm512_dpwssd_epi32(is, _mm512_maddubs_epi16(v3, a->y[3]), k.s[3]);
    k4_accumulate(x, &k, is, a->bs, a->d, acc, accm);
}

GV_INLINE void q5k_rows(int nb, int nr, const uint8_t *w, size_t ws, const uint8_t *y, float *out)
{
    __m512 acc[4];
    __m256 accm[4];
    for (int r = 0; r < nr; r++) {
        acc[r] = _mm512_setzero_ps();
        accm[r] = _mm256_setzero_ps();
    }
    for (int b = 0; b < nb; b++) {
        q8k_act a;
        q8k_load_pairs(y + (size_t)b * 292, &a);
        gv_prefetch(w, (size_t)nr * ws, nb, b);
        for (int r = 0; r < nr; r++)
            q5k_block(w + (size_t)r * ws + (size_t)b * 176, &a, &acc[r], &accm[r]);
    }
    for (int r = 0; r < nr; r++)
        out[r] = gv_hsum(acc[r]) - x86_hsum_f32(accm[r]);
}

void x86_avx512_gemv_q5_K(int n, int nr, const void *w, size_t w_stride, const void *a, float *y)
{
    const int nb = n / 256;
    const uint8_t *W = w;
    int r = 0;
    for (; r + 4 <= nr; r += 4)
        q5k_rows(nb, 4, W + (size_t)r * w_stride, w_stride, a, y + r);
    for (; r + 2 <= nr; r += 2)
        q5k_rows(nb, 2, W + (size_t)r * w_stride, w_stride, a, y + r);
    for (; r < nr; r++)
        q5k_rows(nb, 1, W + (size_t)r * w_stride, w_stride, a, y + r);
}

/* ---- Q6_K: ql[128], qh[64], scales[16] (int8), d (fp16) (210 bytes). Half h (128 values) takes
 * 64 bytes of ql and 32 of qh; the low nibbles of ql are values 0..63 of the half, the high ones
 * 64..127, so the activations are used in their own order. The offset -32 is folded in through the
 * bsums: sum((q-32)*y) = sum(q*y) - 32 * sum(bsum). ---- */

typedef struct q8k_act6 {
    __m512i y[4]; /* values 0..63, 64..127, 128..191, 192..255 */
    __m512i bs;   /* 16 int16 bsums, upper half zero */
    float d;
} q8k_act6;

GV_INLINE void q8k_load_plain(const uint8_t *y, q8k_act6 *a)
{
    for (int k = 0; k < 4; k++)
        a->y[k] = _mm512_loadu_si512((const void *)(y + 4 + 64 * k));
    a->bs = _mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *)(y + 260)));
    a->d = x86_rdf32(y);
}

GV_INLINE void q6k_block(const uint8_t *x, const q8k_act6 *a, __m512 *acc)
{
    const __m512i m4 = _mm512_set1_epi8(0x0f), m3 = _mm512_set1_epi8(0x30);
    const __m256i s16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(x + 192)));
    const __m512i s512 = _mm512_zextsi256_si512(s16);
    /* -32 * scales for the offset, against the bsums (upper half zero) */
    __m512i is = _mm512_dpwssd_epi32(_mm512_setzero_si512(), a->bs,
                                     _mm512_zextsi256_si512(_mm256_sub_epi16(_mm256_setzero_si256(), _mm256_slli_epi16(s16, 5))));
    for (int h = 0; h < 2; h++) {
        const __m512i ql = _mm512_loadu_si512((const void *)(x + 64 * h));
        const __m256i qh = _mm256_loadu_si256((const __m256i *)(x + 128 + 32 * h));
        /* hA = qh (values 0..31 | 64..95) and qh >> 2 (32..63 | 96..127): bits 0-1 are the high
         * bits of the low-nibble values, bits 4-5 those of the high-nibble values */
        const __m512i hA = _mm512_inserti64x4(_mm512_castsi256_si512(qh), _mm256_srli_epi16(qh, 2), 1);
        const __m512i qa = _mm512_ternarylogic_epi32(_mm512_and_si512(ql, m4), _mm512_slli_epi16(hA, 4), m3, 0xf8);
        const __m512i qb = _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4), hA, m3, 0xf8);
        const __m512i ia = _mm512_set_epi64(0x0003000300030003ll, 0x0003000300030003ll, 0x0002000200020002ll,
                                            0x0002000200020002ll, 0x0001000100010001ll, 0x0001000100010001ll, 0, 0);
        const __m512i k4 = _mm512_set1_epi16(4), k8 = _mm512_set1_epi16(8);
        const __m512i ib = _mm512_add_epi16(ia, h ? _mm512_add_epi16(k8, k4) : k4);
        const __m512i iA = h ? _mm512_add_epi16(ia, k8) : ia;
        is = _mm512_dpwssd_epi32(is, _mm512_maddubs_epi16(qa, a->y[2 * h]), _mm512_permutexvar_epi16(iA, s512));
        is = _mm512_dpwssd_epi32(is, _mm512_maddubs_epi16(qb, a->y[2 * h + 1]), _mm512_permutexvar_epi16(ib, s512));
    }
    const float d = x86_h2f(x86_rd16(x + 208)) * a->d;
    *acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(is), _mm512_set1_ps(d), *acc);
}

GV_INLINE void q6k_rows(int nb, int nr, const uint8_t *w, size_t ws, const uint8_t *y, float *out)
{
    __m512 acc[4];
    for (int r = 0; r < nr; r++)
        acc[r] = _mm512_setzero_ps();
    for (int b = 0; b < nb; b++) {
        q8k_act6 a;
        q8k_load_plain(y + (size_t)b * 292, &a);
        gv_prefetch(w, (size_t)nr * ws, nb, b);
        for (int r = 0; r < nr; r++)
            q6k_block(w + (size_t)r * ws + (size_t)b * 210, &a, &acc[r]);
    }
    for (int r = 0; r < nr; r++)
        out[r] = gv_hsum(acc[r]);
}

void x86_avx512_gemv_q6_K(int n, int nr, const void *w, size_t w_stride, const void *a, float *y)
{
    const int nb = n / 256;
    const uint8_t *W = w;
    int r = 0;
    for (; r + 4 <= nr; r += 4)
        q6k_rows(nb, 4, W + (size_t)r * w_stride, w_stride, a, y + r);
    for (; r + 2 <= nr; r += 2)
        q6k_rows(nb, 2, W + (size_t)r * w_stride, w_stride, a, y + r);
    for (; r < nr; r++)
        q6k_rows(nb, 1, W + (size_t)r * w_stride, w_stride, a, y + r);
}
