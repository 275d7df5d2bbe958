/* import_report: what `allocsim import` writes from an import_result: the human report (the
 * per-buffer layout of the seed's verify_trace_buffer_source.py), the same data as JSON with
 * a fixed key order, the timeline TSV, and a scenario of raw `send` statements. Everything
 * here is a pure function of the result, so the same log always gives the same bytes.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "import.h"
#include "mem.h"
#include "srvline.h"

static void put_devset(sbuf *out, const import_devset *s) {
    sbuf_putc(out, '[');
    for (size_t i = 0; i < s->n; i++)
        sbuf_printf(out, "%s%d", i ? ", " : "", (int)s->v[i]);
    sbuf_putc(out, ']');
}

static const char *type_text(int t) {
    return t >= 0 && t <= 4 ? proto_buffer_type_name((uint8_t)t) : "unknown";
}

static int wanted(const import_buffer *b, const import_report_opts *o) {
    return !o || !o->have_buffer || b->buffer_id == o->buffer_id;
}

static void put_status(sbuf *out, const import_result *r, const import_buffer *b) {
    sbuf_printf(out, "  STATUS: %s", import_status_name(b->status));
    switch (b->status) {
    case IMPORT_CLEANED_UP:
        sbuf_printf(out, " (PID %d dead)", (int)b->cleaned_pid);
        break;
    case IMPORT_REMAINING:
        sbuf_printf(out, " at dump %zu (devices ", b->last_dump);
        put_devset(out, &b->live);
        sbuf_putc(out, ')');
        break;
    case IMPORT_LEAKED:
        sbuf_puts(out, " (devices ");
        put_devset(out, &b->live);
        sbuf_putc(out, ')');
        break;
    case IMPORT_LOST:
        sbuf_printf(out, " (server restarted at line %zu)", b->lost_line);
        break;
    default:
        break;
    }
    (void)r;
    sbuf_putc(out, '\n');
}

static void put_buffer(sbuf *out, const import_result *r, const import_buffer *b) {
    sbuf_printf(out, "Buffer ID %" PRIu64 " (0x%" PRIx64 "):\n", b->buffer_id, b->buffer_id);
    sbuf_printf(out, "  Size: %" PRIu64 " bytes (%.2f MB)  Type: %s  PID: %d\n", b->size,
                (double)b->size / (1024.0 * 1024.0), type_text(b->buffer_type), (int)b->pid);
    sbuf_puts(out, "  Allocated on devices: ");
    put_devset(out, &b->allocated);
    sbuf_puts(out, "\n  Freed on devices: ");
    put_devset(out, &b->freed);
    sbuf_putc(out, '\n');
    if (b->cleaned.n) {
        sbuf_puts(out, "  Cleaned up on devices: ");
        put_devset(out, &b->cleaned);
        sbuf_printf(out, " (PID %d dead)\n", (int)b->cleaned_pid);
    }
    if (b->lost.n) {
        sbuf_puts(out, "  Lost on devices: ");
        put_devset(out, &b->lost);
        sbuf_printf(out, " (server restarted at line %zu)\n", b->lost_line);
    }
    if (b->before_log)
        sbuf_puts(out, "  Allocated before the log starts on some devices\n");
    if (b->max_ref_count > 1)
        sbuf_printf(out, "  Highest ref_count: %d\n", (int)b->max_ref_count);
    sbuf_printf(out, "  Lines: %zu-%zu", b->first_line, b->last_line);
    if (b->dumps_listed)
        sbuf_printf(out, "; held by %zu dump%s (last: dump %zu)", b->dumps_listed,
                    b->dumps_listed == 1 ? "" : "s", b->last_dump);
    sbuf_putc(out, '\n');
    put_status(out, r, b);
}

static void put_dump_contents(sbuf *out, const dumpview *v) {
    size_t g = 0;
    sbuf_printf(out, "  Held %" PRIu64 " buffer%s", v->total_tracked, v->total_tracked == 1 ? "" : "s");
    sbuf_puts(out, v->perfect ? " (perfect cleanup)\n" : "\n");
    while (g < v->ngroups) {
        int32_t dev = v->groups[g].device_id;
        sbuf_printf(out, "    Device %d:", (int)dev);
        for (int first = 1; g < v->ngroups && v->groups[g].device_id == dev; g++, first = 0)
            sbuf_printf(out, "%s %s %" PRIu64 " (%s MB)", first ? "" : ",",
                        proto_buffer_type_name(v->groups[g].buffer_type), v->groups[g].count,
                        v->groups[g].mb);
        sbuf_putc(out, '\n');
    }
    for (size_t i = 0; i < v->ndead; i++)
        sbuf_printf(out, "    Dead PID %d cleaned up first (%" PRIu64 " buffers, %s MB)\n",
                    (int)v->dead[i].pid, v->dead[i].buffers, v->dead[i].mb);
}

static void put_notes(sbuf *out, const char *title, const import_note *notes, size_t total,
                      size_t max) {
    size_t kept = total < IMPORT_MAX_NOTES ? total : IMPORT_MAX_NOTES;
    sbuf_printf(out, "\n%s: %zu\n", title, total);
    for (size_t i = 0; i < kept && i < max; i++)
        sbuf_printf(out, "  %s\n", notes[i].text);
    if (total > max)
        sbuf_printf(out, "  ... %zu more\n", total - (max < kept ? max : kept));
}

static void put_revisions(sbuf *out, unsigned mask) {
    int first = 1;
    for (int k = 0; k < PROTO_REV_COUNT; k++) {
        if (mask & (1u << k)) {
            sbuf_printf(out, "%s%s", first ? "" : ", ", proto_rev_get((proto_rev)k)->name);
            first = 0;
        }
    }
}

void import_report_text(const import_result *r, const char *log_name,
                        const import_report_opts *o, sbuf *out) {
    size_t max_notes = o && o->max_notes ? o->max_notes : 50;
    size_t st[5] = {0};
    for (size_t i = 0; i < r->nbuffers; i++)
        st[r->buffers[i].status]++;
    sbuf_printf(out, "allocsim import: %s\n", log_name);
    sbuf_printf(out, "Protocol revision: %s", proto_rev_get(r->rev)->name);
    if (r->rev_forced) {
        sbuf_puts(out, " (from --protocol)\n");
    } else {
        sbuf_puts(out, " (detected; the log fits: ");
        put_revisions(out, r->rev_candidates);
        sbuf_puts(out, ")\n");
    }
    if (r->enhanced)
        sbuf_printf(out, "Server: allocation_server_enhanced (its own lines; v72 frames); %zu buffers reported "
                    "DOUBLE-FREED\n", r->double_freed);
    sbuf_printf(out, "Lines: %zu (%zu server lines)\n", r->lines, r->server_lines);
    sbuf_printf(out, "Events: %zu ALLOC, %zu ALLOC raising a ref_count, %zu FREE FINAL, %zu FREE "
                "with references left, %zu FREE of unknown buffers",
                r->allocs, r->alloc_refs, r->frees_final + r->frees_pre_v72, r->frees_ref,
                r->frees_unknown);
    sbuf_printf(out, ", %zu rejected, %zu dead PIDs cleaned up\n", r->rejected, r->dead_pids);
    sbuf_printf(out, "Processes: %zu", r->npids);
    for (size_t i = 0; i < r->npids && i < 16; i++)
        sbuf_printf(out, "%s%d", i ? ", " : " (", (int)r->pids[i]);
    sbuf_puts(out, r->npids > 16 ? ", ...)\n" : r->npids ? ")\n" : "\n");
    sbuf_printf(out, "Buffer lifecycles: %zu (%zu fully freed, %zu cleaned up, %zu remaining, "
                "%zu leaked, %zu lost at a restart)\n", r->nbuffers, st[IMPORT_FULLY_FREED],
                st[IMPORT_CLEANED_UP], st[IMPORT_REMAINING], st[IMPORT_LEAKED], st[IMPORT_LOST]);
    sbuf_printf(out, "Dumps: %zu", r->ndumps);
    size_t disagree = 0;
    for (size_t i = 0; i < r->ndumps; i++)
        disagree += r->dumps[i].parsed && !r->dumps[i].agrees;
    sbuf_printf(out, " (%zu disagree with the events)\n", disagree);

    for (size_t i = 0; i < r->nbuffers; i++) {
        if (!wanted(&r->buffers[i], o))
            continue;
        sbuf_putc(out, '\n');
        put_buffer(out, r, &r->buffers[i]);
    }
    for (size_t i = 0; i < r->ndumps; i++) {
        const import_dump *d = &r->dumps[i];
        sbuf_printf(out, "\nDump %zu (lines %zu-%zu):\n", d->index,
                    d->request_line ? d->request_line : d->title_line, d->end_line);
        if (!d->parsed) {
            sbuf_puts(out, "  Cut off: not checked\n");
            continue;
        }
        put_dump_contents(out, &d->view);
        if (d->agrees) {
            sbuf_printf(out, "  Check: agrees with the state rebuilt from lines 1-%zu\n",
                        d->title_line ? d->title_line - 1 : 0);
        } else {
            sbuf_printf(out, "  Check: DISAGREES with the state rebuilt from lines 1-%zu:\n",
                        d->title_line ? d->title_line - 1 : 0);
            const char *s = sbuf_str(&d->differences);
            while (*s) {
                const char *nl = strchr(s, '\n');
                size_t n = nl ? (size_t)(nl - s) : strlen(s);
                sbuf_printf(out, "    %.*s\n", (int)n, s);
                s += n + (nl ? 1 : 0);
            }
        }
    }
    put_notes(out, "Findings", r->findings, r->nfindings, max_notes);
    put_notes(out, "Warnings", r->warnings, r->nwarnings, max_notes);
}

/* ---- JSON --------------------------------------------------------------------------------- */

