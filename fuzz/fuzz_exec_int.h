/* fuzz_exec_int: the executor's state, shared by fuzz_exec.c (running one stream) and
 * fuzz_server.c (the server's life, the stand-in pool, outcomes, differential comparison).
 * Not part of the fuzz/ interface; include fuzz_exec.h instead.
 */
#ifndef ALLOCSIM_FUZZ_EXEC_INT_H
#define ALLOCSIM_FUZZ_EXEC_INT_H

#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "fuzz.h"
#include "fuzz_exec.h"
#include "srvproc.h"
#include "standin.h"

#define FUZZ_DUMP_START "📋 Received DUMP_REMAINING request..."
#define FUZZ_DUMP_DONE "📋 DUMP_REMAINING complete."
#define FUZZ_DEAD_HEADER "⚠️  Detected dead processes, cleaning up orphaned buffers..."
#define FUZZ_SWEEP_DEVICES 8
#define FUZZ_LOG_TAIL 25
#define FUZZ_IDLE_CONNS 16
#define FUZZ_BATCH_MAX 65536

struct fuzz_exec {
    fuzz_exec_config cfg;
    char *command;
    char *attach_socket;
    char *attach_log;
    char **extra; /* NULL-terminated copy of cfg.extra_args */
    srvproc *srv;
    srvproc *spare;  /* cfg.warm_spare: the next server, started, not used yet */
    fuzz_model *model;
    conn control;
    size_t frame_size;
    size_t log_pos;  /* first log line not yet searched for dump reports */
    size_t scan_pos; /* first log line not yet scanned for sanitizer reports */
    standin *pool;   /* idle running stand-ins */
    size_t npool, pool_cap;
    conn idle[FUZZ_IDLE_CONNS]; /* open connections a finished stream left clean */
    size_t nidle;
    int dirty;       /* the server's state is unknown: restart before the next stream */
    int quiet_ms;    /* cfg.quiet_ms, changeable */
    dev_config devices; /* cfg.devices parsed (used when cfg.devices is set) */
    uint64_t restarts;
};

/* The timeout of every wait (cfg.timeout_ms or 5 s). */
int fuzz_exec_timeout(const fuzz_exec *x);

/* Closes the idle connections a finished stream left clean. */
void fuzz_exec_idle_drop(fuzz_exec *x);

/* A running stand-in from the pool (or a new one). Returns 0 or -1 with err. */
int fuzz_exec_pool_take(fuzz_exec *x, standin *out, char *err, size_t errlen);

/* Gives a still-running stand-in back to the pool (released if the pool cannot grow). */
void fuzz_exec_pool_give(fuzz_exec *x, standin *s);

/* Empties o for a new run (buffers kept). */
void fuzz_outcome_reset(fuzz_outcome *o);

/* Appends a zeroed observation to o. Returns it, or NULL when out of memory. */
fuzz_observation *fuzz_outcome_add_obs(fuzz_outcome *o);

#endif
