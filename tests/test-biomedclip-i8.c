/* test-biomedclip-i8.c - BiomedCLIP's own product kernels. The I8_PC per-channel int8 type
 * (quant/i8pc.h) and its products (ops/gemm-i8.h): reference quantizers on hand-checked rows, the
 * type's traits and GGUF sizing (a file written and read back), and the tile of this CPU against
 * the reference dot at odd sizes (every output bit for bit: the integer sums are exact). The
 * small-batch F32 and F16 tiles (ops/gemm-f32s.h) against fmaf summed in k order, bit for bit. */
#define TEST_RNG_SEED 88172645463325252ull
#include "test.h"
#include "i8-check.h"
#include "core/error.h"
#include "formats/gguf.h"
#include "ops/gemm-f32s.h"
#include "ops/gemm-i8.h"
#include "quant/i8pc.h"
#include "quant/quant.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void test_reference(void)
{
    /* 32 values: amax 2.54 -> d = 0.02, codes round(x / 0.02) with halves to even */
    float x[32] = {0};
    x[0] = 2.54f, x[1] = -2.54f, x[2] = 0.01f, x[3] = 0.03f, x[4] = -1.0f, x[5] = 0.0f, x[6] = 1.27f;
    uint8_t row[36];
    quant_i8pc_quantize_row(x, row, 32);
    float d;
    memcpy(&d, row, 4);
    CHECK_NEAR(d, 0.02f, 1e-8);
    const int8_t *q = (const int8_t *)(row + 4);
    CHECK_EQ_INT(q[0], 127);
    CHECK_EQ_INT(q[1], -127);
    CHECK_EQ_INT(q[4], -50);
    CHECK_EQ_INT(q[5], 0);
    CHECK(q[6] == 63 || q[6] == 64); /* 63.5 up to float rounding of 127 / 2.54 */
    CHECK_EQ_INT(q[2], (int)lrintf(0.01f * (127.0f / 2.54f)));
    float y[32];
    quant_i8pc_dequant_row(row, y, 32);
    CHECK_NEAR(y[4], -1.0f, 1e-6);
    /* activation row: same codes, plus the code sum */
    uint8_t act[40];
    CHECK_EQ_INT(quant_i8pc_act_bytes(32), 40);
    quant_i8pc_quantize_act(x, act, 32);
    CHECK(memcmp(act, row, 4) == 0 && memcmp(act + 8, row + 4, 32) == 0);
    int32_t sum = 0, s;
    for (int i = 0; i < 32; i++)
        sum += q[i];
    memcpy(&s, act + 4, 4);
    CHECK_EQ_INT(s, sum);
    /* dot: (float)isum * (dw * da) */
    int32_t isum = 0;
    for (int i = 0; i < 32; i++)
        isum += (int32_t)q[i] * q[i];
    CHECK(quant_i8pc_dot(32, row, act) == (float)isum * (d * d));
    /* a zero row: d = 0, codes 0 */
    float z[32] = {0};
    quant_i8pc_quantize_row(z, row, 32);
    memcpy(&d, row, 4);
    CHECK(d == 0.0f);
    for (int i = 0; i < 32; i++)
        CHECK(row[4 + i] == 0);
}

