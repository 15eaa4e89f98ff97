/* biomedclip.c - BiomedCLIP forward passes over a GGUF written by convert/biomedclip.c.
 * Vision: conv16 patch embedding as a matmul, CLS first (timm order), pre-LN blocks with fused QKV,
 * exact GELU, final LN, CLS row through the linear head. Text: BERT embeddings + LN, post-LN blocks
 * (eps 1e-12), CLS row of the last layer through Linear -> GELU -> Linear. Running only the real
 * tokens gives the same CLS output as open_clip's padded 256-token pass (pad keys are masked). In
 * the last layer of each tower only the CLS row is carried past attention, since nothing else
 * reaches the output. Matmuls go through ops_matmul (any weight type); attention, norms and GELU
 * are split across the pool here. */
#include "models/biomedclip.h"
#include "core/log.h"
#include "quant/i8pc.h"
#include "ops/gelu-fast.h"
#include "ops/gemm-f32s.h"
#include "ops/gemm-i8.h"
#include "ops/kernels.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define HEAD_DIM 64

/* ------------------------------------------------------------------ loading */

static medge_status get_tensor(const bmc_model *m, const char *name, const gguf_tensor **out)
{
    *out = gguf_get_tensor(m->g, name);
    if (!*out)
        return medge_err(MEDGE_ERR_NOT_FOUND, "biomedclip: tensor '%s' is missing", name);
    if (!(*out)->data)
        return medge_err(MEDGE_ERR_UNSUPPORTED, "biomedclip: tensor data must be in memory");
    return MEDGE_OK;
}

static medge_status get_mat(const bmc_model *m, const char *name, int64_t ne0, int64_t ne1, medge_tensor *t)
{
    const gguf_tensor *g;
    MEDGE_TRY(get_tensor(m, name, &g));
    if (g->ne[0] != ne0 || g->ne[1] != ne1 || g->ne[2] != 1 || g->ne[3] != 1)
        return medge_err(MEDGE_ERR_MISMATCH, "biomedclip: tensor '%s' is {%lld,%lld,%lld,%lld}, expected {%lld,%lld}",
                         name, (long long)g->ne[0], (long long)g->ne[1], (long long)g->ne[2], (long long)g->ne[3],
                         (long long)ne0, (long long)ne1);
    size_t rs = quant_row_size(g->type, ne0);
    if (!quant_get_traits(g->type) || rs == 0)
        return medge_err(MEDGE_ERR_UNSUPPORTED, "biomedclip: tensor '%s' has type %s, unusable for rows of %lld", name,
                         quant_type_name(g->type), (long long)ne0);
    t->name = g->name.s;
    t->type = g->type;
    t->ne[0] = ne0;
    t->ne[1] = ne1;
    t->ne[2] = t->ne[3] = 1;
    t->nb1 = rs;
    t->data = g->data;
    return MEDGE_OK;
}

static medge_status get_vec(const bmc_model *m, const char *name, int64_t n, const float **out)
{
    const gguf_tensor *g;
    MEDGE_TRY(get_tensor(m, name, &g));
    if (g->type != GGML_TYPE_F32 || g->ne[0] != n || g->ne[1] != 1 || g->ne[2] != 1 || g->ne[3] != 1)
        return medge_err(MEDGE_ERR_MISMATCH, "biomedclip: tensor '%s' must be F32 {%lld} (is %s {%lld,%lld})", name,
                         (long long)n, quant_type_name(g->type), (long long)g->ne[0], (long long)g->ne[1]);
    *out = g->data;
    return MEDGE_OK;
}

static medge_status get_int(const bmc_model *m, const char *key, int lo, int hi, int *out)
{
    uint32_t v;
    MEDGE_TRY(gguf_get_u32(m->g, key, &v));
    if (v < (uint32_t)lo || v > (uint32_t)hi)
        return medge_err(MEDGE_ERR_RANGE, "biomedclip: %s = %u out of range [%d, %d]", key, v, lo, hi);
    *out = (int)v;
    return MEDGE_OK;
}

