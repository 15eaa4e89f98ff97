/* gemm-avx2.c - GEMM tiles (ops_gemm_kernel of ops/kernels.h) for F32, F16, BF16 and Q8_0
 * weights on CPUs with AVX2 + FMA + F16C but not AVX-512 (gemm-avx512.c replaces them there).
 * The weight rows are read in place (no repack): a block of up to 4 weight rows x 2 activation
 * rows is loaded once per step of K and multiplied into 8 vector accumulators, so each weight
 * row is read once per 2 tokens instead of once per token and the loads are shared.
 *
 * Numerics: the float tiles accumulate the same products as the reference vec_dot (F16 and BF16
 * values converted exactly to float) in another summation order. The Q8_0 tile follows the
 * contract's "lanes8" order (ops/kernels.h): per 32-block the exact 4-element integer sums of the
 * 8 lanes are converted and fused with (weight scale * activation scale) into 8 float lanes,
 * added in the contract's tree at the end, so it equals the reference bit for bit. */
#include "ops/arch/x86/arch.h"
#include "ops/arch/x86/x86-common.h"

#define GEMM_R 4
#define GEMM_T 2

static inline __m256 ld_f32(const void *p, int k) { return _mm256_loadu_ps((const float *)p + k); }
static inline __m256 ld_f16(const void *p, int k) { return x86_ld_f16((const uint16_t *)p + k); }
static inline __m256 ld_bf16(const void *p, int k)
{
    __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)p + k));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}
static inline float sc_f32(const void *p, int k) { return ((const float *)p)[k]; }
static inline float sc_f16(const void *p, int k)
{
    uint16_t h;
    memcpy(&h, (const uint16_t *)p + k, 2);
    return x86_h2f(h);
}
static inline float sc_bf16(const void *p, int k)
{
    uint16_t h;
    memcpy(&h, (const uint16_t *)p + k, 2);
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* One R x T block of a float-type tile (R, T compile-time constants after inlining). */
#define FLOAT_BLOCK(NAME, LD, SC)                                                                              \
    static inline __attribute__((always_inline)) void NAME(int n, int R, int T, const uint8_t *w, size_t ws,  \
                                                           const uint8_t *a, size_t as, float *y, size_t ys)  \
    {                                                                                                          \
        __m256 acc[GEMM_R][GEMM_T];                                                                            \
        for (int r = 0; r < R; r++)                                                                            \
            for (int t = 0; t < T; t++)                                                                        \
                acc[r][t] = _mm256_setzero_ps();                                                               \
        int k = 0;                                                                                             \
        for (; k + 8 <= n; k += 8) {                                                                           \
            __m256 av[GEMM_T];                                                                                 \
            for (int t = 0; t < T; t++)                                                                        \
                av[t] = LD(a + (size_t)t * as, k);                                                             \
            for (int r = 0; r < R; r++) {                                                                      \
                const __m256 wv = LD(w + (size_t)r * ws, k);                                                   \
                for (int t = 0; t < T; t++)                                                                    \
                    acc[r][t] = _mm256_fmadd_ps(wv, av[t], acc[r][t]);                                         \
            }                                                                                                  \
        }                                                                                                      \
        for (int r = 0; r < R; r++)                                                                            \
            for (int t = 0; t < T; t++) {                                                                      \
                float s = x86_hsum_f32(acc[r][t]);                                                             \
                for (int kk = k; kk < n; kk++)                                                                 \
                    s += SC(w + (size_t)r * ws, kk) * SC(a + (size_t)t * as, kk);                              \
                y[(size_t)t * ys + (size_t)r] = s;                                                             \
            }                                                                                                  \
    }

FLOAT_BLOCK(block_f32, ld_f32, sc_f32)
FLOAT_BLOCK(block_f16, ld_f16, sc_f16)
FLOAT_BLOCK(block_bf16, ld_bf16, sc_bf16)

/* Q8_0 block: 2-byte fp16 scale + 32 int8. */
#define Q8_BYTES 34

static inline __attribute__((always_inline)) void block_q8_0(int n, int R, int T, const uint8_t *w, size_t ws,
                                                             const uint8_t *a, size_t as, float *y, size_t ys)
{
    __m256 acc[GEMM_R][GEMM_T];
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++)
            acc[r][t] = _mm256_setzero_ps();
    const __m256i ones = _mm256_set1_epi16(1);
    const int nb = n / 32;
    for (int b = 0; b < nb; b++) {
        const size_t off = (size_t)b * Q8_BYTES;
        __m256i aq[GEMM_T];
        __m256 ad[GEMM_T];
        for (int t = 0; t < T; t++) {
            const uint8_t *p = a + (size_t)t * as + off;
            aq[t] = _mm256_loadu_si256((const __m256i *)(p + 2));
            ad[t] = _mm256_set1_ps(x86_h2f(x86_rd16(p)));
        }
        for (int r = 0; r < R; r++) {
            const uint8_t *p = w + (size_t)r * ws + off;
            const __m256i wq = _mm256_loadu_si256((const __m256i *)(p + 2));
            const __m256i wabs = _mm256_sign_epi8(wq, wq);
            const __m256 wd = _mm256_set1_ps(x86_h2f(x86_rd16(p)));
            for (int t = 0; t < T; t++) {
                /* |w| * (a with the sign of w): unsigned x signed pairs, exact in int16 */
                const __m256i p16 = _mm256_maddubs_epi16(wabs, _mm256_sign_epi8(aq[t], wq));
                const __m256 s = _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, ones));
                acc[r][t] = _mm256_fmadd_ps(_mm256_mul_ps(wd, ad[t]), s, acc[r][t]);
            }
        }
    }
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++)
            y[(size_t)t * ys + (size_t)r] = x86_hsum_f32(acc[r][t]);
}

