/* plot: the plot driver. It turns a memory timeline (the TSV written by the simulator and by
 * the log importer, format in docs/plots.md) into a picture: it parses the timeline, reduces
 * each device's series to a bounded number of points, writes FILE.data.tsv and FILE.gp (the
 * plots/timeline.gp template filled in), runs gnuplot on the script and reports what memory
 * is still in use at the end of the timeline (the leak list). Output data and script are
 * byte-identical for the same input and options.
 *
 * Used by `allocsim plot` (cli/cmd_plot.c) and by any command offering `--plot FILE`.
 */
#ifndef ALLOCSIM_PLOT_H
#define ALLOCSIM_PLOT_H

#include <stddef.h>
#include <stdint.h>

#include "sbuf.h"

/* Regions in the order the picture stacks them (bottom first). The TSV columns are in a
 * different order (DRAM L1 L1_SMALL TRACE); the parser maps them. */
enum { PLOT_DRAM = 0, PLOT_TRACE, PLOT_L1, PLOT_L1_SMALL, PLOT_NREGIONS };
/* After the regions, the v144 server's CB and kernel bytes (`#cbk` lines): drawn as lines of
 * their own, never stacked or counted in a total. */
enum { PLOT_CB = PLOT_NREGIONS, PLOT_KERNEL, PLOT_NSERIES };

#define PLOT_MAX_DEVICE 1023         /* device ids accepted in a timeline: 0..1023 */
#define PLOT_DEFAULT_MAX_POINTS 2000 /* points per panel when the caller says 0 */
#define PLOT_MIN_MAX_POINTS 16       /* fewer cannot draw a bucket */

typedef enum { PLOT_TIME_NS = 0, PLOT_TIME_LINE } plot_time_unit;

typedef struct {
    uint64_t time;
    int device;
    uint64_t bytes[PLOT_NSERIES]; /* values after the change, indexed by PLOT_DRAM... PLOT_KERNEL */
} plot_row;

typedef struct {
    uint64_t time;
    char *label; /* owned */
} plot_phase;

typedef struct {
    char *title;               /* owned; "" when the file has no #title */
    plot_time_unit time_unit;
    plot_row *rows;            /* owned, time ascending, file order among equal times */
    size_t nrows;
    plot_phase *phases;        /* owned, sorted by time (stable) */
    size_t nphases;
    int ndevice_slots;         /* highest device id seen (row or capacity) + 1 */
    uint64_t *capacity;        /* owned, ndevice_slots * PLOT_NREGIONS bytes, 0 = unknown */
    uint8_t *has_capacity;     /* owned, per device: a #capacity line was seen */
    uint8_t *has_rows;         /* owned, per device: at least one data row */
    int has_cbk;               /* a `#cbk` (or `#shm-cb`) line was seen: CB and kernel series */
    struct plot_procs *procs;  /* owned; per-process series (`#shm-process` lines), NULL if none */
} plot_timeline;

/* One point of a panel's series: the state of every region from `time` on. */
typedef struct {
    uint64_t time;
    uint64_t bytes[PLOT_NSERIES];
} plot_point;

typedef enum { PLOT_FMT_PNG = 0, PLOT_FMT_SVG } plot_format;

typedef struct {
    const char *output_path;  /* FILE.png or FILE.svg; required */
    const char *devices;      /* "0,3,5", "all" or NULL (all) */
    size_t max_points;        /* per panel; 0 = PLOT_DEFAULT_MAX_POINTS */
    const char *title;        /* replaces the timeline's #title when non-NULL */
    int keep_script;          /* keep FILE.gp and FILE.data.tsv after gnuplot succeeded */
    const char *gnuplot;      /* gnuplot program; NULL = env ALLOCSIM_GNUPLOT, the build's
                               * gnuplot, then `gnuplot` on PATH */
    const char *template_path;/* NULL = search (see plot_find_template) */
    sbuf *report;             /* when non-NULL receives the leak list and what was written */
} plot_opts;

/* plot_render results. */
#define PLOT_OK 0           /* picture written */
#define PLOT_ERR_INPUT (-1) /* bad options or malformed timeline; nothing written */
#define PLOT_ERR_IO (-2)    /* template missing, a file could not be read or written */
#define PLOT_NO_GNUPLOT 1   /* data + script written, gnuplot not found */
#define PLOT_ERR_GNUPLOT 2  /* data + script written, gnuplot failed (its stderr in err) */

/* Parses a timeline held in memory. `name` is used in error messages
 * (`name:line:col: expected X, found Y`). On success fills *out (release with
 * plot_timeline_release) and returns 0; on error returns -1 with the message in err and
 * leaves *out empty. Never prints. */
int plot_timeline_parse(const char *text, size_t len, const char *name, plot_timeline *out,
                        char *err, size_t errlen);

/* Reads and parses a timeline file. Same contract as plot_timeline_parse; an unreadable file
 * is reported as `path: cannot read: reason`. */
int plot_timeline_load(const char *path, plot_timeline *out, char *err, size_t errlen);

void plot_timeline_release(plot_timeline *tl);

/* Builds the series of one device over [t_begin, t_end] (t_begin <= every row time <= t_end)
 * as steps: a state holds until the next point, and two points share a time where a value
 * changes. Before the device's first row every region is 0. At most max_points points
 * (max_points >= PLOT_MIN_MAX_POINTS): if the exact series does not fit, the time range is
 * cut into buckets and each bucket keeps the states with the lowest and highest device total
 * and its last state, so the peak survives with its exact time and values. Returns 0 and a
 * mem_alloc'd array in *out (caller frees with mem_free), or -1 with "out of memory". */
int plot_series_build(const plot_timeline *tl, int device, uint64_t t_begin, uint64_t t_end,
                      size_t max_points, plot_point **out, size_t *nout, char *err,
                      size_t errlen);

/* Appends the leak list for the given devices (ascending ids, in that order) to *b: one line
 * per device and region still in use after the device's last row, e.g.
 * `leak: device 3 TRACE 12503040 bytes (11.9 MiB) remaining at end`, or the single line
 * `no memory remaining at end of timeline`. */
void plot_leaks_format(const plot_timeline *tl, const int *devices, size_t ndevices, sbuf *b);

/* Formats a byte count for people: "512 B", "11.9 MiB", "1.4 GiB" (binary units, one
 * decimal). Writes at most buflen bytes, always NUL-terminated. */
void plot_bytes_human(uint64_t bytes, char *buf, size_t buflen);

/* Locates plots/timeline.gp: env ALLOCSIM_PLOTS_DIR, then <dir of the running program>/
 * ../share/allocsim/plots, then the source tree (ALLOCSIM_SOURCE_DIR). Returns a mem_alloc'd
 * path, or NULL with an error naming every place looked at. */
char *plot_find_template(char *err, size_t errlen);

/* The whole job: parse tsv_path, write FILE.data.tsv and FILE.gp next to opts->output_path
 * (FILE = output path without its extension), run gnuplot, remove the data and script unless
 * opts->keep_script or gnuplot did not produce the picture. Returns PLOT_OK, PLOT_NO_GNUPLOT
 * (err: "gnuplot not found; render with: gnuplot FILE.gp"), PLOT_ERR_GNUPLOT (err: gnuplot's
 * stderr), PLOT_ERR_INPUT or PLOT_ERR_IO. The leak list goes to opts->report in every case
 * where the timeline parsed. Never prints, never exits. */
int plot_render(const char *tsv_path, const plot_opts *opts, char *err, size_t errlen);

#endif
