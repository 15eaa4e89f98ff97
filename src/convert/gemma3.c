/* gemma3.c - see gemma3.h. The order of work: read and check everything (config, vocabulary,
 * every tensor's name, dtype and shape) before any output is created; then write the text GGUF
 * and the mmproj GGUF tensor by tensor through convert_write_tensor. Metadata keys are written
 * in the order llama.cpp's converter writes them, and tensors in its order (shard by shard in
 * file-name order, names sorted within a shard, as its safetensors reader lists them), so the
 * files match llama.cpp's byte for byte apart from the keys naming the model. */
#include "convert/gemma3.h"
#include "core/json.h"
#include "core/log.h"
#include "formats/spm_model.h"
#include "quant/types.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* llama.cpp token types (gguf TokenType) */
enum { TT_NORMAL = 1, TT_UNKNOWN = 2, TT_CONTROL = 3, TT_USER_DEFINED = 4, TT_UNUSED = 5, TT_BYTE = 6 };

/* ------------------------------------------------------------------ config */

typedef struct g3cfg {
    const char *path; /* config.json */
    /* text */
    int64_t n_embd, n_ff, n_layer, n_head, n_head_kv, head_dim, n_vocab, n_ctx, sliding_window;
    int sliding; /* some layer uses the sliding window */
    double eps, rope_theta, rope_local;
    int has_scaling;
    double scaling_factor;
    /* vision */
    int has_vision;
    int64_t v_embd, v_ff, v_layer, v_head, v_image, v_patch, v_chan, mm_tokens;
    double v_eps;
} g3cfg;

static medge_status cfg_int(const g3cfg *c, const json_value *o, const char *sect, const char *key, int64_t def,
                            int64_t lo, int64_t hi, int64_t *out)
{
    const json_value *v = o ? json_get(o, key) : NULL;
    if (!v || v->type == JSON_NULL) {
        *out = def;
        return MEDGE_OK;
    }
    int64_t x;
    if (v->type == JSON_NUMBER && v->is_int)
        x = v->i;
    else if (v->type == JSON_NUMBER && v->num == floor(v->num) && fabs(v->num) < 9e15)
        x = (int64_t)v->num;
    else
        return medge_err(MEDGE_ERR_FORMAT, "%s: %s%s must be an integer", c->path, sect, key);
    if (x < lo || x > hi)
        return medge_err(MEDGE_ERR_RANGE, "%s: %s%s = %lld is out of range [%lld, %lld]", c->path, sect, key, (long long)x,
                         (long long)lo, (long long)hi);
    *out = x;
    return MEDGE_OK;
}

static medge_status cfg_num(const g3cfg *c, const json_value *o, const char *sect, const char *key, double def, double *out)
{
    const json_value *v = o ? json_get(o, key) : NULL;
    if (!v || v->type == JSON_NULL) {
        *out = def;
        return MEDGE_OK;
    }
    if (v->type != JSON_NUMBER || !isfinite(v->num))
        return medge_err(MEDGE_ERR_FORMAT, "%s: %s%s must be a number", c->path, sect, key);
    *out = v->num;
    return MEDGE_OK;
}

#define BIG ((int64_t)1 << 31)

static medge_status read_config(const char *dir, g3cfg *c, json_doc **doc_out)
{
    memset(c, 0, sizeof *c);
    char *path = medge_path_join(dir, "config.json");
    if (!path)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    c->path = path;
    json_doc *doc;
    medge_status rc = json_parse_file(path, &doc);
    if (rc != MEDGE_OK)
        return rc;
    *doc_out = doc;
    const json_value *root = json_root(doc);
    if (root->type != JSON_OBJECT)
        return medge_err(MEDGE_ERR_FORMAT, "%s: not a JSON object", path);
    const char *mt = json_get_str(root, "model_type");
    const json_value *archs = json_get(root, "architectures");
    const char *arch = archs && archs->type == JSON_ARRAY && archs->len && archs->items[0].type == JSON_STRING
                           ? archs->items[0].s
                           : NULL;
    const json_value *tc, *vc;
    const char *ts = "", *vs = "";
    if (mt && strcmp(mt, "gemma3") == 0) {
        tc = json_get(root, "text_config");
        vc = json_get(root, "vision_config");
        if (tc && tc->type != JSON_OBJECT && tc->type != JSON_NULL)
            return medge_err(MEDGE_ERR_FORMAT, "%s: text_config must be an object", path);
        if (vc && vc->type != JSON_OBJECT && vc->type != JSON_NULL)
            return medge_err(MEDGE_ERR_FORMAT, "%s: vision_config must be an object", path);
        if (tc && tc->type == JSON_NULL)
            tc = NULL;
        if (vc && vc->type == JSON_NULL)
            vc = NULL;
        c->has_vision = 1;
        ts = "text_config.";
        vs = "vision_config.";
    } else if (mt && strcmp(mt, "gemma3_text") == 0) {
        tc = root;
        vc = NULL;
    } else {
        return medge_err(MEDGE_ERR_UNSUPPORTED,
                         "%s: model_type \"%s\"%s%s%s is not Gemma 3 (this converter handles model_type gemma3 and gemma3_text)",
                         path, mt ? mt : "(none)", arch ? " (" : "", arch ? arch : "", arch ? ")" : "");
    }
    const json_value *tco = tc; /* NULL: all defaults */
    /* Gemma3TextConfig defaults */
    MEDGE_TRY(cfg_int(c, tco, ts, "vocab_size", 262208, 1, BIG, &c->n_vocab));
    MEDGE_TRY(cfg_int(c, tco, ts, "hidden_size", 2304, 1, 1 << 20, &c->n_embd));
    MEDGE_TRY(cfg_int(c, tco, ts, "intermediate_size", 9216, 1, 1 << 24, &c->n_ff));
    MEDGE_TRY(cfg_int(c, tco, ts, "num_hidden_layers", 26, 1, 10000, &c->n_layer));
    MEDGE_TRY(cfg_int(c, tco, ts, "num_attention_heads", 8, 1, 4096, &c->n_head));
    MEDGE_TRY(cfg_int(c, tco, ts, "num_key_value_heads", 4, 1, 4096, &c->n_head_kv));
    MEDGE_TRY(cfg_int(c, tco, ts, "head_dim", 256, 1, 65536, &c->head_dim));
    MEDGE_TRY(cfg_int(c, tco, ts, "max_position_embeddings", 131072, 1, BIG, &c->n_ctx));
    MEDGE_TRY(cfg_num(c, tco, ts, "rms_norm_eps", 1e-6, &c->eps));
    MEDGE_TRY(cfg_num(c, tco, ts, "rope_local_base_freq", 10000.0, &c->rope_local));
    if (c->n_head % c->n_head_kv != 0)
        return medge_err(MEDGE_ERR_FORMAT, "%s: %snum_attention_heads %lld is not a multiple of num_key_value_heads %lld", path,
                         ts, (long long)c->n_head, (long long)c->n_head_kv);
    const json_value *swv = tco ? json_get(tco, "sliding_window") : NULL;
    int64_t pattern;
    MEDGE_TRY(cfg_int(c, tco, ts, "sliding_window", 4096, 1, BIG, &c->sliding_window));
    MEDGE_TRY(cfg_int(c, tco, ts, "sliding_window_pattern", 6, 1, 10000, &pattern));
    c->sliding = pattern != 1 && !(swv && swv->type == JSON_NULL);
    const json_value *lt = tco ? json_get(tco, "layer_types") : NULL;
    if (lt && lt->type == JSON_ARRAY) {
        int any = 0;
        for (size_t i = 0; i < lt->len; i++)
            if (lt->items[i].type == JSON_STRING && strcmp(lt->items[i].s, "sliding_attention") == 0)
                any = 1;
        c->sliding = any && !(swv && swv->type == JSON_NULL);
    }
    const json_value *sc = tco ? json_get(tco, "attn_logit_softcapping") : NULL;
    if (sc && sc->type != JSON_NULL)
        return medge_err(MEDGE_ERR_UNSUPPORTED, "%s: %sattn_logit_softcapping is set; Gemma 3 has none (llama.cpp refuses it too)", path, ts);
    /* rope: rope_theta + rope_scaling (transformers 4.x) or rope_parameters per layer type (5.x) */
    MEDGE_TRY(cfg_num(c, tco, ts, "rope_theta", 1000000.0, &c->rope_theta));
    const json_value *rs = tco ? json_get(tco, "rope_scaling") : NULL;
    const json_value *rp = tco ? json_get(tco, "rope_parameters") : NULL;
    if ((!rs || rs->type != JSON_OBJECT) && rp && rp->type == JSON_OBJECT) {
        const json_value *full = json_get(rp, "full_attention");
        const json_value *slide = json_get(rp, "sliding_attention");
        if (full && full->type == JSON_OBJECT) {
            rs = full;
            json_get_num(full, "rope_theta", &c->rope_theta);
        } else {
            rs = rp;
            json_get_num(rp, "rope_theta", &c->rope_theta);
        }
        if (slide && slide->type == JSON_OBJECT)
            json_get_num(slide, "rope_theta", &c->rope_local);
    }
    if (rs && rs->type == JSON_OBJECT) {
        const char *type = json_get_str(rs, "rope_type");
        if (!type)
            type = json_get_str(rs, "type");
        double f;
        if (type && strcmp(type, "linear") == 0 && json_get_num(rs, "factor", &f)) {
            c->has_scaling = 1;
            c->scaling_factor = f;
        } else if (type && strcmp(type, "default") != 0) {
            return medge_err(MEDGE_ERR_UNSUPPORTED, "%s: %srope_scaling type \"%s\" is not supported (linear only)", path, ts, type);
        }
    }
    if (c->has_vision) {
        const json_value *vco = vc;
        /* SiglipVisionConfig defaults */
        MEDGE_TRY(cfg_int(c, vco, vs, "hidden_size", 768, 1, 1 << 20, &c->v_embd));
        MEDGE_TRY(cfg_int(c, vco, vs, "intermediate_size", 3072, 1, 1 << 24, &c->v_ff));
        MEDGE_TRY(cfg_int(c, vco, vs, "num_hidden_layers", 12, 1, 10000, &c->v_layer));
        MEDGE_TRY(cfg_int(c, vco, vs, "num_attention_heads", 12, 1, 4096, &c->v_head));
        MEDGE_TRY(cfg_int(c, vco, vs, "num_channels", 3, 1, 64, &c->v_chan));
        MEDGE_TRY(cfg_int(c, vco, vs, "image_size", 224, 1, 1 << 16, &c->v_image));
        MEDGE_TRY(cfg_int(c, vco, vs, "patch_size", 16, 1, 1 << 16, &c->v_patch));
        MEDGE_TRY(cfg_num(c, vco, vs, "layer_norm_eps", 1e-6, &c->v_eps));
        MEDGE_TRY(cfg_int(c, root, "", "mm_tokens_per_image", 256, 1, 1 << 24, &c->mm_tokens));
        if (c->v_image % c->v_patch != 0)
            return medge_err(MEDGE_ERR_FORMAT, "%s: vision_config.image_size %lld is not a multiple of patch_size %lld", path,
                             (long long)c->v_image, (long long)c->v_patch);
    }
    return MEDGE_OK;
}

