/* image.c - the medge_image object (8-bit RGB), format sniffing and dispatch to the decoders,
 * Pillow-exact resampling (bilinear and bicubic) and conversion to normalised float planes. */
#include "image/image.h"
#include "core/file.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define IMAGE_DEFAULT_MAX_PIXELS (1ull << 27)

medge_image_params medge_image_default_params(void)
{
    medge_image_params p;
    memset(&p, 0, sizeof p);
    p.max_pixels = IMAGE_DEFAULT_MAX_PIXELS;
    return p;
}

medge_status image_new(int32_t w, int32_t h, uint64_t max_pixels, medge_image **out)
{
    *out = NULL;
    if (w <= 0 || h <= 0)
        return medge_err(MEDGE_ERR_FORMAT, "image has no pixels (%d x %d)", (int)w, (int)h);
    uint64_t n = (uint64_t)w * (uint64_t)h;
    if (max_pixels == 0)
        max_pixels = IMAGE_DEFAULT_MAX_PIXELS;
    if (n > max_pixels)
        return medge_err(MEDGE_ERR_RANGE, "image of %d x %d pixels exceeds the limit of %llu pixels", (int)w, (int)h,
                         (unsigned long long)max_pixels);
    if (n * 3 > SIZE_MAX)
        return medge_err(MEDGE_ERR_NOMEM, "image too large");
    medge_image *img = calloc(1, sizeof *img);
    if (!img)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory for an image");
    img->rgb = malloc((size_t)n * 3);
    if (!img->rgb) {
        free(img);
        return medge_err(MEDGE_ERR_NOMEM, "out of memory for an image of %d x %d", (int)w, (int)h);
    }
    img->w = w;
    img->h = h;
    *out = img;
    return MEDGE_OK;
}

void medge_image_free(medge_image *img)
{
    if (!img)
        return;
    free(img->rgb);
    free(img);
}

int32_t medge_image_width(const medge_image *img) { return img ? img->w : 0; }
int32_t medge_image_height(const medge_image *img) { return img ? img->h : 0; }
const uint8_t *medge_image_rgb(const medge_image *img) { return img ? img->rgb : NULL; }

medge_status medge_image_from_pixels(const uint8_t *pixels, int32_t width, int32_t height, int channels,
                                     size_t stride, medge_image **out)
{
    if (!out)
        return medge_err(MEDGE_ERR_INVALID_ARG, "medge_image_from_pixels: out is NULL");
    *out = NULL;
    if (!pixels || (channels != 1 && channels != 3 && channels != 4))
        return medge_err(MEDGE_ERR_INVALID_ARG, "medge_image_from_pixels: need pixels and 1, 3 or 4 channels (got %d)",
                         channels);
    if (width <= 0 || height <= 0)
        return medge_err(MEDGE_ERR_INVALID_ARG, "medge_image_from_pixels: bad size %d x %d", (int)width, (int)height);
    size_t row = (size_t)width * (size_t)channels;
    if (stride == 0)
        stride = row;
    if (stride < row)
        return medge_err(MEDGE_ERR_INVALID_ARG, "medge_image_from_pixels: stride %zu < width * channels %zu", stride, row);
    medge_image *img;
    MEDGE_TRY(image_new(width, height, UINT64_MAX, &img));
    for (int32_t y = 0; y < height; y++) {
        const uint8_t *s = pixels + (size_t)y * stride;
        uint8_t *d = img->rgb + (size_t)y * (size_t)width * 3;
        if (channels == 3) {
            memcpy(d, s, row);
            continue;
        }
        for (int32_t x = 0; x < width; x++) {
            if (channels == 1) {
                d[3 * x] = d[3 * x + 1] = d[3 * x + 2] = s[x];
            } else {
                d[3 * x] = s[4 * x];
                d[3 * x + 1] = s[4 * x + 1];
                d[3 * x + 2] = s[4 * x + 2];
            }
        }
    }
    *out = img;
    return MEDGE_OK;
}

