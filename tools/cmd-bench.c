/* cmd-bench.c - `medge bench`: prompt-processing and generation speed of a model on this machine
 * (in the manner of llama-bench: random token ids, repeated runs, median / mean / spread), plus
 * load time, time to first token and peak resident memory. Speed targets live here and in
 * bench/, never in tests. */
#include "tool.h"
#include "core/cpu.h"
#include "core/file.h"
#include "formats/gguf.h"
#include "ops/kernels.h"
#include "quant/types.h"
#include "runtime/session.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static void help(FILE *f)
{
    fprintf(f,
            "usage: medge bench -m MODEL.gguf [-p N] [-n N] [-t N] [-r N] [-c N] [-d N] [-b N] [--kv f16|q8_0]\n"
            "                   [--fill-depth] [--load huge|mmap|read] [--json]\n\n"
            "Measure prompt processing (pp) and generation (tg) speed with random token ids.\n\n"
            "  -m PATH        text model GGUF\n"
            "  -p N           prompt tokens per pp run, evaluated as one prompt in batches of -b (default 512; 0: skip)\n"
            "  -n N           tokens generated one at a time per tg run, greedy (default 128; 0: skip)\n"
            "  -t N           threads (default: all cores)\n"
            "  -r N           repetitions of each test (default 3); the first run of each test is a warm-up\n"
            "                 that is not counted unless -r 1\n"
            "  -c N           context size of the session (default: just enough for -d + the longest test)\n"
            "  -d N           depth: evaluate N tokens before each test, untimed, so the tests run with N\n"
            "                 positions already in the KV cache (attention cost of a long context; default 0)\n"
            "  --fill-depth   write the -d positions into the KV cache as random keys and values instead of\n"
            "                 evaluating them: seconds instead of many minutes at -d 7600, and the same work\n"
            "                 for the timed tokens (attention over the same number of cells; the values differ)\n"
            "  -b N           prompt batch size (default 512)\n"
            "  --kv TYPE      KV cache type: f16 (default), q8_0, f32\n"
            "  --load HOW     how the weights get into memory: huge (default: the file mapped in 2 MB pages where\n"
            "                 the kernel has transparent huge pages, see medge.h), mmap (plain mapping), read\n"
            "                 (read into allocated memory)\n"
            "  --json         print one JSON object instead of the table\n\n"
            "Reports tokens/second as median, mean and standard deviation over the counted runs, the load time,\n"
            "time to first token (prompt + first generated token) and the peak resident set size of the process.\n");
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct stats {
    double median, mean, sd;
} stats;

static stats summarize(double *v, int n)
{
    stats s = {0, 0, 0};
    if (n <= 0)
        return s;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    s.median = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    for (int i = 0; i < n; i++)
        s.mean += v[i];
    s.mean /= n;
    for (int i = 0; i < n; i++)
        s.sd += (v[i] - s.mean) * (v[i] - s.mean);
    s.sd = n > 1 ? sqrt(s.sd / (n - 1)) : 0.0;
    return s;
}

/* CPU seconds (user + system) used by the whole process so far: on a shared machine, tokens per
 * CPU second tell what the code does when it gets the cores, whatever else is running. */
static double cpu_seconds(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0.0;
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
}

static uint64_t g_rng = 0x2545f4914f6cdd1dull;
static int32_t rand_token(int n_vocab)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    /* plain text pieces: skip the first 512 ids (control, user-defined and byte tokens) */
    int lo = n_vocab > 4096 ? 512 : 0;
    return (int32_t)(lo + (int)(g_rng % (uint64_t)(n_vocab - lo)));
}

/* Evaluate `depth` untimed tokens from an empty context. */
static medge_status prefill_depth(medge_session *s, int32_t *tok, int depth, int n_vocab)
{
    MEDGE_TRY(medge_session_rewind(s, 0));
    for (int i = 0; i < depth; i++)
        tok[i] = rand_token(n_vocab);
    return depth ? medge_session_eval(s, tok, depth) : MEDGE_OK;
}

