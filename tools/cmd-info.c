/* cmd-info.c - `medge info FILE`: what a GGUF or safetensors file holds (metadata, tensor table,
 * totals), as text or JSON, optionally with per-tensor SHA-256 and a comparison with a manifest.
 * Without --sha256 it only maps the file and reads the header, so it is instant on any size. */
#include "tool.h"
#include "core/error.h"
#include "core/file.h"
#include "core/json.h"
#include "core/sha256.h"
#include "formats/gguf.h"
#include "formats/info.h"
#include "formats/safetensors.h"
#include "quant/types.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *usage_text =
    "usage: medge info [options] FILE\n"
    "\n"
    "Describe a model file: its metadata (long arrays abbreviated), a table of its tensors (name,\n"
    "type, dims, bytes, offset) and totals. Only the header is read unless --sha256 is given.\n"
    "\n"
    "FILE  a .gguf file; a .safetensors file; a model.safetensors.index.json; or a folder holding\n"
    "      a safetensors checkpoint (sharded or not)\n"
    "\n"
    "options:\n"
    "  --json            print a JSON description instead, with arrays in full:\n"
    "                    GGUF: {\"format\", \"version\", \"alignment\", \"data_offset\", \"size\",\n"
    "                    \"metadata\": [{\"key\", \"type\", \"value\"}...], \"tensors\": [{\"name\", \"type\",\n"
    "                    \"dims\", \"offset\", \"nbytes\", \"sha256\"}...]} (arrays also carry \"elem\",\n"
    "                    \"len\" and \"sha256\"); safetensors: {\"format\", \"shards\", \"tensors\"}\n"
    "  --sha256          add the SHA-256 of each tensor's data (reads the whole file)\n"
    "  --manifest FILE   compare a GGUF with a reference manifest (*.manifest.json): keys, types,\n"
    "                    values, tensor names, types, dims and data hashes; prints each difference\n"
    "                    and exits 1 when there is one (implies reading all tensor data)\n"
    "  --loose-general   with --manifest: general.* keys naming the model may differ\n"
    "  -h, --help        show this help\n"
    "\n"
    "exit status: 0 ok, 1 error or manifest mismatch, 2 bad usage\n";

static int is_gguf(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    unsigned char m[4] = {0};
    size_t n = fread(m, 1, 4, f);
    fclose(f);
    if (n == 4 && memcmp(m, "GGUF", 4) == 0)
        return 1;
    size_t l = strlen(path);
    return l > 5 && strcmp(path + l - 5, ".gguf") == 0; /* let the GGUF reader explain what is wrong */
}

/* Print a string value, abbreviated to max bytes, with control characters escaped. */
static void print_str(const char *s, size_t n, size_t max)
{
    putchar('"');
    size_t k = n < max ? n : max;
    for (size_t i = 0; i < k; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n')
            fputs("\\n", stdout);
        else if (c == '\t')
            fputs("\\t", stdout);
        else if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            printf("\\x%02x", c);
        else
            putchar(c);
    }
    putchar('"');
    if (k < n)
        printf("... (%zu bytes)", n);
}

static void print_scalar(uint32_t type, const void *p)
{
    switch (type) {
    case GGUF_U8: printf("%u", *(const uint8_t *)p); break;
    case GGUF_I8: printf("%d", *(const int8_t *)p); break;
    case GGUF_U16: printf("%u", *(const uint16_t *)p); break;
    case GGUF_I16: printf("%d", *(const int16_t *)p); break;
    case GGUF_U32: printf("%u", *(const uint32_t *)p); break;
    case GGUF_I32: printf("%d", *(const int32_t *)p); break;
    case GGUF_U64: printf("%llu", (unsigned long long)*(const uint64_t *)p); break;
    case GGUF_I64: printf("%lld", (long long)*(const int64_t *)p); break;
    case GGUF_F32: {
        float f = *(const float *)p;
        char tmp[40];
        for (int prec = 1; prec <= 9; prec++) { /* shortest text that reads back as f */
            snprintf(tmp, sizeof tmp, "%.*g", prec, (double)f);
            if (strtof(tmp, NULL) == f)
                break;
        }
        fputs(tmp, stdout);
        break;
    }
    case GGUF_F64: printf("%.17g", *(const double *)p); break;
    case GGUF_BOOL: fputs(*(const uint8_t *)p ? "true" : "false", stdout); break;
    case GGUF_STR: {
        const gguf_str *s = p;
        print_str(s->s, (size_t)s->len, 60);
        break;
    }
    default: fputs("?", stdout); break;
    }
}