/* ------------------------------------------------------------------ vocabulary */

enum { SP_BOS, SP_EOS, SP_UNK, SP_SEP, SP_PAD, SP_CLS, SP_MASK, SP_N };
static const char *const sp_names[SP_N] = {"bos", "eos", "unk", "sep", "pad", "cls", "mask"};

typedef struct g3vocab {
    int64_t n;
    char **tok;
    float *score;
    int32_t *type;
    /* special ids and add_* flags, in llama.cpp's insertion order */
    int n_ids, ids_typ[SP_N];
    uint32_t ids[SP_N];
    int n_add, add_typ[SP_N];
    bool add[SP_N];
    char *chat_template;   /* NULL: none */
    json_doc *tmpl_doc;    /* keeps a list of named templates alive */
    const json_value *tmpl_list;
} g3vocab;

static void vocab_free(g3vocab *v)
{
    if (v->tok)
        for (int64_t i = 0; i < v->n; i++)
            free(v->tok[i]);
    free(v->tok);
    free(v->score);
    free(v->type);
    free(v->chat_template);
    json_free(v->tmpl_doc);
    memset(v, 0, sizeof *v);
}

static medge_status set_tok(g3vocab *v, int64_t id, const char *s, size_t n)
{
    char *t = malloc(n + 1);
    if (!t)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    memcpy(t, s, n);
    t[n] = 0;
    free(v->tok[id]);
    v->tok[id] = t;
    return MEDGE_OK;
}

static int file_exists(const char *dir, const char *name)
{
    char *p = medge_path_join(dir, name);
    int ok = p && access(p, F_OK) == 0;
    free(p);
    return ok;
}

static medge_status parse_json_in(const char *dir, const char *name, json_doc **out)
{
    char *p = medge_path_join(dir, name);
    if (!p)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    medge_status rc = json_parse_file(p, out);
    free(p);
    return rc;
}

/* Simple string -> int hash map (open addressing) for merges and vocab lookups. */
typedef struct smap {
    const char **key;
    size_t *klen;
    int64_t *val;
    size_t cap;
} smap;

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static medge_status smap_init(smap *m, size_t n)
{
    size_t cap = 16;
    while (cap < n * 2 + 16)
        cap <<= 1;
    m->cap = cap;
    m->key = calloc(cap, sizeof *m->key);
    m->klen = calloc(cap, sizeof *m->klen);
    m->val = calloc(cap, sizeof *m->val);
    if (!m->key || !m->klen || !m->val)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    return MEDGE_OK;
}

static void smap_free(smap *m)
{
    free(m->key);
    free(m->klen);
    free(m->val);
    memset(m, 0, sizeof *m);
}

/* Insert if absent (keys must outlive the map). */
static void smap_put(smap *m, const char *k, size_t n, int64_t v)
{
    size_t i = (size_t)hash_bytes(k, n) & (m->cap - 1);
    while (m->key[i]) {
        if (m->klen[i] == n && memcmp(m->key[i], k, n) == 0)
            return;
        i = (i + 1) & (m->cap - 1);
    }
    m->key[i] = k;
    m->klen[i] = n;
    m->val[i] = v;
}

static int smap_get(const smap *m, const char *k, size_t n, int64_t *v)
{
    size_t i = (size_t)hash_bytes(k, n) & (m->cap - 1);
    while (m->key[i]) {
        if (m->klen[i] == n && memcmp(m->key[i], k, n) == 0) {
            *v = m->val[i];
            return 1;
        }
        i = (i + 1) & (m->cap - 1);
    }
    return 0;
}

static int is_byte_piece(const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    return n == 6 && memcmp(s, "<0x", 3) == 0 && s[5] == '>' && strchr(hex, s[3]) && s[3] && strchr(hex, s[4]) && s[4];
}

static medge_status vocab_from_spm(g3vocab *v, const char *dir)
{
    char *path = medge_path_join(dir, "tokenizer.model");
    if (!path)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    spm_model *sp;
    medge_status rc = spm_model_load(path, &sp);
    if (rc != MEDGE_OK) {
        free(path);
        return rc;
    }
    if (sp->n_pieces > (size_t)v->n)
        MEDGE_LOGW("%s: %zu pieces but vocab_size is %lld: ids from %lld on are dropped", path, sp->n_pieces,
                   (long long)v->n, (long long)v->n);
    for (size_t i = 0; i < sp->n_pieces && (int64_t)i < v->n && rc == MEDGE_OK; i++) {
        const spm_piece *pc = &sp->pieces[i];
        rc = set_tok(v, (int64_t)i, pc->text, pc->len);
        v->score[i] = pc->score;
        switch (pc->type) {
        case SPM_UNKNOWN: v->type[i] = TT_UNKNOWN; break;
        case SPM_CONTROL: v->type[i] = TT_CONTROL; break;
        case SPM_UNUSED: v->type[i] = TT_UNUSED; break;
        case SPM_BYTE: v->type[i] = TT_BYTE; break;
        default: v->type[i] = TT_NORMAL; break;
        }
    }
    spm_model_free(sp);
    free(path);
    return rc;
}

/* tokenizer.json (BPE with byte fallback): pieces from model.vocab; the score of a normal piece is
 * minus the rank of the first merge that produces it, or -(n_merges + id) when no merge does
 * (single characters), which orders merges exactly as the BPE model does. */
