/* test-gemma3-session.c - sessions over the tiny Gemma 3 model: greedy determinism across
 * thread counts and batch sizes, context reuse, rewind across the sliding-window ring, external
 * embeddings (bidirectional block = the same as tokens when fed the same rows causally), the
 * context-full / bad-token / memory-limit errors, the KV cache size of MedGemma 4B at 8192
 * positions, and crafted bad GGUFs (other arch, missing / mis-shaped / extra tensors, truncated). */
#include "test.h"
#include "formats/gguf.h"
#include "medge.h"
#include "models/gemma3.h"
#include "runtime/session.h"
#include "quant/types.h"

#include <stdint.h>

#define F16_REL "gemma3-tiny/gguf/tiny-gemma3-f16.gguf"

static int load_ids(const char *path, int32_t *ids, int cap)
{
    FILE *f = fopen(path, "r");
    int n = 0, x;
    if (!f)
        return 0;
    while (n < cap && fscanf(f, "%d", &x) == 1)
        ids[n++] = x;
    fclose(f);
    return n;
}

static medge_session *new_session(const medge_model *m, int n_ctx, int threads, int batch)
{
    medge_session_params sp = medge_session_default_params();
    sp.n_ctx = n_ctx;
    sp.n_threads = threads;
    sp.n_batch = batch;
    medge_session *s = NULL;
    CHECK_OK(medge_session_new(m, sp, &s));
    return s;
}

/* Greedy continuation of the prompt: n_gen tokens into out. */
static void greedy(const medge_model *m, const int32_t *prompt, int n, int threads, int batch, int32_t *out, int n_gen)
{
    medge_session *s = new_session(m, 128, threads, batch);
    if (!s)
        return;
    CHECK_OK(medge_session_eval(s, prompt, n));
    for (int i = 0; i < n_gen; i++) {
        CHECK_OK(medge_session_sample(s, &out[i]));
        CHECK_OK(medge_session_eval(s, &out[i], 1));
    }
    medge_session_free(s);
}

static double max_diff(const float *a, const float *b, int n)
{
    double d = 0;
    for (int i = 0; i < n; i++)
        d = fmax(d, fabs((double)a[i] - b[i]));
    return d;
}

static void test_generation(const medge_model *m, const int32_t *ids, int n)
{
    enum { NG_MAX = 24 };
    const int NG = getenv("MEDGE_SANITIZED") ? 6 : NG_MAX;
    int32_t g1[NG_MAX], g2[NG_MAX], g3[NG_MAX];
    greedy(m, ids, n, 1, 512, g1, NG);
    greedy(m, ids, n, 2, 1, g2, NG);
    greedy(m, ids, n, 2, 5, g3, NG);
    CHECK(memcmp(g1, g2, (size_t)NG * sizeof *g1) == 0);
    CHECK(memcmp(g1, g3, (size_t)NG * sizeof *g1) == 0);
    /* the greedy choice is the arg-max of the logits */
    medge_session *s = new_session(m, 128, 1, 512);
    CHECK_OK(medge_session_eval(s, ids, n));
    const float *l = medge_session_logits(s);
    int best = 0;
    for (int i = 1; i < medge_model_n_vocab(m); i++)
        if (l[i] > l[best])
            best = i;
    CHECK_EQ_INT(best, g1[0]);

    /* sampling: same seed -> same tokens; temperature sampling stays in the top-k */
    medge_sampler_params sp = medge_sampler_default_params();
    sp.seed = 1234;
    sp.temperature = 1.0f;
    sp.top_k = 5;
    sp.min_p = 0.0f;
    sp.top_p = 1.0f;
    int32_t a[16], b[16];
    for (int rep = 0; rep < 2; rep++) {
        CHECK_OK(medge_session_set_sampler(s, sp));
        for (int i = 0; i < 16; i++)
            CHECK_OK(medge_session_sample(s, rep ? &b[i] : &a[i]));
    }
    CHECK(memcmp(a, b, sizeof a) == 0);
    int distinct = 0;
    for (int i = 0; i < 16; i++) {
        int rank = 0;
        for (int v = 0; v < medge_model_n_vocab(m); v++)
            rank += l[v] > l[a[i]];
        CHECK(rank < 5);
        distinct += a[i] != a[0];
    }
    CHECK(distinct > 0); /* 16 draws at temperature 1 from 5 near-flat candidates */
    /* repetition penalty: a huge penalty on the greedy token makes greedy pick another one */
    sp = medge_sampler_default_params();
    sp.temperature = 0.0f;
    sp.repeat_penalty = 1.0f;
    sp.presence_penalty = 1000.0f;
    sp.repeat_last_n = n;
    CHECK_OK(medge_session_set_sampler(s, sp));
    int32_t t;
    CHECK_OK(medge_session_sample(s, &t));
    int in_hist = 0;
    for (int i = 0; i < n; i++)
        in_hist |= ids[i] == t;
    CHECK(!in_hist);
    sp.top_p = 0.0f;
    CHECK(medge_session_set_sampler(s, sp) == MEDGE_ERR_INVALID_ARG);
    medge_session_free(s);
}

