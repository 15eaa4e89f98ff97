/* spm.h - Gemma 3's SentencePiece-BPE tokenizer, matching Hugging Face's tokenizer.json
 * (specs/gemma3.md §5.1-5.2b):
 *   - added tokens (CONTROL and USER_DEFINED pieces) are split out of the raw text first,
 *     leftmost-longest; CONTROL ones only with SPM_PARSE_SPECIAL, USER_DEFINED ones always;
 *   - the rest: ' ' -> U+2581 (no dummy prefix), then BPE over UTF-8 characters: the pair whose
 *     merge comes first (tokenizer.json merge rank, or the higher GGUF score of the merged piece,
 *     ties to the left) is merged until none applies; characters that are not pieces become
 *     byte tokens <0xNN>;
 *   - GGUF vocabularies spell the whitespace-run pieces with spaces; they are respelled with
 *     U+2581 as in tokenizer.json, which is what Hugging Face matches (§5.2b).
 * Decoding: U+2581 -> ' ', byte tokens -> their byte, CONTROL pieces -> "" unless
 * SPM_DECODE_SPECIAL. The streaming detokenizer only ever emits whole UTF-8 characters.
 *
 * A vocabulary is immutable after loading; all functions taking a const spm_vocab may run on
 * several threads at once. */
#ifndef MEDGE_TEXT_SPM_H
#define MEDGE_TEXT_SPM_H
#include "core/error.h"
#include "core/json.h"
#include "formats/gguf.h"

typedef struct spm_vocab spm_vocab;

/* Token types, numbered as GGUF's tokenizer.ggml.token_type (llama.cpp / SentencePiece). */
enum spm_type {
    SPM_TYPE_UNDEFINED = 0,
    SPM_TYPE_NORMAL = 1,
    SPM_TYPE_UNKNOWN = 2,
    SPM_TYPE_CONTROL = 3,
    SPM_TYPE_USER_DEFINED = 4,
    SPM_TYPE_UNUSED = 5,
    SPM_TYPE_BYTE = 6
};

/* Encode flags. */
enum {
    SPM_ADD_BOS = 1 << 0,       /* prepend <bos> */
    SPM_PARSE_SPECIAL = 1 << 1, /* CONTROL pieces written in the text become their ids */
    SPM_NO_CACHE = 1 << 2       /* do not cache the pieces of repeated words (same result, slower;
                                   for measurements) */
};
/* Decode flags. */
enum {
    SPM_DECODE_SPECIAL = 1 << 0 /* render CONTROL/UNKNOWN pieces as their text */
};

/* Special ids; -1 when the vocabulary has no such piece. */
typedef struct spm_special {
    int32_t bos, eos, eot, unk, pad;
    int32_t eos_text;        /* "<eos>" (Gemma's GGUF sets eos to <end_of_turn>; both end generation) */
    int32_t start_of_turn, start_of_image, end_of_image, image_soft;
    int32_t nl, nl2;         /* "\n" and "\n\n" (Gemma 3 puts "\n\n" around images) */
} spm_special;

/* From a GGUF's tokenizer.ggml.{tokens,scores,token_type} and special-id keys. The GGUF need
 * not outlive the vocabulary. */
medge_status spm_load_gguf(const gguf_ctx *g, spm_vocab **out);
/* From a Hugging Face tokenizer.json (BPE model with byte fallback, merges -> ranks). */
medge_status spm_load_json(const char *path, spm_vocab **out);
medge_status spm_load_json_doc(const json_value *root, spm_vocab **out);
void spm_free(spm_vocab *v);

int32_t spm_n_vocab(const spm_vocab *v);
const spm_special *spm_specials(const spm_vocab *v);
/* True for ids that end generation (<eos>, the GGUF eos id, <end_of_turn>). */
bool spm_is_eog(const spm_vocab *v, int32_t id);
/* Raw piece text (as stored: U+2581 for spaces, "<0x0A>" for byte tokens), NUL-terminated,
 * owned by the vocabulary; NULL for an id out of range. *len may be NULL. */
const char *spm_token_text(const spm_vocab *v, int32_t id, size_t *len);
int spm_token_type(const spm_vocab *v, int32_t id); /* enum spm_type, -1 out of range */
/* Id of an exact piece, -1 if absent. */
int32_t spm_find(const spm_vocab *v, const char *s, size_t n);

/* Tokenize text[0..len) (any bytes: malformed UTF-8 becomes byte tokens). *ids is malloc'd
 * (free with free()). */
medge_status spm_encode(const spm_vocab *v, const char *text, size_t len, unsigned flags, int32_t **ids, size_t *n);
/* Same into a caller buffer: *n = the number of ids the text needs; MEDGE_ERR_RANGE (ids holds
 * the first cap) when cap is smaller. */
medge_status spm_encode_buf(const spm_vocab *v, const char *text, size_t len, unsigned flags, int32_t *ids, size_t cap, size_t *n);

/* Bytes one token decodes to (a byte token gives one raw byte, possibly part of a UTF-8
 * sequence). Writes at most cap bytes to out and returns the full length. Out-of-range ids
 * decode to "". */
size_t spm_token_piece(const spm_vocab *v, int32_t id, unsigned flags, char *out, size_t cap);
/* Decode ids into text (byte tokens joined into their raw bytes; no UTF-8 repair). *text is
 * malloc'd and NUL-terminated (free with free()); *len may be NULL. */
medge_status spm_decode(const spm_vocab *v, const int32_t *ids, size_t n, unsigned flags, char **text, size_t *len);

/* Streaming detokenizer: feed ids one at a time as they are generated; only whole, valid UTF-8
 * characters are appended to out (a byte sequence that cannot become valid is replaced by
 * U+FFFD per byte, as Hugging Face's ByteFallback decoder). Zero-initialise, or spm_detok_init. */
typedef struct spm_detok {
    uint8_t pend[4];
    unsigned npend;
    unsigned flags; /* SPM_DECODE_* */
} spm_detok;
void spm_detok_init(spm_detok *st, unsigned flags);
/* Append the text that id completes to out (may be nothing). out->oom reports allocation failure. */
void spm_detok_push(spm_detok *st, const spm_vocab *v, int32_t id, medge_buf *out);
/* End of stream: a dangling incomplete sequence becomes U+FFFD per byte. */
void spm_detok_flush(spm_detok *st, medge_buf *out);
#endif