static medge_status load_all(bmc_model *m)
{
    const char *s = NULL;
    MEDGE_TRY(gguf_get_str(m->g, "clip.projector_type", &s));
    if (strcmp(s, "biomedclip") != 0)
        return medge_err(MEDGE_ERR_UNSUPPORTED, "clip.projector_type '%s' is not a BiomedCLIP model", s);
    bool erf = false;
    if (gguf_get_bool(m->g, "clip.gelu_erf", &erf) != MEDGE_OK || !erf)
        return medge_err(MEDGE_ERR_UNSUPPORTED, "biomedclip: only exact (erf) GELU models are supported");
    MEDGE_TRY(get_int(m, "clip.vision.image_size", 16, 4096, &m->image));
    MEDGE_TRY(get_int(m, "clip.vision.patch_size", 1, 256, &m->patch));
    MEDGE_TRY(get_int(m, "clip.vision.embedding_length", HEAD_DIM, 1 << 16, &m->vd));
    MEDGE_TRY(get_int(m, "clip.vision.feed_forward_length", 1, 1 << 18, &m->vff));
    MEDGE_TRY(get_int(m, "clip.vision.block_count", 1, 1024, &m->vl));
    MEDGE_TRY(get_int(m, "clip.vision.attention.head_count", 1, 1024, &m->vh));
    MEDGE_TRY(get_int(m, "clip.vision.projection_dim", 1, 1 << 16, &m->proj));
    MEDGE_TRY(get_int(m, "clip.text.embedding_length", HEAD_DIM, 1 << 16, &m->td));
    MEDGE_TRY(get_int(m, "clip.text.feed_forward_length", 1, 1 << 18, &m->tff));
    MEDGE_TRY(get_int(m, "clip.text.block_count", 1, 1024, &m->tl));
    MEDGE_TRY(get_int(m, "clip.text.attention.head_count", 1, 1024, &m->th));
    MEDGE_TRY(get_int(m, "clip.text.context_length", 2, 1 << 16, &m->ctx));
    int tproj = 0;
    MEDGE_TRY(get_int(m, "clip.text.projection_dim", 1, 1 << 16, &tproj));
    MEDGE_TRY(gguf_get_f32(m->g, "clip.vision.attention.layer_norm_epsilon", &m->veps));
    MEDGE_TRY(gguf_get_f32(m->g, "clip.text.attention.layer_norm_epsilon", &m->teps));
    MEDGE_TRY(gguf_get_f32(m->g, "clip.logit_scale", &m->logit_scale));
    if (!isfinite(m->logit_scale) || !(m->veps > 0) || !(m->teps > 0))
        return medge_err(MEDGE_ERR_FORMAT, "biomedclip: bad logit scale or layer norm epsilon");
    if (m->image % m->patch || m->vh * HEAD_DIM != m->vd || m->th * HEAD_DIM != m->td || tproj != m->proj)
        return medge_err(MEDGE_ERR_MISMATCH, "biomedclip: inconsistent dimensions (image %d / patch %d, heads of %d, "
                         "projections %d / %d)", m->image, m->patch, HEAD_DIM, m->proj, tproj);
    const void *arr;
    uint64_t n;
    MEDGE_TRY(gguf_get_arr(m->g, "clip.vision.image_mean", GGUF_F32, &arr, &n));
    if (n != 3)
        return medge_err(MEDGE_ERR_FORMAT, "clip.vision.image_mean must have 3 values");
    memcpy(m->mean, arr, sizeof m->mean);
    MEDGE_TRY(gguf_get_arr(m->g, "clip.vision.image_std", GGUF_F32, &arr, &n));
    if (n != 3)
        return medge_err(MEDGE_ERR_FORMAT, "clip.vision.image_std must have 3 values");
    memcpy(m->std, arr, sizeof m->std);
    for (int c = 0; c < 3; c++)
        if (!(m->std[c] > 0) || !isfinite(m->mean[c]))
            return medge_err(MEDGE_ERR_FORMAT, "biomedclip: bad image mean/std");
    m->grid = m->image / m->patch;
    m->n_vtok = m->grid * m->grid + 1;

    /* vision */
    const gguf_tensor *pw;
    MEDGE_TRY(get_tensor(m, "v.patch_embd.weight", &pw));
    if (pw->ne[0] != m->patch || pw->ne[1] != m->patch || pw->ne[2] != 3 || pw->ne[3] != m->vd ||
        (pw->type != GGML_TYPE_F32 && pw->type != GGML_TYPE_F16 && pw->type != GGML_TYPE_BF16))
        return medge_err(MEDGE_ERR_MISMATCH, "biomedclip: v.patch_embd.weight must be F32/F16/BF16 {%d,%d,3,%d}",
                         m->patch, m->patch, m->vd);
    int64_t pk = 3LL * m->patch * m->patch;
    m->patch_w.w = (medge_tensor){pw->name.s, pw->type, {pk, m->vd, 1, 1}, quant_row_size(pw->type, pk), pw->data};
    MEDGE_TRY(get_vec(m, "v.patch_embd.bias", m->vd, &m->patch_b));
    const gguf_tensor *ct;
    MEDGE_TRY(get_tensor(m, "v.class_embd", &ct));
    if (ct->ne[0] != m->vd || ct->ne[1] != 1 || ct->ne[2] != 1 || ct->ne[3] != 1 || ct->type != GGML_TYPE_F32)
        return medge_err(MEDGE_ERR_MISMATCH, "biomedclip: v.class_embd must be F32 {%d}", m->vd);
    m->cls = (medge_tensor){ct->name.s, ct->type, {m->vd, 1, 1, 1}, (size_t)m->vd * 4, ct->data};
    MEDGE_TRY(get_mat(m, "v.position_embd.weight", m->vd, m->n_vtok, &m->vpos));
    m->vlay = calloc((size_t)m->vl, sizeof *m->vlay);
    if (!m->vlay)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    char nm[GGUF_MAX_NAME];
#define NM(fmt) (snprintf(nm, sizeof nm, fmt, l), nm)
    for (int l = 0; l < m->vl; l++) {
        bmc_vlayer *L = &m->vlay[l];
        MEDGE_TRY(get_vec(m, NM("v.blk.%d.ln1.weight"), m->vd, &L->ln1_w));
        MEDGE_TRY(get_vec(m, NM("v.blk.%d.ln1.bias"), m->vd, &L->ln1_b));
        MEDGE_TRY(get_mat(m, NM("v.blk.%d.attn_qkv.weight"), m->vd, 3 * m->vd, &L->qkv.w));
        MEDGE_TRY(get_vec(m, NM("v.blk.%d.attn_qkv.bias"), 3 * m->vd, &L->qkv_b));
        MEDGE_TRY(get_mat(m, NM("v.blk.%d.attn_out.weight"), m->vd, m->vd, &L->out.w));
        MEDGE_TRY(get_vec(m, NM("v.blk.%d.attn_out.bias"), m->vd, &L->out_b));
        MEDGE_TRY(get_vec(m, NM("v.blk.%d.ln2.weight"), m->vd, &L->ln2_w));
        MEDGE_TRY(get_vec(m, NM("v.blk.%d.ln2.bias"), m->vd, &L->ln2_b));
        MEDGE_TRY(get_mat(m, NM("v.blk.%d.ffn_up.weight"), m->vd, m->vff, &L->up.w));
        MEDGE_TRY(get_vec(m, NM("v.blk.%d.ffn_up.bias"), m->vff, &L->up_b));
        MEDGE_TRY(get_mat(m, NM("v.blk.%d.ffn_down.weight"), m->vff, m->vd, &L->down.w));
        MEDGE_TRY(get_vec(m, NM("v.blk.%d.ffn_down.bias"), m->vd, &L->down_b));
    }
    MEDGE_TRY(get_vec(m, "v.post_ln.weight", m->vd, &m->post_w));
    MEDGE_TRY(get_vec(m, "v.post_ln.bias", m->vd, &m->post_b));
    MEDGE_TRY(get_mat(m, "v.proj.weight", m->vd, m->proj, &m->vproj.w));

    /* text */
    const gguf_tensor *te;
    MEDGE_TRY(get_tensor(m, "t.token_embd.weight", &te));
    if (te->ne[1] < 1 || te->ne[1] > INT32_MAX)
        return medge_err(MEDGE_ERR_FORMAT, "biomedclip: bad token embedding");
    m->n_vocab = (int)te->ne[1];
    MEDGE_TRY(get_mat(m, "t.token_embd.weight", m->td, m->n_vocab, &m->tok));
    const gguf_tensor *tp, *tt;
    MEDGE_TRY(get_tensor(m, "t.position_embd.weight", &tp));
    MEDGE_TRY(get_tensor(m, "t.token_types.weight", &tt));
    if (tp->ne[1] < m->ctx)
        return medge_err(MEDGE_ERR_MISMATCH, "biomedclip: %lld text positions < context %d", (long long)tp->ne[1], m->ctx);
    MEDGE_TRY(get_mat(m, "t.position_embd.weight", m->td, tp->ne[1], &m->tpos));
    MEDGE_TRY(get_mat(m, "t.token_types.weight", m->td, tt->ne[1], &m->ttype));
    MEDGE_TRY(get_vec(m, "t.token_embd_norm.weight", m->td, &m->tln_w));
    MEDGE_TRY(get_vec(m, "t.token_embd_norm.bias", m->td, &m->tln_b));
    m->tlay = calloc((size_t)m->tl, sizeof *m->tlay);
    if (!m->tlay)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    for (int l = 0; l < m->tl; l++) {
        bmc_tlayer *L = &m->tlay[l];
        MEDGE_TRY(get_mat(m, NM("t.blk.%d.attn_q.weight"), m->td, m->td, &L->q.w));
        MEDGE_TRY(get_vec(m, NM("t.blk.%d.attn_q.bias"), m->td, &L->q_b));
        MEDGE_TRY(get_mat(m, NM("t.blk.%d.attn_k.weight"), m->td, m->td, &L->k.w));
        MEDGE_TRY(get_vec(m, NM("t.blk.%d.attn_k.bias"), m->td, &L->k_b));
        MEDGE_TRY(get_mat(m, NM("t.blk.%d.attn_v.weight"), m->td, m->td, &L->v.w));
        MEDGE_TRY(get_vec(m, NM("t.blk.%d.attn_v.bias"), m->td, &L->v_b));
        MEDGE_TRY(get_mat(m, NM("t.blk.%d.attn_out.weight"), m->td, m->td, &L->out.w));
        MEDGE_TRY(get_vec(m, NM("t.blk.%d.attn_out.bias"), m->td, &L->out_b));
        MEDGE_TRY(get_vec(m, NM("t.blk.%d.attn_out_norm.weight"), m->td, &L->ln1_w));
        MEDGE_TRY(get_vec(m, NM("t.blk.%d.attn_out_norm.bias"), m->td, &L->ln1_b));
        MEDGE_TRY(get_mat(m, NM("t.blk.%d.ffn_up.weight"), m->td, m->tff, &L->up.w));
        MEDGE_TRY(get_vec(m, NM("t.blk.%d.ffn_up.bias"), m->tff, &L->up_b));
        MEDGE_TRY(get_mat(m, NM("t.blk.%d.ffn_down.weight"), m->tff, m->td, &L->down.w));
        MEDGE_TRY(get_vec(m, NM("t.blk.%d.ffn_down.bias"), m->td, &L->down_b));
        MEDGE_TRY(get_vec(m, NM("t.blk.%d.layer_out_norm.weight"), m->td, &L->ln2_w));
        MEDGE_TRY(get_vec(m, NM("t.blk.%d.layer_out_norm.bias"), m->td, &L->ln2_b));
    }
#undef NM
    const gguf_tensor *p0;
    MEDGE_TRY(get_tensor(m, "t.proj.0.weight", &p0));
    if (p0->ne[1] < 1 || p0->ne[1] > (1 << 16))
        return medge_err(MEDGE_ERR_FORMAT, "biomedclip: bad t.proj.0.weight");
    m->tp0 = (int)p0->ne[1];
    MEDGE_TRY(get_mat(m, "t.proj.0.weight", m->td, m->tp0, &m->p0.w));
    MEDGE_TRY(get_mat(m, "t.proj.2.weight", m->tp0, m->proj, &m->p2.w));

    MEDGE_TRY(wp_load_gguf(m->g, &m->vocab));
    if (wp_n_vocab(m->vocab) != (size_t)m->n_vocab)
        return medge_err(MEDGE_ERR_MISMATCH, "biomedclip: %zu vocabulary tokens but %d embedding rows",
                         wp_n_vocab(m->vocab), m->n_vocab);

    return MEDGE_OK;
}

