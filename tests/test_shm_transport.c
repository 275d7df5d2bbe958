/* test_shm_transport: the SHM transport end to end — plan → shm_plan → real stand-in
 * processes writing real region files with atomics → the regions at every check point.
 *
 * Known answers come from the spec (shm-tracking.md) and the seed story, not from the code:
 * the seed story's 12 503 040-byte TRACE buffer on each of the 8 T3K chips before close and
 * nothing after (v4); a process slot names the process by its comm, cut to 15 bytes; a
 * crashed process's bytes stay (v2b and v4) until a v4 writer attaches and reaps it (v4
 * only); v1 regions are named by the composite (board << 8) | location with the remote N300
 * chip at location 1; every region of a v4 run is 8576 bytes, of a v1-K run 9280. Regions
 * live in private directories; the machine's /dev/shm/tt_device_* are never touched.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shm_io.h"
#include "shm_plan.h"
#include "shm_run.h"
#include "scn.h"
#include "scn_run.h"

typedef struct {
    scn_script *s;
    plan p;
    shm_plan sp;
    shmio_dir dir;
    shmrun x;
} run_t;

static void run_text(run_t *r, const char *text) {
    memset(r, 0, sizeof *r);
    char err[1024];
    ck_assert_msg(scn_parse(text, strlen(text), "t.scn", &r->s, err, sizeof err) == 0, "%s", err);
    scn_run_opts ro;
    scn_run_opts_init(&ro);
    ck_assert_msg(scn_run(r->s, &ro, &r->p, NULL, err, sizeof err) == SCN_RUN_OK, "%s", err);
    ck_assert_msg(shmp_build(r->s, &r->p, &r->sp, err, sizeof err) == 0, "%s", err);
    ck_assert_msg(shmio_dir_open(&r->dir, NULL, 0, err, sizeof err) == 0, "%s", err);
    ck_assert_msg(strncmp(r->dir.path, "/dev/shm/allocsim-", 18) == 0, "%s", r->dir.path);
    ck_assert_msg(shmrun_init(&r->x, &r->p, &r->sp, &r->dir, NULL) == 0, "%s", r->x.msg);
    ck_assert_msg(shmrun_finish(&r->x) == 0, "%s", r->x.msg);
}

static void run_release(run_t *r) {
    shmrun_release(&r->x);
    shmio_dir_close(&r->dir);
    shmp_release(&r->sp);
    plan_release(&r->p);
    scn_script_free(r->s);
}

/* The actual region of device dev at dump d (-1: end of run), decoded. */
static void actual(run_t *r, int d, int32_t dev, shml_region *out, size_t *size) {
    const shmp_image *im = d < 0 ? &r->x.final : &r->x.actual[d];
    for (int c = 0; c < r->sp.nchips; c++) {
        if (r->sp.chips[c].device_id != dev)
            continue;
        ck_assert_msg(im->exists[c], "region of device %d missing", (int)dev);
        *size = im->size[c];
        char err[256];
        ck_assert_msg(shml_decode(r->sp.chips[c].layout, shmp_image_bytes(im, c), im->size[c], 0, out, err,
                                  sizeof err) == 0,
                      "%s", err);
        return;
    }
    ck_abort_msg("no region for device %d", (int)dev);
}

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    size_t got = fread(b, 1, (size_t)n, f);
    b[got] = 0;
    fclose(f);
    return b;
}

START_TEST(test_seed_story_v4) {
    char path[1024];
    const char *src = getenv("ALLOCSIM_SOURCE_DIR");
    snprintf(path, sizeof path, "%s/scenarios/t3k_llama_trace.scn", src ? src : ALLOCSIM_SOURCE_DIR);
    char *text = read_file(path);
    ck_assert_ptr_nonnull(text);
    run_t r;
    run_text(&r, text);
    free(text);
    ck_assert_int_eq(r.sp.nchips, 8);
    ck_assert_uint_ge(r.p.ndumps, 2);
    for (int32_t dev = 0; dev < 8; dev++) {
        shml_region g;
        size_t size;
        actual(&r, 0, dev, &g, &size);
        ck_assert_uint_eq(size, 8576);
        ck_assert_uint_eq(g.version, 4);
        ck_assert_uint_eq(g.init_state, SHML_INIT_READY);
        ck_assert_uint_eq(g.totals[SHML_CTR_TRACE], 12503040);
        ck_assert_uint_eq(g.device_id, (uint32_t)dev);
        ck_assert_uint_eq(g.num_active_processes, 1);
        ck_assert_uint_eq(g.reference_count, 1);
        /* the slot is the stand-in's: its real pid and its comm */
        ck_assert_int_eq(g.processes[0].pid, r.x.live_pid[0]);
        ck_assert_int_ne(g.processes[0].pid, r.p.sim_pid[0]);
        ck_assert_str_eq(g.processes[0].name, "llama");
        ck_assert_uint_eq(g.processes[0].counters[SHML_CTR_TRACE], 12503040);
        actual(&r, 1, dev, &g, &size); /* after close */
        ck_assert_uint_eq(g.totals[SHML_CTR_TRACE], 0);
        ck_assert_uint_eq(g.totals[SHML_CTR_DRAM], 0);
        ck_assert_uint_eq(g.num_active_processes, 0);
        ck_assert_uint_eq(g.reference_count, 0);
        for (int s = 0; s < SHML_MAX_PROCESSES; s++)
            ck_assert_int_eq(g.processes[s].pid, 0);
    }
    run_release(&r);
}
END_TEST

