/* pipeline.h - the clinical assessment run: chat prompt (with an optional image), generation
 * constrained to the answer schema so the output is always complete, valid JSON, then the
 * report that merges the answer with the rule-based red flags. */
#ifndef MEDGE_CLINIC_PIPELINE_H
#define MEDGE_CLINIC_PIPELINE_H
#include "clinic/assess.h"
#include "text/spm.h"

typedef struct clinic_run_params {
    int max_tokens;       /* generation budget (default 1024): the schema bounds every string, so a
                             complete answer always fits in about 1000 tokens */
    const float *image;   /* image embeddings [n_image][n_embd] from the vision projector, or NULL */
    int n_image;
    /* Called after each generated token with the answer text so far (may be NULL). */
    void (*on_text)(const char *text, size_t len, void *user);
    void *user;
} clinic_run_params;

clinic_run_params clinic_run_default_params(void);

/* Evaluate the prompt in a fresh context of s and generate the answer; fills *report (free with
 * clinic_report_free) and, when raw is not NULL, appends the model's raw JSON answer to it.
 * Errors: MEDGE_ERR_CONTEXT_FULL when prompt + answer budget exceed the context,
 * MEDGE_ERR_FORMAT when the vocabulary cannot spell the schema (no token continues the answer),
 * MEDGE_ERR_RANGE when the budget ran out before the answer was complete. */
medge_status clinic_run(medge_session *s, const spm_vocab *v, const char *symptoms, clinic_run_params p,
                        clinic_report *report, medge_buf *raw);
#endif
