/* x86-init.c - ops_arch_init for x86-64: replaces the reference kernels with the AVX2 ones when
 * the CPU has AVX2 + FMA + F16C, and with AVX-512 VNNI ones where those are faster. Compiled
 * with the base flags (no ISA options), so it only stores pointers. A kernel replaces a
 * reference entry only when the reference exists with the same activation type, so both tables
 * always describe the same computation. */
#include "ops/arch/x86/arch.h"
#include "quant/quant.h"

static void set_gemm(ops_kernels *k, enum ggml_type t, enum ggml_type act, const ops_gemm_kernel *f)
{
    if (k->w[t].vec_dot && k->w[t].act_type == act)
        k->w[t].gemm = f;
}

static void set_gemv(ops_kernels *k, enum ggml_type t, enum ggml_type act, ops_gemv_fn f)
{
    if (k->w[t].vec_dot && k->w[t].act_type == act)
        k->w[t].gemv = f;
}

static void set_dot(ops_kernels *k, enum ggml_type t, enum ggml_type act, ops_vec_dot_fn f)
{
    if (k->w[t].vec_dot && k->w[t].act_type == act)
        k->w[t].vec_dot = f;
}


void ops_arch_init(ops_kernels *k, const medge_cpu *cpu)
{
    if (!(cpu->avx2 && cpu->fma && cpu->f16c))
        return;
    set_dot(k, GGML_TYPE_Q4_K, GGML_TYPE_Q8_K, x86_avx2_vec_dot_q4_K);
    set_dot(k, GGML_TYPE_Q5_K, GGML_TYPE_Q8_K, x86_avx2_vec_dot_q5_K);
    set_dot(k, GGML_TYPE_Q6_K, GGML_TYPE_Q8_K, x86_avx2_vec_dot_q6_K);
    set_dot(k, GGML_TYPE_Q8_0, GGML_TYPE_Q8_0, x86_avx2_vec_dot_q8_0);
    set_dot(k, GGML_TYPE_Q4_0, GGML_TYPE_Q8_0, x86_avx2_vec_dot_q4_0);
    set_dot(k, GGML_TYPE_F16, GGML_TYPE_F16, x86_avx2_vec_dot_f16);
    set_dot(k, GGML_TYPE_BF16, GGML_TYPE_BF16, x86_avx2_vec_dot_bf16);
    set_dot(k, GGML_TYPE_F32, GGML_TYPE_F32, x86_avx2_vec_dot_f32);
    /* the activation quantizers reproduce quant_ref_q8_K and quant_act_q8_0 (ggml's x86 one) */
    if (k->quantize_act[GGML_TYPE_Q8_K] == quant_ref_q8_K)
        k->quantize_act[GGML_TYPE_Q8_K] = x86_avx2_quantize_q8_K;
    if (k->quantize_act[GGML_TYPE_Q8_0] == quant_act_q8_0)
        k->quantize_act[GGML_TYPE_Q8_0] = x86_avx2_quantize_q8_0;
    if (k->quantize_act[GGML_TYPE_F16])
        k->quantize_act[GGML_TYPE_F16] = x86_avx2_quantize_f16;
    if (k->fp16_to_fp32_row)
        k->fp16_to_fp32_row = x86_avx2_fp16_to_fp32_row;
    if (k->fp32_to_fp16_row)
        k->fp32_to_fp16_row = x86_avx2_fp32_to_fp16_row;
    if (k->mad[GGML_TYPE_F16])
        k->mad[GGML_TYPE_F16] = x86_avx2_mad_f16;
    if (k->mad[GGML_TYPE_F32])
        k->mad[GGML_TYPE_F32] = x86_avx2_mad_f32;
    set_gemm(k, GGML_TYPE_F32, GGML_TYPE_F32, &x86_avx2_gemm_f32);
    set_gemm(k, GGML_TYPE_F16, GGML_TYPE_F16, &x86_avx2_gemm_f16);
    set_gemm(k, GGML_TYPE_BF16, GGML_TYPE_BF16, &x86_avx2_gemm_bf16);
    set_gemm(k, GGML_TYPE_Q8_0, GGML_TYPE_Q8_0, &x86_avx2_gemm_q8_0);
    k->name = "avx2";
    if (cpu->avx512f && cpu->avx512bw && cpu->avx512vl && cpu->avx512vnni) {
        set_gemm(k, GGML_TYPE_Q4_K, GGML_TYPE_Q8_K, &x86_avx512_gemm_q4_K);
        set_gemm(k, GGML_TYPE_Q5_K, GGML_TYPE_Q8_K, &x86_avx512_gemm_q5_K);
        set_gemm(k, GGML_TYPE_Q6_K, GGML_TYPE_Q8_K, &x86_avx512_gemm_q6_K);
        set_gemm(k, GGML_TYPE_Q8_0, GGML_TYPE_Q8_0, &x86_avx512_gemm_q8_0);
        set_gemm(k, GGML_TYPE_Q4_0, GGML_TYPE_Q8_0, &x86_avx512_gemm_q4_0);
        set_gemm(k, GGML_TYPE_F32, GGML_TYPE_F32, &x86_avx512_gemm_f32);
        set_gemm(k, GGML_TYPE_F16, GGML_TYPE_F16, &x86_avx512_gemm_f16);
        if (cpu->avx512bf16)
            set_gemm(k, GGML_TYPE_BF16, GGML_TYPE_BF16, &x86_avx512_gemm_bf16);
        set_gemv(k, GGML_TYPE_Q4_K, GGML_TYPE_Q8_K, x86_avx512_gemv_q4_K);
        set_gemv(k, GGML_TYPE_Q5_K, GGML_TYPE_Q8_K, x86_avx512_gemv_q5_K);
        set_gemv(k, GGML_TYPE_Q6_K, GGML_TYPE_Q8_K, x86_avx512_gemv_q6_K);
        set_gemv(k, GGML_TYPE_Q8_0, GGML_TYPE_Q8_0, x86_avx512_gemv_q8_0);
        set_gemv(k, GGML_TYPE_Q4_0, GGML_TYPE_Q8_0, x86_avx512_gemv_q4_0);
        k->name = "avx512-vnni";
    }
    if (cpu->avx512f && cpu->avx512bw && cpu->avx512vl) {
        k->attn_dense[0] = x86_avx512_attn_f32;
        k->attn_dense[1] = cpu->avx512bf16 ? x86_avx512_attn_bf16 : x86_avx512_attn_f32;
        k->attn_rows[0] = x86_avx512_attn_rows_f32;
        k->attn_rows[1] = x86_avx512_attn_rows_f16;
        k->geglu = x86_avx512_geglu;
    }
}
