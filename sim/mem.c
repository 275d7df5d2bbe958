/* mem: counting, optionally failing wrappers around the C allocator (see mem.h). */
#include "mem.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static _Atomic long fail_countdown = -1;
static _Atomic long alloc_count = 0;

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

void *mem_alloc(size_t size) { return should_fail() ? NULL : malloc(size ? size : 1); }

void *mem_calloc(size_t count, size_t size) {
    return should_fail() ? NULL : calloc(count ? count : 1, size ? size : 1);
}

void *mem_realloc(void *p, size_t size) { return should_fail() ? NULL : realloc(p, size ? size : 1); }

void mem_free(void *p) { free(p); }

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
