/* test_dialect: the enhanced server's dialect and the reference server's device presets.
 *
 * Known answers written from the specification's text, not from our output:
 * tracking-stories.md §3 (allocation_server_enhanced: reuse with a different size, ALREADY
 * FREED with the last five events, never-tracked frees, dumps with history lines and without
 * request/completion lines, the DOUBLE-FREED report, KB-only statistics, its banner) and
 * protocol.md §3.4, §5.4 (detection banners and DEVICE_INFO replies on a machine with chips;
 * the sizes computed by hand from tt-memory-model.md §3). The ledger is tested directly; the
 * server binary is tested for its flags, its banner and the DEVICE_INFO bytes.
 */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dumpview.h"
#include "ledger.h"
#include "proto.h"
#include "sbuf.h"
#include "scn.h"
#include "scn_run.h"
#include "srvline.h"
#include "testutil.h"

#define EQ2 "\xE2\x95\x90\xE2\x95\x90"
#define EQ10 EQ2 EQ2 EQ2 EQ2 EQ2
#define EQ62 EQ10 EQ10 EQ10 EQ10 EQ10 EQ10 EQ2
#define TOP "\xE2\x95\x94" EQ62 "\xE2\x95\x97\n"
#define BOTTOM "\xE2\x95\x9A" EQ62 "\xE2\x95\x9D\n"
#define DF_HEADER "\n" TOP "║           DOUBLE-FREED BUFFERS                              ║\n" BOTTOM "\n"
#define DUMP_HEAD "\n" TOP "║           REMAINING ALLOCATED BUFFERS                       ║\n" BOTTOM

typedef struct {
    sbuf out, err;
} capture;

static void emit(void *ctx, ledger_stream s, const char *line, size_t len) {
    capture *c = ctx;
    sbuf *b = s == LEDGER_STDOUT ? &c->out : &c->err;
    sbuf_append(b, line, len);
    sbuf_putc(b, '\n');
}

static ledger *make(proto_rev rev, ledger_dialect d, const dev_config *devs, capture *c) {
    memset(c, 0, sizeof *c);
    ledger_config cfg = {.rev = rev, .emit = emit, .emit_ctx = c, .dialect = d, .devices = devs};
    ledger *l = ledger_new(&cfg);
    ck_assert_ptr_nonnull(l);
    return l;
}

static void release(ledger *l, capture *c) {
    ledger_free(l);
    sbuf_release(&c->out);
    sbuf_release(&c->err);
}

static int send_msg(ledger *l, uint8_t type, int32_t dev, uint64_t size, uint8_t btype, int32_t pid,
                    uint64_t id, proto_msg *reply) {
    proto_msg m;
    memset(&m, 0, sizeof m);
    m.type = type;
    m.device_id = dev;
    m.size = size;
    m.buffer_type = btype;
    m.process_id = pid;
    m.buffer_id = id;
    return ledger_apply(l, &m, reply);
}

/* Returns what was printed on stdout since the last call and forgets it. */
static char *take(capture *c) {
    char *s = strdup(sbuf_str(&c->out));
    sbuf_reset(&c->out);
    return s;
}

static void expect_out(capture *c, const char *want) {
    char *got = take(c);
    ck_assert_str_eq(got, want);
    free(got);
}

/* ---- the enhanced dialect ------------------------------------------------------------------ */

