/* synth.c - see synth.h. A preset expands into a list of tensors (HF name and shape, GGUF name,
 * value kind); the same list drives the HF writer (BF16 safetensors shards + index + config +
 * tokenizer files) and the GGUF writers (text model and mmproj). Tensor data is produced in
 * chunks of rows by the thread pool (generate, convert or quantize per row) and streamed out. */
#include "convert/synth.h"
#include "convert/biomedclip.h"
#include "core/file.h"
#include "core/threadpool.h"
#include "formats/gguf.h"
#include "quant/model-quant.h"
#include "quant/types.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------------------------------ */
/* presets */

typedef struct gemma_hp {
    const char *name, *size_label, *mm_size_label;
    int n_embd, n_ff, n_layer, n_head, n_head_kv, head_dim, qpas, sliding_window;
    int n_pieces, n_vocab; /* SentencePiece pieces, embedding rows */
    int boi, eoi, image_token;
    int v_image, v_patch, v_embd, v_ff, v_layer, v_head, mm_tokens;
    uint64_t shard_bytes;  /* HF max shard size */
    int sparse_config;     /* write config.json as Google does (defaults omitted) */
} gemma_hp;

static const gemma_hp HP_4B = {
    "MedGemma 4B synthetic", "3.9B", "420M", 2560, 10240, 34, 8, 4, 256, 256, 1024, 262144, 262208,
    255999, 256000, 262144, 896, 14, 1152, 4304, 27, 16, 256, 5000000000ull, 1};
static const gemma_hp HP_TINY = {
    "Tiny Gemma3 synthetic", "8.9M", "1.3M", 256, 768, 8, 4, 2, 128, 128, 16, 4096, 4160,
    4094, 4095, 4096, 224, 14, 256, 512, 2, 4, 16, 10485760ull, 0};

enum kind { K_WEIGHT, K_RMS, K_LN_W, K_BIAS };

typedef struct st {
    char hf[112];   /* HF name: the seed of the values */
    char gg[72];    /* GGUF name */
    int n_dims;
    int64_t ne[4];  /* ggml order (HF shape reversed) */
    int kind;
    int file;       /* 0: text GGUF, 1: mmproj GGUF */
    int layer;      /* -1 for non-block tensors */
    int force;      /* GGUF type forced regardless of --type (-1: none) */
    uint32_t type;  /* GGUF type chosen */
    int shard;      /* HF shard holding it */
    uint64_t seed;
    int exact;      /* values kept in float32 (open_clip checkpoints are fp32), not rounded to bf16 */
} st;

typedef struct tlist {
    st *t;
    int n, cap;
} tlist;

static medge_status tl_add(tlist *l, const char *hf, const char *gg, int kind, int file, int layer, int force, int n_dims,
                           int64_t ne0, int64_t ne1, int64_t ne2, int64_t ne3)
{
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 256;
        st *t = realloc(l->t, (size_t)cap * sizeof *t);
        if (!t)
            return medge_err(MEDGE_ERR_NOMEM, "out of memory");
        l->t = t;
        l->cap = cap;
    }
    st *t = &l->t[l->n++];
    memset(t, 0, sizeof *t);
    snprintf(t->hf, sizeof t->hf, "%s", hf);
    snprintf(t->gg, sizeof t->gg, "%s", gg);
    t->kind = kind;
    t->file = file;
    t->layer = layer;
    t->force = force;
    t->n_dims = n_dims;
    t->ne[0] = ne0;
    t->ne[1] = ne1;
    t->ne[2] = ne2;
    t->ne[3] = ne3;
    return MEDGE_OK;
}

