/* chat.c - the Gemma 3 chat template without a Jinja engine: the template's control flow written
 * out in C, including its corner cases (see chat.h and specs/gemma3.md §5.3b). */
#include "text/chat.h"
#include "text/unicode.h"

#include <stdlib.h>
#include <string.h>

static void put_trimmed(medge_buf *b, const char *s, size_t n)
{
    size_t st, len;
    if (!s)
        return;
    uni_py_strip(s, n, &st, &len);
    medge_buf_append(b, s + st, len);
}

medge_status chat_render_gemma3(const chat_msg *msgs, size_t n, bool add_generation_prompt, const char *bos_text,
                                char **out, size_t *out_len)
{
    *out = NULL;
    if (out_len)
        *out_len = 0;
    if (!msgs || n == 0)
        return medge_err(MEDGE_ERR_INVALID_ARG, "chat template: no messages");
    medge_buf b = {0};
    medge_buf_puts(&b, bos_text ? bos_text : "<bos>");
    const char *prefix = NULL;
    size_t prefix_len = 0;
    size_t first = 0;
    if (msgs[0].role && strcmp(msgs[0].role, "system") == 0) {
        const chat_msg *m = &msgs[0];
        if (m->kind == CHAT_CONTENT_STRING) {
            prefix = m->content ? m->content : "";
            prefix_len = m->content ? m->content_len : 0;
        } else if (m->kind == CHAT_CONTENT_PARTS && m->n_parts > 0) {
            /* messages[0]['content'][0]['text'], whatever the item's type */
            if (!m->parts[0].text) {
                medge_buf_free(&b);
                return medge_err(MEDGE_ERR_INVALID_ARG, "chat template: the system message's first item has no text");
            }
            prefix = m->parts[0].text;
            prefix_len = m->parts[0].len;
        } else {
            medge_buf_free(&b);
            return medge_err(MEDGE_ERR_INVALID_ARG, "chat template: the system message has no text");
        }
        first = 1;
    }
    for (size_t i = first; i < n; i++) {
        const chat_msg *m = &msgs[i];
        size_t idx = i - first;
        bool is_user = m->role && strcmp(m->role, "user") == 0;
        if (is_user != (idx % 2 == 0)) {
            medge_buf_free(&b);
            return medge_err(MEDGE_ERR_INVALID_ARG, "%s", CHAT_ERR_ALTERNATE);
        }
        const char *role = !m->role ? "" : strcmp(m->role, "assistant") == 0 ? "model" : m->role;
        medge_buf_puts(&b, "<start_of_turn>");
        medge_buf_puts(&b, role);
        medge_buf_puts(&b, "\n");
        if (idx == 0 && prefix) {
            medge_buf_append(&b, prefix, prefix_len);
            medge_buf_puts(&b, "\n\n");
        }
        switch (m->kind) {
        case CHAT_CONTENT_STRING:
            put_trimmed(&b, m->content, m->content_len);
            break;
        case CHAT_CONTENT_PARTS:
            for (size_t k = 0; k < m->n_parts; k++) {
                if (m->parts[k].type == CHAT_PART_IMAGE)
                    medge_buf_puts(&b, "<start_of_image>");
                else if (m->parts[k].type == CHAT_PART_TEXT)
                    put_trimmed(&b, m->parts[k].text, m->parts[k].len);
            }
            break;
        case CHAT_CONTENT_MAPPING:
            break;
        default:
            medge_buf_free(&b);
            return medge_err(MEDGE_ERR_INVALID_ARG, "%s", CHAT_ERR_CONTENT);
        }
        medge_buf_puts(&b, "<end_of_turn>\n");
    }
    if (add_generation_prompt)
        medge_buf_puts(&b, "<start_of_turn>model\n");
    if (b.oom) {
        medge_buf_free(&b);
        return medge_err(MEDGE_ERR_NOMEM, "out of memory rendering the chat template");
    }
    if (!b.data) {
        b.data = calloc(1, 1);
        if (!b.data)
            return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    }
    *out = b.data;
    if (out_len)
        *out_len = b.len;
    return MEDGE_OK;
}

medge_status chat_render_gemma3_json(const json_value *messages, bool add_generation_prompt, const char *bos_text,
                                     char **out, size_t *out_len)
{
    *out = NULL;
    if (!messages || messages->type != JSON_ARRAY)
        return medge_err(MEDGE_ERR_INVALID_ARG, "chat template: messages must be a JSON array");
    size_t n = messages->len, nparts = 0;
    for (size_t i = 0; i < n; i++) {
        const json_value *c = json_get(&messages->items[i], "content");
        if (c && c->type == JSON_ARRAY)
            nparts += c->len;
    }
    chat_msg *msgs = calloc(n ? n : 1, sizeof *msgs);
    chat_part *parts = calloc(nparts ? nparts : 1, sizeof *parts);
    if (!msgs || !parts) {
        free(msgs);
        free(parts);
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    }
    size_t p = 0;
    for (size_t i = 0; i < n; i++) {
        const json_value *m = &messages->items[i];
        chat_msg *cm = &msgs[i];
        const json_value *role = json_get(m, "role");
        cm->role = role && role->type == JSON_STRING ? role->s : NULL;
        const json_value *c = json_get(m, "content");
        if (!c || c->type == JSON_NULL || c->type == JSON_NUMBER || c->type == JSON_BOOL) {
            cm->kind = CHAT_CONTENT_NULL;
        } else if (c->type == JSON_STRING) {
            cm->kind = CHAT_CONTENT_STRING;
            cm->content = c->s;
            cm->content_len = c->len;
        } else if (c->type == JSON_OBJECT) {
            cm->kind = CHAT_CONTENT_MAPPING;
        } else {
            cm->kind = CHAT_CONTENT_PARTS;
            cm->parts = parts + p;
            cm->n_parts = c->len;
            for (size_t k = 0; k < c->len; k++) {
                chat_part *cp = &parts[p++];
                const char *type = json_get_str(&c->items[k], "type");
                const json_value *text = json_get(&c->items[k], "text");
                cp->type = !type ? CHAT_PART_OTHER : strcmp(type, "image") == 0 ? CHAT_PART_IMAGE
                                                  : strcmp(type, "text") == 0  ? CHAT_PART_TEXT
                                                                               : CHAT_PART_OTHER;
                if (text && text->type == JSON_STRING) {
                    cp->text = text->s;
                    cp->len = text->len;
                }
            }
        }
    }
    medge_status rc = chat_render_gemma3(msgs, n, add_generation_prompt, bos_text, out, out_len);
    free(msgs);
    free(parts);
    return rc;
}
