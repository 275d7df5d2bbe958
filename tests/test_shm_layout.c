/* test_shm_layout: known-answer tests for the SHM region codec (sim/shm_layout.c).
 *
 * Expected images are built here byte by byte at the offsets of shm-tracking.md §2.3-§2.8,
 * typed in from the spec's tables into this file's own row table (spec_rows), with a
 * little-endian writer of this file, independently of shm_layout.c. Every field gets a
 * value derived from its offset, so a field read from the wrong offset or with the wrong
 * width cannot pass by accident. Then: round trips per version from a fixed-seed
 * generator, detection on every version and on ambiguous or garbage input, and decode
 * errors that name the field.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shm_layout.h"

/* ---- the spec's tables, typed in by hand ------------------------------------------------ */

typedef struct {
    const char *name;
    size_t size;          /* sizeof with aligned(64) */
    int counters;         /* 6 with KERNEL */
    size_t chip_base, chip_stride;
    size_t proc_base, proc_stride;
    size_t proc_ts, proc_name; /* inside a process slot */
    size_t padding;       /* padding[64] or 0 */
    size_t init_state;    /* or 0 */
    uint32_t version;
} spec_row;

static const spec_row spec_rows[SHML_VERSION_COUNT] = {
    /* §2.3: header 48, totals 48..95, chips 96 + 56i, processes 992 + 128j, padding 9184 */
    [SHML_L1K] = {"v1-K", 9280, 6, 96, 56, 992, 128, 56, 64, 9184, 0, 1},
    /* §2.4: totals 48..87, chips 88 + 48i, processes 856 + 120j, padding 8536 */
    [SHML_L1N] = {"v1-N", 8640, 5, 88, 48, 856, 120, 48, 56, 8536, 0, 1},
    /* §2.5: offsets of L1-N; padding kept (the 8640 choice) */
    [SHML_L1A] = {"v1-A", 8640, 5, 88, 48, 856, 120, 48, 56, 8536, 0, 1},
    /* §2.6 */
    [SHML_V2A] = {"v2a", 8576, 5, 88, 48, 856, 120, 48, 56, 0, 0, 2},
    [SHML_V2B] = {"v2b", 8576, 5, 88, 48, 856, 120, 48, 56, 0, 0, 2},
    /* §2.7 */
    [SHML_V3] = {"v3", 8576, 5, 88, 48, 856, 120, 48, 56, 0, 0, 3},
    /* §2.8: init_state at 8536 */
    [SHML_V4] = {"v4", 8576, 5, 88, 48, 856, 120, 48, 56, 0, 8536, 4},
};

static uint8_t img[SHML_MAX_REGION_BYTES + 64];
static uint8_t img2[SHML_MAX_REGION_BYTES + 64];

static void put_le(uint8_t *buf, size_t off, uint64_t value, size_t width) {
    for (size_t i = 0; i < width; i++)
        buf[off + i] = (uint8_t)(value >> (8 * i));
}

/* A value whose bytes depend on the field's offset; distinct for every field. */
static uint64_t value_at(size_t off, size_t width) {
    uint64_t v = 0;
    for (size_t i = 0; i < width; i++)
        v |= (uint64_t)(uint8_t)(off * 7 + i * 31 + 0x5A) << (8 * i);
    return v;
}

