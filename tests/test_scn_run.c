/* Unit tests for sim/scn_run.c: the interpreter. Known answers come from
 * tt-memory-model.md (the seed story's TRACE buffers of 12 503 040 bytes at 1 043 741 824 in
 * T3K device order 4, 0, 3, 7, 6, 2, 1, 5; first DRAM address 32, or 2 560 032 with the
 * profiler; kernel binaries allocated twice and freed once, top-down; a second trace at
 * 1 044 784 256) and protocol.md (dump lines, dead-process cleanup). */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "dumpview.h"
#include "mem.h"
#include "scn.h"
#include "scn_run.h"
#include "timeline.h"

#define TRACE_ADDR 1043741824u /* 2^30 - 30 000 000 */

static scn_script *parse(const char *text) {
    char err[512];
    scn_script *s = NULL;
    ck_assert_msg(scn_parse(text, strlen(text), "t.scn", &s, err, sizeof err) == 0, "%s", err);
    return s;
}

static void run_ok(const char *text, const scn_run_opts *o, plan *p, scn_run_info *info) {
    scn_script *s = parse(text);
    char err[768];
    int rc = scn_run(s, o, p, info, err, sizeof err);
    ck_assert_msg(rc == SCN_RUN_OK, "run failed (%d): %s", rc, err);
    scn_script_free(s);
}

static int run_err(const char *text, const scn_run_opts *o, char *err, size_t errlen) {
    scn_script *s = parse(text);
    plan p;
    int rc = scn_run(s, o, &p, NULL, err, errlen);
    ck_assert_int_ne(rc, SCN_RUN_OK);
    ck_assert_ptr_null(p.steps); /* released on failure */
    scn_script_free(s);
    return rc;
}

/* The SEND steps of one message type, in plan order. */
static size_t sends(const plan *p, uint8_t type, const plan_step **out, size_t max) {
    size_t n = 0;
    for (size_t i = 0; i < p->nsteps; i++)
        if (p->steps[i].kind == PLAN_SEND && p->steps[i].msg.type == type) {
            if (n < max)
                out[n] = &p->steps[i];
            n++;
        }
    return n;
}

static const char *seed_story = "mesh t3k trace_region_size=30000000\n"
                                "process llama\n"
                                "  open\n"
                                "  alloc weights DRAM 2GiB page=2048\n"
                                "  program decode_layer binary=120KiB\n"
                                "  trace begin 0\n"
                                "  trace end 0 size=12503040\n"
                                "  decode 128 steps trace=0 step=10ms\n"
                                "  dump\n"
                                "  expect dump TRACE on all: 1 buffer, 12503040 bytes at 0x3e363c80\n"
                                "  close\n"
                                "  dump\n"
                                "  expect dump TRACE on all: none\n";

