/* gemm.c - packed-panel F32 GEMM for large batches (see gemm.h). Portable C:
 * the micro-kernel keeps an MR x NR block of sums in registers and its fixed-size inner loop is
 * vectorised by the compiler along the NR outputs (AVX-512 / AVX2 / NEON alike); each sum still
 * runs over k in order, so results do not depend on the vector width. */
#include "ops/gemm.h"
#include "ops/kernels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(OPS_GEMM_MR)
#define MR OPS_GEMM_MR
#define NR OPS_GEMM_NR
#elif defined(__AVX512F__)
#define MR 8
#define NR 32
#else
#define MR 6
#define NR 16
#endif

/* Fused multiply-add where the hardware has it (fmaf is then one vector instruction; the
 * strict C11 mode would otherwise keep separate multiply and add). */
#if defined(__FMA__) || defined(__ARM_FEATURE_FMA) || defined(__aarch64__)
#define MADD(a, b, c) fmaf(a, b, c)
#else
#define MADD(a, b, c) ((a) * (b) + (c))
#endif

size_t ops_gemm_packed_size(int64_t in, int64_t out) { return (size_t)((out + NR - 1) / NR) * (size_t)in * NR; }

typedef struct pack_job {
    const medge_tensor *W;
    const float *src;
    size_t ld;
    int transpose;
    float *dst;
    int64_t in, out, n_panels;
    medge_status rc;
} pack_job;

static void pack_panels(void *ctx, int ith, int nth)
{
    pack_job *j = ctx;
    long b, e;
    medge_split((long)j->n_panels, ith, nth, &b, &e);
    const int64_t K = j->in;
    float *row = NULL;
    quant_to_float_fn tf = NULL;
    if (j->W) {
        tf = ops_kernels_get()->to_float[j->W->type];
        row = malloc(sizeof(float) * (size_t)K);
        if (!row) {
            j->rc = MEDGE_ERR_NOMEM;
            return;
        }
    }
    for (long p = b; p < e; p++) {
        float *panel = j->dst + (size_t)p * (size_t)K * NR;
        for (int c = 0; c < NR; c++) {
            int64_t o = (int64_t)p * NR + c;
            if (o >= j->out) {
                for (int64_t k = 0; k < K; k++)
                    panel[(size_t)k * NR + (size_t)c] = 0;
                continue;
            }
            const float *r;
            if (j->W) {
                tf((const uint8_t *)j->W->data + (size_t)o * j->W->nb1, row, K);
                r = row;
            } else if (!j->transpose) {
                r = j->src + (size_t)o * j->ld;
            } else {
                for (int64_t k = 0; k < K; k++)
                    panel[(size_t)k * NR + (size_t)c] = j->src[(size_t)k * j->ld + (size_t)o];
                continue;
            }
            for (int64_t k = 0; k < K; k++)
                panel[(size_t)k * NR + (size_t)c] = r[k];
        }
    }
    free(row);
}

medge_status ops_gemm_pack(medge_pool *pool, const medge_tensor *W, float *dst, ops_packed *out)
{
    const ops_kernels *k = ops_kernels_get();
    if (W->type >= GGML_TYPE_COUNT || !k->to_float[W->type])
        return medge_err(MEDGE_ERR_UNSUPPORTED, "%s: cannot dequantize type %s", W->name ? W->name : "?",
                         quant_type_name(W->type));
    pack_job j = {W, NULL, 0, 0, dst, W->ne[0], W->ne[1], (W->ne[1] + NR - 1) / NR, MEDGE_OK};
    medge_pool_run(pool, pack_panels, &j);
    if (j.rc != MEDGE_OK)
        return medge_err(j.rc, "out of memory packing %s", W->name ? W->name : "a weight");
    out->in = j.in;
    out->out = j.out;
    out->n_panels = j.n_panels;
    out->data = dst;
    return MEDGE_OK;
}

void ops_gemm_pack_f32(medge_pool *pool, const float *src, int64_t in, int64_t out, size_t ld, int transpose,
                       float *dst, ops_packed *p)
{
    pack_job j = {NULL, src, ld, transpose, dst, in, out, (out + NR - 1) / NR, MEDGE_OK};
    medge_pool_run(pool, pack_panels, &j);
    p->in = in;
    p->out = out;
    p->n_panels = j.n_panels;
    p->data = dst;
}

/* acc[MR][NR] = sum_k a[k][MR] * w[k][NR] over K steps, added to what y holds when accumulate
 * (a later slice of k), else to bias (or 0); stores the valid mr x nr corner into y. */
