/* Tests for harness/stream: the .allocstream format. The header and entry bytes are checked
 * at the offsets the format defines (written out here independently of stream.c), a save/load
 * round trip keeps everything, the streaming writer and the in-memory encoder agree byte for
 * byte, every corruption gives its own clear error, arbitrary bytes never crash the parser,
 * and a hand-built plan converts to the record sequence the fence rules dictate. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xxhash.h>

#include "mem.h"
#include "stream.h"

static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32; }

/* A stream with two processes and one record of every op. */
static void build_sample(stream *s) {
    stream_init(s, PROTO_V144);
    ck_assert_int_eq(stream_add_proc(s, 919068, "decode"), 0);
    ck_assert_int_eq(stream_add_proc(s, 1234, "fixture"), 1);
    ck_assert_int_eq(stream_append(s, STREAM_OP_SPAWN, 0, 0, NULL, 0), 0);
    ck_assert_int_eq(stream_append_connect(s, 0, 0), 0);
    proto_msg m;
    memset(&m, 0, sizeof m);
    m.type = PROTO_ALLOC;
    m.device_id = 4;
    m.size = 12503040;
    m.buffer_type = PROTO_BUF_TRACE;
    m.process_id = 919068;
    m.buffer_id = 1043741824;
    ck_assert_int_eq(stream_append_frame(s, 0, &m), 0);
    ck_assert_int_eq(stream_append(s, STREAM_OP_WRITE, STREAM_FLAG_VERBATIM, 0, "\x01\x02\x03", 3), 0);
    ck_assert_int_eq(stream_append(s, STREAM_OP_FENCE, 0, 0, NULL, 0), 0);
    ck_assert_int_eq(stream_append(s, STREAM_OP_READ_REPLY, 0, 0, NULL, 0), 0);
    ck_assert_int_eq(stream_append(s, STREAM_OP_DUMP, 0, 0, NULL, 0), 0);
    ck_assert_int_eq(stream_append_sleep(s, 250), 0);
    ck_assert_int_eq(stream_append(s, STREAM_OP_CLOSE, 0, 0, NULL, 0), 0);
    ck_assert_int_eq(stream_append(s, STREAM_OP_CRASH, 0, 0, NULL, 0), 0);
    ck_assert_int_eq(stream_append(s, STREAM_OP_EXIT, 0, 1, NULL, 0), 0);
}

static char tmpdir[64];

static void make_tmpdir(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/allocsim-streamtest-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void remove_tmpdir(const char *file) {
    unlink(file);
    rmdir(tmpdir);
}

static uint8_t *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)n + 1);
    ck_assert_int_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