START_TEST(seed_story_trace_buffers_match_the_real_log) {
    plan p;
    scn_run_info info;
    scn_run_opts o;
    scn_run_opts_init(&o);
    run_ok(seed_story, &o, &p, &info);
    const plan_step *a[128];
    size_t na = sends(&p, PROTO_ALLOC, a, 128);
    /* weights x8, binary x8, view x8, trace x8 */
    ck_assert_uint_eq(na, 32);
    static const int32_t order[8] = {4, 0, 3, 7, 6, 2, 1, 5};
    for (int i = 0; i < 8; i++) {
        ck_assert_int_eq(a[i]->msg.device_id, order[i]);
        ck_assert_uint_eq(a[i]->msg.buffer_id, 32); /* first DRAM buffer: dram_unreserved_base */
        ck_assert_uint_eq(a[i]->msg.size, 2147483648u);
        const proto_msg *t = &a[24 + i]->msg;
        ck_assert_int_eq(t->device_id, order[i]);
        ck_assert_uint_eq(t->size, 12503040);
        ck_assert_uint_eq(t->buffer_type, PROTO_BUF_TRACE);
        ck_assert_uint_eq(t->buffer_id, TRACE_ADDR);
        ck_assert_int_eq(t->process_id, p.sim_pid[0]);
    }
    /* Kernel binary: top-down from the top of the DRAM region (= the TRACE region start):
     * 120 KiB in 2048-byte pages = 60 pages, ceil(60 / 12) = 5 pages = 10 240 bytes per bank. */
    for (int i = 8; i < 24; i++) {
        ck_assert_uint_eq(a[i]->msg.buffer_id, TRACE_ADDR - 10240);
        ck_assert_uint_eq(a[i]->msg.size, 122880);
    }
    const plan_step *f[128];
    size_t nf = sends(&p, PROTO_FREE, f, 128);
    ck_assert_uint_eq(nf, 8 /* view */ + 24 /* close: weights, binary, trace */);
    ck_assert_uint_eq(f[0]->msg.buffer_id, TRACE_ADDR - 10240);
    ck_assert_uint_eq(f[0]->msg.size, 0);       /* FREE carries only device and address */
    ck_assert_uint_eq(f[0]->msg.buffer_type, 0);
    ck_assert_uint_eq(f[8]->msg.buffer_id, 32);  /* close frees in allocation order */
    ck_assert_uint_eq(f[16]->msg.buffer_id, TRACE_ADDR - 10240);
    ck_assert_uint_eq(f[24]->msg.buffer_id, TRACE_ADDR);
    ck_assert_int_eq(f[24]->msg.device_id, 4);
    ck_assert_uint_eq(p.ndumps, 2);
    char line[128];
    snprintf(line, sizeof line, "    - Buffer 0x3e363c80: 12210 KB (PID %" PRId32 ", ref_count=1)\n", p.sim_pid[0]);
    const char *d1 = sbuf_str(&p.dumps[0].expected);
    ck_assert_ptr_nonnull(strstr(d1, "Device 4:\n"));
    ck_assert_ptr_nonnull(strstr(d1, "  TRACE: 1 buffers, 11.9238 MB total\n"));
    ck_assert_ptr_nonnull(strstr(d1, line));
    ck_assert_ptr_nonnull(strstr(d1, "Total tracked allocations: 24\n"));
    ck_assert_ptr_nonnull(strstr(sbuf_str(&p.dumps[1].expected), "✓ No buffers remaining - perfect cleanup!\n"));
    ck_assert_uint_eq(p.dumps[0].nexpects, 1);
    ck_assert_uint_eq(p.dumps[0].expects[0].ndevices, 8);
    ck_assert_uint_eq(p.frames, 32 + 32 + 2);
    /* 1 us per statement; decode takes 128 x 10 ms. */
    ck_assert_uint_eq(info.end_vtime_ns, 128u * 10000000u + 8u * SCN_RUN_OP_NS);
    /* The plan's own expectations hold against its expected dumps. */
    for (size_t i = 0; i < p.ndumps; i++) {
        dumpview v;
        char err[256];
        ck_assert_int_eq(dumpview_parse_text(sbuf_str(&p.dumps[i].expected), p.dumps[i].expected.len, &v, err, sizeof err), 0);
        sbuf why = SBUF_INIT;
        ck_assert_int_eq(scn_expect_eval(&p.dumps[i].expects[0], &v, scn_run_pid_name, &p, &v, scn_run_pid_name, &p, &why), 1);
        sbuf_release(&why);
        dumpview_release(&v);
    }
    plan_release(&p);
    scn_run_info_release(&info);
}
END_TEST

START_TEST(profiler_build_moves_the_first_dram_buffer) {
    plan p;
    run_ok("mesh n150 profiler=on\nprocess a\n  open\n  alloc w DRAM 4KiB\n", NULL, &p, NULL);
    const plan_step *a[4];
    ck_assert_uint_eq(sends(&p, PROTO_ALLOC, a, 4), 1);
    ck_assert_uint_eq(a[0]->msg.buffer_id, 2560032); /* 32 + 64 000 x 5 x 8 */
    plan_release(&p);
    run_ok("mesh p150\nprocess a\n  open\n  alloc w DRAM 4KiB\n", NULL, &p, NULL);
    ck_assert_uint_eq(sends(&p, PROTO_ALLOC, a, 4), 1);
    ck_assert_uint_eq(a[0]->msg.buffer_id, 64); /* Blackhole: DRAM alignment 64 */
    plan_release(&p);
}
END_TEST

