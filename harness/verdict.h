/* verdict: the verdict of a run — every dump compared three ways and every reply compared.
 *
 * For each dump the harness cut out of the server's output, check compares (1) the scenario's
 * `expect` statements, (2) the ledger's exact expected report (the model), and (3) the golden
 * file kept next to the scenario; QUERY replies are compared with the ledger's. Each comparison
 * is one case in a verdict_report, which renders as a human report, TAP or JUnit XML. PIDs are
 * mapped to process names on both sides before comparing, so a simulated pid and the live
 * stand-in's pid of the same process compare equal.
 */
#ifndef ALLOCSIM_VERDICT_H
#define ALLOCSIM_VERDICT_H

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
} verdict_case;

typedef struct {
    char *suite;          /* scenario path */
    verdict_case *cases;
    size_t ncases, cap;
    char *repro;          /* one command line reproducing the run */
    char *log_excerpt;    /* server log lines around the first failure (may be NULL) */
    int error_status;     /* 0, or 2/3 when the run itself failed before checking finished */
    char *error;          /* message for error_status */
} verdict_report;

void verdict_report_init(verdict_report *r, const char *suite);
void verdict_report_release(verdict_report *r);

/* Adds a case. detail may be NULL. Returns 0, or -1 when out of memory. */
int verdict_report_add(verdict_report *r, const char *name, int ok, const char *detail);

void verdict_report_set_repro(verdict_report *r, const char *cmdline);
void verdict_report_set_log(verdict_report *r, const char *excerpt);
void verdict_report_set_error(verdict_report *r, int status, const char *message);

/* Number of failed cases. */
size_t verdict_report_failures(const verdict_report *r);

/* The exit status the report stands for: error_status if set, else 1 if a case failed, else 0. */
int verdict_report_status(const verdict_report *r);

/* Compares the server's report with the ledger's and adds a "<label>: model" case. PIDs are
 * mapped to names on each side first. Dead-process blocks are left out of this comparison:
 * whether the server's background thread or the dump itself cleaned a dead process up
 * depends on timing (the caller checks the cleanup separately). */
void verdict_dump_views(verdict_report *r, const char *label, const dumpview *expected,
                      dumpview_pid_name_fn ename, void *ectx, const dumpview *actual,
                      dumpview_pid_name_fn aname, void *actx);

/* Canonical text of a report for golden files: pids as names, dead-process block left out. */
void verdict_canonical(const dumpview *v, dumpview_pid_name_fn name, void *ctx, sbuf *out);

/* Compares a QUERY/DEVICE_INFO reply field by field and adds a case. */
void verdict_reply(verdict_report *r, const char *label, const proto_msg *expected, const proto_msg *actual);

/* Compares canonical text with the golden file at path and adds a "golden" case. With update
 * set, (re)writes the file instead and adds a passing case. A missing golden file (and no
 * update) adds a passing case noting that none exists. */
void verdict_golden(verdict_report *r, const char *path, const char *canonical, int update);

/* Renders the report. */
void verdict_print_human(const verdict_report *r, FILE *out);
void verdict_print_tap(const verdict_report *const *reports, size_t n, FILE *out);
/* Writes JUnit XML to path. Returns 0 or -1 (errno set). */
int verdict_write_junit(const verdict_report *const *reports, size_t n, const char *path);

#endif
