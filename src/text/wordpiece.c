/* wordpiece.c - BERT WordPiece (uncased) as Hugging Face's BertTokenizer, for BiomedCLIP's text
 * tower. The text is normalised chunk by chunk (a chunk = a run of non-whitespace after
 * cleaning): whitespace is neither cased nor case-ignorable and is a starter for NFD, so neither
 * the Final_Sigma context nor canonical reordering crosses it, and memory stays proportional to
 * the longest chunk. */
#include "text/wordpiece.h"
#include "core/file.h"
#include "text/strtab.h"
#include "text/unicode.h"

#include <stdlib.h>
#include <string.h>

struct wp_vocab {
    strtab t;
    wp_special sp;
};

static medge_status finish_load(wp_vocab *v)
{
    v->sp.pad = strtab_find(&v->t, "[PAD]", 5);
    v->sp.unk = strtab_find(&v->t, "[UNK]", 5);
    v->sp.cls = strtab_find(&v->t, "[CLS]", 5);
    v->sp.sep = strtab_find(&v->t, "[SEP]", 5);
    v->sp.mask = strtab_find(&v->t, "[MASK]", 6);
    if (v->sp.unk < 0 || v->sp.cls < 0 || v->sp.sep < 0)
        return medge_err(MEDGE_ERR_FORMAT, "WordPiece vocabulary of %u tokens lacks [UNK], [CLS] or [SEP]", v->t.n);
    return MEDGE_OK;
}

medge_status wp_vocab_from_tokens(const char *const *tokens, const size_t *lens, size_t n, wp_vocab **out)
{
    *out = NULL;
    wp_vocab *v = calloc(1, sizeof *v);
    if (!v)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    medge_status rc = strtab_build(&v->t, tokens, lens, n, true);
    if (rc == MEDGE_OK)
        rc = finish_load(v);
    if (rc != MEDGE_OK) {
        wp_free(v);
        return rc;
    }
    *out = v;
    return MEDGE_OK;
}

medge_status wp_load_file(const char *path, wp_vocab **out)
{
    *out = NULL;
    medge_map m;
    MEDGE_TRY(medge_read_file(path, &m));
    const char *s = (const char *)m.data;
    size_t size = (size_t)m.size, n = 0;
    for (size_t i = 0; i < size; i++)
        n += s[i] == '\n';
    if (size && s[size - 1] != '\n')
        n++;
    const char **toks = malloc((n ? n : 1) * sizeof *toks);
    size_t *lens = malloc((n ? n : 1) * sizeof *lens);
    medge_status rc = MEDGE_OK;
    if (!toks || !lens) {
        rc = medge_err(MEDGE_ERR_NOMEM, "out of memory reading %s", path);
    } else {
        size_t k = 0, start = 0;
        for (size_t i = 0; i <= size && k < n; i++) {
            if (i == size || s[i] == '\n') {
                size_t l = i - start;
                if (l && s[start + l - 1] == '\r')
                    l--;
                toks[k] = s + start;
                lens[k] = l;
                k++;
                start = i + 1;
            }
        }
        rc = wp_vocab_from_tokens(toks, lens, n, out);
        if (rc != MEDGE_OK)
            medge_err_prefix(rc, "%s", path);
    }
    free(toks);
    free(lens);
    medge_unmap(&m);
    return rc;
}

static void gguf_str_get(void *user, size_t i, const char **s, size_t *len)
{
    const gguf_str *a = (const gguf_str *)user;
    *s = a[i].s;
    *len = (size_t)a[i].len;
}

medge_status wp_load_gguf(const gguf_ctx *g, wp_vocab **out)
{
    *out = NULL;
    const void *data;
    uint64_t n;
    MEDGE_TRY(gguf_get_arr(g, "tokenizer.ggml.tokens", GGUF_STR, &data, &n));
    wp_vocab *v = calloc(1, sizeof *v);
    if (!v)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    medge_status rc = strtab_build_cb(&v->t, gguf_str_get, (void *)data, (size_t)n, true);
    if (rc == MEDGE_OK)
        rc = finish_load(v);
    if (rc != MEDGE_OK) {
        wp_free(v);
        return rc;
    }
    *out = v;
    return MEDGE_OK;
}

