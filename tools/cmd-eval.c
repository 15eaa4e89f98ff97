/* cmd-eval.c - `medge eval`: is the quantized model still as good as the original? Subcommands:
 *   kld  KL divergence, perplexity ratio, same-top-token share and Δp between a base and a model,
 *        from two logits files, with a PASS/FAIL quality gate and an optional report file.
 * The statistics live in the library (runtime/eval.h); this file parses options and prints. */
#include "tool.h"
#include "codec/codecs.h"
#include "common/labels.h"
#include "core/error.h"
#include "core/file.h"
#include "core/json.h"
#include "core/sha256.h"
#include "formats/gguf.h"
#include "formats/info.h"
#include "quant/recipe.h"
#include "runtime/eval.h"
#include "runtime/mcq.h"
#include "text/chat.h"
#include "text/spm.h"

#include <unistd.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *usage_main =
    "usage: medge eval <kind> [options]   (medge eval <kind> --help for details)\n"
    "\n"
    "kinds:\n"
    "  kld   KL divergence, perplexity ratio and top-token agreement of a model against its base\n"
    "  mcq   multiple-choice accuracy (MedQA / MedMCQA / PubMedQA style), alone or against a base\n"
    "  clip  BiomedCLIP fidelity: embedding cosine, zero-shot agreement and probability shift\n";

static const char *usage_kld =
    "usage: medge eval kld --base BASE.gguf --model MODEL.gguf -f TEXT [options]\n"
    "       medge eval kld --base-logits BASE.kld --model MODEL.gguf [options]\n"
    "       medge eval kld --base-logits A.bin --logits B.bin [--tokens FILE] [options]\n"
    "\n"
    "Compare a model's next-token distributions with its base model's, position by position:\n"
    "KL(base || model) (mean, uncertainty, median, percentiles, min, max), the share of positions\n"
    "where both pick the same top token, and, when the next tokens are known, the perplexity of\n"
    "both, their ratio and difference (with uncertainties and correlation) and the change of the\n"
    "probability of the true next token (Δp). Statistics follow llama-perplexity's KL-divergence mode.\n"
    "Ends with the quality gate: PASS when mean KLD <= --max-kld and same top >= --min-same-top.\n"
    "\n"
    "running the models (as llama-perplexity): the text is tokenized with the base model's\n"
    "vocabulary (one trailing newline removed, BOS added), cut into chunks of -c tokens whose first\n"
    "token is replaced by BOS; the second half of each chunk is scored. The base model runs first\n"
    "and its 16-bit log-probs go to a llama.cpp KL-divergence base file (--save-base, else a\n"
    "temporary file), then the model runs; only one model is in memory at a time.\n"
    "  --base FILE       the reference model (e.g. F16 or BF16 GGUF)\n"
    "  --model FILE      the model to judge (e.g. the Q4_K_S GGUF)\n"
    "  -f, --file TEXT   text to evaluate on (needs at least 2 chunks of tokens)\n"
    "  -c, --ctx N       tokens per chunk (default 512; at most the model's training context)\n"
    "  --chunks N        use at most N chunks (default: all)\n"
    "  --save-base FILE  keep the base model's log-probs (llama-perplexity --kl-divergence-base\n"
    "                    format) to reuse with --base-logits, so the big model runs once\n"
    "  -t, --threads N   worker threads (default: all cores)\n"
    "  -q, --quiet       no progress on stderr\n"
    "\n"
    "from files:\n"
    "  --base-logits A   logits of the base model, either\n"
    "                    - llama.cpp's KL-divergence base file (from --save-base or llama-perplexity\n"
    "                      --kl-divergence-base: \"_logits_\" header, tokens, 16-bit log-probs); with\n"
    "                      --model the model runs on the file's own tokens and chunk size, or\n"
    "                    - the reference format: i32 n_positions, i32 n_vocab, then n_positions x\n"
    "                      n_vocab float32 (little endian)\n"
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

/* Where a model file comes from, for reports: architecture, llama.cpp file type, tensor types
 * by count and the importance matrix it was quantized with. One line, no trailing newline. */
static void provenance(medge_buf *b, const char *path)
{
    gguf_ctx *g = NULL;
    if (gguf_open(path, &g) != MEDGE_OK) {
        medge_buf_puts(b, "not a GGUF (a logits file)");
        return;
    }
    const char *arch = "?", *imat = NULL;
    uint32_t ft = 0;
    gguf_get_str(g, "general.architecture", &arch);
    medge_buf_printf(b, "%s", arch);
    if (gguf_get_u32(g, "general.file_type", &ft) == MEDGE_OK)
        medge_buf_printf(b, ", file type %s", quant_ftype_name((int)ft) ? quant_ftype_name((int)ft) : "?");
    uint64_t count[GGML_TYPE_COUNT + 1] = {0}; /* slot GGML_TYPE_COUNT: MEDGE_TYPE_I8_PC */
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if (g->tensors[i].type < GGML_TYPE_COUNT)
            count[g->tensors[i].type]++;
        else if (g->tensors[i].type == (uint32_t)MEDGE_TYPE_I8_PC)
            count[GGML_TYPE_COUNT]++;
    medge_buf_puts(b, ", tensors:");
    for (int t = 0; t <= GGML_TYPE_COUNT; t++)
        if (count[t])
            medge_buf_printf(b, " %llu %s", (unsigned long long)count[t],
                             quant_type_name(t == GGML_TYPE_COUNT ? (uint32_t)MEDGE_TYPE_I8_PC : (uint32_t)t));
    if (gguf_get_str(g, "quantize.imatrix.file", &imat) == MEDGE_OK) {
        uint32_t chunks = 0;
        const char *ds = NULL;
        medge_buf_printf(b, ", imatrix %s", imat);
        if (gguf_get_str(g, "quantize.imatrix.dataset", &ds) == MEDGE_OK)
            medge_buf_printf(b, " (dataset %s", ds);
        if (gguf_get_u32(g, "quantize.imatrix.chunks_count", &chunks) == MEDGE_OK)
            medge_buf_printf(b, "%s%u chunks", ds ? ", " : " (", chunks);
        if (ds || chunks)
            medge_buf_puts(b, ")");
    } else {
        medge_buf_puts(b, ", no imatrix");
    }
    gguf_close(g);
    medge_err_clear();
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

/* Write a finished report buffer to path in one piece (temporary file renamed into place) and
 * free it; 0 on success, else the tool's error status. */
static int write_report_buf(const char *path, medge_buf *b, const char *cmd)
{
    int ok = !b->oom;
    medge_out o;
    if (ok && (medge_out_open(&o, path) != MEDGE_OK || medge_out_write(&o, b->data, b->len) != MEDGE_OK ||
               medge_out_commit(&o) != MEDGE_OK)) {
        medge_out_abort(&o);
        ok = 0;
    }
    medge_buf_free(b);
    return ok ? 0 : tool_fail(cmd, MEDGE_ERR_IO);
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
            medge_buf pb = {0}, pm = {0};
            provenance(&pb, base);
            provenance(&pm, model);
            medge_buf_printf(&b, ",\n \"base_sha256\": \"%s\", \"model_sha256\": \"%s\", \"base_provenance\": ", hb, hm);
            medge_buf_json_str(&b, pb.data ? pb.data : "", pb.len);
            medge_buf_puts(&b, ", \"model_provenance\": ");
            medge_buf_json_str(&b, pm.data ? pm.data : "", pm.len);
            medge_buf_printf(&b, ", \"medge\": \"%s\"}\n", medge_version());
            medge_buf_free(&pb);
            medge_buf_free(&pm);
        }
        medge_buf_free(&tmp);
    } else {
        medge_buf_printf(&b, "# medge quality report: KL divergence\n\n");
        medge_buf pb = {0}, pm = {0};
        provenance(&pb, base);
        provenance(&pm, model);
        medge_buf_printf(&b, "| input | file | SHA-256 | provenance |\n|---|---|---|---|\n| base | `%s` | `%s` | %s |\n"
                             "| model | `%s` | `%s` | %s |\n\n",
                         base, hb, pb.data ? pb.data : "", model, hm, pm.data ? pm.data : "");
        medge_buf_free(&pb);
        medge_buf_free(&pm);
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
    return write_report_buf(path, &b, "eval kld");
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

/* ---- running models (end to end) ---- */

typedef struct text_tokens {
    int32_t *ids;
    size_t n;
    int32_t bos;
    int32_t n_vocab;
    char tok_sha[65]; /* hash of the vocabulary's token list, to compare two models */
} text_tokens;

/* Tokenize a text file as llama-perplexity does: one trailing newline removed, BOS added when the
 * model asks for it, special-token text left as text. */
static medge_status tokenize_file(const char *model_path, const char *text_path, int n_ctx, text_tokens *tt)
{
    memset(tt, 0, sizeof *tt);
    gguf_ctx *g = NULL;
    spm_vocab *v = NULL;
    medge_map m = {0};
    MEDGE_TRY(gguf_open(model_path, &g));
    medge_status rc = MEDGE_OK;
    const char *arch = NULL;
    uint32_t ctx_train = 0;
    if (gguf_get_str(g, "general.architecture", &arch) == MEDGE_OK) {
        char key[128];
        snprintf(key, sizeof key, "%s.context_length", arch);
        if (gguf_get_u32(g, key, &ctx_train) == MEDGE_OK && (uint32_t)n_ctx > ctx_train)
            rc = medge_err(MEDGE_ERR_RANGE, "-c %d is larger than the context %s was trained for (%u)", n_ctx, model_path, ctx_train);
    }
    if (rc == MEDGE_OK)
        rc = spm_load_gguf(g, &v);
    if (rc == MEDGE_OK) {
        const gguf_value *toks = gguf_get(g, "tokenizer.ggml.tokens");
        if (!toks || !info_gguf_array_sha256(toks, tt->tok_sha))
            rc = medge_err(MEDGE_ERR_FORMAT, "%s: no tokenizer.ggml.tokens array", model_path);
    }
    if (rc == MEDGE_OK)
        rc = medge_read_file(text_path, &m);
    if (rc == MEDGE_OK) {
        size_t n = (size_t)m.size;
        if (n && m.data[n - 1] == '\n')
            n--;
        bool add_bos = true;
        if (gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &add_bos) != MEDGE_OK)
            add_bos = true;
        if (n == 0)
            rc = medge_err(MEDGE_ERR_INVALID_ARG, "%s: the text is empty", text_path);
        else
            rc = spm_encode(v, (const char *)m.data, n, add_bos ? SPM_ADD_BOS : 0, &tt->ids, &tt->n);
        tt->bos = spm_specials(v)->bos;
        tt->n_vocab = spm_n_vocab(v);
    }
    medge_unmap(&m);
    spm_free(v);
    gguf_close(g);
    return rc;
}

