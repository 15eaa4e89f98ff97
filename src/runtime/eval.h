/* eval.h - quality statistics of a quantized model against its base, as llama-perplexity computes
 * them (specs/imatrix-and-kld.md §2): perplexity of both, their ratio, KL divergence
 * KL(base || model) per scored position with mean / median / percentiles, share of positions with
 * the same top token, and the change of the probability of the true next token (Δp). Also the
 * logits files these are computed from:
 *  - the reference format (shared/reference/gemma3-tiny/logits): i32 n_positions, i32 n_vocab,
 *    then n_positions x n_vocab float32 logits;
 *  - llama.cpp's KL-divergence base file ("_logits_", i32 n_ctx, i32 n_vocab, i32 n_chunk, i32
 *    tokens[n_chunk*n_ctx], then per chunk and scored row a 16-bit log-prob record). */
#ifndef MEDGE_RUNTIME_EVAL_H
#define MEDGE_RUNTIME_EVAL_H
#include "core/error.h"
#include "core/file.h"
#include <stdbool.h>

/* ---- statistics ---- */

typedef struct eval_kld eval_kld;

/* Percentile levels reported (fractions). */
#define EVAL_KLD_NPCT 8 /* 99.9, 99, 95, 90, 10, 5, 1, 0.1 % */
#define EVAL_DP_NPCT 10 /* 99.9, 99, 95, 90, 75, 25, 10, 5, 1, 0.1 % */
extern const double eval_kld_pct[EVAL_KLD_NPCT];
extern const double eval_dp_pct[EVAL_DP_NPCT];

typedef struct eval_kld_stats {
    uint64_t n;         /* positions compared (KLD, same top) */
    uint64_t n_scored;  /* positions with a known next token (PPL, Δp) */
    /* KL(base || model) in nats */
    double kld_mean, kld_mean_unc, kld_median, kld_min, kld_max;
    double kld_pct[EVAL_KLD_NPCT];
    /* share of positions whose arg-max agrees (first index wins ties), 0..1 */
    double same_top, same_top_unc;
    /* only when n_scored > 0: */
    double ppl_model, ppl_model_unc, ppl_base, ppl_base_unc;
    double ln_ratio, ln_ratio_unc; /* mean ln(PPL(model)/PPL(base)) */
    double ppl_ratio, ppl_ratio_unc, ppl_diff, ppl_diff_unc;
    double cor;                    /* correlation of the per-token NLLs, 0..1 */
    /* Δp = p_model(next) - p_base(next), as fractions (not percent) */
    double dp_mean, dp_mean_unc, dp_rms, dp_rms_unc, dp_median, dp_min, dp_max;
    double dp_pct[EVAL_DP_NPCT];
} eval_kld_stats;

medge_status eval_kld_new(int32_t n_vocab, eval_kld **out);
void eval_kld_free(eval_kld *k);
/* One position: base and model logits (n_vocab each) and the true next token (-1: unknown). */
medge_status eval_kld_add(eval_kld *k, const float *base_logits, const float *model_logits, int32_t next);
/* The same with the base given as a llama.cpp 16-bit log-prob record (see eval_record_*). */
medge_status eval_kld_add_record(eval_kld *k, const uint16_t *base_rec, const float *model_logits, int32_t next);
/* Statistics so far (may be called repeatedly, e.g. after every chunk). Needs n >= 1. */
medge_status eval_kld_stats_get(const eval_kld *k, eval_kld_stats *out);

/* ---- llama.cpp 16-bit log-prob records ---- */

/* u16 values per record: 2*((n_vocab+1)/2) + 4. */
size_t eval_record_len(int32_t n_vocab);
/* Encode a row of logits (specs §2.3). */
void eval_record_encode(const float *logits, int32_t n_vocab, uint16_t *rec);
/* Decode log-probs: lp[v] = scale*q[v] + min_log_prob. */
void eval_record_decode(const uint16_t *rec, int32_t n_vocab, float *lp);

/* ---- logits files ---- */

typedef struct eval_logits {
    medge_map map;
    int kind;          /* EVAL_LOGITS_REF or EVAL_LOGITS_KLD */
    int32_t n_vocab;
    int32_t n_pos;     /* REF: positions; KLD: n_chunk * (n_ctx - 1 - n_ctx/2) scored rows */
    int32_t n_ctx, n_chunk;      /* KLD only */
    const int32_t *tokens;       /* KLD only: n_chunk*n_ctx (unaligned-safe copy) */
    int32_t *tokens_owned;
} eval_logits;
enum { EVAL_LOGITS_REF = 1, EVAL_LOGITS_KLD = 2 };

/* Open either format (detected by the "_logits_" magic); sizes are checked against the file. */
medge_status eval_logits_open(const char *path, eval_logits *out);
void eval_logits_close(eval_logits *l);
/* REF: pointer to the float32 logits of position i (may be unaligned: copy with memcpy). */
const void *eval_logits_row(const eval_logits *l, int32_t i);
/* KLD: pointer to record i (scored rows in file order). */
const void *eval_logits_record(const eval_logits *l, int32_t i);

/* Writer of a llama.cpp KL-divergence base file: header and tokens first, then one record per
 * scored row (n_ctx - 1 - n_ctx/2 rows per chunk, in order). */
typedef struct eval_kld_writer {
    medge_out out;
    int32_t n_vocab, n_ctx, n_chunk;
    uint64_t rows_left;
    uint16_t *rec;
} eval_kld_writer;
medge_status eval_kld_writer_open(eval_kld_writer *w, const char *path, int32_t n_ctx, int32_t n_vocab, int32_t n_chunk,
                                  const int32_t *tokens);
medge_status eval_kld_writer_row(eval_kld_writer *w, const float *logits);
medge_status eval_kld_writer_finish(eval_kld_writer *w); /* checks every row was written */
void eval_kld_writer_abort(eval_kld_writer *w);

/* Read whitespace/comma separated token ids (e.g. reference seq-*.txt); *ids malloc'd. */
medge_status eval_read_token_file(const char *path, int32_t **ids, size_t *n);
#endif
