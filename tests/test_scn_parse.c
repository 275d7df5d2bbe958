/* Unit tests for sim/scn_parse.c and sim/scn_expect.c: the scenario language's grammar,
 * units, error messages (file:line:col: expected X, found Y) and robustness against any
 * bytes, plus expectation evaluation on hand-written dumps. Known answers come from
 * docs/scenarios.md and tt-memory-model.md (the seed story's numbers). */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "scn.h"

static scn_script *parse_ok(const char *text) {
    char err[512];
    scn_script *s = NULL;
    int rc = scn_parse(text, strlen(text), "t.scn", &s, err, sizeof err);
    ck_assert_msg(rc == 0, "parse failed: %s", err);
    ck_assert_ptr_nonnull(s);
    return s;
}

static void parse_err(const char *text, size_t len, const char *want) {
    char err[512];
    scn_script *s = (scn_script *)1;
    int rc = scn_parse(text, len, "t.scn", &s, err, sizeof err);
    ck_assert_msg(rc == -1, "expected a parse error for: %s", text);
    ck_assert_ptr_null(s);
    ck_assert_str_eq(err, want);
}

#define PARSE_ERR(text, want) parse_err(text, strlen(text), want)

static const char *seed_story =
    "# the seed story\n"
    "mesh t3k trace_region_size=30000000\n"
    "process llama\n"
    "  open\n"
    "  alloc weights DRAM 2GiB page=2048\n"
    "  program decode_layer binary=120KiB\n"
    "  trace begin 0\n"
    "  trace end 0 size=12503040\n"
    "  decode 128 steps trace=0\n"
    "  dump\n"
    "  expect dump TRACE on all: 1 buffer, 12503040 bytes at 0x3e363c80\n"
    "  close\n"
    "  dump\n"
    "  expect dump TRACE on all: none\n";

START_TEST(seed_story_parses_to_the_expected_tree) {
    scn_script *s = parse_ok(seed_story);
    ck_assert_int_eq(s->nmeshes, 1);
    ck_assert_str_eq(s->meshes[0].name, "t3k");
    ck_assert_uint_eq(s->meshes[0].cfg.trace_region_size, 30000000);
    ck_assert_int_eq(s->meshes[0].cfg.num_devices, 8);
    ck_assert_int_eq(s->has_rev, 0);
    ck_assert_int_eq(s->nprocs, 1);
    scn_process *p = &s->procs[0];
    ck_assert_str_eq(p->name, "llama");
    static const scn_op ops[] = {SCN_OPEN,   SCN_ALLOC,  SCN_PROGRAM, SCN_TRACE_BEGIN, SCN_TRACE_END, SCN_DECODE,
                                 SCN_DUMP,   SCN_EXPECT, SCN_CLOSE,   SCN_DUMP,        SCN_EXPECT};
    ck_assert_uint_eq(p->nstmts, sizeof ops / sizeof ops[0]);
    for (size_t i = 0; i < p->nstmts; i++)
        ck_assert_int_eq(p->stmts[i].op, ops[i]);
    scn_stmt *a = &p->stmts[1];
    ck_assert_int_eq(a->line, 5);
    ck_assert_int_eq(a->col, 3);
    ck_assert_uint_eq(a->size.lo, 2147483648u);
    ck_assert_uint_eq(a->size.hi, 2147483648u);
    ck_assert_uint_eq(a->page_size, 2048);
    ck_assert_int_eq(a->region, DEV_REGION_DRAM);
    ck_assert_int_eq(a->devs.all, 1);
    ck_assert_str_eq(p->buffers[a->slot], "weights");
    ck_assert_uint_eq(p->stmts[2].nbinaries, 1);
    ck_assert_uint_eq(p->stmts[2].binaries[0], 120 * 1024);
    ck_assert_uint_eq(p->stmts[4].size.lo, 12503040);
    ck_assert_str_eq(p->traces[p->stmts[4].slot], "0");
    ck_assert_uint_eq(p->stmts[5].count, 128);
    ck_assert_int_eq(p->stmts[5].slot, p->stmts[4].slot);
    struct scn_expect *e = p->stmts[7].expect;
    ck_assert_int_eq(e->kind, SCN_EXPECT_GROUPS);
    ck_assert_int_eq(e->type, 4);
    ck_assert_int_eq(e->devs.all, 1);
    ck_assert_int_eq(e->count, 1);
    ck_assert_int_eq(e->has_bytes, 1);
    ck_assert_uint_eq(e->bytes, 12503040);
    ck_assert_int_eq(e->has_addr, 1);
    ck_assert_uint_eq(e->addr, (1u << 30) - 30000000u); /* 1 043 741 824 */
    ck_assert_str_eq(e->text, "expect dump TRACE on all: 1 buffer, 12503040 bytes at 0x3e363c80");
    ck_assert_int_eq(p->stmts[10].expect->none, 1);
    scn_script_free(s);
}
END_TEST

