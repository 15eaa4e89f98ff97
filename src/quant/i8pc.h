/* i8pc.h - I8_PC, medge's per-channel int8 weight type (the scheme ONNX Runtime's dynamic INT8
 * quantization uses for MatMul weights): each weight row (one output channel) is n int8 codes with
 * one float scale, and each activation row is quantized on the fly to n int8 codes with one float
 * scale of its own. A product is one integer sum over the whole row (exact in int32) and one float
 * rescale: y = (float)sum_k(qw_k * qa_k) * (dw * da).
 *
 * Row layouts (little-endian):
 *   weight row     (quant_row_size(MEDGE_TYPE_I8_PC, n) = 4 + n bytes): float d; int8 q[n]
 *   activation row (quant_i8pc_act_bytes(n) = 8 + n bytes):            float d; int32 sum(q); int8 q[n]
 * with d = max|x| / 127 and q = round-half-even(x * 127 / max|x|) in [-127, 127] (a zero row: d = 0,
 * q = 0). n is a multiple of 32 (the type's block size, so rows keep 4-byte alignment).
 *
 * In GGUF the type id is MEDGE_TYPE_I8_PC (0x4d450001, far above ggml's ids, which grow by one from
 * 40), so it never collides with a ggml type: llama.cpp's gguf reader rejects such a file
 * ("invalid ggml type"). The id, the block size and the per-row prefix are in the traits table
 * (quant/types.c: quant_get_traits), which is how the GGUF reader and writer size the tensors. */
#ifndef MEDGE_QUANT_I8PC_H
#define MEDGE_QUANT_I8PC_H
#include "quant/types.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>

/* The traits of MEDGE_TYPE_I8_PC (name "I8_PC"). to_float is NULL on purpose: its rows are not
 * made of independent blocks, so generic whole-tensor dequantization must not be applied. */
extern const quant_traits quant_i8pc_traits;

/* Weight row: n floats -> float d + n int8 (row of 4 + n bytes, any alignment). */
void quant_i8pc_quantize_row(const float *x, void *row, int64_t n);
/* Weight row -> n floats (d * q). */
void quant_i8pc_dequant_row(const void *row, float *y, int64_t n);
/* One code: round-half-even(v) (the default rounding mode) clamped to [-127, 127], v = x * 127 / max|x|.
 * The SIMD activation quantizers use it for their tails so every code equals the reference's. */
static inline int8_t quant_i8pc_code(float v)
{
    long q = lrintf(v);
    return (int8_t)(q > 127 ? 127 : q < -127 ? -127 : q);
}
/* Activation row of n floats (n a multiple of 4): float d, int32 sum of the codes, n int8. */
size_t quant_i8pc_act_bytes(int64_t n);
void quant_i8pc_quantize_act(const float *x, void *row, int64_t n);
/* Reference product of a weight row and an activation row: (float)isum * (dw * da). */
float quant_i8pc_dot(int64_t n, const void *wrow, const void *arow);
#endif
