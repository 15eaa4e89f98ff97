/* kernels-neon.c - the AArch64 kernels for CPUs without the dot-product extension (widening
 * multiplies and pairwise adds). See arm-kernels.inc. */
#define ARM_SFX(name) arm_neon_##name
#include "ops/arch/arm/arm-kernels.inc"