START_TEST(sizes_and_times_known_answers) {
    static const struct {
        const char *text;
        uint64_t value;
    } sizes[] = {
        {"0", 0},
        {"4096", 4096},
        {"4096B", 4096},
        {"1KiB", 1024},
        {"1KB", 1000},
        {"120KiB", 122880},
        {"2GiB", 2147483648ull},
        {"1.5GiB", 1610612736ull},
        {"2.5KB", 2500},
        {"1TiB", 1099511627776ull},
        {"0x3e363c80", 1043741824},
        {"0X10", 16},
        {"30_000_000", 30000000},
        {"18446744073709551615", UINT64_MAX},
        {"16383PiB", 0}, /* unknown unit: rejected below */
    };
    char err[256];
    for (size_t i = 0; i + 1 < sizeof sizes / sizeof sizes[0]; i++) {
        uint64_t v = 1;
        ck_assert_msg(scn_parse_size(sizes[i].text, &v, err, sizeof err) == 0, "%s: %s", sizes[i].text, err);
        ck_assert_msg(v == sizes[i].value, "%s -> %" PRIu64, sizes[i].text, v);
    }
    static const char *bad_sizes[] = {"16383PiB", "18446744073709551616", "17179869184GiB", "1.3B",
                                      "0.5",      "",                     "KiB",           "1 KiB",
                                      "1KiB2",    "0x10KiB",              "-1",            "1kib"};
    for (size_t i = 0; i < sizeof bad_sizes / sizeof bad_sizes[0]; i++) {
        uint64_t v = 7;
        ck_assert_msg(scn_parse_size(bad_sizes[i], &v, err, sizeof err) == -1, "accepted %s", bad_sizes[i]);
        ck_assert_msg(strncmp(err, "expected ", 9) == 0 && strstr(err, ", found '"), "%s", err);
    }
    uint64_t t;
    ck_assert_int_eq(scn_parse_time("5ms", &t, err, sizeof err), 0);
    ck_assert_uint_eq(t, 5000000);
    ck_assert_int_eq(scn_parse_time("1.5us", &t, err, sizeof err), 0);
    ck_assert_uint_eq(t, 1500);
    ck_assert_int_eq(scn_parse_time("2s", &t, err, sizeof err), 0);
    ck_assert_uint_eq(t, 2000000000u);
    ck_assert_int_eq(scn_parse_time("7ns", &t, err, sizeof err), 0);
    ck_assert_uint_eq(t, 7);
    ck_assert_int_eq(scn_parse_time("3min", &t, err, sizeof err), -1);
    ck_assert_int_eq(scn_parse_time("1.0000000001s", &t, err, sizeof err), -1);
}
END_TEST

