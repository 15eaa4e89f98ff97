/* gemm-neon.c - the AArch64 GEMM tiles for CPUs without the dot-product extension (the lane dot
 * product emulated with widening multiplies). See arm-gemm.inc. */
#define ARM_SFX(name) arm_neon_##name
#define ARM_VARIANT_NAME "neon"
#include "ops/arch/arm/arm-gemm.inc"
