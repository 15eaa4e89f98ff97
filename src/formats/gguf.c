/* gguf.c - see gguf.h. Parsing goes through a cursor over a medge_src (memory or callbacks, the
 * latter with a read-ahead buffer); every allocation is bounded by what the remaining bytes can
 * hold, so absurd counts fail before anything large is allocated. */
#include "formats/gguf.h"
#include "quant/types.h"

#include <stdlib.h>
#include <string.h>

/* ---- arena for strings and metadata arrays ---- */

typedef struct ablock {
    struct ablock *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
} ablock;

typedef struct arena {
    ablock *head;
} arena;

static void *arena_alloc(arena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (!a->head || a->head->cap - a->head->used < n) {
        size_t cap = n > (256u << 10) ? n : (256u << 10);
        ablock *b = malloc(sizeof *b + cap);
        if (!b)
            return NULL;
        b->cap = cap;
        b->used = 0;
        b->next = a->head;
        a->head = b;
    }
    void *r = a->head->data + a->head->used;
    a->head->used += n;
    return r;
}

static void arena_free(arena *a)
{
    ablock *b = a->head;
    while (b) {
        ablock *n = b->next;
        free(b);
        b = n;
    }
    a->head = NULL;
}

/* ---- name -> index hash (open addressing, FNV-1a) ---- */

typedef struct strmap {
    uint64_t *slots; /* index + 1, 0 = empty */
    uint64_t cap;
} strmap;

