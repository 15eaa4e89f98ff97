/* imatrix.h - importance matrices in llama.cpp's GGUF imatrix format (specs/imatrix-and-kld.md
 * §1.7-1.9): per weight tensor `<name>.in_sum2` (F32, [K] or [K, n_mat]: raw sums of squared
 * activations per input column) and `<name>.counts` (F32, [1] or [1, n_mat]: rows summed), plus
 * general.type = "imatrix", imatrix.datasets, imatrix.chunk_count, imatrix.chunk_size.
 *
 * The reader gives the per-column weights llama-quantize uses (sum / count, 1 where count is 0);
 * the writer produces the byte layout llama-imatrix writes (names sorted byte-wise, in_sum2 then
 * counts, trailing 1-dims dropped), so `medge imatrix` and `medge quantize` share one format. */
#ifndef MEDGE_QUANT_IMATRIX_H
#define MEDGE_QUANT_IMATRIX_H
#include "core/error.h"
#include <stdbool.h>

typedef struct quant_imatrix_entry {
    char *name;      /* weight tensor name, e.g. "blk.0.attn_k.weight" */
    int64_t ne0;     /* K: input columns */
    int64_t n_mat;   /* 1 for 2-D weights, n_expert for 3-D */
    float *sums;     /* [n_mat][ne0] raw sums of x^2 */
    float *counts;   /* [n_mat] rows accumulated (llama.cpp stores them as float) */
    float *weights;  /* [n_mat][ne0] sums / counts (1 where count == 0); filled by the reader */
} quant_imatrix_entry;

typedef struct quant_imatrix {
    quant_imatrix_entry *e;
    uint64_t n;
    char **datasets;
    uint64_t n_datasets;
    uint32_t chunk_count;
    uint32_t chunk_size;
} quant_imatrix;

/* Load an imatrix GGUF. Checks the general.type / imatrix.* keys, the pairing of every
 * .in_sum2 with its .counts, shapes, and that all values are finite. *out owned by the caller
 * (quant_imatrix_free). */
medge_status quant_imatrix_load(const char *path, quant_imatrix **out);
void quant_imatrix_free(quant_imatrix *im);
/* Entry by exact tensor name, NULL if absent. */
const quant_imatrix_entry *quant_imatrix_find(const quant_imatrix *im, const char *name);

/* ---- building and writing (for `medge imatrix`) ---- */
/* An empty imatrix (chunk_size as given); add datasets and entries, then write. */
medge_status quant_imatrix_new(uint32_t chunk_size, quant_imatrix **out);
medge_status quant_imatrix_add_dataset(quant_imatrix *im, const char *name);
/* Get (or create, zero-filled) the entry for a weight with ne0 columns and n_mat matrices;
 * MEDGE_ERR_INVALID_ARG if it exists with another shape. The pointer stays valid until the
 * next call that adds an entry. */
medge_status quant_imatrix_entry_get(quant_imatrix *im, const char *name, int64_t ne0, int64_t n_mat,
                                     quant_imatrix_entry **out);
/* Write as llama-imatrix does (chunk_count is written as given). */
medge_status quant_imatrix_write(const quant_imatrix *im, const char *path);
#endif
