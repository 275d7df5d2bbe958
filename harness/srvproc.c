/* srvproc: starting, watching, stopping and attaching to allocation servers (see srvproc.h).
 *
 * This file finds the programs (allocsim-server, the shim), keeps a server off the machine's
 * hard-coded socket (shim and private directory, or the lock), starts it in its own process
 * group, and stops it. Its output goes to the line log of srvproc_log.c, whose reader thread
 * is the only one that reaps the server. Everything the thread shares is under one mutex; a
 * condition variable on the monotonic clock wakes waiters on new lines and on exit.
 */
#define _GNU_SOURCE /* pipe2 */
#include "srvproc.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mem.h"
#include "srvproc_int.h"

extern char **environ;

/* ---- small helpers ------------------------------------------------------------------------- */

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

void srvp_abstime_in(struct timespec *ts, int ms) {
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static void path_state_get(const char *path, path_state *st) {
    struct stat sb;
    memset(st, 0, sizeof *st);
    if (lstat(path, &sb) != 0)
        return;
    st->exists = 1;
    st->dev = sb.st_dev;
    st->ino = sb.st_ino;
    st->mtime = sb.st_mtim;
    st->ctime = sb.st_ctim;
}

static int path_state_equal(const path_state *a, const path_state *b) {
    if (a->exists != b->exists)
        return 0;
    if (!a->exists)
        return 1;
    return a->dev == b->dev && a->ino == b->ino && a->mtime.tv_sec == b->mtime.tv_sec &&
           a->mtime.tv_nsec == b->mtime.tv_nsec && a->ctime.tv_sec == b->ctime.tv_sec &&
           a->ctime.tv_nsec == b->ctime.tv_nsec;
}

static int file_exists(const char *path, int mode) { return access(path, mode) == 0; }

/* Directory of the running program into buf ("" on failure). */
static void self_dir(char *buf, size_t len) {
    ssize_t n = readlink("/proc/self/exe", buf, len - 1);
    if (n <= 0) {
        buf[0] = '\0';
        return;
    }
    buf[n] = '\0';
    char *slash = strrchr(buf, '/');
    if (slash)
        *slash = '\0';
}

static const char *signal_name(int sig) {
    static const char *const names[] = {
        NULL,      "SIGHUP",  "SIGINT",    "SIGQUIT", "SIGILL",    "SIGTRAP", "SIGABRT",
        "SIGBUS",  "SIGFPE",  "SIGKILL",   "SIGUSR1", "SIGSEGV",   "SIGUSR2", "SIGPIPE",
        "SIGALRM", "SIGTERM", "SIGSTKFLT", "SIGCHLD", "SIGCONT",   "SIGSTOP", "SIGTSTP",
        "SIGTTIN", "SIGTTOU", "SIGURG",    "SIGXCPU", "SIGXFSZ",   "SIGVTALRM", "SIGPROF",
        "SIGWINCH", "SIGIO",  "SIGPWR",    "SIGSYS"};
    if (sig > 0 && sig < (int)(sizeof names / sizeof names[0]))
        return names[sig];
    return NULL;
}

void srvproc_describe_status(int wstatus, char *buf, size_t len) {
    if (WIFEXITED(wstatus)) {
        snprintf(buf, len, "exited with status %d", WEXITSTATUS(wstatus));
    } else if (WIFSIGNALED(wstatus)) {
        int sig = WTERMSIG(wstatus);
        const char *nm = signal_name(sig);
        char num[32];
        if (!nm) {
            snprintf(num, sizeof num, "SIG%d", sig);
            nm = num;
        }
        snprintf(buf, len, "killed by signal %d (%s)%s", sig, nm,
                 WCOREDUMP(wstatus) ? ", core dumped" : "");
    } else {
        snprintf(buf, len, "ended with wait status 0x%x", (unsigned)wstatus);
    }
}

/* ---- locating executables ------------------------------------------------------------------ */

/* Tries, in order: $env_file, $ALLOCSIM_BIN/rel, the build's compiled-in path, and rel next
 * to this program. Returns 0 with the first that passes access(mode) in buf, else -1. */
static int find_file(char *buf, size_t len, int mode, const char *env_file, const char *rel,
                     const char *built) {
    const char *env = env_file ? getenv(env_file) : NULL;
    const char *bin = getenv("ALLOCSIM_BIN");
    char dir[PATH_LEN];
    self_dir(dir, sizeof dir);
    for (int k = 0; k < 4; k++) {
        if (k == 0 && env && *env)
            snprintf(buf, len, "%s", env);
        else if (k == 1 && bin && *bin)
            snprintf(buf, len, "%s/%s", bin, rel);
        else if (k == 2 && built)
            snprintf(buf, len, "%s", built);
        else if (k == 3 && dir[0])
            snprintf(buf, len, "%s/%s", dir, rel);
        else
            continue;
        if (file_exists(buf, mode))
            return 0;
    }
    return -1;
}

#ifndef ALLOCSIM_SERVER_PATH
#define ALLOCSIM_SERVER_PATH NULL
#endif
#ifndef ALLOCSIM_SHIM_PATH
#define ALLOCSIM_SHIM_PATH NULL
#endif

int srvproc_reference_path(char *buf, size_t len, char *err, size_t errlen) {
    if (find_file(buf, len, X_OK, NULL, "allocsim-server", ALLOCSIM_SERVER_PATH) == 0)
        return 0;
    snprintf(err, errlen,
             "reference server: expected allocsim-server in $ALLOCSIM_BIN, the build directory or "
             "next to this program, found none (build it: cmake --build BUILD --target allocsim-server)");
    return -1;
}

int srvproc_shim_path(char *buf, size_t len, char *err, size_t errlen) {
    if (find_file(buf, len, R_OK, "ALLOCSIM_SHIM", "../lib/liballocsim_shim.so", ALLOCSIM_SHIM_PATH) == 0)
        return 0;
    snprintf(err, errlen,
             "socket shim: expected liballocsim_shim.so in $ALLOCSIM_SHIM, the build directory or "
             "../lib next to this program, found none (build it: cmake --build BUILD --target allocsim_shim)");
    return -1;
}

int srvproc_preload_possible(const char *path, char *why, size_t whylen) {
    struct stat sb;
    if (stat(path, &sb) != 0) {
        snprintf(why, whylen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (sb.st_mode & (S_ISUID | S_ISGID)) {
        snprintf(why, whylen, "%s is set%cid: the dynamic loader ignores LD_PRELOAD for it", path,
                 (sb.st_mode & S_ISUID) ? 'u' : 'g');
        return 0;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, whylen, "%s: %s", path, strerror(errno));
        return -1;
    }
    unsigned char ident[EI_NIDENT];
    ssize_t n = pread(fd, ident, sizeof ident, 0);
    if (n != (ssize_t)sizeof ident || memcmp(ident, ELFMAG, SELFMAG) != 0) {
        close(fd);
        snprintf(why, whylen, "%s is not an ELF file (a script: its interpreter takes the preload)",
                 path);
        return 1;
    }
    int has_interp = 0, ok = 1;
    if (ident[EI_CLASS] == ELFCLASS64) {
        Elf64_Ehdr eh;
        if (pread(fd, &eh, sizeof eh, 0) != (ssize_t)sizeof eh || eh.e_phentsize != sizeof(Elf64_Phdr))
            ok = 0;
        for (unsigned i = 0; ok && i < eh.e_phnum; i++) {
            Elf64_Phdr ph;
            if (pread(fd, &ph, sizeof ph, (off_t)(eh.e_phoff + (uint64_t)i * sizeof ph)) != (ssize_t)sizeof ph)
                ok = 0;
            else if (ph.p_type == PT_INTERP)
                has_interp = 1;
        }
    } else if (ident[EI_CLASS] == ELFCLASS32) {
        Elf32_Ehdr eh;
        if (pread(fd, &eh, sizeof eh, 0) != (ssize_t)sizeof eh || eh.e_phentsize != sizeof(Elf32_Phdr))
            ok = 0;
        for (unsigned i = 0; ok && i < eh.e_phnum; i++) {
            Elf32_Phdr ph;
            if (pread(fd, &ph, sizeof ph, (off_t)(eh.e_phoff + (uint64_t)i * sizeof ph)) != (ssize_t)sizeof ph)
                ok = 0;
            else if (ph.p_type == PT_INTERP)
                has_interp = 1;
        }
    } else {
        ok = 0;
    }
    close(fd);
    if (!ok) {
        snprintf(why, whylen, "%s: unreadable ELF program headers", path);
        return -1;
    }
    if (!has_interp) {
        snprintf(why, whylen, "%s is statically linked (no PT_INTERP): LD_PRELOAD cannot apply", path);
        return 0;
    }
    snprintf(why, whylen, "%s is dynamically linked", path);
    return 1;
}

/* First word of a shell command, with simple quotes removed, skipping VAR=value words.
 * Resolved through PATH when it has no '/'. Returns 0 or -1. */
static int command_executable(const char *cmd, char *buf, size_t len) {
    const char *p = cmd;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (strncmp(p, "exec ", 5) == 0) {
            p += 5;
            continue;
        }
        size_t o = 0;
        int has_eq = 0, quoted = 0;
        const char *q = p;
        while (*q && *q != ' ' && *q != '\t') {
            if (*q == '\'' || *q == '"') {
                char quote = *q++;
                quoted = 1;
                while (*q && *q != quote) {
                    if (o + 1 < len)
                        buf[o++] = *q;
                    q++;
                }
                if (*q)
                    q++;
                continue;
            }
            if (*q == '=' && !quoted)
                has_eq = 1;
            if (o + 1 < len)
                buf[o++] = *q;
            q++;
        }
        buf[o] = '\0';
        if (o == 0)
            return -1;
        if (has_eq && !strchr(buf, '/')) { /* an environment assignment */
            p = q;
            continue;
        }
        break;
    }
    if (strchr(buf, '/'))
        return 0;
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/bin:/bin";
    char word[PATH_LEN];
    snprintf(word, sizeof word, "%s", buf);
    while (*path) {
        const char *colon = strchr(path, ':');
        size_t dlen = colon ? (size_t)(colon - path) : strlen(path);
        char cand[2 * PATH_LEN + 2];
        snprintf(cand, sizeof cand, "%.*s/%s", (int)dlen, path, word);
        if (strlen(cand) < len && file_exists(cand, X_OK)) {
            snprintf(buf, len, "%s", cand);
            return 0;
        }
        path += dlen + (colon ? 1 : 0);
    }
    return -1;
}

/* ---- construction ------------------------------------------------------------------------ */

static srvproc *srvproc_new(void) {
    srvproc *p = mem_calloc(1, sizeof *p);
    if (!p)
        return NULL;
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cv, &ca);
    pthread_condattr_destroy(&ca);
    p->out_fd = p->err_fd = p->pid_fd = p->log_fd = p->lock_fd = -1;
    p->wake[0] = p->wake[1] = -1;
    return p;
}

