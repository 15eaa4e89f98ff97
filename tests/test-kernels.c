/* test-kernels.c - every kernel of the selected table (SIMD on this CPU) against the portable
 * reference table, at odd sizes and unaligned addresses: weight dot products (k-quants must be
 * bit-identical, the others within float summation-order error), GEMM tiles against vec_dot,
 * activation quantizers byte for byte, fp16 rows, mad. On x86 each AVX2 / AVX-512 function is
 * also called directly when the CPU has it, so a kernel the table does not pick is still tested.
 * With MEDGE_FORCE_SCALAR=1 both tables are the reference (the test then checks the reference
 * against itself and the direct calls are skipped). */
#define TEST_RNG_SEED 0x9e3779b97f4a7c15ull
#include "test.h"
#include "core/cpu.h"
#include "ops/kernels.h"
#include "quant/quant.h"
#include "quant/types.h"

#if defined(__x86_64__)
#include "ops/arch/x86/arch.h"
#elif defined(__aarch64__)
#include "ops/arch/arm/arch.h"
#endif

#include <stdint.h>

static float nrand(void)
{
    float s = 0;
    for (int i = 0; i < 4; i++)
        s += frand();
    return s * 0.8f;
}

/* fill n floats: mostly normal, some outliers and zero runs */
static void fill(float *x, int n, int style)
{
    for (int i = 0; i < n; i++) {
        x[i] = nrand() * 0.05f;
        if (style == 1 && rnd() % 97 == 0)
            x[i] *= 40.0f;
        if (style == 2 && (i / 32) % 3 == 1)
            x[i] = 0.0f;
    }
}

static void *ualloc(size_t n, int off) /* an address off bytes past a 64-byte boundary */
{
    uint8_t *p = aligned_alloc(64, ((n + 64 + 63) / 64) * 64);
    return p ? p + off : NULL;
}
static void ufree(void *p, int off)
{
    if (p)
        free((uint8_t *)p - off);
}

/* sum |w_i * a_i| of the dequantized rows: the scale of rounding differences */
static double abs_dot(const quant_traits *wt, const void *w, const quant_traits *at, const void *a, int n)
{
    float *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * sizeof *y);
    double s = 0;
    if (x && y && wt->to_float && at->to_float) {
        wt->to_float(w, x, n);
        at->to_float(a, y, n);
        for (int i = 0; i < n; i++)
            s += fabs((double)x[i] * (double)y[i]);
    } else {
        s = 1e30;
    }
    free(x);
    free(y);
    return s;
}

/* the types of the summation-order contract (ops/kernels.h): bit for bit on every ISA */
static int exact_type(int t)
{
    return t == GGML_TYPE_Q4_K || t == GGML_TYPE_Q5_K || t == GGML_TYPE_Q6_K || t == GGML_TYPE_Q8_0 ||
           t == GGML_TYPE_Q4_0;
}

/* Rows are only ever element-aligned (GGUF rows of 16-bit types and blocks start at even
 * addresses, F32 rows and Q8_K activation blocks (float scale) at multiples of 4): test addresses off
 * elements past a 64-byte boundary. */
static int elem_align(int t) { return t == GGML_TYPE_F32 || t == GGML_TYPE_Q8_K ? 4 : 2; }

