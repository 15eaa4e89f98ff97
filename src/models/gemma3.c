/* gemma3.c - Gemma 3 text decoder: GGUF loading with full shape/type checks, the KV cache with
 * sliding-window rings, and the forward pass (specs/gemma3.md §3, as llama.cpp computes it).
 *
 * A batch's keys and values are converted to the cache type and attended to from a separate view
 * (together with the cache view holding earlier positions), and written into the cache only after
 * that layer's attention. So a ring of exactly `window` cells suffices for any batch size, and
 * every layer sees the cache as it was before the batch (the cell position tables are updated at
 * the end of the batch). */
#include "models/gemma3.h"
#include "core/file.h"
#include "core/log.h"
#include "ops/kernels.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- hyperparameters ---- */

static medge_status get_u32_req(const gguf_ctx *g, const char *key, int lo, int hi, int *out)
{
    uint32_t v;
    medge_status rc = gguf_get_u32(g, key, &v);
    if (rc == MEDGE_ERR_NOT_FOUND)
        return medge_err(MEDGE_ERR_FORMAT, "missing key %s", key);
    MEDGE_TRY(rc);
    if ((int64_t)v < lo || (int64_t)v > hi)
        return medge_err(MEDGE_ERR_FORMAT, "%s = %u is out of range [%d, %d]", key, v, lo, hi);
    *out = (int)v;
    return MEDGE_OK;
}

static medge_status get_u32_opt(const gguf_ctx *g, const char *key, int lo, int hi, int def, int *out)
{
    if (gguf_find_key(g, key) < 0) {
        *out = def;
        return MEDGE_OK;
    }
    return get_u32_req(g, key, lo, hi, out);
}

static medge_status get_f32_opt(const gguf_ctx *g, const char *key, float def, float *out)
{
    if (gguf_find_key(g, key) < 0) {
        *out = def;
        return MEDGE_OK;
    }
    MEDGE_TRY(gguf_get_f32(g, key, out));
    if (!isfinite(*out) || *out <= 0)
        return medge_err(MEDGE_ERR_FORMAT, "%s = %g is not a positive number", key, (double)*out);
    return MEDGE_OK;
}

bool gemma3_layer_is_swa(const gemma3_hparams *hp, int il)
{
    return hp->swa_pattern > 1 && (il + 1) % hp->swa_pattern != 0;
}

