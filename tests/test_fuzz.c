/* test_fuzz: the fuzzer's generator, model, minimiser and signatures (pure), and its
 * acceptance tests against allocsim-server (live, through the allocsim binary).
 *
 * Pure tests check properties that must hold whatever the generator draws: determinism,
 * feature masks, fences wherever order across connections matters, reset frames that empty
 * any state, the server's framing (v144 resync, give-up after ten bad bytes, split frames),
 * and a minimiser that finds the two frames a synthetic failure needs. The live tests plant
 * faults in the reference server (--fault refcount, --fault no-bounds) and require a fixed
 * seed to find each within a few streams and minimise it to at most two frames, a healthy
 * server to survive 2000 streams, and the reproducers to replay with the right exit status.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fuzz.h"
#include "ledger.h"
#include "mem.h"
#include "proto.h"
#include "sbuf.h"
#include "stream.h"

/* ---- helpers -------------------------------------------------------------------------------- */

static int encode_stream(stream *s, uint8_t **out, size_t *len) { return stream_encode(s, out, len); }

static int streams_equal(stream *a, stream *b) {
    uint8_t *x = NULL, *y = NULL;
    size_t xl = 0, yl = 0;
    ck_assert_int_eq(encode_stream(a, &x, &xl), 0);
    ck_assert_int_eq(encode_stream(b, &y, &yl), 0);
    int eq = xl == yl && memcmp(x, y, xl) == 0;
    mem_free(x);
    mem_free(y);
    return eq;
}

static fuzz_gen_config gen_config(proto_rev rev, uint64_t seed, unsigned features, int swarm) {
    fuzz_gen_config g;
    memset(&g, 0, sizeof g);
    g.rev = rev;
    g.seed = seed;
    g.features = features;
    g.swarm = swarm;
    return g;
}

static void frame_of(proto_rev rev, uint8_t type, int32_t dev, uint64_t size, uint8_t btype, int32_t pid,
                     uint64_t id, uint8_t *out) {
    proto_msg m;
    memset(&m, 0, sizeof m);
    m.type = type;
    m.device_id = dev;
    m.size = size;
    m.buffer_type = btype;
    m.process_id = pid;
    m.buffer_id = id;
    proto_encode(rev, &m, out);
}

/* ---- generation ----------------------------------------------------------------------------- */

START_TEST(generation_is_deterministic) {
    for (int rev = 0; rev < PROTO_REV_COUNT; rev++) {
        for (int swarm = 0; swarm < 2; swarm++) {
            fuzz_gen_config g = gen_config((proto_rev)rev, 42, FUZZ_F_ALL, swarm);
            char err[128];
            for (uint64_t n = 0; n < 40; n++) {
                stream a, b;
                ck_assert_int_eq(fuzz_generate(&g, n, &a, err, sizeof err), 0);
                ck_assert_int_eq(fuzz_generate(&g, n, &b, err, sizeof err), 0);
                ck_assert_msg(streams_equal(&a, &b), "%s stream %" PRIu64 " differs between two generations",
                              proto_rev_get((proto_rev)rev)->name, n);
                stream_release(&a);
                stream_release(&b);
            }
            /* Generating other streams first changes nothing: no hidden state. */
            stream first, later;
            ck_assert_int_eq(fuzz_generate(&g, 7, &first, err, sizeof err), 0);
            for (uint64_t n = 100; n < 110; n++) {
                stream x;
                ck_assert_int_eq(fuzz_generate(&g, n, &x, err, sizeof err), 0);
                stream_release(&x);
            }
            ck_assert_int_eq(fuzz_generate(&g, 7, &later, err, sizeof err), 0);
            ck_assert(streams_equal(&first, &later));
            stream_release(&first);
            stream_release(&later);
        }
    }
}
END_TEST

START_TEST(generation_depends_on_seed_and_number) {
    fuzz_gen_config g1 = gen_config(PROTO_V72, 1, FUZZ_F_ALL, 0);
    fuzz_gen_config g2 = gen_config(PROTO_V72, 2, FUZZ_F_ALL, 0);
    char err[128];
    int differ_n = 0, differ_seed = 0;
    for (uint64_t n = 0; n < 20; n++) {
        stream a, b, c;
        ck_assert_int_eq(fuzz_generate(&g1, n, &a, err, sizeof err), 0);
        ck_assert_int_eq(fuzz_generate(&g1, n + 1, &b, err, sizeof err), 0);
        ck_assert_int_eq(fuzz_generate(&g2, n, &c, err, sizeof err), 0);
        differ_n += !streams_equal(&a, &b);
        differ_seed += !streams_equal(&a, &c);
        stream_release(&a);
        stream_release(&b);
        stream_release(&c);
    }
    ck_assert_int_eq(differ_n, 20);
    ck_assert_int_eq(differ_seed, 20);
}
END_TEST

START_TEST(generated_streams_are_valid_files) {
    char err[256];
    for (int rev = 0; rev < PROTO_REV_COUNT; rev++) {
        fuzz_gen_config g = gen_config((proto_rev)rev, 9, FUZZ_F_ALL, 1);
        for (uint64_t n = 0; n < 60; n++) {
            stream s, back;
            ck_assert_int_eq(fuzz_generate(&g, n, &s, err, sizeof err), 0);
            ck_assert_msg(stream_validate(&s, err, sizeof err) == 0, "%s", err);
            uint8_t *img = NULL;
            size_t len = 0;
            ck_assert_int_eq(stream_encode(&s, &img, &len), 0);
            ck_assert_msg(stream_parse(img, len, "gen", &back, err, sizeof err) == 0, "%s", err);
            ck_assert(streams_equal(&s, &back));
            /* Recorded pids can never be live pids: above Linux's largest pid_max (2^22). */
            for (uint32_t p = 0; p < s.nprocs; p++)
                ck_assert_int_gt(s.procs[p].recorded_pid, 4194304);
            mem_free(img);
            stream_release(&back);
            stream_release(&s);
        }
    }
}
END_TEST