/* Writes every field of row at its spec offset; returns nothing, fills img (zeroed first). */
static void build_by_hand(const spec_row *row, uint8_t *buf) {
    memset(buf, 0, SHML_MAX_REGION_BYTES);
    put_le(buf, 0, row->version, 4);                 /* version */
    put_le(buf, 4, value_at(4, 4), 4);               /* num_active_processes */
    put_le(buf, 8, value_at(8, 8), 8);               /* last_update_timestamp */
    put_le(buf, 16, value_at(16, 4), 4);             /* reference_count */
    put_le(buf, 24, value_at(24, 8), 8);             /* board_serial */
    put_le(buf, 32, value_at(32, 8), 8);             /* asic_id */
    put_le(buf, 40, value_at(40, 4), 4);             /* device_id */
    for (int c = 0; c < row->counters; c++)
        put_le(buf, 48 + 8 * (size_t)c, value_at(48 + 8 * (size_t)c, 8), 8);
    for (size_t i = 0; i < 16; i++) {
        size_t b = row->chip_base + row->chip_stride * i;
        put_le(buf, b, value_at(b, 4), 4);           /* chip_id */
        put_le(buf, b + 4, value_at(b + 4, 4), 4);   /* is_remote */
        for (int c = 0; c < row->counters; c++)
            put_le(buf, b + 8 + 8 * (size_t)c, value_at(b + 8 + 8 * (size_t)c, 8), 8);
    }
    for (size_t j = 0; j < 64; j++) {
        size_t b = row->proc_base + row->proc_stride * j;
        put_le(buf, b, value_at(b, 4), 4);           /* pid; 4 bytes of padding follow */
        for (int c = 0; c < row->counters; c++)
            put_le(buf, b + 8 + 8 * (size_t)c, value_at(b + 8 + 8 * (size_t)c, 8), 8);
        put_le(buf, b + row->proc_ts, value_at(b + row->proc_ts, 8), 8);
        char name[64];
        memset(name, 0, sizeof name);
        snprintf(name, sizeof name, "proc-%zu", j);
        memcpy(buf + b + row->proc_name, name, 64);
    }
    if (row->init_state)
        put_le(buf, row->init_state, 0x52454459, 4);
}

