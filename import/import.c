/* import: log importer (see import.h). Two passes over the log held in memory.
 *
 * Pass 1 classifies every line only to learn the protocol revision: each server line tells
 * which revisions can print it, and the candidates are intersected. Pass 2 replays the log:
 * every event line becomes the message that caused it, applied to a ledger of that revision;
 * lifecycles, dumps, timeline rows and stream records are produced on the way.
 *
 * Keeping the ledger in step with the log: a log may start after the server did, lose lines
 * or come from a server with a bug. Where a line contradicts the rebuilt state (a "new" ALLOC
 * of a key the state holds, a ref_count that differs, a FINAL free of an entry with more
 * references, an "unknown" free of a held key) the state is moved to what the line says by
 * applying extra ALLOC/FREE messages, bounded per line so that a hostile log stays linear,
 * and a finding records it. Dead-PID cleanup is applied the same way, from the importer's own
 * per-PID list of entries, so its cost is proportional to what it removes.
 */
#include "import_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ledger.h"
#include "mem.h"
#include "srvline.h"

/* A ref_count correction larger than this per line is reported, not applied. */
#define IMPORT_MAX_FIXUP 64

static int ledger_reset(imp *x) {
    ledger_config cfg = {0};
    cfg.rev = x->r->rev; /* no emit callback: the ledger's fast path renders nothing */
    cfg.dialect = x->r->enhanced ? LEDGER_DIALECT_ENHANCED : LEDGER_DIALECT_POC; /* reuse keeps the new size */
    if (x->led)
        ledger_free(x->led);
    x->led = ledger_new(&cfg);
    if (!x->led)
        x->oom = 1;
    return x->led ? 0 : -1;
}


/* ---- lifecycles --------------------------------------------------------------------------- */

static import_buffer *lc_current(imp *x, uint64_t id) {
    uint32_t idx;
    return imp_map_get(&x->ids, id, &idx) ? &x->r->buffers[idx] : NULL;
}

static import_buffer *lc_new(imp *x, uint64_t id) {
    import_result *r = x->r;
    if (r->nbuffers == x->bcap) {
        size_t ncap = x->bcap ? x->bcap * 2 : 64;
        import_buffer *nv = mem_realloc(r->buffers, ncap * sizeof *nv);
        if (!nv) {
            x->oom = 1;
            return NULL;
        }
        r->buffers = nv;
        x->bcap = ncap;
    }
    if (imp_map_put(&x->ids, id, (uint32_t)r->nbuffers) < 0) {
        x->oom = 1;
        return NULL;
    }
    import_buffer *b = &r->buffers[r->nbuffers++];
    memset(b, 0, sizeof *b);
    b->buffer_id = id;
    b->buffer_type = -1;
    b->first_line = x->line;
    return b;
}

/* Remembers that pid may own a live entry of lifecycle b (for dead-PID cleanup). */
static void lc_owned_by(imp *x, import_buffer *b, int32_t pid) {
    pidinfo *p = imp_pid_get(x, pid);
    uint32_t idx = (uint32_t)(b - x->r->buffers);
    if (!p || (p->n && p->lcs[p->n - 1] == idx))
        return;
    if (p->n == p->cap) {
        size_t ncap = p->cap ? p->cap * 2 : 8;
        uint32_t *nv = mem_realloc(p->lcs, ncap * sizeof *nv);
        if (!nv) {
            x->oom = 1;
            return;
        }
        p->lcs = nv;
        p->cap = ncap;
    }
    p->lcs[p->n++] = idx;
}

static void lc_alloc(imp *x, const srvline *s) {
    import_buffer *b = lc_current(x, s->buffer_id);
    if (!b || (b->live.n == 0 && s->kind == SRVLINE_ALLOC))
        b = lc_new(x, s->buffer_id);
    if (!b)
        return;
    if (b->buffer_type < 0 && b->allocated.n == 0) {
        b->size = s->size;
        b->buffer_type = s->buffer_type;
        b->pid = s->pid;
    }
    if (s->kind == SRVLINE_ALLOC_REF && !imp_devset_has(&b->live, s->device_id))
        b->before_log = 1;
    int32_t refs = s->kind == SRVLINE_ALLOC ? 1 : s->ref_count;
    if (refs > b->max_ref_count)
        b->max_ref_count = refs;
    if (!imp_devset_has(&b->live, s->device_id)) {
        if (imp_devset_add(&b->live, s->device_id, s->pid) < 0)
            x->oom = 1;
        lc_owned_by(x, b, s->pid);
    } else if (s->kind == SRVLINE_ALLOC) {
        /* the server made a new entry (the log lost its free): the new PID owns it */
        b->live.owner[imp_devset_pos(&b->live, s->device_id)] = s->pid;
        lc_owned_by(x, b, s->pid);
    }
    if (imp_devset_add(&b->allocated, s->device_id, 0) < 0)
        x->oom = 1;
    b->last_line = x->line;
}

