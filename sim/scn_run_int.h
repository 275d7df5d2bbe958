/* scn_run_int: the interpreter's internal state, shared by the files of the interpreter.
 *
 * sim/scn_run.c holds the frame path (encode, digest, ledger, plan steps, timeline), the
 * devices of a mesh, buffers, queries, raw frames, the process loop and scn_run itself;
 * sim/scn_run_prog.c the program cache (kernel binaries), traces, decode and close;
 * sim/scn_run_dump.c dumps and expectations. Nothing outside these files includes this
 * header. Every function returns 0, or -1 with a located message in r->msg (a scenario
 * error an `expect error` may catch), or -2 when the run must stop (host out of memory,
 * a run limit).
 */
#ifndef ALLOCSIM_SCN_RUN_INT_H
#define ALLOCSIM_SCN_RUN_INT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "alloc.h"
#include "evq.h"
#include "framing.h"
#include "ledger.h"
#include "rng.h"
#include "scn_run.h"

#define NDEVWORDS (DEV_MAX_DEVICES / 64)

typedef struct {
    int live, ever;
    uint64_t addr, size, serial;
    dev_region region;
    uint64_t devs[NDEVWORDS]; /* devices the ALLOCs went to */
} run_buf;

typedef struct {
    int live;
    uint64_t addr, size, serial;
    int has_binary;           /* a kernel-binary buffer was allocated (binary=) */
    const scn_stmt *decl;     /* the statement that loaded it (its CBs and kernels) */
    uint64_t kid;             /* id of its first kernel */
    uint8_t cb_mode;          /* what its load sent for CBs: SCN_CB_MSG, SCN_CB_L1, SCN_CB_NONE */
    uint8_t ksent, kzero;     /* KERNEL_LOADs sent; with size 0 (client kernel_size=zero) */
    uint64_t cbdevs[NDEVWORDS], kdevs[NDEVWORDS];
} run_prog;

typedef struct {
    int live;
    uint64_t addr, padded, serial;
} run_trace;

typedef struct {
    const scn_mesh *decl;
    dev_layout layout;
    alloc_region *region[DEV_REGION_COUNT];
    uint64_t devs[NDEVWORDS]; /* the mesh's devices */
    uint64_t trace_used; /* sum of padded live trace sizes (the pre-2026 budget) */
} run_mesh;

typedef struct {
    const scn_stmt *v;
    size_t n, i;
    uint64_t left;
} run_frame;

typedef enum { PROC_RUNNING = 0, PROC_EXITED, PROC_CRASHED } proc_state;

typedef struct {
    const scn_process *decl;
    int index;
    int32_t pid;
    proc_state state;
    run_mesh *mesh;
    int last_mesh; /* index of the mesh declaration opened last, -1 never */
    run_buf *bufs;
    run_prog *progs;
    run_trace *traces;
    int capturing; /* trace slot, -1 */
    long last_dump;
    scn_client client;  /* resolved: no SCN_AUTO left */
    int free_filter;    /* client frees != all or reports off: scnr_send_to_mesh filters */
    uint64_t sys_kid;   /* ids sys_kid .. sys_kid + 3 of the system kernels, 0 = none loaded */
    uint64_t sys_size[2]; /* Fabric and Dispatch KERNEL_LOAD sizes */
    uint64_t sysdevs[NDEVWORDS];
    ledger_counters *qlast; /* latest QUERY reply per device (lazily allocated) */
    long *qstep;        /* its plan step (-1: steps not kept); inside qlast's allocation */
    uint64_t qhave[NDEVWORDS];
    long last_kdump;    /* index into plan.kdumps, -1 none */
    run_frame stack[SCN_MAX_DEPTH + 1];
    int depth;
    rng sizes, times;
    unsigned wire_fs;   /* client frame_bytes= when it differs from the server's frame, else 0 */
    framing fr;         /* the server's reading of its connection while raw_open names it */
} run_proc;

typedef struct {
    const scn_script *s;
    const scn_run_opts *o;
    proto_rev rev;
    const proto_rev_info *ri;
    plan *p;
    scn_run_info *info;
    ledger *led;
    XXH3_state_t xx;
    uint8_t batch[32768]; /* frames not yet hashed */
    size_t batch_len;
    evq q;
    run_proc *procs;
    uint64_t now;
    uint64_t serial;
    uint64_t statements; /* executed so far, for max_statements */
    uint64_t next_kernel_id; /* kernel ids: one run-wide counter, from 1 */
    size_t cap_kdumps;
    size_t cap_steps, cap_dumps;
    uint64_t touched[NDEVWORDS]; /* devices that ever got a frame (timeline after cleanup) */
    int raw_open;        /* process whose misframed connection holds unsettled bytes, -1 none */
    char msg[768];
} run;

/* ---- small helpers -------------------------------------------------------------------- */

static inline int scnr_bit_has(const uint64_t *bits, int d) { return (int)((bits[d / 64] >> (d % 64)) & 1u); }

static inline const dev_config *scnr_mesh_cfg(const run_mesh *m) { return &m->decl->cfg; }

static inline void scnr_all_mesh_devices(const run_mesh *m, uint64_t out[NDEVWORDS]) {
    memcpy(out, m->devs, sizeof m->devs);
}

static inline uint64_t scnr_round_up(uint64_t v, uint64_t a) {
    return v % a ? (v > UINT64_MAX - a ? UINT64_MAX : v + a - v % a) : v;
}

/* The lowest device id of a set (the mesh's reference device for device0 faults), or -1. */
static inline int scnr_lowest_device(const uint64_t bits[NDEVWORDS]) {
    for (int i = 0; i < NDEVWORDS; i++)
        if (bits[i])
            return i * 64 + __builtin_ctzll(bits[i]);
    return -1;
}