static void print_value(const gguf_value *v, int depth)
{
    if (v->type != GGUF_ARR) {
        print_scalar(v->type, v->type == GGUF_STR ? (const void *)&v->str : (const void *)&v->u64);
        return;
    }
    const uint64_t show = depth ? 3 : 8;
    size_t sz = v->arr.type == GGUF_STR ? sizeof(gguf_str) : v->arr.type == GGUF_ARR ? sizeof(gguf_value) : gguf_vtype_size(v->arr.type);
    printf("[%s x %llu] [", info_gguf_type_name(v->arr.type), (unsigned long long)v->arr.n);
    for (uint64_t i = 0; i < v->arr.n && i < show; i++) {
        if (i)
            fputs(", ", stdout);
        const void *e = (const uint8_t *)v->arr.data + i * sz;
        if (v->arr.type == GGUF_ARR)
            print_value(e, depth + 1);
        else if (v->arr.type == GGUF_STR)
            print_str(((const gguf_str *)e)->s, (size_t)((const gguf_str *)e)->len, 24);
        else
            print_scalar(v->arr.type, e);
    }
    fputs(v->arr.n > show ? ", ...]" : "]", stdout);
}

static void human_bytes(uint64_t n, char *out, size_t cap)
{
    if (n >= (1ull << 30))
        snprintf(out, cap, "%.2f GiB", (double)n / (1ull << 30));
    else if (n >= (1ull << 20))
        snprintf(out, cap, "%.2f MiB", (double)n / (1ull << 20));
    else if (n >= 1024)
        snprintf(out, cap, "%.1f KiB", (double)n / 1024);
    else
        snprintf(out, cap, "%llu B", (unsigned long long)n);
}

