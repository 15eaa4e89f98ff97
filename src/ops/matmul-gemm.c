/* matmul-gemm.c - the batch path of ops_matmul (n_tok >= the kernel's min_tok): activations are
 * converted once (quantize_act, then the tile's pack_a), then the threads claim groups of weight
 * panels through a medge_workq (each its own contiguous range first); a group is repacked into the
 * thread's scratch while the next is prefetched, and the tokens go past each group in blocks of
 * GEMM_TOK (group and token block stay in L2; the activations are read once per group). See
 * ops_gemm_kernel in kernels.h for the contract. */
#include "ops/kernels.h"
#include "ops/ops.h"

#include <string.h>

/* Below this many multiply-adds the product runs on the calling thread. */
#define GEMM_MIN_PARALLEL_WORK (1 << 18)
/* Tokens per block and bytes of repacked panels per group (activations + panels within L2). */
#define GEMM_TOK 48
#define GEMM_GROUP_BYTES (384 << 10)

typedef struct gemm_job {
    const ops_kernels *k;
    const ops_gemm_kernel *g;
    const medge_tensor *W;
    const float *x;
    float *y;
    int n_tok;
    uint8_t *act;  /* n_tok rows of act_row bytes (act_type) */
    size_t act_row;
    const uint8_t *a; /* what the tile reads: act, the pack_a rows, or x */
    size_t a_row;
    uint8_t *pa;      /* pack_a rows (or NULL) */
    uint8_t *panels;  /* per thread: q.max_run * panel_size bytes */
    size_t panel_size;
    medge_workq q;    /* panels, claimed (and repacked) q.max_run at a time */
} gemm_job;

static void gemm_act(void *ctx, int ith, int nth)
{
    gemm_job *j = ctx;
    long b, e;
    medge_split(j->n_tok, ith, nth, &b, &e);
    const ops_quantize_fn q = j->k->quantize_act[j->k->w[j->W->type].act_type];
    const int64_t n = j->W->ne[0];
    for (long t = b; t < e; t++) {
        uint8_t *row = j->act + (size_t)t * j->act_row;
        q(j->x + t * n, row, n);
        if (j->pa)
            j->g->pack_a((int)n, row, j->pa + (size_t)t * j->a_row);
    }
}

/* Threads claim groups of panels through a medge_workq, each from the front of its own contiguous
 * range first (one stream of weight rows per thread), then from the back of the other's, so a
 * thread that is descheduled (other processes on the cores) or slower delays one group, not half
 * the matrix, and its partner does not spin at the barrier meanwhile. A group is repacked into the
 * thread's scratch while the rows of the group after it (usually the thread's next claim) are
 * prefetched, and the tokens go past the group in blocks of GEMM_TOK: the activations of a block
 * (read once per group instead of once per panel) and the group stay in L2 together. */
static void gemm_rows(void *ctx, int ith, int nth)
{
    gemm_job *j = ctx;
    const ops_gemm_kernel *g = j->g;
    const long nrows = (long)j->W->ne[1];
    const int n = (int)j->W->ne[0];
    const size_t nb1 = j->W->nb1;
    uint8_t *panels = j->panels + (size_t)ith * j->panel_size * (size_t)j->q.max_run;
    (void)nth;
    for (long p0, p1; medge_workq_next(&j->q, ith, &p0, &p1);) {
        if (!g->pack_w) {
            for (long p = p0; p < p1; p++) {
                const long r0 = p * g->rows;
                const int nr = (int)(nrows - r0 < g->rows ? nrows - r0 : g->rows);
                g->tile(n, nr, j->n_tok, (const uint8_t *)j->W->data + (size_t)r0 * nb1, nb1, j->a, j->a_row,
                        j->y + r0, (size_t)nrows);
            }
            continue;
        }
        for (long p = p0; p < p1; p++) {
            const long r0 = p * g->rows;
            const int nr = (int)(nrows - r0 < g->rows ? nrows - r0 : g->rows);
            g->pack_w(n, nr, (const uint8_t *)j->W->data + (size_t)r0 * nb1, nb1,
                      panels + (size_t)(p - p0) * j->panel_size);
        }
        /* the rows of the next group are read while this one is multiplied (the repack alone would
         * wait on memory for every row), a slice per token block */
        const uint8_t *nx = (const uint8_t *)j->W->data + (size_t)(p1 * g->rows) * nb1;
        const long nxr = p1 * g->rows >= nrows ? 0 : j->q.max_run * g->rows < nrows - p1 * g->rows ? j->q.max_run * g->rows
                                                                                                 : nrows - p1 * g->rows;
        const size_t nxb = (size_t)nxr * nb1, nblk = (size_t)(j->n_tok + GEMM_TOK - 1) / GEMM_TOK;
        const size_t slice = ((nxb + nblk - 1) / nblk + 63) & ~(size_t)63;
        size_t off = 0;
        for (int t0 = 0; t0 < j->n_tok; t0 += GEMM_TOK) {
            const int nt = j->n_tok - t0 < GEMM_TOK ? j->n_tok - t0 : GEMM_TOK;
            for (size_t e = off + slice < nxb ? off + slice : nxb; off < e; off += 64)
                __builtin_prefetch(nx + off, 0, 2);
            for (long p = p0; p < p1; p++) {
                const long r0 = p * g->rows;
                const int nr = (int)(nrows - r0 < g->rows ? nrows - r0 : g->rows);
                g->tile(n, nr, nt, panels + (size_t)(p - p0) * j->panel_size, 0, j->a + (size_t)t0 * j->a_row,
                        j->a_row, j->y + (size_t)t0 * (size_t)nrows + r0, (size_t)nrows);
            }
        }
    }
}

