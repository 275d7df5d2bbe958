/* runner: executes a simulated plan, or a recorded stream, against a live server.
 *
 * A plan is converted to a stream (stream_from_plan) and every stream is executed the same
 * way: each process gets a real stand-in child (its pid replaces the recorded pid in every
 * frame), each connection is a real socket, fences make order across connections, and each
 * DUMP waits for the server's "📋 DUMP_REMAINING complete." line and cuts the report out of
 * the server's output. The result is plain data for the checker: every dump's actual lines
 * and their parsed view, every reply read, and the maps between pids and process names.
 * The runner judges nothing except whether the server stayed reachable: a server that died,
 * hung (a fence or reply timeout) or refused connections ends the run with
 * RUNNER_SERVER_FAILED and a message naming the cause, the server's exit status or signal,
 * and the tail of its log.
 */
#ifndef ALLOCSIM_RUNNER_H
#define ALLOCSIM_RUNNER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "dumpview.h"
#include "ledger.h"
#include "plan.h"
#include "proto.h"
#include "sbuf.h"
#include "srvproc.h"
#include "stream.h"

typedef enum {
    RUNNER_OK = 0,
    RUNNER_SERVER_FAILED = 1, /* died, hung, refused, closed a connection, or sent garbage */
    RUNNER_BAD_INPUT = 2,     /* the stream asks for something impossible (unknown connection...) */
    RUNNER_HARNESS_ERROR = 3  /* fork, memory... on the harness side */
} runner_status;

/* Who stands in for the stream's processes. By default (runner_opts.procs NULL) the runner
 * starts a `cat` child per process (standin). With procs set, the caller's own processes do
 * (`--transport both`: the SHM stand-ins of harness/shm_run, which write the regions): spawn
 * gives the pid to put into the process's frames, end crashes or lets it exit (and reaps it),
 * and dump is called before the ordinal-th DUMP (counting from 0) is sent, so the caller can
 * catch up to the same point of the scenario. Each returns 0, or -1 with a message in err. */
typedef struct runner_procs {
    void *ctx;
    int (*spawn)(void *ctx, uint32_t proc, int32_t *pid, char *err, size_t errlen);
    int (*end)(void *ctx, uint32_t proc, int crash, char *err, size_t errlen);
    int (*dump)(void *ctx, size_t ordinal, char *err, size_t errlen); /* may be NULL */
} runner_procs;

typedef struct {
    int timeout_ms;      /* connect, write, fence and reply waits (default 10 s, --timeout) */
    int dump_timeout_ms; /* waiting for a dump's completion line (default: timeout_ms) */
    int log_tail_lines;  /* server log lines quoted in failure messages (default 30) */
    size_t max_batch_bytes; /* consecutive whole frames on one connection sent in one write
                               (default 64 KiB; 0 or 1 = one write per record) */
    ledger_dialect dialect; /* how the server's dumps end: the poc's completion line, or the
                               enhanced server's "Total remaining buffers" / perfect line
                               (plus its DOUBLE-FREED report when one follows) */
    const runner_procs *procs; /* NULL: `cat` stand-ins; else the caller's processes */
} runner_opts;

typedef struct {
    size_t record;       /* stream record index of the DUMP */
    size_t ordinal;      /* k for the k-th DUMP (= plan dump index for runner_run_plan) */
    int plan_dump;       /* plan_step.dump of the step (runner_run_plan), else -1 */
    size_t first_line;   /* log index of "📋 Received DUMP_REMAINING request..." */
    size_t last_line;    /* log index of "📋 DUMP_REMAINING complete." */
    sbuf text;           /* stdout lines first_line..last_line, each ending in '\n' */
    dumpview view;       /* parsed from text (noise lines skipped) */
    int parsed;          /* 1 if view is valid */
    char *parse_error;   /* when not parsed: the parser's message (owned) */
} runner_dump;

typedef struct {
    size_t record;       /* stream record index of the READ_REPLY */
    size_t ordinal;      /* k for the k-th READ_REPLY */
    long plan_step;      /* runner_run_plan: index of the plan step with has_reply, else -1 */
    uint16_t conn;
    uint8_t raw[PROTO_MAX_FRAME]; /* frame_size bytes as received */
    proto_msg msg;       /* decoded */
} runner_reply;

typedef struct {
    runner_status status;
    sbuf message;        /* empty when OK; otherwise cause, server status and log tail */
    size_t failed_record; /* record being executed when it failed */

    runner_dump *dumps;
    size_t ndumps;
    runner_reply *replies;
    size_t nreplies;

    /* Processes: names and pids, recorded (simulated) and live (stand-in; 0 = never ran). */
    uint32_t nprocs;
    char **proc_names;
    int32_t *recorded_pid;
    int32_t *live_pid;

    uint64_t frames_sent; /* frames started on all connections (fences included) */
    uint64_t bytes_sent;
    uint64_t fences;
    size_t log_start;     /* server log index when the run started */
    size_t log_end;       /* server log index when it ended */
} runner_result;

/* Fills o with the defaults. */
void runner_opts_default(runner_opts *o);

/* Executes stream s against the server (started and ready, or attached). Always fills *res
 * (release it with runner_result_release). Returns res->status. Stand-ins and connections are
 * ended whatever happens. */
runner_status runner_run_stream(srvproc *srv, const stream *s, const runner_opts *o,
                                runner_result *res);

/* Executes a plan: converts it with stream_from_plan and runs the stream; dumps carry the plan
 * dump index and replies the plan step index. If record_path is not NULL the stream is also
 * saved there (a .allocstream) before running. Returns res->status. */
runner_status runner_run_plan(srvproc *srv, const plan *p, const runner_opts *o,
                              const char *record_path, runner_result *res);

void runner_result_release(runner_result *res);

/* pid -> process name mappers (dumpview_pid_name_fn) over a runner_result: live pids and
 * recorded (simulated) pids. NULL for pids no process had. */
const char *runner_live_pid_name(void *result, int32_t pid);
const char *runner_recorded_pid_name(void *result, int32_t pid);

#endif