/* A JSON string. Bytes that are not valid UTF-8 (a log name from argv) become \u00NN, so the
 * output is always valid JSON. */
static void json_str(sbuf *out, const char *s) {
    static const char hex[] = "0123456789abcdef";
    size_t n = strlen(s);
    sbuf_putc(out, '"');
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t u = srvline_utf8_len(s + i, n - i);
        if (u > 1) {
            sbuf_append(out, s + i, u);
            i += u;
            continue;
        }
        if (c == '"' || c == '\\') {
            sbuf_putc(out, '\\');
            sbuf_putc(out, (char)c);
        } else if (c < 0x20 || u == 0) {
            sbuf_printf(out, "\\u00%c%c", hex[c >> 4], hex[c & 15]);
        } else {
            sbuf_putc(out, (char)c);
        }
        i++;
    }
    sbuf_putc(out, '"');
}

static void json_devset(sbuf *out, const import_devset *s) {
    sbuf_putc(out, '[');
    for (size_t i = 0; i < s->n; i++)
        sbuf_printf(out, "%s%d", i ? "," : "", (int)s->v[i]);
    sbuf_putc(out, ']');
}

static void json_notes(sbuf *out, const import_note *n, size_t total) {
    size_t kept = total < IMPORT_MAX_NOTES ? total : IMPORT_MAX_NOTES;
    sbuf_putc(out, '[');
    for (size_t i = 0; i < kept; i++) {
        sbuf_printf(out, "%s{\"line\":%zu,\"message\":", i ? "," : "", n[i].line);
        json_str(out, n[i].text);
        sbuf_putc(out, '}');
    }
    sbuf_putc(out, ']');
}

