/* kernels.h - the table of inner kernels behind ops.h, chosen once per process.
 *
 * ops_kernels_get() fills the table from the portable reference (kernels.c, built from the quant
 * traits of quant/types.h plus the F32/F16/BF16 kernels here), then lets the architecture code
 * override entries: when src/ops/arch/<isa>/arch.h exists (x86 or arm build), kernels.c includes
 * it and calls
 *
 *     void ops_arch_init(ops_kernels *k, const medge_cpu *cpu);
 *
 * which the arch folder defines (in any of its .c files). It replaces the pointers it has faster
 * versions of, for the features in cpu (MEDGE_FORCE_SCALAR=1 clears them all, so the reference
 * stays in place). Every replacement must compute the same values as the reference up to float
 * summation order; the tests compare them.
 *
 * Weight matmul contract (ops_matmul): the activation rows are first converted with
 * quantize_act[w[type].act_type] (one row of ne0 floats -> one row of act_type), then each output
 * y[t][r] = vec_dot(ne0, W row r, activation row t). For the quantized types below, every kernel
 * that computes such a dot product (vec_dot, gemv, GEMM tiles, on every ISA) returns the value of
 * the portable reference (quant/vecdot.c) BIT FOR BIT, so a prompt gives the same logits in one
 * batch or token by token, on any thread count, and medge reproduces llama.cpp d32676d77's x86
 * logits exactly (Q8_0, Q6_K, Q4_0 files; Q4_K except the one position llama.cpp sends through its
 * separate GEMV). Float types (F32/F16/BF16) only promise the same value up to summation order.
 *
 * Summation order contract. Integer products are exact; "fma(a,b,c)" is one rounding; d = the
 * weight block's fp16 scale as float times the activation block's scale (one float product),
 * blocks in order. hsum8(a) = ((a0+a4) + (a2+a6)) + ((a1+a5) + (a3+a7)).
 *   Q8_0 (lanes8): acc[k] = fma(d, (float)L_k, acc[k]) per 32-block, L_k = sum of the products
 *     of elements 4k..4k+3 (k = 0..7); result hsum8(acc).
 *   Q4_0 (seq): acc = fma((float)isum, d, acc) per 32-block (isum over the block's 32 products of
 *     (nibble - 8) and activation); result acc.
 *   Q4_K (pairs): for each pair p = 0..3 of 32-element sub-blocks (2p, 2p+1) of each super-block:
 *     acc = fma((float)(sc[2p]*S[2p] + sc[2p+1]*S[2p+1]), d, acc) with S[j] = sum of code*act over
 *     sub-block j; accm = fma((float)(m[2p]*B[2p] + m[2p+1]*B[2p+1]), dmin*yd, accm) with B[j] =
 *     bsums[2j] + bsums[2j+1]; result acc - accm.
 *   Q5_K (lanes8): L_k = sum over sub-blocks j of sc[j] * (sum of the 5-bit codes * act over
 *     elements 4k..4k+3 of sub-block j); acc[k] = fma(d, (float)L_k, acc[k]) per super-block;
 *     summs = fma(-yd*dmin, (float)sum_j m[j]*B[j], summs); result hsum8(acc) + summs.
 *   Q6_K (lanes8, offset per lane): L_k = sum over the 8 groups g of 32 elements of
 *     sc[2g + k/4] * (sum of the UNSIGNED codes (0..63) * act over elements 4k..4k+3 of group g),
 *     minus 32 * (sc[2k]*bsums[2k] + sc[2k+1]*bsums[2k+1]); acc[k] = fma(d, (float)L_k, acc[k])
 *     per super-block; result hsum8(acc).
 * Other types keep ggml's generic per-block order (quant/vecdot.c). */
#ifndef MEDGE_OPS_KERNELS_H
#define MEDGE_OPS_KERNELS_H
#include "core/cpu.h"
#include "ops/ops.h"
#include "quant/types.h"

#include <stddef.h>
#include <stdint.h>

