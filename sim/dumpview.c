/* dumpview: parses, renders and compares DUMP_REMAINING reports (protocol.md §5.7, §5.8).
 *
 * The parser is a small state machine over classified lines (srvline): idle until the
 * request line, then the dead-process block and unrelated lines until the title, then the
 * report body, which the server prints under its lock and is therefore contiguous; the body
 * ends with "Total remaining buffers" or the perfect-cleanup line, and the view is handed out
 * at the completion line. Lines the server prints without the lock (another connection's
 * request or completion line, "Unknown message type", ...) may land anywhere and are skipped,
 * which is why a completion line is only accepted once the body has ended.
 */
#include "dumpview.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger.h"
#include "mem.h"
#include "proto.h"
#include "srvline.h"

struct dumpview_parser {
    dumpview_parser_phase phase;
    dumpview v;
    size_t gcap, bcap, dcap;
    int have_device;
    int32_t device;
    int have_group; /* the last group (v.groups[ngroups - 1]) takes buffer lines */
};

static void view_clear(dumpview *v) { memset(v, 0, sizeof *v); }

void dumpview_release(dumpview *v) {
    if (!v)
        return;
    mem_free(v->groups);
    mem_free(v->buffers);
    mem_free(v->dead);
    view_clear(v);
}

dumpview_parser *dumpview_parser_new(void) {
    dumpview_parser *p = mem_calloc(1, sizeof *p);
    return p;
}

static void parser_reset(dumpview_parser *p) {
    dumpview_release(&p->v);
    p->gcap = p->bcap = p->dcap = 0;
    p->phase = DUMPVIEW_IDLE;
    p->have_device = 0;
    p->have_group = 0;
}

void dumpview_parser_free(dumpview_parser *p) {
    if (!p)
        return;
    parser_reset(p);
    mem_free(p);
}

dumpview_parser_phase dumpview_parser_state(const dumpview_parser *p) { return p->phase; }