START_TEST(second_trace_follows_the_first_and_the_budget_holds) {
    plan p;
    scn_run_info info;
    run_ok("mesh t3k trace_region_size=30000000\n"
           "process a\n"
           "  open\n"
           "  trace begin 0\n"
           "  trace end 0 size=12503040\n"
           "  trace begin 1\n"
           "  trace end 1 size=12503040\n"
           "  trace begin 2\n"
           "  expect error out of memory: TRACE budget\n"
           "  trace end 2 size=12503040\n"
           "  trace release 0\n"
           "  trace begin 3\n"
           "  trace end 3 size=1000\n",
           NULL, &p, &info);
    const plan_step *a[64];
    ck_assert_uint_eq(sends(&p, PROTO_ALLOC, a, 64), 24);
    ck_assert_uint_eq(a[8]->msg.buffer_id, 1044784256u); /* tt-memory-model.md §5 item 5 */
    /* After releasing trace 0 its range is free again: 1000 bytes -> a 1024-byte page (ties go
     * to the larger page only when the waste is equal; here 1024 x 12 wastes least). */
    ck_assert_uint_eq(a[16]->msg.buffer_id, TRACE_ADDR);
    ck_assert_uint_eq(a[16]->msg.size, 1024);
    ck_assert_uint_eq(info.ncaught, 1);
    ck_assert_int_eq(info.caught[0].line, 10);
    ck_assert_ptr_nonnull(strstr(info.caught[0].message, "t.scn:10:3: out of memory: TRACE budget of mesh t3k"));
    plan_release(&p);
    scn_run_info_release(&info);
}
END_TEST

START_TEST(out_of_memory_names_devices_region_request_and_largest_block) {
    char err[768];
    /* An empty DRAM region of 2^30 - 32 bytes per bank (no trace region); 16 GiB in 32-byte
     * pages needs ceil(2^29 / 12) x 32 = 1 431 655 776 bytes per bank. */
    run_err("mesh t3k\nprocess a\n  open\n  alloc big DRAM 16GiB page=32\n", NULL, err, sizeof err);
    ck_assert_str_eq(err, "t.scn:4:3: out of memory: DRAM on devices 0-7: request 17179869184 bytes (per bank "
                          "1431655776), largest free block 1073741792");
    run_err("mesh t3k\nprocess a\n  open\n  alloc x L1 1MiB on devs 0,2,5..6\n  alloc big L1 80MiB on devs 0,2,5..6\n",
            NULL, err, sizeof err);
    ck_assert_ptr_nonnull(strstr(err, "t.scn:5:3: out of memory: L1 on devices 0,2,5-6: request 83886080 bytes"));
    run_err("mesh t3k\nprocess a\n  open\n  trace begin 0\n  trace end 0 size=1MiB\n", NULL, err, sizeof err);
    ck_assert_ptr_nonnull(strstr(err, "t.scn:5:3: out of memory: TRACE on devices 0-7: request 1048576 bytes, but mesh "
                                      "t3k has no TRACE region (trace_region_size = 0)"));
}
END_TEST

