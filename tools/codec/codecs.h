/* codecs.h - glue from the tools to optional image codec libraries. */
#ifndef MEDGE_TOOLS_CODECS_H
#define MEDGE_TOOLS_CODECS_H
/* Space-separated list of codecs compiled in ("png jpeg"), "" when none. */
const char *medge_codecs_built(void);
#endif
