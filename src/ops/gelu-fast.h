/* gelu-fast.h - exact-GELU (erf form) fast enough for ViT/BERT MLPs: 0.5 x (1 + erf(x / sqrt2))
 * from a Chebyshev-fitted erfc (fractional error < 1.2e-7, Numerical Recipes' erfcc) and a
 * range-reduced exp, written so compilers vectorize it. Max |error| vs the erff form: ~1e-7 * |x|. */
#ifndef MEDGE_OPS_GELU_FAST_H
#define MEDGE_OPS_GELU_FAST_H
#include <stdint.h>

/* In place, n elements. */
void ops_gelu_erf_fast(float *x, int64_t n);
#endif
