/* test_dumpview: the DUMP_REMAINING parser, renderer and comparator (sim/dumpview.c).
 *
 * Known answers come from protocol.md §5.7/§5.8 and the seed note (seed-trace-buffers.md):
 * the report texts below are written out by hand from those templates, not produced by the
 * code under test. Reports are fed whole, line by line, with CRLF endings and interleaved
 * with unrelated server lines; rendering must reproduce the hand-written text exactly.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dumpview.h"
#include "ledger.h"
#include "mem.h"

#define FRAME_TOP "╔══════════════════════════════════════════════════════════════╗\n"
#define TITLE "║           REMAINING ALLOCATED BUFFERS                       ║\n"
#define FRAME_BOTTOM "╚══════════════════════════════════════════════════════════════╝\n"
#define HEADER "📋 Received DUMP_REMAINING request...\n\n" FRAME_TOP TITLE FRAME_BOTTOM

#define SEED_DEVICE(d)                                   \
    "Device " #d ":\n"                                   \
    "  TRACE: 1 buffers, 11.9238 MB total\n"             \
    "    - Buffer 0x3e363c80: 12210 KB (PID 919068, ref_count=1)\n" \
    "\n"

/* The seed story's dump: the 12 503 040-byte TRACE buffer on each device of a T3K. */
static const char seed_dump[] =
    HEADER "Total tracked allocations: 8\n\n" SEED_DEVICE(0) SEED_DEVICE(1) SEED_DEVICE(2)
        SEED_DEVICE(3) SEED_DEVICE(4) SEED_DEVICE(5) SEED_DEVICE(6) SEED_DEVICE(7)
    "Total remaining buffers: 8\n\n"
    "📋 DUMP_REMAINING complete.\n";

static const char perfect_dump[] = HEADER "Total tracked allocations: 0\n\n"
                                          "✓ No buffers remaining - perfect cleanup!\n"
                                          "📋 DUMP_REMAINING complete.\n";

/* Group lines are checked against this table, independent of the code: 12210 KB each. */
static void check_seed_view(const dumpview *v) {
    ck_assert_uint_eq(v->total_tracked, 8);
    ck_assert_int_eq(v->perfect, 0);
    ck_assert_int_eq(v->complete, 1);
    ck_assert_uint_eq(v->ngroups, 8);
    ck_assert_uint_eq(v->nbuffers, 8);
    ck_assert_uint_eq(v->ndead, 0);
    for (int d = 0; d < 8; d++) {
        ck_assert_int_eq(v->groups[d].device_id, d);
        ck_assert_uint_eq(v->groups[d].buffer_type, 4);
        ck_assert_uint_eq(v->groups[d].count, 1);
        ck_assert_str_eq(v->groups[d].mb, "11.9238");
        ck_assert_int_eq(v->groups[d].listed, 1);
        ck_assert_int_eq(v->buffers[d].device_id, d);
        ck_assert_uint_eq(v->buffers[d].buffer_type, 4);
        ck_assert_uint_eq(v->buffers[d].buffer_id, 1043741824u);
        ck_assert_str_eq(v->buffers[d].kb, "12210");
        ck_assert_int_eq(v->buffers[d].pid, 919068);
        ck_assert_int_eq(v->buffers[d].ref_count, 1);
    }
}

START_TEST(seed_whole) {
    dumpview v;
    char err[256] = "";
    ck_assert_int_eq(dumpview_parse_text(seed_dump, strlen(seed_dump), &v, err, sizeof err), 0);
    check_seed_view(&v);
    dumpview_release(&v);
}
END_TEST

/* Feeding line by line: 1 exactly at the completion line, 0 before. */
START_TEST(seed_line_by_line) {
    dumpview_parser *p = dumpview_parser_new();
    char err[256];
    const char *s = seed_dump;
    int lines = 0, done_at = -1;
    while (*s) {
        const char *nl = strchr(s, '\n');
        int r = dumpview_parser_line(p, s, (size_t)(nl - s), err, sizeof err);
        ck_assert_int_ge(r, 0);
        lines++;
        if (r == 1)
            done_at = lines;
        s = nl + 1;
    }
    ck_assert_int_eq(done_at, lines);
    dumpview v;
    dumpview_parser_take(p, &v);
    check_seed_view(&v);
    dumpview_release(&v);
    dumpview_parser_free(p);
}
END_TEST

