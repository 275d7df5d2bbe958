/* Unit tests for sim/ledger.c: the server's semantics and its exact output lines, checked
 * against the templates and examples of protocol.md §4-5. */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger.h"
#include "sbuf.h"

typedef struct {
    sbuf out, err;
    int32_t dead_pid; /* a pid the liveness callback reports dead (0: none) */
} capture;

static void emit(void *ctx, ledger_stream s, const char *line, size_t len) {
    capture *c = ctx;
    sbuf *b = s == LEDGER_STDOUT ? &c->out : &c->err;
    sbuf_append(b, line, len);
    sbuf_putc(b, '\n');
}

static int is_dead(void *ctx, int32_t pid) { return ((capture *)ctx)->dead_pid == pid; }

static ledger *make(proto_rev rev, capture *c, unsigned faults) {
    memset(c, 0, sizeof *c);
    ledger_config cfg = {.rev = rev, .emit = emit, .emit_ctx = c, .is_dead = is_dead, .dead_ctx = c, .faults = faults};
    ledger *l = ledger_new(&cfg);
    ck_assert_ptr_nonnull(l);
    return l;
}

static void release(ledger *l, capture *c) {
    ledger_free(l);
    sbuf_release(&c->out);
    sbuf_release(&c->err);
}

static proto_msg msg(uint8_t type, int32_t dev, uint64_t size, uint8_t btype, int32_t pid, uint64_t id) {
    proto_msg m;
    memset(&m, 0, sizeof m);
    m.type = type;
    m.device_id = dev;
    m.size = size;
    m.buffer_type = btype;
    m.process_id = pid;
    m.buffer_id = id;
    return m;
}

static int apply(ledger *l, proto_msg m) { return ledger_apply(l, &m, NULL); }

