/* runner: executing plans and streams against a server (see runner.h).
 *
 * Before the first record, the runner finds every process_id field in the bytes each
 * connection will carry (frame offset 20..23, following the connection's byte position so
 * that split frames are found too) whose value is a recorded pid, and notes where its bytes
 * are. When a process's stand-in starts, its live pid is written into those places in a
 * private copy of the payloads. Sending is then a plain write of the copy; consecutive whole
 * frames for one connection go out in one write.
 */
#include "runner.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conn.h"
#include "mem.h"
#include "srvline.h"
#include "standin.h"

#define DUMP_DONE_LINE "📋 DUMP_REMAINING complete."
#define DUMP_START_LINE "📋 Received DUMP_REMAINING request..."
/* Enhanced dialect: how long the output must stay quiet after a perfect-cleanup line before
 * the report counts as ended without a DOUBLE-FREED report. */
#define RUNNER_ENHANCED_QUIET_MS 300

void runner_opts_default(runner_opts *o) {
    o->timeout_ms = CONN_DEFAULT_TIMEOUT_MS;
    o->dump_timeout_ms = 0;
    o->log_tail_lines = 30;
    o->max_batch_bytes = 65536;
    o->dialect = LEDGER_DIALECT_POC;
    o->procs = NULL;
}

/* A stdout line of the given srvline kind (ctx points to it). */
static int is_kind_line(const srvproc_line *l, void *ctx) {
    if (l->stream != SRVPROC_OUT)
        return 0;
    srvline s;
    srvline_classify(l->text, l->len, &s);
    return s.kind == *(const srvline_kind *)ctx;
}

static int is_body_end_line(const srvproc_line *l, void *ctx) {
    (void)ctx;
    if (l->stream != SRVPROC_OUT)
        return 0;
    srvline s;
    srvline_classify(l->text, l->len, &s);
    return s.kind == SRVLINE_DUMP_TOTAL || s.kind == SRVLINE_DUMP_PERFECT;
}

static int is_nonempty_out(const srvproc_line *l, void *ctx) {
    (void)ctx;
    return l->stream == SRVPROC_OUT && l->len > 0;
}

/* The enhanced server prints no completion line: its report ends at "Total remaining
 * buffers" or at the perfect line, and after the perfect line comes the DOUBLE-FREED report
 * when some buffer was freed more often than allocated. That report is announced by the
 * first non-empty line after the perfect one; everything is printed in one burst under the
 * server's lock, so a short quiet period after the perfect line means no report follows.
 * Returns the wait result with *done at the report's last line. */
static srvproc_wait_result wait_enhanced_dump(srvproc *srv, size_t from, int timeout_ms,
                                              size_t *done) {
    srvproc_wait_result wr = srvproc_wait_line(srv, from, is_body_end_line, NULL, timeout_ms, done);
    if (wr != SRVPROC_FOUND)
        return wr;
    sbuf line = SBUF_INIT;
    srvproc_stream st;
    srvline s;
    if (srvproc_log_get(srv, *done, &line, &st) != 0) {
        sbuf_release(&line);
        return SRVPROC_FOUND;
    }
    srvline_classify(sbuf_str(&line), line.len, &s);
    if (s.kind != SRVLINE_DUMP_PERFECT) {
        sbuf_release(&line);
        return SRVPROC_FOUND;
    }
    size_t next;
    if (srvproc_wait_line(srv, *done + 1, is_nonempty_out, NULL, RUNNER_ENHANCED_QUIET_MS, &next) !=
            SRVPROC_FOUND ||
        srvproc_log_get(srv, next, &line, &st) != 0) {
        sbuf_release(&line);
        return SRVPROC_FOUND;
    }
    srvline_classify(sbuf_str(&line), line.len, &s);
    sbuf_release(&line);
    if (s.kind != SRVLINE_ENH_DF_FOUND)
        return SRVPROC_FOUND;
    size_t pos = next;
    for (uint64_t k = 0; k < s.count; k++) {
        srvline_kind want = SRVLINE_ENH_DF_BUFFER;
        if (srvproc_wait_line(srv, pos + 1, is_kind_line, &want, timeout_ms, &pos) != SRVPROC_FOUND)
            return SRVPROC_FOUND;
    }
    srvline_kind blank = SRVLINE_EMPTY;
    if (srvproc_wait_line(srv, pos + 1, is_kind_line, &blank, timeout_ms, &pos) == SRVPROC_FOUND)
        *done = pos;
    return SRVPROC_FOUND;
}