/* one (weight type, n) case through a dot function vs the reference */
static void check_dot(const char *what, int t, ops_vec_dot_fn f, ops_vec_dot_fn ref, enum ggml_type act, int n, int off)
{
    const quant_traits *wt = quant_get_traits((uint32_t)t), *at = quant_get_traits(act);
    size_t wb = quant_row_size((uint32_t)t, n), ab = quant_row_size(act, n);
    float *xf = malloc((size_t)n * sizeof *xf), *yf = malloc((size_t)n * sizeof *yf);
    int woff = off * elem_align(t), aoff = ((off * 3) % 7) * elem_align((int)act);
    void *w = ualloc(wb, woff), *a = ualloc(ab, aoff);
    const ops_kernels *rk = ops_kernels_ref();
    if (!xf || !yf || !w || !a || !wt->from_float_ref || !rk->quantize_act[act]) {
        CHECK_MSG(0, "%s: setup failed", what);
        goto out;
    }
    for (int rep = 0; rep < 3; rep++) {
        fill(xf, n, rep);
        fill(yf, n, (rep + 1) % 3);
        wt->from_float_ref(xf, w, n);
        rk->quantize_act[act](yf, a, n);
        float s_ref = 0, s = 0;
        ref(n, &s_ref, w, a);
        f(n, &s, w, a);
        if (exact_type(t)) {
            CHECK_MSG(s == s_ref, "%s %s n=%d off=%d: %.9g vs reference %.9g", what, wt->name, n, off, s, s_ref);
        } else {
            double tol = 1e-5 * abs_dot(wt, w, at, a, n) + 1e-30;
            CHECK_MSG(fabs((double)s - (double)s_ref) <= tol, "%s %s n=%d off=%d: %.9g vs reference %.9g (tol %g)", what,
                      wt->name, n, off, s, s_ref, tol);
        }
    }
out:
    free(xf);
    free(yf);
    ufree(w, woff);
    ufree(a, aoff);
}

/* k-quant blocks with arbitrary bytes (extreme codes and scales), sane fp16 scales */
static void check_dot_raw(const char *what, int t, ops_vec_dot_fn f, ops_vec_dot_fn ref, int nb)
{
    const quant_traits *wt = quant_get_traits((uint32_t)t);
    int n = nb * 256;
    uint8_t *w = malloc((size_t)nb * wt->type_size);
    uint8_t *a = malloc((size_t)nb * 292);
    float *yf = malloc((size_t)n * sizeof *yf);
    if (!w || !a || !yf) {
        CHECK(0);
        goto out;
    }
    for (size_t i = 0; i < (size_t)nb * wt->type_size; i++)
        w[i] = (uint8_t)rnd();
    for (int b = 0; b < nb; b++) {
        uint8_t *blk = w + (size_t)b * wt->type_size;
        uint16_t d = medge_fp32_to_fp16(frand() * 0.01f), dm = medge_fp32_to_fp16(frand() * 0.01f);
        if (t == GGML_TYPE_Q6_K) {
            memcpy(blk + 208, &d, 2);
        } else {
            memcpy(blk, &d, 2);
            memcpy(blk + 2, &dm, 2);
        }
    }
    for (int i = 0; i < n; i++)
        yf[i] = (rnd() % 5 == 0) ? (i % 2 ? 3.0f : -3.0f) : frand();
    ops_kernels_ref()->quantize_act[GGML_TYPE_Q8_K](yf, a, n);
    float s_ref = 0, s = 0;
    ref(n, &s_ref, w, a);
    f(n, &s, w, a);
    CHECK_MSG(s == s_ref, "%s %s raw blocks nb=%d: %.9g vs reference %.9g", what, wt->name, nb, s, s_ref);
out:
    free(w);
    free(a);
    free(yf);
}

static void check_quantizer(const char *what, enum ggml_type act, ops_quantize_fn f, ops_quantize_fn ref, int n, int off)
{
    size_t nb = quant_row_size(act, n);
    float *x = ualloc((size_t)n * sizeof(float), off * 4);
    uint8_t *a = malloc(nb), *b = malloc(nb);
    if (!x || !a || !b) {
        CHECK(0);
        goto out;
    }
    for (int style = 0; style < 4; style++) {
        fill(x, n, style % 3);
        if (style == 3) /* ties of magnitude with both signs, exact halves */
            for (int i = 0; i < n; i++)
                x[i] = (float)((int)(rnd() % 9) - 4) * 0.5f;
        memset(a, 0x55, nb);
        memset(b, 0xaa, nb);
        ref(x, a, n);
        f(x, b, n);
        CHECK_MSG(memcmp(a, b, nb) == 0, "%s %s quantizer n=%d style=%d differs", what, quant_type_name(act), n, style);
    }
out:
    ufree(x, off * 4);
    free(a);
    free(b);
}

