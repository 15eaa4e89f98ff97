/* cpu.c - see cpu.h. Runs detection once (pthread_once) so callers on any thread agree. */
#include "core/cpu.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

static medge_cpu g_cpu;
static char g_desc[128];
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void detect(void)
{
    medge_cpu c;
    memset(&c, 0, sizeof c);
#if defined(__x86_64__) || defined(__i386__)
    unsigned a, b, cc, d;
    if (__get_cpuid(1, &a, &b, &cc, &d)) {
        c.fma = (cc >> 12) & 1;
        c.f16c = (cc >> 29) & 1;
        int osxsave = (cc >> 27) & 1;
        unsigned xcr0 = 0;
        if (osxsave) {
            unsigned lo, hi;
            __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
            xcr0 = lo;
        }
        int ymm = (xcr0 & 6) == 6, zmm = (xcr0 & 0xe6) == 0xe6;
        if (__get_cpuid_count(7, 0, &a, &b, &cc, &d)) {
            c.avx2 = ymm && ((b >> 5) & 1);
            c.avx512f = zmm && ((b >> 16) & 1);
            c.avx512bw = zmm && ((b >> 30) & 1);
            c.avx512vl = zmm && ((b >> 31) & 1);
            c.avx512vnni = zmm && ((cc >> 11) & 1);
        }
        if (__get_cpuid_count(7, 1, &a, &b, &cc, &d)) {
            c.avxvnni = ymm && ((a >> 4) & 1);
            c.avx512bf16 = zmm && ((a >> 5) & 1);
        }
        c.fma &= ymm;
        c.f16c &= ymm;
    }
#elif defined(__aarch64__)
    c.neon = true;
#if defined(__linux__)
    unsigned long hw = getauxval(AT_HWCAP), hw2 = getauxval(AT_HWCAP2);
    c.dotprod = (hw >> 20) & 1;  /* HWCAP_ASIMDDP */
    c.fp16 = (hw >> 10) & 1;     /* HWCAP_ASIMDHP */
    c.i8mm = (hw2 >> 13) & 1;    /* HWCAP2_I8MM */
#endif
#endif
    const char *force = getenv("MEDGE_FORCE_SCALAR");
    if (force && force[0] && strcmp(force, "0") != 0) {
        memset(&c, 0, sizeof c);
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    c.n_cores = n > 0 ? (int)n : 1;
    g_cpu = c;
    g_desc[0] = 0;
    const struct { bool on; const char *name; } f[] = {
        {c.avx2, "AVX2"}, {c.fma, "FMA"}, {c.f16c, "F16C"}, {c.avx512f, "AVX512F"}, {c.avx512bw, "AVX512BW"},
        {c.avx512vnni, "AVX512-VNNI"}, {c.avx512bf16, "AVX512-BF16"}, {c.avxvnni, "AVX-VNNI"},
        {c.neon, "NEON"}, {c.dotprod, "DOTPROD"}, {c.i8mm, "I8MM"}, {c.fp16, "FP16"},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        if (f[i].on) {
            if (g_desc[0])
                strcat(g_desc, " ");
            strcat(g_desc, f[i].name);
        }
    }
    if (!g_desc[0])
        strcpy(g_desc, "scalar");
}

const medge_cpu *medge_cpu_get(void)
{
    pthread_once(&g_once, detect);
    return &g_cpu;
}

const char *medge_cpu_describe(void)
{
    pthread_once(&g_once, detect);
    return g_desc;
}
