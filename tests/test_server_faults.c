/* test_server_faults: what `allocsim run` does when the server fails (docs/hardening.md).
 *
 * Each test runs allocsim as a CI job would, against a server that fails one way: the binary
 * is missing or not executable, it exits at start (or leaves a child behind), crashes
 * mid-run, hangs (frozen with SIGSTOP, or never answering), prints garbage or answers with
 * garbage, resets connections, its socket path is already bound by another process (attached
 * and owned), or its socket directory is not writable. Every one must end with exit status 3
 * and a report naming the cause, the server's exit status or signal (or that it still runs)
 * and the tail of its log; and afterwards no process of the run may be left (this test is a
 * child subreaper, so anything the run orphaned becomes its child and is seen) and no socket
 * file may be left in the private directories (TMPDIR is a fresh directory per test) or at
 * the hard-coded path.
 *
 * The failing servers are sh scripts in tests/data/faults/ around the reference server, and
 * this executable itself started as `test_server_faults --fake-server MODE` for the behaviours
 * a shell cannot produce (accepting and never answering, answering garbage, resetting). The
 * cases that need the hard-coded path or a read-only directory run in a private mount
 * namespace when the kernel allows one, and are skipped (saying so) when it does not.
 */
#define _GNU_SOURCE /* unshare, CLONE_NEWNS */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hardening.h"

#define FAULT_TIMEOUT_MS 60000 /* the whole allocsim run; every wait inside it is --timeout 1s */
#define HARDCODED "/tmp/tt_allocation_server.sock"
#define LOCK_PATH "/tmp/allocsim-hardcoded-socket.lock"
#define SKIP_STATUS 77

static char self_exe[4096];
static char scratch_root[64]; /* every directory a test makes is under it; main removes it */

static const char *bin_dir(void) {
    const char *b = getenv("ALLOCSIM_BIN");
    return b && *b ? b : ".";
}

static const char *source_dir(void) {
    const char *s = getenv("ALLOCSIM_SOURCE_DIR");
    return s && *s ? s : ALLOCSIM_SOURCE_DIR;
}

/* ---- the fake servers --------------------------------------------------------------------- */

/* Listens where the harness expects (its shim's private path) and misbehaves per mode:
 * "silent" reads and never answers, "garbage" answers every 72 bytes with 72 bytes of 0xEE,
 * "reset" reads the first bytes of each connection and resets it. */
static int fake_server(const char *mode) {
    const char *path = getenv("ALLOCSIM_SOCKET_PATH");
    if (!path || !*path) {
        fprintf(stderr, "fake server: ALLOCSIM_SOCKET_PATH is not set (started outside the harness?)\n");
        return 2;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    unlink(path);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 16) != 0) {
        perror("fake server: bind");
        return 1;
    }
    printf("fake server (%s) listening\n", mode);
    fflush(stdout);
    signal(SIGPIPE, SIG_IGN);
    for (;;) {
        int c = accept(fd, NULL, NULL);
        if (c < 0)
            continue;
        if (strcmp(mode, "reset") == 0) {
            char buf[72];
            ssize_t n = read(c, buf, sizeof buf);
            printf("fake server: read %zd bytes, resetting the connection\n", n);
            fflush(stdout);
            struct linger lg = {1, 0};
            setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
            close(c);
            continue;
        }
        if (fork() == 0) { /* one process per connection, like the real server's threads */
            char buf[72];
            size_t have = 0;
            for (;;) {
                ssize_t n = read(c, buf + have, sizeof buf - have);
                if (n <= 0)
                    _exit(0);
                have += (size_t)n;
                if (have < sizeof buf)
                    continue;
                have = 0;
                if (strcmp(mode, "garbage") == 0) {
                    char junk[72];
                    memset(junk, 0xEE, sizeof junk);
                    if (write(c, junk, sizeof junk) < 0)
                        _exit(0);
                }
            }
        }
        close(c);
    }
}

/* ---- running allocsim and judging the aftermath ------------------------------------------------ */