static inline uint64_t scnr_draw(rng *g, scn_range v) { return v.lo == v.hi ? v.lo : rng_between(g, v.lo, v.hi); }

static inline int scnr_count_bits(const uint64_t bits[NDEVWORDS]) {
    int n = 0;
    for (int i = 0; i < NDEVWORDS; i++)
        n += __builtin_popcountll(bits[i]);
    return n;
}

/* ---- scn_run.c: errors, frames, devices, allocation ----------------------------------- */

/* Formats `path:line:col: ...` into r->msg; returns -1. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
int scnr_fail(run *r, const scn_stmt *st, const char *fmt, ...);
/* Host out of memory (never expectable): returns -2. */
int scnr_oom(run *r, const scn_stmt *st);
int scnr_phase(run *r, run_proc *pr, const scn_stmt *st, const char *label);
int scnr_proc_event(run *r, run_proc *pr, plan_kind kind, int line);
/* PLAN_OPEN / PLAN_CLOSE steps for every device of m (SHM attach / detach). */
int scnr_mesh_event(run *r, run_proc *pr, const run_mesh *m, plan_kind kind, int line);
void scnr_timeline_device(run *r, int32_t dev);
/* Encodes, hashes and applies one frame from pr at the current time. */
int scnr_send_frame(run *r, run_proc *pr, const scn_stmt *st, proto_msg *m, plan_kind kind, int dump);
/* One frame per device of devs, in the mesh's device order. */
int scnr_send_to_mesh(run *r, run_proc *pr, const scn_stmt *st, const run_mesh *m, const uint64_t devs[NDEVWORDS],
                      uint8_t type, uint64_t size, uint8_t btype, uint64_t addr);
const scn_mesh *scnr_default_mesh(const run *r, const run_proc *pr);
void scnr_format_devices(const uint64_t bits[NDEVWORDS], char *buf, size_t n);
int scnr_mesh_allocate(run *r, const scn_stmt *st, run_mesh *m, dev_region region, uint64_t request,
                       uint64_t per_bank, int bottom_up, const uint64_t devs[NDEVWORDS], uint64_t *addr);
run_mesh *scnr_need_mesh(run *r, run_proc *pr, const scn_stmt *st, const char *what);
void scnr_mesh_free(run_mesh *m);
int scnr_free_buffer(run *r, run_proc *pr, const scn_stmt *st, run_buf *b);

uint8_t *scnr_digest_slot(run *r, size_t n);
/* A frame of a process whose client struct differs from the server's (pr->wire_fs): its
 * bytes in the client's layout go through the server's framing (sim/framing.h). */
int scnr_raw_send(run *r, run_proc *pr, const scn_stmt *st, proto_msg *m);
/* The harness ends the misframed connection of r->raw_open (the server drops a partial
 * frame); a later frame of that process opens a new one. */
void scnr_raw_settle(run *r);
/* The ledger's output callback outside dumps: the stderr lines when plan.stderr_model. */
void scnr_emit_default(run *r);
int scnr_frame_limit(run *r, const scn_stmt *st);
int scnr_apply_frame(run *r, run_proc *pr, const scn_stmt *st, const proto_msg *m, plan_kind kind, int dump);

/* ---- scn_run_cbk.c: CBs, kernels, the client, queries and kernel reports -------------- */

/* Resolves a client's SCN_AUTO fields for the revision (its era) into pr->client. */
void scnr_client_set(run *r, run_proc *pr, const scn_client *c);
/* A program's first run (load = 1): CB and kernel messages per device; a cached run (load = 0)
 * resends the KERNEL_LOADs when the client loads on every run. */
int scnr_program_load(run *r, run_proc *pr, const scn_stmt *st, run_prog *g, int first);
/* The CB frees and kernel unloads of a program being destroyed. */
int scnr_program_unload(run *r, run_proc *pr, const scn_stmt *st, run_prog *g);
/* System kernels (Fabric, Dispatch) at open (load = 1) and close (load = 0). */
int scnr_system_kernels(run *r, run_proc *pr, const scn_stmt *st, int load);
void scnr_query_record(run *r, run_proc *pr, int32_t dev);
int scnr_exec_dump_kernels(run *r, run_proc *pr, const scn_stmt *st);
/* expect query / expect kernels: evaluated on the model now, recorded as a plan check. */
int scnr_exec_expect_ext(run *r, run_proc *pr, const scn_stmt *st);

/* ---- scn_run_prog.c: programs, traces, decode, close ---------------------------------- */

int scnr_exec_program(run *r, run_proc *pr, const scn_stmt *st);
int scnr_exec_cache_clear(run *r, run_proc *pr, const scn_stmt *st);
int scnr_exec_close(run *r, run_proc *pr, const scn_stmt *st);
int scnr_exec_trace(run *r, run_proc *pr, const scn_stmt *st, uint64_t *dur);
int scnr_exec_decode(run *r, run_proc *pr, const scn_stmt *st, uint64_t *dur);

/* ---- scn_run_dump.c: dumps and expectations ------------------------------------------- */

/* The ledger's liveness predicate: a pid of a process that exited or crashed is dead. */
int scnr_is_dead(void *ctx, int32_t pid);
/* A ledger emit callback appending the stdout lines to out while on. */
typedef struct {
    sbuf *out;
    int on;
} scnr_capture;
void scnr_capture_line(void *ctx, ledger_stream stream, const char *line, size_t len);
int scnr_exec_dump(run *r, run_proc *pr, const scn_stmt *st);
int scnr_exec_expect(run *r, run_proc *pr, const scn_stmt *st);

#endif
