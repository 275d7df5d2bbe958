/* Integration tests of `allocsim run` against live servers: the healthy reference server in
 * every revision, the canaries (a server with a planted defect must fail the run with exit 1
 * and a message naming the difference), hermetic parallel runs through the hard-coded socket
 * path, server failures (exit 3), bad scenarios (exit 2), TAP/JUnit and golden files. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char bin[1024], src[1024];

static void setup_paths(void) {
    const char *b = getenv("ALLOCSIM_BIN"), *s = getenv("ALLOCSIM_SOURCE_DIR");
    snprintf(bin, sizeof bin, "%s", b ? b : "build/bin");
    snprintf(src, sizeof src, "%s", s ? s : ".");
}

/* Runs a shell command, returns its exit status and its combined output (malloc'd). */
static int run(const char *cmd, char **output) {
    char full[4096];
    snprintf(full, sizeof full, "%s 2>&1", cmd);
    FILE *p = popen(full, "r");
    ck_assert_ptr_nonnull(p);
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    size_t n;
    while ((n = fread(buf + len, 1, cap - len - 1, p)) > 0) {
        len += n;
        if (cap - len < 4096)
            buf = realloc(buf, cap *= 2);
    }
    buf[len] = '\0';
    int st = pclose(p);
    if (output)
        *output = buf;
    else
        free(buf);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int run_scn(const char *scn, const char *extra, char **out) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s/allocsim' run '%s/tests/data/harness/%s' --no-golden %s", bin, src, scn,
             extra ? extra : "");
    return run(cmd, out);
}

START_TEST(seed_story_passes_in_every_revision) {
    static const char *revs[] = {"v72", "v112", "v112-hex", "v144", "v144-256"};
    for (size_t i = 0; i < sizeof revs / sizeof revs[0]; i++) {
        char extra[64], *out;
        snprintf(extra, sizeof extra, "--protocol %s", revs[i]);
        int rc = run_scn("seed_min.scn", extra, &out);
        ck_assert_msg(rc == 0, "%s: exit %d\n%s", revs[i], rc, out);
        ck_assert_msg(strstr(out, "ok   dump 1 (line 10): 24 buffers remaining"), "%s", out);
        ck_assert_msg(strstr(out, "ok   dump 2 (line 13): 0 buffers remaining"), "%s", out);
        free(out);
    }
}
END_TEST

START_TEST(canary_server_that_keeps_trace_buffers_fails_the_seed_story) {
    char extra[2048], *out;
    snprintf(extra, sizeof extra, "--server \"'%s/allocsim-server' --protocol v72 --fault keep-trace\"", bin);
    int rc = run_scn("seed_min.scn", extra, &out);
    ck_assert_msg(rc == 1, "exit %d\n%s", rc, out);
    ck_assert_msg(strstr(out, "FAIL dump 2 (line 13)"), "%s", out);
    ck_assert_msg(strstr(out, "extra buffer 0x3e363c80 on device 0 (TRACE, 12210 KB, llama, ref_count=1)"), "%s", out);
    ck_assert_msg(strstr(out, "expect dump TRACE on all: none"), "%s", out);
    ck_assert_msg(strstr(out, "reproduce: "), "%s", out);
    ck_assert_msg(strstr(out, "--fault keep-trace"), "the repro line names the server: %s", out);
    free(out);
}
END_TEST

START_TEST(canary_server_with_ref_count_bug_fails) {
    char extra[2048], *out;
    /* the kernel binary's view raises the ref count; with the bug the view's FREE drops the
     * binary before the program cache is cleared */
    snprintf(extra, sizeof extra, "--protocol v144 --server \"'%s/allocsim-server' --protocol v144 --fault refcount\"",
             bin);
    int rc = run_scn("seed_min.scn", extra, &out);
    ck_assert_msg(rc == 1, "exit %d\n%s", rc, out);
    ck_assert_msg(strstr(out, "missing buffer 0x3e361480 on device"), "%s", out);
    free(out);
    /* a server speaking another revision never answers the 72-byte fence: reported as hung */
    snprintf(extra, sizeof extra, "--timeout 1s --protocol v72 --server \"'%s/allocsim-server' --protocol v144\"", bin);
    rc = run_scn("seed_min.scn", extra, &out);
    ck_assert_msg(rc == 3, "exit %d\n%s", rc, out);
    ck_assert_msg(strstr(out, "no reply within 1000 ms"), "%s", out);
    free(out);
}
END_TEST

START_TEST(crashed_process_cleanup_and_query_replies) {
    char *out;
    int rc = run_scn("crash_query.scn", "--protocol v112", &out);
    ck_assert_msg(rc == 0, "exit %d\n%s", rc, out);
    free(out);
}
END_TEST

START_TEST(two_runs_in_parallel_through_the_hard_coded_path_are_hermetic) {
    struct stat before, after;
    int existed = stat("/tmp/tt_allocation_server.sock", &before) == 0;
    pid_t kids[2];
    for (int i = 0; i < 2; i++) {
        kids[i] = fork();
        if (kids[i] == 0) {
            char cmd[4096];
            snprintf(cmd, sizeof cmd,
                     "'%s/allocsim' run '%s/tests/data/harness/seed_min.scn' --no-golden -q --protocol %s >/dev/null 2>&1",
                     bin, src, i ? "v144" : "v72");
            _exit(system(cmd) == 0 ? 0 : 1);
        }
    }
    for (int i = 0; i < 2; i++) {
        int st;
        ck_assert_int_eq(waitpid(kids[i], &st, 0), kids[i]);
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "parallel run %d failed", i);
    }
    int exists = stat("/tmp/tt_allocation_server.sock", &after) == 0;
    ck_assert_int_eq(exists, existed);
    if (existed)
        ck_assert_uint_eq(before.st_ino, after.st_ino);
}
END_TEST