static medge_status vocab_from_tokenizer_json(g3vocab *v, const char *path, const json_value *root)
{
    const json_value *model = json_get(root, "model");
    const char *mtype = model ? json_get_str(model, "type") : NULL;
    if (!model || model->type != JSON_OBJECT || !mtype || strcmp(mtype, "BPE") != 0)
        return medge_err(MEDGE_ERR_UNSUPPORTED, "%s: model.type is \"%s\"; a SentencePiece-style BPE tokenizer is expected", path,
                         mtype ? mtype : "(none)");
    const json_value *vocab = json_get(model, "vocab");
    const json_value *merges = json_get(model, "merges");
    if (!vocab || vocab->type != JSON_OBJECT)
        return medge_err(MEDGE_ERR_FORMAT, "%s: model.vocab is not an object", path);
    if (merges && merges->type != JSON_ARRAY)
        return medge_err(MEDGE_ERR_FORMAT, "%s: model.merges is not an array", path);
    bool byte_fallback = false;
    json_get_bool(model, "byte_fallback", &byte_fallback);
    const char *unk = json_get_str(model, "unk_token");
    size_t n_merges = merges ? merges->len : 0;
    for (size_t r = 0; r < n_merges; r++) {
        const json_value *m = &merges->items[r];
        int ok = (m->type == JSON_ARRAY && m->len == 2 && m->items[0].type == JSON_STRING && m->items[1].type == JSON_STRING) ||
                 (m->type == JSON_STRING && memchr(m->s, ' ', m->len));
        if (!ok)
            return medge_err(MEDGE_ERR_FORMAT, "%s: model.merges[%zu] is not a pair of strings", path, r);
    }
    medge_status rc;

    /* Map vocab text -> id, then walk the merges once: for each merge, the merged text's id
     * gets this rank unless it already has a smaller one. */
    smap ids = {0};
    MEDGE_TRY(smap_init(&ids, vocab->len));
    int64_t *first = malloc((size_t)(vocab->len ? vocab->len : 1) * sizeof *first);
    if (!first) {
        smap_free(&ids);
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    }
    int64_t max_id = -1;
    for (size_t i = 0; i < vocab->len; i++) {
        const json_member *mb = &vocab->members[i];
        if (mb->value.type != JSON_NUMBER || !mb->value.is_int || mb->value.i < 0 || mb->value.i >= BIG) {
            free(first);
            smap_free(&ids);
            return medge_err(MEDGE_ERR_FORMAT, "%s: model.vocab[\"%.40s\"] is not a valid id", path, mb->key);
        }
        smap_put(&ids, mb->key, mb->key_len, mb->value.i);
        first[i] = -1;
        if (mb->value.i > max_id)
            max_id = mb->value.i;
    }
    /* rank per vocab member index: map id -> member index through a second table */
    int64_t n_ids = max_id + 1;
    int64_t *rank_of_id = malloc((size_t)(n_ids > 0 ? n_ids : 1) * sizeof *rank_of_id);
    char *tmp = NULL;
    size_t tcap = 0;
    rc = MEDGE_OK;
    if (!rank_of_id)
        rc = medge_err(MEDGE_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; rc == MEDGE_OK && i < n_ids; i++)
        rank_of_id[i] = -1;
    for (size_t r = 0; r < n_merges && rc == MEDGE_OK; r++) {
        const json_value *m = &merges->items[r];
        const char *a, *b;
        size_t na, nb;
        if (m->type == JSON_ARRAY) {
            a = m->items[0].s;
            na = m->items[0].len;
            b = m->items[1].s;
            nb = m->items[1].len;
        } else {
            const char *sp = memchr(m->s, ' ', m->len);
            a = m->s;
            na = (size_t)(sp - m->s);
            b = sp + 1;
            nb = m->len - na - 1;
        }
        if (na + nb > tcap) {
            free(tmp);
            tcap = (na + nb) * 2 + 64;
            tmp = malloc(tcap);
            if (!tmp) {
                rc = medge_err(MEDGE_ERR_NOMEM, "out of memory");
                break;
            }
        }
        memcpy(tmp, a, na);
        memcpy(tmp + na, b, nb);
        int64_t id;
        if (smap_get(&ids, tmp, na + nb, &id) && rank_of_id[id] < 0)
            rank_of_id[id] = (int64_t)r;
    }
    free(tmp);
    for (size_t i = 0; i < vocab->len && rc == MEDGE_OK; i++) {
        const json_member *mb = &vocab->members[i];
        int64_t id = mb->value.i;
        if (id >= v->n) {
            MEDGE_LOGW("%s: token id %lld is beyond vocab_size %lld: dropped", path, (long long)id, (long long)v->n);
            continue;
        }
        rc = set_tok(v, id, mb->key, mb->key_len);
        if (byte_fallback && is_byte_piece(mb->key, mb->key_len)) {
            v->type[id] = TT_BYTE;
            v->score[id] = 0.0f;
        } else if (unk && strcmp(unk, mb->key) == 0) {
            v->type[id] = TT_UNKNOWN;
            v->score[id] = 0.0f;
        } else {
            v->type[id] = TT_NORMAL;
            v->score[id] = rank_of_id[id] >= 0 ? -(float)rank_of_id[id] : -(float)((int64_t)n_merges + id);
        }
    }
    free(rank_of_id);
    free(first);
    smap_free(&ids);
    return rc;
}

/* gguf-py TextModel.does_token_look_special */
static int looks_special(const char *t)
{
    size_t n = strlen(t);
    if (!strcmp(t, "<pad>") || !strcmp(t, "<mask>") || !strcmp(t, "<2mass>") || !strcmp(t, "[@BOS@]"))
        return 1;
    if (n >= 4 && !strncmp(t, "<|", 2) && !strcmp(t + n - 2, "|>"))
        return 1;
    /* "<｜" ... "｜>" (U+FF5C FULLWIDTH VERTICAL LINE) */
    if (n >= 8 && !strncmp(t, "<\xef\xbd\x9c", 4) && !strcmp(t + n - 4, "\xef\xbd\x9c>"))
        return 1;
    if (n >= 8 && !strncmp(t, "<unused", 7) && t[n - 1] == '>')
        return 1;
    return 0;
}

/* One added token (tokenizer_config.json added_tokens_decoder rule). */
static medge_status apply_added(g3vocab *v, int64_t id, const char *content, size_t len, bool special)
{
    if (id < 0 || id >= v->n) {
        MEDGE_LOGW("added token %lld (%.40s) is beyond vocab_size %lld: ignored", (long long)id, content, (long long)v->n);
        return MEDGE_OK;
    }
    if (special || looks_special(content)) {
        v->type[id] = TT_CONTROL;
        MEDGE_TRY(set_tok(v, id, content, len));
    } else {
        /* user-defined: U+2581 becomes a plain space */
        char *t = malloc(len + 1);
        if (!t)
            return medge_err(MEDGE_ERR_NOMEM, "out of memory");
        size_t k = 0;
        for (size_t i = 0; i < len; i++) {
            if (i + 2 < len && (unsigned char)content[i] == 0xE2 && (unsigned char)content[i + 1] == 0x96 &&
                (unsigned char)content[i + 2] == 0x81) {
                t[k++] = ' ';
                i += 2;
            } else {
                t[k++] = content[i];
            }
        }
        t[k] = 0;
        free(v->tok[id]);
        v->tok[id] = t;
        v->type[id] = TT_USER_DEFINED;
    }
    v->score[id] = -1000.0f;
    return MEDGE_OK;
}

static void set_special(g3vocab *v, int typ, const json_value *idv)
{
    if (!idv || idv->type != JSON_NUMBER || !idv->is_int || idv->i < 0 || idv->i >= v->n)
        return;
    for (int i = 0; i < v->n_ids; i++)
        if (v->ids_typ[i] == typ)
            return;
    v->ids_typ[v->n_ids] = typ;
    v->ids[v->n_ids++] = (uint32_t)idv->i;
}

static void set_add(g3vocab *v, int typ, bool val)
{
    for (int i = 0; i < v->n_add; i++)
        if (v->add_typ[i] == typ) {
            v->add[i] = val;
            return;
        }
    v->add_typ[v->n_add] = typ;
    v->add[v->n_add++] = val;
}

static const char *tok_content(const json_value *e)
{
    if (!e)
        return NULL;
    if (e->type == JSON_STRING)
        return e->s;
    if (e->type == JSON_OBJECT)
        return json_get_str(e, "content");
    return NULL;
}

static const char *tmpl_special_id(const json_value *item)
{
    const json_value *st = json_get(item, "SpecialToken");
    return st ? json_get_str(st, "id") : NULL;
}
static const char *tmpl_seq_id(const json_value *item)
{
    const json_value *st = json_get(item, "Sequence");
    return st ? json_get_str(st, "id") : NULL;
}
static int str_eq(const char *a, const char *b) { return a && b && strcmp(a, b) == 0; }

/* gguf-py SpecialVocab: add_* flags from tokenizer.json's TemplateProcessing post-processor. */
static void special_from_post_processor(g3vocab *v, const json_value *tj, const json_value *tcfg)
{
    const json_value *pp = json_get(tj, "post_processor");
    if (!pp || pp->type != JSON_OBJECT)
        return;
    const char *bos = tcfg ? tok_content(json_get(tcfg, "bos_token")) : NULL;
    const char *eos = tcfg ? tok_content(json_get(tcfg, "eos_token")) : NULL;
    const char *sep = tcfg ? tok_content(json_get(tcfg, "sep_token")) : NULL;
    const char *cls = tcfg ? tok_content(json_get(tcfg, "cls_token")) : NULL;
    if (!bos && cls)
        bos = cls;
    if (!eos && sep)
        eos = sep;
    const json_value *procs = json_get(pp, "processors");
    size_t np = procs && procs->type == JSON_ARRAY ? procs->len : 1;
    for (size_t k = 0; k < np; k++) {
        const json_value *p = procs && procs->type == JSON_ARRAY ? &procs->items[k] : pp;
        const char *type = json_get_str(p, "type");
        if (str_eq(type, "RobertaProcessing")) {
            set_add(v, SP_BOS, true);
            set_add(v, SP_EOS, true);
            set_add(v, SP_SEP, true);
            continue;
        }
        if (!str_eq(type, "TemplateProcessing"))
            continue;
        const json_value *single = json_get(p, "single"), *pair = json_get(p, "pair");
        const char *first = NULL, *last = NULL;
        if (single && single->type == JSON_ARRAY && single->len > 1) {
            if ((first = tmpl_special_id(&single->items[0]))) {
                if (!tcfg)
                    bos = first;
                set_add(v, SP_BOS, str_eq(first, bos) || str_eq(first, cls));
            }
            if ((last = tmpl_special_id(&single->items[single->len - 1]))) {
                if (!tcfg)
                    eos = last;
                else if (!str_eq(last, eos))
                    eos = last;
                set_add(v, SP_EOS, str_eq(last, eos));
            }
        }
        if (pair && pair->type == JSON_ARRAY && pair->len) {
            size_t start = first && str_eq(tmpl_special_id(&pair->items[0]), first) ? 1 : 0;
            size_t stop = pair->len;
            if (last && str_eq(tmpl_special_id(&pair->items[pair->len - 1]), last))
                stop--;
            if (stop > start) {
                const char *a = tmpl_seq_id(&pair->items[start]);
                const char *b = tmpl_seq_id(&pair->items[stop - 1]);
                if (str_eq(a, "A") && str_eq(b, "B") && stop - start > 2) {
                    bool add_sep = false;
                    const char *e = tmpl_special_id(&pair->items[start + 1]);
                    if (e && (str_eq(e, sep) || str_eq(e, eos)) && !last)
                        add_sep = true;
                    if (stop - start - 2 == 2) {
                        e = tmpl_special_id(&pair->items[start + 2]);
                        if (e && (str_eq(e, sep) || str_eq(e, eos)))
                            add_sep = true;
                    }
                    set_add(v, SP_SEP, add_sep);
                }
            }
        }
    }
}

