/* test_alloc: unit tests of the allocator model (sim/alloc.c).
 *
 * Known answers come from TT-Metal's own FreeListOpt and L1 banking allocator unit tests as
 * listed in tt-memory-model.md §9. A randomized differential test compares every result and
 * statistic with a deliberately naive reference (a sorted array of blocks, linear scans), and
 * out-of-memory tests check that a failed host allocation leaves the region untouched.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "device.h"
#include "mem.h"

#define KIB 1024ull
#define GIB (1024ull * 1024ull * 1024ull)

/* Hot loops check with this instead of ck_assert_*: Check records every passing ck_assert
 * (a write in fork mode), which would dominate the run time of 10^5-step loops. */
#define STEP_EQ(step, actual, expected)                                                           \
    do {                                                                                          \
        uint64_t actual_ = (uint64_t)(actual), expected_ = (uint64_t)(expected);                  \
        if (actual_ != expected_)                                                                 \
            ck_abort_msg("step %ld: %s is %llu, expected %llu (%s)", (long)(step), #actual,       \
                         (unsigned long long)actual_, (unsigned long long)expected_, #expected);  \
    } while (0)

static alloc_region *new_gib(void) {
    alloc_region *r = alloc_region_new(0, GIB, KIB, KIB);
    ck_assert_ptr_nonnull(r);
    return r;
}

static uint64_t must_alloc(alloc_region *r, uint64_t size, int bottom_up) {
    uint64_t addr = UINT64_MAX;
    STEP_EQ(-1, alloc_allocate(r, size, bottom_up, &addr), 0);
    return addr;
}

START_TEST(test_allocation) {
    alloc_region *r = new_gib();
    ck_assert_uint_eq(must_alloc(r, KIB, 1), 0);
    ck_assert_uint_eq(must_alloc(r, KIB, 1), KIB);
    alloc_region_free(r);
}
END_TEST

START_TEST(test_alignment) {
    alloc_region *r = alloc_region_new(0, GIB, 1, KIB);
    ck_assert_uint_eq(must_alloc(r, 64, 1), 0);
    ck_assert_uint_eq(must_alloc(r, 64, 1), KIB);
    ck_assert_uint_eq(alloc_block_size(r, 0), KIB);
    alloc_region_free(r);
}
END_TEST

START_TEST(test_min_allocation_size) {
    alloc_region *r = alloc_region_new(0, GIB, KIB, 1);
    ck_assert_uint_eq(must_alloc(r, 1, 1), 0);
    ck_assert_uint_eq(must_alloc(r, 1, 1), KIB);
    ck_assert_uint_eq(alloc_allocated_bytes(r), 2 * KIB);
    alloc_region_free(r);
}
END_TEST

START_TEST(test_allocate_from_top) {
    alloc_region *r = new_gib();
    ck_assert_uint_eq(must_alloc(r, KIB, 0), GIB - KIB);
    ck_assert_uint_eq(must_alloc(r, KIB, 0), GIB - 2 * KIB);
    ck_assert_uint_eq(must_alloc(r, KIB, 1), 0);
    alloc_region_free(r);
}
END_TEST

START_TEST(test_coalescing) {
    alloc_region *r = new_gib();
    uint64_t a = must_alloc(r, KIB, 1);
    uint64_t b = must_alloc(r, KIB, 1);
    must_alloc(r, KIB, 1);
    ck_assert_int_eq(alloc_deallocate(r, b), 0);
    ck_assert_int_eq(alloc_deallocate(r, a), 0);
    ck_assert_uint_eq(must_alloc(r, 2 * KIB, 1), 0);
    alloc_region_free(r);
}
END_TEST

START_TEST(test_first_fit) {
    alloc_region *r = new_gib();
    uint64_t a = must_alloc(r, KIB, 1);
    uint64_t b = must_alloc(r, 3 * KIB, 1);
    uint64_t c = must_alloc(r, KIB, 1);
    uint64_t d = must_alloc(r, KIB, 1);
    uint64_t e = must_alloc(r, KIB, 1);
    ck_assert_uint_eq(a, 0);
    ck_assert_uint_eq(b, KIB);
    ck_assert_uint_eq(c, 4 * KIB);
    ck_assert_uint_eq(d, 5 * KIB);
    ck_assert_uint_eq(e, 6 * KIB);
    ck_assert_int_eq(alloc_deallocate(r, b), 0);
    ck_assert_int_eq(alloc_deallocate(r, d), 0);
    /* FIRST takes the lowest hole (3 KiB at 1 KiB), not the exact-fit 1 KiB hole at 5 KiB. */
    ck_assert_uint_eq(must_alloc(r, KIB, 1), KIB);
    alloc_region_free(r);
}
END_TEST

START_TEST(test_first_fit_allocate_at_interactions) {
    alloc_region *r = new_gib();
    ck_assert_int_eq(alloc_allocate_at(r, 32 * KIB, KIB), 0);
    ck_assert_uint_eq(must_alloc(r, KIB, 1), 0);
    /* 31 KiB would be the BEST-policy answer; FIRST top-down takes the highest block. */
    ck_assert_uint_eq(must_alloc(r, KIB, 0), GIB - KIB);
    alloc_region_free(r);
}
END_TEST

START_TEST(test_allocate_at_address) {
    alloc_region *r = new_gib();
    uint64_t a = must_alloc(r, KIB, 1);
    ck_assert_uint_eq(a, 0);
    ck_assert_int_eq(alloc_allocate_at(r, KIB, KIB), 0);
    ck_assert_int_eq(alloc_allocate_at(r, KIB, KIB), -1);          /* already taken */
    ck_assert_int_eq(alloc_allocate_at(r, 512, KIB), -1);          /* overlaps both */
    ck_assert_uint_eq(must_alloc(r, KIB, 1), 2 * KIB);
    ck_assert_int_eq(alloc_deallocate(r, a), 0);
    ck_assert_int_eq(alloc_allocate_at(r, 0, 2 * KIB), -1);        /* hole is only 1 KiB */
    ck_assert_int_eq(alloc_allocate_at(r, 0, KIB), 0);
    ck_assert_int_eq(alloc_allocate_at(r, GIB - KIB, KIB), 0);     /* last block */
    ck_assert_int_eq(alloc_allocate_at(r, GIB - KIB, 1), -1);
    ck_assert_int_eq(alloc_allocate_at(r, GIB, KIB), -1);          /* outside */
    ck_assert_int_eq(alloc_allocate_at(r, GIB - 2 * KIB, 2 * KIB), -1);
    ck_assert_uint_eq(alloc_num_allocated(r), 4);
    ck_assert_uint_eq(alloc_block_size(r, GIB - KIB), KIB);
    alloc_region_free(r);
}
END_TEST

START_TEST(test_out_of_memory) {
    alloc_region *r = new_gib();
    uint64_t addr = 0;
    ck_assert_uint_eq(must_alloc(r, GIB, 1), 0);
    ck_assert_int_eq(alloc_allocate(r, KIB, 1, &addr), -1);
    ck_assert_int_eq(alloc_allocate(r, 1, 0, &addr), -1);
    alloc_reset(r);
    ck_assert_int_eq(alloc_allocate(r, GIB + 1, 1, &addr), -1);
    ck_assert_int_eq(alloc_allocate(r, UINT64_MAX, 1, &addr), -1);
    ck_assert_int_eq(alloc_allocate_at(r, 0, UINT64_MAX), -1);
    /* Fragmented: 2 KiB free in total but no 2 KiB block. */
    for (int i = 0; i < 3; i++)
        must_alloc(r, KIB, 1);
    must_alloc(r, GIB - 3 * KIB, 1);
    ck_assert_int_eq(alloc_deallocate(r, 0), 0);
    ck_assert_int_eq(alloc_deallocate(r, 2 * KIB), 0);
    ck_assert_uint_eq(alloc_free_bytes(r), 2 * KIB);
    ck_assert_uint_eq(alloc_largest_free(r), KIB);
    ck_assert_int_eq(alloc_allocate(r, 2 * KIB, 1, &addr), -1);
    alloc_region_free(r);
}
END_TEST

START_TEST(test_clear) {
    alloc_region *r = new_gib();
    for (int i = 0; i < 100; i++)
        must_alloc(r, (uint64_t)(i + 1) * KIB, i % 2);
    alloc_reset(r);
    ck_assert_uint_eq(alloc_num_allocated(r), 0);
    ck_assert_uint_eq(alloc_allocated_bytes(r), 0);
    ck_assert_uint_eq(alloc_largest_free(r), GIB);
    ck_assert_uint_eq(alloc_lowest_occupied(r), UINT64_MAX);
    ck_assert_uint_eq(alloc_block_size(r, 0), 0);
    ck_assert_int_eq(alloc_deallocate(r, 0), -1);
    ck_assert_uint_eq(must_alloc(r, KIB, 1), 0);
    ck_assert_uint_eq(must_alloc(r, KIB, 0), GIB - KIB);
    alloc_region_free(r);
}
END_TEST

START_TEST(test_statistics) {
    alloc_region *r = new_gib();
    ck_assert_uint_eq(alloc_allocated_bytes(r), 0);
    ck_assert_uint_eq(alloc_free_bytes(r), GIB);
    ck_assert_uint_eq(alloc_largest_free(r), GIB);
    uint64_t a = must_alloc(r, KIB, 1);
    must_alloc(r, 100, 1); /* rounds to 1 KiB */
    ck_assert_uint_eq(alloc_allocated_bytes(r), 2 * KIB);
    ck_assert_uint_eq(alloc_free_bytes(r), GIB - 2 * KIB);
    ck_assert_uint_eq(alloc_largest_free(r), GIB - 2 * KIB);
    ck_assert_uint_eq(alloc_num_allocated(r), 2);
    ck_assert_int_eq(alloc_deallocate(r, a), 0);
    ck_assert_uint_eq(alloc_allocated_bytes(r), KIB);
    ck_assert_uint_eq(alloc_free_bytes(r), GIB - KIB);
    ck_assert_uint_eq(alloc_largest_free(r), GIB - 2 * KIB); /* the 1 KiB hole does not merge */
    ck_assert_uint_eq(alloc_num_allocated(r), 1);
    ck_assert_int_eq(alloc_deallocate(r, a), -1);            /* double free ignored */
    ck_assert_int_eq(alloc_deallocate(r, 12345), -1);        /* unknown address ignored */
    ck_assert_uint_eq(alloc_allocated_bytes(r), KIB);
    alloc_region_free(r);
}
END_TEST

START_TEST(test_lowest_occupied_address) {
    alloc_region *r = new_gib();
    ck_assert_uint_eq(alloc_lowest_occupied(r), UINT64_MAX);
    uint64_t a = must_alloc(r, KIB, 1);
    uint64_t b = must_alloc(r, KIB, 1);
    uint64_t c = must_alloc(r, KIB, 1);
    ck_assert_uint_eq(alloc_lowest_occupied(r), a);
    ck_assert_int_eq(alloc_deallocate(r, a), 0);
    ck_assert_uint_eq(alloc_lowest_occupied(r), b);
    ck_assert_int_eq(alloc_deallocate(r, c), 0);
    ck_assert_uint_eq(alloc_lowest_occupied(r), b);
    ck_assert_int_eq(alloc_deallocate(r, b), 0);
    ck_assert_uint_eq(alloc_lowest_occupied(r), UINT64_MAX);
    uint64_t top = must_alloc(r, KIB, 0);
    ck_assert_uint_eq(alloc_lowest_occupied(r), top);
    alloc_region_free(r);
}
END_TEST

typedef struct {
    uint64_t addr[16], size[16];
    int allocated[16];
    int n;
} block_table;

static int collect_block(void *ctx, uint64_t addr, uint64_t size, int allocated) {
    block_table *t = ctx;
    if (t->n == 16)
        return 1;
    t->addr[t->n] = addr;
    t->size[t->n] = size;
    t->allocated[t->n] = allocated;
    t->n++;
    return 0;
}

static int stop_after_first(void *ctx, uint64_t addr, uint64_t size, int allocated) {
    (void)addr, (void)size, (void)allocated;
    ++*(int *)ctx;
    return 1;
}

START_TEST(test_block_table) {
    /* A region with an offset, like the DRAM region above dram_unreserved_base. */
    alloc_region *r = alloc_region_new(32, 1024 * 32, 32, 32);
    ck_assert_uint_eq(alloc_offset(r), 32);
    ck_assert_uint_eq(alloc_size(r), 1024 * 32);
    uint64_t a = must_alloc(r, 64, 1);      /* [32, 96) */
    uint64_t b = must_alloc(r, 100, 1);     /* [96, 224): 128 bytes */
    uint64_t top = must_alloc(r, 1, 0);     /* [32 + 32768 - 32, 32 + 32768) */
    ck_assert_uint_eq(a, 32);
    ck_assert_uint_eq(b, 96);
    ck_assert_uint_eq(top, 32 + 32768 - 32);
    ck_assert_int_eq(alloc_deallocate(r, a), 0);
    block_table t = {0};
    alloc_foreach_block(r, collect_block, &t);
    ck_assert_int_eq(t.n, 4);
    const uint64_t want_addr[4] = {32, 96, 224, 32 + 32768 - 32};
    const uint64_t want_size[4] = {64, 128, 32768 - 64 - 128 - 32, 32};
    const int want_alloc[4] = {0, 1, 0, 1};
    for (int i = 0; i < 4; i++) {
        ck_assert_uint_eq(t.addr[i], want_addr[i]);
        ck_assert_uint_eq(t.size[i], want_size[i]);
        ck_assert_int_eq(t.allocated[i], want_alloc[i]);
    }
    int calls = 0;
    alloc_foreach_block(r, stop_after_first, &calls);
    ck_assert_int_eq(calls, 1);
    ck_assert_int_eq(alloc_deallocate(r, 0), -1); /* below the offset */
    ck_assert_int_eq(alloc_allocate_at(r, 0, 32), -1);
    alloc_region_free(r);
}
END_TEST

START_TEST(test_l1_buffers_allocated_top_down) {
    dev_config cfg;
    dev_layout lay;
    char err[256];
    ck_assert_int_eq(dev_preset("n150", &cfg), 0);
    cfg.l1_small_size = 0;
    ck_assert_int_eq(dev_config_validate(&cfg, err, sizeof err), 0);
    dev_layout_compute(&cfg, &lay);
    dev_range l1 = lay.region[DEV_REGION_L1];
    alloc_region *r = alloc_region_new(l1.offset, l1.size, cfg.dram_alignment, cfg.dram_alignment);
    const uint64_t sizes[3] = {32 * KIB, 64 * KIB, 128 * KIB};
    uint64_t total = 0;
    for (int i = 0; i < 3; i++) {
        uint64_t per_bank = dev_bank_footprint(&cfg, DEV_REGION_L1, sizes[i], sizes[i], 0);
        ck_assert_uint_eq(per_bank, sizes[i]);
        total += sizes[i];
        ck_assert_uint_eq(must_alloc(r, per_bank, 0), cfg.l1_size_per_core - total);
    }
    /* TestL1BuffersDoNotGrowBeyondBankSize */
    uint64_t addr;
    alloc_reset(r);
    ck_assert_int_eq(alloc_allocate(r, cfg.l1_size_per_core, 0, &addr), -1);
    ck_assert_int_eq(alloc_allocate(r, l1.size + 1, 0, &addr), -1);
    ck_assert_int_eq(alloc_allocate(r, l1.size, 0, &addr), 0);
    ck_assert_uint_eq(addr, cfg.l1_unreserved_base);
    alloc_region_free(r);
}
END_TEST

/* ---- differential test against a naive reference ------------------------------------------ */

typedef struct {
    uint64_t addr, size;
    int allocated;
} ref_block;

typedef struct {
    uint64_t offset, size, min_alloc, align;
    ref_block *b;
    int n, cap;
} ref_region;

static void ref_init(ref_region *r, uint64_t offset, uint64_t size, uint64_t min_alloc, uint64_t align) {
    r->offset = offset;
    r->size = size;
    r->min_alloc = min_alloc;
    r->align = align;
    r->cap = 4096;
    r->b = malloc(sizeof *r->b * (size_t)r->cap);
    r->n = 1;
    r->b[0] = (ref_block){0, size, 0};
}

static void ref_insert(ref_region *r, int at, ref_block blk) {
    if (r->n >= r->cap)
        ck_abort_msg("reference block table full");
    memmove(&r->b[at + 1], &r->b[at], sizeof *r->b * (size_t)(r->n - at));
    r->b[at] = blk;
    r->n++;
}

static void ref_remove(ref_region *r, int at) {
    memmove(&r->b[at], &r->b[at + 1], sizeof *r->b * (size_t)(r->n - at - 1));
    r->n--;
}

static uint64_t ref_round(const ref_region *r, uint64_t size) {
    uint64_t a = size > r->min_alloc ? size : r->min_alloc;
    return (a + r->align - 1) / r->align * r->align;
}

/* Splits block i so that [rel, rel + need) becomes its own allocated block. */
static void ref_carve(ref_region *r, int i, uint64_t rel, uint64_t need) {
    ref_block blk = r->b[i];
    ref_remove(r, i);
    int at = i;
    if (rel > blk.addr)
        ref_insert(r, at++, (ref_block){blk.addr, rel - blk.addr, 0});
    ref_insert(r, at++, (ref_block){rel, need, 1});
    if (blk.addr + blk.size > rel + need)
        ref_insert(r, at, (ref_block){rel + need, blk.addr + blk.size - rel - need, 0});
}

static int ref_allocate(ref_region *r, uint64_t size, int bottom_up, uint64_t *addr) {
    uint64_t need = ref_round(r, size);
    int found = -1;
    for (int i = 0; i < r->n; i++) {
        if (!r->b[i].allocated && r->b[i].size >= need) {
            found = i;
            if (bottom_up)
                break;
        }
    }
    if (found < 0)
        return -1;
    uint64_t rel = bottom_up ? r->b[found].addr : r->b[found].addr + r->b[found].size - need;
    ref_carve(r, found, rel, need);
    *addr = r->offset + rel;
    return 0;
}

static int ref_allocate_at(ref_region *r, uint64_t addr, uint64_t size) {
    uint64_t need = ref_round(r, size);
    if (addr < r->offset)
        return -1;
    uint64_t rel = addr - r->offset;
    for (int i = 0; i < r->n; i++) {
        ref_block blk = r->b[i];
        if (rel >= blk.addr && rel < blk.addr + blk.size) {
            if (blk.allocated || rel + need > blk.addr + blk.size)
                return -1;
            ref_carve(r, i, rel, need);
            return 0;
        }
    }
    return -1;
}

static int ref_deallocate(ref_region *r, uint64_t addr) {
    for (int i = 0; i < r->n; i++) {
        if (r->b[i].allocated && r->offset + r->b[i].addr == addr) {
            r->b[i].allocated = 0;
            if (i + 1 < r->n && !r->b[i + 1].allocated) {
                r->b[i].size += r->b[i + 1].size;
                ref_remove(r, i + 1);
            }
            if (i > 0 && !r->b[i - 1].allocated) {
                r->b[i - 1].size += r->b[i].size;
                ref_remove(r, i);
            }
            return 0;
        }
    }
    return -1;
}

static void ref_stats(const ref_region *r, uint64_t *allocated, uint64_t *largest, uint64_t *count,
                      uint64_t *lowest) {
    *allocated = *largest = *count = 0;
    *lowest = UINT64_MAX;
    for (int i = 0; i < r->n; i++) {
        if (r->b[i].allocated) {
            *allocated += r->b[i].size;
            ++*count;
            if (*lowest == UINT64_MAX)
                *lowest = r->offset + r->b[i].addr;
        } else if (r->b[i].size > *largest) {
            *largest = r->b[i].size;
        }
    }
}

typedef struct {
    const ref_region *ref;
    int i, mismatch;
} table_cmp;

static int compare_block(void *ctx, uint64_t addr, uint64_t size, int allocated) {
    table_cmp *c = ctx;
    if (c->i >= c->ref->n) {
        c->mismatch = 1;
        return 1;
    }
    const ref_block *b = &c->ref->b[c->i++];
    if (b->addr + c->ref->offset != addr || b->size != size || b->allocated != allocated)
        c->mismatch = 1;
    return c->mismatch;
}

static uint64_t rng_state = 0x243f6a8885a308d3ull;

static uint64_t rng_next(void) {
    /* xorshift64*: a fixed, self-contained generator so the op sequence never changes. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

START_TEST(test_differential_random) {
    const uint64_t offset = 4096, size = 2ull * 1024 * 1024;
    alloc_region *r = alloc_region_new(offset, size, 32, 32);
    ref_region ref;
    ref_init(&ref, offset, size, 32, 32);
    uint64_t live[1024];
    int nlive = 0;
    rng_state = 0x243f6a8885a308d3ull;
    for (int step = 0; step < 100000; step++) {
        uint64_t x = rng_next();
        int op = (int)(x % 100);
        /* Drift between fill-heavy and free-heavy phases so the region is sometimes full. */
        int fill_phase = (step / 5000) % 2 == 0;
        int alloc_share = fill_phase ? 60 : 40;
        if (op < alloc_share && nlive < 1024) {
            uint64_t req = (rng_next() % 4 == 0) ? rng_next() % 64 : rng_next() % (24 * 1024);
            int bottom_up = (int)(rng_next() & 1);
            uint64_t got = 0, want = 0;
            int rc = alloc_allocate(r, req, bottom_up, &got);
            int wrc = ref_allocate(&ref, req, bottom_up, &want);
            STEP_EQ(step, rc, wrc);
            if (rc == 0) {
                STEP_EQ(step, got, want);
                live[nlive++] = got;
            }
        } else if (op < alloc_share + 5 && nlive < 1024) {
            uint64_t at = offset + (rng_next() % (size / 32)) * 32 + (rng_next() % 8 == 0 ? 7 : 0);
            uint64_t req = rng_next() % 4096;
            int rc = alloc_allocate_at(r, at, req);
            STEP_EQ(step, rc, ref_allocate_at(&ref, at, req));
            if (rc == 0)
                live[nlive++] = at;
        } else if (op < 98 && nlive > 0) {
            int k = (int)(rng_next() % (uint64_t)nlive);
            uint64_t expect_size = 0;
            for (int i = 0; i < ref.n; i++)
                if (ref.b[i].allocated && ref.b[i].addr + offset == live[k])
                    expect_size = ref.b[i].size;
            STEP_EQ(step, alloc_block_size(r, live[k]), expect_size);
            STEP_EQ(step, alloc_deallocate(r, live[k]), 0);
            STEP_EQ(step, ref_deallocate(&ref, live[k]), 0);
            live[k] = live[--nlive];
        } else {
            /* Never a live start (those are 0 or 7 mod 32): ignored by both. */
            uint64_t bogus = offset + (rng_next() % (size / 32)) * 32 + 19;
            STEP_EQ(step, alloc_deallocate(r, bogus), ref_deallocate(&ref, bogus));
            if (rng_next() % 2 == 0)
                STEP_EQ(step, alloc_deallocate(r, bogus - offset), ref_deallocate(&ref, bogus - offset));
        }
        uint64_t a, l, c, low;
        ref_stats(&ref, &a, &l, &c, &low);
        STEP_EQ(step, alloc_allocated_bytes(r), a);
        STEP_EQ(step, alloc_free_bytes(r), size - a);
        STEP_EQ(step, alloc_largest_free(r), l);
        STEP_EQ(step, alloc_num_allocated(r), c);
        STEP_EQ(step, alloc_lowest_occupied(r), low);
        if (step % 97 == 0) {
            table_cmp cmp = {&ref, 0, 0};
            alloc_foreach_block(r, compare_block, &cmp);
            STEP_EQ(step, cmp.mismatch, 0);
            STEP_EQ(step, cmp.i, ref.n);
        }
    }
    free(ref.b);
    alloc_region_free(r);
}
END_TEST

