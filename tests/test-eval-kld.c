/* test-eval-kld.c - `medge eval kld` statistics from the reference logits files: the mean KL
 * divergence and same-top share that shared/reference/README.md lists for llama.cpp's logits (to
 * the printed digits), and an independent float64 recomputation (Python) of mean / median / max
 * KLD, same top and both perplexities to 4+ significant digits; a hand-computed case; llama.cpp's
 * 16-bit log-prob records (encode / decode bounds, base-file writer and reader, KLD through
 * records); the command's JSON and report output; and the errors for mismatched inputs. */
#include "test.h"
#include "core/file.h"
#include "core/json.h"
#include "runtime/eval.h"

#include <sys/wait.h>

static const struct {
    const char *type, *seq;
    double kld_mean, kld_median, kld_max, same_top, ppl_model, ppl_base;
} py[] = {
    /* float64 recomputation (log-softmax over all 4160 logits, all positions for KLD, the
     * sequence's next token for PPL) */
    {"f16", "chat", 4.811006e-07, 4.753427e-07, 8.266447e-07, 1.000000, 7851.823862, 7850.741659},
    {"Q8_0", "chat", 3.911217e-04, 3.761845e-04, 6.966424e-04, 0.926829, 7949.782816, 7850.741659},
    {"Q6_K", "chat", 2.467612e-03, 2.338611e-03, 4.046019e-03, 0.878049, 7865.971829, 7850.741659},
    {"Q4_K_M", "chat", 2.012139e-02, 1.921519e-02, 3.826890e-02, 0.634146, 8427.301811, 7850.741659},
    {"Q4_K_S", "chat", 2.123049e-02, 2.118416e-02, 3.539327e-02, 0.682927, 8313.507064, 7850.741659},
    {"Q4_0", "chat", 3.704428e-02, 3.759167e-02, 5.834370e-02, 0.658537, 7193.939649, 7850.741659},
    {"f16", "long", 5.187873e-07, 5.032023e-07, 9.765075e-07, 1.000000, 6253.979220, 6253.103454},
    {"Q8_0", "long", 4.104451e-04, 3.918653e-04, 9.139433e-04, 0.887500, 6270.779536, 6253.103454},
    {"Q6_K", "long", 3.359301e-03, 3.179055e-03, 6.054882e-03, 0.850000, 6299.723328, 6253.103454},
    {"Q4_K_M", "long", 2.806688e-02, 2.835353e-02, 4.558949e-02, 0.587500, 6519.661813, 6253.103454},
    {"Q4_K_S", "long", 2.942885e-02, 2.974036e-02, 4.600179e-02, 0.612500, 6419.729561, 6253.103454},
    {"Q4_0", "long", 4.228521e-02, 3.996892e-02, 7.522228e-02, 0.562500, 6128.149289, 6253.103454},
};

/* shared/reference/README.md: "mean KL divergence, share of positions with the same arg-max" */
static const struct {
    const char *type, *seq, *kld, *same;
} readme[] = {
    {"Q8_0", "chat", "0.00039", "0.927"},   {"Q6_K", "chat", "0.00247", "0.878"}, {"Q4_K_M", "chat", "0.02012", "0.634"},
    {"Q4_K_S", "chat", "0.02123", "0.683"}, {"Q4_0", "chat", "0.03704", "0.659"}, {"Q8_0", "long", "0.00041", "0.887"},
    {"Q6_K", "long", "0.00336", "0.850"},   {"Q4_K_M", "long", "0.02807", "0.588"}, {"Q4_K_S", "long", "0.02943", "0.613"},
    {"Q4_0", "long", "0.04229", "0.562"},
};

/* x printed with as many decimals as the text has equals the text. */
static int same_digits(double x, const char *text)
{
    const char *dot = strchr(text, '.');
    int dec = dot ? (int)strlen(dot + 1) : 0;
    char buf[64];
    snprintf(buf, sizeof buf, "%.*f", dec, x);
    return strcmp(buf, text) == 0;
}

static int rel_close(double a, double b, double rel) { return fabs(a - b) <= rel * fabs(b); }

