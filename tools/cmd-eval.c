/* cmd-eval.c - `medge eval`: is the quantized model still as good as the original? Subcommands:
 *   kld  KL divergence, perplexity ratio, same-top-token share and Δp between a base and a model,
 *        from two logits files, with a PASS/FAIL quality gate and an optional report file.
 * The statistics live in the library (runtime/eval.h); this file parses options and prints. */
#include "tool.h"
#include "core/error.h"
#include "core/file.h"
#include "core/json.h"
#include "core/sha256.h"
#include "runtime/eval.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *usage_main =
    "usage: medge eval <kind> [options]   (medge eval <kind> --help for details)\n"
    "\n"
    "kinds:\n"
    "  kld   KL divergence, perplexity ratio and top-token agreement of a model against its base\n";

static const char *usage_kld =
    "usage: medge eval kld --base-logits A.bin --logits B.bin [options]\n"
    "\n"
    "Compare a model's next-token distributions with its base model's, position by position:\n"
    "KL(base || model) (mean, uncertainty, median, percentiles, min, max), the share of positions\n"
    "where both pick the same top token, and, when the next tokens are known, the perplexity of\n"
    "both, their ratio and difference (with uncertainties and correlation) and the change of the\n"
    "probability of the true next token (Δp). Statistics follow llama-perplexity's KL-divergence mode.\n"
    "Ends with the quality gate: PASS when mean KLD <= --max-kld and same top >= --min-same-top.\n"
    "\n"
    "inputs:\n"
    "  --base-logits A   logits of the base model, either\n"
    "                    - the reference format: i32 n_positions, i32 n_vocab, then n_positions x\n"
    "                      n_vocab float32 (little endian), or\n"
    "                    - llama.cpp's KL-divergence base file (llama-perplexity\n"
    "                      --kl-divergence-base: \"_logits_\" header, tokens, 16-bit log-probs)\n"
    "  --logits B        logits of the model in the same format and shape as A (B may be a\n"
    "                    llama.cpp base file only when A is one too; their tokens must agree)\n"
    "  --tokens FILE     token ids of the sequence behind reference-format logits (whitespace or\n"
    "                    comma separated; position i predicts token i+1): adds perplexity and Δp.\n"
    "                    llama.cpp base files carry their tokens and always get them.\n"
    "\n"
    "output:\n"
    "  --json            print the statistics as JSON instead of text\n"
    "  --report FILE     also write a report with thresholds and PASS/FAIL: FILE ending in .json\n"
    "                    gives JSON, anything else Markdown; includes the inputs' SHA-256\n"
    "  --max-kld X       gate: largest acceptable mean KL divergence (default 0.05)\n"
    "  --min-same-top X  gate: smallest acceptable same-top-token share, 0..1 (default 0.90)\n"
    "  --strict          exit with status 3 when the gate fails\n"
    "  -h, --help        show this help\n"
    "\n"
    "exit status: 0 done (whatever the gate says, unless --strict), 1 error, 2 bad usage,\n"
    "3 gate failed with --strict\n";

typedef struct gate {
    double max_kld, min_same_top;
    int kld_pass, top_pass;
} gate;

static int file_sha256(const char *path, char hex[65])
{
    medge_map m;
    if (medge_map_file(path, &m) != MEDGE_OK)
        return 0;
    medge_sha256_hex(m.data ? m.data : (const uint8_t *)"", (size_t)m.size, hex);
    medge_unmap(&m);
    return 1;
}