/* Logits of the scored rows (first .. n_ctx-2) of one chunk, a few rows at a time, to fn. */
typedef medge_status (*row_fn)(void *user, int32_t row, const float *logits);
#define ROWS_AT_ONCE 16

static medge_status run_chunk(medge_session *s, int32_t *chunk, int n_ctx, int32_t bos, int n_vocab, float *buf, row_fn fn,
                              void *user)
{
    int first = n_ctx / 2;
    MEDGE_TRY(medge_session_rewind(s, 0));
    int32_t save = chunk[0]; /* the first token is replaced by BOS (not shifted), then restored */
    if (bos >= 0)
        chunk[0] = bos;
    medge_status rc = medge_session_eval(s, chunk, first);
    chunk[0] = save;
    for (int r = first; rc == MEDGE_OK && r < n_ctx - 1; r += ROWS_AT_ONCE) {
        int n = n_ctx - 1 - r < ROWS_AT_ONCE ? n_ctx - 1 - r : ROWS_AT_ONCE;
        rc = medge_session_eval_all(s, chunk + r, n, buf);
        for (int i = 0; rc == MEDGE_OK && i < n; i++)
            rc = fn(user, r + i, buf + (size_t)i * (size_t)n_vocab);
    }
    return rc;
}

typedef struct kld_run {
    eval_kld_writer *w;  /* base pass */
    eval_kld *k;         /* model pass */
    const eval_logits *base;
    const int32_t *chunk_tokens;
    int32_t chunk, n_ctx;
    uint16_t *rec;
    size_t rec_len;
} kld_run;

static medge_status base_row(void *user, int32_t row, const float *logits)
{
    (void)row;
    return eval_kld_writer_row(((kld_run *)user)->w, logits);
}

static medge_status model_row(void *user, int32_t row, const float *logits)
{
    kld_run *kr = user;
    int32_t per = kr->n_ctx - 1 - kr->n_ctx / 2;
    int32_t i = kr->chunk * per + (row - kr->n_ctx / 2);
    memcpy(kr->rec, eval_logits_record(kr->base, i), kr->rec_len * 2);
    return eval_kld_add_record(kr->k, kr->rec, logits, kr->chunk_tokens[row + 1]);
}

static medge_status open_session(const char *path, int n_ctx, int n_threads, medge_model **m, medge_session **s)
{
    *m = NULL;
    *s = NULL;
    MEDGE_TRY(medge_model_load(path, medge_model_default_params(), m));
    if (n_ctx > medge_model_n_ctx_train(*m)) {
        medge_status rc = medge_err(MEDGE_ERR_RANGE, "-c %d is larger than the context %s was trained for (%d)", n_ctx, path,
                                    medge_model_n_ctx_train(*m));
        medge_model_free(*m);
        *m = NULL;
        return rc;
    }
    medge_session_params sp = medge_session_default_params();
    sp.n_ctx = n_ctx;
    sp.n_batch = n_ctx < 512 ? n_ctx : 512;
    if (n_threads > 0)
        sp.n_threads = n_threads;
    medge_status rc = medge_session_new(*m, sp, s);
    if (rc != MEDGE_OK) {
        medge_model_free(*m);
        *m = NULL;
    }
    return rc;
}

/* The base model's log-prob records for every chunk, written as a llama.cpp base file. */
static medge_status run_base(const char *base_path, const text_tokens *tt, int n_ctx, int n_chunk, int n_threads,
                             const char *out_path, int quiet)
{
    medge_model *m;
    medge_session *s;
    MEDGE_TRY(open_session(base_path, n_ctx, n_threads, &m, &s));
    int n_vocab = medge_model_n_vocab(m);
    eval_kld_writer w;
    float *buf = malloc((size_t)ROWS_AT_ONCE * (size_t)n_vocab * sizeof *buf);
    medge_status rc = buf ? eval_kld_writer_open(&w, out_path, n_ctx, n_vocab, n_chunk, tt->ids)
                          : medge_err(MEDGE_ERR_NOMEM, "out of memory");
    kld_run kr = {.w = &w};
    double t0 = tool_now();
    for (int c = 0; rc == MEDGE_OK && c < n_chunk; c++) {
        rc = run_chunk(s, tt->ids + (size_t)c * (size_t)n_ctx, n_ctx, tt->bos, n_vocab, buf, base_row, &kr);
        if (!quiet)
            fprintf(stderr, "\rbase:  chunk %d/%d  %.1f s", c + 1, n_chunk, tool_now() - t0);
    }
    if (!quiet)
        fputc('\n', stderr);
    if (buf) {
        if (rc == MEDGE_OK)
            rc = eval_kld_writer_finish(&w);
        else
            eval_kld_writer_abort(&w);
    }
    free(buf);
    medge_session_free(s);
    medge_model_free(m);
    return rc;
}

