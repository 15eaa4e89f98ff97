/* spm.c - Gemma 3's SentencePiece-BPE tokenizer as Hugging Face's tokenizer.json runs it (see
 * spm.h for the rules).
 *
 * Speed: text between added tokens is cut into words at every U+2581 that no piece can straddle
 * (computed from the vocabulary at load: for Gemma only "▁▁..." runs and ">▁</" hold a U+2581
 * after another character), so the BPE of a word is independent of its neighbours. Each word is
 * merged with a binary heap of candidate pairs over a linked list of symbols; pieces are found
 * by hashing the byte span of the pair (symbols are always contiguous spans of the text). */
#include "text/spm.h"
#include "core/file.h"
#include "text/strtab.h"
#include "text/unicode.h"

#include <stdlib.h>
#include <string.h>

#define SPACE_MARK "\xE2\x96\x81" /* U+2581 */

struct spm_vocab {
    strtab t;
    int32_t n;
    void *tables;      /* one block holding prio[n], bmp_id[65536] and type[n] */
    size_t tables_size;
    uint8_t *type;
    uint32_t *prio; /* GGUF: merge priority of a piece as a merge result (lower first); UINT32_MAX never */
    bool ranked;    /* tokenizer.json: merge ranks of pairs */
    u64map ranks;   /* (left id << 32 | right id) -> rank */
    bool byte_fallback;
    bool add_bos;   /* what the model file asks for (callers decide) */
    int32_t byte_id[256];
    int32_t *bmp_id; /* [65536]: id of the one-character piece of each BMP code point, or -1 */
    /* added tokens: byte trie, edges (node << 8 | byte) -> child */
    u64map trie;
    int32_t *trie_tok; /* per node: token id ending here or -1 */
    uint32_t trie_nodes, trie_cap;
    uint8_t first_byte[256]; /* 1: some added token starts with this byte */
    /* code points that may precede U+2581 inside a piece: no word split there */
    u64map nosplit;
    uint8_t nosplit_ascii[128];
    spm_special sp;
};

/* ------------------------------------------------------------------ loading */

static bool is_special_type(int t) { return t == SPM_TYPE_CONTROL || t == SPM_TYPE_UNKNOWN; }

static medge_status trie_add(spm_vocab *v, const char *s, size_t n, int32_t id)
{
    if (n == 0)
        return MEDGE_OK;
    uint32_t node = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t key = ((uint64_t)node << 8) | (uint8_t)s[i];
        uint32_t child;
        if (!u64map_get(&v->trie, key, &child)) {
            if (v->trie_nodes == v->trie_cap) {
                uint32_t cap = v->trie_cap * 2;
                int32_t *p = realloc(v->trie_tok, cap * sizeof *p);
                if (!p)
                    return medge_err(MEDGE_ERR_NOMEM, "out of memory building the added-token trie");
                v->trie_tok = p;
                v->trie_cap = cap;
            }
            child = v->trie_nodes++;
            v->trie_tok[child] = -1;
            MEDGE_TRY(u64map_put(&v->trie, key, child));
        }
        node = child;
    }
    if (v->trie_tok[node] < 0) /* first id of a duplicated string wins, as the string table */
        v->trie_tok[node] = id;
    v->first_byte[(uint8_t)s[0]] = 1;
    return MEDGE_OK;
}

/* Shared second half of both loaders: tables derived from strings and types. */
static medge_status finish_load(spm_vocab *v)
{
    v->trie_cap = 1024;
    v->trie_tok = malloc(v->trie_cap * sizeof *v->trie_tok);
    if (!v->trie_tok)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    v->trie_tok[0] = -1;
    v->trie_nodes = 1;
    uint64_t trie_bytes = 0;
    for (int32_t id = 0; id < v->n; id++)
        if (v->type[id] == SPM_TYPE_CONTROL || v->type[id] == SPM_TYPE_USER_DEFINED || v->type[id] == SPM_TYPE_UNKNOWN)
            trie_bytes += strtab_len(&v->t, (uint32_t)id);
    MEDGE_TRY(u64map_init(&v->trie, trie_bytes + 16));
    MEDGE_TRY(u64map_init(&v->nosplit, 16));
    for (int i = 0; i < 256; i++)
        v->byte_id[i] = -1;
    memset(v->bmp_id, 0xFF, 65536 * sizeof *v->bmp_id);
    for (int32_t id = 0; id < v->n; id++) {
        int ty = v->type[id];
        const char *s = strtab_str(&v->t, (uint32_t)id);
        size_t len = strtab_len(&v->t, (uint32_t)id);
        if (len >= 1 && len <= 3) {
            uint32_t cp;
            bool ok;
            if (uni_utf8_decode((const uint8_t *)s, len, &cp, &ok) == len && ok && v->bmp_id[cp] < 0)
                v->bmp_id[cp] = id; /* the first id of a string, as strtab_find */
        }
        if (ty == SPM_TYPE_BYTE) {
            /* "<0xAB>" */
            unsigned b;
            if (len == 6 && s[0] == '<' && s[1] == '0' && s[2] == 'x' && s[5] == '>') {
                char hex[3] = {s[3], s[4], 0};
                char *end;
                b = (unsigned)strtoul(hex, &end, 16);
                if (end == hex + 2 && v->byte_id[b] < 0)
                    v->byte_id[b] = id;
            }
            continue;
        }
        if (ty == SPM_TYPE_CONTROL || ty == SPM_TYPE_USER_DEFINED || ty == SPM_TYPE_UNKNOWN)
            MEDGE_TRY(trie_add(v, s, len, id));
        if (ty != SPM_TYPE_NORMAL && ty != SPM_TYPE_USER_DEFINED)
            continue;
        /* which characters can precede U+2581 inside this piece? */
        for (size_t k = 1; k + 3 <= len; k++) {
            if (memcmp(s + k, SPACE_MARK, 3) != 0)
                continue;
            size_t p = k - 1;
            while (p > 0 && ((uint8_t)s[p] & 0xC0) == 0x80 && k - p < 4)
                p--;
            uint32_t cp;
            bool ok;
            uni_utf8_decode((const uint8_t *)s + p, k - p, &cp, &ok);
            if (!ok)
                cp = 0xFFFFFFFFu; /* malformed piece: never split anywhere */
            if (cp < 128)
                v->nosplit_ascii[cp] = 1;
            else
                MEDGE_TRY(u64map_put(&v->nosplit, cp, 1));
        }
    }
    spm_special *sp = &v->sp;
    sp->eos_text = strtab_find(&v->t, "<eos>", 5);
    sp->eot = strtab_find(&v->t, "<end_of_turn>", 13);
    sp->start_of_turn = strtab_find(&v->t, "<start_of_turn>", 15);
    sp->start_of_image = strtab_find(&v->t, "<start_of_image>", 16);
    sp->end_of_image = strtab_find(&v->t, "<end_of_image>", 14);
    sp->image_soft = strtab_find(&v->t, "<image_soft_token>", 18);
    sp->nl = strtab_find(&v->t, "\n", 1);
    sp->nl2 = strtab_find(&v->t, "\n\n", 2);
    return MEDGE_OK;
}

