/* eval.c - see eval.h. The arithmetic follows llama-perplexity's KL-divergence mode
 * (specs/imatrix-and-kld.md §2.3-2.4) so results computed from the same inputs agree to the
 * printed digits: log-sum-exp summed in double and rounded to float, per-token NLLs in float,
 * every sum accumulated in double, uncertainties with n-1. */
#include "runtime/eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const double eval_kld_pct[EVAL_KLD_NPCT] = {0.999, 0.99, 0.95, 0.90, 0.10, 0.05, 0.01, 0.001};
const double eval_dp_pct[EVAL_DP_NPCT] = {0.999, 0.99, 0.95, 0.90, 0.75, 0.25, 0.10, 0.05, 0.01, 0.001};

struct eval_kld {
    int32_t n_vocab;
    float *lb; /* scratch: base log-probs */
    uint64_t n, n_scored, same_top;
    double s_nll, s_nll2, s_nllb, s_nllb2, s_nll_nllb, s_kld, s_kld2, s_dp, s_dp2, s_dp4;
    float *kld, *dp; /* per position / per scored position */
    size_t cap_kld, cap_dp;
};

medge_status eval_kld_new(int32_t n_vocab, eval_kld **out)
{
    *out = NULL;
    if (n_vocab <= 0)
        return medge_err(MEDGE_ERR_INVALID_ARG, "vocabulary size %d", (int)n_vocab);
    eval_kld *k = calloc(1, sizeof *k);
    if (!k || !(k->lb = malloc((size_t)n_vocab * sizeof *k->lb))) {
        free(k);
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    }
    k->n_vocab = n_vocab;
    *out = k;
    return MEDGE_OK;
}

void eval_kld_free(eval_kld *k)
{
    if (!k)
        return;
    free(k->lb);
    free(k->kld);
    free(k->dp);
    free(k);
}

static int push(float **a, size_t *cap, uint64_t n, float v)
{
    if (n == *cap) {
        size_t nc = *cap ? *cap * 2 : 1024;
        float *na = realloc(*a, nc * sizeof *na);
        if (!na)
            return 0;
        *a = na;
        *cap = nc;
    }
    (*a)[n] = v;
    return 1;
}

/* Max (first index on ties) and log-sum-exp relative to it, as llama.cpp. */
static void softmax_stats(const float *l, int32_t n, int32_t *imax, float *m, float *lse)
{
    int32_t im = 0;
    float mx = l[0];
    for (int32_t v = 1; v < n; v++)
        if (l[v] > mx) {
            mx = l[v];
            im = v;
        }
    double s = 0;
    for (int32_t v = 0; v < n; v++)
        s += expf(l[v] - mx);
    *imax = im;
    *m = mx;
    *lse = (float)log(s);
}

/* Record one position given its KL term, whether the arg-maxes agree and, when next >= 0, both
 * NLLs and Δp. */
static medge_status add_row(eval_kld *k, double kld, int same, int32_t next, double nll, double nll_base, double dp)
{
    if (!push(&k->kld, &k->cap_kld, k->n, (float)kld))
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    k->n++;
    k->s_kld += kld;
    k->s_kld2 += kld * kld;
    k->same_top += same != 0;
    if (next >= 0) {
        if (!push(&k->dp, &k->cap_dp, k->n_scored, (float)dp))
            return medge_err(MEDGE_ERR_NOMEM, "out of memory");
        k->n_scored++;
        k->s_nll += nll;
        k->s_nll2 += nll * nll;
        k->s_nllb += nll_base;
        k->s_nllb2 += nll_base * nll_base;
        k->s_nll_nllb += nll * nll_base;
        k->s_dp += dp;
        k->s_dp2 += dp * dp;
        k->s_dp4 += dp * dp * dp * dp;
    }
    return MEDGE_OK;
}

/* Arg-max (first index on ties) and log-sum-exp, in double. */
static void softmax_stats_d(const float *l, int32_t n, int32_t *imax, double *norm)
{
    int32_t im = 0;
    for (int32_t v = 1; v < n; v++)
        if (l[v] > l[im])
            im = v;
    double m = l[im], s = 0;
    for (int32_t v = 0; v < n; v++)
        s += exp((double)l[v] - m);
    *imax = im;
    *norm = m + log(s);
}