START_TEST(no_transport_faults_means_whole_frames) {
    char err[128];
    for (int rev = 0; rev < PROTO_REV_COUNT; rev++) {
        fuzz_gen_config g = gen_config((proto_rev)rev, 5, FUZZ_F_ALL & ~FUZZ_F_TRANSPORT, 0);
        for (uint64_t n = 0; n < 150; n++) {
            stream s;
            ck_assert_int_eq(fuzz_generate(&g, n, &s, err, sizeof err), 0);
            for (size_t i = 0; i < s.nrecords; i++) {
                const stream_record *r = &s.records[i];
                if (r->op == STREAM_OP_WRITE)
                    ck_assert_msg(r->len == s.frame_size, "%s stream %" PRIu64 " record %zu: %u-byte write",
                                  proto_rev_get(s.rev)->name, n, i, r->len);
                if (r->op == STREAM_OP_CLOSE)
                    ck_assert_uint_eq(r->flags & FUZZ_FLAG_ABORT, 0);
            }
            stream_release(&s);
        }
    }
}
END_TEST

START_TEST(features_off_means_plain_traffic) {
    char err[128];
    fuzz_gen_config g = gen_config(PROTO_V144, 3, 0, 0);
    for (uint64_t n = 0; n < 100; n++) {
        stream s;
        ck_assert_int_eq(fuzz_generate(&g, n, &s, err, sizeof err), 0);
        ck_assert_uint_eq(s.nprocs, 1);
        for (size_t i = 0; i < s.nrecords; i++) {
            const stream_record *r = &s.records[i];
            ck_assert(r->op == STREAM_OP_SPAWN || r->op == STREAM_OP_CONNECT || r->op == STREAM_OP_WRITE);
            if (r->op != STREAM_OP_WRITE)
                continue;
            proto_msg m;
            ck_assert_uint_eq(proto_decode(s.rev, s.payload + r->offset, r->len, &m), s.frame_size);
            ck_assert(m.type == PROTO_ALLOC || m.type == PROTO_FREE);
            ck_assert_int_ge(m.device_id, 0);
            ck_assert_int_lt(m.device_id, proto_rev_get(s.rev)->max_devices);
            if (m.type == PROTO_ALLOC) {
                ck_assert_uint_lt(m.buffer_type, PROTO_BUF_TYPE_COUNT);
                ck_assert_uint_gt(m.size, 0);
            }
        }
        stream_release(&s);
    }
}
END_TEST

START_TEST(swarm_picks_subsets) {
    fuzz_gen_config g = gen_config(PROTO_V72, 11, FUZZ_F_ALL & ~FUZZ_F_GARBAGE, 1);
    unsigned seen_on = 0, seen_off = 0, first = fuzz_stream_features(&g, 0);
    int differ = 0;
    for (uint64_t n = 0; n < 64; n++) {
        unsigned f = fuzz_stream_features(&g, n);
        ck_assert_uint_eq(f & ~g.features, 0);
        seen_on |= f;
        seen_off |= ~f & g.features;
        differ |= f != first;
    }
    ck_assert(differ);
    ck_assert_uint_eq(seen_on, g.features);  /* every feature is used by some stream */
    ck_assert_uint_eq(seen_off, g.features); /* and left out of some other */
    g.swarm = 0;
    ck_assert_uint_eq(fuzz_stream_features(&g, 5), g.features);
}
END_TEST

/* Every WRITE on a connection other than the last one written must come after that one was
 * proven handled (FENCE, a READ_REPLY answering its last frame, a graceful CLOSE or a DUMP). */
START_TEST(connection_switches_are_fenced) {
    char err[128];
    for (int rev = 0; rev < PROTO_REV_COUNT; rev++) {
        fuzz_gen_config g = gen_config((proto_rev)rev, 21, FUZZ_F_ALL, 1);
        for (uint64_t n = 0; n < 200; n++) {
            stream s;
            ck_assert_int_eq(fuzz_generate(&g, n, &s, err, sizeof err), 0);
            int last = -1, dirty = 0;
            for (size_t i = 0; i < s.nrecords; i++) {
                const stream_record *r = &s.records[i];
                switch (r->op) {
                case STREAM_OP_WRITE:
                case STREAM_OP_DUMP:
                    if (last >= 0 && last != r->id)
                        ck_assert_msg(!dirty, "%s stream %" PRIu64 " record %zu: conn %d switched to %u unfenced",
                                      proto_rev_get(s.rev)->name, n, i, last, r->id);
                    last = r->id;
                    dirty = r->op == STREAM_OP_WRITE;
                    break;
                case STREAM_OP_FENCE:
                case STREAM_OP_READ_REPLY:
                    if ((int)r->id == last)
                        dirty = 0;
                    break;
                case STREAM_OP_CLOSE:
                    if ((int)r->id == last) {
                        last = -1;
                        dirty = 0;
                    }
                    break;
                case STREAM_OP_CRASH:
                case STREAM_OP_EXIT:
                    ck_assert_msg(!dirty || last < 0, "process ended with unconfirmed writes");
                    break;
                default:
                    break;
                }
            }
            stream_release(&s);
        }
    }
}
END_TEST

/* ---- the model ------------------------------------------------------------------------------ */

START_TEST(model_v144_resync_and_give_up) {
    fuzz_model *m = fuzz_model_new(PROTO_V144, 0);
    ck_assert_ptr_nonnull(m);
    uint8_t buf[3 * PROTO_MAX_FRAME];
    /* protocol.md §3.3: bytes outside 1..12 are dropped one at a time; the frame behind them
     * is handled. */
    memset(buf, 0, 3);
    frame_of(PROTO_V144, PROTO_QUERY, 0, 0, 0, 0, 0, buf + 3);
    ck_assert_int_eq(fuzz_model_connect(m, 0, -1), 0);
    ck_assert_int_eq(fuzz_model_write(m, 0, buf, 3 + 144), 1);
    fuzz_conn_state st = fuzz_model_conn(m, 0);
    ck_assert_uint_eq(st.replies, 1);
    ck_assert_uint_eq(st.pending, 0);
    ck_assert(!st.server_closed);
    /* Ten bad bytes in a row: the server closes; the QUERY behind them is never answered. */
    memset(buf, 0xff, 10);
    frame_of(PROTO_V144, PROTO_QUERY, 0, 0, 0, 0, 0, buf + 10);
    ck_assert_int_eq(fuzz_model_connect(m, 1, -1), 0);
    fuzz_model_write(m, 1, buf, 10 + 144);
    st = fuzz_model_conn(m, 1);
    ck_assert(st.server_closed);
    ck_assert_uint_eq(st.replies, 0);
    /* Nine are still forgiven. */
    memset(buf, 0xff, 9);
    frame_of(PROTO_V144, PROTO_QUERY, 0, 0, 0, 0, 0, buf + 9);
    ck_assert_int_eq(fuzz_model_connect(m, 2, -1), 0);
    fuzz_model_write(m, 2, buf, 9 + 144);
    st = fuzz_model_conn(m, 2);
    ck_assert(!st.server_closed);
    ck_assert_uint_eq(st.replies, 1);
    fuzz_model_free(m);
}
END_TEST

