/* info.c - see info.h. The description is written with medge_buf (JSON text) so the same bytes
 * serve `medge info --json` and the manifest comparison, which parses them back. */
#include "formats/info.h"
#include "core/sha256.h"
#include "quant/types.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *info_gguf_type_name(uint32_t t)
{
    static const char *names[] = {"uint8", "int8",   "uint16", "int16", "uint32", "int32",  "float32",
                                  "bool",  "string", "array",  "uint64", "int64", "float64"};
    return t < GGUF_VTYPE_COUNT ? names[t] : "?";
}

bool info_gguf_array_sha256(const gguf_value *v, char hex[65])
{
    if (v->type != GGUF_ARR || v->arr.type == GGUF_ARR)
        return false;
    medge_sha256 s;
    medge_sha256_init(&s);
    if (v->arr.type == GGUF_STR) {
        const gguf_str *a = v->arr.data;
        for (uint64_t i = 0; i < v->arr.n; i++) {
            if (i)
                medge_sha256_update(&s, "", 1);
            medge_sha256_update(&s, a[i].s, (size_t)a[i].len);
        }
    } else {
        /* Elements are stored naturally aligned in host order; medge targets little-endian hosts. */
        medge_sha256_update(&s, v->arr.data, (size_t)(v->arr.n * gguf_vtype_size(v->arr.type)));
    }
    uint8_t dig[32];
    medge_sha256_final(&s, dig);
    medge_sha256_to_hex(dig, hex);
    return true;
}

/* Shortest text that reads back as the same float32. */
static void put_f32(medge_buf *b, float f)
{
    if (!isfinite(f)) {
        medge_buf_puts(b, "null");
        return;
    }
    char tmp[40];
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, (double)f);
        if (strtof(tmp, NULL) == f)
            break;
    }
    medge_buf_puts(b, tmp);
}

static void put_scalar(medge_buf *b, uint32_t type, const void *p)
{
    switch (type) {
    case GGUF_U8: medge_buf_printf(b, "%u", *(const uint8_t *)p); break;
    case GGUF_I8: medge_buf_printf(b, "%d", *(const int8_t *)p); break;
    case GGUF_U16: medge_buf_printf(b, "%u", *(const uint16_t *)p); break;
    case GGUF_I16: medge_buf_printf(b, "%d", *(const int16_t *)p); break;
    case GGUF_U32: medge_buf_printf(b, "%u", *(const uint32_t *)p); break;
    case GGUF_I32: medge_buf_printf(b, "%d", *(const int32_t *)p); break;
    case GGUF_U64: medge_buf_printf(b, "%llu", (unsigned long long)*(const uint64_t *)p); break;
    case GGUF_I64: medge_buf_printf(b, "%lld", (long long)*(const int64_t *)p); break;
    case GGUF_F32: put_f32(b, *(const float *)p); break;
    case GGUF_F64: medge_buf_json_num(b, *(const double *)p); break;
    case GGUF_BOOL: medge_buf_puts(b, *(const uint8_t *)p ? "true" : "false"); break;
    case GGUF_STR: {
        const gguf_str *s = p;
        medge_buf_json_str(b, s->s, (size_t)s->len);
        break;
    }
    default: medge_buf_puts(b, "null"); break;
    }
}

static void put_value(medge_buf *b, const gguf_value *v)
{
    if (v->type != GGUF_ARR) {
        put_scalar(b, v->type, v->type == GGUF_STR ? (const void *)&v->str : (const void *)&v->u64);
        return;
    }
    medge_buf_puts(b, "[");
    size_t sz = v->arr.type == GGUF_STR ? sizeof(gguf_str) : v->arr.type == GGUF_ARR ? sizeof(gguf_value) : gguf_vtype_size(v->arr.type);
    for (uint64_t i = 0; i < v->arr.n; i++) {
        if (i)
            medge_buf_puts(b, ", ");
        const void *e = (const uint8_t *)v->arr.data + i * sz;
        if (v->arr.type == GGUF_ARR)
            put_value(b, e);
        else
            put_scalar(b, v->arr.type, e);
    }
    medge_buf_puts(b, "]");
}

