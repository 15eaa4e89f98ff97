/* biomedclip.h - BiomedCLIP (open_clip CustomTextCLIP): a ViT image tower (pre-LN, exact GELU, CLS
 * pooling, linear head) and a BERT text tower (post-LN, exact GELU, CLS of the last layer, 2-layer
 * MLP head), both into one joint space; open_clip's image preprocessing bit for bit. Loaded from the
 * GGUF that convert/biomedclip.c writes (specs/biomedclip.md §7.3), weights used in place. */
#ifndef MEDGE_MODELS_BIOMEDCLIP_H
#define MEDGE_MODELS_BIOMEDCLIP_H
#include "core/threadpool.h"
#include "formats/gguf.h"
#include "ops/ops.h"
#include "text/wordpiece.h"

/* A linear layer's weight: the view into the GGUF and, after bmc_prepack, its rows repacked once
 * into the panels the kernel table's GEMM tiles read (the repack ops_matmul would otherwise
 * redo on every call). */
typedef struct bmc_lin {
    medge_tensor w;
    uint8_t *panels;    /* NULL: products go through ops_matmul (I8_PC: the reference dot) */
    size_t panel_bytes; /* per panel of the kernel's rows (64-byte multiple) */
    int small;          /* F32/F16 panels of ops/gemm-f32s.h (text tower: a few tokens per product) */
} bmc_lin;

typedef struct bmc_vlayer {
    const float *ln1_w, *ln1_b, *qkv_b, *out_b, *ln2_w, *ln2_b, *up_b, *down_b;
    bmc_lin qkv;  /* {D, 3D}: rows Q then K then V */
    bmc_lin out;  /* {D, D} */
    bmc_lin up;   /* {D, FF} */
    bmc_lin down; /* {FF, D} */
} bmc_vlayer;

typedef struct bmc_tlayer {
    const float *q_b, *k_b, *v_b, *out_b, *ln1_w, *ln1_b, *up_b, *down_b, *ln2_w, *ln2_b;
    bmc_lin q, k, v, out, up, down;
} bmc_tlayer;

typedef struct bmc_model {
    gguf_ctx *g;
    /* vision */
    int image, patch, grid, n_vtok, vd, vh, vff, vl, proj;
    float veps;
    float mean[3], std[3];
    bmc_lin patch_w; /* {3*P*P, D} viewed as a matrix (row = c, ky, kx) */
    const float *patch_b;
    medge_tensor cls, vpos; /* {D, 1}, {D, n_vtok} */
    bmc_vlayer *vlay;
    const float *post_w, *post_b;
    bmc_lin vproj; /* {D, proj} */
    /* text */
    int td, th, tff, tl, ctx, n_vocab, tp0;
    float teps;
    medge_tensor tok, tpos, ttype; /* {D, vocab}, {D, n_pos}, {D, n_types} */
    const float *tln_w, *tln_b;
    bmc_tlayer *tlay;
    bmc_lin p0, p2; /* {D, tp0}, {tp0, proj} */
    float logit_scale;   /* raw (log space) */
    wp_vocab *vocab;
    uint8_t *packed; /* bmc_prepack's block holding every bmc_lin's panels */
} bmc_model;

/* Load from an opened GGUF (ownership of g passes to the model, also on failure). */
medge_status bmc_load(gguf_ctx *g, bmc_model **out);
void bmc_free(bmc_model *m);
/* Repack every linear weight whose type has a GEMM with a panel layout, once, in parallel (same
 * tiles, so the same products as ops_matmul's batch path). When the GGUF is a file mapping, the
 * repacked rows' pages are released from the mapping (they stay in the page cache), so the
 * resident size does not double. Optional: without it products go through ops_matmul. */
medge_status bmc_prepack(bmc_model *m, medge_pool *pool);

/* Per-thread working memory of a forward pass. */
typedef struct bmc_work {
    medge_pool *pool;
    ops_scratch scratch;
    float *buf;
    size_t buf_floats;
} bmc_work;
void bmc_work_free(bmc_work *w);

/* open_clip preprocessing of 8-bit interleaved RGB (w x h) into out[3][image][image]: Pillow's
 * antialiased bicubic resize of the shortest side to `image` (fixed point, horizontal pass first),
 * round-half-even center crop, /255, (x - mean) / std. */
medge_status bmc_preprocess(const bmc_model *m, const uint8_t *rgb, int w, int h, float *out);
/* Image features (before normalisation) of preprocessed pixels: feat[proj]. */
medge_status bmc_encode_image(const bmc_model *m, bmc_work *wk, const float *pixels, float *feat);
/* Text features (before normalisation) of token ids ([CLS] ... [SEP], n <= ctx): feat[proj]. */
medge_status bmc_encode_text(const bmc_model *m, bmc_work *wk, const int32_t *ids, int n, float *feat);
/* open_clip's HFTokenizer for this model: html-unescape (twice) and whitespace cleanup, then BERT
 * WordPiece into [CLS] ... [SEP], truncated to the context length (keeping [SEP]). *ids is
 * malloc'd (free()). */
medge_status bmc_tokenize(const bmc_model *m, const char *text, int32_t **ids, int *n);
/* Unmasked multi-head attention (heads of 64) of nq queries over nk keys, rows strided (the fused
 * QKV rows of the ViT): out[i][h*64..] = softmax_s(scale q_i,h . k_s,h) v_s,h. Splits over the
 * pool; scratch: bmc_attn_scratch(nk, n_head, threads) floats. (biomedclip-attn.c) */
typedef struct bmc_attn {
    const float *q, *k, *v;
    size_t ldq, ldk, ldv; /* row strides in floats */
    float *out;
    size_t ldo;
    int nq, nk, n_head;
    float scale;
} bmc_attn;
size_t bmc_attn_scratch(int nk, int n_head, int n_threads);
void bmc_attention(medge_pool *pool, const bmc_attn *a, float *scratch);

/* x /= max(||x||, 1e-12). */
void bmc_l2_normalize(float *x, int n);
#endif
