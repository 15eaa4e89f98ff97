/* gemm-f32s.h - F32 weight products for small batches of tokens (BiomedCLIP's text tower: 16-token
 * prompts against 340 MB of F32 weights, so every weight byte should be read from memory once and
 * while the next ones stream in). Panels of 16 rows ([n][16] floats) and activations interleaved in
 * groups of 16 tokens ([n][16] floats), so one pass over a panel serves 16 tokens from 16 vector
 * accumulators. Each output is the sum over k in order of fused multiply-adds, as the F32 GEMM tile
 * of the kernel table (gemm-avx512.c) computes it, so switching between them changes nothing.
 * Only a SIMD version exists: ops_f32s_gemm_get() is NULL without one (MEDGE_FORCE_SCALAR=1
 * included), and callers use the kernel table. The same products exist for F16 weights (16-bit
 * panels, widened exactly in the tile: the F32 products of the widened weights, activations F32),
 * ops_f32s_gemm_for(GGML_TYPE_F16). */
#ifndef MEDGE_OPS_GEMM_F32S_H
#define MEDGE_OPS_GEMM_F32S_H
#include <stddef.h>

typedef struct ops_f32s_gemm {
    const char *name;
    int rows;       /* weight rows per panel */
    int act_group;  /* tokens per activation group: pack_act ranges start at multiples of it */
    size_t (*panel_bytes)(int n);
    /* nr <= rows weight rows of n (F32, or F16 for the F16 table; row stride ws bytes; missing rows
     * as zeros) -> panel (64-aligned) */
    void (*pack_w)(int n, int nr, const void *w, size_t ws, void *panel);
    size_t (*act_bytes)(int n, int nt);
    /* rows [t0, t1) of x (row t at x + t * ldx) into the interleaved layout */
    void (*pack_act)(const float *x, size_t ldx, int n, int t0, int t1, void *act);
    /* y[t * ys + r] = sum_k W[r][k] * x[t][k] (fmaf in k order from 0; F16 weights widened to float)
     * for r < nr, t < nt */
    void (*tile)(int n, int nr, int nt, const void *panel, const void *act, float *y, size_t ys);
} ops_f32s_gemm;

const ops_f32s_gemm *ops_f32s_gemm_get(void);
/* The table for weights of ggml type `type` (GGML_TYPE_F32 or GGML_TYPE_F16), NULL for others or
 * without a SIMD version. */
const ops_f32s_gemm *ops_f32s_gemm_for(int type);

#if defined(MEDGE_ARCH_x86)
/* src/ops/arch/x86/gemm-f32s-avx512.c (AVX-512 F) */
extern const ops_f32s_gemm x86_avx512_f32s_gemm, x86_avx512_f16s_gemm;
#endif
#endif