/* ---- pid rewriting ------------------------------------------------------------------------ */

/* A place to patch: (payload offset << 3) | code; code 4 = four contiguous bytes, 0..3 = one
 * byte of the pid (little-endian index), for fields split across writes. */
typedef struct {
    uint64_t *v;
    size_t n, cap;
} site_list;

typedef struct {
    int32_t pid;
    uint32_t proc;
} pid_entry;

static int pid_entry_cmp(const void *a, const void *b) {
    const pid_entry *x = a, *y = b;
    if (x->pid != y->pid)
        return x->pid < y->pid ? -1 : 1;
    return x->proc < y->proc ? -1 : (x->proc > y->proc);
}

static int site_push(site_list *l, uint64_t v) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        uint64_t *n = mem_realloc(l->v, cap * sizeof *n);
        if (!n)
            return -1;
        l->v = n;
        l->cap = cap;
    }
    l->v[l->n++] = v;
    return 0;
}

/* Returns the process whose recorded pid is pid, or -1. */
static long pid_lookup(const pid_entry *tab, size_t n, int32_t pid) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (tab[mid].pid < pid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && tab[lo].pid == pid ? (long)tab[lo].proc : -1;
}

typedef struct {
    uint64_t pos;
    uint64_t fs; /* the connection's client frame size (CONNECT), 0 = the stream's */
    uint8_t val[4];
    size_t where[4];
    int verbatim;
} field_track;

/* Finds the pid sites of every process. sites has s->nprocs lists. Returns 0 or -1 (memory). */
static int find_sites(const stream *s, site_list *sites, uint16_t max_conn) {
    if (s->nprocs == 0)
        return 0;
    pid_entry *tab = mem_alloc(s->nprocs * sizeof *tab);
    field_track *tr = mem_calloc((size_t)max_conn + 1, sizeof *tr);
    if (!tab || !tr) {
        mem_free(tab);
        mem_free(tr);
        return -1;
    }
    for (uint32_t i = 0; i < s->nprocs; i++) {
        tab[i].pid = s->procs[i].recorded_pid;
        tab[i].proc = i;
    }
    qsort(tab, s->nprocs, sizeof *tab, pid_entry_cmp);
    size_t ntab = 0; /* duplicates: the first process with a pid keeps it */
    for (uint32_t i = 0; i < s->nprocs; i++)
        if (ntab == 0 || tab[ntab - 1].pid != tab[i].pid)
            tab[ntab++] = tab[i];
    int rc = 0;
    for (size_t r = 0; r < s->nrecords && rc == 0; r++) {
        const stream_record *rec = &s->records[r];
        field_track *t = rec->id <= max_conn ? &tr[rec->id] : NULL;
        if (!t)
            continue;
        if (rec->op == STREAM_OP_CONNECT) {
            memset(t, 0, sizeof *t);
            if (rec->len == 4) /* a client of another struct size: its own frame boundaries */
                t->fs = (uint64_t)s->payload[rec->offset + 2] | (uint64_t)s->payload[rec->offset + 3] << 8;
            continue;
        }
        if (rec->op == STREAM_OP_FENCE || (rec->op == STREAM_OP_DUMP && rec->len == 0)) {
            t->pos += s->frame_size;
            continue;
        }
        if (rec->op != STREAM_OP_WRITE && rec->op != STREAM_OP_DUMP)
            continue;
        const uint64_t fs = t->fs ? t->fs : s->frame_size;
        const uint8_t *b = s->payload + rec->offset;
        int verbatim = (rec->flags & STREAM_FLAG_VERBATIM) != 0;
        size_t j = 0;
        while (j < rec->len && rc == 0) {
            uint64_t k = t->pos % fs;
            if (k == 0 && rec->len - j >= fs) { /* a whole frame: the common case */
                if (!verbatim) {
                    const uint8_t *f = b + j + 20;
                    int32_t v = (int32_t)((uint32_t)f[0] | (uint32_t)f[1] << 8 |
                                          (uint32_t)f[2] << 16 | (uint32_t)f[3] << 24);
                    long proc = pid_lookup(tab, ntab, v);
                    if (proc >= 0)
                        rc = site_push(&sites[proc], ((uint64_t)(rec->offset + j + 20) << 3) | 4);
                }
                j += fs;
                t->pos += fs;
                continue;
            }
            if (k >= 20 && k < 24) {
                if (k == 20)
                    t->verbatim = 0;
                t->val[k - 20] = b[j];
                t->where[k - 20] = rec->offset + j;
                t->verbatim |= verbatim;
                if (k == 23 && !t->verbatim) {
                    int32_t v = (int32_t)((uint32_t)t->val[0] | (uint32_t)t->val[1] << 8 |
                                          (uint32_t)t->val[2] << 16 | (uint32_t)t->val[3] << 24);
                    long proc = pid_lookup(tab, ntab, v);
                    for (int q = 0; proc >= 0 && q < 4 && rc == 0; q++)
                        rc = site_push(&sites[proc], ((uint64_t)t->where[q] << 3) | (uint64_t)q);
                }
            }
            j++;
            t->pos++;
        }
    }
    mem_free(tab);
    mem_free(tr);
    return rc;
}

