/* attention.c - scaled-dot-product attention of a batch of queries over KV-cache views (ops.h),
 * computed operation by operation as llama.cpp's CPU backend computes Gemma 3's attention, so that
 * the logits reproduce its references (gemma3-tiny/logits, made without flash attention).
 *
 * F16 / F32 caches: llama.cpp's graph without flash attention, KQ = mul_mat(K, q), soft_max_ext,
 * then mul_mat(V^T, KQ). On x86 those products run through llamafile's tinyBLAS with 16-lane
 * (AVX-512) accumulators:
 *  - q is rounded to the key type (F16 for an F16 cache) and each score is a fused-multiply-add
 *    chain per lane over blocks of 16 elements (lane = element % 16), the lanes added pairwise
 *    (_mm512_reduce_add_ps: 8 + 8, 4 + 4, 2 + 2, 1 + 1);
 *  - the softmax subtracts the row maximum, exponentiates with ggml's vector exp (ggml_v_expf), sums
 *    each group of 16 cells as above and the groups in double, and multiplies by 1 / sum;
 *  - the probabilities are rounded to the value type (F16 for an F16 cache) and each output element
 *    is again a per-lane FMA chain over the cells (lane = cell % 16) followed by the lane tree.
 * llama.cpp's cell of a position is the position itself for a single sequence evaluated from the
 * start, so lanes and groups are taken from positions here, which makes the result independent of
 * how the prompt is split into batches and of the ring layout of the sliding-window cache.
 * A Q8_0 cache needs flash attention in llama.cpp; its "one chunk" kernel is followed: q quantized
 * to Q8_0, keys in position order with an online softmax (expf), values dequantized and
 * accumulated in float by FMA, divided by the sum at the end.
 * The portable C here (fmaf where ggml fuses) defines the results; none depends on this machine's vectors.
 *
 * SIMD kernels (ops_kernels.attn_rows, src/ops/arch/) reproduce the non-flash rows bit for bit.
 * Work is shared across the pool by (token, KV head) units. */
#include "ops/kernels.h"
#include "ops/ops.h"

#include <math.h>
#include <stdatomic.h>
#include <string.h>

#define LANES 16 /* tinyBLAS's vector width in floats (AVX-512) */

