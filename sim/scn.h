/* scn: the scenario language — its syntax tree, parser and expectations.
 *
 * A scenario is a small line-oriented script (docs/scenarios.md): top-level settings
 * (`protocol`, `seed`, `mesh`), then one block per simulated host process whose statements
 * open a mesh, allocate and free named buffers, load kernel binaries, capture and replay
 * traces, close, exit or crash, query and dump the server, and state expectations about the
 * most recent dump. scn_parse turns the text into a tree with every name resolved to a slot
 * (buffers, programs and traces are numbered per process), so the interpreter (scn_run.h)
 * never looks a name up. Expectations are `struct scn_expect`; the interpreter resolves them
 * (devices, addresses) and attaches them to the plan's dumps, and scn_expect_eval checks one
 * against any parsed dump, the ledger's or a real server's.
 */
#ifndef ALLOCSIM_SCN_H
#define ALLOCSIM_SCN_H

#include <stddef.h>
#include <stdint.h>

#include "device.h"
#include "dumpview.h"
#include "proto.h"
#include "sbuf.h"

#define SCN_MAX_DEPTH 16 /* nesting of repeat blocks */

typedef enum {
    SCN_OPEN = 0,      /* open [MESH] */
    SCN_CLOSE,         /* close */
    SCN_ALLOC,         /* alloc BUF TYPE SIZE [page=] [shard=] [bottom_up|top_down] [on SEL] */
    SCN_FREE,          /* free BUF */
    SCN_PROGRAM,       /* program NAME [binary=SIZE{,SIZE}] */
    SCN_CACHE_CLEAR,   /* clear program cache */
    SCN_TRACE_BEGIN,   /* trace begin ID */
    SCN_TRACE_END,     /* trace end ID size=SIZE */
    SCN_TRACE_REPLAY,  /* trace replay ID [N times] [step=TIME] */
    SCN_TRACE_RELEASE, /* trace release ID */
    SCN_DECODE,        /* decode N steps [trace=ID] [step=TIME] */
    SCN_WAIT,          /* wait TIME */
    SCN_QUERY,         /* query [on SEL] */
    SCN_DUMP,          /* dump */
    SCN_PHASE,         /* phase TEXT */
    SCN_EXIT,          /* exit */
    SCN_CRASH,         /* crash */
    SCN_EXPECT,        /* expect dump ... */
    SCN_REPEAT,        /* repeat N { ... } */
    SCN_SEND,          /* send alloc|free|query|cb_alloc|cb_free|kernel_load|kernel_unload|dump_kernels */
    SCN_CLIENT,        /* client KEY=VALUE ... (the process's TT-Metal client from here on) */
    SCN_DUMP_KERNELS   /* dump kernels */
} scn_op;

/* The TT-Metal client a process runs: which era's messages it sends for CBs and kernels, and
 * the client faults of the tracking stories (tracking-stories.md). A field of -1 is "not
 * written" in a `client` statement; SCN_AUTO means "what the revision's era sent". */
enum { SCN_AUTO = 0 };
enum { SCN_CB_MSG = 1, SCN_CB_L1 = 2, SCN_CB_NONE = 3 };         /* cbs= */
enum { SCN_ON = 1, SCN_OFF = 2 };                                /* kernels=, system_kernels=, reports= */
enum { SCN_DEVS_ALL = 1, SCN_DEVS_DEVICE0 = 2, SCN_DEVS_NONE = 3 }; /* frees=, cb_devices=, kernel_devices= */
enum { SCN_SIZE_REAL = 1, SCN_SIZE_ZERO = 2 };                   /* cb_free_size=, kernel_size= */
enum { SCN_LOAD_ONCE = 1, SCN_LOAD_EVERY_RUN = 2 };              /* kernel_load= */
/* frame_bytes=: the client's struct size; SCN_AUTO = the server's (scn_client_frame_bytes) */
enum { SCN_FRAME_72 = 1, SCN_FRAME_112 = 2, SCN_FRAME_128 = 3, SCN_FRAME_144 = 4 };

typedef struct {
    int8_t cbs, kernels, system_kernels, reports;
    int8_t frees, cb_devices, kernel_devices;
    int8_t cb_free_size, kernel_size, kernel_load;
    int8_t frame_bytes;
} scn_client;