static void kernel(int64_t K, const float *restrict a, const float *restrict w, float *restrict y, size_t ldy, int mr,
                   int nr, const float *bias, int accumulate)
{
    float acc[MR][NR];
    for (int i = 0; i < MR; i++)
        for (int c = 0; c < NR; c++)
            acc[i][c] = 0;
    if (accumulate) {
        for (int i = 0; i < mr; i++)
            for (int c = 0; c < nr; c++)
                acc[i][c] = y[(size_t)i * ldy + (size_t)c];
    } else if (bias) {
        for (int i = 0; i < mr; i++)
            for (int c = 0; c < nr; c++)
                acc[i][c] = bias[c];
    }
    for (int64_t k = 0; k < K; k++) {
        const float *restrict wk = w + (size_t)k * NR;
        const float *restrict ak = a + (size_t)k * MR;
        for (int i = 0; i < MR; i++) {
            const float av = ak[i];
            for (int c = 0; c < NR; c++)
                acc[i][c] = MADD(av, wk[c], acc[i][c]);
        }
    }
    for (int i = 0; i < mr; i++) {
        float *yi = y + (size_t)i * ldy;
        for (int c = 0; c < nr; c++)
            yi[c] = acc[i][c];
    }
}

typedef struct gemm_job {
    const ops_packed *W;
    const float *x;
    size_t ldx;
    float *ap; /* [n_tiles][K][MR] */
    float *y;
    size_t ldy;
    int n;
    long n_tiles;
    const float *bias;
} gemm_job;

static void pack_act(void *ctx, int ith, int nth)
{
    gemm_job *j = ctx;
    long b, e;
    medge_split(j->n_tiles, ith, nth, &b, &e);
    const int64_t K = j->W->in;
    for (long t = b; t < e; t++) {
        float *dst = j->ap + (size_t)t * (size_t)K * MR;
        for (int i = 0; i < MR; i++) {
            long row = t * MR + i;
            if (row >= j->n) {
                for (int64_t k = 0; k < K; k++)
                    dst[(size_t)k * MR + (size_t)i] = 0;
                continue;
            }
            const float *src = j->x + (size_t)row * j->ldx;
            for (int64_t k = 0; k < K; k++)
                dst[(size_t)k * MR + (size_t)i] = src[k];
        }
    }
}

/* Cache blocking: k in slices of KC (a slice of a panel, KC x NR floats, stays in L1 while a
 * block of activation tiles, TB x KC x MR floats, stays in L2 and every panel of this thread
 * streams past). Threads own disjoint panels, so slices accumulate without synchronisation. */
#define KC 256
#define TB 32

static void gemm_run(void *ctx, int ith, int nth)
{
    gemm_job *j = ctx;
    const int64_t K = j->W->in;
    long pb, pe;
    if (j->W->n_panels >= nth) {
        medge_split((long)j->W->n_panels, ith, nth, &pb, &pe);
    } else {
        pb = 0;
        pe = (long)j->W->n_panels;
    }
    long tb0 = 0, te0 = j->n_tiles;
    if (j->W->n_panels < nth) /* few outputs: split the tokens instead */
        medge_split(j->n_tiles, ith, nth, &tb0, &te0);
    for (int64_t k0 = 0; k0 < K; k0 += KC) {
        int64_t kc = K - k0 < KC ? K - k0 : KC;
        for (long t0 = tb0; t0 < te0; t0 += TB) {
            long t1 = t0 + TB < te0 ? t0 + TB : te0;
            for (long p = pb; p < pe; p++) {
                const float *panel = j->W->data + ((size_t)p * (size_t)K + (size_t)k0) * NR;
                int nr = (int)(j->W->out - p * NR < NR ? j->W->out - p * NR : NR);
                const float *bias = j->bias ? j->bias + p * NR : NULL;
                for (long t = t0; t < t1; t++) {
                    int mr = (int)(j->n - t * MR < MR ? j->n - t * MR : MR);
                    kernel(kc, j->ap + ((size_t)t * (size_t)K + (size_t)k0) * MR, panel,
                           j->y + (size_t)t * MR * j->ldy + (size_t)p * NR, j->ldy, mr, nr, bias, k0 > 0);
                }
            }
        }
    }
}

medge_status ops_gemm(medge_pool *pool, ops_scratch *scratch, const ops_packed *W, const float *x, size_t ldx,
                      float *y, size_t ldy, int n, const float *bias)
{
    if (n <= 0)
        return MEDGE_OK;
    long n_tiles = (n + MR - 1) / MR;
    size_t need = (size_t)n_tiles * (size_t)W->in * MR * sizeof(float);
    MEDGE_TRY(ops_scratch_reserve(scratch, need));
    gemm_job j = {W, x, ldx, scratch->buf, y, ldy, n, n_tiles, bias};
    medge_pool_run(pool, pack_act, &j);
    medge_pool_run(pool, gemm_run, &j);
    return MEDGE_OK;
}
