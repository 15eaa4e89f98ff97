/* gemm-i8-avx2.c - I8_PC products (ops/gemm-i8.h) on AVX2, for x86 CPUs without AVX-512 VNNI
 * (most laptops). Panel of 8 weight rows: [n/4][8] dwords (4 signed codes of each row), then the 8
 * row scales. Activations in groups of 8 tokens: 8 floats d, 8 int32 code sums (64 bytes), then
 * [n/4][8] dwords. Per 4 elements: |w| (one vpsignb) times the token's codes with the weight's signs
 * (vpsignb), pairs summed by vpmaddubsw (|w| <= 127 and |a| <= 127: 2 * 127 * 127 fits int16, no
 * saturation), then vpmaddwd into int32 accumulators: the exact integer sum of quant_i8pc_dot, and
 * the same float rescale (float)sum * (dw * da), so every output equals the reference bit for bit. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#elif defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif
#include "ops/arch/x86/x86-common.h"
#include "ops/gemm-i8.h"
#include "quant/i8pc.h"

#include <math.h>

#define R 8  /* rows per panel (one ymm of dwords) */
#define TG 8 /* tokens per group */
#define GHDR 64

typedef int32_t i32_u __attribute__((may_alias, aligned(1)));

static size_t panel_bytes(int n) { return ((size_t)n / 4 * R * 4 + R * 4 + 63) / 64 * 64; }

static void pack_w(int n, int nr, const void *w, size_t ws, void *panel)
{
    ops_i8_pack_dwords(n, nr, w, ws, panel, R, 0);
}

static size_t act_bytes(int n, int nt) { return ops_i8_group_bytes(n, TG, GHDR) * (size_t)((nt + TG - 1) / TG); }

/* one row into slot j of its group (quant_i8pc_quantize_act's codes, d and sum) */
static void quantize_row(const float *x, int n, uint8_t *g, int j)
{
    const __m256 sm = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 m = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= n; i += 8)
        m = _mm256_max_ps(m, _mm256_and_ps(_mm256_loadu_ps(x + i), sm));
    float amax = x86_hmax_f32(m);
    for (; i < n; i++)
        amax = fabsf(x[i]) > amax ? fabsf(x[i]) : amax;
    const float d = amax / 127.0f, id = amax > 0 ? 127.0f / amax : 0.0f;
    ops_i8_group_set(g, TG, j, d, ops_i8_group_codes(x, 0, n, id, g, TG, GHDR, j));
}

static void quantize_act(const float *x, size_t ldx, int n, int t0, int t1, void *act)
{
    ops_i8_quantize_groups(x, ldx, n, t0, t1, act, TG, GHDR, quantize_row);
}

#define ALL8(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7)
#define DECL(t) __m256i c##t = _mm256_setzero_si256();
#define STEP(t)                                                                                                        \
    {                                                                                                                  \
        const __m256i b = _mm256_sign_epi8(_mm256_set1_epi32(*(const i32_u *)(A + 4 * t)), w);                         \
        c##t = _mm256_add_epi32(c##t, _mm256_madd_epi16(_mm256_maddubs_epi16(aw, b), ones));                          \
    }
#define STORE(t)                                                                                                       \
    if (t < T) {                                                                                                       \
        const __m256 o = _mm256_mul_ps(_mm256_cvtepi32_ps(c##t), _mm256_mul_ps(Dv, _mm256_set1_ps(x86_rdf32(g + 4 * t)))); \
        if (nr >= R)                                                                                                   \
            _mm256_storeu_ps(y + (size_t)t * ys, o);                                                                   \
        else                                                                                                           \
            _mm256_maskstore_ps(y + (size_t)t * ys, mask, o);                                                          \
    }

static void tile_g(int T, int nk, const uint8_t *P, const uint8_t *g, float *y, size_t ys, int nr)
{
    ALL8(DECL)
    const __m256i ones = _mm256_set1_epi16(1);
    const __m256i *W = (const __m256i *)P;
    const uint8_t *A = g + GHDR;
    for (int k = 0; k < nk; k++, W++, A += 4 * TG) {
        const __m256i w = _mm256_load_si256(W), aw = _mm256_sign_epi8(w, w);
        ALL8(STEP)
    }
    const __m256 Dv = _mm256_load_ps((const float *)W);
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(nr), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    ALL8(STORE)
}

static void tile(int n, int nr, int nt, const void *panel, const void *act, float *y, size_t ys)
{
    ops_i8_tile_groups(n, nr, nt, panel, act, y, ys, TG, GHDR, tile_g);
}

const ops_i8_gemm x86_avx2_i8_gemm = {"avx2", R, panel_bytes, pack_w, act_bytes, TG, quantize_act, tile};
