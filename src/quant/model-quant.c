/* model-quant.c - the `medge quantize` pipeline: plan the types (recipe.c), copy the metadata
 * as llama-quantize does (general.quantization_version and general.file_type re-set at the
 * end, split keys removed, quantize.imatrix.* provenance), then stream every tensor: rows are
 * converted to float32 and quantized in batches split over a thread pool, written in order, and
 * the input pages are dropped behind us so resident memory stays bounded. */
#include "quant/model-quant.h"
#include "core/log.h"
#include "core/threadpool.h"
#include "quant/imatrix.h"
#include "quant/quant.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCH_FLOATS ((int64_t)8 << 20) /* 32 MiB of float32 rows per batch */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

quant_model_params quant_model_default_params(void)
{
    quant_model_params p;
    memset(&p, 0, sizeof p);
    p.recipe.ftype = QFT_Q4_K_M;
    p.recipe.output_type = -1;
    p.recipe.token_embd_type = -1;
    return p;
}

typedef struct batch_job {
    const uint8_t *src;        /* first row of the batch */
    size_t src_row_bytes;
    quant_to_float_fn to_float;/* NULL: source is F32 */
    float *f32;                /* [nrows][n_per_row] scratch (non-F32 sources) */
    uint8_t *out;
    size_t out_row_bytes;
    enum ggml_type dst;
    int64_t n_per_row, nrows;
    int64_t row0;              /* index of the batch's first row in the tensor */
    int64_t ne1;               /* rows per matrix (imatrix slices per matrix) */
    const float *imatrix;      /* NULL or [n_mat][n_per_row] */
    int64_t n_mat;
    int64_t bad_row[64];       /* per thread: first row with a non-finite value, -1 if none */
} batch_job;

static void batch_work(void *ctx, int ith, int nth)
{
    batch_job *j = ctx;
    long b, e;
    medge_split((long)j->nrows, ith, nth, &b, &e);
    if (ith < 64)
        j->bad_row[ith] = -1;
    for (long r = b; r < e; r++) {
        const uint8_t *s = j->src + (size_t)r * j->src_row_bytes;
        const float *x;
        if (j->to_float) {
            float *f = j->f32 + (size_t)r * (size_t)j->n_per_row;
            j->to_float(s, f, j->n_per_row);
            x = f;
        } else {
            x = (const float *)s;
        }
        for (int64_t k = 0; k < j->n_per_row; k++)
            if (!isfinite(x[k])) {
                if (ith < 64 && j->bad_row[ith] < 0)
                    j->bad_row[ith] = j->row0 + r;
                break;
            }
        const float *im = NULL;
        if (j->imatrix)
            im = j->imatrix + (size_t)(((j->row0 + r) / j->ne1) % j->n_mat) * (size_t)j->n_per_row;
        quant_quantize_rows(j->dst, x, j->out + (size_t)r * j->out_row_bytes, 1, j->n_per_row, im);
    }
}

typedef struct ctx {
    const quant_model_params *p;
    gguf_ctx *g;
    quant_imatrix *im;
    quant_plan plan;
    gguf_writer *w;
    medge_pool *pool;
    float *f32;
    uint8_t *out;
    size_t f32_cap, out_cap;
} ctx;

static medge_status grow(void **buf, size_t *cap, size_t n)
{
    if (n <= *cap)
        return MEDGE_OK;
    free(*buf);
    *buf = malloc(n);
    *cap = *buf ? n : 0;
    return *buf ? MEDGE_OK : medge_err(MEDGE_ERR_NOMEM, "out of memory (%zu bytes for a batch)", n);
}

static medge_status copy_tensor(ctx *c, const gguf_tensor *t)
{
    const medge_map *map = gguf_mapping(c->g);
    const uint64_t step = 64u << 20;
    for (uint64_t off = 0; off < t->nbytes; off += step) {
        size_t n = (size_t)(t->nbytes - off < step ? t->nbytes - off : step);
        if (t->data) {
            MEDGE_TRY(gguf_writer_write(c->w, (const uint8_t *)t->data + off, n));
        } else {
            MEDGE_TRY(grow((void **)&c->out, &c->out_cap, n));
            MEDGE_TRY(gguf_read_tensor_part(c->g, (uint64_t)(t - c->g->tensors), off, c->out, n));
            MEDGE_TRY(gguf_writer_write(c->w, c->out, n));
        }
        if (map)
            medge_map_advise(map, c->g->data_offset + t->offset + off, n, 0);
    }
    return MEDGE_OK;
}

