/* biomedclip-image.c - open_clip's inference preprocessing for BiomedCLIP, bit-exact with
 * torchvision + Pillow (specs/biomedclip.md §3): the shortest side is resized to the model's image
 * size with Pillow's antialiased bicubic (a = -0.5, coefficients in 22-bit fixed point, horizontal
 * pass first, each pass rounded and clamped to uint8), then a round-half-even center crop, /255 and
 * CLIP mean/std in float32. Only the output rows and columns that survive the crop are computed
 * (each output pixel depends only on its own coefficients, so the values are unchanged). */
#include "models/biomedclip.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PRECISION_BITS (32 - 8 - 2)

static double bicubic(double x)
{
    const double a = -0.5;
    if (x < 0.0)
        x = -x;
    if (x < 1.0)
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0)
        return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

/* Fixed-point coefficients of one resampling pass (Pillow's precompute_coeffs +
 * normalize_coeffs_8bpc): for output index i, taps k[i*ks .. i*ks + size[i]) start at input min[i]. */
typedef struct coeffs {
    int ks;
    int *min, *size;
    int32_t *k;
} coeffs;

static void coeffs_free(coeffs *c)
{
    free(c->min);
    free(c->size);
    free(c->k);
}

static medge_status coeffs_make(int in, int out, coeffs *c)
{
    double scale = (double)in / out, fs = scale < 1.0 ? 1.0 : scale, support = 2.0 * fs, ss = 1.0 / fs;
    int ks = (int)ceil(support) * 2 + 1;
    c->ks = ks;
    c->min = malloc((size_t)out * sizeof *c->min);
    c->size = malloc((size_t)out * sizeof *c->size);
    c->k = calloc((size_t)out * (size_t)ks, sizeof *c->k);
    double *w = malloc((size_t)ks * sizeof *w);
    if (!c->min || !c->size || !c->k || !w) {
        free(w);
        coeffs_free(c);
        return medge_err(MEDGE_ERR_NOMEM, "resize: out of memory");
    }
    for (int i = 0; i < out; i++) {
        double center = (i + 0.5) * scale, ww = 0.0;
        int xmin = (int)(center - support + 0.5), xmax = (int)(center + support + 0.5);
        if (xmin < 0)
            xmin = 0;
        if (xmax > in)
            xmax = in;
        xmax -= xmin;
        for (int x = 0; x < xmax; x++) {
            w[x] = bicubic((x + xmin - center + 0.5) * ss);
            ww += w[x];
        }
        for (int x = 0; x < xmax; x++) {
            double v = ww != 0.0 ? w[x] / ww : w[x];
            c->k[(size_t)i * ks + x] = v < 0 ? (int32_t)(-0.5 + v * (1 << PRECISION_BITS))
                                             : (int32_t)(0.5 + v * (1 << PRECISION_BITS));
        }
        c->min[i] = xmin;
        c->size[i] = xmax;
    }
    free(w);
    return MEDGE_OK;
}

static inline uint8_t clip8(int32_t v)
{
    if (v >= (1 << PRECISION_BITS << 8))
        return 255;
    if (v <= 0)
        return 0;
    return (uint8_t)(v >> PRECISION_BITS);
}

/* Horizontal pass: dst[y][x - x0] for x in [x0, x0 + nx), all rows. */
static void pass_h(const uint8_t *src, int sw, int sh, const coeffs *c, int x0, int nx, uint8_t *dst)
{
    for (int y = 0; y < sh; y++) {
        const uint8_t *row = src + (size_t)y * sw * 3;
        uint8_t *o = dst + (size_t)y * nx * 3;
        for (int x = 0; x < nx; x++) {
            const int32_t *k = c->k + (size_t)(x0 + x) * c->ks;
            const uint8_t *p = row + (size_t)c->min[x0 + x] * 3;
            int32_t s0 = 1 << (PRECISION_BITS - 1), s1 = s0, s2 = s0;
            for (int t = 0; t < c->size[x0 + x]; t++) {
                s0 += p[3 * t] * k[t];
                s1 += p[3 * t + 1] * k[t];
                s2 += p[3 * t + 2] * k[t];
            }
            o[3 * x] = clip8(s0);
            o[3 * x + 1] = clip8(s1);
            o[3 * x + 2] = clip8(s2);
        }
    }
}

