/* test-core.c - core: SHA-256 vectors, JSON parsing and escaping, fp16/bf16 conversion, the
 * thread pool, error messages. */
#include "test.h"
#include "core/error.h"
#include "core/json.h"
#include "core/sha256.h"
#include "core/threadpool.h"
#include "quant/types.h"

#include <stdatomic.h>

static void test_sha256(void)
{
    char hex[65];
    medge_sha256_hex("", 0, hex);
    CHECK_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    medge_sha256_hex("abc", 3, hex);
    CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    medge_sha256_hex(m, strlen(m), hex);
    CHECK_STR(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    /* streaming in odd pieces equals one shot */
    static char big[100000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)(i * 7 + 3);
    medge_sha256 s;
    uint8_t d[32];
    char hex2[65];
    medge_sha256_init(&s);
    for (size_t off = 0; off < sizeof big;) {
        size_t k = (off % 97) + 1;
        if (k > sizeof big - off)
            k = sizeof big - off;
        medge_sha256_update(&s, big + off, k);
        off += k;
    }
    medge_sha256_final(&s, d);
    medge_sha256_to_hex(d, hex2);
    medge_sha256_hex(big, sizeof big, hex);
    CHECK_STR(hex, hex2);
}

static void test_json(void)
{
    const char *t = "{\"a\": [1, -2.5e3, true, null, \"x\\u00e9\\ud83d\\ude00\\n\"], \"b\": {\"c\": 9007199254740993}, \"e\": \"\"}";
    json_doc *d;
    CHECK_OK(json_parse(t, strlen(t), &d));
    const json_value *r = json_root(d);
    const json_value *a = json_get(r, "a");
    CHECK(a && a->type == JSON_ARRAY && a->len == 5);
    CHECK(a->items[0].is_int && a->items[0].i == 1);
    CHECK(!a->items[1].is_int && a->items[1].num == -2500.0);
    CHECK(a->items[2].type == JSON_BOOL && a->items[2].b);
    CHECK(a->items[3].type == JSON_NULL);
    CHECK_STR(a->items[4].s, "x\xc3\xa9\xf0\x9f\x98\x80\n");
    int64_t big;
    CHECK(json_get_int(json_get(r, "b"), "c", &big) && big == 9007199254740993LL);
    CHECK_STR(json_get_str(r, "e"), "");
    json_free(d);

    const char *bad[] = {"", "{", "[1,]", "{\"a\" 1}", "\"abc", "01x", "[1] 2", "{\"a\":\"\\q\"}", "\"\x01\""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        medge_status rc = json_parse(bad[i], strlen(bad[i]), &d);
        CHECK_MSG(rc == MEDGE_ERR_FORMAT && d == NULL, "case %zu", i);
        CHECK(strstr(medge_errmsg(NULL), "JSON line") != NULL);
    }
    /* deep nesting is refused, not a stack overflow */
    char deep[2001];
    memset(deep, '[', 2000);
    deep[2000] = 0;
    CHECK(json_parse(deep, 2000, &d) == MEDGE_ERR_FORMAT);

    medge_buf b = {0};
    medge_buf_json_str(&b, "a\"b\\c\n\x01", 7);
    CHECK_STR(b.data, "\"a\\\"b\\\\c\\n\\u0001\"");
    b.len = 0;
    medge_buf_json_num(&b, 0.1);
    CHECK_STR(b.data, "0.1");
    medge_buf_free(&b);
}

static void test_half(void)
{
    CHECK_EQ_INT(medge_fp32_to_fp16(1.0f), 0x3c00);
    CHECK_EQ_INT(medge_fp32_to_fp16(-2.0f), 0xc000);
    CHECK_EQ_INT(medge_fp32_to_fp16(65504.0f), 0x7bff);
    CHECK_EQ_INT(medge_fp32_to_fp16(65520.0f), 0x7c00);
    CHECK_EQ_INT(medge_fp32_to_fp16(5.9604645e-8f), 0x0001);
    CHECK_EQ_INT(medge_fp32_to_fp16(1.0f + 1.0f / 2048), 0x3c00); /* tie to even */
    CHECK_EQ_INT(medge_fp32_to_fp16(1.0f + 3.0f / 2048), 0x3c02);
    /* every half round-trips */
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff))
            continue;
        if (medge_fp32_to_fp16(medge_fp16_to_fp32((uint16_t)h)) != h)
            bad++;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(medge_fp32_to_bf16(1.0f), 0x3f80);
    CHECK_NEAR(medge_bf16_to_fp32(0x4049), 3.140625, 0);
}

static atomic_int counter;
static void add_fn(void *ctx, int ith, int nth)
{
    long b, e;
    medge_split(1000, ith, nth, &b, &e);
    atomic_fetch_add(&counter, (int)(e - b));
    (void)ctx;
}

static void test_pool(void)
{
    medge_pool *p;
    CHECK_OK(medge_pool_create(3, &p));
    for (int i = 0; i < 200; i++)
        medge_pool_run(p, add_fn, NULL);
    CHECK_EQ_INT(atomic_load(&counter), 200000);
    medge_pool_free(p);
    medge_pool_free(NULL);
}

static void test_errors(void)
{
    medge_status rc = medge_err(MEDGE_ERR_RANGE, "token %d out of range", 7);
    CHECK_EQ_INT(rc, MEDGE_ERR_RANGE);
    CHECK_STR(medge_errmsg(NULL), "token 7 out of range");
    medge_err_prefix(rc, "%s", "file.gguf");
    CHECK_STR(medge_errmsg(NULL), "file.gguf: token 7 out of range");
    CHECK_STR(medge_status_str(MEDGE_ERR_NOMEM), "out of memory");
}

int main(void)
{
    test_sha256();
    test_json();
    test_half();
    test_pool();
    test_errors();
    TEST_END();
}