static uint64_t fnv(const char *s, uint64_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (uint64_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

static int strmap_init(strmap *m, uint64_t n)
{
    m->cap = 16;
    while (m->cap < n * 2)
        m->cap *= 2;
    m->slots = calloc(m->cap, sizeof *m->slots);
    return m->slots != NULL;
}

/* Returns the existing index, or inserts idx and returns -1. names[i] gives the string of index i. */
static int64_t strmap_put(strmap *m, const gguf_str *names, size_t stride, uint64_t idx)
{
    const gguf_str *k = (const gguf_str *)((const char *)names + stride * idx);
    uint64_t h = fnv(k->s, k->len) & (m->cap - 1);
    while (m->slots[h]) {
        const gguf_str *o = (const gguf_str *)((const char *)names + stride * (m->slots[h] - 1));
        if (o->len == k->len && memcmp(o->s, k->s, k->len) == 0)
            return (int64_t)(m->slots[h] - 1);
        h = (h + 1) & (m->cap - 1);
    }
    m->slots[h] = idx + 1;
    return -1;
}

static int64_t strmap_get(const strmap *m, const gguf_str *names, size_t stride, const char *s)
{
    if (!m->slots)
        return -1;
    uint64_t n = strlen(s);
    uint64_t h = fnv(s, n) & (m->cap - 1);
    while (m->slots[h]) {
        const gguf_str *o = (const gguf_str *)((const char *)names + stride * (m->slots[h] - 1));
        if (o->len == n && memcmp(o->s, s, n) == 0)
            return (int64_t)(m->slots[h] - 1);
        h = (h + 1) & (m->cap - 1);
    }
    return -1;
}

struct gguf_priv {
    arena ar;
    medge_map map;
    int has_map;
    medge_src src;
    medge_io io;
    strmap kmap, tmap;
};

/* ---- cursor ---- */

typedef struct cursor {
    const medge_src *src;
    uint64_t pos;
    uint8_t *buf; /* read-ahead for callback sources */
    uint64_t buf_off;
    size_t buf_len;
} cursor;

#define RA_SIZE (64u << 10)

static medge_status cur_read(cursor *c, void *dst, size_t n)
{
    uint64_t end;
    if (!medge_add_u64(c->pos, n, &end) || end > c->src->size)
        return medge_err(MEDGE_ERR_FORMAT, "truncated: need %zu bytes at offset %llu, file has %llu", n,
                         (unsigned long long)c->pos, (unsigned long long)c->src->size);
    if (c->src->mem) {
        memcpy(dst, c->src->mem + c->pos, n);
        c->pos = end;
        return MEDGE_OK;
    }
    uint8_t *d = dst;
    while (n) {
        if (c->pos >= c->buf_off && c->pos < c->buf_off + c->buf_len) {
            size_t k = (size_t)(c->buf_off + c->buf_len - c->pos);
            if (k > n)
                k = n;
            memcpy(d, c->buf + (c->pos - c->buf_off), k);
            d += k;
            n -= k;
            c->pos += k;
            continue;
        }
        if (n >= RA_SIZE) {
            MEDGE_TRY(medge_src_read(c->src, c->pos, d, n));
            c->pos += n;
            return MEDGE_OK;
        }
        uint64_t left = c->src->size - c->pos;
        size_t want = left < RA_SIZE ? (size_t)left : RA_SIZE;
        MEDGE_TRY(medge_src_read(c->src, c->pos, c->buf, want));
        c->buf_off = c->pos;
        c->buf_len = want;
    }
    return MEDGE_OK;
}

static uint64_t cur_left(const cursor *c) { return c->src->size - c->pos; }

static medge_status read_str(cursor *c, arena *a, gguf_str *out, const char *what)
{
    uint64_t len;
    MEDGE_TRY(cur_read(c, &len, 8));
    if (len > cur_left(c))
        return medge_err(MEDGE_ERR_FORMAT, "%s: string length %llu at offset %llu runs past the end of the file", what,
                         (unsigned long long)len, (unsigned long long)(c->pos - 8));
    char *s = arena_alloc(a, (size_t)len + 1);
    if (!s)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory reading GGUF strings");
    MEDGE_TRY(cur_read(c, s, (size_t)len));
    s[len] = 0;
    out->s = s;
    out->len = len;
    return MEDGE_OK;
}

size_t gguf_vtype_size(uint32_t t)
{
    switch (t) {
    case GGUF_U8: case GGUF_I8: case GGUF_BOOL: return 1;
    case GGUF_U16: case GGUF_I16: return 2;
    case GGUF_U32: case GGUF_I32: case GGUF_F32: return 4;
    case GGUF_U64: case GGUF_I64: case GGUF_F64: return 8;
    default: return 0;
    }
}

const char *gguf_vtype_name(uint32_t t)
{
    static const char *names[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "str", "arr", "u64", "i64", "f64"};
    return t < GGUF_VTYPE_COUNT ? names[t] : "?";
}

#define MAX_ARRAY_DEPTH 8

static medge_status read_value(cursor *c, arena *a, uint32_t type, gguf_value *v, const char *key, int depth)
{
    v->type = type;
    size_t sz = gguf_vtype_size(type);
    if (sz) {
        MEDGE_TRY(cur_read(c, &v->u64, sz));
        if (type == GGUF_BOOL && v->u8 > 1)
            return medge_err(MEDGE_ERR_FORMAT, "key '%s': bool value %u is neither 0 nor 1", key, v->u8);
        return MEDGE_OK;
    }
    if (type == GGUF_STR)
        return read_str(c, a, &v->str, key);
    if (type != GGUF_ARR)
        return medge_err(MEDGE_ERR_FORMAT, "key '%s': unknown value type %u", key, type);
    if (depth >= MAX_ARRAY_DEPTH)
        return medge_err(MEDGE_ERR_FORMAT, "key '%s': arrays nested more than %d deep", key, MAX_ARRAY_DEPTH);
    uint32_t et;
    uint64_t n;
    MEDGE_TRY(cur_read(c, &et, 4));
    MEDGE_TRY(cur_read(c, &n, 8));
    if (et >= GGUF_VTYPE_COUNT)
        return medge_err(MEDGE_ERR_FORMAT, "key '%s': unknown array element type %u", key, et);
    v->arr.type = et;
    v->arr.n = n;
    size_t esz = gguf_vtype_size(et);
    /* minimum bytes per element in the file bounds the count before allocating */
    uint64_t min_el = esz ? esz : (et == GGUF_STR ? 8 : 12);
    if (n > cur_left(c) / min_el)
        return medge_err(MEDGE_ERR_FORMAT, "key '%s': array of %llu elements runs past the end of the file", key,
                         (unsigned long long)n);
    if (esz) {
        void *d = arena_alloc(a, (size_t)(n * esz) + 1);
        if (!d)
            return medge_err(MEDGE_ERR_NOMEM, "key '%s': out of memory", key);
        MEDGE_TRY(cur_read(c, d, (size_t)(n * esz)));
        if (et == GGUF_BOOL)
            for (uint64_t i = 0; i < n; i++)
                if (((uint8_t *)d)[i] > 1)
                    return medge_err(MEDGE_ERR_FORMAT, "key '%s': bool element %llu is neither 0 nor 1", key, (unsigned long long)i);
        v->arr.data = d;
    } else if (et == GGUF_STR) {
        gguf_str *d = arena_alloc(a, (size_t)n * sizeof *d + 1);
        if (!d)
            return medge_err(MEDGE_ERR_NOMEM, "key '%s': out of memory", key);
        for (uint64_t i = 0; i < n; i++)
            MEDGE_TRY(read_str(c, a, &d[i], key));
        v->arr.data = d;
    } else {
        gguf_value *d = arena_alloc(a, (size_t)n * sizeof *d + 1);
        if (!d)
            return medge_err(MEDGE_ERR_NOMEM, "key '%s': out of memory", key);
        for (uint64_t i = 0; i < n; i++) {
            memset(&d[i], 0, sizeof d[i]);
            MEDGE_TRY(read_value(c, a, GGUF_ARR, &d[i], key, depth + 1));
        }
        v->arr.data = d;
    }
    return MEDGE_OK;
}

static medge_status parse(gguf_ctx *ctx)
{
    struct gguf_priv *pv = ctx->priv;
    cursor c = {.src = &pv->src};
    medge_status rc = MEDGE_OK;
    if (!pv->src.mem) {
        c.buf = malloc(RA_SIZE);
        if (!c.buf)
            return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    }
    uint32_t magic, version;
    uint64_t n_tensors, n_kv;
#define CHECK(x)                  \
    do {                          \
        if ((rc = (x)) != MEDGE_OK) \
            goto done;            \
    } while (0)
    if (pv->src.size < 4) {
        rc = medge_err(MEDGE_ERR_FORMAT, "not a GGUF file: only %llu bytes", (unsigned long long)pv->src.size);
        goto done;
    }
    CHECK(cur_read(&c, &magic, 4));
    if (magic != GGUF_MAGIC) {
        rc = medge_err(MEDGE_ERR_FORMAT, "not a GGUF file: bad magic %02x %02x %02x %02x", magic & 255, (magic >> 8) & 255,
                       (magic >> 16) & 255, magic >> 24);
        goto done;
    }
    CHECK(cur_read(&c, &version, 4));
    if (version != 2 && version != 3) {
        rc = medge_err(MEDGE_ERR_UNSUPPORTED, "unsupported GGUF version %u (medge reads versions 2 and 3)", version);
        goto done;
    }
    ctx->version = version;
    CHECK(cur_read(&c, &n_tensors, 8));
    CHECK(cur_read(&c, &n_kv, 8));
    /* a key needs >= 13 bytes (8 len + 1 char + 4 type), a tensor info >= 25 */
    if (n_kv > cur_left(&c) / 13) {
        rc = medge_err(MEDGE_ERR_FORMAT,
                       "absurd metadata count %llu, or a truncated file: keys need at least 13 bytes each and %llu bytes remain",
                       (unsigned long long)n_kv, (unsigned long long)cur_left(&c));
        goto done;
    }
    if (n_tensors > cur_left(&c) / 25) {
        rc = medge_err(MEDGE_ERR_FORMAT,
                       "absurd tensor count %llu, or a truncated file: tensor infos need at least 25 bytes each and %llu bytes remain",
                       (unsigned long long)n_tensors, (unsigned long long)cur_left(&c));
        goto done;
    }
    ctx->kv = calloc(n_kv ? (size_t)n_kv : 1, sizeof *ctx->kv);
    ctx->tensors = calloc(n_tensors ? (size_t)n_tensors : 1, sizeof *ctx->tensors);
    if (!ctx->kv || !ctx->tensors || !strmap_init(&pv->kmap, n_kv) || !strmap_init(&pv->tmap, n_tensors)) {
        rc = medge_err(MEDGE_ERR_NOMEM, "out of memory");
        goto done;
    }
    ctx->alignment = GGUF_DEFAULT_ALIGNMENT;
    for (uint64_t i = 0; i < n_kv; i++) {
        gguf_kv *kv = &ctx->kv[i];
        uint32_t type;
        CHECK(read_str(&c, &pv->ar, &kv->key, "metadata key"));
        if (kv->key.len == 0) {
            rc = medge_err(MEDGE_ERR_FORMAT, "metadata key %llu is empty", (unsigned long long)i);
            goto done;
        }
        if (strlen(kv->key.s) != kv->key.len) {
            rc = medge_err(MEDGE_ERR_FORMAT, "metadata key %llu contains a NUL byte", (unsigned long long)i);
            goto done;
        }
        ctx->n_kv = i + 1;
        if (strmap_put(&pv->kmap, &ctx->kv[0].key, sizeof(gguf_kv), i) >= 0) {
            rc = medge_err(MEDGE_ERR_FORMAT, "duplicate metadata key '%s'", kv->key.s);
            goto done;
        }
        CHECK(cur_read(&c, &type, 4));
        if (type >= GGUF_VTYPE_COUNT) {
            rc = medge_err(MEDGE_ERR_FORMAT, "key '%s': unknown value type %u", kv->key.s, type);
            goto done;
        }
        CHECK(read_value(&c, &pv->ar, type, &kv->v, kv->key.s, 0));
        if (strcmp(kv->key.s, "general.alignment") == 0) {
            if (type != GGUF_U32 || kv->v.u32 == 0 || (kv->v.u32 & (kv->v.u32 - 1))) {
                rc = medge_err(MEDGE_ERR_FORMAT, "general.alignment must be a u32 power of two");
                goto done;
            }
            ctx->alignment = kv->v.u32;
        }
    }
    for (uint64_t i = 0; i < n_tensors; i++) {
        gguf_tensor *t = &ctx->tensors[i];
        CHECK(read_str(&c, &pv->ar, &t->name, "tensor name"));
        if (t->name.len >= GGUF_MAX_NAME || strlen(t->name.s) != t->name.len) {
            rc = medge_err(MEDGE_ERR_FORMAT, "tensor %llu: name '%.80s' is too long or contains NUL", (unsigned long long)i, t->name.s);
            goto done;
        }
        ctx->n_tensors = i + 1;
        if (strmap_put(&pv->tmap, &ctx->tensors[0].name, sizeof(gguf_tensor), i) >= 0) {
            rc = medge_err(MEDGE_ERR_FORMAT, "duplicate tensor name '%s'", t->name.s);
            goto done;
        }
        CHECK(cur_read(&c, &t->n_dims, 4));
        if (t->n_dims > GGUF_MAX_DIMS) {
            rc = medge_err(MEDGE_ERR_FORMAT, "tensor '%s': %u dimensions (at most %d)", t->name.s, t->n_dims, GGUF_MAX_DIMS);
            goto done;
        }
        uint64_t nel = 1;
        for (int d = 0; d < GGUF_MAX_DIMS; d++) {
            uint64_t ne = 1;
            if ((uint32_t)d < t->n_dims)
                CHECK(cur_read(&c, &ne, 8));
            if (ne > (uint64_t)INT64_MAX || !medge_mul_u64(nel, ne, &nel) || nel > (uint64_t)INT64_MAX) {
                rc = medge_err(MEDGE_ERR_FORMAT, "tensor '%s': dimensions overflow", t->name.s);
                goto done;
            }
            t->ne[d] = (int64_t)ne;
        }
        CHECK(cur_read(&c, &t->type, 4));
        const quant_traits *tr = quant_get_traits(t->type);
        if (!tr) {
            rc = medge_err(MEDGE_ERR_UNSUPPORTED, "tensor '%s': unknown tensor type %u", t->name.s, t->type);
            goto done;
        }
        if (t->ne[0] % tr->blck) {
            rc = medge_err(MEDGE_ERR_FORMAT, "tensor '%s': row length %lld is not a multiple of the %s block size %d",
                           t->name.s, (long long)t->ne[0], tr->name, tr->blck);
            goto done;
        }
        uint64_t rows = nel / (t->ne[0] ? (uint64_t)t->ne[0] : 1);
        if (t->ne[0] == 0)
            rows = 0;
        uint64_t extra = 0; /* per-row prefix of medge's own row types (quant/types.h) */
        if (!medge_mul_u64(rows, (uint64_t)(t->ne[0] / tr->blck), &t->nbytes) ||
            !medge_mul_u64(t->nbytes, tr->type_size, &t->nbytes) || !medge_mul_u64(rows, tr->row_extra, &extra) ||
            t->nbytes + extra < t->nbytes || (t->nbytes += extra) > (uint64_t)INT64_MAX) {
            rc = medge_err(MEDGE_ERR_FORMAT, "tensor '%s': size overflows", t->name.s);
            goto done;
        }
        CHECK(cur_read(&c, &t->offset, 8));
    }
    ctx->data_offset = medge_pad_u64(c.pos, ctx->alignment);
    if (n_tensors && ctx->data_offset > pv->src.size) {
        rc = medge_err(MEDGE_ERR_FORMAT, "truncated: the data section would start at %llu, past the end (%llu bytes)",
                       (unsigned long long)ctx->data_offset, (unsigned long long)pv->src.size);
        goto done;
    }
    for (uint64_t i = 0; i < n_tensors; i++) {
        gguf_tensor *t = &ctx->tensors[i];
        uint64_t start, end;
        if (t->offset % ctx->alignment) {
            rc = medge_err(MEDGE_ERR_FORMAT, "tensor '%s': data offset %llu is not a multiple of the alignment %u", t->name.s,
                           (unsigned long long)t->offset, ctx->alignment);
            goto done;
        }
        if (!medge_add_u64(ctx->data_offset, t->offset, &start) || !medge_add_u64(start, t->nbytes, &end) ||
            end > pv->src.size) {
            rc = medge_err(MEDGE_ERR_FORMAT, "tensor '%s': data (%llu bytes at offset %llu) runs past the end of the file (%llu bytes)",
                           t->name.s, (unsigned long long)t->nbytes, (unsigned long long)t->offset, (unsigned long long)pv->src.size);
            goto done;
        }
        t->data = pv->src.mem ? pv->src.mem + start : NULL;
    }
done:
#undef CHECK
    free(c.buf);
    return rc;
}

static medge_status open_src(gguf_ctx **out, struct gguf_priv *pv)
{
    gguf_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        if (pv->has_map)
            medge_unmap(&pv->map);
        free(pv);
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    }
    ctx->priv = pv;
    ctx->size = pv->src.size;
    ctx->base = pv->src.mem;
    medge_status rc = parse(ctx);
    if (rc != MEDGE_OK) {
        gguf_close(ctx);
        return rc;
    }
    *out = ctx;
    return MEDGE_OK;
}

medge_status gguf_open(const char *path, gguf_ctx **out)
{
    *out = NULL;
    struct gguf_priv *pv = calloc(1, sizeof *pv);
    if (!pv)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    medge_status rc = medge_map_file(path, &pv->map);
    if (rc != MEDGE_OK) {
        free(pv);
        return rc;
    }
    pv->has_map = 1;
    pv->src.mem = pv->map.data ? pv->map.data : (const uint8_t *)"";
    pv->src.size = pv->map.size;
    rc = open_src(out, pv);
    if (rc != MEDGE_OK)
        return medge_err_prefix(rc, "%s", path);
    return MEDGE_OK;
}

medge_status gguf_open_memory(const void *buf, size_t size, gguf_ctx **out)
{
    *out = NULL;
    if (!buf && size)
        return medge_err(MEDGE_ERR_INVALID_ARG, "NULL buffer");
    struct gguf_priv *pv = calloc(1, sizeof *pv);
    if (!pv)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    pv->src.mem = buf ? buf : (const void *)"";
    pv->src.size = size;
    return open_src(out, pv);
}

medge_status gguf_open_io(const medge_io *io, gguf_ctx **out)
{
    *out = NULL;
    if (!io || !io->read_at)
        return medge_err(MEDGE_ERR_INVALID_ARG, "missing read callback");
    struct gguf_priv *pv = calloc(1, sizeof *pv);
    if (!pv)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    pv->io = *io;
    pv->src.io = &pv->io;
    pv->src.size = io->size;
    return open_src(out, pv);
}

void gguf_close(gguf_ctx *ctx)
{
    if (!ctx)
        return;
    if (ctx->priv) {
        arena_free(&ctx->priv->ar);
        if (ctx->priv->has_map)
            medge_unmap(&ctx->priv->map);
        free(ctx->priv->kmap.slots);
        free(ctx->priv->tmap.slots);
        free(ctx->priv);
    }
    free(ctx->kv);
    free(ctx->tensors);
    free(ctx);
}

const medge_map *gguf_mapping(const gguf_ctx *ctx) { return ctx->priv->has_map ? &ctx->priv->map : NULL; }

int64_t gguf_find_key(const gguf_ctx *ctx, const char *key)
{
    return strmap_get(&ctx->priv->kmap, &ctx->kv[0].key, sizeof(gguf_kv), key);
}

int64_t gguf_find_tensor(const gguf_ctx *ctx, const char *name)
{
    return strmap_get(&ctx->priv->tmap, &ctx->tensors[0].name, sizeof(gguf_tensor), name);
}

const gguf_value *gguf_get(const gguf_ctx *ctx, const char *key)
{
    int64_t i = gguf_find_key(ctx, key);
    return i < 0 ? NULL : &ctx->kv[i].v;
}

const gguf_tensor *gguf_get_tensor(const gguf_ctx *ctx, const char *name)
{
    int64_t i = gguf_find_tensor(ctx, name);
    return i < 0 ? NULL : &ctx->tensors[i];
}

medge_status gguf_read_tensor_part(const gguf_ctx *ctx, uint64_t i, uint64_t off, void *dst, size_t n)
{
    if (i >= ctx->n_tensors)
        return medge_err(MEDGE_ERR_RANGE, "tensor index %llu out of range", (unsigned long long)i);
    const gguf_tensor *t = &ctx->tensors[i];
    uint64_t end;
    if (!medge_add_u64(off, n, &end) || end > t->nbytes)
        return medge_err(MEDGE_ERR_RANGE, "tensor '%s': read past its end", t->name.s);
    return medge_src_read(&ctx->priv->src, ctx->data_offset + t->offset + off, dst, n);
}

medge_status gguf_read_tensor(const gguf_ctx *ctx, uint64_t i, void *dst)
{
    if (i >= ctx->n_tensors)
        return medge_err(MEDGE_ERR_RANGE, "tensor index %llu out of range", (unsigned long long)i);
    return gguf_read_tensor_part(ctx, i, 0, dst, (size_t)ctx->tensors[i].nbytes);
}

bool gguf_value_int(const gguf_value *v, int64_t *out)
{
    switch (v->type) {
    case GGUF_U8: *out = v->u8; return true;
    case GGUF_I8: *out = v->i8; return true;
    case GGUF_U16: *out = v->u16; return true;
    case GGUF_I16: *out = v->i16; return true;
    case GGUF_U32: *out = v->u32; return true;
    case GGUF_I32: *out = v->i32; return true;
    case GGUF_BOOL: *out = v->b; return true;
    case GGUF_I64: *out = v->i64; return true;
    case GGUF_U64:
        if (v->u64 > (uint64_t)INT64_MAX)
            return false;
        *out = (int64_t)v->u64;
        return true;
    default: return false;
    }
}

static medge_status get_checked(const gguf_ctx *ctx, const char *key, const gguf_value **v)
{
    *v = gguf_get(ctx, key);
    if (!*v)
        return medge_err(MEDGE_ERR_NOT_FOUND, "metadata key '%s' not found", key);
    return MEDGE_OK;
}

medge_status gguf_get_i64(const gguf_ctx *ctx, const char *key, int64_t *out)
{
    const gguf_value *v;
    MEDGE_TRY(get_checked(ctx, key, &v));
    if (v->type == GGUF_BOOL || !gguf_value_int(v, out))
        return medge_err(MEDGE_ERR_FORMAT, "metadata key '%s' is %s, expected an integer", key, gguf_vtype_name(v->type));
    return MEDGE_OK;
}

medge_status gguf_get_u32(const gguf_ctx *ctx, const char *key, uint32_t *out)
{
    int64_t x = 0;
    MEDGE_TRY(gguf_get_i64(ctx, key, &x));
    if (x < 0 || x > UINT32_MAX)
        return medge_err(MEDGE_ERR_RANGE, "metadata key '%s' = %lld is out of range", key, (long long)x);
    *out = (uint32_t)x;
    return MEDGE_OK;
}

medge_status gguf_get_f32(const gguf_ctx *ctx, const char *key, float *out)
{
    const gguf_value *v;
    MEDGE_TRY(get_checked(ctx, key, &v));
    if (v->type == GGUF_F32)
        *out = v->f32;
    else if (v->type == GGUF_F64)
        *out = (float)v->f64;
    else
        return medge_err(MEDGE_ERR_FORMAT, "metadata key '%s' is %s, expected f32", key, gguf_vtype_name(v->type));
    return MEDGE_OK;
}

medge_status gguf_get_bool(const gguf_ctx *ctx, const char *key, bool *out)
{
    const gguf_value *v;
    MEDGE_TRY(get_checked(ctx, key, &v));
    if (v->type != GGUF_BOOL)
        return medge_err(MEDGE_ERR_FORMAT, "metadata key '%s' is %s, expected bool", key, gguf_vtype_name(v->type));
    *out = v->b;
    return MEDGE_OK;
}

medge_status gguf_get_str(const gguf_ctx *ctx, const char *key, const char **out)
{
    const gguf_value *v;
    MEDGE_TRY(get_checked(ctx, key, &v));
    if (v->type != GGUF_STR)
        return medge_err(MEDGE_ERR_FORMAT, "metadata key '%s' is %s, expected str", key, gguf_vtype_name(v->type));
    *out = v->str.s;
    return MEDGE_OK;
}

medge_status gguf_get_arr(const gguf_ctx *ctx, const char *key, uint32_t elem_type, const void **data, uint64_t *n)
{
    const gguf_value *v;
    MEDGE_TRY(get_checked(ctx, key, &v));
    if (v->type != GGUF_ARR || v->arr.type != elem_type)
        return medge_err(MEDGE_ERR_FORMAT, "metadata key '%s' is %s%s%s, expected an array of %s", key, gguf_vtype_name(v->type),
                         v->type == GGUF_ARR ? " of " : "", v->type == GGUF_ARR ? gguf_vtype_name(v->arr.type) : "",
                         gguf_vtype_name(elem_type));
    *data = v->arr.data;
    *n = v->arr.n;
    return MEDGE_OK;
}

/* ================= writer ================= */

typedef struct wtensor {
    char name[GGUF_MAX_NAME];
    uint32_t type, n_dims;
    int64_t ne[GGUF_MAX_DIMS];
    uint64_t offset, nbytes;
} wtensor;

struct gguf_writer {
    medge_out out;
    arena ar;
    gguf_kv *kv;
    uint64_t n_kv, cap_kv;
    wtensor *t;
    uint64_t n_t, cap_t;
    uint32_t alignment;
    int begun;
    uint64_t cur;        /* current tensor index */
    uint64_t cur_done;   /* bytes written of the current tensor */
    uint64_t data_bytes; /* bytes of data section written */
    medge_status failed;
};

medge_status gguf_writer_open(const char *path, gguf_writer **out)
{
    *out = NULL;
    gguf_writer *w = calloc(1, sizeof *w);
    if (!w)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    medge_status rc = medge_out_open(&w->out, path);
    if (rc != MEDGE_OK) {
        free(w);
        return rc;
    }
    w->alignment = GGUF_DEFAULT_ALIGNMENT;
    *out = w;
    return MEDGE_OK;
}

void gguf_writer_free(gguf_writer *w)
{
    if (!w)
        return;
    medge_out_abort(&w->out);
    arena_free(&w->ar);
    free(w->kv);
    free(w->t);
    free(w);
}

static medge_status copy_value(arena *a, gguf_value *dst, const gguf_value *src, int depth)
{
    *dst = *src;
    if (src->type == GGUF_STR) {
        char *s = arena_alloc(a, (size_t)src->str.len + 1);
        if (!s)
            return medge_err(MEDGE_ERR_NOMEM, "out of memory");
        memcpy(s, src->str.s, (size_t)src->str.len);
        s[src->str.len] = 0;
        dst->str.s = s;
        return MEDGE_OK;
    }
    if (src->type != GGUF_ARR)
        return src->type < GGUF_VTYPE_COUNT ? MEDGE_OK : medge_err(MEDGE_ERR_INVALID_ARG, "unknown value type %u", src->type);
    if (depth >= MAX_ARRAY_DEPTH || src->arr.type >= GGUF_VTYPE_COUNT)
        return medge_err(MEDGE_ERR_INVALID_ARG, "invalid array value");
    size_t esz = gguf_vtype_size(src->arr.type);
    size_t el = esz ? esz : (src->arr.type == GGUF_STR ? sizeof(gguf_str) : sizeof(gguf_value));
    size_t total;
    if (!medge_mul_size((size_t)src->arr.n, el, &total))
        return medge_err(MEDGE_ERR_NOMEM, "array too large");
    void *d = arena_alloc(a, total + 1);
    if (!d)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    if (src->arr.n)
        memcpy(d, src->arr.data, total);
    dst->arr.data = d;
    if (src->arr.type == GGUF_STR) {
        gguf_str *ss = d;
        for (uint64_t i = 0; i < src->arr.n; i++) {
            char *s = arena_alloc(a, (size_t)ss[i].len + 1);
            if (!s)
                return medge_err(MEDGE_ERR_NOMEM, "out of memory");
            memcpy(s, ss[i].s, (size_t)ss[i].len);
            s[ss[i].len] = 0;
            ss[i].s = s;
        }
    } else if (src->arr.type == GGUF_ARR) {
        gguf_value *vv = d;
        for (uint64_t i = 0; i < src->arr.n; i++)
            MEDGE_TRY(copy_value(a, &vv[i], &((const gguf_value *)src->arr.data)[i], depth + 1));
    }
    return MEDGE_OK;
}

medge_status gguf_writer_set(gguf_writer *w, const char *key, const gguf_value *v)
{
    if (w->begun)
        return medge_err(MEDGE_ERR_INVALID_ARG, "metadata must be set before tensor data is written");
    if (!key[0])
        return medge_err(MEDGE_ERR_INVALID_ARG, "empty metadata key");
    if (strcmp(key, "general.alignment") == 0) {
        if (v->type != GGUF_U32 || v->u32 == 0 || (v->u32 & (v->u32 - 1)))
            return medge_err(MEDGE_ERR_INVALID_ARG, "general.alignment must be a u32 power of two");
        if (w->n_t)
            return medge_err(MEDGE_ERR_INVALID_ARG, "general.alignment must be set before tensors are added");
        w->alignment = v->u32;
    }
    gguf_kv *slot = NULL;
    for (uint64_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->kv[i].key.s, key) == 0)
            slot = &w->kv[i];
    if (!slot) {
        if (w->n_kv == w->cap_kv) {
            uint64_t nc = w->cap_kv ? w->cap_kv * 2 : 64;
            gguf_kv *nk = realloc(w->kv, (size_t)nc * sizeof *nk);
            if (!nk)
                return medge_err(MEDGE_ERR_NOMEM, "out of memory");
            w->kv = nk;
            w->cap_kv = nc;
        }
        slot = &w->kv[w->n_kv++];
        size_t kl = strlen(key);
        char *k = arena_alloc(&w->ar, kl + 1);
        if (!k) {
            w->n_kv--;
            return medge_err(MEDGE_ERR_NOMEM, "out of memory");
        }
        memcpy(k, key, kl + 1);
        slot->key.s = k;
        slot->key.len = kl;
    }
    return copy_value(&w->ar, &slot->v, v, 0);
}