typedef struct {
    char tmpdir[256]; /* fresh TMPDIR of the run */
    int hardcoded_existed;
    struct stat hardcoded;
} fault_env;

static void env_init(fault_env *fe) {
    memset(fe, 0, sizeof *fe);
    snprintf(fe->tmpdir, sizeof fe->tmpdir, "%s/tmpdir-XXXXXX", scratch_root);
    ck_assert_ptr_nonnull(mkdtemp(fe->tmpdir));
    fe->hardcoded_existed = lstat(HARDCODED, &fe->hardcoded) == 0;
    ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
}

/* Runs `allocsim run SCENARIO --no-golden --timeout 1s ARGS...` with TMPDIR = fe->tmpdir. */
static void run_allocsim(fault_env *fe, const char *scenario, const char *const args[], hardening_result *r) {
    char bin[4200], scn[4200], tmpenv[300], srcenv[4200];
    snprintf(bin, sizeof bin, "%s/allocsim", bin_dir());
    snprintf(scn, sizeof scn, "%s/tests/data/faults/%s", source_dir(), scenario);
    char *argv[32];
    int argc = 0;
    argv[argc++] = bin;
    argv[argc++] = "run";
    argv[argc++] = scn;
    argv[argc++] = "--no-golden";
    argv[argc++] = "--timeout";
    argv[argc++] = "1s";
    for (int i = 0; args[i] && argc < 30; i++)
        argv[argc++] = (char *)args[i];
    argv[argc] = NULL;
    snprintf(tmpenv, sizeof tmpenv, "TMPDIR=%s", fe->tmpdir);
    snprintf(srcenv, sizeof srcenv, "ALLOCSIM_SOURCE_DIR=%s", source_dir());
    char *env[] = {tmpenv, srcenv, NULL};
    ck_assert_int_eq(hardening_run(argv, source_dir(), env, FAULT_TIMEOUT_MS, r), 0);
}

/* What allocsim printed, both streams, for messages. */
static char *all_output(const hardening_result *r) {
    size_t n = r->out.len + r->err.len + 1;
    char *s = malloc(n);
    snprintf(s, n, "%s%s", r->out.data, r->err.data);
    return s;
}

static void expect_text(const hardening_result *r, const char *needle) {
    char *all = all_output(r);
    ck_assert_msg(strstr(all, needle) != NULL, "expected '%s' in allocsim's output:\n%s", needle, all);
    free(all);
}

/* A process's command line from /proc, for messages. */
static void proc_cmdline(pid_t pid, char *buf, size_t len) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, len - 1, f) : 0;
    if (f)
        fclose(f);
    for (size_t i = 0; i < n; i++)
        if (buf[i] == '\0')
            buf[i] = ' ';
    buf[n] = '\0';
}

/* Living children of this process (orphans of the run, reparented to us), as text. */
static int living_children(char *list, size_t len) {
    DIR *d = opendir("/proc");
    int n = 0;
    list[0] = '\0';
    struct dirent *e;
    while (d && (e = readdir(d))) {
        pid_t pid = (pid_t)atoi(e->d_name);
        if (pid <= 0)
            continue;
        char path[64], stat[512];
        snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t got = fread(stat, 1, sizeof stat - 1, f);
        fclose(f);
        stat[got] = '\0';
        const char *rp = strrchr(stat, ')');
        char state;
        int ppid;
        if (!rp || sscanf(rp + 1, " %c %d", &state, &ppid) != 2 || ppid != (int)getpid() || state == 'Z')
            continue;
        char cmd[256];
        proc_cmdline(pid, cmd, sizeof cmd);
        size_t used = strlen(list);
        snprintf(list + used, len - used, "  pid %d (%c): %s\n", (int)pid, state, cmd);
        n++;
    }
    if (d)
        closedir(d);
    return n;
}

/* Everything the run started is gone (zombies reparented to us are reaped: they were
 * killed), TMPDIR holds no private directory or socket, and the hard-coded path is as it was. */
