/* import_stream: the importer's replayable stream and timeline rows.
 *
 * Every event line's message is appended to a .allocstream with one process per PID (spawned
 * on its first event), a FENCE whenever the writing connection changes, a DUMP from a
 * separate "dumper" process, and CLOSE + CRASH when the server cleans a PID up as dead. The
 * timeline gets one row per device whose counters changed, time = log line number.
 */
#include "import_int.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "sbuf.h"

/* ---- pids and the stream ------------------------------------------------------------------ */

pidinfo *imp_pid_find(imp *x, int32_t pid) {
    uint32_t idx;
    return imp_map_get(&x->pidmap, (uint32_t)pid, &idx) ? &x->pinfo[idx] : NULL;
}

pidinfo *imp_pid_get(imp *x, int32_t pid) {
    uint32_t idx;
    if (imp_map_get(&x->pidmap, (uint32_t)pid, &idx))
        return &x->pinfo[idx];
    if (x->npinfo == x->pinfo_cap) {
        size_t ncap = x->pinfo_cap ? x->pinfo_cap * 2 : 16;
        pidinfo *nv = mem_realloc(x->pinfo, ncap * sizeof *nv);
        int32_t *np = mem_realloc(x->r->pids, ncap * sizeof *np);
        if (nv)
            x->pinfo = nv;
        if (np)
            x->r->pids = np;
        if (!nv || !np) {
            x->oom = 1;
            return NULL;
        }
        x->pinfo_cap = ncap;
    }
    if (imp_map_put(&x->pidmap, (uint32_t)pid, (uint32_t)x->npinfo) < 0) {
        x->oom = 1;
        return NULL;
    }
    pidinfo *p = &x->pinfo[x->npinfo];
    memset(p, 0, sizeof *p);
    p->pid = pid;
    p->proc = -1;
    x->r->pids[x->npinfo] = pid;
    x->npinfo++;
    x->r->npids = x->npinfo;
    return p;
}

static void st_check(imp *x, int rc) {
    if (rc < 0)
        x->oom = 1;
}

static int st_new_proc(imp *x, int32_t recorded_pid, const char *name) {
    stream *s = &x->r->stream;
    if (s->nprocs >= UINT16_MAX) { /* records name processes with a u16 */
        if (!x->stream_full)
            imp_warn(x, x->line, "more than %u processes: the stream leaves out the later ones",
                 (unsigned)UINT16_MAX);
        x->stream_full = 1;
        return -1;
    }
    int proc = stream_add_proc(s, recorded_pid, name);
    if (proc < 0) {
        x->oom = 1;
        return -1;
    }
    st_check(x, stream_append(s, STREAM_OP_SPAWN, 0, (uint16_t)proc, NULL, 0));
    st_check(x, stream_append_connect(s, (uint16_t)proc, (uint16_t)proc));
    return proc;
}

/* A FENCE on the connection written last, when it has writes not yet confirmed. */
static void st_fence(imp *x) {
    if (x->unfenced && x->last_conn >= 0)
        st_check(x, stream_append(&x->r->stream, STREAM_OP_FENCE, 0, (uint16_t)x->last_conn,
                                  NULL, 0));
    x->unfenced = 0;
}

void imp_st_write(imp *x, int32_t pid, const proto_msg *m) {
    if (!x->o->want_stream)
        return;
    pidinfo *p = imp_pid_get(x, pid);
    if (!p)
        return;
    if (p->crashed) {
        if (!p->stale_warned)
            imp_warn(x, x->line, "PID %d acts after the server cleaned it up as dead; its later "
                 "events are left out of the stream", (int)pid);
        p->stale_warned = 1;
        return;
    }
    if (p->proc < 0) {
        char name[32];
        snprintf(name, sizeof name, "pid%d", (int)pid);
        p->proc = st_new_proc(x, pid, name);
        if (p->proc < 0)
            return;
    }
    if (x->last_conn != p->proc)
        st_fence(x);
    st_check(x, stream_append_frame(&x->r->stream, (uint16_t)p->proc, m));
    x->last_conn = p->proc;
    x->unfenced = 1;
}

void imp_st_dump(imp *x) {
    if (!x->o->want_stream)
        return;
    if (x->dumper < 0) {
        x->dumper = st_new_proc(x, IMPORT_DUMPER_PID, "dumper");
        if (x->dumper < 0)
            return;
    }
    st_fence(x);
    st_check(x, stream_append(&x->r->stream, STREAM_OP_DUMP, 0, (uint16_t)x->dumper, NULL, 0));
}

void imp_st_crash(imp *x, pidinfo *p) {
    if (!x->o->want_stream || p->proc < 0 || p->crashed)
        return;
    st_fence(x);
    st_check(x, stream_append(&x->r->stream, STREAM_OP_CLOSE, 0, (uint16_t)p->proc, NULL, 0));
    st_check(x, stream_append(&x->r->stream, STREAM_OP_CRASH, 0, (uint16_t)p->proc, NULL, 0));
    if (x->last_conn == p->proc)
        x->last_conn = -1;
    p->crashed = 1;
}

/* ---- timeline ----------------------------------------------------------------------------- */

void imp_tl_device(imp *x, int32_t dev) {
    if (!x->o->want_timeline || dev < 0 || dev >= x->max_devices)
        return;
    ledger_counters c = ledger_device_counters(x->led, dev);
    uint64_t v[4] = {c.dram, c.l1, c.l1_small, c.trace};
    tl_last *t = &x->last[dev];
    if (memcmp(v, t->v, sizeof v) == 0 && (t->seen || (!v[0] && !v[1] && !v[2] && !v[3])))
        return;
    memcpy(t->v, v, sizeof v);
    t->seen = 1;
    sbuf_printf(&x->r->timeline_rows, "%zu\t%d\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\n",
                x->line, (int)dev, v[0], v[1], v[2], v[3]);
}

/* A v144 CB or kernel line: its "(Total: «MB» MB)" is the device's cb_allocated or
 * kernel_allocated after the message; written as a `#cbk` line when it changed. The bytes are
 * recovered from the printed MB (6 significant digits), so they are exact only while the
 * total has few significant bytes (e.g. 12288 -> 0.0117188 -> 12288). */
void imp_tl_cbk(imp *x, const srvline *s) {
    int32_t dev = s->device_id;
    if (!x->o->want_timeline || dev < 0 || dev >= x->max_devices || s->num2.len == 0 || s->num2.len > 63)
        return;
    char num[64];
    memcpy(num, s->num2.ptr, s->num2.len);
    num[s->num2.len] = '\0';
    char *end;
    double mb = strtod(num, &end);
    if (end == num || mb < 0 || mb > 1.7e13)
        return;
    tl_last *t = &x->last[dev];
    int kernel = s->kind == SRVLINE_KERNEL_LOAD || s->kind == SRVLINE_KERNEL_UNLOAD;
    uint64_t bytes = (uint64_t)llround(mb * 1048576.0);
    if (t->cbk[kernel] == bytes)
        return;
    t->cbk[kernel] = bytes;
    sbuf_printf(&x->r->timeline_rows, "#cbk %zu %d %" PRIu64 " %" PRIu64 "\n", x->line, (int)dev, t->cbk[0], t->cbk[1]);
}

void imp_tl_all_devices(imp *x) {
    for (int32_t d = 0; d < x->max_devices; d++)
        if (x->last && x->last[d].seen)
            imp_tl_device(x, d);
}
