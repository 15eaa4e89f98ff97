/* quantize.c - float32 to every block format, byte-identical to ggml_quantize_chunk (reference
 * row quantizers without an importance matrix, the importance-weighted searches with one).
 * Written from specs/quantization.md: every float operation is one binary32 operation in the
 * order given there (this file must not be compiled with FMA contraction or -ffast-math), sums
 * are sequential, and rn() is ggml's nearest_int (round half to even). */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif
#include "quant/quant.h"

#include <float.h>
#include <math.h>
#include <string.h>

#define GROUP_MAX_EPS 1e-15f
#define H(f) medge_fp32_to_fp16(f)
#define F16(h) medge_fp16_to_fp32(h)
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define MIN(a, b) ((a) < (b) ? (a) : (b))

/* ggml's nearest_int: the magic-number trick (round half to even for |v| < 2^22). */
static inline int rn(float v)
{
    float t = v + 12582912.f;
    int32_t i;
    memcpy(&i, &t, 4);
    return (i & 0x007fffff) - 0x00400000;
}

static inline void store_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* ---------------------------------------------------------------------------------------------
 * Search procedures (spec §4)
 * ------------------------------------------------------------------------------------------- */

/* §4.1: symmetric signed scale, codes L = level + nmax in 0..2nmax-1 */
static float make_qx_quants(int n, int nmax, const float *x, int8_t *L, const float *qw)
{
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++) {
        float ax = fabsf(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    float iscale = (float)(-nmax) / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = rn(iscale * x[i]);
        l = MAX(-nmax, MIN(nmax - 1, l));
        L[i] = (int8_t)(l + nmax);
        float w = qw ? qw[i] : x[i] * x[i];
        sumlx += w * x[i] * (float)l;
        suml2 += w * (float)l * (float)l;
    }
    float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0)
            continue;
        iscale = -((float)nmax + 0.1f * (float)is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; i++) {
            int l = rn(iscale * x[i]);
            l = MAX(-nmax, MIN(nmax - 1, l));
            float w = qw ? qw[i] : x[i] * x[i];
            sumlx += w * x[i] * (float)l;
            suml2 += w * (float)l * (float)l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++) {
                int l = rn(iscale * x[i]);
                L[i] = (int8_t)(nmax + MAX(-nmax, MIN(nmax - 1, l)));
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* §4.2: Q3_K reference search (n = 16, nmax = 4), codes 0..7 */
static float make_q3_quants(int n, int nmax, const float *x, int8_t *L)
{
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++) {
        float ax = fabsf(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    float iscale = (float)(-nmax) / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = rn(iscale * x[i]);
        l = MAX(-nmax, MIN(nmax - 1, l));
        L[i] = (int8_t)l;
        float w = x[i] * x[i];
        sumlx += w * x[i] * (float)l;
        suml2 += w * (float)l * (float)l;
    }
    for (int itry = 0; itry < 5; itry++) {
        int n_changed = 0;
        for (int i = 0; i < n; i++) {
            float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * (float)L[i];
            if (slx > 0) {
                float sl2 = suml2 - w * (float)L[i] * (float)L[i];
                int new_l = rn(x[i] * sl2 / slx);
                new_l = MAX(-nmax, MIN(nmax - 1, new_l));
                if (new_l != L[i]) {
                    slx += w * x[i] * (float)new_l;
                    sl2 += w * (float)new_l * (float)new_l;
                    if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = (int8_t)new_l;
                        sumlx = slx;
                        suml2 = sl2;
                        n_changed++;
                    }
                }
            }
        }
        if (!n_changed)
            break;
    }
    for (int i = 0; i < n; i++)
        L[i] = (int8_t)(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/* §4.3: asymmetric (scale, min) search; returns the scale, *the_min = -min, codes 0..nmax.
 * Laux is scratch of n bytes. */
static float make_qkx_quants(int n, int nmax, const float *x, const float *weights, uint8_t *L, float *the_min,
                             uint8_t *Laux, float rmin, float rdelta, int nstep, int use_mad)
{
    float min = x[0], max = x[0];
    float sum_w = weights[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min)
            min = x[i];
        if (x[i] > max)
            max = x[i];
        float w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if (min > 0)
        min = 0;
    if (max <= min) {
        memset(L, 0, (size_t)n);
        *the_min = -min;
        return 0.f;
    }
    float iscale = (float)nmax / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; i++) {
        int l = rn(iscale * (x[i] - min));
        L[i] = (uint8_t)MAX(0, MIN(nmax, l));
        float diff = scale * (float)L[i] + min - x[i];
        diff = use_mad ? fabsf(diff) : diff * diff;
        best_error += weights[i] * diff;
    }
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * (float)is + (float)nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            int l = rn(iscale * (x[i] - min));
            l = MAX(0, MIN(nmax, l));
            Laux[i] = (uint8_t)l;
            float w = weights[i];
            sum_l += w * (float)l;
            sum_l2 += w * (float)l * (float)l;
            sum_xl += w * (float)l * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float cur_error = 0;
            for (int i = 0; i < n; i++) {
                float diff = this_scale * (float)Laux[i] + this_min - x[i];
                diff = use_mad ? fabsf(diff) : diff * diff;
                cur_error += weights[i] * diff;
            }
            if (cur_error < best_error) {
                memcpy(L, Laux, (size_t)n);
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

/* §4.4: non-negative sub-scales to 0..nmax */
static float make_qp_quants(int n, int nmax, const float *x, uint8_t *L, const float *quant_weights)
{
    float max = 0;
    for (int i = 0; i < n; i++)
        max = MAX(max, x[i]);
    if (max < GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    float iscale = (float)nmax / max;
    for (int i = 0; i < n; i++)
        L[i] = (uint8_t)rn(iscale * x[i]);
    float scale = 1 / iscale;
    float best_mse = 0;
    for (int i = 0; i < n; i++) {
        float diff = x[i] - scale * (float)L[i];
        float w = quant_weights[i];
        best_mse += w * diff * diff;
    }
    for (int is = -4; is <= 4; is++) {
        if (is == 0)
            continue;
        float iscale_is = (0.1f * (float)is + (float)nmax) / max;
        float scale_is = 1 / iscale_is;
        float mse = 0;
        for (int i = 0; i < n; i++) {
            int l = rn(iscale_is * x[i]);
            l = MIN(nmax, l);
            float diff = x[i] - scale_is * (float)l;
            float w = quant_weights[i];
            mse += w * diff * diff;
        }
        if (mse < best_mse) {
            best_mse = mse;
            iscale = iscale_is;
        }
    }
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = rn(iscale * x[i]);
        l = MIN(nmax, l);
        L[i] = (uint8_t)l;
        float w = quant_weights[i];
        sumlx += w * x[i] * (float)l;
        suml2 += w * (float)l * (float)l;
    }
    for (int itry = 0; itry < 5; itry++) {
        int n_changed = 0;
        for (int i = 0; i < n; i++) {
            float w = quant_weights[i];
            float slx = sumlx - w * x[i] * (float)L[i];
            float sl2 = suml2 - w * (float)L[i] * (float)L[i];
            if (slx > 0 && sl2 > 0) {
                int new_l = rn(x[i] * sl2 / slx);
                new_l = MIN(nmax, new_l);
                if (new_l != L[i]) {
                    slx += w * x[i] * (float)new_l;
                    sl2 += w * (float)new_l * (float)new_l;
                    if (slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = (uint8_t)new_l;
                        sumlx = slx;
                        suml2 = sl2;
                        n_changed++;
                    }
                }
            }
        }
        if (!n_changed)
            break;
    }
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/* ---------------------------------------------------------------------------------------------
 * F32 / F16 / BF16 (spec §8)
 * ------------------------------------------------------------------------------------------- */

void quant_ref_f32(const float *x, void *y, int64_t n)
{
    memcpy(y, x, (size_t)n * sizeof(float));
}

void quant_ref_f16(const float *x, void *vy, int64_t n)
{
    uint16_t *y = vy;
    for (int64_t i = 0; i < n; i++)
        y[i] = H(x[i]);
}

void quant_ref_bf16(const float *x, void *vy, int64_t n)
{
    uint16_t *y = vy;
    for (int64_t i = 0; i < n; i++)
        y[i] = medge_fp32_to_bf16(x[i]);
}

/* ---------------------------------------------------------------------------------------------
 * 32-element blocks (spec §5)
 * ------------------------------------------------------------------------------------------- */

void quant_ref_q4_0(const float *x, void *vy, int64_t n)
{
    block_q4_0 *y = vy;
    for (int64_t i = 0; i < n / QK4_0; i++, x += QK4_0) {
        float amax = 0, max = 0;
        for (int j = 0; j < QK4_0; j++)
            if (amax < fabsf(x[j])) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        const float d = max / -8;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        y[i].d = H(d);
        for (int j = 0; j < 16; j++) {
            int xi0 = MIN(15, (int8_t)(x[j] * id + 8.5f));
            int xi1 = MIN(15, (int8_t)(x[16 + j] * id + 8.5f));
            y[i].qs[j] = (uint8_t)(xi0 | xi1 << 4);
        }
    }
}

void quant_ref_q4_1(const float *x, void *vy, int64_t n)
{
    block_q4_1 *y = vy;
    for (int64_t i = 0; i < n / QK4_1; i++, x += QK4_1) {
        float min = FLT_MAX, max = -FLT_MAX;
        for (int j = 0; j < QK4_1; j++) {
            if (x[j] < min)
                min = x[j];
            if (x[j] > max)
                max = x[j];
        }
        const float d = (max - min) / 15;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        y[i].d = H(d);
        y[i].m = H(min);
        for (int j = 0; j < 16; j++) {
            int xi0 = MIN(15, (int8_t)((x[j] - min) * id + 0.5f));
            int xi1 = MIN(15, (int8_t)((x[16 + j] - min) * id + 0.5f));
            y[i].qs[j] = (uint8_t)(xi0 | xi1 << 4);
        }
    }
}

void quant_ref_q5_0(const float *x, void *vy, int64_t n)
{
    block_q5_0 *y = vy;
    for (int64_t i = 0; i < n / QK5_0; i++, x += QK5_0) {
        float amax = 0, max = 0;
        for (int j = 0; j < QK5_0; j++)
            if (amax < fabsf(x[j])) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        const float d = max / -16;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        y[i].d = H(d);
        uint32_t qh = 0;
        for (int j = 0; j < 16; j++) {
            int xi0 = MIN(31, (int8_t)(x[j] * id + 16.5f));
            int xi1 = MIN(31, (int8_t)(x[16 + j] * id + 16.5f));
            y[i].qs[j] = (uint8_t)((xi0 & 15) | (xi1 & 15) << 4);
            qh |= (uint32_t)((xi0 & 0x10) >> 4) << j;
            qh |= (uint32_t)((xi1 & 0x10) >> 4) << (j + 16);
        }
        store_u32(y[i].qh, qh);
    }
}

void quant_ref_q5_1(const float *x, void *vy, int64_t n)
{
    block_q5_1 *y = vy;
    for (int64_t i = 0; i < n / QK5_1; i++, x += QK5_1) {
        float min = FLT_MAX, max = -FLT_MAX;
        for (int j = 0; j < QK5_1; j++) {
            if (x[j] < min)
                min = x[j];
            if (x[j] > max)
                max = x[j];
        }
        const float d = (max - min) / 31;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        y[i].d = H(d);
        y[i].m = H(min);
        uint32_t qh = 0;
        for (int j = 0; j < 16; j++) {
            uint8_t xi0 = (uint8_t)(int)((x[j] - min) * id + 0.5f);
            uint8_t xi1 = (uint8_t)(int)((x[16 + j] - min) * id + 0.5f);
            y[i].qs[j] = (uint8_t)((xi0 & 15) | (xi1 & 15) << 4);
            qh |= (uint32_t)((xi0 & 0x10) >> 4) << j;
            qh |= (uint32_t)((xi1 & 0x10) >> 4) << (j + 16);
        }
        store_u32(y[i].qh, qh);
    }
}

void quant_ref_q8_0(const float *x, void *vy, int64_t n)
{
    block_q8_0 *y = vy;
    for (int64_t i = 0; i < n / QK8_0; i++, x += QK8_0) {
        float amax = 0;
        for (int j = 0; j < QK8_0; j++)
            amax = MAX(amax, fabsf(x[j]));
        const float d = amax / 127;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        y[i].d = H(d);
        for (int j = 0; j < QK8_0; j++)
            y[i].qs[j] = (int8_t)roundf(x[j] * id);
    }
}

void quant_ref_q8_1(const float *x, void *vy, int64_t n)
{
    block_q8_1 *y = vy;
    for (int64_t i = 0; i < n / QK8_1; i++, x += QK8_1) {
        float amax = 0;
        for (int j = 0; j < QK8_1; j++)
            amax = MAX(amax, fabsf(x[j]));
        const float d = amax / 127;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        y[i].d = H(d);
        int sum = 0;
        for (int j = 0; j < QK8_1 / 2; j++) {
            y[i].qs[j] = (int8_t)roundf(x[j] * id);
            y[i].qs[QK8_1 / 2 + j] = (int8_t)roundf(x[QK8_1 / 2 + j] * id);
            sum += y[i].qs[j] + y[i].qs[QK8_1 / 2 + j];
        }
        y[i].s = H((float)sum * d);
    }
}

/* imatrix paths of the 32-blocks (spec §5): per row; sigma2 over the whole row */
static float row_sigma2(const float *x, int64_t n)
{
    float sum_x2 = 0;
    for (int64_t j = 0; j < n; j++)
        sum_x2 += x[j] * x[j];
    return sum_x2 / (float)n;
}

static void qw_weights(const float *x, const float *qw, float sigma2, float *w, int n)
{
    for (int j = 0; j < n; j++)
        w[j] = qw[j] * sqrtf(sigma2 + x[j] * x[j]);
}

static void impl_q4_0(const float *x, block_q4_0 *y, int64_t n, const float *qw)
{
    float w[QK4_0];
    int8_t L[QK4_0];
    const float sigma2 = row_sigma2(x, n);
    for (int64_t ib = 0; ib < n / QK4_0; ib++) {
        const float *xb = x + QK4_0 * ib;
        qw_weights(xb, qw + QK4_0 * ib, sigma2, w, QK4_0);
        float d = make_qx_quants(QK4_0, 8, xb, L, w);
        y[ib].d = H(d);
        for (int j = 0; j < 16; j++)
            y[ib].qs[j] = (uint8_t)(L[j] | L[j + 16] << 4);
    }
}

static void impl_q5_0(const float *x, block_q5_0 *y, int64_t n, const float *qw)
{
    float w[QK5_0];
    int8_t L[QK5_0];
    const float sigma2 = row_sigma2(x, n);
    for (int64_t ib = 0; ib < n / QK5_0; ib++) {
        const float *xb = x + QK5_0 * ib;
        qw_weights(xb, qw + QK5_0 * ib, sigma2, w, QK5_0);
        float d = make_qx_quants(QK5_0, 16, xb, L, w);
        y[ib].d = H(d);
        uint32_t qh = 0;
        for (int j = 0; j < 16; j++) {
            const uint8_t xi0 = (uint8_t)L[j], xi1 = (uint8_t)L[j + 16];
            y[ib].qs[j] = (uint8_t)((xi0 & 15) | (xi1 & 15) << 4);
            qh |= (uint32_t)((xi0 & 0x10) >> 4) << j;
            qh |= (uint32_t)((xi1 & 0x10) >> 4) << (j + 16);
        }
        store_u32(y[ib].qh, qh);
    }
}

static void impl_q4_1(const float *x, block_q4_1 *y, int64_t n, const float *qw)
{
    float w[QK4_1];
    uint8_t L[QK4_1], Laux[QK4_1];
    const float sigma2 = row_sigma2(x, n);
    for (int64_t ib = 0; ib < n / QK4_1; ib++) {
        const float *xb = x + QK4_1 * ib;
        qw_weights(xb, qw + QK4_1 * ib, sigma2, w, QK4_1);
        float min;
        float d = make_qkx_quants(QK4_1, 15, xb, w, L, &min, Laux, -0.9f, 0.05f, 36, 0);
        y[ib].d = H(d);
        y[ib].m = H(-min);
        for (int j = 0; j < 16; j++)
            y[ib].qs[j] = (uint8_t)(L[j] | L[j + 16] << 4);
    }
}

static void impl_q5_1(const float *x, block_q5_1 *y, int64_t n, const float *qw)
{
    float w[QK5_1];
    uint8_t L[QK5_1], Laux[QK5_1];
    const float sigma2 = row_sigma2(x, n);
    for (int64_t ib = 0; ib < n / QK5_1; ib++) {
        const float *xb = x + QK5_1 * ib;
        qw_weights(xb, qw + QK5_1 * ib, sigma2, w, QK5_1);
        float min;
        float d = make_qkx_quants(QK5_1, 31, xb, w, L, &min, Laux, -0.9f, 0.05f, 36, 0);
        y[ib].d = H(d);
        y[ib].m = H(-min);
        uint32_t qh = 0;
        for (int j = 0; j < 16; j++) {
            const uint8_t xi0 = L[j], xi1 = L[j + 16];
            y[ib].qs[j] = (uint8_t)((xi0 & 15) | (xi1 & 15) << 4);
            qh |= (uint32_t)((xi0 & 0x10) >> 4) << j;
            qh |= (uint32_t)((xi1 & 0x10) >> 4) << (j + 16);
        }
        store_u32(y[ib].qh, qh);
    }
}

/* ---------------------------------------------------------------------------------------------
 * K-quants (spec §6)
 * ------------------------------------------------------------------------------------------- */

static void pack_2bit(const uint8_t *L, uint8_t *qs)
{
    for (int j = 0; j < QK_K; j += 128)
        for (int l = 0; l < 32; l++)
            qs[j / 4 + l] = (uint8_t)(L[j + l] | L[j + l + 32] << 2 | L[j + l + 64] << 4 | L[j + l + 96] << 6);
}

/* Q2_K: re-quantize with the stored scales and pack (shared by ref and imatrix paths) */
static void finish_q2_K(const float *x, block_q2_K *y, uint8_t *L)
{
    for (int j = 0; j < QK_K / 16; j++) {
        const float d = F16(y->d) * (float)(y->scales[j] & 0xF);
        if (!d)
            continue;
        const float dm = F16(y->dmin) * (float)(y->scales[j] >> 4);
        for (int ii = 0; ii < 16; ii++) {
            int l = rn((x[16 * j + ii] + dm) / d);
            L[16 * j + ii] = (uint8_t)MAX(0, MIN(3, l));
        }
    }
    pack_2bit(L, y->qs);
}

void quant_ref_q2_K(const float *x, void *vy, int64_t n)
{
    block_q2_K *y = vy;
    uint8_t L[QK_K], Laux[16];
    float weights[16], mins[QK_K / 16], scales[QK_K / 16];
    const float q4scale = 15.f;
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < QK_K / 16; j++) {
            for (int l = 0; l < 16; l++)
                weights[l] = fabsf(x[16 * j + l]);
            scales[j] = make_qkx_quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux, -0.5f, 0.1f, 15, 1);
            if (scales[j] > max_scale)
                max_scale = scales[j];
            if (mins[j] > max_min)
                max_min = mins[j];
        }
        if (max_scale > 0) {
            float iscale = q4scale / max_scale;
            for (int j = 0; j < QK_K / 16; j++)
                y[i].scales[j] = (uint8_t)rn(iscale * scales[j]);
            y[i].d = H(max_scale / q4scale);
        } else {
            memset(y[i].scales, 0, sizeof y[i].scales);
            y[i].d = H(0.f);
        }
        if (max_min > 0) {
            float iscale = q4scale / max_min;
            for (int j = 0; j < QK_K / 16; j++)
                y[i].scales[j] |= (uint8_t)(rn(iscale * mins[j]) << 4);
            y[i].dmin = H(max_min / q4scale);
        } else {
            y[i].dmin = H(0.f);
        }
        finish_q2_K(x, &y[i], L);
    }
}

static void impl_q2_K(const float *x, block_q2_K *y, int64_t n, const float *quant_weights)
{
    uint8_t L[QK_K], Laux[16], Ls[QK_K / 16], Lm[QK_K / 16];
    float mins[QK_K / 16], scales[QK_K / 16], sw[QK_K / 16], weight[16];
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        float sumx2 = 0;
        for (int j = 0; j < QK_K; j++)
            sumx2 += x[j] * x[j];
        const float sigma2 = sumx2 / QK_K;
        for (int j = 0; j < QK_K / 16; j++) {
            const float *qw = quant_weights + QK_K * i + 16 * j;
            qw_weights(x + 16 * j, qw, sigma2, weight, 16);
            float sumw = 0;
            for (int l = 0; l < 16; l++)
                sumw += weight[l];
            sw[j] = sumw;
            scales[j] = make_qkx_quants(16, 3, x + 16 * j, weight, L + 16 * j, &mins[j], Laux, -0.9f, 0.05f, 36, 0);
        }
        const float dm = make_qp_quants(QK_K / 16, 15, scales, Ls, sw);
        const float mm = make_qp_quants(QK_K / 16, 15, mins, Lm, sw);
        y[i].d = H(dm);
        y[i].dmin = H(mm);
        for (int j = 0; j < QK_K / 16; j++)
            y[i].scales[j] = (uint8_t)(Ls[j] | Lm[j] << 4);
        finish_q2_K(x, &y[i], L);
    }
}

