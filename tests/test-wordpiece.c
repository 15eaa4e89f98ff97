/* test-wordpiece.c - the BERT WordPiece tokenizer against the Hugging Face ids of
 * reference/tokenizer/wordpiece-tokenize.json (bert-base-uncased vocabulary), plus truncation,
 * the constructors (array of strings, GGUF) and the Unicode helpers it is built on. */
#include "test.h"
#include "core/json.h"
#include "formats/gguf.h"
#include "text/unicode.h"
#include "text/wordpiece.h"

static int ids_equal(const int32_t *a, size_t na, const json_value *b)
{
    if (b->type != JSON_ARRAY || b->len != na)
        return 0;
    for (size_t i = 0; i < na; i++)
        if (!b->items[i].is_int || b->items[i].i != a[i])
            return 0;
    return 1;
}

static void print_ids(const char *what, const int32_t *a, size_t n)
{
    fprintf(stderr, "  %s:", what);
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, " %d", a[i]);
    fputc('\n', stderr);
}

static void test_reference(void)
{
    wp_vocab *v = NULL;
    CHECK_OK(wp_load_file(test_ref("tokenizer/bert-uncased-vocab.txt"), &v));
    if (!v)
        return;
    CHECK_EQ_INT(wp_n_vocab(v), 30522);
    CHECK_EQ_INT(wp_specials(v)->pad, 0);
    CHECK_EQ_INT(wp_specials(v)->unk, 100);
    CHECK_EQ_INT(wp_specials(v)->cls, 101);
    CHECK_EQ_INT(wp_specials(v)->sep, 102);
    CHECK_EQ_INT(wp_specials(v)->mask, 103);
    CHECK_STR(wp_token(v, 2023), "this");
    CHECK(wp_token(v, 30522) == NULL);

    json_doc *doc = NULL;
    CHECK_OK(json_parse_file(test_ref("tokenizer/wordpiece-tokenize.json"), &doc));
    if (!doc) {
        wp_free(v);
        return;
    }
    const json_value *root = json_root(doc);
    CHECK(root->type == JSON_ARRAY && root->len == 49);
    int ok = 0;
    for (size_t i = 0; root->type == JSON_ARRAY && i < root->len; i++) {
        const json_value *c = &root->items[i];
        const json_value *t = json_get(c, "text");
        const json_value *want = json_get(c, "ids");
        int32_t *ids = NULL;
        size_t n = 0;
        CHECK_OK(wp_encode(v, t->s, t->len, 256, &ids, &n));
        int eq = ids_equal(ids, n, want);
        CHECK_MSG(eq, "case %zu \"%s\"", i, t->s);
        if (!eq) {
            print_ids("got ", ids, n);
            int32_t w[512];
            size_t nw = 0;
            for (size_t k = 0; k < want->len && k < 512; k++)
                w[nw++] = (int32_t)want->items[k].i;
            print_ids("want", w, nw);
        }
        ok += eq;
        free(ids);
    }
    printf("wordpiece: %d/%zu reference cases\n", ok, root->len);

    /* truncation keeps [CLS] and [SEP] */
    const char *txt = "this is a photo of adenocarcinoma histopathology";
    int32_t *ids = NULL;
    size_t n = 0;
    CHECK_OK(wp_encode(v, txt, strlen(txt), 8, &ids, &n));
    const int32_t want8[8] = {101, 2023, 2003, 1037, 6302, 1997, 16298, 102};
    CHECK_EQ_INT(n, 8);
    CHECK(n == 8 && memcmp(ids, want8, sizeof want8) == 0);
    free(ids);
    CHECK_OK(wp_encode(v, txt, strlen(txt), 2, &ids, &n));
    CHECK_EQ_INT(n, 2);
    CHECK(n == 2 && ids[0] == 101 && ids[1] == 102);
    free(ids);
    CHECK(wp_encode(v, txt, strlen(txt), 1, &ids, &n) == MEDGE_ERR_INVALID_ARG);
    /* a special token right at the limit is dropped too */
    CHECK_OK(wp_encode(v, "a [MASK] b", 10, 3, &ids, &n));
    CHECK(n == 3 && ids[1] == 1037 && ids[2] == 102);
    free(ids);
    /* malformed UTF-8 is dropped like U+FFFD */
    CHECK_OK(wp_encode(v, "ab\xff\xc3x", 5, 0, &ids, &n));
    CHECK(n == 4 && ids[1] == 11113 && ids[2] == 2595);
    free(ids);
    /* 100 000 words: no quadratic behaviour, truncated to 256 */
    size_t big = 600000;
    char *bigtxt = malloc(big);
    for (size_t k = 0; k < big; k++)
        bigtxt[k] = "pneumonia "[k % 10];
    CHECK_OK(wp_encode(v, bigtxt, big, 256, &ids, &n));
    CHECK(n == 256 && ids[1] == 18583 && ids[254] == 18583 && ids[255] == 102);
    free(ids);
    free(bigtxt);
    json_free(doc);
    wp_free(v);
}