/* Fill the KV cache with `depth` positions of random keys and values (what -d evaluates, without
 * the minutes a long prompt takes): every layer's cells that positions 0..depth-1 occupy (the last
 * window-ring's worth for sliding-window layers), then the position tables as an evaluation
 * leaves them. Rows are drawn from a small pool of random rows converted to the cache type. */
static medge_status fill_depth(medge_session *s, int depth)
{
    MEDGE_TRY(medge_session_rewind(s, 0));
    if (depth <= 0)
        return MEDGE_OK;
    gemma3_cache *c = &s->cache;
    const gemma3_hparams *hp = &s->model->g->hp;
    const ops_kernels *k = ops_kernels_get();
    if (depth > c->n_ctx)
        return medge_err(MEDGE_ERR_CONTEXT_FULL, "depth %d exceeds the context (%d)", depth, c->n_ctx);
    enum { POOL = 509 }; /* rows; odd, so heads and positions do not repeat in step */
    const int n_rand = 1 << 30;
    const int D = hp->head_dim;
    float *row = malloc((size_t)D * sizeof *row);
    uint8_t *pool = malloc((size_t)POOL * c->row_bytes);
    if (!row || !pool) {
        free(row);
        free(pool);
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    }
    for (int r = 0; r < POOL; r++) {
        for (int i = 0; i < D; i++)
            row[i] = (float)((int)(rand_token(n_rand) % 65536) - 32768) / 32768.0f;
        k->quantize_act[c->type](row, pool + (size_t)r * c->row_bytes, D);
    }
    size_t pick = 0;
    for (int il = 0; il < hp->n_layer; il++) {
        const int cap = gemma3_cache_cap(c, hp, il);
        for (int p = depth > cap ? depth - cap : 0; p < depth; p++)
            for (int h = 0; h < hp->n_kv_head; h++) {
                memcpy(gemma3_cache_row(c, hp, il, 0, p, h), pool + (pick++ % POOL) * c->row_bytes, c->row_bytes);
                memcpy(gemma3_cache_row(c, hp, il, 1, p, h), pool + (pick++ % POOL) * c->row_bytes, c->row_bytes);
            }
    }
    for (int p = 0; p < depth; p++) {
        int32_t *ps = &c->pos_swa[p % c->cap_swa];
        if (*ps >= 0)
            c->wrapped = true;
        *ps = p;
        c->pos_glb[p] = p;
        s->hist[p] = -1;
    }
    c->n_past = depth;
    s->have_logits = false;
    free(row);
    free(pool);
    return MEDGE_OK;
}

static void describe_model(const char *path, char *type, size_t tn, char *name, size_t nn)
{
    snprintf(type, tn, "?");
    snprintf(name, nn, "?");
    gguf_ctx *g = NULL;
    if (gguf_open(path, &g) != MEDGE_OK)
        return;
    const char *arch = NULL, *gname = NULL;
    gguf_get_str(g, "general.architecture", &arch);
    gguf_get_str(g, "general.size_label", &gname);
    snprintf(name, nn, "%s %s", arch ? arch : "?", gname ? gname : "");
    /* most frequent matrix type by bytes, as llama-bench names files by their main type */
    uint64_t bytes[64] = {0};
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if (g->tensors[i].n_dims >= 2 && g->tensors[i].type < 64)
            bytes[g->tensors[i].type] += g->tensors[i].nbytes;
    uint32_t file_type = 0;
    int best = 0;
    for (int t = 1; t < 64; t++)
        if (bytes[t] > bytes[best])
            best = t;
    if (gguf_get_u32(g, "general.file_type", &file_type) == MEDGE_OK && file_type == 14)
        snprintf(type, tn, "Q4_K_S");
    else if (file_type == 15)
        snprintf(type, tn, "Q4_K_M");
    else
        snprintf(type, tn, "%s", quant_type_name((uint32_t)best));
    gguf_close(g);
}

