/* Tests for harness/srvproc: owning server processes (exit status and signals in words,
 * SIGTERM-then-SIGKILL, continuous draining, line assembly), the readiness check against the
 * reference server started without --socket, attach mode, and the isolation decision.
 * Servers are small shell commands where the behaviour under test is the process's, and
 * allocsim-server where a socket is needed. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "srvproc.h"

#define WAIT_MS 10000

static srvproc *start_cmd(const char *cmd) {
    srvproc_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.command = cmd;
    srvproc *p = NULL;
    char err[1024];
    int rc = srvproc_start(&cfg, &p, err, sizeof err);
    ck_assert_msg(rc == 0, "start '%s': %s", cmd, err);
    return p;
}

typedef struct {
    const char *text;
    srvproc_stream stream;
} line_match;

static int line_is(const srvproc_line *l, void *ctx) {
    const line_match *m = ctx;
    return l->stream == m->stream && strlen(m->text) == l->len && memcmp(l->text, m->text, l->len) == 0;
}

static int64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

START_TEST(test_describe_status_words) {
    char buf[128];
    /* Wait statuses built by hand from the Linux encoding: exit code in bits 8-15,
     * terminating signal in bits 0-6, core flag 0x80. */
    srvproc_describe_status(1 << 8, buf, sizeof buf);
    ck_assert_str_eq(buf, "exited with status 1");
    srvproc_describe_status(0, buf, sizeof buf);
    ck_assert_str_eq(buf, "exited with status 0");
    srvproc_describe_status(11, buf, sizeof buf);
    ck_assert_str_eq(buf, "killed by signal 11 (SIGSEGV)");
    srvproc_describe_status(6 | 0x80, buf, sizeof buf);
    ck_assert_str_eq(buf, "killed by signal 6 (SIGABRT), core dumped");
    srvproc_describe_status(9, buf, sizeof buf);
    ck_assert_str_eq(buf, "killed by signal 9 (SIGKILL)");
}
END_TEST

START_TEST(test_exit_status_reported) {
    srvproc *p = start_cmd("sh -c 'echo bye >&2; exit 3'");
    char err[2048];
    ck_assert_int_eq(srvproc_wait_ready(p, WAIT_MS, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "server exited with status 3 before accepting connections"), "%s", err);
    ck_assert_msg(strstr(err, "err| bye"), "the log tail is part of the report: %s", err);
    int st = 0;
    ck_assert_int_eq(srvproc_exited(p, &st), 1);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 3);
    char report[256];
    ck_assert_int_eq(srvproc_stop(p, 1000, report, sizeof report), 2);
    ck_assert_str_eq(report, "had already exited with status 3");
    srvproc_free(p);
}
END_TEST

START_TEST(test_signal_death_reported) {
    srvproc *p = start_cmd("sh -c 'kill -SEGV $$'");
    int st = 0;
    ck_assert_int_eq(srvproc_wait_exit(p, WAIT_MS, &st), 1);
    ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
    char what[128];
    srvproc_describe(p, what, sizeof what);
    ck_assert_msg(strncmp(what, "killed by signal 11 (SIGSEGV)", 29) == 0, "%s", what);
    srvproc_free(p);
}
END_TEST

START_TEST(test_sigterm_ignored_escalates_to_sigkill) {
    srvproc *p = start_cmd("sh -c 'trap \"\" TERM; echo armed; while :; do sleep 0.05; done'");
    line_match m = {"armed", SRVPROC_OUT};
    ck_assert_int_eq(srvproc_wait_line(p, 0, line_is, &m, WAIT_MS, NULL), SRVPROC_FOUND);
    char report[256];
    int64_t t0 = mono_ms();
    int rc = srvproc_stop(p, 300, report, sizeof report);
    int64_t took = mono_ms() - t0;
    ck_assert_int_eq(rc, 1);
    ck_assert_str_eq(report, "did not stop within 300 ms of SIGTERM; killed by signal 9 (SIGKILL)");
    ck_assert_msg(took >= 300, "SIGKILL only after the SIGTERM grace period (%lld ms)", (long long)took);
    srvproc_free(p);
}
END_TEST