static void set_note(srvproc *p, const char *fmt, const char *a, const char *b) {
    char buf[1024];
    snprintf(buf, sizeof buf, fmt, a, b);
    mem_free(p->note);
    p->note = mem_strdup(buf);
}

/* Takes the hard-coded-path lock, waiting up to timeout_ms for another run to finish. */
static int take_lock(srvproc *p, int timeout_ms, char *err, size_t errlen) {
    p->lock_fd = open(SRVPROC_LOCK_PATH, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (p->lock_fd < 0) {
        snprintf(err, errlen, "%s: cannot open: %s", SRVPROC_LOCK_PATH, strerror(errno));
        return -1;
    }
    int64_t deadline = now_ms() + timeout_ms;
    while (flock(p->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK && errno != EINTR) {
            snprintf(err, errlen, "%s: flock: %s", SRVPROC_LOCK_PATH, strerror(errno));
            return -1;
        }
        if (now_ms() >= deadline) {
            snprintf(err, errlen,
                     "%s: another allocsim run holds the hard-coded socket; waited %d ms",
                     SRVPROC_LOCK_PATH, timeout_ms);
            return -1;
        }
        sleep_ms(50);
    }
    /* A server already listening there belongs to someone: starting ours would unlink it. */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
        struct sockaddr_un sa;
        memset(&sa, 0, sizeof sa);
        sa.sun_family = AF_UNIX;
        memcpy(sa.sun_path, SRVPROC_HARDCODED_SOCKET, sizeof SRVPROC_HARDCODED_SOCKET);
        int live = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
        close(fd);
        if (live) {
            snprintf(err, errlen,
                     "a server is already listening on %s (a live server of yours?); the server "
                     "cannot be isolated with the shim, and starting it would replace that socket. "
                     "Stop that server or attach to it with --socket %s --server-log FILE",
                     SRVPROC_HARDCODED_SOCKET, SRVPROC_HARDCODED_SOCKET);
            return -1;
        }
    }
    return 0;
}

