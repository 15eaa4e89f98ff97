/* threadpool.h - a persistent pool of worker threads owned by a session. medge_pool_run runs
 * fn(ctx, ith, nth) once for every ith < nth and returns when all are done: the return is the
 * barrier between ops. The caller runs part 0, each worker part ith, except that the caller takes
 * over the part of a worker that has not started by the time part 0 is done (so fn must not
 * assume that parts run concurrently, nor on a particular thread). Work is split by the callee
 * (usually by rows). */
#ifndef MEDGE_CORE_THREADPOOL_H
#define MEDGE_CORE_THREADPOOL_H
#include "core/error.h"

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
#endif