/* Grows *arr (elements of size elem) to hold one more than *n. 0, or -1 out of memory. */
static int grow(void **arr, size_t *cap, size_t n, size_t elem) {
    if (n < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 8;
    void *q = mem_realloc(*arr, ncap * elem);
    if (!q)
        return -1;
    *arr = q;
    *cap = ncap;
    return 0;
}

static void copy_num(char *dst, const srvline_text *t) {
    size_t n = t->len < 31 ? t->len : 31; /* srvline caps numbers at 31 characters */
    memcpy(dst, t->ptr, n);
    dst[n] = '\0';
}

static int fail(char *err, size_t errlen, const char *expected, const char *line, size_t len) {
    char found[160];
    if (err && errlen)
        snprintf(err, errlen, "expected '%s', found '%s'", expected,
                 srvline_quote(line, len, found, sizeof found));
    return -1;
}

static int oom(char *err, size_t errlen) {
    if (err && errlen)
        snprintf(err, errlen, "out of memory");
    return -1;
}

static int is_report_kind(srvline_kind k) {
    switch (k) {
    case SRVLINE_DUMP_TRACKED:
    case SRVLINE_DUMP_DEVICE:
    case SRVLINE_DUMP_GROUP:
    case SRVLINE_DUMP_BUFFER:
    case SRVLINE_DUMP_TOTAL:
    case SRVLINE_DEAD_PID:
    case SRVLINE_DEAD_REMOVED_BUFFERS:
        return 1;
    default:
        return 0;
    }
}

static void start_body(dumpview_parser *p) {
    p->phase = DUMPVIEW_BODY;
    p->have_device = 0;
    p->have_group = 0;
}

static int dead_line(dumpview_parser *p, const srvline *s, char *err, size_t errlen) {
    dumpview *v = &p->v;
    if ((s->kind == SRVLINE_DEAD_REMOVED_CBS || s->kind == SRVLINE_DEAD_REMOVED_KERNELS) && v->ndead > 0 &&
        v->dead[v->ndead - 1].pid == s->pid) {
        dumpview_dead *d = &v->dead[v->ndead - 1];
        int cb = s->kind == SRVLINE_DEAD_REMOVED_CBS;
        *(cb ? &d->cbs : &d->kernels) = s->count;
        copy_num(cb ? d->cb_mb : d->kernel_mb, &s->num);
        return 0;
    }
    if (s->kind == SRVLINE_DEAD_REMOVED_CBS || s->kind == SRVLINE_DEAD_REMOVED_KERNELS)
        return 0; /* no PID line before it: not part of a block */
    if (s->kind == SRVLINE_DEAD_REMOVED_BUFFERS && v->ndead > 0 &&
        v->dead[v->ndead - 1].pid == s->pid) {
        v->dead[v->ndead - 1].buffers = s->count;
        copy_num(v->dead[v->ndead - 1].mb, &s->num);
        return 0;
    }
    if (grow((void **)&v->dead, &p->dcap, v->ndead, sizeof *v->dead) < 0)
        return oom(err, errlen);
    dumpview_dead *d = &v->dead[v->ndead++];
    memset(d, 0, sizeof *d);
    d->pid = s->pid;
    if (s->kind == SRVLINE_DEAD_REMOVED_BUFFERS) {
        d->buffers = s->count;
        copy_num(d->mb, &s->num);
    } else {
        strcpy(d->mb, "0");
    }
    return 0;
}

static int body_line(dumpview_parser *p, const srvline *s, const char *line, size_t len,
                     char *err, size_t errlen) {
    dumpview *v = &p->v;
    switch (s->kind) {
    case SRVLINE_DUMP_TRACKED:
        v->total_tracked = s->count;
        return 0;
    case SRVLINE_DUMP_PERFECT:
        v->perfect = 1;
        p->phase = DUMPVIEW_BODY_DONE;
        return 0;
    case SRVLINE_DUMP_DEVICE:
        p->have_device = 1;
        p->have_group = 0;
        p->device = s->device_id;
        return 0;
    case SRVLINE_DUMP_GROUP: {
        if (!p->have_device)
            return fail(err, errlen, "Device «dev»:", line, len);
        if (grow((void **)&v->groups, &p->gcap, v->ngroups, sizeof *v->groups) < 0)
            return oom(err, errlen);
        dumpview_group *g = &v->groups[v->ngroups++];
        memset(g, 0, sizeof *g);
        g->device_id = p->device;
        g->buffer_type = (uint8_t)s->buffer_type;
        g->count = s->count;
        copy_num(g->mb, &s->num);
        g->listed = s->count <= 10;
        p->have_group = 1;
        return 0;
    }
    case SRVLINE_DUMP_BUFFER: {
        if (!p->have_group)
            return fail(err, errlen, "  «TYPE»: «n» buffers, «MB» MB total", line, len);
        if (grow((void **)&v->buffers, &p->bcap, v->nbuffers, sizeof *v->buffers) < 0)
            return oom(err, errlen);
        const dumpview_group *g = &v->groups[v->ngroups - 1];
        dumpview_buffer *b = &v->buffers[v->nbuffers++];
        memset(b, 0, sizeof *b);
        b->device_id = g->device_id;
        b->buffer_type = g->buffer_type;
        b->buffer_id = s->buffer_id;
        copy_num(b->kb, &s->num);
        b->pid = s->pid;
        b->ref_count = s->ref_count;
        return 0;
    }
    case SRVLINE_DUMP_TOTAL:
        if (s->count != v->total_tracked) {
            char expected[80];
            snprintf(expected, sizeof expected, "Total remaining buffers: %llu",
                     (unsigned long long)v->total_tracked);
            return fail(err, errlen, expected, line, len);
        }
        p->phase = DUMPVIEW_BODY_DONE;
        return 0;
    case SRVLINE_DEAD_PID:
    case SRVLINE_DEAD_REMOVED_BUFFERS:
    case SRVLINE_DEAD_REMOVED_CBS:
    case SRVLINE_DEAD_REMOVED_KERNELS:
        return dead_line(p, s, err, errlen);
    default:
        return 0;
    }
}

int dumpview_parser_line(dumpview_parser *p, const char *line, size_t len, char *err,
                         size_t errlen) {
    srvline s;
    srvline_classify(line, len, &s);
    if (s.kind == SRVLINE_MALFORMED) {
        if (p->phase != DUMPVIEW_IDLE && is_report_kind(s.expected_kind))
            return fail(err, errlen, s.expected, line, len);
        return 0;
    }
    switch (p->phase) {
    case DUMPVIEW_IDLE:
        if (s.kind == SRVLINE_DUMP_REQUEST) {
            parser_reset(p);
            p->phase = DUMPVIEW_REQUESTED;
        } else if (s.kind == SRVLINE_DUMP_TITLE) {
            /* the request line was lost or cut off: the report still parses */
            parser_reset(p);
            start_body(p);
        }
        return 0;
    case DUMPVIEW_REQUESTED:
        if (s.kind == SRVLINE_DEAD_PID || s.kind == SRVLINE_DEAD_REMOVED_BUFFERS ||
            s.kind == SRVLINE_DEAD_REMOVED_CBS || s.kind == SRVLINE_DEAD_REMOVED_KERNELS)
            return dead_line(p, &s, err, errlen);
        if (s.kind == SRVLINE_DUMP_TITLE)
            start_body(p);
        else if (is_report_kind(s.kind) || s.kind == SRVLINE_DUMP_PERFECT)
            return fail(err, errlen, "║           REMAINING ALLOCATED BUFFERS                       ║",
                        line, len);
        return 0;
    case DUMPVIEW_BODY:
        return body_line(p, &s, line, len, err, errlen);
    case DUMPVIEW_BODY_DONE:
        if (s.kind == SRVLINE_DUMP_COMPLETE) {
            p->v.complete = 1;
            return 1;
        }
        if (is_report_kind(s.kind) && s.kind != SRVLINE_DEAD_PID &&
            s.kind != SRVLINE_DEAD_REMOVED_BUFFERS)
            return fail(err, errlen, "📋 DUMP_REMAINING complete.", line, len);
        return 0;
    }
    return 0;
}

static int cmp_group(const void *a, const void *b) {
    const dumpview_group *x = a, *y = b;
    if (x->device_id != y->device_id)
        return x->device_id < y->device_id ? -1 : 1;
    if (x->buffer_type != y->buffer_type)
        return x->buffer_type < y->buffer_type ? -1 : 1;
    return 0;
}

static int cmp_buffer(const void *a, const void *b) {
    const dumpview_buffer *x = a, *y = b;
    if (x->device_id != y->device_id)
        return x->device_id < y->device_id ? -1 : 1;
    if (x->buffer_type != y->buffer_type)
        return x->buffer_type < y->buffer_type ? -1 : 1;
    if (x->buffer_id != y->buffer_id)
        return x->buffer_id < y->buffer_id ? -1 : 1;
    return 0;
}

void dumpview_parser_take(dumpview_parser *p, dumpview *out) {
    *out = p->v;
    if (out->ngroups > 1)
        qsort(out->groups, out->ngroups, sizeof *out->groups, cmp_group);
    if (out->nbuffers > 1)
        qsort(out->buffers, out->nbuffers, sizeof *out->buffers, cmp_buffer);
    view_clear(&p->v);
    p->gcap = p->bcap = p->dcap = 0;
    p->phase = DUMPVIEW_IDLE;
    p->have_device = 0;
    p->have_group = 0;
}

int dumpview_parse_text(const char *text, size_t len, dumpview *out, char *err, size_t errlen) {
    dumpview_parser *p = dumpview_parser_new();
    char msg[400];
    size_t line_no = 0, pos = 0;
    view_clear(out);
    if (!p)
        return oom(err, errlen);
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len;
        line_no++;
        int r = dumpview_parser_line(p, text + pos, end - pos, msg, sizeof msg);
        pos = nl ? end + 1 : len;
        if (r < 0) {
            if (err && errlen)
                snprintf(err, errlen, "line %zu: %s", line_no, msg);
            dumpview_parser_free(p);
            return -1;
        }
        if (r == 1)
            break;
    }
    dumpview_parser_phase phase = p->phase;
    if (phase == DUMPVIEW_BODY_DONE || p->v.complete) {
        dumpview_parser_take(p, out);
        dumpview_parser_free(p);
        return 0;
    }
    dumpview_parser_free(p);
    if (err && errlen) {
        if (phase == DUMPVIEW_IDLE)
            snprintf(err, errlen, "line %zu: expected '📋 Received DUMP_REMAINING request...', "
                     "found end of text", line_no + 1);
        else if (phase == DUMPVIEW_REQUESTED)
            snprintf(err, errlen, "line %zu: expected the report title "
                     "'║           REMAINING ALLOCATED BUFFERS                       ║', found end of text",
                     line_no + 1);
        else
            snprintf(err, errlen, "line %zu: expected 'Total remaining buffers: «N»', found end "
                     "of text", line_no + 1);
    }
    return -1;
}

