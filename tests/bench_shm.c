/* bench_shm: SHM transport figures (docs/benchmarks.md). Not a timed test.
 *
 *   bench_shm [RECORDS]   (default 2 000 000)
 *
 * 1. records per second of one writer into a mapped v4 region (shmm_record_alloc / _free on
 *    the real-atomics backend, alternating, one chip);
 * 2. the same with 8 writer processes (fork) on the same region at once;
 * 3. the seed story in the SHM transport end to end (simulate, derive, 1 stand-in, 8 regions,
 *    2 check points), best of 5.
 * Regions live in a private directory under /dev/shm, removed at the end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "scn.h"
#include "scn_run.h"
#include "shm_io.h"
#include "shm_plan.h"
#include "shm_run.h"

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* One writer: attach, n records, detach. Returns seconds spent recording. */
static double writer(const shmio_dir *d, long n) {
    shmio_region rg;
    shmio_region_init(&rg, d, "tt_device_7_memory", 0600);
    shmm_ops ops;
    shmio_region_ops(&ops, &rg);
    shmm_config cfg;
    shmm_config_default(&cfg, SHML_V4, SHMM_SUB_V4C);
    shmm_process self;
    shmm_process_init(&self, (int32_t)getpid(), "bench");
    shmm_provider p;
    shmm_provider_init(&p, &cfg, &self, 7, 0);
    shmm_env env = {1, shmio_pid_state, NULL};
    shmm_attach(&p, &ops, &env, NULL);
    double t0 = now_s();
    for (long i = 0; i < n; i += 2) {
        shmm_record_alloc(&p, &ops, &env, 4096, SHML_TYPE_DRAM, 0, NULL);
        shmm_record_free(&p, &ops, &env, 4096, SHML_TYPE_DRAM, 0, NULL);
    }
    double t = now_s() - t0;
    shmm_detach(&p, &ops, &env, NULL);
    shmio_region_close(&rg);
    return t;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 2000000;
    shmio_dir d;
    char err[512];
    if (shmio_dir_open(&d, NULL, 0, err, sizeof err) < 0) {
        fprintf(stderr, "bench_shm: %s\n", err);
        return 3;
    }
    double t = writer(&d, n);
    printf("one writer: %ld records in %.3f s = %.1f M records/s\n", n, t, (double)n / t / 1e6);
    double t0 = now_s();
    for (int k = 0; k < 8; k++)
        if (fork() == 0) {
            writer(&d, n / 8);
            _exit(0);
        }
    for (int k = 0; k < 8; k++)
        wait(NULL);
    t = now_s() - t0;
    printf("8 writer processes, one region: %ld records in %.3f s = %.1f M records/s (incl. fork and attach)\n",
           n / 8 * 8, t, (double)(n / 8 * 8) / t / 1e6);
    /* the seed story end to end */
    const char *src = getenv("ALLOCSIM_SOURCE_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/scenarios/t3k_llama_trace.scn", src ? src : ALLOCSIM_SOURCE_DIR);
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return 2;
    }
    static char text[1 << 16];
    size_t len = fread(text, 1, sizeof text, f);
    fclose(f);
    double best = 1e9;
    for (int rep = 0; rep < 5; rep++) {
        double s0 = now_s();
        scn_script *s;
        plan p;
        shm_plan sp;
        shmrun x;
        scn_run_opts ro;
        scn_run_opts_init(&ro);
        if (scn_parse(text, len, path, &s, err, sizeof err) != 0 || scn_run(s, &ro, &p, NULL, err, sizeof err) != 0 ||
            shmp_build(s, &p, &sp, err, sizeof err) != 0 || shmrun_init(&x, &p, &sp, &d, NULL) != 0 ||
            shmrun_finish(&x) != 0) {
            fprintf(stderr, "bench_shm: seed story failed: %s %s\n", err, x.msg);
            return 1;
        }
        shmrun_release(&x);
        shmp_release(&sp);
        plan_release(&p);
        scn_script_free(s);
        double e = now_s() - s0;
        best = e < best ? e : best;
    }
    printf("seed story, SHM transport end to end (best of 5): %.4f s\n", best);
    shmio_dir_close(&d);
    return 0;
}