static void expect_clean_aftermath(fault_env *fe) {
    char list[4096];
    int alive = 0;
    for (int i = 0; i < 100; i++) { /* up to 2 s for a SIGKILLed group to be reaped */
        while (waitpid(-1, NULL, WNOHANG) > 0) {
        }
        if ((alive = living_children(list, sizeof list)) == 0)
            break;
        hardening_sleep_ms(20);
    }
    ck_assert_msg(alive == 0, "processes of the run outlived it:\n%s", list);

    DIR *d = opendir(fe->tmpdir);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    char left[1024] = "";
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            strncat(left, " ", sizeof left - strlen(left) - 1);
            strncat(left, e->d_name, sizeof left - strlen(left) - 1);
        }
    }
    closedir(d);
    ck_assert_msg(left[0] == '\0', "left in TMPDIR %s:%s", fe->tmpdir, left);
    rmdir(fe->tmpdir);

    struct stat now;
    int exists = lstat(HARDCODED, &now) == 0;
    int same = exists == fe->hardcoded_existed &&
               (!exists || (now.st_ino == fe->hardcoded.st_ino && now.st_dev == fe->hardcoded.st_dev));
    if (!same) {
        /* Another run that holds the hard-coded path's lock may be using it right now. */
        int lk = open(LOCK_PATH, O_RDWR | O_CLOEXEC);
        int busy = lk >= 0 && flock(lk, LOCK_EX | LOCK_NB) != 0;
        if (lk >= 0)
            close(lk);
        ck_assert_msg(busy, "%s %s during the run", HARDCODED, exists ? "appeared or changed" : "vanished");
    }
}

static void expect_exit(const hardening_result *r, int status) {
    char how[128];
    hardening_describe(r, FAULT_TIMEOUT_MS, how, sizeof how);
    char *all = all_output(r);
    ck_assert_msg(!r->timed_out && WIFEXITED(r->wstatus) && WEXITSTATUS(r->wstatus) == status,
                  "allocsim: %s, expected exit %d; output:\n%s", how, status, all);
    free(all);
}

static const char *fault_script(const char *name, char *buf, size_t len) {
    snprintf(buf, len, "%s/tests/data/faults/%s", source_dir(), name);
    return buf;
}

/* ---- faults of a server allocsim starts -------------------------------------------------------- */

START_TEST(binary_missing) {
    fault_env fe;
    env_init(&fe);
    hardening_result r;
    const char *args[] = {"--server", "/nonexistent/allocation_server_poc", NULL};
    run_allocsim(&fe, "small.scn", args, &r);
    expect_exit(&r, 3);
    expect_text(&r, "server exited with status 127 before accepting connections on ");
    expect_text(&r, ": the server binary /nonexistent/allocation_server_poc does not exist");
    expect_text(&r, "err| /bin/sh: ");
    hardening_result_release(&r);
    expect_clean_aftermath(&fe);
}
END_TEST

START_TEST(binary_not_executable) {
    fault_env fe;
    env_init(&fe);
    char script[4200];
    fault_script("not_executable.sh", script, sizeof script);
    struct stat sb;
    ck_assert_int_eq(stat(script, &sb), 0);
    if (sb.st_mode & 0111)
        chmod(script, sb.st_mode & ~0111u); /* a checkout that added the bit: take it away */
    hardening_result r;
    const char *args[] = {"--server", script, NULL};
    run_allocsim(&fe, "small.scn", args, &r);
    expect_exit(&r, 3);
    expect_text(&r, "server exited with status 126 before accepting connections on ");
    expect_text(&r, "not_executable.sh is not executable");
    expect_text(&r, "Permission denied");
    hardening_result_release(&r);
    expect_clean_aftermath(&fe);
}
END_TEST

START_TEST(exits_at_start) {
    fault_env fe;
    env_init(&fe);
    char script[4200];
    hardening_result r;
    const char *args[] = {"--server", fault_script("exit_at_start.sh", script, sizeof script), NULL};
    run_allocsim(&fe, "small.scn", args, &r);
    expect_exit(&r, 3);
    expect_text(&r, "server exited with status 1 before accepting connections on ");
    expect_text(&r, "err| Error: Failed to bind socket");
    hardening_result_release(&r);
    expect_clean_aftermath(&fe);
}
END_TEST

