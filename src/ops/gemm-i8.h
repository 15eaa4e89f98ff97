/* gemm-i8.h - products with I8_PC weights (quant/i8pc.h: per-channel int8 weights, per-row int8
 * activations, int32 sums): a small table of its own, like ops_gemm_kernel in kernels.h, chosen once
 * per process. The portable C version (gemm-i8.c) is the reference; on x86-64 the tiles of
 * src/ops/arch/x86/gemm-i8-avx512.c (AVX-512 VNNI) or gemm-i8-avx2.c (AVX2) replace it
 * (MEDGE_FORCE_SCALAR=1 keeps the reference).
 * Every version gives each output bit for bit equal to quant_i8pc_dot, since the integer sums are
 * exact and the float rescale is the same. */
#ifndef MEDGE_OPS_GEMM_I8_H
#define MEDGE_OPS_GEMM_I8_H
#include "quant/i8pc.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct ops_i8_gemm {
    const char *name;
    int rows; /* weight rows per panel */
    /* bytes of one panel of `rows` rows of n elements (a multiple of 64) */
    size_t (*panel_bytes)(int n);
    /* copy nr <= rows I8_PC weight rows (n elements, row stride ws bytes; missing rows as zeros) into
     * a panel (64-byte aligned) */
    void (*pack_w)(int n, int nr, const void *w, size_t ws, void *panel);
    /* Activations: nt rows of n floats become act_bytes(n, nt) bytes (64-byte aligned) in the tile's
     * layout; quantize_act converts rows [t0, t1) (row t at x + t * ldx), each exactly as
     * quant_i8pc_quantize_act does; ranges handed to different threads must start at multiples of
     * act_group (a group of rows shares cache lines). */
    size_t (*act_bytes)(int n, int nt);
    int act_group;
    void (*quantize_act)(const float *x, size_t ldx, int n, int t0, int t1, void *act);
    /* y[t * ys + r] = quant_i8pc_dot(n, W row r, activation row t) for r < nr, t < nt */
    void (*tile)(int n, int nr, int nt, const void *panel, const void *act, float *y, size_t ys);
} ops_i8_gemm;

/* The grouped activation layout of the x86 tiles (arch/x86/gemm-i8-avx512.c, gemm-i8-avx2.c):
 * groups of tg tokens, each a header of hdr bytes (tg float scales d, then tg int32 code sums, then
 * zeros) followed by [n/4][tg] dwords, the codes of elements 4k..4k+3 of each token, so a tile
 * broadcasts every token's dword from one pointer. A group spans ops_i8_group_bytes(n, tg, hdr)
 * bytes (a multiple of 64); token t sits in group t / tg, slot t % tg. */
/* The dword weight panel of the x86 tiles: [n/4][rows] dwords (the codes of elements 4k..4k+3 of
 * each row, each byte xor-ed with flip: 0x80808080 stores them as unsigned codes + 128), then float
 * d[rows]; rows past nr are zeros. */
static inline void ops_i8_pack_dwords(int n, int nr, const void *w, size_t ws, void *panel, int rows, uint32_t flip)
{
    uint32_t *P = (uint32_t *)panel;
    const int nk = n / 4;
    for (int k = 0; k < nk; k++)
        for (int r = 0; r < rows; r++) {
            uint32_t v = 0;
            if (r < nr)
                memcpy(&v, (const uint8_t *)w + (size_t)r * ws + 4 + 4 * (size_t)k, 4);
            P[(size_t)k * rows + (size_t)r] = v ^ flip;
        }
    float *D = (float *)(void *)(P + (size_t)nk * rows);
    for (int r = 0; r < rows; r++) {
        float d = 0;
        if (r < nr)
            memcpy(&d, (const uint8_t *)w + (size_t)r * ws, 4);
        D[r] = d;
    }
}

static inline size_t ops_i8_group_bytes(int n, int tg, int hdr) { return ((size_t)hdr + (size_t)n * (size_t)tg + 63) / 64 * 64; }