static void patch_sites(uint8_t *work, const site_list *l, int32_t pid) {
    uint32_t u = (uint32_t)pid;
    for (size_t i = 0; i < l->n; i++) {
        uint64_t off = l->v[i] >> 3;
        unsigned code = (unsigned)(l->v[i] & 7);
        if (code == 4) {
            for (int q = 0; q < 4; q++)
                work[off + q] = (uint8_t)(u >> (8 * q));
        } else {
            work[off] = (uint8_t)(u >> (8 * code));
        }
    }
}

/* ---- execution state ---------------------------------------------------------------------- */

typedef struct {
    conn c;
    int open;
    uint16_t proc;
    uint16_t wire_fs; /* a client of another struct size (CONNECT with 4 bytes), else 0 */
    int gone;         /* wire_fs: a write failed, the server gave up on the connection */
} rconn;

typedef struct {
    srvproc *srv;
    const stream *s;
    runner_opts o;
    runner_result *res;
    uint8_t *work;
    site_list *sites;
    standin *standins;
    rconn *conns;
    uint16_t max_conn;
    size_t dump_floor; /* log index after the last dump's completion line */
    size_t rec;        /* record being executed */
} run_ctx;

static const char *proc_name(const run_ctx *x, uint32_t proc) {
    return proc < x->s->nprocs ? x->s->procs[proc].name : "?";
}

static void describe_record(const run_ctx *x, sbuf *b) {
    const stream_record *r = &x->s->records[x->rec];
    const char *op = stream_op_name(r->op);
    sbuf_printf(b, "record %zu (%s", x->rec, op ? op : "?");
    switch (r->op) {
    case STREAM_OP_SPAWN:
    case STREAM_OP_CRASH:
    case STREAM_OP_EXIT:
        sbuf_printf(b, " process %u '%s'", r->id, proc_name(x, r->id));
        break;
    case STREAM_OP_SLEEP:
        break;
    default:
        sbuf_printf(b, " connection %u", r->id);
        if (r->id <= x->max_conn && x->conns[r->id].open)
            sbuf_printf(b, " of process '%s'", proc_name(x, x->conns[r->id].proc));
        break;
    }
    sbuf_puts(b, ")");
}

/* Ends the run with a failure message: cause, then (for server failures) the server's state
 * and the tail of its log. */
static runner_status fail(run_ctx *x, runner_status st, const char *cause) {
    runner_result *res = x->res;
    res->status = st;
    res->failed_record = x->rec;
    sbuf_reset(&res->message);
    if (x->rec < x->s->nrecords) {
        describe_record(x, &res->message);
        sbuf_puts(&res->message, ": ");
    }
    sbuf_puts(&res->message, cause);
    if (st == RUNNER_SERVER_FAILED) {
        /* A broken connection is usually a dying server: give the reaper a moment. */
        int wst;
        srvproc_wait_exit(x->srv, 300, &wst);
        char what[160];
        srvproc_describe(x->srv, what, sizeof what);
        sbuf_printf(&res->message, "\nserver: %s", what);
        sbuf_printf(&res->message, "\nlast %d lines of the server log:\n", x->o.log_tail_lines);
        srvproc_log_tail(x->srv, (size_t)x->o.log_tail_lines, &res->message);
    }
    return st;
}