static medge_status alloc_tables(spm_vocab *v, size_t n)
{
    v->tables_size = n * sizeof *v->prio + 65536 * sizeof *v->bmp_id + n;
    v->tables = medge_alloc_huge(v->tables_size, true);
    if (!v->tables)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory for %zu pieces", n);
    v->prio = (uint32_t *)v->tables;
    v->bmp_id = (int32_t *)(v->prio + n);
    v->type = (uint8_t *)(v->bmp_id + 65536);
    return MEDGE_OK;
}

static spm_vocab *vocab_new(void)
{
    spm_vocab *v = calloc(1, sizeof *v);
    if (v) {
        v->sp.bos = v->sp.eos = v->sp.eot = v->sp.unk = v->sp.pad = -1;
        v->byte_fallback = true;
        v->add_bos = true;
    }
    return v;
}

/* Order-preserving map of a float score to a priority: higher score -> smaller value. */
static uint32_t score_prio(float s)
{
    uint32_t u;
    memcpy(&u, &s, 4);
    u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
    return ~u;
}

struct gguf_tok_src {
    const gguf_str *strs;
    const uint8_t *respell; /* 1: spaces -> U+2581 */
    char *tmp;
};

static void gguf_tok_get(void *user, size_t i, const char **s, size_t *len)
{
    struct gguf_tok_src *g = (struct gguf_tok_src *)user;
    if (g->respell && g->respell[i]) {
        size_t n = (size_t)g->strs[i].len;
        for (size_t k = 0; k < n; k++)
            memcpy(g->tmp + 3 * k, SPACE_MARK, 3);
        *s = g->tmp;
        *len = 3 * n;
        return;
    }
    *s = g->strs[i].s;
    *len = (size_t)g->strs[i].len;
}

static medge_status get_id_key(const gguf_ctx *g, const char *key, int32_t n, int32_t *out)
{
    const gguf_value *val = gguf_get(g, key);
    int64_t x;
    if (!val)
        return MEDGE_OK;
    if (!gguf_value_int(val, &x))
        return medge_err(MEDGE_ERR_FORMAT, "%s is not an integer", key);
    if (x < 0 || x >= n)
        return medge_err(MEDGE_ERR_FORMAT, "%s = %lld is outside the vocabulary of %d pieces", key, (long long)x, n);
    *out = (int32_t)x;
    return MEDGE_OK;
}

