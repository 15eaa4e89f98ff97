/* test-quant-vectors.c - every q.<TYPE>.<name> / qi.<TYPE>.<name> tensor of llama.cpp's
 * quant-vectors.gguf reproduced byte for byte from src.<name> (and the imatrix); dequantization
 * checked bit for bit against values decoded here independently from the block fields (spec §3,
 * element by element); reference dot products against dequantize-then-dot. */
#include "test.h"
#include "formats/gguf.h"
#include "quant/quant.h"

#include <stdint.h>

static const gguf_ctx *g;

/* ---- independent element decoder (spec §3 / §3.1) ---- */
static float h2f(const uint8_t *p) { return medge_fp16_to_fp32((uint16_t)(p[0] | p[1] << 8)); }
static int bit(const uint8_t *p, int i) { return (p[i / 8] >> (i % 8)) & 1; }
/* 4-bit code of element e of a 32-element nibble group at qs */
static int nib32(const uint8_t *qs, int e) { return e < 16 ? qs[e] & 15 : qs[e - 16] >> 4; }

static float decode(uint32_t type, const uint8_t *b, int e)
{
    switch (type) {
    case GGML_TYPE_Q4_0: return (float)(nib32(b + 2, e) - 8) * h2f(b);
    case GGML_TYPE_Q4_1: return (float)nib32(b + 4, e) * h2f(b) + h2f(b + 2);
    case GGML_TYPE_Q5_0: return (float)((nib32(b + 6, e) | bit(b + 2, e) << 4) - 16) * h2f(b);
    case GGML_TYPE_Q5_1: return (float)(nib32(b + 8, e) | bit(b + 4, e) << 4) * h2f(b) + h2f(b + 2);
    case GGML_TYPE_Q8_0: return (float)(int8_t)b[2 + e] * h2f(b);
    case GGML_TYPE_IQ4_NL: return h2f(b) * (float)quant_kvalues_iq4nl[nib32(b + 2, e)];
    case GGML_TYPE_Q2_K: {
        int j = e / 16, h = e / 128, k = (e % 128) / 32, l = e % 32;
        int q = (b[16 + 32 * h + l] >> 2 * k) & 3;
        float d = h2f(b + 80), dmin = h2f(b + 82);
        return (d * (float)(b[j] & 15)) * (float)q - dmin * (float)(b[j] >> 4);
    }
    case GGML_TYPE_Q3_K: {
        int j = e / 16, h = e / 128, k = (e % 128) / 32, l = e % 32;
        const uint8_t *sc = b + 96;
        int low = j < 8 ? sc[j] & 15 : sc[j - 8] >> 4, high = (sc[8 + j % 4] >> 2 * (j / 4)) & 3;
        int s = low | high << 4;
        int q = ((b[32 + 32 * h + l] >> 2 * k) & 3) - (bit(b, (e % 32) * 8 + e / 32) ? 0 : 4);
        return (h2f(b + 108) * (float)(s - 32)) * (float)q;
    }
    case GGML_TYPE_Q4_K:
    case GGML_TYPE_Q5_K: {
        const uint8_t *s = b + 4;
        int j = e / 32, sc, m;
        if (j < 4) {
            sc = s[j] & 63;
            m = s[j + 4] & 63;
        } else {
            sc = (s[j + 4] & 15) | (s[j - 4] >> 6) << 4;
            m = (s[j + 4] >> 4) | (s[j] >> 6) << 4;
        }
        int c = e / 64, l = e % 32, hi = (e % 64) >= 32;
        const uint8_t *qs = b + (type == GGML_TYPE_Q4_K ? 16 : 48);
        int q = hi ? qs[32 * c + l] >> 4 : qs[32 * c + l] & 15;
        if (type == GGML_TYPE_Q5_K)
            q |= ((b[16 + l] >> (2 * c + hi)) & 1) << 4;
        return (h2f(b) * (float)sc) * (float)q - h2f(b + 2) * (float)m;
    }
    case GGML_TYPE_Q6_K: {
        int h = e / 128, r = e % 128, quarter = r / 32, l = r % 32;
        const uint8_t *ql = b + 64 * h, *qh = b + 128 + 32 * h;
        int lo = quarter == 0 ? ql[l] & 15 : quarter == 1 ? ql[l + 32] & 15 : quarter == 2 ? ql[l] >> 4 : ql[l + 32] >> 4;
        int q = lo | ((qh[l] >> 2 * quarter) & 3) << 4;
        return (h2f(b + 208) * (float)(int8_t)b[192 + e / 16]) * (float)(q - 32);
    }
    case GGML_TYPE_IQ4_XS: {
        int sb = e / 32, el = e % 32;
        uint16_t sh = (uint16_t)(b[2] | b[3] << 8);
        int s = ((b[4 + sb / 2] >> 4 * (sb % 2)) & 15) | ((sh >> 2 * sb) & 3) << 4;
        return (h2f(b) * (float)(s - 32)) * (float)quant_kvalues_iq4nl[nib32(b + 8 + 16 * sb, el)];
    }
    case GGML_TYPE_F16: return h2f(b);
    case GGML_TYPE_BF16: return medge_bf16_to_fp32((uint16_t)(b[0] | b[1] << 8));
    }
    return NAN;
}

