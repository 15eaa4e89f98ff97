/* test-image.c - image decoding and preprocessing: DICOM files written here (8-bit, 16-bit signed
 * with rescale and window, MONOCHROME1, RGB in both planar configurations, implicit VR, nested
 * sequences, JPEG Baseline through the tools' codec), PPM/PGM, PNG/JPEG through libpng/libjpeg,
 * truncated and corrupt files of every kind, and Pillow-exact bicubic resizing checked against
 * the open_clip preprocessing in the BiomedCLIP reference. */
#include "test.h"
#include "codec/codecs.h"
#include "image/image.h"

#include <stdint.h>
#ifdef MEDGE_HAVE_JPEG
#include <jpeglib.h>
#endif

/* ---- a tiny DICOM writer ---- */
typedef struct buf {
    uint8_t d[1 << 20];
    size_t n;
} buf;

static buf B;

static void put(const void *p, size_t n)
{
    memcpy(B.d + B.n, p, n);
    B.n += n;
}
static void put16(uint16_t v) { uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)}; put(b, 2); }
static void put32(uint32_t v) { put16((uint16_t)v); put16((uint16_t)(v >> 16)); }

static int g_explicit = 1;

static void elem(uint16_t g, uint16_t e, const char *vr, const void *val, uint32_t len)
{
    put16(g);
    put16(e);
    if (g_explicit || g == 0x0002) {
        put(vr, 2);
        if (!strcmp(vr, "OB") || !strcmp(vr, "OW") || !strcmp(vr, "SQ") || !strcmp(vr, "UN")) {
            put16(0);
            put32(len);
        } else {
            put16((uint16_t)len);
        }
    } else {
        put32(len);
    }
    if (val && len != 0xFFFFFFFFu)
        put(val, len);
}
static void elem_us(uint16_t g, uint16_t e, uint16_t v) { elem(g, e, "US", &v, 2); }
static void elem_str(uint16_t g, uint16_t e, const char *vr, const char *s)
{
    char t[80];
    size_t n = strlen(s);
    memcpy(t, s, n);
    if (n & 1)
        t[n++] = (!strcmp(vr, "UI")) ? 0 : ' ';
    elem(g, e, vr, t, (uint32_t)n);
}

static void dcm_begin(const char *ts, int explicit_vr)
{
    B.n = 0;
    memset(B.d, 0, 128);
    B.n = 128;
    put("DICM", 4);
    g_explicit = 1;
    elem_str(0x0002, 0x0010, "UI", ts);
    g_explicit = explicit_vr;
    elem_str(0x0008, 0x0060, "CS", "CT");
}

static void dcm_image(int rows, int cols, int spp, int bits, int stored, int signed_px, const char *pi)
{
    elem_us(0x0028, 0x0002, (uint16_t)spp);
    elem_str(0x0028, 0x0004, "CS", pi);
    elem_us(0x0028, 0x0010, (uint16_t)rows);
    elem_us(0x0028, 0x0011, (uint16_t)cols);
    elem_us(0x0028, 0x0100, (uint16_t)bits);
    elem_us(0x0028, 0x0101, (uint16_t)stored);
    elem_us(0x0028, 0x0102, (uint16_t)(stored - 1));
    elem_us(0x0028, 0x0103, (uint16_t)signed_px);
}

/* Keep a copy of each crafted file (handy as fuzz seeds: fuzz/corpus/dicom/ came from these). */
static void save(const char *name)
{
    FILE *f = fopen(test_tmp(name), "wb");
    if (f) {
        fwrite(B.d, 1, B.n, f);
        fclose(f);
    }
}

static medge_status decode(medge_image **img)
{
    return medge_codecs_decode_image(B.d, B.n, img);
}

/* every strict prefix of the current buffer must fail cleanly */
static void check_truncations(const char *what)
{
    size_t n = B.n;
    int ok = 0;
    for (size_t k = 0; k < n; k += (k < 400 ? 1 : 7)) {
        medge_image *img = NULL;
        if (medge_codecs_decode_image(B.d, k, &img) == MEDGE_OK) {
            ok++;
            medge_image_free(img);
        }
    }
    CHECK_MSG(ok == 0, "%s: %d truncated prefixes decoded", what, ok);
}