static medge_status load_gguf(spm_vocab *v, const gguf_ctx *g)
{
    const char *model = NULL;
    if (gguf_get_str(g, "tokenizer.ggml.model", &model) == MEDGE_OK && strcmp(model, "llama") != 0)
        return medge_err(MEDGE_ERR_UNSUPPORTED, "tokenizer.ggml.model is \"%s\", not \"llama\" (SentencePiece)", model);
    const void *toks;
    uint64_t n;
    MEDGE_TRY(gguf_get_arr(g, "tokenizer.ggml.tokens", GGUF_STR, &toks, &n));
    if (n == 0 || n > (1u << 30))
        return medge_err(MEDGE_ERR_FORMAT, "tokenizer.ggml.tokens has %llu pieces", (unsigned long long)n);
    const void *scores = NULL, *types = NULL;
    uint64_t ns = 0, nt = 0;
    if (gguf_get(g, "tokenizer.ggml.scores")) {
        MEDGE_TRY(gguf_get_arr(g, "tokenizer.ggml.scores", GGUF_F32, &scores, &ns));
        if (ns != n)
            return medge_err(MEDGE_ERR_FORMAT, "tokenizer.ggml.scores has %llu values for %llu pieces", (unsigned long long)ns, (unsigned long long)n);
    }
    if (gguf_get(g, "tokenizer.ggml.token_type")) {
        MEDGE_TRY(gguf_get_arr(g, "tokenizer.ggml.token_type", GGUF_I32, &types, &nt));
        if (nt != n)
            return medge_err(MEDGE_ERR_FORMAT, "tokenizer.ggml.token_type has %llu values for %llu pieces", (unsigned long long)nt, (unsigned long long)n);
    }
    v->n = (int32_t)n;
    uint8_t *respell = calloc(n, 1);
    size_t maxlen = 0;
    if (alloc_tables(v, (size_t)n) != MEDGE_OK || !respell) {
        free(respell);
        return medge_err(MEDGE_ERR_NOMEM, "out of memory for %llu pieces", (unsigned long long)n);
    }
    const gguf_str *strs = (const gguf_str *)toks;
    for (uint64_t i = 0; i < n; i++) {
        int32_t ty = SPM_TYPE_NORMAL;
        if (types)
            memcpy(&ty, (const char *)types + 4 * i, 4);
        if (ty < 0 || ty > SPM_TYPE_BYTE)
            ty = SPM_TYPE_UNDEFINED;
        v->type[i] = (uint8_t)ty;
        float sc = 0;
        if (scores)
            memcpy(&sc, (const char *)scores + 4 * i, 4);
        v->prio[i] = (ty == SPM_TYPE_NORMAL || ty == SPM_TYPE_USER_DEFINED) ? score_prio(sc) : UINT32_MAX;
        if (v->prio[i] == UINT32_MAX && (ty == SPM_TYPE_NORMAL || ty == SPM_TYPE_USER_DEFINED))
            v->prio[i] = UINT32_MAX - 1;
        if (ty == SPM_TYPE_USER_DEFINED && strs[i].len > 0) {
            bool spaces = true;
            for (uint64_t k = 0; k < strs[i].len && spaces; k++)
                spaces = strs[i].s[k] == ' ';
            if (spaces) {
                respell[i] = 1;
                if (strs[i].len > maxlen)
                    maxlen = (size_t)strs[i].len;
            }
        }
    }
    struct gguf_tok_src src = {strs, respell, malloc(3 * maxlen + 1)};
    medge_status rc = src.tmp ? strtab_build_cb(&v->t, gguf_tok_get, &src, (size_t)n, false)
                              : medge_err(MEDGE_ERR_NOMEM, "out of memory");
    free(src.tmp);
    free(respell);
    MEDGE_TRY(rc);
    bool b;
    if (gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b) == MEDGE_OK)
        v->add_bos = b;
    MEDGE_TRY(finish_load(v));
    v->sp.bos = strtab_find(&v->t, "<bos>", 5);
    v->sp.eos = v->sp.eos_text;
    v->sp.unk = strtab_find(&v->t, "<unk>", 5);
    v->sp.pad = strtab_find(&v->t, "<pad>", 5);
    MEDGE_TRY(get_id_key(g, "tokenizer.ggml.bos_token_id", v->n, &v->sp.bos));
    MEDGE_TRY(get_id_key(g, "tokenizer.ggml.eos_token_id", v->n, &v->sp.eos));
    MEDGE_TRY(get_id_key(g, "tokenizer.ggml.unknown_token_id", v->n, &v->sp.unk));
    MEDGE_TRY(get_id_key(g, "tokenizer.ggml.padding_token_id", v->n, &v->sp.pad));
    MEDGE_TRY(get_id_key(g, "tokenizer.ggml.eot_token_id", v->n, &v->sp.eot));
    return MEDGE_OK;
}

medge_status spm_load_gguf(const gguf_ctx *g, spm_vocab **out)
{
    *out = NULL;
    spm_vocab *v = vocab_new();
    if (!v)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    medge_status rc = load_gguf(v, g);
    if (rc != MEDGE_OK) {
        spm_free(v);
        return rc;
    }
    *out = v;
    return MEDGE_OK;
}

static bool is_byte_piece(const char *s, size_t n)
{
    if (n != 6 || s[0] != '<' || s[1] != '0' || s[2] != 'x' || s[5] != '>')
        return false;
    for (int k = 3; k < 5; k++)
        if (!((s[k] >= '0' && s[k] <= '9') || (s[k] >= 'A' && s[k] <= 'F')))
            return false;
    return true;
}

struct json_tok_src {
    const char **s;
    size_t *len;
};

static void json_tok_get(void *user, size_t i, const char **s, size_t *len)
{
    struct json_tok_src *j = (struct json_tok_src *)user;
    *s = j->s[i] ? j->s[i] : "";
    *len = j->s[i] ? j->len[i] : 0;
}