static const char *kTypes[] = {"F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K",
                               "Q6_K", "IQ4_NL", "IQ4_XS"};
static const char *kSrc[] = {"normal", "weights", "heavy", "uniform", "sparse", "skewed", "edge"};

static int n_compared, n_dequant;

static void check_one(const char *prefix, const char *tname, const char *sname, const float *imatrix)
{
    char name[128];
    snprintf(name, sizeof name, "%s.%s.%s", prefix, tname, sname);
    const gguf_tensor *ref = gguf_get_tensor(g, name);
    if (!ref)
        return; /* qi.* only exists for the types that use an imatrix */
    snprintf(name, sizeof name, "src.%s", sname);
    const gguf_tensor *src = gguf_get_tensor(g, name);
    CHECK(src && src->type == GGML_TYPE_F32);
    if (!src)
        return;
    const int64_t n = src->ne[0], nrows = src->ne[1];
    const int type = quant_type_from_name(tname);
    CHECK_EQ_INT(ref->type, type);
    uint8_t *out = malloc(ref->nbytes);
    memset(out, 0xAA, ref->nbytes);
    size_t nb = quant_quantize_rows((enum ggml_type)type, src->data, out, nrows, n, imatrix);
    CHECK_EQ_INT(nb, ref->nbytes);
    size_t first_diff = nb;
    for (size_t i = 0; i < nb; i++)
        if (out[i] != ((const uint8_t *)ref->data)[i]) {
            first_diff = i;
            break;
        }
    CHECK_MSG(first_diff == nb, "%s.%s.%s differs at byte %zu of %zu", prefix, tname, sname, first_diff, nb);
    n_compared++;

    /* dequantization of the reference bytes vs the independent decoder, bit for bit */
    const quant_traits *tr = quant_get_traits((uint32_t)type);
    float *deq = malloc((size_t)(n * nrows) * sizeof(float));
    tr->to_float(ref->data, deq, n * nrows);
    int64_t bad = 0;
    for (int64_t i = 0; i < n * nrows; i++) {
        const uint8_t *blk = (const uint8_t *)ref->data + (size_t)(i / tr->blck) * tr->type_size;
        float want = decode((uint32_t)type, blk, (int)(i % tr->blck));
        if (memcmp(&want, &deq[i], 4) != 0 && !(want != want && deq[i] != deq[i])) {
            if (!bad)
                fprintf(stderr, "%s: dequant[%lld] = %.9g, fields give %.9g\n", name, (long long)i, deq[i], want);
            bad++;
        }
    }
    CHECK_MSG(bad == 0, "%s.%s.%s: %lld dequantized values differ", prefix, tname, sname, (long long)bad);
    n_dequant++;

    /* reference vec_dot vs dequantize-then-dot on each row, against src (quantized to vec_dot_type) */
    if (strcmp(sname, "edge") != 0 && tr->vec_dot) {
        const quant_traits *vt = quant_get_traits(tr->vec_dot_type);
        quant_from_float_fn act = quant_act_quantizer(tr->vec_dot_type);
        uint8_t *qa = malloc(quant_row_size(tr->vec_dot_type, n));
        float *ya = malloc((size_t)n * sizeof(float));
        for (int64_t r = 0; r < nrows; r++) {
            const float *a = (const float *)src->data + ((r + 1) % nrows) * n;
            act(a, qa, n);
            vt->to_float(qa, ya, n);
            double ref_dot = 0, mag = 0;
            for (int64_t i = 0; i < n; i++) {
                ref_dot += (double)deq[r * n + i] * ya[i];
                mag += fabs((double)deq[r * n + i] * ya[i]);
            }
            if (tr->vec_dot_type == GGML_TYPE_Q8_1) {
                /* ggml's Q8_1 carries s = d * sum(q) rounded to fp16, and the dot uses m * s */
                const uint8_t *row = (const uint8_t *)ref->data + (size_t)r * quant_row_size((uint32_t)type, n);
                const block_q8_1 *yb = (const block_q8_1 *)qa;
                for (int64_t b = 0; b < n / 32; b++) {
                    float m = h2f(row + (size_t)b * tr->type_size + 2);
                    double sd = 0;
                    for (int i = 0; i < 32; i++)
                        sd += (double)ya[b * 32 + i];
                    ref_dot += (double)m * (medge_fp16_to_fp32(yb[b].s) - sd);
                }
            }
            float s = 0;
            tr->vec_dot((int)n, &s, (const uint8_t *)ref->data + (size_t)r * quant_row_size((uint32_t)type, n), qa);
            CHECK_MSG(fabs(s - ref_dot) <= 1e-5 * mag + 1e-6, "%s.%s.%s vec_dot row %lld: %.9g vs %.9g (mag %g)", prefix, tname, sname,
                      (long long)r, s, ref_dot, mag);
        }
        free(qa);
        free(ya);
    }
    free(deq);
    free(out);
}

