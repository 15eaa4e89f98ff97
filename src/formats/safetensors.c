/* safetensors.c - see safetensors.h. A file is: u64 little-endian header length N, N bytes of
 * JSON ({name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}), then
 * the data section, to which data_offsets are relative. Names are looked up through an
 * open-addressing hash table built once (which also finds duplicates across shards). */
#include "formats/safetensors.h"
#include "core/file.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A header larger than this is not a checkpoint header (the reference implementation caps it
 * at 100 MB as well); refusing it early avoids parsing a huge hostile JSON. */
#define ST_MAX_HEADER (100u << 20)

typedef struct st_shard {
    char *path;
    medge_map map;
    json_doc *doc;
    const json_value *meta; /* "__metadata__" */
} st_shard;

struct st_model {
    st_shard *shards;
    size_t n_shards;
    st_tensor *tensors;
    size_t n_tensors, cap_tensors;
    size_t *hash; /* index + 1 into tensors; 0 = empty */
    size_t hash_cap;
    json_doc *index;
    const json_value *index_meta;
};

static const struct {
    const char *name;
    size_t size;
} dtypes[] = {
    [ST_F32] = {"F32", 4}, [ST_F16] = {"F16", 2}, [ST_BF16] = {"BF16", 2}, [ST_F64] = {"F64", 8},
    [ST_I64] = {"I64", 8}, [ST_I32] = {"I32", 4}, [ST_I16] = {"I16", 2},  [ST_I8] = {"I8", 1},
    [ST_U8] = {"U8", 1},   [ST_BOOL] = {"BOOL", 1},
};
#define N_DTYPES (sizeof dtypes / sizeof dtypes[0])

const char *st_dtype_name(enum st_dtype t) { return (unsigned)t < N_DTYPES ? dtypes[t].name : "?"; }
size_t st_dtype_size(enum st_dtype t) { return (unsigned)t < N_DTYPES ? dtypes[t].size : 0; }

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* ---- one shard ---- */

static medge_status add_tensor(st_model *m, const st_tensor *t)
{
    if (m->n_tensors == m->cap_tensors) {
        size_t cap = m->cap_tensors ? m->cap_tensors * 2 : 64;
        st_tensor *nt = realloc(m->tensors, cap * sizeof *nt);
        if (!nt)
            return medge_err(MEDGE_ERR_NOMEM, "out of memory");
        m->tensors = nt;
        m->cap_tensors = cap;
    }
    m->tensors[m->n_tensors++] = *t;
    return MEDGE_OK;
}

static medge_status parse_dims(const json_value *shape, st_tensor *t, const char *name)
{
    if (!shape || shape->type != JSON_ARRAY)
        return medge_err(MEDGE_ERR_FORMAT, "tensor '%s': \"shape\" missing or not an array", name);
    if (shape->len > ST_MAX_DIMS)
        return medge_err(MEDGE_ERR_UNSUPPORTED, "tensor '%s': %zu dimensions (at most %d)", name, shape->len, ST_MAX_DIMS);
    t->n_dims = (int)shape->len;
    for (size_t d = 0; d < shape->len; d++) {
        const json_value *v = &shape->items[d];
        if (v->type != JSON_NUMBER || !v->is_int || v->i < 0)
            return medge_err(MEDGE_ERR_FORMAT, "tensor '%s': dimension %zu is not a non-negative integer", name, d);
        t->shape[d] = v->i;
    }
    return MEDGE_OK;
}

