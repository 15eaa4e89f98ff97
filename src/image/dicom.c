/* dicom.c - built-in DICOM Part 10 reader for single images: 128-byte preamble + "DICM", file meta
 * group (explicit VR little endian), data set in Implicit VR Little Endian, Explicit VR Little
 * Endian or JPEG Baseline (encapsulated, decoded by the caller's codec). Grayscale 8/16-bit
 * (signed or not, any Bits Stored / High Bit) goes through Modality LUT (rescale slope /
 * intercept), VOI (window centre / width, else the image's range) and MONOCHROME1 inversion to
 * 8-bit gray; RGB 8-bit in both planar configurations. Only the first frame is decoded. Every
 * length read from the file is checked against the data; nested sequences are skipped with a
 * depth limit. Anything else is refused with a message naming what is missing. */
#include "image/image.h"
#include "core/log.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DCM_MAX_DEPTH 16

static const char *const TS_IMPLICIT = "1.2.840.10008.1.2";
static const char *const TS_EXPLICIT = "1.2.840.10008.1.2.1";
static const char *const TS_JPEG_BASELINE = "1.2.840.10008.1.2.4.50";

typedef struct dcm_elem {
    uint16_t group, elem;
    char vr[3];       /* "" in implicit VR */
    uint32_t len;     /* 0xFFFFFFFF: undefined */
    size_t value;     /* offset of the value */
} dcm_elem;

typedef struct dcm_buf {
    const uint8_t *d;
    size_t n;
} dcm_buf;

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

static int vr_long(const char *vr)
{
    static const char *const l[] = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"};
    for (size_t i = 0; i < sizeof l / sizeof l[0]; i++)
        if (vr[0] == l[i][0] && vr[1] == l[i][1])
            return 1;
    return 0;
}

/* Read the element header at pos; checks that a defined-length value lies inside the buffer. */
static medge_status dcm_read_elem(const dcm_buf *b, size_t pos, int explicit_vr, dcm_elem *e)
{
    if (pos > b->n || b->n - pos < 8)
        return medge_err(MEDGE_ERR_FORMAT, "DICOM: truncated element header at offset %zu", pos);
    const uint8_t *p = b->d + pos;
    e->group = rd16(p);
    e->elem = rd16(p + 2);
    e->vr[0] = 0;
    if (e->group == 0xFFFE) { /* items and delimiters: no VR in any transfer syntax */
        e->len = rd32(p + 4);
        e->value = pos + 8;
    } else if (explicit_vr) {
        e->vr[0] = (char)p[4];
        e->vr[1] = (char)p[5];
        e->vr[2] = 0;
        if (e->vr[0] < 'A' || e->vr[0] > 'Z' || e->vr[1] < 'A' || e->vr[1] > 'Z')
            return medge_err(MEDGE_ERR_FORMAT, "DICOM: invalid VR bytes 0x%02x 0x%02x at (%04X,%04X), offset %zu", p[4],
                             p[5], e->group, e->elem, pos);
        if (vr_long(e->vr)) {
            if (b->n - pos < 12)
                return medge_err(MEDGE_ERR_FORMAT, "DICOM: truncated element header at offset %zu", pos);
            e->len = rd32(p + 8);
            e->value = pos + 12;
        } else {
            e->len = rd16(p + 6);
            e->value = pos + 8;
        }
    } else {
        e->len = rd32(p + 4);
        e->value = pos + 8;
    }
    if (e->len != 0xFFFFFFFFu && (uint64_t)e->len > (uint64_t)(b->n - e->value))
        return medge_err(MEDGE_ERR_FORMAT, "DICOM: element (%04X,%04X) at offset %zu has length %u beyond the end of the file",
                         e->group, e->elem, pos, e->len);
    return MEDGE_OK;
}

/* Skip a sequence of undefined length whose items start at pos; *end = offset after the
 * sequence delimiter. Items of undefined length are walked element by element. */
