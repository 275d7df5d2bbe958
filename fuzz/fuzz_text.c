/* fuzz_text: following the server's framing through a recorded stream — where the recorded
 * pids sit (for the executor to patch them), which records make the server print a report, how
 * many frames a stream holds, copying streams, and the readable rendering of reproducers.
 *
 * One walker (walk_stream) replays each connection's framing byte by byte, the v144 resync
 * included, so that pid rewriting and rendering agree with what the server will see.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "framing.h"
#include "fuzz.h"
#include "fuzz_int.h"
#include "mem.h"
#include "rng.h"

/* ---- pid sites ------------------------------------------------------------------------------ */

#define FUZZ_SYNTH ((size_t)-1) /* a byte the executor makes up (fence, empty DUMP) */

/* The server's framing of one connection, byte by byte, remembering where each byte of the
 * current frame came from: the shared core of pid rewriting and rendering. */
typedef struct {
    int open;
    framing fr; /* the server's framing (sim/framing.h); fr.closed: by the server */
    size_t off[PROTO_MAX_FRAME];
} walk_conn;

typedef struct {
    /* A frame the server handles: its bytes and where each came from. */
    void (*frame)(void *ctx, const uint8_t *val, const size_t *off);
    /* v144: one byte dropped by the resync; closed is set when it was the tenth in a row. */
    void (*drop)(void *ctx, uint8_t byte, int closed);
    void *ctx;
} walk_fns;

static void walk_reset(walk_conn *c, proto_rev rev) {
    memset(c, 0, sizeof *c);
    c->open = 1;
    framing_init(&c->fr, rev);
}

static void walk_byte(const stream *s, walk_conn *c, uint8_t b, size_t off, const walk_fns *fn) {
    if (!c->open || c->fr.closed)
        return;
    c->off[c->fr.have] = off;
    if (!framing_push(&c->fr, b))
        return;
    if (!framing_type_ok(&c->fr)) {
        uint8_t dropped = c->fr.buf[0];
        int closed = framing_resync(&c->fr);
        if (!closed)
            memmove(c->off, c->off + 1, (s->frame_size - 1) * sizeof *c->off);
        if (fn->drop)
            fn->drop(fn->ctx, dropped, closed);
        return;
    }
    framing_handled(&c->fr);
    if (fn->frame)
        fn->frame(fn->ctx, c->fr.buf, c->off);
}

/* Feeds the bytes record r puts on its connection (payload, or a synthesised DUMP frame). */
static void walk_record(const stream *s, const stream_record *r, walk_conn *c, const walk_fns *fn) {
    const uint8_t *p = rec_bytes(s, r);
    int verbatim = (r->flags & STREAM_FLAG_VERBATIM) != 0;
    if (r->op == STREAM_OP_WRITE || (r->op == STREAM_OP_DUMP && r->len > 0)) {
        for (uint32_t k = 0; k < r->len; k++)
            walk_byte(s, c, p[k], verbatim ? FUZZ_SYNTH : r->offset + k, fn);
    } else if (r->op == STREAM_OP_DUMP) {
        uint8_t synth[PROTO_MAX_FRAME];
        memset(synth, 0, sizeof synth);
        synth[0] = PROTO_DUMP_REMAINING;
        for (size_t k = 0; k < s->frame_size; k++)
            walk_byte(s, c, synth[k], FUZZ_SYNTH, fn);
    }
}

/* Applies the connection bookkeeping of record r (connect, close, implicit open) to c. */
static void walk_conn_op(const stream *s, const stream_record *r, walk_conn *c) {
    if (r->op == STREAM_OP_CONNECT ||
        (!c->open && (r->op == STREAM_OP_WRITE || r->op == STREAM_OP_DUMP)))
        walk_reset(c, s->rev);
    else if (r->op == STREAM_OP_CLOSE)
        c->open = 0;
}

