/* test-chat.c - the Gemma 3 chat template against what the model's own Jinja template renders:
 * every case of reference/tokenizer/gemma3-chat-template.json, plus the corner cases of
 * specs/gemma3.md §5.3b (rendered with jinja2 3.1.6 from gemma3-full/tokenizer_config.json's
 * template and pasted below), and the rendered prompt tokenized with exactly one <bos>. */
#include "test.h"
#include "core/json.h"
#include "formats/gguf.h"
#include "text/chat.h"
#include "text/spm.h"

static const char extra_cases[] =
    "[{\"messages\": [{\"role\": \"system\", \"content\": \"  Sys text kept  \"}], \"add_generation_prompt\": true, \""
    "rendered\": \"<bos><start_of_turn>model\\n\"}, {\"messages\": [{\"role\": \"system\", \"content\": \"Sys\"}], \"add"
    "_generation_prompt\": false, \"rendered\": \"<bos>\"}, {\"messages\": [{\"role\": \"user\", \"content\": \"\\u00a0 "
    "hi \\u3000\\u0085\\u001c\"}], \"add_generation_prompt\": false, \"rendered\": \"<bos><start_of_turn>user\\nhi<"
    "end_of_turn>\\n\"}, {\"messages\": [{\"role\": \"user\", \"content\": \"\\u200b hi \\ufeff\"}], \"add_generation_pr"
    "ompt\": false, \"rendered\": \"<bos><start_of_turn>user\\n\\u200b hi \\ufeff<end_of_turn>\\n\"}, {\"messages\":"
    " [{\"role\": \"user\", \"content\": \"q\"}, {\"role\": \"tool\", \"content\": \" r \"}, {\"role\": \"user\", \"content\": "
    "\"s\"}], \"add_generation_prompt\": true, \"rendered\": \"<bos><start_of_turn>user\\nq<end_of_turn>\\n<start_"
    "of_turn>tool\\nr<end_of_turn>\\n<start_of_turn>user\\ns<end_of_turn>\\n<start_of_turn>model\\n\"}, {\"messa"
    "ges\": [{\"role\": \"user\", \"content\": []}], \"add_generation_prompt\": true, \"rendered\": \"<bos><start_of_"
    "turn>user\\n<end_of_turn>\\n<start_of_turn>model\\n\"}, {\"messages\": [{\"role\": \"user\", \"content\": [{\"typ"
    "e\": \"video\"}, {\"type\": \"text\", \"text\": \" a \"}, {\"type\": \"image\"}, {\"type\": \"image\"}]}], \"add_generat"
    "ion_prompt\": false, \"rendered\": \"<bos><start_of_turn>user\\na<start_of_image><start_of_image><end_of_"
    "turn>\\n\"}, {\"messages\": [{\"role\": \"system\", \"content\": [{\"type\": \"text\", \"text\": \"one \"}, {\"type\": \""
    "text\", \"text\": \"two\"}]}, {\"role\": \"user\", \"content\": \"u\"}], \"add_generation_prompt\": true, \"rendered"
    "\": \"<bos><start_of_turn>user\\none \\n\\nu<end_of_turn>\\n<start_of_turn>model\\n\"}, {\"messages\": [{\"role"
    "\": \"system\", \"content\": [{\"text\": \"untyped\"}]}, {\"role\": \"user\", \"content\": \"u\"}], \"add_generation_p"
    "rompt\": false, \"rendered\": \"<bos><start_of_turn>user\\nuntyped\\n\\nu<end_of_turn>\\n\"}, {\"messages\": [{"
    "\"role\": \"system\", \"content\": \" keep\\n\"}, {\"role\": \"user\", \"content\": [{\"type\": \"image\"}, {\"type\": \"t"
    "ext\", \"text\": \"\\tDescribe.\\n\"}]}, {\"role\": \"assistant\", \"content\": \" Normal. \"}, {\"role\": \"user\", \"c"
    "ontent\": \"More?\"}], \"add_generation_prompt\": true, \"rendered\": \"<bos><start_of_turn>user\\n keep\\n\\n\\"
    "n<start_of_image>Describe.<end_of_turn>\\n<start_of_turn>model\\nNormal.<end_of_turn>\\n<start_of_turn>"
    "user\\nMore?<end_of_turn>\\n<start_of_turn>model\\n\"}, {\"messages\": [{\"role\": \"user\", \"content\": {\"type"
    "\": \"text\"}}], \"add_generation_prompt\": false, \"rendered\": \"<bos><start_of_turn>user\\n<end_of_turn>\\n"
    "\"}, {\"messages\": [{\"role\": \"user\", \"content\": null}], \"add_generation_prompt\": true, \"error\": \"Inval"
    "id content type\"}, {\"messages\": [{\"role\": \"user\", \"content\": 5}], \"add_generation_prompt\": true, \"er"
    "ror\": \"Invalid content type\"}, {\"messages\": [{\"role\": \"assistant\", \"content\": \"x\"}], \"add_generation"
    "_prompt\": true, \"error\": \"Conversation roles must alternate user/assistant/user/assistant/...\"}, {\"m"
    "essages\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"system\", \"content\": \"b\"}], \"add_generation_pr"
    "ompt\": true, \"rendered\": \"<bos><start_of_turn>user\\na<end_of_turn>\\n<start_of_turn>system\\nb<end_of_"
    "turn>\\n<start_of_turn>model\\n\"}, {\"messages\": [{\"role\": \"system\", \"content\": \"s\"}, {\"role\": \"system\""
    ", \"content\": \"b\"}], \"add_generation_prompt\": true, \"error\": \"Conversation roles must alternate user/"
    "assistant/user/assistant/...\"}, {\"messages\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"assistant\""
    ", \"content\": \"b\"}, {\"role\": \"assistant\", \"content\": \"c\"}], \"add_generation_prompt\": true, \"error\": \""
    "Conversation roles must alternate user/assistant/user/assistant/...\"}]"
    ;

