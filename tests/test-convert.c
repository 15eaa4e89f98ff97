/* test-convert.c - `medge convert` for Gemma 3 against llama.cpp: the reference checkpoint
 * converted to F32, F16, BF16 and the F32 mmproj equals llama.cpp's manifests key by key and
 * tensor by tensor (data SHA-256); the vocab-only GGUF of the full Gemma 3 tokenizer equals
 * llama.cpp's (tokens, scores, types), from tokenizer.model and from tokenizer.json alone; bad
 * checkpoints fail with a message naming the file and leave no output behind. */
#include "test.h"
#include "convert/gemma3.h"
#include "core/file.h"
#include "core/json.h"
#include "formats/info.h"
#include "formats/spm_model.h"
#include "core/sha256.h"
#include "text/spm.h"
#include "quant/types.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *tiny_hf(void) { return test_ref("gemma3-tiny/hf"); }

static char *path2(const char *a, const char *b) { return medge_path_join(a, b); }

static int exists(const char *p) { return access(p, F_OK) == 0; }

/* No file in dir whose name starts with prefix (temporaries included). */
static int no_file_like(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    if (!d)
        return 1;
    struct dirent *e;
    int ok = 1;
    while ((e = readdir(d)))
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
            ok = 0;
    closedir(d);
    return ok;
}

static void check_manifest(const char *path, const char *manifest)
{
    gguf_ctx *g = NULL;
    medge_status rc = gguf_open(path, &g);
    CHECK_MSG(rc == MEDGE_OK, "%s: %s", path, medge_errmsg(NULL));
    if (rc != MEDGE_OK)
        return;
    medge_buf report = {0};
    rc = info_gguf_check_manifest(g, test_ref(manifest), MANIFEST_LOOSE_GENERAL, &report);
    CHECK_MSG(rc == MEDGE_OK, "%s vs %s:\n%s", path, manifest, report.data ? report.data : medge_errmsg(NULL));
    medge_buf_free(&report);
    gguf_close(g);
}

static medge_status convert(const char *dir, const char *out, const char *mmproj, uint32_t type, int vocab_only,
                            convert_output *t, convert_output *m)
{
    gemma3_convert_params p = {0};
    p.hf_dir = dir;
    p.out_path = out;
    p.mmproj_path = mmproj;
    p.outtype = type;
    p.vocab_only = vocab_only;
    p.n_threads = 2;
    return gemma3_convert(&p, t, m);
}


/* Every tensor of path equals the manifest's tensor of the same name (type, dims, data hash),
 * whatever the order (llama-quantize writes another order than the converter). */
static void check_tensors_by_name(const char *path, const char *manifest)
{
    gguf_ctx *g = NULL;
    json_doc *doc = NULL;
    CHECK_OK(gguf_open(path, &g));
    CHECK_OK(json_parse_file(test_ref(manifest), &doc));
    if (!g || !doc) {
        gguf_close(g);
        json_free(doc);
        return;
    }
    const json_value *ts = json_get(json_root(doc), "tensors");
    CHECK(ts && ts->type == JSON_ARRAY && ts->len == g->n_tensors);
    size_t matched = 0;
    for (size_t i = 0; ts && i < ts->len; i++) {
        const json_value *e = &ts->items[i];
        const char *name = json_get_str(e, "name");
        const gguf_tensor *t = name ? gguf_get_tensor(g, name) : NULL;
        CHECK_MSG(t != NULL, "%s: tensor %s missing", path, name ? name : "?");
        if (!t)
            continue;
        char hex[65];
        medge_sha256_hex(t->data, (size_t)t->nbytes, hex);
        const json_value *dims = json_get(e, "dims");
        int dims_ok = dims && dims->type == JSON_ARRAY && dims->len == t->n_dims;
        for (size_t d = 0; dims_ok && d < dims->len; d++)
            dims_ok = dims->items[d].i == t->ne[d];
        int ok = dims_ok && strcmp(json_get_str(e, "type"), quant_type_name(t->type)) == 0 &&
                 strcmp(json_get_str(e, "sha256"), hex) == 0;
        CHECK_MSG(ok, "%s: tensor %s differs from %s", path, name, manifest);
        matched += ok;
    }
    CHECK_EQ_INT(matched, 106);
    json_free(doc);
    gguf_close(g);
}

