/* test-arm-kernels.c - the AArch64 gemv kernels and GEMM tiles of every table an ARM CPU can get
 * (plain NEON, NEON + dotprod, NEON + dotprod + i8mm; each one this CPU runs, built with
 * ops_arch_init from a reduced feature set) against the portable reference: gemv bit for bit at
 * every row count 1..9, row lengths with odd block counts, weights at element-aligned offsets
 * with padded strides, random and raw blocks (every code, extreme scales); the batch path
 * (ops_matmul_gemm: panel decode + tiles) bit for bit for the quantized types (Q4_K, Q5_K, Q6_K,
 * Q8_0, Q4_0: every table must have all five) and within float summation error for F32/F16/BF16,
 * at odd row and token counts (1..21 tokens: every remainder of the 4- and 2-token tiles), weights
 * at unaligned offsets,
 * on one thread and on a pool of three; the I8_PC product tiles (ops/gemm-i8.h) bit for bit
 * against quant_i8pc_dot; the fp16 row conversions bit for bit (every fp16 value, every rounding
 * tie and its neighbours, NaN payloads); the dense attention tiles against the portable ones (bit for bit when
 * GCC builds both: same key blocks, FMA chains and exp2 polynomial; within 1e-6 otherwise, e.g.
 * clang contracting the portable polynomial) at odd sizes; and the attention-row and GeGLU entries
 * present in every table (test-attention and test-elem compare them). Under qemu-aarch64 `-cpu max` (the default) all three
 * tables run. On other architectures the selected table's gemv kernels are checked the same
 * way. */
#define TEST_RNG_SEED 0x243f6a8885a308d3ull
#include "test.h"
#include "i8-check.h"
#include "core/cpu.h"
#include "core/threadpool.h"
#include "ops/attention-dense.h"
#include "ops/gemm-i8.h"
#include "ops/kernels.h"
#include "ops/ops.h"
#include "quant/i8pc.h"
#include "quant/quant.h"
#include "quant/types.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>


static const int QTYPES[] = {GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K, GGML_TYPE_Q8_0, GGML_TYPE_Q4_0};
static const int FTYPES[] = {GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_BF16};

static int is_quant(int t) { return quant_get_traits((uint32_t)t)->blck > 1; }
/* weight rows start at even addresses (F32 at multiples of 4) */
static size_t walign(int t) { return t == GGML_TYPE_F32 ? 4 : 2; }

/* rows of random values (style: plain, outliers, zero runs) or raw bytes with sane fp16 scales */
static void fill_rows(int t, uint8_t *w, size_t ws, int n, int rows, int raw)
{
    const quant_traits *tr = quant_get_traits((uint32_t)t);
    const size_t rb = quant_row_size((uint32_t)t, n);
    float *x = malloc((size_t)n * sizeof *x);
    if (!x)
        return;
    for (int r = 0; r < rows; r++) {
        uint8_t *row = w + ws * (size_t)r;
        if (raw && is_quant(t)) {
            for (size_t i = 0; i < rb; i++)
                row[i] = (uint8_t)rnd();
            for (size_t b = 0; b < rb / tr->type_size; b++) {
                uint8_t *blk = row + b * tr->type_size;
                const uint16_t d = medge_fp32_to_fp16(frand() * 0.01f), dm = medge_fp32_to_fp16(frand() * 0.01f);
                memcpy(blk + (t == GGML_TYPE_Q6_K ? 208 : 0), &d, 2);
                if (t == GGML_TYPE_Q4_K || t == GGML_TYPE_Q5_K)
                    memcpy(blk + 2, &dm, 2);
                if (t == GGML_TYPE_Q8_0 && b == 0)
                    blk[2] = 0x80; /* -128 */
            }
            continue;
        }
        for (int i = 0; i < n; i++) {
            x[i] = frand() * (1.0f + (float)(r % 5));
            if ((r % 3) == 1 && rnd() % 61 == 0)
                x[i] *= 30.0f;
            if ((r % 3) == 2 && (i / 32) % 3 == 1)
                x[i] = 0.0f;
        }
        tr->from_float_ref(x, row, n);
    }
    free(x);
}

static void fill_act(float *x, size_t n, int extreme)
{
    for (size_t i = 0; i < n; i++)
        x[i] = extreme && rnd() % 5 == 0 ? (i % 2 ? 3.0f : -3.0f) : frand() * 2.0f;
}