int dumpview_from_ledger(const struct ledger *l, dumpview *out) {
    ledger_entry *e = NULL;
    size_t n = ledger_entries(l, &e), gcap = 0, bcap = 0;
    view_clear(out);
    if (n == (size_t)-1)
        return -1;
    out->total_tracked = n;
    out->perfect = n == 0;
    out->complete = 1;
    /* entries come sorted by (device, type, id): each run of equal (device, type) is a group */
    for (size_t i = 0; i < n;) {
        size_t j = i;
        uint64_t sum = 0;
        while (j < n && e[j].device_id == e[i].device_id && e[j].buffer_type == e[i].buffer_type)
            sum += e[j++].size;
        if (grow((void **)&out->groups, &gcap, out->ngroups, sizeof *out->groups) < 0)
            goto oom;
        dumpview_group *g = &out->groups[out->ngroups++];
        memset(g, 0, sizeof *g);
        g->device_id = e[i].device_id;
        g->buffer_type = e[i].buffer_type;
        g->count = j - i;
        g->listed = g->count <= 10;
        ledger_format_mb(g->mb, sizeof g->mb, sum);
        for (size_t k = i; g->listed && k < j; k++) {
            if (grow((void **)&out->buffers, &bcap, out->nbuffers, sizeof *out->buffers) < 0)
                goto oom;
            dumpview_buffer *b = &out->buffers[out->nbuffers++];
            memset(b, 0, sizeof *b);
            b->device_id = e[k].device_id;
            b->buffer_type = e[k].buffer_type;
            b->buffer_id = e[k].buffer_id;
            ledger_format_kb(b->kb, sizeof b->kb, e[k].size);
            b->pid = e[k].owner_pid;
            b->ref_count = e[k].ref_count;
        }
        i = j;
    }
    mem_free(e);
    return 0;
oom:
    mem_free(e);
    dumpview_release(out);
    return -1;
}