#define SETTER(fn, T, vt, field)                                       \
    medge_status fn(gguf_writer *w, const char *key, T x)               \
    {                                                                  \
        gguf_value v;                                                  \
        memset(&v, 0, sizeof v);                                       \
        v.type = vt;                                                   \
        v.field = x;                                                   \
        return gguf_writer_set(w, key, &v);                            \
    }
SETTER(gguf_writer_set_u32, uint32_t, GGUF_U32, u32)
SETTER(gguf_writer_set_i32, int32_t, GGUF_I32, i32)
SETTER(gguf_writer_set_u64, uint64_t, GGUF_U64, u64)
SETTER(gguf_writer_set_f32, float, GGUF_F32, f32)
SETTER(gguf_writer_set_bool, bool, GGUF_BOOL, b)
#undef SETTER

medge_status gguf_writer_set_str(gguf_writer *w, const char *key, const char *s)
{
    gguf_value v;
    memset(&v, 0, sizeof v);
    v.type = GGUF_STR;
    v.str.s = s;
    v.str.len = strlen(s);
    return gguf_writer_set(w, key, &v);
}

medge_status gguf_writer_set_arr(gguf_writer *w, const char *key, uint32_t elem_type, const void *data, uint64_t n)
{
    if (!gguf_vtype_size(elem_type))
        return medge_err(MEDGE_ERR_INVALID_ARG, "gguf_writer_set_arr takes numeric element types only");
    gguf_value v;
    memset(&v, 0, sizeof v);
    v.type = GGUF_ARR;
    v.arr.type = elem_type;
    v.arr.n = n;
    v.arr.data = data;
    return gguf_writer_set(w, key, &v);
}