START_TEST(enhanced_lines_of_a_double_free_story) {
    capture c;
    ledger *l = make(PROTO_V72, LEDGER_DIALECT_ENHANCED, NULL, &c);
    ledger_print_startup(l, "/tmp/tt_allocation_server.sock");
    expect_out(&c, "🚀 Enhanced Allocation Server started (with history tracking)\n"
                   "   Listening on: /tmp/tt_allocation_server.sock\n");
    /* S7: heavy reuse of 694960736 (0x296c4260) with changing sizes */
    send_msg(l, PROTO_ALLOC, 4, 512, PROTO_BUF_L1, 100, 694960736, NULL);
    expect_out(&c, "✓ [PID 100] Allocated 512 bytes of L1 on device 4 (buffer_id=0x296c4260)\n");
    send_msg(l, PROTO_ALLOC, 4, 8192, PROTO_BUF_L1, 100, 694960736, NULL);
    expect_out(&c, "⚠ [PID 100] Buffer reused with DIFFERENT size: old=512 new=8192 "
                   "(buffer_id=694960736, device=4)\n"
                   "✓ [PID 100] Allocated 8192 bytes of L1 on device 4 (buffer_id=0x296c4260, ref_count=2)\n");
    send_msg(l, PROTO_FREE, 4, 0, 0, 100, 694960736, NULL);
    /* the size was replaced: the free line names the new size */
    expect_out(&c, "✗ [PID 100] Freed buffer 0x296c4260 on device 4 (8192 bytes, ref_count=1 remaining)\n");
    send_msg(l, PROTO_FREE, 4, 0, 0, 100, 694960736, NULL);
    expect_out(&c, "✗ [PID 100] Freed buffer 0x296c4260 on device 4 (8192 bytes, FINAL)\n");
    send_msg(l, PROTO_FREE, 4, 0, 0, 101, 694960736, NULL);
    expect_out(&c, "⚠ [PID 101] Deallocation for ALREADY FREED buffer 0x296c4260 on device 4 "
                   "(allocs=2 frees=3)\n"
                   "   Last 5 events for this buffer:\n"
                   "     FREE size=8192 pid=100 ref=0\n"
                   "     FREE size=8192 pid=100 ref=1\n"
                   "     REUSE size=8192 pid=100 ref=2\n"
                   "     ALLOC size=512 pid=100 ref=1\n");
    send_msg(l, PROTO_FREE, 1, 0, 0, 102, 0x1000, NULL);
    expect_out(&c, "⚠ [PID 102] Deallocation for unknown buffer 0x1000 on device 1 (never tracked "
                   "or allocated before server started)\n");
    send_msg(l, PROTO_DUMP_REMAINING, 0, 0, 0, 0, 0, NULL);
    expect_out(&c, DUMP_HEAD "Total tracked allocations: 0\n\n"
                   "✓ No buffers remaining - perfect cleanup!\n"
                   "\n"
                   "⚠️  However, found 2 buffers that were DOUBLE-FREED during execution!\n" DF_HEADER
                   "Buffer 0x1000 on device 1:\n"
                   "  Total allocs: 0, Total frees: 1\n"
                   "  History:\n"
                   "    FREE size=0 pid=102 ref=0\n"
                   "\n"
                   "Buffer 0x296c4260 on device 4:\n"
                   "  Total allocs: 2, Total frees: 3\n"
                   "  History:\n"
                   "    ALLOC size=512 pid=100 ref=1\n"
                   "    REUSE size=8192 pid=100 ref=2\n"
                   "    FREE size=8192 pid=100 ref=1\n"
                   "    FREE size=8192 pid=100 ref=0\n"
                   "    FREE size=0 pid=101 ref=0\n"
                   "\n");
    ledger_print_shutdown(l);
    char *s = take(&c);
    ck_assert(strncmp(s, "\n🛑 Allocation Server stopped\n" DF_HEADER "Buffer 0x1000 on device 1:\n",
                      strlen("\n🛑 Allocation Server stopped\n" DF_HEADER "Buffer 0x1000")) == 0);
    ck_assert_ptr_null(strstr(s, "cleanup thread"));
    free(s);
    /* the drift the story warns about: the counter lost 8192 after adding 512 */
    ck_assert_uint_eq(ledger_device_counters(l, 4).l1, (uint64_t)512 - 8192);
    release(l, &c);
}
END_TEST

START_TEST(enhanced_dump_lists_history_and_has_no_completion_line) {
    capture c;
    ledger *l = make(PROTO_V72, LEDGER_DIALECT_ENHANCED, NULL, &c);
    send_msg(l, PROTO_ALLOC, 0, 12288, PROTO_BUF_DRAM, 7, 1073739776, NULL);
    send_msg(l, PROTO_ALLOC, 0, 12288, PROTO_BUF_DRAM, 7, 1073739776, NULL);
    send_msg(l, PROTO_FREE, 0, 0, 0, 7, 1073739776, NULL);
    send_msg(l, PROTO_FREE, 0, 0, 0, 7, 0x5000, NULL); /* double-freed, but not reported here */
    sbuf_reset(&c.out);
    send_msg(l, PROTO_DUMP_REMAINING, 0, 0, 0, 0, 0, NULL);
    expect_out(&c, DUMP_HEAD "Total tracked allocations: 1\n\n"
                   "Device 0:\n"
                   "  DRAM: 1 buffers, 0.0117188 MB total\n"
                   "    - Buffer 0x3ffff800: 12 KB (PID 7, ref_count=1)\n"
                   "      History (allocs=2 frees=1):\n"
                   "        FREE size=12288 pid=7 ref=1\n"
                   "        REUSE size=12288 pid=7 ref=2\n"
                   "        ALLOC size=12288 pid=7 ref=1\n"
                   "\n"
                   "Total remaining buffers: 1\n\n");
    ledger_print_stats(l);
    expect_out(&c, "\n📊 Current Statistics:\n  Device 0:\n    Buffers: 1\n    DRAM: 12 KB\n"
                   "    L1: 0 KB\n    Total: 12 KB\n  Active allocations: 1\n");
    release(l, &c);
}
END_TEST