START_TEST(errors_name_file_line_column_expected_and_found) {
    PARSE_ERR("", "t.scn:1:1: expected a process, found end of file");
    PARSE_ERR("# only a comment\n", "t.scn:2:1: expected a process, found end of file");
    PARSE_ERR("mesh t3k\n", "t.scn:2:1: expected a process, found end of file");
    PARSE_ERR("mesh t4k\n",
              "t.scn:1:6: expected a device preset (n150, n300, t3k, galaxy, p150, p300), found 't4k'");
    PARSE_ERR("mesh t3k trace_region=1\n",
              "t.scn:1:10: expected a mesh option (trace_region_size, l1_small_size, dram_banks, dram_bank_size, "
              "dram_alignment, l1_alignment, l1_size, l1_banks, l1_unreserved_base, profiler, profiler_cores, order, "
              "devices, kernel_size, eth_cores, dispatch_cores, shm_layout, shm_per_pid, shm_region_size, shm_version_check, shm_claim, shm_idle_reset, shm_cb_update, shm_cb_rate_limit, shm_cb_era) or as NAME, found 'trace_region'");
    PARSE_ERR("mesh t3k profiler=yes\n", "t.scn:1:19: expected on or off, found 'yes'");
    PARSE_ERR("protocol v99\n",
              "t.scn:1:10: expected a protocol revision (v72, v112, v112-hex, v144, v144-256), found 'v99'");
    PARSE_ERR("process p\n  jump 3\n",
              "t.scn:2:3: expected a statement (open, alloc, free, program, clear, trace, decode, wait, query, dump, "
              "phase, expect, repeat, send, client, close, exit, crash or process), found 'jump'");
    PARSE_ERR("mesh t3k\nprocess p\n  alloc w DRAM 2XiB\n",
              "t.scn:3:16: expected a size unit B, KiB, MiB, GiB, TiB, KB, MB, GB or TB, found '2XiB'");
    PARSE_ERR("mesh t3k\nprocess p\n  alloc w DRAM 1MiB pages=4\n",
              "t.scn:3:21: expected page=SIZE, shard=N, bottom_up, top_down, on SEL or end of line, found 'pages'");
    PARSE_ERR("mesh t3k\nprocess p\n  alloc w TRACE 1MiB\n",
              "t.scn:3:11: expected a buffer type DRAM, L1 or L1_SMALL, found 'TRACE'");
    PARSE_ERR("mesh t3k\nprocess p\n  alloc w L1_SMALL 1MiB\n",
              "t.scn:3:24: expected shard=N (L1_SMALL buffers are sharded only), found end of line");
    PARSE_ERR("mesh t3k\nprocess p\n  alloc w DRAM 0\n",
              "t.scn:3:16: expected a size above 0, found 0 (zero-size buffers are never reported)");
    PARSE_ERR("process p\n  wait 99999999999999999999ms\n", "t.scn:2:8: expected a time below 2^64 ns, found '99999999999999999999ms'");
    PARSE_ERR("process p\n  wait 5\n", "t.scn:2:8: expected a time with unit ns, us, ms or s, found '5'");
    PARSE_ERR("process p\n  free w\n", "t.scn:2:8: expected a buffer allocated earlier in this process, found 'w'");
    PARSE_ERR("process p\n  trace end 0 size=1\n", "t.scn:2:13: expected a trace begun earlier in this process, found '0'");
    PARSE_ERR("process p\n  repeat 3 {\n  dump\n", "t.scn:4:1: expected '}' to close the repeat of line 2, found end of file");
    PARSE_ERR("process p\n  }\n", "t.scn:2:3: expected a statement ('}' closes nothing here), found '}'");
    PARSE_ERR("process p\n  exit\n  dump\n",
              "t.scn:3:3: expected the end of the process (nothing may follow exit or crash), found 'dump'");
    PARSE_ERR("process p\n  repeat 2 {\n    crash\n  }\n",
              "t.scn:3:5: expected a statement allowed inside repeat (exit and crash end the process), found 'crash'");
    PARSE_ERR("process p\n  expect error out of memory\n",
              "t.scn:3:1: expected a statement after the 'expect error' of line 2, found end of file");
    PARSE_ERR("process p\n  dump\n  expect dump has nothing\n",
              "t.scn:3:19: expected a buffer that process p allocates, found 'nothing'");
    PARSE_ERR("process p\n  dump\n  expect dump cleaned q\n", "t.scn:3:23: expected a process name, found 'q'");
    PARSE_ERR("process p\n  dump\n  expect dump DRAM: 5\n",
              "t.scn:3:22: expected 'buffers' or 'bytes', found end of line");
    PARSE_ERR("process p\n  dump\n  expect dump: 2GiB\n",
              "t.scn:3:20: expected a buffer type after 'expect dump' (bytes and at need one), found none");
    PARSE_ERR("process p\n  dump\n  expect dump TRACE on all: none, 1 buffer\n",
              "t.scn:3:43: expected 'none' alone, found it with other conditions");
    PARSE_ERR("process p\n  dump\n  expect dump TRACE\n", "t.scn:3:20: expected ':', found end of line");
    PARSE_ERR("process p\n  query devs 3..1\n", "t.scn:2:18: expected a range N..M with M >= N, found 3..1");
    PARSE_ERR("process p\n  query dev 256\n", "t.scn:2:13: expected a device id up to 255, found '256'");
    PARSE_ERR("process p\nprocess p\n", "t.scn:2:9: expected a new process name, found 'p'");
    PARSE_ERR("process p\nmesh t3k\n",
              "t.scn:2:1: expected a process statement (mesh, protocol and seed come before the first process), found 'mesh'");
    PARSE_ERR("process p\n  open\n", "t.scn:2:3: expected a mesh statement before the first process, found none");
    PARSE_ERR("mesh t3k dram_banks=0\nprocess p\n",
              "t.scn:1:1: expected a valid mesh configuration, found dram_banks must be at least 1");
    PARSE_ERR("process p\n  phase caf\xe9\n", "t.scn:2:12: expected UTF-8 text, found byte 0xe9");
    PARSE_ERR("process p\n  phase \xed\xa0\x80\n", "t.scn:2:9: expected UTF-8 text, found byte 0xed");
    PARSE_ERR("process p\n  dump \xc3\xa9\n", "t.scn:2:8: expected end of line or 'kernels', found '\xc3\xa9'");
    parse_err("process p\n  d\0ump\n", 16, "t.scn:2:4: expected text, found a NUL byte");
    PARSE_ERR("process p\n  dump\x01\n", "t.scn:2:7: expected end of line or 'kernels', found byte 0x01");
}
END_TEST

