/* model-quant.h - quantize a whole GGUF model file as llama-quantize does, streaming: tensor by
 * tensor, in batches of rows split over a thread pool, written through the GGUF writer (temporary
 * name, renamed when complete; nothing is left behind on failure). */
#ifndef MEDGE_QUANT_MODEL_QUANT_H
#define MEDGE_QUANT_MODEL_QUANT_H
#include "quant/recipe.h"

typedef struct quant_progress {
    uint64_t i, n;          /* tensor i of n (1-based i) */
    const char *name;
    uint32_t n_dims;
    int64_t ne[4];
    uint32_t src_type, dst_type;
    uint64_t src_bytes, dst_bytes;
    bool quantized;         /* false: copied */
    bool imatrix_used;
    bool fallback;          /* the recipe's type did not fit; dst_type is the fallback */
    uint32_t wanted_type;
    double seconds;         /* time spent on this tensor */
} quant_progress;

typedef struct quant_model_params {
    quant_recipe recipe;
    const char *imatrix_path;  /* NULL: none */
    const char *imatrix_name;  /* recorded in quantize.imatrix.file (default: imatrix_path) */
    int n_threads;             /* <= 0: one per core */
    bool allow_requantize;     /* accept already-quantized inputs (dequantized first) */
    bool dry_run;              /* plan and report only; no output file */
    void (*progress)(void *user, const quant_progress *p);
    void *user;
} quant_model_params;

typedef struct quant_model_result {
    uint64_t n_tensors, n_quantized, n_fallback;
    uint64_t n_elements;               /* all tensors */
    uint64_t bytes_in, bytes_out;      /* tensor data (unpadded) */
    uint64_t file_bytes;               /* output file size */
    int imatrix_entries_used;
    double seconds;
} quant_model_result;

quant_model_params quant_model_default_params(void);
medge_status quant_model(const char *in_path, const char *out_path, const quant_model_params *p,
                         quant_model_result *res);
#endif
