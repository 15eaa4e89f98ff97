/* test-mcq.c - multiple-choice sets: the MedQA, MedMCQA and PubMedQA layouts are read into the
 * same items (options in order, 0-based answer), the prompt text is as documented, unusable lines
 * fail with a message naming the line, and the accuracy interval (Wilson) and the paired
 * difference match values computed by hand (Python). */
#include "test.h"
#include "runtime/mcq.h"

static mcq_set *parse(const char *text, medge_status want, const char *msg)
{
    mcq_set *s = NULL;
    medge_status rc = mcq_parse(text, strlen(text), "t.jsonl", &s);
    CHECK_MSG(rc == want, "status %d, want %d: %s", (int)rc, (int)want, medge_errmsg(NULL));
    if (msg)
        CHECK_MSG(strstr(medge_errmsg(NULL), msg) != NULL, "message \"%s\" lacks \"%s\"", medge_errmsg(NULL), msg);
    return s;
}

int main(void)
{
    const char *good =
        "{\"id\": \"q1\", \"question\": \"Q one?\", \"options\": {\"A\": \"alpha\", \"B\": \"beta\", \"C\": \"gamma\"}, \"answer_idx\": \"C\"}\n"
        "\n"
        "{\"question\": \"Q two?\", \"options\": [\"x\", \"y\"], \"answer\": 1}\r\n"
        "{\"question\": \"Q three?\", \"options\": {\"A\": \"red\", \"B\": \"blue\"}, \"answer\": \"red\"}\n"
        "{\"id\": 7, \"question\": \"Q four?\", \"opa\": \"a1\", \"opb\": \"b1\", \"opc\": \"c1\", \"opd\": \"d1\", \"cop\": 3}\n"
        "{\"QUESTION\": \"Q five?\", \"CONTEXTS\": [\"ctx one\", \"ctx two\"], \"final_decision\": \"maybe\"}\n"
        "   {\"question\": \"Q six?\", \"options\": {\"A\": \"p\", \"B\": \"q\"}, \"answer\": \"(b)\"}   \n";
    mcq_set *s = parse(good, MEDGE_OK, NULL);
    CHECK(s != NULL);
    if (s) {
        CHECK_EQ_INT(s->n, 6);
        CHECK_STR(s->items[0].id, "q1");
        CHECK_EQ_INT(s->items[0].n_options, 3);
        CHECK_STR(s->items[0].options[2], "gamma");
        CHECK_EQ_INT(s->items[0].answer, 2);
        CHECK_EQ_INT(s->items[1].answer, 1);
        CHECK_STR(s->items[1].id, "line 3");
        CHECK_EQ_INT(s->items[1].line, 3);
        CHECK_EQ_INT(s->items[2].answer, 0);
        CHECK_STR(s->items[3].id, "7");
        CHECK_EQ_INT(s->items[3].n_options, 4);
        CHECK_EQ_INT(s->items[3].answer, 3);
        CHECK_EQ_INT(s->items[4].n_options, 3);
        CHECK_STR(s->items[4].options[1], "no");
        CHECK_EQ_INT(s->items[4].answer, 2);
        CHECK_STR(s->items[4].context, "ctx one\n\nctx two");
        CHECK_EQ_INT(s->items[5].answer, 1);
        char *u = mcq_user_text(&s->items[0]);
        CHECK_STR(u, "Q one?\n\nA. alpha\nB. beta\nC. gamma\n\nAnswer with the letter of the correct option only.");
        free(u);
        u = mcq_user_text(&s->items[4]);
        CHECK(u && strncmp(u, "ctx one\n\nctx two\n\nQ five?\n\nA. yes\nB. no\nC. maybe\n", 46) == 0);
        free(u);
        CHECK_STR(mcq_letter(3), "D");
    }
    mcq_free(s);

    /* Unusable lines: each names its line. */
    mcq_free(parse("{\"question\": \"q\", \"options\": {\"A\": \"a\", \"B\": \"b\"}}\n", MEDGE_ERR_FORMAT,
                   "t.jsonl line 1: no answer"));
    mcq_free(parse("\n\n{\"question\": \"q\", \"options\": [\"a\", \"b\"], \"answer\": 2}\n", MEDGE_ERR_FORMAT,
                   "t.jsonl line 3: answer 2 is not an option index"));
    mcq_free(parse("{\"question\": \"q\", \"options\": [\"a\", \"b\"], \"answer\": \"zebra\"}\n", MEDGE_ERR_FORMAT,
                   "neither an option letter nor an option's text"));
    mcq_free(parse("{\"question\": \"q\", \"options\": {\"A\": \"a\", \"C\": \"b\"}, \"answer\": \"A\"}\n", MEDGE_ERR_FORMAT,
                   "keyed A, B, C"));
    mcq_free(parse("{\"question\": \"q\", \"options\": [\"a\"], \"answer\": 0}\n", MEDGE_ERR_FORMAT, "1 options"));
    mcq_free(parse("{\"options\": [\"a\", \"b\"], \"answer\": 0}\n", MEDGE_ERR_FORMAT, "line 1: no \"question\""));
    mcq_free(parse("{\"question\": \"q\"}\n", MEDGE_ERR_FORMAT, "no options"));
    mcq_free(parse("{\"question\": \"q\", \"final_decision\": \"perhaps\"}\n", MEDGE_ERR_FORMAT, "yes, no or maybe"));
    mcq_free(parse("{\"question\": \"q\", \"opa\": \"a\", \"opb\": \"b\"}\n", MEDGE_ERR_FORMAT, "no answer (\"cop\")"));
    mcq_free(parse("{\"question\": \"q\", \"options\": [\"a\", \"b\"], \"answer\": 0}\n{broken\n", MEDGE_ERR_FORMAT,
                   "t.jsonl line 2: JSON line 1 col 2"));
    mcq_free(parse("[1, 2]\n", MEDGE_ERR_FORMAT, "not a JSON object"));
    mcq_free(parse("\n \n", MEDGE_ERR_FORMAT, "no questions"));

    /* Intervals (values from Python with z = 1.959963984540054). */
    double acc, lo, hi;
    mcq_accuracy(8, 10, &acc, &lo, &hi);
    CHECK_NEAR(acc, 0.8, 1e-12);
    CHECK_NEAR(lo, 0.49016247153664183, 1e-12);
    CHECK_NEAR(hi, 0.9433178485456247, 1e-12);
    mcq_accuracy(0, 5, &acc, &lo, &hi);
    CHECK_NEAR(lo, 0, 1e-12);
    CHECK_NEAR(hi, 0.43448246478317476, 1e-12);
    mcq_accuracy(34, 34, &acc, &lo, &hi);
    CHECK_NEAR(lo, 0.8984854458466761, 1e-12);
    CHECK_NEAR(hi, 1.0, 1e-12);
    const unsigned char a[8] = {1, 1, 0, 1, 0, 1, 1, 1}, b[8] = {1, 0, 0, 1, 1, 0, 0, 1};
    double d;
    mcq_paired_diff(a, b, 8, &d, &lo, &hi);
    CHECK_NEAR(d, 0.25, 1e-12);
    CHECK_NEAR(lo, -0.2399909961350135, 1e-12);
    CHECK_NEAR(hi, 0.7399909961350135, 1e-12);
    mcq_paired_diff(a, a, 8, &d, &lo, &hi);
    CHECK(d == 0 && lo == 0 && hi == 0);
    TEST_END();
}
