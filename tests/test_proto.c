/* test_proto: known-answer tests for the wire codec (sim/proto.c) against protocol.md.
 *
 * Expected frames are built here byte by byte at the offsets of protocol.md §2.2-2.4, with a
 * little-endian writer of this file, independently of proto.c; the seed's TRACE frame is also
 * spelled out as literal bytes. Streams are fed to proto_reader whole, byte by byte and in
 * random-sized chunks from a fixed-seed generator (the xxHash sanity-check habit).
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

/* ---- independent little-endian frame builder --------------------------------------------- */

static void put_le(uint8_t *frame, size_t offset, uint64_t value, size_t width) {
    for (size_t i = 0; i < width; i++)
        frame[offset + i] = (uint8_t)(value >> (8 * i));
}

/* Every field gets a distinct value whose bytes are all different, so a field read from the
 * wrong offset or with the wrong width cannot pass by accident. */
typedef struct {
    size_t offset;
    size_t width;
    uint64_t value;
} field_spec;

enum {
    F_TYPE, F_PAD1, F_DEVICE, F_SIZE, F_BUFTYPE, F_PAD2, F_PID, F_BUFID, F_TIMESTAMP,
    F_DRAM, F_L1, F_L1SMALL, F_TRACE, F_CB, F_KERNEL, F_TOTAL_DRAM, F_TOTAL_L1, F_ARCH,
    F_NCHAN, F_CHAN_SIZE, F_L1_PER_CORE, F_AVAILABLE, F_NDEV, F_RB_TOTAL, F_RB_USED, F_RB_PROGS,
    F_PAD3, F_COUNT
};

#define ABSENT ((size_t)-1)

/* Offsets of protocol.md §2.2 (v72), §2.3 (v112) and §2.4 (v144). */
static void layout_for(size_t frame_size, field_spec f[F_COUNT]) {
    static const uint64_t values[F_COUNT] = {
        [F_TYPE] = 0x05,
        [F_PAD1] = 0xC3B2A1,
        [F_DEVICE] = 0x04030201,
        [F_SIZE] = 0x1817161514131211,
        [F_BUFTYPE] = 0x04,
        [F_PAD2] = 0xF3E2D1,
        [F_PID] = 0x24232221,
        [F_BUFID] = 0x3837363534333231,
        [F_TIMESTAMP] = 0x4847464544434241,
        [F_DRAM] = 0x5857565554535251,
        [F_L1] = 0x6867666564636261,
        [F_L1SMALL] = 0x7877767574737271,
        [F_TRACE] = 0x8887868584838281,
        [F_CB] = 0x9897969594939291,
        [F_KERNEL] = 0xA8A7A6A5A4A3A2A1,
        [F_TOTAL_DRAM] = 0xB8B7B6B5B4B3B2B1,
        [F_TOTAL_L1] = 0xC8C7C6C5C4C3C2C1,
        [F_ARCH] = 0xD4D3D2D1,
        [F_NCHAN] = 0xE4E3E2E1,
        [F_CHAN_SIZE] = 0xF4F3F2F1,
        [F_L1_PER_CORE] = 0x0D0C0B0A,
        [F_AVAILABLE] = 0x1D1C1B1A,
        [F_NDEV] = 0x2D2C2B2A,
        [F_RB_TOTAL] = 0x3D3C3B3A,
        [F_RB_USED] = 0x4D4C4B4A,
        [F_RB_PROGS] = 0x5D5C5B5A,
        [F_PAD3] = 0x6D6C6B6A,
    };
    static const size_t v72[][2] = {
        {0, 1}, {1, 3}, {4, 4}, {8, 8}, {16, 1}, {17, 3}, {20, 4}, {24, 8}, {32, 8},
        {40, 8}, {48, 8}, {56, 8}, {64, 8}};
    for (int i = 0; i < F_COUNT; i++) {
        f[i].value = values[i];
        f[i].offset = ABSENT;
        f[i].width = 0;
    }
    for (int i = 0; i <= F_TRACE; i++) {
        f[i].offset = v72[i][0];
        f[i].width = v72[i][1];
    }
    if (frame_size == 112) {
        static const size_t v112[][3] = {
            {F_TOTAL_DRAM, 72, 8}, {F_TOTAL_L1, 80, 8}, {F_ARCH, 88, 4}, {F_NCHAN, 92, 4},
            {F_CHAN_SIZE, 96, 4}, {F_L1_PER_CORE, 100, 4}, {F_AVAILABLE, 104, 4},
            {F_NDEV, 108, 4}};
        for (size_t i = 0; i < sizeof v112 / sizeof v112[0]; i++) {
            f[v112[i][0]].offset = v112[i][1];
            f[v112[i][0]].width = v112[i][2];
        }
    } else if (frame_size == 144) {
        static const size_t v144[][3] = {
            {F_CB, 72, 8}, {F_KERNEL, 80, 8}, {F_TOTAL_DRAM, 88, 8}, {F_TOTAL_L1, 96, 8},
            {F_ARCH, 104, 4}, {F_NCHAN, 108, 4}, {F_CHAN_SIZE, 112, 4},
            {F_L1_PER_CORE, 116, 4}, {F_AVAILABLE, 120, 4}, {F_NDEV, 124, 4},
            {F_RB_TOTAL, 128, 4}, {F_RB_USED, 132, 4}, {F_RB_PROGS, 136, 4}, {F_PAD3, 140, 4}};
        for (size_t i = 0; i < sizeof v144 / sizeof v144[0]; i++) {
            f[v144[i][0]].offset = v144[i][1];
            f[v144[i][0]].width = v144[i][2];
        }
    }
}