static int run(int argc, char **argv)
{
    const char *model_path = NULL;
    int n_prompt = 512, n_gen = 128, n_threads = 0, reps = 3, n_ctx = 0, depth = 0, n_batch = 512, json = 0;
    int fill = 0;
    medge_kv_type kv = MEDGE_KV_F16;
    medge_model_params mparams = medge_model_default_params();
    const char *load_how = "huge";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            help(stdout);
            return 0;
        }
        if (!strcmp(a, "--json")) {
            json = 1;
            continue;
        }
        if (!strcmp(a, "--fill-depth")) {
            fill = 1;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "medge bench: %s needs a value (or is unknown)\n", a);
            return 2;
        }
        const char *v = argv[++i];
        char *end = NULL;
        long x = strtol(v, &end, 10);
        int is_num = end && *end == 0 && end != v;
        if (!strcmp(a, "-m")) {
            model_path = v;
            continue;
        }
        if (!strcmp(a, "--load")) {
            if (!strcmp(v, "huge")) {
                mparams.use_mmap = 1;
                mparams.huge_pages = 1;
            } else if (!strcmp(v, "mmap")) {
                mparams.use_mmap = 1;
                mparams.huge_pages = 0;
            } else if (!strcmp(v, "read")) {
                mparams.use_mmap = 0;
                mparams.huge_pages = 0;
            } else {
                fprintf(stderr, "medge bench: unknown --load '%s' (huge, mmap, read)\n", v);
                return 2;
            }
            load_how = v;
            continue;
        }
        if (!strcmp(a, "--kv")) {
            if (!strcmp(v, "f16"))
                kv = MEDGE_KV_F16;
            else if (!strcmp(v, "q8_0"))
                kv = MEDGE_KV_Q8_0;
            else if (!strcmp(v, "f32"))
                kv = MEDGE_KV_F32;
            else {
                fprintf(stderr, "medge bench: unknown KV type '%s' (f16, q8_0, f32)\n", v);
                return 2;
            }
            continue;
        }
        if (!is_num || x < 0 || x > 1000000) {
            fprintf(stderr, "medge bench: %s: bad value '%s'\n", a, v);
            return 2;
        }
        if (!strcmp(a, "-p"))
            n_prompt = (int)x;
        else if (!strcmp(a, "-n"))
            n_gen = (int)x;
        else if (!strcmp(a, "-t"))
            n_threads = (int)x;
        else if (!strcmp(a, "-r"))
            reps = x < 1 ? 1 : (int)x;
        else if (!strcmp(a, "-c"))
            n_ctx = (int)x;
        else if (!strcmp(a, "-d"))
            depth = (int)x;
        else if (!strcmp(a, "-b"))
            n_batch = x < 1 ? 1 : (int)x;
        else {
            fprintf(stderr, "medge bench: unknown option '%s'\n", a);
            return 2;
        }
    }
    if (!model_path) {
        fprintf(stderr, "medge bench: -m MODEL.gguf is required\n\n");
        help(stderr);
        return 2;
    }
    int need = depth + (n_prompt > n_gen ? n_prompt : n_gen) + 1;
    if (n_ctx == 0)
        n_ctx = need;
    if (n_ctx < need) {
        fprintf(stderr, "medge bench: -c %d is too small for -d %d plus the tests (%d positions)\n", n_ctx, depth, need);
        return 2;
    }

    double t0 = tool_now();
    medge_model *model = NULL;
    medge_status rc = medge_model_load(model_path, mparams, &model);
    if (rc != MEDGE_OK)
        return tool_fail("bench", rc);
    double t_load = tool_now() - t0;
    if (!strcmp(load_how, "huge") && !medge_huge_pages_available())
        load_how = "mmap"; /* what the loader falls back to */
    medge_session_params sp = medge_session_default_params();
    sp.n_ctx = n_ctx;
    sp.n_batch = n_batch;
    sp.n_threads = n_threads;
    sp.kv_type = kv;
    medge_session *s = NULL;
    t0 = tool_now();
    rc = medge_session_new(model, sp, &s);
    if (rc != MEDGE_OK) {
        medge_model_free(model);
        return tool_fail("bench", rc);
    }
    double t_session = tool_now() - t0;
    int n_vocab = medge_model_n_vocab(model);
    int max_n = depth + n_prompt + n_gen + 1;
    int32_t *tok = malloc((size_t)max_n * sizeof *tok);
    int runs = reps > 1 ? reps + 1 : 1; /* + a warm-up */
    double *pp = calloc((size_t)runs, sizeof(double)), *tg = calloc((size_t)runs, sizeof(double));
    double *ttft = calloc((size_t)runs, sizeof(double));
    int n_pp = 0, n_tg = 0, n_ttft = 0;
    double cpu_pp = 0, cpu_tg = 0; /* CPU seconds of the counted runs */
    if (!tok || !pp || !tg || !ttft) {
        fprintf(stderr, "medge bench: out of memory\n");
        rc = MEDGE_ERR_NOMEM;
        goto done;
    }
    if (!json)
        fprintf(stderr, "model %s: load (%s) %.2f s, session %.2f s, %d threads, %d runs per test\n", model_path, load_how, t_load,
                t_session, n_threads > 0 ? n_threads : medge_cpu_get()->n_cores, runs);
    /* prompt processing (and time to first token: the prompt plus one generated token) */
    for (int r = 0; n_prompt > 0 && r < runs; r++) {
        if ((rc = fill ? fill_depth(s, depth) : prefill_depth(s, tok, depth, n_vocab)) != MEDGE_OK)
            goto done;
        for (int i = 0; i < n_prompt; i++)
            tok[i] = rand_token(n_vocab);
        double a = tool_now(), ca = cpu_seconds();
        if ((rc = medge_session_eval(s, tok, n_prompt)) != MEDGE_OK)
            goto done;
        double b = tool_now(), cb = cpu_seconds();
        int32_t next;
        if ((rc = medge_session_sample(s, &next)) != MEDGE_OK || (rc = medge_session_eval(s, &next, 1)) != MEDGE_OK)
            goto done;
        double c = tool_now();
        if (runs == 1 || r > 0) {
            pp[n_pp++] = n_prompt / (b - a);
            ttft[n_ttft++] = c - a;
            cpu_pp += cb - ca;
        }
        if (!json)
            fprintf(stderr, "  pp%d run %d: %.2f tok/s%s\n", n_prompt, r, n_prompt / (b - a), runs > 1 && r == 0 ? " (warm-up)" : "");
    }
    /* generation: one token at a time, greedy, each fed back */
    for (int r = 0; n_gen > 0 && r < runs; r++) {
        if ((rc = fill ? fill_depth(s, depth) : prefill_depth(s, tok, depth, n_vocab)) != MEDGE_OK)
            goto done;
        int32_t cur = rand_token(n_vocab);
        double a = tool_now(), ca = cpu_seconds();
        for (int i = 0; i < n_gen; i++) {
            if ((rc = medge_session_eval(s, &cur, 1)) != MEDGE_OK || (rc = medge_session_sample(s, &cur)) != MEDGE_OK)
                goto done;
        }
        double b = tool_now();
        if (runs == 1 || r > 0) {
            tg[n_tg++] = n_gen / (b - a);
            cpu_tg += cpu_seconds() - ca;
        }
        if (!json)
            fprintf(stderr, "  tg%d run %d: %.2f tok/s%s\n", n_gen, r, n_gen / (b - a), runs > 1 && r == 0 ? " (warm-up)" : "");
    }
