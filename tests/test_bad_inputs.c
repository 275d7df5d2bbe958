/* test_bad_inputs: the bad-input corpus of tests/bad/ through the commands that read it.
 *
 * Every FILE.expect in tests/bad/scn, tests/bad/log and tests/bad/stream describes one input,
 * FILE (which may be missing or a directory on purpose):
 *
 *     # what is wrong with the input (free text)
 *     args --max-frames 1000           extra arguments (optional)
 *     status 2                         expected exit status (optional, default 2)
 *     error ^@FILE@:4:16: expected ... expected first line of stderr, a POSIX extended regex;
 *                                      @FILE@ stands for the input's path (optional)
 *     lines 1                          lines on stderr (optional; default 1 with status 2)
 *     stdout REGEX                     some line of stdout matches (optional, repeatable)
 *
 * Scenarios run twice, as `allocsim run FILE --dry-run` and `allocsim run FILE` (which must
 * fail the same way before any server starts), logs as `allocsim import FILE` and streams as
 * `allocsim replay FILE`. A run that crashes (signal), hangs (deadline) or prints a stack of
 * messages fails the test, which is why it also runs in the ASan/UBSan build: a sanitizer
 * report adds lines and changes the exit status. Paths are given relative to the source
 * directory, as a user types them.
 */
#include <check.h>
#include <dirent.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hardening.h"

#define BAD_TIMEOUT_MS 60000

static const char *bin_dir(void) {
    const char *b = getenv("ALLOCSIM_BIN");
    return b && *b ? b : ".";
}

static const char *source_dir(void) {
    const char *s = getenv("ALLOCSIM_SOURCE_DIR");
    return s && *s ? s : ALLOCSIM_SOURCE_DIR;
}

typedef struct {
    int status;
    int lines;          /* -1: default */
    char error[1024];   /* "" when not given */
    char args[512];
    char stdout_re[8][512];
    int nstdout;
} bad_expect;

static char *trim(char *s) {
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
        s[--n] = '\0';
    while (*s == ' ')
        s++;
    return s;
}

static int read_expect(const char *path, bad_expect *e, char *why, size_t whylen) {
    memset(e, 0, sizeof *e);
    e->status = 2;
    e->lines = -1;
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(why, whylen, "cannot read %.400s", path);
        return -1;
    }
    char line[2048];
    while (fgets(line, sizeof line, f)) {
        char *l = trim(line);
        if (!*l || *l == '#')
            continue;
        if (strncmp(l, "error ", 6) == 0)
            snprintf(e->error, sizeof e->error, "%s", l + 6);
        else if (strncmp(l, "args ", 5) == 0)
            snprintf(e->args, sizeof e->args, "%s", l + 5);
        else if (strncmp(l, "status ", 7) == 0)
            e->status = atoi(l + 7);
        else if (strncmp(l, "lines ", 6) == 0)
            e->lines = atoi(l + 6);
        else if (strncmp(l, "stdout ", 7) == 0 && e->nstdout < 8)
            snprintf(e->stdout_re[e->nstdout++], sizeof e->stdout_re[0], "%s", l + 7);
        else {
            snprintf(why, whylen, "%.200s: unknown line '%.200s'", path, l);
            fclose(f);
            return -1;
        }
    }
    fclose(f);
    if (e->lines < 0)
        e->lines = e->status == 2 ? 1 : -1;
    return 0;
}

