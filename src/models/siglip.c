/* siglip.c - the Gemma 3 vision encoder as llama.cpp's clip.cpp computes it (specs/gemma3.md §4):
 * patch embedding (a 14x14 stride-14 convolution written as a matmul over patches) plus learned
 * position embeddings, pre-LN transformer blocks (LayerNorm eps from the file, bidirectional
 * multi-head attention, tanh-GELU MLP), post-LayerNorm, then the Gemma 3 projector: k x k
 * average pooling of the patch grid, RMSNorm with the stored (1 + w) weight, and a projection
 * to the text model's width. Weights stay in the mapped file in whatever type they have; the
 * only copies are small vectors stored in another type and the transposed projection. */
#include "models/siglip.h"
#include "ops/attention-dense.h"
#include "ops/kernels.h"
#include "core/log.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static medge_status own(siglip_model *m, void *p)
{
    void **o = realloc(m->owned, sizeof(void *) * (size_t)(m->n_owned + 1));
    if (!o) {
        free(p);
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    }
    m->owned = o;
    m->owned[m->n_owned++] = p;
    return MEDGE_OK;
}

static medge_status find(const siglip_model *m, const char *name, const gguf_tensor **t)
{
    *t = gguf_get_tensor(m->gguf, name);
    if (!*t)
        return medge_err(MEDGE_ERR_NOT_FOUND, "mmproj: tensor %s is missing", name);
    if (!(*t)->data)
        return medge_err(MEDGE_ERR_INTERNAL, "mmproj: tensor %s has no data in memory", name);
    return MEDGE_OK;
}

/* A vector of n floats: the mapping itself when F32, else a converted copy. */
static medge_status vec(siglip_model *m, const char *name, int64_t n, const float **out)
{
    const gguf_tensor *t;
    MEDGE_TRY(find(m, name, &t));
    int64_t cnt = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
    if (cnt != n)
        return medge_err(MEDGE_ERR_MISMATCH, "mmproj: %s has %lld elements, expected %lld", name, (long long)cnt,
                         (long long)n);
    if (t->type == GGML_TYPE_F32) {
        *out = t->data;
        return MEDGE_OK;
    }
    const quant_traits *tr = quant_get_traits(t->type);
    if (!tr || !tr->to_float || n % tr->blck)
        return medge_err(MEDGE_ERR_UNSUPPORTED, "mmproj: %s has type %s, which cannot be read as floats", name,
                         quant_type_name(t->type));
    float *f = malloc(sizeof(float) * (size_t)n);
    if (!f)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory for %s", name);
    tr->to_float(t->data, f, n);
    MEDGE_TRY(own(m, f));
    *out = f;
    return MEDGE_OK;
}

/* A weight matrix used by ops_matmul: ne0 = in, ne1 = out. */
static medge_status mat(siglip_model *m, const char *name, int64_t in, int64_t out_rows, medge_tensor *w)
{
    const gguf_tensor *t;
    MEDGE_TRY(find(m, name, &t));
    if (t->ne[0] != in || t->ne[1] != out_rows || t->ne[2] != 1 || t->ne[3] != 1)
        return medge_err(MEDGE_ERR_MISMATCH, "mmproj: %s has shape [%lld, %lld, %lld, %lld], expected [%lld, %lld]",
                         name, (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], (long long)t->ne[3],
                         (long long)in, (long long)out_rows);
    const quant_traits *tr = quant_get_traits(t->type);
    if (!tr || !tr->vec_dot || quant_row_size(t->type, in) == 0)
        return medge_err(MEDGE_ERR_UNSUPPORTED, "mmproj: %s has type %s, which medge cannot multiply", name,
                         quant_type_name(t->type));
    w->name = t->name.s;
    w->type = t->type;
    w->ne[0] = in;
    w->ne[1] = out_rows;
    w->ne[2] = w->ne[3] = 1;
    w->nb1 = quant_row_size(t->type, in);
    w->data = t->data;
    return MEDGE_OK;
}

static medge_status u32_key(const gguf_ctx *g, const char *key, int lo, int hi, int *out)
{
    uint32_t v;
    medge_status rc = gguf_get_u32(g, key, &v);
    if (rc != MEDGE_OK)
        return medge_err_prefix(rc, "mmproj");
    if ((int64_t)v < lo || (int64_t)v > hi)
        return medge_err(MEDGE_ERR_FORMAT, "mmproj: %s = %u is out of range [%d, %d]", key, v, lo, hi);
    *out = (int)v;
    return MEDGE_OK;
}