/* activation quantizers: spot properties that tie them to ggml's definitions */
static void check_act(void)
{
    float x[256];
    for (int i = 0; i < 256; i++)
        x[i] = (float)((i * 37) % 101 - 50) * 0.013f;
    x[5] = 0.65f; /* the max |x| */
    block_q8_0 a[8];
    quant_act_q8_0(x, a, 256);
    CHECK_EQ_INT(a[0].qs[5], 127);
    block_q8_K k;
    quant_ref_q8_K(x, &k, 256);
    int s0 = 0;
    for (int i = 0; i < 16; i++)
        s0 += k.qs[i];
    CHECK_EQ_INT(k.bsums[0], s0);
    CHECK_NEAR(k.d * 127.f, 0.65f, 1e-6);
    /* round half to even in the AVX path: 0.5 * 127/amax exactly representable case */
    float h[32] = {0};
    h[0] = 127.f;
    h[1] = 0.5f;
    h[2] = 1.5f;
    h[3] = -2.5f;
    quant_act_q8_0(h, a, 32);
    CHECK_EQ_INT(a[0].qs[1], 0);
    CHECK_EQ_INT(a[0].qs[2], 2);
    CHECK_EQ_INT(a[0].qs[3], -2);
    quant_ref_q8_0(h, a, 32); /* reference: roundf, half away from zero */
    CHECK_EQ_INT(a[0].qs[1], 1);
    CHECK_EQ_INT(a[0].qs[3], -3);
}

/* the lane-parallel Q4_K / Q5_K / Q6_K / IQ4_XS searches give the bytes of the plain scalar forms on
 * random and adversarial blocks (both are independent codings of the same spec) */
