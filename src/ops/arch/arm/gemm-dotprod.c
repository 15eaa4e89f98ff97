/* gemm-dotprod.c - the AArch64 GEMM tiles with sdot by lane (compiled with +dotprod by CMake, by
 * file name; installed only when the CPU reports asimddp). See arm-gemm.inc. */
#define ARM_SFX(name) arm_dotprod_##name
#define ARM_VARIANT_NAME "neon-dotprod"
#include "ops/arch/arm/arm-gemm.inc"
