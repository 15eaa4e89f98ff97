/* image-prompt.h - image input shared by `medge run`, `medge chat` and `medge logits`: the
 * --mmproj / --image options, loading and checking the encoder against the text model, decoding
 * and encoding the images, and evaluating prompt text in which markers say where each image
 * goes ("<__media__>" as in llama.cpp, or "<start_of_image>" as in the Hugging Face processor).
 * Each marker becomes <start_of_image>, the image's embeddings (bidirectional), <end_of_image>. */
#ifndef MEDGE_TOOLS_IMAGE_PROMPT_H
#define MEDGE_TOOLS_IMAGE_PROMPT_H
#include "medge.h"
#include "text/spm.h"

#define TOOL_MAX_IMAGES 16
#define TOOL_IMAGE_MARKER "<__media__>"

typedef struct tool_images {
    const char *mmproj;
    const char *paths[TOOL_MAX_IMAGES];
    int n;
    medge_vision *vision;
    float *embd[TOOL_MAX_IMAGES]; /* [n_tokens][n_embd] per image */
    int next;                     /* next image a marker takes */
    double t_encode;              /* seconds spent encoding */
} tool_images;

/* Help text lines for the two options. */
#define TOOL_IMAGES_HELP                                                                                   \
    "  --mmproj FILE      the vision encoder (mmproj GGUF of the same model: llama.cpp's or medge's)\n"   \
    "  --image FILE       an image (PNG, JPEG, PPM/PGM, DICOM); repeat for several. The prompt marks\n"    \
    "                     where each goes with " TOOL_IMAGE_MARKER " (or <start_of_image>); without a\n"  \
    "                     marker the images come first in the user text. Needs --mmproj.\n"

/* If argv[*i] is --mmproj or --image, take its value (advancing *i) and return 1; 0 when it is
 * another option; -1 after printing an error (missing value, too many images). */
int tool_images_arg(tool_images *ti, const char *cmd, int argc, char **argv, int *i);
/* Check the options (an image needs --mmproj and vice versa), load the encoder, check it against
 * the model, decode and encode every image. Returns 0, or an exit code after printing why. */
int tool_images_prepare(tool_images *ti, const char *cmd, const medge_model *model, int n_threads, int verbose);
/* Number of image markers in text[0..len). */
int tool_images_markers(const char *text, size_t len);
/* Make sure every image has a marker: when text has none, returns a malloc'd copy with one
 * marker per image in front; when it has as many as images, a copy as is; otherwise NULL after
 * printing the error (more markers than images, or images without a marker). */
char *tool_images_place(const tool_images *ti, const char *cmd, const char *text);
/* Evaluate text[0..len) in the session: text between markers tokenized with flags (SPM_ADD_BOS
 * only applies before the first piece), each marker consuming the next image. Returns the
 * status; on failure the message is in medge_errmsg(NULL) / medge_errmsg(s). */
medge_status tool_images_eval(tool_images *ti, medge_session *s, const spm_vocab *voc, const char *text, size_t len,
                              unsigned flags);
/* The ids the session holds after tool_images_eval of the same text: image embeddings as -1
 * (as the session's history records them) between <start_of_image> and <end_of_image>. For
 * medge_session_eval_prefix on later chat turns, which then only evaluates the new text.
 * *ids is malloc'd. */
medge_status tool_images_ids(const tool_images *ti, const spm_vocab *voc, const char *text, size_t len,
                             unsigned flags, int32_t **ids, size_t *n);
void tool_images_free(tool_images *ti);
#endif
