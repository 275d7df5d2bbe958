/* shm_check: the invariants each region layout promises, as findings.
 *
 * `allocsim shm check` and the SHM fuzzer's final oracle (item 2 of the issue) judge a decoded
 * region (shms_file) against what its writers promise:
 *   size        the file size is the layout's size
 *   init-state  v4: init_state is READY
 *   total-sum   each total equals the sum of the occupied process slots (pid > 0), where
 *               per-process tracking is on (at least one slot is occupied)
 *   wrapped     no counter (total, chip, process) is >= 2^63
 *   capacity    no DRAM/L1 total above the chip's capacity (when known)
 *   dead-pid    no process slot holds a dead pid (EPERM counts as alive)
 *   dup-pid     no two process slots hold one pid
 *   releasing   no slot left mid-release (pid -1, v4c)
 *   chip-sentinel  a chip slot marked unused holds no bytes; no chip id in two slots
 *   chip-above-total  the chip slots' sum of a counter is not above the total
 *   num-active  num_active_processes equals the occupied slots (pid != 0)
 * Each finding names the field and the values. Pure: liveness comes from a function.
 */
#ifndef ALLOCSIM_SHM_CHECK_H
#define ALLOCSIM_SHM_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "shm_scan.h"

typedef enum {
    SHMC_SIZE = 0,
    SHMC_INIT_STATE,
    SHMC_TOTAL_SUM,
    SHMC_WRAPPED,
    SHMC_CAPACITY,
    SHMC_DEAD_PID,
    SHMC_DUP_PID,
    SHMC_RELEASING,
    SHMC_CHIP_SENTINEL,
    SHMC_CHIP_ABOVE_TOTAL,
    SHMC_NUM_ACTIVE,
    SHMC_KIND_COUNT
} shmc_kind;

typedef struct {
    shmc_kind kind;
    char field[64];    /* "totals.dram", "processes[3].pid", "num_active_processes" */
    char message[256]; /* the values: "4096, but the occupied slots hold 2048" */
} shmc_finding;

#define SHMC_MAX_FINDINGS 64

typedef struct {
    int count;          /* findings kept (at most SHMC_MAX_FINDINGS) */
    int total;          /* findings seen */
    unsigned kinds;     /* bit set of every kind seen */
    shmc_finding f[SHMC_MAX_FINDINGS];
} shmc_report;

typedef struct {
    shmm_pid_state_fn pid_state; /* NULL: harness/shm_io's shmio_pid_state (kill(pid, 0)) */
    void *pid_ctx;
    uint64_t dram_capacity, l1_capacity; /* 0: unknown */
    unsigned skip;                       /* bit set of kinds not to check */
} shmc_options;

/* The short name of a kind: "size", "init-state", "total-sum", ... */
const char *shmc_kind_name(shmc_kind k);

/* Checks a decoded region (f->ok). Returns the number of findings. */
int shmc_check(const shms_file *f, const shmc_options *opt, shmc_report *out);

#endif