START_TEST(device_selections_repeat_blocks_and_expect_error) {
    scn_script *s = parse_ok("mesh galaxy\n"
                             "protocol v144-256\n"
                             "seed 42\n"
                             "process p # comment\n"
                             "  open galaxy\n"
                             "  query dev 3\n"
                             "  query on devs 0,2,5\n"
                             "  query devs 1..3, 30\n"
                             "  query devs all\r\n"
                             "  repeat 3 {\n"
                             "    alloc a L1 64KiB top_down shard=8 page=4KiB on dev 7\n"
                             "    repeat 2 {\n"
                             "      free a\n"
                             "    }\n"
                             "  }\n"
                             "  expect error out of memory   # the next statement must fail\n"
                             "  alloc big DRAM 1MiB..2MiB bottom_up\n"
                             "  wait 1ms..3ms\n"
                             "  phase warm-up done\n"
                             "  send alloc dev 300 size=0 type=SYSTEM_MEMORY id=0x10\n"
                             "  send free dev 1 id=16\n");
    ck_assert_int_eq(s->has_rev, 1);
    ck_assert_int_eq(s->rev, PROTO_V144_256);
    ck_assert_int_eq(s->has_seed, 1);
    ck_assert_uint_eq(s->seed, 42);
    scn_process *p = &s->procs[0];
    ck_assert_uint_eq(p->nstmts, 11);
    ck_assert_int_eq(p->stmts[1].devs.all, 0);
    for (int d = 0; d < DEV_MAX_DEVICES; d++) {
        ck_assert_int_eq(scn_devsel_has(&p->stmts[1].devs, d), d == 3);
        ck_assert_int_eq(scn_devsel_has(&p->stmts[2].devs, d), d == 0 || d == 2 || d == 5);
        ck_assert_int_eq(scn_devsel_has(&p->stmts[3].devs, d), (d >= 1 && d <= 3) || d == 30);
    }
    ck_assert_int_eq(p->stmts[4].devs.all, 1);
    scn_stmt *r = &p->stmts[5];
    ck_assert_int_eq(r->op, SCN_REPEAT);
    ck_assert_uint_eq(r->count, 3);
    ck_assert_uint_eq(r->nbody, 2);
    ck_assert_int_eq(r->body[0].op, SCN_ALLOC);
    ck_assert_int_eq(r->body[0].dir, SCN_DIR_TOP_DOWN);
    ck_assert_uint_eq(r->body[0].shard_cores, 8);
    ck_assert_uint_eq(r->body[0].page_size, 4096);
    ck_assert_int_eq(scn_devsel_has(&r->body[0].devs, 7), 1);
    ck_assert_int_eq(r->body[1].op, SCN_REPEAT);
    ck_assert_uint_eq(r->body[1].count, 2);
    ck_assert_int_eq(r->body[1].body[0].op, SCN_FREE);
    scn_stmt *big = &p->stmts[6];
    ck_assert_int_eq(big->op, SCN_ALLOC);
    ck_assert_str_eq(big->expect_error, "out of memory");
    ck_assert_int_eq(big->expect_error_line, 16);
    ck_assert_uint_eq(big->size.lo, 1u << 20);
    ck_assert_uint_eq(big->size.hi, 2u << 20);
    ck_assert_int_eq(big->dir, SCN_DIR_BOTTOM_UP);
    ck_assert_uint_eq(p->stmts[7].time_ns.lo, 1000000);
    ck_assert_uint_eq(p->stmts[7].time_ns.hi, 3000000);
    ck_assert_str_eq(p->stmts[8].text, "warm-up done");
    ck_assert_int_eq(p->stmts[9].send_type, PROTO_ALLOC);
    ck_assert_int_eq(p->stmts[9].send_device, 300);
    ck_assert_int_eq(p->stmts[9].send_buffer_type, PROTO_BUF_SYSTEM_MEMORY);
    ck_assert_uint_eq(p->stmts[9].send_buffer_id, 16);
    ck_assert_int_eq(p->stmts[10].send_type, PROTO_FREE);
    scn_script_free(s);
}
END_TEST

