/* gemm-avx512.c - GEMM tiles for batches of tokens (ops_gemm_kernel of ops/kernels.h) on
 * AVX-512 F/BW/VL with VNNI (vpdpbusd) and, for BF16 weights, AVX512_BF16 (vdpbf16ps).
 *
 * Layout: one vector lane per weight row. A panel of 16 (int8 tiles; Q8_0: 32) or 32 (float tiles)
 * rows is repacked so that each 64-byte vector holds the same 4 bytes (one dword) of 16 rows; the tile
 * then multiplies such a vector by 4 activation bytes (or 1 float) broadcast from one token, so
 * one weight load feeds up to 12 tokens and no horizontal sums are needed. Panels are repacked
 * per call into the caller's scratch (the weights stay in place in the mapping).
 *
 * Quantized weights keep the integer arithmetic of the portable reference exactly: unsigned
 * codes times int8 activations summed by vpdpbusd, scaled by the integer sub-block scales,
 * offsets (Q4_K/Q5_K mins, Q6_K's -32, Q8_0's +128, Q4_0's -8) removed with the activation sums;
 * the float combination follows the summation-order contract of ops/kernels.h, so every output
 * equals the reference bit for bit. Q4_K (per sub-block pair) and Q4_0 (per block) keep one
 * running sum per row and token. Q5_K, Q6_K and Q8_0 sum in 8 lanes of 4 elements: the dword
 * index lg of a 32-element group IS the lane, so each lane keeps its own integer sum (vpdpbusd of
 * dword lg, scaled by vpdpwssd with the sub-block scale as an int16 pair (sc, 0): the 4-element
 * sums fit int16) and its own float accumulator; the 8 lanes are added in the contract's tree at
 * the end. The Q5_K and Q6_K lane tiles take at most LMAX tokens (16 integer + 8 float accumulators
 * per token); Q8_0 has its own arrangement (32 rows x 2 tokens, lanes in two passes: see tile_q80).
 * The float tiles (F32, F16, BF16) sum the same products in another order. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#elif defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif
#include "ops/arch/x86/arch.h"
#include "ops/arch/x86/x86-common.h"

#define TMAX 12 /* tokens per register tile */
#define LMAX 3  /* tokens per lane tile (Q5_K, Q6_K, Q8_0) */

#define INLINE static inline __attribute__((always_inline))

/* ---- packing: 16 rows at a time, transposed from row-major to dword-major ---- */

/* T[i] = dword i of 16 rows (v[r] = 16 dwords of row r on input; v is clobbered) */
static inline void tr16(__m512i *v, __m512i *T)
{
    __m512i t[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_epi32(v[2 * i], v[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_epi32(v[2 * i], v[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) {
        v[4 * i] = _mm512_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
        v[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
        v[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
        v[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
    }
    /* v[4i + e], 128-bit lane L: element 4L + e of rows 4i..4i+3 */
    for (int e = 0; e < 4; e++) {
        const __m512i a0 = _mm512_shuffle_i32x4(v[e], v[4 + e], 0x88), a1 = _mm512_shuffle_i32x4(v[e], v[4 + e], 0xdd);
        const __m512i b0 = _mm512_shuffle_i32x4(v[8 + e], v[12 + e], 0x88), b1 = _mm512_shuffle_i32x4(v[8 + e], v[12 + e], 0xdd);
        T[e] = _mm512_shuffle_i32x4(a0, b0, 0x88);
        T[8 + e] = _mm512_shuffle_i32x4(a0, b0, 0xdd);
        T[4 + e] = _mm512_shuffle_i32x4(a1, b1, 0x88);
        T[12 + e] = _mm512_shuffle_i32x4(a1, b1, 0xdd);
    }
}

/* T[i] = dword i (from byte offset off) of rows r0..r0+15 of w, for nbytes bytes (the last dword
 * zero-padded; rows >= nr and bytes past nbytes read as zeros, never touched) */
static inline void tr_rows(const void *w, size_t ws, int nr, int r0, size_t off, int nbytes, __m512i *T)
{
    const uint8_t *base = (const uint8_t *)w + off;
    for (int c = 0; c < nbytes; c += 64) {
        const int nb = nbytes - c < 64 ? nbytes - c : 64;
        const __mmask64 m = nb == 64 ? ~(__mmask64)0 : (((__mmask64)1 << nb) - 1);
        __m512i v[16], t[16];
        for (int r = 0; r < 16; r++)
            v[r] = r0 + r < nr ? _mm512_maskz_loadu_epi8(m, base + (size_t)(r0 + r) * ws + (size_t)c) : _mm512_setzero_si512();
        tr16(v, t);
        const int nd = (nb + 3) / 4;
        for (int i = 0; i < nd; i++)
            T[c / 4 + i] = t[i];
    }
}

/* fp16 in the low (hi = 0) or high half of each dword -> float */
static inline __m512 dw_h2f(__m512i v, int hi)
{
    if (hi)
        v = _mm512_srli_epi32(v, 16);
    return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(v));
}

typedef int32_t i32_u __attribute__((may_alias, aligned(1)));

/* 4 bytes broadcast to every lane (a plain load the compiler can fold into {1to16} operands) */
static inline __m512i bcast(const uint8_t *p) { return _mm512_set1_epi32(*(const i32_u *)p); }

static inline void store_rows(float *y, __m512 v, int nr)
{
    if (nr >= 16)
        _mm512_storeu_ps(y, v);
    else
        _mm512_mask_storeu_ps(y, (__mmask16)((1u << nr) - 1), v);
}

/* ======================= k-quants (256-element blocks, Q8_K activations) ======================= */

/* Q8_K activation block: float d, int8 qs[256], int16 bsums[16] */
#define Q8K_BYTES 292
#define Q8K_QS 4
#define Q8K_BSUMS 260

/* Panel block layouts, in 64-byte vectors (lane = row):
 *   Q4_K: Q[32] raw qs dwords, SC[8] int32 scales, MN[8] int16 pairs (m_j, m_j), D, DMIN
 *   Q5_K: Q[32], QH[8] raw qh dwords, SC[8], MN[8], D, DMIN
 *   Q6_K: QL[32], QH[16], SC[16] int16 pairs (sc, 0), MN[8] int16 pairs (32 sc_2i, 32 sc_2i+1), D */
#define Q4K_V 50
#define Q5K_V 58
#define Q6K_V 73

static size_t panel_q4_K(int n) { return (size_t)(n / 256) * Q4K_V * 64; }
static size_t panel_q5_K(int n) { return (size_t)(n / 256) * Q5K_V * 64; }
static size_t panel_q6_K(int n) { return (size_t)(n / 256) * Q6K_V * 64; }

/* 6-bit scales and mins of Q4_K / Q5_K (the 3 dwords u0..u2 of 16 rows) */
static inline void k4_scales(__m512i u0, __m512i u1, __m512i u2, __m512i *SC, __m512i *MN)
{
    const __m512i m6 = _mm512_set1_epi32(0x3f3f3f3f), m4 = _mm512_set1_epi32(0x0f0f0f0f), m2 = _mm512_set1_epi32(0x03030303);
    const __m512i a0 = _mm512_and_si512(u0, m6);
    const __m512i a1 = _mm512_or_si512(_mm512_and_si512(u2, m4), _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(u0, 6), m2), 4));
    const __m512i b0 = _mm512_and_si512(u1, m6);
    const __m512i b1 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(u2, 4), m4),
                                       _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(u1, 6), m2), 4));
    const __m512i ff = _mm512_set1_epi32(0xff);
    for (int j = 0; j < 4; j++) {
        SC[j] = _mm512_and_si512(_mm512_srli_epi32(a0, 8 * j), ff);
        SC[j + 4] = _mm512_and_si512(_mm512_srli_epi32(a1, 8 * j), ff);
        const __m512i mA = _mm512_and_si512(_mm512_srli_epi32(b0, 8 * j), ff);
        const __m512i mB = _mm512_and_si512(_mm512_srli_epi32(b1, 8 * j), ff);
        MN[j] = _mm512_or_si512(mA, _mm512_slli_epi32(mA, 16));
        MN[j + 4] = _mm512_or_si512(mB, _mm512_slli_epi32(mB, 16));
    }
}

