/* kernels.c - the portable reference kernels (F32, F16, BF16 dot products, fp16 conversion,
 * GeGLU through ggml's fp16 GELU table) and the process-wide kernel table: reference entries from
 * the quant traits, then the architecture overrides (see kernels.h). The loops keep 8 independent
 * partial sums so compilers can vectorise them without reassociation flags. */
#include "ops/kernels.h"
#include "quant/quant.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

#if defined(MEDGE_ARCH_x86) && defined(__has_include)
#if __has_include("ops/arch/x86/arch.h")
#include "ops/arch/x86/arch.h"
#define OPS_HAVE_ARCH 1
#endif
#elif defined(MEDGE_ARCH_arm) && defined(__has_include)
#if __has_include("ops/arch/arm/arch.h")
#include "ops/arch/arm/arch.h"
#define OPS_HAVE_ARCH 1
#endif
#endif

float ops_fp16_table[65536];
uint16_t ops_gelu_fp16_table[65536];

static ops_kernels g_ref, g_best;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void vec_dot_f32(int n, float *s, const void *xv, const void *yv)
{
    const float *x = xv, *y = yv;
    float acc[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++)
            acc[k] += x[i + k] * y[i + k];
    float sum = 0;
    for (; i < n; i++)
        sum += x[i] * y[i];
    *s = sum + ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

static void vec_dot_f16(int n, float *s, const void *xv, const void *yv)
{
    const uint16_t *x = xv, *y = yv;
    float acc[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++)
            acc[k] += ops_fp16_table[x[i + k]] * ops_fp16_table[y[i + k]];
    float sum = 0;
    for (; i < n; i++)
        sum += ops_fp16_table[x[i]] * ops_fp16_table[y[i]];
    *s = sum + ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

static void vec_dot_bf16(int n, float *s, const void *xv, const void *yv)
{
    const uint16_t *x = xv, *y = yv;
    float acc[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++)
            acc[k] += medge_bf16_to_fp32(x[i + k]) * medge_bf16_to_fp32(y[i + k]);
    float sum = 0;
    for (; i < n; i++)
        sum += medge_bf16_to_fp32(x[i]) * medge_bf16_to_fp32(y[i]);
    *s = sum + ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

static void quantize_f32(const float *x, void *y, int64_t n) { memcpy(y, x, (size_t)n * sizeof(float)); }

static void quantize_f16(const float *x, void *yv, int64_t n)
{
    uint16_t *y = yv;
    for (int64_t i = 0; i < n; i++)
        y[i] = medge_fp32_to_fp16(x[i]);
}

static void quantize_bf16(const float *x, void *yv, int64_t n)
{
    uint16_t *y = yv;
    for (int64_t i = 0; i < n; i++)
        y[i] = medge_fp32_to_bf16(x[i]);
}

static void to_float_f32(const void *x, float *y, int64_t n) { memcpy(y, x, (size_t)n * sizeof(float)); }

static void to_float_f16(const void *xv, float *y, int64_t n)
{
    const uint16_t *x = xv;
    for (int64_t i = 0; i < n; i++)
        y[i] = ops_fp16_table[x[i]];
}

static void to_float_bf16(const void *xv, float *y, int64_t n)
{
    const uint16_t *x = xv;
    for (int64_t i = 0; i < n; i++)
        y[i] = medge_bf16_to_fp32(x[i]);
}

static void mad_f32(int n, float *y, float a, const void *xv)
{
    const float *x = xv;
    for (int i = 0; i < n; i++)
        y[i] += a * x[i];
}

static void mad_f16(int n, float *y, float a, const void *xv)
{
    const uint16_t *x = xv;
    for (int i = 0; i < n; i++)
        y[i] += a * ops_fp16_table[x[i]];
}

/* Q8_0 block: fp16 scale, 32 int8 (layout of quant/types.h's Q8_0, 34 bytes). */
static void mad_q8_0(int n, float *y, float a, const void *xv)
{
    const uint8_t *b = xv;
    for (int i = 0; i < n; i += 32, b += 34) {
        uint16_t dh;
        memcpy(&dh, b, 2);
        float d = a * ops_fp16_table[dh];
        const int8_t *q = (const int8_t *)(b + 2);
        for (int k = 0; k < 32; k++)
            y[i + k] += d * (float)q[k];
    }
}

static void geglu_ref(int n, float *g, const float *u)
{
    for (int i = 0; i < n; i++) {
        float x = g[i];
        if (x <= -10.0f)
            g[i] = 0.0f;
        else if (x >= 10.0f)
            g[i] = x * u[i];
        else
            g[i] = ops_fp16_table[ops_gelu_fp16_table[medge_fp32_to_fp16(x)]] * u[i];
    }
}

static void fp16_to_fp32_row(const uint16_t *x, float *y, int64_t n) { to_float_f16(x, y, n); }
static void fp32_to_fp16_row(const float *x, uint16_t *y, int64_t n) { quantize_f16(x, y, n); }

static void init_tables(void)
{
    for (uint32_t i = 0; i < 65536; i++)
        ops_fp16_table[i] = medge_fp16_to_fp32((uint16_t)i);
    /* ggml's table: gelu_tanh evaluated in float at every fp16 value, stored as fp16. */
    const float c = 0.79788456080286535587989211986876f, a = 0.044715f;
    for (uint32_t i = 0; i < 65536; i++) {
        float x = ops_fp16_table[i];
        float v = 0.5f * x * (1.0f + tanhf(c * x * (1.0f + a * x * x)));
        ops_gelu_fp16_table[i] = medge_fp32_to_fp16(v);
    }
}

static void init_ref(ops_kernels *k)
{
    memset(k, 0, sizeof *k);
    for (int t = 0; t < GGML_TYPE_COUNT; t++) {
        const quant_traits *tr = quant_get_traits((uint32_t)t);
        if (!tr)
            continue;
        k->to_float[t] = tr->to_float;
        if (tr->from_float_ref) /* activations as ggml's CPU backend quantizes them (quant.h) */
            k->quantize_act[t] = quant_act_quantizer((enum ggml_type)t) ? quant_act_quantizer((enum ggml_type)t)
                                                                         : tr->from_float_ref;
        if (tr->vec_dot) {
            k->w[t].act_type = tr->vec_dot_type;
            k->w[t].vec_dot = tr->vec_dot;
        }
    }
    k->w[GGML_TYPE_F32] = (ops_wkernels){GGML_TYPE_F32, vec_dot_f32, NULL, NULL};
    k->w[GGML_TYPE_F16] = (ops_wkernels){GGML_TYPE_F16, vec_dot_f16, NULL, NULL};
    k->w[GGML_TYPE_BF16] = (ops_wkernels){GGML_TYPE_BF16, vec_dot_bf16, NULL, NULL};
    k->quantize_act[GGML_TYPE_F32] = quantize_f32;
    k->quantize_act[GGML_TYPE_F16] = quantize_f16;
    k->quantize_act[GGML_TYPE_BF16] = quantize_bf16;
    k->to_float[GGML_TYPE_F32] = to_float_f32;
    k->to_float[GGML_TYPE_F16] = to_float_f16;
    k->to_float[GGML_TYPE_BF16] = to_float_bf16;
    k->mad[GGML_TYPE_F32] = mad_f32;
    k->mad[GGML_TYPE_F16] = mad_f16;
    k->mad[GGML_TYPE_Q8_0] = mad_q8_0;
    k->geglu = geglu_ref;
    k->fp16_to_fp32_row = fp16_to_fp32_row;
    k->fp32_to_fp16_row = fp32_to_fp16_row;
    k->name = "scalar";
    /* A weight type is usable only if its activations can be produced. */
    for (int t = 0; t < GGML_TYPE_COUNT; t++)
        if (k->w[t].vec_dot && !k->quantize_act[k->w[t].act_type])
            k->w[t].vec_dot = NULL;
}

static void init_once(void)
{
    init_tables();
    init_ref(&g_ref);
    g_best = g_ref;
#ifdef OPS_HAVE_ARCH
    ops_arch_init(&g_best, medge_cpu_get());
#endif
}

const ops_kernels *ops_kernels_get(void)
{
    pthread_once(&g_once, init_once);
    return &g_best;
}

const ops_kernels *ops_kernels_ref(void)
{
    pthread_once(&g_once, init_once);
    return &g_ref;
}
