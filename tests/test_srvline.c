/* test_srvline: the server line classifier (sim/srvline.c) against protocol.md §5.
 *
 * Every line below is written from the templates of protocol.md §5.4-§5.10 (and the pre-v72
 * and "v128" lines of §1.3), one per kind and revision variant, with the revisions that can
 * print it according to §0. Fields are checked against the values written in the line.
 * Robustness: every prefix of every line, and random bytes, classify without reading out of
 * bounds (run under ASan in CI) and never as a well-formed line of a different kind.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "srvline.h"

#define R(x) SRVLINE_REV(PROTO_##x)
#define ALL SRVLINE_REVS_ALL
#define DEC (R(V72) | R(V112))
#define HEX (R(V112_HEX) | R(V144) | R(V144_256))
#define V112F (R(V112) | R(V112_HEX))
#define V144F (R(V144) | R(V144_256))

typedef struct {
    const char *line;
    srvline_kind kind;
    unsigned revs;
} known;

static const known table[] = {
    /* §5.5 */
    {"✓ [PID 919068] Allocated 12503040 bytes of TRACE on device 4 (buffer_id=1043741824)",
     SRVLINE_ALLOC, DEC},
    {"✓ [PID 919068] Allocated 12503040 bytes of TRACE on device 4 (buffer_id=0x3e363c80)",
     SRVLINE_ALLOC, HEX},
    {"✓ [PID 5] Allocated 2048 bytes of L1_SMALL on device 0 (buffer_id=4096, ref_count=2)",
     SRVLINE_ALLOC_REF, DEC},
    {"✗ [PID 5] Freed buffer 4096 on device 0 (2048 bytes, ref_count=1 remaining)",
     SRVLINE_FREE_REF, DEC},
    {"✗ [PID 919068] Freed buffer 0x3e363c80 on device 7 (12503040 bytes, FINAL)",
     SRVLINE_FREE_FINAL, HEX},
    {"✗ [PID 5] Freed buffer 4096 on device 0 (2048 bytes)", SRVLINE_FREE_PRE_V72, 0},
    {"⚠ [PID 5] Deallocation for unknown buffer 0x3e363c80 on device 0 (allocated before "
     "tracking started)",
     SRVLINE_FREE_UNKNOWN, HEX},
    /* §5.6 */
    {"⚠ [PID 5] Invalid buffer_type 9 for buffer 4096 on device 0", SRVLINE_INVALID_TYPE_PID,
     R(V72) | V112F},
    {"⚠️  Invalid buffer_type 9 for buffer 4096 on device 0", SRVLINE_INVALID_TYPE, V144F},
    {"⚠️  Invalid device_id 2657333 - ignoring message", SRVLINE_INVALID_DEVICE, V144F},
    {"⚠️  Invalid device_id -1 - ignoring message", SRVLINE_INVALID_DEVICE, V144F},
    {"⚠️  Invalid size 0 - ignoring message", SRVLINE_INVALID_SIZE, V144F},
    {"Unknown message type: 6", SRVLINE_UNKNOWN_TYPE, R(V72)},
    {"Unknown message type: 4", SRVLINE_UNKNOWN_TYPE, ALL},
    {"Unknown message type: 10", SRVLINE_UNKNOWN_TYPE, R(V72) | V112F},
    {"⚠️  Invalid message type - skipping", SRVLINE_INVALID_TYPE_V128, 0},
    {"⚠️  Too many consecutive errors (10) - closing connection (likely protocol mismatch)",
     SRVLINE_TOO_MANY_ERRORS, V144F},
    {"Accept failed", SRVLINE_ACCEPT_FAILED, ALL},
    {"Error: Failed to bind socket", SRVLINE_SOCKET_ERROR, ALL},
    /* §5.7 */
    {"📋 Received DUMP_REMAINING request...", SRVLINE_DUMP_REQUEST, ALL},
    {"╔══════════════════════════════════════════════════════════════╗", SRVLINE_FRAME_TOP, ALL},
    {"║           REMAINING ALLOCATED BUFFERS                       ║", SRVLINE_DUMP_TITLE, ALL},
    {"╚══════════════════════════════════════════════════════════════╝", SRVLINE_FRAME_BOTTOM, ALL},
    {"Total tracked allocations: 8", SRVLINE_DUMP_TRACKED, ALL},
    {"✓ No buffers remaining - perfect cleanup!", SRVLINE_DUMP_PERFECT, ALL},
    {"Device -3:", SRVLINE_DUMP_DEVICE, ALL},
    {"  TRACE: 1 buffers, 11.9238 MB total", SRVLINE_DUMP_GROUP, ALL},
    {"    - Buffer 0x3e363c80: 12210 KB (PID 919068, ref_count=1)", SRVLINE_DUMP_BUFFER, ALL},
    {"Total remaining buffers: 8", SRVLINE_DUMP_TOTAL, ALL},
    {"📋 DUMP_REMAINING complete.", SRVLINE_DUMP_COMPLETE, ALL},
    /* §5.8 */
    {"⚠️  Detected dead processes, cleaning up orphaned buffers...", SRVLINE_DEAD_HEADER, ALL},
    {"   PID 4242 is dead, removing its buffers...", SRVLINE_DEAD_PID, ALL},
    {"   ✓ Removed 0 buffers (0 MB) from PID 4242", SRVLINE_DEAD_REMOVED_BUFFERS, ALL},
    {"   ✓ Removed 2 CBs (0.0625 MB) from PID 4242", SRVLINE_DEAD_REMOVED_CBS, V144F},
    {"   ✓ Removed 1 kernels (0.0546875 MB) from PID 4242", SRVLINE_DEAD_REMOVED_KERNELS, V144F},
    /* §5.9 */
    {"✓ [CB_ALLOC] Device 0: +0.0625 MB (Total: 0.0625 MB)", SRVLINE_CB_ALLOC, V144F},
    {"✗ [CB_FREE] Device 0: -0.0625 MB (Total: 1.75922e+13 MB)", SRVLINE_CB_FREE, V144F},
    {"✓ [KERNEL_LOAD] Fabric kernel on Device 2: +0.0546875 MB (Total: 0.0546875 MB)",
     SRVLINE_KERNEL_LOAD, V144F},
    {"✓ [KERNEL_LOAD] Device 0: +0.0546875 MB (Total: 0.0546875 MB)", SRVLINE_KERNEL_LOAD, 0},
    {"✗ [KERNEL_UNLOAD] Unknown kernel on Device 1: -1 MB (Total: 0 MB)", SRVLINE_KERNEL_UNLOAD,
     V144F},
    {"║           DETAILED KERNEL ALLOCATIONS                       ║", SRVLINE_KDUMP_TITLE, V144F},
    {"Total kernel allocations: 3", SRVLINE_KDUMP_TOTAL, V144F},
    {"📊 Device 0 - Total: 0.109375 MB (2 kernels)", SRVLINE_KDUMP_DEVICE, V144F},
    {"  ┌─────────────────────────────────────────────────────────┐", SRVLINE_KDUMP_BOX_TOP, V144F},
    {"  │ Kernel ID: 0x1f", SRVLINE_KDUMP_KERNEL_ID, V144F},
    {"  │   Size:      56 KB", SRVLINE_KDUMP_SIZE, V144F},
    {"  │   Owner PID: 77", SRVLINE_KDUMP_OWNER, V144F},
    {"  │   Age:       12 seconds", SRVLINE_KDUMP_AGE, V144F},
    {"  │", SRVLINE_KDUMP_SEPARATOR, V144F},
    {"  └─────────────────────────────────────────────────────────┘", SRVLINE_KDUMP_BOX_BOTTOM,
     V144F},
    {"📋 DUMP_KERNELS complete.", SRVLINE_KDUMP_COMPLETE, V144F},
    /* §5.10 */
    {"📊 Current Statistics:", SRVLINE_STATS_HEADER, ALL},
    {"  Device 3:", SRVLINE_STATS_DEVICE, ALL},
    {"    Buffers: 12", SRVLINE_STATS_BUFFERS, ALL},
    {"    DRAM: 1073741824 bytes (1.04858e+06 KB)", SRVLINE_STATS_DRAM, ALL},
    {"    L1: 12288 bytes (12 KB)", SRVLINE_STATS_L1, ALL},
    {"    Total: 1073754112 bytes", SRVLINE_STATS_TOTAL, ALL},
    {"  Active allocations: 12", SRVLINE_STATS_ACTIVE, ALL},
    {"🔄 Background cleanup thread stopped", SRVLINE_CLEANUP_STOPPED, ALL},
    {"🛑 Allocation Server stopped", SRVLINE_SERVER_STOPPED, ALL},
    /* §5.4 */
    {"🔍 Device detection (using TT-Metal APIs):", SRVLINE_DETECT_HEADER, V112F},
    {"🔍 Device detection (using UMD Cluster for accurate specs):", SRVLINE_DETECT_HEADER, R(V144)},
    {"🔍 Device detection (all chips via ClusterDescriptor, no hugepages):", SRVLINE_DETECT_HEADER,
     R(V144_256)},
    {"   No PCIe devices detected", SRVLINE_DETECT_NONE, R(V112)},
    {"   No devices detected", SRVLINE_DETECT_NONE, V112F},
    {"   Server will track allocations anyway", SRVLINE_DETECT_NOTICE, V112F},
    {"   Server will track allocations without device info", SRVLINE_DETECT_NOTICE, V112F | V144F},
    {"   Warning: Found 32 devices, limiting to 8", SRVLINE_DETECT_LIMIT, V112F},
    {"   Device 0: Wormhole_B0 (12GB DRAM, 108MB L1)", SRVLINE_DETECT_DEVICE, V112F},
    {"   Device 1: Wormhole_B0 (12GB DRAM, 108MB L1) [Remote]", SRVLINE_DETECT_DEVICE, R(V144)},
    {"   Device 9: Wormhole_B0 (12GB DRAM, 108MB L1) [Remote Ethernet]", SRVLINE_DETECT_DEVICE,
     R(V144_256)},
    {"   Total: 2 PCIe device(s) detected", SRVLINE_DETECT_TOTAL, R(V112)},
    {"   Total: 8 device(s) detected", SRVLINE_DETECT_TOTAL, V112F | R(V144)},
    {"   Total: 32 device(s) detected (4 local, 28 remote)", SRVLINE_DETECT_TOTAL, R(V144_256)},
    {"   Topology: 4 local chip(s), 28 remote chip(s)", SRVLINE_DETECT_TOPOLOGY, R(V144_256)},
    {"   Note: Remote chip specs from topology (hugepages needed for telemetry)",
     SRVLINE_DETECT_NOTE, R(V144_256)},
    {"   Failed to initialize cluster", SRVLINE_DETECT_FAILED, R(V144_256)},
    {"   Warning: Could not query device 3: timeout", SRVLINE_DETECT_FAILED, V112F | V144F},
    {"   Error during device detection: no driver", SRVLINE_DETECT_FAILED, V112F | V144F},
    {"DRAM size per channel: 1073741824", SRVLINE_DETECT_DEBUG, R(V144)},
    {"Grid size: 8x10", SRVLINE_DETECT_DEBUG, R(V144)},
    {"Is remote: 1", SRVLINE_DETECT_DEBUG, R(V144)},
    {"Arch: Wormhole_B0", SRVLINE_DETECT_DEBUG, R(V144)},
    {"🚀 Allocation Server started", SRVLINE_BANNER_STARTED, ALL},
    {"   Listening on: /tmp/tt_allocation_server.sock", SRVLINE_BANNER_LISTENING, ALL},
    {"   Press Ctrl+C to stop", SRVLINE_BANNER_HINT, ALL},
    {"🔄 Background cleanup thread started (checking every 10s)", SRVLINE_CLEANUP_STARTED, ALL},
    {"Usage: ./allocation_server_poc [--quiet|-q]", SRVLINE_USAGE, V144F},
    {"", SRVLINE_EMPTY, ALL},
    /* not the server's */
    {"⚠️  [Device 0] deallocate_buffers() called with 3 buffers still in allocated_buffers_ set:",
     SRVLINE_OTHER, ALL},
    {"hello world", SRVLINE_OTHER, ALL},
    {"  foo", SRVLINE_OTHER, ALL},
};

