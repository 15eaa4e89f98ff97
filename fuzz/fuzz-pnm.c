/* fuzz-pnm.c - libFuzzer target for the built-in PPM/PGM reader, and for the Pillow-style
 * resampler on whatever it decodes (sizes taken from the input). */
#include "medge.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    medge_image_params p = medge_image_default_params();
    p.max_pixels = 1u << 20;
    medge_image *img = NULL, *r = NULL;
    if (medge_image_decode(data, size, p, &img) == MEDGE_OK) {
        int w = 1 + (size > 0 ? data[size - 1] % 37 : 0), h = 1 + (size > 1 ? data[size - 2] % 29 : 0);
        if (medge_image_resize(img, w, h, size & 1 ? MEDGE_RESAMPLE_BICUBIC : MEDGE_RESAMPLE_BILINEAR, &r) == MEDGE_OK) {
            volatile unsigned s = medge_image_rgb(r)[0];
            (void)s;
        }
    }
    medge_image_free(r);
    medge_image_free(img);
    return 0;
}