static void q3_K_pack_scale(uint8_t *scales, int j, int l)
{
    if (j < 8)
        scales[j] = (uint8_t)(l & 0xF);
    else
        scales[j - 8] |= (uint8_t)((l & 0xF) << 4);
    l >>= 4;
    scales[j % 4 + 8] |= (uint8_t)(l << (2 * (j / 4)));
}

static void finish_q3_K(const float *x, block_q3_K *y, int8_t *L)
{
    int8_t sc[16];
    quant_q3_K_scales(y->scales, sc);
    for (int j = 0; j < QK_K / 16; j++) {
        const float d = F16(y->d) * (float)sc[j];
        if (!d)
            continue;
        for (int ii = 0; ii < 16; ii++) {
            int l = rn(x[16 * j + ii] / d);
            l = MAX(-4, MIN(3, l));
            L[16 * j + ii] = (int8_t)(l + 4);
        }
    }
    memset(y->hmask, 0, QK_K / 8);
    for (int j = 0; j < QK_K; j++)
        if (L[j] > 3) {
            y->hmask[j % 32] |= (uint8_t)(1 << (j / 32));
            L[j] = (int8_t)(L[j] - 4);
        }
    pack_2bit((const uint8_t *)L, y->qs);
}

void quant_ref_q3_K(const float *x, void *vy, int64_t n)
{
    block_q3_K *y = vy;
    int8_t L[QK_K];
    float scales[QK_K / 16];
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        float max_scale = 0, amax = 0;
        for (int j = 0; j < QK_K / 16; j++) {
            scales[j] = make_q3_quants(16, 4, x + 16 * j, L + 16 * j);
            float scale = fabsf(scales[j]);
            if (scale > amax) {
                amax = scale;
                max_scale = scales[j];
            }
        }
        memset(y[i].scales, 0, 12);
        if (max_scale != 0) {
            float iscale = -32.f / max_scale;
            for (int j = 0; j < QK_K / 16; j++) {
                int8_t l8 = (int8_t)rn(iscale * scales[j]);
                int l = MAX(-32, MIN(31, (int)l8)) + 32;
                q3_K_pack_scale(y[i].scales, j, l);
            }
            y[i].d = H(1 / iscale);
        } else {
            y[i].d = H(0.f);
        }
        finish_q3_K(x, &y[i], L);
    }
}

