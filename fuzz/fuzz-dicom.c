/* fuzz-dicom.c - libFuzzer target for the built-in DICOM reader (and the format sniffer). A fake
 * codec stands in for JPEG so encapsulated pixel data reaches the frame assembly and the
 * post-processing of decoded samples. */
#include "medge.h"

#include <string.h>

static medge_status fake_jpeg(void *user, medge_image_format format, const uint8_t *data, size_t size,
                              medge_image **out, char *err, size_t err_size)
{
    (void)user;
    (void)format;
    if (size < 4) {
        strncpy(err, "short", err_size);
        return MEDGE_ERR_FORMAT;
    }
    /* a gray image whose size comes from the data: exercises the Rows/Columns check */
    int w = 1 + data[0] % 8, h = 1 + data[1] % 8;
    uint8_t px[64];
    for (int i = 0; i < 64; i++)
        px[i] = data[(size_t)i % size];
    return medge_image_from_pixels(px, w, h, 1, 0, out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const medge_image_codec codec = {NULL, fake_jpeg};
    medge_image_params p = medge_image_default_params();
    p.codec = &codec;
    p.max_pixels = 1u << 22;
    medge_image *img = NULL;
    if (medge_image_decode(data, size, p, &img) == MEDGE_OK) {
        /* touch every pixel */
        const uint8_t *rgb = medge_image_rgb(img);
        size_t n = (size_t)medge_image_width(img) * (size_t)medge_image_height(img) * 3;
        volatile unsigned sum = 0;
        for (size_t i = 0; i < n; i++)
            sum += rgb[i];
        (void)sum;
    }
    medge_image_free(img);
    return 0;
}
