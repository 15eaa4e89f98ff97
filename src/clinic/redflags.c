/* redflags.c - see redflags.h. The text is split into lowercase words (ASCII letters/digits and
 * any non-ASCII byte) with sentence boundaries; a rule is a list of groups that must all match,
 * a group is a '|' list of phrases, a phrase is words where a trailing '*' matches any word
 * ending. A match preceded within four words of its sentence by a negation ("no", "denies",
 * "without", ...) does not count. Vital signs are read from number patterns after labels. */
#include "clinic/redflags.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct rule {
    const char *id;
    clinic_urgency urgency;
    const char *message;
    const char *groups[3]; /* all non-NULL groups must match */
} rule;

static const rule RULES[] = {
    {"not_breathing", CLINIC_EMERGENCY, "Severe breathing difficulty: secure the airway and breathing, give oxygen if available, refer immediately.",
     {"not breathing|stopped breathing|cannot breathe|can't breathe|cant breathe|gasping|struggling to breathe|severe difficulty breathing|"
      "severe shortness of breath|chest indrawing|blue lips|cyanosis|cyanotic|stridor|grunting"}},
    {"unconscious", CLINIC_EMERGENCY, "Reduced consciousness: check airway, breathing, circulation and glucose; refer immediately.",
     {"unconscious|unresponsive|not responding|coma|comatose|cannot be woken|can't be woken|hard to wake|difficult to wake|lethargic|"
      "floppy|collapsed|loss of consciousness|lost consciousness|passed out"}},
    {"convulsions", CLINIC_EMERGENCY, "Convulsions: protect from injury, check glucose, give first-line treatment per protocol, refer immediately.",
     {"convuls*|seizure*|fitting|having fits|had fits|had a fit"}},
    {"cardiac_chest_pain", CLINIC_EMERGENCY, "Chest pain with warning features (possible heart attack): aspirin if not contraindicated and per protocol, refer immediately.",
     {"chest pain|chest pressure|chest tightness|crushing chest|pain in the chest|pain in chest",
      "sweat*|short of breath|shortness of breath|breathless*|radiat*|left arm|jaw|nausea|vomit*|faint*|clammy"}},
    {"stroke_signs", CLINIC_EMERGENCY, "Possible stroke (face, arm, speech): note the time symptoms began and refer immediately.",
     {"face droop*|facial droop*|drooping face|slurred speech|slurring|cannot speak|can't speak|weakness on one side|one sided weakness|"
      "one-sided weakness|sudden weakness|sudden numbness|hemiplegia|paralysis|paralysed|paralyzed"}},
    {"meningitis_signs", CLINIC_EMERGENCY, "Stiff neck with fever or headache (possible meningitis): give first dose of antibiotics per protocol and refer immediately.",
     {"stiff neck|neck stiffness|neck is stiff|neck stiff|bulging fontanelle", "fever|febrile|headache|rash|confus*|vomit*|temperature"}},
    {"severe_bleeding", CLINIC_EMERGENCY, "Severe bleeding: apply pressure, start IV fluids if trained, refer immediately.",
     {"severe bleeding|heavy bleeding|bleeding heavily|uncontrolled bleeding|haemorrhage|hemorrhage|vomiting blood|vomited blood|"
      "blood in vomit|black stool*|tarry stool*|melaena|melena"}},
    {"pregnancy_danger", CLINIC_EMERGENCY, "Danger sign in pregnancy or after delivery: refer immediately to a facility with obstetric care.",
     {"pregnan*|weeks pregnant|antenatal|postpartum|post-partum|after delivery|gave birth|delivered",
      "bleeding|severe headache|blurred vision|convuls*|seizure*|fits|severe abdominal pain|water broke|waters broke|"
      "reduced fetal movement*|baby not moving|baby stopped moving|swollen face|swelling of the face|fever"}},
    {"child_danger_sign", CLINIC_EMERGENCY, "General danger sign in a child (cannot drink or breastfeed, vomits everything): refer urgently after pre-referral treatment.",
     {"unable to drink|not able to drink|cannot drink|can't drink|unable to breastfeed|not able to breastfeed|cannot breastfeed|"
      "not breastfeeding|stopped breastfeeding|vomits everything|vomiting everything"}},
    {"shock_signs", CLINIC_EMERGENCY, "Signs of shock or severe dehydration: start fluids per protocol and refer immediately.",
     {"cold hands|cold clammy|cold and clammy|weak pulse|thready pulse|capillary refill|sunken eyes|skin pinch goes back very slowly|"
      "no urine|not passing urine"}},
    {"anaphylaxis", CLINIC_EMERGENCY, "Possible anaphylaxis: give intramuscular adrenaline per protocol and refer immediately.",
     {"anaphyla*|throat swelling|swelling of the throat|tongue swelling|swollen tongue|swollen throat|throat closing"}},
    {"poisoning", CLINIC_EMERGENCY, "Poisoning, overdose or envenoming: identify the substance or snake if safe, refer immediately.",
     {"snake bite|snakebite|bitten by a snake|poisoned|poisoning|overdose|swallowed pills|took pills|pesticide|organophosphate|"
      "paraffin|kerosene|bleach"}},
    {"suicide_risk", CLINIC_EMERGENCY, "Risk of suicide or self-harm: do not leave the person alone, remove means, refer for urgent mental health care.",
     {"suicid*|kill myself|kill himself|kill herself|end my life|end his life|end her life|self harm|self-harm|wants to die|want to die"}},
    {"thunderclap_headache", CLINIC_EMERGENCY, "Sudden worst-ever headache: refer immediately.",
     {"worst headache|thunderclap|sudden severe headache"}},
    {"sudden_vision_loss", CLINIC_EMERGENCY, "Sudden loss of vision: refer immediately.",
     {"sudden vision loss|sudden loss of vision|suddenly lost vision|suddenly blind|sudden blindness"}},
    {"sick_newborn", CLINIC_EMERGENCY, "Sick young infant (fever, low temperature, poor feeding or jaundice): refer immediately.",
     {"newborn|neonate|neonatal|days old|day old|week old|weeks old|one month old|1 month old",
      "fever|febrile|hot to touch|cold to touch|hypotherm*|not feeding|poor feeding|feeding poorly|jaundice*|yellow"}},
    {"head_injury", CLINIC_URGENT, "Head injury: watch for vomiting, drowsiness or confusion; refer the same day.",
     {"head injury|head trauma|hit his head|hit her head|hit their head|hit my head|fell on his head|fell on her head"}},
    {"trauma", CLINIC_URGENT, "Significant injury: stabilise, control bleeding, immobilise, refer the same day.",
     {"open fracture|bone sticking out|gunshot|stab wound|stabbed|hit by a car|road traffic accident|motorcycle accident|"
      "fell from height|burns|burned|burnt|scald*"}},
    {"chest_pain", CLINIC_URGENT, "Chest pain: needs a same-day clinical assessment (ECG if available).",
     {"chest pain|chest pressure|chest tightness|pain in the chest|pain in chest"}},
    {"coughing_blood", CLINIC_URGENT, "Coughing blood: same-day assessment; test for tuberculosis.",
     {"coughing blood|coughing up blood|coughs up blood|haemoptysis|hemoptysis|blood in sputum|blood-stained sputum"}},
    {"acute_abdomen", CLINIC_URGENT, "Severe abdominal pain or a rigid abdomen: same-day surgical assessment.",
     {"severe abdominal pain|severe stomach pain|severe belly pain|rigid abdomen|abdomen is rigid|board-like|rebound tenderness|guarding"}},
    {"severe_malnutrition", CLINIC_URGENT, "Signs of severe acute malnutrition: refer for therapeutic feeding the same day.",
     {"severe wasting|visible severe wasting|oedema of both feet|edema of both feet|swelling of both feet|muac"}},
    {"tb_suspect", CLINIC_SOON, "Symptoms suggest tuberculosis: collect sputum for testing and refer within days.",
     {"cough*", "night sweat*|weight loss|losing weight|lost weight|for 2 weeks|for two weeks|for 3 weeks|for three weeks|"
      "for a month|for months|for weeks"}},
    {"jaundice", CLINIC_SOON, "Jaundice: needs clinical assessment within days (the same day if also fever, confusion or bleeding).",
     {"jaundice*|yellow eyes|yellow skin|yellowing"}},
};