/* The started process exits at once but leaves the real server running in the background. */
START_TEST(exits_leaving_a_child) {
    fault_env fe;
    env_init(&fe);
    char script[4200];
    hardening_result r;
    const char *args[] = {"--server", fault_script("leaves_child_behind.sh", script, sizeof script), NULL};
    run_allocsim(&fe, "small.scn", args, &r);
    expect_exit(&r, 3);
    expect_text(&r, "server exited with status 4 before accepting connections on ");
    hardening_result_release(&r);
    expect_clean_aftermath(&fe);
}
END_TEST

START_TEST(crashes_mid_run) {
    fault_env fe;
    env_init(&fe);
    char server[4200];
    snprintf(server, sizeof server, "%s/allocsim-server --fault no-bounds", bin_dir());
    hardening_result r;
    const char *args[] = {"--server", server, NULL};
    run_allocsim(&fe, "crash_mid_run.scn", args, &r);
    expect_exit(&r, 3);
    expect_text(&r, "the server closed the connection");
    /* SIGSEGV, or a sanitizer's abort or exit when the server is built with one */
    char *all = all_output(&r);
    int status_named = strstr(all, "\nserver: killed by signal ") || strstr(all, "\nserver: exited with status ");
    ck_assert_msg(status_named, "the server's status is not named:\n%s", all);
    free(all);
    expect_text(&r, "last 30 lines of the server log:\n");
    expect_text(&r, "out| \xE2\x9C\x93 [PID "); /* the allocation before the crash */
    hardening_result_release(&r);
    expect_clean_aftermath(&fe);
}
END_TEST

START_TEST(hangs_frozen_mid_run) {
    fault_env fe;
    env_init(&fe);
    char script[4200];
    hardening_result r;
    const char *args[] = {"--server", fault_script("hang_after_first_alloc.sh", script, sizeof script), NULL};
    run_allocsim(&fe, "many_frames.scn", args, &r);
    expect_exit(&r, 3);
    expect_text(&r, " 1000 ms");
    expect_text(&r, "hung?");
    expect_text(&r, "\nserver: running (pid ");
    expect_text(&r, "last 30 lines of the server log:\nout| ");
    hardening_result_release(&r);
    expect_clean_aftermath(&fe); /* the frozen server never saw SIGTERM: it must be killed */
}
END_TEST

START_TEST(hangs_never_answering) {
    fault_env fe;
    env_init(&fe);
    char server[4300];
    snprintf(server, sizeof server, "%s --fake-server silent", self_exe);
    hardening_result r;
    const char *args[] = {"--server", server, NULL};
    run_allocsim(&fe, "small.scn", args, &r);
    expect_exit(&r, 3);
    expect_text(&r, "no reply within 1000 ms");
    expect_text(&r, "): hung?\nserver: running (pid ");
    expect_text(&r, "out| fake server (silent) listening");
    hardening_result_release(&r);
    expect_clean_aftermath(&fe);
}
END_TEST

START_TEST(prints_garbage) {
    fault_env fe;
    env_init(&fe);
    char script[4200];
    hardening_result r;
    const char *args[] = {"--server", fault_script("garbage_output.sh", script, sizeof script), NULL};
    run_allocsim(&fe, "small.scn", args, &r);
    expect_exit(&r, 3);
    expect_text(&r, "line within 1000 ms of sending DUMP_REMAINING");
    expect_text(&r, "\nserver: running (pid ");
    /* the garbage is quoted with its control bytes and broken UTF-8 escaped */
    expect_text(&r, "out| garbage \\x01\\x02\\x1b[31m\\xff\\xfe not a report\n");
    expect_text(&r, "out| \\x80\\x81\\x82 tail without newline (no newline)\n");
    char *all = all_output(&r);
    ck_assert_msg(strchr(all, '\x1b') == NULL, "a raw escape byte reached the report");
    free(all);
    hardening_result_release(&r);
    expect_clean_aftermath(&fe);
}
END_TEST

