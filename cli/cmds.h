/* cmds: the allocsim subcommands. Each lives in its own cli/cmd_*.c file and is called by
 * cli/main_allocsim.c with argv[0] = the subcommand name. Each returns the process exit
 * status: 0 success, 1 an expectation or check failed, 2 bad usage or bad input, 3 the server
 * crashed, hung or could not be reached. Append new commands here.
 */
#ifndef ALLOCSIM_CMDS_H
#define ALLOCSIM_CMDS_H

int cmd_run(int argc, char **argv);     /* allocsim run SCENARIO [...] (live, or --dry-run) */
int cmd_run_dry(int argc, char **argv); /* the --dry-run path of run */
int cmd_check(int argc, char **argv);   /* allocsim check [PATH...] */
int cmd_replay(int argc, char **argv);  /* allocsim replay FILE.allocstream [...] */
int cmd_fuzz(int argc, char **argv);    /* allocsim fuzz [...] */
int cmd_fuzz_merge(int argc, char **argv); /* allocsim fuzz merge [--out DIR] DIR... */
int cmd_import(int argc, char **argv);  /* allocsim import LOG [...] */
int cmd_plot(int argc, char **argv);    /* allocsim plot TIMELINE.tsv -o FILE */
int cmd_shm(int argc, char **argv);     /* allocsim shm show|check|clean|record [...] */
int cmd_fuzz_shm(int argc, char **argv); /* allocsim fuzz --target shm [...] (cmd_shm_fuzz.c) */

#endif
