/* gen.c - see gen.h. */
#include "gen.h"
#include "tool.h"
#include "runtime/session.h"

#include <stdlib.h>
#include <string.h>

void gen_opts_init(gen_opts *o)
{
    memset(o, 0, sizeof *o);
    o->sp = medge_session_default_params();
    o->smp = medge_sampler_default_params();
    o->n_predict = 256;
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi)
        return 0;
    *out = v;
    return 1;
}

static int parse_float(const char *s, float lo, float hi, float *out)
{
    char *end;
    float v = strtof(s, &end);
    if (!*s || *end || !(v >= lo && v <= hi))
        return 0;
    *out = v;
    return 1;
}

int gen_parse_common(gen_opts *o, const char *cmd, int argc, char **argv, int *i)
{
    const char *a = argv[*i];
    if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
        o->verbose = 1;
        return 1;
    }
    static const char *const with_value[] = {"-m", "--model", "-n", "--n-predict", "-t", "--threads", "-c", "--ctx",
                                             "-b", "--batch", "--kv-type", "--temp", "--top-k", "--top-p", "--min-p",
                                             "--repeat-penalty", "--repeat-last-n", "--presence-penalty",
                                             "--frequency-penalty", "--seed", "--stop", NULL};
    int known = 0;
    for (int k = 0; with_value[k]; k++)
        known |= !strcmp(a, with_value[k]);
    if (!known)
        return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "medge %s: option %s needs a value\n", cmd, a);
        return -1;
    }
    const char *v = argv[++*i];
    long l = 0;
    int ok = 1;
    if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
        o->model = v;
    } else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) {
        ok = parse_long(v, -1, 1 << 30, &l);
        o->n_predict = (int)l;
    } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
        ok = parse_long(v, 1, 256, &l);
        o->sp.n_threads = (int)l;
    } else if (!strcmp(a, "-c") || !strcmp(a, "--ctx")) {
        ok = parse_long(v, 0, 1 << 28, &l);
        o->sp.n_ctx = (int)l;
    } else if (!strcmp(a, "-b") || !strcmp(a, "--batch")) {
        ok = parse_long(v, 1, 1 << 20, &l);
        o->sp.n_batch = (int)l;
    } else if (!strcmp(a, "--kv-type")) {
        if (!strcmp(v, "f16"))
            o->sp.kv_type = MEDGE_KV_F16;
        else if (!strcmp(v, "q8_0"))
            o->sp.kv_type = MEDGE_KV_Q8_0;
        else if (!strcmp(v, "f32"))
            o->sp.kv_type = MEDGE_KV_F32;
        else
            ok = 0;
    } else if (!strcmp(a, "--temp")) {
        ok = parse_float(v, 0.0f, 100.0f, &o->smp.temperature);
    } else if (!strcmp(a, "--top-k")) {
        ok = parse_long(v, 0, 1 << 30, &l);
        o->smp.top_k = (int)l;
    } else if (!strcmp(a, "--top-p")) {
        ok = parse_float(v, 1e-6f, 1.0f, &o->smp.top_p);
    } else if (!strcmp(a, "--min-p")) {
        ok = parse_float(v, 0.0f, 1.0f, &o->smp.min_p);
    } else if (!strcmp(a, "--repeat-penalty")) {
        ok = parse_float(v, 1e-3f, 100.0f, &o->smp.repeat_penalty);
    } else if (!strcmp(a, "--repeat-last-n")) {
        ok = parse_long(v, 0, 1 << 28, &l);
        o->smp.repeat_last_n = (int)l;
    } else if (!strcmp(a, "--presence-penalty")) {
        ok = parse_float(v, -100.0f, 100.0f, &o->smp.presence_penalty);
    } else if (!strcmp(a, "--frequency-penalty")) {
        ok = parse_float(v, -100.0f, 100.0f, &o->smp.frequency_penalty);
    } else if (!strcmp(a, "--seed")) {
        char *end;
        unsigned long long s = strtoull(v, &end, 10);
        ok = *v && !*end && v[0] != '-';
        o->smp.seed = s;
    } else if (!strcmp(a, "--stop")) {
        ok = o->n_stop < GEN_MAX_STOP && v[0];
        if (ok)
            o->stop[o->n_stop++] = v;
    }
    if (!ok) {
        fprintf(stderr, "medge %s: bad value '%s' for %s\n", cmd, v, a);
        return -1;
    }
    return 1;
}