typedef struct attn_job {
    const ops_kernels *k;
    const ops_attn_params *p;
    const float *q;
    const int32_t *qpos;
    int n_tok;
    const ops_kv_view *views;
    int n_views;
    uint32_t type;     /* KV type shared by all views */
    float *out;
    uint8_t *scratch;
    size_t per_thread; /* bytes of scratch per thread */
    int n_cells;       /* cells of all views */
    atomic_long next;  /* next unit to claim */
    size_t rows_work;  /* floats of row-kernel work per thread (multiple of 16) */
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

/* tinyBLAS dot product of two rows (n a multiple of 16): per-lane FMA chains, lane tree. */
static float dot_lanes_f16(int n, const uint16_t *x, const uint16_t *y)
{
    float acc[LANES] = {0};
    for (int i = 0; i < n; i += LANES)
        for (int l = 0; l < LANES; l++)
            acc[l] = fmaf(ops_fp16(x[i + l]), ops_fp16(y[i + l]), acc[l]);
    return ops_reduce16(acc);
}

static float dot_lanes_f32(int n, const float *x, const float *y)
{
    float acc[LANES] = {0};
    for (int i = 0; i < n; i += LANES)
        for (int l = 0; l < LANES; l++)
            acc[l] = fmaf(x[i + l], y[i + l], acc[l]);
    return ops_reduce16(acc);
}

/* ggml_vec_dot_f16 / ggml_vec_dot_f32 (AVX-512), used by ggml when tinyBLAS declines (row length
 * not a multiple of 16): four 16-lane accumulators over steps of 64, reduced 0+2, 1+3, 0+1, then
 * across lanes; leftovers added in double (f16) or float (f32). */
static float dot_vec_f16(int n, const uint16_t *x, const uint16_t *y)
{
    float acc[4][LANES];
    memset(acc, 0, sizeof acc);
    int np = n & ~63;
    for (int i = 0; i < np; i += 64)
        for (int j = 0; j < 4; j++)
            for (int l = 0; l < LANES; l++)
                acc[j][l] = fmaf(ops_fp16(x[i + 16 * j + l]), ops_fp16(y[i + 16 * j + l]), acc[j][l]);
    for (int l = 0; l < LANES; l++)
        acc[0][l] = (acc[0][l] + acc[2][l]) + (acc[1][l] + acc[3][l]);
    double sum = ops_reduce16(acc[0]);
    for (int i = np; i < n; i++)
        sum += (double)(ops_fp16(x[i]) * ops_fp16(y[i]));
    return (float)sum;
}

static float dot_vec_f32(int n, const float *x, const float *y)
{
    float acc[4][LANES];
    memset(acc, 0, sizeof acc);
    int np = n & ~63;
    for (int i = 0; i < np; i += 64)
        for (int j = 0; j < 4; j++)
            for (int l = 0; l < LANES; l++)
                acc[j][l] = fmaf(x[i + 16 * j + l], y[i + 16 * j + l], acc[j][l]);
    for (int l = 0; l < LANES; l++)
        acc[0][l] = (acc[0][l] + acc[2][l]) + (acc[1][l] + acc[3][l]);
    float sum = ops_reduce16(acc[0]);
    for (int i = np; i < n; i++)
        sum = fmaf(x[i], y[i], sum);
    return sum;
}

/* ggml_v_expf (AVX-512 variant) for one lane: exp(x) by range reduction and a degree-5
 * polynomial, 0 below about -104 (and for -inf), inf above about 88.4. */
static float v_expf(float x)
{
    const float r = 0x1.8p23f;
    float z = fmaf(x, 0x1.715476p+0f, r);
    float n = z - r;
    float b = fmaf(-n, 0x1.7f7d1cp-20f, fmaf(-n, 0x1.62e4p-1f, x));
    float u = b * b;
    float j = fmaf(fmaf(fmaf(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u, fmaf(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)), u,
                   fmaf(0x1.ffffecp-1f, b, 1.0f));
    if (!(fabsf(n) <= 192.0f))
        return n <= 0.0f ? 0.0f : INFINITY;
    return ldexpf(j, (int)n); /* _mm512_scalef_ps(j, n); n is integral */
}

/* Per-thread scratch: the visible cells of one query row (score, position, key and value rows)
 * and the lane accumulators of the value product. */
typedef struct row_buf {
    float *s;           /* [n_cells] */
    int32_t *pos;       /* [n_cells] */
    const void **kr;    /* [n_cells] */
    const void **vr;    /* [n_cells] */
    float *acc;         /* [LANES][head_dim] */
    float *tmp;         /* [head_dim] */
    void *qc;           /* q in the key's dot-product type */
    float *work;        /* OPS_ATTN_ROWS_WORK(OPS_ATTN_ROWS_MAX, n_cells, head_dim) floats (row kernels) */
} row_buf;

/* The portable C of one row over the gathered cells (what ops_attn_rows_fn kernels reproduce). */
static void row_plain_ref(int hd, int n, const void *q, const void *const *kr, const void *const *vr,
                          const int32_t *pos, float *s, float *acc, float *o, bool f16)
{
    const bool lanes = hd % LANES == 0;
    float mx = -INFINITY;
    for (int i = 0; i < n; i++) {
        float v = f16 ? (lanes ? dot_lanes_f16(hd, kr[i], q) : dot_vec_f16(hd, kr[i], q))
                      : (lanes ? dot_lanes_f32(hd, kr[i], q) : dot_vec_f32(hd, kr[i], q));
        s[i] = v;
        mx = v > mx ? v : mx;
    }
    /* softmax: exps summed per group of 16 cells (lane = position % 16), groups in double */
    double sum = 0;
    float g[LANES];
    int32_t grp = -1;
    for (int i = 0; i < n; i++) {
        float e = v_expf(s[i] - mx);
        s[i] = e;
        if (pos[i] / LANES != grp) {
            if (grp >= 0)
                sum += (double)ops_reduce16(g);
            memset(g, 0, sizeof g);
            grp = pos[i] / LANES;
        }
        g[pos[i] % LANES] = e;
    }
    sum += (double)ops_reduce16(g);
    const float inv = (float)(1.0 / sum);
    /* values: per-lane FMA chains over the cells in position order, then the lane tree */
    memset(acc, 0, (size_t)LANES * (size_t)hd * sizeof(float));
    for (int i = 0; i < n; i++) {
        float pr = s[i] * inv;
        float *a = acc + (size_t)(pos[i] % LANES) * (size_t)hd;
        if (f16) {
            pr = ops_fp16(medge_fp32_to_fp16(pr));
            const uint16_t *vv = vr[i];
            for (int d = 0; d < hd; d++)
                a[d] = fmaf(ops_fp16(vv[d]), pr, a[d]);
        } else {
            const float *vv = vr[i];
            for (int d = 0; d < hd; d++)
                a[d] = fmaf(vv[d], pr, a[d]);
        }
    }
    float lane[LANES];
    for (int d = 0; d < hd; d++) {
        for (int l = 0; l < LANES; l++)
            lane[l] = acc[(size_t)l * (size_t)hd + (size_t)d];
        o[d] = ops_reduce16(lane);
    }
}

/* Query row (t, h): its KV head, its query and its output (rows of head_dim floats). */
static void row_addr(const attn_job *j, int t, int h, int *hk, const float **qv, float **o)
{
    const ops_attn_params *p = j->p;
    const size_t row = ((size_t)t * (size_t)p->n_head + (size_t)h) * (size_t)p->head_dim;
    *hk = h / (p->n_head / p->n_kv_head);
    *qv = j->q + row;
    *o = j->out + row;
}

/* One query row, llama.cpp without flash attention (F16 and F32 caches), portable: the visible
 * cells are gathered in position order, then row_plain_ref runs. */
static void row_plain(const attn_job *j, int t, int h, row_buf *rb)
{
    const ops_attn_params *p = j->p;
    const int hd = p->head_dim;
    int hk;
    const float *qv;
    float *o;
    row_addr(j, t, h, &hk, &qv, &o);
    const int32_t qp = j->qpos[t];
    const bool f16 = j->type == GGML_TYPE_F16;
    const void *q = qv;
    if (f16) { /* the table's converter: exact, round to nearest even */
        j->k->fp32_to_fp16_row(qv, rb->qc, hd);
        q = rb->qc;
    }
    int n = 0;
    for (int vi = 0; vi < j->n_views; vi++) {
        const ops_kv_view *v = &j->views[vi];
        for (int cc = 0; cc < v->n_cells; cc++) {
            int c = v->first + cc < v->n_cells ? v->first + cc : v->first + cc - v->n_cells;
            if (!visible(p, qp, v->pos[c]))
                continue;
            size_t off = (size_t)c * v->cell_bytes + (size_t)hk * v->head_bytes;
            rb->kr[n] = (const uint8_t *)v->k + off;
            rb->vr[n] = (const uint8_t *)v->v + off;
            rb->pos[n] = v->pos[c];
            n++;
        }
    }
    if (n == 0) {
        memset(o, 0, (size_t)hd * sizeof(float));
        return;
    }
    row_plain_ref(hd, n, q, rb->kr, rb->vr, rb->pos, rb->s, rb->acc, o, f16);
}

/* Tokens [t0, t0 + nt) x the query heads of KV head hk through the table's row kernel: the cells
 * visible to any of the tokens are gathered once, each token sees a contiguous range of them
 * (causal mask, window and bidirectional range all cut position intervals); if some token's cells
 * are not contiguous (positions out of order in a view), the block goes row by row (row_plain). */
static void block_rows(const attn_job *j, int t0, int nt, int hk, row_buf *rb, ops_attn_rows_fn fn)
{
    const ops_attn_params *p = j->p;
    const int hd = p->head_dim, G = p->n_head / p->n_kv_head;
    int n = 0;
    for (int vi = 0; vi < j->n_views; vi++) {
        const ops_kv_view *v = &j->views[vi];
        for (int cc = 0; cc < v->n_cells; cc++) {
            int c = v->first + cc < v->n_cells ? v->first + cc : v->first + cc - v->n_cells;
            int any = 0;
            for (int t = t0; t < t0 + nt && !any; t++)
                any = visible(p, j->qpos[t], v->pos[c]);
            if (!any)
                continue;
            size_t off = (size_t)c * v->cell_bytes + (size_t)hk * v->head_bytes;
            rb->kr[n] = (const uint8_t *)v->k + off;
            rb->vr[n] = (const uint8_t *)v->v + off;
            rb->pos[n] = v->pos[c];
            n++;
        }
    }
    int lo[OPS_ATTN_ROWS_MAX], hi[OPS_ATTN_ROWS_MAX]; /* per token */
    for (int t = t0; t < t0 + nt; t++) {
        int a = -1, b = 0, cnt = 0;
        for (int i = 0; i < n; i++)
            if (visible(p, j->qpos[t], rb->pos[i])) {
                a = a < 0 ? i : a;
                b = i + 1;
                cnt++;
            }
        if (cnt != b - a && a >= 0) { /* not one interval: the whole block row by row */
            for (int tt = t0; tt < t0 + nt; tt++)
                for (int h = hk * G; h < (hk + 1) * G; h++)
                    row_plain(j, tt, h, rb);
            return;
        }
        lo[t - t0] = a < 0 ? 0 : a;
        hi[t - t0] = a < 0 ? 0 : b;
    }
    const float *q[OPS_ATTN_ROWS_MAX];
    float *out[OPS_ATTN_ROWS_MAX];
    int rlo[OPS_ATTN_ROWS_MAX], rhi[OPS_ATTN_ROWS_MAX], nq = 0;
    for (int t = t0; t < t0 + nt; t++)
        for (int h = hk * G; h < (hk + 1) * G; h++) {
            const size_t row = ((size_t)t * (size_t)p->n_head + (size_t)h) * (size_t)hd;
            q[nq] = j->q + row;
            out[nq] = j->out + row;
            rlo[nq] = lo[t - t0];
            rhi[nq] = hi[t - t0];
            if (++nq == OPS_ATTN_ROWS_MAX) {
                fn(hd, nq, n, q, rlo, rhi, rb->kr, rb->vr, rb->pos, rb->work, out);
                nq = 0;
            }
        }
    if (nq)
        fn(hd, nq, n, q, rlo, rhi, rb->kr, rb->vr, rb->pos, rb->work, out);
}

/* One query row, llama.cpp's flash-attention "one chunk" kernel (quantized caches). */
static void row_flash(const attn_job *j, int t, int h, row_buf *rb)
{
    const ops_attn_params *p = j->p;
    const int hd = p->head_dim;
    int hk;
    const float *qv;
    float *o;
    row_addr(j, t, h, &hk, &qv, &o);
    const int32_t qp = j->qpos[t];
    const ops_wkernels *wk = &j->k->w[j->type];
    j->k->quantize_act[wk->act_type](qv, rb->qc, hd);
    float M = -INFINITY, S = 0.0f, *acc = rb->acc;
    memset(acc, 0, (size_t)hd * sizeof(float));
    for (int vi = 0; vi < j->n_views; vi++) {
        const ops_kv_view *v = &j->views[vi];
        for (int cc = 0; cc < v->n_cells; cc++) {
            int c = v->first + cc < v->n_cells ? v->first + cc : v->first + cc - v->n_cells;
            if (!visible(p, qp, v->pos[c]))
                continue;
            size_t off = (size_t)c * v->cell_bytes + (size_t)hk * v->head_bytes;
            float s;
            wk->vec_dot(hd, &s, (const uint8_t *)v->k + off, rb->qc);
            float ms = 1.0f, vs = 1.0f;
            if (s > M) {
                float Mold = M;
                M = s;
                ms = expf(Mold - M);
                for (int d = 0; d < hd; d++)
                    acc[d] *= ms;
            } else {
                vs = expf(s - M);
            }
            j->k->to_float[j->type]((const uint8_t *)v->v + off, rb->tmp, hd);
            for (int d = 0; d < hd; d++)
                acc[d] = fmaf(rb->tmp[d], vs, acc[d]);
            S = fmaf(S, ms, vs);
        }
    }
    const float inv = S == 0.0f ? 0.0f : 1.0f / S;
    for (int d = 0; d < hd; d++)
        o[d] = acc[d] * inv;
}

/* Threads claim one unit at a time, the last tokens (most visible cells under the causal mask)
 * first, so the parts end together: (block of tokens, KV head) for the row kernels, whose rows
 * share the key and value loads, else (token, KV head). */
static void attn_run(void *ctx, int ith, int nth)
{
    attn_job *j = ctx;
    const ops_attn_params *p = j->p;
    const size_t hd = (size_t)p->head_dim, nc = (size_t)j->n_cells;
    (void)nth;
    uint8_t *base = j->scratch + (size_t)ith * j->per_thread;
    row_buf rb;
    rb.work = (float *)base;
    rb.acc = rb.work + j->rows_work;
    rb.tmp = rb.acc + LANES * hd;
    rb.s = rb.tmp + hd;
    rb.pos = (int32_t *)(rb.s + nc);
    rb.kr = (const void **)(((uintptr_t)(rb.pos + nc) + 7) & ~(uintptr_t)7);
    rb.vr = rb.kr + nc;
    rb.qc = (void *)(((uintptr_t)(rb.vr + nc) + 63) & ~(uintptr_t)63);
    const bool flash = j->type != GGML_TYPE_F16 && j->type != GGML_TYPE_F32;
    const ops_attn_rows_fn fn = flash || p->head_dim % LANES ? NULL : j->k->attn_rows[j->type == GGML_TYPE_F16];
    const int grp = p->n_head / p->n_kv_head;
    /* tokens per unit: as many as fill the row kernel's rows with the heads of one KV head */
    const int tb = fn && grp < OPS_ATTN_ROWS_MAX ? OPS_ATTN_ROWS_MAX / grp : 1;
    const long nblk = (j->n_tok + tb - 1) / tb, units = nblk * p->n_kv_head;
    for (;;) {
        const long u = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (u >= units)
            break;
        /* consecutive units share the KV head (its keys and values may still be in cache) */
        const long it = units - 1 - u;
        const int t0 = (int)(it % nblk) * tb, hk = (int)(it / nblk);
        if (fn) {
            block_rows(j, t0, j->n_tok - t0 < tb ? j->n_tok - t0 : tb, hk, &rb, fn);
            continue;
        }
        for (int h = hk * grp; h < (hk + 1) * grp; h++) {
            if (flash)
                row_flash(j, t0, h, &rb);
            else
                row_plain(j, t0, h, &rb);
        }
    }
}

medge_status ops_attention(medge_pool *pool, ops_scratch *scratch, const ops_attn_params *p, const float *q,
                           const int32_t *qpos, int n_tok, const ops_kv_view *views, int n_views, float *out)
{
    return ops_attention_k(ops_kernels_get(), pool, scratch, p, q, qpos, n_tok, views, n_views, out);
}

medge_status ops_attention_k(const ops_kernels *k, medge_pool *pool, ops_scratch *scratch, const ops_attn_params *p,
                             const float *q, const int32_t *qpos, int n_tok, const ops_kv_view *views, int n_views,
                             float *out)
{
    if (p->n_head <= 0 || p->n_kv_head <= 0 || p->n_head % p->n_kv_head || p->head_dim <= 0)
        return medge_err(MEDGE_ERR_INVALID_ARG, "attention: bad head counts %d/%d", p->n_head, p->n_kv_head);
    int n_cells = 0;
    size_t qrow = (size_t)p->head_dim * sizeof(float);
    uint32_t type = n_views > 0 ? views[0].type : GGML_TYPE_F16;
    for (int i = 0; i < n_views; i++) {
        uint32_t t = views[i].type;
        if (t != type)
            return medge_err(MEDGE_ERR_INVALID_ARG, "attention: views of different KV types");
        if (t >= GGML_TYPE_COUNT || !k->w[t].vec_dot || !k->to_float[t] || !k->quantize_act[k->w[t].act_type])
            return medge_err(MEDGE_ERR_UNSUPPORTED, "attention: no kernels for KV type %s", quant_type_name(t));
        size_t r = quant_row_size(k->w[t].act_type, p->head_dim);
        if (!r || quant_row_size(t, p->head_dim) != views[i].row_bytes)
            return medge_err(MEDGE_ERR_INVALID_ARG, "attention: head_dim %d does not fit KV type %s", p->head_dim,
                             quant_type_name(t));
        qrow = r > qrow ? r : qrow;
        if (views[i].n_cells > 0 && (views[i].cell_bytes < views[i].row_bytes ||
                                     (p->n_kv_head > 1 && views[i].head_bytes < views[i].row_bytes)))
            return medge_err(MEDGE_ERR_INVALID_ARG, "attention: KV rows overlap (cell stride %zu, head stride %zu)",
                             views[i].cell_bytes, views[i].head_bytes);
        if (views[i].n_cells < 0 || views[i].n_cells > (1 << 26) - n_cells)
            return medge_err(MEDGE_ERR_INVALID_ARG, "attention: bad cell count");
        n_cells += views[i].n_cells;
    }
    int nth = medge_pool_size(pool);
    size_t hd = (size_t)p->head_dim, nc = (size_t)n_cells;
    const size_t rows_work = (type == GGML_TYPE_F16 || type == GGML_TYPE_F32) && k->attn_rows[type == GGML_TYPE_F16]
                                 ? (OPS_ATTN_ROWS_WORK(OPS_ATTN_ROWS_MAX, nc, hd) + 15) & ~(size_t)15
                                 : 0;
    size_t per = (rows_work + (LANES + 1) * hd) * sizeof(float) + nc * (sizeof(float) + sizeof(int32_t)) + 8 +
                 2 * nc * sizeof(const void *) + 64 + qrow;
    per = (per + 63) & ~(size_t)63;
    MEDGE_TRY(ops_scratch_reserve(scratch, per * (size_t)nth));
    attn_job j = {k, p, q, qpos, n_tok, views, n_views, type, out, scratch->buf, per, n_cells, 0, rows_work};
    atomic_init(&j.next, 0);
    if ((double)n_tok * p->n_head * n_cells * p->head_dim < (1 << 18))
        pool = NULL; /* too little work to wake the pool */
    medge_pool_run(pool, attn_run, &j);
    return MEDGE_OK;
}
