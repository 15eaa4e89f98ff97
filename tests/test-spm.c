/* test-spm.c - the Gemma 3 SentencePiece-BPE tokenizer against the Hugging Face ids of
 * reference/tokenizer/gemma3-tokenize.json, loaded from the llama.cpp vocab GGUF and from
 * tokenizer.json; decoding (batch and streaming) gives the text back. */
#include "test.h"
#include "core/json.h"
#include "formats/gguf.h"
#include "text/spm.h"

#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* text with U+2581 replaced by ' ' (what decoding gives back) */
static char *despace(const char *s, size_t n, size_t *outn)
{
    char *o = malloc(n + 1);
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        if (i + 3 <= n && memcmp(s + i, "\xE2\x96\x81", 3) == 0) {
            o[k++] = ' ';
            i += 3;
        } else {
            o[k++] = s[i++];
        }
    }
    o[k] = 0;
    *outn = k;
    return o;
}

static void run_cases(const spm_vocab *v, const json_value *root, const char *what)
{
    int ok = 0, dec_ok = 0, stream_ok = 0, shown = 0;
    for (size_t i = 0; i < root->len; i++) {
        const json_value *t = json_get(&root->items[i], "text");
        const json_value *want = json_get(&root->items[i], "ids");
        int32_t *ids = NULL;
        size_t n = 0;
        CHECK_OK(spm_encode(v, t->s, t->len, SPM_PARSE_SPECIAL, &ids, &n));
        int eq = want && want->type == JSON_ARRAY && want->len == n;
        for (size_t k = 0; eq && k < n; k++)
            eq = want->items[k].i == ids[k];
        ok += eq;
        if (!eq && shown++ < 8) {
            fprintf(stderr, "%s case %zu: \"%s\"\n  got :", what, i, t->s);
            for (size_t k = 0; k < n; k++)
                fprintf(stderr, " %d", ids[k]);
            fprintf(stderr, "\n  want:");
            for (size_t k = 0; want && k < want->len; k++)
                fprintf(stderr, " %lld", (long long)want->items[k].i);
            fputc('\n', stderr);
        }
        size_t en;
        char *expect = despace(t->s, t->len, &en);
        char *dec = NULL;
        size_t dn = 0;
        CHECK_OK(spm_decode(v, ids, n, SPM_DECODE_SPECIAL, &dec, &dn));
        int deq = dec && dn == en && memcmp(dec, expect, en) == 0;
        CHECK_MSG(deq, "%s case %zu decodes to \"%s\"", what, i, dec ? dec : "(null)");
        dec_ok += deq;
        /* streaming gives the same text for valid UTF-8 (all reference texts are) */
        spm_detok st;
        spm_detok_init(&st, SPM_DECODE_SPECIAL);
        medge_buf out = {0};
        for (size_t k = 0; k < n; k++)
            spm_detok_push(&st, v, ids[k], &out);
        spm_detok_flush(&st, &out);
        int seq = !out.oom && out.len == en && (en == 0 || memcmp(out.data, expect, en) == 0);
        CHECK_MSG(seq, "%s case %zu streams to \"%s\"", what, i, out.data ? out.data : "");
        stream_ok += seq;
        medge_buf_free(&out);
        free(dec);
        free(expect);
        free(ids);
    }
    CHECK_EQ_INT(ok, (long long)root->len);
    printf("%s: %d/%zu reference cases, %d decoded back, %d streamed back\n", what, ok, root->len, dec_ok, stream_ok);
}

/* All texts joined by <start_of_turn> in one large text (which turns on the word and pair
 * caches) must give the per-text ids joined by 105, with and without the word cache. */
static void test_big(const spm_vocab *v, const json_value *root)
{
    medge_buf big = {0};
    size_t nwant = 0, cap = 1 << 16;
    int32_t *want = malloc(cap * sizeof *want);
    for (int rep = 0; rep < 3; rep++) {
        for (size_t i = 0; i < root->len; i++) {
            const json_value *t = json_get(&root->items[i], "text");
            int32_t *ids;
            size_t n;
            CHECK_OK(spm_encode(v, t->s, t->len, SPM_PARSE_SPECIAL, &ids, &n));
            if (big.len) {
                medge_buf_puts(&big, "<start_of_turn>");
                want[nwant++] = 105;
            }
            medge_buf_append(&big, t->s, t->len);
            while (nwant + n + 1 > cap)
                want = realloc(want, (cap *= 2) * sizeof *want);
            memcpy(want + nwant, ids, n * sizeof *ids);
            nwant += n;
            free(ids);
        }
    }
    for (int nc = 0; nc < 2; nc++) {
        int32_t *ids;
        size_t n;
        CHECK_OK(spm_encode(v, big.data, big.len, SPM_PARSE_SPECIAL | (nc ? SPM_NO_CACHE : 0), &ids, &n));
        size_t k = 0;
        while (k < n && k < nwant && ids[k] == want[k])
            k++;
        CHECK_MSG(n == nwant && k == n, "big text (%zu bytes, no_cache %d): %zu ids, want %zu, first difference at %zu",
                  big.len, nc, n, nwant, k);
        free(ids);
    }
    free(want);
    medge_buf_free(&big);
}

