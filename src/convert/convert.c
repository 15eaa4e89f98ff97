/* convert.c - see convert.h. A tensor is converted in chunks of whole rows (about 8 MB of
 * output each): the rows of a chunk are split between the pool's threads, each converting its
 * rows through a float32 scratch row, then the chunk is appended to the GGUF writer. Memory
 * therefore stays at one chunk plus one scratch row per thread whatever the tensor size. When
 * the source is a read-only file mapping, the pages of rows already converted are released
 * (madvise DONTNEED), so resident memory does not grow with the checkpoint either. */
#include "convert/convert.h"
#include "core/sha256.h"
#include "quant/types.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <errno.h>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#define CHUNK_BYTES (8u << 20)

int convert_outtype_ok(uint32_t t)
{
    return t == GGML_TYPE_F32 || t == GGML_TYPE_F16 || t == GGML_TYPE_BF16 || t == GGML_TYPE_Q8_0;
}

uint32_t convert_file_type(uint32_t t)
{
    switch (t) {
    case GGML_TYPE_F16: return 1;
    case GGML_TYPE_Q8_0: return 7;
    case GGML_TYPE_BF16: return 32;
    default: return 0;
    }
}

uint64_t convert_nbytes(uint32_t out_type, int64_t ne0, int64_t n_rows)
{
    size_t row = quant_row_size(out_type, ne0);
    uint64_t n;
    if (!row || n_rows < 0 || !medge_mul_u64(row, (uint64_t)n_rows, &n))
        return 0;
    return n;
}

typedef struct job {
    const uint8_t *src;
    enum st_dtype dtype;
    int64_t ne0, rows;
    size_t src_row, dst_row;
    uint32_t out_type;
    float add;
    uint8_t *dst;
    float *scratch; /* nth * ne0 */
    quant_from_float_fn quantize;
    const uint16_t *bf16_f16; /* BF16 -> F16 lookup, or NULL */
} job;

static void load_row(const uint8_t *s, enum st_dtype dt, int64_t n, float *x)
{
    if (dt == ST_F32) {
        memcpy(x, s, (size_t)n * 4);
    } else if (dt == ST_BF16) {
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, s + 2 * i, 2);
            uint32_t u = (uint32_t)h << 16;
            memcpy(&x[i], &u, 4);
        }
    } else {
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, s + 2 * i, 2);
            x[i] = medge_fp16_to_fp32(h);
        }
    }
}

static void job_run(void *ctx, int ith, int nth)
{
    job *j = ctx;
    long b, e;
    medge_split((long)j->rows, ith, nth, &b, &e);
    float *x = j->scratch + (size_t)ith * (size_t)j->ne0;
    int same = j->add == 0.0f && ((j->dtype == ST_F32 && j->out_type == GGML_TYPE_F32) ||
                                  (j->dtype == ST_F16 && j->out_type == GGML_TYPE_F16) ||
                                  (j->dtype == ST_BF16 && j->out_type == GGML_TYPE_BF16));
    for (long r = b; r < e; r++) {
        const uint8_t *s = j->src + (size_t)r * j->src_row;
        uint8_t *d = j->dst + (size_t)r * j->dst_row;
        if (same) {
            memcpy(d, s, j->dst_row);
            continue;
        }
        if (j->bf16_f16) {
            /* BF16 has only 65536 values: one table lookup is the exact F16 rounding */
            for (int64_t i = 0; i < j->ne0; i++) {
                uint16_t h;
                memcpy(&h, s + 2 * i, 2);
                h = j->bf16_f16[h];
                memcpy(d + 2 * i, &h, 2);
            }
            continue;
        }
        load_row(s, j->dtype, j->ne0, x);
        if (j->add != 0.0f)
            for (int64_t i = 0; i < j->ne0; i++)
                x[i] += j->add;
        switch (j->out_type) {
        case GGML_TYPE_F32:
            memcpy(d, x, (size_t)j->ne0 * 4);
            break;
        case GGML_TYPE_F16:
            for (int64_t i = 0; i < j->ne0; i++) {
                uint16_t h = medge_fp32_to_fp16(x[i]);
                memcpy(d + 2 * i, &h, 2);
            }
            break;
        case GGML_TYPE_BF16:
            for (int64_t i = 0; i < j->ne0; i++) {
                uint16_t h = medge_fp32_to_bf16(x[i]);
                memcpy(d + 2 * i, &h, 2);
            }
            break;
        default:
            j->quantize(x, d, j->ne0);
            break;
        }
    }
}

/* Drop the pages wholly inside [p, p + n) from this process (read-only file mapping only). */
static void release_pages(const void *p, size_t n)
{
    long pg = sysconf(_SC_PAGESIZE);
    if (pg <= 0)
        return;
    uintptr_t a = (uintptr_t)p, e = a + n;
    uintptr_t s = (a + (uintptr_t)pg - 1) / (uintptr_t)pg * (uintptr_t)pg;
    e = e / (uintptr_t)pg * (uintptr_t)pg;
    if (e > s)
        madvise((void *)s, e - s, MADV_DONTNEED);
}

