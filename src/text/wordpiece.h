/* wordpiece.h - BERT WordPiece tokenizer, uncased, exactly as Hugging Face's BertTokenizer
 * (BiomedCLIP's PubMedBERT text encoder; specs/biomedclip.md §4.1, 4.1b):
 *   special-token strings ([CLS] [SEP] [PAD] [MASK] [UNK], case-sensitive) are matched first;
 *   clean text (delete NUL, U+FFFD and C* except \t\n\r; White_Space -> ' '); pad CJK ideographs
 *   with spaces; full lowercasing (Final_Sigma, U+0130); NFD; delete Mn; split on whitespace and
 *   punctuation; greedy longest-match-first with "##" continuations; [UNK] for a word with no
 *   segmentation or longer than 100 code points; [CLS] ... [SEP] truncated to max_len.
 *
 * A vocabulary is immutable after loading and may be shared between threads. */
#ifndef MEDGE_TEXT_WORDPIECE_H
#define MEDGE_TEXT_WORDPIECE_H
#include "core/error.h"
#include "formats/gguf.h"

typedef struct wp_vocab wp_vocab;

/* Special ids found by their strings in the vocabulary; -1 when absent ([UNK], [CLS] and [SEP]
 * are required by every loader). */
typedef struct wp_special {
    int32_t pad, unk, cls, sep, mask;
} wp_special;

#define WP_MAX_CHARS_PER_WORD 100

/* From n token strings (id = index; lens NULL: NUL-terminated). With duplicates the last id wins
 * (as BertTokenizer's load_vocab). Copies the strings. */
medge_status wp_vocab_from_tokens(const char *const *tokens, const size_t *lens, size_t n, wp_vocab **out);
/* From a vocab.txt (one token per line, id = line number; "\n" or "\r\n" line ends). */
medge_status wp_load_file(const char *path, wp_vocab **out);
/* From a GGUF's tokenizer.ggml.tokens (raw WordPiece strings, "##" continuations). */
medge_status wp_load_gguf(const gguf_ctx *g, wp_vocab **out);
void wp_free(wp_vocab *v);

size_t wp_n_vocab(const wp_vocab *v);
const wp_special *wp_specials(const wp_vocab *v);
/* Token string of id (NUL-terminated, owned by the vocabulary), NULL if out of range. */
const char *wp_token(const wp_vocab *v, int32_t id);
/* Id of an exact token string, -1 if absent. */
int32_t wp_find(const wp_vocab *v, const char *s, size_t n);

/* Tokenize text[0..len) (UTF-8; malformed bytes are dropped like U+FFFD) into
 * [CLS] pieces... [SEP]. max_len > 0 limits the total (at least 2), keeping [CLS] and [SEP];
 * 0 means no limit. *ids is malloc'd (free with free()), *n its length. */
medge_status wp_encode(const wp_vocab *v, const char *text, size_t len, size_t max_len, int32_t **ids, size_t *n);
#endif
