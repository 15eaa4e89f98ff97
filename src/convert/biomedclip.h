/* biomedclip.h - open_clip BiomedCLIP checkpoint (open_clip_config.json + open_clip_pytorch_model.bin
 * or open_clip_model.safetensors + vocab.txt) -> one GGUF holding both towers, laid out as
 * specs/biomedclip.md §7.3 proposes (llama.cpp-style names, arch "clip"). */
#ifndef MEDGE_CONVERT_BIOMEDCLIP_H
#define MEDGE_CONVERT_BIOMEDCLIP_H
#include "core/error.h"
#include <stdbool.h>

typedef struct bmc_convert_opts {
    bool f16;         /* store the 2-D linear weights as F16 instead of F32 */
    const char *name; /* general.name; NULL: BiomedCLIP-PubMedBERT_256-vit_base_patch16_224 */
} bmc_convert_opts;

/* True when dir looks like an open_clip checkpoint (holds open_clip_config.json). */
bool bmc_is_checkpoint_dir(const char *dir);

/* Convert the checkpoint in dir to out_path. Every tensor is checked against the shapes the
 * architecture implies (dimensions and layer counts come from the tensors themselves, head size
 * 64); unknown tensors, missing tensors and a vocabulary larger than the embedding are errors. */
medge_status bmc_convert(const char *dir, const char *out_path, const bmc_convert_opts *opts);
#endif