START_TEST(expectation_forms_and_cross_process_references) {
    scn_script *s = parse_ok("mesh n300 as left trace_region_size=1MiB order=1,0\n"
                             "mesh t3k\n"
                             "process a\n"
                             "  open left\n"
                             "  alloc w DRAM 1MiB\n"
                             "  dump\n"
                             "  expect dump has b.x ref_count=2 owner=a\n"
                             "  expect dump lacks w\n"
                             "  expect dump total 3 buffers\n"
                             "  expect dump perfect\n"
                             "  expect dump matches model\n"
                             "  expect dump cleaned b: 4 buffers\n"
                             "  expect dump on dev 1: 2 buffers\n"
                             "  expect dump L1_SMALL devs 0,1: 1MiB\n"
                             "process b\n"
                             "  open t3k\n"
                             "  alloc x DRAM 1MiB\n");
    ck_assert_int_eq(s->nmeshes, 2);
    ck_assert_str_eq(s->meshes[0].name, "left");
    ck_assert_int_eq(s->meshes[0].cfg.device_order[0], 1);
    ck_assert_int_eq(s->meshes[0].cfg.num_devices, 2);
    ck_assert_uint_eq(s->meshes[0].cfg.trace_region_size, 1u << 20);
    scn_process *a = &s->procs[0];
    ck_assert_int_eq(a->stmts[0].slot, 0);
    ck_assert_int_eq(s->procs[1].stmts[0].slot, 1);
    struct scn_expect *e = a->stmts[3].expect;
    ck_assert_int_eq(e->kind, SCN_EXPECT_HAS);
    ck_assert_int_eq(e->ref_proc, 1);
    ck_assert_int_eq(e->ref_slot, 0);
    ck_assert_int_eq(e->ref_count, 2);
    ck_assert_str_eq(e->process, "a");
    ck_assert_str_eq(e->buffer_name, "b.x");
    e = a->stmts[4].expect;
    ck_assert_int_eq(e->kind, SCN_EXPECT_LACKS);
    ck_assert_int_eq(e->ref_proc, 0);
    ck_assert_int_eq(a->stmts[5].expect->kind, SCN_EXPECT_TOTAL);
    ck_assert_int_eq(a->stmts[5].expect->count, 3);
    ck_assert_int_eq(a->stmts[6].expect->kind, SCN_EXPECT_PERFECT);
    ck_assert_int_eq(a->stmts[7].expect->kind, SCN_EXPECT_MODEL);
    e = a->stmts[8].expect;
    ck_assert_int_eq(e->kind, SCN_EXPECT_CLEANED);
    ck_assert_str_eq(e->process, "b");
    ck_assert_int_eq(e->count, 4);
    e = a->stmts[9].expect;
    ck_assert_int_eq(e->type, -1);
    ck_assert_int_eq(e->count, 2);
    ck_assert_int_eq(scn_devsel_has(&e->devs, 1), 1);
    e = a->stmts[10].expect;
    ck_assert_int_eq(e->type, PROTO_BUF_L1_SMALL);
    ck_assert_uint_eq(e->bytes, 1u << 20);
    scn_script_free(s);
}
END_TEST

