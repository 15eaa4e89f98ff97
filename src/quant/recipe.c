/* recipe.c - per-tensor type decisions of llama-quantize (see recipe.h). The mixture rules are
 * written for the architectures medge handles (Gemma 3 text, CLIP mmproj, arch-less tensor
 * files); rules that only fire for Falcon, 70B or mixture-of-experts models are kept where they
 * cost nothing, so other llama.cpp GGUFs get the same types too. */
#include "quant/recipe.h"
#include "core/log.h"
#include "quant/quant.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct {
    const char *name;
    int ftype;
} kFtypes[] = {
    {"Q4_0", QFT_Q4_0},     {"Q4_1", QFT_Q4_1},     {"Q5_0", QFT_Q5_0},     {"Q5_1", QFT_Q5_1},
    {"IQ4_NL", QFT_IQ4_NL}, {"IQ4_XS", QFT_IQ4_XS}, {"Q2_K", QFT_Q2_K},     {"Q2_K_S", QFT_Q2_K_S},
    {"Q3_K_S", QFT_Q3_K_S}, {"Q3_K_M", QFT_Q3_K_M}, {"Q3_K_L", QFT_Q3_K_L}, {"Q4_K_S", QFT_Q4_K_S},
    {"Q4_K_M", QFT_Q4_K_M}, {"Q5_K_S", QFT_Q5_K_S}, {"Q5_K_M", QFT_Q5_K_M}, {"Q6_K", QFT_Q6_K},
    {"Q8_0", QFT_Q8_0},     {"F16", QFT_F16},       {"BF16", QFT_BF16},     {"F32", QFT_ALL_F32},
};

int quant_ftype_from_name(const char *name)
{
    for (size_t i = 0; i < sizeof kFtypes / sizeof *kFtypes; i++)
        if (strcasecmp(kFtypes[i].name, name) == 0)
            return kFtypes[i].ftype;
    /* llama-quantize's aliases */
    if (strcasecmp(name, "Q3_K") == 0)
        return QFT_Q3_K_M;
    if (strcasecmp(name, "Q4_K") == 0)
        return QFT_Q4_K_M;
    if (strcasecmp(name, "Q5_K") == 0)
        return QFT_Q5_K_M;
    return -1;
}

const char *quant_ftype_name(int ftype)
{
    for (size_t i = 0; i < sizeof kFtypes / sizeof *kFtypes; i++)
        if (kFtypes[i].ftype == ftype)
            return kFtypes[i].name;
    return "?";
}

const char *quant_ftype_list(void)
{
    return "Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL, IQ4_XS, Q2_K, Q2_K_S, Q3_K_S, Q3_K_M (Q3_K), Q3_K_L, Q4_K_S, "
           "Q4_K_M (Q4_K), Q5_K_S, Q5_K_M (Q5_K), Q6_K, Q8_0, F16, BF16, F32";
}

enum ggml_type quant_ftype_default_type(int ftype)
{
    switch (ftype) {
    case QFT_ALL_F32: return GGML_TYPE_F32;
    case QFT_F16: return GGML_TYPE_F16;
    case QFT_BF16: return GGML_TYPE_BF16;
    case QFT_Q4_0: return GGML_TYPE_Q4_0;
    case QFT_Q4_1: return GGML_TYPE_Q4_1;
    case QFT_Q5_0: return GGML_TYPE_Q5_0;
    case QFT_Q5_1: return GGML_TYPE_Q5_1;
    case QFT_Q8_0: return GGML_TYPE_Q8_0;
    case QFT_Q2_K: case QFT_Q2_K_S: return GGML_TYPE_Q2_K;
    case QFT_Q3_K_S: case QFT_Q3_K_M: case QFT_Q3_K_L: return GGML_TYPE_Q3_K;
    case QFT_Q4_K_S: case QFT_Q4_K_M: return GGML_TYPE_Q4_K;
    case QFT_Q5_K_S: case QFT_Q5_K_M: return GGML_TYPE_Q5_K;
    case QFT_Q6_K: return GGML_TYPE_Q6_K;
    case QFT_IQ4_NL: return GGML_TYPE_IQ4_NL;
    case QFT_IQ4_XS: return GGML_TYPE_IQ4_XS;
    default: return GGML_TYPE_COUNT;
    }
}

