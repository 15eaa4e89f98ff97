/* gemv-dotprod.c - the AArch64 single-token kernels with sdot (compiled with +dotprod by CMake,
 * by file name). See arm-gemv.inc. */
#define ARM_SFX(name) arm_dotprod_##name
#include "ops/arch/arm/arm-gemv.inc"