/* Full logits on both sides: everything in double (no 16-bit rounding, no cut-off). */
medge_status eval_kld_add(eval_kld *k, const float *base, const float *model, int32_t next)
{
    if (next >= k->n_vocab)
        return medge_err(MEDGE_ERR_RANGE, "token %d is outside the vocabulary (%d)", (int)next, (int)k->n_vocab);
    int32_t ib, iq;
    double nb, nq, kld = 0;
    softmax_stats_d(base, k->n_vocab, &ib, &nb);
    softmax_stats_d(model, k->n_vocab, &iq, &nq);
    for (int32_t v = 0; v < k->n_vocab; v++) {
        double lb = base[v] - nb, lq = model[v] - nq;
        kld += exp(lb) * (lb - lq);
    }
    double nll = 0, nll_base = 0, dp = 0;
    if (next >= 0) {
        nll = nq - model[next];
        nll_base = nb - base[next];
        dp = exp(-nll) - exp(-nll_base);
    }
    return add_row(k, kld, ib == iq, next, nll, nll_base, dp);
}

/* Base as a 16-bit record: llama.cpp's float arithmetic, base log-probs <= -16 left out. */
medge_status eval_kld_add_record(eval_kld *k, const uint16_t *rec, const float *model, int32_t next)
{
    if (next >= k->n_vocab)
        return medge_err(MEDGE_ERR_RANGE, "token %d is outside the vocabulary (%d)", (int)next, (int)k->n_vocab);
    eval_record_decode(rec, k->n_vocab, k->lb);
    int32_t ib = 0;
    for (int32_t v = 1; v < k->n_vocab; v++)
        if (k->lb[v] > k->lb[ib])
            ib = v;
    int32_t iq;
    float m, lse;
    softmax_stats(model, k->n_vocab, &iq, &m, &lse);
    const float norm = m + lse;
    double kld = 0;
    for (int32_t v = 0; v < k->n_vocab; v++)
        if (k->lb[v] > -16.0f)
            kld += (double)(expf(k->lb[v]) * (k->lb[v] - (model[v] - norm)));
    float nll = 0, nll_base = 0, dp = 0;
    if (next >= 0) {
        nll = m + lse - model[next];
        nll_base = -k->lb[next];
        dp = expf(-nll) - expf(-nll_base);
    }
    return add_row(k, kld, ib == iq, next, nll, nll_base, dp);
}