START_TEST(test_many_live_buffers) {
    /* Enough blocks for a deep tree; freeing in a scrambled order must coalesce to one block. */
    enum { N = 200000 };
    alloc_region *r = alloc_region_new(0, (uint64_t)N * 64, 32, 32);
    uint64_t *addr = malloc(sizeof *addr * N);
    for (int i = 0; i < N; i++)
        addr[i] = must_alloc(r, 64, i % 2);
    uint64_t tmp;
    STEP_EQ(-1, alloc_allocate(r, 1, 1, &tmp), -1);
    STEP_EQ(-1, alloc_largest_free(r), 0);
    /* Free every other block by a stride coprime with N, then check holes are found. */
    int freed = 0;
    for (uint64_t k = 0, i = 0; k < N / 2; k++, i = (i + 7919) % N) {
        if (alloc_deallocate(r, addr[i]) == 0)
            freed++;
        else
            ck_abort_msg("deallocate failed at %llu", (unsigned long long)addr[i]);
    }
    STEP_EQ(-1, alloc_num_allocated(r), N - freed);
    STEP_EQ(-1, alloc_free_bytes(r), (uint64_t)freed * 64);
    for (uint64_t k = 0, i = (uint64_t)N / 2 * 7919 % N; k < N - N / 2; k++, i = (i + 7919) % N)
        STEP_EQ(i, alloc_deallocate(r, addr[i]), 0);
    STEP_EQ(-1, alloc_num_allocated(r), 0);
    STEP_EQ(-1, alloc_largest_free(r), (uint64_t)N * 64);
    block_table t = {0};
    alloc_foreach_block(r, collect_block, &t);
    STEP_EQ(-1, t.n, 1);
    free(addr);
    alloc_region_free(r);
}
END_TEST

