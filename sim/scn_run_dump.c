/* scn_run_dump: dumps and expectations for the interpreter (scn_run_int.h).
 *
 * Expected dump text: the ledger renders lines only when it has an emit callback, and the
 * fast path has none. At a dump the run's ledger gets one for the DUMP_REMAINING frame only,
 * so the report, its dead-PID cleanup and the CB and kernel lines of that cleanup are exactly
 * what the ledger (the v144 server's model) prints.
 * Expectations are copied, resolved (devices, addresses) and attached to the process's
 * latest dump.
 */
#include "scn_run_int.h"

#include <stdio.h>
#include <string.h>

#include "mem.h"

/* ---- dumps ---------------------------------------------------------------------------- */

int scnr_is_dead(void *ctx, int32_t pid) {
    const run *r = ctx;
    for (int i = 0; i < r->s->nprocs; i++)
        if (r->procs[i].pid == pid)
            return r->procs[i].state != PROC_RUNNING;
    return 0; /* a pid the scenario does not own (raw frames): alive, like an unrelated process */
}

void scnr_capture_line(void *ctx, ledger_stream stream, const char *line, size_t len) {
    scnr_capture *c = ctx;
    if (!c->on || stream != LEDGER_STDOUT)
        return;
    sbuf_append(c->out, line, len);
    sbuf_putc(c->out, '\n');
}

int scnr_exec_dump(run *r, run_proc *pr, const scn_stmt *st) {
    plan *p = r->p;
    if (p->ndumps == r->cap_dumps) {
        size_t cap = r->cap_dumps ? r->cap_dumps * 2 : 8;
        plan_dump *nd = mem_realloc(p->dumps, sizeof *nd * cap);
        if (!nd)
            return scnr_oom(r, st);
        p->dumps = nd;
        r->cap_dumps = cap;
    }
    plan_dump *d = &p->dumps[p->ndumps];
    memset(d, 0, sizeof *d);
    d->line = st->line;
    char name[64];
    snprintf(name, sizeof name, "dump %zu (line %d)", p->ndumps + 1, st->line);
    if (!(d->golden_name = mem_strdup(name)))
        return scnr_oom(r, st);
    p->ndumps++;
    proto_msg m;
    memset(&m, 0, sizeof m);
    m.type = PROTO_DUMP_REMAINING;
    m.process_id = pr->pid;
    m.timestamp = r->now;
    int rc = scnr_phase(r, pr, st, "dump");
    if (rc < 0)
        return rc;
    /* The run's own ledger renders the report while it handles the frame (and its dead-PID
     * cleanup, CB and kernel lines included); the fast path renders nothing otherwise. */
    scnr_capture cap = {&d->expected, 1};
    if (r->o->expected_text)
        ledger_set_emit(r->led, scnr_capture_line, &cap);
    rc = scnr_send_frame(r, pr, st, &m, PLAN_DUMP, (int)(p->ndumps - 1));
    if (r->o->expected_text)
        scnr_emit_default(r);
    if (rc < 0)
        return rc;
    if (sbuf_failed(&d->expected))
        return scnr_oom(r, st);
    pr->last_dump = (long)(p->ndumps - 1);
    if (r->o->timeline) /* the dead-PID cleanup may have changed any device */
        for (int dv = 0; dv < DEV_MAX_DEVICES; dv++)
            if (scnr_bit_has(r->touched, dv))
                scnr_timeline_device(r, dv);
    return 0;
}

static int devices_from_bits(const uint64_t bits[NDEVWORDS], struct scn_expect *e) {
    int n = scnr_count_bits(bits);
    e->ndevices = 0;
    e->devices = mem_alloc(sizeof *e->devices * (size_t)(n ? n : 1));
    if (!e->devices)
        return -1;
    for (int d = 0; d < DEV_MAX_DEVICES; d++)
        if (scnr_bit_has(bits, d))
            e->devices[e->ndevices++] = d;
    return 0;
}

int scnr_exec_expect(run *r, run_proc *pr, const scn_stmt *st) {
    if (pr->last_dump < 0)
        return scnr_fail(r, st, "expected a dump earlier in process %s, found none", pr->decl->name);
    struct scn_expect e;
    if (scn_expect_copy(&e, st->expect) < 0)
        return scnr_oom(r, st);
    uint64_t bits[NDEVWORDS] = {0};
    int rc = 0;
    if (e.kind == SCN_EXPECT_GROUPS) {
        if (e.devs.all) {
            const scn_mesh *decl = scnr_default_mesh(r, pr);
            if (!decl) {
                scn_expect_release(&e);
                return scnr_fail(r, st, "expected a mesh for 'all', found none (write dev N)");
            }
            for (int i = 0; i < decl->cfg.num_devices; i++)
                bits[decl->cfg.device_order[i] / 64] |= 1ull << (decl->cfg.device_order[i] % 64);
        } else {
            memcpy(bits, e.devs.bits, sizeof bits);
        }
        rc = devices_from_bits(bits, &e);
    } else if (e.kind == SCN_EXPECT_HAS || e.kind == SCN_EXPECT_LACKS) {
        const run_proc *owner = &r->procs[e.ref_proc];
        const run_buf *b = &owner->bufs[e.ref_slot];
        if (!b->ever) {
            scn_expect_release(&e);
            return scnr_fail(r, st, "expected buffer %s to have been allocated before this expectation, found it never was",
                           st->expect->buffer_name);
        }
        e.buffer_type = dev_region_buffer_type(b->region);
        e.buffer_id = b->addr;
        rc = devices_from_bits(b->devs, &e);
    }
    if (rc < 0) {
        scn_expect_release(&e);
        return scnr_oom(r, st);
    }
    plan_dump *d = &r->p->dumps[pr->last_dump];
    struct scn_expect *nv = mem_realloc(d->expects, sizeof *nv * (d->nexpects + 1));
    if (!nv) {
        scn_expect_release(&e);
        return scnr_oom(r, st);
    }
    d->expects = nv;
    nv[d->nexpects++] = e;
    return 0;
}

