/* json.c - recursive-descent JSON parser with a depth limit, children collected on a shared
 * stack and copied into an arena when their container closes (no per-node malloc). */
#include "core/json.h"
#include "core/file.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_MAX_DEPTH 256

typedef struct arena_block {
    struct arena_block *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
} arena_block;

struct json_doc {
    arena_block *blocks;
    size_t block_size; /* capacity of the next block: small documents get small blocks */
    json_value root;
};

typedef struct parser {
    const char *p, *start, *end;
    json_doc *doc;
    json_member *stack; /* children of open containers (arrays use .value only) */
    size_t sp, scap;
    medge_status rc;
} parser;

static void *arena_alloc(json_doc *d, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    arena_block *b = d->blocks;
    if (!b || b->cap - b->used < n) {
        size_t cap = d->block_size ? d->block_size : (1u << 20);
        if (cap < n)
            cap = n;
        d->block_size = 1u << 20;
        b = malloc(sizeof *b + cap);
        if (!b)
            return NULL;
        b->cap = cap;
        b->used = 0;
        b->next = d->blocks;
        d->blocks = b;
    }
    void *r = b->data + b->used;
    b->used += n;
    return r;
}

static medge_status perr(parser *ps, const char *what)
{
    if (ps->rc != MEDGE_OK)
        return ps->rc;
    size_t line = 1, col = 1;
    for (const char *q = ps->start; q < ps->p && q < ps->end; q++) {
        if (*q == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    ps->rc = medge_err(MEDGE_ERR_FORMAT, "JSON line %zu col %zu: %s", line, col, what);
    return ps->rc;
}

static void skip_ws(parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static int hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return 0;
    }
    *out = v;
    return 1;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xC0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 63)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12)); o[1] = (char)(0x80 | ((cp >> 6) & 63)); o[2] = (char)(0x80 | (cp & 63));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18)); o[1] = (char)(0x80 | ((cp >> 12) & 63));
    o[2] = (char)(0x80 | ((cp >> 6) & 63)); o[3] = (char)(0x80 | (cp & 63));
    return 4;
}

/* ps->p at the opening quote. */
static medge_status parse_string(parser *ps, const char **out, size_t *out_len)
{
    const char *q = ++ps->p;
    size_t raw = 0;
    int has_esc = 0;
    while (q < ps->end && *q != '"') {
        if ((unsigned char)*q < 0x20) {
            ps->p = q;
            return perr(ps, "control character in string");
        }
        if (*q == '\\') {
            has_esc = 1;
            q++;
            if (q >= ps->end)
                break;
        }
        q++;
        raw++;
    }
    if (q >= ps->end) {
        ps->p = q;
        return perr(ps, "unterminated string");
    }
    size_t span = (size_t)(q - ps->p);
    char *s = arena_alloc(ps->doc, span + 1);
    if (!s)
        return ps->rc = medge_err(MEDGE_ERR_NOMEM, "out of memory parsing JSON");
    if (!has_esc) {
        memcpy(s, ps->p, span);
        s[span] = 0;
        *out = s;
        *out_len = span;
        ps->p = q + 1;
        return MEDGE_OK;
    }
    size_t n = 0;
    const char *p = ps->p;
    while (p < q) {
        if (*p != '\\') {
            s[n++] = *p++;
            continue;
        }
        p++;
        char c = *p++;
        switch (c) {
        case '"': s[n++] = '"'; break;
        case '\\': s[n++] = '\\'; break;
        case '/': s[n++] = '/'; break;
        case 'b': s[n++] = '\b'; break;
        case 'f': s[n++] = '\f'; break;
        case 'n': s[n++] = '\n'; break;
        case 'r': s[n++] = '\r'; break;
        case 't': s[n++] = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (q - p < 4 || !hex4(p, &cp)) {
                ps->p = p;
                return perr(ps, "bad \\u escape");
            }
            p += 4;
            if (cp >= 0xD800 && cp < 0xDC00) {
                if (q - p >= 6 && p[0] == '\\' && p[1] == 'u' && hex4(p + 2, &lo) && lo >= 0xDC00 && lo < 0xE000) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    p += 6;
                } else {
                    cp = 0xFFFD; /* lone surrogate */
                }
            } else if (cp >= 0xDC00 && cp < 0xE000) {
                cp = 0xFFFD;
            }
            n += put_utf8(s + n, cp); /* an escape is >= 6 bytes, its UTF-8 at most 4: fits */
            break;
        }
        default:
            ps->p = p - 1;
            return perr(ps, "bad escape");
        }
    }
    s[n] = 0;
    *out = s;
    *out_len = n;
    ps->p = q + 1;
    (void)raw;
    return MEDGE_OK;
}