/* Bytes of a frame_bytes= code (72, 112, 128, 144), 0 for SCN_AUTO or an unset field. */
static inline unsigned scn_client_frame_bytes(int8_t code) {
    static const unsigned bytes[] = {0, 72, 112, 128, 144};
    return code >= 0 && code <= SCN_FRAME_144 ? bytes[code] : 0;
}

#define SCN_KERNEL_FABRIC_BYTES 57344u   /* tracking-stories.md §2.2: 2 per device */
#define SCN_KERNEL_DISPATCH_BYTES 47104u /* 2 per device */

/* A number written as a value (lo == hi) or as a uniform random draw `LO..HI`. */
typedef struct {
    uint64_t lo, hi;
} scn_range;

/* A device selection: `all`, `dev N`, `devs N,M,...`, `devs N..M`. */
typedef struct {
    int all;
    uint64_t bits[DEV_MAX_DEVICES / 64];
} scn_devsel;

typedef enum { SCN_DIR_DEFAULT = 0, SCN_DIR_BOTTOM_UP, SCN_DIR_TOP_DOWN } scn_dir;

typedef enum {
    SCN_EXPECT_GROUPS = 0, /* expect dump [TYPE] [on SEL]: none | N buffers | SIZE bytes | at ADDR */
    SCN_EXPECT_TOTAL,      /* expect dump total N */
    SCN_EXPECT_PERFECT,    /* expect dump perfect */
    SCN_EXPECT_HAS,        /* expect dump has BUF [ref_count=N] [owner=PROC] */
    SCN_EXPECT_LACKS,      /* expect dump lacks BUF */
    SCN_EXPECT_CLEANED,    /* expect dump cleaned PROC [N buffers] */
    SCN_EXPECT_MODEL,      /* expect dump matches model */
    SCN_EXPECT_SHM,        /* expect shm ... (SHM regions; shm_what says which form) */
    SCN_EXPECT_QUERY,      /* expect query [on SEL]: dram=SIZE, l1=, l1_small=, trace=, cb=, kernel= */
    SCN_EXPECT_KTOTAL,     /* expect kernels total N */
    SCN_EXPECT_KGROUPS,    /* expect kernels [on SEL]: none | N kernels | SIZE bytes */
    SCN_EXPECT_KHAS,       /* expect kernels has ID [on SEL] [size=SIZE] [owner=PROC] */
    SCN_EXPECT_KLACKS      /* expect kernels lacks ID [on SEL] */
} scn_expect_kind;

/* QUERY reply fields an `expect query` can name (bit i of scn_expect.qmask). */
enum { SCN_Q_DRAM = 0, SCN_Q_L1, SCN_Q_L1_SMALL, SCN_Q_TRACE, SCN_Q_CB, SCN_Q_KERNEL, SCN_Q_COUNT };

/* Forms of `expect shm` (docs/scenarios.md): evaluated on the SHM regions at the check
 * point of the preceding dump (sim/shm_expect.h), ignored by the socket transport. */
enum {
    SCN_SHM_TOTAL = 0, /* expect shm total TYPE [on SEL]: SIZE | none */
    SCN_SHM_PROCESS,   /* expect shm process PROC [on SEL]: TYPE=SIZE, ... | none | present */
    SCN_SHM_ACTIVE,    /* expect shm active [on SEL]: N          (num_active_processes) */
    SCN_SHM_REFCOUNT,  /* expect shm refcount [on SEL]: N        (reference_count) */
    SCN_SHM_VERSION,   /* expect shm version [on SEL]: N */
    SCN_SHM_INIT,      /* expect shm init [on SEL]: READY | IN_PROGRESS | UNINITIALIZED (v4) */
    SCN_SHM_FILE,      /* expect shm file [on SEL]: present | absent */
    SCN_SHM_MODEL      /* expect shm matches model */
};

/* One expectation on a dump. The parser fills the "as written" part; the interpreter fills
 * the resolved part when it attaches a copy to a plan dump (plan.h). */
/* scn_expect.dialect: `expect poc ...` / `expect enhanced ...` hold only against that server's
 * output (a duplicate ALLOC with another size keeps the first size in the poc and replaces it
 * in allocation_server_enhanced); plain `expect ...` holds in every dialect. */
