/* sampling.c - next-token choice from logits: repetition / presence / frequency penalties over
 * the recent history, then greedy arg-max, or top-k -> top-p -> min-p -> temperature -> a draw
 * from a seeded generator (splitmix64), in llama.cpp's default order. */
#include "runtime/session.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t sampler_seed_from_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t s = (uint64_t)ts.tv_sec * 1000000007ull ^ (uint64_t)ts.tv_nsec;
    return splitmix64(&s);
}

static int cmp_cand(const void *a, const void *b)
{
    const struct sampler_cand *x = a, *y = b;
    if (x->logit != y->logit)
        return x->logit > y->logit ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Move the k largest candidates to the front, sorted (quickselect, then sort those k). */
static void top_k_sort(struct sampler_cand *c, int n, int k)
{
    if (k >= n) {
        qsort(c, (size_t)n, sizeof *c, cmp_cand);
        return;
    }
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        struct sampler_cand pivot = c[(lo + hi) / 2];
        int i = lo, j = hi;
        while (i <= j) {
            while (cmp_cand(&c[i], &pivot) < 0)
                i++;
            while (cmp_cand(&c[j], &pivot) > 0)
                j--;
            if (i <= j) {
                struct sampler_cand t = c[i];
                c[i] = c[j];
                c[j] = t;
                i++;
                j--;
            }
        }
        if (k - 1 <= j)
            hi = j;
        else if (k - 1 >= i)
            lo = i;
        else
            break;
    }
    qsort(c, (size_t)k, sizeof *c, cmp_cand);
}

static void penalize(const sampler_state *st, struct sampler_cand *c, const int32_t *hist, int n_hist, int n_vocab)
{
    const medge_sampler_params *p = &st->p;
    if (p->repeat_last_n == 0 ||
        (p->repeat_penalty == 1.0f && p->presence_penalty == 0.0f && p->frequency_penalty == 0.0f))
        return;
    int from = n_hist - p->repeat_last_n > 0 ? n_hist - p->repeat_last_n : 0;
    /* Count occurrences with the p field as scratch (reset afterwards). */
    for (int i = from; i < n_hist; i++)
        if (hist[i] >= 0 && hist[i] < n_vocab)
            c[hist[i]].p += 1.0f;
    for (int i = from; i < n_hist; i++) {
        int id = hist[i];
        if (id < 0 || id >= n_vocab || c[id].p == 0.0f)
            continue;
        float cnt = c[id].p;
        c[id].p = 0.0f;
        float *l = &c[id].logit;
        *l = *l > 0 ? *l / p->repeat_penalty : *l * p->repeat_penalty;
        *l -= cnt * p->frequency_penalty + p->presence_penalty;
    }
}

medge_status sampler_sample(sampler_state *st, const float *logits, int n_vocab, const int32_t *hist, int n_hist,
                            struct sampler_cand *c, int32_t *out)
{
    const medge_sampler_params *p = &st->p;
    for (int i = 0; i < n_vocab; i++) {
        c[i].id = i;
        c[i].logit = logits[i];
        c[i].p = 0.0f;
    }
    penalize(st, c, hist, n_hist, n_vocab);
    for (int i = 0; i < n_vocab; i++)
        if (isnan(c[i].logit))
            return medge_err(MEDGE_ERR_INTERNAL, "logit %d is NaN", i);
    if (p->temperature <= 0.0f) {
        int best = 0;
        for (int i = 1; i < n_vocab; i++)
            if (c[i].logit > c[best].logit)
                best = i;
        *out = c[best].id;
        return MEDGE_OK;
    }
    int n = n_vocab;
    int k = p->top_k > 0 && p->top_k < n ? p->top_k : n;
    top_k_sort(c, n, k);
    n = k;
    /* probabilities of the survivors (before temperature, as llama.cpp's top-p / min-p) */
    double sum = 0;
    for (int i = 0; i < n; i++) {
        c[i].p = expf(c[i].logit - c[0].logit);
        sum += c[i].p;
    }
    if (p->top_p < 1.0f) {
        double acc = 0;
        for (int i = 0; i < n; i++) {
            acc += c[i].p / sum;
            if (acc >= p->top_p) {
                n = i + 1;
                break;
            }
        }
    }
    if (p->min_p > 0.0f) {
        int keep = 1;
        while (keep < n && c[keep].p >= p->min_p * c[0].p) /* c[0].p == 1 */
            keep++;
        n = keep;
    }
    sum = 0;
    for (int i = 0; i < n; i++) {
        c[i].p = expf((c[i].logit - c[0].logit) / p->temperature);
        sum += c[i].p;
    }
    double r = (double)(splitmix64(&st->rng) >> 11) * (1.0 / 9007199254740992.0) * sum;
    double acc = 0;
    for (int i = 0; i < n; i++) {
        acc += c[i].p;
        if (r < acc) {
            *out = c[i].id;
            return MEDGE_OK;
        }
    }
    *out = c[n - 1].id;
    return MEDGE_OK;
}
