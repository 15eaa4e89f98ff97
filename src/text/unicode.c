/* unicode.c - lowercasing, canonical decomposition and Python-style stripping over the generated
 * tables of unicode_tables.c. Lowercasing follows Python's str.lower() (full mappings plus the
 * Final_Sigma rule), which is what the BERT tokenizer applies before stripping accents. */
#include "text/unicode.h"

size_t uni_utf8_encode(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

uint32_t uni_lower1(uint32_t cp)
{
    if (cp < 0x80)
        return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
    if (cp == 0x130)
        return 'i';
    size_t lo = 0, hi = uni_lower_n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (uni_lower[mid][0] < cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < uni_lower_n && uni_lower[lo][0] == cp ? uni_lower[lo][1] : cp;
}

/* Hangul syllable constants (Unicode ch. 3.12). */
enum { H_SBASE = 0xAC00, H_LBASE = 0x1100, H_VBASE = 0x1161, H_TBASE = 0x11A7, H_VCOUNT = 21, H_TCOUNT = 28,
       H_NCOUNT = H_VCOUNT * H_TCOUNT, H_SCOUNT = 19 * H_NCOUNT };

size_t uni_nfd1(uint32_t cp, uint32_t out[4])
{
    if (cp < 0xC0) {
        out[0] = cp;
        return 1;
    }
    if (cp >= H_SBASE && cp < H_SBASE + H_SCOUNT) {
        uint32_t s = cp - H_SBASE;
        out[0] = H_LBASE + s / H_NCOUNT;
        out[1] = H_VBASE + (s % H_NCOUNT) / H_TCOUNT;
        if (s % H_TCOUNT) {
            out[2] = H_TBASE + s % H_TCOUNT;
            return 3;
        }
        return 2;
    }
    size_t lo = 0, hi = uni_decomp_n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (uni_decomp[mid][0] < cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < uni_decomp_n && uni_decomp[lo][0] == cp) {
        uint32_t off = uni_decomp[lo][1] >> 3, n = uni_decomp[lo][1] & 7;
        for (uint32_t i = 0; i < n; i++)
            out[i] = uni_decomp_seq[off + i];
        return n;
    }
    out[0] = cp;
    return 1;
}

unsigned uni_ccc(uint32_t cp)
{
    if (cp < 0x300)
        return 0;
    size_t lo = 0, hi = uni_ccc_n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (uni_ccc_tab[mid][1] < cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < uni_ccc_n && uni_ccc_tab[lo][0] <= cp ? uni_ccc_tab[lo][2] : 0;
}

/* Final_Sigma (Unicode 3.13, as CPython's handle_capital_sigma): preceded by a cased letter and
 * not followed by one, skipping case-ignorable characters on both sides. */
static bool final_sigma(const uint32_t *in, size_t n, size_t i)
{
    size_t j = i;
    unsigned p = 0;
    while (j > 0) {
        p = uni_props(in[j - 1]);
        if (!(p & UNI_CI))
            break;
        j--;
    }
    if (j == 0 || !(p & UNI_CASED))
        return false;
    for (j = i + 1; j < n; j++) {
        p = uni_props(in[j]);
        if (!(p & UNI_CI))
            return !(p & UNI_CASED);
    }
    return true;
}

size_t uni_lower_full(const uint32_t *in, size_t n, uint32_t *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = in[i];
        if (c == 0x130) {
            out[k++] = 'i';
            out[k++] = 0x307;
        } else if (c == 0x3A3) {
            out[k++] = final_sigma(in, n, i) ? 0x3C2 : 0x3C3;
        } else {
            out[k++] = uni_lower1(c);
        }
    }
    return k;
}

size_t uni_nfd(const uint32_t *in, size_t n, uint32_t *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += uni_nfd1(in[i], out + k);
    /* Canonical ordering: stable sort of each run of non-starters by combining class. Runs are
     * short, so insertion sort. */
    for (size_t i = 1; i < k; i++) {
        unsigned ci = uni_ccc(out[i]);
        if (ci == 0)
            continue;
        size_t j = i;
        uint32_t c = out[i];
        while (j > 0) {
            unsigned cj = uni_ccc(out[j - 1]);
            if (cj <= ci)
                break;
            out[j] = out[j - 1];
            j--;
        }
        out[j] = c;
    }
    return k;
}

void uni_py_strip(const char *s, size_t n, size_t *start, size_t *len)
{
    const uint8_t *u = (const uint8_t *)s;
    size_t a = 0, b = n;
    while (a < b) {
        uint32_t cp;
        bool ok;
        size_t l = uni_utf8_decode(u + a, b - a, &cp, &ok);
        if (!ok || !(uni_props(cp) & UNI_PYSPACE))
            break;
        a += l;
    }
    while (b > a) {
        /* step back to the start of the last character */
        size_t p = b - 1;
        while (p > a && b - p < 4 && (u[p] & 0xC0) == 0x80)
            p--;
        uint32_t cp;
        bool ok;
        size_t l = uni_utf8_decode(u + p, b - p, &cp, &ok);
        if (!ok || l != b - p || !(uni_props(cp) & UNI_PYSPACE))
            break;
        b = p;
    }
    *start = a;
    *len = b - a;
}
