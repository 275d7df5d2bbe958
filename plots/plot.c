/* plot: timeline TSV -> per-device series -> FILE.data.tsv + FILE.gp -> gnuplot -> picture.
 *
 * The look of the picture lives in plots/timeline.gp; this file only computes numbers for it
 * (panel grid, units, axis ranges, peaks, capacities, merged phase labels) and writes them as
 * gnuplot variables in place of the template's @SETTINGS@ line. Everything written depends on
 * the input and options only (no clock, no addresses, no paths other than the ones given), so
 * the same timeline always gives byte-identical data and script files.
 */
#include "plot.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include "mem.h"
#include "plot_int.h"

/* ---- series ------------------------------------------------------------------------------ */

static uint64_t plot_total(const uint64_t *bytes)
{
    uint64_t t = 0;
    int k;
    for (k = 0; k < PLOT_NREGIONS; k++)
        t += bytes[k];
    return t;
}

typedef struct {
    plot_point *pts;
    size_t n, cap;
    uint64_t last[PLOT_NSERIES]; /* state of the last point */
} plot_series;

static void plot_series_emit(plot_series *s, uint64_t time, const uint64_t *bytes)
{
    if (s->n < s->cap) {
        s->pts[s->n].time = time;
        memcpy(s->pts[s->n].bytes, bytes, sizeof s->pts[s->n].bytes);
        s->n++;
    }
    memcpy(s->last, bytes, sizeof s->last);
}

/* A state change: the old state up to `time`, then the new one. */
static void plot_series_step(plot_series *s, uint64_t time, const uint64_t *bytes)
{
    uint64_t prev[PLOT_NSERIES];
    memcpy(prev, s->last, sizeof prev);
    plot_series_emit(s, time, prev);
    plot_series_emit(s, time, bytes);
}

typedef struct {
    int used;
    size_t seq;
    uint64_t time;
    uint64_t bytes[PLOT_NSERIES];
    uint64_t total;
} plot_kept;

static int plot_kept_cmp(const void *a, const void *b)
{
    const plot_kept *x = a, *y = b;
    return x->seq < y->seq ? -1 : (x->seq > y->seq);
}

static void plot_bucket_flush(plot_series *s, plot_kept *kept /* [3]: min, max, last */)
{
    plot_kept order[3];
    size_t n = 0, i, j;
    for (i = 0; i < 3; i++) {
        int dup = 0;
        if (!kept[i].used)
            continue;
        for (j = 0; j < n; j++)
            if (order[j].seq == kept[i].seq)
                dup = 1;
        if (!dup)
            order[n++] = kept[i];
    }
    qsort(order, n, sizeof order[0], plot_kept_cmp);
    for (i = 0; i < n; i++)
        plot_series_step(s, order[i].time, order[i].bytes);
    memset(kept, 0, 3 * sizeof *kept);
}

int plot_series_build(const plot_timeline *tl, int device, uint64_t t_begin, uint64_t t_end,
                      size_t max_points, plot_point **out, size_t *nout, char *err,
                      size_t errlen)
{
    static const uint64_t zero[PLOT_NSERIES];
    plot_series s;
    size_t i, nrows = 0;
    *out = NULL;
    *nout = 0;
    if (max_points < PLOT_MIN_MAX_POINTS)
        max_points = PLOT_MIN_MAX_POINTS;
    for (i = 0; i < tl->nrows; i++)
        if (tl->rows[i].device == device)
            nrows++;
    memset(&s, 0, sizeof s);
    s.cap = max_points;
    if (nrows <= (max_points - 2) / 2)
        s.cap = 2 * nrows + 2;
    s.pts = mem_alloc(s.cap * sizeof *s.pts);
    if (!s.pts) {
        plot_errf(err, errlen, "out of memory");
        return -1;
    }
    plot_series_emit(&s, t_begin, zero);
    if (nrows <= (max_points - 2) / 2) {
        for (i = 0; i < tl->nrows; i++)
            if (tl->rows[i].device == device)
                plot_series_step(&s, tl->rows[i].time, tl->rows[i].bytes);
    } else {
        /* Each bucket emits at most 3 states of 2 points; 2 more for the ends. */
        size_t nbuckets = (max_points - 2) / 6, cur = (size_t)-1, seq = 0;
        double span = (double)(t_end - t_begin) + 1.0;
        plot_kept kept[3];
        memset(kept, 0, sizeof kept);
        for (i = 0; i < tl->nrows; i++) {
            const plot_row *r = &tl->rows[i];
            size_t b;
            uint64_t tot;
            if (r->device != device)
                continue;
            b = (size_t)((double)(r->time - t_begin) / span * (double)nbuckets);
            if (b >= nbuckets)
                b = nbuckets - 1;
            if (b != cur) {
                plot_bucket_flush(&s, kept);
                cur = b;
            }
            tot = plot_total(r->bytes);
            if (!kept[0].used || tot < kept[0].total) {
                kept[0].used = 1;
                kept[0].seq = seq;
                kept[0].time = r->time;
                kept[0].total = tot;
                memcpy(kept[0].bytes, r->bytes, sizeof kept[0].bytes);
            }
            if (!kept[1].used || tot > kept[1].total) {
                kept[1].used = 1;
                kept[1].seq = seq;
                kept[1].time = r->time;
                kept[1].total = tot;
                memcpy(kept[1].bytes, r->bytes, sizeof kept[1].bytes);
            }
            kept[2].used = 1;
            kept[2].seq = seq;
            kept[2].time = r->time;
            kept[2].total = tot;
            memcpy(kept[2].bytes, r->bytes, sizeof kept[2].bytes);
            seq++;
        }
        plot_bucket_flush(&s, kept);
    }
    {
        uint64_t last[PLOT_NSERIES];
        memcpy(last, s.last, sizeof last);
        plot_series_emit(&s, t_end, last);
    }
    *out = s.pts;
    *nout = s.n;
    return 0;
}

