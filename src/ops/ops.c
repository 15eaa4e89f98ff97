/* ops.c - the portable tensor ops of ops.h: weight matmul (activations converted to the weight
 * type's dot-product type, then tiles of weight rows x tokens split by rows across the pool),
 * embedding rows, norms, activations, softmax and NEOX RoPE, with ggml's numerics where the
 * reference logits depend on them (double sums in norms and softmax, incremental RoPE angles). */
#include "ops/ops.h"
#include "ops/kernels.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

void ops_scratch_free(ops_scratch *s)
{
    if (!s)
        return;
    free(s->buf);
    s->buf = NULL;
    s->size = 0;
}

medge_status ops_scratch_reserve(ops_scratch *s, size_t n)
{
    if (n <= s->size)
        return MEDGE_OK;
    size_t want = (n + 63) & ~(size_t)63;
    void *p = NULL;
    if (posix_memalign(&p, 64, want) != 0 || !p)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory (scratch of %zu bytes)", want);
    free(s->buf);
    s->buf = p;
    s->size = want;
    return MEDGE_OK;
}

bool ops_matmul_supported(uint32_t type)
{
    const ops_kernels *k = ops_kernels_get();
    return type < GGML_TYPE_COUNT && k->w[type].vec_dot != NULL;
}

/* Tile sizes of the matmul: a tile of weight rows stays in cache while a tile of token rows
 * streams past it (prefill); with one token this is a plain row loop. */
enum { MM_ROWS = 16, MM_TOKS = 8 };
/* Below this many multiply-adds a product runs on the calling thread: waking the pool costs
 * more than it saves (small models, single-token steps of small layers). */
#define OPS_MIN_PARALLEL_WORK (1 << 18)

typedef struct mm_job {
    const ops_kernels *k;
    const medge_tensor *W;
    const float *x;
    float *y;
    int n_tok;
    uint8_t *act;
    size_t act_row;
} mm_job;

static void mm_quantize(void *ctx, int ith, int nth)
{
    mm_job *j = ctx;
    long b, e;
    medge_split(j->n_tok, ith, nth, &b, &e);
    ops_quantize_fn q = j->k->quantize_act[j->k->w[j->W->type].act_type];
    int64_t ne0 = j->W->ne[0];
    for (long t = b; t < e; t++)
        q(j->x + t * ne0, j->act + (size_t)t * j->act_row, ne0);
}

static void mm_rows(void *ctx, int ith, int nth)
{
    mm_job *j = ctx;
    const ops_wkernels *wk = &j->k->w[j->W->type];
    long nrows = (long)j->W->ne[1];
    /* Split rows in whole tiles so threads never share a cache line of y for small tiles. */
    long ntiles = (nrows + MM_ROWS - 1) / MM_ROWS, tb, te;
    medge_split(ntiles, ith, nth, &tb, &te);
    long r0 = tb * MM_ROWS, r1 = te * MM_ROWS < nrows ? te * MM_ROWS : nrows;
    int n = (int)j->W->ne[0];
    const uint8_t *w = j->W->data;
    size_t nb1 = j->W->nb1;
    for (long rt = r0; rt < r1; rt += MM_ROWS) {
        int nr = (int)(r1 - rt < MM_ROWS ? r1 - rt : MM_ROWS);
        for (int tt = 0; tt < j->n_tok; tt += MM_TOKS) {
            int nt = j->n_tok - tt < MM_TOKS ? j->n_tok - tt : MM_TOKS;
            const uint8_t *a = j->act + (size_t)tt * j->act_row;
            float *y = j->y + (size_t)tt * (size_t)nrows + (size_t)rt;
            for (int t = 0; t < nt; t++)
                for (int r = 0; r < nr; r++)
                    wk->vec_dot(n, &y[(size_t)t * (size_t)nrows + (size_t)r], w + (size_t)(rt + r) * nb1,
                                a + (size_t)t * j->act_row);
        }
    }
}

/* Single token (decoding): the rows are cut into chunks that threads claim through a
 * medge_workq, each from its own contiguous range first (one memory stream per thread), so a
 * thread that is preempted or slower only delays the chunk it holds instead of its whole static
 * share. Several matrices that multiply the same vector (Q, K, V; gate, up) go through one pool
 * run: their chunks are numbered one after the other, so there is one barrier instead of one per
 * matrix and the threads move from one matrix to the next without waiting. */
