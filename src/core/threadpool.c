/* threadpool.c - workers wait on a generation counter: they spin briefly (ops follow each other
 * within microseconds during decoding) and then sleep on a condition variable.
 *
 * A run is posted by bumping the generation. Each worker claims its part of a run by moving its
 * `ack` word from the previous generation to the current one; when the caller has finished its
 * own part it tries the same move for every worker that has not claimed yet and runs that part
 * itself. So every part runs exactly once, and a worker that is descheduled (a busy phone, a
 * shared machine) delays the run only if it had already started; the caller waits just for the
 * workers that claimed. With work split dynamically (the matmuls claim rows or panels through a
 * medge_workq) a part started late finds little or nothing left to do. Workers are woken through the
 * condition variable only when one of them actually sleeps. */
#include "core/threadpool.h"
#include "core/cpu.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

/* One cache line per worker, so the caller's polls do not bounce the others' lines. */
typedef struct worker_slot {
    _Alignas(64) atomic_uint ack; /* last generation claimed, by the worker or (taking over) the caller */
    atomic_uint done;             /* last generation the worker finished */
} worker_slot;

struct medge_pool {
    int n;
    pthread_t *threads;
    worker_slot *slots; /* [n], slot 0 unused */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_uint gen;   /* bumped for each run */
    atomic_int sleepers;
    atomic_int quit;
    medge_pool_fn fn;
    void *ctx;
};

struct worker_arg {
    medge_pool *p;
    int ith;
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static void *worker(void *arg)
{
    struct worker_arg wa = *(struct worker_arg *)arg;
    free(arg);
    medge_pool *p = wa.p;
    worker_slot *me = &p->slots[wa.ith];
    unsigned seen = 0;
    for (;;) {
        unsigned g;
        int spins = 0;
        while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen && !atomic_load(&p->quit)) {
            if (++spins < 20000) {
                cpu_relax();
                continue;
            }
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleepers, 1);
            while (atomic_load(&p->gen) == seen && !atomic_load(&p->quit))
                pthread_cond_wait(&p->cv, &p->mu);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->mu);
            spins = 0;
        }
        if (atomic_load(&p->quit))
            return NULL;
        seen = g;
        unsigned expect = g - 1;
        /* fails when the caller took this part over (or a newer run is posted: the next loop
         * iteration sees it) */
        if (!atomic_compare_exchange_strong_explicit(&me->ack, &expect, g, memory_order_acq_rel, memory_order_acquire))
            continue;
        p->fn(p->ctx, wa.ith, p->n);
        atomic_store_explicit(&me->done, g, memory_order_release);
    }
}

medge_status medge_pool_create(int n_threads, medge_pool **out)
{
    *out = NULL;
    if (n_threads <= 0)
        n_threads = medge_cpu_get()->n_cores;
    if (n_threads > 256)
        return medge_err(MEDGE_ERR_INVALID_ARG, "too many threads: %d", n_threads);
    medge_pool *p = calloc(1, sizeof *p);
    if (!p)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    p->n = n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->threads = calloc((size_t)n_threads, sizeof *p->threads);
    p->slots = aligned_alloc(64, sizeof(worker_slot) * (size_t)n_threads);
    if (!p->threads || !p->slots) {
        p->n = 1;
        medge_pool_free(p);
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < n_threads; i++) {
        atomic_init(&p->slots[i].ack, 0);
        atomic_init(&p->slots[i].done, 0);
    }
    for (int i = 1; i < n_threads; i++) {
        struct worker_arg *wa = malloc(sizeof *wa);
        if (wa) {
            wa->p = p;
            wa->ith = i;
        }
        if (!wa || pthread_create(&p->threads[i], NULL, worker, wa) != 0) {
            free(wa);
            p->n = i;
            medge_pool_free(p);
            return medge_err(MEDGE_ERR_NOMEM, "cannot start worker thread %d", i);
        }
    }
    *out = p;
    return MEDGE_OK;
}

void medge_pool_free(medge_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->quit, 1);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n; i++)
        if (p->threads && p->threads[i])
            pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->threads);
    free(p->slots);
    free(p);
}

int medge_pool_size(const medge_pool *p) { return p ? p->n : 1; }

void medge_pool_run(medge_pool *p, medge_pool_fn fn, void *ctx)
{
    if (!p || p->n == 1) {
        fn(ctx, 0, 1);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    /* seq_cst store then load, against the workers' sleepers increment then gen load: either
     * the worker sees the new generation or we see it asleep and wake it */
    const unsigned g = atomic_fetch_add(&p->gen, 1) + 1;
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    fn(ctx, 0, p->n);
    for (int i = 1; i < p->n; i++) {
        worker_slot *w = &p->slots[i];
        unsigned expect = g - 1;
        if (atomic_compare_exchange_strong_explicit(&w->ack, &expect, g, memory_order_acq_rel, memory_order_acquire)) {
            fn(ctx, i, p->n); /* the worker never started: run its part here */
            continue;
        }
        while (atomic_load_explicit(&w->done, memory_order_acquire) != g)
            cpu_relax();
    }
}

void medge_workq_init(medge_workq *q, long n, long min_run, long max_run, int nth)
{
    q->min_run = min_run > 0 ? min_run : 1;
    q->max_run = max_run > q->min_run ? max_run : q->min_run;
    q->parts = nth < 1 ? 1 : nth < MEDGE_WORKQ_PARTS ? nth : MEDGE_WORKQ_PARTS;
    for (int i = 0; i < q->parts; i++) {
        long b, e;
        medge_split(n, i, q->parts, &b, &e);
        atomic_init(&q->r[i].fb, (uint64_t)b | (uint64_t)e << 32);
    }
}

bool medge_workq_next(medge_workq *q, int ith, long *begin, long *end)
{
    _Atomic uint64_t *own = &q->r[ith % q->parts].fb;
    uint64_t v = atomic_load_explicit(own, memory_order_relaxed);
    for (;;) { /* the front of the own range */
        const uint64_t f = v & 0xffffffffu, e = v >> 32;
        if (f >= e)
            break;
        uint64_t take = (e - f) / MEDGE_WORKQ_GUIDE;
        take = take < (uint64_t)q->min_run ? (uint64_t)q->min_run : take > (uint64_t)q->max_run ? (uint64_t)q->max_run : take;
        const uint64_t nf = e - f > take ? f + take : e;
        if (atomic_compare_exchange_weak_explicit(own, &v, nf | e << 32, memory_order_relaxed, memory_order_relaxed)) {
            *begin = (long)f;
            *end = (long)nf;
            return true;
        }
    }
    for (;;) { /* the back of the fullest other range */
        int best = -1;
        uint64_t left = 0, bv = 0;
        for (int i = 0; i < q->parts; i++) {
            const uint64_t w = atomic_load_explicit(&q->r[i].fb, memory_order_relaxed);
            const uint64_t f = w & 0xffffffffu, e = w >> 32;
            if (f < e && e - f > left) {
                best = i;
                left = e - f;
                bv = w;
            }
        }
        if (best < 0)
            return false;
        const uint64_t f = bv & 0xffffffffu, e = bv >> 32;
        const uint64_t nb = e - f > (uint64_t)q->min_run ? e - (uint64_t)q->min_run : f;
        if (atomic_compare_exchange_weak_explicit(&q->r[best].fb, &bv, f | nb << 32, memory_order_relaxed,
                                                  memory_order_relaxed)) {
            *begin = (long)nb;
            *end = (long)e;
            return true;
        }
    }
}
