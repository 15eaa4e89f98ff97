/* gemma3.h - Hugging Face Gemma 3 / MedGemma checkpoint (Gemma3ForConditionalGeneration or
 * Gemma3ForCausalLM) -> the text GGUF (arch gemma3) and the mmproj GGUF (arch clip, projector
 * gemma3) that llama.cpp's convert_hf_to_gguf.py writes: same keys with the same value types, same
 * tensor names, order, types and bytes (specs/gemma3.md sections 1, 2, 5, 7, 8).
 *
 * Inputs read from the directory: config.json (Gemma3Config / Gemma3TextConfig defaults applied
 * for absent keys), the safetensors (one file or shards + index), tokenizer.model (SentencePiece)
 * or, when absent, tokenizer.json (scores derived from the BPE merges), tokenizer_config.json
 * (special tokens, added tokens, chat template), added_tokens.json, generation_config.json
 * (sampling defaults), preprocessor_config.json (image mean / std). */
#ifndef MEDGE_CONVERT_GEMMA3_H
#define MEDGE_CONVERT_GEMMA3_H
#include "convert/convert.h"

typedef struct gemma3_convert_params {
    const char *hf_dir;      /* checkpoint directory */
    const char *out_path;    /* text GGUF; NULL to write only the mmproj */
    const char *mmproj_path; /* vision tower + projector GGUF; NULL for none */
    uint32_t outtype;        /* GGML_TYPE_F32, F16, BF16 or Q8_0 */
    int vocab_only;          /* text GGUF with metadata and vocabulary only (no tensors) */
    int n_threads;           /* conversion threads; <= 0: one per core */
    const char *name;        /* general.name; NULL: the directory's name */
    convert_progress_fn progress; /* may be NULL; called from the calling thread */
    void *progress_user;
} gemma3_convert_params;

typedef struct convert_output {
    char sha256[65];    /* of the whole file */
    uint64_t bytes;
    uint64_t n_tensors;
    uint64_t n_params;
} convert_output;

/* Convert. Every output is written under a temporary name and renamed into place only when it
 * is complete; on failure nothing is left at out_path / mmproj_path (a file already there stays
 * as it was) and the message names the offending file. text / mmproj (may be NULL) receive what
 * was written. Not thread-safe with respect to the same output paths. */
medge_status gemma3_convert(const gemma3_convert_params *p, convert_output *text, convert_output *mmproj);

/* Whether dir looks like a Gemma 3 checkpoint (config.json model_type gemma3 / gemma3_text). */
int gemma3_is_checkpoint(const char *dir);
#endif