static void mu(double s, double s2, uint64_t n, double *f, double *u)
{
    *f = s / (double)n;
    double var = s2 / (double)n - *f * *f;
    *u = var > 0 && n > 10 ? sqrt(var / (double)(n - 1)) : 0;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

static double percentile(const float *v, uint64_t n, double f)
{
    float p = (float)(f * (double)(n - 1));
    uint64_t i = (uint64_t)floorf(p);
    p -= (float)i;
    uint64_t j = i + 1 < n ? i + 1 : n - 1;
    return (1 - p) * v[i] + p * v[j];
}

static double median(const float *v, uint64_t n)
{
    return n % 2 ? v[n / 2] : 0.5 * ((double)v[n / 2 - 1] + v[n / 2]);
}

medge_status eval_kld_stats_get(const eval_kld *k, eval_kld_stats *o)
{
    memset(o, 0, sizeof *o);
    if (k->n == 0)
        return medge_err(MEDGE_ERR_INVALID_ARG, "no positions were compared");
    o->n = k->n;
    o->n_scored = k->n_scored;
    mu(k->s_kld, k->s_kld2, k->n, &o->kld_mean, &o->kld_mean_unc);
    double p = (double)k->same_top / (double)k->n;
    o->same_top = p;
    o->same_top_unc = k->n > 1 ? sqrt(p * (1 - p) / (double)(k->n - 1)) : 0;
    float *s = malloc((size_t)k->n * sizeof *s);
    if (!s)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    memcpy(s, k->kld, (size_t)k->n * sizeof *s);
    qsort(s, (size_t)k->n, sizeof *s, cmp_float);
    o->kld_min = s[0];
    o->kld_max = s[k->n - 1];
    o->kld_median = median(s, k->n);
    for (int i = 0; i < EVAL_KLD_NPCT; i++)
        o->kld_pct[i] = percentile(s, k->n, eval_kld_pct[i]);
    free(s);
    if (k->n_scored == 0)
        return MEDGE_OK;

    uint64_t n = k->n_scored;
    double lq, uq, lb, ub;
    mu(k->s_nll, k->s_nll2, n, &lq, &uq);
    mu(k->s_nllb, k->s_nllb2, n, &lb, &ub);
    double c = n < 10 ? 0 : (k->s_nll_nllb / (double)n - (k->s_nll / (double)n) * (k->s_nllb / (double)n)) / (double)(n - 1);
    o->ppl_model = exp(lq);
    o->ppl_model_unc = o->ppl_model * uq;
    o->ppl_base = exp(lb);
    o->ppl_base_unc = o->ppl_base * ub;
    o->cor = uq > 0 && ub > 0 ? c / (uq * ub) : 0;
    o->ln_ratio = lq - lb;
    double r2 = uq * uq + ub * ub - 2 * c;
    o->ln_ratio_unc = r2 > 0 ? sqrt(r2) : 0;
    o->ppl_ratio = exp(lq - lb);
    o->ppl_ratio_unc = o->ppl_ratio * o->ln_ratio_unc;
    o->ppl_diff = o->ppl_model - o->ppl_base;
    double d2 = o->ppl_model_unc * o->ppl_model_unc + o->ppl_base_unc * o->ppl_base_unc - 2 * o->ppl_model * o->ppl_base * c;
    o->ppl_diff_unc = d2 > 0 ? sqrt(d2) : 0;
    mu(k->s_dp, k->s_dp2, n, &o->dp_mean, &o->dp_mean_unc);
    double ms, ums;
    mu(k->s_dp2, k->s_dp4, n, &ms, &ums);
    o->dp_rms = sqrt(ms);
    o->dp_rms_unc = o->dp_rms > 0 ? 0.5 / o->dp_rms * ums : 0;
    s = malloc((size_t)n * sizeof *s);
    if (!s)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    memcpy(s, k->dp, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_float);
    o->dp_min = s[0];
    o->dp_max = s[n - 1];
    o->dp_median = median(s, n);
    for (int i = 0; i < EVAL_DP_NPCT; i++)
        o->dp_pct[i] = percentile(s, n, eval_dp_pct[i]);
    free(s);
    return MEDGE_OK;
}

/* ---- records ---- */

size_t eval_record_len(int32_t n_vocab) { return 2 * (((size_t)n_vocab + 1) / 2) + 4; }

static int nearest_int(float f)
{
    float val = f + 12582912.0f;
    int32_t i;
    memcpy(&i, &val, 4);
    return (i & 0x007fffff) - 0x00400000;
}

void eval_record_encode(const float *l, int32_t n, uint16_t *rec)
{
    float m = l[0], mn = l[0];
    for (int32_t v = 1; v < n; v++) {
        if (l[v] > m)
            m = l[v];
        if (l[v] < mn)
            mn = l[v];
    }
    if (mn < m - 16)
        mn = m - 16;
    double s = 0;
    for (int32_t v = 0; v < n; v++)
        s += expf(l[v] - m);
    float lse = (float)log(s);
    float scale = (m - mn) / 65535;
    float min_lp = mn - m - lse;
    memcpy(rec, &scale, 4);
    memcpy(rec + 2, &min_lp, 4);
    uint16_t *q = rec + 4;
    size_t len = eval_record_len(n);
    memset(q, 0, (len - 4) * sizeof *q);
    if (scale == 0)
        return;
    float iscale = 1 / scale;
    for (int32_t v = 0; v < n; v++)
        if (l[v] > mn)
            q[v] = (uint16_t)nearest_int(iscale * (l[v] - mn));
}

void eval_record_decode(const uint16_t *rec, int32_t n, float *lp)
{
    float scale, min_lp;
    memcpy(&scale, rec, 4);
    memcpy(&min_lp, rec + 2, 4);
    const uint16_t *q = rec + 4;
    for (int32_t v = 0; v < n; v++)
        lp[v] = scale * q[v] + min_lp;
}

/* ---- files ---- */

static int32_t rd_i32(const uint8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

medge_status eval_logits_open(const char *path, eval_logits *o)
{
    memset(o, 0, sizeof *o);
    MEDGE_TRY(medge_map_file(path, &o->map));
    const uint8_t *p = o->map.data;
    uint64_t size = o->map.size;
    medge_status rc = MEDGE_OK;
    if (size >= 8 && memcmp(p, "_logits_", 8) == 0) {
        o->kind = EVAL_LOGITS_KLD;
        if (size < 20) {
            rc = medge_err(MEDGE_ERR_FORMAT, "%s: truncated KL-divergence base header", path);
            goto fail;
        }
        o->n_ctx = rd_i32(p + 8);
        o->n_vocab = rd_i32(p + 12);
        o->n_chunk = rd_i32(p + 16);
        if (o->n_ctx < 4 || o->n_vocab <= 0 || o->n_chunk <= 0) {
            rc = medge_err(MEDGE_ERR_FORMAT, "%s: bad header (n_ctx %d, n_vocab %d, n_chunk %d)", path, (int)o->n_ctx,
                           (int)o->n_vocab, (int)o->n_chunk);
            goto fail;
        }
        uint64_t n_tok = (uint64_t)o->n_ctx * (uint64_t)o->n_chunk; /* both < 2^31: no overflow */
        uint64_t rows_per_chunk = (uint64_t)(o->n_ctx - 1 - o->n_ctx / 2);
        uint64_t rows = rows_per_chunk * (uint64_t)o->n_chunk, want = 0, rec_bytes = eval_record_len(o->n_vocab) * 2;
        if (rows > INT32_MAX || !medge_mul_u64(rows, rec_bytes, &want) || !medge_add_u64(want, 20 + 4 * n_tok, &want) ||
            want != size) {
            rc = medge_err(MEDGE_ERR_FORMAT, "%s: %llu bytes, but n_ctx %d, n_vocab %d and %d chunks need %llu", path,
                           (unsigned long long)size, (int)o->n_ctx, (int)o->n_vocab, (int)o->n_chunk, (unsigned long long)want);
            goto fail;
        }
        o->n_pos = (int32_t)rows;
        o->tokens_owned = malloc((size_t)n_tok * 4);
        if (!o->tokens_owned) {
            rc = medge_err(MEDGE_ERR_NOMEM, "out of memory");
            goto fail;
        }
        memcpy(o->tokens_owned, p + 20, (size_t)n_tok * 4);
        for (uint64_t i = 0; i < n_tok; i++)
            if (o->tokens_owned[i] < 0 || o->tokens_owned[i] >= o->n_vocab) {
                rc = medge_err(MEDGE_ERR_FORMAT, "%s: token %llu is %d, outside the vocabulary of %d", path, (unsigned long long)i,
                               (int)o->tokens_owned[i], (int)o->n_vocab);
                goto fail;
            }
        o->tokens = o->tokens_owned;
        return MEDGE_OK;
    }
    o->kind = EVAL_LOGITS_REF;
    if (size < 8) {
        rc = medge_err(MEDGE_ERR_FORMAT, "%s: not a logits file (%llu bytes)", path, (unsigned long long)size);
        goto fail;
    }
    o->n_pos = rd_i32(p);
    o->n_vocab = rd_i32(p + 4);
    uint64_t want;
    if (o->n_pos <= 0 || o->n_vocab <= 0 || !medge_mul_u64((uint64_t)o->n_pos * 4, (uint64_t)o->n_vocab, &want) ||
        want + 8 != size) {
        rc = medge_err(MEDGE_ERR_FORMAT, "%s: %llu bytes, but a header of %d positions x %d logits needs %llu", path,
                       (unsigned long long)size, (int)o->n_pos, (int)o->n_vocab,
                       o->n_pos > 0 && o->n_vocab > 0 ? (unsigned long long)((uint64_t)o->n_pos * 4 * (uint64_t)o->n_vocab + 8) : 0ull);
        goto fail;
    }
    return MEDGE_OK;
fail:
    eval_logits_close(o);
    return rc;
}

void eval_logits_close(eval_logits *l)
{
    if (!l)
        return;
    medge_unmap(&l->map);
    free(l->tokens_owned);
    memset(l, 0, sizeof *l);
}

const void *eval_logits_row(const eval_logits *l, int32_t i)
{
    if (l->kind != EVAL_LOGITS_REF || i < 0 || i >= l->n_pos)
        return NULL;
    return l->map.data + 8 + (size_t)i * (size_t)l->n_vocab * 4;
}

const void *eval_logits_record(const eval_logits *l, int32_t i)
{
    if (l->kind != EVAL_LOGITS_KLD || i < 0 || i >= l->n_pos)
        return NULL;
    size_t off = 20 + (size_t)l->n_ctx * (size_t)l->n_chunk * 4;
    return l->map.data + off + (size_t)i * eval_record_len(l->n_vocab) * 2;
}

medge_status eval_kld_writer_open(eval_kld_writer *w, const char *path, int32_t n_ctx, int32_t n_vocab, int32_t n_chunk,
                                  const int32_t *tokens)
{
    memset(w, 0, sizeof *w);
    if (n_ctx < 4 || n_vocab <= 0 || n_chunk <= 0)
        return medge_err(MEDGE_ERR_INVALID_ARG, "bad KL-divergence base parameters");
    w->rec = malloc(eval_record_len(n_vocab) * 2);
    if (!w->rec)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    w->n_ctx = n_ctx;
    w->n_vocab = n_vocab;
    w->n_chunk = n_chunk;
    w->rows_left = (uint64_t)(n_ctx - 1 - n_ctx / 2) * (uint64_t)n_chunk;
    medge_status rc = medge_out_open(&w->out, path);
    int32_t hdr[3] = {n_ctx, n_vocab, n_chunk};
    if (rc == MEDGE_OK)
        rc = medge_out_write(&w->out, "_logits_", 8);
    if (rc == MEDGE_OK)
        rc = medge_out_write(&w->out, hdr, sizeof hdr);
    if (rc == MEDGE_OK)
        rc = medge_out_write(&w->out, tokens, (size_t)n_ctx * (size_t)n_chunk * 4);
    if (rc != MEDGE_OK)
        eval_kld_writer_abort(w);
    return rc;
}

medge_status eval_kld_writer_row(eval_kld_writer *w, const float *logits)
{
    if (w->rows_left == 0)
        return medge_err(MEDGE_ERR_INVALID_ARG, "more rows than the header announced");
    eval_record_encode(logits, w->n_vocab, w->rec);
    w->rows_left--;
    return medge_out_write(&w->out, w->rec, eval_record_len(w->n_vocab) * 2);
}

medge_status eval_kld_writer_finish(eval_kld_writer *w)
{
    if (w->rows_left) {
        eval_kld_writer_abort(w);
        return medge_err(MEDGE_ERR_INTERNAL, "KL-divergence base file: %llu rows missing", (unsigned long long)w->rows_left);
    }
    medge_status rc = medge_out_commit(&w->out);
    free(w->rec);
    w->rec = NULL;
    return rc;
}

void eval_kld_writer_abort(eval_kld_writer *w)
{
    if (w->out.f || w->out.tmp)
        medge_out_abort(&w->out);
    free(w->rec);
    w->rec = NULL;
}

medge_status eval_read_token_file(const char *path, int32_t **ids, size_t *n)
{
    *ids = NULL;
    *n = 0;
    medge_map m;
    MEDGE_TRY(medge_read_file(path, &m));
    size_t cap = 0, cnt = 0;
    int32_t *a = NULL;
    const char *p = (const char *)m.data, *end = p + m.size;
    medge_status rc = MEDGE_OK;
    while (p < end) {
        char c = *p;
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',' || c == '[' || c == ']') {
            p++;
            continue;
        }
        if (c < '0' || c > '9') {
            rc = medge_err(MEDGE_ERR_FORMAT, "%s: byte %zu is '%c', expected a token id", path, (size_t)(p - (const char *)m.data), c);
            break;
        }
        int64_t v = 0;
        while (p < end && *p >= '0' && *p <= '9' && v <= INT32_MAX)
            v = v * 10 + (*p++ - '0');
        if (v > INT32_MAX) {
            rc = medge_err(MEDGE_ERR_FORMAT, "%s: token id too large", path);
            break;
        }
        if (cnt == cap) {
            cap = cap ? cap * 2 : 256;
            int32_t *na = realloc(a, cap * sizeof *na);
            if (!na) {
                rc = medge_err(MEDGE_ERR_NOMEM, "out of memory");
                break;
            }
            a = na;
        }
        a[cnt++] = (int32_t)v;
    }
    medge_unmap(&m);
    if (rc != MEDGE_OK) {
        free(a);
        return rc;
    }
    *ids = a;
    *n = cnt;
    return MEDGE_OK;
}