static void test_dicom_8bit(void)
{
    dcm_begin("1.2.840.10008.1.2.1", 1);
    dcm_image(2, 3, 1, 8, 8, 0, "MONOCHROME2");
    uint8_t px[6] = {0, 10, 100, 200, 255, 7};
    elem(0x7FE0, 0x0010, "OB", px, 6);
    save("dicom-8bit.dcm");
    medge_image *img = NULL;
    CHECK_OK(decode(&img));
    if (img) {
        CHECK_EQ_INT(medge_image_width(img), 3);
        CHECK_EQ_INT(medge_image_height(img), 2);
        const uint8_t *rgb = medge_image_rgb(img);
        for (int i = 0; i < 6; i++) {
            CHECK_EQ_INT(rgb[3 * i], px[i]);
            CHECK_EQ_INT(rgb[3 * i + 1], px[i]);
            CHECK_EQ_INT(rgb[3 * i + 2], px[i]);
        }
    }
    medge_image_free(img);
    check_truncations("8-bit DICOM");

    /* MONOCHROME1: inverted */
    dcm_begin("1.2.840.10008.1.2.1", 1);
    dcm_image(2, 3, 1, 8, 8, 0, "MONOCHROME1");
    elem(0x7FE0, 0x0010, "OB", px, 6);
    save("dicom-mono1.dcm");
    CHECK_OK(decode(&img));
    if (img)
        for (int i = 0; i < 6; i++)
            CHECK_EQ_INT(medge_image_rgb(img)[3 * i + 1], 255 - px[i]);
    medge_image_free(img);
}

static void test_dicom_16bit_signed(void)
{
    /* CT-like: stored signed 16-bit, HU = 2 * v - 1024, window centre 40 width 400
     * (lung/soft tissue). VOI linear: y = ((x - 39.5) / 399 + 0.5) * 255 inside [-160.., 239.5]. */
    dcm_begin("1.2.840.10008.1.2.1", 1);
    dcm_image(1, 5, 1, 16, 16, 1, "MONOCHROME2");
    elem_str(0x0028, 0x1050, "DS", "40\\400");
    elem_str(0x0028, 0x1051, "DS", "400\\1500");
    elem_str(0x0028, 0x1052, "DS", "-1024");
    elem_str(0x0028, 0x1053, "DS", "2");
    int16_t v[5] = {-100, 400, 532, 600, 30000}; /* HU: -1224, -224, 40, 176, 58976 */
    uint8_t raw[10];
    for (int i = 0; i < 5; i++) {
        raw[2 * i] = (uint8_t)((uint16_t)v[i] & 0xFF);
        raw[2 * i + 1] = (uint8_t)((uint16_t)v[i] >> 8);
    }
    elem(0x7FE0, 0x0010, "OW", raw, 10);
    save("dicom-16bit-signed.dcm");
    medge_image *img = NULL;
    CHECK_OK(decode(&img));
    /* -1224 -> 0; -224 -> 0 (below -160); 40: (0.5/399+0.5)*255 = 127.82 -> 128;
     * 176: (136.5/399+0.5)*255 = 214.74 -> 215; 58976 -> 255 */
    const int want[5] = {0, 0, 128, 215, 255};
    if (img)
        for (int i = 0; i < 5; i++)
            CHECK_EQ_INT(medge_image_rgb(img)[3 * i], want[i]);
    medge_image_free(img);

    /* window given by the caller replaces the file's */
    medge_image_params p = medge_image_default_params();
    p.codec = medge_codecs_get();
    p.window_center = 176.5;
    p.window_width = 2;
    CHECK_OK(medge_image_decode(B.d, B.n, p, &img));
    if (img) {
        CHECK_EQ_INT(medge_image_rgb(img)[3 * 2], 0);
        CHECK_EQ_INT(medge_image_rgb(img)[3 * 3], 128); /* ((176 - 176) / 1 + 0.5) * 255 = 127.5 -> 128 */
        CHECK_EQ_INT(medge_image_rgb(img)[3 * 4], 255);
    }
    medge_image_free(img);
    check_truncations("16-bit DICOM");
}

