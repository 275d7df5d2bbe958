/* bench_harness: messages per second into the reference server, harness versus a bare loop.
 *
 * design.md §6 asks the harness to reach at least 0.9 of what a bare loop writing pre-encoded
 * frames achieves against the same server. Both sides here talk to one allocsim-server
 * (started through the socket shim, its output drained by srvproc as in every run) and send
 * the same N frames (ALLOC/FREE pairs) on one connection, then wait for a fence so every frame
 * is known to be handled:
 *   bare    one write() per pre-encoded frame, straight on a socket;
 *   runner  runner_run_stream on a stream of one WRITE record per frame (pids rewritten to a
 *           live stand-in, consecutive whole frames batched into one write).
 * The CPU time this process spends per message (sending plus draining the server's output)
 * is printed for both sides too: it shows the harness's own cost without the server's.
 * Also measured, as costs a run pays besides sending: starting the server until it accepts,
 * one fence round trip, and one stand-in's fork + exit + reap.
 * Usage: bench_harness [frames (default 200000)] [revision (default v72)] [rounds (default 3)]
 * The two sides alternate for the given rounds (the machine is shared; alternating spreads
 * the noise over both) and the best round of each is reported, as `bench <metric> <value>
 * <unit>` lines (docs/benchmarks.md). Wall-clock timing: a benchmark, not a test.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "runner.h"
#include "srvproc.h"
#include "standin.h"
#include "stream.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU seconds (user + system) of this process so far, reader threads included: less
 * sensitive than wall time to other jobs on a shared machine. */
static double cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static double last_cpu_ns_per_msg;

static proto_msg frame_msg(size_t i, int32_t pid) {
    proto_msg m;
    memset(&m, 0, sizeof m);
    m.type = (i % 2 == 0) ? PROTO_ALLOC : PROTO_FREE;
    m.device_id = (int32_t)((i / 2) % 8);
    m.size = 4096;
    m.buffer_type = PROTO_BUF_DRAM;
    m.process_id = pid;
    m.buffer_id = 0x100000 + (uint64_t)(i / 2) * 4096;
    return m;
}

static srvproc *start(proto_rev rev) {
    srvproc_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.rev = rev;
    const char *extra[] = {"--stats-interval", "0", NULL};
    cfg.extra_args = extra;
    srvproc *p = NULL;
    char err[2048];
    if (srvproc_start(&cfg, &p, err, sizeof err) != 0 || srvproc_wait_ready(p, 10000, err, sizeof err) != 0) {
        fprintf(stderr, "bench_harness: %s\n", err);
        exit(1);
    }
    return p;
}

static double run_bare(proto_rev rev, size_t n) {
    srvproc *srv = start(rev);
    size_t fs = proto_rev_get(rev)->frame_size;
    uint8_t *frames = malloc(n * fs);
    for (size_t i = 0; i < n; i++) {
        proto_msg m = frame_msg(i, 0);
        proto_encode(rev, &m, frames + i * fs);
    }
    conn c;
    char err[512];
    if (conn_open(&c, srvproc_socket_path(srv), rev, 60000, err, sizeof err) != CONN_OK) {
        fprintf(stderr, "bench_harness: %s\n", err);
        exit(1);
    }
    double t0 = now_s(), c0 = cpu_s();
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = frames + i * fs;
        size_t left = fs;
        while (left) {
            ssize_t w = write(c.fd, p, left);
            if (w > 0) {
                p += w;
                left -= (size_t)w;
            } else {
                struct timespec ts = {0, 20000};
                nanosleep(&ts, NULL); /* the socket is non-blocking: wait for room */
            }
        }
    }
    c.bytes_sent = (uint64_t)n * fs;
    if (conn_fence(&c, 0, NULL, err, sizeof err) != CONN_OK) {
        fprintf(stderr, "bench_harness: bare fence: %s\n", err);
        exit(1);
    }
    double dt = now_s() - t0;
    last_cpu_ns_per_msg = (cpu_s() - c0) * 1e9 / (double)n;
    conn_close(&c, err, sizeof err);
    free(frames);
    srvproc_free(srv);
    return (double)n / dt;
}

