/* Tests for harness/conn: fences against the reference server (the RESPONSE proves the frames
 * before it were handled), replies owed being read, and every failure mode turned into a
 * status within the timeout: refused, hung (a peer that never answers), closed, wrong reply,
 * fence in the middle of a frame. Misbehaving peers are the other end of a socketpair. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "srvproc.h"

#define WAIT_MS 10000

static int64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static srvproc *start_reference(proto_rev rev) {
    srvproc_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.rev = rev;
    const char *extra[] = {"--stats-interval", "0", NULL};
    cfg.extra_args = extra;
    srvproc *p = NULL;
    char err[2048];
    ck_assert_msg(srvproc_start(&cfg, &p, err, sizeof err) == 0, "%s", err);
    ck_assert_msg(srvproc_wait_ready(p, WAIT_MS, err, sizeof err) == 0, "%s", err);
    return p;
}

/* A conn over one end of a socketpair; the test plays the server on *peer. */
static void pair_conn(conn *c, proto_rev rev, int timeout_ms, int *peer) {
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    memset(c, 0, sizeof *c);
    c->fd = sv[0];
    c->rev = rev;
    c->frame_size = proto_rev_get(rev)->frame_size;
    c->timeout_ms = timeout_ms;
    *peer = sv[1];
}

static proto_msg alloc_msg(uint64_t id, uint64_t size, uint8_t type) {
    proto_msg m;
    memset(&m, 0, sizeof m);
    m.type = PROTO_ALLOC;
    m.device_id = 0;
    m.size = size;
    m.buffer_type = type;
    m.process_id = (int32_t)getpid();
    m.buffer_id = id;
    return m;
}

START_TEST(test_fence_proves_processing) {
    static const proto_rev revs[] = {PROTO_V72, PROTO_V112, PROTO_V144};
    for (size_t r = 0; r < 3; r++) {
        srvproc *p = start_reference(revs[r]);
        conn c;
        char err[512];
        ck_assert_int_eq(conn_open(&c, srvproc_socket_path(p), revs[r], WAIT_MS, err, sizeof err), CONN_OK);
        /* The seed's TRACE buffer (tt-memory-model: 12503040 bytes at 0x3e363c80). */
        proto_msg m = alloc_msg(1043741824u, 12503040u, PROTO_BUF_TRACE);
        ck_assert_int_eq(conn_send_msg(&c, &m, err, sizeof err), CONN_OK);
        m = alloc_msg(0x1000, 4096, PROTO_BUF_DRAM);
        ck_assert_int_eq(conn_send_msg(&c, &m, err, sizeof err), CONN_OK);
        proto_msg reply;
        ck_assert_msg(conn_fence(&c, (int32_t)getpid(), &reply, err, sizeof err) == CONN_OK, "%s", err);
        ck_assert_int_eq(reply.type, PROTO_RESPONSE);
        ck_assert_int_eq(reply.device_id, 0);
        /* Both ALLOCs were handled before the answer: the totals include them. */
        ck_assert_uint_eq(reply.trace_allocated, 12503040u);
        ck_assert_uint_eq(reply.dram_allocated, 4096u);
        ck_assert_uint_eq(c.frames_sent, 3);
        ck_assert_uint_eq(c.bytes_sent, 3 * proto_rev_get(revs[r])->frame_size);
        ck_assert_uint_eq(c.replies_pending, 0);
        ck_assert_int_eq(conn_close(&c, err, sizeof err), CONN_OK);
        ck_assert_int_eq(c.fd, -1);
        srvproc_free(p);
    }
}
END_TEST

START_TEST(test_owed_replies_are_read) {
    srvproc *p = start_reference(PROTO_V112);
    conn c;
    char err[512];
    ck_assert_int_eq(conn_open(&c, srvproc_socket_path(p), PROTO_V112, WAIT_MS, err, sizeof err), CONN_OK);
    proto_msg q;
    memset(&q, 0, sizeof q);
    q.type = PROTO_QUERY;
    q.device_id = 3;
    ck_assert_int_eq(conn_send_msg(&c, &q, err, sizeof err), CONN_OK);
    q.type = PROTO_DEVICE_INFO_QUERY;
    q.device_id = -1;
    ck_assert_int_eq(conn_send_msg(&c, &q, err, sizeof err), CONN_OK);
    ck_assert_uint_eq(c.replies_pending, 2);
    uint8_t buf[PROTO_MAX_FRAME];
    ck_assert_int_eq(conn_read_reply(&c, buf, err, sizeof err), CONN_OK);
    proto_msg r;
    proto_decode(PROTO_V112, buf, 112, &r);
    ck_assert_int_eq(r.type, PROTO_RESPONSE);
    ck_assert_int_eq(r.device_id, 3);
    ck_assert_uint_eq(c.replies_pending, 1);
    /* The fence reads the DEVICE_INFO reply still owed, then its own. */
    proto_msg fr;
    ck_assert_msg(conn_fence(&c, 0, &fr, err, sizeof err) == CONN_OK, "%s", err);
    ck_assert_int_eq(fr.type, PROTO_RESPONSE);
    ck_assert_uint_eq(c.replies_pending, 0);
    /* A QUERY left unread is drained by close: nothing stays in the socket. */
    q.type = PROTO_QUERY;
    q.device_id = 0;
    ck_assert_int_eq(conn_send_msg(&c, &q, err, sizeof err), CONN_OK);
    ck_assert_int_eq(conn_close(&c, err, sizeof err), CONN_OK);
    ck_assert_int_eq(srvproc_exited(p, NULL), 0);
    srvproc_free(p);
}
END_TEST