static void test_dicom_implicit(void)
{
    /* implicit VR, 12 bits stored in 16, unsigned, no window: the image's range maps to 0..255;
     * a sequence of undefined length with nested items comes before the pixels */
    dcm_begin("1.2.840.10008.1.2", 0);
    elem(0x0008, 0x1140, "SQ", NULL, 0xFFFFFFFFu);
    put16(0xFFFE); put16(0xE000); put32(0xFFFFFFFFu); /* item, undefined length */
    elem_str(0x0008, 0x1150, "UI", "1.2.3");
    elem(0x0008, 0x1155, "SQ", NULL, 0xFFFFFFFFu); /* nested sequence */
    put16(0xFFFE); put16(0xE000); put32(10);
    elem_str(0x0008, 0x0001, "UI", "9");       /* 8 + 2 bytes */
    put16(0xFFFE); put16(0xE0DD); put32(0);
    put16(0xFFFE); put16(0xE00D); put32(0);     /* item delimitation */
    put16(0xFFFE); put16(0xE0DD); put32(0);     /* sequence delimitation */
    dcm_image(1, 4, 1, 16, 12, 0, "MONOCHROME2");
    /* the high 4 bits hold garbage that must be masked off */
    uint16_t v[4] = {0xF000 | 100, 1100, 2100, 4095};
    elem(0x7FE0, 0x0010, "OW", v, 8);
    save("dicom-implicit.dcm");
    medge_image *img = NULL;
    CHECK_OK(decode(&img));
    /* (x - 100) / 3995 * 255: 0, 63.83 -> 64, 127.66 -> 128, 255 */
    const int want[4] = {0, 64, 128, 255};
    if (img)
        for (int i = 0; i < 4; i++)
            CHECK_EQ_INT(medge_image_rgb(img)[3 * i + 2], want[i]);
    medge_image_free(img);
    check_truncations("implicit VR DICOM");
}

