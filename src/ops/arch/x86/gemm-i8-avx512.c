/* gemm-i8-avx512.c - I8_PC products (ops/gemm-i8.h) on AVX-512 F/BW/VL + VNNI.
 *
 * Panel of 16 * V weight rows: [n/4][V][16] dwords, each the 4 codes of one row at k..k+3 stored
 * as unsigned bytes (code + 128), then the V x 16 row scales as floats. Activations in groups of
 * TG tokens: TG floats d, TG int32 code sums (128 bytes), then [n/4][TG] dwords (4 codes of each
 * token), so the tile reads every broadcast at a constant offset from one pointer. The tile keeps
 * V x TG int32 accumulators (one lane per row); per 4 elements it loads V weight vectors and, per
 * token, broadcasts 4 activation bytes into vpdpbusd. There is no per-block float work at all: the sum of
 * a whole row stays in int32 (exact: |sum| <= n * 255 * 127 < 2^31 for n < 66000), starting at
 * -128 * sum(activation codes) to remove the +128 of the weights, and one rescale
 * (float)sum * (dw * da) ends it, the same operations as quant_i8pc_dot, so every output equals
 * the reference bit for bit. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#elif defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif
#include "ops/arch/x86/x86-common.h"
#include "ops/gemm-i8.h"
#include "quant/i8pc.h"

#include <math.h>

#define INLINE static inline __attribute__((always_inline))
#define V 2   /* weight vectors (16 rows each) per panel */
#define TG 12 /* tokens per register tile and per activation group */
#define ROWS (16 * V)
#define GHDR 128 /* group header: TG floats + TG int32, padded */
_Static_assert(TG * 8 <= GHDR, "group header");

typedef int32_t i32_u __attribute__((may_alias, aligned(1)));

static size_t panel_bytes(int n) { return (size_t)n / 4 * V * 64 + V * 64; }

static void pack_w(int n, int nr, const void *w, size_t ws, void *panel)
{
    ops_i8_pack_dwords(n, nr, w, ws, panel, ROWS, 0x80808080u);
}

static size_t act_bytes(int n, int nt) { return ops_i8_group_bytes(n, TG, GHDR) * (size_t)((nt + TG - 1) / TG); }

/* one row into slot j of its group (quant_i8pc_quantize_act's codes, d and sum) */
static void quantize_row(const float *x, int n, uint8_t *g, int j)
{
    __m512 m = _mm512_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16)
        m = _mm512_max_ps(m, _mm512_abs_ps(_mm512_loadu_ps(x + i)));
    float amax = _mm512_reduce_max_ps(m);
    for (; i < n; i++)
        amax = fabsf(x[i]) > amax ? fabsf(x[i]) : amax;
    const float d = amax / 127.0f, id = amax > 0 ? 127.0f / amax : 0.0f;
    uint8_t *q = g + GHDR + 4 * (size_t)j;
    const __m512 vid = _mm512_set1_ps(id);
    const __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127);
    __m512i s = _mm512_setzero_si512();
    for (i = 0; i + 16 <= n; i += 16) {
        __m512i v = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(x + i), vid)); /* half to even */
        v = _mm512_min_epi32(_mm512_max_epi32(v, lo), hi);
        s = _mm512_add_epi32(s, v);
        const __m128i b = _mm512_cvtepi32_epi8(v);
        uint8_t *o = q + (size_t)(i / 4) * TG * 4;
        _mm_storeu_si32(o, b);
        _mm_storeu_si32(o + TG * 4, _mm_srli_si128(b, 4));
        _mm_storeu_si32(o + 2 * TG * 4, _mm_srli_si128(b, 8));
        _mm_storeu_si32(o + 3 * TG * 4, _mm_srli_si128(b, 12));
    }
    const int32_t sum = _mm512_reduce_add_epi32(s) + ops_i8_group_codes(x, i, n, id, g, TG, GHDR, j);
    ops_i8_group_set(g, TG, j, d, sum);
}

static void quantize_act(const float *x, size_t ldx, int n, int t0, int t1, void *act)
{
    ops_i8_quantize_groups(x, ldx, n, t0, t1, act, TG, GHDR, quantize_row);
}

/* One group of TG = 12 tokens (T <= TG of them stored) x 32 rows, every accumulator a named
 * variable (GCC spills arrays of vectors in this loop). Unused slots of a partial group hold zero
 * codes and are computed but not stored. */
#define ALL12(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11)
#define DECL(t) __m512i c##t##0 = _mm512_set1_epi32(-128 * *(const i32_u *)(g + 4 * TG + 4 * t)), c##t##1 = c##t##0;
#define STEP(t)                                                                                                        \
    {                                                                                                                  \
        const __m512i b = _mm512_set1_epi32(*(const i32_u *)(A + 4 * t));                                              \
        c##t##0 = _mm512_dpbusd_epi32(c##t##0, w0, b);                                                                 \
        c##t##1 = _mm512_dpbusd_epi32(c##t##1, w1, b);                                                                 \
    }
#define STORE(t)                                                                                                       \
    if (t < T)                                                                                                         \
        store_t(c##t##0, c##t##1, D, x86_rdf32(g + 4 * t), y + (size_t)t * ys, nr);

static inline void store_t(__m512i c0, __m512i c1, const float *D, float da_s, float *y, int nr)
{
    const __m512 da = _mm512_set1_ps(da_s);
    const __m512 o0 = _mm512_mul_ps(_mm512_cvtepi32_ps(c0), _mm512_mul_ps(_mm512_load_ps(D), da));
    const __m512 o1 = _mm512_mul_ps(_mm512_cvtepi32_ps(c1), _mm512_mul_ps(_mm512_load_ps(D + 16), da));
    if (nr >= 32) {
        _mm512_storeu_ps(y, o0);
        _mm512_storeu_ps(y + 16, o1);
    } else if (nr > 16) {
        _mm512_storeu_ps(y, o0);
        _mm512_mask_storeu_ps(y + 16, (__mmask16)((1u << (nr - 16)) - 1), o1);
    } else {
        _mm512_mask_storeu_ps(y, (__mmask16)((1u << nr) - 1), o0);
    }
}

static void tile_g(int T, int nk, const uint8_t *P, const uint8_t *g, float *y, size_t ys, int nr)
{
    ALL12(DECL)
    const __m512i *W = (const __m512i *)P;
    const uint8_t *A = g + GHDR;
    for (int k = 0; k < nk; k++, W += 2, A += 4 * TG) {
        const __m512i w0 = _mm512_load_si512(W), w1 = _mm512_load_si512(W + 1);
        ALL12(STEP)
    }
    const float *D = (const float *)W;
    ALL12(STORE)
}

static void tile(int n, int nr, int nt, const void *panel, const void *act, float *y, size_t ys)
{
    ops_i8_tile_groups(n, nr, nt, panel, act, y, ys, TG, GHDR, tile_g);
}

const ops_i8_gemm x86_avx512_i8_gemm = {"avx512-vnni", ROWS, panel_bytes, pack_w, act_bytes, TG, quantize_act, tile};