static medge_status quantize_tensor(ctx *c, const gguf_tensor *t, enum ggml_type dst, const float *imatrix,
                                    int64_t n_mat)
{
    const quant_traits *st = quant_get_traits(t->type);
    const int64_t n_per_row = t->ne[0];
    const int64_t nrows = t->ne[1] * t->ne[2] * t->ne[3];
    const size_t src_row = quant_row_size(t->type, n_per_row), dst_row = quant_row_size(dst, n_per_row);
    if (!src_row || !dst_row)
        return medge_err(MEDGE_ERR_INTERNAL, "%s: bad row size", t->name.s);
    const bool f32 = t->type == GGML_TYPE_F32;
    int64_t batch = BATCH_FLOATS / n_per_row;
    if (batch < 1)
        batch = 1;
    if (batch > nrows)
        batch = nrows;
    if (!f32)
        MEDGE_TRY(grow((void **)&c->f32, &c->f32_cap, (size_t)batch * (size_t)n_per_row * sizeof(float)));
    MEDGE_TRY(grow((void **)&c->out, &c->out_cap, (size_t)batch * dst_row));
    uint8_t *srcbuf = NULL;
    if (!t->data && !(srcbuf = malloc((size_t)batch * src_row)))
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    const medge_map *map = gguf_mapping(c->g);
    const uint64_t base = c->g->data_offset + t->offset;
    medge_status rc = MEDGE_OK;
    for (int64_t r0 = 0; r0 < nrows && rc == MEDGE_OK; r0 += batch) {
        const int64_t n = nrows - r0 < batch ? nrows - r0 : batch;
        if (map && r0 + n < nrows)
            medge_map_advise(map, base + (uint64_t)(r0 + n) * src_row, (uint64_t)(n < nrows - r0 - n ? n : nrows - r0 - n) * src_row, 1);
        batch_job j;
        memset(&j, 0, sizeof j);
        if (t->data) {
            j.src = (const uint8_t *)t->data + (size_t)r0 * src_row;
        } else {
            rc = gguf_read_tensor_part(c->g, (uint64_t)(t - c->g->tensors), (uint64_t)r0 * src_row, srcbuf, (size_t)n * src_row);
            if (rc != MEDGE_OK)
                break;
            j.src = srcbuf;
        }
        j.src_row_bytes = src_row;
        j.to_float = f32 ? NULL : st->to_float;
        j.f32 = c->f32;
        j.out = c->out;
        j.out_row_bytes = dst_row;
        j.dst = dst;
        j.n_per_row = n_per_row;
        j.nrows = n;
        j.row0 = r0;
        j.ne1 = t->ne[1] > 0 ? t->ne[1] : 1;
        j.imatrix = imatrix;
        j.n_mat = n_mat > 0 ? n_mat : 1;
        if (f32 && ((uintptr_t)j.src & 3)) { /* only possible through a misaligned memory buffer */
            rc = medge_err(MEDGE_ERR_FORMAT, "%s: misaligned F32 data", t->name.s);
            break;
        }
        medge_pool_run(c->pool, batch_work, &j);
        for (int k = 0; k < 64 && k < (c->pool ? medge_pool_size(c->pool) : 1); k++)
            if (j.bad_row[k] >= 0) {
                rc = medge_err(MEDGE_ERR_FORMAT, "%s: row %lld holds NaN or infinity: refusing to quantize it", t->name.s,
                               (long long)j.bad_row[k]);
                break;
            }
        if (rc == MEDGE_OK)
            rc = gguf_writer_write(c->w, c->out, (size_t)n * dst_row);
        if (map)
            medge_map_advise(map, base + (uint64_t)r0 * src_row, (uint64_t)n * src_row, 0);
    }
    free(srcbuf);
    return rc;
}

