/* recipe.h - which type each tensor gets when a model is quantized, as llama.cpp's
 * llama-quantize decides it (src/llama-quant.cpp at the reference commit: tensor order,
 * tensor_allows_quantization, llama_tensor_get_type_impl mixtures, user overrides and
 * tensor_type_fallback; specs/quantization.md §10, specs/gemma3.md §6). */
#ifndef MEDGE_QUANT_RECIPE_H
#define MEDGE_QUANT_RECIPE_H
#include "core/error.h"
#include "formats/gguf.h"
#include "quant/types.h"

/* llama_ftype values (as stored in general.file_type) */
enum quant_ftype {
    QFT_ALL_F32 = 0, QFT_F16 = 1, QFT_Q4_0 = 2, QFT_Q4_1 = 3, QFT_Q8_0 = 7, QFT_Q5_0 = 8, QFT_Q5_1 = 9,
    QFT_Q2_K = 10, QFT_Q3_K_S = 11, QFT_Q3_K_M = 12, QFT_Q3_K_L = 13, QFT_Q4_K_S = 14, QFT_Q4_K_M = 15,
    QFT_Q5_K_S = 16, QFT_Q5_K_M = 17, QFT_Q6_K = 18, QFT_Q2_K_S = 21, QFT_IQ4_NL = 25, QFT_IQ4_XS = 30,
    QFT_BF16 = 32
};

/* ftype by llama-quantize name ("Q4_K_S", "q8_0", "Q4_K" = Q4_K_M, ...); -1 if unknown. */
int quant_ftype_from_name(const char *name);
const char *quant_ftype_name(int ftype);
/* The ftype's default tensor type (llama_ftype_get_default_type). */
enum ggml_type quant_ftype_default_type(int ftype);
/* "Q4_0, Q4_1, ..." for help and error messages (static string). */
const char *quant_ftype_list(void);

typedef struct quant_type_override {
    const char *pattern; /* POSIX extended regex, searched anywhere in the tensor name */
    enum ggml_type type;
} quant_type_override;

typedef struct quant_recipe {
    int ftype;
    bool pure;                  /* one type for every quantizable tensor (--pure) */
    bool has_imatrix;           /* some mixture rules depend on it */
    int output_type;            /* --output-tensor-type, -1 if not given */
    int token_embd_type;        /* --token-embedding-type, -1 if not given */
    const quant_type_override *overrides; /* --tensor-type, in the order given */
    int n_overrides;
} quant_recipe;

typedef struct quant_plan_entry {
    uint64_t index;       /* tensor index in the input file */
    enum ggml_type type;  /* output type */
    bool quantize;        /* false: data copied unchanged */
    bool fallback;        /* the recipe's type did not fit the row length */
    enum ggml_type wanted;/* type before the fallback */
    bool requires_imatrix;
} quant_plan_entry;

typedef struct quant_plan {
    quant_plan_entry *t; /* in output order (llama.cpp's: by layer number, then name) */
    uint64_t n;
    int n_fallback;
} quant_plan;

/* Decide every tensor's type for a model read from g. Errors: unknown/unsupported types,
 * overrides that do not compile. quant_plan_free releases plan->t. */
medge_status quant_plan_make(const gguf_ctx *g, const quant_recipe *r, quant_plan *plan);
void quant_plan_free(quant_plan *plan);
#endif
