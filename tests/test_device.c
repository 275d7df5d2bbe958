/* test_device: unit tests of device presets, the memory map and sizing rules (sim/device.c).
 *
 * Known answers are the worked numbers of tt-memory-model.md: the T3K trace region and trace
 * buffer of §5 / §11.1 (the seed story), dram_unreserved_base with and without the profiler
 * (§2.1), the bf16 footprint formula (§4.5) and the hardware table (§3).
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "device.h"

static dev_config preset(const char *name) {
    dev_config cfg;
    ck_assert_int_eq(dev_preset(name, &cfg), 0);
    return cfg;
}

static void assert_valid(const dev_config *cfg) {
    char err[256] = "";
    int rc = dev_config_validate(cfg, err, sizeof err);
    ck_assert_msg(rc == 0, "unexpected validation error: %s", err);
}

static void assert_invalid(const dev_config *cfg, const char *fragment) {
    char err[256] = "";
    ck_assert_int_eq(dev_config_validate(cfg, err, sizeof err), -1);
    ck_assert_msg(strstr(err, fragment) != NULL, "message \"%s\" lacks \"%s\"", err, fragment);
}

START_TEST(test_presets) {
    static const char *names[] = {"n150", "n300", "t3k", "galaxy", "p150", "p300"};
    static const int devices[] = {1, 2, 8, 32, 1, 2};
    static const int rows[] = {1, 1, 2, 8, 1, 1};
    static const uint32_t l1_banks[] = {64, 56, 56, 70, 110, 110};
    for (int i = 0; i < 6; i++) {
        dev_config c = preset(names[i]);
        ck_assert_str_eq(c.preset, names[i]);
        ck_assert_int_eq(c.num_devices, devices[i]);
        ck_assert_int_eq(c.mesh_rows, rows[i]);
        ck_assert_int_eq(c.mesh_rows * c.mesh_cols, devices[i]);
        ck_assert_uint_eq(c.l1_banks, l1_banks[i]);
        ck_assert_uint_eq(c.trace_region_size, 0);
        ck_assert_uint_eq(c.l1_small_size, 0);
        ck_assert_int_eq(c.profiler, 0);
        ck_assert_uint_eq(c.l1_alignment, 16);
        ck_assert_ptr_nonnull(strstr(dev_preset_names(), names[i]));
        int blackhole = names[i][0] == 'p';
        ck_assert_int_eq(c.arch, blackhole ? DEV_ARCH_BLACKHOLE : DEV_ARCH_WORMHOLE_B0);
        ck_assert_uint_eq(c.dram_banks, blackhole ? 8 : 12);
        ck_assert_uint_eq(c.dram_bank_size, blackhole ? 4278190080ull : 1073741824ull);
        ck_assert_uint_eq(c.dram_alignment, blackhole ? 64 : 32);
        ck_assert_uint_eq(c.l1_size_per_core, blackhole ? 1572864 : 1499136);
        if (!blackhole)
            ck_assert_uint_eq(c.l1_unreserved_base, 101152);
        if (strcmp(names[i], "t3k") != 0)
            for (int d = 0; d < c.num_devices; d++)
                ck_assert_int_eq(c.device_order[d], d);
        assert_valid(&c);
    }
    dev_config c;
    ck_assert_int_eq(dev_preset("n3000", &c), -1);
    ck_assert_int_eq(dev_preset("", &c), -1);
}
END_TEST

START_TEST(test_t3k_device_order) {
    static const int order[8] = {4, 0, 3, 7, 6, 2, 1, 5};
    dev_config c = preset("t3k");
    ck_assert_int_eq(c.mesh_cols, 4);
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(c.device_order[i], order[i]);
}
END_TEST

START_TEST(test_dram_unreserved_base) {
    dev_layout lay;
    dev_config wh = preset("n150");
    dev_layout_compute(&wh, &lay);
    ck_assert_uint_eq(lay.dram_unreserved_base, 32);
    ck_assert_uint_eq(lay.region[DEV_REGION_DRAM].offset, 32);
    wh.profiler = 1;
    assert_valid(&wh);
    dev_layout_compute(&wh, &lay);
    ck_assert_uint_eq(lay.dram_unreserved_base, 2560032);
    ck_assert_uint_eq(lay.region[DEV_REGION_DRAM].offset, 2560032);
    dev_config bh = preset("p150");
    dev_layout_compute(&bh, &lay);
    ck_assert_uint_eq(lay.dram_unreserved_base, 64);
    bh.profiler = 1;
    dev_layout_compute(&bh, &lay);
    ck_assert_uint_eq(lay.dram_unreserved_base, 6400064);
}
END_TEST

START_TEST(test_t3k_trace_region_seed_story) {
    dev_config c = preset("t3k");
    c.trace_region_size = 30000000;
    assert_valid(&c);
    dev_layout lay;
    dev_layout_compute(&c, &lay);
    dev_range trace = lay.region[DEV_REGION_TRACE];
    dev_range dram = lay.region[DEV_REGION_DRAM];
    ck_assert_uint_eq(trace.offset, 1043741824);
    ck_assert_uint_eq(trace.size, 30000000);
    ck_assert_uint_eq(dram.offset, 32);
    ck_assert_uint_eq(dram.offset + dram.size, 1043741824);

    const uint64_t unpadded = 12503040;
    ck_assert_uint_eq(dev_trace_page_size(&c, unpadded), 2048);
    ck_assert_uint_eq(dev_trace_padded_size(&c, unpadded), 12503040);
    uint64_t per_bank = dev_bank_footprint(&c, DEV_REGION_TRACE, unpadded, 2048, 0);
    ck_assert_uint_eq(per_bank, 1042432);

    alloc_region *r = alloc_region_new(trace.offset, trace.size, c.dram_alignment, c.dram_alignment);
    ck_assert_ptr_nonnull(r);
    uint64_t first, second;
    ck_assert_int_eq(alloc_allocate(r, per_bank, 1, &first), 0);
    ck_assert_int_eq(alloc_allocate(r, per_bank, 1, &second), 0);
    ck_assert_uint_eq(first, 1043741824);
    ck_assert_uint_eq(second, 1044784256);
    alloc_region_free(r);
}
END_TEST

START_TEST(test_trace_page_choice) {
    dev_config c = preset("n150");
    /* 12 x 1024 divides exactly; 2048 and 4096 would waste. */
    ck_assert_uint_eq(dev_trace_page_size(&c, 12288), 1024);
    ck_assert_uint_eq(dev_trace_padded_size(&c, 12288), 12288);
    /* Every page divides 12 x 4096 exactly: the tie goes to the largest page. */
    ck_assert_uint_eq(dev_trace_page_size(&c, 49152), 4096);
    /* 24576 = 12 x 2048: 1024 and 2048 tie at zero waste, 4096 wastes. */
    ck_assert_uint_eq(dev_trace_page_size(&c, 24576), 2048);
    /* Small traces: 1024 pads least; the padded size is a multiple of the page only. */
    ck_assert_uint_eq(dev_trace_page_size(&c, 1000), 1024);
    ck_assert_uint_eq(dev_trace_padded_size(&c, 1000), 1024);
    ck_assert_uint_eq(dev_trace_padded_size(&c, 12503041), 12503040 + 2048);
    dev_config bh = preset("p150");
    /* 8 banks: 8 x 2048 = 16384 divides 16384 * 3; 4096 x 8 = 32768 does not. */
    ck_assert_uint_eq(dev_trace_page_size(&bh, 49152), 2048);
}
END_TEST