static void pack_q4_K(int n, int nr, const void *w, size_t ws, void *panel)
{
    __m512i *P = panel, T[36];
    for (int b = 0; b < n / 256; b++, P += Q4K_V) {
        tr_rows(w, ws, nr, 0, (size_t)b * 144, 144, T);
        for (int i = 0; i < 32; i++)
            P[i] = T[4 + i];
        k4_scales(T[1], T[2], T[3], P + 32, P + 40);
        _mm512_store_ps((float *)(P + 48), dw_h2f(T[0], 0));
        _mm512_store_ps((float *)(P + 49), dw_h2f(T[0], 1));
    }
}

static void pack_q5_K(int n, int nr, const void *w, size_t ws, void *panel)
{
    __m512i *P = panel, T[44];
    for (int b = 0; b < n / 256; b++, P += Q5K_V) {
        tr_rows(w, ws, nr, 0, (size_t)b * 176, 176, T);
        for (int i = 0; i < 32; i++)
            P[i] = T[12 + i];
        for (int i = 0; i < 8; i++)
            P[32 + i] = T[4 + i];
        k4_scales(T[1], T[2], T[3], P + 40, P + 48);
        _mm512_store_ps((float *)(P + 56), dw_h2f(T[0], 0));
        _mm512_store_ps((float *)(P + 57), dw_h2f(T[0], 1));
    }
}

static void pack_q6_K(int n, int nr, const void *w, size_t ws, void *panel)
{
    __m512i *P = panel, T[64];
    for (int b = 0; b < n / 256; b++, P += Q6K_V) {
        tr_rows(w, ws, nr, 0, (size_t)b * 210, 210, T); /* dword 52: d and zeros */
        for (int i = 0; i < 48; i++) /* ql (32 dwords) then qh (16) */
            P[i] = T[i];
        for (int i = 0; i < 4; i++)
            for (int k = 0; k < 4; k++) /* sign-extended scale byte k */
                P[48 + 4 * i + k] = _mm512_srai_epi32(_mm512_slli_epi32(T[48 + i], 24 - 8 * k), 24);
        for (int i = 0; i < 8; i++) {
            const __m512i lo = _mm512_slli_epi32(P[48 + 2 * i], 5), hi = _mm512_slli_epi32(P[49 + 2 * i], 5);
            P[64 + i] = _mm512_or_si512(_mm512_and_si512(lo, _mm512_set1_epi32(0xffff)), _mm512_slli_epi32(hi, 16));
        }
        for (int j = 0; j < 16; j++) /* (sc, 0) int16 pairs for vpdpwssd */
            P[48 + j] = _mm512_and_si512(P[48 + j], _mm512_set1_epi32(0xffff));
        _mm512_store_ps((float *)(P + 72), dw_h2f(T[52], 0));
    }
}

