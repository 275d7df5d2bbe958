/* check: the verdict of a run — every dump compared three ways and every reply compared.
 *
 * For each dump the harness cut out of the server's output, check compares (1) the scenario's
 * `expect` statements, (2) the ledger's exact expected report (the model), and (3) the golden
 * file kept next to the scenario; QUERY replies are compared with the ledger's. Each comparison
 * is one case in a check_report, which renders as a human report, TAP or JUnit XML. PIDs are
 * mapped to process names on both sides before comparing, so a simulated pid and the live
 * stand-in's pid of the same process compare equal.
 */
#ifndef ALLOCSIM_CHECK_H
#define ALLOCSIM_CHECK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dumpview.h"
#include "proto.h"
#include "sbuf.h"

typedef struct {
    char *name;    /* "dump 1 (line 42): model", ... */
    int ok;
    char *detail;  /* what differed (empty when ok) */
} check_case;

typedef struct {
    char *suite;          /* scenario path */
    check_case *cases;
    size_t ncases, cap;
    char *repro;          /* one command line reproducing the run */
    char *log_excerpt;    /* server log lines around the first failure (may be NULL) */
    int error_status;     /* 0, or 2/3 when the run itself failed before checking finished */
    char *error;          /* message for error_status */
} check_report;

void check_report_init(check_report *r, const char *suite);
void check_report_release(check_report *r);

/* Adds a case. detail may be NULL. Returns 0, or -1 when out of memory. */
int check_report_add(check_report *r, const char *name, int ok, const char *detail);

void check_report_set_repro(check_report *r, const char *cmdline);
void check_report_set_log(check_report *r, const char *excerpt);
void check_report_set_error(check_report *r, int status, const char *message);

/* Number of failed cases. */
size_t check_report_failures(const check_report *r);

/* The exit status the report stands for: error_status if set, else 1 if a case failed, else 0. */
int check_report_status(const check_report *r);

/* Maps pids to names on one side of a comparison. */
typedef struct {
    const int32_t *pids;
    char *const *names;
    int n;
} check_pidmap;

const char *check_pidmap_name(void *ctx, int32_t pid); /* a dumpview_pid_name_fn over check_pidmap */

/* Compares the server's report (actual_text) with the ledger's (expected_text) and adds a
 * "<label>: model" case. Canonical actual text (pids as names) is appended to canonical when
 * non-NULL, for the golden file. Returns 0, or -1 if either text is not a parsable report (a
 * failed case is still added). */
int check_dump_model(check_report *r, const char *label, const char *expected_text,
                     const check_pidmap *expected_pids, const char *actual_text,
                     const check_pidmap *actual_pids, sbuf *canonical);

/* Compares a QUERY/DEVICE_INFO reply field by field and adds a case. */
void check_reply(check_report *r, const char *label, const proto_msg *expected, const proto_msg *actual);

/* Compares canonical text with the golden file at path and adds a "golden" case. With update
 * set, (re)writes the file instead and adds a passing case. A missing golden file (and no
 * update) adds a passing case noting that none exists. */
void check_golden(check_report *r, const char *path, const char *canonical, int update);

/* Renders the report. */
void check_print_human(const check_report *r, FILE *out);
void check_print_tap(const check_report *const *reports, size_t n, FILE *out);
/* Writes JUnit XML to path. Returns 0 or -1 (errno set). */
int check_write_junit(const check_report *const *reports, size_t n, const char *path);

#endif
