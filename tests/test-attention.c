/* test-attention.c - ops_attention (F16, F32 and Q8_0 KV caches) with the SIMD row kernels of the
 * kernel table against the portable reference table, bit for bit: GQA head groups, head sizes that
 * are and are not multiples of 16, rings that wrapped, empty cells and gaps in the positions,
 * sliding windows, a bidirectional range, score spreads from tiny to beyond exp's underflow, one
 * thread and a pool. The reference itself is checked against a double-precision softmax. */
#include "ops/kernels.h"
#include "ops/ops.h"
#include "quant/types.h"
#define TEST_RNG_SEED 0x9e3779b97f4a7c15ull
#include "test.h"

#include <stdint.h>


typedef struct acase {
    const char *what;
    int n_head, n_kv, hd;
    uint32_t type;
    int cap;      /* cells of the cache view */
    int n_past;   /* positions already in the cache */
    int n_tok;    /* batch */
    int window;   /* 0: none */
    int holes;    /* empty some cache cells (2: also shuffle the cache's positions) */
    int bidir;    /* the batch is a bidirectional range */
    float qscale; /* spread of the scores */
} acase;

static void to_type(uint32_t type, const float *x, void *dst, int hd)
{
    const ops_kernels *k = ops_kernels_ref();
    k->quantize_act[type](x, dst, hd); /* F32 copy, F16 round, Q8_0 quantize */
}

/* double-precision attention of one (token, head) over the rows as stored (dequantized) */
static void attn_double(const ops_attn_params *p, const float *q, int32_t qp, const ops_kv_view *views, int nv,
                        int h, float *out)
{
    const ops_kernels *k = ops_kernels_ref();
    const int hd = p->head_dim, hk = h / (p->n_head / p->n_kv_head);
    float kf[512], vf[512];
    double s[4096], mx = -1e300, acc[512] = {0}, sum = 0;
    int n = 0;
    static float vbuf[4096][64];
    for (int vi = 0; vi < nv; vi++)
        for (int c = 0; c < views[vi].n_cells; c++) {
            int32_t kp = views[vi].pos[c];
            if (kp < 0)
                continue;
            bool bi = qp >= p->bidir_lo && qp < p->bidir_hi && kp >= p->bidir_lo && kp < p->bidir_hi;
            if ((kp > qp && !bi) || (p->window > 0 && qp - kp >= p->window))
                continue;
            size_t off = (size_t)c * views[vi].cell_bytes + (size_t)hk * views[vi].head_bytes;
            k->to_float[views[vi].type]((const uint8_t *)views[vi].k + off, kf, hd);
            k->to_float[views[vi].type]((const uint8_t *)views[vi].v + off, vf, hd);
            double d = 0;
            for (int i = 0; i < hd; i++)
                d += (double)q[i] * kf[i];
            s[n] = d;
            mx = d > mx ? d : mx;
            if (hd <= 64)
                memcpy(vbuf[n], vf, (size_t)hd * sizeof(float));
            n++;
        }
    for (int i = 0; i < n; i++) {
        s[i] = exp(s[i] - mx);
        sum += s[i];
    }
    for (int i = 0; i < n; i++)
        for (int d = 0; d < hd && hd <= 64; d++)
            acc[d] += s[i] / sum * vbuf[i][d];
    for (int d = 0; d < hd; d++)
        out[d] = n ? (float)acc[d] : 0.0f;
}