START_TEST(test_layout_bytes) {
    stream s;
    build_sample(&s);
    uint8_t *b;
    size_t len;
    ck_assert_int_eq(stream_encode(&s, &b, &len), 0);
    /* header */
    ck_assert_int_eq(memcmp(b, "ALLOCSTM", 8), 0);
    ck_assert_uint_eq(rd32(b + 8), 1);
    ck_assert_uint_eq(rd32(b + 12), 144);
    ck_assert_int_eq(memcmp(b + 16, "v144\0\0\0\0\0\0\0\0\0\0\0\0", 16), 0);
    ck_assert_uint_eq(rd32(b + 32), 2);
    ck_assert_uint_eq(rd32(b + 36), 0);
    ck_assert_uint_eq(rd64(b + 40), 11);
    ck_assert_uint_eq(rd64(b + 48), XXH3_64bits(b + 56, len - 56));
    ck_assert_uint_eq(rd64(b + 48), s.digest);
    /* process entries: i32 pid, u16 name length, name */
    ck_assert_uint_eq(rd32(b + 56), 919068);
    ck_assert_uint_eq(b[60] | b[61] << 8, 6);
    ck_assert_int_eq(memcmp(b + 62, "decode", 6), 0);
    ck_assert_uint_eq(rd32(b + 68), 1234);
    ck_assert_uint_eq(b[72] | b[73] << 8, 7);
    ck_assert_int_eq(memcmp(b + 74, "fixture", 7), 0);
    /* records: u8 op, u8 flags, u16 id, u32 len, payload */
    size_t r = 81;
    ck_assert_int_eq(b[r], STREAM_OP_SPAWN);
    ck_assert_uint_eq(rd32(b + r + 4), 0);
    r += 8;
    ck_assert_int_eq(b[r], STREAM_OP_CONNECT);
    ck_assert_uint_eq(rd32(b + r + 4), 2);
    ck_assert_int_eq(b[r + 8] | b[r + 9] << 8, 0);
    r += 10;
    ck_assert_int_eq(b[r], STREAM_OP_WRITE);
    ck_assert_uint_eq(rd32(b + r + 4), 144);
    const uint8_t *f = b + r + 8; /* the frame at protocol.md §2.2 offsets */
    ck_assert_int_eq(f[0], PROTO_ALLOC);
    ck_assert_uint_eq(rd32(f + 4), 4);
    ck_assert_uint_eq(rd64(f + 8), 12503040);
    ck_assert_int_eq(f[16], PROTO_BUF_TRACE);
    ck_assert_uint_eq(rd32(f + 20), 919068);
    ck_assert_uint_eq(rd64(f + 24), 1043741824);
    r += 8 + 144;
    ck_assert_int_eq(b[r], STREAM_OP_WRITE);
    ck_assert_int_eq(b[r + 1], STREAM_FLAG_VERBATIM);
    ck_assert_uint_eq(rd32(b + r + 4), 3);
    r += 11;
    ck_assert_int_eq(b[r], STREAM_OP_FENCE);
    r += 8;
    ck_assert_int_eq(b[r], STREAM_OP_READ_REPLY);
    r += 8;
    ck_assert_int_eq(b[r], STREAM_OP_DUMP);
    r += 8;
    ck_assert_int_eq(b[r], STREAM_OP_SLEEP);
    ck_assert_uint_eq(rd32(b + r + 8), 250);
    r += 12;
    ck_assert_int_eq(b[r], STREAM_OP_CLOSE);
    r += 8;
    ck_assert_int_eq(b[r], STREAM_OP_CRASH);
    r += 8;
    ck_assert_int_eq(b[r], STREAM_OP_EXIT);
    ck_assert_int_eq(b[r + 2] | b[r + 3] << 8, 1);
    r += 8;
    ck_assert_uint_eq(r, len);
    mem_free(b);
    stream_release(&s);
}
END_TEST

