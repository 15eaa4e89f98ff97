/* test-quant-model.c - whole-model quantization against llama.cpp's files of the tiny Gemma 3:
 * an F32 GGUF is assembled from llama.cpp's F16 conversion (structure, metadata, F32 norms) and
 * the Hugging Face BF16 weights (exact in F32), then quantized to Q4_K_S, Q8_0, Q4_K_M, Q4_0 and
 * Q6_K (compared tensor by tensor, type, shape and bytes, and key by key with llama-quantize's
 * GGUFs) and with the reference imatrix to Q4_K_S and IQ4_XS (compared with the manifests'
 * SHA-256). Also: the imatrix reader/writer round trip, fallbacks, --pure on an arch-less file,
 * overrides, and failures that must leave no output file. */
#include "test.h"
#include "core/sha256.h"
#include "core/json.h"
#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "quant/imatrix.h"
#include "quant/model-quant.h"
#include "quant/quant.h"

#include <unistd.h>

static const char *hf_name(const char *gg, char *buf, size_t n)
{
    static const char *const map[][2] = {{"attn_q", "self_attn.q_proj"},  {"attn_k", "self_attn.k_proj"},
                                         {"attn_v", "self_attn.v_proj"},  {"attn_output", "self_attn.o_proj"},
                                         {"ffn_gate", "mlp.gate_proj"},   {"ffn_up", "mlp.up_proj"},
                                         {"ffn_down", "mlp.down_proj"}};
    if (strcmp(gg, "token_embd.weight") == 0) {
        snprintf(buf, n, "language_model.model.embed_tokens.weight");
        return buf;
    }
    int layer;
    char kind[64];
    if (sscanf(gg, "blk.%d.%63[a-z_].weight", &layer, kind) != 2)
        return NULL;
    for (size_t i = 0; i < sizeof map / sizeof *map; i++)
        if (strcmp(kind, map[i][0]) == 0) {
            snprintf(buf, n, "language_model.model.layers.%d.%s.weight", layer, map[i][1]);
            return buf;
        }
    return NULL;
}

/* llama.cpp's F32 conversion of hf/: the F16 file's layout with the BF16 weights widened */
static int make_f32(const char *out)
{
    gguf_ctx *g = NULL;
    st_model *st = NULL;
    gguf_writer *w = NULL;
    int ok = 0;
    if (gguf_open(test_ref("gemma3-tiny/gguf/tiny-gemma3-f16.gguf"), &g) != MEDGE_OK ||
        st_open(test_ref("gemma3-tiny/hf"), &st) != MEDGE_OK || gguf_writer_open(out, &w) != MEDGE_OK)
        goto done;
    if (gguf_writer_copy_kv(w, g) != MEDGE_OK)
        goto done;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const gguf_tensor *t = &g->tensors[i];
        if (gguf_writer_add_tensor(w, t->name.s, t->type == GGML_TYPE_F16 ? GGML_TYPE_F32 : t->type, t->n_dims, t->ne) != MEDGE_OK)
            goto done;
    }
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const gguf_tensor *t = &g->tensors[i];
        if (t->type != GGML_TYPE_F16) {
            if (gguf_writer_write(w, t->data, t->nbytes) != MEDGE_OK)
                goto done;
            continue;
        }
        char buf[160];
        const st_tensor *s = hf_name(t->name.s, buf, sizeof buf) ? st_find(st, buf) : NULL;
        CHECK_MSG(s && s->dtype == ST_BF16, "no BF16 source for %s", t->name.s);
        if (!s)
            goto done;
        const uint64_t nel = t->nbytes / 2;
        CHECK(s->nbytes >= nel * 2);
        float *f = malloc(nel * sizeof(float));
        for (uint64_t k = 0; k < nel; k++) {
            uint16_t h;
            memcpy(&h, (const uint8_t *)s->data + 2 * k, 2);
            f[k] = medge_bf16_to_fp32(h);
        }
        medge_status rc = gguf_writer_write(w, f, nel * sizeof(float));
        free(f);
        if (rc != MEDGE_OK)
            goto done;
    }
    ok = gguf_writer_finish(w) == MEDGE_OK;