START_TEST(enhanced_keeps_last_fifty_events_and_counts_all) {
    capture c;
    ledger *l = make(PROTO_V72, LEDGER_DIALECT_ENHANCED, NULL, &c);
    for (int i = 0; i < 30; i++) {
        send_msg(l, PROTO_ALLOC, 2, 4096 + (uint64_t)i, PROTO_BUF_L1, 9, 0x40, NULL);
        send_msg(l, PROTO_FREE, 2, 0, 0, 9, 0x40, NULL);
    }
    send_msg(l, PROTO_FREE, 2, 0, 0, 9, 0x40, NULL);
    send_msg(l, PROTO_DUMP_REMAINING, 0, 0, 0, 0, 0, NULL);
    char *s = take(&c);
    ck_assert(strstr(s, "(allocs=30 frees=31)\n   Last 5 events for this buffer:\n"
                        "     FREE size=4125 pid=9 ref=0\n     ALLOC size=4125 pid=9 ref=1\n"));
    const char *h = strstr(s, "  Total allocs: 30, Total frees: 31\n  History:\n");
    ck_assert_ptr_nonnull(h);
    /* 61 events, 50 kept: the oldest kept is the FREE of round 5 (event 12) */
    ck_assert(strstr(h, "  History:\n    FREE size=4101 pid=9 ref=0\n    ALLOC size=4102 pid=9 ref=1\n"));
    size_t lines = 0;
    for (const char *p = strstr(h, "  History:\n") + 11; *p == ' ' && p[1] == ' ' && p[4] != ' ';
         p = strchr(p, '\n') + 1)
        lines++;
    ck_assert_uint_eq(lines, 50);
    free(s);
    release(l, &c);
}
END_TEST

START_TEST(enhanced_invalid_type_line) {
    capture c;
    ledger *l = make(PROTO_V72, LEDGER_DIALECT_ENHANCED, NULL, &c);
    send_msg(l, PROTO_ALLOC, 0, 64, 9, 55, 1, NULL);
    ck_assert_str_eq(sbuf_str(&c.err), "⚠ [PID 55] Invalid buffer_type 9\n");
    ck_assert_uint_eq(ledger_count(l), 0);
    release(l, &c);
}
END_TEST

/* The harness reads the enhanced server's dumps: the body ends at "Total remaining buffers"
 * or at the perfect line, history lines are part of the buffer, nothing needs a completion
 * line. */
