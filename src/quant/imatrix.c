/* imatrix.c - read and write importance matrices in llama.cpp's GGUF imatrix format (see
 * imatrix.h). The reader validates everything it uses; the writer emits the same bytes as
 * llama-imatrix for the same sums and counts. */
#include "quant/imatrix.h"
#include "core/log.h"
#include "formats/gguf.h"
#include "quant/types.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static char *dupstr(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

void quant_imatrix_free(quant_imatrix *im)
{
    if (!im)
        return;
    for (uint64_t i = 0; i < im->n; i++) {
        free(im->e[i].name);
        free(im->e[i].sums);
        free(im->e[i].counts);
        free(im->e[i].weights);
    }
    free(im->e);
    for (uint64_t i = 0; i < im->n_datasets; i++)
        free(im->datasets[i]);
    free(im->datasets);
    free(im);
}

const quant_imatrix_entry *quant_imatrix_find(const quant_imatrix *im, const char *name)
{
    for (uint64_t i = 0; i < im->n; i++)
        if (strcmp(im->e[i].name, name) == 0)
            return &im->e[i];
    return NULL;
}

medge_status quant_imatrix_new(uint32_t chunk_size, quant_imatrix **out)
{
    *out = calloc(1, sizeof **out);
    if (!*out)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    (*out)->chunk_size = chunk_size;
    return MEDGE_OK;
}

medge_status quant_imatrix_add_dataset(quant_imatrix *im, const char *name)
{
    char **nd = realloc(im->datasets, (size_t)(im->n_datasets + 1) * sizeof *nd);
    if (!nd)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    im->datasets = nd;
    if (!(nd[im->n_datasets] = dupstr(name, strlen(name))))
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    im->n_datasets++;
    return MEDGE_OK;
}

static medge_status fill_weights(quant_imatrix_entry *e)
{
    size_t n;
    if (!medge_mul_size((size_t)e->ne0, (size_t)e->n_mat, &n) || !(e->weights = malloc(n * sizeof(float))))
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    for (int64_t m = 0; m < e->n_mat; m++) {
        /* llama.cpp rounds the stored float count to an integer, then divides */
        const long long c = llroundf(e->counts[m]);
        for (int64_t j = 0; j < e->ne0; j++)
            e->weights[m * e->ne0 + j] = c > 0 ? e->sums[m * e->ne0 + j] / (float)c : 1.0f;
    }
    return MEDGE_OK;
}

medge_status quant_imatrix_entry_get(quant_imatrix *im, const char *name, int64_t ne0, int64_t n_mat,
                                     quant_imatrix_entry **out)
{
    for (uint64_t i = 0; i < im->n; i++)
        if (strcmp(im->e[i].name, name) == 0) {
            if (im->e[i].ne0 != ne0 || im->e[i].n_mat != n_mat)
                return medge_err(MEDGE_ERR_INVALID_ARG, "imatrix entry %s: shape %lldx%lld, asked %lldx%lld", name,
                                 (long long)im->e[i].ne0, (long long)im->e[i].n_mat, (long long)ne0, (long long)n_mat);
            *out = &im->e[i];
            return MEDGE_OK;
        }
    if (ne0 <= 0 || n_mat <= 0 || ne0 > ((int64_t)1 << 40) / n_mat)
        return medge_err(MEDGE_ERR_INVALID_ARG, "imatrix entry %s: bad shape", name);
    quant_imatrix_entry *ne = realloc(im->e, (size_t)(im->n + 1) * sizeof *ne);
    if (!ne)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    im->e = ne;
    quant_imatrix_entry *e = &im->e[im->n];
    memset(e, 0, sizeof *e);
    e->ne0 = ne0;
    e->n_mat = n_mat;
    e->name = dupstr(name, strlen(name));
    e->sums = calloc((size_t)(ne0 * n_mat), sizeof(float));
    e->counts = calloc((size_t)n_mat, sizeof(float));
    if (!e->name || !e->sums || !e->counts) {
        free(e->name);
        free(e->sums);
        free(e->counts);
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    }
    im->n++;
    *out = e;
    return MEDGE_OK;
}

