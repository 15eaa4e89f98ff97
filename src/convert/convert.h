/* convert.h - machinery shared by the checkpoint converters (Gemma 3, BiomedCLIP): stream one
 * source tensor (F32 / F16 / BF16, row-major, possibly unaligned, possibly memory-mapped) into a
 * GGUF writer as F32, F16, BF16 or Q8_0, chunk by chunk and split across a thread pool, with an
 * optional constant added to every element (Gemma's RMSNorm "1 + w"); size labels as llama.cpp
 * prints them; SHA-256 of a finished file. */
#ifndef MEDGE_CONVERT_CONVERT_H
#define MEDGE_CONVERT_CONVERT_H
#include "core/threadpool.h"
#include "formats/gguf.h"
#include "formats/safetensors.h"

/* Called after every chunk written: bytes of tensor data done so far out of total (for the
 * whole output file, as the caller counts them). */
typedef void (*convert_progress_fn)(void *user, const char *tensor, uint64_t done, uint64_t total);

typedef struct convert_stream {
    gguf_writer *w;
    medge_pool *pool;          /* NULL: single thread */
    convert_progress_fn progress;
    void *user;
    uint64_t done, total;      /* progress counters (done is advanced by convert_write_tensor) */
    int release_source;        /* 1: drop source pages from memory once converted (mapped input) */
    uint16_t *bf16_f16;        /* BF16 -> F16 table (65536 entries), built on first use */
} convert_stream;

/* Free what the stream allocated (not the writer or the pool). */
void convert_stream_free(convert_stream *s);

/* Whether out_type is one the converters write (F32, F16, BF16, Q8_0). */
int convert_outtype_ok(uint32_t out_type);
/* Bytes the converted tensor takes: n_rows rows of ne0 elements of out_type; 0 if ne0 does not
 * fit the type's block size. */
uint64_t convert_nbytes(uint32_t out_type, int64_t ne0, int64_t n_rows);
/* Convert n_rows x ne0 elements at src (dtype ST_F32 / ST_F16 / ST_BF16) to out_type, adding
 * `add` to every element first (in float32; 0 = none), and append them to the current tensor
 * of s->w. name is only used in messages and progress. */
medge_status convert_write_tensor(convert_stream *s, const char *name, const void *src, enum st_dtype dtype,
                                  int64_t ne0, int64_t n_rows, uint32_t out_type, float add);
/* "8.9M", "3.9B": llama.cpp's rounded parameter count (gguf-py model_weight_count_rounded_notation). */
void convert_size_label(uint64_t n_params, char buf[32]);
/* SHA-256 of a file (read in pieces, nothing kept in memory); hex has 65 bytes. */
medge_status convert_file_sha256(const char *path, char hex[65], uint64_t *size);
/* SHA-256 of an output file computed while it is being written: a thread follows the temporary
 * file "<path>.tmp<pid>" (core/file.h's naming) as it grows, so hashing overlaps the conversion
 * instead of re-reading the finished file. Start right after the writer is opened; finish after
 * the writer has renamed the file into place (falls back to reading the file when following was
 * not possible). */
typedef struct convert_hasher convert_hasher;
medge_status convert_hasher_start(const char *path, convert_hasher **out);
/* Wait for the hash of the finished file at path (whose size is final now). Frees h. */
medge_status convert_hasher_finish(convert_hasher *h, const char *path, char hex[65], uint64_t *size);
/* Stop and free without a result (after a failure). NULL is fine. */
void convert_hasher_abort(convert_hasher *h);
/* general.file_type (llama_ftype) of an outtype: F32 0, F16 1, Q8_0 7, BF16 32. */
uint32_t convert_file_type(uint32_t out_type);
#endif
