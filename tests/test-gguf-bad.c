/* test-gguf-bad.c - one crafted GGUF file per failure class (wrong magic, unsupported version,
 * absurd counts, strings / arrays / tensor data past the end, misaligned offsets, duplicate keys
 * and names, unknown value / element / tensor types, bad bools, too many or overflowing dims,
 * rows that are not whole blocks, bad alignment, too-deep nesting, NUL in keys, long names), plus
 * the file truncated at every byte. Each must fail with its own message and status, through the
 * path, memory and callback readers and through `medge info` (exit status 1), never crash. */
#include "test.h"
#include "core/file.h"
#include "core/json.h"
#include "formats/gguf.h"
#include "quant/types.h"

#include <sys/wait.h>

/* ---- a small valid GGUF, with the offsets of the fields the cases patch ---- */

typedef struct gfile {
    medge_buf b;
    size_t version, n_tensors, n_kv;
    size_t key_len[16], key_name[16], key_type[16], val[16]; /* per kv */
    size_t arr_et, arr_n;                                   /* of the i32 array (kv 8) */
    size_t t_name[2], t_ndims[2], t_ne[2], t_type[2], t_off[2];
    size_t data;
} gfile;

static void put(gfile *f, const void *p, size_t n) { medge_buf_append(&f->b, p, n); }
static void put_u32(gfile *f, uint32_t v) { put(f, &v, 4); }
static void put_u64(gfile *f, uint64_t v) { put(f, &v, 8); }
static void put_str(gfile *f, const char *s)
{
    put_u64(f, strlen(s));
    put(f, s, strlen(s));
}

enum { N_KV = 12 };

static void key(gfile *f, int i, const char *name, uint32_t type)
{
    f->key_len[i] = f->b.len;
    put_u64(f, strlen(name));
    f->key_name[i] = f->b.len;
    put(f, name, strlen(name));
    f->key_type[i] = f->b.len;
    put_u32(f, type);
    f->val[i] = f->b.len;
}

static void build(gfile *f, const char *t0_name)
{
    memset(f, 0, sizeof *f);
    put(f, "GGUF", 4);
    f->version = f->b.len;
    put_u32(f, 3);
    f->n_tensors = f->b.len;
    put_u64(f, 2);
    f->n_kv = f->b.len;
    put_u64(f, N_KV);
    key(f, 0, "general.alignment", GGUF_U32);
    put_u32(f, 32);
    key(f, 1, "k01", GGUF_U8);
    uint8_t u8 = 7;
    put(f, &u8, 1);
    key(f, 2, "k02", GGUF_I16);
    int16_t i16 = -5;
    put(f, &i16, 2);
    key(f, 3, "k03", GGUF_F32);
    float f32 = 1.5f;
    put(f, &f32, 4);
    key(f, 4, "k04", GGUF_BOOL);
    u8 = 1;
    put(f, &u8, 1);
    key(f, 5, "k05", GGUF_U64);
    put_u64(f, 1ull << 40);
    key(f, 6, "k06", GGUF_F64);
    double f64 = -2.25;
    put(f, &f64, 8);
    key(f, 7, "k07", GGUF_STR);
    put_str(f, "hello");
    key(f, 8, "k08", GGUF_ARR);
    f->arr_et = f->b.len;
    put_u32(f, GGUF_I32);
    f->arr_n = f->b.len;
    put_u64(f, 3);
    for (int32_t i = 1; i <= 3; i++)
        put(f, &i, 4);
    key(f, 9, "k09", GGUF_ARR);
    put_u32(f, GGUF_STR);
    put_u64(f, 2);
    put_str(f, "a");
    put_str(f, "bc");
    key(f, 10, "k10", GGUF_ARR); /* [[1, 2], [3]] of u8 */
    put_u32(f, GGUF_ARR);
    put_u64(f, 2);
    put_u32(f, GGUF_U8);
    put_u64(f, 2);
    put(f, "\1\2", 2);
    put_u32(f, GGUF_U8);
    put_u64(f, 1);
    put(f, "\3", 1);
    key(f, 11, "k11", GGUF_I64);
    put_u64(f, (uint64_t)-9);

    /* t0: F32 [4, 2] at 0 (32 bytes); t1: Q8_0 [32] at 32 (34 bytes) */
    const char *names[2] = {t0_name, "t1"};
    const int64_t ne[2][2] = {{4, 2}, {32, 1}};
    const uint32_t nd[2] = {2, 1}, ty[2] = {GGML_TYPE_F32, GGML_TYPE_Q8_0};
    const uint64_t off[2] = {0, 32};
    for (int t = 0; t < 2; t++) {
        f->t_name[t] = f->b.len;
        put_str(f, names[t]);
        f->t_ndims[t] = f->b.len;
        put_u32(f, nd[t]);
        f->t_ne[t] = f->b.len;
        for (uint32_t d = 0; d < nd[t]; d++)
            put_u64(f, (uint64_t)ne[t][d]);
        f->t_type[t] = f->b.len;
        put_u32(f, ty[t]);
        f->t_off[t] = f->b.len;
        put_u64(f, off[t]);
    }
    while (f->b.len % 32)
        put(f, "", 1);
    f->data = f->b.len;
    for (int i = 0; i < 32 + 34; i++) {
        uint8_t x = (uint8_t)i;
        put(f, &x, 1);
    }
}

