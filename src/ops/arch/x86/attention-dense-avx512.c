/* attention-dense-avx512.c - AVX-512 tile kernels for the dense (vision encoder) attention of
 * ops/attention-dense.c: a tile of 64 queries (four 16-lane vectors, queries in the lanes) against
 * the keys of one head, flash-style. Scores come out as [key][query], so the online softmax is
 * elementwise across key rows (no horizontal reductions), and both products are 6 x 4 register
 * blocks of 16-lane sums: scores = 6 keys x 64 queries over the head dims, outputs = 6 head dims
 * x 64 queries over the keys, each step one broadcast per row and one load per query vector.
 *
 * Two precisions: F32 (FMA, the reference numerics up to summation order) and BF16 (AVX512_BF16
 * VDPBF16PS: q, k, v and the probabilities rounded to BF16, products summed in F32 two at a time,
 * so pairs of head dims / keys sit next to each other in the packed layouts). */
#include "ops/arch/x86/arch.h"

#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define QB 64 /* queries per tile: 4 vectors */
#define NV 4  /* query vectors */
#define RB 6  /* rows (keys or head dims) per register block */

static int round_up(int x, int m) { return (x + m - 1) / m * m; }

/* The next tile's query rows (read) and output rows (written) are QB rows further on, strided by
 * the full width: the hardware prefetchers do not follow that, so the kernel fetches two of them
 * per key block while it computes (addresses formed as integers: past the last tile they point
 * nowhere, which a prefetch tolerates). */
static inline void prefetch_next(const float *q, size_t ldq, float *out, size_t ldo, int D, int block)
{
    for (int c = 2 * block; c < 2 * block + 2 && c < QB; c++) {
        const uintptr_t qa = (uintptr_t)q + ((size_t)(QB + c) * ldq) * sizeof(float);
        const uintptr_t oa = (uintptr_t)out + ((size_t)(QB + c) * ldo) * sizeof(float);
        for (size_t b = 0; b < (size_t)D * sizeof(float) + 63; b += 64) {
            _mm_prefetch((const char *)(qa + b), _MM_HINT_T1);
            _mm_prefetch((const char *)(oa + b), _MM_HINT_T1);
        }
    }
}

/* 2^x for x <= 0 (0 below -126), relative error ~2e-7. */
static inline __m512 exp2_neg(__m512 x)
{
    const __mmask16 live = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-126.0f), _CMP_GE_OQ);
    x = _mm512_max_ps(x, _mm512_set1_ps(-126.0f));
    const __m512 n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m512 f = _mm512_sub_ps(x, n); /* [-0.5, 0.5] */
    __m512 p = _mm512_set1_ps(1.535336188319500e-4f);
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.339887440266574e-3f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.618437357674640e-3f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.550332471162809e-2f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.402264791363012e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.931472028550421e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
    return _mm512_maskz_scalef_ps(live, p, n);
}

/* Online softmax over one key block of scores st[BK][QB] (log2 units, -inf for padding keys):
 * updates the running maximum mx and sum l, leaves 2^(s - max) in st, returns the factor the
 * earlier partial outputs must be scaled by in alpha. */
static void softmax_block(float *st, int bk, float *mx, float *l, float *alpha)
{
    for (int v = 0; v < NV; v++) {
        __m512 m = _mm512_load_ps(mx + 16 * v);
        for (int s = 0; s < bk; s++)
            m = _mm512_max_ps(m, _mm512_load_ps(st + (size_t)s * QB + 16 * v));
        const __m512 a = exp2_neg(_mm512_sub_ps(_mm512_load_ps(mx + 16 * v), m));
        __m512 sum = _mm512_setzero_ps();
        for (int s = 0; s < bk; s++) {
            float *p = st + (size_t)s * QB + 16 * v;
            const __m512 e = exp2_neg(_mm512_sub_ps(_mm512_load_ps(p), m));
            _mm512_store_ps(p, e);
            sum = _mm512_add_ps(sum, e);
        }
        _mm512_store_ps(mx + 16 * v, m);
        _mm512_store_ps(alpha + 16 * v, a);
        _mm512_store_ps(l + 16 * v, _mm512_fmadd_ps(_mm512_load_ps(l + 16 * v), a, sum));
    }
}

