/* test-assess.c - the clinical assessment run on the tiny reference model: whatever a (here
 * random-weight) model prefers, the constrained answer is complete JSON of the schema, the rules
 * raise the urgency, the run is deterministic and reuses nothing from a previous case. */
#include "test.h"
#include "clinic/pipeline.h"
#include "formats/gguf.h"

int main(void)
{
    const char *path = test_ref("gemma3-tiny/gguf/tiny-gemma3-Q8_0.gguf");
    medge_model *m = NULL;
    medge_session *s = NULL;
    spm_vocab *v = NULL;
    gguf_ctx *g = NULL;
    CHECK_OK(medge_model_load(path, medge_model_default_params(), &m));
    CHECK_OK(gguf_open(path, &g));
    if (!m || !g)
        TEST_END();
    CHECK_OK(spm_load_gguf(g, &v));
    gguf_close(g);
    medge_session_params sp = medge_session_default_params();
    sp.n_ctx = 2048;
    sp.n_threads = 2;
    CHECK_OK(medge_session_new(m, sp, &s));
    if (!s || !v)
        TEST_END();

    const char *cases[] = {"6 year old, fever for 2 days, stiff neck, vomiting. Temp 39.8",
                           "adult with mild sore throat for 1 day, eating and drinking well"};
    medge_buf first = {0};
    for (int rep = 0; rep < 2; rep++) {
        for (int c = 0; c < 2 - rep; c++) {
            clinic_report r;
            medge_buf raw = {0};
            clinic_run_params p = clinic_run_default_params();
            CHECK_OK(clinic_run(s, v, cases[c], p, &r, &raw));
            /* the raw answer is valid JSON of the schema */
            jf_state st;
            jf_init(&st, clinic_schema(0));
            CHECK(raw.len > 0 && jf_feed(&st, raw.data, raw.len) && jf_done(&st));
            json_doc *d = NULL;
            CHECK_OK(json_parse(raw.data, raw.len, &d));
            json_free(d);
            CHECK(r.urgency >= r.model.urgency);
            if (c == 0) {
                CHECK_EQ_INT(r.urgency, CLINIC_EMERGENCY); /* meningitis signs */
                CHECK_EQ_INT(r.refer, CLINIC_REFER_NOW);
                if (rep == 0)
                    medge_buf_append(&first, raw.data, raw.len);
                else
                    CHECK_MSG(raw.len == first.len && memcmp(raw.data, first.data, raw.len) == 0, "answers differ between runs");
            }
            clinic_report_free(&r);
            medge_buf_free(&raw);
        }
    }
    medge_buf_free(&first);

    /* errors: empty case, budget too small to finish, context too small */
    clinic_report r;
    CHECK(clinic_run(s, v, "", clinic_run_default_params(), &r, NULL) == MEDGE_ERR_INVALID_ARG);
    clinic_run_params tiny = clinic_run_default_params();
    tiny.max_tokens = 3;
    CHECK(clinic_run(s, v, cases[1], tiny, &r, NULL) == MEDGE_ERR_RANGE);
    clinic_run_params huge = clinic_run_default_params();
    huge.max_tokens = 4000;
    CHECK(clinic_run(s, v, cases[1], huge, &r, NULL) == MEDGE_ERR_CONTEXT_FULL);

    medge_session_free(s);
    spm_free(v);
    medge_model_free(m);
    TEST_END();
}
