/* unicode.h - the Unicode data the tokenizers and the chat template need (generated tables in
 * unicode_tables.c, see gen_unicode_tables.py), UTF-8 decoding that never fails, and the text
 * transforms built on them: full lowercasing with the Final_Sigma rule, NFD, Python's
 * str.strip(). */
#ifndef MEDGE_TEXT_UNICODE_H
#define MEDGE_TEXT_UNICODE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    UNI_CONTROL = 1 << 0, /* general category C* except \t \n \r (BERT deletes them) */
    UNI_SPACE = 1 << 1,   /* Unicode White_Space */
    UNI_PUNCT = 1 << 2,   /* P* or ASCII 33-47, 58-64, 91-96, 123-126 (BERT) */
    UNI_MN = 1 << 3,      /* nonspacing mark */
    UNI_CASED = 1 << 4,   /* cased and not case-ignorable (Final_Sigma) */
    UNI_CI = 1 << 5,      /* case-ignorable (Final_Sigma) */
    UNI_CJK = 1 << 6,     /* CJK ideograph ranges that BERT pads with spaces */
    UNI_PYSPACE = 1 << 7  /* Python str.isspace() (what str.strip() removes) */
};

#define UNI_BLOCK_SHIFT 7
extern const char uni_data_version[];
extern const uint16_t uni_stage1[];
extern const uint8_t uni_stage2[];
extern const uint32_t uni_lower_n;
extern const uint32_t uni_lower[][2];
extern const uint32_t uni_decomp_n;
extern const uint32_t uni_decomp[][2];
extern const uint32_t uni_decomp_seq[];
extern const uint32_t uni_ccc_n;
extern const uint32_t uni_ccc_tab[][3];

/* Property bits of a code point (0 above U+10FFFF). */
static inline unsigned uni_props(uint32_t cp)
{
    if (cp >= 0x110000)
        return UNI_CONTROL;
    return uni_stage2[((uint32_t)uni_stage1[cp >> UNI_BLOCK_SHIFT] << UNI_BLOCK_SHIFT) | (cp & ((1u << UNI_BLOCK_SHIFT) - 1))];
}

/* Decode one UTF-8 sequence at s[0..n) (n >= 1). Returns its length (1..4) and the code point;
 * a malformed or truncated sequence (overlong, surrogate, > U+10FFFF) gives length 1 and
 * *valid = false with *cp = the byte value. */
static inline size_t uni_utf8_decode(const uint8_t *s, size_t n, uint32_t *cp, bool *valid)
{
    uint8_t c = s[0];
    *valid = true;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t len;
    uint32_t v, min;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2, v = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3, v = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4, v = c & 0x07, min = 0x10000;
    } else {
        goto bad;
    }
    if (n < len)
        goto bad;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            goto bad;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        goto bad;
    *cp = v;
    return len;
bad:
    *valid = false;
    *cp = c;
    return 1;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if s[0..n) does not start with one. */
static inline size_t uni_utf8_valid_len(const uint8_t *s, size_t n)
{
    uint32_t cp;
    bool ok;
    size_t l = uni_utf8_decode(s, n, &cp, &ok);
    return ok ? l : 0;
}

/* Encode cp (<= U+10FFFF) into out (4 bytes room); returns the length. */
size_t uni_utf8_encode(uint32_t cp, char *out);

/* Simple lowercase mapping of one code point (itself when unchanged). U+0130 maps to 'i' here;
 * uni_lower_full adds its U+0307. */
uint32_t uni_lower1(uint32_t cp);

/* Canonical decomposition (full, recursive, Hangul included) of cp into out (room for 4);
 * returns the count (1 when cp does not decompose). */
size_t uni_nfd1(uint32_t cp, uint32_t out[4]);

/* Canonical combining class. */
unsigned uni_ccc(uint32_t cp);

/* Full lowercasing of a code point sequence as Python's str.lower(): SpecialCasing U+0130 ->
 * "i\u0307" and the Final_Sigma rule for U+03A3. in[n] -> out (room for 2n); returns count. */
size_t uni_lower_full(const uint32_t *in, size_t n, uint32_t *out);

/* NFD of a code point sequence: decompose, then canonical ordering of combining marks.
 * out needs room for 4n; returns the count. */
size_t uni_nfd(const uint32_t *in, size_t n, uint32_t *out);

/* Python str.strip(): the span of s[0..n) without leading/trailing str.isspace() characters. */
void uni_py_strip(const char *s, size_t n, size_t *start, size_t *len);
#endif
