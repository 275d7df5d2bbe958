/* bench_alloc: cost of one allocator-model operation as the number of live buffers grows.
 *
 * For each N in 10^3 .. 10^6 it fills a region with N buffers of mixed sizes (both
 * directions, like DRAM tensors bottom-up and kernel binaries top-down), frees a scrambled
 * quarter of them so the free list has holes everywhere, refills to N, then times pairs of
 * (free a random live buffer, allocate a new one) with CLOCK_MONOTONIC. It prints
 *   bench alloc_op_ns_live_<N> <nanoseconds per operation> ns
 * and, over all timed pairs, bench alloc_ops_per_s <operations per second> ops/s.
 * The op sequence comes from a fixed xorshift generator, so runs are comparable. Not a test.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "alloc.h"

static uint64_t bench_rng = 0x853c49e6748fea9bull;

static uint64_t bench_next(void) {
    bench_rng ^= bench_rng >> 12;
    bench_rng ^= bench_rng << 25;
    bench_rng ^= bench_rng >> 27;
    return bench_rng * 0x2545f4914f6cdd1dull;
}

/* Mostly small buffers with an occasional large one, multiples of 32 like DRAM footprints. */
static uint64_t bench_size(void) {
    uint64_t x = bench_next();
    return (x % 16 == 0) ? 32 * (1 + x % 4096) : 32 * (1 + x % 64);
}

static double bench_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int bench_alloc_one(alloc_region *r, uint64_t *out) {
    int rc = alloc_allocate(r, bench_size(), (int)(bench_next() % 4 != 0), out);
    if (rc != 0)
        fprintf(stderr, "bench_alloc: allocation failed (%d)\n", rc);
    return rc;
}

/* Returns the timed operations and adds their duration to *total_ns; -1 on failure. */
static long bench_run(long live_count, long pairs, double *total_ns) {
    /* 2^40 bytes: never full, so every request exercises the search, not the failure path. */
    alloc_region *r = alloc_region_new(0, 1ull << 40, 32, 32);
    uint64_t *live = malloc(sizeof *live * (size_t)live_count);
    if (!r || !live) {
        fprintf(stderr, "bench_alloc: out of memory\n");
        return -1;
    }
    for (long i = 0; i < live_count; i++)
        if (bench_alloc_one(r, &live[i]) != 0)
            return -1;
    for (long i = 0; i < live_count / 4; i++) {
        long k = (long)(bench_next() % (uint64_t)live_count);
        alloc_deallocate(r, live[k]);
        if (bench_alloc_one(r, &live[k]) != 0)
            return -1;
    }
    double t0 = bench_now_ns();
    for (long i = 0; i < pairs; i++) {
        long k = (long)(bench_next() % (uint64_t)live_count);
        alloc_deallocate(r, live[k]);
        if (bench_alloc_one(r, &live[k]) != 0)
            return -1;
    }
    double elapsed = bench_now_ns() - t0;
    printf("bench alloc_op_ns_live_%ld %.1f ns\n", live_count, elapsed / (2.0 * (double)pairs));
    fflush(stdout);
    *total_ns += elapsed;
    free(live);
    alloc_region_free(r);
    return 2 * pairs;
}

int main(void) {
    static const long counts[] = {1000, 10000, 100000, 1000000};
    const long pairs = 1000000;
    double total_ns = 0;
    long total_ops = 0;
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        long ops = bench_run(counts[i], pairs, &total_ns);
        if (ops < 0)
            return 1;
        total_ops += ops;
    }
    printf("bench alloc_ops_per_s %.0f ops/s\n", (double)total_ops / (total_ns / 1e9));
    return 0;
}