START_TEST(model_split_truncated_and_queries) {
    fuzz_model *m = fuzz_model_new(PROTO_V72, 0);
    uint8_t f[PROTO_MAX_FRAME], r[PROTO_MAX_FRAME];
    ck_assert_int_eq(fuzz_model_connect(m, 0, -1), 0);
    frame_of(PROTO_V72, PROTO_ALLOC, 1, 4096, PROTO_BUF_L1, 0, 0x1000, f);
    /* A frame split across two writes is handled once, when complete. */
    ck_assert_int_eq(fuzz_model_write(m, 0, f, 30), 0);
    ck_assert_uint_eq(fuzz_model_conn(m, 0).pending, 30);
    ck_assert_int_eq(fuzz_model_write(m, 0, f + 30, 72 - 30), 1);
    ck_assert_uint_eq(ledger_count(fuzz_model_ledger(m)), 1);
    /* A partial frame at close is dropped. */
    frame_of(PROTO_V72, PROTO_ALLOC, 1, 4096, PROTO_BUF_L1, 0, 0x2000, f);
    fuzz_model_write(m, 0, f, 71);
    fuzz_model_close(m, 0);
    ck_assert_uint_eq(ledger_count(fuzz_model_ledger(m)), 1);
    /* QUERY on a fresh connection reports the L1 total (protocol.md §3.4). */
    ck_assert_int_eq(fuzz_model_connect(m, 0, -1), 0);
    frame_of(PROTO_V72, PROTO_QUERY, 1, 0, 0, 0, 0, f);
    fuzz_model_write(m, 0, f, 72);
    uint8_t kind = 0;
    ck_assert_int_eq(fuzz_model_pop_reply(m, 0, r, &kind), 1);
    ck_assert_uint_eq(kind, PROTO_QUERY);
    proto_msg reply;
    proto_decode(PROTO_V72, r, 72, &reply);
    ck_assert_uint_eq(reply.type, PROTO_RESPONSE);
    ck_assert_int_eq(reply.device_id, 1);
    ck_assert_uint_eq(reply.l1_allocated, 4096);
    /* DEVICE_INFO_QUERY is unknown to a v72 server: no reply. */
    frame_of(PROTO_V72, PROTO_DEVICE_INFO_QUERY, 0, 0, 0, 0, 0, f);
    fuzz_model_write(m, 0, f, 72);
    ck_assert_uint_eq(fuzz_model_conn(m, 0).replies, 0);
    /* A dump is captured whole. */
    frame_of(PROTO_V72, PROTO_DUMP_REMAINING, 0, 0, 0, 0, 0, f);
    fuzz_model_write(m, 0, f, 72);
    ck_assert_uint_eq(fuzz_model_dump_count(m), 1);
    const char *d = fuzz_model_dump_text(m, 0);
    ck_assert_ptr_nonnull(strstr(d, "📋 Received DUMP_REMAINING request...\n"));
    ck_assert_ptr_nonnull(strstr(d, "Total tracked allocations: 1\n"));
    ck_assert_ptr_nonnull(strstr(d, "    - Buffer 0x1000: 4 KB (PID 0, ref_count=1)\n"));
    ck_assert_ptr_nonnull(strstr(d, "📋 DUMP_REMAINING complete.\n"));
    fuzz_model_drop_dumps(m, 1);
    ck_assert_uint_eq(fuzz_model_dump_count(m), 0);
    fuzz_model_free(m);
}
END_TEST

/* Whatever a generated stream leaves behind, the reset frames empty the registry and bring
 * every counter back to zero (the campaign relies on it between streams). */
START_TEST(reset_frames_empty_any_state) {
    char err[128];
    for (int rev = 0; rev < PROTO_REV_COUNT; rev++) {
        fuzz_gen_config g = gen_config((proto_rev)rev, 77, FUZZ_F_ALL, 1);
        for (uint64_t n = 0; n < 80; n++) {
            stream s;
            ck_assert_int_eq(fuzz_generate(&g, n, &s, err, sizeof err), 0);
            fuzz_model *m = fuzz_model_new(s.rev, 0);
            for (size_t i = 0; i < s.nrecords; i++) {
                const stream_record *r = &s.records[i];
                if (r->op == STREAM_OP_CONNECT)
                    fuzz_model_connect(m, r->id, -1);
                else if (r->op == STREAM_OP_WRITE)
                    fuzz_model_write(m, r->id, s.payload + r->offset, r->len);
            }
            sbuf out = SBUF_INIT;
            long frames = fuzz_model_reset_frames(m, 0, &out);
            ck_assert_int_ge(frames, 0);
            ck_assert_uint_eq(out.len, (size_t)frames * s.frame_size);
            ck_assert_int_eq(fuzz_model_connect(m, FUZZ_CONN_CONTROL, -1), 0);
            ck_assert_int_eq(fuzz_model_write(m, FUZZ_CONN_CONTROL, (const uint8_t *)out.data, out.len), frames);
            ck_assert_uint_eq(ledger_count(fuzz_model_ledger(m)), 0);
            for (int32_t d = 0; d < proto_rev_get(s.rev)->max_devices; d++) {
                ledger_counters c = ledger_device_counters(fuzz_model_ledger(m), d);
                ck_assert_msg(c.dram == 0 && c.l1 == 0 && c.l1_small == 0 && c.trace == 0 && c.num_buffers == 0 &&
                                  c.cb == 0 && c.kernel == 0,
                              "%s stream %" PRIu64 ": device %d not empty after the reset",
                              proto_rev_get(s.rev)->name, n, d);
            }
            /* And the reset of an empty server is nothing. */
            sbuf again = SBUF_INIT;
            ck_assert_int_eq(fuzz_model_reset_frames(m, 0, &again), 0);
            sbuf_release(&again);
            sbuf_release(&out);
            fuzz_model_free(m);
            stream_release(&s);
        }
    }
}
END_TEST

/* ---- pid sites ------------------------------------------------------------------------------ */