START_TEST(test_churn_keeps_every_block_reachable) {
    /* Near the hash's maximum load, random free/alloc churn makes probe chains long and
     * wrap around the table end; every live block must stay findable by its address. */
    enum { LIVE = 30000, ROUNDS = 150000 };
    alloc_region *r = alloc_region_new(0, (uint64_t)LIVE * 2 * 32, 32, 32);
    uint64_t *live = malloc(sizeof *live * LIVE);
    for (int i = 0; i < LIVE; i++)
        live[i] = must_alloc(r, 32, 1);
    rng_state = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < ROUNDS; i++) {
        int k = (int)(rng_next() % LIVE);
        STEP_EQ(i, alloc_deallocate(r, live[k]), 0);
        live[k] = must_alloc(r, 32, (int)(rng_next() & 1));
    }
    for (int i = 0; i < LIVE; i++)
        STEP_EQ(i, alloc_block_size(r, live[i]), 32);
    for (int i = 0; i < LIVE; i++)
        STEP_EQ(i, alloc_deallocate(r, live[i]), 0);
    STEP_EQ(-1, alloc_largest_free(r), (uint64_t)LIVE * 2 * 32);
    free(live);
    alloc_region_free(r);
}
END_TEST

START_TEST(test_host_out_of_memory) {
    mem_fail_after(0);
    ck_assert_ptr_null(alloc_region_new(0, GIB, KIB, KIB));
    mem_fail_after(-1);
    alloc_region *r = new_gib();
    int failures = 0;
    for (int i = 0; i < 300; i++) {
        uint64_t before_bytes = alloc_allocated_bytes(r), before_n = alloc_num_allocated(r);
        uint64_t before_largest = alloc_largest_free(r), addr = 0;
        mem_fail_after(0);
        int rc = i % 3 == 2 ? alloc_allocate_at(r, (uint64_t)i * 4 * KIB + 512 * KIB * KIB, KIB)
                            : alloc_allocate(r, KIB, i % 2, &addr);
        mem_fail_after(-1);
        if (rc == -2) {
            failures++;
            ck_assert_uint_eq(alloc_allocated_bytes(r), before_bytes);
            ck_assert_uint_eq(alloc_num_allocated(r), before_n);
            ck_assert_uint_eq(alloc_largest_free(r), before_largest);
            rc = i % 3 == 2 ? alloc_allocate_at(r, (uint64_t)i * 4 * KIB + 512 * KIB * KIB, KIB)
                            : alloc_allocate(r, KIB, i % 2, &addr);
        }
        ck_assert_int_eq(rc, 0);
    }
    /* Pool and hash both start small, so 300 allocations must have needed growth. */
    ck_assert_int_ge(failures, 2);
    ck_assert_uint_eq(alloc_num_allocated(r), 300);
    alloc_region_free(r);
}
END_TEST

