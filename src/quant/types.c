/* types.c - the table of ggml type traits and fp16/bf16 conversion. Row functions for each
 * block format live in dequant.c, quantize.c and vecdot.c and are wired into the table here. */
#include "quant/types.h"
#include "quant/i8pc.h"
#include "quant/quant.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Quantizers write their block structs in place; a destination that is not aligned for them
 * (a caller's byte offset) goes through an aligned bounce buffer, 256 elements at a time. */
static void from_float_unaligned(quant_from_float_fn f, const float *x, void *y, int64_t n, size_t bytes_per_256)
{
    union {
        float f[256];
        uint8_t b[1024];
    } tmp;
    uint8_t *out = y;
    int64_t k = 0;
    for (; k + 256 <= n; k += 256, out += bytes_per_256) {
        f(x + k, tmp.b, 256);
        memcpy(out, tmp.b, bytes_per_256);
    }
    if (k < n) {
        f(x + k, tmp.b, n - k);
        memcpy(out, tmp.b, bytes_per_256 * (size_t)(n - k) / 256);
    }
}
static void quant_ref_bf16_u(const float *x, void *y, int64_t n)
{
    if (((uintptr_t)y & 3) == 0)
        quant_ref_bf16(x, y, n);
    else
        from_float_unaligned(quant_ref_bf16, x, y, n, quant_row_size(GGML_TYPE_BF16, 256));
}
static void quant_ref_f16_u(const float *x, void *y, int64_t n)
{
    if (((uintptr_t)y & 3) == 0)
        quant_ref_f16(x, y, n);
    else
        from_float_unaligned(quant_ref_f16, x, y, n, quant_row_size(GGML_TYPE_F16, 256));
}
static void quant_ref_f32_u(const float *x, void *y, int64_t n)
{
    if (((uintptr_t)y & 3) == 0)
        quant_ref_f32(x, y, n);
    else
        from_float_unaligned(quant_ref_f32, x, y, n, quant_row_size(GGML_TYPE_F32, 256));
}
static void quant_ref_iq4_nl_u(const float *x, void *y, int64_t n)
{
    if (((uintptr_t)y & 3) == 0)
        quant_ref_iq4_nl(x, y, n);
    else
        from_float_unaligned(quant_ref_iq4_nl, x, y, n, quant_row_size(GGML_TYPE_IQ4_NL, 256));
}
static void quant_ref_iq4_xs_u(const float *x, void *y, int64_t n)
{
    if (((uintptr_t)y & 3) == 0)
        quant_ref_iq4_xs(x, y, n);
    else
        from_float_unaligned(quant_ref_iq4_xs, x, y, n, quant_row_size(GGML_TYPE_IQ4_XS, 256));
}
static void quant_ref_q2_K_u(const float *x, void *y, int64_t n)
{
    if (((uintptr_t)y & 3) == 0)
        quant_ref_q2_K(x, y, n);
    else
        from_float_unaligned(quant_ref_q2_K, x, y, n, quant_row_size(GGML_TYPE_Q2_K, 256));
}
static void quant_ref_q3_K_u(const float *x, void *y, int64_t n)
{
    if (((uintptr_t)y & 3) == 0)
        quant_ref_q3_K(x, y, n);
    else
        from_float_unaligned(quant_ref_q3_K, x, y, n, quant_row_size(GGML_TYPE_Q3_K, 256));
}
static void quant_ref_q4_0_u(const float *x, void *y, int64_t n)
{
    if (((uintptr_t)y & 3) == 0)
        quant_ref_q4_0(x, y, n);
    else
        from_float_unaligned(quant_ref_q4_0, x, y, n, quant_row_size(GGML_TYPE_Q4_0, 256));
}
static void quant_ref_q4_1_u(const float *x, void *y, int64_t n)
{
    if (((uintptr_t)y & 3) == 0)
        quant_ref_q4_1(x, y, n);
    else
        from_float_unaligned(quant_ref_q4_1, x, y, n, quant_row_size(GGML_TYPE_Q4_1, 256));
}
static void quant_ref_q4_K_u(const float *x, void *y, int64_t n)
{
    if (((uintptr_t)y & 3) == 0)
        quant_ref_q4_K(x, y, n);
    else
        from_float_unaligned(quant_ref_q4_K, x, y, n, quant_row_size(GGML_TYPE_Q4_K, 256));
}
static void quant_ref_q5_0_u(const float *x, void *y, int64_t n)
{
    if (((uintptr_t)y & 3) == 0)
        quant_ref_q5_0(x, y, n);
    else
        from_float_unaligned(quant_ref_q5_0, x, y, n, quant_row_size(GGML_TYPE_Q5_0, 256));
}
static void quant_ref_q5_1_u(const float *x, void *y, int64_t n)
{
    if (((uintptr_t)y & 3) == 0)
        quant_ref_q5_1(x, y, n);
    else
        from_float_unaligned(quant_ref_q5_1, x, y, n, quant_row_size(GGML_TYPE_Q5_1, 256));
}
static void quant_ref_q5_K_u(const float *x, void *y, int64_t n)
{
    if (((uintptr_t)y & 3) == 0)
        quant_ref_q5_K(x, y, n);
    else
        from_float_unaligned(quant_ref_q5_K, x, y, n, quant_row_size(GGML_TYPE_Q5_K, 256));
}
static void quant_ref_q6_K_u(const float *x, void *y, int64_t n)
{
    if (((uintptr_t)y & 3) == 0)
        quant_ref_q6_K(x, y, n);
    else
        from_float_unaligned(quant_ref_q6_K, x, y, n, quant_row_size(GGML_TYPE_Q6_K, 256));
}
static void quant_ref_q8_0_u(const float *x, void *y, int64_t n)
{
    if (((uintptr_t)y & 3) == 0)
        quant_ref_q8_0(x, y, n);
    else
        from_float_unaligned(quant_ref_q8_0, x, y, n, quant_row_size(GGML_TYPE_Q8_0, 256));
}
static void quant_ref_q8_1_u(const float *x, void *y, int64_t n)
{
    if (((uintptr_t)y & 3) == 0)
        quant_ref_q8_1(x, y, n);
    else
        from_float_unaligned(quant_ref_q8_1, x, y, n, quant_row_size(GGML_TYPE_Q8_1, 256));
}
static void quant_ref_q8_K_u(const float *x, void *y, int64_t n)
{
    if (((uintptr_t)y & 3) == 0)
        quant_ref_q8_K(x, y, n);
    else
        from_float_unaligned(quant_ref_q8_K, x, y, n, quant_row_size(GGML_TYPE_Q8_K, 256));
}

/* Reference dot products read block structs in place; rows at unaligned byte offsets are first
 * copied to aligned memory. */
static void vec_dot_unaligned(quant_vec_dot_fn f, uint32_t tx, uint32_t ty, int n, float *s, const void *x, const void *y)
{
    const size_t bx = quant_row_size(tx, n), by = quant_row_size(ty, n);
    void *ax = malloc(bx ? bx : 1), *ay = malloc(by ? by : 1);
    if (ax && ay) {
        memcpy(ax, x, bx);
        memcpy(ay, y, by);
        f(n, s, ax, ay);
    } else {
        *s = 0;
    }
    free(ax);
    free(ay);
}
static void quant_vec_dot_bf16_u(int n, float *s, const void *x, const void *y)
{
    if (((uintptr_t)x & 3) == 0 && ((uintptr_t)y & 3) == 0)
        quant_vec_dot_bf16(n, s, x, y);
    else
        vec_dot_unaligned(quant_vec_dot_bf16, GGML_TYPE_BF16, GGML_TYPE_BF16, n, s, x, y);
}
static void quant_vec_dot_f16_u(int n, float *s, const void *x, const void *y)
{
    if (((uintptr_t)x & 3) == 0 && ((uintptr_t)y & 3) == 0)
        quant_vec_dot_f16(n, s, x, y);
    else
        vec_dot_unaligned(quant_vec_dot_f16, GGML_TYPE_F16, GGML_TYPE_F16, n, s, x, y);
}
static void quant_vec_dot_f32_u(int n, float *s, const void *x, const void *y)
{
    if (((uintptr_t)x & 3) == 0 && ((uintptr_t)y & 3) == 0)
        quant_vec_dot_f32(n, s, x, y);
    else
        vec_dot_unaligned(quant_vec_dot_f32, GGML_TYPE_F32, GGML_TYPE_F32, n, s, x, y);
}
static void quant_vec_dot_iq4_nl_q8_0_u(int n, float *s, const void *x, const void *y)
{
    if (((uintptr_t)x & 3) == 0 && ((uintptr_t)y & 3) == 0)
        quant_vec_dot_iq4_nl_q8_0(n, s, x, y);
    else
        vec_dot_unaligned(quant_vec_dot_iq4_nl_q8_0, GGML_TYPE_IQ4_NL, GGML_TYPE_Q8_0, n, s, x, y);
}
static void quant_vec_dot_iq4_xs_q8_K_u(int n, float *s, const void *x, const void *y)
{
    if (((uintptr_t)x & 3) == 0 && ((uintptr_t)y & 3) == 0)
        quant_vec_dot_iq4_xs_q8_K(n, s, x, y);
    else
        vec_dot_unaligned(quant_vec_dot_iq4_xs_q8_K, GGML_TYPE_IQ4_XS, GGML_TYPE_Q8_K, n, s, x, y);
}
static void quant_vec_dot_q2_K_q8_K_u(int n, float *s, const void *x, const void *y)
{
    if (((uintptr_t)x & 3) == 0 && ((uintptr_t)y & 3) == 0)
        quant_vec_dot_q2_K_q8_K(n, s, x, y);
    else
        vec_dot_unaligned(quant_vec_dot_q2_K_q8_K, GGML_TYPE_Q2_K, GGML_TYPE_Q8_K, n, s, x, y);
}
static void quant_vec_dot_q3_K_q8_K_u(int n, float *s, const void *x, const void *y)
{
    if (((uintptr_t)x & 3) == 0 && ((uintptr_t)y & 3) == 0)
        quant_vec_dot_q3_K_q8_K(n, s, x, y);
    else
        vec_dot_unaligned(quant_vec_dot_q3_K_q8_K, GGML_TYPE_Q3_K, GGML_TYPE_Q8_K, n, s, x, y);
}
static void quant_vec_dot_q4_0_q8_0_u(int n, float *s, const void *x, const void *y)
{
    if (((uintptr_t)x & 3) == 0 && ((uintptr_t)y & 3) == 0)
        quant_vec_dot_q4_0_q8_0(n, s, x, y);
    else
        vec_dot_unaligned(quant_vec_dot_q4_0_q8_0, GGML_TYPE_Q4_0, GGML_TYPE_Q8_0, n, s, x, y);
}
static void quant_vec_dot_q4_1_q8_1_u(int n, float *s, const void *x, const void *y)
{
    if (((uintptr_t)x & 3) == 0 && ((uintptr_t)y & 3) == 0)
        quant_vec_dot_q4_1_q8_1(n, s, x, y);
    else
        vec_dot_unaligned(quant_vec_dot_q4_1_q8_1, GGML_TYPE_Q4_1, GGML_TYPE_Q8_1, n, s, x, y);
}
static void quant_vec_dot_q4_K_q8_K_u(int n, float *s, const void *x, const void *y)
{
    if (((uintptr_t)x & 3) == 0 && ((uintptr_t)y & 3) == 0)
        quant_vec_dot_q4_K_q8_K(n, s, x, y);
    else
        vec_dot_unaligned(quant_vec_dot_q4_K_q8_K, GGML_TYPE_Q4_K, GGML_TYPE_Q8_K, n, s, x, y);
}
static void quant_vec_dot_q5_0_q8_0_u(int n, float *s, const void *x, const void *y)
{
    if (((uintptr_t)x & 3) == 0 && ((uintptr_t)y & 3) == 0)
        quant_vec_dot_q5_0_q8_0(n, s, x, y);
    else
        vec_dot_unaligned(quant_vec_dot_q5_0_q8_0, GGML_TYPE_Q5_0, GGML_TYPE_Q8_0, n, s, x, y);
}
static void quant_vec_dot_q5_1_q8_1_u(int n, float *s, const void *x, const void *y)
{
    if (((uintptr_t)x & 3) == 0 && ((uintptr_t)y & 3) == 0)
        quant_vec_dot_q5_1_q8_1(n, s, x, y);
    else
        vec_dot_unaligned(quant_vec_dot_q5_1_q8_1, GGML_TYPE_Q5_1, GGML_TYPE_Q8_1, n, s, x, y);
}
static void quant_vec_dot_q5_K_q8_K_u(int n, float *s, const void *x, const void *y)
{
    if (((uintptr_t)x & 3) == 0 && ((uintptr_t)y & 3) == 0)
        quant_vec_dot_q5_K_q8_K(n, s, x, y);
    else
        vec_dot_unaligned(quant_vec_dot_q5_K_q8_K, GGML_TYPE_Q5_K, GGML_TYPE_Q8_K, n, s, x, y);
}
static void quant_vec_dot_q6_K_q8_K_u(int n, float *s, const void *x, const void *y)
{
    if (((uintptr_t)x & 3) == 0 && ((uintptr_t)y & 3) == 0)
        quant_vec_dot_q6_K_q8_K(n, s, x, y);
    else
        vec_dot_unaligned(quant_vec_dot_q6_K_q8_K, GGML_TYPE_Q6_K, GGML_TYPE_Q8_K, n, s, x, y);
}
static void quant_vec_dot_q8_0_q8_0_u(int n, float *s, const void *x, const void *y)
{
    if (((uintptr_t)x & 3) == 0 && ((uintptr_t)y & 3) == 0)
        quant_vec_dot_q8_0_q8_0(n, s, x, y);
    else
        vec_dot_unaligned(quant_vec_dot_q8_0_q8_0, GGML_TYPE_Q8_0, GGML_TYPE_Q8_0, n, s, x, y);
}
static void quant_vec_dot_q8_K_q8_K_u(int n, float *s, const void *x, const void *y)
{
    if (((uintptr_t)x & 3) == 0 && ((uintptr_t)y & 3) == 0)
        quant_vec_dot_q8_K_q8_K(n, s, x, y);
    else
        vec_dot_unaligned(quant_vec_dot_q8_K_q8_K, GGML_TYPE_Q8_K, GGML_TYPE_Q8_K, n, s, x, y);
}

/* Dequantizers read block structs in place; unaligned sources are copied 256 elements at a time. */
static void to_float_unaligned(quant_to_float_fn f, const void *x, float *y, int64_t n, size_t bytes_per_256)
{
    union {
        float f[256];
        uint8_t b[1024];
    } tmp;
    const uint8_t *in = x;
    int64_t k = 0;
    for (; k + 256 <= n; k += 256, in += bytes_per_256) {
        memcpy(tmp.b, in, bytes_per_256);
        f(tmp.b, y + k, 256);
    }
    if (k < n) {
        memcpy(tmp.b, in, bytes_per_256 * (size_t)(n - k) / 256);
        f(tmp.b, y + k, n - k);
    }
}
static void quant_dequant_bf16_u(const void *x, float *y, int64_t n)
{
    if (((uintptr_t)x & 3) == 0)
        quant_dequant_bf16(x, y, n);
    else
        to_float_unaligned(quant_dequant_bf16, x, y, n, quant_row_size(GGML_TYPE_BF16, 256));
}
static void quant_dequant_f16_u(const void *x, float *y, int64_t n)
{
    if (((uintptr_t)x & 3) == 0)
        quant_dequant_f16(x, y, n);
    else
        to_float_unaligned(quant_dequant_f16, x, y, n, quant_row_size(GGML_TYPE_F16, 256));
}
static void quant_dequant_f32_u(const void *x, float *y, int64_t n)
{
    if (((uintptr_t)x & 3) == 0)
        quant_dequant_f32(x, y, n);
    else
        to_float_unaligned(quant_dequant_f32, x, y, n, quant_row_size(GGML_TYPE_F32, 256));
}
static void quant_dequant_iq4_nl_u(const void *x, float *y, int64_t n)
{
    if (((uintptr_t)x & 3) == 0)
        quant_dequant_iq4_nl(x, y, n);
    else
        to_float_unaligned(quant_dequant_iq4_nl, x, y, n, quant_row_size(GGML_TYPE_IQ4_NL, 256));
}
static void quant_dequant_iq4_xs_u(const void *x, float *y, int64_t n)
{
    if (((uintptr_t)x & 3) == 0)
        quant_dequant_iq4_xs(x, y, n);
    else
        to_float_unaligned(quant_dequant_iq4_xs, x, y, n, quant_row_size(GGML_TYPE_IQ4_XS, 256));
}
static void quant_dequant_q2_K_u(const void *x, float *y, int64_t n)
{
    if (((uintptr_t)x & 3) == 0)
        quant_dequant_q2_K(x, y, n);
    else
        to_float_unaligned(quant_dequant_q2_K, x, y, n, quant_row_size(GGML_TYPE_Q2_K, 256));
}
static void quant_dequant_q3_K_u(const void *x, float *y, int64_t n)
{
    if (((uintptr_t)x & 3) == 0)
        quant_dequant_q3_K(x, y, n);
    else
        to_float_unaligned(quant_dequant_q3_K, x, y, n, quant_row_size(GGML_TYPE_Q3_K, 256));
}
static void quant_dequant_q4_0_u(const void *x, float *y, int64_t n)
{
    if (((uintptr_t)x & 3) == 0)
        quant_dequant_q4_0(x, y, n);
    else
        to_float_unaligned(quant_dequant_q4_0, x, y, n, quant_row_size(GGML_TYPE_Q4_0, 256));
}
static void quant_dequant_q4_1_u(const void *x, float *y, int64_t n)
{
    if (((uintptr_t)x & 3) == 0)
        quant_dequant_q4_1(x, y, n);
    else
        to_float_unaligned(quant_dequant_q4_1, x, y, n, quant_row_size(GGML_TYPE_Q4_1, 256));
}
static void quant_dequant_q4_K_u(const void *x, float *y, int64_t n)
{
    if (((uintptr_t)x & 3) == 0)
        quant_dequant_q4_K(x, y, n);
    else
        to_float_unaligned(quant_dequant_q4_K, x, y, n, quant_row_size(GGML_TYPE_Q4_K, 256));
}
static void quant_dequant_q5_0_u(const void *x, float *y, int64_t n)
{
    if (((uintptr_t)x & 3) == 0)
        quant_dequant_q5_0(x, y, n);
    else
        to_float_unaligned(quant_dequant_q5_0, x, y, n, quant_row_size(GGML_TYPE_Q5_0, 256));
}
static void quant_dequant_q5_1_u(const void *x, float *y, int64_t n)
{
    if (((uintptr_t)x & 3) == 0)
        quant_dequant_q5_1(x, y, n);
    else
        to_float_unaligned(quant_dequant_q5_1, x, y, n, quant_row_size(GGML_TYPE_Q5_1, 256));
}
static void quant_dequant_q5_K_u(const void *x, float *y, int64_t n)
{
    if (((uintptr_t)x & 3) == 0)
        quant_dequant_q5_K(x, y, n);
    else
        to_float_unaligned(quant_dequant_q5_K, x, y, n, quant_row_size(GGML_TYPE_Q5_K, 256));
}
static void quant_dequant_q6_K_u(const void *x, float *y, int64_t n)
{
    if (((uintptr_t)x & 3) == 0)
        quant_dequant_q6_K(x, y, n);
    else
        to_float_unaligned(quant_dequant_q6_K, x, y, n, quant_row_size(GGML_TYPE_Q6_K, 256));
}
static void quant_dequant_q8_0_u(const void *x, float *y, int64_t n)
{
    if (((uintptr_t)x & 3) == 0)
        quant_dequant_q8_0(x, y, n);
    else
        to_float_unaligned(quant_dequant_q8_0, x, y, n, quant_row_size(GGML_TYPE_Q8_0, 256));
}
static void quant_dequant_q8_1_u(const void *x, float *y, int64_t n)
{
    if (((uintptr_t)x & 3) == 0)
        quant_dequant_q8_1(x, y, n);
    else
        to_float_unaligned(quant_dequant_q8_1, x, y, n, quant_row_size(GGML_TYPE_Q8_1, 256));
}
static void quant_dequant_q8_K_u(const void *x, float *y, int64_t n)
{
    if (((uintptr_t)x & 3) == 0)
        quant_dequant_q8_K(x, y, n);
    else
        to_float_unaligned(quant_dequant_q8_K, x, y, n, quant_row_size(GGML_TYPE_Q8_K, 256));
}

static const quant_traits g_traits[GGML_TYPE_COUNT] = {
    [GGML_TYPE_F32] = {"F32", 1, 4, false, quant_dequant_f32_u, quant_ref_f32_u, GGML_TYPE_F32, quant_vec_dot_f32_u},
    [GGML_TYPE_F16] = {"F16", 1, 2, false, quant_dequant_f16_u, quant_ref_f16_u, GGML_TYPE_F16, quant_vec_dot_f16_u},
    [GGML_TYPE_Q4_0] = {"Q4_0", 32, 18, true, quant_dequant_q4_0_u, quant_ref_q4_0_u, GGML_TYPE_Q8_0, quant_vec_dot_q4_0_q8_0_u},
    [GGML_TYPE_Q4_1] = {"Q4_1", 32, 20, true, quant_dequant_q4_1_u, quant_ref_q4_1_u, GGML_TYPE_Q8_1, quant_vec_dot_q4_1_q8_1_u},
    [GGML_TYPE_Q5_0] = {"Q5_0", 32, 22, true, quant_dequant_q5_0_u, quant_ref_q5_0_u, GGML_TYPE_Q8_0, quant_vec_dot_q5_0_q8_0_u},
    [GGML_TYPE_Q5_1] = {"Q5_1", 32, 24, true, quant_dequant_q5_1_u, quant_ref_q5_1_u, GGML_TYPE_Q8_1, quant_vec_dot_q5_1_q8_1_u},
    [GGML_TYPE_Q8_0] = {"Q8_0", 32, 34, true, quant_dequant_q8_0_u, quant_ref_q8_0_u, GGML_TYPE_Q8_0, quant_vec_dot_q8_0_q8_0_u},
    [GGML_TYPE_Q8_1] = {"Q8_1", 32, 36, true, quant_dequant_q8_1_u, quant_ref_q8_1_u, GGML_TYPE_Q8_1, NULL},
    [GGML_TYPE_Q2_K] = {"Q2_K", 256, 84, true, quant_dequant_q2_K_u, quant_ref_q2_K_u, GGML_TYPE_Q8_K, quant_vec_dot_q2_K_q8_K_u},
    [GGML_TYPE_Q3_K] = {"Q3_K", 256, 110, true, quant_dequant_q3_K_u, quant_ref_q3_K_u, GGML_TYPE_Q8_K, quant_vec_dot_q3_K_q8_K_u},
    [GGML_TYPE_Q4_K] = {"Q4_K", 256, 144, true, quant_dequant_q4_K_u, quant_ref_q4_K_u, GGML_TYPE_Q8_K, quant_vec_dot_q4_K_q8_K_u},
    [GGML_TYPE_Q5_K] = {"Q5_K", 256, 176, true, quant_dequant_q5_K_u, quant_ref_q5_K_u, GGML_TYPE_Q8_K, quant_vec_dot_q5_K_q8_K_u},
    [GGML_TYPE_Q6_K] = {"Q6_K", 256, 210, true, quant_dequant_q6_K_u, quant_ref_q6_K_u, GGML_TYPE_Q8_K, quant_vec_dot_q6_K_q8_K_u},
    [GGML_TYPE_Q8_K] = {"Q8_K", 256, 292, true, quant_dequant_q8_K_u, quant_ref_q8_K_u, GGML_TYPE_Q8_K, quant_vec_dot_q8_K_q8_K_u},
    [GGML_TYPE_IQ2_XXS] = {"IQ2_XXS", 256, 66, true, NULL, NULL, GGML_TYPE_Q8_K, NULL},
    [GGML_TYPE_IQ2_XS] = {"IQ2_XS", 256, 74, true, NULL, NULL, GGML_TYPE_Q8_K, NULL},
    [GGML_TYPE_IQ3_XXS] = {"IQ3_XXS", 256, 98, true, NULL, NULL, GGML_TYPE_Q8_K, NULL},
    [GGML_TYPE_IQ1_S] = {"IQ1_S", 256, 50, true, NULL, NULL, GGML_TYPE_Q8_K, NULL},
    [GGML_TYPE_IQ4_NL] = {"IQ4_NL", 32, 18, true, quant_dequant_iq4_nl_u, quant_ref_iq4_nl_u, GGML_TYPE_Q8_0, quant_vec_dot_iq4_nl_q8_0_u},
    [GGML_TYPE_IQ3_S] = {"IQ3_S", 256, 110, true, NULL, NULL, GGML_TYPE_Q8_K, NULL},
    [GGML_TYPE_IQ2_S] = {"IQ2_S", 256, 82, true, NULL, NULL, GGML_TYPE_Q8_K, NULL},
    [GGML_TYPE_IQ4_XS] = {"IQ4_XS", 256, 136, true, quant_dequant_iq4_xs_u, quant_ref_iq4_xs_u, GGML_TYPE_Q8_K, quant_vec_dot_iq4_xs_q8_K_u},
    [GGML_TYPE_I8] = {"I8", 1, 1, false, NULL, NULL, GGML_TYPE_I8, NULL},
    [GGML_TYPE_I16] = {"I16", 1, 2, false, NULL, NULL, GGML_TYPE_I16, NULL},
    [GGML_TYPE_I32] = {"I32", 1, 4, false, NULL, NULL, GGML_TYPE_I32, NULL},
    [GGML_TYPE_I64] = {"I64", 1, 8, false, NULL, NULL, GGML_TYPE_I64, NULL},
    [GGML_TYPE_F64] = {"F64", 1, 8, false, NULL, NULL, GGML_TYPE_F64, NULL},
    [GGML_TYPE_IQ1_M] = {"IQ1_M", 256, 56, true, NULL, NULL, GGML_TYPE_Q8_K, NULL},
    [GGML_TYPE_BF16] = {"BF16", 1, 2, false, quant_dequant_bf16_u, quant_ref_bf16_u, GGML_TYPE_BF16, quant_vec_dot_bf16_u},
    [GGML_TYPE_TQ1_0] = {"TQ1_0", 256, 54, true, NULL, NULL, GGML_TYPE_Q8_K, NULL},
    [GGML_TYPE_TQ2_0] = {"TQ2_0", 256, 66, true, NULL, NULL, GGML_TYPE_Q8_K, NULL},
    [GGML_TYPE_MXFP4] = {"MXFP4", 32, 17, true, NULL, NULL, GGML_TYPE_Q8_0, NULL},
};

const quant_traits *quant_get_traits(uint32_t type)
{
    if (type == (uint32_t)MEDGE_TYPE_I8_PC)
        return &quant_i8pc_traits;
    if (type >= GGML_TYPE_COUNT || !g_traits[type].name)
        return NULL;
    return &g_traits[type];
}

int quant_type_from_name(const char *name)
{
    for (int t = 0; t < GGML_TYPE_COUNT; t++)
        if (g_traits[t].name && strcasecmp(g_traits[t].name, name) == 0)
            return t;
    if (strcasecmp(quant_i8pc_traits.name, name) == 0)
        return (int)MEDGE_TYPE_I8_PC;
    return -1;
}

const char *quant_type_name(uint32_t type)
{
    const quant_traits *t = quant_get_traits(type);
    return t ? t->name : "?";
}

size_t quant_row_size(uint32_t type, int64_t n)
{
    const quant_traits *t = quant_get_traits(type);
    if (!t || n < 0 || n % t->blck)
        return 0;
    return t->row_extra + (size_t)(n / t->blck) * t->type_size;
}

float medge_fp16_to_fp32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: normalise */
            int e = -1;
            do {
                e++;
                man <<= 1;
            } while (!(man & 0x400));
            bits = sign | ((uint32_t)(112 - e) << 23) | ((man & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 112) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t medge_fp32_to_fp16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t ax = x & 0x7fffffff;
    if (ax >= 0x7f800000u) /* inf or nan */
        return (uint16_t)(sign | (ax > 0x7f800000u ? 0x7e00 : 0x7c00)); /* nan -> 0x7e00 as ggml */
    if (ax >= 0x477ff000u) /* rounds to >= 65520: inf */
        return (uint16_t)(sign | 0x7c00);
    if (ax < 0x38800000u) { /* below the smallest normal half: subnormal or zero */
        if (ax < 0x33000000u) /* < 2^-25: rounds to zero */
            return (uint16_t)sign;
        uint32_t e = ax >> 23;
        uint32_t m = (ax & 0x7fffff) | 0x800000;
        uint32_t shift = 126 - e; /* 14..24 */
        uint32_t half = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1)))
            half++;
        return (uint16_t)(sign | half);
    }
    uint32_t r = ax - 0x38000000u; /* rebias exponent: 127 -> 15 */
    uint32_t half = r >> 13, rem = r & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (half & 1)))
        half++;
    return (uint16_t)(sign | half);
}

float medge_bf16_to_fp32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t medge_fp32_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffff) > 0x7f800000u) /* nan: keep it quiet */
        return (uint16_t)((x >> 16) | 64);
    return (uint16_t)((x + (0x7fff + ((x >> 16) & 1))) >> 16);
}
