/* test_plot: the plot driver (plots/plot.c) and `allocsim plot` (cli/cmd_plot.c).
 *
 * Known answers come from outside the code: tests/data/plot/small.tsv is a hand-written
 * two-device timeline whose expected step series (small.data.tsv) was written by hand from
 * the step rule, and whose script settings (units, ranges, peaks, ticks) are derived in the
 * comments below; small.gp is the full script golden, reviewed against those derivations.
 * Parser errors are checked message by message with the column counted by hand. Pictures are
 * checked by their file signatures when gnuplot is installed.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmds.h"
#include "mem.h"
#include "plot.h"

static const char *source_dir(void)
{
    const char *s = getenv("ALLOCSIM_SOURCE_DIR");
    return s && *s ? s : ALLOCSIM_SOURCE_DIR;
}

static char *data_path(const char *name)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/tests/data/plot/%s", source_dir(), name);
    return buf;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    if (len)
        *len = (size_t)n;
    return buf;
}

/* A fresh directory to work in; the process chdirs into it (Check forks each test). */
static void enter_tmpdir(char *dir, size_t len)
{
    snprintf(dir, len, "/tmp/allocsim-test-plot-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    ck_assert_int_eq(chdir(dir), 0);
}

static void leave_tmpdir(const char *dir, const char *const *files)
{
    size_t i;
    for (i = 0; files[i]; i++)
        unlink(files[i]);
    ck_assert_int_eq(chdir("/"), 0);
    rmdir(dir);
}

static int parse_text(const char *text, plot_timeline *tl, char *err, size_t errlen)
{
    return plot_timeline_parse(text, strlen(text), "t.tsv", tl, err, errlen);
}

static int gnuplot_available(void)
{
    if (access("/usr/bin/gnuplot", X_OK) == 0 || access("/usr/local/bin/gnuplot", X_OK) == 0)
        return 1;
    return ALLOCSIM_GNUPLOT[0] != '\0' && access(ALLOCSIM_GNUPLOT, X_OK) == 0;
}

/* ---- parser ----------------------------------------------------------------------------- */

START_TEST(parse_small)
{
    plot_timeline tl;
    char err[512] = "";
    ck_assert_int_eq(plot_timeline_load(data_path("small.tsv"), &tl, err, sizeof err), 0);
    ck_assert_str_eq(tl.title, "small: two devices, seed 7, revision r2");
    ck_assert_int_eq(tl.time_unit, PLOT_TIME_NS);
    ck_assert_uint_eq(tl.nrows, 7);
    ck_assert_int_eq(tl.ndevice_slots, 2);
    /* Row "400 0 4096 1024 512 12288": TSV order DRAM L1 L1_SMALL TRACE. */
    ck_assert_uint_eq(tl.rows[4].time, 400);
    ck_assert_int_eq(tl.rows[4].device, 0);
    ck_assert_uint_eq(tl.rows[4].bytes[PLOT_DRAM], 4096);
    ck_assert_uint_eq(tl.rows[4].bytes[PLOT_L1], 1024);
    ck_assert_uint_eq(tl.rows[4].bytes[PLOT_L1_SMALL], 512);
    ck_assert_uint_eq(tl.rows[4].bytes[PLOT_TRACE], 12288);
    /* "#capacity 1 1000000 65536 8192 200000" */
    ck_assert(tl.has_capacity[1]);
    ck_assert_uint_eq(tl.capacity[1 * PLOT_NREGIONS + PLOT_DRAM], 1000000);
    ck_assert_uint_eq(tl.capacity[1 * PLOT_NREGIONS + PLOT_L1], 65536);
    ck_assert_uint_eq(tl.capacity[1 * PLOT_NREGIONS + PLOT_L1_SMALL], 8192);
    ck_assert_uint_eq(tl.capacity[1 * PLOT_NREGIONS + PLOT_TRACE], 200000);
    ck_assert_uint_eq(tl.nphases, 4);
    ck_assert_str_eq(tl.phases[1].label, "trace_begin");
    ck_assert_uint_eq(tl.phases[3].time, 600);
    plot_timeline_release(&tl);
}
END_TEST

START_TEST(parse_phases_sorted_stably_and_anywhere)
{
    plot_timeline tl;
    char err[512] = "";
    const char *text = "#allocsim-timeline v1\r\n"
                       "#phase 50 late\r\n"
                       "#time_unit line\r\n"
                       "#phase 10 first  \r\n"
                       "time\tdevice\tDRAM\tL1\tL1_SMALL\tTRACE\r\n"
                       "5\t3\t1\t2\t3\t4\r\n"
                       "#phase 10 second one\r\n"
                       "#some_future_directive 1 2 3\r\n"
                       "\r\n";
    ck_assert_msg(parse_text(text, &tl, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(tl.time_unit, PLOT_TIME_LINE);
    ck_assert_str_eq(tl.title, "");
    ck_assert_uint_eq(tl.nphases, 3);
    ck_assert_str_eq(tl.phases[0].label, "first");
    ck_assert_str_eq(tl.phases[1].label, "second one");
    ck_assert_str_eq(tl.phases[2].label, "late");
    ck_assert_int_eq(tl.ndevice_slots, 4);
    ck_assert(tl.has_rows[3] && !tl.has_rows[0]);
    ck_assert_uint_eq(tl.rows[0].bytes[PLOT_TRACE], 4);
    plot_timeline_release(&tl);
}
END_TEST

static const struct {
    const char *text;
    const char *error;
} bad_inputs[] = {
    {"", "t.tsv:1:1: expected \"#allocsim-timeline v1\", found end of file"},
    {"#allocsim-timeline v2\n",
     "t.tsv:1:1: expected \"#allocsim-timeline v1\", found \"#allocsim-timeline v2\""},
    {"#allocsim-timeline v1\n#time_unit us\n",
     "t.tsv:2:12: expected \"ns\" or \"line\", found \"us\""},
    {"#allocsim-timeline v1\n0\t0\t1\t2\t3\t4\n",
     "t.tsv:2:1: expected the header row \"time\\tdevice\\tDRAM\\tL1\\tL1_SMALL\\tTRACE\", "
     "found \"0\\t0\\t1\\t2\\t3\\t4\""},
    {"#allocsim-timeline v1\n#title x\n",
     "t.tsv:3:1: expected the header row \"time\\tdevice\\tDRAM\\tL1\\tL1_SMALL\\tTRACE\", "
     "found end of file"},
    {"#allocsim-timeline v1\ntime\tdevice\tDRAM\tL1\tL1_SMALL\tTRACE\n5\t0\t1x\t0\t0\t0\n",
     "t.tsv:3:5: expected an unsigned decimal integer (DRAM bytes), found \"1x\""},
    {"#allocsim-timeline v1\ntime\tdevice\tDRAM\tL1\tL1_SMALL\tTRACE\n5\t0\t1\t2\t3\n",
     "t.tsv:3:10: expected 6 tab-separated fields (TRACE bytes), found end of line"},
    {"#allocsim-timeline v1\ntime\tdevice\tDRAM\tL1\tL1_SMALL\tTRACE\n5\t0\t1\t2\t3\t4\t9\n",
     "t.tsv:3:12: expected end of line after 6 fields, found \"\\t9\""},
    {"#allocsim-timeline v1\ntime\tdevice\tDRAM\tL1\tL1_SMALL\tTRACE\n10\t0\t1\t2\t3\t4\n"
     "5\t0\t1\t2\t3\t4\n",
     "t.tsv:4:1: expected time >= 10 (rows in time order), found \"5\""},
    {"#allocsim-timeline v1\ntime\tdevice\tDRAM\tL1\tL1_SMALL\tTRACE\n5\t2000\t1\t2\t3\t4\n",
     "t.tsv:3:3: expected a device id 0..1023, found \"2000\""},
    {"#allocsim-timeline v1\ntime\tdevice\tDRAM\tL1\tL1_SMALL\tTRACE\n"
     "99999999999999999999\t0\t1\t2\t3\t4\n",
     "t.tsv:3:1: expected an unsigned decimal integer below 2^64 (time), "
     "found \"99999999999999999999\""},
    {"#allocsim-timeline v1\n#capacity 0 1 2 x 4\n",
     "t.tsv:2:17: expected an unsigned decimal integer (L1_SMALL capacity), found \"x\""},
    {"#allocsim-timeline v1\n#capacity 0 1 2 3\n",
     "t.tsv:2:18: expected an unsigned decimal integer (TRACE capacity), found end of line"},
    {"#allocsim-timeline v1\n#capacity 1024 1 2 3 4\n",
     "t.tsv:2:11: expected a device id 0..1023, found \"1024\""},
    {"#allocsim-timeline v1\n#phase 10\n", "t.tsv:2:10: expected a phase label, found end of line"},
    {"#allocsim-timeline v1\n#phase -3 x\n",
     "t.tsv:2:8: expected an unsigned decimal integer (phase time), found \"-3\""},
    {"#allocsim-timeline v1\ntime\tdevice\tDRAM\tL1\tL1_SMALL\tTRACE\n"
     "time\tdevice\tDRAM\tL1\tL1_SMALL\tTRACE\n",
     "t.tsv:3:1: expected a data row, found \"time\\tdevice\\tDRAM\\tL1\\tL1_SMALL\\tTRACE\""},
};

START_TEST(parse_malformed)
{
    plot_timeline tl;
    char err[512];
    err[0] = '\0';
    ck_assert_int_eq(parse_text(bad_inputs[_i].text, &tl, err, sizeof err), -1);
    ck_assert_str_eq(err, bad_inputs[_i].error);
    ck_assert_ptr_null(tl.rows);
    ck_assert_uint_eq(tl.nrows, 0);
}
END_TEST

START_TEST(parse_out_of_memory_is_an_error)
{
    plot_timeline tl;
    char err[512] = "";
    size_t len;
    char *text = read_file(data_path("small.tsv"), &len);
    long n;
    ck_assert_ptr_nonnull(text);
    /* Fail the N-th allocation for every N until parsing succeeds: never a crash or leak. */
    for (n = 0;; n++) {
        int rc;
        mem_fail_after(n);
        rc = plot_timeline_parse(text, len, "s", &tl, err, sizeof err);
        mem_fail_after(-1);
        if (rc == 0)
            break;
        ck_assert_str_eq(err, "out of memory");
    }
    ck_assert_int_gt(n, 0);
    ck_assert_uint_eq(tl.nrows, 7);
    plot_timeline_release(&tl);
    free(text);
}
END_TEST

/* ---- series / downsampling ---------------------------------------------------------------- */

START_TEST(series_exact_small)
{
    plot_timeline tl;
    plot_point *pts;
    size_t n;
    char err[256];
    ck_assert_int_eq(plot_timeline_load(data_path("small.tsv"), &tl, err, sizeof err), 0);
    ck_assert_int_eq(plot_series_build(&tl, 1, 0, 613, 2000, &pts, &n, err, sizeof err), 0);
    /* Device 1 has 3 rows: start, 2 points per change, end. */
    ck_assert_uint_eq(n, 8);
    ck_assert_uint_eq(pts[0].time, 0);
    ck_assert_uint_eq(pts[0].bytes[PLOT_DRAM], 0);
    /* At 210 the old state (DRAM 4096 only) then the new one. */
    ck_assert_uint_eq(pts[3].time, 210);
    ck_assert_uint_eq(pts[3].bytes[PLOT_TRACE], 0);
    ck_assert_uint_eq(pts[4].time, 210);
    ck_assert_uint_eq(pts[4].bytes[PLOT_TRACE], 12288);
    ck_assert_uint_eq(pts[4].bytes[PLOT_L1], 2048);
    ck_assert_uint_eq(pts[7].time, 613);
    ck_assert_uint_eq(pts[7].bytes[PLOT_TRACE], 0);
    mem_free(pts);
    plot_timeline_release(&tl);
}
END_TEST

/* 10^5 rows on device 0 with a sawtooth, one isolated peak and one isolated dip. */
static void build_large(plot_timeline *tl, size_t nrows, size_t peak_at, size_t dip_at)
{
    size_t i;
    char err[256];
    ck_assert_int_eq(parse_text("#allocsim-timeline v1\n"
                                "time\tdevice\tDRAM\tL1\tL1_SMALL\tTRACE\n",
                                tl, err, sizeof err),
                     0);
    tl->rows = mem_alloc(nrows * sizeof *tl->rows);
    ck_assert_ptr_nonnull(tl->rows);
    for (i = 0; i < nrows; i++) {
        plot_row *r = &tl->rows[i];
        memset(r, 0, sizeof *r);
        r->time = 1000 + 7 * (uint64_t)i;
        r->device = 0;
        r->bytes[PLOT_DRAM] = 1000000 + (i % 97) * 1000;
        r->bytes[PLOT_L1] = 5000 + (i % 13);
        if (i == peak_at)
            r->bytes[PLOT_TRACE] = 12503040;
        if (i == dip_at)
            r->bytes[PLOT_DRAM] = 3;
    }
    tl->nrows = nrows;
    tl->has_rows[0] = 1;
    tl->ndevice_slots = 1;
}

START_TEST(series_downsample_keeps_peak_and_dip)
{
    plot_timeline tl;
    plot_point *pts;
    size_t n, i, nrows = 100000, peak_at = 61234, dip_at = 3333;
    uint64_t t_end = 1000 + 7 * (uint64_t)(nrows - 1) + 10, best = 0, best_t = 0, low = UINT64_MAX;
    char err[256];
    build_large(&tl, nrows, peak_at, dip_at);
    ck_assert_int_eq(plot_series_build(&tl, 0, 0, t_end, 2000, &pts, &n, err, sizeof err), 0);
    ck_assert_uint_le(n, 2000);
    ck_assert_uint_gt(n, 1000); /* buckets are used, not left empty */
    for (i = 0; i < n; i++) {
        uint64_t tot = pts[i].bytes[0] + pts[i].bytes[1] + pts[i].bytes[2] + pts[i].bytes[3];
        if (i > 0)
            ck_assert_uint_ge(pts[i].time, pts[i - 1].time);
        if (tot > best) {
            best = tot;
            best_t = pts[i].time;
        }
        if (i >= 2 && tot < low) /* points 0 and 1: the empty state before the first row */
            low = tot;
    }
    /* The peak row: DRAM 1000000 + (61234 % 97) * 1000, L1 5000 + 61234 % 13, TRACE. */
    ck_assert_uint_eq(best, 1000000 + (61234 % 97) * 1000 + 5000 + 61234 % 13 + 12503040);
    ck_assert_uint_eq(best_t, 1000 + 7 * 61234);
    ck_assert_uint_eq(low, 3 + 5000 + 3333 % 13);
    ck_assert_uint_eq(pts[0].time, 0);
    ck_assert_uint_eq(pts[n - 1].time, t_end);
    /* The last state is the last row's. */
    ck_assert_uint_eq(pts[n - 1].bytes[PLOT_DRAM], 1000000 + ((nrows - 1) % 97) * 1000);
    mem_free(pts);
    ck_assert_int_eq(plot_series_build(&tl, 0, 0, t_end, 16, &pts, &n, err, sizeof err), 0);
    ck_assert_uint_le(n, 16);
    mem_free(pts);
    plot_timeline_release(&tl);
}
END_TEST

/* ---- leaks and units ---------------------------------------------------------------------- */

START_TEST(bytes_human_units)
{
    char b[32];
    plot_bytes_human(0, b, sizeof b);
    ck_assert_str_eq(b, "0 B");
    plot_bytes_human(1023, b, sizeof b);
    ck_assert_str_eq(b, "1023 B");
    plot_bytes_human(1024, b, sizeof b);
    ck_assert_str_eq(b, "1.0 KiB");
    /* The seed's TRACE buffer: 12503040 / 2^20 = 11.92 */
    plot_bytes_human(12503040, b, sizeof b);
    ck_assert_str_eq(b, "11.9 MiB");
    plot_bytes_human(3ULL << 29, b, sizeof b);
    ck_assert_str_eq(b, "1.5 GiB");
}
END_TEST

START_TEST(leaks_listed_per_device_and_region)
{
    plot_timeline tl;
    sbuf b = SBUF_INIT;
    char err[256];
    int devs[] = {0, 1};
    const char *text = "#allocsim-timeline v1\n"
                       "time\tdevice\tDRAM\tL1\tL1_SMALL\tTRACE\n"
                       "1\t3\t100\t0\t0\t12503040\n"
                       "2\t1\t5\t6\t7\t8\n"
                       "3\t3\t0\t0\t0\t12503040\n"
                       "4\t1\t0\t0\t0\t0\n";
    ck_assert_int_eq(parse_text(text, &tl, err, sizeof err), 0);
    {
        int sel[] = {1, 3};
        plot_leaks_format(&tl, sel, 2, &b);
    }
    ck_assert_str_eq(sbuf_str(&b),
                     "leak: device 3 TRACE 12503040 bytes (11.9 MiB) remaining at end\n");
    sbuf_reset(&b);
    plot_leaks_format(&tl, devs, 2, &b); /* device 0 has no rows, device 1 ends empty */
    ck_assert_str_eq(sbuf_str(&b), "no memory remaining at end of timeline\n");
    sbuf_release(&b);
    plot_timeline_release(&tl);
}
END_TEST

/* ---- render: golden data + script --------------------------------------------------------- */

START_TEST(render_small_golden_without_gnuplot)
{
    char dir[64], err[1024] = "";
    plot_opts o;
    sbuf report = SBUF_INIT;
    char *got, *want;
    const char *files[] = {"small.data.tsv", "small.gp", "small.png", NULL};
    int rc;
    memset(&o, 0, sizeof o);
    enter_tmpdir(dir, sizeof dir);
    o.output_path = "small.png";
    o.gnuplot = "/nonexistent/gnuplot";
    o.report = &report;
    rc = plot_render(data_path("small.tsv"), &o, err, sizeof err);
    ck_assert_int_eq(rc, PLOT_NO_GNUPLOT);
    ck_assert_str_eq(err, "gnuplot not found; render with: gnuplot small.gp");
    ck_assert_str_eq(sbuf_str(&report),
                     "leak: device 0 TRACE 12288 bytes (12.0 KiB) remaining at end\n"
                     "wrote small.data.tsv and small.gp\n");
    got = read_file("small.data.tsv", NULL);
    want = read_file(data_path("small.data.tsv"), NULL);
    ck_assert_ptr_nonnull(got);
    ck_assert_ptr_nonnull(want);
    ck_assert_str_eq(got, want);
    free(got);
    free(want);
    got = read_file("small.gp", NULL);
    want = read_file(data_path("small.gp"), NULL);
    ck_assert_ptr_nonnull(got);
    ck_assert_ptr_nonnull(want);
    ck_assert_str_eq(got, want);
    /* Hand-derived settings. Peaks: device 0 4096+12288+1024+512 = 17920 at 400, device 1
     * 4096+2048+12288 = 18432 at 210; y axis in KiB up to 18432 * 9/8 + 1. Log strip: the
     * smallest value 512 = 2^9 gives a floor of 2^8, the largest capacity 1000000 < 2^20 a
     * top of 2^20, ticks every 2 powers of two. End of time axis: 600 + 600/50 + 1. */
    ck_assert_ptr_nonnull(strstr(got, "ymax = 20737.0; yscale = 1024.0; yunit = \"KiB\"\n"));
    ck_assert_ptr_nonnull(strstr(got, "logmin = 256.0; logmax = 1048576.0\n"));
    ck_assert_ptr_nonnull(strstr(got, "\"256 KiB\" 262144.0)'\n"));
    ck_assert_ptr_nonnull(strstr(got, "xmin = 0.0; xmax = 613.0\n"));
    ck_assert_ptr_nonnull(strstr(got, "\"device 0: peak 17.5 KiB at 400 ns\""));
    ck_assert_ptr_nonnull(strstr(got, "\"device 1: peak 18.0 KiB at 210 ns\""));
    ck_assert_ptr_nonnull(strstr(got, "NDEV = 2; NCOLS = 2; NROWS = 1\n"));
    ck_assert_ptr_nonnull(strstr(got, "set output \"small.png\"\n"));
    ck_assert_ptr_null(strstr(got, "\n@SETTINGS@\n"));
    free(got);
    free(want);
    sbuf_release(&report);
    leave_tmpdir(dir, files);
}
END_TEST

START_TEST(render_device_selection_and_labels)
{
    char dir[64], err[1024] = "";
    plot_opts o;
    char *gp;
    const char *files[] = {"t3k.data.tsv", "t3k.gp", "t3k.svg", NULL};
    memset(&o, 0, sizeof o);
    enter_tmpdir(dir, sizeof dir);
    o.output_path = "t3k.svg";
    o.gnuplot = "/nonexistent/gnuplot";
    o.devices = "5,0,3";
    o.title = "override \"quoted\"";
    ck_assert_int_eq(plot_render(data_path("seed_like.tsv"), &o, err, sizeof err),
                     PLOT_NO_GNUPLOT);
    gp = read_file("t3k.gp", NULL);
    ck_assert_ptr_nonnull(gp);
    ck_assert_ptr_nonnull(strstr(gp, "set terminal svg size"));
    ck_assert_ptr_nonnull(strstr(gp, "array dev[3] = [0, 3, 5]\n"));
    ck_assert_ptr_nonnull(strstr(gp, "figure_title = \"override \\\"quoted\\\"\"\n"));
    /* trace_begin (15 s), trace_end (15.2 s) and decode (15.3 s) are a few pixels apart on a
     * 27 s axis: one label for the three, three lines. */
    ck_assert_ptr_nonnull(strstr(gp, "\"trace_begin, trace_end, decode\""));
    ck_assert_ptr_nonnull(strstr(gp, "NPHASE = 10\n"));
    free(gp);
    leave_tmpdir(dir, files);
}
END_TEST

START_TEST(render_errors)
{
    char err[1024] = "";
    plot_opts o;
    memset(&o, 0, sizeof o);
    o.gnuplot = "/nonexistent/gnuplot";
    o.output_path = "/tmp/x.jpg";
    ck_assert_int_eq(plot_render(data_path("small.tsv"), &o, err, sizeof err), PLOT_ERR_INPUT);
    ck_assert_str_eq(err, "expected an output file ending in .png or .svg, found \"/tmp/x.jpg\"");
    o.output_path = "/tmp/allocsim-test-plot-never.png";
    o.devices = "0,7";
    ck_assert_int_eq(plot_render(data_path("small.tsv"), &o, err, sizeof err), PLOT_ERR_INPUT);
    ck_assert_ptr_nonnull(strstr(err, "--devices: device 7 has no rows and no capacity in "));
    o.devices = "0,x";
    ck_assert_int_eq(plot_render(data_path("small.tsv"), &o, err, sizeof err), PLOT_ERR_INPUT);
    ck_assert_ptr_nonnull(strstr(err, "--devices: expected device ids"));
    o.devices = NULL;
    o.template_path = "/nonexistent/timeline.gp";
    ck_assert_int_eq(plot_render(data_path("small.tsv"), &o, err, sizeof err), PLOT_ERR_IO);
    ck_assert_str_eq(err, "/nonexistent/timeline.gp: cannot read: No such file or directory");
    o.template_path = NULL;
    ck_assert_int_eq(plot_render("/nonexistent/t.tsv", &o, err, sizeof err), PLOT_ERR_INPUT);
    ck_assert_str_eq(err, "/nonexistent/t.tsv: cannot read: No such file or directory");
    ck_assert_int_eq(access("/tmp/allocsim-test-plot-never.gp", F_OK), -1);
}
END_TEST

START_TEST(template_search_reports_places)
{
    char err[2048] = "";
    char *p;
    setenv("ALLOCSIM_PLOTS_DIR", "/nonexistent-plots", 1);
    p = plot_find_template(err, sizeof err);
    /* The source tree still has it. */
    ck_assert_ptr_nonnull(p);
    ck_assert_ptr_nonnull(strstr(p, "/plots/timeline.gp"));
    mem_free(p);
    unsetenv("ALLOCSIM_PLOTS_DIR");
}
END_TEST

/* ---- render with gnuplot ------------------------------------------------------------------ */

START_TEST(render_png_and_svg)
{
    char dir[64], err[4096] = "";
    plot_opts o;
    size_t len;
    char *img;
    const char *files[] = {"seed.png", "seed.svg", "seed.gp", "seed.data.tsv", NULL};
    static const unsigned char png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (!gnuplot_available())
        return; /* documented: data + script tests above still ran */
    memset(&o, 0, sizeof o);
    enter_tmpdir(dir, sizeof dir);
    o.output_path = "seed.png";
    ck_assert_msg(plot_render(data_path("seed_like.tsv"), &o, err, sizeof err) == PLOT_OK, "%s",
                  err);
    img = read_file("seed.png", &len);
    ck_assert_ptr_nonnull(img);
    ck_assert_uint_gt(len, 1000);
    ck_assert_int_eq(memcmp(img, png_sig, 8), 0);
    free(img);
    /* Without --keep-script the data and script go away once the picture exists. */
    ck_assert_int_eq(access("seed.gp", F_OK), -1);
    ck_assert_int_eq(access("seed.data.tsv", F_OK), -1);

    o.output_path = "seed.svg";
    o.keep_script = 1;
    ck_assert_msg(plot_render(data_path("seed_like.tsv"), &o, err, sizeof err) == PLOT_OK, "%s",
                  err);
    img = read_file("seed.svg", &len);
    ck_assert_ptr_nonnull(img);
    while (len > 0 && (img[len - 1] == '\n' || img[len - 1] == ' '))
        img[--len] = '\0';
    ck_assert(strncmp(img, "<?xml", 5) == 0 || strncmp(img, "<svg", 4) == 0);
    ck_assert_uint_gt(len, 6);
    ck_assert_str_eq(img + len - 6, "</svg>");
    free(img);
    ck_assert_int_eq(access("seed.gp", F_OK), 0);
    leave_tmpdir(dir, files);
}
END_TEST

START_TEST(render_gnuplot_failure_reports_stderr)
{
    char dir[64], err[4096] = "";
    plot_opts o;
    FILE *f;
    const char *files[] = {"bad.gp", "x.png", "x.gp", "x.data.tsv", NULL};
    if (!gnuplot_available())
        return;
    memset(&o, 0, sizeof o);
    enter_tmpdir(dir, sizeof dir);
    f = fopen("bad.gp", "w");
    ck_assert_ptr_nonnull(f);
    fputs("@SETTINGS@\nthis_is_not_gnuplot 1 2 3\n", f);
    fclose(f);
    o.output_path = "x.png";
    o.template_path = "bad.gp";
    ck_assert_int_eq(plot_render(data_path("small.tsv"), &o, err, sizeof err), PLOT_ERR_GNUPLOT);
    ck_assert_ptr_nonnull(strstr(err, "gnuplot x.gp failed (exit status"));
    ck_assert_ptr_nonnull(strstr(err, "this_is_not_gnuplot"));
    /* Kept for inspection. */
    ck_assert_int_eq(access("x.gp", F_OK), 0);
    leave_tmpdir(dir, files);
}
END_TEST

/* ---- allocsim plot ------------------------------------------------------------------------ */

static int run_cmd(char **argv)
{
    int argc = 0, rc, saved_out = dup(1), saved_err = dup(2), devnull = open("/dev/null", O_WRONLY);
    while (argv[argc])
        argc++;
    dup2(devnull, 1);
    dup2(devnull, 2);
    rc = cmd_plot(argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(devnull);
    close(saved_out);
    close(saved_err);
    return rc;
}

START_TEST(cmd_exit_statuses)
{
    char dir[64];
    const char *files[] = {"o.png", "o.gp", "o.data.tsv", NULL};
    char *small = data_path("small.tsv");
    char *usage1[] = {"plot", small, NULL};
    char *usage2[] = {"plot", small, "-o", "o.png", "--max-points", "3", NULL};
    char *usage3[] = {"plot", small, "-o", "o.png", "--frobnicate", NULL};
    char *usage4[] = {"plot", "/nonexistent.tsv", "-o", "o.png", NULL};
    char *ok[] = {"plot", small, "--output=o.png", "--devices", "all", "--title", "t", NULL};
    enter_tmpdir(dir, sizeof dir);
    ck_assert_int_eq(run_cmd(usage1), 2);
    ck_assert_int_eq(run_cmd(usage2), 2);
    ck_assert_int_eq(run_cmd(usage3), 2);
    ck_assert_int_eq(run_cmd(usage4), 2);
    setenv("ALLOCSIM_GNUPLOT", "", 1); /* as if gnuplot were not installed */
    ck_assert_int_eq(run_cmd(ok), 1);
    ck_assert_int_eq(access("o.gp", F_OK), 0);
    unsetenv("ALLOCSIM_GNUPLOT");
    if (gnuplot_available()) {
        ck_assert_int_eq(run_cmd(ok), 0);
        ck_assert_int_eq(access("o.png", F_OK), 0);
    }
    leave_tmpdir(dir, files);
}
END_TEST

static Suite *plot_suite(void)
{
    Suite *s = suite_create("plot");
    TCase *tc = tcase_create("plot");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, parse_small);
    tcase_add_test(tc, parse_phases_sorted_stably_and_anywhere);
    tcase_add_loop_test(tc, parse_malformed, 0, (int)(sizeof bad_inputs / sizeof bad_inputs[0]));
    tcase_add_test(tc, parse_out_of_memory_is_an_error);
    tcase_add_test(tc, series_exact_small);
    tcase_add_test(tc, series_downsample_keeps_peak_and_dip);
    tcase_add_test(tc, bytes_human_units);
    tcase_add_test(tc, leaks_listed_per_device_and_region);
    tcase_add_test(tc, render_small_golden_without_gnuplot);
    tcase_add_test(tc, render_device_selection_and_labels);
    tcase_add_test(tc, render_errors);
    tcase_add_test(tc, template_search_reports_places);
    tcase_add_test(tc, render_png_and_svg);
    tcase_add_test(tc, render_gnuplot_failure_reports_stderr);
    tcase_add_test(tc, cmd_exit_statuses);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(plot_suite());
    int failed;
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
