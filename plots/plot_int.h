/* plot_int: what the two files of the plotter share — the TSV reader (plots/plot_tsv.c) and
 * the series, script and render code (plots/plot.c). Internal to plots/.
 */
#ifndef ALLOCSIM_PLOT_INT_H
#define ALLOCSIM_PLOT_INT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "plot.h"

#define PLOT_DEVICE_SLOTS (PLOT_MAX_DEVICE + 1)

/* Region names in the order of the PLOT_* region constants. */
extern const char *const plot_region_names[PLOT_NREGIONS];

void plot_errf(char *err, size_t errlen, const char *fmt, ...);
int plot_parse_u64(const char *s, size_t n, uint64_t *out);
/* A gnuplot double-quoted string literal (plot.c). */
void plot_put_gpstr(sbuf *b, const char *s);

/* Per-process series from `#shm-process` lines (plots/plot_series_proc.c): at most
 * PLOT_PROC_SLOTS lines per panel, the last one summing the rest when there are more. */
#define PLOT_PROC_SLOTS 8
/* Parses one `#shm-process` line (1-based lineno, for `name:line:col: expected …` errors) into
 * tl->procs (allocated on first use). Returns 0, or -1 with err. */
int plot_proc_parse(plot_timeline *tl, const char *name, int lineno, const char *line, size_t len,
                    char *err, size_t errlen);
void plot_proc_release(struct plot_procs *pp);
/* Appends proc_n[], proc_other[], proc_title[] for the panels' devices (tl->procs non-NULL). */
void plot_proc_settings(const plot_timeline *tl, const int *dev, int ndev, sbuf *b);
/* Appends one block per panel (after the panels' own blocks) to f. Returns 0, or -1 with err. */
int plot_proc_data(const plot_timeline *tl, const int *dev, int ndev, uint64_t t_begin, uint64_t t_end,
                   size_t max_points, FILE *f, char *err, size_t errlen);

#endif