/* ---- tensor order: llama_model_loader's weights_map (layer number of "blk.N.", -1 first) ---- */

static int layer_of(const char *name)
{
    int l;
    if (sscanf(name, "blk.%d.", &l) == 1)
        return l;
    return -1;
}

typedef struct sort_item {
    uint64_t index;
    const char *name;
    int layer;
} sort_item;

static int cmp_tensor(const void *pa, const void *pb)
{
    const sort_item *a = pa, *b = pb;
    if (a->layer != b->layer)
        return a->layer < b->layer ? -1 : 1;
    return strcmp(a->name, b->name);
}

/* ---- llama.cpp's categories ---- */

enum cat { C_TOKEN_EMBD, C_ATTN_Q, C_ATTN_V, C_ATTN_K, C_ATTN_QKV, C_ATTN_KV_B, C_ATTN_OUTPUT, C_FFN_UP, C_FFN_GATE,
           C_FFN_DOWN, C_OUTPUT, C_OTHER };

static enum cat category(const char *n)
{
    if (strcmp(n, "output.weight") == 0)
        return C_OUTPUT;
    if (strcmp(n, "token_embd.weight") == 0 || strcmp(n, "per_layer_token_embd.weight") == 0)
        return C_TOKEN_EMBD;
    if (strstr(n, "attn_qkv.weight"))
        return C_ATTN_QKV;
    if (strstr(n, "attn_kv_b.weight"))
        return C_ATTN_KV_B;
    if (strstr(n, "attn_v.weight"))
        return C_ATTN_V;
    if (strstr(n, "attn_k.weight"))
        return C_ATTN_K;
    if (strstr(n, "attn_q.weight"))
        return C_ATTN_Q;
    if (strstr(n, "attn_output.weight"))
        return C_ATTN_OUTPUT;
    if (strstr(n, "ffn_up"))
        return C_FFN_UP;
    if (strstr(n, "ffn_gate"))
        return C_FFN_GATE;
    if (strstr(n, "ffn_down"))
        return C_FFN_DOWN;
    return C_OTHER;
}

static bool is_attn_v(enum cat c) { return c == C_ATTN_V || c == C_ATTN_QKV || c == C_ATTN_KV_B; }

/* Architectures whose tensors follow llama.cpp's naming (so its rules apply). Anything else,
 * or no general.architecture at all, is treated as a plain tensor file. */
static bool known_arch(const char *arch)
{
    static const char *const kArch[] = {"gemma3", "gemma3n", "gemma2", "gemma", "clip", "llama", "llama4", "mistral3",
                                        "qwen2", "qwen2vl", "qwen3", "qwen3moe", "phi2", "phi3", "falcon", "gpt2",
                                        "starcoder2", "bert", "nomic-bert", "mamba", "t5", "command-r", "olmo2",
                                        "deepseek2", "granite", "smollm3", "exaone"};
    for (size_t i = 0; arch && i < sizeof kArch / sizeof *kArch; i++)
        if (strcmp(arch, kArch[i]) == 0)
            return true;
    return false;
}