medge_image_format medge_image_sniff(const void *data, size_t size)
{
    const uint8_t *d = data;
    if (!d)
        return MEDGE_IMAGE_UNKNOWN;
    if (size >= 8 && memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0)
        return MEDGE_IMAGE_PNG;
    if (size >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF)
        return MEDGE_IMAGE_JPEG;
    if (size >= 132 && memcmp(d + 128, "DICM", 4) == 0)
        return MEDGE_IMAGE_DICOM;
    if (size >= 2 && d[0] == 'P' && (d[1] == '2' || d[1] == '3' || d[1] == '5' || d[1] == '6'))
        return MEDGE_IMAGE_PNM;
    return MEDGE_IMAGE_UNKNOWN;
}

static const char *format_name(medge_image_format f)
{
    switch (f) {
    case MEDGE_IMAGE_PNG: return "PNG";
    case MEDGE_IMAGE_JPEG: return "JPEG";
    case MEDGE_IMAGE_PNM: return "PPM/PGM";
    case MEDGE_IMAGE_DICOM: return "DICOM";
    default: return "unknown";
    }
}

medge_status image_decode_codec(medge_image_format fmt, const uint8_t *data, size_t size, const medge_image_params *p,
                                medge_image **out)
{
    *out = NULL;
    if (!p->codec || !p->codec->decode)
        return medge_err(MEDGE_ERR_UNSUPPORTED,
                         "%s image: no %s decoder was provided (libmedge decodes PPM/PGM and DICOM itself; PNG and "
                         "JPEG need a codec, e.g. the medge tools built with libpng / libjpeg-turbo)",
                         format_name(fmt), format_name(fmt));
    char err[256];
    err[0] = 0;
    medge_image *img = NULL;
    medge_status rc = p->codec->decode(p->codec->user, fmt, data, size, &img, err, sizeof err);
    err[sizeof err - 1] = 0;
    if (rc != MEDGE_OK) {
        medge_image_free(img);
        return medge_err(rc, "%s decoder: %s", format_name(fmt), err[0] ? err : medge_status_str(rc));
    }
    if (!img || !img->rgb || img->w <= 0 || img->h <= 0) {
        medge_image_free(img);
        return medge_err(MEDGE_ERR_INTERNAL, "%s decoder returned no image", format_name(fmt));
    }
    uint64_t maxp = p->max_pixels ? p->max_pixels : IMAGE_DEFAULT_MAX_PIXELS;
    if ((uint64_t)img->w * (uint64_t)img->h > maxp) {
        int w = img->w, h = img->h;
        medge_image_free(img);
        return medge_err(MEDGE_ERR_RANGE, "image of %d x %d pixels exceeds the limit of %llu pixels", w, h,
                         (unsigned long long)maxp);
    }
    *out = img;
    return MEDGE_OK;
}

medge_status medge_image_decode(const void *data, size_t size, medge_image_params params, medge_image **out)
{
    if (!out)
        return medge_err(MEDGE_ERR_INVALID_ARG, "medge_image_decode: out is NULL");
    *out = NULL;
    if (!data || size == 0)
        return medge_err(MEDGE_ERR_FORMAT, "empty image data");
    medge_image_format f = medge_image_sniff(data, size);
    switch (f) {
    case MEDGE_IMAGE_PNM: return image_decode_pnm(data, size, &params, out);
    case MEDGE_IMAGE_DICOM: return image_decode_dicom(data, size, &params, out);
    case MEDGE_IMAGE_PNG:
    case MEDGE_IMAGE_JPEG: return image_decode_codec(f, data, size, &params, out);
    default: break;
    }
    return medge_err(MEDGE_ERR_UNSUPPORTED,
                     "not a recognised image (expected PNG, JPEG, PPM/PGM or a DICOM Part 10 file with its "
                     "128-byte preamble and 'DICM')");
}

medge_status medge_image_load(const char *path, medge_image_params params, medge_image **out)
{
    if (!out || !path)
        return medge_err(MEDGE_ERR_INVALID_ARG, "medge_image_load: path and out are required");
    *out = NULL;
    medge_map m;
    medge_status rc = medge_read_file(path, &m);
    if (rc != MEDGE_OK)
        return rc;
    rc = medge_image_decode(m.data, (size_t)m.size, params, out);
    medge_unmap(&m);
    if (rc != MEDGE_OK)
        return medge_err_prefix(rc, "%s", path);
    return MEDGE_OK;
}