static size_t build_frame(size_t frame_size, const field_spec f[F_COUNT], uint8_t *frame) {
    memset(frame, 0, PROTO_MAX_FRAME);
    size_t covered = 0;
    for (int i = 0; i < F_COUNT; i++) {
        if (f[i].offset == ABSENT)
            continue;
        ck_assert_uint_le(f[i].offset + f[i].width, frame_size);
        put_le(frame, f[i].offset, f[i].value, f[i].width);
        covered += f[i].width;
    }
    return covered;
}

/* The decoded value of field i, widened the way the wire carries it. */
static uint64_t field_of(const proto_msg *m, int i) {
    switch (i) {
    case F_TYPE: return m->type;
    case F_PAD1: return (uint64_t)m->pad1[0] | (uint64_t)m->pad1[1] << 8 | (uint64_t)m->pad1[2] << 16;
    case F_DEVICE: return (uint32_t)m->device_id;
    case F_SIZE: return m->size;
    case F_BUFTYPE: return m->buffer_type;
    case F_PAD2: return (uint64_t)m->pad2[0] | (uint64_t)m->pad2[1] << 8 | (uint64_t)m->pad2[2] << 16;
    case F_PID: return (uint32_t)m->process_id;
    case F_BUFID: return m->buffer_id;
    case F_TIMESTAMP: return m->timestamp;
    case F_DRAM: return m->dram_allocated;
    case F_L1: return m->l1_allocated;
    case F_L1SMALL: return m->l1_small_allocated;
    case F_TRACE: return m->trace_allocated;
    case F_CB: return m->cb_allocated;
    case F_KERNEL: return m->kernel_allocated;
    case F_TOTAL_DRAM: return m->total_dram_size;
    case F_TOTAL_L1: return m->total_l1_size;
    case F_ARCH: return m->arch_type;
    case F_NCHAN: return m->num_dram_channels;
    case F_CHAN_SIZE: return m->dram_size_per_channel;
    case F_L1_PER_CORE: return m->l1_size_per_core;
    case F_AVAILABLE: return m->is_available;
    case F_NDEV: return m->num_devices;
    case F_RB_TOTAL: return m->ringbuffer_total_size;
    case F_RB_USED: return m->ringbuffer_used_bytes;
    case F_RB_PROGS: return m->ringbuffer_num_programs;
    default: return m->pad3;
    }
}

static const size_t expected_frame_size[PROTO_REV_COUNT] = {72, 112, 112, 144, 144};

/* ---- tests --------------------------------------------------------------------------------- */

