/* gemm.c - packed-panel F32 GEMM and dense attention for large batches (see gemm.h). Portable C:
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

/* ---- dense attention ---- */

/* e^x for x <= 0 (softmax after subtracting the max), relative error ~2e-7; written without
 * libm so the loop vectorises. */
static inline float exp_neg(float x)
{
    x = x < -87.0f ? -87.0f : x;
    float t = x * 1.44269504088896341f;
    float n = (t + 12582912.0f) - 12582912.0f; /* round to nearest */
    float f = t - n;                            /* [-0.5, 0.5] */
    float p = 1.535336188319500e-4f;
    p = p * f + 1.339887440266574e-3f;
    p = p * f + 9.618437357674640e-3f;
    p = p * f + 5.550332471162809e-2f;
    p = p * f + 2.402264791363012e-1f;
    p = p * f + 6.931472028550421e-1f;
    p = p * f + 1.0f;
    union {
        float f;
        int32_t i;
    } u = {p};
    u.i += (int32_t)n * (1 << 23);
    return u.f;
}

typedef struct attn_job {
    const float *q, *k, *v;
    float *out;
    int n, n_head, D;
    float scale;
    float *kt, *vt; /* per head: key tiles [n_kt][D][MR], value tiles [n_vt][n][MR] */
    float **buf;    /* per thread: query panel [D][NR], scores [n][NR], output tile */
    int head;
} attn_job;

/* Pack head h's keys as tiles of MR keys (k-major over d) and values as tiles of MR dims
 * (k-major over keys): the roles are swapped so that scores come out as [key][query], which
 * is at once the layout the softmax vectorises over (queries) and the panel layout of the
 * weighted sum, with no transposes and no padding of the head dim. */
static void attn_pack(void *ctx, int ith, int nth)
{
    attn_job *j = ctx;
    const int n = j->n, D = j->D, C = j->n_head * j->D, h = j->head;
    long n_kt = (n + MR - 1) / MR, n_vt = (D + MR - 1) / MR, b, e;
    medge_split(n_kt + n_vt, ith, nth, &b, &e);
    for (long t = b; t < e; t++) {
        if (t < n_kt) {
            float *dst = j->kt + (size_t)t * (size_t)D * MR;
            for (int i = 0; i < MR; i++) {
                long s = t * MR + i;
                for (int d = 0; d < D; d++)
                    dst[(size_t)d * MR + (size_t)i] =
                        s < n ? j->k[(size_t)s * (size_t)C + (size_t)h * (size_t)D + (size_t)d] : 0;
            }
        } else {
            long vt = t - n_kt;
            float *dst = j->vt + (size_t)vt * (size_t)n * MR;
            for (int s = 0; s < n; s++)
                for (int i = 0; i < MR; i++) {
                    long d = vt * MR + i;
                    dst[(size_t)s * MR + (size_t)i] =
                        d < D ? j->v[(size_t)s * (size_t)C + (size_t)h * (size_t)D + (size_t)d] : 0;
                }
        }
    }
}

static void attn_queries(void *ctx, int ith, int nth)
{
    attn_job *j = ctx;
    const int n = j->n, D = j->D, C = j->n_head * j->D, h = j->head;
    long n_kt = (n + MR - 1) / MR, n_vt = (D + MR - 1) / MR;
    float *qp = j->buf[ith];                 /* [D][NR] */
    float *st = qp + (size_t)D * NR;         /* [n_kt * MR][NR] scores, then probabilities */
    float *ot = st + (size_t)n_kt * MR * NR; /* [MR][NR] */
    long blocks = (n + NR - 1) / NR, bb, be;
    medge_split(blocks, ith, nth, &bb, &be);
    for (long qb = bb; qb < be; qb++) {
        int nq = (int)(n - qb * NR < NR ? n - qb * NR : NR);
        for (int d = 0; d < D; d++)
            for (int c = 0; c < NR; c++)
                qp[(size_t)d * NR + (size_t)c] =
                    c < nq ? j->q[(size_t)(qb * NR + c) * (size_t)C + (size_t)h * (size_t)D + (size_t)d] * j->scale
                           : 0;
        /* scores[s][c] = k_s . q_c */
        for (long t = 0; t < n_kt; t++)
            kernel(D, j->kt + (size_t)t * (size_t)D * MR, qp, st + (size_t)t * MR * NR, NR, MR, NR, NULL, 0);
        /* softmax over keys, for all NR queries at once */
        float mx[NR], sum[NR];
        for (int c = 0; c < NR; c++) {
            mx[c] = st[c];
            sum[c] = 0;
        }
        for (int s = 1; s < n; s++)
            for (int c = 0; c < NR; c++)
                mx[c] = st[(size_t)s * NR + (size_t)c] > mx[c] ? st[(size_t)s * NR + (size_t)c] : mx[c];
        for (int s = 0; s < n; s++)
            for (int c = 0; c < NR; c++) {
                float v = exp_neg(st[(size_t)s * NR + (size_t)c] - mx[c]);
                st[(size_t)s * NR + (size_t)c] = v;
                sum[c] += v;
            }
        for (long s = n; s < n_kt * MR; s++) /* padding keys contribute nothing */
            for (int c = 0; c < NR; c++)
                st[(size_t)s * NR + (size_t)c] = 0;
        /* out^T[d][c] = sum_s v_s[d] p[s][c], tile by tile of MR dims */
        for (long vt = 0; vt < n_vt; vt++) {
            kernel(n, j->vt + (size_t)vt * (size_t)n * MR, st, ot, NR, MR, NR, NULL, 0);
            for (int i = 0; i < MR && vt * MR + i < D; i++)
                for (int c = 0; c < nq; c++)
                    j->out[(size_t)(qb * NR + c) * (size_t)C + (size_t)h * (size_t)D + (size_t)(vt * MR + i)] =
                        ot[(size_t)i * NR + (size_t)c] / sum[c];
        }
    }
}

medge_status ops_attention_dense(medge_pool *pool, ops_scratch *scratch, const float *q, const float *k,
                                 const float *v, float *out, int n, int n_head, int head_dim, float scale)
{
    int nth = pool ? medge_pool_size(pool) : 1;
    long n_kt = (n + MR - 1) / MR, n_vt = (head_dim + MR - 1) / MR;
    size_t shared = (size_t)n_kt * (size_t)head_dim * MR + (size_t)n_vt * (size_t)n * MR;
    size_t per = (size_t)head_dim * NR + (size_t)n_kt * MR * NR + (size_t)MR * NR;
    shared = (shared + 15) & ~(size_t)15;
    per = (per + 15) & ~(size_t)15;
    size_t total = shared + per * (size_t)nth;
    MEDGE_TRY(ops_scratch_reserve(scratch, total * sizeof(float) + sizeof(float *) * (size_t)nth));
    float *base = scratch->buf;
    float **bufs = (float **)(base + total);
    for (int i = 0; i < nth; i++)
        bufs[i] = base + shared + per * (size_t)i;
    attn_job j = {q, k, v, out, n, n_head, head_dim, scale, base, base + (size_t)n_kt * (size_t)head_dim * MR, bufs, 0};
    for (int h = 0; h < n_head; h++) {
        j.head = h;
        medge_pool_run(pool, attn_pack, &j);
        medge_pool_run(pool, attn_queries, &j);
    }
    return MEDGE_OK;
}
