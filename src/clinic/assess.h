/* assess.h - the clinical assessment pipeline's model-independent parts: the instruction prompt,
 * the output schema the model is constrained to (runtime/jsonfsm.h), parsing its answer, and
 * merging it with the rule-based red flags into the final report (urgency can only be raised by
 * the rules, never lowered; every report carries the disclaimer). */
#ifndef MEDGE_CLINIC_ASSESS_H
#define MEDGE_CLINIC_ASSESS_H
#include "clinic/redflags.h"
#include "core/json.h"
#include "runtime/jsonfsm.h"

#define CLINIC_MAX_ITEMS 6
#define CLINIC_MAX_FLAGS 16

/* Where to send the patient. */
typedef enum clinic_refer { CLINIC_REFER_NO = 0, CLINIC_REFER_ROUTINE = 1, CLINIC_REFER_URGENT = 2, CLINIC_REFER_NOW = 3 } clinic_refer;
const char *clinic_refer_name(clinic_refer r); /* "no", "routine", "urgent", "immediately" */

typedef struct clinic_answer {
    clinic_urgency urgency;
    char *findings[CLINIC_MAX_ITEMS]; /* image findings (with an image) */
    int n_findings;
    char *causes[CLINIC_MAX_ITEMS];
    int n_causes;
    char *red_flags[CLINIC_MAX_ITEMS];
    int n_red_flags;
    char *next_steps[CLINIC_MAX_ITEMS];
    int n_next_steps;
    clinic_refer refer;
    char *refer_reason;
} clinic_answer;

/* The schema the model's answer must follow (with or without the image findings field). */
const jf_schema *clinic_schema(int with_image);

/* The user-turn text asking for the assessment of `symptoms` (an image is attached when
 * with_image; the caller places the image marker). Appends to out. */
void clinic_build_prompt(medge_buf *out, const char *symptoms, int with_image);

/* Parse the model's JSON answer. MEDGE_ERR_FORMAT when it is not valid JSON of the schema. */
medge_status clinic_parse_answer(const char *json, size_t len, clinic_answer *out);
void clinic_answer_free(clinic_answer *a);

typedef struct clinic_report {
    clinic_answer model;               /* what the model said */
    clinic_flag flags[CLINIC_MAX_FLAGS]; /* rule-based flags, most urgent first */
    int n_flags;
    clinic_urgency urgency;            /* final: max(model, rules) */
    clinic_refer refer;                /* final: raised to match the urgency */
    int raised_by_rules;               /* 1 when the rules raised the model's urgency */
} clinic_report;

/* Run the rules on the symptoms and merge with the model's answer (moved into the report). */
void clinic_report_make(clinic_report *r, const char *symptoms, clinic_answer *model);
void clinic_report_free(clinic_report *r);
/* The report as JSON (one object) or as text for a health worker. */
void clinic_report_json(const clinic_report *r, medge_buf *out);
void clinic_report_text(const clinic_report *r, medge_buf *out);
/* "rule_flags": [{id, urgency, evidence, advice}...] (a JSON member, no braces around it). */
void clinic_flags_json(medge_buf *out, const clinic_flag *flags, int n);

extern const char *const CLINIC_DISCLAIMER;
#endif
