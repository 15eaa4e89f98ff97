/* image-prompt.c - see image-prompt.h. */
#include "common/image-prompt.h"
#include "codec/codecs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int tool_images_arg(tool_images *ti, const char *cmd, int argc, char **argv, int *i)
{
    const char *a = argv[*i];
    int is_mmproj = strcmp(a, "--mmproj") == 0, is_image = strcmp(a, "--image") == 0;
    if (!is_mmproj && !is_image)
        return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "medge %s: %s needs a file name\n", cmd, a);
        return -1;
    }
    const char *v = argv[++*i];
    if (is_mmproj) {
        ti->mmproj = v;
        return 1;
    }
    if (ti->n >= TOOL_MAX_IMAGES) {
        fprintf(stderr, "medge %s: at most %d images\n", cmd, TOOL_MAX_IMAGES);
        return -1;
    }
    ti->paths[ti->n++] = v;
    return 1;
}

int tool_images_prepare(tool_images *ti, const char *cmd, const medge_model *model, int n_threads, int verbose)
{
    if (ti->n > 0 && !ti->mmproj) {
        fprintf(stderr, "medge %s: --image needs --mmproj (the vision encoder of this model); refusing to answer "
                        "without looking at the image\n", cmd);
        return 2;
    }
    if (!ti->mmproj)
        return 0;
    if (ti->n == 0) {
        fprintf(stderr, "medge %s: --mmproj given but no --image\n", cmd);
        return 2;
    }
    medge_vision_params vp = medge_vision_default_params();
    vp.n_threads = n_threads;
    medge_status rc = medge_vision_load(ti->mmproj, vp, &ti->vision);
    if (rc != MEDGE_OK) {
        fprintf(stderr, "medge %s: %s\n", cmd, medge_errmsg(NULL));
        return 1;
    }
    rc = medge_vision_check_model(ti->vision, model);
    if (rc != MEDGE_OK) {
        fprintf(stderr, "medge %s: %s: %s\n", cmd, ti->mmproj, medge_errmsg(NULL));
        return 1;
    }
    size_t per = (size_t)medge_vision_n_tokens(ti->vision) * (size_t)medge_vision_n_embd(ti->vision);
    for (int k = 0; k < ti->n; k++) {
        medge_image *img = NULL;
        rc = medge_codecs_load_image(ti->paths[k], &img);
        if (rc != MEDGE_OK) {
            fprintf(stderr, "medge %s: cannot use image %s\n", cmd, medge_errmsg(NULL));
            return 1;
        }
        ti->embd[k] = malloc(sizeof(float) * per);
        if (!ti->embd[k]) {
            medge_image_free(img);
            fprintf(stderr, "medge %s: out of memory for image embeddings\n", cmd);
            return 1;
        }
        double t0 = now_s();
        rc = medge_vision_encode(ti->vision, img, ti->embd[k]);
        double dt = now_s() - t0;
        ti->t_encode += dt;
        if (verbose)
            fprintf(stderr, "image %s: %d x %d -> %d tokens in %.2f s\n", ti->paths[k], medge_image_width(img),
                    medge_image_height(img), medge_vision_n_tokens(ti->vision), dt);
        medge_image_free(img);
        if (rc != MEDGE_OK) {
            fprintf(stderr, "medge %s: encoding %s: %s\n", cmd, ti->paths[k], medge_errmsg(ti->vision));
            return 1;
        }
    }
    return 0;
}

/* Next marker at or after p: its position and length, or NULL. */
static const char *next_marker(const char *p, const char *end, size_t *mlen)
{
    static const char *const marks[2] = {TOOL_IMAGE_MARKER, "<start_of_image>"};
    const char *best = NULL;
    for (int k = 0; k < 2; k++) {
        size_t n = strlen(marks[k]);
        for (const char *q = p; q + n <= end; q++) {
            if (*q == '<' && memcmp(q, marks[k], n) == 0) {
                if (!best || q < best) {
                    best = q;
                    *mlen = n;
                }
                break;
            }
        }
    }
    return best;
}

int tool_images_markers(const char *text, size_t len)
{
    int n = 0;
    size_t ml;
    const char *end = text + len;
    for (const char *p = next_marker(text, end, &ml); p; p = next_marker(p + ml, end, &ml))
        n++;
    return n;
}