/* ---- rendering ------------------------------------------------------------------------ */

/* "PID 123" or the mapped name: writes the pid's display text into buf. */
static const char *pid_text(dumpview_pid_name_fn name, void *ctx, int32_t pid, char *buf,
                            size_t n) {
    const char *s = name ? name(ctx, pid) : NULL;
    if (s)
        return s;
    snprintf(buf, n, "%d", (int)pid);
    return buf;
}

static void put_frame(sbuf *out, const char *left, const char *right) {
    sbuf_puts(out, left);
    for (int i = 0; i < 62; i++)
        sbuf_puts(out, "═");
    sbuf_puts(out, right);
    sbuf_putc(out, '\n');
}

static int buffer_before_group(const dumpview_buffer *b, const dumpview_group *g) {
    if (b->device_id != g->device_id)
        return b->device_id < g->device_id;
    return b->buffer_type < g->buffer_type;
}

void dumpview_render(const dumpview *v, dumpview_pid_name_fn name, void *ctx, sbuf *out) {
    char pb[16];
    sbuf_puts(out, "📋 Received DUMP_REMAINING request...\n");
    if (v->ndead > 0) {
        sbuf_puts(out, "\n⚠️  Detected dead processes, cleaning up orphaned buffers...\n");
        for (size_t i = 0; i < v->ndead; i++) {
            const char *pid = pid_text(name, ctx, v->dead[i].pid, pb, sizeof pb);
            sbuf_printf(out, "   PID %s is dead, removing its buffers...\n", pid);
            sbuf_printf(out, "   ✓ Removed %llu buffers (%s MB) from PID %s\n",
                        (unsigned long long)v->dead[i].buffers, v->dead[i].mb, pid);
            if (v->dead[i].cbs)
                sbuf_printf(out, "   ✓ Removed %llu CBs (%s MB) from PID %s\n",
                            (unsigned long long)v->dead[i].cbs, v->dead[i].cb_mb, pid);
            if (v->dead[i].kernels)
                sbuf_printf(out, "   ✓ Removed %llu kernels (%s MB) from PID %s\n",
                            (unsigned long long)v->dead[i].kernels, v->dead[i].kernel_mb, pid);
        }
        sbuf_putc(out, '\n');
    }
    sbuf_putc(out, '\n');
    put_frame(out, "╔", "╗");
    sbuf_puts(out, "║           REMAINING ALLOCATED BUFFERS                       ║\n");
    put_frame(out, "╚", "╝");
    sbuf_printf(out, "Total tracked allocations: %llu\n\n", (unsigned long long)v->total_tracked);
    size_t b = 0;
    for (size_t g = 0; g < v->ngroups; g++) {
        const dumpview_group *gr = &v->groups[g];
        if (g == 0 || v->groups[g - 1].device_id != gr->device_id)
            sbuf_printf(out, "Device %d:\n", (int)gr->device_id);
        sbuf_printf(out, "  %s: %llu buffers, %s MB total\n",
                    proto_buffer_type_name(gr->buffer_type), (unsigned long long)gr->count, gr->mb);
        /* buffers are sorted like groups: skip any that belong to no printed group */
        while (b < v->nbuffers && buffer_before_group(&v->buffers[b], gr))
            b++;
        for (; b < v->nbuffers && v->buffers[b].device_id == gr->device_id &&
               v->buffers[b].buffer_type == gr->buffer_type;
             b++) {
            const dumpview_buffer *bu = &v->buffers[b];
            sbuf_printf(out, "    - Buffer 0x%llx: %s KB (PID %s, ref_count=%d)\n",
                        (unsigned long long)bu->buffer_id, bu->kb,
                        pid_text(name, ctx, bu->pid, pb, sizeof pb), (int)bu->ref_count);
        }
        if (g + 1 == v->ngroups || v->groups[g + 1].device_id != gr->device_id)
            sbuf_putc(out, '\n');
    }
    /* a server prints groups or the perfect line; a view holding both renders both */
    if (v->perfect)
        sbuf_puts(out, "✓ No buffers remaining - perfect cleanup!\n");
    else
        sbuf_printf(out, "Total remaining buffers: %llu\n\n", (unsigned long long)v->total_tracked);
    if (v->complete)
        sbuf_puts(out, "📋 DUMP_REMAINING complete.\n");
}