START_TEST(every_template) {
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        const known *k = &table[i];
        srvline s;
        srvline_classify(k->line, strlen(k->line), &s);
        ck_assert_msg(s.kind == k->kind, "'%s': kind %s, expected %s", k->line,
                      srvline_kind_name(s.kind), srvline_kind_name(k->kind));
        ck_assert_msg(s.revs == k->revs, "'%s': revs %#x, expected %#x", k->line, s.revs, k->revs);
        /* the same line with CRLF or LF attached classifies the same */
        char buf[512];
        snprintf(buf, sizeof buf, "%s\r\n", k->line);
        srvline t;
        srvline_classify(buf, strlen(buf), &t);
        ck_assert_int_eq(t.kind, k->kind);
    }
}
END_TEST

static srvline classify(const char *line) {
    srvline s;
    srvline_classify(line, strlen(line), &s);
    return s;
}

static int text_is(srvline_text t, const char *s) {
    return t.len == strlen(s) && memcmp(t.ptr, s, t.len) == 0;
}

START_TEST(alloc_and_free_fields) {
    srvline s = classify("✓ [PID 919068] Allocated 12503040 bytes of TRACE on device 4 "
                         "(buffer_id=1043741824)");
    ck_assert_int_eq(s.pid, 919068);
    ck_assert_uint_eq(s.size, 12503040);
    ck_assert_int_eq(s.buffer_type, 4);
    ck_assert_int_eq(s.device_id, 4);
    ck_assert_uint_eq(s.buffer_id, 1043741824u);
    ck_assert_int_eq(s.id_hex, 0);
    s = classify("✓ [PID -1] Allocated 0 bytes of SYSTEM_MEMORY on device -7 "
                 "(buffer_id=0xFFFFFFFFFFFFFFFF, ref_count=2147483647)");
    ck_assert_int_eq(s.kind, SRVLINE_ALLOC_REF);
    ck_assert_int_eq(s.pid, -1);
    ck_assert_int_eq(s.buffer_type, 2);
    ck_assert_int_eq(s.device_id, -7);
    ck_assert_uint_eq(s.buffer_id, UINT64_MAX);
    ck_assert_int_eq(s.id_hex, 1);
    ck_assert_int_eq(s.ref_count, 2147483647);
    s = classify("✓ [PID 1] Allocated 5 bytes of L1 on device 0 (buffer_id=0x0)");
    ck_assert_int_eq(s.kind, SRVLINE_ALLOC);
    ck_assert_int_eq(s.buffer_type, 1);
    ck_assert_uint_eq(s.buffer_id, 0);
    s = classify("✗ [PID 919068] Freed buffer 0x3e363c80 on device 7 (12503040 bytes, FINAL)");
    ck_assert_int_eq(s.pid, 919068);
    ck_assert_uint_eq(s.buffer_id, 0x3e363c80u);
    ck_assert_int_eq(s.device_id, 7);
    ck_assert_uint_eq(s.size, 12503040);
    s = classify("✗ [PID 5] Freed buffer 4096 on device 0 (2048 bytes, ref_count=1 remaining)");
    ck_assert_int_eq(s.ref_count, 1);
    s = classify("⚠ [PID 12] Deallocation for unknown buffer 77 on device 3 (allocated before "
                 "tracking started)");
    ck_assert_int_eq(s.pid, 12);
    ck_assert_uint_eq(s.buffer_id, 77);
    ck_assert_int_eq(s.device_id, 3);
    s = classify("⚠ [PID 5] Invalid buffer_type 9 for buffer 4096 on device 2");
    ck_assert_int_eq(s.buffer_type, 9);
    ck_assert_uint_eq(s.buffer_id, 4096);
    ck_assert_int_eq(s.device_id, 2);
    s = classify("Unknown message type: 13");
    ck_assert_uint_eq(s.count, 13);
}
END_TEST

