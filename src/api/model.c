/* model.c - medge_model: loading a Gemma 3 text GGUF from a path, a buffer or read callbacks
 * (public API of include/medge.h), and the small queries on it. */
#include "runtime/session.h"

#include <stdlib.h>
#include <string.h>

medge_model_params medge_model_default_params(void)
{
    medge_model_params p;
    memset(&p, 0, sizeof p);
    p.use_mmap = 1;
    p.huge_pages = 1;
    return p;
}

static medge_status finish(gguf_ctx *g, medge_model **out)
{
    medge_model *m = calloc(1, sizeof *m);
    if (!m) {
        gguf_close(g);
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    }
    medge_status rc = gemma3_load(g, &m->g);
    if (rc != MEDGE_OK) {
        free(m);
        return rc;
    }
    *out = m;
    return MEDGE_OK;
}

/* A model over a file in memory (*mp: mapped or read), which it then owns (released here on
 * failure). */
static medge_status finish_owned(const char *path, medge_map *mp, medge_model **out)
{
    gguf_ctx *g;
    medge_status rc = gguf_open_memory(mp->data, (size_t)mp->size, &g);
    if (rc == MEDGE_OK)
        rc = finish(g, out);
    if (rc != MEDGE_OK) {
        medge_unmap(mp);
        return medge_err_prefix(rc, "%s", path);
    }
    (*out)->owned_map = *mp;
    (*out)->has_map = true;
    return MEDGE_OK;
}

medge_status medge_model_load(const char *path, medge_model_params params, medge_model **out)
{
    if (!out || !path)
        return medge_err(MEDGE_ERR_INVALID_ARG, "NULL path or output");
    *out = NULL;
    gguf_ctx *g;
    medge_map mp;
    if (params.use_mmap && params.huge_pages) {
        /* the file mapped in 2 MB pages where possible (core/file.h), owned by the model */
        MEDGE_TRY(medge_map_file_huge(path, &mp));
        return finish_owned(path, &mp, out);
    }
    if (params.use_mmap) {
        MEDGE_TRY(gguf_open(path, &g));
        medge_status rc = finish(g, out);
        return rc == MEDGE_OK ? rc : medge_err_prefix(rc, "%s", path);
    }
    /* Read into memory owned by the model (devices where mapping is not wanted). */
    MEDGE_TRY(medge_read_file(path, &mp));
    return finish_owned(path, &mp, out);
}

medge_status medge_model_load_memory(const void *data, size_t size, medge_model_params params, medge_model **out)
{
    (void)params;
    if (!out)
        return medge_err(MEDGE_ERR_INVALID_ARG, "NULL output");
    *out = NULL;
    gguf_ctx *g;
    MEDGE_TRY(gguf_open_memory(data, size, &g));
    return finish(g, out);
}

medge_status medge_model_load_io(const medge_io *io, medge_model_params params, medge_model **out)
{
    (void)params;
    if (!out)
        return medge_err(MEDGE_ERR_INVALID_ARG, "NULL output");
    *out = NULL;
    gguf_ctx *g;
    MEDGE_TRY(gguf_open_io(io, &g));
    return finish(g, out);
}

void medge_model_free(medge_model *m)
{
    if (!m)
        return;
    gemma3_free(m->g);
    if (m->has_map)
        medge_unmap(&m->owned_map);
    free(m);
}

int medge_model_n_vocab(const medge_model *m) { return m ? m->g->hp.n_vocab : 0; }
int medge_model_n_embd(const medge_model *m) { return m ? m->g->hp.n_embd : 0; }
int medge_model_n_ctx_train(const medge_model *m) { return m ? m->g->hp.n_ctx_train : 0; }
uint64_t medge_model_size(const medge_model *m) { return m ? m->g->weight_bytes : 0; }
int32_t medge_model_bos(const medge_model *m) { return m ? m->g->bos : -1; }

int medge_model_is_eog(const medge_model *m, int32_t t)
{
    return m && t >= 0 && (t == m->g->eos || t == m->g->eot);
}
