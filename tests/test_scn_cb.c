/* Unit tests for the CB/kernel simulation (sim/scn_run_cbk.c, sim/kview.c, the `#cbk` lines of
 * sim/timeline.c and their reading in plots/plot_tsv.c). Every known answer is computed by
 * hand from tracking-stories.md §2 and protocol.md:
 *  - CB addresses (§2.1): a program's CBs go upward from l1_unreserved_base = 101152
 *    (0x18B20) on Wormhole, each start aligned to 32: three CBs of 4096, 4096, 2048 are at
 *    101152, 105248, 109344; a 100-byte CB pushes the next one to 101280 (101252 rounded up
 *    to 32). Every program starts from the same base. The CB_ALLOC size is the per-core size.
 *  - System kernels (§2.2, S14): at open, per device, Fabric 57344 x 2 (type 1) and Dispatch
 *    47104 x 2 (type 2) = 208896 bytes; with kernel_size=per_core x 16 Ethernet cores
 *    (917504) and x 2 dispatch cores (94208). Their ids are the run's first kernel ids 1..4,
 *    so the first program's kernel is id 5. Unloaded at close.
 *  - Application kernels: one KERNEL_LOAD per binary (size = binary, or binary x l1_banks =
 *    56 on an N300 with per_core), sent after the program's CBs, per device in mesh order.
 *  - A cached run sends nothing; `clear program cache` sends CB_FREE (stored size) and
 *    KERNEL_UNLOAD per device, then the binary's DRAM FREEs.
 *  - Before v144 (v72) a CB is an L1 ALLOC (type 1) keyed by its address and freed by address;
 *    no kernel messages, no system kernels.
 */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kview.h"
#include "mem.h"
#include "plot.h"
#include "scn.h"
#include "scn_run.h"
#include "timeline.h"

static void run_text(const char *text, plan *p) {
    char err[768];
    scn_script *s = NULL;
    ck_assert_msg(scn_parse(text, strlen(text), "t.scn", &s, err, sizeof err) == 0, "%s", err);
    scn_run_opts o;
    scn_run_opts_init(&o);
    int rc = scn_run(s, &o, p, NULL, err, sizeof err);
    ck_assert_msg(rc == SCN_RUN_OK, "run failed (%d): %s", rc, err);
    scn_script_free(s);
}

/* The SEND steps from line `line` (0: any), in plan order. */
static size_t sends_at(const plan *p, int line, const proto_msg **out, size_t max) {
    size_t n = 0;
    for (size_t i = 0; i < p->nsteps; i++)
        if (p->steps[i].kind == PLAN_SEND && (line == 0 || p->steps[i].line == line)) {
            if (n < max)
                out[n] = &p->steps[i].msg;
            n++;
        }
    return n;
}

static void expect_msg(const proto_msg *m, uint8_t type, int dev, uint64_t size, uint64_t id, uint8_t btype) {
    ck_assert_int_eq(m->type, type);
    ck_assert_int_eq(m->device_id, dev);
    ck_assert_uint_eq(m->size, size);
    ck_assert_uint_eq(m->buffer_id, id);
    ck_assert_uint_eq(m->buffer_type, btype);
}

