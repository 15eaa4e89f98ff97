/* types.h - ggml tensor types (same numbering as ggml, as stored in GGUF) and their traits:
 * block size, bytes per block, and the reference row functions (filled in by src/quant/). */
#ifndef MEDGE_QUANT_TYPES_H
#define MEDGE_QUANT_TYPES_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ggml_type {
    GGML_TYPE_F32 = 0,
    GGML_TYPE_F16 = 1,
    GGML_TYPE_Q4_0 = 2,
    GGML_TYPE_Q4_1 = 3,
    GGML_TYPE_Q5_0 = 6,
    GGML_TYPE_Q5_1 = 7,
    GGML_TYPE_Q8_0 = 8,
    GGML_TYPE_Q8_1 = 9,
    GGML_TYPE_Q2_K = 10,
    GGML_TYPE_Q3_K = 11,
    GGML_TYPE_Q4_K = 12,
    GGML_TYPE_Q5_K = 13,
    GGML_TYPE_Q6_K = 14,
    GGML_TYPE_Q8_K = 15,
    GGML_TYPE_IQ2_XXS = 16,
    GGML_TYPE_IQ2_XS = 17,
    GGML_TYPE_IQ3_XXS = 18,
    GGML_TYPE_IQ1_S = 19,
    GGML_TYPE_IQ4_NL = 20,
    GGML_TYPE_IQ3_S = 21,
    GGML_TYPE_IQ2_S = 22,
    GGML_TYPE_IQ4_XS = 23,
    GGML_TYPE_I8 = 24,
    GGML_TYPE_I16 = 25,
    GGML_TYPE_I32 = 26,
    GGML_TYPE_I64 = 27,
    GGML_TYPE_F64 = 28,
    GGML_TYPE_IQ1_M = 29,
    GGML_TYPE_BF16 = 30,
    GGML_TYPE_TQ1_0 = 34,
    GGML_TYPE_TQ2_0 = 35,
    GGML_TYPE_MXFP4 = 39,
    GGML_TYPE_COUNT = 40,
    /* medge's own types: ids far above ggml's (which grow by one from GGML_TYPE_COUNT), so they
     * never collide; they are not indexes of the per-type arrays (those stop at GGML_TYPE_COUNT).
     * llama.cpp rejects a GGUF holding one. */
    MEDGE_TYPE_I8_PC = 0x4d450001 /* per-channel int8 weights, per-row int8 activations (quant/i8pc.h) */
};

#define QK_K 256

typedef void (*quant_to_float_fn)(const void *src, float *dst, int64_t n);
typedef void (*quant_from_float_fn)(const float *src, void *dst, int64_t n);
/* s = dot(x, y) over n elements; x a row of this type, y a row of the vec_dot_type. */
typedef void (*quant_vec_dot_fn)(int n, float *s, const void *x, const void *y);

typedef struct quant_traits {
    const char *name;  /* ggml name: "F32", "Q4_K", ... NULL for unused ids */
    int blck;          /* elements per block */
    size_t type_size;  /* bytes per block */
    bool quantized;
    quant_to_float_fn to_float;         /* NULL: no dequantizer */
    quant_from_float_fn from_float_ref; /* reference quantizer without imatrix; NULL: none */
    enum ggml_type vec_dot_type;        /* activation type for vec_dot */
    quant_vec_dot_fn vec_dot;           /* portable reference; NULL: none */
    size_t row_extra;                   /* bytes per row before its blocks (I8_PC: the row's scale); 0 for ggml's */
} quant_traits;

/* Traits of a type id read from a file; NULL when the id is unknown (check before use). */
const quant_traits *quant_get_traits(uint32_t type);
/* Type id by ggml name (case-insensitive), -1 if unknown. */
int quant_type_from_name(const char *name);
const char *quant_type_name(uint32_t type); /* "?" for unknown */
/* Bytes of a row of n elements (row_extra + blocks); 0 when n is not a multiple of the block size. */
size_t quant_row_size(uint32_t type, int64_t n);

/* fp16 / bf16 conversions, bit-exact with ggml's reference (round to nearest even; bf16 keeps
 * NaN quiet). */
float medge_fp16_to_fp32(uint16_t h);
uint16_t medge_fp32_to_fp16(float f);
float medge_bf16_to_fp32(uint16_t h);
uint16_t medge_fp32_to_bf16(float f);
#endif