static runner_status fail_conn(run_ctx *x, conn_status cs, const char *err) {
    (void)cs;
    return fail(x, RUNNER_SERVER_FAILED, err);
}

static int32_t live_or_recorded(const run_ctx *x, uint32_t proc) {
    if (proc >= x->s->nprocs)
        return 0;
    return x->res->live_pid[proc] ? x->res->live_pid[proc] : x->s->procs[proc].recorded_pid;
}

/* The open connection `id`, or NULL after recording a bad-input failure. */
static rconn *need_conn(run_ctx *x, uint16_t id) {
    if (id > x->max_conn || !x->conns[id].open) {
        char msg[128];
        snprintf(msg, sizeof msg, "connection %u is not open (no CONNECT before, or closed)", id);
        fail(x, RUNNER_BAD_INPUT, msg);
        return NULL;
    }
    return &x->conns[id];
}

static int push_reply(run_ctx *x, uint16_t conn_id, const uint8_t *raw) {
    runner_result *res = x->res;
    runner_reply *n = mem_realloc(res->replies, (res->nreplies + 1) * sizeof *n);
    if (!n)
        return -1;
    res->replies = n;
    runner_reply *r = &n[res->nreplies];
    memset(r, 0, sizeof *r);
    r->record = x->rec;
    r->ordinal = res->nreplies;
    r->plan_step = -1;
    r->conn = conn_id;
    memcpy(r->raw, raw, x->s->frame_size);
    proto_decode(x->s->rev, raw, x->s->frame_size, &r->msg);
    res->nreplies++;
    return 0;
}

static int is_done_line(const srvproc_line *l, void *ctx) {
    (void)ctx;
    return l->stream == SRVPROC_OUT && l->len == sizeof DUMP_DONE_LINE - 1 &&
           memcmp(l->text, DUMP_DONE_LINE, l->len) == 0;
}

/* Sends a DUMP_REMAINING and collects the report. */
static runner_status do_dump(run_ctx *x, rconn *rc, const stream_record *r) {
    char err[512];
    uint8_t frame[PROTO_MAX_FRAME];
    const uint8_t *bytes;
    if (r->len) {
        bytes = x->work + r->offset;
    } else {
        proto_msg m;
        memset(&m, 0, sizeof m);
        m.type = PROTO_DUMP_REMAINING;
        m.process_id = live_or_recorded(x, rc->proc);
        proto_encode(x->s->rev, &m, frame);
        bytes = frame;
    }
    size_t from = srvproc_log_end(x->srv);
    if (from < x->dump_floor)
        from = x->dump_floor;
    conn_status cs = conn_send(&rc->c, bytes, x->s->frame_size, err, sizeof err);
    if (cs != CONN_OK)
        return fail_conn(x, cs, err);
    int timeout = x->o.dump_timeout_ms > 0 ? x->o.dump_timeout_ms : x->o.timeout_ms;
    size_t done;
    int enh = x->o.dialect == LEDGER_DIALECT_ENHANCED;
    srvproc_wait_result wr = enh ? wait_enhanced_dump(x->srv, from, timeout, &done)
                                 : srvproc_wait_line(x->srv, from, is_done_line, NULL, timeout, &done);
    if (wr == SRVPROC_DIED)
        return fail(x, RUNNER_SERVER_FAILED, "the server died before finishing the dump");
    if (wr == SRVPROC_TIMEOUT) {
        snprintf(err, sizeof err,
                 "no '" DUMP_DONE_LINE "' line within %d ms of sending DUMP_REMAINING (hung? "
                 "quiet? or, attached, no --server-log?)",
                 timeout);
        return fail(x, RUNNER_SERVER_FAILED, err);
    }
    /* The report starts at the last request line before the completion line. */
    size_t first = from;
    sbuf line = SBUF_INIT;
    for (size_t i = done; i-- > from;) {
        srvproc_stream st;
        if (srvproc_log_get(x->srv, i, &line, &st) == 0 && st == SRVPROC_OUT &&
            strcmp(sbuf_str(&line), DUMP_START_LINE) == 0) {
            first = i;
            break;
        }
    }
    sbuf_release(&line);
    runner_result *res = x->res;
    runner_dump *n = mem_realloc(res->dumps, (res->ndumps + 1) * sizeof *n);
    if (!n)
        return fail(x, RUNNER_HARNESS_ERROR, "out of memory");
    res->dumps = n;
    runner_dump *d = &n[res->ndumps++];
    memset(d, 0, sizeof *d);
    d->record = x->rec;
    d->ordinal = res->ndumps - 1;
    d->plan_dump = -1;
    d->first_line = first;
    d->last_line = done;
    srvproc_log_text(x->srv, first, done + 1, SRVPROC_OUT, &d->text);
    dumpview_parser *ps = dumpview_parser_new();
    if (!ps || sbuf_failed(&d->text)) {
        dumpview_parser_free(ps);
        return fail(x, RUNNER_HARNESS_ERROR, "out of memory");
    }
    const char *t = sbuf_str(&d->text);
    int prc = 0;
    if (enh) /* no request line: the dead-process block before the title belongs to the dump */
        prc = dumpview_parser_line(ps, DUMP_START_LINE, strlen(DUMP_START_LINE), err, sizeof err);
    while (*t && prc >= 0) {
        const char *nl = strchr(t, '\n');
        size_t len = nl ? (size_t)(nl - t) : strlen(t);
        prc = dumpview_parser_line(ps, t, len, err, sizeof err);
        t += len + (nl ? 1 : 0);
    }
    if (prc >= 0) {
        int body_done = enh && dumpview_parser_state(ps) == DUMPVIEW_BODY_DONE;
        dumpview_parser_take(ps, &d->view);
        if (body_done)
            d->view.complete = 1; /* the body's end is the enhanced report's end */
        d->parsed = d->view.complete;
        if (!d->parsed)
            d->parse_error = mem_strdup("the report has no completion line");
    } else {
        d->parse_error = mem_strdup(err);
    }
    dumpview_parser_free(ps);
    x->dump_floor = done + 1;
    return RUNNER_OK;
}

