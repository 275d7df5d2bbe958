/* shm_standin: real processes that perform a simulated process's SHM records themselves.
 *
 * For the SHM transport every simulated process is a forked child of the harness whose
 * /proc/<pid>/comm is the scenario's process name (prctl(PR_SET_NAME); the kernel keeps the
 * first 15 bytes), so the process slot TT-Metal fills from /proc/self/comm and the pid in it
 * are real. The child maps the region files itself and applies each operation the harness
 * sends over a socket pair (attach a chip, record an allocation or deallocation, publish the
 * CB figure with update_from_allocator, detach) with the
 * writer model over the real-atomics backend (shm_io), then acknowledges it; the harness
 * waits for every acknowledgement, so operations happen in the scenario's order. A crash is
 * SIGKILL and reap (a zombie still passes kill(pid, 0)); an exit lets the child leave
 * without running any destructor (TT-Metal's destructor runs at Device::close() only).
 *
 * The child holds no descriptor of the harness but its two sockets and stderr, dies with the
 * harness (PR_SET_PDEATHSIG, and end-of-file on its command socket) and never allocates:
 * it is forked from a harness that may run threads (the server's log readers).
 */
#ifndef ALLOCSIM_SHM_STANDIN_H
#define ALLOCSIM_SHM_STANDIN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "shm_io.h"
#include "shm_model.h"

#define SHMSI_MAX_SLOTS 256 /* regions one stand-in can have attached at once */

typedef enum { SHMSI_NONE = 0, SHMSI_RUNNING, SHMSI_EXITED, SHMSI_CRASHED } shmsi_state;

typedef struct {
    pid_t pid;
    int cmd_fd, ack_fd; /* harness ends, -1 when closed */
    shmsi_state state;
} shmsi;

/* What one operation did in the stand-in (from its shmm_result). */
typedef struct {
    int completed;   /* 0: the stand-in died during the operation (kill_at, SIGBUS) */
    int attach;      /* shmm_attach_outcome */
    int slot, chip_slot;
} shmsi_ack;

/* Forks a stand-in named `name` (comm = first 15 bytes) that works on region files in d.
 * Returns 0, or -1 with err. */
int shmsi_spawn(shmsi *s, const char *name, const shmio_dir *d, char *err, size_t errlen);

/* Attaches slot `slot` (0..SHMSI_MAX_SLOTS-1) of the stand-in to region file `name` as the
 * writer build cfg (id: the asic_id argument, device_id: the logical device). kill_at > 0:
 * the stand-in SIGKILLs itself after that many steps of this region (counted from here).
 * Returns 0 (ack filled; ack->completed 0 if it died), or -1 with err. */
int shmsi_attach(shmsi *s, int slot, const shmm_config *cfg, const char *name, uint64_t id, int32_t device_id,
                 unsigned long kill_at, shmsi_ack *ack, char *err, size_t errlen);

/* record_allocation (is_free 0) or record_deallocation (1) on slot's region. */
int shmsi_record(shmsi *s, int slot, int is_free, uint64_t size, uint8_t type, uint32_t chip_id, shmsi_ack *ack,
                 char *err, size_t errlen);

/* update_from_allocator (§4.7) on slot's region: publishes cb_bytes; the rate limit (eras
 * C..v4a) reads vtime_ns, the plan's virtual time, from the stand-in's process-wide map. */
int shmsi_cb_update(shmsi *s, int slot, uint64_t cb_bytes, uint64_t vtime_ns, shmsi_ack *ack, char *err,
                    size_t errlen);

/* The destructor on slot's region, then munmap and close. */
int shmsi_detach(shmsi *s, int slot, shmsi_ack *ack, char *err, size_t errlen);

/* SIGKILL and reap. Precondition: RUNNING. */
int shmsi_crash(shmsi *s, char *err, size_t errlen);

/* Lets the stand-in leave (no destructor) and reaps it. */
int shmsi_exit(shmsi *s, char *err, size_t errlen);

/* Ends a stand-in in any state (killed if running). Safe twice. */
void shmsi_release(shmsi *s);

#endif