/* gemv of table k for type t: every output equals the reference vec_dot of its row */
static void check_gemv(const char *what, const ops_kernels *k, int t, int n, int nr, int off, int pad, int raw)
{
    const ops_kernels *ref = ops_kernels_ref();
    const enum ggml_type act = ref->w[t].act_type;
    const size_t rb = quant_row_size((uint32_t)t, n), ab = quant_row_size(act, n);
    const size_t ws = rb + (size_t)pad * walign(t), woff = (size_t)off * walign(t);
    uint8_t *wbuf = malloc(ws * (size_t)nr + 64), *abuf = malloc(ab + 64);
    float *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)(nr + 1) * sizeof *y);
    if (!wbuf || !abuf || !x || !y) {
        CHECK(0);
        goto out;
    }
    uint8_t *w = wbuf + woff, *a = abuf + (act == GGML_TYPE_Q8_K ? 4 : 2) * (size_t)(off % 3);
    fill_rows(t, w, ws, n, nr, raw);
    fill_act(x, (size_t)n, raw);
    ref->quantize_act[act](x, a, n);
    y[nr] = 4321.0f;
    k->w[t].gemv(n, nr, w, ws, a, y);
    CHECK_MSG(y[nr] == 4321.0f, "%s %s gemv n=%d nr=%d wrote past its rows", what, quant_type_name((uint32_t)t), n, nr);
    int bad = 0, first = -1;
    float got = 0, want = 0;
    for (int r = 0; r < nr; r++) {
        float s;
        ref->w[t].vec_dot(n, &s, w + ws * (size_t)r, a);
        if (!(y[r] == s) && first < 0)
            first = r, got = y[r], want = s;
        bad += !(y[r] == s);
    }
    CHECK_MSG(bad == 0, "%s %s gemv n=%d nr=%d off=%d raw=%d: %d rows differ (row %d: %.9g vs reference %.9g)", what,
              quant_type_name((uint32_t)t), n, nr, off, raw, bad, first, got, want);
out:
    free(wbuf);
    free(abuf);
    free(x);
    free(y);
}

/* y = W x through k's batch path (ops_matmul_gemm) versus the reference, row by row */
static void check_gemm(const char *what, const ops_kernels *k, medge_pool *pool, int t, int n, int rows, int n_tok,
                       int off, int raw)
{
    const ops_kernels *ref = ops_kernels_ref();
    const quant_traits *tr = quant_get_traits((uint32_t)t);
    const enum ggml_type act = ref->w[t].act_type;
    const size_t rb = quant_row_size((uint32_t)t, n), ab = quant_row_size(act, n);
    const size_t ws = rb + (size_t)(off % 2) * 2 * walign(t), woff = (size_t)off * walign(t);
    uint8_t *wbuf = malloc(ws * (size_t)rows + 64), *a = malloc(ab);
    float *x = malloc(sizeof(float) * (size_t)n * (size_t)n_tok), *wf = malloc(sizeof(float) * (size_t)n);
    float *y = malloc(sizeof(float) * (size_t)rows * (size_t)n_tok);
    ops_scratch scratch = {0};
    if (!wbuf || !a || !x || !wf || !y) {
        CHECK(0);
        goto out;
    }
    uint8_t *w = wbuf + woff;
    fill_rows(t, w, ws, n, rows, raw);
    fill_act(x, (size_t)n * (size_t)n_tok, raw);
    for (size_t i = 0; i < (size_t)rows * (size_t)n_tok; i++)
        y[i] = NAN;
    medge_tensor W = {"w", (uint32_t)t, {n, rows, 1, 1}, ws, w};
    CHECK_OK(ops_matmul_gemm(k, pool, &scratch, &W, x, y, n_tok));
    int bad = 0;
    double worst = 0;
    for (int tk = 0; tk < n_tok; tk++) {
        ref->quantize_act[act](x + (size_t)tk * (size_t)n, a, n);
        for (int r = 0; r < rows; r++) {
            float s;
            ref->w[t].vec_dot(n, &s, w + ws * (size_t)r, a);
            const float got = y[(size_t)tk * (size_t)rows + (size_t)r];
            if (is_quant(t)) {
                bad += !(got == s);
                if (!(got == s) && worst == 0)
                    worst = fabs((double)got - s) / (fabs((double)s) + 1e-30);
            } else {
                ref->to_float[t](w + ws * (size_t)r, wf, n);
                double m = 0;
                for (int i = 0; i < n; i++)
                    m += fabs((double)wf[i] * x[(size_t)tk * (size_t)n + (size_t)i]);
                const double e = fabs((double)got - s) / (m + 1e-30);
                worst = e > worst ? e : worst;
                bad += !(e <= 1e-5);
            }
        }
    }
    CHECK_MSG(bad == 0, "%s %s gemm n=%d rows=%d tokens=%d off=%d raw=%d threads=%d: %d of %d outputs differ (rel %.3g)",
              what, tr->name, n, rows, n_tok, off, raw, pool ? medge_pool_size(pool) : 1, bad, rows * n_tok, worst);
out:
    ops_scratch_free(&scratch);
    free(wbuf);
    free(a);
    free(x);
    free(wf);
    free(y);
}