static void impl_q3_K(const float *x, block_q3_K *y, int64_t n, const float *quant_weights)
{
    int8_t L[QK_K], Ls[QK_K / 16];
    float scales[QK_K / 16], weight[16], sw[QK_K / 16];
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        float sumx2 = 0;
        for (int j = 0; j < QK_K; j++)
            sumx2 += x[j] * x[j];
        const float sigma2 = 2 * sumx2 / QK_K;
        for (int j = 0; j < QK_K / 16; j++) {
            const float *qw = quant_weights + QK_K * i + 16 * j;
            qw_weights(x + 16 * j, qw, sigma2, weight, 16);
            float sumw = 0;
            for (int l = 0; l < 16; l++)
                sumw += weight[l];
            sw[j] = sumw;
            scales[j] = make_qx_quants(16, 4, x + 16 * j, L + 16 * j, weight);
        }
        memset(y[i].scales, 0, 12);
        const float d_block = make_qx_quants(QK_K / 16, 32, scales, Ls, sw);
        for (int j = 0; j < QK_K / 16; j++)
            q3_K_pack_scale(y[i].scales, j, Ls[j]);
        y[i].d = H(d_block);
        finish_q3_K(x, &y[i], L);
    }
}

static void pack_scale_min_k4(uint8_t *s, int j, uint8_t ls, uint8_t lm)
{
    if (j < 4) {
        s[j] = ls;
        s[j + 4] = lm;
    } else {
        s[j + 4] = (uint8_t)((ls & 0xF) | (lm & 0xF) << 4);
        s[j - 4] |= (uint8_t)((ls >> 4) << 6);
        s[j - 0] |= (uint8_t)((lm >> 4) << 6);
    }
}