static medge_status compare(const char *type, const char *seq, int with_tokens, eval_kld_stats *s)
{
    char pa[256], pb[256], pt[256];
    snprintf(pa, sizeof pa, "gemma3-tiny/logits/logits-f32-%s.bin", seq);
    snprintf(pb, sizeof pb, "gemma3-tiny/logits/logits-%s-%s.bin", type, seq);
    snprintf(pt, sizeof pt, "gemma3-tiny/logits/seq-%s.txt", seq);
    eval_logits a, b;
    MEDGE_TRY(eval_logits_open(test_ref(pa), &a));
    medge_status rc = eval_logits_open(test_ref(pb), &b);
    if (rc != MEDGE_OK) {
        eval_logits_close(&a);
        return rc;
    }
    int32_t *tok = NULL;
    size_t n_tok = 0;
    if (with_tokens)
        CHECK_OK(eval_read_token_file(test_ref(pt), &tok, &n_tok));
    CHECK_EQ_INT(a.kind, EVAL_LOGITS_REF);
    CHECK_EQ_INT(a.n_vocab, 4160);
    CHECK_EQ_INT(a.n_pos, b.n_pos);
    if (with_tokens)
        CHECK_EQ_INT(n_tok, (size_t)a.n_pos);
    eval_kld *k = NULL;
    CHECK_OK(eval_kld_new(a.n_vocab, &k));
    float *x = malloc(4160 * 4), *y = malloc(4160 * 4);
    for (int32_t i = 0; i < a.n_pos; i++) {
        memcpy(x, eval_logits_row(&a, i), 4160 * 4);
        memcpy(y, eval_logits_row(&b, i), 4160 * 4);
        CHECK_OK(eval_kld_add(k, x, y, tok && (size_t)i + 1 < n_tok ? tok[i + 1] : -1));
    }
    rc = eval_kld_stats_get(k, s);
    free(x);
    free(y);
    free(tok);
    eval_kld_free(k);
    eval_logits_close(&a);
    eval_logits_close(&b);
    return rc;
}

static void reference_stats(void)
{
    for (size_t i = 0; i < sizeof py / sizeof py[0]; i++) {
        eval_kld_stats s;
        CHECK_OK(compare(py[i].type, py[i].seq, 1, &s));
        const char *t = py[i].type, *q = py[i].seq;
        CHECK_MSG(rel_close(s.kld_mean, py[i].kld_mean, 1e-4), "%s %s mean KLD %.7g vs %.7g", t, q, s.kld_mean, py[i].kld_mean);
        CHECK_MSG(rel_close(s.kld_median, py[i].kld_median, 1e-4), "%s %s median %.7g vs %.7g", t, q, s.kld_median, py[i].kld_median);
        CHECK_MSG(rel_close(s.kld_max, py[i].kld_max, 1e-4), "%s %s max %.7g vs %.7g", t, q, s.kld_max, py[i].kld_max);
        CHECK_MSG(fabs(s.same_top - py[i].same_top) < 1e-6, "%s %s same top %.7g vs %.7g", t, q, s.same_top, py[i].same_top);
        CHECK_MSG(rel_close(s.ppl_model, py[i].ppl_model, 1e-6), "%s %s PPL %.9g vs %.9g", t, q, s.ppl_model, py[i].ppl_model);
        CHECK_MSG(rel_close(s.ppl_base, py[i].ppl_base, 1e-6), "%s %s PPL base %.9g vs %.9g", t, q, s.ppl_base, py[i].ppl_base);
        CHECK(rel_close(s.ppl_ratio, py[i].ppl_model / py[i].ppl_base, 1e-6));
        CHECK_EQ_INT(s.n, strcmp(q, "chat") == 0 ? 41 : 80);
        CHECK_EQ_INT(s.n_scored, s.n - 1);
        CHECK(s.kld_min <= s.kld_pct[EVAL_KLD_NPCT - 1] && s.kld_pct[0] <= s.kld_max && s.kld_pct[4] <= s.kld_median);
        CHECK(s.cor > 0.5 && s.cor <= 1.0);
    }
    for (size_t i = 0; i < sizeof readme / sizeof readme[0]; i++) {
        eval_kld_stats s;
        CHECK_OK(compare(readme[i].type, readme[i].seq, 0, &s));
        CHECK_MSG(same_digits(s.kld_mean, readme[i].kld), "%s %s: mean KLD %.7f, README %s", readme[i].type, readme[i].seq, s.kld_mean,
                  readme[i].kld);
        CHECK_MSG(same_digits(s.same_top, readme[i].same), "%s %s: same top %.5f, README %s", readme[i].type, readme[i].seq,
                  s.same_top, readme[i].same);
        CHECK_EQ_INT(s.n_scored, 0);
    }
}