medge_status gemma3_read_hparams(const gguf_ctx *g, gemma3_hparams *hp)
{
    memset(hp, 0, sizeof *hp);
    const char *arch;
    medge_status rc = gguf_get_str(g, "general.architecture", &arch);
    if (rc == MEDGE_ERR_NOT_FOUND)
        return medge_err(MEDGE_ERR_FORMAT, "missing key general.architecture (not a model GGUF)");
    MEDGE_TRY(rc);
    if (strcmp(arch, "gemma3") != 0)
        return medge_err(MEDGE_ERR_UNSUPPORTED, "architecture '%s' is not a Gemma 3 text model (expected 'gemma3')",
                         arch);
    const int big = 1 << 20;
    MEDGE_TRY(get_u32_req(g, "gemma3.embedding_length", 1, big, &hp->n_embd));
    MEDGE_TRY(get_u32_req(g, "gemma3.block_count", 1, 4096, &hp->n_layer));
    MEDGE_TRY(get_u32_req(g, "gemma3.feed_forward_length", 1, big, &hp->n_ff));
    MEDGE_TRY(get_u32_req(g, "gemma3.attention.head_count", 1, 4096, &hp->n_head));
    MEDGE_TRY(get_u32_opt(g, "gemma3.attention.head_count_kv", 1, 4096, hp->n_head, &hp->n_kv_head));
    MEDGE_TRY(get_u32_opt(g, "gemma3.attention.key_length", 1, 65536, hp->n_embd / hp->n_head, &hp->head_dim));
    int vlen = 0;
    MEDGE_TRY(get_u32_opt(g, "gemma3.attention.value_length", 1, 65536, hp->head_dim, &vlen));
    if (vlen != hp->head_dim)
        return medge_err(MEDGE_ERR_UNSUPPORTED, "value_length %d differs from key_length %d", vlen, hp->head_dim);
    if (hp->n_head % hp->n_kv_head)
        return medge_err(MEDGE_ERR_FORMAT, "head_count %d is not a multiple of head_count_kv %d", hp->n_head,
                         hp->n_kv_head);
    MEDGE_TRY(get_u32_opt(g, "gemma3.context_length", 1, 1 << 30, 131072, &hp->n_ctx_train));
    MEDGE_TRY(get_u32_opt(g, "gemma3.rope.dimension_count", 2, hp->head_dim, hp->head_dim, &hp->n_rot));
    if (hp->n_rot % 2 || hp->n_rot > 1024)
        return medge_err(MEDGE_ERR_UNSUPPORTED, "rope dimension %d is not supported", hp->n_rot);
    MEDGE_TRY(get_u32_opt(g, "gemma3.attention.sliding_window_pattern", 1, 4096, 6, &hp->swa_pattern));
    if (hp->swa_pattern > 1)
        MEDGE_TRY(get_u32_req(g, "gemma3.attention.sliding_window", 1, 1 << 30, &hp->window));
    if (gguf_find_key(g, "gemma3.attention.layer_norm_rms_epsilon") < 0)
        return medge_err(MEDGE_ERR_FORMAT, "missing key gemma3.attention.layer_norm_rms_epsilon");
    MEDGE_TRY(get_f32_opt(g, "gemma3.attention.layer_norm_rms_epsilon", 1e-6f, &hp->eps));
    MEDGE_TRY(get_f32_opt(g, "gemma3.rope.freq_base", 1e6f, &hp->rope_base));
    MEDGE_TRY(get_f32_opt(g, "gemma3.rope.freq_base_swa", 1e4f, &hp->rope_base_swa));
    float factor = 1.0f;
    if (gguf_find_key(g, "gemma3.rope.scaling.type") >= 0) {
        const char *st;
        MEDGE_TRY(gguf_get_str(g, "gemma3.rope.scaling.type", &st));
        if (strcmp(st, "linear") == 0) {
            MEDGE_TRY(get_f32_opt(g, "gemma3.rope.scaling.factor", 1.0f, &factor));
        } else if (strcmp(st, "none") != 0) {
            return medge_err(MEDGE_ERR_UNSUPPORTED, "rope scaling type '%s' is not supported", st);
        }
    } else {
        MEDGE_TRY(get_f32_opt(g, "gemma3.rope.scaling.factor", 1.0f, &factor));
    }
    hp->rope_scale = 1.0f / factor;
    hp->rope_scale_swa = 1.0f;
    if (gguf_find_key(g, "gemma3.final_logit_softcapping") >= 0) {
        float cap;
        MEDGE_TRY(gguf_get_f32(g, "gemma3.final_logit_softcapping", &cap));
        if (cap != 0.0f)
            return medge_err(MEDGE_ERR_UNSUPPORTED, "final logit softcapping is not supported");
    }
    /* llama.cpp: the 27B model (62 layers) scales by n_embd/n_head, the others by head_dim. */
    hp->attn_scale = hp->n_layer == 62 ? 1.0f / sqrtf((float)(hp->n_embd / hp->n_head))
                                       : 1.0f / sqrtf((float)hp->head_dim);
    hp->embd_scale = sqrtf((float)hp->n_embd);
    return MEDGE_OK;
}

/* ---- tensors ---- */

typedef struct loader {
    const gguf_ctx *g;
    uint8_t *used; /* per tensor: claimed by the model */
    const uint8_t *data_base; /* replacement data (callbacks mode) */
} loader;

static medge_status get_tensor(loader *ld, const char *name, int64_t ne0, int64_t ne1, bool need_f32,
                               medge_tensor *t)
{
    int64_t i = gguf_find_tensor(ld->g, name);
    if (i < 0)
        return medge_err(MEDGE_ERR_NOT_FOUND, "missing tensor %s", name);
    const gguf_tensor *gt = &ld->g->tensors[i];
    uint32_t want_dims = ne1 > 0 ? 2 : 1;
    int64_t want1 = ne1 > 0 ? ne1 : 1;
    if (gt->n_dims != want_dims || gt->ne[0] != ne0 || gt->ne[1] != want1 || gt->ne[2] != 1 || gt->ne[3] != 1) {
        if (ne1 > 0)
            return medge_err(MEDGE_ERR_FORMAT,
                             "tensor %s has shape [%lld, %lld, %lld, %lld] (%u dims), expected [%lld, %lld]", name,
                             (long long)gt->ne[0], (long long)gt->ne[1], (long long)gt->ne[2], (long long)gt->ne[3],
                             gt->n_dims, (long long)ne0, (long long)ne1);
        return medge_err(MEDGE_ERR_FORMAT, "tensor %s has shape [%lld, %lld, %lld, %lld] (%u dims), expected [%lld]",
                         name, (long long)gt->ne[0], (long long)gt->ne[1], (long long)gt->ne[2], (long long)gt->ne[3],
                         gt->n_dims, (long long)ne0);
    }
    if (need_f32 && gt->type != GGML_TYPE_F32)
        return medge_err(MEDGE_ERR_UNSUPPORTED, "tensor %s has type %s, expected F32", name, quant_type_name(gt->type));
    if (ld->used[i])
        return medge_err(MEDGE_ERR_INTERNAL, "tensor %s claimed twice", name);
    ld->used[i] = 1;
    t->name = gt->name.s;
    t->type = gt->type;
    t->ne[0] = gt->ne[0];
    t->ne[1] = gt->ne[1];
    t->ne[2] = t->ne[3] = 1;
    t->nb1 = quant_row_size(gt->type, gt->ne[0]);
    t->data = ld->data_base ? ld->data_base + gt->offset : gt->data;
    if (!t->data || !t->nb1)
        return medge_err(MEDGE_ERR_FORMAT, "tensor %s has no data", name);
    /* Rows are read as floats / fp16 / blocks holding fp16: they must be naturally aligned. */
    size_t align = gt->type == GGML_TYPE_F32 ? 4 : 2;
    if (((uintptr_t)t->data % align) != 0 || (t->nb1 % align) != 0)
        return medge_err(MEDGE_ERR_UNSUPPORTED, "tensor %s data is not %zu-byte aligned", name, align);
    return MEDGE_OK;
}