/* Q4_K / Q5_K: re-quantize all 256 codes with the stored 6-bit scales (codes 0..nmax) */
static void requant_k4(const float *x, const uint8_t *scales, float d_all, float dmin_all, int nmax, uint8_t *L)
{
    for (int j = 0; j < QK_K / 32; j++) {
        uint8_t sc, m;
        quant_get_scale_min_k4(j, scales, &sc, &m);
        const float d = d_all * (float)sc;
        if (!d)
            continue;
        const float dm = dmin_all * (float)m;
        for (int ii = 0; ii < 32; ii++) {
            int l = rn((x[32 * j + ii] + dm) / d);
            L[32 * j + ii] = (uint8_t)MAX(0, MIN(nmax, l));
        }
    }
}

static void pack_q4_K(const uint8_t *L, uint8_t *q)
{
    for (int j = 0; j < QK_K; j += 64) {
        for (int l = 0; l < 32; l++)
            q[l] = (uint8_t)(L[j + l] | L[j + l + 32] << 4);
        q += 32;
    }
}

static void pack_q5_K(const uint8_t *L, uint8_t *qh, uint8_t *ql)
{
    memset(qh, 0, QK_K / 8);
    uint8_t m1 = 1, m2 = 2;
    for (int n = 0; n < QK_K; n += 64) {
        for (int j = 0; j < 32; j++) {
            int l1 = L[n + j];
            if (l1 > 15) {
                l1 -= 16;
                qh[j] |= m1;
            }
            int l2 = L[n + j + 32];
            if (l2 > 15) {
                l2 -= 16;
                qh[j] |= m2;
            }
            ql[j] = (uint8_t)(l1 | l2 << 4);
        }
        m1 = (uint8_t)(m1 << 2);
        m2 = (uint8_t)(m2 << 2);
        ql += 32;
    }
}

/* reference Q4_K/Q5_K stage 1: per sub-block (scale, min) search; returns max scale/min */
static void ref_k45_scales(const float *x, int nmax, float rmin, float rdelta, int nstep, uint8_t *L,
                           float *scales, float *mins, float *max_scale, float *max_min)
{
    uint8_t Laux[32];
    float weights[32];
    *max_scale = 0;
    *max_min = 0;
    for (int j = 0; j < QK_K / 32; j++) {
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++)
            sum_x2 += x[32 * j + l] * x[32 * j + l];
        float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++)
            weights[l] = av_x + fabsf(x[32 * j + l]);
        scales[j] = make_qkx_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, rmin, rdelta, nstep, 0);
        if (scales[j] > *max_scale)
            *max_scale = scales[j];
        if (mins[j] > *max_min)
            *max_min = mins[j];
    }
}

static void ref_k45_pack_scales(uint8_t *out, const float *scales, const float *mins, float max_scale,
                                float max_min)
{
    float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    for (int j = 0; j < QK_K / 32; j++) {
        uint8_t ls = (uint8_t)rn(inv_scale * scales[j]);
        uint8_t lm = (uint8_t)rn(inv_min * mins[j]);
        ls = MIN(63, ls);
        lm = MIN(63, lm);
        pack_scale_min_k4(out, j, ls, lm);
    }
}

void quant_ref_q4_K_scalar(const float *x, void *vy, int64_t n)
{
    block_q4_K *y = vy;
    uint8_t L[QK_K];
    float mins[QK_K / 32], scales[QK_K / 32];
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        float max_scale, max_min;
        ref_k45_scales(x, 15, -1.f, 0.1f, 20, L, scales, mins, &max_scale, &max_min);
        ref_k45_pack_scales(y[i].scales, scales, mins, max_scale, max_min);
        y[i].d = H(max_scale / 63.f);
        y[i].dmin = H(max_min / 63.f);
        requant_k4(x, y[i].scales, F16(y[i].d), F16(y[i].dmin), 15, L);
        pack_q4_K(L, y[i].qs);
    }
}

void quant_ref_q5_K_scalar(const float *x, void *vy, int64_t n)
{
    block_q5_K *y = vy;
    uint8_t L[QK_K];
    float mins[QK_K / 32], scales[QK_K / 32];
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        float max_scale, max_min;
        ref_k45_scales(x, 31, -0.5f, 0.1f, 15, L, scales, mins, &max_scale, &max_min);
        ref_k45_pack_scales(y[i].scales, scales, mins, max_scale, max_min);
        y[i].d = H(max_scale / 63.f);
        y[i].dmin = H(max_min / 63.f);
        requant_k4(x, y[i].scales, F16(y[i].d), F16(y[i].dmin), 31, L);
        pack_q5_K(L, y[i].qh, y[i].qs);
    }
}

/* imatrix Q4_K/Q5_K stage 1 + scale packing; returns d and dmin (unrounded) */
static void impl_k45(const float *x, const float *qwb, int nmax, uint8_t *L, uint8_t *out_scales, float *d,
                     float *dmin)
{
    uint8_t Laux[32], Ls[QK_K / 32], Lm[QK_K / 32];
    float weights[32], mins[QK_K / 32], scales[QK_K / 32], sw[QK_K / 32];
    float sum_x2 = 0;
    for (int l = 0; l < QK_K; l++)
        sum_x2 += x[l] * x[l];
    const float sigma2 = 2 * sum_x2 / QK_K;
    for (int j = 0; j < QK_K / 32; j++) {
        qw_weights(x + 32 * j, qwb + 32 * j, sigma2, weights, 32);
        float sumw = 0;
        for (int l = 0; l < 32; l++)
            sumw += weights[l];
        sw[j] = sumw;
        scales[j] = make_qkx_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, -0.9f, 0.05f, 36, 0);
    }
    *d = make_qp_quants(QK_K / 32, 63, scales, Ls, sw);
    *dmin = make_qp_quants(QK_K / 32, 63, mins, Lm, sw);
    for (int j = 0; j < QK_K / 32; j++)
        pack_scale_min_k4(out_scales, j, MIN(63, Ls[j]), MIN(63, Lm[j]));
}

