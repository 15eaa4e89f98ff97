/* gguf.h - GGUF v3 (v2 accepted) reader and streaming writer.
 *
 * Reader: parses the header, metadata and tensor infos from a mapped file, a memory buffer or
 * read callbacks, validating every count, length and offset against the data with overflow-safe
 * arithmetic. Strings and metadata arrays are copied into the context (NUL-terminated strings,
 * naturally aligned numbers); tensor data stays where it is (the mapping or the caller's buffer).
 *
 * Writer: keys and tensor infos are declared first, then tensor data is streamed in declaration
 * order (each tensor padded to the alignment); the file is written under a temporary name and
 * renamed only by gguf_writer_finish. */
#ifndef MEDGE_FORMATS_GGUF_H
#define MEDGE_FORMATS_GGUF_H
#include "core/error.h"
#include "core/file.h"
#include <stdbool.h>

#define GGUF_MAGIC 0x46554747u
#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_DIMS 4
#define GGUF_MAX_NAME 64 /* tensor names must be shorter (as ggml) */

enum gguf_vtype {
    GGUF_U8 = 0, GGUF_I8 = 1, GGUF_U16 = 2, GGUF_I16 = 3, GGUF_U32 = 4, GGUF_I32 = 5, GGUF_F32 = 6,
    GGUF_BOOL = 7, GGUF_STR = 8, GGUF_ARR = 9, GGUF_U64 = 10, GGUF_I64 = 11, GGUF_F64 = 12,
    GGUF_VTYPE_COUNT = 13
};

typedef struct gguf_str {
    const char *s; /* NUL-terminated (may hold embedded NULs: use len) */
    uint64_t len;
} gguf_str;

typedef struct gguf_value gguf_value;
struct gguf_value {
    uint32_t type; /* enum gguf_vtype */
    union {
        uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32;
        float f32; bool b; uint64_t u64; int64_t i64; double f64;
        gguf_str str;
        struct {
            uint32_t type;    /* element type */
            uint64_t n;       /* element count */
            const void *data; /* numbers: n naturally aligned values; GGUF_STR: gguf_str[n];
                                 GGUF_ARR: gguf_value[n] (nested arrays) */
        } arr;
    };
};

typedef struct gguf_kv {
    gguf_str key;
    gguf_value v;
} gguf_kv;

typedef struct gguf_tensor {
    gguf_str name;
    uint32_t n_dims;
    int64_t ne[GGUF_MAX_DIMS]; /* ne[0] fastest; unused dims are 1 */
    uint32_t type;             /* enum ggml_type */
    uint64_t offset;           /* relative to the data section */
    uint64_t nbytes;
    const void *data;          /* NULL when read through callbacks (use gguf_read_tensor) */
} gguf_tensor;

typedef struct gguf_ctx gguf_ctx;
struct gguf_ctx {
    uint32_t version;
    uint64_t n_kv;
    gguf_kv *kv;
    uint64_t n_tensors;
    gguf_tensor *tensors;
    uint32_t alignment;
    uint64_t data_offset; /* absolute file offset of the data section */
    uint64_t size;        /* total bytes of the file/buffer */
    const uint8_t *base;  /* the whole file when mapped / in memory, else NULL */
    struct gguf_priv *priv;
};

/* Open a file: mmap (or read when MEDGE_NO_MMAP is set). */
medge_status gguf_open(const char *path, gguf_ctx **out);
/* Parse a caller-owned buffer that must outlive the context. */
medge_status gguf_open_memory(const void *buf, size_t size, gguf_ctx **out);
/* Parse through read callbacks (io must outlive the context); tensor data via gguf_read_tensor. */
medge_status gguf_open_io(const medge_io *io, gguf_ctx **out);
void gguf_close(gguf_ctx *ctx);
/* The mapping, when the context was opened from a path (for madvise); else NULL. */
const medge_map *gguf_mapping(const gguf_ctx *ctx);