START_TEST(enhanced_dump_text_parses) {
    const char *text = DUMP_HEAD "Total tracked allocations: 1\n\n"
                                 "Device 3:\n"
                                 "  TRACE: 1 buffers, 11.9238 MB total\n"
                                 "    - Buffer 0x3e363c80: 12210 KB (PID 44, ref_count=1)\n"
                                 "      History (allocs=1 frees=0):\n"
                                 "        ALLOC size=12503040 pid=44 ref=1\n"
                                 "\n"
                                 "Total remaining buffers: 1\n\n";
    dumpview v;
    char err[256];
    ck_assert_msg(dumpview_parse_text(text, strlen(text), &v, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(v.nbuffers, 1);
    ck_assert_uint_eq(v.buffers[0].buffer_id, 0x3e363c80u);
    ck_assert_int_eq(v.buffers[0].device_id, 3);
    ck_assert_int_eq(v.complete, 0);
    dumpview_release(&v);
    srvline s;
    const char *lines[] = {
        "      History (allocs=1 frees=0):", "        ALLOC size=12503040 pid=44 ref=1",
        "   Last 5 events for this buffer:", "     REUSE size=8 pid=1 ref=2",
        "⚠ [PID 1] Buffer reused with DIFFERENT size: old=1 new=2 (buffer_id=5, device=0)",
        "⚠ [PID 1] Deallocation for ALREADY FREED buffer 0x5 on device 0 (allocs=1 frees=2)",
        "⚠ [PID 1] Deallocation for unknown buffer 0x5 on device 0 (never tracked or allocated before server started)",
        "⚠️  However, found 3 buffers that were DOUBLE-FREED during execution!",
        "║           DOUBLE-FREED BUFFERS                              ║",
        "Buffer 0x5 on device 0:", "  Total allocs: 1, Total frees: 2", "  History:",
        "    FREE size=0 pid=1 ref=0",
        "🚀 Enhanced Allocation Server started (with history tracking)",
    };
    const srvline_kind kinds[] = {
        SRVLINE_ENH_HISTORY, SRVLINE_ENH_EVENT, SRVLINE_ENH_LAST_EVENTS, SRVLINE_ENH_EVENT,
        SRVLINE_ENH_REUSE_SIZE, SRVLINE_ENH_ALREADY_FREED, SRVLINE_ENH_FREE_UNTRACKED,
        SRVLINE_ENH_DF_FOUND, SRVLINE_ENH_DF_TITLE, SRVLINE_ENH_DF_BUFFER, SRVLINE_ENH_DF_TOTALS,
        SRVLINE_ENH_DF_HISTORY, SRVLINE_ENH_EVENT, SRVLINE_ENH_BANNER,
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        srvline_classify(lines[i], strlen(lines[i]), &s);
        ck_assert_msg(s.kind == kinds[i], "%s: kind %s", lines[i], srvline_kind_name(s.kind));
    }
    srvline_classify(lines[5], strlen(lines[5]), &s);
    ck_assert_uint_eq(s.buffer_id, 5);
    ck_assert_uint_eq(s.count, 2);
    ck_assert_int_eq(s.pid, 1);
    srvline_classify(lines[4], strlen(lines[4]), &s);
    ck_assert_uint_eq(s.size, 2);
    ck_assert_uint_eq(s.count, 1);
}
END_TEST

/* ---- the simulator in the enhanced dialect ------------------------------------------------ */

/* Two processes ALLOC the same DRAM address on one N150 chip, 1 GiB then 256 MiB
 * (protocol.md §4.2; tracking-stories.md §3): the poc keeps 1 GiB (1048576 KB, "1024 MB"),
 * the enhanced server keeps 256 MiB (262144 KB, "256 MB") and lists the history (the
 * REUSE newest first). `expect poc` / `expect enhanced` lines apply in their dialect only. */
static const char dual_scn[] = "mesh n150\n"
                               "process a\n"
                               "  open\n"
                               "  alloc w DRAM 1GiB\n"
                               "  wait 10ms\n"
                               "process b\n"
                               "  wait 1ms\n"
                               "  open\n"
                               "  alloc w DRAM 256MiB\n"
                               "  dump\n"
                               "  expect dump DRAM on dev 0: 1 buffer\n"
                               "  expect poc dump DRAM on dev 0: 1 buffer, 1GiB\n"
                               "  expect enhanced dump DRAM on dev 0: 1 buffer, 256MiB  # the last size\n";

static void run_dual(ledger_dialect d, plan *p, scn_script **s) {
    char err[512];
    ck_assert_msg(scn_parse(dual_scn, strlen(dual_scn), "dual.scn", s, err, sizeof err) == 0, "%s", err);
    scn_run_opts o;
    scn_run_opts_init(&o);
    o.dialect = d;
    ck_assert_msg(scn_run(*s, &o, p, NULL, err, sizeof err) == SCN_RUN_OK, "%s", err);
    ck_assert_uint_eq(p->ndumps, 1);
}

START_TEST(sim_dialect_sets_the_expected_dump_and_expectations) {
    for (int enh = 0; enh < 2; enh++) {
        plan p;
        scn_script *s;
        run_dual(enh ? LEDGER_DIALECT_ENHANCED : LEDGER_DIALECT_POC, &p, &s);
        const plan_dump *d = &p.dumps[0];
        const char *text = sbuf_str(&d->expected);
        if (enh) {
            ck_assert_ptr_nonnull(strstr(text, "  DRAM: 1 buffers, 256 MB total\n    - Buffer 0x"));
            ck_assert_ptr_nonnull(strstr(text, ": 262144 KB (PID "));
            ck_assert_ptr_nonnull(strstr(text, "      History (allocs=2 frees=0):\n        REUSE size=268435456 pid="));
            ck_assert_ptr_nonnull(strstr(text, "        ALLOC size=1073741824 pid="));
            ck_assert_ptr_null(strstr(text, "DUMP_REMAINING")); /* no request/completion lines */
        } else {
            ck_assert_ptr_nonnull(strstr(text, "  DRAM: 1 buffers, 1024 MB total\n"));
            ck_assert_ptr_null(strstr(text, "History"));
        }
        /* The plain expectation and the one of this dialect, in order. */
        ck_assert_uint_eq(d->nexpects, 2);
        ck_assert_str_eq(d->expects[0].text, "expect dump DRAM on dev 0: 1 buffer");
        ck_assert_str_eq(d->expects[1].text, enh ? "expect enhanced dump DRAM on dev 0: 1 buffer, 256MiB"
                                                 : "expect poc dump DRAM on dev 0: 1 buffer, 1GiB");
        ck_assert_int_eq(d->expects[1].dialect, enh ? SCN_DIALECT_ENHANCED : SCN_DIALECT_POC);
        dumpview v;
        char err[256];
        ck_assert_msg(dumpview_parse_text(text, d->expected.len, &v, err, sizeof err) == 0, "%s", err);
        for (size_t k = 0; k < d->nexpects; k++) {
            sbuf why = SBUF_INIT;
            ck_assert_msg(scn_expect_eval(&d->expects[k], &v, scn_run_pid_name, &p, &v, scn_run_pid_name, &p, &why),
                          "%s: %s", d->expects[k].text, sbuf_str(&why));
            sbuf_release(&why);
        }
        dumpview_release(&v);
        plan_release(&p);
        scn_script_free(s);
    }
}
END_TEST

START_TEST(sim_dialect_expect_syntax_errors) {
    const char *bad[] = {"process p\n  dump\n  expect poc error x\n",
                         "process p\n  dump\n  expect enhanced\n"};
    for (size_t i = 0; i < 2; i++) {
        scn_script *s = NULL;
        char err[512];
        ck_assert_int_ne(scn_parse(bad[i], strlen(bad[i]), "bad.scn", &s, err, sizeof err), 0);
        ck_assert_msg(strstr(err, "bad.scn:3:") && strstr(err, "expected dump, query or kernels after the dialect"), "%s",
                      err);
    }
}
END_TEST

/* ---- device presets ------------------------------------------------------------------------ */

START_TEST(device_banners_per_revision) {
    dev_config t3k, p300;
    ck_assert_int_eq(dev_preset("t3k", &t3k), 0);
    ck_assert_int_eq(dev_preset("p300", &p300), 0);
    capture c;
    /* Wormhole: 12 x 1 GiB DRAM = 12 GB; L1 1 499 136 x 56 = 83 951 616 B = 80 MB (integer) */
    ledger *l = make(PROTO_V112, LEDGER_DIALECT_POC, &t3k, &c);
    ledger_print_startup(l, "/s");
    char *s = take(&c);
    ck_assert(strncmp(s, "🔍 Device detection (using TT-Metal APIs):\n"
                         "   Device 0: Wormhole_B0 (12GB DRAM, 80MB L1)\n",
                      strlen("🔍 Device detection (using TT-Metal APIs):\n   Device 0: Wormhole_B0 (12GB DRAM, 80MB L1)\n")) == 0);
    ck_assert(strstr(s, "   Device 7: Wormhole_B0 (12GB DRAM, 80MB L1)\n   Total: 8 device(s) detected\n🚀 Allocation Server started\n"));
    ck_assert_ptr_null(strstr(s, "No devices"));
    free(s);
    release(l, &c);
    /* Blackhole: 8 x 4 278 190 080 = 34 225 520 640 B = 31 GB; 1 572 864 x 110 = 165 MB */
    l = make(PROTO_V144, LEDGER_DIALECT_POC, &p300, &c);
    ledger_print_startup(l, "/s");
    s = take(&c);
    ck_assert(strstr(s, "🔍 Device detection (using UMD Cluster for accurate specs):\n"
                        "DRAM size per channel: 4278190080\nNumber of DRAM channels: 8\n"
                        "L1 size per core: 1572864\nGrid size: 11x10\nArch: Blackhole\nIs remote: 0\n"
                        "   Device 0: Blackhole (31GB DRAM, 165MB L1) [Local]\n"));
    ck_assert(strstr(s, "   Device 1: Blackhole (31GB DRAM, 165MB L1) [Local]\n   Total: 2 device(s) detected\n"));
    free(s);
    release(l, &c);
    l = make(PROTO_V144_256, LEDGER_DIALECT_POC, &t3k, &c);
    ledger_print_startup(l, "/s");
    s = take(&c);
    ck_assert(strstr(s, "   Topology: 4 local chip(s), 4 remote chip(s)\n"
                        "   Device 0: Wormhole_B0 (12GB DRAM, 80MB L1) [Local PCIe]\n"));
    ck_assert(strstr(s, "   Device 4: Wormhole_B0 (12GB DRAM, 80MB L1) [Remote Ethernet]\n"));
    ck_assert(strstr(s, "   Total: 8 device(s) detected (4 local, 4 remote)\n"
                        "   Note: Remote chip specs from topology (hugepages needed for telemetry)\n"));
    free(s);
    release(l, &c);
}
END_TEST

START_TEST(device_info_replies_for_a_galaxy) {
    dev_config g;
    ck_assert_int_eq(dev_preset("galaxy", &g), 0);
    capture c;
    ledger *l = make(PROTO_V112, LEDGER_DIALECT_POC, &g, &c);
    ledger_print_startup(l, "/s");
    ck_assert(strstr(sbuf_str(&c.out), "   Warning: Found 32 devices, limiting to 8\n"));
    proto_msg r;
    ck_assert_int_eq(send_msg(l, PROTO_DEVICE_INFO_QUERY, -1, 0, 0, 1, 0, &r), LEDGER_REPLY);
    ck_assert_uint_eq(r.num_devices, 8); /* capped at MAX_DEVICES */
    ck_assert_uint_eq(r.is_available, 1);
    ck_assert_uint_eq(r.total_dram_size, 0);
    ck_assert_int_eq(send_msg(l, PROTO_DEVICE_INFO_QUERY, 7, 0, 0, 1, 0, &r), LEDGER_REPLY);
    ck_assert_uint_eq(r.type, PROTO_DEVICE_INFO_RESPONSE);
    ck_assert_int_eq(r.device_id, 7);
    ck_assert_uint_eq(r.is_available, 1);
    ck_assert_uint_eq(r.arch_type, 2);
    ck_assert_uint_eq(r.num_dram_channels, 12);
    ck_assert_uint_eq(r.dram_size_per_channel, 1073741824u);
    ck_assert_uint_eq(r.l1_size_per_core, 1499136u);
    ck_assert_uint_eq(r.total_dram_size, 12884901888ull);
    ck_assert_uint_eq(r.total_l1_size, 104939520ull); /* 1 499 136 x 70 */
    ck_assert_uint_eq(r.num_devices, 0);
    send_msg(l, PROTO_DEVICE_INFO_QUERY, 8, 0, 0, 1, 0, &r);
    ck_assert_uint_eq(r.is_available, 0);
    ck_assert_uint_eq(r.total_dram_size, 0);
    release(l, &c);
}
END_TEST

START_TEST(no_devices_stays_as_before) {
    capture c;
    ledger *l = make(PROTO_V112, LEDGER_DIALECT_POC, NULL, &c);
    ledger_print_startup(l, "/s");
    ck_assert(strstr(sbuf_str(&c.out), "🔍 Device detection (using TT-Metal APIs):\n   No devices detected\n"
                                       "   Server will track allocations anyway\n"));
    proto_msg r;
    send_msg(l, PROTO_DEVICE_INFO_QUERY, -1, 0, 0, 1, 0, &r);
    ck_assert_uint_eq(r.num_devices, 0);
    ck_assert_uint_eq(r.is_available, 0);
    release(l, &c);
}
END_TEST

/* ---- the server binary --------------------------------------------------------------------- */

static void ask_info(int fd, int32_t dev, proto_msg *r) {
    proto_msg m;
    memset(&m, 0, sizeof m);
    m.type = PROTO_DEVICE_INFO_QUERY;
    m.device_id = dev;
    uint8_t buf[PROTO_MAX_FRAME];
    size_t n = proto_encode(PROTO_V144, &m, buf);
    ck_assert_uint_eq(n, 144);
    ck_assert_int_eq(tu_send(fd, buf, n), 0);
    ck_assert_int_eq(tu_recv_exact(fd, buf, 144, TU_TIMEOUT_MS), 144);
    ck_assert_uint_eq(proto_decode(PROTO_V144, buf, 144, r), 144);
}

START_TEST(server_devices_flag_answers_device_info) {
    tu_server s;
    static const char *const extra[] = {"--devices", "n300", NULL};
    ck_assert_int_eq(tu_server_start(&s, "v144", extra), 0);
    size_t next;
    char *startup = tu_capture_until(&s.out, 0, "🔄 Background cleanup thread started (checking every 10s)", &next);
    ck_assert_ptr_nonnull(startup);
    ck_assert(strstr(startup, "Is remote: 1\n   Device 1: Wormhole_B0 (12GB DRAM, 80MB L1) [Remote]\n"
                              "   Total: 2 device(s) detected\n"));
    free(startup);
    int fd = tu_connect(s.sock);
    ck_assert_int_ge(fd, 0);
    proto_msg r;
    ask_info(fd, -1, &r);
    ck_assert_uint_eq(r.num_devices, 2);
    ck_assert_uint_eq(r.is_available, 1);
    ask_info(fd, 1, &r);
    ck_assert_uint_eq(r.is_available, 1);
    ck_assert_uint_eq(r.total_l1_size, 83951616ull);
    ck_assert_uint_eq(r.total_dram_size, 12884901888ull);
    ask_info(fd, 2, &r);
    ck_assert_uint_eq(r.is_available, 0);
    close(fd);
    ck_assert_int_eq(tu_server_stop(&s, SIGTERM), 0);
    tu_server_release(&s);
}
END_TEST

static int run_status(const char *const args[]) {
    tu_server s;
    ck_assert_int_eq(tu_server_prepare(&s), 0);
    ck_assert_int_eq(tu_server_spawn(&s, args), 0);
    int st = tu_server_wait(&s);
    tu_server_release(&s);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

START_TEST(server_rejects_bad_dialect_and_devices) {
    static const char *const a1[] = {"--dialect", "fancy", NULL};
    static const char *const a2[] = {"--devices", "n151", NULL};
    static const char *const a3[] = {"--dialect", "enhanced", "--protocol", "v144", NULL};
    static const char *const a4[] = {"--devices", "t3k", NULL}; /* v72 detects nothing */
    ck_assert_int_eq(run_status(a1), 2);
    ck_assert_int_eq(run_status(a2), 2);
    ck_assert_int_eq(run_status(a3), 2);
    ck_assert_int_eq(run_status(a4), 2);
}
END_TEST

static Suite *dialect_suite(void) {
    Suite *s = suite_create("dialect");
    TCase *tc = tcase_create("ledger");
    tcase_add_test(tc, enhanced_lines_of_a_double_free_story);
    tcase_add_test(tc, enhanced_dump_lists_history_and_has_no_completion_line);
    tcase_add_test(tc, enhanced_keeps_last_fifty_events_and_counts_all);
    tcase_add_test(tc, enhanced_invalid_type_line);
    tcase_add_test(tc, enhanced_dump_text_parses);
    tcase_add_test(tc, device_banners_per_revision);
    tcase_add_test(tc, device_info_replies_for_a_galaxy);
    tcase_add_test(tc, no_devices_stays_as_before);
    tcase_add_test(tc, sim_dialect_sets_the_expected_dump_and_expectations);
    tcase_add_test(tc, sim_dialect_expect_syntax_errors);
    suite_add_tcase(s, tc);
    tc = tcase_create("server");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, server_devices_flag_answers_device_info);
    tcase_add_test(tc, server_rejects_bad_dialect_and_devices);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    if (tu_root_init() != 0) {
        perror("mkdtemp under /tmp");
        return EXIT_FAILURE;
    }
    SRunner *sr = srunner_create(dialect_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    tu_root_cleanup();
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