/* ---- words ---- */

typedef struct word {
    const char *s; /* lowercase copy */
    int len;
    int sentence;  /* index of the sentence */
    size_t src;    /* offset in the original text */
} word;

typedef struct words {
    word *w;
    int n;
    char *buf;
} words;

static int is_word_byte(unsigned char c) { return isalnum(c) || c >= 0x80 || c == '\''; }

static int split_words(const char *text, size_t len, words *out)
{
    out->w = malloc((len / 2 + 2) * sizeof *out->w);
    out->buf = malloc(len + 1);
    out->n = 0;
    if (!out->w || !out->buf)
        return 0;
    int sentence = 0;
    size_t k = 0;
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)text[i];
        if (!is_word_byte(c)) {
            if (c == '.' || c == ';' || c == '!' || c == '?' || c == '\n') {
                /* a decimal point inside a number is not a boundary */
                if (!(c == '.' && i > 0 && i + 1 < len && isdigit((unsigned char)text[i - 1]) && isdigit((unsigned char)text[i + 1])))
                    sentence++;
            }
            i++;
            continue;
        }
        size_t j = i;
        while (j < len && (is_word_byte((unsigned char)text[j]) ||
                           (text[j] == '.' && j > i && j + 1 < len && isdigit((unsigned char)text[j - 1]) && isdigit((unsigned char)text[j + 1]))))
            j++;
        word *w = &out->w[out->n++];
        w->s = out->buf + k;
        w->len = (int)(j - i);
        w->sentence = sentence;
        w->src = i;
        for (size_t q = i; q < j; q++)
            out->buf[k++] = (char)tolower((unsigned char)text[q]);
        out->buf[k++] = 0;
        i = j;
    }
    return 1;
}