/* out[c][d] = ot[d][c] / l[c] for c < nq, d < D */
static void finish(const float *ot, const float *l, int nq, int D, float *out, size_t ldo)
{
    for (int c = 0; c < nq; c++) {
        const float inv = 1.0f / l[c];
        for (int d = 0; d < D; d++)
            out[(size_t)c * ldo + (size_t)d] = ot[(size_t)d * QB + (size_t)c] * inv;
    }
}

static void init_state(float *ot, int Dv, float *mx, float *l)
{
    memset(ot, 0, sizeof(float) * (size_t)Dv * QB);
    for (int c = 0; c < QB; c++) {
        mx[c] = -INFINITY;
        l[c] = 0;
    }
}

/* ---- F32 ---- */

#define BK32 48 /* keys per block (multiple of RB) */

/* kv: keys [npad][D], values [npad][Dv] (Dv = round_up(D, RB)), zero padded */
static size_t f32_kv_bytes(int n, int D)
{
    return (size_t)round_up(n, BK32) * ((size_t)D + (size_t)round_up(D, RB)) * sizeof(float) + 64;
}

/* work: qt [D][QB], st [BK][QB], ot [Dv][QB], mx, l, alpha [QB] */
static size_t f32_work_bytes(int D)
{
    return ((size_t)D + BK32 + (size_t)round_up(D, RB) + 3) * QB * sizeof(float) + 64;
}

static void f32_pack(const float *k, const float *v, size_t ld, int n, int D, void *kv, int s0, int s1)
{
    const int npad = round_up(n, BK32), Dv = round_up(D, RB);
    float *kp = kv, *vp = kp + (size_t)npad * (size_t)D;
    for (int s = s0; s < s1; s++) {
        for (int d = 0; d < D; d++)
            kp[(size_t)s * (size_t)D + (size_t)d] = s < n ? k[(size_t)s * ld + (size_t)d] : 0;
        for (int d = 0; d < Dv; d++)
            vp[(size_t)s * (size_t)Dv + (size_t)d] = s < n && d < D ? v[(size_t)s * ld + (size_t)d] : 0;
    }
}