static medge_status load_json(spm_vocab *v, const json_value *root)
{
    if (!root || root->type != JSON_OBJECT)
        return medge_err(MEDGE_ERR_FORMAT, "tokenizer.json: not an object");
    const json_value *model = json_get(root, "model");
    const char *mtype = model ? json_get_str(model, "type") : NULL;
    if (!mtype || strcmp(mtype, "BPE") != 0)
        return medge_err(MEDGE_ERR_UNSUPPORTED, "tokenizer.json: model.type is %s%s%s, only BPE is supported",
                         mtype ? "\"" : "", mtype ? mtype : "missing", mtype ? "\"" : "");
    const json_value *norm = json_get(root, "normalizer");
    if (norm && norm->type != JSON_NULL) {
        const char *nt = json_get_str(norm, "type");
        const json_value *pat = json_get(norm, "pattern");
        const char *ps = pat ? json_get_str(pat, "String") : NULL;
        const char *content = json_get_str(norm, "content");
        if (!nt || strcmp(nt, "Replace") != 0 || !ps || strcmp(ps, " ") != 0 || !content || strcmp(content, SPACE_MARK) != 0)
            return medge_err(MEDGE_ERR_UNSUPPORTED, "tokenizer.json: only the normalizer Replace(' ' -> U+2581) is supported");
    }
    const json_value *pre = json_get(root, "pre_tokenizer");
    if (pre && pre->type != JSON_NULL) {
        const char *pt = json_get_str(pre, "type");
        const json_value *pat = json_get(pre, "pattern");
        const char *ps = pat ? json_get_str(pat, "String") : NULL;
        if (!pt || strcmp(pt, "Split") != 0 || !ps || strcmp(ps, " ") != 0)
            return medge_err(MEDGE_ERR_UNSUPPORTED, "tokenizer.json: only the pre-tokenizer Split(' ') is supported");
    }
    bool bf = true;
    json_get_bool(model, "byte_fallback", &bf);
    v->byte_fallback = bf;
    const json_value *vocab = json_get(model, "vocab");
    const json_value *merges = json_get(model, "merges");
    const json_value *added = json_get(root, "added_tokens");
    if (!vocab || vocab->type != JSON_OBJECT || !merges || merges->type != JSON_ARRAY)
        return medge_err(MEDGE_ERR_FORMAT, "tokenizer.json: model.vocab or model.merges missing");
    if (added && added->type != JSON_ARRAY)
        return medge_err(MEDGE_ERR_FORMAT, "tokenizer.json: added_tokens is not an array");
    size_t nadd = added ? added->len : 0;
    int64_t maxid = -1;
    for (size_t i = 0; i < vocab->len; i++) {
        const json_value *x = &vocab->members[i].value;
        if (!x->is_int || x->i < 0 || x->i >= (1 << 30))
            return medge_err(MEDGE_ERR_FORMAT, "tokenizer.json: bad id for piece %zu", i);
        if (x->i > maxid)
            maxid = x->i;
    }
    for (size_t i = 0; i < nadd; i++) {
        int64_t id;
        if (!json_get_int(&added->items[i], "id", &id) || id < 0 || id >= (1 << 30) || !json_get_str(&added->items[i], "content"))
            return medge_err(MEDGE_ERR_FORMAT, "tokenizer.json: bad added token %zu", i);
        if (id > maxid)
            maxid = id;
    }
    if (maxid < 0)
        return medge_err(MEDGE_ERR_FORMAT, "tokenizer.json: empty vocabulary");
    size_t n = (size_t)maxid + 1;
    v->n = (int32_t)n;
    alloc_tables(v, n);
    struct json_tok_src src = {calloc(n, sizeof(char *)), calloc(n, sizeof(size_t))};
    medge_status rc = MEDGE_OK;
    if (!v->type || !src.s || !src.len) {
        rc = medge_err(MEDGE_ERR_NOMEM, "out of memory");
        goto done;
    }
    memset(v->type, SPM_TYPE_UNUSED, n);
    for (size_t i = 0; i < vocab->len; i++) {
        const json_member *m = &vocab->members[i];
        size_t id = (size_t)m->value.i;
        src.s[id] = m->key;
        src.len[id] = m->key_len;
        v->type[id] = bf && is_byte_piece(m->key, m->key_len) ? SPM_TYPE_BYTE : SPM_TYPE_NORMAL;
    }
    for (size_t i = 0; i < nadd; i++) {
        const json_value *a = &added->items[i];
        int64_t id;
        json_get_int(a, "id", &id);
        const json_value *c = json_get(a, "content");
        bool special = false;
        json_get_bool(a, "special", &special);
        src.s[id] = c->s;
        src.len[id] = c->len;
        v->type[id] = special ? SPM_TYPE_CONTROL : SPM_TYPE_USER_DEFINED;
    }
    rc = strtab_build_cb(&v->t, json_tok_get, &src, n, false);
    if (rc != MEDGE_OK)
        goto done;
    v->ranked = true;
    rc = u64map_init(&v->ranks, merges->len);
    for (size_t r = 0; rc == MEDGE_OK && r < merges->len; r++) {
        const json_value *m = &merges->items[r];
        const char *a, *b;
        size_t la, lb;
        if (m->type == JSON_ARRAY && m->len == 2 && m->items[0].type == JSON_STRING && m->items[1].type == JSON_STRING) {
            a = m->items[0].s, la = m->items[0].len, b = m->items[1].s, lb = m->items[1].len;
        } else if (m->type == JSON_STRING && (b = memchr(m->s, ' ', m->len)) != NULL) {
            a = m->s, la = (size_t)(b - m->s), b++, lb = m->len - la - 1;
        } else {
            rc = medge_err(MEDGE_ERR_FORMAT, "tokenizer.json: merge %zu is neither [a, b] nor \"a b\"", r);
            break;
        }
        int32_t ia = strtab_find(&v->t, a, la), ib = strtab_find(&v->t, b, lb);
        if (ia < 0 || ib < 0) {
            rc = medge_err(MEDGE_ERR_FORMAT, "tokenizer.json: merge %zu uses a piece that is not in the vocabulary", r);
            break;
        }
        uint64_t key = ((uint64_t)(uint32_t)ia << 32) | (uint32_t)ib;
        uint32_t old;
        if (!u64map_get(&v->ranks, key, &old))
            rc = u64map_put(&v->ranks, key, (uint32_t)r);
    }
    if (rc != MEDGE_OK)
        goto done;
    rc = finish_load(v);
    if (rc != MEDGE_OK)
        goto done;
    v->sp.bos = strtab_find(&v->t, "<bos>", 5);
    v->sp.eos = v->sp.eos_text;
    const char *unk = json_get_str(model, "unk_token");
    v->sp.unk = unk ? strtab_find(&v->t, unk, strlen(unk)) : -1;
    v->sp.pad = strtab_find(&v->t, "<pad>", 5);
done:
    free(src.s);
    free(src.len);
    return rc;
}