static int64_t find_token(const g3vocab *v, const char *s)
{
    for (int64_t i = 0; i < v->n; i++)
        if (v->tok[i] && strcmp(v->tok[i], s) == 0)
            return i;
    return -1;
}

static medge_status read_vocab(const char *dir, const g3cfg *c, json_doc *cfgdoc, g3vocab *v)
{
    memset(v, 0, sizeof *v);
    v->n = c->n_vocab;
    v->tok = calloc((size_t)v->n, sizeof *v->tok);
    v->score = malloc((size_t)v->n * sizeof *v->score);
    v->type = malloc((size_t)v->n * sizeof *v->type);
    if (!v->tok || !v->score || !v->type)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory for %lld tokens", (long long)v->n);
    for (int64_t i = 0; i < v->n; i++) {
        char b[32];
        int n = snprintf(b, sizeof b, "[PAD%lld]", (long long)i);
        MEDGE_TRY(set_tok(v, i, b, (size_t)n));
        v->score[i] = -10000.0f;
        v->type[i] = TT_UNUSED;
    }
    int have_model = file_exists(dir, "tokenizer.model");
    int have_json = file_exists(dir, "tokenizer.json");
    json_doc *tjdoc = NULL, *tcdoc = NULL, *atdoc = NULL;
    const json_value *tj = NULL, *tcfg = NULL;
    medge_status rc = MEDGE_OK;
    char *tj_path = medge_path_join(dir, "tokenizer.json");
    if (!tj_path)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    if (!have_model && !have_json) {
        rc = medge_err(MEDGE_ERR_NOT_FOUND, "%s: neither tokenizer.model nor tokenizer.json found", dir);
        goto done;
    }
    if (have_json) {
        rc = json_parse_file(tj_path, &tjdoc);
        if (rc != MEDGE_OK)
            goto done;
        tj = json_root(tjdoc);
        if (tj->type != JSON_OBJECT) {
            rc = medge_err(MEDGE_ERR_FORMAT, "%s: not a JSON object", tj_path);
            goto done;
        }
    }
    if (file_exists(dir, "tokenizer_config.json")) {
        rc = parse_json_in(dir, "tokenizer_config.json", &tcdoc);
        if (rc != MEDGE_OK)
            goto done;
        tcfg = json_root(tcdoc);
        if (tcfg->type != JSON_OBJECT) {
            rc = medge_err(MEDGE_ERR_FORMAT, "%s/tokenizer_config.json: not a JSON object", dir);
            goto done;
        }
    }
    rc = have_model ? vocab_from_spm(v, dir) : vocab_from_tokenizer_json(v, tj_path, tj);
    if (rc != MEDGE_OK)
        goto done;
    /* added_tokens.json: {text: id} -> user defined */
    if (file_exists(dir, "added_tokens.json")) {
        rc = parse_json_in(dir, "added_tokens.json", &atdoc);
        if (rc != MEDGE_OK)
            goto done;
        const json_value *at = json_root(atdoc);
        for (size_t i = 0; at->type == JSON_OBJECT && i < at->len && rc == MEDGE_OK; i++) {
            const json_member *mb = &at->members[i];
            if (mb->value.type != JSON_NUMBER || !mb->value.is_int)
                continue;
            if (mb->value.i < 0 || mb->value.i >= v->n)
                continue;
            rc = set_tok(v, mb->value.i, mb->key, mb->key_len);
            v->score[mb->value.i] = -1000.0f;
            v->type[mb->value.i] = TT_USER_DEFINED;
        }
        if (rc != MEDGE_OK)
            goto done;
    }
    /* added tokens: tokenizer_config.json added_tokens_decoder (as llama.cpp); without it (the
     * tokenizer.json-only path), tokenizer.json's added_tokens */
    const json_value *atd = tcfg ? json_get(tcfg, "added_tokens_decoder") : NULL;
    if (atd && atd->type == JSON_OBJECT) {
        for (size_t i = 0; i < atd->len && rc == MEDGE_OK; i++) {
            const json_member *mb = &atd->members[i];
            char *end;
            long long id = strtoll(mb->key, &end, 10);
            const json_value *cv = json_get(&mb->value, "content");
            if (*end || end == mb->key || !cv || cv->type != JSON_STRING) {
                rc = medge_err(MEDGE_ERR_FORMAT, "%s/tokenizer_config.json: added_tokens_decoder[\"%.40s\"] is malformed", dir, mb->key);
                break;
            }
            bool special = false;
            json_get_bool(&mb->value, "special", &special);
            rc = apply_added(v, id, cv->s, cv->len, special);
        }
    } else if (!have_model && tj) {
        const json_value *at = json_get(tj, "added_tokens");
        for (size_t i = 0; at && at->type == JSON_ARRAY && i < at->len && rc == MEDGE_OK; i++) {
            const json_value *e = &at->items[i];
            int64_t id;
            const json_value *cv = json_get(e, "content");
            if (!json_get_int(e, "id", &id) || !cv || cv->type != JSON_STRING) {
                rc = medge_err(MEDGE_ERR_FORMAT, "%s: added_tokens[%zu] is malformed", tj_path, i);
                break;
            }
            bool special = false;
            json_get_bool(e, "special", &special);
            rc = apply_added(v, id, cv->s, cv->len, special);
        }
    }
    if (rc != MEDGE_OK)
        goto done;
    /* special token ids and add_* flags (gguf-py SpecialVocab) */
    if (tj)
        special_from_post_processor(v, tj, tcfg);
    if (tcfg) {
        const json_value *added = tj ? json_get(tj, "added_tokens") : NULL;
        for (int typ = 0; typ < SP_N; typ++) {
            char key[32];
            snprintf(key, sizeof key, "add_%s_token", sp_names[typ]);
            bool b;
            if (json_get_bool(tcfg, key, &b))
                set_add(v, typ, b);
            snprintf(key, sizeof key, "%s_token", sp_names[typ]);
            const char *content = tok_content(json_get(tcfg, key));
            if (!content)
                continue;
            if (added && added->type == JSON_ARRAY) {
                for (size_t i = 0; i < added->len; i++) {
                    const char *ac = json_get_str(&added->items[i], "content");
                    if (str_eq(ac, content)) {
                        set_special(v, typ, json_get(&added->items[i], "id"));
                        break;
                    }
                }
            } else if (!tj) {
                /* no tokenizer.json to look the text up in: use the vocabulary itself */
                int64_t id = find_token(v, content);
                if (id >= 0) {
                    json_value jv = {.type = JSON_NUMBER, .is_int = true, .i = id, .num = (double)id};
                    set_special(v, typ, &jv);
                }
            }
        }
    }
    {
        const json_value *root = json_root(cfgdoc);
        const json_value *tc = json_get(root, "text_config");
        for (int typ = 0; typ < SP_N; typ++) {
            char key[32];
            snprintf(key, sizeof key, "%s_token_id", sp_names[typ]);
            const json_value *idv = json_get(root, key);
            if (!idv && tc && tc->type == JSON_OBJECT)
                idv = json_get(tc, key);
            set_special(v, typ, idv);
        }
    }
    /* chat template: tokenizer_config.json, else chat_template.jinja / chat_template.json */
    {
        const json_value *ct = tcfg ? json_get(tcfg, "chat_template") : NULL;
        json_doc *cdoc = NULL;
        if (!ct && file_exists(dir, "chat_template.jinja")) {
            char *p = medge_path_join(dir, "chat_template.jinja");
            medge_map m;
            rc = p ? medge_read_file(p, &m) : medge_err(MEDGE_ERR_NOMEM, "out of memory");
            free(p);
            if (rc != MEDGE_OK)
                goto done;
            v->chat_template = malloc((size_t)m.size + 1);
            if (v->chat_template) {
                if (m.size)
                    memcpy(v->chat_template, m.data, (size_t)m.size);
                v->chat_template[m.size] = 0;
            }
            medge_unmap(&m);
            if (!v->chat_template) {
                rc = medge_err(MEDGE_ERR_NOMEM, "out of memory");
                goto done;
            }
        } else if (!ct && file_exists(dir, "chat_template.json")) {
            rc = parse_json_in(dir, "chat_template.json", &cdoc);
            if (rc != MEDGE_OK)
                goto done;
            ct = json_get(json_root(cdoc), "chat_template");
        }
        if (ct && ct->type == JSON_STRING) {
            v->chat_template = malloc(ct->len + 1);
            if (!v->chat_template) {
                json_free(cdoc);
                rc = medge_err(MEDGE_ERR_NOMEM, "out of memory");
                goto done;
            }
            memcpy(v->chat_template, ct->s, ct->len + 1);
        } else if (ct && ct->type == JSON_ARRAY) {
            /* named templates: "default" becomes tokenizer.chat_template; keep the document */
            v->tmpl_list = ct;
            if (cdoc) {
                v->tmpl_doc = cdoc;
                cdoc = NULL;
            } else {
                v->tmpl_doc = tcdoc;
                tcdoc = NULL;
            }
        }
        json_free(cdoc);
    }
done:
    free(tj_path);
    json_free(tjdoc);
    json_free(tcdoc);
    json_free(atdoc);
    return rc;
}