START_TEST(test_v72_device_info_is_not_owed) {
    /* v72 answers DEVICE_INFO_QUERY with "Unknown message type: 6" and no reply. */
    conn c;
    int peer;
    pair_conn(&c, PROTO_V72, 1000, &peer);
    proto_msg q;
    memset(&q, 0, sizeof q);
    q.type = PROTO_DEVICE_INFO_QUERY;
    char err[256];
    ck_assert_int_eq(conn_send_msg(&c, &q, err, sizeof err), CONN_OK);
    ck_assert_uint_eq(c.replies_pending, 0);
    q.type = PROTO_QUERY;
    ck_assert_int_eq(conn_send_msg(&c, &q, err, sizeof err), CONN_OK);
    ck_assert_uint_eq(c.replies_pending, 1);
    conn_abort(&c);
    close(peer);
}
END_TEST

START_TEST(test_refused) {
    conn c;
    char err[256];
    int64_t t0 = mono_ms();
    ck_assert_int_eq(conn_open(&c, "/tmp/allocsim-no-such-dir/server.sock", PROTO_V72, WAIT_MS, err, sizeof err),
                     CONN_REFUSED);
    ck_assert_msg(mono_ms() - t0 < 1000, "refusal is immediate, not a timeout");
    ck_assert_str_eq(err, "connect /tmp/allocsim-no-such-dir/server.sock: No such file or directory");
}
END_TEST

START_TEST(test_hung_peer_times_out) {
    conn c;
    int peer;
    pair_conn(&c, PROTO_V72, 200, &peer);
    char err[256];
    int64_t t0 = mono_ms();
    ck_assert_int_eq(conn_fence(&c, 0, NULL, err, sizeof err), CONN_TIMEOUT);
    int64_t took = mono_ms() - t0;
    ck_assert_msg(took >= 190 && took < 3000, "took %lld ms", (long long)took);
    ck_assert_str_eq(err, "read reply: no reply within 200 ms (0 of 72 bytes read): hung?");
    conn_abort(&c);
    close(peer);
}
END_TEST

START_TEST(test_peer_that_stops_reading_times_out_on_send) {
    conn c;
    int peer;
    pair_conn(&c, PROTO_V72, 200, &peer);
    static uint8_t big[8 << 20];
    char err[256];
    ck_assert_int_eq(conn_send(&c, big, sizeof big, err, sizeof err), CONN_TIMEOUT);
    ck_assert_msg(strstr(err, "the server read nothing for 200 ms"), "%s", err);
    conn_abort(&c);
    close(peer);
}
END_TEST

START_TEST(test_peer_closes) {
    conn c;
    int peer;
    pair_conn(&c, PROTO_V72, 1000, &peer);
    /* Half a reply, then the server goes away. */
    uint8_t half[40] = {PROTO_RESPONSE};
    ck_assert_int_eq(write(peer, half, sizeof half), 40);
    close(peer);
    char err[256];
    uint8_t buf[PROTO_MAX_FRAME];
    ck_assert_int_eq(conn_read_reply(&c, buf, err, sizeof err), CONN_CLOSED);
    ck_assert_str_eq(err, "read reply: the server closed the connection after 40 of 72 bytes");
    /* Sending to a closed peer is a status too, not SIGPIPE (which would kill this test). */
    ck_assert_int_eq(conn_fence(&c, 0, NULL, err, sizeof err), CONN_CLOSED);
    ck_assert_str_eq(err, "send: Broken pipe (0 of 72 bytes sent)");
    conn_abort(&c);
}
END_TEST