static bool allows_quantization(const gguf_tensor *t, const char *arch)
{
    const char *n = t->name.s;
    int n_dims = 1;
    for (int d = 1; d < GGUF_MAX_DIMS; d++)
        if (t->ne[d] > 1)
            n_dims = d + 1;
    if (n_dims < 2)
        return false;
    if (!known_arch(arch)) /* a plain tensor file: every 2-D+ F32 tensor is a candidate */
        return t->type == GGML_TYPE_F32;
    size_t l = strlen(n);
    if (l < 6 || strcmp(n + l - 6, "weight") != 0)
        return false;
    static const char *const kNever[] = {"_norm.weight", "ffn_gate_inp.weight", "altup", "laurel", "per_layer_model_proj",
                                         "ssm_conv1d", "shortconv.conv.weight", "attn_rel_b.weight", ".position_embd."};
    for (size_t i = 0; i < sizeof kNever / sizeof *kNever; i++)
        if (strstr(n, kNever[i]))
            return false;
    const char *tm = strstr(n, "time_mix_");
    if (tm) {
        static const char *const kRwkv[] = {"first.weight", "w0.weight", "w1.weight", "w2.weight", "v0.weight",
                                            "v1.weight", "v2.weight", "a0.weight", "a1.weight", "a2.weight",
                                            "g1.weight", "g2.weight", "decay_w1.weight", "decay_w2.weight",
                                            "lerp_fused.weight"};
        for (size_t i = 0; i < sizeof kRwkv / sizeof *kRwkv; i++)
            if (strncmp(tm + 9, kRwkv[i], strlen(kRwkv[i])) == 0)
                return false;
    }
    if (strcmp(n, "position_embd.weight") == 0 || strcmp(n, "token_types.weight") == 0)
        return false;
    return true;
}

typedef struct state {
    const quant_recipe *r;
    int n_attention_wv, n_ffn_down, n_ffn_gate, n_ffn_up;
    int i_attention_wv, i_ffn_down, i_ffn_gate, i_ffn_up;
    int n_fallback;
    bool has_output;
    int n_gqa, n_expert;
    bool falcon;
} state;

static bool use_more_bits(int i_layer, int n_layers)
{
    return i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 || (i_layer - n_layers / 8) % 3 == 2;
}

static int64_t blck(enum ggml_type t) { return quant_get_traits(t)->blck; }

