/* fuzz-safetensors.c - libFuzzer target for the safetensors reader (one file from memory): parse,
 * then touch every tensor's first and last byte, look every name up, and describe it as JSON. */
#include "formats/info.h"
#include "formats/safetensors.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    st_model *m = NULL;
    volatile unsigned sink = 0;
    if (st_open_memory(data, size, &m) != MEDGE_OK)
        return 0;
    for (size_t i = 0; i < st_count(m); i++) {
        const st_tensor *t = st_at(m, i);
        if (t->nbytes)
            sink += ((const uint8_t *)t->data)[0] + ((const uint8_t *)t->data)[t->nbytes - 1];
        if (st_find(m, t->name) != t || st_dtype_size(t->dtype) == 0)
            __builtin_trap();
        uint64_t off = st_offset(m, t);
        if (off < 8 || off + t->nbytes > size)
            __builtin_trap();
    }
    const json_value *meta = st_metadata(m, 0);
    if (meta)
        sink += (unsigned)meta->len;
    medge_buf b = {0};
    (void)info_st_json(m, size < 4096 ? INFO_SHA256 : 0, &b);
    medge_buf_free(&b);
    st_close(m);
    (void)sink;
    return 0;
}
