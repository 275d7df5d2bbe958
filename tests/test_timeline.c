/* Unit tests for sim/timeline.c: the exact TSV text of the documented format
 * (docs/scenarios.md, "Timeline format"), change-only rows, ordering of phases and rows, and
 * rejection of time going backwards. */
#include <check.h>
#include <string.h>

#include "mem.h"
#include "timeline.h"

START_TEST(writes_the_documented_format) {
    timeline *t = timeline_new();
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(timeline_set_title(t, "seed story\tseed 1"), 0);
    /* T3K capacities: DRAM region (1 GiB - 32 - 30 000 000) x 12 banks; L1 1 499 136 x 56;
     * TRACE 30 000 000 x 12. The numbers are inputs here; the writer must print them as is. */
    const uint64_t cap1[4] = {12524900928u, 83951616u, 0, 360000000u};
    const uint64_t cap0[4] = {1, 2, 3, 4};
    ck_assert_int_eq(timeline_set_capacity(t, 1, cap1), 0);
    ck_assert_int_eq(timeline_set_capacity(t, 0, cap0), 0);
    ck_assert_int_eq(timeline_set_capacity(t, 0, cap1), 0); /* replaces */
    const uint64_t a[4] = {2048, 0, 0, 0};
    const uint64_t b[4] = {2048, 0, 0, 12503040};
    ck_assert_int_eq(timeline_record(t, 1000, 4, a), 0);
    ck_assert_int_eq(timeline_record(t, 1000, 4, a), 0); /* no change: no row */
    ck_assert_int_eq(timeline_add_phase(t, 2000, "trace_end"), 0);
    ck_assert_int_eq(timeline_record(t, 2000, 4, b), 0);
    ck_assert_int_eq(timeline_add_phase(t, 3000, "warm\tup"), 0);
    sbuf out = SBUF_INIT;
    timeline_write(t, &out);
    ck_assert_str_eq(sbuf_str(&out), "#allocsim-timeline v1\n"
                                     "#title seed story seed 1\n"
                                     "#time_unit ns\n"
                                     "#capacity 0 12524900928 83951616 0 360000000\n"
                                     "#capacity 1 12524900928 83951616 0 360000000\n"
                                     "time\tdevice\tDRAM\tL1\tL1_SMALL\tTRACE\n"
                                     "1000\t4\t2048\t0\t0\t0\n"
                                     "#phase 2000 trace_end\n"
                                     "2000\t4\t2048\t0\t0\t12503040\n"
                                     "#phase 3000 warm up\n");
    sbuf_release(&out);
    timeline_free(t);
}
END_TEST

START_TEST(rejects_backwards_time_bad_devices_and_units) {
    timeline *t = timeline_new();
    const uint64_t v[4] = {1, 0, 0, 0};
    const uint64_t z[4] = {0, 0, 0, 0};
    ck_assert_int_eq(timeline_record(t, 10, 0, v), 0);
    ck_assert_int_eq(timeline_record(t, 9, 1, v), -1);
    ck_assert_int_eq(timeline_add_phase(t, 9, "x"), -1);
    ck_assert_int_eq(timeline_add_phase(t, 10, ""), -1);
    ck_assert_int_eq(timeline_record(t, 10, -1, v), -1);
    ck_assert_int_eq(timeline_record(t, 10, TIMELINE_MAX_DEVICES, v), -1);
    ck_assert_int_eq(timeline_set_capacity(t, TIMELINE_MAX_DEVICES, v), -1);
    ck_assert_int_eq(timeline_record(t, 11, 0, z), 0); /* back to zero is a change */
    ck_assert_uint_eq(t->nrows, 2);
    ck_assert_int_eq(timeline_set_time_unit(t, "ms"), -1);
    ck_assert_int_eq(timeline_set_time_unit(t, "line"), 0);
    sbuf out = SBUF_INIT;
    timeline_write(t, &out);
    ck_assert_ptr_nonnull(strstr(sbuf_str(&out), "#title \n#time_unit line\ntime\t"));
    sbuf_release(&out);
    timeline_free(t);
}
END_TEST

START_TEST(out_of_memory_is_an_error_not_a_crash) {
    timeline *t = timeline_new();
    const uint64_t v[4] = {1, 0, 0, 0};
    ck_assert_int_eq(timeline_record(t, 0, 0, v), 0); /* first row array */
    mem_fail_after(0);
    ck_assert_int_eq(timeline_add_phase(t, 1, "dump"), -1);
    ck_assert_int_eq(timeline_set_title(t, "x"), -1);
    mem_fail_after(-1);
    ck_assert_uint_eq(t->nphases, 0);
    timeline_free(t);
}
END_TEST

int main(void) {
    Suite *s = suite_create("timeline");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, writes_the_documented_format);
    tcase_add_test(tc, rejects_backwards_time_bad_devices_and_units);
    tcase_add_test(tc, out_of_memory_is_an_error_not_a_crash);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
