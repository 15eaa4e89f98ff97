/* tools/tool.h - what every subcommand file of the medge tool shares. Each tools/cmd-<name>.c
 * defines `const struct medge_cmd medge_cmd_<name>`; CMake builds the table from the file names. */
#ifndef MEDGE_TOOL_H
#define MEDGE_TOOL_H
#include "medge.h"

struct medge_cmd {
    const char *name;
    const char *summary; /* one line for `medge --help` */
    int (*run)(int argc, char **argv); /* argv[0] is the subcommand name; returns the exit code */
};

/* Print "medge <cmd>: <message from libmedge>" to stderr and return exit code 1. */
int tool_fail(const char *cmd, medge_status rc);
/* Install a log callback printing warnings and errors (and info with verbose) to stderr. */
void tool_log_init(int verbose);
/* Wall clock in seconds. */
double tool_now(void);
/* Peak resident set size of this process in bytes (0 if unknown). */
uint64_t tool_peak_rss(void);
#endif