/* Base uniform over 2 tokens, model (3/4, 1/4): KL = 0.5 ln(2/3) + 0.5 ln 2. Next token 1. */
static void hand_computed(void)
{
    eval_kld *k = NULL;
    CHECK_OK(eval_kld_new(2, &k));
    float base[2] = {5, 5}, model[2] = {(float)log(3.0), 0};
    for (int i = 0; i < 12; i++)
        CHECK_OK(eval_kld_add(k, base, model, 1));
    eval_kld_stats s;
    CHECK_OK(eval_kld_stats_get(k, &s));
    double kl = 0.5 * log(2.0 / 3.0) + 0.5 * log(2.0);
    CHECK_NEAR(s.kld_mean, kl, 1e-7);
    CHECK_NEAR(s.kld_median, kl, 1e-7);
    CHECK_NEAR(s.kld_pct[0], kl, 1e-7);
    CHECK_NEAR(s.ppl_model, 4.0, 1e-5);
    CHECK_NEAR(s.ppl_base, 2.0, 1e-5);
    CHECK_NEAR(s.dp_mean, 0.25 - 0.5, 1e-6);
    CHECK_NEAR(s.dp_rms, 0.25, 1e-6);
    CHECK_NEAR(s.same_top, 1.0, 0); /* ties: both pick index 0 */
    CHECK_EQ_INT(eval_kld_add(k, base, model, 2), MEDGE_ERR_RANGE);
    eval_kld_free(k);
    eval_kld_stats s0;
    CHECK_OK(eval_kld_new(3, &k));
    CHECK_EQ_INT(eval_kld_stats_get(k, &s0), MEDGE_ERR_INVALID_ARG);
    eval_kld_free(k);
}

/* llama.cpp's 16-bit records: bounds of the rounding, the base file round trip, and KLD through
 * records close to KLD from the full logits. */