/* Every prefix of a valid scenario, and random mutations of it, parse or fail with a located
 * message; nothing crashes or leaks (the sanitizer build checks the latter). */
START_TEST(any_bytes_never_crash) {
    size_t n = strlen(seed_story);
    char err[512];
    for (size_t cut = 0; cut <= n; cut++) {
        scn_script *s = NULL;
        int rc = scn_parse(seed_story, cut, "t.scn", &s, err, sizeof err);
        if (rc == 0)
            scn_script_free(s);
        else
            ck_assert_msg(strncmp(err, "t.scn:", 6) == 0, "%s", err);
    }
    char *buf = malloc(n + 1);
    uint64_t x = 0x9e3779b97f4a7c15u;
    static const char alphabet[] = "{}=,:.#\n \t0x1_9aZ\xff\xc3\x80";
    for (int iter = 0; iter < 3000; iter++) {
        memcpy(buf, seed_story, n);
        for (int k = 0; k < 4; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            buf[x % n] = alphabet[(x >> 32) % (sizeof alphabet - 1)];
        }
        scn_script *s = NULL;
        if (scn_parse(buf, n, "t.scn", &s, err, sizeof err) == 0)
            scn_script_free(s);
        else
            ck_assert_msg(strncmp(err, "t.scn:", 6) == 0, "%s", err);
    }
    free(buf);
}
END_TEST

START_TEST(allocation_failures_are_reported_not_crashed) {
    char err[512];
    int succeeded = 0;
    for (long k = 0; k < 400 && !succeeded; k++) {
        mem_fail_after(k);
        scn_script *s = NULL;
        int rc = scn_parse(seed_story, strlen(seed_story), "t.scn", &s, err, sizeof err);
        mem_fail_after(-1);
        if (rc == 0) {
            succeeded = 1;
            scn_script_free(s);
        } else {
            ck_assert_msg(strstr(err, "out of memory") != NULL, "k=%ld: %s", k, err);
        }
    }
    ck_assert_int_eq(succeeded, 1);
}
END_TEST