done:
    gguf_writer_free(w);
    st_close(st);
    gguf_close(g);
    CHECK_MSG(ok, "building the F32 model: %s", medge_errmsg(NULL));
    return ok;
}

static int quantize(const char *in, const char *out, const char *type, const char *imatrix, bool pure)
{
    quant_model_params p = quant_model_default_params();
    p.recipe.ftype = quant_ftype_from_name(type);
    p.recipe.pure = pure;
    p.imatrix_path = imatrix;
    p.n_threads = 2;
    quant_model_result r;
    medge_status rc = quant_model(in, out, &p, &r);
    CHECK_MSG(rc == MEDGE_OK, "quantize %s: %s", type, medge_errmsg(NULL));
    return rc == MEDGE_OK;
}

/* every tensor and key equal to llama.cpp's GGUF */
static void compare_gguf(const char *mine, const char *ref)
{
    gguf_ctx *a = NULL, *b = NULL;
    CHECK_OK(gguf_open(mine, &a));
    CHECK_OK(gguf_open(ref, &b));
    if (!a || !b)
        goto done;
    CHECK_EQ_INT(a->n_tensors, b->n_tensors);
    int bad = 0;
    for (uint64_t i = 0; i < a->n_tensors && i < b->n_tensors; i++) {
        const gguf_tensor *x = &a->tensors[i], *y = &b->tensors[i];
        if (strcmp(x->name.s, y->name.s) || x->type != y->type || x->nbytes != y->nbytes ||
            memcmp(x->ne, y->ne, sizeof x->ne) || memcmp(x->data, y->data, x->nbytes)) {
            if (bad++ < 5)
                fprintf(stderr, "%s: tensor %llu %s (%s) differs from %s (%s)\n", mine, (unsigned long long)i, x->name.s,
                        quant_type_name(x->type), y->name.s, quant_type_name(y->type));
        }
    }
    CHECK_MSG(bad == 0, "%s: %d tensors differ from %s", mine, bad, ref);
    CHECK_EQ_INT(a->n_kv, b->n_kv);
    for (uint64_t i = 0; i < a->n_kv && i < b->n_kv; i++) {
        CHECK_STR(a->kv[i].key.s, b->kv[i].key.s);
        CHECK_EQ_INT(a->kv[i].v.type, b->kv[i].v.type);
    }
    uint32_t fa = 0, fb = 1;
    gguf_get_u32(a, "general.file_type", &fa);
    gguf_get_u32(b, "general.file_type", &fb);
    CHECK_EQ_INT(fa, fb);
done:
    gguf_close(a);
    gguf_close(b);
}

/* tensors (name, type, dims, SHA-256) and keys as in a reference manifest */
static void compare_manifest(const char *mine, const char *manifest)
{
    gguf_ctx *a = NULL;
    json_doc *d = NULL;
    CHECK_OK(gguf_open(mine, &a));
    CHECK_OK(json_parse_file(manifest, &d));
    if (!a || !d)
        goto done;
    const json_value *ts = json_get(json_root(d), "tensors"), *kv = json_get(json_root(d), "kv");
    CHECK(ts && ts->type == JSON_ARRAY && kv && kv->type == JSON_ARRAY);
    if (!ts || !kv)
        goto done;
    CHECK_EQ_INT(ts->len, a->n_tensors);
    int bad = 0;
    for (size_t i = 0; i < ts->len && i < a->n_tensors; i++) {
        const json_value *t = &ts->items[i];
        const gguf_tensor *x = &a->tensors[i];
        char hex[65];
        medge_sha256_hex(x->data, (size_t)x->nbytes, hex);
        const char *name = json_get_str(t, "name"), *type = json_get_str(t, "type"), *sha = json_get_str(t, "sha256");
        if (!name || !type || !sha || strcmp(name, x->name.s) || strcmp(type, quant_type_name(x->type)) || strcmp(sha, hex)) {
            if (bad++ < 5)
                fprintf(stderr, "%s: tensor %zu %s %s differs from the manifest (%s %s)\n", mine, i, x->name.s,
                        quant_type_name(x->type), name ? name : "?", type ? type : "?");
        }
    }
    CHECK_MSG(bad == 0, "%s: %d tensors differ from %s", mine, bad, manifest);
    CHECK_EQ_INT(kv->len, a->n_kv);
    for (size_t i = 0; i < kv->len && i < a->n_kv; i++)
        CHECK_STR(a->kv[i].key.s, json_get_str(&kv->items[i], "key"));
    uint32_t n = 0;
    CHECK_OK(gguf_get_u32(a, "quantize.imatrix.entries_count", &n));
    CHECK_EQ_INT(n, 56);
    CHECK_OK(gguf_get_u32(a, "quantize.imatrix.chunks_count", &n));
    CHECK_EQ_INT(n, 95);
    const char *ds = NULL;
    CHECK_OK(gguf_get_str(a, "quantize.imatrix.dataset", &ds));
    CHECK_STR(ds, "calib.txt");
done:
    json_free(d);
    gguf_close(a);
}