static medge_status get_matrix(loader *ld, const char *name, int64_t ne0, int64_t ne1, medge_tensor *t)
{
    MEDGE_TRY(get_tensor(ld, name, ne0, ne1, false, t));
    if (!ops_matmul_supported(t->type))
        return medge_err(MEDGE_ERR_UNSUPPORTED, "tensor %s: weight type %s is not supported for matrix products", name,
                         quant_type_name(t->type));
    return MEDGE_OK;
}

static medge_status load_tensors(gemma3_model *m, loader *ld)
{
    const gemma3_hparams *hp = &m->hp;
    const int64_t E = hp->n_embd, D = hp->head_dim, F = hp->n_ff;
    const int64_t QD = (int64_t)hp->n_head * D, KD = (int64_t)hp->n_kv_head * D;
    int64_t ti = gguf_find_tensor(ld->g, "token_embd.weight");
    if (ti < 0)
        return medge_err(MEDGE_ERR_NOT_FOUND, "missing tensor token_embd.weight");
    int64_t nv = ld->g->tensors[ti].ne[1];
    if (nv < 1 || nv > (1 << 24))
        return medge_err(MEDGE_ERR_FORMAT, "token_embd.weight has %lld rows", (long long)nv);
    m->hp.n_vocab = (int)nv;
    MEDGE_TRY(get_tensor(ld, "token_embd.weight", E, nv, false, &m->tok_embd));
    if (!ops_kernels_get()->to_float[m->tok_embd.type])
        return medge_err(MEDGE_ERR_UNSUPPORTED, "token_embd.weight: type %s cannot be dequantized",
                         quant_type_name(m->tok_embd.type));
    if (gguf_find_tensor(ld->g, "output.weight") >= 0) {
        MEDGE_TRY(get_matrix(ld, "output.weight", E, nv, &m->output));
    } else {
        m->output = m->tok_embd;
        if (!ops_matmul_supported(m->output.type))
            return medge_err(MEDGE_ERR_UNSUPPORTED, "token_embd.weight: type %s is not supported for the output product",
                             quant_type_name(m->output.type));
    }
    MEDGE_TRY(get_tensor(ld, "output_norm.weight", E, 0, true, &m->output_norm));
    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    char name[GGUF_MAX_NAME + 32];
    for (int il = 0; il < hp->n_layer; il++) {
        gemma3_layer *L = &m->layers[il];
        L->swa = gemma3_layer_is_swa(hp, il);
#define T(field, suffix, a, b, f32)                                            \
    snprintf(name, sizeof name, "blk.%d." suffix, il);                         \
    MEDGE_TRY((b) > 0 && !(f32) ? get_matrix(ld, name, a, b, &L->field) : get_tensor(ld, name, a, b, f32, &L->field))
        T(attn_norm, "attn_norm.weight", E, 0, true);
        T(wq, "attn_q.weight", E, QD, false);
        T(wk, "attn_k.weight", E, KD, false);
        T(wv, "attn_v.weight", E, KD, false);
        T(q_norm, "attn_q_norm.weight", D, 0, true);
        T(k_norm, "attn_k_norm.weight", D, 0, true);
        T(wo, "attn_output.weight", QD, E, false);
        T(post_attn_norm, "post_attention_norm.weight", E, 0, true);
        T(ffn_norm, "ffn_norm.weight", E, 0, true);
        T(ffn_gate, "ffn_gate.weight", E, F, false);
        T(ffn_up, "ffn_up.weight", E, F, false);
        T(ffn_down, "ffn_down.weight", F, E, false);
        T(post_ffw_norm, "post_ffw_norm.weight", E, 0, true);
#undef T
    }
    for (uint64_t i = 0; i < ld->g->n_tensors; i++)
        if (!ld->used[i])
            return medge_err(MEDGE_ERR_FORMAT, "unexpected tensor %s (not part of a %d-layer Gemma 3 model)",
                             ld->g->tensors[i].name.s, hp->n_layer);
    return MEDGE_OK;
}