START_TEST(program_cache_loads_once_and_clear_frees) {
    plan p;
    run_ok("mesh n300\n"
           "process a\n"
           "  open\n"
           "  repeat 3 {\n"
           "    program matmul binary=64KiB,32KiB\n"
           "  }\n"
           "  dump\n"
           "  expect dump DRAM on all: 1 buffer, 64KiB at 0x3fffc000\n"
           "  clear program cache\n"
           "  program matmul binary=64KiB\n"
           "  dump\n"
           "  expect dump DRAM on all: 1 buffer\n",
           NULL, &p, NULL);
    const plan_step *a[64], *f[64];
    /* Load 1: S_max + two views = 3 ALLOCs per device, two FREEs (one per view). Then the
     * clear frees the binary; load 2: S_max + one view. n300 = 2 devices. */
    ck_assert_uint_eq(sends(&p, PROTO_ALLOC, a, 64), 2 * 3 + 2 * 2);
    ck_assert_uint_eq(sends(&p, PROTO_FREE, f, 64), 2 * 2 + 2 + 2);
    /* 64 KiB = 32 pages of 2048, ceil(32 / 12) = 3 pages = 6144 bytes per bank, top-down from
     * 2^30: 1073735680 = 0x3fffe800. */
    ck_assert_uint_eq(a[0]->msg.buffer_id, 1073741824u - 6144u);
    ck_assert_uint_eq(a[2]->msg.size, 65536);
    ck_assert_uint_eq(a[4]->msg.size, 32768);
    ck_assert_uint_eq(a[6]->msg.buffer_id, a[0]->msg.buffer_id); /* same address after the clear */
    const char *d = sbuf_str(&p.dumps[0].expected);
    ck_assert_ptr_nonnull(strstr(d, "    - Buffer 0x3fffe800: 64 KB (PID"));
    ck_assert_ptr_nonnull(strstr(d, "ref_count=1)"));
    /* The scenario's `at 0x3fffc000` is wrong on purpose: the evaluation must say so. */
    dumpview v;
    char err[256];
    ck_assert_int_eq(dumpview_parse_text(d, p.dumps[0].expected.len, &v, err, sizeof err), 0);
    sbuf why = SBUF_INIT;
    ck_assert_int_eq(scn_expect_eval(&p.dumps[0].expects[0], &v, scn_run_pid_name, &p, NULL, NULL, NULL, &why), 0);
    ck_assert_str_eq(sbuf_str(&why), "device 0: expected a DRAM buffer at 0x3fffc000, found none");
    sbuf_release(&why);
    dumpview_release(&v);
    plan_release(&p);
}
END_TEST

START_TEST(processes_interleave_by_time_then_declaration_order) {
    plan p;
    run_ok("mesh n150\n"
           "process a\n"
           "  open\n"
           "  alloc x DRAM 1MiB\n"
           "  wait 10us\n"
           "  alloc y DRAM 1MiB\n"
           "process b\n"
           "  open\n"
           "  alloc x DRAM 1MiB\n"
           "  alloc y DRAM 1MiB\n"
           "  dump\n"
           "  expect dump has a.x ref_count=2 owner=a\n"
           "  expect dump has y ref_count=1 owner=b\n",
           NULL, &p, NULL);
    const plan_step *a[8];
    ck_assert_uint_eq(sends(&p, PROTO_ALLOC, a, 8), 4);
    /* t=1us: a.x then b.x (same time, a declared first); t=2us: b.y; a waits 10us from t=2us,
     * so a.y comes at t=12us. */
    ck_assert_int_eq(a[0]->proc, 0);
    ck_assert_int_eq(a[1]->proc, 1);
    ck_assert_int_eq(a[2]->proc, 1);
    ck_assert_int_eq(a[3]->proc, 0);
    ck_assert_uint_eq(a[0]->vtime_ns, 1000);
    ck_assert_uint_eq(a[1]->vtime_ns, 1000);
    ck_assert_uint_eq(a[2]->vtime_ns, 2000);
    ck_assert_uint_eq(a[3]->vtime_ns, 12000);
    /* Each process has its own allocator: the same address, so the server counts 2 refs. */
    ck_assert_uint_eq(a[0]->msg.buffer_id, a[1]->msg.buffer_id);
    dumpview v;
    char err[256];
    ck_assert_int_eq(dumpview_parse_text(sbuf_str(&p.dumps[0].expected), p.dumps[0].expected.len, &v, err, sizeof err), 0);
    sbuf why = SBUF_INIT;
    for (size_t k = 0; k < 2; k++)
        ck_assert_msg(scn_expect_eval(&p.dumps[0].expects[k], &v, scn_run_pid_name, &p, NULL, NULL, NULL, &why) == 1, "%s",
                      sbuf_str(&why));
    sbuf_release(&why);
    dumpview_release(&v);
    ck_assert_int_ne(p.sim_pid[0], p.sim_pid[1]);
    plan_release(&p);
}
END_TEST

