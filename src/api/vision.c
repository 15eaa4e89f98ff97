/* vision.c - the public medge_vision handle (include/medge.h): an mmproj loaded as a SigLIP
 * encoder + Gemma 3 projector with its own worker pool, image preprocessing as the Hugging Face
 * Gemma 3 processor does it, and image prompts in a text session (<start_of_image>, the
 * embeddings with bidirectional attention, <end_of_image>, as llama.cpp's mtmd feeds them). */
#include "image/image.h"
#include "models/siglip.h"
#include "runtime/session.h"

#include <stdlib.h>
#include <string.h>

struct medge_vision {
    medge_handle h;
    siglip_model *m;
    medge_pool *pool;
    ops_scratch scratch;
};

medge_vision_params medge_vision_default_params(void)
{
    medge_vision_params p;
    memset(&p, 0, sizeof p);
    return p;
}

medge_status medge_vision_load(const char *path, medge_vision_params params, medge_vision **out)
{
    if (!out || !path)
        return medge_err(MEDGE_ERR_INVALID_ARG, "medge_vision_load: NULL path or output");
    *out = NULL;
    medge_vision *v = calloc(1, sizeof *v);
    if (!v)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    medge_status rc = siglip_load(path, &v->m);
    if (rc == MEDGE_OK)
        rc = medge_pool_create(params.n_threads, &v->pool);
    if (rc != MEDGE_OK) {
        medge_vision_free(v);
        return rc;
    }
    *out = v;
    return MEDGE_OK;
}

void medge_vision_free(medge_vision *v)
{
    if (!v)
        return;
    siglip_free(v->m);
    medge_pool_free(v->pool);
    ops_scratch_free(&v->scratch);
    free(v);
}

int medge_vision_n_tokens(const medge_vision *v) { return v ? v->m->n_tokens : 0; }
int medge_vision_n_embd(const medge_vision *v) { return v ? v->m->proj_dim : 0; }
int medge_vision_image_size(const medge_vision *v) { return v ? v->m->image_size : 0; }

/* Id of a token given by its text in the model's vocabulary, -1 when absent. */
static int32_t find_token(const medge_model *model, const char *text)
{
    const void *data;
    uint64_t n;
    if (gguf_get_arr(model->g->gguf, "tokenizer.ggml.tokens", GGUF_STR, &data, &n) != MEDGE_OK)
        return -1;
    const gguf_str *t = data;
    size_t len = strlen(text);
    for (uint64_t i = 0; i < n && i < (uint64_t)model->g->hp.n_vocab; i++)
        if (t[i].len == len && memcmp(t[i].s, text, len) == 0)
            return (int32_t)i;
    return -1;
}

static medge_status check_model(const medge_vision *v, const medge_model *model, int32_t *boi, int32_t *eoi)
{
    int n_embd = medge_model_n_embd(model);
    if (v->m->proj_dim != n_embd)
        return medge_err(MEDGE_ERR_MISMATCH,
                         "the mmproj projects images to width %d but the text model is %d wide: they do not belong "
                         "to the same model",
                         v->m->proj_dim, n_embd);
    *boi = find_token(model, "<start_of_image>");
    *eoi = find_token(model, "<end_of_image>");
    if (*boi < 0 || *eoi < 0)
        return medge_err(MEDGE_ERR_MISMATCH, "the text model's vocabulary has no <start_of_image> / <end_of_image> "
                                             "tokens: it cannot take images");
    return MEDGE_OK;
}

medge_status medge_vision_check_model(const medge_vision *v, const medge_model *model)
{
    if (!v || !model)
        return medge_err(MEDGE_ERR_INVALID_ARG, "medge_vision_check_model: NULL argument");
    int32_t boi, eoi;
    return check_model(v, model, &boi, &eoi);
}

medge_status medge_vision_encode_planes(medge_vision *v, const float *planes, float *embd)
{
    if (!v || !planes || !embd)
        return medge_err(MEDGE_ERR_INVALID_ARG, "medge_vision_encode_planes: NULL argument");
    medge_status rc = siglip_encode(v->m, v->pool, &v->scratch, planes, embd);
    return medge_handle_fail(&v->h, rc);
}

medge_status medge_vision_encode(medge_vision *v, const medge_image *img, float *embd)
{
    if (!v || !img || !embd)
        return medge_err(MEDGE_ERR_INVALID_ARG, "medge_vision_encode: NULL argument");
    const int S = v->m->image_size;
    medge_image *sized = NULL;
    const medge_image *use = img;
    medge_status rc = MEDGE_OK;
    if (img->w != S || img->h != S) {
        /* HF Gemma3ImageProcessor: resize to size x size with PIL bilinear, no aspect keeping */
        rc = medge_image_resize(img, S, S, MEDGE_RESAMPLE_BILINEAR, &sized);
        if (rc != MEDGE_OK)
            return medge_handle_fail(&v->h, rc);
        use = sized;
    }
    float *planes = malloc(sizeof(float) * 3 * (size_t)S * (size_t)S);
    if (!planes) {
        medge_image_free(sized);
        return medge_handle_fail(&v->h, medge_err(MEDGE_ERR_NOMEM, "out of memory for the image planes"));
    }
    medge_image_to_planar(use, v->m->mean, v->m->std, planes);
    rc = siglip_encode(v->m, v->pool, &v->scratch, planes, embd);
    free(planes);
    medge_image_free(sized);
    return medge_handle_fail(&v->h, rc);
}

medge_status medge_session_eval_image(medge_session *s, const medge_vision *v, const float *embd)
{
    if (!s || !v || !embd)
        return medge_err(MEDGE_ERR_INVALID_ARG, "medge_session_eval_image: NULL argument");
    int32_t boi, eoi;
    medge_status rc = check_model(v, s->model, &boi, &eoi);
    if (rc != MEDGE_OK)
        return medge_handle_fail(&s->h, rc);
    int n = v->m->n_tokens;
    int room = medge_session_n_ctx(s) - medge_session_n_past(s);
    if (room < n + 2)
        return medge_handle_fail(&s->h, medge_err(MEDGE_ERR_CONTEXT_FULL,
                                                  "an image needs %d positions of context but only %d are left",
                                                  n + 2, room));
    MEDGE_TRY(medge_session_eval(s, &boi, 1));
    MEDGE_TRY(medge_session_eval_embd(s, embd, n, 1));
    return medge_session_eval(s, &eoi, 1);
}
