/* mem: counting, optionally failing wrappers around the C allocator (see mem.h). */
#include "mem.h"

#include <malloc.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static _Atomic long fail_countdown = -1;
static _Atomic long alloc_count = 0;
static _Atomic size_t limit_bytes = 0;
static _Atomic int64_t held_bytes = 0; /* signed: frees of blocks taken before the limit */
static _Atomic int limit_hit = 0;

/* Charges a fresh block to the budget; frees it and returns NULL when over. */
static void *charge(void *p) {
    size_t limit = atomic_load_explicit(&limit_bytes, memory_order_relaxed);
    if (!p || !limit)
        return p;
    int64_t n = (int64_t)malloc_usable_size(p);
    if (atomic_fetch_add(&held_bytes, n) + n > (int64_t)limit) {
        atomic_fetch_sub(&held_bytes, n);
        atomic_store(&limit_hit, 1);
        free(p);
        return NULL;
    }
    return p;
}

static void discharge(void *p) {
    if (p && atomic_load_explicit(&limit_bytes, memory_order_relaxed))
        atomic_fetch_sub(&held_bytes, (int64_t)malloc_usable_size(p));
}

static int should_fail(void) {
    atomic_fetch_add(&alloc_count, 1);
    long c = atomic_load(&fail_countdown);
    if (c < 0)
        return 0;
    if (c == 0)
        return 1;
    atomic_fetch_sub(&fail_countdown, 1);
    return 0;
}

void *mem_alloc(size_t size) { return should_fail() ? NULL : charge(malloc(size ? size : 1)); }

void *mem_calloc(size_t count, size_t size) {
    return should_fail() ? NULL : charge(calloc(count ? count : 1, size ? size : 1));
}

void *mem_realloc(void *p, size_t size) {
    if (should_fail())
        return NULL;
    size_t limit = atomic_load_explicit(&limit_bytes, memory_order_relaxed);
    if (!limit)
        return realloc(p, size ? size : 1);
    /* Judged before the call, so that a refused growth leaves p valid where it is. */
    int64_t old = p ? (int64_t)malloc_usable_size(p) : 0;
    if (atomic_load(&held_bytes) - old + (int64_t)size > (int64_t)limit) {
        atomic_store(&limit_hit, 1);
        return NULL;
    }
    void *q = realloc(p, size ? size : 1);
    if (q)
        atomic_fetch_add(&held_bytes, (int64_t)malloc_usable_size(q) - old);
    return q;
}

void mem_free(void *p) {
    discharge(p);
    free(p);
}

char *mem_strndup(const char *s, size_t n) {
    size_t len = strnlen(s, n);
    char *d = mem_alloc(len + 1);
    if (d) {
        memcpy(d, s, len);
        d[len] = '\0';
    }
    return d;
}

char *mem_strdup(const char *s) { return mem_strndup(s, strlen(s)); }

long mem_fail_after(long countdown) {
    atomic_store(&fail_countdown, countdown);
    return atomic_exchange(&alloc_count, 0);
}

void mem_set_limit(size_t bytes) { atomic_store(&limit_bytes, bytes); }

int mem_limit_reached(void) { return atomic_load(&limit_hit); }