static medge_status run_model(const char *model_path, const eval_logits *base, int n_threads, int n_chunk, int quiet, eval_kld **out)
{
    medge_model *m;
    medge_session *s;
    *out = NULL;
    MEDGE_TRY(open_session(model_path, base->n_ctx, n_threads, &m, &s));
    int n_vocab = medge_model_n_vocab(m);
    medge_status rc = MEDGE_OK;
    if (n_vocab != base->n_vocab)
        rc = medge_err(MEDGE_ERR_MISMATCH, "different vocabularies: the base has %d tokens, %s has %d", (int)base->n_vocab, model_path,
                       n_vocab);
    eval_kld *k = NULL;
    float *buf = malloc((size_t)ROWS_AT_ONCE * (size_t)n_vocab * sizeof *buf);
    kld_run kr = {.base = base, .n_ctx = base->n_ctx, .rec_len = eval_record_len(n_vocab)};
    kr.rec = malloc(kr.rec_len * 2);
    if (rc == MEDGE_OK && (!buf || !kr.rec))
        rc = medge_err(MEDGE_ERR_NOMEM, "out of memory");
    if (rc == MEDGE_OK)
        rc = eval_kld_new(n_vocab, &k);
    kr.k = k;
    int32_t bos = medge_model_bos(m);
    double t0 = tool_now();
    /* chunk tokens are taken from the base file: the same tokens the base saw */
    int32_t *tok = malloc((size_t)base->n_ctx * sizeof *tok);
    if (rc == MEDGE_OK && !tok)
        rc = medge_err(MEDGE_ERR_NOMEM, "out of memory");
    for (int c = 0; rc == MEDGE_OK && c < n_chunk; c++) {
        memcpy(tok, base->tokens + (size_t)c * (size_t)base->n_ctx, (size_t)base->n_ctx * sizeof *tok);
        kr.chunk = c;
        kr.chunk_tokens = tok;
        rc = run_chunk(s, tok, base->n_ctx, bos, n_vocab, buf, model_row, &kr);
        if (rc == MEDGE_OK && !quiet) {
            eval_kld_stats st;
            if (eval_kld_stats_get(k, &st) == MEDGE_OK)
                fprintf(stderr, "\rmodel: chunk %d/%d  %.1f s  PPL %.4f  mean KLD %.6f  same top %.2f%%", c + 1, n_chunk,
                        tool_now() - t0, st.ppl_model, st.kld_mean, 100 * st.same_top);
        }
    }
    if (!quiet)
        fputc('\n', stderr);
    free(tok);
    free(buf);
    free(kr.rec);
    medge_session_free(s);
    medge_model_free(m);
    if (rc != MEDGE_OK) {
        eval_kld_free(k);
        return rc;
    }
    *out = k;
    return MEDGE_OK;
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < lo || v > hi)
        return 0;
    *out = (int)v;
    return 1;
}

/* --base/--model/-f, or --base-logits (llama.cpp base file) with --model. */
static medge_status run_models(const char *base, const char *model, const char *text, const char *base_logits, const char *save_base,
                               int n_ctx, int max_chunks, int n_threads, int quiet, eval_kld **out)
{
    *out = NULL;
    char tmp[4096] = "";
    const char *base_file = base_logits;
    medge_status rc = MEDGE_OK;
    if (!base_logits) {
        text_tokens tt;
        MEDGE_TRY(tokenize_file(base, text, n_ctx, &tt));
        /* the model must share the base's vocabulary */
        gguf_ctx *g = NULL;
        rc = gguf_open(model, &g);
        if (rc == MEDGE_OK) {
            const gguf_value *toks = gguf_get(g, "tokenizer.ggml.tokens");
            char h[65];
            if (!toks || !info_gguf_array_sha256(toks, h) || strcmp(h, tt.tok_sha) != 0)
                rc = medge_err(MEDGE_ERR_MISMATCH, "different vocabularies: %s and %s do not have the same token list", base, model);
            gguf_close(g);
        }
        size_t n_chunk = tt.n / (size_t)n_ctx;
        if (rc == MEDGE_OK && n_chunk < 2)
            rc = medge_err(MEDGE_ERR_INVALID_ARG, "%s gives %zu tokens; -c %d needs at least %d (two chunks)", text, tt.n, n_ctx,
                           2 * n_ctx);
        if (max_chunks > 0 && n_chunk > (size_t)max_chunks)
            n_chunk = (size_t)max_chunks;
        if (rc == MEDGE_OK && n_chunk > INT32_MAX / (size_t)n_ctx)
            rc = medge_err(MEDGE_ERR_RANGE, "too many chunks");
        if (rc == MEDGE_OK) {
            if (save_base) {
                base_file = save_base;
            } else {
                const char *dir = getenv("TMPDIR");
                snprintf(tmp, sizeof tmp, "%s/medge-base-%ld.kld", dir && dir[0] ? dir : "/tmp", (long)getpid());
                base_file = tmp;
            }
            if (!quiet)
                fprintf(stderr, "%zu tokens, %zu chunks of %d (scoring %d positions each)\n", tt.n, n_chunk, n_ctx, n_ctx - 1 - n_ctx / 2);
            rc = run_base(base, &tt, n_ctx, (int)n_chunk, n_threads, base_file, quiet);
        }
        free(tt.ids);
        if (rc != MEDGE_OK)
            return rc;
    }
    eval_logits b;
    rc = eval_logits_open(base_file, &b);
    if (rc == MEDGE_OK && b.kind != EVAL_LOGITS_KLD) {
        rc = medge_err(MEDGE_ERR_INVALID_ARG, "%s is not a llama.cpp KL-divergence base file (\"_logits_\"); with --model, "
                                              "--base-logits needs one (e.g. from --save-base)", base_file);
        eval_logits_close(&b);
    }
    if (rc == MEDGE_OK) {
        int n_chunk = b.n_chunk;
        if (base_logits && max_chunks > 0 && n_chunk > max_chunks)
            n_chunk = max_chunks;
        rc = run_model(model, &b, n_threads, n_chunk, quiet, out);
        eval_logits_close(&b);
    }
    if (tmp[0])
        unlink(tmp);
    return rc;
}

