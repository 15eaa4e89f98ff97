/* test-safetensors.c - the sharded BF16 Gemma 3 reference checkpoint reads with the right names,
 * shapes, dtypes and data (norm weights cross-checked against llama.cpp's F32 conversion, which
 * stores them +1), opened as a folder, as the index and as one shard; crafted bad files each fail
 * with their own message. */
#include "test.h"
#include "core/file.h"
#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "quant/types.h"

#include <sys/stat.h>

static void check_tensor(const st_model *m, const char *name, enum st_dtype dt, int n_dims, int64_t d0, int64_t d1, int64_t d2,
                         int64_t d3)
{
    const st_tensor *t = st_find(m, name);
    CHECK_MSG(t != NULL, "tensor %s missing", name);
    if (!t)
        return;
    CHECK_STR(t->name, name);
    CHECK_EQ_INT(t->dtype, dt);
    CHECK_EQ_INT(t->n_dims, n_dims);
    int64_t want[4] = {d0, d1, d2, d3};
    uint64_t n = st_dtype_size(dt);
    for (int d = 0; d < n_dims && d < 4; d++) {
        CHECK_EQ_INT(t->shape[d], want[d]);
        n *= (uint64_t)want[d];
    }
    CHECK_EQ_INT(t->nbytes, n);
    CHECK(t->data != NULL);
}

static void check_reference(const char *path, size_t want_count, size_t want_shards)
{
    st_model *m = NULL;
    medge_status rc = st_open(path, &m);
    CHECK_MSG(rc == MEDGE_OK, "%s: %s", path, medge_errmsg(NULL));
    if (rc != MEDGE_OK)
        return;
    CHECK_EQ_INT(st_count(m), want_count);
    CHECK_EQ_INT(st_shard_count(m), want_shards);
    size_t bf16 = 0;
    for (size_t i = 0; i < st_count(m); i++)
        bf16 += st_at(m, i)->dtype == ST_BF16;
    CHECK_EQ_INT(bf16, want_count);
    CHECK(st_at(m, st_count(m)) == NULL);
    CHECK(st_find(m, "no.such.tensor") == NULL);
    const json_value *meta = st_metadata(m, 0);
    CHECK(meta != NULL);
    CHECK_STR(json_get_str(meta, "format"), "pt");
    CHECK(st_metadata(m, 99) == NULL);
    if (want_shards == 2) {
        /* File order: shard 1 first (embed_tokens opens it), shard 2 starts with layer 4's v_proj. */
        CHECK_STR(st_at(m, 0)->name, "language_model.model.embed_tokens.weight");
        CHECK_STR(st_at(m, 55)->name, "language_model.model.layers.4.self_attn.v_proj.weight");
        CHECK(strstr(st_at(m, 0)->file, "model-00001-of-00002.safetensors") != NULL);
        CHECK(strstr(st_at(m, 55)->file, "model-00002-of-00002.safetensors") != NULL);
        int64_t total = 0;
        CHECK(json_get_int(st_index_metadata(m), "total_size", &total));
        uint64_t sum = 0;
        for (size_t i = 0; i < st_count(m); i++)
            sum += st_at(m, i)->nbytes;
        CHECK_EQ_INT(sum, total);

        check_tensor(m, "language_model.model.embed_tokens.weight", ST_BF16, 2, 4160, 256, 0, 0);
        check_tensor(m, "language_model.model.layers.0.self_attn.q_proj.weight", ST_BF16, 2, 512, 256, 0, 0);
        check_tensor(m, "language_model.model.layers.0.self_attn.k_proj.weight", ST_BF16, 2, 256, 256, 0, 0);
        check_tensor(m, "language_model.model.layers.4.self_attn.o_proj.weight", ST_BF16, 2, 256, 512, 0, 0);
        check_tensor(m, "language_model.model.layers.7.mlp.down_proj.weight", ST_BF16, 2, 256, 768, 0, 0);
        check_tensor(m, "language_model.model.layers.5.self_attn.q_norm.weight", ST_BF16, 1, 128, 0, 0, 0);
        check_tensor(m, "language_model.model.norm.weight", ST_BF16, 1, 256, 0, 0, 0);
        check_tensor(m, "vision_tower.vision_model.embeddings.patch_embedding.weight", ST_BF16, 4, 256, 3, 14, 14);
        check_tensor(m, "vision_tower.vision_model.embeddings.position_embedding.weight", ST_BF16, 2, 256, 256, 0, 0);
        check_tensor(m, "vision_tower.vision_model.encoder.layers.1.mlp.fc1.weight", ST_BF16, 2, 512, 256, 0, 0);
        check_tensor(m, "multi_modal_projector.mm_input_projection_weight", ST_BF16, 2, 256, 256, 0, 0);
        check_tensor(m, "multi_modal_projector.mm_soft_emb_norm.weight", ST_BF16, 1, 256, 0, 0, 0);

        /* Data: llama.cpp's conversion stores each RMSNorm weight as bf16 -> f32 plus 1. */
        gguf_ctx *g = NULL;
        CHECK_OK(gguf_open(test_ref("gemma3-tiny/gguf/tiny-gemma3-f16.gguf"), &g));
        static const char *pairs[][2] = {
            {"language_model.model.layers.0.input_layernorm.weight", "blk.0.attn_norm.weight"},
            {"language_model.model.layers.5.self_attn.k_norm.weight", "blk.5.attn_k_norm.weight"},
            {"language_model.model.norm.weight", "output_norm.weight"},
        };
        for (size_t p = 0; g && p < sizeof pairs / sizeof pairs[0]; p++) {
            const st_tensor *t = st_find(m, pairs[p][0]);
            const gguf_tensor *gt = gguf_get_tensor(g, pairs[p][1]);
            CHECK(t && gt && gt->type == GGML_TYPE_F32 && gt->nbytes == t->nbytes * 2);
            if (!t || !gt || gt->nbytes != t->nbytes * 2)
                continue;
            size_t n = (size_t)t->nbytes / 2, bad = 0;
            for (size_t i = 0; i < n; i++) {
                uint16_t h;
                float f;
                memcpy(&h, (const uint8_t *)t->data + 2 * i, 2);
                memcpy(&f, (const uint8_t *)gt->data + 4 * i, 4);
                bad += medge_bf16_to_fp32(h) + 1.0f != f;
            }
            CHECK_MSG(bad == 0, "%s: %zu of %zu values differ from %s - 1", pairs[p][0], bad, n, pairs[p][1]);
        }
        gguf_close(g);
    }
    st_close(m);
}

