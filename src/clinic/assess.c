/* assess.c - see assess.h. */
#include "clinic/assess.h"

#include <stdlib.h>
#include <string.h>

const char *const CLINIC_DISCLAIMER =
    "Decision support only, produced offline by an AI model and fixed rules: it can be wrong and is not a "
    "diagnosis. Use clinical judgement and local protocols; when in doubt, refer.";

static const char *const URGENCY_OPTIONS[] = {"routine", "soon", "urgent", "emergency"};
static const char *const REFER_OPTIONS[] = {"no", "routine", "urgent", "immediately"};

#define F_URGENCY {"urgency", JF_ENUM, URGENCY_OPTIONS, 4, 0, 0, 0}
#define F_CAUSES {"likely_causes", JF_STRING_ARRAY, NULL, 0, 120, 1, 4}
#define F_FLAGS {"red_flags", JF_STRING_ARRAY, NULL, 0, 160, 0, 5}
#define F_STEPS {"next_steps", JF_STRING_ARRAY, NULL, 0, 200, 1, 5}
#define F_REFER {"refer", JF_ENUM, REFER_OPTIONS, 4, 0, 0, 0}
#define F_REASON {"refer_reason", JF_STRING, NULL, 0, 240, 0, 0}

static const jf_field FIELDS_TEXT[] = {F_URGENCY, F_CAUSES, F_FLAGS, F_STEPS, F_REFER, F_REASON};
static const jf_field FIELDS_IMAGE[] = {
    F_URGENCY, {"image_findings", JF_STRING_ARRAY, NULL, 0, 200, 1, 4}, F_CAUSES, F_FLAGS, F_STEPS, F_REFER, F_REASON};
static const jf_schema SCHEMA_TEXT = {FIELDS_TEXT, 6};
static const jf_schema SCHEMA_IMAGE = {FIELDS_IMAGE, 7};

const jf_schema *clinic_schema(int with_image) { return with_image ? &SCHEMA_IMAGE : &SCHEMA_TEXT; }

const char *clinic_refer_name(clinic_refer r)
{
    return r >= CLINIC_REFER_NO && r <= CLINIC_REFER_NOW ? REFER_OPTIONS[r] : "unknown";
}

void clinic_build_prompt(medge_buf *out, const char *symptoms, int with_image)
{
    medge_buf_puts(out, "You are assisting a health worker in a clinic without a doctor on site. ");
    medge_buf_puts(out, with_image ? "Assess the attached image together with the case description below. "
                                   : "Assess the case description below. ");
    medge_buf_puts(out,
                   "Answer with one JSON object only, with these keys in this order: \"urgency\" (one of \"routine\", "
                   "\"soon\", \"urgent\", \"emergency\"), ");
    if (with_image)
        medge_buf_puts(out, "\"image_findings\" (1 to 4 short findings seen in the image), ");
    medge_buf_puts(out,
                   "\"likely_causes\" (1 to 4, most likely first), \"red_flags\" (0 to 5 danger signs present or to "
                   "check), \"next_steps\" (1 to 5 concrete actions possible in a basic clinic), \"refer\" (one of "
                   "\"no\", \"routine\", \"urgent\", \"immediately\") and \"refer_reason\". Be concise and safe; "
                   "if unsure, choose the more urgent option.\n\nCase: ");
    medge_buf_puts(out, symptoms);
}