START_TEST(test_comm_is_truncated_to_15) {
    run_t r;
    run_text(&r, "mesh n150\n"
                 "process a_very_long_process_name\n"
                 "  open\n"
                 "  alloc w DRAM 1MiB\n"
                 "  dump\n");
    shml_region g;
    size_t size;
    actual(&r, 0, 0, &g, &size);
    ck_assert_str_eq(g.processes[0].name, "a_very_long_pro");
    ck_assert_uint_eq(g.processes[0].counters[SHML_CTR_DRAM], 1048576);
    run_release(&r);
}
END_TEST

static const char *crash_text(const char *layout) {
    static char buf[1024];
    snprintf(buf, sizeof buf,
             "mesh n150 shm_layout=%s\n"
             "process w\n"
             "  open\n"
             "  alloc x DRAM 1MiB\n"
             "  crash\n"
             "process o\n"
             "  wait 10ms\n"
             "  dump\n"
             "process p\n"
             "  wait 20ms\n"
             "  open\n"
             "  dump\n"
             "  close\n",
             layout);
    return buf;
}

START_TEST(test_crash_leaves_bytes_v4_reaps) {
    run_t r;
    run_text(&r, crash_text("v4"));
    shml_region g;
    size_t size;
    actual(&r, 0, 0, &g, &size); /* after the crash, nobody attached since */
    ck_assert_uint_eq(g.totals[SHML_CTR_DRAM], 1048576);
    ck_assert_int_eq(g.processes[0].pid, r.x.live_pid[0]);
    ck_assert_uint_eq(g.reference_count, 1);
    actual(&r, 1, 0, &g, &size); /* p attached: v4 reaps the dead slot */
    ck_assert_uint_eq(g.totals[SHML_CTR_DRAM], 0);
    ck_assert_int_eq(g.processes[0].pid, r.x.live_pid[2]); /* the freed slot 0 is claimed by p */
    ck_assert_str_eq(g.processes[0].name, "p");
    ck_assert_uint_eq(g.num_active_processes, 1);
    ck_assert_uint_eq(g.reference_count, 1);
    run_release(&r);
}
END_TEST

START_TEST(test_crash_leaves_bytes_v2b_forever) {
    run_t r;
    run_text(&r, crash_text("v2b"));
    shml_region g;
    size_t size;
    actual(&r, 0, 0, &g, &size);
    ck_assert_uint_eq(size, 8576);
    ck_assert_uint_eq(g.version, 2);
    ck_assert_uint_eq(g.totals[SHML_CTR_DRAM], 1048576);
    actual(&r, 1, 0, &g, &size); /* v2: no reaping; the leaked reference blocks the last-out reset */
    ck_assert_uint_eq(g.totals[SHML_CTR_DRAM], 1048576);
    ck_assert_int_eq(g.processes[0].pid, r.x.live_pid[0]);
    actual(&r, -1, 0, &g, &size); /* p closed: refcount 2 -> 1, no reset */
    ck_assert_uint_eq(g.totals[SHML_CTR_DRAM], 1048576);
    ck_assert_uint_eq(g.reference_count, 1);
    run_release(&r);
}
END_TEST

