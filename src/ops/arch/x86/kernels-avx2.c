/* kernels-avx2.c - AVX2 + FMA + F16C kernels: quantized dot products against int8 activations
 * (maddubs/madd on 32-byte vectors), float dot products, activation quantizers. Compiled with
 * -mavx2 -mfma -mf16c (CMake, by file name); only called when the CPU has them.
 *
 * Block layouts (bytes): Q4_K = d, dmin (fp16), scales[12], qs[128]; Q5_K = d, dmin, scales[12],
 * qh[32], qs[128]; Q6_K = ql[128], qh[64], scales[16] (int8), d; Q8_K = d (f32), qs[256],
 * bsums[16] (int16); Q8_0 = d, qs[32]; Q4_0 = d, qs[16]. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#elif defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif
#include "ops/arch/x86/arch.h"
#include "ops/arch/x86/x86-common.h"

/* ---- quantized dot products: exact integer sums, float order of the contract (ops/kernels.h) ---- */

/* hsum8 of the contract: ((a0+a4) + (a2+a6)) + ((a1+a5) + (a3+a7)) */
static inline float hsum8(__m256 v) { return x86_hsum_f32(v); }

/* Q4_K (pairs): per pair of sub-blocks, the scaled integer sum and the mins sum, each fused into
 * its own running float sum. */
void x86_avx2_vec_dot_q4_K(int n, float *s, const void *vx, const void *vy)
{
    const uint8_t *x = vx, *y = vy;
    const int nb = n / 256;
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    __m128 acc = _mm_setzero_ps(), accm = _mm_setzero_ps();
    for (int i = 0; i < nb; i++, x += 144, y += 292) {
        const float yd = x86_rdf32(y);
        const __m128 dd = _mm_set_ss(x86_h2f(x86_rd16(x)) * yd), dm = _mm_set_ss(x86_h2f(x86_rd16(x + 2)) * yd);
        uint8_t sc[16];
        x86_k4_scales(x + 4, sc);
        const __m256i mins = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(_mm_loadl_epi64((const __m128i *)(sc + 8)),
                                                                    _mm_loadl_epi64((const __m128i *)(sc + 8))));
        /* lane j: m_j * (bsums[2j] + bsums[2j+1]); hadd: pair p at element (p & 1) of lane p >> 1 */
        const __m256i mj = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(y + 260)), mins);
        const __m256i mp = _mm256_hadd_epi32(mj, mj);
        __m256i pr[4];
        for (int c = 0; c < 4; c++) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(x + 16 + 32 * c));
            const __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
            __m256i plo = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)(y + 4 + 64 * c)));
            __m256i phi = _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(y + 36 + 64 * c)));
            plo = _mm256_madd_epi16(plo, _mm256_set1_epi16(sc[2 * c]));
            phi = _mm256_madd_epi16(phi, _mm256_set1_epi16(sc[2 * c + 1]));
            pr[c] = _mm256_add_epi32(plo, phi);
        }
        const __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(pr[0], pr[1]), _mm256_hadd_epi32(pr[2], pr[3]));
        const __m128i is = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1)); /* pairs 0..3 */
        float fi[4], fm[4];
        _mm_storeu_ps(fi, _mm_cvtepi32_ps(is));
        _mm_storeu_ps(fm, _mm_cvtepi32_ps(_mm_unpacklo_epi64(_mm256_castsi256_si128(mp), _mm256_extracti128_si256(mp, 1))));
        for (int p = 0; p < 4; p++) {
            acc = _mm_fmadd_ss(_mm_set_ss(fi[p]), dd, acc);
            accm = _mm_fmadd_ss(_mm_set_ss(fm[p]), dm, accm);
        }
    }
    *s = _mm_cvtss_f32(_mm_sub_ss(acc, accm));
}

/* Q5_K (lanes8): int32 lane k = sum over sub-blocks of sc * (codes . activations of elements
 * 4k..4k+3); mins in a scalar running sum. */