static int word_eq(const word *w, const char *p, int plen)
{
    if (plen > 0 && p[plen - 1] == '*')
        return w->len >= plen - 1 && memcmp(w->s, p, (size_t)(plen - 1)) == 0;
    return w->len == plen && memcmp(w->s, p, (size_t)plen) == 0;
}

static const char *const NEGATIONS[] = {"no", "not", "denies", "denied", "without", "absent", "negative", "never", "nil", "none"};

static int negated(const words *ws, int at)
{
    for (int k = at - 1; k >= 0 && k >= at - 4; k--) {
        if (ws->w[k].sentence != ws->w[at].sentence)
            break;
        if (ws->w[k].len == 3 && memcmp(ws->w[k].s, "but", 3) == 0)
            break;
        for (size_t q = 0; q < sizeof NEGATIONS / sizeof NEGATIONS[0]; q++)
            if ((size_t)ws->w[k].len == strlen(NEGATIONS[q]) && memcmp(ws->w[k].s, NEGATIONS[q], (size_t)ws->w[k].len) == 0)
                return 1;
    }
    return 0;
}

/* Phrase p (words separated by single spaces, hyphens split like the text) at word index at. */
static int phrase_at(const words *ws, int at, const char *p, int plen)
{
    int i = at;
    const char *q = p, *end = p + plen;
    while (q < end) {
        while (q < end && !is_word_byte((unsigned char)*q) && *q != '*')
            q++;
        if (q >= end)
            break;
        const char *e = q;
        while (e < end && (is_word_byte((unsigned char)*e) || *e == '*'))
            e++;
        if (i >= ws->n || !word_eq(&ws->w[i], q, (int)(e - q)))
            return 0;
        i++;
        q = e;
    }
    return i - at; /* words matched */
}

