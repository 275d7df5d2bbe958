/* fuzz_scn_parse: libFuzzer target for the scenario language (sim/scn_parse.c) and, for what
 * parses, the interpreter (sim/scn_run.c) and the plan-to-stream conversion the live runner
 * uses (harness/stream.c).
 *
 * The guarantees checked, beyond "no crash, no leak, no hang":
 *  - a rejected scenario gets exactly one line `fuzz.scn:LINE:COL: ...` (what allocsim prints
 *    to a user), never an empty or multi-line message;
 *  - a scenario error found while simulating has the same shape;
 *  - every dump report the model renders parses again (the checker compares a server's report
 *    with it), and every expectation can be evaluated against it;
 *  - the plan converts to a stream that encodes, parses back and keeps its digest.
 * The simulation runs with small frame, buffer and statement limits (scn_run_opts), so that a
 * scenario asking for 10^18 iterations stops at a limit, with a located message, instead of
 * timing out.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dumpview.h"
#include "mem.h"
#include "plan.h"
#include "scn.h"
#include "scn_run.h"
#include "stream.h"

#define FUZZ_SCN_PATH "fuzz.scn"

/* `fuzz.scn:LINE:COL: text` on one line, LINE and COL positive decimal numbers. A message
 * about the host running out of memory may lack the position. */
static int fuzz_scn_error_ok(const char *err) {
    const char *p = err;
    size_t n = strlen(FUZZ_SCN_PATH);
    if (strncmp(p, FUZZ_SCN_PATH ":", n + 1) != 0)
        return 0;
    if (strchr(err, '\n'))
        return 0;
    p += n + 1;
    if (strstr(p, "out of memory"))
        return 1;
    for (int field = 0; field < 2; field++) {
        if (*p < '1' || *p > '9')
            return 0;
        while (*p >= '0' && *p <= '9')
            p++;
        if (*p++ != ':')
            return 0;
    }
    return *p == ' ' && p[1] != '\0';
}

static void fuzz_scn_check_plan(const plan *p) {
    char err[512];
    for (size_t i = 0; i < p->ndumps; i++) {
        const plan_dump *d = &p->dumps[i];
        dumpview v;
        if (dumpview_parse_text(sbuf_str(&d->expected), d->expected.len, &v, err, sizeof err) != 0) {
            if (strstr(err, "out of memory"))
                continue;
            abort(); /* the model's report does not parse */
        }
        for (size_t k = 0; k < d->nexpects; k++) {
            sbuf why = SBUF_INIT;
            scn_expect_eval(&d->expects[k], &v, scn_run_pid_name, (void *)p, &v, scn_run_pid_name, (void *)p,
                            &why);
            sbuf_release(&why);
        }
        dumpview_release(&v);
    }
    stream s;
    if (stream_from_plan(p, &s, err, sizeof err) != 0)
        return;
    uint8_t *image = NULL;
    size_t len = 0;
    if (stream_encode(&s, &image, &len) == 0) {
        stream back;
        if (stream_parse(image, len, "fuzz.allocstream", &back, err, sizeof err) != 0) {
            if (!strstr(err, "out of memory"))
                abort(); /* a stream the runner wrote cannot be read back */
        } else {
            if (back.digest != s.digest || back.nrecords != s.nrecords || back.nprocs != s.nprocs)
                abort();
            stream_release(&back);
        }
        mem_free(image);
    }
    stream_release(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    scn_script *script = NULL;
    char err[1024];
    err[0] = '\0';
    if (scn_parse((const char *)data, size, FUZZ_SCN_PATH, &script, err, sizeof err) != 0) {
        if (script || !fuzz_scn_error_ok(err))
            abort();
        return 0;
    }
    scn_run_opts o;
    scn_run_opts_init(&o);
    o.max_frames = 2000;
    o.max_buffers = 2000;
    o.max_statements = 20000;
    timeline *tl = size % 2 ? timeline_new() : NULL;
    o.timeline = tl;
    plan p;
    scn_run_info info;
    int rc = scn_run(script, &o, &p, &info, err, sizeof err);
    if (rc == SCN_RUN_OK) {
        fuzz_scn_check_plan(&p);
        plan_release(&p);
        scn_run_info_release(&info);
    } else if (!fuzz_scn_error_ok(err)) {
        abort();
    }
    if (tl) {
        sbuf t = SBUF_INIT;
        timeline_write(tl, &t);
        sbuf_release(&t);
        timeline_free(tl);
    }
    scn_script_free(script);
    return 0;
}