void gen_print_common_help(FILE *f)
{
    fprintf(f, "  -m, --model FILE        Gemma 3 / MedGemma text GGUF (required)\n"
               "  -n, --n-predict N       most tokens to generate (default 256; -1: until the context is full)\n"
               "  -c, --ctx N             context size in tokens (default 4096; 0: the model's own)\n"
               "  -b, --batch N           prompt tokens per forward pass (default 512)\n"
               "  -t, --threads N         threads (default: one per core)\n"
               "  --kv-type T             KV cache type: f16 (default), q8_0, f32\n"
               "  --temp T                temperature (default 0.8; 0: greedy)\n"
               "  --top-k K               keep the K most likely tokens (default 40; 0: all)\n"
               "  --top-p P               nucleus sampling (default 0.95; 1: off)\n"
               "  --min-p P               drop tokens below P x the most likely (default 0.05; 0: off)\n"
               "  --repeat-penalty R      penalise recent tokens (default 1.0: off)\n"
               "  --repeat-last-n N       how many recent tokens the penalties see (default 64)\n"
               "  --presence-penalty P    subtract P once from recent tokens' logits (default 0)\n"
               "  --frequency-penalty F   subtract F per occurrence (default 0)\n"
               "  --seed S                random seed (default: from the clock)\n"
               "  --stop TEXT             also stop when TEXT is generated (up to 8 times)\n"
               "  -v, --verbose           more details on stderr\n"
               "Generation always stops at <end_of_turn> or <eos>. Before allocating, the memory the model and\n"
               "the context need is printed; when the machine does not have it, medge refuses with a message.\n");
}

int gen_open(gen_ctx *g, const gen_opts *o, const char *cmd)
{
    memset(g, 0, sizeof *g);
    if (!o->model) {
        fprintf(stderr, "medge %s: a model is required (-m MODEL.gguf)\n", cmd);
        return 1;
    }
    double t0 = tool_now();
    medge_status rc = medge_model_load(o->model, medge_model_default_params(), &g->model);
    if (rc != MEDGE_OK)
        return tool_fail(cmd, rc);
    rc = spm_load_gguf(g->model->g->gguf, &g->vocab);
    if (rc != MEDGE_OK) {
        tool_fail(cmd, rc);
        gen_close(g);
        return 1;
    }
    g->t_load = tool_now() - t0;
    uint64_t ses = medge_session_memory(g->model, o->sp), w = medge_model_size(g->model);
    fprintf(stderr, "medge %s: memory: %.1f MiB (weights %.1f MiB, mapped + context and buffers %.1f MiB)\n", cmd,
            (double)(ses + w) / 1048576.0, (double)w / 1048576.0, (double)ses / 1048576.0);
    rc = medge_session_new(g->model, o->sp, &g->s);
    if (rc == MEDGE_OK)
        rc = medge_session_set_sampler(g->s, o->smp);
    if (rc != MEDGE_OK) {
        tool_fail(cmd, rc);
        gen_close(g);
        return 1;
    }
    return 0;
}

void gen_close(gen_ctx *g)
{
    medge_session_free(g->s);
    spm_free(g->vocab);
    medge_model_free(g->model);
    memset(g, 0, sizeof *g);
}

