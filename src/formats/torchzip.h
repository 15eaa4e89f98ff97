/* torchzip.h - read-only access to PyTorch checkpoints written by torch.save (zip container,
 * stored entries, protocol-2 pickle of an OrderedDict of _rebuild_tensor_v2 tensors), the subset
 * of specs/biomedclip.md §5. The pickle is interpreted by a small stack machine that knows a
 * fixed list of opcodes and globals; nothing from the file is ever executed, and anything outside
 * the subset is rejected with a message naming it. Tensor data stays in the mapping (zero copy). */
#ifndef MEDGE_FORMATS_TORCHZIP_H
#define MEDGE_FORMATS_TORCHZIP_H
#include "core/error.h"
#include <stdbool.h>

#define TZ_MAX_DIMS 8

typedef enum tz_dtype {
    TZ_F32, TZ_F16, TZ_BF16, TZ_F64, TZ_I64, TZ_I32, TZ_I16, TZ_I8, TZ_U8, TZ_BOOL, TZ_DTYPE_COUNT
} tz_dtype;

typedef struct tz_tensor {
    const char *name;           /* state-dict key, NUL-terminated */
    tz_dtype dtype;
    int n_dims;                 /* 0 for a scalar (one element) */
    int64_t shape[TZ_MAX_DIMS]; /* PyTorch order (slowest first) */
    uint64_t numel;
    uint64_t nbytes;
    const void *data;           /* inside the file (little endian; 64-byte aligned in files
                                   written by torch, but do not rely on it: memcpy) */
} tz_tensor;

typedef struct tz_file tz_file;

/* Open a checkpoint file (memory-mapped). Errors are prefixed with the path. */
medge_status tz_open(const char *path, tz_file **out);
/* Parse a caller-owned buffer that must outlive the result. */
medge_status tz_open_memory(const void *buf, size_t size, tz_file **out);
void tz_close(tz_file *f);
size_t tz_count(const tz_file *f);
const tz_tensor *tz_at(const tz_file *f, size_t i);   /* in pickle order */
const tz_tensor *tz_find(const tz_file *f, const char *name); /* NULL if absent */
const char *tz_dtype_name(tz_dtype t);
size_t tz_dtype_size(tz_dtype t);

/* A tensor as the pickle describes it, before it is resolved against the zip records. */
typedef struct tz_pickle_tensor {
    const char *name;     /* points into the pickle bytes; not NUL-terminated */
    size_t name_len;
    tz_dtype dtype;
    const char *key;      /* storage key ("0", "17"...), not NUL-terminated */
    size_t key_len;
    uint64_t storage_offset; /* in elements */
    int n_dims;
    int64_t shape[TZ_MAX_DIMS];
    int64_t stride[TZ_MAX_DIMS];
} tz_pickle_tensor;

/* Interpret a state-dict pickle. On success *out is a malloc'd array of *n entries (free()).
 * The strings point into pkl, which must outlive the result. Exposed for the fuzz target. */
medge_status tz_parse_pickle(const uint8_t *pkl, size_t n, tz_pickle_tensor **out, size_t *n_out);
#endif