static size_t count_occurrences(const char *hay, const char *needle) {
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

START_TEST(seed_trace_buffers_in_dump_then_perfect_cleanup) {
    capture c;
    ledger *l = make(PROTO_V72, &c, 0);
    const int order[8] = {4, 0, 3, 7, 6, 2, 1, 5};
    for (int i = 0; i < 8; i++)
        apply(l, msg(PROTO_ALLOC, order[i], 12503040, PROTO_BUF_TRACE, 919068, 1043741824));
    ck_assert(strstr(sbuf_str(&c.out),
                     "✓ [PID 919068] Allocated 12503040 bytes of TRACE on device 4 (buffer_id=1043741824)\n"));
    sbuf_reset(&c.out);
    apply(l, msg(PROTO_DUMP_REMAINING, 0, 0, 0, 0, 0));
    const char *d = sbuf_str(&c.out);
    ck_assert_uint_eq(count_occurrences(d, "\n  TRACE: 1 buffers, 11.9238 MB total\n"), 8);
    ck_assert_uint_eq(count_occurrences(d, "\n    - Buffer 0x3e363c80: 12210 KB (PID 919068, ref_count=1)\n"), 8);
    ck_assert(strstr(d, "Total tracked allocations: 8\n\nDevice 0:\n  TRACE"));
    ck_assert(strstr(d, "Device 7:\n"));
    ck_assert(strstr(d, "\nTotal remaining buffers: 8\n\n📋 DUMP_REMAINING complete.\n"));
    ck_assert(strncmp(d, "📋 Received DUMP_REMAINING request...\n\n╔", strlen("📋 Received DUMP_REMAINING request...\n\n╔")) == 0);
    for (int i = 0; i < 8; i++)
        apply(l, msg(PROTO_FREE, i, 0, 0, 919068, 1043741824));
    ck_assert(strstr(d = sbuf_str(&c.out),
                     "✗ [PID 919068] Freed buffer 1043741824 on device 3 (12503040 bytes, FINAL)\n"));
    sbuf_reset(&c.out);
    apply(l, msg(PROTO_DUMP_REMAINING, 0, 0, 0, 0, 0));
    const char *want =
        "📋 Received DUMP_REMAINING request...\n"
        "\n"
        "╔══════════════════════════════════════════════════════════════╗\n"
        "║           REMAINING ALLOCATED BUFFERS                       ║\n"
        "╚══════════════════════════════════════════════════════════════╝\n"
        "Total tracked allocations: 0\n"
        "\n"
        "✓ No buffers remaining - perfect cleanup!\n"
        "📋 DUMP_REMAINING complete.\n";
    ck_assert_str_eq(sbuf_str(&c.out), want);
    ck_assert_uint_eq(ledger_count(l), 0);
    release(l, &c);
}
END_TEST

START_TEST(hex_revisions_print_hex_ids_but_decimal_invalid_type) {
    capture c;
    ledger *l = make(PROTO_V144, &c, 0);
    apply(l, msg(PROTO_ALLOC, 2, 12503040, PROTO_BUF_TRACE, 7, 1043741824));
    apply(l, msg(PROTO_ALLOC, 2, 64, 9, 7, 4096));
    apply(l, msg(PROTO_FREE, 2, 0, 0, 8, 0));
    ck_assert_str_eq(sbuf_str(&c.out),
                     "✓ [PID 7] Allocated 12503040 bytes of TRACE on device 2 (buffer_id=0x3e363c80)\n"
                     "⚠ [PID 8] Deallocation for unknown buffer 0x0 on device 2 (allocated before tracking started)\n");
    ck_assert_str_eq(sbuf_str(&c.err), "⚠️  Invalid buffer_type 9 for buffer 4096 on device 2\n");
    release(l, &c);
    l = make(PROTO_V112, &c, 0);
    apply(l, msg(PROTO_ALLOC, 1, 64, 5, 7, 4096));
    ck_assert_str_eq(sbuf_str(&c.err), "⚠ [PID 7] Invalid buffer_type 5 for buffer 4096 on device 1\n");
    ck_assert_uint_eq(ledger_count(l), 0);
    release(l, &c);
}
END_TEST

START_TEST(duplicate_alloc_raises_ref_count_keeps_first_and_totals) {
    capture c;
    ledger *l = make(PROTO_V72, &c, 0);
    apply(l, msg(PROTO_ALLOC, 0, 1000, PROTO_BUF_DRAM, 10, 2048));
    apply(l, msg(PROTO_ALLOC, 0, 500, PROTO_BUF_L1, 11, 2048));
    ck_assert(strstr(sbuf_str(&c.out),
                     "✓ [PID 11] Allocated 500 bytes of L1 on device 0 (buffer_id=2048, ref_count=2)\n"));
    ledger_counters k = ledger_device_counters(l, 0);
    ck_assert_uint_eq(k.dram, 1000);
    ck_assert_uint_eq(k.l1, 0);
    ck_assert_uint_eq(k.num_buffers, 1);
    ledger_entry e;
    ck_assert_int_eq(ledger_lookup(l, 0, 2048, &e), 1);
    ck_assert_int_eq(e.ref_count, 2);
    ck_assert_int_eq(e.owner_pid, 10);
    ck_assert_uint_eq(e.size, 1000);
    sbuf_reset(&c.out);
    apply(l, msg(PROTO_FREE, 0, 0, 0, 11, 2048));
    apply(l, msg(PROTO_FREE, 0, 0, 0, 11, 2048));
    ck_assert_str_eq(sbuf_str(&c.out),
                     "✗ [PID 10] Freed buffer 2048 on device 0 (1000 bytes, ref_count=1 remaining)\n"
                     "✗ [PID 10] Freed buffer 2048 on device 0 (1000 bytes, FINAL)\n");
    ck_assert_uint_eq(ledger_device_counters(l, 0).dram, 0);
    release(l, &c);
}
END_TEST

START_TEST(unknown_free_changes_nothing) {
    capture c;
    ledger *l = make(PROTO_V72, &c, 0);
    apply(l, msg(PROTO_ALLOC, 1, 4096, PROTO_BUF_L1, 5, 100));
    apply(l, msg(PROTO_FREE, 2, 0, 0, 5, 100)); /* right id, wrong device */
    ck_assert(strstr(sbuf_str(&c.out), "⚠ [PID 5] Deallocation for unknown buffer 100 on device 2 "
                                        "(allocated before tracking started)\n"));
    ck_assert_uint_eq(ledger_count(l), 1);
    ck_assert_uint_eq(ledger_device_counters(l, 1).l1, 4096);
    release(l, &c);
}
END_TEST

START_TEST(dead_pid_buffers_removed_at_dump) {
    capture c;
    ledger *l = make(PROTO_V144, &c, 0);
    apply(l, msg(PROTO_ALLOC, 0, 1048576, PROTO_BUF_DRAM, 300, 64));
    apply(l, msg(PROTO_ALLOC, 1, 1048576, PROTO_BUF_DRAM, 300, 64));
    apply(l, msg(PROTO_ALLOC, 0, 2048, PROTO_BUF_L1, 200, 128));
    apply(l, msg(PROTO_CB_ALLOC, 0, 1024, 0, 300, 9));
    c.dead_pid = 300;
    sbuf_reset(&c.out);
    apply(l, msg(PROTO_DUMP_REMAINING, 0, 0, 0, 0, 0));
    const char *want_head = "📋 Received DUMP_REMAINING request...\n"
                            "\n"
                            "⚠️  Detected dead processes, cleaning up orphaned buffers...\n"
                            "   PID 300 is dead, removing its buffers...\n"
                            "   ✓ Removed 2 buffers (2 MB) from PID 300\n"
                            "   ✓ Removed 1 CBs (0.000976562 MB) from PID 300\n"
                            "\n"
                            "\n╔";
    ck_assert(strncmp(sbuf_str(&c.out), want_head, strlen(want_head)) == 0);
    ck_assert(strstr(sbuf_str(&c.out), "Total tracked allocations: 1\n\nDevice 0:\n  L1: 1 buffers, "
                                        "0.00195312 MB total\n    - Buffer 0x80: 2 KB (PID 200, ref_count=1)\n\n"
                                        "Total remaining buffers: 1\n"));
    ck_assert_uint_eq(ledger_device_counters(l, 1).dram, 0);
    ck_assert_uint_eq(ledger_device_counters(l, 0).cb, 0);
    /* nobody else is dead: the background pass prints nothing */
    sbuf_reset(&c.out);
    ck_assert_int_eq(ledger_cleanup(l), 0);
    ck_assert_str_eq(sbuf_str(&c.out), "");
    release(l, &c);
}
END_TEST

START_TEST(query_reply_holds_counters) {
    capture c;
    ledger *l = make(PROTO_V144, &c, 0);
    apply(l, msg(PROTO_ALLOC, 3, 100, PROTO_BUF_DRAM, 1, 1));
    apply(l, msg(PROTO_ALLOC, 3, 200, PROTO_BUF_L1, 1, 2));
    apply(l, msg(PROTO_ALLOC, 3, 300, PROTO_BUF_SYSTEM_MEMORY, 1, 3));
    apply(l, msg(PROTO_ALLOC, 3, 400, PROTO_BUF_L1_SMALL, 1, 4));
    apply(l, msg(PROTO_ALLOC, 3, 500, PROTO_BUF_TRACE, 1, 5));
    apply(l, msg(PROTO_KERNEL_LOAD, 3, 600, 1, 1, 6));
    proto_msg q = msg(PROTO_QUERY, 3, 0, 0, 1, 0), r;
    ck_assert_int_eq(ledger_apply(l, &q, &r), LEDGER_REPLY);
    ck_assert_uint_eq(r.type, PROTO_RESPONSE);
    ck_assert_int_eq(r.device_id, 3);
    ck_assert_uint_eq(r.dram_allocated, 100);
    ck_assert_uint_eq(r.l1_allocated, 200);
    ck_assert_uint_eq(r.l1_small_allocated, 700);
    ck_assert_uint_eq(r.trace_allocated, 500);
    ck_assert_uint_eq(r.kernel_allocated, 600);
    q.device_id = 8; /* out of range for v144: zeroed, id echoed */
    ck_assert_int_eq(ledger_apply(l, &q, &r), LEDGER_REPLY);
    ck_assert_int_eq(r.device_id, 8);
    ck_assert_uint_eq(r.dram_allocated, 0);
    release(l, &c);
}
END_TEST

START_TEST(unknown_types_per_revision) {
    capture c;
    ledger *l = make(PROTO_V72, &c, 0);
    ck_assert_int_eq(apply(l, msg(PROTO_DEVICE_INFO_QUERY, -1, 0, 0, 1, 0)), LEDGER_HANDLED);
    ck_assert_int_eq(apply(l, msg(0, 0, 0, 0, 1, 0)), LEDGER_HANDLED);
    ck_assert_int_eq(apply(l, msg(PROTO_CB_ALLOC, 0, 0, 0, 1, 0)), LEDGER_HANDLED);
    ck_assert_str_eq(sbuf_str(&c.err), "Unknown message type: 6\nUnknown message type: 0\nUnknown message type: 8\n");
    release(l, &c);
    l = make(PROTO_V144, &c, 0);
    ck_assert_int_eq(apply(l, msg(0, 0, 0, 0, 1, 0)), LEDGER_RESYNC);
    ck_assert_int_eq(apply(l, msg(13, 0, 0, 0, 1, 0)), LEDGER_RESYNC);
    ck_assert_int_eq(apply(l, msg(PROTO_RESPONSE, 0, 0, 0, 1, 0)), LEDGER_HANDLED);
    ck_assert_int_eq(apply(l, msg(PROTO_DEVICE_INFO_QUERY, -1, 0, 0, 1, 0)), LEDGER_REPLY);
    ck_assert_str_eq(sbuf_str(&c.err), "Unknown message type: 4\n");
    release(l, &c);
}
END_TEST

START_TEST(v144_validation_lines) {
    capture c;
    ledger *l = make(PROTO_V144, &c, 0);
    apply(l, msg(PROTO_ALLOC, 8, 64, 0, 1, 1));
    apply(l, msg(PROTO_ALLOC, 0, 0, 0, 1, 1));
    apply(l, msg(PROTO_ALLOC, 0, 107374182401ull, 0, 1, 1));
    apply(l, msg(PROTO_ALLOC, 0, 107374182400ull, 0, 1, 1));
    ck_assert_str_eq(sbuf_str(&c.err), "⚠️  Invalid device_id 8 - ignoring message\n"
                                       "⚠️  Invalid size 0 - ignoring message\n"
                                       "⚠️  Invalid size 107374182401 - ignoring message\n");
    ck_assert_uint_eq(ledger_count(l), 1);
    release(l, &c);
    /* v144-256 accepts devices up to 255; v72 accepts size 0 */
    l = make(PROTO_V144_256, &c, 0);
    apply(l, msg(PROTO_ALLOC, 255, 64, 0, 1, 1));
    ck_assert_uint_eq(ledger_count(l), 1);
    release(l, &c);
    l = make(PROTO_V72, &c, 0);
    apply(l, msg(PROTO_ALLOC, 0, 0, 0, 1, 1));
    ck_assert_str_eq(sbuf_str(&c.out), "✓ [PID 1] Allocated 0 bytes of DRAM on device 0 (buffer_id=1)\n");
    release(l, &c);
}
END_TEST

START_TEST(more_than_ten_buffers_prints_summary_only) {
    capture c;
    ledger *l = make(PROTO_V72, &c, 0);
    for (uint64_t i = 0; i < 11; i++)
        apply(l, msg(PROTO_ALLOC, 0, 2048, PROTO_BUF_DRAM, 1, 4096 * (i + 1)));
    for (uint64_t i = 0; i < 10; i++)
        apply(l, msg(PROTO_ALLOC, 1, 1024, PROTO_BUF_L1, 1, 64 * (10 - i)));
    sbuf_reset(&c.out);
    apply(l, msg(PROTO_DUMP_REMAINING, 0, 0, 0, 0, 0));
    const char *d = sbuf_str(&c.out);
    ck_assert(strstr(d, "Device 0:\n  DRAM: 11 buffers, 0.0214844 MB total\n\nDevice 1:\n"
                        "  L1: 10 buffers, 0.00976562 MB total\n    - Buffer 0x40: 1 KB"));
    ck_assert(strstr(d, "    - Buffer 0x280: 1 KB (PID 1, ref_count=1)\n\nTotal remaining buffers: 21\n"));
    ck_assert_uint_eq(count_occurrences(d, "- Buffer"), 10);
    release(l, &c);
}
END_TEST

START_TEST(number_formatting_matches_iostream) {
    static const struct {
        uint64_t bytes;
        const char *kb, *mb;
    } v[] = {{0, "0", "0"},
             {1, "0.000976562", "9.53674e-07"},
             {1000, "0.976562", "0.000953674"},
             {1024, "1", "0.000976562"},
             {12288, "12", "0.0117188"},
             {100000, "97.6562", "0.0953674"},
             {12503040, "12210", "11.9238"},
             {1022976000, "999000", "975.586"},
             {1073741824, "1.04858e+06", "1024"}};
    char buf[32];
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        ledger_format_kb(buf, sizeof buf, v[i].bytes);
        ck_assert_str_eq(buf, v[i].kb);
        ledger_format_mb(buf, sizeof buf, v[i].bytes);
        ck_assert_str_eq(buf, v[i].mb);
    }
    ledger_format_mb(buf, sizeof buf, UINT64_MAX);
    ck_assert_str_eq(buf, "1.75922e+13");
}
END_TEST