enum { MV_CHUNK_BYTES = 48 << 10, MV_MAX_SEG = 4 };

typedef struct mv_seg {
    const ops_wkernels *wk;
    const medge_tensor *W;
    float *y;
    long chunk;  /* rows per chunk */
    long first;  /* number of the segment's first chunk */
} mv_seg;

typedef struct mv_job {
    mv_seg seg[MV_MAX_SEG];
    int nseg;
    long n_chunks;
    const uint8_t *act;
    medge_workq q;
} mv_job;

static void mv_rows(void *ctx, int ith, int nth)
{
    mv_job *j = ctx;
    (void)nth;
    for (long cb, ce; medge_workq_next(&j->q, ith, &cb, &ce);) {
        for (long c = cb; c < ce; c++) {
            int s = 0;
            while (s + 1 < j->nseg && c >= j->seg[s + 1].first)
                s++;
            const mv_seg *g = &j->seg[s];
            const long nrows = (long)g->W->ne[1];
            const int n = (int)g->W->ne[0];
            const size_t nb1 = g->W->nb1;
            const uint8_t *w = g->W->data;
            const long r0 = (c - g->first) * g->chunk;
            const long r1 = r0 + g->chunk < nrows ? r0 + g->chunk : nrows;
            if (g->wk->gemv) {
                g->wk->gemv(n, (int)(r1 - r0), w + (size_t)r0 * nb1, nb1, j->act, g->y + r0);
            } else {
                for (long r = r0; r < r1; r++)
                    g->wk->vec_dot(n, &g->y[r], w + (size_t)r * nb1, j->act);
            }
        }
    }
}

/* y[i] = W[i] act for nw <= MV_MAX_SEG matrices sharing the activation row (of their common
 * act_type) in one pool run. */
static void matvec(medge_pool *pool, const ops_kernels *k, const medge_tensor *const *W, float *const *y, int nw,
                   const uint8_t *act)
{
    mv_job j;
    j.act = act;
    j.nseg = nw;
    j.n_chunks = 0;
    double work = 0;
    for (int i = 0; i < nw; i++) {
        mv_seg *g = &j.seg[i];
        g->wk = &k->w[W[i]->type];
        g->W = W[i];
        g->y = y[i];
        /* whole multiples of 8 rows (the gemv kernels' row groups: 1, 4 or 8), about MV_CHUNK_BYTES
         * each, or 1/1024 of a large matrix (the 550 MB output matrix: 1024 claims, not 11000) */
        const double bytes = (double)W[i]->nb1 * (double)W[i]->ne[1];
        const double cb = bytes / 1024 > MV_CHUNK_BYTES ? bytes / 1024 : MV_CHUNK_BYTES;
        long chunk = (long)(cb / (double)(W[i]->nb1 ? W[i]->nb1 : 1)) & ~7L;
        g->chunk = chunk < 8 ? 8 : chunk;
        g->first = j.n_chunks;
        j.n_chunks += ((long)W[i]->ne[1] + g->chunk - 1) / g->chunk;
        work += (double)W[i]->ne[0] * (double)W[i]->ne[1];
    }
    if (work < OPS_MIN_PARALLEL_WORK)
        pool = NULL;
    medge_workq_init(&j.q, j.n_chunks, 1, j.n_chunks, medge_pool_size(pool));
    medge_pool_run(pool, mv_rows, &j);
}

