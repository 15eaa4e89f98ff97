/* biomedclip.c - open_clip BiomedCLIP -> GGUF. Reads the weights (PyTorch zip or safetensors),
 * derives every dimension from the tensor shapes (vision and text width, layer counts, MLP and
 * projection sizes; heads = width / 64), checks each tensor against the shape the architecture
 * implies, and writes one GGUF with the vision tower (v.*), the text tower (t.*), the WordPiece
 * vocabulary and the keys of specs/biomedclip.md §7.3. */
#include "convert/biomedclip.h"
#include "core/file.h"
#include "core/json.h"
#include "core/log.h"
#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "formats/torchzip.h"
#include "quant/types.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEAD_DIM 64

/* One source tensor, whatever the container. dtype uses tz_dtype numbering. */
typedef struct srct {
    const char *name; /* without a "module." prefix */
    tz_dtype dtype;
    int n_dims;
    int64_t shape[TZ_MAX_DIMS];
    const void *data;
    uint64_t nbytes;
    bool used;
} srct;

typedef struct srcset {
    srct *t;
    size_t n;
    tz_file *tz;
    st_model *st;
} srcset;

static srct *find(srcset *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->t[i].name, name) == 0)
            return &s->t[i];
    return NULL;
}

bool bmc_is_checkpoint_dir(const char *dir)
{
    char *p = medge_path_join(dir, "open_clip_config.json");
    bool ok = p && medge_file_size(p) >= 0;
    free(p);
    return ok;
}

static medge_status from_safetensors(const char *path, srcset *s)
{
    MEDGE_TRY(st_open(path, &s->st));
    s->n = st_count(s->st);
    s->t = calloc(s->n ? s->n : 1, sizeof *s->t);
    if (!s->t)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < s->n; i++) {
        const st_tensor *t = st_at(s->st, i);
        srct *d = &s->t[i];
        static const tz_dtype map[] = {[ST_F32] = TZ_F32, [ST_F16] = TZ_F16, [ST_BF16] = TZ_BF16, [ST_F64] = TZ_F64,
                                       [ST_I64] = TZ_I64, [ST_I32] = TZ_I32, [ST_I16] = TZ_I16, [ST_I8] = TZ_I8,
                                       [ST_U8] = TZ_U8, [ST_BOOL] = TZ_BOOL};
        if ((unsigned)t->dtype >= sizeof map / sizeof map[0] || t->n_dims > TZ_MAX_DIMS)
            return medge_err(MEDGE_ERR_UNSUPPORTED, "%s: tensor '%s' has an unsupported dtype", path, t->name);
        d->name = strncmp(t->name, "module.", 7) == 0 ? t->name + 7 : t->name;
        d->dtype = map[t->dtype];
        d->n_dims = t->n_dims;
        for (int k = 0; k < t->n_dims; k++)
            d->shape[k] = t->shape[k];
        d->data = t->data;
        d->nbytes = t->nbytes;
    }
    return MEDGE_OK;
}

/* open_clip_pytorch_model.bin (what the Hub ships) or open_clip_model.safetensors. */
static medge_status open_weights(const char *dir, srcset *s)
{
    char *bin = medge_path_join(dir, "open_clip_pytorch_model.bin");
    char *sft = medge_path_join(dir, "open_clip_model.safetensors");
    medge_status rc = MEDGE_OK;
    if (!bin || !sft)
        rc = medge_err(MEDGE_ERR_NOMEM, "out of memory");
    else if (medge_file_size(bin) >= 0) {
        rc = tz_open(bin, &s->tz);
        if (rc == MEDGE_OK) {
            s->n = tz_count(s->tz);
            s->t = calloc(s->n ? s->n : 1, sizeof *s->t);
            if (!s->t)
                rc = medge_err(MEDGE_ERR_NOMEM, "out of memory");
        }
        for (size_t i = 0; rc == MEDGE_OK && i < s->n; i++) {
            const tz_tensor *t = tz_at(s->tz, i);
            srct *d = &s->t[i];
            d->name = strncmp(t->name, "module.", 7) == 0 ? t->name + 7 : t->name;
            d->dtype = t->dtype;
            d->n_dims = t->n_dims;
            memcpy(d->shape, t->shape, sizeof d->shape);
            d->data = t->data;
            d->nbytes = t->nbytes;
        }
    } else if (medge_file_size(sft) >= 0)
        rc = from_safetensors(sft, s);
    else
        rc = medge_err(MEDGE_ERR_NOT_FOUND, "%s: neither open_clip_pytorch_model.bin nor open_clip_model.safetensors", dir);
    free(bin);
    free(sft);
    return rc;
}