static size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

medge_status ops_matmul_gemm(const ops_kernels *k, medge_pool *pool, ops_scratch *scratch, const medge_tensor *W,
                             const float *x, float *y, int n_tok)
{
    const ops_wkernels *wk = &k->w[W->type];
    const ops_gemm_kernel *g = wk->gemm;
    const char *name = W->name ? W->name : "?";
    if (n_tok <= 0)
        return MEDGE_OK;
    if (W->ne[0] > (1 << 28) || W->nb1 > ((size_t)1 << 26))
        return medge_err(MEDGE_ERR_UNSUPPORTED, "%s: rows of %lld elements are too long for the GEMM", name,
                         (long long)W->ne[0]);
    const int n = (int)W->ne[0];
    const size_t act_row = quant_row_size(wk->act_type, W->ne[0]);
    if (!act_row)
        return medge_err(MEDGE_ERR_UNSUPPORTED, "%s: row length %d does not fit the activation type %s", name, n,
                         quant_type_name(wk->act_type));
    const int direct = wk->act_type == GGML_TYPE_F32 && !g->pack_a; /* F32 rows used as they are */
    const size_t a_row = g->pack_a ? g->act_bytes(n) : act_row;
    const int nth = pool ? medge_pool_size(pool) : 1;
    const size_t panel = g->pack_w ? align64(g->panel_bytes(n)) : 0;
    const long npan = (long)((W->ne[1] + g->rows - 1) / g->rows);
    /* a group of repacked panels fills GEMM_GROUP_BYTES, but at least 8 claims per thread (small
     * tail); without a repack, a claim is just the tail's share */
    const long share = npan / (8L * nth) > 1 ? npan / (8L * nth) : 1;
    long group = panel && panel < GEMM_GROUP_BYTES ? (long)(GEMM_GROUP_BYTES / panel) : panel ? 1 : share;
    group = group < share ? group : share;
    size_t s_act = 0, s_pa = 0, s_pan = 0, total;
    if ((!direct && !medge_mul_size(act_row, (size_t)n_tok, &s_act)) ||
        (g->pack_a && !medge_mul_size(a_row, (size_t)n_tok, &s_pa)) ||
        !medge_mul_size(panel * (size_t)group, (size_t)nth, &s_pan))
        return medge_err(MEDGE_ERR_NOMEM, "%s: GEMM scratch size overflows", name);
    s_act = align64(s_act);
    s_pa = align64(s_pa);
    total = s_act + s_pa;
    if (total < s_act || total + s_pan < total)
        return medge_err(MEDGE_ERR_NOMEM, "%s: GEMM scratch size overflows", name);
    total += s_pan;
    MEDGE_TRY(ops_scratch_reserve(scratch, total));
    uint8_t *base = scratch->buf;
    gemm_job j = {.k = k, .g = g, .W = W, .x = x, .y = y, .n_tok = n_tok, .act = base, .act_row = act_row,
                  .a_row = a_row, .pa = g->pack_a ? base + s_act : NULL, .panels = base + s_act + s_pa,
                  .panel_size = panel};
    j.a = direct ? (const uint8_t *)x : g->pack_a ? j.pa : j.act;
    if ((double)W->ne[0] * (double)W->ne[1] * n_tok < GEMM_MIN_PARALLEL_WORK) {
        pool = NULL;
    }
    if (!direct)
        medge_pool_run(pool, gemm_act, &j);
    medge_workq_init(&j.q, npan, group, group, medge_pool_size(pool));
    medge_pool_run(pool, gemm_rows, &j);
    return MEDGE_OK;
}
