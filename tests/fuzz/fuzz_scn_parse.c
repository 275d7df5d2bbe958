/* fuzz_scn_parse: libFuzzer target for the scenario parser (sim/scn_parse.c).
 *
 * Any bytes must either parse or fail with a located message (`path:line:col: ...`), without
 * crashing, leaking or reading out of bounds. Inputs that parse are also simulated with a
 * frame limit, so that the interpreter sees every statement shape the parser accepts (a
 * scenario error is fine; a crash or a sanitizer report is not).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scn.h"
#include "scn_run.h"

/* Statements executed by a block, with repeat counts multiplied out (saturating). */
static uint64_t iterations(const scn_stmt *v, size_t n) {
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t one = 1;
        if (v[i].op == SCN_REPEAT) {
            uint64_t body = iterations(v[i].body, v[i].nbody);
            one = body && v[i].count > UINT64_MAX / body ? UINT64_MAX : body * v[i].count;
        }
        total = total > UINT64_MAX - one ? UINT64_MAX : total + one;
    }
    return total;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[512];
    scn_script *s = NULL;
    if (scn_parse((const char *)data, size, "fuzz.scn", &s, err, sizeof err) != 0) {
        if (strncmp(err, "fuzz.scn:", 9) != 0)
            abort();
        return 0;
    }
    scn_run_opts o;
    scn_run_opts_init(&o);
    o.max_frames = 20000;
    o.keep_steps = 0;
    plan p;
    /* Huge repeat counts of statements that send nothing could run for long: skip them. */
    int small = 1;
    for (int i = 0; i < s->nprocs; i++)
        small &= iterations(s->procs[i].stmts, s->procs[i].nstmts) <= 100000;
    if (small && scn_run(s, &o, &p, NULL, err, sizeof err) == SCN_RUN_OK)
        plan_release(&p);
    scn_script_free(s);
    return 0;
}
