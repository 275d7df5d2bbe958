/* standin: real child processes that stand in for simulated TT-Metal processes.
 *
 * The allocation server drops the buffers of any owner pid that fails kill(pid, 0), so every
 * simulated process needs a live pid of its own for as long as it "runs". A stand-in is a
 * forked child that blocks reading a pipe and exits when the pipe reaches EOF. Crashing it
 * (SIGKILL) and exiting it (closing the pipe) both reap it, because a zombie still passes
 * kill(pid, 0). The children never outlive the harness: the pipe's write end closes when the
 * harness dies, and PR_SET_PDEATHSIG kills them if the forking thread dies first.
 */
#ifndef ALLOCSIM_STANDIN_H
#define ALLOCSIM_STANDIN_H

#include <stddef.h>
#include <sys/types.h>

typedef enum {
    STANDIN_NONE = 0,   /* never started */
    STANDIN_RUNNING,
    STANDIN_EXITED,     /* exited normally and reaped */
    STANDIN_CRASHED     /* killed with SIGKILL and reaped */
} standin_state;

typedef struct {
    pid_t pid;          /* valid once started; kept after it is reaped (a dead pid) */
    int pipe_fd;        /* write end held by the harness, -1 when closed */
    standin_state state;
} standin;

/* Forks a stand-in. The child closes every inherited descriptor except its pipe, so it holds
 * no connection or server pipe of the harness. Precondition: s is zeroed or released.
 * Returns 0, or -1 with the reason in err. Note: PR_SET_PDEATHSIG follows the thread that
 * forked, so start stand-ins from a thread that lives as long as they should. */
int standin_spawn(standin *s, char *err, size_t errlen);

/* Kills the stand-in with SIGKILL and reaps it. Precondition: state RUNNING. Afterwards
 * kill(pid, 0) fails with ESRCH (until the OS reuses the pid). Returns 0, or -1 with err. */
int standin_crash(standin *s, char *err, size_t errlen);

/* Lets the stand-in exit normally (closes its pipe) and reaps it. Precondition: state
 * RUNNING. Returns 0, or -1 with err (it is then killed and reaped anyway). */
int standin_exit(standin *s, char *err, size_t errlen);

/* Ends a stand-in in any state without reporting: running ones are killed and reaped.
 * Safe to call twice. */
void standin_release(standin *s);

#endif