/* ---- comparison ----------------------------------------------------------------------- */

typedef struct {
    sbuf *diff;
    unsigned n;
} diffs;

#define DUMPVIEW_MAX_DIFFS 20

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void add_diff(diffs *d, const char *fmt, ...) {
    d->n++;
    if (d->n > DUMPVIEW_MAX_DIFFS || !d->diff)
        return;
    va_list ap;
    va_start(ap, fmt);
    sbuf_vprintf(d->diff, fmt, ap);
    va_end(ap);
    sbuf_putc(d->diff, '\n');
}

typedef struct {
    dumpview_pid_name_fn fn;
    void *ctx;
} mapper;

static const char *map_pid(const mapper *m, int32_t pid, char *buf, size_t n) {
    const char *s = m->fn ? m->fn(m->ctx, pid) : NULL;
    if (s)
        snprintf(buf, n, "%s", s);
    else
        snprintf(buf, n, "PID %d", (int)pid);
    return buf;
}

static const dumpview_group *find_group(const dumpview *v, int32_t dev, uint8_t type) {
    dumpview_group key = {.device_id = dev, .buffer_type = type};
    return v->ngroups ? bsearch(&key, v->groups, v->ngroups, sizeof key, cmp_group) : NULL;
}

static int group_listed(const dumpview *v, int32_t dev, uint8_t type) {
    const dumpview_group *g = find_group(v, dev, type);
    return !g || g->listed;
}