void medge_image_to_planar(const medge_image *img, const float mean[3], const float std[3], float *dst)
{
    size_t n = (size_t)img->w * (size_t)img->h;
    for (int c = 0; c < 3; c++) {
        float *d = dst + (size_t)c * n;
        for (size_t i = 0; i < n; i++) {
            float v = (float)img->rgb[3 * i + (size_t)c] / 255.0f;
            d[i] = (v - mean[c]) / std[c];
        }
    }
}

/* ---- Pillow-exact resampling (libImaging/Resample.c semantics, written from its description):
 * separable filter, coefficients in double normalised to sum 1 then to 22-bit fixed point,
 * horizontal pass over the rows the vertical pass needs, then vertical, each rounding to u8. */

#define RS_PRECISION_BITS (32 - 8 - 2)

static double filter_bilinear(double x)
{
    if (x < 0.0)
        x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

static double filter_bicubic(double x)
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

typedef struct rs_coeffs {
    int ksize;
    int *bounds; /* [out][2]: first input index, count */
    int32_t *k;  /* [out][ksize] fixed point */
} rs_coeffs;

static medge_status rs_precompute(int in_size, int out_size, medge_resample filter, rs_coeffs *c)
{
    double (*fn)(double) = filter == MEDGE_RESAMPLE_BICUBIC ? filter_bicubic : filter_bilinear;
    double fsupport = filter == MEDGE_RESAMPLE_BICUBIC ? 2.0 : 1.0;
    double scale = (double)in_size / out_size;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = fsupport * filterscale;
    int ksize = (int)ceil(support) * 2 + 1;
    c->ksize = ksize;
    c->bounds = malloc(sizeof(int) * 2 * (size_t)out_size);
    c->k = malloc(sizeof(int32_t) * (size_t)ksize * (size_t)out_size);
    double *kd = malloc(sizeof(double) * (size_t)ksize);
    if (!c->bounds || !c->k || !kd) {
        free(kd);
        return medge_err(MEDGE_ERR_NOMEM, "out of memory for resize coefficients");
    }
    for (int xx = 0; xx < out_size; xx++) {
        double center = (xx + 0.5) * scale;
        double ww = 0.0, ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0)
            xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_size)
            xmax = in_size;
        xmax -= xmin;
        int x;
        for (x = 0; x < xmax; x++) {
            double w = fn((x + xmin - center + 0.5) * ss);
            kd[x] = w;
            ww += w;
        }
        for (x = 0; x < xmax; x++)
            if (ww != 0.0)
                kd[x] /= ww;
        for (; x < ksize; x++)
            kd[x] = 0;
        int32_t *k = c->k + (size_t)xx * (size_t)ksize;
        for (x = 0; x < ksize; x++)
            k[x] = kd[x] < 0 ? (int32_t)(-0.5 + kd[x] * (1 << RS_PRECISION_BITS))
                             : (int32_t)(0.5 + kd[x] * (1 << RS_PRECISION_BITS));
        c->bounds[2 * xx] = xmin;
        c->bounds[2 * xx + 1] = xmax;
    }
    free(kd);
    return MEDGE_OK;
}

static void rs_free(rs_coeffs *c)
{
    free(c->bounds);
    free(c->k);
}