static void test_imatrix_roundtrip(void)
{
    quant_imatrix *im = NULL;
    CHECK_OK(quant_imatrix_load(test_ref("gemma3-tiny/imatrix/imatrix-tiny-c64.gguf"), &im));
    if (!im)
        return;
    CHECK_EQ_INT(im->n, 56);
    CHECK_EQ_INT(im->chunk_count, 95);
    CHECK_EQ_INT(im->chunk_size, 64);
    CHECK(im->n_datasets == 1 && strcmp(im->datasets[0], "calib.txt") == 0);
    const quant_imatrix_entry *e = quant_imatrix_find(im, "blk.0.attn_k.weight");
    CHECK(e && e->ne0 == 256 && e->n_mat == 1 && e->counts[0] == 6080.0f);
    if (e) {
        CHECK_NEAR(e->sums[0], 5787.9233, 1e-3);
        CHECK(e->weights[0] == e->sums[0] / 6080.0f);
    }
    /* the writer reproduces llama-imatrix's file byte for byte */
    const char *path = test_tmp("imatrix-roundtrip.gguf");
    CHECK_OK(quant_imatrix_write(im, path));
    medge_map x = {0}, y = {0};
    CHECK_OK(medge_read_file(path, &x));
    CHECK_OK(medge_read_file(test_ref("gemma3-tiny/imatrix/imatrix-tiny-c64.gguf"), &y));
    CHECK(x.size == y.size && x.size == 90624 && memcmp(x.data, y.data, (size_t)x.size) == 0);
    medge_unmap(&x);
    medge_unmap(&y);
    quant_imatrix_free(im);
    /* a model file is not an imatrix */
    CHECK(quant_imatrix_load(test_ref("gemma3-tiny/gguf/tiny-gemma3-Q4_0.gguf"), &im) == MEDGE_ERR_FORMAT);
    CHECK(im == NULL);
}

static int exists(const char *p) { return access(p, F_OK) == 0; }

static void test_bad_inputs(const char *f32)
{
    const char *out = test_tmp("must-not-exist.gguf");
    unlink(out);
    quant_model_params p = quant_model_default_params();
    p.recipe.ftype = quant_ftype_from_name("Q4_K_S");
    quant_model_result r;
    /* not a model */
    CHECK(quant_model(test_ref("gemma3-tiny/hf/config.json"), out, &p, &r) != MEDGE_OK);
    CHECK(!exists(out));
    /* an imatrix of another model: none of its entries names a tensor of the mmproj */
    p.imatrix_path = test_ref("gemma3-tiny/imatrix/imatrix-tiny-c64.gguf");
    CHECK(quant_model(test_ref("gemma3-tiny/gguf/mmproj-tiny-gemma3-f32.gguf"), out, &p, &r) == MEDGE_ERR_MISMATCH);
    CHECK(strstr(medge_errmsg(NULL), "does not match") != NULL);
    CHECK(!exists(out));
    p.imatrix_path = NULL;
    /* already quantized input without --allow-requantize */
    CHECK(quant_model(test_ref("gemma3-tiny/gguf/tiny-gemma3-Q8_0.gguf"), out, &p, &r) == MEDGE_ERR_UNSUPPORTED);
    CHECK(!exists(out));
    /* unknown names */
    CHECK_EQ_INT(quant_ftype_from_name("Q4_K_XL"), -1);
    CHECK_EQ_INT(quant_ftype_from_name("q4_k"), 15);
    /* an output directory that does not exist: error, nothing written */
    CHECK(quant_model(f32, test_tmp("no-such-dir/x.gguf"), &p, &r) != MEDGE_OK);
}