/* The regex with every @FILE@ replaced by the path, its metacharacters escaped. */
static void expand_file(const char *re, const char *path, char *out, size_t len) {
    size_t o = 0;
    for (const char *p = re; *p && o + 1 < len;) {
        if (strncmp(p, "@FILE@", 6) == 0) {
            for (const char *q = path; *q && o + 2 < len; q++) {
                if (strchr("\\.[]()*+?{}|^$", *q))
                    out[o++] = '\\';
                out[o++] = *q;
            }
            p += 6;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
}

static int matches(const char *re, const char *text) {
    regex_t rx;
    if (regcomp(&rx, re, REG_EXTENDED | REG_NOSUB) != 0)
        return -1;
    int ok = regexec(&rx, text, 0, NULL, 0) == 0;
    regfree(&rx);
    return ok;
}

/* 1 if some line of t matches re. */
static int any_line_matches(const char *re, const hardening_text *t) {
    const char *p = t->data;
    while (p && *p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        char *line = strndup(p, n);
        int ok = matches(re, line) == 1;
        free(line);
        if (ok)
            return 1;
        p += n + (nl != NULL);
    }
    return 0;
}

static void append(char **report, const char *fmt, const char *a, const char *b) {
    size_t old = *report ? strlen(*report) : 0;
    size_t add = strlen(fmt) + strlen(a) + strlen(b) + 1;
    *report = realloc(*report, old + add);
    snprintf(*report + old, add, fmt, a, b);
}

/* Runs one input and appends what went wrong (if anything) to *report. Returns 1 if ok. */
static int check_one(const char *rel, const char *const cmd[], const bad_expect *e, char **report) {
    char *argv[64];
    int argc = 0;
    char bin[4096];
    snprintf(bin, sizeof bin, "%s/allocsim", bin_dir());
    argv[argc++] = bin;
    for (int i = 0; cmd[i]; i++)
        argv[argc++] = strcmp(cmd[i], "@FILE@") == 0 ? (char *)rel : (char *)cmd[i];
    char args[512];
    snprintf(args, sizeof args, "%s", e->args);
    for (char *tok = strtok(args, " "); tok && argc < 62; tok = strtok(NULL, " "))
        argv[argc++] = tok;
    argv[argc] = NULL;
    char cmdline[2048] = "";
    for (int i = 1; i < argc; i++) {
        strncat(cmdline, " ", sizeof cmdline - strlen(cmdline) - 1);
        strncat(cmdline, argv[i], sizeof cmdline - strlen(cmdline) - 1);
    }

    hardening_result r;
    if (hardening_run(argv, source_dir(), NULL, BAD_TIMEOUT_MS, &r) != 0) {
        append(report, "allocsim%s: %s\n", cmdline, "cannot start");
        return 0;
    }
    char how[128], want[64], first[2048], detail[8192];
    hardening_describe(&r, BAD_TIMEOUT_MS, how, sizeof how);
    hardening_first_line(&r.err, first, sizeof first);
    int ok = 1;
    detail[0] = '\0';
    if (r.timed_out || WIFSIGNALED(r.wstatus) || WEXITSTATUS(r.wstatus) != e->status) {
        snprintf(want, sizeof want, "exit %d", e->status);
        snprintf(detail, sizeof detail, "%s, expected %s", how, want);
        ok = 0;
    } else if (e->error[0]) {
        char re[4096];
        expand_file(e->error, rel, re, sizeof re);
        int m = matches(re, first);
        if (m != 1) {
            snprintf(detail, sizeof detail, "first line of stderr does not match%s\n      regex: %s\n      found: %s",
                     m < 0 ? " (bad regex)" : "", re, first);
            ok = 0;
        }
    }
    if (ok && e->lines >= 0 && hardening_count_lines(&r.err) != (size_t)e->lines) {
        snprintf(detail, sizeof detail, "expected %d line(s) on stderr, found %zu:\n%.1500s", e->lines,
                 hardening_count_lines(&r.err), r.err.data);
        ok = 0;
    }
    for (int i = 0; ok && i < e->nstdout; i++) {
        char re[1024];
        expand_file(e->stdout_re[i], rel, re, sizeof re);
        if (!any_line_matches(re, &r.out)) {
            snprintf(detail, sizeof detail, "no line of stdout matches %s", re);
            ok = 0;
        }
    }
    if (!ok) {
        append(report, "allocsim%s:\n", cmdline, "");
        append(report, "    %s\n", detail, "");
        if (r.err.len && !strstr(detail, "stderr"))
            append(report, "    stderr: %.600s\n", r.err.data, "");
    }
    hardening_result_release(&r);
    return ok;
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Runs every input of tests/bad/KIND with each command in cmds (NULL-terminated lists with
 * @FILE@ for the input). Fails with the full list of what went wrong. */
static void run_corpus(const char *kind, const char *const *const cmds[], size_t min_inputs) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tests/bad/%s", source_dir(), kind);
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "cannot open %s", dir);
    char **names = NULL;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l > 7 && strcmp(de->d_name + l - 7, ".expect") == 0) {
            names = realloc(names, (n + 1) * sizeof *names);
            names[n++] = strndup(de->d_name, l - 7);
        }
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_names);
    char *report = NULL;
    size_t failed = 0, runs = 0;
    for (size_t i = 0; i < n; i++) {
        char epath[4200], rel[4200], why[512];
        snprintf(epath, sizeof epath, "%s/%s.expect", dir, names[i]);
        snprintf(rel, sizeof rel, "tests/bad/%s/%s", kind, names[i]);
        bad_expect e;
        if (read_expect(epath, &e, why, sizeof why) != 0) {
            append(&report, "%s%s\n", why, "");
            failed++;
            continue;
        }
        for (size_t c = 0; cmds[c]; c++) {
            runs++;
            failed += !check_one(rel, cmds[c], &e, &report);
        }
        free(names[i]);
    }
    free(names);
    printf("bad inputs %s: %zu inputs, %zu runs, %zu failed\n", kind, n, runs, failed);
    ck_assert_msg(n >= min_inputs, "expected at least %zu inputs in %s, found %zu", min_inputs, dir, n);
    ck_assert_msg(failed == 0, "%zu of %zu runs went wrong:\n%s", failed, runs, report ? report : "");
    free(report);
}