medge_status bmc_load(gguf_ctx *g, bmc_model **out)
{
    *out = NULL;
    bmc_model *m = calloc(1, sizeof *m);
    if (!m) {
        gguf_close(g);
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    }
    m->g = g;
    medge_status rc = load_all(m);
    if (rc != MEDGE_OK) {
        bmc_free(m);
        return rc;
    }
    *out = m;
    return MEDGE_OK;
}

void bmc_free(bmc_model *m)
{
    if (!m)
        return;
    free(m->packed);
    free(m->vlay);
    free(m->tlay);
    wp_free(m->vocab);
    gguf_close(m->g);
    free(m);
}

void bmc_work_free(bmc_work *w)
{
    if (!w)
        return;
    ops_scratch_free(&w->scratch);
    free(w->buf);
    w->buf = NULL;
    w->buf_floats = 0;
}

static medge_status work_reserve(bmc_work *w, size_t n)
{
    if (w->buf_floats >= n)
        return MEDGE_OK;
    free(w->buf);
    size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
    w->buf = aligned_alloc(64, bytes);
    w->buf_floats = w->buf ? n : 0;
    if (!w->buf)
        return medge_err(MEDGE_ERR_NOMEM, "biomedclip: out of memory for activations");
    return MEDGE_OK;
}

/* ------------------------------------------------------------------ parallel pieces */

/* LayerNorm of one row in float (mean, then the variance of the centred values; 16 partial sums
 * so the loops vectorise). y may be x. */
static void ln_row(const float *x, float *y, const float *w, const float *b, int d, float eps)
{
    float s[16] = {0}, sum = 0, var = 0;
    int i = 0;
    for (; i + 16 <= d; i += 16)
        for (int k = 0; k < 16; k++)
            s[k] += x[i + k];
    for (int k = 0; k < 16; k++)
        sum += s[k];
    for (; i < d; i++)
        sum += x[i];
    const float mean = sum / (float)d;
    for (int k = 0; k < 16; k++)
        s[k] = 0;
    for (i = 0; i + 16 <= d; i += 16)
        for (int k = 0; k < 16; k++) {
            float c = x[i + k] - mean;
            s[k] += c * c;
        }
    for (int k = 0; k < 16; k++)
        var += s[k];
    for (; i < d; i++) {
        float c = x[i] - mean;
        var += c * c;
    }
    const float r = 1.0f / sqrtf(var / (float)d + eps);
    for (i = 0; i < d; i++)
        y[i] = (x[i] - mean) * r * w[i] + b[i];
}

/* Row-wise epilogues of a matmul, split by rows across the pool. */
enum { R_BIAS, R_BIAS_GELU, R_RES_LN, R_LN };

typedef struct rows_job {
    int mode, n, d;
    float *y;           /* matmul output [n][d] */
    const float *bias;  /* [d] */
    float *x;           /* residual stream [n][d] */
    float *dst;         /* LayerNorm output [n][d] (may be x) */
    const float *w, *b; /* LayerNorm weight and bias */
    float eps;
} rows_job;

