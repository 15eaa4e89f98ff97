/* biomedclip-attn.c - BiomedCLIP's unmasked multi-head attention (heads of 64) in two parallel
 * passes per layer: keys of every head are packed into tiles of MR keys (d-major), then each
 * (head, block of NR queries) computes its scores as a [key][query] block with a register-blocked
 * kernel, the softmax over keys for all NR queries at once (vectorised along the queries), and
 * the weighted sum of values read in place from the q/k/v rows (also [dim][query]). Portable C
 * written so the compiler vectorises the NR-wide inner loops; every sum runs over its index in
 * order, so the result does not depend on the vector width. */
#include "models/biomedclip.h"

#include <math.h>
#include <string.h>

#if defined(__AVX512F__)
#define MR 8
#define NR 32
#else
#define MR 6
#define NR 16
#endif
#define HD 64 /* head size */

#if defined(__FMA__) || defined(__ARM_FEATURE_FMA) || defined(__aarch64__)
#define MADD(a, b, c) fmaf(a, b, c)
#else
#define MADD(a, b, c) ((a) * (b) + (c))
#endif

/* Kept out of line: inlined into its callers, GCC stops keeping acc in registers. */
#if defined(__GNUC__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE
#endif

/* y[i][c] = sum_k a[k * lda + i] * w[k * NR + c] for i < mr, c < NR (all NR columns stored). */
static NOINLINE void kernel(int K, const float *restrict a, size_t lda, const float *restrict w, float *restrict y, size_t ldy,
                   int mr)
{
    float acc[MR][NR];
    for (int i = 0; i < MR; i++)
        for (int c = 0; c < NR; c++)
            acc[i][c] = 0;
    for (int k = 0; k < K; k++) {
        const float *restrict wk = w + (size_t)k * NR;
        const float *restrict ak = a + (size_t)k * lda;
        for (int i = 0; i < MR; i++) {
            const float av = ak[i];
            for (int c = 0; c < NR; c++)
                acc[i][c] = MADD(av, wk[c], acc[i][c]);
        }
    }
    for (int i = 0; i < mr; i++)
        for (int c = 0; c < NR; c++)
            y[(size_t)i * ldy + (size_t)c] = acc[i][c];
}

/* e^x for x <= 0 (scores minus their max), relative error ~2e-7, branch-free so it vectorises. */
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
    int32_t bits;
    memcpy(&bits, &p, 4);
    bits += (int32_t)n * (1 << 23);
    memcpy(&p, &bits, 4);
    return p;
}

static int n_ktiles(int nk) { return (nk + MR - 1) / MR; }

size_t bmc_attn_scratch(int nk, int n_head, int n_threads)
{
    size_t shared = (size_t)n_head * (size_t)n_ktiles(nk) * HD * MR;
    size_t per = (size_t)HD * NR + (size_t)n_ktiles(nk) * MR * NR + (size_t)MR * NR;
    return shared + per * (size_t)(n_threads > 0 ? n_threads : 1) + 64;
}

typedef struct job {
    const bmc_attn *a;
    float *kt;  /* [n_head][n_kt][HD][MR] */
    float *buf; /* per thread: query panel [HD][NR], scores [n_kt * MR][NR], output tile [MR][NR] */
    size_t per;
    int n_kt, n_qb;
} job;

static void pack_keys(void *ctx, int ith, int nth)
{
    job *j = ctx;
    const bmc_attn *a = j->a;
    long b, e;
    medge_split((long)a->n_head * j->n_kt, ith, nth, &b, &e);
    for (long t = b; t < e; t++) {
        int h = (int)(t / j->n_kt), kt = (int)(t % j->n_kt);
        float *dst = j->kt + (size_t)t * HD * MR;
        const float *src[MR];
        const int nv = a->nk - kt * MR < MR ? a->nk - kt * MR : MR;
        for (int i = 0; i < MR; i++) /* missing keys read key 0 and are zeroed below */
            src[i] = a->k + (size_t)(i < nv ? kt * MR + i : 0) * a->ldk + (size_t)h * HD;
        for (int d = 0; d < HD; d++) /* contiguous stores, MR row streams */
            for (int i = 0; i < MR; i++)
                dst[d * MR + i] = src[i][d];
        for (int i = nv; i < MR; i++)
            for (int d = 0; d < HD; d++)
                dst[d * MR + i] = 0;
    }
}