/* Gemma 3 tensors in the module order of Gemma3ForConditionalGeneration (the HF file order). */
static medge_status gemma_tensors(const gemma_hp *h, tlist *l)
{
    char hf[112], gg[72];
    const int64_t E = h->n_embd, F = h->n_ff, Dq = (int64_t)h->n_head * h->head_dim,
                  Dk = (int64_t)h->n_head_kv * h->head_dim, HD = h->head_dim;
#define LM "language_model.model."
    MEDGE_TRY(tl_add(l, LM "embed_tokens.weight", "token_embd.weight", K_WEIGHT, 0, -1, -1, 2, E, h->n_vocab, 1, 1));
    for (int i = 0; i < h->n_layer; i++) {
        static const struct {
            const char *hf, *gg;
            int kind, rows, cols; /* 0 E, 1 F, 2 Dq, 3 Dk, 4 HD, -1 none */
        } L[] = {
            {"self_attn.q_proj.weight", "attn_q.weight", K_WEIGHT, 2, 0},
            {"self_attn.k_proj.weight", "attn_k.weight", K_WEIGHT, 3, 0},
            {"self_attn.v_proj.weight", "attn_v.weight", K_WEIGHT, 3, 0},
            {"self_attn.o_proj.weight", "attn_output.weight", K_WEIGHT, 0, 2},
            {"self_attn.q_norm.weight", "attn_q_norm.weight", K_RMS, 4, -1},
            {"self_attn.k_norm.weight", "attn_k_norm.weight", K_RMS, 4, -1},
            {"input_layernorm.weight", "attn_norm.weight", K_RMS, 0, -1},
            {"post_attention_layernorm.weight", "post_attention_norm.weight", K_RMS, 0, -1},
            {"pre_feedforward_layernorm.weight", "ffn_norm.weight", K_RMS, 0, -1},
            {"post_feedforward_layernorm.weight", "post_ffw_norm.weight", K_RMS, 0, -1},
            {"mlp.gate_proj.weight", "ffn_gate.weight", K_WEIGHT, 1, 0},
            {"mlp.up_proj.weight", "ffn_up.weight", K_WEIGHT, 1, 0},
            {"mlp.down_proj.weight", "ffn_down.weight", K_WEIGHT, 0, 1},
        };
        const int64_t dim[5] = {E, F, Dq, Dk, HD};
        for (size_t k = 0; k < sizeof L / sizeof L[0]; k++) {
            snprintf(hf, sizeof hf, LM "layers.%d.%s", i, L[k].hf);
            snprintf(gg, sizeof gg, "blk.%d.%s", i, L[k].gg);
            if (L[k].cols < 0)
                MEDGE_TRY(tl_add(l, hf, gg, L[k].kind, 0, i, GGML_TYPE_F32, 1, dim[L[k].rows], 1, 1, 1));
            else
                MEDGE_TRY(tl_add(l, hf, gg, L[k].kind, 0, i, -1, 2, dim[L[k].cols], dim[L[k].rows], 1, 1));
        }
    }
    MEDGE_TRY(tl_add(l, LM "norm.weight", "output_norm.weight", K_RMS, 0, -1, GGML_TYPE_F32, 1, E, 1, 1, 1));
#undef LM
    /* vision tower + projector: F16 matrices, F32 everything else (llama.cpp's mmproj types) */
    const int64_t V = h->v_embd, VF = h->v_ff, P = h->v_patch, NP = (int64_t)(h->v_image / h->v_patch) * (h->v_image / h->v_patch);
#define VM "vision_tower.vision_model."
    MEDGE_TRY(tl_add(l, VM "embeddings.patch_embedding.weight", "v.patch_embd.weight", K_WEIGHT, 1, -1, GGML_TYPE_F32, 4, P, P, 3, V));
    MEDGE_TRY(tl_add(l, VM "embeddings.patch_embedding.bias", "v.patch_embd.bias", K_BIAS, 1, -1, GGML_TYPE_F32, 1, V, 1, 1, 1));
    MEDGE_TRY(tl_add(l, VM "embeddings.position_embedding.weight", "v.position_embd.weight", K_WEIGHT, 1, -1, GGML_TYPE_F32, 2, V, NP, 1, 1));
    for (int j = 0; j < h->v_layer; j++) {
        static const struct {
            const char *hf, *gg;
            int kind, rows, cols; /* 0 V, 1 VF; cols -1: vector */
        } L[] = {
            {"self_attn.q_proj.weight", "attn_q.weight", K_WEIGHT, 0, 0}, {"self_attn.q_proj.bias", "attn_q.bias", K_BIAS, 0, -1},
            {"self_attn.k_proj.weight", "attn_k.weight", K_WEIGHT, 0, 0}, {"self_attn.k_proj.bias", "attn_k.bias", K_BIAS, 0, -1},
            {"self_attn.v_proj.weight", "attn_v.weight", K_WEIGHT, 0, 0}, {"self_attn.v_proj.bias", "attn_v.bias", K_BIAS, 0, -1},
            {"self_attn.out_proj.weight", "attn_out.weight", K_WEIGHT, 0, 0}, {"self_attn.out_proj.bias", "attn_out.bias", K_BIAS, 0, -1},
            {"layer_norm1.weight", "ln1.weight", K_LN_W, 0, -1}, {"layer_norm1.bias", "ln1.bias", K_BIAS, 0, -1},
            {"layer_norm2.weight", "ln2.weight", K_LN_W, 0, -1}, {"layer_norm2.bias", "ln2.bias", K_BIAS, 0, -1},
            {"mlp.fc1.weight", "ffn_up.weight", K_WEIGHT, 1, 0}, {"mlp.fc1.bias", "ffn_up.bias", K_BIAS, 1, -1},
            {"mlp.fc2.weight", "ffn_down.weight", K_WEIGHT, 0, 1}, {"mlp.fc2.bias", "ffn_down.bias", K_BIAS, 0, -1},
        };
        const int64_t dim[2] = {V, VF};
        for (size_t k = 0; k < sizeof L / sizeof L[0]; k++) {
            snprintf(hf, sizeof hf, VM "encoder.layers.%d.%s", j, L[k].hf);
            snprintf(gg, sizeof gg, "v.blk.%d.%s", j, L[k].gg);
            if (L[k].cols < 0)
                MEDGE_TRY(tl_add(l, hf, gg, L[k].kind, 1, j, GGML_TYPE_F32, 1, dim[L[k].rows], 1, 1, 1));
            else
                MEDGE_TRY(tl_add(l, hf, gg, L[k].kind, 1, j, -1, 2, dim[L[k].cols], dim[L[k].rows], 1, 1));
        }
    }
    MEDGE_TRY(tl_add(l, VM "post_layernorm.weight", "v.post_ln.weight", K_LN_W, 1, -1, GGML_TYPE_F32, 1, V, 1, 1, 1));
    MEDGE_TRY(tl_add(l, VM "post_layernorm.bias", "v.post_ln.bias", K_BIAS, 1, -1, GGML_TYPE_F32, 1, V, 1, 1, 1));
#undef VM
    MEDGE_TRY(tl_add(l, "multi_modal_projector.mm_input_projection_weight", "mm.input_projection.weight", K_WEIGHT, 1, -1,
                     GGML_TYPE_F16, 2, E, V, 1, 1));
    MEDGE_TRY(tl_add(l, "multi_modal_projector.mm_soft_emb_norm.weight", "mm.soft_emb_norm.weight", K_RMS, 1, -1, GGML_TYPE_F32,
                     1, V, 1, 1, 1));
    return MEDGE_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* values */

static uint64_t mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t hash_name(uint64_t seed, const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull ^ mix64(seed);
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
    return mix64(h);
}

static float bf16_round(float x) { return medge_bf16_to_fp32(medge_fp32_to_bf16(x)); }

/* Elements [e0, e0+n) of a tensor: the values of its HF (bf16) checkpoint; gguf adds the +1 that
 * the converter applies to Gemma RMSNorm weights. */
static void gen_values(const st *t, uint64_t e0, int64_t n, int gguf, float *out)
{
    float std = 0.02f, mean = 0.0f;
    if (t->kind == K_RMS || t->kind == K_LN_W)
        std = 0.05f;
    if (t->kind == K_LN_W)
        mean = 1.0f;
    const float two_pi = 6.28318530717958647692f;
    for (int64_t i = 0; i < n;) {
        uint64_t e = e0 + (uint64_t)i, k = e >> 1;
        uint64_t x = mix64(t->seed ^ (k * 0xd1b54a32d192ed03ull));
        float u1 = ((float)(x >> 40) + 0.5f) * (1.0f / 16777216.0f);
        float u2 = (float)(x & 0xffffff) * (1.0f / 16777216.0f);
        float r = sqrtf(-2.0f * logf(u1)), s, c;
        s = sinf(two_pi * u2);
        c = cosf(two_pi * u2);
        float z[2] = {r * c, r * s};
        for (int j = (int)(e & 1); j < 2 && i < n; j++, i++) {
            float v = t->exact ? mean + std * z[j] : bf16_round(mean + std * z[j]);
            if (gguf && t->kind == K_RMS)
                v = v + 1.0f;
            out[i] = v;
        }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* per-tensor types (llama.cpp's mixtures for the presets synth offers) */

typedef struct ftype_info {
    const char *name;
    uint32_t file_type;   /* general.file_type */
    int base;             /* default matrix type */
    int mix;              /* 0 pure, 1 Q4_K_S, 2 Q4_K_M */
} ftype_info;

static const ftype_info FTYPES[] = {
    {"F32", 0, GGML_TYPE_F32, 0},    {"F16", 1, GGML_TYPE_F16, 0},       {"BF16", 32, GGML_TYPE_BF16, 0},
    {"Q4_0", 2, GGML_TYPE_Q4_0, 0},  {"Q4_1", 3, GGML_TYPE_Q4_1, 0},     {"Q8_0", 7, GGML_TYPE_Q8_0, 0},
    {"Q5_0", 8, GGML_TYPE_Q5_0, 0},  {"Q5_1", 9, GGML_TYPE_Q5_1, 0},     {"Q2_K", 10, GGML_TYPE_Q2_K, 0},
    {"Q3_K", 12, GGML_TYPE_Q3_K, 0}, {"Q4_K_S", 14, GGML_TYPE_Q4_K, 1},  {"Q4_K_M", 15, GGML_TYPE_Q4_K, 2},
    {"Q4_K", 15, GGML_TYPE_Q4_K, 0}, {"Q5_K", 17, GGML_TYPE_Q5_K, 0},    {"Q6_K", 18, GGML_TYPE_Q6_K, 0},
    {"IQ4_NL", 25, GGML_TYPE_IQ4_NL, 0}, {"IQ4_XS", 30, GGML_TYPE_IQ4_XS, 0},
};

static const ftype_info *find_ftype(const char *name)
{
    for (size_t i = 0; i < sizeof FTYPES / sizeof FTYPES[0]; i++)
        if (strcasecmp(FTYPES[i].name, name) == 0)
            return &FTYPES[i];
    return NULL;
}

static int use_more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

/* llama-quantize's tensor_type_fallback: row lengths that do not fit the block size. */
static uint32_t type_fallback(uint32_t t, int64_t ne0)
{
    const quant_traits *tr = quant_get_traits(t);
    if (!tr || ne0 % tr->blck == 0)
        return t;
    uint32_t f;
    switch (t) {
    case GGML_TYPE_Q4_K: f = GGML_TYPE_Q5_0; break;
    case GGML_TYPE_Q5_K: f = GGML_TYPE_Q5_1; break;
    case GGML_TYPE_Q6_K: f = GGML_TYPE_Q8_0; break;
    case GGML_TYPE_Q2_K:
    case GGML_TYPE_Q3_K: f = GGML_TYPE_Q4_0; break;
    case GGML_TYPE_IQ4_XS: f = GGML_TYPE_IQ4_NL; break;
    default: f = GGML_TYPE_F16; break;
    }
    if (ne0 % quant_get_traits(f)->blck)
        f = GGML_TYPE_F16;
    return f;
}

static void choose_types(tlist *l, const ftype_info *ft, int n_layer)
{
    int quantized = quant_get_traits((uint32_t)ft->base)->quantized;
    for (int i = 0; i < l->n; i++) {
        st *t = &l->t[i];
        if (t->file == 1) { /* mmproj: llama.cpp ships it in F16 (F32 / BF16 when asked) */
            if (t->force >= 0)
                t->type = (uint32_t)t->force;
            else
                t->type = ft->base == GGML_TYPE_F32 ? GGML_TYPE_F32 : ft->base == GGML_TYPE_BF16 ? GGML_TYPE_BF16 : GGML_TYPE_F16;
            continue;
        }
        if (t->force >= 0) {
            t->type = (uint32_t)t->force;
            continue;
        }
        uint32_t ty = (uint32_t)ft->base;
        if (quantized && strcmp(t->gg, "token_embd.weight") == 0) {
            ty = ft->base == GGML_TYPE_Q8_0 ? GGML_TYPE_Q8_0 : GGML_TYPE_Q6_K;
        } else if (quantized && ft->mix && t->layer >= 0) {
            int v = strstr(t->gg, ".attn_v.") != NULL, d = strstr(t->gg, ".ffn_down.") != NULL;
            if (ft->mix == 1 && ((v && t->layer < 4) || (d && t->layer < n_layer / 8)))
                ty = GGML_TYPE_Q5_K;
            if (ft->mix == 2 && (v || d) && use_more_bits(t->layer, n_layer))
                ty = GGML_TYPE_Q6_K;
        }
        t->type = quantized ? type_fallback(ty, t->ne[0]) : ty;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* text helpers */

typedef struct sb {
    char *s;
    size_t n, cap;
    int oom;
} sb;

static void sb_put(sb *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
}

static void sb_printf(sb *b, const char *fmt, ...) MEDGE_PRINTF(2, 3);
static void sb_printf(sb *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        b->oom = 1;
    else
        sb_put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static void sb_json_str(sb *b, const char *s)
{
    sb_put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            sb_put(b, e, 2);
        } else if (c == '\n') {
            sb_put(b, "\\n", 2);
        } else if (c == '\t') {
            sb_put(b, "\\t", 2);
        } else if (c < 0x20) {
            sb_printf(b, "\\u%04x", c);
        } else {
            sb_put(b, (const char *)&c, 1);
        }
    }
    sb_put(b, "\"", 1);
}

static medge_status write_file(const char *dir, const char *name, const void *data, size_t n)
{
    char *path = medge_path_join(dir, name);
    if (!path)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    medge_out o;
    medge_status rc = medge_out_open(&o, path);
    if (rc == MEDGE_OK) {
        rc = medge_out_write(&o, data, n);
        if (rc == MEDGE_OK)
            rc = medge_out_commit(&o);
        else
            medge_out_abort(&o);
    }
    free(path);
    return rc;
}

static medge_status write_sb(const char *dir, const char *name, sb *b)
{
    if (b->oom)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    return write_file(dir, name, b->s ? b->s : "", b->n);
}

/* ------------------------------------------------------------------------------------------ */
/* vocabulary: the special tokens at Gemma 3's ids, byte pieces, user-defined whitespace and HTML
 * pieces, and synthetic BPE pieces ("▁", single symbols, then pairs, then triples: every piece is
 * the concatenation of two earlier ones, so a BPE tokenizer can reach it). */

enum { SPM_NORMAL = 1, SPM_UNKNOWN = 2, SPM_CONTROL = 3, SPM_USER = 4, SPM_UNUSED = 5, SPM_BYTE = 6 };

typedef struct vocab {
    const char **tok;
    float *score;     /* GGUF score */
    int32_t *type;    /* GGUF token type */
    uint8_t *sptype;  /* SentencePiece piece type */
    float *spscore;   /* SentencePiece score */
    int n, n_pieces;
    char *pool;
    size_t used, cap;
} vocab;

static void vocab_free(vocab *v)
{
    free(v->tok);
    free(v->score);
    free(v->type);
    free(v->sptype);
    free(v->spscore);
    free(v->pool);
    memset(v, 0, sizeof *v);
}

static void vset(vocab *v, int id, const char *s, float score, int type, int sptype, float spscore)
{
    size_t n = strlen(s) + 1;
    if (v->used + n > v->cap) /* sized generously in vocab_build; never reached */
        s = "", n = 1;
    char *d = v->pool + v->used;
    memcpy(d, s, n);
    v->used += n;
    v->tok[id] = d;
    v->score[id] = score;
    v->type[id] = type;
    v->sptype[id] = (uint8_t)sptype;
    v->spscore[id] = spscore;
}

static const char *const HTML[] = {
    "<table>", "<caption>", "<thead>", "<tbody>", "<tfoot>", "<tr>", "<th>", "<td>", "</table>", "</caption>", "</thead>",
    "</tbody>", "</tfoot>", "</tr>", "</th>", "</td>", "<h1>", "<h2>", "<h3>", "<h4>", "<h5>", "<h6>", "<blockquote>",
    "</h1>", "</h2>", "</h3>", "</h4>", "</h5>", "</h6>", "</blockquote>", "<strong>", "<em>", "<b>", "<i>", "<u>", "<s>",
    "<sub>", "<sup>", "<code>", "</strong>", "</em>", "</b>", "</i>", "</u>", "</s>", "</sub>", "</sup>", "</code>", "<a>",
    "<html>", "<body>", "<img>", "<span>", "<bbox>", "<ul>", "<li>", "<div>", "<iframe>", "<footer>", "</a>", "</html>",
    "</body>", "</img>", "</span>", "</bbox>", "</ul>", "</li>", "</div>", "</iframe>", "</footer>"};

static medge_status vocab_build(const gemma_hp *h, vocab *v)
{
    memset(v, 0, sizeof *v);
    int n = h->n_vocab;
    v->n = n;
    v->n_pieces = h->n_pieces;
    v->tok = calloc((size_t)n, sizeof *v->tok);
    v->score = calloc((size_t)n, sizeof *v->score);
    v->type = calloc((size_t)n, sizeof *v->type);
    v->sptype = calloc((size_t)n, 1);
    v->spscore = calloc((size_t)n, sizeof *v->spscore);
    v->cap = (size_t)n * 16 + 65536;
    v->pool = malloc(v->cap);
    if (!v->tok || !v->score || !v->type || !v->sptype || !v->spscore || !v->pool) {
        vocab_free(v);
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    }
    static const char *const sp[] = {"<pad>", "<eos>", "<bos>", "<unk>", "<mask>"};
    for (int i = 0; i < 5; i++)
        vset(v, i, sp[i], -1000.0f, 3, i == 3 ? SPM_UNKNOWN : SPM_CONTROL, 0.0f);
    vset(v, 5, "[multimodal]", -1000.0f, 4, SPM_USER, 0.0f);
    char buf[64];
    for (int i = 6; i <= 104; i++) {
        snprintf(buf, sizeof buf, "<unused%d>", i - 6);
        vset(v, i, buf, -1000.0f, 3, SPM_CONTROL, 0.0f);
    }
    vset(v, 105, "<start_of_turn>", -1000.0f, 3, SPM_CONTROL, 0.0f);
    vset(v, 106, "<end_of_turn>", -1000.0f, 3, SPM_CONTROL, 0.0f);
    int id = 107;
    for (int k = 1; k <= 31; k++, id++) {
        memset(buf, '\n', (size_t)k);
        buf[k] = 0;
        vset(v, id, buf, -1000.0f, 4, SPM_USER, 0.0f);
    }
    for (int k = 2; k <= 31; k++, id++) {
        memset(buf, ' ', (size_t)k);
        buf[k] = 0;
        vset(v, id, buf, -1000.0f, 4, SPM_USER, 0.0f);
    }
    for (size_t k = 0; k < sizeof HTML / sizeof HTML[0]; k++, id++)
        vset(v, id, HTML[k], -1000.0f, 4, SPM_USER, 0.0f);
    for (int b = 0; b < 256; b++, id++) { /* id 238.. */
        snprintf(buf, sizeof buf, "<0x%02X>", b);
        vset(v, id, buf, 0.0f, 6, SPM_BYTE, 0.0f);
    }
    /* the tail of the piece list: tab runs (4B only), <start_of_image>, <end_of_image>, unused */
    int tail_tabs = h->n_pieces > 100000 ? 31 : 0;
    int normal_end = h->boi - tail_tabs;
    for (int k = 1; k <= tail_tabs; k++) {
        memset(buf, '\t', (size_t)k);
        buf[k] = 0;
        vset(v, normal_end + k - 1, buf, -1000.0f, 4, SPM_USER, 0.0f);
    }
    vset(v, h->boi, "<start_of_image>", -1000.0f, 3, SPM_CONTROL, 0.0f);
    vset(v, h->eoi, "<end_of_image>", -1000.0f, 3, SPM_CONTROL, 0.0f);
    for (int i = h->eoi + 1; i < h->n_pieces; i++) {
        snprintf(buf, sizeof buf, "<unused%d>", 99 + i - (h->eoi + 1));
        vset(v, i, buf, -1000.0f, 3, SPM_CONTROL, 0.0f);
    }
    static const char SYM[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!\"#$%&'()*+,-./:;=?@[\\]^_`{|}~";
    const int ns = (int)sizeof SYM - 1;
    const char *W = "\xe2\x96\x81"; /* U+2581 */
    int k = 0; /* index among normal pieces */
#define NORMAL(str)                                                              \
    do {                                                                         \
        if (id >= normal_end)                                                    \
            goto normal_done;                                                    \
        vset(v, id, (str), -(float)k, 1, SPM_NORMAL, -(float)k);                 \
        id++, k++;                                                               \
    } while (0)
    NORMAL(W);
    for (int a = 0; a < ns; a++) {
        snprintf(buf, sizeof buf, "%s%c", W, SYM[a]);
        NORMAL(buf);
        snprintf(buf, sizeof buf, "%c", SYM[a]);
        NORMAL(buf);
    }
    for (int a = 0; a < ns; a++)
        for (int b = 0; b < ns; b++) {
            snprintf(buf, sizeof buf, "%s%c%c", W, SYM[a], SYM[b]);
            NORMAL(buf);
            snprintf(buf, sizeof buf, "%c%c", SYM[a], SYM[b]);
            NORMAL(buf);
        }
    for (int a = 0; a < ns; a++)
        for (int b = 0; b < ns; b++)
            for (int c = 0; c < ns; c++) {
                snprintf(buf, sizeof buf, "%c%c%c", SYM[a], SYM[b], SYM[c]);
                NORMAL(buf);
                snprintf(buf, sizeof buf, "%s%c%c%c", W, SYM[a], SYM[b], SYM[c]);
                NORMAL(buf);
            }
normal_done:
#undef NORMAL
    if (id != normal_end) {
        vocab_free(v);
        return medge_err(MEDGE_ERR_INTERNAL, "synthetic vocabulary: %d pieces, expected %d", id, normal_end);
    }
    for (int i = h->n_pieces; i < n; i++) {
        if (i == h->image_token) {
            vset(v, i, "<image_soft_token>", -1000.0f, 3, SPM_CONTROL, 0.0f);
        } else {
            snprintf(buf, sizeof buf, "[PAD%d]", i);
            vset(v, i, buf, -10000.0f, 5, SPM_UNUSED, 0.0f);
        }
    }
    return MEDGE_OK;
}

static const char GEMMA3_TEMPLATE[] =
    "{{ bos_token }}\n"
    "{%- if messages[0]['role'] == 'system' -%}\n"
    "    {%- if messages[0]['content'] is string -%}\n"
    "        {%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}\n"
    "    {%- else -%}\n"
    "        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\n\n' -%}\n"
    "    {%- endif -%}\n"
    "    {%- set loop_messages = messages[1:] -%}\n"
    "{%- else -%}\n"
    "    {%- set first_user_prefix = \"\" -%}\n"
    "    {%- set loop_messages = messages -%}\n"
    "{%- endif -%}\n"
    "{%- for message in loop_messages -%}\n"
    "    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}\n"
    "        {{ raise_exception(\"Conversation roles must alternate user/assistant/user/assistant/...\") }}\n"
    "    {%- endif -%}\n"
    "    {%- if (message['role'] == 'assistant') -%}\n"
    "        {%- set role = \"model\" -%}\n"
    "    {%- else -%}\n"
    "        {%- set role = message['role'] -%}\n"
    "    {%- endif -%}\n"
    "    {{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else \"\") }}\n"
    "    {%- if message['content'] is string -%}\n"
    "        {{ message['content'] | trim }}\n"
    "    {%- elif message['content'] is iterable -%}\n"
    "        {%- for item in message['content'] -%}\n"
    "            {%- if item['type'] == 'image' -%}\n"
    "                {{ '<start_of_image>' }}\n"
    "            {%- elif item['type'] == 'text' -%}\n"
    "                {{ item['text'] | trim }}\n"
    "            {%- endif -%}\n"
    "        {%- endfor -%}\n"
    "    {%- else -%}\n"
    "        {{ raise_exception(\"Invalid content type\") }}\n"
    "    {%- endif -%}\n"
    "    {{ '<end_of_turn>\n' }}\n"
    "{%- endfor -%}\n"
    "{%- if add_generation_prompt -%}\n"
    "    {{'<start_of_turn>model\n'}}\n"
    "{%- endif -%}\n";

/* ------------------------------------------------------------------------------------------ */
/* streaming tensor data */

#define CHUNK_BYTES ((size_t)16 << 20)

typedef struct gen_ctx {
    medge_pool *pool;
    uint8_t *buf;     /* CHUNK_BYTES (or one row if larger) */
    size_t buf_cap;
    float *scr;       /* n_threads * max_ne0 */
    int64_t scr_ne0;
    /* current job */
    const st *t;
    uint32_t type;
    int gguf;
    int64_t ne0, row0, nrows;
    size_t row_bytes;
    const quant_traits *tr;
} gen_ctx;

static void gen_rows(void *c, int ith, int nth)
{
    gen_ctx *g = c;
    long b, e;
    medge_split((long)g->nrows, ith, nth, &b, &e);
    float *x = g->scr + (size_t)ith * (size_t)g->ne0;
    for (long r = b; r < e; r++) {
        uint8_t *dst = g->buf + (size_t)r * g->row_bytes;
        gen_values(g->t, (uint64_t)(g->row0 + r) * (uint64_t)g->ne0, g->ne0, g->gguf, x);
        switch (g->type) {
        case GGML_TYPE_F32: memcpy(dst, x, (size_t)g->ne0 * 4); break;
        case GGML_TYPE_F16:
            for (int64_t i = 0; i < g->ne0; i++) {
                uint16_t hv = medge_fp32_to_fp16(x[i]);
                memcpy(dst + 2 * i, &hv, 2);
            }
            break;
        case GGML_TYPE_BF16:
            for (int64_t i = 0; i < g->ne0; i++) {
                uint16_t hv = medge_fp32_to_bf16(x[i]);
                memcpy(dst + 2 * i, &hv, 2);
            }
            break;
        default: g->tr->from_float_ref(x, dst, g->ne0); break;
        }
    }
}

typedef medge_status (*sink_fn)(void *sink, const void *data, size_t n);

static medge_status sink_gguf(void *s, const void *d, size_t n) { return gguf_writer_write(s, d, n); }
static medge_status sink_out(void *s, const void *d, size_t n) { return medge_out_write(s, d, n); }

static int n_threads_of(const gen_ctx *g) { return medge_pool_size(g->pool); }

static medge_status stream_tensor(gen_ctx *g, const st *t, uint32_t type, int gguf, sink_fn sink, void *s)
{
    const quant_traits *tr = quant_get_traits(type);
    if (!tr)
        return medge_err(MEDGE_ERR_UNSUPPORTED, "tensor type %u unknown", type);
    if (tr->quantized && !tr->from_float_ref)
        return medge_err(MEDGE_ERR_UNSUPPORTED, "no quantizer for %s in this build", tr->name);
    int64_t ne0 = t->ne[0], rows = t->ne[1] * t->ne[2] * t->ne[3];
    size_t row_bytes = quant_row_size(type, ne0);
    if (!row_bytes)
        return medge_err(MEDGE_ERR_INVALID_ARG, "%s: row of %lld does not fit %s blocks", t->gg, (long long)ne0, tr->name);
    if (ne0 > g->scr_ne0) {
        float *p = realloc(g->scr, (size_t)n_threads_of(g) * (size_t)ne0 * sizeof(float));
        if (!p)
            return medge_err(MEDGE_ERR_NOMEM, "out of memory");
        g->scr = p;
        g->scr_ne0 = ne0;
    }
    int64_t per = (int64_t)(CHUNK_BYTES / row_bytes);
    if (per < 1)
        per = 1;
    if ((size_t)per * row_bytes > g->buf_cap) {
        uint8_t *p = realloc(g->buf, (size_t)per * row_bytes);
        if (!p)
            return medge_err(MEDGE_ERR_NOMEM, "out of memory");
        g->buf = p;
        g->buf_cap = (size_t)per * row_bytes;
    }
    g->t = t;
    g->type = type;
    g->gguf = gguf;
    g->ne0 = ne0;
    g->row_bytes = row_bytes;
    g->tr = tr;
    for (int64_t r = 0; r < rows; r += per) {
        g->row0 = r;
        g->nrows = rows - r < per ? rows - r : per;
        medge_pool_run(g->pool, gen_rows, g);
        MEDGE_TRY(sink(s, g->buf, (size_t)g->nrows * row_bytes));
    }
    return MEDGE_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* tensor orders */

/* convert_hf_to_gguf.py reads the shards in order and each shard's tensors sorted by name */
static int cmp_hf(const void *x, const void *y)
{
    const st *a = *(const st *const *)x, *b = *(const st *const *)y;
    if (a->shard != b->shard)
        return a->shard < b->shard ? -1 : 1;
    return strcmp(a->hf, b->hf);
}
/* llama-quantize: non-block tensors first, then by block number, then by name */
static int cmp_quant(const void *x, const void *y)
{
    const st *a = *(const st *const *)x, *b = *(const st *const *)y;
    int la = strncmp(a->gg, "blk.", 4) == 0 ? a->layer : -1, lb = strncmp(b->gg, "blk.", 4) == 0 ? b->layer : -1;
    if (la != lb)
        return la < lb ? -1 : 1;
    return strcmp(a->gg, b->gg);
}

/* ------------------------------------------------------------------------------------------ */
/* GGUF output */

static medge_status gguf_text_kv(gguf_writer *w, const gemma_hp *h, const ftype_info *ft, const vocab *v)
{
    int quantized = quant_get_traits((uint32_t)ft->base)->quantized;
    MEDGE_TRY(gguf_writer_set_str(w, "general.architecture", "gemma3"));
    MEDGE_TRY(gguf_writer_set_str(w, "general.type", "model"));
    MEDGE_TRY(gguf_writer_set_str(w, "general.name", h->name));
    MEDGE_TRY(gguf_writer_set_str(w, "general.size_label", h->size_label));
    MEDGE_TRY(gguf_writer_set_u32(w, "gemma3.block_count", (uint32_t)h->n_layer));
    MEDGE_TRY(gguf_writer_set_u32(w, "gemma3.context_length", 131072));
    MEDGE_TRY(gguf_writer_set_u32(w, "gemma3.embedding_length", (uint32_t)h->n_embd));
    MEDGE_TRY(gguf_writer_set_u32(w, "gemma3.feed_forward_length", (uint32_t)h->n_ff));
    MEDGE_TRY(gguf_writer_set_u32(w, "gemma3.attention.head_count", (uint32_t)h->n_head));
    MEDGE_TRY(gguf_writer_set_u32(w, "gemma3.attention.head_count_kv", (uint32_t)h->n_head_kv));
    MEDGE_TRY(gguf_writer_set_str(w, "gemma3.rope.scaling.type", "linear"));
    MEDGE_TRY(gguf_writer_set_f32(w, "gemma3.rope.scaling.factor", 8.0f));
    MEDGE_TRY(gguf_writer_set_f32(w, "gemma3.rope.freq_base", 1000000.0f));
    MEDGE_TRY(gguf_writer_set_f32(w, "gemma3.rope.freq_base_swa", 10000.0f));
    MEDGE_TRY(gguf_writer_set_f32(w, "gemma3.attention.layer_norm_rms_epsilon", 1e-6f));
    MEDGE_TRY(gguf_writer_set_u32(w, "gemma3.attention.key_length", (uint32_t)h->head_dim));
    MEDGE_TRY(gguf_writer_set_u32(w, "gemma3.attention.value_length", (uint32_t)h->head_dim));
    if (!quantized)
        MEDGE_TRY(gguf_writer_set_u32(w, "general.file_type", ft->file_type));
    MEDGE_TRY(gguf_writer_set_u32(w, "gemma3.attention.sliding_window", (uint32_t)h->sliding_window));
    if (!quantized)
        MEDGE_TRY(gguf_writer_set_u32(w, "general.quantization_version", 2));
    MEDGE_TRY(gguf_writer_set_str(w, "tokenizer.ggml.model", "llama"));
    MEDGE_TRY(gguf_writer_set_str(w, "tokenizer.ggml.pre", "default"));
    MEDGE_TRY(gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", v->tok, (uint64_t)v->n));
    MEDGE_TRY(gguf_writer_set_arr(w, "tokenizer.ggml.scores", GGUF_F32, v->score, (uint64_t)v->n));
    MEDGE_TRY(gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_I32, v->type, (uint64_t)v->n));
    MEDGE_TRY(gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 2));
    MEDGE_TRY(gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 106));
    MEDGE_TRY(gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 3));
    MEDGE_TRY(gguf_writer_set_u32(w, "tokenizer.ggml.padding_token_id", 0));
    MEDGE_TRY(gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", true));
    MEDGE_TRY(gguf_writer_set_bool(w, "tokenizer.ggml.add_sep_token", false));
    MEDGE_TRY(gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", false));
    MEDGE_TRY(gguf_writer_set_str(w, "tokenizer.chat_template", GEMMA3_TEMPLATE));
    MEDGE_TRY(gguf_writer_set_bool(w, "tokenizer.ggml.add_space_prefix", false));
    if (quantized) { /* llama-quantize re-appends these at the end */
        MEDGE_TRY(gguf_writer_set_u32(w, "general.quantization_version", 2));
        MEDGE_TRY(gguf_writer_set_u32(w, "general.file_type", ft->file_type));
    }
    return MEDGE_OK;
}

static medge_status gguf_mmproj_kv(gguf_writer *w, const gemma_hp *h, uint32_t file_type)
{
    MEDGE_TRY(gguf_writer_set_str(w, "general.architecture", "clip"));
    MEDGE_TRY(gguf_writer_set_str(w, "general.type", "mmproj"));
    MEDGE_TRY(gguf_writer_set_str(w, "general.name", h->name));
    MEDGE_TRY(gguf_writer_set_str(w, "general.size_label", h->mm_size_label));
    MEDGE_TRY(gguf_writer_set_u32(w, "general.file_type", file_type));
    MEDGE_TRY(gguf_writer_set_bool(w, "clip.has_vision_encoder", true));
    MEDGE_TRY(gguf_writer_set_u32(w, "clip.vision.projection_dim", (uint32_t)h->n_embd));
    MEDGE_TRY(gguf_writer_set_u32(w, "clip.vision.image_size", (uint32_t)h->v_image));
    MEDGE_TRY(gguf_writer_set_u32(w, "clip.vision.patch_size", (uint32_t)h->v_patch));
    MEDGE_TRY(gguf_writer_set_u32(w, "clip.vision.embedding_length", (uint32_t)h->v_embd));
    MEDGE_TRY(gguf_writer_set_u32(w, "clip.vision.feed_forward_length", (uint32_t)h->v_ff));
    MEDGE_TRY(gguf_writer_set_u32(w, "clip.vision.block_count", (uint32_t)h->v_layer));
    MEDGE_TRY(gguf_writer_set_u32(w, "clip.vision.attention.head_count", (uint32_t)h->v_head));
    const float half[3] = {0.5f, 0.5f, 0.5f};
    MEDGE_TRY(gguf_writer_set_arr(w, "clip.vision.image_mean", GGUF_F32, half, 3));
    MEDGE_TRY(gguf_writer_set_arr(w, "clip.vision.image_std", GGUF_F32, half, 3));
    MEDGE_TRY(gguf_writer_set_str(w, "clip.projector_type", "gemma3"));
    MEDGE_TRY(gguf_writer_set_f32(w, "clip.vision.attention.layer_norm_epsilon", 1e-6f));
    MEDGE_TRY(gguf_writer_set_bool(w, "clip.use_gelu", true));
    int side = h->v_image / h->v_patch, merge = 1;
    while (merge * merge * h->mm_tokens < side * side)
        merge++;
    if (merge != 4)
        MEDGE_TRY(gguf_writer_set_u32(w, "clip.vision.projector.scale_factor", (uint32_t)merge));
    MEDGE_TRY(gguf_writer_set_u32(w, "general.quantization_version", 2));
    return MEDGE_OK;
}

static medge_status write_gguf_file(gen_ctx *g, const synth_params *p, const tlist *l, int file, const char *path,
                                    const gemma_hp *h, const ftype_info *ft, const vocab *v, int *done, int total)
{
    const st **ord = malloc((size_t)l->n * sizeof *ord);
    if (!ord)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    int n = 0;
    for (int i = 0; i < l->n; i++)
        if (l->t[i].file == file)
            ord[n++] = &l->t[i];
    int quantized = quant_get_traits((uint32_t)ft->base)->quantized;
    qsort(ord, (size_t)n, sizeof *ord, file == 0 && quantized ? cmp_quant : cmp_hf);
    gguf_writer *w = NULL;
    medge_status rc = gguf_writer_open(path, &w);
    if (rc != MEDGE_OK)
        goto out;
    if (file == 0) {
        rc = gguf_text_kv(w, h, ft, v);
    } else {
        uint32_t mt = ft->base == GGML_TYPE_F32 ? 0 : ft->base == GGML_TYPE_BF16 ? 32 : 1;
        rc = gguf_mmproj_kv(w, h, mt);
    }
    for (int i = 0; i < n && rc == MEDGE_OK; i++)
        rc = gguf_writer_add_tensor(w, ord[i]->gg, ord[i]->type, (uint32_t)ord[i]->n_dims, ord[i]->ne);
    if (rc == MEDGE_OK)
        rc = gguf_writer_begin_data(w);
    for (int i = 0; i < n && rc == MEDGE_OK; i++) {
        rc = stream_tensor(g, ord[i], ord[i]->type, 1, sink_gguf, w);
        if (rc != MEDGE_OK)
            rc = medge_err_prefix(rc, "%s", ord[i]->gg);
        else if (p->progress)
            p->progress(p->user, ord[i]->gg, ++*done, total, gguf_writer_bytes(w));
    }
    if (rc == MEDGE_OK)
        rc = gguf_writer_finish(w);
out:
    gguf_writer_free(w);
    free(ord);
    return rc == MEDGE_OK ? rc : medge_err_prefix(rc, "%s", path);
}

/* ------------------------------------------------------------------------------------------ */
/* Hugging Face output */

static void pb_varint(sb *b, uint64_t v)
{
    char t[10];
    size_t n = 0;
    do {
        t[n++] = (char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    sb_put(b, t, n);
}

static void pb_key(sb *b, int field, int wire) { pb_varint(b, (uint64_t)field << 3 | (uint64_t)wire); }

/* tokenizer.model: a SentencePiece ModelProto (BPE with byte fallback, identity normalizer) */
static medge_status write_spm(const char *dir, const vocab *v)
{
    sb b = {0}, piece = {0};
    for (int i = 0; i < v->n_pieces; i++) {
        piece.n = 0;
        size_t len = strlen(v->tok[i]);
        pb_key(&piece, 1, 2);
        pb_varint(&piece, len);
        sb_put(&piece, v->tok[i], len);
        pb_key(&piece, 2, 5);
        uint32_t f;
        memcpy(&f, &v->spscore[i], 4);
        char le[4] = {(char)f, (char)(f >> 8), (char)(f >> 16), (char)(f >> 24)};
        sb_put(&piece, le, 4);
        if (v->sptype[i] != SPM_NORMAL) {
            pb_key(&piece, 3, 0);
            pb_varint(&piece, v->sptype[i]);
        }
        pb_key(&b, 1, 2);
        pb_varint(&b, piece.n);
        sb_put(&b, piece.s, piece.n);
    }
    sb ts = {0}, ns = {0};
    pb_key(&ts, 3, 0), pb_varint(&ts, 2); /* model_type BPE */
    pb_key(&ts, 4, 0), pb_varint(&ts, (uint64_t)v->n_pieces);
    pb_key(&ts, 35, 0), pb_varint(&ts, 1); /* byte_fallback */
    pb_key(&ts, 40, 0), pb_varint(&ts, 3); /* unk_id */
    pb_key(&ts, 41, 0), pb_varint(&ts, 2); /* bos_id */
    pb_key(&ts, 42, 0), pb_varint(&ts, 1); /* eos_id */
    pb_key(&ts, 43, 0), pb_varint(&ts, 0); /* pad_id */
    pb_key(&ns, 1, 2), pb_varint(&ns, 8), sb_put(&ns, "identity", 8);
    pb_key(&ns, 3, 0), pb_varint(&ns, 0); /* add_dummy_prefix */
    pb_key(&ns, 4, 0), pb_varint(&ns, 0); /* remove_extra_whitespaces */
    pb_key(&ns, 5, 0), pb_varint(&ns, 1); /* escape_whitespaces */
    pb_key(&b, 2, 2), pb_varint(&b, ts.n), sb_put(&b, ts.s, ts.n);
    pb_key(&b, 3, 2), pb_varint(&b, ns.n), sb_put(&b, ns.s, ns.n);
    medge_status rc = piece.oom || ts.oom || ns.oom ? medge_err(MEDGE_ERR_NOMEM, "out of memory") : write_sb(dir, "tokenizer.model", &b);
    free(b.s), free(piece.s), free(ts.s), free(ns.s);
    return rc;
}

static medge_status write_tokenizer_config(const char *dir, const gemma_hp *h, const vocab *v)
{
    sb b = {0};
    sb_printf(&b, "{\n  \"add_bos_token\": true,\n  \"add_eos_token\": false,\n  \"added_tokens_decoder\": {");
    int first = 1;
    for (int i = 0; i < v->n; i++) {
        int t = v->type[i];
        if (t != 3 && t != 4)
            continue;
        int special = t == 3;
        sb_printf(&b, "%s\n    \"%d\": {\n      \"content\": ", first ? "" : ",", i);
        sb_json_str(&b, v->tok[i]);
        sb_printf(&b, ",\n      \"lstrip\": false,\n      \"normalized\": false,\n      \"rstrip\": false,\n"
                      "      \"single_word\": false,\n      \"special\": %s\n    }",
                  special ? "true" : "false");
        first = 0;
    }
    sb_printf(&b, "\n  },\n  \"boi_token\": \"<start_of_image>\",\n  \"bos_token\": \"<bos>\",\n  \"chat_template\": ");
    sb_json_str(&b, GEMMA3_TEMPLATE);
    sb_printf(&b, ",\n  \"clean_up_tokenization_spaces\": false,\n  \"eoi_token\": \"<end_of_image>\",\n"
                  "  \"eos_token\": \"<end_of_turn>\",\n  \"image_token\": \"<image_soft_token>\",\n"
                  "  \"model_max_length\": 1000000000000000019884624838656,\n  \"pad_token\": \"<pad>\",\n"
                  "  \"processor_class\": \"Gemma3Processor\",\n  \"sp_model_kwargs\": null,\n"
                  "  \"spaces_between_special_tokens\": false,\n  \"tokenizer_class\": \"GemmaTokenizer\",\n"
                  "  \"unk_token\": \"<unk>\",\n  \"use_default_system_prompt\": false\n}");
    medge_status rc = write_sb(dir, "tokenizer_config.json", &b);
    free(b.s);
    if (rc != MEDGE_OK)
        return rc;
    sb a = {0};
    sb_printf(&a, "{\n  \"<image_soft_token>\": %d\n}", h->image_token);
    rc = write_sb(dir, "added_tokens.json", &a);
    free(a.s);
    return rc;
}

static medge_status write_configs(const char *dir, const gemma_hp *h)
{
    sb b = {0};
    sb_printf(&b, "{\n  \"architectures\": [\n    \"Gemma3ForConditionalGeneration\"\n  ],\n"
                  "  \"boi_token_index\": %d,\n  \"eoi_token_index\": %d,\n  \"eos_token_id\": [\n    1,\n    106\n  ],\n"
                  "  \"image_token_index\": %d,\n  \"initializer_range\": 0.02,\n  \"mm_tokens_per_image\": %d,\n"
                  "  \"model_type\": \"gemma3\",\n  \"text_config\": {\n",
              h->boi, h->eoi, h->image_token, h->mm_tokens);
    sb_printf(&b, "    \"hidden_size\": %d,\n    \"intermediate_size\": %d,\n    \"model_type\": \"gemma3_text\",\n"
                  "    \"num_hidden_layers\": %d,\n",
              h->n_embd, h->n_ff, h->n_layer);
    if (!h->sparse_config)
        sb_printf(&b, "    \"num_attention_heads\": %d,\n    \"num_key_value_heads\": %d,\n    \"head_dim\": %d,\n"
                      "    \"query_pre_attn_scalar\": %d,\n",
                  h->n_head, h->n_head_kv, h->head_dim, h->qpas);
    sb_printf(&b, "    \"rope_scaling\": {\n      \"factor\": 8.0,\n      \"rope_type\": \"linear\"\n    },\n");
    if (!h->sparse_config)
        sb_printf(&b, "    \"rope_theta\": 1000000.0,\n    \"rope_local_base_freq\": 10000.0,\n");
    sb_printf(&b, "    \"sliding_window\": %d", h->sliding_window);
    if (!h->sparse_config)
        sb_printf(&b, ",\n    \"sliding_window_pattern\": 6,\n    \"rms_norm_eps\": 1e-06,\n    \"vocab_size\": %d,\n"
                      "    \"hidden_activation\": \"gelu_pytorch_tanh\",\n    \"max_position_embeddings\": 131072",
                  h->n_vocab);
    sb_printf(&b, "\n  },\n  \"torch_dtype\": \"bfloat16\",\n  \"transformers_version\": \"4.50.0.dev0\",\n"
                  "  \"vision_config\": {\n    \"hidden_size\": %d,\n    \"image_size\": %d,\n    \"intermediate_size\": %d,\n"
                  "    \"model_type\": \"siglip_vision_model\",\n    \"num_attention_heads\": %d,\n    \"num_hidden_layers\": %d,\n"
                  "    \"patch_size\": %d,\n    \"vision_use_head\": false%s\n  }\n}",
              h->v_embd, h->v_image, h->v_ff, h->v_head, h->v_layer, h->v_patch,
              h->sparse_config ? "" : ",\n    \"layer_norm_eps\": 1e-06");
    MEDGE_TRY(write_sb(dir, "config.json", &b));
    b.n = 0;
    sb_printf(&b, "{\n  \"bos_token_id\": 2,\n  \"eos_token_id\": [\n    1,\n    106\n  ],\n  \"pad_token_id\": 0,\n"
                  "  \"cache_implementation\": \"hybrid\"\n}");
    MEDGE_TRY(write_sb(dir, "generation_config.json", &b));
    b.n = 0;
    sb_printf(&b, "{\n  \"do_convert_rgb\": null,\n  \"do_normalize\": true,\n  \"do_rescale\": true,\n  \"do_resize\": true,\n"
                  "  \"image_mean\": [\n    0.5,\n    0.5,\n    0.5\n  ],\n  \"image_std\": [\n    0.5,\n    0.5,\n    0.5\n  ],\n"
                  "  \"image_seq_length\": %d,\n  \"image_processor_type\": \"Gemma3ImageProcessor\",\n"
                  "  \"processor_class\": \"Gemma3Processor\",\n  \"resample\": 2,\n"
                  "  \"rescale_factor\": 0.00392156862745098,\n  \"size\": {\n    \"height\": %d,\n    \"width\": %d\n  }\n}",
              h->mm_tokens, h->v_image, h->v_image);
    medge_status rc = write_sb(dir, "preprocessor_config.json", &b);
    free(b.s);
    return rc;
}

static medge_status copy_file(const char *src, const char *dir, const char *name)
{
    medge_map m;
    MEDGE_TRY(medge_read_file(src, &m));
    medge_status rc = write_file(dir, name, m.data ? (const void *)m.data : "", (size_t)m.size);
    medge_unmap(&m);
    return rc;
}

/* HF shards: tensors in module order, a new shard when the next one would pass the limit */
static int assign_shards(tlist *l, uint64_t limit, uint64_t *total)
{
    int n_shards = 1;
    uint64_t cur = 0;
    *total = 0;
    for (int i = 0; i < l->n; i++) {
        uint64_t nb = (uint64_t)(l->t[i].ne[0] * l->t[i].ne[1] * l->t[i].ne[2] * l->t[i].ne[3]) * 2;
        if (cur && cur + nb > limit) {
            n_shards++;
            cur = 0;
        }
        l->t[i].shard = n_shards - 1;
        cur += nb;
        *total += nb;
    }
    return n_shards;
}

static medge_status write_hf(gen_ctx *g, const synth_params *p, tlist *l, const char *dir, const gemma_hp *h,
                             const vocab *v)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return medge_err(MEDGE_ERR_IO, "%s: cannot create directory: %s", dir, strerror(errno));
    uint64_t total;
    int n_shards = assign_shards(l, h->shard_bytes, &total);
    medge_status rc = MEDGE_OK;
    sb idx = {0};
    sb_printf(&idx, "{\n  \"metadata\": {\n    \"total_size\": %llu\n  },\n  \"weight_map\": {", (unsigned long long)total);
    int done = 0;
    for (int s = 0; s < n_shards && rc == MEDGE_OK; s++) {
        char name[64];
        if (n_shards == 1)
            snprintf(name, sizeof name, "model.safetensors");
        else
            snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", s + 1, n_shards);
        sb hdr = {0};
        sb_put(&hdr, "{", 1);
        uint64_t off = 0;
        for (int i = 0; i < l->n; i++) {
            if (l->t[i].shard != s)
                continue;
            const st *t = &l->t[i];
            uint64_t nb = (uint64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]) * 2;
            sb_printf(&hdr, "%s\"%s\":{\"dtype\":\"BF16\",\"shape\":[", off || hdr.n > 1 ? "," : "", t->hf);
            for (int d = t->n_dims - 1; d >= 0; d--)
                sb_printf(&hdr, "%lld%s", (long long)t->ne[d], d ? "," : "");
            sb_printf(&hdr, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off, (unsigned long long)(off + nb));
            off += nb;
            sb_printf(&idx, "%s\n    \"%s\": \"%s\"", done++ ? "," : "", t->hf, name);
        }
        sb_printf(&hdr, ",\"__metadata__\":{\"format\":\"pt\"}}");
        while (hdr.n % 8)
            sb_put(&hdr, " ", 1);
        if (hdr.oom) {
            free(hdr.s);
            rc = medge_err(MEDGE_ERR_NOMEM, "out of memory");
            break;
        }
        char *path = medge_path_join(dir, name);
        medge_out o;
        rc = path ? medge_out_open(&o, path) : medge_err(MEDGE_ERR_NOMEM, "out of memory");
        if (rc == MEDGE_OK) {
            uint64_t hl = hdr.n;
            uint8_t le[8];
            for (int k = 0; k < 8; k++)
                le[k] = (uint8_t)(hl >> (8 * k));
            rc = medge_out_write(&o, le, 8);
            if (rc == MEDGE_OK)
                rc = medge_out_write(&o, hdr.s, hdr.n);
            for (int i = 0; i < l->n && rc == MEDGE_OK; i++) {
                if (l->t[i].shard != s)
                    continue;
                rc = stream_tensor(g, &l->t[i], GGML_TYPE_BF16, 0, sink_out, &o);
                if (rc == MEDGE_OK && p->progress)
                    p->progress(p->user, l->t[i].hf, i + 1, l->n, o.written);
            }
            if (rc == MEDGE_OK)
                rc = medge_out_commit(&o);
            else
                medge_out_abort(&o);
        }
        free(path);
        free(hdr.s);
    }
    sb_printf(&idx, "\n  }\n}");
    if (rc == MEDGE_OK && n_shards > 1)
        rc = write_sb(dir, "model.safetensors.index.json", &idx);
    free(idx.s);
    if (rc == MEDGE_OK)
        rc = write_configs(dir, h);
    if (rc != MEDGE_OK)
        return rc;
    if (p->tokenizer_dir) {
        static const char *const files[] = {"tokenizer.model", "tokenizer.json", "tokenizer_config.json",
                                            "added_tokens.json", "special_tokens_map.json", "chat_template.json"};
        int copied = 0;
        for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
            char *src = medge_path_join(p->tokenizer_dir, files[i]);
            if (!src)
                return medge_err(MEDGE_ERR_NOMEM, "out of memory");
            if (medge_file_size(src) >= 0) {
                rc = copy_file(src, dir, files[i]);
                copied++;
            }
            free(src);
            MEDGE_TRY(rc);
        }
        if (!copied)
            return medge_err(MEDGE_ERR_NOT_FOUND, "%s: no tokenizer.model, tokenizer.json or tokenizer_config.json", p->tokenizer_dir);
        return MEDGE_OK;
    }
    MEDGE_TRY(write_spm(dir, v));
    return write_tokenizer_config(dir, h, v);
}

/* ------------------------------------------------------------------------------------------ */
/* BiomedCLIP: an open_clip checkpoint (open_clip_config.json, open_clip_model.safetensors in F32
 * as the real weights are, vocab.txt). The GGUF is that checkpoint put through convert/biomedclip.c
 * (and quant/model-quant.c for other types), so it is by construction what `medge convert` (+
 * `medge quantize`) makes of a real checkpoint of the same shapes. */

typedef struct clip_hp {
    const char *timm_name;
    int image, patch, vd, vl, vff, proj;       /* vision: ViT-B/16 224 */
    int td, tl, tff, vocab, tpos, ttypes, tp0; /* text: PubMedBERT + MLP head */
    int ctx;
} clip_hp;

/* microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224 (specs/biomedclip.md §2) */
static const clip_hp CLIP_FULL = {"vit_base_patch16_224", 224, 16, 768, 12, 3072, 512,
                                  768, 12, 3072, 30522, 512, 2, 640, 256};
/* the shapes of ../shared/reference/biomedclip-tiny */
static const clip_hp CLIP_TINY = {"vit_test_patch16_224", 224, 16, 256, 2, 1024, 128,
                                  128, 2, 512, 30522, 512, 2, 128, 256};

/* PyTorch shape (outermost first) -> the st entry (ggml order). n_dims 0: a scalar. */
static medge_status cl_add(tlist *l, const char *name, int kind, int n_dims, int64_t a, int64_t b, int64_t c, int64_t d)
{
    int64_t sh[4] = {a, b, c, d}, ne[4] = {1, 1, 1, 1};
    for (int k = 0; k < n_dims; k++)
        ne[k] = sh[n_dims - 1 - k];
    MEDGE_TRY(tl_add(l, name, "", kind, 0, -1, GGML_TYPE_F32, n_dims, ne[0], ne[1], ne[2], ne[3]));
    l->t[l->n - 1].exact = 1;
    return MEDGE_OK;
}

/* open_clip CustomTextCLIP state dict in module order (logit_scale is written separately). */
static medge_status clip_tensors(const clip_hp *h, tlist *l)
{
    char nm[112];
    const int64_t V = h->vd, VF = h->vff, P = h->patch, NP = (int64_t)(h->image / h->patch) * (h->image / h->patch) + 1;
    MEDGE_TRY(cl_add(l, "visual.trunk.cls_token", K_WEIGHT, 3, 1, 1, V, 0));
    MEDGE_TRY(cl_add(l, "visual.trunk.pos_embed", K_WEIGHT, 3, 1, NP, V, 0));
    MEDGE_TRY(cl_add(l, "visual.trunk.patch_embed.proj.weight", K_WEIGHT, 4, V, 3, P, P));
    MEDGE_TRY(cl_add(l, "visual.trunk.patch_embed.proj.bias", K_BIAS, 1, V, 0, 0, 0));
    for (int i = 0; i < h->vl; i++) {
        static const struct {
            const char *n;
            int kind, rows, cols; /* 0 V, 1 3V, 2 VF; cols -1: vector */
        } B[] = {
            {"norm1.weight", K_LN_W, 0, -1},   {"norm1.bias", K_BIAS, 0, -1},   {"attn.qkv.weight", K_WEIGHT, 1, 0},
            {"attn.qkv.bias", K_BIAS, 1, -1},  {"attn.proj.weight", K_WEIGHT, 0, 0}, {"attn.proj.bias", K_BIAS, 0, -1},
            {"norm2.weight", K_LN_W, 0, -1},   {"norm2.bias", K_BIAS, 0, -1},   {"mlp.fc1.weight", K_WEIGHT, 2, 0},
            {"mlp.fc1.bias", K_BIAS, 2, -1},   {"mlp.fc2.weight", K_WEIGHT, 0, 2}, {"mlp.fc2.bias", K_BIAS, 0, -1},
        };
        const int64_t dim[3] = {V, 3 * V, VF};
        for (size_t k = 0; k < sizeof B / sizeof B[0]; k++) {
            snprintf(nm, sizeof nm, "visual.trunk.blocks.%d.%s", i, B[k].n);
            if (B[k].cols < 0)
                MEDGE_TRY(cl_add(l, nm, B[k].kind, 1, dim[B[k].rows], 0, 0, 0));
            else
                MEDGE_TRY(cl_add(l, nm, B[k].kind, 2, dim[B[k].rows], dim[B[k].cols], 0, 0));
        }
    }
    MEDGE_TRY(cl_add(l, "visual.trunk.norm.weight", K_LN_W, 1, V, 0, 0, 0));
    MEDGE_TRY(cl_add(l, "visual.trunk.norm.bias", K_BIAS, 1, V, 0, 0, 0));
    MEDGE_TRY(cl_add(l, "visual.head.proj.weight", K_WEIGHT, 2, h->proj, V, 0, 0));
    const int64_t T = h->td, TF = h->tff;
#define TE "text.transformer.embeddings."
    MEDGE_TRY(cl_add(l, TE "word_embeddings.weight", K_WEIGHT, 2, h->vocab, T, 0, 0));
    MEDGE_TRY(cl_add(l, TE "position_embeddings.weight", K_WEIGHT, 2, h->tpos, T, 0, 0));
    MEDGE_TRY(cl_add(l, TE "token_type_embeddings.weight", K_WEIGHT, 2, h->ttypes, T, 0, 0));
    MEDGE_TRY(cl_add(l, TE "LayerNorm.weight", K_LN_W, 1, T, 0, 0, 0));
    MEDGE_TRY(cl_add(l, TE "LayerNorm.bias", K_BIAS, 1, T, 0, 0, 0));
#undef TE
    for (int i = 0; i < h->tl; i++) {
        static const struct {
            const char *n;
            int kind, rows, cols; /* 0 T, 1 TF; cols -1: vector */
        } B[] = {
            {"attention.self.query.weight", K_WEIGHT, 0, 0},   {"attention.self.query.bias", K_BIAS, 0, -1},
            {"attention.self.key.weight", K_WEIGHT, 0, 0},     {"attention.self.key.bias", K_BIAS, 0, -1},
            {"attention.self.value.weight", K_WEIGHT, 0, 0},   {"attention.self.value.bias", K_BIAS, 0, -1},
            {"attention.output.dense.weight", K_WEIGHT, 0, 0}, {"attention.output.dense.bias", K_BIAS, 0, -1},
            {"attention.output.LayerNorm.weight", K_LN_W, 0, -1}, {"attention.output.LayerNorm.bias", K_BIAS, 0, -1},
            {"intermediate.dense.weight", K_WEIGHT, 1, 0},     {"intermediate.dense.bias", K_BIAS, 1, -1},
            {"output.dense.weight", K_WEIGHT, 0, 1},           {"output.dense.bias", K_BIAS, 0, -1},
            {"output.LayerNorm.weight", K_LN_W, 0, -1},        {"output.LayerNorm.bias", K_BIAS, 0, -1},
        };
        const int64_t dim[2] = {T, TF};
        for (size_t k = 0; k < sizeof B / sizeof B[0]; k++) {
            snprintf(nm, sizeof nm, "text.transformer.encoder.layer.%d.%s", i, B[k].n);
            if (B[k].cols < 0)
                MEDGE_TRY(cl_add(l, nm, B[k].kind, 1, dim[B[k].rows], 0, 0, 0));
            else
                MEDGE_TRY(cl_add(l, nm, B[k].kind, 2, dim[B[k].rows], dim[B[k].cols], 0, 0));
        }
    }
    MEDGE_TRY(cl_add(l, "text.proj.0.weight", K_WEIGHT, 2, h->tp0, T, 0, 0));
    MEDGE_TRY(cl_add(l, "text.proj.2.weight", K_WEIGHT, 2, h->proj, h->tp0, 0, 0));
    return MEDGE_OK;
}

/* Words of typical zero-shot prompts, so they tokenize into whole words. */
static const char *const CLIP_WORDS[] = {
    "the", "of", "and", "in", "to", "a", "with", "is", "for", "on", "this", "that", "an", "as", "by", "at", "from", "or",
    "no", "not", "are", "was", "be", "it", "which", "photo", "image", "picture", "scan", "view", "showing", "shows",
    "normal", "abnormal", "left", "right", "upper", "lower", "large", "small", "mild", "severe", "chest", "x", "ray",
    "radiograph", "ct", "mri", "ultrasound", "pet", "brain", "head", "lung", "lungs", "heart", "liver", "kidney", "bone",
    "bones", "skin", "breast", "abdomen", "spine", "knee", "hand", "foot", "eye", "retina", "fundus", "tissue", "cell",
    "cells", "histopathology", "pathology", "slide", "stain", "microscopy", "dermoscopy", "lesion", "tumor", "cancer",
    "carcinoma", "nodule", "mass", "fracture", "effusion", "pleural", "pneumonia", "pneumothorax", "edema",
    "cardiomegaly", "atelectasis", "consolidation", "opacity", "infiltrate", "hemorrhage", "stroke", "infarct", "glioma",
    "melanoma", "nevus", "benign", "malignant", "adenocarcinoma", "metastasis", "inflammation", "infection", "cyst",
    "calcification", "covid", "tuberculosis", "patient", "medical", "clinical", "diagnosis", "disease", "finding",
    "findings", "evidence", "sign", "signs", "axial", "coronal", "sagittal", "frontal", "lateral", "contrast",
    "enhanced", "weighted", "t1", "t2", "flair", "dental", "teeth", "colon", "polyp", "endoscopy", "stomach", "blood",
    "smear", "leukemia", "lymphoma", "lymph", "node", "vessel", "artery", "aneurysm", "cardiac", "thyroid", "prostate",
    "pancreas", "gallbladder", "ovary", "uterus", "fetal", "pediatric", "adult", "healthy", "control", "type", "grade",
    "stage", "case", "report", "example", "sample", "typical", "visible", "present", "absent", "seen", "there",
};

static int clip_is_word(const char *s)
{
    for (size_t i = 0; i < sizeof CLIP_WORDS / sizeof CLIP_WORDS[0]; i++)
        if (strcmp(CLIP_WORDS[i], s) == 0)
            return 1;
    return 0;
}

/* BERT-uncased layout: [PAD] 0, [unused0..98], [UNK] 100, [CLS] 101, [SEP] 102, [MASK] 103,
 * [unused99..993], then single characters, the words above, "##" + letters and digits, and letter
 * pairs and triples (whole and "##"), until n tokens: every lower-case ASCII word tokenizes. */
static medge_status clip_vocab(sb *b, int n)
{
    static const char AL[] = "abcdefghijklmnopqrstuvwxyz";
    static const char AN[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    char buf[32];
    int id = 0;
#define TOK(str)                              \
    do {                                      \
        if (id >= n)                          \
            goto full;                        \
        sb_put(b, (str), strlen(str));        \
        sb_put(b, "\n", 1);                   \
        id++;                                 \
    } while (0)
    TOK("[PAD]");
    for (int i = 0; i < 99; i++) {
        snprintf(buf, sizeof buf, "[unused%d]", i);
        TOK(buf);
    }
    TOK("[UNK]");
    TOK("[CLS]");
    TOK("[SEP]");
    TOK("[MASK]");
    for (int i = 99; i < 994; i++) {
        snprintf(buf, sizeof buf, "[unused%d]", i);
        TOK(buf);
    }
    for (int c = 33; c < 127; c++) {
        if (c >= 'A' && c <= 'Z')
            continue;
        buf[0] = (char)c;
        buf[1] = 0;
        if (!clip_is_word(buf))
            TOK(buf);
    }
    for (size_t i = 0; i < sizeof CLIP_WORDS / sizeof CLIP_WORDS[0]; i++)
        TOK(CLIP_WORDS[i]);
    for (int i = 0; AN[i]; i++) {
        snprintf(buf, sizeof buf, "##%c", AN[i]);
        TOK(buf);
    }
    for (int len = 2; len <= 3; len++) {
        int total = len == 2 ? 26 * 26 : 26 * 26 * 26;
        for (int cont = 1; cont >= 0; cont--)
            for (int k = 0; k < total; k++) {
                int o = cont ? 2 : 0;
                buf[0] = buf[1] = '#';
                for (int j = len - 1, r = k; j >= 0; j--, r /= 26)
                    buf[o + j] = AL[r % 26];
                buf[o + len] = 0;
                if (cont || !clip_is_word(buf))
                    TOK(buf);
            }
    }
full:
#undef TOK
    if (b->oom)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    return MEDGE_OK;
}

static medge_status clip_config(const char *dir, const clip_hp *h)
{
    sb b = {0};
    sb_printf(&b, "{\n  \"model_cfg\": {\n    \"embed_dim\": %d,\n    \"vision_cfg\": {\n      \"timm_model_name\": \"%s\",\n"
                  "      \"timm_model_pretrained\": false,\n      \"timm_pool\": \"\",\n      \"timm_proj\": \"linear\",\n"
                  "      \"image_size\": %d\n    },\n",
              h->proj, h->timm_name, h->image);
    sb_printf(&b, "    \"text_cfg\": {\n      \"hf_model_name\": \"microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract\",\n"
                  "      \"hf_tokenizer_name\": \"microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract\",\n"
                  "      \"hf_proj_type\": \"mlp\",\n      \"hf_pooler_type\": \"cls_last_hidden_state_pooler\",\n"
                  "      \"context_length\": %d\n    }\n  },\n",
              h->ctx);
    sb_printf(&b, "  \"preprocess_cfg\": {\n    \"mean\": [\n      0.48145466,\n      0.4578275,\n      0.40821073\n    ],\n"
                  "    \"std\": [\n      0.26862954,\n      0.26130258,\n      0.27577711\n    ]\n  }\n}\n");
    medge_status rc = write_sb(dir, "open_clip_config.json", &b);
    free(b.s);
    return rc;
}

/* The checkpoint directory: config, F32 safetensors (+ the scalar logit_scale = ln 100, the value
 * training clamps to), vocab.txt (synthetic, or vocab.txt of p->tokenizer_dir). */
static medge_status clip_write_checkpoint(gen_ctx *g, const synth_params *p, tlist *l, const clip_hp *h, const char *dir)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return medge_err(MEDGE_ERR_IO, "%s: cannot create directory: %s", dir, strerror(errno));
    MEDGE_TRY(clip_config(dir, h));
    if (p->tokenizer_dir) {
        char *src = medge_path_join(p->tokenizer_dir, "vocab.txt");
        if (!src)
            return medge_err(MEDGE_ERR_NOMEM, "out of memory");
        medge_status rc = medge_file_size(src) >= 0 ? copy_file(src, dir, "vocab.txt")
                                                    : medge_err(MEDGE_ERR_NOT_FOUND, "%s: no vocab.txt", p->tokenizer_dir);
        free(src);
        MEDGE_TRY(rc);
    } else {
        sb v = {0};
        medge_status rc = clip_vocab(&v, h->vocab);
        if (rc == MEDGE_OK)
            rc = write_sb(dir, "vocab.txt", &v);
        free(v.s);
        MEDGE_TRY(rc);
    }
    sb hdr = {0};
    const float logit_scale = logf(100.0f);
    sb_printf(&hdr, "{\"__metadata__\":{\"format\":\"pt\"},\"logit_scale\":{\"dtype\":\"F32\",\"shape\":[],"
                    "\"data_offsets\":[0,4]}");
    uint64_t off = 4;
    for (int i = 0; i < l->n; i++) {
        const st *t = &l->t[i];
        uint64_t nb = (uint64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]) * 4;
        sb_printf(&hdr, ",\"%s\":{\"dtype\":\"F32\",\"shape\":[", t->hf);
        for (int d = t->n_dims - 1; d >= 0; d--)
            sb_printf(&hdr, "%lld%s", (long long)t->ne[d], d ? "," : "");
        sb_printf(&hdr, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off, (unsigned long long)(off + nb));
        off += nb;
    }
    sb_put(&hdr, "}", 1);
    while (hdr.n % 8)
        sb_put(&hdr, " ", 1);
    if (hdr.oom) {
        free(hdr.s);
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    }
    char *path = medge_path_join(dir, "open_clip_model.safetensors");
    medge_out o;
    medge_status rc = path ? medge_out_open(&o, path) : medge_err(MEDGE_ERR_NOMEM, "out of memory");
    if (rc == MEDGE_OK) {
        uint8_t le[8];
        for (int k = 0; k < 8; k++)
            le[k] = (uint8_t)((uint64_t)hdr.n >> (8 * k));
        rc = medge_out_write(&o, le, 8);
        if (rc == MEDGE_OK)
            rc = medge_out_write(&o, hdr.s, hdr.n);
        if (rc == MEDGE_OK)
            rc = medge_out_write(&o, &logit_scale, 4);
        for (int i = 0; i < l->n && rc == MEDGE_OK; i++) {
            rc = stream_tensor(g, &l->t[i], GGML_TYPE_F32, 0, sink_out, &o);
            if (rc == MEDGE_OK && p->progress)
                p->progress(p->user, l->t[i].hf, i + 1, l->n, o.written);
        }
        if (rc == MEDGE_OK)
            rc = medge_out_commit(&o);
        else
            medge_out_abort(&o);
    }
    free(path);
    free(hdr.s);
    return rc;
}

static void clip_remove_checkpoint(const char *dir)
{
    static const char *const files[] = {"open_clip_config.json", "open_clip_model.safetensors", "vocab.txt"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char *f = medge_path_join(dir, files[i]);
        if (f)
            remove(f);
        free(f);
    }
    rmdir(dir);
}

/* HF format: the checkpoint directory at out. GGUF: the checkpoint in a temporary directory beside
 * out, converted (F32), then quantized to p->type unless that is F32. */
static medge_status clip_write(const synth_params *p, const clip_hp *h, const char *out)
{
    int ftype = QFT_ALL_F32;
    if (p->format == SYNTH_GGUF && p->type) {
        ftype = quant_ftype_from_name(p->type);
        if (ftype < 0)
            return medge_err(MEDGE_ERR_INVALID_ARG, "synth: unknown type '%s' (%s)", p->type, quant_ftype_list());
    }
    tlist l = {0};
    gen_ctx g;
    memset(&g, 0, sizeof g);
    medge_status rc = clip_tensors(h, &l);
    for (int i = 0; i < l.n; i++)
        l.t[i].seed = hash_name(p->seed, l.t[i].hf);
    if (rc == MEDGE_OK)
        rc = medge_pool_create(p->n_threads, &g.pool);
    char *dir = NULL, *f32 = NULL;
    if (rc == MEDGE_OK && p->format == SYNTH_HF) {
        rc = clip_write_checkpoint(&g, p, &l, h, out);
    } else if (rc == MEDGE_OK) {
        size_t n = strlen(out) + 32;
        dir = malloc(n);
        f32 = malloc(n);
        if (!dir || !f32)
            rc = medge_err(MEDGE_ERR_NOMEM, "out of memory");
        if (rc == MEDGE_OK) {
            snprintf(dir, n, "%s.synth-ckpt", out);
            snprintf(f32, n, "%s.synth-f32.gguf", out);
            rc = clip_write_checkpoint(&g, p, &l, h, dir);
        }
        medge_pool_free(g.pool); /* the converter and quantizer bring their own */
        g.pool = NULL;
        bmc_convert_opts co = {false, "BiomedCLIP-PubMedBERT_256-vit_base_patch16_224 (synthetic, random weights)"};
        if (rc == MEDGE_OK)
            rc = bmc_convert(dir, ftype == QFT_ALL_F32 ? out : f32, &co);
        if (dir)
            clip_remove_checkpoint(dir);
        if (rc == MEDGE_OK && ftype != QFT_ALL_F32) {
            quant_model_params qp = quant_model_default_params();
            qp.recipe.ftype = ftype;
            qp.n_threads = p->n_threads;
            quant_model_result res;
            rc = quant_model(f32, out, &qp, &res);
        }
        if (f32)
            remove(f32);
    }
    medge_pool_free(g.pool);
    free(g.buf);
    free(g.scr);
    free(l.t);
    free(dir);
    free(f32);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */

synth_params synth_default_params(void)
{
    synth_params p;
    memset(&p, 0, sizeof p);
    p.preset = "tiny";
    p.format = SYNTH_GGUF;
    p.type = "F16";
    p.seed = 42;
    return p;
}

medge_status synth_write(const synth_params *p, const char *out, const char *mmproj)
{
    if (!p || !out || !p->preset)
        return medge_err(MEDGE_ERR_INVALID_ARG, "synth: missing preset or output path");
    const gemma_hp *h;
    if (strcmp(p->preset, "medgemma-4b") == 0)
        h = &HP_4B;
    else if (strcmp(p->preset, "tiny") == 0)
        h = &HP_TINY;
    else if (strcmp(p->preset, "biomedclip") == 0 || strcmp(p->preset, "biomedclip-tiny") == 0) {
        if (p->format != SYNTH_GGUF && p->format != SYNTH_HF)
            return medge_err(MEDGE_ERR_INVALID_ARG, "synth: unknown format %d", p->format);
        if (mmproj)
            return medge_err(MEDGE_ERR_INVALID_ARG, "synth: BiomedCLIP is one file (no separate mmproj)");
        return clip_write(p, p->preset[10] ? &CLIP_TINY : &CLIP_FULL, out);
    } else
        return medge_err(MEDGE_ERR_INVALID_ARG, "synth: unknown preset '%s' (medgemma-4b, tiny, biomedclip, "
                                                "biomedclip-tiny)", p->preset);
    if (p->format != SYNTH_GGUF && p->format != SYNTH_HF)
        return medge_err(MEDGE_ERR_INVALID_ARG, "synth: unknown format %d", p->format);
    if (p->format == SYNTH_HF && mmproj)
        return medge_err(MEDGE_ERR_INVALID_ARG, "synth: the HF checkpoint holds the vision tower; no separate mmproj");
    const ftype_info *ft = find_ftype(p->type ? p->type : "F16");
    if (!ft)
        return medge_err(MEDGE_ERR_INVALID_ARG, "synth: unknown type '%s'", p->type);
    const quant_traits *bt = quant_get_traits((uint32_t)ft->base);
    if (p->format == SYNTH_GGUF && bt->quantized && !bt->from_float_ref)
        return medge_err(MEDGE_ERR_UNSUPPORTED, "synth: no %s quantizer in this build", bt->name);

    tlist l = {0};
    vocab v;
    memset(&v, 0, sizeof v);
    gen_ctx g;
    memset(&g, 0, sizeof g);
    medge_status rc = gemma_tensors(h, &l);
    for (int i = 0; i < l.n; i++)
        l.t[i].seed = hash_name(p->seed, l.t[i].hf);
    if (rc == MEDGE_OK) {
        uint64_t total;
        assign_shards(&l, h->shard_bytes, &total);
        choose_types(&l, ft, h->n_layer);
    }
    if (rc == MEDGE_OK && p->format == SYNTH_GGUF) {
        for (int i = 0; i < l.n && rc == MEDGE_OK; i++) {
            const quant_traits *tr = quant_get_traits(l.t[i].type);
            if (tr->quantized && !tr->from_float_ref)
                rc = medge_err(MEDGE_ERR_UNSUPPORTED, "synth: %s needs %s, which has no quantizer in this build", l.t[i].gg, tr->name);
        }
    }
    if (rc == MEDGE_OK && (p->format == SYNTH_HF ? !p->tokenizer_dir : 1))
        rc = vocab_build(h, &v);
    if (rc == MEDGE_OK)
        rc = medge_pool_create(p->n_threads, &g.pool);
    if (rc == MEDGE_OK) {
        if (p->format == SYNTH_HF) {
            rc = write_hf(&g, p, &l, out, h, &v);
        } else {
            int done = 0, total = 0;
            for (int i = 0; i < l.n; i++)
                total += l.t[i].file == 0 || mmproj;
            rc = write_gguf_file(&g, p, &l, 0, out, h, ft, &v, &done, total);
            if (rc == MEDGE_OK && mmproj)
                rc = write_gguf_file(&g, p, &l, 1, mmproj, h, ft, &v, &done, total);
        }
    }
    medge_pool_free(g.pool);
    free(g.buf);
    free(g.scr);
    vocab_free(&v);
    free(l.t);
    return rc;
}