static void test_misc(const spm_vocab *v)
{
    const spm_special *sp = spm_specials(v);
    CHECK_EQ_INT(sp->bos, 2);
    CHECK_EQ_INT(sp->eot, 106);
    CHECK_EQ_INT(sp->eos_text, 1);
    CHECK_EQ_INT(sp->start_of_image, 255999);
    CHECK_EQ_INT(sp->end_of_image, 256000);
    CHECK_EQ_INT(sp->start_of_turn, 105);
    CHECK_EQ_INT(sp->pad, 0);
    CHECK_EQ_INT(sp->nl2, 108);
    CHECK(spm_is_eog(v, 1) && spm_is_eog(v, 106) && !spm_is_eog(v, 2));
    CHECK_EQ_INT(spm_token_type(v, 106), SPM_TYPE_CONTROL);
    CHECK_EQ_INT(spm_token_type(v, 238), SPM_TYPE_BYTE);
    int32_t *ids;
    size_t n;
    /* BOS; special tokens only when asked */
    const char *t = "<start_of_turn>user\nHi";
    CHECK_OK(spm_encode(v, t, strlen(t), SPM_ADD_BOS | SPM_PARSE_SPECIAL, &ids, &n));
    CHECK(n >= 4 && ids[0] == 2 && ids[1] == 105 && ids[3] == 107);
    free(ids);
    CHECK_OK(spm_encode(v, t, strlen(t), 0, &ids, &n));
    CHECK(n > 4 && ids[0] != 2 && ids[0] != 105);
    for (size_t k = 0; k < n; k++)
        CHECK(ids[k] != 105);
    char *d;
    CHECK_OK(spm_decode(v, ids, n, 0, &d, NULL));
    CHECK_STR(d, t);
    free(d);
    free(ids);
    /* user-defined pieces are split out even without special parsing */
    CHECK_OK(spm_encode(v, "a\n\nb", 4, 0, &ids, &n));
    CHECK(n == 3 && ids[1] == 108);
    free(ids);
    /* caller buffer: too small reports the size needed */
    int32_t buf[2];
    CHECK(spm_encode_buf(v, "Hello, my dog is cute", 21, 0, buf, 2, &n) == MEDGE_ERR_RANGE);
    CHECK_EQ_INT(n, 6);
    CHECK(buf[0] == 9259 && buf[1] == 236764);
    int32_t buf6[6];
    CHECK_OK(spm_encode_buf(v, "Hello, my dog is cute", 21, 0, buf6, 6, &n));
    CHECK(n == 6 && buf6[5] == 12864);
    /* malformed UTF-8 -> byte tokens, decoded back byte for byte */
    const char bad[] = "a\xff\xe2\x96 b\xc3";
    CHECK_OK(spm_encode(v, bad, sizeof bad - 1, 0, &ids, &n));
    CHECK_OK(spm_decode(v, ids, n, 0, &d, &n));
    CHECK(n == sizeof bad - 1 && memcmp(d, bad, n) == 0);
    free(d);
    free(ids);
    /* a character split over byte tokens streams as one whole character */
    spm_detok st;
    spm_detok_init(&st, 0);
    medge_buf out = {0};
    spm_detok_push(&st, v, 238 + 0xE2, &out);
    spm_detok_push(&st, v, 238 + 0x82, &out);
    CHECK_EQ_INT(out.len, 0);
    spm_detok_push(&st, v, 238 + 0xAC, &out);
    CHECK(out.len == 3 && memcmp(out.data, "\xE2\x82\xAC", 3) == 0);
    /* an impossible continuation: U+FFFD for the dangling byte, then the text */
    spm_detok_push(&st, v, 238 + 0xC3, &out);
    spm_detok_push(&st, v, 9259, &out); /* "Hello" */
    CHECK(out.len == 3 + 3 + 5 && memcmp(out.data + 3, "\xEF\xBF\xBDHello", 8) == 0);
    spm_detok_push(&st, v, 238 + 0xF0, &out);
    spm_detok_flush(&st, &out);
    CHECK(out.len == 14 && memcmp(out.data + 11, "\xEF\xBF\xBD", 3) == 0);
    /* control pieces render only on request */
    spm_detok_push(&st, v, 106, &out);
    CHECK_EQ_INT(out.len, 14);
    medge_buf_free(&out);
    char piece[32];
    CHECK_EQ_INT(spm_token_piece(v, 106, SPM_DECODE_SPECIAL, piece, sizeof piece), 13);
    CHECK_EQ_INT(spm_token_piece(v, 236743, 0, piece, sizeof piece), 1);
    CHECK(piece[0] == ' ');
    CHECK_EQ_INT(spm_token_piece(v, 1 << 30, 0, piece, sizeof piece), 0);
    CHECK(spm_decode(v, (const int32_t[]){-1}, 1, 0, &d, NULL) == MEDGE_ERR_RANGE);
}