/* fallbacks: a gemma3-named model whose rows are 96 (fits 32, not 256) and 40 (fits nothing) */
static void test_fallback(void)
{
    const char *in = test_tmp("fallback-in.gguf"), *out = test_tmp("fallback-out.gguf");
    gguf_writer *w = NULL;
    CHECK_OK(gguf_writer_open(in, &w));
    if (!w)
        return;
    gguf_writer_set_str(w, "general.architecture", "gemma3");
    gguf_writer_set_u32(w, "gemma3.block_count", 1);
    const int64_t a[2] = {96, 8}, b[2] = {40, 8}, c[2] = {256, 8}, d[1] = {96};
    CHECK_OK(gguf_writer_add_tensor(w, "blk.0.attn_q.weight", GGML_TYPE_F32, 2, a));
    CHECK_OK(gguf_writer_add_tensor(w, "blk.0.attn_k.weight", GGML_TYPE_F32, 2, b));
    CHECK_OK(gguf_writer_add_tensor(w, "blk.0.ffn_up.weight", GGML_TYPE_F32, 2, c));
    CHECK_OK(gguf_writer_add_tensor(w, "blk.0.attn_norm.weight", GGML_TYPE_F32, 1, d));
    float *x = malloc(256 * 8 * sizeof(float));
    for (int i = 0; i < 256 * 8; i++)
        x[i] = sinf((float)i * 0.37f);
    gguf_writer_write(w, x, 96 * 8 * 4);
    gguf_writer_write(w, x, 40 * 8 * 4);
    gguf_writer_write(w, x, 256 * 8 * 4);
    gguf_writer_write(w, x, 96 * 4);
    CHECK_OK(gguf_writer_finish(w));
    gguf_writer_free(w);
    quantize(in, out, "Q4_K_S", NULL, false);
    gguf_ctx *g = NULL;
    CHECK_OK(gguf_open(out, &g));
    if (g) {
        /* output order: by layer, then name */
        CHECK_STR(g->tensors[0].name.s, "blk.0.attn_k.weight");
        CHECK_EQ_INT(gguf_get_tensor(g, "blk.0.attn_q.weight")->type, GGML_TYPE_Q5_0);
        CHECK_EQ_INT(gguf_get_tensor(g, "blk.0.attn_k.weight")->type, GGML_TYPE_F16);
        CHECK_EQ_INT(gguf_get_tensor(g, "blk.0.ffn_up.weight")->type, GGML_TYPE_Q4_K);
        CHECK_EQ_INT(gguf_get_tensor(g, "blk.0.attn_norm.weight")->type, GGML_TYPE_F32);
        /* the fallback data is what ggml makes of the same rows */
        const gguf_tensor *t = gguf_get_tensor(g, "blk.0.attn_q.weight");
        uint8_t *q = malloc(t->nbytes);
        CHECK_EQ_INT(quant_quantize_rows(GGML_TYPE_Q5_0, x, q, 8, 96, NULL), t->nbytes);
        CHECK(memcmp(q, t->data, t->nbytes) == 0);
        free(q);
        gguf_close(g);
    }
    /* overrides: first matching pattern wins, then the fallback still applies */
    quant_model_params p = quant_model_default_params();
    p.recipe.ftype = quant_ftype_from_name("Q4_K_M");
    quant_type_override ov[2] = {{"ffn_(up|down)", GGML_TYPE_Q8_0}, {"attn_q", GGML_TYPE_Q6_K}};
    p.recipe.overrides = ov;
    p.recipe.n_overrides = 2;
    quant_model_result r;
    CHECK_OK(quant_model(in, out, &p, &r));
    CHECK_EQ_INT(r.n_fallback, 2);
    g = NULL;
    CHECK_OK(gguf_open(out, &g));
    if (g) {
        CHECK_EQ_INT(gguf_get_tensor(g, "blk.0.ffn_up.weight")->type, GGML_TYPE_Q8_0);
        CHECK_EQ_INT(gguf_get_tensor(g, "blk.0.attn_q.weight")->type, GGML_TYPE_Q8_0); /* Q6_K -> Q8_0 */
        uint32_t ft = 0;
        gguf_get_u32(g, "general.file_type", &ft);
        CHECK_EQ_INT(ft, 15);
        gguf_close(g);
    }
    free(x);
}

