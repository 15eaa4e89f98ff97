/* vecdot.c - portable reference dot products of a weight row (any block format) with an
 * activation row of its vec_dot_type, and the activation quantizers llama.cpp's x86-64 CPU
 * backend uses (so quantized matmuls see the same int8 activations as llama.cpp). Integer
 * products are summed exactly; for Q4_0, Q8_0, Q4_K, Q5_K and Q6_K the float part follows the
 * order llama.cpp (d32676d77) used on x86-64 with AVX2/AVX-512 for the reference logits, which
 * src/ops/kernels.h states as the contract every SIMD kernel reproduces bit for bit ("lanes8":
 * 8 partial sums by 4-element lane; "seq": one running sum). The other types keep ggml's
 * generic per-block order. fmaf is the fused multiply-add of that order (FP_CONTRACT is off so
 * no other product is fused). */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif
#include "quant/quant.h"

#include <math.h>
#include <string.h>

#define F16(h) medge_fp16_to_fp32(h)
#define H(f) medge_fp32_to_fp16(f)

/* ---- activation quantizers (x86-64 AVX/AVX2 semantics of ggml-cpu) ---- */

void quant_act_q8_0(const float *x, void *vy, int64_t n)
{
    block_q8_0 *y = vy;
    for (int64_t i = 0; i < n / QK8_0; i++, x += QK8_0) {
        float amax = 0.0f;
        for (int j = 0; j < QK8_0; j++)
            amax = fmaxf(amax, fabsf(x[j]));
        const float d = amax / 127.f;
        const float id = amax != 0.0f ? 127.f / amax : 0.0f;
        y[i].d = H(d);
        for (int j = 0; j < QK8_0; j++)
            y[i].qs[j] = (int8_t)lrintf(x[j] * id); /* round half to even (default FP mode) */
    }
}

void quant_act_q8_1(const float *x, void *vy, int64_t n)
{
    block_q8_1 *y = vy;
    for (int64_t i = 0; i < n / QK8_1; i++, x += QK8_1) {
        float amax = 0.0f;
        for (int j = 0; j < QK8_1; j++)
            amax = fmaxf(amax, fabsf(x[j]));
        const float d = amax / 127.f;
        const float id = amax != 0.0f ? 127.f / amax : 0.0f;
        y[i].d = H(d);
        int sum = 0;
        for (int j = 0; j < QK8_1; j++) {
            y[i].qs[j] = (int8_t)lrintf(x[j] * id);
            sum += y[i].qs[j];
        }
        y[i].s = H(d * (float)sum);
    }
}

quant_from_float_fn quant_act_quantizer(enum ggml_type t)
{
    switch (t) {
    case GGML_TYPE_Q8_0: return quant_act_q8_0;
    case GGML_TYPE_Q8_1: return quant_act_q8_1;
    case GGML_TYPE_Q8_K: return quant_ref_q8_K;
    case GGML_TYPE_F16: return quant_ref_f16;
    case GGML_TYPE_BF16: return quant_ref_bf16;
    case GGML_TYPE_F32: return quant_ref_f32;
    default: return NULL;
    }
}

/* ---- float rows ---- */

void quant_vec_dot_f32(int n, float *s, const void *vx, const void *vy)
{
    const float *x = vx, *y = vy;
    double sum = 0.0;
    for (int i = 0; i < n; i++)
        sum += (double)(x[i] * y[i]);
    *s = (float)sum;
}

void quant_vec_dot_f16(int n, float *s, const void *vx, const void *vy)
{
    const uint16_t *x = vx, *y = vy;
    double sum = 0.0;
    for (int i = 0; i < n; i++)
        sum += (double)(F16(x[i]) * F16(y[i]));
    *s = (float)sum;
}

void quant_vec_dot_bf16(int n, float *s, const void *vx, const void *vy)
{
    const uint16_t *x = vx, *y = vy;
    double sum = 0.0;
    for (int i = 0; i < n; i++)
        sum += (double)(medge_bf16_to_fp32(x[i]) * medge_bf16_to_fp32(y[i]));
    *s = (float)sum;
}

/* ---- 32-blocks ---- */

/* ggml's hsum_float_8: the 128-bit halves added, then pairs, then the two sums. */
static inline float hsum8(const float a[8])
{
    const float r0 = a[0] + a[4], r1 = a[1] + a[5], r2 = a[2] + a[6], r3 = a[3] + a[7];
    return (r0 + r2) + (r1 + r3);
}