/* The vocabulary of a GGUF tokenizes every case of gemma3-tokenize.json as Hugging Face does. */
static void check_tokenizes(const char *path)
{
    gguf_ctx *g = NULL;
    spm_vocab *v = NULL;
    json_doc *doc = NULL;
    CHECK_OK(gguf_open(path, &g));
    if (g)
        CHECK_OK(spm_load_gguf(g, &v));
    CHECK_OK(json_parse_file(test_ref("tokenizer/gemma3-tokenize.json"), &doc));
    if (!v || !doc) {
        spm_free(v);
        gguf_close(g);
        json_free(doc);
        return;
    }
    const json_value *cases = json_root(doc);
    size_t same = 0, n_cases = cases->type == JSON_ARRAY ? cases->len : 0;
    for (size_t i = 0; i < n_cases; i++) {
        const json_value *c = &cases->items[i];
        const json_value *text = json_get(c, "text"), *ids = json_get(c, "ids");
        int32_t *got = NULL;
        size_t n = 0;
        if (!text || !ids || spm_encode(v, text->s, text->len, SPM_PARSE_SPECIAL, &got, &n) != MEDGE_OK)
            continue;
        int ok = n == ids->len;
        for (size_t k = 0; ok && k < n; k++)
            ok = got[k] == ids->items[k].i;
        same += ok;
        free(got);
    }
    CHECK_EQ_INT(n_cases, 574);
    CHECK_EQ_INT(same, n_cases);
    spm_free(v);
    gguf_close(g);
    json_free(doc);
}

static void test_q8_0(void)
{
    /* convert_hf_to_gguf --outtype q8_0 quantizes with the same reference Q8_0 as llama-quantize:
     * every tensor equals llama-quantize's Q8_0 of the F32 conversion */
    char out[1024];
    snprintf(out, sizeof out, "%s", test_tmp("conv-tiny-q8_0.gguf"));
    convert_output t;
    medge_status rc = convert(tiny_hf(), out, NULL, GGML_TYPE_Q8_0, 0, &t, NULL);
    CHECK_MSG(rc == MEDGE_OK, "q8_0: %s", medge_errmsg(NULL));
    if (rc != MEDGE_OK)
        return;
    check_tensors_by_name(out, "gemma3-tiny/gguf/tiny-gemma3-Q8_0.manifest.json");
    gguf_ctx *g = NULL;
    CHECK_OK(gguf_open(out, &g));
    uint32_t ft = 0;
    if (g)
        CHECK_OK(gguf_get_u32(g, "general.file_type", &ft));
    CHECK_EQ_INT(ft, 7);
    gguf_close(g);
}