START_TEST(test_sigterm_stops_normally) {
    srvproc *p = start_cmd("sh -c 'echo up; exec sleep 30'");
    line_match m = {"up", SRVPROC_OUT};
    ck_assert_int_eq(srvproc_wait_line(p, 0, line_is, &m, WAIT_MS, NULL), SRVPROC_FOUND);
    char report[256];
    ck_assert_int_eq(srvproc_stop(p, 5000, report, sizeof report), 0);
    ck_assert_str_eq(report, "stopped by SIGTERM: killed by signal 15 (SIGTERM)");
    srvproc_free(p);
}
END_TEST

START_TEST(test_flood_is_drained) {
    /* 8 MB of output is over 100 times a pipe's capacity: without continuous draining the
     * writer would block before printing the marker. */
    srvproc *p = start_cmd(
        "sh -c 'head -c 8000000 /dev/zero | tr \"\\000\" x | fold -w 99; echo; echo flood-done; exec sleep 30'");
    line_match m = {"flood-done", SRVPROC_OUT};
    size_t at = 0;
    ck_assert_int_eq(srvproc_wait_line(p, 0, line_is, &m, WAIT_MS, &at), SRVPROC_FOUND);
    /* 8000000 / 99 = 80808 full lines and one of 8 bytes. */
    ck_assert_uint_eq(at, 80809);
    sbuf line = SBUF_INIT;
    srvproc_stream st;
    ck_assert_int_eq(srvproc_log_get(p, 80808, &line, &st), 0);
    ck_assert_str_eq(sbuf_str(&line), "xxxxxxxx");
    ck_assert_int_eq(srvproc_log_get(p, 17, &line, &st), 0);
    ck_assert_uint_eq(line.len, 99);
    ck_assert_int_eq(srvproc_exited(p, NULL), 0);
    srvproc_log_trim(p, 80000);
    ck_assert_int_eq(srvproc_log_get(p, 17, &line, &st), -1);
    ck_assert_int_eq(srvproc_log_get(p, 80808, &line, &st), 0);
    sbuf_release(&line);
    srvproc_free(p);
}
END_TEST

START_TEST(test_fragments_assembled_and_streams_tagged) {
    srvproc *p = start_cmd("sh -c 'printf par; sleep 0.2; printf \"tial\\n\"; printf \"to err\\n\" >&2; "
                           "printf \"no newline\"; exit 0'");
    int st;
    ck_assert_int_eq(srvproc_wait_exit(p, WAIT_MS, &st), 1);
    line_match m1 = {"partial", SRVPROC_OUT}, m2 = {"to err", SRVPROC_ERR},
               m3 = {"no newline", SRVPROC_OUT};
    ck_assert_int_eq(srvproc_wait_line(p, 0, line_is, &m1, 0, NULL), SRVPROC_FOUND);
    ck_assert_int_eq(srvproc_wait_line(p, 0, line_is, &m2, 0, NULL), SRVPROC_FOUND);
    ck_assert_int_eq(srvproc_wait_line(p, 0, line_is, &m3, 0, NULL), SRVPROC_FOUND);
    ck_assert_uint_eq(srvproc_log_end(p), 3);
    sbuf t = SBUF_INIT;
    srvproc_log_text(p, 0, 3, SRVPROC_OUT, &t);
    ck_assert_str_eq(sbuf_str(&t), "partial\nno newline\n");
    sbuf_reset(&t);
    srvproc_log_tail(p, 2, &t);
    ck_assert_str_eq(sbuf_str(&t), "err| to err\nout| no newline\n");
    sbuf_release(&t);
    /* A dead, drained server answers every further wait at once. */
    line_match never = {"never printed", SRVPROC_OUT};
    ck_assert_int_eq(srvproc_wait_line(p, 0, line_is, &never, WAIT_MS, NULL), SRVPROC_DIED);
    srvproc_free(p);
}
END_TEST