static void impl_q4_K(const float *x, block_q4_K *y, int64_t n, const float *qw)
{
    uint8_t L[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        float d, dmin;
        impl_k45(x, qw + QK_K * i, 15, L, y[i].scales, &d, &dmin);
        y[i].d = H(d);
        y[i].dmin = H(dmin);
        requant_k4(x, y[i].scales, F16(y[i].d), F16(y[i].dmin), 15, L);
        pack_q4_K(L, y[i].qs);
    }
}

static void impl_q5_K(const float *x, block_q5_K *y, int64_t n, const float *qw)
{
    uint8_t L[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        float d, dmin;
        impl_k45(x, qw + QK_K * i, 31, L, y[i].scales, &d, &dmin);
        y[i].d = H(d);
        y[i].dmin = H(dmin);
        requant_k4(x, y[i].scales, F16(y[i].d), F16(y[i].dmin), 31, L);
        pack_q5_K(L, y[i].qh, y[i].qs);
    }
}

/* Q6_K: ref when quant_weights == NULL, imatrix path otherwise (spec §6.4) */
/* Q6_K after the sub-block search: scales, re-quantization, packing */
static void q6_K_finish(const float *x, block_q6_K *y, int8_t *L, const float *scales, float max_scale,
                        float max_abs_scale)
{
    if (max_abs_scale < GROUP_MAX_EPS) {
        memset(y, 0, sizeof *y);
        y->d = H(0.f);
        return;
    }
    float iscale = -128.f / max_scale;
    y->d = H(1 / iscale);
    for (int ib = 0; ib < QK_K / 16; ib++)
        y->scales[ib] = (int8_t)MIN(127, rn(iscale * scales[ib]));
    for (int j = 0; j < QK_K / 16; j++) {
        float d = F16(y->d) * (float)y->scales[j];
        if (!d)
            continue;
        for (int ii = 0; ii < 16; ii++) {
            int l = rn(x[16 * j + ii] / d);
            l = MAX(-32, MIN(31, l));
            L[16 * j + ii] = (int8_t)(l + 32);
        }
    }
    uint8_t *ql = y->ql, *qh = y->qh;
    for (int j = 0; j < QK_K; j += 128) {
        for (int l = 0; l < 32; l++) {
            const uint8_t q1 = (uint8_t)(L[j + l + 0] & 0xF);
            const uint8_t q2 = (uint8_t)(L[j + l + 32] & 0xF);
            const uint8_t q3 = (uint8_t)(L[j + l + 64] & 0xF);
            const uint8_t q4 = (uint8_t)(L[j + l + 96] & 0xF);
            ql[l + 0] = (uint8_t)(q1 | q3 << 4);
            ql[l + 32] = (uint8_t)(q2 | q4 << 4);
            qh[l] = (uint8_t)((L[j + l] >> 4) | (L[j + l + 32] >> 4) << 2 | (L[j + l + 64] >> 4) << 4 |
                              (L[j + l + 96] >> 4) << 6);
        }
        ql += 64;
        qh += 32;
    }
}

/* Q6_K: ref when quant_weights == NULL, imatrix path otherwise (spec §6.4) */
static void q6_K_row(const float *x, block_q6_K *y, int64_t n, const float *quant_weights)
{
    int8_t L[QK_K];
    float scales[QK_K / 16];
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        float max_scale = 0, max_abs_scale = 0;
        for (int ib = 0; ib < QK_K / 16; ib++) {
            const float *qw = quant_weights ? quant_weights + QK_K * i + 16 * ib : NULL;
            const float scale = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib, qw);
            scales[ib] = scale;
            const float abs_scale = fabsf(scale);
            if (abs_scale > max_abs_scale) {
                max_abs_scale = abs_scale;
                max_scale = scale;
            }
        }
        q6_K_finish(x, &y[i], L, scales, max_scale, max_abs_scale);
    }
}

void quant_ref_q6_K_scalar(const float *x, void *y, int64_t n)
{
    q6_K_row(x, y, n, NULL);
}

/* ---------------------------------------------------------------------------------------------
 * Lane-parallel forms of the reference searches (the hot loops of Q4_K_S / Q4_K_M / Q6_K).
 *
 * The scalar searches above are bound by the latency of their sequential float sums. Here the
 * independent sub-blocks of a super-block run side by side, one per lane: x[i][l] is element i
 * of sub-block l. Every lane performs exactly the scalar algorithm's binary32 operations in the
 * same order (branches become per-lane selects), so the bytes are identical; the compiler turns
 * the lane loops into SIMD. tests/test-quant-vectors.c checks both forms against each other.
 * ------------------------------------------------------------------------------------------- */

#define KL 8 /* Q4_K / Q5_K: the 8 sub-blocks of 32 */

#if defined(__GNUC__)
/* The same lane algorithms written with GCC/Clang vector extensions (8 lanes of binary32), which
 * compile to SIMD on every target (AVX2, SSE pairs, NEON pairs) with the same per-lane operations.
 * Plain C compilers use the loops above. */
#define QUANT_V8 1
#if !defined(__clang__)
/* the 32-byte vectors pass between static helpers of this file only (inlined); without AVX GCC
 * warns that their calling convention differs, which cannot matter here */
#pragma GCC diagnostic ignored "-Wpsabi"
#endif
typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

static inline v8f v8_splat(float f) { return (v8f){f, f, f, f, f, f, f, f}; }
static inline v8i v8i_splat(int32_t v) { return (v8i){v, v, v, v, v, v, v, v}; }
static inline v8f v8_sel(v8i m, v8f a, v8f b) { return (v8f)((m & (v8i)a) | (~m & (v8i)b)); }
static inline v8i v8i_sel(v8i m, v8i a, v8i b) { return (m & a) | (~m & b); }
static inline v8i v8_rn(v8f v)
{
    v8i i = (v8i)(v + v8_splat(12582912.f));
    return (i & v8i_splat(0x007fffff)) - v8i_splat(0x00400000);
}
static inline v8i v8i_clamp(v8i q, int lo, int hi)
{
    q = v8i_sel(q < v8i_splat(lo), v8i_splat(lo), q);
    return v8i_sel(q > v8i_splat(hi), v8i_splat(hi), q);
}
static inline v8f v8_cvt(v8i q) { return __builtin_convertvector(q, v8f); }
static inline int v8i_any(v8i m)
{
    int a = 0;
    for (int l = 0; l < 8; l++)
        a |= m[l];
    return a;
}

static void make_qkx_v8(int nmax, const v8f *x, const v8f *w, v8i *L, float *scale_out, float *min_out, float rmin,
                        float rdelta, int nstep)
{
    const v8f zero = v8_splat(0.f);
    v8f mn = x[0], mx = x[0], sw = w[0], sx = w[0] * x[0];
    for (int i = 1; i < 32; i++) {
        mn = v8_sel(x[i] < mn, x[i], mn);
        mx = v8_sel(x[i] > mx, x[i], mx);
        sw += w[i];
        sx += w[i] * x[i];
    }
    mn = v8_sel(mn > zero, zero, mn);
    const v8f mn0 = mn;
    v8f isc = v8_splat((float)nmax) / (mx - mn);
    v8f scale = v8_splat(1.f) / isc;
    v8f best = zero;
    for (int i = 0; i < 32; i++) {
        const v8i q = v8i_clamp(v8_rn(isc * (x[i] - mn)), 0, nmax);
        L[i] = q;
        const v8f d = scale * v8_cvt(q) + mn - x[i];
        best += w[i] * (d * d);
    }
    v8i La[32];
    for (int is = 0; is <= nstep; is++) {
        isc = v8_splat(rmin + rdelta * (float)is + (float)nmax) / (mx - mn);
        v8f sl = zero, sl2 = zero, sxl = zero, ce = zero;
        for (int i = 0; i < 32; i++) {
            const v8i q = v8i_clamp(v8_rn(isc * (x[i] - mn)), 0, nmax);
            La[i] = q;
            const v8f qf = v8_cvt(q);
            const v8f wq = w[i] * qf;
            sl += wq;
            sl2 += wq * qf;
            sxl += wq * x[i];
        }
        const v8f D = sw * sl2 - sl * sl;
        const v8f a = (sw * sxl - sx * sl) / D;
        const v8f b = (sl2 * sx - sl * sxl) / D;
        const v8f c = sxl / sl2;
        const v8i bp = b > zero;
        const v8f ts = v8_sel(bp, c, a), tm = v8_sel(bp, zero, b);
        for (int i = 0; i < 32; i++) {
            const v8f d = ts * v8_cvt(La[i]) + tm - x[i];
            ce += w[i] * (d * d);
        }
        const v8i take = (D > zero) & (ce < best);
        if (v8i_any(take)) {
            best = v8_sel(take, ce, best);
            scale = v8_sel(take, ts, scale);
            mn = v8_sel(take, tm, mn);
            for (int i = 0; i < 32; i++)
                L[i] = v8i_sel(take, La[i], L[i]);
        }
    }
    const v8i deg = ~(mx > mn0);
    const v8f so = v8_sel(deg, zero, scale), mo = v8_sel(deg, -mn0, -mn);
    for (int i = 0; i < 32; i++)
        L[i] = v8i_sel(deg, v8i_splat(0), L[i]);
    memcpy(scale_out, &so, sizeof so);
    memcpy(min_out, &mo, sizeof mo);
}