static void test_traits_gguf(void)
{
    const quant_traits *tr = quant_get_traits(MEDGE_TYPE_I8_PC);
    CHECK(tr != NULL);
    if (!tr)
        return;
    CHECK_STR(quant_type_name(MEDGE_TYPE_I8_PC), "I8_PC");
    CHECK_EQ_INT(quant_type_from_name("i8_pc"), (long long)MEDGE_TYPE_I8_PC);
    CHECK_EQ_INT(quant_row_size(MEDGE_TYPE_I8_PC, 768), 772);
    CHECK_EQ_INT(quant_row_size(MEDGE_TYPE_I8_PC, 48), 0); /* not a multiple of 32 */
    CHECK(quant_get_traits(40) == NULL);                    /* ggml's next id stays unknown */
    CHECK(tr->to_float == NULL);
    CHECK(quant_can_quantize(MEDGE_TYPE_I8_PC));
    /* quant_quantize_rows row by row = the reference row quantizer */
    enum { N = 64, R = 3 };
    float w[R * N];
    for (int i = 0; i < R * N; i++)
        w[i] = frand();
    uint8_t *a = malloc(R * 68), *b = malloc(R * 68);
    CHECK_EQ_INT(quant_quantize_rows(MEDGE_TYPE_I8_PC, w, a, R, N, NULL), R * 68);
    for (int r = 0; r < R; r++)
        quant_i8pc_quantize_row(w + r * N, b + r * 68, N);
    CHECK(memcmp(a, b, R * 68) == 0);
    /* a GGUF tensor of the type: sized rows * (4 + n), read back as written */
    const char *path = test_tmp("i8pc.gguf");
    gguf_writer *gw = NULL;
    CHECK_OK(gguf_writer_open(path, &gw));
    if (!gw) {
        free(a);
        free(b);
        return;
    }
    const int64_t ne[2] = {N, R};
    CHECK_OK(gguf_writer_add_tensor(gw, "w", MEDGE_TYPE_I8_PC, 2, ne));
    CHECK_OK(gguf_writer_add_tensor(gw, "after", GGML_TYPE_F32, 1, ne));
    CHECK_OK(gguf_writer_begin_data(gw));
    CHECK_OK(gguf_writer_write(gw, a, R * 68));
    CHECK_OK(gguf_writer_write(gw, w, N * sizeof(float)));
    CHECK_OK(gguf_writer_finish(gw));
    gguf_writer_free(gw);
    gguf_ctx *g = NULL;
    CHECK_OK(gguf_open(path, &g));
    const gguf_tensor *t = g ? gguf_get_tensor(g, "w") : NULL, *t2 = g ? gguf_get_tensor(g, "after") : NULL;
    CHECK(t && t->type == (uint32_t)MEDGE_TYPE_I8_PC && t->nbytes == R * 68 && t->data && memcmp(t->data, a, R * 68) == 0);
    CHECK(t2 && t2->data && memcmp(t2->data, w, N * sizeof(float)) == 0);
    gguf_close(g);
    free(a);
    free(b);
}

/* the tile of tab (after its pack_w / quantize_act) equals quant_i8pc_dot on every output;
 * activations with an outlier every 97 values */
static void test_tile(const ops_i8_gemm *tab, int n, int nrows, int nt)
{
    float *x = malloc(sizeof(float) * (size_t)n * nt);
    if (!x) {
        CHECK(0);
        return;
    }
    for (int i = 0; i < n * nt; i++)
        x[i] = (i % 97 == 0 ? 30.0f : 1.0f) * frand();
    i8_check_table(tab, n, nrows, nt, x);
    free(x);
}

/* the small-batch table f (F32 weights, or F16 when f16) against fmaf in k order over the weights
 * as floats (F16: widened) */
