/* fuzz-json.c - libFuzzer target for the JSON reader: parse, walk the whole tree (strings up to
 * their length and terminator, member lookups), write it back out and parse that again: the
 * second parse must succeed and give the same shape. */
#include "core/json.h"

#include <string.h>

static unsigned walk(const json_value *v, medge_buf *out, int depth)
{
    unsigned h = v->type;
    switch (v->type) {
    case JSON_NULL: medge_buf_puts(out, "null"); break;
    case JSON_BOOL: medge_buf_puts(out, v->b ? "true" : "false"); break;
    case JSON_NUMBER:
        if (v->is_int)
            medge_buf_printf(out, "%lld", (long long)v->i);
        else
            medge_buf_json_num(out, v->num);
        break;
    case JSON_STRING:
        h += (unsigned char)v->s[v->len]; /* the terminator */
        medge_buf_json_str(out, v->s, v->len);
        break;
    case JSON_ARRAY:
        medge_buf_puts(out, "[");
        for (size_t i = 0; i < v->len; i++) {
            if (i)
                medge_buf_puts(out, ",");
            h += walk(&v->items[i], out, depth + 1);
        }
        medge_buf_puts(out, "]");
        break;
    case JSON_OBJECT:
        medge_buf_puts(out, "{");
        for (size_t i = 0; i < v->len; i++) {
            if (i)
                medge_buf_puts(out, ",");
            medge_buf_json_str(out, v->members[i].key, v->members[i].key_len);
            medge_buf_puts(out, ":");
            if (json_get(v, v->members[i].key) == NULL)
                __builtin_trap();
            h += walk(&v->members[i].value, out, depth + 1);
        }
        medge_buf_puts(out, "}");
        break;
    }
    return h;
}

static size_t count(const json_value *v)
{
    size_t n = 1;
    if (v->type == JSON_ARRAY)
        for (size_t i = 0; i < v->len; i++)
            n += count(&v->items[i]);
    if (v->type == JSON_OBJECT)
        for (size_t i = 0; i < v->len; i++)
            n += count(&v->members[i].value);
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_doc *d = NULL;
    if (json_parse((const char *)data, size, &d) != MEDGE_OK)
        return 0;
    medge_buf out = {0};
    volatile unsigned sink = walk(json_root(d), &out, 0);
    (void)sink;
    if (!out.oom) {
        json_doc *d2 = NULL;
        if (json_parse(out.data, out.len, &d2) != MEDGE_OK || count(json_root(d2)) != count(json_root(d)))
            __builtin_trap();
        json_free(d2);
    }
    medge_buf_free(&out);
    json_free(d);
    return 0;
}