START_TEST(cb_addresses_kernels_and_system_kernels_v144) {
    plan p;
    run_text("protocol v144\n"
             "mesh n300\n"
             "process app\n"
             "  open\n"                                    /* line 4 */
             "  program add binary=12KiB cbs=4096,4096,2048\n" /* line 5 */
             "  program add\n"                              /* line 6: cached */
             "  query\n"                                    /* line 7 */
             "  clear program cache\n"                      /* line 8 */
             "  close\n",                                   /* line 9 */
             &p);
    const proto_msg *m[64];
    /* open: system kernels, device 0 then 1 */
    ck_assert_uint_eq(sends_at(&p, 4, m, 64), 8);
    for (int d = 0; d < 2; d++) {
        expect_msg(m[4 * d + 0], PROTO_KERNEL_LOAD, d, 57344, 1, 1);
        expect_msg(m[4 * d + 1], PROTO_KERNEL_LOAD, d, 57344, 2, 1);
        expect_msg(m[4 * d + 2], PROTO_KERNEL_LOAD, d, 47104, 3, 2);
        expect_msg(m[4 * d + 3], PROTO_KERNEL_LOAD, d, 47104, 4, 2);
    }
    /* first run: binary ALLOC + view ALLOC/FREE per device (DRAM), then per device 3 CBs + kernel */
    size_t n = sends_at(&p, 5, m, 64);
    size_t k = 0, cbk = 0;
    for (size_t i = 0; i < n; i++)
        if (m[i]->type >= PROTO_CB_ALLOC) {
            m[k++] = m[i];
            cbk++;
        }
    ck_assert_uint_eq(cbk, 8);
    for (int d = 0; d < 2; d++) {
        expect_msg(m[4 * d + 0], PROTO_CB_ALLOC, d, 4096, 101152, 0);
        expect_msg(m[4 * d + 1], PROTO_CB_ALLOC, d, 4096, 105248, 0);
        expect_msg(m[4 * d + 2], PROTO_CB_ALLOC, d, 2048, 109344, 0);
        expect_msg(m[4 * d + 3], PROTO_KERNEL_LOAD, d, 12288, 5, 0);
    }
    ck_assert_uint_eq(sends_at(&p, 6, m, 64), 0); /* cached: nothing */
    /* query: cb 10240, kernel 208896 + 12288 on both devices */
    ck_assert_uint_eq(sends_at(&p, 7, m, 64), 2);
    for (size_t i = 0; i < p.nsteps; i++)
        if (p.steps[i].line == 7 && p.steps[i].has_reply) {
            ck_assert_uint_eq(p.steps[i].reply.cb_allocated, 10240);
            ck_assert_uint_eq(p.steps[i].reply.kernel_allocated, 221184);
        }
    /* cache clear: per device CB_FREE x3 (stored sizes) + KERNEL_UNLOAD, then the binary FREEs */
    n = sends_at(&p, 8, m, 64);
    ck_assert_uint_eq(n, 10);
    for (int d = 0; d < 2; d++) {
        expect_msg(m[4 * d + 0], PROTO_CB_FREE, d, 4096, 101152, 0);
        expect_msg(m[4 * d + 1], PROTO_CB_FREE, d, 4096, 105248, 0);
        expect_msg(m[4 * d + 2], PROTO_CB_FREE, d, 2048, 109344, 0);
        expect_msg(m[4 * d + 3], PROTO_KERNEL_UNLOAD, d, 12288, 5, 0);
    }
    ck_assert_int_eq(m[8]->type, PROTO_FREE);
    ck_assert_int_eq(m[9]->type, PROTO_FREE);
    /* close: the system kernels unloaded, per device */
    n = sends_at(&p, 9, m, 64);
    ck_assert_uint_eq(n, 8);
    for (int d = 0; d < 2; d++)
        for (int j = 0; j < 4; j++)
            expect_msg(m[4 * d + j], PROTO_KERNEL_UNLOAD, d, j < 2 ? 57344 : 47104, (uint64_t)(1 + j), 0);
    plan_release(&p);
}
END_TEST