/* ---- expectations against hand-built dumps ---------------------------------------------- */

static const char *names(void *ctx, int32_t pid) {
    (void)ctx;
    return pid == 919068 ? "llama" : pid == 5 ? "worker" : NULL;
}

static struct scn_expect parse_expect(const char *line) {
    char text[512];
    snprintf(text, sizeof text, "process llama\n  alloc w DRAM 1MiB\n  dump\n  %s\nprocess worker\n", line);
    scn_script *s = parse_ok(text);
    struct scn_expect e;
    ck_assert_int_eq(scn_expect_copy(&e, s->procs[0].stmts[2].expect), 0);
    scn_script_free(s);
    return e;
}

START_TEST(expectations_evaluate_against_a_dump) {
    /* Two devices, the seed story's TRACE buffer on both; device 1 also has a DRAM buffer of
     * the dead process `worker`. Sizes as printed by the server (%g): 12503040 B = 11.9238 MB. */
    dumpview_group groups[] = {{0, 4, 1, "11.9238", 1}, {1, 0, 1, "1", 1}, {1, 4, 1, "11.9238", 1}};
    dumpview_buffer bufs[] = {{0, 4, 1043741824, "12210", 919068, 1},
                              {1, 0, 4096, "1024", 919068, 2},
                              {1, 4, 1043741824, "12210", 919068, 1}};
    dumpview_dead dead[] = {{5, 3, "0.5", 0, 0, "", ""}};
    dumpview v = {3, 0, groups, 3, bufs, 3, dead, 1, 1};
    int32_t devs01[] = {0, 1};
    sbuf why = SBUF_INIT;

    struct scn_expect e = parse_expect("expect dump TRACE on all: 1 buffer, 12503040 bytes at 0x3e363c80");
    e.devices = mem_alloc(sizeof devs01);
    memcpy(e.devices, devs01, sizeof devs01);
    e.ndevices = 2;
    ck_assert_int_eq(scn_expect_eval(&e, &v, names, NULL, NULL, NULL, NULL, &why), 1);
    e.bytes = 12503040 + 4096; /* 11.9277 MB: prints differently */
    ck_assert_int_eq(scn_expect_eval(&e, &v, names, NULL, NULL, NULL, NULL, &why), 0);
    ck_assert_str_eq(sbuf_str(&why), "device 0: expected TRACE 12507136 bytes (11.9277 MB), found 11.9238 MB");
    scn_expect_release(&e);

    sbuf_reset(&why);
    e = parse_expect("expect dump DRAM on all: none");
    e.devices = mem_alloc(sizeof devs01);
    memcpy(e.devices, devs01, sizeof devs01);
    e.ndevices = 2;
    ck_assert_int_eq(scn_expect_eval(&e, &v, names, NULL, NULL, NULL, NULL, &why), 0);
    ck_assert_str_eq(sbuf_str(&why), "device 1: expected no DRAM buffers, found 1 (1 MB)");
    scn_expect_release(&e);

    e = parse_expect("expect dump on all: 2 buffers");
    e.devices = mem_alloc(sizeof devs01);
    memcpy(e.devices, devs01, sizeof devs01);
    e.ndevices = 2;
    sbuf_reset(&why);
    ck_assert_int_eq(scn_expect_eval(&e, &v, names, NULL, NULL, NULL, NULL, &why), 0);
    ck_assert_str_eq(sbuf_str(&why), "device 0: expected 2 buffers, found 1");
    e.devices[0] = 1;
    e.ndevices = 1;
    ck_assert_int_eq(scn_expect_eval(&e, &v, names, NULL, NULL, NULL, NULL, &why), 1);
    scn_expect_release(&e);

    e = parse_expect("expect dump has w ref_count=2 owner=llama");
    e.devices = mem_alloc(sizeof(int32_t));
    e.devices[0] = 1;
    e.ndevices = 1;
    e.buffer_type = 0;
    e.buffer_id = 4096;
    ck_assert_int_eq(scn_expect_eval(&e, &v, names, NULL, NULL, NULL, NULL, &why), 1);
    e.ref_count = 1;
    sbuf_reset(&why);
    ck_assert_int_eq(scn_expect_eval(&e, &v, names, NULL, NULL, NULL, NULL, &why), 0);
    ck_assert_str_eq(sbuf_str(&why), "device 1: expected w with ref_count=1, found ref_count=2");
    e.ref_count = -1;
    ck_assert_int_eq(scn_expect_eval(&e, &v, NULL, NULL, NULL, NULL, NULL, &why), 0); /* no names: owner unknown */
    e.kind = SCN_EXPECT_LACKS;
    ck_assert_int_eq(scn_expect_eval(&e, &v, names, NULL, NULL, NULL, NULL, &why), 0);
    e.buffer_id = 8192;
    ck_assert_int_eq(scn_expect_eval(&e, &v, names, NULL, NULL, NULL, NULL, &why), 1);
    scn_expect_release(&e);

    e = parse_expect("expect dump cleaned worker: 3 buffers");
    ck_assert_int_eq(scn_expect_eval(&e, &v, names, NULL, NULL, NULL, NULL, &why), 1);
    e.count = 2;
    ck_assert_int_eq(scn_expect_eval(&e, &v, names, NULL, NULL, NULL, NULL, &why), 0);
    scn_expect_release(&e);

    e = parse_expect("expect dump total 3");
    ck_assert_int_eq(scn_expect_eval(&e, &v, names, NULL, NULL, NULL, NULL, &why), 1);
    scn_expect_release(&e);
    e = parse_expect("expect dump perfect");
    ck_assert_int_eq(scn_expect_eval(&e, &v, names, NULL, NULL, NULL, NULL, &why), 0);
    scn_expect_release(&e);
    e = parse_expect("expect dump matches model");
    ck_assert_int_eq(scn_expect_eval(&e, &v, names, NULL, NULL, NULL, NULL, &why), 0); /* no model given */
    scn_expect_release(&e);
    sbuf_release(&why);
}
END_TEST