static void f32_rows(const void *kv, int n, int D, const float *q, size_t ldq, int nq, float scale, float *out,
                     size_t ldo, void *work)
{
    const int npad = round_up(n, BK32), Dv = round_up(D, RB);
    const float *kp = kv, *vp = kp + (size_t)npad * (size_t)D;
    float *qt = work, *st = qt + (size_t)D * QB, *ot = st + (size_t)BK32 * QB, *mx = ot + (size_t)Dv * QB,
          *l = mx + QB, *alpha = l + QB;
    for (int d = 0; d < D; d++)
        for (int c = 0; c < QB; c++)
            qt[(size_t)d * QB + (size_t)c] = c < nq ? q[(size_t)c * ldq + (size_t)d] * scale : 0;
    init_state(ot, Dv, mx, l);
    for (int kb = 0; kb < npad; kb += BK32) {
        prefetch_next(q, ldq, out, ldo, D, kb / BK32);
        for (int s0 = 0; s0 < BK32; s0 += RB) {
            __m512 acc[RB][NV];
            for (int r = 0; r < RB; r++)
                for (int v = 0; v < NV; v++)
                    acc[r][v] = _mm512_setzero_ps();
            const float *k0 = kp + (size_t)(kb + s0) * (size_t)D;
            for (int d = 0; d < D; d++) {
                __m512 qv[NV];
                for (int v = 0; v < NV; v++)
                    qv[v] = _mm512_load_ps(qt + (size_t)d * QB + 16 * v);
                for (int r = 0; r < RB; r++) {
                    const __m512 kk = _mm512_set1_ps(k0[(size_t)r * (size_t)D + (size_t)d]);
                    for (int v = 0; v < NV; v++)
                        acc[r][v] = _mm512_fmadd_ps(kk, qv[v], acc[r][v]);
                }
            }
            for (int r = 0; r < RB; r++) {
                const int dead = kb + s0 + r >= n;
                for (int v = 0; v < NV; v++)
                    _mm512_store_ps(st + (size_t)(s0 + r) * QB + 16 * v,
                                    dead ? _mm512_set1_ps(-INFINITY) : acc[r][v]);
            }
        }
        softmax_block(st, BK32, mx, l, alpha);
        __m512 al[NV];
        for (int v = 0; v < NV; v++)
            al[v] = _mm512_load_ps(alpha + 16 * v);
        for (int d0 = 0; d0 < Dv; d0 += RB) {
            __m512 acc[RB][NV];
            for (int r = 0; r < RB; r++)
                for (int v = 0; v < NV; v++)
                    acc[r][v] = _mm512_mul_ps(_mm512_load_ps(ot + (size_t)(d0 + r) * QB + 16 * v), al[v]);
            const float *v0 = vp + (size_t)kb * (size_t)Dv + (size_t)d0;
            for (int s = 0; s < BK32; s++) {
                __m512 pv[NV];
                for (int v = 0; v < NV; v++)
                    pv[v] = _mm512_load_ps(st + (size_t)s * QB + 16 * v);
                for (int r = 0; r < RB; r++) {
                    const __m512 vv = _mm512_set1_ps(v0[(size_t)s * (size_t)Dv + (size_t)r]);
                    for (int v = 0; v < NV; v++)
                        acc[r][v] = _mm512_fmadd_ps(vv, pv[v], acc[r][v]);
                }
            }
            for (int r = 0; r < RB; r++)
                for (int v = 0; v < NV; v++)
                    _mm512_store_ps(ot + (size_t)(d0 + r) * QB + 16 * v, acc[r][v]);
        }
    }
    finish(ot, l, nq, D, out, ldo);
}

/* ---- BF16 ---- */

#define BK16 96 /* keys per block (multiple of RB and even) */

/* Row of n floats (times s) to BF16, round to nearest even, zero filled to m >= n elements. */
static void to_bf16(const float *x, float s, int n, int m, uint16_t *y)
{
    const __m512 sv = _mm512_set1_ps(s);
    for (int i = 0; i < m; i += 16) {
        const int left = n - i;
        const __mmask16 ld = left >= 16 ? 0xffff : left <= 0 ? 0 : (__mmask16)((1u << left) - 1);
        const int lefts = m - i;
        const __mmask16 stm = lefts >= 16 ? 0xffff : (__mmask16)((1u << lefts) - 1);
        const __m256bh b = _mm512_cvtneps_pbh(_mm512_mul_ps(_mm512_maskz_loadu_ps(ld, x + i), sv));
        _mm256_mask_storeu_epi16(y + i, stm, (__m256i)b);
    }
}

/* kv: keys [npad][D2] BF16 (D2 = round_up(D, 2): dims in pairs), values as key pairs
 * [npad / 2][Dv][2] BF16 (Dv = round_up(D, RB)), zero padded */
static size_t bf16_kv_bytes(int n, int D)
{
    return (size_t)round_up(n, BK16) * ((size_t)round_up(D, 2) + (size_t)round_up(D, RB)) * 2 + 64;
}

/* work: qt [D2 / 2][QB] pairs, pt [BK / 2][QB] pairs, st [BK][QB], ot [Dv][QB], mx, l, alpha [QB],
 * a row buffer */
static size_t bf16_work_bytes(int D)
{
    const size_t D2 = (size_t)round_up(D, 2), Dv = (size_t)round_up(D, RB);
    return (D2 * QB * 2 + (size_t)BK16 * QB * 2) + ((size_t)BK16 + Dv + 3) * QB * 4 + (Dv + 32) * 4 + 128;
}

