/* cmd-version.c - `medge version`: library version and the CPU features the kernels will use. */
#include "tool.h"
#include "core/cpu.h"

#include <stdio.h>

static int run(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("medge %s\ncpu: %s (%d cores)\n", medge_version(), medge_cpu_describe(), medge_cpu_get()->n_cores);
    return 0;
}

const struct medge_cmd medge_cmd_version = {"version", "print the version and the CPU features in use", run};
