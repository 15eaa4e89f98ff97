/* test-clinic.c - the JSON-schema automaton used for constrained decoding and the rule-based
 * red flags: accepted and rejected outputs, negation, vital-sign thresholds. */
#include "test.h"
#include "clinic/assess.h"
#include "clinic/redflags.h"
#include "runtime/jsonfsm.h"

static const char *const URG[] = {"routine", "soon", "urgent", "emergency"};
static const jf_field FIELDS[] = {
    {"urgency", JF_ENUM, URG, 4, 0, 0, 0},
    {"causes", JF_STRING_ARRAY, NULL, 0, 40, 1, 3},
    {"note", JF_STRING, NULL, 0, 20, 0, 0},
};
static const jf_schema SCHEMA = {FIELDS, 3};

static int accepts(const char *s)
{
    jf_state st;
    jf_init(&st, &SCHEMA);
    return jf_feed(&st, s, strlen(s)) && jf_done(&st);
}

static int prefix_ok(const char *s)
{
    jf_state st;
    jf_init(&st, &SCHEMA);
    return jf_feed(&st, s, strlen(s));
}

static void test_fsm(void)
{
    CHECK(accepts("{\"urgency\": \"urgent\", \"causes\": [\"pneumonia\", \"TB\"], \"note\": \"x\"}"));
    CHECK(accepts("{\n  \"urgency\":\"soon\",\n  \"causes\": [ \"a\" ],\n  \"note\": \"caf\xc3\xa9\"\n}"));
    CHECK(!accepts("{\"urgency\": \"urgen\", \"causes\": [\"a\"], \"note\": \"x\"}"));   /* not an option */
    CHECK(!accepts("{\"urgency\": \"urgent\", \"causes\": [], \"note\": \"x\"}"));       /* min 1 item */
    CHECK(!accepts("{\"urgency\": \"urgent\", \"causes\": [\"a\",\"b\",\"c\",\"d\"], \"note\": \"x\"}"));
    CHECK(!accepts("{\"urgency\": \"urgent\", \"causes\": [\"a\"], \"note\": \"123456789012345678901\"}")); /* max_len */
    CHECK(!accepts("{\"causes\": [\"a\"], \"urgency\": \"urgent\", \"note\": \"x\"}"));  /* order */
    CHECK(!accepts("{\"urgency\": \"urgent\", \"causes\": [\"a\"], \"note\": \"x\"},")); /* trailing */
    CHECK(!accepts("{\"urgency\": \"urgent\", \"causes\": [\"a\"], \"note\": \"\"}"));   /* empty string */
    CHECK(!prefix_ok("{\"urgency\": \"urgent\", \"causes\": [\"a\\"));                  /* no escapes */
    CHECK(!prefix_ok("{\"urgency\": \"urgent\", \"causes\": [\"\xc3\""));              /* broken UTF-8 */
    CHECK(!prefix_ok("{      \"urgency\""));                                          /* whitespace bound */
    CHECK(prefix_ok("{\"urgency\": \"emer"));
    jf_state st;
    jf_init(&st, &SCHEMA);
    CHECK(jf_feed(&st, "{\"urgency\": \"urgent\", \"causes\": [\"a\"], \"note\": \"x\"", 50));
    CHECK(!jf_done(&st));
}

static int has_flag(const char *text, const char *id, clinic_urgency *u)
{
    clinic_flag f[32];
    int n = clinic_redflags(text, strlen(text), f, 32);
    for (int i = 0; i < n && i < 32; i++)
        if (strcmp(f[i].id, id) == 0) {
            if (u)
                *u = f[i].urgency;
            return 1;
        }
    return 0;
}