START_TEST(seed_crlf_and_newlines_kept) {
    char buf[4096];
    size_t o = 0;
    for (const char *s = seed_dump; *s; s++) {
        if (*s == '\n')
            buf[o++] = '\r';
        buf[o++] = *s;
    }
    dumpview v;
    char err[256];
    ck_assert_int_eq(dumpview_parse_text(buf, o, &v, err, sizeof err), 0);
    check_seed_view(&v);
    dumpview_release(&v);
    /* lines passed with their '\n' still attached parse the same */
    dumpview_parser *p = dumpview_parser_new();
    const char *s = seed_dump;
    int r = 0;
    while (*s) {
        const char *nl = strchr(s, '\n');
        r = dumpview_parser_line(p, s, (size_t)(nl - s) + 1, err, sizeof err);
        ck_assert_int_ge(r, 0);
        s = nl + 1;
    }
    ck_assert_int_eq(r, 1);
    dumpview_parser_take(p, &v);
    check_seed_view(&v);
    dumpview_release(&v);
    dumpview_parser_free(p);
}
END_TEST

/* Rendering a parsed view gives back the server's text when its buffer lines were sorted. */
START_TEST(render_reproduces_server_text) {
    dumpview v;
    sbuf out = SBUF_INIT;
    ck_assert_int_eq(dumpview_parse_text(seed_dump, strlen(seed_dump), &v, NULL, 0), 0);
    dumpview_render(&v, NULL, NULL, &out);
    ck_assert_str_eq(sbuf_str(&out), seed_dump);
    dumpview_release(&v);
    sbuf_reset(&out);
    ck_assert_int_eq(dumpview_parse_text(perfect_dump, strlen(perfect_dump), &v, NULL, 0), 0);
    ck_assert_int_eq(v.perfect, 1);
    ck_assert_uint_eq(v.total_tracked, 0);
    ck_assert_uint_eq(v.ngroups, 0);
    dumpview_render(&v, NULL, NULL, &out);
    ck_assert_str_eq(sbuf_str(&out), perfect_dump);
    dumpview_release(&v);
    sbuf_release(&out);
}
END_TEST

/* Negative device ids first, types in value order, buffer lines sorted by id whatever order
 * the server's hash map printed them in; SYSTEM_MEMORY and L1_SMALL are separate groups. */
static const char mixed_dump[] =
    "📋 Received DUMP_REMAINING request...\n"
    "\n"
    "⚠️  Detected dead processes, cleaning up orphaned buffers...\n"
    "   PID 4242 is dead, removing its buffers...\n"
    "   ✓ Removed 2 buffers (0.0234375 MB) from PID 4242\n"
    "\n"
    "\n" FRAME_TOP TITLE FRAME_BOTTOM
    "Total tracked allocations: 6\n"
    "\n"
    "Device -1:\n"
    "  DRAM: 1 buffers, 0.000976562 MB total\n"
    "    - Buffer 0x10: 1 KB (PID 7, ref_count=1)\n"
    "\n"
    "Device 0:\n"
    "  L1: 2 buffers, 0.0117188 MB total\n"
    "    - Buffer 0x3000: 8 KB (PID 7, ref_count=2)\n"
    "    - Buffer 0x1000: 4 KB (PID 7, ref_count=1)\n"
    "  SYSTEM_MEMORY: 1 buffers, 0.000976562 MB total\n"
    "    - Buffer 0x20: 1 KB (PID 7, ref_count=1)\n"
    "  L1_SMALL: 1 buffers, 0.000976562 MB total\n"
    "    - Buffer 0x30: 1 KB (PID 8, ref_count=1)\n"
    "\n"
    "Device 3:\n"
    "  TRACE: 1 buffers, 11.9238 MB total\n"
    "    - Buffer 0x3e363c80: 12210 KB (PID 919068, ref_count=1)\n"
    "\n"
    "Total remaining buffers: 6\n"
    "\n"
    "📋 DUMP_REMAINING complete.\n";