/* Walk the tile in blocks of GEMM_R rows x GEMM_T tokens; leftovers with narrower blocks. Each
 * call site passes constants so the block loops unroll. */
#define GEMM_TILE(NAME, BLOCK)                                                                                 \
    static void NAME(int n, int nr, int nt, const void *wv, size_t ws, const void *av, size_t as, float *y,        \
                     size_t ys)                                                                                \
    {                                                                                                          \
        const uint8_t *w = wv, *a = av;                                                                        \
        int t = 0;                                                                                             \
        for (; t + GEMM_T <= nt; t += GEMM_T) {                                                                \
            int r = 0;                                                                                         \
            for (; r + GEMM_R <= nr; r += GEMM_R)                                                              \
                BLOCK(n, GEMM_R, GEMM_T, w + (size_t)r * ws, ws, a + (size_t)t * as, as, y + (size_t)t * ys + r, ys); \
            for (; r < nr; r++)                                                                                \
                BLOCK(n, 1, GEMM_T, w + (size_t)r * ws, ws, a + (size_t)t * as, as, y + (size_t)t * ys + r, ys); \
        }                                                                                                      \
        for (; t < nt; t++) {                                                                                  \
            int r = 0;                                                                                         \
            for (; r + GEMM_R <= nr; r += GEMM_R)                                                              \
                BLOCK(n, GEMM_R, 1, w + (size_t)r * ws, ws, a + (size_t)t * as, as, y + (size_t)t * ys + r, ys); \
            for (; r < nr; r++)                                                                                \
                BLOCK(n, 1, 1, w + (size_t)r * ws, ws, a + (size_t)t * as, as, y + (size_t)t * ys + r, ys);    \
        }                                                                                                      \
    }

GEMM_TILE(tile_f32, block_f32)
GEMM_TILE(tile_f16, block_f16)
GEMM_TILE(tile_bf16, block_bf16)
GEMM_TILE(tile_q8_0, block_q8_0)

/* rows in place (pack_w NULL), activations as quantize_act makes them */
const ops_gemm_kernel x86_avx2_gemm_f32 = {16, 2, NULL, NULL, NULL, NULL, tile_f32};
const ops_gemm_kernel x86_avx2_gemm_f16 = {16, 2, NULL, NULL, NULL, NULL, tile_f16};
const ops_gemm_kernel x86_avx2_gemm_bf16 = {16, 2, NULL, NULL, NULL, NULL, tile_bf16};
const ops_gemm_kernel x86_avx2_gemm_q8_0 = {16, 2, NULL, NULL, NULL, NULL, tile_q8_0};