START_TEST(test_v1k_names_and_size) {
    run_t r;
    run_text(&r, "mesh n300 shm_layout=v1-K\n"
                 "process m\n"
                 "  open\n"
                 "  alloc w DRAM 64KiB\n"
                 "  dump\n"
                 "  close\n");
    ck_assert_int_eq(r.sp.nchips, 2);
    const shmp_chip *c0 = r.sp.chips[0].device_id == 0 ? &r.sp.chips[0] : &r.sp.chips[1];
    const shmp_chip *c1 = c0 == &r.sp.chips[0] ? &r.sp.chips[1] : &r.sp.chips[0];
    ck_assert_uint_eq(c0->id & 0xff, 0); /* local chip: location 0 */
    ck_assert_uint_eq(c1->id, c0->id + 1); /* the remote chip of the same card: location 1 */
    char want[64];
    snprintf(want, sizeof want, "tt_device_%llu_memory", (unsigned long long)c0->id);
    ck_assert_str_eq(c0->name, want);
    shml_region g;
    size_t size;
    actual(&r, 0, 1, &g, &size);
    ck_assert_uint_eq(size, 9280);
    ck_assert_uint_eq(g.version, 1);
    ck_assert_uint_eq(g.board_serial, c1->id >> 8);
    ck_assert_uint_eq(g.asic_id, 1);
    ck_assert_uint_eq(g.totals[SHML_CTR_DRAM], 65536);
    run_release(&r);
}
END_TEST

START_TEST(test_expected_equals_actual_everywhere) {
    /* every byte the model determines, at every check point, for a two-process scenario */
    run_t r;
    run_text(&r, "mesh t3k shm_layout=v4\n"
                 "process a\n"
                 "  open\n"
                 "  alloc w DRAM 1MiB\n"
                 "  alloc s L1 64KiB\n"
                 "  dump\n"
                 "  exit\n"
                 "process b\n"
                 "  open\n"
                 "  alloc w DRAM 2MiB\n"
                 "  wait 1ms\n"
                 "  dump\n"
                 "  close\n");
    uint8_t mask[SHMM_FILE_CAPACITY], mapped[SHMM_FILE_CAPACITY];
    for (size_t d = 0; d < r.p.ndumps; d++)
        for (int c = 0; c < r.sp.nchips; c++) {
            ck_assert_uint_eq(r.x.actual[d].size[c], r.sp.dumps[d].size[c]);
            memcpy(mapped, shmp_image_bytes(&r.x.actual[d], c), sizeof mapped);
            shmp_map_pids(SHML_V4, mapped, 8576, shmrun_live_to_sim, &r.x);
            shmm_expect_mask(SHML_V4, 8576, 0, mask);
            char why[256];
            long off = shmm_expect_compare(SHML_V4, shmp_image_bytes(&r.sp.dumps[d], c), mapped, mask, 8576, why,
                                           sizeof why);
            ck_assert_msg(off < 0, "dump %zu chip %d: %s", d, c, why);
        }
    run_release(&r);
}
END_TEST

START_TEST(test_parse_errors_are_located) {
    scn_script *s = NULL;
    char err[512];
    const char *t1 = "mesh n150 shm_layout=v9\nprocess a\n  open\n";
    ck_assert_int_ne(scn_parse(t1, strlen(t1), "t.scn", &s, err, sizeof err), 0);
    ck_assert_msg(strncmp(err, "t.scn:1:22: expected an SHM layout (v1-K", 39) == 0, "%s", err);
    const char *t2 = "mesh n150 shm_idle_reset=off shm_layout=v2b\nprocess a\n  open\n";
    ck_assert_int_ne(scn_parse(t2, strlen(t2), "t.scn", &s, err, sizeof err), 0);
    ck_assert_str_eq(err, "t.scn:1:11: expected an option of SHM layout v2b, found shm_idle_reset (it applies to "
                          "v4b and v4c only)");
    const char *t3 = "mesh n150 shm_layout=v4b shm_idle_reset=on\nprocess a\n  open\n";
    ck_assert_int_eq(scn_parse(t3, strlen(t3), "t.scn", &s, err, sizeof err), 0);
    ck_assert_int_eq(s->meshes[0].cfg.shm_layout, SHML_V4 + 1);
    ck_assert_int_eq(s->meshes[0].cfg.shm_sub, SHMM_SUB_V4B);
    scn_script_free(s);
}
END_TEST

/* The CB-accounting mesh options (docs/shm-transport.md) reach the writer build the model and
 * the stand-ins run; without them every layout keeps its era's default. */
static void cb_config_of(const char *mesh_line, shmm_config *out, int *records) {
    char text[256], err[512];
    snprintf(text, sizeof text, "%s\nprocess a\n  open\n", mesh_line);
    scn_script *s = NULL;
    ck_assert_msg(scn_parse(text, strlen(text), "t.scn", &s, err, sizeof err) == 0, "%s", err);
    shmp_config_of(&s->meshes[0].cfg, out);
    *records = shmp_cb_records(&s->meshes[0].cfg);
    scn_script_free(s);
}