static void rows_fn(void *ctx, int ith, int nth)
{
    rows_job *j = ctx;
    long rb, re;
    medge_split(j->n, ith, nth, &rb, &re);
    const int d = j->d;
    for (long r = rb; r < re; r++) {
        float *y = j->y ? j->y + (size_t)r * d : NULL, *x = j->x ? j->x + (size_t)r * d : NULL;
        switch (j->mode) {
        case R_BIAS:
            for (int i = 0; i < d; i++)
                y[i] += j->bias[i];
            break;
        case R_BIAS_GELU:
            for (int i = 0; i < d; i++)
                y[i] += j->bias[i];
            ops_gelu_erf_fast(y, d);
            break;
        case R_RES_LN: /* x += y + bias; dst = LN(x) */
            for (int i = 0; i < d; i++)
                x[i] += y[i] + j->bias[i];
            ln_row(x, j->dst + (size_t)r * d, j->w, j->b, d, j->eps);
            break;
        default: /* R_LN */
            ln_row(x, j->dst + (size_t)r * d, j->w, j->b, d, j->eps);
            break;
        }
    }
}

/* Below this many elements a row pass stays on the calling thread (waking the pool costs more). */
#define ROWS_MIN_PARALLEL 16384

static void rows_run(medge_pool *pool, rows_job j)
{
    medge_pool_run(j.n > 1 && (long)j.n * j.d >= ROWS_MIN_PARALLEL ? pool : NULL, rows_fn, &j);
}

static void bias(medge_pool *pool, float *y, const float *b, int n, int d)
{
    rows_run(pool, (rows_job){R_BIAS, n, d, y, b, NULL, NULL, NULL, NULL, 0});
}
static void bias_gelu(medge_pool *pool, float *y, const float *b, int n, int d)
{
    rows_run(pool, (rows_job){R_BIAS_GELU, n, d, y, b, NULL, NULL, NULL, NULL, 0});
}
/* x += y + bias, then dst = LayerNorm(x; w, b). */
static void res_ln(medge_pool *pool, float *x, const float *y, const float *bias, float *dst, const float *w,
                   const float *b, int n, int d, float eps)
{
    rows_run(pool, (rows_job){R_RES_LN, n, d, (float *)(uintptr_t)y, bias, x, dst, w, b, eps});
}
static void layernorm(medge_pool *pool, float *x, float *dst, const float *w, const float *b, int n, int d, float eps)
{
    rows_run(pool, (rows_job){R_LN, n, d, NULL, NULL, x, dst, w, b, eps});
}

/* ------------------------------------------------------------------ repacked weights */

static size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

typedef struct pack_job {
    void (*pack_w)(int n, int nr, const void *w, size_t ws, void *panel);
    long rows;
    const medge_tensor *W;
    uint8_t *dst;
    size_t panel_bytes;
    long n_panels;
} pack_job;

static void pack_fn(void *ctx, int ith, int nth)
{
    pack_job *j = ctx;
    long b, e;
    medge_split(j->n_panels, ith, nth, &b, &e);
    const long rows = j->rows, nrows = (long)j->W->ne[1];
    for (long p = b; p < e; p++) {
        const long r0 = p * rows;
        const int nr = (int)(nrows - r0 < rows ? nrows - r0 : rows);
        j->pack_w((int)j->W->ne[0], nr, (const uint8_t *)j->W->data + (size_t)r0 * j->W->nb1, j->W->nb1,
                     j->dst + (size_t)p * j->panel_bytes);
    }
}

/* madvise over the pages wholly inside [p, p + n) of a file mapping (best effort). */
static void advise_pages(const medge_map *map, const void *p, size_t n, int advice)
{
    if (!map || !map->mapped)
        return;
    const long ps = sysconf(_SC_PAGESIZE);
    if (ps <= 0)
        return;
    uintptr_t b = ((uintptr_t)p + (uintptr_t)ps - 1) & ~((uintptr_t)ps - 1), e = ((uintptr_t)p + n) & ~((uintptr_t)ps - 1);
    if (e > b)
        (void)madvise((void *)b, e - b, advice);
}

/* Bytes of L's panels, 0 when its type has no panel layout (ops_matmul then reads rows in place). */
static size_t lin_packed_size(const bmc_lin *L, size_t *panel_bytes)
{
    if (L->w.ne[0] > (1 << 28))
        return 0;
    size_t pb;
    long rows;
    if (L->small) {
        const ops_f32s_gemm *g = ops_f32s_gemm_for((int)L->w.type);
        pb = g->panel_bytes((int)L->w.ne[0]);
        rows = g->rows;
    } else if (L->w.type == MEDGE_TYPE_I8_PC) {
        const ops_i8_gemm *g = ops_i8_gemm_get();
        pb = g->panel_bytes((int)L->w.ne[0]);
        rows = g->rows;
    } else {
        const ops_kernels *k = ops_kernels_get();
        if (L->w.type >= GGML_TYPE_COUNT)
            return 0;
        const ops_gemm_kernel *g = k->w[L->w.type].gemm;
        if (!g || !g->pack_w || g->rows <= 0)
            return 0;
        pb = g->panel_bytes((int)L->w.ne[0]);
        rows = g->rows;
    }
    *panel_bytes = align64(pb);
    size_t total;
    if (!medge_mul_size(*panel_bytes, (size_t)((L->w.ne[1] + rows - 1) / rows), &total))
        return 0;
    return total;
}

#define PACK_ALIGN ((size_t)2 << 20) /* huge-page aligned: far fewer page faults and TLB misses */

static int model_lins(bmc_model *m, bmc_lin **out)
{
    int n = 0;
    out[n++] = &m->patch_w;
    for (int l = 0; l < m->vl; l++) {
        out[n++] = &m->vlay[l].qkv;
        out[n++] = &m->vlay[l].out;
        out[n++] = &m->vlay[l].up;
        out[n++] = &m->vlay[l].down;
    }
    out[n++] = &m->vproj;
    for (int l = 0; l < m->tl; l++) {
        bmc_tlayer *L = &m->tlay[l];
        out[n++] = &L->q, out[n++] = &L->k, out[n++] = &L->v;
        out[n++] = &L->out, out[n++] = &L->up, out[n++] = &L->down;
    }
    out[n++] = &m->p0;
    out[n++] = &m->p2;
    return n;
}