START_TEST(test_bank_footprint) {
    dev_config c = preset("n150");
    /* §4.5: a DRAM tensor of N bf16 tiles consumes ceil(N / 12) x 2048 per bank. */
    static const uint64_t tiles[] = {1, 11, 12, 13, 100, 4096};
    for (size_t i = 0; i < sizeof tiles / sizeof tiles[0]; i++) {
        uint64_t n = tiles[i];
        ck_assert_uint_eq(dev_bank_footprint(&c, DEV_REGION_DRAM, n * 2048, 2048, 0),
                          (n + 11) / 12 * 2048);
    }
    /* L1 interleaved on 64 banks: ceil(N / 64) x 2048. */
    ck_assert_uint_eq(dev_bank_footprint(&c, DEV_REGION_L1, 65 * 2048, 2048, 0), 2 * 2048);
    /* Row-major pages of 100 bytes: pages aligned to 32 in DRAM, to 16 in L1. */
    ck_assert_uint_eq(dev_bank_footprint(&c, DEV_REGION_DRAM, 24 * 100, 100, 0), 2 * 128);
    ck_assert_uint_eq(dev_bank_footprint(&c, DEV_REGION_L1, 128 * 100, 100, 0), 2 * 112);
    /* A partial last page still takes a whole page. */
    ck_assert_uint_eq(dev_bank_footprint(&c, DEV_REGION_DRAM, 12 * 2048 + 1, 2048, 0), 2 * 2048);
    /* page_size 0: one page of the whole size. */
    ck_assert_uint_eq(dev_bank_footprint(&c, DEV_REGION_DRAM, 1000, 0, 0), 1024);
    ck_assert_uint_eq(dev_bank_footprint(&c, DEV_REGION_DRAM, 0, 2048, 0), 0);
    /* Sharded: the shard core count replaces the bank count. */
    ck_assert_uint_eq(dev_bank_footprint(&c, DEV_REGION_L1, 10 * 2048, 2048, 5), 2 * 2048);
    /* §8 global semaphore: one 4-byte page per core, 16 bytes per bank, 32 once allocated. */
    uint64_t sem = dev_bank_footprint(&c, DEV_REGION_L1, 64 * 4, 4, 64);
    ck_assert_uint_eq(sem, 16);
    alloc_region *r = alloc_region_new(0, 4096, c.dram_alignment, c.dram_alignment);
    uint64_t addr;
    ck_assert_int_eq(alloc_allocate(r, sem, 0, &addr), 0);
    ck_assert_uint_eq(alloc_block_size(r, addr), 32);
    alloc_region_free(r);
    /* Blackhole: 8 DRAM banks, 64-byte alignment (bfp8_b tiles of 1088 bytes -> 1088). */
    dev_config bh = preset("p150");
    ck_assert_uint_eq(dev_bank_footprint(&bh, DEV_REGION_DRAM, 9 * 1088, 1088, 0), 2 * 1088);
    ck_assert_uint_eq(dev_bank_footprint(&bh, DEV_REGION_TRACE, 8 * 100, 100, 0), 128);
    /* Absurd sizes saturate instead of wrapping. */
    ck_assert_uint_eq(dev_bank_footprint(&c, DEV_REGION_DRAM, UINT64_MAX, 1, 1), UINT64_MAX);
}
END_TEST