START_TEST(cb_alignment_per_core_kernels_and_overlapping_programs) {
    plan p;
    run_text("protocol v144\n"
             "mesh n300 devices=1 kernel_size=per_core\n"
             "process app\n"
             "  open\n"                                       /* line 4 */
             "  program a cbs=100,4096 kernel=12KiB\n"        /* line 5 */
             "  program b cbs=8KiB kernel=4KiB kernel_id=0x1000 cores=4\n" /* line 6 */
             "  query\n",
             &p);
    const proto_msg *m[16];
    ck_assert_uint_eq(sends_at(&p, 4, m, 16), 4);
    expect_msg(m[0], PROTO_KERNEL_LOAD, 0, 917504, 1, 1); /* 57344 x 16 */
    expect_msg(m[2], PROTO_KERNEL_LOAD, 0, 94208, 3, 2);  /* 47104 x 2 */
    ck_assert_uint_eq(sends_at(&p, 5, m, 16), 3);
    expect_msg(m[0], PROTO_CB_ALLOC, 0, 100, 101152, 0);
    expect_msg(m[1], PROTO_CB_ALLOC, 0, 4096, 101280, 0);
    expect_msg(m[2], PROTO_KERNEL_LOAD, 0, 688128, 5, 0); /* 12288 x 56 cores */
    ck_assert_uint_eq(sends_at(&p, 6, m, 16), 2);
    expect_msg(m[0], PROTO_CB_ALLOC, 0, 8192, 101152, 0); /* the same base as program a */
    expect_msg(m[1], PROTO_KERNEL_LOAD, 0, 16384, 0x1000, 0); /* 4096 x 4 cores */
    /* the server adds every CB_ALLOC although b's overwrote a's key at 101152 */
    for (size_t i = 0; i < p.nsteps; i++)
        if (p.steps[i].has_reply) {
            ck_assert_uint_eq(p.steps[i].reply.cb_allocated, 100 + 4096 + 8192);
            ck_assert_uint_eq(p.steps[i].reply.kernel_allocated, 2 * 917504 + 2 * 94208 + 688128 + 16384);
        }
    plan_release(&p);
}
END_TEST

START_TEST(pre_v144_cbs_are_l1_allocs_and_no_kernels) {
    plan p;
    run_text("protocol v72\n"
             "mesh n300 devices=1\n"
             "process app\n"
             "  open\n"                                       /* line 4 */
             "  program add binary=12KiB cbs=4096,2048\n"     /* line 5 */
             "  clear program cache\n",                       /* line 6 */
             &p);
    const proto_msg *m[16];
    ck_assert_uint_eq(sends_at(&p, 4, m, 16), 0);
    size_t n = sends_at(&p, 5, m, 16);
    size_t l1 = 0;
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_lt(m[i]->type, PROTO_CB_ALLOC);
        if (m[i]->type == PROTO_ALLOC && m[i]->buffer_type == 1) {
            expect_msg(m[i], PROTO_ALLOC, 0, l1 ? 2048 : 4096, l1 ? 105248 : 101152, 1);
            l1++;
        }
    }
    ck_assert_uint_eq(l1, 2);
    n = sends_at(&p, 6, m, 16);
    ck_assert_uint_eq(n, 3); /* FREE 101152, FREE 105248, the binary's FREE */
    expect_msg(m[0], PROTO_FREE, 0, 0, 101152, 0);
    expect_msg(m[1], PROTO_FREE, 0, 0, 105248, 0);
    ck_assert_int_eq(m[2]->type, PROTO_FREE);
    plan_release(&p);
}
END_TEST

/* ---- DUMP_KERNELS reports ----------------------------------------------------------- */

static const char *model_report = "\n"
                                  "╔══════════════════════════════════════════════════════════════╗\n"
                                  "║           DETAILED KERNEL ALLOCATIONS                       ║\n"
                                  "╚══════════════════════════════════════════════════════════════╝\n"
                                  "Total kernel allocations: 2\n"
                                  "\n"
                                  "📊 Device 0 - Total: 0.109375 MB (2 kernels)\n"
                                  "  ┌─────────────────────────────────────────────────────────┐\n"
                                  "  │ Kernel ID: 0x1\n"
                                  "  │   Size:      56 KB\n"
                                  "  │   Owner PID: 100\n"
                                  "  │   Age:       0 seconds\n"
                                  "  │\n"
                                  "  │ Kernel ID: 0x2\n"
                                  "  │   Size:      56 KB\n"
                                  "  │   Owner PID: 100\n"
                                  "  │   Age:       0 seconds\n"
                                  "  │\n"
                                  "  └─────────────────────────────────────────────────────────┘\n"
                                  "\n"
                                  "📋 DUMP_KERNELS complete.\n";