enum { SCN_DIALECT_ANY = 0, SCN_DIALECT_POC = 1, SCN_DIALECT_ENHANCED = 2 };

struct scn_expect {
    scn_expect_kind kind;
    int line, col;
    char *text;          /* the statement as written, for reports */
    int dialect;         /* SCN_DIALECT_*: the dialect this expectation applies to */
    /* as written */
    int type;            /* GROUPS: buffer type 0..4, or -1 for every type */
    scn_devsel devs;     /* GROUPS: the devices (all when not written) */
    int none;            /* GROUPS: the group must be absent */
    int64_t count;       /* GROUPS: buffers; TOTAL: tracked allocations; CLEANED: removed
                            buffers; -1 when not written */
    int has_bytes;       /* GROUPS: total bytes, compared as the report prints them (MB %g) */
    uint64_t bytes;
    int has_addr;        /* GROUPS: a listed buffer at this id */
    uint64_t addr;
    int ref_proc, ref_slot; /* HAS / LACKS: the named buffer (process index, buffer slot) */
    int32_t ref_count;   /* HAS: -1 when not written */
    char *process;       /* HAS: owner; CLEANED: the dead process; NULL when not written */
    char *buffer_name;   /* HAS / LACKS: as written (PROC.NAME or NAME) */
    int64_t cbs, kernels; /* CLEANED: removed CBs / kernels (-1 when not written; 0 = no line) */
    unsigned qmask;      /* QUERY: the fields written */
    uint64_t q[SCN_Q_COUNT]; /* QUERY: their values */
    uint64_t kernel_id;  /* KHAS / KLACKS */
    int has_size;        /* KHAS: size=SIZE (compared as the report prints KB) */
    int shm_what;        /* SHM: SCN_SHM_* (also uses devs, none, count, bytes, process,
                            qmask/q for a slot's counters) */
    int shm_counter;     /* SHM TOTAL: counter (SCN_Q_* order = the region's counter order) */
    /* resolved by the interpreter */
    int32_t *devices;    /* GROUPS, HAS, LACKS: devices to check, ascending */
    size_t ndevices;
    uint8_t buffer_type; /* HAS / LACKS */
    uint64_t buffer_id;  /* HAS / LACKS */
};

typedef struct scn_stmt scn_stmt;

struct scn_stmt {
    scn_op op;
    int line, col;
    int slot;            /* ALLOC/FREE: buffer; PROGRAM: program; TRACE_*, DECODE: trace (-1 none);
                            OPEN: mesh index */
    dev_region region;   /* ALLOC */
    scn_range size;      /* ALLOC, TRACE_END; SEND: size */
    uint64_t page_size;  /* ALLOC (default 2048) */
    uint32_t shard_cores;/* ALLOC: 0 = interleaved */
    scn_dir dir;         /* ALLOC */
    scn_devsel devs;     /* ALLOC, QUERY */
    uint64_t count;      /* REPEAT iterations, DECODE steps, TRACE_REPLAY times */
    scn_range time_ns;   /* WAIT; DECODE and TRACE_REPLAY: time per step */
    uint64_t *binaries;  /* PROGRAM: kernel-binary size of each program of the workload */
    size_t nbinaries;    /* 0: the program must already be cached */
    char *text;          /* PHASE: the label */
    char *expect_error;  /* the statement must fail with an error containing this text */
    int expect_error_line;
    struct scn_expect *expect; /* EXPECT */
    scn_stmt *body;      /* REPEAT */
    size_t nbody;
    /* SEND: a raw frame (type ALLOC, FREE or QUERY) */
    uint8_t send_type;
    int32_t send_device;
    uint8_t send_buffer_type;
    uint64_t send_buffer_id;
    /* PROGRAM: CBs and kernels (a workload's first run) */
    uint64_t *cbs;       /* per-core CB sizes, placed upward from l1_unreserved_base */
    size_t ncbs;
    uint64_t *kernels;   /* kernel binary sizes (default: the binaries), one KERNEL_LOAD each */
    size_t nkernels;
    uint8_t kernel_type; /* 0 Application, 1 Fabric, 2 Dispatch */
    uint32_t cores;      /* cores=N (0: the mesh's l1_banks) */
    int has_kernel_id;
    uint64_t kernel_id;  /* kernel_id=N: the first kernel's id */
    /* CLIENT */
    scn_client client;
};