static int ends_with(const char *s, size_t n, const char *suf)
{
    size_t k = strlen(suf);
    return n >= k && memcmp(s + n - k, suf, k) == 0;
}

static medge_status load(const gguf_ctx *g, quant_imatrix *im)
{
    const char *type = NULL;
    if (gguf_get_str(g, "general.type", &type) == MEDGE_OK && strcmp(type, "imatrix") != 0)
        return medge_err(MEDGE_ERR_FORMAT, "not an imatrix file (general.type is '%s')", type);
    const void *ds;
    uint64_t n_ds;
    if (gguf_get_arr(g, "imatrix.datasets", GGUF_STR, &ds, &n_ds) != MEDGE_OK ||
        gguf_get_u32(g, "imatrix.chunk_count", &im->chunk_count) != MEDGE_OK ||
        gguf_get_u32(g, "imatrix.chunk_size", &im->chunk_size) != MEDGE_OK)
        return medge_err(MEDGE_ERR_FORMAT, "missing imatrix metadata (imatrix.datasets, imatrix.chunk_count, "
                                           "imatrix.chunk_size): not an imatrix GGUF");
    for (uint64_t i = 0; i < n_ds; i++) {
        const gguf_str *s = &((const gguf_str *)ds)[i];
        char *d = dupstr(s->s, (size_t)s->len);
        if (!d)
            return medge_err(MEDGE_ERR_NOMEM, "out of memory");
        medge_status rc = quant_imatrix_add_dataset(im, d);
        free(d);
        MEDGE_TRY(rc);
    }
    uint64_t n_pairs = 0;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const gguf_tensor *t = &g->tensors[i];
        const int sums = ends_with(t->name.s, (size_t)t->name.len, ".in_sum2");
        const int counts = ends_with(t->name.s, (size_t)t->name.len, ".counts");
        if (!sums && !counts)
            return medge_err(MEDGE_ERR_FORMAT, "unexpected tensor '%s' in imatrix", t->name.s);
        if (counts)
            continue;
        size_t base = (size_t)t->name.len - strlen(".in_sum2");
        char cname[GGUF_MAX_NAME + 16], wname[GGUF_MAX_NAME + 16];
        if (base >= GGUF_MAX_NAME)
            return medge_err(MEDGE_ERR_FORMAT, "imatrix tensor name too long");
        memcpy(wname, t->name.s, base);
        wname[base] = 0;
        memcpy(cname, wname, base);
        memcpy(cname + base, ".counts", 8);
        const gguf_tensor *c = gguf_get_tensor(g, cname);
        if (!c)
            return medge_err(MEDGE_ERR_FORMAT, "imatrix: %s has no matching %s", t->name.s, cname);
        if (t->type != GGML_TYPE_F32 || c->type != GGML_TYPE_F32)
            return medge_err(MEDGE_ERR_FORMAT, "imatrix: %s / %s must be F32", t->name.s, cname);
        const int64_t ne0 = t->ne[0], n_mat = t->ne[1] * t->ne[2] * t->ne[3];
        if (ne0 <= 0 || c->ne[0] != 1 || c->ne[1] * c->ne[2] * c->ne[3] != n_mat)
            return medge_err(MEDGE_ERR_FORMAT, "imatrix: shapes of %s and %s do not agree", t->name.s, cname);
        if (!t->data || !c->data)
            return medge_err(MEDGE_ERR_FORMAT, "imatrix: tensor data not mapped");
        if (quant_imatrix_find(im, wname))
            return medge_err(MEDGE_ERR_FORMAT, "imatrix: duplicate entry %s", wname);
        quant_imatrix_entry *e;
        MEDGE_TRY(quant_imatrix_entry_get(im, wname, ne0, n_mat, &e));
        memcpy(e->sums, t->data, (size_t)(ne0 * n_mat) * sizeof(float));
        memcpy(e->counts, c->data, (size_t)n_mat * sizeof(float));
        for (int64_t j = 0; j < ne0 * n_mat; j++)
            if (!isfinite(e->sums[j]))
                return medge_err(MEDGE_ERR_FORMAT, "imatrix: %s contains a non-finite value", t->name.s);
        for (int64_t m = 0; m < n_mat; m++)
            if (!isfinite(e->counts[m]) || e->counts[m] < 0)
                return medge_err(MEDGE_ERR_FORMAT, "imatrix: %s contains a bad count", cname);
        MEDGE_TRY(fill_weights(e));
        n_pairs++;
    }
    if (2 * n_pairs != g->n_tensors)
        return medge_err(MEDGE_ERR_FORMAT, "imatrix: %llu .counts tensors without a matching .in_sum2",
                         (unsigned long long)(g->n_tensors - 2 * n_pairs));
    return MEDGE_OK;
}