static medge_status dcm_skip_seq(const dcm_buf *b, size_t pos, int explicit_vr, int depth, size_t *end)
{
    if (depth > DCM_MAX_DEPTH)
        return medge_err(MEDGE_ERR_FORMAT, "DICOM: sequences nested deeper than %d", DCM_MAX_DEPTH);
    for (;;) {
        dcm_elem it = {0};
        MEDGE_TRY(dcm_read_elem(b, pos, explicit_vr, &it));
        if (it.group != 0xFFFE)
            return medge_err(MEDGE_ERR_FORMAT, "DICOM: expected an item at offset %zu, found (%04X,%04X)", pos, it.group,
                             it.elem);
        if (it.elem == 0xE0DD) { /* sequence delimitation */
            *end = it.value;
            return MEDGE_OK;
        }
        if (it.elem != 0xE000)
            return medge_err(MEDGE_ERR_FORMAT, "DICOM: unexpected (FFFE,%04X) in a sequence at offset %zu", it.elem, pos);
        if (it.len != 0xFFFFFFFFu) {
            pos = it.value + it.len;
            continue;
        }
        /* item of undefined length: elements up to the item delimitation */
        pos = it.value;
        for (;;) {
            dcm_elem e = {0};
            MEDGE_TRY(dcm_read_elem(b, pos, explicit_vr, &e));
            if (e.group == 0xFFFE && e.elem == 0xE00D) {
                pos = e.value;
                break;
            }
            if (e.group == 0xFFFE)
                return medge_err(MEDGE_ERR_FORMAT, "DICOM: unexpected (FFFE,%04X) inside an item at offset %zu", e.elem,
                                 pos);
            if (e.len == 0xFFFFFFFFu) {
                /* SQ, or UN of undefined length (whose content is implicit VR) */
                int ex = explicit_vr && strcmp(e.vr, "UN") != 0;
                MEDGE_TRY(dcm_skip_seq(b, e.value, ex, depth + 1, &pos));
            } else {
                pos = e.value + e.len;
            }
        }
    }
}

typedef struct dcm_info {
    int have_rows, have_cols;
    uint32_t rows, cols, spp, bits_alloc, bits_stored, high_bit, pixel_rep, planar;
    int have_bits_stored, have_high_bit;
    uint32_t frames;
    char photometric[20];
    double slope, intercept, wc, ww;
    int have_window;
    size_t pixel_pos; /* offset of the pixel data value */
    uint32_t pixel_len;
    int have_pixels;
} dcm_info;

static medge_status dcm_us(const dcm_buf *b, const dcm_elem *e, uint32_t *out)
{
    if (e->len < 2)
        return medge_err(MEDGE_ERR_FORMAT, "DICOM: (%04X,%04X) should be a 16-bit value (length %u)", e->group, e->elem,
                         e->len);
    *out = rd16(b->d + e->value);
    return MEDGE_OK;
}

/* First value of a DS / IS string ("1.5\\2"); returns 0 when empty. */
static int dcm_num(const dcm_buf *b, const dcm_elem *e, double *out, medge_status *rc)
{
    char s[80];
    size_t n = 0, i = 0;
    const uint8_t *v = b->d + e->value;
    while (i < e->len && (v[i] == ' ' || v[i] == 0))
        i++;
    while (i < e->len && v[i] != '\\' && v[i] != ' ' && v[i] != 0 && n + 1 < sizeof s)
        s[n++] = (char)v[i++];
    s[n] = 0;
    *rc = MEDGE_OK;
    if (n == 0)
        return 0;
    char *endp;
    double d = strtod(s, &endp);
    if (*endp != 0 || !isfinite(d)) {
        *rc = medge_err(MEDGE_ERR_FORMAT, "DICOM: (%04X,%04X) is not a number: '%s'", e->group, e->elem, s);
        return 0;
    }
    *out = d;
    return 1;
}

