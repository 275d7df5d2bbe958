/* shm_run: executes a plan's SHM operations with real stand-in processes, and reads the
 * regions at every check point.
 *
 * The SHM transport (docs/shm-transport.md) walks the plan in order: SPAWN forks a stand-in
 * (shm_standin) named after the process, each SHM operation the plan produced (shm_plan:
 * attach at open, a record per ALLOC / FREE, update_from_allocator after a program's CBs,
 * detach at close) is sent to that process's stand-in and acknowledged before the next one, CRASH kills and reaps it, EXIT lets it
 * leave, and at every DUMP the region files are read (the check point) and, if asked, a
 * reader command is run with the SHM shim preloaded so that it sees the private directory
 * as /dev/shm; its output is kept for the report. The result is plain data: the live pid of
 * each process, the actual bytes of every region at every dump and at the end, and each
 * reader's output. shmrun_advance runs the plan in pieces, so the socket runner drives it
 * through shmrun_runner_procs when both transports run at once.
 */
#ifndef ALLOCSIM_SHM_RUN_H
#define ALLOCSIM_SHM_RUN_H

#include <stddef.h>
#include <stdint.h>

#include "plan.h"
#include "runner.h"
#include "sbuf.h"
#include "shm_io.h"
#include "shm_plan.h"
#include "shm_standin.h"

typedef struct {
    const plan *p;
    const shm_plan *sp;
    const shmio_dir *dir;
    const char *reader_cmd;  /* NULL: no reader */
    char shim_path[512];     /* liballocsim_shim.so for the reader ("" : none found) */
    int reader_timeout_ms;
    shmsi *si;               /* per process */
    int32_t *live_pid;       /* per process; 0 before SPAWN */
    size_t next;             /* next plan step to execute */
    shmp_image *actual;      /* per plan dump: the regions read at its check point */
    uint8_t *have_actual;    /* per plan dump */
    sbuf *reader_out;        /* per plan dump: the reader's stdout and stderr */
    int *reader_status;      /* per plan dump: wait status text below, -1 not run */
    shmp_image final;        /* the regions after the last step */
    int have_final;
    unsigned long ops_done;
    char msg[768];           /* harness error (fork, pipe, read) */
} shmrun;

/* Prepares a run. reader_cmd NULL: no reader. Returns 0, or -1 with x->msg. */
int shmrun_init(shmrun *x, const plan *p, const shm_plan *sp, const shmio_dir *dir, const char *reader_cmd);

/* Executes plan steps [x->next, end). Returns 0, or -1 with x->msg (harness error). */
int shmrun_advance(shmrun *x, size_t end);

/* Executes the rest of the plan and reads the final regions. */
int shmrun_finish(shmrun *x);

/* Ends the stand-ins still running and releases everything. */
void shmrun_release(shmrun *x);

/* The runner's process hooks over x (--transport both): the socket runner's processes are
 * x's stand-ins. Starting, crashing or ending process k, and sending the n-th DUMP, first
 * executes the SHM plan up to and including that plan step, so the pids in frames are the
 * stand-ins' and, at every check point, the server and the regions have seen the same prefix
 * of the scenario, in the scenario's order. x must outlive the run. */
void shmrun_runner_procs(shmrun *x, runner_procs *out);

/* pid maps over a shmrun: live pid -> simulated pid (shmp_pid_map_fn) and -> process name
 * (dumpview_pid_name_fn); simulated pid -> name. */
int32_t shmrun_live_to_sim(void *x, int32_t pid);
const char *shmrun_live_pid_name(void *x, int32_t pid);
const char *shmrun_sim_pid_name(void *x, int32_t pid);

#endif
