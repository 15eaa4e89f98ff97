/* matmul-gemm.c - the batch path of ops_matmul (n_tok >= the kernel's min_tok): activations are
 * converted once (quantize_act, then the tile's pack_a), then the threads claim runs of weight
 * panels from a shared counter; a run is repacked a group of panels at a time into the thread's
 * scratch while the next group is prefetched, and the tokens go past each group in blocks of
 * GEMM_TOK (group and token block stay in L2; the activations are read once per group). See
 * ops_gemm_kernel in kernels.h for the contract. */
#include "ops/kernels.h"
#include "ops/ops.h"

#include <stdatomic.h>
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
    uint8_t *panels;  /* per thread: group * panel_size bytes */
    size_t panel_size;
    long group;       /* panels repacked together */
    long claim;       /* panels per claim */
    atomic_long next; /* first panel not claimed yet */
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

/* Threads claim runs of `claim` panels from a shared counter instead of fixed halves, so a thread
 * that is descheduled (other processes on the cores) or slower delays one run, not half the
 * matrix, and its partner does not spin at the barrier meanwhile. A run is repacked `group` panels
 * at a time into the thread's scratch, and the tokens go past the group in blocks of GEMM_TOK: the
 * activations of a block (read once per group instead of once per panel) and the group stay in L2
 * together. */
static void gemm_rows(void *ctx, int ith, int nth)
{
    gemm_job *j = ctx;
    const ops_gemm_kernel *g = j->g;
    const long nrows = (long)j->W->ne[1];
    const long npan = (nrows + g->rows - 1) / g->rows;
    const int n = (int)j->W->ne[0];
    const size_t nb1 = j->W->nb1;
    uint8_t *panels = j->panels + (size_t)ith * j->panel_size * (size_t)j->group;
    (void)nth;
    for (;;) {
        const long pb = atomic_fetch_add_explicit(&j->next, j->claim, memory_order_relaxed);
        if (pb >= npan)
            break;
        const long pe = pb + j->claim < npan ? pb + j->claim : npan;
        if (!g->pack_w) {
            for (long p = pb; p < pe; p++) {
                const long r0 = p * g->rows;
                const int nr = (int)(nrows - r0 < g->rows ? nrows - r0 : g->rows);
                g->tile(n, nr, j->n_tok, (const uint8_t *)j->W->data + (size_t)r0 * nb1, nb1, j->a, j->a_row,
                        j->y + r0, (size_t)nrows);
            }
            continue;
        }
        for (long p0 = pb; p0 < pe; p0 += j->group) {
            const long p1 = p0 + j->group < pe ? p0 + j->group : pe;
            for (long p = p0; p < p1; p++) {
                const long r0 = p * g->rows;
                const int nr = (int)(nrows - r0 < g->rows ? nrows - r0 : g->rows);
                g->pack_w(n, nr, (const uint8_t *)j->W->data + (size_t)r0 * nb1, nb1,
                          panels + (size_t)(p - p0) * j->panel_size);
            }
            /* the next group's rows are read while this one is multiplied (the repack alone would
             * wait on memory for every row), a slice per token block */
            const uint8_t *nx = (const uint8_t *)j->W->data + (size_t)(p1 * g->rows) * nb1;
            const long nxp = pe - p1 < j->group ? pe - p1 : j->group; /* panels of the next group */
            const long nxr = nxp <= 0 ? 0 : nxp * g->rows < nrows - p1 * g->rows ? nxp * g->rows : nrows - p1 * g->rows;
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
    /* about 8 claims per thread: few atomics, small tail */
    const long claim = npan / (8L * nth) > 1 ? npan / (8L * nth) : 1;
    long group = panel && panel < GEMM_GROUP_BYTES ? (long)(GEMM_GROUP_BYTES / panel) : 1;
    group = group < claim ? group : claim;
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
    gemm_job j = {k, g, W, x, y, n_tok, base, act_row, NULL, a_row, g->pack_a ? base + s_act : NULL,
                  base + s_act + s_pa, panel, group, claim, 0};
    atomic_init(&j.next, 0);
    j.a = direct ? (const uint8_t *)x : g->pack_a ? j.pa : j.act;
    if ((double)W->ne[0] * (double)W->ne[1] * n_tok < GEMM_MIN_PARALLEL_WORK) {
        pool = NULL;
    }
    if (!direct)
        medge_pool_run(pool, gemm_act, &j);
    medge_pool_run(pool, gemm_rows, &j);
    return MEDGE_OK;
}
