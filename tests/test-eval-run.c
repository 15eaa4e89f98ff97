/* test-eval-run.c - `medge eval kld` end to end on the tiny Gemma 3: the F32 conversion of the
 * reference checkpoint (made here with medge convert) as base and llama.cpp's Q4_K_S as model,
 * over imatrix/calibration.txt with -c 64 as specs/imatrix-and-kld.md §2.5 ran llama-perplexity.
 * llama.cpp reports mean KLD 0.022965, same top 63.973 %, PPL(base) 5229.99, PPL(Q) 5304.25 over
 * its 95 chunks (specs/imatrix-and-kld.md §2.5); medge tokenizes the text to the same 95 x 64
 * tokens and must give every one of those within 5 % (the acceptance bar; measured: KLD -0.06 %,
 * same top equal). The saved base file must give the same statistics when reused, the base
 * against itself must give (almost) zero divergence, and bad inputs must fail clearly. */
#include "test.h"
#include "core/file.h"
#include "core/json.h"

#include <sys/wait.h>

static int sh(const char *cmd)
{
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static json_doc *run_json(const char *args, int want_rc)
{
    static char cmd[16384], out[1024];
    snprintf(out, sizeof out, "%s", test_tmp("eval-run.json"));
    snprintf(cmd, sizeof cmd, "'%s' eval kld %s -t 1 -q --json > '%s'", getenv("MEDGE_BIN"), args, out);
    int rc = sh(cmd);
    CHECK_MSG(rc == want_rc, "%s -> %d", cmd, rc);
    json_doc *d = NULL;
    if (rc == 0)
        CHECK_OK(json_parse_file(out, &d));
    return d;
}

static double num(const json_doc *d, const char *obj, const char *key)
{
    double v = NAN;
    const json_value *o = obj ? json_get(json_root(d), obj) : json_root(d);
    json_get_num(o, key, &v);
    return v;
}

static void expect_error(const char *args, const char *msg)
{
    char cmd[16384], out[1024];
    snprintf(out, sizeof out, "%s", test_tmp("eval-run-err.txt"));
    snprintf(cmd, sizeof cmd, "'%s' eval kld %s -t 1 -q > '%s' 2>&1", getenv("MEDGE_BIN"), args, out);
    CHECK_EQ_INT(sh(cmd), 1);
    medge_map m;
    CHECK_OK(medge_read_file(out, &m));
    CHECK_MSG(m.size && memmem(m.data, (size_t)m.size, msg, strlen(msg)), "%s: said \"%.*s\"", args, (int)m.size, (const char *)m.data);
    medge_unmap(&m);
}

int main(void)
{
    const char *bin = getenv("MEDGE_BIN");
    CHECK_MSG(bin && bin[0], "MEDGE_BIN not set");
    if (!bin || !bin[0])
        TEST_END();
    /* All 95 chunks as llama.cpp ran them; in slow builds (sanitizers, emulation) the first 2,
     * against llama.cpp's running statistics after chunk 2 (its chunk line 2 in §2.5). */
    const int full = getenv("MEDGE_SANITIZED") == NULL, chunks = full ? 95 : 2;
    const double want_kld = full ? 0.022965 : 0.02557, want_top = full ? 0.63973 : 0.74194;
    const double want_pplb = full ? 5229.99 : 5124.5301, want_pplq = full ? 5304.25 : 5113.1665;
    char f32[1024], base[1024], q4[1024], text[1024], vocab[1024], cmd[8192], args[8192];
    snprintf(f32, sizeof f32, "%s", test_tmp("eval-tiny-f32.gguf"));
    snprintf(base, sizeof base, "%s", test_tmp("eval-base.kld"));
    snprintf(q4, sizeof q4, "%s", test_ref("gemma3-tiny/gguf/tiny-gemma3-Q4_K_S.gguf"));
    snprintf(text, sizeof text, "%s", test_ref("gemma3-tiny/imatrix/calibration.txt"));
    snprintf(vocab, sizeof vocab, "%s", test_ref("tokenizer/gemma3-vocab.gguf"));
    snprintf(cmd, sizeof cmd, "'%s' convert '%s' -o '%s' --outtype f32 -q > /dev/null", bin, test_ref("gemma3-tiny/hf"), f32);
    CHECK_EQ_INT(sh(cmd), 0);

    snprintf(args, sizeof args, "--base '%s' --model '%s' -f '%s' -c 64 --chunks %d --save-base '%s'", f32, q4, text, chunks, base);
    json_doc *d = run_json(args, 0);
    double kld = NAN, top = NAN, pplb = NAN, pplq = NAN;
    if (d) {
        kld = num(d, "kld", "mean");
        top = num(d, NULL, "same_top");
        pplb = num(d, "ppl", "ppl_base");
        pplq = num(d, "ppl", "ppl_model");
        CHECK_MSG(fabs(kld - want_kld) <= 0.05 * want_kld, "mean KLD %.6f (llama.cpp %.6f)", kld, want_kld);
        /* 62 positions of near-ties in the short run: a few may flip (measured 0.694 vs 0.742) */
        CHECK_MSG(fabs(top - want_top) <= (full ? 0.05 * want_top : 0.10), "same top %.5f (llama.cpp %.5f)", top, want_top);
        CHECK_MSG(fabs(pplb - want_pplb) <= 0.05 * want_pplb, "PPL(base) %.2f (llama.cpp %.2f)", pplb, want_pplb);
        CHECK_MSG(fabs(pplq - want_pplq) <= 0.05 * want_pplq, "PPL(Q) %.2f (llama.cpp %.2f)", pplq, want_pplq);
        if (full) {
            CHECK_MSG(fabs(log(pplq / pplb) - 0.014099) <= 0.05 * 0.014099, "ln PPL ratio %.6f (llama.cpp 0.014099)",
                      log(pplq / pplb));
            CHECK_MSG(fabs(num(d, "kld", "median") - 0.022397) <= 0.05 * 0.022397, "median KLD %.6f (llama.cpp 0.022397)",
                      num(d, "kld", "median"));
        }
        CHECK_EQ_INT((int64_t)num(d, NULL, "positions"), chunks * 31);
        json_free(d);
    }
    CHECK_EQ_INT(medge_file_size(base), 20 + chunks * 64 * 4 + chunks * 31 * 4164 * 2);

    /* Reusing the base file: the same numbers. */
    snprintf(args, sizeof args, "--base-logits '%s' --model '%s'", base, q4);
    d = run_json(args, 0);
    if (d) {
        CHECK_NEAR(num(d, "kld", "mean"), kld, 1e-12);
        CHECK_NEAR(num(d, NULL, "same_top"), top, 1e-12);
        CHECK_NEAR(num(d, "ppl", "ppl_model"), pplq, 1e-9 * pplq);
        json_free(d);
    }
    /* The base model against its own 16-bit log-probs. */
    snprintf(args, sizeof args, "--base-logits '%s' --model '%s' --chunks 2", base, f32);
    d = run_json(args, 0);
    if (d) {
        CHECK_MSG(num(d, "kld", "mean") < 1e-6, "self KLD %.3g", num(d, "kld", "mean"));
        CHECK_NEAR(num(d, NULL, "same_top"), 1.0, 1e-12);
        CHECK_EQ_INT((int64_t)num(d, NULL, "positions"), 2 * 31);
        json_free(d);
    }

    /* Bad input. */
    snprintf(args, sizeof args, "--base '%s' --model '%s' -f '%s' -c 64", f32, vocab, text);
    expect_error(args, "different vocabularies");
    snprintf(args, sizeof args, "--base '%s' --model '%s' -f '%s' -c 200000", f32, q4, text);
    expect_error(args, "-c 200000 is larger than the context");
    FILE *f = fopen(test_tmp("empty.txt"), "w");
    fputs("\n", f);
    fclose(f);
    snprintf(args, sizeof args, "--base '%s' --model '%s' -f '%s' -c 64", f32, q4, test_tmp("empty.txt"));
    expect_error(args, "the text is empty");
    f = fopen(test_tmp("short.txt"), "w");
    fputs("A short note: fever for two days.\n", f);
    fclose(f);
    snprintf(args, sizeof args, "--base '%s' --model '%s' -f '%s' -c 64", f32, q4, test_tmp("short.txt"));
    expect_error(args, "needs at least 128 (two chunks)");
    snprintf(args, sizeof args, "--base-logits '%s' --model '%s'", test_ref("gemma3-tiny/logits/logits-f32-chat.bin"), q4);
    expect_error(args, "is not a llama.cpp KL-divergence base file");

    /* eval mcq: two models on three short questions; the log's letter log-probs must pick the
     * reported choice, and the JSON must count what the log says. */
    char qs[1024], logp[1024], out[1024];
    snprintf(qs, sizeof qs, "%s", test_tmp("mcq.jsonl"));
    snprintf(logp, sizeof logp, "%s", test_tmp("mcq.log"));
    snprintf(out, sizeof out, "%s", test_tmp("mcq.json"));
    f = fopen(qs, "w");
    fputs("{\"id\": \"a\", \"question\": \"Fever and stiff neck?\", \"options\": [\"meningitis\", \"otitis\", \"cold\"], \"answer\": 0}\n"
          "{\"id\": \"b\", \"question\": \"Drug for eclampsia?\", \"opa\": \"MgSO4\", \"opb\": \"ORS\", \"cop\": 0}\n"
          "{\"id\": \"c\", \"question\": \"Is ORS useful in diarrhoea?\", \"final_decision\": \"yes\"}\n", f);
    fclose(f);
    char rep[1024];
    snprintf(rep, sizeof rep, "%s", test_tmp("mcq-report.json"));
    snprintf(cmd, sizeof cmd, "'%s' eval mcq -m '%s' --compare '%s' -f '%s' --log '%s' --json -t 1 -q --report '%s' > '%s'", bin, q4,
             f32, qs, logp, rep, out);
    CHECK_EQ_INT(sh(cmd), 0);
    { /* the report file holds what was printed */
        medge_map ro, rr;
        CHECK_OK(medge_read_file(out, &ro));
        CHECK_OK(medge_read_file(rep, &rr));
        CHECK(ro.size > 0 && ro.size == rr.size && memcmp(ro.data, rr.data, (size_t)ro.size) == 0);
        medge_unmap(&ro);
        medge_unmap(&rr);
    }
    d = NULL;
    CHECK_OK(json_parse_file(out, &d));
    FILE *lf = fopen(logp, "r");
    CHECK(lf != NULL);
    char line[1024];
    int lines = 0, right[2] = {0, 0};
    while (lf && fgets(line, sizeof line, lf)) {
        int model = lines / 3;
        lines++;
        char *chose = strstr(line, "chose "), best = 0;
        double bestv = -INFINITY;
        for (char *p = line; (p = strchr(p, '\t')) != NULL; p++)
            if (p[1] >= 'A' && p[1] <= 'J' && p[2] == ':') {
                double v = atof(p + 3);
                CHECK(v < 0);
                if (v > bestv) {
                    bestv = v;
                    best = p[1];
                }
            }
        CHECK_MSG(chose && chose[6] == best, "log line picks %c: %s", best, line);
        right[model < 2 ? model : 1] += strstr(line, "\tright") != NULL;
    }
    if (lf)
        fclose(lf);
    CHECK_EQ_INT(lines, 6);
    if (d) {
        const json_value *m = json_get(json_root(d), "model"), *c = json_get(json_root(d), "compare");
        int64_t k = -1, n = -1;
        CHECK(json_get_int(m, "questions", &n) && n == 3);
        CHECK(json_get_int(m, "correct", &k) && k == right[0]);
        CHECK(json_get_int(c, "correct", &k) && k == right[1]);
        double diff = NAN;
        CHECK(json_get_num(json_root(d), "difference", &diff) && fabs(diff - (right[0] - right[1]) / 3.0) < 1e-12);
        json_free(d);
    }
    f = fopen(qs, "w");
    fputs("{\"question\": \"q\", \"options\": [\"a\", \"b\"], \"answer\": 0}\n{\"question\": \"q2\", \"options\": [\"a\", \"b\"]}\n", f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "'%s' eval mcq -m '%s' -f '%s' -q > '%s' 2>&1", bin, q4, qs, out);
    CHECK_EQ_INT(sh(cmd), 1);
    medge_map mm;
    CHECK_OK(medge_read_file(out, &mm));
    CHECK(mm.size && memmem(mm.data, (size_t)mm.size, "line 2: no answer", 17) != NULL);
    medge_unmap(&mm);
    TEST_END();
}
