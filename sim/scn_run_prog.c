/* scn_run_prog: programs, traces, decode and close for the interpreter (scn_run_int.h).
 *
 * The program cache: the first run of a workload allocates its kernel-binary buffer and the
 * views of its programs (tt-memory-model.md §6); later runs send nothing; the cache clear and
 * close free the binaries. Traces: capture, padding, the pre-2026 budget, release. Close
 * frees everything the process still owns on its mesh, in allocation order.
 */
#include "scn_run_int.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"

#define PROGRAM_PAGE_SIZE 2048 /* tt-memory-model.md §6 */

int scnr_exec_program(run *r, run_proc *pr, const scn_stmt *st) {
    run_mesh *m = scnr_need_mesh(r, pr, st, "program");
    if (!m)
        return -1;
    run_prog *g = &pr->progs[st->slot];
    const char *name = pr->decl->programs[st->slot];
    if (g->live) /* program cache hit: nothing is loaded (unless the client reloads kernels) */
        return scnr_program_load(r, pr, st, g, 0);
    if (st->nbinaries == 0 && st->ncbs == 0 && st->nkernels == 0)
        return scnr_fail(r, st, "expected binary=SIZE for program %s, found a program that is not cached", name);
    if (pr->capturing >= 0)
        return scnr_fail(r, st, "expected kernel binaries of program %s to be loaded before trace capture, found trace %s "
                              "being captured (loading binaries during capture is fatal in TT-Metal)",
                       name, pr->decl->traces[pr->capturing]);
    const dev_config *cfg = scnr_mesh_cfg(m);
    uint64_t devs[NDEVWORDS];
    scnr_all_mesh_devices(m, devs);
    /* CBs must fit below the L1_SMALL region (TT-Metal checks them against the lowest L1
     * buffer at enqueue time). */
    uint64_t cb_end = cfg->l1_unreserved_base;
    for (size_t i = 0; i < st->ncbs; i++) {
        cb_end = scnr_round_up(cb_end, cfg->dram_alignment);
        cb_end = st->cbs[i] > UINT64_MAX - cb_end ? UINT64_MAX : cb_end + st->cbs[i];
    }
    uint64_t l1_top = cfg->l1_size_per_core - cfg->l1_small_size;
    if (cb_end > l1_top)
        return scnr_fail(r, st, "out of memory: CBs of program %s end at %" PRIu64 ", beyond L1 (%" PRIu64 " bytes per core)",
                         name, cb_end, l1_top);
    uint64_t smax = 0, addr = 0;
    int rc;
    if (st->nbinaries) {
        for (size_t i = 0; i < st->nbinaries; i++)
            smax = st->binaries[i] > smax ? st->binaries[i] : smax;
        uint64_t per_bank = dev_bank_footprint(cfg, DEV_REGION_DRAM, smax, PROGRAM_PAGE_SIZE, 0);
        rc = scnr_mesh_allocate(r, st, m, DEV_REGION_DRAM, smax, per_bank, 0, devs, &addr);
        if (rc < 0)
            return rc;
        /* The binary buffer, then per program a view at the same address, destroyed at once. */
        if ((rc = scnr_send_to_mesh(r, pr, st, m, devs, PROTO_ALLOC, smax, PROTO_BUF_DRAM, addr)) < 0)
            return rc;
        for (size_t i = 0; i < st->nbinaries; i++) {
            if ((rc = scnr_send_to_mesh(r, pr, st, m, devs, PROTO_ALLOC, st->binaries[i], PROTO_BUF_DRAM, addr)) < 0 ||
                (rc = scnr_send_to_mesh(r, pr, st, m, devs, PROTO_FREE, 0, 0, addr)) < 0)
                return rc;
        }
    }
    g->live = 1;
    g->has_binary = st->nbinaries > 0;
    g->addr = addr;
    g->size = smax;
    g->serial = r->serial++;
    g->decl = st;
    return scnr_program_load(r, pr, st, g, 1);
}