/* Sends the record at x->rec and, when it is a whole-frame write, the whole-frame writes for
 * the same connection that follow it. Advances x->rec to the last record sent. */
static runner_status do_write(run_ctx *x, rconn *rc) {
    const stream_record *recs = x->s->records;
    const stream_record *r = &recs[x->rec];
    const size_t fs = x->s->frame_size;
    size_t len = r->len;
    /* A misframed client's consecutive frames go out as one burst (tracking-stories.md S9:
     * bursts are what break alignment). */
    if (x->o.max_batch_bytes > 1 && (rc->wire_fs || (len % fs == 0 && rc->c.bytes_sent % fs == 0))) {
        while (x->rec + 1 < x->s->nrecords) {
            const stream_record *nx = &recs[x->rec + 1];
            if (nx->op != STREAM_OP_WRITE || nx->id != r->id || nx->len == 0 || (!rc->wire_fs && nx->len % fs) ||
                nx->offset != r->offset + len || len + nx->len > x->o.max_batch_bytes)
                break;
            len += nx->len;
            x->rec++;
        }
    }
    if (rc->gone)
        return RUNNER_OK;
    char err[256];
    conn_status cs = conn_send(&rc->c, x->work + r->offset, len, err, sizeof err);
    if (cs != CONN_OK && rc->wire_fs) { /* the server closed a misframed connection: the rest is lost */
        rc->gone = 1;
        return RUNNER_OK;
    }
    if (cs != CONN_OK)
        return fail_conn(x, cs, err);
    return RUNNER_OK;
}

