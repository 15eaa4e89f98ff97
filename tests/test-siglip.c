/* test-siglip.c - the Gemma 3 vision encoder against llama.cpp: the tiny mmproj on
 * test-image-224 (raw RGB) must give mm-tiny-*.embd within 1e-3, single- and multi-threaded,
 * through both the planes and the image entry points, with llama.cpp's mmproj and with medge's
 * own conversion of the Hugging Face checkpoint (made here with `medge convert`). The fast
 * paths keep cosine >= 0.999 with the reference: a Q8_0 mmproj (`medge quantize`) and BF16
 * attention products. Bad mmproj files are refused loudly. */
#include "test.h"
#include "formats/gguf.h"
#include "medge.h"
#include "models/siglip.h"
#include "ops/attention-dense.h"

#include <stdint.h>

static float *read_embd(const char *rel, int *n_tok, int *n_embd)
{
    FILE *f = fopen(test_ref(rel), "rb");
    if (!f)
        return NULL;
    int32_t hdr[2] = {0, 0};
    float *d = NULL;
    if (fread(hdr, 4, 2, f) == 2 && hdr[0] > 0 && hdr[1] > 0 && hdr[0] < 100000 && hdr[1] < 100000) {
        d = malloc(sizeof(float) * (size_t)hdr[0] * (size_t)hdr[1]);
        if (d && fread(d, 4, (size_t)hdr[0] * (size_t)hdr[1], f) != (size_t)hdr[0] * (size_t)hdr[1]) {
            free(d);
            d = NULL;
        }
    }
    fclose(f);
    *n_tok = hdr[0];
    *n_embd = hdr[1];
    return d;
}

static uint8_t *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *d = malloc((size_t)sz);
    *n = d ? fread(d, 1, (size_t)sz, f) : 0;
    fclose(f);
    return d;
}

static double max_diff(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= m))
            m = d; /* NaN counts as a failure */
    }
    return m;
}

static double cosine(const float *a, const float *b, size_t n)
{
    double d = 0, na = 0, nb = 0;
    for (size_t i = 0; i < n; i++) {
        d += (double)a[i] * b[i];
        na += (double)a[i] * a[i];
        nb += (double)b[i] * b[i];
    }
    return d / sqrt(na * nb + 1e-300);
}

/* quantized: the mmproj's weights are quantized, so only cosine >= 0.999 is asked */
static void check_mmproj(const char *mmproj, const char *label, int quantized)
{
    size_t nr = 0;
    uint8_t *rgb = read_all(test_ref("gemma3-tiny/vision/test-image-224.rgb"), &nr);
    CHECK(rgb && nr == 224 * 224 * 3);
    medge_image *img = NULL;
    CHECK_OK(medge_image_from_pixels(rgb, 224, 224, 3, 0, &img));
    free(rgb);
    const char *refs[2] = {"gemma3-tiny/vision/mm-tiny-f32.embd", "gemma3-tiny/vision/mm-tiny-Q8_0.embd"};
    for (int threads = 1; threads <= 2; threads++) {
        medge_vision_params vp = medge_vision_default_params();
        vp.n_threads = threads;
        medge_vision *v = NULL;
        CHECK_OK(medge_vision_load(mmproj, vp, &v));
        if (!v || !img)
            break;
        CHECK_EQ_INT(medge_vision_n_tokens(v), 16);
        CHECK_EQ_INT(medge_vision_n_embd(v), 256);
        CHECK_EQ_INT(medge_vision_image_size(v), 224);
        float *embd = malloc(sizeof(float) * 16 * 256);
        CHECK_OK(medge_vision_encode(v, img, embd));
        for (int r = 0; r < 2; r++) {
            int nt = 0, ne = 0;
            float *ref = read_embd(refs[r], &nt, &ne);
            CHECK(ref && nt == 16 && ne == 256);
            if (ref && nt == 16 && ne == 256) {
                double d = max_diff(embd, ref, 16 * 256), cs = cosine(embd, ref, 16 * 256);
                printf("%s, %d thread(s) vs %s: max |diff| %.3g, cosine %.7f\n", label, threads, refs[r], d, cs);
                if (quantized)
                    CHECK_MSG(cs >= 0.999, "%s: cosine %.6f vs %s", label, cs, refs[r]);
                else
                    CHECK_MSG(d <= 1e-3, "%s: max |diff| %g vs %s", label, d, refs[r]);
            }
            free(ref);
        }
        /* the planes entry point gives the same */
        float *planes = malloc(sizeof(float) * 3 * 224 * 224), *e2 = malloc(sizeof(float) * 16 * 256);
        const float half[3] = {0.5f, 0.5f, 0.5f};
        medge_image_to_planar(img, half, half, planes);
        CHECK_OK(medge_vision_encode_planes(v, planes, e2));
        CHECK(max_diff(embd, e2, 16 * 256) == 0);
        free(planes);
        free(e2);
        free(embd);
        medge_vision_free(v);
    }
    medge_image_free(img);
}

