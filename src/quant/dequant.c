/* dequant.c - block formats to float32, value for value as ggml's dequantize_row_* (products
 * evaluated in ggml's order, e.g. (d * sc) * q, so results are bit-identical). */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif
#include "quant/quant.h"

#include <string.h>

const int8_t quant_kvalues_iq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

#define F16(h) medge_fp16_to_fp32(h)

void quant_dequant_f32(const void *x, float *y, int64_t n)
{
    memcpy(y, x, (size_t)n * sizeof(float));
}

/* fp16 -> fp32 without branches, so the row loop vectorizes (the quantizer converts whole F16
 * models): normal values are rebiased by one multiply by 2^-112, subnormals come out of a
 * subtraction against 0.5 in the right binade. Exact for every finite value and infinity
 * (tests compare all 65536 inputs with medge_fp16_to_fp32). */
static inline float f16_fast(uint16_t h)
{
    const uint32_t w = (uint32_t)h << 16, sign = w & 0x80000000u, two_w = w + w;
    uint32_t nb = (two_w >> 4) + (0xE0u << 23), db = (two_w >> 17) | (126u << 23);
    float nf, df;
    memcpy(&nf, &nb, 4);
    memcpy(&df, &db, 4);
    nf *= 0x1.0p-112f;
    df -= 0.5f;
    uint32_t nr, dr;
    memcpy(&nr, &nf, 4);
    memcpy(&dr, &df, 4);
    const uint32_t r = sign | (two_w < (1u << 27) ? dr : nr);
    float f;
    memcpy(&f, &r, 4);
    return f;
}

void quant_dequant_f16(const void *vx, float *y, int64_t n)
{
    const uint16_t *x = vx;
    for (int64_t i = 0; i < n; i++)
        y[i] = f16_fast(x[i]);
}

void quant_dequant_bf16(const void *vx, float *y, int64_t n)
{
    const uint16_t *x = vx;
    for (int64_t i = 0; i < n; i++)
        y[i] = medge_bf16_to_fp32(x[i]);
}

void quant_dequant_q4_0(const void *vx, float *y, int64_t n)
{
    const block_q4_0 *x = vx;
    for (int64_t i = 0; i < n / QK4_0; i++, y += QK4_0) {
        const float d = F16(x[i].d);
        for (int j = 0; j < 16; j++) {
            y[j] = (float)((x[i].qs[j] & 15) - 8) * d;
            y[j + 16] = (float)((x[i].qs[j] >> 4) - 8) * d;
        }
    }
}

void quant_dequant_q4_1(const void *vx, float *y, int64_t n)
{
    const block_q4_1 *x = vx;
    for (int64_t i = 0; i < n / QK4_1; i++, y += QK4_1) {
        const float d = F16(x[i].d), m = F16(x[i].m);
        for (int j = 0; j < 16; j++) {
            y[j] = (float)(x[i].qs[j] & 15) * d + m;
            y[j + 16] = (float)(x[i].qs[j] >> 4) * d + m;
        }
    }
}