static void run_case(const acase *c, medge_pool *pool)
{
    const ops_kernels *ref = ops_kernels_ref(), *best = ops_kernels_get();
    const int hd = c->hd, nkv = c->n_kv, nh = c->n_head;
    const size_t rb = quant_row_size(c->type, hd);
    uint8_t *k0 = calloc((size_t)c->cap * nkv, rb), *v0 = calloc((size_t)c->cap * nkv, rb);
    uint8_t *k1 = calloc((size_t)c->n_tok * nkv, rb), *v1 = calloc((size_t)c->n_tok * nkv, rb);
    int32_t *p0 = malloc((size_t)c->cap * sizeof(int32_t)), *p1 = malloc((size_t)c->n_tok * sizeof(int32_t));
    float *q = malloc((size_t)c->n_tok * nh * hd * sizeof(float));
    float *o_ref = malloc((size_t)c->n_tok * nh * hd * sizeof(float));
    float *o_best = malloc((size_t)c->n_tok * nh * hd * sizeof(float));
    float *o_pool = malloc((size_t)c->n_tok * nh * hd * sizeof(float));
    float row[512];
    for (int i = 0; i < c->cap; i++)
        p0[i] = -1;
    /* the cache holds the last min(n_past, cap) positions in a ring (cell = pos % cap) */
    for (int ps = c->n_past > c->cap ? c->n_past - c->cap : 0; ps < c->n_past; ps++)
        if (!c->holes || rnd() % 7 != 0)
            p0[ps % c->cap] = ps;
    if (c->holes == 2) /* positions out of order: the kernels' interval path must step aside */
        for (int i = c->cap - 1; i > 0; i--) {
            int r = (int)(rnd() % (uint32_t)(i + 1));
            int32_t tmp = p0[i];
            p0[i] = p0[r], p0[r] = tmp;
        }
    for (int t = 0; t < c->n_tok; t++)
        p1[t] = c->n_past + t;
    for (int cell = 0; cell < c->cap + c->n_tok; cell++)
        for (int h = 0; h < nkv; h++) {
            /* the cache head-major, the batch cell-major (as the engine holds them) */
            uint8_t *kd = cell < c->cap ? k0 + ((size_t)h * c->cap + cell) * rb : k1 + ((size_t)(cell - c->cap) * nkv + h) * rb;
            uint8_t *vd = cell < c->cap ? v0 + ((size_t)h * c->cap + cell) * rb : v1 + ((size_t)(cell - c->cap) * nkv + h) * rb;
            for (int d = 0; d < hd; d++)
                row[d] = frand();
            to_type(c->type, row, kd, hd);
            for (int d = 0; d < hd; d++)
                row[d] = frand() * 2.0f;
            to_type(c->type, row, vd, hd);
        }
    for (size_t i = 0; i < (size_t)c->n_tok * nh * hd; i++)
        q[i] = frand() * c->qscale;
    ops_attn_params ap = {nh, nkv, hd, c->window, 0, 0};
    if (c->bidir) {
        ap.bidir_lo = c->n_past;
        ap.bidir_hi = c->n_past + c->n_tok;
    }
    ops_kv_view views[2] = {
        {c->type, k0, v0, rb, rb, (size_t)c->cap * rb, p0, c->n_past == 0 ? 0 : c->cap,
         c->n_past > c->cap ? c->n_past % c->cap : 0},
        {c->type, k1, v1, rb, (size_t)nkv * rb, rb, p1, c->n_tok, 0},
    };
    ops_scratch s1 = {0}, s2 = {0}, s3 = {0};
    CHECK_OK(ops_attention_k(ref, NULL, &s1, &ap, q, p1, c->n_tok, views, 2, o_ref));
    CHECK_OK(ops_attention_k(best, NULL, &s2, &ap, q, p1, c->n_tok, views, 2, o_best));
    CHECK_OK(ops_attention_k(best, pool, &s3, &ap, q, p1, c->n_tok, views, 2, o_pool));
    /* Q8_0 caches go through the weight dot product vec_dot, whose SIMD version may sum in another
     * order: close, not bitwise */
    const bool exact = c->type != GGML_TYPE_Q8_0;
    size_t nout = (size_t)c->n_tok * nh * hd, bad = 0, badp = 0, first = 0;
    for (size_t i = 0; i < nout; i++) {
        bool same = exact ? memcmp(&o_ref[i], &o_best[i], 4) == 0 : fabsf(o_ref[i] - o_best[i]) <= 1e-4f;
        if (!same && bad++ == 0)
            first = i;
        badp += memcmp(&o_best[i], &o_pool[i], 4) != 0;
    }
    CHECK_MSG(bad == 0, "%s: %zu of %zu outputs differ from the reference (first %zu: %.9g vs %.9g)", c->what, bad,
              nout, first, o_ref[first], o_best[first]);
    CHECK_MSG(badp == 0, "%s: %zu outputs differ between one thread and the pool", c->what, badp);
    /* the reference against double precision (small heads only, where the check is cheap) */
    if (hd <= 64 && c->cap + c->n_tok <= 4096) {
        double worst = 0;
        for (int t = 0; t < c->n_tok; t += 3)
            for (int h = 0; h < nh; h++) {
                float want[512], qr[512];
                const float *qt = q + ((size_t)t * nh + h) * hd;
                if (c->type == GGML_TYPE_F16) /* q is rounded to the key type first */
                    for (int d = 0; d < hd; d++)
                        qr[d] = ops_fp16(medge_fp32_to_fp16(qt[d]));
                else
                    memcpy(qr, qt, (size_t)hd * sizeof(float));
                attn_double(&ap, qr, p1[t], views, 2, h, want);
                for (int d = 0; d < hd; d++) {
                    double e = fabs((double)want[d] - o_ref[((size_t)t * nh + h) * hd + d]);
                    worst = e > worst ? e : worst;
                }
            }
        /* F16 probabilities and Q8_0 queries cost ~1e-3 relative; values are O(1) */
        double tol = c->type == GGML_TYPE_F32 ? 1e-4 : 2e-2;
        CHECK_MSG(worst <= tol, "%s: reference vs double: max |diff| %.3g > %.3g", c->what, worst, tol);
    }
    ops_scratch_free(&s1);
    ops_scratch_free(&s2);
    ops_scratch_free(&s3);
    free(k0), free(v0), free(k1), free(v1), free(p0), free(p1), free(q), free(o_ref), free(o_best), free(o_pool);
}