START_TEST(report_fields) {
    srvline s = classify("  L1_SMALL: 3 buffers, 0.0117188 MB total");
    ck_assert_int_eq(s.kind, SRVLINE_DUMP_GROUP);
    ck_assert_int_eq(s.buffer_type, 3);
    ck_assert_uint_eq(s.count, 3);
    ck_assert(text_is(s.num, "0.0117188"));
    s = classify("    - Buffer 0x3e363c80: 12210 KB (PID 919068, ref_count=1)");
    ck_assert_uint_eq(s.buffer_id, 0x3e363c80u);
    ck_assert(text_is(s.num, "12210"));
    ck_assert_int_eq(s.pid, 919068);
    ck_assert_int_eq(s.ref_count, 1);
    s = classify("    - Buffer 0x40000000: 1.04858e+06 KB (PID 3, ref_count=4)");
    ck_assert(text_is(s.num, "1.04858e+06"));
    s = classify("   ✓ Removed 2 buffers (0.0234375 MB) from PID 4242");
    ck_assert_uint_eq(s.count, 2);
    ck_assert(text_is(s.num, "0.0234375"));
    ck_assert_int_eq(s.pid, 4242);
    s = classify("Device -3:");
    ck_assert_int_eq(s.device_id, -3);
    s = classify("✗ [CB_FREE] Device 0: -0.0625 MB (Total: 1.75922e+13 MB)");
    ck_assert(text_is(s.num, "0.0625"));
    ck_assert(text_is(s.num2, "1.75922e+13"));
    s = classify("✓ [KERNEL_LOAD] Fabric kernel on Device 2: +0.0546875 MB (Total: 0.0546875 MB)");
    ck_assert_int_eq(s.buffer_type, 1);
    ck_assert_int_eq(s.device_id, 2);
    s = classify("   Device 0: Wormhole_B0 (12GB DRAM, 108MB L1)");
    ck_assert(text_is(s.text, "Wormhole_B0"));
    ck_assert_uint_eq(s.size, 12);
    ck_assert_uint_eq(s.count, 108);
}
END_TEST

