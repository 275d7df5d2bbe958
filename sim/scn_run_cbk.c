/* scn_run_cbk: circular buffers, kernels and the client model for the interpreter.
 *
 * A program's first run sends, per device of the mesh (mesh order), its CBs — CB_ALLOC(size
 * = per-core CB size, id = l1_unreserved_base + running offset, each start aligned to the
 * DRAM alignment, so every program's CBs overlap from the same base as in TT-Metal) or, in
 * the v72/v112 era, an L1 ALLOC at the same address — then one KERNEL_LOAD per kernel (id =
 * a run-wide program counter, size = binary, or binary x cores with kernel_size=per_core).
 * Destroying the program (cache clear, close) sends the CB_FREEs (stored size) or FREEs and
 * the KERNEL_UNLOADs (saved size). `open` loads the system kernels per device (2 Fabric, 2
 * Dispatch; tracking-stories.md §2.2) and `close` unloads them. What a process sends is
 * decided by its client (scn.h scn_client): the revision's era by default, or the faults of
 * the tracking stories. The ledger (the v144 server's model) applies every frame, so QUERY
 * replies, the DUMP_KERNELS report and the dead-process cleanup come out of it unchanged.
 */
#include "scn_run_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "kview.h"
#include "mem.h"

/* ---- the client ----------------------------------------------------------------------- */

void scnr_client_set(run *r, run_proc *pr, const scn_client *c) {
    const int8_t *src = (const int8_t *)c;
    int8_t *dst = (int8_t *)&pr->client;
    for (size_t i = 0; i < sizeof *c; i++)
        if (src[i] >= 0)
            dst[i] = src[i];
    int v144 = r->ri->frame_size == 144;
    scn_client *k = &pr->client;
    if (k->cbs == SCN_AUTO)
        k->cbs = v144 ? SCN_CB_MSG : SCN_CB_L1;
    if (k->kernels == SCN_AUTO)
        k->kernels = v144 ? SCN_ON : SCN_OFF;
    if (k->system_kernels == SCN_AUTO)
        k->system_kernels = v144 ? SCN_ON : SCN_OFF;
    if (k->reports == SCN_AUTO)
        k->reports = SCN_ON;
    if (k->frees == SCN_AUTO)
        k->frees = SCN_DEVS_ALL;
    if (k->cb_devices == SCN_AUTO)
        k->cb_devices = SCN_DEVS_ALL;
    if (k->kernel_devices == SCN_AUTO)
        k->kernel_devices = SCN_DEVS_ALL;
    if (k->cb_free_size == SCN_AUTO)
        k->cb_free_size = SCN_SIZE_REAL;
    if (k->kernel_size == SCN_AUTO)
        k->kernel_size = SCN_SIZE_REAL;
    if (k->kernel_load == SCN_AUTO)
        k->kernel_load = SCN_LOAD_ONCE;
    pr->free_filter = k->reports == SCN_OFF || k->frees != SCN_DEVS_ALL;
    unsigned fb = scn_client_frame_bytes(k->frame_bytes);
    unsigned wire = fb && fb != r->ri->frame_size ? fb : 0;
    if (wire != pr->wire_fs && r->raw_open == pr->index) /* a new struct: a new connection */
        scnr_raw_settle(r);
    pr->wire_fs = wire;
}

static void filter_devices(int mode, const uint64_t in[NDEVWORDS], uint64_t out[NDEVWORDS]) {
    memset(out, 0, sizeof(uint64_t) * NDEVWORDS);
    if (mode == SCN_DEVS_ALL) {
        memcpy(out, in, sizeof(uint64_t) * NDEVWORDS);
    } else if (mode == SCN_DEVS_DEVICE0) {
        int d = scnr_lowest_device(in);
        if (d >= 0)
            out[d / 64] |= 1ull << (d % 64);
    }
}

/* ---- frames per device ---------------------------------------------------------------- */

#define TEMPLATE_MAX 64 /* frames of one program encoded once and copied per device */

