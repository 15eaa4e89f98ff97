/* fuzz-gguf.c - libFuzzer target for the GGUF reader: parse the input from memory and through
 * read callbacks, then use everything the parser returned (keys, nested arrays, tensor data,
 * lookups, the JSON description), so a bad bound anywhere shows up under ASan. */
#include "formats/gguf.h"
#include "formats/info.h"

#include <string.h>

static size_t io_read(void *user, uint64_t off, void *dst, size_t n)
{
    const medge_src *s = user;
    if (off >= s->size)
        return 0;
    size_t k = s->size - off < n ? (size_t)(s->size - off) : n;
    memcpy(dst, s->mem + off, k);
    return k;
}

static unsigned touch_value(const gguf_value *v, int depth)
{
    unsigned h = v->type;
    if (v->type == GGUF_STR)
        return h + (v->str.len ? (unsigned char)v->str.s[v->str.len - 1] : 0) + (unsigned char)v->str.s[v->str.len];
    if (v->type != GGUF_ARR || depth > 16)
        return h + v->u8;
    if (v->arr.type == GGUF_STR) {
        const gguf_str *s = v->arr.data;
        for (uint64_t i = 0; i < v->arr.n; i++)
            h += (unsigned)s[i].len + (s[i].len ? (unsigned char)s[i].s[s[i].len - 1] : 0);
    } else if (v->arr.type == GGUF_ARR) {
        const gguf_value *a = v->arr.data;
        for (uint64_t i = 0; i < v->arr.n; i++)
            h += touch_value(&a[i], depth + 1);
    } else if (v->arr.n) {
        size_t sz = gguf_vtype_size(v->arr.type);
        h += ((const uint8_t *)v->arr.data)[v->arr.n * sz - 1];
    }
    return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gguf_ctx *g = NULL;
    volatile unsigned sink = 0;
    if (gguf_open_memory(data, size, &g) == MEDGE_OK) {
        for (uint64_t i = 0; i < g->n_kv; i++) {
            sink += touch_value(&g->kv[i].v, 0);
            if (gguf_find_key(g, g->kv[i].key.s) != (int64_t)i)
                __builtin_trap();
            int64_t x;
            const char *s;
            (void)gguf_get_i64(g, g->kv[i].key.s, &x);
            (void)gguf_get_str(g, g->kv[i].key.s, &s);
        }
        for (uint64_t i = 0; i < g->n_tensors; i++) {
            const gguf_tensor *t = &g->tensors[i];
            if (t->nbytes)
                sink += ((const uint8_t *)t->data)[0] + ((const uint8_t *)t->data)[t->nbytes - 1];
            if (gguf_find_tensor(g, t->name.s) != (int64_t)i)
                __builtin_trap();
        }
        medge_buf b = {0};
        (void)info_gguf_json(g, size < 4096 ? INFO_SHA256 : 0, &b);
        medge_buf_free(&b);
        gguf_close(g);
    }
    /* The callback reader must agree with the memory reader. */
    medge_src src = {data, size, NULL};
    medge_io io = {&src, size, io_read};
    gguf_ctx *h = NULL;
    if (gguf_open_io(&io, &h) == MEDGE_OK) {
        uint8_t buf[64];
        for (uint64_t i = 0; i < h->n_tensors; i++) {
            uint64_t n = h->tensors[i].nbytes < sizeof buf ? h->tensors[i].nbytes : sizeof buf;
            if (gguf_read_tensor_part(h, i, h->tensors[i].nbytes - n, buf, (size_t)n) != MEDGE_OK)
                __builtin_trap();
        }
        gguf_close(h);
    }
    (void)sink;
    return 0;
}
