/* mcq.c - see mcq.h. Each line is parsed with the JSON reader and normalised into an mcq_item
 * (question, options in order, 0-based answer); the three dataset layouts differ only in where
 * those three things are. */
#include "runtime/mcq.h"
#include "core/file.h"
#include "core/json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

static const json_value *get_str_v(const json_value *o, const char *k)
{
    const json_value *v = json_get(o, k);
    return v && v->type == JSON_STRING ? v : NULL;
}

static void item_free(mcq_item *it)
{
    free(it->id);
    free(it->question);
    free(it->context);
    for (int i = 0; i < it->n_options; i++)
        free(it->options[i]);
    memset(it, 0, sizeof *it);
}

/* Join a string or an array of strings with blank lines. */
static char *join_context(const json_value *v)
{
    if (!v)
        return NULL;
    if (v->type == JSON_STRING)
        return dup_n(v->s, v->len);
    if (v->type != JSON_ARRAY)
        return NULL;
    medge_buf b = {0};
    for (size_t i = 0; i < v->len; i++)
        if (v->items[i].type == JSON_STRING) {
            if (b.len)
                medge_buf_puts(&b, "\n\n");
            medge_buf_append(&b, v->items[i].s, v->items[i].len);
        }
    if (b.oom || !b.data) {
        medge_buf_free(&b);
        return NULL;
    }
    return b.data;
}

/* "C", "c", "(C)", "C." ... to an index among n options; -1 if it is not one. */
static int letter_index(const char *s, size_t len, int n)
{
    while (len && (*s == ' ' || *s == '(')) {
        s++;
        len--;
    }
    if (len == 0)
        return -1;
    char c = s[0];
    if (c >= 'a' && c <= 'z')
        c = (char)(c - 'a' + 'A');
    int i = c - 'A';
    if (i < 0 || i >= n)
        return -1;
    /* the rest may only be ")" "." or spaces */
    for (size_t k = 1; k < len; k++)
        if (s[k] != ')' && s[k] != '.' && s[k] != ' ')
            return -1;
    return i;
}

