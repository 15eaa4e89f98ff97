/* test-vision-attention.c - the dense (vision encoder) attention against a double-precision
 * softmax(q k^T) v at odd sizes (key and query counts that are not multiples of any tile, odd head
 * dims), with the portable tile kernel and the CPU's best one, 1 and 2 threads, F32 products
 * (tight tolerance) and BF16 products (cosine per row), and scores large enough that a softmax
 * without the running maximum would overflow. */
#include "test.h"
#include "ops/attention-dense.h"
#include "ops/kernels.h"

#include <math.h>
#include <stdint.h>

static uint32_t rng = 12345;
static float frand(void)
{
    rng = rng * 1664525u + 1013904223u;
    return (float)((rng >> 8) & 0xffffff) / 16777216.0f * 2.0f - 1.0f;
}

static void reference(const float *q, const float *k, const float *v, double *out, int n, int H, int D, float scale)
{
    const int C = H * D;
    double *p = malloc(sizeof(double) * (size_t)n);
    for (int h = 0; h < H; h++)
        for (int t = 0; t < n; t++) {
            double mx = -INFINITY, sum = 0;
            for (int s = 0; s < n; s++) {
                double d = 0;
                for (int i = 0; i < D; i++)
                    d += (double)q[t * C + h * D + i] * (double)k[s * C + h * D + i];
                p[s] = d * scale;
                mx = p[s] > mx ? p[s] : mx;
            }
            for (int s = 0; s < n; s++) {
                p[s] = exp(p[s] - mx);
                sum += p[s];
            }
            for (int i = 0; i < D; i++) {
                double o = 0;
                for (int s = 0; s < n; s++)
                    o += p[s] * (double)v[s * C + h * D + i];
                out[t * C + h * D + i] = o / sum;
            }
        }
    free(p);
}

static void check_case(int n, int H, int D, float qmag, medge_pool *pool2)
{
    const int C = H * D;
    const size_t nc = (size_t)n * (size_t)C;
    float *q = malloc(sizeof(float) * nc), *k = malloc(sizeof(float) * nc), *v = malloc(sizeof(float) * nc);
    float *out = malloc(sizeof(float) * nc);
    double *ref = malloc(sizeof(double) * nc);
    for (size_t i = 0; i < nc; i++) {
        q[i] = frand() * qmag;
        k[i] = frand();
        v[i] = frand();
    }
    const float scale = 1.0f / sqrtf((float)D);
    reference(q, k, v, ref, n, H, D, scale);
    const ops_kernels *tables[2] = {ops_kernels_ref(), ops_kernels_get()};
    for (int ti = 0; ti < 2; ti++)
        for (int prec = 0; prec < 2; prec++)
            for (int threads = 1; threads <= 2; threads++) {
                ops_scratch scratch = {0};
                for (size_t i = 0; i < nc; i++)
                    out[i] = NAN;
                CHECK_OK(ops_attention_dense_with(tables[ti], threads == 2 ? pool2 : NULL, &scratch, q, k, v, out, n,
                                                  H, D, scale, (ops_attn_prec)prec));
                ops_scratch_free(&scratch);
                double maxd = 0, min_cos = 1;
                for (int t = 0; t < n; t++)
                    for (int h = 0; h < H; h++) {
                        double dot = 0, na = 0, nb = 0;
                        for (int i = 0; i < D; i++) {
                            double a = out[t * C + h * D + i], b = ref[t * C + h * D + i], d = fabs(a - b);
                            if (!(d <= maxd))
                                maxd = d; /* NaN counts */
                            dot += a * b;
                            na += a * a;
                            nb += b * b;
                        }
                        double cs = dot / sqrt(na * nb + 1e-300);
                        if (!(cs >= min_cos))
                            min_cos = cs;
                    }
                const int bf16 = prec == OPS_ATTN_BF16 && tables[ti]->attn_dense[1].pack != NULL;
                if (!bf16) {
                    CHECK_MSG(maxd <= 2e-5, "n %d H %d D %d table %s prec %d threads %d: max |diff| %g", n, H, D,
                              tables[ti]->name, prec, threads, maxd);
                } else {
                    CHECK_MSG(maxd <= 3e-2 && min_cos >= 0.999,
                              "n %d H %d D %d table %s bf16 threads %d: max |diff| %g, min cosine %.6f", n, H, D,
                              tables[ti]->name, threads, maxd, min_cos);
                }
                if (n == 300 && threads == 1)
                    printf("n %d H %d D %d q x%g, %s, %s: max |diff| %.3g, min cosine %.7f\n", n, H, D, (double)qmag,
                           tables[ti]->name, prec ? "bf16" : "f32", maxd, min_cos);
            }
    free(q);
    free(k);
    free(v);
    free(out);
    free(ref);
}

int main(void)
{
    medge_pool *pool2 = NULL;
    CHECK_OK(medge_pool_create(2, &pool2));
    const int cases[][3] = {{1, 1, 8}, {7, 2, 6}, {33, 1, 5}, {65, 3, 72}, {130, 2, 72}, {300, 2, 72}, {97, 1, 64},
                            {50, 2, 17}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_case(cases[i][0], cases[i][1], cases[i][2], 3.0f, pool2);
    /* scores up to ~70 in size: exp would overflow without subtracting the running maximum */
    check_case(300, 1, 72, 12.0f, pool2);
    medge_pool_free(pool2);
    TEST_END();
}