static void lc_free(imp *x, const srvline *s, int final) {
    import_buffer *b = lc_current(x, s->buffer_id);
    if (!b) {
        b = lc_new(x, s->buffer_id);
        if (!b)
            return;
        b->size = s->size;
        b->pid = s->pid;
    }
    b->last_line = x->line;
    if (s->kind == SRVLINE_FREE_REF && s->ref_count + 1 > b->max_ref_count)
        b->max_ref_count = s->ref_count + 1;
    if (!imp_devset_has(&b->live, s->device_id)) {
        b->before_log = 1;
        if (!final) {
            if (imp_devset_add(&b->live, s->device_id, s->pid) < 0)
                x->oom = 1;
            lc_owned_by(x, b, s->pid);
            return;
        }
    }
    if (final) {
        imp_devset_del(&b->live, s->device_id);
        if (imp_devset_add(&b->freed, s->device_id, 0) < 0)
            x->oom = 1;
    }
}

/* ---- keeping the ledger in step ---------------------------------------------------------- */

static proto_msg make_msg(uint8_t type, int32_t dev, uint64_t size, int buffer_type, int32_t pid,
                          uint64_t id) {
    proto_msg m;
    memset(&m, 0, sizeof m);
    m.type = type;
    m.device_id = dev;
    m.size = size;
    m.buffer_type = buffer_type >= 0 ? (uint8_t)buffer_type : 0;
    m.process_id = pid;
    m.buffer_id = id;
    return m;
}

static void apply(imp *x, const proto_msg *m) {
    if (ledger_apply(x->led, m, NULL) < 0)
        x->oom = 1;
}

/* Frees (dev, id) until the ledger no longer holds it. Every reference removed here was
 * added by one applied ALLOC, and those are bounded per line, so this stays linear. */
static void drop_entry(imp *x, int32_t dev, uint64_t id) {
    ledger_entry e;
    int32_t before = INT32_MAX;
    while (ledger_lookup(x->led, dev, id, &e) && e.ref_count < before && !x->oom) {
        proto_msg m = make_msg(PROTO_FREE, dev, e.size, e.buffer_type, e.owner_pid, id);
        before = e.ref_count;
        apply(x, &m);
    }
}

/* Moves the entry's ref_count to want by extra ALLOCs or FREEs. */
static void set_ref_count(imp *x, const ledger_entry *e, int32_t want) {
    int64_t diff = (int64_t)want - e->ref_count;
    if (want < 1 || diff > IMPORT_MAX_FIXUP || diff < -IMPORT_MAX_FIXUP) {
        imp_finding(x, x->line, "ref_count %d of buffer 0x%" PRIx64 " on device %d is too far from "
                "the rebuilt state's %d to follow", (int)want, e->buffer_id, (int)e->device_id,
                (int)e->ref_count);
        return;
    }
    for (; diff > 0; diff--) {
        proto_msg m = make_msg(PROTO_ALLOC, e->device_id, e->size, e->buffer_type, e->owner_pid,
                               e->buffer_id);
        apply(x, &m);
    }
    for (; diff < 0; diff++) {
        proto_msg m = make_msg(PROTO_FREE, e->device_id, e->size, e->buffer_type, e->owner_pid,
                               e->buffer_id);
        apply(x, &m);
    }
}

static const char *id_text(const srvline *s, char *buf, size_t n) {
    snprintf(buf, n, s->id_hex ? "0x%" PRIx64 : "%" PRIu64, s->buffer_id);
    return buf;
}

static void on_alloc(imp *x, const srvline *s) {
    ledger_entry e;
    char idb[32];
    int had = ledger_lookup(x->led, s->device_id, s->buffer_id, &e);
    if (s->kind == SRVLINE_ALLOC) {
        x->r->allocs++;
        if (had) {
            imp_finding(x, x->line, "new allocation of buffer %s on device %d, but the lines before "
                    "leave it allocated with ref_count=%d (a FREE line is missing?)",
                    id_text(s, idb, sizeof idb), (int)s->device_id, (int)e.ref_count);
            drop_entry(x, s->device_id, s->buffer_id);
        }
    } else {
        x->r->alloc_refs++;
    }
    if (s->buffer_type > 4) {
        imp_warn(x, x->line, "ALLOC line with buffer type UNKNOWN: not applied");
        return;
    }
    proto_msg m = make_msg(PROTO_ALLOC, s->device_id, s->size, s->buffer_type, s->pid,
                           s->buffer_id);
    apply(x, &m);
    imp_st_write(x, s->pid, &m);
    lc_alloc(x, s);
    if (!ledger_lookup(x->led, s->device_id, s->buffer_id, &e)) {
        imp_warn(x, x->line, "device %d is outside 0..%d of %s: the rebuilt state cannot hold this "
             "buffer (the real server indexes its counters out of bounds here)",
             (int)s->device_id, x->max_devices - 1, proto_rev_get(x->r->rev)->name);
        return;
    }
    if (s->kind == SRVLINE_ALLOC_REF && e.ref_count != s->ref_count) {
        if (!had)
            imp_finding(x, x->line, "buffer %s on device %d gets ref_count=%d but no earlier line "
                    "allocated it (the log starts after the server did?)",
                    id_text(s, idb, sizeof idb), (int)s->device_id, (int)s->ref_count);
        else
            imp_finding(x, x->line, "buffer %s on device %d: the line says ref_count=%d, the lines "
                    "before give %d", id_text(s, idb, sizeof idb), (int)s->device_id,
                    (int)s->ref_count, (int)e.ref_count);
        set_ref_count(x, &e, s->ref_count);
    }
    imp_tl_device(x, s->device_id);
}