static void queries(void *ctx, int ith, int nth)
{
    job *j = ctx;
    const bmc_attn *a = j->a;
    const int nk = a->nk, n_kt = j->n_kt;
    float *qp = j->buf + (size_t)ith * j->per;   /* [HD][NR] */
    float *st = qp + (size_t)HD * NR;            /* [n_kt * MR][NR] */
    float *ot = st + (size_t)n_kt * MR * NR;     /* [MR][NR] */
    long b, e;
    medge_split((long)a->n_head * j->n_qb, ith, nth, &b, &e);
    for (long it = b; it < e; it++) {
        const int h = (int)(it / j->n_qb), q0 = (int)(it % j->n_qb) * NR;
        const int nq = a->nq - q0 < NR ? a->nq - q0 : NR;
        for (int c = 0; c < NR; c++) {
            if (c < nq) {
                const float *src = a->q + (size_t)(q0 + c) * a->ldq + (size_t)h * HD;
                for (int d = 0; d < HD; d++)
                    qp[d * NR + c] = src[d] * a->scale;
            } else {
                for (int d = 0; d < HD; d++)
                    qp[d * NR + c] = 0;
            }
        }
        /* scores[s][c] = k_s . q_c */
        const float *kh = j->kt + (size_t)h * n_kt * HD * MR;
        for (int t = 0; t < n_kt; t++)
            kernel(HD, kh + (size_t)t * HD * MR, MR, qp, st + (size_t)t * MR * NR, NR, MR);
        /* softmax over the keys, NR queries at once */
        float mx[NR], sum[NR];
        for (int c = 0; c < NR; c++) {
            mx[c] = st[c];
            sum[c] = 0;
        }
        for (int s = 1; s < nk; s++)
            for (int c = 0; c < NR; c++)
                mx[c] = st[(size_t)s * NR + c] > mx[c] ? st[(size_t)s * NR + c] : mx[c];
        for (int s = 0; s < nk; s++)
            for (int c = 0; c < NR; c++) {
                float v = exp_neg(st[(size_t)s * NR + c] - mx[c]);
                st[(size_t)s * NR + c] = v;
                sum[c] += v;
            }
        for (int c = 0; c < NR; c++)
            sum[c] = 1.0f / sum[c];
        /* out^T[d][c] = sum_s v_s[d] p[s][c], MR dims at a time, values read in place */
        const float *vh = a->v + (size_t)h * HD;
        for (int d0 = 0; d0 < HD; d0 += MR) {
            int md = HD - d0 < MR ? HD - d0 : MR;
            if (md == MR) {
                kernel(nk, vh + d0, a->ldv, st, ot, NR, MR);
            } else { /* the last dims (MR does not divide 64): copy the partial column block */
                float tmp[MR];
                for (int c = 0; c < NR; c++)
                    for (int i = 0; i < MR; i++)
                        ot[i * NR + c] = 0;
                for (int s = 0; s < nk; s++) {
                    for (int i = 0; i < MR; i++)
                        tmp[i] = i < md ? vh[(size_t)s * a->ldv + (size_t)(d0 + i)] : 0;
                    for (int i = 0; i < md; i++)
                        for (int c = 0; c < NR; c++)
                            ot[i * NR + c] = MADD(tmp[i], st[(size_t)s * NR + c], ot[i * NR + c]);
                }
            }
            for (int i = 0; i < md; i++)
                for (int c = 0; c < nq; c++)
                    a->out[(size_t)(q0 + c) * a->ldo + (size_t)h * HD + (size_t)(d0 + i)] = ot[i * NR + c] * sum[c];
        }
    }
}

void bmc_attention(medge_pool *pool, const bmc_attn *a, float *scratch)
{
    const int nth = pool ? medge_pool_size(pool) : 1;
    job j;
    j.a = a;
    j.n_kt = n_ktiles(a->nk);
    j.n_qb = (a->nq + NR - 1) / NR;
    j.kt = scratch;
    j.buf = scratch + (size_t)a->n_head * (size_t)j.n_kt * HD * MR;
    j.per = (size_t)HD * NR + (size_t)j.n_kt * MR * NR + (size_t)MR * NR;
    (void)nth;
    medge_pool_run(pool, pack_keys, &j);
    medge_pool_run(pool, queries, &j);
}