/* Codes of elements [i0, n) of one activation row (x * id, rounded as quant_i8pc_code) into slot j
 * of group g; returns their sum. The SIMD quantizers use it for what their vectors leave. */
static inline int32_t ops_i8_group_codes(const float *x, int i0, int n, float id, uint8_t *g, int tg, int hdr, int j)
{
    int32_t sum = 0;
    for (int i = i0; i < n; i++) {
        const int8_t c = quant_i8pc_code(x[i] * id);
        g[(size_t)hdr + (size_t)(i / 4) * (size_t)tg * 4 + 4 * (size_t)j + (size_t)(i % 4)] = (uint8_t)c;
        sum += c;
    }
    return sum;
}

/* Scale d and code sum of slot j of group g. */
static inline void ops_i8_group_set(uint8_t *g, int tg, int j, float d, int32_t sum)
{
    memcpy(g + 4 * (size_t)j, &d, 4);
    memcpy(g + 4 * (size_t)tg + 4 * (size_t)j, &sum, 4);
}

/* quantize_act over a grouped layout: rows [t0, t1) of x (row t at x + t * ldx, t0 a multiple of
 * tg), each by row(), which writes one row's codes, d and sum into slot j of group g as
 * quant_i8pc_quantize_act computes them. A group is cleared before its first row, so the slots
 * past the last row hold zero codes and d = 0. */
/* A tile over nt tokens of the grouped layout: tile_g(T, n / 4, panel, group, y, ys, nr) for each
 * group of T <= tg tokens. */
typedef void (*ops_i8_group_tile)(int T, int nk, const uint8_t *panel, const uint8_t *g, float *y, size_t ys, int nr);
static inline void ops_i8_tile_groups(int n, int nr, int nt, const void *panel, const void *act, float *y, size_t ys,
                                      int tg, int hdr, ops_i8_group_tile tile_g)
{
    const size_t gb = ops_i8_group_bytes(n, tg, hdr);
    for (int t0 = 0; t0 < nt; t0 += tg)
        tile_g(nt - t0 < tg ? nt - t0 : tg, n / 4, (const uint8_t *)panel, (const uint8_t *)act + (size_t)(t0 / tg) * gb,
               y + (size_t)t0 * ys, ys, nr);
}

static inline void ops_i8_quantize_groups(const float *x, size_t ldx, int n, int t0, int t1, void *act, int tg, int hdr,
                                          void (*row)(const float *x, int n, uint8_t *g, int j))
{
    const size_t gb = ops_i8_group_bytes(n, tg, hdr);
    for (int t = t0; t < t1; t++) {
        uint8_t *g = (uint8_t *)act + (size_t)(t / tg) * gb;
        if (t % tg == 0 || t == t0)
            memset(g, 0, gb);
        row(x + (size_t)t * ldx, n, g, t % tg);
    }
}

/* The table for this CPU (thread-safe, static). */
const ops_i8_gemm *ops_i8_gemm_get(void);
/* The portable reference. */
const ops_i8_gemm *ops_i8_gemm_ref(void);
/* Every version this CPU can run, i = 0, 1, ... (0: the reference); NULL past the last (tests). */
const ops_i8_gemm *ops_i8_gemm_variant(int i);

#if defined(MEDGE_ARCH_x86)
/* src/ops/arch/x86/gemm-i8-avx512.c (AVX-512 F/BW/VL + VNNI), gemm-i8-avx2.c (AVX2) */
extern const ops_i8_gemm x86_avx512_i8_gemm, x86_avx2_i8_gemm;
#elif defined(MEDGE_ARCH_arm) || defined(__aarch64__)
/* src/ops/arch/arm/gemm-{neon,dotprod,i8mm}.c (arm-gemm.inc; __aarch64__: also seen by the tests) */
extern const ops_i8_gemm arm_neon_i8_gemm, arm_dotprod_i8_gemm, arm_i8mm_i8_gemm;
#endif
#endif