static void json_stats(medge_buf *b, const eval_kld_stats *s, const gate *g, const char *base, const char *model)
{
    medge_buf_puts(b, "{\"kind\": \"kld\", \"base\": ");
    medge_buf_json_str(b, base, strlen(base));
    medge_buf_puts(b, ", \"model\": ");
    medge_buf_json_str(b, model, strlen(model));
    medge_buf_printf(b, ",\n \"positions\": %llu, \"scored\": %llu,\n \"kld\": {\"mean\": ", (unsigned long long)s->n,
                     (unsigned long long)s->n_scored);
    medge_buf_json_num(b, s->kld_mean);
    medge_buf_puts(b, ", \"mean_unc\": ");
    medge_buf_json_num(b, s->kld_mean_unc);
    medge_buf_puts(b, ", \"median\": ");
    medge_buf_json_num(b, s->kld_median);
    medge_buf_puts(b, ", \"min\": ");
    medge_buf_json_num(b, s->kld_min);
    medge_buf_puts(b, ", \"max\": ");
    medge_buf_json_num(b, s->kld_max);
    for (int i = 0; i < EVAL_KLD_NPCT; i++) {
        medge_buf_printf(b, ", \"p%g\": ", eval_kld_pct[i] * 100);
        medge_buf_json_num(b, s->kld_pct[i]);
    }
    medge_buf_puts(b, "},\n \"same_top\": ");
    medge_buf_json_num(b, s->same_top);
    medge_buf_puts(b, ", \"same_top_unc\": ");
    medge_buf_json_num(b, s->same_top_unc);
    if (s->n_scored) {
        const struct {
            const char *k;
            double v;
        } ppl[] = {{"ppl_model", s->ppl_model},   {"ppl_model_unc", s->ppl_model_unc}, {"ppl_base", s->ppl_base},
                   {"ppl_base_unc", s->ppl_base_unc}, {"cor", s->cor},                 {"ln_ratio", s->ln_ratio},
                   {"ln_ratio_unc", s->ln_ratio_unc}, {"ratio", s->ppl_ratio},        {"ratio_unc", s->ppl_ratio_unc},
                   {"diff", s->ppl_diff},         {"diff_unc", s->ppl_diff_unc}};
        medge_buf_puts(b, ",\n \"ppl\": {");
        for (size_t i = 0; i < sizeof ppl / sizeof ppl[0]; i++) {
            medge_buf_printf(b, "%s\"%s\": ", i ? ", " : "", ppl[i].k);
            medge_buf_json_num(b, ppl[i].v);
        }
        medge_buf_puts(b, "},\n \"dp\": {\"mean\": ");
        medge_buf_json_num(b, s->dp_mean);
        medge_buf_puts(b, ", \"mean_unc\": ");
        medge_buf_json_num(b, s->dp_mean_unc);
        medge_buf_puts(b, ", \"rms\": ");
        medge_buf_json_num(b, s->dp_rms);
        medge_buf_puts(b, ", \"rms_unc\": ");
        medge_buf_json_num(b, s->dp_rms_unc);
        medge_buf_puts(b, ", \"median\": ");
        medge_buf_json_num(b, s->dp_median);
        medge_buf_puts(b, ", \"min\": ");
        medge_buf_json_num(b, s->dp_min);
        medge_buf_puts(b, ", \"max\": ");
        medge_buf_json_num(b, s->dp_max);
        for (int i = 0; i < EVAL_DP_NPCT; i++) {
            medge_buf_printf(b, ", \"p%g\": ", eval_dp_pct[i] * 100);
            medge_buf_json_num(b, s->dp_pct[i]);
        }
        medge_buf_puts(b, "}");
    }
    medge_buf_puts(b, ",\n \"gate\": {\"max_kld\": ");
    medge_buf_json_num(b, g->max_kld);
    medge_buf_puts(b, ", \"min_same_top\": ");
    medge_buf_json_num(b, g->min_same_top);
    medge_buf_printf(b, ", \"kld_pass\": %s, \"same_top_pass\": %s, \"pass\": %s}}\n", g->kld_pass ? "true" : "false",
                     g->top_pass ? "true" : "false", g->kld_pass && g->top_pass ? "true" : "false");
}