/* Builds the child's environment: environ without LD_PRELOAD/ALLOCSIM_SOCKET_PATH/
 * ASAN_OPTIONS, plus the given replacements. Returns a mem_alloc'd NULL-terminated array
 * whose added strings are also mem_alloc'd (listed in owned[]). */
static char **build_env(const char *shim, const char *sock, char **owned, int *nowned) {
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = mem_calloc(n + 4, sizeof *env);
    if (!env)
        return NULL;
    size_t o = 0;
    const char *old_preload = NULL, *old_asan = NULL;
    for (size_t i = 0; i < n; i++) {
        if (strncmp(environ[i], "LD_PRELOAD=", 11) == 0) {
            old_preload = environ[i] + 11;
            continue;
        }
        if (strncmp(environ[i], "ASAN_OPTIONS=", 13) == 0) {
            old_asan = environ[i] + 13;
            continue;
        }
        if (strncmp(environ[i], SRVPROC_SHIM_ENV "=", sizeof SRVPROC_SHIM_ENV) == 0)
            continue;
        env[o++] = environ[i];
    }
    *nowned = 0;
    sbuf b = SBUF_INIT;
    if (shim) {
        sbuf_printf(&b, "LD_PRELOAD=%s%s%s", shim, old_preload && *old_preload ? ":" : "",
                    old_preload ? old_preload : "");
        owned[(*nowned)++] = env[o++] = mem_strdup(sbuf_str(&b));
        sbuf_reset(&b);
        sbuf_printf(&b, "%s=%s", SRVPROC_SHIM_ENV, sock);
        owned[(*nowned)++] = env[o++] = mem_strdup(sbuf_str(&b));
        sbuf_reset(&b);
        /* A sanitized server refuses to start when a preload precedes its runtime. */
        sbuf_printf(&b, "ASAN_OPTIONS=%s%sverify_asan_link_order=0", old_asan ? old_asan : "",
                    old_asan && *old_asan ? ":" : "");
        owned[(*nowned)++] = env[o++] = mem_strdup(sbuf_str(&b));
    } else {
        if (old_preload) {
            sbuf_printf(&b, "LD_PRELOAD=%s", old_preload);
            owned[(*nowned)++] = env[o++] = mem_strdup(sbuf_str(&b));
            sbuf_reset(&b);
        }
        if (old_asan) {
            sbuf_printf(&b, "ASAN_OPTIONS=%s", old_asan);
            owned[(*nowned)++] = env[o++] = mem_strdup(sbuf_str(&b));
        }
    }
    sbuf_release(&b);
    for (int i = 0; i < *nowned; i++)
        if (!owned[i]) {
            for (int j = 0; j < *nowned; j++)
                mem_free(owned[j]);
            mem_free(env);
            return NULL;
        }
    env[o] = NULL;
    return env;
}

