/* fuzz-tokenizers.c - libFuzzer target for the tokenizers and the chat template. Input byte 0
 * picks the options, the rest is the text (any bytes, malformed UTF-8 included).
 *
 * The vocabularies are built here (no files needed): a small Gemma-like SentencePiece vocabulary
 * written as a GGUF in memory (byte pieces, CONTROL and USER_DEFINED pieces including a
 * space-run piece, merges by score, a piece with an inner U+2581) and the same pieces as a
 * tokenizer.json with merges; a small WordPiece vocabulary.
 *
 * Checked: no crash or sanitizer report; every id is in range; SentencePiece decode(encode(text))
 * gives the text back (U+2581 decodes as a space) with both vocabularies; the streaming
 * detokenizer emits only valid UTF-8 and, for valid UTF-8 text, exactly the decoded text;
 * WordPiece output is [CLS] ... [SEP] within the length limit; the chat template renders or
 * fails cleanly on the input parsed as JSON messages. */
#include "core/json.h"
#include "formats/gguf.h"
#include "text/chat.h"
#include "text/spm.h"
#include "text/unicode.h"
#include "text/wordpiece.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAIL(...)                                    \
    do {                                             \
        fprintf(stderr, "fuzz-tokenizers: " __VA_ARGS__); \
        fputc('\n', stderr);                         \
        abort();                                     \
    } while (0)

/* Pieces after the 256 byte pieces; type 1 NORMAL, 3 CONTROL, 4 USER_DEFINED. */
static const struct { const char *s; int type; } pieces[] = {
    {"<pad>", 3}, {"<eos>", 3}, {"<bos>", 3}, {"<unk>", 3}, {"<start_of_turn>", 3}, {"<end_of_turn>", 3},
    {"<start_of_image>", 3}, {"\n", 4}, {"\n\n", 4}, {"  ", 4}, {"   ", 4}, {"<table>", 4}, {"[multimodal]", 4},
    {"\xE2\x96\x81", 1}, {"a", 1}, {"b", 1}, {"c", 1}, {"d", 1}, {"e", 1}, {"h", 1}, {"i", 1}, {"n", 1},
    {"o", 1}, {"r", 1}, {"s", 1}, {"t", 1}, {"u", 1}, {"<", 1}, {">", 1}, {"/", 1}, {"-", 1}, {".", 1},
    {",", 1}, {"0", 1}, {"1", 1}, {"\xC3\xA9", 1}, {"\xE4\xB8\xAD", 1}, {"\xE6\x96\x87", 1},
    {"\xF0\x9F\x98\x80", 1}, {"th", 1}, {"he", 1}, {"in", 1}, {"er", 1}, {"an", 1}, {"on", 1}, {"re", 1},
    {"\xE2\x96\x81t", 1}, {"\xE2\x96\x81th", 1}, {"\xE2\x96\x81the", 1}, {"\xE2\x96\x81" "a", 1},
    {"\xE2\x96\x81" "an", 1}, {"\xE2\x96\x81" "and", 1}, {"ing", 1}, {"ion", 1}, {"ation", 1}, {"at", 1},
    {"\xE4\xB8\xAD\xE6\x96\x87", 1}, {"\xE2\x96\x81\xC3\xA9", 1}, {">\xE2\x96\x81</", 1}, {"</", 1},
    {">\xE2\x96\x81", 1}, {"10", 1}, {"ss", 1}, {"\xE2\x96\x81\xE2\x96\x81", 1},
};
#define NP (sizeof pieces / sizeof pieces[0])
#define NV (256 + NP)

static char piece_text[NV][24];
static int32_t piece_type[NV];
static float piece_score[NV];

static void put_u32(medge_buf *b, uint32_t x) { medge_buf_append(b, &x, 4); }
static void put_u64(medge_buf *b, uint64_t x) { medge_buf_append(b, &x, 8); }
static void put_str(medge_buf *b, const char *s)
{
    put_u64(b, strlen(s));
    medge_buf_append(b, s, strlen(s));
}

static spm_vocab *gv, *jv;
static wp_vocab *wv;
static medge_buf gguf_bytes;