START_TEST(crashed_process_is_cleaned_at_the_next_dump) {
    plan p;
    run_ok("mesh t3k\n"
           "process worker\n"
           "  open\n"
           "  alloc kv DRAM 64MiB\n"
           "  crash\n"
           "process monitor\n"
           "  wait 1ms\n"
           "  dump\n"
           "  expect dump cleaned worker: 8 buffers\n"
           "  expect dump perfect\n",
           NULL, &p, NULL);
    int crash = 0;
    for (size_t i = 0; i < p.nsteps; i++)
        crash += p.steps[i].kind == PLAN_CRASH && p.steps[i].proc == 0;
    ck_assert_int_eq(crash, 1);
    char want[160];
    snprintf(want, sizeof want, "   PID %" PRId32 " is dead, removing its buffers...\n   ✓ Removed 8 buffers (512 MB) from PID %" PRId32 "\n",
             p.sim_pid[0], p.sim_pid[0]);
    ck_assert_ptr_nonnull(strstr(sbuf_str(&p.dumps[0].expected), want));
    ck_assert_ptr_nonnull(strstr(sbuf_str(&p.dumps[0].expected), "⚠️  Detected dead processes, cleaning up orphaned buffers...\n"));
    plan_release(&p);
}
END_TEST

START_TEST(same_seed_same_digest_different_seed_or_protocol_differs) {
    const char *text = "mesh n300\nprocess a\n  open\n  alloc x DRAM 1MiB..8MiB\n  free x\n  alloc x L1 1KiB..64KiB\n";
    scn_run_opts o;
    scn_run_opts_init(&o);
    o.has_seed = 1;
    o.seed = 7;
    plan p1, p2, p3, p4;
    run_ok(text, &o, &p1, NULL);
    run_ok(text, &o, &p2, NULL);
    ck_assert_uint_eq(p1.digest, p2.digest);
    ck_assert_uint_eq(p1.nsteps, p2.nsteps);
    for (size_t i = 0; i < p1.nsteps; i++)
        ck_assert_uint_eq(p1.steps[i].msg.size, p2.steps[i].msg.size);
    const plan_step *a[8];
    ck_assert_uint_eq(sends(&p1, PROTO_ALLOC, a, 8), 4);
    ck_assert(a[0]->msg.size >= (1u << 20) && a[0]->msg.size <= (8u << 20));
    ck_assert(a[2]->msg.size >= 1024 && a[2]->msg.size <= 65536);
    o.seed = 8;
    run_ok(text, &o, &p3, NULL);
    ck_assert_uint_ne(p1.digest, p3.digest);
    o.seed = 7;
    o.has_rev = 1;
    o.rev = PROTO_V144;
    run_ok(text, &o, &p4, NULL);
    ck_assert_uint_ne(p1.digest, p4.digest);
    /* Without steps, frames and digest are the same. */
    plan p5;
    o.has_rev = 0;
    o.keep_steps = 0;
    run_ok(text, &o, &p5, NULL);
    ck_assert_uint_eq(p5.digest, p1.digest);
    ck_assert_uint_eq(p5.frames, p1.frames);
    ck_assert_uint_eq(p5.nsteps, 0);
    plan_release(&p1);
    plan_release(&p2);
    plan_release(&p3);
    plan_release(&p4);
    plan_release(&p5);
}
END_TEST