/* make_qx_quants (weights x^2) on 8 sub-blocks of 16; codes 0..2nmax-1 */
static void make_qx_v8(int nmax, const v8f *x, v8i *L, float *scale_out)
{
    const v8f zero = v8_splat(0.f);
    v8f amax = zero, max = zero;
    for (int i = 0; i < 16; i++) {
        const v8f ax = (v8f)((v8i)x[i] & v8i_splat(0x7fffffff));
        const v8i gt = ax > amax;
        max = v8_sel(gt, x[i], max);
        amax = v8_sel(gt, ax, amax);
    }
    v8f iscale = v8_splat((float)(-nmax)) / max;
    v8f sumlx = zero, suml2 = zero;
    for (int i = 0; i < 16; i++) {
        const v8i q = v8i_clamp(v8_rn(iscale * x[i]), -nmax, nmax - 1);
        L[i] = q + v8i_splat(nmax);
        const v8f qf = v8_cvt(q), w = x[i] * x[i];
        sumlx += w * x[i] * qf;
        suml2 += w * qf * qf;
    }
    v8f scale = v8_sel(suml2 != zero, sumlx / suml2, zero);
    v8f best = scale * sumlx;
    v8i La[16];
    for (int is = -9; is <= 9; is++) {
        if (is == 0)
            continue;
        iscale = v8_splat(-((float)nmax + 0.1f * (float)is)) / max;
        sumlx = suml2 = zero;
        for (int i = 0; i < 16; i++) {
            const v8i q = v8i_clamp(v8_rn(iscale * x[i]), -nmax, nmax - 1);
            La[i] = q + v8i_splat(nmax);
            const v8f qf = v8_cvt(q), w = x[i] * x[i];
            sumlx += w * x[i] * qf;
            suml2 += w * qf * qf;
        }
        const v8i take = (suml2 > zero) & (sumlx * sumlx > best * suml2);
        if (v8i_any(take)) {
            const v8f sc = sumlx / suml2;
            scale = v8_sel(take, sc, scale);
            best = v8_sel(take, sc * sumlx, best);
            for (int i = 0; i < 16; i++)
                L[i] = v8i_sel(take, La[i], L[i]);
        }
    }
    const v8i zl = amax < v8_splat(GROUP_MAX_EPS);
    const v8f so = v8_sel(zl, zero, scale);
    for (int i = 0; i < 16; i++)
        L[i] = v8i_sel(zl, v8i_splat(0), L[i]);
    memcpy(scale_out, &so, sizeof so);
}
#endif

#ifdef QUANT_V8
static void ref_k45_lanes(const float *x, block_q4_K *y4, block_q5_K *y5, int nmax, float rmin, float rdelta,
                          int nstep)
{
    float xt[32][KL], wt[32][KL], scales[KL], mins[KL];
    uint8_t Lt[32][KL], L[QK_K];
    for (int j = 0; j < KL; j++) {
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++)
            sum_x2 += x[32 * j + l] * x[32 * j + l];
        const float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++) {
            xt[l][j] = x[32 * j + l];
            wt[l][j] = av_x + fabsf(x[32 * j + l]);
        }
    }
    {
        v8f xv[32], wv[32];
        v8i Lv[32];
        memcpy(xv, xt, sizeof xv);
        memcpy(wv, wt, sizeof wv);
        make_qkx_v8(nmax, xv, wv, Lv, scales, mins, rmin, rdelta, nstep);
        for (int i = 0; i < 32; i++)
            for (int l = 0; l < KL; l++)
                Lt[i][l] = (uint8_t)Lv[i][l];
    }
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < KL; j++) {
        if (scales[j] > max_scale)
            max_scale = scales[j];
        if (mins[j] > max_min)
            max_min = mins[j];
        for (int l = 0; l < 32; l++)
            L[32 * j + l] = Lt[l][j];
    }
    uint8_t *sc = y4 ? y4->scales : y5->scales;
    ref_k45_pack_scales(sc, scales, mins, max_scale, max_min);
    const quant_half d = H(max_scale / 63.f), dmin = H(max_min / 63.f);
    requant_k4(x, sc, F16(d), F16(dmin), nmax, L);
    if (y4) {
        y4->d = d;
        y4->dmin = dmin;
        pack_q4_K(L, y4->qs);
    } else {
        y5->d = d;
        y5->dmin = dmin;
        pack_q5_K(L, y5->qh, y5->qs);
    }
}

void quant_ref_q4_K(const float *x, void *vy, int64_t n)
{
    block_q4_K *y = vy;
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K)
        ref_k45_lanes(x, &y[i], NULL, 15, -1.f, 0.1f, 20);
}

void quant_ref_q5_K(const float *x, void *vy, int64_t n)
{
    block_q5_K *y = vy;
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K)
        ref_k45_lanes(x, NULL, &y[i], 31, -0.5f, 0.1f, 15);
}

#define QL 16 /* Q6_K: the 16 sub-blocks of 16 */

void quant_ref_q6_K(const float *x, void *vy, int64_t n)
{
    block_q6_K *y = vy;
    float xt[16][QL], scales[QL];
    int8_t Lt[16][QL], L[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        for (int j = 0; j < QL; j++)
            for (int l = 0; l < 16; l++)
                xt[l][j] = x[16 * j + l];
        for (int h = 0; h < 2; h++) {
            v8f xv[16];
            v8i Lv[16];
            for (int e = 0; e < 16; e++)
                memcpy(&xv[e], &xt[e][8 * h], sizeof xv[e]);
            make_qx_v8(32, xv, Lv, scales + 8 * h);
            for (int e = 0; e < 16; e++)
                for (int l = 0; l < 8; l++)
                    Lt[e][8 * h + l] = (int8_t)Lv[e][l];
        }
        float max_scale = 0, max_abs_scale = 0;
        for (int ib = 0; ib < QL; ib++) {
            const float abs_scale = fabsf(scales[ib]);
            if (abs_scale > max_abs_scale) {
                max_abs_scale = abs_scale;
                max_scale = scales[ib];
            }
            for (int l = 0; l < 16; l++)
                L[16 * ib + l] = Lt[l][ib];
        }
        q6_K_finish(x, &y[i], L, scales, max_scale, max_abs_scale);
    }
}
#else
void quant_ref_q4_K(const float *x, void *y, int64_t n) { quant_ref_q4_K_scalar(x, y, n); }
void quant_ref_q5_K(const float *x, void *y, int64_t n) { quant_ref_q5_K_scalar(x, y, n); }
void quant_ref_q6_K(const float *x, void *y, int64_t n) { quant_ref_q6_K_scalar(x, y, n); }
#endif