void x86_avx2_vec_dot_q5_K(int n, float *s, const void *vx, const void *vy)
{
    const uint8_t *x = vx, *y = vy;
    const int nb = n / 256;
    const __m256i m4 = _mm256_set1_epi8(0x0f), b16 = _mm256_set1_epi8(16);
    __m256 accf = _mm256_setzero_ps();
    __m128 summs = _mm_setzero_ps();
    for (int i = 0; i < nb; i++, x += 176, y += 292) {
        const float yd = x86_rdf32(y);
        const float d = yd * x86_h2f(x86_rd16(x)), dmin = -yd * x86_h2f(x86_rd16(x + 2));
        uint8_t sc[16];
        x86_k4_scales(x + 4, sc);
        const __m256i mins = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(_mm_loadl_epi64((const __m128i *)(sc + 8)),
                                                                    _mm_loadl_epi64((const __m128i *)(sc + 8))));
        const int msum = x86_hsum_i32(_mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(y + 260)), mins));
        const __m256i qh = _mm256_loadu_si256((const __m256i *)(x + 16));
        __m256i acc = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(x + 48 + 32 * c));
            const __m256i ml = _mm256_set1_epi8((char)(1 << (2 * c))), mh = _mm256_set1_epi8((char)(2 << (2 * c)));
            __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
            lo = _mm256_or_si256(lo, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, ml), ml), b16));
            hi = _mm256_or_si256(hi, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, mh), mh), b16));
            __m256i plo = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)(y + 4 + 64 * c)));
            __m256i phi = _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(y + 36 + 64 * c)));
            plo = _mm256_madd_epi16(plo, _mm256_set1_epi16(sc[2 * c]));
            phi = _mm256_madd_epi16(phi, _mm256_set1_epi16(sc[2 * c + 1]));
            acc = _mm256_add_epi32(acc, _mm256_add_epi32(plo, phi));
        }
        accf = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(acc), accf);
        summs = _mm_fmadd_ss(_mm_set_ss(dmin), _mm_cvtsi32_ss(_mm_setzero_ps(), msum), summs);
    }
    *s = hsum8(accf) + _mm_cvtss_f32(summs);
}

/* Q6_K (lanes8, offset per lane): the unsigned codes (0..63) go through maddubs; lane k then loses
 * 32 * (sc[2k] * bsums[2k] + sc[2k+1] * bsums[2k+1]). */
void x86_avx2_vec_dot_q6_K(int n, float *s, const void *vx, const void *vy)
{
    const uint8_t *x = vx, *y = vy;
    const int nb = n / 256;
    const __m256i m4 = _mm256_set1_epi8(0x0f), m3 = _mm256_set1_epi8(3);
    const __m256i shuf[4] = {
        _mm256_set_epi8(3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0),
        _mm256_set_epi8(7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4),
        _mm256_set_epi8(11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8,
                        9, 8),
        _mm256_set_epi8(15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12,
                        13, 12, 13, 12, 13, 12),
    };
    __m256 accf = _mm256_setzero_ps();
    for (int i = 0; i < nb; i++, x += 210, y += 292) {
        const float d = x86_rdf32(y) * x86_h2f(x86_rd16(x + 208));
        const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(x + 192)));
        const __m256i corr = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(y + 260)), sc16);
        __m256i acc = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const __m256i scb = _mm256_broadcastsi128_si256(h ? _mm256_extracti128_si256(sc16, 1) : _mm256_castsi256_si128(sc16));
            const __m256i ql0 = _mm256_loadu_si256((const __m256i *)(x + 64 * h));
            const __m256i ql1 = _mm256_loadu_si256((const __m256i *)(x + 64 * h + 32));
            const __m256i qh = _mm256_loadu_si256((const __m256i *)(x + 128 + 32 * h));
            __m256i q[4];
            q[0] = _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_slli_epi16(_mm256_and_si256(qh, m3), 4));
            q[1] = _mm256_or_si256(_mm256_and_si256(ql1, m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m3), 4));
            q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m3), 4));
            q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m3), 4));
            for (int k = 0; k < 4; k++) {
                __m256i p = _mm256_maddubs_epi16(q[k], _mm256_loadu_si256((const __m256i *)(y + 4 + 128 * h + 32 * k)));
                acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, _mm256_shuffle_epi8(scb, shuf[k])));
            }
        }
        acc = _mm256_sub_epi32(acc, _mm256_slli_epi32(corr, 5));
        accf = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(acc), accf);
    }
    *s = hsum8(accf);
}

/* ---- 32-blocks ---- */

/* int32 lane k = x . y over bytes 4k..4k+3 */
static inline __m256i dot_i8_32(__m256i xq, __m256i yq)
{
    const __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(xq, xq), _mm256_sign_epi8(yq, xq));
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