START_TEST(cb_free_underflows_like_the_server) {
    capture c;
    ledger *l = make(PROTO_V144, &c, 0);
    apply(l, msg(PROTO_CB_FREE, 0, 1, 0, 1, 77));
    ck_assert_str_eq(sbuf_str(&c.out), "✗ [CB_FREE] Device 0: -9.53674e-07 MB (Total: 1.75922e+13 MB)\n");
    sbuf_reset(&c.out);
    apply(l, msg(PROTO_KERNEL_LOAD, 0, 57344, 0, 1, 0x10));
    apply(l, msg(PROTO_KERNEL_UNLOAD, 0, 57344, 2, 1, 0x10));
    apply(l, msg(PROTO_KERNEL_UNLOAD, 0, 57344, 2, 1, 0x10)); /* unknown: silent */
    ck_assert_str_eq(sbuf_str(&c.out), "✓ [KERNEL_LOAD] Application kernel on Device 0: +0.0546875 MB (Total: 0.0546875 MB)\n"
                                       "✗ [KERNEL_UNLOAD] Application kernel on Device 0: -0.0546875 MB (Total: 0 MB)\n");
    release(l, &c);
}
END_TEST

START_TEST(dump_kernels_report) {
    capture c;
    ledger *l = make(PROTO_V144, &c, 0);
    ledger_set_time(l, 1000000000ull);
    apply(l, msg(PROTO_KERNEL_LOAD, 1, 2048, 2, 44, 0x20));
    apply(l, msg(PROTO_KERNEL_LOAD, 1, 1024, 0, 44, 0x10));
    ledger_set_time(l, 4500000000ull);
    sbuf_reset(&c.out);
    apply(l, msg(PROTO_DUMP_KERNELS, 0, 0, 0, 44, 0));
    const char *want = "\n"
                       "╔══════════════════════════════════════════════════════════════╗\n"
                       "║           DETAILED KERNEL ALLOCATIONS                       ║\n"
                       "╚══════════════════════════════════════════════════════════════╝\n"
                       "Total kernel allocations: 2\n"
                       "\n"
                       "📊 Device 1 - Total: 0.00292969 MB (2 kernels)\n"
                       "  ┌─────────────────────────────────────────────────────────┐\n"
                       "  │ Kernel ID: 0x10\n"
                       "  │   Size:      1 KB\n"
                       "  │   Owner PID: 44\n"
                       "  │   Age:       3 seconds\n"
                       "  │\n"
                       "  │ Kernel ID: 0x20\n"
                       "  │   Size:      2 KB\n"
                       "  │   Owner PID: 44\n"
                       "  │   Age:       3 seconds\n"
                       "  │\n"
                       "  └─────────────────────────────────────────────────────────┘\n"
                       "\n"
                       "📋 DUMP_KERNELS complete.\n";
    ck_assert_str_eq(sbuf_str(&c.out), want);
    release(l, &c);
}
END_TEST