START_TEST(mixed_order_and_dead_block) {
    dumpview v;
    char err[256] = "";
    ck_assert_msg(dumpview_parse_text(mixed_dump, strlen(mixed_dump), &v, err, sizeof err) == 0,
                  "%s", err);
    ck_assert_uint_eq(v.ndead, 1);
    ck_assert_int_eq(v.dead[0].pid, 4242);
    ck_assert_uint_eq(v.dead[0].buffers, 2);
    ck_assert_str_eq(v.dead[0].mb, "0.0234375");
    ck_assert_uint_eq(v.ngroups, 5);
    ck_assert_int_eq(v.groups[0].device_id, -1);
    ck_assert_uint_eq(v.groups[1].buffer_type, 1);
    ck_assert_uint_eq(v.groups[2].buffer_type, 2);
    ck_assert_uint_eq(v.groups[3].buffer_type, 3);
    ck_assert_int_eq(v.groups[4].device_id, 3);
    ck_assert_uint_eq(v.nbuffers, 6);
    ck_assert_uint_eq(v.buffers[1].buffer_id, 0x1000);
    ck_assert_uint_eq(v.buffers[2].buffer_id, 0x3000);
    ck_assert_int_eq(v.buffers[2].ref_count, 2);
    ck_assert_int_eq(v.buffers[4].pid, 8);
    /* rendering sorts the two L1 lines and is otherwise the server's text */
    sbuf out = SBUF_INIT;
    dumpview_render(&v, NULL, NULL, &out);
    const char *l1a = strstr(sbuf_str(&out), "0x1000"), *l1b = strstr(sbuf_str(&out), "0x3000");
    ck_assert_ptr_nonnull(l1a);
    ck_assert_ptr_nonnull(l1b);
    ck_assert(l1a < l1b);
    ck_assert_uint_eq(out.len, strlen(mixed_dump));
    /* round trip: render -> parse -> equal views and identical text */
    dumpview w;
    ck_assert_int_eq(dumpview_parse_text(out.data, out.len, &w, err, sizeof err), 0);
    sbuf diff = SBUF_INIT, out2 = SBUF_INIT;
    ck_assert_int_eq(dumpview_compare(&v, NULL, NULL, &w, NULL, NULL, &diff), 0);
    ck_assert_uint_eq(diff.len, 0);
    dumpview_render(&w, NULL, NULL, &out2);
    ck_assert_str_eq(sbuf_str(&out2), sbuf_str(&out));
    sbuf_release(&diff);
    sbuf_release(&out);
    sbuf_release(&out2);
    dumpview_release(&w);
    dumpview_release(&v);
}
END_TEST

/* A group of 11 or more buffers is printed as its summary line only (§5.7). */
START_TEST(more_than_ten_is_summary_only) {
    static const char text[] = HEADER "Total tracked allocations: 12\n\n"
                                      "Device 0:\n"
                                      "  DRAM: 11 buffers, 0.0107422 MB total\n"
                                      "  L1: 1 buffers, 0.000976562 MB total\n"
                                      "    - Buffer 0x99: 1 KB (PID 5, ref_count=1)\n"
                                      "\n"
                                      "Total remaining buffers: 12\n\n"
                                      "📋 DUMP_REMAINING complete.\n";
    dumpview v;
    char err[256];
    ck_assert_int_eq(dumpview_parse_text(text, strlen(text), &v, err, sizeof err), 0);
    ck_assert_uint_eq(v.ngroups, 2);
    ck_assert_int_eq(v.groups[0].listed, 0);
    ck_assert_uint_eq(v.groups[0].count, 11);
    ck_assert_int_eq(v.groups[1].listed, 1);
    ck_assert_uint_eq(v.nbuffers, 1);
    ck_assert_uint_eq(v.buffers[0].buffer_type, 1);
    /* the other side listing ten buffers of a group it counts as 11 is not "missing" buffers */
    dumpview w;
    ck_assert_int_eq(dumpview_parse_text(text, strlen(text), &w, err, sizeof err), 0);
    sbuf diff = SBUF_INIT;
    ck_assert_int_eq(dumpview_compare(&v, NULL, NULL, &w, NULL, NULL, &diff), 0);
    sbuf_release(&diff);
    sbuf out = SBUF_INIT;
    dumpview_render(&v, NULL, NULL, &out);
    ck_assert_str_eq(sbuf_str(&out), text);
    sbuf_release(&out);
    dumpview_release(&w);
    dumpview_release(&v);
}
END_TEST

