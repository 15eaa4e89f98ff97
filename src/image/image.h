/* image.h - internal side of medge_image: the struct, the built-in decoders (PNM, DICOM) and the
 * preprocessing helpers the vision models use. */
#ifndef MEDGE_IMAGE_IMAGE_H
#define MEDGE_IMAGE_IMAGE_H
#include "core/error.h"

struct medge_image {
    medge_handle base; /* first, so medge_errmsg(img) works like on every handle */
    int32_t w, h;
    uint8_t *rgb;      /* [h][w][3] */
};

/* Allocate an image of w x h (pixels uninitialised); checks w, h > 0 and the pixel budget. */
medge_status image_new(int32_t w, int32_t h, uint64_t max_pixels, medge_image **out);

medge_status image_decode_pnm(const uint8_t *data, size_t size, const medge_image_params *p, medge_image **out);
medge_status image_decode_dicom(const uint8_t *data, size_t size, const medge_image_params *p, medge_image **out);
/* Call the caller's codec for PNG/JPEG, turning its failure text into a medge_err. */
medge_status image_decode_codec(medge_image_format fmt, const uint8_t *data, size_t size, const medge_image_params *p,
                                medge_image **out);

/* Pillow-exact resample of 8-bit interleaved pixels with ch channels (1..4). src/dst are caller
 * buffers of sw*sh*ch and dw*dh*ch bytes. */
medge_status image_resample_u8(const uint8_t *src, int sw, int sh, int ch, uint8_t *dst, int dw, int dh,
                               medge_resample filter);
#endif
