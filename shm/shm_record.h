/* shm_record: sampling the regions of a directory into a timeline TSV.
 *
 * `allocsim shm record` writes the simulator's timeline format (docs/scenarios.md "Timeline
 * format", #time_unit ns, time = nanoseconds since the recording started) so that `allocsim
 * plot` draws a real machine's memory over time, one panel per chip: DRAM, L1, L1_SMALL and
 * TRACE are the region's totals. What the format's columns cannot hold goes into comment
 * lines that plot ignores (docs/shm.md): `#shm-region DEVICE NAME LAYOUT` (which region a
 * device column is), `#shm-cb TIME DEVICE BYTES` and `#shm-process TIME DEVICE PID NAME DRAM
 * L1 L1_SMALL TRACE CB` (a process slot's counters after a change; all zero when it is
 * freed). A row is written only when a device's values change. Region files stay open
 * between samples (one pread each) and the directory is listed again once a second, so a
 * sample of 8 chips costs a few microseconds.
 */
#ifndef ALLOCSIM_SHM_RECORD_H
#define ALLOCSIM_SHM_RECORD_H

#include <stdint.h>
#include <stdio.h>

#include "sbuf.h"

typedef struct shmr_recorder shmr_recorder;

typedef struct {
    const char *dir;        /* the directory of regions */
    const char *preset;     /* capacities for #capacity lines, NULL: unknown (0) */
    long interval_ms;       /* for the #title only */
    uint64_t rescan_ns;     /* list the directory again after this long; 0: 1 s */
} shmr_options;

/* Starts a recording into out (already open; the caller closes it). Writes the header.
 * Returns NULL with a message in err (out of memory). */
shmr_recorder *shmr_open(const shmr_options *opt, FILE *out, uint64_t epoch_ns, char *err, size_t errlen);

/* Takes one sample at t_ns (nanoseconds since the start, never decreasing). A bad or
 * unlistable file is reported once, as "PATH: why\n" appended to errs. Returns the number of
 * regions read. */
int shmr_sample(shmr_recorder *r, uint64_t t_ns, sbuf *errs);

/* Regions currently tracked; rows written so far. */
int shmr_regions(const shmr_recorder *r);
uint64_t shmr_rows(const shmr_recorder *r);

void shmr_close(shmr_recorder *r);

#endif
