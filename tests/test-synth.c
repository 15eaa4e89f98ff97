/* test-synth.c - medge synth: the tiny preset has exactly the tensors, shapes, types and keys of
 * llama.cpp's conversion of the reference checkpoint; the HF layout has the reference's shard
 * sizes; values are deterministic across thread counts and equal between the HF (bf16) and GGUF
 * (BF16) outputs; value statistics are realistic. */
#include "test.h"
#include "convert/synth.h"
#include "core/json.h"
#include "formats/gguf.h"
#include "quant/types.h"

#include <stdint.h>

static void check_manifest(const char *path, const char *manifest_rel)
{
    gguf_ctx *g = NULL;
    json_doc *d = NULL;
    CHECK_OK(gguf_open(path, &g));
    CHECK_OK(json_parse_file(test_ref(manifest_rel), &d));
    if (!g || !d) {
        gguf_close(g);
        json_free(d);
        return;
    }
    const json_value *ts = json_get(json_root(d), "tensors");
    CHECK(ts && ts->type == JSON_ARRAY);
    CHECK_EQ_INT(g->n_tensors, ts->len);
    for (size_t i = 0; ts && i < ts->len && i < g->n_tensors; i++) {
        const json_value *t = &ts->items[i];
        const gguf_tensor *mt = &g->tensors[i];
        CHECK_STR(mt->name.s, json_get_str(t, "name"));
        CHECK_STR(quant_type_name(mt->type), json_get_str(t, "type"));
        const json_value *dims = json_get(t, "dims");
        CHECK(dims && dims->len == mt->n_dims);
        for (size_t k = 0; dims && k < dims->len && k < 4; k++)
            CHECK_EQ_INT(mt->ne[k], dims->items[k].i);
    }
    const json_value *kv = json_get(json_root(d), "kv");
    CHECK_EQ_INT(g->n_kv, kv ? kv->len : 0);
    for (size_t i = 0; kv && i < kv->len && i < g->n_kv; i++) {
        const char *key = json_get_str(&kv->items[i], "key");
        CHECK_STR(g->kv[i].key.s, key);
        if (key && strcmp(key, "general.name") != 0 && strcmp(key, "general.size_label") != 0 &&
            g->kv[i].v.type == GGUF_STR && json_get_str(&kv->items[i], "value"))
            CHECK_STR(g->kv[i].v.str.s, json_get_str(&kv->items[i], "value"));
        if (g->kv[i].v.type == GGUF_U32) {
            int64_t want = -1;
            json_get_int(&kv->items[i], "value", &want);
            CHECK_EQ_INT(g->kv[i].v.u32, want);
        }
    }
    gguf_close(g);
    json_free(d);
}

static uint64_t file_hash(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint64_t h = 1469598103934665603ull;
    int c;
    if (!f)
        return 0;
    while ((c = fgetc(f)) != EOF)
        h = (h ^ (uint64_t)c) * 1099511628211ull;
    fclose(f);
    return h;
}

