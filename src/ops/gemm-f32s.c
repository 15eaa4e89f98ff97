/* gemm-f32s.c - the choice of the small-batch F32 product (gemm-f32s.h) for this CPU. */
#include "ops/gemm-f32s.h"
#include "core/cpu.h"
#include "quant/types.h"

const ops_f32s_gemm *ops_f32s_gemm_get(void)
{
#if defined(MEDGE_ARCH_x86)
    const medge_cpu *c = medge_cpu_get();
    if (c->avx512f && c->avx512bw && c->avx512vl)
        return &x86_avx512_f32s_gemm;
#endif
    return NULL;
}

const ops_f32s_gemm *ops_f32s_gemm_for(int type)
{
    const ops_f32s_gemm *f = ops_f32s_gemm_get();
    if (!f || (type != GGML_TYPE_F32 && type != GGML_TYPE_F16))
        return NULL;
#if defined(MEDGE_ARCH_x86)
    if (type == GGML_TYPE_F16)
        return &x86_avx512_f16s_gemm;
#endif
    return f;
}