static void on_free(imp *x, const srvline *s) {
    ledger_entry e;
    char idb[32];
    int final = s->kind != SRVLINE_FREE_REF;
    int had = ledger_lookup(x->led, s->device_id, s->buffer_id, &e);
    if (s->kind == SRVLINE_FREE_REF)
        x->r->frees_ref++;
    else if (s->kind == SRVLINE_FREE_FINAL)
        x->r->frees_final++;
    else
        x->r->frees_pre_v72++;
    if (s->kind == SRVLINE_FREE_PRE_V72 && !x->pre_v72_noted) {
        x->pre_v72_noted = 1;
        imp_warn(x, x->line, "pre-v72 free line (no FINAL/ref_count suffix; a docs-only build): read "
             "as the last reference");
    }
    proto_msg m = make_msg(PROTO_FREE, s->device_id, s->size, had ? e.buffer_type : 0, s->pid,
                           s->buffer_id);
    imp_st_write(x, s->pid, &m);
    lc_free(x, s, final);
    if (!had) {
        imp_finding(x, x->line, "free of buffer %s on device %d, which no earlier line allocated (the "
                "log starts after the server did?)", id_text(s, idb, sizeof idb),
                (int)s->device_id);
        return;
    }
    if (final) {
        if (e.ref_count > 1 && s->kind == SRVLINE_FREE_FINAL)
            imp_finding(x, x->line, "FINAL free of buffer %s on device %d, but the lines before give "
                    "ref_count=%d", id_text(s, idb, sizeof idb), (int)s->device_id,
                    (int)e.ref_count);
        drop_entry(x, s->device_id, s->buffer_id);
    } else {
        apply(x, &m);
        if (ledger_lookup(x->led, s->device_id, s->buffer_id, &e) && e.ref_count != s->ref_count) {
            imp_finding(x, x->line, "buffer %s on device %d: the line says ref_count=%d remaining, "
                    "the lines before give %d", id_text(s, idb, sizeof idb), (int)s->device_id,
                    (int)s->ref_count, (int)e.ref_count);
            set_ref_count(x, &e, s->ref_count);
        } else if (!ledger_lookup(x->led, s->device_id, s->buffer_id, &e) && s->ref_count > 0) {
            imp_finding(x, x->line, "buffer %s on device %d: the line says ref_count=%d remaining, "
                    "the lines before had only one reference", id_text(s, idb, sizeof idb),
                    (int)s->device_id, (int)s->ref_count);
            proto_msg a = make_msg(PROTO_ALLOC, s->device_id, s->size, m.buffer_type, s->pid,
                                   s->buffer_id);
            apply(x, &a);
            if (ledger_lookup(x->led, s->device_id, s->buffer_id, &e))
                set_ref_count(x, &e, s->ref_count);
        }
    }
    imp_tl_device(x, s->device_id);
}

static void on_free_unknown(imp *x, const srvline *s) {
    ledger_entry e;
    char idb[32];
    x->r->frees_unknown++;
    proto_msg m = make_msg(PROTO_FREE, s->device_id, 0, 0, s->pid, s->buffer_id);
    imp_st_write(x, s->pid, &m);
    if (ledger_lookup(x->led, s->device_id, s->buffer_id, &e)) {
        imp_finding(x, x->line, "the server calls buffer %s on device %d unknown, but the lines before "
                "leave it allocated (ref_count=%d)", id_text(s, idb, sizeof idb),
                (int)s->device_id, (int)e.ref_count);
        drop_entry(x, s->device_id, s->buffer_id);
        import_buffer *b = lc_current(x, s->buffer_id);
        if (b)
            imp_devset_del(&b->live, s->device_id);
        imp_tl_device(x, s->device_id);
    }
}