static void json_view(sbuf *out, const dumpview *v) {
    sbuf_printf(out, "{\"total\":%" PRIu64 ",\"perfect\":%s,\"complete\":%s,\"groups\":[",
                v->total_tracked, v->perfect ? "true" : "false", v->complete ? "true" : "false");
    for (size_t i = 0; i < v->ngroups; i++)
        sbuf_printf(out, "%s{\"device\":%d,\"type\":\"%s\",\"count\":%" PRIu64 ",\"mb\":\"%s\","
                    "\"listed\":%s}", i ? "," : "", (int)v->groups[i].device_id,
                    proto_buffer_type_name(v->groups[i].buffer_type), v->groups[i].count,
                    v->groups[i].mb, v->groups[i].listed ? "true" : "false");
    sbuf_puts(out, "],\"buffers\":[");
    for (size_t i = 0; i < v->nbuffers; i++)
        sbuf_printf(out, "%s{\"device\":%d,\"type\":\"%s\",\"buffer_id\":%" PRIu64 ",\"kb\":\"%s\","
                    "\"pid\":%d,\"ref_count\":%d}", i ? "," : "", (int)v->buffers[i].device_id,
                    proto_buffer_type_name(v->buffers[i].buffer_type), v->buffers[i].buffer_id,
                    v->buffers[i].kb, (int)v->buffers[i].pid, (int)v->buffers[i].ref_count);
    sbuf_puts(out, "],\"dead\":[");
    for (size_t i = 0; i < v->ndead; i++)
        sbuf_printf(out, "%s{\"pid\":%d,\"buffers\":%" PRIu64 ",\"mb\":\"%s\"}", i ? "," : "",
                    (int)v->dead[i].pid, v->dead[i].buffers, v->dead[i].mb);
    sbuf_puts(out, "]}");
}