medge_status spm_load_json_doc(const json_value *root, spm_vocab **out)
{
    *out = NULL;
    spm_vocab *v = vocab_new();
    if (!v)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    medge_status rc = load_json(v, root);
    if (rc != MEDGE_OK) {
        spm_free(v);
        return rc;
    }
    *out = v;
    return MEDGE_OK;
}

medge_status spm_load_json(const char *path, spm_vocab **out)
{
    *out = NULL;
    json_doc *doc;
    MEDGE_TRY(json_parse_file(path, &doc));
    medge_status rc = spm_load_json_doc(json_root(doc), out);
    json_free(doc);
    if (rc != MEDGE_OK)
        return medge_err_prefix(rc, "%s", path);
    return MEDGE_OK;
}

void spm_free(spm_vocab *v)
{
    if (!v)
        return;
    strtab_free(&v->t);
    medge_free_huge(v->tables, v->tables_size);
    u64map_free(&v->ranks);
    u64map_free(&v->trie);
    free(v->trie_tok);
    u64map_free(&v->nosplit);
    free(v);
}

int32_t spm_n_vocab(const spm_vocab *v) { return v->n; }
const spm_special *spm_specials(const spm_vocab *v) { return &v->sp; }

bool spm_is_eog(const spm_vocab *v, int32_t id)
{
    return id >= 0 && (id == v->sp.eos || id == v->sp.eot || id == v->sp.eos_text);
}

const char *spm_token_text(const spm_vocab *v, int32_t id, size_t *len)
{
    if (id < 0 || id >= v->n)
        return NULL;
    if (len)
        *len = strtab_len(&v->t, (uint32_t)id);
    return strtab_str(&v->t, (uint32_t)id);
}

int spm_token_type(const spm_vocab *v, int32_t id) { return id >= 0 && id < v->n ? v->type[id] : -1; }

int32_t spm_find(const spm_vocab *v, const char *s, size_t n) { return strtab_find(&v->t, s, n); }

/* ------------------------------------------------------------------ encoding */

typedef struct sym {
    uint32_t start, len; /* span in the word's text; len 0: merged away */
    int32_t prev, next;
    int32_t id;
    int32_t fixed; /* byte-fallback symbol: never merges */
} sym;

typedef struct cand {
    uint64_t key; /* priority << 32 | left symbol index: pops lowest first */
    uint32_t left, right, len;
    int32_t id;
} cand;

typedef struct enc {
    const spm_vocab *v;
    int32_t *ids; /* caller buffer or growable */
    size_t n, cap;
    bool growable, oom;
    char *norm;
    size_t norm_cap;
    sym *syms;
    size_t syms_cap;
    cand *heap;
    size_t heap_n, heap_cap;
    /* word cache (large texts only): word bytes -> the ids BPE gave them */
    struct wc_entry { uint64_t h; uint32_t woff, wlen, ioff, icount; } *wc;
    uint64_t wc_mask, wc_n;
    char *wc_words;
    size_t wc_words_n, wc_words_cap;
    int32_t *wc_ids;
    size_t wc_ids_n, wc_ids_cap;
    /* pair cache (large texts only): direct-mapped (left id, right id) -> merged id and priority,
     * small enough to stay in cache where the 262k-piece hash table does not */
    struct pc_entry { uint64_t key; int32_t id; uint32_t prio; } *pc;
} enc;

#define PC_BITS 14

#define WC_BITS 16        /* entries in the word cache */
#define WC_MAX_WORD 64    /* longer words are not cached */
#define WC_MIN_TEXT 4096  /* texts shorter than this do not use the cache */

static bool grow_mem(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    size_t c = *cap ? *cap : 256;
    while (c < need)
        c *= 2;
    size_t bytes;
    if (!medge_mul_size(c, elem, &bytes))
        return false;
    void *q = realloc(*p, bytes);
    if (!q)
        return false;
    *p = q;
    *cap = c;
    return true;
}

static void emit(enc *e, int32_t id)
{
    if (e->n < e->cap) {
        e->ids[e->n++] = id;
        return;
    }
    if (e->growable && !e->oom) {
        if (grow_mem((void **)&e->ids, &e->cap, e->n + 1, sizeof *e->ids)) {
            e->ids[e->n++] = id;
            return;
        }
        e->oom = true;
    }
    e->n++; /* count what is needed */
}

static void heap_push(enc *e, const cand *c)
{
    if (!grow_mem((void **)&e->heap, &e->heap_cap, e->heap_n + 1, sizeof *e->heap)) {
        e->oom = true;
        return;
    }
    size_t i = e->heap_n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (e->heap[p].key <= c->key)
            break;
        e->heap[i] = e->heap[p];
        i = p;
    }
    e->heap[i] = *c;
}

static cand heap_pop(enc *e)
{
    cand top = e->heap[0];
    cand last = e->heap[--e->heap_n];
    size_t i = 0, n = e->heap_n;
    for (;;) {
        size_t l = 2 * i + 1;
        if (l >= n)
            break;
        size_t m = l + 1 < n && e->heap[l + 1].key < e->heap[l].key ? l + 1 : l;
        if (last.key <= e->heap[m].key)
            break;
        e->heap[i] = e->heap[m];
        i = m;
    }
    if (n)
        e->heap[i] = last;
    return top;
}