static void test_reuse(const medge_model *m, const int32_t *ids, int n)
{
    int nv = medge_model_n_vocab(m);
    float *ref = malloc((size_t)nv * sizeof(float));
    medge_session *s = new_session(m, 128, 1, 512);
    CHECK_OK(medge_session_eval(s, ids, n));
    memcpy(ref, medge_session_logits(s), (size_t)nv * sizeof(float));
    medge_session_free(s);

    /* a chat turn: the first part, then the whole sequence; only the new part is evaluated */
    s = new_session(m, 128, 1, 512);
    int reused = -1;
    CHECK_OK(medge_session_eval_prefix(s, ids, 12, &reused));
    CHECK_EQ_INT(reused, 0);
    CHECK_OK(medge_session_eval_prefix(s, ids, n, &reused));
    CHECK_EQ_INT(reused, 12);
    CHECK_EQ_INT(medge_session_n_past(s), n);
    CHECK(max_diff(ref, medge_session_logits(s), nv) < 1e-3);
    /* divergent continuations after the ring wrapped (n > window + slack): a rollback of up to
     * GEMMA3_SWA_SLACK + 1 positions keeps the rest of the context, a longer one rebuilds it; both
     * give the logits of a fresh session fed the same batches, bit for bit */
    static const int back[] = {3, GEMMA3_SWA_SLACK + 1, GEMMA3_SWA_SLACK + 2};
    for (int bi = 0; bi < 3; bi++) {
        int32_t alt[128];
        memcpy(alt, ids, (size_t)n * sizeof *alt);
        alt[n - back[bi]] = 300;
        CHECK_OK(medge_session_eval_prefix(s, ids, n, &reused));
        CHECK_EQ_INT(medge_session_n_past(s), n);
        CHECK_OK(medge_session_eval_prefix(s, alt, n, &reused));
        CHECK_MSG(reused == (back[bi] <= GEMMA3_SWA_SLACK + 1 ? n - back[bi] : 0), "rollback by %d: %d reused",
                  back[bi], reused);
        medge_session *s2 = new_session(m, 128, 1, 512);
        CHECK_OK(medge_session_eval(s2, alt, reused > 0 ? reused : n));
        if (reused > 0)
            CHECK_OK(medge_session_eval(s2, alt + reused, n - reused));
        CHECK_MSG(memcmp(medge_session_logits(s2), medge_session_logits(s), (size_t)nv * sizeof(float)) == 0,
                  "rollback by %d: max |diff| %g", back[bi], max_diff(medge_session_logits(s2), medge_session_logits(s), nv));
        medge_session_free(s2);
    }
    /* rewind before the ring wrapped: positions are kept */
    CHECK_OK(medge_session_rewind(s, 0));
    CHECK_EQ_INT(medge_session_n_past(s), 0);
    CHECK_OK(medge_session_eval(s, ids, 10));
    CHECK_OK(medge_session_rewind(s, 6));
    CHECK_EQ_INT(medge_session_n_past(s), 6);
    CHECK(medge_session_logits(s) == NULL);
    CHECK_OK(medge_session_eval(s, ids + 6, n - 6));
    CHECK(max_diff(ref, medge_session_logits(s), nv) < 1e-3);
    medge_session_free(s);
    free(ref);
}

