/* test-biomedclip-synth.c - `medge synth --preset biomedclip[-tiny]`: the synthetic checkpoint must
 * convert into a GGUF with exactly the keys, tensor names, types and shapes that converting the
 * real-layout reference checkpoint (../shared/reference/biomedclip-tiny, the same shapes) gives;
 * the open_clip directory and the direct GGUF carry the same numbers; the synthetic WordPiece
 * vocabulary tokenizes the benchmark prompt into 16 whole-word ids; Q8_0 is what quant_model makes;
 * the model runs. */
#include "test.h"

#include "convert/biomedclip.h"
#include "convert/synth.h"
#include "core/file.h"
#include "formats/gguf.h"
#include "models/biomedclip.h"
#include "quant/types.h"

#include <math.h>
#include <unistd.h>

/* The prompt bench/biomedclip.md times (16 ids with [CLS] and [SEP]). */
#define BENCH_PROMPT "a chest x-ray showing a large pleural effusion in the left lung"

static int same_value(const gguf_value *a, const gguf_value *b)
{
    if (a->type != b->type)
        return 0;
    switch (a->type) {
    case GGUF_STR: return a->str.len == b->str.len && memcmp(a->str.s, b->str.s, a->str.len) == 0;
    case GGUF_ARR:
        if (a->arr.type != b->arr.type || a->arr.n != b->arr.n)
            return 0;
        if (a->arr.type == GGUF_STR) {
            const gguf_str *x = a->arr.data, *y = b->arr.data;
            for (uint64_t i = 0; i < a->arr.n; i++)
                if (x[i].len != y[i].len || memcmp(x[i].s, y[i].s, x[i].len) != 0)
                    return 0;
            return 1;
        }
        return a->arr.type != GGUF_ARR &&
               memcmp(a->arr.data, b->arr.data, (size_t)a->arr.n * gguf_vtype_size(a->arr.type)) == 0;
    default: return memcmp(&a->u64, &b->u64, gguf_vtype_size(a->type)) == 0;
    }
}

/* Same keys (values too, except the name and the logit scale), same tensors in the same order. */
static void compare_layout(const char *synth_path, const char *ref_path)
{
    gguf_ctx *a = NULL, *b = NULL;
    CHECK_OK(gguf_open(synth_path, &a));
    CHECK_OK(gguf_open(ref_path, &b));
    if (!a || !b) {
        gguf_close(a);
        gguf_close(b);
        return;
    }
    CHECK_EQ_INT(a->n_kv, b->n_kv);
    for (uint64_t i = 0; i < b->n_kv; i++) {
        const char *k = b->kv[i].key.s;
        const gguf_value *va = gguf_get(a, k);
        CHECK_MSG(va != NULL, "synthetic GGUF lacks key %s", k);
        if (!va)
            continue;
        if (!strcmp(k, "general.name") || !strcmp(k, "clip.logit_scale"))
            CHECK_EQ_INT(va->type, b->kv[i].v.type);
        else
            CHECK_MSG(same_value(va, &b->kv[i].v), "key %s differs", k);
    }
    float ls = 0;
    CHECK_OK(gguf_get_f32(a, "clip.logit_scale", &ls));
    CHECK_NEAR(ls, logf(100.0f), 1e-6);
    CHECK_EQ_INT(a->n_tensors, b->n_tensors);
    for (uint64_t i = 0; i < a->n_tensors && i < b->n_tensors; i++) {
        const gguf_tensor *x = &a->tensors[i], *y = &b->tensors[i];
        int same = !strcmp(x->name.s, y->name.s) && x->type == y->type && x->n_dims == y->n_dims &&
                   memcmp(x->ne, y->ne, sizeof x->ne) == 0;
        CHECK_MSG(same, "tensor %llu: %s (%s, %u dims) vs %s (%s, %u dims)", (unsigned long long)i, x->name.s,
                  quant_type_name(x->type), x->n_dims, y->name.s, quant_type_name(y->type), y->n_dims);
    }
    gguf_close(a);
    gguf_close(b);
}

/* Tensor data of two GGUFs with the same tensor list. */
static int same_data(const char *p1, const char *p2)
{
    gguf_ctx *a = NULL, *b = NULL;
    CHECK_OK(gguf_open(p1, &a));
    CHECK_OK(gguf_open(p2, &b));
    int same = a && b && a->n_tensors == b->n_tensors;
    for (uint64_t i = 0; same && i < a->n_tensors; i++)
        same = a->tensors[i].nbytes == b->tensors[i].nbytes &&
               memcmp(a->tensors[i].data, b->tensors[i].data, (size_t)a->tensors[i].nbytes) == 0;
    gguf_close(a);
    gguf_close(b);
    return same;
}

