/* srvline_enh: the lines only allocation_server_enhanced prints (tracking-stories.md §3).
 *
 * The enhanced server shares the poc's allocation, free, dump and dead-process lines (with hex
 * ids) and adds its own: the reuse-with-a-different-size and ALREADY FREED warnings, the
 * never-tracked free, event lines of a buffer's history (indented 4, 5 or 8 spaces), the
 * dump's history header, the DOUBLE-FREED report, its banner and its KB-only statistics.
 * srvline_classify asks this file first; everything else falls through to srvline.c.
 */
#include "srvline.h"

#include <string.h>

typedef struct {
    const char *p, *end;
} ecur;

static int e_lit(ecur *c, const char *s) {
    size_t n = strlen(s);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, s, n) != 0)
        return 0;
    c->p += n;
    return 1;
}

static int e_end(const ecur *c) { return c->p == c->end; }

static int e_u64(ecur *c, uint64_t *v) {
    uint64_t x = 0;
    const char *start = c->p;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        unsigned d = (unsigned)(*c->p - '0');
        if (x > (UINT64_MAX - d) / 10)
            return 0;
        x = x * 10 + d;
        c->p++;
    }
    *v = x;
    return c->p > start;
}

static int e_i32(ecur *c, int32_t *v) {
    int neg = e_lit(c, "-");
    uint64_t x;
    if (!e_u64(c, &x) || x > (neg ? 2147483648u : 2147483647u))
        return 0;
    *v = neg ? (int32_t)(-(int64_t)x) : (int32_t)x;
    return 1;
}

static int e_hex(ecur *c, uint64_t *v) {
    uint64_t x = 0;
    const char *start = c->p;
    if (!e_lit(c, "0x"))
        return 0;
    start = c->p;
    while (c->p < c->end) {
        char ch = *c->p;
        unsigned d;
        if (ch >= '0' && ch <= '9')
            d = (unsigned)(ch - '0');
        else if (ch >= 'a' && ch <= 'f')
            d = (unsigned)(ch - 'a' + 10);
        else
            break;
        if (x >> 60)
            return 0;
        x = x * 16 + d;
        c->p++;
    }
    *v = x;
    return c->p > start;
}

/* A %g number up to a space. */
static int e_num(ecur *c, srvline_text *t) {
    const char *s = c->p;
    while (c->p < c->end && *c->p != ' ' && c->p - s < 31)
        c->p++;
    t->ptr = s;
    t->len = (size_t)(c->p - s);
    return t->len > 0;
}

static int done(srvline *o, srvline_kind kind) {
    o->kind = kind;
    o->revs = SRVLINE_REV(PROTO_V72);
    return 1;
}

/* "«ALLOC|FREE|REUSE» size=n pid=p ref=r" */
static int e_event(ecur *c, srvline *o) {
    if (e_lit(c, "ALLOC "))
        o->count = 0;
    else if (e_lit(c, "FREE "))
        o->count = 1;
    else if (e_lit(c, "REUSE "))
        o->count = 2;
    else
        return 0;
    return e_lit(c, "size=") && e_u64(c, &o->size) && e_lit(c, " pid=") && e_i32(c, &o->pid) &&
           e_lit(c, " ref=") && e_i32(c, &o->ref_count) && e_end(c);
}

