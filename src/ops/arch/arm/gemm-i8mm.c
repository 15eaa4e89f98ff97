/* gemm-i8mm.c - the AArch64 GEMM tiles of the quantized types with smmla (compiled with
 * +dotprod+i8mm by CMake, by file name; installed only when the CPU reports i8mm and asimddp).
 * See arm-gemm.inc. */
#define ARM_SFX(name) arm_i8mm_##name
#define ARM_VARIANT_NAME "neon-i8mm"
#include "ops/arch/arm/arm-gemm.inc"
