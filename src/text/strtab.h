/* strtab.h - the token string tables of the tokenizers: every piece stored once in a blob, and an
 * open-addressing hash from bytes to token id (a 32-bit tag in each slot avoids most string
 * compares). Also a hash from 64-bit keys to 32-bit values (trie edges, merge pairs). */
#ifndef MEDGE_TEXT_STRTAB_H
#define MEDGE_TEXT_STRTAB_H
#include "core/error.h"
#include <string.h>

typedef struct strtab {
    char *blob;        /* all strings, each NUL-terminated */
    uint32_t *off;     /* off[i] = offset of string i in blob; off[n] = end (length = off[i+1]-off[i]-1) */
    uint32_t n;        /* number of strings (ids 0..n-1) */
    struct strtab_slot { uint32_t tag, id; } *slots; /* id == UINT32_MAX: empty */
    uint64_t mask;
    void *block;       /* one allocation holding slots, off and blob */
    size_t block_size;
} strtab;

static inline uint64_t strtab_hash(const void *p, size_t n)
{
    const uint8_t *s = (const uint8_t *)p;
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xC2B2AE3D27D4EB4Full);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
        h ^= h >> 31;
        s += 8;
        n -= 8;
    }
    if (n) {
        uint64_t w = 0;
        memcpy(&w, s, n);
        h = (h ^ w) * 0x94D049BB133111EBull;
        h ^= h >> 29;
    }
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 32;
    return h;
}

/* Build from n strings (lens may be NULL: NUL-terminated). With duplicates the later id wins
 * when keep_last, else the first. */
medge_status strtab_build(strtab *t, const char *const *strs, const size_t *lens, size_t n, bool keep_last);
/* Build with an extra step: strs are given through a callback (for GGUF string arrays). */
typedef void (*strtab_get_fn)(void *user, size_t i, const char **s, size_t *len);
medge_status strtab_build_cb(strtab *t, strtab_get_fn get, void *user, size_t n, bool keep_last);
void strtab_free(strtab *t);

static inline const char *strtab_str(const strtab *t, uint32_t id) { return t->blob + t->off[id]; }
static inline uint32_t strtab_len(const strtab *t, uint32_t id) { return t->off[id + 1] - t->off[id] - 1; }

/* Id of s[0..n), or -1. */
static inline int32_t strtab_find(const strtab *t, const void *s, size_t n)
{
    uint64_t h = strtab_hash(s, n);
    uint32_t tag = (uint32_t)(h >> 32);
    for (uint64_t i = h & t->mask;; i = (i + 1) & t->mask) {
        const struct strtab_slot *sl = &t->slots[i];
        if (sl->id == UINT32_MAX)
            return -1;
        if (sl->tag == tag && strtab_len(t, sl->id) == n && memcmp(t->blob + t->off[sl->id], s, n) == 0)
            return (int32_t)sl->id;
    }
}

/* u64 -> u32 map (open addressing, fixed capacity chosen at init; key UINT64_MAX reserved). */
typedef struct u64map {
    uint64_t *keys;
    uint32_t *vals;
    uint64_t mask;
    uint64_t n;
} u64map;

medge_status u64map_init(u64map *m, uint64_t expected);
/* Insert or overwrite. Fails (MEDGE_ERR_NOMEM) only when growing fails. */
medge_status u64map_put(u64map *m, uint64_t key, uint32_t val);
static inline uint64_t u64map_slot(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xFF51AFD7ED558CCDull;
    k ^= k >> 33;
    return k;
}
static inline bool u64map_get(const u64map *m, uint64_t key, uint32_t *val)
{
    if (!m->keys)
        return false;
    for (uint64_t i = u64map_slot(key) & m->mask;; i = (i + 1) & m->mask) {
        if (m->keys[i] == key) {
            *val = m->vals[i];
            return true;
        }
        if (m->keys[i] == UINT64_MAX)
            return false;
    }
}
void u64map_free(u64map *m);
#endif