START_TEST(answers_garbage) {
    fault_env fe;
    env_init(&fe);
    char server[4300];
    snprintf(server, sizeof server, "%s --fake-server garbage", self_exe);
    hardening_result r;
    const char *args[] = {"--server", server, NULL};
    run_allocsim(&fe, "small.scn", args, &r);
    expect_exit(&r, 3);
    expect_text(&r, "expected a RESPONSE (type 4) or DEVICE_INFO_RESPONSE (type 7), found type 238: the server answered garbage");
    expect_text(&r, "\nserver: running (pid ");
    hardening_result_release(&r);
    expect_clean_aftermath(&fe);
}
END_TEST

START_TEST(resets_connections) {
    fault_env fe;
    env_init(&fe);
    char server[4300];
    snprintf(server, sizeof server, "%s --fake-server reset", self_exe);
    hardening_result r;
    const char *args[] = {"--server", server, NULL};
    run_allocsim(&fe, "small.scn", args, &r);
    expect_exit(&r, 3);
    expect_text(&r, "Connection reset by peer\nserver: running (pid ");
    expect_text(&r, "out| fake server: read 72 bytes, resetting the connection");
    hardening_result_release(&r);
    expect_clean_aftermath(&fe);
}
END_TEST

/* ---- attaching to a socket that is not a working server --------------------------------------- */

/* Binds path in a child that listens (listen = 1) or only binds (a stale socket file), and
 * never accepts. Returns the child's pid; it waits for SIGKILL. */
static pid_t hold_socket(const char *path, int listen_too) {
    int ready[2];
    ck_assert_int_eq(pipe(ready), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        struct sockaddr_un sa;
        memset(&sa, 0, sizeof sa);
        sa.sun_family = AF_UNIX;
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
        int ok = fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 && (!listen_too || listen(fd, 4) == 0);
        if (ok && !listen_too)
            close(fd); /* the file stays; nobody listens */
        char c = ok ? 'y' : 'n';
        if (write(ready[1], &c, 1) != 1)
            _exit(1);
        for (;;)
            pause();
    }
    close(ready[1]);
    char c = 'n';
    ck_assert_int_eq(read(ready[0], &c, 1), 1);
    close(ready[0]);
    ck_assert_msg(c == 'y', "cannot bind %s", path);
    return pid;
}

static void release_socket(pid_t holder, const char *path) {
    kill(holder, SIGKILL);
    waitpid(holder, NULL, 0);
    unlink(path);
}

START_TEST(attached_socket_held_by_another_process) {
    fault_env fe;
    env_init(&fe);
    char dir[128];
    snprintf(dir, sizeof dir, "%s/other-XXXXXX", scratch_root);
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char sock[300], log[300];
    snprintf(sock, sizeof sock, "%s/other.sock", dir);
    snprintf(log, sizeof log, "%s/other.log", dir);
    FILE *lf = fopen(log, "w");
    ck_assert_ptr_nonnull(lf);
    fclose(lf);
    pid_t holder = hold_socket(sock, 1);
    hardening_result r;
    const char *args[] = {"--socket", sock, "--server-log", log, NULL};
    run_allocsim(&fe, "small.scn", args, &r);
    release_socket(holder, sock);
    expect_exit(&r, 3);
    expect_text(&r, "within 1000 ms");
    expect_text(&r, "\nserver: attached to ");
    expect_text(&r, "(not owned)");
    hardening_result_release(&r);
    unlink(log);
    rmdir(dir);
    expect_clean_aftermath(&fe);
}
END_TEST

