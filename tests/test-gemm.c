/* test-gemm.c - the batch path of ops_matmul (GEMM tiles + panel repacking, src/ops/matmul-gemm.c)
 * of every kernel table this CPU can run (the selected one and, on x86, the AVX2-only one) against
 * the portable reference (activations quantized by the reference, then vec_dot per weight row and
 * token) at odd sizes: rows and tokens not multiples of the tile, row lengths of a few blocks (and
 * odd lengths for the float types), one thread and a pool of three. Quantized weights must agree
 * bit for bit with the AVX-512 tiles (they keep the reference's integer sums and its float
 * combination per block); float weights (and the AVX2 Q8_0 tile) within summation-order error. */
#include "test.h"
#include "core/cpu.h"
#include "core/threadpool.h"
#include "ops/kernels.h"
#include "ops/ops.h"
#include "quant/quant.h"
#include "quant/types.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t g_rng = 0x2545f4914f6cdd1dull;
static float frand(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (float)((g_rng >> 40) & 0xffffff) / 8388608.0f - 1.0f;
}

static const int TYPES[] = {GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K, GGML_TYPE_Q8_0,
                            GGML_TYPE_Q4_0, GGML_TYPE_F32,  GGML_TYPE_F16,  GGML_TYPE_BF16};

/* y = W x through k's batch path versus the reference row by row. */
static void check(const char *what, const ops_kernels *k, medge_pool *pool, int type, int n, int rows, int n_tok,
                  int exact)
{
    const ops_kernels *ref = ops_kernels_ref();
    const quant_traits *tr = quant_get_traits((uint32_t)type);
    const enum ggml_type act = ref->w[type].act_type;
    const size_t nb1 = quant_row_size((uint32_t)type, n), ab = quant_row_size(act, n);
    uint8_t *w = malloc(nb1 * (size_t)rows), *a = malloc(ab);
    float *x = malloc(sizeof(float) * (size_t)n * (size_t)n_tok), *wf = malloc(sizeof(float) * (size_t)n);
    float *y = malloc(sizeof(float) * (size_t)rows * (size_t)n_tok);
    ops_scratch scratch = {0};
    if (!w || !a || !x || !wf || !y) {
        CHECK(0);
        goto out;
    }
    for (int r = 0; r < rows; r++) {
        for (int i = 0; i < n; i++)
            wf[i] = frand() * (1.0f + (float)(r % 5));
        tr->from_float_ref(wf, w + nb1 * (size_t)r, n);
    }
    for (size_t i = 0; i < (size_t)n * (size_t)n_tok; i++)
        x[i] = frand() * 3.0f;
    for (size_t i = 0; i < (size_t)rows * (size_t)n_tok; i++)
        y[i] = NAN;
    medge_tensor W = {"w", (uint32_t)type, {n, rows, 1, 1}, nb1, w};
    CHECK_OK(ops_matmul_gemm(k, pool, &scratch, &W, x, y, n_tok));
    int bad = 0;
    double worst = 0;
    for (int t = 0; t < n_tok; t++) {
        ref->quantize_act[act](x + (size_t)t * (size_t)n, a, n);
        for (int r = 0; r < rows; r++) {
            float s;
            ref->w[type].vec_dot(n, &s, w + nb1 * (size_t)r, a);
            const float got = y[(size_t)t * (size_t)rows + (size_t)r];
            if (exact && tr->blck > 1) {
                bad += !(got == s);
            } else {
                /* scale of the rounding error: the sum of |products| */
                ref->to_float[type](w + nb1 * (size_t)r, wf, n);
                double m = 0;
                for (int i = 0; i < n; i++)
                    m += fabs((double)wf[i] * x[(size_t)t * (size_t)n + (size_t)i]);
                const double e = fabs((double)got - s) / (m + 1e-30);
                worst = e > worst ? e : worst;
                bad += !(e <= 1e-5);
            }
        }
    }
    CHECK_MSG(bad == 0, "%s %s n=%d rows=%d tokens=%d: %d of %d outputs differ (worst rel %.3g)", what,
              quant_type_name((uint32_t)type), n, rows, n_tok, bad, rows * n_tok, worst);
out:
    ops_scratch_free(&scratch);
    free(w);
    free(a);
    free(x);
    free(wf);
    free(y);
}