START_TEST(test_wait_line_times_out) {
    srvproc *p = start_cmd("sleep 30");
    line_match never = {"never printed", SRVPROC_OUT};
    int64_t t0 = mono_ms();
    ck_assert_int_eq(srvproc_wait_line(p, 0, line_is, &never, 200, NULL), SRVPROC_TIMEOUT);
    int64_t took = mono_ms() - t0;
    ck_assert_msg(took >= 190 && took < 5000, "took %lld ms", (long long)took);
    srvproc_free(p);
}
END_TEST

START_TEST(test_reference_server_through_shim) {
    struct stat before, after;
    int existed = lstat(SRVPROC_HARDCODED_SOCKET, &before) == 0;
    srvproc_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.rev = PROTO_V72;
    const char *extra[] = {"--stats-interval", "0", NULL};
    cfg.extra_args = extra;
    srvproc *p = NULL;
    char err[2048];
    ck_assert_msg(srvproc_start(&cfg, &p, err, sizeof err) == 0, "%s", err);
    ck_assert_msg(srvproc_wait_ready(p, WAIT_MS, err, sizeof err) == 0, "%s", err);
    ck_assert_ptr_null(srvproc_note(p));
    const char *sock = srvproc_socket_path(p);
    ck_assert_msg(strncmp(sock, "/tmp/allocsim-", 14) == 0, "private socket, found %s", sock);
    struct stat sb;
    ck_assert_int_eq(stat(sock, &sb), 0);
    ck_assert(S_ISSOCK(sb.st_mode));
    /* The server believes it bound the hard-coded path: it was started without --socket. */
    line_match m = {"   Listening on: /tmp/tt_allocation_server.sock", SRVPROC_OUT};
    ck_assert_int_eq(srvproc_wait_line(p, 0, line_is, &m, WAIT_MS, NULL), SRVPROC_FOUND);
    char report[256];
    ck_assert_int_eq(srvproc_stop(p, 5000, report, sizeof report), 0);
    ck_assert_str_eq(report, "stopped by SIGTERM: exited with status 0");
    line_match stopped = {"🛑 Allocation Server stopped", SRVPROC_OUT};
    ck_assert_int_eq(srvproc_wait_line(p, 0, line_is, &stopped, WAIT_MS, NULL), SRVPROC_FOUND);
    char dir[256];
    snprintf(dir, sizeof dir, "%s", sock);
    *strrchr(dir, '/') = '\0';
    srvproc_free(p);
    ck_assert_msg(access(dir, F_OK) != 0, "private directory %s removed", dir);
    int exists = lstat(SRVPROC_HARDCODED_SOCKET, &after) == 0;
    ck_assert_int_eq(existed, exists);
    if (exists)
        ck_assert(before.st_ino == after.st_ino && before.st_mtim.tv_nsec == after.st_mtim.tv_nsec);
}
END_TEST

START_TEST(test_not_ready_times_out_with_tail) {
    srvproc_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.command = "sh -c 'echo starting; exec sleep 30'";
    srvproc *p = NULL;
    char err[2048];
    ck_assert_int_eq(srvproc_start(&cfg, &p, err, sizeof err), 0);
    ck_assert_int_eq(srvproc_wait_ready(p, 150, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "server not ready within 150 ms: nothing accepts on /tmp/allocsim-"), "%s", err);
    ck_assert_msg(strstr(err, "running (pid"), "%s", err);
    ck_assert_msg(strstr(err, "out| starting"), "%s", err);
    srvproc_free(p);
}
END_TEST

