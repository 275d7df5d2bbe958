/* allocsim: command-line entry point. Dispatches to the subcommands of cmds.h; the exit
 * status is the subcommand's (0 ok, 1 check failed, 2 usage/input, 3 server failure). */
#include <stdio.h>
#include <string.h>

#include "cmds.h"

typedef struct {
    const char *name;
    int (*fn)(int, char **);
    const char *summary;
} command;

static void usage(FILE *f, const command *cmds, size_t n) {
    fprintf(f, "usage: allocsim COMMAND [ARGS]   (allocsim COMMAND --help for details)\n\ncommands:\n");
    for (size_t i = 0; i < n; i++)
        fprintf(f, "  %-8s %s\n", cmds[i].name, cmds[i].summary);
}

int main(int argc, char **argv) {
    const command cmds[] = {
        {"run", cmd_run, "simulate a scenario and check a server against it (--dry-run: no server)"},
        {"check", cmd_check, "run many scenarios (default: the whole library) with one summary"},
        {"replay", cmd_replay, "send a recorded .allocstream to a server and report its dumps"},
        {"fuzz", cmd_fuzz, "fuzz a server with generated message streams"},
        {"import", cmd_import, "import a real server log: lifecycles, dump checks, timeline, stream"},
        {"plot", cmd_plot, "render a memory timeline with gnuplot"},
        {"shm", cmd_shm, "SHM tracking regions: show, check, clean, record (docs/shm.md)"},
    };
    size_t n = sizeof cmds / sizeof cmds[0];
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout, cmds, n);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(argv[1], cmds[i].name) != 0)
            continue;
        return cmds[i].fn(argc - 1, argv + 1);
    }
    fprintf(stderr, "allocsim: unknown command '%s'\n", argv[1]);
    usage(stderr, cmds, n);
    return 2;
}