void quant_ref_q8_K(const float *x, void *vy, int64_t n)
{
    block_q8_K *y = vy;
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        float max = 0, amax = 0;
        for (int j = 0; j < QK_K; j++) {
            float ax = fabsf(x[j]);
            if (ax > amax) {
                amax = ax;
                max = x[j];
            }
        }
        if (!amax) {
            y[i].d = 0;
            memset(y[i].qs, 0, QK_K);
            memset(y[i].bsums, 0, sizeof y[i].bsums);
            continue;
        }
        const float iscale = -127.f / max;
        for (int j = 0; j < QK_K; j++) {
            int v = rn(iscale * x[j]);
            y[i].qs[j] = (int8_t)MIN(127, v);
        }
        for (int j = 0; j < QK_K / 16; j++) {
            int sum = 0;
            for (int ii = 0; ii < 16; ii++)
                sum += y[i].qs[j * 16 + ii];
            y[i].bsums[j] = (int16_t)sum;
        }
        y[i].d = 1 / iscale;
    }
}

/* ---------------------------------------------------------------------------------------------
 * IQ4_NL / IQ4_XS (spec §4.5, §7)
 * ------------------------------------------------------------------------------------------- */

static inline int best_index_int8(int n, const int8_t *val, float x)
{
    if (x <= val[0])
        return 0;
    if (x >= val[n - 1])
        return n - 1;
    int ml = 0, mu = n - 1;
    while (mu - ml > 1) {
        int mav = (ml + mu) / 2;
        if (x < val[mav])
            mu = mav;
        else
            ml = mav;
    }
    return x - val[mu - 1] < val[mu] - x ? mu - 1 : mu;
}

#ifdef QUANT_V8
/* kvalues_iq4nl[best_index_int8(v)] on 8 lanes: the level below (lo) and above (hi) v by selects
 * over the sorted table, then the scalar tie rule ((v - lo) < (hi - v) ? lo : hi) */
static inline v8f iq4_level_v8(v8f v)
{
    const int8_t *K = quant_kvalues_iq4nl;
    v8f lo = v8_splat((float)K[0]), hi = v8_splat((float)K[15]);
    for (int j = 1; j < 16; j++)
        lo = v8_sel(v >= v8_splat((float)K[j]), v8_splat((float)K[j]), lo);
    for (int j = 14; j >= 1; j--)
        hi = v8_sel(v < v8_splat((float)K[j]), v8_splat((float)K[j]), hi);
    return v8_sel((v - lo) < (hi - v), lo, hi);
}

/* the scale search of §4.5 for the 8 sub-blocks of an IQ4_XS super-block side by side:
 * xt[j][b] = element j of sub-block b, wt its weight; ntry = 7 */
static void iq4_search_v8(const v8f *xt, const v8f *wt, float *scales)
{
    const v8f zero = v8_splat(0.f);
    v8f amax = zero, max = zero;
    for (int j = 0; j < 32; j++) {
        const v8f ax = (v8f)((v8i)xt[j] & v8i_splat(0x7fffffff));
        const v8i gt = ax > amax;
        max = v8_sel(gt, xt[j], max);
        amax = v8_sel(gt, ax, amax);
    }
    v8f d = -max / v8_splat((float)quant_kvalues_iq4nl[0]);
    v8f id = v8_splat(1.f) / d;
    v8f sumqx = zero, sumq2 = zero;
    for (int j = 0; j < 32; j++) {
        const v8f q = iq4_level_v8(id * xt[j]);
        sumqx += wt[j] * q * xt[j];
        sumq2 += wt[j] * q * q;
    }
    d = v8_sel(sumq2 > zero, sumqx / sumq2, zero);
    v8f best = d * sumqx;
    for (int itry = -7; itry <= 7; itry++) {
        id = v8_splat((float)(itry + quant_kvalues_iq4nl[0])) / max;
        sumqx = sumq2 = zero;
        for (int j = 0; j < 32; j++) {
            const v8f q = iq4_level_v8(id * xt[j]);
            sumqx += wt[j] * q * xt[j];
            sumq2 += wt[j] * q * q;
        }
        const v8i take = (sumq2 > zero) & (sumqx * sumqx > best * sumq2);
        const v8f nd = sumqx / sumq2;
        d = v8_sel(take, nd, d);
        best = v8_sel(take, nd * sumqx, best);
    }
    d = v8_sel(amax < v8_splat(GROUP_MAX_EPS), zero, d);
    memcpy(scales, &d, sizeof d);
}
#endif

/* one super-block of S elements in sub-blocks of 32; nsub = S/32. Writes d (fp16), the nibbles,
 * and (for nsub > 1) the 6-bit scales. */
static void iq4_superblock(int S, const float *x, quant_half *dh, uint8_t *q4, uint16_t *scales_h,
                           uint8_t *scales_l, const float *quant_weights, int ntry, int lanes)
{
    const int8_t *values = quant_kvalues_iq4nl;
    float weight[32], scales[QK_K / 32];
    uint8_t L[QK_K];
    float sigma2 = 0;
    for (int j = 0; j < S; j++)
        sigma2 += x[j] * x[j];
    sigma2 *= 2.f / (float)S;
    memset(q4, 0, (size_t)S / 2);
    *dh = H(0.f);
    float max_scale = 0, amax_scale = 0;
    const int nsub = S / 32;
#ifdef QUANT_V8
    lanes = lanes && nsub == 8 && ntry == 7;
    if (lanes) {
        float xt[32][8], wt[32][8];
        for (int ib = 0; ib < 8; ib++) {
            const float *xb = x + 32 * ib;
            if (quant_weights)
                qw_weights(xb, quant_weights + 32 * ib, sigma2, weight, 32);
            else
                for (int j = 0; j < 32; j++)
                    weight[j] = xb[j] * xb[j];
            for (int j = 0; j < 32; j++) {
                xt[j][ib] = xb[j];
                wt[j][ib] = weight[j];
            }
        }
        v8f xv[32], wv[32];
        memcpy(xv, xt, sizeof xv);
        memcpy(wv, wt, sizeof wv);
        iq4_search_v8(xv, wv, scales);
        for (int ib = 0; ib < 8; ib++)
            if (fabsf(scales[ib]) > amax_scale) {
                amax_scale = fabsf(scales[ib]);
                max_scale = scales[ib];
            }
    }
    for (int ib = 0; ib < nsub && !lanes; ib++) {
#else
    (void)lanes;
    for (int ib = 0; ib < nsub; ib++) {
#endif
        const float *xb = x + 32 * ib;
        uint8_t *Lb = L + 32 * ib;
        if (quant_weights)
            qw_weights(xb, quant_weights + 32 * ib, sigma2, weight, 32);
        else
            for (int j = 0; j < 32; j++)
                weight[j] = xb[j] * xb[j];
        float amax = 0, max = 0;
        for (int j = 0; j < 32; j++) {
            float ax = fabsf(xb[j]);
            if (ax > amax) {
                amax = ax;
                max = xb[j];
            }
        }
        if (amax < GROUP_MAX_EPS) {
            scales[ib] = 0;
            continue;
        }
        float d = ntry > 0 ? -max / (float)values[0] : max / (float)values[0];
        float id = 1 / d;
        float sumqx = 0, sumq2 = 0;
        for (int j = 0; j < 32; j++) {
            float al = id * xb[j];
            int l = best_index_int8(16, values, al);
            Lb[j] = (uint8_t)l;
            float q = (float)values[l];
            float w = weight[j];
            sumqx += w * q * xb[j];
            sumq2 += w * q * q;
        }
        d = sumq2 > 0 ? sumqx / sumq2 : 0.f;
        float best = d * sumqx;
        for (int itry = -ntry; itry <= ntry; itry++) {
            id = (float)(itry + values[0]) / max;
            sumqx = sumq2 = 0;
            for (int j = 0; j < 32; j++) {
                float al = id * xb[j];
                int l = best_index_int8(16, values, al);
                float q = (float)values[l];
                float w = weight[j];
                sumqx += w * q * xb[j];
                sumq2 += w * q * q;
            }
            if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
                d = sumqx / sumq2;
                best = d * sumqx;
            }
        }
        scales[ib] = d;
        float abs_d = fabsf(d);
        if (abs_d > amax_scale) {
            amax_scale = abs_d;
            max_scale = d;
        }
    }
    if (nsub > 1) {
        *scales_h = 0;
        const float d = -max_scale / 32;
        *dh = H(d);
        const float id = d ? 1 / d : 0.f;
        for (int ib = 0; ib < nsub; ib++) {
            int l = rn(id * scales[ib]);
            l = MAX(-32, MIN(31, l));
            float dl = d * (float)l;
            float idl = dl ? 1 / dl : 0.f;
            uint8_t *Lb = L + 32 * ib;
            const float *xb = x + 32 * ib;
            for (int j = 0; j < 32; j++)
                Lb[j] = (uint8_t)best_index_int8(16, values, idl * xb[j]);
            l += 32;
            uint8_t l_l = (uint8_t)(l & 0xf), l_h = (uint8_t)(l >> 4);
            if (ib % 2 == 0)
                scales_l[ib / 2] = l_l;
            else
                scales_l[ib / 2] |= (uint8_t)(l_l << 4);
            *scales_h |= (uint16_t)(l_h << 2 * (ib % 8));
        }
    } else {
        *dh = H(scales[0]);
        if (ntry > 0) {
            float id = scales[0] ? 1 / scales[0] : 0;
            for (int j = 0; j < S; j++)
                L[j] = (uint8_t)best_index_int8(16, values, id * x[j]);
        }
    }
    for (int i = 0; i < S / 32; i++)
        for (int j = 0; j < 16; j++)
            q4[16 * i + j] = (uint8_t)(L[32 * i + j] | L[32 * i + 16 + j] << 4);
}

