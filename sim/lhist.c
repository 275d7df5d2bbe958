/* lhist: per-(device, buffer id) event histories of the enhanced server (see lhist.h).
 *
 * Histories live in one growing array, found through an open-addressing index (linear
 * probing; histories are never deleted, as in the server). Each keeps its events in a ring
 * that grows up to LHIST_KEEP entries, so a buffer seen once costs one event.
 */
#include "lhist.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"

struct lhist {
    lhist_entry *entries;
    size_t n, cap;
    uint32_t *index; /* entry index + 1; 0 = empty */
    size_t icap;     /* power of two */
    size_t double_freed;
};

static uint64_t lhist_mix(int32_t dev, uint64_t id) {
    uint64_t x = id ^ ((uint64_t)(uint32_t)dev * 0x9e3779b97f4a7c15u);
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9u;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebu;
    x ^= x >> 31;
    return x;
}

lhist *lhist_new(void) { return mem_calloc(1, sizeof(lhist)); }

void lhist_free(lhist *h) {
    if (!h)
        return;
    for (size_t i = 0; i < h->n; i++)
        mem_free(h->entries[i].ev);
    mem_free(h->entries);
    mem_free(h->index);
    mem_free(h);
}

static size_t lhist_slot(const lhist *h, int32_t dev, uint64_t id) {
    size_t i = lhist_mix(dev, id) & (h->icap - 1);
    while (h->index[i]) {
        const lhist_entry *e = &h->entries[h->index[i] - 1];
        if (e->device_id == dev && e->buffer_id == id)
            return i;
        i = (i + 1) & (h->icap - 1);
    }
    return i;
}

const lhist_entry *lhist_find(const lhist *h, int32_t dev, uint64_t id) {
    if (!h->icap)
        return NULL;
    size_t i = lhist_slot(h, dev, id);
    return h->index[i] ? &h->entries[h->index[i] - 1] : NULL;
}

static int lhist_grow_index(lhist *h) {
    size_t ncap = h->icap ? h->icap * 2 : 64;
    uint32_t *ni = mem_calloc(ncap, sizeof *ni);
    if (!ni)
        return -1;
    mem_free(h->index);
    h->index = ni;
    h->icap = ncap;
    for (size_t k = 0; k < h->n; k++)
        h->index[lhist_slot(h, h->entries[k].device_id, h->entries[k].buffer_id)] = (uint32_t)k + 1;
    return 0;
}

static lhist_entry *lhist_get(lhist *h, int32_t dev, uint64_t id) {
    if ((h->n + 1) * 2 > h->icap && lhist_grow_index(h) < 0)
        return NULL;
    size_t i = lhist_slot(h, dev, id);
    if (h->index[i])
        return &h->entries[h->index[i] - 1];
    if (h->n == UINT32_MAX - 1)
        return NULL;
    if (h->n == h->cap) {
        size_t ncap = h->cap ? h->cap * 2 : 64;
        lhist_entry *ne = mem_realloc(h->entries, ncap * sizeof *ne);
        if (!ne)
            return NULL;
        h->entries = ne;
        h->cap = ncap;
    }
    lhist_entry *e = &h->entries[h->n];
    memset(e, 0, sizeof *e);
    e->device_id = dev;
    e->buffer_id = id;
    h->index[i] = (uint32_t)++h->n;
    return e;
}

int lhist_record(lhist *h, int32_t dev, uint64_t id, lhist_kind kind, uint64_t size, int32_t pid,
                 int32_t ref) {
    lhist_entry *e = lhist_get(h, dev, id);
    if (!e)
        return -1;
    if (e->nev == e->cap && e->cap < LHIST_KEEP) {
        uint32_t ncap = e->cap ? e->cap * 2 : 2;
        if (ncap > LHIST_KEEP)
            ncap = LHIST_KEEP;
        lhist_event *nv = mem_realloc(e->ev, ncap * sizeof *nv);
        if (!nv)
            return -1;
        e->ev = nv;
        e->cap = ncap;
    }
    lhist_event ev = {(uint8_t)kind, pid, ref, size};
    if (e->nev < LHIST_KEEP) {
        e->ev[e->nev++] = ev;
    } else {
        e->ev[e->head] = ev; /* overwrite the oldest */
        e->head = (e->head + 1) % LHIST_KEEP;
    }
    int was = e->frees > e->allocs;
    if (kind == LHIST_FREE)
        e->frees++;
    else
        e->allocs++;
    int now = e->frees > e->allocs;
    h->double_freed += (size_t)(now - was);
    return 0;
}

const lhist_event *lhist_oldest(const lhist_entry *e, size_t i) {
    if (i >= e->nev)
        return NULL;
    return &e->ev[(e->head + i) % e->nev];
}

const lhist_event *lhist_newest(const lhist_entry *e, size_t i) {
    if (i >= e->nev)
        return NULL;
    return lhist_oldest(e, e->nev - 1 - i);
}

void lhist_format(const lhist_event *ev, char *buf, size_t n) {
    static const char *const names[] = {"ALLOC", "FREE", "REUSE"};
    snprintf(buf, n, "%s size=%" PRIu64 " pid=%d ref=%d", names[ev->kind % 3], ev->size,
             (int)ev->pid, (int)ev->ref);
}

static int lhist_cmp(const void *a, const void *b) {
    const lhist_entry *x = *(const lhist_entry *const *)a, *y = *(const lhist_entry *const *)b;
    if (x->device_id != y->device_id)
        return x->device_id < y->device_id ? -1 : 1;
    if (x->buffer_id != y->buffer_id)
        return x->buffer_id < y->buffer_id ? -1 : 1;
    return 0;
}

size_t lhist_double_freed_count(const lhist *h) { return h->double_freed; }

size_t lhist_double_freed(const lhist *h, const lhist_entry ***out) {
    *out = NULL;
    if (!h->double_freed)
        return 0;
    const lhist_entry **v = mem_alloc(h->double_freed * sizeof *v);
    if (!v)
        return (size_t)-1;
    size_t k = 0;
    for (size_t i = 0; i < h->n && k < h->double_freed; i++)
        if (h->entries[i].frees > h->entries[i].allocs)
            v[k++] = &h->entries[i];
    if (k > 1)
        qsort(v, k, sizeof *v, lhist_cmp);
    *out = v;
    return k;
}