START_TEST(server_failures_exit_3_with_cause) {
    char *out;
    int rc = run_scn("seed_min.scn", "--server /nonexistent/allocation_server_poc", &out);
    ck_assert_msg(rc == 3, "exit %d\n%s", rc, out);
    ck_assert_msg(strstr(out, "exited with status 127") || strstr(out, "not found") || strstr(out, "No such file"),
                  "%s", out);
    free(out);
    rc = run_scn("seed_min.scn", "--server \"sh -c 'echo boom >&2; exit 7'\"", &out);
    ck_assert_msg(rc == 3, "exit %d\n%s", rc, out);
    ck_assert_msg(strstr(out, "exited with status 7"), "%s", out);
    ck_assert_msg(strstr(out, "boom"), "the log tail is shown: %s", out);
    free(out);
}
END_TEST

START_TEST(bad_scenario_exits_2_with_location) {
    char path[] = "/tmp/allocsim-bad-XXXXXX.scn";
    int fd = mkstemps(path, 4);
    ck_assert_int_ge(fd, 0);
    const char *text = "mesh t3k\nprocess p\n  open\n  alloc x DRAM 12QiB\n";
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    char cmd[4096], *out;
    snprintf(cmd, sizeof cmd, "'%s/allocsim' run '%s'", bin, path);
    int rc = run(cmd, &out);
    ck_assert_msg(rc == 2, "exit %d\n%s", rc, out);
    char want[256];
    snprintf(want, sizeof want, "%s:4:", path);
    ck_assert_msg(strstr(out, want) && strstr(out, "expected"), "%s", out);
    free(out);
    unlink(path);
}
END_TEST

START_TEST(tap_junit_and_golden) {
    char dir[] = "/tmp/allocsim-golden-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char cmd[4096], *out;
    snprintf(cmd, sizeof cmd, "cp '%s/tests/data/harness/seed_min.scn' '%s/s.scn'", src, dir);
    ck_assert_int_eq(run(cmd, NULL), 0);
    snprintf(cmd, sizeof cmd, "'%s/allocsim' run '%s/s.scn' --update-golden -q", bin, dir);
    ck_assert_int_eq(run(cmd, NULL), 0);
    snprintf(cmd, sizeof cmd, "grep -c 'Buffer 0x3e363c80: 12210 KB (PID llama, ref_count=1)' '%s/s.golden'", dir);
    ck_assert_int_eq(run(cmd, &out), 0);
    ck_assert_str_eq(out, "8\n");
    free(out);
    snprintf(cmd, sizeof cmd, "'%s/allocsim' run '%s/s.scn' --tap --junit '%s/r.xml'", bin, dir, dir);
    ck_assert_int_eq(run(cmd, &out), 0);
    ck_assert_msg(strstr(out, "TAP version 13") && strstr(out, "ok 1 - "), "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "grep -c '<testcase ' '%s/r.xml'", dir);
    ck_assert_int_eq(run(cmd, NULL), 0);
    /* a golden file that disagrees fails the run and names the line */
    snprintf(cmd, sizeof cmd, "sed -i 's/ref_count=1/ref_count=2/' '%s/s.golden' && '%s/allocsim' run '%s/s.scn'", dir,
             bin, dir);
    int rc = run(cmd, &out);
    ck_assert_msg(rc == 1, "exit %d\n%s", rc, out);
    ck_assert_msg(strstr(out, "golden line"), "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    run(cmd, NULL);
}
END_TEST

START_TEST(check_runs_scenarios_in_parallel_with_one_summary) {
    char cmd[4096], *out;
    snprintf(cmd, sizeof cmd, "'%s/allocsim' check '%s/tests/data/harness' -j 2 --no-golden", bin, src);
    int rc = run(cmd, &out);
    ck_assert_msg(rc == 0, "exit %d\n%s", rc, out);
    ck_assert_msg(strstr(out, "\n2 passed, 0 failed\n"), "%s", out);
    /* reports come out in scenario order whatever order the runs finished in */
    char *a = strstr(out, "crash_query.scn: "), *b = strstr(out, "seed_min.scn: ");
    ck_assert_msg(a && b && a < b, "%s", out);
    free(out);
    /* one failing scenario among parallel runs makes the whole check fail */
    snprintf(cmd, sizeof cmd,
             "'%s/allocsim' check '%s/tests/data/harness' -j 2 --no-golden -q --server \"'%s/allocsim-server' "
             "--protocol v72 --fault keep-trace\"",
             bin, src, bin);
    rc = run(cmd, &out);
    ck_assert_msg(rc == 1, "exit %d\n%s", rc, out);
    ck_assert_msg(strstr(out, "\n1 passed, 1 failed\n"), "%s", out);
    free(out);
}
END_TEST

int main(void) {
    setup_paths();
    Suite *s = suite_create("harness_live");
    TCase *t = tcase_create("live");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, seed_story_passes_in_every_revision);
    tcase_add_test(t, canary_server_that_keeps_trace_buffers_fails_the_seed_story);
    tcase_add_test(t, canary_server_with_ref_count_bug_fails);
    tcase_add_test(t, crashed_process_cleanup_and_query_replies);
    tcase_add_test(t, two_runs_in_parallel_through_the_hard_coded_path_are_hermetic);
    tcase_add_test(t, server_failures_exit_3_with_cause);
    tcase_add_test(t, bad_scenario_exits_2_with_location);
    tcase_add_test(t, tap_junit_and_golden);
    tcase_add_test(t, check_runs_scenarios_in_parallel_with_one_summary);
    suite_add_tcase(s, t);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