/* an I8_PC product table (ops/gemm-i8.h): tests/i8-check.h, activations with extremes when nt is odd */
static void check_i8(const ops_i8_gemm *g, int n, int rows, int nt)
{
    float *x = malloc(sizeof(float) * (size_t)n * (size_t)nt);
    if (!x) {
        CHECK(0);
        return;
    }
    fill_act(x, (size_t)n * (size_t)nt, nt % 2);
    i8_check_table(g, n, rows, nt, x);
    free(x);
}

static void check_table(const char *what, const ops_kernels *k, medge_pool *pool3, int want_gemv, int want_gemm, int gemm)
{
    const int slow = getenv("MEDGE_SANITIZED") != NULL;
    int n_gemv = 0, n_gemm = 0;
    for (size_t i = 0; i < sizeof QTYPES / sizeof QTYPES[0]; i++) {
        const int t = QTYPES[i], blck = quant_get_traits((uint32_t)t)->blck;
        n_gemv += k->w[t].gemv != NULL;
        if (k->w[t].gemv) {
            const int nbs[] = {1, 2, 3, 5, 7, 11};
            for (int b = 0; b < 6; b++)
                for (int nr = 1; nr <= 9; nr++)
                    check_gemv(what, k, t, nbs[b] * blck, nr, (b + nr) % 4, (nr % 3) * 4, 0);
            for (int nr = 1; nr <= 9; nr += 2)
                check_gemv(what, k, t, 3 * blck, nr, nr % 4, 1, 1);
            check_gemv(what, k, t, (blck == 32 ? 80 : 10) * blck, 13, 1, 0, 0); /* a row of 2560 */
        }
    }
    const int ntypes = (int)(sizeof QTYPES / sizeof QTYPES[0] + sizeof FTYPES / sizeof FTYPES[0]);
    for (int i = 0; i < ntypes; i++) {
        const int t = i < 5 ? QTYPES[i] : FTYPES[i - 5];
        if (!k->w[t].gemm || !gemm)
            continue;
        n_gemm++;
        const int blck = quant_get_traits((uint32_t)t)->blck;
        /* (row length in blocks, rows, tokens): rows around the panel height, tokens around the
         * register tile, both with remainders */
        const int cases[][3] = {{1, 1, 4}, {1, 8, 4}, {3, 9, 5}, {2, 7, 6}, {3, 17, 13}, {1, 3, 7},
                                {5, 16, 11}, {2, 33, 9}, {3, 5, 1}, {1, 12, 2}, {2, 6, 3}};
        for (int c = 0; c < (int)(sizeof cases / sizeof cases[0]); c++) {
            int n = cases[c][0] * blck;
            if (blck == 1) /* odd lengths for the float types */
                n = cases[c][0] == 1 ? 7 : cases[c][0] * 97 + 2 * c + 1;
            check_gemm(what, k, NULL, t, n, cases[c][1], cases[c][2], c % 4, 0);
            check_gemm(what, k, pool3, t, n, cases[c][1], cases[c][2], (c + 1) % 4, c % 3 == 0);
        }
        check_gemm(what, k, pool3, t, blck > 1 ? 2560 : 768, 37, slow ? 9 : 21, 1, 0); /* a real row length */
    }
    CHECK_MSG(n_gemv >= want_gemv, "%s: %d gemv kernels, want %d", what, n_gemv, want_gemv);
    CHECK_MSG(n_gemm >= want_gemm, "%s: %d GEMM kernels, want %d", what, n_gemm, want_gemm);
    printf("%s (%s): %d gemv, %d GEMM kernels checked\n", what, k->name, n_gemv, n_gemm);
}