static const char *name_model(void *ctx, int32_t pid) { (void)ctx; return pid == 100 ? "app" : NULL; }
static const char *name_live(void *ctx, int32_t pid) { (void)ctx; return pid == 4242 ? "app" : NULL; }

START_TEST(kview_parse_compare_ignores_ages_and_order) {
    kview want, got;
    char err[256];
    ck_assert_int_eq(kview_parse(model_report, strlen(model_report), &want, err, sizeof err), 0);
    ck_assert(want.complete);
    ck_assert_uint_eq(want.total, 2);
    ck_assert_uint_eq(want.ndev, 1);
    ck_assert_str_eq(want.dev[0].mb, "0.109375");
    ck_assert_uint_eq(want.nk, 2);
    ck_assert_uint_eq(want.k[1].id, 2);
    ck_assert_str_eq(want.k[1].kb, "56");
    /* a server's report: other ages, the other map order, another pid for the same process */
    char live[4096];
    snprintf(live, sizeof live, "%s", model_report);
    char *a = strstr(live, "0x1\n"), *b = strstr(live, "0x2\n");
    a[2] = '2';
    b[2] = '1';
    /* owner lines as the live pid 4242, ages as 17 seconds */
    sbuf t = SBUF_INIT;
    for (const char *l = live; *l;) {
        const char *e = strchr(l, '\n');
        size_t n = (size_t)(e - l);
        if (n > 14 && strstr(l, "Owner PID:") && strstr(l, "Owner PID:") < e)
            sbuf_puts(&t, "  │   Owner PID: 4242");
        else if (strstr(l, "Age:") && strstr(l, "Age:") < e)
            sbuf_puts(&t, "  │   Age:       17 seconds");
        else
            sbuf_append(&t, l, n);
        sbuf_putc(&t, '\n');
        l = e + 1;
    }
    ck_assert_int_eq(kview_parse(sbuf_str(&t), t.len, &got, err, sizeof err), 0);
    sbuf why = SBUF_INIT;
    ck_assert_uint_eq(kview_compare(&want, name_model, NULL, &got, name_live, NULL, &why), 0);
    /* an owner that is another process is a difference */
    ck_assert_uint_eq(kview_compare(&want, name_model, NULL, &got, name_model, NULL, &why), 2);
    ck_assert_ptr_nonnull(strstr(sbuf_str(&why), "kernel 0x1 on device 0: expected 56 KB owned by app, found 56 KB owned by PID 4242"));
    /* expectations on the live report */
    struct scn_expect e;
    memset(&e, 0, sizeof e);
    uint64_t bits[4] = {1, 0, 0, 0};
    e.kind = SCN_EXPECT_KGROUPS;
    e.count = 2;
    e.has_bytes = 1;
    e.bytes = 114688;
    sbuf w = SBUF_INIT;
    ck_assert_int_eq(kview_expect_eval(&e, bits, &got, name_live, NULL, &w), 1);
    e.count = 3;
    ck_assert_int_eq(kview_expect_eval(&e, bits, &got, name_live, NULL, &w), 0);
    ck_assert_str_eq(sbuf_str(&w), "device 0: expected 3 kernels, found 2");
    sbuf_release(&w);
    sbuf_release(&why);
    sbuf_release(&t);
    kview_release(&want);
    kview_release(&got);
}
END_TEST

/* ---- timeline and plot ---------------------------------------------------------------- */

