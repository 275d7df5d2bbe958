/* plan: release of a simulated scenario (see plan.h). The plan owns every string, step,
 * dump text and expectation copy; a partially built plan (an interpreter failure) is
 * released the same way, since unfilled members are NULL. */
#include "plan.h"

#include <string.h>

#include "mem.h"
#include "scn.h"

void plan_release(plan *p) {
    if (!p)
        return;
    mem_free(p->scenario_path);
    if (p->proc_names)
        for (int i = 0; i < p->nprocs; i++)
            mem_free(p->proc_names[i]);
    mem_free(p->proc_names);
    mem_free(p->sim_pid);
    for (size_t i = 0; i < p->nsteps; i++)
        if (p->steps[i].kind == PLAN_PHASE)
            mem_free((char *)p->steps[i].label);
    mem_free(p->steps);
    for (size_t i = 0; i < p->ndumps; i++) {
        plan_dump *d = &p->dumps[i];
        sbuf_release(&d->expected);
        for (size_t k = 0; k < d->nexpects; k++)
            scn_expect_release(&d->expects[k]);
        mem_free(d->expects);
        mem_free(d->golden_name);
    }
    mem_free(p->dumps);
    for (size_t i = 0; i < p->nkdumps; i++)
        sbuf_release(&p->kdumps[i].expected);
    mem_free(p->kdumps);
    for (size_t i = 0; i < p->nchecks; i++) {
        mem_free(p->checks[i].text);
        mem_free(p->checks[i].why);
        if (p->checks[i].expect) {
            scn_expect_release(p->checks[i].expect);
            mem_free(p->checks[i].expect);
        }
        mem_free(p->checks[i].qdevs);
        mem_free(p->checks[i].qsteps);
    }
    mem_free(p->checks);
    sbuf_release(&p->stderr_lines);
    memset(p, 0, sizeof *p);
}