/* Find an un-negated match of any phrase of group g; returns the first word index or -1. */
static int group_match(const words *ws, const char *g, int *n_words)
{
    for (int at = 0; at < ws->n; at++) {
        const char *p = g;
        while (*p) {
            const char *bar = strchr(p, '|');
            int plen = bar ? (int)(bar - p) : (int)strlen(p);
            int m = phrase_at(ws, at, p, plen);
            if (m > 0 && !negated(ws, at)) {
                *n_words = m;
                return at;
            }
            p += plen + (bar ? 1 : 0);
        }
    }
    return -1;
}

static void evidence(const char *text, size_t len, const words *ws, int at, int n, char *out, size_t cap)
{
    size_t b = ws->w[at].src;
    size_t e = ws->w[at + n - 1].src + (size_t)ws->w[at + n - 1].len;
    if (e > len)
        e = len;
    size_t k = e - b < cap - 1 ? e - b : cap - 1;
    memcpy(out, text + b, k);
    out[k] = 0;
}

/* ---- vital signs ---- */

typedef struct flag_list {
    clinic_flag *out;
    int max, n;
} flag_list;

static void add_flag(flag_list *fl, const char *id, clinic_urgency u, const char *message, const char *ev)
{
    for (int i = 0; i < fl->n && i < fl->max; i++)
        if (strcmp(fl->out[i].id, id) == 0)
            return;
    if (fl->n < fl->max) {
        clinic_flag *f = &fl->out[fl->n];
        f->id = id;
        f->urgency = u;
        f->message = message;
        snprintf(f->evidence, sizeof f->evidence, "%s", ev);
    }
    fl->n++;
}

/* The number that follows word index at (within the next 3 words), or -1 when none. */
static int number_after(const words *ws, int at, double *v, double *v2)
{
    for (int k = at + 1; k < ws->n && k <= at + 3; k++) {
        if (ws->w[k].sentence != ws->w[at].sentence)
            return -1;
        if (isdigit((unsigned char)ws->w[k].s[0])) {
            *v = strtod(ws->w[k].s, NULL);
            *v2 = -1;
            /* "120/80": the second number is the next word when the text had a slash */
            if (k + 1 < ws->n && ws->w[k + 1].sentence == ws->w[k].sentence && isdigit((unsigned char)ws->w[k + 1].s[0]))
                *v2 = strtod(ws->w[k + 1].s, NULL);
            return k;
        }
    }
    return -1;
}

static int word_is(const word *w, const char *s) { return (size_t)w->len == strlen(s) && memcmp(w->s, s, (size_t)w->len) == 0; }

static int word_in(const word *w, const char *list)
{
    const char *p = list;
    while (*p) {
        const char *bar = strchr(p, '|');
        int n = bar ? (int)(bar - p) : (int)strlen(p);
        if (w->len == n && memcmp(w->s, p, (size_t)n) == 0)
            return 1;
        p += n + (bar ? 1 : 0);
    }
    return 0;
}

/* Age in months from "<n> year(s)/month(s)/week(s)/day(s) old" patterns; -1 when absent. */
static double age_months(const words *ws)
{
    for (int i = 0; i + 1 < ws->n; i++) {
        if (!isdigit((unsigned char)ws->w[i].s[0]))
            continue;
        double n = strtod(ws->w[i].s, NULL);
        const word *u = &ws->w[i + 1];
        if (word_in(u, "year|years|yr|yrs|yo|y"))
            return n * 12;
        if (word_in(u, "month|months|mo|mos"))
            return n;
        if (word_in(u, "week|weeks|wk|wks"))
            return n / 4.345;
        if (word_in(u, "day|days") && i + 2 < ws->n && word_is(&ws->w[i + 2], "old"))
            return n / 30.4;
    }
    return -1;
}