medge_status bmc_prepack(bmc_model *m, medge_pool *pool)
{
    if (m->packed)
        return MEDGE_OK;
    const int max = 4 + 4 * m->vl + 6 * m->tl;
    bmc_lin **lins = malloc((size_t)max * sizeof *lins);
    if (!lins)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    const int n = model_lins(m, lins);
    /* the text tower multiplies a few tokens (a prompt) per product: F32 and F16 weights in the
     * small-batch panels, each weight read from memory once per prompt (F16: F32 activations) */
    const int n_vision = 2 + 4 * m->vl;
    for (int i = n_vision; i < n; i++)
        lins[i]->small = ops_f32s_gemm_for((int)lins[i]->w.type) && lins[i]->w.ne[0] <= (1 << 20);
    size_t total = 0, pb = 0;
    for (int i = 0; i < n; i++) {
        size_t sz = lin_packed_size(lins[i], &pb);
        if (total + sz < total) {
            free(lins);
            return medge_err(MEDGE_ERR_NOMEM, "biomedclip: repacked weights overflow");
        }
        total += sz;
    }
    if (total == 0) {
        free(lins);
        return MEDGE_OK;
    }
    total = (total + PACK_ALIGN - 1) / PACK_ALIGN * PACK_ALIGN;
    uint8_t *block = NULL;
    if (posix_memalign((void **)&block, PACK_ALIGN, total) != 0 || !block) {
        free(lins);
        return medge_err(MEDGE_ERR_NOMEM, "biomedclip: out of memory for the repacked weights (%zu MB)", total >> 20);
    }
#if defined(MADV_HUGEPAGE)
    (void)madvise(block, total, MADV_HUGEPAGE);
#endif
    const medge_map *map = gguf_mapping(m->g);
    const ops_kernels *k = ops_kernels_get();
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        bmc_lin *L = lins[i];
        size_t sz = lin_packed_size(L, &pb);
        if (!sz)
            continue;
        const size_t src_bytes = (size_t)L->w.ne[1] * L->w.nb1;
#if defined(MADV_POPULATE_READ)
        advise_pages(map, L->w.data, src_bytes, MADV_POPULATE_READ); /* one call instead of a fault per page */
#endif
        pack_job j = {NULL, 0, &L->w, block + off, pb, 0};
        if (L->small) {
            j.pack_w = ops_f32s_gemm_for((int)L->w.type)->pack_w;
            j.rows = ops_f32s_gemm_for((int)L->w.type)->rows;
        } else if (L->w.type == MEDGE_TYPE_I8_PC) {
            j.pack_w = ops_i8_gemm_get()->pack_w;
            j.rows = ops_i8_gemm_get()->rows;
        } else {
            j.pack_w = k->w[L->w.type].gemm->pack_w;
            j.rows = k->w[L->w.type].gemm->rows;
        }
        j.n_panels = (long)((L->w.ne[1] + j.rows - 1) / j.rows);
        medge_pool_run(pool, pack_fn, &j);
        L->panels = block + off;
        L->panel_bytes = pb;
        off += sz;
#if defined(MADV_DONTNEED)
        advise_pages(map, L->w.data, src_bytes, MADV_DONTNEED); /* the rows stay in the page cache */
#endif
    }
    free(lins);
    m->packed = block;
    return MEDGE_OK;
}

/* y = x W^T over repacked panels: activations converted as ops_matmul's batch path does
 * (quantize_act, then the tile's pack_a), then each thread multiplies a contiguous run of panels
 * by all n rows. */
typedef struct pmm_job {
    const ops_gemm_kernel *g;
    ops_quantize_fn q;
    const bmc_lin *L;
    const float *x;
    float *y;
    int n;
    uint8_t *act, *pa; /* converted rows (act_row bytes), tile rows (a_row bytes) */
    size_t act_row, a_row;
    const uint8_t *a;  /* what the tile reads */
    const float *bias; /* epilogue on each panel while it is in cache: + bias, then GELU if gelu */
    int gelu;
    medge_workq claims; /* of the panels */
} pmm_job;

static void pmm_act(void *ctx, int ith, int nth)
{
    pmm_job *j = ctx;
    long b, e;
    medge_split(j->n, ith, nth, &b, &e);
    const int64_t n = j->L->w.ne[0];
    for (long t = b; t < e; t++) {
        uint8_t *row = j->act + (size_t)t * j->act_row;
        j->q(j->x + t * n, row, n);
        if (j->pa)
            j->g->pack_a((int)n, row, j->pa + (size_t)t * j->a_row);
    }
}

/* Threads claim the npan panels of a product through q: each streams through its own contiguous
 * range of panels, then takes what is left of the other's from the back, so a late or descheduled
 * thread does less instead of holding the others at the barrier. */
static void panel_claims(medge_workq *q, long npan, medge_pool *pool)
{
    const int nth = medge_pool_size(pool);
    const long run = npan / (4L * nth) > 0 ? npan / (4L * nth) : 1;
    medge_workq_init(q, npan, run, run, nth);
}

/* + bias, then GELU when gelu, on the nr outputs r0.. of n rows of y (row stride ld) */
static void epilogue(float *y, size_t ld, long r0, int nr, int n, const float *bias, int gelu)
{
    for (int t = 0; t < n; t++) {
        float *yr = y + (size_t)t * ld + (size_t)r0;
        const float *br = bias + r0;
        for (int i = 0; i < nr; i++)
            yr[i] += br[i];
        if (gelu)
            ops_gelu_erf_fast(yr, nr);
    }
}

/* I8_PC products (ops/gemm-i8.h): activation rows quantized per row, then the tile over the
 * repacked panels, or the reference dot over the rows in place when the weight is not repacked. */
typedef struct i8_job {
    const ops_i8_gemm *g; /* I8_PC products; NULL: F32/F16 small-batch (act, tile, rows, group below) */
    void (*act_fn)(const float *x, size_t ldx, int n, int t0, int t1, void *act);
    void (*tile)(int n, int nr, int nt, const void *panel, const void *act, float *y, size_t ys);
    int rows, group;
    const bmc_lin *L;
    const float *x;
    float *y;
    int n;
    uint8_t *act; /* the activation rows in g's layout */
    const float *bias;
    int gelu;
    medge_workq claims; /* of the panels */
} i8_job;

static void i8_act(void *ctx, int ith, int nth)
{
    i8_job *j = ctx;
    const int G = j->group, ng = (j->n + G - 1) / G;
    long b, e;
    medge_split(ng, ith, nth, &b, &e);
    const int t1 = (int)e * G < j->n ? (int)e * G : j->n;
    if ((int)b * G < t1)
        j->act_fn(j->x, (size_t)j->L->w.ne[0], (int)j->L->w.ne[0], (int)b * G, t1, j->act);
}