static int32_t find_token(const gguf_ctx *g, const char *text)
{
    const void *data;
    uint64_t n;
    if (gguf_get_arr(g, "tokenizer.ggml.tokens", GGUF_STR, &data, &n) != MEDGE_OK)
        return -1;
    const gguf_str *s = data;
    size_t len = strlen(text);
    for (uint64_t i = 0; i < n && i < INT32_MAX; i++)
        if (s[i].len == len && memcmp(s[i].s, text, len) == 0)
            return (int32_t)i;
    return -1;
}

static int32_t token_key(const gguf_ctx *g, const char *key, int n_vocab)
{
    uint32_t v;
    if (gguf_get_u32(g, key, &v) != MEDGE_OK || v >= (uint32_t)n_vocab)
        return -1;
    return (int32_t)v;
}

static medge_status load(gguf_ctx *g, gemma3_model *m)
{
    MEDGE_TRY(gemma3_read_hparams(g, &m->hp));
    loader ld = {g, calloc(g->n_tensors ? g->n_tensors : 1, 1), NULL};
    if (!ld.used)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    medge_status rc = MEDGE_OK;
    if (!g->base && g->n_tensors) {
        /* Callbacks: read the whole data section into one aligned buffer. */
        uint64_t total = g->size > g->data_offset ? g->size - g->data_offset : 0;
        if (total > SIZE_MAX - 64 || posix_memalign(&m->owned, 64, (size_t)total ? (size_t)total : 1) != 0) {
            m->owned = NULL;
            rc = medge_err(MEDGE_ERR_NOMEM, "cannot allocate %llu bytes for the weights", (unsigned long long)total);
        }
        for (uint64_t i = 0; rc == MEDGE_OK && i < g->n_tensors; i++)
            rc = gguf_read_tensor(g, i, (uint8_t *)m->owned + g->tensors[i].offset);
        ld.data_base = m->owned;
    }
    if (rc == MEDGE_OK)
        rc = load_tensors(m, &ld);
    free(ld.used);
    MEDGE_TRY(rc);
    uint64_t vocab_n;
    const void *vd;
    if (gguf_get_arr(g, "tokenizer.ggml.tokens", GGUF_STR, &vd, &vocab_n) == MEDGE_OK &&
        vocab_n != (uint64_t)m->hp.n_vocab)
        return medge_err(MEDGE_ERR_MISMATCH, "the vocabulary has %llu tokens but token_embd.weight has %d rows",
                         (unsigned long long)vocab_n, m->hp.n_vocab);
    m->bos = token_key(g, "tokenizer.ggml.bos_token_id", m->hp.n_vocab);
    m->eos = find_token(g, "<eos>");
    if (m->eos < 0)
        m->eos = token_key(g, "tokenizer.ggml.eos_token_id", m->hp.n_vocab);
    m->eot = find_token(g, "<end_of_turn>");
    for (uint64_t i = 0; i < g->n_tensors; i++)
        m->weight_bytes += g->tensors[i].nbytes;
    return MEDGE_OK;
}

medge_status gemma3_load(gguf_ctx *g, gemma3_model **out)
{
    *out = NULL;
    gemma3_model *m = calloc(1, sizeof *m);
    if (!m) {
        gguf_close(g);
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    }
    m->gguf = g;
    medge_status rc = load(g, m);
    if (rc != MEDGE_OK) {
        gemma3_free(m);
        return rc;
    }
    *out = m;
    return MEDGE_OK;
}

void gemma3_free(gemma3_model *m)
{
    if (!m)
        return;
    gguf_close(m->gguf);
    free(m->owned);
    free(m->layers);
    free(m);
}

/* ---- KV cache ---- */