START_TEST(statistics_block) {
    capture c;
    ledger *l = make(PROTO_V72, &c, 0);
    apply(l, msg(PROTO_ALLOC, 2, 2048, PROTO_BUF_DRAM, 1, 1));
    apply(l, msg(PROTO_ALLOC, 2, 1024, PROTO_BUF_TRACE, 1, 2));
    sbuf_reset(&c.out);
    ledger_print_stats(l);
    ck_assert_str_eq(sbuf_str(&c.out), "\n📊 Current Statistics:\n  Device 2:\n    Buffers: 2\n"
                                       "    DRAM: 2048 bytes (2 KB)\n    L1: 0 bytes (0 KB)\n"
                                       "    Total: 3072 bytes\n  Active allocations: 2\n");
    release(l, &c);
}
END_TEST

/* Backward-shift deletion and cleanup under load, against a plain array model. */
START_TEST(registry_matches_reference_model_under_random_ops) {
    capture c;
    ledger_config cfg = {.rev = PROTO_V144_256, .is_dead = is_dead, .dead_ctx = &c};
    memset(&c, 0, sizeof c);
    ledger *l = ledger_new(&cfg);
    enum { N = 4000 };
    static struct {
        int live;
        int refs;
        int32_t pid;
    } model[N];
    memset(model, 0, sizeof model);
    uint64_t x = 12345;
    for (int step = 0; step < 60000; step++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        int k = (int)((x >> 33) % N);
        int32_t dev = k % 200;
        uint64_t id = (uint64_t)k * 64;
        int32_t pid = 1000 + (int)((x >> 20) % 7);
        if ((x >> 40) % 3) {
            apply(l, msg(PROTO_ALLOC, dev, 64, PROTO_BUF_DRAM, pid, id));
            if (!model[k].live) {
                model[k].live = 1;
                model[k].refs = 1;
                model[k].pid = pid;
            } else {
                model[k].refs++;
            }
        } else {
            apply(l, msg(PROTO_FREE, dev, 0, 0, pid, id));
            if (model[k].live && --model[k].refs == 0)
                model[k].live = 0;
        }
        if (step % 15000 == 14999) { /* kill one pid */
            c.dead_pid = 1000 + step % 7;
            ledger_cleanup(l);
            for (int i = 0; i < N; i++)
                if (model[i].live && model[i].pid == c.dead_pid)
                    model[i].live = 0;
        }
    }
    size_t live = 0;
    for (int k = 0; k < N; k++) {
        ledger_entry e;
        int found = ledger_lookup(l, k % 200, (uint64_t)k * 64, &e);
        ck_assert_int_eq(found, model[k].live);
        if (found) {
            ck_assert_int_eq(e.ref_count, model[k].refs);
            ck_assert_int_eq(e.owner_pid, model[k].pid);
            live++;
        }
    }
    ck_assert_uint_eq(ledger_count(l), live);
    ledger_entry *all;
    ck_assert_uint_eq(ledger_entries(l, &all), live);
    for (size_t i = 1; i < live; i++)
        ck_assert(all[i - 1].device_id < all[i].device_id ||
                  (all[i - 1].device_id == all[i].device_id && all[i - 1].buffer_id < all[i].buffer_id));
    free(all);
    ledger_free(l);
}
END_TEST

