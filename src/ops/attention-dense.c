/* attention-dense.c - full multi-head attention over large batches (see attention-dense.h),
 * flash-style: a tile of queries meets the keys tile by tile; each key tile's scores are turned
 * into probabilities against a running per-query maximum (earlier sums are rescaled when it
 * grows), so memory stays O(tile) instead of O(n^2) and every tile stays in L1/L2. This file
 * threads the work (heads packed in parallel, then (head, query tile) jobs) and holds the
 * portable tile kernel; SIMD versions replace it through ops_kernels.attn_dense.
 *
 * The portable kernel keeps queries in the fast dimension (scores as [key][query]) so the
 * softmax is elementwise across key rows and the compiler vectorises every inner loop over
 * queries; each sum still runs in a fixed order, independent of the vector width. */
#include "ops/attention-dense.h"
#include "ops/kernels.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__FMA__) || defined(__ARM_FEATURE_FMA) || defined(__aarch64__)
#define MADD(a, b, c) fmaf(a, b, c)
#else
#define MADD(a, b, c) ((a) * (b) + (c))
#endif

#define QB 32 /* queries per tile */
#define BK 64 /* keys per tile */
#define KR 4  /* keys per register block of the score product */
#define DR 4  /* head dims per register block of the value product */

/* 2^x for x <= 0, relative error ~2e-7; 0 below -126 (and for -inf). Written without libm so
 * the loops vectorise. */
static inline float exp2_neg(float x)
{
    float xc = x < -126.0f ? -126.0f : x;
    float n = (xc + 12582912.0f) - 12582912.0f; /* round to nearest */
    float f = xc - n;                            /* [-0.5, 0.5] */
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
    return x < -126.0f ? 0.0f : u.f;
}

static int round_up(int x, int m) { return (x + m - 1) / m * m; }

/* kv layout: keys [npad][D] then values [npad][Dp], zero rows / columns as padding. */
static size_t ref_kv_bytes(int n, int D)
{
    size_t b = (size_t)round_up(n, BK) * ((size_t)D + (size_t)round_up(D, DR)) * sizeof(float);
    return (b + 63) & ~(size_t)63;
}

/* work: qt [D][QB], scores [BK][QB], ot [Dp][QB], max [QB], sum [QB] */
static size_t ref_work_bytes(int D)
{
    return ((size_t)D + BK + (size_t)round_up(D, DR) + 2) * QB * sizeof(float);
}

static void ref_pack(const float *k, const float *v, size_t ld, int n, int D, void *kv, int s0, int s1)
{
    const int npad = round_up(n, BK), Dp = round_up(D, DR);
    float *kp = kv, *vp = kp + (size_t)npad * (size_t)D;
    for (int s = s0; s < s1; s++) {
        for (int d = 0; d < D; d++)
            kp[(size_t)s * (size_t)D + (size_t)d] = s < n ? k[(size_t)s * ld + (size_t)d] : 0;
        for (int d = 0; d < Dp; d++)
            vp[(size_t)s * (size_t)Dp + (size_t)d] = s < n && d < D ? v[(size_t)s * ld + (size_t)d] : 0;
    }
}

