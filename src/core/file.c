/* file.c - see file.h. POSIX only (Linux, Android, macOS). */
#include "core/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
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

bool medge_huge_pages_available(void)
{
#ifdef MADV_HUGEPAGE
    int fd = open("/sys/kernel/mm/transparent_hugepage/enabled", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    char buf[128];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = 0;
    return strstr(buf, "[always]") != NULL || strstr(buf, "[madvise]") != NULL;
#else
    return false;
#endif
}

#ifdef MADV_HUGEPAGE
#define HUGE_SZ ((size_t)2 << 20)

/* Map fd at a 2 MB-aligned address (file offset 0 and the address must agree modulo 2 MB for the
 * kernel to map 2 MB folios): reserve 2 MB more address space, map the file over it with
 * MAP_FIXED, and keep the whole reservation as the unit medge_unmap releases. */
static medge_status map_aligned(int fd, const char *path, uint64_t size, medge_map *m)
{
    const size_t len = (size_t)size + HUGE_SZ;
    uint8_t *res = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (res == MAP_FAILED)
        return medge_err(MEDGE_ERR_NOMEM, "%s: cannot reserve %zu bytes of address space", path, len);
    uint8_t *at = (uint8_t *)(((uintptr_t)res + HUGE_SZ - 1) & ~(uintptr_t)(HUGE_SZ - 1));
    void *p = mmap(at, (size_t)size, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0);
    if (p == MAP_FAILED) {
        munmap(res, len);
        return medge_err(MEDGE_ERR_IO, "%s: cannot map: %s", path, strerror(errno));
    }
    madvise(at, (size_t)size, MADV_HUGEPAGE); /* a hint: failure only costs speed */
    m->data = at;
    m->size = size;
    m->base = res;
    m->map_len = len;
    m->mapped = 1;
    return MEDGE_OK;
}

/* kB of the mapping starting at `start` that the kernel maps with 2 MB entries (FilePmdMapped in
 * /proc/self/smaps), -1 when unknown. */
static long pmd_mapped_kb(const void *start)
{
    if (!start)
        return -1;
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f)
        return -1;
    char line[512];
    long kb = -1;
    int in = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long a, b;
        if (sscanf(line, "%lx-%lx ", &a, &b) == 2 && strchr(line, '-') < strchr(line, ' ')) {
            if (in)
                break;
            in = a == (unsigned long)(uintptr_t)start;
        } else if (in && sscanf(line, "FilePmdMapped: %ld kB", &kb) == 1) {
            break;
        }
    }
    fclose(f);
    return kb;
}

/* Touch the first byte of up to 64 whole 2 MB regions spread over the mapping; true when more
 * than 1/8 of them came in 4 KB pages (the page cache holds much of the file in small folios:
 * a file just written, as medge synth or a copy leaves it, is often partly so; MedGemma's
 * 550 MB token_embd, which is also the output matrix every token reads, alone is a fifth of
 * it, and decoding reads it slower through 4 KB pages: tg64 on a loaded machine 5.46 tok/s with
 * 1.71 of 2.38 GB in 2 MB pages, 6.54 with 2.33). */
static bool cached_small(const medge_map *m)
{
    const uint64_t n_huge = m->size / HUGE_SZ;
    if (n_huge == 0)
        return false;
    const uint64_t probes = n_huge < 64 ? n_huge : 64;
    for (uint64_t i = 0; i < probes; i++) {
        const volatile uint8_t *p = m->data + (i * n_huge / probes) * HUGE_SZ;
        (void)*p;
    }
    const long kb = pmd_mapped_kb(m->data);
    const uint64_t huge = kb < 0 ? probes : (uint64_t)kb * 1024 / HUGE_SZ;
    return huge < probes && (probes - huge) * 8 > probes;
}
#endif

int64_t medge_map_huge_bytes(const medge_map *m)
{
#ifdef MADV_HUGEPAGE
    if (m->mapped && m->data) {
        const long kb = pmd_mapped_kb(m->data);
        return kb < 0 ? -1 : (int64_t)kb * 1024;
    }
#endif
    (void)m;
    return -1;
}

medge_status medge_map_file_huge(const char *path, medge_map *m)
{
#ifdef MADV_HUGEPAGE
    if (!getenv("MEDGE_NO_MMAP") && medge_huge_pages_available()) {
        memset(m, 0, sizeof *m);
        for (int attempt = 0; attempt < 2; attempt++) {
            int fd;
            uint64_t size;
            MEDGE_TRY(open_sized(path, &fd, &size));
            if (size < HUGE_SZ || size > SIZE_MAX - HUGE_SZ) {
                close(fd);
                break; /* nothing to gain (or not mappable): the plain path */
            }
            if (attempt == 1) /* the file's cached small pages that nobody maps, read again huge */
                posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
            medge_status rc = map_aligned(fd, path, size, m);
            close(fd);
            if (rc != MEDGE_OK)
                break;
            if (attempt == 1 || !cached_small(m))
                return MEDGE_OK;
            medge_unmap(m);
        }
    }
#endif
    return medge_map_file(path, m);
}

#define BIG_MIN ((size_t)1 << 20) /* smaller blocks come from calloc */
#define BIG_ALIGN ((size_t)2 << 20)

void *medge_alloc_huge(size_t n, bool populate)
{
#ifdef MAP_ANONYMOUS
    if (n >= BIG_MIN && n <= SIZE_MAX - 2 * BIG_ALIGN) {
        const size_t pg = (size_t)sysconf(_SC_PAGESIZE), len = (n + pg - 1) / pg * pg;
        uint8_t *res = mmap(NULL, len + BIG_ALIGN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (res == MAP_FAILED)
            return NULL;
        /* keep the 2 MB-aligned [at, at + len) of the reservation */
        uint8_t *at = (uint8_t *)(((uintptr_t)res + BIG_ALIGN - 1) & ~(uintptr_t)(BIG_ALIGN - 1));
        if (at > res)
            munmap(res, (size_t)(at - res));
        if (res + len + BIG_ALIGN > at + len)
            munmap(at + len, (size_t)(res + len + BIG_ALIGN - (at + len)));
#ifdef MADV_HUGEPAGE
        madvise(at, len, MADV_HUGEPAGE); /* a hint: failure only costs speed */
#endif
#ifdef MADV_POPULATE_WRITE
        if (populate)
            madvise(at, len, MADV_POPULATE_WRITE);
#endif
        (void)populate;
        return at;
    }
#endif
    (void)populate;
    return calloc(1, n ? n : 1);
}

void medge_free_huge(void *p, size_t n)
{
    if (!p)
        return;
#ifdef MAP_ANONYMOUS
    if (n >= BIG_MIN && n <= SIZE_MAX - 2 * BIG_ALIGN) {
        munmap(p, n);
        return;
    }
#endif
    free(p);
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