void wp_free(wp_vocab *v)
{
    if (!v)
        return;
    strtab_free(&v->t);
    free(v);
}

size_t wp_n_vocab(const wp_vocab *v) { return v->t.n; }
const wp_special *wp_specials(const wp_vocab *v) { return &v->sp; }

const char *wp_token(const wp_vocab *v, int32_t id)
{
    return id >= 0 && (uint32_t)id < v->t.n ? strtab_str(&v->t, (uint32_t)id) : NULL;
}

int32_t wp_find(const wp_vocab *v, const char *s, size_t n) { return strtab_find(&v->t, s, n); }

/* ---- encoding ---- */

typedef struct enc {
    const wp_vocab *v;
    int32_t *ids;
    size_t n, cap, limit; /* limit: most word pieces allowed (without [CLS]/[SEP]) */
    uint32_t *a, *b;      /* scratch code points */
    size_t acap, bcap;
    char *buf;            /* "##" + UTF-8 of one word */
    size_t bufcap;
    bool full;
} enc;

static medge_status grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return MEDGE_OK;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    size_t bytes;
    if (!medge_mul_size(c, elem, &bytes))
        return medge_err(MEDGE_ERR_NOMEM, "text too long");
    void *q = realloc(*p, bytes);
    if (!q)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory tokenizing");
    *p = q;
    *cap = c;
    return MEDGE_OK;
}

static medge_status push(enc *e, int32_t id)
{
    MEDGE_TRY(grow((void **)&e->ids, &e->cap, e->n + 1, sizeof *e->ids));
    e->ids[e->n++] = id;
    return MEDGE_OK;
}

/* One word (no whitespace; a single punctuation character or a run without punctuation). */
static medge_status word(enc *e, const uint32_t *w, size_t m)
{
    if (e->n - 1 >= e->limit) {
        e->full = true;
        return MEDGE_OK;
    }
    if (m > WP_MAX_CHARS_PER_WORD)
        return push(e, e->v->sp.unk);
    uint32_t bo[WP_MAX_CHARS_PER_WORD + 1];
    MEDGE_TRY(grow((void **)&e->buf, &e->bufcap, 2 + 4 * m + 1, 1));
    char *u = e->buf + 2;
    size_t k = 0;
    for (size_t i = 0; i < m; i++) {
        bo[i] = (uint32_t)k;
        k += uni_utf8_encode(w[i], u + k);
    }
    bo[m] = (uint32_t)k;
    size_t first = e->n, start = 0;
    while (start < m) {
        int32_t id = -1;
        size_t end = m;
        for (; end > start; end--) {
            char *s = u + bo[start];
            size_t l = bo[end] - bo[start];
            if (start > 0) {
                /* the two bytes before s belong to pieces already matched: borrow them */
                char save0 = s[-2], save1 = s[-1];
                s[-2] = '#';
                s[-1] = '#';
                id = strtab_find(&e->v->t, s - 2, l + 2);
                s[-2] = save0;
                s[-1] = save1;
            } else {
                id = strtab_find(&e->v->t, s, l);
            }
            if (id >= 0)
                break;
        }
        if (id < 0) {
            e->n = first; /* the whole word becomes [UNK] */
            return push(e, e->v->sp.unk);
        }
        MEDGE_TRY(push(e, id));
        start = end;
    }
    if (e->n - 1 > e->limit) /* the word's pieces overflowed: keep what fits */
        e->n = e->limit + 1;
    return MEDGE_OK;
}

/* A chunk of cleaned, padded code points without whitespace. */
static medge_status chunk(enc *e, const uint32_t *c, size_t m)
{
    MEDGE_TRY(grow((void **)&e->b, &e->bcap, 2 * m * 5, sizeof *e->b));
    uint32_t *low = e->b, *nfd = e->b + 2 * m;
    size_t nl = uni_lower_full(c, m, low);
    size_t nn = uni_nfd(low, nl, nfd);
    size_t k = 0;
    for (size_t i = 0; i < nn; i++)
        if (!(uni_props(nfd[i]) & UNI_MN))
            nfd[k++] = nfd[i];
    size_t start = 0;
    for (size_t i = 0; i <= k && !e->full; i++) {
        unsigned p = i < k ? uni_props(nfd[i]) : UNI_SPACE;
        if (p & (UNI_SPACE | UNI_PUNCT)) {
            if (i > start)
                MEDGE_TRY(word(e, nfd + start, i - start));
            if ((p & UNI_PUNCT) && !(p & UNI_SPACE) && !e->full)
                MEDGE_TRY(word(e, nfd + i, 1));
            start = i + 1;
        }
    }
    return MEDGE_OK;
}

