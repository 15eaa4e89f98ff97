/* test-imatrix.c - `medge imatrix` against llama-imatrix: medge's F32 conversion of the tiny
 * Gemma 3 over imatrix/calibration.txt with chunks of 64 tokens must give the values of
 * imatrix-tiny-c64.gguf (relative difference <= 1e-3 per value) with the same counts, names and
 * shapes; the accumulation step on a known input; the GGUF round trip; `medge quantize --imatrix`
 * accepting the result; errors for a too short text. Under sanitizers: 3 chunks only (counts,
 * names and shapes still checked against the reference). */
#include "test.h"
#include "medge.h"
#include "core/file.h"
#include "formats/gguf.h"
#include "quant/imatrix.h"
#include "runtime/imatrix.h"
#include "text/spm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tokenize(const char *model, const char *text, int32_t **ids, size_t *n, int32_t *bos)
{
    gguf_ctx *g = NULL;
    spm_vocab *v = NULL;
    medge_map m = {0};
    int ok = gguf_open(model, &g) == MEDGE_OK && spm_load_gguf(g, &v) == MEDGE_OK &&
             medge_read_file(text, &m) == MEDGE_OK;
    if (ok) {
        size_t len = (size_t)m.size;
        if (len && m.data[len - 1] == '\n')
            len--;
        ok = spm_encode(v, (const char *)m.data, len, SPM_ADD_BOS, ids, n) == MEDGE_OK;
        *bos = spm_specials(v)->bos;
    }
    medge_unmap(&m);
    spm_free(v);
    gguf_close(g);
    return ok;
}

static void check_accumulate(void)
{
    quant_imatrix *im = NULL;
    CHECK_OK(quant_imatrix_new(4, &im));
    const float x[2][3] = {{1, -2, 0.5f}, {3, 0, -1}};
    CHECK_OK(runtime_imatrix_accumulate(im, "blk.0.attn_q.weight", 3, &x[0][0], 2));
    CHECK_OK(runtime_imatrix_accumulate(im, "blk.0.attn_q.weight", 3, &x[1][0], 1));
    const quant_imatrix_entry *e = quant_imatrix_find(im, "blk.0.attn_q.weight");
    CHECK(e != NULL);
    if (e) {
        CHECK_NEAR(e->sums[0], 19.0, 0); /* 1 + 9 + 9 */
        CHECK_NEAR(e->sums[1], 4.0, 0);
        CHECK_NEAR(e->sums[2], 2.25, 0); /* 0.25 + 1 + 1 */
        CHECK_NEAR(e->counts[0], 3.0, 0);
    }
    const float bad[2] = {1, NAN};
    CHECK_EQ_INT(runtime_imatrix_accumulate(im, "blk.0.attn_k.weight", 2, bad, 1), MEDGE_ERR_RANGE);
    CHECK_EQ_INT(runtime_imatrix_accumulate(im, "blk.0.attn_q.weight", 2, bad, 1), MEDGE_ERR_INVALID_ARG);
    quant_imatrix_free(im);
}

