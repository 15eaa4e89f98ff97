/* threadpool.h - a persistent pool of worker threads owned by a session. medge_pool_run runs
 * fn(ctx, ith, nth) once for every ith < nth and returns when all are done: the return is the
 * barrier between ops. The caller runs part 0, each worker part ith, except that the caller takes
 * over the part of a worker that has not started by the time part 0 is done (so fn must not
 * assume that parts run concurrently, nor on a particular thread). Work is split by the callee
 * (usually by rows). */
#ifndef MEDGE_CORE_THREADPOOL_H
#define MEDGE_CORE_THREADPOOL_H
#include "core/error.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct medge_pool medge_pool;
typedef void (*medge_pool_fn)(void *ctx, int ith, int nth);

/* n_threads <= 0: one per online core. */
medge_status medge_pool_create(int n_threads, medge_pool **out);
void medge_pool_free(medge_pool *p);
int medge_pool_size(const medge_pool *p);
/* Run fn on all threads; p may be NULL (runs fn(ctx, 0, 1) inline). Not re-entrant. */
void medge_pool_run(medge_pool *p, medge_pool_fn fn, void *ctx);
/* Split [0, n) into nth contiguous parts: [*begin, *end) for thread ith. */
static inline void medge_split(long n, int ith, int nth, long *begin, long *end)
{
    long per = (n + nth - 1) / nth;
    *begin = per * ith < n ? per * ith : n;
    *end = *begin + per < n ? *begin + per : n;
}

/* A dynamic split that keeps each thread on adjacent memory. The n units of a run (rows, panels:
 * n < 2^31) are cut into one contiguous range per part, as medge_split does; part ith claims from
 * the front of its own range and, once that is empty, from the back of the range with the most
 * units left. So each thread streams through one block of memory in order (the hardware
 * prefetchers follow a single stream per thread, not chunks dealt out in turn: 48 KB chunks shared
 * round-robin read Q4_K weights at 26 GB/s on two Zen 5 cores, the same chunks from contiguous
 * ranges at 37-41 GB/s), and a thread that starts late or is descheduled is relieved of what it
 * has not reached, so its partner does not wait at the barrier. A claim is one compare-and-swap on
 * a cache line of its own. From its own range a part takes 1/MEDGE_WORKQ_GUIDE of what is left
 * there, within [min_run, max_run] (a GEMM sets both to the panels its scratch holds); from
 * another's back, min_run. Each locked compare-and-swap waits for the thread's loads in flight to
 * drain: a claim per 48 KB chunk of a decoding matvec (min_run = max_run = 1) cost 3.5% of the
 * cycles in perf, 1/8 of the rest per claim less than 0.3%; a part descheduled while holding a
 * claim then leaves its partner at most 1/8 of its share. */
enum { MEDGE_WORKQ_PARTS = 16 }; /* ranges; parts past it share them */
enum { MEDGE_WORKQ_GUIDE = 8 };
typedef struct medge_workq {
    long min_run, max_run;
    int parts;
    struct {
        _Alignas(64) _Atomic uint64_t fb; /* front (low 32 bits) and end (high 32) of the range */
    } r[MEDGE_WORKQ_PARTS];
} medge_workq;

/* Set up q for n units split among nth parts, claimed in runs of min_run (>= 1) to max_run
 * (>= min_run) units. */
void medge_workq_init(medge_workq *q, long n, long min_run, long max_run, int nth);
/* The next run [*begin, *end) for part ith; false when no unit is left. */
bool medge_workq_next(medge_workq *q, int ith, long *begin, long *end);
#endif
