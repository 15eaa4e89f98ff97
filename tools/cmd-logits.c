/* cmd-logits.c - `medge logits`: evaluate a token sequence and write every position's logits in
 * the reference format (int32 n_positions, int32 n_vocab, float32 rows; little endian). */
#include "common/image-prompt.h"
#include "runtime/session.h"
#include "tool.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: medge logits -m MODEL.gguf --tokens IDS.txt -o OUT.bin [options]\n"
               "       medge logits -m MODEL.gguf [--mmproj MMPROJ.gguf --image FILE] --prompt TEXT -o OUT.bin\n\n"
               "Evaluate the whitespace-separated token ids of IDS.txt as one sequence and write the logits of\n"
               "every position to OUT.bin: int32 n_positions, int32 n_vocab, then n_positions x n_vocab float32\n"
               "(little endian), the format of llama.cpp's reference logits.\n\n"
               "options:\n"
               "  -m, --model FILE     Gemma 3 text GGUF\n"
               "  --tokens FILE        token ids (decimal, separated by whitespace)\n"
               "  --prompt TEXT        instead of --tokens: text (<bos> added, special tokens parsed) whose\n"
               "                       last position's logits are written (n_positions = 1)\n");
    fprintf(f, TOOL_IMAGES_HELP);
    fprintf(f, 
               "  -o, --output FILE    output file\n"
               "  -t, --threads N      worker threads (default: one per core)\n"
               "  -b, --batch N        positions per forward pass (default 512; 1 = token by token)\n"
               "  -c, --ctx N          context size (default: the number of tokens)\n"
               "  --kv-type T          KV cache type: f16 (default), q8_0, f32\n"
               "  -v, --verbose        print memory and timing details\n"
               "  -h, --help           this help\n");
}

static int read_ids(const char *path, int32_t **ids, int *n)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "medge logits: cannot open %s: %s\n", path, strerror(errno));
        return 1;
    }
    int cap = 256, k = 0;
    int32_t *v = malloc((size_t)cap * sizeof *v);
    char word[64];
    int rc = 0;
    while (v && fscanf(f, "%63s", word) == 1) {
        char *end;
        errno = 0;
        long x = strtol(word, &end, 10);
        if (*end || errno || x < 0 || x > INT32_MAX) {
            fprintf(stderr, "medge logits: %s: '%s' is not a token id\n", path, word);
            rc = 1;
            break;
        }
        if (k == cap) {
            int32_t *nv = realloc(v, (size_t)(cap *= 2) * sizeof *v);
            if (!nv) {
                free(v);
                v = NULL;
                break;
            }
            v = nv;
        }
        v[k++] = (int32_t)x;
    }
    fclose(f);
    if (!v) {
        fprintf(stderr, "medge logits: out of memory\n");
        return 1;
    }
    if (!rc && k == 0) {
        fprintf(stderr, "medge logits: %s holds no token ids\n", path);
        rc = 1;
    }
    if (rc) {
        free(v);
        return rc;
    }
    *ids = v;
    *n = k;
    return 0;
}

static int parse_int(const char *s, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < -1000000000L || v > 1000000000L)
        return 0;
    *out = (int)v;
    return 1;
}

/* --prompt: text with image markers, evaluated piece by piece; the last position's logits. */
static int run_prompt(const char *model_path, const char *prompt, const char *out_path, tool_images *ti,
                      medge_session_params sp, int n_ctx, int verbose)
{
    medge_model *model = NULL;
    medge_session *s = NULL;
    spm_vocab *voc = NULL;
    char *text = NULL;
    int ret = 1;
    medge_status rc = medge_model_load(model_path, medge_model_default_params(), &model);
    if (rc == MEDGE_OK)
        rc = spm_load_gguf(model->g->gguf, &voc);
    if (rc != MEDGE_OK) {
        ret = tool_fail("logits", rc);
        goto done;
    }
    if ((ret = tool_images_prepare(ti, "logits", model, sp.n_threads, verbose)) != 0)
        goto done;
    ret = 1;
    int markers = tool_images_markers(prompt, strlen(prompt));
    if (markers != ti->n) {
        fprintf(stderr, "medge logits: the prompt has %d image marker(s) (%s) but %d image(s) were given\n", markers,
                TOOL_IMAGE_MARKER, ti->n);
        goto done;
    }
    sp.n_ctx = n_ctx ? n_ctx : 4096;
    rc = medge_session_new(model, sp, &s);
    if (rc != MEDGE_OK) {
        ret = tool_fail("logits", rc);
        goto done;
    }
    double t0 = tool_now();
    rc = tool_images_eval(ti, s, voc, prompt, strlen(prompt), SPM_ADD_BOS | SPM_PARSE_SPECIAL);
    if (rc != MEDGE_OK) {
        fprintf(stderr, "medge logits: %s\n", medge_errmsg(NULL));
        goto done;
    }
    const float *lg = medge_session_logits(s);
    int nv = medge_model_n_vocab(model);
    FILE *f = fopen(out_path, "wb");
    int32_t hdr[2] = {1, nv};
    if (!lg || !f || fwrite(hdr, sizeof hdr, 1, f) != 1 || fwrite(lg, sizeof(float), (size_t)nv, f) != (size_t)nv ||
        fclose(f) != 0) {
        fprintf(stderr, "medge logits: cannot write %s: %s\n", out_path, strerror(errno));
        goto done;
    }
    if (verbose)
        fprintf(stderr, "medge logits: %d positions (%d images, encoded in %.2f s) in %.3f s\n", medge_session_n_past(s),
                ti->n, ti->t_encode, tool_now() - t0);
    ret = 0;
done:
    free(text);
    spm_free(voc);
    tool_images_free(ti);
    medge_session_free(s);
    medge_model_free(model);
    return ret;
}