static void describe_buffer(const dumpview_buffer *b, const mapper *m, char *buf, size_t n) {
    char pb[80];
    snprintf(buf, n, "buffer 0x%llx on device %d (%s, %s KB, %s, ref_count=%d)",
             (unsigned long long)b->buffer_id, (int)b->device_id,
             proto_buffer_type_name(b->buffer_type), b->kb, map_pid(m, b->pid, pb, sizeof pb),
             (int)b->ref_count);
}

static void compare_buffers(const dumpview *e, const mapper *em, const dumpview *a,
                            const mapper *am, diffs *d) {
    size_t i = 0, j = 0;
    char desc[256], p1[80], p2[80];
    while (i < e->nbuffers || j < a->nbuffers) {
        int c;
        if (i == e->nbuffers)
            c = 1;
        else if (j == a->nbuffers)
            c = -1;
        else
            c = cmp_buffer(&e->buffers[i], &a->buffers[j]);
        if (c < 0) {
            const dumpview_buffer *b = &e->buffers[i++];
            if (!group_listed(a, b->device_id, b->buffer_type))
                continue; /* the other side printed only the summary line */
            describe_buffer(b, em, desc, sizeof desc);
            add_diff(d, "missing %s", desc);
        } else if (c > 0) {
            const dumpview_buffer *b = &a->buffers[j++];
            if (!group_listed(e, b->device_id, b->buffer_type))
                continue;
            describe_buffer(b, am, desc, sizeof desc);
            add_diff(d, "extra %s", desc);
        } else {
            const dumpview_buffer *x = &e->buffers[i++], *y = &a->buffers[j++];
            snprintf(desc, sizeof desc, "buffer 0x%llx on device %d (%s)",
                     (unsigned long long)x->buffer_id, (int)x->device_id,
                     proto_buffer_type_name(x->buffer_type));
            if (x->ref_count != y->ref_count)
                add_diff(d, "%s: ref_count expected %d, found %d", desc, (int)x->ref_count,
                         (int)y->ref_count);
            map_pid(em, x->pid, p1, sizeof p1);
            map_pid(am, y->pid, p2, sizeof p2);
            if (strcmp(p1, p2) != 0)
                add_diff(d, "%s: owner expected %s, found %s", desc, p1, p2);
            if (strcmp(x->kb, y->kb) != 0)
                add_diff(d, "%s: size expected %s KB, found %s KB", desc, x->kb, y->kb);
        }
    }
}

static void compare_groups(const dumpview *e, const dumpview *a, diffs *d) {
    size_t i = 0, j = 0;
    while (i < e->ngroups || j < a->ngroups) {
        int c;
        if (i == e->ngroups)
            c = 1;
        else if (j == a->ngroups)
            c = -1;
        else
            c = cmp_group(&e->groups[i], &a->groups[j]);
        if (c < 0) {
            const dumpview_group *g = &e->groups[i++];
            add_diff(d, "missing group %s on device %d (%llu buffers, %s MB)",
                     proto_buffer_type_name(g->buffer_type), (int)g->device_id,
                     (unsigned long long)g->count, g->mb);
        } else if (c > 0) {
            const dumpview_group *g = &a->groups[j++];
            add_diff(d, "extra group %s on device %d (%llu buffers, %s MB)",
                     proto_buffer_type_name(g->buffer_type), (int)g->device_id,
                     (unsigned long long)g->count, g->mb);
        } else {
            const dumpview_group *x = &e->groups[i++], *y = &a->groups[j++];
            const char *t = proto_buffer_type_name(x->buffer_type);
            if (x->count != y->count)
                add_diff(d, "group %s on device %d: expected %llu buffers, found %llu", t,
                         (int)x->device_id, (unsigned long long)x->count,
                         (unsigned long long)y->count);
            if (strcmp(x->mb, y->mb) != 0)
                add_diff(d, "group %s on device %d: expected %s MB total, found %s MB", t,
                         (int)x->device_id, x->mb, y->mb);
        }
    }
}

