/* test_import: the log importer (import/import.c, import_report.c, cmd_import.c).
 *
 * Acceptance from the seed story (seed-trace-buffers.md): tests/data/import/seed_trace.log
 * holds the note's eight TRACE allocation lines, a DUMP_REMAINING report with the TRACE
 * buffer on devices 0-7 as in protocol.md §5.7, then FINAL frees on all eight devices; its
 * hex-id (v144) twin and a copy whose dump lacks device 5 sit next to it. The expected
 * lifecycle block is the one the note's verify_trace_buffer_source.py printed. Smaller logs
 * are written inline from the §5 templates. The replay test sends the converted stream to
 * allocsim-server and compares the dump it prints with the log's.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "import.h"
#include "mem.h"
#include "plot.h"
#include "runner.h"
#include "scn_load.h"
#include "scn_run.h"
#include "srvline.h"
#include "srvproc.h"
#include "stream.h"

#define DATA ALLOCSIM_SOURCE_DIR "/tests/data/import/"

#define FT "╔══════════════════════════════════════════════════════════════╗\n"
#define TI "║           REMAINING ALLOCATED BUFFERS                       ║\n"
#define FB "╚══════════════════════════════════════════════════════════════╝\n"

static void import_path(const char *path, const import_opts *o, import_result *r) {
    char err[512] = "";
    ck_assert_msg(import_file(path, o, r, err, sizeof err) == 0, "%s", err);
}

static void import_text(const char *text, const import_opts *o, import_result *r) {
    char err[512] = "";
    import_opts local = o ? *o : (import_opts){0};
    if (!local.log_name)
        local.log_name = "LOG";
    ck_assert_msg(import_run(text, strlen(text), &local, r, err, sizeof err) == 0, "%s", err);
}

static const import_buffer *find_buffer(const import_result *r, uint64_t id, size_t nth) {
    for (size_t i = 0; i < r->nbuffers; i++)
        if (r->buffers[i].buffer_id == id && nth-- == 0)
            return &r->buffers[i];
    return NULL;
}

static void assert_devs(const import_devset *s, const int32_t *want, size_t n) {
    ck_assert_uint_eq(s->n, n);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(s->v[i], want[i]);
}

static const int32_t all8[] = {0, 1, 2, 3, 4, 5, 6, 7};

static void check_seed_lifecycle(const import_result *r) {
    ck_assert_uint_eq(r->nbuffers, 1);
    const import_buffer *b = find_buffer(r, 1043741824u, 0);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(b->size, 12503040);
    ck_assert_int_eq(b->buffer_type, 4);
    ck_assert_int_eq(b->pid, 919068);
    assert_devs(&b->allocated, all8, 8);
    assert_devs(&b->freed, all8, 8);
    ck_assert_uint_eq(b->live.n, 0);
    ck_assert_int_eq(b->status, IMPORT_FULLY_FREED);
    ck_assert_uint_eq(b->dumps_listed, 1);
    ck_assert_uint_eq(r->allocs, 8);
    ck_assert_uint_eq(r->frees_final, 8);
    ck_assert_uint_eq(r->npids, 1);
    ck_assert_int_eq(r->pids[0], 919068);
}

static void check_seed_dump(const import_result *r) {
    ck_assert_uint_eq(r->ndumps, 1);
    const import_dump *d = &r->dumps[0];
    ck_assert_int_eq(d->parsed, 1);
    ck_assert_int_eq(d->view.complete, 1);
    ck_assert_uint_eq(d->view.total_tracked, 8);
    ck_assert_uint_eq(d->view.nbuffers, 8);
    for (size_t i = 0; i < 8; i++) {
        ck_assert_int_eq(d->view.buffers[i].device_id, (int32_t)i);
        ck_assert_uint_eq(d->view.buffers[i].buffer_id, 0x3e363c80u);
        ck_assert_str_eq(d->view.buffers[i].kb, "12210");
    }
    ck_assert_int_eq(d->agrees, 1);
    ck_assert_uint_eq(d->differences.len, 0);
}

START_TEST(seed_trace_log) {
    import_result r;
    import_path(DATA "seed_trace.log", NULL, &r);
    ck_assert_int_eq(r.rev, PROTO_V72); /* decimal ids and a banner without detection block */
    ck_assert_uint_eq(r.lines, 62);
    check_seed_lifecycle(&r);
    check_seed_dump(&r);
    ck_assert_uint_eq(r.dumps[0].request_line, 13);
    ck_assert_uint_eq(r.nfindings, 0);
    ck_assert_uint_eq(r.nwarnings, 0);
    sbuf out = SBUF_INIT;
    import_report_text(&r, "seed_trace.log", NULL, &out);
    ck_assert_ptr_nonnull(strstr(sbuf_str(&out),
                                 "Buffer ID 1043741824 (0x3e363c80):\n"
                                 "  Size: 12503040 bytes (11.92 MB)  Type: TRACE  PID: 919068\n"
                                 "  Allocated on devices: [0, 1, 2, 3, 4, 5, 6, 7]\n"
                                 "  Freed on devices: [0, 1, 2, 3, 4, 5, 6, 7]\n"));
    ck_assert_ptr_nonnull(strstr(sbuf_str(&out), "  STATUS: FULLY FREED\n"));
    ck_assert_ptr_nonnull(strstr(sbuf_str(&out), "Dump 1 (lines 13-54):\n"));
    ck_assert_ptr_nonnull(strstr(sbuf_str(&out), "  Check: agrees with the state rebuilt from lines 1-15\n"));
    sbuf_release(&out);
    import_result_release(&r);
}
END_TEST

START_TEST(seed_trace_hex_v144) {
    import_result r;
    import_path(DATA "seed_trace_v144.log", NULL, &r);
    ck_assert_int_eq(r.rev, PROTO_V144); /* the UMD Cluster detection banner */
    ck_assert_uint_eq(r.rev_candidates, 1u << PROTO_V144);
    check_seed_lifecycle(&r);
    check_seed_dump(&r);
    ck_assert_uint_eq(r.nfindings, 0);
    ck_assert_uint_eq(r.nwarnings, 0);
    import_result_release(&r);
}
END_TEST

