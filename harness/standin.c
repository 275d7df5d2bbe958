/* standin: forked children that keep a simulated process's pid alive (see standin.h).
 *
 * The child runs only async-signal-safe calls (it is forked from a multi-threaded harness):
 * sigaction, sigprocmask, prctl, getppid, close_range or close, read, _exit.
 */
#define _GNU_SOURCE /* pipe2 */
#include "standin.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Closes every descriptor except keep (async-signal-safe). */
static void close_all_but(int keep) {
#ifdef SYS_close_range
    if (keep > 3)
        syscall(SYS_close_range, 3u, (unsigned)keep - 1, 0u);
    if (syscall(SYS_close_range, (unsigned)keep + 1, ~0u, 0u) == 0)
        return;
#endif
    struct rlimit rl;
    long max = 1024;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < 65536)
        max = (long)rl.rlim_cur;
    for (long fd = 3; fd < max; fd++)
        if (fd != keep)
            close((int)fd);
}

static void child_main(int read_fd, pid_t parent) {
    /* Signals stay blocked (since before fork) while inherited handlers are reset: a
     * Ctrl-C to the harness's process group must not run harness code in here. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP)
            sigaction(s, &sa, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) /* the parent died before prctl took effect */
        _exit(0);
    close_all_but(read_fd);
    char c;
    for (;;) {
        ssize_t n = read(read_fd, &c, 1);
        if (n == 0 || (n < 0 && errno != EINTR))
            _exit(0);
    }
}

int standin_spawn(standin *s, char *err, size_t errlen) {
    int fds[2];
    s->pid = 0;
    s->pipe_fd = -1;
    s->state = STANDIN_NONE;
    if (pipe2(fds, O_CLOEXEC) != 0) {
        snprintf(err, errlen, "stand-in: pipe: %s", strerror(errno));
        return -1;
    }
    pid_t parent = getpid();
    sigset_t all, saved;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &saved);
    pid_t pid = fork();
    if (pid == 0)
        child_main(fds[0], parent);
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    if (pid < 0) {
        snprintf(err, errlen, "stand-in: fork: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    close(fds[0]);
    s->pid = pid;
    s->pipe_fd = fds[1];
    s->state = STANDIN_RUNNING;
    return 0;
}

/* Waits for pid; gives up after timeout_ms (returns -1), or waits for ever if negative.
 * A stand-in exits within microseconds of its pipe closing, so poll fast first, then back
 * off; this keeps a spawn + exit pair far below a millisecond. */
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
