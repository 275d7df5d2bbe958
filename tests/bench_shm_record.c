/* bench_shm_record: CPU cost of `allocsim shm record` sampling 8 chips every 10 ms
 * (docs/benchmarks.md). Writes 8 v4 regions into a private directory, samples them with
 * shmr_sample at the given interval for the given time while rewriting one counter between
 * samples (so rows are written), and prints the process CPU time over wall time:
 *
 *   bench_shm_record [SECONDS] [INTERVAL_MS]       (defaults 5 s, 10 ms)
 *   bench shm_record_cpu_percent 0.31 (8 chips, 10 ms, 500 samples)
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sbuf.h"
#include "shm_layout.h"
#include "shm_record.h"

static double ts_s(clockid_t c) {
    struct timespec t;
    clock_gettime(c, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    double secs = argc > 1 ? atof(argv[1]) : 5.0;
    long interval = argc > 2 ? atol(argv[2]) : 10;
    char dir[] = "/tmp/allocsim-bench-shm-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 2;
    }
    static uint8_t buf[8576];
    shml_region r;
    for (int chip = 0; chip < 8; chip++) {
        memset(&r, 0, sizeof r);
        r.version = 4;
        r.init_state = SHML_INIT_READY;
        r.device_id = (uint32_t)chip;
        r.asic_id = (uint64_t)chip;
        for (int s = 0; s < SHML_MAX_CHIPS; s++)
            r.chips[s].chip_id = SHML_CHIP_UNUSED;
        r.num_active_processes = 2;
        for (int p = 0; p < 2; p++) {
            r.processes[p].pid = 1;
            r.processes[p].counters[SHML_CTR_DRAM] = 1u << 20;
        }
        r.totals[SHML_CTR_DRAM] = 2u << 20;
        shml_encode(SHML_V4, &r, buf, sizeof buf, NULL, 0);
        char path[128];
        snprintf(path, sizeof path, "%s/tt_device_%d_memory", dir, chip);
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(buf, 1, sizeof buf, f) != sizeof buf)
            return 2;
        fclose(f);
    }
    char out_path[160];
    snprintf(out_path, sizeof out_path, "%s/record.tsv", dir);
    FILE *out = fopen(out_path, "w");
    shmr_options o = {dir, "t3k", interval, 0};
    char err[128];
    shmr_recorder *rec = shmr_open(&o, out, 0, err, sizeof err);
    if (!rec)
        return 2;
    double w0 = ts_s(CLOCK_MONOTONIC), c0 = ts_s(CLOCK_PROCESS_CPUTIME_ID), sample_cpu = 0;
    long samples = 0;
    while (ts_s(CLOCK_MONOTONIC) - w0 < secs) {
        double a = ts_s(CLOCK_PROCESS_CPUTIME_ID);
        sbuf e = SBUF_INIT;
        shmr_sample(rec, (uint64_t)((ts_s(CLOCK_MONOTONIC) - w0) * 1e9), &e);
        sbuf_release(&e);
        fflush(out);
        sample_cpu += ts_s(CLOCK_PROCESS_CPUTIME_ID) - a;
        samples++;
        usleep((useconds_t)interval * 1000u);
    }
    double wall = ts_s(CLOCK_MONOTONIC) - w0, cpu = ts_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
    printf("bench shm_record_cpu_percent %.3f (8 chips, %ld ms, %ld samples, %.1f us CPU per sample, %.3f %% including the loop)\n",
           100.0 * sample_cpu / wall, interval, samples, 1e6 * sample_cpu / (double)samples, 100.0 * cpu / wall);
    shmr_close(rec);
    fclose(out);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 0;
}
