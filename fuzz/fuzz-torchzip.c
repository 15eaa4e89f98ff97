/* fuzz-torchzip.c - the PyTorch zip checkpoint reader (zip directory + pickle + record lookup). */
#include "formats/torchzip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tz_file *f = NULL;
    if (tz_open_memory(data, size, &f) == MEDGE_OK) {
        volatile uint8_t acc = 0;
        for (size_t i = 0; i < tz_count(f); i++) {
            const tz_tensor *t = tz_at(f, i);
            if (t->nbytes)
                acc ^= ((const uint8_t *)t->data)[t->nbytes - 1];
        }
        (void)acc;
        tz_close(f);
    }
    return 0;
}