/* ---- leaks and units --------------------------------------------------------------------- */

void plot_bytes_human(uint64_t bytes, char *buf, size_t buflen)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    int k = 0;
    double v = (double)bytes;
    if (bytes < 1024) {
        snprintf(buf, buflen, "%" PRIu64 " B", bytes);
        return;
    }
    while (v >= 1024.0 && k < 5) {
        v /= 1024.0;
        k++;
    }
    snprintf(buf, buflen, "%.1f %s", v, units[k]);
}

static const uint64_t *plot_final_state(const plot_timeline *tl, int device)
{
    size_t i = tl->nrows;
    while (i > 0) {
        i--;
        if (tl->rows[i].device == device)
            return tl->rows[i].bytes;
    }
    return NULL;
}

void plot_leaks_format(const plot_timeline *tl, const int *devices, size_t ndevices, sbuf *b)
{
    size_t d;
    int any = 0, k;
    for (d = 0; d < ndevices; d++) {
        const uint64_t *fin = plot_final_state(tl, devices[d]);
        if (!fin)
            continue;
        for (k = 0; k < PLOT_NREGIONS; k++) {
            char human[32];
            if (fin[k] == 0)
                continue;
            plot_bytes_human(fin[k], human, sizeof human);
            sbuf_printf(b, "leak: device %d %s %" PRIu64 " bytes (%s) remaining at end\n",
                        devices[d], plot_region_names[k], fin[k], human);
            any = 1;
        }
    }
    if (!any)
        sbuf_puts(b, "no memory remaining at end of timeline\n");
}

/* ---- template ---------------------------------------------------------------------------- */

static int plot_readable(const char *path)
{
    return access(path, R_OK) == 0;
}

char *plot_find_template(char *err, size_t errlen)
{
    sbuf tried = SBUF_INIT, path = SBUF_INIT;
    const char *env;
    char exe[PATH_MAX];
    ssize_t n;
    char *found = NULL;

    env = getenv("ALLOCSIM_PLOTS_DIR");
    if (env && *env) {
        sbuf_printf(&path, "%s/timeline.gp", env);
        if (plot_readable(sbuf_str(&path)))
            goto hit;
        sbuf_printf(&tried, "%s%s", tried.len ? ", " : "", sbuf_str(&path));
        sbuf_reset(&path);
    }
    n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        char *slash;
        exe[n] = '\0';
        slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            sbuf_printf(&path, "%s/../share/allocsim/plots/timeline.gp", exe);
            if (plot_readable(sbuf_str(&path)))
                goto hit;
            sbuf_printf(&tried, "%s%s", tried.len ? ", " : "", sbuf_str(&path));
            sbuf_reset(&path);
        }
    }
    env = getenv("ALLOCSIM_SOURCE_DIR");
    if (env && *env) {
        sbuf_printf(&path, "%s/plots/timeline.gp", env);
        if (plot_readable(sbuf_str(&path)))
            goto hit;
        sbuf_printf(&tried, "%s%s", tried.len ? ", " : "", sbuf_str(&path));
        sbuf_reset(&path);
    }
#ifdef ALLOCSIM_SOURCE_DIR
    sbuf_printf(&path, "%s/plots/timeline.gp", ALLOCSIM_SOURCE_DIR);
    if (plot_readable(sbuf_str(&path)))
        goto hit;
    sbuf_printf(&tried, "%s%s", tried.len ? ", " : "", sbuf_str(&path));
    sbuf_reset(&path);
#endif
    plot_errf(err, errlen,
              "plot template timeline.gp not found (looked at: %s); set ALLOCSIM_PLOTS_DIR to "
              "the directory holding it",
              tried.len ? sbuf_str(&tried) : "nowhere");
    sbuf_release(&tried);
    sbuf_release(&path);
    return NULL;
hit:
    found = mem_strdup(sbuf_str(&path));
    if (!found)
        plot_errf(err, errlen, "out of memory");
    sbuf_release(&tried);
    sbuf_release(&path);
    return found;
}

/* ---- script settings --------------------------------------------------------------------- */

/* A gnuplot double-quoted string literal. */
void plot_put_gpstr(sbuf *b, const char *s)
{
    sbuf_putc(b, '"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            sbuf_putc(b, '\\');
        sbuf_putc(b, (c < 0x20 || c == 0x7f) ? ' ' : (char)c);
    }
    sbuf_putc(b, '"');
}