static int record_is_conn_op(const stream_record *r) {
    return r->op != STREAM_OP_SPAWN && r->op != STREAM_OP_CRASH && r->op != STREAM_OP_EXIT &&
           r->op != STREAM_OP_SLEEP;
}

/* Connections a stream uses (highest id + 1). */
static size_t stream_conn_count(const stream *s) {
    size_t n = 0;
    for (size_t i = 0; i < s->nrecords; i++)
        if (record_is_conn_op(&s->records[i]) && (size_t)s->records[i].id + 1 > n)
            n = (size_t)s->records[i].id + 1;
    return n;
}

/* Walks every connection record of s through the server's framing, calling fn's callbacks
 * frame by frame; *record is kept at the index of the record being walked. Stops early when
 * *stop becomes non-zero. Returns 0, or -1 when out of memory. */
static int walk_stream(const stream *s, walk_fns *fn, size_t *record, const int *stop) {
    size_t nconns = stream_conn_count(s);
    walk_conn *conns = nconns ? mem_calloc(nconns, sizeof *conns) : NULL;
    if (nconns && !conns)
        return -1;
    for (size_t i = 0; i < s->nrecords && !*stop; i++) {
        const stream_record *r = &s->records[i];
        if (!record_is_conn_op(r))
            continue;
        *record = i;
        walk_conn_op(s, r, &conns[r->id]);
        /* FENCE: a whole valid frame at a boundary (the executor skips it elsewhere), which
         * leaves the framing as it was. */
        walk_record(s, r, &conns[r->id], fn);
    }
    mem_free(conns);
    return 0;
}

typedef struct {
    fuzz_pid_site *v;
    size_t n, cap;
    int oom;
    const stream *s;
} site_list;

static void sites_push(site_list *l, uint32_t proc, size_t offset, uint8_t byte) {
    if (l->n == l->cap) {
        size_t n = l->cap ? l->cap * 2 : 16;
        fuzz_pid_site *v = mem_realloc(l->v, n * sizeof *v);
        if (!v) {
            l->oom = 1;
            return;
        }
        l->v = v;
        l->cap = n;
    }
    l->v[l->n].proc = proc;
    l->v[l->n].offset = offset;
    l->v[l->n].byte = byte;
    l->n++;
}

static void sites_frame(void *ctx, const uint8_t *val, const size_t *off) {
    site_list *l = ctx;
    int32_t pid = (int32_t)proto_le_get32(val + FUZZ_PID_OFFSET);
    for (uint32_t p = 0; p < l->s->nprocs; p++) {
        if (l->s->procs[p].recorded_pid != pid)
            continue;
        for (uint8_t q = 0; q < 4; q++)
            if (off[FUZZ_PID_OFFSET + q] != FUZZ_SYNTH)
                sites_push(l, p, off[FUZZ_PID_OFFSET + q], q);
        return; /* the first process with a pid keeps it */
    }
}

int fuzz_pid_sites(const stream *s, fuzz_pid_site **out, size_t *n) {
    *out = NULL;
    *n = 0;
    site_list l = {NULL, 0, 0, 0, s};
    walk_fns fn = {sites_frame, NULL, &l};
    size_t record;
    if (walk_stream(s, &fn, &record, &l.oom) != 0 || l.oom) {
        mem_free(l.v);
        return -1;
    }
    *out = l.v;
    *n = l.n;
    return 0;
}

typedef struct {
    size_t *v;
    size_t n, cap;
    size_t record;
    int oom;
} dump_list;

static void dumps_frame(void *ctx, const uint8_t *val, const size_t *off) {
    dump_list *d = ctx;
    (void)off;
    if (val[0] != PROTO_DUMP_REMAINING || (d->n && d->v[d->n - 1] == d->record))
        return;
    if (d->n == d->cap) {
        size_t n = d->cap ? d->cap * 2 : 8;
        size_t *v = mem_realloc(d->v, n * sizeof *v);
        if (!v) {
            d->oom = 1;
            return;
        }
        d->v = v;
        d->cap = n;
    }
    d->v[d->n++] = d->record;
}

