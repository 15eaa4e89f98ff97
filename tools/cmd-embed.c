/* cmd-embed.c - `medge embed`: BiomedCLIP image embeddings of image files, or text embeddings of
 * prompts, as plain lines or JSON. */
#include "tool.h"
#include "codec/codecs.h"
#include "core/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void help(FILE *f)
{
    fprintf(f,
            "usage: medge embed -m MODEL.gguf [options] IMAGE...\n"
            "       medge embed -m MODEL.gguf [options] --text TEXT [--text TEXT...]\n\n"
            "L2-normalised embeddings of a BiomedCLIP model (a GGUF from `medge convert` of an open_clip\n"
            "checkpoint, optionally quantized). Images (PNG, JPEG, PPM/PGM, DICOM) are preprocessed as\n"
            "open_clip does: bicubic resize of the shortest side, center crop, CLIP mean/std.\n\n"
            "  -m, --model PATH   BiomedCLIP GGUF (required)\n"
            "  --text TEXT        embed this text instead of images (repeatable; may be mixed with images)\n"
            "  --json             print a JSON array of {\"input\", \"kind\", \"embedding\"} objects\n"
            "  -t, --threads N    threads (default: all cores)\n"
            "  -v, --verbose      print the time of each embedding to stderr\n"
            "  --bench N          time N more runs of each input after the first (image: preprocessing of\n"
            "                     the decoded image + encoder; text: tokenizer + encoder) and print the\n"
            "                     median and best time, and the process CPU time per run, to stderr\n\n"
            "Plain output: one line per input, the input (file name or text), a tab, then the values\n"
            "separated by spaces.\n");
}

static void print_one(medge_buf *b, int json, int first, const char *input, const char *kind, const float *e, int n)
{
    if (json) {
        medge_buf_puts(b, first ? "[\n  {\"input\": " : ",\n  {\"input\": ");
        medge_buf_json_str(b, input, strlen(input));
        medge_buf_printf(b, ", \"kind\": \"%s\", \"embedding\": [", kind);
        for (int i = 0; i < n; i++) {
            if (i)
                medge_buf_puts(b, ", ");
            medge_buf_json_num(b, e[i]);
        }
        medge_buf_puts(b, "]}");
    } else {
        medge_buf_printf(b, "%s\t", input);
        for (int i = 0; i < n; i++)
            medge_buf_printf(b, i ? " %.9g" : "%.9g", e[i]);
        medge_buf_puts(b, "\n");
    }
    fwrite(b->data, 1, b->len, stdout);
    b->len = 0;
    b->data[0] = 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int run(int argc, char **argv)
{
    const char *model = NULL;
    int json = 0, verbose = 0, bench = 0;
    medge_clip_params cp = medge_clip_default_params();
    const char **inputs = calloc((size_t)argc, sizeof *inputs);
    int *is_text = calloc((size_t)argc, sizeof *is_text);
    int n_in = 0;
    if (!inputs || !is_text) {
        fprintf(stderr, "medge embed: out of memory\n");
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            help(stdout);
            free(inputs);
            free(is_text);
            return 0;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            verbose = 1;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model") || !strcmp(a, "--text") || !strcmp(a, "-t") ||
                   !strcmp(a, "--threads") || !strcmp(a, "--bench")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "medge embed: %s needs a value\n", a);
                free(inputs);
                free(is_text);
                return 2;
            }
            const char *v = argv[++i];
            if (a[1] == 'm' || !strcmp(a, "--model"))
                model = v;
            else if (!strcmp(a, "--text")) {
                inputs[n_in] = v;
                is_text[n_in++] = 1;
            } else if (!strcmp(a, "--bench"))
                bench = atoi(v) > 0 ? atoi(v) : 0;
            else
                cp.n_threads = atoi(v);
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "medge embed: unknown option '%s'\n", a);
            free(inputs);
            free(is_text);
            return 2;
        } else {
            inputs[n_in++] = a;
        }
    }
    if (!model || n_in == 0) {
        fprintf(stderr, "medge embed: need -m MODEL and at least one image or --text\n\n");
        help(stderr);
        free(inputs);
        free(is_text);
        return 2;
    }
    tool_log_init(verbose);
    medge_clip *clip = NULL;
    medge_status rc = medge_clip_load(model, cp, &clip);
    if (rc != MEDGE_OK) {
        free(inputs);
        free(is_text);
        return tool_fail("embed", rc);
    }
    int E = medge_clip_embed_dim(clip), status = 0;
    float *e = malloc((size_t)E * sizeof *e);
    medge_buf b = {0};
    medge_buf_puts(&b, "");
    double *times = calloc((size_t)bench + 1, sizeof *times);
    for (int i = 0; i < n_in && e && times; i++) {
        medge_image *img = NULL;
        if (!is_text[i])
            rc = medge_codecs_load_image(inputs[i], &img);
        double cpu0 = 0;
        for (int r = 0; r <= bench && rc == MEDGE_OK; r++) {
            if (r == 1)
                cpu0 = (double)clock() / CLOCKS_PER_SEC;
            double t0 = tool_now();
            if (is_text[i])
                rc = medge_clip_embed_text(clip, inputs[i], e);
            else
                rc = medge_clip_embed_image(clip, medge_image_rgb(img), medge_image_width(img),
                                            medge_image_height(img), e);
            times[r] = (tool_now() - t0) * 1e3;
        }
        medge_image_free(img);
        if (rc != MEDGE_OK) {
            status = tool_fail("embed", rc);
            break;
        }
        if (verbose)
            fprintf(stderr, "%s: %.1f ms\n", inputs[i], times[0]);
        if (bench) {
            double cpu = ((double)clock() / CLOCKS_PER_SEC - cpu0) * 1e3 / bench;
            char what[32] = "";
            int n_ids = 0;
            if (is_text[i] && medge_clip_tokenize(clip, inputs[i], NULL, 0, &n_ids) == MEDGE_OK)
                snprintf(what, sizeof what, " (%d tokens)", n_ids);
            qsort(times + 1, (size_t)bench, sizeof *times, cmp_double);
            fprintf(stderr, "%s%s: median %.1f ms, best %.1f ms over %d runs (first %.1f ms), CPU %.1f ms per run\n",
                    inputs[i], what, times[1 + bench / 2], times[1], bench, times[0], cpu);
        }
        print_one(&b, json, i == 0, inputs[i], is_text[i] ? "text" : "image", e, E);
    }
    if (!times)
        status = tool_fail("embed", MEDGE_ERR_NOMEM);
    free(times);
    if (!e)
        status = tool_fail("embed", MEDGE_ERR_NOMEM);
    if (json && status == 0)
        printf("\n]\n");
    medge_buf_free(&b);
    free(e);
    medge_clip_free(clip);
    free(inputs);
    free(is_text);
    return status;
}

const struct medge_cmd medge_cmd_embed = {"embed", "BiomedCLIP image or text embeddings", run};
