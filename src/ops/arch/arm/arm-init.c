/* arm-init.c - ops_arch_init for AArch64: NEON kernels always (NEON is part of AArch64), the
 * sdot versions when the CPU has the dot-product extension, and the smmla GEMM tiles (Q4_K,
 * Q4_0) when it also has i8mm (the lanes8 tiles of Q8_0 / Q5_K / Q6_K stay the sdot ones: smmla
 * sums 8-byte dots, the contract needs 4-byte ones). A kernel replaces a reference entry only when the
 * reference exists with the same activation type (and, for the activation quantizers, the same
 * semantics), so both tables describe the same computation. */
#include "ops/arch/arm/arch.h"
#include "quant/quant.h"

static int same_act(const ops_kernels *k, enum ggml_type t, enum ggml_type act)
{
    return k->w[t].vec_dot && k->w[t].act_type == act;
}

static void set_dot(ops_kernels *k, enum ggml_type t, enum ggml_type act, ops_vec_dot_fn f)
{
    if (same_act(k, t, act))
        k->w[t].vec_dot = f;
}

static void set_gemv(ops_kernels *k, enum ggml_type t, enum ggml_type act, ops_gemv_fn f)
{
    if (same_act(k, t, act))
        k->w[t].gemv = f;
}

static void set_gemm(ops_kernels *k, enum ggml_type t, enum ggml_type act, const ops_gemm_kernel *g)
{
    if (same_act(k, t, act))
        k->w[t].gemm = g;
}

#define ARM_INSTALL(sfx)                                                           \
    do {                                                                           \
        set_dot(k, GGML_TYPE_Q4_K, GGML_TYPE_Q8_K, arm_##sfx##_vec_dot_q4_K);      \
        set_dot(k, GGML_TYPE_Q5_K, GGML_TYPE_Q8_K, arm_##sfx##_vec_dot_q5_K);      \
        set_dot(k, GGML_TYPE_Q6_K, GGML_TYPE_Q8_K, arm_##sfx##_vec_dot_q6_K);      \
        set_dot(k, GGML_TYPE_Q8_0, GGML_TYPE_Q8_0, arm_##sfx##_vec_dot_q8_0);      \
        set_dot(k, GGML_TYPE_Q4_0, GGML_TYPE_Q8_0, arm_##sfx##_vec_dot_q4_0);      \
        set_dot(k, GGML_TYPE_F16, GGML_TYPE_F16, arm_##sfx##_vec_dot_f16);         \
        set_dot(k, GGML_TYPE_BF16, GGML_TYPE_BF16, arm_##sfx##_vec_dot_bf16);      \
        set_dot(k, GGML_TYPE_F32, GGML_TYPE_F32, arm_##sfx##_vec_dot_f32);         \
        if (k->quantize_act[GGML_TYPE_Q8_K] == quant_ref_q8_K)                     \
            k->quantize_act[GGML_TYPE_Q8_K] = arm_##sfx##_quantize_q8_K;           \
        if (k->quantize_act[GGML_TYPE_Q8_0] == quant_act_q8_0)                     \
            k->quantize_act[GGML_TYPE_Q8_0] = arm_##sfx##_quantize_q8_0;           \
        set_gemv(k, GGML_TYPE_Q4_K, GGML_TYPE_Q8_K, arm_##sfx##_gemv_q4_K);        \
        set_gemv(k, GGML_TYPE_Q5_K, GGML_TYPE_Q8_K, arm_##sfx##_gemv_q5_K);        \
        set_gemv(k, GGML_TYPE_Q6_K, GGML_TYPE_Q8_K, arm_##sfx##_gemv_q6_K);        \
        set_gemv(k, GGML_TYPE_Q8_0, GGML_TYPE_Q8_0, arm_##sfx##_gemv_q8_0);        \
        set_gemv(k, GGML_TYPE_Q4_0, GGML_TYPE_Q8_0, arm_##sfx##_gemv_q4_0);        \
        set_gemm(k, GGML_TYPE_Q4_K, GGML_TYPE_Q8_K, &arm_##sfx##_gemm_q4_K);       \
        set_gemm(k, GGML_TYPE_Q5_K, GGML_TYPE_Q8_K, &arm_##sfx##_gemm_q5_K);       \
        set_gemm(k, GGML_TYPE_Q6_K, GGML_TYPE_Q8_K, &arm_##sfx##_gemm_q6_K);       \
        set_gemm(k, GGML_TYPE_Q8_0, GGML_TYPE_Q8_0, &arm_##sfx##_gemm_q8_0);       \
        set_gemm(k, GGML_TYPE_Q4_0, GGML_TYPE_Q8_0, &arm_##sfx##_gemm_q4_0);       \
        set_gemm(k, GGML_TYPE_F32, GGML_TYPE_F32, &arm_##sfx##_gemm_f32);          \
        set_gemm(k, GGML_TYPE_F16, GGML_TYPE_F16, &arm_##sfx##_gemm_f16);          \
        set_gemm(k, GGML_TYPE_BF16, GGML_TYPE_BF16, &arm_##sfx##_gemm_bf16);       \
    } while (0)

void ops_arch_init(ops_kernels *k, const medge_cpu *cpu)
{
    if (!cpu->neon) /* MEDGE_FORCE_SCALAR=1 clears it */
        return;
    /* attention rows and tiles, GeGLU and fp16 rows use nothing beyond base NEON: one version for
     * every variant */
    k->attn_rows[0] = arm_attn_rows_f32;
    k->attn_rows[1] = arm_attn_rows_f16;
    k->attn_dense[0] = arm_attn_dense_f32;
    k->geglu = arm_geglu;
    if (k->quantize_act[GGML_TYPE_F16])
        k->quantize_act[GGML_TYPE_F16] = arm_quantize_f16;
    if (k->fp32_to_fp16_row)
        k->fp32_to_fp16_row = arm_fp32_to_fp16_row;
    if (k->fp16_to_fp32_row)
        k->fp16_to_fp32_row = arm_fp16_to_fp32_row;
    if (cpu->dotprod) {
        ARM_INSTALL(dotprod);
        k->name = "neon-dotprod";
        if (cpu->i8mm) {
            set_gemm(k, GGML_TYPE_Q4_K, GGML_TYPE_Q8_K, &arm_i8mm_gemm_q4_K);
            set_gemm(k, GGML_TYPE_Q4_0, GGML_TYPE_Q8_0, &arm_i8mm_gemm_q4_0);
            k->name = "neon-i8mm";
        }
    } else {
        ARM_INSTALL(neon);
        k->name = "neon";
    }
}
