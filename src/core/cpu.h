/* cpu.h - CPU feature detection (cpuid on x86, getauxval on Linux/Android ARM) and core count. */
#ifndef MEDGE_CORE_CPU_H
#define MEDGE_CORE_CPU_H
#include <stdbool.h>

typedef struct medge_cpu {
    bool avx2, fma, f16c, avx512f, avx512bw, avx512vl, avx512vnni, avx512bf16, avxvnni;
    bool neon, dotprod, i8mm, fp16;
    int n_cores; /* online logical CPUs */
} medge_cpu;

/* Detected once; MEDGE_FORCE_SCALAR=1 in the environment clears every SIMD flag. */
const medge_cpu *medge_cpu_get(void);
/* Short human-readable list, e.g. "AVX2 FMA F16C AVX512 VNNI". Static storage. */
const char *medge_cpu_describe(void);
#endif