static void child_close_fds(void) {
#ifdef SYS_close_range
    if (syscall(SYS_close_range, 3u, ~0u, 0u) == 0)
        return;
#endif
    struct rlimit rl;
    long max = 1024;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < 65536)
        max = (long)rl.rlim_cur;
    for (long fd = 3; fd < max; fd++)
        close((int)fd);
}

static void child_write(const char *s) {
    ssize_t r = write(2, s, strlen(s));
    (void)r;
}

/* Runs in the forked child: only async-signal-safe calls until execve. */
static void child_exec(char *const argv[], char *const envp[], int null_fd, int out_fd, int err_fd,
                       pid_t parent) {
    /* Signals are blocked since before fork, so none can run an inherited harness handler
     * here; reset the dispositions, then unblock: start like from a shell (SIGPIPE default). */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP)
            sigaction(s, &sa, NULL);
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent)
        _exit(127);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (dup2(null_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
        _exit(127);
    child_close_fds();
    execve(argv[0], argv, envp);
    child_write("allocsim: cannot execute ");
    child_write(argv[0]);
    child_write("\n");
    _exit(127);
}

/* The server's command line: `/bin/sh -c "exec CMD"` for a user's command (exe is then the
 * executable the command names, or "" if it cannot be told), else allocsim-server with
 * --protocol and the extra arguments. *shcmd receives the string argv points into (the
 * caller frees it). Returns 0, or -1 with err. */
static int start_argv(const srvproc_config *cfg, srvproc *p, char *exe, size_t exelen, const char **argv,
                      char **shcmd, char *err, size_t errlen) {
    int argc = 0;
    *shcmd = NULL;
    if (cfg->command) {
        sbuf b = SBUF_INIT;
        sbuf_printf(&b, "exec %s", cfg->command);
        *shcmd = mem_strdup(sbuf_str(&b));
        sbuf_release(&b);
        if (!*shcmd) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        argv[argc++] = "/bin/sh";
        argv[argc++] = "-c";
        argv[argc++] = *shcmd;
        if (command_executable(cfg->command, exe, exelen) != 0)
            exe[0] = '\0';
        snprintf(p->exe, sizeof p->exe, "%s", exe);
    } else {
        if (srvproc_reference_path(exe, exelen, err, errlen) != 0)
            return -1;
        argv[argc++] = exe;
        argv[argc++] = "--protocol";
        argv[argc++] = proto_rev_get(cfg->rev)->name;
        for (int i = 0; cfg->extra_args && cfg->extra_args[i] && argc < 62; i++)
            argv[argc++] = cfg->extra_args[i];
    }
    argv[argc] = NULL;
    return 0;
}

/* A fresh private directory for the server's socket: under $TMPDIR when the socket path
 * still fits in sun_path, else under /tmp. Sets p->socket_path. Returns 0, or -1 with err. */
static int start_private_socket(srvproc *p, char *err, size_t errlen) {
    const char *tmp = getenv("TMPDIR");
    size_t room = sizeof p->socket_path - sizeof "/allocsim-XXXXXX/server.sock";
    if (!tmp || tmp[0] != '/' || strlen(tmp) > room)
        tmp = "/tmp";
    char tmpl[sizeof p->socket_path];
    snprintf(tmpl, sizeof tmpl, "%s%sallocsim-XXXXXX", tmp, tmp[strlen(tmp) - 1] == '/' ? "" : "/");
    if (!mkdtemp(tmpl)) {
        snprintf(err, errlen,
                 "cannot create the server's private socket directory: mkdtemp %s: %s (set TMPDIR "
                 "to a writable directory)",
                 tmpl, strerror(errno));
        return -1;
    }
    p->private_dir = mem_strdup(tmpl);
    /* fits: room was kept for the suffix above */
    size_t dl = strlen(tmpl);
    memcpy(p->socket_path, tmpl, dl);
    memcpy(p->socket_path + dl, "/server.sock", sizeof "/server.sock");
    return 0;
}

/* Chooses how the server is kept off the machine's hard-coded socket: the given --socket
 * path; else the shim with a private socket directory (exe is a binary the shim can be
 * preloaded into, or a shim was asked for); else the hard-coded path under the lock, with a
 * note saying why. *shim_use is the shim to preload, or NULL. Returns 0, or -1 with err. */
static int start_isolation(const srvproc_config *cfg, srvproc *p, const char *exe, char *shim, size_t shimlen,
                           const char **shim_use, char *err, size_t errlen) {
    *shim_use = NULL;
    if (cfg->socket_path) {
        snprintf(p->socket_path, sizeof p->socket_path, "%s", cfg->socket_path);
        return 0;
    }
    srvproc_isolation iso = cfg->isolation;
    char why[PATH_LEN + 128] = "";
    if (iso == SRVPROC_ISOLATE_AUTO) {
        int possible = exe[0] ? srvproc_preload_possible(exe, why, sizeof why) : 1;
        iso = possible == 0 ? SRVPROC_ISOLATE_LOCK : SRVPROC_ISOLATE_SHIM;
    }
    if (iso == SRVPROC_ISOLATE_SHIM) {
        char serr[512];
        if (srvproc_shim_path(shim, shimlen, serr, sizeof serr) != 0) {
            if (cfg->isolation == SRVPROC_ISOLATE_SHIM) {
                snprintf(err, errlen, "%s", serr);
                return -1;
            }
            snprintf(why, sizeof why, "%s", serr);
            iso = SRVPROC_ISOLATE_LOCK;
        }
    }
    if (iso == SRVPROC_ISOLATE_SHIM) {
        if (start_private_socket(p, err, errlen) != 0)
            return -1;
        p->shimmed = 1;
        *shim_use = shim;
        path_state_get(SRVPROC_HARDCODED_SOCKET, &p->hardcoded_before);
        return 0;
    }
    int wait_ms = cfg->lock_timeout_ms > 0 ? cfg->lock_timeout_ms : 60000;
    if (take_lock(p, wait_ms, err, errlen) != 0)
        return -1;
    snprintf(p->socket_path, sizeof p->socket_path, "%s", SRVPROC_HARDCODED_SOCKET);
    set_note(p,
             "the server cannot be isolated with the socket shim (%s); it uses the "
             "hard-coded %s while this run holds " SRVPROC_LOCK_PATH,
             why[0] ? why : "isolation by lock requested", SRVPROC_HARDCODED_SOCKET);
    return 0;
}

/* Forks and execs the server in its own process group with its stdout and stderr on pipes,
 * then starts the reader thread. Returns 0, or -1 with err (nothing left running). */
static int start_spawn(srvproc *p, const char **argv, const char *shim_use, char *err, size_t errlen) {
    char *owned[4];
    int nowned = 0;
    char **envp = build_env(shim_use, p->socket_path, owned, &nowned);
    int outp[2] = {-1, -1}, errp[2] = {-1, -1};
    int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int rc = -1;
    if (!envp || null_fd < 0 || pipe2(outp, O_CLOEXEC) != 0 || pipe2(errp, O_CLOEXEC) != 0 ||
        pipe2(p->wake, O_CLOEXEC) != 0) {
        snprintf(err, errlen, "cannot prepare the server process: %s",
                 envp ? strerror(errno) : "out of memory");
        goto done;
    }
    pid_t parent = getpid();
    sigset_t all, saved;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &saved);
    pid_t pid = fork();
    if (pid == 0)
        child_exec((char *const *)argv, envp, null_fd, outp[1], errp[1], parent);
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    if (pid < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        goto done;
    }
    setpgid(pid, pid); /* also done by the child: whichever runs first wins the race */
    p->pid = pid;
    p->out_fd = outp[0];
    p->err_fd = errp[0];
    outp[0] = errp[0] = -1;
    fcntl(p->out_fd, F_SETFL, O_NONBLOCK);
    fcntl(p->err_fd, F_SETFL, O_NONBLOCK);
#ifdef SYS_pidfd_open
    p->pid_fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (p->pid_fd >= 0)
        fcntl(p->pid_fd, F_SETFD, FD_CLOEXEC);
#endif
    if (pthread_create(&p->reader, NULL, srvp_reader_owned, p) != 0) {
        kill(-pid, SIGKILL);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        p->pid = 0;
        snprintf(err, errlen, "cannot start the output reader thread");
        goto done;
    }
    p->reader_started = 1;
    rc = 0;
done:
    for (int i = 0; i < 2; i++) {
        if (outp[i] >= 0)
            close(outp[i]);
        if (errp[i] >= 0)
            close(errp[i]);
    }
    if (null_fd >= 0)
        close(null_fd);
    for (int i = 0; i < nowned; i++)
        mem_free(owned[i]);
    mem_free(envp);
    return rc;
}

