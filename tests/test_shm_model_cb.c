/* test_shm_model_cb: update_from_allocator (sim/shm_model_cb.c) against shm-tracking.md §4.7.
 *
 * Every expected value and step count is worked out by hand from §4.7 (and §4.1, §4.4 for
 * the chip and slot searches it reuses) and written as a literal; regions are read back with
 * shml_decode. Two variants: the absolute store of eras C..v3 and v4a (rate-limited per
 * device id, last writer wins) and the delta of v4c. Crashes are placed after every step.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shm_layout.h"
#include "shm_model.h"

#define MS UINT64_C(1000000)

static shmm_file file;
static shmm_pidset live;
static shmm_env env;
static shml_region R;

typedef struct {
    shmm_provider p;
    shmm_image img;
    shmm_ops ops;
    shmm_result res;
    shmm_cb_limiter lim; /* the process-wide map of this process */
} proc;

static void world_reset(void) {
    shmm_file_init(&file);
    memset(&live, 0, sizeof live);
    env.now_ns = 1000;
    env.pid_state = shmm_pidset_state;
    env.pid_ctx = &live;
}

static void proc_make(proc *x, const shmm_config *cfg, int32_t pid, int32_t device_id) {
    shmm_process id;
    shmm_process_init(&id, pid, "app");
    shmm_provider_init(&x->p, cfg, &id, cfg->version <= SHML_L1A ? 469504 : 0xC0FFEE, device_id);
    shmm_image_init(&x->img, &file);
    shmm_ops_image(&x->ops, &x->img);
    shmm_pidset_add(&live, pid, 0);
    shmm_cb_limiter_init(&x->lim);
}

/* attach, then one DRAM record so that the process slot and the chip slot exist */
static void start(proc *x) {
    ck_assert_int_eq(shmm_attach(&x->p, &x->ops, &env, &x->res), 1);
    ck_assert_int_eq(shmm_record_alloc(&x->p, &x->ops, &env, 100, SHML_TYPE_DRAM, (uint32_t)x->p.device_id, NULL), 1);
}

static int update(proc *x, uint64_t cb) { return shmm_update_from_allocator(&x->p, &x->ops, &env, &x->lim, cb, &x->res); }

static void decode(shml_version v) {
    char err[128] = "";
    ck_assert_msg(shml_decode(v, file.bytes, file.size, SHML_DECODE_ANY_VERSION, &R, err, sizeof err) == 0, "%s",
                  err);
}

START_TEST(test_defaults_per_variant) {
    shmm_config c;
    shmm_config_default(&c, SHML_L1N, SHMM_SUB_NONE);
    ck_assert_int_eq(c.cb_update, SHMM_CB_ABSOLUTE);
    ck_assert_uint_eq(c.cb_rate_limit_ns, 100 * MS);
    shmm_config_default(&c, SHML_V3, SHMM_SUB_NONE);
    ck_assert_int_eq(c.cb_update, SHMM_CB_ABSOLUTE);
    shmm_config_default(&c, SHML_V4, SHMM_SUB_V4A);
    ck_assert_int_eq(c.cb_update, SHMM_CB_ABSOLUTE);
    shmm_config_default(&c, SHML_V4, SHMM_SUB_V4B);
    ck_assert_int_eq(c.cb_update, SHMM_CB_DELTA);
    shmm_config_default(&c, SHML_V4, SHMM_SUB_NONE); /* = v4c */
    ck_assert_int_eq(c.cb_update, SHMM_CB_DELTA);
}
END_TEST

/* v1-N, one process on device 0: st T, st ts, ld chip 0 (== 0), st chip_id, st C, ld pid 0
 * (own), st P, st P ts = 8 steps; every counter holds the figure. */