typedef struct {
    char *name;
    int line, col;
    scn_stmt *stmts;
    size_t nstmts;
    char **buffers;      /* slot -> name */
    int nbuffers;
    char **programs;
    int nprograms;
    char **traces;
    int ntraces;
} scn_process;

typedef struct {
    char *name;          /* `as NAME`, else the preset name */
    int line, col;
    dev_config cfg;      /* preset + overrides, validated */
    int kernel_per_core; /* kernel_size=per_core: KERNEL_LOAD size = binary x cores */
    uint32_t eth_cores;  /* Fabric kernel cores (16) */
    uint32_t dispatch_cores; /* Dispatch kernel cores (2) */
} scn_mesh;

typedef struct {
    char *path;          /* as given to scn_parse, used in every message */
    int has_rev;
    proto_rev rev;       /* `protocol REV` (default v72) */
    int has_seed;
    uint64_t seed;       /* `seed N` (default 0) */
    scn_client client;   /* top-level `client` (every process starts with it; SCN_AUTO fields) */
    scn_mesh *meshes;
    int nmeshes;
    scn_process *procs;
    int nprocs;
} scn_script;

/* Parses a scenario. text need not be NUL-terminated; path is used only in messages.
 * Returns 0 and a new script in *out (release with scn_script_free), or -1 with a message
 * `path:line:col: expected X, found Y` in err (never crashes, whatever the bytes). Rejects
 * non-UTF-8 text, NUL bytes, unknown statements and arguments, bad units, overflow, and a
 * file without any process. Running out of memory is reported as an error too. */
int scn_parse(const char *text, size_t len, const char *path, scn_script **out, char *err,
              size_t errlen);

/* Releases a script and everything it owns. NULL is allowed. */
void scn_script_free(scn_script *s);

/* 1 if the script depends on the CB/kernel era of its client: programs with CBs or kernels,
 * `client` statements, `dump kernels`, raw CB/kernel frames, `expect query`/`expect kernels`,
 * `cleaned ... N cbs|kernels`, kernel_size=per_core. Such a scenario means what it says only
 * in the era of its own `protocol` (v144 sends CB_ALLOC/KERNEL_LOAD, v72/v112 do not). */
int scn_script_uses_cbk(const scn_script *s);

/* 1 if a `client` statement sets frame_bytes= to a size (S9): the run then models the
 * server's stderr (plan.stderr_model). */
int scn_script_sets_frame_bytes(const scn_script *s);

/* Parses a size: a decimal or 0x number with an optional unit B, KiB, MiB, GiB, TiB, KB, MB,
 * GB, TB (`1.5GiB` is allowed when the result is a whole number of bytes; `_` may separate
 * digits). Returns 0 and *out, or -1 with "expected ..., found ..." in err (no location). */
int scn_parse_size(const char *s, uint64_t *out, char *err, size_t errlen);

/* Parses a duration: a number with unit ns, us, ms or s (plain numbers are nanoseconds). */
int scn_parse_time(const char *s, uint64_t *out, char *err, size_t errlen);

/* 1 if the selection holds device d (ignoring `all`). */
int scn_devsel_has(const scn_devsel *sel, int32_t d);

/* Deep copy / release of an expectation (the copy owns its strings and device list).
 * scn_expect_copy returns 0, or -1 when out of memory (dst is then released). */
int scn_expect_copy(struct scn_expect *dst, const struct scn_expect *src);
void scn_expect_release(struct scn_expect *e);

/* Evaluates one resolved expectation against a parsed dump. `name` maps a pid of `actual` to
 * a process name (owner= and cleaned need it; NULL: pids stay numbers and never match a
 * name). `model` is the dump the ledger expects, with its own pid mapper; only
 * SCN_EXPECT_MODEL uses it (NULL there makes the expectation fail). Returns 1 if the
 * expectation holds, 0 if not, appending one line saying what was expected and what was
 * found to why. */
int scn_expect_eval(const struct scn_expect *e, const dumpview *actual, dumpview_pid_name_fn name,
                    void *name_ctx, const dumpview *model, dumpview_pid_name_fn model_name,
                    void *model_ctx, sbuf *why);

#endif