/* ---- the tensor plan ---- */

typedef struct plan_item {
    char src[160];
    char dst[GGUF_MAX_NAME];
    int n_dims;          /* PyTorch dims expected */
    int64_t shape[4];    /* PyTorch order */
    int g_dims;          /* GGUF dims */
    int64_t ne[4];       /* GGUF order */
    uint32_t type;
    srct *t;
} plan_item;

typedef struct plan {
    plan_item *it;
    size_t n, cap;
    bool f16;
} plan;

static medge_status add(plan *p, srcset *s, const char *src, const char *dst, bool linear, int n_dims,
                        const int64_t *shape, int g_dims, const int64_t *ne)
{
    if (p->n == p->cap) {
        size_t nc = p->cap ? p->cap * 2 : 64;
        plan_item *ni = realloc(p->it, nc * sizeof *ni);
        if (!ni)
            return medge_err(MEDGE_ERR_NOMEM, "out of memory");
        p->it = ni;
        p->cap = nc;
    }
    plan_item *it = &p->it[p->n++];
    memset(it, 0, sizeof *it);
    snprintf(it->src, sizeof it->src, "%s", src);
    snprintf(it->dst, sizeof it->dst, "%s", dst);
    it->n_dims = n_dims;
    memcpy(it->shape, shape, (size_t)n_dims * sizeof *shape);
    it->g_dims = g_dims;
    memcpy(it->ne, ne, (size_t)g_dims * sizeof *ne);
    it->type = linear && p->f16 ? GGML_TYPE_F16 : GGML_TYPE_F32;
    it->t = find(s, src);
    if (!it->t)
        return medge_err(MEDGE_ERR_NOT_FOUND, "checkpoint has no tensor '%s'", src);
    if (it->t->dtype != TZ_F32 && it->t->dtype != TZ_F16 && it->t->dtype != TZ_BF16)
        return medge_err(MEDGE_ERR_UNSUPPORTED, "tensor '%s' has dtype %s (float expected)", src,
                         tz_dtype_name(it->t->dtype));
    bool same = it->t->n_dims == n_dims;
    for (int k = 0; same && k < n_dims; k++)
        same = it->t->shape[k] == shape[k];
    if (!same) {
        char got[128] = "", want[128] = "";
        for (int k = 0; k < it->t->n_dims; k++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", k ? "," : "", (long long)it->t->shape[k]);
        for (int k = 0; k < n_dims; k++)
            snprintf(want + strlen(want), sizeof want - strlen(want), "%s%lld", k ? "," : "", (long long)shape[k]);
        return medge_err(MEDGE_ERR_MISMATCH, "tensor '%s' has shape [%s], expected [%s]", src, got, want);
    }
    it->t->used = true;
    return MEDGE_OK;
}

/* Shorthands: a PyTorch [out,in] linear weight (GGUF {in,out}) and a 1-D vector. */
static medge_status add_lin(plan *p, srcset *s, const char *src, const char *dst, int64_t out, int64_t in)
{
    int64_t sh[2] = {out, in}, ne[2] = {in, out};
    return add(p, s, src, dst, true, 2, sh, 2, ne);
}
static medge_status add_vec(plan *p, srcset *s, const char *src, const char *dst, int64_t n)
{
    return add(p, s, src, dst, false, 1, &n, 1, &n);
}

static int count_layers(srcset *s, const char *fmt)
{
    char nm[160];
    int n = 0;
    for (;;) {
        snprintf(nm, sizeof nm, fmt, n);
        if (!find(s, nm))
            return n;
        n++;
    }
}

static const srct *need(srcset *s, const char *name, int n_dims)
{
    srct *t = find(s, name);
    if (!t) {
        medge_err(MEDGE_ERR_NOT_FOUND, "checkpoint has no tensor '%s' (is this a BiomedCLIP checkpoint?)", name);
        return NULL;
    }
    if (t->n_dims != n_dims) {
        medge_err(MEDGE_ERR_MISMATCH, "tensor '%s' has %d dimensions, expected %d", name, t->n_dims, n_dims);
        return NULL;
    }
    return t;
}

typedef struct dims {
    int64_t image, patch, vd, vl, vff, vpos, proj;
    int64_t td, tl, tff, vocab, tpos, ttypes, tp0, ctx;
} dims;

static medge_status build_plan(plan *p, srcset *s, dims *d)
{
    const srct *pe = need(s, "visual.trunk.patch_embed.proj.weight", 4);
    const srct *hp = need(s, "visual.head.proj.weight", 2);
    const srct *fc1 = need(s, "visual.trunk.blocks.0.mlp.fc1.weight", 2);
    const srct *we = need(s, "text.transformer.embeddings.word_embeddings.weight", 2);
    const srct *pos = need(s, "text.transformer.embeddings.position_embeddings.weight", 2);
    const srct *tt = need(s, "text.transformer.embeddings.token_type_embeddings.weight", 2);
    const srct *im = need(s, "text.transformer.encoder.layer.0.intermediate.dense.weight", 2);
    const srct *p0 = need(s, "text.proj.0.weight", 2);
    if (!pe || !hp || !fc1 || !we || !pos || !tt || !im || !p0)
        return MEDGE_ERR_NOT_FOUND;
    d->vd = pe->shape[0];
    d->patch = pe->shape[2];
    if (d->patch <= 0 || pe->shape[3] != d->patch || pe->shape[1] != 3 || d->image % d->patch)
        return medge_err(MEDGE_ERR_MISMATCH, "patch embedding [%lld,%lld,%lld,%lld] does not fit image size %lld",
                         (long long)pe->shape[0], (long long)pe->shape[1], (long long)pe->shape[2],
                         (long long)pe->shape[3], (long long)d->image);
    d->vpos = (d->image / d->patch) * (d->image / d->patch) + 1;
    d->vl = count_layers(s, "visual.trunk.blocks.%d.norm1.weight");
    d->vff = fc1->shape[0];
    d->proj = hp->shape[0];
    d->td = we->shape[1];
    d->vocab = we->shape[0];
    d->tpos = pos->shape[0];
    d->ttypes = tt->shape[0];
    d->tl = count_layers(s, "text.transformer.encoder.layer.%d.attention.self.query.weight");
    d->tff = im->shape[0];
    d->tp0 = p0->shape[0];
    if (d->vd % HEAD_DIM || d->td % HEAD_DIM || d->vl == 0 || d->tl == 0 || d->ttypes < 1 || d->tpos < 2)
        return medge_err(MEDGE_ERR_MISMATCH, "widths %lld/%lld must be multiples of the head size %d, with layers on "
                         "both towers", (long long)d->vd, (long long)d->td, HEAD_DIM);
    if (d->ctx > d->tpos)
        d->ctx = d->tpos;

    char a[160], b[GGUF_MAX_NAME];
    int64_t v = d->vd, t = d->td;
    {
        int64_t sh[4] = {v, 3, d->patch, d->patch}, ne[4] = {d->patch, d->patch, 3, v};
        MEDGE_TRY(add(p, s, "visual.trunk.patch_embed.proj.weight", "v.patch_embd.weight", false, 4, sh, 4, ne));
    }
    MEDGE_TRY(add_vec(p, s, "visual.trunk.patch_embed.proj.bias", "v.patch_embd.bias", v));
    {
        int64_t sh[3] = {1, 1, v};
        MEDGE_TRY(add(p, s, "visual.trunk.cls_token", "v.class_embd", false, 3, sh, 1, &v));
        int64_t sp[3] = {1, d->vpos, v}, ne[2] = {v, d->vpos};
        MEDGE_TRY(add(p, s, "visual.trunk.pos_embed", "v.position_embd.weight", false, 3, sp, 2, ne));
    }
    for (int l = 0; l < d->vl; l++) {
        static const struct { const char *s, *d; int kind; } m[] = {
            {"norm1.weight", "ln1.weight", 0}, {"norm1.bias", "ln1.bias", 0},
            {"attn.qkv.weight", "attn_qkv.weight", 1}, {"attn.qkv.bias", "attn_qkv.bias", 2},
            {"attn.proj.weight", "attn_out.weight", 3}, {"attn.proj.bias", "attn_out.bias", 0},
            {"norm2.weight", "ln2.weight", 0}, {"norm2.bias", "ln2.bias", 0},
            {"mlp.fc1.weight", "ffn_up.weight", 4}, {"mlp.fc1.bias", "ffn_up.bias", 5},
            {"mlp.fc2.weight", "ffn_down.weight", 6}, {"mlp.fc2.bias", "ffn_down.bias", 0},
        };
        for (size_t k = 0; k < sizeof m / sizeof m[0]; k++) {
            snprintf(a, sizeof a, "visual.trunk.blocks.%d.%s", l, m[k].s);
            snprintf(b, sizeof b, "v.blk.%d.%s", l, m[k].d);
            switch (m[k].kind) {
            case 0: MEDGE_TRY(add_vec(p, s, a, b, v)); break;
            case 1: MEDGE_TRY(add_lin(p, s, a, b, 3 * v, v)); break;
            case 2: MEDGE_TRY(add_vec(p, s, a, b, 3 * v)); break;
            case 3: MEDGE_TRY(add_lin(p, s, a, b, v, v)); break;
            case 4: MEDGE_TRY(add_lin(p, s, a, b, d->vff, v)); break;
            case 5: MEDGE_TRY(add_vec(p, s, a, b, d->vff)); break;
            default: MEDGE_TRY(add_lin(p, s, a, b, v, d->vff)); break;
            }
        }
    }
    MEDGE_TRY(add_vec(p, s, "visual.trunk.norm.weight", "v.post_ln.weight", v));
    MEDGE_TRY(add_vec(p, s, "visual.trunk.norm.bias", "v.post_ln.bias", v));
    MEDGE_TRY(add_lin(p, s, "visual.head.proj.weight", "v.proj.weight", d->proj, v));

    const char *E = "text.transformer.embeddings.";
    snprintf(a, sizeof a, "%sword_embeddings.weight", E);
    {
        int64_t sh[2] = {d->vocab, t}, ne[2] = {t, d->vocab};
        MEDGE_TRY(add(p, s, a, "t.token_embd.weight", false, 2, sh, 2, ne));
        int64_t sp[2] = {d->tpos, t}, np[2] = {t, d->tpos};
        snprintf(a, sizeof a, "%sposition_embeddings.weight", E);
        MEDGE_TRY(add(p, s, a, "t.position_embd.weight", false, 2, sp, 2, np));
        int64_t st[2] = {d->ttypes, t}, nt[2] = {t, d->ttypes};
        snprintf(a, sizeof a, "%stoken_type_embeddings.weight", E);
        MEDGE_TRY(add(p, s, a, "t.token_types.weight", false, 2, st, 2, nt));
    }
    snprintf(a, sizeof a, "%sLayerNorm.weight", E);
    MEDGE_TRY(add_vec(p, s, a, "t.token_embd_norm.weight", t));
    snprintf(a, sizeof a, "%sLayerNorm.bias", E);
    MEDGE_TRY(add_vec(p, s, a, "t.token_embd_norm.bias", t));
    for (int l = 0; l < d->tl; l++) {
        static const struct { const char *s, *d; int kind; } m[] = {
            {"attention.self.query.weight", "attn_q.weight", 1}, {"attention.self.query.bias", "attn_q.bias", 0},
            {"attention.self.key.weight", "attn_k.weight", 1}, {"attention.self.key.bias", "attn_k.bias", 0},
            {"attention.self.value.weight", "attn_v.weight", 1}, {"attention.self.value.bias", "attn_v.bias", 0},
            {"attention.output.dense.weight", "attn_out.weight", 1}, {"attention.output.dense.bias", "attn_out.bias", 0},
            {"attention.output.LayerNorm.weight", "attn_out_norm.weight", 0},
            {"attention.output.LayerNorm.bias", "attn_out_norm.bias", 0},
            {"intermediate.dense.weight", "ffn_up.weight", 2}, {"intermediate.dense.bias", "ffn_up.bias", 3},
            {"output.dense.weight", "ffn_down.weight", 4}, {"output.dense.bias", "ffn_down.bias", 0},
            {"output.LayerNorm.weight", "layer_out_norm.weight", 0}, {"output.LayerNorm.bias", "layer_out_norm.bias", 0},
        };
        for (size_t k = 0; k < sizeof m / sizeof m[0]; k++) {
            snprintf(a, sizeof a, "text.transformer.encoder.layer.%d.%s", l, m[k].s);
            snprintf(b, sizeof b, "t.blk.%d.%s", l, m[k].d);
            switch (m[k].kind) {
            case 0: MEDGE_TRY(add_vec(p, s, a, b, t)); break;
            case 1: MEDGE_TRY(add_lin(p, s, a, b, t, t)); break;
            case 2: MEDGE_TRY(add_lin(p, s, a, b, d->tff, t)); break;
            case 3: MEDGE_TRY(add_vec(p, s, a, b, d->tff)); break;
            default: MEDGE_TRY(add_lin(p, s, a, b, t, d->tff)); break;
            }
        }
    }
    MEDGE_TRY(add_lin(p, s, "text.proj.0.weight", "t.proj.0.weight", d->tp0, t));
    MEDGE_TRY(add_lin(p, s, "text.proj.2.weight", "t.proj.2.weight", d->proj, d->tp0));
    return MEDGE_OK;
}

/* ---- vocabulary ---- */

typedef struct vocab {
    medge_map file;
    char **tok;
    size_t n;     /* lines of vocab.txt */
    size_t total; /* after padding to the embedding rows */
} vocab;

static void vocab_free(vocab *v)
{
    for (size_t i = 0; i < v->total; i++)
        free(v->tok[i]);
    free(v->tok);
    medge_unmap(&v->file);
}

static medge_status vocab_load(const char *dir, int64_t rows, vocab *v)
{
    char *path = medge_path_join(dir, "vocab.txt");
    if (!path)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    medge_status rc = medge_read_file(path, &v->file);
    if (rc != MEDGE_OK) {
        medge_err_prefix(rc, "%s", path);
        free(path);
        return rc;
    }
    const char *s = (const char *)v->file.data, *e = s + v->file.size;
    size_t lines = 0;
    for (const char *q = s; q < e; q++)
        lines += *q == '\n';
    if (v->file.size && e[-1] != '\n')
        lines++;
    if ((int64_t)lines > rows) {
        rc = medge_err(MEDGE_ERR_MISMATCH, "%s has %zu tokens but the token embedding has %lld rows", path, lines,
                       (long long)rows);
        free(path);
        return rc;
    }
    free(path);
    if (lines == 0)
        return medge_err(MEDGE_ERR_FORMAT, "vocab.txt is empty");
    v->tok = calloc((size_t)rows, sizeof *v->tok);
    if (!v->tok)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    v->total = (size_t)rows;
    const char *q = s;
    for (size_t i = 0; i < lines; i++) {
        const char *nl = memchr(q, '\n', (size_t)(e - q));
        const char *le = nl ? nl : e;
        size_t len = (size_t)(le - q);
        if (len && q[len - 1] == '\r')
            len--;
        v->tok[i] = malloc(len + 1);
        if (!v->tok[i])
            return medge_err(MEDGE_ERR_NOMEM, "out of memory");
        memcpy(v->tok[i], q, len);
        v->tok[i][len] = 0;
        q = nl ? nl + 1 : e;
    }
    v->n = lines;
    for (size_t i = lines; i < v->total; i++) {
        char buf[32];
        snprintf(buf, sizeof buf, "[PAD%zu]", i);
        v->tok[i] = strdup(buf);
        if (!v->tok[i])
            return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    }
    return MEDGE_OK;
}

static int64_t vocab_id(const vocab *v, const char *s)
{
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->tok[i], s) == 0)
            return (int64_t)i;
    return -1;
}