START_TEST(test_absolute_stores_everywhere) {
    shmm_config cfg;
    shmm_config_default(&cfg, SHML_L1N, SHMM_SUB_NONE);
    world_reset();
    static proc a;
    proc_make(&a, &cfg, 100, 0);
    start(&a);
    ck_assert_int_eq(update(&a, 6144), 1);
    ck_assert_uint_eq(a.res.steps, 8);
    ck_assert_int_eq(a.res.rate_limited, 0);
    ck_assert_int_eq(a.res.chip_slot, 0);
    ck_assert_int_eq(a.res.slot, 0);
    decode(SHML_L1N);
    ck_assert_uint_eq(R.totals[SHML_CTR_CB], 6144);
    ck_assert_uint_eq(R.chips[0].counters[SHML_CTR_CB], 6144);
    ck_assert_uint_eq(R.processes[0].counters[SHML_CTR_CB], 6144);
    ck_assert_uint_eq(R.totals[SHML_CTR_DRAM], 100); /* nothing else moves */
    ck_assert_uint_eq(R.last_update_timestamp, env.now_ns);
    /* a smaller figure is stored as is (absolute, not a delta) */
    env.now_ns += 200 * MS;
    ck_assert_int_eq(update(&a, 1024), 1);
    decode(SHML_L1N);
    ck_assert_uint_eq(R.totals[SHML_CTR_CB], 1024);
    ck_assert_uint_eq(R.chips[0].counters[SHML_CTR_CB], 1024);
    ck_assert_uint_eq(R.processes[0].counters[SHML_CTR_CB], 1024);
}
END_TEST

/* The slot is never created by update_from_allocator: a process without one only writes the
 * total, the timestamp and the chip (st T, st ts, ld, st, st, 64 pid loads = 69 steps). */
START_TEST(test_absolute_never_creates_a_slot) {
    shmm_config cfg;
    shmm_config_default(&cfg, SHML_V2B, SHMM_SUB_NONE);
    world_reset();
    static proc a;
    proc_make(&a, &cfg, 100, 0);
    ck_assert_int_eq(shmm_attach(&a.p, &a.ops, &env, &a.res), 1);
    ck_assert_int_eq(update(&a, 4096), 1);
    ck_assert_uint_eq(a.res.steps, 69);
    ck_assert_int_eq(a.res.slot, -1);
    decode(SHML_V2B);
    ck_assert_uint_eq(R.totals[SHML_CTR_CB], 4096);
    ck_assert_uint_eq(R.chips[0].counters[SHML_CTR_CB], 4096);
    ck_assert_int_eq(R.processes[0].pid, 0);
    ck_assert_uint_eq(R.num_active_processes, 0);
}
END_TEST

/* v3: one update per device id per 100 ms; a throttled one makes no step and is not
 * retried; exactly 100 ms later goes through; another device id is not throttled (and,
 * in a region shared by two logical ids (§7.31), takes the first unused chip slot). */