medge_status ops_matmul_multi(medge_pool *pool, ops_scratch *scratch, const medge_tensor *const *W, int nw,
                              const float *x, float *const *y, int n_tok)
{
    const ops_kernels *k = ops_kernels_get();
    bool one_run = n_tok == 1 && nw >= 1 && nw <= MV_MAX_SEG;
    for (int i = 0; one_run && i < nw; i++) {
        const uint32_t t = W[i]->type;
        one_run = t < GGML_TYPE_COUNT && k->w[t].vec_dot && !(k->w[t].gemm && k->w[t].gemm->min_tok <= 1) &&
                  k->w[t].act_type == k->w[W[0]->type].act_type && k->w[t].act_type != GGML_TYPE_F32 &&
                  W[i]->ne[0] == W[0]->ne[0];
    }
    if (!one_run) {
        for (int i = 0; i < nw; i++)
            MEDGE_TRY(ops_matmul(pool, scratch, W[i], x, y[i], n_tok));
        return MEDGE_OK;
    }
    const enum ggml_type at = k->w[W[0]->type].act_type;
    const size_t act_row = quant_row_size(at, W[0]->ne[0]);
    if (!act_row)
        return medge_err(MEDGE_ERR_UNSUPPORTED, "%s: row length %lld does not fit the activation type %s",
                         W[0]->name ? W[0]->name : "?", (long long)W[0]->ne[0], quant_type_name(at));
    MEDGE_TRY(ops_scratch_reserve(scratch, act_row));
    k->quantize_act[at](x, scratch->buf, W[0]->ne[0]); /* once for all the matrices */
    matvec(pool, k, W, y, nw, scratch->buf);
    return MEDGE_OK;
}

medge_status ops_matmul(medge_pool *pool, ops_scratch *scratch, const medge_tensor *W, const float *x, float *y,
                        int n_tok)
{
    const ops_kernels *k = ops_kernels_get();
    if (W->type >= GGML_TYPE_COUNT || !k->w[W->type].vec_dot)
        return medge_err(MEDGE_ERR_UNSUPPORTED, "%s: no matmul kernel for weight type %s", W->name ? W->name : "?",
                         quant_type_name(W->type));
    if (n_tok <= 0)
        return MEDGE_OK;
    if (k->w[W->type].gemm && n_tok >= k->w[W->type].gemm->min_tok) /* batches: matmul-gemm.c */
        return ops_matmul_gemm(k, pool, scratch, W, x, y, n_tok);
    size_t act_row = quant_row_size(k->w[W->type].act_type, W->ne[0]);
    if (!act_row)
        return medge_err(MEDGE_ERR_UNSUPPORTED, "%s: row length %lld does not fit the activation type %s",
                         W->name ? W->name : "?", (long long)W->ne[0], quant_type_name(k->w[W->type].act_type));
    size_t need;
    if (!medge_mul_size(act_row, (size_t)n_tok, &need))
        return medge_err(MEDGE_ERR_NOMEM, "matmul scratch size overflows");
    MEDGE_TRY(ops_scratch_reserve(scratch, need));
    mm_job j = {k, W, x, y, n_tok, scratch->buf, act_row};
    if ((double)W->ne[0] * (double)W->ne[1] * n_tok < OPS_MIN_PARALLEL_WORK)
        pool = NULL;
    if (k->w[W->type].act_type == GGML_TYPE_F32) {
        j.act = (uint8_t *)(uintptr_t)x; /* F32 activations are used as they are */
    } else if (n_tok == 1) {
        mm_quantize(&j, 0, 1);
    } else {
        medge_pool_run(pool, mm_quantize, &j);
    }
    if (n_tok == 1)
        matvec(pool, k, &W, &y, 1, j.act);
    else
        medge_pool_run(pool, mm_rows, &j);
    return MEDGE_OK;
}

void ops_add_bias(float *y, const float *bias, int n_tok, int d)
{
    for (int t = 0; t < n_tok; t++)
        for (int i = 0; i < d; i++)
            y[(size_t)t * (size_t)d + (size_t)i] += bias[i];
}

medge_status ops_get_row(const medge_tensor *W, int64_t r, float *dst)
{
    const ops_kernels *k = ops_kernels_get();
    if (r < 0 || r >= W->ne[1])
        return medge_err(MEDGE_ERR_RANGE, "%s: row %lld out of range [0, %lld)", W->name ? W->name : "?", (long long)r,
                         (long long)W->ne[1]);
    if (W->type >= GGML_TYPE_COUNT || !k->to_float[W->type])
        return medge_err(MEDGE_ERR_UNSUPPORTED, "%s: cannot dequantize type %s", W->name ? W->name : "?",
                         quant_type_name(W->type));
    k->to_float[W->type]((const uint8_t *)W->data + (size_t)r * W->nb1, dst, W->ne[0]);
    return MEDGE_OK;
}

