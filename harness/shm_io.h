/* shm_io: real SHM regions for the harness — the region directory, region files, and the
 * shmm_ops backend that applies the writer model with real atomics on an mmap.
 *
 * TT-Metal maps /dev/shm/tt_device_<id>_memory per chip (shm-tracking.md §3). A run never
 * touches the machine's regions unless asked: shmio_dir_open creates a private directory
 * (mkdtemp under /dev/shm by default, or the directory given) and checks that it is on a
 * filesystem that supports shared writable mappings (tmpfs; a test file is mapped), so a
 * run that cannot work fails at once with the cause. A private directory holds an `owner`
 * file with the creator's pid; creating one first removes the private directories whose
 * owner is dead (shmio_clean_stale). Live mode uses /dev/shm itself and creates nothing
 * else there.
 *
 * A shmio_region is one region file of one process: shmio_region_ops gives the model
 * (sim/shm_model.h) an interface whose open is shm_open's O_CREAT|O_EXCL then O_RDWR on the
 * file in the directory, whose truncate is ftruncate followed by the mapping of
 * SHMM_FILE_CAPACITY bytes (MAP_SHARED; an access past the file's last page raises SIGBUS
 * as in TT-Metal), and whose loads, stores, read-modify-writes and CAS are __atomic
 * builtins on the mapping at the model's memory order (SHMM_PLAIN is done relaxed). After
 * every step the region's hook runs: it can stop the process (SIGKILL itself) at step N,
 * which is how a crash between two atomic steps is staged for real.
 *
 * Library code: nothing prints or exits; errors go to caller buffers. Other tools (the SHM
 * fuzzer, `allocsim shm`) use this module directly.
 */
#ifndef ALLOCSIM_SHM_IO_H
#define ALLOCSIM_SHM_IO_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "shm_model.h"

#define SHMIO_PATH_MAX 512

typedef struct {
    char path[SHMIO_PATH_MAX]; /* the directory holding the region files (no trailing /) */
    int created;               /* 1: created by shmio_dir_open (removed by shmio_dir_close) */
    int keep;                  /* 1: shmio_dir_close leaves files and directory */
    int live;                  /* 1: the machine's /dev/shm */
    int owned;                 /* 1: a private allocsim-XXXXXX with an owner file */
    unsigned stale_removed;    /* stale private directories shmio_dir_open removed */
} shmio_dir;

/* The file in a private directory that holds its creator's pid ("1234\n"). */
#define SHMIO_OWNER_FILE "owner"

/* Removes the private directories base/allocsim-XXXXXX of this user whose owner file names
 * a pid that no longer exists (kill(pid, 0) fails with ESRCH): what a harness killed mid-run
 * leaves behind. Only region files, the probe file and the owner file are removed, then the
 * directory if it is empty; directories without an owner file or with a live owner are left
 * alone. shmio_dir_open calls it before creating a private directory. Returns 0 and the
 * number removed, or -1 if base cannot be read. */
int shmio_clean_stale(const char *base, unsigned *removed);

enum {
    SHMIO_DIR_KEEP = 1u << 0, /* --keep-shm: leave the regions after the run */
    SHMIO_DIR_LIVE = 1u << 1  /* --shm-live: use /dev/shm itself */
};

/* Opens the region directory. dir NULL: a new private directory $ALLOCSIM_SHM_BASE (default
 * /dev/shm)/allocsim-XXXXXX; else dir, created if missing (its parent must exist). Checks
 * that a region file can be created, sized and mapped shared there. flags: SHMIO_DIR_*;
 * with SHMIO_DIR_LIVE, dir must be NULL. Returns 0, or -1 with the cause in err (e.g.
 * "/mnt/x: cannot map a region file there: mmap: No such device"). */
int shmio_dir_open(shmio_dir *d, const char *dir, unsigned flags, char *err, size_t errlen);

/* Removes the region files it holds (tt_device_*_memory and nothing else) and, when it was
 * created by shmio_dir_open, the directory, unless keep or live. */
void shmio_dir_close(shmio_dir *d);

/* The path of region file `name` (e.g. "tt_device_469504_memory") in d. Returns 0, or -1
 * if it does not fit. */
int shmio_path(const shmio_dir *d, const char *name, char *out, size_t outlen);

/* Reads a whole region file (at most cap bytes) into buf. Returns the file size (0..cap),
 * -1 if it does not exist, -2 on another error (message in err). A file larger than cap is
 * read to cap and its real size returned. */
long shmio_read_file(const shmio_dir *d, const char *name, uint8_t *buf, size_t cap, char *err, size_t errlen);

/* One process's mapping of one region file. */
typedef struct {
    char path[SHMIO_PATH_MAX];
    int mode;                /* shm_open mode: 0666 (v1), 0600 (v4) */
    int fd;                  /* -1 until open */
    uint8_t *base;           /* the mapping (SHMM_FILE_CAPACITY bytes), NULL until truncate */
    unsigned long steps;     /* steps since the region was set up */
    unsigned long kill_at;   /* 0: never; k: SIGKILL this process after step k */
    /* Called after every step (after the kill_at test); non-zero stops the operation. */
    int (*on_step)(void *user, unsigned long step);
    void *user;
} shmio_region;

/* Prepares a region of file `name` in d (nothing is opened yet). mode 0 = 0666. Returns 0,
 * or -1 if the path does not fit. */
int shmio_region_init(shmio_region *r, const shmio_dir *d, const char *name, int mode);

/* The shmm_ops backend over r. */
void shmio_region_ops(shmm_ops *ops, shmio_region *r);

/* Unmaps and closes (the destructor's munmap and close; the file stays). */
void shmio_region_close(shmio_region *r);

/* The shm_open mode a writer build uses (§3.2): 0600 in v4, else 0666. */
int shmio_mode_of(const shmm_config *cfg);

/* shmm_pid_state_fn of the real machine: kill(pid, 0) (ESRCH dead, EPERM other user). */
shmm_pid_state shmio_pid_state(void *ctx, int32_t pid);

/* CLOCK_REALTIME in ns (v4's system_clock; v1's steady_clock is not distinguished). */
uint64_t shmio_now_ns(void);

#endif