static void test_dicom_rgb(void)
{
    uint8_t inter[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    uint8_t planar[12] = {1, 4, 7, 10, 2, 5, 8, 11, 3, 6, 9, 12};
    for (int pc = 0; pc < 2; pc++) {
        dcm_begin("1.2.840.10008.1.2.1", 1);
        dcm_image(2, 2, 3, 8, 8, 0, "RGB");
        elem_us(0x0028, 0x0006, (uint16_t)pc);
        elem(0x7FE0, 0x0010, "OB", pc ? planar : inter, 12);
        save(pc ? "dicom-rgb-planar.dcm" : "dicom-rgb.dcm");
        medge_image *img = NULL;
        CHECK_OK(decode(&img));
        if (img)
            CHECK(memcmp(medge_image_rgb(img), inter, 12) == 0);
        medge_image_free(img);
    }
    check_truncations("RGB DICOM");
}

static void test_dicom_refused(void)
{
    medge_image *img = NULL;
    dcm_begin("1.2.840.10008.1.2.4.90", 1);
    dcm_image(2, 2, 1, 8, 8, 0, "MONOCHROME2");
    elem(0x7FE0, 0x0010, "OB", NULL, 0xFFFFFFFFu);
    CHECK_EQ_INT(decode(&img), MEDGE_ERR_UNSUPPORTED);
    CHECK(strstr(medge_errmsg(NULL), "1.2.840.10008.1.2.4.90") != NULL);
    CHECK(strstr(medge_errmsg(NULL), "JPEG 2000") != NULL);

    dcm_begin("1.2.840.10008.1.2.2", 1);
    CHECK_EQ_INT(decode(&img), MEDGE_ERR_UNSUPPORTED);
    CHECK(strstr(medge_errmsg(NULL), "Big Endian") != NULL);

    /* pixel data shorter than rows x columns */
    dcm_begin("1.2.840.10008.1.2.1", 1);
    dcm_image(4, 4, 1, 8, 8, 0, "MONOCHROME2");
    uint8_t px[6] = {0};
    elem(0x7FE0, 0x0010, "OB", px, 6);
    CHECK_EQ_INT(decode(&img), MEDGE_ERR_FORMAT);

    /* element length pointing past the end */
    dcm_begin("1.2.840.10008.1.2.1", 1);
    put16(0x0010); put16(0x0010); put("OB", 2); put16(0); put32(0x7FFFFFFF);
    CHECK_EQ_INT(decode(&img), MEDGE_ERR_FORMAT);

    /* sequences nested without end */
    dcm_begin("1.2.840.10008.1.2.1", 1);
    for (int i = 0; i < 40; i++) {
        elem(0x0008, 0x1140, "SQ", NULL, 0xFFFFFFFFu);
        put16(0xFFFE); put16(0xE000); put32(0xFFFFFFFFu);
    }
    CHECK_EQ_INT(decode(&img), MEDGE_ERR_FORMAT);

    /* no preamble / not DICOM at all */
    CHECK_EQ_INT(medge_codecs_decode_image("hello world", 11, &img), MEDGE_ERR_UNSUPPORTED);
    CHECK(img == NULL);
}

/* ---- PPM / PGM ---- */
static void test_pnm(void)
{
    medge_image *img = NULL;
    const char p6[] = "P6\n# comment\n2 1\n255\n\x01\x02\x03\xff\xfe\xfd";
    CHECK_OK(medge_codecs_decode_image(p6, sizeof p6 - 1, &img));
    if (img) {
        CHECK_EQ_INT(medge_image_width(img), 2);
        CHECK(memcmp(medge_image_rgb(img), "\x01\x02\x03\xff\xfe\xfd", 6) == 0);
    }
    medge_image_free(img);
    const char p2[] = "P2 3 1 15 0 15 7";
    CHECK_OK(medge_codecs_decode_image(p2, sizeof p2 - 1, &img));
    if (img) {
        CHECK_EQ_INT(medge_image_rgb(img)[0], 0);
        CHECK_EQ_INT(medge_image_rgb(img)[3], 255);
        CHECK_EQ_INT(medge_image_rgb(img)[6], 119); /* 7 * 255 / 15 = 119 */
        CHECK_EQ_INT(medge_image_rgb(img)[8], 119);
    }
    medge_image_free(img);
    const char p5_16[] = "P5 2 1 65535\n\xff\xff\x80\x00";
    CHECK_OK(medge_codecs_decode_image(p5_16, sizeof p5_16 - 1, &img));
    if (img) {
        CHECK_EQ_INT(medge_image_rgb(img)[0], 255);
        CHECK_EQ_INT(medge_image_rgb(img)[3], 128); /* 32768 * 255 / 65535 = 127.5 -> 128 */
    }
    medge_image_free(img);
    CHECK_EQ_INT(medge_codecs_decode_image(p6, sizeof p6 - 2, &img), MEDGE_ERR_FORMAT);
    CHECK_EQ_INT(medge_codecs_decode_image("P6 100000 100000 255\n", 21, &img), MEDGE_ERR_FORMAT);
    CHECK_EQ_INT(medge_codecs_decode_image("P3 1 1 255 1 2 300", 18, &img), MEDGE_ERR_FORMAT);
    CHECK_EQ_INT(medge_codecs_decode_image("P6 0 1 255\n", 11, &img), MEDGE_ERR_FORMAT);
}

/* ---- PNG / JPEG through the tools' codecs ---- */
static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *d = malloc((size_t)sz);
    *n = d ? fread(d, 1, (size_t)sz, f) : 0;
    fclose(f);
    return d;
}

static void test_png(void)
{
    size_t n = 0, nr = 0;
    uint8_t *png = slurp(test_ref("gemma3-tiny/vision/test-image-224.png"), &n);
    uint8_t *raw = slurp(test_ref("gemma3-tiny/vision/test-image-224.rgb"), &nr);
    CHECK(png && raw && nr == 224 * 224 * 3);
    if (!png || !raw)
        return;
    medge_image *img = NULL;
#ifdef MEDGE_HAVE_PNG
    CHECK_OK(medge_codecs_decode_image(png, n, &img));
    if (img) {
        CHECK_EQ_INT(medge_image_width(img), 224);
        CHECK_EQ_INT(medge_image_height(img), 224);
        CHECK(memcmp(medge_image_rgb(img), raw, nr) == 0);
    }
    medge_image_free(img);
    /* truncated anywhere: error */
    int ok = 0;
    for (size_t k = 0; k < n; k += 97) {
        if (medge_codecs_decode_image(png, k, &img) == MEDGE_OK) {
            ok++;
            medge_image_free(img);
        }
    }
    CHECK_EQ_INT(ok, 0);
    /* a flipped byte in the compressed data: CRC error */
    png[n / 2] ^= 0x55;
    CHECK_EQ_INT(medge_codecs_decode_image(png, n, &img), MEDGE_ERR_FORMAT);
    png[n / 2] ^= 0x55;
#endif
    /* without a codec: a clear refusal */
    medge_image_params p = medge_image_default_params();
    CHECK_EQ_INT(medge_image_decode(png, n, p, &img), MEDGE_ERR_UNSUPPORTED);
    CHECK(strstr(medge_errmsg(NULL), "PNG") != NULL);
    free(png);
    free(raw);
}