typedef struct {
    const char *line;
    srvline_kind expected_kind;
    const char *expected;
} bad;

static const bad malformed[] = {
    {"✓ [PID 919068] Allocated 12503040 bytes of TRACE on device 4", SRVLINE_ALLOC,
     "✓ [PID «pid»] Allocated «size» bytes of «TYPE» on device «dev» (buffer_id=«ID»)"},
    {"✓ [PID 1] Allocated 5 bytes of HBM on device 0 (buffer_id=1)", SRVLINE_ALLOC, NULL},
    {"✓ [PID 99999999999] Allocated 5 bytes of L1 on device 0 (buffer_id=1)", SRVLINE_ALLOC, NULL},
    {"✓ [PID 1] Allocated 18446744073709551616 bytes of L1 on device 0 (buffer_id=1)",
     SRVLINE_ALLOC, NULL},
    {"✓ [PID 1] Allocated 5 bytes of L1 on device 0 (buffer_id=0x10000000000000000)",
     SRVLINE_ALLOC, NULL},
    {"✓ [PID 1] Allocated 5 bytes of L1 on device 0 (buffer_id=1) trailing", SRVLINE_ALLOC, NULL},
    {"✗ [PID 1] Freed buffer 0x10 on device 0 (5 bytes)", SRVLINE_FREE_FINAL, NULL},
    {"✗ [PID 1] Freed buffer", SRVLINE_FREE_FINAL, NULL},
    {"  TRACE: one buffers, 11.9238 MB total", SRVLINE_DUMP_GROUP,
     "  «TYPE»: «n» buffers, «MB» MB total"},
    {"    - Buffer 3e363c80: 12210 KB (PID 919068, ref_count=1)", SRVLINE_DUMP_BUFFER,
     "    - Buffer 0x«hex»: «KB» KB (PID «pid», ref_count=«n»)"},
    {"Device zero:", SRVLINE_DUMP_DEVICE, "Device «dev»:"},
    {"Total tracked allocations: -1", SRVLINE_DUMP_TRACKED, NULL},
    {"   PID x is dead, removing its buffers...", SRVLINE_DEAD_PID, NULL},
    {"Unknown message type: 256", SRVLINE_UNKNOWN_TYPE, NULL},
    {"⚠️  Invalid device_id 99999999999 - ignoring message", SRVLINE_INVALID_DEVICE, NULL},
};

