/* fuzz-pickle.c - the state-dict pickle interpreter of formats/torchzip.c on arbitrary bytes. */
#include "formats/torchzip.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tz_pickle_tensor *ts = NULL;
    size_t n = 0;
    if (tz_parse_pickle(data, size, &ts, &n) == MEDGE_OK) {
        volatile size_t sum = 0;
        for (size_t i = 0; i < n; i++)
            sum += ts[i].name_len + ts[i].key_len + (size_t)ts[i].n_dims;
        (void)sum;
    }
    free(ts);
    return 0;
}
