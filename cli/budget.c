/* budget: resource-limit options of a run and their defaults (see budget.h). */
#include "budget.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mem.h"
#include "scn.h"

void budget_defaults(budget *l) {
    l->max_frames = BUDGET_DEFAULT_FRAMES;
    l->max_buffers = BUDGET_DEFAULT_BUFFERS;
    l->max_statements = BUDGET_DEFAULT_STATEMENTS;
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    uint64_t half = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page / 2 : BUDGET_DEFAULT_MEMORY_MAX;
    l->max_memory = half < BUDGET_DEFAULT_MEMORY_MAX ? half : BUDGET_DEFAULT_MEMORY_MAX;
}

static int parse_count(const char *v, uint64_t *out) {
    if (!v || !*v || *v < '0' || *v > '9')
        return -1;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (errno || *end)
        return -1;
    *out = n;
    return 0;
}

int budget_parse_option(int argc, char **argv, int *i, budget *l, char *err, size_t errlen) {
    static const struct {
        const char *name;
        size_t off;
    } counts[] = {
        {"--max-frames", offsetof(budget, max_frames)},
        {"--max-buffers", offsetof(budget, max_buffers)},
        {"--max-statements", offsetof(budget, max_statements)},
    };
    const char *a = argv[*i];
    const char *v = *i + 1 < argc ? argv[*i + 1] : NULL;
    for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++) {
        if (strcmp(a, counts[k].name) != 0)
            continue;
        uint64_t n;
        if (parse_count(v, &n) != 0) {
            snprintf(err, errlen, "%s: expected a count (0 for no limit), found '%s'", a, v ? v : "nothing");
            return -1;
        }
        memcpy((char *)l + counts[k].off, &n, sizeof n);
        (*i)++;
        return 1;
    }
    if (strcmp(a, "--max-memory") == 0) {
        uint64_t n;
        char why[256];
        if (!v || scn_parse_size(v, &n, why, sizeof why) != 0) {
            snprintf(err, errlen, "--max-memory: expected a size such as 2GiB (0 for no limit), found '%s'",
                     v ? v : "nothing");
            return -1;
        }
        l->max_memory = n;
        (*i)++;
        return 1;
    }
    return 0;
}

void budget_apply_run(const budget *l, scn_run_opts *o) {
    o->max_frames = l->max_frames;
    o->max_buffers = l->max_buffers;
    o->max_statements = l->max_statements;
}

void budget_apply_memory(const budget *l) { mem_set_limit((size_t)l->max_memory); }

void budget_explain(const budget *l, char *msg, size_t len) {
    if (!l->max_memory || !mem_limit_reached())
        return;
    size_t n = strnlen(msg, len);
    if (n + 1 >= len)
        return;
    uint64_t mib = l->max_memory >> 20;
    if (mib && (l->max_memory & ((1u << 20) - 1)) == 0)
        snprintf(msg + n, len - n, ": allocsim's memory limit of %" PRIu64 " MiB was reached (--max-memory)", mib);
    else
        snprintf(msg + n, len - n, ": allocsim's memory limit of %" PRIu64 " bytes was reached (--max-memory)",
                 l->max_memory);
}

const char *budget_usage(void) {
    return "  --max-frames N            stop the simulation after N frames (default 1000000; 0: none)\n"
           "  --max-buffers N           stop when the server would hold N+1 buffers (default 1000000)\n"
           "  --max-statements N        stop after N executed statements (default 1000000)\n"
           "  --max-memory SIZE         allocsim's own memory budget (default: half the RAM, at most 4GiB)\n";
}