static void patch(gfile *f, size_t at, const void *p, size_t n) { memcpy(f->b.data + at, p, n); }
static void patch_u32(gfile *f, size_t at, uint32_t v) { patch(f, at, &v, 4); }
static void patch_u64(gfile *f, size_t at, uint64_t v) { patch(f, at, &v, 8); }

/* ---- checks ---- */

static size_t io_read(void *user, uint64_t off, void *dst, size_t n)
{
    const medge_buf *b = user;
    if (off >= b->len)
        return 0;
    size_t k = b->len - off < n ? (size_t)(b->len - off) : n;
    memcpy(dst, b->data + off, k);
    return k;
}

static void write_file(const char *path, const void *p, size_t n)
{
    FILE *fp = fopen(path, "wb");
    CHECK(fp != NULL);
    if (fp) {
        CHECK(fwrite(p, 1, n, fp) == n);
        fclose(fp);
    }
}

/* The file must fail with rc and a message holding want through every reader and `medge info`. */
static void expect(const char *cls, const void *data, size_t n, medge_status want_rc, const char *want)
{
    char name[128];
    snprintf(name, sizeof name, "gguf-bad-%s.gguf", cls);
    const char *path = test_tmp(name);
    write_file(path, data, n);

    gguf_ctx *g = NULL;
    medge_status rc = gguf_open(path, &g);
    CHECK_MSG(rc == want_rc, "%s: status %d, want %d (%s)", cls, (int)rc, (int)want_rc, medge_errmsg(NULL));
    CHECK_MSG(strstr(medge_errmsg(NULL), want) != NULL, "%s: message \"%s\" lacks \"%s\"", cls, medge_errmsg(NULL), want);
    CHECK_MSG(strstr(medge_errmsg(NULL), name) != NULL, "%s: message \"%s\" does not name the file", cls, medge_errmsg(NULL));
    CHECK(g == NULL);
    gguf_close(g);

    rc = gguf_open_memory(data, n, &g);
    CHECK_MSG(rc == want_rc && strstr(medge_errmsg(NULL), want), "%s (memory): %d %s", cls, (int)rc, medge_errmsg(NULL));
    gguf_close(g);

    medge_buf copy = {0};
    medge_buf_append(&copy, data, n);
    medge_io io = {&copy, n, io_read};
    rc = gguf_open_io(&io, &g);
    CHECK_MSG(rc == want_rc && strstr(medge_errmsg(NULL), want), "%s (callbacks): %d %s", cls, (int)rc, medge_errmsg(NULL));
    gguf_close(g);
    medge_buf_free(&copy);

    const char *bin = getenv("MEDGE_BIN");
    if (bin && bin[0]) {
        char cmd[4096];
        const char *err = test_tmp("gguf-bad-stderr.txt");
        snprintf(cmd, sizeof cmd, "'%s' info '%s' >/dev/null 2>'%s'", bin, path, err);
        int st = system(cmd);
        CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 1, "%s: medge info exit status %d", cls, st);
        medge_map m;
        CHECK_OK(medge_read_file(err, &m));
        CHECK_MSG(m.size > 0 && memmem(m.data, (size_t)m.size, want, strlen(want)) != NULL, "%s: medge info said \"%.*s\"", cls,
                  (int)m.size, (const char *)m.data);
        medge_unmap(&m);
    }
}