static void init(void)
{
    for (int i = 0; i < 256; i++) {
        snprintf(piece_text[i], sizeof piece_text[i], "<0x%02X>", i);
        piece_type[i] = 6;
        piece_score[i] = 0;
    }
    for (size_t i = 0; i < NP; i++) {
        snprintf(piece_text[256 + i], sizeof piece_text[0], "%s", pieces[i].s);
        piece_type[256 + i] = pieces[i].type;
        piece_score[256 + i] = pieces[i].type == 1 ? -(float)i : -1000.0f;
    }
    /* GGUF v3 with three arrays, no tensors */
    medge_buf *b = &gguf_bytes;
    medge_buf_append(b, "GGUF", 4);
    put_u32(b, 3);
    put_u64(b, 0);
    put_u64(b, 4);
    put_str(b, "tokenizer.ggml.model");
    put_u32(b, GGUF_STR);
    put_str(b, "llama");
    put_str(b, "tokenizer.ggml.tokens");
    put_u32(b, GGUF_ARR);
    put_u32(b, GGUF_STR);
    put_u64(b, NV);
    for (size_t i = 0; i < NV; i++)
        put_str(b, piece_text[i]);
    put_str(b, "tokenizer.ggml.scores");
    put_u32(b, GGUF_ARR);
    put_u32(b, GGUF_F32);
    put_u64(b, NV);
    medge_buf_append(b, piece_score, sizeof piece_score);
    put_str(b, "tokenizer.ggml.token_type");
    put_u32(b, GGUF_ARR);
    put_u32(b, GGUF_I32);
    put_u64(b, NV);
    medge_buf_append(b, piece_type, sizeof piece_type);
    gguf_ctx *g = NULL;
    if (b->oom || gguf_open_memory(b->data, b->len, &g) != MEDGE_OK || spm_load_gguf(g, &gv) != MEDGE_OK)
        FAIL("cannot build the GGUF vocabulary: %s", medge_errmsg(NULL));
    gguf_close(g);

    /* tokenizer.json: the same pieces (space runs spelled with U+2581), merges = every split of
     * a NORMAL/USER_DEFINED piece into two pieces, ordered by the piece's score */
    medge_buf j = {0};
    medge_buf_puts(&j, "{\"added_tokens\":[");
    int first = 1;
    for (size_t i = 256; i < NV; i++) {
        if (piece_type[i] == 1)
            continue;
        medge_buf_printf(&j, "%s{\"id\":%zu,\"content\":", first ? "" : ",", i);
        char sp[64] = "";
        if (strspn(piece_text[i], " ") == strlen(piece_text[i])) {
            for (size_t k = 0; k < strlen(piece_text[i]); k++)
                strcat(sp, "\xE2\x96\x81");
            medge_buf_json_str(&j, sp, strlen(sp));
        } else {
            medge_buf_json_str(&j, piece_text[i], strlen(piece_text[i]));
        }
        medge_buf_printf(&j, ",\"special\":%s}", piece_type[i] == 3 ? "true" : "false");
        first = 0;
    }
    medge_buf_puts(&j, "],\"normalizer\":{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"\xE2\x96\x81\"},"
                       "\"model\":{\"type\":\"BPE\",\"byte_fallback\":true,\"unk_token\":\"<unk>\",\"vocab\":{");
    for (size_t i = 0; i < NV; i++) {
        if (i)
            medge_buf_puts(&j, ",");
        if (piece_type[i] == 4 && strspn(piece_text[i], " ") == strlen(piece_text[i])) {
            char sp[64] = "";
            for (size_t k = 0; k < strlen(piece_text[i]); k++)
                strcat(sp, "\xE2\x96\x81");
            medge_buf_json_str(&j, sp, strlen(sp));
        } else {
            medge_buf_json_str(&j, piece_text[i], strlen(piece_text[i]));
        }
        medge_buf_printf(&j, ":%zu", i);
    }
    medge_buf_puts(&j, "},\"merges\":[");
    first = 1;
    for (size_t i = 256; i < NV; i++) {
        if (piece_type[i] != 1)
            continue;
        const char *s = piece_text[i];
        size_t n = strlen(s);
        for (size_t k = 1; k < n; k++) {
            char l[24], r[24];
            memcpy(l, s, k);
            l[k] = 0;
            snprintf(r, sizeof r, "%s", s + k);
            int hl = 0, hr = 0;
            for (size_t q = 256; q < NV; q++) {
                hl |= strcmp(piece_text[q], l) == 0 && piece_type[q] == 1;
                hr |= strcmp(piece_text[q], r) == 0 && piece_type[q] == 1;
            }
            if (!hl || !hr)
                continue;
            medge_buf_puts(&j, first ? "[" : ",[");
            medge_buf_json_str(&j, l, k);
            medge_buf_puts(&j, ",");
            medge_buf_json_str(&j, r, n - k);
            medge_buf_puts(&j, "]");
            first = 0;
        }
    }
    medge_buf_puts(&j, "]}}");
    json_doc *doc = NULL;
    if (j.oom || json_parse(j.data, j.len, &doc) != MEDGE_OK || spm_load_json_doc(json_root(doc), &jv) != MEDGE_OK)
        FAIL("cannot build the tokenizer.json vocabulary: %s", medge_errmsg(NULL));
    json_free(doc);
    medge_buf_free(&j);

    static const char *const wtoks[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "##s", "x", "-", "ray",
                                        "pleur", "##al", "e", "##ff", "##usion", "\xCF\x83", "##\xCF\x82", "i", "##\xCC\x87",
                                        "\xE4\xB8\xAD", ".", "a", "##a", "##aa"};
    if (wp_vocab_from_tokens(wtoks, NULL, sizeof wtoks / sizeof wtoks[0], &wv) != MEDGE_OK)
        FAIL("cannot build the WordPiece vocabulary: %s", medge_errmsg(NULL));
}

