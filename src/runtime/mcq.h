/* mcq.h - multiple-choice question sets (MedQA / MedMCQA / PubMedQA style JSONL) for
 * `medge eval mcq`, the prompt each question is asked with, and the accuracy statistics (95%
 * Wilson interval; paired difference of two models on the same questions with a normal interval).
 *
 * Accepted lines (one JSON object per line; blank lines are skipped):
 *   MedQA:    {"question", "options": {"A": text, ...} or [text, ...],
 *              "answer_idx": "C"  or  "answer": "C" | 2 (0-based) | the option's text}
 *   MedMCQA:  {"question", "opa", "opb", "opc", "opd", "cop": 0..3 (0-based, as the Hugging Face
 *              release) or "a".."d"}
 *   PubMedQA: {"question" or "QUESTION", optional "context" / "CONTEXTS" (string or array of
 *              strings), "final_decision" or "answer": "yes" | "no" | "maybe"} -> options yes/no/maybe
 * An optional "id" is kept for the per-question log. */
#ifndef MEDGE_RUNTIME_MCQ_H
#define MEDGE_RUNTIME_MCQ_H
#include "core/error.h"

#define MCQ_MAX_OPTIONS 10

typedef struct mcq_item {
    char *id;       /* from "id", else "line N" */
    char *question;
    char *context;  /* NULL if none */
    int n_options;  /* 2..MCQ_MAX_OPTIONS */
    char *options[MCQ_MAX_OPTIONS];
    int answer;     /* 0-based index into options */
    int line;       /* 1-based line in the file */
} mcq_item;

typedef struct mcq_set {
    mcq_item *items;
    size_t n;
} mcq_set;

/* Load a JSONL file; an unusable line fails the whole load with a message naming the line. */
medge_status mcq_load(const char *path, mcq_set **out);
/* The same from text in memory (name is used in messages). */
medge_status mcq_parse(const char *text, size_t len, const char *name, mcq_set **out);
void mcq_free(mcq_set *s);

/* The user turn for an item (malloc'd):
 *   [context "\n\n"] question "\n\n" "A. opt\n" "B. opt\n" ... "\n"
 *   "Answer with the letter of the correct option only."
 * The model's answer is then scored as the letter alone (see mcq_letter). */
char *mcq_user_text(const mcq_item *it);
/* The answer text of option i: "A", "B", ... */
const char *mcq_letter(int i);

/* Accuracy k/n with a 95% Wilson score interval. */
void mcq_accuracy(size_t k, size_t n, double *acc, double *lo, double *hi);
/* Paired difference mean(a_i - b_i) of 0/1 outcomes with a 95% normal interval (sample variance
 * of the differences; 0 width when n < 2). */
void mcq_paired_diff(const unsigned char *a, const unsigned char *b, size_t n, double *diff, double *lo, double *hi);
#endif
