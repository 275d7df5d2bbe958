/* Unit tests for sim/framing.c against protocol.md §3.3 and tracking-stories.md S9: a burst of
 * 112-byte (v112) messages read by a 144-byte (v144) server, worked out by hand from the
 * layouts; a 112-byte server never resynchronises; a good type byte ends an error run. */
#include <check.h>
#include <string.h>

#include "framing.h"
#include "proto.h"

/* Three v112 ALLOCs whose timestamp is 0xe0e0: bytes 32..33 = e0 e0, 34..111 zero. */
static void story_burst(uint8_t *b) {
    memset(b, 0, 336);
    for (int k = 0; k < 3; k++) {
        uint8_t *m = b + 112 * k;
        m[0] = 1;          /* ALLOC */
        m[4] = (uint8_t)k; /* device */
        m[8] = 0x10;       /* size 4096 */
        m[20] = 0x35, m[21] = 0x8c, m[22] = 0x28; /* pid 2657333 */
        m[32] = 0xe0, m[33] = 0xe0;
    }
}

START_TEST(v144_reads_a_v112_burst_one_frame_then_gives_up) {
    uint8_t b[336];
    story_burst(b);
    framing f;
    framing_init(&f, PROTO_V144);
    ck_assert_uint_eq(f.frame_size, 144);
    int frames = 0, drops = 0, closed_at = -1;
    for (int i = 0; i < 336; i++) {
        if (!framing_push(&f, b[i]))
            continue;
        if (framing_type_ok(&f)) {
            /* the only frame: message 1 whole, its device 0, plus 32 bytes of message 2 */
            ck_assert_int_eq(i, 143);
            ck_assert_uint_eq(f.buf[0], 1);
            ck_assert_uint_eq(f.buf[4], 0);
            ck_assert_uint_eq(f.buf[112], 1); /* message 2's type byte, inside frame 1 */
            framing_handled(&f);
            frames++;
        } else {
            drops++;
            if (framing_resync(&f))
                closed_at = i;
        }
    }
    /* Frame 2 starts at byte 144 = offset 32 of message 2 (e0, e0, then zeros): the frame
     * completes at byte 287 and every push after it judges a frame one byte later; the
     * tenth bad type byte is byte 153, judged when byte 296 arrives. */
    ck_assert_int_eq(frames, 1);
    ck_assert_int_eq(drops, 10);
    ck_assert_int_eq(closed_at, 296);
    ck_assert(f.closed);
    ck_assert_uint_eq(framing_pending(&f), 0);
    ck_assert_int_eq(framing_push(&f, 1), 0); /* bytes after the close are lost */
}
END_TEST

START_TEST(v112_server_cuts_every_112_bytes_without_resync) {
    uint8_t b[336];
    story_burst(b);
    framing f;
    framing_init(&f, PROTO_V112);
    int frames = 0;
    for (int i = 0; i < 336; i++) {
        if (framing_push(&f, b[i])) {
            ck_assert(framing_type_ok(&f));
            ck_assert_int_eq(i % 112, 111);
            ck_assert_uint_eq(f.buf[4], frames);
            framing_handled(&f);
            frames++;
        }
    }
    ck_assert_int_eq(frames, 3);
    /* v112 accepts any type byte as a frame (it prints "Unknown message type"). */
    framing_init(&f, PROTO_V112);
    for (int i = 0; i < 112; i++)
        framing_push(&f, 0);
    ck_assert(framing_type_ok(&f));
}
END_TEST

START_TEST(good_type_ends_an_error_run_partial_frame_pending) {
    framing f;
    framing_init(&f, PROTO_V144);
    uint8_t b[144 + 9];
    memset(b, 0, sizeof b);
    b[9] = 3; /* a QUERY frame starts after nine bad bytes */
    int handled = 0;
    for (size_t i = 0; i < sizeof b; i++) {
        if (!framing_push(&f, b[i]))
            continue;
        if (framing_type_ok(&f)) {
            ck_assert_uint_eq(f.buf[0], 3);
            framing_handled(&f);
            handled++;
        } else {
            ck_assert_int_eq(framing_resync(&f), 0);
        }
    }
    ck_assert_int_eq(handled, 1);
    ck_assert_int_eq(f.errors, 0);
    ck_assert(!f.closed);
    framing_push(&f, 7);
    ck_assert_uint_eq(framing_pending(&f), 1);
}
END_TEST

int main(void) {
    Suite *s = suite_create("framing");
    TCase *t = tcase_create("core");
    tcase_add_test(t, v144_reads_a_v112_burst_one_frame_then_gives_up);
    tcase_add_test(t, v112_server_cuts_every_112_bytes_without_resync);
    tcase_add_test(t, good_type_ends_an_error_run_partial_frame_pending);
    suite_add_tcase(s, t);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
