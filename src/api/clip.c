/* clip.c - the public medge_clip API (include/medge.h) over models/biomedclip: handle, threads,
 * scratch, embeddings and zero-shot classification. */
#include "medge.h"
#include "core/error.h"
#include "models/biomedclip.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct medge_clip {
    medge_handle base; /* first: medge_errmsg(clip) */
    bmc_model *m;
    medge_pool *pool;
    bmc_work wk;
    float *pix; /* [3][image][image]: preprocessed pixels (reused, not allocated per image) */
};

medge_clip_params medge_clip_default_params(void)
{
    medge_clip_params p = {0};
    return p;
}

static medge_status finish_load(gguf_ctx *g, medge_status rc, medge_clip_params params, medge_clip **out)
{
    if (rc != MEDGE_OK)
        return rc;
    medge_clip *c = calloc(1, sizeof *c);
    if (!c) {
        gguf_close(g);
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    }
    rc = bmc_load(g, &c->m);
    if (rc == MEDGE_OK)
        rc = medge_pool_create(params.n_threads, &c->pool);
    if (rc == MEDGE_OK)
        rc = bmc_prepack(c->m, c->pool);
    if (rc == MEDGE_OK && !(c->pix = malloc((size_t)3 * c->m->image * c->m->image * sizeof *c->pix)))
        rc = medge_err(MEDGE_ERR_NOMEM, "out of memory");
    if (rc != MEDGE_OK) {
        medge_clip_free(c);
        return rc;
    }
    c->wk.pool = c->pool;
    *out = c;
    return MEDGE_OK;
}

medge_status medge_clip_load(const char *path, medge_clip_params params, medge_clip **out)
{
    if (!out)
        return medge_err(MEDGE_ERR_INVALID_ARG, "medge_clip_load: out is NULL");
    *out = NULL;
    if (!path)
        return medge_err(MEDGE_ERR_INVALID_ARG, "medge_clip_load: path is NULL");
    gguf_ctx *g = NULL;
    MEDGE_TRY(gguf_open(path, &g)); /* its messages name the file */
    medge_status rc = finish_load(g, MEDGE_OK, params, out);
    return rc == MEDGE_OK ? rc : medge_err_prefix(rc, "%s", path);
}

medge_status medge_clip_load_memory(const void *data, size_t size, medge_clip_params params, medge_clip **out)
{
    if (!out)
        return medge_err(MEDGE_ERR_INVALID_ARG, "medge_clip_load_memory: out is NULL");
    *out = NULL;
    if (!data)
        return medge_err(MEDGE_ERR_INVALID_ARG, "medge_clip_load_memory: data is NULL");
    gguf_ctx *g = NULL;
    medge_status rc = gguf_open_memory(data, size, &g);
    return finish_load(g, rc, params, out);
}

void medge_clip_free(medge_clip *c)
{
    if (!c)
        return;
    bmc_work_free(&c->wk);
    free(c->pix);
    medge_pool_free(c->pool);
    bmc_free(c->m);
    free(c);
}

int medge_clip_embed_dim(const medge_clip *c) { return c ? c->m->proj : 0; }
int medge_clip_image_size(const medge_clip *c) { return c ? c->m->image : 0; }
float medge_clip_logit_scale(const medge_clip *c) { return c ? expf(c->m->logit_scale) : 0.0f; }

#define CHECK_HANDLE(c)                                                                     \
    do {                                                                                    \
        if (!(c))                                                                           \
            return medge_err(MEDGE_ERR_INVALID_ARG, "%s: clip handle is NULL", __func__);   \
    } while (0)
#define FAIL(c, expr)                                                                       \
    do {                                                                                    \
        medge_status rc_ = (expr);                                                          \
        if (rc_ != MEDGE_OK)                                                                \
            return medge_handle_fail(&(c)->base, rc_);                                      \
    } while (0)

medge_status medge_clip_preprocess(medge_clip *c, const uint8_t *rgb, int32_t width, int32_t height, float *pixels)
{
    CHECK_HANDLE(c);
    FAIL(c, bmc_preprocess(c->m, rgb, width, height, pixels));
    return MEDGE_OK;
}

medge_status medge_clip_embed_pixels(medge_clip *c, const float *pixels, float *embedding)
{
    CHECK_HANDLE(c);
    if (!pixels || !embedding)
        return medge_handle_fail(&c->base, medge_err(MEDGE_ERR_INVALID_ARG, "medge_clip_embed_pixels: NULL buffer"));
    FAIL(c, bmc_encode_image(c->m, &c->wk, pixels, embedding));
    bmc_l2_normalize(embedding, c->m->proj);
    return MEDGE_OK;
}

medge_status medge_clip_embed_image(medge_clip *c, const uint8_t *rgb, int32_t width, int32_t height, float *embedding)
{
    CHECK_HANDLE(c);
    if (!embedding)
        return medge_handle_fail(&c->base, medge_err(MEDGE_ERR_INVALID_ARG, "medge_clip_embed_image: NULL buffer"));
    FAIL(c, bmc_preprocess(c->m, rgb, width, height, c->pix));
    FAIL(c, bmc_encode_image(c->m, &c->wk, c->pix, embedding));
    bmc_l2_normalize(embedding, c->m->proj);
    return MEDGE_OK;
}

