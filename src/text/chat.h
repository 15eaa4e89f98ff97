/* chat.h - the Gemma 3 (MedGemma) chat template, rendered exactly as the model's Jinja template
 * (specs/gemma3.md §5.3, 5.3b):
 *
 *   <bos><start_of_turn>user\n{system + "\n\n" if any}{user text}<end_of_turn>\n
 *   <start_of_turn>model\n{answer}<end_of_turn>\n ... [<start_of_turn>model\n]
 *
 * A system message is only recognised as messages[0] and is folded into the first turn (its text
 * is not trimmed; a content list uses item 0's text). Roles must alternate user / other; only
 * "assistant" becomes "model". Contents are trimmed as Python's str.strip(); image parts render
 * <start_of_image>; parts of other types are ignored.
 *
 * The rendered text starts with the BOS text: tokenize it with SPM_PARSE_SPECIAL and without
 * SPM_ADD_BOS, so that there is exactly one <bos>. */
#ifndef MEDGE_TEXT_CHAT_H
#define MEDGE_TEXT_CHAT_H
#include "core/error.h"
#include "core/json.h"

enum chat_content_kind {
    CHAT_CONTENT_STRING = 0, /* content / content_len */
    CHAT_CONTENT_PARTS = 1,  /* parts[n_parts] */
    CHAT_CONTENT_NULL = 2,   /* no content (JSON null): "Invalid content type" */
    CHAT_CONTENT_MAPPING = 3 /* a JSON object: Jinja iterates its keys, which render nothing */
};

enum chat_part_type { CHAT_PART_TEXT = 0, CHAT_PART_IMAGE = 1, CHAT_PART_OTHER = 2 };

typedef struct chat_part {
    int type;         /* enum chat_part_type */
    const char *text; /* CHAT_PART_TEXT: UTF-8 (NULL renders nothing) */
    size_t len;
} chat_part;

typedef struct chat_msg {
    const char *role; /* "system", "user", "assistant" or any other name; NULL: undefined */
    int kind;         /* enum chat_content_kind */
    const char *content;
    size_t content_len;
    const chat_part *parts;
    size_t n_parts;
} chat_msg;

/* Error texts, as the template raises them. */
#define CHAT_ERR_ALTERNATE "Conversation roles must alternate user/assistant/user/assistant/..."
#define CHAT_ERR_CONTENT "Invalid content type"

/* Render msgs[0..n) (n >= 1). bos_text NULL means "<bos>". *out is malloc'd and NUL-terminated
 * (free with free()); *out_len may be NULL. A template error returns MEDGE_ERR_INVALID_ARG with
 * the template's message. */
medge_status chat_render_gemma3(const chat_msg *msgs, size_t n, bool add_generation_prompt, const char *bos_text,
                                char **out, size_t *out_len);

/* The same from a JSON array of {"role", "content"} objects, content being a string, null, or
 * an array of {"type": "text", "text": ...} / {"type": "image"} items. */
medge_status chat_render_gemma3_json(const json_value *messages, bool add_generation_prompt, const char *bos_text,
                                     char **out, size_t *out_len);
#endif
