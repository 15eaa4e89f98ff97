/* cmd-run.c - `medge run`: generate a continuation of a prompt (optionally wrapped in the chat
 * template) with a Gemma 3 / MedGemma text model, streaming the answer to stdout. */
#include "common/gen.h"
#include "text/chat.h"
#include "tool.h"

#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: medge run -m MODEL.gguf -p PROMPT [options]\n\n"
               "Generate text after PROMPT and stream it to stdout; load time, prompt and generation speed go to\n"
               "stderr at the end.\n\n"
               "options:\n"
               "  -p, --prompt TEXT       the prompt (required); special tokens written in it are parsed\n"
               "  --chat                  wrap the prompt in the model's chat template (user turn + model turn)\n"
               "  --system TEXT           with --chat: a system prompt (folded into the user turn)\n");
    gen_print_common_help(f);
    fprintf(f, "  -h, --help              this help\n");
}

static int run(int argc, char **argv)
{
    gen_opts o;
    gen_opts_init(&o);
    const char *prompt = NULL, *system = NULL;
    int chat = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int r = gen_parse_common(&o, "run", argc, argv, &i);
        if (r < 0)
            return 2;
        if (r > 0)
            continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--chat")) {
            chat = 1;
        } else if ((!strcmp(a, "-p") || !strcmp(a, "--prompt") || !strcmp(a, "--system")) && i + 1 < argc) {
            if (!strcmp(a, "--system"))
                system = argv[++i];
            else
                prompt = argv[++i];
        } else {
            fprintf(stderr, "medge run: unknown option or missing value: %s\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!prompt || !o.model) {
        fprintf(stderr, "medge run: -m MODEL and -p PROMPT are required\n");
        usage(stderr);
        return 2;
    }
    if (system && !chat) {
        fprintf(stderr, "medge run: --system needs --chat\n");
        return 2;
    }
    tool_log_init(o.verbose);
    gen_ctx g;
    if (gen_open(&g, &o, "run"))
        return 1;
    int ret = 1;
    char *text = NULL;
    int32_t *ids = NULL;
    size_t n = 0;
    medge_status rc;
    if (chat) {
        chat_msg msgs[2];
        size_t nm = 0;
        memset(msgs, 0, sizeof msgs);
        if (system) {
            msgs[nm].role = "system";
            msgs[nm].content = system;
            msgs[nm++].content_len = strlen(system);
        }
        msgs[nm].role = "user";
        msgs[nm].content = prompt;
        msgs[nm++].content_len = strlen(prompt);
        size_t len;
        rc = chat_render_gemma3(msgs, nm, true, NULL, &text, &len);
        if (rc == MEDGE_OK)
            rc = spm_encode(g.vocab, text, len, SPM_PARSE_SPECIAL, &ids, &n);
    } else {
        rc = spm_encode(g.vocab, prompt, strlen(prompt), SPM_ADD_BOS | SPM_PARSE_SPECIAL, &ids, &n);
    }
    if (rc != MEDGE_OK) {
        tool_fail("run", rc);
        goto done;
    }
    if (o.verbose)
        fprintf(stderr, "medge run: prompt of %zu tokens\n", n);
    gen_stats st;
    ret = gen_run(&g, &o, "run", ids, n, stdout, NULL, &st);
    printf("\n");
    if (ret == 0)
        gen_print_stats(&g, &st);
done:
    free(ids);
    free(text);
    gen_close(&g);
    return ret;
}

const struct medge_cmd medge_cmd_run = {"run", "generate text from a prompt with a MedGemma / Gemma 3 model", run};
