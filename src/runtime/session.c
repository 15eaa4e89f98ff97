/* session.c - medge_session: a KV cache and worker pool over a loaded Gemma 3 model; prompt
 * evaluation in batches, incremental decoding, context reuse by common prefix, external
 * embeddings (image tokens), the memory estimate and its check against the machine. */
#include "runtime/session.h"
#include "core/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t runtime_mem_available(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f)
        return 0;
    char line[256];
    uint64_t kb = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long long v;
        if (sscanf(line, "MemAvailable: %llu kB", &v) == 1) {
            kb = v;
            break;
        }
    }
    fclose(f);
    return kb * 1024;
}

medge_session_params medge_session_default_params(void)
{
    medge_session_params p;
    memset(&p, 0, sizeof p);
    p.n_ctx = 4096;
    p.n_batch = 512;
    p.n_threads = 0;
    p.kv_type = MEDGE_KV_F16;
    return p;
}

static uint32_t kv_ggml_type(medge_kv_type t)
{
    switch (t) {
    case MEDGE_KV_F16: return GGML_TYPE_F16;
    case MEDGE_KV_Q8_0: return GGML_TYPE_Q8_0;
    case MEDGE_KV_F32: return GGML_TYPE_F32;
    }
    return GGML_TYPE_COUNT;
}

static int eff_ctx(const medge_model *m, const medge_session_params *p)
{
    return p->n_ctx > 0 ? p->n_ctx : m->g->hp.n_ctx_train;
}

static int eff_batch(const medge_session_params *p, int n_ctx)
{
    int b = p->n_batch > 0 ? p->n_batch : 512;
    return b < n_ctx ? b : n_ctx;
}

uint64_t medge_session_memory(const medge_model *m, medge_session_params p)
{
    if (!m)
        return 0;
    const gemma3_hparams *hp = &m->g->hp;
    uint32_t kt = kv_ggml_type(p.kv_type);
    if (kt == GGML_TYPE_COUNT)
        return 0;
    int n_ctx = eff_ctx(m, &p), nb = eff_batch(&p, n_ctx);
    int nth = p.n_threads > 0 ? p.n_threads : 1;
    uint64_t bytes = gemma3_kv_bytes(hp, n_ctx, kt);
    bytes += gemma3_state_bytes(hp, nb, kt);
    bytes += (uint64_t)hp->n_vocab * (4 + sizeof(struct sampler_cand)); /* logits + sampler */
    bytes += (uint64_t)n_ctx * 4 * 3;                                    /* history + cell tables */
    /* attention, per thread: score, position and value pointer of every cell, 17 head rows */
    bytes += (uint64_t)nth * ((uint64_t)(n_ctx + nb) * 16 + 17ull * (uint64_t)hp->head_dim * 4 + 4096);
    return bytes;
}

void medge_session_free(medge_session *s)
{
    if (!s)
        return;
    medge_pool_free(s->pool);
    gemma3_cache_free(&s->cache);
    gemma3_state_free(&s->state);
    free(s->logits);
    free(s->hist);
    free(s->cand);
    free(s);
}

static medge_status session_new(const medge_model *m, medge_session_params p, medge_session **out)
{
    if (!m)
        return medge_err(MEDGE_ERR_INVALID_ARG, "no model");
    const gemma3_hparams *hp = &m->g->hp;
    uint32_t kt = kv_ggml_type(p.kv_type);
    if (kt == GGML_TYPE_COUNT)
        return medge_err(MEDGE_ERR_INVALID_ARG, "unknown KV cache type %d", (int)p.kv_type);
    int n_ctx = eff_ctx(m, &p);
    if (n_ctx > hp->n_ctx_train)
        MEDGE_LOGW("context %d is longer than the model's training context %d", n_ctx, hp->n_ctx_train);
    if (n_ctx > (1 << 28))
        return medge_err(MEDGE_ERR_INVALID_ARG, "context size %d is too large", n_ctx);
    if (p.n_threads <= 0)
        p.n_threads = 0;
    uint64_t need = medge_session_memory(m, p) + m->g->weight_bytes;
    uint64_t avail = p.max_memory ? p.max_memory : runtime_mem_available();
    MEDGE_LOGI("memory: weights %.1f MiB + KV cache %.1f MiB (%d positions, %s) + buffers = %.1f MiB",
               (double)m->g->weight_bytes / 1048576.0, (double)gemma3_kv_bytes(hp, n_ctx, kt) / 1048576.0, n_ctx,
               quant_type_name(kt), (double)need / 1048576.0);
    if (avail && need > avail)
        return medge_err(MEDGE_ERR_NOMEM,
                         "the session needs %.1f MiB (weights %.1f MiB + context of %d positions) but only %.1f MiB "
                         "are available; use a smaller context (-c) or a smaller model",
                         (double)need / 1048576.0, (double)m->g->weight_bytes / 1048576.0, n_ctx,
                         (double)avail / 1048576.0);
    medge_session *s = calloc(1, sizeof *s);
    if (!s)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    s->model = m;
    s->params = p;
    s->params.n_ctx = n_ctx;
    s->params.n_batch = eff_batch(&p, n_ctx);
    medge_status rc = medge_pool_create(p.n_threads, &s->pool);
    if (rc == MEDGE_OK)
        rc = gemma3_cache_init(&s->cache, hp, n_ctx, kt);
    if (rc == MEDGE_OK) {
        s->logits = malloc((size_t)hp->n_vocab * sizeof(float));
        s->hist = malloc((size_t)n_ctx * sizeof(int32_t));
        s->cand = malloc((size_t)hp->n_vocab * sizeof *s->cand);
        if (!s->logits || !s->hist || !s->cand)
            rc = medge_err(MEDGE_ERR_NOMEM, "out of memory");
    }
    if (rc != MEDGE_OK) {
        medge_session_free(s);
        return rc;
    }
    *out = s;
    return MEDGE_OK;
}