/* The tiny test model's vocabulary is the first 4094 pieces of Gemma 3's, without most
 * single-character pieces: llama.cpp still merges characters into pieces there, and the
 * references made with it (the chat prompt of the logits files, the vision prompt) must come
 * out the same. */
static void test_tiny(void)
{
    gguf_ctx *g = NULL;
    spm_vocab *v = NULL;
    CHECK_OK(gguf_open(test_ref("gemma3-tiny/gguf/tiny-gemma3-Q8_0.gguf"), &g));
    if (g)
        CHECK_OK(spm_load_gguf(g, &v));
    gguf_close(g);
    if (!v)
        return;
    const char *t = "<start_of_turn>user\nDescribe this chest X-ray: ";
    const int32_t want[] = {2, 105, 2364, 107, 3984, 2635, 339, 672, 1273, 540, 1684, 283, 1254, 296, 464, 388, 367};
    int32_t *ids;
    size_t n;
    CHECK_OK(spm_encode(v, t, strlen(t), SPM_ADD_BOS | SPM_PARSE_SPECIAL, &ids, &n));
    CHECK(n == sizeof want / sizeof want[0] && memcmp(ids, want, sizeof want) == 0);
    free(ids);
    /* the chat sequence of the logits references: decode, encode again, same ids */
    FILE *f = fopen(test_ref("gemma3-tiny/logits/seq-chat.txt"), "r");
    CHECK(f != NULL);
    int32_t seq[256];
    size_t ns = 0;
    while (f && ns < 256 && fscanf(f, "%d", &seq[ns]) == 1)
        ns++;
    if (f)
        fclose(f);
    CHECK_EQ_INT(ns, 41);
    char *text = NULL;
    size_t len = 0;
    CHECK_OK(spm_decode(v, seq, ns, SPM_DECODE_SPECIAL, &text, &len));
    CHECK(text && strncmp(text, "<bos><start_of_turn>user\n", 25) == 0);
    if (text) {
        CHECK_OK(spm_encode(v, text, len, SPM_PARSE_SPECIAL, &ids, &n));
        CHECK_MSG(n == ns && memcmp(ids, seq, ns * sizeof *ids) == 0, "seq-chat \"%s\" re-encodes to %zu ids", text, n);
        free(ids);
    }
    free(text);
    spm_free(v);
}

int main(void)
{
    test_tiny();
    json_doc *doc = NULL;
    CHECK_OK(json_parse_file(test_ref("tokenizer/gemma3-tokenize.json"), &doc));
    if (!doc)
        TEST_END();
    const json_value *root = json_root(doc);
    CHECK(root->type == JSON_ARRAY && root->len == 574);

    double t0 = now();
    gguf_ctx *g = NULL;
    spm_vocab *v = NULL;
    CHECK_OK(gguf_open(test_ref("tokenizer/gemma3-vocab.gguf"), &g));
    if (g)
        CHECK_OK(spm_load_gguf(g, &v));
    double t1 = now();
    gguf_close(g);
    if (v) {
        printf("GGUF vocab: %d pieces loaded in %.1f ms\n", spm_n_vocab(v), (t1 - t0) * 1e3);
        CHECK_EQ_INT(spm_n_vocab(v), 262208);
        test_misc(v);
        run_cases(v, root, "gguf");
        test_big(v, root);
        spm_free(v);
    }

    t0 = now();
    CHECK_OK(spm_load_json(test_ref("tokenizer/gemma3-full/tokenizer.json"), &v));
    t1 = now();
    if (v) {
        printf("tokenizer.json: %d pieces loaded in %.1f ms\n", spm_n_vocab(v), (t1 - t0) * 1e3);
        CHECK_EQ_INT(spm_n_vocab(v), 262145);
        run_cases(v, root, "json");
        test_big(v, root);
        spm_free(v);
    }
    json_free(doc);
    TEST_END();
}