static void i8_rows(void *ctx, int ith, int nth)
{
    i8_job *j = ctx;
    const int ne0 = (int)j->L->w.ne[0];
    const long nrows = (long)j->L->w.ne[1], rows = j->rows;
    (void)nth;
    for (long b, e; medge_workq_next(&j->claims, ith, &b, &e);)
        for (long p = b; p < e; p++) {
            const long r0 = p * rows;
            const int nr = (int)(nrows - r0 < rows ? nrows - r0 : rows);
            if (j->L->panels) {
                j->tile(ne0, nr, j->n, j->L->panels + (size_t)p * j->L->panel_bytes, j->act, j->y + r0, (size_t)nrows);
            } else { /* reference: the activation rows are the reference's (j->g is the reference table) */
                for (int t = 0; t < j->n; t++)
                    for (int r = 0; r < nr; r++)
                        j->y[(size_t)t * (size_t)nrows + (size_t)(r0 + r)] =
                            quant_i8pc_dot(ne0, (const uint8_t *)j->L->w.data + (size_t)(r0 + r) * j->L->w.nb1,
                                           j->act + (size_t)t * quant_i8pc_act_bytes(ne0));
            }
            if (j->bias)
                epilogue(j->y, (size_t)nrows, r0, nr, j->n, j->bias, j->gelu);
        }
}

static medge_status matmul_i8(bmc_work *wk, const bmc_lin *L, const float *x, float *y, int n, const float *b, int gelu)
{
    if (n <= 0)
        return MEDGE_OK;
    i8_job j = {.rows = 0, .group = 1, .L = L, .x = x, .y = y, .n = n, .bias = b, .gelu = gelu};
    size_t act;
    if (L->small) {
        const ops_f32s_gemm *f = ops_f32s_gemm_for((int)L->w.type);
        j.act_fn = f->pack_act;
        j.tile = f->tile;
        j.rows = f->rows;
        j.group = f->act_group;
        act = f->act_bytes((int)L->w.ne[0], n);
    } else {
        j.g = L->panels ? ops_i8_gemm_get() : ops_i8_gemm_ref();
        j.act_fn = j.g->quantize_act;
        j.tile = j.g->tile;
        j.rows = L->panels ? j.g->rows : 16;
        j.group = j.g->act_group;
        act = j.g->act_bytes((int)L->w.ne[0], n);
    }
    MEDGE_TRY(ops_scratch_reserve(&wk->scratch, act + 64));
    j.act = wk->scratch.buf;
    medge_pool *pool = (double)L->w.ne[0] * (double)L->w.ne[1] * n < (1 << 18) ? NULL : wk->pool;
    panel_claims(&j.claims, (L->w.ne[1] + j.rows - 1) / j.rows, pool);
    medge_pool_run(n > j.group ? pool : NULL, i8_act, &j);
    medge_pool_run(pool, i8_rows, &j);
    return MEDGE_OK;
}

static void pmm_rows(void *ctx, int ith, int nth)
{
    pmm_job *j = ctx;
    const long rows = j->g->rows, nrows = (long)j->L->w.ne[1];
    (void)nth;
    for (long b, e; medge_workq_next(&j->claims, ith, &b, &e);)
        for (long p = b; p < e; p++) {
            const long r0 = p * rows;
            const int nr = (int)(nrows - r0 < rows ? nrows - r0 : rows);
            j->g->tile((int)j->L->w.ne[0], nr, j->n, j->L->panels + (size_t)p * j->L->panel_bytes, 0, j->a, j->a_row,
                       j->y + r0, (size_t)nrows);
            if (j->bias)
                epilogue(j->y, (size_t)nrows, r0, nr, j->n, j->bias, j->gelu);
        }
}

/* y = x W^T (+ bias, then GELU when gelu): the epilogue runs on each panel of outputs right after
 * its tile when the weight is repacked, else as a row pass after ops_matmul. */
static medge_status matmul_ep(bmc_work *wk, const bmc_lin *L, const float *x, float *y, int n, const float *b,
                              int gelu)
{
    if (L->w.type == MEDGE_TYPE_I8_PC || (L->small && L->panels))
        return matmul_i8(wk, L, x, y, n, b, gelu);
    if (!L->panels) {
        MEDGE_TRY(ops_matmul(wk->pool, &wk->scratch, &L->w, x, y, n));
        if (b && gelu)
            bias_gelu(wk->pool, y, b, n, (int)L->w.ne[1]);
        else if (b)
            bias(wk->pool, y, b, n, (int)L->w.ne[1]);
        return MEDGE_OK;
    }
    if (n <= 0)
        return MEDGE_OK;
    const ops_kernels *k = ops_kernels_get();
    const ops_wkernels *wkk = &k->w[L->w.type];
    const ops_gemm_kernel *g = wkk->gemm;
    const int ne0 = (int)L->w.ne[0];
    const int direct = wkk->act_type == GGML_TYPE_F32 && !g->pack_a;
    const size_t act_row = quant_row_size(wkk->act_type, ne0), a_row = g->pack_a ? g->act_bytes(ne0) : act_row;
    if (!act_row)
        return medge_err(MEDGE_ERR_UNSUPPORTED, "%s: row length %d does not fit the activation type %s", L->w.name,
                         ne0, quant_type_name(wkk->act_type));
    const size_t s_act = direct ? 0 : align64(act_row * (size_t)n), s_pa = g->pack_a ? align64(a_row * (size_t)n) : 0;
    MEDGE_TRY(ops_scratch_reserve(&wk->scratch, s_act + s_pa + 64));
    uint8_t *base = wk->scratch.buf;
    pmm_job j = {.g = g, .q = k->quantize_act[wkk->act_type], .L = L, .x = x, .y = y, .n = n, .act = base,
                 .pa = g->pack_a ? base + s_act : NULL, .act_row = act_row, .a_row = a_row, .bias = b, .gelu = gelu};
    j.a = direct ? (const uint8_t *)x : g->pack_a ? j.pa : j.act;
    medge_pool *pool = (double)ne0 * (double)L->w.ne[1] * n < (1 << 18) ? NULL : wk->pool;
    panel_claims(&j.claims, (L->w.ne[1] + g->rows - 1) / g->rows, pool);
    if (!direct)
        medge_pool_run(n > 1 ? pool : NULL, pmm_act, &j);
    medge_pool_run(pool, pmm_rows, &j);
    return MEDGE_OK;
}

static medge_status matmul(bmc_work *wk, const bmc_lin *L, const float *x, float *y, int n)
{
    return matmul_ep(wk, L, x, y, n, NULL, 0);
}

static int pool_threads(const medge_pool *p) { return p ? medge_pool_size(p) : 1; }

/* ------------------------------------------------------------------ vision */

