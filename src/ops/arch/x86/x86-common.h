/* x86-common.h - small inline helpers shared by the AVX2 and AVX-512 kernel files (included only
 * from files compiled with at least -mavx2 -mfma -mf16c). */
#ifndef MEDGE_OPS_ARCH_X86_COMMON_H
#define MEDGE_OPS_ARCH_X86_COMMON_H
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

static inline uint16_t x86_rd16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

static inline float x86_rdf32(const uint8_t *p)
{
    float v;
    memcpy(&v, p, 4);
    return v;
}

static inline float x86_h2f(uint16_t h) { return _cvtsh_ss(h); }

static inline __m256 x86_ld_f16(const uint16_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }

static inline int x86_hsum_i32(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

/* Both horizontal sums at once. */
static inline void x86_hsum2_i32(__m256i a, __m256i b, int *sa, int *sb)
{
    __m256i t = _mm256_hadd_epi32(a, b); /* a01 a23 b01 b23 | a45 a67 b45 b67 */
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
    s = _mm_hadd_epi32(s, s); /* A B A B */
    *sa = _mm_cvtsi128_si32(s);
    *sb = _mm_extract_epi32(s, 1);
}

static inline float x86_hsum_f32(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline float x86_hmax_f32(__m256 v)
{
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Q4_K / Q5_K 6-bit scales and mins: sc[0..7] = scales, sc[8..15] = mins (get_scale_min_k4). */
static inline void x86_k4_scales(const uint8_t *s12, uint8_t sc[16])
{
    uint32_t u0, u1, u2;
    memcpy(&u0, s12, 4);
    memcpy(&u1, s12 + 4, 4);
    memcpy(&u2, s12 + 8, 4);
    const uint32_t a0 = u0 & 0x3f3f3f3fu;
    const uint32_t a1 = (u2 & 0x0f0f0f0fu) | (((u0 >> 6) & 0x03030303u) << 4);
    const uint32_t b0 = u1 & 0x3f3f3f3fu;
    const uint32_t b1 = ((u2 >> 4) & 0x0f0f0f0fu) | (((u1 >> 6) & 0x03030303u) << 4);
    memcpy(sc, &a0, 4);
    memcpy(sc + 4, &a1, 4);
    memcpy(sc + 8, &b0, 4);
    memcpy(sc + 12, &b1, 4);
}
#endif