START_TEST(test_absolute_rate_limit) {
    shmm_config cfg;
    shmm_config_default(&cfg, SHML_V3, SHMM_SUB_NONE);
    world_reset();
    static proc a, b;
    proc_make(&a, &cfg, 100, 0);
    start(&a);
    uint64_t t0 = env.now_ns;
    ck_assert_int_eq(update(&a, 6144), 1);
    ck_assert_uint_eq(a.res.steps, 8);
    env.now_ns = t0 + 50 * MS;
    ck_assert_int_eq(update(&a, 2048), 1);
    ck_assert_int_eq(a.res.rate_limited, 1);
    ck_assert_uint_eq(a.res.steps, 0);
    decode(SHML_V3);
    ck_assert_uint_eq(R.totals[SHML_CTR_CB], 6144);
    ck_assert_uint_eq(R.processes[0].counters[SHML_CTR_CB], 6144);
    env.now_ns = t0 + 100 * MS - 1;
    ck_assert_int_eq(update(&a, 3000), 1);
    ck_assert_int_eq(a.res.rate_limited, 1);
    env.now_ns = t0 + 100 * MS;
    ck_assert_int_eq(update(&a, 1024), 1);
    ck_assert_int_eq(a.res.rate_limited, 0);
    decode(SHML_V3);
    ck_assert_uint_eq(R.totals[SHML_CTR_CB], 1024);
    /* the same process's device 1 (sharing this region): its own entry in the map */
    proc_make(&b, &cfg, 100, 1);
    ck_assert_int_eq(shmm_attach(&b.p, &b.ops, &env, &b.res), 1);
    ck_assert_int_eq(shmm_update_from_allocator(&b.p, &b.ops, &env, &a.lim, 512, &b.res), 1);
    ck_assert_int_eq(b.res.rate_limited, 0);
    ck_assert_int_eq(b.res.chip_slot, 1); /* slot 0 holds device 0, slot 1 is unused */
    decode(SHML_V3);
    ck_assert_uint_eq(R.chips[1].chip_id, 1);
    ck_assert_uint_eq(R.chips[1].counters[SHML_CTR_CB], 512);
    ck_assert_uint_eq(R.chips[0].counters[SHML_CTR_CB], 1024);
    ck_assert_uint_eq(R.totals[SHML_CTR_CB], 512);              /* last writer wins */
    ck_assert_uint_eq(R.processes[0].counters[SHML_CTR_CB], 512); /* one slot per pid */
    /* device 0 is still throttled by the shared map at this time */
    ck_assert_int_eq(update(&a, 7), 1);
    ck_assert_int_eq(a.res.rate_limited, 1);
    /* interval 0: no rate limit */
    a.p.cfg.cb_rate_limit_ns = 0;
    ck_assert_int_eq(update(&a, 7), 1);
    ck_assert_int_eq(a.res.rate_limited, 0);
    decode(SHML_V3);
    ck_assert_uint_eq(R.totals[SHML_CTR_CB], 7);
}
END_TEST

/* The map is the process's, not the provider's: close and reopen within 100 ms is still
 * throttled. A disabled provider makes no step and does not consume the interval. */
START_TEST(test_absolute_limit_outlives_provider) {
    shmm_config cfg;
    shmm_config_default(&cfg, SHML_V4, SHMM_SUB_V4A);
    world_reset();
    static proc a;
    proc_make(&a, &cfg, 100, 0);
    start(&a);
    ck_assert_int_eq(update(&a, 4096), 1);
    ck_assert_int_eq(a.res.rate_limited, 0);
    ck_assert_int_eq(shmm_detach(&a.p, &a.ops, &env, &a.res), 1);
    ck_assert_int_eq(update(&a, 100), 1); /* detached: disabled */
    ck_assert_uint_eq(a.res.steps, 0);
    ck_assert_int_eq(a.res.rate_limited, 0);
    env.now_ns += 10 * MS;
    shmm_provider_init(&a.p, &cfg, &a.p.self, 0xC0FFEE, 0); /* Device reopened, same process */
    start(&a);
    ck_assert_int_eq(update(&a, 2048), 1);
    ck_assert_int_eq(a.res.rate_limited, 1);
    decode(SHML_V4);
    ck_assert_uint_eq(R.totals[SHML_CTR_CB], 0); /* v4a recompute at attach: the new slot has 0 */
    env.now_ns += 100 * MS;
    ck_assert_int_eq(update(&a, 2048), 1);
    ck_assert_int_eq(a.res.rate_limited, 0);
    decode(SHML_V4);
    ck_assert_uint_eq(R.totals[SHML_CTR_CB], 2048);
}
END_TEST

/* Two processes, absolute: the total is the last writer's figure, not the sum (§7.18); the
 * destructor of the last writer then takes its own figure out and leaves nothing of the
 * other's 4096. */
START_TEST(test_absolute_last_writer_wins) {
    shmm_config cfg;
    shmm_config_default(&cfg, SHML_V2B, SHMM_SUB_NONE);
    world_reset();
    static proc a, b;
    proc_make(&a, &cfg, 100, 0);
    proc_make(&b, &cfg, 200, 0);
    start(&a);
    start(&b);
    ck_assert_int_eq(update(&a, 4096), 1);
    ck_assert_int_eq(update(&b, 1000), 1); /* b's own map: not throttled */
    decode(SHML_V2B);
    ck_assert_uint_eq(R.totals[SHML_CTR_CB], 1000);
    ck_assert_uint_eq(R.chips[0].counters[SHML_CTR_CB], 1000);
    ck_assert_uint_eq(R.processes[0].counters[SHML_CTR_CB], 4096);
    ck_assert_uint_eq(R.processes[1].counters[SHML_CTR_CB], 1000);
    ck_assert_int_eq(shmm_detach(&b.p, &b.ops, &env, &b.res), 1);
    decode(SHML_V2B);
    ck_assert_uint_eq(R.totals[SHML_CTR_CB], 0); /* 1000 - 1000, while a still holds 4096 */
    ck_assert_uint_eq(R.processes[0].counters[SHML_CTR_CB], 4096);
}
END_TEST