/* ---- config ---- */

static medge_status read_config(const char *dir, dims *d, float mean[3], float std_[3])
{
    char *path = medge_path_join(dir, "open_clip_config.json");
    if (!path)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    json_doc *doc = NULL;
    medge_status rc = json_parse_file(path, &doc);
    free(path);
    MEDGE_TRY(rc);
    const json_value *root = json_root(doc), *mc = json_get(root, "model_cfg");
    const json_value *vc = json_get(mc, "vision_cfg"), *tc = json_get(mc, "text_cfg");
    const json_value *pc = json_get(root, "preprocess_cfg");
    static const float k_mean[3] = {0.48145466f, 0.4578275f, 0.40821073f}, k_std[3] = {0.26862954f, 0.26130258f, 0.27577711f};
    memcpy(mean, k_mean, sizeof k_mean);
    memcpy(std_, k_std, sizeof k_std);
    int64_t image = 224, ctx = 77;
    const char *s;
    if (!mc || !vc || !tc) {
        rc = medge_err(MEDGE_ERR_FORMAT, "open_clip_config.json: model_cfg.vision_cfg / text_cfg missing");
        goto done;
    }
    if (!json_get_str(vc, "timm_model_name") || !json_get_str(tc, "hf_model_name")) {
        rc = medge_err(MEDGE_ERR_UNSUPPORTED, "open_clip_config.json: only timm vision + Hugging Face text towers "
                                              "(BiomedCLIP) are supported");
        goto done;
    }
    json_get_int(vc, "image_size", &image);
    json_get_int(tc, "context_length", &ctx);
    if ((s = json_get_str(vc, "timm_pool")) && s[0] && strcmp(s, "token") != 0) {
        rc = medge_err(MEDGE_ERR_UNSUPPORTED, "vision pooling '%s' (CLS pooling expected)", s);
        goto done;
    }
    if ((s = json_get_str(vc, "timm_proj")) && strcmp(s, "linear") != 0) {
        rc = medge_err(MEDGE_ERR_UNSUPPORTED, "vision projection '%s' (linear expected)", s);
        goto done;
    }
    if ((s = json_get_str(tc, "hf_proj_type")) && strcmp(s, "mlp") != 0) {
        rc = medge_err(MEDGE_ERR_UNSUPPORTED, "text projection '%s' (mlp expected)", s);
        goto done;
    }
    if ((s = json_get_str(tc, "hf_pooler_type")) && strcmp(s, "cls_last_hidden_state_pooler") != 0) {
        rc = medge_err(MEDGE_ERR_UNSUPPORTED, "text pooler '%s' (cls_last_hidden_state_pooler expected)", s);
        goto done;
    }
    if (pc) {
        if ((s = json_get_str(pc, "interpolation")) && strcmp(s, "bicubic") != 0) {
            rc = medge_err(MEDGE_ERR_UNSUPPORTED, "preprocess interpolation '%s' (bicubic expected)", s);
            goto done;
        }
        if ((s = json_get_str(pc, "resize_mode")) && strcmp(s, "shortest") != 0) {
            rc = medge_err(MEDGE_ERR_UNSUPPORTED, "preprocess resize_mode '%s' (shortest expected)", s);
            goto done;
        }
        const char *names[2] = {"mean", "std"};
        float *dst[2] = {mean, std_};
        for (int k = 0; k < 2; k++) {
            const json_value *a = json_get(pc, names[k]);
            if (!a)
                continue;
            if (a->type != JSON_ARRAY || a->len != 3) {
                rc = medge_err(MEDGE_ERR_FORMAT, "preprocess_cfg.%s must be an array of 3 numbers", names[k]);
                goto done;
            }
            for (int c = 0; c < 3; c++) {
                if (a->items[c].type != JSON_NUMBER || (names[k][0] == 's' && !(a->items[c].num > 0))) {
                    rc = medge_err(MEDGE_ERR_FORMAT, "preprocess_cfg.%s[%d] is not a valid number", names[k], c);
                    goto done;
                }
                dst[k][c] = (float)a->items[c].num;
            }
        }
    }
    if (image < 16 || image > 4096 || ctx < 2 || ctx > 65536) {
        rc = medge_err(MEDGE_ERR_RANGE, "open_clip_config.json: image_size %lld / context_length %lld out of range",
                       (long long)image, (long long)ctx);
        goto done;
    }
    d->image = image;
    d->ctx = ctx;
done:
    json_free(doc);
    return rc;
}

