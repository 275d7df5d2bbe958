/* cmd_bench: `allocsim bench` — how fast the harness drives a server, against the best a
 * client could do.
 *
 * One run measures, against fresh reference servers started the same way: (a) the harness
 * executing a simulated plan of N frames (stand-in process, connection, pid rewriting,
 * batching, the final fence), and (b) a bare loop writing the same frames, pre-encoded, in
 * 64 KiB writes, then one QUERY fence. Both end when the server has answered the fence, so
 * both include the server's own work. The ratio (a)/(b) is the figure the design asks to be
 * at least 0.9. The simulator's own speed is measured by build/bin/bench_sim.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmds.h"
#include "conn.h"
#include "mem.h"
#include "runner.h"
#include "sbuf.h"
#include "scn.h"
#include "scn_run.h"
#include "srvproc.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static srvproc *start_server(proto_rev rev, char *err, size_t errlen) {
    srvproc_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.rev = rev;
    static const char *const quiet_stats[] = {"--stats-interval", "0", NULL};
    cfg.extra_args = quiet_stats;
    srvproc *s = NULL;
    if (srvproc_start(&cfg, &s, err, errlen) != 0)
        return NULL;
    if (srvproc_wait_ready(s, 10000, err, errlen) != 0) {
        srvproc_free(s);
        return NULL;
    }
    return s;
}

/* Builds the benchmark plan: one process, `pairs` ALLOC/FREE pairs on an n150 (2 frames each). */
static int build_plan(uint64_t pairs, proto_rev rev, plan *p, char *err, size_t errlen) {
    sbuf text = SBUF_INIT;
    sbuf_printf(&text, "mesh n150\nprocess bench\n  open\n  repeat %" PRIu64 " {\n    alloc a DRAM 4KiB\n    free a\n  }\n  close\n",
                pairs);
    scn_script *s = NULL;
    int rc = scn_parse(text.data, text.len, "bench.scn", &s, err, errlen);
    sbuf_release(&text);
    if (rc != 0)
        return -1;
    scn_run_opts o;
    scn_run_opts_init(&o);
    o.has_rev = 1;
    o.rev = rev;
    o.expected_text = 0;
    rc = scn_run(s, &o, p, NULL, err, errlen);
    scn_script_free(s);
    return rc == SCN_RUN_OK ? 0 : -1;
}

/* The bare loop: the plan's frames pre-encoded (pid = ours, alive), written in 64 KiB chunks. */
static int bare_loop(srvproc *srv, const plan *p, double *seconds, char *err, size_t errlen) {
    size_t fsize = proto_rev_get(p->rev)->frame_size;
    size_t n = 0;
    for (size_t i = 0; i < p->nsteps; i++)
        n += p->steps[i].kind == PLAN_SEND;
    uint8_t *bytes = mem_alloc(n * fsize + 1);
    if (!bytes) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t k = 0;
    int32_t me = (int32_t)getpid();
    for (size_t i = 0; i < p->nsteps; i++) {
        if (p->steps[i].kind != PLAN_SEND)
            continue;
        proto_msg m = p->steps[i].msg;
        m.process_id = me;
        proto_encode(p->rev, &m, bytes + k * fsize);
        k++;
    }
    conn c;
    int rc = -1;
    double t0 = now_s();
    if (conn_open(&c, srvproc_socket_path(srv), p->rev, 10000, err, errlen) == CONN_OK) {
        size_t total = n * fsize, off = 0;
        rc = 0;
        while (off < total && rc == 0) {
            size_t chunk = total - off < 65536 ? total - off : 65536;
            chunk -= chunk % fsize ? chunk % fsize : 0;
            if (conn_send(&c, bytes + off, chunk, err, errlen) != CONN_OK)
                rc = -1;
            off += chunk;
        }
        proto_msg reply;
        if (rc == 0 && conn_fence(&c, me, &reply, err, errlen) != CONN_OK)
            rc = -1;
        conn_close(&c, NULL, 0);
    }
    *seconds = now_s() - t0;
    mem_free(bytes);
    return rc;
}

int cmd_bench(int argc, char **argv) {
    uint64_t pairs = 100000;
    int repeat = 3;
    proto_rev rev = PROTO_V72;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--pairs") == 0 && i + 1 < argc) {
            pairs = strtoull(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc) {
            repeat = atoi(argv[++i]);
            if (repeat < 1 || repeat > 100) {
                fprintf(stderr, "allocsim bench: --repeat: expected 1..100\n");
                return 2;
            }
        } else if (strcmp(argv[i], "--protocol") == 0 && i + 1 < argc) {
            if (proto_rev_parse(argv[++i], &rev) != 0) {
                fprintf(stderr, "allocsim bench: --protocol: expected one of %s, found '%s'\n", proto_rev_names(), argv[i]);
                return 2;
            }
        } else {
            fprintf(stderr, "usage: allocsim bench [--pairs N] [--repeat N] [--protocol REV]\n"
                            "prints `bench <name> <value> <unit>` lines; see docs/benchmarks.md\n");
            return strcmp(argv[i], "--help") == 0 ? 0 : 2;
        }
    }
    if (pairs == 0 || pairs > 100000000ull) {
        fprintf(stderr, "allocsim bench: --pairs: expected 1..100000000\n");
        return 2;
    }
    char err[2048];
    plan p;
    memset(&p, 0, sizeof p);
    if (build_plan(pairs, rev, &p, err, sizeof err) != 0) {
        fprintf(stderr, "allocsim bench: %s\n", err);
        return 2;
    }
    uint64_t frames = p.frames;

    /* Alternate (b) the bare loop and (a) the harness, each against a fresh server, and keep
     * the best time of each: the machine is shared, the best run is the repeatable figure. */
    double bare_s = 1e30, harness_s = 1e30;
    for (int round = 0; round < repeat; round++) {
        double t;
        srvproc *srv = start_server(rev, err, sizeof err);
        if (!srv || bare_loop(srv, &p, &t, err, sizeof err) != 0) {
            fprintf(stderr, "allocsim bench: bare loop: %s\n", err);
            srvproc_free(srv);
            plan_release(&p);
            return 3;
        }
        srvproc_free(srv);
        if (t < bare_s)
            bare_s = t;
        srv = start_server(rev, err, sizeof err);
        if (!srv) {
            fprintf(stderr, "allocsim bench: %s\n", err);
            plan_release(&p);
            return 3;
        }
        runner_opts ro;
        runner_opts_default(&ro);
        runner_result res;
        double t0 = now_s();
        runner_status st = runner_run_plan(srv, &p, &ro, NULL, &res);
        t = now_s() - t0;
        if (st != RUNNER_OK) {
            fprintf(stderr, "allocsim bench: harness run: %s\n", sbuf_str(&res.message));
            runner_result_release(&res);
            srvproc_free(srv);
            plan_release(&p);
            return 3;
        }
        runner_result_release(&res);
        srvproc_free(srv);
        if (t < harness_s)
            harness_s = t;
    }
    plan_release(&p);

    double bare_rate = (double)frames / bare_s, harness_rate = (double)frames / harness_s;
    printf("bench bare_loop_msgs_per_s %.0f msgs/s\n", bare_rate);
    printf("bench harness_msgs_per_s %.0f msgs/s\n", harness_rate);
    printf("bench harness_vs_bare_ratio %.3f ratio\n", harness_rate / bare_rate);
    printf("bench frames %" PRIu64 " frames (protocol %s)\n", frames, proto_rev_get(rev)->name);
    return 0;
}