static void test_f32s(const ops_f32s_gemm *f, int n, int nrows, int nt, bool f16)
{
    /* activation rows of n values, ldx = n + 1 apart */
    float *w = malloc(sizeof(float) * (size_t)n * nrows), *x = malloc(sizeof(float) * (size_t)(n + 1) * nt);
    uint16_t *wh = malloc(sizeof(uint16_t) * (size_t)n * nrows);
    for (int i = 0; i < n * nrows; i++) {
        w[i] = frand() * (i % 53 == 0 ? 1e-5f : 1.0f); /* F16 subnormals too */
        if (f16) {
            wh[i] = medge_fp32_to_fp16(w[i]);
            w[i] = medge_fp16_to_fp32(wh[i]);
        }
    }
    for (int i = 0; i < (n + 1) * nt; i++)
        x[i] = frand();
    const int R = f->rows, npan = (nrows + R - 1) / R;
    const size_t pb = (f->panel_bytes(n) + 63) / 64 * 64, ys = (size_t)nrows + 2, ldx = (size_t)n + 1;
    uint8_t *panels = aligned_alloc(64, pb * npan), *act = aligned_alloc(64, (f->act_bytes(n, nt) + 63) / 64 * 64);
    float *y = malloc(sizeof(float) * ys * nt);
    for (size_t i = 0; i < ys * nt; i++)
        y[i] = -7.0f;
    for (int p = 0; p < npan; p++)
        f->pack_w(n, nrows - p * R < R ? nrows - p * R : R,
                  f16 ? (const void *)(wh + (size_t)p * R * n) : (const void *)(w + (size_t)p * R * n),
                  (size_t)n * (f16 ? 2 : 4), panels + (size_t)p * pb);
    int split = nt / 2 / f->act_group * f->act_group;
    f->pack_act(x, ldx, n, 0, split, act);
    f->pack_act(x, ldx, n, split, nt, act);
    for (int p = 0; p < npan; p++)
        f->tile(n, nrows - p * R < R ? nrows - p * R : R, nt, panels + (size_t)p * pb, act, y + p * R, ys);
    int bad = 0;
    for (int t = 0; t < nt; t++) {
        for (int r = 0; r < nrows; r++) {
            float acc = 0;
            for (int k = 0; k < n; k++)
                acc = fmaf(w[(size_t)r * n + k], x[(size_t)t * ldx + k], acc);
            if (y[(size_t)t * ys + r] != acc && bad++ < 3)
                fprintf(stderr, "%s n=%d rows=%d nt=%d: y[%d][%d] = %.9g, want %.9g\n", f->name, n, nrows, nt, t, r,
                        y[(size_t)t * ys + r], acc);
        }
        for (size_t r = (size_t)nrows; r < ys; r++)
            bad += y[(size_t)t * ys + r] != -7.0f;
    }
    CHECK_MSG(bad == 0, "%s: %d outputs differ (n %d, rows %d, tokens %d)", f->name, bad, n, nrows, nt);
    free(w);
    free(wh);
    free(x);
    free(panels);
    free(act);
    free(y);
}

int main(void)
{
    test_reference();
    test_traits_gguf();
    printf("I8_PC products: %s; tested:", ops_i8_gemm_get()->name);
    for (int k = 0; ops_i8_gemm_variant(k); k++)
        printf(" %s", ops_i8_gemm_variant(k)->name);
    printf("\n");
    const int ns[] = {32, 96, 768}, rows[] = {1, 7, 8, 9, 15, 16, 17, 33, 64, 70}, toks[] = {1, 5, 8, 9, 12, 13, 25, 31};
    for (int k = 0; ops_i8_gemm_variant(k); k++)
        for (size_t a = 0; a < sizeof ns / sizeof *ns; a++)
            for (size_t b = 0; b < sizeof rows / sizeof *rows; b++)
                for (size_t c = 0; c < sizeof toks / sizeof *toks; c++)
                    test_tile(ops_i8_gemm_variant(k), ns[a], rows[b], toks[c]);
    const ops_f32s_gemm *f = ops_f32s_gemm_get(), *h = ops_f32s_gemm_for(GGML_TYPE_F16);
    CHECK(ops_f32s_gemm_for(GGML_TYPE_F32) == f);
    CHECK(ops_f32s_gemm_for(GGML_TYPE_Q8_0) == NULL && (f || !h));
    printf("small-batch F32 / F16 products: %s / %s\n", f ? f->name : "none (kernel table)",
           h ? h->name : "none (kernel table)");
    const int fn[] = {1, 7, 64, 768}, fr[] = {1, 16, 17, 40}, ft[] = {1, 5, 16, 17, 33};
    for (size_t a = 0; a < sizeof fn / sizeof *fn; a++)
        for (size_t b = 0; b < sizeof fr / sizeof *fr; b++)
            for (size_t c = 0; c < sizeof ft / sizeof *ft; c++) {
                if (f)
                    test_f32s(f, fn[a], fr[b], ft[c], false);
                if (h)
                    test_f32s(h, fn[a], fr[b], ft[c], true);
            }
    TEST_END();
}