static int cap_of(const gemma3_hparams *hp, int n_ctx, bool swa)
{
    return swa && hp->window < n_ctx - GEMMA3_SWA_SLACK ? hp->window + GEMMA3_SWA_SLACK : n_ctx;
}

uint64_t gemma3_kv_bytes(const gemma3_hparams *hp, int n_ctx, uint32_t type)
{
    uint64_t row = quant_row_size(type, hp->head_dim), total = 0;
    for (int il = 0; il < hp->n_layer; il++)
        total += 2ull * (uint64_t)cap_of(hp, n_ctx, gemma3_layer_is_swa(hp, il)) * (uint64_t)hp->n_kv_head * row;
    return total;
}

void gemma3_cache_free(gemma3_cache *c)
{
    medge_free_huge(c->mem, c->mem_bytes);
    free(c->k);
    free(c->v);
    free(c->pos_swa);
    free(c->pos_glb);
    memset(c, 0, sizeof *c);
}

void gemma3_cache_clear(gemma3_cache *c)
{
    for (int i = 0; i < c->cap_swa; i++)
        c->pos_swa[i] = -1;
    for (int i = 0; i < c->n_ctx; i++)
        c->pos_glb[i] = -1;
    c->n_past = 0;
    c->wrapped = false;
}

/* Bytes of layer il's keys (or values) in the cache block, rounded up to 64. */
static size_t layer_bytes(const gemma3_cache *c, const gemma3_hparams *hp, int il)
{
    const size_t b = (size_t)gemma3_cache_cap(c, hp, il) * (size_t)hp->n_kv_head * c->row_bytes;
    return (b + 63) & ~(size_t)63;
}

medge_status gemma3_cache_init(gemma3_cache *c, const gemma3_hparams *hp, int n_ctx, uint32_t type)
{
    memset(c, 0, sizeof *c);
    const ops_kernels *k = ops_kernels_get();
    if (type != GGML_TYPE_F16 && type != GGML_TYPE_Q8_0 && type != GGML_TYPE_F32)
        return medge_err(MEDGE_ERR_UNSUPPORTED, "KV cache type %s is not supported (F16, Q8_0, F32)",
                         quant_type_name(type));
    if (!k->w[type].vec_dot || !k->quantize_act[type] || !k->mad[type])
        return medge_err(MEDGE_ERR_UNSUPPORTED, "KV cache type %s has no kernels in this build", quant_type_name(type));
    c->row_bytes = quant_row_size(type, hp->head_dim);
    if (!c->row_bytes)
        return medge_err(MEDGE_ERR_UNSUPPORTED, "head_dim %d does not fit KV cache type %s", hp->head_dim,
                         quant_type_name(type));
    if (n_ctx < 1)
        return medge_err(MEDGE_ERR_INVALID_ARG, "context size %d must be positive", n_ctx);
    c->type = type;
    c->n_ctx = n_ctx;
    c->cap_swa = cap_of(hp, n_ctx, true);
    c->window = hp->swa_pattern > 1 ? hp->window : 0;
    c->k = calloc((size_t)hp->n_layer, sizeof *c->k);
    c->v = calloc((size_t)hp->n_layer, sizeof *c->v);
    c->pos_swa = malloc((size_t)c->cap_swa * sizeof(int32_t));
    c->pos_glb = malloc((size_t)n_ctx * sizeof(int32_t));
    if (!c->k || !c->v || !c->pos_swa || !c->pos_glb) {
        gemma3_cache_free(c);
        return medge_err(MEDGE_ERR_NOMEM, "out of memory for the KV cache");
    }
    /* one block, each layer's keys and values 64-byte aligned */
    size_t total = 0;
    for (int il = 0; il < hp->n_layer; il++)
        total += 2 * layer_bytes(c, hp, il);
    c->mem = medge_alloc_huge(total, false);
    if (!c->mem) {
        gemma3_cache_free(c);
        return medge_err(MEDGE_ERR_NOMEM, "out of memory for the KV cache (%llu bytes)",
                         (unsigned long long)gemma3_kv_bytes(hp, n_ctx, type));
    }
    c->mem_bytes = total;
    uint8_t *at = c->mem;
    for (int il = 0; il < hp->n_layer; il++) {
        c->k[il] = at;
        c->v[il] = at + layer_bytes(c, hp, il);
        at += 2 * layer_bytes(c, hp, il);
    }
    gemma3_cache_clear(c);
    return MEDGE_OK;
}