static void bf16_pack(const float *k, const float *v, size_t ld, int n, int D, void *kv, int s0, int s1)
{
    const int npad = round_up(n, BK16), D2 = round_up(D, 2), Dv = round_up(D, RB);
    uint16_t *kp = kv, *vp = kp + (size_t)npad * (size_t)D2;
    for (int s = s0; s < s1; s++)
        to_bf16(s < n ? k + (size_t)s * ld : k, 1.0f, s < n ? D : 0, D2, kp + (size_t)s * (size_t)D2);
    /* interleave rows 2j and 2j+1: lane i of the result holds (v[2j][i], v[2j+1][i]) */
    const __m512i ilv = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6,
                                         21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    for (int j = s0 / 2; j < s1 / 2; j++) {
        const int r0 = 2 * j, r1 = 2 * j + 1;
        uint16_t *dst = vp + (size_t)j * (size_t)Dv * 2;
        for (int d = 0; d < Dv; d += 16) {
            const int left = D - d, lefts = Dv - d;
            const __mmask16 lm = left >= 16 ? 0xffff : left <= 0 ? 0 : (__mmask16)((1u << left) - 1);
            const __mmask16 sm = lefts >= 16 ? 0xffff : (__mmask16)((1u << lefts) - 1);
            const __m512 a = r0 < n ? _mm512_maskz_loadu_ps(lm, v + (size_t)r0 * ld + (size_t)d) : _mm512_setzero_ps();
            const __m512 b = r1 < n ? _mm512_maskz_loadu_ps(lm, v + (size_t)r1 * ld + (size_t)d) : _mm512_setzero_ps();
            const __m512i ab = _mm512_permutexvar_epi16(ilv, (__m512i)_mm512_cvtne2ps_pbh(b, a));
            _mm512_mask_storeu_epi32(dst + (size_t)d * 2, sm, ab);
        }
    }
}

