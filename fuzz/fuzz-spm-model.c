/* fuzz-spm-model.c - libFuzzer target for the SentencePiece ModelProto reader. */
#include "formats/spm_model.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    spm_model *m = NULL;
    if (spm_model_parse(data, size, &m) == MEDGE_OK) {
        /* touch every piece so the sanitizers see any out-of-bounds text */
        size_t sum = 0;
        for (size_t i = 0; i < m->n_pieces; i++)
            sum += m->pieces[i].len + strlen(m->pieces[i].text) + (size_t)m->pieces[i].type;
        (void)sum;
    }
    spm_model_free(m);
    return 0;
}