int main(void)
{
    int sanitized = getenv("MEDGE_SANITIZED") != NULL;
    check_accumulate();
    const char *bin = getenv("MEDGE_BIN");
    CHECK_MSG(bin && bin[0], "MEDGE_BIN is not set (run through ctest)");
    if (!bin || !bin[0])
        TEST_END();
    const char *f32 = test_tmp("imatrix-tiny-f32.gguf");
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "\"%s\" convert \"%s\" -o \"%s\" --outtype f32 -q > /dev/null", bin,
             test_ref("gemma3-tiny/hf"), f32);
    CHECK_MSG(system(cmd) == 0, "medge convert failed: %s", cmd);

    int32_t *ids = NULL;
    size_t n = 0;
    int32_t bos = -1;
    CHECK(tokenize(f32, test_ref("gemma3-tiny/imatrix/calibration.txt"), &ids, &n, &bos));
    CHECK_EQ_INT(bos, 2);
    medge_model *m = NULL;
    CHECK_OK(medge_model_load(f32, medge_model_default_params(), &m));
    quant_imatrix *ref = NULL, *im = NULL;
    CHECK_OK(quant_imatrix_load(test_ref("gemma3-tiny/imatrix/imatrix-tiny-c64.gguf"), &ref));
    if (!m || !ref || !ids) {
        TEST_END();
    }
    int chunks = sanitized ? 3 : 0;
    runtime_imatrix_params p = {64, chunks, 2, bos, NULL, NULL};
    CHECK_EQ_INT(runtime_imatrix_n_chunks(n, &p), sanitized ? 3 : 95);
    CHECK_OK(quant_imatrix_new(64, &im));
    CHECK_OK(runtime_imatrix_compute(m, ids, n, &p, im));
    CHECK_EQ_INT((int)im->chunk_count, sanitized ? 3 : (int)ref->chunk_count);
    CHECK_EQ_INT((int)ref->chunk_count, 95);
    CHECK_EQ_INT((int)im->n, (int)ref->n);
    CHECK_EQ_INT((int)im->n, 56);
    double worst = 0;
    for (uint64_t i = 0; i < ref->n; i++) {
        const quant_imatrix_entry *r = &ref->e[i];
        const quant_imatrix_entry *e = quant_imatrix_find(im, r->name);
        CHECK_MSG(e != NULL, "no entry %s", r->name);
        if (!e)
            continue;
        CHECK_EQ_INT((int)e->ne0, (int)r->ne0);
        CHECK_EQ_INT((int)e->n_mat, 1);
        if (e->ne0 != r->ne0)
            continue;
        CHECK_NEAR(e->counts[0], sanitized ? 3.0 * 64 : (double)r->counts[0], 0);
        if (sanitized)
            continue;
        for (int64_t j = 0; j < r->ne0; j++) {
            double d = fabs((double)e->sums[j] - (double)r->sums[j]) / fabs((double)r->sums[j]);
            if (d > worst)
                worst = d;
        }
    }
    if (!sanitized) {
        printf("imatrix: largest relative difference to llama-imatrix %.3g over %d entries\n", worst, (int)ref->n);
        CHECK_MSG(worst <= 1e-3, "relative difference %.3g > 1e-3", worst);
    }

    /* write, read back, quantize with it */
    const char *out = test_tmp("imatrix-tiny-medge.gguf");
    CHECK_OK(quant_imatrix_add_dataset(im, "calibration.txt"));
    CHECK_OK(quant_imatrix_write(im, out));
    quant_imatrix *back = NULL;
    CHECK_OK(quant_imatrix_load(out, &back));
    if (back) {
        CHECK_EQ_INT((int)back->n, (int)im->n);
        CHECK_EQ_INT((int)back->chunk_size, 64);
        CHECK_EQ_INT((int)back->chunk_count, (int)im->chunk_count);
        for (uint64_t i = 0; i < im->n; i++) {
            const quant_imatrix_entry *b = quant_imatrix_find(back, im->e[i].name);
            CHECK(b && b->ne0 == im->e[i].ne0 &&
                  !memcmp(b->sums, im->e[i].sums, (size_t)b->ne0 * sizeof(float)) && b->counts[0] == im->e[i].counts[0]);
        }
    }
    quant_imatrix_free(back);
    const char *q = test_tmp("imatrix-tiny-q4ks.gguf");
    snprintf(cmd, sizeof cmd, "\"%s\" quantize -q -t 2 --imatrix \"%s\" \"%s\" \"%s\" Q4_K_S > /dev/null", bin, out, f32, q);
    CHECK_MSG(system(cmd) == 0, "medge quantize --imatrix failed: %s", cmd);

    /* a text shorter than two chunks */
    quant_imatrix *small = NULL;
    CHECK_OK(quant_imatrix_new(64, &small));
    CHECK_EQ_INT(runtime_imatrix_compute(m, ids, 127, &p, small), MEDGE_ERR_RANGE);
    quant_imatrix_free(small);

    quant_imatrix_free(im);
    quant_imatrix_free(ref);
    medge_model_free(m);
    free(ids);
    remove(out);
    remove(q);
    remove(f32);
    TEST_END();
}