START_TEST(test_wrong_reply_type) {
    conn c;
    int peer;
    pair_conn(&c, PROTO_V112, 1000, &peer);
    uint8_t reply[112] = {PROTO_DEVICE_INFO_RESPONSE};
    ck_assert_int_eq(write(peer, reply, sizeof reply), 112);
    char err[256];
    ck_assert_int_eq(conn_fence(&c, 0, NULL, err, sizeof err), CONN_PROTOCOL);
    ck_assert_str_eq(err, "fence: expected a RESPONSE (type 4) for device 0, found type 7 for device 0");
    /* The peer received exactly one 112-byte QUERY for device 0. */
    uint8_t got[200];
    ssize_t n = read(peer, got, sizeof got);
    ck_assert_int_eq(n, 112);
    ck_assert_int_eq(got[0], PROTO_QUERY);
    ck_assert_int_eq(got[4] | got[5] | got[6] | got[7], 0);
    conn_abort(&c);
    close(peer);
}
END_TEST

START_TEST(test_fence_mid_frame_refused) {
    conn c;
    int peer;
    pair_conn(&c, PROTO_V144, 1000, &peer);
    uint8_t part[100] = {PROTO_ALLOC};
    char err[256];
    ck_assert_int_eq(conn_send(&c, part, sizeof part, err, sizeof err), CONN_OK);
    ck_assert_int_eq(conn_fence(&c, 0, NULL, err, sizeof err), CONN_PROTOCOL);
    ck_assert_str_eq(err, "fence: the connection is in the middle of a frame (100 bytes sent, frame size 144)");
    conn_abort(&c);
    close(peer);
}
END_TEST

START_TEST(test_split_query_counted_once) {
    /* A QUERY written in two pieces is one reply owed, found at the frame boundary. */
    conn c;
    int peer;
    pair_conn(&c, PROTO_V72, 1000, &peer);
    uint8_t frame[72] = {PROTO_QUERY};
    char err[256];
    ck_assert_int_eq(conn_send(&c, frame, 30, err, sizeof err), CONN_OK);
    ck_assert_uint_eq(c.replies_pending, 1);
    ck_assert_int_eq(conn_send(&c, frame + 30, 42, err, sizeof err), CONN_OK);
    ck_assert_uint_eq(c.replies_pending, 1);
    ck_assert_uint_eq(c.frames_sent, 1);
    conn_abort(&c);
    close(peer);
}
END_TEST

/* The peer reads like the real v72 server: one recv(72) per message, no MSG_WAITALL. */
typedef struct {
    int fd;
    size_t total;
    size_t messages;
    size_t short_reads;
} single_recv_peer;

static void *single_recv_main(void *arg) {
    single_recv_peer *p = arg;
    uint8_t buf[72];
    size_t got = 0;
    while (got < p->total) {
        ssize_t n = recv(p->fd, buf, sizeof buf, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
        p->messages++;
        if (n != 72)
            p->short_reads++;
    }
    return NULL;
}

START_TEST(test_big_send_keeps_frames_whole) {
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    conn c;
    memset(&c, 0, sizeof c);
    c.fd = sv[0];
    c.rev = PROTO_V72;
    c.frame_size = 72;
    c.timeout_ms = WAIT_MS;
    fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
    const size_t frames = 60000; /* 4.3 MB: many socket buffers */
    uint8_t *data = calloc(frames, 72);
    for (size_t i = 0; i < frames; i++)
        data[i * 72] = PROTO_ALLOC;
    single_recv_peer peer = {sv[1], frames * 72, 0, 0};
    pthread_t t;
    pthread_create(&t, NULL, single_recv_main, &peer);
    char err[256];
    ck_assert_int_eq(conn_send(&c, data, frames * 72, err, sizeof err), CONN_OK);
    pthread_join(t, NULL);
    ck_assert_uint_eq(peer.short_reads, 0);
    ck_assert_uint_eq(peer.messages, frames);
    free(data);
    close(sv[0]);
    close(sv[1]);
}
END_TEST

int main(void) {
    Suite *s = suite_create("conn");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_fence_proves_processing);
    tcase_add_test(tc, test_owed_replies_are_read);
    tcase_add_test(tc, test_v72_device_info_is_not_owed);
    tcase_add_test(tc, test_refused);
    tcase_add_test(tc, test_hung_peer_times_out);
    tcase_add_test(tc, test_peer_that_stops_reading_times_out_on_send);
    tcase_add_test(tc, test_peer_closes);
    tcase_add_test(tc, test_wrong_reply_type);
    tcase_add_test(tc, test_fence_mid_frame_refused);
    tcase_add_test(tc, test_split_query_counted_once);
    tcase_add_test(tc, test_big_send_keeps_frames_whole);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