bool gemma3_cache_truncate(gemma3_cache *c, int n)
{
    if (n >= c->n_past)
        return true;
    /* After a wrap the ring holds positions n_past - cap_swa ..; queries from n on need keys from
     * n - window + 1 on. (window is 0 when there are no sliding-window layers: no wrap then.) */
    if (n <= 0 || (c->wrapped && (int64_t)c->n_past - n > (int64_t)c->cap_swa - c->window + 1)) {
        gemma3_cache_clear(c);
        return n <= 0;
    }
    for (int i = 0; i < c->cap_swa; i++)
        if (c->pos_swa[i] >= n)
            c->pos_swa[i] = -1;
    for (int i = 0; i < c->n_ctx; i++)
        if (c->pos_glb[i] >= n)
            c->pos_glb[i] = -1;
    c->n_past = n;
    return true;
}

/* ---- forward ---- */

void gemma3_state_free(gemma3_state *s)
{
    free(s->x);
    free(s->xb);
    free(s->xb2);
    free(s->q);
    free(s->k);
    free(s->v);
    free(s->att);
    free(s->gate);
    free(s->up);
    free(s->kb);
    free(s->vb);
    free(s->pos);
    ops_scratch_free(&s->scratch);
    memset(s, 0, sizeof *s);
}

uint64_t gemma3_state_bytes(const gemma3_hparams *hp, int n, uint32_t kv_type)
{
    uint64_t E = (uint64_t)hp->n_embd, QD = (uint64_t)hp->n_head * (uint64_t)hp->head_dim;
    uint64_t KD = (uint64_t)hp->n_kv_head * (uint64_t)hp->head_dim, F = (uint64_t)hp->n_ff;
    uint64_t fl = 3 * E + 2 * QD + 2 * KD + 2 * F;
    uint64_t kvb = 2ull * (uint64_t)hp->n_kv_head * quant_row_size(kv_type, hp->head_dim);
    /* + the matmul scratch: activations of the widest input, at most 4 bytes per value */
    uint64_t big = F > E ? F : E;
    return (uint64_t)n * (fl * 4 + kvb + 4 + big * 4);
}

static medge_status state_reserve(gemma3_state *s, const gemma3_hparams *hp, size_t row_bytes, int n)
{
    if (n <= s->n_max)
        return MEDGE_OK;
    gemma3_matmul_hook hook = s->hook; /* the observer survives the reallocation */
    void *hook_user = s->hook_user;
    gemma3_state_free(s);
    s->hook = hook;
    s->hook_user = hook_user;
    size_t N = (size_t)n, E = (size_t)hp->n_embd, QD = (size_t)hp->n_head * (size_t)hp->head_dim;
    size_t KD = (size_t)hp->n_kv_head * (size_t)hp->head_dim, F = (size_t)hp->n_ff;
    s->x = malloc(N * E * sizeof(float));
    s->xb = malloc(N * E * sizeof(float));
    s->xb2 = malloc(N * E * sizeof(float));
    s->q = malloc(N * QD * sizeof(float));
    s->att = malloc(N * QD * sizeof(float));
    s->k = malloc(N * KD * sizeof(float));
    s->v = malloc(N * KD * sizeof(float));
    s->gate = malloc(N * F * sizeof(float));
    s->up = malloc(N * F * sizeof(float));
    s->kb = malloc(N * (size_t)hp->n_kv_head * row_bytes);
    s->vb = malloc(N * (size_t)hp->n_kv_head * row_bytes);
    s->pos = malloc(N * sizeof(int32_t));
    if (!s->x || !s->xb || !s->xb2 || !s->q || !s->att || !s->k || !s->v || !s->gate || !s->up || !s->kb || !s->vb ||
        !s->pos) {
        gemma3_state_free(s);
        return medge_err(MEDGE_ERR_NOMEM, "out of memory for a batch of %d rows", n);
    }
    s->n_max = n;
    return MEDGE_OK;
}

/* Write the batch rows of layer il into its cache cells (the last cap rows of the batch); the
 * batch is cell-major, the cache head-major (gemma3_cache_row). */
static void cache_store(gemma3_cache *c, const gemma3_hparams *hp, int il, const gemma3_state *st, int n)
{
    const int cap = gemma3_cache_cap(c, hp, il);
    for (int t = n > cap ? n - cap : 0; t < n; t++)
        for (int h = 0; h < hp->n_kv_head; h++) {
            const size_t src = ((size_t)t * (size_t)hp->n_kv_head + (size_t)h) * c->row_bytes;
            memcpy(gemma3_cache_row(c, hp, il, 0, st->pos[t], h), st->kb + src, c->row_bytes);
            memcpy(gemma3_cache_row(c, hp, il, 1, st->pos[t], h), st->vb + src, c->row_bytes);
        }
}

