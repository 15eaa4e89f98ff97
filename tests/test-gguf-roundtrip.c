/* test-gguf-roundtrip.c - every reference GGUF parses; copying its keys and tensors through the
 * writer reproduces it byte for byte (they were all written with medge's layout rules). */
#include "test.h"
#include "core/file.h"
#include "formats/gguf.h"

static const char *files[] = {
    "gemma3-tiny/gguf/tiny-gemma3-f16.gguf",       "gemma3-tiny/gguf/tiny-gemma3-Q8_0.gguf",
    "gemma3-tiny/gguf/tiny-gemma3-Q4_K_M.gguf",    "gemma3-tiny/gguf/tiny-gemma3-Q4_K_S.gguf",
    "gemma3-tiny/gguf/tiny-gemma3-Q4_0.gguf",      "gemma3-tiny/gguf/tiny-gemma3-Q6_K.gguf",
    "gemma3-tiny/gguf/mmproj-tiny-gemma3-f32.gguf", "gemma3-tiny/imatrix/imatrix-tiny-c64.gguf",
    "tokenizer/gemma3-vocab.gguf",                  "quant/quant-vectors.gguf",
};

static size_t io_read(void *user, uint64_t off, void *dst, size_t n)
{
    const medge_map *m = user;
    if (off > m->size)
        return 0;
    size_t k = m->size - off < n ? (size_t)(m->size - off) : n;
    memcpy(dst, m->data + off, k);
    return k;
}

static void roundtrip(const char *rel)
{
    const char *path = test_ref(rel);
    gguf_ctx *g;
    medge_status rc = gguf_open(path, &g);
    CHECK_MSG(rc == MEDGE_OK, "%s: %s", rel, medge_errmsg(NULL));
    if (rc != MEDGE_OK)
        return;
    CHECK(g->n_tensors > 0 || strstr(rel, "vocab") != NULL);
    const char *out = test_tmp("roundtrip.gguf");
    gguf_writer *w;
    CHECK_OK(gguf_writer_open(out, &w));
    CHECK_OK(gguf_writer_copy_kv(w, g));
    for (uint64_t i = 0; i < g->n_tensors; i++)
        CHECK_OK(gguf_writer_add_tensor(w, g->tensors[i].name.s, g->tensors[i].type, g->tensors[i].n_dims, g->tensors[i].ne));
    CHECK_OK(gguf_writer_begin_data(w));
    for (uint64_t i = 0; i < g->n_tensors; i++)
        CHECK_OK(gguf_writer_write(w, g->tensors[i].data, (size_t)g->tensors[i].nbytes));
    CHECK_OK(gguf_writer_finish(w));
    gguf_writer_free(w);

    medge_map a, b;
    CHECK_OK(medge_read_file(path, &a));
    CHECK_OK(medge_read_file(out, &b));
    CHECK_MSG(a.size == b.size && memcmp(a.data, b.data, (size_t)a.size) == 0, "%s: round trip differs (%llu vs %llu bytes)", rel,
              (unsigned long long)a.size, (unsigned long long)b.size);

    /* the same file through memory and through callbacks parses the same */
    gguf_ctx *gm, *gi;
    CHECK_OK(gguf_open_memory(a.data, (size_t)a.size, &gm));
    medge_io io = {.user = &a, .size = a.size, .read_at = io_read};
    CHECK_OK(gguf_open_io(&io, &gi));
    if (gm && gi && g->n_tensors) {
        CHECK_EQ_INT(gm->n_kv, g->n_kv);
        CHECK_EQ_INT(gi->n_tensors, g->n_tensors);
        uint64_t last = g->n_tensors - 1;
        uint8_t *buf = malloc((size_t)g->tensors[last].nbytes);
        CHECK_OK(gguf_read_tensor(gi, last, buf));
        CHECK(memcmp(buf, g->tensors[last].data, (size_t)g->tensors[last].nbytes) == 0);
        free(buf);
    }
    gguf_close(gm);
    gguf_close(gi);
    medge_unmap(&a);
    medge_unmap(&b);
    gguf_close(g);
}

int main(void)
{
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        roundtrip(files[i]);
    TEST_END();
}
