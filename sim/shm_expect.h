/* shm_expect: evaluates `expect shm ...` statements on the SHM regions at a check point.
 *
 * An `expect shm` expectation (sim/scn.h, SCN_EXPECT_SHM; syntax in docs/scenarios.md) is
 * attached to the plan dump before it, like the other dump expectations, and says what a
 * user asserts about TT-Metal's per-chip regions at that moment: a region's total of one
 * counter, a process slot's counters (the slot whose pid is the named process's), the
 * number of active processes, the reference count, the version field, the v4 init state,
 * whether the file exists, or that every byte the model determines matches. The SHM
 * transport evaluates it on the live regions (pids mapped back to simulated ones), a dry
 * run on the model's regions (shm_plan); the socket transport ignores it.
 *
 * Pure computation: failures are one line naming the region, the field, the expected and
 * the found value, e.g. "region tt_device_7_memory (device 3): totals.trace: expected
 * 0, found 12503040".
 */
#ifndef ALLOCSIM_SHM_EXPECT_H
#define ALLOCSIM_SHM_EXPECT_H

#include "plan.h"
#include "sbuf.h"
#include "scn.h"
#include "shm_plan.h"

/* Evaluates e (kind SCN_EXPECT_SHM) for plan p with SHM plan sp: want is the model's
 * regions at the check point, got the regions found there, with process-slot pids already
 * simulated pids (shmp_map_pids); a dry run passes want for both. Returns 1 if it holds,
 * 0 with the reason appended to why. */
int shmx_eval(const struct scn_expect *e, const plan *p, const shm_plan *sp, const shmp_image *want,
              const shmp_image *got, sbuf *why);

#endif