static int run_kld(int argc, char **argv)
{
    const char *base_logits = NULL, *logits = NULL, *tokens = NULL, *report = NULL;
    const char *base = NULL, *model = NULL, *text = NULL, *save_base = NULL;
    int json = 0, strict = 0, n_ctx = 512, chunks = 0, threads = 0, quiet = 0;
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
        } else if (strcmp(a, "--base") == 0 && has) {
            base = argv[++i];
        } else if ((strcmp(a, "--model") == 0 || strcmp(a, "-m") == 0) && has) {
            model = argv[++i];
        } else if ((strcmp(a, "-f") == 0 || strcmp(a, "--file") == 0) && has) {
            text = argv[++i];
        } else if (strcmp(a, "--save-base") == 0 && has) {
            save_base = argv[++i];
        } else if ((strcmp(a, "-c") == 0 || strcmp(a, "--ctx") == 0) && has) {
            if (!parse_int(argv[++i], 4, 1 << 20, &n_ctx)) {
                fprintf(stderr, "medge eval kld: -c needs a number of tokens >= 4\n");
                return 2;
            }
        } else if (strcmp(a, "--chunks") == 0 && has) {
            if (!parse_int(argv[++i], 1, INT32_MAX, &chunks)) {
                fprintf(stderr, "medge eval kld: --chunks needs a number >= 1\n");
                return 2;
            }
        } else if ((strcmp(a, "-t") == 0 || strcmp(a, "--threads") == 0) && has) {
            if (!parse_int(argv[++i], 1, 1024, &threads)) {
                fprintf(stderr, "medge eval kld: -t needs a number of threads >= 1\n");
                return 2;
            }
        } else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
            quiet = 1;
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
    eval_kld *k = NULL;
    medge_status rc;
    const char *base_name = base_logits, *model_name = logits;
    if (model) {
        if (logits || tokens) {
            fprintf(stderr, "medge eval kld: --logits and --tokens are for comparing two logits files, not with --model\n");
            return 2;
        }
        if (!base_logits && (!base || !text)) {
            fprintf(stderr, "medge eval kld: with --model give --base and -f TEXT (or --base-logits BASE.kld)\n\n%s", usage_kld);
            return 2;
        }
        if (base_logits && (base || save_base)) {
            fprintf(stderr, "medge eval kld: --base-logits replaces --base / --save-base\n");
            return 2;
        }
        base_name = base_logits ? base_logits : base;
        model_name = model;
        rc = run_models(base, model, text, base_logits, save_base, n_ctx, chunks, threads, quiet || json, &k);
    } else {
        if (!base_logits || !logits) {
            fprintf(stderr, "medge eval kld: give --base, --model and -f, or --base-logits and --logits\n\n%s", usage_kld);
            return 2;
        }
        rc = compare_files(base_logits, logits, tokens, &k);
    }
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
        json_stats(&b, &s, &g, base_name, model_name);
        fwrite(b.data, 1, b.len, stdout);
        medge_buf_free(&b);
    } else {
        printf("base:  %s\nmodel: %s\n%llu positions, %llu with a known next token\n\n", base_name, model_name, (unsigned long long)s.n,
               (unsigned long long)s.n_scored);
        text_stats(stdout, &s, &g);
    }
    if (report && write_report(report, &s, &g, base_name, model_name) != 0)
        return 1;
    return strict && !(g.kld_pass && g.top_pass) ? 3 : 0;
}

/* ---- multiple choice ---- */

static const char *usage_mcq =
    "usage: medge eval mcq -m MODEL.gguf -f QUESTIONS.jsonl [options]\n"
    "       medge eval mcq --check -f QUESTIONS.jsonl\n"
    "\n"
    "Multiple-choice accuracy. Each question is asked as one user turn of the model's chat\n"
    "template (context, question, options as \"A. ...\", then \"Answer with the letter of the\n"
    "correct option only.\"); the model's answer is the option letter with the highest probability\n"
    "as its first token (deterministic: no sampling; ties go to the earlier letter). Accuracy comes\n"
    "with a 95% Wilson interval; --compare runs a second model on the same questions and gives\n"
    "the paired difference with a 95% interval, and the gate: PASS when the accuracy drop of\n"
    "MODEL against the compared model is at most --max-drop with the interval's upper end too.\n"
    "\n"
    "QUESTIONS: JSON lines in MedQA style {\"question\", \"options\": {\"A\": ...} or [...],\n"
    "\"answer_idx\": \"A\" or \"answer\": letter | 0-based index | option text}, MedMCQA style\n"
    "{\"question\", \"opa\"..\"opd\", \"cop\": 0-based} or PubMedQA style {\"question\", \"context\",\n"
    "\"final_decision\": yes | no | maybe}; optional \"id\". data/mcq/clinical-mcq.jsonl is a small\n"
    "original set. MedQA's test split (US, 4 options) can be used as is once downloaded:\n"
    "  medge eval mcq -m model.gguf -f medqa/test.jsonl --compare base.gguf --report r.md\n"
    "\n"
    "options:\n"
    "  -m, --model FILE    the model to evaluate\n"
    "  -f, --file FILE     the questions\n"
    "  --compare FILE      a second model (e.g. the unquantized one) on the same questions\n"
    "  --limit N           only the first N questions\n"
    "  --log FILE          one line per question and model: id, answer, choice, right/wrong and\n"
    "                      the log-probability of each option letter\n"
    "  --check             only read and validate the questions (no model)\n"
    "  --max-drop X        gate: largest acceptable accuracy drop, 0..1 (default 0.02)\n"
    "  --json              print the results as JSON\n"
    "  --report FILE       also write them with the gate (.json: JSON, else Markdown)\n"
    "  -t, --threads N     worker threads (default: all cores)\n"
    "  -q, --quiet         no progress on stderr\n"
    "  -h, --help          show this help\n"
    "\n"
    "exit status: 0 done, 1 error, 2 bad usage\n";

typedef struct mcq_run {
    unsigned char *correct; /* per question */
    int *choice;
    size_t k, n;
} mcq_run;