medge_status gguf_writer_set_arr_str(gguf_writer *w, const char *key, const char *const *s, uint64_t n)
{
    gguf_str *tmp = malloc((size_t)(n ? n : 1) * sizeof *tmp);
    if (!tmp)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    for (uint64_t i = 0; i < n; i++) {
        tmp[i].s = s[i];
        tmp[i].len = strlen(s[i]);
    }
    gguf_value v;
    memset(&v, 0, sizeof v);
    v.type = GGUF_ARR;
    v.arr.type = GGUF_STR;
    v.arr.n = n;
    v.arr.data = tmp;
    medge_status rc = gguf_writer_set(w, key, &v);
    free(tmp);
    return rc;
}

void gguf_writer_remove(gguf_writer *w, const char *key)
{
    for (uint64_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key.s, key) == 0) {
            memmove(&w->kv[i], &w->kv[i + 1], (size_t)(w->n_kv - i - 1) * sizeof *w->kv);
            w->n_kv--;
            return;
        }
    }
}

medge_status gguf_writer_copy_kv(gguf_writer *w, const gguf_ctx *src)
{
    for (uint64_t i = 0; i < src->n_kv; i++)
        MEDGE_TRY(gguf_writer_set(w, src->kv[i].key.s, &src->kv[i].v));
    return MEDGE_OK;
}