START_TEST(pid_sites_follow_the_framing) {
    stream s;
    stream_init(&s, PROTO_V144);
    ck_assert_int_eq(stream_add_proc(&s, 0x5a000001, "a"), 0);
    ck_assert_int_eq(stream_add_proc(&s, 0x5a000002, "b"), 1);
    uint8_t f[PROTO_MAX_FRAME], g[3 + PROTO_MAX_FRAME];
    frame_of(PROTO_V144, PROTO_ALLOC, 0, 32, 0, 0x5a000002, 0x10, f);
    /* Split inside the pid field (bytes 20..23): both halves are found. */
    stream_append(&s, STREAM_OP_WRITE, 0, 0, f, 22);
    stream_append(&s, STREAM_OP_WRITE, 0, 0, f + 22, 144 - 22);
    /* Three bytes the v144 resync drops, then a frame of process 0: its pid is 3 bytes later. */
    memset(g, 0xee, 3);
    frame_of(PROTO_V144, PROTO_ALLOC, 0, 32, 0, 0x5a000001, 0x20, g + 3);
    stream_append(&s, STREAM_OP_WRITE, 0, 1, g, 3 + 144);
    /* A verbatim record is left alone. */
    stream_append(&s, STREAM_OP_WRITE, STREAM_FLAG_VERBATIM, 2, f, 144);
    fuzz_pid_site *sites = NULL;
    size_t n = 0;
    ck_assert_int_eq(fuzz_pid_sites(&s, &sites, &n), 0);
    ck_assert_uint_eq(n, 8);
    uint8_t *work = mem_alloc(s.payload_len);
    memcpy(work, s.payload, s.payload_len);
    fuzz_pid_patch(work, sites, n, 1, 4242);
    fuzz_pid_patch(work, sites, n, 0, 777);
    proto_msg m;
    uint8_t joined[PROTO_MAX_FRAME];
    memcpy(joined, work + s.records[0].offset, 22);
    memcpy(joined + 22, work + s.records[1].offset, 144 - 22);
    proto_decode(PROTO_V144, joined, 144, &m);
    ck_assert_int_eq(m.process_id, 4242);
    proto_decode(PROTO_V144, work + s.records[2].offset + 3, 144, &m);
    ck_assert_int_eq(m.process_id, 777);
    proto_decode(PROTO_V144, work + s.records[3].offset, 144, &m);
    ck_assert_int_eq(m.process_id, 0x5a000002);
    mem_free(work);
    mem_free(sites);
    stream_release(&s);
}
END_TEST

/* ---- comparisons and signatures ------------------------------------------------------------- */

START_TEST(reply_diff_names_the_field) {
    proto_msg a, b;
    uint8_t x[PROTO_MAX_FRAME], y[PROTO_MAX_FRAME];
    memset(&a, 0, sizeof a);
    a.type = PROTO_RESPONSE;
    a.l1_allocated = 4096;
    b = a;
    proto_encode(PROTO_V144, &a, x);
    proto_encode(PROTO_V144, &b, y);
    ck_assert_ptr_null(fuzz_reply_diff(PROTO_V144, x, y));
    b.l1_allocated = 0;
    b.kernel_allocated = 5;
    proto_encode(PROTO_V144, &b, y);
    ck_assert_str_eq(fuzz_reply_diff(PROTO_V144, x, y), "l1_allocated");
    sbuf d = SBUF_INIT;
    fuzz_reply_describe(PROTO_V144, PROTO_QUERY, x, y, &d);
    ck_assert_str_eq(sbuf_str(&d), "QUERY(device 0) reply: l1_allocated expected 4096, found 0");
    sbuf_release(&d);
    /* v72 frames have no kernel field: only bytes the revision carries count. */
    proto_encode(PROTO_V72, &a, x);
    b = a;
    b.kernel_allocated = 5;
    proto_encode(PROTO_V72, &b, y);
    ck_assert_ptr_null(fuzz_reply_diff(PROTO_V72, x, y));
}
END_TEST

START_TEST(sanitizer_lines_become_signatures) {
    char sig[128];
    const char *asan = "==4242==ERROR: AddressSanitizer: heap-buffer-overflow on address 0x6020000000f8 at pc "
                       "0x55d1 bp 0x7ffc sp 0x7ffc";
    ck_assert_int_eq(fuzz_sanitizer_signature(asan, strlen(asan), sig, sizeof sig), 1);
    ck_assert_str_eq(sig, "asan-heap-buffer-overflow");
    const char *segv = "==9==ERROR: AddressSanitizer: SEGV on unknown address 0x000000000000 (pc 0x1 bp 0x2)";
    ck_assert_int_eq(fuzz_sanitizer_signature(segv, strlen(segv), sig, sizeof sig), 1);
    ck_assert_str_eq(sig, "asan-SEGV");
    const char *ubsan = "/src/sim/ledger.c:314:5: runtime error: index 8 out of bounds for type 'ledger_counters [8]'";
    ck_assert_int_eq(fuzz_sanitizer_signature(ubsan, strlen(ubsan), sig, sizeof sig), 1);
    ck_assert_str_eq(sig, "ubsan-index-out-of-bounds");
    const char *ovf = "x.c:1:2: runtime error: signed integer overflow: 2147483647 + 1 cannot be represented in type 'int'";
    ck_assert_int_eq(fuzz_sanitizer_signature(ovf, strlen(ovf), sig, sizeof sig), 1);
    ck_assert_str_eq(sig, "ubsan-signed-integer-overflow");
    const char *lsan = "==1==ERROR: LeakSanitizer: detected memory leaks";
    ck_assert_int_eq(fuzz_sanitizer_signature(lsan, strlen(lsan), sig, sizeof sig), 1);
    ck_assert_str_eq(sig, "lsan-leak");
    const char *plain = "⚠️  Invalid device_id 9 - ignoring message";
    ck_assert_int_eq(fuzz_sanitizer_signature(plain, strlen(plain), sig, sizeof sig), 0);
    char name[16];
    ck_assert_str_eq(fuzz_signal_name(11, name, sizeof name), "SIGSEGV");
    ck_assert_str_eq(fuzz_signal_name(6, name, sizeof name), "SIGABRT");
    char dirty[] = "a/b c::d";
    fuzz_signature_clean(dirty);
    ck_assert_str_eq(dirty, "a-b-c-d");
}
END_TEST