static runner_status exec_record(run_ctx *x) {
    const stream_record *r = &x->s->records[x->rec];
    char err[512];
    rconn *rc;
    conn_status cs;
    switch (r->op) {
    case STREAM_OP_SPAWN: {
        if (r->id >= x->s->nprocs)
            return fail(x, RUNNER_BAD_INPUT, "no such process");
        standin *si = &x->standins[r->id];
        if (si->state != STANDIN_NONE)
            return fail(x, RUNNER_BAD_INPUT, "the process was started before");
        if (x->o.procs) { /* the caller's process: bookkeeping only, never reaped here */
            int32_t pid = 0;
            if (x->o.procs->spawn(x->o.procs->ctx, r->id, &pid, err, sizeof err) != 0)
                return fail(x, RUNNER_HARNESS_ERROR, err);
            si->pid = (pid_t)pid;
            si->state = STANDIN_RUNNING;
        } else if (standin_spawn(si, err, sizeof err) != 0)
            return fail(x, RUNNER_HARNESS_ERROR, err);
        x->res->live_pid[r->id] = (int32_t)si->pid;
        patch_sites(x->work, &x->sites[r->id], (int32_t)si->pid);
        return RUNNER_OK;
    }
    case STREAM_OP_CRASH:
    case STREAM_OP_EXIT: {
        if (r->id >= x->s->nprocs)
            return fail(x, RUNNER_BAD_INPUT, "no such process");
        standin *si = &x->standins[r->id];
        if (si->state != STANDIN_RUNNING)
            return fail(x, RUNNER_BAD_INPUT, "the process is not running");
        if (x->o.procs) {
            int e = x->o.procs->end(x->o.procs->ctx, r->id, r->op == STREAM_OP_CRASH, err, sizeof err);
            si->state = r->op == STREAM_OP_CRASH ? STANDIN_CRASHED : STANDIN_EXITED;
            return e == 0 ? RUNNER_OK : fail(x, RUNNER_HARNESS_ERROR, err);
        }
        int e = r->op == STREAM_OP_CRASH ? standin_crash(si, err, sizeof err)
                                         : standin_exit(si, err, sizeof err);
        return e == 0 ? RUNNER_OK : fail(x, RUNNER_HARNESS_ERROR, err);
    }
    case STREAM_OP_CONNECT: {
        if (r->id > x->max_conn || (r->len != 2 && r->len != 4))
            return fail(x, RUNNER_BAD_INPUT, "bad CONNECT record");
        rc = &x->conns[r->id];
        if (rc->open)
            return fail(x, RUNNER_BAD_INPUT, "the connection is already open");
        const uint8_t *b = x->work + r->offset;
        rc->proc = (uint16_t)(b[0] | (b[1] << 8));
        rc->wire_fs = r->len == 4 ? (uint16_t)(b[2] | (b[3] << 8)) : 0;
        rc->gone = 0;
        cs = conn_open(&rc->c, srvproc_socket_path(x->srv), x->s->rev, x->o.timeout_ms, err,
                       sizeof err);
        if (cs != CONN_OK)
            return fail_conn(x, cs, err);
        rc->open = 1;
        return RUNNER_OK;
    }
    case STREAM_OP_WRITE:
        if (!(rc = need_conn(x, r->id)))
            return x->res->status;
        return r->len ? do_write(x, rc) : RUNNER_OK;
    case STREAM_OP_FENCE:
        if (!(rc = need_conn(x, r->id)))
            return x->res->status;
        if (rc->wire_fs)
            return fail(x, RUNNER_BAD_INPUT, "a misframed connection cannot be fenced (close it)");
        cs = conn_fence(&rc->c, live_or_recorded(x, rc->proc), NULL, err, sizeof err);
        if (cs == CONN_PROTOCOL && rc->c.bytes_sent % rc->c.frame_size != 0)
            return fail(x, RUNNER_BAD_INPUT, err);
        if (cs != CONN_OK)
            return fail_conn(x, cs, err);
        x->res->fences++;
        return RUNNER_OK;
    case STREAM_OP_READ_REPLY: {
        if (!(rc = need_conn(x, r->id)))
            return x->res->status;
        uint8_t buf[PROTO_MAX_FRAME];
        cs = conn_read_reply(&rc->c, buf, err, sizeof err);
        if (cs != CONN_OK)
            return fail_conn(x, cs, err);
        /* A server only ever answers with RESPONSE or DEVICE_INFO_RESPONSE frames; on a
         * well-framed connection anything else is garbage, and the run cannot go on. */
        if (buf[0] != PROTO_RESPONSE && buf[0] != PROTO_DEVICE_INFO_RESPONSE &&
            rc->c.bytes_sent % rc->c.frame_size == 0) {
            snprintf(err, sizeof err,
                     "read reply: expected a RESPONSE (type 4) or DEVICE_INFO_RESPONSE (type 7), found type %u: "
                     "the server answered garbage",
                     buf[0]);
            return fail(x, RUNNER_SERVER_FAILED, err);
        }
        if (push_reply(x, r->id, buf) != 0)
            return fail(x, RUNNER_HARNESS_ERROR, "out of memory");
        return RUNNER_OK;
    }
    case STREAM_OP_CLOSE:
        if (!(rc = need_conn(x, r->id)))
            return x->res->status;
        x->res->frames_sent += rc->c.frames_sent;
        x->res->bytes_sent += rc->c.bytes_sent;
        rc->open = 0;
        if (r->flags & STREAM_FLAG_ABORT) {
            conn_abort(&rc->c);
            return RUNNER_OK;
        }
        cs = conn_close(&rc->c, err, sizeof err);
        return cs == CONN_OK ? RUNNER_OK : fail_conn(x, cs, err);
    case STREAM_OP_DUMP:
        if (!(rc = need_conn(x, r->id)))
            return x->res->status;
        if (x->o.procs && x->o.procs->dump && x->o.procs->dump(x->o.procs->ctx, x->res->ndumps, err, sizeof err) != 0)
            return fail(x, RUNNER_HARNESS_ERROR, err);
        return do_dump(x, rc, r);
    case STREAM_OP_SLEEP: {
        const uint8_t *b = x->work + r->offset;
        uint32_t ms = r->len == 4 ? (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                                        (uint32_t)b[3] << 24
                                  : 0;
        struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        }
        return RUNNER_OK;
    }
    default:
        return fail(x, RUNNER_BAD_INPUT, "unknown op");
    }
}

