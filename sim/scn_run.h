/* scn_run: the scenario interpreter — runs a parsed scenario in virtual time into a plan.
 *
 * Each simulated process executes its statements as events of one queue (evq.h) keyed by
 * (virtual time, sequence): a statement that sends messages takes SCN_RUN_OP_NS, `wait`,
 * `decode` and `trace replay` take their stated time, expectations and phase markers take
 * none. Processes that act at the same virtual time interleave one statement at a time in
 * declaration order. Every opened mesh owns one allocator region per region type
 * (alloc.h, lock-step: one address per mesh allocation, one message per device in the
 * mesh's device order). Every frame is encoded (proto.h), hashed into the run's XXH3-64
 * digest, applied to the ledger (ledger.h) and, when asked, recorded as a plan step and as
 * timeline samples. At each dump the plan records the exact lines the server must print.
 * Same scenario + seed + protocol revision -> the same plan and digest.
 */
#ifndef ALLOCSIM_SCN_RUN_H
#define ALLOCSIM_SCN_RUN_H

#include <stddef.h>
#include <stdint.h>

#include "ledger.h"
#include "plan.h"
#include "proto.h"
#include "scn.h"
#include "timeline.h"

#define SCN_RUN_OP_NS 1000u /* virtual time of one statement that sends messages or changes state */

enum {
    SCN_RUN_OK = 0,     /* ran to the end */
    SCN_RUN_FAILED = 1, /* an `expect error` statement did not fail (err says which) */
    SCN_RUN_ERROR = 2   /* scenario error: out of memory on a device, bad state, ... (err) */
};

typedef struct {
    int has_seed;          /* override the scenario's `seed` */
    uint64_t seed;
    int has_rev;           /* override the scenario's `protocol` */
    proto_rev rev;
    int keep_steps;        /* 1: store every step in plan.steps; 0: counts and digest only */
    int expected_text;     /* 1: render each dump's expected lines into plan.dumps[i].expected */
    timeline *timeline;    /* NULL: record no timeline */
    /* Whose lines the expected dumps are (ledger.h): the poc's (default) or
     * allocation_server_enhanced's, whose duplicate ALLOC with another size replaces the
     * stored size and whose reports carry histories. Expectations written `expect poc ...` or
     * `expect enhanced ...` apply in that dialect only. */
    ledger_dialect dialect;
    /* Resource limits (0: no limit). Reaching one stops the run with SCN_RUN_ERROR and
     * "path:line:col: stopped ...: the run's ... limit (--max-...)" in err, before the host
     * runs out of memory or time. */
    uint64_t max_frames;     /* frames sent */
    uint64_t max_buffers;    /* buffers the server holds at once (ledger entries, all devices) */
    uint64_t max_statements; /* statements executed, each repeat iteration counted again */
} scn_run_opts;

/* An error that an `expect error` statement asked for and got. */
typedef struct {
    int line;              /* of the statement that failed */
    char *expected;        /* the text the error had to contain */
    char *message;         /* the error, file:line:col: ... */
} scn_run_caught;

typedef struct {
    scn_run_caught *caught;
    size_t ncaught;
    uint64_t end_vtime_ns; /* virtual time when the last process ended */
} scn_run_info;

/* Defaults: scenario seed and revision, keep_steps = 1, expected_text = 1, no timeline. */
void scn_run_opts_init(scn_run_opts *o);

/* Runs s. On SCN_RUN_OK *out holds the plan (release with plan_release) and *info (may be
 * NULL) the caught errors (release with scn_run_info_release). On SCN_RUN_FAILED or
 * SCN_RUN_ERROR err holds `path:line:col: message` and *out / *info are released already.
 * The timeline, if given, receives capacities, samples and phases (also partial ones on
 * failure). Preconditions: s from scn_parse. */
int scn_run(const scn_script *s, const scn_run_opts *o, plan *out, scn_run_info *info, char *err, size_t errlen);

void scn_run_info_release(scn_run_info *info);

/* The name of process `proc` of a plan for a simulated pid, or NULL (a dumpview_pid_name_fn
 * with ctx = the plan). */
const char *scn_run_pid_name(void *plan_ctx, int32_t pid);

#endif
