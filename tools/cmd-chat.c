/* cmd-chat.c - `medge chat`: an interactive multi-turn chat in the model's template. Each turn
 * re-renders the conversation and evaluates only what the session does not already hold. */
#include "common/gen.h"
#include "text/chat.h"
#include "tool.h"

#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: medge chat -m MODEL.gguf [options]\n\n"
               "Interactive chat: type a message and press enter; the answer streams back. An empty line is\n"
               "ignored; /reset starts a new conversation; /exit or end of input quits. Speeds of each answer\n"
               "go to stderr.\n\n"
               "options:\n"
               "  --system TEXT           system prompt (folded into the first user turn, as the template does)\n");
    gen_print_common_help(f);
    fprintf(f, "  -h, --help              this help\n");
}

typedef struct turn {
    const char *role;
    char *text;
} turn;

static int run(int argc, char **argv)
{
    gen_opts o;
    gen_opts_init(&o);
    const char *system = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int r = gen_parse_common(&o, "chat", argc, argv, &i);
        if (r < 0)
            return 2;
        if (r > 0)
            continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--system") && i + 1 < argc) {
            system = argv[++i];
        } else {
            fprintf(stderr, "medge chat: unknown option or missing value: %s\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!o.model) {
        fprintf(stderr, "medge chat: -m MODEL is required\n");
        return 2;
    }
    tool_log_init(o.verbose);
    gen_ctx g;
    if (gen_open(&g, &o, "chat"))
        return 1;
    turn *turns = NULL;
    size_t nt = 0, cap = 0;
    int ret = 0;
    char line[8192];
    for (;;) {
        fprintf(stderr, "> ");
        fflush(stderr);
        if (!fgets(line, sizeof line, stdin))
            break;
        size_t ll = strlen(line);
        while (ll && (line[ll - 1] == '\n' || line[ll - 1] == '\r'))
            line[--ll] = 0;
        if (!ll)
            continue;
        if (!strcmp(line, "/exit"))
            break;
        if (!strcmp(line, "/reset")) {
            for (size_t i = 0; i < nt; i++)
                free(turns[i].text);
            nt = 0;
            medge_session_rewind(g.s, 0);
            continue;
        }
        if (nt + 2 > cap) {
            size_t nc = cap ? cap * 2 : 16;
            turn *nt2 = realloc(turns, nc * sizeof *turns);
            if (!nt2) {
                fprintf(stderr, "medge chat: out of memory\n");
                ret = 1;
                break;
            }
            turns = nt2;
            cap = nc;
        }
        turns[nt].role = "user";
        turns[nt++].text = strdup(line);
        /* render system + turns with the generation prompt */
        chat_msg *msgs = calloc(nt + 1, sizeof *msgs);
        size_t nm = 0;
        if (msgs && system) {
            msgs[nm].role = "system";
            msgs[nm].content = system;
            msgs[nm++].content_len = strlen(system);
        }
        for (size_t i = 0; msgs && i < nt; i++) {
            msgs[nm].role = turns[i].role;
            msgs[nm].content = turns[i].text ? turns[i].text : "";
            msgs[nm++].content_len = turns[i].text ? strlen(turns[i].text) : 0;
        }
        char *text = NULL;
        size_t len = 0, n = 0;
        int32_t *ids = NULL;
        medge_status rc = msgs ? chat_render_gemma3(msgs, nm, true, NULL, &text, &len) : MEDGE_ERR_NOMEM;
        if (rc == MEDGE_OK)
            rc = spm_encode(g.vocab, text, len, SPM_PARSE_SPECIAL, &ids, &n);
        free(msgs);
        free(text);
        if (rc != MEDGE_OK) {
            tool_fail("chat", rc);
            ret = 1;
            break;
        }
        medge_buf answer = {0};
        gen_stats st;
        int r = gen_run(&g, &o, "chat", ids, n, stdout, &answer, &st);
        free(ids);
        printf("\n");
        fflush(stdout);
        if (r == 0)
            gen_print_stats(&g, &st);
        turns[nt].role = "assistant";
        turns[nt++].text = answer.len ? strndup(answer.data, answer.len) : strdup("");
        medge_buf_free(&answer);
        if (r || st.context_full) {
            ret = r;
            break;
        }
    }
    for (size_t i = 0; i < nt; i++)
        free(turns[i].text);
    free(turns);
    gen_close(&g);
    return ret;
}

const struct medge_cmd medge_cmd_chat = {"chat", "interactive multi-turn chat with a MedGemma / Gemma 3 model", run};
