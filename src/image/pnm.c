/* pnm.c - built-in decoder for Netpbm images: PGM (P2 ASCII, P5 binary) and PPM (P3, P6), maxval up
 * to 65535 (16-bit samples big endian), scaled to 8 bits. Only the first image of a file is read. */
#include "image/image.h"

#include <stdlib.h>

typedef struct pnm_rd {
    const uint8_t *d;
    size_t n, i;
} pnm_rd;

static int pnm_space(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

/* Skip whitespace and # comments, then read a decimal number (at most 65535 * 65536). */
static medge_status pnm_number(pnm_rd *r, const char *what, uint32_t *out)
{
    for (;;) {
        while (r->i < r->n && pnm_space(r->d[r->i]))
            r->i++;
        if (r->i < r->n && r->d[r->i] == '#') {
            while (r->i < r->n && r->d[r->i] != '\n' && r->d[r->i] != '\r')
                r->i++;
            continue;
        }
        break;
    }
    if (r->i >= r->n)
        return medge_err(MEDGE_ERR_FORMAT, "PPM/PGM: truncated before the %s", what);
    if (r->d[r->i] < '0' || r->d[r->i] > '9')
        return medge_err(MEDGE_ERR_FORMAT, "PPM/PGM: expected a number for the %s", what);
    uint64_t v = 0;
    while (r->i < r->n && r->d[r->i] >= '0' && r->d[r->i] <= '9') {
        v = v * 10 + (uint64_t)(r->d[r->i] - '0');
        if (v > 0xFFFFFFFFull)
            return medge_err(MEDGE_ERR_FORMAT, "PPM/PGM: %s too large", what);
        r->i++;
    }
    *out = (uint32_t)v;
    return MEDGE_OK;
}

medge_status image_decode_pnm(const uint8_t *data, size_t size, const medge_image_params *p, medge_image **out)
{
    *out = NULL;
    if (size < 2 || data[0] != 'P')
        return medge_err(MEDGE_ERR_FORMAT, "not a PPM/PGM file");
    char kind = (char)data[1];
    int ascii = kind == '2' || kind == '3';
    int channels = (kind == '3' || kind == '6') ? 3 : 1;
    if (kind != '2' && kind != '3' && kind != '5' && kind != '6')
        return medge_err(MEDGE_ERR_UNSUPPORTED, "Netpbm type P%c is not supported (P2, P3, P5, P6 are)", kind);
    pnm_rd r = {data, size, 2};
    uint32_t w, h, maxval;
    MEDGE_TRY(pnm_number(&r, "width", &w));
    MEDGE_TRY(pnm_number(&r, "height", &h));
    MEDGE_TRY(pnm_number(&r, "maxval", &maxval));
    if (w == 0 || h == 0 || w > 0x7FFFFFFF || h > 0x7FFFFFFF)
        return medge_err(MEDGE_ERR_FORMAT, "PPM/PGM: bad size %u x %u", w, h);
    if (maxval == 0 || maxval > 65535)
        return medge_err(MEDGE_ERR_FORMAT, "PPM/PGM: maxval %u out of range 1..65535", maxval);
    if (!ascii) {
        /* exactly one whitespace byte separates the header from binary data */
        if (r.i >= r.n || !pnm_space(data[r.i]))
            return medge_err(MEDGE_ERR_FORMAT, "PPM/PGM: missing whitespace after the header");
        r.i++;
    }
    uint64_t nsamp = (uint64_t)w * h * (uint64_t)channels;
    int bps = maxval > 255 ? 2 : 1;
    if (!ascii && (r.n - r.i) / (uint64_t)bps < nsamp)
        return medge_err(MEDGE_ERR_FORMAT, "PPM/PGM: truncated pixel data (%u x %u x %d needs %llu bytes, %zu left)", w,
                         h, channels, (unsigned long long)(nsamp * (uint64_t)bps), r.n - r.i);
    /* ASCII samples take at least two bytes (a digit and a separator, except the last) */
    if (ascii && (r.n - r.i + 1) / 2 < nsamp)
        return medge_err(MEDGE_ERR_FORMAT, "PPM/PGM: truncated pixel data (%llu samples needed)",
                         (unsigned long long)nsamp);
    medge_image *img;
    MEDGE_TRY(image_new((int32_t)w, (int32_t)h, p->max_pixels, &img));
    for (uint64_t s = 0; s < nsamp; s++) {
        uint32_t v;
        if (ascii) {
            medge_status rc = pnm_number(&r, "sample", &v);
            if (rc != MEDGE_OK) {
                medge_image_free(img);
                return rc;
            }
        } else if (bps == 1) {
            v = data[r.i++];
        } else {
            v = (uint32_t)data[r.i] << 8 | data[r.i + 1];
            r.i += 2;
        }
        if (v > maxval) {
            medge_image_free(img);
            return medge_err(MEDGE_ERR_FORMAT, "PPM/PGM: sample %u above maxval %u", v, maxval);
        }
        uint8_t b = maxval == 255 ? (uint8_t)v : (uint8_t)((v * 255u * 2 + maxval) / (2u * maxval));
        if (channels == 3) {
            img->rgb[s] = b;
        } else {
            img->rgb[3 * s] = img->rgb[3 * s + 1] = img->rgb[3 * s + 2] = b;
        }
    }
    *out = img;
    return MEDGE_OK;
}