int free_program(run *r, run_proc *pr, const scn_stmt *st, run_prog *g) {
    uint64_t devs[NDEVWORDS];
    scnr_all_mesh_devices(pr->mesh, devs);
    g->live = 0;
    int rc = scnr_program_unload(r, pr, st, g);
    if (rc < 0 || !g->has_binary)
        return rc;
    alloc_deallocate(pr->mesh->region[DEV_REGION_DRAM], g->addr);
    return scnr_send_to_mesh(r, pr, st, pr->mesh, devs, PROTO_FREE, 0, 0, g->addr);
}

static int free_trace(run *r, run_proc *pr, const scn_stmt *st, run_trace *t) {
    uint64_t devs[NDEVWORDS];
    scnr_all_mesh_devices(pr->mesh, devs);
    alloc_deallocate(pr->mesh->region[DEV_REGION_TRACE], t->addr);
    pr->mesh->trace_used -= t->padded;
    t->live = 0;
    return scnr_send_to_mesh(r, pr, st, pr->mesh, devs, PROTO_FREE, 0, 0, t->addr);
}

typedef struct {
    uint64_t serial;
    int kind; /* 0 buffer, 1 program, 2 trace */
    int slot;
} owned;

static int cmp_owned(const void *a, const void *b) {
    const owned *x = a, *y = b;
    return x->serial < y->serial ? -1 : x->serial > y->serial;
}

int scnr_exec_cache_clear(run *r, run_proc *pr, const scn_stmt *st) {
    if (!scnr_need_mesh(r, pr, st, "clear program cache"))
        return -1;
    int n = pr->decl->nprograms;
    owned *list = mem_alloc(sizeof *list * (size_t)(n ? n : 1));
    if (!list)
        return scnr_oom(r, st);
    int k = 0;
    for (int i = 0; i < n; i++)
        if (pr->progs[i].live)
            list[k++] = (owned){pr->progs[i].serial, 1, i};
    qsort(list, (size_t)k, sizeof *list, cmp_owned);
    int rc = 0;
    for (int i = 0; i < k && rc == 0; i++)
        rc = free_program(r, pr, st, &pr->progs[list[i].slot]);
    mem_free(list);
    return rc;
}

/* Frees everything the process owns on its mesh, in allocation order, and closes it. */
int scnr_exec_close(run *r, run_proc *pr, const scn_stmt *st) {
    if (!scnr_need_mesh(r, pr, st, "close"))
        return -1;
    const scn_process *d = pr->decl;
    size_t n = (size_t)d->nbuffers + (size_t)d->nprograms + (size_t)d->ntraces;
    owned *list = mem_alloc(sizeof *list * (n ? n : 1));
    if (!list)
        return scnr_oom(r, st);
    int rc = scnr_phase(r, pr, st, "close");
    size_t k = 0;
    for (int i = 0; i < d->nbuffers; i++)
        if (pr->bufs[i].live)
            list[k++] = (owned){pr->bufs[i].serial, 0, i};
    for (int i = 0; i < d->nprograms; i++)
        if (pr->progs[i].live)
            list[k++] = (owned){pr->progs[i].serial, 1, i};
    for (int i = 0; i < d->ntraces; i++)
        if (pr->traces[i].live)
            list[k++] = (owned){pr->traces[i].serial, 2, i};
    qsort(list, k, sizeof *list, cmp_owned);
    for (size_t i = 0; i < k && rc == 0; i++) {
        if (list[i].kind == 0)
            rc = scnr_free_buffer(r, pr, st, &pr->bufs[list[i].slot]);
        else if (list[i].kind == 1)
            rc = free_program(r, pr, st, &pr->progs[list[i].slot]);
        else
            rc = free_trace(r, pr, st, &pr->traces[list[i].slot]);
    }
    mem_free(list);
    if (rc == 0)
        rc = scnr_system_kernels(r, pr, st, 0);
    if (rc == 0 && scnr_mesh_event(r, pr, pr->mesh, PLAN_CLOSE, st->line) < 0)
        rc = -2;
    pr->capturing = -1;
    scnr_mesh_free(pr->mesh);
    pr->mesh = NULL;
    return rc;
}