static void test_embd(const medge_model *m, const int32_t *ids, int n)
{
    /* Feeding the scaled token embeddings as external rows (causal) must equal the tokens. */
    int nv = medge_model_n_vocab(m), ne = medge_model_n_embd(m);
    const gemma3_model *g = m->g;
    float *e = malloc((size_t)n * (size_t)ne * sizeof(float));
    for (int t = 0; t < n; t++) {
        CHECK_OK(ops_get_row(&g->tok_embd, ids[t], e + (size_t)t * (size_t)ne));
        for (int i = 0; i < ne; i++)
            e[(size_t)t * (size_t)ne + (size_t)i] *= g->hp.embd_scale;
    }
    medge_session *a = new_session(m, 128, 1, 512), *b = new_session(m, 128, 1, 512);
    CHECK_OK(medge_session_eval(a, ids, n));
    CHECK_OK(medge_session_eval(b, ids, 4));
    CHECK_OK(medge_session_eval_embd(b, e + 4 * (size_t)ne, n - 4, 0));
    CHECK(max_diff(medge_session_logits(a), medge_session_logits(b), nv) < 1e-3);
    /* Bidirectional: the last row now sees the same keys, but earlier rows see later ones, so
     * a token evaluated after the block differs from the causal case, and the block's logits
     * differ from the causal ones for the first row. */
    medge_session *c = new_session(m, 128, 1, 512);
    CHECK_OK(medge_session_eval(c, ids, 4));
    CHECK_OK(medge_session_eval_embd(c, e + 4 * (size_t)ne, 6, 1));
    CHECK_OK(medge_session_eval(c, ids + 10, 1));
    medge_session *d = new_session(m, 128, 1, 512);
    CHECK_OK(medge_session_eval(d, ids, 11));
    CHECK(max_diff(medge_session_logits(c), medge_session_logits(d), nv) > 1e-3);
    CHECK_EQ_INT(medge_session_n_past(c), 11);
    medge_session_free(a);
    medge_session_free(b);
    medge_session_free(c);
    medge_session_free(d);
    free(e);
}

static void test_errors(const medge_model *m, const int32_t *ids, int n)
{
    medge_session *s = new_session(m, 16, 1, 512);
    CHECK(medge_session_eval(s, ids, 20) == MEDGE_ERR_CONTEXT_FULL);
    CHECK(strstr(medge_errmsg(s), "context") != NULL);
    CHECK_EQ_INT(medge_session_n_past(s), 0);
    int32_t bad[3] = {2, medge_model_n_vocab(m), 5};
    CHECK(medge_session_eval(s, bad, 3) == MEDGE_ERR_RANGE);
    bad[1] = -1;
    CHECK(medge_session_eval(s, bad, 3) == MEDGE_ERR_RANGE);
    CHECK_EQ_INT(medge_session_n_past(s), 0);
    CHECK_OK(medge_session_eval(s, ids, 16));
    CHECK(medge_session_eval(s, ids, 1) == MEDGE_ERR_CONTEXT_FULL);
    int32_t t;
    CHECK_OK(medge_session_sample(s, &t));
    medge_session_free(s);
    (void)n;
    /* memory refusal */
    medge_session_params sp = medge_session_default_params();
    sp.max_memory = 1 << 20;
    s = NULL;
    CHECK(medge_session_new(m, sp, &s) == MEDGE_ERR_NOMEM && s == NULL);
    CHECK(strstr(medge_errmsg(NULL), "MiB") != NULL);
    CHECK(medge_session_memory(m, medge_session_default_params()) > 0);
}