static medge_status push(parser *ps, json_member **m)
{
    if (ps->sp == ps->scap) {
        size_t nc = ps->scap ? ps->scap * 2 : 256;
        json_member *ns = realloc(ps->stack, nc * sizeof *ns);
        if (!ns)
            return ps->rc = medge_err(MEDGE_ERR_NOMEM, "out of memory parsing JSON");
        ps->stack = ns;
        ps->scap = nc;
    }
    *m = &ps->stack[ps->sp++];
    memset(*m, 0, sizeof **m);
    return MEDGE_OK;
}

static medge_status parse_value(parser *ps, json_value *v, int depth);

static medge_status parse_number(parser *ps, json_value *v)
{
    const char *p = ps->p;
    int is_int = 1;
    if (p < ps->end && *p == '-') p++;
    if (p >= ps->end || !(*p >= '0' && *p <= '9'))
        return perr(ps, "invalid number");
    if (*p == '0') p++;
    else while (p < ps->end && *p >= '0' && *p <= '9') p++;
    if (p < ps->end && *p == '.') {
        is_int = 0;
        p++;
        if (p >= ps->end || !(*p >= '0' && *p <= '9')) { ps->p = p; return perr(ps, "invalid number"); }
        while (p < ps->end && *p >= '0' && *p <= '9') p++;
    }
    if (p < ps->end && (*p == 'e' || *p == 'E')) {
        is_int = 0;
        p++;
        if (p < ps->end && (*p == '+' || *p == '-')) p++;
        if (p >= ps->end || !(*p >= '0' && *p <= '9')) { ps->p = p; return perr(ps, "invalid number"); }
        while (p < ps->end && *p >= '0' && *p <= '9') p++;
    }
    char tmp[64];
    size_t len = (size_t)(p - ps->p);
    char *heap = NULL, *buf = tmp;
    if (len >= sizeof tmp) {
        heap = malloc(len + 1);
        if (!heap) return ps->rc = medge_err(MEDGE_ERR_NOMEM, "out of memory parsing JSON");
        buf = heap;
    }
    memcpy(buf, ps->p, len);
    buf[len] = 0;
    v->type = JSON_NUMBER;
    v->num = strtod(buf, NULL);
    if (is_int) {
        char *e;
        errno = 0;
        long long ll = strtoll(buf, &e, 10);
        if (errno == 0 && *e == 0) {
            v->is_int = 1;
            v->i = ll;
        }
    }
    free(heap);
    ps->p = p;
    return MEDGE_OK;
}