START_TEST(timeline_cbk_lines_only_on_change_and_plot_reads_them) {
    timeline *t = timeline_new();
    const uint64_t z[TIMELINE_NREGIONS] = {0, 0, 0, 0}, d[TIMELINE_NREGIONS] = {1024, 0, 0, 0};
    ck_assert_int_eq(timeline_record_cbk(t, 0, 0, 0, 0), 0); /* nothing yet: no line */
    ck_assert_int_eq(timeline_record(t, 5, 0, d), 0);
    ck_assert_int_eq(timeline_record_cbk(t, 5, 0, 4096, 57344), 0);
    ck_assert_int_eq(timeline_record_cbk(t, 6, 0, 4096, 57344), 0); /* unchanged */
    ck_assert_int_eq(timeline_add_phase(t, 7, "close"), 0);
    ck_assert_int_eq(timeline_record(t, 7, 0, z), 0);
    ck_assert_int_eq(timeline_record_cbk(t, 7, 0, 0, 0), 0);
    sbuf out = SBUF_INIT;
    timeline_write(t, &out);
    ck_assert_str_eq(sbuf_str(&out), "#allocsim-timeline v1\n#title \n#time_unit ns\n"
                                     "time\tdevice\tDRAM\tL1\tL1_SMALL\tTRACE\n"
                                     "5\t0\t1024\t0\t0\t0\n"
                                     "#cbk 5 0 4096 57344\n"
                                     "#phase 7 close\n"
                                     "7\t0\t0\t0\t0\t0\n"
                                     "#cbk 7 0 0 0\n");
    plot_timeline tl;
    char err[256];
    ck_assert_int_eq(plot_timeline_parse(out.data, out.len, "t.tsv", &tl, err, sizeof err), 0);
    ck_assert(tl.has_cbk);
    ck_assert_uint_eq(tl.nrows, 4);
    ck_assert_uint_eq(tl.rows[1].bytes[PLOT_DRAM], 1024); /* carried into the #cbk row */
    ck_assert_uint_eq(tl.rows[1].bytes[PLOT_CB], 4096);
    ck_assert_uint_eq(tl.rows[1].bytes[PLOT_KERNEL], 57344);
    ck_assert_uint_eq(tl.rows[2].bytes[PLOT_CB], 4096); /* carried into the next data row */
    ck_assert_uint_eq(tl.rows[3].bytes[PLOT_CB], 0);
    plot_timeline_release(&tl);
    /* SHM record's #shm-cb sets the CB series only; a line going back in time is an error */
    const char *shm = "#allocsim-timeline v1\ntime\tdevice\tDRAM\tL1\tL1_SMALL\tTRACE\n#shm-cb 3 1 8192\n#cbk 2 1 0 0\n";
    ck_assert_int_eq(plot_timeline_parse(shm, strlen(shm), "s.tsv", &tl, err, sizeof err), -1);
    ck_assert_str_eq(err, "s.tsv:4:1: expected time >= 3 (rows in time order), found \"#cbk 2 1 0 0\"");
    /* a timeline without #cbk lines has no CB series */
    timeline_free(t);
    t = timeline_new();
    timeline_record(t, 1, 0, d);
    sbuf_reset(&out);
    timeline_write(t, &out);
    ck_assert_ptr_null(strstr(sbuf_str(&out), "#cbk"));
    ck_assert_int_eq(plot_timeline_parse(out.data, out.len, "t.tsv", &tl, err, sizeof err), 0);
    ck_assert(!tl.has_cbk);
    plot_timeline_release(&tl);
    sbuf_release(&out);
    timeline_free(t);
}
END_TEST

int main(void) {
    Suite *s = suite_create("scn_cb");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, cb_addresses_kernels_and_system_kernels_v144);
    tcase_add_test(tc, cb_alignment_per_core_kernels_and_overlapping_programs);
    tcase_add_test(tc, pre_v144_cbs_are_l1_allocs_and_no_kernels);
    tcase_add_test(tc, kview_parse_compare_ignores_ages_and_order);
    tcase_add_test(tc, timeline_cbk_lines_only_on_change_and_plot_reads_them);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