medge_status gguf_writer_add_tensor(gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims, const int64_t *ne)
{
    if (w->begun)
        return medge_err(MEDGE_ERR_INVALID_ARG, "tensors must be declared before data is written");
    size_t nl = strlen(name);
    if (nl == 0 || nl >= GGUF_MAX_NAME)
        return medge_err(MEDGE_ERR_INVALID_ARG, "tensor name '%s' is empty or longer than %d bytes", name, GGUF_MAX_NAME - 1);
    if (n_dims > GGUF_MAX_DIMS)
        return medge_err(MEDGE_ERR_INVALID_ARG, "tensor '%s': too many dimensions", name);
    const quant_traits *tr = quant_get_traits(type);
    if (!tr)
        return medge_err(MEDGE_ERR_INVALID_ARG, "tensor '%s': unknown type %u", name, type);
    for (uint64_t i = 0; i < w->n_t; i++)
        if (strcmp(w->t[i].name, name) == 0)
            return medge_err(MEDGE_ERR_INVALID_ARG, "duplicate tensor name '%s'", name);
    if (w->n_t == w->cap_t) {
        uint64_t nc = w->cap_t ? w->cap_t * 2 : 256;
        wtensor *nt = realloc(w->t, (size_t)nc * sizeof *nt);
        if (!nt)
            return medge_err(MEDGE_ERR_NOMEM, "out of memory");
        w->t = nt;
        w->cap_t = nc;
    }
    wtensor *t = &w->t[w->n_t];
    memset(t, 0, sizeof *t);
    memcpy(t->name, name, nl + 1);
    t->type = type;
    t->n_dims = n_dims;
    uint64_t nel = 1;
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) {
        t->ne[d] = d < n_dims ? ne[d] : 1;
        if (t->ne[d] < 0 || !medge_mul_u64(nel, (uint64_t)t->ne[d], &nel))
            return medge_err(MEDGE_ERR_INVALID_ARG, "tensor '%s': bad dimensions", name);
    }
    if (t->ne[0] % tr->blck)
        return medge_err(MEDGE_ERR_INVALID_ARG, "tensor '%s': row length %lld is not a multiple of the %s block size %d", name,
                         (long long)t->ne[0], tr->name, tr->blck);
    t->nbytes = t->ne[0] ? nel / (uint64_t)tr->blck * tr->type_size + nel / (uint64_t)t->ne[0] * tr->row_extra : 0;
    if (w->n_t) {
        const wtensor *p = &w->t[w->n_t - 1];
        t->offset = p->offset + medge_pad_u64(p->nbytes, w->alignment);
    }
    w->n_t++;
    return MEDGE_OK;
}