START_TEST(attached_socket_nobody_listens) {
    fault_env fe;
    env_init(&fe);
    char dir[128];
    snprintf(dir, sizeof dir, "%s/stale-XXXXXX", scratch_root);
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char sock[300], log[300];
    snprintf(sock, sizeof sock, "%s/stale.sock", dir);
    snprintf(log, sizeof log, "%s/stale.log", dir);
    FILE *lf = fopen(log, "w");
    ck_assert_ptr_nonnull(lf);
    fclose(lf);
    pid_t holder = hold_socket(sock, 0);
    hardening_result r;
    const char *args[] = {"--socket", sock, "--server-log", log, NULL};
    run_allocsim(&fe, "small.scn", args, &r);
    release_socket(holder, sock);
    expect_exit(&r, 3);
    expect_text(&r, "server not ready within 1000 ms: nothing accepts on ");
    expect_text(&r, "(attached to ");
    hardening_result_release(&r);
    unlink(log);
    rmdir(dir);
    expect_clean_aftermath(&fe);
}
END_TEST

/* ---- cases that need a private /tmp or a read-only directory ------------------------------------ */

/* Enters a private mount namespace (as root, or as a user through a user namespace) in which
 * mounts do not propagate back. Returns 0, or -1 when the kernel or container refuses. */
static int private_mounts(void) {
    uid_t uid = geteuid();
    gid_t gid = getegid();
    if (unshare(CLONE_NEWNS) != 0) {
        if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0)
            return -1;
        char map[64];
        int fd = open("/proc/self/setgroups", O_WRONLY);
        if (fd >= 0) {
            if (write(fd, "deny", 4) != 4) {
            }
            close(fd);
        }
        snprintf(map, sizeof map, "0 %u 1", (unsigned)uid);
        fd = open("/proc/self/uid_map", O_WRONLY);
        if (fd < 0 || write(fd, map, strlen(map)) < 0)
            return -1;
        close(fd);
        snprintf(map, sizeof map, "0 %u 1", (unsigned)gid);
        fd = open("/proc/self/gid_map", O_WRONLY);
        if (fd < 0 || write(fd, map, strlen(map)) < 0)
            return -1;
        close(fd);
    }
    return mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL);
}

/* A fresh tmpfs on /tmp would hide a checkout or build that lives under /tmp (CI clones often
 * do). top_under_tmp() names the top directory under /tmp of such a path (resolved before the
 * mount; "" when the path is elsewhere), keep_top() binds it back from the old /tmp, reached
 * through old_tmp, an O_PATH descriptor opened before the mount. */
static void top_under_tmp(const char *path, char *top, size_t n) {
    char real[4096];
    top[0] = '\0';
    if (!realpath(path, real) || strncmp(real, "/tmp/", 5) != 0)
        return;
    snprintf(top, n, "%s", real + 5);
    char *slash = strchr(top, '/');
    if (slash)
        *slash = '\0';
}

static int keep_top(int old_tmp, const char *top) {
    if (!*top)
        return 0;
    char from[4200], to[4200];
    snprintf(from, sizeof from, "/proc/self/fd/%d/%s", old_tmp, top);
    snprintf(to, sizeof to, "/tmp/%s", top);
    if (mkdir(to, 0755) != 0 && errno != EEXIST)
        return -1;
    return mount(from, to, NULL, MS_BIND | MS_REC, NULL);
}

/* Runs body in a child inside a private mount namespace with a fresh /tmp. body returns 0
 * (passed) or prints why and returns 1. The test is skipped when no namespace is possible. */
static void in_private_tmp(int (*body)(void), const char *what) {
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        char tops[3][256];
        top_under_tmp(bin_dir(), tops[0], sizeof tops[0]);
        top_under_tmp(source_dir(), tops[1], sizeof tops[1]);
        top_under_tmp(self_exe, tops[2], sizeof tops[2]);
        if (private_mounts() != 0)
            _exit(SKIP_STATUS);
        /* opened inside the new namespace: a bind source must belong to it */
        int old_tmp = open("/tmp", O_PATH | O_DIRECTORY);
        if (old_tmp < 0 || mount("tmpfs", "/tmp", "tmpfs", 0, "size=64m") != 0)
            _exit(SKIP_STATUS);
        if (keep_top(old_tmp, tops[0]) != 0 || keep_top(old_tmp, tops[1]) != 0 || keep_top(old_tmp, tops[2]) != 0) {
            fprintf(stderr, "cannot keep the build visible inside the private /tmp: %s\n", strerror(errno));
            _exit(1);
        }
        _exit(body());
    }
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    if (WIFEXITED(st) && WEXITSTATUS(st) == SKIP_STATUS) {
        printf("SKIP %s: no private mount namespace here (unshare refused)\n", what);
        return;
    }
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s failed (see the lines above)", what);
}