static void good(void)
{
    gfile f;
    build(&f, "t0");
    gguf_ctx *g = NULL;
    CHECK_OK(gguf_open_memory(f.b.data, f.b.len, &g));
    if (g) {
        CHECK_EQ_INT(g->n_kv, N_KV);
        CHECK_EQ_INT(g->n_tensors, 2);
        CHECK_EQ_INT(g->data_offset, f.data);
        int64_t v = 0;
        CHECK_OK(gguf_get_i64(g, "k02", &v));
        CHECK_EQ_INT(v, -5);
        CHECK_OK(gguf_get_i64(g, "k11", &v));
        CHECK_EQ_INT(v, -9);
        const gguf_value *a = gguf_get(g, "k10");
        CHECK(a && a->type == GGUF_ARR && a->arr.type == GGUF_ARR && a->arr.n == 2);
        if (a && a->arr.n == 2) {
            const gguf_value *in = a->arr.data;
            CHECK(in[1].arr.n == 1 && ((const uint8_t *)in[1].arr.data)[0] == 3);
        }
        const gguf_tensor *t1 = gguf_get_tensor(g, "t1");
        CHECK(t1 && t1->nbytes == 34 && ((const uint8_t *)t1->data)[0] == 32);
    }
    gguf_close(g);
    write_file(test_tmp("gguf-good.gguf"), f.b.data, f.b.len); /* a seed for fuzz/corpus/gguf */

    /* Truncated at every byte: each prefix fails, through memory and callbacks. */
    for (size_t n = 0; n < f.b.len; n++) {
        g = NULL;
        medge_status rc = gguf_open_memory(f.b.data, n, &g);
        CHECK_MSG(rc == MEDGE_ERR_FORMAT, "prefix %zu: status %d", n, (int)rc);
        gguf_close(g);
        medge_io io = {&f.b, n, io_read};
        rc = gguf_open_io(&io, &g);
        CHECK_MSG(rc == MEDGE_ERR_FORMAT, "prefix %zu (callbacks): status %d", n, (int)rc);
        gguf_close(g);
    }
    /* ... and as files cut at the field boundaries, with the message naming the problem. */
    expect("truncated-header", f.b.data, 12, MEDGE_ERR_FORMAT, "truncated: need 8 bytes at offset 8, file has 12");
    expect("truncated-key", f.b.data, f.key_name[3] + 1, MEDGE_ERR_FORMAT, "absurd metadata count 12, or a truncated file");
    expect("truncated-value", f.b.data, f.val[5] + 3, MEDGE_ERR_FORMAT, "or a truncated file");
    /* Cut inside the last key with the counts still plausible: the reader names the string. */
    expect("truncated-string", f.b.data, f.val[11] - 6, MEDGE_ERR_FORMAT, "metadata key: string length 3 at offset 338 runs past the end");
    expect("truncated-tensor-info", f.b.data, f.t_type[1] + 2, MEDGE_ERR_FORMAT, "truncated: need 4 bytes at offset");
    expect("truncated-data", f.b.data, f.b.len - 1, MEDGE_ERR_FORMAT, "tensor 't1': data (34 bytes at offset 32) runs past the end");
    expect("empty", f.b.data, 0, MEDGE_ERR_FORMAT, "only 0 bytes");
    medge_buf_free(&f.b);
}

#define CASE(cls, rc, msg, body)                 \
    do {                                         \
        gfile f;                                 \
        build(&f, "t0");                         \
        body;                                    \
        expect(cls, f.b.data, f.b.len, rc, msg); \
        medge_buf_free(&f.b);                    \
    } while (0)