/* "PID p is dead": the server removes every entry p owns, whatever its ref_count. */
static void on_dead_pid(imp *x, const srvline *s) {
    pidinfo *p = imp_pid_find(x, s->pid);
    uint64_t removed = 0;
    x->r->dead_pids++;
    x->dead_pending = 1;
    x->dead_pid = s->pid;
    x->dead_removed = 0;
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++) {
        import_buffer *b = &x->r->buffers[p->lcs[i]];
        for (size_t k = 0; k < b->live.n;) {
            if (b->live.owner[k] != s->pid) {
                k++;
                continue;
            }
            int32_t dev = b->live.v[k];
            ledger_entry e;
            if (ledger_lookup(x->led, dev, b->buffer_id, &e) && e.owner_pid == s->pid) {
                removed++;
                drop_entry(x, dev, b->buffer_id);
            }
            imp_devset_del(&b->live, dev);
            if (imp_devset_add(&b->cleaned, dev, 0) < 0)
                x->oom = 1;
            b->cleaned_pid = s->pid;
            b->last_line = x->line;
            imp_tl_device(x, dev);
        }
    }
    p->n = 0;
    imp_st_crash(x, p);
    x->dead_pending = 1;
    x->dead_pid = s->pid;
    x->dead_removed = removed;
}

static void on_dead_removed(imp *x, const srvline *s) {
    if (!x->dead_pending || s->pid != x->dead_pid)
        return;
    x->dead_pending = 0;
    if (s->count != x->dead_removed)
        imp_finding(x, x->line, "the server removed %" PRIu64 " buffers of dead PID %d; the lines "
                "before leave it %" PRIu64, s->count, (int)s->pid, x->dead_removed);
}

/* A second server start: everything the previous server held is gone. */
static void on_restart(imp *x) {
    for (size_t i = 0; i < x->r->nbuffers; i++) {
        import_buffer *b = &x->r->buffers[i];
        if (b->live.n == 0)
            continue;
        for (size_t k = 0; k < b->live.n; k++)
            if (imp_devset_add(&b->lost, b->live.v[k], 0) < 0)
                x->oom = 1;
        b->live.n = 0;
        b->lost_line = x->line;
    }
    for (size_t i = 0; i < x->npinfo; i++)
        x->pinfo[i].n = 0;
    imp_map_release(&x->ids);
    ledger_reset(x);
    imp_tl_all_devices(x);
    imp_warn(x, x->line, "the server starts again here: the state rebuilt so far is dropped%s",
         x->o->want_stream ? " (the stream replays both runs on one server)" : "");
}

/* ---- dumps -------------------------------------------------------------------------------- */

static import_dump *dump_current(imp *x) {
    return x->have_dump ? &x->r->dumps[x->r->ndumps - 1] : NULL;
}

static import_dump *dump_new(imp *x, size_t request_line) {
    import_result *r = x->r;
    if (r->ndumps == x->dcap) {
        size_t ncap = x->dcap ? x->dcap * 2 : 8;
        import_dump *nv = mem_realloc(r->dumps, ncap * sizeof *nv);
        if (!nv) {
            x->oom = 1;
            return NULL;
        }
        r->dumps = nv;
        x->dcap = ncap;
    }
    import_dump *d = &r->dumps[r->ndumps++];
    memset(d, 0, sizeof *d);
    d->index = r->ndumps;
    d->request_line = request_line;
    x->have_dump = 1;
    return d;
}

/* The report the rebuilt state implies, taken when the report's title line arrives (every
 * line before it, including the dump's own dead-process block, has been applied). Built from
 * the ledger's entries, not from its rendered text. */
static void dump_snapshot(imp *x, import_dump *d) {
    d->title_line = x->line;
    if (dumpview_from_ledger(x->led, &d->expected) < 0)
        x->oom = 1;
    if (x->o->want_timeline)
        sbuf_printf(&x->r->timeline_head, "#phase %zu dump\n",
                    d->request_line ? d->request_line : x->line);
    imp_st_dump(x);
    /* mark every lifecycle the dump holds */
    ledger_entry *ents = NULL;
    size_t n = ledger_entries(x->led, &ents);
    if (n == (size_t)-1) {
        x->oom = 1;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        import_buffer *b = lc_current(x, ents[i].buffer_id);
        if (b && imp_devset_has(&b->live, ents[i].device_id) && b->last_dump != d->index) {
            b->last_dump = d->index;
            b->dumps_listed++;
        }
    }
    mem_free(ents);
}

