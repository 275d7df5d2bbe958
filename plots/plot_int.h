/* plot_int: what the two files of the plotter share — the TSV reader (plots/plot_tsv.c) and
 * the series, script and render code (plots/plot.c). Internal to plots/.
 */
#ifndef ALLOCSIM_PLOT_INT_H
#define ALLOCSIM_PLOT_INT_H

#include <stddef.h>
#include <stdint.h>

#include "plot.h"

#define PLOT_DEVICE_SLOTS (PLOT_MAX_DEVICE + 1)

/* Region names in the order of the PLOT_* region constants. */
extern const char *const plot_region_names[PLOT_NREGIONS];

void plot_errf(char *err, size_t errlen, const char *fmt, ...);
int plot_parse_u64(const char *s, size_t n, uint64_t *out);

#endif