START_TEST(test_decode_hand_built_every_field) {
    shml_version v = (shml_version)_i;
    const spec_row *row = &spec_rows[v];
    build_by_hand(row, img);
    static shml_region r;
    char err[128] = "";
    ck_assert_msg(shml_decode(v, img, row->size, 0, &r, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(r.version, row->version);
    ck_assert_uint_eq(r.num_active_processes, (uint32_t)value_at(4, 4));
    ck_assert_uint_eq(r.last_update_timestamp, value_at(8, 8));
    ck_assert_uint_eq(r.reference_count, (uint32_t)value_at(16, 4));
    ck_assert_uint_eq(r.board_serial, value_at(24, 8));
    ck_assert_uint_eq(r.asic_id, value_at(32, 8));
    ck_assert_uint_eq(r.device_id, (uint32_t)value_at(40, 4));
    for (int c = 0; c < SHML_CTR_COUNT; c++)
        ck_assert_uint_eq(r.totals[c], c < row->counters ? value_at(48 + 8 * (size_t)c, 8) : 0);
    for (size_t i = 0; i < 16; i++) {
        size_t b = row->chip_base + row->chip_stride * i;
        ck_assert_uint_eq(r.chips[i].chip_id, (uint32_t)value_at(b, 4));
        ck_assert_uint_eq(r.chips[i].is_remote, (uint32_t)value_at(b + 4, 4));
        for (int c = 0; c < SHML_CTR_COUNT; c++)
            ck_assert_uint_eq(r.chips[i].counters[c], c < row->counters ? value_at(b + 8 + 8 * (size_t)c, 8) : 0);
    }
    for (size_t j = 0; j < 64; j++) {
        size_t b = row->proc_base + row->proc_stride * j;
        ck_assert_uint_eq((uint32_t)r.processes[j].pid, (uint32_t)value_at(b, 4));
        for (int c = 0; c < SHML_CTR_COUNT; c++)
            ck_assert_uint_eq(r.processes[j].counters[c], c < row->counters ? value_at(b + 8 + 8 * (size_t)c, 8) : 0);
        ck_assert_uint_eq(r.processes[j].last_update_timestamp, value_at(b + row->proc_ts, 8));
        char name[64];
        snprintf(name, sizeof name, "proc-%zu", j);
        ck_assert_str_eq(r.processes[j].name, name);
    }
    ck_assert_uint_eq(r.init_state, row->init_state ? 0x52454459u : 0);
}
END_TEST

START_TEST(test_encode_matches_hand_built) {
    shml_version v = (shml_version)_i;
    const spec_row *row = &spec_rows[v];
    build_by_hand(row, img);
    static shml_region r;
    ck_assert_int_eq(shml_decode(v, img, row->size, 0, &r, NULL, 0), 0);
    memset(img2, 0xEE, sizeof img2);
    ck_assert_int_eq(shml_encode(v, &r, img2, row->size, NULL, 0), 0);
    for (size_t i = 0; i < row->size; i++)
        ck_assert_msg(img2[i] == img[i], "%s byte %zu: expected 0x%02x, got 0x%02x", row->name, i, img[i], img2[i]);
    ck_assert_uint_eq(img2[row->size], 0xEE); /* nothing written past the region */
}
END_TEST

/* Literal spot checks typed from the spec's prose, one per layout feature. */
START_TEST(test_literal_offsets) {
    static shml_region r;
    memset(&r, 0, sizeof r);
    r.version = 4;
    r.init_state = SHML_INIT_READY;
    r.chips[15].counters[SHML_CTR_CB] = 0x0102030405060708ull;
    r.processes[63].pid = -1;
    ck_assert_int_eq(shml_encode(SHML_V4, &r, img, 8576, NULL, 0), 0);
    /* init_state READY stored as 59 44 45 52 at 8536 (§2.1, §2.8) */
    ck_assert_uint_eq(img[8536], 0x59);
    ck_assert_uint_eq(img[8537], 0x44);
    ck_assert_uint_eq(img[8538], 0x45);
    ck_assert_uint_eq(img[8539], 0x52);
    /* chip 15 cb: 88 + 48*15 + 8 + 32 = 848 */
    ck_assert_uint_eq(img[848], 0x08);
    ck_assert_uint_eq(img[855], 0x01);
    /* process 63 pid: 856 + 120*63 = 8416, -1 as ff ff ff ff, hole after it zero */
    ck_assert_uint_eq(img[8416], 0xFF);
    ck_assert_uint_eq(img[8419], 0xFF);
    ck_assert_uint_eq(img[8420], 0x00);

    memset(&r, 0, sizeof r);
    r.version = 1;
    r.totals[SHML_CTR_KERNEL] = 0xAB;
    r.processes[58].name[56] = 'x'; /* offset 992 + 128*58 + 64 + 56 = 8536 (§2.8 note) */
    r.processes[1].counters[SHML_CTR_KERNEL] = 0xCD;
    ck_assert_int_eq(shml_encode(SHML_L1K, &r, img, 9280, NULL, 0), 0);
    ck_assert_uint_eq(img[88], 0xAB);
    ck_assert_uint_eq(img[8536], 'x');
    ck_assert_uint_eq(img[992 + 128 + 48], 0xCD);
    /* v1-N has no kernel: the same struct encodes nothing at 88 but chip 0's chip_id */
    r.chips[0].chip_id = 0x11;
    ck_assert_int_eq(shml_encode(SHML_L1N, &r, img, 8640, NULL, 0), 0);
    ck_assert_uint_eq(img[88], 0x11);
    ck_assert_uint_eq(img[89], 0x00);
}
END_TEST

START_TEST(test_padding_zero_on_encode) {
    shml_version v = (shml_version)_i;
    const spec_row *row = &spec_rows[v];
    build_by_hand(row, img);
    /* Dirty every hole: header holes, pid holes, padding[64], tail. */
    img[20] = img[23] = img[44] = img[47] = 0x77;
    img[row->proc_base + 4] = 0x77;
    if (row->padding)
        img[row->padding + 63] = 0x77;
    img[row->size - 1] = 0x77;
    static shml_region r;
    ck_assert_int_eq(shml_decode(v, img, row->size, 0, &r, NULL, 0), 0);
    ck_assert_int_eq(shml_encode(v, &r, img2, row->size, NULL, 0), 0);
    ck_assert_uint_eq(img2[20], 0);
    ck_assert_uint_eq(img2[23], 0);
    ck_assert_uint_eq(img2[44], 0);
    ck_assert_uint_eq(img2[47], 0);
    ck_assert_uint_eq(img2[row->proc_base + 4], 0);
    if (row->padding)
        ck_assert_uint_eq(img2[row->padding + 63], 0);
    ck_assert_uint_eq(img2[row->size - 1], 0);
}
END_TEST

/* ---- round trips ------------------------------------------------------------------------ */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t next_random(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

START_TEST(test_round_trip_random) {
    shml_version v = (shml_version)_i;
    const spec_row *row = &spec_rows[v];
    for (int round = 0; round < 20; round++) {
        for (size_t i = 0; i < row->size; i++)
            img[i] = (uint8_t)next_random();
        put_le(img, 0, row->version, 4);
        static shml_region r, r2;
        ck_assert_int_eq(shml_decode(v, img, row->size, 0, &r, NULL, 0), 0);
        ck_assert_int_eq(shml_encode(v, &r, img2, row->size, NULL, 0), 0);
        ck_assert_int_eq(shml_decode(v, img2, row->size, 0, &r2, NULL, 0), 0);
        ck_assert_int_eq(memcmp(&r, &r2, sizeof r), 0);
        static uint8_t img3[SHML_MAX_REGION_BYTES];
        ck_assert_int_eq(shml_encode(v, &r2, img3, row->size, NULL, 0), 0);
        ck_assert_int_eq(memcmp(img2, img3, row->size), 0);
        /* Every data byte survives; only holes and padding may differ from the input. */
        ck_assert_uint_eq(r.totals[SHML_CTR_DRAM], img[48] | (uint64_t)img[49] << 8 | (uint64_t)img[50] << 16 |
                                                       (uint64_t)img[51] << 24 | (uint64_t)img[52] << 32 |
                                                       (uint64_t)img[53] << 40 | (uint64_t)img[54] << 48 |
                                                       (uint64_t)img[55] << 56);
    }
}
END_TEST

START_TEST(test_l1a_both_sizes) {
    static shml_region r;
    memset(&r, 0, sizeof r);
    r.version = 1;
    r.processes[63].pid = 4242;
    ck_assert(shml_size_valid(SHML_L1A, 8640));
    ck_assert(shml_size_valid(SHML_L1A, 8576));
    ck_assert(!shml_size_valid(SHML_L1N, 8576));
    ck_assert_int_eq(shml_encode(SHML_L1A, &r, img, 8576, NULL, 0), 0);
    ck_assert_uint_eq(img[856 + 120 * 63], 4242 & 0xFF);
    static shml_region back;
    ck_assert_int_eq(shml_decode(SHML_L1A, img, 8576, 0, &back, NULL, 0), 0);
    ck_assert_int_eq(back.processes[63].pid, 4242);
}
END_TEST

/* ---- decode errors ---------------------------------------------------------------------- */

START_TEST(test_decode_errors_name_the_field) {
    static shml_region r;
    char err[160];
    memset(img, 0, sizeof img);
    put_le(img, 0, 4, 4);
    ck_assert_int_eq(shml_decode(SHML_V4, img, 9000, 0, &r, err, sizeof err), -1);
    ck_assert_str_eq(err, "size 9000: expected 8576 bytes for v4");
    ck_assert_int_eq(shml_decode(SHML_L1A, img, 9000, 0, &r, err, sizeof err), -1);
    ck_assert_str_eq(err, "size 9000: expected 8640 or 8576 bytes for v1-A");
    ck_assert_int_eq(shml_decode(SHML_L1K, img, 8576, 0, &r, err, sizeof err), -1);
    ck_assert_str_eq(err, "size 8576: expected 9280 bytes for v1-K");
    ck_assert_int_eq(shml_decode(SHML_V3, img, 8576, 0, &r, err, sizeof err), -1);
    ck_assert_str_eq(err, "version 4 at offset 0: expected 3 for v3");
    ck_assert_int_eq(shml_decode(SHML_V3, img, 8576, SHML_DECODE_ANY_VERSION, &r, err, sizeof err), 0);
    ck_assert_uint_eq(r.version, 4);
    ck_assert_int_eq(shml_decode((shml_version)99, img, 8576, 0, &r, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "unknown layout version 99"));
    ck_assert_int_eq(shml_encode(SHML_V2A, &r, img, 8640, err, sizeof err), -1);
    ck_assert_str_eq(err, "size 8640: expected 8576 bytes for v2a");
}
END_TEST

/* ---- table, locator, types -------------------------------------------------------------- */

START_TEST(test_table_and_locator) {
    const char *names[] = {"v1-K", "v1-N", "v1-A", "v2a", "v2b", "v3", "v4"};
    for (int v = 0; v < SHML_VERSION_COUNT; v++) {
        ck_assert_str_eq(shml_version_get((shml_version)v)->name, names[v]);
        ck_assert_uint_eq(shml_version_get((shml_version)v)->size_bytes, spec_rows[v].size);
        shml_version back;
        ck_assert_int_eq(shml_version_parse(names[v], &back), 0);
        ck_assert_int_eq(back, v);
        /* The locator agrees with the hand table on a far field of each block. */
        ck_assert_uint_eq(shml_off((shml_version)v, SHML_F_CHIP_COUNTER, 15, spec_rows[v].counters - 1),
                          spec_rows[v].chip_base + spec_rows[v].chip_stride * 15 + 8 + 8 * (size_t)(spec_rows[v].counters - 1));
        ck_assert_uint_eq(shml_off((shml_version)v, SHML_F_PROC_TIMESTAMP, 63, 0),
                          spec_rows[v].proc_base + spec_rows[v].proc_stride * 63 + spec_rows[v].proc_ts);
        ck_assert_uint_eq(shml_off((shml_version)v, SHML_F_TOTAL, 0, SHML_CTR_CB), 80);
        ck_assert_uint_eq(shml_off((shml_version)v, SHML_F_REFCOUNT, 0, 0), 16);
    }
    shml_version back;
    ck_assert_int_eq(shml_version_parse("L1-K", &back), 0);
    ck_assert_int_eq(back, SHML_L1K);
    ck_assert_int_eq(shml_version_parse("v5", &back), -1);
    shml_field fd;
    ck_assert_int_eq(shml_field_locate(SHML_L1K, SHML_F_TOTAL, 0, SHML_CTR_KERNEL, &fd), 0);
    ck_assert_uint_eq(fd.offset, 88);
    ck_assert_int_eq(shml_field_locate(SHML_L1N, SHML_F_TOTAL, 0, SHML_CTR_KERNEL, &fd), -1);
    ck_assert_int_eq(shml_field_locate(SHML_V3, SHML_F_INIT_STATE, 0, 0, &fd), -1);
    ck_assert_int_eq(shml_field_locate(SHML_V4, SHML_F_INIT_STATE, 0, 0, &fd), 0);
    ck_assert_uint_eq(fd.offset, 8536);
    ck_assert_int_eq(shml_field_locate(SHML_V2A, SHML_F_PADDING, 0, 0, &fd), -1);
    ck_assert_int_eq(shml_field_locate(SHML_L1K, SHML_F_PROC_PID, 64, 0, &fd), -1);
    ck_assert_int_eq(shml_field_locate(SHML_L1K, SHML_F_CHIP_ID, 16, 0, &fd), -1);
    ck_assert_uint_eq(shml_off(SHML_L1K, SHML_F_PROC_PID, 64, 0), SIZE_MAX);
    /* Atomicity per version (§2.3-§2.8). */
    shml_field_locate(SHML_L1K, SHML_F_PROC_COUNTER, 0, 0, &fd);
    ck_assert_int_eq(fd.atomic, 0);
    shml_field_locate(SHML_L1A, SHML_F_PROC_COUNTER, 0, 0, &fd);
    ck_assert_int_eq(fd.atomic, 1);
    shml_field_locate(SHML_V2B, SHML_F_CHIP_ID, 0, 0, &fd);
    ck_assert_int_eq(fd.atomic, 0);
    shml_field_locate(SHML_V3, SHML_F_CHIP_ID, 0, 0, &fd);
    ck_assert_int_eq(fd.atomic, 1);
    shml_field_locate(SHML_V3, SHML_F_NUM_ACTIVE, 0, 0, &fd);
    ck_assert_int_eq(fd.atomic, 0);
    shml_field_locate(SHML_V4, SHML_F_NUM_ACTIVE, 0, 0, &fd);
    ck_assert_int_eq(fd.atomic, 1);
    shml_field_locate(SHML_V4, SHML_F_PROC_NAME, 3, 0, &fd);
    ck_assert_int_eq(fd.atomic, 0);
    ck_assert_int_eq(fd.width, 64);
    ck_assert_uint_eq(shml_version_get(SHML_V2A)->chip_unused, 0);
    ck_assert_uint_eq(shml_version_get(SHML_V2B)->chip_unused, 0xFFFFFFFFu);
}
END_TEST

START_TEST(test_buffer_types) {
    ck_assert_int_eq(shml_counter_of_type(SHML_V4, SHML_TYPE_DRAM), SHML_CTR_DRAM);
    ck_assert_int_eq(shml_counter_of_type(SHML_V4, SHML_TYPE_L1_SMALL), SHML_CTR_L1_SMALL);
    ck_assert_int_eq(shml_counter_of_type(SHML_V4, SHML_TYPE_TRACE), SHML_CTR_TRACE);
    ck_assert_int_eq(shml_counter_of_type(SHML_V4, SHML_TYPE_CB), SHML_CTR_CB);
    ck_assert_int_eq(shml_counter_of_type(SHML_V4, SHML_TYPE_SYSTEM_MEMORY), -1);
    ck_assert_int_eq(shml_counter_of_type(SHML_V4, SHML_TYPE_UNKNOWN), -1);
    ck_assert_int_eq(shml_counter_of_type(SHML_V4, SHML_TYPE_KERNEL), -1);
    ck_assert_int_eq(shml_counter_of_type(SHML_L1K, SHML_TYPE_KERNEL), SHML_CTR_KERNEL);
    ck_assert_int_eq(shml_counter_of_type(SHML_L1K, 7), -1);
    ck_assert_str_eq(shml_type_name(SHML_L1K, 6), "KERNEL");
    ck_assert_ptr_null(shml_type_name(SHML_L1N, 6));
    ck_assert_str_eq(shml_type_name(SHML_V3, 2), "SYSTEM_MEMORY");
    ck_assert_str_eq(shml_type_name(SHML_V3, 255), "UNKNOWN");
    char buf[64];
    ck_assert_str_eq(shml_describe_offset(SHML_V4, 8536, buf, sizeof buf), "init_state");
    ck_assert_str_eq(shml_describe_offset(SHML_V4, 856 + 120 + 8, buf, sizeof buf), "processes[1].dram");
    ck_assert_str_eq(shml_describe_offset(SHML_L1K, 96 + 56 * 2 + 48, buf, sizeof buf), "chip_stats[2].kernel");
    ck_assert_str_eq(shml_describe_offset(SHML_L1K, 9200, buf, sizeof buf), "padding");
    ck_assert_str_eq(shml_describe_offset(SHML_V2A, 21, buf, sizeof buf), "(hole after reference_count)");
    ck_assert_str_eq(shml_describe_offset(SHML_V3, 8540, buf, sizeof buf), "(tail padding)");
}
END_TEST

/* ---- detection -------------------------------------------------------------------------- */

/* A freshly initialised region of v as its creator leaves it (§3.2), device 0. */
static size_t fresh(shml_version v, uint8_t *buf, size_t size) {
    static shml_region r;
    memset(&r, 0, sizeof r);
    r.version = spec_rows[v].version;
    uint32_t unused = (v == SHML_V2B || v == SHML_V3 || v == SHML_V4) ? 0xFFFFFFFFu : 0;
    for (int i = 0; i < 16; i++)
        r.chips[i].chip_id = unused;
    r.chips[0].chip_id = 0;
    r.processes[0].pid = 1234;
    memcpy(r.processes[0].name, "python3", 8);
    if (v == SHML_V4)
        r.init_state = SHML_INIT_READY;
    ck_assert_int_eq(shml_encode(v, &r, buf, size, NULL, 0), 0);
    return size;
}

START_TEST(test_detect_each_version) {
    shml_detection d;
    size_t n = fresh(SHML_L1K, img, 9280);
    ck_assert_int_eq(shml_detect(img, n, &d), 1);
    ck_assert_int_eq(d.best, SHML_L1K);
    ck_assert_int_eq(d.ambiguous, 0);

    n = fresh(SHML_L1N, img, 8640);
    ck_assert_int_eq(shml_detect(img, n, &d), 2); /* v1-N and v1-A share bytes */
    ck_assert_uint_eq(d.candidates, (1u << SHML_L1N) | (1u << SHML_L1A));
    ck_assert_int_eq(d.best, SHML_L1N);
    ck_assert_int_eq(d.ambiguous, 1);
    ck_assert_ptr_nonnull(strstr(d.note, "identical"));

    n = fresh(SHML_L1A, img, 8576);
    ck_assert_int_eq(shml_detect(img, n, &d), 1);
    ck_assert_int_eq(d.best, SHML_L1A);

    n = fresh(SHML_V2A, img, 8576);
    ck_assert_int_eq(shml_detect(img, n, &d), 1);
    ck_assert_int_eq(d.best, SHML_V2A);

    n = fresh(SHML_V2B, img, 8576);
    ck_assert_int_eq(shml_detect(img, n, &d), 1);
    ck_assert_int_eq(d.best, SHML_V2B);
    ck_assert_ptr_nonnull(strstr(d.note, "0xFFFFFFFF"));

    n = fresh(SHML_V3, img, 8576);
    ck_assert_int_eq(shml_detect(img, n, &d), 1);
    ck_assert_int_eq(d.best, SHML_V3);

    n = fresh(SHML_V4, img, 8576);
    ck_assert_int_eq(shml_detect(img, n, &d), 1);
    ck_assert_int_eq(d.best, SHML_V4);
    ck_assert_ptr_nonnull(strstr(d.note, "READY"));
}
END_TEST

START_TEST(test_detect_ambiguous_and_garbage) {
    shml_detection d;
    /* version 2 with every chip slot in use: the sentinel cannot tell v2a from v2b */
    fresh(SHML_V2A, img, 8576);
    for (size_t i = 0; i < 16; i++)
        put_le(img, 88 + 48 * i, i + 1, 4);
    ck_assert_int_eq(shml_detect(img, 8576, &d), 2);
    ck_assert_int_eq(d.ambiguous, 1);
    ck_assert_uint_eq(d.candidates, (1u << SHML_V2A) | (1u << SHML_V2B));

    /* all zero (created, not yet initialised): every 8576-byte layout */
    memset(img, 0, sizeof img);
    ck_assert_int_eq(shml_detect(img, 8576, &d), 5);
    ck_assert_int_eq(d.ambiguous, 1);
    ck_assert_ptr_nonnull(strstr(d.note, "not initialised"));

    /* a v4 region grown to 9280 by a v1-K attacher (§7.1): version decides, note says so */
    fresh(SHML_V4, img, 8576);
    memset(img + 8576, 0, 9280 - 8576);
    ck_assert_int_eq(shml_detect(img, 9280, &d), 1);
    ck_assert_int_eq(d.best, SHML_V4);
    ck_assert_ptr_nonnull(strstr(d.note, "size matches no layout"));

    /* garbage */
    for (size_t i = 0; i < 8576; i++)
        img[i] = (uint8_t)next_random();
    put_le(img, 0, 0xDEADBEEF, 4);
    ck_assert_int_eq(shml_detect(img, 8576, &d), 0);
    ck_assert_uint_eq(d.candidates, 0);
    ck_assert_ptr_nonnull(strstr(d.note, "no known layout"));

    /* too short */
    ck_assert_int_eq(shml_detect(img, 40, &d), 0);
    ck_assert_ptr_nonnull(strstr(d.note, "too short"));
    put_le(img, 0, 3, 4);
    ck_assert_int_eq(shml_detect(img, 4000, &d), 0);
}
END_TEST

START_TEST(test_detect_resized_v1_by_content) {
    /* A v1-K region with live slots cut to 9248 bytes: the version says v1, the size says
     * nothing, the process table's plausibility says v1-K. */
    shml_detection d;
    static shml_region r;
    memset(&r, 0, sizeof r);
    r.version = 1;
    for (int j = 0; j < 40; j++) {
        r.processes[j].pid = 1000 + j;
        r.processes[j].counters[SHML_CTR_DRAM] = 0x123456789ull;
        snprintf(r.processes[j].name, sizeof r.processes[j].name, "worker%d", j);
    }
    ck_assert_int_eq(shml_encode(SHML_L1K, &r, img, 9280, NULL, 0), 0);
    ck_assert_int_eq(shml_detect(img, 9248, &d), 1);
    ck_assert_int_eq(d.best, SHML_L1K);
    /* the same table in v1-N layout, grown to 9248: v1-N/v1-A */
    ck_assert_int_eq(shml_encode(SHML_L1N, &r, img, 8640, NULL, 0), 0);
    memset(img + 8640, 0, 9248 - 8640);
    ck_assert_int_eq(shml_detect(img, 9248, &d), 2);
    ck_assert_uint_eq(d.candidates, (1u << SHML_L1N) | (1u << SHML_L1A));
}
END_TEST

static Suite *shm_layout_suite(void) {
    Suite *s = suite_create("shm_layout");
    TCase *tc = tcase_create("known answers");
    tcase_add_loop_test(tc, test_decode_hand_built_every_field, 0, SHML_VERSION_COUNT);
    tcase_add_loop_test(tc, test_encode_matches_hand_built, 0, SHML_VERSION_COUNT);
    tcase_add_loop_test(tc, test_padding_zero_on_encode, 0, SHML_VERSION_COUNT);
    tcase_add_test(tc, test_literal_offsets);
    suite_add_tcase(s, tc);
    tc = tcase_create("round trip");
    tcase_add_loop_test(tc, test_round_trip_random, 0, SHML_VERSION_COUNT);
    tcase_add_test(tc, test_l1a_both_sizes);
    suite_add_tcase(s, tc);
    tc = tcase_create("errors and table");
    tcase_add_test(tc, test_decode_errors_name_the_field);
    tcase_add_test(tc, test_table_and_locator);
    tcase_add_test(tc, test_buffer_types);
    suite_add_tcase(s, tc);
    tc = tcase_create("detect");
    tcase_add_test(tc, test_detect_each_version);
    tcase_add_test(tc, test_detect_ambiguous_and_garbage);
    tcase_add_test(tc, test_detect_resized_v1_by_content);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(shm_layout_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