typedef struct {
    double scale;     /* raw time units per displayed unit */
    const char *unit; /* "s", "ms", "us", "ns" or "" (log lines) */
    const char *axis; /* x axis label */
} plot_tunit;

static plot_tunit plot_time_unit_for(plot_time_unit tu, uint64_t t_end)
{
    plot_tunit r;
    if (tu == PLOT_TIME_LINE) {
        r.scale = 1.0;
        r.unit = "";
        r.axis = "log line";
    } else if (t_end < 10000ULL) {
        r.scale = 1.0;
        r.unit = "ns";
        r.axis = "time (ns)";
    } else if (t_end < 10000000ULL) {
        r.scale = 1e3;
        r.unit = "us";
        r.axis = "time (us)";
    } else if (t_end < 10000000000ULL) {
        r.scale = 1e6;
        r.unit = "ms";
        r.axis = "time (ms)";
    } else {
        r.scale = 1e9;
        r.unit = "s";
        r.axis = "time (s)";
    }
    return r;
}

static void plot_time_human(const plot_tunit *tu, uint64_t t, char *buf, size_t buflen)
{
    if (tu->unit[0] == '\0')
        snprintf(buf, buflen, "line %" PRIu64, t);
    else
        snprintf(buf, buflen, "%.4g %s", (double)t / tu->scale, tu->unit);
}

/* Largest binary unit not above `bytes` (at least 1 B). */
static void plot_byte_unit(uint64_t bytes, uint64_t *scale, const char **name)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    int k = 0;
    uint64_t s = 1;
    while (k < 5 && bytes / 1024 >= s) {
        s *= 1024;
        k++;
    }
    *scale = s;
    *name = units[k];
}

static int plot_floor_log2(uint64_t v)
{
    int b = 0;
    while (v > 1) {
        v >>= 1;
        b++;
    }
    return b;
}

static void plot_pow2_label(int bits, char *buf, size_t buflen)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    snprintf(buf, buflen, "%llu %s", 1ULL << (bits % 10), units[bits / 10]);
}

/* Phases closer than this many pixels share one label. */
#define PLOT_LABEL_GAP_PX 16
#define PLOT_LABEL_MAX 48

typedef struct {
    int ndev;
    int *dev;
    int cols, rows;
    int width_px, height_px;
    uint64_t t_begin, t_end;
} plot_layout;

static void plot_grid(int n, int *cols, int *rows)
{
    int c = 1, r;
    while (c * c < 2 * n)
        c++;
    r = (n + c - 1) / c;
    c = (n + r - 1) / r;
    *cols = c;
    *rows = r;
}

static void plot_array_u64(sbuf *b, const char *name, const uint64_t *v, int n)
{
    int i;
    sbuf_printf(b, "array %s[%d] = [", name, n > 0 ? n : 1);
    for (i = 0; i < n; i++)
        sbuf_printf(b, "%s%" PRIu64 ".0", i ? ", " : "", v[i]);
    if (n == 0)
        sbuf_puts(b, "0");
    sbuf_puts(b, "]\n");
}

