/* test-matmul-multi.c - ops_matmul_multi (several matrices times the same input in one pool run,
 * the single-token path of Q/K/V and gate/up) gives bit for bit what separate ops_matmul calls
 * give: matrices of different row counts and types (Q4_K, Q6_K, Q5_K, Q8_0, Q4_0), 1 to 3
 * threads, and the batch fallback. */
#include "test.h"
#include "core/threadpool.h"
#include "ops/ops.h"
#include "quant/quant.h"
#include "quant/types.h"

#include <stdint.h>

static uint64_t rng = 88172645463325252ull;
static float frand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((int)(rng % 20001) - 10000) / 10000.0f;
}

/* a random matrix of rows x n of type t (quantized from random floats) */
static medge_tensor make(uint32_t t, int n, int rows, void **mem)
{
    medge_tensor w;
    memset(&w, 0, sizeof w);
    w.name = "w";
    w.type = t;
    w.ne[0] = n;
    w.ne[1] = rows;
    w.ne[2] = w.ne[3] = 1;
    w.nb1 = quant_row_size(t, n);
    float *f = malloc((size_t)n * (size_t)rows * sizeof *f);
    *mem = malloc(w.nb1 * (size_t)rows);
    if (!f || !*mem) {
        free(f);
        return w;
    }
    for (size_t i = 0; i < (size_t)n * (size_t)rows; i++)
        f[i] = frand();
    quant_quantize_rows(t, f, *mem, rows, n, NULL);
    free(f);
    w.data = *mem;
    return w;
}

static void check_set(medge_pool *pool, const uint32_t *types, const int *rows, int nw, int n, int n_tok)
{
    medge_tensor W[4];
    void *mem[4] = {NULL, NULL, NULL, NULL};
    float *ya[4], *yb[4];
    float *x = malloc((size_t)n * (size_t)n_tok * sizeof *x);
    for (int i = 0; x && i < n * n_tok; i++)
        x[i] = frand() * 3.0f;
    for (int i = 0; i < nw; i++) {
        W[i] = make(types[i], n, rows[i], &mem[i]);
        ya[i] = calloc((size_t)rows[i] * (size_t)n_tok, sizeof(float));
        yb[i] = calloc((size_t)rows[i] * (size_t)n_tok, sizeof(float));
    }
    ops_scratch sa = {0}, sb = {0};
    const medge_tensor *Wp[4] = {&W[0], &W[1], &W[2], &W[3]};
    for (int i = 0; i < nw; i++)
        CHECK_OK(ops_matmul(pool, &sa, &W[i], x, ya[i], n_tok));
    CHECK_OK(ops_matmul_multi(pool, &sb, Wp, nw, x, yb, n_tok));
    for (int i = 0; i < nw; i++) {
        CHECK_MSG(memcmp(ya[i], yb[i], (size_t)rows[i] * (size_t)n_tok * sizeof(float)) == 0,
                  "matrix %d of %d (%s, %d rows), %d tokens, %d threads", i, nw, quant_type_name(types[i]), rows[i],
                  n_tok, medge_pool_size(pool));
        int nz = 0;
        for (int r = 0; r < rows[i] * n_tok; r++)
            nz += yb[i][r] != 0.0f && isfinite(yb[i][r]);
        CHECK(nz > rows[i] * n_tok * 9 / 10);
    }
    ops_scratch_free(&sa);
    ops_scratch_free(&sb);
    for (int i = 0; i < nw; i++) {
        free(mem[i]);
        free(ya[i]);
        free(yb[i]);
    }
    free(x);
}

int main(void)
{
    const int sanitized = getenv("MEDGE_SANITIZED") != NULL;
    const int n = sanitized ? 512 : 1024;
    for (int threads = 1; threads <= 3; threads++) {
        medge_pool *pool = NULL;
        CHECK_OK(medge_pool_create(threads, &pool));
        /* Q, K, V shapes (K and V smaller), mixed k-quant types as the recipes make them */
        const uint32_t qkv[3] = {GGML_TYPE_Q4_K, GGML_TYPE_Q4_K, GGML_TYPE_Q6_K};
        const int qkv_rows[3] = {1024, 260, 257};
        check_set(pool, qkv, qkv_rows, 3, n, 1);
        check_set(pool, qkv, qkv_rows, 3, n, 3); /* batch: one matmul after the other */
        const uint32_t gu[2] = {GGML_TYPE_Q5_K, GGML_TYPE_Q4_K};
        const int gu_rows[2] = {1500, 1500};
        check_set(pool, gu, gu_rows, 2, n, 1);
        const uint32_t q0[3] = {GGML_TYPE_Q8_0, GGML_TYPE_Q4_0, GGML_TYPE_Q8_0};
        const int q0_rows[3] = {700, 129, 3};
        check_set(pool, q0, q0_rows, 3, n, 1);
        /* activation types differ (Q8_K vs Q8_0): separate runs, same values */
        const uint32_t mix[2] = {GGML_TYPE_Q4_K, GGML_TYPE_Q8_0};
        const int mix_rows[2] = {600, 600};
        check_set(pool, mix, mix_rows, 2, n, 1);
        medge_pool_free(pool);
    }
    TEST_END();
}