static void text_stats(FILE *f, const eval_kld_stats *s, const gate *g)
{
    if (s->n_scored) {
        fprintf(f, "Mean PPL(Q)                   : %10.6f ± %10.6f\n", s->ppl_model, s->ppl_model_unc);
        fprintf(f, "Mean PPL(base)                : %10.6f ± %10.6f\n", s->ppl_base, s->ppl_base_unc);
        fprintf(f, "Cor(ln(PPL(Q)), ln(PPL(base))): %6.2f%%\n", 100 * s->cor);
        fprintf(f, "Mean ln(PPL(Q)/PPL(base))     : %10.6f ± %10.6f\n", s->ln_ratio, s->ln_ratio_unc);
        fprintf(f, "Mean PPL(Q)/PPL(base)         : %10.6f ± %10.6f\n", s->ppl_ratio, s->ppl_ratio_unc);
        fprintf(f, "Mean PPL(Q)-PPL(base)         : %10.6f ± %10.6f\n\n", s->ppl_diff, s->ppl_diff_unc);
    }
    fprintf(f, "====== KL divergence statistics (%llu positions) ======\n", (unsigned long long)s->n);
    fprintf(f, "Mean    KLD: %10.6f ± %10.6f\n", s->kld_mean, s->kld_mean_unc);
    fprintf(f, "Maximum KLD: %10.6f\n", s->kld_max);
    for (int i = 0; i < 4; i++)
        fprintf(f, "%4.1f%%   KLD: %10.6f\n", eval_kld_pct[i] * 100, s->kld_pct[i]);
    fprintf(f, "Median  KLD: %10.6f\n", s->kld_median);
    for (int i = 4; i < EVAL_KLD_NPCT; i++)
        fprintf(f, "%4.1f%%   KLD: %10.6f\n", eval_kld_pct[i] * 100, s->kld_pct[i]);
    fprintf(f, "Minimum KLD: %10.6f\n\n", s->kld_min);
    fprintf(f, "====== Token probability statistics ======\n");
    if (s->n_scored) {
        fprintf(f, "Mean    Δp: %6.3f ± %5.3f %%\n", 100 * s->dp_mean, 100 * s->dp_mean_unc);
        fprintf(f, "Maximum Δp: %6.3f%%\n", 100 * s->dp_max);
        for (int i = 0; i < 5; i++)
            fprintf(f, "%4.1f%%   Δp: %6.3f%%\n", eval_dp_pct[i] * 100, 100 * s->dp_pct[i]);
        fprintf(f, "Median  Δp: %6.3f%%\n", 100 * s->dp_median);
        for (int i = 5; i < EVAL_DP_NPCT; i++)
            fprintf(f, "%4.1f%%   Δp: %6.3f%%\n", eval_dp_pct[i] * 100, 100 * s->dp_pct[i]);
        fprintf(f, "Minimum Δp: %6.3f%%\n", 100 * s->dp_min);
        fprintf(f, "RMS Δp    : %6.3f ± %5.3f %%\n", 100 * s->dp_rms, 100 * s->dp_rms_unc);
    }
    fprintf(f, "Same top p: %6.3f ± %5.3f %%\n\n", 100 * s->same_top, 100 * s->same_top_unc);
    fprintf(f, "quality gate: mean KLD %.6f <= %g %s; same top token %.2f%% >= %.2f%% %s -> %s\n", s->kld_mean, g->max_kld,
            g->kld_pass ? "PASS" : "FAIL", 100 * s->same_top, 100 * g->min_same_top, g->top_pass ? "PASS" : "FAIL",
            g->kld_pass && g->top_pass ? "PASS" : "FAIL");
}

static int write_report(const char *path, const eval_kld_stats *s, const gate *g, const char *base, const char *model)
{
    char hb[65] = "?", hm[65] = "?";
    file_sha256(base, hb);
    file_sha256(model, hm);
    medge_buf b = {0};
    size_t n = strlen(path);
    if (n > 5 && strcmp(path + n - 5, ".json") == 0) {
        medge_buf tmp = {0};
        json_stats(&tmp, s, g, base, model);
        /* splice the hashes in before the closing brace */
        if (tmp.len > 2) {
            medge_buf_append(&b, tmp.data, tmp.len - 2);
            medge_buf_printf(&b, ",\n \"base_sha256\": \"%s\", \"model_sha256\": \"%s\", \"medge\": \"%s\"}\n", hb, hm,
                             medge_version());
        }
        medge_buf_free(&tmp);
    } else {
        medge_buf_printf(&b, "# medge quality report: KL divergence\n\n");
        medge_buf_printf(&b, "| input | file | SHA-256 |\n|---|---|---|\n| base | `%s` | `%s` |\n| model | `%s` | `%s` |\n\n", base, hb,
                         model, hm);
        medge_buf_printf(&b, "| check | value | threshold | result |\n|---|---|---|---|\n");
        medge_buf_printf(&b, "| mean KL divergence (nats) | %.6f ± %.6f | <= %g | %s |\n", s->kld_mean, s->kld_mean_unc, g->max_kld,
                         g->kld_pass ? "PASS" : "FAIL");
        medge_buf_printf(&b, "| same top token | %.2f%% ± %.2f%% | >= %.2f%% | %s |\n", 100 * s->same_top, 100 * s->same_top_unc,
                         100 * g->min_same_top, g->top_pass ? "PASS" : "FAIL");
        medge_buf_printf(&b, "\n**Verdict: %s**\n\n", g->kld_pass && g->top_pass ? "PASS" : "FAIL");
        medge_buf_printf(&b, "Details: %llu positions; KLD median %.6f, 99%% %.6f, max %.6f.\n", (unsigned long long)s->n,
                         s->kld_median, s->kld_pct[1], s->kld_max);
        if (s->n_scored)
            medge_buf_printf(&b, "Perplexity: model %.4f, base %.4f, ratio %.6f ± %.6f; RMS Δp %.3f%%; %llu scored positions.\n",
                             s->ppl_model, s->ppl_base, s->ppl_ratio, s->ppl_ratio_unc, 100 * s->dp_rms,
                             (unsigned long long)s->n_scored);
        medge_buf_printf(&b, "\nmedge %s\n", medge_version());
    }
    int ok = !b.oom;
    medge_out o;
    if (ok && (medge_out_open(&o, path) != MEDGE_OK || medge_out_write(&o, b.data, b.len) != MEDGE_OK ||
               medge_out_commit(&o) != MEDGE_OK)) {
        medge_out_abort(&o);
        ok = 0;
    }
    medge_buf_free(&b);
    if (!ok)
        return tool_fail("eval kld", MEDGE_ERR_IO);
    return 0;
}