static void bad(void)
{
    CASE("magic", MEDGE_ERR_FORMAT, "bad magic", patch(&f, 0, "GGML", 4));
    CASE("version-1", MEDGE_ERR_UNSUPPORTED, "unsupported GGUF version 1", patch_u32(&f, f.version, 1));
    CASE("version-4", MEDGE_ERR_UNSUPPORTED, "unsupported GGUF version 4", patch_u32(&f, f.version, 4));
    CASE("tensor-count", MEDGE_ERR_FORMAT, "absurd tensor count 9223372036854775808", patch_u64(&f, f.n_tensors, 1ull << 63));
    CASE("kv-count", MEDGE_ERR_FORMAT, "absurd metadata count 9223372036854775808", patch_u64(&f, f.n_kv, 1ull << 63));
    CASE("key-length", MEDGE_ERR_FORMAT, "metadata key: string length 1099511627776", patch_u64(&f, f.key_len[2], 1ull << 40));
    CASE("string-length", MEDGE_ERR_FORMAT, "k07: string length 1000000 at offset 186 runs past the end", patch_u64(&f, f.val[7], 1000000));
    CASE("array-count", MEDGE_ERR_FORMAT, "key 'k08': array of 4611686018427387904 elements runs past the end",
         patch_u64(&f, f.arr_n, 1ull << 62));
    CASE("tensor-data-past-end", MEDGE_ERR_FORMAT, "tensor 't1': data (34 bytes at offset 1048576) runs past the end",
         patch_u64(&f, f.t_off[1], 1u << 20));
    CASE("tensor-offset-overflow", MEDGE_ERR_FORMAT, "tensor 't1': data (34 bytes at offset 18446744073709551584) runs past",
         patch_u64(&f, f.t_off[1], UINT64_MAX - 31));
    CASE("misaligned-offset", MEDGE_ERR_FORMAT, "tensor 't1': data offset 33 is not a multiple of the alignment 32",
         patch_u64(&f, f.t_off[1], 33));
    CASE("duplicate-key", MEDGE_ERR_FORMAT, "duplicate metadata key 'k01'", patch(&f, f.key_name[2], "k01", 3));
    CASE("duplicate-tensor", MEDGE_ERR_FORMAT, "duplicate tensor name 't0'", patch(&f, f.t_name[1] + 8, "t0", 2));
    CASE("value-type", MEDGE_ERR_FORMAT, "key 'k03': unknown value type 13", patch_u32(&f, f.key_type[3], 13));
    CASE("element-type", MEDGE_ERR_FORMAT, "key 'k08': unknown array element type 99", patch_u32(&f, f.arr_et, 99));
    CASE("tensor-type", MEDGE_ERR_UNSUPPORTED, "tensor 't0': unknown tensor type 4", patch_u32(&f, f.t_type[0], 4));
    CASE("tensor-type-huge", MEDGE_ERR_UNSUPPORTED, "tensor 't1': unknown tensor type 4000000000",
         patch_u32(&f, f.t_type[1], 4000000000u));
    CASE("bool", MEDGE_ERR_FORMAT, "key 'k04': bool value 2 is neither 0 nor 1", patch(&f, f.val[4], "\2", 1));
    CASE("dims", MEDGE_ERR_FORMAT, "tensor 't0': 5 dimensions (at most 4)", patch_u32(&f, f.t_ndims[0], 5));
    CASE("dims-overflow", MEDGE_ERR_FORMAT, "tensor 't0': dimensions overflow",
         (patch_u64(&f, f.t_ne[0], 1ull << 40), patch_u64(&f, f.t_ne[0] + 8, 1ull << 40)));
    CASE("dim-negative", MEDGE_ERR_FORMAT, "tensor 't0': dimensions overflow", patch_u64(&f, f.t_ne[0], (uint64_t)-4));
    CASE("partial-block", MEDGE_ERR_FORMAT, "tensor 't1': row length 33 is not a multiple of the Q8_0 block size 32",
         patch_u64(&f, f.t_ne[1], 33));
    CASE("alignment", MEDGE_ERR_FORMAT, "general.alignment must be a u32 power of two", patch_u32(&f, f.val[0], 48));
    CASE("alignment-zero", MEDGE_ERR_FORMAT, "general.alignment must be a u32 power of two", patch_u32(&f, f.val[0], 0));
    CASE("key-nul", MEDGE_ERR_FORMAT, "metadata key 5 contains a NUL byte", patch(&f, f.key_name[5] + 1, "", 1));
    CASE("key-empty", MEDGE_ERR_FORMAT, "metadata key 0 is empty", patch_u64(&f, f.key_len[0], 0));

    /* A 70-byte tensor name (ggml's limit is 63). */
    {
        gfile f;
        build(&f, "a_tensor_name_that_is_far_too_long_for_ggml_which_allows_63_bytes_x");
        expect("tensor-name-long", f.b.data, f.b.len, MEDGE_ERR_FORMAT, "is too long or contains NUL");
        medge_buf_free(&f.b);
    }
    /* Arrays nested 9 deep. */
    {
        gfile f;
        memset(&f, 0, sizeof f);
        put(&f, "GGUF", 4);
        put_u32(&f, 3);
        put_u64(&f, 0);
        put_u64(&f, 1);
        put_str(&f, "deep");
        put_u32(&f, GGUF_ARR);
        for (int i = 0; i < 9; i++) {
            put_u32(&f, GGUF_ARR);
            put_u64(&f, 1);
        }
        put_u32(&f, GGUF_U8);
        put_u64(&f, 0);
        for (int i = 0; i < 16; i++)
            put(&f, "", 1);
        expect("nesting", f.b.data, f.b.len, MEDGE_ERR_FORMAT, "key 'deep': arrays nested more than 8 deep");
        medge_buf_free(&f.b);
    }
}

int main(void)
{
    good();
    bad();
    TEST_END();
}