medge_status medge_session_new(const medge_model *m, medge_session_params p, medge_session **out)
{
    if (!out)
        return medge_err(MEDGE_ERR_INVALID_ARG, "NULL output");
    *out = NULL;
    return session_new(m, p, out);
}

static bool abort_tramp(void *user)
{
    medge_session *s = user;
    return s->params.abort_fn && s->params.abort_fn(s->params.abort_user) != 0;
}

/* Evaluate tokens or embeddings in chunks of n_batch (embeddings with bidirectional attention
 * go in one pass). logits_all: out receives [n][n_vocab]. */
static medge_status eval_any(medge_session *s, const int32_t *tokens, const float *embd, int n, bool bidir,
                             float *out_all)
{
    if (n <= 0)
        return medge_err(MEDGE_ERR_INVALID_ARG, "nothing to evaluate (n = %d)", n);
    const gemma3_model *g = s->model->g;
    gemma3_cache *c = &s->cache;
    if (n > c->n_ctx - c->n_past)
        return medge_err(MEDGE_ERR_CONTEXT_FULL,
                         "the context is full: %d positions requested, %d of %d used (start a new session or use "
                         "a larger context)",
                         n, c->n_past, c->n_ctx);
    if (tokens)
        for (int i = 0; i < n; i++)
            if (tokens[i] < 0 || tokens[i] >= g->hp.n_vocab)
                return medge_err(MEDGE_ERR_RANGE, "token id %d (index %d) is outside the vocabulary [0, %d)",
                                 tokens[i], i, g->hp.n_vocab);
    int step = bidir ? n : s->params.n_batch;
    for (int i = 0; i < n; i += step) {
        int nb = n - i < step ? n - i : step;
        int p0 = c->n_past;
        bool last = i + nb == n;
        gemma3_batch b = {tokens ? tokens + i : NULL, embd ? embd + (size_t)i * (size_t)g->hp.n_embd : NULL, nb, bidir,
                          out_all ? out_all + (size_t)i * (size_t)g->hp.n_vocab : (last ? s->logits : NULL),
                          out_all != NULL};
        medge_status rc = gemma3_eval(g, c, &s->state, s->pool, &b, abort_tramp, s);
        if (rc != MEDGE_OK) {
            s->have_logits = false;
            return rc;
        }
        for (int t = 0; t < nb; t++)
            s->hist[p0 + t] = tokens ? tokens[i + t] : -1;
    }
    if (out_all)
        memcpy(s->logits, out_all + (size_t)(n - 1) * (size_t)g->hp.n_vocab, (size_t)g->hp.n_vocab * sizeof(float));
    s->have_logits = true;
    return MEDGE_OK;
}

#define SESSION_CALL(s, expr)                                   \
    do {                                                        \
        if (!(s))                                               \
            return medge_err(MEDGE_ERR_INVALID_ARG, "NULL session"); \
        medge_status rc_ = (expr);                              \
        return rc_ == MEDGE_OK ? MEDGE_OK : medge_handle_fail(&(s)->h, rc_); \
    } while (0)

medge_status medge_session_eval(medge_session *s, const int32_t *tokens, int n)
{
    if (s && !tokens)
        return medge_handle_fail(&s->h, medge_err(MEDGE_ERR_INVALID_ARG, "NULL tokens"));
    SESSION_CALL(s, eval_any(s, tokens, NULL, n, false, NULL));
}