static void ref_rows(const void *kv, int n, int D, const float *q, size_t ldq, int nq, float scale, float *out,
                     size_t ldo, void *work)
{
    const int npad = round_up(n, BK), Dp = round_up(D, DR);
    const float *kp = kv, *vp = kp + (size_t)npad * (size_t)D;
    float *qt = work, *st = qt + (size_t)D * QB, *ot = st + (size_t)BK * QB, *mx = ot + (size_t)Dp * QB,
          *sum = mx + QB;
    for (int d = 0; d < D; d++)
        for (int c = 0; c < QB; c++)
            qt[(size_t)d * QB + (size_t)c] = c < nq ? q[(size_t)c * ldq + (size_t)d] * scale : 0;
    for (size_t i = 0; i < (size_t)Dp * QB; i++)
        ot[i] = 0;
    for (int c = 0; c < QB; c++) {
        mx[c] = -INFINITY;
        sum[c] = 0;
    }
    for (int kb = 0; kb < npad; kb += BK) {
        /* scores st[s][c] = k_s . q_c (log2 units) */
        for (int s0 = 0; s0 < BK; s0 += KR) {
            float acc[KR][QB];
            for (int r = 0; r < KR; r++)
                for (int c = 0; c < QB; c++)
                    acc[r][c] = 0;
            const float *k0 = kp + (size_t)(kb + s0) * (size_t)D;
            for (int d = 0; d < D; d++) {
                const float *qd = qt + (size_t)d * QB;
                for (int r = 0; r < KR; r++) {
                    const float kv_ = k0[(size_t)r * (size_t)D + (size_t)d];
                    for (int c = 0; c < QB; c++)
                        acc[r][c] = MADD(kv_, qd[c], acc[r][c]);
                }
            }
            for (int r = 0; r < KR; r++)
                for (int c = 0; c < QB; c++)
                    st[(size_t)(s0 + r) * QB + (size_t)c] = kb + s0 + r < n ? acc[r][c] : -INFINITY;
        }
        /* online softmax: new maximum, rescale what was summed so far */
        float mnew[QB], alpha[QB], part[QB];
        for (int c = 0; c < QB; c++)
            mnew[c] = mx[c];
        for (int s = 0; s < BK; s++)
            for (int c = 0; c < QB; c++)
                mnew[c] = st[(size_t)s * QB + (size_t)c] > mnew[c] ? st[(size_t)s * QB + (size_t)c] : mnew[c];
        for (int c = 0; c < QB; c++) {
            alpha[c] = exp2_neg(mx[c] - mnew[c]);
            mx[c] = mnew[c];
            part[c] = 0;
        }
        for (int s = 0; s < BK; s++)
            for (int c = 0; c < QB; c++) {
                float p = exp2_neg(st[(size_t)s * QB + (size_t)c] - mnew[c]);
                st[(size_t)s * QB + (size_t)c] = p;
                part[c] += p;
            }
        for (int c = 0; c < QB; c++)
            sum[c] = sum[c] * alpha[c] + part[c];
        /* ot[d][c] = alpha[c] * ot[d][c] + sum_s v_s[d] p[s][c] */
        for (int d0 = 0; d0 < Dp; d0 += DR) {
            float acc[DR][QB];
            for (int r = 0; r < DR; r++)
                for (int c = 0; c < QB; c++)
                    acc[r][c] = ot[(size_t)(d0 + r) * QB + (size_t)c] * alpha[c];
            const float *v0 = vp + (size_t)kb * (size_t)Dp + (size_t)d0;
            for (int s = 0; s < BK; s++) {
                const float *ps = st + (size_t)s * QB;
                for (int r = 0; r < DR; r++) {
                    const float vv = v0[(size_t)s * (size_t)Dp + (size_t)r];
                    for (int c = 0; c < QB; c++)
                        acc[r][c] = MADD(vv, ps[c], acc[r][c]);
                }
            }
            for (int r = 0; r < DR; r++)
                for (int c = 0; c < QB; c++)
                    ot[(size_t)(d0 + r) * QB + (size_t)c] = acc[r][c];
        }
    }
    for (int c = 0; c < nq; c++) {
        const float inv = 1.0f / sum[c];
        for (int d = 0; d < D; d++)
            out[(size_t)c * ldo + (size_t)d] = ot[(size_t)d * QB + (size_t)c] * inv;
    }
}

static const ops_attn_kernel ref_kernel = {QB, BK, ref_kv_bytes, ref_work_bytes, ref_pack, ref_rows};

typedef struct attn_job {
    const ops_attn_kernel *kr;
    const float *q, *k, *v;
    float *out;
    int n, n_head, D;
    float scale;
    unsigned char *kv; /* n_head packed heads of kv_stride bytes */
    size_t kv_stride;
    unsigned char *work; /* per thread, work_stride bytes */
    size_t work_stride;
} attn_job;

