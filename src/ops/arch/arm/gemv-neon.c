/* gemv-neon.c - the AArch64 single-token kernels for CPUs without the dot-product extension.
 * See arm-gemv.inc. */
#define ARM_SFX(name) arm_neon_##name
#include "ops/arch/arm/arm-gemv.inc"