static int run_cases(const json_value *root, const char *what)
{
    int ok = 0;
    for (size_t i = 0; i < root->len; i++) {
        const json_value *c = &root->items[i];
        bool gen = false;
        json_get_bool(c, "add_generation_prompt", &gen);
        const char *want = json_get_str(c, "rendered");
        const char *err = json_get_str(c, "error");
        char *out = NULL;
        size_t len = 0;
        medge_status rc = chat_render_gemma3_json(json_get(c, "messages"), gen, NULL, &out, &len);
        if (want) {
            int eq = rc == MEDGE_OK && out && strlen(want) == len && memcmp(out, want, len) == 0;
            CHECK_MSG(eq, "%s case %zu: rendered \"%s\"\nwant \"%s\" (%s)", what, i, out ? out : "(null)", want,
                      rc ? medge_errmsg(NULL) : "ok");
            ok += eq;
        } else {
            int eq = rc == MEDGE_ERR_INVALID_ARG && err && strcmp(medge_errmsg(NULL), err) == 0;
            CHECK_MSG(eq, "%s case %zu: want error \"%s\", got rc %d \"%s\"", what, i, err ? err : "?", (int)rc,
                      medge_errmsg(NULL));
            ok += eq;
        }
        free(out);
    }
    printf("%s: %d/%zu cases\n", what, ok, root->len);
    return ok;
}

int main(void)
{
    json_doc *doc = NULL;
    CHECK_OK(json_parse_file(test_ref("tokenizer/gemma3-chat-template.json"), &doc));
    if (doc) {
        const json_value *root = json_root(doc);
        CHECK(root->type == JSON_ARRAY && root->len == 7);
        CHECK_EQ_INT(run_cases(root, "reference"), 7);
        json_free(doc);
    }
    CHECK_OK(json_parse(extra_cases, sizeof extra_cases - 1, &doc));
    if (doc) {
        const json_value *root = json_root(doc);
        CHECK_EQ_INT(run_cases(root, "corner"), (long long)root->len);
        json_free(doc);
    }

    /* C API: an empty conversation is an error; a custom BOS text */
    char *out = NULL;
    CHECK(chat_render_gemma3(NULL, 0, true, NULL, &out, NULL) == MEDGE_ERR_INVALID_ARG && out == NULL);
    chat_part parts[2] = {{CHAT_PART_IMAGE, NULL, 0}, {CHAT_PART_TEXT, " Describe this X-ray. ", 21}};
    chat_msg msgs[2] = {{"system", CHAT_CONTENT_STRING, "You are an expert radiologist.", 30, NULL, 0},
                        {"user", CHAT_CONTENT_PARTS, NULL, 0, parts, 2}};
    CHECK_OK(chat_render_gemma3(msgs, 2, true, "", &out, NULL));
    CHECK_STR(out, "<start_of_turn>user\nYou are an expert radiologist.\n\n<start_of_image>Describe this X-ray."
                   "<end_of_turn>\n<start_of_turn>model\n");
    free(out);

    /* the rendered prompt tokenizes with one <bos> and the turn markers as control tokens */
    gguf_ctx *g = NULL;
    spm_vocab *v = NULL;
    CHECK_OK(gguf_open(test_ref("tokenizer/gemma3-vocab.gguf"), &g));
    if (g)
        CHECK_OK(spm_load_gguf(g, &v));
    gguf_close(g);
    if (v) {
        msgs[1].n_parts = 2;
        CHECK_OK(chat_render_gemma3(msgs, 2, true, NULL, &out, NULL));
        int32_t *ids = NULL;
        size_t n = 0;
        CHECK_OK(spm_encode(v, out, strlen(out), SPM_PARSE_SPECIAL, &ids, &n));
        int bos = 0;
        for (size_t k = 0; k < n; k++)
            bos += ids[k] == 2;
        CHECK(n > 10 && ids[0] == 2 && ids[1] == 105 && bos == 1);
        CHECK(n > 10 && ids[n - 3] == 105 && ids[n - 1] == 107);
        int soi = 0;
        for (size_t k = 0; k < n; k++)
            soi += ids[k] == 255999;
        CHECK_EQ_INT(soi, 1);
        free(ids);
        free(out);
        spm_free(v);
    }
    TEST_END();
}