/* Vertical pass: dst[y - y0][x] for y in [y0, y0 + ny). */
static void pass_v(const uint8_t *src, int sw, const coeffs *c, int y0, int ny, uint8_t *dst)
{
    size_t stride = (size_t)sw * 3;
    for (int y = 0; y < ny; y++) {
        const int32_t *k = c->k + (size_t)(y0 + y) * c->ks;
        const uint8_t *base = src + (size_t)c->min[y0 + y] * stride;
        uint8_t *o = dst + (size_t)y * stride;
        for (size_t x = 0; x < stride; x++) {
            int32_t s = 1 << (PRECISION_BITS - 1);
            for (int t = 0; t < c->size[y0 + y]; t++)
                s += base[(size_t)t * stride + x] * k[t];
            o[x] = clip8(s);
        }
    }
}

medge_status bmc_preprocess(const bmc_model *m, const uint8_t *rgb, int w, int h, float *out)
{
    const int S = m->image;
    if (!rgb || !out || w <= 0 || h <= 0)
        return medge_err(MEDGE_ERR_INVALID_ARG, "preprocess: no image or empty image (%d x %d)", w, h);
    /* torchvision: shortest side -> S, long side int(S * long / short) (truncated). */
    int shorter = w < h ? w : h, longer = w < h ? h : w;
    double nl = (double)S * (double)longer / (double)shorter;
    if (nl > 65536.0)
        return medge_err(MEDGE_ERR_RANGE, "preprocess: aspect ratio %d x %d is too extreme", w, h);
    int nw = w <= h ? S : (int)nl, nh = w <= h ? (int)nl : S;
    if (w == h) /* square: both sides S */
        nw = nh = S;
    /* Center crop offsets (Python round: half to even). */
    int top = (int)nearbyint((nh - S) / 2.0), left = (int)nearbyint((nw - S) / 2.0);
    bool do_h = nw != w, do_v = nh != h;
    uint8_t *tmp = NULL, *res = NULL;
    coeffs ch = {0}, cv = {0};
    medge_status rc = MEDGE_OK;
    /* After the horizontal pass: h rows of S columns (or the source when skipped). */
    const uint8_t *stage1 = rgb;
    int s1w = w, s1x0 = 0;
    if (do_h) {
        rc = coeffs_make(w, nw, &ch);
        if (rc != MEDGE_OK)
            goto done;
        tmp = malloc((size_t)h * S * 3);
        if (!tmp) {
            rc = medge_err(MEDGE_ERR_NOMEM, "preprocess: out of memory");
            goto done;
        }
        pass_h(rgb, w, h, &ch, left, S, tmp);
        stage1 = tmp;
        s1w = S;
    } else
        s1x0 = left;
    const uint8_t *stage2;
    size_t s2stride;
    if (do_v) {
        rc = coeffs_make(h, nh, &cv);
        if (rc != MEDGE_OK)
            goto done;
        res = malloc((size_t)S * s1w * 3);
        if (!res) {
            rc = medge_err(MEDGE_ERR_NOMEM, "preprocess: out of memory");
            goto done;
        }
        pass_v(stage1, s1w, &cv, top, S, res);
        stage2 = res;
    } else
        stage2 = stage1 + (size_t)top * s1w * 3;
    s2stride = (size_t)s1w * 3;
    for (int c = 0; c < 3; c++) {
        const float mean = m->mean[c], sd = m->std[c];
        float *o = out + (size_t)c * S * S;
        for (int y = 0; y < S; y++) {
            const uint8_t *row = stage2 + (size_t)y * s2stride + (size_t)s1x0 * 3;
            for (int x = 0; x < S; x++) {
                float v = (float)row[3 * x + c] / 255.0f;
                o[(size_t)y * S + x] = (v - mean) / sd;
            }
        }
    }
done:
    coeffs_free(&ch);
    coeffs_free(&cv);
    free(tmp);
    free(res);
    return rc;
}