int srvline_classify_enhanced(const char *line, size_t len, srvline *o) {
    ecur c = {line, line + len};
    srvline t;
    memset(&t, 0, sizeof t);
    t.buffer_type = -1;
    if (len == 0)
        return 0;
    if (line[0] == ' ') {
        size_t sp = 0;
        while (sp < len && line[sp] == ' ')
            sp++;
        ecur r = {line + sp, line + len};
        if ((sp == 4 || sp == 5 || sp == 8) && e_event(&r, &t))
            return *o = t, done(o, SRVLINE_ENH_EVENT);
        r.p = line + sp;
        if (sp == 3 && e_lit(&r, "Last 5 events for this buffer:") && e_end(&r))
            return *o = t, done(o, SRVLINE_ENH_LAST_EVENTS);
        r.p = line + sp;
        if (sp == 6 && e_lit(&r, "History (allocs=") && e_u64(&r, &t.size) &&
            e_lit(&r, " frees=") && e_u64(&r, &t.count) && e_lit(&r, "):") && e_end(&r))
            return *o = t, done(o, SRVLINE_ENH_HISTORY);
        r.p = line + sp;
        if (sp == 2 && e_lit(&r, "History:") && e_end(&r))
            return *o = t, done(o, SRVLINE_ENH_DF_HISTORY);
        r.p = line + sp;
        if (sp == 2 && e_lit(&r, "Total allocs: ") && e_u64(&r, &t.size) &&
            e_lit(&r, ", Total frees: ") && e_u64(&r, &t.count) && e_end(&r))
            return *o = t, done(o, SRVLINE_ENH_DF_TOTALS);
        r.p = line + sp;
        if (sp == 4) {
            const char *w = r.p;
            if ((e_lit(&r, "DRAM: ") || e_lit(&r, "L1: ") || e_lit(&r, "Total: ")) &&
                e_num(&r, &t.num) && e_lit(&r, " KB") && e_end(&r)) {
                t.text.ptr = w;
                t.text.len = (size_t)(strchr(w, ':') - w); /* the literal just matched has one */
                return *o = t, done(o, SRVLINE_ENH_STATS_KB);
            }
        }
        return 0;
    }
    if (e_lit(&c, "⚠ [PID ")) {
        if (!e_i32(&c, &t.pid))
            return 0;
        ecur after = c;
        if (e_lit(&c, "] Buffer reused with DIFFERENT size: old=") && e_u64(&c, &t.count) &&
            e_lit(&c, " new=") && e_u64(&c, &t.size) && e_lit(&c, " (buffer_id=") &&
            e_u64(&c, &t.buffer_id) && e_lit(&c, ", device=") && e_i32(&c, &t.device_id) &&
            e_lit(&c, ")") && e_end(&c))
            return *o = t, done(o, SRVLINE_ENH_REUSE_SIZE);
        c = after;
        if (e_lit(&c, "] Deallocation for ALREADY FREED buffer ") && e_hex(&c, &t.buffer_id) &&
            e_lit(&c, " on device ") && e_i32(&c, &t.device_id) && e_lit(&c, " (allocs=") &&
            e_u64(&c, &t.size) && e_lit(&c, " frees=") && e_u64(&c, &t.count) && e_lit(&c, ")") &&
            e_end(&c)) {
            t.id_hex = 1;
            return *o = t, done(o, SRVLINE_ENH_ALREADY_FREED);
        }
        c = after;
        if (e_lit(&c, "] Deallocation for unknown buffer ") && e_hex(&c, &t.buffer_id) &&
            e_lit(&c, " on device ") && e_i32(&c, &t.device_id) &&
            e_lit(&c, " (never tracked or allocated before server started)") && e_end(&c)) {
            t.id_hex = 1;
            return *o = t, done(o, SRVLINE_ENH_FREE_UNTRACKED);
        }
        c = after;
        if (e_lit(&c, "] Invalid buffer_type ") && e_u64(&c, &t.count) && t.count <= 255 &&
            e_end(&c)) {
            t.buffer_type = (int)t.count;
            return *o = t, done(o, SRVLINE_INVALID_TYPE_PID);
        }
        return 0;
    }
    c.p = line;
    if (e_lit(&c, "⚠️  However, found ") && e_u64(&c, &t.count) &&
        e_lit(&c, " buffers that were DOUBLE-FREED during execution!") && e_end(&c))
        return *o = t, done(o, SRVLINE_ENH_DF_FOUND);
    c.p = line;
    if (e_lit(&c, "║           DOUBLE-FREED BUFFERS                              ║") && e_end(&c))
        return *o = t, done(o, SRVLINE_ENH_DF_TITLE);
    c.p = line;
    if (e_lit(&c, "Buffer ") && e_hex(&c, &t.buffer_id) && e_lit(&c, " on device ") &&
        e_i32(&c, &t.device_id) && e_lit(&c, ":") && e_end(&c)) {
        t.id_hex = 1;
        return *o = t, done(o, SRVLINE_ENH_DF_BUFFER);
    }
    c.p = line;
    if (e_lit(&c, "🚀 Enhanced Allocation Server started (with history tracking)") && e_end(&c))
        return *o = t, done(o, SRVLINE_ENH_BANNER);
    return 0;
}