START_TEST(durations_and_features_parse) {
    uint64_t ms;
    char err[256];
    ck_assert_int_eq(fuzz_parse_duration("60s", &ms, err, sizeof err), 0);
    ck_assert_uint_eq(ms, 60000);
    ck_assert_int_eq(fuzz_parse_duration("5m", &ms, err, sizeof err), 0);
    ck_assert_uint_eq(ms, 300000);
    ck_assert_int_eq(fuzz_parse_duration("500ms", &ms, err, sizeof err), 0);
    ck_assert_uint_eq(ms, 500);
    ck_assert_int_eq(fuzz_parse_duration("1.5h", &ms, err, sizeof err), 0);
    ck_assert_uint_eq(ms, 5400000);
    ck_assert_int_eq(fuzz_parse_duration("10", &ms, err, sizeof err), 0);
    ck_assert_uint_eq(ms, 10000);
    ck_assert_int_eq(fuzz_parse_duration("5q", &ms, err, sizeof err), -1);
    ck_assert_str_eq(err, "expected a duration such as 60s, 5m or 500ms, found '5q'");
    ck_assert_int_eq(fuzz_parse_duration("-1s", &ms, err, sizeof err), -1);
    unsigned mask;
    ck_assert_int_eq(fuzz_features_parse("all,-garbage", &mask, err, sizeof err), 0);
    ck_assert_uint_eq(mask, FUZZ_F_ALL & ~FUZZ_F_GARBAGE);
    ck_assert_int_eq(fuzz_features_parse("-transport", &mask, err, sizeof err), 0);
    ck_assert_uint_eq(mask, FUZZ_F_ALL & ~FUZZ_F_TRANSPORT);
    ck_assert_int_eq(fuzz_features_parse("query,dump", &mask, err, sizeof err), 0);
    ck_assert_uint_eq(mask, FUZZ_F_QUERY | FUZZ_F_DUMP);
    ck_assert_int_eq(fuzz_features_parse("query,bogus", &mask, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "found 'bogus'"));
    char names[256];
    fuzz_features_format(FUZZ_F_QUERY | FUZZ_F_GARBAGE, names, sizeof names);
    ck_assert_str_eq(names, "query,garbage");
    /* Whether a --server command has its cleanup timer off (then no stream is inconclusive). */
    ck_assert_int_eq(fuzz_command_disables_cleanup("srv --protocol v72 --cleanup-interval 0 --stats-interval 0"), 1);
    ck_assert_int_eq(fuzz_command_disables_cleanup("srv --cleanup-interval=0.0"), 1);
    ck_assert_int_eq(fuzz_command_disables_cleanup("srv --cleanup-interval 0.5"), 0);
    ck_assert_int_eq(fuzz_command_disables_cleanup("srv --cleanup-interval 05"), 0);
    ck_assert_int_eq(fuzz_command_disables_cleanup("./allocation_server_poc"), 0);
    ck_assert_int_eq(fuzz_command_disables_cleanup(NULL), 0);
}
END_TEST

START_TEST(render_decodes_frames) {
    stream s;
    stream_init(&s, PROTO_V72);
    stream_add_proc(&s, 0x5a000010, "p0");
    stream_append(&s, STREAM_OP_SPAWN, 0, 0, NULL, 0);
    uint8_t f[PROTO_MAX_FRAME];
    frame_of(PROTO_V72, PROTO_ALLOC, 0, 4096, PROTO_BUF_L1, 0x5a000010, 0x1000, f);
    stream_append(&s, STREAM_OP_WRITE, 0, 0, f, 10);
    stream_append(&s, STREAM_OP_WRITE, 0, 0, f + 10, 62);
    stream_append(&s, STREAM_OP_CLOSE, FUZZ_FLAG_ABORT, 0, NULL, 0);
    sbuf out = SBUF_INIT;
    fuzz_stream_render(&s, &out);
    const char *t = sbuf_str(&out);
    ck_assert_ptr_nonnull(strstr(t, "1 frames"));
    ck_assert_ptr_nonnull(strstr(t, "partial frame, 10 of 72 bytes"));
    ck_assert_ptr_nonnull(strstr(t, "(completes an earlier partial) ALLOC dev=0 size=4096 type=L1 pid=#0 id=0x1000"));
    ck_assert_ptr_nonnull(strstr(t, "CLOSE conn 0 abruptly"));
    ck_assert_uint_eq(fuzz_stream_frames(&s), 1);
    sbuf_release(&out);
    stream_release(&s);
}
END_TEST

/* ---- the minimiser -------------------------------------------------------------------------- */

#define BAD_ID 0xbad000ull

/* The synthetic failure: an ALLOC of BAD_ID on device 3 and, later on the same connection, a
 * FREE of it; the frames may sit in any records, split or merged. */
static int synthetic_calls;

static int pred_bad_pair(void *ctx, const stream *s) {
    (void)ctx;
    synthetic_calls++;
    uint8_t buf[64][PROTO_MAX_FRAME];
    size_t have[64] = {0};
    int alloc_seen[64] = {0};
    for (size_t i = 0; i < s->nrecords; i++) {
        const stream_record *r = &s->records[i];
        if (r->op != STREAM_OP_WRITE || r->id >= 64)
            continue;
        for (uint32_t k = 0; k < r->len; k++) {
            buf[r->id][have[r->id]++] = s->payload[r->offset + k];
            if (have[r->id] < s->frame_size)
                continue;
            have[r->id] = 0;
            proto_msg m;
            proto_decode(s->rev, buf[r->id], s->frame_size, &m);
            if (m.buffer_id != BAD_ID || m.device_id != 3)
                continue;
            if (m.type == PROTO_ALLOC)
                alloc_seen[r->id] = 1;
            else if (m.type == PROTO_FREE && alloc_seen[r->id])
                return 1;
        }
    }
    return 0;
}