static medge_status parse_item(const json_value *o, mcq_item *it, const char *name, int line)
{
#define FAIL(...) return medge_err(MEDGE_ERR_FORMAT, "%s line %d: " __VA_ARGS__)
    if (o->type != JSON_OBJECT)
        FAIL("not a JSON object", name, line);
    it->line = line;
    const json_value *q = get_str_v(o, "question");
    if (!q)
        q = get_str_v(o, "QUESTION");
    if (!q || q->len == 0)
        FAIL("no \"question\"", name, line);
    if (!(it->question = dup_n(q->s, q->len)))
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    const json_value *ctx = json_get(o, "context");
    if (!ctx)
        ctx = json_get(o, "CONTEXTS");
    if (ctx && ctx->type == JSON_OBJECT) /* PubMedQA's original layout: {"contexts": [...]} */
        ctx = json_get(ctx, "contexts");
    it->context = join_context(ctx);

    const json_value *id = json_get(o, "id");
    char idbuf[64];
    if (id && id->type == JSON_STRING)
        it->id = dup_n(id->s, id->len);
    else if (id && id->type == JSON_NUMBER && id->is_int) {
        snprintf(idbuf, sizeof idbuf, "%lld", (long long)id->i);
        it->id = dup_n(idbuf, strlen(idbuf));
    } else {
        snprintf(idbuf, sizeof idbuf, "line %d", line);
        it->id = dup_n(idbuf, strlen(idbuf));
    }
    if (!it->id)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");

    const json_value *opts = json_get(o, "options");
    const json_value *ans = json_get(o, "answer_idx");
    if (!ans)
        ans = json_get(o, "answer");
    if (opts && opts->type == JSON_OBJECT) {
        if (opts->len < 2 || opts->len > MCQ_MAX_OPTIONS)
            FAIL("%zu options (2 to %d are allowed)", name, line, opts->len, MCQ_MAX_OPTIONS);
        for (size_t i = 0; i < opts->len; i++) {
            const json_member *m = &opts->members[i];
            if (m->value.type != JSON_STRING)
                FAIL("option \"%s\" is not a string", name, line, m->key);
            if (letter_index(m->key, m->key_len, (int)opts->len) != (int)i)
                FAIL("options must be keyed A, B, C... in order (found \"%s\" at position %zu)", name, line, m->key, i + 1);
            if (!(it->options[i] = dup_n(m->value.s, m->value.len)))
                return medge_err(MEDGE_ERR_NOMEM, "out of memory");
            it->n_options = (int)i + 1;
        }
    } else if (opts && opts->type == JSON_ARRAY) {
        if (opts->len < 2 || opts->len > MCQ_MAX_OPTIONS)
            FAIL("%zu options (2 to %d are allowed)", name, line, opts->len, MCQ_MAX_OPTIONS);
        for (size_t i = 0; i < opts->len; i++) {
            if (opts->items[i].type != JSON_STRING)
                FAIL("option %zu is not a string", name, line, i + 1);
            if (!(it->options[i] = dup_n(opts->items[i].s, opts->items[i].len)))
                return medge_err(MEDGE_ERR_NOMEM, "out of memory");
            it->n_options = (int)i + 1;
        }
    } else if (get_str_v(o, "opa")) {
        static const char *keys[] = {"opa", "opb", "opc", "opd", "ope"};
        for (int i = 0; i < 5; i++) {
            const json_value *v = get_str_v(o, keys[i]);
            if (!v)
                break;
            if (!(it->options[i] = dup_n(v->s, v->len)))
                return medge_err(MEDGE_ERR_NOMEM, "out of memory");
            it->n_options = i + 1;
        }
        if (it->n_options < 2)
            FAIL("fewer than two options (opa, opb, ...)", name, line);
        ans = json_get(o, "cop");
        if (!ans)
            FAIL("no answer (\"cop\")", name, line);
    } else if (json_get(o, "final_decision") || (ans && ans->type == JSON_STRING && letter_index(ans->s, ans->len, 3) < 0)) {
        static const char *yn[] = {"yes", "no", "maybe"};
        for (int i = 0; i < 3; i++)
            if (!(it->options[i] = dup_n(yn[i], strlen(yn[i]))))
                return medge_err(MEDGE_ERR_NOMEM, "out of memory");
        it->n_options = 3;
        const json_value *d = get_str_v(o, "final_decision");
        if (!d)
            d = ans;
        it->answer = -1;
        for (int i = 0; i < 3; i++)
            if (d && strcasecmp(d->s, yn[i]) == 0)
                it->answer = i;
        if (it->answer < 0)
            FAIL("the answer must be yes, no or maybe", name, line);
        return MEDGE_OK;
    } else {
        FAIL("no options (\"options\", or \"opa\"...\"opd\", or a yes/no/maybe \"final_decision\")", name, line);
    }

    if (!ans || ans->type == JSON_NULL)
        FAIL("no answer (\"answer_idx\", \"answer\" or \"cop\")", name, line);
    it->answer = -1;
    if (ans->type == JSON_NUMBER && ans->is_int) {
        if (ans->i >= 0 && ans->i < it->n_options)
            it->answer = (int)ans->i;
        else
            FAIL("answer %lld is not an option index (0 to %d)", name, line, (long long)ans->i, it->n_options - 1);
    } else if (ans->type == JSON_STRING) {
        it->answer = letter_index(ans->s, ans->len, it->n_options);
        for (int i = 0; it->answer < 0 && i < it->n_options; i++)
            if (strcmp(ans->s, it->options[i]) == 0)
                it->answer = i;
        if (it->answer < 0)
            FAIL("answer \"%.60s\" is neither an option letter nor an option's text", name, line, ans->s);
    } else {
        FAIL("the answer is neither a letter, an index nor a text", name, line);
    }
    return MEDGE_OK;
#undef FAIL
}

