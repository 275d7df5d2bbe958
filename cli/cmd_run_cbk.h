/* cmd_run_cbk: the CB/kernel checks of a live run (allocsim run / check, socket transport). */
#ifndef ALLOCSIM_CMD_RUN_CBK_H
#define ALLOCSIM_CMD_RUN_CBK_H

#include "plan.h"
#include "runner.h"
#include "srvproc.h"
#include "verdict.h"

/* After the plan ran (res OK): cuts every DUMP_KERNELS report out of the server's log and
 * compares it with the model's (every field but ages), evaluates each `expect kernels` on the
 * server's report and each `expect query` on the server's QUERY replies. Adds one case per
 * report and per expectation to rep. */
void cmd_run_check_cbk(verdict_report *rep, const plan *p, srvproc *srv, runner_result *res, int timeout_ms);

/* When the scenario sets `client frame_bytes=` (plan.stderr_model): the server's stderr
 * lines during the run equal the model's (plan.stderr_lines) as a multiset, pids compared as
 * process names. One case in rep. */
void cmd_run_check_stderr(verdict_report *rep, const plan *p, srvproc *srv, const runner_result *res);

#endif
