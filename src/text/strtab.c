/* strtab.c - building the token string tables and the u64 -> u32 maps of strtab.h. */
#include "text/strtab.h"
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
    if (n >= UINT32_MAX / 2)
        return medge_err(MEDGE_ERR_RANGE, "vocabulary of %zu strings is too large", n);
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        const char *s;
        size_t l;
        get(user, i, &s, &l);
        if (l >= UINT32_MAX)
            return medge_err(MEDGE_ERR_RANGE, "token %zu is too long", i);
        total += l + 1;
    }
    uint64_t cap = 16;
    while (cap < (uint64_t)n * 2 + 16)
        cap <<= 1;
    t->blob = malloc(total ? total : 1);
    t->off = malloc((n ? n : 1) * sizeof *t->off);
    t->len = malloc((n ? n : 1) * sizeof *t->len);
    t->slots = malloc(cap * sizeof *t->slots);
    if (!t->blob || !t->off || !t->len || !t->slots) {
        strtab_free(t);
        return medge_err(MEDGE_ERR_NOMEM, "out of memory for a vocabulary of %zu strings", n);
    }
    memset(t->slots, 0xFF, cap * sizeof *t->slots);
    t->mask = cap - 1;
    t->n = (uint32_t)n;
    uint64_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        const char *s;
        size_t l;
        get(user, i, &s, &l);
        if (l)
            memcpy(t->blob + pos, s, l);
        t->blob[pos + l] = 0;
        t->off[i] = pos;
        t->len[i] = (uint32_t)l;
        pos += l + 1;
        uint64_t h = strtab_hash(s, l);
        uint32_t tag = (uint32_t)(h >> 32);
        for (uint64_t k = h & t->mask;; k = (k + 1) & t->mask) {
            struct strtab_slot *sl = &t->slots[k];
            if (sl->id == UINT32_MAX) {
                sl->tag = tag;
                sl->id = (uint32_t)i;
                break;
            }
            if (sl->tag == tag && t->len[sl->id] == l && memcmp(t->blob + t->off[sl->id], s, l) == 0) {
                if (keep_last)
                    sl->id = (uint32_t)i;
                break;
            }
        }
    }
    return MEDGE_OK;
}

void strtab_free(strtab *t)
{
    if (!t)
        return;
    free(t->blob);
    free(t->off);
    free(t->len);
    free(t->slots);
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
