/* cmd-chat.c - `medge chat`: an interactive multi-turn chat in the model's template. Each turn
 * re-renders the conversation and evaluates only what the session does not already hold. */
#include "common/gen.h"
#include "common/image-prompt.h"
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
    fprintf(f, TOOL_IMAGES_HELP);
    fprintf(f, "                     In chat the images belong to the first message of the conversation.\n");
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
    tool_images ti;
    memset(&ti, 0, sizeof ti);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int r = tool_images_arg(&ti, "chat", argc, argv, &i);
        if (r < 0)
            return 2;
        if (r > 0)
            continue;
        r = gen_parse_common(&o, "chat", argc, argv, &i);
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
    if (tool_images_prepare(&ti, "chat", g.model, o.sp.n_threads, o.verbose)) {
        tool_images_free(&ti);
        gen_close(&g);
        return 1;
    }
    int images_in_session = 0;
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
            images_in_session = 0;
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
        turns[nt].text = nt == 0 && ti.n ? tool_images_place(&ti, "chat", line) : strdup(line);
        if (!turns[nt].text)
            continue;
        nt++;
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
        int evaluated = 0, past0 = medge_session_n_past(g.s);
        double t_pre = tool_now();
        if (rc == MEDGE_OK && ti.n) {
            /* later turns: the session already holds the images, evaluate only the new text;
             * otherwise (first turn, or the prefix changed) evaluate it all, image by image */
            rc = tool_images_ids(&ti, g.vocab, text, len, SPM_PARSE_SPECIAL, &ids, &n);
            if (rc == MEDGE_OK && images_in_session &&
                medge_session_eval_prefix(g.s, ids, (int)n, NULL) == MEDGE_OK) {
                evaluated = 1;
            } else if (rc == MEDGE_OK) {
                medge_session_rewind(g.s, 0);
                ti.next = 0;
                rc = tool_images_eval(&ti, g.s, g.vocab, text, len, SPM_PARSE_SPECIAL);
                evaluated = rc == MEDGE_OK;
                images_in_session = evaluated;
            }
        } else if (rc == MEDGE_OK) {
            rc = spm_encode(g.vocab, text, len, SPM_PARSE_SPECIAL, &ids, &n);
        }
        double t_eval = tool_now() - t_pre;
        free(msgs);
        free(text);
        if (rc != MEDGE_OK) {
            tool_fail("chat", rc);
            ret = 1;
            break;
        }
        medge_buf answer = {0};
        gen_stats st;
        int past1 = medge_session_n_past(g.s);
        int r = gen_run(&g, &o, "chat", evaluated ? NULL : ids, n, stdout, &answer, &st);
        if (evaluated) {
            st.t_prompt = t_eval;
            st.n_reused = images_in_session && past0 <= past1 ? (int)n - (past1 - past0) : 0;
        }
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
    tool_images_free(&ti);
    gen_close(&g);
    return ret;
}

const struct medge_cmd medge_cmd_chat = {"chat", "interactive multi-turn chat with a MedGemma / Gemma 3 model", run};
