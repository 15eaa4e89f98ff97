/* elem-avx512.c - elementwise ops of the kernel table (ops/kernels.h) with AVX-512 F/BW/VL, equal
 * bit for bit to the portable versions in ops/kernels.c:
 *  - geglu: ggml's fp16 GELU table, indexed by the fp16 rounding of the gate (vcvtps2ph rounds to
 *    nearest even like medge_fp32_to_fp16), read with a gather, widened exactly (vcvtph2ps). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#elif defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif
#include "ops/arch/x86/arch.h"
#include "ops/arch/x86/x86-common.h"

/* g = gelu_tanh(g) * u: 0 for g <= -10, g * u for g >= 10 (and NaN), table * u between */
static inline __m512 geglu16(__m512 x, __m512 u)
{
    const __mmask16 lo = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-10.0f), _CMP_LE_OQ);
    const __mmask16 mid = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-10.0f), _CMP_GT_OQ) &
                          _mm512_cmp_ps_mask(x, _mm512_set1_ps(10.0f), _CMP_LT_OQ);
    const __m512i h = _mm512_cvtepu16_epi32(_mm512_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    /* 4 bytes at entry h (the entry and its neighbour; h < 0xffff for |x| < 10, so in bounds) */
    const __m512i t = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), mid, h, ops_gelu_fp16_table, 2);
    const __m512 gl = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(t));
    __m512 r = _mm512_mask_blend_ps(mid, x, gl);
    r = _mm512_mul_ps(r, u);
    return _mm512_mask_blend_ps(lo, r, _mm512_setzero_ps());
}

void x86_avx512_geglu(int n, float *g, const float *u)
{
    int i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(g + i, geglu16(_mm512_loadu_ps(g + i), _mm512_loadu_ps(u + i)));
    if (i < n) {
        const __mmask16 k = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(g + i, k, geglu16(_mm512_maskz_loadu_ps(k, g + i), _mm512_maskz_loadu_ps(k, u + i)));
    }
}