/* gemv (several rows against one activation row) against the reference vec_dot of each row, bit
 * for bit (kernels.h): rows at element-aligned offsets with strides >= the row size, every row
 * count up to 17 (so each row grouping (4 or 8 rows) of the kernel and its leftovers run), row lengths with
 * every remainder of the kernels' block groups, random values or raw blocks (extreme codes and
 * scales). */
static void check_gemv(const char *what, int t, ops_gemv_fn g, enum ggml_type act, int n, int nr, int off, int pad, int raw)
{
    const quant_traits *wt = quant_get_traits((uint32_t)t);
    const ops_kernels *rk = ops_kernels_ref();
    size_t wb = quant_row_size((uint32_t)t, n), ab = quant_row_size(act, n);
    size_t ws = wb + (size_t)pad * (size_t)elem_align(t);
    int woff = off * elem_align(t), aoff = ((off * 5) % 7) * elem_align((int)act);
    uint8_t *w = ualloc(ws * (size_t)nr, woff), *a = ualloc(ab, aoff);
    float *xf = malloc((size_t)n * sizeof *xf), *y = malloc((size_t)(nr + 1) * sizeof *y);
    if (!w || !a || !xf || !y || !wt->from_float_ref) {
        CHECK_MSG(0, "%s: setup failed", what);
        goto out;
    }
    for (int r = 0; r < nr; r++) {
        uint8_t *row = w + ws * (size_t)r;
        if (raw) { /* arbitrary bytes (every code, -128 in Q8_0), sane fp16 scales */
            for (size_t i = 0; i < wb; i++)
                row[i] = (uint8_t)rnd();
            for (size_t b = 0; b < wb / wt->type_size; b++) {
                uint8_t *blk = row + b * wt->type_size;
                uint16_t d = medge_fp32_to_fp16(frand() * 0.01f), dm = medge_fp32_to_fp16(frand() * 0.01f);
                memcpy(blk + (t == GGML_TYPE_Q6_K ? 208 : 0), &d, 2);
                if (t == GGML_TYPE_Q8_0 && b == 0)
                    blk[2] = 0x80;
                if (t == GGML_TYPE_Q4_K || t == GGML_TYPE_Q5_K)
                    memcpy(blk + 2, &dm, 2);
            }
        } else {
            fill(xf, n, r % 3);
            wt->from_float_ref(xf, row, n);
        }
    }
    fill(xf, n, (nr + off) % 3);
    if (raw)
        for (int i = 0; i < n; i++)
            xf[i] = (rnd() % 5 == 0) ? (i % 2 ? 3.0f : -3.0f) : frand();
    rk->quantize_act[act](xf, a, n);
    y[nr] = 12345.0f;
    g(n, nr, w, ws, a, y);
    CHECK_MSG(y[nr] == 12345.0f, "%s %s gemv n=%d nr=%d wrote past its rows", what, wt->name, n, nr);
    for (int r = 0; r < nr; r++) {
        float s_ref = 0;
        rk->w[t].vec_dot(n, &s_ref, w + ws * (size_t)r, a);
        CHECK_MSG(y[r] == s_ref, "%s %s gemv n=%d nr=%d row %d off=%d raw=%d: %.9g vs reference %.9g", what, wt->name, n,
                  nr, r, off, raw, y[r], s_ref);
    }
out:
    ufree(w, woff);
    ufree(a, aoff);
    free(xf);
    free(y);
}