/* The 4-bit (Q4_K) or 5-bit (Q5_K) codes of dword lg of sub-block j of 16 rows */
INLINE __m512i k45_codes(const __m512i *P, int q5, int j, int lg)
{
    const int c = j >> 1, hi = j & 1;
    const __m512i m4 = _mm512_set1_epi8(0x0f), one = _mm512_set1_epi8(1);
    __m512i v = P[8 * c + lg];
    v = _mm512_and_si512(hi ? _mm512_srli_epi16(v, 4) : v, m4);
    if (q5) {
        const __m512i h = _mm512_and_si512(_mm512_srli_epi16(P[32 + lg], j), one);
        v = _mm512_or_si512(v, _mm512_slli_epi16(h, 4));
    }
    return v;
}

/* Q4_K, order "pairs": per sub-block pair p, acc = fma(isum_p, d*yd, acc) and
 * accm = fma(msum_p, dmin*yd, accm); result acc - accm. */
INLINE void tile_q4k(int T, int nb, const __m512i *P, const uint8_t *a, size_t as, float *y, size_t ys, int nr)
{
    __m512 acc[TMAX], accm[TMAX];
    const uint8_t *ya[TMAX];
    for (int t = 0; t < T; t++) {
        acc[t] = accm[t] = _mm512_setzero_ps();
        ya[t] = a + (size_t)t * as;
    }
    for (int b = 0; b < nb; b++, P += Q4K_V) {
        const __m512 D = _mm512_load_ps((const float *)(P + Q4K_V - 2)), DMIN = _mm512_load_ps((const float *)(P + Q4K_V - 1));
        for (int p = 0; p < 4; p++) {
            __m512i isum[TMAX], s[TMAX];
            for (int t = 0; t < T; t++)
                isum[t] = _mm512_setzero_si512();
            for (int j = 2 * p; j < 2 * p + 2; j++) {
                for (int t = 0; t < T; t++)
                    s[t] = _mm512_setzero_si512();
                for (int lg = 0; lg < 8; lg++) {
                    const __m512i v = k45_codes(P, 0, j, lg);
                    for (int t = 0; t < T; t++)
                        s[t] = _mm512_dpbusd_epi32(s[t], v, bcast(ya[t] + Q8K_QS + 32 * j + 4 * lg));
                }
                const __m512i sc = P[32 + j];
                for (int t = 0; t < T; t++)
                    isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(s[t], sc));
            }
            for (int t = 0; t < T; t++) {
                const __m512 vy = _mm512_set1_ps(x86_rdf32(ya[t]));
                __m512i m = _mm512_dpwssd_epi32(_mm512_setzero_si512(), P[40 + 2 * p], bcast(ya[t] + Q8K_BSUMS + 8 * p));
                m = _mm512_dpwssd_epi32(m, P[41 + 2 * p], bcast(ya[t] + Q8K_BSUMS + 8 * p + 4));
                acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), _mm512_mul_ps(D, vy), acc[t]);
                accm[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(m), _mm512_mul_ps(DMIN, vy), accm[t]);
            }
        }
        for (int t = 0; t < T; t++)
            ya[t] += Q8K_BYTES;
    }
    for (int t = 0; t < T; t++)
        store_rows(y + (size_t)t * ys, _mm512_sub_ps(acc[t], accm[t]), nr);
}

/* the contract's hsum8 of 8 lane accumulators, 16 rows at once */
INLINE __m512 lanes_hsum(const __m512 *L)
{
    const __m512 r0 = _mm512_add_ps(L[0], L[4]), r1 = _mm512_add_ps(L[1], L[5]);
    const __m512 r2 = _mm512_add_ps(L[2], L[6]), r3 = _mm512_add_ps(L[3], L[7]);
    return _mm512_add_ps(_mm512_add_ps(r0, r2), _mm512_add_ps(r1, r3));
}

/* Q5_K, order "lanes8": lane lg sums sc_j * (codes . activations of dword lg of sub-block j) over
 * the 8 sub-blocks; summs = fma(-(dmin*yd), msum, summs) per row. */
INLINE void tile_q5k(int T, int nb, const __m512i *P, const uint8_t *a, size_t as, float *y, size_t ys, int nr)
{
    __m512 acc[8][LMAX], summs[LMAX];
    const uint8_t *ya[LMAX];
    for (int t = 0; t < T; t++) {
        for (int k = 0; k < 8; k++)
            acc[k][t] = _mm512_setzero_ps();
        summs[t] = _mm512_setzero_ps();
        ya[t] = a + (size_t)t * as;
    }
    const __m512 neg = _mm512_set1_ps(-0.0f);
    for (int b = 0; b < nb; b++, P += Q5K_V) {
        __m512i L[8][LMAX];
        for (int k = 0; k < 8; k++)
            for (int t = 0; t < T; t++)
                L[k][t] = _mm512_setzero_si512();
        for (int j = 0; j < 8; j++) {
            const __m512i sc = P[40 + j]; /* (sc, 0) as int16 pairs */
            for (int lg = 0; lg < 8; lg++) {
                const __m512i v = k45_codes(P, 1, j, lg);
                for (int t = 0; t < T; t++) {
                    const __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), v, bcast(ya[t] + Q8K_QS + 32 * j + 4 * lg));
                    L[lg][t] = _mm512_dpwssd_epi32(L[lg][t], p, sc);
                }
            }
        }
        const __m512 D = _mm512_load_ps((const float *)(P + Q5K_V - 2)), DMIN = _mm512_load_ps((const float *)(P + Q5K_V - 1));
        for (int t = 0; t < T; t++) {
            const __m512 vy = _mm512_set1_ps(x86_rdf32(ya[t]));
            const __m512 d = _mm512_mul_ps(D, vy);
            for (int k = 0; k < 8; k++)
                acc[k][t] = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(L[k][t]), acc[k][t]);
            __m512i m = _mm512_setzero_si512();
            for (int i = 0; i < 8; i++)
                m = _mm512_dpwssd_epi32(m, P[48 + i], bcast(ya[t] + Q8K_BSUMS + 4 * i));
            summs[t] = _mm512_fmadd_ps(_mm512_xor_ps(_mm512_mul_ps(DMIN, vy), neg), _mm512_cvtepi32_ps(m), summs[t]);
            ya[t] += Q8K_BYTES;
        }
    }
    for (int t = 0; t < T; t++) {
        __m512 l[8];
        for (int k = 0; k < 8; k++)
            l[k] = acc[k][t];
        store_rows(y + (size_t)t * ys, _mm512_add_ps(lanes_hsum(l), summs[t]), nr);
    }
}