/* ---- writing ---- */

static medge_status write_tensor(gguf_writer *w, const plan_item *it)
{
    const srct *t = it->t;
    uint64_t n = t->nbytes / tz_dtype_size(t->dtype);
    if (it->type == GGML_TYPE_F32 && t->dtype == TZ_F32)
        return gguf_writer_write(w, t->data, (size_t)t->nbytes);
    enum { CH = 4096 };
    float f[CH];
    uint16_t h[CH];
    const uint8_t *src = t->data;
    for (uint64_t i = 0; i < n; i += CH) {
        size_t m = n - i < CH ? (size_t)(n - i) : CH;
        for (size_t k = 0; k < m; k++) {
            uint64_t j = i + k;
            if (t->dtype == TZ_F32)
                memcpy(&f[k], src + 4 * j, 4);
            else {
                uint16_t u;
                memcpy(&u, src + 2 * j, 2);
                f[k] = t->dtype == TZ_F16 ? medge_fp16_to_fp32(u) : medge_bf16_to_fp32(u);
            }
        }
        if (it->type == GGML_TYPE_F16) {
            for (size_t k = 0; k < m; k++)
                h[k] = medge_fp32_to_fp16(f[k]);
            MEDGE_TRY(gguf_writer_write(w, h, m * 2));
        } else
            MEDGE_TRY(gguf_writer_write(w, f, m * 4));
    }
    return MEDGE_OK;
}

