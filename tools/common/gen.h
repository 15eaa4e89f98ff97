/* gen.h - what `medge run` and `medge chat` share: model/session options, loading with the
 * memory report, and the streaming generation loop (sampling, stop at <end_of_turn>/<eos> or
 * user strings, speed numbers). */
#ifndef MEDGE_TOOLS_GEN_H
#define MEDGE_TOOLS_GEN_H
#include "medge.h"
#include "text/spm.h"

#include <stdbool.h>
#include <stdio.h>

#define GEN_MAX_STOP 8

typedef struct gen_opts {
    const char *model;
    medge_session_params sp;
    medge_sampler_params smp;
    int n_predict;          /* most tokens to generate (-1: until the context is full) */
    const char *stop[GEN_MAX_STOP];
    int n_stop;
    int verbose;
} gen_opts;

void gen_opts_init(gen_opts *o);
/* Try to consume argv[*i] (and its value) as a common option. Returns 1 if consumed, 0 if not
 * a common option, -1 on a bad value (message printed). */
int gen_parse_common(gen_opts *o, const char *cmd, int argc, char **argv, int *i);
/* Help lines of the common options. */
void gen_print_common_help(FILE *f);

typedef struct gen_ctx {
    medge_model *model;
    medge_session *s;
    spm_vocab *vocab;
    double t_load;
} gen_ctx;

/* Load the model and its tokenizer, print the memory it will use, create the session (which
 * refuses when the machine lacks the memory). Prints errors; returns 0 on success. */
int gen_open(gen_ctx *g, const gen_opts *o, const char *cmd);
void gen_close(gen_ctx *g);

typedef struct gen_stats {
    int n_prompt, n_gen, n_reused;
    double t_prompt, t_gen;
    bool context_full;
} gen_stats;

/* Evaluate the prompt ids (reusing the session's common prefix; ids == NULL: already evaluated
 * by the caller), then generate and print the
 * answer to out as it comes. The answer text (without the stop string) is appended to answer
 * when non-NULL. Returns 0, or 1 after printing an error. */
int gen_run(gen_ctx *g, const gen_opts *o, const char *cmd, const int32_t *ids, size_t n, FILE *out,
            medge_buf *answer, gen_stats *st);
void gen_print_stats(const gen_ctx *g, const gen_stats *st);
#endif
