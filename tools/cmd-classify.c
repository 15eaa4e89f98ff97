/* cmd-classify.c - `medge classify`: BiomedCLIP zero-shot classification of image files against
 * text labels (given, or one of the built-in label sets), probabilities sorted. */
#include "tool.h"
#include "codec/codecs.h"
#include "common/labels.h"
#include "core/error.h"
#include "core/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void help(FILE *f)
{
    fprintf(f,
            "usage: medge classify -m MODEL.gguf IMAGE... (--labels \"a,b,c\" | --label-set NAME)\n"
            "                      [--template \"this is a photo of {}\"] [--top N] [--json]\n\n"
            "Zero-shot classification with a BiomedCLIP GGUF: each label is put into the template, embedded,\n"
            "and compared with the image embedding; probabilities are softmax(logit_scale * cosine), printed\n"
            "highest first.\n\n"
            "  -m, --model PATH     BiomedCLIP GGUF (required)\n"
            "  --labels LIST        comma-separated labels\n"
            "  --label-set NAME     a built-in label set (below)\n"
            "  --template T         prompt template; \"{}\" is replaced by the label (default \"this is a photo\n"
            "                       of {}\", as in the model card); without \"{}\" the label is appended\n"
            "  --top N              print only the N most probable labels (default: all)\n"
            "  --json               JSON output: [{\"image\", \"results\": [{\"label\", \"prob\", \"logit\"}...]}]\n"
            "  -t, --threads N      threads (default: all cores)\n\n"
            "built-in label sets:\n");
    labels_print_sets(f);
}

typedef struct ranked {
    int idx;
    float p;
} ranked;

static int cmp_rank(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    return (x->p < y->p) - (x->p > y->p);
}

static int run(int argc, char **argv)
{
    const char *model = NULL, *labels = NULL, *set = NULL, *tpl = "this is a photo of {}";
    int json = 0, top = 0;
    medge_clip_params cp = medge_clip_default_params();
    const char **images = calloc((size_t)argc, sizeof *images);
    int n_img = 0;
    if (!images)
        return tool_fail("classify", MEDGE_ERR_NOMEM);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            help(stdout);
            free(images);
            return 0;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model") || !strcmp(a, "--labels") || !strcmp(a, "--label-set") ||
                   !strcmp(a, "--template") || !strcmp(a, "--top") || !strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "medge classify: %s needs a value\n", a);
                free(images);
                return 2;
            }
            const char *v = argv[++i];
            if (!strcmp(a, "-m") || !strcmp(a, "--model"))
                model = v;
            else if (!strcmp(a, "--labels"))
                labels = v;
            else if (!strcmp(a, "--label-set"))
                set = v;
            else if (!strcmp(a, "--template"))
                tpl = v;
            else if (!strcmp(a, "--top"))
                top = atoi(v);
            else
                cp.n_threads = atoi(v);
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "medge classify: unknown option '%s'\n", a);
            free(images);
            return 2;
        } else {
            images[n_img++] = a;
        }
    }
    if (set && !labels) {
        if (!(labels = labels_builtin(set))) {
            fprintf(stderr, "medge classify: unknown label set '%s' (see --help)\n", set);
            free(images);
            return 2;
        }
    }
    if (!model || !labels || n_img == 0) {
        fprintf(stderr, "medge classify: need -m MODEL, an image and --labels or --label-set\n\n");
        help(stderr);
        free(images);
        return 2;
    }
    label_list L;
    int nl = labels_parse(&L, labels);
    if (nl == 0) {
        fprintf(stderr, "medge classify: no labels\n");
        labels_free(&L);
        free(images);
        return 2;
    }
    const char *const *lv = L.v;
    medge_clip *clip = NULL;
    medge_status rc = medge_clip_load(model, cp, &clip);
    if (rc != MEDGE_OK) {
        labels_free(&L);
        free(images);
        return tool_fail("classify", rc);
    }
    int E = medge_clip_embed_dim(clip), status = 0;
    float *e = malloc((size_t)E * sizeof *e), *te = malloc((size_t)E * (size_t)nl * sizeof *te);
    float probs[LABELS_MAX], logits[LABELS_MAX];
    ranked r[LABELS_MAX];
    if (!e || !te)
        rc = medge_err(MEDGE_ERR_NOMEM, "out of memory");
    else
        rc = medge_clip_embed_labels(clip, lv, nl, tpl, te); /* once for every image */
    if (rc != MEDGE_OK)
        status = tool_fail("classify", rc);
    medge_buf b = {0};
    if (json)
        medge_buf_puts(&b, "[");
    for (int i = 0; i < n_img && status == 0; i++) {
        medge_image *img = NULL;
        rc = medge_codecs_load_image(images[i], &img);
        if (rc == MEDGE_OK)
            rc = medge_clip_embed_image(clip, medge_image_rgb(img), medge_image_width(img), medge_image_height(img), e);
        medge_image_free(img);
        if (rc == MEDGE_OK)
            rc = medge_clip_zero_shot(clip, e, te, nl, probs, logits);
        if (rc != MEDGE_OK) {
            status = tool_fail("classify", rc);
            break;
        }
        for (int k = 0; k < nl; k++)
            r[k] = (ranked){k, probs[k]};
        qsort(r, (size_t)nl, sizeof r[0], cmp_rank);
        int shown = top > 0 && top < nl ? top : nl;
        if (json) {
            medge_buf_puts(&b, i ? ",\n  {\"image\": " : "\n  {\"image\": ");
            medge_buf_json_str(&b, images[i], strlen(images[i]));
            medge_buf_puts(&b, ", \"results\": [");
            for (int k = 0; k < shown; k++) {
                medge_buf_puts(&b, k ? ", {\"label\": " : "{\"label\": ");
                medge_buf_json_str(&b, lv[r[k].idx], strlen(lv[r[k].idx]));
                medge_buf_puts(&b, ", \"prob\": ");
                medge_buf_json_num(&b, r[k].p);
                medge_buf_puts(&b, ", \"logit\": ");
                medge_buf_json_num(&b, logits[r[k].idx]);
                medge_buf_puts(&b, "}");
            }
            medge_buf_puts(&b, "]}");
        } else {
            printf("%s\n", images[i]);
            for (int k = 0; k < shown; k++)
                printf("  %7.4f  %s\n", r[k].p, lv[r[k].idx]);
        }
    }
    if (json && status == 0) {
        medge_buf_puts(&b, "\n]\n");
        fwrite(b.data, 1, b.len, stdout);
    }
    medge_buf_free(&b);
    free(e);
    free(te);
    medge_clip_free(clip);
    labels_free(&L);
    free(images);
    return status;
}

const struct medge_cmd medge_cmd_classify = {"classify", "BiomedCLIP zero-shot classification of images", run};