/* SHA-256 of n bytes at data, or read through the GGUF callbacks when data is NULL. */
static medge_status hash_gguf_tensor(const gguf_ctx *g, uint64_t i, char hex[65])
{
    const gguf_tensor *t = &g->tensors[i];
    if (t->data) {
        medge_sha256_hex(t->data, (size_t)t->nbytes, hex);
        return MEDGE_OK;
    }
    enum { CHUNK = 1 << 20 };
    uint8_t *buf = malloc(CHUNK);
    if (!buf)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    medge_sha256 s;
    medge_sha256_init(&s);
    for (uint64_t off = 0; off < t->nbytes; off += CHUNK) {
        size_t n = t->nbytes - off < CHUNK ? (size_t)(t->nbytes - off) : CHUNK;
        medge_status rc = gguf_read_tensor_part(g, i, off, buf, n);
        if (rc != MEDGE_OK) {
            free(buf);
            return rc;
        }
        medge_sha256_update(&s, buf, n);
    }
    free(buf);
    uint8_t dig[32];
    medge_sha256_final(&s, dig);
    medge_sha256_to_hex(dig, hex);
    return MEDGE_OK;
}

medge_status info_gguf_json(const gguf_ctx *g, unsigned flags, medge_buf *b)
{
    medge_buf_printf(b, "{\"format\": \"gguf\", \"version\": %u, \"alignment\": %u, \"data_offset\": %llu, \"size\": %llu,\n",
                     g->version, g->alignment, (unsigned long long)g->data_offset, (unsigned long long)g->size);
    medge_buf_puts(b, " \"metadata\": [");
    for (uint64_t i = 0; i < g->n_kv; i++) {
        const gguf_kv *kv = &g->kv[i];
        medge_buf_puts(b, i ? ",\n  {\"key\": " : "\n  {\"key\": ");
        medge_buf_json_str(b, kv->key.s, (size_t)kv->key.len);
        medge_buf_printf(b, ", \"type\": \"%s\"", info_gguf_type_name(kv->v.type));
        if (kv->v.type == GGUF_ARR) {
            medge_buf_printf(b, ", \"elem\": \"%s\", \"len\": %llu", info_gguf_type_name(kv->v.arr.type),
                             (unsigned long long)kv->v.arr.n);
            char hex[65];
            if (info_gguf_array_sha256(&kv->v, hex))
                medge_buf_printf(b, ", \"sha256\": \"%s\"", hex);
        }
        medge_buf_puts(b, ", \"value\": ");
        put_value(b, &kv->v);
        medge_buf_puts(b, "}");
    }
    medge_buf_puts(b, "],\n \"tensors\": [");
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const gguf_tensor *t = &g->tensors[i];
        medge_buf_puts(b, i ? ",\n  {\"name\": " : "\n  {\"name\": ");
        medge_buf_json_str(b, t->name.s, (size_t)t->name.len);
        medge_buf_printf(b, ", \"type\": \"%s\", \"dims\": [", quant_type_name(t->type));
        for (uint32_t d = 0; d < t->n_dims; d++)
            medge_buf_printf(b, "%s%lld", d ? ", " : "", (long long)t->ne[d]);
        medge_buf_printf(b, "], \"offset\": %llu, \"nbytes\": %llu", (unsigned long long)t->offset, (unsigned long long)t->nbytes);
        if (flags & INFO_SHA256) {
            char hex[65];
            MEDGE_TRY(hash_gguf_tensor(g, i, hex));
            medge_buf_printf(b, ", \"sha256\": \"%s\"", hex);
        }
        medge_buf_puts(b, "}");
    }
    medge_buf_puts(b, "]}\n");
    if (b->oom)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory describing the file");
    return MEDGE_OK;
}