static const char *const scn_dry[] = {"run", "@FILE@", "--dry-run", NULL};
static const char *const scn_live[] = {"run", "@FILE@", NULL};
static const char *const log_import[] = {"import", "@FILE@", NULL};
static const char *const stream_replay[] = {"replay", "@FILE@", NULL};

START_TEST(scenarios_dry_run) {
    const char *const *const cmds[] = {scn_dry, NULL};
    run_corpus("scn", cmds, 100);
}
END_TEST

START_TEST(scenarios_live_run) {
    const char *const *const cmds[] = {scn_live, NULL};
    run_corpus("scn", cmds, 100);
}
END_TEST

START_TEST(logs_import) {
    const char *const *const cmds[] = {log_import, NULL};
    run_corpus("log", cmds, 10);
}
END_TEST

START_TEST(streams_replay) {
    const char *const *const cmds[] = {stream_replay, NULL};
    run_corpus("stream", cmds, 10);
}
END_TEST

/* The driver itself: an expectation that does not hold must be reported (a canary). */
START_TEST(driver_sees_a_wrong_expectation) {
    bad_expect e;
    memset(&e, 0, sizeof e);
    e.status = 2;
    e.lines = 1;
    snprintf(e.error, sizeof e.error, "^@FILE@:1:1: this is not what allocsim says$");
    char *report = NULL;
    ck_assert_int_eq(check_one("tests/bad/scn/empty.scn", scn_dry, &e, &report), 0);
    ck_assert_ptr_nonnull(report);
    ck_assert_ptr_nonnull(strstr(report, "does not match"));
    free(report);
    report = NULL;
    e.status = 0;
    ck_assert_int_eq(check_one("tests/bad/scn/empty.scn", scn_dry, &e, &report), 0);
    ck_assert_ptr_nonnull(strstr(report, "exit 2, expected exit 0"));
    free(report);
}
END_TEST

int main(void) {
    Suite *s = suite_create("bad_inputs");
    TCase *t = tcase_create("corpus");
    tcase_set_timeout(t, 600);
    tcase_add_test(t, driver_sees_a_wrong_expectation);
    tcase_add_test(t, scenarios_dry_run);
    tcase_add_test(t, scenarios_live_run);
    tcase_add_test(t, logs_import);
    tcase_add_test(t, streams_replay);
    suite_add_tcase(s, t);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