/* exact: quantized weights must match bit for bit (else within summation-order error) */
static void check_table(const char *what, const ops_kernels *k, medge_pool *pool3, int exact)
{
    const int sanitized = getenv("MEDGE_SANITIZED") != NULL;
    for (size_t i = 0; i < sizeof TYPES / sizeof TYPES[0]; i++) {
        const int t = TYPES[i];
        if (!k->w[t].gemm)
            continue;
        const int blck = quant_get_traits((uint32_t)t)->blck;
        const int unit = blck > 1 ? blck : 1;
        /* (row length in blocks or elements, rows, tokens) */
        const int cases[][3] = {{1, 1, 1},  {1, 16, 12}, {3, 17, 13}, {2, 15, 5},   {3, 33, 25},
                                {1, 50, 2}, {10, 21, 40}, {2, 64, 24}, {1, 3, 100}};
        const int ncases = sizeof cases / sizeof cases[0];
        for (int c = 0; c < ncases; c++) {
            int n = cases[c][0] * unit;
            if (blck == 1) /* odd lengths for the float types */
                n = cases[c][0] == 1 ? 7 : cases[c][0] * 97 + 2 * c + 1;
            if (sanitized && cases[c][0] == 10 && blck == 1)
                n = 301;
            check(what, k, NULL, t, n, cases[c][1], cases[c][2], exact);
            check(what, k, pool3, t, n, cases[c][1], cases[c][2], exact);
        }
        /* a row length of the real models */
        const int big = blck > 1 ? 2560 : 768;
        check(what, k, pool3, t, big, 37, sanitized ? 13 : 29, exact);
    }
    /* so many panels that a thread's share is many repack groups (the output matrix of a real
     * model: 262208 rows): claims must never exceed what the thread's scratch holds */
    if (k->w[GGML_TYPE_Q8_0].gemm)
        check(what, k, pool3, GGML_TYPE_Q8_0, 32, 262208, 5, exact);
}

int main(void)
{
    const ops_kernels *best = ops_kernels_get();
    printf("kernels: %s (cpu: %s)\n", best->name, medge_cpu_describe());
    medge_pool *pool3 = NULL;
    CHECK_OK(medge_pool_create(3, &pool3));
    int n_gemm = 0;
    for (size_t i = 0; i < sizeof TYPES / sizeof TYPES[0]; i++)
        n_gemm += best->w[TYPES[i]].gemm != NULL;
    printf("selected table: %d weight types with a GEMM tile\n", n_gemm);
    check_table("selected", best, pool3, 1);
#if defined(__x86_64__)
    /* the table an AVX2-only CPU gets */
    const medge_cpu *cpu = medge_cpu_get();
    if (cpu->avx2 && cpu->fma && cpu->f16c && strcmp(best->name, "scalar") != 0) {
        ops_kernels k2 = *ops_kernels_ref();
        medge_cpu c2 = *cpu;
        c2.avx512f = c2.avx512bw = c2.avx512vl = c2.avx512vnni = c2.avx512bf16 = false;
        ops_arch_init(&k2, &c2);
        /* its Q8_0 tile keeps the contract's 8 lanes: bit for bit as well */
        check_table("avx2", &k2, pool3, 1);
    }
#endif
    /* with the reference table the batch path is not used (MEDGE_FORCE_SCALAR=1 keeps the portable
     * path): no reference entry has a tile */
    for (size_t i = 0; i < sizeof TYPES / sizeof TYPES[0]; i++)
        CHECK(ops_kernels_ref()->w[TYPES[i]].gemm == NULL);
    medge_pool_free(pool3);
    TEST_END();
}