static int parse_double(const char *s, double *out)
{
    char *end;
    *out = strtod(s, &end);
    return end != s && *end == 0 && isfinite(*out);
}

/* Both logits files; fills the accumulator. */
static medge_status compare_files(const char *base_path, const char *model_path, const char *tokens_path, eval_kld **out)
{
    eval_logits a, b;
    int32_t *tok = NULL;
    size_t n_tok = 0;
    eval_kld *k = NULL;
    *out = NULL;
    MEDGE_TRY(eval_logits_open(base_path, &a));
    medge_status rc = eval_logits_open(model_path, &b);
    if (rc != MEDGE_OK) {
        eval_logits_close(&a);
        return rc;
    }
    float *row = NULL;
    if (a.n_vocab != b.n_vocab) {
        rc = medge_err(MEDGE_ERR_MISMATCH, "different vocabularies: %s has %d logits per position, %s has %d", base_path,
                       (int)a.n_vocab, model_path, (int)b.n_vocab);
        goto done;
    }
    if (a.kind == EVAL_LOGITS_REF && b.kind != EVAL_LOGITS_REF) {
        rc = medge_err(MEDGE_ERR_MISMATCH, "%s holds logits, but %s is a llama.cpp KL-divergence base file", base_path, model_path);
        goto done;
    }
    if (a.n_pos != b.n_pos || (a.kind == EVAL_LOGITS_KLD && b.kind == EVAL_LOGITS_KLD && (a.n_ctx != b.n_ctx || a.n_chunk != b.n_chunk))) {
        rc = medge_err(MEDGE_ERR_MISMATCH, "%s has %d positions, %s has %d", base_path, (int)a.n_pos, model_path, (int)b.n_pos);
        goto done;
    }
    if (a.kind == EVAL_LOGITS_KLD && b.kind == EVAL_LOGITS_KLD &&
        memcmp(a.tokens, b.tokens, (size_t)a.n_ctx * (size_t)a.n_chunk * 4) != 0) {
        rc = medge_err(MEDGE_ERR_MISMATCH, "%s and %s were computed on different tokens", base_path, model_path);
        goto done;
    }
    if (tokens_path) {
        if (a.kind != EVAL_LOGITS_REF) {
            rc = medge_err(MEDGE_ERR_INVALID_ARG, "--tokens is for reference-format logits; %s carries its tokens", base_path);
            goto done;
        }
        if ((rc = eval_read_token_file(tokens_path, &tok, &n_tok)) != MEDGE_OK)
            goto done;
        if (n_tok != (size_t)a.n_pos && n_tok != (size_t)a.n_pos + 1) {
            rc = medge_err(MEDGE_ERR_MISMATCH, "%s has %zu tokens for %d positions", tokens_path, n_tok, (int)a.n_pos);
            goto done;
        }
        for (size_t i = 0; i < n_tok; i++)
            if (tok[i] >= a.n_vocab) {
                rc = medge_err(MEDGE_ERR_RANGE, "%s: token %zu is %d, outside the vocabulary of %d", tokens_path, i, (int)tok[i],
                               (int)a.n_vocab);
                goto done;
            }
    }
    if ((rc = eval_kld_new(a.n_vocab, &k)) != MEDGE_OK)
        goto done;
    row = malloc((size_t)a.n_vocab * sizeof *row * 2);
    uint16_t *rec = malloc(eval_record_len(a.n_vocab) * 2);
    if (!row || !rec) {
        free(rec);
        rc = medge_err(MEDGE_ERR_NOMEM, "out of memory");
        goto done;
    }
    float *row2 = row + a.n_vocab;
    if (a.kind == EVAL_LOGITS_REF) {
        for (int32_t i = 0; i < a.n_pos && rc == MEDGE_OK; i++) {
            memcpy(row, eval_logits_row(&a, i), (size_t)a.n_vocab * 4);
            memcpy(row2, eval_logits_row(&b, i), (size_t)a.n_vocab * 4);
            int32_t next = tok && (size_t)i + 1 < n_tok ? tok[i + 1] : -1;
            rc = eval_kld_add(k, row, row2, next);
        }
    } else {
        /* Both llama.cpp base files: the model side is decoded log-probs (a constant shift of its
         * logits, which log-softmax ignores). Targets come from the tokens, as llama.cpp scores. */
        int32_t per = a.n_ctx - 1 - a.n_ctx / 2, first = a.n_ctx / 2;
        for (int32_t i = 0; i < a.n_pos && rc == MEDGE_OK; i++) {
            int32_t c = i / per, r = first + i % per;
            memcpy(rec, eval_logits_record(&b, i), eval_record_len(a.n_vocab) * 2);
            eval_record_decode(rec, a.n_vocab, row2);
            memcpy(rec, eval_logits_record(&a, i), eval_record_len(a.n_vocab) * 2);
            rc = eval_kld_add_record(k, rec, row2, a.tokens[(size_t)c * (size_t)a.n_ctx + (size_t)r + 1]);
        }
    }
    free(rec);
done:
    free(row);
    free(tok);
    eval_logits_close(&a);
    eval_logits_close(&b);
    if (rc != MEDGE_OK) {
        eval_kld_free(k);
        return rc;
    }
    *out = k;
    return MEDGE_OK;
}

