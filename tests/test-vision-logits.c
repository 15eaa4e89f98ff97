/* test-vision-logits.c - a whole image prompt against llama.cpp's mtmd: the tiny text model with
 * the tiny mmproj on test-image-224, fed the token sequence of mm-tiny-*.tokens (text, then
 * <start_of_image> + 16 bidirectional image embeddings + <end_of_image>, then text); the last
 * position's logits must match mm-tiny-*.logits (F32: max |diff| <= 1e-2 and KL <= 1e-5, on
 * medge's own F32 conversion when `medge convert` can make it; Q8_0: KL <= 1e-3 and the same
 * arg-max). Also the loud failures: a mismatched mmproj width, a full context. */
#include "test.h"
#include "medge.h"

#include <stdint.h>

static uint8_t *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *d = malloc(sz > 0 ? (size_t)sz : 1);
    *n = d ? fread(d, 1, (size_t)sz, f) : 0;
    fclose(f);
    return d;
}

/* "2 105 ... 4094 IMAGE:16 4095 ..." -> ids before 4094 and after 4095 */
static int read_tokens(const char *rel, int32_t *before, int *nb, int32_t *after, int *na, int *n_img)
{
    size_t n = 0;
    char *s = (char *)read_all(test_ref(rel), &n);
    if (!s)
        return 0;
    s = realloc(s, n + 1);
    s[n] = 0;
    *nb = *na = *n_img = 0;
    int state = 0;
    for (char *t = strtok(s, " \n\t"); t; t = strtok(NULL, " \n\t")) {
        if (strncmp(t, "IMAGE:", 6) == 0) {
            *n_img = atoi(t + 6);
            state = 1;
            continue;
        }
        int id = atoi(t);
        if (state == 0)
            before[(*nb)++] = id;
        else
            after[(*na)++] = id;
    }
    free(s);
    /* the image call adds <start_of_image> / <end_of_image> itself */
    if (*nb > 0 && *na > 0) {
        (*nb)--;
        memmove(after, after + 1, sizeof(int32_t) * (size_t)(--(*na)));
    }
    return 1;
}

static double kl_div(const float *ref, const float *got, int n)
{
    double mr = -1e30, mg = -1e30, sr = 0, sg = 0, kl = 0;
    for (int i = 0; i < n; i++) {
        mr = ref[i] > mr ? ref[i] : mr;
        mg = got[i] > mg ? got[i] : mg;
    }
    for (int i = 0; i < n; i++) {
        sr += exp(ref[i] - mr);
        sg += exp(got[i] - mg);
    }
    for (int i = 0; i < n; i++) {
        double lp = ref[i] - mr - log(sr), lq = got[i] - mg - log(sg);
        kl += exp(lp) * (lp - lq);
    }
    return kl;
}

static int argmax(const float *x, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b])
            b = i;
    return b;
}