int fuzz_dump_records(const stream *s, size_t **out, size_t *n) {
    *out = NULL;
    *n = 0;
    dump_list d = {NULL, 0, 0, 0, 0};
    walk_fns fn = {dumps_frame, NULL, &d};
    if (walk_stream(s, &fn, &d.record, &d.oom) != 0 || d.oom) {
        mem_free(d.v);
        return -1;
    }
    *out = d.v;
    *n = d.n;
    return 0;
}

void fuzz_pid_patch(uint8_t *payload, const fuzz_pid_site *sites, size_t n, uint32_t proc,
                    int32_t pid) {
    for (size_t i = 0; i < n; i++)
        if (sites[i].proc == proc)
            payload[sites[i].offset] = (uint8_t)((uint32_t)pid >> (8 * sites[i].byte));
}

/* ---- stream helpers -------------------------------------------------------------------------- */

int fuzz_stream_copy(const stream *in, stream *out) {
    stream_init(out, in->rev);
    for (uint32_t i = 0; i < in->nprocs; i++)
        if (stream_add_proc(out, in->procs[i].recorded_pid, in->procs[i].name) < 0)
            goto fail;
    for (size_t i = 0; i < in->nrecords; i++) {
        const stream_record *r = &in->records[i];
        if (stream_append(out, r->op, r->flags, r->id, rec_bytes(in, r), r->len) != 0)
            goto fail;
    }
    return 0;
fail:
    stream_release(out);
    return -1;
}

/* Per-connection byte positions, for frame alignment in counting and rendering. */
typedef struct {
    uint64_t pos[FUZZ_MAX_CONNS];
} conn_positions;

static uint64_t *conn_pos(conn_positions *p, uint16_t id) {
    return &p->pos[id % FUZZ_MAX_CONNS];
}

size_t fuzz_stream_frames(const stream *s) {
    conn_positions cp;
    memset(&cp, 0, sizeof cp);
    size_t frames = 0;
    for (size_t i = 0; i < s->nrecords; i++) {
        const stream_record *r = &s->records[i];
        uint64_t *pos = conn_pos(&cp, r->id);
        if (r->op == STREAM_OP_CONNECT) {
            *pos = 0;
        } else if (r->op == STREAM_OP_DUMP) {
            frames++;
        } else if (r->op == STREAM_OP_WRITE) {
            for (uint32_t k = 0; k < r->len; k++)
                if ((*pos + k) % s->frame_size == 0)
                    frames++;
            *pos += r->len;
        }
    }
    return frames;
}

/* ---- rendering ------------------------------------------------------------------------------- */

static void render_pid(const stream *s, int32_t pid, sbuf *out) {
    for (uint32_t i = 0; i < s->nprocs; i++)
        if (s->procs[i].recorded_pid == pid) {
            sbuf_printf(out, "#%" PRIu32, i);
            return;
        }
    sbuf_printf(out, "%" PRId32, pid);
}