static int abort_after(void *user)
{
    int *k = user;
    return --*k < 0;
}

static void test_abort(const medge_model *m, const int32_t *ids, int n)
{
    int budget = 3;
    medge_session_params sp = medge_session_default_params();
    sp.n_ctx = 128;
    sp.n_threads = 1;
    sp.abort_fn = abort_after;
    sp.abort_user = &budget;
    medge_session *s = NULL;
    CHECK_OK(medge_session_new(m, sp, &s));
    CHECK(medge_session_eval(s, ids, n) == MEDGE_ERR_ABORTED);
    CHECK_EQ_INT(medge_session_n_past(s), 0);
    budget = 1 << 30;
    CHECK_OK(medge_session_eval(s, ids, n));
    medge_session *r = new_session(m, 128, 1, 512);
    CHECK_OK(medge_session_eval(r, ids, n));
    CHECK(max_diff(medge_session_logits(r), medge_session_logits(s), medge_model_n_vocab(m)) < 1e-4);
    medge_session_free(r);
    medge_session_free(s);
}

static void test_kv_size(void)
{
    gemma3_hparams hp = {0};
    hp.n_embd = 2560;
    hp.n_layer = 34;
    hp.n_head = 8;
    hp.n_kv_head = 4;
    hp.head_dim = 256;
    hp.n_ff = 10240;
    hp.window = 1024;
    hp.swa_pattern = 6;
    uint64_t kv = gemma3_kv_bytes(&hp, 8192, GGML_TYPE_F16);
    uint64_t full = 34ull * 8192 * 4 * 256 * 2 * 2;
    printf("MedGemma 4B KV cache at 8192: %.1f MiB = %.1f%% of a full cache (%.1f MiB)\n", kv / 1048576.0,
           100.0 * kv / full, full / 1048576.0);
    CHECK_EQ_INT(kv, (29ull * (1024 + GEMMA3_SWA_SLACK) + 5ull * 8192) * 4 * 256 * 2 * 2);
    CHECK(kv * 100 <= full * 26);
    int global = 0;
    for (int il = 0; il < 34; il++)
        global += !gemma3_layer_is_swa(&hp, il);
    CHECK_EQ_INT(global, 5);
    CHECK(!gemma3_layer_is_swa(&hp, 5) && !gemma3_layer_is_swa(&hp, 29) && gemma3_layer_is_swa(&hp, 33));
    /* Q8_0 cache: 34 bytes per 32 values */
    CHECK_EQ_INT(gemma3_kv_bytes(&hp, 8192, GGML_TYPE_Q8_0),
                 (29ull * (1024 + GEMMA3_SWA_SLACK) + 5ull * 8192) * 4 * 8 * 34 * 2);
    /* a context shorter than the window */
    CHECK_EQ_INT(gemma3_kv_bytes(&hp, 512, GGML_TYPE_F16), 34ull * 512 * 4 * 256 * 2 * 2);
}

/* ---- crafted bad files: a copy of the F16 model with one change ---- */
enum edit { ED_ARCH, ED_DROP, ED_SHAPE, ED_EXTRA, ED_TYPE, ED_NOKEY };