/* s = dot(x, y) over n elements: x a row of the weight type, y a row of its act_type. */
typedef void (*ops_vec_dot_fn)(int n, float *s, const void *x, const void *y);
/* GEMM for batches of tokens (ops_matmul with n_tok >= min_tok; src/ops/matmul-gemm.c drives it).
 * The weight is walked in panels of `rows` rows: pack_w copies a panel (nr <= rows rows of n
 * elements, row stride w_stride bytes; missing rows as zeros) into a private layout of
 * panel_bytes(n) bytes (64-byte aligned), or is NULL when the tile reads the rows in place
 * (panel = first row, panel_stride = the row stride). Activation rows of act_type are converted
 * by pack_a into act_bytes(n) bytes each when pack_a is not NULL. Then
 *     tile: y[t * y_stride + r] = dot(W row r, activation row t) for r < nr, t < nt
 * (a_stride in bytes, y_stride in floats), with the value of the reference vec_dot (bit for bit
 * for the quantized types of the order contract above, up to float summation order otherwise). */
typedef void (*ops_gemm_tile_fn)(int n, int nr, int nt, const void *panel, size_t panel_stride, const void *a,
                                 size_t a_stride, float *y, size_t y_stride);
typedef struct ops_gemm_kernel {
    int rows;    /* weight rows per panel */
    int min_tok; /* fewer tokens: the row kernel (vec_dot) is used */
    size_t (*panel_bytes)(int n);
    size_t (*act_bytes)(int n);
    void (*pack_a)(int n, const void *act, void *dst);
    void (*pack_w)(int n, int nr, const void *w, size_t w_stride, void *panel);
    ops_gemm_tile_fn tile;
} ops_gemm_kernel;
/* Matrix times one vector: y[r] = dot(n, w + r * w_stride, a) for r < nr (w_stride in bytes),
 * the single-token (decoding) path. Each y[r] equals the reference vec_dot bit for bit, so a
 * prompt gives the same logits evaluated in one batch (GEMM tiles, also exact) or token by token,
 * on any number of threads. */
typedef void (*ops_gemv_fn)(int n, int nr, const void *w, size_t w_stride, const void *a, float *y);
/* Convert n floats into a row of an activation type (n a multiple of its block size). */
typedef void (*ops_quantize_fn)(const float *x, void *y, int64_t n);
/* y[i] += a * x[i] for a row x of a KV-cache type (F16, Q8_0, F32), n elements. */
typedef void (*ops_mad_fn)(int n, float *y, float a, const void *x);

/* Dense attention tiles (ops/attention-dense.c drives them; pack == NULL: its portable C).
 * pack: rows [s0, s1) (multiples of kb; rows past n are padding) of the keys and values of one
 * head (k, v: n rows of D floats, row stride ld floats) into kv (kv_bytes(n, D) bytes, 64-byte
 * aligned, round_up(n, kb) rows). rows: out[i][0..D) (row stride ldo) for i < nq <= qb queries q
 * (rows as k) against all n keys of kv, q multiplied by scale * log2(e) first, with work
 * (work_bytes(D) bytes, 64-byte aligned) as scratch. */
typedef struct ops_attn_kernel {
    int qb; /* queries per rows() call */
    int kb; /* keys per packing block */
    size_t (*kv_bytes)(int n, int D);
    size_t (*work_bytes)(int D);
    void (*pack)(const float *k, const float *v, size_t ld, int n, int D, void *kv, int s0, int s1);
    void (*rows)(const void *kv, int n, int D, const float *q, size_t ldq, int nq, float scale_log2e, float *out,
                 size_t ldo, void *work);
} ops_attn_kernel;

/* Query rows of the non-flash attention of ops/attention.c (F16 or F32 KV cache, hd a multiple of
 * 16) over one list of cells, bit for bit what its portable C computes for each row: n cells in
 * position order, kr[i] and vr[i] the key and value rows (hd elements of the cache type) of cell
 * i, pos[i] its position (lanes and softmax groups are taken from it); row r (r < nq <=
 * OPS_ATTN_ROWS_MAX) has the query q[r] (hd floats, rounded to the cache type by the kernel) and
 * sees the cells [lo[r], hi[r]) (none: zeros), written to out[r] (hd floats). work:
 * OPS_ATTN_ROWS_WORK(nq, n, hd) floats, 64-byte aligned. Several rows share the key and value loads (e.g. the query heads of one KV
 * head, several tokens). */
