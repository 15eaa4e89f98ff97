/* types.c - the table of ggml type traits and fp16/bf16 conversion. Row functions for each
 * block format live in dequant.c, quantize.c and vecdot.c and are wired into the table here. */
#include "quant/types.h"
#include "quant/quant.h"

#include <string.h>
#include <strings.h>

static const quant_traits g_traits[GGML_TYPE_COUNT] = {
    [GGML_TYPE_F32] = {"F32", 1, 4, false, quant_dequant_f32, quant_ref_f32, GGML_TYPE_F32, quant_vec_dot_f32},
    [GGML_TYPE_F16] = {"F16", 1, 2, false, quant_dequant_f16, quant_ref_f16, GGML_TYPE_F16, quant_vec_dot_f16},
    [GGML_TYPE_Q4_0] = {"Q4_0", 32, 18, true, quant_dequant_q4_0, quant_ref_q4_0, GGML_TYPE_Q8_0, quant_vec_dot_q4_0_q8_0},
    [GGML_TYPE_Q4_1] = {"Q4_1", 32, 20, true, quant_dequant_q4_1, quant_ref_q4_1, GGML_TYPE_Q8_1, quant_vec_dot_q4_1_q8_1},
    [GGML_TYPE_Q5_0] = {"Q5_0", 32, 22, true, quant_dequant_q5_0, quant_ref_q5_0, GGML_TYPE_Q8_0, quant_vec_dot_q5_0_q8_0},
    [GGML_TYPE_Q5_1] = {"Q5_1", 32, 24, true, quant_dequant_q5_1, quant_ref_q5_1, GGML_TYPE_Q8_1, quant_vec_dot_q5_1_q8_1},
    [GGML_TYPE_Q8_0] = {"Q8_0", 32, 34, true, quant_dequant_q8_0, quant_ref_q8_0, GGML_TYPE_Q8_0, quant_vec_dot_q8_0_q8_0},
    [GGML_TYPE_Q8_1] = {"Q8_1", 32, 36, true, quant_dequant_q8_1, quant_ref_q8_1, GGML_TYPE_Q8_1, NULL},
    [GGML_TYPE_Q2_K] = {"Q2_K", 256, 84, true, quant_dequant_q2_K, quant_ref_q2_K, GGML_TYPE_Q8_K, quant_vec_dot_q2_K_q8_K},
    [GGML_TYPE_Q3_K] = {"Q3_K", 256, 110, true, quant_dequant_q3_K, quant_ref_q3_K, GGML_TYPE_Q8_K, quant_vec_dot_q3_K_q8_K},
    [GGML_TYPE_Q4_K] = {"Q4_K", 256, 144, true, quant_dequant_q4_K, quant_ref_q4_K, GGML_TYPE_Q8_K, quant_vec_dot_q4_K_q8_K},
    [GGML_TYPE_Q5_K] = {"Q5_K", 256, 176, true, quant_dequant_q5_K, quant_ref_q5_K, GGML_TYPE_Q8_K, quant_vec_dot_q5_K_q8_K},
    [GGML_TYPE_Q6_K] = {"Q6_K", 256, 210, true, quant_dequant_q6_K, quant_ref_q6_K, GGML_TYPE_Q8_K, quant_vec_dot_q6_K_q8_K},
    [GGML_TYPE_Q8_K] = {"Q8_K", 256, 292, true, quant_dequant_q8_K, quant_ref_q8_K, GGML_TYPE_Q8_K, quant_vec_dot_q8_K_q8_K},
    [GGML_TYPE_IQ2_XXS] = {"IQ2_XXS", 256, 66, true, NULL, NULL, GGML_TYPE_Q8_K, NULL},
    [GGML_TYPE_IQ2_XS] = {"IQ2_XS", 256, 74, true, NULL, NULL, GGML_TYPE_Q8_K, NULL},
    [GGML_TYPE_IQ3_XXS] = {"IQ3_XXS", 256, 98, true, NULL, NULL, GGML_TYPE_Q8_K, NULL},
    [GGML_TYPE_IQ1_S] = {"IQ1_S", 256, 50, true, NULL, NULL, GGML_TYPE_Q8_K, NULL},
    [GGML_TYPE_IQ4_NL] = {"IQ4_NL", 32, 18, true, quant_dequant_iq4_nl, quant_ref_iq4_nl, GGML_TYPE_Q8_0, quant_vec_dot_iq4_nl_q8_0},
    [GGML_TYPE_IQ3_S] = {"IQ3_S", 256, 110, true, NULL, NULL, GGML_TYPE_Q8_K, NULL},
    [GGML_TYPE_IQ2_S] = {"IQ2_S", 256, 82, true, NULL, NULL, GGML_TYPE_Q8_K, NULL},
    [GGML_TYPE_IQ4_XS] = {"IQ4_XS", 256, 136, true, quant_dequant_iq4_xs, quant_ref_iq4_xs, GGML_TYPE_Q8_K, quant_vec_dot_iq4_xs_q8_K},
    [GGML_TYPE_I8] = {"I8", 1, 1, false, NULL, NULL, GGML_TYPE_I8, NULL},
    [GGML_TYPE_I16] = {"I16", 1, 2, false, NULL, NULL, GGML_TYPE_I16, NULL},
    [GGML_TYPE_I32] = {"I32", 1, 4, false, NULL, NULL, GGML_TYPE_I32, NULL},
    [GGML_TYPE_I64] = {"I64", 1, 8, false, NULL, NULL, GGML_TYPE_I64, NULL},
    [GGML_TYPE_F64] = {"F64", 1, 8, false, NULL, NULL, GGML_TYPE_F64, NULL},
    [GGML_TYPE_IQ1_M] = {"IQ1_M", 256, 56, true, NULL, NULL, GGML_TYPE_Q8_K, NULL},
    [GGML_TYPE_BF16] = {"BF16", 1, 2, false, quant_dequant_bf16, quant_ref_bf16, GGML_TYPE_BF16, quant_vec_dot_bf16},
    [GGML_TYPE_TQ1_0] = {"TQ1_0", 256, 54, true, NULL, NULL, GGML_TYPE_Q8_K, NULL},
    [GGML_TYPE_TQ2_0] = {"TQ2_0", 256, 66, true, NULL, NULL, GGML_TYPE_Q8_K, NULL},
    [GGML_TYPE_MXFP4] = {"MXFP4", 32, 17, true, NULL, NULL, GGML_TYPE_Q8_0, NULL},
};

const quant_traits *quant_get_traits(uint32_t type)
{
    if (type >= GGML_TYPE_COUNT || !g_traits[type].name)
        return NULL;
    return &g_traits[type];
}

int quant_type_from_name(const char *name)
{
    for (int t = 0; t < GGML_TYPE_COUNT; t++)
        if (g_traits[t].name && strcasecmp(g_traits[t].name, name) == 0)
            return t;
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
    return (size_t)(n / t->blck) * t->type_size;
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
