/* spm_model.h - the subset of SentencePiece's ModelProto (tokenizer.model) that converting a
 * Gemma 3 tokenizer needs: the pieces (text, score, type), the trainer spec's model type, byte
 * fallback and special ids, and the normalizer flags. A minimal protobuf wire-format reader:
 * every varint, length and field is bounds-checked; unknown fields are skipped. */
#ifndef MEDGE_FORMATS_SPM_MODEL_H
#define MEDGE_FORMATS_SPM_MODEL_H
#include "core/error.h"

/* SentencePiece.Type */
enum spm_piece_type { SPM_NORMAL = 1, SPM_UNKNOWN = 2, SPM_CONTROL = 3, SPM_USER_DEFINED = 4, SPM_UNUSED = 5, SPM_BYTE = 6 };
/* TrainerSpec.ModelType */
enum spm_model_type { SPM_UNIGRAM = 1, SPM_BPE = 2, SPM_WORD = 3, SPM_CHAR = 4 };

typedef struct spm_piece {
    const char *text; /* NUL-terminated copy (may contain NUL: use len) */
    uint32_t len;
    float score;      /* default 0 */
    int type;         /* enum spm_piece_type, default SPM_NORMAL; other values are kept as read */
} spm_piece;

typedef struct spm_model {
    size_t n_pieces;
    spm_piece *pieces;
    /* trainer_spec (protobuf defaults when absent) */
    int model_type;    /* default SPM_UNIGRAM */
    int64_t vocab_size; /* as written by the trainer (informational), default 8000 */
    int byte_fallback; /* default 0 */
    int unk_id, bos_id, eos_id, pad_id; /* defaults 0, 1, 2, -1 */
    int treat_whitespace_as_suffix;     /* default 0 */
    /* normalizer_spec */
    char *normalizer_name;              /* NULL when absent */
    int add_dummy_prefix;               /* default 1 */
    int remove_extra_whitespaces;       /* default 1 */
    int escape_whitespaces;             /* default 1 */
    char *arena_;                       /* owns every piece text */
} spm_model;

/* Parse a serialized ModelProto held in data[0..n). Fails with MEDGE_ERR_FORMAT on malformed
 * wire data and when there are no pieces. Free with spm_model_free. */
medge_status spm_model_parse(const void *data, size_t n, spm_model **out);
/* Read and parse a file; errors are prefixed with the path. */
medge_status spm_model_load(const char *path, spm_model **out);
void spm_model_free(spm_model *m); /* NULL is fine */
#endif
