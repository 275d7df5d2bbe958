/* plan: what the simulator produces for the harness; one scenario, fully simulated.
 *
 * The interpreter (scn_run) runs a scenario in virtual time and flattens it into a list of
 * steps, each the act of one simulated process: start, send a frame, crash, exit, dump. Each
 * step carries what a correct server must answer (QUERY replies, the exact DUMP_REMAINING
 * lines) according to the ledger. PIDs inside frames and expected output are the simulated
 * pids `sim_pid[proc]`; the harness substitutes the live stand-in child's pid when sending
 * and maps both back to process names when comparing. libsim never knows a server exists.
 */
#ifndef ALLOCSIM_PLAN_H
#define ALLOCSIM_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"
#include "sbuf.h"

typedef enum {
    PLAN_SPAWN = 0, /* process `proc` starts (the harness forks its stand-in, connects) */
    PLAN_SEND,      /* process `proc` sends `msg` (QUERY: `reply` is the expected answer) */
    PLAN_CRASH,     /* process `proc` is killed and reaped; its pid is dead from now on */
    PLAN_EXIT,      /* process `proc` exits normally: connection closed, child reaped */
    PLAN_DUMP,      /* process `proc` sends DUMP_REMAINING; expected report in dumps[dump] */
    PLAN_PHASE,     /* a phase marker (trace begin/end, decode, close...): `label` */
    PLAN_OPEN,      /* process `proc` opens device msg.device_id of mesh `mesh` (one step per
                       device, in the mesh's order); sends nothing: the SHM transport attaches */
    PLAN_CLOSE      /* process `proc` closes device msg.device_id of mesh `mesh` (after the
                       close's FREEs); sends nothing: the SHM transport detaches */
} plan_kind;

typedef struct {
    plan_kind kind;
    int proc;            /* index into proc_names / sim_pid */
    uint64_t vtime_ns;   /* virtual time of the step */
    proto_msg msg;       /* PLAN_SEND, PLAN_DUMP (the DUMP_REMAINING frame) */
    int has_reply;       /* PLAN_SEND of QUERY / DEVICE_INFO_QUERY */
    proto_msg reply;     /* expected reply */
    int dump;            /* PLAN_DUMP: index into dumps */
    const char *label;   /* PLAN_PHASE: owned by the plan */
    int line;            /* scenario line that produced the step (0 if none) */
    int mesh;            /* PLAN_OPEN, PLAN_CLOSE: index of the mesh declaration */
    uint16_t wire_bytes; /* PLAN_SEND: 0 = msg encoded at the server's frame size; else the
                            client's struct size (`client frame_bytes=`): the bytes on the wire
                            are framing_encode_client(wire_bytes, msg), sent as they are on
                            the process's connection, which the server may misframe */
} plan_step;

struct scn_expect; /* defined by the scenario module */

typedef struct {
    int line;            /* scenario line of the `dump` statement */
    sbuf expected;       /* the ledger's lines for this report, '\n'-terminated, sim pids */
    struct scn_expect *expects; /* expectations to evaluate on this dump (scenario order) */
    size_t nexpects;
    char *golden_name;   /* label used in the golden file (e.g. "dump 1 (line 42)") */
} plan_dump;

/* A DUMP_KERNELS report (`dump kernels`): the exact lines the model prints (ages included,
 * though a comparison ignores them). */
typedef struct {
    int line;
    sbuf expected;
    long step;           /* the plan step of its DUMP_KERNELS frame (-1: steps not kept) */
} plan_kdump;

/* An expectation the interpreter evaluated on the model when it ran (`expect query`, `expect
 * kernels`). A live run evaluates the same expectation again on what the server answered:
 * the QUERY replies of the steps qsteps (one per device of devs) or the DUMP_KERNELS report
 * of kdump as the server printed it. */
typedef struct {
    int line;
    char *text;          /* the statement as written */
    int ok;
    char *why;           /* when !ok: what was expected and found */
    struct scn_expect *expect; /* a copy, devices resolved into devs (owned) */
    uint64_t devs[4];    /* the devices it covers (DEV_MAX_DEVICES bits) */
    int kdump;           /* `expect kernels`: index into kdumps; -1 otherwise */
    int32_t *qdevs;      /* `expect query`: the devices, ascending (owned) */
    long *qsteps;        /* and the plan step of each one's latest QUERY (-1: steps not kept) */
    size_t nq;
} plan_check;

typedef struct {
    proto_rev rev;
    uint64_t seed;
    char *scenario_path;
    int nprocs;
    char **proc_names;   /* owned */
    int32_t *sim_pid;    /* owned */
    plan_step *steps;    /* owned */
    size_t nsteps;
    plan_dump *dumps;    /* owned */
    size_t ndumps;
    plan_kdump *kdumps;  /* owned */
    size_t nkdumps;
    plan_check *checks;  /* owned, in the order they ran */
    size_t nchecks;
    uint64_t frames;     /* frames sent in total (SEND + DUMP steps) */
    int stderr_model;    /* the scenario sets `client frame_bytes=`: stderr_lines is the whole
                            of what the server must print on stderr, and a live run checks it */
    sbuf stderr_lines;   /* every stderr line the model printed, '\n'-terminated, sim pids
                            (kept when steps are kept) */
    uint64_t digest;     /* XXH3-64 of every encoded frame in order */
} plan;

void plan_release(plan *p);

#endif