static Suite *alloc_suite(void) {
    Suite *s = suite_create("alloc");
    TCase *tc = tcase_create("freelistopt");
    tcase_add_test(tc, test_allocation);
    tcase_add_test(tc, test_alignment);
    tcase_add_test(tc, test_min_allocation_size);
    tcase_add_test(tc, test_allocate_from_top);
    tcase_add_test(tc, test_coalescing);
    tcase_add_test(tc, test_first_fit);
    tcase_add_test(tc, test_first_fit_allocate_at_interactions);
    tcase_add_test(tc, test_allocate_at_address);
    tcase_add_test(tc, test_out_of_memory);
    tcase_add_test(tc, test_clear);
    tcase_add_test(tc, test_statistics);
    tcase_add_test(tc, test_lowest_occupied_address);
    tcase_add_test(tc, test_block_table);
    tcase_add_test(tc, test_l1_buffers_allocated_top_down);
    tcase_add_test(tc, test_host_out_of_memory);
    suite_add_tcase(s, tc);
    TCase *big = tcase_create("scale");
    tcase_set_timeout(big, 120);
    tcase_add_test(big, test_differential_random);
    tcase_add_test(big, test_many_live_buffers);
    tcase_add_test(big, test_churn_keeps_every_block_reachable);
    suite_add_tcase(s, big);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(alloc_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
