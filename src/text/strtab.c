/* strtab.c - building the token string tables and the u64 -> u32 maps of strtab.h. */
#include "text/strtab.h"
#include "core/file.h"
#include <stdlib.h>

struct arr_src {
    const char *const *strs;
    const size_t *lens;
};

static void arr_get(void *user, size_t i, const char **s, size_t *len)
{
    const struct arr_src *a = (const struct arr_src *)user;
    *s = a->strs[i];
    *len = a->lens ? a->lens[i] : strlen(a->strs[i]);
}

medge_status strtab_build(strtab *t, const char *const *strs, const size_t *lens, size_t n, bool keep_last)
{
    struct arr_src a = {strs, lens};
    return strtab_build_cb(t, arr_get, &a, n, keep_last);
}

medge_status strtab_build_cb(strtab *t, strtab_get_fn get, void *user, size_t n, bool keep_last)
{
    memset(t, 0, sizeof *t);
    if (n >= UINT32_MAX / 4)
        return medge_err(MEDGE_ERR_RANGE, "vocabulary of %zu strings is too large", n);
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        const char *s;
        size_t l;
        get(user, i, &s, &l);
        total += (uint64_t)l + 1;
        if (total >= UINT32_MAX)
            return medge_err(MEDGE_ERR_RANGE, "vocabulary strings exceed 4 GB");
    }
    /* load factor <= 2/3 */
    uint64_t cap = 16;
    while (cap * 2 < (uint64_t)n * 3)
        cap <<= 1;
    int bits = 0;
    while ((1ull << bits) < cap)
        bits++;
    size_t slots_sz = (size_t)cap * sizeof *t->slots, off_sz = (n + 1) * sizeof *t->off;
    t->block_size = slots_sz + off_sz + (size_t)total + 1;
    t->block = medge_alloc_huge(t->block_size, true);
    /* scratch: the hash of every string, then (hash, id) pairs sorted by slot */
    struct hid { uint64_t h; uint32_t id, pad; };
    size_t tmp_size = (n ? n : 1) * (sizeof(uint64_t) + sizeof(struct hid));
    void *tmp = medge_alloc_huge(tmp_size, true);
    enum { NB = 4096 };
    uint32_t *bucket = calloc(NB + 1, sizeof *bucket);
    if (!t->block || !tmp || !bucket) {
        medge_free_huge(tmp, tmp_size);
        free(bucket);
        strtab_free(t);
        return medge_err(MEDGE_ERR_NOMEM, "out of memory for a vocabulary of %zu strings", n);
    }
    uint64_t *hash = (uint64_t *)tmp;
    struct hid *sorted = (struct hid *)(hash + (n ? n : 1));
    t->slots = (struct strtab_slot *)t->block;
    t->off = (uint32_t *)((char *)t->block + slots_sz);
    t->blob = (char *)t->block + slots_sz + off_sz;
    memset(t->slots, 0xFF, slots_sz);
    t->mask = cap - 1;
    t->n = (uint32_t)n;
    /* Copy and hash the strings (sequential), bucket-sort (hash, id) by slot, then fill the
     * table front to back: no random access to a table that does not fit in cache. */
    int shift = bits > 12 ? bits - 12 : 0;
    uint32_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        const char *s;
        size_t l;
        get(user, i, &s, &l);
        char *d = t->blob + pos;
        for (size_t k = 0; k < l; k++) /* short strings: cheaper than a call */
            d[k] = s[k];
        d[l] = 0;
        t->off[i] = pos;
        pos += (uint32_t)l + 1;
        hash[i] = strtab_hash(s, l);
        bucket[((hash[i] & t->mask) >> shift) + 1]++;
    }
    t->off[n] = pos;
    for (int b = 0; b < NB; b++)
        bucket[b + 1] += bucket[b];
    for (size_t i = 0; i < n; i++) {
        struct hid *e = &sorted[bucket[(hash[i] & t->mask) >> shift]++];
        e->h = hash[i];
        e->id = (uint32_t)i;
    }
    for (size_t j = 0; j < n; j++) {
        uint64_t h = sorted[j].h;
        uint32_t i = sorted[j].id, tag = (uint32_t)(h >> 32);
        for (uint64_t k = h & t->mask;; k = (k + 1) & t->mask) {
            struct strtab_slot *sl = &t->slots[k];
            if (sl->id == UINT32_MAX) {
                sl->tag = tag;
                sl->id = i;
                break;
            }
            if (sl->tag == tag && strtab_len(t, sl->id) == strtab_len(t, i) &&
                memcmp(t->blob + t->off[sl->id], t->blob + t->off[i], strtab_len(t, i)) == 0) {
                if (keep_last ? i > sl->id : i < sl->id)
                    sl->id = i;
                break;
            }
        }
    }
    medge_free_huge(tmp, tmp_size);
    free(bucket);
    return MEDGE_OK;
}

void strtab_free(strtab *t)
{
    if (!t)
        return;
    medge_free_huge(t->block, t->block_size);
    memset(t, 0, sizeof *t);
}

static medge_status u64map_alloc(u64map *m, uint64_t cap)
{
    m->keys = malloc(cap * sizeof *m->keys);
    m->vals = malloc(cap * sizeof *m->vals);
    if (!m->keys || !m->vals) {
        free(m->keys);
        free(m->vals);
        m->keys = NULL;
        m->vals = NULL;
        return medge_err(MEDGE_ERR_NOMEM, "out of memory for a hash table of %llu entries", (unsigned long long)cap);
    }
    memset(m->keys, 0xFF, cap * sizeof *m->keys);
    m->mask = cap - 1;
    m->n = 0;
    return MEDGE_OK;
}

medge_status u64map_init(u64map *m, uint64_t expected)
{
    memset(m, 0, sizeof *m);
    uint64_t cap = 16;
    while (cap < expected * 2)
        cap <<= 1;
    return u64map_alloc(m, cap);
}

medge_status u64map_put(u64map *m, uint64_t key, uint32_t val)
{
    if (!m->keys)
        MEDGE_TRY(u64map_alloc(m, 16));
    if ((m->n + 1) * 2 > m->mask + 1) {
        u64map old = *m;
        MEDGE_TRY(u64map_alloc(m, (old.mask + 1) * 2));
        for (uint64_t i = 0; i <= old.mask; i++)
            if (old.keys[i] != UINT64_MAX)
                (void)u64map_put(m, old.keys[i], old.vals[i]);
        free(old.keys);
        free(old.vals);
    }
    for (uint64_t i = u64map_slot(key) & m->mask;; i = (i + 1) & m->mask) {
        if (m->keys[i] == UINT64_MAX) {
            m->keys[i] = key;
            m->vals[i] = val;
            m->n++;
            return MEDGE_OK;
        }
        if (m->keys[i] == key) {
            m->vals[i] = val;
            return MEDGE_OK;
        }
    }
}

void u64map_free(u64map *m)
{
    if (!m)
        return;
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}
