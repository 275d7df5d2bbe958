/* shm_model: what TT-Metal's SHM stats provider and its readers write, step by step.
 *
 * Every operation of SharedMemoryStatsProvider (create-or-attach, record allocation,
 * record deallocation, destructor; v4 claim, reap, recompute, idle reset) and every
 * reader's dead-process cleanup (shm-tracking.md §3-§6) is written once, as the real code's
 * sequence of atomic steps, against a small memory-operations interface (shmm_ops):
 * offsets into the region, widths 1/2/4/8, memory orders numerically equal to __ATOMIC_*.
 * Non-atomic accesses of the real code (plain stores, memset at init, the strncpy of a
 * process name, timestamps, the file operations shm_open and ftruncate) are steps too.
 * After every step the model calls ops->step; a non-zero return stops the operation there,
 * which models a crash (SIGKILL) between any two steps. A hook that instead runs another
 * writer's operation on the same file and returns 0 models a concurrent step sequence.
 *
 * The built-in backend (shmm_ops_image) works on a plain byte image of the file, counts
 * steps and can stop after step N; a harness backend can implement the same interface with
 * __atomic builtins on an mmap'ed region in real processes. Time comes from the caller
 * (shmm_env.now_ns) and liveness from a caller function: the model never reads a clock or
 * calls kill(). Where the spec is [uncertain], shmm_config holds the choice
 * (docs/shm-model.md lists each with its default).
 */
#ifndef ALLOCSIM_SHM_MODEL_H
#define ALLOCSIM_SHM_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "shm_layout.h"

/* Memory orders: the values of __ATOMIC_RELAXED ... __ATOMIC_SEQ_CST. SHMM_PLAIN marks an
 * access that is not atomic in the real code; a real backend performs it relaxed. */
enum {
    SHMM_RELAXED = 0,
    SHMM_CONSUME = 1,
    SHMM_ACQUIRE = 2,
    SHMM_RELEASE = 3,
    SHMM_ACQ_REL = 4,
    SHMM_SEQ_CST = 5,
    SHMM_PLAIN = 6
};

/* Results of shmm_ops.open. */
enum { SHMM_OPEN_FAILED = -1, SHMM_OPEN_EXISTED = 0, SHMM_OPEN_CREATED = 1 };

/* The memory a writer or reader sees. Values are zero-extended to 64 bits; width is 1, 2, 4
 * or 8 and off is aligned to it. Every function pointer except step must be set. */
typedef struct shmm_ops {
    void *ctx;
    uint64_t (*load)(void *ctx, size_t off, int width, int order);
    void (*store)(void *ctx, size_t off, int width, uint64_t value, int order);
    uint64_t (*fetch_add)(void *ctx, size_t off, int width, uint64_t value, int order);
    uint64_t (*fetch_sub)(void *ctx, size_t off, int width, uint64_t value, int order);
    uint64_t (*exchange)(void *ctx, size_t off, int width, uint64_t value, int order);
    /* Strong compare-exchange: 1 and stored on success; 0 and *expected = current on
     * failure. (The real saturating loops use compare_exchange_weak; the model never fails
     * spuriously.) */
    int (*cas)(void *ctx, size_t off, int width, uint64_t *expected, uint64_t desired, int success_order,
               int failure_order);
    /* Non-atomic copy of len bytes (memset of a slot, strncpy of a name). */
    void (*store_bytes)(void *ctx, size_t off, const uint8_t *bytes, size_t len);
    /* shm_open(O_CREAT|O_EXCL), then on EEXIST shm_open(O_RDWR): SHMM_OPEN_*. */
    int (*open)(void *ctx);
    /* ftruncate to size (exactly: shrinks too, §7.1). 0 or -1. */
    int (*truncate)(void *ctx, size_t size);
    /* Called after every step; non-zero stops the operation (a crash). May be NULL. */
    int (*step)(void *ctx);
} shmm_ops;

/* ---- the built-in image backend --------------------------------------------------------- */

#define SHMM_FILE_CAPACITY 12288 /* three pages: every layout and every reader's mapping */

/* One /dev/shm object. Bytes at and beyond size are zero after every truncate; accesses
 * beyond size but inside its last page work on the page (as mmap does); accesses beyond
 * that page raise SIGBUS, which stops the operation. */
typedef struct {
    uint8_t bytes[SHMM_FILE_CAPACITY];
    size_t size;
    int exists;
    int deny_open; /* an existing file of another user: the O_RDWR open fails (EACCES) */
} shmm_file;

