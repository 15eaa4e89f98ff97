/* siglip.h - the Gemma 3 vision tower (SigLIP ViT) and its projector, loaded from an mmproj GGUF
 * (arch "clip", projector type "gemma3", llama.cpp's layout and medge's), turning one image into
 * n_tokens embeddings of the text model's width. */
#ifndef MEDGE_MODELS_SIGLIP_H
#define MEDGE_MODELS_SIGLIP_H
#include "formats/gguf.h"
#include "ops/ops.h"

typedef struct siglip_layer {
    const float *ln1_w, *ln1_b, *ln2_w, *ln2_b;       /* [n_embd] */
    medge_tensor q, k, v, o;                          /* [n_embd -> n_embd] */
    const float *q_b, *k_b, *v_b, *o_b;               /* [n_embd] */
    medge_tensor up, down;                            /* [n_embd -> n_ff], [n_ff -> n_embd] */
    const float *up_b, *down_b;                       /* [n_ff], [n_embd] */
} siglip_layer;

typedef struct siglip_model {
    gguf_ctx *gguf;
    int image_size, patch, grid;  /* grid = image_size / patch patches per side */
    int n_embd, n_ff, n_layer, n_head, head_dim;
    int merge;                    /* average-pooling kernel and stride (4 for Gemma 3) */
    int n_tokens;                 /* (grid / merge)^2 image embeddings */
    int proj_dim;                 /* text model width */
    float eps;
    float mean[3], std[3];
    medge_tensor patch_w;         /* [3 * patch * patch -> n_embd] (conv kernel as rows) */
    const float *patch_b;         /* [n_embd] */
    const float *pos;             /* [grid * grid][n_embd] */
    siglip_layer *layers;
    const float *post_ln_w, *post_ln_b; /* [n_embd] */
    const float *soft_norm_w;     /* [n_embd], stored as (1 + w) */
    medge_tensor proj;            /* [n_embd -> proj_dim] (transposed from the file at load) */
    void **owned;                 /* buffers converted or transposed at load */
    int n_owned;
    int attn_prec;                /* ops_attn_prec of the attention products (BF16 unless F32 weights) */
    int f16_patches;              /* round patch pixels and kernel to F16 as ggml's conv does */
} siglip_model;

medge_status siglip_load(const char *path, siglip_model **out);
medge_status siglip_load_gguf(gguf_ctx *g, siglip_model **out); /* takes ownership of g on success */
void siglip_free(siglip_model *m);
/* pixels: [3][image_size][image_size] normalised planes; out: [n_tokens][proj_dim]. */
medge_status siglip_encode(const siglip_model *m, medge_pool *pool, ops_scratch *scratch, const float *pixels,
                           float *out);
#endif