/* Packing walks the rows in order, all heads of a block of rows at a time: a head's slice of a
 * row is only D floats of a row of n_head * D, and visiting one head over all rows would touch
 * a new page for every row. */
static void pack_heads(void *ctx, int ith, int nth)
{
    attn_job *j = ctx;
    const size_t C = (size_t)j->n_head * (size_t)j->D;
    const int kb = j->kr->kb;
    long b, e;
    medge_split((j->n + kb - 1) / kb, ith, nth, &b, &e);
    for (long blk = b; blk < e; blk++)
        for (int h = 0; h < j->n_head; h++)
            j->kr->pack(j->k + (size_t)h * (size_t)j->D, j->v + (size_t)h * (size_t)j->D, C, j->n, j->D,
                        j->kv + (size_t)h * j->kv_stride, (int)blk * kb, (int)(blk + 1) * kb);
}

static void run_tiles(void *ctx, int ith, int nth)
{
    attn_job *j = ctx;
    const size_t C = (size_t)j->n_head * (size_t)j->D;
    const int qb = j->kr->qb;
    const long tiles = (j->n + qb - 1) / qb;
    long b, e;
    medge_split(tiles * j->n_head, ith, nth, &b, &e);
    for (long t = b; t < e; t++) {
        const long h = t / tiles, q0 = (t % tiles) * qb;
        const int nq = (int)(j->n - q0 < qb ? j->n - q0 : qb);
        const size_t off = (size_t)q0 * C + (size_t)h * (size_t)j->D;
        j->kr->rows(j->kv + (size_t)h * j->kv_stride, j->n, j->D, j->q + off, C, nq, j->scale, j->out + off, C,
                    j->work + (size_t)ith * j->work_stride);
    }
}

medge_status ops_attention_dense_with(const ops_kernels *ks, medge_pool *pool, ops_scratch *scratch, const float *q,
                                      const float *k, const float *v, float *out, int n, int n_head, int head_dim,
                                      float scale, ops_attn_prec prec)
{
    if (n <= 0 || n_head <= 0 || head_dim <= 0)
        return MEDGE_OK;
    const ops_attn_kernel *kr = &ks->attn_dense[prec == OPS_ATTN_BF16 ? 1 : 0];
    if (!kr->pack)
        kr = &ks->attn_dense[0];
    if (!kr->pack)
        kr = &ref_kernel;
    const int nth = pool ? medge_pool_size(pool) : 1;
    const size_t kv_stride = (kr->kv_bytes(n, head_dim) + 63) & ~(size_t)63;
    const size_t work_stride = (kr->work_bytes(head_dim) + 63) & ~(size_t)63;
    if (kv_stride > (SIZE_MAX / 2) / (size_t)n_head || work_stride > (SIZE_MAX / 2) / (size_t)nth)
        return medge_err(MEDGE_ERR_NOMEM, "attention over %d rows needs too much memory", n);
    MEDGE_TRY(ops_scratch_reserve(scratch, kv_stride * (size_t)n_head + work_stride * (size_t)nth));
    attn_job j = {kr, q, k, v, out, n, n_head, head_dim, scale * 1.44269504088896341f, scratch->buf, kv_stride,
                  (unsigned char *)scratch->buf + kv_stride * (size_t)n_head, work_stride};
    medge_pool_run(pool, pack_heads, &j);
    medge_pool_run(pool, run_tiles, &j);
    return MEDGE_OK;
}

medge_status ops_attention_dense(medge_pool *pool, ops_scratch *scratch, const float *q, const float *k,
                                 const float *v, float *out, int n, int n_head, int head_dim, float scale,
                                 ops_attn_prec prec)
{
    return ops_attention_dense_with(ops_kernels_get(), pool, scratch, q, k, v, out, n, n_head, head_dim, scale, prec);
}