/* Q6_K, order "lanes8, offset per lane": lane lg of group g = 4h + qd takes scale
 * 2g + lg / 4 = 8h + 2qd + half; the -32 offset of sub-blocks 2k, 2k+1 starts lane k. */
INLINE void tile_q6k(int T, int nb, const __m512i *P, const uint8_t *a, size_t as, float *y, size_t ys, int nr)
{
    __m512 acc[8][LMAX];
    const uint8_t *ya[LMAX];
    for (int t = 0; t < T; t++) {
        for (int k = 0; k < 8; k++)
            acc[k][t] = _mm512_setzero_ps();
        ya[t] = a + (size_t)t * as;
    }
    const __m512i m4 = _mm512_set1_epi8(0x0f), m3 = _mm512_set1_epi8(3);
    for (int b = 0; b < nb; b++, P += Q6K_V) {
        __m512i L[8][LMAX];
        for (int k = 0; k < 8; k++)
            for (int t = 0; t < T; t++)
                L[k][t] = _mm512_sub_epi32(_mm512_setzero_si512(),
                                           _mm512_dpwssd_epi32(_mm512_setzero_si512(), P[64 + k], bcast(ya[t] + Q8K_BSUMS + 4 * k)));
        for (int h = 0; h < 2; h++)
            for (int qd = 0; qd < 4; qd++)
                for (int lg = 0; lg < 8; lg++) {
                    const int j = 8 * h + 2 * qd + (lg >> 2);
                    __m512i v = P[16 * h + 8 * (qd & 1) + lg];
                    v = _mm512_and_si512(qd >= 2 ? _mm512_srli_epi16(v, 4) : v, m4);
                    const __m512i qh = _mm512_and_si512(_mm512_srli_epi16(P[32 + 8 * h + lg], 2 * qd), m3);
                    v = _mm512_or_si512(v, _mm512_slli_epi16(qh, 4));
                    const __m512i sc = P[48 + j];
                    for (int t = 0; t < T; t++) {
                        const __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), v,
                                                              bcast(ya[t] + Q8K_QS + 128 * h + 32 * qd + 4 * lg));
                        L[lg][t] = _mm512_dpwssd_epi32(L[lg][t], p, sc);
                    }
                }
        const __m512 D = _mm512_load_ps((const float *)(P + 72));
        for (int t = 0; t < T; t++) {
            const __m512 d = _mm512_mul_ps(D, _mm512_set1_ps(x86_rdf32(ya[t])));
            for (int k = 0; k < 8; k++)
                acc[k][t] = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(L[k][t]), acc[k][t]);
            ya[t] += Q8K_BYTES;
        }
    }
    for (int t = 0; t < T; t++) {
        __m512 l[8];
        for (int k = 0; k < 8; k++)
            l[k] = acc[k][t];
        store_rows(y + (size_t)t * ys, lanes_hsum(l), nr);
    }
}

/* ======================= 32-element blocks: Q8_0 and Q4_0 (Q8_0 activations) ======================= */

/* Repacked activation block: int8 qs[32], float d, then for Q4_0 one int32 -8 * sum(qs) (A32) and
 * for Q8_0 eight int32 -128 * (sum of qs 4k..4k+3) (A80: one offset per lane). */
#define A32_BYTES 40
#define A80_BYTES 68
static size_t act_b32(int n) { return (size_t)(n / 32) * A32_BYTES; }
static size_t act_b80(int n) { return (size_t)(n / 32) * A80_BYTES; }

static inline void pack_act_b32(int n, const void *act, void *dst, int off)
{
    const uint8_t *s = act;
    uint8_t *d = dst;
    for (int b = 0; b < n / 32; b++, s += 34, d += A32_BYTES) {
        memcpy(d, s + 2, 32);
        const __m256i q = _mm256_loadu_si256((const __m256i *)(s + 2));
        const __m256i s16 = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), q), _mm256_set1_epi16(1));
        const int sum = -x86_hsum_i32(s16) * off; /* the tile starts its sums here */
        const float f = x86_h2f(x86_rd16(s));
        memcpy(d + 32, &f, 4);
        memcpy(d + 36, &sum, 4);
    }
}
static void pack_act_q8_0(int n, const void *act, void *dst)
{
    const uint8_t *s = act;
    uint8_t *d = dst;
    for (int b = 0; b < n / 32; b++, s += 34, d += A80_BYTES) {
        memcpy(d, s + 2, 32);
        const __m256i q = _mm256_loadu_si256((const __m256i *)(s + 2));
        const __m256i s4 = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), q), _mm256_set1_epi16(1));
        const float f = x86_h2f(x86_rd16(s));
        memcpy(d + 32, &f, 4);
        _mm256_storeu_si256((__m256i *)(d + 36), _mm256_mullo_epi32(s4, _mm256_set1_epi32(-128)));
    }
}
static void pack_act_q4_0(int n, const void *act, void *dst) { pack_act_b32(n, act, dst, 8); }