static void vitals(const char *text, size_t len, const words *ws, flag_list *fl)
{
    double age = age_months(ws);
    char ev[96];
    for (int i = 0; i < ws->n; i++) {
        const word *w = &ws->w[i];
        double v, v2;
        int k;
        if (word_in(w, "spo2|sao2|sats|sat|saturation|saturating|oximetry") && (k = number_after(ws, i, &v, &v2)) >= 0 && v <= 100) {
            evidence(text, len, ws, i, k - i + 1, ev, sizeof ev);
            if (v < 90)
                add_flag(fl, "low_oxygen", CLINIC_EMERGENCY, "Oxygen saturation below 90%: give oxygen if available and refer immediately.", ev);
            else if (v < 94)
                add_flag(fl, "borderline_oxygen", CLINIC_URGENT, "Oxygen saturation 90-93%: same-day assessment.", ev);
        } else if (word_in(w, "temp|temperature|t") && (k = number_after(ws, i, &v, &v2)) >= 0) {
            double c = v > 50 ? (v - 32) / 1.8 : v; /* Fahrenheit when above 50 */
            if (c < 25 || c > 45)
                continue;
            evidence(text, len, ws, i, k - i + 1, ev, sizeof ev);
            if (c < 35.0)
                add_flag(fl, "hypothermia", CLINIC_EMERGENCY, "Temperature below 35 C: warm the patient and refer immediately.", ev);
            else if (c >= 37.5 && age >= 0 && age < 2)
                add_flag(fl, "fever_young_infant", CLINIC_EMERGENCY, "Fever in an infant under 2 months: refer immediately.", ev);
            else if (c >= 40.0)
                add_flag(fl, "very_high_fever", CLINIC_URGENT, "Temperature 40 C or more: cool, treat per protocol, same-day assessment (test for malaria where endemic).", ev);
        } else if (word_in(w, "bp") || (word_is(w, "blood") && i + 1 < ws->n && word_is(&ws->w[i + 1], "pressure"))) {
            if ((k = number_after(ws, word_is(w, "blood") ? i + 1 : i, &v, &v2)) < 0)
                continue;
            evidence(text, len, ws, i, k - i + 1 + (v2 >= 0), ev, sizeof ev);
            if (v < 90 && v >= 30)
                add_flag(fl, "low_blood_pressure", CLINIC_EMERGENCY, "Systolic blood pressure below 90: treat for shock per protocol and refer immediately.", ev);
            else if (v >= 180 || v2 >= 120)
                add_flag(fl, "very_high_blood_pressure", CLINIC_URGENT, "Blood pressure 180/120 or higher: same-day assessment.", ev);
            else if (v >= 140 || v2 >= 90)
                add_flag(fl, "high_blood_pressure", CLINIC_SOON, "Raised blood pressure: recheck; in pregnancy this is urgent (pre-eclampsia).", ev);
        } else if (word_in(w, "rr|respiratory|resp|breaths|breathing") && (k = number_after(ws, word_in(w, "respiratory|resp") ? i + 1 : i, &v, &v2)) >= 0) {
            if (v < 4 || v > 150)
                continue;
            evidence(text, len, ws, i, k - i + 1, ev, sizeof ev);
            double fast = age < 0 ? 30 : age < 2 ? 60 : age < 12 ? 50 : age < 60 ? 40 : 30;
            if (v >= fast)
                add_flag(fl, "fast_breathing", age >= 0 && age < 60 ? CLINIC_URGENT : CLINIC_EMERGENCY,
                         "Fast breathing for the age: assess for pneumonia; same-day treatment or referral.", ev);
        } else if (word_in(w, "hr|pulse|heart") && (k = number_after(ws, word_is(w, "heart") ? i + 1 : i, &v, &v2)) >= 0) {
            if (v < 10 || v > 300)
                continue;
            evidence(text, len, ws, i, k - i + 1, ev, sizeof ev);
            if (v < 40)
                add_flag(fl, "very_slow_pulse", CLINIC_EMERGENCY, "Pulse below 40: refer immediately.", ev);
            else if ((age < 0 || age >= 144) && v >= 130)
                add_flag(fl, "fast_pulse", CLINIC_URGENT, "Pulse 130 or more: same-day assessment.", ev);
        } else if (word_in(w, "glucose|sugar|rbs|fbs|bgl|glycaemia|glycemia") && (k = number_after(ws, i, &v, &v2)) >= 0) {
            double mmol = v > 35 ? v / 18.0 : v; /* mg/dL when above 35 */
            evidence(text, len, ws, i, k - i + 1, ev, sizeof ev);
            if (mmol < 3.0)
                add_flag(fl, "hypoglycaemia", CLINIC_EMERGENCY, "Low blood glucose: give glucose per protocol now.", ev);
            else if (mmol > 20.0)
                add_flag(fl, "hyperglycaemia", CLINIC_URGENT, "Very high blood glucose: same-day assessment (check for ketoacidosis).", ev);
        }
    }
}