static medge_status load_hparams(siglip_model *m)
{
    const gguf_ctx *g = m->gguf;
    const char *arch = NULL, *proj = NULL;
    if (gguf_get_str(g, "general.architecture", &arch) != MEDGE_OK || strcmp(arch, "clip") != 0)
        return medge_err(MEDGE_ERR_MISMATCH, "not an mmproj file: general.architecture is '%s', expected 'clip'",
                         arch ? arch : "(missing)");
    bool has_vision = false;
    if (gguf_get_bool(g, "clip.has_vision_encoder", &has_vision) != MEDGE_OK || !has_vision)
        return medge_err(MEDGE_ERR_MISMATCH, "mmproj: the file has no vision encoder (clip.has_vision_encoder)");
    if (gguf_get_str(g, "clip.projector_type", &proj) != MEDGE_OK)
        proj = gguf_get_str(g, "clip.vision.projector_type", &proj) == MEDGE_OK ? proj : NULL;
    if (!proj || strcmp(proj, "gemma3") != 0)
        return medge_err(MEDGE_ERR_MISMATCH,
                         "mmproj: projector type is '%s', but MedGemma / Gemma 3 needs 'gemma3' (is this the mmproj "
                         "of another model?)",
                         proj ? proj : "(missing)");
    MEDGE_TRY(u32_key(g, "clip.vision.image_size", 1, 8192, &m->image_size));
    MEDGE_TRY(u32_key(g, "clip.vision.patch_size", 1, 1024, &m->patch));
    MEDGE_TRY(u32_key(g, "clip.vision.embedding_length", 1, 65536, &m->n_embd));
    MEDGE_TRY(u32_key(g, "clip.vision.feed_forward_length", 1, 1 << 20, &m->n_ff));
    MEDGE_TRY(u32_key(g, "clip.vision.block_count", 1, 1024, &m->n_layer));
    MEDGE_TRY(u32_key(g, "clip.vision.attention.head_count", 1, 1024, &m->n_head));
    MEDGE_TRY(u32_key(g, "clip.vision.projection_dim", 1, 1 << 20, &m->proj_dim));
    m->merge = 4;
    if (gguf_find_key(g, "clip.vision.projector.scale_factor") >= 0)
        MEDGE_TRY(u32_key(g, "clip.vision.projector.scale_factor", 1, 1024, &m->merge));
    m->eps = 1e-6f;
    if (gguf_find_key(g, "clip.vision.attention.layer_norm_epsilon") >= 0) {
        MEDGE_TRY(gguf_get_f32(g, "clip.vision.attention.layer_norm_epsilon", &m->eps));
        if (!(m->eps > 0 && m->eps < 1))
            return medge_err(MEDGE_ERR_FORMAT, "mmproj: layer_norm_epsilon %g out of range", (double)m->eps);
    }
    bool gelu = false;
    if (gguf_get_bool(g, "clip.use_gelu", &gelu) != MEDGE_OK || !gelu)
        return medge_err(MEDGE_ERR_UNSUPPORTED, "mmproj: clip.use_gelu is not set; Gemma 3's encoder uses GELU (a file "
                                                "without it would mean quick-GELU, which is not Gemma 3)");
    for (int c = 0; c < 3; c++)
        m->mean[c] = m->std[c] = 0.5f;
    const char *keys[2] = {"clip.vision.image_mean", "clip.vision.image_std"};
    float *dst[2] = {m->mean, m->std};
    for (int k = 0; k < 2; k++) {
        if (gguf_find_key(g, keys[k]) < 0)
            continue;
        const void *d;
        uint64_t n;
        MEDGE_TRY(gguf_get_arr(g, keys[k], GGUF_F32, &d, &n));
        if (n != 3)
            return medge_err(MEDGE_ERR_FORMAT, "mmproj: %s has %llu values, expected 3", keys[k], (unsigned long long)n);
        memcpy(dst[k], d, sizeof(float) * 3);
    }
    for (int c = 0; c < 3; c++)
        if (!(m->std[c] > 0) || !isfinite(m->mean[c]))
            return medge_err(MEDGE_ERR_FORMAT, "mmproj: bad image mean / std");
    if (m->image_size % m->patch)
        return medge_err(MEDGE_ERR_FORMAT, "mmproj: image size %d is not a multiple of the patch size %d",
                         m->image_size, m->patch);
    m->grid = m->image_size / m->patch;
    if (m->grid % m->merge)
        return medge_err(MEDGE_ERR_FORMAT, "mmproj: %d patches per side do not pool by %d", m->grid, m->merge);
    if (m->n_embd % m->n_head)
        return medge_err(MEDGE_ERR_FORMAT, "mmproj: width %d is not divisible by %d heads", m->n_embd, m->n_head);
    m->head_dim = m->n_embd / m->n_head;
    m->n_tokens = (m->grid / m->merge) * (m->grid / m->merge);
    return MEDGE_OK;
}