static medge_status set_metadata(ctx *c)
{
    const quant_model_params *p = c->p;
    MEDGE_TRY(gguf_writer_copy_kv(c->w, c->g));
    gguf_writer_remove(c->w, "general.quantization_version");
    gguf_writer_remove(c->w, "general.file_type");
    MEDGE_TRY(gguf_writer_set_u32(c->w, "general.quantization_version", 2));
    MEDGE_TRY(gguf_writer_set_u32(c->w, "general.file_type", (uint32_t)p->recipe.ftype));
    gguf_writer_remove(c->w, "split.no");
    gguf_writer_remove(c->w, "split.count");
    gguf_writer_remove(c->w, "split.tensors.count");
    if (c->im) {
        MEDGE_TRY(gguf_writer_set_str(c->w, "quantize.imatrix.file", p->imatrix_name ? p->imatrix_name : p->imatrix_path));
        if (c->im->n_datasets)
            MEDGE_TRY(gguf_writer_set_str(c->w, "quantize.imatrix.dataset", c->im->datasets[0]));
        if (c->im->n)
            MEDGE_TRY(gguf_writer_set_u32(c->w, "quantize.imatrix.entries_count", (uint32_t)c->im->n));
        if (c->im->chunk_count)
            MEDGE_TRY(gguf_writer_set_u32(c->w, "quantize.imatrix.chunks_count", c->im->chunk_count));
    }
    return MEDGE_OK;
}

/* the imatrix slice of a tensor: NULL when absent (logged); error when it does not fit */
static medge_status find_imatrix(ctx *c, const gguf_tensor *t, const float **w, int64_t *n_mat)
{
    *w = NULL;
    *n_mat = 0;
    if (!c->im)
        return MEDGE_OK;
    const quant_imatrix_entry *e = quant_imatrix_find(c->im, t->name.s);
    if (!e) {
        MEDGE_LOGI("did not find imatrix weights for %s: quantized without", t->name.s);
        return MEDGE_OK;
    }
    if (e->ne0 * e->n_mat != t->ne[0] * t->ne[2]) {
        if (strcmp(t->name.s, "token_embd.weight") == 0)
            return MEDGE_OK;
        return medge_err(MEDGE_ERR_MISMATCH,
                         "imatrix does not match the model: %s has %lld x %lld imatrix values, the tensor needs %lld x %lld",
                         t->name.s, (long long)e->ne0, (long long)e->n_mat, (long long)t->ne[0], (long long)t->ne[2]);
    }
    *w = e->weights;
    *n_mat = e->n_mat;
    return MEDGE_OK;
}

