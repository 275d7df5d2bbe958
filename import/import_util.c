/* import_util: the importer's small containers and its notes.
 *
 * A u64 -> u32 open-addressing map (buffer ids and PIDs to indexes, no deletion), sorted sets
 * of device ids with an owner PID per device, and the bounded lists of warnings and findings
 * ("LOG:LINE: ..."). Every allocation goes through sim/mem.h; running out of memory sets the
 * importer's oom flag or returns -1.
 */
#include "import_int.h"

#include <stdio.h>
#include <string.h>

#include "mem.h"
#include "sbuf.h"

/* ---- u64 -> u32 map (open addressing, linear probing, no deletion) ------------------------ */


static uint64_t mix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9u;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebu;
    x ^= x >> 31;
    return x;
}

int imp_map_get(const u64map *m, uint64_t k, uint32_t *v) {
    if (!m->cap)
        return 0;
    for (size_t i = mix64(k) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (!m->vals[i])
            return 0;
        if (m->keys[i] == k) {
            *v = m->vals[i] - 1;
            return 1;
        }
    }
}

int imp_map_put(u64map *m, uint64_t k, uint32_t v);

static int map_grow(u64map *m) {
    size_t ncap = m->cap ? m->cap * 2 : 64;
    u64map nm = {mem_calloc(ncap, sizeof *nm.keys), mem_calloc(ncap, sizeof *nm.vals), ncap, 0};
    if (!nm.keys || !nm.vals) {
        mem_free(nm.keys);
        mem_free(nm.vals);
        return -1;
    }
    for (size_t i = 0; i < m->cap; i++)
        if (m->vals[i])
            imp_map_put(&nm, m->keys[i], m->vals[i] - 1);
    mem_free(m->keys);
    mem_free(m->vals);
    *m = nm;
    return 0;
}

int imp_map_put(u64map *m, uint64_t k, uint32_t v) {
    if ((m->n + 1) * 2 > m->cap && map_grow(m) < 0)
        return -1;
    for (size_t i = mix64(k) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (!m->vals[i]) {
            m->keys[i] = k;
            m->vals[i] = v + 1;
            m->n++;
            return 0;
        }
        if (m->keys[i] == k) {
            m->vals[i] = v + 1;
            return 0;
        }
    }
}

void imp_map_release(u64map *m) {
    mem_free(m->keys);
    mem_free(m->vals);
    memset(m, 0, sizeof *m);
}

/* ---- device sets ------------------------------------------------------------------------ */

size_t imp_devset_pos(const import_devset *s, int32_t d) {
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->v[mid] < d)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int imp_devset_has(const import_devset *s, int32_t d) {
    size_t i = imp_devset_pos(s, d);
    return i < s->n && s->v[i] == d;
}

/* Adds d (owner is kept in s->owner when the set tracks owners). -1 out of memory. */
int imp_devset_add(import_devset *s, int32_t d, int32_t owner) {
    size_t i = imp_devset_pos(s, d);
    if (i < s->n && s->v[i] == d)
        return 0;
    if (s->n == s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 4;
        int32_t *nv = mem_realloc(s->v, ncap * sizeof *nv);
        if (!nv)
            return -1;
        s->v = nv;
        int32_t *no = mem_realloc(s->owner, ncap * sizeof *no);
        if (!no)
            return -1;
        s->owner = no;
        s->cap = ncap;
    }
    memmove(s->v + i + 1, s->v + i, (s->n - i) * sizeof *s->v);
    memmove(s->owner + i + 1, s->owner + i, (s->n - i) * sizeof *s->owner);
    s->v[i] = d;
    s->owner[i] = owner;
    s->n++;
    return 0;
}

void imp_devset_del(import_devset *s, int32_t d) {
    size_t i = imp_devset_pos(s, d);
    if (i >= s->n || s->v[i] != d)
        return;
    memmove(s->v + i, s->v + i + 1, (s->n - i - 1) * sizeof *s->v);
    memmove(s->owner + i, s->owner + i + 1, (s->n - i - 1) * sizeof *s->owner);
    s->n--;
}

void imp_devset_release(import_devset *s) {
    mem_free(s->v);
    mem_free(s->owner);
    memset(s, 0, sizeof *s);
}

/* ---- notes ---------------------------------------------------------------------------- */

static void note_add(imp *x, import_note **arr, size_t *n, size_t *cap, size_t line,
                     const char *fmt, va_list ap) {
    size_t idx = (*n)++;
    if (idx >= IMPORT_MAX_NOTES)
        return;
    if (idx == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        import_note *nv = mem_realloc(*arr, ncap * sizeof *nv);
        if (!nv) {
            x->oom = 1;
            (*n)--;
            return;
        }
        *arr = nv;
        *cap = ncap;
    }
    sbuf b = SBUF_INIT;
    if (line)
        sbuf_printf(&b, "%s:%zu: ", x->name, line);
    else
        sbuf_printf(&b, "%s: ", x->name);
    sbuf_vprintf(&b, fmt, ap);
    if (sbuf_failed(&b)) {
        x->oom = 1;
        sbuf_release(&b);
        (*n)--;
        return;
    }
    (*arr)[idx].line = line;
    (*arr)[idx].text = b.data ? b.data : mem_strdup("");
}

void imp_warn(imp *x, size_t line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    note_add(x, &x->r->warnings, &x->r->nwarnings, &x->wcap, line, fmt, ap);
    va_end(ap);
}

void imp_finding(imp *x, size_t line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    note_add(x, &x->r->findings, &x->r->nfindings, &x->fcap, line, fmt, ap);
    va_end(ap);
}