static int write_edited(const char *src, const char *dst, enum edit ed)
{
    gguf_ctx *g;
    if (gguf_open(src, &g) != MEDGE_OK)
        return 0;
    gguf_writer *w;
    int ok = gguf_writer_open(dst, &w) == MEDGE_OK && gguf_writer_copy_kv(w, g) == MEDGE_OK;
    if (ok && ed == ED_ARCH)
        ok = gguf_writer_set_str(w, "general.architecture", "llama") == MEDGE_OK;
    if (ok && ed == ED_NOKEY)
        gguf_writer_remove(w, "gemma3.embedding_length");
    const char *victim = "blk.3.ffn_up.weight";
    for (uint64_t i = 0; ok && i < g->n_tensors; i++) {
        const gguf_tensor *t = &g->tensors[i];
        if (ed == ED_DROP && !strcmp(t->name.s, victim))
            continue;
        int64_t ne[4] = {t->ne[0], t->ne[1], t->ne[2], t->ne[3]};
        uint32_t ty = t->type;
        if (ed == ED_SHAPE && !strcmp(t->name.s, victim))
            ne[1] /= 2;
        if (ed == ED_TYPE && !strcmp(t->name.s, "blk.0.attn_norm.weight"))
            ty = GGML_TYPE_I32;
        ok = gguf_writer_add_tensor(w, t->name.s, ty, t->n_dims, ne) == MEDGE_OK;
    }
    int64_t ne_extra[1] = {8};
    if (ok && ed == ED_EXTRA)
        ok = gguf_writer_add_tensor(w, "blk.99.mystery.weight", GGML_TYPE_F32, 1, ne_extra) == MEDGE_OK;
    ok = ok && gguf_writer_begin_data(w) == MEDGE_OK;
    for (uint64_t i = 0; ok && i < g->n_tensors; i++) {
        const gguf_tensor *t = &g->tensors[i];
        if (ed == ED_DROP && !strcmp(t->name.s, victim))
            continue;
        size_t nb = (size_t)t->nbytes;
        if (ed == ED_SHAPE && !strcmp(t->name.s, victim))
            nb /= 2;
        ok = gguf_writer_write(w, t->data, nb) == MEDGE_OK;
    }
    float zeros[8] = {0};
    if (ok && ed == ED_EXTRA)
        ok = gguf_writer_write(w, zeros, sizeof zeros) == MEDGE_OK;
    ok = ok && gguf_writer_finish(w) == MEDGE_OK;
    if (!ok)
        fprintf(stderr, "write_edited: %s\n", medge_errmsg(NULL));
    gguf_writer_free(w);
    gguf_close(g);
    return ok;
}

static void expect_load_error(const char *path, medge_status want, const char *needle)
{
    medge_model *m = NULL;
    medge_status rc = medge_model_load(path, medge_model_default_params(), &m);
    const char *msg = medge_errmsg(NULL);
    printf("  %s -> %s: %s\n", path, medge_status_str(rc), msg);
    CHECK_MSG(rc == want, "got %s, want %s", medge_status_str(rc), medge_status_str(want));
    CHECK_MSG(strstr(msg, needle) != NULL, "message '%s' lacks '%s'", msg, needle);
    CHECK(m == NULL);
    medge_model_free(m);
}

static void test_bad_files(void)
{
    const char *src = test_ref(F16_REL);
    static const struct { enum edit ed; medge_status rc; const char *needle; } cases[] = {
        {ED_ARCH, MEDGE_ERR_UNSUPPORTED, "llama"},
        {ED_DROP, MEDGE_ERR_NOT_FOUND, "blk.3.ffn_up.weight"},
        {ED_SHAPE, MEDGE_ERR_FORMAT, "blk.3.ffn_up.weight"},
        {ED_EXTRA, MEDGE_ERR_FORMAT, "blk.99.mystery.weight"},
        {ED_TYPE, MEDGE_ERR_UNSUPPORTED, "blk.0.attn_norm.weight"},
        {ED_NOKEY, MEDGE_ERR_FORMAT, "gemma3.embedding_length"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "gemma3-bad-%zu.gguf", i);
        const char *dst = test_tmp(name);
        CHECK(write_edited(src, dst, cases[i].ed));
        expect_load_error(dst, cases[i].rc, cases[i].needle);
        remove(dst);
    }
    /* truncated copies and a flipped byte in the header: an error, never a crash */
    FILE *f = fopen(src, "rb");
    CHECK(f != NULL);
    if (!f)
        return;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)size);
    CHECK(buf && fread(buf, 1, (size_t)size, f) == (size_t)size);
    fclose(f);
    long cuts[] = {0, 3, 24, 4096, size / 2, size - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        medge_model *m = NULL;
        medge_status rc = medge_model_load_memory(buf, (size_t)cuts[i], medge_model_default_params(), &m);
        CHECK_MSG(rc != MEDGE_OK && m == NULL, "truncated to %ld bytes loaded", cuts[i]);
        medge_model_free(m);
    }
    /* the same bytes whole load from memory and through callbacks */
    medge_model *m = NULL;
    CHECK_OK(medge_model_load_memory(buf, (size_t)size, medge_model_default_params(), &m));
    medge_model_free(m);
    buf[4] = 99; /* version */
    CHECK(medge_model_load_memory(buf, (size_t)size, medge_model_default_params(), &m) != MEDGE_OK);
    free(buf);
    CHECK(medge_model_load(test_ref("gemma3-tiny/gguf/mmproj-tiny-gemma3-f32.gguf"), medge_model_default_params(),
                           &m) == MEDGE_ERR_UNSUPPORTED);
    CHECK(strstr(medge_errmsg(NULL), "clip") != NULL);
}

