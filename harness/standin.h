/* standin: real child processes that stand in for simulated TT-Metal processes.
 *
 * The allocation server drops the buffers of any owner pid that fails kill(pid, 0), so every
 * simulated process needs a live pid of its own for as long as it "runs". A stand-in is a
 * child (`cat` reading a pipe, started with posix_spawn) that blocks until the pipe reaches
 * end-of-file. Crashing it (SIGKILL) and exiting it (closing the pipe) both reap it, because
 * a zombie still passes kill(pid, 0). Stand-ins never outlive the harness: only the harness
 * holds the pipe's write end, so its death, however abrupt, ends them.
 */
#ifndef ALLOCSIM_STANDIN_H
#define ALLOCSIM_STANDIN_H

#include <stddef.h>
#include <stdint.h>
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

/* Starts a stand-in. It holds no descriptor of the harness besides its pipe (stdin) and
 * /dev/null (stdout, stderr), and every signal has its default action in it. Precondition: s
 * is zeroed or released. Returns 0, or -1 with the reason in err. */
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

/* The allocation server's liveness test: pid is dead iff kill(pid, 0) != 0 (EPERM counts as
 * dead); pids 0 and -1 are always alive. Usable as a ledger_dead_fn (ctx ignored). */
int standin_pid_dead(void *ctx, int32_t pid);

#endif