/* ---- the run ------------------------------------------------------------------------------ */

static int result_init(runner_result *res, const stream *s) {
    memset(res, 0, sizeof *res);
    res->nprocs = s->nprocs;
    if (s->nprocs == 0)
        return 0;
    res->proc_names = mem_calloc(s->nprocs, sizeof *res->proc_names);
    res->recorded_pid = mem_calloc(s->nprocs, sizeof *res->recorded_pid);
    res->live_pid = mem_calloc(s->nprocs, sizeof *res->live_pid);
    if (!res->proc_names || !res->recorded_pid || !res->live_pid)
        return -1;
    for (uint32_t i = 0; i < s->nprocs; i++) {
        res->proc_names[i] = mem_strdup(s->procs[i].name);
        if (!res->proc_names[i])
            return -1;
        res->recorded_pid[i] = s->procs[i].recorded_pid;
    }
    return 0;
}

runner_status runner_run_stream(srvproc *srv, const stream *s, const runner_opts *o,
                                runner_result *res) {
    run_ctx x;
    memset(&x, 0, sizeof x);
    x.srv = srv;
    x.s = s;
    x.res = res;
    if (o)
        x.o = *o;
    else
        runner_opts_default(&x.o);
    if (x.o.timeout_ms <= 0)
        x.o.timeout_ms = CONN_DEFAULT_TIMEOUT_MS;
    if (x.o.log_tail_lines <= 0)
        x.o.log_tail_lines = 30;
    x.rec = s->nrecords; /* messages before the loop name no record */
    if (result_init(res, s) != 0)
        return fail(&x, RUNNER_HARNESS_ERROR, "out of memory");
    res->log_start = srvproc_log_end(srv);
    x.dump_floor = res->log_start;
    for (size_t i = 0; i < s->nrecords; i++) {
        uint8_t op = s->records[i].op;
        if (op != STREAM_OP_SPAWN && op != STREAM_OP_CRASH && op != STREAM_OP_EXIT &&
            op != STREAM_OP_SLEEP && s->records[i].id > x.max_conn)
            x.max_conn = s->records[i].id;
    }
    x.work = mem_alloc(s->payload_len ? s->payload_len : 1);
    x.sites = mem_calloc(s->nprocs ? s->nprocs : 1, sizeof *x.sites);
    x.standins = mem_calloc(s->nprocs ? s->nprocs : 1, sizeof *x.standins);
    x.conns = mem_calloc((size_t)x.max_conn + 1, sizeof *x.conns);
    if (!x.work || !x.sites || !x.standins || !x.conns) {
        fail(&x, RUNNER_HARNESS_ERROR, "out of memory");
        goto cleanup;
    }
    for (uint32_t i = 0; i < s->nprocs; i++)
        x.standins[i].pipe_fd = -1;
    if (s->payload_len)
        memcpy(x.work, s->payload, s->payload_len);
    if (find_sites(s, x.sites, x.max_conn) != 0) {
        fail(&x, RUNNER_HARNESS_ERROR, "out of memory");
        goto cleanup;
    }
    char verr[256];
    if (stream_validate(s, verr, sizeof verr) != 0) {
        fail(&x, RUNNER_BAD_INPUT, verr);
        goto cleanup;
    }
    for (x.rec = 0; x.rec < s->nrecords; x.rec++)
        if (exec_record(&x) != RUNNER_OK)
            break;

cleanup:
    /* Connections first (a graceful close reads what the server still owes), then the
     * stand-ins. After a failure the server may be hung: do not wait on it again. */
    if (x.conns) {
        for (size_t c = 0; c <= x.max_conn; c++) {
            if (!x.conns[c].open)
                continue;
            res->frames_sent += x.conns[c].c.frames_sent;
            res->bytes_sent += x.conns[c].c.bytes_sent;
            if (res->status == RUNNER_OK) {
                char err[256];
                conn_status cs = conn_close(&x.conns[c].c, err, sizeof err);
                if (cs != CONN_OK) {
                    x.rec = s->nrecords;
                    fail(&x, RUNNER_SERVER_FAILED, err);
                }
            } else {
                conn_abort(&x.conns[c].c);
            }
            x.conns[c].open = 0;
        }
    }
    if (x.standins && !x.o.procs) { /* the caller's processes are the caller's to end */
        for (uint32_t i = 0; i < s->nprocs; i++) {
            if (x.standins[i].state == STANDIN_RUNNING) {
                char err[128];
                standin_exit(&x.standins[i], err, sizeof err);
            }
            standin_release(&x.standins[i]);
        }
    }
    if (x.sites)
        for (uint32_t i = 0; i < s->nprocs; i++)
            mem_free(x.sites[i].v);
    mem_free(x.sites);
    mem_free(x.standins);
    mem_free(x.conns);
    mem_free(x.work);
    res->log_end = srvproc_log_end(srv);
    return res->status;
}