/* Q8_0 (lanes8): one 8-lane accumulator over the blocks in order */
void x86_avx2_vec_dot_q8_0(int n, float *s, const void *vx, const void *vy)
{
    const uint8_t *x = vx, *y = vy;
    const int nb = n / 32;
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < nb; i++, x += 34, y += 34) {
        const __m256 d = _mm256_set1_ps(x86_h2f(x86_rd16(x)) * x86_h2f(x86_rd16(y)));
        const __m256i p = dot_i8_32(_mm256_loadu_si256((const __m256i *)(x + 2)), _mm256_loadu_si256((const __m256i *)(y + 2)));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc);
    }
    *s = hsum8(acc);
}

static inline __m256i unpack_q4_0(const uint8_t *qs)
{
    const __m128i q = _mm_loadu_si128((const __m128i *)qs);
    const __m128i m4 = _mm_set1_epi8(0x0f), e8 = _mm_set1_epi8(8);
    const __m128i lo = _mm_sub_epi8(_mm_and_si128(q, m4), e8), hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(q, 4), m4), e8);
    return _mm256_set_m128i(hi, lo);
}

/* Q4_0 (seq): the block's exact integer sum fused into one running float sum */
void x86_avx2_vec_dot_q4_0(int n, float *s, const void *vx, const void *vy)
{
    const uint8_t *x = vx, *y = vy;
    const int nb = n / 32;
    __m128 acc = _mm_setzero_ps();
    for (int i = 0; i < nb; i++, x += 18, y += 34) {
        const float d = x86_h2f(x86_rd16(x)) * x86_h2f(x86_rd16(y));
        const int isum = x86_hsum_i32(dot_i8_32(unpack_q4_0(x + 2), _mm256_loadu_si256((const __m256i *)(y + 2))));
        acc = _mm_fmadd_ss(_mm_cvtsi32_ss(_mm_setzero_ps(), isum), _mm_set_ss(d), acc);
    }
    *s = _mm_cvtss_f32(acc);
}

/* ---- float rows ---- */

void x86_avx2_vec_dot_f16(int n, float *s, const void *vx, const void *vy)
{
    const uint16_t *x = vx, *y = vy;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(x86_ld_f16(x + i), x86_ld_f16(y + i), a0);
        a1 = _mm256_fmadd_ps(x86_ld_f16(x + i + 8), x86_ld_f16(y + i + 8), a1);
        a2 = _mm256_fmadd_ps(x86_ld_f16(x + i + 16), x86_ld_f16(y + i + 16), a2);
        a3 = _mm256_fmadd_ps(x86_ld_f16(x + i + 24), x86_ld_f16(y + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8)
        a0 = _mm256_fmadd_ps(x86_ld_f16(x + i), x86_ld_f16(y + i), a0);
    float sum = x86_hsum_f32(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < n; i++)
        sum += x86_h2f(x[i]) * x86_h2f(y[i]);
    *s = sum;
}

static inline __m256 ld_bf16(const uint16_t *p)
{
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
}

void x86_avx2_vec_dot_bf16(int n, float *s, const void *vx, const void *vy)
{
    const uint16_t *x = vx, *y = vy;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(ld_bf16(x + i), ld_bf16(y + i), a0);
        a1 = _mm256_fmadd_ps(ld_bf16(x + i + 8), ld_bf16(y + i + 8), a1);
        a2 = _mm256_fmadd_ps(ld_bf16(x + i + 16), ld_bf16(y + i + 16), a2);
        a3 = _mm256_fmadd_ps(ld_bf16(x + i + 24), ld_bf16(y + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8)
        a0 = _mm256_fmadd_ps(ld_bf16(x + i), ld_bf16(y + i), a0);
    float sum = x86_hsum_f32(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < n; i++) {
        uint32_t a = (uint32_t)x[i] << 16, b = (uint32_t)y[i] << 16;
        float fa, fb;
        memcpy(&fa, &a, 4);
        memcpy(&fb, &b, 4);
        sum += fa * fb;
    }
    *s = sum;
}

void x86_avx2_vec_dot_f32(int n, float *s, const void *vx, const void *vy)
{
    const float *x = vx, *y = vy;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16), _mm256_loadu_ps(y + i + 16), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24), _mm256_loadu_ps(y + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8)
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
    float sum = x86_hsum_f32(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < n; i++)
        sum += x[i] * y[i];
    *s = sum;
}

/* ---- activation quantizers (bytes identical to the reference) ---- */