START_TEST(minimiser_keeps_the_two_frames_that_matter) {
    char err[128];
    fuzz_gen_config g = gen_config(PROTO_V112, 13, FUZZ_F_ALL & ~FUZZ_F_GARBAGE, 0);
    for (uint64_t n = 0; n < 5; n++) {
        stream base, s;
        ck_assert_int_eq(fuzz_generate(&g, n, &base, err, sizeof err), 0);
        /* Plant the pair inside the generated noise: the ALLOC a third of the way in, the FREE
         * split across two writes two thirds in, both on a connection of its own. */
        stream_init(&s, base.rev);
        for (uint32_t p = 0; p < base.nprocs; p++)
            stream_add_proc(&s, base.procs[p].recorded_pid, base.procs[p].name);
        uint8_t a[PROTO_MAX_FRAME], f[PROTO_MAX_FRAME];
        frame_of(s.rev, PROTO_ALLOC, 3, 1000, PROTO_BUF_DRAM, 0, BAD_ID, a);
        frame_of(s.rev, PROTO_FREE, 3, 0, 0, 0, BAD_ID, f);
        for (size_t i = 0; i < base.nrecords; i++) {
            const stream_record *r = &base.records[i];
            if (i == base.nrecords / 3)
                stream_append(&s, STREAM_OP_WRITE, 0, 60, a, (uint32_t)s.frame_size);
            if (i == 2 * base.nrecords / 3) {
                stream_append(&s, STREAM_OP_WRITE, 0, 60, f, 40);
                stream_append(&s, STREAM_OP_WRITE, 0, 60, f + 40, (uint32_t)s.frame_size - 40);
            }
            stream_append(&s, r->op, r->flags, r->id, base.payload + r->offset, r->len);
        }
        ck_assert_int_eq(pred_bad_pair(NULL, &s), 1);
        synthetic_calls = 0;
        fuzz_min_config mc = {0, (size_t)-1, 0, 0};
        stream out;
        ck_assert_int_eq(fuzz_minimise(&s, pred_bad_pair, NULL, &mc, &out, err, sizeof err), 0);
        ck_assert_int_eq(pred_bad_pair(NULL, &out), 1);
        ck_assert_uint_eq(fuzz_stream_frames(&out), 2);
        ck_assert_uint_le(out.nrecords, 2);
        ck_assert_uint_eq(mc.tests, (uint32_t)synthetic_calls - 1);
        ck_assert_uint_le(mc.tests, 200);
        stream_release(&out);
        stream_release(&s);
        stream_release(&base);
    }
}
END_TEST

static int pred_stop(void *ctx, const stream *s) {
    int *calls = ctx;
    (void)s;
    return ++*calls >= 3 ? -1 : 1;
}

START_TEST(minimiser_stops_on_request_and_budget) {
    char err[128];
    fuzz_gen_config g = gen_config(PROTO_V72, 1, FUZZ_F_ALL, 0);
    stream s, out;
    ck_assert_int_eq(fuzz_generate(&g, 3, &s, err, sizeof err), 0);
    int calls = 0;
    fuzz_min_config mc = {0, (size_t)-1, 0, 0};
    ck_assert_int_eq(fuzz_minimise(&s, pred_stop, &calls, &mc, &out, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "stopped"));
    ck_assert_uint_eq(mc.tests, 3);
    stream_release(&out);
    /* A predicate that always holds is cut down within the budget. */
    fuzz_min_config small = {5, (size_t)-1, 0, 0};
    calls = -1000000;
    ck_assert_int_eq(fuzz_minimise(&s, pred_stop, &calls, &small, &out, err, sizeof err), 0);
    ck_assert_uint_eq(small.tests, 5);
    stream_release(&out);
    stream_release(&s);
}
END_TEST

/* ---- live: the allocsim binary against allocsim-server -------------------------------------- */

static const char *bin_dir(void) {
    const char *b = getenv("ALLOCSIM_BIN");
    return b ? b : ".";
}

/* Runs `allocsim ARGS...` (argv NULL-terminated), output into *out. Returns the exit status. */
static int run_allocsim(char *const args[], sbuf *out) {
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        close(fds[0]);
        close(fds[1]);
        /* A sanitized server symbolizes its report in about a second; the fuzzer needs only
         * the report's first line, and reproduces a failure dozens of times. */
        char asan[1024];
        const char *old = getenv("ASAN_OPTIONS");
        snprintf(asan, sizeof asan, "%s%ssymbolize=0", old ? old : "", old && *old ? ":" : "");
        setenv("ASAN_OPTIONS", asan, 1);
        char exe[4096];
        snprintf(exe, sizeof exe, "%s/allocsim", bin_dir());
        char *argv[64];
        int n = 0;
        argv[n++] = exe;
        for (int i = 0; args[i] && n < 63; i++)
            argv[n++] = args[i];
        argv[n] = NULL;
        execv(exe, argv);
        _exit(127);
    }
    close(fds[1]);
    char buf[4096];
    ssize_t k;
    while ((k = read(fds[0], buf, sizeof buf)) > 0 || (k < 0 && errno == EINTR))
        if (k > 0)
            sbuf_append(out, buf, (size_t)k);
    close(fds[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static char tmp_root[64];

static void make_tmp(char *dir, size_t n, const char *name) {
    if (!tmp_root[0]) {
        snprintf(tmp_root, sizeof tmp_root, "/tmp/allocsim-test-fuzz-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(tmp_root));
    }
    snprintf(dir, n, "%s/%s", tmp_root, name);
}

static void server_cmd(char *buf, size_t n, const char *rev, const char *fault) {
    snprintf(buf, n, "%s/allocsim-server --protocol %s --cleanup-interval 0 --stats-interval 0%s%s", bin_dir(), rev,
             fault ? " --fault " : "", fault ? fault : "");
}

/* The smallest reproducer in dir: its frame count, and its path in best. */
static size_t smallest_repro(const char *dir, char *best, size_t n, int *count, const char *prefix) {
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "no output directory %s", dir);
    size_t min = (size_t)-1;
    *count = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len < 12 || strcmp(e->d_name + len - 12, ".allocstream") != 0)
            continue;
        if (prefix && strncmp(e->d_name, prefix, strlen(prefix)) != 0)
            continue;
        (*count)++;
        char path[4096], err[512];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        stream s;
        ck_assert_msg(stream_load(path, &s, err, sizeof err) == 0, "%s", err);
        size_t frames = fuzz_stream_frames(&s);
        if (frames < min) {
            min = frames;
            snprintf(best, n, "%s", path);
        }
        stream_release(&s);
    }
    closedir(d);
    return min;
}

/* 2000 streams; a third of that in the sanitized build, which is several times slower. */
#ifdef ALLOCSIM_SANITIZED
#define HEALTHY_RUNS "700"
#else
#define HEALTHY_RUNS "2000"
#endif