static void run_model(const char *path, int q8)
{
    gguf_ctx *g = NULL;
    bmc_model *m = NULL;
    CHECK_OK(gguf_open(path, &g));
    if (g) {
        if (q8) {
            const gguf_tensor *t = gguf_get_tensor(g, "v.blk.0.attn_qkv.weight");
            CHECK(t && t->type == GGML_TYPE_Q8_0);
            t = gguf_get_tensor(g, "t.token_embd.weight");
            CHECK(t && t->type == GGML_TYPE_Q8_0);
            t = gguf_get_tensor(g, "v.patch_embd.weight"); /* rows of 16: llama-quantize's F16 fallback */
            CHECK(t && t->type == GGML_TYPE_F16);
            t = gguf_get_tensor(g, "v.blk.0.ln1.weight");
            CHECK(t && t->type == GGML_TYPE_F32);
        }
        CHECK_OK(bmc_load(g, &m));
    }
    if (!m)
        return;
    int32_t *ids = NULL;
    int n = 0;
    CHECK_OK(bmc_tokenize(m, BENCH_PROMPT, &ids, &n));
    CHECK_EQ_INT(n, 16);
    if (n == 16) {
        CHECK_EQ_INT(ids[0], 101);
        CHECK_EQ_INT(ids[15], 102);
        for (int i = 1; i < 15; i++)
            CHECK_MSG(ids[i] > 998 && ids[i] != 100, "id %d = %d: not a word of the synthetic vocabulary", i, ids[i]);
    }
    medge_pool *pool = NULL;
    CHECK_OK(medge_pool_create(2, &pool));
    bmc_work wk = {pool, {0}, NULL, 0};
    float t[128], im[128];
    if (ids)
        CHECK_OK(bmc_encode_text(m, &wk, ids, n, t));
    float *pix = malloc(3 * 224 * 224 * sizeof *pix);
    for (int i = 0; pix && i < 3 * 224 * 224; i++)
        pix[i] = (float)((i * 7919) % 255) / 127.5f - 1.0f;
    if (pix)
        CHECK_OK(bmc_encode_image(m, &wk, pix, im));
    double nt = 0, ni = 0;
    for (int i = 0; i < 128; i++) {
        CHECK(isfinite(t[i]) && isfinite(im[i]));
        nt += (double)t[i] * t[i];
        ni += (double)im[i] * im[i];
    }
    CHECK_MSG(nt > 1e-6 && ni > 1e-6, "text |f|^2 %g, image |f|^2 %g", nt, ni);
    free(pix);
    free(ids);
    bmc_work_free(&wk);
    medge_pool_free(pool);
    bmc_free(m);
}

int main(void)
{
    const char *ref_dir = test_ref("biomedclip-tiny");
    char ref[1024], a[1024], b[1024], hf[1024], q8[1024], s7[1024];
    snprintf(ref, sizeof ref, "%s", test_tmp("bmc-synth-ref.gguf"));
    snprintf(a, sizeof a, "%s", test_tmp("bmc-synth-a.gguf"));
    snprintf(b, sizeof b, "%s", test_tmp("bmc-synth-b.gguf"));
    snprintf(hf, sizeof hf, "%s", test_tmp("bmc-synth-hf"));
    snprintf(q8, sizeof q8, "%s", test_tmp("bmc-synth-q8.gguf"));
    snprintf(s7, sizeof s7, "%s", test_tmp("bmc-synth-s7.gguf"));
    CHECK_OK(bmc_convert(ref_dir, ref, NULL));

    /* With the reference's vocab.txt, the synthetic GGUF matches the converted reference key by key. */
    synth_params p = synth_default_params();
    p.preset = "biomedclip-tiny";
    p.type = NULL;
    p.n_threads = 2;
    p.tokenizer_dir = ref_dir;
    CHECK_OK(synth_write(&p, a, NULL));
    compare_layout(a, ref);
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.synth-ckpt", a);
    CHECK(access(tmp, F_OK) != 0); /* the temporary checkpoint is gone */

    /* The open_clip directory converts into the same tensor data (one thread here: the values do
     * not depend on the thread count). */
    p.format = SYNTH_HF;
    p.n_threads = 1;
    CHECK_OK(synth_write(&p, hf, NULL));
    CHECK_OK(bmc_convert(hf, b, NULL));
    CHECK(same_data(a, b));
    compare_layout(b, ref);

    /* Another seed, other numbers. */
    p.format = SYNTH_GGUF;
    p.seed = 7;
    CHECK_OK(synth_write(&p, s7, NULL));
    CHECK(!same_data(a, s7));

    /* Synthetic vocabulary, Q8_0 as quant_model chooses it; the model runs. */
    p.seed = 42;
    p.tokenizer_dir = NULL;
    p.type = "Q8_0";
    p.n_threads = 2;
    CHECK_OK(synth_write(&p, q8, NULL));
    run_model(q8, 1);
    p.type = "F32";
    CHECK_OK(synth_write(&p, b, NULL));
    run_model(b, 0);

    /* Bad requests. */
    p.type = "Q9_9";
    CHECK_EQ_INT(synth_write(&p, b, NULL), MEDGE_ERR_INVALID_ARG);
    p.type = NULL;
    CHECK_EQ_INT(synth_write(&p, b, "mmproj.gguf"), MEDGE_ERR_INVALID_ARG);
    TEST_END();
}
