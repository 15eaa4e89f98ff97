/* jsonfsm.c - see jsonfsm.h. One function steps one byte; phases follow the grammar
 *   ws '{' ws ( '"key"' ws ':' ws VALUE ws (',' ws | '}') )* with VALUE per field kind. */
#include "runtime/jsonfsm.h"

#include <string.h>

enum {
    PH_OPEN,        /* before '{' */
    PH_KEY,         /* the literal "key" (pos -1: before its quote, else bytes of the key matched) */
    PH_COLON,       /* before ':' */
    PH_VALUE,       /* before the value's first byte */
    PH_ENUM,        /* inside an enum string */
    PH_STR,         /* inside a free string */
    PH_ARR_ITEM,    /* after '[' or ',' inside an array: expecting '"' (or ']' when allowed) */
    PH_ARR_NEXT,    /* after an array item: expecting ',' or ']' */
    PH_AFTER_VALUE, /* expecting ',' or '}' */
    PH_DONE
};

void jf_init(jf_state *s, const jf_schema *schema)
{
    memset(s, 0, sizeof *s);
    s->schema = schema;
    s->phase = PH_OPEN;
}

bool jf_done(const jf_state *s) { return s->phase == PH_DONE; }

static bool ws_step(jf_state *s, char c)
{
    if (!(c == ' ' || c == '\n' || c == '\t' || c == '\r') || s->ws >= JF_MAX_WS)
        return false;
    s->ws++;
    return true;
}

static const jf_field *cur(const jf_state *s) { return &s->schema->fields[s->field]; }

static void to_phase(jf_state *s, int phase)
{
    s->phase = (uint8_t)phase;
    s->ws = 0;
}

/* Bytes allowed inside free strings: printable UTF-8, no quote, backslash or control bytes.
 * Multi-byte sequences are checked for shape so a string never ends inside a character. */
static bool str_byte(jf_state *s, unsigned char c)
{
    if (s->utf8_left) {
        if ((c & 0xC0) != 0x80)
            return false;
        s->utf8_left--;
        return true;
    }
    if (c < 0x20 || c == '"' || c == '\\' || c == 0x7f)
        return false;
    if (c < 0x80)
        return true;
    if (c >= 0xC2 && c <= 0xDF)
        s->utf8_left = 1;
    else if (c >= 0xE0 && c <= 0xEF)
        s->utf8_left = 2;
    else if (c >= 0xF0 && c <= 0xF4)
        s->utf8_left = 3;
    else
        return false;
    return true;
}

static void open_string(jf_state *s, int phase)
{
    to_phase(s, phase);
    s->pos = 0;
    s->utf8_left = 0;
}

static bool step(jf_state *s, unsigned char c)
{
    const jf_field *f;
    switch (s->phase) {
    case PH_OPEN:
        if (c != '{')
            return ws_step(s, (char)c);
        if (s->schema->n_fields == 0) {
            to_phase(s, PH_AFTER_VALUE);
            s->field = -1;
        } else {
            to_phase(s, PH_KEY);
            s->pos = -1;
        }
        return true;
    case PH_KEY:
        f = cur(s);
        if (s->pos == -1) {
            if (c != '"')
                return ws_step(s, (char)c);
            s->pos = 0;
            return true;
        }
        if ((size_t)s->pos < strlen(f->key)) {
            if (c != (unsigned char)f->key[s->pos])
                return false;
            s->pos++;
            return true;
        }
        if (c != '"')
            return false;
        to_phase(s, PH_COLON);
        return true;
    case PH_COLON:
        if (c != ':')
            return ws_step(s, (char)c);
        to_phase(s, PH_VALUE);
        return true;
    case PH_VALUE:
        f = cur(s);
        if (f->kind == JF_STRING_ARRAY) {
            if (c != '[')
                return ws_step(s, (char)c);
            to_phase(s, PH_ARR_ITEM);
            s->items = 0;
            return true;
        }
        if (c != '"')
            return ws_step(s, (char)c);
        if (f->kind == JF_ENUM) {
            open_string(s, PH_ENUM);
            s->cand = f->n_options >= 32 ? 0xffffffffu : ((1u << f->n_options) - 1);
        } else {
            open_string(s, PH_STR);
        }
        return true;
    case PH_ENUM: {
        f = cur(s);
        uint32_t nc = 0;
        for (int i = 0; i < f->n_options && i < 32; i++) {
            if (!(s->cand >> i & 1))
                continue;
            int len = (int)strlen(f->options[i]);
            if (c == '"' && len == s->pos) {
                to_phase(s, PH_AFTER_VALUE);
                return true;
            }
            if (len > s->pos && (unsigned char)f->options[i][s->pos] == c)
                nc |= 1u << i;
        }
        if (!nc)
            return false;
        s->cand = nc;
        s->pos++;
        return true;
    }
    case PH_STR:
        f = cur(s);
        if (c == '"' && !s->utf8_left) {
            if (s->pos == 0)
                return false; /* no empty strings */
            if (f->kind == JF_STRING_ARRAY) {
                s->items++;
                to_phase(s, PH_ARR_NEXT);
            } else {
                to_phase(s, PH_AFTER_VALUE);
            }
            return true;
        }
        if (s->pos >= f->max_len && !s->utf8_left)
            return false;
        if (!str_byte(s, c))
            return false;
        s->pos++;
        return true;
    case PH_ARR_ITEM:
        f = cur(s);
        if (c == '"' && s->items < f->max_items) {
            open_string(s, PH_STR);
            return true;
        }
        if (c == ']' && s->items == 0 && f->min_items == 0) {
            to_phase(s, PH_AFTER_VALUE);
            return true;
        }
        return ws_step(s, (char)c);
    case PH_ARR_NEXT:
        f = cur(s);
        if (c == ',' && s->items < f->max_items) {
            to_phase(s, PH_ARR_ITEM);
            return true;
        }
        if (c == ']' && s->items >= f->min_items) {
            to_phase(s, PH_AFTER_VALUE);
            return true;
        }
        return ws_step(s, (char)c);
    case PH_AFTER_VALUE:
        if (c == ',' && s->field + 1 < s->schema->n_fields) {
            s->field++;
            to_phase(s, PH_KEY);
            s->pos = -1;
            return true;
        }
        if (c == '}' && s->field + 1 >= s->schema->n_fields) {
            to_phase(s, PH_DONE);
            return true;
        }
        return ws_step(s, (char)c);
    default:
        return false;
    }
}

bool jf_feed(jf_state *s, const char *bytes, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!step(s, (unsigned char)bytes[i]))
            return false;
    return true;
}
