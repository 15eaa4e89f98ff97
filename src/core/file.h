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
void medge_unmap(medge_map *m);
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
