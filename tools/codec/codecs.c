/* codecs.c - which optional image codecs this build of the tools links (libpng, libjpeg). */
#include "codec/codecs.h"

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