#if defined(__aarch64__)
/* fp16 conversions of table k against the reference's, bit for bit */
static void check_fp16_rows(const char *what, const ops_kernels *k)
{
    const ops_kernels *ref = ops_kernels_ref();
    enum { NH = 65536, NF = 6 * 65536 + 64 };
    uint16_t *h = malloc(NH * 2), *h1 = malloc(NF * 2), *h2 = malloc(NF * 2);
    float *f = malloc(NF * 4), *y1 = malloc(NH * 4), *y2 = malloc(NH * 4);
    for (int i = 0; i < NH; i++) /* every fp16 value, signalling NaNs included */
        h[i] = (uint16_t)i;
    ref->fp16_to_fp32_row(h, y1, NH);
    k->fp16_to_fp32_row(h, y2, NH);
    int bad = 0;
    for (int i = 0; i < NH; i++)
        bad += memcmp(&y1[i], &y2[i], 4) != 0;
    CHECK_MSG(bad == 0, "%s: fp16_to_fp32_row: %d of %d differ", what, bad, NH);
    /* every fp16 value as a float, the ties between neighbours and the floats next to the ties,
     * then NaNs with payloads, odd lengths through the tail */
    int n = 0;
    for (int i = 0; i < NH; i++) {
        const float a = ops_fp16((uint16_t)i), b = ops_fp16((uint16_t)(i + 1));
        f[n++] = a;
        if ((i & 0x7fff) < 0x7c00 && (i & 0x7fff) != 0x7bff && i != 0x7fff) {
            const float m = (float)(((double)a + b) / 2);
            f[n++] = m;
            f[n++] = nextafterf(m, 0.0f);
            f[n++] = nextafterf(m, m * 2.0f);
        }
    }
    const uint32_t odd[] = {0x7fc00000u, 0xffc00000u, 0x7f800001u, 0xff800123u, 0x7fffffffu, 0x7fa5a5a5u,
                            0x477ff000u, 0x477fefffu, 0x33000000u, 0x33000001u, 0x38800000u, 0x387fffffu};
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++)
        memcpy(&f[n++], &odd[i], 4);
    for (int m = n; m > n - 7; m--) {
        ref->fp32_to_fp16_row(f, h1, m);
        k->fp32_to_fp16_row(f, h2, m);
        bad = 0;
        for (int i = 0; i < m; i++)
            bad += h1[i] != h2[i];
        CHECK_MSG(bad == 0, "%s: fp32_to_fp16_row: %d of %d differ", what, bad, m);
        k->quantize_act[GGML_TYPE_F16](f, h2, m);
        CHECK_MSG(memcmp(h1, h2, (size_t)m * 2) == 0, "%s: F16 activation quantizer", what);
    }
    CHECK_MSG(k->attn_rows[0] && k->attn_rows[1] && k->geglu != ref->geglu, "%s: attention rows, GeGLU", what);
    free(h), free(h1), free(h2), free(f), free(y1), free(y2);
}

/* the dense attention tiles of table k against the portable ones: n rows (tiles and key blocks
 * with remainders), H heads of D dims (odd and not multiples of 4), scores up to ~qmag^2 */
