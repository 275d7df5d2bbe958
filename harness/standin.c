/* standin: child processes that keep a simulated process's pid alive (see standin.h).
 *
 * A stand-in is `cat` with its stdin on a pipe whose write end only the harness holds, and
 * stdout and stderr on /dev/null: it blocks reading and exits at end-of-file, which comes when
 * the harness closes the pipe or dies for any reason. It is started with posix_spawn, not
 * fork: a forked child of a harness holding large buffers would share every page
 * copy-on-write for its whole life, and each later write of the harness would fault and flush
 * TLBs (measured: runs 2x slower). posix_spawn also resets every signal to its default and
 * unblocks them, so no harness handler can run in the child, and closes every descriptor
 * above stderr, so a stand-in holds no connection of the harness.
 */
#define _GNU_SOURCE /* pipe2, posix_spawn_file_actions_addclosefrom_np */
#include "standin.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The program a stand-in runs: a reader that exits at end-of-file. */
static const char *standin_program(void) {
    static const char *const candidates[] = {"/bin/cat", "/usr/bin/cat"};
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++)
        if (access(candidates[i], X_OK) == 0)
            return candidates[i];
    return NULL;
}

int standin_spawn(standin *s, char *err, size_t errlen) {
    s->pid = 0;
    s->pipe_fd = -1;
    s->state = STANDIN_NONE;
    const char *prog = standin_program();
    if (!prog) {
        snprintf(err, errlen, "stand-in: expected /bin/cat or /usr/bin/cat, found neither");
        return -1;
    }
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        snprintf(err, errlen, "stand-in: pipe: %s", strerror(errno));
        return -1;
    }
    /* dup2 onto itself would keep close-on-exec: keep the read end away from 0..2. */
    if (fds[0] <= 2) {
        int moved = fcntl(fds[0], F_DUPFD_CLOEXEC, 3);
        close(fds[0]);
        fds[0] = moved;
        if (moved < 0) {
            snprintf(err, errlen, "stand-in: fcntl: %s", strerror(errno));
            close(fds[1]);
            return -1;
        }
    }
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    posix_spawn_file_actions_adddup2(&fa, fds[0], 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
#endif
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    posix_spawnattr_setsigdefault(&at, &all);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    char *argv[] = {"cat", NULL};
    char *envp[] = {NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, prog, &fa, &at, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(fds[0]);
    if (rc != 0) {
        snprintf(err, errlen, "stand-in: posix_spawn %s: %s", prog, strerror(rc));
        close(fds[1]);
        return -1;
    }
    s->pid = pid;
    s->pipe_fd = fds[1];
    s->state = STANDIN_RUNNING;
    return 0;
}

/* Waits for pid; gives up after timeout_ms (returns -1), or waits for ever if negative.
 * A stand-in exits as soon as it runs after its pipe closed, so poll fast first, then back
 * off. */
static int reap(pid_t pid, int timeout_ms) {
    long slept_us = 0, step_us = 20;
    for (;;) {
        int st;
        pid_t r = waitpid(pid, &st, timeout_ms < 0 ? 0 : WNOHANG);
        if (r == pid || (r < 0 && errno == ECHILD))
            return 0;
        if (r < 0 && errno == EINTR)
            continue;
        if (slept_us / 1000 >= timeout_ms)
            return -1;
        struct timespec ts = {0, step_us * 1000};
        nanosleep(&ts, NULL);
        slept_us += step_us;
        if (step_us < 1000)
            step_us *= 2;
    }
}

int standin_crash(standin *s, char *err, size_t errlen) {
    if (s->state != STANDIN_RUNNING) {
        snprintf(err, errlen, "stand-in %d: crash: expected a running process, found it %s",
                 (int)s->pid, s->state == STANDIN_NONE ? "never started" : "already ended");
        return -1;
    }
    kill(s->pid, SIGKILL);
    reap(s->pid, -1);
    close(s->pipe_fd);
    s->pipe_fd = -1;
    s->state = STANDIN_CRASHED;
    return 0;
}

int standin_exit(standin *s, char *err, size_t errlen) {
    if (s->state != STANDIN_RUNNING) {
        snprintf(err, errlen, "stand-in %d: exit: expected a running process, found it %s",
                 (int)s->pid, s->state == STANDIN_NONE ? "never started" : "already ended");
        return -1;
    }
    close(s->pipe_fd);
    s->pipe_fd = -1;
    s->state = STANDIN_EXITED;
    if (reap(s->pid, 5000) != 0) {
        kill(s->pid, SIGKILL);
        reap(s->pid, -1);
        snprintf(err, errlen, "stand-in %d: did not exit within 5 s of its pipe closing; killed",
                 (int)s->pid);
        return -1;
    }
    return 0;
}

void standin_release(standin *s) {
    if (s->state == STANDIN_RUNNING) {
        kill(s->pid, SIGKILL);
        reap(s->pid, -1);
        s->state = STANDIN_CRASHED;
    }
    if (s->pipe_fd >= 0) {
        close(s->pipe_fd);
        s->pipe_fd = -1;
    }
}

int standin_pid_dead(void *ctx, int32_t pid) {
    (void)ctx;
    if (pid == 0 || pid == -1)
        return 0;
    return kill((pid_t)pid, 0) != 0;
}
