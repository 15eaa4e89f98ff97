/* codecs.c - PNG (libpng) and JPEG (libjpeg / libjpeg-turbo) decoding for the medge tools, plugged
 * into libmedge through medge_image_codec. libmedge itself stays free of these libraries.
 * Both libraries report fatal errors by longjmp: each setjmp lives in a small function whose
 * only state is reached through a pointer to the caller's struct, so nothing the longjmp
 * returns through is an automatic variable modified after setjmp. Truncated or corrupt data
 * (including libjpeg's "premature end" warnings, which it would otherwise paper over with gray)
 * is an error. */
#include "codec/codecs.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef MEDGE_HAVE_PNG
#include <png.h>
#endif
#ifdef MEDGE_HAVE_JPEG
#include <jpeglib.h>
#endif

#define CODEC_MAX_PIXELS (1ull << 27)

const char *medge_codecs_built(void)
{
#if defined(MEDGE_HAVE_PNG) && defined(MEDGE_HAVE_JPEG)
    return "png jpeg";
#elif defined(MEDGE_HAVE_PNG)
    return "png";
#elif defined(MEDGE_HAVE_JPEG)
    return "jpeg";
#else
    return "";
#endif
}

/* ---------------------------------------------------------------- PNG */
#ifdef MEDGE_HAVE_PNG
typedef struct png_job {
    const uint8_t *data;
    size_t size, pos;
    char *err;
    size_t err_size;
    jmp_buf jb;
    png_structp png;
    png_infop info;
    uint8_t *pixels;   /* [h][w][3] */
    png_bytep *rows;
    uint32_t w, h;
} png_job;

static void png_err_fn(png_structp png, png_const_charp msg)
{
    png_job *j = png_get_error_ptr(png);
    snprintf(j->err, j->err_size, "%s", msg);
    longjmp(j->jb, 1);
}

static void png_warn_fn(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static void png_read_fn(png_structp png, png_bytep dst, size_t n)
{
    png_job *j = png_get_io_ptr(png);
    if (n > j->size - j->pos)
        png_error(png, "truncated PNG data");
    memcpy(dst, j->data + j->pos, n);
    j->pos += n;
}

/* Everything that can longjmp happens here; j is the caller's. Returns 0 on success. */
static int png_run(png_job *j)
{
    if (setjmp(j->jb))
        return 1;
    png_set_read_fn(j->png, j, png_read_fn);
    png_read_info(j->png, j->info);
    int bit_depth, color_type, interlace;
    png_get_IHDR(j->png, j->info, &j->w, &j->h, &bit_depth, &color_type, &interlace, NULL, NULL);
    if (j->w == 0 || j->h == 0 || (uint64_t)j->w * j->h > CODEC_MAX_PIXELS)
        png_error(j->png, "image size out of range");
    /* as Pillow's convert("RGB"): palette expanded, 16-bit to 8, gray replicated, alpha dropped */
    if (color_type == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(j->png);
    if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8)
        png_set_expand_gray_1_2_4_to_8(j->png);
    if (bit_depth == 16)
        png_set_strip_16(j->png);
    if (color_type == PNG_COLOR_TYPE_GRAY || color_type == PNG_COLOR_TYPE_GRAY_ALPHA)
        png_set_gray_to_rgb(j->png);
    png_set_strip_alpha(j->png);
    if (interlace != PNG_INTERLACE_NONE)
        png_set_interlace_handling(j->png);
    png_read_update_info(j->png, j->info);
    if (png_get_rowbytes(j->png, j->info) != (size_t)j->w * 3)
        png_error(j->png, "unexpected row layout after conversion to RGB");
    j->pixels = malloc((size_t)j->w * j->h * 3);
    j->rows = malloc(sizeof(png_bytep) * j->h);
    if (!j->pixels || !j->rows)
        png_error(j->png, "out of memory");
    for (uint32_t y = 0; y < j->h; y++)
        j->rows[y] = j->pixels + (size_t)y * j->w * 3;
    png_read_image(j->png, j->rows);
    png_read_end(j->png, NULL);
    return 0;
}

static medge_status decode_png(const uint8_t *data, size_t size, medge_image **out, char *err, size_t err_size)
{
    png_job j;
    memset(&j, 0, sizeof j);
    j.data = data;
    j.size = size;
    j.err = err;
    j.err_size = err_size;
    j.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &j, png_err_fn, png_warn_fn);
    if (j.png)
        j.info = png_create_info_struct(j.png);
    if (!j.png || !j.info) {
        png_destroy_read_struct(j.png ? &j.png : NULL, NULL, NULL);
        snprintf(err, err_size, "cannot create the PNG decoder");
        return MEDGE_ERR_NOMEM;
    }
    int bad = png_run(&j);
    png_destroy_read_struct(&j.png, &j.info, NULL);
    medge_status rc = MEDGE_OK;
    if (bad)
        rc = strstr(err, "out of memory") ? MEDGE_ERR_NOMEM : MEDGE_ERR_FORMAT;
    else
        rc = medge_image_from_pixels(j.pixels, (int32_t)j.w, (int32_t)j.h, 3, 0, out);
    if (!bad && rc != MEDGE_OK)
        snprintf(err, err_size, "%s", medge_errmsg(NULL));
    free(j.pixels);
    free(j.rows);
    return rc;
}
#endif

