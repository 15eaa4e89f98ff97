/* biomedclip-image.c - open_clip's inference preprocessing for BiomedCLIP, bit-exact with
 * torchvision + Pillow (specs/biomedclip.md §3): the shortest side is resized to the model's image
 * size with Pillow's antialiased bicubic (image/image.h: a = -0.5, 22-bit fixed point, horizontal
 * pass first, each pass rounded and clamped to uint8), then a round-half-even center crop, /255 and
 * CLIP mean/std in float32. */
#include "image/image.h"
#include "models/biomedclip.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

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
    uint8_t *res = malloc((size_t)nw * (size_t)nh * 3);
    if (!res)
        return medge_err(MEDGE_ERR_NOMEM, "preprocess: out of memory");
    medge_status rc = image_resample_u8(rgb, w, h, 3, res, nw, nh, MEDGE_RESAMPLE_BICUBIC);
    if (rc != MEDGE_OK)
        goto done;
    for (int c = 0; c < 3; c++) {
        const float mean = m->mean[c], sd = m->std[c];
        float *o = out + (size_t)c * S * S;
        for (int y = 0; y < S; y++) {
            const uint8_t *row = res + ((size_t)(y + top) * (size_t)nw + (size_t)left) * 3;
            for (int x = 0; x < S; x++) {
                float v = (float)row[3 * x + c] / 255.0f;
                o[(size_t)y * S + x] = (v - mean) / sd;
            }
        }
    }
done:
    free(res);
    return rc;
}
