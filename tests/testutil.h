/* testutil: helpers for integration tests that run allocsim-server as a child process.
 *
 * Header-only (tests/ builds each test_*.c alone). A tu_server is one allocsim-server on a
 * private socket in a fresh mkdtemp directory under /tmp, with its stdout and stderr drained
 * continuously by a thread into growable captures (a server whose pipe fills would stall, as
 * the real one does). Tests wait for exact lines with a timeout instead of sleeping. Servers
 * die with the test process that started them (PR_SET_PDEATHSIG), and every private directory
 * lives under one root that main() removes after the run, so a failing test (Check ends its
 * process without running atexit handlers) leaves nothing behind (the libuv runner habit).
 */
#ifndef ALLOCSIM_TESTUTIL_H
#define ALLOCSIM_TESTUTIL_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Generous: the ASan/UBSan build runs the same tests on a busy 2-core machine. */
#define TU_TIMEOUT_MS 10000

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t grew;
    char *data; /* NUL-terminated */
    size_t len;
    size_t cap;
    int eof;
} tu_capture;

typedef struct {
    pid_t pid;
    char dir[64];
    char sock[128];
    int out_fd; /* read ends of the server's stdout and stderr */
    int err_fd;
    tu_capture out;
    tu_capture err;
    pthread_t drain;
    int drain_started;
    int status; /* waitpid status once stopped */
    int stopped;
} tu_server;

static inline uint64_t tu_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static inline void tu_sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ---- captures ---------------------------------------------------------------------------- */

static inline void tu_capture_init(tu_capture *c) {
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->grew, NULL);
    c->cap = 4096;
    c->data = calloc(1, c->cap);
    c->len = 0;
    c->eof = 0;
}

static inline void tu_capture_append(tu_capture *c, const char *buf, size_t n) {
    pthread_mutex_lock(&c->lock);
    if (c->len + n + 1 > c->cap) {
        while (c->len + n + 1 > c->cap)
            c->cap *= 2;
        c->data = realloc(c->data, c->cap);
    }
    memcpy(c->data + c->len, buf, n);
    c->len += n;
    c->data[c->len] = '\0';
    pthread_cond_broadcast(&c->grew);
    pthread_mutex_unlock(&c->lock);
}

static inline void tu_capture_set_eof(tu_capture *c) {
    pthread_mutex_lock(&c->lock);
    c->eof = 1;
    pthread_cond_broadcast(&c->grew);
    pthread_mutex_unlock(&c->lock);
}

/* Current length: a mark to look for lines after. */
static inline size_t tu_capture_mark(tu_capture *c) {
    pthread_mutex_lock(&c->lock);
    size_t n = c->len;
    pthread_mutex_unlock(&c->lock);
    return n;
}

/* A copy of the capture from offset `from` to its current end. Caller frees. */
static inline char *tu_capture_copy(tu_capture *c, size_t from) {
    pthread_mutex_lock(&c->lock);
    if (from > c->len)
        from = c->len;
    char *s = strdup(c->data + from);
    pthread_mutex_unlock(&c->lock);
    return s;
}

/* Finds the first whole line equal to `line` that starts at or after `from` (a line start).
 * Returns its start offset, or -1 (-1 also when c->data has no such line yet). Lock held. */
static inline long tu_capture_find_locked(const tu_capture *c, size_t from, const char *line) {
    size_t n = strlen(line);
    size_t pos = from;
    while (pos < c->len) {
        const char *nl = memchr(c->data + pos, '\n', c->len - pos);
        if (!nl)
            return -1;
        size_t end = (size_t)(nl - c->data);
        if (end - pos == n && memcmp(c->data + pos, line, n) == 0)
            return (long)pos;
        pos = end + 1;
    }
    return -1;
}

/* Waits until a whole line equal to `line` appears at or after `from`. Returns a copy of the
 * text from `from` up to (not including) that line and sets *next to the offset just after
 * it; returns NULL on timeout or when the stream ended without it. Caller frees. */