START_TEST(test_layout_decode_every_field) {
    proto_rev rev = (proto_rev)_i;
    size_t frame_size = expected_frame_size[rev];
    field_spec f[F_COUNT];
    layout_for(frame_size, f);
    uint8_t frame[PROTO_MAX_FRAME];
    /* The layout tables themselves must tile the frame exactly (no gap, no overlap). */
    ck_assert_uint_eq(build_frame(frame_size, f, frame), frame_size);

    proto_msg m;
    ck_assert_uint_eq(proto_decode(rev, frame, frame_size, &m), frame_size);
    for (int i = 0; i < F_COUNT; i++) {
        uint64_t want = f[i].offset == ABSENT ? 0 : f[i].value;
        ck_assert_msg(field_of(&m, i) == want, "%s field %d: got %#llx, want %#llx",
                      proto_rev_get(rev)->name, i, (unsigned long long)field_of(&m, i),
                      (unsigned long long)want);
    }
}
END_TEST

START_TEST(test_layout_reencode_identical) {
    proto_rev rev = (proto_rev)_i;
    size_t frame_size = expected_frame_size[rev];
    field_spec f[F_COUNT];
    layout_for(frame_size, f);
    uint8_t frame[PROTO_MAX_FRAME];
    build_frame(frame_size, f, frame);
    proto_msg m;
    proto_decode(rev, frame, frame_size, &m);

    uint8_t out[PROTO_MAX_FRAME + 16];
    memset(out, 0xAA, sizeof out);
    ck_assert_uint_eq(proto_encode(rev, &m, out), frame_size);
    ck_assert_int_eq(memcmp(out, frame, frame_size), 0);
    for (size_t i = frame_size; i < sizeof out; i++)
        ck_assert_msg(out[i] == 0xAA, "encode wrote past the frame at byte %zu", i);
}
END_TEST

/* Fields a revision does not carry are not encoded: a v72 frame from a message with v144
 * fields set is the same as the frame of the message without them. */
START_TEST(test_encode_ignores_fields_of_other_layouts) {
    proto_rev rev = (proto_rev)_i;
    size_t frame_size = expected_frame_size[rev];
    field_spec f[F_COUNT];
    layout_for(frame_size, f);
    uint8_t frame[PROTO_MAX_FRAME];
    build_frame(frame_size, f, frame);
    proto_msg m;
    proto_decode(rev, frame, frame_size, &m);
    if (frame_size < 144) {
        m.cb_allocated = m.kernel_allocated = 0x1111111111111111u;
        m.ringbuffer_total_size = m.ringbuffer_used_bytes = m.ringbuffer_num_programs = 7;
        m.pad3 = 9;
    }
    if (frame_size == 72) {
        m.total_dram_size = m.total_l1_size = 0x2222222222222222u;
        m.arch_type = m.num_devices = m.is_available = 3;
    }
    uint8_t out[PROTO_MAX_FRAME];
    proto_encode(rev, &m, out);
    ck_assert_int_eq(memcmp(out, frame, frame_size), 0);
}
END_TEST

/* The seed's frame (seed-trace-buffers.md, protocol.md §6): ALLOC of 12503040 bytes of TRACE
 * on device 4, pid 919068, buffer_id 1043741824 = 0x3E363C80, timestamp 0. */