/* What the batch does to the position tables, applied once all layers are done. */
static void cache_commit(gemma3_cache *c, const int32_t *pos, int n)
{
    for (int t = 0; t < n; t++) {
        int32_t *ps = &c->pos_swa[pos[t] % c->cap_swa];
        if (*ps >= 0)
            c->wrapped = true;
        *ps = pos[t];
        c->pos_glb[pos[t]] = pos[t];
    }
    c->n_past += n;
}

/* A layer's weight matmul, shown to the state's hook first when there is one. */
static medge_status layer_matmul(medge_pool *pool, ops_scratch *scr, gemma3_state *st, const medge_tensor *w,
                                 const float *x, float *y, int n)
{
    if (st->hook)
        MEDGE_TRY(st->hook(st->hook_user, w, x, n));
    return ops_matmul(pool, scr, w, x, y, n);
}

/* Two or three matmuls of the same input (Q, K, V; gate, up; c == NULL: two): one pool run for a
 * single token (ops_matmul_multi, same values), one by one when a hook observes them. */
static medge_status layer_matmul3(medge_pool *pool, ops_scratch *scr, gemma3_state *st, const medge_tensor *a,
                                  const medge_tensor *b, const medge_tensor *c, const float *x, float *ya, float *yb,
                                  float *yc, int n)
{
    if (st->hook) {
        MEDGE_TRY(layer_matmul(pool, scr, st, a, x, ya, n));
        MEDGE_TRY(layer_matmul(pool, scr, st, b, x, yb, n));
        return c ? layer_matmul(pool, scr, st, c, x, yc, n) : MEDGE_OK;
    }
    const medge_tensor *W[3] = {a, b, c};
    float *y[3] = {ya, yb, yc};
    return ops_matmul_multi(pool, scr, W, c ? 3 : 2, x, y, n);
}

