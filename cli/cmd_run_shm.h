/* cmd_run_shm: `allocsim run SCENARIO --transport shm|both` and the SHM part of --dry-run.
 *
 * The SHM transport runs every simulated process as a real stand-in that writes TT-Metal's
 * per-chip SHM regions in a private directory, and checks the regions at every dump against
 * the writer model (docs/shm-transport.md). These helpers are shared with the dry run.
 */
#ifndef ALLOCSIM_CMD_RUN_SHM_H
#define ALLOCSIM_CMD_RUN_SHM_H

#include "plan.h"
#include "runner.h"
#include "sbuf.h"
#include "scn.h"

/* Appends w to b, single-quoted for a shell when it needs it (cmd_run.c). */
void cmd_shell_quote(sbuf *b, const char *w);

/* allocsim run ... --transport shm|both: exit status 0/1/2/3. */
int cmd_run_shm(int argc, char **argv);

/* --shm-layout NAME: sets the SHM layout of every mesh of s (v1-K ... v4, v4a, v4b, v4c).
 * Returns 0, or -1 with a message in err. */
int cmd_shm_override_layout(scn_script *s, const char *name, char *err, size_t errlen);

/* Appends the expected SHM regions at every dump and at the end of the run (dry run), each
 * dump followed by its `expect shm` results on the model's regions ("expect line N: ok: ..."
 * or "FAILED", like the other expectations); adds the ones that held to *held. Returns the
 * number that failed, or -1 with the message appended. */
long cmd_shm_render_expected(const scn_script *s, const plan *p, sbuf *out, size_t *held);

/* allocsim run ... (the socket transport, cli/cmd_run.c) with the runner's processes given by
 * procs: `--transport both` passes the SHM stand-ins (shmrun_runner_procs). */
int cmd_run_socket_with(int argc, char **argv, const runner_procs *procs);

#endif