medge_status quant_imatrix_load(const char *path, quant_imatrix **out)
{
    *out = NULL;
    gguf_ctx *g = NULL;
    medge_status rc = gguf_open(path, &g);
    if (rc != MEDGE_OK)
        return medge_err_prefix(rc, "imatrix %s", path);
    quant_imatrix *im = calloc(1, sizeof *im);
    if (!im) {
        gguf_close(g);
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    }
    rc = load(g, im);
    gguf_close(g);
    if (rc != MEDGE_OK) {
        quant_imatrix_free(im);
        return medge_err_prefix(rc, "imatrix %s", path);
    }
    *out = im;
    return MEDGE_OK;
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const quant_imatrix_entry *const *)a)[0]->name, ((const quant_imatrix_entry *const *)b)[0]->name);
}

medge_status quant_imatrix_write(const quant_imatrix *im, const char *path)
{
    const quant_imatrix_entry **order = malloc((size_t)(im->n ? im->n : 1) * sizeof *order);
    if (!order)
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    for (uint64_t i = 0; i < im->n; i++)
        order[i] = &im->e[i];
    qsort(order, (size_t)im->n, sizeof *order, cmp_entry);
    gguf_writer *w = NULL;
    medge_status rc = gguf_writer_open(path, &w);
    if (rc == MEDGE_OK)
        rc = gguf_writer_set_str(w, "general.type", "imatrix");
    if (rc == MEDGE_OK)
        rc = gguf_writer_set_arr_str(w, "imatrix.datasets", (const char *const *)im->datasets, im->n_datasets);
    if (rc == MEDGE_OK)
        rc = gguf_writer_set_u32(w, "imatrix.chunk_count", im->chunk_count);
    if (rc == MEDGE_OK)
        rc = gguf_writer_set_u32(w, "imatrix.chunk_size", im->chunk_size);
    char name[GGUF_MAX_NAME + 16];
    for (uint64_t i = 0; i < im->n && rc == MEDGE_OK; i++) {
        const quant_imatrix_entry *e = order[i];
        int64_t ne[2] = {e->ne0, e->n_mat};
        if (strlen(e->name) + 9 > GGUF_MAX_NAME) {
            rc = medge_err(MEDGE_ERR_INVALID_ARG, "imatrix: tensor name '%s' too long", e->name);
            break;
        }
        snprintf(name, sizeof name, "%s.in_sum2", e->name);
        rc = gguf_writer_add_tensor(w, name, GGML_TYPE_F32, e->n_mat > 1 ? 2 : 1, ne);
        if (rc == MEDGE_OK) {
            int64_t nc[2] = {1, e->n_mat};
            snprintf(name, sizeof name, "%s.counts", e->name);
            rc = gguf_writer_add_tensor(w, name, GGML_TYPE_F32, e->n_mat > 1 ? 2 : 1, nc);
        }
    }
    for (uint64_t i = 0; i < im->n && rc == MEDGE_OK; i++) {
        rc = gguf_writer_write(w, order[i]->sums, (size_t)(order[i]->ne0 * order[i]->n_mat) * sizeof(float));
        if (rc == MEDGE_OK)
            rc = gguf_writer_write(w, order[i]->counts, (size_t)order[i]->n_mat * sizeof(float));
    }
    if (rc == MEDGE_OK)
        rc = gguf_writer_finish(w);
    gguf_writer_free(w);
    free(order);
    return rc;
}