/* One process's view of a file: its own step counter, crash point and hook. */
typedef struct {
    shmm_file *file;
    unsigned long steps;      /* steps since shmm_image_init / shmm_image_arm */
    unsigned long stop_after; /* 0: never; k: stop after the k-th step */
    /* Called after each step that does not stop; non-zero stops. Runs other writers'
     * operations (on other shmm_image views of the same file) to interleave them. */
    int (*on_step)(void *user, unsigned long step);
    void *user;
    int stopped;
    int sigbus;
    /* The access the last step made, for hooks that interleave at a given access:
     * 'l' load, 's' store, '+' fetch_add, '-' fetch_sub, 'x' exchange, 'c' compare-exchange,
     * 'b' byte copy, 'o' open, 't' truncate; last_offset is its byte offset. */
    char last_op;
    size_t last_offset;
} shmm_image;

/* An empty namespace entry: no file yet. */
void shmm_file_init(shmm_file *f);

/* A view of f with no crash point and no hook. */
void shmm_image_init(shmm_image *img, shmm_file *f);

/* Resets the step counter and sets the crash point (0: none). */
void shmm_image_arm(shmm_image *img, unsigned long stop_after);

/* Fills ops with the image backend over img. */
void shmm_ops_image(shmm_ops *ops, shmm_image *img);

/* ---- environment ------------------------------------------------------------------------ */

typedef enum {
    SHMM_PID_DEAD = 0,      /* kill(pid, 0) fails with ESRCH */
    SHMM_PID_ALIVE = 1,     /* kill(pid, 0) == 0 */
    SHMM_PID_OTHER_USER = 2 /* alive, but kill(pid, 0) fails with EPERM */
} shmm_pid_state;

typedef shmm_pid_state (*shmm_pid_state_fn)(void *ctx, int32_t pid);

typedef struct {
    uint64_t now_ns;             /* every timestamp the operation writes */
    shmm_pid_state_fn pid_state; /* NULL: every pid is alive */
    void *pid_ctx;
} shmm_env;

/* A fixed set of live pids, for shmm_env.pid_state (pass the set as pid_ctx). */
#define SHMM_PIDSET_MAX 64
typedef struct {
    int count;
    int32_t pids[SHMM_PIDSET_MAX];
    uint8_t other_user[SHMM_PIDSET_MAX];
} shmm_pidset;

/* Adds pid (alive; other_user: alive but EPERM). Returns 0, or -1 if the set is full. */
int shmm_pidset_add(shmm_pidset *s, int32_t pid, int other_user);
/* Removes pid (it died). */
void shmm_pidset_remove(shmm_pidset *s, int32_t pid);
/* shmm_pid_state_fn over a shmm_pidset; pid <= 0 is dead. */
shmm_pid_state shmm_pidset_state(void *ctx, int32_t pid);

/* ---- writers ---------------------------------------------------------------------------- */

typedef enum { SHMM_SUB_NONE = 0, SHMM_SUB_V4A, SHMM_SUB_V4B, SHMM_SUB_V4C } shmm_subvariant;

/* One writer build. shmm_config_default fills the defaults; the [uncertain] choices are
 * marked with the spec section they come from. */
typedef struct {
    shml_version version;
    shmm_subvariant sub;       /* v4 only: v4a, v4b, v4c (§4.6) */
    int per_pid;               /* per-process tracking on (env var of the era, §1.4) */
    size_t region_size;        /* bytes this build ftruncates to; 0 = the layout's size;
                                  v1-A: 8640 (padding kept) or 8576 [§2.5] */
    uint32_t l1a_version_value;  /* what v1-A writes into version [§2.1]; default 1 */
    int v23_version_check;     /* v2/v3 EEXIST branch: reinitialise on a foreign version
                                  when reference_count is 0, else disable [§3.2]; default 1 */
    int v23_claim_cas;         /* v2/v3 slot claim by CAS 0->pid (the review fix) instead of
                                  test-then-store [§3.2, §7.11]; default 1 */
    int last_out_skip_unused;  /* v2b/v3 last-out reset skips chip_id 0xFFFFFFFF (1) or chip_id 0
                                  (0, the v1 test) [§3.4]; default 1 */
    int v4b_record_requires_slot; /* v4b: a record without a slot changes nothing (like
                                     v4c) [§4.2]; default 1 */
    int idle_reset;            /* reset_aggregates_if_idle at attach and detach: v4c 1 (0 =
                                  the intermediate header of §7b), v4b 0 [§7b] */
    unsigned ready_poll_attempts; /* v4 wait_for_region_ready: 1000 polls of 1 ms */
    int cb_update;             /* update_from_allocator variant (§4.7): SHMM_CB_ABSOLUTE (eras
                                  C..v3 and v4a) or SHMM_CB_DELTA (v4c; v4b [uncertain]) */
    uint64_t cb_rate_limit_ns; /* SHMM_CB_ABSOLUTE: at most one update per logical device id
                                  per this many ns of shmm_env.now_ns (100 ms); 0 = none */
} shmm_config;