/* ---- crafted files ---- */

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f)
        return;
    CHECK(fwrite(data, 1, n, f) == n);
    fclose(f);
}

/* A safetensors file: header text, then data_len bytes of data; hlen_override replaces the length. */
static void write_st(const char *path, const char *header, size_t data_len, int64_t hlen_override)
{
    size_t hl = strlen(header);
    size_t n = 8 + hl + data_len;
    unsigned char *b = calloc(1, n);
    uint64_t v = hlen_override >= 0 ? (uint64_t)hlen_override : hl;
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    memcpy(b + 8, header, hl);
    for (size_t i = 0; i < data_len; i++)
        b[8 + hl + i] = (unsigned char)i;
    write_file(path, b, n);
    free(b);
}

/* Opening must fail with rc and a message containing want. */
static void expect_fail(const char *path, medge_status want_rc, const char *want)
{
    st_model *m = NULL;
    medge_status rc = st_open(path, &m);
    CHECK_MSG(rc == want_rc, "%s: status %d, want %d (%s)", path, (int)rc, (int)want_rc, medge_errmsg(NULL));
    CHECK_MSG(strstr(medge_errmsg(NULL), want) != NULL, "%s: message \"%s\" lacks \"%s\"", path, medge_errmsg(NULL), want);
    CHECK(m == NULL);
    st_close(m);
}