static void check_lanes(void)
{
    const int nb = getenv("MEDGE_SANITIZED") ? 600 : 3000;
    float *x = malloc((size_t)nb * QK_K * sizeof(float));
    uint32_t s = 12345;
#define RND() (s = s * 1664525u + 1013904223u, (float)(s >> 8) / 16777216.0f)
    for (int b = 0; b < nb; b++) {
        float *xb = x + (size_t)b * QK_K;
        const int kind = b % 12;
        const float scale = powf(10.f, (float)((b / 12) % 9) - 5.f);
        for (int i = 0; i < QK_K; i++) {
            float u = RND() - 0.5f, v = RND() - 0.5f, r;
            switch (kind) {
            case 0: r = (u + v) * scale; break;                                 /* roughly normal */
            case 1: r = fabsf(u) * scale; break;                                /* all positive */
            case 2: r = -fabsf(u) * scale; break;                               /* all negative */
            case 3: r = (i / 32) % 2 ? 0.f : u * scale; break;                  /* zero sub-blocks */
            case 4: r = (i / 16) % 3 == 0 ? scale : u * scale; break;           /* constant sub-blocks */
            case 5: r = i % 37 == 0 ? 40.f * scale : u * 0.01f * scale; break;  /* spikes */
            case 6: r = (float)((int)(u * 16)) * 0.5f * scale; break;           /* grid: ties */
            case 7: r = (float)((int)(u * 64)) * scale; break;                  /* integers */
            case 8: r = u * 1e-30f; break;                                      /* tiny */
            case 9: r = u * 3e4f; break;                                        /* huge */
            case 10: r = medge_bf16_to_fp32(medge_fp32_to_bf16((u + v) * 0.02f)); break; /* bf16 weights */
            default: r = (i % 16 == 3) ? (u + v) * scale : 0.f; break;          /* sparse */
            }
            xb[i] = r;
        }
    }
#undef RND
    static const struct {
        enum ggml_type t;
        void (*scalar)(const float *, void *, int64_t);
    } kinds[] = {{GGML_TYPE_Q4_K, quant_ref_q4_K_scalar}, {GGML_TYPE_Q5_K, quant_ref_q5_K_scalar},
                 {GGML_TYPE_Q6_K, quant_ref_q6_K_scalar}, {GGML_TYPE_IQ4_XS, quant_ref_iq4_xs_scalar}};
    for (size_t k = 0; k < 4; k++) {
        const size_t sz = quant_row_size(kinds[k].t, (int64_t)nb * QK_K);
        uint8_t *a = malloc(sz), *b = malloc(sz);
        quant_get_traits(kinds[k].t)->from_float_ref(x, a, (int64_t)nb * QK_K);
        kinds[k].scalar(x, b, (int64_t)nb * QK_K);
        const size_t bs = quant_get_traits(kinds[k].t)->type_size;
        int bad = 0;
        for (int i = 0; i < nb; i++)
            if (memcmp(a + (size_t)i * bs, b + (size_t)i * bs, bs)) {
                if (!bad)
                    fprintf(stderr, "%s: block %d (kind %d) differs between lane and scalar forms\n",
                            quant_type_name(kinds[k].t), i, i % 12);
                bad++;
            }
        CHECK_MSG(bad == 0, "%s: %d of %d blocks differ", quant_type_name(kinds[k].t), bad, nb);
        free(a);
        free(b);
    }
    free(x);
}

/* the row converters agree with the scalar ones on every fp16 / bf16 value */
static void check_half_rows(void)
{
    uint16_t *h = malloc(65536 * 2);
    float *f = malloc(65536 * 4);
    for (int i = 0; i < 65536; i++)
        h[i] = (uint16_t)i;
    quant_dequant_f16(h, f, 65536);
    int bad = 0;
    for (int i = 0; i < 65536; i++) {
        float want = medge_fp16_to_fp32((uint16_t)i);
        if (want != want ? f[i] == f[i] : memcmp(&want, &f[i], 4) != 0)
            bad++;
    }
    CHECK_EQ_INT(bad, 0);
    quant_dequant_bf16(h, f, 65536);
    bad = 0;
    for (int i = 0; i < 65536; i++) {
        float want = medge_bf16_to_fp32((uint16_t)i);
        if (memcmp(&want, &f[i], 4) != 0)
            bad++;
    }
    CHECK_EQ_INT(bad, 0);
    free(h);
    free(f);
}

int main(void)
{
    check_half_rows();
    check_lanes();
    gguf_ctx *ctx = NULL;
    CHECK_OK(gguf_open(test_ref("quant/quant-vectors.gguf"), &ctx));
    if (!ctx)
        TEST_END();
    g = ctx;
    const gguf_tensor *im = gguf_get_tensor(g, "imatrix");
    CHECK(im && im->ne[0] == 1024);
    for (size_t t = 0; t < sizeof kTypes / sizeof *kTypes; t++)
        for (size_t s = 0; s < sizeof kSrc / sizeof *kSrc; s++) {
            check_one("q", kTypes[t], kSrc[s], NULL);
            if (im)
                check_one("qi", kTypes[t], kSrc[s], im->data);
        }
    CHECK_EQ_INT(n_compared, 168);
    CHECK_EQ_INT(n_dequant, 168);
    check_act();
    gguf_close(ctx);
    TEST_END();
}