/* Panel block: Q4_0 (16 rows): Q[4] raw nibble dwords, D. Q8_0 (32 rows): Q[h][r][i] = dword
 * 4h + i of the codes + 128 (unsigned) of rows 16r..16r+15 (h, r < 2, i < 4), then D[r]. */
#define Q80_V 18 /* vectors per block of a Q8_0 panel (32 rows) */
static size_t panel_q8_0(int n) { return (size_t)(n / 32) * Q80_V * 64; }
static size_t panel_q4_0(int n) { return (size_t)(n / 32) * 5 * 64; }

/* The codes of blocks b.. (16 of 34-byte Q8_0 or 4 of 18-byte Q4_0 per 64 bytes) of 16 rows,
 * transposed: T[i] = dword i of the concatenated codes; d[r * nblk + k] = fp16 scale. */
static inline void tr_b32(const void *w, size_t ws, int nr, int b, int nblk, int q4, __m512i *T, uint16_t *d)
{
    const int bb = q4 ? 18 : 34;
    __m512i v[16];
    for (int r = 0; r < 16; r++) {
        if (r >= nr) {
            v[r] = _mm512_setzero_si512();
            continue;
        }
        const uint8_t *p = (const uint8_t *)w + (size_t)r * ws + (size_t)b * (size_t)bb;
        __m512i x = _mm512_setzero_si512();
        for (int k = 0; k < nblk; k++) {
            memcpy(&d[r * nblk + k], p + (size_t)k * bb, 2);
            if (q4) {
                const __m128i q = _mm_loadu_si128((const __m128i *)(p + (size_t)k * bb + 2));
                x = k == 0 ? _mm512_inserti32x4(x, q, 0) : k == 1 ? _mm512_inserti32x4(x, q, 1)
                  : k == 2 ? _mm512_inserti32x4(x, q, 2) : _mm512_inserti32x4(x, q, 3);
            } else {
                const __m256i q = _mm256_loadu_si256((const __m256i *)(p + (size_t)k * bb + 2));
                x = k == 0 ? _mm512_inserti64x4(x, q, 0) : _mm512_inserti64x4(x, q, 1);
            }
        }
        v[r] = x;
    }
    tr16(v, T);
}

static void pack_q4_0(int n, int nr, const void *w, size_t ws, void *panel)
{
    __m512i *P = panel, T[16];
    uint16_t d[64] = {0};
    const int nb = n / 32;
    for (int b = 0; b < nb; b += 4) {
        const int nblk = nb - b < 4 ? nb - b : 4;
        tr_b32(w, ws, nr, b, nblk, 1, T, d);
        for (int k = 0; k < nblk; k++) {
            __m512i *Q = P + (size_t)(b + k) * 5;
            for (int i = 0; i < 4; i++)
                Q[i] = T[4 * k + i];
            uint16_t dk[16] = {0};
            for (int r = 0; r < 16 && r < nr; r++)
                dk[r] = d[r * nblk + k];
            _mm512_store_ps((float *)(Q + 4), _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)dk)));
        }
    }
}
static void pack_q8_0(int n, int nr, const void *w, size_t ws, void *panel)
{
    const __m512i x80 = _mm512_set1_epi8((char)0x80);
    __m512i *P = panel, T[16];
    uint16_t d[32] = {0};
    const int nb = n / 32;
    for (int r = 0; r < 2; r++)
        for (int b = 0; b < nb; b += 2) {
            const int nblk = nb - b < 2 ? nb - b : 2;
            tr_b32((const uint8_t *)w + (size_t)(16 * r) * ws, ws, nr - 16 * r, b, nblk, 0, T, d);
            for (int k = 0; k < nblk; k++) {
                __m512i *Q = P + (size_t)(b + k) * Q80_V;
                for (int g = 0; g < 8; g++)
                    Q[(g >> 2) * 8 + r * 4 + (g & 3)] = _mm512_xor_si512(T[8 * k + g], x80);
                uint16_t dk[16] = {0};
                for (int i = 0; i < 16 && i < nr - 16 * r; i++)
                    dk[i] = d[i * nblk + k];
                _mm512_store_ps((float *)(Q + 16 + r), _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)dk)));
            }
        }
}

