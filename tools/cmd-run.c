/* cmd-run.c - `medge run`: generate a continuation of a prompt (optionally wrapped in the chat
 * template) with a Gemma 3 / MedGemma text model, streaming the answer to stdout. */
#include "common/gen.h"
#include "common/image-prompt.h"
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
    fprintf(f, TOOL_IMAGES_HELP);
    gen_print_common_help(f);
    fprintf(f, "  -h, --help              this help\n");
}

static int run(int argc, char **argv)
{
    gen_opts o;
    gen_opts_init(&o);
    const char *prompt = NULL, *system = NULL;
    int chat = 0;
    tool_images ti;
    memset(&ti, 0, sizeof ti);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int r = tool_images_arg(&ti, "run", argc, argv, &i);
        if (r < 0)
            return 2;
        if (r > 0)
            continue;
        r = gen_parse_common(&o, "run", argc, argv, &i);
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
    char *placed = NULL;
    if (ti.n) {
        /* every image needs its place in the user text (in front when the prompt marks none) */
        if (!(placed = tool_images_place(&ti, "run", prompt)))
            return 2;
        prompt = placed;
    } else if (tool_images_markers(prompt, strlen(prompt))) {
        fprintf(stderr, "medge run: the prompt marks %d image(s) but no --image was given\n",
                tool_images_markers(prompt, strlen(prompt)));
        return 2;
    }
    gen_ctx g;
    if (gen_open(&g, &o, "run")) {
        free(placed);
        return 1;
    }
    int ret = 1;
    char *text = NULL;
    int32_t *ids = NULL; /* before the first goto: done frees it */
    size_t n = 0;
    if ((ret = tool_images_prepare(&ti, "run", g.model, o.sp.n_threads, o.verbose)) != 0)
        goto done;
    ret = 1;
    medge_status rc = MEDGE_OK;
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
        if (rc == MEDGE_OK && !ti.n)
            rc = spm_encode(g.vocab, text, len, SPM_PARSE_SPECIAL, &ids, &n);
    } else if (!ti.n) {
        rc = spm_encode(g.vocab, prompt, strlen(prompt), SPM_ADD_BOS | SPM_PARSE_SPECIAL, &ids, &n);
    }
    double t_img = 0;
    if (rc == MEDGE_OK && ti.n) {
        /* text between the markers as tokens, each marker an image; then generate from there */
        double t0 = tool_now();
        rc = tool_images_eval(&ti, g.s, g.vocab, chat ? text : prompt, strlen(chat ? text : prompt),
                              chat ? SPM_PARSE_SPECIAL : SPM_ADD_BOS | SPM_PARSE_SPECIAL);
        t_img = tool_now() - t0;
        if (rc != MEDGE_OK)
            rc = medge_err_prefix(rc, "evaluating the image prompt");
    }
    if (rc != MEDGE_OK) {
        tool_fail("run", rc);
        goto done;
    }
    if (o.verbose)
        fprintf(stderr, "medge run: prompt of %zu tokens\n", n);
    gen_stats st;
    int n_prompt = ti.n ? medge_session_n_past(g.s) : 0;
    ret = gen_run(&g, &o, "run", ti.n ? NULL : ids, n, stdout, NULL, &st);
    printf("\n");
    if (ti.n) {
        st.n_prompt = n_prompt;
        st.t_prompt = t_img;
        fprintf(stderr, "images: %d encoded in %.2f s\n", ti.n, ti.t_encode);
    }
    if (ret == 0)
        gen_print_stats(&g, &st);
done:
    free(ids);
    free(text);
    free(placed);
    tool_images_free(&ti);
    gen_close(&g);
    return ret;
}

const struct medge_cmd medge_cmd_run = {"run", "generate text from a prompt with a MedGemma / Gemma 3 model", run};
