/* test-info.c - `medge info --json --sha256` (and the same description made through the library)
 * reproduces every reference manifest whose GGUF lies beside it: keys, value types, values,
 * arrays by length / hash / head, tensor names, order, types, dims and data SHA-256. Altered
 * manifests and the wrong file are reported as mismatches. */
#include "test.h"
#include "core/file.h"
#include "core/json.h"
#include "core/sha256.h"
#include "formats/gguf.h"
#include "formats/info.h"
#include "formats/safetensors.h"

#include <dirent.h>
#include <sys/stat.h>

static int n_compared, n_manifests;

/* Run medge info --json --sha256 on path; parse its output. */
static json_doc *cli_describe(const char *path)
{
    const char *bin = getenv("MEDGE_BIN");
    CHECK_MSG(bin && bin[0], "MEDGE_BIN is not set");
    if (!bin || !bin[0])
        return NULL;
    const char *out = test_tmp("info-out.json");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' info --json --sha256 '%s' > '%s'", bin, path, out);
    int rc = system(cmd);
    CHECK_MSG(rc == 0, "%s -> %d", cmd, rc);
    json_doc *d = NULL;
    CHECK_OK(json_parse_file(out, &d));
    return d;
}

static void check_manifest(const char *dir, const char *name)
{
    char mpath[2048], gpath[2048];
    snprintf(mpath, sizeof mpath, "%s/%s", dir, name);
    json_doc *man = NULL;
    CHECK_OK(json_parse_file(mpath, &man));
    if (!man)
        return;
    n_manifests++;
    const char *file = json_get_str(json_root(man), "file");
    CHECK(file != NULL);
    snprintf(gpath, sizeof gpath, "%s/%s", dir, file ? file : "");
    struct stat st;
    if (!file || stat(gpath, &st) != 0) { /* described for converters/quantizers to match; no GGUF here */
        json_free(man);
        return;
    }
    n_compared++;
    /* Library path. */
    gguf_ctx *g = NULL;
    CHECK_OK(gguf_open(gpath, &g));
    if (g) {
        medge_buf rep = {0};
        medge_status rc = info_gguf_check_manifest(g, mpath, 0, &rep);
        CHECK_MSG(rc == MEDGE_OK, "%s: %s\n%s", file, medge_errmsg(NULL), rep.data ? rep.data : "");
        medge_buf_free(&rep);
        gguf_close(g);
    }
    /* The command. */
    json_doc *d = cli_describe(gpath);
    if (d) {
        medge_buf rep = {0};
        medge_status rc = info_manifest_compare(json_root(d), json_root(man), 0, &rep);
        CHECK_MSG(rc == MEDGE_OK, "medge info on %s: %s\n%s", file, medge_errmsg(NULL), rep.data ? rep.data : "");
        const json_value *r = json_root(d);
        int64_t v = 0;
        CHECK(json_get_int(r, "version", &v) && v == 3);
        CHECK(json_get_int(r, "alignment", &v) && v == 32);
        const json_value *md = json_get(r, "metadata"), *mt = json_get(json_root(man), "kv");
        CHECK(md && mt && md->len == mt->len);
        const json_value *tt = json_get(r, "tensors");
        CHECK(tt && tt->len == json_get(json_root(man), "tensors")->len);
        /* Arrays in full: the token list has every element. */
        for (size_t i = 0; md && i < md->len; i++) {
            const char *key = json_get_str(&md->items[i], "key");
            const json_value *val = json_get(&md->items[i], "value");
            int64_t len = -1;
            if (key && strcmp(key, "tokenizer.ggml.tokens") == 0) {
                CHECK(json_get_int(&md->items[i], "len", &len) && val && val->type == JSON_ARRAY && (int64_t)val->len == len);
                CHECK(len == 4160);
            }
        }
        medge_buf_free(&rep);
        json_free(d);
    }
    json_free(man);
}

static void walk(const char *dir, int depth)
{
    DIR *d = opendir(dir);
    CHECK_MSG(d != NULL, "cannot open %s", dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char p[2048];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(p, &st) != 0)
            continue;
        size_t n = strlen(e->d_name);
        if (S_ISDIR(st.st_mode) && depth < 4)
            walk(p, depth + 1);
        else if (n > 14 && strcmp(e->d_name + n - 14, ".manifest.json") == 0)
            check_manifest(dir, e->d_name);
    }
    closedir(d);
}