static medge_status load_tensors(siglip_model *m)
{
    const int C = m->n_embd, P = m->patch, N = m->grid * m->grid;
    const gguf_tensor *t;
    char name[GGUF_MAX_NAME];
    /* conv kernel [P, P, 3, C] read as C rows of 3*P*P (channel, ky, kx) */
    MEDGE_TRY(find(m, "v.patch_embd.weight", &t));
    if (t->ne[0] != P || t->ne[1] != P || t->ne[2] != 3 || t->ne[3] != C)
        return medge_err(MEDGE_ERR_MISMATCH, "mmproj: v.patch_embd.weight has shape [%lld, %lld, %lld, %lld], expected [%d, %d, 3, %d]",
                         (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], (long long)t->ne[3], P, P, C);
    if (t->type != GGML_TYPE_F32 && t->type != GGML_TYPE_F16 && t->type != GGML_TYPE_BF16)
        return medge_err(MEDGE_ERR_UNSUPPORTED, "mmproj: v.patch_embd.weight has type %s (F32, F16 or BF16 expected)",
                         quant_type_name(t->type));
    m->patch_w.name = t->name.s;
    m->patch_w.type = t->type;
    m->patch_w.ne[0] = 3 * P * P;
    m->patch_w.ne[1] = C;
    m->patch_w.ne[2] = m->patch_w.ne[3] = 1;
    m->patch_w.nb1 = quant_row_size(t->type, 3 * P * P);
    m->patch_w.data = t->data;
    m->f16_patches = t->type != GGML_TYPE_BF16;
    MEDGE_TRY(vec(m, "v.patch_embd.bias", C, &m->patch_b));
    MEDGE_TRY(find(m, "v.position_embd.weight", &t));
    if (t->ne[0] != C || t->ne[1] != N)
        return medge_err(MEDGE_ERR_MISMATCH, "mmproj: v.position_embd.weight has shape [%lld, %lld], expected [%d, %d]",
                         (long long)t->ne[0], (long long)t->ne[1], C, N);
    MEDGE_TRY(vec(m, "v.position_embd.weight", (int64_t)C * N, &m->pos));
    m->layers = calloc((size_t)m->n_layer, sizeof *m->layers);
    if (!m->layers)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    for (int il = 0; il < m->n_layer; il++) {
        siglip_layer *L = &m->layers[il];
#define V(field, suffix, n)                                             \
    snprintf(name, sizeof name, "v.blk.%d.%s", il, suffix);             \
    MEDGE_TRY(vec(m, name, n, &L->field))
#define M(field, suffix, in, out)                                       \
    snprintf(name, sizeof name, "v.blk.%d.%s", il, suffix);             \
    MEDGE_TRY(mat(m, name, in, out, &L->field))
        V(ln1_w, "ln1.weight", C);
        V(ln1_b, "ln1.bias", C);
        V(ln2_w, "ln2.weight", C);
        V(ln2_b, "ln2.bias", C);
        M(q, "attn_q.weight", C, C);
        M(k, "attn_k.weight", C, C);
        M(v, "attn_v.weight", C, C);
        M(o, "attn_out.weight", C, C);
        V(q_b, "attn_q.bias", C);
        V(k_b, "attn_k.bias", C);
        V(v_b, "attn_v.bias", C);
        V(o_b, "attn_out.bias", C);
        M(up, "ffn_up.weight", C, m->n_ff);
        M(down, "ffn_down.weight", m->n_ff, C);
        V(up_b, "ffn_up.bias", m->n_ff);
        V(down_b, "ffn_down.bias", C);
#undef V
#undef M
    }
    /* an F32 mmproj asks for reference numerics; any smaller weight type already rounds more than
     * BF16 attention products do */
    m->attn_prec = m->layers[0].q.type == GGML_TYPE_F32 ? OPS_ATTN_F32 : OPS_ATTN_BF16;
    MEDGE_TRY(vec(m, "v.post_ln.weight", C, &m->post_ln_w));
    MEDGE_TRY(vec(m, "v.post_ln.bias", C, &m->post_ln_b));
    MEDGE_TRY(vec(m, "mm.soft_emb_norm.weight", C, &m->soft_norm_w));
    /* mm.input_projection.weight: ne = [proj_dim, C] (HF [C, proj_dim]); ggml multiplies by its
     * transpose, made contiguous in the same type, so store W^T as rows of C. */
    MEDGE_TRY(find(m, "mm.input_projection.weight", &t));
    if (t->ne[0] != m->proj_dim || t->ne[1] != C || t->ne[2] != 1 || t->ne[3] != 1)
        return medge_err(MEDGE_ERR_MISMATCH, "mmproj: mm.input_projection.weight has shape [%lld, %lld], expected [%d, %d]",
                         (long long)t->ne[0], (long long)t->ne[1], m->proj_dim, C);
    const quant_traits *tr = quant_get_traits(t->type);
    if (!tr || !tr->to_float)
        return medge_err(MEDGE_ERR_UNSUPPORTED, "mmproj: mm.input_projection.weight has type %s",
                         quant_type_name(t->type));
    size_t n = (size_t)C * (size_t)m->proj_dim;
    float *full = malloc(sizeof(float) * n);
    if (!full)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory for the projection");
    for (int r = 0; r < C; r++)
        tr->to_float((const uint8_t *)t->data + (size_t)r * quant_row_size(t->type, m->proj_dim),
                     full + (size_t)r * (size_t)m->proj_dim, m->proj_dim);
    int keep_f16 = t->type == GGML_TYPE_F16;
    void *tw = malloc(keep_f16 ? n * 2 : n * 4);
    if (!tw) {
        free(full);
        return medge_err(MEDGE_ERR_NOMEM, "out of memory for the projection");
    }
    for (int j = 0; j < m->proj_dim; j++)
        for (int i = 0; i < C; i++) {
            float v = full[(size_t)i * (size_t)m->proj_dim + (size_t)j];
            if (keep_f16)
                ((uint16_t *)tw)[(size_t)j * (size_t)C + (size_t)i] = medge_fp32_to_fp16(v);
            else
                ((float *)tw)[(size_t)j * (size_t)C + (size_t)i] = v;
        }
    free(full);
    MEDGE_TRY(own(m, tw));
    m->proj.name = "mm.input_projection.weight^T";
    m->proj.type = keep_f16 ? GGML_TYPE_F16 : GGML_TYPE_F32;
    m->proj.ne[0] = C;
    m->proj.ne[1] = m->proj_dim;
    m->proj.ne[2] = m->proj.ne[3] = 1;
    m->proj.nb1 = quant_row_size(m->proj.type, C);
    m->proj.data = tw;
    return MEDGE_OK;
}

