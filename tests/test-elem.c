/* test-elem.c - the elementwise kernels of the kernel table (GeGLU with ggml's fp16 GELU table)
 * against the portable reference table bit for bit: every fp16 value as the gate, random gates
 * around the table's edges (+-10) and far outside, every length remainder and misaligned rows. */
#include "ops/kernels.h"
#include "quant/types.h"
#define TEST_RNG_SEED 0x2545f4914f6cdd1dull
#include "test.h"

#include <stdint.h>


static size_t compare(const float *a, const float *b, int n, int *first)
{
    size_t bad = 0;
    for (int i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], 4) != 0 && !(isnan(a[i]) && isnan(b[i])) && bad++ == 0)
            *first = i;
    return bad;
}

static void check_geglu(void)
{
    const ops_kernels *ref = ops_kernels_ref(), *best = ops_kernels_get();
    enum { N = 65536 + 4096 };
    float *g0 = malloc((N + 16) * sizeof(float)), *g1 = malloc((N + 16) * sizeof(float));
    float *u = malloc((N + 16) * sizeof(float));
    for (int i = 0; i < 65536; i++) /* every fp16 value, then around the edges and far out */
        g0[i] = ops_fp16((uint16_t)i);
    for (int i = 65536; i < N; i++) {
        float r = frand();
        g0[i] = i % 3 == 0 ? 10.0f + r * 1e-3f : i % 3 == 1 ? -10.0f + r * 1e-3f : r * 1e6f;
    }
    g0[N - 1] = 10.0f, g0[N - 2] = -10.0f;
    for (int i = 0; i < N; i++)
        u[i] = frand() * 4.0f;
    memcpy(g1, g0, N * sizeof(float));
    ref->geglu(N, g0, u);
    best->geglu(N, g1, u);
    int first = 0;
    size_t bad = compare(g0, g1, N, &first);
    CHECK_MSG(bad == 0, "geglu: %zu of %d differ (first at %d: %.9g vs %.9g)", bad, N, first, g0[first], g1[first]);
    /* a real value: gelu(1) * 2 through the table */
    float x = 1.0f, y = 2.0f;
    best->geglu(1, &x, &y);
    CHECK_NEAR(x, 2.0 * 0.8411920071, 2e-3);
    /* lengths 1..40 at offsets 0..3 (remainders, misaligned rows) */
    for (int off = 0; off < 4; off++)
        for (int n = 1; n <= 40; n++) {
            for (int i = 0; i < n; i++)
                g0[off + i] = g1[off + i] = frand() * 12.0f;
            ref->geglu(n, g0 + off, u + 3);
            best->geglu(n, g1 + off, u + 3);
            CHECK_MSG(compare(g0 + off, g1 + off, n, &first) == 0, "geglu: length %d offset %d", n, off);
        }
    free(g0), free(g1), free(u);
}

int main(void)
{
    printf("kernels: %s\n", ops_kernels_get()->name);
    check_geglu();
    TEST_END();
}