medge_status mcq_parse(const char *text, size_t len, const char *name, mcq_set **out)
{
    *out = NULL;
    mcq_set *s = calloc(1, sizeof *s);
    if (!s)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    size_t cap = 0;
    medge_status rc = MEDGE_OK;
    int line = 0;
    for (size_t pos = 0; pos < len && rc == MEDGE_OK;) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len;
        line++;
        size_t a = pos, b = end;
        pos = end + 1;
        while (a < b && (text[a] == ' ' || text[a] == '\t' || text[a] == '\r'))
            a++;
        while (b > a && (text[b - 1] == ' ' || text[b - 1] == '\t' || text[b - 1] == '\r'))
            b--;
        if (a == b)
            continue;
        json_doc *d = NULL;
        rc = json_parse(text + a, b - a, &d);
        if (rc != MEDGE_OK) {
            medge_err_prefix(rc, "%s line %d", name, line);
            break;
        }
        if (s->n == cap) {
            cap = cap ? cap * 2 : 64;
            mcq_item *ni = realloc(s->items, cap * sizeof *ni);
            if (!ni) {
                json_free(d);
                rc = medge_err(MEDGE_ERR_NOMEM, "out of memory");
                break;
            }
            s->items = ni;
        }
        mcq_item *it = &s->items[s->n];
        memset(it, 0, sizeof *it);
        rc = parse_item(json_root(d), it, name, line);
        json_free(d);
        if (rc != MEDGE_OK) {
            item_free(it);
            break;
        }
        s->n++;
    }
    if (rc == MEDGE_OK && s->n == 0)
        rc = medge_err(MEDGE_ERR_FORMAT, "%s: no questions", name);
    if (rc != MEDGE_OK) {
        mcq_free(s);
        return rc;
    }
    *out = s;
    return MEDGE_OK;
}

medge_status mcq_load(const char *path, mcq_set **out)
{
    *out = NULL;
    medge_map m;
    MEDGE_TRY(medge_read_file(path, &m));
    medge_status rc = mcq_parse((const char *)m.data, (size_t)m.size, path, out);
    medge_unmap(&m);
    return rc;
}

void mcq_free(mcq_set *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        item_free(&s->items[i]);
    free(s->items);
    free(s);
}

const char *mcq_letter(int i)
{
    static const char *l[MCQ_MAX_OPTIONS] = {"A", "B", "C", "D", "E", "F", "G", "H", "I", "J"};
    return i >= 0 && i < MCQ_MAX_OPTIONS ? l[i] : "?";
}

char *mcq_user_text(const mcq_item *it)
{
    medge_buf b = {0};
    if (it->context && it->context[0])
        medge_buf_printf(&b, "%s\n\n", it->context);
    medge_buf_printf(&b, "%s\n\n", it->question);
    for (int i = 0; i < it->n_options; i++)
        medge_buf_printf(&b, "%s. %s\n", mcq_letter(i), it->options[i]);
    medge_buf_puts(&b, "\nAnswer with the letter of the correct option only.");
    if (b.oom) {
        medge_buf_free(&b);
        return NULL;
    }
    return b.data;
}

void mcq_accuracy(size_t k, size_t n, double *acc, double *lo, double *hi)
{
    if (n == 0) {
        *acc = *lo = *hi = 0;
        return;
    }
    const double z = 1.959963984540054;
    double p = (double)k / (double)n, nn = (double)n;
    double den = 1 + z * z / nn, center = (p + z * z / (2 * nn)) / den;
    double half = z * sqrt(p * (1 - p) / nn + z * z / (4 * nn * nn)) / den;
    *acc = p;
    *lo = center - half < 0 ? 0 : center - half;
    *hi = center + half > 1 ? 1 : center + half;
}

void mcq_paired_diff(const unsigned char *a, const unsigned char *b, size_t n, double *diff, double *lo, double *hi)
{
    *diff = *lo = *hi = 0;
    if (n == 0)
        return;
    double s = 0, s2 = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)(a[i] != 0) - (double)(b[i] != 0);
        s += d;
        s2 += d * d;
    }
    double m = s / (double)n;
    *diff = m;
    if (n < 2) {
        *lo = *hi = m;
        return;
    }
    double var = (s2 - (double)n * m * m) / (double)(n - 1);
    double half = 1.959963984540054 * sqrt(var > 0 ? var / (double)n : 0);
    *lo = m - half;
    *hi = m + half;
}
