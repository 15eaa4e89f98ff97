/* gelu-fast.c - see gelu-fast.h. Phi(x) = erfc(-x / sqrt2) / 2 with erfc(a), a = |x| / sqrt2 >= 0,
 * as t exp(-a^2 + P(t)), t = 1 / (1 + a/2) (a 10-term Chebyshev fit with fractional error below
 * 1.2e-7 everywhere); Phi = 1 - erfc/2 for x >= 0 and erfc/2 otherwise, so negative tails keep
 * their relative accuracy. exp uses the round-to-nearest magic constant (no floorf) and a
 * Cody-Waite split of ln 2, then a degree-7 polynomial: every step is branch-free. */
#include "ops/gelu-fast.h"

#include <string.h>

static inline float exp_neg(float x)
{
    /* x <= 0 here; below -87 the result underflows to 0 anyway. */
    x = x < -87.0f ? -87.0f : x;
    const float magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    float kf = x * 1.44269504088896341f + magic;
    int32_t kb;
    memcpy(&kb, &kf, 4);
    kf -= magic;
    int32_t k = kb - 0x4B400000;
    float r = x - kf * 0.693359375f;
    r = r - kf * -2.12194440e-4f;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int32_t sb = (k + 127) << 23;
    float s;
    memcpy(&s, &sb, 4);
    return p * s;
}

void ops_gelu_erf_fast(float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        float a = (v < 0 ? -v : v) * 0.70710678118654752f;
        float t = 1.0f / (1.0f + 0.5f * a);
        float p = 0.17087277f;
        p = p * t - 0.82215223f;
        p = p * t + 1.48851587f;
        p = p * t - 1.13520398f;
        p = p * t + 0.27886807f;
        p = p * t - 0.18628806f;
        p = p * t + 0.09678418f;
        p = p * t + 0.37409196f;
        p = p * t + 1.00002368f;
        p = p * t - 1.26551223f;
        float e = t * exp_neg(p - 0.5f * v * v); /* a^2 = x^2 / 2 with one rounding */
        float phi = v >= 0 ? 1.0f - 0.5f * e : 0.5f * e;
        x[i] = v * phi;
    }
}
