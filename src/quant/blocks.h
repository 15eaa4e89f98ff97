/* blocks.h - the block layouts of every ggml quantization format medge reads or writes, byte for
 * byte as ggml stores them in GGUF (little-endian, packed, fp16 fields as raw IEEE half bits).
 * Field order and sizes follow specs/quantization.md §3; each struct carries a size assertion so
 * a layout mistake fails the build. SIMD kernels (src/ops/arch) index these structs directly. */
#ifndef MEDGE_QUANT_BLOCKS_H
#define MEDGE_QUANT_BLOCKS_H
#include <stdint.h>

#ifndef QK_K
#define QK_K 256
#endif
#define QK4_0 32
#define QK4_1 32
#define QK5_0 32
#define QK5_1 32
#define QK8_0 32
#define QK8_1 32
#define QK4_NL 32
#define K_SCALE_SIZE 12

typedef uint16_t quant_half; /* IEEE binary16 bits */

/* x = (q - 8) * d */
typedef struct {
    quant_half d;
    uint8_t qs[QK4_0 / 2]; /* element j in the low nibble of qs[j], element j+16 in the high one */
} block_q4_0;
_Static_assert(sizeof(block_q4_0) == 18, "block_q4_0 size");

/* x = q * d + m */
typedef struct {
    quant_half d;
    quant_half m;
    uint8_t qs[QK4_1 / 2];
} block_q4_1;
_Static_assert(sizeof(block_q4_1) == 20, "block_q4_1 size");

/* x = (q - 16) * d, q = nibble | bit << 4 */
typedef struct {
    quant_half d;
    uint8_t qh[4]; /* u32 LE: bit j = bit 4 of element j */
    uint8_t qs[QK5_0 / 2];
} block_q5_0;
_Static_assert(sizeof(block_q5_0) == 22, "block_q5_0 size");

typedef struct {
    quant_half d;
    quant_half m;
    uint8_t qh[4];
    uint8_t qs[QK5_1 / 2];
} block_q5_1;
_Static_assert(sizeof(block_q5_1) == 24, "block_q5_1 size");

/* x = q * d */
typedef struct {
    quant_half d;
    int8_t qs[QK8_0];
} block_q8_0;
_Static_assert(sizeof(block_q8_0) == 34, "block_q8_0 size");

/* activation format for Q4_1 / Q5_1: s = d * sum(qs) */
typedef struct {
    quant_half d;
    quant_half s;
    int8_t qs[QK8_1];
} block_q8_1;
_Static_assert(sizeof(block_q8_1) == 36, "block_q8_1 size");

/* 16 sub-blocks of 16: x = (d * (scales[j] & 15)) * q - dmin * (scales[j] >> 4), q in 0..3 */
typedef struct {
    uint8_t scales[QK_K / 16];
    uint8_t qs[QK_K / 4];
    quant_half d;
    quant_half dmin;
} block_q2_K;
_Static_assert(sizeof(block_q2_K) == 84, "block_q2_K size");

/* 16 sub-blocks of 16, 6-bit signed scales (+32) packed in 12 bytes; 3-bit codes = 2 bits in qs
 * plus the hmask bit (set: +0, clear: -4) */
typedef struct {
    uint8_t hmask[QK_K / 8];
    uint8_t qs[QK_K / 4];
    uint8_t scales[12];
    quant_half d;
} block_q3_K;
_Static_assert(sizeof(block_q3_K) == 110, "block_q3_K size");

/* 8 sub-blocks of 32 with 6-bit (scale, min) pairs: x = (d * sc) * q - dmin * m */
typedef struct {
    quant_half d;
    quant_half dmin;
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qs[QK_K / 2];
} block_q4_K;
_Static_assert(sizeof(block_q4_K) == 144, "block_q4_K size");

typedef struct {
    quant_half d;
    quant_half dmin;
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qh[QK_K / 8];
    uint8_t qs[QK_K / 2];
} block_q5_K;
_Static_assert(sizeof(block_q5_K) == 176, "block_q5_K size");

/* 16 sub-blocks of 16, int8 scales: x = (d * scales[j]) * (q - 32), q in 0..63 */
typedef struct {
    uint8_t ql[QK_K / 2];
    uint8_t qh[QK_K / 4];
    int8_t scales[QK_K / 16];
    quant_half d;
} block_q6_K;
_Static_assert(sizeof(block_q6_K) == 210, "block_q6_K size");

/* activation format of the k-quants: x = d * q; bsums[g] = sum of qs[16g .. 16g+15] */
typedef struct {
    float d;
    int8_t qs[QK_K];
    int16_t bsums[QK_K / 16];
} block_q8_K;
_Static_assert(sizeof(block_q8_K) == 292, "block_q8_K size");

/* x = d * kvalues_iq4nl[q] */
typedef struct {
    quant_half d;
    uint8_t qs[QK4_NL / 2];
} block_iq4_nl;
_Static_assert(sizeof(block_iq4_nl) == 18, "block_iq4_nl size");

/* 8 sub-blocks of 32, 6-bit scales (+32): low 4 bits in scales_l (nibble b%2 of byte b/2), high 2
 * bits in scales_h bits 2b..2b+1; x = (d * (s - 32)) * kvalues_iq4nl[q] */
typedef struct {
    quant_half d;
    uint16_t scales_h;
    uint8_t scales_l[QK_K / 64];
    uint8_t qs[QK_K / 2];
} block_iq4_xs;
_Static_assert(sizeof(block_iq4_xs) == 136, "block_iq4_xs size");

/* the 16 non-linear levels of IQ4_NL / IQ4_XS */
extern const int8_t quant_kvalues_iq4nl[16];

/* Q4_K / Q5_K: unpack the 6-bit (scale, min) pair of sub-block j (0..7). */
static inline void quant_get_scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m)
{
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4));
    }
}

/* Q3_K: the 16 scales (already minus 32, -32..31). */
static inline void quant_q3_K_scales(const uint8_t *s, int8_t out[16])
{
    for (int j = 0; j < 16; j++) {
        int low = j < 8 ? s[j] & 15 : s[j - 8] >> 4;
        int high = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
        out[j] = (int8_t)((low | high << 4) - 32);
    }
}
#endif