static int plot_write_settings(const plot_timeline *tl, const plot_layout *L,
                               const plot_opts *opts, plot_format fmt, const char *data_path,
                               sbuf *b)
{
    plot_tunit tu = plot_time_unit_for(tl->time_unit, L->t_end);
    uint64_t *tmp = mem_alloc(((size_t)L->ndev + tl->nphases + 1) * sizeof *tmp);
    uint64_t ymax_bytes = 0, minpos = 0, maxv = 0, yscale, span;
    const char *yunit;
    int i, k, lo_bits, hi_bits, step, bits, nlabels = 0;
    double top_band;
    const char *title = opts->title ? opts->title : tl->title;
    char human[64], when[64];
    sbuf labels_t = SBUF_INIT, labels_s = SBUF_INIT;
    size_t p;

    if (!tmp)
        return -1;
    if (title[0] == '\0')
        title = "allocsim memory timeline";
    /* Per-device peaks of the total and the ranges of both strips, from the full data. */
    {
        uint64_t *peak_v = tmp, *peak_t = mem_calloc((size_t)L->ndev, sizeof *peak_t);
        if (!peak_t) {
            mem_free(tmp);
            return -1;
        }
        for (i = 0; i < L->ndev; i++)
            peak_v[i] = 0;
        for (p = 0; p < tl->nrows; p++) {
            const plot_row *r = &tl->rows[p];
            uint64_t tot = plot_total(r->bytes);
            for (i = 0; i < L->ndev; i++)
                if (L->dev[i] == r->device)
                    break;
            if (i == L->ndev)
                continue;
            if (tot > peak_v[i]) {
                peak_v[i] = tot;
                peak_t[i] = r->time;
            }
            for (k = 0; k < (tl->has_cbk ? PLOT_NSERIES : PLOT_NREGIONS); k++) {
                uint64_t v = r->bytes[k];
                if (v > 0 && (minpos == 0 || v < minpos))
                    minpos = v;
                if (v > maxv)
                    maxv = v;
            }
        }
        for (i = 0; i < L->ndev; i++) {
            if (peak_v[i] > ymax_bytes)
                ymax_bytes = peak_v[i];
            for (k = 0; k < PLOT_NREGIONS; k++) {
                uint64_t c = tl->capacity[(size_t)L->dev[i] * PLOT_NREGIONS + (size_t)k];
                if (c > maxv)
                    maxv = c;
            }
        }
        plot_byte_unit(ymax_bytes, &yscale, &yunit);

        top_band = 70.0 / (double)L->height_px;
        sbuf_puts(b, "# ---- settings written by allocsim plot ----\n");
        if (fmt == PLOT_FMT_SVG) {
            sbuf_printf(b, "set terminal svg size %d,%d noenhanced font \"Sans,9\" "
                           "background rgb \"white\"\n",
                        L->width_px, L->height_px);
        } else {
            sbuf_printf(b,
                        "if (strstrt(GPVAL_TERMINALS, \"pngcairo\") > 0) {\n"
                        "    set terminal pngcairo size %d,%d noenhanced font \"Sans,9\"\n"
                        "} else {\n"
                        "    set terminal png size %d,%d noenhanced\n"
                        "}\n",
                        L->width_px, L->height_px, L->width_px, L->height_px);
        }
        sbuf_puts(b, "set output ");
        plot_put_gpstr(b, opts->output_path);
        sbuf_puts(b, "\ndatafile = ");
        plot_put_gpstr(b, data_path);
        sbuf_puts(b, "\nfigure_title = ");
        plot_put_gpstr(b, title);
        sbuf_puts(b, "\nlegend_text = \"upper strip: stacked bytes in use, dot = peak    lower "
                     "strip: each region, log scale, dashed = capacity\"\n");
        sbuf_printf(b, "NDEV = %d; NCOLS = %d; NROWS = %d\n", L->ndev, L->cols, L->rows);
        sbuf_printf(b, "top_band = %.4f; lower_frac = 0.42\n", top_band);
        sbuf_printf(b, "xmin = %" PRIu64 ".0; xmax = %" PRIu64 ".0\n", L->t_begin, L->t_end);
        sbuf_printf(b, "tscale = %.1f; time_label = \"%s\"\n", tu.scale, tu.axis);
        sbuf_printf(b, "ymax = %" PRIu64 ".0; yscale = %" PRIu64 ".0; yunit = \"%s\"\n",
                    ymax_bytes ? ymax_bytes + ymax_bytes / 8 + 1 : yscale, yscale, yunit);

        /* Log strip: one power of two below the smallest value, one above the largest. */
        if (minpos == 0) {
            lo_bits = 10;
            hi_bits = 20;
        } else {
            lo_bits = plot_floor_log2(minpos);
            lo_bits = lo_bits > 0 ? lo_bits - 1 : 0;
            hi_bits = plot_floor_log2(maxv) + 1;
            if (hi_bits > 62)
                hi_bits = 62;
            if (hi_bits <= lo_bits)
                hi_bits = lo_bits + 1;
        }
        step = (hi_bits - lo_bits + 5) / 6;
        if (step < 1)
            step = 1;
        sbuf_printf(b, "logmin = %llu.0; logmax = %llu.0\n", 1ULL << lo_bits, 1ULL << hi_bits);
        sbuf_puts(b, "log_ytics = 'set ytics (");
        /* No label at the very top: it would collide with the upper strip's 0. */
        for (bits = ((lo_bits + step - 1) / step) * step, k = 0; bits < hi_bits;
             bits += step, k++) {
            plot_pow2_label(bits, human, sizeof human);
            sbuf_printf(b, "%s\"%s\" %llu.0", k ? ", " : "", human, 1ULL << bits);
        }
        sbuf_puts(b, ")'\n");

        sbuf_printf(b, "array dev[%d] = [", L->ndev);
        for (i = 0; i < L->ndev; i++)
            sbuf_printf(b, "%s%d", i ? ", " : "", L->dev[i]);
        sbuf_puts(b, "]\n");
        sbuf_printf(b, "array panel_title[%d] = [", L->ndev);
        for (i = 0; i < L->ndev; i++) {
            char t[160];
            if (peak_v[i] == 0) {
                snprintf(t, sizeof t, "device %d: nothing in use", L->dev[i]);
            } else {
                plot_bytes_human(peak_v[i], human, sizeof human);
                plot_time_human(&tu, peak_t[i], when, sizeof when);
                snprintf(t, sizeof t, "device %d: peak %s at %s", L->dev[i], human, when);
            }
            sbuf_puts(b, i ? ", " : "");
            plot_put_gpstr(b, t);
        }
        sbuf_puts(b, "]\n");
        plot_array_u64(b, "peak_t", peak_t, L->ndev);
        plot_array_u64(b, "peak_v", peak_v, L->ndev);
        mem_free(peak_t);
    }
    {
        static const char *const capname[PLOT_NREGIONS] = {"cap_dram", "cap_trace", "cap_l1",
                                                           "cap_l1s"};
        for (k = 0; k < PLOT_NREGIONS; k++) {
            for (i = 0; i < L->ndev; i++)
                tmp[i] = tl->capacity[(size_t)L->dev[i] * PLOT_NREGIONS + (size_t)k];
            plot_array_u64(b, capname[k], tmp, L->ndev);
        }
    }
    /* Phases: every one gets a line; neighbours closer than a few pixels share a label. */
    for (p = 0; p < tl->nphases; p++)
        tmp[p] = tl->phases[p].time;
    sbuf_printf(b, "NPHASE = %zu\n", tl->nphases);
    plot_array_u64(b, "phase_t", tmp, (int)tl->nphases);
    span = L->t_end - L->t_begin;
    {
        int plot_px = L->width_px / L->cols - 110;
        uint64_t gap = span / (uint64_t)(plot_px > 50 ? plot_px : 50) * PLOT_LABEL_GAP_PX;
        p = 0;
        while (p < tl->nphases) {
            size_t q = p + 1;
            sbuf text = SBUF_INIT;
            sbuf_puts(&text, tl->phases[p].label);
            while (q < tl->nphases && tl->phases[q].time - tl->phases[p].time <= gap) {
                if (strcmp(tl->phases[q].label, tl->phases[q - 1].label) != 0) {
                    sbuf_puts(&text, ", ");
                    sbuf_puts(&text, tl->phases[q].label);
                }
                q++;
            }
            if (text.len > PLOT_LABEL_MAX) {
                text.data[PLOT_LABEL_MAX - 3] = '\0';
                text.len = PLOT_LABEL_MAX - 3;
                sbuf_puts(&text, "...");
            }
            sbuf_printf(&labels_t, "%s%" PRIu64 ".0", nlabels ? ", " : "", tl->phases[p].time);
            sbuf_puts(&labels_s, nlabels ? ", " : "");
            plot_put_gpstr(&labels_s, sbuf_str(&text));
            sbuf_release(&text);
            nlabels++;
            p = q;
        }
    }
    sbuf_printf(b, "NPLABEL = %d\n", nlabels);
    sbuf_printf(b, "array plabel_t[%d] = [%s]\n", nlabels ? nlabels : 1,
                nlabels ? sbuf_str(&labels_t) : "0");
    sbuf_printf(b, "array plabel_text[%d] = [%s]\n", nlabels ? nlabels : 1,
                nlabels ? sbuf_str(&labels_s) : "\"\"");
    if (tl->procs)
        plot_proc_settings(tl, L->dev, L->ndev, b);
    sbuf_puts(b, "# ---- end of settings ----\n");
    sbuf_release(&labels_t);
    sbuf_release(&labels_s);
    mem_free(tmp);
    return sbuf_failed(b) ? -1 : 0;
}

