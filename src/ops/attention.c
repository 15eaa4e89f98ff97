/* attention.c - scaled-dot-product attention of a batch of queries over KV-cache views (ops.h).
 * Work is split across the pool by (token, head) pairs; each pair scores all visible cells,
 * takes a softmax (float exps, double sum, as ggml) and accumulates the value rows. */
#include "ops/kernels.h"
#include "ops/ops.h"

#include <math.h>
#include <string.h>

typedef struct attn_job {
    const ops_kernels *k;
    const ops_attn_params *p;
    const float *q;
    const int32_t *qpos;
    int n_tok;
    const ops_kv_view *views;
    int n_views;
    float *out;
    uint8_t *scratch;
    size_t per_thread; /* bytes of scratch per thread */
    int n_cells;       /* total cells of all views */
    size_t qrow;       /* bytes of q converted to the key activation type */
} attn_job;

static int visible(const ops_attn_params *p, int32_t qp, int32_t kp)
{
    if (kp < 0)
        return 0;
    if (kp > qp && !(qp >= p->bidir_lo && qp < p->bidir_hi && kp >= p->bidir_lo && kp < p->bidir_hi))
        return 0;
    if (p->window > 0 && (int64_t)qp - kp >= p->window)
        return 0;
    return 1;
}

static void attn_run(void *ctx, int ith, int nth)
{
    attn_job *j = ctx;
    const ops_attn_params *p = j->p;
    const int hd = p->head_dim, group = p->n_head / p->n_kv_head;
    long b, e;
    medge_split((long)j->n_tok * p->n_head, ith, nth, &b, &e);
    float *sc = (float *)(j->scratch + (size_t)ith * j->per_thread);
    uint8_t *qc = (uint8_t *)(sc + j->n_cells);
    for (long it = b; it < e; it++) {
        int t = (int)(it / p->n_head), h = (int)(it % p->n_head), hk = h / group;
        const float *qv = j->q + ((size_t)t * (size_t)p->n_head + (size_t)h) * (size_t)hd;
        float *o = j->out + ((size_t)t * (size_t)p->n_head + (size_t)h) * (size_t)hd;
        memset(o, 0, (size_t)hd * sizeof(float));
        int32_t qp = j->qpos[t];
        /* Scores of every visible cell, views in order; -inf marks the others. */
        float mx = -INFINITY;
        int c0 = 0;
        uint32_t qtype = (uint32_t)-1;
        for (int vi = 0; vi < j->n_views; vi++) {
            const ops_kv_view *v = &j->views[vi];
            const ops_wkernels *wk = &j->k->w[v->type];
            if (qtype != (uint32_t)wk->act_type) {
                qtype = (uint32_t)wk->act_type;
                j->k->quantize_act[qtype](qv, qc, hd);
            }
            for (int cc = 0; cc < v->n_cells; cc++) {
                int c = v->first + cc < v->n_cells ? v->first + cc : v->first + cc - v->n_cells;
                float s = -INFINITY;
                if (visible(p, qp, v->pos[c])) {
                    wk->vec_dot(hd, &s, (const uint8_t *)v->k + ((size_t)c * (size_t)p->n_kv_head + (size_t)hk) * v->row_bytes,
                                qc);
                    mx = s > mx ? s : mx;
                }
                sc[c0 + cc] = s;
            }
            c0 += v->n_cells;
        }
        if (mx == -INFINITY)
            continue;
        double sum = 0;
        for (int c = 0; c < c0; c++) {
            float ex = sc[c] == -INFINITY ? 0.0f : expf(sc[c] - mx);
            sc[c] = ex;
            sum += (double)ex;
        }
        float inv = (float)(1.0 / sum);
        c0 = 0;
        for (int vi = 0; vi < j->n_views; vi++) {
            const ops_kv_view *v = &j->views[vi];
            ops_mad_fn mad = j->k->mad[v->type];
            for (int cc = 0; cc < v->n_cells; cc++) {
                int c = v->first + cc < v->n_cells ? v->first + cc : v->first + cc - v->n_cells;
                float w = sc[c0 + cc];
                if (w != 0.0f)
                    mad(hd, o, w * inv, (const uint8_t *)v->v + ((size_t)c * (size_t)p->n_kv_head + (size_t)hk) * v->row_bytes);
            }
            c0 += v->n_cells;
        }
    }
}

medge_status ops_attention(medge_pool *pool, ops_scratch *scratch, const ops_attn_params *p, const float *q,
                           const int32_t *qpos, int n_tok, const ops_kv_view *views, int n_views, float *out)
{
    const ops_kernels *k = ops_kernels_get();
    if (p->n_head <= 0 || p->n_kv_head <= 0 || p->n_head % p->n_kv_head || p->head_dim <= 0)
        return medge_err(MEDGE_ERR_INVALID_ARG, "attention: bad head counts %d/%d", p->n_head, p->n_kv_head);
    int n_cells = 0;
    size_t qrow = 0;
    for (int i = 0; i < n_views; i++) {
        uint32_t t = views[i].type;
        if (t >= GGML_TYPE_COUNT || !k->w[t].vec_dot || !k->mad[t])
            return medge_err(MEDGE_ERR_UNSUPPORTED, "attention: no kernels for KV type %s", quant_type_name(t));
        size_t r = quant_row_size(k->w[t].act_type, p->head_dim);
        if (!r || quant_row_size(t, p->head_dim) != views[i].row_bytes)
            return medge_err(MEDGE_ERR_INVALID_ARG, "attention: head_dim %d does not fit KV type %s", p->head_dim,
                             quant_type_name(t));
        qrow = r > qrow ? r : qrow;
        if (views[i].n_cells < 0 || views[i].n_cells > (1 << 28) - n_cells)
            return medge_err(MEDGE_ERR_INVALID_ARG, "attention: bad cell count");
        n_cells += views[i].n_cells;
    }
    int nth = medge_pool_size(pool);
    size_t per = ((size_t)n_cells * sizeof(float) + qrow + 63) & ~(size_t)63;
    MEDGE_TRY(ops_scratch_reserve(scratch, per * (size_t)nth));
    attn_job j = {k, p, q, qpos, n_tok, views, n_views, out, scratch->buf, per, n_cells, qrow};
    if ((double)n_tok * p->n_head * n_cells * p->head_dim < (1 << 18))
        pool = NULL; /* too little work to wake the pool */
    medge_pool_run(pool, attn_run, &j);
    return MEDGE_OK;
}