START_TEST(test_round_trip_and_writer_agree) {
    make_tmpdir();
    char path[128], path2[128];
    snprintf(path, sizeof path, "%s/a.allocstream", tmpdir);
    snprintf(path2, sizeof path2, "%s/b.allocstream", tmpdir);
    stream s;
    build_sample(&s);
    char err[512];
    ck_assert_msg(stream_save(&s, path, err, sizeof err) == 0, "%s", err);
    /* No temporary file is left behind. */
    char tmp[160];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    ck_assert_int_ne(access(tmp, F_OK), 0);

    stream t;
    ck_assert_msg(stream_load(path, &t, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(t.rev, PROTO_V144);
    ck_assert_uint_eq(t.frame_size, 144);
    ck_assert_uint_eq(t.nprocs, 2);
    ck_assert_str_eq(t.procs[0].name, "decode");
    ck_assert_int_eq(t.procs[1].recorded_pid, 1234);
    ck_assert_uint_eq(t.nrecords, s.nrecords);
    ck_assert_uint_eq(t.digest, s.digest);
    for (size_t i = 0; i < s.nrecords; i++) {
        ck_assert_int_eq(t.records[i].op, s.records[i].op);
        ck_assert_int_eq(t.records[i].flags, s.records[i].flags);
        ck_assert_int_eq(t.records[i].id, s.records[i].id);
        ck_assert_uint_eq(t.records[i].len, s.records[i].len);
        ck_assert_int_eq(memcmp(t.payload + t.records[i].offset, s.payload + s.records[i].offset,
                                s.records[i].len), 0);
    }

    stream_writer *w = stream_writer_open(path2, PROTO_V144, err, sizeof err);
    ck_assert_msg(w != NULL, "%s", err);
    ck_assert_int_eq(stream_writer_add_proc(w, 919068, "decode"), 0);
    ck_assert_int_eq(stream_writer_add_proc(w, 1234, "fixture"), 1);
    for (size_t i = 0; i < s.nrecords; i++)
        ck_assert_int_eq(stream_writer_append(w, s.records[i].op, s.records[i].flags, s.records[i].id,
                                              s.payload + s.records[i].offset, s.records[i].len), 0);
    ck_assert_int_eq(stream_writer_add_proc(w, 1, "late"), -1); /* processes come first */
    ck_assert_msg(stream_writer_finish(w, err, sizeof err) == 0, "%s", err);
    size_t la, lb;
    uint8_t *a = read_file(path, &la), *b = read_file(path2, &lb);
    ck_assert_uint_eq(la, lb);
    ck_assert_int_eq(memcmp(a, b, la), 0);
    free(a);
    free(b);
    unlink(path2);
    stream_release(&s);
    stream_release(&t);
    remove_tmpdir(path);
}
END_TEST

/* Parses a modified image and checks the exact error. */
static void expect_error(const uint8_t *img, size_t len, const char *want) {
    stream s;
    char err[512];
    ck_assert_int_eq(stream_parse(img, len, "x.allocstream", &s, err, sizeof err), -1);
    ck_assert_str_eq(err, want);
    ck_assert_uint_eq(s.nrecords, 0);
}

/* Rewrites the digest after a deliberate structural change, so the structural error shows. */
static void fix_digest(uint8_t *img, size_t len) {
    uint64_t d = XXH3_64bits(img + 56, len - 56);
    for (int i = 0; i < 8; i++)
        img[48 + i] = (uint8_t)(d >> (8 * i));
}

START_TEST(test_corruption_errors) {
    stream s;
    build_sample(&s);
    uint8_t *good;
    size_t len;
    ck_assert_int_eq(stream_encode(&s, &good, &len), 0);
    uint8_t *b = malloc(len + 16);
    char want[512];

    memcpy(b, good, len);
    b[7] = 'N';
    expect_error(b, len, "x.allocstream: bad magic: expected ALLOCSTM, found 'ALLOCSTN'");
    memcpy(b, "\x7f" "ELF\x02\x01\x01\x00", 8);
    expect_error(b, len, "x.allocstream: bad magic: expected ALLOCSTM, found '\\x7fELF\\x02\\x01\\x01\\x00'");
    expect_error(good, 20, "x.allocstream: truncated header: expected 56 bytes, found 20");

    memcpy(b, good, len);
    b[8] = 2;
    expect_error(b, len, "x.allocstream: unsupported format version: expected 1, found 2");

    memcpy(b, good, len);
    b[12] = 112;
    expect_error(b, len, "x.allocstream: bad frame size: expected 144 (revision v144), found 112");

    memcpy(b, good, len);
    memcpy(b + 16, "v999", 4);
    snprintf(want, sizeof want, "x.allocstream: unknown revision: expected one of %s, found 'v999'",
             proto_rev_names());
    expect_error(b, len, want);

    /* Cut inside the WRITE frame (record 2 at byte 99: 8 header bytes, then 144 payload). */
    expect_error(good, 99 + 8 + 20,
                 "x.allocstream: truncated record 2 at byte 99: expected 144 payload bytes, found 20");
    expect_error(good, 99 + 5,
                 "x.allocstream: truncated record 2 at byte 99: expected 8 header bytes, found 5");

    memcpy(b, good, len);
    b[99 + 8 + 30] ^= 0xff; /* a payload byte */
    uint64_t real = XXH3_64bits(b + 56, len - 56);
    snprintf(want, sizeof want, "x.allocstream: digest mismatch: header says 0x%016llx, content hashes to 0x%016llx",
             (unsigned long long)s.digest, (unsigned long long)real);
    expect_error(b, len, want);

    memcpy(b, good, len);
    memcpy(b + len, "junk", 4);
    fix_digest(b, len + 4);
    expect_error(b, len + 4,
                 "x.allocstream: trailing data: expected end of file after 11 records at byte 322, found 4 more bytes");

    memcpy(b, good, len);
    b[81] = 77; /* record 0's op */
    fix_digest(b, len);
    expect_error(b, len,
                 "x.allocstream: record 0 at byte 81: expected an op between 1 (SPAWN) and 10 (SLEEP), found 77");

    memcpy(b, good, len);
    b[89 + 8] = 5; /* CONNECT's process index */
    fix_digest(b, len);
    expect_error(b, len, "x.allocstream: record 1 at byte 89: CONNECT: expected a process index below 2, found 5");

    memcpy(b, good, len);
    b[32] = 200; /* nprocs */
    fix_digest(b, len);
    expect_error(b, len,
                 "x.allocstream: bad process count: header says 200 processes, but only 266 bytes "
                 "follow the header (6 bytes per process at least)");
    memcpy(b, good, len);
    b[60] = 300 & 0xff; /* the first name's length: 300 */
    b[61] = 300 >> 8;
    fix_digest(b, len);
    expect_error(b, len,
                 "x.allocstream: truncated process entry 0 at byte 56: expected 300 name bytes, found 260");
    memcpy(b, good, len);
    b[27] = 4; /* after "v144" in the NUL-padded revision field */
    expect_error(b, len, "x.allocstream: bad revision field: expected NUL padding after 'v144', found 0x04 at byte 27");
    memcpy(b, good, len);
    b[36] = 1;
    expect_error(b, len, "x.allocstream: bad reserved field: expected 0, found 1");

    memcpy(b, good, len);
    b[64] = 0; /* inside "decode": names are text, one encoding per stream */
    fix_digest(b, len);
    expect_error(b, len, "x.allocstream: process entry 0 at byte 56: expected a name without NUL bytes");
    free(b);
    mem_free(good);
    stream_release(&s);
}
END_TEST

START_TEST(test_every_prefix_rejected_and_random_bytes_survive) {
    stream s;
    build_sample(&s);
    uint8_t *good;
    size_t len;
    ck_assert_int_eq(stream_encode(&s, &good, &len), 0);
    char err[512];
    stream t;
    for (size_t n = 0; n < len; n++)
        ck_assert_msg(stream_parse(good, n, "p", &t, err, sizeof err) == -1, "prefix %zu accepted", n);
    ck_assert_int_eq(stream_parse(good, len, "p", &t, err, sizeof err), 0);
    stream_release(&t);
    /* Random mutations from a fixed generator: parse may fail, must not crash or leak. */
    uint64_t x = 0x9e3779b97f4a7c15ull;
    uint8_t *b = malloc(len);
    for (int round = 0; round < 3000; round++) {
        memcpy(b, good, len);
        for (int k = 0; k < 4; k++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b[x % len] = (uint8_t)(x >> 32);
        }
        if (round % 2)
            fix_digest(b, len);
        if (stream_parse(b, len, "r", &t, err, sizeof err) == 0)
            stream_release(&t);
    }
    free(b);
    mem_free(good);
    stream_release(&s);
}
END_TEST

START_TEST(test_out_of_memory_is_an_error) {
    stream s;
    build_sample(&s);
    uint8_t *good;
    size_t len;
    ck_assert_int_eq(stream_encode(&s, &good, &len), 0);
    char err[512];
    int failed_cleanly = 0;
    for (long n = 0; n < 40; n++) {
        stream t;
        mem_fail_after(n);
        int rc = stream_parse(good, len, "m", &t, err, sizeof err);
        mem_fail_after(-1);
        if (rc == 0) {
            stream_release(&t);
            break;
        }
        ck_assert_str_eq(err, "m: out of memory");
        failed_cleanly++;
    }
    ck_assert_int_gt(failed_cleanly, 0);
    mem_free(good);
    stream_release(&s);
}
END_TEST

START_TEST(test_from_plan_fence_rules) {
    /* Processes a (sim pid 101) and b (102). */
    char *names[] = {"a", "b"};
    int32_t pids[] = {101, 102};
    plan_step steps[12];
    memset(steps, 0, sizeof steps);
    size_t n = 0;
    steps[n].kind = PLAN_SPAWN, steps[n++].proc = 0;
    steps[n].kind = PLAN_SPAWN, steps[n++].proc = 1;
    steps[n].kind = PLAN_SEND, steps[n].proc = 0, steps[n].msg.type = PROTO_ALLOC, n++;
    steps[n].kind = PLAN_SEND, steps[n].proc = 0, steps[n].msg.type = PROTO_ALLOC, n++;
    steps[n].kind = PLAN_PHASE, steps[n].proc = 0, steps[n++].label = "decode";
    steps[n].kind = PLAN_SEND, steps[n].proc = 1, steps[n].msg.type = PROTO_ALLOC, n++;
    steps[n].kind = PLAN_SEND, steps[n].proc = 0, steps[n].msg.type = PROTO_QUERY;
    steps[n++].has_reply = 1;
    steps[n].kind = PLAN_DUMP, steps[n].proc = 1, steps[n].msg.type = PROTO_DUMP_REMAINING, n++;
    steps[n].kind = PLAN_SEND, steps[n].proc = 0, steps[n].msg.type = PROTO_FREE, n++;
    steps[n].kind = PLAN_CRASH, steps[n++].proc = 0;
    steps[n].kind = PLAN_EXIT, steps[n++].proc = 1;
    plan p;
    memset(&p, 0, sizeof p);
    p.rev = PROTO_V72;
    p.nprocs = 2;
    p.proc_names = names;
    p.sim_pid = pids;
    p.steps = steps;
    p.nsteps = n;
    stream s;
    char err[256];
    ck_assert_msg(stream_from_plan(&p, &s, err, sizeof err) == 0, "%s", err);
    /* Expected from the rules: fence the last-written connection before switching when it
     * has unconfirmed writes; a reply confirms its connection; fence before a dump; fence a
     * process with unconfirmed writes before it crashes or exits; close before both. */
    static const struct {
        uint8_t op;
        uint16_t id;
    } want[] = {
        {STREAM_OP_SPAWN, 0},  {STREAM_OP_CONNECT, 0},    {STREAM_OP_SPAWN, 1},
        {STREAM_OP_CONNECT, 1}, {STREAM_OP_WRITE, 0},     {STREAM_OP_WRITE, 0},
        {STREAM_OP_FENCE, 0},  {STREAM_OP_WRITE, 1},      {STREAM_OP_FENCE, 1},
        {STREAM_OP_WRITE, 0},  {STREAM_OP_READ_REPLY, 0}, {STREAM_OP_DUMP, 1},
        {STREAM_OP_WRITE, 0},  {STREAM_OP_FENCE, 0},      {STREAM_OP_CLOSE, 0},
        {STREAM_OP_CRASH, 0},  {STREAM_OP_CLOSE, 1},      {STREAM_OP_EXIT, 1},
    };
    ck_assert_uint_eq(s.nrecords, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < s.nrecords; i++) {
        ck_assert_msg(s.records[i].op == want[i].op && s.records[i].id == want[i].id,
                      "record %zu: expected %s %u, found %s %u", i, stream_op_name(want[i].op),
                      want[i].id, stream_op_name(s.records[i].op), s.records[i].id);
    }
    ck_assert_uint_eq(s.nprocs, 2);
    ck_assert_str_eq(s.procs[1].name, "b");
    ck_assert_int_eq(s.procs[1].recorded_pid, 102);
    ck_assert_uint_eq(s.records[11].len, 72); /* the DUMP carries the plan's frame */
    ck_assert_int_eq(s.payload[s.records[11].offset], PROTO_DUMP_REMAINING);
    ck_assert_int_eq(stream_validate(&s, err, sizeof err), 0);
    stream_release(&s);

    steps[2].proc = 7;
    ck_assert_int_eq(stream_from_plan(&p, &s, err, sizeof err), -1);
    ck_assert_str_eq(err, "plan step 2: expected a process index below 2, found 7");
}
END_TEST

START_TEST(test_validate_messages) {
    stream s;
    stream_init(&s, PROTO_V72);
    stream_add_proc(&s, 1, "p");
    stream_append(&s, STREAM_OP_SLEEP, 0, 0, "\x01", 1);
    char err[256];
    ck_assert_int_eq(stream_validate(&s, err, sizeof err), -1);
    ck_assert_str_eq(err, "record 0: SLEEP: expected a payload of 4 bytes, found 1");
    stream_release(&s);
    stream_add_proc(&s, 1, "p");
    stream_append(&s, STREAM_OP_DUMP, 0, 0, "abc", 3);
    ck_assert_int_eq(stream_validate(&s, err, sizeof err), -1);
    ck_assert_str_eq(err, "record 0: DUMP: expected a payload of 0 or 72 bytes, found 3");
    stream_release(&s);
    stream_add_proc(&s, 1, "p");
    stream_append(&s, STREAM_OP_CRASH, 0, 1, NULL, 0);
    ck_assert_int_eq(stream_validate(&s, err, sizeof err), -1);
    ck_assert_str_eq(err, "record 0: CRASH: expected a process index below 1, found 1");
    stream_release(&s);
    ck_assert_str_eq(stream_op_name(STREAM_OP_READ_REPLY), "READ_REPLY");
    ck_assert_ptr_null(stream_op_name(0));
    ck_assert_ptr_null(stream_op_name(11));
}
END_TEST

int main(void) {
    Suite *s = suite_create("stream");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_layout_bytes);
    tcase_add_test(tc, test_round_trip_and_writer_agree);
    tcase_add_test(tc, test_corruption_errors);
    tcase_add_test(tc, test_every_prefix_rejected_and_random_bytes_survive);
    tcase_add_test(tc, test_out_of_memory_is_an_error);
    tcase_add_test(tc, test_from_plan_fence_rules);
    tcase_add_test(tc, test_validate_messages);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