/* llama_tensor_get_type_impl for the non-IQ1/IQ2/IQ3 ftypes medge writes */
static enum ggml_type mixture(state *s, enum ggml_type nt, const gguf_tensor *t, enum cat c)
{
    const int ft = s->r->ftype;
    const char *name = t->name.s;
    if (c == C_OUTPUT || (!s->has_output && c == C_TOKEN_EMBD)) {
        if (s->r->output_type >= 0)
            nt = (enum ggml_type)s->r->output_type;
        else if (s->falcon || t->ne[0] % blck(nt) != 0)
            nt = GGML_TYPE_Q8_0;
        else if (nt != GGML_TYPE_Q8_0)
            nt = GGML_TYPE_Q6_K;
    } else if (c == C_TOKEN_EMBD) {
        if (s->r->token_embd_type >= 0)
            nt = (enum ggml_type)s->r->token_embd_type;
    } else if (is_attn_v(c)) {
        if (ft == QFT_Q2_K)
            nt = s->n_gqa >= 4 ? GGML_TYPE_Q4_K : GGML_TYPE_Q3_K;
        else if (ft == QFT_Q2_K_S && s->n_gqa >= 4)
            nt = GGML_TYPE_Q4_K;
        else if (ft == QFT_Q3_K_M)
            nt = s->i_attention_wv < 2 ? GGML_TYPE_Q5_K : GGML_TYPE_Q4_K;
        else if (ft == QFT_Q3_K_L)
            nt = GGML_TYPE_Q5_K;
        else if ((ft == QFT_IQ4_NL || ft == QFT_IQ4_XS) && s->n_gqa >= 4)
            nt = GGML_TYPE_Q5_K;
        else if ((ft == QFT_Q4_K_M || ft == QFT_Q5_K_M) && use_more_bits(s->i_attention_wv, s->n_attention_wv))
            nt = GGML_TYPE_Q6_K;
        else if (ft == QFT_Q4_K_S && s->i_attention_wv < 4)
            nt = GGML_TYPE_Q5_K;
        if (s->n_expert == 8)
            nt = GGML_TYPE_Q8_0;
        ++s->i_attention_wv;
    } else if (c == C_ATTN_K) {
        if (s->n_expert == 8)
            nt = GGML_TYPE_Q8_0;
    } else if (c == C_FFN_DOWN) {
        int i_layer = s->i_ffn_down, n_layer = s->n_ffn_down;
        if (s->n_expert > 1)
            i_layer = layer_of(name);
        if (ft == QFT_Q2_K)
            nt = GGML_TYPE_Q3_K;
        else if (ft == QFT_Q2_K_S) {
            if (i_layer < n_layer / 8)
                nt = GGML_TYPE_Q4_K;
        } else if (ft == QFT_Q3_K_M)
            nt = i_layer < n_layer / 16 ? GGML_TYPE_Q5_K
                 : !s->falcon || use_more_bits(i_layer, n_layer) ? GGML_TYPE_Q4_K
                                                                 : GGML_TYPE_Q3_K;
        else if (ft == QFT_Q3_K_L)
            nt = s->falcon ? GGML_TYPE_Q4_K : GGML_TYPE_Q5_K;
        else if (ft == QFT_Q4_K_M) {
            if (s->falcon)
                nt = i_layer < n_layer / 16 ? GGML_TYPE_Q6_K
                     : use_more_bits(i_layer, n_layer) ? GGML_TYPE_Q5_K
                                                       : GGML_TYPE_Q4_K;
            else if (use_more_bits(i_layer, n_layer))
                nt = GGML_TYPE_Q6_K;
        } else if (i_layer < n_layer / 8 && (ft == QFT_IQ4_NL || ft == QFT_IQ4_XS) && !s->r->has_imatrix)
            nt = GGML_TYPE_Q5_K;
        else if (ft == QFT_Q5_K_M && use_more_bits(i_layer, n_layer))
            nt = GGML_TYPE_Q6_K;
        else if (ft == QFT_Q4_K_S && !s->falcon && i_layer < n_layer / 8)
            nt = GGML_TYPE_Q5_K;
        else if ((ft == QFT_Q4_0 || ft == QFT_Q5_0) && s->r->has_imatrix && i_layer < n_layer / 8)
            nt = ft == QFT_Q4_0 ? GGML_TYPE_Q4_1 : GGML_TYPE_Q5_1;
        ++s->i_ffn_down;
    } else if (c == C_ATTN_OUTPUT) {
        if (!s->falcon) {
            if (s->n_expert == 8) {
                if (ft == QFT_Q2_K || ft == QFT_Q3_K_S || ft == QFT_Q3_K_M || ft == QFT_IQ4_NL || ft == QFT_Q4_K_S ||
                    ft == QFT_Q4_K_M || ft == QFT_IQ4_XS)
                    nt = GGML_TYPE_Q5_K;
            } else {
                if (ft == QFT_Q2_K)
                    nt = GGML_TYPE_Q3_K;
                else if (ft == QFT_Q3_K_M)
                    nt = GGML_TYPE_Q4_K;
                else if (ft == QFT_Q3_K_L)
                    nt = GGML_TYPE_Q5_K;
            }
        } else if (ft == QFT_Q3_K_L)
            nt = GGML_TYPE_Q4_K;
    } else if (c == C_ATTN_QKV) {
        if (ft == QFT_Q3_K_M || ft == QFT_Q3_K_L)
            nt = GGML_TYPE_Q4_K;
        else if (ft == QFT_Q4_K_M)
            nt = GGML_TYPE_Q5_K;
        else if (ft == QFT_Q5_K_M)
            nt = GGML_TYPE_Q6_K;
    } else if (c == C_FFN_GATE) {
        ++s->i_ffn_gate;
    } else if (c == C_FFN_UP) {
        ++s->i_ffn_up;
    }
    return nt;
}

/* tensor_type_fallback; *fell set when the row length does not fit */
static enum ggml_type fallback(state *s, const gguf_tensor *t, enum ggml_type target, bool *fell)
{
    const int64_t ncols = t->ne[0];
    *fell = false;
    if (ncols % blck(target) == 0)
        return target;
    *fell = true;
    s->n_fallback++;
    enum ggml_type rt;
    switch (target) {
    case GGML_TYPE_IQ4_XS: rt = GGML_TYPE_IQ4_NL; break;
    case GGML_TYPE_Q2_K: case GGML_TYPE_Q3_K: rt = GGML_TYPE_Q4_0; break;
    case GGML_TYPE_Q4_K: rt = GGML_TYPE_Q5_0; break;
    case GGML_TYPE_Q5_K: rt = GGML_TYPE_Q5_1; break;
    case GGML_TYPE_Q6_K: rt = GGML_TYPE_Q8_0; break;
    default:
        /* llama.cpp stops with "no tensor type fallback is defined"; medge keeps going with F16 */
        rt = GGML_TYPE_F16;
        break;
    }
    if (ncols % blck(rt) != 0)
        rt = GGML_TYPE_F16;
    MEDGE_LOGW("%s: row length %lld is not a multiple of the %s block size %lld: falling back to %s", t->name.s,
               (long long)ncols, quant_type_name(target), (long long)blck(target), quant_type_name(rt));
    return rt;
}