static inline uint32_t load_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void quant_vec_dot_q4_0_q8_0(int n, float *s, const void *vx, const void *vy)
{
    const block_q4_0 *x = vx;
    const block_q8_0 *y = vy;
    float sumf = 0;
    for (int i = 0; i < n / QK8_0; i++) {
        int sumi = 0;
        for (int j = 0; j < 16; j++)
            sumi += ((x[i].qs[j] & 15) - 8) * y[i].qs[j] + ((x[i].qs[j] >> 4) - 8) * y[i].qs[j + 16];
        sumf = fmaf((float)sumi, F16(x[i].d) * F16(y[i].d), sumf); /* seq (ggml's Q4_0x8 repack) */
    }
    *s = sumf;
}

void quant_vec_dot_q4_1_q8_1(int n, float *s, const void *vx, const void *vy)
{
    const block_q4_1 *x = vx;
    const block_q8_1 *y = vy;
    float sumf = 0;
    for (int i = 0; i < n / QK8_1; i++) {
        int sumi = 0;
        for (int j = 0; j < 16; j++)
            sumi += (x[i].qs[j] & 15) * y[i].qs[j] + (x[i].qs[j] >> 4) * y[i].qs[j + 16];
        sumf += (F16(x[i].d) * F16(y[i].d)) * (float)sumi + F16(x[i].m) * F16(y[i].s);
    }
    *s = sumf;
}

