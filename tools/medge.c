/* medge.c - entry point of the medge command: dispatches to the subcommand named by argv[1]. */
#include "tool.h"
#include "core/error.h"

#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "commands.inc"

int tool_fail(const char *cmd, medge_status rc)
{
    const char *msg = medge_errmsg(NULL);
    fprintf(stderr, "medge %s: %s\n", cmd, msg[0] ? msg : medge_status_str(rc));
    return 1;
}

static int g_verbose;

static void log_cb(medge_log_level level, const char *msg, void *user)
{
    (void)user;
    if (level >= MEDGE_LOG_WARN || (g_verbose && level >= MEDGE_LOG_INFO) || g_verbose > 1)
        fprintf(stderr, "%s%s\n", level >= MEDGE_LOG_ERROR ? "error: " : level == MEDGE_LOG_WARN ? "warning: " : "", msg);
}

void tool_log_init(int verbose)
{
    g_verbose = verbose;
    medge_log_set(log_cb, NULL);
}

double tool_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

uint64_t tool_peak_rss(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (uint64_t)ru.ru_maxrss * 1024;
}

static void usage(FILE *f)
{
    fprintf(f, "medge %s - offline medical AI on CPUs (MedGemma, BiomedCLIP)\n\n"
               "usage: medge <command> [options]   (medge <command> --help for details)\n\ncommands:\n",
            medge_version());
    for (int i = 0; medge_cmds[i]; i++)
        fprintf(f, "  %-10s %s\n", medge_cmds[i]->name, medge_cmds[i]->summary);
}

int main(int argc, char **argv)
{
    tool_log_init(0);
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("medge %s\n", medge_version());
        return 0;
    }
    for (int i = 0; medge_cmds[i]; i++)
        if (strcmp(argv[1], medge_cmds[i]->name) == 0)
            return medge_cmds[i]->run(argc - 1, argv + 1);
    fprintf(stderr, "medge: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