static bool requires_imatrix(const char *name, enum ggml_type t, int ftype)
{
    if (strcmp(name, "token_embd.weight") == 0 || strcmp(name, "per_layer_token_embd.weight") == 0 ||
        strcmp(name, "output.weight") == 0)
        return false;
    switch (t) {
    case GGML_TYPE_IQ3_XXS: case GGML_TYPE_IQ2_XXS: case GGML_TYPE_IQ2_XS: case GGML_TYPE_IQ2_S:
    case GGML_TYPE_IQ1_M: case GGML_TYPE_IQ1_S:
        return true;
    case GGML_TYPE_Q2_K:
        return ftype == QFT_Q2_K_S;
    default:
        return false;
    }
}

static int64_t get_int(const gguf_ctx *g, const char *arch, const char *suffix, int64_t def)
{
    char key[160];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    const gguf_value *v = gguf_get(g, key);
    int64_t x;
    if (v && gguf_value_int(v, &x))
        return x;
    if (v && v->type == GGUF_ARR && v->arr.n > 0 && gguf_vtype_size(v->arr.type)) { /* per-layer arrays */
        gguf_value e = {.type = v->arr.type};
        memcpy(&e.u64, v->arr.data, gguf_vtype_size(v->arr.type));
        if (gguf_value_int(&e, &x))
            return x;
    }
    return def;
}

void quant_plan_free(quant_plan *plan)
{
    free(plan->t);
    plan->t = NULL;
    plan->n = 0;
}