START_TEST(healthy_server_survives_2000_streams) {
    char dir[256];
    make_tmp(dir, sizeof dir, "healthy");
    sbuf out = SBUF_INIT;
    char *args[] = {"fuzz", "--seed", "1", "--runs", HEALTHY_RUNS, "--protocol", "v144", "--swarm", "--quiet",
                    "--out", dir, NULL};
    int st = run_allocsim(args, &out);
    ck_assert_msg(st == 0, "exit %d:\n%s", st, sbuf_str(&out));
    ck_assert_ptr_nonnull(strstr(sbuf_str(&out), HEALTHY_RUNS " streams"));
    ck_assert_ptr_nonnull(strstr(sbuf_str(&out), "0 signatures, 0 root causes"));
    ck_assert_ptr_nonnull(strstr(sbuf_str(&out), "bench fuzz_streams_per_s "));
    sbuf_reset(&out);
    char *args72[] = {"fuzz", "--seed", "2", "--runs", "500", "--protocol", "v72", "--quiet", "--out", dir, NULL};
    st = run_allocsim(args72, &out);
    ck_assert_msg(st == 0, "exit %d:\n%s", st, sbuf_str(&out));
    ck_assert_ptr_nonnull(strstr(sbuf_str(&out), "0 signatures, 0 root causes"));
    sbuf_release(&out);
}
END_TEST

START_TEST(refcount_fault_is_found_and_minimised) {
    char dir[256], cmd[1024], best[4096];
    make_tmp(dir, sizeof dir, "refcount");
    server_cmd(cmd, sizeof cmd, "v72", "refcount");
    sbuf out = SBUF_INIT;
    /* Seed 7: stream 0 leaves a duplicated ALLOC live, the refcount bug's clearest trace (a
     * FREE after the duplicate gives other signatures, whose reproducers need 3 frames). */
    char *args[] = {"fuzz", "--seed", "7", "--runs", "2", "--protocol", "v72", "--server", cmd, "--out", dir,
                    "--quiet", NULL};
    int st = run_allocsim(args, &out);
    ck_assert_msg(st == 1, "exit %d:\n%s", st, sbuf_str(&out));
    ck_assert_ptr_nonnull(strstr(sbuf_str(&out), "reproduce: allocsim replay "));
    int count;
    size_t frames = smallest_repro(dir, best, sizeof best, &count, NULL);
    ck_assert_int_ge(count, 1);
    ck_assert_msg(frames <= 2, "smallest reproducer has %zu frames:\n%s", frames, sbuf_str(&out));
    /* The reproducer fails against the faulty server and holds against the healthy one. */
    sbuf_reset(&out);
    char *bad[] = {"replay", best, "--server", cmd, NULL};
    st = run_allocsim(bad, &out);
    ck_assert_msg(st == 1, "replay against the faulty server: exit %d:\n%s", st, sbuf_str(&out));
    ck_assert_ptr_nonnull(strstr(sbuf_str(&out), "FAILED"));
    sbuf_reset(&out);
    char *good[] = {"replay", best, NULL};
    st = run_allocsim(good, &out);
    ck_assert_msg(st == 0, "replay against the healthy server: exit %d:\n%s", st, sbuf_str(&out));
    ck_assert_ptr_nonnull(strstr(sbuf_str(&out), "held"));
    ck_assert_ptr_nonnull(strstr(sbuf_str(&out), "REMAINING ALLOCATED BUFFERS"));
    sbuf_release(&out);
}
END_TEST

START_TEST(no_bounds_fault_is_found_and_minimised) {
    char dir[256], cmd[1024], best[4096];
    make_tmp(dir, sizeof dir, "nobounds");
    server_cmd(cmd, sizeof cmd, "v72", "no-bounds");
    sbuf out = SBUF_INIT;
    char *args[] = {"fuzz", "--seed", "1", "--runs", "3", "--protocol", "v72", "--server", cmd, "--out", dir,
                    "--quiet", NULL};
    int st = run_allocsim(args, &out);
    ck_assert_msg(st == 1, "exit %d:\n%s", st, sbuf_str(&out));
    int count;
    size_t frames = smallest_repro(dir, best, sizeof best, &count, NULL);
    ck_assert_int_ge(count, 1);
    ck_assert_msg(frames <= 2, "smallest reproducer has %zu frames:\n%s", frames, sbuf_str(&out));
#ifdef ALLOCSIM_SANITIZED
    /* Built with AddressSanitizer, the server reports the out-of-bounds counter write itself. */
    int asan = 0;
    smallest_repro(dir, best, sizeof best, &asan, "asan-");
    ck_assert_msg(asan >= 1, "no asan-* failure:\n%s", sbuf_str(&out));
#endif
    sbuf_reset(&out);
    char *good[] = {"replay", best, NULL};
    st = run_allocsim(good, &out);
    ck_assert_msg(st == 0, "replay against the healthy server: exit %d:\n%s", st, sbuf_str(&out));
    sbuf_release(&out);
}
END_TEST

START_TEST(shards_split_the_stream_numbers) {
    char dir[256], cmd[1024];
    make_tmp(dir, sizeof dir, "shard");
    server_cmd(cmd, sizeof cmd, "v72", "refcount");
    sbuf out = SBUF_INIT;
    char *args[] = {"fuzz", "--seed", "3", "--runs", "12", "--shard", "1/3", "--protocol", "v72", "--server", cmd,
                    "--out", dir, "--quiet", "--no-minimise", "--confirm", "0", NULL};
    int st = run_allocsim(args, &out);
    ck_assert_msg(st == 1, "exit %d:\n%s", st, sbuf_str(&out));
    /* Shard 1 of 3 of streams 0..11 runs 1, 4, 7 and 10: four streams, all = 1 mod 3. */
    ck_assert_ptr_nonnull(strstr(sbuf_str(&out), "fuzz: 4 streams"));
    const char *p = sbuf_str(&out);
    int firsts = 0;
    while ((p = strstr(p, "first at stream ")) != NULL) {
        p += strlen("first at stream ");
        ck_assert_int_eq(atoi(p) % 3, 1);
        firsts++;
    }
    ck_assert_int_ge(firsts, 1);
    sbuf_release(&out);
}
END_TEST

