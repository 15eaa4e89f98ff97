/* i8pc.c - reference (portable C) functions of the I8_PC per-channel int8 type (see i8pc.h). The
 * SIMD tiles of src/ops/arch/ reproduce quant_i8pc_quantize_act and quant_i8pc_dot bit for bit: the
 * integer sum is exact and the float rescale is the same two multiplications in the same order. */
#include "quant/i8pc.h"

#include <math.h>
#include <string.h>

const quant_traits quant_i8pc_traits = {
    .name = "I8_PC",
    .blck = 32,
    .type_size = 32,
    .quantized = true,
    .to_float = NULL,
    .from_float_ref = quant_i8pc_quantize_row,
    .vec_dot_type = MEDGE_TYPE_I8_PC,
    .vec_dot = NULL,
    .row_extra = 4,
};

/* amax -> (d, 127 / amax); a zero (or non-finite-free zero) row gives d = 0 and codes 0 */
static float row_amax(const float *x, int64_t n)
{
    float m[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) {
            const float a = fabsf(x[i + k]);
            m[k] = a > m[k] ? a : m[k];
        }
    float amax = 0;
    for (int k = 0; k < 8; k++)
        amax = m[k] > amax ? m[k] : amax;
    for (; i < n; i++)
        amax = fabsf(x[i]) > amax ? fabsf(x[i]) : amax;
    return amax;
}

void quant_i8pc_quantize_row(const float *x, void *row, int64_t n)
{
    const float amax = row_amax(x, n);
    const float d = amax / 127.0f, id = amax > 0 ? 127.0f / amax : 0.0f;
    uint8_t *p = row;
    memcpy(p, &d, 4);
    int8_t *q = (int8_t *)(p + 4);
    for (int64_t i = 0; i < n; i++)
        q[i] = quant_i8pc_code(x[i] * id);
}

void quant_i8pc_dequant_row(const void *row, float *y, int64_t n)
{
    const uint8_t *p = row;
    float d;
    memcpy(&d, p, 4);
    const int8_t *q = (const int8_t *)(p + 4);
    for (int64_t i = 0; i < n; i++)
        y[i] = d * (float)q[i];
}

size_t quant_i8pc_act_bytes(int64_t n) { return n < 0 ? 0 : 8 + (size_t)n; }

void quant_i8pc_quantize_act(const float *x, void *row, int64_t n)
{
    const float amax = row_amax(x, n);
    const float d = amax / 127.0f, id = amax > 0 ? 127.0f / amax : 0.0f;
    uint8_t *p = row;
    int8_t *q = (int8_t *)(p + 8);
    int32_t sum = 0;
    for (int64_t i = 0; i < n; i++) {
        q[i] = quant_i8pc_code(x[i] * id);
        sum += q[i];
    }
    memcpy(p, &d, 4);
    memcpy(p + 4, &sum, 4);
}

float quant_i8pc_dot(int64_t n, const void *wrow, const void *arow)
{
    const uint8_t *w = wrow, *a = arow;
    float dw, da;
    memcpy(&dw, w, 4);
    memcpy(&da, a, 4);
    const int8_t *qw = (const int8_t *)(w + 4), *qa = (const int8_t *)(a + 8);
    int32_t s = 0;
    for (int64_t i = 0; i < n; i++)
        s += (int32_t)qw[i] * (int32_t)qa[i];
    return (float)s * (dw * da);
}