medge_status bmc_encode_image(const bmc_model *m, bmc_work *wk, const float *pixels, float *feat)
{
    const int n = m->n_vtok, D = m->vd, FF = m->vff, P = m->patch, G = m->grid, S = m->image;
    const size_t pk = (size_t)3 * P * P;
    const int nth = pool_threads(wk->pool);
    size_t need = (size_t)n * (3 * D + 3 * D + FF) + (size_t)(n - 1) * pk + bmc_attn_scratch(n, m->vh, nth);
    MEDGE_TRY(work_reserve(wk, need));
    float *x = wk->buf, *h = x + (size_t)n * D, *qkv = h + (size_t)n * D, *att = qkv + (size_t)n * 3 * D;
    float *ff = att + (size_t)n * D, *patches = ff + (size_t)n * FF, *scores = patches + (size_t)(n - 1) * pk;

    /* im2col: row p = patch (py, px), column (c, ky, kx) as the conv weight [out][c][kh][kw]. */
    for (int py = 0; py < G; py++)
        for (int px = 0; px < G; px++) {
            float *r = patches + (size_t)(py * G + px) * pk;
            for (int c = 0; c < 3; c++)
                for (int ky = 0; ky < P; ky++)
                    memcpy(r + ((size_t)c * P + ky) * P, pixels + ((size_t)c * S + (size_t)py * P + ky) * S + (size_t)px * P,
                           (size_t)P * sizeof(float));
        }
    MEDGE_TRY(matmul_ep(wk, &m->patch_w, patches, x + D, n - 1, m->patch_b, 0));
    MEDGE_TRY(ops_get_row(&m->cls, 0, x));
    for (int t = 0; t < n; t++) {
        MEDGE_TRY(ops_get_row(&m->vpos, t, h));
        float *r = x + (size_t)t * D;
        for (int i = 0; i < D; i++)
            r[i] += h[i];
    }
    layernorm(wk->pool, x, h, m->vlay[0].ln1_w, m->vlay[0].ln1_b, n, D, m->veps);

    /* h holds LN1(x) on entry to each layer; the residual add, bias and next LayerNorm of each
     * block are one row pass. */
    int rows = n; /* rows carried through the residual stream */
    for (int l = 0; l < m->vl; l++) {
        const bmc_vlayer *L = &m->vlay[l];
        const bool last = l == m->vl - 1;
        MEDGE_TRY(matmul_ep(wk, &L->qkv, h, qkv, rows, L->qkv_b, 0));
        int nq = last ? 1 : rows;
        bmc_attn j = {qkv, qkv + D, qkv + 2 * D, (size_t)3 * D, (size_t)3 * D, (size_t)3 * D, att, (size_t)D,
                      nq, rows, m->vh, 1.0f / sqrtf((float)HEAD_DIM)};
        bmc_attention(wk->pool, &j, scores);
        rows = nq;
        MEDGE_TRY(matmul(wk, &L->out, att, h, rows));
        res_ln(wk->pool, x, h, L->out_b, h, L->ln2_w, L->ln2_b, rows, D, m->veps);
        MEDGE_TRY(matmul_ep(wk, &L->up, h, ff, rows, L->up_b, 1));
        MEDGE_TRY(matmul(wk, &L->down, ff, h, rows));
        const float *nw = last ? m->post_w : m->vlay[l + 1].ln1_w, *nb = last ? m->post_b : m->vlay[l + 1].ln1_b;
        res_ln(wk->pool, x, h, L->down_b, att, nw, nb, rows, D, m->veps);
        float *t = h; /* the normalised rows become the next layer's input */
        h = att;
        att = t;
    }
    return matmul(wk, &m->vproj, h, feat, 1);
}

/* ------------------------------------------------------------------ text */

/* Weight rows per panel of a repacked linear layer. */
static long lin_rows(const bmc_lin *L)
{
    if (L->small)
        return ops_f32s_gemm_for((int)L->w.type)->rows;
    if (L->w.type == MEDGE_TYPE_I8_PC)
        return ops_i8_gemm_get()->rows;
    return L->w.type < GGML_TYPE_COUNT && ops_kernels_get()->w[L->w.type].gemm ? ops_kernels_get()->w[L->w.type].gemm->rows : 0;
}

/* The q, k and v weights of a text layer as one {D, 3D} weight when their panels are adjacent and
 * of one kind (bmc_prepack lays them out in this order), so one product streams all three. */
static bool fuse_qkv(const bmc_tlayer *L, bmc_lin *out)
{
    const bmc_lin *q = &L->q, *k = &L->k, *v = &L->v;
    if (!q->panels || !k->panels || !v->panels || q->small != k->small || q->small != v->small || q->w.type != k->w.type ||
        q->w.type != v->w.type || q->panel_bytes != k->panel_bytes || q->panel_bytes != v->panel_bytes ||
        q->w.ne[0] != k->w.ne[0] || q->w.ne[0] != v->w.ne[0] || q->w.ne[1] != k->w.ne[1] || q->w.ne[1] != v->w.ne[1])
        return false;
    const long rows = lin_rows(q);
    if (rows <= 0 || q->w.ne[1] % rows)
        return false;
    const size_t sz = q->panel_bytes * (size_t)(q->w.ne[1] / rows);
    if (k->panels != q->panels + sz || v->panels != k->panels + sz)
        return false;
    *out = *q;
    out->w.ne[1] = 3 * q->w.ne[1];
    out->w.name = "t.blk.attn_qkv (fused)";
    return true;
}