static medge_status mcq_model(const char *path, const mcq_set *set, size_t n_q, int n_threads, FILE *logf, int quiet, mcq_run *out)
{
    memset(out, 0, sizeof *out);
    gguf_ctx *g = NULL;
    spm_vocab *v = NULL;
    medge_model *m = NULL;
    medge_session *s = NULL;
    char *prompt = NULL, *user = NULL;
    int32_t *ids = NULL;
    int32_t letters[MCQ_MAX_OPTIONS];
    medge_status rc = gguf_open(path, &g);
    if (rc == MEDGE_OK)
        rc = spm_load_gguf(g, &v);
    gguf_close(g);
    /* The first token of each letter as the model would write it (the letter itself in Gemma's
     * vocabulary; a byte token in a truncated one). */
    for (int i = 0; rc == MEDGE_OK && i < MCQ_MAX_OPTIONS; i++) {
        int32_t t[8];
        size_t nt = 0;
        rc = spm_encode_buf(v, mcq_letter(i), 1, 0, t, 8, &nt);
        if (rc == MEDGE_OK && nt == 0)
            rc = medge_err(MEDGE_ERR_UNSUPPORTED, "%s: the letter %s has no token", path, mcq_letter(i));
        letters[i] = t[0];
    }
    if (rc == MEDGE_OK)
        rc = medge_model_load(path, medge_model_default_params(), &m);
    if (rc == MEDGE_OK) {
        medge_session_params sp = medge_session_default_params();
        int ctx = medge_model_n_ctx_train(m);
        sp.n_ctx = ctx > 0 && ctx < 4096 ? ctx : 4096;
        if (n_threads > 0)
            sp.n_threads = n_threads;
        rc = medge_session_new(m, sp, &s);
    }
    out->correct = calloc(n_q ? n_q : 1, 1);
    out->choice = calloc(n_q ? n_q : 1, sizeof *out->choice);
    if (rc == MEDGE_OK && (!out->correct || !out->choice))
        rc = medge_err(MEDGE_ERR_NOMEM, "out of memory");
    int n_vocab = m ? medge_model_n_vocab(m) : 0;
    double t0 = tool_now();
    for (size_t q = 0; rc == MEDGE_OK && q < n_q; q++) {
        const mcq_item *it = &set->items[q];
        free(user);
        free(prompt);
        free(ids);
        prompt = NULL;
        ids = NULL;
        user = mcq_user_text(it);
        if (!user) {
            rc = medge_err(MEDGE_ERR_NOMEM, "out of memory");
            break;
        }
        chat_msg msg = {.role = "user", .kind = CHAT_CONTENT_STRING, .content = user, .content_len = strlen(user)};
        size_t n_ids = 0;
        if ((rc = chat_render_gemma3(&msg, 1, true, NULL, &prompt, NULL)) != MEDGE_OK ||
            (rc = spm_encode(v, prompt, strlen(prompt), SPM_PARSE_SPECIAL, &ids, &n_ids)) != MEDGE_OK)
            break;
        if (n_ids > (size_t)medge_session_n_ctx(s)) {
            rc = medge_err(MEDGE_ERR_RANGE, "question %s is %zu tokens, longer than the context (%d)", it->id, n_ids,
                           medge_session_n_ctx(s));
            break;
        }
        if ((rc = medge_session_rewind(s, 0)) != MEDGE_OK || (rc = medge_session_eval(s, ids, (int)n_ids)) != MEDGE_OK)
            break;
        const float *lg = medge_session_logits(s);
        double mx = lg[0], sum = 0;
        for (int t = 1; t < n_vocab; t++)
            mx = lg[t] > mx ? lg[t] : mx;
        for (int t = 0; t < n_vocab; t++)
            sum += exp((double)lg[t] - mx);
        double lse = mx + log(sum);
        int best = 0;
        for (int o = 1; o < it->n_options; o++)
            if (lg[letters[o]] > lg[letters[best]])
                best = o;
        out->choice[q] = best;
        out->correct[q] = best == it->answer;
        out->k += best == it->answer;
        out->n++;
        if (logf) {
            fprintf(logf, "%s\t%s\tanswer %s\tchose %s\t%s", path, it->id, mcq_letter(it->answer), mcq_letter(best),
                    best == it->answer ? "right" : "wrong");
            for (int o = 0; o < it->n_options; o++)
                fprintf(logf, "\t%s:%.4f", mcq_letter(o), (double)lg[letters[o]] - lse);
            fputc('\n', logf);
        }
        if (!quiet)
            fprintf(stderr, "\r%s: %zu/%zu questions, %zu right, %.1f s", path, q + 1, n_q, out->k, tool_now() - t0);
    }
    if (!quiet)
        fputc('\n', stderr);
    free(user);
    free(prompt);
    free(ids);
    medge_session_free(s);
    medge_model_free(m);
    spm_free(v);
    if (rc != MEDGE_OK) {
        free(out->correct);
        free(out->choice);
        memset(out, 0, sizeof *out);
    }
    return rc;
}

static void mcq_json(medge_buf *b, const char *name, const mcq_run *r)
{
    double acc, lo, hi;
    mcq_accuracy(r->k, r->n, &acc, &lo, &hi);
    medge_buf_puts(b, "{\"file\": ");
    medge_buf_json_str(b, name, strlen(name));
    medge_buf_printf(b, ", \"questions\": %zu, \"correct\": %zu, \"accuracy\": ", r->n, r->k);
    medge_buf_json_num(b, acc);
    medge_buf_puts(b, ", \"ci95\": [");
    medge_buf_json_num(b, lo);
    medge_buf_puts(b, ", ");
    medge_buf_json_num(b, hi);
    medge_buf_puts(b, "]}");
}

static int run_mcq(int argc, char **argv)
{
    const char *model = NULL, *file = NULL, *compare = NULL, *log_path = NULL, *report = NULL;
    int check = 0, json = 0, quiet = 0, threads = 0, limit = 0;
    double max_drop = 0.02;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage_mcq, stdout);
            return 0;
        } else if ((strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0) && has) {
            model = argv[++i];
        } else if ((strcmp(a, "-f") == 0 || strcmp(a, "--file") == 0) && has) {
            file = argv[++i];
        } else if (strcmp(a, "--compare") == 0 && has) {
            compare = argv[++i];
        } else if (strcmp(a, "--log") == 0 && has) {
            log_path = argv[++i];
        } else if (strcmp(a, "--report") == 0 && has) {
            report = argv[++i];
        } else if (strcmp(a, "--limit") == 0 && has) {
            if (!parse_int(argv[++i], 1, INT32_MAX, &limit)) {
                fprintf(stderr, "medge eval mcq: --limit needs a number >= 1\n");
                return 2;
            }
        } else if ((strcmp(a, "-t") == 0 || strcmp(a, "--threads") == 0) && has) {
            if (!parse_int(argv[++i], 1, 1024, &threads)) {
                fprintf(stderr, "medge eval mcq: -t needs a number of threads >= 1\n");
                return 2;
            }
        } else if (strcmp(a, "--max-drop") == 0 && has) {
            if (!parse_double(argv[++i], &max_drop) || max_drop < 0 || max_drop > 1) {
                fprintf(stderr, "medge eval mcq: --max-drop needs a number in 0..1\n");
                return 2;
            }
        } else if (strcmp(a, "--check") == 0) {
            check = 1;
        } else if (strcmp(a, "--json") == 0) {
            json = 1;
        } else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
            quiet = 1;
        } else {
            fprintf(stderr, "medge eval mcq: unknown or incomplete option '%s'\n\n%s", a, usage_mcq);
            return 2;
        }
    }
    if (!file || (!model && !check)) {
        fprintf(stderr, "medge eval mcq: give -f QUESTIONS and -m MODEL (or --check)\n\n%s", usage_mcq);
        return 2;
    }
    mcq_set *set = NULL;
    medge_status rc = mcq_load(file, &set);
    if (rc != MEDGE_OK)
        return tool_fail("eval mcq", rc);
    size_t n_q = limit > 0 && (size_t)limit < set->n ? (size_t)limit : set->n;
    if (check) {
        int per[MCQ_MAX_OPTIONS + 1] = {0};
        for (size_t i = 0; i < set->n; i++)
            per[set->items[i].n_options]++;
        printf("%s: %zu questions", file, set->n);
        for (int k = 2; k <= MCQ_MAX_OPTIONS; k++)
            if (per[k])
                printf(", %d with %d options", per[k], k);
        printf("\n");
        mcq_free(set);
        return 0;
    }
    FILE *log = NULL;
    if (log_path && !(log = fopen(log_path, "w"))) {
        mcq_free(set);
        fprintf(stderr, "medge eval mcq: cannot write %s\n", log_path);
        return 1;
    }
    mcq_run a = {0}, b = {0};
    rc = mcq_model(model, set, n_q, threads, log, quiet || json, &a);
    if (rc == MEDGE_OK && compare)
        rc = mcq_model(compare, set, n_q, threads, log, quiet || json, &b);
    if (log)
        fclose(log);
    if (rc != MEDGE_OK) {
        free(a.correct);
        free(a.choice);
        mcq_free(set);
        return tool_fail("eval mcq", rc);
    }
    double acc, lo, hi, d = 0, dlo = 0, dhi = 0;
    int pass = 1;
    if (compare) {
        mcq_paired_diff(a.correct, b.correct, n_q, &d, &dlo, &dhi);
        pass = -d <= max_drop && -dlo <= max_drop; /* the drop and the upper end of its interval */
    }
    medge_buf out = {0};
    if (json || (report && strlen(report) > 5 && strcmp(report + strlen(report) - 5, ".json") == 0)) {
        medge_buf_puts(&out, "{\"kind\": \"mcq\", \"questions_file\": ");
        medge_buf_json_str(&out, file, strlen(file));
        medge_buf_puts(&out, ",\n \"model\": ");
        mcq_json(&out, model, &a);
        if (compare) {
            medge_buf_puts(&out, ",\n \"compare\": ");
            mcq_json(&out, compare, &b);
            medge_buf_puts(&out, ",\n \"difference\": ");
            medge_buf_json_num(&out, d);
            medge_buf_puts(&out, ", \"difference_ci95\": [");
            medge_buf_json_num(&out, dlo);
            medge_buf_puts(&out, ", ");
            medge_buf_json_num(&out, dhi);
            medge_buf_puts(&out, "], \"gate\": {\"max_drop\": ");
            medge_buf_json_num(&out, max_drop);
            medge_buf_printf(&out, ", \"pass\": %s}", pass ? "true" : "false");
        }
        medge_buf_puts(&out, "}\n");
    } else {
        mcq_accuracy(a.k, a.n, &acc, &lo, &hi);
        medge_buf_printf(&out, "questions: %s (%zu)\nmodel:   %s  accuracy %zu/%zu = %.1f%% (95%% CI %.1f-%.1f%%)\n", file, n_q, model,
                         a.k, a.n, 100 * acc, 100 * lo, 100 * hi);
        if (compare) {
            mcq_accuracy(b.k, b.n, &acc, &lo, &hi);
            medge_buf_printf(&out, "compare: %s  accuracy %zu/%zu = %.1f%% (95%% CI %.1f-%.1f%%)\n", compare, b.k, b.n, 100 * acc,
                             100 * lo, 100 * hi);
            medge_buf_printf(&out, "difference (model - compare): %+.1f points (95%% CI %+.1f to %+.1f)\n", 100 * d, 100 * dlo,
                             100 * dhi);
            medge_buf_printf(&out, "quality gate: accuracy drop %.1f points, upper end of its interval %.1f <= %.1f -> %s\n", -100 * d,
                             -100 * dlo, 100 * max_drop, pass ? "PASS" : "FAIL");
        }
    }
    fwrite(out.data, 1, out.len, stdout);
    int ret = 0;
    if (report)
        ret = write_report_buf(report, &out, "eval mcq"); /* frees out */
    else
        medge_buf_free(&out);
    free(a.correct);
    free(a.choice);
    free(b.correct);
    free(b.choice);
    mcq_free(set);
    return ret;
}