/* Other threads' lines between the request and the body, and unlocked lines (another
 * connection's request/completion, Unknown message type) inside the body, are skipped. */
START_TEST(interleaved_lines_are_skipped) {
    static const char text[] =
        "✓ [PID 1] Allocated 4096 bytes of L1 on device 0 (buffer_id=4096)\n"
        "📋 Received DUMP_REMAINING request...\n"
        "✓ [PID 1] Allocated 4096 bytes of L1 on device 1 (buffer_id=0x1000)\n"
        "\n"
        "📊 Current Statistics:\n"
        "  Device 0:\n"
        "    Buffers: 1\n"
        "    DRAM: 0 bytes (0 KB)\n"
        "    L1: 4096 bytes (4 KB)\n"
        "    Total: 4096 bytes\n"
        "  Active allocations: 1\n"
        "🔄 Background cleanup thread started (checking every 10s)\n"
        "\n" FRAME_TOP TITLE FRAME_BOTTOM
        "Total tracked allocations: 8\n"
        "\n"
        "📋 Received DUMP_REMAINING request...\n"
        SEED_DEVICE(0) SEED_DEVICE(1) SEED_DEVICE(2) SEED_DEVICE(3)
        "Unknown message type: 13\n"
        SEED_DEVICE(4) SEED_DEVICE(5) SEED_DEVICE(6) SEED_DEVICE(7)
        "📋 DUMP_REMAINING complete.\n"
        "Total remaining buffers: 8\n"
        "\n"
        "some unrelated text\n"
        "📋 DUMP_REMAINING complete.\n";
    dumpview v;
    char err[256] = "";
    ck_assert_msg(dumpview_parse_text(text, strlen(text), &v, err, sizeof err) == 0, "%s", err);
    check_seed_view(&v);
    dumpview_release(&v);
}
END_TEST

START_TEST(malformed_group_line) {
    static const char text[] = HEADER "Total tracked allocations: 1\n\n"
                                      "Device 0:\n"
                                      "  TRACE: one buffers, 11.9238 MB total\n";
    dumpview v;
    char err[256];
    ck_assert_int_eq(dumpview_parse_text(text, strlen(text), &v, err, sizeof err), -1);
    ck_assert_str_eq(err, "line 9: expected '  «TYPE»: «n» buffers, «MB» MB total', found "
                          "'  TRACE: one buffers, 11.9238 MB total'");
    /* the incremental parser reports the line and stays usable */
    dumpview_parser *p = dumpview_parser_new();
    const char *s = text;
    int r = 0, errors = 0;
    while (*s) {
        const char *nl = strchr(s, '\n');
        r = dumpview_parser_line(p, s, (size_t)(nl - s), err, sizeof err);
        errors += r < 0;
        s = nl + 1;
    }
    ck_assert_int_eq(errors, 1);
    ck_assert_int_eq(dumpview_parser_state(p), DUMPVIEW_BODY);
    static const char more[] = "  TRACE: 1 buffers, 11.9238 MB total";
    ck_assert_int_eq(dumpview_parser_line(p, more, strlen(more), err, sizeof err), 0);
    dumpview_parser_free(p);
}
END_TEST

START_TEST(malformed_buffer_and_bytes) {
    static const char text[] = HEADER "Total tracked allocations: 1\n\n"
                                      "Device 0:\n"
                                      "  TRACE: 1 buffers, 11.9238 MB total\n"
                                      "    - Buffer 0x3e363c80: 12210 KB (PID \xff\x01, ref_count=1)\n";
    dumpview v;
    char err[256];
    ck_assert_int_eq(dumpview_parse_text(text, strlen(text), &v, err, sizeof err), -1);
    ck_assert_str_eq(err, "line 10: expected '    - Buffer 0x«hex»: «KB» KB (PID «pid», "
                          "ref_count=«n»)', found '    - Buffer 0x3e363c80: 12210 KB (PID "
                          "\\xff\\x01, ref_count=1)'");
}
END_TEST

