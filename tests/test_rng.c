/* Unit tests for sim/rng.c: known-answer vectors of the published algorithms (xoshiro256**
 * from state {1,2,3,4}; splitmix64 from seed 1234567, both recomputed with an independent
 * Python transcription of the reference code), bounds and rough uniformity of the ranged
 * draws, and independence of streams. */
#include <check.h>
#include <stdint.h>

#include "rng.h"

START_TEST(xoshiro256starstar_known_answers) {
    static const uint64_t want[] = {11520u, 0u, 1509978240u, 1215971899390074240u, 1216172134540287360u,
                                    607988272756665600u};
    const uint64_t st[4] = {1, 2, 3, 4};
    rng r;
    rng_set_state(&r, st);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        ck_assert_uint_eq(rng_next(&r), want[i]);
}
END_TEST

START_TEST(splitmix64_known_answers) {
    static const uint64_t want[] = {6457827717110365317u, 3203168211198807973u, 9817491932198370423u,
                                    4593380528125082431u, 16408922859458223821u};
    uint64_t x = 1234567;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        ck_assert_uint_eq(rng_splitmix64(&x), want[i]);
}
END_TEST

START_TEST(same_seed_same_stream_same_numbers_streams_differ) {
    rng a, b, c, d;
    rng_init(&a, 42, 7);
    rng_init(&b, 42, 7);
    rng_init(&c, 42, 8);
    rng_init(&d, 43, 7);
    int same_c = 0, same_d = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = rng_next(&a);
        ck_assert_uint_eq(x, rng_next(&b));
        same_c += x == rng_next(&c);
        same_d += x == rng_next(&d);
    }
    ck_assert_int_eq(same_c, 0);
    ck_assert_int_eq(same_d, 0);
    rng z;
    rng_init(&z, 0, 0);
    ck_assert(z.s[0] | z.s[1] | z.s[2] | z.s[3]);
    ck_assert_uint_ne(rng_stream_id("sizes"), rng_stream_id("times"));
    ck_assert_uint_eq(rng_stream_id(""), 0xcbf29ce484222325u); /* FNV-1a offset basis */
    ck_assert_uint_eq(rng_stream_id("a"), 0xaf63dc4c8601ec8cu); /* FNV-1a 64 of "a" */
}
END_TEST

START_TEST(ranged_draws_stay_in_bounds_and_spread) {
    rng r;
    rng_init(&r, 1, rng_stream_id("test"));
    int hist[3] = {0, 0, 0};
    for (int i = 0; i < 30000; i++) {
        uint64_t x = rng_below(&r, 3);
        ck_assert_uint_lt(x, 3);
        hist[x]++;
    }
    for (int i = 0; i < 3; i++)
        ck_assert_msg(hist[i] > 9400 && hist[i] < 10600, "bucket %d: %d", i, hist[i]);
    int lo_seen = 0, hi_seen = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = rng_between(&r, 10, 13);
        ck_assert(x >= 10 && x <= 13);
        lo_seen |= x == 10;
        hi_seen |= x == 13;
    }
    ck_assert(lo_seen && hi_seen);
    ck_assert_uint_eq(rng_below(&r, 1), 0);
    ck_assert_uint_eq(rng_between(&r, 5, 5), 5);
    /* The full range is allowed: lo = 0, hi = 2^64 - 1. */
    (void)rng_between(&r, 0, UINT64_MAX);
    /* A huge n just above 2^63 rejects almost half the raw draws; results stay below n. */
    uint64_t n = (1ull << 63) + 1;
    for (int i = 0; i < 100; i++)
        ck_assert_uint_lt(rng_below(&r, n), n);
}
END_TEST

int main(void) {
    Suite *s = suite_create("rng");
    TCase *t = tcase_create("core");
    tcase_add_test(t, xoshiro256starstar_known_answers);
    tcase_add_test(t, splitmix64_known_answers);
    tcase_add_test(t, same_seed_same_stream_same_numbers_streams_differ);
    tcase_add_test(t, ranged_draws_stay_in_bounds_and_spread);
    suite_add_tcase(s, t);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