static int run(int argc, char **argv)
{
    const char *model_path = NULL, *tok_path = NULL, *out_path = NULL, *prompt = NULL;
    tool_images ti;
    memset(&ti, 0, sizeof ti);
    medge_session_params sp = medge_session_default_params();
    int verbose = 0, n_ctx = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            verbose = 1;
            continue;
        }
        int r = tool_images_arg(&ti, "logits", argc, argv, &i);
        if (r < 0)
            return 2;
        if (r > 0)
            continue;
        if (!val) {
            fprintf(stderr, "medge logits: option %s needs a value\n", a);
            return 2;
        }
        i++;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            model_path = val;
        } else if (!strcmp(a, "--tokens")) {
            tok_path = val;
        } else if (!strcmp(a, "--prompt")) {
            prompt = val;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            out_path = val;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (!parse_int(val, &sp.n_threads) || sp.n_threads < 1) {
                fprintf(stderr, "medge logits: bad thread count '%s'\n", val);
                return 2;
            }
        } else if (!strcmp(a, "-b") || !strcmp(a, "--batch")) {
            if (!parse_int(val, &sp.n_batch) || sp.n_batch < 1) {
                fprintf(stderr, "medge logits: bad batch size '%s'\n", val);
                return 2;
            }
        } else if (!strcmp(a, "-c") || !strcmp(a, "--ctx")) {
            if (!parse_int(val, &n_ctx) || n_ctx < 1) {
                fprintf(stderr, "medge logits: bad context size '%s'\n", val);
                return 2;
            }
        } else if (!strcmp(a, "--kv-type")) {
            if (!strcmp(val, "f16"))
                sp.kv_type = MEDGE_KV_F16;
            else if (!strcmp(val, "q8_0"))
                sp.kv_type = MEDGE_KV_Q8_0;
            else if (!strcmp(val, "f32"))
                sp.kv_type = MEDGE_KV_F32;
            else {
                fprintf(stderr, "medge logits: unknown KV type '%s' (f16, q8_0, f32)\n", val);
                return 2;
            }
        } else {
            fprintf(stderr, "medge logits: unknown option %s\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!model_path || !(tok_path || prompt) || (tok_path && prompt) || !out_path) {
        fprintf(stderr, "medge logits: -m, -o and one of --tokens / --prompt are required\n");
        usage(stderr);
        return 2;
    }
    if ((ti.n || ti.mmproj) && !prompt) {
        fprintf(stderr, "medge logits: --image / --mmproj go with --prompt\n");
        return 2;
    }
    tool_log_init(verbose);
    if (prompt)
        return run_prompt(model_path, prompt, out_path, &ti, sp, n_ctx, verbose);
    int32_t *ids;
    int n;
    if (read_ids(tok_path, &ids, &n))
        return 1;
    medge_model *model = NULL;
    medge_session *s = NULL;
    float *logits = NULL;
    int ret = 1;
    medge_status rc = medge_model_load(model_path, medge_model_default_params(), &model);
    if (rc != MEDGE_OK) {
        ret = tool_fail("logits", rc);
        goto done;
    }
    sp.n_ctx = n_ctx ? n_ctx : n;
    rc = medge_session_new(model, sp, &s);
    if (rc != MEDGE_OK) {
        ret = tool_fail("logits", rc);
        goto done;
    }
    int nv = medge_model_n_vocab(model);
    logits = malloc((size_t)n * (size_t)nv * sizeof(float));
    if (!logits) {
        fprintf(stderr, "medge logits: out of memory for %d x %d logits\n", n, nv);
        goto done;
    }
    double t0 = tool_now();
    rc = medge_session_eval_all(s, ids, n, logits);
    double t1 = tool_now();
    if (rc != MEDGE_OK) {
        ret = tool_fail("logits", rc);
        goto done;
    }
    FILE *f = fopen(out_path, "wb");
    int32_t hdr[2] = {n, nv};
    if (!f || fwrite(hdr, sizeof hdr, 1, f) != 1 || fwrite(logits, sizeof(float) * (size_t)nv, (size_t)n, f) != (size_t)n ||
        fclose(f) != 0) {
        fprintf(stderr, "medge logits: cannot write %s: %s\n", out_path, strerror(errno));
        goto done;
    }
    if (verbose)
        fprintf(stderr, "medge logits: %d positions in %.3f s (%.1f tok/s)\n", n, t1 - t0, n / (t1 - t0));
    ret = 0;
done:
    free(logits);
    free(ids);
    medge_session_free(s);
    medge_model_free(model);
    return ret;
}

const struct medge_cmd medge_cmd_logits = {"logits", "evaluate token ids and write every position's logits", run};