static medge_status parse_container(parser *ps, json_value *v, int depth, int is_obj)
{
    ps->p++;
    size_t base = ps->sp;
    skip_ws(ps);
    char close = is_obj ? '}' : ']';
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
    } else {
        for (;;) {
            json_member *m = NULL;
            const char *key = NULL;
            size_t klen = 0;
            skip_ws(ps);
            if (is_obj) {
                if (ps->p >= ps->end || *ps->p != '"')
                    return perr(ps, "expected a string key");
                MEDGE_TRY(parse_string(ps, &key, &klen));
                skip_ws(ps);
                if (ps->p >= ps->end || *ps->p != ':')
                    return perr(ps, "expected ':'");
                ps->p++;
            }
            json_value child;
            memset(&child, 0, sizeof child);
            MEDGE_TRY(parse_value(ps, &child, depth + 1));
            MEDGE_TRY(push(ps, &m));
            m->key = key;
            m->key_len = klen;
            m->value = child;
            skip_ws(ps);
            if (ps->p < ps->end && *ps->p == ',') {
                ps->p++;
                continue;
            }
            if (ps->p < ps->end && *ps->p == close) {
                ps->p++;
                break;
            }
            return perr(ps, is_obj ? "expected ',' or '}'" : "expected ',' or ']'");
        }
    }
    size_t n = ps->sp - base;
    v->len = n;
    if (is_obj) {
        v->type = JSON_OBJECT;
        if (n) {
            v->members = arena_alloc(ps->doc, n * sizeof *v->members);
            if (!v->members) return ps->rc = medge_err(MEDGE_ERR_NOMEM, "out of memory parsing JSON");
            memcpy(v->members, ps->stack + base, n * sizeof *v->members);
        }
    } else {
        v->type = JSON_ARRAY;
        if (n) {
            v->items = arena_alloc(ps->doc, n * sizeof *v->items);
            if (!v->items) return ps->rc = medge_err(MEDGE_ERR_NOMEM, "out of memory parsing JSON");
            for (size_t i = 0; i < n; i++)
                v->items[i] = ps->stack[base + i].value;
        }
    }
    ps->sp = base;
    return MEDGE_OK;
}

static int lit(parser *ps, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(ps->end - ps->p) >= n && memcmp(ps->p, w, n) == 0) {
        ps->p += n;
        return 1;
    }
    return 0;
}

static medge_status parse_value(parser *ps, json_value *v, int depth)
{
    if (depth > JSON_MAX_DEPTH)
        return perr(ps, "nesting too deep");
    skip_ws(ps);
    if (ps->p >= ps->end)
        return perr(ps, "unexpected end of input");
    switch (*ps->p) {
    case '{': return parse_container(ps, v, depth, 1);
    case '[': return parse_container(ps, v, depth, 0);
    case '"':
        v->type = JSON_STRING;
        return parse_string(ps, &v->s, &v->len);
    case 't': if (lit(ps, "true")) { v->type = JSON_BOOL; v->b = 1; return MEDGE_OK; } break;
    case 'f': if (lit(ps, "false")) { v->type = JSON_BOOL; v->b = 0; return MEDGE_OK; } break;
    case 'n': if (lit(ps, "null")) { v->type = JSON_NULL; return MEDGE_OK; } break;
    default:
        if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9'))
            return parse_number(ps, v);
    }
    return perr(ps, "unexpected character");
}

void json_free(json_doc *d)
{
    if (!d)
        return;
    arena_block *b = d->blocks;
    while (b) {
        arena_block *n = b->next;
        free(b);
        b = n;
    }
    free(d);
}

medge_status json_parse(const char *text, size_t n, json_doc **out)
{
    *out = NULL;
    json_doc *d = calloc(1, sizeof *d);
    if (!d)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory parsing JSON");
    /* The tree takes a few times the text; start with a block of that size, then 1 MB blocks. */
    d->block_size = n < (1u << 17) ? 4096 + 8 * n : (1u << 20);
    parser ps = {.p = text, .start = text, .end = text + n, .doc = d, .rc = MEDGE_OK};
    if (n >= 3 && (unsigned char)text[0] == 0xEF && (unsigned char)text[1] == 0xBB && (unsigned char)text[2] == 0xBF)
        ps.p += 3;
    medge_status rc = parse_value(&ps, &d->root, 0);
    if (rc == MEDGE_OK) {
        skip_ws(&ps);
        if (ps.p != ps.end)
            rc = perr(&ps, "trailing characters after the value");
    }
    free(ps.stack);
    if (rc != MEDGE_OK) {
        json_free(d);
        return rc;
    }
    *out = d;
    return MEDGE_OK;
}