static medge_status run(ctx *c, const char *in_path, const char *out_path, quant_model_result *res)
{
    const quant_model_params *p = c->p;
    MEDGE_TRY(gguf_open(in_path, &c->g));
    const char *arch = "";
    gguf_get_str(c->g, "general.architecture", &arch);
    if (c->g->n_tensors == 0)
        return medge_err(MEDGE_ERR_FORMAT, "%s holds no tensors: not a model", in_path);
    if (p->imatrix_path) {
        MEDGE_TRY(quant_imatrix_load(p->imatrix_path, &c->im));
        int hits = 0;
        for (uint64_t i = 0; i < c->im->n; i++)
            if (gguf_find_tensor(c->g, c->im->e[i].name) >= 0)
                hits++;
        if (c->im->n && !hits)
            return medge_err(MEDGE_ERR_MISMATCH, "imatrix %s does not match the model: none of its %llu entries names a tensor of %s",
                             p->imatrix_path, (unsigned long long)c->im->n, in_path);
        res->imatrix_entries_used = hits;
    }
    quant_recipe r = p->recipe;
    r.has_imatrix = c->im != NULL;
    MEDGE_TRY(quant_plan_make(c->g, &r, &c->plan));
    res->n_tensors = c->plan.n;
    res->n_fallback = (uint64_t)c->plan.n_fallback;

    /* refuse early what llama-quantize refuses */
    for (uint64_t k = 0; k < c->plan.n; k++) {
        const quant_plan_entry *e = &c->plan.t[k];
        const gguf_tensor *t = &c->g->tensors[e->index];
        if (!e->quantize)
            continue;
        const quant_traits *st = quant_get_traits(t->type);
        if (!st->to_float)
            return medge_err(MEDGE_ERR_UNSUPPORTED, "%s: cannot convert type %s", t->name.s, st->name);
        if (st->quantized && !p->allow_requantize)
            return medge_err(MEDGE_ERR_UNSUPPORTED, "%s is already %s: requantizing is disabled (use --allow-requantize)",
                             t->name.s, st->name);
        if (e->requires_imatrix && !c->im)
            return medge_err(MEDGE_ERR_INVALID_ARG, "%s as %s needs an importance matrix (--imatrix)", t->name.s,
                             quant_type_name(e->type));
    }

    if (!p->dry_run) {
        MEDGE_TRY(medge_pool_create(p->n_threads, &c->pool));
        MEDGE_TRY(gguf_writer_open(out_path, &c->w));
        MEDGE_TRY(set_metadata(c));
        for (uint64_t k = 0; k < c->plan.n; k++) {
            const gguf_tensor *t = &c->g->tensors[c->plan.t[k].index];
            MEDGE_TRY(gguf_writer_add_tensor(c->w, t->name.s, c->plan.t[k].type, t->n_dims, t->ne));
        }
        MEDGE_TRY(gguf_writer_begin_data(c->w));
    }
    for (uint64_t k = 0; k < c->plan.n; k++) {
        const quant_plan_entry *e = &c->plan.t[k];
        const gguf_tensor *t = &c->g->tensors[e->index];
        const double t0 = now_s();
        const float *imw = NULL;
        int64_t n_mat = 0;
        if (e->quantize)
            MEDGE_TRY(find_imatrix(c, t, &imw, &n_mat));
        uint64_t nel = 1;
        for (int d = 0; d < 4; d++)
            nel *= (uint64_t)t->ne[d];
        const uint64_t dst_bytes = e->quantize ? (uint64_t)quant_row_size(e->type, t->ne[0]) * (nel / (uint64_t)t->ne[0])
                                               : t->nbytes;
        if (!p->dry_run) {
            if (e->quantize)
                MEDGE_TRY(quantize_tensor(c, t, e->type, imw, n_mat));
            else
                MEDGE_TRY(copy_tensor(c, t));
        }
        res->n_elements += nel;
        res->bytes_in += t->nbytes;
        res->bytes_out += dst_bytes;
        res->n_quantized += e->quantize;
        if (p->progress) {
            quant_progress pr = {.i = k + 1, .n = c->plan.n, .name = t->name.s, .n_dims = t->n_dims,
                                 .src_type = t->type, .dst_type = e->type, .src_bytes = t->nbytes,
                                 .dst_bytes = dst_bytes, .quantized = e->quantize, .imatrix_used = imw != NULL,
                                 .fallback = e->fallback, .wanted_type = e->wanted, .seconds = now_s() - t0};
            memcpy(pr.ne, t->ne, sizeof pr.ne);
            p->progress(p->user, &pr);
        }
    }
    if (!p->dry_run) {
        res->file_bytes = gguf_writer_bytes(c->w);
        MEDGE_TRY(gguf_writer_finish(c->w));
    }
    return MEDGE_OK;
}

medge_status quant_model(const char *in_path, const char *out_path, const quant_model_params *p,
                         quant_model_result *res)
{
    quant_model_result dummy;
    if (!res)
        res = &dummy;
    memset(res, 0, sizeof *res);
    if (!in_path || (!out_path && !p->dry_run))
        return medge_err(MEDGE_ERR_INVALID_ARG, "input and output paths are required");
    const double t0 = now_s();
    ctx c;
    memset(&c, 0, sizeof c);
    c.p = p;
    medge_status rc = run(&c, in_path, out_path, res);
    gguf_writer_free(c.w); /* removes the temporary file unless finished */
    medge_pool_free(c.pool);
    quant_plan_free(&c.plan);
    quant_imatrix_free(c.im);
    gguf_close(c.g);
    free(c.f32);
    free(c.out);
    res->seconds = now_s() - t0;
    return rc;
}