static inline uint8_t rs_clip8(int32_t v)
{
    v >>= RS_PRECISION_BITS;
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

medge_status image_resample_u8(const uint8_t *src, int sw, int sh, int ch, uint8_t *dst, int dw, int dh,
                               medge_resample filter)
{
    if (sw <= 0 || sh <= 0 || dw <= 0 || dh <= 0 || ch < 1 || ch > 4)
        return medge_err(MEDGE_ERR_INVALID_ARG, "resize: bad sizes %dx%d -> %dx%d", sw, sh, dw, dh);
    if (sw == dw && sh == dh) {
        memcpy(dst, src, (size_t)sw * (size_t)sh * (size_t)ch);
        return MEDGE_OK;
    }
    rs_coeffs ch_x = {0}, cv = {0};
    uint8_t *tmp = NULL;
    medge_status rc = rs_precompute(sw, dw, filter, &ch_x);
    if (rc == MEDGE_OK)
        rc = rs_precompute(sh, dh, filter, &cv);
    if (rc != MEDGE_OK)
        goto done;
    /* rows of the source the vertical pass reads */
    int y_first = cv.bounds[0];
    int y_last = cv.bounds[2 * dh - 2] + cv.bounds[2 * dh - 1];
    const uint8_t *vsrc = src;
    int vw = sw, vrow0 = 0;
    if (sw != dw) {
        int th = y_last - y_first;
        tmp = malloc((size_t)dw * (size_t)th * (size_t)ch);
        if (!tmp) {
            rc = medge_err(MEDGE_ERR_NOMEM, "out of memory for resizing");
            goto done;
        }
        for (int y = 0; y < th; y++) {
            const uint8_t *in = src + (size_t)(y + y_first) * (size_t)sw * (size_t)ch;
            uint8_t *o = tmp + (size_t)y * (size_t)dw * (size_t)ch;
            for (int xx = 0; xx < dw; xx++) {
                int xmin = ch_x.bounds[2 * xx], xmax = ch_x.bounds[2 * xx + 1];
                const int32_t *k = ch_x.k + (size_t)xx * (size_t)ch_x.ksize;
                for (int c = 0; c < ch; c++) {
                    int32_t ss = 1 << (RS_PRECISION_BITS - 1);
                    for (int x = 0; x < xmax; x++)
                        ss += (int32_t)in[(size_t)(x + xmin) * (size_t)ch + (size_t)c] * k[x];
                    o[(size_t)xx * (size_t)ch + (size_t)c] = rs_clip8(ss);
                }
            }
        }
        vsrc = tmp;
        vw = dw;
        vrow0 = y_first;
    }
    if (sh != dh) {
        for (int yy = 0; yy < dh; yy++) {
            int ymin = cv.bounds[2 * yy] - vrow0, ymax = cv.bounds[2 * yy + 1];
            const int32_t *k = cv.k + (size_t)yy * (size_t)cv.ksize;
            uint8_t *o = dst + (size_t)yy * (size_t)dw * (size_t)ch;
            for (int xx = 0; xx < dw * ch; xx++) {
                int32_t ss = 1 << (RS_PRECISION_BITS - 1);
                for (int y = 0; y < ymax; y++)
                    ss += (int32_t)vsrc[(size_t)(y + ymin) * (size_t)vw * (size_t)ch + (size_t)xx] * k[y];
                o[xx] = rs_clip8(ss);
            }
        }
    } else {
        /* only the horizontal pass was needed (y_first == 0, all rows) */
        memcpy(dst, vsrc, (size_t)dw * (size_t)dh * (size_t)ch);
    }
done:
    free(tmp);
    rs_free(&ch_x);
    rs_free(&cv);
    return rc;
}

medge_status medge_image_resize(const medge_image *img, int32_t width, int32_t height, medge_resample filter,
                                medge_image **out)
{
    if (!out)
        return medge_err(MEDGE_ERR_INVALID_ARG, "medge_image_resize: out is NULL");
    *out = NULL;
    if (!img || width <= 0 || height <= 0 || width > 65536 || height > 65536)
        return medge_err(MEDGE_ERR_INVALID_ARG, "medge_image_resize: bad image or size %d x %d", (int)width,
                         (int)height);
    if (filter != MEDGE_RESAMPLE_BILINEAR && filter != MEDGE_RESAMPLE_BICUBIC)
        return medge_err(MEDGE_ERR_INVALID_ARG, "medge_image_resize: unknown filter %d", (int)filter);
    medge_image *r;
    MEDGE_TRY(image_new(width, height, UINT64_MAX, &r));
    medge_status rc = image_resample_u8(img->rgb, img->w, img->h, 3, r->rgb, width, height, filter);
    if (rc != MEDGE_OK) {
        medge_image_free(r);
        return rc;
    }
    *out = r;
    return MEDGE_OK;
}
