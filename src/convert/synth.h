/* synth.h - random-weight models with the exact tensors, shapes and metadata of real ones
 * (MedGemma 4B text + mmproj, the small gemma3 test size, BiomedCLIP), written either as a
 * Hugging Face checkpoint (config.json, sharded BF16 safetensors + index, tokenizer files) or
 * directly as GGUF in any type medge can quantize to. Used to measure conversion, quantization
 * and inference at full size without downloading the real weights.
 *
 * Values are deterministic functions of (seed, HF tensor name, element index), so the same seed
 * gives the same numbers in every format and with any thread count: converting a synthetic HF
 * checkpoint to BF16 reproduces the tensor data of the directly written BF16 GGUF. Weights are
 * normal with std 0.02 (rounded to bf16 as in a real checkpoint), RMSNorm weights are small
 * around 0 in HF (so the GGUF's 1 + w is near 1), LayerNorm weights near 1. Output is streamed:
 * memory use does not grow with the model. */
#ifndef MEDGE_CONVERT_SYNTH_H
#define MEDGE_CONVERT_SYNTH_H
#include "core/error.h"
#include <stdint.h>

enum synth_format { SYNTH_GGUF = 0, SYNTH_HF = 1 };

typedef struct synth_params {
    const char *preset;        /* "medgemma-4b", "tiny", "biomedclip" or "biomedclip-tiny" */
    int format;                /* enum synth_format */
    const char *type;          /* GGUF: "F32", "F16", "BF16", a quant type ("Q8_0", "Q4_K"...) or a
                                  mixture ("Q4_K_S", "Q4_K_M"); NULL = F16 (F32 for biomedclip).
                                  Ignored for HF (BF16; F32 for biomedclip). */
    uint64_t seed;
    int n_threads;             /* <= 0: all cores */
    const char *tokenizer_dir; /* optional: copy tokenizer.model / tokenizer.json /
                                  tokenizer_config.json / added_tokens.json... from here (HF),
                                  and nothing else changes; biomedclip: its vocab.txt (both
                                  formats); NULL: synthetic vocabulary */
    /* Called after each tensor (may be NULL). */
    void (*progress)(void *user, const char *name, int index, int count, uint64_t bytes_done);
    void *user;
} synth_params;

synth_params synth_default_params(void);

/* GGUF: out is the text model file; mmproj (may be NULL) receives the vision tower + projector.
 * HF: out is a directory (created if missing); mmproj must be NULL (the HF checkpoint holds both
 * towers). biomedclip: mmproj NULL; HF writes an open_clip checkpoint directory (config, F32
 * safetensors, vocab.txt), GGUF converts that checkpoint (in a temporary directory beside out)
 * with convert/biomedclip.c and quantizes it as quant_model does unless the type is F32. Files
 * are written under temporary names and renamed when complete. */
medge_status synth_write(const synth_params *p, const char *out, const char *mmproj);

#endif