/* Merged piece and priority of two adjacent pieces; false when they do not merge. */
static bool pair_lookup(const enc *e, const char *w, const sym *sa, const sym *sb, int32_t *out_id, uint32_t *out_prio)
{
    const spm_vocab *v = e->v;
    uint32_t prio = UINT32_MAX;
    if (v->ranked) {
        uint64_t key = ((uint64_t)(uint32_t)sa->id << 32) | (uint32_t)sb->id;
        if (!u64map_get(&v->ranks, key, &prio))
            return false;
    }
    int32_t id = strtab_find(&v->t, w + sa->start, sa->len + sb->len);
    if (id < 0)
        return false;
    if (!v->ranked) {
        prio = v->prio[id];
        if (prio == UINT32_MAX)
            return false;
    }
    *out_id = id;
    *out_prio = prio;
    return true;
}

static void try_pair(enc *e, const char *w, uint32_t a, uint32_t b)
{
    const sym *sa = &e->syms[a], *sb = &e->syms[b];
    if (sa->fixed || sb->fixed)
        return;
    int32_t id;
    uint32_t prio;
    if (e->pc && sa->id >= 0 && sb->id >= 0) {
        uint64_t key = ((uint64_t)(uint32_t)sa->id << 32) | (uint32_t)sb->id;
        struct pc_entry *c = &e->pc[u64map_slot(key) & ((1u << PC_BITS) - 1)];
        if (c->key != key) {
            c->key = key;
            if (!pair_lookup(e, w, sa, sb, &c->id, &c->prio))
                c->id = -1;
        }
        if (c->id < 0)
            return;
        id = c->id;
        prio = c->prio;
    } else if (!pair_lookup(e, w, sa, sb, &id, &prio)) {
        return;
    }
    cand c = {((uint64_t)prio << 32) | a, a, b, sa->len + sb->len, id};
    heap_push(e, &c);
}

/* BPE of one word w[0..n) (already normalised). */
static void bpe_word(enc *e, const char *w, size_t n)
{
    const spm_vocab *v = e->v;
    const uint8_t *u = (const uint8_t *)w;
    /* whole word is a piece and a one-character word: the common fast paths */
    if (n == 1 && u[0] < 128 && v->bmp_id[u[0]] >= 0) {
        emit(e, v->bmp_id[u[0]]);
        return;
    }
    if (!grow_mem((void **)&e->syms, &e->syms_cap, n, sizeof *e->syms)) {
        e->oom = true;
        return;
    }
    uint32_t ns = 0;
    for (size_t i = 0; i < n;) {
        size_t l;
        int32_t id;
        if (u[i] < 128) {
            l = 1;
            id = v->bmp_id[u[i]];
        } else {
            uint32_t cp;
            bool ok;
            l = uni_utf8_decode(u + i, n - i, &cp, &ok);
            id = !ok ? -1 : cp < 65536 ? v->bmp_id[cp] : strtab_find(&v->t, w + i, l);
        }
        if (id >= 0 || (l > 1 && !v->ranked) || (l == 1 && u[i] < 128 && !v->ranked)) {
            /* GGUF (llama.cpp's SentencePiece merge): a character that is not a piece still
             * merges by concatenation, and falls back to bytes only if it stays alone. This
             * equals Hugging Face whenever every piece's characters are pieces (true of
             * trained vocabularies); truncated ones, like the tiny test model's, need it to
             * match llama.cpp. tokenizer.json (pair ranks) falls back at once, as HF. */
            e->syms[ns] = (sym){(uint32_t)i, (uint32_t)l, (int32_t)ns - 1, (int32_t)ns + 1, id, 0};
            ns++;
        } else {
            for (size_t k = 0; k < l; k++) {
                int32_t bid = v->byte_fallback ? v->byte_id[u[i + k]] : -1;
                if (bid < 0) {
                    /* no byte piece: one <unk> for the character (fuse_unk) */
                    e->syms[ns] = (sym){(uint32_t)i, (uint32_t)l, (int32_t)ns - 1, (int32_t)ns + 1, v->sp.unk, 1};
                    ns++;
                    break;
                }
                e->syms[ns] = (sym){(uint32_t)(i + k), 1, (int32_t)ns - 1, (int32_t)ns + 1, bid, 1};
                ns++;
            }
        }
        i += l;
    }
    if (ns == 0)
        return;
    e->syms[ns - 1].next = -1;
    e->heap_n = 0;
    for (uint32_t k = 0; k + 1 < ns; k++)
        try_pair(e, w, k, k + 1);
    while (e->heap_n) {
        cand c = heap_pop(e);
        sym *a = &e->syms[c.left], *b = &e->syms[c.right];
        if (a->len == 0 || b->len == 0 || a->next != (int32_t)c.right || a->len + b->len != c.len)
            continue;
        a->len = c.len;
        a->id = c.id;
        b->len = 0;
        a->next = b->next;
        if (b->next >= 0)
            e->syms[b->next].prev = (int32_t)c.left;
        if (a->prev >= 0)
            try_pair(e, w, (uint32_t)a->prev, c.left);
        if (a->next >= 0)
            try_pair(e, w, c.left, (uint32_t)a->next);
    }
    for (int32_t k = 0; k >= 0; k = e->syms[k].next) {
        const sym *y = &e->syms[k];
        if (y->id >= 0) {
            emit(e, y->id);
            continue;
        }
        if (y->fixed)
            continue; /* no byte piece and no <unk> */
        /* a character that is not a piece and merged with nothing: its bytes */
        bool unk = false;
        for (uint32_t b = 0; b < y->len; b++) {
            int32_t bid = v->byte_fallback ? v->byte_id[u[y->start + b]] : -1;
            if (bid >= 0)
                emit(e, bid);
            else
                unk = true;
        }
        if (unk && v->sp.unk >= 0)
            emit(e, v->sp.unk);
    }
}