int srvproc_start(const srvproc_config *cfg, srvproc **out, char *err, size_t errlen) {
    *out = NULL;
    srvproc *p = srvproc_new();
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    p->owned = 1;
    char exe[PATH_LEN], shim[PATH_LEN];
    const char *argv[64];
    const char *shim_use = NULL;
    char *shcmd = NULL;
    int rc = start_argv(cfg, p, exe, sizeof exe, argv, &shcmd, err, errlen);
    if (rc == 0)
        rc = start_isolation(cfg, p, exe, shim, sizeof shim, &shim_use, err, errlen);
    if (rc == 0)
        rc = start_spawn(p, argv, shim_use, err, errlen);
    mem_free(shcmd);
    if (rc != 0) {
        p->owned = 0;
        srvproc_free(p);
        return -1;
    }
    *out = p;
    return 0;
}

int srvproc_attach(const char *socket_path, const char *log_path, srvproc **out, char *err,
                   size_t errlen) {
    *out = NULL;
    srvproc *p = srvproc_new();
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (strlen(socket_path) >= sizeof p->socket_path) {
        snprintf(err, errlen, "--socket: expected a path of at most %zu bytes, found %zu",
                 sizeof p->socket_path - 1, strlen(socket_path));
        srvproc_free(p);
        return -1;
    }
    snprintf(p->socket_path, sizeof p->socket_path, "%s", socket_path);
    if (log_path) {
        p->log_fd = open(log_path, O_RDONLY | O_CLOEXEC);
        if (p->log_fd < 0) {
            snprintf(err, errlen, "%s: cannot open the server log: %s", log_path, strerror(errno));
            srvproc_free(p);
            return -1;
        }
        struct stat sb;
        if (fstat(p->log_fd, &sb) == 0)
            p->log_off = sb.st_size; /* only what the server writes from now on */
    }
    if (pipe2(p->wake, O_CLOEXEC) != 0 || pthread_create(&p->reader, NULL, srvp_reader_attached, p) != 0) {
        snprintf(err, errlen, "cannot start the log follower thread");
        srvproc_free(p);
        return -1;
    }
    p->reader_started = 1;
    *out = p;
    return 0;
}