char *tool_images_place(const tool_images *ti, const char *cmd, const char *text)
{
    size_t len = strlen(text);
    int m = tool_images_markers(text, len);
    if (m > ti->n) {
        fprintf(stderr, "medge %s: the prompt has %d image marker(s) but %d image(s) were given\n", cmd, m, ti->n);
        return NULL;
    }
    if (m > 0 && m < ti->n) {
        fprintf(stderr, "medge %s: %d image(s) given but the prompt marks only %d place(s) with %s\n", cmd, ti->n, m,
                TOOL_IMAGE_MARKER);
        return NULL;
    }
    size_t add = m == 0 ? (size_t)ti->n * strlen(TOOL_IMAGE_MARKER) : 0;
    char *out = malloc(len + add + 1);
    if (!out) {
        fprintf(stderr, "medge %s: out of memory\n", cmd);
        return NULL;
    }
    size_t k = 0;
    for (int i = 0; m == 0 && i < ti->n; i++) {
        memcpy(out + k, TOOL_IMAGE_MARKER, strlen(TOOL_IMAGE_MARKER));
        k += strlen(TOOL_IMAGE_MARKER);
    }
    memcpy(out + k, text, len + 1);
    return out;
}

medge_status tool_images_eval(tool_images *ti, medge_session *s, const spm_vocab *voc, const char *text, size_t len,
                              unsigned flags)
{
    const char *p = text, *end = text + len;
    for (;;) {
        size_t ml = 0;
        const char *mk = next_marker(p, end, &ml);
        const char *seg_end = mk ? mk : end;
        if (seg_end > p || (flags & SPM_ADD_BOS)) {
            int32_t *ids = NULL;
            size_t n = 0;
            MEDGE_TRY(spm_encode(voc, p, (size_t)(seg_end - p), flags, &ids, &n));
            medge_status rc = n ? medge_session_eval(s, ids, (int)n) : MEDGE_OK;
            free(ids);
            MEDGE_TRY(rc);
        }
        flags &= ~(unsigned)SPM_ADD_BOS;
        if (!mk)
            return MEDGE_OK;
        if (!ti->vision || ti->next >= ti->n)
            return medge_err(MEDGE_ERR_INVALID_ARG, "the prompt has more image markers than images (%d given)", ti->n);
        MEDGE_TRY(medge_session_eval_image(s, ti->vision, ti->embd[ti->next]));
        ti->next++;
        p = mk + ml;
    }
}

medge_status tool_images_ids(const tool_images *ti, const spm_vocab *voc, const char *text, size_t len,
                             unsigned flags, int32_t **out, size_t *n_out)
{
    const spm_special *sp = spm_specials(voc);
    int per = ti->vision ? medge_vision_n_tokens(ti->vision) : 0;
    int32_t *all = NULL;
    size_t n = 0;
    const char *p = text, *end = text + len;
    for (int img = 0;; img++) {
        size_t ml = 0;
        const char *mk = next_marker(p, end, &ml);
        const char *seg_end = mk ? mk : end;
        int32_t *ids = NULL;
        size_t k = 0;
        medge_status rc = spm_encode(voc, p, (size_t)(seg_end - p), flags, &ids, &k);
        flags &= ~(unsigned)SPM_ADD_BOS;
        size_t extra = mk ? (size_t)per + 2 : 0;
        int32_t *grown = rc == MEDGE_OK ? realloc(all, sizeof(int32_t) * (n + k + extra + 1)) : NULL;
        if (!grown) {
            free(ids);
            free(all);
            return rc != MEDGE_OK ? rc : medge_err(MEDGE_ERR_NOMEM, "out of memory");
        }
        all = grown;
        memcpy(all + n, ids, sizeof(int32_t) * k);
        n += k;
        free(ids);
        if (!mk)
            break;
        if (img >= ti->n || sp->start_of_image < 0 || sp->end_of_image < 0) {
            free(all);
            return medge_err(MEDGE_ERR_INVALID_ARG, "the prompt has more image markers than images (%d given)", ti->n);
        }
        all[n++] = sp->start_of_image;
        for (int i = 0; i < per; i++)
            all[n++] = -1;
        all[n++] = sp->end_of_image;
        p = mk + ml;
    }
    *out = all;
    *n_out = n;
    return MEDGE_OK;
}

void tool_images_free(tool_images *ti)
{
    for (int k = 0; k < TOOL_MAX_IMAGES; k++) {
        free(ti->embd[k]);
        ti->embd[k] = NULL;
    }
    medge_vision_free(ti->vision);
    ti->vision = NULL;
}