static int check_in_child(int cond, const char *what, const hardening_result *r) {
    if (cond)
        return 0;
    fprintf(stderr, "FAILED: %s\nallocsim output:\n%s%s\n", what, r->out.data, r->err.data);
    return 1;
}

static int has(const hardening_result *r, const char *needle) {
    return strstr(r->out.data, needle) || strstr(r->err.data, needle);
}

/* In the private /tmp: a live listener on the hard-coded path (a user's own server), then a
 * run that must use that path (isolation by lock) refuses, and a shimmed run leaves the
 * listener alone. */
static int body_hardcoded_path_taken(void) {
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    pid_t holder = fork();
    if (holder == 0) {
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        struct sockaddr_un sa;
        memset(&sa, 0, sizeof sa);
        sa.sun_family = AF_UNIX;
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s", HARDCODED);
        if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 4) != 0)
            _exit(1);
        for (;;)
            pause();
    }
    struct stat before, after;
    for (int i = 0; i < 200 && lstat(HARDCODED, &before) != 0; i++)
        hardening_sleep_ms(5);
    hardening_sleep_ms(20);
    char bin[4200], scn[4200], srcenv[4200];
    snprintf(bin, sizeof bin, "%s/allocsim", bin_dir());
    snprintf(scn, sizeof scn, "%s/tests/data/faults/small.scn", source_dir());
    snprintf(srcenv, sizeof srcenv, "ALLOCSIM_SOURCE_DIR=%s", source_dir());
    char *env[] = {srcenv, "TMPDIR=/tmp", NULL};
    int failed = 0;

    char *lock_argv[] = {bin, "run", scn, "--no-golden", "--timeout", "1s", "--isolation", "lock", NULL};
    hardening_result r;
    if (hardening_run(lock_argv, source_dir(), env, FAULT_TIMEOUT_MS, &r) != 0)
        return 1;
    failed |= check_in_child(WIFEXITED(r.wstatus) && WEXITSTATUS(r.wstatus) == 3, "isolation by lock: exit 3", &r);
    failed |= check_in_child(has(&r, "a server is already listening on " HARDCODED), "isolation by lock: the cause", &r);
    hardening_result_release(&r);

    char *shim_argv[] = {bin, "run", scn, "--no-golden", "--timeout", "1s", NULL};
    if (hardening_run(shim_argv, source_dir(), env, FAULT_TIMEOUT_MS, &r) != 0)
        return 1;
    failed |= check_in_child(WIFEXITED(r.wstatus) && WEXITSTATUS(r.wstatus) == 0,
                             "shim: the run passes beside a live server on the hard-coded path", &r);
    hardening_result_release(&r);
    failed |= lstat(HARDCODED, &after) != 0 || after.st_ino != before.st_ino;
    if (failed)
        fprintf(stderr, "the listener's socket at %s was touched\n", HARDCODED);
    kill(holder, SIGKILL);
    waitpid(holder, NULL, 0);
    return failed;
}

START_TEST(owned_server_hardcoded_path_taken) {
    in_private_tmp(body_hardcoded_path_taken, "owned_server_hardcoded_path_taken");
}
END_TEST

