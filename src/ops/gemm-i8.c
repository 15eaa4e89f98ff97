/* gemm-i8.c - the portable reference of the I8_PC products (gemm-i8.h) and the choice of the
 * version for this CPU. The reference panel is the weight rows themselves, copied. */
#include "ops/gemm-i8.h"
#include "core/cpu.h"
#include "quant/i8pc.h"

#include <string.h>

#define REF_ROWS 4

static size_t ref_panel_bytes(int n) { return ((size_t)REF_ROWS * (4 + (size_t)n) + 63) / 64 * 64; }

static void ref_pack_w(int n, int nr, const void *w, size_t ws, void *panel)
{
    const size_t rb = 4 + (size_t)n;
    uint8_t *p = panel;
    for (int r = 0; r < REF_ROWS; r++) {
        if (r < nr)
            memcpy(p + (size_t)r * rb, (const uint8_t *)w + (size_t)r * ws, rb);
        else
            memset(p + (size_t)r * rb, 0, rb);
    }
}

static size_t ref_act_bytes(int n, int nt) { return (quant_i8pc_act_bytes(n) * (size_t)nt + 63) / 64 * 64; }

static void ref_quantize_act(const float *x, size_t ldx, int n, int t0, int t1, void *act)
{
    for (int t = t0; t < t1; t++)
        quant_i8pc_quantize_act(x + (size_t)t * ldx, (uint8_t *)act + (size_t)t * quant_i8pc_act_bytes(n), n);
}

static void ref_tile(int n, int nr, int nt, const void *panel, const void *act, float *y, size_t ys)
{
    const size_t rb = 4 + (size_t)n, ab = quant_i8pc_act_bytes(n);
    for (int t = 0; t < nt; t++)
        for (int r = 0; r < nr; r++)
            y[(size_t)t * ys + (size_t)r] =
                quant_i8pc_dot(n, (const uint8_t *)panel + (size_t)r * rb, (const uint8_t *)act + (size_t)t * ab);
}

static const ops_i8_gemm k_ref = {"scalar", REF_ROWS, ref_panel_bytes, ref_pack_w, ref_act_bytes, 1, ref_quantize_act,
                                  ref_tile};

const ops_i8_gemm *ops_i8_gemm_ref(void) { return &k_ref; }

/* in order of preference, the reference first */
const ops_i8_gemm *ops_i8_gemm_variant(int i)
{
    const ops_i8_gemm *v[3] = {&k_ref, NULL, NULL};
    int n = 1;
#if defined(MEDGE_ARCH_x86)
    const medge_cpu *c = medge_cpu_get();
    if (c->avx2 && c->fma && c->f16c)
        v[n++] = &x86_avx2_i8_gemm;
    if (c->avx512f && c->avx512bw && c->avx512vl && c->avx512vnni)
        v[n++] = &x86_avx512_i8_gemm;
#elif defined(MEDGE_ARCH_arm)
    const medge_cpu *c = medge_cpu_get();
    if (c->neon)
        v[n++] = c->dotprod ? &arm_dotprod_i8_gemm : &arm_neon_i8_gemm;
    if (c->neon && c->dotprod && c->i8mm)
        v[n++] = &arm_i8mm_i8_gemm;
#endif
    return i >= 0 && i < n ? v[i] : NULL;
}

/* the last variant is the fastest this CPU runs */
const ops_i8_gemm *ops_i8_gemm_get(void)
{
    const ops_i8_gemm *best = &k_ref;
    for (int i = 1; ops_i8_gemm_variant(i); i++)
        best = ops_i8_gemm_variant(i);
    return best;
}