START_TEST(cut_off_and_missing_reports) {
    dumpview v;
    char err[256];
    static const char none[] = "✓ [PID 1] Allocated 1 bytes of DRAM on device 0 (buffer_id=1)\n";
    ck_assert_int_eq(dumpview_parse_text(none, strlen(none), &v, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "expected '📋 Received DUMP_REMAINING request...'"));
    /* cut inside the body */
    size_t cut = (size_t)(strstr(seed_dump, "Device 5:") - seed_dump);
    ck_assert_int_eq(dumpview_parse_text(seed_dump, cut, &v, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "expected 'Total remaining buffers: «N»', found end of text"));
    /* body complete but no completion line: parses, complete = 0 */
    cut = (size_t)(strstr(seed_dump, "📋 DUMP_REMAINING complete.") - seed_dump);
    ck_assert_int_eq(dumpview_parse_text(seed_dump, cut, &v, err, sizeof err), 0);
    ck_assert_int_eq(v.complete, 0);
    ck_assert_uint_eq(v.nbuffers, 8);
    dumpview_release(&v);
    /* totals that disagree */
    static const char bad_total[] = HEADER "Total tracked allocations: 0\n\n"
                                           "Total remaining buffers: 3\n";
    ck_assert_int_eq(dumpview_parse_text(bad_total, strlen(bad_total), &v, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "expected 'Total remaining buffers: 0'"));
}
END_TEST

/* ---- comparison ------------------------------------------------------------------------ */

typedef struct {
    int32_t pid;
    const char *name;
} pid_name;

static const char *lookup(void *ctx, int32_t pid) {
    for (const pid_name *m = ctx; m->name; m++)
        if (m->pid == pid)
            return m->name;
    return NULL;
}

static void parse_or_fail(const char *text, dumpview *v) {
    char err[256] = "";
    ck_assert_msg(dumpview_parse_text(text, strlen(text), v, err, sizeof err) == 0, "%s", err);
}

/* The seed dump with real pid 919068 equals the same dump with simulated pid 1000 when both
 * map to the same process name; without mappers every buffer differs by owner. */
START_TEST(compare_maps_pids_by_name) {
    dumpview real, sim;
    parse_or_fail(seed_dump, &real);
    parse_or_fail(seed_dump, &sim);
    for (size_t i = 0; i < sim.nbuffers; i++)
        sim.buffers[i].pid = 1000;
    pid_name real_names[] = {{919068, "llama"}, {0, NULL}};
    pid_name sim_names[] = {{1000, "llama"}, {0, NULL}};
    sbuf diff = SBUF_INIT;
    ck_assert_int_eq(dumpview_compare(&sim, lookup, sim_names, &real, lookup, real_names, &diff), 0);
    ck_assert_uint_eq(diff.len, 0);
    ck_assert_int_eq(dumpview_compare(&sim, NULL, NULL, &real, NULL, NULL, &diff), 1);
    ck_assert_ptr_nonnull(strstr(sbuf_str(&diff), "buffer 0x3e363c80 on device 0 (TRACE): owner "
                                                  "expected PID 1000, found PID 919068\n"));
    sbuf_release(&diff);
    /* render with names */
    sbuf out = SBUF_INIT;
    dumpview_render(&sim, lookup, sim_names, &out);
    ck_assert_ptr_nonnull(strstr(sbuf_str(&out), "    - Buffer 0x3e363c80: 12210 KB (PID llama, ref_count=1)\n"));
    sbuf_release(&out);
    dumpview_release(&real);
    dumpview_release(&sim);
}
END_TEST