static int valid_utf8(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t l = uni_utf8_valid_len(s + i, n - i);
        if (!l)
            return 0;
        i += l;
    }
    return 1;
}

static void check_spm(const spm_vocab *v, const char *text, size_t n, unsigned flags, int valid)
{
    int32_t *ids = NULL;
    size_t nid = 0;
    if (spm_encode(v, text, n, flags, &ids, &nid) != MEDGE_OK)
        FAIL("spm_encode failed: %s", medge_errmsg(NULL));
    for (size_t i = 0; i < nid; i++)
        if (ids[i] < 0 || ids[i] >= spm_n_vocab(v))
            FAIL("id %d out of range", ids[i]);
    /* expected text: the input with U+2581 as ' ', after a BOS (which decodes to "<bos>") */
    medge_buf want = {0};
    if (flags & SPM_ADD_BOS)
        medge_buf_puts(&want, "<bos>");
    for (size_t i = 0; i < n;) {
        if (i + 3 <= n && memcmp(text + i, "\xE2\x96\x81", 3) == 0) {
            medge_buf_puts(&want, " ");
            i += 3;
        } else {
            medge_buf_append(&want, text + i, 1);
            i++;
        }
    }
    char *dec = NULL;
    size_t dn = 0;
    if (spm_decode(v, ids, nid, SPM_DECODE_SPECIAL, &dec, &dn) != MEDGE_OK)
        FAIL("spm_decode failed: %s", medge_errmsg(NULL));
    if (dn != want.len || (dn && memcmp(dec, want.data, dn) != 0))
        FAIL("decode(encode(text)) differs (%zu vs %zu bytes, flags %u)", dn, want.len, flags);
    spm_detok st;
    spm_detok_init(&st, SPM_DECODE_SPECIAL);
    medge_buf out = {0};
    for (size_t i = 0; i < nid; i++)
        spm_detok_push(&st, v, ids[i], &out);
    spm_detok_flush(&st, &out);
    if (!valid_utf8((const uint8_t *)out.data, out.len))
        FAIL("the stream emitted malformed UTF-8");
    if (valid && (out.len != want.len || (out.len && memcmp(out.data, want.data, out.len) != 0)))
        FAIL("the stream differs from the text");
    /* caller buffer: same ids, or the needed size */
    int32_t small[8];
    size_t nb = 0;
    medge_status rc = spm_encode_buf(v, text, n, flags, small, 8, &nb);
    if (nb != nid || (rc == MEDGE_OK) != (nid <= 8) || memcmp(small, ids, (nid < 8 ? nid : 8) * sizeof *ids) != 0)
        FAIL("spm_encode_buf disagrees with spm_encode");
    medge_buf_free(&out);
    medge_buf_free(&want);
    free(dec);
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        init();
        ready = 1;
    }
    if (size == 0)
        return 0;
    unsigned opt = data[0];
    const char *text = (const char *)data + 1;
    size_t n = size - 1;
    int valid = valid_utf8(data + 1, n);
    unsigned flags = (opt & 1 ? SPM_ADD_BOS : 0) | (opt & 2 ? SPM_PARSE_SPECIAL : 0) | (opt & 4 ? SPM_NO_CACHE : 0);
    check_spm(gv, text, n, flags, valid);
    check_spm(jv, text, n, flags, valid);

    size_t max_len = (opt >> 3) & 31;
    if (max_len == 1)
        max_len = 2;
    int32_t *ids = NULL;
    size_t nid = 0;
    if (wp_encode(wv, text, n, max_len, &ids, &nid) != MEDGE_OK)
        FAIL("wp_encode failed: %s", medge_errmsg(NULL));
    const wp_special *sp = wp_specials(wv);
    if (nid < 2 || ids[0] != sp->cls || ids[nid - 1] != sp->sep || (max_len && nid > max_len))
        FAIL("WordPiece output is not [CLS] ... [SEP] within %zu", max_len);
    for (size_t i = 0; i < nid; i++)
        if (ids[i] < 0 || (size_t)ids[i] >= wp_n_vocab(wv))
            FAIL("WordPiece id out of range");
    free(ids);

    json_doc *doc = NULL;
    if (json_parse(text, n, &doc) == MEDGE_OK) {
        char *out = NULL;
        if (chat_render_gemma3_json(json_root(doc), opt & 1, NULL, &out, NULL) == MEDGE_OK && !out)
            FAIL("chat render returned no text");
        free(out);
        json_free(doc);
    }
    return 0;
}