static void test_redflags(void)
{
    clinic_urgency u;
    CHECK(has_flag("3 year old with fever and convulsions since morning", "convulsions", &u) && u == CLINIC_EMERGENCY);
    CHECK(!has_flag("3 year old with fever, no convulsions.", "convulsions", NULL));
    CHECK(!has_flag("Denies chest pain or shortness of breath", "cardiac_chest_pain", NULL));
    CHECK(has_flag("55 yo man, crushing chest pain radiating to the left arm, sweating", "cardiac_chest_pain", &u) && u == CLINIC_EMERGENCY);
    CHECK(!has_flag("55 yo man, crushing chest pain radiating to the left arm, sweating", "chest_pain", NULL));
    CHECK(has_flag("Chest pain when coughing", "chest_pain", &u) && u == CLINIC_URGENT);
    CHECK(has_flag("Cough for 3 weeks, night sweats and weight loss", "tb_suspect", &u) && u == CLINIC_SOON);
    CHECK(has_flag("28 weeks pregnant, severe headache and blurred vision", "pregnancy_danger", NULL));
    CHECK(has_flag("Child unable to drink, vomits everything", "child_danger_sign", NULL));
    CHECK(has_flag("SpO2 86% on room air", "low_oxygen", &u) && u == CLINIC_EMERGENCY);
    CHECK(has_flag("sats 92", "borderline_oxygen", &u) && u == CLINIC_URGENT);
    CHECK(!has_flag("SpO2 97%", "low_oxygen", NULL) && !has_flag("SpO2 97%", "borderline_oxygen", NULL));
    CHECK(has_flag("BP 82/50, pulse 128", "low_blood_pressure", NULL));
    CHECK(has_flag("blood pressure 190/125", "very_high_blood_pressure", NULL));
    CHECK(has_flag("Temp 40.6 C, headache", "very_high_fever", NULL));
    CHECK(has_flag("temperature 104.5 F", "very_high_fever", NULL));
    CHECK(has_flag("6 week old baby, temp 38.2", "fever_young_infant", &u) && u == CLINIC_EMERGENCY);
    CHECK(has_flag("2 year old, RR 52 breaths per minute", "fast_breathing", NULL));
    CHECK(!has_flag("30 year old, RR 18", "fast_breathing", NULL));
    CHECK(has_flag("glucose 2.1 mmol/L, confused", "hypoglycaemia", NULL));
    CHECK(has_flag("Stiff neck and fever for two days", "meningitis_signs", NULL));
    CHECK(!has_flag("Mild cough and runny nose for 2 days, eating well.", "tb_suspect", NULL));
    clinic_flag f[4];
    CHECK_EQ_INT(clinic_redflags("Mild cough and runny nose for 2 days, eating well.", 49, f, 4), 0);
    /* most urgent first, counts beyond max reported */
    const char *multi = "cough for 3 weeks with night sweats. now unconscious, SpO2 85";
    int n = clinic_redflags(multi, strlen(multi), f, 2);
    CHECK_EQ_INT(n, 3);
    CHECK(f[0].urgency == CLINIC_EMERGENCY && f[1].urgency == CLINIC_EMERGENCY);
    CHECK_EQ_INT(clinic_urgency_from_name("urgent"), CLINIC_URGENT);
    CHECK_EQ_INT(clinic_urgency_from_name("later"), -1);
    CHECK_EQ_INT(clinic_redflags("", 0, f, 4), 0);
}

static void test_report(void)
{
    /* a model answer that passes the automaton is parsed, and the rules raise its urgency */
    const char *ans = "{\"urgency\": \"soon\", \"likely_causes\": [\"pneumonia\"], \"red_flags\": [], "
                      "\"next_steps\": [\"count breathing rate\", \"give amoxicillin per protocol\"], \"refer\": \"routine\", "
                      "\"refer_reason\": \"if no improvement in 2 days\"}";
    jf_state st;
    jf_init(&st, clinic_schema(0));
    CHECK(jf_feed(&st, ans, strlen(ans)) && jf_done(&st));
    jf_init(&st, clinic_schema(1));
    CHECK(!jf_feed(&st, ans, strlen(ans))); /* the image schema wants image_findings second */
    clinic_answer a;
    CHECK_OK(clinic_parse_answer(ans, strlen(ans), &a));
    CHECK_EQ_INT(a.urgency, CLINIC_SOON);
    CHECK_EQ_INT(a.n_next_steps, 2);
    CHECK_STR(a.next_steps[1], "give amoxicillin per protocol");
    clinic_report r;
    clinic_report_make(&r, "4 year old, cough, chest indrawing, RR 48", &a);
    CHECK_EQ_INT(r.urgency, CLINIC_EMERGENCY);
    CHECK_EQ_INT(r.refer, CLINIC_REFER_NOW);
    CHECK(r.raised_by_rules);
    CHECK(r.n_flags >= 2);
    medge_buf b = {0};
    clinic_report_json(&r, &b);
    json_doc *d;
    CHECK_OK(json_parse(b.data, b.len, &d));
    if (d) {
        CHECK_STR(json_get_str(json_root(d), "urgency"), "emergency");
        CHECK_STR(json_get_str(json_get(json_root(d), "model"), "urgency"), "soon");
        CHECK(json_get_str(json_root(d), "disclaimer") != NULL);
        json_free(d);
    }
    b.len = 0;
    clinic_report_text(&r, &b);
    CHECK(strstr(b.data, "EMERGENCY") && strstr(b.data, "chest indrawing") && strstr(b.data, "not a diagnosis"));
    medge_buf_free(&b);
    clinic_report_free(&r);
    /* the rules never lower what the model said */
    const char *ans2 = "{\"urgency\": \"emergency\", \"likely_causes\": [\"x\"], \"red_flags\": [], \"next_steps\": [\"y\"], "
                       "\"refer\": \"immediately\", \"refer_reason\": \"z\"}";
    CHECK_OK(clinic_parse_answer(ans2, strlen(ans2), &a));
    clinic_report_make(&r, "mild rash", &a);
    CHECK_EQ_INT(r.urgency, CLINIC_EMERGENCY);
    CHECK(!r.raised_by_rules);
    clinic_report_free(&r);
    CHECK(clinic_parse_answer("{\"urgency\": \"later\"}", 20, &a) == MEDGE_ERR_FORMAT);
    CHECK(clinic_parse_answer("[1]", 3, &a) == MEDGE_ERR_FORMAT);
}

int main(void)
{
    test_fsm();
    test_redflags();
    test_report();
    TEST_END();
}