static void crafted(void)
{
    const char *p = test_tmp("st-good.safetensors");
    /* A good one first: two tensors, odd header length (unaligned data), metadata. */
    write_st(p,
             "{\"__metadata__\":{\"k\":\"v\"},\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
             "\"b\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[24,32]},"
             "\"c\":{\"dtype\":\"U8\",\"shape\":[0,5],\"data_offsets\":[32,32]}}",
             32, -1);
    st_model *m = NULL;
    CHECK_OK(st_open(p, &m));
    CHECK_EQ_INT(st_count(m), 3);
    const st_tensor *a = st_find(m, "a"), *b = st_find(m, "b"), *c = st_find(m, "c");
    CHECK(a && b && c);
    if (a && b && c) {
        CHECK_EQ_INT(a->n_dims, 2);
        CHECK_EQ_INT(a->shape[1], 3);
        CHECK_EQ_INT(a->nbytes, 24);
        CHECK_EQ_INT(((const uint8_t *)a->data)[5], 5);
        CHECK_EQ_INT(b->n_dims, 0);
        CHECK_EQ_INT(b->nbytes, 8);
        CHECK_EQ_INT(((const uint8_t *)b->data)[0], 24);
        CHECK_EQ_INT(c->nbytes, 0);
        CHECK_STR(json_get_str(st_metadata(m, 0), "k"), "v");
        CHECK_STR(st_dtype_name(a->dtype), "F32");
    }
    st_close(m);

    struct {
        const char *name, *header;
        size_t data_len;
        int64_t hlen;
        medge_status rc;
        const char *msg;
    } bad[] = {
        {"st-short", "", 0, 3, MEDGE_ERR_FORMAT, "only"}, /* file shorter than the length field: see below */
        {"st-hlen-past-end", "{}", 0, 1000, MEDGE_ERR_FORMAT, "runs past the end of the file"},
        {"st-hlen-huge", "{}", 0, INT64_MAX, MEDGE_ERR_FORMAT, "runs past the end of the file"},
        {"st-not-json", "{\"a\":", 0, -1, MEDGE_ERR_FORMAT, "header JSON"},
        {"st-not-object", "[1,2]", 0, -1, MEDGE_ERR_FORMAT, "does not start with '{'"},
        {"st-entry-not-object", "{\"a\":3}", 0, -1, MEDGE_ERR_FORMAT, "entry is not an object"},
        {"st-no-dtype", "{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, -1, MEDGE_ERR_FORMAT, "\"dtype\" missing"},
        {"st-bad-dtype", "{\"a\":{\"dtype\":\"F8_E4M3\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, -1, MEDGE_ERR_UNSUPPORTED,
         "unsupported dtype 'F8_E4M3'"},
        {"st-neg-dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, -1, MEDGE_ERR_FORMAT,
         "dimension 0 is not a non-negative integer"},
        {"st-many-dims", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1, -1,
         MEDGE_ERR_UNSUPPORTED, "9 dimensions"},
        {"st-shape-overflow",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}", 4, -1, MEDGE_ERR_FORMAT,
         "shape overflows"},
        {"st-offsets-reversed", "{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[4,2]}}", 4, -1, MEDGE_ERR_FORMAT,
         "end before they begin"},
        {"st-offsets-past-end", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, -1, MEDGE_ERR_FORMAT,
         "run past the end of the data"},
        {"st-offsets-huge",
         "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[9223372036854775806,9223372036854775807]}}", 8, -1,
         MEDGE_ERR_FORMAT, "run past the end of the data"},
        {"st-size-mismatch", "{\"a\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[0,4]}}", 8, -1, MEDGE_ERR_FORMAT,
         "span 4 bytes but BF16 shape needs 6"},
        {"st-offsets-float", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1.5]}}", 8, -1, MEDGE_ERR_FORMAT,
         "data_offsets[1] is not a non-negative integer"},
        {"st-offsets-one", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0]}}", 8, -1, MEDGE_ERR_FORMAT,
         "must be an array of two integers"},
        {"st-duplicate",
         "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
         8, -1, MEDGE_ERR_FORMAT, "duplicate tensor name 'a'"},
        {"st-meta-not-object", "{\"__metadata__\":[1]}", 0, -1, MEDGE_ERR_FORMAT, "\"__metadata__\" is not an object"},
        {"st-empty-name", "{\"\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 8, -1, MEDGE_ERR_FORMAT,
         "name is empty"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char name[128];
        snprintf(name, sizeof name, "%s.safetensors", bad[i].name);
        const char *path = test_tmp(name);
        if (i == 0)
            write_file(path, "\x05\0\0", 3);
        else
            write_st(path, bad[i].header, bad[i].data_len, bad[i].hlen);
        expect_fail(path, bad[i].rc, bad[i].msg);
        CHECK_MSG(strstr(medge_errmsg(NULL), name) != NULL, "message \"%s\" does not name %s", medge_errmsg(NULL), name);
    }
    /* Truncated at every byte of the good file: each prefix fails cleanly (or, for the full file, opens). */
    medge_map good;
    CHECK_OK(medge_read_file(p, &good));
    for (uint64_t n = 0; n < good.size; n++) {
        st_model *t = NULL;
        medge_status rc = st_open_memory(good.data, (size_t)n, &t);
        CHECK_MSG(rc != MEDGE_OK, "prefix of %llu bytes opened", (unsigned long long)n);
        st_close(t);
    }
    medge_unmap(&good);

    /* Index naming a missing shard, a shard outside its folder, a tensor the shard lacks, and a
     * name in two shards. */
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", test_tmp("st-index"));
    mkdir(dir, 0755);
    char path[1200], idx[1200];
    snprintf(path, sizeof path, "%s/one.safetensors", dir);
    write_st(path, "{\"x\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2, -1);
    snprintf(path, sizeof path, "%s/two.safetensors", dir);
    write_st(path, "{\"x\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, -1);
    snprintf(idx, sizeof idx, "%s/model.safetensors.index.json", dir);

    const char *t1 = "{\"weight_map\":{\"x\":\"one.safetensors\",\"y\":\"missing-00002.safetensors\"}}";
    write_file(idx, t1, strlen(t1));
    expect_fail(idx, MEDGE_ERR_NOT_FOUND, "missing-00002.safetensors");
    expect_fail(dir, MEDGE_ERR_NOT_FOUND, "does not exist");
    const char *t2 = "{\"weight_map\":{\"x\":\"../one.safetensors\"}}";
    write_file(idx, t2, strlen(t2));
    expect_fail(idx, MEDGE_ERR_FORMAT, "does not name a file in the index's folder");
    const char *t3 = "{\"weight_map\":{\"x\":\"one.safetensors\",\"z\":\"one.safetensors\"}}";
    write_file(idx, t3, strlen(t3));
    expect_fail(idx, MEDGE_ERR_FORMAT, "tensor 'z' is in the weight_map but in no shard");
    const char *t4 = "{\"weight_map\":{\"x\":\"one.safetensors\",\"w\":\"two.safetensors\"}}";
    write_file(idx, t4, strlen(t4));
    expect_fail(idx, MEDGE_ERR_FORMAT, "duplicate tensor name 'x'");
    const char *t5 = "{\"weight_map\":[]}";
    write_file(idx, t5, strlen(t5));
    expect_fail(idx, MEDGE_ERR_FORMAT, "no \"weight_map\" object");
    snprintf(path, sizeof path, "%s/three.safetensors", dir);
    write_st(path, "{\"y\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},\"z\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}", 2, -1);
    const char *t6 = "{\"weight_map\":{\"y\":\"three.safetensors\",\"x\":\"one.safetensors\",\"z\":\"one.safetensors\"}}";
    write_file(idx, t6, strlen(t6));
    expect_fail(idx, MEDGE_ERR_FORMAT, "the index puts tensor 'z' in one.safetensors");
    const char *t7 = "{\"weight_map\":{\"x\":\"one.safetensors\"}}";
    write_file(idx, t7, strlen(t7));
    m = NULL;
    CHECK_OK(st_open(dir, &m));
    CHECK_EQ_INT(st_count(m), 1);
    CHECK(st_find(m, "x") && st_find(m, "x")->nbytes == 2);
    st_close(m);
    expect_fail(test_tmp("st-no-such-file.safetensors"), MEDGE_ERR_NOT_FOUND, "st-no-such-file.safetensors");
}

int main(void)
{
    check_reference(test_ref("gemma3-tiny/hf"), 145, 2);
    check_reference(test_ref("gemma3-tiny/hf/model.safetensors.index.json"), 145, 2);
    check_reference(test_ref("gemma3-tiny/hf/model-00001-of-00002.safetensors"), 55, 1);
    crafted();
    TEST_END();
}