medge_status convert_write_tensor(convert_stream *s, const char *name, const void *src, enum st_dtype dtype,
                                  int64_t ne0, int64_t n_rows, uint32_t out_type, float add)
{
    if (dtype != ST_F32 && dtype != ST_F16 && dtype != ST_BF16)
        return medge_err(MEDGE_ERR_UNSUPPORTED, "%s: source dtype %s cannot be converted (F32, F16 or BF16 only)", name,
                         st_dtype_name(dtype));
    if (!convert_outtype_ok(out_type))
        return medge_err(MEDGE_ERR_UNSUPPORTED, "%s: output type %s is not supported", name, quant_type_name(out_type));
    if (ne0 <= 0 || n_rows < 0)
        return medge_err(MEDGE_ERR_INVALID_ARG, "%s: bad shape", name);
    const quant_traits *tr = quant_get_traits(out_type);
    size_t dst_row = quant_row_size(out_type, ne0);
    if (!tr || !dst_row)
        return medge_err(MEDGE_ERR_MISMATCH, "%s: a row of %lld elements cannot be stored as %s", name, (long long)ne0,
                         quant_type_name(out_type));
    job j = {0};
    if (tr->quantized) {
        j.quantize = tr->from_float_ref;
        if (!j.quantize)
            return medge_err(MEDGE_ERR_UNSUPPORTED, "%s: no quantizer for %s in this build", name, quant_type_name(out_type));
    }
    if (dtype == ST_BF16 && out_type == GGML_TYPE_F16 && add == 0.0f) {
        if (!s->bf16_f16) {
            s->bf16_f16 = malloc(65536 * sizeof *s->bf16_f16);
            if (!s->bf16_f16)
                return medge_err(MEDGE_ERR_NOMEM, "out of memory");
            for (uint32_t h = 0; h < 65536; h++)
                s->bf16_f16[h] = medge_fp32_to_fp16(medge_bf16_to_fp32((uint16_t)h));
        }
        j.bf16_f16 = s->bf16_f16;
    }
    j.dtype = dtype;
    j.ne0 = ne0;
    j.src_row = (size_t)ne0 * st_dtype_size(dtype);
    j.dst_row = dst_row;
    j.out_type = out_type;
    j.add = add;
    int nth = s->pool ? medge_pool_size(s->pool) : 1;
    size_t scratch_n;
    if (!medge_mul_size((size_t)nth, (size_t)ne0, &scratch_n) || !medge_mul_size(scratch_n, sizeof(float), &scratch_n))
        return medge_err(MEDGE_ERR_NOMEM, "%s: row too large", name);
    int64_t chunk_rows = (int64_t)(CHUNK_BYTES / dst_row);
    if (chunk_rows < 1)
        chunk_rows = 1;
    if (chunk_rows > n_rows)
        chunk_rows = n_rows;
    size_t buf_n;
    if (!medge_mul_size((size_t)(chunk_rows ? chunk_rows : 1), dst_row, &buf_n))
        return medge_err(MEDGE_ERR_NOMEM, "%s: row too large", name);
    j.scratch = malloc(scratch_n);
    j.dst = malloc(buf_n);
    if (!j.scratch || !j.dst) {
        free(j.scratch);
        free(j.dst);
        return medge_err(MEDGE_ERR_NOMEM, "%s: out of memory for a %zu-byte conversion buffer", name, buf_n);
    }
    medge_status rc = MEDGE_OK;
    for (int64_t r0 = 0; r0 < n_rows && rc == MEDGE_OK; r0 += chunk_rows) {
        int64_t nr = n_rows - r0 < chunk_rows ? n_rows - r0 : chunk_rows;
        j.src = (const uint8_t *)src + (size_t)r0 * j.src_row;
        j.rows = nr;
        if (s->pool && nr > 1)
            medge_pool_run(s->pool, job_run, &j);
        else
            job_run(&j, 0, 1);
        rc = gguf_writer_write(s->w, j.dst, (size_t)nr * dst_row);
        if (s->release_source)
            release_pages(j.src, (size_t)nr * j.src_row);
        s->done += (uint64_t)nr * dst_row;
        if (s->progress)
            s->progress(s->user, name, s->done, s->total);
    }
    free(j.scratch);
    free(j.dst);
    return rc;
}

void convert_stream_free(convert_stream *s)
{
    if (!s)
        return;
    free(s->bf16_f16);
    s->bf16_f16 = NULL;
}

