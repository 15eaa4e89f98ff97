/* kernels-dotprod.c - the AArch64 kernels with sdot (compiled with +dotprod by CMake, by file
 * name; called only when the CPU reports asimddp). See arm-kernels.inc. */
#define ARM_SFX(name) arm_dotprod_##name
#include "ops/arch/arm/arm-kernels.inc"