static size_t io_read(void *user, uint64_t off, void *dst, size_t n)
{
    FILE *f = user;
    if (fseek(f, (long)off, SEEK_SET) != 0)
        return 0;
    return fread(dst, 1, n, f);
}

static void test_io_and_nommap(const int32_t *ids, int n)
{
    medge_model *a = NULL, *b = NULL, *c = NULL;
    CHECK_OK(medge_model_load(test_ref(F16_REL), medge_model_default_params(), &a));
    medge_model_params mp = medge_model_default_params();
    mp.use_mmap = 0;
    CHECK_OK(medge_model_load(test_ref(F16_REL), mp, &b));
    FILE *f = fopen(test_ref(F16_REL), "rb");
    CHECK(f != NULL);
    if (!f)
        return;
    medge_io io = {f, 0, io_read};
    fseek(f, 0, SEEK_END);
    io.size = (uint64_t)ftell(f);
    CHECK_OK(medge_model_load_io(&io, mp, &c));
    fclose(f);
    if (a && b && c) {
        medge_session *sa = new_session(a, 64, 1, 512), *sb = new_session(b, 64, 1, 512), *sc = new_session(c, 64, 1, 512);
        CHECK_OK(medge_session_eval(sa, ids, n));
        CHECK_OK(medge_session_eval(sb, ids, n));
        CHECK_OK(medge_session_eval(sc, ids, n));
        int nv = medge_model_n_vocab(a);
        CHECK(memcmp(medge_session_logits(sa), medge_session_logits(sb), (size_t)nv * 4) == 0);
        CHECK(memcmp(medge_session_logits(sa), medge_session_logits(sc), (size_t)nv * 4) == 0);
        CHECK(medge_model_is_eog(a, 1) && medge_model_is_eog(a, 106) && !medge_model_is_eog(a, 2));
        CHECK_EQ_INT(medge_model_bos(a), 2);
        medge_session_free(sa);
        medge_session_free(sb);
        medge_session_free(sc);
    }
    medge_model_free(a);
    medge_model_free(b);
    medge_model_free(c);
}

int main(void)
{
    int32_t ids[512];
    int n = load_ids(test_ref("gemma3-tiny/logits/seq-long.txt"), ids, 512);
    CHECK(n == 80);
    medge_model *m = NULL;
    CHECK_OK(medge_model_load(test_ref(F16_REL), medge_model_default_params(), &m));
    if (m && n == 80) {
        test_generation(m, ids, 41);
        test_reuse(m, ids, n);
        test_embd(m, ids, 30);
        test_errors(m, ids, n);
        test_abort(m, ids, 40);
    }
    medge_model_free(m);
    test_kv_size();
    test_bad_files();
    test_io_and_nommap(ids, 20);
    TEST_END();
}