/* v4c delta, one process: claim (ld own pid), xchg P, fadd T, st P ts, st ts, ld chip 0
 * (== 0), ld T, st C = 8 steps; shrinking: sat- is ld + cas, 9 steps. */
START_TEST(test_delta_one_process) {
    shmm_config cfg;
    shmm_config_default(&cfg, SHML_V4, SHMM_SUB_V4C);
    world_reset();
    static proc a;
    proc_make(&a, &cfg, 100, 0);
    start(&a);
    ck_assert_int_eq(update(&a, 4096), 1);
    ck_assert_uint_eq(a.res.steps, 8);
    ck_assert_int_eq(a.res.slot, 0);
    ck_assert_int_eq(a.res.chip_slot, 0);
    decode(SHML_V4);
    ck_assert_uint_eq(R.totals[SHML_CTR_CB], 4096);
    ck_assert_uint_eq(R.chips[0].counters[SHML_CTR_CB], 4096);
    ck_assert_uint_eq(R.processes[0].counters[SHML_CTR_CB], 4096);
    ck_assert_int_eq(update(&a, 1024), 1); /* same time: unthrottled */
    ck_assert_uint_eq(a.res.steps, 9);
    ck_assert_int_eq(a.res.rate_limited, 0);
    decode(SHML_V4);
    ck_assert_uint_eq(R.totals[SHML_CTR_CB], 1024);
    ck_assert_uint_eq(R.chips[0].counters[SHML_CTR_CB], 1024);
    ck_assert_uint_eq(R.processes[0].counters[SHML_CTR_CB], 1024);
    ck_assert_int_eq(update(&a, 5000), 1); /* grows from 1024: += 3976 */
    decode(SHML_V4);
    ck_assert_uint_eq(R.totals[SHML_CTR_CB], 5000);
    ck_assert_uint_eq(R.chips[0].counters[SHML_CTR_CB], 5000);
    ck_assert_uint_eq(a.lim.count, 0); /* the delta variant keeps no map */
}
END_TEST

/* v4c, two processes: the figures add up in the total; the chip slot is set to the total;
 * releasing a slot takes its figure out of the total but not out of the chip (§7.13). */
START_TEST(test_delta_two_processes) {
    shmm_config cfg;
    shmm_config_default(&cfg, SHML_V4, SHMM_SUB_V4C);
    world_reset();
    static proc a, b;
    proc_make(&a, &cfg, 100, 0);
    proc_make(&b, &cfg, 200, 0);
    start(&a);
    start(&b);
    ck_assert_int_eq(update(&a, 4096), 1);
    ck_assert_int_eq(update(&b, 1000), 1);
    decode(SHML_V4);
    ck_assert_uint_eq(R.totals[SHML_CTR_CB], 5096);
    ck_assert_uint_eq(R.chips[0].counters[SHML_CTR_CB], 5096);
    ck_assert_uint_eq(R.processes[0].counters[SHML_CTR_CB], 4096);
    ck_assert_uint_eq(R.processes[1].counters[SHML_CTR_CB], 1000);
    ck_assert_int_eq(shmm_detach(&b.p, &b.ops, &env, &b.res), 1);
    decode(SHML_V4);
    ck_assert_uint_eq(R.totals[SHML_CTR_CB], 4096);
    ck_assert_uint_eq(R.chips[0].counters[SHML_CTR_CB], 5096);
}
END_TEST