/* shmm_config.cb_update */
enum { SHMM_CB_ABSOLUTE = 0, SHMM_CB_DELTA = 1 };
#define SHMM_CB_RATE_LIMIT_NS UINT64_C(100000000)

/* Defaults for version v (sub is ignored unless v is SHML_V4; SHMM_SUB_NONE there means
 * v4c). per_pid is on. */
void shmm_config_default(shmm_config *cfg, shml_version v, shmm_subvariant sub);

/* The file size a writer of cfg ftruncates to. */
size_t shmm_config_region_size(const shmm_config *cfg);

/* "v1-K", ..., "v4a", "v4b", "v4c". */
const char *shmm_config_name(const shmm_config *cfg);

/* A process: its pid and /proc/<pid>/comm (at most 15 characters). */
typedef struct {
    int32_t pid;
    char comm[16];
    int comm_unreadable; /* /proc/<pid>/comm could not be opened: the slot name is "unknown" */
} shmm_process;

/* Sets pid and comm (truncated to 15 characters); name NULL: comm unreadable. */
void shmm_process_init(shmm_process *p, int32_t pid, const char *name);

/* The 64 name bytes a slot of this process holds: the comm (or "unknown"), zero-padded. */
void shmm_process_name_bytes(const shmm_process *p, uint8_t out[SHML_NAME_BYTES]);

/* One provider: one Device of one process, attached to one chip's region. */
typedef struct {
    shmm_config cfg;
    shmm_process self;
    uint64_t id;         /* asic_id argument: composite id (v1) or chip_unique_id (v2+), §3.1 */
    int32_t device_id;   /* logical device id */
    int enabled;         /* attached and not disabled */
    int crashed;         /* an operation was stopped: the process is gone */
} shmm_provider;

void shmm_provider_init(shmm_provider *p, const shmm_config *cfg, const shmm_process *self, uint64_t id,
                        int32_t device_id);

typedef enum {
    SHMM_ATTACH_NONE = 0,
    SHMM_ATTACH_CREATED,       /* O_EXCL creator; initialised the region */
    SHMM_ATTACH_ATTACHED,      /* attached to an existing region as is */
    SHMM_ATTACH_REINITIALIZED, /* attacher that (re)initialised an existing region */
    SHMM_ATTACH_DISABLED       /* provider disabled: record calls do nothing */
} shmm_attach_outcome;

/* What one operation did. */
typedef struct {
    int completed;          /* 1: ran to its end; 0: stopped by ops->step (crashed) */
    unsigned long steps;    /* steps performed, including the one it stopped after */
    shmm_attach_outcome attach;
    const char *disabled_reason; /* static text when attach == SHMM_ATTACH_DISABLED */
    int slot;               /* process slot used, claimed or released; -1: none */
    int chip_slot;          /* chip slot used; -1: none */
    unsigned cleaned;       /* slots reaped (attach, detach) or cleaned (readers) */
    int rate_limited;       /* update_from_allocator skipped by the rate limit (no step) */
} shmm_result;

/* Each operation returns 1 if it completed, 0 if ops->step stopped it (the provider is
 * then marked crashed). res may be NULL. */

/* The constructor (§3.2): open (create or attach), ftruncate, initialise if creator or
 * reclaiming, reference counting, v4 reaping and slot claim, identifiers. */
int shmm_attach(shmm_provider *p, const shmm_ops *ops, const shmm_env *env, shmm_result *res);

/* record_allocation(getpid(), size, type, chip_id) (§4.2). No step if disabled. */
int shmm_record_alloc(shmm_provider *p, const shmm_ops *ops, const shmm_env *env, uint64_t size, uint8_t type,
                      uint32_t chip_id, shmm_result *res);

/* record_deallocation(getpid(), size, type, chip_id) (§4.3). No step if disabled. */
int shmm_record_free(shmm_provider *p, const shmm_ops *ops, const shmm_env *env, uint64_t size, uint8_t type,
                     uint32_t chip_id, shmm_result *res);

/* The destructor at Device::close() (§3.4, §4.5): own slot, last-out reset or v4 reap,
 * recompute, idle reset. Disables the provider. */
int shmm_detach(shmm_provider *p, const shmm_ops *ops, const shmm_env *env, shmm_result *res);

/* SIGKILL: no destructor, no step; the provider is gone. */
void shmm_crash(shmm_provider *p);

/* ---- CB accounting: update_from_allocator (sim/shm_model_cb.c) --------------------------- */