static medge_status wr(gguf_writer *w, const void *p, size_t n) { return medge_out_write(&w->out, p, n); }

static medge_status wr_str(gguf_writer *w, const char *s, uint64_t n)
{
    MEDGE_TRY(wr(w, &n, 8));
    return wr(w, s, (size_t)n);
}

static medge_status wr_value(gguf_writer *w, const gguf_value *v)
{
    size_t sz = gguf_vtype_size(v->type);
    if (sz)
        return wr(w, &v->u64, sz);
    if (v->type == GGUF_STR)
        return wr_str(w, v->str.s, v->str.len);
    MEDGE_TRY(wr(w, &v->arr.type, 4));
    MEDGE_TRY(wr(w, &v->arr.n, 8));
    size_t esz = gguf_vtype_size(v->arr.type);
    if (esz)
        return wr(w, v->arr.data, (size_t)v->arr.n * esz);
    for (uint64_t i = 0; i < v->arr.n; i++) {
        if (v->arr.type == GGUF_STR) {
            const gguf_str *s = &((const gguf_str *)v->arr.data)[i];
            MEDGE_TRY(wr_str(w, s->s, s->len));
        } else {
            MEDGE_TRY(wr_value(w, &((const gguf_value *)v->arr.data)[i]));
        }
    }
    return MEDGE_OK;
}