START_TEST(test_seed_trace_frame_bytes) {
    static const uint8_t head[40] = {
        0x01, 0x00, 0x00, 0x00,                         /* type ALLOC, pad1 */
        0x04, 0x00, 0x00, 0x00,                         /* device_id 4 */
        0x00, 0xC8, 0xBE, 0x00, 0x00, 0x00, 0x00, 0x00, /* size 12503040 = 0xBEC800 */
        0x04, 0x00, 0x00, 0x00,                         /* buffer_type TRACE, pad2 */
        0x1C, 0x06, 0x0E, 0x00,                         /* pid 919068 = 0x0E061C */
        0x80, 0x3C, 0x36, 0x3E, 0x00, 0x00, 0x00, 0x00, /* buffer_id 0x3E363C80 */
        0, 0, 0, 0, 0, 0, 0, 0};                        /* timestamp */
    for (int r = 0; r < PROTO_REV_COUNT; r++) {
        proto_rev rev = (proto_rev)r;
        uint8_t frame[PROTO_MAX_FRAME] = {0};
        memcpy(frame, head, sizeof head);
        proto_msg m;
        ck_assert_uint_eq(proto_decode(rev, frame, sizeof frame, &m), expected_frame_size[r]);
        ck_assert_uint_eq(m.type, PROTO_ALLOC);
        ck_assert_int_eq(m.device_id, 4);
        ck_assert_uint_eq(m.size, 12503040u);
        ck_assert_uint_eq(m.buffer_type, PROTO_BUF_TRACE);
        ck_assert_int_eq(m.process_id, 919068);
        ck_assert_uint_eq(m.buffer_id, 1043741824u);

        proto_msg built;
        memset(&built, 0, sizeof built);
        built.type = PROTO_ALLOC;
        built.device_id = 4;
        built.size = 12503040;
        built.buffer_type = PROTO_BUF_TRACE;
        built.process_id = 919068;
        built.buffer_id = 1043741824;
        uint8_t out[PROTO_MAX_FRAME];
        ck_assert_uint_eq(proto_encode(rev, &built, out), expected_frame_size[r]);
        ck_assert_int_eq(memcmp(out, frame, expected_frame_size[r]), 0);
    }
}
END_TEST

START_TEST(test_negative_ids_round_trip) {
    proto_rev rev = (proto_rev)_i;
    size_t frame_size = expected_frame_size[rev];
    static const int32_t values[] = {-1, -2, -256, INT32_MIN, INT32_MAX, 0};
    for (size_t k = 0; k < sizeof values / sizeof values[0]; k++) {
        uint8_t frame[PROTO_MAX_FRAME] = {0};
        frame[0] = PROTO_FREE;
        put_le(frame, 4, (uint32_t)values[k], 4);
        put_le(frame, 20, (uint32_t)values[(k + 1) % 6], 4);
        proto_msg m;
        proto_decode(rev, frame, frame_size, &m);
        ck_assert_int_eq(m.device_id, values[k]);
        ck_assert_int_eq(m.process_id, values[(k + 1) % 6]);
        uint8_t out[PROTO_MAX_FRAME];
        proto_encode(rev, &m, out);
        ck_assert_int_eq(memcmp(out, frame, frame_size), 0);
    }
    /* -1 is all ones on the wire: two's complement, little-endian. */
    proto_msg m;
    memset(&m, 0, sizeof m);
    m.device_id = -1;
    m.process_id = INT32_MIN;
    uint8_t out[PROTO_MAX_FRAME];
    proto_encode(rev, &m, out);
    ck_assert_uint_eq(out[4], 0xFF);
    ck_assert_uint_eq(out[7], 0xFF);
    ck_assert_uint_eq(out[20], 0x00);
    ck_assert_uint_eq(out[23], 0x80);
}
END_TEST

START_TEST(test_decode_short_input) {
    proto_rev rev = (proto_rev)_i;
    uint8_t frame[PROTO_MAX_FRAME] = {PROTO_ALLOC};
    proto_msg m;
    memset(&m, 0x5A, sizeof m);
    ck_assert_uint_eq(proto_decode(rev, frame, expected_frame_size[rev] - 1, &m), 0);
    ck_assert_uint_eq(m.type, 0x5A); /* untouched */
}
END_TEST

/* ---- streams ------------------------------------------------------------------------------ */

static uint64_t rng_state;

static uint64_t rng_next(void) {
    /* xorshift64*: fixed seed, so the chunk pattern is the same on every run. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Du;
}

#define STREAM_FRAMES 40

static void make_stream(proto_rev rev, proto_msg msgs[STREAM_FRAMES], uint8_t *bytes) {
    size_t frame_size = expected_frame_size[rev];
    field_spec f[F_COUNT];
    layout_for(frame_size, f);
    for (int k = 0; k < STREAM_FRAMES; k++) {
        uint8_t frame[PROTO_MAX_FRAME];
        build_frame(frame_size, f, frame);
        /* Vary the frames so a reader that repeats or skips one is caught. */
        frame[0] = (uint8_t)(1 + k % 12);
        put_le(frame, 24, 0x1000u * (uint64_t)(k + 1), 8);
        put_le(frame, 4, (uint32_t)(k % 3 == 0 ? -k : k), 4);
        memcpy(bytes + (size_t)k * frame_size, frame, frame_size);
        proto_decode(rev, frame, frame_size, &msgs[k]);
    }
}