START_TEST(test_cb_options_reach_the_writer_config) {
    shmm_config c;
    int records;
    cb_config_of("mesh n150 shm_layout=v1-K", &c, &records);
    ck_assert_int_eq(records, 1); /* era G2 */
    ck_assert_int_eq(c.cb_update, SHMM_CB_ABSOLUTE);
    ck_assert_uint_eq(c.cb_rate_limit_ns, 100000000u);
    cb_config_of("mesh n150 shm_layout=v1-K shm_cb_era=update shm_cb_rate_limit=250us", &c, &records);
    ck_assert_int_eq(records, 0); /* era C */
    ck_assert_uint_eq(c.cb_rate_limit_ns, 250000u);
    cb_config_of("mesh n150 shm_layout=v1-K shm_cb_era=records", &c, &records);
    ck_assert_int_eq(records, 1);
    cb_config_of("mesh n150 shm_layout=v4b", &c, &records);
    ck_assert_int_eq(c.cb_update, SHMM_CB_DELTA);
    ck_assert_int_eq(records, 0);
    cb_config_of("mesh n150 shm_cb_rate_limit=off shm_layout=v4b shm_cb_update=absolute", &c, &records);
    ck_assert_int_eq(c.cb_update, SHMM_CB_ABSOLUTE);
    ck_assert_uint_eq(c.cb_rate_limit_ns, 0u);
    cb_config_of("mesh n150 shm_layout=v4a shm_cb_update=delta", &c, &records);
    ck_assert_int_eq(c.cb_update, SHMM_CB_DELTA);
    cb_config_of("mesh n150 shm_layout=v3 shm_cb_rate_limit=2s", &c, &records);
    ck_assert_uint_eq(c.cb_rate_limit_ns, 2000000000u);
    ck_assert_int_eq(c.cb_update, SHMM_CB_ABSOLUTE);
    /* delta is unthrottled: a rate limit there is an error at the option */
    scn_script *s = NULL;
    char err[512];
    const char *t = "mesh n150 shm_layout=v4a shm_cb_update=delta shm_cb_rate_limit=1ms\nprocess a\n  open\n";
    ck_assert_int_ne(scn_parse(t, strlen(t), "t.scn", &s, err, sizeof err), 0);
    ck_assert_msg(strncmp(err, "t.scn:1:46: expected an option of SHM layout v4a, found shm_cb_rate_limit (it applies "
                               "to the absolute update_from_allocator only: ", 130) == 0, "%s", err);
}
END_TEST

START_TEST(test_dir_errors_name_the_cause) {
    shmio_dir d;
    char err[512];
    ck_assert_int_eq(shmio_dir_open(&d, "/nonexistent-allocsim/x", 0, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "/nonexistent-allocsim/x: cannot create the region directory: No such file") != NULL,
                  "%s", err);
    ck_assert_int_eq(shmio_dir_open(&d, "/tmp/x", SHMIO_DIR_LIVE, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "--shm-live") != NULL, "%s", err);
    /* a directory given by the user survives the run; the region files do not */
    char tmpl[] = "/dev/shm/allocsim-test-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(tmpl));
    ck_assert_int_eq(shmio_dir_open(&d, tmpl, 0, err, sizeof err), 0);
    ck_assert_int_eq(d.created, 0);
    shmio_dir_close(&d);
    struct stat st;
    ck_assert_int_eq(stat(tmpl, &st), 0);
    rmdir(tmpl);
}
END_TEST

static Suite *shm_transport_suite(void) {
    Suite *s = suite_create("shm_transport");
    TCase *tc = tcase_create("end to end");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_seed_story_v4);
    tcase_add_test(tc, test_comm_is_truncated_to_15);
    tcase_add_test(tc, test_crash_leaves_bytes_v4_reaps);
    tcase_add_test(tc, test_crash_leaves_bytes_v2b_forever);
    tcase_add_test(tc, test_v1k_names_and_size);
    tcase_add_test(tc, test_expected_equals_actual_everywhere);
    suite_add_tcase(s, tc);
    tc = tcase_create("errors");
    tcase_add_test(tc, test_parse_errors_are_located);
    tcase_add_test(tc, test_cb_options_reach_the_writer_config);
    tcase_add_test(tc, test_dir_errors_name_the_cause);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(shm_transport_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