static const char *usage_clip =
    "usage: medge eval clip --base BASE.gguf --model MODEL.gguf IMAGE... [options]\n"
    "\n"
    "Is a quantized BiomedCLIP still the model it was? Both models embed every image (PNG, JPEG,\n"
    "PPM/PGM, DICOM) and every label prompt; reported per image and over all of them:\n"
    "  - image embedding cosine between base and model (min, mean),\n"
    "  - text embedding cosine of the label prompts (min, mean),\n"
    "  - zero-shot top-1 agreement: the share of images whose most probable label is the same,\n"
    "  - probability shift: the largest |p_model - p_base| over the labels (mean over images, max),\n"
    "    and the total variation distance between the two label distributions (mean, max).\n"
    "Ends with the quality gate: PASS when the smallest image and text cosine >= --min-cosine and\n"
    "the top-1 agreement >= --min-agree.\n"
    "\n"
    "  --base FILE        the reference model (e.g. the F32 conversion)\n"
    "  --model FILE       the model to judge (e.g. its Q8_0 quantization)\n"
    "  --labels LIST      comma-separated zero-shot labels\n"
    "  --label-set NAME   a built-in label set (default: modality; see below)\n"
    "  --template T       prompt template, \"{}\" replaced by the label (default \"this is a photo of {}\")\n"
    "  --min-cosine X     gate: smallest acceptable embedding cosine (default 0.999)\n"
    "  --min-agree X      gate: smallest acceptable top-1 agreement, 0..1 (default 0: reported only;\n"
    "                     labels whose logits differ by less than the quantization error can\n"
    "                     swap, as in random-weight test models)\n"
    "  --json             print the results as JSON\n"
    "  --report FILE      also write a report with thresholds, PASS/FAIL, SHA-256 and provenance of\n"
    "                     both files (.json: JSON, else Markdown)\n"
    "  --strict           exit with status 3 when the gate fails\n"
    "  -t, --threads N    worker threads (default: all cores)\n"
    "  -q, --quiet        only the summary (no per-image lines)\n"
    "  -h, --help         show this help\n"
    "\n"
    "exit status: 0 done (whatever the gate says, unless --strict), 1 error, 2 bad usage,\n"
    "3 gate failed with --strict\n"
    "\n"
    "built-in label sets:\n";

typedef struct clip_image_row {
    double cosine, max_shift, tvd;
    int top_base, top_model;
} clip_image_row;

typedef struct clip_eval {
    int n_img, n_labels;
    clip_image_row *rows;
    double img_cos_min, img_cos_mean, txt_cos_min, txt_cos_mean;
    double agree, shift_mean, shift_max, tvd_mean, tvd_max;
    int pass_cos, pass_agree;
} clip_eval;