/* Pushes bytes in chunks of size chunk(i) and returns how many frames came out matching. */
static int feed_stream(proto_rev rev, const uint8_t *bytes, size_t len,
                       const proto_msg want[STREAM_FRAMES], int mode) {
    proto_reader r;
    proto_reader_init(&r, rev);
    size_t frame_size = expected_frame_size[rev];
    int got = 0;
    size_t pos = 0;
    while (pos < len) {
        size_t chunk = mode == 0 ? len - pos : mode == 1 ? 1 : 1 + (size_t)(rng_next() % 300);
        if (chunk > len - pos)
            chunk = len - pos;
        size_t off = 0;
        while (off < chunk) {
            proto_msg m;
            int ready = 0;
            size_t used = proto_reader_push(&r, bytes + pos + off, chunk - off, &m, &ready);
            ck_assert_uint_gt(used, 0);
            off += used;
            if (ready) {
                ck_assert_int_lt(got, STREAM_FRAMES);
                ck_assert_int_eq(memcmp(&m, &want[got], sizeof m), 0);
                got++;
            }
            /* Pending bytes always equal the position inside the current frame. */
            ck_assert_uint_eq(proto_reader_pending(&r), (pos + off) % frame_size);
        }
        pos += chunk;
    }
    return got;
}

START_TEST(test_reader_whole_bytewise_random_chunks) {
    proto_rev rev = (proto_rev)_i;
    size_t frame_size = expected_frame_size[rev];
    static proto_msg msgs[STREAM_FRAMES];
    static uint8_t bytes[STREAM_FRAMES * PROTO_MAX_FRAME];
    memset(msgs, 0, sizeof msgs);
    make_stream(rev, msgs, bytes);
    size_t len = STREAM_FRAMES * frame_size;
    rng_state = 0x9E3779B97F4A7C15u + (uint64_t)rev;
    for (int mode = 0; mode < 3; mode++)
        ck_assert_int_eq(feed_stream(rev, bytes, len, msgs, mode), STREAM_FRAMES);
    /* A truncated stream leaves the tail pending and yields no extra frame. */
    ck_assert_int_eq(feed_stream(rev, bytes, len - 5, msgs, 1), STREAM_FRAMES - 1);
}
END_TEST

/* ---- revision table (protocol.md §0, §2.5, §2.6) ------------------------------------------- */

START_TEST(test_revision_table) {
    static const struct {
        const char *name;
        size_t frame_size;
        int max_devices;
        int hex_ids;
        uint8_t max_type;
    } want[PROTO_REV_COUNT] = {
        {"v72", 72, 8, 0, 5},         {"v112", 112, 8, 0, 7},       {"v112-hex", 112, 8, 1, 7},
        {"v144", 144, 8, 1, 12},      {"v144-256", 144, 256, 1, 12}};
    for (int r = 0; r < PROTO_REV_COUNT; r++) {
        const proto_rev_info *info = proto_rev_get((proto_rev)r);
        ck_assert_str_eq(info->name, want[r].name);
        ck_assert_uint_eq(info->frame_size, want[r].frame_size);
        ck_assert_int_eq(info->max_devices, want[r].max_devices);
        ck_assert_int_eq(!!info->hex_ids, want[r].hex_ids);
        ck_assert_uint_eq(info->max_type, want[r].max_type);
        proto_rev parsed = PROTO_REV_COUNT;
        ck_assert_int_eq(proto_rev_parse(want[r].name, &parsed), 0);
        ck_assert_int_eq(parsed, r);
        ck_assert_ptr_nonnull(strstr(proto_rev_names(), want[r].name));
    }
    proto_rev parsed = PROTO_V144;
    ck_assert_int_eq(proto_rev_parse("v128", &parsed), -1);
    ck_assert_int_eq(proto_rev_parse("V72", &parsed), -1);
    ck_assert_int_eq(proto_rev_parse("", &parsed), -1);
    ck_assert_int_eq(parsed, PROTO_V144);
}
END_TEST