/* ---- render ------------------------------------------------------------------------------ */

static int plot_select_devices(const plot_timeline *tl, const char *spec, const char *tsv_path,
                               plot_layout *L, char *err, size_t errlen)
{
    uint8_t want[PLOT_DEVICE_SLOTS];
    int d, n = 0;
    memset(want, 0, sizeof want);
    if (!spec || strcmp(spec, "all") == 0) {
        for (d = 0; d < tl->ndevice_slots; d++)
            want[d] = tl->has_rows[d] || tl->has_capacity[d];
    } else {
        const char *s = spec;
        while (*s) {
            const char *e = s;
            uint64_t v;
            while (*e && *e != ',')
                e++;
            if (plot_parse_u64(s, (size_t)(e - s), &v) != 0 || v > PLOT_MAX_DEVICE) {
                plot_errf(err, errlen,
                          "--devices: expected device ids 0..1023 separated by commas or "
                          "\"all\", found \"%s\"",
                          spec);
                return -1;
            }
            if ((int)v >= tl->ndevice_slots || !(tl->has_rows[v] || tl->has_capacity[v])) {
                plot_errf(err, errlen, "--devices: device %d has no rows and no capacity in %s",
                          (int)v, tsv_path);
                return -1;
            }
            want[v] = 1;
            s = *e ? e + 1 : e;
        }
    }
    for (d = 0; d < PLOT_DEVICE_SLOTS; d++)
        n += want[d];
    if (n == 0) {
        plot_errf(err, errlen, "%s: no device to plot (no data rows and no #capacity lines)",
                  tsv_path);
        return -1;
    }
    L->dev = mem_alloc((size_t)n * sizeof *L->dev);
    if (!L->dev) {
        plot_errf(err, errlen, "out of memory");
        return -1;
    }
    L->ndev = 0;
    for (d = 0; d < PLOT_DEVICE_SLOTS; d++)
        if (want[d])
            L->dev[L->ndev++] = d;
    return 0;
}