/* The richer example of docs/import.md. */
START_TEST(story_log_statuses) {
    import_result r;
    import_path(DATA "story_v144.log", NULL, &r);
    ck_assert_int_eq(r.rev, PROTO_V144);
    ck_assert_uint_eq(r.nbuffers, 4);
    ck_assert_int_eq(r.buffers[0].status, IMPORT_FULLY_FREED);
    ck_assert_int_eq(r.buffers[1].status, IMPORT_REMAINING);
    ck_assert_int_eq(r.buffers[1].max_ref_count, 2);
    ck_assert_int_eq(r.buffers[2].status, IMPORT_CLEANED_UP);
    ck_assert_int_eq(r.buffers[3].status, IMPORT_LEAKED);
    ck_assert_uint_eq(r.buffers[3].buffer_id, r.buffers[0].buffer_id);
    ck_assert_int_eq(r.dumps[0].agrees, 1);
    ck_assert_uint_eq(r.nfindings, 0);
    ck_assert_uint_eq(r.nwarnings, 1);
    ck_assert_uint_eq(r.warnings[0].line, 13);
    import_result_release(&r);
}
END_TEST

START_TEST(dump_that_disagrees) {
    import_result r;
    import_path(DATA "seed_trace_disagree.log", NULL, &r);
    ck_assert_uint_eq(r.ndumps, 1);
    ck_assert_int_eq(r.dumps[0].agrees, 0);
    const char *d = sbuf_str(&r.dumps[0].differences);
    ck_assert_ptr_nonnull(strstr(d, "total tracked allocations: expected 8, found 7\n"));
    ck_assert_ptr_nonnull(strstr(d, "missing buffer 0x3e363c80 on device 5 (TRACE, 12210 KB, PID "
                                    "919068, ref_count=1)\n"));
    ck_assert_uint_eq(r.nfindings, 1);
    ck_assert_uint_eq(r.findings[0].line, 13);
    ck_assert_ptr_nonnull(strstr(r.findings[0].text, "seed_trace_disagree.log:13: dump 1 (lines "
                                                     "13-50) disagrees with the events before it"));
    import_result_release(&r);
}
END_TEST

START_TEST(malformed_lines_are_warnings) {
    static const char text[] =
        "✓ [PID 7] Allocated 4096 bytes of L1 on device 0 (buffer_id=4096)\n"
        "✓ [PID 7] Allocated 4096 bytes of HBM on device 0 (buffer_id=8192)\n"
        "✗ [PID 7] Freed buffer 4096 on device 0 (4096 bytes, FINAL\n"
        "pytest: some client output\n"
        "📋 Received DUMP_REMAINING request...\n"
        "\n" FT TI FB
        "Total tracked allocations: 1\n"
        "\n"
        "Device 0:\n"
        "  L1: 1 buffers, 0.00390625 MB totl\n"
        "    - Buffer 0x1000: 4 KB (PID 7, ref_count=1)\n"
        "\n"
        "Total remaining buffers: 1\n"
        "\n"
        "📋 DUMP_REMAINING complete.\n";
    import_result r;
    import_text(text, NULL, &r);
    ck_assert_uint_eq(r.nwarnings, 4);
    ck_assert_str_eq(r.warnings[0].text,
                     "LOG:2: expected '✓ [PID «pid»] Allocated «size» bytes of «TYPE» on device "
                     "«dev» (buffer_id=«ID»)', found '✓ [PID 7] Allocated 4096 bytes of HBM on "
                     "device 0 (buffer_id=8192)'");
    ck_assert_uint_eq(r.warnings[1].line, 3);
    ck_assert_uint_eq(r.warnings[2].line, 13);
    ck_assert_ptr_nonnull(strstr(r.warnings[2].text, "expected '  «TYPE»: «n» buffers, «MB» MB total'"));
    /* a group line the parser could not read leaves a buffer line without its group */
    ck_assert_uint_eq(r.warnings[3].line, 14);
    /* the unreadable FREE was not applied: the buffer is still allocated */
    ck_assert_uint_eq(r.allocs, 1);
    ck_assert_uint_eq(r.frees_final, 0);
    ck_assert_int_eq(find_buffer(&r, 4096, 0)->status, IMPORT_REMAINING);
    import_result_release(&r);
}
END_TEST

/* CRLF endings, invalid UTF-8 noise, a statistics block and another connection's lines in the
 * middle of the dump request change nothing. */
START_TEST(noise_and_interleaving) {
    static const char text[] =
        "\xff\xfe garbage \x80\r\n"
        "✓ [PID 7] Allocated 4096 bytes of L1 on device 0 (buffer_id=4096)\r\n"
        "📋 Received DUMP_REMAINING request...\r\n"
        "✓ [PID 8] Allocated 2048 bytes of DRAM on device 1 (buffer_id=64)\r\n"
        "\r\n"
        "📊 Current Statistics:\r\n"
        "  Device 0:\r\n"
        "    Buffers: 1\r\n"
        "    DRAM: 0 bytes (0 KB)\r\n"
        "    L1: 4096 bytes (4 KB)\r\n"
        "    Total: 4096 bytes\r\n"
        "  Active allocations: 2\r\n"
        "\r\n" "╔══════════════════════════════════════════════════════════════╗\r\n"
        "║           REMAINING ALLOCATED BUFFERS                       ║\r\n"
        "╚══════════════════════════════════════════════════════════════╝\r\n"
        "Total tracked allocations: 2\r\n"
        "\r\n"
        "Device 0:\r\n"
        "  L1: 1 buffers, 0.00390625 MB total\r\n"
        "    - Buffer 0x1000: 4 KB (PID 7, ref_count=1)\r\n"
        "\r\n"
        "Device 1:\r\n"
        "  DRAM: 1 buffers, 0.00195312 MB total\r\n"
        "    - Buffer 0x40: 2 KB (PID 8, ref_count=1)\r\n"
        "\r\n"
        "Total remaining buffers: 2\r\n"
        "\r\n"
        "Unknown message type: 13\r\n"
        "📋 DUMP_REMAINING complete.\r\n"
        "✗ [PID 7] Freed buffer 4096 on device 0 (4096 bytes, FINAL)";
    import_result r;
    import_text(text, NULL, &r);
    ck_assert_uint_eq(r.nwarnings, 0);
    ck_assert_uint_eq(r.nfindings, 0);
    ck_assert_uint_eq(r.ndumps, 1);
    ck_assert_int_eq(r.dumps[0].agrees, 1);
    ck_assert_uint_eq(r.dumps[0].view.nbuffers, 2);
    ck_assert_uint_eq(r.stats_blocks, 1);
    ck_assert_uint_eq(r.unknown_types, 1);
    ck_assert_int_eq(find_buffer(&r, 4096, 0)->status, IMPORT_FULLY_FREED);
    ck_assert_int_eq(find_buffer(&r, 64, 0)->status, IMPORT_REMAINING);
    ck_assert_uint_eq(find_buffer(&r, 64, 0)->last_dump, 1);
    import_result_release(&r);
}
END_TEST

