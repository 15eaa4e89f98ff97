/* codecs.h - glue from the tools to optional image codec libraries (libpng, libjpeg-turbo), and
 * the one image-file loader every subcommand uses (run, chat, logits, embed, classify...). */
#ifndef MEDGE_TOOLS_CODECS_H
#define MEDGE_TOOLS_CODECS_H
#include "medge.h"

/* Space-separated list of codecs compiled in ("png jpeg"), "" when none. */
const char *medge_codecs_built(void);
/* The PNG/JPEG decoder of this build for medge_image_params.codec; formats that were not
 * compiled in fail with MEDGE_ERR_UNSUPPORTED naming the missing library. Static. */
const medge_image_codec *medge_codecs_get(void);
/* Decode an image file (PNG, JPEG, PPM/PGM, DICOM; format sniffed from the content) to RGB.
 * *out is owned by the caller (medge_image_free). Errors carry a message naming the file. */
medge_status medge_codecs_load_image(const char *path, medge_image **out);
/* Same for bytes in memory. */
medge_status medge_codecs_decode_image(const void *data, size_t size, medge_image **out);
#endif