runner_status runner_run_plan(srvproc *srv, const plan *p, const runner_opts *o,
                              const char *record_path, runner_result *res) {
    stream s;
    char err[512];
    if (stream_from_plan(p, &s, err, sizeof err) != 0) {
        memset(res, 0, sizeof *res);
        res->status = RUNNER_BAD_INPUT;
        sbuf_puts(&res->message, err);
        return res->status;
    }
    if (record_path && stream_save(&s, record_path, err, sizeof err) != 0) {
        memset(res, 0, sizeof *res);
        res->status = RUNNER_HARNESS_ERROR;
        sbuf_printf(&res->message, "recording the stream: %s", err);
        stream_release(&s);
        return res->status;
    }
    runner_run_stream(srv, &s, o, res);
    stream_release(&s);
    /* The k-th DUMP is the k-th PLAN_DUMP step; the k-th reply answers the k-th has_reply. */
    size_t kd = 0, kr = 0;
    for (size_t i = 0; i < p->nsteps; i++) {
        const plan_step *st = &p->steps[i];
        if (st->kind == PLAN_DUMP && kd < res->ndumps)
            res->dumps[kd++].plan_dump = st->dump;
        else if (st->kind == PLAN_SEND && st->has_reply && kr < res->nreplies)
            res->replies[kr++].plan_step = (long)i;
    }
    return res->status;
}

void runner_result_release(runner_result *res) {
    if (!res)
        return;
    sbuf_release(&res->message);
    for (size_t i = 0; i < res->ndumps; i++) {
        sbuf_release(&res->dumps[i].text);
        dumpview_release(&res->dumps[i].view); /* zeroed when never taken */
        mem_free(res->dumps[i].parse_error);
    }
    mem_free(res->dumps);
    mem_free(res->replies);
    for (uint32_t i = 0; res->proc_names && i < res->nprocs; i++)
        mem_free(res->proc_names[i]);
    mem_free(res->proc_names);
    mem_free(res->recorded_pid);
    mem_free(res->live_pid);
    memset(res, 0, sizeof *res);
}

const char *runner_live_pid_name(void *result, int32_t pid) {
    const runner_result *res = result;
    for (uint32_t i = 0; i < res->nprocs; i++)
        if (res->live_pid[i] == pid && pid != 0)
            return res->proc_names[i];
    return NULL;
}

const char *runner_recorded_pid_name(void *result, int32_t pid) {
    const runner_result *res = result;
    for (uint32_t i = 0; i < res->nprocs; i++)
        if (res->recorded_pid[i] == pid)
            return res->proc_names[i];
    return NULL;
}
