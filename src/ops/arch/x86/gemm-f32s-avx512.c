/* gemm-f32s-avx512.c - F32 products for small token batches (ops/gemm-f32s.h) on AVX-512 F.
 * Panel: [n][16] floats (16 weight rows, one per lane); activations: groups of 16 tokens, [n][16]
 * floats. Per element k the tile loads one weight vector and multiplies it by the 16 tokens' values
 * broadcast at constant offsets from one pointer, into 16 named accumulators (arrays of vectors get
 * spilled by GCC in this loop), while prefetching the panel a few KB ahead: the weights stream from
 * memory exactly once per call. Sums run over k in order with FMA, as the kernel table's F32 tile.
 * The F16 version keeps the weights in 16-bit panels ([n][16] halves, half the bytes to stream) and
 * widens each vector exactly (vcvtph2ps) before the same FMAs: the F32 products of the widened
 * weights, with F32 activations. */
#include <string.h>

#include "ops/arch/x86/x86-common.h"
#include "ops/gemm-f32s.h"

#define R 16  /* rows per panel */
#define TG 16 /* tokens per group */
#define PF 2048 /* prefetch distance in bytes */

static size_t panel_bytes(int n) { return (size_t)n * R * 4; }

/* nr rows of n elements of es bytes (row stride ws) -> [n][R] elements, missing rows zero */
static void pack_rows(int n, int nr, const void *w, size_t ws, void *panel, size_t es)
{
    uint8_t *P = panel;
    for (int r = 0; r < R; r++) {
        const uint8_t *src = (const uint8_t *)w + (size_t)r * ws;
        for (int k = 0; k < n; k++) {
            uint8_t *dst = P + ((size_t)k * R + (size_t)r) * es;
            if (r < nr)
                memcpy(dst, src + (size_t)k * es, es);
            else
                memset(dst, 0, es);
        }
    }
}

static void pack_w(int n, int nr, const void *w, size_t ws, void *panel) { pack_rows(n, nr, w, ws, panel, 4); }

static size_t act_bytes(int n, int nt) { return (size_t)((nt + TG - 1) / TG) * (size_t)n * TG * 4; }

static void pack_act(const float *x, size_t ldx, int n, int t0, int t1, void *act)
{
    for (int g0 = t0; g0 < t1; g0 += TG) {
        float *A = (float *)act + (size_t)(g0 / TG) * (size_t)n * TG;
        const int m = t1 - g0 < TG ? t1 - g0 : TG;
        for (int k = 0; k < n; k++) {
            for (int t = 0; t < m; t++)
                A[(size_t)k * TG + (size_t)t] = x[(size_t)(g0 + t) * ldx + (size_t)k];
            for (int t = m; t < TG; t++)
                A[(size_t)k * TG + (size_t)t] = 0.0f;
        }
    }
}

#define ALL16(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11) M(12) M(13) M(14) M(15)
#define DECL(t) __m512 c##t = _mm512_setzero_ps();
#define STEP(t) c##t = _mm512_fmadd_ps(w, _mm512_set1_ps(A[t]), c##t);
#define STORE(t)                                                                                                       \
    if (t < T) {                                                                                                       \
        if (nr >= R)                                                                                                   \
            _mm512_storeu_ps(y + (size_t)t * ys, c##t);                                                                \
        else                                                                                                           \
            _mm512_mask_storeu_ps(y + (size_t)t * ys, m, c##t);                                                        \
    }

/* one group of T <= 16 tokens; half: the panel holds F16 weights (widened exactly), else F32 */
static inline __attribute__((always_inline)) void tile_g(int half, int T, int n, const uint8_t *P, const float *A,
                                                         float *y, size_t ys, int nr)
{
    ALL16(DECL)
    const size_t step = (size_t)R * (half ? 2 : 4);
    for (int k = 0; k < n; k++, P += step, A += TG) {
        _mm_prefetch((const char *)P + PF, _MM_HINT_T0);
        const __m512 w = half ? _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)P)) : _mm512_load_ps(P);
        ALL16(STEP)
    }
    const __mmask16 m = (__mmask16)((1u << (nr < R ? nr : R)) - 1);
    ALL16(STORE)
}

static inline __attribute__((always_inline)) void tile_run(int half, int n, int nr, int nt, const void *panel,
                                                           const void *act, float *y, size_t ys)
{
    for (int t0 = 0; t0 < nt; t0 += TG)
        tile_g(half, nt - t0 < TG ? nt - t0 : TG, n, panel, (const float *)act + (size_t)(t0 / TG) * (size_t)n * TG,
               y + (size_t)t0 * ys, ys, nr);
}

static void tile(int n, int nr, int nt, const void *panel, const void *act, float *y, size_t ys)
{
    tile_run(0, n, nr, nt, panel, act, y, ys);
}

const ops_f32s_gemm x86_avx512_f32s_gemm = {"avx512", R, TG, panel_bytes, pack_w, act_bytes, pack_act, tile};

/* F16 weights */
static size_t panel_bytes16(int n) { return (size_t)n * R * 2; }

static void pack_w16(int n, int nr, const void *w, size_t ws, void *panel) { pack_rows(n, nr, w, ws, panel, 2); }

static void tile16(int n, int nr, int nt, const void *panel, const void *act, float *y, size_t ys)
{
    tile_run(1, n, nr, nt, panel, act, y, ys);
}

const ops_f32s_gemm x86_avx512_f16s_gemm = {"avx512-f16", R, TG, panel_bytes16, pack_w16, act_bytes, pack_act, tile16};