static int info_gguf_text(const char *path, const gguf_ctx *g, int sha)
{
    char hb[32];
    human_bytes(g->size, hb, sizeof hb);
    printf("file:      %s\nformat:    GGUF v%u, %llu bytes (%s), alignment %u, data section at offset %llu\n", path, g->version,
           (unsigned long long)g->size, hb, g->alignment, (unsigned long long)g->data_offset);
    printf("\nmetadata (%llu keys):\n", (unsigned long long)g->n_kv);
    size_t kw = 0;
    for (uint64_t i = 0; i < g->n_kv; i++)
        if (g->kv[i].key.len > kw)
            kw = (size_t)g->kv[i].key.len;
    if (kw > 48)
        kw = 48;
    for (uint64_t i = 0; i < g->n_kv; i++) {
        const gguf_kv *kv = &g->kv[i];
        printf("  %-*s %-7s ", (int)kw, kv->key.s, info_gguf_type_name(kv->v.type));
        print_value(&kv->v, 0);
        putchar('\n');
    }
    size_t nw = 4;
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if (g->tensors[i].name.len > nw)
            nw = (size_t)g->tensors[i].name.len;
    printf("\ntensors (%llu):\n  %-*s %-7s %-24s %12s %12s%s\n", (unsigned long long)g->n_tensors, (int)nw, "name", "type", "dims",
           "bytes", "offset", sha ? "  sha256" : "");
    /* slot GGML_TYPE_COUNT: medge's own MEDGE_TYPE_I8_PC */
    uint64_t count_by_type[GGML_TYPE_COUNT + 1] = {0}, bytes_by_type[GGML_TYPE_COUNT + 1] = {0};
    uint64_t total = 0, params = 0;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const gguf_tensor *t = &g->tensors[i];
        char dims[64];
        int k = 0;
        uint64_t ne = 1;
        for (uint32_t d = 0; d < t->n_dims; d++) {
            k += snprintf(dims + k, sizeof dims - (size_t)k, "%s%lld", d ? " x " : "", (long long)t->ne[d]);
            if (k >= (int)sizeof dims)
                k = (int)sizeof dims - 1;
            ne *= (uint64_t)t->ne[d];
        }
        if (t->n_dims == 0)
            snprintf(dims, sizeof dims, "scalar");
        printf("  %-*s %-7s %-24s %12llu %12llu", (int)nw, t->name.s, quant_type_name(t->type), dims, (unsigned long long)t->nbytes,
               (unsigned long long)t->offset);
        if (sha) {
            char hex[65];
            medge_sha256_hex(t->data, (size_t)t->nbytes, hex); /* gguf_open maps: data is set */
            printf("  %s", hex);
        }
        putchar('\n');
        const uint32_t slot = t->type == (uint32_t)MEDGE_TYPE_I8_PC ? GGML_TYPE_COUNT : t->type;
        if (slot <= GGML_TYPE_COUNT) {
            count_by_type[slot]++;
            bytes_by_type[slot] += t->nbytes;
        }
        total += t->nbytes;
        params += ne;
    }
    human_bytes(total, hb, sizeof hb);
    printf("\ntotal: %llu tensors, %llu parameters (%.2f M), %llu bytes of tensor data (%s)\nby type:", (unsigned long long)g->n_tensors,
           (unsigned long long)params, (double)params / 1e6, (unsigned long long)total, hb);
    for (int t = 0; t <= GGML_TYPE_COUNT; t++)
        if (count_by_type[t]) {
            human_bytes(bytes_by_type[t], hb, sizeof hb);
            printf(" %s x %llu (%s);", quant_type_name(t == GGML_TYPE_COUNT ? (uint32_t)MEDGE_TYPE_I8_PC : (uint32_t)t),
                   (unsigned long long)count_by_type[t], hb);
        }
    putchar('\n');
    return 0;
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static int info_st_text(const char *path, const st_model *m, int sha)
{
    printf("file:      %s\nformat:    safetensors, %zu shard%s\n", path, st_shard_count(m), st_shard_count(m) == 1 ? "" : "s");
    for (size_t i = 0; i < st_shard_count(m); i++) {
        const char *sp = st_shard_path(m, i);
        printf("  shard %zu: %s (%lld bytes)", i, sp, (long long)medge_file_size(sp));
        const json_value *meta = st_metadata(m, i);
        for (size_t k = 0; meta && k < meta->len; k++) {
            printf("%s%s=", k ? ", " : "  metadata: ", meta->members[k].key);
            const json_value *v = &meta->members[k].value;
            if (v->type == JSON_STRING)
                print_str(v->s, v->len, 40);
            else
                fputs("(non-string)", stdout);
        }
        putchar('\n');
    }
    size_t nw = 4;
    for (size_t i = 0; i < st_count(m); i++)
        if (strlen(st_at(m, i)->name) > nw)
            nw = strlen(st_at(m, i)->name);
    int multi = st_shard_count(m) > 1;
    printf("\ntensors (%zu):\n  %-*s %-5s %-24s %12s %12s%s%s\n", st_count(m), (int)nw, "name", "dtype", "shape", "bytes", "offset",
           multi ? "  file" : "", sha ? "  sha256" : "");
    uint64_t count_by[16] = {0}, bytes_by[16] = {0}, total = 0, params = 0;
    for (size_t i = 0; i < st_count(m); i++) {
        const st_tensor *t = st_at(m, i);
        char dims[96];
        int k = 0;
        uint64_t ne = 1;
        dims[0] = 0;
        for (int d = 0; d < t->n_dims; d++) {
            k += snprintf(dims + k, sizeof dims - (size_t)k, "%s%lld", d ? " x " : "", (long long)t->shape[d]);
            if (k >= (int)sizeof dims)
                k = (int)sizeof dims - 1;
            ne *= (uint64_t)t->shape[d];
        }
        if (t->n_dims == 0)
            snprintf(dims, sizeof dims, "scalar");
        printf("  %-*s %-5s %-24s %12llu %12llu", (int)nw, t->name, st_dtype_name(t->dtype), dims, (unsigned long long)t->nbytes,
               (unsigned long long)st_offset(m, t));
        if (multi)
            printf("  %s", base_name(t->file));
        if (sha) {
            char hex[65];
            medge_sha256_hex(t->data, (size_t)t->nbytes, hex);
            printf("  %s", hex);
        }
        putchar('\n');
        count_by[t->dtype & 15]++;
        bytes_by[t->dtype & 15] += t->nbytes;
        total += t->nbytes;
        params += ne;
    }
    char hb[32];
    human_bytes(total, hb, sizeof hb);
    printf("\ntotal: %zu tensors, %llu parameters (%.2f M), %llu bytes of tensor data (%s)\nby dtype:", st_count(m),
           (unsigned long long)params, (double)params / 1e6, (unsigned long long)total, hb);
    for (int t = 0; t < 16; t++)
        if (count_by[t]) {
            human_bytes(bytes_by[t], hb, sizeof hb);
            printf(" %s x %llu (%s);", st_dtype_name((enum st_dtype)t), (unsigned long long)count_by[t], hb);
        }
    putchar('\n');
    return 0;
}