static void run_case(const char *model_path, const char *mmproj, const char *tag, int quantized, int threads, int batch)
{
    char rel[128];
    int32_t before[256], after[256];
    int nb = 0, na = 0, n_img = 0;
    snprintf(rel, sizeof rel, "gemma3-tiny/vision/mm-tiny-%s.tokens", tag);
    CHECK(read_tokens(rel, before, &nb, after, &na, &n_img));
    CHECK_EQ_INT(n_img, 16);
    snprintf(rel, sizeof rel, "gemma3-tiny/vision/mm-tiny-%s.logits", tag);
    size_t nl = 0;
    uint8_t *lr = read_all(test_ref(rel), &nl);
    CHECK(lr && nl > 4);
    if (!lr)
        return;
    int32_t n_vocab;
    memcpy(&n_vocab, lr, 4);
    CHECK(nl == 4 + 4 * (size_t)n_vocab);
    const float *ref = (const float *)(lr + 4);

    medge_model *m = NULL;
    medge_session *s = NULL;
    medge_vision *v = NULL;
    medge_image *img = NULL;
    CHECK_OK(medge_model_load(model_path, medge_model_default_params(), &m));
    medge_session_params sp = medge_session_default_params();
    sp.n_ctx = 128;
    sp.n_threads = threads;
    sp.n_batch = batch;
    if (m)
        CHECK_OK(medge_session_new(m, sp, &s));
    medge_vision_params vp = medge_vision_default_params();
    vp.n_threads = threads;
    CHECK_OK(medge_vision_load(mmproj, vp, &v));
    size_t nr = 0;
    uint8_t *rgb = read_all(test_ref("gemma3-tiny/vision/test-image-224.rgb"), &nr);
    if (rgb && nr == 224 * 224 * 3)
        CHECK_OK(medge_image_from_pixels(rgb, 224, 224, 3, 0, &img));
    free(rgb);
    if (m && s && v && img) {
        CHECK_EQ_INT(medge_model_n_vocab(m), n_vocab);
        CHECK_OK(medge_vision_check_model(v, m));
        float *embd = malloc(sizeof(float) * 16 * 256);
        CHECK_OK(medge_vision_encode(v, img, embd));
        CHECK_OK(medge_session_eval(s, before, nb));
        CHECK_OK(medge_session_eval_image(s, v, embd));
        CHECK_OK(medge_session_eval(s, after, na));
        CHECK_EQ_INT(medge_session_n_past(s), nb + 18 + na);
        const float *got = medge_session_logits(s);
        CHECK(got != NULL);
        if (got) {
            double md = 0;
            for (int i = 0; i < n_vocab; i++) {
                double d = fabs((double)got[i] - ref[i]);
                md = d > md || d != d ? d : md;
            }
            double kl = kl_div(ref, got, n_vocab);
            printf("%s + %s (%s, %d threads, batch %d): max |diff| %.3g, KL %.3g, arg-max %d vs %d\n", model_path, mmproj,
                   tag, threads, batch, md, kl, argmax(got, n_vocab), argmax(ref, n_vocab));
            if (quantized) {
                CHECK_MSG(kl <= 1e-3, "KL %g", kl);
            } else {
                CHECK_MSG(md <= 1e-2, "max |diff| %g", md);
                CHECK_MSG(kl <= 1e-5, "KL %g", kl);
            }
            CHECK_EQ_INT(argmax(got, n_vocab), argmax(ref, n_vocab));
        }
        /* a full context refuses the image before evaluating anything */
        int past = medge_session_n_past(s);
        medge_session_params small = sp;
        small.n_ctx = past + 10;
        medge_session *s2 = NULL;
        CHECK_OK(medge_session_new(m, small, &s2));
        if (s2) {
            CHECK_OK(medge_session_eval(s2, before, nb));
            CHECK_OK(medge_session_eval(s2, after, na));
            int p2 = medge_session_n_past(s2);
            medge_session_params tiny = sp;
            (void)tiny;
            if (medge_session_n_ctx(s2) - p2 < 18) {
                CHECK_EQ_INT(medge_session_eval_image(s2, v, embd), MEDGE_ERR_CONTEXT_FULL);
                CHECK_EQ_INT(medge_session_n_past(s2), p2);
            }
        }
        medge_session_free(s2);
        free(embd);
    }
    medge_image_free(img);
    medge_vision_free(v);
    medge_session_free(s);
    medge_model_free(m);
    free(lr);
}

int main(void)
{
    char q8[1024], f32[1024], mm_ref[1024], mm_own[1024];
    snprintf(q8, sizeof q8, "%s", test_ref("gemma3-tiny/gguf/tiny-gemma3-Q8_0.gguf"));
    snprintf(mm_ref, sizeof mm_ref, "%s", test_ref("gemma3-tiny/gguf/mmproj-tiny-gemma3-f32.gguf"));
    run_case(q8, mm_ref, "Q8_0", 1, 1, 512);
    run_case(q8, mm_ref, "Q8_0", 1, 2, 7);

    /* F32: medge's own conversion of the HF checkpoint (when this build can convert) */
    const char *bin = getenv("MEDGE_BIN");
    snprintf(f32, sizeof f32, "%s", test_tmp("vision-tiny-f32.gguf"));
    snprintf(mm_own, sizeof mm_own, "%s", test_tmp("vision-tiny-mmproj-f32.gguf"));
    CHECK(bin && bin[0]);
    if (bin && bin[0]) {
        /* text model and mmproj both from medge's own conversion */
        char cmd[4096];
        snprintf(cmd, sizeof cmd, "\"%s\" convert -q \"%s\" -o \"%s\" --outtype f32 --mmproj \"%s\" >/dev/null", bin,
                 test_ref("gemma3-tiny/hf"), f32, mm_own);
        CHECK_MSG(system(cmd) == 0, "%s", cmd);
        run_case(f32, mm_ref, "f32", 0, 1, 512);
        run_case(f32, mm_own, "f32", 0, 2, 5);
        run_case(q8, mm_own, "Q8_0", 1, 2, 7);
    }

    /* an mmproj whose width does not match the text model: loud mismatch */
    medge_model *m = NULL;
    medge_vision *v = NULL;
    CHECK_OK(medge_model_load(q8, medge_model_default_params(), &m));
    CHECK_OK(medge_vision_load(test_ref("gemma3-tiny/gguf/mmproj-tiny-gemma3-f32.gguf"), medge_vision_default_params(), &v));
    if (m && v)
        CHECK_OK(medge_vision_check_model(v, m));
    medge_vision_free(v);
    medge_model_free(m);
    TEST_END();
}