static void check_gemv_all(const char *what, int t, ops_gemv_fn g, enum ggml_type act)
{
    int blck = quant_get_traits((uint32_t)t)->blck;
    const int nbs[] = {1, 2, 3, 5, 6, 7, 10, 11, 40};
    for (int i = 0; i < 9; i++)
        for (int nr = 1; nr <= 17; nr++)
            check_gemv(what, t, g, act, nbs[i] * blck, nr, (i + nr) % 4, (nr % 3) * 8, 0);
    for (int nr = 1; nr <= 17; nr += 2)
        check_gemv(what, t, g, act, 7 * blck, nr, nr % 4, 1, 1);
    /* rows longer than a kernel prepares its activations for at once (Q4_0: 16384 elements) */
    for (int nr = 3; nr <= 12; nr += 9)
        check_gemv(what, t, g, act, 1043 * blck, nr, nr % 4, 8, 0);
}

static const int WTYPES[] = {GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K, GGML_TYPE_Q8_0, GGML_TYPE_Q4_0,
                             GGML_TYPE_F16,  GGML_TYPE_BF16, GGML_TYPE_F32,  GGML_TYPE_Q2_K, GGML_TYPE_Q3_K,
                             GGML_TYPE_Q4_1, GGML_TYPE_Q5_0, GGML_TYPE_Q5_1, GGML_TYPE_IQ4_NL, GGML_TYPE_IQ4_XS};

static int sizes_for(int t, int *sz)
{
    int blck = quant_get_traits((uint32_t)t)->blck;
    if (blck == 1) {
        const int s[] = {1, 7, 8, 13, 31, 33, 64, 255, 257, 1000, 2563};
        memcpy(sz, s, sizeof s);
        return 11;
    }
    const int nb[] = {1, 3, 7, 10, 11, 40};
    for (int i = 0; i < 6; i++)
        sz[i] = nb[i] * blck;
    return 6;
}

int main(void)
{
    const ops_kernels *best = ops_kernels_get(), *ref = ops_kernels_ref();
    const medge_cpu *cpu = medge_cpu_get();
    printf("kernels: %s (cpu: %s)\n", best->name, medge_cpu_describe());
    int sz[16];
    /* the selected table against the reference */
    for (size_t i = 0; i < sizeof WTYPES / sizeof WTYPES[0]; i++) {
        int t = WTYPES[i];
        CHECK_MSG(ref->w[t].vec_dot != NULL, "no reference dot product for %s", quant_type_name((uint32_t)t));
        if (!ref->w[t].vec_dot || !best->w[t].vec_dot)
            continue;
        CHECK_EQ_INT(best->w[t].act_type, ref->w[t].act_type);
        int ns = sizes_for(t, sz);
        for (int k = 0; k < ns; k++)
            check_dot("table", t, best->w[t].vec_dot, ref->w[t].vec_dot, ref->w[t].act_type, sz[k], k % 4);
        if (best->w[t].gemv)
            check_gemv_all("table", t, best->w[t].gemv, best->w[t].act_type);
    }
    const enum ggml_type acts[] = {GGML_TYPE_Q8_K, GGML_TYPE_Q8_0, GGML_TYPE_F16, GGML_TYPE_BF16, GGML_TYPE_F32};
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++) {
        if (!ref->quantize_act[acts[i]] || !best->quantize_act[acts[i]])
            continue;
        int blck = quant_get_traits(acts[i])->blck;
        for (int nb = 1; nb <= 11; nb += 5)
            check_quantizer("table", acts[i], best->quantize_act[acts[i]], ref->quantize_act[acts[i]], nb * (blck == 1 ? 263 : blck), nb % 4);
    }
    /* fp16 rows and mad */
    {
        int n = 1031;
        float *x = malloc(n * sizeof *x), *y1 = malloc(n * sizeof *y1), *y2 = malloc(n * sizeof *y2);
        uint16_t *h1 = malloc(n * 2), *h2 = malloc(n * 2);
        fill(x, n, 1);
        x[5] = 70000.0f, x[6] = -1e-6f, x[7] = 6.1e-5f;
        ref->fp32_to_fp16_row(x, h1, n);
        best->fp32_to_fp16_row(x, h2, n);
        CHECK(memcmp(h1, h2, (size_t)n * 2) == 0);
        ref->fp16_to_fp32_row(h1, y1, n);
        best->fp16_to_fp32_row(h1, y2, n);
        CHECK(memcmp(y1, y2, (size_t)n * 4) == 0);
        const enum ggml_type kv[] = {GGML_TYPE_F16, GGML_TYPE_F32, GGML_TYPE_Q8_0};
        for (int k = 0; k < 3; k++) {
            if (!ref->mad[kv[k]] || !best->mad[kv[k]])
                continue;
            int m = 1024 + (kv[k] == GGML_TYPE_Q8_0 ? 0 : 7);
            uint8_t *row = malloc(quant_row_size(kv[k], m));
            if (kv[k] == GGML_TYPE_F32)
                memcpy(row, x, (size_t)m * 4);
            else if (kv[k] == GGML_TYPE_F16)
                memcpy(row, h1, (size_t)m * 2);
            else
                quant_get_traits(kv[k])->from_float_ref(x, row, m);
            for (int i = 0; i < m; i++)
                y1[i] = y2[i] = (float)i * 0.01f;
            ref->mad[kv[k]](m, y1, 0.37f, row);
            best->mad[kv[k]](m, y2, 0.37f, row);
            int bad = 0;
            for (int i = 0; i < m; i++)
                bad += fabsf(y1[i] - y2[i]) > 1e-6f * (fabsf(y1[i]) + 1.0f);
            CHECK_MSG(bad == 0, "mad %s: %d differ", quant_type_name(kv[k]), bad);
            free(row);
        }
        free(x), free(y1), free(y2), free(h1), free(h2);
    }
