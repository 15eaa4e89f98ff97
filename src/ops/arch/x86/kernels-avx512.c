/* kernels-avx512.c - AVX-512 (F, BW, VL) + VNNI kernels: the dot products that dominate MedGemma
 * (Q4_K and Q6_K weights against Q8_K activations, Q8_0 against Q8_0) on 64-byte vectors. The
 * k-quant ones keep the exact per-block integer sums of the reference (see arch.h). Compiled with
 * the AVX-512 options (CMake, by file name); only called when the CPU has them. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#elif defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif
#include "ops/arch/x86/arch.h"
#include "ops/arch/x86/x86-common.h"

static inline int hsum512_i32(__m512i v) { return _mm512_reduce_add_epi32(v); }

/* 64 bytes of activations made of two 32-byte pieces */
static inline __m512i ld2x32(const uint8_t *a, const uint8_t *b)
{
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)a)),
                              _mm256_loadu_si256((const __m256i *)b), 1);
}

/* One Q4_K block against one Q8_K block: exact integer sum of sc*q*y and of m*bsums. */
static inline void q4k_block(const uint8_t *x, const uint8_t *y, int *isum, int *msum)
{
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    uint8_t sc[16];
    x86_k4_scales(x + 4, sc);
    /* int16 scale vectors: lanes 0..15 one sub-block, 16..31 another */
    const __m512i s16 = _mm512_castsi128_si512(_mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)sc)));
    const __m512i i02 = _mm512_set_epi64(0x0002000200020002ll, 0x0002000200020002ll, 0x0002000200020002ll, 0x0002000200020002ll,
                                         0, 0, 0, 0);
    const __m512i k1 = _mm512_set1_epi16(1), k4 = _mm512_set1_epi16(4);
    const __m512i sA = _mm512_permutexvar_epi16(i02, s16);                                  /* sc0 | sc2 */
    const __m512i sB = _mm512_permutexvar_epi16(_mm512_add_epi16(i02, k1), s16);            /* sc1 | sc3 */
    const __m512i sC = _mm512_permutexvar_epi16(_mm512_add_epi16(i02, k4), s16);            /* sc4 | sc6 */
    const __m512i sD = _mm512_permutexvar_epi16(_mm512_add_epi16(i02, _mm512_add_epi16(k4, k1)), s16); /* sc5 | sc7 */
    const __m512i q01 = _mm512_loadu_si512((const void *)(x + 16)), q23 = _mm512_loadu_si512((const void *)(x + 80));
    const uint8_t *ys = y + 4;
    __m512i p0 = _mm512_maddubs_epi16(_mm512_and_si512(q01, m4), ld2x32(ys, ys + 64));
    __m512i p1 = _mm512_maddubs_epi16(_mm512_and_si512(_mm512_srli_epi16(q01, 4), m4), ld2x32(ys + 32, ys + 96));
    __m512i p2 = _mm512_maddubs_epi16(_mm512_and_si512(q23, m4), ld2x32(ys + 128, ys + 192));
    __m512i p3 = _mm512_maddubs_epi16(_mm512_and_si512(_mm512_srli_epi16(q23, 4), m4), ld2x32(ys + 160, ys + 224));
    __m512i acc = _mm512_add_epi32(_mm512_add_epi32(_mm512_madd_epi16(p0, sA), _mm512_madd_epi16(p1, sB)),
                                   _mm512_add_epi32(_mm512_madd_epi16(p2, sC), _mm512_madd_epi16(p3, sD)));
    const __m256i mins = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(_mm_loadl_epi64((const __m128i *)(sc + 8)),
                                                                _mm_loadl_epi64((const __m128i *)(sc + 8))));
    const __m256i summs = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(y + 260)), mins);
    *isum = hsum512_i32(acc);
    *msum = x86_hsum_i32(summs);
}

void x86_avx512_vec_dot_q4_K(int n, float *s, const void *vx, const void *vy)
{
    const uint8_t *x = vx, *y = vy;
    const int nb = n / 256;
    float sumf = 0.0f;
    for (int i = 0; i < nb; i++, x += 144, y += 292) {
        int isum, msum;
        q4k_block(x, y, &isum, &msum);
        const float d = x86_h2f(x86_rd16(x)), dmin = x86_h2f(x86_rd16(x + 2)), yd = x86_rdf32(y);
        sumf += (d * yd) * (float)isum - (dmin * yd) * (float)msum;
    }
    *s = sumf;
}