/* Q4_0, order "seq": acc = fma((float)sumi, dw * da, acc) per block */
INLINE void tile_q40(int T, int nb, const __m512i *P, const uint8_t *a, size_t as, float *y, size_t ys, int nr)
{
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    __m512 acc[TMAX];
    const uint8_t *ya[TMAX];
    for (int t = 0; t < T; t++) {
        acc[t] = _mm512_setzero_ps();
        ya[t] = a + (size_t)t * as;
    }
    for (int b = 0; b < nb; b++, P += 5) {
        __m512i s[TMAX];
        for (int t = 0; t < T; t++) /* the offset correction is the initial value */
            s[t] = bcast(ya[t] + 36);
        for (int g = 0; g < 8; g++) {
            const __m512i v = _mm512_and_si512(g < 4 ? P[g] : _mm512_srli_epi16(P[g - 4], 4), m4);
            for (int t = 0; t < T; t++)
                s[t] = _mm512_dpbusd_epi32(s[t], v, bcast(ya[t] + 4 * g));
        }
        const __m512 D = _mm512_load_ps((const float *)(P + 4));
        for (int t = 0; t < T; t++) {
            const __m512 dd = _mm512_mul_ps(D, _mm512_set1_ps(x86_rdf32(ya[t] + 32)));
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[t]), dd, acc[t]);
            ya[t] += A32_BYTES;
        }
    }
    for (int t = 0; t < T; t++)
        store_rows(y + (size_t)t * ys, acc[t], nr);
}

/* Q8_0, order "lanes8": dword g of a block is lane g; acc[g] = fma(dw * da, (float)L_g, acc[g]).
 * The float work is 8 conversions and 8 FMAs per (16 rows, token, block) next to 8 vpdpbusd, and
 * vpdpbusd and FMA share two pipes, so the tile is arranged for the fewest loads around them: 32
 * rows (two row vectors) x Q80_T tokens, each activation dword and each offset broadcast loaded once
 * for both row vectors, each weight vector once for all tokens. The 8 lane accumulators of every
 * (row vector, token) do not fit the registers together, so the lanes go in two passes (0-3, then
 * 4-7) over chunks of Q80_CB blocks; the lanes are independent FMA chains, so the order per lane is
 * the contract's. The first pass computes each block's dw * da, the second reloads it. */
#define Q80_T 2
#define Q80_CB 32

INLINE void q80_pass(int T, int h, int b0, int b1, const __m512i *P, const uint8_t *a, size_t as, __m512 *dbuf,
                     __m512 *A)
{
    __m512 acc[4][2][Q80_T];
    for (int i = 0; i < 4; i++)
        for (int r = 0; r < 2; r++)
            for (int t = 0; t < T; t++)
                acc[i][r][t] = A[(i * 2 + r) * Q80_T + t];
    for (int b = b0; b < b1; b++) {
        const __m512i *W = P + (size_t)b * Q80_V + 8 * h;
        __m512 d[2][Q80_T];
        __m512 *db = dbuf + (size_t)(b - b0) * 2 * Q80_T;
        if (h == 0) {
            const __m512 D0 = _mm512_load_ps((const float *)(P + (size_t)b * Q80_V + 16));
            const __m512 D1 = _mm512_load_ps((const float *)(P + (size_t)b * Q80_V + 17));
            for (int t = 0; t < T; t++) {
                const __m512 da = _mm512_set1_ps(x86_rdf32(a + (size_t)t * as + (size_t)b * A80_BYTES + 32));
                d[0][t] = _mm512_mul_ps(D0, da);
                d[1][t] = _mm512_mul_ps(D1, da);
                db[t] = d[0][t];
                db[Q80_T + t] = d[1][t];
            }
        } else {
            for (int t = 0; t < T; t++) {
                d[0][t] = db[t];
                d[1][t] = db[Q80_T + t];
            }
        }
        for (int t = 0; t < T; t++) /* in registers: GCC would reload them for every FMA */
            __asm__("" : "+v"(d[0][t]), "+v"(d[1][t]));
        for (int i = 0; i < 4; i++) {
            const int g = 4 * h + i;
            __m512i w0 = W[i], w1 = W[4 + i];
            __asm__("" : "+v"(w0), "+v"(w1));
            for (int t = 0; t < T; t++) {
                const uint8_t *ab = a + (size_t)t * as + (size_t)b * A80_BYTES;
                const __m512i c = bcast(ab + 36 + 4 * g), x = bcast(ab + 4 * g);
                const __m512i L0 = _mm512_dpbusd_epi32(c, w0, x), L1 = _mm512_dpbusd_epi32(c, w1, x);
                acc[i][0][t] = _mm512_fmadd_ps(d[0][t], _mm512_cvtepi32_ps(L0), acc[i][0][t]);
                acc[i][1][t] = _mm512_fmadd_ps(d[1][t], _mm512_cvtepi32_ps(L1), acc[i][1][t]);
            }
        }
    }
    for (int i = 0; i < 4; i++)
        for (int r = 0; r < 2; r++)
            for (int t = 0; t < T; t++)
                A[(i * 2 + r) * Q80_T + t] = acc[i][r][t];
}

INLINE void tile_q80(int T, int nb, const __m512i *P, const uint8_t *a, size_t as, float *y, size_t ys, int nr)
{
    __m512 A[2][8 * Q80_T], dbuf[Q80_CB * 2 * Q80_T]; /* A[h][(i * 2 + r) * Q80_T + t]: lane 4h + i */
    for (int i = 0; i < 8 * Q80_T; i++)
        A[0][i] = A[1][i] = _mm512_setzero_ps();
    for (int b0 = 0; b0 < nb; b0 += Q80_CB) {
        const int b1 = nb - b0 < Q80_CB ? nb : b0 + Q80_CB;
        q80_pass(T, 0, b0, b1, P, a, as, dbuf, A[0]);
        q80_pass(T, 1, b0, b1, P, a, as, dbuf, A[1]);
    }
    for (int r = 0; r < 2; r++)
        for (int t = 0; t < T; t++) {
            __m512 l[8];
            for (int g = 0; g < 8; g++)
                l[g] = A[g >> 2][((g & 3) * 2 + r) * Q80_T + t];
            if (nr > 16 * r)
                store_rows(y + (size_t)t * ys + 16 * r, lanes_hsum(l), nr - 16 * r);
        }
}