START_TEST(test_layout_rounding) {
    dev_config c = preset("n150");
    c.trace_region_size = 30000001;
    c.l1_small_size = 24 * 1024 + 1;
    assert_valid(&c);
    dev_layout lay;
    dev_layout_compute(&c, &lay);
    ck_assert_uint_eq(lay.region[DEV_REGION_TRACE].size, 30000032);
    ck_assert_uint_eq(lay.region[DEV_REGION_TRACE].offset, 1073741824 - 30000032);
    ck_assert_uint_eq(lay.region[DEV_REGION_DRAM].size, 1073741824 - 30000032 - 32);
    ck_assert_uint_eq(lay.region[DEV_REGION_L1_SMALL].size, 24 * 1024 + 32);
    ck_assert_uint_eq(lay.region[DEV_REGION_L1_SMALL].offset, 1499136 - 24 * 1024 - 32);
    ck_assert_uint_eq(lay.region[DEV_REGION_L1].offset, 101152);
    ck_assert_uint_eq(lay.region[DEV_REGION_L1].offset + lay.region[DEV_REGION_L1].size,
                      1499136 - 24 * 1024 - 32);
    /* Without a trace or L1_SMALL, those regions are empty at the top. */
    dev_config p = preset("p150");
    dev_layout_compute(&p, &lay);
    ck_assert_uint_eq(lay.region[DEV_REGION_TRACE].size, 0);
    ck_assert_uint_eq(lay.region[DEV_REGION_TRACE].offset, 4278190080ull);
    ck_assert_uint_eq(lay.region[DEV_REGION_DRAM].size, 4278190080ull - 64);
    ck_assert_uint_eq(lay.region[DEV_REGION_L1_SMALL].offset, 1572864);
    ck_assert_uint_eq(lay.region[DEV_REGION_L1].offset + lay.region[DEV_REGION_L1].size, 1572864);
}
END_TEST

