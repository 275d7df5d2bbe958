/* budget: the resource limits of a simulated run, as options of allocsim run, run --dry-run and
 * check.
 *
 * allocsim runs in other people's CI, where a scenario that asks for 10^8 buffers or 10^9
 * iterations must stop with a clear error instead of being killed for memory or time. The
 * simulator enforces frames, live buffers and executed statements (scn_run_opts); the memory
 * budget is enforced for every allocation of the libraries (mem_set_limit). The defaults
 * leave every realistic scenario alone (the library's largest sends a few hundred frames) and
 * keep a runaway one within a few seconds and a few GiB. docs/hardening.md lists them.
 */
#ifndef ALLOCSIM_BUDGET_H
#define ALLOCSIM_BUDGET_H

#include <stddef.h>
#include <stdint.h>

#include "scn_run.h"

#define BUDGET_DEFAULT_FRAMES 1000000ull      /* 10^6 */
#define BUDGET_DEFAULT_BUFFERS 1000000ull     /* 10^6 */
#define BUDGET_DEFAULT_STATEMENTS 1000000ull   /* 10^6 */
#define BUDGET_DEFAULT_MEMORY_MAX (4ull << 30) /* the memory default is half the RAM, at most this */

typedef struct {
    uint64_t max_frames;     /* 0: no limit */
    uint64_t max_buffers;    /* 0: no limit */
    uint64_t max_statements; /* 0: no limit */
    uint64_t max_memory;     /* bytes; 0: no limit */
} budget;

/* Fills l with the defaults (memory: half the physical RAM, at most 4 GiB). */
void budget_defaults(budget *l);

/* If argv[*i] is a limit option (--max-frames N, --max-buffers N, --max-statements N,
 * --max-memory SIZE; N may be 0 for no limit), consumes it and its value (advancing *i) and
 * returns 1; returns 0 for any other argument. Returns -1 with "--max-frames: expected ...,
 * found ..." in err for a missing or bad value. */
int budget_parse_option(int argc, char **argv, int *i, budget *l, char *err, size_t errlen);

/* Copies the simulator's limits into o. */
void budget_apply_run(const budget *l, scn_run_opts *o);

/* Sets the process's memory budget (mem_set_limit). Call once, before the run allocates. */
void budget_apply_memory(const budget *l);

/* When the memory budget was what failed, appends ": allocsim's memory limit of SIZE was
 * reached (--max-memory)" to the one-line message in msg (of capacity len). */
void budget_explain(const budget *l, char *msg, size_t len);

/* The options' help text, one line per option, each ending in '\n'. */
const char *budget_usage(void);

#endif