medge_status gguf_writer_begin_data(gguf_writer *w)
{
    if (w->begun)
        return MEDGE_OK;
    uint32_t magic = GGUF_MAGIC, version = 3;
    MEDGE_TRY(wr(w, &magic, 4));
    MEDGE_TRY(wr(w, &version, 4));
    MEDGE_TRY(wr(w, &w->n_t, 8));
    MEDGE_TRY(wr(w, &w->n_kv, 8));
    for (uint64_t i = 0; i < w->n_kv; i++) {
        MEDGE_TRY(wr_str(w, w->kv[i].key.s, w->kv[i].key.len));
        MEDGE_TRY(wr(w, &w->kv[i].v.type, 4));
        MEDGE_TRY(wr_value(w, &w->kv[i].v));
    }
    for (uint64_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        MEDGE_TRY(wr_str(w, t->name, strlen(t->name)));
        MEDGE_TRY(wr(w, &t->n_dims, 4));
        for (uint32_t d = 0; d < t->n_dims; d++)
            MEDGE_TRY(wr(w, &t->ne[d], 8));
        MEDGE_TRY(wr(w, &t->type, 4));
        MEDGE_TRY(wr(w, &t->offset, 8));
    }
    /* a file without tensors has no data section and no padding (as gguf-py and ggml write it) */
    if (w->n_t)
        MEDGE_TRY(medge_out_zeros(&w->out, (size_t)(medge_pad_u64(w->out.written, w->alignment) - w->out.written)));
    w->begun = 1;
    return MEDGE_OK;
}