/* One word through the cache. */
static void word(enc *e, const char *w, size_t n)
{
    if (!e->wc || n > WC_MAX_WORD || n == 0) {
        bpe_word(e, w, n);
        return;
    }
    uint64_t h = strtab_hash(w, n), i;
    for (i = h & e->wc_mask; e->wc[i].wlen; i = (i + 1) & e->wc_mask) {
        const struct wc_entry *c = &e->wc[i];
        if (c->h == h && c->wlen == n && memcmp(e->wc_words + c->woff, w, n) == 0) {
            for (uint32_t k = 0; k < c->icount; k++)
                emit(e, e->wc_ids[c->ioff + k]);
            return;
        }
    }
    size_t n0 = e->n;
    bpe_word(e, w, n);
    size_t cnt = e->n - n0;
    if (e->oom || e->n > e->cap || (e->wc_n + 1) * 2 > e->wc_mask + 1)
        return;
    if (!grow_mem((void **)&e->wc_words, &e->wc_words_cap, e->wc_words_n + n, 1) ||
        !grow_mem((void **)&e->wc_ids, &e->wc_ids_cap, e->wc_ids_n + cnt, sizeof *e->wc_ids))
        return; /* the cache is only an optimisation */
    memcpy(e->wc_words + e->wc_words_n, w, n);
    memcpy(e->wc_ids + e->wc_ids_n, e->ids + n0, cnt * sizeof *e->ids);
    e->wc[i] = (struct wc_entry){h, (uint32_t)e->wc_words_n, (uint32_t)n, (uint32_t)e->wc_ids_n, (uint32_t)cnt};
    e->wc_words_n += n;
    e->wc_ids_n += cnt;
    e->wc_n++;
}

static bool no_split_before(const spm_vocab *v, uint32_t prev_cp)
{
    uint32_t x;
    if (prev_cp < 128)
        return v->nosplit_ascii[prev_cp];
    return u64map_get(&v->nosplit, prev_cp, &x);
}

/* Text between added tokens: spaces -> U+2581, cut into independent words, BPE each. */
static void fragment(enc *e, const char *s, size_t n)
{
    if (n == 0)
        return;
    size_t need;
    if (!medge_mul_size(n, 3, &need) || !grow_mem((void **)&e->norm, &e->norm_cap, need, 1)) {
        e->oom = true;
        return;
    }
    char *w = e->norm;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ' ') {
            memcpy(w + k, SPACE_MARK, 3);
            k += 3;
        } else {
            w[k++] = s[i];
        }
    }
    const uint8_t *u = (const uint8_t *)w;
    size_t start = 0;
    uint32_t prev = 0xFFFFFFFFu;
    bool have_prev = false;
    for (size_t i = 0; i < k;) {
        uint32_t cp;
        bool ok;
        size_t l = uni_utf8_decode(u + i, k - i, &cp, &ok);
        if (!ok)
            cp = 0xFFFFFFFEu;
        if (cp == 0x2581 && have_prev && i > start && !no_split_before(e->v, prev)) {
            word(e, w + start, i - start);
            start = i;
        }
        prev = cp;
        have_prev = true;
        i += l;
    }
    word(e, w + start, k - start);
}

/* Leftmost-longest added token in s[from..n): returns true with its span and id. */
static bool find_added(const spm_vocab *v, const uint8_t *s, size_t n, size_t from, bool special, size_t *ms, size_t *ml, int32_t *mid)
{
    for (size_t i = from; i < n; i++) {
        if (!v->first_byte[s[i]])
            continue;
        uint32_t node = 0;
        size_t best = 0;
        int32_t bid = -1;
        for (size_t j = i; j < n; j++) {
            uint32_t child;
            if (!u64map_get(&v->trie, ((uint64_t)node << 8) | s[j], &child))
                break;
            node = child;
            int32_t t = v->trie_tok[node];
            if (t >= 0 && (special || !is_special_type(v->type[t]))) {
                best = j + 1 - i;
                bid = t;
            }
        }
        if (bid >= 0) {
            *ms = i;
            *ml = best;
            *mid = bid;
            return true;
        }
    }
    return false;
}

static medge_status encode(enc *e, const char *text, size_t len, unsigned flags)
{
    const spm_vocab *v = e->v;
    if (!text && len)
        return medge_err(MEDGE_ERR_INVALID_ARG, "spm_encode: NULL text");
    if ((flags & SPM_ADD_BOS) && v->sp.bos >= 0)
        emit(e, v->sp.bos);
    if (len >= WC_MIN_TEXT) {
        e->pc = malloc(((size_t)1 << PC_BITS) * sizeof *e->pc);
        if (e->pc)
            memset(e->pc, 0xFF, ((size_t)1 << PC_BITS) * sizeof *e->pc); /* key UINT64_MAX: empty */
    }
    if (!(flags & SPM_NO_CACHE) && len >= WC_MIN_TEXT) {
        e->wc = calloc((size_t)1 << WC_BITS, sizeof *e->wc);
        e->wc_mask = ((uint64_t)1 << WC_BITS) - 1;
    }
    const uint8_t *s = (const uint8_t *)text;
    size_t pos = 0;
    bool special = (flags & SPM_PARSE_SPECIAL) != 0;
    while (pos < len && !e->oom) {
        size_t ms, ml;
        int32_t id;
        if (!find_added(v, s, len, pos, special, &ms, &ml, &id)) {
            fragment(e, text + pos, len - pos);
            break;
        }
        fragment(e, text + pos, ms - pos);
        emit(e, id);
        pos = ms + ml;
    }
    free(e->norm);
    free(e->syms);
    free(e->heap);
    free(e->pc);
    free(e->wc);
    free(e->wc_words);
    free(e->wc_ids);
    if (e->oom)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory tokenizing %zu bytes", len);
    return MEDGE_OK;
}