static medge_status write_vocab(gguf_writer *w, const g3vocab *v)
{
    MEDGE_TRY(gguf_writer_set_str(w, "tokenizer.ggml.model", "llama"));
    MEDGE_TRY(gguf_writer_set_str(w, "tokenizer.ggml.pre", "default"));
    MEDGE_TRY(gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)v->tok, (uint64_t)v->n));
    MEDGE_TRY(gguf_writer_set_arr(w, "tokenizer.ggml.scores", GGUF_F32, v->score, (uint64_t)v->n));
    MEDGE_TRY(gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_I32, v->type, (uint64_t)v->n));
    static const char *const id_keys[SP_N] = {
        "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.unknown_token_id",
        "tokenizer.ggml.seperator_token_id", "tokenizer.ggml.padding_token_id", "tokenizer.ggml.cls_token_id",
        "tokenizer.ggml.mask_token_id"};
    for (int i = 0; i < v->n_ids; i++)
        MEDGE_TRY(gguf_writer_set_u32(w, id_keys[v->ids_typ[i]], v->ids[i]));
    for (int i = 0; i < v->n_add; i++) {
        char key[64];
        snprintf(key, sizeof key, "tokenizer.ggml.add_%s_token", sp_names[v->add_typ[i]]);
        MEDGE_TRY(gguf_writer_set_bool(w, key, v->add[i]));
    }
    if (v->chat_template)
        MEDGE_TRY(gguf_writer_set_str(w, "tokenizer.chat_template", v->chat_template));
    if (v->tmpl_list) {
        for (size_t i = 0; i < v->tmpl_list->len; i++) {
            const json_value *e = &v->tmpl_list->items[i];
            const char *name = json_get_str(e, "name"), *t = json_get_str(e, "template");
            if (!name || !t)
                continue;
            char key[256];
            if (strcmp(name, "default") == 0)
                snprintf(key, sizeof key, "tokenizer.chat_template");
            else
                snprintf(key, sizeof key, "tokenizer.chat_template.%.200s", name);
            MEDGE_TRY(gguf_writer_set_str(w, key, t));
        }
    }
    return gguf_writer_set_bool(w, "tokenizer.ggml.add_space_prefix", false);
}

/* ------------------------------------------------------------------ tensors */

typedef struct g3tensor {
    const st_tensor *st;
    char name[GGUF_MAX_NAME];
    uint32_t type;
    uint32_t n_dims;
    int64_t ne[GGUF_MAX_DIMS];
    int64_t rows; /* rows written (ne1*ne2*ne3) */
    float add;
    int order;    /* index of its shard in file-name order */
} g3tensor;

typedef struct g3list {
    g3tensor *t;
    size_t n, cap;
    uint64_t n_params, bytes;
} g3list;

static medge_status list_add(g3list *l, const g3tensor *t)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        g3tensor *p = realloc(l->t, cap * sizeof *p);
        if (!p)
            return medge_err(MEDGE_ERR_NOMEM, "out of memory");
        l->t = p;
        l->cap = cap;
    }
    l->t[l->n++] = *t;
    return MEDGE_OK;
}

static int cmp_tensor(const void *a, const void *b)
{
    const g3tensor *x = a, *y = b;
    if (x->order != y->order)
        return x->order < y->order ? -1 : 1;
    return strcmp(x->st->name, y->st->name);
}

