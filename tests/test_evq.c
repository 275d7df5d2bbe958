/* Unit tests for sim/evq.c: events leave in (virtual time, push order) order, checked against
 * a sort of the same events; ties keep push order; allocation failure leaves the queue intact. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "evq.h"
#include "mem.h"

START_TEST(same_time_events_leave_in_push_order) {
    evq q;
    evq_init(&q);
    ck_assert_int_eq(evq_push(&q, 5, 2, 0), 0);
    ck_assert_int_eq(evq_push(&q, 5, 0, 1), 0);
    ck_assert_int_eq(evq_push(&q, 1, 9, 2), 0);
    ck_assert_int_eq(evq_push(&q, 5, 1, 3), 0);
    ck_assert_uint_eq(evq_size(&q), 4);
    ck_assert_uint_eq(evq_peek(&q)->vtime_ns, 1);
    evq_event ev;
    static const uint64_t order[] = {2, 0, 1, 3};
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(evq_pop(&q, &ev), 1);
        ck_assert_uint_eq(ev.data, order[i]);
    }
    ck_assert_int_eq(evq_pop(&q, &ev), 0);
    ck_assert_ptr_null(evq_peek(&q));
    evq_release(&q);
}
END_TEST

static int cmp_ev(const void *a, const void *b) {
    const evq_event *x = a, *y = b;
    if (x->vtime_ns != y->vtime_ns)
        return x->vtime_ns < y->vtime_ns ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

START_TEST(random_schedule_matches_a_sort) {
    enum { N = 5000 };
    evq q;
    evq_init(&q);
    evq_event *ref = malloc(sizeof *ref * N);
    uint64_t x = 88172645463325252u;
    for (int i = 0; i < N; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        uint64_t t = x % 50; /* many ties */
        ck_assert_int_eq(evq_push(&q, t, i % 7, (uint64_t)i), 0);
        ref[i] = (evq_event){t, (uint64_t)i, i % 7, (uint64_t)i};
    }
    qsort(ref, N, sizeof *ref, cmp_ev);
    for (int i = 0; i < N; i++) {
        evq_event ev;
        ck_assert_int_eq(evq_pop(&q, &ev), 1);
        ck_assert_uint_eq(ev.vtime_ns, ref[i].vtime_ns);
        ck_assert_uint_eq(ev.seq, ref[i].seq);
        ck_assert_uint_eq(ev.data, ref[i].data);
        ck_assert_int_eq(ev.proc, ref[i].proc);
    }
    free(ref);
    evq_release(&q);
}
END_TEST

/* A discrete-event loop: pops and pushes interleaved, time never goes backwards. */
START_TEST(interleaved_push_pop_never_goes_back_in_time) {
    evq q;
    evq_init(&q);
    for (int p = 0; p < 4; p++)
        evq_push(&q, 0, p, 0);
    uint64_t now = 0, steps = 0;
    evq_event ev;
    while (evq_pop(&q, &ev)) {
        ck_assert_uint_ge(ev.vtime_ns, now);
        now = ev.vtime_ns;
        if (++steps < 2000)
            ck_assert_int_eq(evq_push(&q, now + (uint64_t)(ev.proc * 3 + 1), ev.proc, ev.data + 1), 0);
    }
    ck_assert_uint_eq(steps, 2000 + 3);
    evq_release(&q);
}
END_TEST

START_TEST(out_of_memory_leaves_the_queue_unchanged) {
    evq q;
    evq_init(&q);
    for (int i = 0; i < 16; i++)
        ck_assert_int_eq(evq_push(&q, (uint64_t)(16 - i), 0, (uint64_t)i), 0);
    mem_fail_after(0);
    int rc = evq_push(&q, 0, 0, 99); /* needs to grow beyond 16 */
    mem_fail_after(-1);
    ck_assert_int_eq(rc, -1);
    ck_assert_uint_eq(evq_size(&q), 16);
    evq_event ev;
    ck_assert_int_eq(evq_pop(&q, &ev), 1);
    ck_assert_uint_eq(ev.data, 15);
    evq_release(&q);
}
END_TEST

int main(void) {
    Suite *s = suite_create("evq");
    TCase *t = tcase_create("core");
    tcase_add_test(t, same_time_events_leave_in_push_order);
    tcase_add_test(t, random_schedule_matches_a_sort);
    tcase_add_test(t, interleaved_push_pop_never_goes_back_in_time);
    tcase_add_test(t, out_of_memory_leaves_the_queue_unchanged);
    suite_add_tcase(s, t);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