int scnr_exec_trace(run *r, run_proc *pr, const scn_stmt *st, uint64_t *dur) {
    const char *id = st->slot >= 0 ? pr->decl->traces[st->slot] : "";
    run_trace *t = st->slot >= 0 ? &pr->traces[st->slot] : NULL;
    run_mesh *m = scnr_need_mesh(r, pr, st, "trace");
    if (!m)
        return -1;
    switch (st->op) {
    case SCN_TRACE_BEGIN:
        if (pr->capturing >= 0)
            return scnr_fail(r, st, "expected no trace capture in progress, found trace %s being captured",
                           pr->decl->traces[pr->capturing]);
        if (t->live)
            return scnr_fail(r, st, "expected trace %s to be free, found it captured (release it first)", id);
        pr->capturing = st->slot;
        return scnr_phase(r, pr, st, "trace_begin");
    case SCN_TRACE_END: {
        if (pr->capturing != st->slot)
            return scnr_fail(r, st, "expected trace %s to be being captured, found %s%s", id,
                           pr->capturing >= 0 ? "trace " : "no capture in progress",
                           pr->capturing >= 0 ? pr->decl->traces[pr->capturing] : "");
        const dev_config *cfg = scnr_mesh_cfg(m);
        uint64_t unpadded = scnr_draw(&pr->sizes, st->size);
        uint64_t page = dev_trace_page_size(cfg, unpadded);
        uint64_t padded = dev_trace_padded_size(cfg, unpadded);
        uint64_t devs[NDEVWORDS];
        scnr_all_mesh_devices(m, devs);
        /* A failed end still ends the capture (TT-Metal aborts it), so the process can go on. */
        if (cfg->trace_region_size == 0 || !m->region[DEV_REGION_TRACE]) {
            uint64_t unused;
            pr->capturing = -1;
            return scnr_mesh_allocate(r, st, m, DEV_REGION_TRACE, padded, 0, 1, devs, &unused);
        }
        if (padded > cfg->trace_region_size - m->trace_used) {
            pr->capturing = -1;
            return scnr_fail(r, st,
                           "out of memory: TRACE budget of mesh %s: trace %s needs %" PRIu64 " bytes (padded to %" PRIu64
                           "-byte pages), %" PRIu64 " of trace_region_size %" PRIu64 " already used",
                           m->decl->name, id, padded, page, m->trace_used, (uint64_t)cfg->trace_region_size);
        }
        uint64_t per_bank = dev_bank_footprint(cfg, DEV_REGION_TRACE, padded, page, 0);
        uint64_t addr;
        int rc = scnr_mesh_allocate(r, st, m, DEV_REGION_TRACE, padded, per_bank, 1, devs, &addr);
        if (rc < 0) {
            pr->capturing = -1;
            return rc;
        }
        if ((rc = scnr_phase(r, pr, st, "trace_end")) < 0 ||
            (rc = scnr_send_to_mesh(r, pr, st, m, devs, PROTO_ALLOC, padded, PROTO_BUF_TRACE, addr)) < 0)
            return rc;
        pr->capturing = -1;
        t->live = 1;
        t->addr = addr;
        t->padded = padded;
        t->serial = r->serial++;
        m->trace_used += padded;
        return 0;
    }
    case SCN_TRACE_REPLAY: {
        if (!t->live)
            return scnr_fail(r, st, "expected a captured trace %s, found none", id);
        uint64_t step = scnr_draw(&pr->times, st->time_ns);
        if (st->count && step > UINT64_MAX / st->count)
            return scnr_fail(r, st, "expected a replay time below 2^64 ns, found %" PRIu64 " x %" PRIu64 " ns", st->count, step);
        *dur = st->count * step;
        return 0;
    }
    default: /* SCN_TRACE_RELEASE */
        if (!t->live)
            return scnr_fail(r, st, "expected a captured trace %s, found none", id);
        return free_trace(r, pr, st, t);
    }
}

int scnr_exec_decode(run *r, run_proc *pr, const scn_stmt *st, uint64_t *dur) {
    if (st->slot >= 0 && !pr->traces[st->slot].live)
        return scnr_fail(r, st, "expected a captured trace %s to replay, found none", pr->decl->traces[st->slot]);
    uint64_t step = scnr_draw(&pr->times, st->time_ns);
    if (st->count && step > UINT64_MAX / st->count)
        return scnr_fail(r, st, "expected a decode time below 2^64 ns, found %" PRIu64 " x %" PRIu64 " ns", st->count, step);
    *dur = st->count * step;
    return scnr_phase(r, pr, st, "decode");
}