/* BF16 attention products (what F16 / quantized mmproj files get) on the F32 tiny mmproj */
static void check_bf16_attention(void)
{
    siglip_model *m = NULL;
    CHECK_OK(siglip_load(test_ref("gemma3-tiny/gguf/mmproj-tiny-gemma3-f32.gguf"), &m));
    size_t nr = 0;
    uint8_t *rgb = read_all(test_ref("gemma3-tiny/vision/test-image-224.rgb"), &nr);
    medge_image *img = NULL;
    if (rgb && nr == 224 * 224 * 3)
        CHECK_OK(medge_image_from_pixels(rgb, 224, 224, 3, 0, &img));
    free(rgb);
    int nt = 0, ne = 0;
    float *ref = read_embd("gemma3-tiny/vision/mm-tiny-f32.embd", &nt, &ne);
    medge_pool *pool = NULL;
    CHECK_OK(medge_pool_create(2, &pool));
    if (m && img && ref && nt == 16 && ne == 256 && pool) {
        CHECK_EQ_INT(m->attn_prec, OPS_ATTN_F32); /* F32 weights: reference numerics */
        m->attn_prec = OPS_ATTN_BF16;
        float *planes = malloc(sizeof(float) * 3 * 224 * 224), *embd = malloc(sizeof(float) * 16 * 256);
        const float half[3] = {0.5f, 0.5f, 0.5f};
        medge_image_to_planar(img, half, half, planes);
        ops_scratch scratch = {0};
        CHECK_OK(siglip_encode(m, pool, &scratch, planes, embd));
        double cs = cosine(embd, ref, 16 * 256);
        printf("BF16 attention, llama.cpp mmproj vs mm-tiny-f32.embd: cosine %.7f, max |diff| %.3g\n", cs,
               max_diff(embd, ref, 16 * 256));
        CHECK_MSG(cs >= 0.999, "BF16 attention: cosine %.6f", cs);
        ops_scratch_free(&scratch);
        free(planes);
        free(embd);
    }
    medge_pool_free(pool);
    free(ref);
    medge_image_free(img);
    siglip_free(m);
}