static void bf16_rows(const void *kv, int n, int D, const float *q, size_t ldq, int nq, float scale, float *out,
                      size_t ldo, void *work)
{
    const int npad = round_up(n, BK16), D2 = round_up(D, 2), Dv = round_up(D, RB), P2 = D2 / 2;
    const uint16_t *kp = kv, *vp = kp + (size_t)npad * (size_t)D2;
    uint32_t *qt = work, *pt = qt + (size_t)P2 * QB;
    float *st = (float *)(pt + (size_t)(BK16 / 2) * QB), *ot = st + (size_t)BK16 * QB, *mx = ot + (size_t)Dv * QB,
          *l = mx + QB;
    uint16_t *row = (uint16_t *)(l + 2 * QB);
    for (int c = 0; c < QB; c++) {
        to_bf16(q + (size_t)(c < nq ? c : 0) * ldq, scale, c < nq ? D : 0, D2, row);
        for (int p = 0; p < P2; p++) {
            uint32_t w;
            memcpy(&w, row + 2 * p, 4);
            qt[(size_t)p * QB + (size_t)c] = w;
        }
    }
    init_state(ot, Dv, mx, l);
    const __m512i ilv = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6,
                                         21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    for (int kb = 0; kb < npad; kb += BK16) {
        prefetch_next(q, ldq, out, ldo, D, kb / BK16);
        __m512 bm[NV]; /* the block's maximum score per query, kept while the scores are made */
        for (int v = 0; v < NV; v++)
            bm[v] = _mm512_load_ps(mx + 16 * v);
        for (int s0 = 0; s0 < BK16; s0 += RB) {
            __m512 acc[RB][NV];
            for (int r = 0; r < RB; r++)
                for (int v = 0; v < NV; v++)
                    acc[r][v] = _mm512_setzero_ps();
            const uint16_t *k0 = kp + (size_t)(kb + s0) * (size_t)D2;
            for (int p = 0; p < P2; p++) {
                __m512bh qv[NV];
                for (int v = 0; v < NV; v++)
                    qv[v] = (__m512bh)_mm512_load_si512((const void *)(qt + (size_t)p * QB + 16 * v));
                for (int r = 0; r < RB; r++) {
                    uint32_t w;
                    memcpy(&w, k0 + (size_t)r * (size_t)D2 + 2 * (size_t)p, 4);
                    const __m512bh kk = (__m512bh)_mm512_set1_epi32((int)w);
                    for (int v = 0; v < NV; v++)
                        acc[r][v] = _mm512_dpbf16_ps(acc[r][v], kk, qv[v]);
                }
            }
            for (int r = 0; r < RB; r++) {
                const int dead = kb + s0 + r >= n;
                for (int v = 0; v < NV; v++) {
                    const __m512 sc = dead ? _mm512_set1_ps(-INFINITY) : acc[r][v];
                    bm[v] = _mm512_max_ps(bm[v], sc);
                    _mm512_store_ps(st + (size_t)(s0 + r) * QB + 16 * v, sc);
                }
            }
        }
        /* online softmax straight into BF16 key pairs: pt[j][c] = (p[2j][c], p[2j+1][c]) */
        __m512 al[NV];
        for (int v = 0; v < NV; v++) {
            const __m512 m = bm[v];
            al[v] = exp2_neg(_mm512_sub_ps(_mm512_load_ps(mx + 16 * v), m));
            __m512 sum = _mm512_setzero_ps();
            for (int j = 0; j < BK16 / 2; j++) {
                const __m512 a = exp2_neg(_mm512_sub_ps(_mm512_load_ps(st + (size_t)(2 * j) * QB + 16 * v), m));
                const __m512 b = exp2_neg(_mm512_sub_ps(_mm512_load_ps(st + (size_t)(2 * j + 1) * QB + 16 * v), m));
                sum = _mm512_add_ps(sum, _mm512_add_ps(a, b));
                _mm512_store_si512((void *)(pt + (size_t)j * QB + 16 * v),
                                   _mm512_permutexvar_epi16(ilv, (__m512i)_mm512_cvtne2ps_pbh(b, a)));
            }
            _mm512_store_ps(mx + 16 * v, m);
            _mm512_store_ps(l + 16 * v, _mm512_fmadd_ps(_mm512_load_ps(l + 16 * v), al[v], sum));
        }
        for (int d0 = 0; d0 < Dv; d0 += RB) {
            __m512 acc[RB][NV];
            for (int r = 0; r < RB; r++)
                for (int v = 0; v < NV; v++)
                    acc[r][v] = _mm512_mul_ps(_mm512_load_ps(ot + (size_t)(d0 + r) * QB + 16 * v), al[v]);
            const uint16_t *v0 = vp + ((size_t)(kb / 2) * (size_t)Dv + (size_t)d0) * 2;
            for (int j = 0; j < BK16 / 2; j++) {
                __m512bh pv[NV];
                for (int v = 0; v < NV; v++)
                    pv[v] = (__m512bh)_mm512_load_si512((const void *)(pt + (size_t)j * QB + 16 * v));
                for (int r = 0; r < RB; r++) {
                    uint32_t w;
                    memcpy(&w, v0 + ((size_t)j * (size_t)Dv + (size_t)r) * 2, 4);
                    const __m512bh vv = (__m512bh)_mm512_set1_epi32((int)w);
                    for (int v = 0; v < NV; v++)
                        acc[r][v] = _mm512_dpbf16_ps(acc[r][v], vv, pv[v]);
                }
            }
            for (int r = 0; r < RB; r++)
                for (int v = 0; v < NV; v++)
                    _mm512_store_ps(ot + (size_t)(d0 + r) * QB + 16 * v, acc[r][v]);
        }
    }
    finish(ot, l, nq, D, out, ldo);
}

const ops_attn_kernel x86_avx512_attn_f32 = {QB, BK32, f32_kv_bytes, f32_work_bytes, f32_pack, f32_rows};
const ops_attn_kernel x86_avx512_attn_bf16 = {QB, BK16, bf16_kv_bytes, bf16_work_bytes, bf16_pack, bf16_rows};
