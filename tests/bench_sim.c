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
 * usage: bench_sim [ITERATIONS]   (default 100000: 25.6 million frames)
 * prints: bench sim_msgs_per_s <value> msgs/s
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "scn.h"
#include "scn_run.h"

static double bench_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
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
    return 0;
}