#ifdef MEDGE_HAVE_JPEG
static int pattern(int x, int y, int c) { return x * 3 + y * 2 + c * 30; }

/* gray 8-bit or RGB JPEG of a smooth pattern, quality 95 */
static size_t make_jpeg(int w, int h, int comps, unsigned char **out)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    unsigned long size = 0;
    *out = NULL;
    jpeg_mem_dest(&c, out, &size);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = comps;
    c.in_color_space = comps == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 95, TRUE);
    jpeg_start_compress(&c, TRUE);
    unsigned char *row = malloc((size_t)w * (size_t)comps);
    while (c.next_scanline < c.image_height) {
        for (int x = 0; x < w * comps; x++)
            row[x] = (unsigned char)pattern(x / comps, (int)c.next_scanline, x % comps);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    free(row);
    return size;
}

static void test_jpeg(void)
{
    unsigned char *jpg;
    size_t n = make_jpeg(40, 24, 3, &jpg);
    medge_image *img = NULL, *img2 = NULL;
    CHECK_OK(medge_codecs_decode_image(jpg, n, &img));
    if (img) {
        CHECK_EQ_INT(medge_image_width(img), 40);
        CHECK_EQ_INT(medge_image_height(img), 24);
        /* lossy, but close to the pattern */
        int maxd = 0;
        for (int y = 0; y < 24; y++)
            for (int x = 0; x < 120; x++) {
                int d = abs((int)medge_image_rgb(img)[y * 120 + x] - pattern(x / 3, y, x % 3));
                maxd = d > maxd ? d : maxd;
            }
        CHECK_MSG(maxd <= 8, "max pixel difference %d", maxd);
    }
    medge_image_free(img);
    int ok = 0;
    for (size_t k = 0; k + 2 < n; k += 13) {
        if (medge_codecs_decode_image(jpg, k, &img) == MEDGE_OK) {
            ok++;
            medge_image_free(img);
        }
    }
    CHECK_EQ_INT(ok, 0);
    free(jpg);

    /* DICOM JPEG Baseline: gray JPEG in fragments, MONOCHROME2, equals the JPEG decoded alone */
    n = make_jpeg(16, 8, 1, &jpg);
    CHECK_OK(medge_codecs_decode_image(jpg, n, &img2));
    dcm_begin("1.2.840.10008.1.2.4.50", 1);
    dcm_image(8, 16, 1, 8, 8, 0, "MONOCHROME2");
    elem(0x7FE0, 0x0010, "OB", NULL, 0xFFFFFFFFu);
    put16(0xFFFE); put16(0xE000); put32(0); /* empty basic offset table */
    size_t half = (n / 2) & ~(size_t)1;
    put16(0xFFFE); put16(0xE000); put32((uint32_t)half); put(jpg, half);
    size_t rest = n - half, pad = rest & 1;
    put16(0xFFFE); put16(0xE000); put32((uint32_t)(rest + pad)); put(jpg + half, rest);
    if (pad)
        put("\0", 1);
    put16(0xFFFE); put16(0xE0DD); put32(0);
    save("dicom-jpeg.dcm");
    CHECK_OK(decode(&img));
    if (img && img2)
        CHECK(memcmp(medge_image_rgb(img), medge_image_rgb(img2), 16 * 8 * 3) == 0);
    medge_image_free(img);
    medge_image_free(img2);
    check_truncations("JPEG DICOM");
    free(jpg);
}
#endif

/* ---- Pillow-exact bicubic: open_clip's Resize(224) + CenterCrop(224) on the BiomedCLIP
 * reference images; the reference holds (x/255 - mean) / std, so invert and compare u8. ---- */