medge_status bmc_encode_text(const bmc_model *m, bmc_work *wk, const int32_t *ids, int n, float *feat)
{
    const int D = m->td, FF = m->tff;
    if (n < 1 || n > m->ctx)
        return medge_err(MEDGE_ERR_RANGE, "biomedclip: %d text tokens (1..%d allowed)", n, m->ctx);
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= m->n_vocab)
            return medge_err(MEDGE_ERR_RANGE, "biomedclip: token id %d out of range (vocab %d)", ids[i], m->n_vocab);
    const int nth = pool_threads(wk->pool);
    size_t need = (size_t)n * (6 * D + FF) + bmc_attn_scratch(n, m->th, nth) + (size_t)m->tp0 + 3 * (size_t)D;
    MEDGE_TRY(work_reserve(wk, need));
    float *x = wk->buf, *h = x + (size_t)n * D, *q = h + (size_t)n * D, *k = q + (size_t)n * D, *v = k + (size_t)n * D;
    float *att = v + (size_t)n * D, *ff = att + (size_t)n * D, *t0 = ff + (size_t)n * FF, *qkv_b = t0 + m->tp0;
    float *scores = qkv_b + 3 * (size_t)D;

    MEDGE_TRY(ops_get_row(&m->ttype, 0, h));
    for (int i = 0; i < n; i++) {
        float *r = x + (size_t)i * D;
        MEDGE_TRY(ops_get_row(&m->tok, ids[i], r));
        MEDGE_TRY(ops_get_row(&m->tpos, i, att));
        for (int c = 0; c < D; c++)
            r[c] = r[c] + h[c] + att[c];
    }
    layernorm(wk->pool, x, x, m->tln_w, m->tln_b, n, D, m->teps);
    int rows = n;
    for (int l = 0; l < m->tl; l++) {
        const bmc_tlayer *L = &m->tlay[l];
        const bool last = l == m->tl - 1;
        int nq = last ? 1 : rows;
        bmc_lin qkv;
        bmc_attn j = {q, k, v, (size_t)D, (size_t)D, (size_t)D, att, (size_t)D, nq, rows, m->th, 1.0f / sqrtf((float)HEAD_DIM)};
        if (fuse_qkv(L, &qkv)) { /* one product, one pass over the three weights: rows [q | k | v] */
            memcpy(qkv_b, L->q_b, (size_t)D * sizeof(float));
            memcpy(qkv_b + D, L->k_b, (size_t)D * sizeof(float));
            memcpy(qkv_b + 2 * D, L->v_b, (size_t)D * sizeof(float));
            MEDGE_TRY(matmul_ep(wk, &qkv, x, q, rows, qkv_b, 0)); /* q, k, v regions hold [rows][3D] */
            j.q = q, j.k = q + D, j.v = q + 2 * D;
            j.ldq = j.ldk = j.ldv = 3 * (size_t)D;
        } else {
            MEDGE_TRY(matmul_ep(wk, &L->q, x, q, nq, L->q_b, 0));
            MEDGE_TRY(matmul_ep(wk, &L->k, x, k, rows, L->k_b, 0));
            MEDGE_TRY(matmul_ep(wk, &L->v, x, v, rows, L->v_b, 0));
        }
        bmc_attention(wk->pool, &j, scores);
        rows = nq;
        MEDGE_TRY(matmul(wk, &L->out, att, h, rows));
        res_ln(wk->pool, x, h, L->out_b, x, L->ln1_w, L->ln1_b, rows, D, m->teps); /* post-LN */
        MEDGE_TRY(matmul_ep(wk, &L->up, x, ff, rows, L->up_b, 1));
        MEDGE_TRY(matmul(wk, &L->down, ff, h, rows));
        res_ln(wk->pool, x, h, L->down_b, x, L->ln2_w, L->ln2_b, rows, D, m->teps);
    }
    MEDGE_TRY(matmul(wk, &m->p0, x, t0, 1));
    ops_gelu_erf_fast(t0, m->tp0);
    return matmul(wk, &m->p2, t0, feat, 1);
}

void bmc_l2_normalize(float *x, int n)
{
    double ss = 0;
    for (int i = 0; i < n; i++)
        ss += (double)x[i] * x[i];
    float nrm = (float)sqrt(ss);
    if (nrm < 1e-12f)
        nrm = 1e-12f;
    for (int i = 0; i < n; i++)
        x[i] /= nrm;
}

/* Python's html.unescape for the entities prompts realistically contain: &amp; &lt; &gt; &quot;
 * &apos; &nbsp; and numeric &#NN; / &#xHH;. Writes into dst (at most strlen(src) bytes + NUL). */
static void html_unescape(const char *src, char *dst)
{
    static const struct { const char *name, *utf8; } ents[] = {
        {"amp;", "&"}, {"lt;", "<"}, {"gt;", ">"}, {"quot;", "\""}, {"apos;", "'"}, {"nbsp;", "\xc2\xa0"},
    };
    size_t o = 0;
    for (const char *p = src; *p;) {
        if (*p == '&') {
            bool done = false;
            for (size_t k = 0; k < sizeof ents / sizeof ents[0] && !done; k++) {
                size_t nl = strlen(ents[k].name);
                if (strncmp(p + 1, ents[k].name, nl) == 0) {
                    size_t ul = strlen(ents[k].utf8);
                    memcpy(dst + o, ents[k].utf8, ul);
                    o += ul;
                    p += 1 + nl;
                    done = true;
                }
            }
            if (!done && p[1] == '#') {
                const char *q = p + 2;
                int base = 10;
                if (*q == 'x' || *q == 'X') {
                    base = 16;
                    q++;
                }
                unsigned long cp = 0;
                int nd = 0;
                while (nd < 8 && (base == 16 ? isxdigit((unsigned char)*q) : isdigit((unsigned char)*q))) {
                    cp = cp * (unsigned)base + (unsigned)(isdigit((unsigned char)*q) ? *q - '0' : (tolower((unsigned char)*q) - 'a' + 10));
                    q++;
                    nd++;
                }
                /* The UTF-8 form (<= 4 bytes) is never longer than "&#N;" (>= 4 bytes). */
                if (nd > 0 && *q == ';' && cp > 0 && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF) &&
                    (size_t)(q + 1 - p) >= (cp < 0x80 ? 1u : cp < 0x800 ? 2u : cp < 0x10000 ? 3u : 4u)) {
                    if (cp < 0x80)
                        dst[o++] = (char)cp;
                    else if (cp < 0x800) {
                        dst[o++] = (char)(0xC0 | cp >> 6);
                        dst[o++] = (char)(0x80 | (cp & 0x3F));
                    } else if (cp < 0x10000) {
                        dst[o++] = (char)(0xE0 | cp >> 12);
                        dst[o++] = (char)(0x80 | (cp >> 6 & 0x3F));
                        dst[o++] = (char)(0x80 | (cp & 0x3F));
                    } else {
                        dst[o++] = (char)(0xF0 | cp >> 18);
                        dst[o++] = (char)(0x80 | (cp >> 12 & 0x3F));
                        dst[o++] = (char)(0x80 | (cp >> 6 & 0x3F));
                        dst[o++] = (char)(0x80 | (cp & 0x3F));
                    }
                    p = q + 1;
                    done = true;
                }
            }
            if (done)
                continue;
        }
        dst[o++] = *p++;
    }
    dst[o] = 0;
}

medge_status bmc_tokenize(const bmc_model *m, const char *text, int32_t **ids, int *n)
{
    *ids = NULL;
    *n = 0;
    if (!text)
        return medge_err(MEDGE_ERR_INVALID_ARG, "biomedclip: no text");
    size_t len = strlen(text);
    char *a = malloc(len + 1), *b = malloc(len + 1);
    if (!a || !b) {
        free(a);
        free(b);
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    }
    html_unescape(text, a);
    html_unescape(a, b);
    /* Whitespace collapsing and stripping change nothing for BERT's whitespace split. */
    size_t cnt = 0;
    medge_status rc = wp_encode(m->vocab, b, strlen(b), (size_t)m->ctx, ids, &cnt);
    free(a);
    free(b);
    MEDGE_TRY(rc);
    *n = (int)cnt;
    return MEDGE_OK;
}