START_TEST(compare_describes_each_difference) {
    /* actual: device 7's TRACE buffer missing (group and total adjusted), an extra L1 buffer
     * on device 0, device 2's ref_count raised */
    static const char actual_text[] =
        HEADER "Total tracked allocations: 8\n\n"
        "Device 0:\n"
        "  L1: 1 buffers, 0.00390625 MB total\n"
        "    - Buffer 0x1000: 4 KB (PID 919068, ref_count=1)\n"
        "  TRACE: 1 buffers, 11.9238 MB total\n"
        "    - Buffer 0x3e363c80: 12210 KB (PID 919068, ref_count=1)\n"
        "\n" SEED_DEVICE(1)
        "Device 2:\n"
        "  TRACE: 1 buffers, 11.9238 MB total\n"
        "    - Buffer 0x3e363c80: 12210 KB (PID 919068, ref_count=2)\n"
        "\n" SEED_DEVICE(3) SEED_DEVICE(4) SEED_DEVICE(5) SEED_DEVICE(6)
        "Total remaining buffers: 8\n\n"
        "📋 DUMP_REMAINING complete.\n";
    dumpview e, a;
    parse_or_fail(seed_dump, &e);
    parse_or_fail(actual_text, &a);
    sbuf diff = SBUF_INIT;
    ck_assert_int_eq(dumpview_compare(&e, NULL, NULL, &a, NULL, NULL, &diff), 1);
    const char *d = sbuf_str(&diff);
    ck_assert_ptr_nonnull(strstr(d, "missing group TRACE on device 7 (1 buffers, 11.9238 MB)\n"));
    ck_assert_ptr_nonnull(strstr(d, "extra group L1 on device 0 (1 buffers, 0.00390625 MB)\n"));
    ck_assert_ptr_nonnull(strstr(d, "missing buffer 0x3e363c80 on device 7 (TRACE, 12210 KB, PID "
                                    "919068, ref_count=1)\n"));
    ck_assert_ptr_nonnull(strstr(d, "extra buffer 0x1000 on device 0 (L1, 4 KB, PID 919068, "
                                    "ref_count=1)\n"));
    ck_assert_ptr_nonnull(strstr(d, "buffer 0x3e363c80 on device 2 (TRACE): ref_count expected 1, "
                                    "found 2\n"));
    ck_assert_ptr_null(strstr(d, "total tracked"));
    dumpview_release(&a);

    /* total, group count and MB */
    static const char count_text[] =
        HEADER "Total tracked allocations: 9\n\n"
        "Device 0:\n"
        "  TRACE: 2 buffers, 23.8477 MB total\n"
        "    - Buffer 0x3e363c80: 12210 KB (PID 919068, ref_count=1)\n"
        "    - Buffer 0x40000000: 12210 KB (PID 919068, ref_count=1)\n"
        "\n" SEED_DEVICE(1) SEED_DEVICE(2) SEED_DEVICE(3) SEED_DEVICE(4) SEED_DEVICE(5)
            SEED_DEVICE(6) SEED_DEVICE(7)
        "Total remaining buffers: 9\n\n"
        "📋 DUMP_REMAINING complete.\n";
    parse_or_fail(count_text, &a);
    sbuf_reset(&diff);
    ck_assert_int_eq(dumpview_compare(&e, NULL, NULL, &a, NULL, NULL, &diff), 1);
    d = sbuf_str(&diff);
    ck_assert_ptr_nonnull(strstr(d, "total tracked allocations: expected 8, found 9\n"));
    ck_assert_ptr_nonnull(strstr(d, "group TRACE on device 0: expected 1 buffers, found 2\n"));
    ck_assert_ptr_nonnull(strstr(d, "group TRACE on device 0: expected 11.9238 MB total, found "
                                    "23.8477 MB\n"));
    ck_assert_ptr_nonnull(strstr(d, "extra buffer 0x40000000 on device 0"));
    dumpview_release(&a);

    /* perfect vs not */
    parse_or_fail(perfect_dump, &a);
    sbuf_reset(&diff);
    ck_assert_int_eq(dumpview_compare(&e, NULL, NULL, &a, NULL, NULL, &diff), 1);
    ck_assert_ptr_nonnull(strstr(sbuf_str(&diff), "unexpected '✓ No buffers remaining - perfect cleanup!'"));
    ck_assert_ptr_nonnull(strstr(sbuf_str(&diff), "missing group TRACE on device 3"));
    dumpview_release(&a);
    dumpview_release(&e);
    sbuf_release(&diff);
}
END_TEST

START_TEST(compare_caps_the_description) {
    dumpview e, a;
    parse_or_fail(seed_dump, &e);
    parse_or_fail(perfect_dump, &a);
    sbuf diff = SBUF_INIT;
    /* 1 total + 1 perfect + 8 groups + 8 buffers = 18 differences: all listed */
    ck_assert_int_eq(dumpview_compare(&e, NULL, NULL, &a, NULL, NULL, &diff), 1);
    size_t lines = 0;
    for (const char *s = sbuf_str(&diff); *s; s++)
        lines += *s == '\n';
    ck_assert_uint_eq(lines, 18);
    /* 8 buffers differing in ref_count, owner and size: 24 differences, 20 described */
    dumpview b;
    parse_or_fail(seed_dump, &b);
    for (size_t i = 0; i < b.nbuffers; i++) {
        b.buffers[i].ref_count = 3;
        b.buffers[i].pid = 1;
        strcpy(b.buffers[i].kb, "92210");
    }
    sbuf_reset(&diff);
    ck_assert_int_eq(dumpview_compare(&e, NULL, NULL, &b, NULL, NULL, &diff), 1);
    ck_assert_ptr_nonnull(strstr(sbuf_str(&diff), "... and 4 more differences\n"));
    dumpview_release(&a);
    dumpview_release(&b);
    dumpview_release(&e);
    sbuf_release(&diff);
}
END_TEST