static void dcm_str(const dcm_buf *b, const dcm_elem *e, char *dst, size_t cap)
{
    size_t n = 0;
    const uint8_t *v = b->d + e->value;
    for (size_t i = 0; i < e->len && n + 1 < cap; i++) {
        if (v[i] == 0)
            break;
        dst[n++] = (char)v[i];
    }
    while (n > 0 && dst[n - 1] == ' ')
        n--;
    dst[n] = 0;
}

static const char *ts_name(const char *uid)
{
    static const char *const t[][2] = {
        {"1.2.840.10008.1.2.2", "Explicit VR Big Endian"},
        {"1.2.840.10008.1.2.1.99", "Deflated Explicit VR Little Endian"},
        {"1.2.840.10008.1.2.4.51", "JPEG Extended (Process 2 & 4)"},
        {"1.2.840.10008.1.2.4.57", "JPEG Lossless, Non-Hierarchical (Process 14)"},
        {"1.2.840.10008.1.2.4.70", "JPEG Lossless, First-Order Prediction (Process 14, Selection Value 1)"},
        {"1.2.840.10008.1.2.4.80", "JPEG-LS Lossless"},
        {"1.2.840.10008.1.2.4.81", "JPEG-LS Lossy (Near-Lossless)"},
        {"1.2.840.10008.1.2.4.90", "JPEG 2000 (Lossless Only)"},
        {"1.2.840.10008.1.2.4.91", "JPEG 2000"},
        {"1.2.840.10008.1.2.4.201", "High-Throughput JPEG 2000 (Lossless Only)"},
        {"1.2.840.10008.1.2.4.202", "High-Throughput JPEG 2000 with RPCL Options (Lossless Only)"},
        {"1.2.840.10008.1.2.4.203", "High-Throughput JPEG 2000"},
        {"1.2.840.10008.1.2.5", "RLE Lossless"},
        {"1.2.840.10008.1.2.4.100", "MPEG2 Main Profile / Main Level"},
        {"1.2.840.10008.1.2.4.102", "MPEG-4 AVC/H.264 High Profile"},
        {"1.2.840.10008.1.2.4.110", "JPEG XL Lossless"},
        {"1.2.840.10008.1.2.4.112", "JPEG XL"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (strcmp(uid, t[i][0]) == 0)
            return t[i][1];
    return "unknown transfer syntax";
}

/* Parse the file meta group; returns the transfer syntax UID and the offset of the data set. */
static medge_status dcm_meta(const dcm_buf *b, char *ts, size_t cap, size_t *dataset)
{
    size_t pos = 132;
    ts[0] = 0;
    while (pos + 2 <= b->n && rd16(b->d + pos) == 0x0002) {
        dcm_elem e = {0};
        MEDGE_TRY(dcm_read_elem(b, pos, 1, &e));
        if (e.len == 0xFFFFFFFFu)
            return medge_err(MEDGE_ERR_FORMAT, "DICOM: undefined length in the file meta group at offset %zu", pos);
        if (e.elem == 0x0010) {
            char s[72];
            dcm_str(b, &e, s, sizeof s);
            /* UIDs are padded with NUL (handled by dcm_str) */
            snprintf(ts, cap, "%s", s);
        }
        pos = e.value + e.len;
    }
    if (!ts[0])
        return medge_err(MEDGE_ERR_FORMAT, "DICOM: the file meta information has no Transfer Syntax UID (0002,0010)");
    *dataset = pos;
    return MEDGE_OK;
}

static medge_status dcm_dataset(const dcm_buf *b, size_t pos, int explicit_vr, dcm_info *in)
{
    while (pos < b->n) {
        dcm_elem e = {0};
        MEDGE_TRY(dcm_read_elem(b, pos, explicit_vr, &e));
        uint32_t tag = (uint32_t)e.group << 16 | e.elem;
        if (tag == 0x7FE00010u) {
            in->have_pixels = 1;
            in->pixel_pos = e.value;
            in->pixel_len = e.len;
            return MEDGE_OK;
        }
        if (e.group == 0xFFFE)
            return medge_err(MEDGE_ERR_FORMAT, "DICOM: stray item tag (FFFE,%04X) at offset %zu", e.elem, pos);
        if (e.len == 0xFFFFFFFFu) {
            int ex = explicit_vr && strcmp(e.vr, "UN") != 0;
            MEDGE_TRY(dcm_skip_seq(b, e.value, ex, 1, &pos));
            continue;
        }
        medge_status rc = MEDGE_OK;
        double d;
        switch (tag) {
        case 0x00280002u: rc = dcm_us(b, &e, &in->spp); break;
        case 0x00280004u: dcm_str(b, &e, in->photometric, sizeof in->photometric); break;
        case 0x00280006u: rc = dcm_us(b, &e, &in->planar); break;
        case 0x00280008u:
            if (dcm_num(b, &e, &d, &rc) && d >= 1 && d < 4e9)
                in->frames = (uint32_t)d;
            break;
        case 0x00280010u: rc = dcm_us(b, &e, &in->rows); in->have_rows = 1; break;
        case 0x00280011u: rc = dcm_us(b, &e, &in->cols); in->have_cols = 1; break;
        case 0x00280100u: rc = dcm_us(b, &e, &in->bits_alloc); break;
        case 0x00280101u: rc = dcm_us(b, &e, &in->bits_stored); in->have_bits_stored = 1; break;
        case 0x00280102u: rc = dcm_us(b, &e, &in->high_bit); in->have_high_bit = 1; break;
        case 0x00280103u: rc = dcm_us(b, &e, &in->pixel_rep); break;
        case 0x00281050u:
            if (dcm_num(b, &e, &d, &rc)) {
                in->wc = d;
                in->have_window |= 1;
            }
            break;
        case 0x00281051u:
            if (dcm_num(b, &e, &d, &rc)) {
                in->ww = d;
                in->have_window |= 2;
            }
            break;
        case 0x00281052u:
            if (dcm_num(b, &e, &d, &rc))
                in->intercept = d;
            break;
        case 0x00281053u:
            if (dcm_num(b, &e, &d, &rc))
                in->slope = d;
            break;
        default: break;
        }
        if (rc != MEDGE_OK)
            return rc;
        pos = e.value + e.len;
    }
    return MEDGE_OK;
}

static int is_mono(const char *pi) { return strcmp(pi, "MONOCHROME1") == 0 || strcmp(pi, "MONOCHROME2") == 0; }

/* Grayscale samples (already as modality values) to 8-bit RGB through the VOI window. */
static void dcm_gray_to_rgb(const double *m, size_t n, const dcm_info *in, const medge_image_params *p, int identity,
                            uint8_t *rgb)
{
    double c = 0, w = 0;
    int windowed = 0;
    if (p->window_width > 0) {
        c = p->window_center;
        w = p->window_width;
        windowed = 1;
    } else if (in->have_window == 3 && in->ww >= 1) {
        c = in->wc;
        w = in->ww;
        windowed = 1;
    }
    double lo = 0, hi = 0;
    if (!windowed && !identity && n > 0) {
        lo = hi = m[0];
        for (size_t i = 1; i < n; i++) {
            if (m[i] < lo)
                lo = m[i];
            if (m[i] > hi)
                hi = m[i];
        }
    }
    int invert = strcmp(in->photometric, "MONOCHROME1") == 0;
    for (size_t i = 0; i < n; i++) {
        double x = m[i], y;
        if (windowed) {
            /* DICOM PS3.3 C.11.2.1.2.1, linear VOI function */
            if (x <= c - 0.5 - (w - 1) / 2)
                y = 0;
            else if (x > c - 0.5 + (w - 1) / 2)
                y = 255;
            else
                y = ((x - (c - 0.5)) / (w - 1) + 0.5) * 255.0;
        } else if (identity) {
            y = x;
        } else {
            y = hi > lo ? (x - lo) / (hi - lo) * 255.0 : 0;
        }
        y = floor(y + 0.5);
        uint8_t v = (uint8_t)(y < 0 ? 0 : y > 255 ? 255 : y);
        if (invert)
            v = (uint8_t)(255 - v);
        rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = v;
    }
}

/* Frame 0 of encapsulated pixel data: fragments after the basic offset table, joined. */
static medge_status dcm_first_frame(const dcm_buf *b, const dcm_info *in, uint8_t **out, size_t *out_n)
{
    size_t pos = in->pixel_pos;
    dcm_elem it = {0};
    MEDGE_TRY(dcm_read_elem(b, pos, 1, &it));
    if (it.group != 0xFFFE || it.elem != 0xE000 || it.len == 0xFFFFFFFFu)
        return medge_err(MEDGE_ERR_FORMAT, "DICOM: encapsulated pixel data does not start with the basic offset table item");
    /* basic offset table: offsets of frames relative to the first fragment */
    uint32_t frame_end = 0xFFFFFFFFu;
    if (it.len >= 8 && in->frames > 1)
        frame_end = rd32(b->d + it.value + 4);
    pos = it.value + it.len;
    size_t first = pos, total = 0;
    int nfrag = 0;
    /* pass 1: measure */
    for (int pass = 0; pass < 2; pass++) {
        size_t q = first, k = 0;
        for (;;) {
            MEDGE_TRY(dcm_read_elem(b, q, 1, &it));
            if (it.group == 0xFFFE && it.elem == 0xE0DD)
                break;
            if (it.group != 0xFFFE || it.elem != 0xE000 || it.len == 0xFFFFFFFFu)
                return medge_err(MEDGE_ERR_FORMAT, "DICOM: bad fragment item (%04X,%04X) at offset %zu", it.group,
                                 it.elem, q);
            if ((uint64_t)(q - first) >= frame_end)
                break;
            if (pass == 0) {
                total += it.len;
                nfrag++;
            } else {
                memcpy(*out + k, b->d + it.value, it.len);
                k += it.len;
            }
            q = it.value + it.len;
            /* without an offset table, a multi-frame file has one fragment per frame */
            if (in->frames > 1 && frame_end == 0xFFFFFFFFu)
                break;
        }
        if (pass == 0) {
            if (nfrag == 0 || total == 0)
                return medge_err(MEDGE_ERR_FORMAT, "DICOM: encapsulated pixel data has no fragments");
            *out = malloc(total);
            if (!*out)
                return medge_err(MEDGE_ERR_NOMEM, "out of memory for a DICOM frame");
        }
    }
    *out_n = total;
    return MEDGE_OK;
}

medge_status image_decode_dicom(const uint8_t *data, size_t size, const medge_image_params *p, medge_image **out)
{
    *out = NULL;
    dcm_buf b = {data, size};
    if (size < 132 || memcmp(data + 128, "DICM", 4) != 0)
        return medge_err(MEDGE_ERR_FORMAT, "DICOM: not a Part 10 file (no 'DICM' after the 128-byte preamble)");
    char ts[72];
    size_t pos = 0;
    MEDGE_TRY(dcm_meta(&b, ts, sizeof ts, &pos));
    int explicit_vr, jpeg = 0;
    if (strcmp(ts, TS_IMPLICIT) == 0) {
        explicit_vr = 0;
    } else if (strcmp(ts, TS_EXPLICIT) == 0) {
        explicit_vr = 1;
    } else if (strcmp(ts, TS_JPEG_BASELINE) == 0) {
        explicit_vr = 1;
        jpeg = 1;
    } else {
        return medge_err(MEDGE_ERR_UNSUPPORTED,
                         "DICOM transfer syntax %s (%s) is not supported; medge reads Implicit VR Little Endian, "
                         "Explicit VR Little Endian and JPEG Baseline (1.2.840.10008.1.2.4.50)",
                         ts, ts_name(ts));
    }
    dcm_info in;
    memset(&in, 0, sizeof in);
    in.spp = 1;
    in.slope = 1;
    in.frames = 1;
    MEDGE_TRY(dcm_dataset(&b, pos, explicit_vr, &in));
    if (!in.have_pixels)
        return medge_err(MEDGE_ERR_FORMAT, "DICOM: no Pixel Data (7FE0,0010) in the file");
    if (!in.have_rows || !in.have_cols || in.rows == 0 || in.cols == 0)
        return medge_err(MEDGE_ERR_FORMAT, "DICOM: missing or zero Rows / Columns (%u x %u)", in.rows, in.cols);
    if (!in.photometric[0])
        snprintf(in.photometric, sizeof in.photometric, "%s", in.spp == 3 ? "RGB" : "MONOCHROME2");
    if (in.frames > 1)
        MEDGE_LOGI("DICOM: %u frames, decoding the first", in.frames);
    if (!isfinite(in.slope) || !isfinite(in.intercept) || in.slope == 0)
        return medge_err(MEDGE_ERR_FORMAT, "DICOM: bad rescale slope %g / intercept %g", in.slope, in.intercept);

    size_t npx = (size_t)in.rows * in.cols;
    medge_image *img = NULL;
    medge_status rc = MEDGE_OK;
    double *m = NULL;

    if (jpeg) {
        if (in.pixel_len != 0xFFFFFFFFu)
            return medge_err(MEDGE_ERR_FORMAT, "DICOM: JPEG transfer syntax but the pixel data is not encapsulated");
        if (in.bits_alloc != 8 || (in.have_bits_stored && in.bits_stored != 8))
            return medge_err(MEDGE_ERR_UNSUPPORTED, "DICOM JPEG Baseline with %u bits allocated / %u stored: only 8-bit is supported",
                             in.bits_alloc, in.bits_stored);
        uint8_t *frame = NULL;
        size_t fn = 0;
        MEDGE_TRY(dcm_first_frame(&b, &in, &frame, &fn));
        medge_image *dec = NULL;
        rc = image_decode_codec(MEDGE_IMAGE_JPEG, frame, fn, p, &dec);
        free(frame);
        if (rc != MEDGE_OK)
            return medge_err_prefix(rc, "DICOM (JPEG Baseline pixel data)");
        if ((uint32_t)dec->w != in.cols || (uint32_t)dec->h != in.rows) {
            int dw = dec->w, dh = dec->h;
            medge_image_free(dec);
            return medge_err(MEDGE_ERR_FORMAT, "DICOM: the JPEG frame is %d x %d but Rows / Columns say %u x %u", dw, dh,
                             in.cols, in.rows);
        }
        if (in.spp == 3) {
            *out = dec;
            return MEDGE_OK;
        }
        if (!is_mono(in.photometric)) {
            medge_image_free(dec);
            return medge_err(MEDGE_ERR_UNSUPPORTED, "DICOM: photometric interpretation '%s' with 1 sample per pixel",
                             in.photometric);
        }
        m = malloc(npx * sizeof *m);
        if (!m) {
            medge_image_free(dec);
            return medge_err(MEDGE_ERR_NOMEM, "out of memory for DICOM pixels");
        }
        for (size_t i = 0; i < npx; i++)
            m[i] = dec->rgb[3 * i] * in.slope + in.intercept;
        int identity = in.slope == 1 && in.intercept == 0;
        dcm_gray_to_rgb(m, npx, &in, p, identity, dec->rgb);
        free(m);
        *out = dec;
        return MEDGE_OK;
    }

    if (in.pixel_len == 0xFFFFFFFFu)
        return medge_err(MEDGE_ERR_FORMAT, "DICOM: encapsulated pixel data in a native transfer syntax");
    if (in.spp == 3) {
        if (strcmp(in.photometric, "RGB") != 0)
            return medge_err(MEDGE_ERR_UNSUPPORTED, "DICOM: photometric interpretation '%s' is not supported (RGB, "
                             "MONOCHROME1 and MONOCHROME2 are)", in.photometric);
        if (in.bits_alloc != 8)
            return medge_err(MEDGE_ERR_UNSUPPORTED, "DICOM: RGB with %u bits allocated (only 8 is supported)", in.bits_alloc);
        if (in.planar > 1)
            return medge_err(MEDGE_ERR_FORMAT, "DICOM: planar configuration %u", in.planar);
        if ((uint64_t)in.pixel_len < (uint64_t)npx * 3)
            return medge_err(MEDGE_ERR_FORMAT, "DICOM: pixel data has %u bytes, %u x %u RGB needs %zu", in.pixel_len,
                             in.cols, in.rows, npx * 3);
        MEDGE_TRY(image_new((int32_t)in.cols, (int32_t)in.rows, p->max_pixels, &img));
        const uint8_t *s = data + in.pixel_pos;
        if (in.planar == 0) {
            memcpy(img->rgb, s, npx * 3);
        } else {
            for (size_t i = 0; i < npx; i++)
                for (int c = 0; c < 3; c++)
                    img->rgb[3 * i + (size_t)c] = s[(size_t)c * npx + i];
        }
        *out = img;
        return MEDGE_OK;
    }
    if (in.spp != 1)
        return medge_err(MEDGE_ERR_UNSUPPORTED, "DICOM: %u samples per pixel (1 or 3 are supported)", in.spp);
    if (!is_mono(in.photometric))
        return medge_err(MEDGE_ERR_UNSUPPORTED, "DICOM: photometric interpretation '%s' is not supported (RGB, "
                         "MONOCHROME1 and MONOCHROME2 are)", in.photometric);
    if (in.bits_alloc != 8 && in.bits_alloc != 16)
        return medge_err(MEDGE_ERR_UNSUPPORTED, "DICOM: %u bits allocated (8 and 16 are supported)", in.bits_alloc);
    uint32_t stored = in.have_bits_stored ? in.bits_stored : in.bits_alloc;
    uint32_t high = in.have_high_bit ? in.high_bit : stored - 1;
    if (stored == 0 || stored > in.bits_alloc || high >= in.bits_alloc || high + 1 < stored)
        return medge_err(MEDGE_ERR_FORMAT, "DICOM: inconsistent bits allocated %u / stored %u / high bit %u",
                         in.bits_alloc, stored, high);
    if (in.pixel_rep > 1)
        return medge_err(MEDGE_ERR_FORMAT, "DICOM: pixel representation %u", in.pixel_rep);
    size_t bpp = in.bits_alloc / 8;
    if ((uint64_t)in.pixel_len < (uint64_t)npx * bpp)
        return medge_err(MEDGE_ERR_FORMAT, "DICOM: pixel data has %u bytes, %u x %u x %u bits needs %zu", in.pixel_len,
                         in.cols, in.rows, in.bits_alloc, npx * bpp);
    MEDGE_TRY(image_new((int32_t)in.cols, (int32_t)in.rows, p->max_pixels, &img));
    m = malloc(npx * sizeof *m);
    if (!m) {
        medge_image_free(img);
        return medge_err(MEDGE_ERR_NOMEM, "out of memory for DICOM pixels");
    }
    const uint8_t *s = data + in.pixel_pos;
    uint32_t shift = high + 1 - stored;
    uint32_t mask = stored >= 32 ? 0xFFFFFFFFu : (1u << stored) - 1;
    for (size_t i = 0; i < npx; i++) {
        uint32_t raw = bpp == 1 ? s[i] : rd16(s + 2 * i);
        uint32_t u = (raw >> shift) & mask;
        int64_t v = u;
        if (in.pixel_rep == 1 && (u >> (stored - 1)) & 1)
            v = (int64_t)u - ((int64_t)1 << stored);
        m[i] = (double)v * in.slope + in.intercept;
    }
    int identity = in.bits_alloc == 8 && stored == 8 && in.pixel_rep == 0 && in.slope == 1 && in.intercept == 0;
    dcm_gray_to_rgb(m, npx, &in, p, identity, img->rgb);
    free(m);
    *out = img;
    return MEDGE_OK;
}