static float read_scalar(const srct *t)
{
    uint16_t u;
    float f;
    if (t->dtype == TZ_F32) {
        memcpy(&f, t->data, 4);
        return f;
    }
    memcpy(&u, t->data, 2);
    return t->dtype == TZ_F16 ? medge_fp16_to_fp32(u) : medge_bf16_to_fp32(u);
}

static medge_status write_all(gguf_writer *w, const plan *p, const dims *d, const vocab *v, float logit_scale,
                              const float mean[3], const float std_[3], const bmc_convert_opts *o)
{
#define T(x) MEDGE_TRY(x)
    T(gguf_writer_set_str(w, "general.architecture", "clip"));
    T(gguf_writer_set_str(w, "general.name", o->name ? o->name : "BiomedCLIP-PubMedBERT_256-vit_base_patch16_224"));
    T(gguf_writer_set_u32(w, "general.file_type", o->f16 ? 1 : 0));
    T(gguf_writer_set_str(w, "clip.projector_type", "biomedclip"));
    T(gguf_writer_set_bool(w, "clip.has_vision_encoder", true));
    T(gguf_writer_set_bool(w, "clip.has_text_encoder", true));
    T(gguf_writer_set_bool(w, "clip.use_gelu", true));
    T(gguf_writer_set_bool(w, "clip.gelu_erf", true));
    T(gguf_writer_set_f32(w, "clip.logit_scale", logit_scale));
    T(gguf_writer_set_u32(w, "clip.vision.image_size", (uint32_t)d->image));
    T(gguf_writer_set_u32(w, "clip.vision.patch_size", (uint32_t)d->patch));
    T(gguf_writer_set_u32(w, "clip.vision.embedding_length", (uint32_t)d->vd));
    T(gguf_writer_set_u32(w, "clip.vision.feed_forward_length", (uint32_t)d->vff));
    T(gguf_writer_set_u32(w, "clip.vision.block_count", (uint32_t)d->vl));
    T(gguf_writer_set_u32(w, "clip.vision.attention.head_count", (uint32_t)(d->vd / HEAD_DIM)));
    T(gguf_writer_set_f32(w, "clip.vision.attention.layer_norm_epsilon", 1e-6f));
    T(gguf_writer_set_u32(w, "clip.vision.projection_dim", (uint32_t)d->proj));
    T(gguf_writer_set_arr(w, "clip.vision.image_mean", GGUF_F32, mean, 3));
    T(gguf_writer_set_arr(w, "clip.vision.image_std", GGUF_F32, std_, 3));
    T(gguf_writer_set_str(w, "clip.vision.pooling", "cls"));
    T(gguf_writer_set_str(w, "clip.vision.resize", "shortest_center_crop"));
    T(gguf_writer_set_str(w, "clip.vision.interpolation", "bicubic_pillow"));
    T(gguf_writer_set_u32(w, "clip.text.embedding_length", (uint32_t)d->td));
    T(gguf_writer_set_u32(w, "clip.text.feed_forward_length", (uint32_t)d->tff));
    T(gguf_writer_set_u32(w, "clip.text.block_count", (uint32_t)d->tl));
    T(gguf_writer_set_u32(w, "clip.text.attention.head_count", (uint32_t)(d->td / HEAD_DIM)));
    T(gguf_writer_set_f32(w, "clip.text.attention.layer_norm_epsilon", 1e-12f));
    T(gguf_writer_set_u32(w, "clip.text.context_length", (uint32_t)d->ctx));
    T(gguf_writer_set_u32(w, "clip.text.projection_dim", (uint32_t)d->proj));
    T(gguf_writer_set_str(w, "clip.text.pooling", "cls"));
    T(gguf_writer_set_str(w, "clip.text.proj_type", "mlp"));
    T(gguf_writer_set_str(w, "tokenizer.ggml.model", "bert"));
    T(gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)v->tok, v->total));
    int32_t *types = malloc(v->total * sizeof *types);
    if (!types)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < v->total; i++) {
        const char *s = v->tok[i];
        types[i] = i >= v->n ? 5 /* unused */ : strcmp(s, "[UNK]") == 0 ? 2 /* unknown */
                 : (strcmp(s, "[PAD]") == 0 || strcmp(s, "[CLS]") == 0 || strcmp(s, "[SEP]") == 0 ||
                    strcmp(s, "[MASK]") == 0) ? 3 /* control */ : 1;
    }
    medge_status rc = gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_I32, types, v->total);
    free(types);
    T(rc);
    static const struct { const char *tok, *key; bool required; } sp[] = {
        {"[CLS]", "tokenizer.ggml.bos_token_id", true},      {"[SEP]", "tokenizer.ggml.seperator_token_id", true},
        {"[PAD]", "tokenizer.ggml.padding_token_id", true},  {"[UNK]", "tokenizer.ggml.unknown_token_id", true},
        {"[MASK]", "tokenizer.ggml.mask_token_id", false},
    };
    for (size_t k = 0; k < sizeof sp / sizeof sp[0]; k++) {
        int64_t id = vocab_id(v, sp[k].tok);
        if (id < 0) {
            if (sp[k].required)
                return medge_err(MEDGE_ERR_NOT_FOUND, "vocab.txt has no %s token", sp[k].tok);
            continue;
        }
        T(gguf_writer_set_u32(w, sp[k].key, (uint32_t)id));
    }
    T(gguf_writer_set_bool(w, "tokenizer.ggml.do_lower_case", true));
    for (size_t i = 0; i < p->n; i++)
        T(gguf_writer_add_tensor(w, p->it[i].dst, p->it[i].type, (uint32_t)p->it[i].g_dims, p->it[i].ne));
    T(gguf_writer_begin_data(w));
    for (size_t i = 0; i < p->n; i++)
        T(write_tensor(w, &p->it[i]));
