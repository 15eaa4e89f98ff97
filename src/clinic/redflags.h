/* redflags.h - rule-based danger signs in a free-text case description, independent of any
 * model: keyword rules (WHO IMCI / ETAT-style danger signs, FAST stroke signs, obstetric danger
 * signs, ...) with simple negation handling, and vital-sign thresholds parsed from the text
 * ("SpO2 88%", "temp 40.2", "BP 85/50", "RR 42", "pulse 140", "glucose 2.1 mmol/L", ages).
 * The assessment pipeline uses them to raise (never lower) the urgency a model proposes. They
 * are a safety net, not a diagnosis: a missed keyword is possible, so absence of flags means
 * nothing. */
#ifndef MEDGE_CLINIC_REDFLAGS_H
#define MEDGE_CLINIC_REDFLAGS_H
#include <stddef.h>

typedef enum clinic_urgency {
    CLINIC_ROUTINE = 0,   /* can be handled at a routine visit */
    CLINIC_SOON = 1,      /* see a clinician within days */
    CLINIC_URGENT = 2,    /* same day */
    CLINIC_EMERGENCY = 3  /* now: stabilise and refer immediately */
} clinic_urgency;

const char *clinic_urgency_name(clinic_urgency u); /* "routine", "soon", "urgent", "emergency" */
/* -1 if the name is not one of the four. */
int clinic_urgency_from_name(const char *name);

typedef struct clinic_flag {
    const char *id;          /* stable rule id, e.g. "convulsions" */
    const char *message;     /* what the health worker should know (static English text) */
    clinic_urgency urgency;
    char evidence[96];       /* the words of the text that triggered the rule */
} clinic_flag;

/* Scan text (UTF-8; matching is ASCII case-insensitive, English terms) and write up to max flags,
 * most urgent first. Returns the number of flags found (may exceed max: only max are written). */
int clinic_redflags(const char *text, size_t len, clinic_flag *out, int max);
#endif
