/* file.h - reading files (memory-mapped or read into memory), a bounds-checked random-access
 * source over memory or read callbacks, and output files written to a temporary name and
 * renamed into place only when complete. */
#ifndef MEDGE_CORE_FILE_H
#define MEDGE_CORE_FILE_H

#include "core/error.h"
#include <stdio.h>

typedef struct medge_map {
    const uint8_t *data; /* file contents (read-only) */
    uint64_t size;
    void *base;          /* mmap base or malloc block */
    size_t map_len;
    int mapped;          /* 1: munmap, 0: free */
} medge_map;

/* Map a file read-only (mmap); falls back to reading it when mmap is unavailable or
 * MEDGE_NO_MMAP is set in the environment. Empty files give data == NULL, size 0. */
medge_status medge_map_file(const char *path, medge_map *m);
/* Read a whole file into memory (never mmap). */
medge_status medge_read_file(const char *path, medge_map *m);
/* Map a file read-only for streaming its contents over and over (model weights, read once per
 * generated token) in 2 MB pages where the kernel can (Linux transparent huge pages): 4 KB pages
 * cost TLB misses and stop the hardware prefetchers at every page boundary. The mapping starts on
 * a 2 MB boundary and is advised MADV_HUGEPAGE, so pages the kernel reads from storage come in
 * 2 MB folios. A file the page cache already holds in small pages (it was written or read
 * before) would stay in 4 KB pages: that is detected by touching a few 2 MB regions, and then the
 * file's cached pages that no process maps are dropped (POSIX_FADV_DONTNEED) once, so they are
 * read again from storage in 2 MB pages on first use (later loads find them so). Same memory as
 * medge_map_file (the file pages, no copy); falls back to it where huge pages are not available.
 * Freed by medge_unmap. */
medge_status medge_map_file_huge(const char *path, medge_map *m);
/* Bytes of a mapping that the kernel currently maps in 2 MB pages (Linux, from /proc/self/smaps;
 * only the mapping's first region), -1 when unknown. For diagnostics (medge bench). */
int64_t medge_map_huge_bytes(const medge_map *m);
/* True when the kernel has transparent huge pages on request (Linux:
 * /sys/kernel/mm/transparent_hugepage/enabled is "always" or "madvise"). */
bool medge_huge_pages_available(void);
void medge_unmap(medge_map *m);
/* Zeroed memory of n bytes for large blocks (the KV cache, a vocabulary's tables): from 1 MB on an
 * anonymous mapping at a 2 MB boundary advised MADV_HUGEPAGE (4 KB pages cost a TLB miss per KV
 * row at long contexts, and first-touch faults dominate loading a 262k vocabulary), else calloc.
 * populate: fault the whole block in with one call (MADV_POPULATE_WRITE; in a VM every first-touch
 * fault is a costly trap), for blocks that are written whole at once; not for a KV cache, which
 * fills as the context grows. NULL when out of memory. Free with medge_free_huge(p, n), same n. */
void *medge_alloc_huge(size_t n, bool populate);
void medge_free_huge(void *p, size_t n);
/* Advise the kernel that [off, off+len) of a mapping will be needed / is no longer needed. */
void medge_map_advise(const medge_map *m, uint64_t off, uint64_t len, int willneed);

/* A random-access byte source: memory, or the caller's read callbacks. */
typedef struct medge_src {
    const uint8_t *mem; /* non-NULL: memory source */
    uint64_t size;
    const medge_io *io; /* used when mem == NULL */
} medge_src;

/* Copy n bytes at off into dst; MEDGE_ERR_FORMAT "truncated" when past the end. */
medge_status medge_src_read(const medge_src *s, uint64_t off, void *dst, size_t n);

/* Output file: written as "<path>.tmp<pid>", renamed to path by medge_out_commit. Any write
 * error (full disk) is reported with the path; medge_out_abort removes the temporary. */
typedef struct medge_out {
    FILE *f;
    char *path;
    char *tmp;
    uint64_t written;
} medge_out;

medge_status medge_out_open(medge_out *o, const char *path);
medge_status medge_out_write(medge_out *o, const void *data, size_t n);
medge_status medge_out_zeros(medge_out *o, size_t n);
medge_status medge_out_commit(medge_out *o);
void medge_out_abort(medge_out *o);

/* Size of a file in bytes, or -1. */
int64_t medge_file_size(const char *path);
/* Join dir and name with '/'; malloc'd, NULL on allocation failure. */
char *medge_path_join(const char *dir, const char *name);

#endif