/* Sends msgs[0..n) to every device of the mesh (mesh order) that is in devs[sel[i]] for
 * frame i: per device all its frames, then the next device. The frames of the first device
 * are encoded once; the others are copies with the device id rewritten. */
static int send_per_device(run *r, run_proc *pr, const scn_stmt *st, const run_mesh *m, proto_msg *msgs, size_t n,
                           const uint8_t *sel, const uint64_t (*devs)[NDEVWORDS]) {
    const dev_config *cfg = scnr_mesh_cfg(m);
    size_t fs = r->ri->frame_size;
    uint8_t tmpl[TEMPLATE_MAX][PROTO_MAX_FRAME];
    for (size_t i = 0; i < n; i++) {
        msgs[i].process_id = pr->pid;
        msgs[i].timestamp = r->now;
        msgs[i].device_id = 0;
        if (i < TEMPLATE_MAX)
            proto_encode(r->rev, &msgs[i], tmpl[i]);
    }
    for (int k = 0; k < cfg->num_devices; k++) {
        int d = cfg->device_order[k];
        for (size_t i = 0; i < n; i++) {
            if (!scnr_bit_has(devs[sel[i]], d))
                continue;
            if (scnr_frame_limit(r, st) < 0)
                return -2;
            msgs[i].device_id = d;
            if (pr->wire_fs) {
                int rc = scnr_raw_send(r, pr, st, &msgs[i]);
                if (rc < 0)
                    return rc;
                continue;
            }
            uint8_t *f = scnr_digest_slot(r, fs);
            if (i < TEMPLATE_MAX) {
                memcpy(f, tmpl[i], fs);
                for (int b = 0; b < 4; b++)
                    f[4 + b] = (uint8_t)((uint32_t)d >> (8 * b));
            } else {
                proto_encode(r->rev, &msgs[i], f);
            }
            int rc = scnr_apply_frame(r, pr, st, &msgs[i], PLAN_SEND, -1);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

/* ---- programs ------------------------------------------------------------------------- */

static const uint64_t *prog_kernels(const scn_stmt *d, size_t *n) {
    if (d->nkernels) {
        *n = d->nkernels;
        return d->kernels;
    }
    *n = d->nbinaries;
    return d->binaries;
}

static uint64_t kernel_msg_size(const run_proc *pr, const run_prog *g, uint64_t binary) {
    if (g->kzero)
        return 0;
    const scn_mesh *md = pr->mesh->decl;
    if (!md->kernel_per_core)
        return binary;
    uint64_t cores = g->decl->cores ? g->decl->cores : md->cfg.l1_banks;
    return cores && binary > UINT64_MAX / cores ? UINT64_MAX : binary * cores;
}

/* Builds the frames of a program (load or unload) into a heap array. */
static int program_frames(run *r, run_proc *pr, const scn_stmt *st, run_prog *g, int load, int kernels_only) {
    const scn_stmt *d = g->decl;
    const dev_config *cfg = scnr_mesh_cfg(pr->mesh);
    size_t nk;
    const uint64_t *ks = prog_kernels(d, &nk);
    size_t ncb = kernels_only || g->cb_mode == SCN_CB_NONE ? 0 : d->ncbs;
    size_t nkk = g->ksent ? nk : 0;
    size_t n = ncb + nkk;
    if (n == 0)
        return 0;
    proto_msg *msgs = mem_calloc(n, sizeof *msgs);
    uint8_t *sel = mem_alloc(n);
    if (!msgs || !sel) {
        mem_free(msgs);
        mem_free(sel);
        return scnr_oom(r, st);
    }
    uint64_t off = cfg->l1_unreserved_base;
    for (size_t i = 0; i < ncb; i++) {
        off = scnr_round_up(off, cfg->dram_alignment);
        proto_msg *m = &msgs[i];
        m->buffer_id = off;
        sel[i] = 0;
        if (g->cb_mode == SCN_CB_MSG) {
            m->type = load ? PROTO_CB_ALLOC : PROTO_CB_FREE;
            m->size = !load && pr->client.cb_free_size == SCN_SIZE_ZERO ? 0 : d->cbs[i];
        } else { /* an L1 ALLOC keyed by the CB address; FREE by address (83d21905) */
            m->type = load ? PROTO_ALLOC : PROTO_FREE;
            m->size = load ? d->cbs[i] : 0;
            m->buffer_type = load ? PROTO_BUF_L1 : 0;
        }
        off += d->cbs[i];
    }
    for (size_t j = 0; j < nkk; j++) {
        proto_msg *m = &msgs[ncb + j];
        m->type = load ? PROTO_KERNEL_LOAD : PROTO_KERNEL_UNLOAD;
        m->size = kernel_msg_size(pr, g, ks[j]);
        m->buffer_id = g->kid + j;
        m->buffer_type = load ? d->kernel_type : 0;
        sel[ncb + j] = 1;
    }
    uint64_t devs[2][NDEVWORDS];
    memcpy(devs[0], g->cbdevs, sizeof g->cbdevs);
    memcpy(devs[1], g->kdevs, sizeof g->kdevs);
    int rc = pr->client.reports == SCN_OFF
                 ? 0
                 : send_per_device(r, pr, st, pr->mesh, msgs, n, sel, (const uint64_t(*)[NDEVWORDS])devs);
    mem_free(msgs);
    mem_free(sel);
    return rc;
}

int scnr_program_load(run *r, run_proc *pr, const scn_stmt *st, run_prog *g, int first) {
    if (!first) /* a cached run: only a client that loads on every dispatch sends anything */
        return g->ksent && pr->client.kernel_load == SCN_LOAD_EVERY_RUN ? program_frames(r, pr, st, g, 1, 1) : 0;
    size_t nk;
    prog_kernels(g->decl, &nk);
    uint64_t all[NDEVWORDS];
    scnr_all_mesh_devices(pr->mesh, all);
    g->cb_mode = (uint8_t)pr->client.cbs;
    g->ksent = pr->client.kernels == SCN_ON && nk > 0;
    g->kzero = pr->client.kernel_size == SCN_SIZE_ZERO;
    g->kid = g->decl->has_kernel_id ? g->decl->kernel_id : r->next_kernel_id;
    if (!g->decl->has_kernel_id && g->ksent)
        r->next_kernel_id += nk;
    filter_devices(pr->client.cb_devices, all, g->cbdevs);
    filter_devices(pr->client.kernel_devices, all, g->kdevs);
    return program_frames(r, pr, st, g, 1, 0);
}

int scnr_program_unload(run *r, run_proc *pr, const scn_stmt *st, run_prog *g) {
    if (!g->decl)
        return 0;
    return program_frames(r, pr, st, g, 0, 0);
}

/* ---- system kernels ------------------------------------------------------------------- */

int scnr_system_kernels(run *r, run_proc *pr, const scn_stmt *st, int load) {
    const scn_mesh *md = pr->mesh->decl;
    if (load) {
        if (pr->client.system_kernels != SCN_ON)
            return 0;
        pr->sys_kid = r->next_kernel_id;
        r->next_kernel_id += 4;
        pr->sys_size[0] = SCN_KERNEL_FABRIC_BYTES * (md->kernel_per_core ? (uint64_t)md->eth_cores : 1);
        pr->sys_size[1] = SCN_KERNEL_DISPATCH_BYTES * (md->kernel_per_core ? (uint64_t)md->dispatch_cores : 1);
        scnr_all_mesh_devices(pr->mesh, pr->sysdevs);
    } else if (!pr->sys_kid) {
        return 0;
    }
    proto_msg msgs[4];
    uint8_t sel[4] = {0, 0, 0, 0};
    memset(msgs, 0, sizeof msgs);
    for (int i = 0; i < 4; i++) { /* Fabric, Fabric, Dispatch, Dispatch (tracking-stories.md S14) */
        msgs[i].type = load ? PROTO_KERNEL_LOAD : PROTO_KERNEL_UNLOAD;
        msgs[i].size = pr->sys_size[i / 2];
        msgs[i].buffer_id = pr->sys_kid + (uint64_t)i;
        msgs[i].buffer_type = load ? (uint8_t)(1 + i / 2) : 0;
    }
    uint64_t devs[1][NDEVWORDS];
    memcpy(devs[0], pr->sysdevs, sizeof pr->sysdevs);
    int rc = pr->client.reports == SCN_OFF ? 0 : send_per_device(r, pr, st, pr->mesh, msgs, 4, sel, (const uint64_t(*)[NDEVWORDS])devs);
    if (!load)
        pr->sys_kid = 0;
    return rc;
}

/* ---- queries -------------------------------------------------------------------------- */

void scnr_query_record(run *r, run_proc *pr, int32_t dev) {
    if (dev < 0 || dev >= DEV_MAX_DEVICES)
        return;
    if (!pr->qlast) { /* one allocation: the counters, then the steps (freed with qlast) */
        if (!(pr->qlast = mem_calloc(DEV_MAX_DEVICES, sizeof *pr->qlast + sizeof *pr->qstep)))
            return; /* out of memory: expect query then reports the device as never queried */
        pr->qstep = (long *)(void *)(pr->qlast + DEV_MAX_DEVICES);
    }
    pr->qlast[dev] = ledger_device_counters(r->led, dev);
    pr->qstep[dev] = r->o->keep_steps && r->p->nsteps ? (long)r->p->nsteps - 1 : -1;
    pr->qhave[dev / 64] |= 1ull << (dev % 64);
}

/* ---- kernel reports ------------------------------------------------------------------- */

int scnr_exec_dump_kernels(run *r, run_proc *pr, const scn_stmt *st) {
    plan *p = r->p;
    if (p->nkdumps == r->cap_kdumps) {
        size_t cap = r->cap_kdumps ? r->cap_kdumps * 2 : 4;
        plan_kdump *nv = mem_realloc(p->kdumps, sizeof *nv * cap);
        if (!nv)
            return scnr_oom(r, st);
        p->kdumps = nv;
        r->cap_kdumps = cap;
    }
    plan_kdump *k = &p->kdumps[p->nkdumps++];
    memset(k, 0, sizeof *k);
    k->line = st->line;
    proto_msg m;
    memset(&m, 0, sizeof m);
    m.type = PROTO_DUMP_KERNELS;
    scnr_capture cap = {&k->expected, 1};
    ledger_set_emit(r->led, scnr_capture_line, &cap);
    int rc = scnr_send_frame(r, pr, st, &m, PLAN_SEND, -1);
    scnr_emit_default(r);
    if (rc < 0)
        return rc;
    k->step = r->o->keep_steps && p->nsteps ? (long)p->nsteps - 1 : -1;
    if (sbuf_failed(&k->expected))
        return scnr_oom(r, st);
    pr->last_kdump = (long)(p->nkdumps - 1);
    return 0;
}

/* The devices an expectation covers: its selection, or every device of the default mesh. */
static int expect_devices(run *r, run_proc *pr, const struct scn_expect *e, uint64_t bits[NDEVWORDS]) {
    memset(bits, 0, sizeof(uint64_t) * NDEVWORDS);
    if (!e->devs.all) {
        memcpy(bits, e->devs.bits, sizeof e->devs.bits);
        return 0;
    }
    const scn_mesh *decl = scnr_default_mesh(r, pr);
    if (!decl)
        return -1;
    for (int i = 0; i < decl->cfg.num_devices; i++)
        bits[decl->cfg.device_order[i] / 64] |= 1ull << (decl->cfg.device_order[i] % 64);
    return 0;
}


static int eval_query(run *r, run_proc *pr, const struct scn_expect *e, const uint64_t bits[NDEVWORDS], sbuf *why) {
    static const char *names[SCN_Q_COUNT] = {"dram", "l1", "l1_small", "trace", "cb", "kernel"};
    (void)r;
    for (int d = 0; d < DEV_MAX_DEVICES; d++) {
        if (!scnr_bit_has(bits, d))
            continue;
        if (!pr->qlast || !scnr_bit_has(pr->qhave, d)) {
            sbuf_printf(why, "expected a query of device %d earlier in process %s, found none", d, pr->decl->name);
            return 0;
        }
        const ledger_counters *c = &pr->qlast[d];
        const uint64_t got[SCN_Q_COUNT] = {c->dram, c->l1, c->l1_small, c->trace, c->cb, c->kernel};
        for (int k = 0; k < SCN_Q_COUNT; k++)
            if ((e->qmask >> k) & 1u && got[k] != e->q[k]) {
                sbuf_printf(why, "device %d: expected %s_allocated %" PRIu64 ", found %" PRIu64, d, names[k], e->q[k], got[k]);
                return 0;
            }
    }
    return 1;
}

static const char *proc_of_pid(void *ctx, int32_t pid) {
    const run *r = ctx;
    for (int i = 0; i < r->s->nprocs; i++)
        if (r->procs[i].pid == pid)
            return r->procs[i].decl->name;
    return NULL;
}

int scnr_exec_expect_ext(run *r, run_proc *pr, const scn_stmt *st) {
    const struct scn_expect *e = st->expect;
    uint64_t bits[NDEVWORDS];
    if (expect_devices(r, pr, e, bits) < 0)
        return scnr_fail(r, st, "expected a mesh for 'all', found none (write dev N)");
    sbuf why = SBUF_INIT;
    int ok;
    int kdump = -1;
    if (e->kind == SCN_EXPECT_QUERY) {
        ok = eval_query(r, pr, e, bits, &why);
    } else {
        if (pr->last_kdump < 0)
            return scnr_fail(r, st, "expected a 'dump kernels' earlier in process %s, found none", pr->decl->name);
        kdump = (int)pr->last_kdump;
        const sbuf *t = &r->p->kdumps[kdump].expected;
        kview v;
        char kerr[256];
        if (kview_parse(sbuf_str(t), t->len, &v, kerr, sizeof kerr) < 0) {
            kview_release(&v);
            return scnr_fail(r, st, "internal: the model's kernel report does not parse: %s", kerr);
        }
        ok = kview_expect_eval(e, bits, &v, proc_of_pid, r, &why);
        kview_release(&v);
    }
    plan *p = r->p;
    plan_check *nv = mem_realloc(p->checks, sizeof *nv * (p->nchecks + 1));
    if (!nv) {
        sbuf_release(&why);
        return scnr_oom(r, st);
    }
    p->checks = nv;
    plan_check *c = &nv[p->nchecks];
    memset(c, 0, sizeof *c);
    c->line = st->line;
    c->ok = ok;
    c->kdump = kdump;
    memcpy(c->devs, bits, sizeof c->devs);
    c->text = mem_strdup(e->text);
    c->why = ok ? NULL : mem_strdup(sbuf_str(&why));
    sbuf_release(&why);
    int bad = !c->text || (!ok && !c->why);
    if (!bad && (c->expect = mem_calloc(1, sizeof *c->expect)) != NULL) {
        bad = scn_expect_copy(c->expect, e) != 0;
        if (bad) {
            mem_free(c->expect);
            c->expect = NULL;
        }
    } else {
        bad = 1;
    }
    if (!bad && e->kind == SCN_EXPECT_QUERY) { /* the QUERY steps a live run compares */
        for (int d = 0; d < DEV_MAX_DEVICES; d++)
            c->nq += scnr_bit_has(bits, d);
        c->qdevs = mem_calloc(c->nq ? c->nq : 1, sizeof *c->qdevs);
        c->qsteps = mem_calloc(c->nq ? c->nq : 1, sizeof *c->qsteps);
        bad = !c->qdevs || !c->qsteps;
        for (int d = 0, k = 0; !bad && d < DEV_MAX_DEVICES; d++) {
            if (!scnr_bit_has(bits, d))
                continue;
            c->qdevs[k] = d;
            c->qsteps[k++] = pr->qstep && scnr_bit_has(pr->qhave, d) ? pr->qstep[d] : -1;
        }
    }
    p->nchecks++; /* released by plan_release whatever was filled */
    return bad ? scnr_oom(r, st) : 0;
}