medge_status siglip_load_gguf(gguf_ctx *g, siglip_model **out)
{
    *out = NULL;
    siglip_model *m = calloc(1, sizeof *m);
    if (!m)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    m->gguf = g;
    medge_status rc = load_hparams(m);
    if (rc == MEDGE_OK)
        rc = load_tensors(m);
    if (rc != MEDGE_OK) {
        m->gguf = NULL; /* the caller keeps g on failure */
        siglip_free(m);
        return rc;
    }
    MEDGE_LOGI("mmproj: SigLIP %d layers, width %d, %d heads, image %d, patch %d -> %d tokens of %d", m->n_layer,
               m->n_embd, m->n_head, m->image_size, m->patch, m->n_tokens, m->proj_dim);
    *out = m;
    return MEDGE_OK;
}

medge_status siglip_load(const char *path, siglip_model **out)
{
    gguf_ctx *g;
    medge_status rc = gguf_open(path, &g);
    if (rc != MEDGE_OK)
        return medge_err_prefix(rc, "%s", path);
    rc = siglip_load_gguf(g, out);
    if (rc != MEDGE_OK) {
        gguf_close(g);
        return medge_err_prefix(rc, "%s", path);
    }
    return MEDGE_OK;
}

void siglip_free(siglip_model *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->n_owned; i++)
        free(m->owned[i]);
    free(m->owned);
    free(m->layers);
    gguf_close(m->gguf);
    free(m);
}

