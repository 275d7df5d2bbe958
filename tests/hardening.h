/* hardening: helpers for the hardening tests (test_bad_inputs.c, test_server_faults.c) that run
 * allocsim as a user would and judge what it printed and how it ended.
 *
 * Header-only (tests/ builds each test_*.c alone). hardening_run forks one command in its own
 * process group, with stdout and stderr captured through pipes drained while it runs, and a
 * deadline after which the whole group is killed: a hang is reported as such instead of
 * stalling the test. Nothing here uses the libraries under test except for paths.
 */
#ifndef ALLOCSIM_TESTS_HARDENING_H
#define ALLOCSIM_TESTS_HARDENING_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    char *data; /* NUL-terminated (binary output keeps its NULs inside len) */
    size_t len, cap;
} hardening_text;

typedef struct {
    int wstatus;        /* waitpid status */
    int timed_out;      /* the deadline passed: the group was killed */
    pid_t pid;          /* the command's pid (also its process group) */
    hardening_text out; /* what it wrote on stdout */
    hardening_text err; /* ... on stderr */
} hardening_result;

static inline uint64_t hardening_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static inline void hardening_sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static inline void hardening_text_add(hardening_text *t, const char *p, size_t n) {
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 4096;
        while (cap < t->len + n + 1)
            cap *= 2;
        char *d = realloc(t->data, cap);
        if (!d)
            abort();
        t->data = d;
        t->cap = cap;
    }
    memcpy(t->data + t->len, p, n);
    t->len += n;
    t->data[t->len] = '\0';
}

static inline void hardening_result_release(hardening_result *r) {
    free(r->out.data);
    free(r->err.data);
    memset(r, 0, sizeof *r);
}

/* Runs argv[0] (a path) with argv in directory cwd (NULL: here) and the extra environment
 * assignments env ("NAME=value", NULL-terminated; may be NULL), at most timeout_ms. Returns 0
 * and fills *r (release with hardening_result_release), or -1 if the command could not be
 * started at all. Preconditions: SIGCHLD is not ignored. */
static inline int hardening_run(char *const argv[], const char *cwd, char *const env[], int timeout_ms,
                                hardening_result *r) {
    memset(r, 0, sizeof *r);
    hardening_text_add(&r->out, "", 0);
    hardening_text_add(&r->err, "", 0);
    int op[2], ep[2];
    if (pipe(op) != 0)
        return -1;
    if (pipe(ep) != 0) {
        close(op[0]);
        close(op[1]);
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        setpgid(0, 0);
        if (cwd && chdir(cwd) != 0)
            _exit(126);
        for (int i = 0; env && env[i]; i++)
            putenv(env[i]);
        int null_fd = open("/dev/null", O_RDONLY);
        dup2(null_fd, 0);
        dup2(op[1], 1);
        dup2(ep[1], 2);
        close(op[0]);
        close(ep[0]);
        execv(argv[0], argv);
        _exit(127);
    }
    setpgid(pid, pid);
    r->pid = pid;
    close(op[1]);
    close(ep[1]);
    int fds[2] = {op[0], ep[0]};
    hardening_text *dst[2] = {&r->out, &r->err};
    int open_fds = 2, reaped = 0;
    uint64_t deadline = hardening_now_ms() + (uint64_t)timeout_ms, reaped_at = 0;
    while (open_fds > 0 || !reaped) {
        uint64_t now = hardening_now_ms();
        if (!reaped && now >= deadline) {
            r->timed_out = 1;
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            waitpid(pid, &r->wstatus, 0);
            reaped = 1;
            reaped_at = now;
        }
        if (reaped && open_fds > 0 && now > reaped_at + 2000)
            break; /* someone else holds the pipes: what the command wrote is in */
        struct pollfd pf[2];
        int n = 0, map[2];
        for (int i = 0; i < 2; i++) {
            if (fds[i] >= 0) {
                pf[n].fd = fds[i];
                pf[n].events = POLLIN;
                map[n++] = i;
            }
        }
        if (n > 0 && poll(pf, (nfds_t)n, 20) > 0) {
            for (int k = 0; k < n; k++) {
                if (!(pf[k].revents & (POLLIN | POLLHUP | POLLERR)))
                    continue;
                char buf[8192];
                ssize_t got = read(fds[map[k]], buf, sizeof buf);
                if (got > 0) {
                    hardening_text_add(dst[map[k]], buf, (size_t)got);
                } else if (got == 0 || errno != EINTR) {
                    close(fds[map[k]]);
                    fds[map[k]] = -1;
                    open_fds--;
                }
            }
        } else if (n == 0) {
            hardening_sleep_ms(5);
        }
        if (!reaped && waitpid(pid, &r->wstatus, WNOHANG) == pid) {
            reaped = 1;
            reaped_at = hardening_now_ms();
        }
    }
    for (int i = 0; i < 2; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    return 0;
}

/* "exit 2", "killed by signal 11", "timed out after N ms". */
static inline void hardening_describe(const hardening_result *r, int timeout_ms, char *buf, size_t len) {
    if (r->timed_out)
        snprintf(buf, len, "timed out after %d ms (a hang)", timeout_ms);
    else if (WIFSIGNALED(r->wstatus))
        snprintf(buf, len, "killed by signal %d (a crash)", WTERMSIG(r->wstatus));
    else
        snprintf(buf, len, "exit %d", WEXITSTATUS(r->wstatus));
}

/* Number of lines in t (a last line without '\n' counts). */
static inline size_t hardening_count_lines(const hardening_text *t) {
    size_t n = 0;
    for (size_t i = 0; i < t->len; i++)
        n += t->data[i] == '\n';
    if (t->len && t->data[t->len - 1] != '\n')
        n++;
    return n;
}

/* The first line of t (without '\n') into buf. */
static inline void hardening_first_line(const hardening_text *t, char *buf, size_t len) {
    size_t n = 0;
    while (n < t->len && t->data[n] != '\n')
        n++;
    snprintf(buf, len, "%.*s", (int)n, t->data ? t->data : "");
}

#endif
