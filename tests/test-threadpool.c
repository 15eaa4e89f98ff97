/* test-threadpool.c - the pool's contract under stress: every part ith < nth of every run executes
 * exactly once and is finished when medge_pool_run returns, whether a worker claims its part or
 * the caller takes it over (forced here by parts of very different lengths and by workers that
 * fall asleep between runs); pools of 1-4 threads, NULL pool, create/free cycles; medge_workq
 * claims. */
#include "test.h"
#include "core/threadpool.h"

#include <stdatomic.h>
#include <time.h>

enum { MAX_T = 4 };

typedef struct job {
    atomic_int count[MAX_T]; /* runs of each part */
    atomic_int wrong_nth;
    int nth;
    int spin[MAX_T]; /* busy work per part */
} job;

static volatile unsigned g_sink;

static void part_fn(void *ctx, int ith, int nth)
{
    job *j = ctx;
    if (nth != j->nth || ith < 0 || ith >= MAX_T) {
        atomic_fetch_add(&j->wrong_nth, 1);
        return;
    }
    unsigned x = (unsigned)ith;
    for (int i = 0; i < j->spin[ith]; i++)
        x = x * 1664525u + 1013904223u;
    g_sink = x;
    atomic_fetch_add(&j->count[ith], 1);
}

static void sleep_us(long us)
{
    struct timespec ts = {0, us * 1000};
    nanosleep(&ts, NULL);
}

static void stress(int n_threads, int runs)
{
    medge_pool *p = NULL;
    CHECK_OK(medge_pool_create(n_threads, &p));
    if (!p)
        return;
    CHECK_EQ_INT(medge_pool_size(p), n_threads);
    int bad = 0;
    unsigned rng = 12345;
    for (int r = 0; r < runs; r++) {
        job j;
        memset(&j, 0, sizeof j);
        j.nth = n_threads;
        for (int i = 0; i < MAX_T; i++) {
            rng = rng * 1103515245u + 12345u;
            /* sometimes the caller's part is long (workers claim), sometimes empty (it takes over) */
            j.spin[i] = (int)((rng >> 16) % 4 == 0 ? (rng >> 8) % 20000 : (rng >> 8) % 50);
        }
        medge_pool_run(p, part_fn, &j);
        for (int i = 0; i < MAX_T; i++)
            bad += atomic_load(&j.count[i]) != (i < n_threads ? 1 : 0);
        bad += atomic_load(&j.wrong_nth);
        if (r % 97 == 0)
            sleep_us(2000); /* let the workers reach their sleeping path */
    }
    CHECK_MSG(bad == 0, "%d threads: %d parts ran other than once", n_threads, bad);
    medge_pool_free(p);
}

/* medge_workq: every unit claimed exactly once, never more than max_run at a time (a GEMM's
 * scratch holds max_run panels), for pools smaller and larger than the number of ranges */
typedef struct wq_ctx {
    medge_workq q;
    long n;
    atomic_int *hits;
    atomic_int bad;
} wq_ctx;

static void wq_fn(void *ctx, int ith, int nth)
{
    wq_ctx *c = ctx;
    long b, e;
    (void)nth;
    while (medge_workq_next(&c->q, ith, &b, &e)) {
        if (b < 0 || e > c->n || b >= e || e - b > c->q.max_run)
            atomic_fetch_add(&c->bad, 1);
        for (long u = b; u < e && u < c->n && u >= 0; u++)
            atomic_fetch_add(&c->hits[u], 1);
    }
}

static void test_workq(void)
{
    static const int threads[] = {1, 2, 3, 20};
    static const long sizes[] = {0, 1, 7, 1000, 4099};
    static atomic_int hits[4099];
    for (int ti = 0; ti < 4; ti++) {
        medge_pool *p;
        CHECK_OK(medge_pool_create(threads[ti], &p));
        for (int si = 0; si < 5; si++) {
            for (int guided = 0; guided < 2; guided++) {
                for (long run = 1; run <= 64; run *= 4) {
                    static wq_ctx c;
                    c.n = sizes[si];
                    c.hits = hits;
                    atomic_store(&c.bad, 0);
                    for (long u = 0; u < c.n; u++)
                        atomic_store(&hits[u], 0);
                    medge_workq_init(&c.q, c.n, run, guided ? 2 * run + 3 : run, threads[ti]);
                    medge_pool_run(p, wq_fn, &c);
                    int wrong = atomic_load(&c.bad);
                    for (long u = 0; u < c.n; u++)
                        wrong += atomic_load(&hits[u]) != 1;
                    CHECK_EQ_INT(wrong, 0);
                }
            }
        }
        medge_pool_free(p);
    }
    /* one thread alone claims its own range in order, then the others' from their backs */
    static wq_ctx c;
    medge_workq_init(&c.q, 100, 10, 10, 2);
    long b, e;
    for (int i = 0; i < 5; i++)
        CHECK(medge_workq_next(&c.q, 0, &b, &e) && b == 10 * i && e == b + 10);
    CHECK(medge_workq_next(&c.q, 0, &b, &e) && b == 90 && e == 100);
    CHECK(medge_workq_next(&c.q, 1, &b, &e) && b == 50 && e == 60);
    CHECK(medge_workq_next(&c.q, 0, &b, &e) && b == 80 && e == 90);
    /* guided: 1/8 of what is left of the own range per claim, min_run from another's back */
    medge_workq_init(&c.q, 1000, 1, 1000, 2);
    CHECK(medge_workq_next(&c.q, 0, &b, &e) && b == 0 && e == 62);   /* 500 / 8 */
    CHECK(medge_workq_next(&c.q, 0, &b, &e) && b == 62 && e == 116); /* 438 / 8 */
    CHECK(medge_workq_next(&c.q, 1, &b, &e) && b == 500 && e == 562);
    long at = 116; /* the rest of part 0's range in order, in far fewer claims than units */
    int claims = 0;
    while (at < 500 && medge_workq_next(&c.q, 0, &b, &e) && b == at && e > b && e <= 500) {
        at = e;
        claims++;
    }
    CHECK(at == 500 && claims < 60);
    CHECK(medge_workq_next(&c.q, 0, &b, &e) && b == 999 && e == 1000); /* then part 1's back */
}

int main(void)
{
    const int runs = getenv("MEDGE_SANITIZED") ? 2000 : 20000;
    for (int t = 1; t <= MAX_T; t++)
        stress(t, runs);
    /* NULL pool: part 0 of 1 inline */
    job j;
    memset(&j, 0, sizeof j);
    j.nth = 1;
    medge_pool_run(NULL, part_fn, &j);
    CHECK_EQ_INT(atomic_load(&j.count[0]), 1);
    for (int i = 0; i < 20; i++) { /* create/free with workers in any state */
        medge_pool *p = NULL;
        CHECK_OK(medge_pool_create(1 + i % 4, &p));
        if (i % 2 && p) {
            memset(&j, 0, sizeof j);
            j.nth = 1 + i % 4;
            medge_pool_run(p, part_fn, &j);
        }
        medge_pool_free(p);
    }
    test_workq();
    TEST_END();
}