static void check_dense(const char *what, const ops_kernels *k, medge_pool *pool, int n, int H, int D, float qmag)
{
    CHECK_MSG(k->attn_dense[0].pack != NULL, "%s: dense attention tiles", what);
    const size_t nc = (size_t)n * (size_t)H * (size_t)D;
    float *q = malloc(nc * 4), *kk = malloc(nc * 4), *v = malloc(nc * 4), *o1 = malloc(nc * 4), *o2 = malloc(nc * 4);
    for (size_t i = 0; i < nc; i++) {
        q[i] = frand() * qmag;
        kk[i] = frand();
        v[i] = frand();
    }
    ops_scratch s1 = {0}, s2 = {0};
    const float scale = 1.0f / sqrtf((float)D);
    CHECK_OK(ops_attention_dense_with(ops_kernels_ref(), NULL, &s1, q, kk, v, o1, n, H, D, scale, OPS_ATTN_F32));
    CHECK_OK(ops_attention_dense_with(k, pool, &s2, q, kk, v, o2, n, H, D, scale, OPS_ATTN_F32));
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < nc; i++) {
#if defined(__clang__)
        const bool same = fabsf(o1[i] - o2[i]) <= 1e-6f;
#else
        const bool same = memcmp(&o1[i], &o2[i], 4) == 0;
#endif
        if (!same && bad++ == 0)
            first = i;
    }
    CHECK_MSG(bad == 0, "%s: dense attention n %d H %d D %d: %zu of %zu differ (first %zu: %.9g vs %.9g)", what, n, H,
              D, bad, nc, first, o1[first], o2[first]);
    ops_scratch_free(&s1);
    ops_scratch_free(&s2);
    free(q), free(kk), free(v), free(o1), free(o2);
}
#endif

int main(void)
{
    const medge_cpu *cpu = medge_cpu_get();
    printf("kernels: %s (cpu: %s)\n", ops_kernels_get()->name, medge_cpu_describe());
    medge_pool *pool3 = NULL;
    CHECK_OK(medge_pool_create(3, &pool3));
#if defined(__aarch64__)
    if (!cpu->neon) { /* MEDGE_FORCE_SCALAR=1: the reference has neither gemv nor tiles */
        for (size_t i = 0; i < sizeof QTYPES / sizeof QTYPES[0]; i++)
            CHECK(ops_kernels_get()->w[QTYPES[i]].gemv == NULL && ops_kernels_get()->w[QTYPES[i]].gemm == NULL);
    }
    /* every table an AArch64 CPU can get that this one runs */
    const struct {
        const char *what;
        bool dotprod, i8mm;
        const char *name;
    } var[] = {{"neon", false, false, "neon"}, {"dotprod", true, false, "neon-dotprod"}, {"i8mm", true, true, "neon-i8mm"}};
    for (int v = 0; v < 3; v++) {
        if (!cpu->neon || (var[v].dotprod && !cpu->dotprod) || (var[v].i8mm && !cpu->i8mm)) {
            printf("%s: not available on this CPU\n", var[v].what);
            continue;
        }
        ops_kernels k = *ops_kernels_ref();
        medge_cpu c = *cpu;
        c.dotprod = var[v].dotprod;
        c.i8mm = var[v].i8mm;
        ops_arch_init(&k, &c);
        CHECK_MSG(strcmp(k.name, var[v].name) == 0, "table %s named %s", var[v].what, k.name);
        check_table(var[v].what, &k, pool3, 5, 8, 1); /* GEMM: Q4_K Q5_K Q6_K Q8_0 Q4_0 F32 F16 BF16 */
        check_fp16_rows(var[v].what, &k);
        const int dense[][3] = {{1, 1, 8}, {17, 2, 5}, {130, 2, 72}, {200, 1, 64}, {65, 3, 17}};
        for (int i = 0; i < 5; i++)
            check_dense(var[v].what, &k, pool3, dense[i][0], dense[i][1], dense[i][2], i == 3 ? 12.0f : 3.0f);
        const ops_i8_gemm *i8 = v == 0 ? &arm_neon_i8_gemm : v == 1 ? &arm_dotprod_i8_gemm : &arm_i8mm_i8_gemm;
        const int ns[] = {32, 96, 768}, rows[] = {1, 7, 8, 9, 17, 33}, toks[] = {1, 3, 4, 5, 13};
        for (int a = 0; a < 3; a++)
            for (int b = 0; b < 6; b++)
                for (int d = 0; d < 5; d++)
                    check_i8(i8, ns[a], rows[b], toks[d]);
    }
#else
    for (int n = 32; n <= 800; n += 256) /* the selected I8_PC products */
        check_i8(ops_i8_gemm_get(), n, 19, 13);
    /* elsewhere the selected table's gemv kernels (bit-exact everywhere; the x86 tiles are
     * covered by test-gemm, whose AVX2 Q8_0 tile sums in another order) */
    (void)cpu;
    check_table("selected", ops_kernels_get(), pool3, 0, 0, 0);
#endif
    medge_pool_free(pool3);
    TEST_END();
}
