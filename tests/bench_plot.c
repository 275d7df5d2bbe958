/* bench_plot: how long the plot driver takes on a large timeline (docs/plots.md, "Large
 * timelines").
 *
 * Writes a deterministic synthetic T3K timeline of N rows (default 10^6; 8 devices, weights
 * loading, then decode churn in DRAM and L1, TRACE captured half way and released near the end)
 * to DIR/bench.timeline.tsv, then times plot_render on it twice: once without gnuplot (parse,
 * downsample, write data + script) and once with gnuplot to DIR/bench.png.
 *
 * usage: bench_plot [ROWS] [DIR]      (DIR defaults to a fresh /tmp/allocsim-bench-plot-XXXXXX)
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plot.h"

static double bench_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t bench_rng(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 33;
}

int main(int argc, char **argv)
{
    uint64_t rows = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
    char dir[256], tsv[512], png[512], err[4096];
    uint64_t st[8][4], t = 0, seed = 1, i;
    const uint64_t mib = 1 << 20;
    FILE *f;
    plot_opts o;
    double t0, t1, t2;
    int d, rc;

    if (argc > 2) {
        snprintf(dir, sizeof dir, "%s", argv[2]);
    } else {
        snprintf(dir, sizeof dir, "/tmp/allocsim-bench-plot-XXXXXX");
        if (!mkdtemp(dir)) {
            perror("mkdtemp");
            return 2;
        }
    }
    snprintf(tsv, sizeof tsv, "%s/bench.timeline.tsv", dir);
    snprintf(png, sizeof png, "%s/bench.png", dir);
    f = fopen(tsv, "w");
    if (!f) {
        perror(tsv);
        return 2;
    }
    memset(st, 0, sizeof st);
    fprintf(f, "#allocsim-timeline v1\n#title bench: %" PRIu64
               " rows, 8 devices, synthetic decode churn, seed 1\n#time_unit ns\n",
            rows);
    for (d = 0; d < 8; d++)
        fprintf(f, "#capacity %d 12524901504 76910848 1376256 360000000\n", d);
    fprintf(f, "time\tdevice\tDRAM\tL1\tL1_SMALL\tTRACE\n#phase 0 open\n");
    for (i = 0; i < rows; i++) {
        uint64_t *s;
        d = (int)(i % 8);
        s = st[d];
        t += 1 + bench_rng(&seed) % 20000;
        if (i < rows / 10) {
            s[0] += 16384 * (1 + bench_rng(&seed) % 16);
        } else {
            if (i % 3 == 0) {
                uint64_t delta = (bench_rng(&seed) % 5) * mib;
                s[0] = (bench_rng(&seed) & 1) ? s[0] + delta : (s[0] > delta ? s[0] - delta : 0);
            }
            s[1] = (2 + bench_rng(&seed) % 29) * mib;
        }
        if (i == rows / 2 && d == 0)
            fprintf(f, "#phase %" PRIu64 " trace_begin\n", t);
        if (i >= rows / 2 && i < rows / 2 + 8)
            s[3] = 12503040;
        if (i >= rows / 100 * 95 && i < rows / 100 * 95 + 8)
            s[3] = 0;
        fprintf(f, "%" PRIu64 "\t%d\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\n", t, d,
                s[0], s[1], s[2], s[3]);
    }
    fprintf(f, "#phase %" PRIu64 " exit\n", t);
    if (fclose(f) != 0) {
        perror(tsv);
        return 2;
    }

    memset(&o, 0, sizeof o);
    o.output_path = png;
    o.gnuplot = "/nonexistent/gnuplot";
    o.keep_script = 1;
    t0 = bench_now_s();
    rc = plot_render(tsv, &o, err, sizeof err);
    t1 = bench_now_s();
    if (rc != PLOT_NO_GNUPLOT) {
        fprintf(stderr, "bench_plot: %s\n", err);
        return 1;
    }
    o.gnuplot = NULL;
    o.keep_script = 0;
    rc = plot_render(tsv, &o, err, sizeof err);
    t2 = bench_now_s();
    printf("timeline: %s (%" PRIu64 " rows)\n", tsv, rows);
    printf("parse + downsample + data/script: %.3f s\n", t1 - t0);
    if (rc == PLOT_OK)
        printf("total with gnuplot (%s): %.3f s\n", png, t2 - t1);
    else
        printf("gnuplot: %s\n", err);
    return 0;
}