static void dump_finish(imp *x, int complete) {
    import_dump *d = dump_current(x);
    if (!d)
        return;
    dumpview_parser_take(x->parser, &d->view);
    d->view.complete = complete;
    d->parsed = 1;
    d->end_line = x->line;
    dumpview e = d->expected, a = d->view;
    e.ndead = 0; /* liveness is the server's to know: its own dead-process block was applied */
    a.ndead = 0;
    e.complete = 0;
    d->agrees = dumpview_compare(&e, NULL, NULL, &a, NULL, NULL, &d->differences) == 0;
    if (sbuf_failed(&d->differences))
        x->oom = 1;
    if (!d->agrees) {
        const char *first = sbuf_str(&d->differences);
        const char *nl = strchr(first, '\n');
        imp_finding(x, d->request_line ? d->request_line : d->title_line, "dump %zu (lines %zu-%zu) disagrees with the events before it: "
                "%.*s%s", d->index, d->request_line ? d->request_line : d->title_line,
                d->end_line, (int)(nl ? nl - first : (long)strlen(first)), first,
                nl && nl[1] ? " (and more)" : "");
    }
    x->have_dump = 0;
}

static void on_report_line(imp *x, const srvline *s, const char *line, size_t len) {
    dumpview_parser_phase ph = dumpview_parser_state(x->parser);
    if (s->kind == SRVLINE_DUMP_REQUEST) {
        if (ph == DUMPVIEW_IDLE)
            dump_new(x, x->line);
        else
            x->pending_request = x->line;
    } else if (s->kind == SRVLINE_DUMP_TITLE) {
        if (ph == DUMPVIEW_BODY_DONE) {
            dump_finish(x, 0);
            ph = DUMPVIEW_IDLE;
        }
        if (ph == DUMPVIEW_IDLE || ph == DUMPVIEW_REQUESTED) {
            import_dump *d = dump_current(x);
            if (!d) {
                d = dump_new(x, x->pending_request);
                x->pending_request = 0;
            }
            if (!d)
                return;
            dump_snapshot(x, d);
        }
    }
    ph = dumpview_parser_state(x->parser);
    if (ph == DUMPVIEW_IDLE && s->kind != SRVLINE_DUMP_REQUEST && s->kind != SRVLINE_DUMP_TITLE)
        return;
    char err[400];
    int rc = dumpview_parser_line(x->parser, line, len, err, sizeof err);
    if (rc < 0 && s->kind != SRVLINE_MALFORMED) {
        if (strcmp(err, "out of memory") == 0)
            x->oom = 1;
        else
            imp_warn(x, x->line, "%s", err);
    }
    if (rc == 1)
        dump_finish(x, 1);
    else if (x->r->enhanced && dumpview_parser_state(x->parser) == DUMPVIEW_BODY_DONE)
        dump_finish(x, 1); /* no completion line: the body's end is the report's end */
}

/* ---- pass 1: which revision printed this log ---------------------------------------------- */

typedef struct {
    unsigned mask;
    int detect_seen;
    size_t conflict_line;
} rev_guess;

static void narrow(rev_guess *g, unsigned revs, size_t line) {
    if (g->mask & revs)
        g->mask &= revs;
    else if (!g->conflict_line)
        g->conflict_line = line;
}

static void rev_evidence(rev_guess *g, const srvline *s, size_t line) {
    if (s->kind == SRVLINE_DETECT_HEADER)
        g->detect_seen = 1;
    if (s->kind == SRVLINE_BANNER_STARTED) {
        if (!g->detect_seen)
            narrow(g, SRVLINE_REV(PROTO_V72), line);
        g->detect_seen = 0;
    }
    if (s->kind == SRVLINE_ALLOC || s->kind == SRVLINE_ALLOC_REF) {
        /* v144 rejects these device ids before printing; v144-256 accepts up to 255 */
        if (s->device_id < 0 || s->device_id >= 256)
            narrow(g, ~SRVLINE_REVS_V144, line);
        else if (s->device_id >= 8)
            narrow(g, ~SRVLINE_REV(PROTO_V144), line);
    }
    if (s->revs && s->revs != SRVLINE_REVS_ALL)
        narrow(g, s->revs, line);
}

/* Calls fn for each line of data (without its '\n'). */
#define FOR_EACH_LINE(data, len, ptr, n, body)                                        \
    do {                                                                              \
        size_t pos_ = 0;                                                              \
        while (pos_ < (len)) {                                                        \
            const char *nl_ = memchr((data) + pos_, '\n', (len) - pos_);              \
            size_t end_ = nl_ ? (size_t)(nl_ - (data)) : (len);                       \
            const char *ptr = (data) + pos_;                                          \
            size_t n = end_ - pos_;                                                   \
            body;                                                                     \
            pos_ = nl_ ? end_ + 1 : (len);                                            \
        }                                                                             \
    } while (0)

/* ---- pass 2 ------------------------------------------------------------------------------- */

/* Lines the server prints without its lock, each in one write before its '\n' (§5.1): they
 * can land inside a line another thread is printing piece by piece. */