START_TEST(unlisted_groups_cannot_prove_presence) {
    dumpview_group groups[] = {{0, 0, 11, "11", 0}};
    dumpview v = {11, 0, groups, 1, NULL, 0, NULL, 0, 1};
    int32_t dev0 = 0;
    sbuf why = SBUF_INIT;
    struct scn_expect e = parse_expect("expect dump DRAM on dev 0: 11 buffers, 11MiB at 0x20");
    e.devices = mem_alloc(sizeof dev0);
    e.devices[0] = dev0;
    e.ndevices = 1;
    ck_assert_int_eq(scn_expect_eval(&e, &v, names, NULL, NULL, NULL, NULL, &why), 0);
    ck_assert_ptr_nonnull(strstr(sbuf_str(&why), "does not list (more than 10)"));
    e.has_addr = 0;
    ck_assert_int_eq(scn_expect_eval(&e, &v, names, NULL, NULL, NULL, NULL, &why), 1);
    scn_expect_release(&e);
    sbuf_release(&why);
}
END_TEST

int main(void) {
    Suite *s = suite_create("scn_parse");
    TCase *t = tcase_create("core");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, seed_story_parses_to_the_expected_tree);
    tcase_add_test(t, sizes_and_times_known_answers);
    tcase_add_test(t, errors_name_file_line_column_expected_and_found);
    tcase_add_test(t, device_selections_repeat_blocks_and_expect_error);
    tcase_add_test(t, expectation_forms_and_cross_process_references);
    tcase_add_test(t, any_bytes_never_crash);
    tcase_add_test(t, allocation_failures_are_reported_not_crashed);
    tcase_add_test(t, expectations_evaluate_against_a_dump);
    tcase_add_test(t, unlisted_groups_cannot_prove_presence);
    suite_add_tcase(s, t);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