static inline char *tu_capture_until(tu_capture *c, size_t from, const char *line, size_t *next) {
    uint64_t deadline = tu_now_ms() + TU_TIMEOUT_MS;
    pthread_mutex_lock(&c->lock);
    for (;;) {
        long at = tu_capture_find_locked(c, from, line);
        if (at >= 0) {
            char *s = strndup(c->data + from, (size_t)at - from);
            if (next)
                *next = (size_t)at + strlen(line) + 1;
            pthread_mutex_unlock(&c->lock);
            return s;
        }
        uint64_t now = tu_now_ms();
        if (c->eof || now >= deadline)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t wait = deadline - now < 50 ? deadline - now : 50;
        ts.tv_nsec += (long)wait * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec += 1;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&c->grew, &c->lock, &ts);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

static inline void *tu_drain_main(void *arg) {
    tu_server *s = arg;
    struct pollfd p[2] = {{s->out_fd, POLLIN, 0}, {s->err_fd, POLLIN, 0}};
    tu_capture *caps[2] = {&s->out, &s->err};
    int open_count = 2;
    char buf[65536];
    while (open_count > 0) {
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (int i = 0; i < 2; i++) {
            if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t n = read(p[i].fd, buf, sizeof buf);
            if (n > 0) {
                tu_capture_append(caps[i], buf, (size_t)n);
            } else if (n == 0 || errno != EINTR) {
                tu_capture_set_eof(caps[i]);
                p[i].fd = -1;
                open_count--;
            }
        }
    }
    return NULL;
}

/* ---- private directories ----------------------------------------------------------------- */

static char tu_root[40];

/* Creates the run's root directory; call in main() before running the suite. Returns 0/-1. */
static inline int tu_root_init(void) {
    snprintf(tu_root, sizeof tu_root, "/tmp/allocsim-test-XXXXXX");
    if (!mkdtemp(tu_root)) {
        tu_root[0] = '\0';
        return -1;
    }
    return 0;
}

/* Removes the root with every server directory and socket left in it (two levels). */
static inline void tu_root_cleanup(void) {
    if (!tu_root[0])
        return;
    DIR *root = opendir(tu_root);
    struct dirent *e;
    while (root && (e = readdir(root)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char sub[300];
        snprintf(sub, sizeof sub, "%s/%s", tu_root, e->d_name);
        DIR *d = opendir(sub);
        struct dirent *f;
        while (d && (f = readdir(d)) != NULL) {
            char path[600];
            snprintf(path, sizeof path, "%s/%s", sub, f->d_name);
            if (strcmp(f->d_name, ".") != 0 && strcmp(f->d_name, "..") != 0)
                unlink(path);
        }
        if (d)
            closedir(d);
        if (rmdir(sub) != 0)
            unlink(sub);
    }
    if (root)
        closedir(root);
    rmdir(tu_root);
}

/* ---- server processes -------------------------------------------------------------------- */

/* The allocsim-server binary: $ALLOCSIM_BIN/allocsim-server (set by CTest), else the path
 * CMake compiled in. */
static inline void tu_server_path(char *out, size_t n) {
    const char *bin = getenv("ALLOCSIM_BIN");
    if (bin && *bin)
        snprintf(out, n, "%s/allocsim-server", bin);
    else
        snprintf(out, n, "%s", ALLOCSIM_SERVER_PATH);
}

/* Runs allocsim-server with the given arguments (NULL-terminated, after argv[0]). Neither
 * --socket nor anything else is added. Returns 0, or -1 if the process could not start. */
static inline int tu_server_spawn(tu_server *s, const char *const args[]) {
    int outp[2], errp[2];
    if (pipe(outp) != 0 || pipe(errp) != 0)
        return -1;
    char path[512];
    tu_server_path(path, sizeof path);
    const char *argv[64];
    int argc = 0;
    argv[argc++] = path;
    for (int i = 0; args[i] && argc < 63; i++)
        argv[argc++] = args[i];
    argv[argc] = NULL;

    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        dup2(outp[1], 1);
        dup2(errp[1], 2);
        close(outp[0]);
        close(outp[1]);
        close(errp[0]);
        close(errp[1]);
        execv(path, (char *const *)argv);
        _exit(127);
    }
    close(outp[1]);
    close(errp[1]);
    s->pid = pid;
    s->out_fd = outp[0];
    s->err_fd = errp[0];
    fcntl(s->out_fd, F_SETFD, FD_CLOEXEC);
    fcntl(s->err_fd, F_SETFD, FD_CLOEXEC);
    tu_capture_init(&s->out);
    tu_capture_init(&s->err);
    s->stopped = 0;
    s->status = 0;
    s->drain_started = pthread_create(&s->drain, NULL, tu_drain_main, s) == 0;
    return 0;
}

/* Makes a private directory (under the root when tu_root_init ran) and a socket path for s.
 * Returns 0 or -1. */
static inline int tu_server_prepare(tu_server *s) {
    memset(s, 0, sizeof *s);
    snprintf(s->dir, sizeof s->dir, "%s/s-XXXXXX", tu_root[0] ? tu_root : "/tmp");
    if (!mkdtemp(s->dir))
        return -1;
    snprintf(s->sock, sizeof s->sock, "%s/alloc.sock", s->dir);
    return 0;
}

/* Starts allocsim-server --protocol rev --socket <private> --stats-interval 0 plus `extra`
 * (NULL-terminated, may be NULL). Returns 0 or -1. Does not wait for the banner. */
static inline int tu_server_start(tu_server *s, const char *rev, const char *const extra[]) {
    if (tu_server_prepare(s) != 0)
        return -1;
    const char *args[48];
    int n = 0;
    args[n++] = "--protocol";
    args[n++] = rev;
    args[n++] = "--socket";
    args[n++] = s->sock;
    args[n++] = "--stats-interval";
    args[n++] = "0";
    for (int i = 0; extra && extra[i] && n < 47; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    return tu_server_spawn(s, args);
}

/* Waits for the process to exit (SIGKILL after the timeout) and for the drain thread.
 * Returns the waitpid status. */
static inline int tu_server_wait(tu_server *s) {
    if (!s->stopped) {
        uint64_t deadline = tu_now_ms() + TU_TIMEOUT_MS;
        int status = 0;
        for (;;) {
            pid_t r = waitpid(s->pid, &status, WNOHANG);
            if (r == s->pid)
                break;
            if (r < 0 && errno != EINTR)
                break;
            if (tu_now_ms() >= deadline) {
                kill(s->pid, SIGKILL);
                waitpid(s->pid, &status, 0);
                break;
            }
            tu_sleep_ms(5);
        }
        s->status = status;
        s->stopped = 1;
    }
    if (s->drain_started) {
        pthread_join(s->drain, NULL);
        s->drain_started = 0;
        close(s->out_fd);
        close(s->err_fd);
    }
    return s->status;
}

/* Sends sig and waits as tu_server_wait does. */
static inline int tu_server_stop(tu_server *s, int sig) {
    if (!s->stopped)
        kill(s->pid, sig);
    return tu_server_wait(s);
}

/* Stops the server if needed and frees everything; removes the private directory. */
static inline void tu_server_release(tu_server *s) {
    tu_server_stop(s, SIGKILL);
    unlink(s->sock);
    rmdir(s->dir);
    free(s->out.data);
    free(s->err.data);
    pthread_mutex_destroy(&s->out.lock);
    pthread_mutex_destroy(&s->err.lock);
    pthread_cond_destroy(&s->out.grew);
    pthread_cond_destroy(&s->err.grew);
}

/* ---- sockets ----------------------------------------------------------------------------- */

/* Connects to path, retrying until the server listens. Returns the fd or -1. */
static inline int tu_connect(const char *path) {
    uint64_t deadline = tu_now_ms() + TU_TIMEOUT_MS;
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path);
    for (;;) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return -1;
        if (connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0)
            return fd;
        close(fd);
        if (tu_now_ms() >= deadline)
            return -1;
        tu_sleep_ms(5);
    }
}

/* Sends all of buf. Returns 0 or -1. */
static inline int tu_send(int fd, const void *buf, size_t n) {
    const uint8_t *p = buf;
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads exactly n bytes within the timeout. Returns n, the short count on EOF, or -1 on
 * error or timeout. */
static inline long tu_recv_exact(int fd, void *buf, size_t n, int timeout_ms) {
    uint8_t *p = buf;
    size_t got = 0;
    uint64_t deadline = tu_now_ms() + (uint64_t)timeout_ms;
    while (got < n) {
        uint64_t now = tu_now_ms();
        if (now >= deadline)
            return -1;
        struct pollfd pf = {fd, POLLIN, 0};
        int r = poll(&pf, 1, (int)(deadline - now));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        ssize_t k = recv(fd, p + got, n - got, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -1;
        if (k == 0)
            return (long)got;
        got += (size_t)k;
    }
    return (long)got;
}

#endif