void quant_vec_dot_q5_0_q8_0(int n, float *s, const void *vx, const void *vy)
{
    const block_q5_0 *x = vx;
    const block_q8_0 *y = vy;
    float sumf = 0;
    for (int i = 0; i < n / QK8_0; i++) {
        const uint32_t qh = load_u32(x[i].qh);
        int sumi = 0;
        for (int j = 0; j < 16; j++) {
            int q0 = ((x[i].qs[j] & 15) | (int)((qh >> j) & 1) << 4) - 16;
            int q1 = ((x[i].qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4) - 16;
            sumi += q0 * y[i].qs[j] + q1 * y[i].qs[j + 16];
        }
        sumf += (float)sumi * (F16(x[i].d) * F16(y[i].d));
    }
    *s = sumf;
}

void quant_vec_dot_q5_1_q8_1(int n, float *s, const void *vx, const void *vy)
{
    const block_q5_1 *x = vx;
    const block_q8_1 *y = vy;
    float sumf = 0;
    for (int i = 0; i < n / QK8_1; i++) {
        const uint32_t qh = load_u32(x[i].qh);
        int sumi = 0;
        for (int j = 0; j < 16; j++) {
            int q0 = (x[i].qs[j] & 15) | (int)((qh >> j) & 1) << 4;
            int q1 = (x[i].qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
            sumi += q0 * y[i].qs[j] + q1 * y[i].qs[j + 16];
        }
        sumf += (F16(x[i].d) * F16(y[i].d)) * (float)sumi + F16(x[i].m) * F16(y[i].s);
    }
    *s = sumf;
}

void quant_vec_dot_q8_0_q8_0(int n, float *s, const void *vx, const void *vy)
{
    const block_q8_0 *x = vx;
    const block_q8_0 *y = vy;
    float acc[8] = {0}; /* lanes8: lane k = elements 4k..4k+3 of every block */
    for (int i = 0; i < n / QK8_0; i++) {
        const float d = F16(x[i].d) * F16(y[i].d);
        for (int k = 0; k < 8; k++) {
            int l = 0;
            for (int j = 4 * k; j < 4 * k + 4; j++)
                l += x[i].qs[j] * y[i].qs[j];
            acc[k] = fmaf(d, (float)l, acc[k]);
        }
    }
    *s = hsum8(acc);
}

void quant_vec_dot_iq4_nl_q8_0(int n, float *s, const void *vx, const void *vy)
{
    const block_iq4_nl *x = vx;
    const block_q8_0 *y = vy;
    float sumf = 0;
    for (int i = 0; i < n / QK4_NL; i++) {
        int sumi = 0;
        for (int j = 0; j < 16; j++)
            sumi += quant_kvalues_iq4nl[x[i].qs[j] & 15] * y[i].qs[j] +
                    quant_kvalues_iq4nl[x[i].qs[j] >> 4] * y[i].qs[j + 16];
        sumf += (F16(x[i].d) * F16(y[i].d)) * (float)sumi;
    }
    *s = sumf;
}

/* ---- k-quants against Q8_K ---- */

void quant_vec_dot_q2_K_q8_K(int n, float *s, const void *vx, const void *vy)
{
    const block_q2_K *x = vx;
    const block_q8_K *y = vy;
    float sumf = 0;
    for (int i = 0; i < n / QK_K; i++) {
        int summs = 0, isum = 0;
        for (int j = 0; j < 16; j++)
            summs += y[i].bsums[j] * (x[i].scales[j] >> 4);
        for (int e0 = 0; e0 < QK_K; e0 += 16) {
            int isuml = 0;
            for (int e = e0; e < e0 + 16; e++) {
                int h = e / 128, k = (e % 128) / 32, l = e % 32;
                isuml += y[i].qs[e] * ((x[i].qs[32 * h + l] >> (2 * k)) & 3);
            }
            isum += (x[i].scales[e0 / 16] & 15) * isuml;
        }
        const float dall = y[i].d * F16(x[i].d), dmin = y[i].d * F16(x[i].dmin);
        sumf += dall * (float)isum - dmin * (float)summs;
    }
    *s = sumf;
}

void quant_vec_dot_q3_K_q8_K(int n, float *s, const void *vx, const void *vy)
{
    const block_q3_K *x = vx;
    const block_q8_K *y = vy;
    float sumf = 0;
    for (int i = 0; i < n / QK_K; i++) {
        int8_t sc[16];
        quant_q3_K_scales(x[i].scales, sc);
        int isum = 0;
        for (int j = 0; j < 16; j++) {
            int isub = 0;
            for (int e = 16 * j; e < 16 * j + 16; e++) {
                int h = e / 128, k = (e % 128) / 32, l = e % 32;
                int q = ((x[i].qs[32 * h + l] >> (2 * k)) & 3) - (((x[i].hmask[e % 32] >> (e / 32)) & 1) ? 0 : 4);
                isub += q * y[i].qs[e];
            }
            isum += sc[j] * isub;
        }
        sumf += (F16(x[i].d) * y[i].d) * (float)isum;
    }
    *s = sumf;
}

void quant_vec_dot_q4_K_q8_K(int n, float *s, const void *vx, const void *vy)
{
    const block_q4_K *x = vx;
    const block_q8_K *y = vy;
    /* pairs (ggml's Q4_Kx8 repack GEMM): per pair of 32-element sub-blocks (64 elements), the exact
     * scaled integer sum and the exact mins sum each go into their own running float sum */
    float acc = 0, accm = 0;
    for (int i = 0; i < n / QK_K; i++) {
        const float dd = F16(x[i].d) * y[i].d, dm = F16(x[i].dmin) * y[i].d;
        for (int p = 0; p < 4; p++) {
            int isum = 0, msum = 0;
            for (int j = 2 * p; j < 2 * p + 2; j++) {
                uint8_t sc, m;
                quant_get_scale_min_k4(j, x[i].scales, &sc, &m);
                const uint8_t *q = x[i].qs + 32 * p;
                const int sh = 4 * (j % 2);
                int isub = 0;
                for (int l = 0; l < 32; l++)
                    isub += ((q[l] >> sh) & 15) * y[i].qs[32 * j + l];
                isum += sc * isub;
                msum += m * (y[i].bsums[2 * j] + y[i].bsums[2 * j + 1]);
            }
            acc = fmaf((float)isum, dd, acc);
            accm = fmaf((float)msum, dm, accm);
        }
    }
    *s = acc - accm;
}

void quant_vec_dot_q5_K_q8_K(int n, float *s, const void *vx, const void *vy)
{
    const block_q5_K *x = vx;
    const block_q8_K *y = vy;
    float acc[8] = {0}, summs = 0; /* lanes8 (ggml's AVX2 vec_dot), mins in one running sum */
    for (int i = 0; i < n / QK_K; i++) {
        int lane[8] = {0}, msum = 0;
        for (int j = 0; j < 8; j++) {
            uint8_t sc, m;
            quant_get_scale_min_k4(j, x[i].scales, &sc, &m);
            const uint8_t *q = x[i].qs + 32 * (j / 2);
            const int sh = 4 * (j % 2);
            for (int k = 0; k < 8; k++) {
                int l4 = 0;
                for (int l = 4 * k; l < 4 * k + 4; l++)
                    l4 += (((q[l] >> sh) & 15) | ((x[i].qh[l] >> j) & 1) << 4) * y[i].qs[32 * j + l];
                lane[k] += sc * l4;
            }
            msum += m * (y[i].bsums[2 * j] + y[i].bsums[2 * j + 1]);
        }
        const float d = y[i].d * F16(x[i].d), dmin = -y[i].d * F16(x[i].dmin);
        for (int k = 0; k < 8; k++)
            acc[k] = fmaf(d, (float)lane[k], acc[k]);
        summs = fmaf(dmin, (float)msum, summs);
    }
    *s = hsum8(acc) + summs;
}

void quant_vec_dot_q6_K_q8_K(int n, float *s, const void *vx, const void *vy)
{
    const block_q6_K *x = vx;
    const block_q8_K *y = vy;
    /* lanes8 (ggml's AVX2 vec_dot): lane k sums the unsigned 6-bit codes (0..63) times the
     * activations of elements 4k..4k+3 of every 32-element group, scaled by that group's 16-element
     * scale; the -32 offset is then removed per lane from the block sums of sub-blocks 2k and 2k+1
     * (so lanes hold other integers than a per-element split would). */
    float acc[8] = {0};
    int q[QK_K];
    for (int i = 0; i < n / QK_K; i++) {
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = x[i].ql + 64 * h, *qh = x[i].qh + 32 * h;
            int *qq = q + 128 * h;
            for (int l = 0; l < 32; l++) {
                qq[l] = (ql[l] & 15) | ((qh[l] >> 0) & 3) << 4;
                qq[l + 32] = (ql[l + 32] & 15) | ((qh[l] >> 2) & 3) << 4;
                qq[l + 64] = (ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4;
                qq[l + 96] = (ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4;
            }
        }
        int lane[8] = {0};
        for (int g = 0; g < 8; g++) /* 32-element groups; lanes 0..3 take scale 2g, 4..7 scale 2g+1 */
            for (int k = 0; k < 8; k++) {
                int l4 = 0;
                for (int l = 32 * g + 4 * k; l < 32 * g + 4 * k + 4; l++)
                    l4 += q[l] * y[i].qs[l];
                lane[k] += x[i].scales[2 * g + k / 4] * l4;
            }
        for (int k = 0; k < 8; k++)
            lane[k] -= 32 * (y[i].bsums[2 * k] * x[i].scales[2 * k] + y[i].bsums[2 * k + 1] * x[i].scales[2 * k + 1]);
        const float d = y[i].d * F16(x[i].d);
        for (int k = 0; k < 8; k++)
            acc[k] = fmaf(d, (float)lane[k], acc[k]);
    }
    *s = hsum8(acc);
}

void quant_vec_dot_q8_K_q8_K(int n, float *s, const void *vx, const void *vy)
{
    const block_q8_K *x = vx;
    const block_q8_K *y = vy;
    float sumf = 0;
    for (int i = 0; i < n / QK_K; i++) {
        int sumi = 0;
        for (int j = 0; j < QK_K; j++)
            sumi += x[i].qs[j] * y[i].qs[j];
        sumf += (x[i].d * y[i].d) * (float)sumi;
    }
    *s = sumf;
}

void quant_vec_dot_iq4_xs_q8_K(int n, float *s, const void *vx, const void *vy)
{
    const block_iq4_xs *x = vx;
    const block_q8_K *y = vy;
    float sumf = 0;
    for (int i = 0; i < n / QK_K; i++) {
        int isum = 0;
        for (int b = 0; b < 8; b++) {
            int ls = ((x[i].scales_l[b / 2] >> 4 * (b % 2)) & 15) | ((x[i].scales_h >> 2 * b) & 3) << 4;
            const uint8_t *q = x[i].qs + 16 * b;
            const int8_t *yq = y[i].qs + 32 * b;
            int isub = 0;
            for (int j = 0; j < 16; j++)
                isub += quant_kvalues_iq4nl[q[j] & 15] * yq[j] + quant_kvalues_iq4nl[q[j] >> 4] * yq[j + 16];
            isum += (ls - 32) * isub;
        }
        sumf += (F16(x[i].d) * y[i].d) * (float)isum;
    }
    *s = sumf;
}