static inline uint32_t load_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void quant_dequant_q5_0(const void *vx, float *y, int64_t n)
{
    const block_q5_0 *x = vx;
    for (int64_t i = 0; i < n / QK5_0; i++, y += QK5_0) {
        const float d = F16(x[i].d);
        const uint32_t qh = load_u32(x[i].qh);
        for (int j = 0; j < 16; j++) {
            int q0 = (x[i].qs[j] & 15) | (int)((qh >> j) & 1) << 4;
            int q1 = (x[i].qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
            y[j] = (float)(q0 - 16) * d;
            y[j + 16] = (float)(q1 - 16) * d;
        }
    }
}

void quant_dequant_q5_1(const void *vx, float *y, int64_t n)
{
    const block_q5_1 *x = vx;
    for (int64_t i = 0; i < n / QK5_1; i++, y += QK5_1) {
        const float d = F16(x[i].d), m = F16(x[i].m);
        const uint32_t qh = load_u32(x[i].qh);
        for (int j = 0; j < 16; j++) {
            int q0 = (x[i].qs[j] & 15) | (int)((qh >> j) & 1) << 4;
            int q1 = (x[i].qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
            y[j] = (float)q0 * d + m;
            y[j + 16] = (float)q1 * d + m;
        }
    }
}

void quant_dequant_q8_0(const void *vx, float *y, int64_t n)
{
    const block_q8_0 *x = vx;
    for (int64_t i = 0; i < n / QK8_0; i++, y += QK8_0) {
        const float d = F16(x[i].d);
        for (int j = 0; j < QK8_0; j++)
            y[j] = (float)x[i].qs[j] * d;
    }
}

void quant_dequant_q8_1(const void *vx, float *y, int64_t n)
{
    const block_q8_1 *x = vx;
    for (int64_t i = 0; i < n / QK8_1; i++, y += QK8_1) {
        const float d = F16(x[i].d);
        for (int j = 0; j < QK8_1; j++)
            y[j] = (float)x[i].qs[j] * d;
    }
}

void quant_dequant_q2_K(const void *vx, float *y, int64_t n)
{
    const block_q2_K *x = vx;
    for (int64_t i = 0; i < n / QK_K; i++, y += QK_K) {
        const float d = F16(x[i].d), dmin = F16(x[i].dmin);
        for (int e = 0; e < QK_K; e++) {
            int j = e / 16;
            int h = e / 128, k = (e % 128) / 32, l = e % 32;
            int q = (x[i].qs[32 * h + l] >> (2 * k)) & 3;
            float dl = d * (float)(x[i].scales[j] & 15), ml = dmin * (float)(x[i].scales[j] >> 4);
            y[e] = dl * (float)q - ml;
        }
    }
}

void quant_dequant_q3_K(const void *vx, float *y, int64_t n)
{
    const block_q3_K *x = vx;
    for (int64_t i = 0; i < n / QK_K; i++, y += QK_K) {
        const float d = F16(x[i].d);
        int8_t sc[16];
        quant_q3_K_scales(x[i].scales, sc);
        for (int e = 0; e < QK_K; e++) {
            int h = e / 128, k = (e % 128) / 32, l = e % 32;
            int q = (x[i].qs[32 * h + l] >> (2 * k)) & 3;
            q -= (x[i].hmask[e % 32] >> (e / 32)) & 1 ? 0 : 4;
            y[e] = (d * (float)sc[e / 16]) * (float)q;
        }
    }
}

void quant_dequant_q4_K(const void *vx, float *y, int64_t n)
{
    const block_q4_K *x = vx;
    for (int64_t i = 0; i < n / QK_K; i++, y += QK_K) {
        const float d = F16(x[i].d), dmin = F16(x[i].dmin);
        for (int c = 0; c < 4; c++) {
            uint8_t sc0, m0, sc1, m1;
            quant_get_scale_min_k4(2 * c, x[i].scales, &sc0, &m0);
            quant_get_scale_min_k4(2 * c + 1, x[i].scales, &sc1, &m1);
            const float d0 = d * sc0, mm0 = dmin * m0, d1 = d * sc1, mm1 = dmin * m1;
            const uint8_t *q = x[i].qs + 32 * c;
            for (int l = 0; l < 32; l++) {
                y[64 * c + l] = d0 * (float)(q[l] & 15) - mm0;
                y[64 * c + 32 + l] = d1 * (float)(q[l] >> 4) - mm1;
            }
        }
    }
}

void quant_dequant_q5_K(const void *vx, float *y, int64_t n)
{
    const block_q5_K *x = vx;
    for (int64_t i = 0; i < n / QK_K; i++, y += QK_K) {
        const float d = F16(x[i].d), dmin = F16(x[i].dmin);
        for (int c = 0; c < 4; c++) {
            uint8_t sc0, m0, sc1, m1;
            quant_get_scale_min_k4(2 * c, x[i].scales, &sc0, &m0);
            quant_get_scale_min_k4(2 * c + 1, x[i].scales, &sc1, &m1);
            const float d0 = d * sc0, mm0 = dmin * m0, d1 = d * sc1, mm1 = dmin * m1;
            const uint8_t *q = x[i].qs + 32 * c;
            for (int l = 0; l < 32; l++) {
                int q0 = (q[l] & 15) + ((x[i].qh[l] >> (2 * c)) & 1 ? 16 : 0);
                int q1 = (q[l] >> 4) + ((x[i].qh[l] >> (2 * c + 1)) & 1 ? 16 : 0);
                y[64 * c + l] = d0 * (float)q0 - mm0;
                y[64 * c + 32 + l] = d1 * (float)q1 - mm1;
            }
        }
    }
}

void quant_dequant_q6_K(const void *vx, float *y, int64_t n)
{
    const block_q6_K *x = vx;
    for (int64_t i = 0; i < n / QK_K; i++, y += QK_K) {
        const float d = F16(x[i].d);
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = x[i].ql + 64 * h, *qh = x[i].qh + 32 * h;
            const int8_t *sc = x[i].scales + 8 * h;
            float *yy = y + 128 * h;
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                int q1 = ((ql[l] & 15) | ((qh[l] >> 0) & 3) << 4) - 32;
                int q2 = ((ql[l + 32] & 15) | ((qh[l] >> 2) & 3) << 4) - 32;
                int q3 = ((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32;
                int q4 = ((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32;
                yy[l] = (d * (float)sc[is + 0]) * (float)q1;
                yy[l + 32] = (d * (float)sc[is + 2]) * (float)q2;
                yy[l + 64] = (d * (float)sc[is + 4]) * (float)q3;
                yy[l + 96] = (d * (float)sc[is + 6]) * (float)q4;
            }
        }
    }
}

void quant_dequant_q8_K(const void *vx, float *y, int64_t n)
{
    const block_q8_K *x = vx;
    for (int64_t i = 0; i < n / QK_K; i++, y += QK_K)
        for (int j = 0; j < QK_K; j++)
            y[j] = x[i].d * (float)x[i].qs[j];
}

void quant_dequant_iq4_nl(const void *vx, float *y, int64_t n)
{
    const block_iq4_nl *x = vx;
    for (int64_t i = 0; i < n / QK4_NL; i++, y += QK4_NL) {
        const float d = F16(x[i].d);
        for (int j = 0; j < 16; j++) {
            y[j] = d * (float)quant_kvalues_iq4nl[x[i].qs[j] & 15];
            y[j + 16] = d * (float)quant_kvalues_iq4nl[x[i].qs[j] >> 4];
        }
    }
}

void quant_dequant_iq4_xs(const void *vx, float *y, int64_t n)
{
    const block_iq4_xs *x = vx;
    for (int64_t i = 0; i < n / QK_K; i++, y += QK_K) {
        const float d = F16(x[i].d);
        for (int b = 0; b < 8; b++) {
            int ls = ((x[i].scales_l[b / 2] >> 4 * (b % 2)) & 15) | ((x[i].scales_h >> 2 * b) & 3) << 4;
            const float dl = d * (float)(ls - 32);
            const uint8_t *q = x[i].qs + 16 * b;
            float *yy = y + 32 * b;
            for (int j = 0; j < 16; j++) {
                yy[j] = dl * (float)quant_kvalues_iq4nl[q[j] & 15];
                yy[j + 16] = dl * (float)quant_kvalues_iq4nl[q[j] >> 4];
            }
        }
    }
}