/* TMPDIR is a read-only directory: the private socket directory cannot be made. */
static int body_socket_dir_not_writable(void) {
    const char *ro = "/tmp/read-only";
    if (mkdir(ro, 0555) != 0 || mount("tmpfs", ro, "tmpfs", MS_RDONLY, "size=1m") != 0)
        return SKIP_STATUS;
    char bin[4200], scn[4200], srcenv[4200], tmpenv[64];
    snprintf(bin, sizeof bin, "%s/allocsim", bin_dir());
    snprintf(scn, sizeof scn, "%s/tests/data/faults/small.scn", source_dir());
    snprintf(srcenv, sizeof srcenv, "ALLOCSIM_SOURCE_DIR=%s", source_dir());
    snprintf(tmpenv, sizeof tmpenv, "TMPDIR=%s", ro);
    char *env[] = {srcenv, tmpenv, NULL};
    char *argv[] = {bin, "run", scn, "--no-golden", "--timeout", "1s", NULL};
    hardening_result r;
    if (hardening_run(argv, source_dir(), env, FAULT_TIMEOUT_MS, &r) != 0)
        return 1;
    int failed = 0;
    failed |= check_in_child(WIFEXITED(r.wstatus) && WEXITSTATUS(r.wstatus) == 3, "exit 3", &r);
    failed |= check_in_child(has(&r, "cannot create the server's private socket directory: mkdtemp /tmp/read-only/allocsim-"),
                             "the cause", &r);
    failed |= check_in_child(has(&r, "Read-only file system") || has(&r, "Permission denied"), "the reason", &r);
    hardening_result_release(&r);
    return failed;
}

START_TEST(socket_directory_not_writable) {
    in_private_tmp(body_socket_dir_not_writable, "socket_directory_not_writable");
}
END_TEST

/* The aftermath check itself: a process left behind must be seen (a canary). */
START_TEST(aftermath_sees_a_left_process) {
    fault_env fe;
    env_init(&fe);
    char *argv[] = {"/bin/sh", "-c", "sleep 30 & exit 0", NULL};
    hardening_result r;
    ck_assert_int_eq(hardening_run(argv, NULL, NULL, 10000, &r), 0);
    pid_t group = r.pid;
    hardening_result_release(&r);
    char list[4096];
    int alive = 0;
    for (int i = 0; i < 50 && !(alive = living_children(list, sizeof list)); i++)
        hardening_sleep_ms(20);
    ck_assert_int_eq(alive, 1);
    ck_assert_ptr_nonnull(strstr(list, "sleep 30"));
    kill(-group, SIGKILL);
    while (waitpid(-1, NULL, 0) > 0) {
    }
    rmdir(fe.tmpdir);
}
END_TEST

/* Removes what failed tests left under the scratch root (two levels: a test's directory and
 * the files or private directories in it). */
static void remove_scratch(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch_root);
    if (scratch_root[0] && system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", scratch_root);
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--fake-server") == 0)
        return fake_server(argv[2]);
    snprintf(scratch_root, sizeof scratch_root, "/tmp/allocsim-faults-XXXXXX");
    if (!mkdtemp(scratch_root)) {
        perror("mkdtemp");
        return 1;
    }
    ssize_t n = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
    self_exe[n > 0 ? n : 0] = '\0';
    Suite *s = suite_create("server_faults");
    TCase *t = tcase_create("faults");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, aftermath_sees_a_left_process);
    tcase_add_test(t, binary_missing);
    tcase_add_test(t, binary_not_executable);
    tcase_add_test(t, exits_at_start);
    tcase_add_test(t, exits_leaving_a_child);
    tcase_add_test(t, crashes_mid_run);
    tcase_add_test(t, hangs_frozen_mid_run);
    tcase_add_test(t, hangs_never_answering);
    tcase_add_test(t, prints_garbage);
    tcase_add_test(t, answers_garbage);
    tcase_add_test(t, resets_connections);
    tcase_add_test(t, attached_socket_held_by_another_process);
    tcase_add_test(t, attached_socket_nobody_listens);
    tcase_add_test(t, owned_server_hardcoded_path_taken);
    tcase_add_test(t, socket_directory_not_writable);
    suite_add_tcase(s, t);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    remove_scratch();
    return failed ? 1 : 0;
}