static double run_runner(proto_rev rev, size_t n) {
    srvproc *srv = start(rev);
    stream s;
    stream_init(&s, rev);
    stream_add_proc(&s, 4000000, "bench");
    stream_append(&s, STREAM_OP_SPAWN, 0, 0, NULL, 0);
    stream_append_connect(&s, 0, 0);
    for (size_t i = 0; i < n; i++) {
        proto_msg m = frame_msg(i, 4000000);
        stream_append_frame(&s, 0, &m);
    }
    stream_append(&s, STREAM_OP_FENCE, 0, 0, NULL, 0);
    runner_opts o;
    runner_opts_default(&o);
    o.timeout_ms = 60000;
    runner_result res;
    double t0 = now_s(), c0 = cpu_s();
    runner_status st = runner_run_stream(srv, &s, &o, &res);
    double dt = now_s() - t0;
    last_cpu_ns_per_msg = (cpu_s() - c0) * 1e9 / (double)n;
    if (st != RUNNER_OK) {
        fprintf(stderr, "bench_harness: runner: %s\n", sbuf_str(&res.message));
        exit(1);
    }
    runner_result_release(&res);
    stream_release(&s);
    srvproc_free(srv);
    return (double)n / dt;
}

/* Start-to-ready, fence round trip and stand-in cost, best of `rounds`. */
static void run_costs(proto_rev rev, int rounds, double *ready_ms, double *fence_us, double *standin_us) {
    *ready_ms = *fence_us = *standin_us = 1e30;
    for (int r = 0; r < rounds; r++) {
        double t0 = now_s();
        srvproc *srv = start(rev);
        double t = (now_s() - t0) * 1e3;
        *ready_ms = t < *ready_ms ? t : *ready_ms;
        conn c;
        char err[512];
        if (conn_open(&c, srvproc_socket_path(srv), rev, 10000, err, sizeof err) != CONN_OK) {
            fprintf(stderr, "bench_harness: %s\n", err);
            exit(1);
        }
        const int nf = 2000;
        t0 = now_s();
        for (int i = 0; i < nf; i++)
            if (conn_fence(&c, 0, NULL, err, sizeof err) != CONN_OK) {
                fprintf(stderr, "bench_harness: fence: %s\n", err);
                exit(1);
            }
        t = (now_s() - t0) * 1e6 / nf;
        *fence_us = t < *fence_us ? t : *fence_us;
        conn_close(&c, err, sizeof err);
        srvproc_free(srv);
        const int ns = 200;
        t0 = now_s();
        for (int i = 0; i < ns; i++) {
            standin si;
            if (standin_spawn(&si, err, sizeof err) != 0 || standin_exit(&si, err, sizeof err) != 0) {
                fprintf(stderr, "bench_harness: stand-in: %s\n", err);
                exit(1);
            }
        }
        t = (now_s() - t0) * 1e6 / ns;
        *standin_us = t < *standin_us ? t : *standin_us;
    }
}

int main(int argc, char **argv) {
    size_t n = argc > 1 ? (size_t)strtoull(argv[1], NULL, 10) : 200000;
    proto_rev rev = PROTO_V72;
    if (argc > 2 && proto_rev_parse(argv[2], &rev) != 0) {
        fprintf(stderr, "usage: bench_harness [frames] [%s] [rounds]\n", proto_rev_names());
        return 2;
    }
    int rounds = argc > 3 ? atoi(argv[3]) : 3;
    if (rounds < 1)
        rounds = 1;
    double bare = 0, runner = 0, bare_cpu = 1e30, runner_cpu = 1e30;
    for (int r = 0; r < rounds; r++) {
        double b = run_bare(rev, n);
        bare_cpu = last_cpu_ns_per_msg < bare_cpu ? last_cpu_ns_per_msg : bare_cpu;
        double h = run_runner(rev, n);
        runner_cpu = last_cpu_ns_per_msg < runner_cpu ? last_cpu_ns_per_msg : runner_cpu;
        bare = b > bare ? b : bare;
        runner = h > runner ? h : runner;
    }
    double ready_ms, fence_us, standin_us;
    run_costs(rev, rounds, &ready_ms, &fence_us, &standin_us);
    const char *rn = proto_rev_get(rev)->name;
    printf("bench harness_bare_msgs_per_s_%s %.0f msgs/s\n", rn, bare);
    printf("bench harness_runner_msgs_per_s_%s %.0f msgs/s\n", rn, runner);
    printf("bench harness_runner_over_bare_%s %.2f ratio\n", rn, runner / bare);
    printf("bench harness_bare_cpu_per_msg_%s %.0f ns\n", rn, bare_cpu);
    printf("bench harness_runner_cpu_per_msg_%s %.0f ns\n", rn, runner_cpu);
    printf("bench harness_server_ready_%s %.1f ms\n", rn, ready_ms);
    printf("bench harness_fence_round_trip_%s %.1f us\n", rn, fence_us);
    printf("bench harness_standin_spawn_exit %.0f us\n", standin_us);
    return 0;
}