#undef T
    return gguf_writer_finish(w);
}

medge_status bmc_convert(const char *dir, const char *out_path, const bmc_convert_opts *opts)
{
    bmc_convert_opts o = {0};
    if (opts)
        o = *opts;
    dims d = {0};
    float mean[3], std_[3];
    MEDGE_TRY(read_config(dir, &d, mean, std_));
    srcset s = {0};
    plan p = {.f16 = o.f16};
    vocab v = {0};
    gguf_writer *w = NULL;
    float logit_scale = 0;
    medge_status rc = open_weights(dir, &s);
    if (rc == MEDGE_OK)
        rc = build_plan(&p, &s, &d);
    if (rc == MEDGE_OK) {
        srct *ls = find(&s, "logit_scale");
        if (!ls || ls->n_dims > 1 || ls->nbytes != tz_dtype_size(ls->dtype) ||
            (ls->dtype != TZ_F32 && ls->dtype != TZ_F16 && ls->dtype != TZ_BF16))
            rc = medge_err(MEDGE_ERR_NOT_FOUND, "checkpoint has no scalar float 'logit_scale'");
        else {
            ls->used = true;
            logit_scale = read_scalar(ls);
            if (!isfinite(logit_scale))
                rc = medge_err(MEDGE_ERR_FORMAT, "logit_scale is not finite");
        }
    }
    for (size_t i = 0; rc == MEDGE_OK && i < s.n; i++) {
        if (s.t[i].used)
            continue;
        if (strcmp(s.t[i].name, "text.transformer.embeddings.position_ids") == 0)
            continue; /* an int64 buffer older transformers saved; not a weight */
        rc = medge_err(MEDGE_ERR_UNSUPPORTED, "unexpected tensor '%s' (not part of BiomedCLIP's architecture)",
                       s.t[i].name);
    }
    if (rc == MEDGE_OK)
        rc = vocab_load(dir, d.vocab, &v);
    if (rc == MEDGE_OK)
        rc = gguf_writer_open(out_path, &w);
    if (rc == MEDGE_OK)
        rc = write_all(w, &p, &d, &v, logit_scale, mean, std_, &o);
    if (rc == MEDGE_OK)
        MEDGE_LOGI("biomedclip: vision %lldx%lld (%lld layers), text %lldx%lld (%lld layers), vocab %zu/%lld, "
                   "embed %lld -> %s", (long long)d.vd, (long long)d.vff, (long long)d.vl, (long long)d.td,
                   (long long)d.tff, (long long)d.tl, v.n, (long long)d.vocab, (long long)d.proj, out_path);
    gguf_writer_free(w);
    vocab_free(&v);
    free(p.it);
    free(s.t);
    tz_close(s.tz);
    st_close(s.st);
    return rc;
}