void x86_avx2_quantize_q8_K(const float *x, void *vy, int64_t n)
{
    uint8_t *y = vy;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t b = 0; b < n / 256; b++, x += 256, y += 292) {
        __m256 mx = _mm256_setzero_ps();
        for (int j = 0; j < 256; j += 8)
            mx = _mm256_max_ps(mx, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + j)));
        const float amax = x86_hmax_f32(mx);
        if (amax == 0.0f) {
            memset(y, 0, 292);
            continue;
        }
        /* the reference keeps the sign of the first element of largest magnitude */
        float max = amax;
        const __m256 va = _mm256_set1_ps(amax);
        for (int j = 0; j < 256; j += 8) {
            int m = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + j)), va, _CMP_EQ_OQ));
            if (m) {
                max = x[j + __builtin_ctz((unsigned)m)];
                break;
            }
        }
        const float iscale = -127.0f / max;
        const __m256 vs = _mm256_set1_ps(iscale);
        const __m256i c127 = _mm256_set1_epi32(127), perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
        int8_t *qs = (int8_t *)(y + 4);
        for (int j = 0; j < 256; j += 32) {
            __m256i v0 = _mm256_min_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + j), vs)), c127);
            __m256i v1 = _mm256_min_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + j + 8), vs)), c127);
            __m256i v2 = _mm256_min_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + j + 16), vs)), c127);
            __m256i v3 = _mm256_min_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + j + 24), vs)), c127);
            __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(v0, v1), _mm256_packs_epi32(v2, v3));
            _mm256_storeu_si256((__m256i *)(qs + j), _mm256_permutevar8x32_epi32(p, perm));
        }
        for (int g = 0; g < 16; g++) {
            const __m256i w = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(qs + 16 * g)));
            const __m256i s32 = _mm256_madd_epi16(w, _mm256_set1_epi16(1));
            int16_t bs = (int16_t)x86_hsum_i32(s32);
            memcpy(y + 260 + 2 * g, &bs, 2);
        }
        const float d = 1.0f / iscale;
        memcpy(y, &d, 4);
    }
}

/* ggml's x86 Q8_0 activation quantizer: d = amax / 127, codes rint(x * 127 / amax). */
void x86_avx2_quantize_q8_0(const float *x, void *vy, int64_t n)
{
    uint8_t *y = vy;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (int64_t b = 0; b < n / 32; b++, x += 32, y += 34) {
        const __m256 x0 = _mm256_loadu_ps(x), x1 = _mm256_loadu_ps(x + 8), x2 = _mm256_loadu_ps(x + 16), x3 = _mm256_loadu_ps(x + 24);
        __m256 mx = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, x0), _mm256_andnot_ps(sign, x1)),
                                  _mm256_max_ps(_mm256_andnot_ps(sign, x2), _mm256_andnot_ps(sign, x3)));
        const float amax = x86_hmax_f32(mx);
        const float d = amax / 127.0f, id = amax != 0.0f ? 127.0f / amax : 0.0f;
        const uint16_t dh = (uint16_t)_cvtss_sh(d, 0);
        memcpy(y, &dh, 2);
        const __m256 vid = _mm256_set1_ps(id);
        __m256i v0 = _mm256_cvtps_epi32(_mm256_mul_ps(x0, vid)), v1 = _mm256_cvtps_epi32(_mm256_mul_ps(x1, vid));
        __m256i v2 = _mm256_cvtps_epi32(_mm256_mul_ps(x2, vid)), v3 = _mm256_cvtps_epi32(_mm256_mul_ps(x3, vid));
        __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(v0, v1), _mm256_packs_epi32(v2, v3));
        _mm256_storeu_si256((__m256i *)(y + 2), _mm256_permutevar8x32_epi32(p, perm));
    }
}

void x86_avx2_fp32_to_fp16_row(const float *x, uint16_t *y, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), 0));
    for (; i < n; i++)
        y[i] = (uint16_t)_cvtss_sh(x[i], 0);
}

void x86_avx2_quantize_f16(const float *x, void *y, int64_t n) { x86_avx2_fp32_to_fp16_row(x, y, n); }

void x86_avx2_fp16_to_fp32_row(const uint16_t *x, float *y, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, x86_ld_f16(x + i));
    for (; i < n; i++)
        y[i] = x86_h2f(x[i]);
}

void x86_avx2_mad_f16(int n, float *y, float a, const void *vx)
{
    const uint16_t *x = vx;
    const __m256 va = _mm256_set1_ps(a);
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, x86_ld_f16(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++)
        y[i] += a * x86_h2f(x[i]);
}

void x86_avx2_mad_f32(int n, float *y, float a, const void *vx)
{
    const float *x = vx;
    const __m256 va = _mm256_set1_ps(a);
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++)
        y[i] += a * x[i];
}