START_TEST(malformed_lines) {
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
        const bad *b = &malformed[i];
        srvline s = classify(b->line);
        ck_assert_msg(s.kind == SRVLINE_MALFORMED, "'%s': %s", b->line, srvline_kind_name(s.kind));
        ck_assert_int_eq(s.expected_kind, b->expected_kind);
        ck_assert_ptr_nonnull(s.expected);
        if (b->expected)
            ck_assert_str_eq(s.expected, b->expected);
    }
}
END_TEST

/* No prefix of a well-formed line is mistaken for a different well-formed kind, and every
 * prefix is classified within bounds (the copy is exactly as long as the prefix). */
START_TEST(prefixes_stay_in_bounds) {
    for (size_t k = 0; k < sizeof table / sizeof table[0]; k++) {
        size_t n = strlen(table[k].line);
        for (size_t len = 0; len < n; len++) {
            char *copy = malloc(len ? len : 1);
            memcpy(copy, table[k].line, len);
            srvline s;
            srvline_classify(copy, len, &s);
            ck_assert_int_lt(s.kind, SRVLINE_KIND_COUNT);
            if (s.num.len)
                ck_assert(s.num.ptr >= copy && s.num.ptr + s.num.len <= copy + len);
            free(copy);
        }
    }
}
END_TEST