int main(void)
{
    const ops_kernels *best = ops_kernels_get();
    printf("kernels: %s, attention rows: F32 %s, F16 %s\n", best->name, best->attn_rows[0] ? "SIMD" : "portable",
           best->attn_rows[1] ? "SIMD" : "portable");
    medge_pool *pool = NULL;
    CHECK_OK(medge_pool_create(2, &pool));
    const bool san = getenv("MEDGE_SANITIZED") != NULL;
    const acase cases[] = {
        /* what, heads, kv, hd, type, cap, n_past, n_tok, window, holes, bidir, qscale */
        {"gemma-like prompt", 8, 4, 256, GGML_TYPE_F16, 64, 0, san ? 40 : 150, 0, 0, 0, 1.0f},
        {"gemma-like after cache", 8, 4, 256, GGML_TYPE_F16, 200, 77, san ? 9 : 33, 0, 0, 0, 2.0f},
        {"ring wrapped, window", 4, 2, 32, GGML_TYPE_F16, 48, 131, 21, 40, 0, 0, 3.0f},
        {"holes in the cache", 4, 1, 32, GGML_TYPE_F16, 96, 70, 19, 0, 1, 0, 1.0f},
        {"cache positions out of order, window", 4, 2, 32, GGML_TYPE_F16, 64, 60, 13, 30, 2, 0, 2.0f},
        {"8 query heads per KV head", 8, 1, 32, GGML_TYPE_F16, 40, 30, 11, 0, 0, 0, 1.0f},
        {"3 query heads per KV head", 6, 2, 16, GGML_TYPE_F16, 40, 30, 11, 20, 0, 0, 1.0f},
        {"16 query heads per KV head", 16, 1, 16, GGML_TYPE_F32, 20, 10, 7, 0, 0, 0, 1.0f},
        {"bidirectional batch", 2, 2, 16, GGML_TYPE_F16, 32, 5, 37, 0, 0, 1, 1.0f},
        {"wide scores (exp underflow)", 2, 1, 64, GGML_TYPE_F16, 64, 40, 40, 0, 1, 0, 60.0f},
        {"huge scores", 2, 1, 48, GGML_TYPE_F16, 16, 3, 29, 0, 0, 0, 400.0f},
        {"tiny scores", 3, 3, 16, GGML_TYPE_F16, 8, 0, 45, 0, 0, 0, 1e-3f},
        {"single token", 8, 4, 256, GGML_TYPE_F16, 300, 257, 1, 0, 1, 0, 1.0f},
        {"F32 cache", 4, 2, 64, GGML_TYPE_F32, 64, 50, 30, 0, 1, 0, 5.0f},
        {"F32 cache, wide", 2, 1, 32, GGML_TYPE_F32, 32, 20, 30, 16, 0, 1, 80.0f},
        {"head_dim 40 (portable)", 2, 1, 40, GGML_TYPE_F16, 16, 10, 12, 0, 0, 0, 1.0f},
        {"Q8_0 cache (flash)", 4, 2, 64, GGML_TYPE_Q8_0, 32, 20, 17, 0, 1, 0, 1.0f},
        /* lists long enough for the kernel's value pass in chunks (32 rows per call) */
        {"long list, holes", 2, 1, 32, GGML_TYPE_F16, 900, 850, 40, 0, 1, 0, 1.0f},
        {"long list, window, F32", 4, 2, 48, GGML_TYPE_F32, 1000, 990, 35, 700, 0, 0, 2.0f},
        {"long list, positions out of order", 4, 2, 16, GGML_TYPE_F16, 800, 790, 20, 0, 2, 0, 1.0f},
        /* ... with room for all elements' accumulators: each chunk's value rows taken whole */
        {"decoding at depth", 8, 4, 256, GGML_TYPE_F16, 700, 690, 1, 0, 1, 0, 1.0f},
        {"decoding at depth, window, positions out of order", 4, 2, 48, GGML_TYPE_F16, 400, 390, 2, 300, 2, 0, 2.0f},
        {"decoding at depth, F32", 4, 2, 48, GGML_TYPE_F32, 500, 420, 3, 0, 1, 0, 3.0f},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(&cases[i], pool);
    medge_pool_free(pool);
    TEST_END();
}
