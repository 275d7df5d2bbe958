/* shm_clean: removing dead processes from a region the way a named reader does, or safely.
 *
 * `allocsim shm clean` maps a region file read-write (harness/shm_io's mmap backend: real
 * __atomic operations on the shared mapping) and runs one reader's dead-process cleanup of
 * the writer model (sim/shm_model.h, §6) on it: tt_smi @613a74f6 (unclamped fetch_sub, the
 * v1-K mirror on every file), tt_smi @77c44153, tt_smi_ui, tt-mgmt (update or cleanup), or
 * by default the safe cleanup (CAS the slot's pid to -1, exchange each counter out and
 * subtract it clamped, free the slot, decrement the counts), which is also what a v4c writer's
 * reaper does (`--as v4`). What changed is reported field by field, from the region decoded
 * before and after.
 */
#ifndef ALLOCSIM_SHM_CLEAN_H
#define ALLOCSIM_SHM_CLEAN_H

#include <stddef.h>

#include "sbuf.h"
#include "shm_model.h"
#include "shm_scan.h"

/* Parses a --as name: "safe", "v4", "tt_smi" (= tt_smi@613a74f6), "tt-mgmt" (= its
 * cleanup_dead_processes), or any shmm_reader_name. Returns 0, or -1. */
int shmk_reader_parse(const char *name, shmm_reader *out);

/* Cleans dir/name with reader r. before/after: scratch files (decoded before and after the
 * cleanup). Appends one line per change ("  processes[1].pid: 4194305 -> 0") to report and
 * sets *cleaned to the slots the reader cleaned. Returns 0, -1 if the file cannot be used
 * (bad region: message in err), -2 if it could not be mapped read-write. */
int shmk_clean(const char *dir, const char *name, shmm_reader r, shms_file *before, shms_file *after, sbuf *report,
               unsigned *cleaned, char *err, size_t errlen);

/* Appends the differences between two decoded regions, one line each. Returns how many. */
int shmk_diff(const shms_file *a, const shms_file *b, sbuf *report);

#endif