const char *clinic_urgency_name(clinic_urgency u)
{
    switch (u) {
    case CLINIC_ROUTINE: return "routine";
    case CLINIC_SOON: return "soon";
    case CLINIC_URGENT: return "urgent";
    case CLINIC_EMERGENCY: return "emergency";
    }
    return "unknown";
}

int clinic_urgency_from_name(const char *name)
{
    for (int u = CLINIC_ROUTINE; u <= CLINIC_EMERGENCY; u++)
        if (strcmp(name, clinic_urgency_name((clinic_urgency)u)) == 0)
            return u;
    return -1;
}

static int by_urgency(const void *a, const void *b)
{
    const clinic_flag *x = a, *y = b;
    if (x->urgency != y->urgency)
        return (int)y->urgency - (int)x->urgency;
    return strcmp(x->id, y->id);
}

#define MAX_FLAGS 64

int clinic_redflags(const char *text, size_t len, clinic_flag *out, int max)
{
    words ws = {0};
    if (!text || !split_words(text, len, &ws)) {
        free(ws.w);
        free(ws.buf);
        return 0;
    }
    clinic_flag all[MAX_FLAGS];
    flag_list fl = {all, MAX_FLAGS, 0};
    for (size_t r = 0; r < sizeof RULES / sizeof RULES[0]; r++) {
        const rule *ru = &RULES[r];
        int first = -1, first_n = 0, ok = 1;
        for (int g = 0; g < 3 && ru->groups[g]; g++) {
            int n, at = group_match(&ws, ru->groups[g], &n);
            if (at < 0) {
                ok = 0;
                break;
            }
            if (first < 0) {
                first = at;
                first_n = n;
            }
        }
        if (!ok)
            continue;
        /* a more specific emergency rule makes its urgent twin redundant */
        if (strcmp(ru->id, "chest_pain") == 0) {
            int dup = 0;
            for (int i = 0; i < fl.n && i < MAX_FLAGS; i++)
                dup |= strcmp(all[i].id, "cardiac_chest_pain") == 0;
            if (dup)
                continue;
        }
        char ev[96];
        evidence(text, len, &ws, first, first_n, ev, sizeof ev);
        add_flag(&fl, ru->id, ru->urgency, ru->message, ev);
    }
    vitals(text, len, &ws, &fl);
    int n = fl.n < MAX_FLAGS ? fl.n : MAX_FLAGS;
    qsort(all, (size_t)n, sizeof *all, by_urgency);
    if (out && max > 0)
        memcpy(out, all, (size_t)(n < max ? n : max) * sizeof *out);
    free(ws.w);
    free(ws.buf);
    return fl.n;
}
