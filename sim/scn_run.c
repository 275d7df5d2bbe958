/* scn_run: the scenario interpreter (see scn_run.h); its frame path and process loop.
 *
 * State per simulated process: its statement cursor (a stack of repeat frames), the mesh it
 * has open (device order, layout and one alloc_region per region type), and the last
 * allocation of every named buffer, kernel-binary program and trace, each with a serial so
 * that `close` frees in allocation order without depending on addresses. Statements are
 * atomic: every check (state, out of memory, trace budget) happens before the first frame is
 * sent, so a statement that fails sends nothing and `expect error` can continue after it (a
 * failed `trace end` also ends the capture, as TT-Metal abandons it).
 *
 * Programs, traces and close are in scn_run_prog.c, dumps and expectations in
 * scn_run_dump.c (shared state: scn_run_int.h).
 */
#include "scn_run_int.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"

/* ---- errors --------------------------------------------------------------------------- */

int scnr_fail(run *r, const scn_stmt *st, const char *fmt, ...) {
    int n = snprintf(r->msg, sizeof r->msg, "%s:%d:%d: ", r->s->path, st ? st->line : 0, st ? st->col : 0);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof r->msg)
        vsnprintf(r->msg + n, sizeof r->msg - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

/* Host out of memory is never expectable: -2 stops the run. */
int scnr_oom(run *r, const scn_stmt *st) {
    scnr_fail(r, st, "out of memory (host)");
    return -2;
}

/* ---- plan building -------------------------------------------------------------------- */

static plan_step *new_step(run *r, plan_kind kind, int proc, int line) {
    plan *p = r->p;
    if (p->nsteps == r->cap_steps) {
        size_t cap = r->cap_steps ? r->cap_steps * 2 : 256;
        plan_step *ns = mem_realloc(p->steps, sizeof *ns * cap);
        if (!ns)
            return NULL;
        p->steps = ns;
        r->cap_steps = cap;
    }
    plan_step *s = &p->steps[p->nsteps++];
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->proc = proc;
    s->vtime_ns = r->now;
    s->line = line;
    s->dump = -1;
    return s;
}

int scnr_phase(run *r, run_proc *pr, const scn_stmt *st, const char *label) {
    if (r->o->keep_steps) {
        plan_step *s = new_step(r, PLAN_PHASE, pr->index, st ? st->line : 0);
        if (!s)
            return scnr_oom(r, st);
        if (!(s->label = mem_strdup(label))) {
            r->p->nsteps--;
            return scnr_oom(r, st);
        }
    }
    if (r->o->timeline && timeline_add_phase(r->o->timeline, r->now, label) < 0)
        return scnr_oom(r, st);
    return 0;
}

int scnr_proc_event(run *r, run_proc *pr, plan_kind kind, int line) {
    if ((kind == PLAN_CRASH || kind == PLAN_EXIT) && r->raw_open == pr->index)
        scnr_raw_settle(r);
    if (r->o->keep_steps && !new_step(r, kind, pr->index, line))
        return scnr_oom(r, NULL);
    return 0;
}

/* PLAN_OPEN / PLAN_CLOSE: one step per device of m, in the mesh's order (no frame). */
int scnr_mesh_event(run *r, run_proc *pr, const run_mesh *m, plan_kind kind, int line) {
    if (!r->o->keep_steps)
        return 0;
    const dev_config *cfg = scnr_mesh_cfg(m);
    for (int i = 0; i < cfg->num_devices; i++) {
        plan_step *s = new_step(r, kind, pr->index, line);
        if (!s)
            return scnr_oom(r, NULL);
        s->msg.device_id = cfg->device_order[i];
        s->mesh = (int)(m->decl - r->s->meshes);
    }
    return 0;
}

void scnr_timeline_device(run *r, int32_t dev) {
    if (dev < 0 || dev >= TIMELINE_MAX_DEVICES)
        return;
    ledger_counters c = ledger_device_counters(r->led, dev);
    const uint64_t v[TIMELINE_NREGIONS] = {c.dram, c.l1, c.l1_small, c.trace};
    timeline_record(r->o->timeline, r->now, dev, v);
    timeline_record_cbk(r->o->timeline, r->now, dev, c.cb, c.kernel); /* v144: `#cbk` lines */
}

/* The digest input is batched: XXH3 over the concatenation of every frame does not depend
 * on how the bytes are cut, and one update per batch is much cheaper than one per frame. */
static void digest_flush(run *r) {
    if (r->batch_len) {
        XXH3_64bits_update(&r->xx, r->batch, r->batch_len);
        r->batch_len = 0;
    }
}

uint8_t *scnr_digest_slot(run *r, size_t n) {
    if (r->batch_len + n > sizeof r->batch)
        digest_flush(r);
    uint8_t *f = r->batch + r->batch_len;
    r->batch_len += n;
    return f;
}

/* After the server handled m: the buffer limit, the devices touched, the timeline. */
static inline int after_frame(run *r, const scn_stmt *st, const proto_msg *m) {
    if (m->type == PROTO_ALLOC && r->o->max_buffers && ledger_count(r->led) > r->o->max_buffers) {
        scnr_fail(r, st, "stopped at %" PRIu64 " buffers held by the server: the run's buffer limit (--max-buffers)",
                r->o->max_buffers + 1);
        return -2;
    }
    if (m->device_id >= 0 && m->device_id < DEV_MAX_DEVICES)
        r->touched[m->device_id / 64] |= 1ull << (m->device_id % 64);
    if (r->o->timeline && (m->type == PROTO_ALLOC || m->type == PROTO_FREE ||
                           (m->type >= PROTO_CB_ALLOC && m->type <= PROTO_KERNEL_UNLOAD)))
        scnr_timeline_device(r, m->device_id);
    return 0;
}

/* Applies one already-encoded frame to the ledger; records the step and the timeline.
 * kind is PLAN_SEND or PLAN_DUMP. */
static inline int apply_frame(run *r, run_proc *pr, const scn_stmt *st, const proto_msg *m, plan_kind kind,
                              int dump) {
    if (r->raw_open >= 0) /* a correctly framed frame: the harness settles the misframed one */
        scnr_raw_settle(r);
    r->p->frames++;
    proto_msg reply;
    int res = ledger_apply(r->led, m, &reply);
    if (res < 0)
        return scnr_oom(r, st);
    if (r->o->keep_steps) {
        plan_step *s = new_step(r, kind, pr->index, st ? st->line : 0);
        if (!s)
            return scnr_oom(r, st);
        s->msg = *m;
        s->dump = dump;
        if (res == LEDGER_REPLY) {
            s->has_reply = 1;
            s->reply = reply;
        }
    }
    return after_frame(r, st, m);
}

/* The hot path (scnr_send_to_mesh) inlines apply_frame; scn_run_cbk.c calls this copy. */
int scnr_apply_frame(run *r, run_proc *pr, const scn_stmt *st, const proto_msg *m, plan_kind kind, int dump) {
    return apply_frame(r, pr, st, m, kind, dump);
}

int scnr_frame_limit(run *r, const scn_stmt *st) {
    if (r->o->max_frames && r->p->frames >= r->o->max_frames) {
        scnr_fail(r, st, "stopped after %" PRIu64 " frames: the run's frame limit (--max-frames)", r->o->max_frames);
        return -2;
    }
    return 0;
}

/* ---- a client of another struct size (`client frame_bytes=`, tracking-stories.md S9) ---- */

static void stderr_line(void *ctx, ledger_stream stream, const char *line, size_t len) {
    run *r = ctx;
    if (stream != LEDGER_STDERR)
        return;
    sbuf_append(&r->p->stderr_lines, line, len);
    sbuf_putc(&r->p->stderr_lines, '\n');
}

void scnr_emit_default(run *r) {
    if (r->p->stderr_model && r->o->keep_steps)
        ledger_set_emit(r->led, stderr_line, r);
    else
        ledger_set_emit(r->led, NULL, NULL);
}

void scnr_raw_settle(run *r) { r->raw_open = -1; }

int scnr_raw_send(run *r, run_proc *pr, const scn_stmt *st, proto_msg *m) {
    uint8_t bytes[PROTO_MAX_FRAME];
    size_t n = framing_encode_client(pr->wire_fs, m, bytes);
    memcpy(scnr_digest_slot(r, n), bytes, n);
    r->p->frames++;
    if (r->o->keep_steps) {
        plan_step *s = new_step(r, PLAN_SEND, pr->index, st ? st->line : 0);
        if (!s)
            return scnr_oom(r, st);
        s->msg = *m;
        s->wire_bytes = (uint16_t)n;
    }
    if (r->raw_open != pr->index) { /* a new connection (another one's bytes were settled) */
        r->raw_open = pr->index;
        framing_init(&pr->fr, r->rev);
    }
    for (size_t i = 0; i < n; i++) {
        if (!framing_push(&pr->fr, bytes[i]))
            continue;
        proto_msg got;
        proto_decode(r->rev, pr->fr.buf, pr->fr.frame_size, &got);
        int res = ledger_apply(r->led, &got, NULL);
        if (res < 0)
            return scnr_oom(r, st);
        if (res == LEDGER_RESYNC) {
            if (framing_resync(&pr->fr) && r->p->stderr_model && r->o->keep_steps)
                stderr_line(r, LEDGER_STDERR, FRAMING_TOO_MANY_ERRORS_LINE, strlen(FRAMING_TOO_MANY_ERRORS_LINE));
            continue;
        }
        framing_handled(&pr->fr);
        int rc = after_frame(r, st, &got);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Encodes, hashes and applies one frame from process pr at the current time. */
int scnr_send_frame(run *r, run_proc *pr, const scn_stmt *st, proto_msg *m, plan_kind kind, int dump) {
    if (scnr_frame_limit(r, st) < 0)
        return -2;
    m->process_id = pr->pid;
    m->timestamp = r->now;
    if (pr->wire_fs && kind == PLAN_SEND)
        return scnr_raw_send(r, pr, st, m);
    proto_encode(r->rev, m, scnr_digest_slot(r, r->ri->frame_size));
    return scnr_apply_frame(r, pr, st, m, kind, dump);
}

/* ---- devices -------------------------------------------------------------------------- */



/* The mesh whose devices `all` means for this process: the one it opened last, else the
 * first declared. NULL when the scenario declares none. */
const scn_mesh *scnr_default_mesh(const run *r, const run_proc *pr) {
    if (pr->last_mesh >= 0)
        return &r->s->meshes[pr->last_mesh];
    return r->s->nmeshes ? &r->s->meshes[0] : NULL;
}

/* Devices of a mesh allocation: the mesh order filtered by the selection. Fails when the
 * selection names a device outside the mesh. */
static int mesh_devices(run *r, const scn_stmt *st, const run_mesh *m, const scn_devsel *sel, uint64_t out[NDEVWORDS]) {
    const dev_config *cfg = scnr_mesh_cfg(m);
    if (sel->all) {
        memcpy(out, m->devs, sizeof m->devs);
        return 0;
    }
    memset(out, 0, sizeof(uint64_t) * NDEVWORDS);
    for (int d = 0; d < DEV_MAX_DEVICES; d++) {
        if (scn_devsel_has(sel, d)) {
            if (!scnr_bit_has(m->devs, d))
                return scnr_fail(r, st, "expected a device of mesh %s (0..%d), found device %d", m->decl->name,
                               cfg->num_devices - 1, d);
            out[d / 64] |= 1ull << (d % 64);
        }
    }
    return 0;
}

/* "0-7", "0,2,5", "0-3,6" */
void scnr_format_devices(const uint64_t bits[NDEVWORDS], char *buf, size_t n) {
    size_t len = 0;
    buf[0] = '\0';
    for (int d = 0; d < DEV_MAX_DEVICES && len < n; d++) {
        if (!scnr_bit_has(bits, d))
            continue;
        int e = d;
        while (e + 1 < DEV_MAX_DEVICES && scnr_bit_has(bits, e + 1))
            e++;
        int w = e > d ? snprintf(buf + len, n - len, "%s%d-%d", len ? "," : "", d, e)
                      : snprintf(buf + len, n - len, "%s%d", len ? "," : "", d);
        if (w < 0)
            break;
        len += (size_t)w;
        d = e;
    }
}


/* device_id is bytes 4..7, little-endian, in every revision's layout (protocol.md §2.2). */
#define FRAME_DEVICE_ID_OFFSET 4

/* One message per device of `devs`, in the mesh's device order. FREE frames carry only the
 * device and the address (size and type 0), like TT-Metal's track_deallocate. The frames of
 * one mesh operation differ only in device_id: the first is encoded by proto_encode, the
 * others are copies with the device id bytes rewritten (the hot path of the simulator). */
int scnr_send_to_mesh(run *r, run_proc *pr, const scn_stmt *st, const run_mesh *m, const uint64_t devs[NDEVWORDS],
                        uint8_t type, uint64_t size, uint8_t btype, uint64_t addr) {
    const dev_config *cfg = scnr_mesh_cfg(m);
    proto_msg msg;
    memset(&msg, 0, sizeof msg);
    msg.type = type;
    msg.size = size;
    msg.buffer_type = btype;
    msg.buffer_id = addr;
    msg.process_id = pr->pid;
    msg.timestamp = r->now;
    size_t fs = r->ri->frame_size;
    uint8_t first[PROTO_MAX_FRAME];
    int encoded = 0;
    for (int i = 0; i < cfg->num_devices; i++) {
        int d = cfg->device_order[i];
        if (!scnr_bit_has(devs, d))
            continue;
        if (pr->free_filter && (type == PROTO_ALLOC || type == PROTO_FREE)) {
            if (pr->client.reports == SCN_OFF)
                continue;
            if (type == PROTO_FREE && pr->client.frees != SCN_DEVS_ALL &&
                (pr->client.frees == SCN_DEVS_NONE || d != scnr_lowest_device(devs)))
                continue;
        }
        if (scnr_frame_limit(r, st) < 0)
            return -2;
        msg.device_id = d;
        if (pr->wire_fs) {
            int rc = scnr_raw_send(r, pr, st, &msg);
            if (rc < 0)
                return rc;
            continue;
        }
        uint8_t *f = scnr_digest_slot(r, fs);
        if (!encoded) {
            proto_encode(r->rev, &msg, first);
            encoded = 1;
        }
        memcpy(f, first, fs);
        for (int k = 0; k < 4; k++)
            f[FRAME_DEVICE_ID_OFFSET + k] = (uint8_t)((uint32_t)d >> (8 * k));
        int rc = apply_frame(r, pr, st, &msg, PLAN_SEND, -1);
        if (rc < 0)
            return rc;
    }
    return 0;
}


/* ---- allocation ----------------------------------------------------------------------- */


/* Allocates per_bank bytes in a region of the mesh, or explains why it cannot. */
int scnr_mesh_allocate(run *r, const scn_stmt *st, run_mesh *m, dev_region region, uint64_t request,
                         uint64_t per_bank, int bottom_up, const uint64_t devs[NDEVWORDS], uint64_t *addr) {
    const dev_config *cfg = scnr_mesh_cfg(m);
    alloc_region *ar = m->region[region];
    char dl[256];
    if (!ar) {
        scnr_format_devices(devs, dl, sizeof dl);
        return scnr_fail(r, st, "out of memory: %s on device%s %s: request %" PRIu64 " bytes, but mesh %s has no %s region (%s = 0)",
                       dev_region_name(region), scnr_count_bits(devs) == 1 ? "" : "s", dl, request, m->decl->name,
                       dev_region_name(region), region == DEV_REGION_TRACE ? "trace_region_size" : "l1_small_size");
    }
    int rc = alloc_allocate(ar, per_bank, bottom_up, addr);
    if (rc == -2)
        return scnr_oom(r, st);
    if (rc < 0) {
        scnr_format_devices(devs, dl, sizeof dl);
        return scnr_fail(r, st,
                       "out of memory: %s on device%s %s: request %" PRIu64 " bytes (per bank %" PRIu64
                       "), largest free block %" PRIu64,
                       dev_region_name(region), scnr_count_bits(devs) == 1 ? "" : "s", dl, request,
                       scnr_round_up(per_bank, cfg->dram_alignment), alloc_largest_free(ar));
    }
    return 0;
}


run_mesh *scnr_need_mesh(run *r, run_proc *pr, const scn_stmt *st, const char *what) {
    if (!pr->mesh)
        scnr_fail(r, st, "expected an open mesh for %s, found none (open one first)", what);
    return pr->mesh;
}

/* ---- statements ----------------------------------------------------------------------- */

static int exec_open(run *r, run_proc *pr, const scn_stmt *st) {
    if (pr->mesh)
        return scnr_fail(r, st, "expected no open mesh, found mesh %s open (close it first)", pr->mesh->decl->name);
    const scn_mesh *decl = &r->s->meshes[st->slot];
    const dev_config *cfg = &decl->cfg;
    for (int i = 0; i < cfg->num_devices; i++)
        if (cfg->device_order[i] >= r->ri->max_devices)
            return scnr_fail(r, st,
                           "expected device ids below %d (protocol %s), found mesh %s with device %d (use protocol v144-256)",
                           r->ri->max_devices, r->ri->name, decl->name, cfg->device_order[i]);
    run_mesh *m = mem_calloc(1, sizeof *m);
    if (!m)
        return scnr_oom(r, st);
    m->decl = decl;
    for (int i = 0; i < cfg->num_devices; i++)
        m->devs[cfg->device_order[i] / 64] |= 1ull << (cfg->device_order[i] % 64);
    dev_layout_compute(cfg, &m->layout);
    for (int k = 0; k < DEV_REGION_COUNT; k++) {
        if (m->layout.region[k].size == 0)
            continue;
        m->region[k] = alloc_region_new(m->layout.region[k].offset, m->layout.region[k].size, cfg->dram_alignment,
                                        cfg->dram_alignment);
        if (!m->region[k]) {
            for (int j = 0; j < k; j++)
                alloc_region_free(m->region[j]);
            mem_free(m);
            return scnr_oom(r, st);
        }
    }
    pr->mesh = m;
    pr->last_mesh = st->slot;
    if (scnr_mesh_event(r, pr, m, PLAN_OPEN, st->line) < 0)
        return -2;
    int src = scnr_system_kernels(r, pr, st, 1);
    if (src < 0)
        return src;
    if (r->o->timeline) {
        const uint64_t cap[TIMELINE_NREGIONS] = {
            m->layout.region[DEV_REGION_DRAM].size * cfg->dram_banks, m->layout.region[DEV_REGION_L1].size * cfg->l1_banks,
            m->layout.region[DEV_REGION_L1_SMALL].size * cfg->l1_banks,
            m->layout.region[DEV_REGION_TRACE].size * cfg->dram_banks};
        for (int i = 0; i < cfg->num_devices; i++)
            if (timeline_set_capacity(r->o->timeline, cfg->device_order[i], cap) < 0)
                return scnr_oom(r, st);
    }
    return 0;
}

void scnr_mesh_free(run_mesh *m) {
    if (!m)
        return;
    for (int k = 0; k < DEV_REGION_COUNT; k++)
        alloc_region_free(m->region[k]);
    mem_free(m);
}

static int exec_alloc(run *r, run_proc *pr, const scn_stmt *st) {
    run_mesh *m = scnr_need_mesh(r, pr, st, "alloc");
    if (!m)
        return -1;
    run_buf *b = &pr->bufs[st->slot];
    const char *name = pr->decl->buffers[st->slot];
    if (b->live)
        return scnr_fail(r, st, "expected buffer %s to be free, found it allocated (free it first)", name);
    const dev_config *cfg = scnr_mesh_cfg(m);
    uint64_t banks = st->region == DEV_REGION_DRAM ? cfg->dram_banks : cfg->l1_banks;
    if (st->shard_cores > banks)
        return scnr_fail(r, st, "expected shard=N with N <= %" PRIu64 " (%s banks of mesh %s), found shard=%" PRIu32, banks,
                       dev_region_name(st->region), m->decl->name, st->shard_cores);
    uint64_t devs[NDEVWORDS];
    if (mesh_devices(r, st, m, &st->devs, devs) < 0)
        return -1;
    uint64_t size = scnr_draw(&pr->sizes, st->size);
    uint64_t per_bank = dev_bank_footprint(cfg, st->region, size, st->page_size, st->shard_cores);
    int bottom_up = st->dir == SCN_DIR_DEFAULT ? st->region == DEV_REGION_DRAM : st->dir == SCN_DIR_BOTTOM_UP;
    uint64_t addr;
    int rc = scnr_mesh_allocate(r, st, m, st->region, size, per_bank, bottom_up, devs, &addr);
    if (rc < 0)
        return rc;
    if ((rc = scnr_send_to_mesh(r, pr, st, m, devs, PROTO_ALLOC, size, dev_region_buffer_type(st->region), addr)) < 0)
        return rc;
    b->live = b->ever = 1;
    b->addr = addr;
    b->size = size;
    b->region = st->region;
    b->serial = r->serial++;
    memcpy(b->devs, devs, sizeof b->devs);
    return 0;
}

int scnr_free_buffer(run *r, run_proc *pr, const scn_stmt *st, run_buf *b) {
    alloc_deallocate(pr->mesh->region[b->region], b->addr);
    b->live = 0;
    return scnr_send_to_mesh(r, pr, st, pr->mesh, b->devs, PROTO_FREE, 0, 0, b->addr);
}

static int exec_free(run *r, run_proc *pr, const scn_stmt *st) {
    run_buf *b = &pr->bufs[st->slot];
    if (!b->live)
        return scnr_fail(r, st, "expected buffer %s to be allocated, found it %s", pr->decl->buffers[st->slot],
                       b->ever ? "already freed (or its mesh closed)" : "never allocated");
    return scnr_free_buffer(r, pr, st, b);
}

static int exec_query(run *r, run_proc *pr, const scn_stmt *st) {
    uint64_t devs[NDEVWORDS] = {0};
    const scn_mesh *decl = scnr_default_mesh(r, pr);
    if (st->devs.all) {
        if (!decl)
            return scnr_fail(r, st, "expected a mesh for 'query' without devices, found none (write query dev N)");
        for (int i = 0; i < decl->cfg.num_devices; i++)
            devs[decl->cfg.device_order[i] / 64] |= 1ull << (decl->cfg.device_order[i] % 64);
    } else {
        memcpy(devs, st->devs.bits, sizeof devs);
    }
    for (int d = 0; d < DEV_MAX_DEVICES; d++) {
        if (!scnr_bit_has(devs, d))
            continue;
        proto_msg m;
        memset(&m, 0, sizeof m);
        m.type = PROTO_QUERY;
        m.device_id = d;
        int rc = scnr_send_frame(r, pr, st, &m, PLAN_SEND, -1);
        if (rc < 0)
            return rc;
        scnr_query_record(r, pr, d);
    }
    return 0;
}

static int exec_send(run *r, run_proc *pr, const scn_stmt *st) {
    proto_msg m;
    memset(&m, 0, sizeof m);
    m.type = st->send_type;
    m.device_id = st->send_device;
    m.size = st->size.lo;
    m.buffer_type = st->send_buffer_type;
    m.buffer_id = st->send_buffer_id;
    return scnr_send_frame(r, pr, st, &m, PLAN_SEND, -1);
}

/* ---- the process loop ----------------------------------------------------------------- */

static int exec(run *r, run_proc *pr, const scn_stmt *st, uint64_t *dur) {
    *dur = SCN_RUN_OP_NS;
    switch (st->op) {
    case SCN_OPEN:
        return exec_open(r, pr, st);
    case SCN_CLOSE:
        return scnr_exec_close(r, pr, st);
    case SCN_ALLOC:
        return exec_alloc(r, pr, st);
    case SCN_FREE:
        return exec_free(r, pr, st);
    case SCN_PROGRAM:
        return scnr_exec_program(r, pr, st);
    case SCN_CACHE_CLEAR:
        return scnr_exec_cache_clear(r, pr, st);
    case SCN_TRACE_BEGIN:
    case SCN_TRACE_END:
    case SCN_TRACE_REPLAY:
    case SCN_TRACE_RELEASE:
        return scnr_exec_trace(r, pr, st, dur);
    case SCN_DECODE:
        return scnr_exec_decode(r, pr, st, dur);
    case SCN_WAIT:
        *dur = scnr_draw(&pr->times, st->time_ns);
        return 0;
    case SCN_QUERY:
        return exec_query(r, pr, st);
    case SCN_DUMP:
        return scnr_exec_dump(r, pr, st);
    case SCN_PHASE:
        *dur = 0;
        return scnr_phase(r, pr, st, st->text);
    case SCN_EXIT:
    case SCN_CRASH: {
        int crash = st->op == SCN_CRASH;
        int rc = scnr_phase(r, pr, st, crash ? "crash" : "exit");
        if (rc == 0)
            rc = scnr_proc_event(r, pr, crash ? PLAN_CRASH : PLAN_EXIT, st->line);
        pr->state = crash ? PROC_CRASHED : PROC_EXITED;
        return rc;
    }
    case SCN_EXPECT:
        *dur = 0;
        if (st->expect->dialect && st->expect->dialect != (r->o->dialect == LEDGER_DIALECT_ENHANCED ? SCN_DIALECT_ENHANCED : SCN_DIALECT_POC))
            return 0; /* `expect poc|enhanced ...` in the other dialect */
        if (st->expect->kind >= SCN_EXPECT_QUERY)
            return scnr_exec_expect_ext(r, pr, st);
        return scnr_exec_expect(r, pr, st);
    case SCN_SEND:
        return exec_send(r, pr, st);
    case SCN_CLIENT:
        *dur = 0;
        scnr_client_set(r, pr, &st->client);
        return 0;
    case SCN_DUMP_KERNELS:
        return scnr_exec_dump_kernels(r, pr, st);
    case SCN_REPEAT:
        break;
    }
    return scnr_fail(r, st, "expected a statement the interpreter knows, found op %d", (int)st->op);
}

static int record_caught(run *r, const scn_stmt *st) {
    if (!r->info)
        return 0;
    scn_run_caught *nv = mem_realloc(r->info->caught, sizeof *nv * (r->info->ncaught + 1));
    if (!nv)
        return -1;
    r->info->caught = nv;
    scn_run_caught *c = &nv[r->info->ncaught];
    c->line = st->line;
    c->expected = mem_strdup(st->expect_error);
    c->message = mem_strdup(r->msg);
    if (!c->expected || !c->message) {
        mem_free(c->expected);
        mem_free(c->message);
        return -1;
    }
    r->info->ncaught++;
    return 0;
}

/* Runs the process from its cursor until it waits, ends, or fails. Returns 0, or the
 * SCN_RUN_* code of a failure (message in r->msg). */
static int proc_run(run *r, run_proc *pr) {
    for (;;) {
        run_frame *f = &pr->stack[pr->depth];
        if (f->i == f->n) {
            if (pr->depth > 0) {
                if (--f->left > 0)
                    f->i = 0;
                else
                    pr->depth--;
                continue;
            }
            if (pr->state == PROC_RUNNING) { /* the end of the block: the process exits */
                pr->state = PROC_EXITED;
                if (scnr_proc_event(r, pr, PLAN_EXIT, 0) < 0)
                    return SCN_RUN_ERROR;
            }
            return SCN_RUN_OK;
        }
        const scn_stmt *st = &f->v[f->i++];
        /* Repeat lines count too: nested repeats with empty bodies would spin uncounted. */
        if (r->o->max_statements && ++r->statements > r->o->max_statements) {
            scnr_fail(r, st, "stopped after %" PRIu64 " statements: the run's statement limit (--max-statements)",
                    r->o->max_statements);
            return SCN_RUN_ERROR;
        }
        if (st->op == SCN_REPEAT) {
            if (st->count > 0 && st->nbody > 0)
                pr->stack[++pr->depth] = (run_frame){st->body, st->nbody, 0, st->count};
            continue;
        }
        uint64_t dur = 0;
        int rc = exec(r, pr, st, &dur);
        if (rc == -2)
            return SCN_RUN_ERROR;
        if (st->expect_error) {
            if (rc == 0) {
                scnr_fail(r, st, "expected an error containing '%s' (expect error, line %d), found success", st->expect_error,
                        st->expect_error_line);
                return SCN_RUN_FAILED;
            }
            if (!strstr(r->msg, st->expect_error)) {
                char got[sizeof r->msg];
                memcpy(got, r->msg, sizeof got);
                scnr_fail(r, st, "expected an error containing '%s' (expect error, line %d), found: %s", st->expect_error,
                        st->expect_error_line, got);
                return SCN_RUN_FAILED;
            }
            if (record_caught(r, st) < 0) {
                scnr_oom(r, st);
                return SCN_RUN_ERROR;
            }
            rc = 0;
            dur = SCN_RUN_OP_NS;
        }
        if (rc < 0)
            return SCN_RUN_ERROR;
        if (pr->state != PROC_RUNNING)
            return SCN_RUN_OK;
        if (dur > 0) {
            if (dur > UINT64_MAX - r->now) {
                scnr_fail(r, st, "expected virtual time below 2^64 ns, found it overflowing");
                return SCN_RUN_ERROR;
            }
            if (evq_push(&r->q, r->now + dur, pr->index, 0) < 0) {
                scnr_oom(r, st);
                return SCN_RUN_ERROR;
            }
            return SCN_RUN_OK;
        }
    }
}

/* ---- setup and teardown --------------------------------------------------------------- */

void scn_run_opts_init(scn_run_opts *o) {
    memset(o, 0, sizeof *o);
    o->keep_steps = 1;
    o->expected_text = 1;
}

void scn_run_info_release(scn_run_info *info) {
    if (!info)
        return;
    for (size_t i = 0; i < info->ncaught; i++) {
        mem_free(info->caught[i].expected);
        mem_free(info->caught[i].message);
    }
    mem_free(info->caught);
    memset(info, 0, sizeof *info);
}

const char *scn_run_pid_name(void *plan_ctx, int32_t pid) {
    const plan *p = plan_ctx;
    for (int i = 0; i < p->nprocs; i++)
        if (p->sim_pid[i] == pid)
            return p->proc_names[i];
    return NULL;
}

static void procs_release(run *r) {
    if (!r->procs)
        return;
    for (int i = 0; i < r->s->nprocs; i++) {
        scnr_mesh_free(r->procs[i].mesh);
        mem_free(r->procs[i].bufs);
        mem_free(r->procs[i].progs);
        mem_free(r->procs[i].traces);
        mem_free(r->procs[i].qlast);
    }
    mem_free(r->procs);
    r->procs = NULL;
}

static size_t nz(int n) { return n > 0 ? (size_t)n : 1; }

static int setup(run *r, uint64_t seed) {
    const scn_script *s = r->s;
    plan *p = r->p;
    p->rev = r->rev;
    p->seed = seed;
    p->nprocs = s->nprocs;
    p->stderr_model = scn_script_sets_frame_bytes(s);
    if (!(p->scenario_path = mem_strdup(s->path)) || !(p->proc_names = mem_calloc(nz(s->nprocs), sizeof *p->proc_names)) ||
        !(p->sim_pid = mem_calloc(nz(s->nprocs), sizeof *p->sim_pid)) ||
        !(r->procs = mem_calloc(nz(s->nprocs), sizeof *r->procs)))
        return -1;
    /* Simulated pids: distinct, drawn from the seed, in the range of real Linux pids. */
    rng pids;
    rng_init(&pids, seed, rng_stream_id("pids"));
    for (int i = 0; i < s->nprocs; i++) {
        run_proc *pr = &r->procs[i];
        const scn_process *d = &s->procs[i];
        pr->decl = d;
        pr->index = i;
        pr->capturing = -1;
        pr->last_dump = -1;
        pr->last_kdump = -1;
        pr->last_mesh = -1;
        scnr_client_set(r, pr, &s->client);
        pr->stack[0] = (run_frame){d->stmts, d->nstmts, 0, 1};
        rng_init(&pr->sizes, seed, rng_stream_id("sizes") + (uint64_t)i);
        rng_init(&pr->times, seed, rng_stream_id("times") + (uint64_t)i);
        int32_t pid;
        int again;
        do {
            pid = (int32_t)rng_between(&pids, 1000, 4194303);
            again = 0;
            for (int k = 0; k < i; k++)
                again |= p->sim_pid[k] == pid;
        } while (again);
        pr->pid = p->sim_pid[i] = pid;
        if (!(p->proc_names[i] = mem_strdup(d->name)) || !(pr->bufs = mem_calloc(nz(d->nbuffers), sizeof *pr->bufs)) ||
            !(pr->progs = mem_calloc(nz(d->nprograms), sizeof *pr->progs)) ||
            !(pr->traces = mem_calloc(nz(d->ntraces), sizeof *pr->traces)))
            return -1;
    }
    ledger_config cfg = {.rev = r->rev, .is_dead = scnr_is_dead, .dead_ctx = r, .dialect = r->o->dialect};
    if (!(r->led = ledger_new(&cfg)))
        return -1;
    scnr_emit_default(r);
    return 0;
}

int scn_run(const scn_script *s, const scn_run_opts *o, plan *out, scn_run_info *info, char *err, size_t errlen) {
    scn_run_opts defaults;
    if (!o) {
        scn_run_opts_init(&defaults);
        o = &defaults;
    }
    run r;
    memset(&r, 0, sizeof r);
    r.s = s;
    r.o = o;
    r.rev = o->has_rev ? o->rev : s->has_rev ? s->rev : PROTO_V72;
    r.ri = proto_rev_get(r.rev);
    r.p = out;
    r.info = info;
    r.next_kernel_id = 1;
    r.raw_open = -1;
    memset(out, 0, sizeof *out);
    if (info)
        memset(info, 0, sizeof *info);
    uint64_t seed = o->has_seed ? o->seed : s->seed;
    evq_init(&r.q);
    XXH3_64bits_reset(&r.xx);
    int rc = SCN_RUN_OK;
    if (setup(&r, seed) < 0) {
        scnr_oom(&r, NULL);
        rc = SCN_RUN_ERROR;
    }
    if (o->timeline && rc == SCN_RUN_OK) {
        char title[512];
        snprintf(title, sizeof title, "%s, seed %" PRIu64 ", protocol %s", s->path, seed, r.ri->name);
        if (timeline_set_title(o->timeline, title) < 0) {
            scnr_oom(&r, NULL);
            rc = SCN_RUN_ERROR;
        }
    }
    for (int i = 0; i < s->nprocs && rc == SCN_RUN_OK; i++) {
        if (scnr_proc_event(&r, &r.procs[i], PLAN_SPAWN, s->procs[i].line) < 0 || evq_push(&r.q, 0, i, 0) < 0) {
            scnr_oom(&r, NULL);
            rc = SCN_RUN_ERROR;
        }
    }
    evq_event ev;
    while (rc == SCN_RUN_OK && evq_pop(&r.q, &ev)) {
        r.now = ev.vtime_ns;
        ledger_set_time(r.led, r.now);
        rc = proc_run(&r, &r.procs[ev.proc]);
    }
    digest_flush(&r);
    out->digest = XXH3_64bits_digest(&r.xx);
    if (info)
        info->end_vtime_ns = r.now;
    evq_release(&r.q);
    ledger_free(r.led);
    procs_release(&r);
    if (rc != SCN_RUN_OK) {
        if (errlen)
            snprintf(err, errlen, "%s", r.msg);
        plan_release(out);
        scn_run_info_release(info);
    }
    return rc;
}