/* ---- status and control ------------------------------------------------------------------ */

const char *srvproc_socket_path(const srvproc *p) { return p->socket_path; }

const char *srvproc_note(const srvproc *p) { return p->note; }

pid_t srvproc_pid(const srvproc *p) { return p->owned ? p->pid : 0; }

int srvproc_exited(srvproc *p, int *wstatus) {
    if (!p->owned)
        return 0;
    pthread_mutex_lock(&p->mu);
    int e = p->exited;
    if (e && wstatus)
        *wstatus = p->wstatus;
    pthread_mutex_unlock(&p->mu);
    return e;
}

int srvproc_wait_exit(srvproc *p, int timeout_ms, int *wstatus) {
    if (!p->owned)
        return 0;
    struct timespec deadline;
    srvp_abstime_in(&deadline, timeout_ms < 0 ? 0 : timeout_ms);
    pthread_mutex_lock(&p->mu);
    while (!p->exited)
        if (pthread_cond_timedwait(&p->cv, &p->mu, &deadline) == ETIMEDOUT)
            break;
    int e = p->exited;
    if (e && wstatus)
        *wstatus = p->wstatus;
    pthread_mutex_unlock(&p->mu);
    return e;
}

void srvproc_describe(srvproc *p, char *buf, size_t len) {
    if (!p->owned) {
        snprintf(buf, len, "attached to %s (not owned)", p->socket_path);
        return;
    }
    int st;
    if (srvproc_exited(p, &st))
        srvproc_describe_status(st, buf, len);
    else
        snprintf(buf, len, "running (pid %d)", (int)p->pid);
}

