/* shm_fuzz: the SHM region protocol fuzzer — schedules, their text form, the model oracle,
 * the real executor and the minimiser.
 *
 * A schedule is a few processes (writers of one layout version each, or reader tools) on one
 * region file and a list of entries: a process attaches, records an allocation or a
 * deallocation, detaches (Device::close, then the process exits), is SIGKILLed between two
 * operations (kill), runs a reader's dead-process cleanup, or resumes. An operation may
 * pause after its N-th atomic step (the other processes' entries run until `resume` of it:
 * pauses nest) or crash after its N-th step (SIGKILL between two steps of one operation).
 * After the last entry the paused operations finish, innermost first, and every writer still
 * attached detaches: that is quiescence.
 *
 * Two executors run a schedule: the model (sim/shm_model.h over one image; a pause is the
 * image hook running the nested entries) and the real one (shm_fuzz_real.c: one forked
 * child per process doing its operations through harness/shm_io's mmap backend, the parent
 * handing out turns over pipes, so the interleaving is forced and a schedule reproduces
 * exactly). The verdict at quiescence: the real region equals the model's (every determined
 * byte), the invariants of shm_check hold, and no two live writers used one process slot.
 * Each violated promise is a finding kind; a signature is "kind@versions".
 */
#ifndef ALLOCSIM_SHM_FUZZ_H
#define ALLOCSIM_SHM_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "sbuf.h"
#include "shm_check.h"
#include "shm_model.h"

#define SHMF_MAX_PROCS 4
#define SHMF_MAX_ENTRIES 48
#define SHMF_REGION_NAME "tt_device_7_memory"
#define SHMF_ASIC_ID 7

typedef enum {
    SHMF_ATTACH = 0,
    SHMF_ALLOC,
    SHMF_FREE,
    SHMF_DETACH,
    SHMF_KILL,    /* SIGKILL between operations */
    SHMF_CLEANUP, /* a reader's cleanup (reader processes) */
    SHMF_RESUME,
    SHMF_OP_COUNT
} shmf_op;

typedef struct {
    uint8_t proc, op, type, reader;
    uint32_t chip;
    uint64_t size;
    uint32_t pause_at, crash_at;     /* after this step; 0: none */
    uint16_t pause_frac, crash_frac; /* per mille of the op's steps, resolved by shmf_resolve */
} shmf_entry;

typedef struct {
    int is_reader;
    shmm_config cfg; /* writers */
    uint8_t pid_from; /* pid reuse: 0, or 1 + the process whose pid this one gets. It starts at its
                         first entry after that process is gone (earlier entries do nothing); the
                         real executor then runs the schedule in a private PID namespace. */
} shmf_proc;

typedef struct {
    int nprocs;
    shmf_proc procs[SHMF_MAX_PROCS];
    int nentries;
    shmf_entry e[SHMF_MAX_ENTRIES];
} shmf_schedule;

/* Finding kinds beyond shm_check's (shmc_kind 0..SHMC_KIND_COUNT-1). */
enum {
    SHMF_K_SLOT_TWICE = SHMC_KIND_COUNT, /* two live writers own one process slot */
    SHMF_K_MODEL,                        /* the real region differs from the model */
    SHMF_K_HARNESS,                      /* a child misbehaved (died unexpectedly, bad reply) */
    SHMF_K_INHERITED,                    /* a process with a recycled pid found bytes in its new slot */
    SHMF_K_COUNT
};

typedef struct {
    unsigned kinds;         /* bit set of finding kinds */
    char detail[SHMF_K_COUNT][200];
    size_t region_size;
    uint8_t region[SHMM_FILE_CAPACITY];
    int32_t slot_of[SHMF_MAX_PROCS]; /* last process slot each writer used */
} shmf_outcome;

typedef struct {
    const char *layouts;  /* "all", "mix", or a comma list of writer builds: v1-K,...,v4a,v4b,v4c */
    int safe;             /* v4c safe paths: v4c writers and the safe reader; no crash, no kill,
                             no pause inside attach (longer than the ready wait), frees only of
                             what the process allocated; any interleaving otherwise */
    int max_ops;          /* entries per schedule (default 14) */
    int pid_reuse;        /* may add a process that gets a dead one's pid (not with safe); a
                             separate random stream, so schedules without it are unchanged */
} shmf_gen_options;

const char *shmf_kind_name(int kind);
const char *shmf_op_name(shmf_op op);

/* Parses a writer build name ("v3", "v4a", "v1-K", ...) into a config with the fuzzer's
 * settings (3 ready polls). Returns 0, or -1. */
int shmf_config_parse(const char *name, shmm_config *out);

/* Checks the layouts option. Returns 0, or -1 with a message. */
int shmf_gen_check(const shmf_gen_options *o, char *err, size_t errlen);

/* Schedule number n of campaign seed: the same schedule on every machine. Fractions are
 * resolved into steps (shmf_resolve) before it is returned. */
void shmf_generate(uint64_t seed, uint64_t n, const shmf_gen_options *o, shmf_schedule *out);

/* Turns pause/crash fractions into step numbers by running the model. */
void shmf_resolve(shmf_schedule *s);

/* Runs s through the model (pids: pids[i], or placeholders when NULL). out gets the region,
 * the slot oracle and the check findings. */
void shmf_run_model(const shmf_schedule *s, const int32_t *pids, shmf_outcome *out);

/* Runs s with real processes in directory dir (private; the region file is created and
 * removed there), then the model with the children's pids, and compares. Returns 0, or -1
 * with a message in err (the harness could not run). */
int shmf_run_real(const shmf_schedule *s, const char *dir, shmf_outcome *out, char *err, size_t errlen);

/* 1 if a process of s reuses another's pid (shmf_run_real then needs a PID namespace). */
int shmf_uses_pid_reuse(const shmf_schedule *s);

/* Whether this machine lets the real executor give a child a chosen pid: unshare(CLONE_NEWPID)
 * in a helper, whose first child (pid 1 there) writes its own namespace's ns_last_pid and forks.
 * Returns 0, or -1 with the reason (pid reuse is then skipped). */
int shmf_pidns_probe(char *err, size_t errlen);

/* The pid-reuse verdict after process p's first operation that returned a slot (res_slot):
 * the slot, decoded with p's own layout from the region bytes, must hold no more than the
 * operation itself recorded. Returns 1 with a message in detail when it holds more
 * (inherited), else 0. Only for processes with pid_from. */
int shmf_slot_inherited(const shmf_schedule *s, int p, const shmf_entry *e, int res_slot, const uint8_t *bytes,
                        size_t size, char *detail, size_t dlen);

/* Judges final region bytes (exists 0: no file) with shm_check, every process gone. */
void shmf_judge_bytes(const uint8_t *bytes, size_t size, int exists, shmf_outcome *out);

/* Shrinks s keeping finding kind `kind` (model runs only). Returns the number of model runs. */
int shmf_minimise(shmf_schedule *s, int kind);

/* "wrapped@v3" / "slot-twice@v1-K+v3": the kind and the sorted writer builds. */
void shmf_signature(const shmf_schedule *s, int kind, char *buf, size_t len);

/* Text form (docs/shm.md): writes s with `# ` comment lines and an optional expect line. */
void shmf_format(const shmf_schedule *s, const char *comment, int expect_kind, sbuf *out);

/* Parses the text form. expect_kind -1 when absent. Returns 0, or -1 with "line N: ..." in err. */
int shmf_parse(const char *text, size_t len, shmf_schedule *out, int *expect_kind, char *err, size_t errlen);

#endif
