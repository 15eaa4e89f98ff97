/* cmd-imatrix.c - `medge imatrix`: importance matrix of a model over a calibration text, in
 * llama.cpp's GGUF imatrix format (specs/imatrix-and-kld.md §1), for `medge quantize --imatrix`
 * and llama-quantize. */
#include "tool.h"
#include "core/error.h"
#include "core/file.h"
#include "formats/gguf.h"
#include "quant/imatrix.h"
#include "runtime/imatrix.h"
#include "text/spm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: medge imatrix -m MODEL.gguf (-f TEXT | --tokens IDS) -o IMATRIX.gguf [options]\n"
            "Compute an importance matrix as llama-imatrix does: the text (one trailing newline removed) is\n"
            "tokenized with the model's vocabulary (BOS added, special-token text kept as text), cut into\n"
            "chunks of -c tokens (leftover tokens ignored; at least 2 chunks are needed), each chunk is\n"
            "evaluated on its own with its first token replaced by BOS, and for every weight matmul of the\n"
            "decoder layers (blk.*) the squares of its inputs are summed per column over all positions.\n"
            "The output is llama.cpp's GGUF imatrix (<weight>.in_sum2, <weight>.counts, imatrix.* keys),\n"
            "usable by `medge quantize --imatrix` and llama-quantize.\n"
            "options:\n"
            "  -m, --model FILE     the model (GGUF, Gemma 3 text decoder)\n"
            "  -f, --file FILE      calibration text\n"
            "  --tokens FILE        pre-tokenized input instead of -f: token ids separated by white space,\n"
            "                       used as given (include the BOS id first, as llama.cpp's tokenizer does)\n"
            "  -o, --output FILE    the imatrix GGUF to write\n"
            "  -c, --ctx N          tokens per chunk (default 512)\n"
            "  --chunks N           use at most N chunks (default: all)\n"
            "  -t, --threads N      worker threads (default: one per core; the result does not depend on it)\n"
            "  -q, --quiet          no progress on stderr\n"
            "  -h, --help           this help\n");
}

static int parse_int(const char *s, int lo, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > 1 << 30)
        return -1;
    *out = (int)v;
    return 0;
}

