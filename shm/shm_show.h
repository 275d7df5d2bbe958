/* shm_show: what `allocsim shm show` prints, rendered into string builders.
 *
 * The chip table follows tt_smi @613a74f6 (§6.2): one row per region (one chip), DRAM =
 * dram + trace, L1 = l1 + l1_small + cb, bytes as "1.5GiB" ("0B"), with " / capacity (p%)"
 * when the capacity is known (--devices PRESET). The process table lists every occupied
 * slot with its liveness (live, dead, other-user, releasing). --details adds per region every
 * counter of the totals, of each chip slot in use and of each process. --json renders every
 * decoded field. A watch without a terminal prints one plain line per region and sample.
 * Callers iterate the regions once, appending each region's rows; the header functions give
 * the column titles. Nothing here prints.
 */
#ifndef ALLOCSIM_SHM_SHOW_H
#define ALLOCSIM_SHM_SHOW_H

#include "sbuf.h"
#include "shm_scan.h"

typedef struct {
    const char *preset;           /* device preset for capacities, NULL: unknown */
    shmm_pid_state_fn pid_state;  /* NULL: kill(pid, 0) */
    void *pid_ctx;
} shmv_options;

/* Column titles of the chip table and the process table (one line each, with '\n'). */
void shmv_chip_header(sbuf *out);
void shmv_process_header(sbuf *out);

/* One chip-table row for a decoded region (f->ok). */
void shmv_chip_row(const shms_file *f, const shmv_options *opt, sbuf *out);

/* The process-table rows of a decoded region: one per occupied slot. Returns how many. */
int shmv_process_rows(const shms_file *f, const shmv_options *opt, sbuf *out);

/* The --details block of a decoded region. */
void shmv_details(const shms_file *f, const shmv_options *opt, sbuf *out);

/* One region as a JSON object (no trailing newline); bad files give {"path":..,"error":..}. */
void shmv_json(const shms_file *f, const shmv_options *opt, sbuf *out);

/* One plain line for a watch without a terminal:
 * "TIME_MS NAME dev D layout V dram B l1 B l1_small B trace B cb B procs N live M". */
void shmv_plain_line(const shms_file *f, const shmv_options *opt, uint64_t time_ms, sbuf *out);

/* The layout as shown: "v4", "v2a?" when ambiguous. */
void shmv_layout_text(const shms_file *f, char *buf, size_t len);

#endif