static const char *const unlocked_lines[] = {
    "📋 Received DUMP_REMAINING request...",
    "📋 DUMP_REMAINING complete.",
    "🔄 Background cleanup thread started (checking every 10s)",
    "🔄 Background cleanup thread stopped",
    "🛑 Allocation Server stopped",
};

static void on_classified(imp *x, const srvline *sp, const char *line, size_t len);

/* First occurrence of needle (n > 0 bytes) in hay[0..len), or NULL (memmem is a GNU
 * extension). */
static const char *find_bytes(const char *hay, size_t len, const char *needle, size_t n) {
    for (const char *p = hay; (size_t)(hay + len - p) >= n; p++) {
        p = memchr(p, needle[0], (size_t)(hay + len - p) - n + 1);
        if (!p)
            return NULL;
        if (memcmp(p, needle, n) == 0)
            return p;
    }
    return NULL;
}

/* A line that fits no template but holds an unlocked line inside a server line is read as
 * the two lines it was. Returns 1 if it did so. */
static int split_interleaved(imp *x, const char *line, size_t len) {
    for (size_t k = 0; k < sizeof unlocked_lines / sizeof unlocked_lines[0]; k++) {
        const char *frag = unlocked_lines[k];
        size_t flen = strlen(frag);
        const char *at = len > flen ? find_bytes(line, len, frag, flen) : NULL;
        if (!at)
            continue;
        size_t head = (size_t)(at - line), restlen = len - flen;
        char *rest = mem_alloc(restlen ? restlen : 1);
        if (!rest) {
            x->oom = 1;
            return 1;
        }
        memcpy(rest, line, head);
        memcpy(rest + head, at + flen, len - head - flen);
        srvline r, f;
        srvline_classify(rest, restlen, &r);
        if (r.kind == SRVLINE_OTHER || r.kind == SRVLINE_MALFORMED || r.kind == SRVLINE_EMPTY) {
            mem_free(rest);
            continue;
        }
        imp_warn(x, x->line, "'%s' from another thread is printed inside this line: read as two "
             "lines", frag);
        srvline_classify(frag, flen, &f);
        on_classified(x, &f, frag, flen);
        on_classified(x, &r, rest, restlen);
        mem_free(rest);
        return 1;
    }
    return 0;
}

static void on_line(imp *x, const char *line, size_t len) {
    srvline s;
    srvline_classify(line, len, &s);
    if ((s.kind == SRVLINE_MALFORMED || s.kind == SRVLINE_OTHER) && split_interleaved(x, line, len))
        return;
    on_classified(x, &s, line, len);
}

static void on_classified(imp *x, const srvline *sp, const char *line, size_t len) {
    import_result *r = x->r;
    srvline s = *sp;
    if (s.kind != SRVLINE_OTHER && s.kind != SRVLINE_EMPTY)
        r->server_lines++;
    if (s.kind == SRVLINE_MALFORMED) {
        char found[200];
        imp_warn(x, x->line, "expected '%s', found '%s'", s.expected,
             srvline_quote(line, len, found, sizeof found));
    }
    switch (s.kind) {
    case SRVLINE_DUMP_REQUEST:
    case SRVLINE_DUMP_TITLE:
    case SRVLINE_DUMP_TRACKED:
    case SRVLINE_DUMP_PERFECT:
    case SRVLINE_DUMP_DEVICE:
    case SRVLINE_DUMP_GROUP:
    case SRVLINE_DUMP_BUFFER:
    case SRVLINE_DUMP_TOTAL:
    case SRVLINE_DUMP_COMPLETE:
    case SRVLINE_MALFORMED:
        on_report_line(x, &s, line, len);
        return;
    case SRVLINE_DEAD_PID:
        on_dead_pid(x, &s);
        on_report_line(x, &s, line, len);
        return;
    case SRVLINE_DEAD_REMOVED_BUFFERS:
        on_dead_removed(x, &s);
        on_report_line(x, &s, line, len);
        return;
    case SRVLINE_ENH_HISTORY: /* part of a listed buffer in a dump; the ALREADY FREED line's */
    case SRVLINE_ENH_EVENT:   /* last events otherwise (no dump is being read then) */
        on_report_line(x, &s, line, len);
        return;
    case SRVLINE_ENH_ALREADY_FREED:
    case SRVLINE_ENH_FREE_UNTRACKED:
        x->event_lines++;
        on_free_unknown(x, &s);
        return;
    case SRVLINE_ENH_DF_BUFFER:
    case SRVLINE_ENH_DF_TOTALS:
        imp_enh_df_line(x, &s);
        return;
    case SRVLINE_ALLOC:
    case SRVLINE_ALLOC_REF:
        x->event_lines++;
        on_alloc(x, &s);
        return;
    case SRVLINE_FREE_REF:
    case SRVLINE_FREE_FINAL:
    case SRVLINE_FREE_PRE_V72:
        x->event_lines++;
        on_free(x, &s);
        return;
    case SRVLINE_FREE_UNKNOWN:
        x->event_lines++;
        on_free_unknown(x, &s);
        return;
    case SRVLINE_INVALID_TYPE_PID:
    case SRVLINE_INVALID_TYPE:
    case SRVLINE_INVALID_DEVICE:
    case SRVLINE_INVALID_SIZE:
        r->rejected++;
        return;
    case SRVLINE_UNKNOWN_TYPE:
    case SRVLINE_INVALID_TYPE_V128:
    case SRVLINE_TOO_MANY_ERRORS:
        r->unknown_types++;
        return;
    case SRVLINE_CB_ALLOC:
    case SRVLINE_CB_FREE:
    case SRVLINE_KERNEL_LOAD:
    case SRVLINE_KERNEL_UNLOAD:
        r->cb_kernel_lines++;
        imp_tl_cbk(x, &s);
        return;
    case SRVLINE_STATS_HEADER:
        r->stats_blocks++;
        return;
    case SRVLINE_BANNER_STARTED:
    case SRVLINE_ENH_BANNER:
        r->server_starts++;
        if (x->event_lines > 0)
            on_restart(x);
        return;
    case SRVLINE_DETECT_DEVICE:
        /* integer GB and MB as printed: a lower bound of the capacity, for plots only */
        if (x->o->want_timeline && s.device_id >= 0 && s.device_id < x->max_devices &&
            !x->capacity_done[s.device_id]) {
            x->capacity_done[s.device_id] = 1;
            sbuf_printf(&r->timeline_head, "#capacity %d %" PRIu64 " %" PRIu64 " 0 0\n",
                        (int)s.device_id, s.size << 30, s.count << 20);
        }
        return;
    default:
        return;
    }
}