static char *dup_str(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

static medge_status get_list(const json_value *root, const char *key, char **items, int *n, int required)
{
    const json_value *v = json_get(root, key);
    *n = 0;
    if (!v)
        return required ? medge_err(MEDGE_ERR_FORMAT, "answer has no \"%s\"", key) : MEDGE_OK;
    if (v->type != JSON_ARRAY)
        return medge_err(MEDGE_ERR_FORMAT, "answer's \"%s\" is not an array", key);
    for (size_t i = 0; i < v->len && *n < CLINIC_MAX_ITEMS; i++) {
        if (v->items[i].type != JSON_STRING)
            return medge_err(MEDGE_ERR_FORMAT, "answer's \"%s\" holds a non-string", key);
        if (!(items[*n] = dup_str(v->items[i].s, v->items[i].len)))
            return medge_err(MEDGE_ERR_NOMEM, "out of memory");
        (*n)++;
    }
    return MEDGE_OK;
}

static medge_status parse_into(const json_value *root, clinic_answer *a)
{
    if (root->type != JSON_OBJECT)
        return medge_err(MEDGE_ERR_FORMAT, "answer is not a JSON object");
    const char *u = json_get_str(root, "urgency");
    if (!u || clinic_urgency_from_name(u) < 0)
        return medge_err(MEDGE_ERR_FORMAT, "answer has no valid \"urgency\"");
    a->urgency = (clinic_urgency)clinic_urgency_from_name(u);
    MEDGE_TRY(get_list(root, "image_findings", a->findings, &a->n_findings, 0));
    MEDGE_TRY(get_list(root, "likely_causes", a->causes, &a->n_causes, 1));
    MEDGE_TRY(get_list(root, "red_flags", a->red_flags, &a->n_red_flags, 1));
    MEDGE_TRY(get_list(root, "next_steps", a->next_steps, &a->n_next_steps, 1));
    const char *r = json_get_str(root, "refer");
    a->refer = CLINIC_REFER_NO;
    int found = 0;
    for (int i = 0; r && i < 4; i++)
        if (strcmp(r, REFER_OPTIONS[i]) == 0) {
            a->refer = (clinic_refer)i;
            found = 1;
        }
    if (!found)
        return medge_err(MEDGE_ERR_FORMAT, "answer has no valid \"refer\"");
    const char *why = json_get_str(root, "refer_reason");
    if (!(a->refer_reason = dup_str(why ? why : "", why ? strlen(why) : 0)))
        return medge_err(MEDGE_ERR_NOMEM, "out of memory");
    return MEDGE_OK;
}

medge_status clinic_parse_answer(const char *json, size_t len, clinic_answer *out)
{
    memset(out, 0, sizeof *out);
    json_doc *d;
    MEDGE_TRY(json_parse(json, len, &d));
    medge_status rc = parse_into(json_root(d), out);
    json_free(d);
    if (rc != MEDGE_OK)
        clinic_answer_free(out);
    return rc;
}

static void free_list(char **items, int n)
{
    for (int i = 0; i < n; i++)
        free(items[i]);
}

void clinic_answer_free(clinic_answer *a)
{
    if (!a)
        return;
    free_list(a->findings, a->n_findings);
    free_list(a->causes, a->n_causes);
    free_list(a->red_flags, a->n_red_flags);
    free_list(a->next_steps, a->n_next_steps);
    free(a->refer_reason);
    memset(a, 0, sizeof *a);
}

void clinic_report_make(clinic_report *r, const char *symptoms, clinic_answer *model)
{
    memset(r, 0, sizeof *r);
    r->model = *model;
    memset(model, 0, sizeof *model);
    int n = clinic_redflags(symptoms, strlen(symptoms), r->flags, CLINIC_MAX_FLAGS);
    r->n_flags = n < CLINIC_MAX_FLAGS ? n : CLINIC_MAX_FLAGS;
    r->urgency = r->model.urgency;
    for (int i = 0; i < r->n_flags; i++)
        if (r->flags[i].urgency > r->urgency) {
            r->urgency = r->flags[i].urgency;
            r->raised_by_rules = 1;
        }
    /* the referral follows the final urgency: an emergency is always referred immediately */
    static const clinic_refer min_refer[] = {CLINIC_REFER_NO, CLINIC_REFER_NO, CLINIC_REFER_URGENT, CLINIC_REFER_NOW};
    r->refer = r->model.refer > min_refer[r->urgency] ? r->model.refer : min_refer[r->urgency];
}

void clinic_report_free(clinic_report *r)
{
    if (r)
        clinic_answer_free(&r->model);
}

void clinic_flags_json(medge_buf *b, const clinic_flag *flags, int n)
{
    medge_buf_puts(b, "\"rule_flags\": [");
    for (int i = 0; i < n; i++) {
        const clinic_flag *f = &flags[i];
        medge_buf_printf(b, "%s{\"id\": \"%s\", \"urgency\": \"%s\", \"evidence\": ", i ? ", " : "", f->id,
                         clinic_urgency_name(f->urgency));
        medge_buf_json_str(b, f->evidence, strlen(f->evidence));
        medge_buf_puts(b, ", \"advice\": ");
        medge_buf_json_str(b, f->message, strlen(f->message));
        medge_buf_puts(b, "}");
    }
    medge_buf_puts(b, "]");
}

static void json_list(medge_buf *b, const char *key, char *const *items, int n)
{
    medge_buf_printf(b, "\"%s\": [", key);
    for (int i = 0; i < n; i++) {
        if (i)
            medge_buf_puts(b, ", ");
        medge_buf_json_str(b, items[i], strlen(items[i]));
    }
    medge_buf_puts(b, "]");
}

void clinic_report_json(const clinic_report *r, medge_buf *b)
{
    const clinic_answer *m = &r->model;
    medge_buf_printf(b, "{\"urgency\": \"%s\", \"refer\": \"%s\", \"raised_by_rules\": %s, ", clinic_urgency_name(r->urgency),
                     clinic_refer_name(r->refer), r->raised_by_rules ? "true" : "false");
    clinic_flags_json(b, r->flags, r->n_flags);
    medge_buf_printf(b, ", \"model\": {\"urgency\": \"%s\", ", clinic_urgency_name(m->urgency));
    if (m->n_findings) {
        json_list(b, "image_findings", m->findings, m->n_findings);
        medge_buf_puts(b, ", ");
    }
    json_list(b, "likely_causes", m->causes, m->n_causes);
    medge_buf_puts(b, ", ");
    json_list(b, "red_flags", m->red_flags, m->n_red_flags);
    medge_buf_puts(b, ", ");
    json_list(b, "next_steps", m->next_steps, m->n_next_steps);
    medge_buf_printf(b, ", \"refer\": \"%s\", \"refer_reason\": ", clinic_refer_name(m->refer));
    medge_buf_json_str(b, m->refer_reason ? m->refer_reason : "", m->refer_reason ? strlen(m->refer_reason) : 0);
    medge_buf_puts(b, "}, \"disclaimer\": ");
    medge_buf_json_str(b, CLINIC_DISCLAIMER, strlen(CLINIC_DISCLAIMER));
    medge_buf_puts(b, "}");
}

static void text_list(medge_buf *b, const char *title, char *const *items, int n)
{
    if (!n)
        return;
    medge_buf_printf(b, "%s:\n", title);
    for (int i = 0; i < n; i++)
        medge_buf_printf(b, "  - %s\n", items[i]);
}

void clinic_report_text(const clinic_report *r, medge_buf *b)
{
    const clinic_answer *m = &r->model;
    static const char *const upper[] = {"ROUTINE", "SOON (within days)", "URGENT (same day)", "EMERGENCY (now)"};
    medge_buf_printf(b, "URGENCY: %s%s\n", upper[r->urgency], r->raised_by_rules ? "  [raised by danger-sign rules]" : "");
    medge_buf_printf(b, "REFER: %s", clinic_refer_name(r->refer));
    if (m->refer_reason && m->refer_reason[0])
        medge_buf_printf(b, " - %s", m->refer_reason);
    medge_buf_puts(b, "\n");
    if (r->n_flags) {
        medge_buf_puts(b, "Danger signs found by the rules:\n");
        for (int i = 0; i < r->n_flags; i++)
            medge_buf_printf(b, "  ! [%s] \"%s\": %s\n", clinic_urgency_name(r->flags[i].urgency), r->flags[i].evidence,
                             r->flags[i].message);
    }
    text_list(b, "Image findings", m->findings, m->n_findings);
    text_list(b, "Likely causes", m->causes, m->n_causes);
    text_list(b, "Red flags to check (model)", m->red_flags, m->n_red_flags);
    text_list(b, "Next steps", m->next_steps, m->n_next_steps);
    medge_buf_printf(b, "\n%s\n", CLINIC_DISCLAIMER);
}