static void render_frame(const stream *s, const uint8_t *f, sbuf *out) {
    proto_msg m;
    proto_decode(s->rev, f, s->frame_size, &m);
    const char *name = proto_type_name(m.type);
    int handled = proto_type_handled(s->rev, m.type);
    if (!name || !handled)
        sbuf_printf(out, "type=%u%s%s%s", m.type, name ? "(" : "", name ? name : "", name ? ")" : "");
    else
        sbuf_puts(out, name);
    switch (m.type) {
    case PROTO_ALLOC:
        sbuf_printf(out, " dev=%" PRId32 " size=%" PRIu64 " type=%s pid=", m.device_id, m.size,
                    m.buffer_type < PROTO_BUF_TYPE_COUNT ? proto_buffer_type_name(m.buffer_type) : "?");
        if (m.buffer_type >= PROTO_BUF_TYPE_COUNT)
            sbuf_printf(out, "(%u) pid=", m.buffer_type);
        render_pid(s, m.process_id, out);
        sbuf_printf(out, " id=0x%" PRIx64, m.buffer_id);
        break;
    case PROTO_FREE:
    case PROTO_CB_ALLOC:
    case PROTO_CB_FREE:
    case PROTO_KERNEL_UNLOAD:
        sbuf_printf(out, " dev=%" PRId32 " id=0x%" PRIx64 " size=%" PRIu64 " pid=", m.device_id,
                    m.buffer_id, m.size);
        render_pid(s, m.process_id, out);
        break;
    case PROTO_KERNEL_LOAD:
        sbuf_printf(out, " dev=%" PRId32 " id=0x%" PRIx64 " size=%" PRIu64 " kernel=%s pid=",
                    m.device_id, m.buffer_id, m.size, proto_kernel_type_name(m.buffer_type));
        render_pid(s, m.process_id, out);
        break;
    case PROTO_QUERY:
    case PROTO_DEVICE_INFO_QUERY:
        sbuf_printf(out, " dev=%" PRId32, m.device_id);
        break;
    case PROTO_DUMP_REMAINING:
    case PROTO_DUMP_KERNELS:
        break;
    default:
        sbuf_printf(out, " dev=%" PRId32 " size=%" PRIu64 " btype=%u pid=", m.device_id, m.size,
                    m.buffer_type);
        render_pid(s, m.process_id, out);
        sbuf_printf(out, " id=0x%" PRIx64, m.buffer_id);
        break;
    }
    int extra = m.timestamp != 0 || m.pad1[0] || m.pad1[1] || m.pad1[2] || m.pad2[0] || m.pad2[1] ||
                m.pad2[2];
    for (size_t i = 40; i < s->frame_size; i++)
        if (f[i])
            extra = 1;
    if (extra)
        sbuf_puts(out, " (+other fields set)");
}

static void render_hex(const uint8_t *p, size_t len, sbuf *out) {
    size_t show = len < 16 ? len : 16;
    for (size_t i = 0; i < show; i++)
        sbuf_printf(out, "%s%02x", i ? " " : "", p[i]);
    if (show < len)
        sbuf_puts(out, " ...");
}

typedef struct {
    const stream *s;
    sbuf *out;
    size_t record_start; /* payload offset of the record being rendered */
    int items;
    size_t dropped;
    uint8_t drop_sample[8];
    int closed;
} render_ctx;

static void render_sep(render_ctx *rc) {
    sbuf_puts(rc->out, rc->items++ ? " | " : " ");
}

static void render_flush_drops(render_ctx *rc) {
    if (!rc->dropped)
        return;
    render_sep(rc);
    sbuf_printf(rc->out, "resync drops %zu byte%s (", rc->dropped, rc->dropped == 1 ? "" : "s");
    render_hex(rc->drop_sample, rc->dropped < sizeof rc->drop_sample ? rc->dropped : sizeof rc->drop_sample, rc->out);
    if (rc->dropped > sizeof rc->drop_sample)
        sbuf_puts(rc->out, " ...");
    sbuf_puts(rc->out, ")");
    rc->dropped = 0;
}

static void render_on_frame(void *ctx, const uint8_t *val, const size_t *off) {
    render_ctx *rc = ctx;
    render_flush_drops(rc);
    render_sep(rc);
    if (off[0] != FUZZ_SYNTH && off[0] < rc->record_start)
        sbuf_puts(rc->out, "(completes an earlier partial) ");
    render_frame(rc->s, val, rc->out);
}

static void render_on_drop(void *ctx, uint8_t byte, int closed) {
    render_ctx *rc = ctx;
    if (rc->dropped < sizeof rc->drop_sample)
        rc->drop_sample[rc->dropped] = byte;
    rc->dropped++;
    if (closed) {
        render_flush_drops(rc);
        render_sep(rc);
        sbuf_puts(rc->out, "the server gives up: 10 bad type bytes in a row close the connection");
    }
}