medge_status gguf_writer_write(gguf_writer *w, const void *data, size_t n)
{
    if (!w->begun)
        MEDGE_TRY(gguf_writer_begin_data(w));
    const uint8_t *p = data;
    while (n) {
        if (w->cur >= w->n_t)
            return medge_err(MEDGE_ERR_INVALID_ARG, "more tensor data written than declared");
        const wtensor *t = &w->t[w->cur];
        uint64_t left = t->nbytes - w->cur_done;
        size_t k = n < left ? n : (size_t)left;
        MEDGE_TRY(wr(w, p, k));
        p += k;
        n -= k;
        w->cur_done += k;
        if (w->cur_done == t->nbytes) {
            MEDGE_TRY(medge_out_zeros(&w->out, (size_t)(medge_pad_u64(t->nbytes, w->alignment) - t->nbytes)));
            w->cur++;
            w->cur_done = 0;
        }
    }
    /* zero-size tensors complete immediately */
    while (w->cur < w->n_t && w->t[w->cur].nbytes == 0)
        w->cur++;
    return MEDGE_OK;
}

medge_status gguf_writer_finish(gguf_writer *w)
{
    MEDGE_TRY(gguf_writer_write(w, NULL, 0));
    if (w->cur != w->n_t)
        return medge_err(MEDGE_ERR_INVALID_ARG, "tensor '%s': data incomplete (%llu of %llu bytes written)", w->t[w->cur].name,
                         (unsigned long long)w->cur_done, (unsigned long long)w->t[w->cur].nbytes);
    return medge_out_commit(&w->out);
}

uint64_t gguf_writer_bytes(const gguf_writer *w) { return w->out.written; }