#if defined(__x86_64__)
    /* each x86 function directly, when this CPU can run it */
    if (cpu->avx2 && cpu->fma && cpu->f16c) {
        const struct {
            int t;
            ops_vec_dot_fn f;
        } d2[] = {{GGML_TYPE_Q4_K, x86_avx2_vec_dot_q4_K}, {GGML_TYPE_Q5_K, x86_avx2_vec_dot_q5_K},
                  {GGML_TYPE_Q6_K, x86_avx2_vec_dot_q6_K}, {GGML_TYPE_Q8_0, x86_avx2_vec_dot_q8_0},
                  {GGML_TYPE_Q4_0, x86_avx2_vec_dot_q4_0}, {GGML_TYPE_F16, x86_avx2_vec_dot_f16},
                  {GGML_TYPE_BF16, x86_avx2_vec_dot_bf16}, {GGML_TYPE_F32, x86_avx2_vec_dot_f32}};
        for (size_t i = 0; i < sizeof d2 / sizeof d2[0]; i++) {
            int t = d2[i].t;
            const quant_traits *tr = quant_get_traits((uint32_t)t);
            int ns = sizes_for(t, sz);
            for (int k = 0; k < ns; k++)
                check_dot("avx2", t, d2[i].f, tr->vec_dot, tr->vec_dot_type, sz[k], (k + 1) % 4);
            if (t == GGML_TYPE_Q4_K || t == GGML_TYPE_Q5_K || t == GGML_TYPE_Q6_K)
                for (int nb = 1; nb <= 9; nb += 4)
                    check_dot_raw("avx2", t, d2[i].f, tr->vec_dot, nb);
        }
        for (int nb = 1; nb <= 13; nb += 3) {
            check_quantizer("avx2", GGML_TYPE_Q8_K, x86_avx2_quantize_q8_K, quant_ref_q8_K, nb * 256, nb % 4);
            check_quantizer("avx2", GGML_TYPE_Q8_0, x86_avx2_quantize_q8_0, quant_act_q8_0, nb * 32, nb % 4);
        }
    }
    if (cpu->avx512f && cpu->avx512bw && cpu->avx512vl && cpu->avx512vnni) {
        const struct {
            int t;
            ops_gemv_fn g;
        } g5[] = {{GGML_TYPE_Q4_K, x86_avx512_gemv_q4_K}, {GGML_TYPE_Q5_K, x86_avx512_gemv_q5_K}, {GGML_TYPE_Q6_K, x86_avx512_gemv_q6_K},
                  {GGML_TYPE_Q8_0, x86_avx512_gemv_q8_0}, {GGML_TYPE_Q4_0, x86_avx512_gemv_q4_0}};
        for (size_t i = 0; i < sizeof g5 / sizeof g5[0]; i++)
            check_gemv_all("avx512", g5[i].t, g5[i].g, quant_get_traits((uint32_t)g5[i].t)->vec_dot_type);
    }