medge_status spm_encode(const spm_vocab *v, const char *text, size_t len, unsigned flags, int32_t **ids, size_t *n)
{
    *ids = NULL;
    *n = 0;
    enc e = {0};
    e.v = v;
    e.growable = true;
    medge_status rc = encode(&e, text, len, flags);
    if (rc != MEDGE_OK) {
        free(e.ids);
        return rc;
    }
    if (!e.ids) {
        e.ids = malloc(sizeof *e.ids);
        if (!e.ids)
            return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    }
    *ids = e.ids;
    *n = e.n;
    return MEDGE_OK;
}

medge_status spm_encode_buf(const spm_vocab *v, const char *text, size_t len, unsigned flags, int32_t *ids, size_t cap, size_t *n)
{
    enc e = {0};
    e.v = v;
    e.ids = ids;
    e.cap = ids ? cap : 0;
    medge_status rc = encode(&e, text, len, flags);
    *n = e.n;
    if (rc != MEDGE_OK)
        return rc;
    if (e.n > cap)
        return medge_err(MEDGE_ERR_RANGE, "the text needs %zu tokens, the buffer holds %zu", e.n, cap);
    return MEDGE_OK;
}

/* ------------------------------------------------------------------ decoding */

size_t spm_token_piece(const spm_vocab *v, int32_t id, unsigned flags, char *out, size_t cap)
{
    if (id < 0 || id >= v->n)
        return 0;
    int ty = v->type[id];
    const char *s = strtab_str(&v->t, (uint32_t)id);
    size_t n = strtab_len(&v->t, (uint32_t)id);
    if (ty == SPM_TYPE_BYTE) {
        unsigned b = 0;
        for (int k = 3; k < 5; k++)
            b = b * 16 + (unsigned)(s[k] <= '9' ? s[k] - '0' : s[k] - 'A' + 10);
        if (cap)
            out[0] = (char)b;
        return 1;
    }
    if (is_special_type(ty) && !(flags & SPM_DECODE_SPECIAL))
        return 0;
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        if (i + 3 <= n && memcmp(s + i, SPACE_MARK, 3) == 0) {
            if (k < cap)
                out[k] = ' ';
            k++;
            i += 3;
        } else {
            if (k < cap)
                out[k] = s[i];
            k++;
            i++;
        }
    }
    return k;
}

medge_status spm_decode(const spm_vocab *v, const int32_t *ids, size_t n, unsigned flags, char **text, size_t *len)
{
    *text = NULL;
    if (len)
        *len = 0;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= v->n)
            return medge_err(MEDGE_ERR_RANGE, "token id %d is outside the vocabulary of %d pieces", ids[i], v->n);
        total += spm_token_piece(v, ids[i], flags, NULL, 0);
    }
    char *out = malloc(total + 1);
    if (!out)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory decoding %zu tokens", n);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += spm_token_piece(v, ids[i], flags, out + k, total - k);
    out[k] = 0;
    *text = out;
    if (len)
        *len = k;
    return MEDGE_OK;
}

void spm_detok_init(spm_detok *st, unsigned flags)
{
    memset(st, 0, sizeof *st);
    st->flags = flags;
}

/* Length a UTF-8 sequence starting with s[0..n) needs if it is a valid proper prefix, else 0. */
static size_t utf8_prefix_need(const uint8_t *s, size_t n)
{
    uint8_t c = s[0];
    size_t need;
    uint8_t lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        need = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        need = 3, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    else if (c >= 0xF0 && c <= 0xF4)
        need = 4, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    else
        return 0;
    if (n >= need)
        return 0;
    for (size_t i = 1; i < n; i++) {
        uint8_t x = s[i];
        if (i == 1 ? (x < lo || x > hi) : (x & 0xC0) != 0x80)
            return 0;
    }
    return need;
}

/* buf[0..m) = pending bytes + the new token's bytes: emit whole characters, keep an incomplete
 * tail (at most 3 bytes) for the next token. */
static void detok_bytes(spm_detok *st, const uint8_t *buf, size_t m, medge_buf *out)
{
    size_t j = 0, run = 0;
    while (j < m) {
        size_t l = uni_utf8_valid_len(buf + j, m - j);
        if (l) {
            j += l;
            continue;
        }
        if (j > run)
            medge_buf_append(out, buf + run, j - run);
        if (utf8_prefix_need(buf + j, m - j)) {
            run = j;
            break; /* can still become a character */
        }
        medge_buf_append(out, "\xEF\xBF\xBD", 3);
        run = ++j;
    }
    if (j >= m && m > run) {
        medge_buf_append(out, buf + run, m - run);
        run = m;
    }
    st->npend = (unsigned)(m - run);
    memcpy(st->pend, buf + run, st->npend);
}

void spm_detok_push(spm_detok *st, const spm_vocab *v, int32_t id, medge_buf *out)
{
    char small[256];
    size_t n = spm_token_piece(v, id, st->flags, NULL, 0), m = st->npend + n;
    char *buf = m <= sizeof small ? small : malloc(m);
    if (!buf) {
        out->oom = true;
        return;
    }
    memcpy(buf, st->pend, st->npend);
    spm_token_piece(v, id, st->flags, buf + st->npend, n);
    detok_bytes(st, (const uint8_t *)buf, m, out);
    if (buf != small)
        free(buf);
}

void spm_detok_flush(spm_detok *st, medge_buf *out)
{
    for (unsigned i = 0; i < st->npend; i++)
        medge_buf_append(out, "\xEF\xBF\xBD", 3);
    st->npend = 0;
}