START_TEST(random_bytes) {
    uint64_t x = 0x9E3779B97F4A7C15u;
    char buf[200];
    for (int iter = 0; iter < 5000; iter++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        size_t len = x % sizeof buf;
        /* half the time, start from a real line and corrupt one byte */
        if (iter & 1) {
            const char *src = table[(x >> 8) % (sizeof table / sizeof table[0])].line;
            size_t n = strlen(src);
            len = n < sizeof buf ? n : sizeof buf;
            memcpy(buf, src, len);
            if (len)
                buf[(x >> 20) % len] = (char)(x >> 40);
        } else {
            for (size_t i = 0; i < len; i++)
                buf[i] = (char)(x >> (i % 56));
        }
        char *copy = malloc(len ? len : 1);
        memcpy(copy, buf, len);
        srvline s;
        srvline_classify(copy, len, &s);
        ck_assert_int_lt(s.kind, SRVLINE_KIND_COUNT);
        char q[64];
        srvline_quote(copy, len, q, sizeof q);
        ck_assert_uint_lt(strlen(q), sizeof q);
        free(copy);
    }
}
END_TEST

START_TEST(quote_escapes_and_cuts) {
    char q[32];
    ck_assert_str_eq(srvline_quote("a\xff\x01✓b\r\n", 9, q, sizeof q), "a\\xff\\x01✓b");
    ck_assert_str_eq(srvline_quote("back\\slash", 10, q, sizeof q), "back\\x5cslash");
    char longer[100];
    memset(longer, 'x', sizeof longer);
    srvline_quote(longer, sizeof longer, q, sizeof q);
    ck_assert_uint_eq(strlen(q), sizeof q - 1);
    ck_assert_str_eq(q + 28, "...");
    /* a multi-byte character is never cut in half */
    char emoji[40];
    size_t o = 0;
    for (int i = 0; i < 10; i++) {
        memcpy(emoji + o, "📋", 4);
        o += 4;
    }
    char small[12];
    srvline_quote(emoji, o, small, sizeof small);
    ck_assert_str_eq(small, "📋📋...");
}
END_TEST

START_TEST(kind_names_are_distinct) {
    for (int a = 0; a < SRVLINE_KIND_COUNT; a++)
        for (int b = a + 1; b < SRVLINE_KIND_COUNT; b++)
            ck_assert_str_ne(srvline_kind_name((srvline_kind)a), srvline_kind_name((srvline_kind)b));
}
END_TEST

static Suite *srvline_suite(void) {
    Suite *s = suite_create("srvline");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, every_template);
    tcase_add_test(tc, alloc_and_free_fields);
    tcase_add_test(tc, report_fields);
    tcase_add_test(tc, malformed_lines);
    tcase_add_test(tc, prefixes_stay_in_bounds);
    tcase_add_test(tc, random_bytes);
    tcase_add_test(tc, quote_escapes_and_cuts);
    tcase_add_test(tc, kind_names_are_distinct);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(srvline_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