static medge_status parse_entry(st_model *m, size_t shard, const char *name, size_t name_len, const json_value *e,
                                uint64_t data_start, uint64_t data_size)
{
    st_shard *sh = &m->shards[shard];
    if (name_len == 0 || strlen(name) != name_len)
        return medge_err(MEDGE_ERR_FORMAT, "tensor name is empty or contains a NUL byte");
    if (e->type != JSON_OBJECT)
        return medge_err(MEDGE_ERR_FORMAT, "tensor '%s': entry is not an object", name);
    st_tensor t;
    memset(&t, 0, sizeof t);
    t.name = name;
    t.file = sh->path;
    const char *dt = json_get_str(e, "dtype");
    if (!dt)
        return medge_err(MEDGE_ERR_FORMAT, "tensor '%s': \"dtype\" missing or not a string", name);
    size_t k = 0;
    while (k < N_DTYPES && strcmp(dtypes[k].name, dt) != 0)
        k++;
    if (k == N_DTYPES)
        return medge_err(MEDGE_ERR_UNSUPPORTED, "tensor '%s': unsupported dtype '%.40s'", name, dt);
    t.dtype = (enum st_dtype)k;
    MEDGE_TRY(parse_dims(json_get(e, "shape"), &t, name));

    uint64_t n = dtypes[k].size;
    for (int d = 0; d < t.n_dims; d++)
        if (!medge_mul_u64(n, (uint64_t)t.shape[d], &n))
            return medge_err(MEDGE_ERR_FORMAT, "tensor '%s': shape overflows", name);

    const json_value *off = json_get(e, "data_offsets");
    if (!off || off->type != JSON_ARRAY || off->len != 2)
        return medge_err(MEDGE_ERR_FORMAT, "tensor '%s': \"data_offsets\" must be an array of two integers", name);
    for (int j = 0; j < 2; j++)
        if (off->items[j].type != JSON_NUMBER || !off->items[j].is_int || off->items[j].i < 0)
            return medge_err(MEDGE_ERR_FORMAT, "tensor '%s': data_offsets[%d] is not a non-negative integer", name, j);
    uint64_t begin = (uint64_t)off->items[0].i, end = (uint64_t)off->items[1].i;
    if (begin > end)
        return medge_err(MEDGE_ERR_FORMAT, "tensor '%s': data_offsets [%llu, %llu] end before they begin", name,
                         (unsigned long long)begin, (unsigned long long)end);
    if (end > data_size)
        return medge_err(MEDGE_ERR_FORMAT, "tensor '%s': data_offsets [%llu, %llu] run past the end of the data (%llu bytes)",
                         name, (unsigned long long)begin, (unsigned long long)end, (unsigned long long)data_size);
    if (end - begin != n)
        return medge_err(MEDGE_ERR_FORMAT, "tensor '%s': data_offsets span %llu bytes but %s shape needs %llu", name,
                         (unsigned long long)(end - begin), dtypes[k].name, (unsigned long long)n);
    t.nbytes = n;
    t.data = sh->map.data ? sh->map.data + data_start + begin : NULL;
    return add_tensor(m, &t);
}

/* Parse the shard whose bytes are in m->shards[shard].map. */
static medge_status parse_shard(st_model *m, size_t shard)
{
    st_shard *sh = &m->shards[shard];
    const uint8_t *p = sh->map.data;
    uint64_t size = sh->map.size;
    if (size < 8)
        return medge_err(MEDGE_ERR_FORMAT, "not a safetensors file: only %llu bytes", (unsigned long long)size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | p[i];
    if (hlen > size - 8)
        return medge_err(MEDGE_ERR_FORMAT, "header length %llu runs past the end of the file (%llu bytes)",
                         (unsigned long long)hlen, (unsigned long long)size);
    if (hlen < 2 || hlen > ST_MAX_HEADER)
        return medge_err(MEDGE_ERR_FORMAT, "implausible header length %llu", (unsigned long long)hlen);
    if (p[8] != '{')
        return medge_err(MEDGE_ERR_FORMAT, "not a safetensors file: header does not start with '{'");
    medge_status rc = json_parse((const char *)p + 8, (size_t)hlen, &sh->doc);
    if (rc != MEDGE_OK)
        return medge_err_prefix(rc, "header JSON");
    const json_value *root = json_root(sh->doc);
    if (root->type != JSON_OBJECT)
        return medge_err(MEDGE_ERR_FORMAT, "header is not a JSON object");
    uint64_t data_start = 8 + hlen, data_size = size - data_start;
    for (size_t i = 0; i < root->len; i++) {
        const json_member *mb = &root->members[i];
        if (strcmp(mb->key, "__metadata__") == 0 && strlen(mb->key) == mb->key_len) {
            if (sh->meta)
                return medge_err(MEDGE_ERR_FORMAT, "duplicate \"__metadata__\"");
            if (mb->value.type != JSON_OBJECT)
                return medge_err(MEDGE_ERR_FORMAT, "\"__metadata__\" is not an object");
            sh->meta = &mb->value;
            continue;
        }
        MEDGE_TRY(parse_entry(m, shard, mb->key, mb->key_len, &mb->value, data_start, data_size));
    }
    return MEDGE_OK;
}

static medge_status add_shard(st_model *m, const char *path, size_t *idx)
{
    st_shard *ns = realloc(m->shards, (m->n_shards + 1) * sizeof *ns);
    if (!ns)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    m->shards = ns;
    st_shard *sh = &ns[m->n_shards];
    memset(sh, 0, sizeof *sh);
    sh->path = strdup(path);
    if (!sh->path)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    *idx = m->n_shards++;
    return MEDGE_OK;
}

static medge_status open_shard(st_model *m, const char *path)
{
    size_t idx = 0;
    MEDGE_TRY(add_shard(m, path, &idx));
    medge_status rc = medge_map_file(path, &m->shards[idx].map);
    if (rc == MEDGE_OK)
        rc = parse_shard(m, idx);
    if (rc != MEDGE_OK && !strstr(medge_err_last(), path))
        medge_err_prefix(rc, "%s", path);
    return rc;
}

/* ---- name table ---- */

static medge_status build_hash(st_model *m)
{
    size_t cap = 16;
    while (cap < m->n_tensors * 2 + 1)
        cap *= 2;
    m->hash = calloc(cap, sizeof *m->hash);
    if (!m->hash)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    m->hash_cap = cap;
    for (size_t i = 0; i < m->n_tensors; i++) {
        const st_tensor *t = &m->tensors[i];
        size_t h = (size_t)hash_str(t->name) & (cap - 1);
        while (m->hash[h]) {
            const st_tensor *o = &m->tensors[m->hash[h] - 1];
            if (strcmp(o->name, t->name) == 0) {
                if (o->file == t->file)
                    return medge_err(MEDGE_ERR_FORMAT, "%s: duplicate tensor name '%s'", t->file, t->name);
                return medge_err(MEDGE_ERR_FORMAT, "duplicate tensor name '%s' in %s and %s", t->name, o->file, t->file);
            }
            h = (h + 1) & (cap - 1);
        }
        m->hash[h] = i + 1;
    }
    return MEDGE_OK;
}

const st_tensor *st_find(const st_model *m, const char *name)
{
    if (!m || !name || !m->hash_cap)
        return NULL;
    size_t h = (size_t)hash_str(name) & (m->hash_cap - 1);
    while (m->hash[h]) {
        const st_tensor *t = &m->tensors[m->hash[h] - 1];
        if (strcmp(t->name, name) == 0)
            return t;
        h = (h + 1) & (m->hash_cap - 1);
    }
    return NULL;
}

/* ---- index ---- */

static char *dir_of(const char *path)
{
    const char *s = strrchr(path, '/');
    if (!s)
        return strdup(".");
    size_t n = s == path ? 1 : (size_t)(s - path);
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, path, n);
        d[n] = 0;
    }
    return d;
}