int main(void)
{
    check_mmproj(test_ref("gemma3-tiny/gguf/mmproj-tiny-gemma3-f32.gguf"), "llama.cpp mmproj", 0);
    check_bf16_attention();

    /* medge's own conversion of the HF checkpoint (F32, as llama.cpp's reference mmproj), and
     * that mmproj quantized to Q8_0 */
    const char *bin = getenv("MEDGE_BIN");
    CHECK(bin && bin[0]);
    if (bin && bin[0]) {
        char text[1024], own[1024], q8[1024], cmd[4096];
        snprintf(text, sizeof text, "%s", test_tmp("siglip-tiny-text-f32.gguf"));
        snprintf(own, sizeof own, "%s", test_tmp("siglip-tiny-mmproj-f32.gguf"));
        snprintf(q8, sizeof q8, "%s", test_tmp("siglip-tiny-mmproj-q8_0.gguf"));
        snprintf(cmd, sizeof cmd, "\"%s\" convert -q -t 2 \"%s\" -o \"%s\" --outtype f32 --mmproj \"%s\" >/dev/null", bin,
                 test_ref("gemma3-tiny/hf"), text, own);
        CHECK_MSG(system(cmd) == 0, "%s", cmd);
        check_mmproj(own, "medge mmproj", 0);
        snprintf(cmd, sizeof cmd, "\"%s\" quantize -q \"%s\" \"%s\" Q8_0 >/dev/null", bin, own, q8);
        CHECK_MSG(system(cmd) == 0, "%s", cmd);
        check_mmproj(q8, "medge mmproj Q8_0", 1);
        gguf_ctx *g = NULL;
        CHECK_OK(gguf_open(q8, &g));
        if (g) {
            const gguf_tensor *t = gguf_get_tensor(g, "v.blk.0.attn_q.weight");
            CHECK(t && t->type == GGML_TYPE_Q8_0); /* really quantized */
            gguf_close(g);
        }
    }

    /* a text model is not an mmproj; nor is a missing file */
    medge_vision *v = NULL;
    CHECK_EQ_INT(medge_vision_load(test_ref("gemma3-tiny/gguf/tiny-gemma3-Q8_0.gguf"), medge_vision_default_params(), &v),
                 MEDGE_ERR_MISMATCH);
    CHECK(strstr(medge_errmsg(NULL), "clip") != NULL);
    CHECK(v == NULL);
    CHECK(medge_vision_load(test_ref("nope.gguf"), medge_vision_default_params(), &v) != MEDGE_OK);

    /* an mmproj of another projector type */
    gguf_ctx *g = NULL;
    CHECK_OK(gguf_open(test_ref("gemma3-tiny/gguf/mmproj-tiny-gemma3-f32.gguf"), &g));
    if (g) {
        gguf_writer *w = NULL;
        const char *path = test_tmp("mmproj-llava.gguf");
        CHECK_OK(gguf_writer_open(path, &w));
        CHECK_OK(gguf_writer_copy_kv(w, g));
        CHECK_OK(gguf_writer_set_str(w, "clip.projector_type", "mlp"));
        CHECK_OK(gguf_writer_begin_data(w));
        CHECK_OK(gguf_writer_finish(w));
        gguf_writer_free(w);
        CHECK_EQ_INT(medge_vision_load(path, medge_vision_default_params(), &v), MEDGE_ERR_MISMATCH);
        CHECK(strstr(medge_errmsg(NULL), "'mlp'") != NULL);
        /* a missing tensor */
        path = test_tmp("mmproj-missing.gguf");
        CHECK_OK(gguf_writer_open(path, &w));
        CHECK_OK(gguf_writer_copy_kv(w, g));
        for (uint64_t i = 0; i < g->n_tensors; i++) {
            const gguf_tensor *t = &g->tensors[i];
            if (strcmp(t->name.s, "v.blk.1.attn_v.weight") != 0)
                CHECK_OK(gguf_writer_add_tensor(w, t->name.s, t->type, t->n_dims, t->ne));
        }
        CHECK_OK(gguf_writer_begin_data(w));
        for (uint64_t i = 0; i < g->n_tensors; i++) {
            const gguf_tensor *t = &g->tensors[i];
            if (strcmp(t->name.s, "v.blk.1.attn_v.weight") != 0)
                CHECK_OK(gguf_writer_write(w, t->data, t->nbytes));
        }
        CHECK_OK(gguf_writer_finish(w));
        gguf_writer_free(w);
        CHECK_EQ_INT(medge_vision_load(path, medge_vision_default_params(), &v), MEDGE_ERR_NOT_FOUND);
        CHECK(strstr(medge_errmsg(NULL), "v.blk.1.attn_v.weight") != NULL);
        gguf_close(g);
    }
    TEST_END();
}