START_TEST(test_attach_follows_log_from_its_end) {
    char path[] = "/tmp/allocsim-test-log-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "old line\n", 9), 9);
    srvproc *p = NULL;
    char err[512];
    ck_assert_msg(srvproc_attach("/tmp/nowhere.sock", path, &p, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(srvproc_pid(p), 0);
    ck_assert_int_eq(write(fd, "new ", 4), 4);
    usleep(30000);
    ck_assert_int_eq(write(fd, "line\n", 5), 5);
    line_match m = {"new line", SRVPROC_OUT};
    size_t at = 99;
    ck_assert_int_eq(srvproc_wait_line(p, 0, line_is, &m, WAIT_MS, &at), SRVPROC_FOUND);
    ck_assert_uint_eq(at, 0); /* the old line was before the attach */
    char what[256];
    srvproc_describe(p, what, sizeof what);
    ck_assert_str_eq(what, "attached to /tmp/nowhere.sock (not owned)");
    ck_assert_int_eq(srvproc_wait_ready(p, 100, err, sizeof err), -1);
    char report[128];
    ck_assert_int_eq(srvproc_stop(p, 100, report, sizeof report), 3);
    srvproc_free(p);
    close(fd);
    unlink(path);
}
END_TEST

START_TEST(test_preload_possible) {
    char why[512];
    ck_assert_int_eq(srvproc_preload_possible("/bin/sh", why, sizeof why), 1);
    char server[1024];
    ck_assert_int_eq(srvproc_reference_path(server, sizeof server, why, sizeof why), 0);
    ck_assert_int_eq(srvproc_preload_possible(server, why, sizeof why), 1);
    ck_assert_int_eq(srvproc_preload_possible("/nonexistent/server", why, sizeof why), -1);
    struct stat sb;
    if (stat("/usr/bin/passwd", &sb) == 0 && (sb.st_mode & S_ISUID)) {
        ck_assert_int_eq(srvproc_preload_possible("/usr/bin/passwd", why, sizeof why), 0);
        ck_assert_msg(strstr(why, "setuid"), "%s", why);
    }
    /* Debian's ldconfig is a static-pie binary: no PT_INTERP. */
    if (access("/sbin/ldconfig", R_OK) == 0 &&
        srvproc_preload_possible("/sbin/ldconfig", why, sizeof why) == 0)
        ck_assert_msg(strstr(why, "statically linked"), "%s", why);
}
END_TEST

START_TEST(test_static_binary_falls_back_to_lock) {
    char why[512];
    if (access("/sbin/ldconfig", X_OK) != 0 ||
        srvproc_preload_possible("/sbin/ldconfig", why, sizeof why) != 0)
        return; /* no static binary on this machine */
    /* ldconfig --version never touches the socket path: this only exercises the decision. */
    srvproc *p = start_cmd("/sbin/ldconfig --version");
    ck_assert_ptr_nonnull(srvproc_note(p));
    ck_assert_msg(strstr(srvproc_note(p), "statically linked"), "%s", srvproc_note(p));
    ck_assert_msg(strstr(srvproc_note(p), SRVPROC_LOCK_PATH), "%s", srvproc_note(p));
    ck_assert_str_eq(srvproc_socket_path(p), SRVPROC_HARDCODED_SOCKET);
    /* While this run holds the lock, another one waits and gives up. */
    srvproc_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.command = "/sbin/ldconfig --version";
    cfg.lock_timeout_ms = 120;
    srvproc *q = NULL;
    char err[512];
    ck_assert_int_eq(srvproc_start(&cfg, &q, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "another allocsim run holds the hard-coded socket"), "%s", err);
    int st;
    ck_assert_int_eq(srvproc_wait_exit(p, WAIT_MS, &st), 1);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    srvproc_free(p);
    /* Released: the next run gets it. */
    ck_assert_int_eq(srvproc_start(&cfg, &q, err, sizeof err), 0);
    srvproc_free(q);
}
END_TEST

int main(void) {
    Suite *s = suite_create("srvproc");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_describe_status_words);
    tcase_add_test(tc, test_exit_status_reported);
    tcase_add_test(tc, test_signal_death_reported);
    tcase_add_test(tc, test_sigterm_ignored_escalates_to_sigkill);
    tcase_add_test(tc, test_sigterm_stops_normally);
    tcase_add_test(tc, test_flood_is_drained);
    tcase_add_test(tc, test_fragments_assembled_and_streams_tagged);
    tcase_add_test(tc, test_wait_line_times_out);
    tcase_add_test(tc, test_reference_server_through_shim);
    tcase_add_test(tc, test_not_ready_times_out_with_tail);
    tcase_add_test(tc, test_attach_follows_log_from_its_end);
    tcase_add_test(tc, test_preload_possible);
    tcase_add_test(tc, test_static_binary_falls_back_to_lock);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