#elif defined(__aarch64__)
    /* both AArch64 variants directly (the dot-product one only when the CPU has it) */
    for (int v = 0; v < 2; v++) {
        if (!cpu->neon || (v == 1 && !cpu->dotprod))
            continue;
        const struct {
            int t;
            ops_vec_dot_fn f;
        } da[2][8] = {{{GGML_TYPE_Q4_K, arm_neon_vec_dot_q4_K}, {GGML_TYPE_Q5_K, arm_neon_vec_dot_q5_K},
                       {GGML_TYPE_Q6_K, arm_neon_vec_dot_q6_K}, {GGML_TYPE_Q8_0, arm_neon_vec_dot_q8_0},
                       {GGML_TYPE_Q4_0, arm_neon_vec_dot_q4_0}, {GGML_TYPE_F16, arm_neon_vec_dot_f16},
                       {GGML_TYPE_BF16, arm_neon_vec_dot_bf16}, {GGML_TYPE_F32, arm_neon_vec_dot_f32}},
                      {{GGML_TYPE_Q4_K, arm_dotprod_vec_dot_q4_K}, {GGML_TYPE_Q5_K, arm_dotprod_vec_dot_q5_K},
                       {GGML_TYPE_Q6_K, arm_dotprod_vec_dot_q6_K}, {GGML_TYPE_Q8_0, arm_dotprod_vec_dot_q8_0},
                       {GGML_TYPE_Q4_0, arm_dotprod_vec_dot_q4_0}, {GGML_TYPE_F16, arm_dotprod_vec_dot_f16},
                       {GGML_TYPE_BF16, arm_dotprod_vec_dot_bf16}, {GGML_TYPE_F32, arm_dotprod_vec_dot_f32}}};
        const char *nm = v ? "dotprod" : "neon";
        for (int i = 0; i < 8; i++) {
            int t = da[v][i].t;
            const quant_traits *tr = quant_get_traits((uint32_t)t);
            int ns = sizes_for(t, sz);
            for (int k = 0; k < ns; k++)
                check_dot(nm, t, da[v][i].f, tr->vec_dot, tr->vec_dot_type, sz[k], (k + 1) % 4);
            if (t == GGML_TYPE_Q4_K || t == GGML_TYPE_Q5_K || t == GGML_TYPE_Q6_K)
                for (int nb = 1; nb <= 9; nb += 4)
                    check_dot_raw(nm, t, da[v][i].f, tr->vec_dot, nb);
        }
        for (int nb = 1; nb <= 13; nb += 3) {
            check_quantizer(nm, GGML_TYPE_Q8_K, v ? arm_dotprod_quantize_q8_K : arm_neon_quantize_q8_K, quant_ref_q8_K, nb * 256, nb % 4);
            check_quantizer(nm, GGML_TYPE_Q8_0, v ? arm_dotprod_quantize_q8_0 : arm_neon_quantize_q8_0, quant_act_q8_0, nb * 32, nb % 4);
        }
    }
#endif
    TEST_END();
}