int main(void)
{
    synth_params p = synth_default_params();
    p.preset = "tiny";
    p.type = "F32";
    p.n_threads = 1;
    const char *f32 = test_tmp("synth-tiny-f32.gguf"), *mm = test_tmp("synth-tiny-mmproj-f32.gguf");
    CHECK_OK(synth_write(&p, f32, mm));
    check_manifest(f32, "gemma3-tiny/gguf/tiny-gemma3-f32.manifest.json");
    check_manifest(mm, "gemma3-tiny/gguf/mmproj-tiny-gemma3-f32.manifest.json");

    /* the same bytes with 3 threads */
    uint64_t h1 = file_hash(f32);
    p.n_threads = 3;
    const char *f32b = test_tmp("synth-tiny-f32-t3.gguf");
    CHECK_OK(synth_write(&p, f32b, NULL));
    CHECK(h1 != 0 && h1 == file_hash(f32b));

    /* value statistics: weights ~ N(0, 0.02), RMSNorm weights (1 + w) near 1 */
    gguf_ctx *g = NULL;
    CHECK_OK(gguf_open(f32, &g));
    if (g) {
        const gguf_tensor *e = gguf_get_tensor(g, "token_embd.weight");
        const gguf_tensor *n = gguf_get_tensor(g, "blk.3.ffn_norm.weight");
        CHECK(e && n && e->type == GGML_TYPE_F32 && n->type == GGML_TYPE_F32);
        if (e && n) {
            const float *x = e->data;
            double s = 0, s2 = 0;
            int64_t cnt = e->ne[0] * e->ne[1];
            for (int64_t i = 0; i < cnt; i++)
                s += x[i], s2 += (double)x[i] * x[i];
            double mean = s / (double)cnt, sd = sqrt(s2 / (double)cnt - mean * mean);
            CHECK_NEAR(mean, 0.0, 2e-4);
            CHECK_NEAR(sd, 0.02, 5e-4);
            const float *w = n->data;
            double m = 0;
            for (int64_t i = 0; i < n->ne[0]; i++)
                m += w[i];
            CHECK_NEAR(m / (double)n->ne[0], 1.0, 0.02);
        }
        const gguf_value *toks = gguf_get(g, "tokenizer.ggml.tokens");
        CHECK(toks && toks->type == GGUF_ARR && toks->arr.n == 4160);
        if (toks && toks->arr.n == 4160) {
            const gguf_str *s = toks->arr.data;
            CHECK_STR(s[106].s, "<end_of_turn>");
            CHECK_STR(s[4094].s, "<start_of_image>");
            CHECK_STR(s[238].s, "<0x00>");
        }
    }

    /* HF layout: the reference's shard sizes; its bf16 values equal the F32 GGUF's (norms: +1) */
    p.format = SYNTH_HF;
    p.n_threads = 2;
    const char *hf = test_tmp("synth-tiny-hf");
    CHECK_OK(synth_write(&p, hf, NULL));
    char path[1200];
    snprintf(path, sizeof path, "%s/model-00001-of-00002.safetensors", hf);
    CHECK_EQ_INT(medge_file_size(path), 10404512);
    snprintf(path, sizeof path, "%s/model-00002-of-00002.safetensors", hf);
    CHECK_EQ_INT(medge_file_size(path), 10166832);
    snprintf(path, sizeof path, "%s/config.json", hf);
    medge_map a, b;
    if (medge_read_file(path, &a) == MEDGE_OK) {
        CHECK_OK(medge_read_file(test_ref("gemma3-tiny/hf/config.json"), &b));
        CHECK(a.size == b.size && memcmp(a.data, b.data, (size_t)a.size) == 0);
        medge_unmap(&a);
        medge_unmap(&b);
    } else {
        CHECK(0);
    }
    snprintf(path, sizeof path, "%s/model-00001-of-00002.safetensors", hf);
    if (g && medge_map_file(path, &a) == MEDGE_OK) {
        uint64_t hl;
        memcpy(&hl, a.data, 8);
        const uint8_t *data = a.data + 8 + hl;
        const gguf_tensor *e = gguf_get_tensor(g, "token_embd.weight");
        const float *x = e->data;
        int bad = 0;
        for (int64_t i = 0; i < e->ne[0] * e->ne[1]; i++) { /* embed_tokens is the first tensor */
            uint16_t v;
            memcpy(&v, data + 2 * i, 2);
            bad += medge_bf16_to_fp32(v) != x[i];
        }
        CHECK_EQ_INT(bad, 0);
        medge_unmap(&a);
    }
    snprintf(path, sizeof path, "%s/tokenizer.model", hf);
    CHECK(medge_file_size(path) > 40000);
    gguf_close(g);

    /* bad input */
    synth_params q = synth_default_params();
    q.preset = "nope";
    CHECK(synth_write(&q, test_tmp("x.gguf"), NULL) == MEDGE_ERR_INVALID_ARG);
    q.preset = "tiny";
    q.type = "Q9_9";
    CHECK(synth_write(&q, test_tmp("x.gguf"), NULL) == MEDGE_ERR_INVALID_ARG);
    CHECK(medge_file_size(test_tmp("x.gguf")) < 0);
    TEST_END();
}
