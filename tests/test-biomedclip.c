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

static double cosine(const float *a, const float *b, int n)
{
    double ab = 0, aa = 0, bb = 0;
    for (int i = 0; i < n; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    return ab / sqrt(aa * bb);
}

/* The default label set of medge classify / eval clip (tools/common/labels.c "modality") in the
 * default template: the zero-shot check of issue 9's INT8 acceptance. */
static const char *const k_labels[10] = {"chest X-ray", "bone X-ray", "brain MRI", "CT scan", "ultrasound image",
                                         "skin lesion photograph", "fundus photograph", "histopathology slide",
                                         "ECG tracing", "dental X-ray"};

typedef struct run {
    float img[4][1024], txt[16][1024], lab[10][1024];
} run;

/* Encode the 4 images and 16 texts of the reference with the model in path (weights repacked for
 * the GEMM tiles first when prepack is set, as medge_clip_load does); check F32 numbers against
 * the reference when check is set. */
static void encode_all(const char *path, const json_value *ref, bool check, run *out, medge_pool *pool, bool prepack)
{
    gguf_ctx *g = NULL;
    bmc_model *m = NULL;
    CHECK_OK(gguf_open(path, &g));
    if (!g)
        return;
    CHECK_OK(bmc_load(g, &m));
    if (!m)
        return;
    if (prepack)
        CHECK_OK(bmc_prepack(m, pool));
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
    for (int i = 0; i < 10; i++) {
        char prompt[96];
        snprintf(prompt, sizeof prompt, "this is a photo of %s", k_labels[i]);
        int32_t *ids = NULL;
        int n = 0;
        CHECK_OK(bmc_tokenize(m, prompt, &ids, &n));
        if (ids)
            CHECK_OK(bmc_encode_text(m, &wk, ids, n, out->lab[i]));
        free(ids);
        bmc_l2_normalize(out->lab[i], E);
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


/* ---- crafted inputs ---- */

static void put16(FILE *f, unsigned v) { fputc(v & 255, f); fputc(v >> 8 & 255, f); }
static void put32(FILE *f, unsigned v) { put16(f, v & 0xFFFF); put16(f, v >> 16); }

/* A zip with stored entries (CRC left 0: the reader does not check it). */
static void write_zip(const char *path, const char *const *names, const void *const *data, const size_t *sizes, int n)
{
    FILE *f = fopen(path, "wb");
    long offs[16];
    for (int i = 0; i < n; i++) {
        offs[i] = ftell(f);
        put32(f, 0x04034b50);
        put16(f, 20); put16(f, 0); put16(f, 0); put16(f, 0); put16(f, 0);
        put32(f, 0); put32(f, (unsigned)sizes[i]); put32(f, (unsigned)sizes[i]);
        put16(f, (unsigned)strlen(names[i])); put16(f, 0);
        fputs(names[i], f);
        fwrite(data[i], 1, sizes[i], f);
    }
    long cd = ftell(f);
    for (int i = 0; i < n; i++) {
        put32(f, 0x02014b50);
        put16(f, 20); put16(f, 20); put16(f, 0); put16(f, 0); put16(f, 0); put16(f, 0);
        put32(f, 0); put32(f, (unsigned)sizes[i]); put32(f, (unsigned)sizes[i]);
        put16(f, (unsigned)strlen(names[i])); put16(f, 0); put16(f, 0); put16(f, 0); put16(f, 0);
        put32(f, 0); put32(f, (unsigned)offs[i]);
        fputs(names[i], f);
    }
    long end = ftell(f);
    put32(f, 0x06054b50);
    put16(f, 0); put16(f, 0); put16(f, (unsigned)n); put16(f, (unsigned)n);
    put32(f, (unsigned)(end - cd)); put32(f, (unsigned)cd); put16(f, 0);
    fclose(f);
}

static void write_text(const char *path, const char *s)
{
    FILE *f = fopen(path, "wb");
    fputs(s, f);
    fclose(f);
}

/* A checkpoint dir in tmp: config and (optionally) vocab linked from the reference. */
static const char *make_dir(const char *name, bool vocab)
{
    const char *d = test_tmp(name);
    static char dir[1024];
    snprintf(dir, sizeof dir, "%s", d);
    char cmd[3000];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
    CHECK(system(cmd) == 0);
    char a[1200], b[1200];
    snprintf(a, sizeof a, "%s/open_clip_config.json", dir);
    CHECK(symlink(test_ref("biomedclip-tiny/open_clip_config.json"), a) == 0 || (perror(a), 0));
    if (vocab) {
        snprintf(b, sizeof b, "%s/vocab.txt", dir);
        CHECK(symlink(test_ref("biomedclip-tiny/vocab.txt"), b) == 0);
    }
    return dir;
}

/* The tiny checkpoint as safetensors; rename_from/reshape: declare one tensor with another shape
 * of the same size. */
static void write_safetensors(const char *path, const char *reshape, const int64_t *shape2, int nd2)
{
    tz_file *tz = NULL;
    CHECK_OK(tz_open(test_ref("biomedclip-tiny/open_clip_pytorch_model.bin"), &tz));
    if (!tz)
        return;
    medge_buf h = {0};
    medge_buf_puts(&h, "{");
    uint64_t off = 0;
    for (size_t i = 0; i < tz_count(tz); i++) {
        const tz_tensor *t = tz_at(tz, i);
        medge_buf_printf(&h, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[", i ? "," : "", t->name,
                         t->dtype == TZ_F32 ? "F32" : "I64");
        bool re = reshape && strcmp(t->name, reshape) == 0;
        int nd = re ? nd2 : t->n_dims;
        for (int k = 0; k < nd; k++)
            medge_buf_printf(&h, "%s%lld", k ? "," : "", (long long)(re ? shape2[k] : t->shape[k]));
        medge_buf_printf(&h, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
                         (unsigned long long)(off + t->nbytes));
        off += t->nbytes;
    }
    medge_buf_puts(&h, "}");
    while (h.len % 8)
        medge_buf_puts(&h, " ");
    FILE *f = fopen(path, "wb");
    uint64_t hl = h.len;
    fwrite(&hl, 8, 1, f);
    fwrite(h.data, 1, h.len, f);
    for (size_t i = 0; i < tz_count(tz); i++)
        fwrite(tz_at(tz, i)->data, 1, tz_at(tz, i)->nbytes, f);
    fclose(f);
    medge_buf_free(&h);
    tz_close(tz);
}

static bool msg_has(const char *s) { return strstr(medge_errmsg(NULL), s) != NULL; }

static void test_bad_inputs(const char *f32_path)
{
    /* Not a zip (a legacy torch.save file starts with a pickle). */
    const char *p = test_tmp("not-a-zip.bin");
    write_text(p, "\x80\x02\x8a\x0alegacy torch.save");
    tz_file *tz = NULL;
    CHECK_EQ_INT(tz_open(p, &tz), MEDGE_ERR_FORMAT);
    CHECK_MSG(msg_has("not a zip"), "%s", medge_errmsg(NULL));

    /* A pickle calling os.system: refused at the GLOBAL, nothing executed. */
    static const char evil[] = "\x80\x02" "cos\nsystem\nq\x00X\x05\x00\x00\x00touchq\x01\x85q\x02Rq\x03.";
    static const char weird[] = "\x80\x02}q\x00(X\x01\x00\x00\x00" "a" "i__main__\nX\nq\x01u.";
    const char *names[2] = {"archive/data.pkl", "archive/version"};
    const void *data[2] = {evil, "3\n"};
    size_t sizes[2] = {sizeof evil - 1, 2};
    p = test_tmp("evil-global.bin");
    write_zip(p, names, data, sizes, 2);
    CHECK_EQ_INT(tz_open(p, &tz), MEDGE_ERR_UNSUPPORTED);
    CHECK_MSG(msg_has("global 'os.system' is not allowed"), "%s", medge_errmsg(NULL));
    data[0] = weird;
    sizes[0] = sizeof weird - 1;
    p = test_tmp("weird-opcode.bin");
    write_zip(p, names, data, sizes, 2);
    CHECK_EQ_INT(tz_open(p, &tz), MEDGE_ERR_UNSUPPORTED);
    CHECK_MSG(msg_has("opcode 0x69"), "%s", medge_errmsg(NULL));

    /* The converter on those, through a checkpoint directory. */
    const char *dir = make_dir("bmc-evil", true);
    char path[1200];
    snprintf(path, sizeof path, "%s/open_clip_pytorch_model.bin", dir);
    data[0] = evil;
    sizes[0] = sizeof evil - 1;
    write_zip(path, names, data, sizes, 2);
    CHECK_EQ_INT(bmc_convert(dir, test_tmp("bmc-evil.gguf"), NULL), MEDGE_ERR_UNSUPPORTED);
    CHECK(access(test_tmp("bmc-evil.gguf"), F_OK) != 0);

    /* safetensors twin: same GGUF tensors as from the .bin. */
    dir = make_dir("bmc-st", true);
    snprintf(path, sizeof path, "%s/open_clip_model.safetensors", dir);
    write_safetensors(path, NULL, NULL, 0);
    const char *st_gguf = test_tmp("bmc-st.gguf");
    CHECK_OK(bmc_convert(dir, st_gguf, NULL));
    gguf_ctx *a = NULL, *b = NULL;
    CHECK_OK(gguf_open(f32_path, &a));
    CHECK_OK(gguf_open(st_gguf, &b));
    if (a && b) {
        CHECK_EQ_INT(a->n_tensors, b->n_tensors);
        size_t same = 0;
        for (uint64_t i = 0; i < a->n_tensors && i < b->n_tensors; i++)
            same += a->tensors[i].nbytes == b->tensors[i].nbytes &&
                    memcmp(a->tensors[i].data, b->tensors[i].data, a->tensors[i].nbytes) == 0;
        CHECK_EQ_INT(same, a->n_tensors);
    }
    gguf_close(a);
    gguf_close(b);

    /* Wrong shape (same element count, so the container itself is valid). */
    dir = make_dir("bmc-shape", true);
    snprintf(path, sizeof path, "%s/open_clip_model.safetensors", dir);
    int64_t sh[2] = {512, 512};
    write_safetensors(path, "visual.trunk.blocks.1.mlp.fc2.weight", sh, 2);
    CHECK_EQ_INT(bmc_convert(dir, test_tmp("bmc-shape.gguf"), NULL), MEDGE_ERR_MISMATCH);
    CHECK_MSG(msg_has("'visual.trunk.blocks.1.mlp.fc2.weight' has shape [512,512], expected [256,1024]"), "%s",
              medge_errmsg(NULL));

    /* A vocabulary with more tokens than the embedding has rows. */
    dir = make_dir("bmc-vocab", false);
    snprintf(path, sizeof path, "%s/open_clip_pytorch_model.bin", dir);
    CHECK(symlink(test_ref("biomedclip-tiny/open_clip_pytorch_model.bin"), path) == 0);
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    FILE *f = fopen(path, "wb");
    for (int i = 0; i < 30523; i++)
        fprintf(f, i == 0 ? "[PAD]\n" : i == 1 ? "[UNK]\n" : i == 2 ? "[CLS]\n" : i == 3 ? "[SEP]\n" : "tok%d\n", i);
    fclose(f);
    CHECK_EQ_INT(bmc_convert(dir, test_tmp("bmc-vocab.gguf"), NULL), MEDGE_ERR_MISMATCH);
    CHECK_MSG(msg_has("30523 tokens but the token embedding has 30522 rows"), "%s", medge_errmsg(NULL));
}

/* Requantize the 2-D linear weights of a GGUF (rows a multiple of 32) to type, those of the text
 * tower (t.*) to ttype. */
static void requant(const char *src, const char *dst, uint32_t type, uint32_t ttype)
{
    gguf_ctx *g = NULL;
    gguf_writer *w = NULL;
    CHECK_OK(gguf_open(src, &g));
    CHECK_OK(gguf_writer_open(dst, &w));
    if (!g || !w)
        return;
    CHECK_OK(gguf_writer_copy_kv(w, g));
    uint32_t *types = calloc(g->n_tensors, sizeof *types);
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const gguf_tensor *t = &g->tensors[i];
        const char *n = t->name.s;
        bool lin = t->n_dims == 2 && t->ne[0] % 32 == 0 && strstr(n, ".weight") &&
                   (strstr(n, "attn_") || strstr(n, "ffn_") || strstr(n, "proj"));
        types[i] = !lin ? t->type : n[0] == 't' ? ttype : type;
        CHECK_OK(gguf_writer_add_tensor(w, n, types[i], t->n_dims, t->ne));
    }
    CHECK_OK(gguf_writer_begin_data(w));
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const gguf_tensor *t = &g->tensors[i];
        if (types[i] == t->type) {
            CHECK_OK(gguf_writer_write(w, t->data, t->nbytes));
            continue;
        }
        const quant_traits *qt = quant_get_traits(types[i]);
        size_t rs = quant_row_size(types[i], t->ne[0]);
        uint8_t *row = malloc(rs);
        for (int64_t r = 0; r < t->ne[1]; r++) {
            qt->from_float_ref((const float *)t->data + r * t->ne[0], row, t->ne[0]);
            if (gguf_writer_write(w, row, rs) != MEDGE_OK)
                CHECK(!"write failed");
        }
        free(row);
    }
    CHECK_OK(gguf_writer_finish(w));
    gguf_writer_free(w);
    free(types);
    gguf_close(g);
}

/* Index of the text embedding (of nt, stride 1024) closest to img; *second: the runner-up. */
static int top_label(const float *img, float (*txt)[1024], int nt, int E, int *second)
{
    int best = 0, sec = -1;
    float bd = -1e30f, sd = -1e30f;
    for (int b = 0; b < nt; b++) {
        float d = 0;
        for (int k = 0; k < E; k++)
            d += img[k] * txt[b][k];
        if (d > bd) {
            sec = best, sd = bd;
            bd = d, best = b;
        } else if (d > sd) {
            sd = d, sec = b;
        }
    }
    if (second)
        *second = sec;
    return best;
}

static float dotf(const float *a, const float *b, int n)
{
    float d = 0;
    for (int k = 0; k < n; k++)
        d += a[k] * b[k];
    return d;
}

/* The linear layers of f32 requantized to type (the text tower's to ttype): repacked weights give
 * the in-place numbers (1e-6; I8_PC: its tiles are exact, so the image embeddings bit for bit; F16
 * text: 3e-4, since in place the kernel table rounds the activations to F16 while the small-batch
 * panels of the repacked weights keep them F32), and image / text
 * embeddings have cosine >= 0.9995 with F32. Zero-shot: over the 16 reference texts the top label
 * is F32's or one within tie_logits of F32's best on at least 3 images; over the default label set
 * (k_labels) the same top label on every image when strict (issue 9's INT8 bar), else reported. */
static void fidelity(const char *f32, const char *name, uint32_t type, uint32_t ttype, const char *tn, run *r32,
                     const json_value *ref, medge_pool *pool, bool strict, double tie_logits)
{
    char q8[1024];
    snprintf(q8, sizeof q8, "%s", test_tmp(name));
    requant(f32, q8, type, ttype);
    static run rq, rqp;
    encode_all(q8, ref, false, &rq, pool, false);
    encode_all(q8, ref, false, &rqp, pool, true);
    double mdi = 0, mdt = 0;
    for (int i = 0; i < 4 * 1024; i++)
        mdi = fmax(mdi, fabs((double)rq.img[i / 1024][i % 1024] - rqp.img[i / 1024][i % 1024]));
    for (int i = 0; i < 16 * 1024; i++)
        mdt = fmax(mdt, fabs((double)rq.txt[i / 1024][i % 1024] - rqp.txt[i / 1024][i % 1024]));
    printf("%s repacked vs in place: max |diff| images %.3g, texts %.3g\n", tn, mdi, mdt);
    CHECK_MSG(mdi <= (type == MEDGE_TYPE_I8_PC ? 0 : 1e-6), "repacked weights change the %s image embeddings by %g", tn,
              mdi);
    CHECK_MSG(mdt <= (ttype == GGML_TYPE_F16 ? 3e-4 : ttype == MEDGE_TYPE_I8_PC ? 0 : 1e-6),
              "repacked weights change the %s text embeddings by %g", tn, mdt);
    const int E = 128;
    const double scale = 19.2836971282959;
    double worst = 1;
    int agree = 0, agree_l = 0;
    for (int i = 0; i < 4; i++) {
        double c = cosine(r32->img[i], rq.img[i], E);
        worst = fmin(worst, c);
        CHECK_MSG(c >= 0.9995, "%s image %d: cosine %.6f", tn, i, c);
        /* Random weights make near-ties (the reference's top-2 logits differ by 3e-4..1e-2): where
         * the labels differ, the quantized choice must be within tie_logits of the F32 best. */
        int t32 = top_label(r32->img[i], r32->txt, 16, E, NULL), t8 = top_label(rq.img[i], rq.txt, 16, E, NULL);
        double m = scale * (dotf(r32->img[i], r32->txt[t32], E) - dotf(r32->img[i], r32->txt[t8], E));
        agree += t32 == t8;
        CHECK_MSG(m <= tie_logits, "%s image %d: top label %d, F32 %d (F32 margin %.5f logits)", tn, i, t8, t32, m);
        /* the default label set, both towers quantized, every pair (top label, runner-up) printed */
        int s32, s8;
        int l32 = top_label(r32->img[i], r32->lab, 10, E, &s32), l8 = top_label(rq.img[i], rq.lab, 10, E, &s8);
        agree_l += l32 == l8;
        printf("%s image %d: top label %s (%s), F32 %s; margin over the runner-up %.5f logits (F32 %.5f)\n", tn, i,
               k_labels[l8], l8 == l32 ? "same" : "DIFFERENT", k_labels[l32],
               scale * (dotf(rq.img[i], rq.lab[l8], E) - dotf(rq.img[i], rq.lab[s8], E)),
               scale * (dotf(r32->img[i], r32->lab[l32], E) - dotf(r32->img[i], r32->lab[s32], E)));
    }
    for (int i = 0; i < 16; i++) {
        double c = cosine(r32->txt[i], rq.txt[i], E);
        worst = fmin(worst, c);
        CHECK_MSG(c >= 0.9995, "%s text %d: cosine %.6f", tn, i, c);
    }
    for (int i = 0; i < 10; i++) {
        double c = cosine(r32->lab[i], rq.lab[i], E);
        worst = fmin(worst, c);
        CHECK_MSG(c >= 0.9995, "%s label prompt %d: cosine %.6f", tn, i, c);
    }
    printf("%s: worst cosine with F32 %.6f, same top label on %d/4 images (16 reference texts), %d/4 (default "
           "labels)\n", tn, worst, agree, agree_l);
    CHECK(agree >= 3);
    CHECK_MSG(agree_l >= (strict ? 4 : 0), "%s: same top label of the default label set on %d/4 images", tn, agree_l);
}

int main(void)
{
    const char *dir = test_ref("biomedclip-tiny");
    char f32[1024];
    snprintf(f32, sizeof f32, "%s", test_tmp("biomedclip-tiny-f32.gguf"));
    CHECK_OK(bmc_convert(dir, f32, NULL));
    json_doc *doc = NULL;
    CHECK_OK(json_parse_file(test_ref("biomedclip-tiny/reference.json"), &doc));
    if (!doc)
        TEST_END();
    const json_value *ref = json_root(doc);
    medge_pool *pool = NULL;
    CHECK_OK(medge_pool_create(2, &pool));
    static run r32, r32p;
    encode_all(f32, ref, true, &r32, pool, false);
    /* Repacked weights: the same tiles, so the same numbers up to summation order (single-row
     * products go through the tile instead of the row kernel). */
    encode_all(f32, ref, true, &r32p, pool, true);
    double mdp = 0;
    for (int i = 0; i < 4 * 1024; i++)
        mdp = fmax(mdp, fabs((double)r32.img[i / 1024][i % 1024] - r32p.img[i / 1024][i % 1024]));
    for (int i = 0; i < 16 * 1024; i++)
        mdp = fmax(mdp, fabs((double)r32.txt[i / 1024][i % 1024] - r32p.txt[i / 1024][i % 1024]));
    printf("F32 repacked vs in place: max |diff| %.3g\n", mdp);
    CHECK_MSG(mdp <= 1e-6, "repacked weights change the F32 embeddings by %g", mdp);

    /* Q8_0 linear layers in both towers: embeddings close to F32; the random-weight model's label
     * prompts lie within cosine 1e-4 of each other, so int8 errors on the text side swap
     * near-tied labels (2 of 4 images here, 4 of 4 with medge quantize's Q8_0 mixture: chance).
     * Then I8_PC in every linear layer of the image tower (per-channel int8 weights, per-row int8
     * activations; medge quantize's recipe keeps the single-row products F16, checked by
     * cli-biomedclip.sh), text tower F16: the INT8 bar, cosine >= 0.9995 and the same
     * top label on every image. */
    fidelity(f32, "biomedclip-tiny-q8_0.gguf", GGML_TYPE_Q8_0, GGML_TYPE_Q8_0, "Q8_0", &r32, ref, pool, false, 0.005);
    /* image 2's two best reference texts differ by 2.8e-4 logits (1.5e-5 in cosine): F32 image
     * with F16 text already swaps them, so that pair counts as a tie */
    fidelity(f32, "biomedclip-tiny-i8pc.gguf", MEDGE_TYPE_I8_PC, GGML_TYPE_F16, "I8_PC", &r32, ref, pool, true, 0.0005);

    test_bad_inputs(f32);
    medge_pool_free(pool);
    json_free(doc);
    TEST_END();
}