static void records(void)
{
    eval_logits a, b;
    CHECK_OK(eval_logits_open(test_ref("gemma3-tiny/logits/logits-f32-long.bin"), &a));
    CHECK_OK(eval_logits_open(test_ref("gemma3-tiny/logits/logits-Q4_0-long.bin"), &b));
    const int32_t nv = 4160;
    CHECK_EQ_INT(eval_record_len(nv), 4164);
    CHECK_EQ_INT(eval_record_len(4161), 4166);
    uint16_t *rec = malloc(eval_record_len(nv) * 2);
    float *x = malloc(nv * 4), *y = malloc(nv * 4), *lp = malloc(nv * 4);
    double worst = 0;
    for (int32_t i = 0; i < a.n_pos; i++) {
        memcpy(x, eval_logits_row(&a, i), nv * 4);
        eval_record_encode(x, nv, rec);
        eval_record_decode(rec, nv, lp);
        float scale;
        memcpy(&scale, rec, 4);
        double m = x[0], s = 0;
        for (int v = 1; v < nv; v++)
            m = x[v] > m ? x[v] : m;
        for (int v = 0; v < nv; v++)
            s += exp(x[v] - m);
        for (int v = 0; v < nv; v++) {
            double err = fabs(lp[v] - (x[v] - m - log(s)));
            if (err > worst)
                worst = err;
            CHECK_MSG(err <= scale * 0.5 + 2e-5, "row %d token %d: decoded %.7g, exact %.7g", (int)i, v, lp[v], x[v] - m - log(s));
        }
        CHECK(scale > 0 && scale <= 16.0f / 65535 * 1.0001f);
    }
    CHECK(worst > 0 && worst < 1e-3);

    /* A base file of 2 chunks of n_ctx 80 from the long sequence's rows 40..78 (scored rows are
     * first = 40 .. 78), written, read back and used against the Q4_0 logits. */
    int32_t *tok = NULL;
    size_t n_tok = 0;
    CHECK_OK(eval_read_token_file(test_ref("gemma3-tiny/logits/seq-long.txt"), &tok, &n_tok));
    CHECK_EQ_INT(n_tok, 80);
    int32_t tokens2[160];
    for (int i = 0; i < 160; i++)
        tokens2[i] = tok[i % 80];
    const char *path = test_tmp("base.kld");
    eval_kld_writer w;
    CHECK_OK(eval_kld_writer_open(&w, path, 80, nv, 2, tokens2));
    for (int c = 0; c < 2; c++)
        for (int r = 40; r <= 78; r++) {
            memcpy(x, eval_logits_row(&a, r), nv * 4);
            CHECK_OK(eval_kld_writer_row(&w, x));
        }
    CHECK_OK(eval_kld_writer_finish(&w));
    CHECK_EQ_INT(medge_file_size(path), 20 + 160 * 4 + 78 * 4164 * 2);
    eval_logits f;
    CHECK_OK(eval_logits_open(path, &f));
    CHECK_EQ_INT(f.kind, EVAL_LOGITS_KLD);
    CHECK_EQ_INT(f.n_ctx, 80);
    CHECK_EQ_INT(f.n_chunk, 2);
    CHECK_EQ_INT(f.n_pos, 78);
    CHECK_EQ_INT(f.tokens[85], tok[5]);
    eval_kld *k1 = NULL, *k2 = NULL;
    CHECK_OK(eval_kld_new(nv, &k1));
    CHECK_OK(eval_kld_new(nv, &k2));
    for (int32_t i = 0; i < f.n_pos; i++) {
        int r = 40 + i % 39;
        memcpy(rec, eval_logits_record(&f, i), eval_record_len(nv) * 2);
        memcpy(y, eval_logits_row(&b, r), nv * 4);
        memcpy(x, eval_logits_row(&a, r), nv * 4);
        CHECK_OK(eval_kld_add_record(k1, rec, y, tok[r + 1]));
        CHECK_OK(eval_kld_add(k2, x, y, tok[r + 1]));
    }
    eval_kld_stats s1, s2;
    CHECK_OK(eval_kld_stats_get(k1, &s1));
    CHECK_OK(eval_kld_stats_get(k2, &s2));
    CHECK_MSG(rel_close(s1.kld_mean, s2.kld_mean, 2e-3), "record KLD %.7g vs full %.7g", s1.kld_mean, s2.kld_mean);
    CHECK_MSG(rel_close(s1.ppl_base, s2.ppl_base, 1e-4), "record PPL %.7g vs full %.7g", s1.ppl_base, s2.ppl_base);
    CHECK_MSG(rel_close(s1.ppl_model, s2.ppl_model, 1e-5), "PPL %.7g vs %.7g", s1.ppl_model, s2.ppl_model);
    CHECK(fabs(s1.same_top - s2.same_top) <= 2.0 / 78);
    eval_kld_free(k1);
    eval_kld_free(k2);
    eval_logits_close(&f);

    /* An unfinished writer leaves nothing behind; bad files are refused. */
    CHECK_OK(eval_kld_writer_open(&w, test_tmp("partial.kld"), 80, nv, 2, tokens2));
    CHECK_OK(eval_kld_writer_row(&w, x));
    CHECK_EQ_INT(eval_kld_writer_finish(&w), MEDGE_ERR_INTERNAL);
    CHECK_EQ_INT(medge_file_size(test_tmp("partial.kld")), -1);
    medge_map m;
    CHECK_OK(medge_read_file(path, &m));
    FILE *fp = fopen(test_tmp("cut.kld"), "wb");
    fwrite(m.data, 1, (size_t)m.size - 2, fp);
    fclose(fp);
    CHECK_EQ_INT(eval_logits_open(test_tmp("cut.kld"), &f), MEDGE_ERR_FORMAT);
    CHECK(strstr(medge_errmsg(NULL), "n_ctx 80, n_vocab 4160 and 2 chunks need") != NULL);
    ((uint8_t *)m.base)[20] = 0xff; /* token 0 = 255 + ...: negative / out of vocabulary */
    ((uint8_t *)m.base)[23] = 0x7f;
    fp = fopen(test_tmp("badtok.kld"), "wb");
    fwrite(m.data, 1, (size_t)m.size, fp);
    fclose(fp);
    CHECK_EQ_INT(eval_logits_open(test_tmp("badtok.kld"), &f), MEDGE_ERR_FORMAT);
    CHECK(strstr(medge_errmsg(NULL), "outside the vocabulary") != NULL);
    medge_unmap(&m);
    free(tok);
    free(rec);
    free(x);
    free(y);
    free(lp);
    eval_logits_close(&a);
    eval_logits_close(&b);
}

