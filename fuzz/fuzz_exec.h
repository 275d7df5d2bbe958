/* fuzz_exec: runs .allocstream streams against a live server and judges what it did — the
 * live half of `allocsim fuzz` and `allocsim replay`.
 *
 * One executor owns one server (started through srvproc, or attached to) for many streams:
 * the server is restarted only after a failure, because each stream is followed by frames
 * that bring the server back to empty (computed from the model), sent together with the final
 * check on a private control connection. Processes are backed by pooled stand-in children,
 * so a stream costs no fork unless one of its processes dies.
 *
 * Executing a stream follows the model (fuzz.h) record by record: recorded pids are patched
 * to live stand-in pids where the server will read them, a fence is inserted wherever order
 * across connections matters (before switching connections, before a process dies, at the
 * end), every reply the model predicts is read, and every DUMP_REMAINING report is cut from
 * the server's stdout. Oracles, in order of precedence: a sanitizer report on stderr, the
 * server died (exit status or signal), a wait timed out (hang), a reply or dump differs from
 * the model, or a connection was closed that should not have been. After the records, the
 * final check fences every connection and compares one more dump and a QUERY of each device.
 */
#ifndef ALLOCSIM_FUZZ_EXEC_H
#define ALLOCSIM_FUZZ_EXEC_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"
#include "sbuf.h"
#include "stream.h"

typedef struct {
    proto_rev rev;
    /* Server command line (run through the shell with the socket shim), or NULL for the
     * reference server, which is then started with --protocol REV plus extra_args. */
    const char *command;
    const char *const *extra_args; /* NULL-terminated; reference server only */
    /* Attach mode: a server someone else runs (its stdout/stderr in attach_log). No restart. */
    const char *attach_socket;
    const char *attach_log;
    int timeout_ms;         /* every wait: fences, replies, dumps, connects (0: 5000) */
    int oracle;             /* compare replies and dumps with the model (0 in differential mode) */
    int check_device_info;  /* compare DEVICE_INFO replies too (a real server detects devices) */
    /* The server may run its dead-PID cleanup on its own timer: a stream during which it did
     * is inconclusive rather than failed. */
    int background_cleanup;
    int final_check;        /* end each stream with a dump and a QUERY of every device */
    int record_transcript;  /* keep every reply and (canonical) dump in the outcome */
    int keep_dumps;         /* keep the text of every dump the server printed */
    /* A reply awaited on a connection whose bytes the server has all read is a hang after
     * this many ms of silence, not after the whole timeout (0: only the timeout). */
    int quiet_ms;
    /* A device preset (dev_preset: "n300", "t3k", ...) or NULL: the model answers DEVICE_INFO
     * like a server on that machine, and the reference server is started with --devices. */
    const char *devices;
    /* Keep a second server started and waiting, so that a restart after a crash costs no
     * start-up wait (not in attach mode, nor when the server must use the hard-coded path). */
    int warm_spare;
} fuzz_exec_config;

typedef enum {
    FUZZ_PASS = 0,
    FUZZ_FAIL = 1,         /* the server misbehaved: signature and detail say how */
    FUZZ_INCONCLUSIVE = 2, /* disturbed by the server's own cleanup timer: no verdict */
    FUZZ_ERROR = 3         /* the harness could not run the stream (detail says why) */
} fuzz_verdict;

/* What a run observed, in order (for differential mode). */
typedef struct {
    size_t record;      /* record index (nrecords for the final check) */
    int is_dump;
    uint8_t kind;       /* replies: the request type (QUERY, DEVICE_INFO_QUERY) */
    uint8_t frame[PROTO_MAX_FRAME];
    char *dump;         /* dumps: canonical text (pids as #process), owned */
} fuzz_observation;

typedef struct {
    fuzz_verdict verdict;
    char signature[128];  /* FUZZ_FAIL: e.g. crash-SIGSEGV, hang, dump-mismatch-count */
    sbuf detail;          /* what differed, the server's status and log tail */
    size_t record;        /* where it was noticed (nrecords: in the final check) */
    uint64_t replies;     /* replies compared */
    uint64_t dumps;       /* dumps compared */
    uint64_t frames;      /* frames written (fences and the final check included) */
    sbuf dump_text;       /* keep_dumps: every report the server printed */
    fuzz_observation *obs;
    size_t nobs, obs_cap;
} fuzz_outcome;

void fuzz_outcome_init(fuzz_outcome *o);
void fuzz_outcome_release(fuzz_outcome *o);

typedef struct fuzz_exec fuzz_exec;

/* Starts (or attaches to) the server and waits until it accepts connections. The strings in
 * cfg are copied. Returns 0 and *out, or -1 with the reason in err. */
int fuzz_exec_new(const fuzz_exec_config *cfg, fuzz_exec **out, char *err, size_t errlen);

/* Runs stream s (its frame size must be the executor's revision's) and fills *o (initialised by the caller
 * with fuzz_outcome_init; reset here). After a FUZZ_FAIL or FUZZ_ERROR the next run starts
 * with a fresh server. Returns o->verdict. */
fuzz_verdict fuzz_exec_run(fuzz_exec *x, const stream *s, fuzz_outcome *o);

/* Stops the server and starts a fresh one with an empty model. Returns 0 or -1 with err
 * (attach mode: only the model is reset). */
int fuzz_exec_restart(fuzz_exec *x, char *err, size_t errlen);

/* Forgets the server's state: the next run starts with a fresh server (differential mode
 * calls this when two servers disagree). */
void fuzz_exec_invalidate(fuzz_exec *x);

/* Changes cfg.quiet_ms (a campaign shortens it once a hang is known). */
void fuzz_exec_set_quiet(fuzz_exec *x, int quiet_ms);

/* How the server was isolated (srvproc's note) or NULL. */
const char *fuzz_exec_note(const fuzz_exec *x);

/* Server restarts so far (after failures and explicit restarts). */
uint64_t fuzz_exec_restarts(const fuzz_exec *x);

/* Waits up to grace_ms for the server to die of something the last stream did after its
 * final check (a reply written to a connection the client had already closed: SIGPIPE). When
 * it has, o (which held a FUZZ_PASS) becomes the FUZZ_FAIL of a run of an empty stream on the
 * dead server, with its signature. Returns o->verdict. */
fuzz_verdict fuzz_exec_settle(fuzz_exec *x, int grace_ms, fuzz_outcome *o);

/* Stops the server (if owned), ends every stand-in, frees x. NULL-safe. */
void fuzz_exec_free(fuzz_exec *x);

/* Compares the observations of two runs of the same stream (differential mode). Returns 0
 * when they agree, else 1 with a signature ("diff-reply-QUERY-l1_allocated", "diff-dump",
 * "diff-count") in sig and a description appended to detail. */
int fuzz_observations_compare(proto_rev rev, const fuzz_outcome *a, const fuzz_outcome *b,
                              char *sig, size_t siglen, sbuf *detail);

#endif