/* The k-th entry of v whose pid maps to name, or NULL. */
static const dumpview_dead *nth_dead(const dumpview *v, const mapper *m, const char *name,
                                     size_t k) {
    char pb[80];
    for (size_t j = 0; j < v->ndead; j++)
        if (strcmp(map_pid(m, v->dead[j].pid, pb, sizeof pb), name) == 0 && k-- == 0)
            return &v->dead[j];
    return NULL;
}

/* How many entries before v->dead[i] map to the same name as it. */
static size_t dead_occurrence(const dumpview *v, const mapper *m, size_t i, const char *name) {
    char pb[80];
    size_t k = 0;
    for (size_t j = 0; j < i; j++)
        k += strcmp(map_pid(m, v->dead[j].pid, pb, sizeof pb), name) == 0;
    return k;
}

/* Dead-process entries are matched by mapped name; a name cleaned up twice (the block is
 * printed by every cleanup pass) is matched occurrence by occurrence. */
static void compare_dead(const dumpview *e, const mapper *em, const dumpview *a,
                         const mapper *am, diffs *d) {
    char name[80];
    for (size_t i = 0; i < e->ndead; i++) {
        const dumpview_dead *x = &e->dead[i];
        map_pid(em, x->pid, name, sizeof name);
        const dumpview_dead *y = nth_dead(a, am, name, dead_occurrence(e, em, i, name));
        if (!y) {
            add_diff(d, "missing dead-process cleanup of %s (%llu buffers, %s MB)", name,
                     (unsigned long long)x->buffers, x->mb);
            continue;
        }
        if (x->buffers != y->buffers || strcmp(x->mb, y->mb) != 0)
            add_diff(d, "dead-process cleanup of %s: expected %llu buffers (%s MB), found %llu "
                     "(%s MB)", name, (unsigned long long)x->buffers, x->mb,
                     (unsigned long long)y->buffers, y->mb);
        if (x->cbs != y->cbs || x->kernels != y->kernels)
            add_diff(d, "dead-process cleanup of %s: expected %llu CBs and %llu kernels removed, "
                     "found %llu and %llu", name, (unsigned long long)x->cbs,
                     (unsigned long long)x->kernels, (unsigned long long)y->cbs,
                     (unsigned long long)y->kernels);
    }
    for (size_t j = 0; j < a->ndead; j++) {
        map_pid(am, a->dead[j].pid, name, sizeof name);
        if (!nth_dead(e, em, name, dead_occurrence(a, am, j, name)))
            add_diff(d, "extra dead-process cleanup of %s (%llu buffers, %s MB)", name,
                     (unsigned long long)a->dead[j].buffers, a->dead[j].mb);
    }
}

int dumpview_compare(const dumpview *expected, dumpview_pid_name_fn ename, void *ectx,
                     const dumpview *actual, dumpview_pid_name_fn aname, void *actx, sbuf *diff) {
    diffs d = {diff, 0};
    mapper em = {ename, ectx}, am = {aname, actx};
    if (expected->total_tracked != actual->total_tracked)
        add_diff(&d, "total tracked allocations: expected %llu, found %llu",
                 (unsigned long long)expected->total_tracked,
                 (unsigned long long)actual->total_tracked);
    if (expected->perfect != actual->perfect)
        add_diff(&d, expected->perfect ? "expected '✓ No buffers remaining - perfect cleanup!', "
                                         "not printed"
                                       : "unexpected '✓ No buffers remaining - perfect cleanup!'");
    compare_dead(expected, &em, actual, &am, &d);
    compare_groups(expected, actual, &d);
    compare_buffers(expected, &em, actual, &am, &d);
    if (expected->complete && !actual->complete)
        add_diff(&d, "report incomplete: no '📋 DUMP_REMAINING complete.' line");
    if (d.n > DUMPVIEW_MAX_DIFFS && diff)
        sbuf_printf(diff, "... and %u more differences\n", d.n - DUMPVIEW_MAX_DIFFS);
    return d.n ? 1 : 0;
}