/* The dump request of another connection printed (unlocked) in the middle of an ALLOC line:
 * both are read, and the ALLOC counts before the report as the server counted it. */
START_TEST(unlocked_line_inside_a_line) {
    static const char text[] =
        "✓ [PID 5] Allocated 📋 Received DUMP_REMAINING request...4096 bytes of L1 on device 0 "
        "(buffer_id=64)\n"
        "\n"
        "\n" FT TI FB
        "Total tracked allocations: 1\n"
        "\n"
        "Device 0:\n"
        "  L1: 1 buffers, 0.00390625 MB total\n"
        "    - Buffer 0x40: 4 KB (PID 5, ref_count=1)\n"
        "\n"
        "Total remaining buffers: 1\n"
        "\n"
        "📋 DUMP_REMAINING complete.\n";
    import_result r;
    import_text(text, NULL, &r);
    ck_assert_uint_eq(r.allocs, 1);
    ck_assert_uint_eq(r.ndumps, 1);
    ck_assert_uint_eq(r.dumps[0].request_line, 1);
    ck_assert_int_eq(r.dumps[0].agrees, 1);
    ck_assert_uint_eq(r.nfindings, 0);
    ck_assert_uint_eq(r.nwarnings, 1);
    ck_assert_str_eq(r.warnings[0].text, "LOG:1: '📋 Received DUMP_REMAINING request...' from another "
                                         "thread is printed inside this line: read as two lines");
    import_result_release(&r);
}
END_TEST

/* Reuse of an id after a full free is a new lifecycle; ref counts; dead-PID cleanup;
 * a buffer allocated after the last dump is leaked; a server restart loses what was held. */