START_TEST(differential_mode_reports_the_difference) {
    char dir[256], good[1024], bad[1024];
    make_tmp(dir, sizeof dir, "diff");
    server_cmd(good, sizeof good, "v72", NULL);
    server_cmd(bad, sizeof bad, "v72", "refcount");
    sbuf out = SBUF_INIT;
    char *same[] = {"fuzz", "--seed", "4", "--runs", "150", "--protocol", "v72", "--server", good, "--vs", good,
                    "--out", dir, "--quiet", NULL};
    int st = run_allocsim(same, &out);
    ck_assert_msg(st == 0, "two healthy servers: exit %d:\n%s", st, sbuf_str(&out));
    sbuf_reset(&out);
    char *differ[] = {"fuzz", "--seed", "7", "--runs", "1", "--protocol", "v72", "--server", good, "--vs", bad,
                      "--out", dir, "--quiet", "--confirm", "1", NULL};
    st = run_allocsim(differ, &out);
    ck_assert_msg(st == 1, "healthy vs refcount: exit %d:\n%s", st, sbuf_str(&out));
    ck_assert_ptr_nonnull(strstr(sbuf_str(&out), "diff-"));
    sbuf_release(&out);
}
END_TEST

START_TEST(silent_server_is_a_missing_dump) {
    char dir[256], cmd[1024];
    make_tmp(dir, sizeof dir, "quiet");
    /* --quiet prints nothing, dumps included (v144's flag): the report never comes. */
    snprintf(cmd, sizeof cmd, "%s/allocsim-server --protocol v144 --quiet --cleanup-interval 0 --stats-interval 0",
             bin_dir());
    sbuf out = SBUF_INIT;
    char *args[] = {"fuzz", "--seed", "1", "--runs", "1", "--protocol", "v144", "--server", cmd, "--out", dir,
                    "--quiet", "--timeout", "300ms", "--no-minimise", "--confirm", "1", NULL};
    int st = run_allocsim(args, &out);
    ck_assert_msg(st == 1, "exit %d:\n%s", st, sbuf_str(&out));
    ck_assert_ptr_nonnull(strstr(sbuf_str(&out), "dump-missing"));
    sbuf_release(&out);
}
END_TEST

START_TEST(replay_rejects_bad_files_and_usage) {
    char dir[256], path[512];
    make_tmp(dir, sizeof dir, "replay");
    mkdir(dir, 0777);
    snprintf(path, sizeof path, "%s/garbage.allocstream", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("ALLOCSTN and some more bytes that are not a stream at all....................", f);
    fclose(f);
    sbuf out = SBUF_INIT;
    char *bad[] = {"replay", path, NULL};
    ck_assert_int_eq(run_allocsim(bad, &out), 2);
    ck_assert_ptr_nonnull(strstr(sbuf_str(&out), "bad magic"));
    sbuf_reset(&out);
    char *none[] = {"replay", NULL};
    ck_assert_int_eq(run_allocsim(none, &out), 2);
    sbuf_reset(&out);
    char *nofuzzseed[] = {"fuzz", "--runs", "3", NULL};
    ck_assert_int_eq(run_allocsim(nofuzzseed, &out), 2);
    ck_assert_ptr_nonnull(strstr(sbuf_str(&out), "expected --seed"));
    /* A generated stream replays and holds against the healthy server; --print-stream shows it. */
    char err[256];
    fuzz_gen_config g = gen_config(PROTO_V144, 8, FUZZ_F_ALL, 0);
    stream s;
    ck_assert_int_eq(fuzz_generate(&g, 2, &s, err, sizeof err), 0);
    snprintf(path, sizeof path, "%s/gen.allocstream", dir);
    ck_assert_msg(stream_save(&s, path, err, sizeof err) == 0, "%s", err);
    stream_release(&s);
    sbuf_reset(&out);
    char *ok[] = {"replay", path, NULL};
    int st = run_allocsim(ok, &out);
    ck_assert_msg(st == 0, "exit %d:\n%s", st, sbuf_str(&out));
    ck_assert_ptr_nonnull(strstr(sbuf_str(&out), "📋 DUMP_REMAINING complete."));
    sbuf_reset(&out);
    char *show[] = {"replay", path, "--print-stream", NULL};
    ck_assert_int_eq(run_allocsim(show, &out), 0);
    ck_assert_ptr_nonnull(strstr(sbuf_str(&out), "# allocstream: revision v144"));
    sbuf_release(&out);
}
END_TEST

static void remove_tree(const char *path) {
    DIR *d = opendir(path);
    if (!d) {
        unlink(path);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char sub[4096];
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        remove_tree(sub);
    }
    closedir(d);
    rmdir(path);
}

static Suite *fuzz_suite(void) {
    Suite *s = suite_create("fuzz");
    TCase *pure = tcase_create("pure");
    tcase_set_timeout(pure, 120);
    tcase_add_test(pure, generation_is_deterministic);
    tcase_add_test(pure, generation_depends_on_seed_and_number);
    tcase_add_test(pure, generated_streams_are_valid_files);
    tcase_add_test(pure, no_transport_faults_means_whole_frames);
    tcase_add_test(pure, features_off_means_plain_traffic);
    tcase_add_test(pure, swarm_picks_subsets);
    tcase_add_test(pure, connection_switches_are_fenced);
    tcase_add_test(pure, model_v144_resync_and_give_up);
    tcase_add_test(pure, model_split_truncated_and_queries);
    tcase_add_test(pure, reset_frames_empty_any_state);
    tcase_add_test(pure, pid_sites_follow_the_framing);
    tcase_add_test(pure, reply_diff_names_the_field);
    tcase_add_test(pure, sanitizer_lines_become_signatures);
    tcase_add_test(pure, durations_and_features_parse);
    tcase_add_test(pure, render_decodes_frames);
    tcase_add_test(pure, minimiser_keeps_the_two_frames_that_matter);
    tcase_add_test(pure, minimiser_stops_on_request_and_budget);
    suite_add_tcase(s, pure);
    TCase *live = tcase_create("live");
    tcase_set_timeout(live, 240);
    tcase_add_test(live, healthy_server_survives_2000_streams);
    tcase_add_test(live, refcount_fault_is_found_and_minimised);
    tcase_add_test(live, no_bounds_fault_is_found_and_minimised);
    tcase_add_test(live, shards_split_the_stream_numbers);
    tcase_add_test(live, differential_mode_reports_the_difference);
    tcase_add_test(live, silent_server_is_a_missing_dump);
    tcase_add_test(live, replay_rejects_bad_files_and_usage);
    suite_add_tcase(s, live);
    return s;
}

int main(void) {
    /* The temporary root is shared by every test (CK_NOFORK keeps one process), removed here. */
    SRunner *r = srunner_create(fuzz_suite());
    srunner_set_fork_status(r, CK_NOFORK);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    if (tmp_root[0])
        remove_tree(tmp_root);
    return failed ? 1 : 0;
}
