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

typedef struct run {
    float img[4][1024], txt[16][1024];
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

/* Requantize the 2-D linear weights of a GGUF (rows a multiple of 32) to type. */
static void requant(const char *src, const char *dst, uint32_t type)
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
        types[i] = lin ? type : t->type;
        CHECK_OK(gguf_writer_add_tensor(w, n, types[i], t->n_dims, t->ne));
    }
    CHECK_OK(gguf_writer_begin_data(w));
    const quant_traits *qt = quant_get_traits(type);
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const gguf_tensor *t = &g->tensors[i];
        if (types[i] == t->type) {
            CHECK_OK(gguf_writer_write(w, t->data, t->nbytes));
            continue;
        }
        size_t rs = quant_row_size(type, t->ne[0]);
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

static int top_label(const float *img, const run *r, int E)
{
    int best = 0;
    float bd = -1e30f;
    for (int b = 0; b < 16; b++) {
        float d = 0;
        for (int k = 0; k < E; k++)
            d += img[k] * r->txt[b][k];
        if (d > bd) {
            bd = d;
            best = b;
        }
    }
    return best;
}

/* The linear layers of f32 requantized to type: repacked weights give the in-place numbers (1e-6;
 * I8_PC: its tiles are exact, so bit for bit), and image / text embeddings have cosine >= 0.9995
 * with F32 and (nearly) the same zero-shot top label over the 16 reference texts. */
static void fidelity(const char *f32, const char *name, uint32_t type, const char *tn, const run *r32,
                     const json_value *ref, medge_pool *pool)
{
    char q8[1024];
    snprintf(q8, sizeof q8, "%s", test_tmp(name));
    requant(f32, q8, type);
    static run rq, rqp;
    encode_all(q8, ref, false, &rq, pool, false);
    encode_all(q8, ref, false, &rqp, pool, true);
    double mdq = 0;
    for (int i = 0; i < 4 * 1024; i++)
        mdq = fmax(mdq, fabs((double)rq.img[i / 1024][i % 1024] - rqp.img[i / 1024][i % 1024]));
    for (int i = 0; i < 16 * 1024; i++)
        mdq = fmax(mdq, fabs((double)rq.txt[i / 1024][i % 1024] - rqp.txt[i / 1024][i % 1024]));
    printf("%s repacked vs in place: max |diff| %.3g\n", tn, mdq);
    CHECK_MSG(mdq <= (type == MEDGE_TYPE_I8_PC ? 0 : 1e-6), "repacked weights change the %s embeddings by %g", tn, mdq);
    const int E = 128;
    double worst = 1;
    int agree = 0;
    for (int i = 0; i < 4; i++) {
        double c = cosine(r32->img[i], rq.img[i], E);
        worst = fmin(worst, c);
        CHECK_MSG(c >= 0.9995, "%s image %d: cosine %.6f", tn, i, c);
        /* Random weights make near-ties (the reference's top-2 logits differ by 3e-4..1e-2): where
         * the labels differ, the quantized choice must be within 0.005 logits of the F32 best. */
        int t32 = top_label(r32->img[i], r32, E), t8 = top_label(rq.img[i], &rq, E);
        float d32 = 0, d8 = 0;
        for (int k = 0; k < E; k++) {
            d32 += r32->img[i][k] * r32->txt[t32][k];
            d8 += r32->img[i][k] * r32->txt[t8][k];
        }
        const double scale = 19.2836971282959;
        agree += t32 == t8;
        CHECK_MSG(scale * (d32 - d8) <= 0.005, "%s image %d: top label %d, F32 %d (F32 margin %.5f logits)", tn, i, t8,
                  t32, scale * (d32 - d8));
    }
    for (int i = 0; i < 16; i++) {
        double c = cosine(r32->txt[i], rq.txt[i], E);
        worst = fmin(worst, c);
        CHECK_MSG(c >= 0.9995, "%s text %d: cosine %.6f", tn, i, c);
    }
    printf("%s: worst cosine with F32 %.6f, same top label on %d/4 images\n", tn, worst, agree);
    CHECK(agree >= 3);
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

    /* Q8_0 linear layers, then I8_PC (per-channel int8 weights, per-row int8 activations):
     * embeddings close to F32 and the same zero-shot top label. */
    fidelity(f32, "biomedclip-tiny-q8_0.gguf", GGML_TYPE_Q8_0, "Q8_0", &r32, ref, pool);
    fidelity(f32, "biomedclip-tiny-i8pc.gguf", MEDGE_TYPE_I8_PC, "I8_PC", &r32, ref, pool);

    test_bad_inputs(f32);
    medge_pool_free(pool);
    json_free(doc);
    TEST_END();
}