static medge_status read_ids(const char *path, int32_t n_vocab, int32_t **ids, size_t *n)
{
    medge_map m = {0};
    MEDGE_TRY(medge_read_file(path, &m));
    size_t cap = 0, len = 0;
    int32_t *v = NULL;
    medge_status rc = MEDGE_OK;
    const char *p = (const char *)m.data, *e = p + m.size;
    while (rc == MEDGE_OK) {
        while (p < e && (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r' || *p == ','))
            p++;
        if (p >= e)
            break;
        long val = 0;
        const char *q = p;
        while (q < e && *q >= '0' && *q <= '9' && val < 1L << 31)
            val = val * 10 + (*q++ - '0');
        if (q == p || val >= n_vocab || (q < e && !(*q == ' ' || *q == '\n' || *q == '\t' || *q == '\r' || *q == ','))) {
            rc = medge_err(MEDGE_ERR_FORMAT, "%s: token %zu is not an id in [0, %d)", path, len, n_vocab);
            break;
        }
        if (len == cap) {
            size_t nc = cap ? cap * 2 : 1024;
            int32_t *nv = realloc(v, nc * sizeof *nv);
            if (!nv) {
                rc = medge_err(MEDGE_ERR_NOMEM, "out of memory");
                break;
            }
            v = nv;
            cap = nc;
        }
        v[len++] = (int32_t)val;
        p = q;
    }
    medge_unmap(&m);
    if (rc != MEDGE_OK) {
        free(v);
        return rc;
    }
    *ids = v;
    *n = len;
    return MEDGE_OK;
}

static medge_status tokenize(const char *model_path, const char *text_path, const char *ids_path, int32_t **ids,
                             size_t *n, int32_t *bos)
{
    gguf_ctx *g = NULL;
    spm_vocab *v = NULL;
    medge_map m = {0};
    MEDGE_TRY(gguf_open(model_path, &g));
    medge_status rc = spm_load_gguf(g, &v);
    if (rc == MEDGE_OK) {
        *bos = spm_specials(v)->bos;
        bool add_bos = true;
        if (gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &add_bos) != MEDGE_OK)
            add_bos = true;
        if (!add_bos)
            *bos = -1;
        if (ids_path) {
            rc = read_ids(ids_path, spm_n_vocab(v), ids, n);
        } else {
            rc = medge_read_file(text_path, &m);
            if (rc == MEDGE_OK) {
                size_t len = (size_t)m.size;
                if (len && m.data[len - 1] == '\n')
                    len--;
                if (len == 0)
                    rc = medge_err(MEDGE_ERR_INVALID_ARG, "%s: the text is empty", text_path);
                else
                    rc = spm_encode(v, (const char *)m.data, len, add_bos ? SPM_ADD_BOS : 0, ids, n);
            }
        }
    }
    medge_unmap(&m);
    spm_free(v);
    gguf_close(g);
    return rc;
}

static int progress(void *user, int chunk, int n_chunk)
{
    double t0 = *(double *)user;
    fprintf(stderr, "\rchunk %d/%d (%.1f s)", chunk, n_chunk, tool_now() - t0);
    if (chunk == n_chunk)
        fputc('\n', stderr);
    return 0;
}

static int run(int argc, char **argv)
{
    const char *model = NULL, *text = NULL, *ids_path = NULL, *out = NULL;
    int n_ctx = 512, chunks = 0, threads = 0, quiet = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            quiet = 1;
            continue;
        }
        if (!val) {
            fprintf(stderr, "medge imatrix: %s needs a value (see --help)\n", a);
            return 2;
        }
        i++;
        if (!strcmp(a, "-m") || !strcmp(a, "--model"))
            model = val;
        else if (!strcmp(a, "-f") || !strcmp(a, "--file"))
            text = val;
        else if (!strcmp(a, "--tokens"))
            ids_path = val;
        else if (!strcmp(a, "-o") || !strcmp(a, "--output"))
            out = val;
        else if (!strcmp(a, "-c") || !strcmp(a, "--ctx")) {
            if (parse_int(val, 1, &n_ctx)) {
                fprintf(stderr, "medge imatrix: -c needs a positive integer, got '%s'\n", val);
                return 2;
            }
        } else if (!strcmp(a, "--chunks")) {
            if (parse_int(val, 1, &chunks)) {
                fprintf(stderr, "medge imatrix: --chunks needs a positive integer, got '%s'\n", val);
                return 2;
            }
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (parse_int(val, 1, &threads)) {
                fprintf(stderr, "medge imatrix: -t needs a positive integer, got '%s'\n", val);
                return 2;
            }
        } else {
            fprintf(stderr, "medge imatrix: unknown option '%s' (see --help)\n", a);
            return 2;
        }
    }
    if (!model || !out || (!text == !ids_path)) {
        fprintf(stderr, "medge imatrix: -m, -o and one of -f / --tokens are required (see --help)\n");
        return 2;
    }
    int32_t *ids = NULL;
    size_t n = 0;
    int32_t bos = -1;
    medge_status rc = tokenize(model, text, ids_path, &ids, &n, &bos);
    if (rc != MEDGE_OK)
        return tool_fail("imatrix", rc);
    medge_model *m = NULL;
    quant_imatrix *im = NULL;
    double t0 = tool_now();
    runtime_imatrix_params p = {n_ctx, chunks, threads, bos, quiet ? NULL : progress, &t0};
    rc = medge_model_load(model, medge_model_default_params(), &m);
    if (rc == MEDGE_OK) {
        int train = medge_model_n_ctx_train(m);
        if (train > 0 && n_ctx > train)
            rc = medge_err(MEDGE_ERR_RANGE, "-c %d is larger than the context %s was trained for (%d)", n_ctx, model,
                           train);
    }
    if (rc == MEDGE_OK)
        rc = quant_imatrix_new((uint32_t)n_ctx, &im);
    if (rc == MEDGE_OK)
        rc = quant_imatrix_add_dataset(im, ids_path ? ids_path : text);
    if (rc == MEDGE_OK && !quiet)
        fprintf(stderr, "%zu tokens, %d chunks of %d\n", n, runtime_imatrix_n_chunks(n, &p), n_ctx);
    if (rc == MEDGE_OK)
        rc = runtime_imatrix_compute(m, ids, n, &p, im);
    if (rc == MEDGE_OK)
        rc = quant_imatrix_write(im, out);
    if (rc == MEDGE_OK)
        printf("%s: %llu entries, %u chunks of %d tokens, %.2f s\n", out, (unsigned long long)im->n, im->chunk_count,
               n_ctx, tool_now() - t0);
    quant_imatrix_free(im);
    medge_model_free(m);
    free(ids);
    return rc == MEDGE_OK ? 0 : tool_fail("imatrix", rc);
}

const struct medge_cmd medge_cmd_imatrix = {"imatrix", "importance matrix over a calibration text (llama.cpp GGUF imatrix)",
                                            run};
