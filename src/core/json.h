/* json.h - a small JSON reader (RFC 8259, UTF-8; documents up to hundreds of MB such as
 * tokenizer.json) into an arena-backed tree, and a growable text buffer with JSON escaping for
 * writers. Object member order is kept. Strings are unescaped and NUL-terminated (they may
 * also contain NUL from \u0000: use len). */
#ifndef MEDGE_CORE_JSON_H
#define MEDGE_CORE_JSON_H
#include "core/error.h"
#include <stdbool.h>

typedef enum json_type { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } json_type;

typedef struct json_value json_value;
typedef struct json_member json_member;
struct json_value {
    json_type type;
    bool b;
    bool is_int;   /* number written without fraction/exponent and fits in int64 */
    int64_t i;     /* when is_int */
    double num;    /* every number */
    const char *s; /* string (NUL-terminated) */
    size_t len;    /* string length in bytes, or number of items/members */
    json_value *items;    /* array items[len] */
    json_member *members; /* object members[len] */
};
struct json_member {
    const char *key;
    size_t key_len;
    json_value value;
};

typedef struct json_doc json_doc;

/* Parse text[0..n). On error returns MEDGE_ERR_FORMAT with "line L col C: reason". */
medge_status json_parse(const char *text, size_t n, json_doc **out);
/* Parse a file (reads it whole); errors are prefixed with the path. */
medge_status json_parse_file(const char *path, json_doc **out);
const json_value *json_root(const json_doc *d);
void json_free(json_doc *d);

/* Object member by key (linear; first match), NULL if absent or v is not an object. */
const json_value *json_get(const json_value *v, const char *key);
/* Typed getters for optional object members: return false when absent or of another type. */
bool json_get_int(const json_value *obj, const char *key, int64_t *out);
bool json_get_num(const json_value *obj, const char *key, double *out);
bool json_get_bool(const json_value *obj, const char *key, bool *out);
const char *json_get_str(const json_value *obj, const char *key); /* NULL if absent */

/* Growable byte buffer (always NUL-terminated). */
typedef struct medge_buf {
    char *data;
    size_t len, cap;
    bool oom; /* set when an append failed: callers check once at the end */
} medge_buf;

void medge_buf_append(medge_buf *b, const void *s, size_t n);
void medge_buf_puts(medge_buf *b, const char *s);
void medge_buf_printf(medge_buf *b, const char *fmt, ...) MEDGE_PRINTF(2, 3);
/* Append s[0..n) as a quoted JSON string. */
void medge_buf_json_str(medge_buf *b, const char *s, size_t n);
/* Append a float the way JSON wants it (shortest round-trip form; NaN/Inf as null). */
void medge_buf_json_num(medge_buf *b, double v);
void medge_buf_free(medge_buf *b);
#endif