void import_report_json(const import_result *r, const char *log_name,
                        const import_report_opts *o, sbuf *out) {
    sbuf_puts(out, "{\"log\":");
    json_str(out, log_name);
    sbuf_printf(out, ",\"revision\":\"%s\",\"revision_forced\":%s,\"revision_candidates\":[",
                proto_rev_get(r->rev)->name, r->rev_forced ? "true" : "false");
    int first = 1;
    for (int k = 0; k < PROTO_REV_COUNT; k++) {
        if (r->rev_candidates & (1u << k)) {
            sbuf_printf(out, "%s\"%s\"", first ? "" : ",", proto_rev_get((proto_rev)k)->name);
            first = 0;
        }
    }
    sbuf_printf(out, "],\"dialect\":\"%s\",\"double_freed\":%zu", r->enhanced ? "enhanced" : "poc", r->double_freed);
    sbuf_printf(out, ",\"lines\":%zu,\"server_lines\":%zu", r->lines, r->server_lines);
    sbuf_printf(out, ",\"events\":{\"alloc\":%zu,\"alloc_ref\":%zu,\"free_final\":%zu,"
                "\"free_ref\":%zu,\"free_unknown\":%zu,\"free_pre_v72\":%zu,\"rejected\":%zu,"
                "\"unknown_type\":%zu,\"cb_kernel\":%zu,\"dead_pids\":%zu,\"stats_blocks\":%zu,"
                "\"server_starts\":%zu}",
                r->allocs, r->alloc_refs, r->frees_final, r->frees_ref, r->frees_unknown,
                r->frees_pre_v72, r->rejected, r->unknown_types, r->cb_kernel_lines, r->dead_pids,
                r->stats_blocks, r->server_starts);
    sbuf_puts(out, ",\"pids\":[");
    for (size_t i = 0; i < r->npids; i++)
        sbuf_printf(out, "%s%d", i ? "," : "", (int)r->pids[i]);
    sbuf_puts(out, "],\"buffers\":[");
    first = 1;
    for (size_t i = 0; i < r->nbuffers; i++) {
        const import_buffer *b = &r->buffers[i];
        if (!wanted(b, o))
            continue;
        sbuf_printf(out, "%s{\"buffer_id\":%" PRIu64 ",\"buffer_id_hex\":\"0x%" PRIx64 "\","
                    "\"size\":%" PRIu64 ",\"type\":\"%s\",\"pid\":%d,\"allocated_on\":",
                    first ? "" : ",", b->buffer_id, b->buffer_id, b->size,
                    type_text(b->buffer_type), (int)b->pid);
        first = 0;
        json_devset(out, &b->allocated);
        sbuf_puts(out, ",\"freed_on\":");
        json_devset(out, &b->freed);
        sbuf_puts(out, ",\"cleaned_on\":");
        json_devset(out, &b->cleaned);
        sbuf_puts(out, ",\"live_on\":");
        json_devset(out, &b->live);
        sbuf_puts(out, ",\"lost_on\":");
        json_devset(out, &b->lost);
        sbuf_printf(out, ",\"before_log\":%s,\"max_ref_count\":%d,\"first_line\":%zu,"
                    "\"last_line\":%zu,\"dumps_listed\":%zu,\"last_dump\":%zu,\"status\":\"%s\"}",
                    b->before_log ? "true" : "false", (int)b->max_ref_count, b->first_line,
                    b->last_line, b->dumps_listed, b->last_dump, import_status_name(b->status));
    }
    sbuf_puts(out, "],\"dumps\":[");
    for (size_t i = 0; i < r->ndumps; i++) {
        const import_dump *d = &r->dumps[i];
        sbuf_printf(out, "%s{\"index\":%zu,\"request_line\":%zu,\"title_line\":%zu,"
                    "\"end_line\":%zu,\"parsed\":%s,\"agrees\":%s,\"held\":",
                    i ? "," : "", d->index, d->request_line, d->title_line, d->end_line,
                    d->parsed ? "true" : "false", d->parsed && d->agrees ? "true" : "false");
        json_view(out, &d->view);
        sbuf_puts(out, ",\"differences\":[");
        const char *s = sbuf_str(&d->differences);
        for (int k = 0; *s; k++) {
            const char *nl = strchr(s, '\n');
            size_t n = nl ? (size_t)(nl - s) : strlen(s);
            char *line = mem_strndup(s, n);
            sbuf_puts(out, k ? "," : "");
            json_str(out, line ? line : "");
            mem_free(line);
            s += n + (nl ? 1 : 0);
        }
        sbuf_puts(out, "]}");
    }
    sbuf_printf(out, "],\"findings_total\":%zu,\"findings\":", r->nfindings);
    json_notes(out, r->findings, r->nfindings);
    sbuf_printf(out, ",\"warnings_total\":%zu,\"warnings\":", r->nwarnings);
    json_notes(out, r->warnings, r->nwarnings);
    sbuf_puts(out, "}\n");
}