START_TEST(test_message_types_handled) {
    /* §2.5: which type bytes each server handles (as opposed to "Unknown message type"). */
    static const char *const handled[PROTO_REV_COUNT] = {
        /* types 0..13 */
        "01110100000000", "01110110000000", "01110110000000", "01110110111110",
        "01110110111110"};
    for (int r = 0; r < PROTO_REV_COUNT; r++)
        for (int t = 0; t <= 13; t++)
            ck_assert_msg(proto_type_handled((proto_rev)r, (uint8_t)t) == (handled[r][t] == '1'),
                          "%s type %d", proto_rev_get((proto_rev)r)->name, t);
    ck_assert_int_eq(proto_type_handled(PROTO_V144, 255), 0);

    static const char *const names[] = {"ALLOC", "FREE", "QUERY", "RESPONSE", "DUMP_REMAINING",
                                        "DEVICE_INFO_QUERY", "DEVICE_INFO_RESPONSE", "CB_ALLOC",
                                        "CB_FREE", "KERNEL_LOAD", "KERNEL_UNLOAD", "DUMP_KERNELS"};
    for (int t = 1; t <= 12; t++) {
        ck_assert_str_eq(proto_type_name((uint8_t)t), names[t - 1]);
        ck_assert_int_eq(proto_type_parse(names[t - 1]), t);
    }
    ck_assert_int_eq(proto_type_parse("dump_remaining"), PROTO_DUMP_REMAINING);
    ck_assert_ptr_null(proto_type_name(0));
    ck_assert_ptr_null(proto_type_name(13));
    ck_assert_int_eq(proto_type_parse("STATS"), -1);
}
END_TEST

START_TEST(test_buffer_and_kernel_type_names) {
    /* §2.6: the server's table, indexed by the raw TT-Metal enum value. */
    static const char *const names[] = {"DRAM", "L1", "SYSTEM_MEMORY", "L1_SMALL", "TRACE"};
    for (int t = 0; t < 5; t++) {
        ck_assert_str_eq(proto_buffer_type_name((uint8_t)t), names[t]);
        ck_assert_int_eq(proto_buffer_type_parse(names[t]), t);
    }
    ck_assert_str_eq(proto_buffer_type_name(5), "UNKNOWN");
    ck_assert_str_eq(proto_buffer_type_name(255), "UNKNOWN");
    ck_assert_int_eq(proto_buffer_type_parse("trace"), PROTO_BUF_TRACE);
    ck_assert_int_eq(proto_buffer_type_parse("CB"), -1);
    ck_assert_str_eq(proto_kernel_type_name(0), "Application");
    ck_assert_str_eq(proto_kernel_type_name(1), "Fabric");
    ck_assert_str_eq(proto_kernel_type_name(2), "Dispatch");
    ck_assert_str_eq(proto_kernel_type_name(3), "Unknown");
}
END_TEST

static Suite *proto_suite(void) {
    Suite *s = suite_create("proto");
    TCase *tc = tcase_create("layouts");
    tcase_add_loop_test(tc, test_layout_decode_every_field, 0, PROTO_REV_COUNT);
    tcase_add_loop_test(tc, test_layout_reencode_identical, 0, PROTO_REV_COUNT);
    tcase_add_loop_test(tc, test_encode_ignores_fields_of_other_layouts, 0, PROTO_REV_COUNT);
    tcase_add_test(tc, test_seed_trace_frame_bytes);
    tcase_add_loop_test(tc, test_negative_ids_round_trip, 0, PROTO_REV_COUNT);
    tcase_add_loop_test(tc, test_decode_short_input, 0, PROTO_REV_COUNT);
    suite_add_tcase(s, tc);
    tc = tcase_create("reader");
    tcase_add_loop_test(tc, test_reader_whole_bytewise_random_chunks, 0, PROTO_REV_COUNT);
    suite_add_tcase(s, tc);
    tc = tcase_create("table");
    tcase_add_test(tc, test_revision_table);
    tcase_add_test(tc, test_message_types_handled);
    tcase_add_test(tc, test_buffer_and_kernel_type_names);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(proto_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