medge_status quant_plan_make(const gguf_ctx *g, const quant_recipe *r, quant_plan *plan)
{
    memset(plan, 0, sizeof *plan);
    const enum ggml_type def = quant_ftype_default_type(r->ftype);
    if (def == GGML_TYPE_COUNT)
        return medge_err(MEDGE_ERR_INVALID_ARG, "unsupported file type %d", r->ftype);
    for (int i = 0; i < r->n_overrides; i++)
        if (!quant_can_quantize(r->overrides[i].type))
            return medge_err(MEDGE_ERR_UNSUPPORTED, "--tensor-type %s: medge cannot quantize to %s", r->overrides[i].pattern,
                             quant_type_name(r->overrides[i].type));
    if ((r->output_type >= 0 && !quant_can_quantize((enum ggml_type)r->output_type)) ||
        (r->token_embd_type >= 0 && !quant_can_quantize((enum ggml_type)r->token_embd_type)))
        return medge_err(MEDGE_ERR_UNSUPPORTED, "medge cannot quantize to the requested output / token embedding type");

    regex_t *re = calloc((size_t)(r->n_overrides > 0 ? r->n_overrides : 1), sizeof *re);
    plan->t = calloc((size_t)(g->n_tensors ? g->n_tensors : 1), sizeof *plan->t);
    if (!re || !plan->t) {
        free(re);
        free(plan->t);
        plan->t = NULL;
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    }
    int n_re = 0;
    medge_status rc = MEDGE_OK;
    for (; n_re < r->n_overrides; n_re++)
        if (regcomp(&re[n_re], r->overrides[n_re].pattern, REG_EXTENDED | REG_NOSUB) != 0) {
            rc = medge_err(MEDGE_ERR_INVALID_ARG, "--tensor-type: bad regular expression '%s'", r->overrides[n_re].pattern);
            break;
        }

    plan->n = g->n_tensors;
    sort_item *items = malloc((size_t)(g->n_tensors ? g->n_tensors : 1) * sizeof *items);
    if (!items) {
        rc = medge_err(MEDGE_ERR_NOMEM, "out of memory");
    } else {
        for (uint64_t i = 0; i < g->n_tensors; i++) {
            items[i].index = i;
            items[i].name = g->tensors[i].name.s;
            items[i].layer = layer_of(items[i].name);
        }
        qsort(items, (size_t)plan->n, sizeof *items, cmp_tensor);
        for (uint64_t i = 0; i < g->n_tensors; i++)
            plan->t[i].index = items[i].index;
        free(items);
    }

    const char *arch = "";
    gguf_get_str(g, "general.architecture", &arch);
    state s = {.r = r};
    s.falcon = strcmp(arch, "falcon") == 0;
    const int64_t n_layer = get_int(g, arch, "block_count", 0);
    const int64_t n_head = get_int(g, arch, "attention.head_count", 0);
    const int64_t n_head_kv = get_int(g, arch, "attention.head_count_kv", n_head);
    s.n_gqa = n_head_kv > 0 ? (int)(n_head / n_head_kv) : 0;
    s.n_expert = (int)get_int(g, arch, "expert_count", 0);
    s.n_ffn_down = s.n_ffn_gate = s.n_ffn_up = (int)n_layer;
    for (uint64_t k = 0; k < plan->n; k++) {
        const char *name = g->tensors[plan->t[k].index].name.s;
        if (is_attn_v(category(name)))
            s.n_attention_wv++;
        if (strcmp(name, "output.weight") == 0)
            s.has_output = true;
    }

    for (uint64_t k = 0; k < plan->n && rc == MEDGE_OK; k++) {
        quant_plan_entry *e = &plan->t[k];
        const gguf_tensor *t = &g->tensors[e->index];
        const enum cat c = category(t->name.s);
        enum ggml_type nt = (enum ggml_type)t->type;
        e->wanted = GGML_TYPE_COUNT;
        if (!allows_quantization(t, arch)) {
            /* kept as is */
        } else if (r->token_embd_type >= 0 && c == C_TOKEN_EMBD) {
            nt = (enum ggml_type)r->token_embd_type;
        } else if (r->output_type >= 0 && c == C_OUTPUT) {
            nt = (enum ggml_type)r->output_type;
        } else {
            nt = def;
            if (!r->pure && quant_get_traits(def)->quantized) {
                bool manual = false;
                for (int i = 0; i < n_re; i++)
                    if (regexec(&re[i], t->name.s, 0, NULL, 0) == 0 && r->overrides[i].type != nt) {
                        nt = r->overrides[i].type;
                        manual = true;
                        break;
                    }
                if (!manual)
                    nt = mixture(&s, nt, t, c);
                e->wanted = nt;
                nt = fallback(&s, t, nt, &e->fallback);
            } else if (t->ne[0] % blck(nt) != 0) {
                /* --pure (or a float ftype) on a tensor whose rows do not fit: llama.cpp would fail; keep it */
                MEDGE_LOGW("%s: row length %lld is not a multiple of the %s block size: copied unchanged", t->name.s,
                           (long long)t->ne[0], quant_type_name(nt));
                e->wanted = nt;
                e->fallback = true;
                s.n_fallback++;
                nt = (enum ggml_type)t->type;
            }
        }
        if (e->wanted == GGML_TYPE_COUNT)
            e->wanted = nt;
        e->type = nt;
        e->quantize = nt != (enum ggml_type)t->type;
        e->requires_imatrix = e->quantize && requires_imatrix(t->name.s, nt, r->ftype);
        if (e->quantize && !quant_can_quantize(nt))
            rc = medge_err(MEDGE_ERR_UNSUPPORTED, "%s: medge cannot quantize to %s", t->name.s, quant_type_name(nt));
    }
    plan->n_fallback = s.n_fallback;
    for (int i = 0; i < n_re; i++)
        regfree(&re[i]);
    free(re);
    if (rc != MEDGE_OK)
        quant_plan_free(plan);
    return rc;
}