medge_status json_parse_file(const char *path, json_doc **out)
{
    medge_map m;
    *out = NULL;
    MEDGE_TRY(medge_read_file(path, &m));
    medge_status rc = json_parse((const char *)m.data, (size_t)m.size, out);
    medge_unmap(&m);
    if (rc != MEDGE_OK)
        return medge_err_prefix(rc, "%s", path);
    return MEDGE_OK;
}

const json_value *json_root(const json_doc *d) { return &d->root; }

const json_value *json_get(const json_value *v, const char *key)
{
    if (!v || v->type != JSON_OBJECT)
        return NULL;
    size_t kl = strlen(key);
    for (size_t i = 0; i < v->len; i++)
        if (v->members[i].key_len == kl && memcmp(v->members[i].key, key, kl) == 0)
            return &v->members[i].value;
    return NULL;
}

bool json_get_int(const json_value *obj, const char *key, int64_t *out)
{
    const json_value *v = json_get(obj, key);
    if (!v || v->type != JSON_NUMBER || !v->is_int)
        return false;
    *out = v->i;
    return true;
}

bool json_get_num(const json_value *obj, const char *key, double *out)
{
    const json_value *v = json_get(obj, key);
    if (!v || v->type != JSON_NUMBER)
        return false;
    *out = v->num;
    return true;
}

bool json_get_bool(const json_value *obj, const char *key, bool *out)
{
    const json_value *v = json_get(obj, key);
    if (!v || v->type != JSON_BOOL)
        return false;
    *out = v->b;
    return true;
}

const char *json_get_str(const json_value *obj, const char *key)
{
    const json_value *v = json_get(obj, key);
    return v && v->type == JSON_STRING ? v->s : NULL;
}

/* ---- buffer ---- */

static int buf_reserve(medge_buf *b, size_t extra)
{
    if (b->oom)
        return 0;
    if (b->len + extra + 1 <= b->cap)
        return 1;
    size_t nc = b->cap ? b->cap : 256;
    while (nc < b->len + extra + 1)
        nc *= 2;
    char *nd = realloc(b->data, nc);
    if (!nd) {
        b->oom = 1;
        return 0;
    }
    b->data = nd;
    b->cap = nc;
    return 1;
}

void medge_buf_append(medge_buf *b, const void *s, size_t n)
{
    if (!buf_reserve(b, n))
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = 0;
}

void medge_buf_puts(medge_buf *b, const char *s) { medge_buf_append(b, s, strlen(s)); }

void medge_buf_printf(medge_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char tmp[256];
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof tmp) {
        medge_buf_append(b, tmp, (size_t)n);
        return;
    }
    if (!buf_reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void medge_buf_json_str(medge_buf *b, const char *s, size_t n)
{
    medge_buf_append(b, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        medge_buf_append(b, s + run, i - run);
        run = i + 1;
        switch (c) {
        case '"': medge_buf_append(b, "\\\"", 2); break;
        case '\\': medge_buf_append(b, "\\\\", 2); break;
        case '\n': medge_buf_append(b, "\\n", 2); break;
        case '\r': medge_buf_append(b, "\\r", 2); break;
        case '\t': medge_buf_append(b, "\\t", 2); break;
        default: medge_buf_printf(b, "\\u%04x", c); break;
        }
    }
    medge_buf_append(b, s + run, n - run);
    medge_buf_append(b, "\"", 1);
}

void medge_buf_json_num(medge_buf *b, double v)
{
    if (!isfinite(v)) {
        medge_buf_puts(b, "null");
        return;
    }
    char tmp[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    medge_buf_puts(b, tmp);
}

void medge_buf_free(medge_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}