void ops_rmsnorm(float *x, const float *w, int n, int d, float eps)
{
    for (int t = 0; t < n; t++) {
        float *v = x + (size_t)t * (size_t)d;
        double sum = 0;
        for (int i = 0; i < d; i++)
            sum += (double)(v[i] * v[i]);
        float mean = (float)(sum / d);
        float scale = 1.0f / sqrtf(mean + eps);
        for (int i = 0; i < d; i++)
            v[i] *= scale;
        if (w)
            for (int i = 0; i < d; i++)
                v[i] *= w[i];
    }
}

void ops_layernorm(float *x, const float *w, const float *b, int n, int d, float eps)
{
    for (int t = 0; t < n; t++) {
        float *v = x + (size_t)t * (size_t)d;
        double sum = 0;
        for (int i = 0; i < d; i++)
            sum += (double)v[i];
        float mean = (float)(sum / d);
        double sum2 = 0;
        for (int i = 0; i < d; i++) {
            v[i] -= mean;
            sum2 += (double)(v[i] * v[i]);
        }
        float variance = (float)(sum2 / d);
        float scale = 1.0f / sqrtf(variance + eps);
        for (int i = 0; i < d; i++)
            v[i] *= scale;
        if (w)
            for (int i = 0; i < d; i++)
                v[i] *= w[i];
        if (b)
            for (int i = 0; i < d; i++)
                v[i] += b[i];
    }
}

void ops_gelu_tanh(float *x, int64_t n)
{
    ops_kernels_get(); /* tables */
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        if (v <= -10.0f)
            x[i] = 0.0f;
        else if (v < 10.0f)
            x[i] = ops_fp16_table[ops_gelu_fp16_table[medge_fp32_to_fp16(v)]];
    }
}

void ops_gelu_erf(float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752440f));
}

void ops_geglu(float *gate, const float *up, int64_t n)
{
    const ops_kernels *k = ops_kernels_get();
    while (n > 0) {
        int c = n > (1 << 30) ? (1 << 30) : (int)n;
        k->geglu(c, gate, up);
        gate += c;
        up += c;
        n -= c;
    }
}

void ops_softmax(float *x, int n, int d)
{
    for (int t = 0; t < n; t++) {
        float *v = x + (size_t)t * (size_t)d;
        float mx = -INFINITY;
        for (int i = 0; i < d; i++)
            mx = v[i] > mx ? v[i] : mx;
        double sum = 0;
        for (int i = 0; i < d; i++) {
            float e = v[i] == -INFINITY ? 0.0f : expf(v[i] - mx);
            v[i] = e;
            sum += (double)e;
        }
        float inv = sum > 0 ? (float)(1.0 / sum) : 0.0f;
        for (int i = 0; i < d; i++)
            v[i] *= inv;
    }
}

void ops_rope_neox(float *x, const int32_t *pos, int n_tok, int n_head, int head_dim, int n_rot, float base,
                   float freq_scale)
{
    float cs[512], sn[512];
    int half = n_rot / 2;
    if (half > 512 || n_rot > head_dim)
        return;
    const float theta_scale = powf(base, -2.0f / (float)n_rot);
    for (int t = 0; t < n_tok; t++) {
        float theta = (float)pos[t];
        for (int i = 0; i < half; i++) {
            float th = freq_scale * theta;
            cs[i] = cosf(th);
            sn[i] = sinf(th);
            theta *= theta_scale;
        }
        for (int h = 0; h < n_head; h++) {
            float *v = x + ((size_t)t * (size_t)n_head + (size_t)h) * (size_t)head_dim;
            for (int i = 0; i < half; i++) {
                float x0 = v[i], x1 = v[i + half];
                /* ggml-cpu is built with FMA contraction: the first product of each sum is fused */
                v[i] = fmaf(x0, cs[i], -(x1 * sn[i]));
                v[i + half] = fmaf(x0, sn[i], x1 * cs[i]);
            }
        }
    }
}

void ops_scale(float *x, int64_t n, float s)
{
    for (int64_t i = 0; i < n; i++)
        x[i] *= s;
}

void ops_add(float *y, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] += x[i];
}