medge_status medge_clip_tokenize(medge_clip *c, const char *text, int32_t *ids, int max_ids, int *n_ids)
{
    CHECK_HANDLE(c);
    if (!n_ids || (max_ids > 0 && !ids))
        return medge_handle_fail(&c->base, medge_err(MEDGE_ERR_INVALID_ARG, "medge_clip_tokenize: NULL buffer"));
    int32_t *t = NULL;
    int n = 0;
    FAIL(c, bmc_tokenize(c->m, text, &t, &n));
    if (max_ids > 0)
        memcpy(ids, t, (size_t)(n < max_ids ? n : max_ids) * sizeof *ids);
    free(t);
    *n_ids = n;
    return MEDGE_OK;
}

medge_status medge_clip_embed_text(medge_clip *c, const char *text, float *embedding)
{
    CHECK_HANDLE(c);
    if (!embedding)
        return medge_handle_fail(&c->base, medge_err(MEDGE_ERR_INVALID_ARG, "medge_clip_embed_text: NULL buffer"));
    int32_t *t = NULL;
    int n = 0;
    FAIL(c, bmc_tokenize(c->m, text, &t, &n));
    medge_status rc = bmc_encode_text(c->m, &c->wk, t, n, embedding);
    free(t);
    FAIL(c, rc);
    bmc_l2_normalize(embedding, c->m->proj);
    return MEDGE_OK;
}

/* template_ with its first "{}" replaced by label (or label appended). malloc'd. */
static char *fill_template(const char *tpl, const char *label)
{
    const char *at = strstr(tpl, "{}");
    size_t nt = strlen(tpl), nl = strlen(label);
    char *s = malloc(nt + nl + 1);
    if (!s)
        return NULL;
    if (at) {
        size_t pre = (size_t)(at - tpl);
        memcpy(s, tpl, pre);
        memcpy(s + pre, label, nl);
        memcpy(s + pre + nl, at + 2, nt - pre - 2 + 1);
    } else {
        memcpy(s, tpl, nt);
        memcpy(s + nt, label, nl + 1);
    }
    return s;
}

medge_status medge_clip_embed_labels(medge_clip *c, const char *const *labels, int n_labels, const char *template_,
                                     float *text_embeddings)
{
    CHECK_HANDLE(c);
    if (!labels || n_labels < 1 || !text_embeddings)
        return medge_handle_fail(&c->base, medge_err(MEDGE_ERR_INVALID_ARG, "medge_clip_embed_labels: need at least "
                                                     "one label and an output buffer"));
    const char *tpl = template_ ? template_ : "this is a photo of {}";
    const size_t E = (size_t)c->m->proj;
    for (int i = 0; i < n_labels; i++) {
        if (!labels[i])
            return medge_handle_fail(&c->base, medge_err(MEDGE_ERR_INVALID_ARG, "label %d is NULL", i));
        char *text = fill_template(tpl, labels[i]);
        medge_status rc = text ? medge_clip_embed_text(c, text, text_embeddings + (size_t)i * E)
                               : medge_err(MEDGE_ERR_NOMEM, "out of memory");
        free(text);
        if (rc != MEDGE_OK)
            return medge_handle_fail(&c->base, rc);
    }
    return MEDGE_OK;
}

medge_status medge_clip_zero_shot(const medge_clip *c, const float *image_embedding, const float *text_embeddings,
                                  int n_labels, float *probs, float *logits)
{
    if (!c || !image_embedding || !text_embeddings || n_labels < 1 || !probs)
        return medge_err(MEDGE_ERR_INVALID_ARG, "medge_clip_zero_shot: need a handle, an image embedding, at least "
                                                "one text embedding and a probs buffer");
    const int E = c->m->proj;
    const float scale = expf(c->m->logit_scale);
    float mx = -INFINITY;
    for (int i = 0; i < n_labels; i++) {
        const float *t = text_embeddings + (size_t)i * (size_t)E;
        double d = 0;
        for (int k = 0; k < E; k++)
            d += (double)image_embedding[k] * t[k];
        probs[i] = scale * (float)d;
        if (logits)
            logits[i] = probs[i];
        mx = probs[i] > mx ? probs[i] : mx;
    }
    double sum = 0;
    for (int i = 0; i < n_labels; i++)
        sum += probs[i] = expf(probs[i] - mx);
    for (int i = 0; i < n_labels; i++)
        probs[i] = (float)(probs[i] / sum);
    return MEDGE_OK;
}

medge_status medge_clip_classify(medge_clip *c, const float *image_embedding, const char *const *labels, int n_labels,
                                 const char *template_, float *probs, float *logits)
{
    CHECK_HANDLE(c);
    if (!image_embedding || !labels || n_labels < 1 || !probs)
        return medge_handle_fail(&c->base, medge_err(MEDGE_ERR_INVALID_ARG, "medge_clip_classify: need an image "
                                                     "embedding, at least one label and a probs buffer"));
    float *t = malloc((size_t)n_labels * (size_t)c->m->proj * sizeof *t);
    if (!t)
        return medge_handle_fail(&c->base, medge_err(MEDGE_ERR_NOMEM, "out of memory"));
    medge_status rc = medge_clip_embed_labels(c, labels, n_labels, template_, t);
    if (rc == MEDGE_OK)
        rc = medge_clip_zero_shot(c, image_embedding, t, n_labels, probs, logits);
    free(t);
    return rc == MEDGE_OK ? rc : medge_handle_fail(&c->base, rc);
}