done:;
    uint64_t rss = tool_peak_rss(), wbytes = medge_model_size(model);
    /* how much of the weight file the kernel maps in 2 MB pages now (-1: unknown) */
    int64_t huge = model->has_map ? medge_map_huge_bytes(&model->owned_map) : -1;
    const char *kern = ops_kernels_get()->name;
    if (rc == MEDGE_OK) {
        stats sp_ = summarize(pp, n_pp), sg = summarize(tg, n_tg), st = summarize(ttft, n_ttft);
        char type[32], name[96];
        describe_model(model_path, type, sizeof type, name, sizeof name);
        int nt = n_threads > 0 ? n_threads : medge_cpu_get()->n_cores;
        if (json) {
            printf("{\"model\": \"%s\", \"type\": \"%s\", \"weights_bytes\": %llu, \"threads\": %d, \"n_ctx\": %d, "
                   "\"depth\": %d, \"depth_filled\": %s, \"n_batch\": %d, \"kv\": \"%s\", \"kernels\": \"%s\", \"load\": \"%s\", \"huge_page_bytes\": %lld, \"load_s\": %.3f, ",
                   name, type, (unsigned long long)wbytes, nt, n_ctx, depth, fill ? "true" : "false", n_batch,
                   kv == MEDGE_KV_Q8_0 ? "q8_0" : kv == MEDGE_KV_F32 ? "f32" : "f16", kern, load_how, (long long)huge, t_load);
            printf("\"pp\": {\"n\": %d, \"runs\": %d, \"median\": %.3f, \"mean\": %.3f, \"sd\": %.3f}, ", n_prompt, n_pp,
                   sp_.median, sp_.mean, sp_.sd);
            printf("\"tg\": {\"n\": %d, \"runs\": %d, \"median\": %.3f, \"mean\": %.3f, \"sd\": %.3f}, ", n_gen, n_tg,
                   sg.median, sg.mean, sg.sd);
            printf("\"pp_tok_per_cpu_s\": %.3f, \"tg_tok_per_cpu_s\": %.3f, ", cpu_pp > 0 ? n_pp * (double)n_prompt / cpu_pp : 0.0,
                   cpu_tg > 0 ? n_tg * (double)n_gen / cpu_tg : 0.0);
            printf("\"ttft_s\": %.3f, \"peak_rss_bytes\": %llu}\n", st.median, (unsigned long long)rss);
        } else {
            printf("| model | size | type | threads | test | t/s (median) | mean ± sd |\n");
            printf("| ----- | ---: | ---- | ------: | ---- | -----------: | --------: |\n");
            char test[32];
            if (n_pp) {
                snprintf(test, sizeof test, "pp%d%s", n_prompt, depth ? "" : "");
                if (depth)
                    snprintf(test, sizeof test, "pp%d @ d%d%s", n_prompt, depth, fill ? " (filled)" : "");
                printf("| %s | %.2f GiB | %s | %d | %s | %.2f | %.2f ± %.2f |\n", name, wbytes / 1073741824.0, type, nt,
                       test, sp_.median, sp_.mean, sp_.sd);
            }
            if (n_tg) {
                snprintf(test, sizeof test, "tg%d", n_gen);
                if (depth)
                    snprintf(test, sizeof test, "tg%d @ d%d%s", n_gen, depth, fill ? " (filled)" : "");
                printf("| %s | %.2f GiB | %s | %d | %s | %.2f | %.2f ± %.2f |\n", name, wbytes / 1073741824.0, type, nt,
                       test, sg.median, sg.mean, sg.sd);
            }
            printf("\nload (%s) %.2f s, time to first token (pp%d + 1) %.2f s, peak RSS %.2f GB (%.0f MiB), n_ctx %d, kv %s, kernels %s\n",
                   load_how, t_load, n_prompt, st.median, rss / 1e9, rss / 1048576.0, n_ctx,
                   kv == MEDGE_KV_Q8_0 ? "q8_0" : kv == MEDGE_KV_F32 ? "f32" : "f16", kern);
            if (huge >= 0)
                printf("weights mapped in 2 MB pages: %.2f of %.2f GB of the file\n", huge / 1e9,
                       model->owned_map.size / 1e9);
            if (cpu_pp > 0 || cpu_tg > 0)
                printf("CPU time: pp %.2f tok per CPU-second, tg %.2f tok per CPU-second (x %d threads = the speed with "
                       "the cores to itself)\n",
                       cpu_pp > 0 ? n_pp * (double)n_prompt / cpu_pp : 0.0, cpu_tg > 0 ? n_tg * (double)n_gen / cpu_tg : 0.0, nt);
        }
    }
    free(tok);
    free(pp);
    free(tg);
    free(ttft);
    medge_session_free(s);
    medge_model_free(model);
    return rc == MEDGE_OK ? 0 : tool_fail("bench", rc);
}

const struct medge_cmd medge_cmd_bench = {"bench", "measure prompt and generation speed, load time and peak memory", run};
