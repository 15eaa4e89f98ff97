/* imatrix.c - importance matrix accumulation over a model's forward passes (see imatrix.h). */
#include "runtime/imatrix.h"
#include "medge.h"
#include "runtime/session.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

medge_status runtime_imatrix_accumulate(quant_imatrix *im, const char *name, int64_t ne0, const float *x, int n)
{
    quant_imatrix_entry *e = NULL;
    MEDGE_TRY(quant_imatrix_entry_get(im, name, ne0, 1, &e));
    for (int t = 0; t < n; t++) {
        const float *row = x + (size_t)t * (size_t)ne0;
        for (int64_t j = 0; j < ne0; j++) {
            float v = row[j];
            if (!isfinite(v))
                return medge_err(MEDGE_ERR_RANGE, "non-finite activation at column %lld of the input of %s",
                                 (long long)j, name);
            e->sums[j] += v * v;
        }
    }
    e->counts[0] += (float)n;
    return MEDGE_OK;
}

static medge_status hook(void *user, const medge_tensor *w, const float *x, int n)
{
    quant_imatrix *im = user;
    if (!w->name || strncmp(w->name, "blk.", 4) != 0)
        return MEDGE_OK;
    return runtime_imatrix_accumulate(im, w->name, w->ne[0], x, n);
}

int runtime_imatrix_n_chunks(size_t n_tokens, const runtime_imatrix_params *p)
{
    if (!p || p->n_ctx <= 0)
        return 0;
    size_t n = n_tokens / (size_t)p->n_ctx;
    if (p->max_chunks > 0 && n > (size_t)p->max_chunks)
        n = (size_t)p->max_chunks;
    return n > (size_t)INT32_MAX ? INT32_MAX : (int)n;
}

medge_status runtime_imatrix_compute(const struct medge_model *m, const int32_t *tokens, size_t n_tokens,
                                     const runtime_imatrix_params *p, quant_imatrix *im)
{
    if (!m || !tokens || !p || !im)
        return medge_err(MEDGE_ERR_INVALID_ARG, "NULL argument");
    if (p->n_ctx <= 0)
        return medge_err(MEDGE_ERR_INVALID_ARG, "the chunk size must be positive (got %d)", p->n_ctx);
    if (im->chunk_size != (uint32_t)p->n_ctx)
        return medge_err(MEDGE_ERR_INVALID_ARG, "the imatrix chunk size (%u) differs from n_ctx (%d)", im->chunk_size,
                         p->n_ctx);
    if (n_tokens < 2 * (size_t)p->n_ctx)
        return medge_err(MEDGE_ERR_RANGE, "the text has %zu tokens; at least 2 x %d (the chunk size) are needed",
                         n_tokens, p->n_ctx);
    int n_chunk = runtime_imatrix_n_chunks(n_tokens, p);
    medge_session_params sp = medge_session_default_params();
    sp.n_ctx = p->n_ctx;
    sp.n_batch = p->n_ctx;
    sp.n_threads = p->n_threads;
    medge_session *s = NULL;
    MEDGE_TRY(medge_session_new(m, sp, &s));
    int32_t *buf = malloc((size_t)p->n_ctx * sizeof *buf);
    if (!buf) {
        medge_session_free(s);
        return medge_err(MEDGE_ERR_NOMEM, "out of memory for a chunk of %d tokens", p->n_ctx);
    }
    s->state.hook = hook;
    s->state.hook_user = im;
    medge_status rc = MEDGE_OK;
    for (int c = 0; c < n_chunk && rc == MEDGE_OK; c++) {
        memcpy(buf, tokens + (size_t)c * (size_t)p->n_ctx, (size_t)p->n_ctx * sizeof *buf);
        if (p->bos >= 0)
            buf[0] = p->bos;
        rc = medge_session_rewind(s, 0);
        if (rc == MEDGE_OK)
            rc = medge_session_eval(s, buf, p->n_ctx);
        if (rc == MEDGE_OK)
            im->chunk_count = (uint32_t)(c + 1);
        if (rc == MEDGE_OK && p->progress && p->progress(p->progress_user, c + 1, n_chunk))
            rc = medge_err(MEDGE_ERR_ABORTED, "stopped by the caller after chunk %d of %d", c + 1, n_chunk);
    }
    free(buf);
    medge_session_free(s);
    return rc;
}