void fuzz_stream_render(const stream *s, sbuf *out) {
    sbuf_printf(out, "# allocstream: revision %s, frame %zu bytes, %" PRIu32 " processes, %zu records, %zu frames\n",
                proto_rev_get(s->rev)->name, s->frame_size, s->nprocs, s->nrecords, fuzz_stream_frames(s));
    for (uint32_t i = 0; i < s->nprocs; i++)
        sbuf_printf(out, "process #%" PRIu32 " %s recorded pid %" PRId32 "\n", i, s->procs[i].name,
                    s->procs[i].recorded_pid);
    size_t nconns = stream_conn_count(s);
    walk_conn *conns = nconns ? mem_calloc(nconns, sizeof *conns) : NULL;
    render_ctx rc;
    memset(&rc, 0, sizeof rc);
    rc.s = s;
    rc.out = out;
    walk_fns fn = {render_on_frame, render_on_drop, &rc};
    for (size_t i = 0; i < s->nrecords; i++) {
        const stream_record *r = &s->records[i];
        const uint8_t *p = rec_bytes(s, r);
        const char *op = stream_op_name(r->op);
        sbuf_printf(out, "%4zu %s", i, op ? op : "?");
        switch (r->op) {
        case STREAM_OP_SPAWN:
        case STREAM_OP_CRASH:
        case STREAM_OP_EXIT:
            sbuf_printf(out, " #%u", r->id);
            break;
        case STREAM_OP_CONNECT:
            sbuf_printf(out, " conn %u for #%u", r->id, r->len == 2 ? (unsigned)(p[0] | p[1] << 8) : 0);
            break;
        case STREAM_OP_SLEEP:
            sbuf_printf(out, " %" PRIu32 " ms", r->len == 4 ? proto_le_get32(p) : 0);
            break;
        case STREAM_OP_CLOSE:
            sbuf_printf(out, " conn %u%s", r->id, (r->flags & FUZZ_FLAG_ABORT) ? " abruptly" : "");
            break;
        case STREAM_OP_WRITE:
        case STREAM_OP_DUMP:
            sbuf_printf(out, " conn %u", r->id);
            if (r->op == STREAM_OP_WRITE || r->len)
                sbuf_printf(out, " %" PRIu32 " bytes%s:", r->len,
                            (r->flags & STREAM_FLAG_VERBATIM) ? " verbatim" : "");
            break;
        default:
            sbuf_printf(out, " conn %u", r->id);
            break;
        }
        if (conns && record_is_conn_op(r)) {
            walk_conn *c = &conns[r->id];
            walk_conn_op(s, r, c);
            if (r->op == STREAM_OP_WRITE || (r->op == STREAM_OP_DUMP && r->len)) {
                rc.record_start = r->offset;
                rc.items = 0;
                int was_closed = c->fr.closed;
                walk_record(s, r, c, &fn);
                render_flush_drops(&rc);
                if (was_closed) {
                    render_sep(&rc);
                    sbuf_puts(out, "ignored: the server closed this connection");
                } else if (c->open && framing_pending(&c->fr)) {
                    render_sep(&rc);
                    sbuf_printf(out, "partial frame, %zu of %zu bytes: ", c->fr.have, s->frame_size);
                    render_hex(c->fr.buf, c->fr.have, out);
                }
            } else if (r->op == STREAM_OP_DUMP) {
                walk_fns quiet = {NULL, NULL, NULL}; /* keeps the framing, shows nothing */
                walk_record(s, r, c, &quiet);
            }
        } else if (r->op == STREAM_OP_WRITE) {
            sbuf_puts(out, " ");
            render_hex(p, r->len, out);
        }
        sbuf_putc(out, '\n');
    }
    mem_free(conns);
}