/* --pure on a file without architecture: the src.* matrices of the test vectors become exactly
 * the q.* tensors ggml made of them; everything else is copied */
static void test_archless(void)
{
    const char *out = test_tmp("vectors-q4k.gguf");
    if (!quantize(test_ref("quant/quant-vectors.gguf"), out, "Q4_K_M", NULL, true))
        return;
    gguf_ctx *g = NULL, *ref = NULL;
    CHECK_OK(gguf_open(out, &g));
    CHECK_OK(gguf_open(test_ref("quant/quant-vectors.gguf"), &ref));
    if (g && ref) {
        const gguf_tensor *s = gguf_get_tensor(g, "src.normal"), *q = gguf_get_tensor(ref, "q.Q4_K.normal");
        CHECK(s && q && s->type == GGML_TYPE_Q4_K && s->nbytes == q->nbytes && !memcmp(s->data, q->data, q->nbytes));
        const gguf_tensor *im = gguf_get_tensor(g, "imatrix"), *q8 = gguf_get_tensor(g, "q.Q8_0.normal");
        CHECK(im && im->type == GGML_TYPE_F32);
        CHECK(q8 && q8->type == GGML_TYPE_Q8_0 && !memcmp(q8->data, gguf_get_tensor(ref, "q.Q8_0.normal")->data, q8->nbytes));
        CHECK_EQ_INT(g->n_tensors, ref->n_tensors);
    }
    gguf_close(g);
    gguf_close(ref);
}

int main(void)
{
    test_imatrix_roundtrip();
    test_fallback();
    test_archless();
    char f32[1024]; /* test_tmp() returns rotating buffers */
    snprintf(f32, sizeof f32, "%s", test_tmp("tiny-gemma3-f32.gguf"));
    if (!make_f32(f32))
        TEST_END();
    test_bad_inputs(f32);
    /* (tests/cli-quantize.sh covers all five from `medge convert --outtype f32`) */
    static const char *const types[] = {"Q4_K_M", "Q8_0"};
    const int n_types = getenv("MEDGE_SANITIZED") ? 1 : 2;
    for (int i = 0; i < n_types; i++) {
        char name[64], out[1024], ref[128];
        snprintf(name, sizeof name, "tiny-%s.gguf", types[i]);
        snprintf(out, sizeof out, "%s", test_tmp(name));
        snprintf(ref, sizeof ref, "gemma3-tiny/gguf/tiny-gemma3-%s.gguf", types[i]);
        if (quantize(f32, out, types[i], NULL, false))
            compare_gguf(out, test_ref(ref));
    }
    static const char *const itypes[] = {"Q4_K_S"};
    for (int i = 0; i < 1; i++) {
        char name[64], out[1024], man[128];
        snprintf(name, sizeof name, "tiny-%s-imat.gguf", itypes[i]);
        snprintf(out, sizeof out, "%s", test_tmp(name));
        snprintf(man, sizeof man, "gemma3-tiny/imatrix/tiny-gemma3-%s-imat.manifest.json", itypes[i]);
        if (quantize(f32, out, itypes[i], test_ref("gemma3-tiny/imatrix/imatrix-tiny-c64.gguf"), false))
            compare_manifest(out, test_ref(man));
    }
    TEST_END();
}