/* A shard name from the index must stay inside the index's directory. */
static int safe_rel_name(const char *s, size_t len)
{
    if (len == 0 || strlen(s) != len || s[0] == '/')
        return 0;
    for (const char *p = s; *p;) {
        const char *q = strchr(p, '/');
        size_t n = q ? (size_t)(q - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return 0;
        p += n + (q ? 1 : 0);
    }
    return 1;
}

static medge_status open_index(st_model *m, const char *path)
{
    medge_status rc = json_parse_file(path, &m->index);
    if (rc != MEDGE_OK)
        return rc;
    const json_value *root = json_root(m->index);
    const json_value *wm = json_get(root, "weight_map");
    if (!wm || wm->type != JSON_OBJECT)
        return medge_err(MEDGE_ERR_FORMAT, "%s: no \"weight_map\" object", path);
    const json_value *meta = json_get(root, "metadata");
    m->index_meta = meta && meta->type == JSON_OBJECT ? meta : NULL;
    char *dir = dir_of(path);
    if (!dir)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    /* Shards in order of first appearance in the weight map. */
    const char **names = calloc(wm->len ? wm->len : 1, sizeof *names);
    size_t n_names = 0;
    if (!names) {
        free(dir);
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < wm->len && rc == MEDGE_OK; i++) {
        const json_value *v = &wm->members[i].value;
        if (v->type != JSON_STRING || !safe_rel_name(v->s, v->len)) {
            rc = medge_err(MEDGE_ERR_FORMAT, "%s: weight_map entry '%.100s' does not name a file in the index's folder", path,
                           wm->members[i].key);
            break;
        }
        size_t k = 0;
        while (k < n_names && strcmp(names[k], v->s) != 0)
            k++;
        if (k == n_names)
            names[n_names++] = v->s;
    }
    if (rc == MEDGE_OK && n_names == 0)
        rc = medge_err(MEDGE_ERR_FORMAT, "%s: the weight_map is empty", path);
    for (size_t k = 0; k < n_names && rc == MEDGE_OK; k++) {
        char *sp = medge_path_join(dir, names[k]);
        if (!sp) {
            rc = medge_err(MEDGE_ERR_NOMEM, "out of memory");
            break;
        }
        struct stat st;
        if (stat(sp, &st) != 0)
            rc = medge_err(MEDGE_ERR_NOT_FOUND, "%s: shard %s named by the index does not exist", path, sp);
        else
            rc = open_shard(m, sp);
        free(sp);
    }
    free(names);
    free(dir);
    if (rc != MEDGE_OK)
        return rc;
    MEDGE_TRY(build_hash(m));
    /* Every tensor the index names must be in the shard it names. */
    for (size_t i = 0; i < wm->len; i++) {
        const json_member *mb = &wm->members[i];
        const st_tensor *t = st_find(m, mb->key);
        if (!t)
            return medge_err(MEDGE_ERR_FORMAT, "%s: tensor '%.200s' is in the weight_map but in no shard", path, mb->key);
        if (strcmp(base_name(t->file), base_name(mb->value.s)) != 0)
            return medge_err(MEDGE_ERR_FORMAT, "%s: the index puts tensor '%.200s' in %s but it is in %s", path, mb->key,
                             mb->value.s, t->file);
    }
    return MEDGE_OK;
}

/* ---- open ---- */

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static medge_status open_dir(st_model *m, const char *dir)
{
    char *p = medge_path_join(dir, "model.safetensors.index.json");
    if (!p)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    struct stat st;
    medge_status rc;
    if (stat(p, &st) == 0) {
        rc = open_index(m, p);
        free(p);
        return rc;
    }
    free(p);
    p = medge_path_join(dir, "model.safetensors");
    if (!p)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    if (stat(p, &st) == 0) {
        rc = open_shard(m, p);
        free(p);
        return rc == MEDGE_OK ? build_hash(m) : rc;
    }
    free(p);
    /* Otherwise exactly one *.safetensors file. */
    DIR *d = opendir(dir);
    if (!d)
        return medge_err(MEDGE_ERR_NOT_FOUND, "%s: cannot open the folder", dir);
    char *found = NULL;
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] != '.' && ends_with(e->d_name, ".safetensors")) {
            if (count++ == 0)
                found = strdup(e->d_name);
        }
    }
    closedir(d);
    if (count != 1) {
        free(found);
        return medge_err(MEDGE_ERR_NOT_FOUND, count ? "%s: %d .safetensors files and no model.safetensors.index.json"
                                                     : "%s: no model.safetensors.index.json and no .safetensors file",
                         dir, count);
    }
    if (!found)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    p = medge_path_join(dir, found);
    free(found);
    if (!p)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    rc = open_shard(m, p);
    free(p);
    return rc == MEDGE_OK ? build_hash(m) : rc;
}