/* Length of the longest suffix of s[0..n) that is a proper prefix of a stop string. */
static size_t held_back(const gen_opts *o, const char *s, size_t n)
{
    size_t best = 0;
    for (int k = 0; k < o->n_stop; k++) {
        size_t ls = strlen(o->stop[k]);
        for (size_t m = ls - 1; m > best; m--)
            if (m <= n && memcmp(s + n - m, o->stop[k], m) == 0) {
                best = m;
                break;
            }
    }
    return best;
}

int gen_run(gen_ctx *g, const gen_opts *o, const char *cmd, const int32_t *ids, size_t n, FILE *out,
            medge_buf *answer, gen_stats *st)
{
    memset(st, 0, sizeof *st);
    st->n_prompt = (int)n;
    double t0 = tool_now();
    /* ids == NULL: the caller has evaluated the prompt itself (image prompts) */
    medge_status rc = ids ? medge_session_eval_prefix(g->s, ids, (int)n, &st->n_reused) : MEDGE_OK;
    st->t_prompt = tool_now() - t0;
    if (rc != MEDGE_OK) {
        fprintf(stderr, "medge %s: %s\n", cmd, medge_errmsg(g->s));
        return 1;
    }
    medge_buf text = {0};
    size_t printed = 0;
    spm_detok dt;
    spm_detok_init(&dt, 0);
    double t1 = tool_now();
    int stopped = 0;
    for (int i = 0; o->n_predict < 0 || i < o->n_predict; i++) {
        int32_t tok;
        if ((rc = medge_session_sample(g->s, &tok)) != MEDGE_OK)
            break;
        if (medge_model_is_eog(g->model, tok) || spm_is_eog(g->vocab, tok))
            break;
        spm_detok_push(&dt, g->vocab, tok, &text);
        st->n_gen++;
        /* user stop strings: cut at the first occurrence */
        for (int k = 0; k < o->n_stop && !stopped; k++) {
            const char *hit = text.data ? strstr(text.data, o->stop[k]) : NULL;
            if (hit) {
                text.len = (size_t)(hit - text.data);
                stopped = 1;
            }
        }
        size_t upto = stopped ? text.len : text.len - held_back(o, text.data ? text.data : "", text.len);
        if (upto > printed) {
            fwrite(text.data + printed, 1, upto - printed, out);
            fflush(out);
            printed = upto;
        }
        if (stopped)
            break;
        if (medge_session_n_past(g->s) >= medge_session_n_ctx(g->s)) {
            st->context_full = true;
            break;
        }
        if ((rc = medge_session_eval(g->s, &tok, 1)) != MEDGE_OK)
            break;
    }
    if (!stopped) {
        spm_detok_flush(&dt, &text);
        if (text.len > printed)
            fwrite(text.data + printed, 1, text.len - printed, out);
    }
    st->t_gen = tool_now() - t1;
    if (answer && text.len)
        medge_buf_append(answer, text.data, text.len);
    int ret = 0;
    if (text.oom) {
        fprintf(stderr, "medge %s: out of memory\n", cmd);
        ret = 1;
    } else if (rc != MEDGE_OK) {
        fprintf(stderr, "\nmedge %s: %s\n", cmd, medge_errmsg(g->s));
        ret = 1;
    }
    if (st->context_full)
        fprintf(stderr, "\nmedge %s: the context of %d tokens is full: generation stopped (use -c to enlarge it)\n",
                cmd, medge_session_n_ctx(g->s));
    medge_buf_free(&text);
    return ret;
}

void gen_print_stats(const gen_ctx *g, const gen_stats *st)
{
    int evald = st->n_prompt - st->n_reused;
    fprintf(stderr, "\nload %.2f s | prompt %d tokens (%d reused) in %.2f s, %.1f tok/s | generated %d tokens in %.2f s, "
                    "%.1f tok/s\n",
            g->t_load, st->n_prompt, st->n_reused, st->t_prompt, st->t_prompt > 0 ? evald / st->t_prompt : 0.0,
            st->n_gen, st->t_gen, st->t_gen > 0 ? st->n_gen / st->t_gen : 0.0);
}