#define OPS_ATTN_ROWS_MAX 32
/* The sum of 16 lanes in _mm512_reduce_add_ps's order (the upper half added to the lower, down to
 * one lane): the portable attention's lane tree, which the row kernels reproduce. */
static inline float ops_reduce16(const float *a)
{
    float t8[8], t4[4];
    for (int i = 0; i < 8; i++)
        t8[i] = a[i] + a[i + 8];
    for (int i = 0; i < 4; i++)
        t4[i] = t8[i] + t8[i + 4];
    return (t4[0] + t4[2]) + (t4[1] + t4[3]);
}
#define OPS_ATTN_ROWS_WORK(nq, n, hd) ((size_t)((nq) + 33) * (size_t)(n) + (size_t)(nq) * (size_t)(hd) + 256)
typedef void (*ops_attn_rows_fn)(int hd, int nq, int n, const float *const *q, const int *lo, const int *hi,
                                 const void *const *kr, const void *const *vr, const int32_t *pos, float *work,
                                 float *const *out);

typedef struct ops_wkernels {
    enum ggml_type act_type; /* activation type of the dot product (ggml's vec_dot_type) */
    ops_vec_dot_fn vec_dot;  /* NULL: this weight type has no matmul */
    const ops_gemm_kernel *gemm; /* NULL: batches use vec_dot row by row */
    ops_gemv_fn gemv;            /* NULL: single tokens go row by row through vec_dot */
} ops_wkernels;

typedef struct ops_kernels {
    ops_wkernels w[GGML_TYPE_COUNT];          /* by weight type */
    ops_quantize_fn quantize_act[GGML_TYPE_COUNT]; /* by activation type (F32 = copy) */
    quant_to_float_fn to_float[GGML_TYPE_COUNT];   /* by type: row dequantizers */
    ops_mad_fn mad[GGML_TYPE_COUNT];               /* by KV-cache type */
    /* Elementwise helpers (portable versions in ops.c semantics). */
    void (*geglu)(int n, float *gate, const float *up);  /* gate = gelu_tanh(gate) * up (fp16 table) */
    void (*fp16_to_fp32_row)(const uint16_t *x, float *y, int64_t n);
    void (*fp32_to_fp16_row)(const float *x, uint16_t *y, int64_t n);
    ops_attn_kernel attn_dense[2]; /* by ops_attn_prec (F32, BF16 dot products) */
    ops_attn_rows_fn attn_rows[2]; /* [0] F32, [1] F16 KV cache; NULL: attention.c's portable loop */
    const char *name; /* "scalar", or what ops_arch_init sets, e.g. "avx2" */
} ops_kernels;

/* The process-wide table (initialised on first use, thread-safe, read-only afterwards). */
const ops_kernels *ops_kernels_get(void);
/* The portable reference table only (never overridden): what SIMD kernels are tested against. */
const ops_kernels *ops_kernels_ref(void);

/* fp16 -> fp32 through a 64K-entry table (built at init) and ggml's GELU fp16 table. */
extern float ops_fp16_table[65536];
extern uint16_t ops_gelu_fp16_table[65536];
static inline float ops_fp16(uint16_t h) { return ops_fp16_table[h]; }

/* ops_matmul through k->w[W->type].gemm (which must be set) for any n_tok >= 1: the batch path
 * of ops_matmul, callable with another table (tests compare tables). src/ops/matmul-gemm.c. */
medge_status ops_matmul_gemm(const ops_kernels *k, medge_pool *pool, ops_scratch *scratch, const medge_tensor *W,
                             const float *x, float *y, int n_tok);

/* ops_attention (ops.h) with the kernels of k (tests compare tables). src/ops/attention.c. */
medge_status ops_attention_k(const ops_kernels *k, medge_pool *pool, ops_scratch *scratch, const ops_attn_params *p,
                             const float *q, const int32_t *qpos, int n_tok, const ops_kv_view *views, int n_views,
                             float *out);

/* Implemented by src/ops/arch/<isa>/ when that folder provides arch.h (see above). */
void ops_arch_init(ops_kernels *k, const medge_cpu *cpu);
#endif