static void put_json(medge_buf *b, const json_value *v)
{
    switch (v->type) {
    case JSON_NULL: medge_buf_puts(b, "null"); break;
    case JSON_BOOL: medge_buf_puts(b, v->b ? "true" : "false"); break;
    case JSON_NUMBER:
        if (v->is_int)
            medge_buf_printf(b, "%lld", (long long)v->i);
        else
            medge_buf_json_num(b, v->num);
        break;
    case JSON_STRING: medge_buf_json_str(b, v->s, v->len); break;
    case JSON_ARRAY:
        medge_buf_puts(b, "[");
        for (size_t i = 0; i < v->len; i++) {
            if (i)
                medge_buf_puts(b, ", ");
            put_json(b, &v->items[i]);
        }
        medge_buf_puts(b, "]");
        break;
    case JSON_OBJECT:
        medge_buf_puts(b, "{");
        for (size_t i = 0; i < v->len; i++) {
            if (i)
                medge_buf_puts(b, ", ");
            medge_buf_json_str(b, v->members[i].key, v->members[i].key_len);
            medge_buf_puts(b, ": ");
            put_json(b, &v->members[i].value);
        }
        medge_buf_puts(b, "}");
        break;
    }
}

medge_status info_st_json(const st_model *m, unsigned flags, medge_buf *b)
{
    medge_buf_puts(b, "{\"format\": \"safetensors\",\n \"shards\": [");
    for (size_t i = 0; i < st_shard_count(m); i++) {
        const char *p = st_shard_path(m, i);
        medge_buf_puts(b, i ? ",\n  {\"file\": " : "\n  {\"file\": ");
        medge_buf_json_str(b, p, strlen(p));
        medge_buf_puts(b, ", \"metadata\": ");
        const json_value *meta = st_metadata(m, i);
        if (meta)
            put_json(b, meta);
        else
            medge_buf_puts(b, "null");
        medge_buf_puts(b, "}");
    }
    medge_buf_puts(b, "],\n \"tensors\": [");
    for (size_t i = 0; i < st_count(m); i++) {
        const st_tensor *t = st_at(m, i);
        medge_buf_puts(b, i ? ",\n  {\"name\": " : "\n  {\"name\": ");
        medge_buf_json_str(b, t->name, strlen(t->name));
        medge_buf_printf(b, ", \"type\": \"%s\", \"shape\": [", st_dtype_name(t->dtype));
        for (int d = 0; d < t->n_dims; d++)
            medge_buf_printf(b, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
        medge_buf_puts(b, "], \"file\": ");
        medge_buf_json_str(b, t->file, strlen(t->file));
        medge_buf_printf(b, ", \"offset\": %llu, \"nbytes\": %llu", (unsigned long long)st_offset(m, t), (unsigned long long)t->nbytes);
        if (flags & INFO_SHA256) {
            char hex[65];
            medge_sha256_hex(t->data, (size_t)t->nbytes, hex);
            medge_buf_printf(b, ", \"sha256\": \"%s\"", hex);
        }
        medge_buf_puts(b, "}");
    }
    medge_buf_puts(b, "]}\n");
    if (b->oom)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory describing the file");
    return MEDGE_OK;
}

/* ---- manifest comparison ---- */

typedef struct diffs {
    medge_buf *report;
    int n;
    char first[400];
} diffs;

static void diff(diffs *d, const char *fmt, ...) MEDGE_PRINTF(2, 3);
static void diff(diffs *d, const char *fmt, ...)
{
    char line[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (d->n == 0)
        snprintf(d->first, sizeof d->first, "%s", line);
    if (d->report && d->n < 50)
        medge_buf_printf(d->report, "%s\n", line);
    d->n++;
}

static bool loose_general(const char *key)
{
    if (strncmp(key, "general.", 8) != 0)
        return false;
    static const char *strict[] = {"general.architecture", "general.type", "general.file_type", "general.quantization_version",
                                   "general.alignment"};
    for (size_t i = 0; i < sizeof strict / sizeof strict[0]; i++)
        if (strcmp(key, strict[i]) == 0)
            return false;
    return true;
}

static const json_value *find_by(const json_value *arr, const char *field, const char *name, size_t *pos)
{
    if (!arr || arr->type != JSON_ARRAY)
        return NULL;
    for (size_t i = 0; i < arr->len; i++) {
        const char *s = json_get_str(&arr->items[i], field);
        if (s && strcmp(s, name) == 0) {
            if (pos)
                *pos = i;
            return &arr->items[i];
        }
    }
    return NULL;
}

/* Scalar equality by the declared type. */
static bool same_scalar(const char *type, const json_value *a, const json_value *b)
{
    if (!a || !b)
        return false;
    if (strcmp(type, "string") == 0)
        return a->type == JSON_STRING && b->type == JSON_STRING && a->len == b->len && memcmp(a->s, b->s, a->len) == 0;
    if (strcmp(type, "bool") == 0)
        return a->type == JSON_BOOL && b->type == JSON_BOOL && a->b == b->b;
    if (a->type != JSON_NUMBER || b->type != JSON_NUMBER)
        return a->type == JSON_NULL && b->type == JSON_NULL;
    if (strcmp(type, "float32") == 0)
        return (float)a->num == (float)b->num;
    if (strcmp(type, "float64") == 0)
        return a->num == b->num;
    if (a->is_int && b->is_int)
        return a->i == b->i;
    return a->num == b->num;
}

static void compare_kv(diffs *d, const json_value *mine, const json_value *ref, const char *key)
{
    const char *rt = json_get_str(ref, "type"), *mt = json_get_str(mine, "type");
    if (!rt || !mt || strcmp(rt, mt) != 0) {
        diff(d, "key %s: type %s, manifest has %s", key, mt ? mt : "?", rt ? rt : "?");
        return;
    }
    if (strcmp(rt, "array") != 0) {
        if (!same_scalar(rt, json_get(mine, "value"), json_get(ref, "value")))
            diff(d, "key %s: value differs from the manifest", key);
        return;
    }
    const char *re = json_get_str(ref, "elem"), *me = json_get_str(mine, "elem");
    if (!re || !me || strcmp(re, me) != 0) {
        diff(d, "key %s: array of %s, manifest has %s", key, me ? me : "?", re ? re : "?");
        return;
    }
    int64_t rl = -1, ml = -2;
    json_get_int(ref, "len", &rl);
    json_get_int(mine, "len", &ml);
    if (rl != ml) {
        diff(d, "key %s: %lld elements, manifest has %lld", key, (long long)ml, (long long)rl);
        return;
    }
    const char *rh = json_get_str(ref, "sha256_le");
    if (!rh)
        rh = json_get_str(ref, "sha256_nul_joined");
    if (!rh)
        rh = json_get_str(ref, "sha256");
    const char *mh = json_get_str(mine, "sha256");
    if (rh && (!mh || strcmp(rh, mh) != 0))
        diff(d, "key %s: array hash %.16s..., manifest has %.16s...", key, mh ? mh : "(none)", rh);
    const json_value *head = json_get(ref, "head"), *val = json_get(mine, "value");
    if (head && head->type == JSON_ARRAY) {
        if (!val || val->type != JSON_ARRAY || val->len < head->len) {
            diff(d, "key %s: no values to compare with the manifest's head", key);
            return;
        }
        for (size_t i = 0; i < head->len; i++)
            if (!same_scalar(re, &val->items[i], &head->items[i])) {
                diff(d, "key %s: element %zu differs from the manifest's head", key, i);
                break;
            }
    }
}

static void compare_tensor(diffs *d, const json_value *mine, const json_value *ref, const char *name, unsigned flags)
{
    const char *rt = json_get_str(ref, "type"), *mt = json_get_str(mine, "type");
    if (!rt || !mt || strcmp(rt, mt) != 0)
        diff(d, "tensor %s: type %s, manifest has %s", name, mt ? mt : "?", rt ? rt : "?");
    const json_value *rd = json_get(ref, "dims"), *md = json_get(mine, "dims");
    bool same = rd && md && rd->type == JSON_ARRAY && md->type == JSON_ARRAY && rd->len == md->len;
    for (size_t i = 0; same && i < rd->len; i++)
        same = rd->items[i].is_int && md->items[i].is_int && rd->items[i].i == md->items[i].i;
    if (!same)
        diff(d, "tensor %s: dims differ from the manifest", name);
    int64_t rn = -1, mn = -2;
    if (json_get_int(ref, "nbytes", &rn) && (!json_get_int(mine, "nbytes", &mn) || rn != mn))
        diff(d, "tensor %s: %lld bytes, manifest has %lld", name, (long long)mn, (long long)rn);
    if (!(flags & MANIFEST_NO_SHA256)) {
        const char *rh = json_get_str(ref, "sha256"), *mh = json_get_str(mine, "sha256");
        if (rh && (!mh || strcmp(rh, mh) != 0))
            diff(d, "tensor %s: data hash %.16s..., manifest has %.16s...", name, mh ? mh : "(none)", rh);
    }
}

medge_status info_manifest_compare(const json_value *info, const json_value *manifest, unsigned flags, medge_buf *report)
{
    diffs d = {.report = report};
    int64_t ra, ma;
    if (json_get_int(manifest, "alignment", &ra) && (!json_get_int(info, "alignment", &ma) || ra != ma))
        diff(&d, "alignment differs from the manifest's %lld", (long long)ra);

    const json_value *rkv = json_get(manifest, "kv"), *mkv = json_get(info, "metadata");
    if (!rkv || rkv->type != JSON_ARRAY || !mkv || mkv->type != JSON_ARRAY)
        return medge_err(MEDGE_ERR_FORMAT, "manifest or description lacks a key list");
    for (size_t i = 0; i < rkv->len; i++) {
        const char *key = json_get_str(&rkv->items[i], "key");
        if (!key)
            return medge_err(MEDGE_ERR_FORMAT, "manifest key %zu has no name", i);
        bool loose = (flags & MANIFEST_LOOSE_GENERAL) && loose_general(key);
        const json_value *mine = find_by(mkv, "key", key, NULL);
        if (!mine) {
            if (!loose)
                diff(&d, "key %s: missing (the manifest has it)", key);
            continue;
        }
        if (!loose)
            compare_kv(&d, mine, &rkv->items[i], key);
    }
    for (size_t i = 0; i < mkv->len; i++) {
        const char *key = json_get_str(&mkv->items[i], "key");
        if (key && !find_by(rkv, "key", key, NULL) && !((flags & MANIFEST_LOOSE_GENERAL) && loose_general(key)))
            diff(&d, "key %s: extra (not in the manifest)", key);
    }

    const json_value *rt = json_get(manifest, "tensors"), *mt = json_get(info, "tensors");
    if (!rt || rt->type != JSON_ARRAY || !mt || mt->type != JSON_ARRAY)
        return medge_err(MEDGE_ERR_FORMAT, "manifest or description lacks a tensor list");
    if (rt->len != mt->len)
        diff(&d, "%zu tensors, manifest has %zu", mt->len, rt->len);
    size_t last = 0;
    bool order_ok = true;
    for (size_t i = 0; i < rt->len; i++) {
        const char *name = json_get_str(&rt->items[i], "name");
        if (!name)
            return medge_err(MEDGE_ERR_FORMAT, "manifest tensor %zu has no name", i);
        size_t pos = 0;
        const json_value *mine = find_by(mt, "name", name, &pos);
        if (!mine) {
            diff(&d, "tensor %s: missing (the manifest has it)", name);
            continue;
        }
        if (i && pos < last)
            order_ok = false;
        last = pos;
        compare_tensor(&d, mine, &rt->items[i], name, flags);
    }
    for (size_t i = 0; i < mt->len; i++) {
        const char *name = json_get_str(&mt->items[i], "name");
        if (name && !find_by(rt, "name", name, NULL))
            diff(&d, "tensor %s: extra (not in the manifest)", name);
    }
    if (!order_ok)
        diff(&d, "tensor order differs from the manifest");
    if (d.n)
        return medge_err(MEDGE_ERR_MISMATCH, "%d difference%s from the manifest; first: %s", d.n, d.n == 1 ? "" : "s", d.first);
    return MEDGE_OK;
}

medge_status info_gguf_check_manifest(const gguf_ctx *g, const char *manifest_path, unsigned flags, medge_buf *report)
{
    json_doc *man = NULL, *desc = NULL;
    medge_buf b = {0};
    MEDGE_TRY(json_parse_file(manifest_path, &man));
    medge_status rc = info_gguf_json(g, (flags & MANIFEST_NO_SHA256) ? 0 : INFO_SHA256, &b);
    if (rc == MEDGE_OK)
        rc = json_parse(b.data, b.len, &desc);
    if (rc == MEDGE_OK)
        rc = info_manifest_compare(json_root(desc), json_root(man), flags, report);
    if (rc == MEDGE_ERR_MISMATCH)
        medge_err_prefix(rc, "%s", manifest_path);
    json_free(desc);
    json_free(man);
    medge_buf_free(&b);
    return rc;
}
