/* imatrix.h - importance matrices computed as llama-imatrix does (specs/imatrix-and-kld.md
 * §1.2-1.5): the tokenized text is cut into chunks of n_ctx tokens (leftover tokens ignored),
 * each chunk is evaluated from position 0 with its first token replaced by BOS, and for every
 * weight matmul of the decoder layers the squares of its input activations are summed per input
 * column (float32, row order), with the number of rows as the count. The output projection is
 * not recorded (llama.cpp records only "blk." weights). The result goes into a quant_imatrix
 * (src/quant/imatrix.h), which writes llama.cpp's GGUF layout. */
#ifndef MEDGE_RUNTIME_IMATRIX_H
#define MEDGE_RUNTIME_IMATRIX_H
#include "core/error.h"
#include "quant/imatrix.h"

struct medge_model;

typedef struct runtime_imatrix_params {
    int n_ctx;      /* tokens per chunk (>= 1) */
    int max_chunks; /* <= 0: every whole chunk of the text */
    int n_threads;  /* <= 0: one per core */
    int32_t bos;    /* token put at the start of every chunk; < 0: the first token is kept */
    /* Called after each chunk (may be NULL); returning non-zero stops with MEDGE_ERR_ABORTED. */
    int (*progress)(void *user, int chunk, int n_chunk);
    void *progress_user;
} runtime_imatrix_params;

/* Number of chunks a text of n_tokens gives (llama.cpp needs n_tokens >= 2*n_ctx; this is
 * checked by runtime_imatrix_compute, which fails with MEDGE_ERR_RANGE otherwise). */
int runtime_imatrix_n_chunks(size_t n_tokens, const runtime_imatrix_params *p);

/* Accumulate the chunks of tokens[0..n_tokens) into im (created by quant_imatrix_new with
 * chunk_size = n_ctx; entries are created as weights are seen). Sets im->chunk_count. A
 * non-finite activation fails with MEDGE_ERR_RANGE (llama.cpp aborts). */
medge_status runtime_imatrix_compute(const struct medge_model *m, const int32_t *tokens, size_t n_tokens,
                                     const runtime_imatrix_params *p, quant_imatrix *im);

/* Add the squares of x[n][ne0] to the entry of weight `name` (created when absent) and n to its
 * count: the accumulation step, exposed for tests. */
medge_status runtime_imatrix_accumulate(quant_imatrix *im, const char *name, int64_t ne0, const float *x, int n);
#endif