/* ======================= float weights: 32 rows x T tokens ======================= */

/* Panels: F32 [n][32] float; F16 [n][32] half; BF16 [ceil(n/2)][32] pairs of bf16 (dwords). */
static size_t panel_f32(int n) { return (size_t)n * 32 * 4; }
static size_t panel_f16(int n) { return (size_t)n * 32 * 2; }
static size_t panel_bf16(int n) { return (size_t)((n + 1) / 2) * 32 * 4; }

static void pack_f32(int n, int nr, const void *w, size_t ws, void *panel)
{
    float *P = panel;
    __m512i T[16];
    for (int k0 = 0; k0 < n; k0 += 16) {
        const int cnt = n - k0 < 16 ? n - k0 : 16;
        for (int g = 0; g < 2; g++) {
            tr_rows(w, ws, nr, 16 * g, 4 * (size_t)k0, 4 * cnt, T);
            for (int i = 0; i < cnt; i++)
                _mm512_store_si512((void *)(P + (size_t)(k0 + i) * 32 + 16 * g), T[i]);
        }
    }
}

/* F16 and BF16: 32 elements (64 bytes) of 16 rows at a time, transposed as pairs; BF16 panels
 * keep the pairs ([n/2][32] dwords), F16 panels are split into [n][32] halves. */
static inline void pack_pairs(int n, int nr, const void *w, size_t ws, void *panel, int split)
{
    __m512i T[16];
    for (int k0 = 0; k0 < n; k0 += 32) {
        const int cnt = n - k0 < 32 ? n - k0 : 32, np = (cnt + 1) / 2;
        for (int g = 0; g < 2; g++) {
            tr_rows(w, ws, nr, 16 * g, 2 * (size_t)k0, 2 * cnt, T);
            for (int i = 0; i < np; i++) {
                const int k = k0 + 2 * i;
                if (split) {
                    uint16_t *h = (uint16_t *)panel + (size_t)k * 32 + 16 * g;
                    _mm256_store_si256((__m256i *)h, _mm512_cvtepi32_epi16(T[i]));
                    if (k + 1 < n)
                        _mm256_store_si256((__m256i *)(h + 32), _mm512_cvtepi32_epi16(_mm512_srli_epi32(T[i], 16)));
                } else {
                    _mm512_store_si512((void *)((uint32_t *)panel + (size_t)(k / 2) * 32 + 16 * g), T[i]);
                }
            }
        }
    }
}
static void pack_f16(int n, int nr, const void *w, size_t ws, void *panel) { pack_pairs(n, nr, w, ws, panel, 1); }
static void pack_bf16(int n, int nr, const void *w, size_t ws, void *panel) { pack_pairs(n, nr, w, ws, panel, 0); }

/* F16 activations become float rows (exact); BF16 rows are padded to an even length. */
static size_t act_f16(int n) { return (size_t)n * 4; }
static size_t act_bf16(int n) { return (size_t)((n + 1) / 2) * 4; }
static void pack_act_f16(int n, const void *act, void *dst) { x86_avx2_fp16_to_fp32_row(act, dst, n); }
static void pack_act_bf16(int n, const void *act, void *dst)
{
    memcpy(dst, act, (size_t)n * 2);
    if (n & 1)
        ((uint16_t *)dst)[n] = 0;
}

enum { FW_F32, FW_F16, FW_BF16 };

INLINE void tile_float(int T, int kind, int n, const void *panel, const uint8_t *a, size_t as, float *y, size_t ys, int nr)
{
    __m512 acc0[TMAX], acc1[TMAX];
    for (int t = 0; t < T; t++)
        acc0[t] = acc1[t] = _mm512_setzero_ps();
    if (kind == FW_BF16) {
        const uint32_t *P = panel;
        for (int k2 = 0; k2 < (n + 1) / 2; k2++, P += 32) {
            const __m512bh w0 = (__m512bh)_mm512_load_si512((const void *)P);
            const __m512bh w1 = (__m512bh)_mm512_load_si512((const void *)(P + 16));
            for (int t = 0; t < T; t++) {
                const __m512bh b = (__m512bh)bcast(a + (size_t)t * as + 4 * (size_t)k2);
                acc0[t] = _mm512_dpbf16_ps(acc0[t], w0, b);
                acc1[t] = _mm512_dpbf16_ps(acc1[t], w1, b);
            }
        }
    } else {
        for (int k = 0; k < n; k++) {
            __m512 w0, w1;
            if (kind == FW_F32) {
                w0 = _mm512_load_ps((const float *)panel + (size_t)k * 32);
                w1 = _mm512_load_ps((const float *)panel + (size_t)k * 32 + 16);
            } else {
                const __m512i h = _mm512_load_si512((const void *)((const uint16_t *)panel + (size_t)k * 32));
                w0 = _mm512_cvtph_ps(_mm512_castsi512_si256(h));
                w1 = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(h, 1));
            }
            for (int t = 0; t < T; t++) {
                const __m512 b = _mm512_set1_ps(((const float *)(a + (size_t)t * as))[k]);
                acc0[t] = _mm512_fmadd_ps(w0, b, acc0[t]);
                acc1[t] = _mm512_fmadd_ps(w1, b, acc1[t]);
            }
        }
    }
    for (int t = 0; t < T; t++) {
        store_rows(y + (size_t)t * ys, acc0[t], nr);
        if (nr > 16)
            store_rows(y + (size_t)t * ys + 16, acc1[t], nr - 16);
    }
}