static int plot_output_format(const char *path, plot_format *fmt, char *stem, size_t stemlen,
                              char *err, size_t errlen)
{
    size_t n = strlen(path);
    if (n > 4 && strcasecmp(path + n - 4, ".png") == 0)
        *fmt = PLOT_FMT_PNG;
    else if (n > 4 && strcasecmp(path + n - 4, ".svg") == 0)
        *fmt = PLOT_FMT_SVG;
    else {
        plot_errf(err, errlen, "expected an output file ending in .png or .svg, found \"%s\"",
                  path);
        return -1;
    }
    if (n - 4 + 1 > stemlen) {
        plot_errf(err, errlen, "output path too long: %s", path);
        return -1;
    }
    memcpy(stem, path, n - 4);
    stem[n - 4] = '\0';
    return 0;
}

static int plot_write_file(const char *path, const char *data, size_t len, char *err,
                           size_t errlen)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        plot_errf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
        return -1;
    }
    if (fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        plot_errf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
        if (f)
            fclose(f);
        return -1;
    }
    return 0;
}

static int plot_write_data(const plot_timeline *tl, const plot_layout *L, size_t max_points,
                           const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "wb");
    int i, bad = 0;
    if (!f) {
        plot_errf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
        return -1;
    }
    fprintf(f, "# allocsim plot data: one block per panel (gnuplot index 0..%d), as steps\n"
               "# columns: time DRAM TRACE L1 L1_SMALL%s (time in the timeline's unit, sizes in "
               "bytes)\n",
            L->ndev - 1, tl->has_cbk ? " CB KERNEL" : "");
    for (i = 0; i < L->ndev && !bad; i++) {
        plot_point *pts;
        size_t n, j;
        if (plot_series_build(tl, L->dev[i], L->t_begin, L->t_end, max_points, &pts, &n, err,
                              errlen) != 0) {
            bad = 1;
            break;
        }
        fprintf(f, "%s# panel %d: device %d, %zu points\n", i ? "\n\n" : "", i, L->dev[i], n);
        for (j = 0; j < n; j++) {
            fprintf(f, "%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64, pts[j].time,
                    pts[j].bytes[PLOT_DRAM], pts[j].bytes[PLOT_TRACE], pts[j].bytes[PLOT_L1],
                    pts[j].bytes[PLOT_L1_SMALL]);
            if (tl->has_cbk)
                fprintf(f, "\t%" PRIu64 "\t%" PRIu64, pts[j].bytes[PLOT_CB], pts[j].bytes[PLOT_KERNEL]);
            fputc('\n', f);
        }
        mem_free(pts);
    }
    if (!bad && tl->procs &&
        plot_proc_data(tl, L->dev, L->ndev, L->t_begin, L->t_end, max_points, f, err, errlen) != 0)
        bad = 1;
    if (ferror(f))
        bad = 2;
    if (fclose(f) != 0)
        bad = 2;
    if (bad == 2)
        plot_errf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
    return bad ? -1 : 0;
}

/* A timeline with CB and kernel series gets the overlay timeline_cbk.gp (beside the template)
 * inside the panel loop, before its closing brace, and one with per-process series
 * timeline_proc.gp after it: timelines without them keep the template's script unchanged. */
static int plot_insert_overlay(const char *tpl_path, const char *file, sbuf *script, char *err, size_t errlen)
{
    static const char anchor[] = "\n}\nunset multiplot";
    const char *slash = strrchr(tpl_path, '/'), *s = sbuf_str(script), *at = NULL, *m;
    sbuf path = SBUF_INIT, snip = SBUF_INIT, out = SBUF_INIT;
    char chunk[4096];
    size_t n;
    FILE *f;
    int rc = -1;
    sbuf_printf(&path, "%.*s%s", slash ? (int)(slash - tpl_path + 1) : 0, tpl_path, file);
    for (m = strstr(s, anchor); m; m = strstr(m + 1, anchor))
        at = m;
    if (!(f = fopen(sbuf_str(&path), "rb"))) {
        plot_errf(err, errlen, "%s: cannot read: %s", sbuf_str(&path), strerror(errno));
    } else {
        while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
            sbuf_append(&snip, chunk, n);
        fclose(f);
        if (!at) {
            plot_errf(err, errlen, "%s: expected the panel loop to end with \"}\" before \"unset multiplot\"", tpl_path);
        } else {
            sbuf_append(&out, s, (size_t)(at - s) + 1);
            sbuf_append(&out, snip.data ? snip.data : "", snip.len);
            sbuf_puts(&out, at + 1);
            if (sbuf_failed(&out)) {
                plot_errf(err, errlen, "out of memory");
            } else {
                sbuf_reset(script);
                sbuf_append(script, out.data, out.len);
                rc = 0;
            }
        }
    }
    sbuf_release(&path);
    sbuf_release(&snip);
    sbuf_release(&out);
    return rc;
}