START_TEST(scenario_errors_are_located_and_explained) {
    char err[768];
    ck_assert_int_eq(run_err("mesh n150\nprocess a\n  open\n  alloc x DRAM 1MiB\n  free x\n  free x\n", NULL, err, sizeof err),
                     SCN_RUN_ERROR);
    ck_assert_str_eq(err, "t.scn:6:3: expected buffer x to be allocated, found it already freed (or its mesh closed)");
    run_err("mesh n150\nprocess a\n  open\n  open\n", NULL, err, sizeof err);
    ck_assert_str_eq(err, "t.scn:4:3: expected no open mesh, found mesh n150 open (close it first)");
    run_err("mesh n150\nprocess a\n  alloc x DRAM 1MiB\n", NULL, err, sizeof err);
    ck_assert_str_eq(err, "t.scn:3:3: expected an open mesh for alloc, found none (open one first)");
    run_err("mesh n150 trace_region_size=1MiB\nprocess a\n  open\n  trace begin t\n  program p binary=1KiB\n", NULL, err, sizeof err);
    ck_assert_ptr_nonnull(strstr(err, "t.scn:5:3: expected kernel binaries of program p to be loaded before trace capture"));
    run_err("mesh galaxy\nprocess a\n  open\n", NULL, err, sizeof err);
    ck_assert_str_eq(err, "t.scn:3:3: expected device ids below 8 (protocol v72), found mesh galaxy with device 8 "
                          "(use protocol v144-256)");
    run_err("mesh n300\nprocess a\n  open\n  alloc x DRAM 1MiB on dev 5\n", NULL, err, sizeof err);
    ck_assert_str_eq(err, "t.scn:4:3: expected a device of mesh n300 (0..1), found device 5");
    run_err("process a\n  dump\nprocess b\n  expect dump total 0\n", NULL, err, sizeof err);
    ck_assert_str_eq(err, "t.scn:4:3: expected a dump earlier in process b, found none");
    ck_assert_int_eq(run_err("mesh n150\nprocess a\n  open\n  expect error out of memory\n  alloc x DRAM 1MiB\n", NULL, err,
                             sizeof err),
                     SCN_RUN_FAILED);
    ck_assert_str_eq(err, "t.scn:5:3: expected an error containing 'out of memory' (expect error, line 4), found success");
}
END_TEST

START_TEST(raw_frames_and_queries_reach_the_ledger) {
    plan p;
    run_ok("mesh n300\n"
           "process a\n"
           "  send alloc dev 1 size=100 type=SYSTEM_MEMORY id=0x40\n"
           "  send free dev 1 id=0x999\n"
           "  query\n"
           "  query dev 1\n",
           NULL, &p, NULL);
    const plan_step *q[8];
    ck_assert_uint_eq(sends(&p, PROTO_QUERY, q, 8), 3);
    ck_assert_int_eq(q[0]->msg.device_id, 0); /* n300 order 0, 1 */
    ck_assert_int_eq(q[2]->has_reply, 1);
    ck_assert_uint_eq(q[2]->reply.l1_small_allocated, 100); /* SYSTEM_MEMORY counts as l1_small */
    ck_assert_uint_eq(q[0]->reply.l1_small_allocated, 0);
    plan_release(&p);
}
END_TEST

START_TEST(timeline_follows_the_server_view) {
    plan p;
    scn_run_opts o;
    scn_run_opts_init(&o);
    o.timeline = timeline_new();
    run_ok(seed_story, &o, &p, NULL);
    timeline *t = o.timeline;
    ck_assert_uint_eq(t->ncaps, 8);
    /* DRAM capacity: (2^30 - 32 - 30 000 000) x 12 banks; TRACE: 30 000 000 x 12. */
    ck_assert_uint_eq(t->caps[0].bytes[TIMELINE_DRAM], (1073741824u - 32u - 30000000u) * 12ull);
    ck_assert_uint_eq(t->caps[0].bytes[TIMELINE_TRACE], 360000000u);
    ck_assert_uint_eq(t->caps[0].bytes[TIMELINE_L1], (1499136u - 101152u) * 56ull);
    int trace_up = 0, trace_down = 0;
    for (size_t i = 0; i < t->nrows; i++) {
        if (t->rows[i].device != 4)
            continue;
        trace_up |= t->rows[i].bytes[TIMELINE_TRACE] == 12503040;
        trace_down |= trace_up && t->rows[i].bytes[TIMELINE_TRACE] == 0;
    }
    ck_assert(trace_up && trace_down);
    static const char *phases[] = {"trace_begin", "trace_end", "decode", "dump", "close", "dump"};
    ck_assert_uint_eq(t->nphases, 6);
    for (int i = 0; i < 6; i++)
        ck_assert_str_eq(t->phases[i].label, phases[i]);
    ck_assert_ptr_nonnull(strstr(t->title, "t.scn, seed 0, protocol v72"));
    timeline_free(t);
    plan_release(&p);
}
END_TEST

