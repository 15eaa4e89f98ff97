/* test.h - the tiny assertion header of medge's tests. Each test is one program; a failed check
 * prints file:line and the values, counts the failure, and main returns non-zero via TEST_END. */
#ifndef MEDGE_TEST_H
#define MEDGE_TEST_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reproducible random numbers for the kernel tests (xorshift64): a test that wants them defines
 * TEST_RNG_SEED before including this header. rnd() gives 32 bits, frand() a float in [-1, 1). */
#ifdef TEST_RNG_SEED
#include <stdint.h>
static uint64_t g_rng = TEST_RNG_SEED;
static inline uint32_t rnd(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (uint32_t)(g_rng >> 16);
}
static inline float frand(void) { return ((float)(rnd() & 0xffffff) / 16777216.0f) * 2.0f - 1.0f; }
#endif

static int test_failures;
static int test_checks;

#define CHECK(cond)                                                              \
    do {                                                                         \
        test_checks++;                                                           \
        if (!(cond)) {                                                           \
            test_failures++;                                                     \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                        \
    } while (0)

#define CHECK_MSG(cond, ...)                                                     \
    do {                                                                         \
        test_checks++;                                                           \
        if (!(cond)) {                                                           \
            test_failures++;                                                     \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                        \
            fputc('\n', stderr);                                                 \
        }                                                                        \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                        \
    do {                                                                                          \
        long long ta_ = (long long)(a), tb_ = (long long)(b);                                     \
        CHECK_MSG(ta_ == tb_, "%s = %lld, %s = %lld", #a, ta_, #b, tb_);                          \
    } while (0)

#define CHECK_STR(a, b)                                                                           \
    do {                                                                                          \
        const char *ta_ = (a), *tb_ = (b);                                                        \
        CHECK_MSG(ta_ && tb_ && strcmp(ta_, tb_) == 0, "\"%s\" != \"%s\"", ta_ ? ta_ : "(null)", tb_ ? tb_ : "(null)"); \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                                     \
    do {                                                                                          \
        double ta_ = (double)(a), tb_ = (double)(b);                                              \
        CHECK_MSG(fabs(ta_ - tb_) <= (tol), "%s = %.9g, %s = %.9g (tol %g)", #a, ta_, #b, tb_, (double)(tol)); \
    } while (0)

/* A call returning medge_status that must succeed; prints the library's message otherwise. */
#define CHECK_OK(expr)                                                                            \
    do {                                                                                          \
        medge_status trc_ = (expr);                                                               \
        CHECK_MSG(trc_ == MEDGE_OK, "%s -> %d (%s)", #expr, (int)trc_, medge_errmsg(NULL));       \
    } while (0)

/* Directory of the reference fixtures: $MEDGE_REF_DIR, else ../shared/reference from the source. */
static inline const char *test_ref_dir(void)
{
    const char *d = getenv("MEDGE_REF_DIR");
    return d && d[0] ? d : "../shared/reference";
}

/* Path under the reference dir, in a static rotating buffer. */
static inline const char *test_ref(const char *rel)
{
    static char bufs[8][1024];
    static int k;
    char *b = bufs[k++ & 7];
    snprintf(b, sizeof bufs[0], "%s/%s", test_ref_dir(), rel);
    return b;
}

/* Writable scratch path (under the build folder). */
static inline const char *test_tmp(const char *name)
{
    static char bufs[8][1024];
    static int k;
    char *b = bufs[k++ & 7];
    const char *d = getenv("MEDGE_TEST_TMP");
    snprintf(b, sizeof bufs[0], "%s/%s", d && d[0] ? d : ".", name);
    return b;
}

#define TEST_END()                                                                                \
    do {                                                                                          \
        printf("%d checks, %d failed\n", test_checks, test_failures);                             \
        return test_failures ? 1 : (test_checks ? 0 : 1);                                         \
    } while (0)
#endif