medge_status st_open(const char *path, st_model **out)
{
    *out = NULL;
    if (!path)
        return medge_err(MEDGE_ERR_INVALID_ARG, "no path");
    st_model *m = calloc(1, sizeof *m);
    if (!m)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    struct stat st;
    medge_status rc;
    if (stat(path, &st) != 0)
        rc = medge_err(MEDGE_ERR_NOT_FOUND, "%s: no such file or folder", path);
    else if (S_ISDIR(st.st_mode))
        rc = open_dir(m, path);
    else if (ends_with(path, ".json"))
        rc = open_index(m, path);
    else {
        rc = open_shard(m, path);
        if (rc == MEDGE_OK)
            rc = build_hash(m);
    }
    if (rc != MEDGE_OK) {
        st_close(m);
        return rc;
    }
    *out = m;
    return MEDGE_OK;
}

medge_status st_open_memory(const void *buf, size_t size, st_model **out)
{
    *out = NULL;
    if (!buf && size)
        return medge_err(MEDGE_ERR_INVALID_ARG, "no buffer");
    st_model *m = calloc(1, sizeof *m);
    if (!m)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    size_t idx = 0;
    medge_status rc = add_shard(m, "(memory)", &idx);
    if (rc == MEDGE_OK) {
        m->shards[idx].map.data = buf;
        m->shards[idx].map.size = size;
        rc = parse_shard(m, idx);
    }
    if (rc == MEDGE_OK)
        rc = build_hash(m);
    if (rc != MEDGE_OK) {
        st_close(m);
        return rc;
    }
    *out = m;
    return MEDGE_OK;
}

size_t st_count(const st_model *m) { return m ? m->n_tensors : 0; }
const st_tensor *st_at(const st_model *m, size_t i) { return m && i < m->n_tensors ? &m->tensors[i] : NULL; }
size_t st_shard_count(const st_model *m) { return m ? m->n_shards : 0; }
const char *st_shard_path(const st_model *m, size_t shard) { return m && shard < m->n_shards ? m->shards[shard].path : NULL; }
const json_value *st_metadata(const st_model *m, size_t shard) { return m && shard < m->n_shards ? m->shards[shard].meta : NULL; }
uint64_t st_offset(const st_model *m, const st_tensor *t)
{
    for (size_t i = 0; m && t && i < m->n_shards; i++)
        if (m->shards[i].path == t->file && m->shards[i].map.data)
            return (uint64_t)((const uint8_t *)t->data - m->shards[i].map.data);
    return 0;
}
const json_value *st_index_metadata(const st_model *m) { return m ? m->index_meta : NULL; }

void st_close(st_model *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_shards; i++) {
        st_shard *sh = &m->shards[i];
        if (sh->map.base)
            medge_unmap(&sh->map);
        json_free(sh->doc);
        free(sh->path);
    }
    free(m->shards);
    free(m->tensors);
    free(m->hash);
    json_free(m->index);
    free(m);
}