START_TEST(host_allocation_failures_stop_cleanly) {
    scn_script *s = parse(seed_story);
    int ok = 0;
    for (long k = 0; k < 2000 && !ok; k += 3) {
        plan p;
        scn_run_info info;
        char err[768];
        scn_run_opts o;
        scn_run_opts_init(&o);
        o.timeline = timeline_new();
        mem_fail_after(k);
        int rc = o.timeline ? scn_run(s, &o, &p, &info, err, sizeof err) : SCN_RUN_ERROR;
        mem_fail_after(-1);
        timeline_free(o.timeline);
        if (rc == SCN_RUN_OK) {
            ok = 1;
            plan_release(&p);
            scn_run_info_release(&info);
        } else if (o.timeline) {
            ck_assert_int_eq(rc, SCN_RUN_ERROR);
            ck_assert_msg(strstr(err, "out of memory") != NULL, "k=%ld: %s", k, err);
        }
    }
    ck_assert_int_eq(ok, 1);
    scn_script_free(s);
}
END_TEST

/* The digest is XXH3-64 over every frame in order: recompute it from the plan's messages
 * with proto_encode (the interpreter encodes mesh fan-outs once and patches device ids). */
START_TEST(digest_is_xxh3_of_every_encoded_frame) {
    for (int rev = 0; rev < PROTO_REV_COUNT; rev++) {
        scn_run_opts o;
        scn_run_opts_init(&o);
        o.has_rev = 1;
        o.rev = (proto_rev)rev;
        plan p;
        run_ok(seed_story, &o, &p, NULL);
        size_t fs = proto_rev_get((proto_rev)rev)->frame_size;
        uint8_t *all = malloc(fs * p.frames);
        size_t n = 0;
        for (size_t i = 0; i < p.nsteps; i++)
            if (p.steps[i].kind == PLAN_SEND || p.steps[i].kind == PLAN_DUMP)
                n += proto_encode((proto_rev)rev, &p.steps[i].msg, all + n);
        ck_assert_uint_eq(n, fs * p.frames);
        ck_assert_uint_eq(XXH3_64bits(all, n), p.digest);
        free(all);
        plan_release(&p);
    }
}
END_TEST

int main(void) {
    Suite *s = suite_create("scn_run");
    TCase *t = tcase_create("core");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, seed_story_trace_buffers_match_the_real_log);
    tcase_add_test(t, profiler_build_moves_the_first_dram_buffer);
    tcase_add_test(t, second_trace_follows_the_first_and_the_budget_holds);
    tcase_add_test(t, out_of_memory_names_devices_region_request_and_largest_block);
    tcase_add_test(t, program_cache_loads_once_and_clear_frees);
    tcase_add_test(t, processes_interleave_by_time_then_declaration_order);
    tcase_add_test(t, crashed_process_is_cleaned_at_the_next_dump);
    tcase_add_test(t, same_seed_same_digest_different_seed_or_protocol_differs);
    tcase_add_test(t, scenario_errors_are_located_and_explained);
    tcase_add_test(t, raw_frames_and_queries_reach_the_ledger);
    tcase_add_test(t, timeline_follows_the_server_view);
    tcase_add_test(t, host_allocation_failures_stop_cleanly);
    tcase_add_test(t, digest_is_xxh3_of_every_encoded_frame);
    suite_add_tcase(s, t);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