static void iq4_nl_row(const float *x, block_iq4_nl *y, int64_t n, const float *qw)
{
    for (int64_t ib = 0; ib < n / QK4_NL; ib++)
        iq4_superblock(QK4_NL, x + QK4_NL * ib, &y[ib].d, y[ib].qs, NULL, NULL, qw ? qw + QK4_NL * ib : NULL, 7, 0);
}

static void iq4_xs_row_l(const float *x, block_iq4_xs *y, int64_t n, const float *qw, int lanes)
{
    for (int64_t ib = 0; ib < n / QK_K; ib++)
        iq4_superblock(QK_K, x + QK_K * ib, &y[ib].d, y[ib].qs, &y[ib].scales_h, y[ib].scales_l,
                       qw ? qw + QK_K * ib : NULL, 7, lanes);
}

static void iq4_xs_row(const float *x, block_iq4_xs *y, int64_t n, const float *qw)
{
    iq4_xs_row_l(x, y, n, qw, 1);
}

void quant_ref_iq4_xs_scalar(const float *x, void *y, int64_t n)
{
    iq4_xs_row_l(x, y, n, NULL, 0);
}

void quant_ref_iq4_nl(const float *x, void *y, int64_t n)
{
    iq4_nl_row(x, y, n, NULL);
}

void quant_ref_iq4_xs(const float *x, void *y, int64_t n)
{
    iq4_xs_row(x, y, n, NULL);
}

/* ---------------------------------------------------------------------------------------------
 * ggml_quantize_chunk
 * ------------------------------------------------------------------------------------------- */

typedef void (*row_impl_fn)(const float *x, void *y, int64_t n, const float *qw);

static void impl_q4_0_v(const float *x, void *y, int64_t n, const float *qw) { impl_q4_0(x, y, n, qw); }
static void impl_q4_1_v(const float *x, void *y, int64_t n, const float *qw) { impl_q4_1(x, y, n, qw); }
static void impl_q5_0_v(const float *x, void *y, int64_t n, const float *qw) { impl_q5_0(x, y, n, qw); }
static void impl_q5_1_v(const float *x, void *y, int64_t n, const float *qw) { impl_q5_1(x, y, n, qw); }
static void impl_q2_K_v(const float *x, void *y, int64_t n, const float *qw) { impl_q2_K(x, y, n, qw); }
static void impl_q3_K_v(const float *x, void *y, int64_t n, const float *qw) { impl_q3_K(x, y, n, qw); }
static void impl_q4_K_v(const float *x, void *y, int64_t n, const float *qw) { impl_q4_K(x, y, n, qw); }
static void impl_q5_K_v(const float *x, void *y, int64_t n, const float *qw) { impl_q5_K(x, y, n, qw); }
static void impl_q6_K_v(const float *x, void *y, int64_t n, const float *qw) { q6_K_row(x, y, n, qw); }
static void impl_iq4_nl_v(const float *x, void *y, int64_t n, const float *qw) { iq4_nl_row(x, y, n, qw); }
static void impl_iq4_xs_v(const float *x, void *y, int64_t n, const float *qw) { iq4_xs_row(x, y, n, qw); }

static row_impl_fn imatrix_impl(enum ggml_type t)
{
    switch (t) {
    case GGML_TYPE_Q4_0: return impl_q4_0_v;
    case GGML_TYPE_Q4_1: return impl_q4_1_v;
    case GGML_TYPE_Q5_0: return impl_q5_0_v;
    case GGML_TYPE_Q5_1: return impl_q5_1_v;
    case GGML_TYPE_Q2_K: return impl_q2_K_v;
    case GGML_TYPE_Q3_K: return impl_q3_K_v;
    case GGML_TYPE_Q4_K: return impl_q4_K_v;
    case GGML_TYPE_Q5_K: return impl_q5_K_v;
    case GGML_TYPE_Q6_K: return impl_q6_K_v;
    case GGML_TYPE_IQ4_NL: return impl_iq4_nl_v;
    case GGML_TYPE_IQ4_XS: return impl_iq4_xs_v;
    default: return NULL;
    }
}

bool quant_uses_imatrix(enum ggml_type t)
{
    return imatrix_impl(t) != NULL;
}

bool quant_can_quantize(enum ggml_type t)
{
    switch (t) {
    case GGML_TYPE_F32: case GGML_TYPE_F16: case GGML_TYPE_BF16: case GGML_TYPE_Q4_0: case GGML_TYPE_Q4_1:
    case GGML_TYPE_Q5_0: case GGML_TYPE_Q5_1: case GGML_TYPE_Q8_0: case GGML_TYPE_Q2_K: case GGML_TYPE_Q3_K:
    case GGML_TYPE_Q4_K: case GGML_TYPE_Q5_K: case GGML_TYPE_Q6_K: case GGML_TYPE_IQ4_NL: case GGML_TYPE_IQ4_XS:
    case MEDGE_TYPE_I8_PC:
        return true;
    default:
        return false;
    }
}

size_t quant_quantize_rows(enum ggml_type t, const float *src, void *dst, int64_t nrows, int64_t n_per_row,
                           const float *imatrix)
{
    if (!quant_can_quantize(t) || nrows < 0 || n_per_row <= 0)
        return 0;
    const size_t row_size = quant_row_size(t, n_per_row);
    if (!row_size)
        return 0;
    row_impl_fn impl = imatrix ? imatrix_impl(t) : NULL;
    if (impl) {
        uint8_t *out = dst;
        for (int64_t r = 0; r < nrows; r++)
            impl(src + r * n_per_row, out + (size_t)r * row_size, n_per_row, imatrix);
    } else {
        /* blocks are independent: row by row equals ggml's one long row */
        quant_from_float_fn f = quant_get_traits(t)->from_float_ref;
        uint8_t *out = dst;
        for (int64_t r = 0; r < nrows; r++)
            f(src + r * n_per_row, out + (size_t)r * row_size, n_per_row);
    }
    return (size_t)nrows * row_size;
}
