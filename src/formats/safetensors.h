/* safetensors.h - reader for Hugging Face safetensors checkpoints: one file, or a sharded
 * checkpoint described by model.safetensors.index.json. Files are memory-mapped; tensor data
 * stays in the mapping (read-only, and not necessarily aligned: the header length is arbitrary,
 * so copy or use unaligned loads). Every header field is checked against the file: header
 * length, dtype, shape (at most 8 dims, product * dtype size == data_offsets span, no overflow),
 * data_offsets inside the data section, unique names across all shards, and every shard the
 * index names must exist and hold the tensors the index says it holds. */
#ifndef MEDGE_FORMATS_SAFETENSORS_H
#define MEDGE_FORMATS_SAFETENSORS_H
#include "core/error.h"
#include "core/json.h"

#define ST_MAX_DIMS 8

enum st_dtype { ST_F32, ST_F16, ST_BF16, ST_F64, ST_I64, ST_I32, ST_I16, ST_I8, ST_U8, ST_BOOL };

typedef struct st_tensor {
    const char *name;
    enum st_dtype dtype;
    int n_dims;
    int64_t shape[ST_MAX_DIMS]; /* shape[0] slowest, as in the JSON; unused dims are 0 */
    uint64_t nbytes;
    const void *data; /* into the mapping (valid until st_close) */
    const char *file; /* path of the shard holding it */
} st_tensor;

typedef struct st_model st_model;

/* path: a .safetensors file, a model.safetensors.index.json, or a directory holding either
 * (a directory is searched for model.safetensors.index.json, then model.safetensors, then a
 * single *.safetensors file). On failure the message names the offending file. */
medge_status st_open(const char *path, st_model **out);
/* One safetensors file held in a caller-owned buffer (must outlive the model). */
medge_status st_open_memory(const void *buf, size_t size, st_model **out);
size_t st_count(const st_model *m);
const st_tensor *st_at(const st_model *m, size_t i);          /* in file order (shards in index order); NULL past the end */
const st_tensor *st_find(const st_model *m, const char *name); /* NULL if absent */
const char *st_dtype_name(enum st_dtype t);                    /* "F32", "BF16", ... */
size_t st_dtype_size(enum st_dtype t);                         /* bytes per element */
size_t st_shard_count(const st_model *m);
const char *st_shard_path(const st_model *m, size_t shard);    /* NULL past the end */
/* Absolute offset of t's data in its file (t from this model). */
uint64_t st_offset(const st_model *m, const st_tensor *t);
const json_value *st_metadata(const st_model *m, size_t shard); /* "__metadata__" or NULL */
/* The index's "metadata" object (sharded checkpoints), or NULL. */
const json_value *st_index_metadata(const st_model *m);
void st_close(st_model *m); /* NULL is fine */
#endif