START_TEST(lifecycles) {
    static const char text[] =
        "✓ [PID 5] Allocated 1024 bytes of DRAM on device 0 (buffer_id=0x100)\n"          /* 1 */
        "✓ [PID 5] Allocated 1024 bytes of DRAM on device 1 (buffer_id=0x100)\n"          /* 2 */
        "✓ [PID 6] Allocated 512 bytes of DRAM on device 0 (buffer_id=0x100, ref_count=2)\n" /* 3 */
        "✗ [PID 5] Freed buffer 0x100 on device 0 (1024 bytes, ref_count=1 remaining)\n" /* 4 */
        "✗ [PID 5] Freed buffer 0x100 on device 0 (1024 bytes, FINAL)\n"                 /* 5 */
        "✗ [PID 5] Freed buffer 0x100 on device 1 (1024 bytes, FINAL)\n"                 /* 6 */
        "✓ [PID 9] Allocated 64 bytes of L1 on device 2 (buffer_id=0x100)\n"             /* 7 */
        "✓ [PID 9] Allocated 128 bytes of L1_SMALL on device 2 (buffer_id=0x200)\n"      /* 8 */
        "✓ [PID 3] Allocated 256 bytes of SYSTEM_MEMORY on device 3 (buffer_id=0x300)\n" /* 9 */
        "⚠ [PID 3] Deallocation for unknown buffer 0x999 on device 3 (allocated before tracking started)\n"
        "📋 Received DUMP_REMAINING request...\n"                                          /* 11 */
        "\n"
        "⚠️  Detected dead processes, cleaning up orphaned buffers...\n"
        "   PID 9 is dead, removing its buffers...\n"
        "   ✓ Removed 2 buffers (0.000183105 MB) from PID 9\n"
        "\n"
        "\n" FT TI FB                                                                    /* 17-20 */
        "Total tracked allocations: 1\n"
        "\n"
        "Device 3:\n"
        "  SYSTEM_MEMORY: 1 buffers, 0.000244141 MB total\n"
        "    - Buffer 0x300: 0.25 KB (PID 3, ref_count=1)\n"
        "\n"
        "Total remaining buffers: 1\n"
        "\n"
        "📋 DUMP_REMAINING complete.\n"                                                    /* 29 */
        "✓ [PID 3] Allocated 4096 bytes of TRACE on device 3 (buffer_id=0x400)\n";       /* 30 */
    import_opts o = {0};
    o.want_timeline = 1;
    o.want_stream = 1;
    import_result r;
    import_text(text, &o, &r);
    ck_assert_int_eq(r.rev, PROTO_V112_HEX); /* hex ids, nothing else: the oldest such build */
    ck_assert_uint_eq(r.nwarnings, 0);
    ck_assert_msg(r.nfindings == 0, "%s", r.nfindings ? r.findings[0].text : "");
    ck_assert_uint_eq(r.nbuffers, 5); /* 0x100 twice, 0x200, 0x300, 0x400 */
    const import_buffer *a = find_buffer(&r, 0x100, 0), *b = find_buffer(&r, 0x100, 1);
    int32_t d01[] = {0, 1}, d2[] = {2}, d3[] = {3};
    assert_devs(&a->allocated, d01, 2);
    assert_devs(&a->freed, d01, 2);
    ck_assert_int_eq(a->max_ref_count, 2);
    ck_assert_int_eq(a->status, IMPORT_FULLY_FREED);
    ck_assert_int_eq(a->pid, 5);
    ck_assert_uint_eq(a->size, 1024);
    assert_devs(&b->allocated, d2, 1);
    assert_devs(&b->cleaned, d2, 1);
    ck_assert_int_eq(b->status, IMPORT_CLEANED_UP);
    ck_assert_int_eq(b->cleaned_pid, 9);
    ck_assert_int_eq(find_buffer(&r, 0x200, 0)->status, IMPORT_CLEANED_UP);
    const import_buffer *c = find_buffer(&r, 0x300, 0);
    ck_assert_int_eq(c->status, IMPORT_REMAINING);
    ck_assert_uint_eq(c->last_dump, 1);
    assert_devs(&c->live, d3, 1);
    ck_assert_int_eq(find_buffer(&r, 0x400, 0)->status, IMPORT_LEAKED);
    ck_assert_ptr_null(find_buffer(&r, 0x999, 0)); /* an unknown free starts no lifecycle */
    ck_assert_uint_eq(r.frees_unknown, 1);
    ck_assert_uint_eq(r.dead_pids, 1);
    ck_assert_int_eq(r.dumps[0].agrees, 1);
    ck_assert_uint_eq(r.dumps[0].view.ndead, 1);

    /* timeline rows, read back with the plot module's own parser */
    char err[256], tsv[64];
    snprintf(tsv, sizeof tsv, "/tmp/allocsim-test-import-%d.tsv", (int)getpid());
    ck_assert_int_eq(import_write_timeline(&r, "LOG", tsv, err, sizeof err), 0);
    plot_timeline tl;
    ck_assert_msg(plot_timeline_load(tsv, &tl, err, sizeof err) == 0, "%s", err);
    unlink(tsv);
    ck_assert_int_eq(tl.time_unit, PLOT_TIME_LINE);
    ck_assert_uint_eq(tl.nphases, 1);
    ck_assert_uint_eq(tl.phases[0].time, 11);
    ck_assert_str_eq(tl.phases[0].label, "dump");
    /* device 0 DRAM: 1024 at line 1, unchanged by the ref (3) and ref free (4), 0 at line 5 */
    size_t k = 0;
    uint64_t want_t[] = {1, 5}, want_v[] = {1024, 0};
    for (size_t i = 0; i < tl.nrows; i++) {
        if (tl.rows[i].device != 0)
            continue;
        ck_assert_uint_lt(k, 2);
        ck_assert_uint_eq(tl.rows[i].time, want_t[k]);
        ck_assert_uint_eq(tl.rows[i].bytes[PLOT_DRAM], want_v[k]);
        k++;
    }
    ck_assert_uint_eq(k, 2);
    /* SYSTEM_MEMORY counts as L1_SMALL; the dead-PID cleanup empties device 2 at line 14 */
    int saw3 = 0, saw2_zero = 0;
    for (size_t i = 0; i < tl.nrows; i++) {
        if (tl.rows[i].device == 3 && tl.rows[i].time == 9)
            saw3 = tl.rows[i].bytes[PLOT_L1_SMALL] == 256;
        if (tl.rows[i].device == 2 && tl.rows[i].time == 14)
            saw2_zero = tl.rows[i].bytes[PLOT_L1] == 0 && tl.rows[i].bytes[PLOT_L1_SMALL] == 0;
    }
    ck_assert(saw3);
    ck_assert(saw2_zero);
    plot_timeline_release(&tl);

    /* the stream: one process per PID plus the dumper; PID 9 crashes before the dump */
    ck_assert_int_eq(r.have_stream, 1);
    ck_assert_msg(stream_validate(&r.stream, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(r.stream.nprocs, 5);
    ck_assert_int_eq(r.stream.procs[0].recorded_pid, 5);
    ck_assert_str_eq(r.stream.procs[0].name, "pid5");
    size_t writes = 0, crashes = 0, dumps = 0, fences = 0;
    for (size_t i = 0; i < r.stream.nrecords; i++) {
        const stream_record *rec = &r.stream.records[i];
        writes += rec->op == STREAM_OP_WRITE;
        fences += rec->op == STREAM_OP_FENCE;
        if (rec->op == STREAM_OP_CRASH) {
            crashes++;
            ck_assert_int_eq(r.stream.procs[rec->id].recorded_pid, 9);
            ck_assert_uint_eq(dumps, 0);
        }
        dumps += rec->op == STREAM_OP_DUMP;
    }
    ck_assert_uint_eq(writes, 11); /* every ALLOC/FREE line, the unknown free included */
    ck_assert_uint_eq(crashes, 1);
    ck_assert_uint_eq(dumps, 1);
    ck_assert_uint_ge(fences, 4); /* one per change of connection with unconfirmed writes */
    import_result_release(&r);
}
END_TEST

/* A log that starts after the server did, and lines that contradict each other. */
START_TEST(inconsistent_logs_are_findings) {
    static const char text[] =
        "✗ [PID 5] Freed buffer 16 on device 0 (64 bytes, FINAL)\n"
        "✓ [PID 5] Allocated 64 bytes of L1 on device 0 (buffer_id=32, ref_count=3)\n"
        "✓ [PID 5] Allocated 64 bytes of L1 on device 0 (buffer_id=48)\n"
        "✓ [PID 5] Allocated 64 bytes of L1 on device 0 (buffer_id=48)\n"
        "⚠ [PID 5] Deallocation for unknown buffer 32 on device 0 (allocated before tracking started)\n"
        "📋 Received DUMP_REMAINING request...\n"
        "\n" FT TI FB
        "Total tracked allocations: 1\n"
        "\n"
        "Device 0:\n"
        "  L1: 1 buffers, 6.10352e-05 MB total\n"
        "    - Buffer 0x30: 0.0625 KB (PID 5, ref_count=1)\n"
        "\n"
        "Total remaining buffers: 1\n"
        "\n"
        "📋 DUMP_REMAINING complete.\n";
    import_result r;
    import_text(text, NULL, &r);
    ck_assert_uint_eq(r.nfindings, 4);
    ck_assert_uint_eq(r.findings[0].line, 1);
    ck_assert_ptr_nonnull(strstr(r.findings[0].text, "free of buffer 16 on device 0, which no "
                                                     "earlier line allocated"));
    ck_assert_uint_eq(r.findings[1].line, 2);
    ck_assert_ptr_nonnull(strstr(r.findings[1].text, "gets ref_count=3 but no earlier line allocated it"));
    ck_assert_uint_eq(r.findings[2].line, 4);
    ck_assert_ptr_nonnull(strstr(r.findings[2].text, "a FREE line is missing?"));
    ck_assert_uint_eq(r.findings[3].line, 5);
    ck_assert_ptr_nonnull(strstr(r.findings[3].text, "calls buffer 32 on device 0 unknown"));
    /* corrected state: the dump agrees */
    ck_assert_int_eq(r.dumps[0].agrees, 1);
    ck_assert_int_eq(find_buffer(&r, 16, 0)->before_log, 1);
    ck_assert_int_eq(find_buffer(&r, 32, 0)->before_log, 1);
    import_result_release(&r);
}
END_TEST

START_TEST(server_restart_loses_state) {
    static const char text[] =
        "🚀 Allocation Server started\n"
        "✓ [PID 5] Allocated 64 bytes of L1 on device 0 (buffer_id=32)\n"
        "🚀 Allocation Server started\n"
        "✓ [PID 5] Allocated 64 bytes of L1 on device 0 (buffer_id=32)\n";
    import_result r;
    import_text(text, NULL, &r);
    ck_assert_uint_eq(r.server_starts, 2);
    ck_assert_uint_eq(r.nfindings, 0);
    ck_assert_uint_eq(r.nbuffers, 2);
    ck_assert_int_eq(r.buffers[0].status, IMPORT_LOST);
    ck_assert_uint_eq(r.buffers[0].lost_line, 3);
    ck_assert_int_eq(r.buffers[1].status, IMPORT_LEAKED);
    import_result_release(&r);
}
END_TEST

START_TEST(json_report) {
    import_result r;
    import_path(DATA "seed_trace.log", NULL, &r);
    sbuf out = SBUF_INIT;
    import_report_json(&r, "seed \"trace\".log", NULL, &out);
    const char *j = sbuf_str(&out);
    ck_assert_ptr_eq(strstr(j, "{\"log\":\"seed \\\"trace\\\".log\",\"revision\":\"v72\","), j);
    ck_assert_ptr_nonnull(strstr(j, "\"buffers\":[{\"buffer_id\":1043741824,\"buffer_id_hex\":"
                                    "\"0x3e363c80\",\"size\":12503040,\"type\":\"TRACE\",\"pid\":"
                                    "919068,\"allocated_on\":[0,1,2,3,4,5,6,7],\"freed_on\":"
                                    "[0,1,2,3,4,5,6,7],"));
    ck_assert_ptr_nonnull(strstr(j, "\"status\":\"FULLY FREED\"}"));
    ck_assert_ptr_nonnull(strstr(j, "\"agrees\":true"));
    ck_assert_ptr_nonnull(strstr(j, "\"findings_total\":0,\"findings\":[],\"warnings_total\":0"));
    /* balanced braces and brackets outside strings */
    int depth = 0, in_str = 0;
    for (const char *p = j; *p; p++) {
        if (in_str) {
            if (*p == '\\')
                p++;
            else if (*p == '"')
                in_str = 0;
        } else if (*p == '"') {
            in_str = 1;
        } else if (*p == '{' || *p == '[') {
            depth++;
        } else if (*p == '}' || *p == ']') {
            depth--;
            ck_assert_int_ge(depth, 0);
        }
    }
    ck_assert_int_eq(depth, 0);
    sbuf_reset(&out);
    import_report_json(&r, "bad\xff\x01✓.log", NULL, &out);
    ck_assert_ptr_nonnull(strstr(sbuf_str(&out), "{\"log\":\"bad\\u00ff\\u0001✓.log\","));
    sbuf_release(&out);
    import_result_release(&r);
}
END_TEST

/* A log of allocation_server_enhanced written from tracking-stories.md §3's lines (S7's
 * buffer 0x296c4260 on device 4): reuse with a different size (512 then 8192 bytes), a dump
 * without request/completion lines whose buffers carry histories, an ALREADY FREED and a
 * never-tracked free, a perfect dump followed by the DOUBLE-FREED report, and the same
 * report again at shutdown. Known answers by hand: the dump lists 8 KB (the enhanced server
 * keeps the new size; the poc's 512 bytes would make the dump disagree), two unknown frees,
 * two double-freed buffers reported once each. */
START_TEST(enhanced_server_log) {
    import_result r;
    import_path(DATA "enhanced_s7.log", NULL, &r);
    ck_assert_int_eq(r.enhanced, 1);
    ck_assert_int_eq(r.rev, PROTO_V72); /* hex ids, yet not v112-hex/v144 */
    ck_assert_uint_eq(r.rev_candidates, SRVLINE_REV(PROTO_V72));
    ck_assert_uint_eq(r.allocs, 2);
    ck_assert_uint_eq(r.alloc_refs, 1);
    ck_assert_uint_eq(r.frees_ref, 1);
    ck_assert_uint_eq(r.frees_final, 2);
    ck_assert_uint_eq(r.frees_unknown, 2);
    ck_assert_uint_eq(r.server_starts, 1);
    ck_assert_uint_eq(r.nwarnings, 0);
    ck_assert_uint_eq(r.ndumps, 2);
    ck_assert_int_eq(r.dumps[0].agrees, 1);
    ck_assert_int_eq(r.dumps[1].agrees, 1);
    ck_assert_uint_eq(r.dumps[0].request_line, 0);
    ck_assert_uint_eq(r.dumps[0].title_line, 9);
    ck_assert_uint_eq(r.dumps[0].end_line, 26); /* Total remaining buffers: 2 */
    ck_assert_uint_eq(r.dumps[0].view.total_tracked, 2);
    ck_assert_uint_eq(r.dumps[0].view.nbuffers, 2);
    int seen = 0;
    for (size_t i = 0; i < r.dumps[0].view.nbuffers; i++) {
        const dumpview_buffer *b = &r.dumps[0].view.buffers[i];
        if (b->buffer_id == 0x296c4260u) {
            ck_assert_int_eq(b->device_id, 4);
            ck_assert_int_eq(b->ref_count, 2);
            seen = 1;
        }
    }
    ck_assert_int_eq(seen, 1);
    ck_assert_uint_eq(r.dumps[1].end_line, 44); /* the perfect line */
    ck_assert_int_eq(r.dumps[1].view.perfect, 1);
    ck_assert_uint_eq(r.double_freed, 2);
    ck_assert_uint_eq(r.nfindings, 2);
    ck_assert_str_eq(r.findings[0].text, ALLOCSIM_SOURCE_DIR "/tests/data/import/enhanced_s7.log:52: the server reports "
                                         "buffer 0x1000 on device 1 DOUBLE-FREED: 0 allocs, 1 frees");
    ck_assert_str_eq(r.findings[1].text, ALLOCSIM_SOURCE_DIR "/tests/data/import/enhanced_s7.log:57: the server reports "
                                         "buffer 0x296c4260 on device 4 DOUBLE-FREED: 2 allocs, 3 frees");
    const import_buffer *b = find_buffer(&r, 0x296c4260u, 0);
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(b->status, IMPORT_FULLY_FREED);
    ck_assert_int_eq(b->max_ref_count, 2);
    sbuf out = SBUF_INIT;
    import_report_json(&r, "e.log", NULL, &out);
    ck_assert_ptr_nonnull(strstr(sbuf_str(&out), "\"revision_candidates\":[\"v72\"],\"dialect\":\"enhanced\",\"double_freed\":2,"));
    sbuf_release(&out);
    import_result_release(&r);
    /* Without the banner, one line of its own is enough; a poc log stays poc. */
    import_text("✓ [PID 7] Allocated 4096 bytes of DRAM on device 0 (buffer_id=0x1000)\n"
                "✗ [PID 7] Freed buffer 0x1000 on device 0 (4096 bytes, FINAL)\n"
                "⚠ [PID 7] Deallocation for ALREADY FREED buffer 0x1000 on device 0 (allocs=1 frees=2)\n",
                NULL, &r);
    ck_assert_int_eq(r.enhanced, 1);
    ck_assert_int_eq(r.rev, PROTO_V72);
    ck_assert_uint_eq(r.frees_unknown, 1);
    ck_assert_uint_eq(r.nfindings, 0);
    import_result_release(&r);
    import_text("✓ [PID 7] Allocated 4096 bytes of DRAM on device 0 (buffer_id=0x1000)\n", NULL, &r);
    ck_assert_int_eq(r.enhanced, 0);
    ck_assert_int_ne(r.rev, PROTO_V72);
    import_result_release(&r);
}
END_TEST

/* Arbitrary bytes and mutated logs: never a crash, always a result. */
START_TEST(hostile_input) {
    static char text[8192];
    FILE *f = fopen(DATA "seed_trace.log", "rb");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(text, 1, sizeof text, f);
    fclose(f);
    uint64_t x = 42;
    for (int iter = 0; iter < 300; iter++) {
        char *copy = malloc(n);
        memcpy(copy, text, n);
        for (int k = 0; k < 1 + iter % 8; k++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            copy[x % n] = (char)(x >> 32);
        }
        import_opts o = {0};
        o.want_timeline = o.want_stream = 1;
        import_result r;
        char err[256];
        ck_assert_int_eq(import_run(copy, x % n, &o, &r, err, sizeof err), 0);
        sbuf out = SBUF_INIT;
        import_report_text(&r, "x", NULL, &out);
        import_report_json(&r, "x", NULL, &out);
        sbuf_release(&out);
        import_result_release(&r);
        free(copy);
    }
}
END_TEST

START_TEST(out_of_memory) {
    FILE *f = fopen(DATA "seed_trace.log", "rb");
    static char text[8192];
    size_t n = fread(text, 1, sizeof text, f);
    fclose(f);
    int failures = 0, successes = 0;
    for (long k = 0; k < 400; k += 3) {
        import_opts o = {0};
        o.want_timeline = o.want_stream = 1;
        import_result r;
        char err[256] = "";
        mem_fail_after(k);
        int rc = import_run(text, n, &o, &r, err, sizeof err);
        mem_fail_after(-1);
        if (rc < 0) {
            ck_assert_ptr_nonnull(strstr(err, "out of memory"));
            failures++;
        } else {
            successes++;
        }
        import_result_release(&r);
    }
    ck_assert_int_gt(failures, 0);
    ck_assert_int_gt(successes, 0);
}
END_TEST

/* Linear time: a 200 000-line log imports in well under the test timeout. */
START_TEST(large_log) {
    sbuf b = SBUF_INIT;
    for (int i = 0; i < 50000; i++) {
        unsigned id = 0x1000u + (unsigned)(i % 997) * 64u;
        int dev = i % 8;
        sbuf_printf(&b, "✓ [PID %d] Allocated 2048 bytes of L1 on device %d (buffer_id=%u)\n",
                    1000 + i % 5, dev, id);
        sbuf_printf(&b, "✓ [PID %d] Allocated 2048 bytes of L1 on device %d (buffer_id=%u, ref_count=2)\n",
                    1000 + i % 5, dev, id);
        sbuf_printf(&b, "✗ [PID %d] Freed buffer %u on device %d (2048 bytes, ref_count=1 remaining)\n",
                    1000 + i % 5, id, dev);
        sbuf_printf(&b, "✗ [PID %d] Freed buffer %u on device %d (2048 bytes, FINAL)\n",
                    1000 + i % 5, id, dev);
    }
    import_opts o = {0};
    o.want_timeline = o.want_stream = 1;
    import_result r;
    char err[256];
    ck_assert_int_eq(import_run(b.data, b.len, &o, &r, err, sizeof err), 0);
    ck_assert_uint_eq(r.lines, 200000);
    ck_assert_uint_eq(r.nfindings, 0);
    ck_assert_uint_eq(r.nbuffers, 50000);
    size_t writes = 0;
    for (size_t i = 0; i < r.stream.nrecords; i++)
        writes += r.stream.records[i].op == STREAM_OP_WRITE;
    ck_assert_uint_eq(writes, 200000);
    import_result_release(&r);
    sbuf_release(&b);
}
END_TEST

/* The command: exit statuses and files. */
static int run_allocsim(const char *args) {
    char cmd[1024];
    const char *bin = getenv("ALLOCSIM_BIN");
    snprintf(cmd, sizeof cmd, "%s/allocsim import %s >/dev/null 2>&1", bin ? bin : ".", args);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

START_TEST(command_exit_status) {
    ck_assert_int_eq(run_allocsim(DATA "seed_trace.log"), 0);
    ck_assert_int_eq(run_allocsim(DATA "seed_trace_disagree.log"), 1);
    ck_assert_int_eq(run_allocsim(DATA "no-such.log"), 2);
    ck_assert_int_eq(run_allocsim("--bogus " DATA "seed_trace.log"), 2);
    ck_assert_int_eq(run_allocsim("--protocol v99 " DATA "seed_trace.log"), 2);
    ck_assert_int_eq(run_allocsim(DATA "seed_trace.log --json --buffer 0x3e363c80 --protocol v112"), 0);
    char dir[] = "/tmp/allocsim-import-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char args[512], path[300];
    snprintf(args, sizeof args, DATA "seed_trace.log --timeline %s/t.tsv --stream %s/s.allocstream "
             "--scenario %s/s.scn", dir, dir, dir);
    ck_assert_int_eq(run_allocsim(args), 0);
    stream s;
    char err[256];
    snprintf(path, sizeof path, "%s/s.allocstream", dir);
    ck_assert_msg(stream_load(path, &s, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(s.rev, PROTO_V72);
    ck_assert_uint_eq(s.nprocs, 2);
    stream_release(&s);
    unlink(path);
    snprintf(path, sizeof path, "%s/t.tsv", dir);
    plot_timeline tl;
    ck_assert_msg(plot_timeline_load(path, &tl, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(tl.nrows, 16);
    plot_timeline_release(&tl);
    unlink(path);
    snprintf(path, sizeof path, "%s/s.scn", dir);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char line[256];
    int sends = 0;
    while (fgets(line, sizeof line, f))
        sends += strncmp(line, "  send ", 7) == 0;
    fclose(f);
    ck_assert_int_eq(sends, 16);
    /* and the scenario language reads it */
    scn_script *scn = NULL;
    ck_assert_msg(scn_load_file(path, &scn, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(scn->nprocs, 2); /* pid919068 and the dumper */
    scn_script_free(scn);
    unlink(path);
    rmdir(dir);
}
END_TEST

/* A recorded pid's name in the written scenario ("pid919068"). */
static const char *log_pid_name(void *ctx, int32_t pid) {
    static char names[4][32];
    static unsigned k;
    char *s = names[k++ % 4];
    (void)ctx;
    snprintf(s, sizeof names[0], "pid%d", (int)pid);
    return s;
}

/* The scenario round trip on a log of a 112-byte server (allocsim-server --protocol v112)
 * that ran the seed story, then process_crash (a process killed mid-run, cleaned up by the
 * next dump): the written scenario parses (the crash is its process's last statement), runs
 * dry, sends the log's frames in the log's order across processes, crashes the dead process
 * before the dump that cleaned it, and every dump it expects equals the log's dump. */
START_TEST(scenario_round_trip) {
    import_opts o = {0};
    o.want_stream = 1;
    import_result r;
    import_path(DATA "v112_seed_crash.log", &o, &r);
    ck_assert_int_eq(r.rev, PROTO_V112);
    ck_assert_uint_eq(r.ndumps, 4);
    ck_assert_uint_eq(r.dead_pids, 1);
    char dir[] = "/tmp/allocsim-import-rt-XXXXXX", path[128], err[2048];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/rt.scn", dir);
    ck_assert_msg(import_write_scenario(&r, "v112_seed_crash.log", path, err, sizeof err) == 0, "%s", err);
    scn_script *scn = NULL;
    ck_assert_msg(scn_load_file(path, &scn, err, sizeof err) == 0, "%s", err);
    plan p;
    ck_assert_msg(scn_run(scn, NULL, &p, NULL, err, sizeof err) == SCN_RUN_OK, "%s", err);
    ck_assert_int_eq(p.rev, PROTO_V112);
    /* the log's frames, in the log's order, each from its PID's process */
    size_t w = 0, crashes = 0, crash_before_dump3 = 0, ndump = 0;
    for (size_t i = 0; i < p.nsteps; i++) {
        const plan_step *ps = &p.steps[i];
        if (ps->kind == PLAN_CRASH) {
            crashes++;
            crash_before_dump3 = ndump == 2;
        }
        if (ps->kind == PLAN_DUMP)
            ndump++;
        if (ps->kind != PLAN_SEND)
            continue;
        while (w < r.stream.nrecords && r.stream.records[w].op != STREAM_OP_WRITE)
            w++;
        ck_assert_uint_lt(w, r.stream.nrecords);
        const stream_record *rec = &r.stream.records[w++];
        proto_msg m;
        ck_assert(proto_decode(r.stream.rev, r.stream.payload + rec->offset, rec->len, &m));
        ck_assert_int_eq(ps->msg.type, m.type);
        ck_assert_int_eq(ps->msg.device_id, m.device_id);
        ck_assert_uint_eq(ps->msg.buffer_id, m.buffer_id);
        if (m.type == PROTO_ALLOC)
            ck_assert_uint_eq(ps->msg.size, m.size);
        ck_assert_str_eq(p.proc_names[ps->proc], r.stream.procs[rec->id].name);
    }
    while (w < r.stream.nrecords && r.stream.records[w].op != STREAM_OP_WRITE)
        w++;
    ck_assert_uint_eq(w, r.stream.nrecords); /* every frame sent */
    ck_assert_uint_eq(crashes, 1);
    ck_assert_int_eq(crash_before_dump3, 1);
    /* the dry run's dumps are the log's */
    ck_assert_uint_eq(p.ndumps, r.ndumps);
    for (size_t i = 0; i < p.ndumps; i++) {
        dumpview want;
        ck_assert_msg(dumpview_parse_text(sbuf_str(&p.dumps[i].expected), p.dumps[i].expected.len, &want, err,
                                          sizeof err) == 0, "%s", err);
        dumpview logv = r.dumps[i].view;
        ck_assert_uint_eq(want.ndead, logv.ndead); /* the crashed PID is cleaned by the same dump */
        want.ndead = logv.ndead = 0;
        want.complete = logv.complete = 0;
        sbuf diff = SBUF_INIT;
        int rc = dumpview_compare(&logv, log_pid_name, NULL, &want, scn_run_pid_name, &p, &diff);
        ck_assert_msg(rc == 0, "dump %zu differs:\n%s", i + 1, sbuf_str(&diff));
        sbuf_release(&diff);
        ck_assert_uint_eq(p.dumps[i].nexpects, 1); /* expect dump total N / perfect */
        dumpview_release(&want);
    }
    plan_release(&p);
    scn_script_free(scn);
    unlink(path);
    rmdir(dir);
    import_result_release(&r);
}
END_TEST

/* Replaying the converted stream into allocsim-server gives the log's dump back. */
static void replay_and_compare(const char *log) {
    import_opts o = {0};
    o.want_stream = 1;
    import_result r;
    import_path(log, &o, &r);
    ck_assert_uint_ge(r.ndumps, 1);
    srvproc_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.rev = r.rev;
    const char *extra[] = {"--stats-interval", "0", NULL};
    cfg.extra_args = extra;
    srvproc *srv = NULL;
    char err[2048];
    ck_assert_msg(srvproc_start(&cfg, &srv, err, sizeof err) == 0, "%s", err);
    ck_assert_msg(srvproc_wait_ready(srv, 10000, err, sizeof err) == 0, "%s", err);
    runner_opts ro;
    runner_opts_default(&ro);
    runner_result res;
    runner_status st = runner_run_stream(srv, &r.stream, &ro, &res);
    ck_assert_msg(st == RUNNER_OK, "%s", sbuf_str(&res.message));
    ck_assert_uint_eq(res.ndumps, r.ndumps);
    for (size_t i = 0; i < r.ndumps; i++) {
        ck_assert_msg(res.dumps[i].parsed, "%s", res.dumps[i].parse_error);
        dumpview logv = r.dumps[i].view, replayed = res.dumps[i].view;
        logv.ndead = replayed.ndead = 0;
        logv.complete = replayed.complete = 0;
        sbuf diff = SBUF_INIT;
        int rc = dumpview_compare(&logv, runner_recorded_pid_name, &res, &replayed,
                                  runner_live_pid_name, &res, &diff);
        ck_assert_msg(rc == 0, "dump %zu differs:\n%s", i + 1, sbuf_str(&diff));
        sbuf_release(&diff);
    }
    runner_result_release(&res);
    srvproc_stop(srv, 5000, NULL, 0);
    srvproc_free(srv);
    import_result_release(&r);
}

START_TEST(replay_gives_the_same_dump) {
    replay_and_compare(DATA "seed_trace.log");
    replay_and_compare(DATA "seed_trace_v144.log");
}

/* tests/data/import/cbk_v144.log, hand-written from tracking-stories.md §2.3: CB and kernel
 * totals become `#cbk LINE DEVICE CB KERNEL` lines, bytes from the printed MB (0.0117188 MB =
 * 12288, the Fabric kernel's 0.0546875 MB = 57344, 0.00390625 MB = 4096), one per change. */
START_TEST(cbk_lines_from_a_v144_log) {
    import_opts o = {0};
    o.want_timeline = 1;
    import_result r;
    import_path(DATA "cbk_v144.log", &o, &r);
    const char *rows = sbuf_str(&r.timeline_rows);
    ck_assert_msg(strstr(rows, "4\t0\t4096\t0\t0\t0\n"
                               "#cbk 5 0 12288 0\n"
                               "#cbk 6 0 12288 57344\n"
                               "#cbk 7 1 4096 0\n"
                               "#cbk 8 0 0 57344\n"
                               "#cbk 9 0 0 0\n") != NULL,
                  "%s", rows);
    import_result_release(&r);
}
END_TEST
END_TEST

static Suite *import_suite(void) {
    Suite *s = suite_create("import");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, seed_trace_log);
    tcase_add_test(tc, seed_trace_hex_v144);
    tcase_add_test(tc, story_log_statuses);
    tcase_add_test(tc, dump_that_disagrees);
    tcase_add_test(tc, malformed_lines_are_warnings);
    tcase_add_test(tc, noise_and_interleaving);
    tcase_add_test(tc, unlocked_line_inside_a_line);
    tcase_add_test(tc, lifecycles);
    tcase_add_test(tc, inconsistent_logs_are_findings);
    tcase_add_test(tc, server_restart_loses_state);
    tcase_add_test(tc, json_report);
    tcase_add_test(tc, enhanced_server_log);
    tcase_add_test(tc, scenario_round_trip);
    tcase_add_test(tc, hostile_input);
    tcase_add_test(tc, out_of_memory);
    tcase_add_test(tc, large_log);
    tcase_add_test(tc, command_exit_status);
    tcase_add_test(tc, replay_gives_the_same_dump);
    tcase_add_test(tc, cbk_lines_from_a_v144_log);
    suite_add_tcase(s, tc);
    return s;
}


int main(void) {
    SRunner *sr = srunner_create(import_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