START_TEST(planted_faults_change_behaviour) {
    capture c;
    ledger *l = make(PROTO_V72, &c, LEDGER_FAULT_KEEP_TRACE);
    apply(l, msg(PROTO_ALLOC, 0, 12503040, PROTO_BUF_TRACE, 1, 1043741824));
    apply(l, msg(PROTO_FREE, 0, 0, 0, 1, 1043741824));
    ck_assert_uint_eq(ledger_count(l), 1);
    release(l, &c);
    l = make(PROTO_V72, &c, LEDGER_FAULT_REFCOUNT);
    apply(l, msg(PROTO_ALLOC, 0, 64, 0, 1, 64));
    apply(l, msg(PROTO_ALLOC, 0, 64, 0, 1, 64));
    apply(l, msg(PROTO_FREE, 0, 0, 0, 1, 64));
    ck_assert_uint_eq(ledger_count(l), 0);
    release(l, &c);
}
END_TEST

START_TEST(startup_lines_per_revision) {
    capture c;
    ledger *l = make(PROTO_V72, &c, 0);
    ledger_print_startup(l, "/tmp/tt_allocation_server.sock");
    ck_assert_str_eq(sbuf_str(&c.out), "🚀 Allocation Server started\n"
                                       "   Listening on: /tmp/tt_allocation_server.sock\n"
                                       "   Press Ctrl+C to stop\n"
                                       "🔄 Background cleanup thread started (checking every 10s)\n");
    release(l, &c);
    l = make(PROTO_V112, &c, 0);
    ledger_print_startup(l, "/x");
    ck_assert(strncmp(sbuf_str(&c.out), "🔍 Device detection (using TT-Metal APIs):\n   No devices detected\n"
                                        "   Server will track allocations anyway\n🚀",
                      strlen("🔍 Device detection (using TT-Metal APIs):\n   No devices detected\n"
                             "   Server will track allocations anyway\n🚀")) == 0);
    release(l, &c);
}
END_TEST

int main(void) {
    Suite *s = suite_create("ledger");
    TCase *t = tcase_create("core");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, seed_trace_buffers_in_dump_then_perfect_cleanup);
    tcase_add_test(t, hex_revisions_print_hex_ids_but_decimal_invalid_type);
    tcase_add_test(t, duplicate_alloc_raises_ref_count_keeps_first_and_totals);
    tcase_add_test(t, unknown_free_changes_nothing);
    tcase_add_test(t, dead_pid_buffers_removed_at_dump);
    tcase_add_test(t, query_reply_holds_counters);
    tcase_add_test(t, unknown_types_per_revision);
    tcase_add_test(t, v144_validation_lines);
    tcase_add_test(t, more_than_ten_buffers_prints_summary_only);
    tcase_add_test(t, number_formatting_matches_iostream);
    tcase_add_test(t, cb_free_underflows_like_the_server);
    tcase_add_test(t, dump_kernels_report);
    tcase_add_test(t, statistics_block);
    tcase_add_test(t, registry_matches_reference_model_under_random_ops);
    tcase_add_test(t, planted_faults_change_behaviour);
    tcase_add_test(t, startup_lines_per_revision);
    suite_add_tcase(s, t);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