/* v4c with per-PID off has no slot to hold the previous figure: nothing, no step. */
START_TEST(test_delta_without_per_pid) {
    shmm_config cfg;
    shmm_config_default(&cfg, SHML_V4, SHMM_SUB_V4C);
    cfg.per_pid = 0;
    world_reset();
    static proc a;
    proc_make(&a, &cfg, 100, 0);
    start(&a);
    ck_assert_int_eq(update(&a, 4096), 1);
    ck_assert_uint_eq(a.res.steps, 0);
    decode(SHML_V4);
    ck_assert_uint_eq(R.totals[SHML_CTR_CB], 0);
}
END_TEST

/* A crash after step k of the absolute update (v1-N, 8 steps): the total holds the figure
 * from step 1, the chip from step 5, the slot from step 7. */
START_TEST(test_crash_after_every_step_absolute) {
    int k = _i;
    shmm_config cfg;
    shmm_config_default(&cfg, SHML_L1N, SHMM_SUB_NONE);
    world_reset();
    static proc a;
    proc_make(&a, &cfg, 100, 0);
    start(&a);
    shmm_image_arm(&a.img, (unsigned long)k);
    ck_assert_int_eq(update(&a, 6144), 0);
    ck_assert_uint_eq(a.res.steps, (unsigned long)k);
    ck_assert_int_eq(a.p.crashed, 1);
    decode(SHML_L1N);
    ck_assert_uint_eq(R.totals[SHML_CTR_CB], 6144);
    ck_assert_uint_eq(R.chips[0].counters[SHML_CTR_CB], k >= 5 ? 6144 : 0);
    ck_assert_uint_eq(R.processes[0].counters[SHML_CTR_CB], k >= 7 ? 6144 : 0);
}
END_TEST

/* A crash after step k of the delta update (v4c, 8 steps): the slot holds the figure from
 * step 2 while the total gets it only at step 3 (not crash-atomic, §7.21), the chip at 8. */
START_TEST(test_crash_after_every_step_delta) {
    int k = _i;
    shmm_config cfg;
    shmm_config_default(&cfg, SHML_V4, SHMM_SUB_V4C);
    world_reset();
    static proc a;
    proc_make(&a, &cfg, 100, 0);
    start(&a);
    shmm_image_arm(&a.img, (unsigned long)k);
    ck_assert_int_eq(update(&a, 4096), 0);
    ck_assert_uint_eq(a.res.steps, (unsigned long)k);
    ck_assert_int_eq(a.p.crashed, 1);
    ck_assert_int_eq(a.p.enabled, 0);
    decode(SHML_V4);
    ck_assert_uint_eq(R.processes[0].counters[SHML_CTR_CB], k >= 2 ? 4096 : 0);
    ck_assert_uint_eq(R.totals[SHML_CTR_CB], k >= 3 ? 4096 : 0);
    ck_assert_uint_eq(R.chips[0].counters[SHML_CTR_CB], k >= 8 ? 4096 : 0);
}
END_TEST

static Suite *shm_model_cb_suite(void) {
    Suite *s = suite_create("shm_model_cb");
    TCase *tc = tcase_create("absolute");
    tcase_add_test(tc, test_defaults_per_variant);
    tcase_add_test(tc, test_absolute_stores_everywhere);
    tcase_add_test(tc, test_absolute_never_creates_a_slot);
    tcase_add_test(tc, test_absolute_rate_limit);
    tcase_add_test(tc, test_absolute_limit_outlives_provider);
    tcase_add_test(tc, test_absolute_last_writer_wins);
    suite_add_tcase(s, tc);
    tc = tcase_create("delta");
    tcase_add_test(tc, test_delta_one_process);
    tcase_add_test(tc, test_delta_two_processes);
    tcase_add_test(tc, test_delta_without_per_pid);
    suite_add_tcase(s, tc);
    tc = tcase_create("crashes");
    tcase_add_loop_test(tc, test_crash_after_every_step_absolute, 1, 9);
    tcase_add_loop_test(tc, test_crash_after_every_step_delta, 1, 9);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(shm_model_cb_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