medge_status medge_session_eval_all(medge_session *s, const int32_t *tokens, int n, float *out)
{
    if (s && (!tokens || !out))
        return medge_handle_fail(&s->h, medge_err(MEDGE_ERR_INVALID_ARG, "NULL tokens or output"));
    SESSION_CALL(s, eval_any(s, tokens, NULL, n, false, out));
}

medge_status medge_session_eval_embd(medge_session *s, const float *embd, int n, int bidirectional)
{
    if (s && !embd)
        return medge_handle_fail(&s->h, medge_err(MEDGE_ERR_INVALID_ARG, "NULL embeddings"));
    SESSION_CALL(s, eval_any(s, NULL, embd, n, bidirectional != 0, NULL));
}

static medge_status eval_prefix(medge_session *s, const int32_t *tokens, int n, int *n_reused)
{
    int common = 0;
    while (common < n && common < s->cache.n_past && s->hist[common] == tokens[common])
        common++;
    /* The last token is always evaluated so that its logits are fresh. */
    if (common == n)
        common = n - 1;
    if (common < s->cache.n_past)
        gemma3_cache_truncate(&s->cache, common);
    int kept = s->cache.n_past;
    if (n_reused)
        *n_reused = kept;
    return eval_any(s, tokens + kept, NULL, n - kept, false, NULL);
}

medge_status medge_session_eval_prefix(medge_session *s, const int32_t *tokens, int n, int *n_reused)
{
    if (n_reused)
        *n_reused = 0;
    if (s && (!tokens || n <= 0))
        return medge_handle_fail(&s->h, medge_err(MEDGE_ERR_INVALID_ARG, "no tokens"));
    SESSION_CALL(s, eval_prefix(s, tokens, n, n_reused));
}

const float *medge_session_logits(const medge_session *s) { return s && s->have_logits ? s->logits : NULL; }
int medge_session_n_past(const medge_session *s) { return s ? s->cache.n_past : 0; }
int medge_session_n_ctx(const medge_session *s) { return s ? s->cache.n_ctx : 0; }

medge_status medge_session_rewind(medge_session *s, int n_keep)
{
    if (!s)
        return medge_err(MEDGE_ERR_INVALID_ARG, "NULL session");
    if (n_keep < 0)
        return medge_handle_fail(&s->h, medge_err(MEDGE_ERR_INVALID_ARG, "n_keep %d is negative", n_keep));
    if (n_keep < s->cache.n_past) {
        gemma3_cache_truncate(&s->cache, n_keep);
        s->have_logits = false;
    }
    return MEDGE_OK;
}

medge_sampler_params medge_sampler_default_params(void)
{
    medge_sampler_params p;
    p.temperature = 0.8f;
    p.top_k = 40;
    p.top_p = 0.95f;
    p.min_p = 0.05f;
    p.repeat_penalty = 1.0f;
    p.repeat_last_n = 64;
    p.presence_penalty = 0.0f;
    p.frequency_penalty = 0.0f;
    p.seed = MEDGE_SEED_RANDOM;
    return p;
}

medge_status medge_session_set_sampler(medge_session *s, medge_sampler_params p)
{
    if (!s)
        return medge_err(MEDGE_ERR_INVALID_ARG, "NULL session");
    if (p.top_k < 0 || !(p.top_p > 0.0f && p.top_p <= 1.0f) || !(p.min_p >= 0.0f && p.min_p <= 1.0f) ||
        !(p.repeat_penalty > 0.0f) || p.repeat_last_n < 0 || p.temperature != p.temperature)
        return medge_handle_fail(&s->h, medge_err(MEDGE_ERR_INVALID_ARG,
                                                  "sampler parameters out of range (top_k >= 0, 0 < top_p <= 1, "
                                                  "0 <= min_p <= 1, repeat_penalty > 0)"));
    s->smp.p = p;
    s->smp.rng = p.seed == MEDGE_SEED_RANDOM ? sampler_seed_from_clock() : p.seed;
    s->smp.set = true;
    return MEDGE_OK;
}

medge_status medge_session_sample(medge_session *s, int32_t *token)
{
    if (!s || !token)
        return medge_err(MEDGE_ERR_INVALID_ARG, "NULL session or output");
    if (!s->have_logits)
        return medge_handle_fail(&s->h, medge_err(MEDGE_ERR_INVALID_ARG, "no logits: evaluate something first"));
    if (!s->smp.set) {
        s->smp.p = medge_sampler_default_params();
        s->smp.p.temperature = 0.0f;
        s->smp.set = true;
    }
    int n_hist = s->cache.n_past;
    SESSION_CALL(s, sampler_sample(&s->smp, s->logits, s->model->g->hp.n_vocab, s->hist, n_hist, s->cand, token));
}