static int write_buf(const medge_buf *b)
{
    if (b->oom) {
        fprintf(stderr, "medge info: out of memory\n");
        return 1;
    }
    if (fwrite(b->data, 1, b->len, stdout) != b->len || fflush(stdout) != 0) {
        fprintf(stderr, "medge info: cannot write the output\n");
        return 1;
    }
    return 0;
}

static int run(int argc, char **argv)
{
    int json = 0, sha = 0, loose = 0;
    const char *path = NULL, *manifest = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage_text, stdout);
            return 0;
        } else if (strcmp(a, "--json") == 0) {
            json = 1;
        } else if (strcmp(a, "--sha256") == 0) {
            sha = 1;
        } else if (strcmp(a, "--loose-general") == 0) {
            loose = 1;
        } else if (strcmp(a, "--manifest") == 0 && i + 1 < argc) {
            manifest = argv[++i];
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "medge info: unknown option '%s'\n\n%s", a, usage_text);
            return 2;
        } else if (!path) {
            path = a;
        } else {
            fprintf(stderr, "medge info: more than one FILE ('%s' and '%s')\n", path, a);
            return 2;
        }
    }
    if (!path) {
        fprintf(stderr, "medge info: no FILE given\n\n%s", usage_text);
        return 2;
    }
    if (is_gguf(path)) {
        gguf_ctx *g = NULL;
        medge_status rc = gguf_open(path, &g);
        if (rc != MEDGE_OK)
            return tool_fail("info", rc);
        int ret = 0;
        if (manifest) {
            medge_buf rep = {0};
            rc = info_gguf_check_manifest(g, manifest, loose ? MANIFEST_LOOSE_GENERAL : 0, &rep);
            if (rc == MEDGE_OK) {
                printf("%s matches %s: %llu keys, %llu tensors\n", path, manifest, (unsigned long long)g->n_kv,
                       (unsigned long long)g->n_tensors);
            } else if (rc == MEDGE_ERR_MISMATCH) {
                fputs(rep.data ? rep.data : "", stdout);
                ret = tool_fail("info", rc);
            } else {
                ret = tool_fail("info", rc);
            }
            medge_buf_free(&rep);
        } else if (json) {
            medge_buf b = {0};
            rc = info_gguf_json(g, sha ? INFO_SHA256 : 0, &b);
            ret = rc != MEDGE_OK ? tool_fail("info", rc) : write_buf(&b);
            medge_buf_free(&b);
        } else {
            ret = info_gguf_text(path, g, sha);
        }
        gguf_close(g);
        return ret;
    }
    if (manifest) {
        fprintf(stderr, "medge info: --manifest compares GGUF files only\n");
        return 2;
    }
    st_model *m = NULL;
    medge_status rc = st_open(path, &m);
    if (rc != MEDGE_OK) {
        struct stat st;
        size_t l = strlen(path);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && !(l > 12 && strcmp(path + l - 12, ".safetensors") == 0) &&
            !(l > 5 && strcmp(path + l - 5, ".json") == 0))
            medge_err_prefix(rc, "not a GGUF file (no GGUF magic), and not readable as safetensors either");
        return tool_fail("info", rc);
    }
    int ret;
    if (json) {
        medge_buf b = {0};
        rc = info_st_json(m, sha ? INFO_SHA256 : 0, &b);
        ret = rc != MEDGE_OK ? tool_fail("info", rc) : write_buf(&b);
        medge_buf_free(&b);
    } else {
        ret = info_st_text(path, m, sha);
    }
    st_close(m);
    return ret;
}

const struct medge_cmd medge_cmd_info = {"info", "describe a GGUF or safetensors file (metadata, tensors, checksums)", run};
