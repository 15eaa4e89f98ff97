/* file.c - see file.h. POSIX only (Linux, Android, macOS). */
#include "core/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static medge_status read_fd(int fd, const char *path, uint64_t size, medge_map *m)
{
    if (size > SIZE_MAX - 1)
        return medge_err(MEDGE_ERR_NOMEM, "%s: file too large to read into memory", path);
    uint8_t *buf = malloc(size ? (size_t)size : 1);
    if (!buf)
        return medge_err(MEDGE_ERR_NOMEM, "%s: cannot allocate %llu bytes", path, (unsigned long long)size);
    uint64_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, buf + got, (size - got) > (1u << 30) ? (1u << 30) : (size_t)(size - got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            free(buf);
            return medge_err(MEDGE_ERR_IO, "%s: read failed: %s", path, r < 0 ? strerror(errno) : "unexpected end of file");
        }
        got += (uint64_t)r;
    }
    m->data = buf;
    m->base = buf;
    m->size = size;
    m->mapped = 0;
    return MEDGE_OK;
}

static medge_status open_sized(const char *path, int *fd, uint64_t *size)
{
    *fd = open(path, O_RDONLY | O_CLOEXEC);
    if (*fd < 0)
        return medge_err(errno == ENOENT ? MEDGE_ERR_NOT_FOUND : MEDGE_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(*fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(*fd);
        return medge_err(MEDGE_ERR_IO, "%s: not a regular file", path);
    }
    *size = (uint64_t)st.st_size;
    return MEDGE_OK;
}

medge_status medge_map_file(const char *path, medge_map *m)
{
    memset(m, 0, sizeof *m);
    int fd;
    uint64_t size;
    MEDGE_TRY(open_sized(path, &fd, &size));
    medge_status rc = MEDGE_OK;
    if (size == 0) {
        m->mapped = 0;
    } else if (getenv("MEDGE_NO_MMAP") || size > SIZE_MAX) {
        rc = read_fd(fd, path, size, m);
    } else {
        void *p = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) {
            rc = read_fd(fd, path, size, m);
        } else {
            m->data = p;
            m->base = p;
            m->map_len = (size_t)size;
            m->size = size;
            m->mapped = 1;
        }
    }
    close(fd);
    return rc;
}

medge_status medge_read_file(const char *path, medge_map *m)
{
    memset(m, 0, sizeof *m);
    int fd;
    uint64_t size;
    MEDGE_TRY(open_sized(path, &fd, &size));
    medge_status rc = read_fd(fd, path, size, m);
    close(fd);
    return rc;
}

void medge_unmap(medge_map *m)
{
    if (!m)
        return;
    if (m->mapped && m->base)
        munmap(m->base, m->map_len);
    else
        free(m->base);
    memset(m, 0, sizeof *m);
}

void medge_map_advise(const medge_map *m, uint64_t off, uint64_t len, int willneed)
{
    if (!m->mapped || off >= m->size)
        return;
    long pg = sysconf(_SC_PAGESIZE);
    uint64_t start = off / (uint64_t)pg * (uint64_t)pg;
    uint64_t end = off + len > m->size ? m->size : off + len;
    madvise((uint8_t *)m->base + start, (size_t)(end - start), willneed ? MADV_WILLNEED : MADV_DONTNEED);
}

medge_status medge_src_read(const medge_src *s, uint64_t off, void *dst, size_t n)
{
    uint64_t end;
    if (!medge_add_u64(off, n, &end) || end > s->size)
        return medge_err(MEDGE_ERR_FORMAT, "truncated: need %zu bytes at offset %llu, size is %llu", n,
                         (unsigned long long)off, (unsigned long long)s->size);
    if (n == 0)
        return MEDGE_OK;
    if (s->mem) {
        memcpy(dst, s->mem + off, n);
        return MEDGE_OK;
    }
    if (!s->io || !s->io->read_at)
        return medge_err(MEDGE_ERR_INVALID_ARG, "no data source");
    size_t got = s->io->read_at(s->io->user, off, dst, n);
    if (got != n)
        return medge_err(MEDGE_ERR_IO, "read callback returned %zu of %zu bytes at offset %llu", got, n, (unsigned long long)off);
    return MEDGE_OK;
}

char *medge_path_join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p)
        return NULL;
    memcpy(p, dir, a);
    size_t k = a;
    if (a && dir[a - 1] != '/')
        p[k++] = '/';
    memcpy(p + k, name, b + 1);
    return p;
}

int64_t medge_file_size(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return -1;
    return (int64_t)st.st_size;
}

medge_status medge_out_open(medge_out *o, const char *path)
{
    memset(o, 0, sizeof *o);
    size_t n = strlen(path);
    o->path = malloc(n + 1);
    o->tmp = malloc(n + 32);
    if (!o->path || !o->tmp) {
        free(o->path);
        free(o->tmp);
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    }
    memcpy(o->path, path, n + 1);
    snprintf(o->tmp, n + 32, "%s.tmp%ld", path, (long)getpid());
    o->f = fopen(o->tmp, "wb");
    if (!o->f) {
        medge_status rc = medge_err(MEDGE_ERR_IO, "%s: cannot create: %s", o->tmp, strerror(errno));
        free(o->path);
        free(o->tmp);
        memset(o, 0, sizeof *o);
        return rc;
    }
    setvbuf(o->f, NULL, _IOFBF, 1 << 20);
    return MEDGE_OK;
}

medge_status medge_out_write(medge_out *o, const void *data, size_t n)
{
    if (!o->f)
        return medge_err(MEDGE_ERR_INVALID_ARG, "output file is not open");
    if (n && fwrite(data, 1, n, o->f) != n)
        return medge_err(MEDGE_ERR_IO, "%s: write failed: %s", o->path, strerror(errno));
    o->written += n;
    return MEDGE_OK;
}

medge_status medge_out_zeros(medge_out *o, size_t n)
{
    static const uint8_t zeros[256];
    while (n) {
        size_t k = n < sizeof zeros ? n : sizeof zeros;
        MEDGE_TRY(medge_out_write(o, zeros, k));
        n -= k;
    }
    return MEDGE_OK;
}

medge_status medge_out_commit(medge_out *o)
{
    if (!o->f)
        return medge_err(MEDGE_ERR_INVALID_ARG, "output file is not open");
    int bad = fflush(o->f) != 0;
    int err = errno;
    bad |= fclose(o->f) != 0;
    o->f = NULL;
    if (bad) {
        medge_status rc = medge_err(MEDGE_ERR_IO, "%s: write failed: %s", o->path, strerror(err ? err : errno));
        medge_out_abort(o);
        return rc;
    }
    if (rename(o->tmp, o->path) != 0) {
        medge_status rc = medge_err(MEDGE_ERR_IO, "%s: cannot rename into place: %s", o->path, strerror(errno));
        medge_out_abort(o);
        return rc;
    }
    free(o->path);
    free(o->tmp);
    memset(o, 0, sizeof *o);
    return MEDGE_OK;
}

void medge_out_abort(medge_out *o)
{
    if (!o)
        return;
    if (o->f)
        fclose(o->f);
    if (o->tmp)
        unlink(o->tmp);
    free(o->path);
    free(o->tmp);
    memset(o, 0, sizeof *o);
}