/* A span of text between special tokens. */
static medge_status segment(enc *e, const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n && !e->full) {
        /* gather one whitespace-free chunk after cleaning and CJK padding */
        size_t m = 0;
        while (i < n) {
            uint32_t cp;
            bool ok;
            size_t l = uni_utf8_decode(s + i, n - i, &cp, &ok);
            if (!ok)
                cp = 0xFFFD;
            unsigned p = uni_props(cp);
            if (cp == 0 || cp == 0xFFFD || (p & UNI_CONTROL)) {
                i += l;
                continue;
            }
            if (p & UNI_SPACE) {
                if (m)
                    break;
                i += l;
                continue;
            }
            if (p & UNI_CJK) {
                if (m)
                    break; /* the ideograph starts a chunk of its own */
                MEDGE_TRY(grow((void **)&e->a, &e->acap, 1, sizeof *e->a));
                e->a[m++] = cp;
                i += l;
                break;
            }
            MEDGE_TRY(grow((void **)&e->a, &e->acap, m + 1, sizeof *e->a));
            e->a[m++] = cp;
            i += l;
        }
        if (m)
            MEDGE_TRY(chunk(e, e->a, m));
    }
    return MEDGE_OK;
}

static const char *const special_strs[5] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};

static int32_t special_id(const wp_vocab *v, int k)
{
    const int32_t ids[5] = {v->sp.pad, v->sp.unk, v->sp.cls, v->sp.sep, v->sp.mask};
    return ids[k];
}

medge_status wp_encode(const wp_vocab *v, const char *text, size_t len, size_t max_len, int32_t **ids, size_t *n)
{
    *ids = NULL;
    *n = 0;
    if (!text && len)
        return medge_err(MEDGE_ERR_INVALID_ARG, "wp_encode: NULL text");
    if (max_len == 1)
        return medge_err(MEDGE_ERR_INVALID_ARG, "wp_encode: max_len 1 leaves no room for [CLS] and [SEP]");
    enc e = {0};
    e.v = v;
    e.limit = max_len ? max_len - 2 : SIZE_MAX - 2;
    const uint8_t *s = (const uint8_t *)text;
    medge_status rc = push(&e, v->sp.cls);
    size_t pos = 0;
    while (rc == MEDGE_OK && pos < len && !e.full) {
        /* leftmost-longest special-token string */
        size_t ms = len, ml = 0;
        int32_t mid = -1;
        const uint8_t *q = s + pos;
        while ((q = memchr(q, '[', len - (size_t)(q - s))) != NULL) {
            size_t at = (size_t)(q - s);
            for (int k = 0; k < 5; k++) {
                size_t l = strlen(special_strs[k]);
                int32_t id = special_id(v, k);
                if (id >= 0 && l > ml && at + l <= len && memcmp(q, special_strs[k], l) == 0) {
                    ms = at;
                    ml = l;
                    mid = id;
                }
            }
            if (mid >= 0)
                break;
            q++;
        }
        rc = segment(&e, s + pos, ms - pos);
        if (rc == MEDGE_OK && mid >= 0 && !e.full) {
            if (e.n - 1 >= e.limit)
                e.full = true;
            else
                rc = push(&e, mid);
        }
        pos = ms + ml;
    }
    if (rc == MEDGE_OK)
        rc = push(&e, v->sp.sep);
    free(e.a);
    free(e.b);
    free(e.buf);
    if (rc != MEDGE_OK) {
        free(e.ids);
        return rc;
    }
    *ids = e.ids;
    *n = e.n;
    return MEDGE_OK;
}