void convert_size_label(uint64_t n, char buf[32])
{
    double x = (double)n;
    const char *suffix;
    double scaled;
    if (x > 1e12) {
        scaled = x * 1e-12;
        suffix = "T";
    } else if (x > 1e9) {
        scaled = x * 1e-9;
        suffix = "B";
    } else if (x > 1e6) {
        scaled = x * 1e-6;
        suffix = "M";
    } else {
        scaled = x * 1e-3;
        suffix = "K";
    }
    /* digits after the point: enough for 2 significant digits of the rounded integer part */
    char ibuf[32];
    snprintf(ibuf, sizeof ibuf, "%.0f", scaled);
    const char *p = ibuf;
    while (*p == '0')
        p++;
    int fix = 2 - (int)strlen(p);
    if (fix < 0)
        fix = 0;
    snprintf(buf, 32, "%.*f%s", fix, scaled, suffix);
}

medge_status convert_file_sha256(const char *path, char hex[65], uint64_t *size)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return medge_err(MEDGE_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    enum { N = 1 << 20 };
    uint8_t *buf = malloc(N);
    if (!buf) {
        close(fd);
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    }
    medge_sha256 h;
    medge_sha256_init(&h);
    uint64_t total = 0;
    medge_status rc = MEDGE_OK;
    for (;;) {
        ssize_t got = read(fd, buf, N);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            rc = medge_err(MEDGE_ERR_IO, "%s: read failed: %s", path, strerror(errno));
            break;
        }
        if (got == 0)
            break;
        medge_sha256_update(&h, buf, (size_t)got);
        total += (uint64_t)got;
    }
    close(fd);
    free(buf);
    if (rc == MEDGE_OK) {
        uint8_t dig[32];
        medge_sha256_final(&h, dig);
        medge_sha256_to_hex(dig, hex);
        if (size)
            *size = total;
    }
    return rc;
}

struct convert_hasher {
    pthread_t th;
    int fd;
    medge_sha256 h;
    uint64_t done;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;           /* 1: finish up to final_size; 2: abort */
    uint64_t final_size;
    int err;            /* errno of a failed read */
};

static void *hasher_main(void *arg)
{
    convert_hasher *h = arg;
    enum { N = 1 << 20 };
    uint8_t *buf = malloc(N);
    if (!buf) {
        h->err = ENOMEM;
        return NULL;
    }
    for (;;) {
        ssize_t got = read(h->fd, buf, N);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            h->err = errno;
            break;
        }
        if (got > 0) {
            medge_sha256_update(&h->h, buf, (size_t)got);
            h->done += (uint64_t)got;
            continue;
        }
        /* at the current end of the file: wait for more or for the end */
        pthread_mutex_lock(&h->mu);
        int stop = h->stop;
        uint64_t fin = h->final_size;
        if (!stop) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 20 * 1000 * 1000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&h->cv, &h->mu, &ts);
        }
        pthread_mutex_unlock(&h->mu);
        if (stop == 2 || (stop == 1 && h->done >= fin))
            break;
    }
    free(buf);
    return NULL;
}

medge_status convert_hasher_start(const char *path, convert_hasher **out)
{
    *out = NULL;
    size_t n = strlen(path) + 32;
    char *tmp = malloc(n);
    convert_hasher *h = calloc(1, sizeof *h);
    if (!tmp || !h) {
        free(tmp);
        free(h);
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    }
    snprintf(tmp, n, "%s.tmp%ld", path, (long)getpid());
    h->fd = open(tmp, O_RDONLY);
    free(tmp);
    if (h->fd < 0) {
        free(h); /* not following: the caller hashes the finished file instead */
        return MEDGE_OK;
    }
    medge_sha256_init(&h->h);
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    if (pthread_create(&h->th, NULL, hasher_main, h) != 0) {
        close(h->fd);
        pthread_mutex_destroy(&h->mu);
        pthread_cond_destroy(&h->cv);
        free(h);
        return MEDGE_OK;
    }
    *out = h;
    return MEDGE_OK;
}

static void hasher_stop(convert_hasher *h, int how, uint64_t size)
{
    pthread_mutex_lock(&h->mu);
    h->stop = how;
    h->final_size = size;
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);
    pthread_join(h->th, NULL);
    close(h->fd);
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->cv);
}

void convert_hasher_abort(convert_hasher *h)
{
    if (!h)
        return;
    hasher_stop(h, 2, 0);
    free(h);
}

medge_status convert_hasher_finish(convert_hasher *h, const char *path, char hex[65], uint64_t *size)
{
    if (!h)
        return convert_file_sha256(path, hex, size);
    int64_t fs = medge_file_size(path);
    hasher_stop(h, 1, fs < 0 ? 0 : (uint64_t)fs);
    int ok = fs >= 0 && !h->err && h->done == (uint64_t)fs;
    if (ok) {
        uint8_t dig[32];
        medge_sha256_final(&h->h, dig);
        medge_sha256_to_hex(dig, hex);
        if (size)
            *size = h->done;
    }
    free(h);
    return ok ? MEDGE_OK : convert_file_sha256(path, hex, size);
}