static void finish_statuses(imp *x) {
    import_result *r = x->r;
    size_t last_dump_line = 0, last_dump = 0;
    for (size_t i = 0; i < r->ndumps; i++) {
        if (r->dumps[i].title_line > last_dump_line) {
            last_dump_line = r->dumps[i].title_line;
            last_dump = r->dumps[i].index;
        }
    }
    for (size_t i = 0; i < r->nbuffers; i++) {
        import_buffer *b = &r->buffers[i];
        if (b->live.n == 0) {
            if (b->lost.n)
                b->status = IMPORT_LOST;
            else
                b->status = b->cleaned.n ? IMPORT_CLEANED_UP : IMPORT_FULLY_FREED;
        } else if (last_dump && last_dump_line > b->last_line && b->last_dump == last_dump) {
            b->status = IMPORT_REMAINING;
        } else {
            b->status = IMPORT_LEAKED;
        }
    }
}

int import_run(const char *data, size_t len, const import_opts *o, import_result *r, char *err,
               size_t errlen) {
    imp x;
    import_opts defaults = {0};
    memset(r, 0, sizeof *r);
    memset(&x, 0, sizeof x);
    if (!o)
        o = &defaults;
    x.o = o;
    x.r = r;
    x.name = o->log_name ? o->log_name : "log";
    x.last_conn = -1;
    x.dumper = -1;

    /* pass 1 */
    rev_guess g = {SRVLINE_REVS_ALL, 0, 0};
    size_t line_no = 0;
    FOR_EACH_LINE(data, len, ptr, n, {
        srvline s;
        line_no++;
        srvline_classify(ptr, n, &s);
        rev_evidence(&g, &s, line_no);
        r->enhanced |= imp_enh_only_line(&s);
    });
    if (r->enhanced) { /* v72 frames; its hex ids and banner say nothing of the poc's builds */
        g.mask = SRVLINE_REV(PROTO_V72);
        g.conflict_line = 0;
    }
    r->rev_candidates = g.mask;
    if (o->force_rev) {
        r->rev = o->rev;
        r->rev_forced = 1;
    } else {
        r->rev = PROTO_V72;
        for (int k = 0; k < PROTO_REV_COUNT; k++) {
            if (g.mask & SRVLINE_REV(k)) {
                r->rev = (proto_rev)k;
                break;
            }
        }
    }
    x.max_devices = proto_rev_get(r->rev)->max_devices;
    if (g.conflict_line)
        imp_warn(&x, g.conflict_line, "this line cannot come from the same server build as the "
             "lines before it (mixed logs?); keeping %s", proto_rev_get(r->rev)->name);
    if (o->want_stream) {
        stream_init(&r->stream, r->rev);
        r->have_stream = 1;
    }
    x.parser = dumpview_parser_new();
    x.last = mem_calloc((size_t)x.max_devices, sizeof *x.last);
    x.capacity_done = mem_calloc((size_t)x.max_devices, 1);
    if (!x.parser || !x.last || !x.capacity_done || ledger_reset(&x) < 0)
        x.oom = 1;

    /* pass 2 */
    if (!x.oom) {
        FOR_EACH_LINE(data, len, ptr, n, {
            x.line++;
            on_line(&x, ptr, n);
            if (x.oom)
                break;
        });
    }
    r->lines = x.line;
    if (!x.oom) {
        dumpview_parser_phase ph = dumpview_parser_state(x.parser);
        if (ph == DUMPVIEW_BODY_DONE) {
            dump_finish(&x, 0);
        } else if (x.have_dump) {
            import_dump *d = dump_current(&x);
            imp_warn(&x, d->request_line ? d->request_line : d->title_line,
                 "dump %zu is cut off by the end of the log", d->index);
        }
        finish_statuses(&x);
        if (sbuf_failed(&r->timeline_rows) || sbuf_failed(&r->timeline_head))
            x.oom = 1;
    }

    /* release the working state */
    for (size_t i = 0; i < x.npinfo; i++)
        mem_free(x.pinfo[i].lcs);
    mem_free(x.pinfo);
    imp_map_release(&x.ids);
    imp_map_release(&x.pidmap);
    imp_map_release(&x.df_seen);
    dumpview_parser_free(x.parser);
    mem_free(x.last);
    mem_free(x.capacity_done);
    if (x.led)
        ledger_free(x.led);
    if (x.oom) {
        if (err && errlen)
            snprintf(err, errlen, "%s: out of memory", x.name);
        return -1;
    }
    return 0;
}