static int plot_fill_template(const char *tpl_path, const char *settings, sbuf *out, char *err,
                              size_t errlen)
{
    FILE *f = fopen(tpl_path, "rb");
    sbuf tpl = SBUF_INIT;
    char chunk[8192];
    size_t n;
    const char *mark, *s;
    static const char token[] = "@SETTINGS@";
    if (!f) {
        plot_errf(err, errlen, "%s: cannot read: %s", tpl_path, strerror(errno));
        return -1;
    }
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        sbuf_append(&tpl, chunk, n);
    fclose(f);
    s = sbuf_str(&tpl);
    /* The token must stand alone on its line. */
    for (mark = strstr(s, token); mark; mark = strstr(mark + 1, token)) {
        const char *end = mark + sizeof token - 1;
        if ((mark == s || mark[-1] == '\n') && (*end == '\n' || *end == '\0'))
            break;
    }
    if (!mark) {
        plot_errf(err, errlen, "%s: expected a line \"@SETTINGS@\", found none", tpl_path);
        sbuf_release(&tpl);
        return -1;
    }
    sbuf_append(out, s, (size_t)(mark - s));
    sbuf_puts(out, settings);
    s = mark + sizeof token - 1;
    if (*s == '\n')
        s++;
    sbuf_puts(out, s);
    sbuf_release(&tpl);
    if (sbuf_failed(out)) {
        plot_errf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

static char *plot_find_gnuplot(const plot_opts *opts)
{
    const char *env = getenv("ALLOCSIM_GNUPLOT");
    const char *path;
    if (opts->gnuplot)
        return access(opts->gnuplot, X_OK) == 0 ? mem_strdup(opts->gnuplot) : NULL;
    if (env)
        return *env && access(env, X_OK) == 0 ? mem_strdup(env) : NULL;
#ifdef ALLOCSIM_GNUPLOT
    if (ALLOCSIM_GNUPLOT[0] && access(ALLOCSIM_GNUPLOT, X_OK) == 0)
        return mem_strdup(ALLOCSIM_GNUPLOT);
#endif
    path = getenv("PATH");
    while (path && *path) {
        const char *e = strchr(path, ':');
        size_t n = e ? (size_t)(e - path) : strlen(path);
        sbuf cand = SBUF_INIT;
        sbuf_append(&cand, n ? path : ".", n ? n : 1);
        sbuf_puts(&cand, "/gnuplot");
        if (!sbuf_failed(&cand) && access(sbuf_str(&cand), X_OK) == 0) {
            char *r = mem_strdup(sbuf_str(&cand));
            sbuf_release(&cand);
            return r;
        }
        sbuf_release(&cand);
        path = e ? e + 1 : NULL;
    }
    return NULL;
}

/* Runs `gnuplot SCRIPT`; 0 on exit status 0, else -1 with its stderr (or the reason) in err. */
static int plot_run_gnuplot(const char *gnuplot, const char *script, char *err, size_t errlen)
{
    int pfd[2], status = 0;
    pid_t pid;
    sbuf msg = SBUF_INIT;
    char chunk[4096];
    ssize_t n;
    if (pipe(pfd) != 0) {
        plot_errf(err, errlen, "cannot start gnuplot: pipe: %s", strerror(errno));
        return -1;
    }
    pid = fork();
    if (pid < 0) {
        plot_errf(err, errlen, "cannot start gnuplot: fork: %s", strerror(errno));
        close(pfd[0]);
        close(pfd[1]);
        return -1;
    }
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDWR);
        if (devnull >= 0) {
            dup2(devnull, 0);
            dup2(devnull, 1);
        }
        dup2(pfd[1], 2);
        close(pfd[0]);
        close(pfd[1]);
        execl(gnuplot, "gnuplot", script, (char *)NULL);
        _exit(127);
    }
    close(pfd[1]);
    for (;;) {
        n = read(pfd[0], chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (msg.len < 8192)
            sbuf_append(&msg, chunk, (size_t)n);
    }
    close(pfd[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        sbuf_release(&msg);
        return 0;
    }
    while (msg.len > 0 && (msg.data[msg.len - 1] == '\n' || msg.data[msg.len - 1] == ' '))
        msg.data[--msg.len] = '\0';
    if (WIFEXITED(status))
        plot_errf(err, errlen, "gnuplot %s failed (exit status %d)%s%s", script,
                  WEXITSTATUS(status), msg.len ? ":\n" : "", sbuf_str(&msg));
    else
        plot_errf(err, errlen, "gnuplot %s killed by signal %d%s%s", script,
                  WIFSIGNALED(status) ? WTERMSIG(status) : 0, msg.len ? ":\n" : "",
                  sbuf_str(&msg));
    sbuf_release(&msg);
    return -1;
}

int plot_render(const char *tsv_path, const plot_opts *opts, char *err, size_t errlen)
{
    plot_timeline tl;
    plot_layout L;
    plot_format fmt;
    char stem[PATH_MAX], data_path[PATH_MAX + 16], script_path[PATH_MAX + 16];
    char *tpl = NULL, *gnuplot = NULL;
    sbuf settings = SBUF_INIT, script = SBUF_INIT;
    size_t max_points, p;
    int rc = PLOT_ERR_INPUT;
    struct stat st;

    memset(&L, 0, sizeof L);
    if (!opts || !opts->output_path || !tsv_path) {
        plot_errf(err, errlen, "plot_render: expected a timeline and an output path");
        return PLOT_ERR_INPUT;
    }
    if (plot_output_format(opts->output_path, &fmt, stem, sizeof stem, err, errlen) != 0)
        return PLOT_ERR_INPUT;
    max_points = opts->max_points ? opts->max_points : PLOT_DEFAULT_MAX_POINTS;
    if (max_points < PLOT_MIN_MAX_POINTS) {
        plot_errf(err, errlen, "--max-points: expected at least %d, found %zu",
                  PLOT_MIN_MAX_POINTS, max_points);
        return PLOT_ERR_INPUT;
    }
    snprintf(data_path, sizeof data_path, "%s.data.tsv", stem);
    snprintf(script_path, sizeof script_path, "%s.gp", stem);

    if (plot_timeline_load(tsv_path, &tl, err, errlen) != 0)
        return PLOT_ERR_INPUT;
    if (plot_select_devices(&tl, opts->devices, tsv_path, &L, err, errlen) != 0)
        goto done;

    /* Time range: every row and phase, starting no later than 0 for clock timelines. */
    L.t_begin = tl.time_unit == PLOT_TIME_NS ? 0 : UINT64_MAX;
    L.t_end = 0;
    for (p = 0; p < tl.nrows; p++) {
        if (tl.rows[p].time < L.t_begin)
            L.t_begin = tl.rows[p].time;
        if (tl.rows[p].time > L.t_end)
            L.t_end = tl.rows[p].time;
    }
    for (p = 0; p < tl.nphases; p++) {
        if (tl.phases[p].time < L.t_begin)
            L.t_begin = tl.phases[p].time;
        if (tl.phases[p].time > L.t_end)
            L.t_end = tl.phases[p].time;
    }
    if (L.t_begin == UINT64_MAX)
        L.t_begin = 0;
    /* A little room after the last event so the final state is visible. */
    {
        uint64_t room = (L.t_end - L.t_begin) / 50 + 1;
        L.t_end = L.t_end > UINT64_MAX - room ? UINT64_MAX : L.t_end + room;
    }

    plot_grid(L.ndev, &L.cols, &L.rows);
    if (L.ndev == 1) {
        L.width_px = 1400;
        L.height_px = 800;
    } else {
        int cw = L.ndev > 16 ? 380 : 450, ch = L.ndev > 16 ? 340 : 400;
        L.width_px = L.cols * cw;
        L.height_px = L.rows * ch + 70;
    }

    if (opts->report)
        plot_leaks_format(&tl, L.dev, (size_t)L.ndev, opts->report);

    rc = PLOT_ERR_IO;
    if (opts->template_path) {
        if (!plot_readable(opts->template_path)) {
            plot_errf(err, errlen, "%s: cannot read: %s", opts->template_path, strerror(errno));
            goto done;
        }
        tpl = mem_strdup(opts->template_path);
    } else {
        tpl = plot_find_template(err, errlen);
    }
    if (!tpl)
        goto done;
    if (plot_write_settings(&tl, &L, opts, fmt, data_path, &settings) != 0) {
        plot_errf(err, errlen, "out of memory");
        goto done;
    }
    if (plot_fill_template(tpl, sbuf_str(&settings), &script, err, errlen) != 0)
        goto done;
    if (tl.has_cbk && plot_insert_overlay(tpl, "timeline_cbk.gp", &script, err, errlen) != 0)
        goto done;
    if (tl.procs && plot_insert_overlay(tpl, "timeline_proc.gp", &script, err, errlen) != 0)
        goto done;
    if (plot_write_data(&tl, &L, max_points, data_path, err, errlen) != 0)
        goto done;
    if (plot_write_file(script_path, sbuf_str(&script), script.len, err, errlen) != 0)
        goto done;

    gnuplot = plot_find_gnuplot(opts);
    if (!gnuplot) {
        plot_errf(err, errlen, "gnuplot not found; render with: gnuplot %s", script_path);
        if (opts->report)
            sbuf_printf(opts->report, "wrote %s and %s\n", data_path, script_path);
        rc = PLOT_NO_GNUPLOT;
        goto done;
    }
    if (plot_run_gnuplot(gnuplot, script_path, err, errlen) != 0) {
        if (opts->report)
            sbuf_printf(opts->report, "kept %s and %s for inspection\n", data_path,
                        script_path);
        rc = PLOT_ERR_GNUPLOT;
        goto done;
    }
    if (stat(opts->output_path, &st) != 0 || st.st_size == 0) {
        plot_errf(err, errlen, "gnuplot %s exited 0 but wrote no %s", script_path,
                  opts->output_path);
        rc = PLOT_ERR_GNUPLOT;
        goto done;
    }
    if (!opts->keep_script) {
        unlink(data_path);
        unlink(script_path);
    }
    if (opts->report) {
        sbuf_printf(opts->report, "wrote %s (%d panel%s)", opts->output_path, L.ndev,
                    L.ndev == 1 ? "" : "s");
        if (opts->keep_script)
            sbuf_printf(opts->report, ", %s and %s", data_path, script_path);
        sbuf_putc(opts->report, '\n');
    }
    rc = PLOT_OK;
done:
    mem_free(gnuplot);
    mem_free(tpl);
    mem_free(L.dev);
    sbuf_release(&settings);
    sbuf_release(&script);
    plot_timeline_release(&tl);
    return rc;
}