/* Signals the server's process group (falls back to the pid if the group is gone). */
static void signal_server(srvproc *p, int sig) {
    if (kill(-p->pid, sig) != 0)
        kill(p->pid, sig);
}

int srvproc_stop(srvproc *p, int term_timeout_ms, char *report, size_t len) {
    char what[128];
    int st;
    if (!p->owned) {
        snprintf(report, len, "attached to %s: not stopped (not owned)", p->socket_path);
        return 3;
    }
    if (srvproc_exited(p, &st)) {
        srvproc_describe_status(st, what, sizeof what);
        snprintf(report, len, "had already %s", what);
        return 2;
    }
    signal_server(p, SIGTERM);
    if (srvproc_wait_exit(p, term_timeout_ms, &st)) {
        srvproc_describe_status(st, what, sizeof what);
        snprintf(report, len, "stopped by SIGTERM: %s", what);
        return 0;
    }
    signal_server(p, SIGKILL);
    if (!srvproc_wait_exit(p, 10000, &st)) {
        snprintf(report, len, "did not stop within %d ms of SIGTERM nor 10 s of SIGKILL (pid %d)",
                 term_timeout_ms, (int)p->pid);
        return 1;
    }
    srvproc_describe_status(st, what, sizeof what);
    snprintf(report, len, "did not stop within %d ms of SIGTERM; %s", term_timeout_ms, what);
    return 1;
}