/* ======================= tiles: every token count 1..TMAX gets its own unrolled copy ======================= */

#define TILE_SWITCH(CALL)                                                                                              \
    switch (T) {                                                                                                       \
    case 12: CALL(12); break;                                                                                          \
    case 11: CALL(11); break;                                                                                          \
    case 10: CALL(10); break;                                                                                          \
    case 9: CALL(9); break;                                                                                            \
    case 8: CALL(8); break;                                                                                            \
    case 7: CALL(7); break;                                                                                            \
    case 6: CALL(6); break;                                                                                            \
    case 5: CALL(5); break;                                                                                            \
    case 4: CALL(4); break;                                                                                            \
    case 3: CALL(3); break;                                                                                            \
    case 2: CALL(2); break;                                                                                            \
    default: CALL(1); break;                                                                                           \
    }

#define LANE_SWITCH(CALL)                                                                                              \
    switch (T) {                                                                                                       \
    case 3: CALL(3); break;                                                                                            \
    case 2: CALL(2); break;                                                                                            \
    default: CALL(1); break;                                                                                           \
    }

#define PAIR_SWITCH(CALL)                                                                                              \
    switch (T) {                                                                                                       \
    case 2: CALL(2); break;                                                                                            \
    default: CALL(1); break;                                                                                           \
    }

/* A tile over nt tokens: runs of STEP tokens through the unrolled copy SWITCH picks. */
#define DEFINE_TILE(NAME, STEP, SWITCH, CALL)                                                                          \
    static void NAME(int n, int nr, int nt, const void *panel, size_t ps, const void *av, size_t as, float *y,        \
                     size_t ys)                                                                                        \
    {                                                                                                                  \
        (void)ps;                                                                                                      \
        const uint8_t *a = av;                                                                                         \
        for (int t0 = 0; t0 < nt; t0 += STEP) {                                                                        \
            const int T = nt - t0 < STEP ? nt - t0 : STEP;                                                             \
            const uint8_t *at = a + (size_t)t0 * as;                                                                   \
            float *yt = y + (size_t)t0 * ys;                                                                           \
            SWITCH(CALL)                                                                                               \
        }                                                                                                              \
    }

#define C_Q4K(T_) tile_q4k(T_, n / 256, panel, at, as, yt, ys, nr)
#define C_Q5K(T_) tile_q5k(T_, n / 256, panel, at, as, yt, ys, nr)
#define C_Q6K(T_) tile_q6k(T_, n / 256, panel, at, as, yt, ys, nr)
#define C_Q80(T_) tile_q80(T_, n / 32, panel, at, as, yt, ys, nr)
#define C_Q40(T_) tile_q40(T_, n / 32, panel, at, as, yt, ys, nr)
#define C_F32(T_) tile_float(T_, FW_F32, n, panel, at, as, yt, ys, nr)
#define C_F16(T_) tile_float(T_, FW_F16, n, panel, at, as, yt, ys, nr)
#define C_BF16(T_) tile_float(T_, FW_BF16, n, panel, at, as, yt, ys, nr)

DEFINE_TILE(tile_q4_K, TMAX, TILE_SWITCH, C_Q4K)
DEFINE_TILE(tile_q5_K, LMAX, LANE_SWITCH, C_Q5K)
DEFINE_TILE(tile_q6_K, LMAX, LANE_SWITCH, C_Q6K)
DEFINE_TILE(tile_q8_0, Q80_T, PAIR_SWITCH, C_Q80)
DEFINE_TILE(tile_q4_0, TMAX, TILE_SWITCH, C_Q40)
DEFINE_TILE(tile_f32, TMAX, TILE_SWITCH, C_F32)
DEFINE_TILE(tile_f16, TMAX, TILE_SWITCH, C_F16)
DEFINE_TILE(tile_bf16, TMAX, TILE_SWITCH, C_BF16)

/* min_tok: below it the row kernels win (the panel repack is paid once per call). */
const ops_gemm_kernel x86_avx512_gemm_q4_K = {16, 4, panel_q4_K, NULL, NULL, pack_q4_K, tile_q4_K};
const ops_gemm_kernel x86_avx512_gemm_q5_K = {16, 4, panel_q5_K, NULL, NULL, pack_q5_K, tile_q5_K};
const ops_gemm_kernel x86_avx512_gemm_q6_K = {16, 4, panel_q6_K, NULL, NULL, pack_q6_K, tile_q6_K};
const ops_gemm_kernel x86_avx512_gemm_q8_0 = {32, 4, panel_q8_0, act_b80, pack_act_q8_0, pack_q8_0, tile_q8_0};
const ops_gemm_kernel x86_avx512_gemm_q4_0 = {16, 4, panel_q4_0, act_b32, pack_act_q4_0, pack_q4_0, tile_q4_0};
const ops_gemm_kernel x86_avx512_gemm_f32 = {32, 4, panel_f32, NULL, NULL, pack_f32, tile_f32};
const ops_gemm_kernel x86_avx512_gemm_f16 = {32, 4, panel_f16, act_f16, pack_act_f16, pack_f16, tile_f16};
const ops_gemm_kernel x86_avx512_gemm_bf16 = {32, 4, panel_bf16, act_bf16, pack_act_bf16, pack_bf16, tile_bf16};