START_TEST(test_region_names_and_types) {
    ck_assert_uint_eq(dev_region_buffer_type(DEV_REGION_DRAM), 0);
    ck_assert_uint_eq(dev_region_buffer_type(DEV_REGION_L1), 1);
    ck_assert_uint_eq(dev_region_buffer_type(DEV_REGION_L1_SMALL), 3);
    ck_assert_uint_eq(dev_region_buffer_type(DEV_REGION_TRACE), 4);
    ck_assert_str_eq(dev_region_name(DEV_REGION_DRAM), "DRAM");
    ck_assert_str_eq(dev_region_name(DEV_REGION_L1), "L1");
    ck_assert_str_eq(dev_region_name(DEV_REGION_L1_SMALL), "L1_SMALL");
    ck_assert_str_eq(dev_region_name(DEV_REGION_TRACE), "TRACE");
}
END_TEST

START_TEST(test_validation_failures) {
    dev_config c = preset("n150");
    c.trace_region_size = 2000000000;
    assert_invalid(&c, "trace_region_size 2000000000 exceeds the DRAM bank size 1073741824");
    c = preset("n150");
    c.trace_region_size = 1073741824 - 16; /* fits the bank, not above the 32-byte barrier */
    assert_invalid(&c, "does not fit above dram_unreserved_base 32");
    c = preset("n150");
    c.trace_region_size = 1073741824 - 32;
    assert_valid(&c); /* leaves an empty DRAM region: legal, every DRAM allocation fails */
    c = preset("n150");
    c.l1_small_size = 1499136 - 101152 + 1;
    assert_invalid(&c, "l1_small_size");
    c.l1_small_size = 2000000;
    assert_invalid(&c, "l1_small_size 2000000 exceeds the L1 size per core 1499136");
    c = preset("t3k");
    c.device_order[3] = 4;
    assert_invalid(&c, "device_order lists device 4 twice");
    c = preset("t3k");
    c.device_order[0] = 8;
    assert_invalid(&c, "device 8, outside 0..7");
    c = preset("t3k");
    c.mesh_rows = 3;
    assert_invalid(&c, "mesh shape 3x4 does not hold 8 devices");
    c = preset("n150");
    c.num_devices = 0;
    assert_invalid(&c, "num_devices 0");
    c = preset("n150");
    c.dram_alignment = 48;
    assert_invalid(&c, "dram_alignment 48 is not a power of two");
    c = preset("n150");
    c.l1_alignment = 0;
    assert_invalid(&c, "l1_alignment 0");
    c = preset("n150");
    c.dram_banks = 0;
    assert_invalid(&c, "dram_banks");
    c = preset("n150");
    c.l1_banks = 0;
    assert_invalid(&c, "l1_banks");
    c = preset("n150");
    c.l1_unreserved_base = 1499136;
    assert_invalid(&c, "l1_unreserved_base 1499136 is not below l1_size_per_core 1499136");
    c = preset("n150");
    c.arch = (dev_arch)7;
    assert_invalid(&c, "architecture 7");
    c = preset("n150");
    c.dram_bank_size = 1000;
    assert_invalid(&c, "dram_bank_size 1000");
    c = preset("n150");
    c.trace_region_size = UINT64_MAX; /* no wrap-around in the rounding */
    assert_invalid(&c, "exceeds the DRAM bank size");
    /* A custom mesh overriding a preset is accepted. */
    c = preset("galaxy");
    c.mesh_rows = 4;
    c.mesh_cols = 8;
    assert_valid(&c);
    /* A zero-length error buffer is tolerated. */
    c.num_devices = 0;
    ck_assert_int_eq(dev_config_validate(&c, NULL, 0), -1);
}
END_TEST

static Suite *device_suite(void) {
    Suite *s = suite_create("device");
    TCase *tc = tcase_create("device");
    tcase_add_test(tc, test_presets);
    tcase_add_test(tc, test_t3k_device_order);
    tcase_add_test(tc, test_dram_unreserved_base);
    tcase_add_test(tc, test_t3k_trace_region_seed_story);
    tcase_add_test(tc, test_trace_page_choice);
    tcase_add_test(tc, test_bank_footprint);
    tcase_add_test(tc, test_layout_rounding);
    tcase_add_test(tc, test_region_names_and_types);
    tcase_add_test(tc, test_validation_failures);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(device_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