START_TEST(compare_dead_blocks) {
    dumpview e, a;
    parse_or_fail(mixed_dump, &e);
    parse_or_fail(mixed_dump, &a);
    a.dead[0].buffers = 3;
    sbuf diff = SBUF_INIT;
    ck_assert_int_eq(dumpview_compare(&e, NULL, NULL, &a, NULL, NULL, &diff), 1);
    ck_assert_ptr_nonnull(strstr(sbuf_str(&diff), "dead-process cleanup of PID 4242: expected 2 "
                                                  "buffers (0.0234375 MB), found 3 (0.0234375 MB)"));
    a.ndead = 0;
    sbuf_reset(&diff);
    ck_assert_int_eq(dumpview_compare(&e, NULL, NULL, &a, NULL, NULL, &diff), 1);
    ck_assert_ptr_nonnull(strstr(sbuf_str(&diff), "missing dead-process cleanup of PID 4242"));
    a.ndead = 1;
    dumpview_release(&a);
    dumpview_release(&e);
    /* the same PID cleaned up twice (two cleanup passes before the report) is matched
     * occurrence by occurrence, not both against the first */
    static const char twice[] =
        "📋 Received DUMP_REMAINING request...\n"
        "\n⚠️  Detected dead processes, cleaning up orphaned buffers...\n"
        "   PID 7 is dead, removing its buffers...\n"
        "   ✓ Removed 2 buffers (1 MB) from PID 7\n\n"
        "\n⚠️  Detected dead processes, cleaning up orphaned buffers...\n"
        "   PID 7 is dead, removing its buffers...\n"
        "   ✓ Removed 0 buffers (0 MB) from PID 7\n\n"
        "\n" FRAME_TOP TITLE FRAME_BOTTOM "Total tracked allocations: 0\n\n"
        "✓ No buffers remaining - perfect cleanup!\n"
        "📋 DUMP_REMAINING complete.\n";
    parse_or_fail(twice, &e);
    parse_or_fail(twice, &a);
    ck_assert_uint_eq(e.ndead, 2);
    sbuf_reset(&diff);
    ck_assert_int_eq(dumpview_compare(&e, NULL, NULL, &a, NULL, NULL, &diff), 0);
    a.dead[1].buffers = 1;
    ck_assert_int_eq(dumpview_compare(&e, NULL, NULL, &a, NULL, NULL, &diff), 1);
    ck_assert_ptr_nonnull(strstr(sbuf_str(&diff), "dead-process cleanup of PID 7: expected 0 "
                                                  "buffers (0 MB), found 1 (0 MB)"));
    dumpview_release(&a);
    dumpview_release(&e);
    sbuf_release(&diff);
}
END_TEST

/* Every allocation failure is reported, never crashes, never leaks (ASan build). */
START_TEST(out_of_memory_is_an_error) {
    int saw_oom = 0;
    for (long n = 0; n < 40; n++) {
        dumpview v;
        char err[256] = "";
        mem_fail_after(n);
        int r = dumpview_parse_text(mixed_dump, strlen(mixed_dump), &v, err, sizeof err);
        mem_fail_after(-1);
        if (r == 0) {
            ck_assert_uint_eq(v.nbuffers, 6);
            dumpview_release(&v);
        } else {
            ck_assert_ptr_nonnull(strstr(err, "out of memory"));
            saw_oom = 1;
        }
    }
    ck_assert(saw_oom);
}
END_TEST

static void collect(void *ctx, ledger_stream stream, const char *line, size_t len) {
    if (stream == LEDGER_STDOUT) {
        sbuf_append(ctx, line, len);
        sbuf_putc(ctx, '\n');
    }
}

