/* info.h - describing a model file as JSON (what `medge info --json` prints) and comparing such a
 * description with a reference manifest (the *.manifest.json files beside the reference GGUFs).
 *
 * GGUF description:
 *   {"format": "gguf", "version": 3, "alignment": 32, "data_offset": N, "size": N,
 *    "metadata": [{"key", "type", "value"}...],
 *    "tensors": [{"name", "type", "dims", "offset", "nbytes", "sha256"?}...]}
 * Value types use gguf-py's names ("uint32", "float32", "string", "bool", "array"...). Arrays
 * carry "elem", "len", "sha256" and the full "value". Array hashes follow the manifests: numbers
 * and bools hash their little-endian element bytes, strings hash the strings joined by one NUL
 * byte (no trailing NUL); nested arrays carry no hash. Tensor "dims" are ggml's ne (fastest
 * first), "offset" is relative to the data section, "type" the ggml name ("Q4_K").
 *
 * safetensors description:
 *   {"format": "safetensors", "shards": [{"file", "metadata"}...],
 *    "tensors": [{"name", "type", "shape", "file", "offset", "nbytes", "sha256"?}...]}
 * "shape" is as in the file (slowest first), "offset" is the absolute offset in its file. */
#ifndef MEDGE_FORMATS_INFO_H
#define MEDGE_FORMATS_INFO_H
#include "core/json.h"
#include "formats/gguf.h"
#include "formats/safetensors.h"

enum { INFO_SHA256 = 1 /* add a SHA-256 of each tensor's data (reads all of it) */ };

/* Append the description to out (the caller frees it with medge_buf_free). */
medge_status info_gguf_json(const gguf_ctx *g, unsigned flags, medge_buf *out);
medge_status info_st_json(const st_model *m, unsigned flags, medge_buf *out);

/* gguf-py name of a metadata value type: "uint8" ... "float64", "string", "array", "?". */
const char *info_gguf_type_name(uint32_t vtype);
/* Manifest hash of an array value (see above); false for nested arrays and non-arrays. */
bool info_gguf_array_sha256(const gguf_value *v, char hex[65]);

enum {
    /* general.* keys that name or describe the model (everything but general.architecture,
     * general.type, general.file_type, general.quantization_version, general.alignment) may
     * differ, be missing or be extra. */
    MANIFEST_LOOSE_GENERAL = 1,
    /* Skip the tensor data hashes (e.g. a description made without INFO_SHA256). */
    MANIFEST_NO_SHA256 = 2,
};

/* Compare a parsed GGUF description with a parsed manifest ({"alignment", "kv": [{"key", "type",
 * "value" | "elem", "len", "sha256_le" | "sha256_nul_joined", "head"}], "tensors": [{"name",
 * "type", "dims", "nbytes", "sha256"}]}): keys, value types, values (float32 compared as float32),
 * arrays by length, hash and head, tensor names, order, types, dims, sizes and hashes.
 * MEDGE_OK when they agree; MEDGE_ERR_MISMATCH otherwise, with one line per difference (at most
 * 50) appended to report (may be NULL) and the first one as the error message. */
medge_status info_manifest_compare(const json_value *info, const json_value *manifest, unsigned flags, medge_buf *report);
/* The same from an open GGUF and a manifest file (describes g with hashes unless
 * MANIFEST_NO_SHA256). */
medge_status info_gguf_check_manifest(const gguf_ctx *g, const char *manifest_path, unsigned flags, medge_buf *report);
#endif