/* The rate limit's process-wide map (§4.7): logical device id -> time of the last update
 * that went through. One per process (it outlives a provider: close and reopen within the
 * interval is still limited). A full table throttles nothing for further devices. */
#define SHMM_CB_LIMIT_DEVICES 256
typedef struct {
    int count;
    int32_t device_id[SHMM_CB_LIMIT_DEVICES];
    uint64_t last_ns[SHMM_CB_LIMIT_DEVICES];
} shmm_cb_limiter;

void shmm_cb_limiter_init(shmm_cb_limiter *l);

/* update_from_allocator(device, getpid()) (§4.7): publishes cb_bytes, the CB bytes this
 * process has allocated on p's device (Device::get_total_cb_allocated()). SHMM_CB_ABSOLUTE:
 * skipped without a step (res->rate_limited) if lim holds an update of the same device id
 * less than cfg.cb_rate_limit_ns ago (lim NULL: never skipped); else stores cb_bytes into
 * totals.cb, the region timestamp, the first chip slot holding the device id or the unused
 * sentinel (chip_id and cb), and the own process slot if it exists (cb, timestamp).
 * SHMM_CB_DELTA: own slot (claimed if needed; none, or per-PID off: nothing), exchange its
 * cb, move totals.cb by the difference, timestamps, chip slot (find-or-create) cb = totals.cb.
 * No step if disabled. Returns 1 if completed (or skipped), 0 if ops->step stopped it. */
int shmm_update_from_allocator(shmm_provider *p, const shmm_ops *ops, const shmm_env *env, shmm_cb_limiter *lim,
                               uint64_t cb_bytes, shmm_result *res);

/* ---- readers ---------------------------------------------------------------------------- */

typedef enum {
    SHMM_READER_TT_SMI_77C4 = 0, /* tt_smi @77c44153 -c (§6.1) */
    SHMM_READER_TT_SMI_613A,     /* tt_smi @613a74f6 (§6.2) */
    SHMM_READER_TT_SMI_UI,       /* tt_smi_ui C++ backend @69c3999f (§6.3) */
    SHMM_READER_PYTHON,          /* shm_reader.py: no cleanup (§6.4) */
    SHMM_READER_TT_MGMT_UPDATE,  /* tt-mgmt update() (§6.5) */
    SHMM_READER_TT_MGMT_CLEANUP, /* tt-mgmt cleanup_dead_processes() (§6.5) */
    SHMM_READER_SAFE,            /* ours: CAS on the slot, clamped subtraction */
    SHMM_READER_COUNT
} shmm_reader;

typedef struct {
    shml_version layout;    /* SHMM_READER_SAFE: the file's layout (the others use their own
                               mirror: v1-K for tt_smi*, v3/v4 for tt-mgmt) */
    int tt_mgmt_eperm_alive; /* tt-mgmt liveness counts EPERM as alive [§6.5]; default 1 */
} shmm_reader_config;

void shmm_reader_config_default(shmm_reader_config *cfg, shml_version layout);

/* "tt_smi@77c44153", "tt_smi@613a74f6", "tt_smi_ui", "shm_reader.py", "tt-mgmt-update",
 * "tt-mgmt-cleanup", "safe". */
const char *shmm_reader_name(shmm_reader r);

/* Parses a reader name. Returns 0 and sets *out, or -1. */
int shmm_reader_parse(const char *name, shmm_reader *out);

/* One pass of reader r's dead-process cleanup over a mapped file (§6). res->cleaned is the
 * number of slots cleaned. Returns 1, or 0 if stopped (including SIGBUS). */
int shmm_reader_cleanup(shmm_reader r, const shmm_reader_config *cfg, const shmm_ops *ops, const shmm_env *env,
                        shmm_result *res);

/* ---- expectations ----------------------------------------------------------------------- */

enum {
    SHMM_MASK_SKIP_NAMES = 1u << 0 /* process names are not determined (unknown comm) */
};

/* Marks in mask (len bytes, one per region byte) the bytes the model determines for a
 * region of version v: 0xFF determined, 0 not. Timestamps (the region's and every slot's)
 * are never determined; names are unless SHMM_MASK_SKIP_NAMES. */
void shmm_expect_mask(shml_version v, size_t len, unsigned flags, uint8_t *mask);

/* Compares the determined bytes of expected and actual. Returns -1 if they agree, else the
 * offset of the first difference, with "offset 880 (processes[1].dram): expected 0x10,
 * found 0x00" in err (if non-NULL). */
long shmm_expect_compare(shml_version v, const uint8_t *expected, const uint8_t *actual, const uint8_t *mask,
                         size_t len, char *err, size_t err_len);

#endif