static double cosine(const float *a, const float *b, int n)
{
    double ab = 0, aa = 0, bb = 0;
    for (int i = 0; i < n; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    return aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : 0.0;
}

static int argmax_f(const float *p, int n)
{
    int k = 0;
    for (int i = 1; i < n; i++)
        if (p[i] > p[k])
            k = i;
    return k;
}

/* Embed the labels with both models, then every image, and fill e. */
static medge_status clip_compare(medge_clip *cb, medge_clip *cm, const label_list *L, const char *tpl, const char **images,
                                 int n_img, clip_eval *e)
{
    const int E = medge_clip_embed_dim(cb), nl = L->n;
    medge_status rc = MEDGE_OK;
    float *tb = malloc((size_t)E * (size_t)nl * sizeof *tb), *tm = malloc((size_t)E * (size_t)nl * sizeof *tm);
    float *ib = malloc((size_t)E * sizeof *ib), *im = malloc((size_t)E * sizeof *im);
    float *pb = malloc((size_t)nl * sizeof *pb), *pm = malloc((size_t)nl * sizeof *pm);
    e->rows = calloc((size_t)n_img, sizeof *e->rows);
    if (!tb || !tm || !ib || !im || !pb || !pm || !e->rows) {
        rc = medge_err(MEDGE_ERR_NOMEM, "out of memory");
        goto done;
    }
    e->n_img = n_img;
    e->n_labels = nl;
    if ((rc = medge_clip_embed_labels(cb, L->v, nl, tpl, tb)) != MEDGE_OK ||
        (rc = medge_clip_embed_labels(cm, L->v, nl, tpl, tm)) != MEDGE_OK)
        goto done;
    e->txt_cos_min = 1e300;
    for (int i = 0; i < nl; i++) {
        double c = cosine(tb + (size_t)i * (size_t)E, tm + (size_t)i * (size_t)E, E);
        e->txt_cos_min = c < e->txt_cos_min ? c : e->txt_cos_min;
        e->txt_cos_mean += c / nl;
    }
    e->img_cos_min = 1e300;
    int agree = 0;
    for (int i = 0; i < n_img; i++) {
        medge_image *img = NULL;
        rc = medge_codecs_load_image(images[i], &img);
        if (rc == MEDGE_OK)
            rc = medge_clip_embed_image(cb, medge_image_rgb(img), medge_image_width(img), medge_image_height(img), ib);
        if (rc == MEDGE_OK)
            rc = medge_clip_embed_image(cm, medge_image_rgb(img), medge_image_width(img), medge_image_height(img), im);
        medge_image_free(img);
        if (rc == MEDGE_OK)
            rc = medge_clip_zero_shot(cb, ib, tb, nl, pb, NULL);
        if (rc == MEDGE_OK)
            rc = medge_clip_zero_shot(cm, im, tm, nl, pm, NULL);
        if (rc != MEDGE_OK)
            goto done;
        clip_image_row *r = &e->rows[i];
        r->cosine = cosine(ib, im, E);
        r->top_base = argmax_f(pb, nl);
        r->top_model = argmax_f(pm, nl);
        for (int k = 0; k < nl; k++) {
            double d = fabs((double)pm[k] - pb[k]);
            r->max_shift = d > r->max_shift ? d : r->max_shift;
            r->tvd += 0.5 * d;
        }
        agree += r->top_base == r->top_model;
        e->img_cos_min = r->cosine < e->img_cos_min ? r->cosine : e->img_cos_min;
        e->img_cos_mean += r->cosine / n_img;
        e->shift_mean += r->max_shift / n_img;
        e->shift_max = r->max_shift > e->shift_max ? r->max_shift : e->shift_max;
        e->tvd_mean += r->tvd / n_img;
        e->tvd_max = r->tvd > e->tvd_max ? r->tvd : e->tvd_max;
    }
    e->agree = (double)agree / n_img;
done:
    free(tb);
    free(tm);
    free(ib);
    free(im);
    free(pb);
    free(pm);
    return rc;
}

static void clip_json(medge_buf *b, const clip_eval *e, const label_list *L, const char **images, double min_cos,
                      double min_agree)
{
    medge_buf_printf(b, "{\"kind\": \"clip\", \"images\": %d, \"labels\": %d,\n \"image_cosine\": {\"min\": ", e->n_img, e->n_labels);
    medge_buf_json_num(b, e->img_cos_min);
    medge_buf_puts(b, ", \"mean\": ");
    medge_buf_json_num(b, e->img_cos_mean);
    medge_buf_puts(b, "}, \"text_cosine\": {\"min\": ");
    medge_buf_json_num(b, e->txt_cos_min);
    medge_buf_puts(b, ", \"mean\": ");
    medge_buf_json_num(b, e->txt_cos_mean);
    medge_buf_puts(b, "},\n \"top1_agreement\": ");
    medge_buf_json_num(b, e->agree);
    medge_buf_puts(b, ", \"max_prob_shift\": {\"mean\": ");
    medge_buf_json_num(b, e->shift_mean);
    medge_buf_puts(b, ", \"max\": ");
    medge_buf_json_num(b, e->shift_max);
    medge_buf_puts(b, "}, \"total_variation\": {\"mean\": ");
    medge_buf_json_num(b, e->tvd_mean);
    medge_buf_puts(b, ", \"max\": ");
    medge_buf_json_num(b, e->tvd_max);
    medge_buf_puts(b, "},\n \"per_image\": [");
    for (int i = 0; i < e->n_img; i++) {
        const clip_image_row *r = &e->rows[i];
        medge_buf_puts(b, i ? ",\n  {\"image\": " : "\n  {\"image\": ");
        medge_buf_json_str(b, images[i], strlen(images[i]));
        medge_buf_puts(b, ", \"cosine\": ");
        medge_buf_json_num(b, r->cosine);
        medge_buf_puts(b, ", \"top_base\": ");
        medge_buf_json_str(b, L->v[r->top_base], strlen(L->v[r->top_base]));
        medge_buf_puts(b, ", \"top_model\": ");
        medge_buf_json_str(b, L->v[r->top_model], strlen(L->v[r->top_model]));
        medge_buf_puts(b, ", \"max_prob_shift\": ");
        medge_buf_json_num(b, r->max_shift);
        medge_buf_puts(b, ", \"total_variation\": ");
        medge_buf_json_num(b, r->tvd);
        medge_buf_puts(b, "}");
    }
    medge_buf_puts(b, "],\n \"gate\": {\"min_cosine\": ");
    medge_buf_json_num(b, min_cos);
    medge_buf_puts(b, ", \"min_agree\": ");
    medge_buf_json_num(b, min_agree);
    medge_buf_printf(b, ", \"cosine_pass\": %s, \"agree_pass\": %s, \"pass\": %s}", e->pass_cos ? "true" : "false",
                     e->pass_agree ? "true" : "false", e->pass_cos && e->pass_agree ? "true" : "false");
}

static void clip_text(medge_buf *b, const clip_eval *e, const label_list *L, const char **images, int quiet, double min_cos,
                      double min_agree)
{
    for (int i = 0; i < e->n_img && !quiet; i++) {
        const clip_image_row *r = &e->rows[i];
        medge_buf_printf(b, "%s: cosine %.6f, top %s%s%s, max |dp| %.5f\n", images[i], r->cosine, L->v[r->top_base],
                         r->top_base == r->top_model ? "" : " -> model: ", r->top_base == r->top_model ? "" : L->v[r->top_model],
                         r->max_shift);
    }
    medge_buf_printf(b, "%d images, %d labels\n", e->n_img, e->n_labels);
    medge_buf_printf(b, "image embedding cosine: min %.6f, mean %.6f\n", e->img_cos_min, e->img_cos_mean);
    medge_buf_printf(b, "text embedding cosine:  min %.6f, mean %.6f\n", e->txt_cos_min, e->txt_cos_mean);
    medge_buf_printf(b, "zero-shot top-1 agreement: %.2f%%\n", 100 * e->agree);
    medge_buf_printf(b, "probability shift: max |dp| mean %.5f, max %.5f; total variation mean %.5f, max %.5f\n",
                     e->shift_mean, e->shift_max, e->tvd_mean, e->tvd_max);
    medge_buf_printf(b, "quality gate: cosine min %.6f >= %g -> %s; top-1 agreement %.2f%% >= %.2f%% -> %s; %s\n",
                     e->img_cos_min < e->txt_cos_min ? e->img_cos_min : e->txt_cos_min, min_cos,
                     e->pass_cos ? "PASS" : "FAIL", 100 * e->agree, 100 * min_agree, e->pass_agree ? "PASS" : "FAIL",
                     e->pass_cos && e->pass_agree ? "PASS" : "FAIL");
}

static int clip_report(const char *path, const clip_eval *e, const label_list *L, const char **images, double min_cos,
                       double min_agree, const char *base, const char *model)
{
    char hb[65] = "?", hm[65] = "?";
    file_sha256(base, hb);
    file_sha256(model, hm);
    medge_buf b = {0}, pb = {0}, pm = {0};
    provenance(&pb, base);
    provenance(&pm, model);
    size_t n = strlen(path);
    if (n > 5 && strcmp(path + n - 5, ".json") == 0) {
        medge_buf tmp = {0};
        clip_json(&tmp, e, L, images, min_cos, min_agree);
        medge_buf_append(&b, tmp.data, tmp.len);
        medge_buf_free(&tmp);
        medge_buf_puts(&b, ",\n \"base\": ");
        medge_buf_json_str(&b, base, strlen(base));
        medge_buf_puts(&b, ", \"model\": ");
        medge_buf_json_str(&b, model, strlen(model));
        medge_buf_printf(&b, ", \"base_sha256\": \"%s\", \"model_sha256\": \"%s\", \"base_provenance\": ", hb, hm);
        medge_buf_json_str(&b, pb.data ? pb.data : "", pb.len);
        medge_buf_puts(&b, ", \"model_provenance\": ");
        medge_buf_json_str(&b, pm.data ? pm.data : "", pm.len);
        medge_buf_printf(&b, ", \"medge\": \"%s\"}\n", medge_version());
    } else {
        const double cmin = e->img_cos_min < e->txt_cos_min ? e->img_cos_min : e->txt_cos_min;
        medge_buf_printf(&b, "# medge quality report: BiomedCLIP embedding fidelity\n\n");
        medge_buf_printf(&b, "| input | file | SHA-256 | provenance |\n|---|---|---|---|\n| base | `%s` | `%s` | %s |\n"
                             "| model | `%s` | `%s` | %s |\n\n",
                         base, hb, pb.data ? pb.data : "", model, hm, pm.data ? pm.data : "");
        medge_buf_printf(&b, "| check | value | threshold | result |\n|---|---|---|---|\n");
        medge_buf_printf(&b, "| smallest embedding cosine (images and label prompts) | %.6f | >= %g | %s |\n", cmin, min_cos,
                         e->pass_cos ? "PASS" : "FAIL");
        medge_buf_printf(&b, "| zero-shot top-1 agreement | %.2f%% | >= %.2f%% | %s |\n", 100 * e->agree, 100 * min_agree,
                         e->pass_agree ? "PASS" : "FAIL");
        medge_buf_printf(&b, "\n**Verdict: %s**\n\n", e->pass_cos && e->pass_agree ? "PASS" : "FAIL");
        medge_buf_printf(&b, "Details: %d images, %d labels; image cosine mean %.6f, text cosine mean %.6f; largest "
                             "probability shift mean %.5f, max %.5f; total variation mean %.5f, max %.5f.\n\n",
                         e->n_img, e->n_labels, e->img_cos_mean, e->txt_cos_mean, e->shift_mean, e->shift_max, e->tvd_mean,
                         e->tvd_max);
        medge_buf_printf(&b, "| image | cosine | top label (base) | top label (model) | max \\|Δp\\| |\n|---|---|---|---|---|\n");
        for (int i = 0; i < e->n_img; i++)
            medge_buf_printf(&b, "| `%s` | %.6f | %s | %s | %.5f |\n", images[i], e->rows[i].cosine, L->v[e->rows[i].top_base],
                             L->v[e->rows[i].top_model], e->rows[i].max_shift);
        medge_buf_printf(&b, "\nmedge %s\n", medge_version());
    }
    medge_buf_free(&pb);
    medge_buf_free(&pm);
    return write_report_buf(path, &b, "eval clip");
}

static int run_clip(int argc, char **argv)
{
    const char *base = NULL, *model = NULL, *labels = NULL, *set = NULL, *tpl = NULL, *report = NULL;
    double min_cos = 0.999, min_agree = 0.0;
    int json = 0, quiet = 0, strict = 0, threads = 0, n_img = 0;
    const char **images = calloc((size_t)argc, sizeof *images);
    if (!images)
        return tool_fail("eval clip", medge_err(MEDGE_ERR_NOMEM, "out of memory"));
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage_clip, stdout);
            labels_print_sets(stdout);
            free(images);
            return 0;
        } else if (strcmp(a, "--base") == 0 && has) {
            base = argv[++i];
        } else if ((strcmp(a, "--model") == 0 || strcmp(a, "-m") == 0) && has) {
            model = argv[++i];
        } else if (strcmp(a, "--labels") == 0 && has) {
            labels = argv[++i];
        } else if (strcmp(a, "--label-set") == 0 && has) {
            set = argv[++i];
        } else if (strcmp(a, "--template") == 0 && has) {
            tpl = argv[++i];
        } else if (strcmp(a, "--report") == 0 && has) {
            report = argv[++i];
        } else if (strcmp(a, "--min-cosine") == 0 && has) {
            if (!parse_double(argv[++i], &min_cos) || min_cos < -1 || min_cos > 1) {
                fprintf(stderr, "medge eval clip: --min-cosine needs a number in -1..1\n");
                free(images);
                return 2;
            }
        } else if (strcmp(a, "--min-agree") == 0 && has) {
            if (!parse_double(argv[++i], &min_agree) || min_agree < 0 || min_agree > 1) {
                fprintf(stderr, "medge eval clip: --min-agree needs a number in 0..1\n");
                free(images);
                return 2;
            }
        } else if ((strcmp(a, "-t") == 0 || strcmp(a, "--threads") == 0) && has) {
            if (!parse_int(argv[++i], 1, 1024, &threads)) {
                fprintf(stderr, "medge eval clip: -t needs a number of threads >= 1\n");
                free(images);
                return 2;
            }
        } else if (strcmp(a, "--json") == 0) {
            json = 1;
        } else if (strcmp(a, "--strict") == 0) {
            strict = 1;
        } else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
            quiet = 1;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "medge eval clip: unknown or incomplete option '%s'\n\n%s", a, usage_clip);
            free(images);
            return 2;
        } else {
            images[n_img++] = a;
        }
    }
    if (!labels) {
        labels = labels_builtin(set ? set : "modality");
        if (!labels) {
            fprintf(stderr, "medge eval clip: unknown label set '%s' (see --help)\n", set);
            free(images);
            return 2;
        }
    }
    label_list L = {0};
    if (!base || !model || n_img == 0 || labels_parse(&L, labels) == 0) {
        fprintf(stderr, "medge eval clip: give --base, --model, at least one image and at least one label\n\n%s",
                usage_clip);
        labels_free(&L);
        free(images);
        return 2;
    }
    medge_clip_params cp = medge_clip_default_params();
    cp.n_threads = threads;
    medge_clip *cb = NULL, *cm = NULL;
    clip_eval e = {0};
    medge_status rc = medge_clip_load(base, cp, &cb);
    if (rc == MEDGE_OK)
        rc = medge_clip_load(model, cp, &cm);
    if (rc == MEDGE_OK && medge_clip_embed_dim(cb) != medge_clip_embed_dim(cm))
        rc = medge_err(MEDGE_ERR_INVALID_ARG, "%s and %s have different embedding sizes (%d, %d): not the same model",
                       base, model, medge_clip_embed_dim(cb), medge_clip_embed_dim(cm));
    if (rc == MEDGE_OK)
        rc = clip_compare(cb, cm, &L, tpl, images, n_img, &e);
    medge_clip_free(cb);
    medge_clip_free(cm);
    int ret = 0;
    if (rc != MEDGE_OK) {
        ret = tool_fail("eval clip", rc);
    } else {
        e.pass_cos = e.img_cos_min >= min_cos && e.txt_cos_min >= min_cos;
        e.pass_agree = e.agree >= min_agree;
        medge_buf b = {0};
        if (json) {
            clip_json(&b, &e, &L, images, min_cos, min_agree);
            medge_buf_puts(&b, "}\n");
        } else {
            clip_text(&b, &e, &L, images, quiet, min_cos, min_agree);
        }
        fwrite(b.data, 1, b.len, stdout);
        medge_buf_free(&b);
        if (report)
            ret = clip_report(report, &e, &L, images, min_cos, min_agree, base, model);
        if (ret == 0 && strict && !(e.pass_cos && e.pass_agree))
            ret = 3;
    }
    free(e.rows);
    labels_free(&L);
    free(images);
    return ret;
}

static int run(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        fputs(usage_main, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "kld") == 0)
        return run_kld(argc - 1, argv + 1);
    if (strcmp(argv[1], "mcq") == 0)
        return run_mcq(argc - 1, argv + 1);
    if (strcmp(argv[1], "clip") == 0)
        return run_clip(argc - 1, argv + 1);
    fprintf(stderr, "medge eval: unknown kind '%s'\n\n%s", argv[1], usage_main);
    return 2;
}

const struct medge_cmd medge_cmd_eval = {"eval", "quality gate: KL divergence, perplexity, multiple-choice accuracy and embedding fidelity against a base", run};
