/* bench_sim: simulated messages per second of the simulator alone (design.md §6: at least
 * 10 million on one core).
 *
 * Generates a large scenario: two processes, each with its own Galaxy mesh (32 devices,
 * protocol v144-256), repeating alloc/free of a DRAM and an L1 buffer; every statement fans
 * out to 32 frames, and both processes use the same addresses so the ledger sees ref-count
 * traffic too. The run keeps no plan steps (keep_steps = 0): what is timed is the
 * interpreter, the event queue, the allocator model, the encoder, the XXH3 digest and the
 * ledger without output (emit = NULL), i.e. the simulator's hot path. Parsing is excluded.
 *
 * The second case is CB-heavy (issue 14): one process opens a Galaxy (v144-256: 4 system
 * kernels per device) and runs PROGRAMS distinct programs of 8 CBs each, then closes: every
 * program's first run sends 8 CB_ALLOCs to each of the 32 devices, the close 8 CB_FREEs per
 * program and device (5.1 million frames for 10^4 programs). Kept to under a second.
 *
 * usage: bench_sim [ITERATIONS [PROGRAMS]]   (defaults 100000: 25.6 million frames; 10000)
 * prints: bench sim_msgs_per_s <value> msgs/s
 *         bench sim_cb_programs_s <seconds> s  (and its frames per second)
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sbuf.h"
#include "scn.h"
#include "scn_run.h"

static double bench_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 10^4 programs x 8 CBs x 32 devices; timed like the first case (steps not kept). */
static int bench_cb(unsigned long long programs) {
    sbuf t = SBUF_INIT;
    sbuf_puts(&t, "protocol v144-256\nmesh galaxy\nprocess app\n  open\n");
    for (unsigned long long i = 0; i < programs; i++)
        sbuf_printf(&t, "  program p%llu cbs=4KiB,4KiB,4KiB,4KiB,2KiB,2KiB,8KiB,16KiB\n", i);
    sbuf_puts(&t, "  query\n  close\n");
    char err[512];
    scn_script *s;
    if (scn_parse(sbuf_str(&t), t.len, "bench_cb.scn", &s, err, sizeof err) < 0) {
        fprintf(stderr, "bench_sim: %s\n", err);
        sbuf_release(&t);
        return 2;
    }
    sbuf_release(&t);
    scn_run_opts o;
    scn_run_opts_init(&o);
    o.keep_steps = 0;
    plan p;
    double t0 = bench_now_s();
    int rc = scn_run(s, &o, &p, NULL, err, sizeof err);
    double secs = bench_now_s() - t0;
    scn_script_free(s);
    if (rc != SCN_RUN_OK) {
        fprintf(stderr, "bench_sim: %s\n", err);
        return 2;
    }
    printf("cb: %llu programs x 8 CBs x 32 devices: frames %" PRIu64 " in %.3f s (%.0f msgs/s), digest %016" PRIx64 "\n",
           programs, p.frames, secs, secs > 0 ? (double)p.frames / secs : 0.0, p.digest);
    printf("bench sim_cb_programs_s %.3f s\n", secs);
    plan_release(&p);
    return 0;
}

int main(int argc, char **argv) {
    unsigned long long iters = argc > 1 ? strtoull(argv[1], NULL, 10) : 100000;
    char text[1024];
    snprintf(text, sizeof text,
             "protocol v144-256\n"
             "mesh galaxy trace_region_size=30000000\n"
             "process a\n"
             "  open\n"
             "  repeat %llu {\n"
             "    alloc x DRAM 1MiB\n"
             "    alloc y L1 64KiB\n"
             "    free x\n"
             "    free y\n"
             "  }\n"
             "process b\n"
             "  open\n"
             "  repeat %llu {\n"
             "    alloc x DRAM 1MiB\n"
             "    alloc y L1 64KiB\n"
             "    free x\n"
             "    free y\n"
             "  }\n",
             iters, iters);
    char err[512];
    scn_script *s;
    if (scn_parse(text, strlen(text), "bench.scn", &s, err, sizeof err) < 0) {
        fprintf(stderr, "bench_sim: %s\n", err);
        return 2;
    }
    scn_run_opts o;
    scn_run_opts_init(&o);
    o.keep_steps = 0;
    plan p;
    double t0 = bench_now_s();
    int rc = scn_run(s, &o, &p, NULL, err, sizeof err);
    double t1 = bench_now_s();
    if (rc != SCN_RUN_OK) {
        fprintf(stderr, "bench_sim: %s\n", err);
        scn_script_free(s);
        return 2;
    }
    double secs = t1 - t0;
    printf("frames %" PRIu64 " in %.3f s, digest %016" PRIx64 "\n", p.frames, secs, p.digest);
    printf("bench sim_msgs_per_s %.0f msgs/s\n", secs > 0 ? (double)p.frames / secs : 0.0);
    plan_release(&p);
    scn_script_free(s);
    return bench_cb(argc > 2 ? strtoull(argv[2], NULL, 10) : 10000);
}