/* ---- forward ---- */

/* Row-parallel elementwise steps (4096 rows of 1152 or 4304: worth both threads). */
enum { EW_BIAS, EW_BIAS_GELU, EW_ADD_BIAS, EW_COPY_LN, EW_LN };
typedef struct ew_job {
    int op;
    float *x;        /* [n][d] in place (EW_COPY_LN: destination) */
    const float *y;  /* EW_ADD_BIAS: x += y + b; EW_COPY_LN: source */
    const float *w, *b; /* norm weight and bias, or the bias [d] of the product just made */
    int n, d;
    float eps;
} ew_job;

/* gelu_tanh as ops_gelu_tanh computes it (ggml's fp16 table), with the fp16 conversion of the
 * arguments done a vector row at a time by the kernel table. */
static void gelu_rows(float *x, int64_t n)
{
    const ops_kernels *k = ops_kernels_get();
    uint16_t h[1024];
    for (int64_t i0 = 0; i0 < n; i0 += 1024) {
        const int64_t c = n - i0 < 1024 ? n - i0 : 1024;
        float *v = x + i0;
        k->fp32_to_fp16_row(v, h, c);
        for (int64_t i = 0; i < c; i++)
            v[i] = v[i] <= -10.0f ? 0.0f : v[i] >= 10.0f ? v[i] : ops_fp16_table[ops_gelu_fp16_table[h[i]]];
    }
}

static void ew_run(void *ctx, int ith, int nth)
{
    const ew_job *j = ctx;
    long b, e;
    medge_split(j->n, ith, nth, &b, &e);
    const size_t d = (size_t)j->d, off = (size_t)b * d, cnt = (size_t)(e - b) * d;
    if (e <= b)
        return;
    float *x = j->x + off;
    switch (j->op) {
    case EW_BIAS:
    case EW_BIAS_GELU:
        for (long r = b; r < e; r++, x += d) {
            for (size_t i = 0; i < d; i++)
                x[i] += j->b[i];
            if (j->op == EW_BIAS_GELU)
                gelu_rows(x, (int64_t)d);
        }
        break;
    case EW_ADD_BIAS: /* x + (y + b): the product's bias first, as ggml adds it */
        for (long r = b; r < e; r++, x += d) {
            const float *y = j->y + (size_t)r * d;
            for (size_t i = 0; i < d; i++)
                x[i] += y[i] + j->b[i];
        }
        break;
    case EW_COPY_LN:
        memcpy(x, j->y + off, sizeof(float) * cnt);
        ops_layernorm(x, j->w, j->b, (int)(e - b), j->d, j->eps);
        break;
    default:
        ops_layernorm(x, j->w, j->b, (int)(e - b), j->d, j->eps);
        break;
    }
}

static void ew(medge_pool *pool, int op, float *x, const float *y, const float *w, const float *b, int n, int d,
               float eps)
{
    ew_job j = {op, x, y, w, b, n, d, eps};
    medge_pool_run(pool, ew_run, &j);
}

/* y = W x (+ bias) over n rows: ops_matmul's batch GEMM (activations converted to the weight's
 * dot-product type first, as ggml does) */
static medge_status mm(medge_pool *pool, ops_scratch *scratch, const medge_tensor *W, const float *bias,
                       const float *x, float *y, int n)
{
    MEDGE_TRY(ops_matmul(pool, scratch, W, x, y, n));
    if (bias)
        ew(pool, EW_BIAS, y, NULL, NULL, bias, n, (int)W->ne[1], 0);
    return MEDGE_OK;
}

