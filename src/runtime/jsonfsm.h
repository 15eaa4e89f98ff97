/* jsonfsm.h - a byte-level automaton that accepts exactly the JSON objects of a small fixed
 * schema (keys in a fixed order; values: one of a set of strings, a free string, or an array of
 * free strings), with bounded whitespace and lengths. Used for constrained decoding: a token is
 * allowed when all of its bytes are accepted from the current state, so the output is always
 * valid, complete JSON of the schema. The state is a small value type: copy it to try a token. */
#ifndef MEDGE_RUNTIME_JSONFSM_H
#define MEDGE_RUNTIME_JSONFSM_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum jf_kind { JF_ENUM, JF_STRING, JF_STRING_ARRAY } jf_kind;

typedef struct jf_field {
    const char *key;
    jf_kind kind;
    const char *const *options; /* JF_ENUM: allowed values (at most 32) */
    int n_options;
    int max_len;   /* JF_STRING / array items: max bytes of one string (>= 1) */
    int min_items; /* JF_STRING_ARRAY */
    int max_items; /* JF_STRING_ARRAY */
} jf_field;

typedef struct jf_schema {
    const jf_field *fields;
    int n_fields;
} jf_schema;

typedef struct jf_state {
    const jf_schema *schema;
    int16_t field;     /* current field index */
    uint8_t phase;     /* internal phase */
    uint8_t ws;        /* consecutive whitespace bytes at the current point */
    int32_t pos;       /* position in a literal / length of the current string */
    int32_t items;     /* items in the current array */
    uint32_t cand;     /* JF_ENUM: options still matching */
    uint8_t utf8_left; /* continuation bytes still expected inside a string */
} jf_state;

#define JF_MAX_WS 4 /* at most this many whitespace bytes in a row between tokens of the JSON */

void jf_init(jf_state *s, const jf_schema *schema);
/* Advance by n bytes; false (state undefined: work on a copy) when any byte is rejected. */
bool jf_feed(jf_state *s, const char *bytes, size_t n);
/* True when a complete object has been read. */
bool jf_done(const jf_state *s);
#endif