static void test_constructors(void)
{
    const char *toks[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "pleur", "##al", "effusion", "##s", "."};
    wp_vocab *v = NULL;
    CHECK_OK(wp_vocab_from_tokens(toks, NULL, 10, &v));
    int32_t *ids = NULL;
    size_t n = 0;
    if (v) {
        CHECK_OK(wp_encode(v, "Pleural EFFUSIONS. pleurx", 25, 0, &ids, &n));
        const int32_t want[] = {2, 5, 6, 7, 8, 9, 1, 3};
        CHECK(n == 8 && memcmp(ids, want, sizeof want) == 0);
        free(ids);
        wp_free(v);
    }
    const char *bad[] = {"a", "b"};
    CHECK(wp_vocab_from_tokens(bad, NULL, 2, &v) == MEDGE_ERR_FORMAT && v == NULL);

    /* GGUF: tokenizer.ggml.tokens */
    const char *path = test_tmp("wp-vocab.gguf");
    gguf_writer *w = NULL;
    CHECK_OK(gguf_writer_open(path, &w));
    if (!w)
        return;
    CHECK_OK(gguf_writer_set_str(w, "tokenizer.ggml.model", "bert"));
    CHECK_OK(gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, 10));
    CHECK_OK(gguf_writer_begin_data(w));
    CHECK_OK(gguf_writer_finish(w));
    gguf_writer_free(w);
    gguf_ctx *g = NULL;
    CHECK_OK(gguf_open(path, &g));
    if (!g)
        return;
    CHECK_OK(wp_load_gguf(g, &v));
    gguf_close(g);
    if (v) {
        CHECK_EQ_INT(wp_n_vocab(v), 10);
        CHECK_OK(wp_encode(v, "effusion", 8, 0, &ids, &n));
        CHECK(n == 3 && ids[0] == 2 && ids[1] == 7 && ids[2] == 3);
        free(ids);
        wp_free(v);
    }
}

static void test_unicode(void)
{
    uint32_t out[8];
    CHECK_EQ_INT(uni_nfd1(0xE9, out), 2);
    CHECK(out[0] == 'e' && out[1] == 0x301);
    CHECK_EQ_INT(uni_nfd1(0xD55C, out), 3); /* 한 */
    CHECK(out[0] == 0x1112 && out[1] == 0x1161 && out[2] == 0x11AB);
    CHECK_EQ_INT(uni_nfd1(0x1F82, out), 4);
    CHECK_EQ_INT(uni_lower1('Q'), 'q');
    CHECK_EQ_INT(uni_lower1(0x391), 0x3B1);
    CHECK_EQ_INT(uni_lower1(0xFF21), 0xFF41);
    CHECK_EQ_INT(uni_ccc(0x301), 230);
    CHECK_EQ_INT(uni_ccc(0x316), 220);
    /* canonical ordering: a + acute(230) + grave below(220) -> below first */
    uint32_t in[3] = {'a', 0x301, 0x316}, o[12];
    CHECK_EQ_INT(uni_nfd(in, 3, o), 3);
    CHECK(o[1] == 0x316 && o[2] == 0x301);
    uint32_t sig[4] = {0x3A3, 0x391, 0x3A3, '.'};
    CHECK_EQ_INT(uni_lower_full(sig, 4, o), 4);
    CHECK(o[0] == 0x3C3 && o[2] == 0x3C2);
    uint32_t dot[1] = {0x130};
    CHECK_EQ_INT(uni_lower_full(dot, 1, o), 2);
    CHECK(uni_props(0x2028) & UNI_SPACE);
    CHECK(uni_props(0x200B) & UNI_CONTROL);
    CHECK(!(uni_props(0x200B) & UNI_PYSPACE));
    CHECK(uni_props(0x1C) & UNI_PYSPACE);
    CHECK(uni_props(0x2022) & UNI_PUNCT);
    CHECK(!(uni_props(0xD7) & UNI_PUNCT));
    CHECK(uni_props(0x20000) & UNI_CJK);
    CHECK(!(uni_props(0x3042) & UNI_CJK));
    size_t st, ln;
    uni_py_strip("\xc2\xa0 x y\xe3\x80\x80\n", 10, &st, &ln);
    CHECK(st == 3 && ln == 3);
    uni_py_strip("\xe2\x80\x8bx", 4, &st, &ln);
    CHECK(st == 0 && ln == 4);
}

int main(void)
{
    test_unicode();
    test_constructors();
    test_reference();
    TEST_END();
}