medge_status siglip_encode(const siglip_model *m, medge_pool *pool, ops_scratch *scratch, const float *pixels,
                           float *out)
{
    const int C = m->n_embd, F = m->n_ff, P = m->patch, G = m->grid, N = G * G, S = m->image_size;
    const int K = 3 * P * P, H = m->n_head, D = m->head_dim;
    size_t nc = (size_t)N * (size_t)C;
    size_t need = nc * 6 + (size_t)N * (size_t)F + (size_t)N * (size_t)K;
    float *mem = malloc(sizeof(float) * need);
    if (!mem)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory for the vision encoder (%zu MiB)",
                         sizeof(float) * need >> 20);
    float *x = mem, *h = x + nc, *q = h + nc, *k = q + nc, *v = k + nc, *a = v + nc;
    float *ff = a + nc, *patches = ff + (size_t)N * (size_t)F;
    medge_status rc = MEDGE_OK;

    /* patches: row n = (py, px) holds (channel, ky, kx) like the kernel rows; ggml's conv rounds
     * them to F16 unless the kernel is BF16 */
    for (int py = 0; py < G; py++)
        for (int px = 0; px < G; px++) {
            float *row = patches + ((size_t)py * (size_t)G + (size_t)px) * (size_t)K;
            for (int ch = 0; ch < 3; ch++)
                for (int ky = 0; ky < P; ky++) {
                    const float *src = pixels + (size_t)ch * (size_t)S * (size_t)S +
                                       (size_t)(py * P + ky) * (size_t)S + (size_t)(px * P);
                    float *d = row + (size_t)ch * (size_t)P * (size_t)P + (size_t)ky * (size_t)P;
                    for (int kx = 0; kx < P; kx++)
                        d[kx] = m->f16_patches ? medge_fp16_to_fp32(medge_fp32_to_fp16(src[kx])) : src[kx];
                }
        }
    if ((rc = mm(pool, scratch, &m->patch_w, m->patch_b, patches, x, N)) != MEDGE_OK)
        goto done;
    ops_add(x, m->pos, (int64_t)nc);

    for (int il = 0; il < m->n_layer; il++) {
        const siglip_layer *L = &m->layers[il];
        ew(pool, EW_COPY_LN, h, x, L->ln1_w, L->ln1_b, N, C, m->eps);
        if ((rc = mm(pool, scratch, &L->q, L->q_b, h, q, N)) != MEDGE_OK ||
            (rc = mm(pool, scratch, &L->k, L->k_b, h, k, N)) != MEDGE_OK ||
            (rc = mm(pool, scratch, &L->v, L->v_b, h, v, N)) != MEDGE_OK)
            goto done;
        if ((rc = ops_attention_dense(pool, scratch, q, k, v, a, N, H, D, 1.0f / sqrtf((float)D), m->attn_prec)) !=
            MEDGE_OK)
            goto done;
        if ((rc = mm(pool, scratch, &L->o, NULL, a, h, N)) != MEDGE_OK)
            goto done;
        ew(pool, EW_ADD_BIAS, x, h, NULL, L->o_b, N, C, 0);
        ew(pool, EW_COPY_LN, h, x, L->ln2_w, L->ln2_b, N, C, m->eps);
        if ((rc = mm(pool, scratch, &L->up, NULL, h, ff, N)) != MEDGE_OK)
            goto done;
        ew(pool, EW_BIAS_GELU, ff, NULL, NULL, L->up_b, N, F, 0);
        if ((rc = mm(pool, scratch, &L->down, NULL, ff, h, N)) != MEDGE_OK)
            goto done;
        ew(pool, EW_ADD_BIAS, x, h, NULL, L->down_b, N, C, 0);
    }
    ew(pool, EW_LN, x, NULL, m->post_ln_w, m->post_ln_b, N, C, m->eps);

    /* projector: average-pool the G x G grid by merge x merge */
    {
        const int k2 = m->merge, O = G / k2, T = O * O;
        float *pooled = h;
        const float inv = 1.0f / (float)(k2 * k2);
        for (int oy = 0; oy < O; oy++)
            for (int ox = 0; ox < O; ox++) {
                float *d = pooled + ((size_t)oy * (size_t)O + (size_t)ox) * (size_t)C;
                for (int c = 0; c < C; c++)
                    d[c] = 0;
                for (int dy = 0; dy < k2; dy++)
                    for (int dx = 0; dx < k2; dx++) {
                        const float *s = x + ((size_t)(oy * k2 + dy) * (size_t)G + (size_t)(ox * k2 + dx)) * (size_t)C;
                        for (int c = 0; c < C; c++)
                            d[c] += s[c];
                    }
                for (int c = 0; c < C; c++)
                    d[c] *= inv;
            }
        ops_rmsnorm(pooled, m->soft_norm_w, T, C, m->eps);
        /* ggml multiplies by the F16 transposed projection with F16-rounded activations */
        rc = ops_matmul(pool, scratch, &m->proj, pooled, out, T);
    }
done:
    free(mem);
    return rc;
}