static inline int q6k_block(const uint8_t *x, const uint8_t *y)
{
    const __m512i m4 = _mm512_set1_epi8(0x0f), m3 = _mm512_set1_epi8(3);
    const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(x + 192)));
    const __m512i s512 = _mm512_castsi256_si512(sc16);
    /* lane i of group vector g holds scale g*4 + i/8 */
    const __m512i base = _mm512_set_epi16(3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0,
                                          0, 0, 0);
    const __m512i k4 = _mm512_set1_epi16(4);
    __m512i acc = _mm512_setzero_si512();
    __m512i idx = base;
    for (int h = 0; h < 2; h++) {
        const __m512i ql = _mm512_loadu_si512((const void *)(x + 64 * h));
        const __m256i qh = _mm256_loadu_si256((const __m256i *)(x + 128 + 32 * h));
        const __m512i qhA = _mm512_inserti64x4(_mm512_castsi256_si512(qh), _mm256_srli_epi16(qh, 2), 1);
        const __m512i qhB = _mm512_srli_epi16(qhA, 4);
        const __m512i qa = _mm512_or_si512(_mm512_and_si512(ql, m4), _mm512_slli_epi16(_mm512_and_si512(qhA, m3), 4));
        const __m512i qb = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4), _mm512_slli_epi16(_mm512_and_si512(qhB, m3), 4));
        const __m512i pa = _mm512_maddubs_epi16(qa, _mm512_loadu_si512((const void *)(y + 4 + 128 * h)));
        const __m512i pb = _mm512_maddubs_epi16(qb, _mm512_loadu_si512((const void *)(y + 68 + 128 * h)));
        acc = _mm512_add_epi32(acc, _mm512_madd_epi16(pa, _mm512_permutexvar_epi16(idx, s512)));
        idx = _mm512_add_epi16(idx, k4);
        acc = _mm512_add_epi32(acc, _mm512_madd_epi16(pb, _mm512_permutexvar_epi16(idx, s512)));
        idx = _mm512_add_epi16(idx, k4);
    }
    const __m256i corr = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(y + 260)), sc16);
    return hsum512_i32(acc) - 32 * x86_hsum_i32(corr);
}

void x86_avx512_vec_dot_q6_K(int n, float *s, const void *vx, const void *vy)
{
    const uint8_t *x = vx, *y = vy;
    const int nb = n / 256;
    float sumf = 0.0f;
    for (int i = 0; i < nb; i++, x += 210, y += 292) {
        const int isum = q6k_block(x, y);
        const float d = x86_h2f(x86_rd16(x + 208)), yd = x86_rdf32(y);
        sumf += (d * yd) * (float)isum;
    }
    *s = sumf;
}

/* two Q8_0 blocks per 64-byte vector: |x| (unsigned) times y with x's sign, summed by VNNI */
void x86_avx512_vec_dot_q8_0(int n, float *s, const void *vx, const void *vy)
{
    const uint8_t *x = vx, *y = vy;
    const int nb = n / 32;
    __m512 acc = _mm512_setzero_ps();
    int i = 0;
    for (; i + 1 < nb; i += 2, x += 68, y += 68) {
        const __m512i xq = ld2x32(x + 2, x + 36), yq = ld2x32(y + 2, y + 36);
        const __mmask64 neg = _mm512_movepi8_mask(xq);
        const __m512i ax = _mm512_abs_epi8(xq);
        const __m512i sy = _mm512_mask_sub_epi8(yq, neg, _mm512_setzero_si512(), yq);
        const __m512i dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), ax, sy);
        const float d0 = x86_h2f(x86_rd16(x)) * x86_h2f(x86_rd16(y)), d1 = x86_h2f(x86_rd16(x + 34)) * x86_h2f(x86_rd16(y + 34));
        const __m512 dv = _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_set1_ps(d0)), _mm256_set1_ps(d1), 1);
        acc = _mm512_fmadd_ps(dv, _mm512_cvtepi32_ps(dot), acc);
    }
    float sum = _mm512_reduce_add_ps(acc);
    if (i < nb) {
        float t;
        x86_avx2_vec_dot_q8_0(32, &t, x, y);
        sum += t;
    }
    *s = sum;
}