int srvproc_wait_ready(srvproc *p, int timeout_ms, char *err, size_t errlen) {
    int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 10000);
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, p->socket_path, strlen(p->socket_path) + 1);
    sbuf tail = SBUF_INIT;
    char what[128];
    for (;;) {
        int st;
        if (srvproc_exited(p, &st)) {
            srvproc_describe_status(st, what, sizeof what);
            srvproc_log_tail(p, 20, &tail);
            /* /bin/sh's statuses for a command it cannot run, said in words. */
            char why[PATH_LEN + 64] = "";
            struct stat sb;
            if (WIFEXITED(st) && WEXITSTATUS(st) == 127 && p->exe[0] && stat(p->exe, &sb) != 0)
                snprintf(why, sizeof why, ": the server binary %s does not exist", p->exe);
            else if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
                snprintf(why, sizeof why, ": the server command was not found");
            else if (WIFEXITED(st) && WEXITSTATUS(st) == 126 && p->exe[0])
                snprintf(why, sizeof why, ": %s is not executable", p->exe);
            snprintf(err, errlen, "server %s before accepting connections on %s%s\n%s", what,
                     p->socket_path, why, sbuf_str(&tail));
            sbuf_release(&tail);
            return -1;
        }
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd >= 0) {
            int ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 || errno == EAGAIN;
            close(fd);
            if (ok)
                break;
        }
        if (now_ms() >= deadline) {
            srvproc_describe(p, what, sizeof what);
            srvproc_log_tail(p, 20, &tail);
            path_state now;
            path_state_get(SRVPROC_HARDCODED_SOCKET, &now);
            if (p->shimmed && !path_state_equal(&now, &p->hardcoded_before))
                snprintf(err, errlen,
                         "server not ready within %d ms on %s (%s), and %s changed: the socket "
                         "shim did not apply to this binary; use isolation by lock\n%s",
                         timeout_ms, p->socket_path, what, SRVPROC_HARDCODED_SOCKET, sbuf_str(&tail));
            else
                snprintf(err, errlen, "server not ready within %d ms: nothing accepts on %s (%s)\n%s",
                         timeout_ms, p->socket_path, what, sbuf_str(&tail));
            sbuf_release(&tail);
            return -1;
        }
        sleep_ms(3);
    }
    /* The private socket accepts, so the shim applied. The hard-coded path is not compared
     * here: another program (a lock-mode run, a user's server) may change it meanwhile. */
    return 0;
}

/* 1 if the hard-coded path is a socket file that refuses connections (no server behind it). */
static int hardcoded_socket_dead(void) {
    struct stat sb;
    if (lstat(SRVPROC_HARDCODED_SOCKET, &sb) != 0 || !S_ISSOCK(sb.st_mode))
        return 0;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, SRVPROC_HARDCODED_SOCKET, sizeof SRVPROC_HARDCODED_SOCKET);
    int dead = connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 && errno == ECONNREFUSED;
    close(fd);
    return dead;
}

void srvproc_free(srvproc *p) {
    if (!p)
        return;
    if (p->owned && p->pid > 0 && p->reader_started) {
        char report[256];
        srvproc_stop(p, 2000, report, sizeof report);
    }
    if (p->reader_started) {
        ssize_t w = write(p->wake[1], "x", 1);
        (void)w;
        pthread_join(p->reader, NULL);
    }
    if (p->owned && p->pid > 0 && !p->exited) {
        int st;
        if (waitpid(p->pid, &st, WNOHANG) == 0) { /* reader gone before the exit was seen */
            kill(-p->pid, SIGKILL);
            waitpid(p->pid, &st, 0);
        }
    }
    /* The server's process group may outlive its leader: a wrapper script's server left in
     * the background, or one stopped with SIGSTOP that never saw the SIGTERM. None of it may
     * outlive the harness. */
    if (p->owned && p->pid > 0 && kill(-p->pid, 0) == 0)
        kill(-p->pid, SIGKILL);
    int fds[] = {p->out_fd, p->err_fd, p->pid_fd, p->log_fd, p->wake[0], p->wake[1]};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    if (p->private_dir) {
        char path[PATH_LEN];
        snprintf(path, sizeof path, "%s/server.sock", p->private_dir);
        unlink(path);
        rmdir(p->private_dir);
        mem_free(p->private_dir);
    }
    if (p->lock_fd >= 0) {
        /* Still under the lock: a socket file nobody listens on is what a crashed server of
         * this run left behind (take_lock saw no live server there). */
        if (p->owned && hardcoded_socket_dead())
            unlink(SRVPROC_HARDCODED_SOCKET);
        close(p->lock_fd); /* releases the flock */
    }
    for (size_t c = 0; c < p->nchunks; c++) {
        if (!p->chunks[c])
            continue;
        for (size_t i = 0; i < CHUNK_LINES; i++)
            mem_free(p->chunks[c][i].text);
        mem_free(p->chunks[c]);
    }
    mem_free(p->chunks);
    for (int s = 0; s < 3; s++)
        sbuf_release(&p->partial[s]);
    mem_free(p->note);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    mem_free(p);
}