/* Replace the first occurrence of from with to in a manifest's text and compare: must mismatch. */
static void altered(const char *gguf_rel, const char *man_rel, const char *from, const char *to, const char *want)
{
    medge_map m;
    CHECK_OK(medge_read_file(test_ref(man_rel), &m));
    const char *text = (const char *)m.data;
    const char *hit = strstr(text, from);
    CHECK_MSG(hit != NULL, "'%s' not in %s", from, man_rel);
    if (!hit) {
        medge_unmap(&m);
        return;
    }
    medge_buf b = {0};
    medge_buf_append(&b, text, (size_t)(hit - text));
    medge_buf_puts(&b, to);
    medge_buf_append(&b, hit + strlen(from), (size_t)m.size - (size_t)(hit - text) - strlen(from));
    medge_unmap(&m);
    const char *path = test_tmp("altered.manifest.json");
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(b.data, 1, b.len, f) == b.len);
    if (f)
        fclose(f);
    medge_buf_free(&b);
    gguf_ctx *g = NULL;
    CHECK_OK(gguf_open(test_ref(gguf_rel), &g));
    medge_buf rep = {0};
    medge_status rc = info_gguf_check_manifest(g, path, 0, &rep);
    CHECK_MSG(rc == MEDGE_ERR_MISMATCH, "%s -> %s: status %d", from, to, (int)rc);
    CHECK_MSG(strstr(medge_errmsg(NULL), want) != NULL, "message \"%s\" lacks \"%s\"", medge_errmsg(NULL), want);
    CHECK_MSG(rep.data && strstr(rep.data, want), "report lacks \"%s\"", want);
    medge_buf_free(&rep);
    gguf_close(g);
}

static void negatives(void)
{
    const char *q8 = "gemma3-tiny/gguf/tiny-gemma3-Q8_0.gguf", *q8m = "gemma3-tiny/gguf/tiny-gemma3-Q8_0.manifest.json";
    altered(q8, q8m, "9.999999974752427e-07", "1e-05", "key gemma3.attention.layer_norm_rms_epsilon: value differs");
    altered(q8, q8m, "\"len\": 4160", "\"len\": 4161", "key tokenizer.ggml.tokens: 4160 elements, manifest has 4161");
    altered(q8, q8m, "\"sha256_le\": \"25c5", "\"sha256_le\": \"35c5", "key tokenizer.ggml.scores: array hash");
    altered(q8, q8m, "\"<mask>\"", "\"<masc>\"", "key tokenizer.ggml.tokens: element 4 differs");
    altered(q8, q8m, "\"type\": \"uint32\"", "\"type\": \"int32\"", "type uint32, manifest has int32");
    altered(q8, q8m, "\"key\": \"general.name\"", "\"key\": \"general.nom\"", "key general.nom: missing");
    altered(q8, q8m, "\"sha256\": \"e6a3", "\"sha256\": \"f6a3", "tensor output_norm.weight: data hash");
    altered(q8, q8m, "\"dims\": [\n    256\n   ]", "\"dims\": [\n    128, 2\n   ]", "tensor output_norm.weight: dims differ");
    /* The wrong file against a manifest. */
    gguf_ctx *g = NULL;
    CHECK_OK(gguf_open(test_ref(q8), &g));
    medge_status rc = info_gguf_check_manifest(g, test_ref("gemma3-tiny/gguf/tiny-gemma3-Q4_K_S.manifest.json"), 0, NULL);
    CHECK_EQ_INT(rc, MEDGE_ERR_MISMATCH);
    CHECK(strstr(medge_errmsg(NULL), "general.file_type") != NULL);
    /* The loose mode forgives naming keys only. */
    rc = info_gguf_check_manifest(g, test_tmp("altered.manifest.json"), MANIFEST_LOOSE_GENERAL, NULL);
    CHECK_EQ_INT(rc, MEDGE_ERR_MISMATCH); /* still the dims difference */
    gguf_close(g);
}

static void safetensors_json(void)
{
    st_model *m = NULL;
    CHECK_OK(st_open(test_ref("gemma3-tiny/hf"), &m));
    if (!m)
        return;
    medge_buf b = {0};
    CHECK_OK(info_st_json(m, INFO_SHA256, &b));
    json_doc *d = NULL;
    CHECK_OK(json_parse(b.data, b.len, &d));
    if (d) {
        const json_value *t = json_get(json_root(d), "tensors");
        CHECK(t && t->len == 145);
        CHECK_STR(json_get_str(json_root(d), "format"), "safetensors");
        const json_value *sh = json_get(json_root(d), "shards");
        CHECK(sh && sh->len == 2);
        if (t && t->len == 145) {
            /* First tensor of shard 1 starts right after its 8 + 6808-byte header. */
            int64_t off = 0;
            CHECK(json_get_int(&t->items[0], "offset", &off));
            CHECK_EQ_INT(off, 8 + 6808);
            const json_value *shape = json_get(&t->items[0], "shape");
            CHECK(shape && shape->len == 2 && shape->items[0].i == 4160 && shape->items[1].i == 256);
            /* The hash is of the bytes at that offset of that file. */
            medge_map f;
            CHECK_OK(medge_read_file(json_get_str(&t->items[0], "file"), &f));
            char hex[65];
            medge_sha256_hex(f.data + off, 4160 * 256 * 2, hex);
            CHECK_STR(json_get_str(&t->items[0], "sha256"), hex);
            medge_unmap(&f);
        }
        json_free(d);
    }
    medge_buf_free(&b);
    st_close(m);
}

int main(void)
{
    walk(test_ref_dir(), 0);
    CHECK_MSG(n_manifests >= 8, "only %d manifests found", n_manifests);
    CHECK_MSG(n_compared >= 4, "only %d manifests had their GGUF beside them", n_compared);
    printf("%d manifests, %d compared with their GGUF\n", n_manifests, n_compared);
    negatives();
    safetensors_json();
    TEST_END();
}