static void test_reference_conversions(void)
{
    static const struct {
        uint32_t type;
        const char *out, *manifest;
    } cases[] = {
        {GGML_TYPE_F32, "conv-tiny-f32.gguf", "gemma3-tiny/gguf/tiny-gemma3-f32.manifest.json"},
        {GGML_TYPE_F16, "conv-tiny-f16.gguf", "gemma3-tiny/gguf/tiny-gemma3-f16.manifest.json"},
        {GGML_TYPE_BF16, "conv-tiny-bf16.gguf", "gemma3-tiny/gguf/tiny-gemma3-bf16.manifest.json"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[1024], mm[1024];
        snprintf(out, sizeof out, "%s", test_tmp(cases[i].out));
        snprintf(mm, sizeof mm, "%s", test_tmp("conv-tiny-mmproj-f32.gguf"));
        convert_output t, m;
        int with_mm = cases[i].type == GGML_TYPE_F32;
        medge_status rc = convert(tiny_hf(), out, with_mm ? mm : NULL, cases[i].type, 0, &t, &m);
        CHECK_MSG(rc == MEDGE_OK, "%s: %s", cases[i].out, medge_errmsg(NULL));
        if (rc != MEDGE_OK)
            continue;
        CHECK_EQ_INT(t.n_tensors, 106);
        CHECK_EQ_INT(t.n_params, 8939776);
        CHECK_EQ_INT(t.bytes, medge_file_size(out));
        char hex[65];
        uint64_t size;
        CHECK_OK(convert_file_sha256(out, hex, &size));
        CHECK_STR(t.sha256, hex);
        check_manifest(out, cases[i].manifest);
        if (with_mm) {
            CHECK_EQ_INT(m.n_tensors, 39);
            CHECK_OK(convert_file_sha256(mm, hex, &size));
            CHECK_STR(m.sha256, hex);
            CHECK_EQ_INT(m.bytes, size);
            check_manifest(mm, "gemma3-tiny/gguf/mmproj-tiny-gemma3-f32.manifest.json");
        }
    }
    /* with llama.cpp's model name the F16 file is byte for byte llama.cpp's */
    gemma3_convert_params p = {0};
    p.hf_dir = tiny_hf();
    p.out_path = test_tmp("conv-tiny-f16-named.gguf");
    p.outtype = GGML_TYPE_F16;
    p.name = "Tiny Gemma3";
    p.n_threads = 1;
    convert_output t;
    CHECK_OK(gemma3_convert(&p, &t, NULL));
    char hex[65];
    CHECK_OK(convert_file_sha256(test_ref("gemma3-tiny/gguf/tiny-gemma3-f16.gguf"), hex, NULL));
    CHECK_STR(t.sha256, hex);
}

/* tokens, scores and types of two GGUFs are equal */
static void check_same_vocab(const char *a, const char *b)
{
    gguf_ctx *x = NULL, *y = NULL;
    CHECK_OK(gguf_open(a, &x));
    CHECK_OK(gguf_open(b, &y));
    if (!x || !y) {
        gguf_close(x);
        gguf_close(y);
        return;
    }
    const void *dx, *dy;
    uint64_t nx = 0, ny = 0;
    CHECK_OK(gguf_get_arr(x, "tokenizer.ggml.tokens", GGUF_STR, &dx, &nx));
    CHECK_OK(gguf_get_arr(y, "tokenizer.ggml.tokens", GGUF_STR, &dy, &ny));
    CHECK_EQ_INT(nx, 262208);
    CHECK_EQ_INT(nx, ny);
    size_t bad = 0;
    for (uint64_t i = 0; i < nx && i < ny; i++) {
        const gguf_str *sx = (const gguf_str *)dx + i, *sy = (const gguf_str *)dy + i;
        if (sx->len != sy->len || memcmp(sx->s, sy->s, sx->len) != 0)
            bad++;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_OK(gguf_get_arr(x, "tokenizer.ggml.scores", GGUF_F32, &dx, &nx));
    CHECK_OK(gguf_get_arr(y, "tokenizer.ggml.scores", GGUF_F32, &dy, &ny));
    CHECK(nx == ny && nx && memcmp(dx, dy, nx * 4) == 0);
    CHECK_OK(gguf_get_arr(x, "tokenizer.ggml.token_type", GGUF_I32, &dx, &nx));
    CHECK_OK(gguf_get_arr(y, "tokenizer.ggml.token_type", GGUF_I32, &dy, &ny));
    CHECK(nx == ny && nx && memcmp(dx, dy, nx * 4) == 0);
    const char *ta = NULL, *tb = NULL;
    CHECK_OK(gguf_get_str(x, "tokenizer.chat_template", &ta));
    CHECK_OK(gguf_get_str(y, "tokenizer.chat_template", &tb));
    CHECK_STR(ta, tb);
    uint32_t ua = 0, ub = 1;
    CHECK_OK(gguf_get_u32(x, "tokenizer.ggml.eos_token_id", &ua));
    CHECK_OK(gguf_get_u32(y, "tokenizer.ggml.eos_token_id", &ub));
    CHECK_EQ_INT(ua, 106);
    CHECK_EQ_INT(ua, ub);
    CHECK_EQ_INT(x->n_tensors, 0);
    gguf_close(x);
    gguf_close(y);
}

static medge_status copy_file(const char *src, const char *dst, int64_t limit)
{
    medge_map m;
    MEDGE_TRY(medge_read_file(src, &m));
    medge_out o;
    medge_status rc = medge_out_open(&o, dst);
    if (rc == MEDGE_OK) {
        uint64_t n = limit >= 0 && (uint64_t)limit < m.size ? (uint64_t)limit : m.size;
        rc = medge_out_write(&o, m.data, (size_t)n);
        if (rc == MEDGE_OK)
            rc = medge_out_commit(&o);
        else
            medge_out_abort(&o);
    }
    medge_unmap(&m);
    return rc;
}

/* Fresh directory in the build tree holding links to the named files of src. */
static const char *make_dir(const char *name, const char *src, const char *const *files)
{
    static char dir[1024];
    snprintf(dir, sizeof dir, "%s", test_tmp(name));
    mkdir(dir, 0755);
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char *p = path2(dir, e->d_name);
        unlink(p);
        free(p);
    }
    if (d)
        closedir(d);
    for (size_t i = 0; files[i]; i++) {
        char *s = path2(src, files[i]), *t = path2(dir, files[i]);
        char abs[4096];
        if (realpath(s, abs))
            CHECK_MSG(symlink(abs, t) == 0, "symlink %s", t);
        free(s);
        free(t);
    }
    return dir;
}

static void test_vocab_only(void)
{
    const char *ref = test_ref("tokenizer/gemma3-vocab.gguf");
    char out[1024];
    snprintf(out, sizeof out, "%s", test_tmp("conv-vocab.gguf"));
    convert_output t;
    medge_status rc = convert(test_ref("tokenizer/gemma3-full"), out, NULL, GGML_TYPE_F16, 1, &t, NULL);
    CHECK_MSG(rc == MEDGE_OK, "vocab-only: %s", medge_errmsg(NULL));
    if (rc == MEDGE_OK)
        check_same_vocab(out, ref);

    /* tokenizer.json only: tokens and types equal; scores derived from the merges equal the
     * tokenizer.model scores (which were built from the same merge ranks) */
    static const char *const files[] = {"config.json", "tokenizer.json", "tokenizer_config.json", NULL};
    const char *dir = make_dir("conv-tokjson", test_ref("tokenizer/gemma3-full"), files);
    snprintf(out, sizeof out, "%s", test_tmp("conv-vocab-tokjson.gguf"));
    rc = convert(dir, out, NULL, GGML_TYPE_F16, 1, &t, NULL);
    CHECK_MSG(rc == MEDGE_OK, "vocab-only from tokenizer.json: %s", medge_errmsg(NULL));
    if (rc == MEDGE_OK) {
        check_same_vocab(out, ref);
        check_tokenizes(out);
    }
}

static void test_tokenizer_json_tiny(void)
{
    /* the tiny checkpoint without tokenizer.model still converts to llama.cpp's file */
    static const char *const files[] = {"config.json", "generation_config.json", "model-00001-of-00002.safetensors",
                                        "model-00002-of-00002.safetensors", "model.safetensors.index.json",
                                        "preprocessor_config.json", "tokenizer.json", "tokenizer_config.json", NULL};
    const char *dir = make_dir("conv-tiny-tokjson", tiny_hf(), files);
    char out[1024];
    snprintf(out, sizeof out, "%s", test_tmp("conv-tiny-tokjson-f32.gguf"));
    convert_output t;
    medge_status rc = convert(dir, out, NULL, GGML_TYPE_F32, 0, &t, NULL);
    CHECK_MSG(rc == MEDGE_OK, "tiny from tokenizer.json: %s", medge_errmsg(NULL));
    if (rc == MEDGE_OK)
        check_manifest(out, "gemma3-tiny/gguf/tiny-gemma3-f32.manifest.json");
}

/* Rewrite a safetensors shard with its header text edited (from -> to). */
static void edit_shard(const char *src, const char *dst, const char *from, const char *to)
{
    medge_map m;
    CHECK_OK(medge_read_file(src, &m));
    uint64_t hl = 0;
    for (int i = 0; i < 8; i++)
        hl |= (uint64_t)m.data[i] << (8 * i);
    char *h = malloc(hl + 1);
    memcpy(h, m.data + 8, hl);
    h[hl] = 0;
    char *at = strstr(h, from);
    CHECK_MSG(at != NULL, "'%s' not in header", from);
    if (!at) {
        free(h);
        medge_unmap(&m);
        return;
    }
    medge_buf nh = {0};
    medge_buf_append(&nh, h, (size_t)(at - h));
    medge_buf_puts(&nh, to);
    medge_buf_puts(&nh, at + strlen(from));
    medge_out o;
    CHECK_OK(medge_out_open(&o, dst));
    uint8_t len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (uint8_t)(nh.len >> (8 * i));
    CHECK_OK(medge_out_write(&o, len, 8));
    CHECK_OK(medge_out_write(&o, nh.data, nh.len));
    CHECK_OK(medge_out_write(&o, m.data + 8 + hl, (size_t)(m.size - 8 - hl)));
    CHECK_OK(medge_out_commit(&o));
    medge_buf_free(&nh);
    free(h);
    medge_unmap(&m);
}

/* Convert dir (text + mmproj); must fail with a message containing `needle` and leave nothing. */
static void expect_failure(const char *what, const char *dir, const char *needle)
{
    char out[1024], mm[1024];
    snprintf(out, sizeof out, "%s/out.gguf", dir);
    snprintf(mm, sizeof mm, "%s/out-mmproj.gguf", dir);
    medge_status rc = convert(dir, out, mm, GGML_TYPE_F16, 0, NULL, NULL);
    const char *msg = medge_errmsg(NULL);
    CHECK_MSG(rc != MEDGE_OK, "%s: conversion succeeded", what);
    CHECK_MSG(strstr(msg, needle) != NULL, "%s: message \"%s\" does not name \"%s\"", what, msg, needle);
    CHECK_MSG(!exists(out) && !exists(mm) && no_file_like(dir, "out"), "%s: output left behind", what);
}

static void test_bad_inputs(void)
{
    const char *hf = tiny_hf();
    static const char *const all[] = {"config.json", "generation_config.json", "model-00001-of-00002.safetensors",
                                      "model-00002-of-00002.safetensors", "model.safetensors.index.json",
                                      "preprocessor_config.json", "tokenizer.json", "tokenizer.model",
                                      "tokenizer_config.json", NULL};
    static const char *const no_shard2[] = {"config.json", "model-00001-of-00002.safetensors", "model.safetensors.index.json",
                                            "tokenizer.model", "tokenizer.json", "tokenizer_config.json", NULL};
    static const char *const no_shard1[] = {"config.json", "model-00002-of-00002.safetensors", "model.safetensors.index.json",
                                            "tokenizer.model", "tokenizer.json", "tokenizer_config.json", NULL};
    static const char *const no_index[] = {"config.json", "model-00001-of-00002.safetensors", "tokenizer.model",
                                           "tokenizer.json", "tokenizer_config.json", "preprocessor_config.json", NULL};
    static const char *const no_config[] = {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                                            "model.safetensors.index.json", "tokenizer.model", "tokenizer.json",
                                            "tokenizer_config.json", NULL};
    static const char *const no_tok_model[] = {"config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                                               "model.safetensors.index.json", "tokenizer.json", "tokenizer_config.json", NULL};
    static const char *const no_tok[] = {"config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                                         "model.safetensors.index.json", "tokenizer_config.json", NULL};
    char *p, *s;
    const char *dir;

    /* the complete directory converts (sanity of the setup) */
    dir = make_dir("conv-bad-ok", hf, all);
    {
        char out[1024];
        snprintf(out, sizeof out, "%s/out.gguf", dir);
        CHECK_OK(convert(dir, out, NULL, GGML_TYPE_F16, 0, NULL, NULL));
        CHECK(exists(out));
    }

    dir = make_dir("conv-bad-missing-shard", hf, no_shard2);
    expect_failure("missing shard", dir, "model-00002-of-00002.safetensors");
    dir = make_dir("conv-bad-missing-shard1", hf, no_shard1);
    expect_failure("missing first shard", dir, "model-00001-of-00002.safetensors");

    /* truncated shard */
    dir = make_dir("conv-bad-truncated", hf, no_shard2);
    p = path2(dir, "model-00002-of-00002.safetensors");
    s = path2(hf, "model-00002-of-00002.safetensors");
    CHECK_OK(copy_file(s, p, medge_file_size(s) / 2));
    free(p);
    free(s);
    expect_failure("truncated shard", dir, "model-00002-of-00002.safetensors");

    /* index naming a file that does not exist */
    dir = make_dir("conv-bad-index", hf, no_index);
    {
        medge_map m;
        s = path2(hf, "model.safetensors.index.json");
        CHECK_OK(medge_read_file(s, &m));
        free(s);
        medge_buf b = {0};
        medge_buf_append(&b, m.data, (size_t)m.size);
        medge_unmap(&m);
        /* every entry of shard 2 now points at a shard 3 nobody wrote */
        medge_buf nb = {0};
        const char *q = b.data, *hit;
        while ((hit = strstr(q, "model-00002-of-00002.safetensors"))) {
            medge_buf_append(&nb, q, (size_t)(hit - q));
            medge_buf_puts(&nb, "model-00003-of-00003.safetensors");
            q = hit + strlen("model-00002-of-00002.safetensors");
        }
        medge_buf_puts(&nb, q);
        p = path2(dir, "model.safetensors.index.json");
        medge_out o;
        CHECK_OK(medge_out_open(&o, p));
        CHECK_OK(medge_out_write(&o, nb.data, nb.len));
        CHECK_OK(medge_out_commit(&o));
        free(p);
        medge_buf_free(&b);
        medge_buf_free(&nb);
        /* shard 2 is present under its real name but the index does not mention it */
        p = path2(dir, "model-00002-of-00002.safetensors");
        s = path2(hf, "model-00002-of-00002.safetensors");
        char abs[4096];
        if (realpath(s, abs))
            CHECK(symlink(abs, p) == 0);
        free(p);
        free(s);
    }
    expect_failure("index naming a missing file", dir, "model-00003-of-00003.safetensors");

    /* wrong shape (same byte count) and wrong dtype */
    dir = make_dir("conv-bad-shape", hf, no_shard1);
    p = path2(dir, "model-00001-of-00002.safetensors");
    s = path2(hf, "model-00001-of-00002.safetensors");
    edit_shard(s, p, "\"language_model.model.layers.0.input_layernorm.weight\":{\"dtype\":\"BF16\",\"shape\":[256]",
               "\"language_model.model.layers.0.input_layernorm.weight\":{\"dtype\":\"BF16\",\"shape\":[2,128]");
    free(p);
    expect_failure("wrong shape", dir, "model-00001-of-00002.safetensors: tensor language_model.model.layers.0.input_layernorm.weight has shape [2, 128]");
    dir = make_dir("conv-bad-dtype", hf, no_shard1);
    p = path2(dir, "model-00001-of-00002.safetensors");
    edit_shard(s, p, "\"language_model.model.layers.0.input_layernorm.weight\":{\"dtype\":\"BF16\"",
               "\"language_model.model.layers.0.input_layernorm.weight\":{\"dtype\":\"I16\"");
    free(p);
    free(s);
    expect_failure("wrong dtype", dir, "input_layernorm.weight has dtype I16");

    /* config of another architecture; missing config */
    dir = make_dir("conv-bad-arch", hf, no_config);
    p = path2(dir, "config.json");
    {
        medge_out o;
        const char *txt = "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\", \"hidden_size\": 256}";
        CHECK_OK(medge_out_open(&o, p));
        CHECK_OK(medge_out_write(&o, txt, strlen(txt)));
        CHECK_OK(medge_out_commit(&o));
    }
    free(p);
    expect_failure("other architecture", dir, "config.json: model_type \"llama\"");
    dir = make_dir("conv-bad-noconfig", hf, no_config);
    expect_failure("missing config", dir, "config.json");

    /* a config whose sizes do not match the tensors */
    dir = make_dir("conv-bad-config-size", hf, no_config);
    p = path2(dir, "config.json");
    s = path2(hf, "config.json");
    {
        medge_map m;
        CHECK_OK(medge_read_file(s, &m));
        medge_buf b = {0};
        medge_buf_append(&b, m.data, (size_t)m.size);
        medge_unmap(&m);
        char *at = strstr(b.data, "\"intermediate_size\": 768");
        CHECK(at != NULL);
        if (at)
            memcpy(at, "\"intermediate_size\": 769", 24);
        medge_out o;
        CHECK_OK(medge_out_open(&o, p));
        CHECK_OK(medge_out_write(&o, b.data, b.len));
        CHECK_OK(medge_out_commit(&o));
        medge_buf_free(&b);
    }
    free(p);
    free(s);
    expect_failure("config sizes", dir, "config.json implies [769, 256]");

    /* unreadable tokenizer: garbage tokenizer.model; broken tokenizer.json; none at all */
    dir = make_dir("conv-bad-tokmodel", hf, no_tok_model);
    p = path2(dir, "tokenizer.model");
    {
        medge_out o;
        const uint8_t junk[] = {0x0a, 0xff, 0xff, 0xff, 0x0f, 'x', 'y'};
        CHECK_OK(medge_out_open(&o, p));
        CHECK_OK(medge_out_write(&o, junk, sizeof junk));
        CHECK_OK(medge_out_commit(&o));
    }
    free(p);
    expect_failure("garbage tokenizer.model", dir, "tokenizer.model");
    static const char *const no_tok_json[] = {"config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                                              "model.safetensors.index.json", "tokenizer_config.json", NULL};
    dir = make_dir("conv-bad-tokjson", hf, no_tok_json);
    p = path2(dir, "tokenizer.json");
    s = path2(hf, "tokenizer.json");
    CHECK_OK(copy_file(s, p, 5000));
    free(p);
    free(s);
    expect_failure("truncated tokenizer.json", dir, "tokenizer.json");
    dir = make_dir("conv-bad-notok", hf, no_tok);
    expect_failure("no tokenizer", dir, "tokenizer.json");

    /* a failure in the second output removes the first */
    dir = make_dir("conv-bad-mmproj", hf, all);
    {
        char out[1024], mm[1024];
        snprintf(out, sizeof out, "%s/out.gguf", dir);
        snprintf(mm, sizeof mm, "%s/no-such-dir/out-mmproj.gguf", dir);
        medge_status rc = convert(dir, out, mm, GGML_TYPE_F16, 0, NULL, NULL);
        CHECK(rc != MEDGE_OK);
        CHECK(strstr(medge_errmsg(NULL), "out-mmproj.gguf") != NULL);
        CHECK(!exists(out) && no_file_like(dir, "out"));
    }
}

static void test_spm_model(void)
{
    spm_model *m = NULL;
    CHECK_OK(spm_model_load(test_ref("tokenizer/gemma3-full/tokenizer.model"), &m));
    if (!m)
        return;
    CHECK_EQ_INT(m->n_pieces, 262145);
    CHECK_EQ_INT(m->model_type, SPM_BPE);
    CHECK_EQ_INT(m->byte_fallback, 1);
    CHECK_EQ_INT(m->unk_id, 3);
    CHECK_EQ_INT(m->bos_id, 2);
    CHECK_EQ_INT(m->eos_id, 1);
    CHECK_EQ_INT(m->pad_id, 0);
    CHECK_EQ_INT(m->add_dummy_prefix, 0);
    CHECK_EQ_INT(m->escape_whitespaces, 1);
    CHECK_STR(m->normalizer_name, "identity");
    CHECK_STR(m->pieces[106].text, "<end_of_turn>");
    CHECK_EQ_INT(m->pieces[106].type, SPM_CONTROL);
    CHECK_STR(m->pieces[238].text, "<0x00>");
    CHECK_EQ_INT(m->pieces[238].type, SPM_BYTE);
    CHECK_STR(m->pieces[494].text, "\xe2\x96\x81t");
    CHECK_EQ_INT(m->pieces[494].type, SPM_NORMAL);
    CHECK_NEAR(m->pieces[494].score, -1394.0, 0);
    CHECK_STR(m->pieces[262144].text, "<image_soft_token>");
    spm_model_free(m);
    /* prefixes: malformed ones fail as FORMAT errors, the others hold only the complete pieces */
    medge_map f;
    CHECK_OK(medge_read_file(test_ref("gemma3-tiny/hf/tokenizer.model"), &f));
    size_t bad = 0;
    for (size_t n = 0; n < 4096 && n < f.size; n += 7) {
        spm_model *t = NULL;
        medge_status rc = spm_model_parse(f.data, n, &t);
        if (rc == MEDGE_OK ? t->n_pieces > n / 2 : rc != MEDGE_ERR_FORMAT)
            bad++;
        spm_model_free(t);
    }
    CHECK_EQ_INT(bad, 0);
    medge_unmap(&f);
}

static void test_size_label(void)
{
    char b[32];
    convert_size_label(8939776, b);
    CHECK_STR(b, "8.9M");
    convert_size_label(1336832, b);
    CHECK_STR(b, "1.3M");
    convert_size_label(3880263168ull, b);
    CHECK_STR(b, "3.9B");
    convert_size_label(26999000000ull, b);
    CHECK_STR(b, "27B");
    convert_size_label(419816304, b);
    CHECK_STR(b, "420M");
}

int main(void)
{
    test_size_label();
    test_spm_model();
    test_reference_conversions();
    test_tokenizer_json_tiny();
    test_q8_0();
    test_bad_inputs();
    test_vocab_only();
    TEST_END();
}