int import_file(const char *path, const import_opts *o, import_result *r, char *err,
                size_t errlen) {
    int fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    memset(r, 0, sizeof *r);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fd != STDIN_FILENO && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        snprintf(err, errlen, "%s: is a directory", path);
        return -1;
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = mem_alloc(cap);
    for (;;) {
        if (!buf) {
            if (fd != STDIN_FILENO)
                close(fd);
            snprintf(err, errlen, "%s: out of memory", path);
            return -1;
        }
        if (len == cap) {
            char *nb = mem_realloc(buf, cap * 2);
            if (!nb) {
                mem_free(buf);
                buf = NULL;
                continue;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t got = read(fd, buf + len, cap - len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            int e = errno;
            mem_free(buf);
            if (fd != STDIN_FILENO)
                close(fd);
            snprintf(err, errlen, "%s: cannot read: %s", path, strerror(e));
            return -1;
        }
        if (got == 0)
            break;
        len += (size_t)got;
    }
    if (fd != STDIN_FILENO)
        close(fd);
    import_opts local = o ? *o : (import_opts){0};
    if (!local.log_name)
        local.log_name = path;
    int rc = import_run(buf, len, &local, r, err, errlen);
    mem_free(buf);
    return rc;
}

void import_result_release(import_result *r) {
    if (!r)
        return;
    for (size_t i = 0; i < r->nbuffers; i++) {
        imp_devset_release(&r->buffers[i].allocated);
        imp_devset_release(&r->buffers[i].freed);
        imp_devset_release(&r->buffers[i].cleaned);
        imp_devset_release(&r->buffers[i].live);
        imp_devset_release(&r->buffers[i].lost);
    }
    mem_free(r->buffers);
    for (size_t i = 0; i < r->ndumps; i++) {
        dumpview_release(&r->dumps[i].view);
        dumpview_release(&r->dumps[i].expected);
        sbuf_release(&r->dumps[i].differences);
    }
    mem_free(r->dumps);
    mem_free(r->pids);
    size_t nw = r->nwarnings < IMPORT_MAX_NOTES ? r->nwarnings : IMPORT_MAX_NOTES;
    for (size_t i = 0; i < nw; i++)
        mem_free(r->warnings[i].text);
    mem_free(r->warnings);
    size_t nf = r->nfindings < IMPORT_MAX_NOTES ? r->nfindings : IMPORT_MAX_NOTES;
    for (size_t i = 0; i < nf; i++)
        mem_free(r->findings[i].text);
    mem_free(r->findings);
    sbuf_release(&r->timeline_rows);
    sbuf_release(&r->timeline_head);
    if (r->have_stream)
        stream_release(&r->stream);
    memset(r, 0, sizeof *r);
}

const char *import_status_name(import_status s) {
    switch (s) {
    case IMPORT_FULLY_FREED:
        return "FULLY FREED";
    case IMPORT_CLEANED_UP:
        return "CLEANED UP";
    case IMPORT_REMAINING:
        return "REMAINING";
    case IMPORT_LEAKED:
        return "LEAKED";
    case IMPORT_LOST:
        return "LOST";
    }
    return "?";
}
