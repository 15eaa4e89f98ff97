/* test-gelu-fast.c - the fast exact-GELU against 0.5 x (1 + erff(x / sqrt2)) in double, over a dense
 * range, the tails and odd lengths. */
#include "test.h"
#include "ops/gelu-fast.h"

int main(void)
{
    enum { N = 200001 };
    static float x[N];
    for (int i = 0; i < N; i++)
        x[i] = (float)(i - N / 2) * 1e-4f; /* [-10, 10] */
    double worst_abs = 0, worst_rel = 0;
    static float y[N];
    memcpy(y, x, sizeof x);
    ops_gelu_erf_fast(y, N);
    for (int i = 0; i < N; i++) {
        double v = x[i], want = 0.5 * v * erfc(-v / sqrt(2.0));
        double d = fabs(y[i] - want);
        worst_abs = fmax(worst_abs, d);
        if (fabs(v) <= 5)
            worst_rel = fmax(worst_rel, d / fabs(want));
    }
    printf("gelu fast: max abs %.3g, max rel %.3g\n", worst_abs, worst_rel);
    CHECK(worst_abs <= 2e-6);
    CHECK(worst_rel <= 2e-6); /* |x| <= 5: values down to 1e-6 */
    /* Tails and specials. */
    float t[7] = {-100.0f, -20.0f, 0.0f, -0.0f, 20.0f, 100.0f, 3.0e38f};
    ops_gelu_erf_fast(t, 7);
    CHECK(t[0] == 0.0f || fabsf(t[0]) < 1e-30f);
    CHECK(fabsf(t[1]) < 1e-30f);
    CHECK(t[2] == 0.0f);
    CHECK_NEAR(t[4], 20.0, 1e-5);
    CHECK_NEAR(t[5], 100.0, 1e-4);
    CHECK(t[6] == 3.0e38f);
    /* Odd lengths leave the rest untouched. */
    float o[5] = {1, 1, 1, 1, 1};
    ops_gelu_erf_fast(o, 3);
    CHECK_NEAR(o[0], 0.8413447460685429, 1e-6);
    CHECK(o[3] == 1.0f && o[4] == 1.0f);
    TEST_END();
}