static int ends_with(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

/* Check an HF tensor's dtype and shape against what the config implies. */
static medge_status check_shape(const st_tensor *t, int nd, const int64_t *want)
{
    if (t->dtype != ST_BF16 && t->dtype != ST_F16 && t->dtype != ST_F32)
        return medge_err(MEDGE_ERR_UNSUPPORTED, "%s: tensor %s has dtype %s; BF16, F16 or F32 expected", t->file, t->name,
                         st_dtype_name(t->dtype));
    int ok = t->n_dims == nd;
    for (int i = 0; ok && i < nd; i++)
        if (want[i] >= 0 && t->shape[i] != want[i])
            ok = 0;
    if (!ok) {
        char got[128] = "", exp[128] = "";
        size_t k = 0, e = 0;
        for (int i = 0; i < t->n_dims && k < sizeof got - 24; i++)
            k += (size_t)snprintf(got + k, sizeof got - k, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
        for (int i = 0; i < nd && e < sizeof exp - 24; i++) {
            if (want[i] >= 0)
                e += (size_t)snprintf(exp + e, sizeof exp - e, "%s%lld", i ? ", " : "", (long long)want[i]);
            else
                e += (size_t)snprintf(exp + e, sizeof exp - e, "%s*", i ? ", " : "");
        }
        return medge_err(MEDGE_ERR_MISMATCH, "%s: tensor %s has shape [%s]; config.json implies [%s]", t->file, t->name, got, exp);
    }
    return MEDGE_OK;
}

typedef struct map_rule {
    const char *hf;   /* suffix after the layer prefix (or whole name when global) */
    const char *gguf; /* GGUF name (with %d for the layer) */
    int nd;
    int dims[4];      /* symbolic dims, see dimval */
    int shift;        /* +1 */
} map_rule;

/* symbolic dimensions */
enum { D_E = 1, D_FF, D_QD, D_KVD, D_HD, D_VOC, D_VE, D_VFF, D_CH, D_P, D_NPOS, D_ANY };

static int64_t dimval(const g3cfg *c, int d)
{
    switch (d) {
    case D_E: return c->n_embd;
    case D_FF: return c->n_ff;
    case D_QD: return c->n_head * c->head_dim;
    case D_KVD: return c->n_head_kv * c->head_dim;
    case D_HD: return c->head_dim;
    case D_VE: return c->v_embd;
    case D_VFF: return c->v_ff;
    case D_CH: return c->v_chan;
    case D_P: return c->v_patch;
    case D_NPOS: return (c->v_image / c->v_patch) * (c->v_image / c->v_patch);
    default: return -1;
    }
}

static const map_rule text_layer_rules[] = {
    {"input_layernorm.weight", "blk.%d.attn_norm.weight", 1, {D_E}, 1},
    {"self_attn.q_proj.weight", "blk.%d.attn_q.weight", 2, {D_QD, D_E}, 0},
    {"self_attn.k_proj.weight", "blk.%d.attn_k.weight", 2, {D_KVD, D_E}, 0},
    {"self_attn.v_proj.weight", "blk.%d.attn_v.weight", 2, {D_KVD, D_E}, 0},
    {"self_attn.o_proj.weight", "blk.%d.attn_output.weight", 2, {D_E, D_QD}, 0},
    {"self_attn.q_norm.weight", "blk.%d.attn_q_norm.weight", 1, {D_HD}, 1},
    {"self_attn.k_norm.weight", "blk.%d.attn_k_norm.weight", 1, {D_HD}, 1},
    {"post_attention_layernorm.weight", "blk.%d.post_attention_norm.weight", 1, {D_E}, 1},
    {"pre_feedforward_layernorm.weight", "blk.%d.ffn_norm.weight", 1, {D_E}, 1},
    {"post_feedforward_layernorm.weight", "blk.%d.post_ffw_norm.weight", 1, {D_E}, 1},
    {"mlp.gate_proj.weight", "blk.%d.ffn_gate.weight", 2, {D_FF, D_E}, 0},
    {"mlp.up_proj.weight", "blk.%d.ffn_up.weight", 2, {D_FF, D_E}, 0},
    {"mlp.down_proj.weight", "blk.%d.ffn_down.weight", 2, {D_E, D_FF}, 0},
};
#define N_TEXT_LAYER_RULES (sizeof text_layer_rules / sizeof text_layer_rules[0])

static const map_rule vis_layer_rules[] = {
    {"layer_norm1.weight", "v.blk.%d.ln1.weight", 1, {D_VE}, 0},
    {"layer_norm1.bias", "v.blk.%d.ln1.bias", 1, {D_VE}, 0},
    {"layer_norm2.weight", "v.blk.%d.ln2.weight", 1, {D_VE}, 0},
    {"layer_norm2.bias", "v.blk.%d.ln2.bias", 1, {D_VE}, 0},
    {"self_attn.q_proj.weight", "v.blk.%d.attn_q.weight", 2, {D_VE, D_VE}, 0},
    {"self_attn.q_proj.bias", "v.blk.%d.attn_q.bias", 1, {D_VE}, 0},
    {"self_attn.k_proj.weight", "v.blk.%d.attn_k.weight", 2, {D_VE, D_VE}, 0},
    {"self_attn.k_proj.bias", "v.blk.%d.attn_k.bias", 1, {D_VE}, 0},
    {"self_attn.v_proj.weight", "v.blk.%d.attn_v.weight", 2, {D_VE, D_VE}, 0},
    {"self_attn.v_proj.bias", "v.blk.%d.attn_v.bias", 1, {D_VE}, 0},
    {"self_attn.out_proj.weight", "v.blk.%d.attn_out.weight", 2, {D_VE, D_VE}, 0},
    {"self_attn.out_proj.bias", "v.blk.%d.attn_out.bias", 1, {D_VE}, 0},
    {"mlp.fc1.weight", "v.blk.%d.ffn_up.weight", 2, {D_VFF, D_VE}, 0},
    {"mlp.fc1.bias", "v.blk.%d.ffn_up.bias", 1, {D_VFF}, 0},
    {"mlp.fc2.weight", "v.blk.%d.ffn_down.weight", 2, {D_VE, D_VFF}, 0},
    {"mlp.fc2.bias", "v.blk.%d.ffn_down.bias", 1, {D_VE}, 0},
};
#define N_VIS_LAYER_RULES (sizeof vis_layer_rules / sizeof vis_layer_rules[0])

static const map_rule vis_global_rules[] = {
    {"vision_tower.vision_model.embeddings.patch_embedding.weight", "v.patch_embd.weight", 4, {D_VE, D_CH, D_P, D_P}, 0},
    {"vision_tower.vision_model.embeddings.patch_embedding.bias", "v.patch_embd.bias", 1, {D_VE}, 0},
    {"vision_tower.vision_model.embeddings.position_embedding.weight", "v.position_embd.weight", 2, {D_NPOS, D_VE}, 0},
    {"vision_tower.vision_model.post_layernorm.weight", "v.post_ln.weight", 1, {D_VE}, 0},
    {"vision_tower.vision_model.post_layernorm.bias", "v.post_ln.bias", 1, {D_VE}, 0},
    {"multi_modal_projector.mm_input_projection_weight", "mm.input_projection.weight", 2, {D_VE, D_E}, 0},
    {"multi_modal_projector.mm_soft_emb_norm.weight", "mm.soft_emb_norm.weight", 1, {D_VE}, 1},
};
#define N_VIS_GLOBAL_RULES (sizeof vis_global_rules / sizeof vis_global_rules[0])

/* "<prefix><N>.<rest>": layer number and rest, or -1. */
static int parse_layer(const char *name, const char *prefix, const char **rest)
{
    size_t n = strlen(prefix);
    if (strncmp(name, prefix, n) != 0)
        return -1;
    const char *p = name + n;
    if (*p < '0' || *p > '9')
        return -1;
    long v = 0;
    while (*p >= '0' && *p <= '9' && v < 1000000)
        v = v * 10 + (*p++ - '0');
    if (*p != '.')
        return -1;
    *rest = p + 1;
    return (int)v;
}

static medge_status fill_tensor(const g3cfg *c, const st_tensor *st, const map_rule *r, int layer, g3tensor *t)
{
    int64_t want[4];
    for (int i = 0; i < r->nd; i++)
        want[i] = dimval(c, r->dims[i]);
    MEDGE_TRY(check_shape(st, r->nd, want));
    memset(t, 0, sizeof *t);
    t->st = st;
    snprintf(t->name, sizeof t->name, r->gguf, layer);
    t->n_dims = (uint32_t)r->nd;
    for (int i = 0; i < 4; i++)
        t->ne[i] = 1;
    for (int i = 0; i < r->nd; i++)
        t->ne[i] = st->shape[r->nd - 1 - i];
    t->rows = 1;
    for (int i = 1; i < r->nd; i++)
        t->rows *= t->ne[i];
    t->add = r->shift ? 1.0f : 0.0f;
    return MEDGE_OK;
}

/* llama.cpp's type choice (conversion/base.py prepare_tensors, Gemma3VisionModel.tensor_force_quant) */
static uint32_t pick_type(const g3tensor *t, uint32_t outtype, int vision)
{
    const char *hf = t->st->name;
    if (vision && strstr(hf, "input_projection"))
        return GGML_TYPE_F16;
    if (vision && strstr(hf, ".embeddings."))
        return GGML_TYPE_F32;
    if (t->n_dims <= 1 || ends_with(t->name, "_norm.weight") || !ends_with(t->name, ".weight"))
        return GGML_TYPE_F32;
    if (outtype == GGML_TYPE_Q8_0 && t->ne[0] % 32 != 0)
        return GGML_TYPE_F16; /* gguf-py falls back to F16 when a row does not fill whole blocks */
    return outtype;
}

static int shard_order(const st_model *m, const char **sorted, size_t n, const char *file)
{
    (void)m;
    for (size_t i = 0; i < n; i++)
        if (strcmp(sorted[i], file) == 0)
            return (int)i;
    return (int)n;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

static medge_status collect(const g3cfg *c, const st_model *m, uint32_t outtype, g3list *text, g3list *vis, int want_vis)
{
    size_t ns = st_shard_count(m);
    const char **sorted = malloc((ns ? ns : 1) * sizeof *sorted);
    if (!sorted)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < ns; i++)
        sorted[i] = st_shard_path(m, i);
    qsort(sorted, ns, sizeof *sorted, cmp_str);
    /* presence bitmaps */
    size_t n_text_req = (size_t)c->n_layer * N_TEXT_LAYER_RULES + 2;
    size_t n_vis_req = want_vis ? (size_t)c->v_layer * N_VIS_LAYER_RULES + N_VIS_GLOBAL_RULES : 0;
    unsigned char *seen = calloc(n_text_req + n_vis_req + 1, 1);
    if (!seen) {
        free(sorted);
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    }
    medge_status rc = MEDGE_OK;
    char buf[512];
    for (size_t i = 0; i < st_count(m) && rc == MEDGE_OK; i++) {
        const st_tensor *st = st_at(m, i);
        /* llama.cpp: drop "language_model." anywhere; newer layouts put everything under "model." */
        const char *hf = st->name;
        const char *lm = strstr(hf, "language_model.");
        if (lm) {
            size_t pre = (size_t)(lm - hf);
            snprintf(buf, sizeof buf, "%.*s%s", (int)pre, hf, lm + strlen("language_model."));
        } else {
            snprintf(buf, sizeof buf, "%s", hf);
        }
        const char *name = buf;
        int order = shard_order(m, sorted, ns, st->file);
        g3tensor t;
        const char *rest;
        int layer;
        const char *vname = name;
        if (strncmp(vname, "model.vision_tower.", 19) == 0 || strncmp(vname, "model.multi_modal_projector.", 28) == 0)
            vname += 6;
        if (strncmp(vname, "vision_tower.", 13) == 0 || strncmp(vname, "multi_modal_projector.", 22) == 0) {
            if (!want_vis)
                continue;
            if (strncmp(vname, "vision_tower.vision_model.head.", 31) == 0)
                continue; /* pooling head: unused by Gemma 3 */
            int found = 0;
            if ((layer = parse_layer(vname, "vision_tower.vision_model.encoder.layers.", &rest)) >= 0) {
                if (layer >= c->v_layer) {
                    rc = medge_err(MEDGE_ERR_MISMATCH, "%s: tensor %s: layer %d but vision_config has %lld layers", st->file,
                                   st->name, layer, (long long)c->v_layer);
                    break;
                }
                for (size_t r = 0; r < N_VIS_LAYER_RULES; r++)
                    if (strcmp(rest, vis_layer_rules[r].hf) == 0) {
                        rc = fill_tensor(c, st, &vis_layer_rules[r], layer, &t);
                        seen[n_text_req + (size_t)layer * N_VIS_LAYER_RULES + r]++;
                        found = 1;
                        break;
                    }
            } else {
                for (size_t r = 0; r < N_VIS_GLOBAL_RULES; r++)
                    if (strcmp(vname, vis_global_rules[r].hf) == 0) {
                        rc = fill_tensor(c, st, &vis_global_rules[r], 0, &t);
                        seen[n_text_req + (size_t)c->v_layer * N_VIS_LAYER_RULES + r]++;
                        found = 1;
                        break;
                    }
            }
            if (!found && rc == MEDGE_OK)
                rc = medge_err(MEDGE_ERR_UNSUPPORTED, "%s: tensor %s is not part of a Gemma 3 vision tower", st->file, st->name);
            if (rc != MEDGE_OK)
                break;
            t.order = order;
            t.type = pick_type(&t, outtype, 1);
            rc = list_add(vis, &t);
            continue;
        }
        if (strcmp(name, "lm_head.weight") == 0)
            continue; /* tied to the token embedding */
        int found = 0;
        if ((layer = parse_layer(name, "model.layers.", &rest)) >= 0) {
            if (layer >= c->n_layer) {
                rc = medge_err(MEDGE_ERR_MISMATCH, "%s: tensor %s: layer %d but config.json has %lld layers", st->file, st->name,
                               layer, (long long)c->n_layer);
                break;
            }
            for (size_t r = 0; r < N_TEXT_LAYER_RULES; r++)
                if (strcmp(rest, text_layer_rules[r].hf) == 0) {
                    rc = fill_tensor(c, st, &text_layer_rules[r], layer, &t);
                    seen[(size_t)layer * N_TEXT_LAYER_RULES + r]++;
                    found = 1;
                    break;
                }
        } else if (strcmp(name, "model.embed_tokens.weight") == 0) {
            static const map_rule emb = {"", "token_embd.weight", 2, {D_ANY, D_E}, 0};
            rc = fill_tensor(c, st, &emb, 0, &t);
            if (rc == MEDGE_OK && st->shape[0] < c->n_vocab)
                rc = medge_err(MEDGE_ERR_MISMATCH, "%s: tensor %s has %lld rows, fewer than the %lld tokens of the vocabulary",
                               st->file, st->name, (long long)st->shape[0], (long long)c->n_vocab);
            t.rows = c->n_vocab; /* extra rows are padding: truncated to the vocabulary (llama.cpp) */
            t.ne[1] = c->n_vocab;
            seen[n_text_req - 2]++;
            found = 1;
        } else if (strcmp(name, "model.norm.weight") == 0) {
            static const map_rule nrm = {"", "output_norm.weight", 1, {D_E}, 1};
            rc = fill_tensor(c, st, &nrm, 0, &t);
            seen[n_text_req - 1]++;
            found = 1;
        }
        if (!found && rc == MEDGE_OK)
            rc = medge_err(MEDGE_ERR_UNSUPPORTED, "%s: tensor %s is not part of a Gemma 3 model", st->file, st->name);
        if (rc != MEDGE_OK)
            break;
        t.order = order;
        t.type = pick_type(&t, outtype, 0);
        rc = list_add(text, &t);
    }
    /* every expected tensor exactly once */
    for (size_t i = 0; i < n_text_req + n_vis_req && rc == MEDGE_OK; i++) {
        if (seen[i] == 1)
            continue;
        char what[160];
        if (i < n_text_req - 2)
            snprintf(what, sizeof what, "model.layers.%zu.%s", i / N_TEXT_LAYER_RULES, text_layer_rules[i % N_TEXT_LAYER_RULES].hf);
        else if (i == n_text_req - 2)
            snprintf(what, sizeof what, "model.embed_tokens.weight");
        else if (i == n_text_req - 1)
            snprintf(what, sizeof what, "model.norm.weight");
        else if (i - n_text_req < (size_t)c->v_layer * N_VIS_LAYER_RULES) {
            size_t k = i - n_text_req;
            snprintf(what, sizeof what, "vision_tower.vision_model.encoder.layers.%zu.%s", k / N_VIS_LAYER_RULES,
                     vis_layer_rules[k % N_VIS_LAYER_RULES].hf);
        } else {
            snprintf(what, sizeof what, "%s", vis_global_rules[i - n_text_req - (size_t)c->v_layer * N_VIS_LAYER_RULES].hf);
        }
        rc = medge_err(seen[i] ? MEDGE_ERR_FORMAT : MEDGE_ERR_NOT_FOUND, "%s: tensor %s%s", st_shard_path(m, 0) ? st_shard_path(m, 0) : "checkpoint",
                       what, seen[i] ? " appears more than once" : " is missing from the checkpoint");
    }
    free(seen);
    free(sorted);
    if (rc != MEDGE_OK)
        return rc;
    g3list *ls[2] = {text, vis};
    for (int k = 0; k < 2; k++) {
        g3list *l = ls[k];
        if (l->n)
            qsort(l->t, l->n, sizeof *l->t, cmp_tensor);
        for (size_t i = 0; i < l->n; i++) {
            const g3tensor *t = &l->t[i];
            l->n_params += (uint64_t)(t->ne[0] * t->rows);
            l->bytes += convert_nbytes(t->type, t->ne[0], t->rows);
        }
    }
    return MEDGE_OK;
}

/* ------------------------------------------------------------------ writing */

static const char *dir_name(const char *dir, char *buf, size_t n)
{
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/')
        len--;
    size_t s = len;
    while (s > 0 && dir[s - 1] != '/')
        s--;
    snprintf(buf, n, "%.*s", (int)(len - s), dir + s);
    return buf;
}

static medge_status write_general(gguf_writer *w, const char *arch, const char *type, const char *name, const g3list *l,
                                  int with_size)
{
    MEDGE_TRY(gguf_writer_set_str(w, "general.architecture", arch));
    MEDGE_TRY(gguf_writer_set_str(w, "general.type", type));
    if (name && name[0])
        MEDGE_TRY(gguf_writer_set_str(w, "general.name", name));
    if (with_size) {
        char label[32];
        convert_size_label(l->n_params, label);
        MEDGE_TRY(gguf_writer_set_str(w, "general.size_label", label));
    }
    return MEDGE_OK;
}

static medge_status write_tensors(convert_stream *cs, const g3list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        const g3tensor *t = &l->t[i];
        MEDGE_TRY(gguf_writer_add_tensor(cs->w, t->name, t->type, t->n_dims, t->ne));
    }
    MEDGE_TRY(gguf_writer_begin_data(cs->w));
    for (size_t i = 0; i < l->n; i++) {
        const g3tensor *t = &l->t[i];
        medge_status rc = convert_write_tensor(cs, t->name, t->st->data, t->st->dtype, t->ne[0], t->rows, t->type, t->add);
        if (rc != MEDGE_OK)
            return medge_err_prefix(rc, "%s", t->st->file);
    }
    return MEDGE_OK;
}

static medge_status write_text(const gemma3_convert_params *p, const g3cfg *c, const g3vocab *v, const g3list *l,
                               convert_stream *cs, const char *name, json_doc *gendoc, convert_hasher **hasher)
{
    gguf_writer *w;
    MEDGE_TRY(gguf_writer_open(p->out_path, &w));
    cs->w = w;
    medge_status rc = convert_hasher_start(p->out_path, hasher);
#define W(x)                                                                                                           \
    do {                                                                                                               \
        if (rc == MEDGE_OK)                                                                                            \
            rc = (x);                                                                                                  \
    } while (0)
    W(write_general(w, "gemma3", "model", name, l, !p->vocab_only));
    if (gendoc) {
        const json_value *g = json_root(gendoc);
        int64_t k;
        double x;
        if (json_get_int(g, "top_k", &k) && k >= INT32_MIN && k <= INT32_MAX)
            W(gguf_writer_set_i32(w, "general.sampling.top_k", (int32_t)k));
        if (json_get_num(g, "top_p", &x))
            W(gguf_writer_set_f32(w, "general.sampling.top_p", (float)x));
        if (json_get_num(g, "temperature", &x))
            W(gguf_writer_set_f32(w, "general.sampling.temp", (float)x));
    }
    W(gguf_writer_set_u32(w, "gemma3.block_count", (uint32_t)c->n_layer));
    W(gguf_writer_set_u32(w, "gemma3.context_length", (uint32_t)c->n_ctx));
    W(gguf_writer_set_u32(w, "gemma3.embedding_length", (uint32_t)c->n_embd));
    W(gguf_writer_set_u32(w, "gemma3.feed_forward_length", (uint32_t)c->n_ff));
    W(gguf_writer_set_u32(w, "gemma3.attention.head_count", (uint32_t)c->n_head));
    W(gguf_writer_set_u32(w, "gemma3.attention.head_count_kv", (uint32_t)c->n_head_kv));
    if (c->has_scaling) {
        W(gguf_writer_set_str(w, "gemma3.rope.scaling.type", "linear"));
        W(gguf_writer_set_f32(w, "gemma3.rope.scaling.factor", (float)c->scaling_factor));
    }
    W(gguf_writer_set_f32(w, "gemma3.rope.freq_base", (float)c->rope_theta));
    W(gguf_writer_set_f32(w, "gemma3.rope.freq_base_swa", (float)c->rope_local));
    W(gguf_writer_set_f32(w, "gemma3.attention.layer_norm_rms_epsilon", (float)c->eps));
    W(gguf_writer_set_u32(w, "gemma3.attention.key_length", (uint32_t)c->head_dim));
    W(gguf_writer_set_u32(w, "gemma3.attention.value_length", (uint32_t)c->head_dim));
    W(gguf_writer_set_u32(w, "general.file_type", convert_file_type(p->outtype)));
    if (c->sliding)
        W(gguf_writer_set_u32(w, "gemma3.attention.sliding_window", (uint32_t)c->sliding_window));
    W(gguf_writer_set_u32(w, "general.quantization_version", 2));
    W(write_vocab(w, v));
#undef W
    if (rc == MEDGE_OK && !p->vocab_only)
        rc = write_tensors(cs, l);
    if (rc == MEDGE_OK)
        rc = gguf_writer_finish(w);
    gguf_writer_free(w);
    cs->w = NULL;
    return rc;
}

static medge_status read_mean_std(const char *dir, float mean[3], float std[3])
{
    for (int i = 0; i < 3; i++)
        mean[i] = std[i] = 0.5f;
    if (!file_exists(dir, "preprocessor_config.json"))
        return MEDGE_OK;
    json_doc *d;
    MEDGE_TRY(parse_json_in(dir, "preprocessor_config.json", &d));
    const json_value *r = json_root(d);
    const char *keys[2] = {"image_mean", "image_std"};
    float *dst[2] = {mean, std};
    medge_status rc = MEDGE_OK;
    for (int k = 0; k < 2 && rc == MEDGE_OK; k++) {
        const json_value *a = json_get(r, keys[k]);
        if (!a)
            continue;
        if (a->type != JSON_ARRAY || a->len != 3) {
            rc = medge_err(MEDGE_ERR_FORMAT, "%s/preprocessor_config.json: %s must be an array of 3 numbers", dir, keys[k]);
            break;
        }
        for (int i = 0; i < 3; i++) {
            if (a->items[i].type != JSON_NUMBER) {
                rc = medge_err(MEDGE_ERR_FORMAT, "%s/preprocessor_config.json: %s must be an array of 3 numbers", dir, keys[k]);
                break;
            }
            dst[k][i] = (float)a->items[i].num;
        }
    }
    json_free(d);
    return rc;
}

static medge_status write_mmproj(const gemma3_convert_params *p, const g3cfg *c, const g3list *l, convert_stream *cs,
                                 const char *name, convert_hasher **hasher)
{
    float mean[3], std[3];
    MEDGE_TRY(read_mean_std(p->hf_dir, mean, std));
    gguf_writer *w;
    MEDGE_TRY(gguf_writer_open(p->mmproj_path, &w));
    cs->w = w;
    medge_status rc = convert_hasher_start(p->mmproj_path, hasher);
#define W(x)                                                                                                           \
    do {                                                                                                               \
        if (rc == MEDGE_OK)                                                                                            \
            rc = (x);                                                                                                  \
    } while (0)
    W(write_general(w, "clip", "mmproj", name, l, 1));
    W(gguf_writer_set_u32(w, "general.file_type", convert_file_type(p->outtype)));
    W(gguf_writer_set_bool(w, "clip.has_vision_encoder", true));
    W(gguf_writer_set_u32(w, "clip.vision.projection_dim", (uint32_t)c->n_embd));
    W(gguf_writer_set_u32(w, "clip.vision.image_size", (uint32_t)c->v_image));
    W(gguf_writer_set_u32(w, "clip.vision.patch_size", (uint32_t)c->v_patch));
    W(gguf_writer_set_u32(w, "clip.vision.embedding_length", (uint32_t)c->v_embd));
    W(gguf_writer_set_u32(w, "clip.vision.feed_forward_length", (uint32_t)c->v_ff));
    W(gguf_writer_set_u32(w, "clip.vision.block_count", (uint32_t)c->v_layer));
    W(gguf_writer_set_u32(w, "clip.vision.attention.head_count", (uint32_t)c->v_head));
    W(gguf_writer_set_arr(w, "clip.vision.image_mean", GGUF_F32, mean, 3));
    W(gguf_writer_set_arr(w, "clip.vision.image_std", GGUF_F32, std, 3));
    W(gguf_writer_set_str(w, "clip.projector_type", "gemma3"));
    W(gguf_writer_set_f32(w, "clip.vision.attention.layer_norm_epsilon", (float)c->v_eps));
    W(gguf_writer_set_bool(w, "clip.use_gelu", true));
    /* pooling kernel: patches per side / tokens per side, written when not llama.cpp's default 4 */
    int64_t side = c->v_image / c->v_patch;
    int64_t tok_side = (int64_t)llround(sqrt((double)c->mm_tokens));
    if (tok_side <= 0 || tok_side * tok_side != c->mm_tokens || side % tok_side != 0)
        rc = rc != MEDGE_OK ? rc
                            : medge_err(MEDGE_ERR_UNSUPPORTED, "%s/config.json: mm_tokens_per_image %lld does not pool a %lldx%lld patch grid",
                                        p->hf_dir, (long long)c->mm_tokens, (long long)side, (long long)side);
    else if (side / tok_side != 4)
        W(gguf_writer_set_u32(w, "clip.vision.projector.scale_factor", (uint32_t)(side / tok_side)));
    W(gguf_writer_set_u32(w, "general.quantization_version", 2));
#undef W
    if (rc == MEDGE_OK)
        rc = write_tensors(cs, l);
    if (rc == MEDGE_OK)
        rc = gguf_writer_finish(w);
    gguf_writer_free(w);
    cs->w = NULL;
    return rc;
}

int gemma3_is_checkpoint(const char *dir)
{
    json_doc *d;
    if (parse_json_in(dir, "config.json", &d) != MEDGE_OK) {
        medge_err_clear();
        return 0;
    }
    const char *mt = json_get_str(json_root(d), "model_type");
    int ok = mt && (strcmp(mt, "gemma3") == 0 || strcmp(mt, "gemma3_text") == 0);
    json_free(d);
    return ok;
}

medge_status gemma3_convert(const gemma3_convert_params *p, convert_output *text_out, convert_output *mm_out)
{
    if (text_out)
        memset(text_out, 0, sizeof *text_out);
    if (mm_out)
        memset(mm_out, 0, sizeof *mm_out);
    if (!p || !p->hf_dir || (!p->out_path && !p->mmproj_path))
        return medge_err(MEDGE_ERR_INVALID_ARG, "gemma3_convert: a checkpoint directory and an output are required");
    if (!convert_outtype_ok(p->outtype))
        return medge_err(MEDGE_ERR_INVALID_ARG, "output type %s is not supported (f32, f16, bf16, q8_0)", quant_type_name(p->outtype));
    if (p->outtype == GGML_TYPE_Q8_0 && (!quant_get_traits(GGML_TYPE_Q8_0) || !quant_get_traits(GGML_TYPE_Q8_0)->from_float_ref))
        return medge_err(MEDGE_ERR_UNSUPPORTED, "Q8_0 output needs the Q8_0 quantizer, which this build lacks");
    if (p->vocab_only && !p->out_path)
        return medge_err(MEDGE_ERR_INVALID_ARG, "--vocab-only needs an output path");

    g3cfg c;
    json_doc *cfgdoc = NULL, *gendoc = NULL;
    g3vocab v = {0};
    g3list text = {0}, vis = {0};
    st_model *m = NULL;
    medge_pool *pool = NULL;
    int text_done = 0;
    medge_status rc = read_config(p->hf_dir, &c, &cfgdoc);
    int want_vis = p->mmproj_path && !p->vocab_only;
    if (rc == MEDGE_OK && want_vis && !c.has_vision)
        rc = medge_err(MEDGE_ERR_UNSUPPORTED, "%s: a text-only Gemma 3 (model_type gemma3_text) has no vision tower for --mmproj", c.path);
    if (rc == MEDGE_OK && p->out_path)
        rc = read_vocab(p->hf_dir, &c, cfgdoc, &v);
    if (rc == MEDGE_OK && p->out_path && file_exists(p->hf_dir, "generation_config.json"))
        rc = parse_json_in(p->hf_dir, "generation_config.json", &gendoc);
    if (rc == MEDGE_OK && !p->vocab_only)
        rc = st_open(p->hf_dir, &m);
    if (rc == MEDGE_OK && m)
        rc = collect(&c, m, p->outtype, &text, &vis, want_vis);
    if (rc == MEDGE_OK && !p->vocab_only)
        rc = medge_pool_create(p->n_threads, &pool);
    char namebuf[256];
    const char *name = p->name ? p->name : dir_name(p->hf_dir, namebuf, sizeof namebuf);
    convert_stream cs = {0};
    cs.pool = pool;
    cs.progress = p->progress;
    cs.user = p->progress_user;
    cs.total = (p->out_path && !p->vocab_only ? text.bytes : 0) + (want_vis ? vis.bytes : 0);
    cs.release_source = getenv("MEDGE_NO_MMAP") == NULL;
    if (rc == MEDGE_OK && p->out_path) {
        convert_hasher *hs = NULL;
        rc = write_text(p, &c, &v, &text, &cs, name, gendoc, &hs);
        if (rc == MEDGE_OK) {
            text_done = 1;
            convert_output tmp, *o = text_out ? text_out : &tmp;
            o->n_tensors = p->vocab_only ? 0 : text.n;
            o->n_params = p->vocab_only ? 0 : text.n_params;
            rc = convert_hasher_finish(hs, p->out_path, o->sha256, &o->bytes);
        } else {
            convert_hasher_abort(hs);
        }
    }
    if (rc == MEDGE_OK && want_vis) {
        convert_hasher *hs = NULL;
        rc = write_mmproj(p, &c, &vis, &cs, name, &hs);
        if (rc == MEDGE_OK) {
            convert_output tmp, *o = mm_out ? mm_out : &tmp;
            o->n_tensors = vis.n;
            o->n_params = vis.n_params;
            rc = convert_hasher_finish(hs, p->mmproj_path, o->sha256, &o->bytes);
        } else {
            convert_hasher_abort(hs);
        }
        if (rc != MEDGE_OK)
            remove(p->mmproj_path);
    }
    if (rc != MEDGE_OK && text_done)
        remove(p->out_path); /* all or nothing */
    convert_stream_free(&cs);
    medge_pool_free(pool);
    st_close(m);
    free(text.t);
    free(vis.t);
    vocab_free(&v);
    json_free(cfgdoc);
    json_free(gendoc);
    free((char *)c.path);
    return rc;
}