medge_status gemma3_eval(const gemma3_model *m, gemma3_cache *c, gemma3_state *st, medge_pool *pool,
                         const gemma3_batch *b, gemma3_abort_fn abort_fn, void *abort_user)
{
    const gemma3_hparams *hp = &m->hp;
    const ops_kernels *kern = ops_kernels_get();
    const int n = b->n, E = hp->n_embd, D = hp->head_dim, H = hp->n_head, HKV = hp->n_kv_head, F = hp->n_ff;
    const int QD = H * D;
    if (n <= 0)
        return medge_err(MEDGE_ERR_INVALID_ARG, "empty batch");
    if (!b->tokens == !b->embd)
        return medge_err(MEDGE_ERR_INVALID_ARG, "a batch holds either tokens or embeddings");
    if (n > c->n_ctx - c->n_past)
        return medge_err(MEDGE_ERR_CONTEXT_FULL, "%d more positions do not fit the context (%d of %d used)", n,
                         c->n_past, c->n_ctx);
    if (b->tokens)
        for (int i = 0; i < n; i++)
            if (b->tokens[i] < 0 || b->tokens[i] >= hp->n_vocab)
                return medge_err(MEDGE_ERR_RANGE, "token id %d at batch index %d is out of range [0, %d)", b->tokens[i],
                                 i, hp->n_vocab);
    MEDGE_TRY(state_reserve(st, hp, c->row_bytes, n));
    for (int t = 0; t < n; t++)
        st->pos[t] = c->n_past + t;

    /* Embeddings: token rows scaled by sqrt(E); external rows used as given. */
    if (b->tokens) {
        for (int t = 0; t < n; t++) {
            float *row = st->x + (size_t)t * (size_t)E;
            MEDGE_TRY(ops_get_row(&m->tok_embd, b->tokens[t], row));
            ops_scale(row, E, hp->embd_scale);
        }
    } else {
        memcpy(st->x, b->embd, (size_t)n * (size_t)E * sizeof(float));
    }

    ops_attn_params ap = {H, HKV, D, 0, 0, 0};
    if (b->bidirectional && b->embd) {
        ap.bidir_lo = c->n_past;
        ap.bidir_hi = c->n_past + n;
    }

    ops_scratch *scr = &st->scratch;
    int stored_layers = 0;
    medge_status rc = MEDGE_OK;
    for (int il = 0; il < hp->n_layer; il++) {
        const gemma3_layer *L = &m->layers[il];
        if (abort_fn && abort_fn(abort_user)) {
            rc = medge_err(MEDGE_ERR_ABORTED, "evaluation aborted by the caller");
            break;
        }
        /* attention block */
        memcpy(st->xb, st->x, (size_t)n * (size_t)E * sizeof(float));
        ops_rmsnorm(st->xb, L->attn_norm.data, n, E, hp->eps);
        if ((rc = layer_matmul3(pool, scr, st, &L->wq, &L->wk, &L->wv, st->xb, st->q, st->k, st->v, n)) != MEDGE_OK)
            break;
        ops_rmsnorm(st->q, L->q_norm.data, n * H, D, hp->eps);
        ops_rmsnorm(st->k, L->k_norm.data, n * HKV, D, hp->eps);
        float base = L->swa ? hp->rope_base_swa : hp->rope_base;
        float fscale = L->swa ? hp->rope_scale_swa : hp->rope_scale;
        ops_rope_neox(st->q, st->pos, n, H, D, hp->n_rot, base, fscale);
        ops_rope_neox(st->k, st->pos, n, HKV, D, hp->n_rot, base, fscale);
        ops_scale(st->q, (int64_t)n * QD, hp->attn_scale);
        for (int r = 0; r < n * HKV; r++) {
            kern->quantize_act[c->type](st->k + (size_t)r * (size_t)D, st->kb + (size_t)r * c->row_bytes, D);
            kern->quantize_act[c->type](st->v + (size_t)r * (size_t)D, st->vb + (size_t)r * c->row_bytes, D);
        }
        ap.window = L->swa ? hp->window : 0;
        ops_kv_view views[2] = {
            {c->type, c->k[il], c->v[il], c->row_bytes, c->row_bytes,
             (size_t)gemma3_cache_cap(c, hp, il) * c->row_bytes, L->swa ? c->pos_swa : c->pos_glb,
             c->n_past == 0 ? 0 : gemma3_cache_cap(c, hp, il), 0},
            {c->type, st->kb, st->vb, c->row_bytes, (size_t)HKV * c->row_bytes, c->row_bytes, st->pos, n, 0},
        };
        /* Visit the ring from its oldest cell, so keys come in position order (as llama.cpp's
         * cache holds them); the global cache only holds positions < n_past. */
        if (L->swa && c->wrapped)
            views[0].first = c->n_past % c->cap_swa;
        if (!L->swa && views[0].n_cells > c->n_past)
            views[0].n_cells = c->n_past;
        if ((rc = ops_attention(pool, scr, &ap, st->q, st->pos, n, views, 2, st->att)) != MEDGE_OK)
            break;
        cache_store(c, hp, il, st, n);
        stored_layers++;
        if ((rc = layer_matmul(pool, scr, st, &L->wo, st->att, st->xb, n)) != MEDGE_OK)
            break;
        ops_rmsnorm(st->xb, L->post_attn_norm.data, n, E, hp->eps);
        ops_add(st->x, st->xb, (int64_t)n * E);
        /* feed-forward block */
        memcpy(st->xb, st->x, (size_t)n * (size_t)E * sizeof(float));
        ops_rmsnorm(st->xb, L->ffn_norm.data, n, E, hp->eps);
        if ((rc = layer_matmul3(pool, scr, st, &L->ffn_gate, &L->ffn_up, NULL, st->xb, st->gate, st->up, NULL, n)) !=
            MEDGE_OK)
            break;
        ops_geglu(st->gate, st->up, (int64_t)n * F);
        if ((rc = layer_matmul(pool, scr, st, &L->ffn_down, st->gate, st->xb, n)) != MEDGE_OK)
            break;
        ops_rmsnorm(st->xb, L->post_ffw_norm.data, n, E, hp->eps);
        ops_add(st->x, st->xb, (int64_t)n * E);
    }

    if (rc != MEDGE_OK) {
        if (stored_layers > 0) {
            /* Some layers hold the batch's rows in cells that the tables still give to older
             * positions: keep the cache only if no such cell held a live position. */
            bool lost = false;
            for (int t = 0; t < n; t++)
                if (c->pos_swa[st->pos[t] % c->cap_swa] >= 0)
                    lost = true;
            if (lost) {
                gemma3_cache_clear(c);
                MEDGE_LOGW("gemma3: the interrupted batch overwrote sliding-window cells; context cleared");
            }
        }
        return rc;
    }
    cache_commit(c, st->pos, n);

    if (b->logits) {
        int first = b->logits_all ? 0 : n - 1, nout = n - first;
        float *xo = st->x + (size_t)first * (size_t)E;
        ops_rmsnorm(xo, m->output_norm.data, nout, E, hp->eps);
        MEDGE_TRY(ops_matmul(pool, scr, &m->output, xo, b->logits, nout));
    }
    return MEDGE_OK;
}