int64_t gguf_find_key(const gguf_ctx *ctx, const char *key);      /* -1 if absent */
int64_t gguf_find_tensor(const gguf_ctx *ctx, const char *name);  /* -1 if absent */
const gguf_value *gguf_get(const gguf_ctx *ctx, const char *key); /* NULL if absent */
const gguf_tensor *gguf_get_tensor(const gguf_ctx *ctx, const char *name);
/* Copy tensor i's data into dst (nbytes); works in every mode. */
medge_status gguf_read_tensor(const gguf_ctx *ctx, uint64_t i, void *dst);
/* Read part of a tensor's data. */
medge_status gguf_read_tensor_part(const gguf_ctx *ctx, uint64_t i, uint64_t off, void *dst, size_t n);

/* Typed getters: MEDGE_ERR_NOT_FOUND when absent, MEDGE_ERR_FORMAT when of another type
 * (integers are accepted from any integer type whose value fits). Messages name the key. */
medge_status gguf_get_u32(const gguf_ctx *ctx, const char *key, uint32_t *out);
medge_status gguf_get_i64(const gguf_ctx *ctx, const char *key, int64_t *out);
medge_status gguf_get_f32(const gguf_ctx *ctx, const char *key, float *out);
medge_status gguf_get_bool(const gguf_ctx *ctx, const char *key, bool *out);
medge_status gguf_get_str(const gguf_ctx *ctx, const char *key, const char **out);
/* Array getter: element type must equal elem_type. */
medge_status gguf_get_arr(const gguf_ctx *ctx, const char *key, uint32_t elem_type, const void **data, uint64_t *n);

const char *gguf_vtype_name(uint32_t t); /* "u32", "str", ... */
size_t gguf_vtype_size(uint32_t t);      /* bytes of a scalar element, 0 for str/arr */
/* Integer value of any integer/bool scalar; false otherwise. */
bool gguf_value_int(const gguf_value *v, int64_t *out);

/* ---- writer ---- */
typedef struct gguf_writer gguf_writer;

medge_status gguf_writer_open(const char *path, gguf_writer **out);
/* Abandon (removes the temporary file) unless finished. NULL is fine. */
void gguf_writer_free(gguf_writer *w);
/* Set a key (deep copy); an existing key keeps its position and gets the new value. */
medge_status gguf_writer_set(gguf_writer *w, const char *key, const gguf_value *v);
medge_status gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v);
medge_status gguf_writer_set_i32(gguf_writer *w, const char *key, int32_t v);
medge_status gguf_writer_set_u64(gguf_writer *w, const char *key, uint64_t v);
medge_status gguf_writer_set_f32(gguf_writer *w, const char *key, float v);
medge_status gguf_writer_set_bool(gguf_writer *w, const char *key, bool v);
medge_status gguf_writer_set_str(gguf_writer *w, const char *key, const char *s);
medge_status gguf_writer_set_arr(gguf_writer *w, const char *key, uint32_t elem_type, const void *data, uint64_t n);
medge_status gguf_writer_set_arr_str(gguf_writer *w, const char *key, const char *const *s, uint64_t n);
void gguf_writer_remove(gguf_writer *w, const char *key);
/* Copy every key of src, in order. */
medge_status gguf_writer_copy_kv(gguf_writer *w, const gguf_ctx *src);
/* Declare a tensor (data order = declaration order). Alignment is general.alignment if set. */
medge_status gguf_writer_add_tensor(gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims, const int64_t *ne);
/* Write header, metadata and tensor infos; after this only tensor data may be written. */
medge_status gguf_writer_begin_data(gguf_writer *w);
/* Append bytes of the current tensor (in pieces of any size). */
medge_status gguf_writer_write(gguf_writer *w, const void *data, size_t n);
/* Check that all tensor data was written and rename the file into place. */
medge_status gguf_writer_finish(gguf_writer *w);
uint64_t gguf_writer_bytes(const gguf_writer *w); /* bytes written so far */
#endif