#ifdef MEDGE_HAVE_PNG
static void check_bicubic(const char *png_name, int rw, int rh, int cx, int cy)
{
    char rel[256], pix[256];
    snprintf(rel, sizeof rel, "images/%s", png_name);
    snprintf(pix, sizeof pix, "biomedclip-tiny/%s.pixels.f32", png_name);
    medge_image *img = NULL, *r = NULL;
    CHECK_OK(medge_codecs_load_image(test_ref(rel), &img));
    size_t n = 0;
    float *ref = (float *)slurp(test_ref(pix), &n);
    CHECK(ref && n == 3 * 224 * 224 * 4);
    if (!img || !ref || n != 3 * 224 * 224 * 4) {
        medge_image_free(img);
        free(ref);
        return;
    }
    CHECK_OK(medge_image_resize(img, rw, rh, MEDGE_RESAMPLE_BICUBIC, &r));
    const float mean[3] = {0.48145466f, 0.4578275f, 0.40821073f}, sd[3] = {0.26862954f, 0.26130258f, 0.27577711f};
    int bad = 0;
    for (int c = 0; c < 3 && r; c++)
        for (int y = 0; y < 224; y++)
            for (int x = 0; x < 224; x++) {
                float v = ref[(size_t)c * 224 * 224 + (size_t)y * 224 + (size_t)x];
                int u = (int)lrintf((v * sd[c] + mean[c]) * 255.0f);
                int got = medge_image_rgb(r)[((size_t)(y + cy) * (size_t)rw + (size_t)(x + cx)) * 3 + (size_t)c];
                bad += u != got;
            }
    CHECK_MSG(bad == 0, "%s: %d of %d pixels differ from Pillow", png_name, bad, 3 * 224 * 224);
    medge_image_free(r);
    medge_image_free(img);
    free(ref);
}
#endif

static void test_resize(void)
{
#ifdef MEDGE_HAVE_PNG
    check_bicubic("xray-like-400x500.png", 224, 280, 0, 28);
    check_bicubic("test-image-320x240.png", 298, 224, 37, 0);
    check_bicubic("skin-like-300x398.png", 224, 297, 0, 36);
#endif
    /* bilinear: a constant image stays constant, a horizontal ramp stays monotone */
    uint8_t px[7 * 5 * 3];
    for (int i = 0; i < 7 * 5; i++) {
        px[3 * i] = 77;
        px[3 * i + 1] = (uint8_t)((i % 7) * 40);
        px[3 * i + 2] = 200;
    }
    medge_image *img = NULL, *r = NULL;
    CHECK_OK(medge_image_from_pixels(px, 7, 5, 3, 0, &img));
    CHECK_OK(medge_image_resize(img, 16, 3, MEDGE_RESAMPLE_BILINEAR, &r));
    if (r) {
        const uint8_t *o = medge_image_rgb(r);
        for (int i = 0; i < 16 * 3; i++) {
            CHECK_EQ_INT(o[3 * i], 77);
            CHECK_EQ_INT(o[3 * i + 2], 200);
            if (i % 16)
                CHECK(o[3 * i + 1] >= o[3 * (i - 1) + 1]);
        }
        CHECK_EQ_INT(o[1], 0);      /* left edge keeps the first column */
        CHECK_EQ_INT(o[3 * 15 + 1], 240);
    }
    medge_image_free(r);
    /* normalisation to [-1, 1] planes */
    float planes[3 * 7 * 5];
    const float half[3] = {0.5f, 0.5f, 0.5f};
    medge_image_to_planar(img, half, half, planes);
    CHECK_NEAR(planes[0], 77 / 255.0 * 2 - 1, 1e-6);
    CHECK_NEAR(planes[35 + 6], 240 / 255.0 * 2 - 1, 1e-6);
    CHECK_NEAR(planes[70], 200 / 255.0 * 2 - 1, 1e-6);
    medge_image_free(img);
}

int main(void)
{
    test_dicom_8bit();
    test_dicom_16bit_signed();
    test_dicom_implicit();
    test_dicom_rgb();
    test_dicom_refused();
    test_pnm();
    test_png();
#ifdef MEDGE_HAVE_JPEG
    test_jpeg();
#endif
    test_resize();
    TEST_END();
}