static void ledger_send(ledger *l, uint8_t type, int32_t dev, uint64_t size, uint8_t btype,
                        int32_t pid, uint64_t id) {
    proto_msg m;
    memset(&m, 0, sizeof m);
    m.type = type;
    m.device_id = dev;
    m.size = size;
    m.buffer_type = btype;
    m.process_id = pid;
    m.buffer_id = id;
    ck_assert_int_ge(ledger_apply(l, &m, NULL), 0);
}

/* The view built from the ledger's entries equals the ledger's printed report, parsed: the
 * seed's TRACE buffers, a group of 11 (summary only), a ref_count of 2, SYSTEM_MEMORY. */
START_TEST(from_ledger_equals_printed_report) {
    sbuf text = SBUF_INIT;
    ledger_config cfg = {0};
    cfg.rev = PROTO_V144_256;
    cfg.emit = collect;
    cfg.emit_ctx = &text;
    ledger *l = ledger_new(&cfg);
    ck_assert_ptr_nonnull(l);
    dumpview a, b;
    char err[256] = "";
    ck_assert_int_eq(dumpview_from_ledger(l, &a), 0);
    ck_assert_int_eq(a.perfect, 1);
    ck_assert_uint_eq(a.ngroups, 0);
    dumpview_release(&a);
    for (int d = 0; d < 8; d++)
        ledger_send(l, PROTO_ALLOC, d, 12503040, 4, 919068, 1043741824u);
    for (int i = 0; i < 11; i++)
        ledger_send(l, PROTO_ALLOC, 0, 1024, 0, 5, 0x1000u + 0x400u * (unsigned)i);
    ledger_send(l, PROTO_ALLOC, 200, 64, 1, 6, 0x40);
    ledger_send(l, PROTO_ALLOC, 200, 64, 1, 7, 0x40);
    ledger_send(l, PROTO_ALLOC, 3, 256, 2, 6, 0x80);
    sbuf_reset(&text);
    ledger_send(l, PROTO_DUMP_REMAINING, 0, 0, 0, 0, 0);
    ck_assert_msg(dumpview_parse_text(text.data, text.len, &b, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(dumpview_from_ledger(l, &a), 0);
    ck_assert_uint_eq(a.total_tracked, 21);
    ck_assert_uint_eq(a.nbuffers, 10); /* the 11 DRAM buffers are not listed */
    sbuf diff = SBUF_INIT;
    ck_assert_msg(dumpview_compare(&b, NULL, NULL, &a, NULL, NULL, &diff) == 0, "%s", sbuf_str(&diff));
    sbuf r1 = SBUF_INIT, r2 = SBUF_INIT;
    dumpview_render(&a, NULL, NULL, &r1);
    dumpview_render(&b, NULL, NULL, &r2);
    ck_assert_str_eq(sbuf_str(&r1), sbuf_str(&r2));
    /* and the ledger printed its buffer lines sorted, so rendering reproduces it exactly */
    ck_assert_str_eq(sbuf_str(&r1), sbuf_str(&text));
    sbuf_release(&r1);
    sbuf_release(&r2);
    sbuf_release(&diff);
    sbuf_release(&text);
    dumpview_release(&a);
    dumpview_release(&b);
    ledger_free(l);
}
END_TEST

static Suite *dumpview_suite(void) {
    Suite *s = suite_create("dumpview");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, seed_whole);
    tcase_add_test(tc, seed_line_by_line);
    tcase_add_test(tc, seed_crlf_and_newlines_kept);
    tcase_add_test(tc, render_reproduces_server_text);
    tcase_add_test(tc, mixed_order_and_dead_block);
    tcase_add_test(tc, more_than_ten_is_summary_only);
    tcase_add_test(tc, interleaved_lines_are_skipped);
    tcase_add_test(tc, malformed_group_line);
    tcase_add_test(tc, malformed_buffer_and_bytes);
    tcase_add_test(tc, cut_off_and_missing_reports);
    tcase_add_test(tc, compare_maps_pids_by_name);
    tcase_add_test(tc, compare_describes_each_difference);
    tcase_add_test(tc, compare_caps_the_description);
    tcase_add_test(tc, compare_dead_blocks);
    tcase_add_test(tc, out_of_memory_is_an_error);
    tcase_add_test(tc, from_ledger_equals_printed_report);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(dumpview_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