static int run_kld(int argc, char **argv)
{
    const char *base_logits = NULL, *logits = NULL, *tokens = NULL, *report = NULL;
    int json = 0, strict = 0;
    gate g = {0.05, 0.90, 0, 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage_kld, stdout);
            return 0;
        } else if (strcmp(a, "--base-logits") == 0 && has) {
            base_logits = argv[++i];
        } else if (strcmp(a, "--logits") == 0 && has) {
            logits = argv[++i];
        } else if (strcmp(a, "--tokens") == 0 && has) {
            tokens = argv[++i];
        } else if (strcmp(a, "--report") == 0 && has) {
            report = argv[++i];
        } else if (strcmp(a, "--json") == 0) {
            json = 1;
        } else if (strcmp(a, "--strict") == 0) {
            strict = 1;
        } else if (strcmp(a, "--max-kld") == 0 && has) {
            if (!parse_double(argv[++i], &g.max_kld) || g.max_kld < 0) {
                fprintf(stderr, "medge eval kld: --max-kld needs a number >= 0\n");
                return 2;
            }
        } else if (strcmp(a, "--min-same-top") == 0 && has) {
            if (!parse_double(argv[++i], &g.min_same_top) || g.min_same_top < 0 || g.min_same_top > 1) {
                fprintf(stderr, "medge eval kld: --min-same-top needs a number in 0..1\n");
                return 2;
            }
        } else {
            fprintf(stderr, "medge eval kld: unknown or incomplete option '%s'\n\n%s", a, usage_kld);
            return 2;
        }
    }
    if (!base_logits || !logits) {
        fprintf(stderr, "medge eval kld: give --base-logits and --logits\n\n%s", usage_kld);
        return 2;
    }
    eval_kld *k = NULL;
    medge_status rc = compare_files(base_logits, logits, tokens, &k);
    if (rc != MEDGE_OK)
        return tool_fail("eval kld", rc);
    eval_kld_stats s;
    rc = eval_kld_stats_get(k, &s);
    eval_kld_free(k);
    if (rc != MEDGE_OK)
        return tool_fail("eval kld", rc);
    g.kld_pass = s.kld_mean <= g.max_kld;
    g.top_pass = s.same_top >= g.min_same_top;
    if (json) {
        medge_buf b = {0};
        json_stats(&b, &s, &g, base_logits, logits);
        fwrite(b.data, 1, b.len, stdout);
        medge_buf_free(&b);
    } else {
        printf("base:  %s\nmodel: %s\n%llu positions, %llu with a known next token\n\n", base_logits, logits, (unsigned long long)s.n,
               (unsigned long long)s.n_scored);
        text_stats(stdout, &s, &g);
    }
    if (report && write_report(report, &s, &g, base_logits, logits) != 0)
        return 1;
    return strict && !(g.kld_pass && g.top_pass) ? 3 : 0;
}

static int run(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        fputs(usage_main, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "kld") == 0)
        return run_kld(argc - 1, argv + 1);
    fprintf(stderr, "medge eval: unknown kind '%s'\n\n%s", argv[1], usage_main);
    return 2;
}

const struct medge_cmd medge_cmd_eval = {"eval", "quality gate: KL divergence and perplexity of a model against its base", run};