/* ---------------------------------------------------------------- JPEG */
#ifdef MEDGE_HAVE_JPEG
typedef struct jpeg_job {
    struct jpeg_error_mgr jerr; /* first: the error manager pointer is the job */
    jmp_buf jb;
    struct jpeg_decompress_struct cinfo;
    int created;
    const uint8_t *data;
    size_t size;
    char *err;
    size_t err_size;
    uint8_t *pixels;
    uint32_t w, h;
} jpeg_job;

static void jpeg_fail(j_common_ptr c)
{
    jpeg_job *j = (jpeg_job *)c->err;
    char buf[JMSG_LENGTH_MAX];
    (*c->err->format_message)(c, buf);
    snprintf(j->err, j->err_size, "%s", buf);
    longjmp(j->jb, 1);
}

/* Warnings (level < 0) mean corrupt data that libjpeg would hide (gray fill): fail instead. */
static void jpeg_msg(j_common_ptr c, int level)
{
    if (level < 0)
        jpeg_fail(c);
}

static int jpeg_run(jpeg_job *j)
{
    if (setjmp(j->jb))
        return 1;
    jpeg_create_decompress(&j->cinfo);
    j->created = 1;
    jpeg_mem_src(&j->cinfo, (const unsigned char *)j->data, (unsigned long)j->size);
    jpeg_read_header(&j->cinfo, TRUE);
    if (j->cinfo.jpeg_color_space == JCS_CMYK || j->cinfo.jpeg_color_space == JCS_YCCK) {
        snprintf(j->err, j->err_size, "CMYK JPEG images are not supported");
        return 1;
    }
    j->cinfo.out_color_space = JCS_RGB;
    jpeg_start_decompress(&j->cinfo);
    j->w = j->cinfo.output_width;
    j->h = j->cinfo.output_height;
    if (j->w == 0 || j->h == 0 || (uint64_t)j->w * j->h > CODEC_MAX_PIXELS || j->cinfo.output_components != 3) {
        snprintf(j->err, j->err_size, "JPEG size %ux%u or %d components not supported", j->w, j->h,
                 j->cinfo.output_components);
        return 1;
    }
    j->pixels = malloc((size_t)j->w * j->h * 3);
    if (!j->pixels) {
        snprintf(j->err, j->err_size, "out of memory");
        return 1;
    }
    while (j->cinfo.output_scanline < j->h) {
        JSAMPROW row = j->pixels + (size_t)j->cinfo.output_scanline * j->w * 3;
        if (jpeg_read_scanlines(&j->cinfo, &row, 1) != 1) {
            snprintf(j->err, j->err_size, "truncated JPEG data");
            return 1;
        }
    }
    jpeg_finish_decompress(&j->cinfo);
    return 0;
}

static medge_status decode_jpeg(const uint8_t *data, size_t size, medge_image **out, char *err, size_t err_size)
{
    jpeg_job *j = calloc(1, sizeof *j);
    if (!j) {
        snprintf(err, err_size, "out of memory");
        return MEDGE_ERR_NOMEM;
    }
    j->data = data;
    j->size = size;
    j->err = err;
    j->err_size = err_size;
    j->cinfo.err = jpeg_std_error(&j->jerr);
    j->jerr.error_exit = jpeg_fail;
    j->jerr.emit_message = jpeg_msg;
    int bad = jpeg_run(j);
    if (j->created)
        jpeg_destroy_decompress(&j->cinfo);
    medge_status rc = MEDGE_OK;
    if (bad)
        rc = strstr(err, "out of memory") ? MEDGE_ERR_NOMEM : MEDGE_ERR_FORMAT;
    else
        rc = medge_image_from_pixels(j->pixels, (int32_t)j->w, (int32_t)j->h, 3, 0, out);
    if (!bad && rc != MEDGE_OK)
        snprintf(err, err_size, "%s", medge_errmsg(NULL));
    free(j->pixels);
    free(j);
    return rc;
}
#endif

static medge_status codec_decode(void *user, medge_image_format format, const uint8_t *data, size_t size,
                                 medge_image **out, char *err, size_t err_size)
{
    (void)user;
    (void)data;
    (void)size;
    (void)out;
    if (format == MEDGE_IMAGE_PNG) {
#ifdef MEDGE_HAVE_PNG
        return decode_png(data, size, out, err, err_size);
#else
        snprintf(err, err_size, "PNG support was not compiled in (libpng was not found when medge was built; install "
                                "libpng-dev and rebuild, or convert the image to PPM)");
        return MEDGE_ERR_UNSUPPORTED;
#endif
    }
    if (format == MEDGE_IMAGE_JPEG) {
#ifdef MEDGE_HAVE_JPEG
        return decode_jpeg(data, size, out, err, err_size);
#else
        snprintf(err, err_size, "JPEG support was not compiled in (libjpeg was not found when medge was built; install "
                                "libjpeg62-turbo-dev and rebuild, or convert the image to PPM)");
        return MEDGE_ERR_UNSUPPORTED;
#endif
    }
    snprintf(err, err_size, "format %d is not handled by the tools' codecs", (int)format);
    return MEDGE_ERR_UNSUPPORTED;
}

static const medge_image_codec g_codec = {NULL, codec_decode};

const medge_image_codec *medge_codecs_get(void) { return &g_codec; }

medge_status medge_codecs_load_image(const char *path, medge_image **out)
{
    medge_image_params p = medge_image_default_params();
    p.codec = &g_codec;
    return medge_image_load(path, p, out);
}

medge_status medge_codecs_decode_image(const void *data, size_t size, medge_image **out)
{
    medge_image_params p = medge_image_default_params();
    p.codec = &g_codec;
    return medge_image_decode(data, size, p, out);
}