static int run_medge(const char *args, const char *out)
{
    const char *bin = getenv("MEDGE_BIN");
    char cmd[10240];
    snprintf(cmd, sizeof cmd, "'%s' eval kld %s > '%s' 2>&1", bin, args, out);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void write_logits(const char *path, int32_t n_pos, int32_t n_vocab, uint64_t trim)
{
    FILE *f = fopen(path, "wb");
    int32_t h[2] = {n_pos, n_vocab};
    fwrite(h, 4, 2, f);
    for (int64_t i = 0; i < (int64_t)n_pos * n_vocab - (int64_t)trim; i++) {
        float v = (float)(i % 7) * 0.5f;
        fwrite(&v, 4, 1, f);
    }
    fclose(f);
}

static void command(void)
{
    const char *bin = getenv("MEDGE_BIN");
    CHECK_MSG(bin && bin[0], "MEDGE_BIN not set");
    if (!bin || !bin[0])
        return;
    char args[4096];
    char out[1024], rep_md[1024], rep_json[1024]; /* test_tmp's buffers rotate: keep copies */
    snprintf(out, sizeof out, "%s", test_tmp("eval-out.txt"));
    snprintf(rep_md, sizeof rep_md, "%s", test_tmp("report.md"));
    snprintf(rep_json, sizeof rep_json, "%s", test_tmp("report.json"));
    snprintf(args, sizeof args, "--base-logits '%s' --logits '%s' --tokens '%s' --json --report '%s'",
             test_ref("gemma3-tiny/logits/logits-f32-chat.bin"), test_ref("gemma3-tiny/logits/logits-Q4_K_S-chat.bin"),
             test_ref("gemma3-tiny/logits/seq-chat.txt"), rep_json);
    CHECK_EQ_INT(run_medge(args, out), 0);
    json_doc *d = NULL;
    CHECK_OK(json_parse_file(out, &d));
    if (d) {
        const json_value *r = json_root(d);
        double v = 0;
        CHECK(json_get_num(json_get(r, "kld"), "mean", &v) && rel_close(v, 2.123049e-02, 1e-5));
        CHECK(json_get_num(json_get(r, "kld"), "median", &v) && rel_close(v, 2.118416e-02, 1e-5));
        CHECK(json_get_num(r, "same_top", &v) && fabs(v - 28.0 / 41) < 1e-9);
        CHECK(json_get_num(json_get(r, "ppl"), "ppl_model", &v) && rel_close(v, 8313.507064, 1e-6));
        bool pass = true;
        CHECK(json_get_bool(json_get(r, "gate"), "kld_pass", &pass) && pass);
        CHECK(json_get_bool(json_get(r, "gate"), "pass", &pass) && !pass); /* 68% same top < 90% */
        json_free(d);
    }
    d = NULL;
    CHECK_OK(json_parse_file(rep_json, &d));
    if (d) {
        const char *h = json_get_str(json_root(d), "model_sha256");
        CHECK(h && strlen(h) == 64);
        json_free(d);
    }
    /* Text + Markdown report, with a gate the Q8_0 logits pass, and --strict. */
    snprintf(args, sizeof args, "--base-logits '%s' --logits '%s' --report '%s' --min-same-top 0.9 --strict",
             test_ref("gemma3-tiny/logits/logits-f32-chat.bin"), test_ref("gemma3-tiny/logits/logits-Q8_0-chat.bin"), rep_md);
    CHECK_EQ_INT(run_medge(args, out), 0);
    medge_map m;
    CHECK_OK(medge_read_file(out, &m));
    CHECK(memmem(m.data, (size_t)m.size, "Mean    KLD:   0.000391", 23) != NULL);
    CHECK(memmem(m.data, (size_t)m.size, "Same top p: 92.683", 18) != NULL);
    CHECK(memmem(m.data, (size_t)m.size, "-> PASS", 7) != NULL);
    medge_unmap(&m);
    CHECK_OK(medge_read_file(rep_md, &m));
    CHECK(memmem(m.data, (size_t)m.size, "**Verdict: PASS**", 17) != NULL);
    medge_unmap(&m);
    snprintf(args, sizeof args, "--base-logits '%s' --logits '%s' --strict", test_ref("gemma3-tiny/logits/logits-f32-chat.bin"),
             test_ref("gemma3-tiny/logits/logits-Q4_0-chat.bin"));
    CHECK_EQ_INT(run_medge(args, out), 3);

    /* Bad input. */
    char a[1024], b[1024], c[1024], t[1024], tk[1024];
    snprintf(a, sizeof a, "%s", test_tmp("l-3x5.bin"));
    snprintf(b, sizeof b, "%s", test_tmp("l-3x6.bin"));
    snprintf(c, sizeof c, "%s", test_tmp("l-4x5.bin"));
    snprintf(t, sizeof t, "%s", test_tmp("l-trunc.bin"));
    snprintf(tk, sizeof tk, "%s", test_tmp("tok.txt"));
    write_logits(a, 3, 5, 0);
    write_logits(b, 3, 6, 0);
    write_logits(c, 4, 5, 0);
    write_logits(t, 3, 5, 1);
    const struct {
        const char *x, *y, *extra;
        int rc;
        const char *msg;
    } bad[] = {
        {a, b, "", 1, "different vocabularies"},
        {a, c, "", 1, "has 3 positions"},
        {a, t, "", 1, "but a header of 3 positions x 5 logits needs 68"},
        {a, a, "--tokens /nonexistent/seq.txt", 1, "/nonexistent/seq.txt"},
        {a, a, "--max-kld x", 2, "--max-kld needs a number"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(args, sizeof args, "--base-logits '%s' --logits '%s' %s", bad[i].x, bad[i].y, bad[i].extra);
        CHECK_EQ_INT(run_medge(args, out), bad[i].rc);
        CHECK_OK(medge_read_file(out, &m));
        CHECK_MSG(m.size && memmem(m.data, (size_t)m.size, bad[i].msg, strlen(bad[i].msg)) != NULL, "case %zu: \"%.*s\"", i,
                  (int)m.size, (const char *)m.data);
        medge_unmap(&m);
    }
    /* Tokens outside the vocabulary, or too many. */
    FILE *f = fopen(tk, "w");
    fputs("1 2 9\n", f);
    fclose(f);
    snprintf(args, sizeof args, "--base-logits '%s' --logits '%s' --tokens '%s'", a, a, tk);
    CHECK_EQ_INT(run_medge(args, out), 1);
    f = fopen(tk, "w");
    fputs("1 2 3 4 0\n", f);
    fclose(f);
    CHECK_EQ_INT(run_medge(args, out), 1);
    /* Identical files: zero divergence, PASS. */
    f = fopen(tk, "w");
    fputs("[1, 2, 3]", f);
    fclose(f);
    CHECK_EQ_INT(run_medge(args, out), 0);
}

int main(void)
{
    reference_stats();
    hand_computed();
    records();
    command();
    TEST_END();
}