/* ---- files -------------------------------------------------------------------------------- */

static int write_file(const char *path, const sbuf *b, char *err, size_t errlen) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
        return -1;
    }
    size_t n = b->len ? fwrite(b->data, 1, b->len, f) : 0;
    int bad = n != b->len || ferror(f);
    if (fclose(f) != 0 || bad) {
        snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno ? errno : EIO));
        return -1;
    }
    return 0;
}

int import_write_timeline(const import_result *r, const char *log_name, const char *path,
                          char *err, size_t errlen) {
    sbuf b = SBUF_INIT;
    sbuf_puts(&b, "#allocsim-timeline v1\n#title import of ");
    for (const char *p = log_name; *p; p++)
        sbuf_putc(&b, (unsigned char)*p < 0x20 ? '?' : *p);
    sbuf_puts(&b, "\n#time_unit line\n");
    sbuf_append(&b, sbuf_str(&r->timeline_head), r->timeline_head.len);
    sbuf_puts(&b, "time\tdevice\tDRAM\tL1\tL1_SMALL\tTRACE\n");
    sbuf_append(&b, sbuf_str(&r->timeline_rows), r->timeline_rows.len);
    if (sbuf_failed(&b)) {
        sbuf_release(&b);
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    int rc = write_file(path, &b, err, errlen);
    sbuf_release(&b);
    return rc;
}

/* Virtual time between two consecutive events of the log in the written scenario: more than
 * the SCN_RUN_OP_NS (1 us) a send, dump or crash statement takes, so each event has its own
 * instant and the processes act in the log's order. */
#define IMPORT_SCN_SLOT_US 10u

typedef struct {
    sbuf text;
    uint64_t now_us; /* the process's virtual time after its last statement */
    int crashed;
} scn_proc_text;

/* Brings process p to virtual time t (us) with a wait, then counts its next statement. */
static void scn_at(scn_proc_text *p, uint64_t t) {
    if (t > p->now_us)
        sbuf_printf(&p->text, "  wait %" PRIu64 "us\n", t - p->now_us);
    p->now_us = (t > p->now_us ? t : p->now_us) + 1; /* the statement's SCN_RUN_OP_NS */
}

/* The k-th dump of the log that reached its title (the stream's k-th DUMP), or NULL. */
static const import_dump *scn_nth_dump(const import_result *r, size_t k) {
    for (size_t i = 0; i < r->ndumps; i++)
        if (r->dumps[i].title_line && k-- == 0)
            return &r->dumps[i];
    return NULL;
}

int import_write_scenario(const import_result *r, const char *log_name, const char *path,
                          char *err, size_t errlen) {
    const stream *s = &r->stream;
    if (!r->have_stream) {
        snprintf(err, errlen, "%s: the import was run without the stream", path);
        return -1;
    }
    scn_proc_text *procs = mem_calloc(s->nprocs ? s->nprocs : 1, sizeof *procs);
    if (!procs) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    size_t skipped = 0, events = 0, dumps = 0;
    for (size_t i = 0; i < s->nrecords; i++) {
        const stream_record *rec = &s->records[i];
        if (rec->id >= s->nprocs)
            continue;
        scn_proc_text *p = &procs[rec->id];
        uint64_t t = (uint64_t)(events + 1) * IMPORT_SCN_SLOT_US;
        proto_msg m;
        switch (rec->op) {
        case STREAM_OP_WRITE:
            if (!proto_decode(s->rev, s->payload + rec->offset, rec->len, &m))
                break;
            if (m.device_id < 0) {
                skipped++;
                sbuf_printf(&p->text, "  # device %d cannot be written as a send\n", (int)m.device_id);
                break;
            }
            scn_at(p, t);
            events++;
            if (m.type == PROTO_ALLOC)
                sbuf_printf(&p->text, "  send alloc dev %d size=%" PRIu64 " type=%s id=%" PRIu64 "\n",
                            (int)m.device_id, m.size, proto_buffer_type_name(m.buffer_type), m.buffer_id);
            else
                sbuf_printf(&p->text, "  send free dev %d id=%" PRIu64 "\n", (int)m.device_id, m.buffer_id);
            break;
        case STREAM_OP_DUMP: {
            scn_at(p, t);
            events++;
            sbuf_puts(&p->text, "  dump\n");
            const import_dump *d = scn_nth_dump(r, dumps++);
            if (d && d->parsed && d->view.perfect)
                sbuf_printf(&p->text, "  expect dump perfect             # log line %zu\n", d->title_line);
            else if (d && d->parsed)
                sbuf_printf(&p->text, "  expect dump total %" PRIu64 "             # log line %zu\n",
                            d->view.total_tracked, d->title_line);
            break;
        }
        case STREAM_OP_CRASH:
            if (p->crashed)
                break;
            scn_at(p, t);
            events++;
            sbuf_puts(&p->text, "  crash\n");
            p->crashed = 1; /* its last statement: the stream has nothing of it after this */
            break;
        default:
            break;
        }
    }
    /* Every process that did not crash lives on past the last event: a process whose block
     * ends exits, and the next dump would clean it up as dead, which the log's server did not. */
    uint64_t end = (uint64_t)(events + 1) * IMPORT_SCN_SLOT_US;
    for (uint32_t p = 0; p < s->nprocs; p++)
        if (!procs[p].crashed && procs[p].text.len && procs[p].now_us < end)
            sbuf_printf(&procs[p].text, "  wait %" PRIu64 "us\n", end - procs[p].now_us);
    sbuf b = SBUF_INIT;
    sbuf_puts(&b, "# Imported from ");
    for (const char *q = log_name; *q; q++)
        sbuf_putc(&b, (unsigned char)*q < 0x20 ? '?' : *q);
    sbuf_printf(&b, " by `allocsim import`.\n"
                    "# One process per PID sends the raw frames its log lines imply; a process `dumper`\n"
                    "# takes the dumps. Event n of the log happens at virtual time n x %uus (the waits),\n"
                    "# so the processes act in the log's order; a PID the server found dead crashes\n"
                    "# there. Each dump expects what the log's report said. Run it with --dry-run.\n",
                IMPORT_SCN_SLOT_US);
    if (r->enhanced)
        sbuf_puts(&b, "# The log is allocation_server_enhanced's: run it with --dialect enhanced (a reuse with\n"
                      "# another size keeps the new size there).\n");
    sbuf_printf(&b, "protocol %s\n", proto_rev_get(s->rev)->name);
    for (uint32_t p = 0; p < s->nprocs; p++) {
        if (!procs[p].text.len)
            continue;
        sbuf_puts(&b, "\nprocess ");
        for (const char *q = s->procs[p].name; *q; q++) /* pid-5: a name is letters, digits, _ */
            sbuf_putc(&b, *q == '-' ? '_' : *q);
        sbuf_putc(&b, '\n');
        sbuf_append(&b, procs[p].text.data, procs[p].text.len);
    }
    if (skipped)
        sbuf_printf(&b, "\n# %zu frames with negative device ids were left out\n", skipped);
    int failed = sbuf_failed(&b);
    for (uint32_t p = 0; p < s->nprocs; p++) {
        failed |= sbuf_failed(&procs[p].text);
        sbuf_release(&procs[p].text);
    }
    mem_free(procs);
    int rc = -1;
    if (failed)
        snprintf(err, errlen, "%s: out of memory", path);
    else
        rc = write_file(path, &b, err, errlen);
    sbuf_release(&b);
    return rc;
}
