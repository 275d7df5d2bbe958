/* test_shm_model: the SHM writer and reader model (sim/shm_model.c) against shm-tracking.md.
 *
 * Every expected value here is computed by hand from the spec (§3-§6) and written as a
 * literal; regions are read back with shml_decode. Crashes are placed after every step of
 * an operation with shmm_image_arm. Races are built deterministically: a hook on one
 * process's image view runs another process's whole operation right after a chosen access
 * (identified by the view's last_op/last_offset), on a second view of the same file.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shm_layout.h"
#include "shm_model.h"

/* ---- world: one file, live pids, a clock ------------------------------------------------ */

static shmm_file file;
static shmm_pidset live;
static shmm_env env;
static shml_region R;

typedef struct {
    shmm_provider p;
    shmm_image img;
    shmm_ops ops;
    shmm_result res;
} proc;

static void world_reset(void) {
    shmm_file_init(&file);
    memset(&live, 0, sizeof live);
    env.now_ns = 1000;
    env.pid_state = shmm_pidset_state;
    env.pid_ctx = &live;
}

static void proc_make(proc *x, const shmm_config *cfg, int32_t pid, const char *name) {
    shmm_process id;
    shmm_process_init(&id, pid, name);
    /* v1: composite id of board 1834 chip 0 (§3.1); v2+: a chip_unique_id */
    uint64_t chip_id = cfg->version <= SHML_L1A ? 469504 : 0xC0FFEE;
    shmm_provider_init(&x->p, cfg, &id, chip_id, 0);
    shmm_image_init(&x->img, &file);
    shmm_ops_image(&x->ops, &x->img);
    shmm_pidset_add(&live, pid, 0);
}

static int attach(proc *x) {
    env.now_ns += 10;
    return shmm_attach(&x->p, &x->ops, &env, &x->res);
}
static int alloc(proc *x, uint64_t size, uint8_t type, uint32_t chip) {
    env.now_ns += 10;
    return shmm_record_alloc(&x->p, &x->ops, &env, size, type, chip, &x->res);
}
static int release(proc *x, uint64_t size, uint8_t type, uint32_t chip) {
    env.now_ns += 10;
    return shmm_record_free(&x->p, &x->ops, &env, size, type, chip, &x->res);
}
static int detach(proc *x) {
    env.now_ns += 10;
    return shmm_detach(&x->p, &x->ops, &env, &x->res);
}
static void kill_proc(proc *x) {
    shmm_crash(&x->p);
    shmm_pidset_remove(&live, x->p.self.pid);
}

static void decode(shml_version v) {
    char err[128] = "";
    ck_assert_msg(shml_decode(v, file.bytes, file.size, SHML_DECODE_ANY_VERSION, &R, err, sizeof err) == 0, "%s",
                  err);
}

static int reader(shmm_reader which, shml_version layout, shmm_result *res) {
    shmm_image img;
    shmm_ops ops;
    shmm_image_init(&img, &file);
    shmm_ops_image(&ops, &img);
    shmm_reader_config cfg;
    shmm_reader_config_default(&cfg, layout);
    return shmm_reader_cleanup(which, &cfg, &ops, &env, res);
}

/* ---- variants --------------------------------------------------------------------------- */

typedef struct {
    shml_version v;
    shmm_subvariant sub;
} variant;

enum { VAR_L1K, VAR_L1N, VAR_L1A, VAR_V2A, VAR_V2B, VAR_V3, VAR_V4A, VAR_V4B, VAR_V4C, VAR_COUNT };
static const variant variants[VAR_COUNT] = {
    {SHML_L1K, SHMM_SUB_NONE}, {SHML_L1N, SHMM_SUB_NONE}, {SHML_L1A, SHMM_SUB_NONE},
    {SHML_V2A, SHMM_SUB_NONE}, {SHML_V2B, SHMM_SUB_NONE}, {SHML_V3, SHMM_SUB_NONE},
    {SHML_V4, SHMM_SUB_V4A},   {SHML_V4, SHMM_SUB_V4B},   {SHML_V4, SHMM_SUB_V4C},
};

static void config_of(int var, shmm_config *cfg) { shmm_config_default(cfg, variants[var].v, variants[var].sub); }

static int sentinel_zero(int var) { return var <= VAR_V2A; } /* chip "unused" is 0 */

static void assert_name(int slot, const char *expected) {
    ck_assert_msg(strncmp(R.processes[slot].name, expected, 64) == 0, "slot %d name '%.16s', expected '%s'", slot,
                  R.processes[slot].name, expected);
}

/* ---- lifecycle per version -------------------------------------------------------------- */

START_TEST(test_lifecycle_two_processes) {
    int var = _i;
    shml_version v = variants[var].v;
    shmm_config cfg;
    config_of(var, &cfg);
    world_reset();
    static proc a, b;
    proc_make(&a, &cfg, 100, "procA");
    proc_make(&b, &cfg, 200, "procB");

    ck_assert_int_eq(attach(&a), 1);
    ck_assert_int_eq(a.res.attach, SHMM_ATTACH_CREATED);
    ck_assert_uint_eq(file.size, shml_version_get(v)->size_bytes);
    ck_assert_int_eq(attach(&b), 1);
    ck_assert_int_eq(b.res.attach, SHMM_ATTACH_ATTACHED);
    alloc(&a, 1000, SHML_TYPE_DRAM, 0);
    alloc(&a, 300, SHML_TYPE_L1, 0);
    alloc(&b, 500, SHML_TYPE_DRAM, 1);
    release(&a, 400, SHML_TYPE_DRAM, 0);
    alloc(&a, 77, SHML_TYPE_SYSTEM_MEMORY, 0); /* counts nothing */
    uint64_t last = env.now_ns;

    decode(v);
    ck_assert_uint_eq(R.version, v == SHML_V4 ? 4 : v == SHML_V3 ? 3 : v >= SHML_V2A ? 2 : 1);
    ck_assert_uint_eq(R.reference_count, 2);
    ck_assert_uint_eq(R.num_active_processes, 2);
    ck_assert_uint_eq(R.totals[SHML_CTR_DRAM], 1100);
    ck_assert_uint_eq(R.totals[SHML_CTR_L1], 300);
    ck_assert_uint_eq(R.totals[SHML_CTR_L1_SMALL] + R.totals[SHML_CTR_TRACE] + R.totals[SHML_CTR_CB], 0);
    ck_assert_uint_eq(R.last_update_timestamp, last);
    if (v <= SHML_L1A) {
        ck_assert_uint_eq(R.board_serial, 1834); /* composite >> 8 */
        ck_assert_uint_eq(R.asic_id, 0);         /* composite & 0xFF */
    } else {
        ck_assert_uint_eq(R.board_serial, 0);
        ck_assert_uint_eq(R.asic_id, 0xC0FFEE);
    }
    ck_assert_int_eq(R.processes[0].pid, 100);
    ck_assert_uint_eq(R.processes[0].counters[SHML_CTR_DRAM], 600);
    ck_assert_uint_eq(R.processes[0].counters[SHML_CTR_L1], 300);
    ck_assert_uint_eq(R.processes[0].last_update_timestamp, last);
    assert_name(0, "procA");
    ck_assert_int_eq(R.processes[1].pid, 200);
    ck_assert_uint_eq(R.processes[1].counters[SHML_CTR_DRAM], 500);
    assert_name(1, "procB");
    ck_assert_int_eq(R.processes[2].pid, 0);
    if (sentinel_zero(var)) {
        /* §7.12: chip 1 took the first chip_id-0 slot, chip 0's, zeroing its counters; the
         * later free on chip 0 found slot 1 (chip_id 0 = "unused") and clamped at 0. */
        ck_assert_uint_eq(R.chips[0].chip_id, 1);
        ck_assert_uint_eq(R.chips[0].counters[SHML_CTR_DRAM], 500);
        ck_assert_uint_eq(R.chips[0].counters[SHML_CTR_L1], 0);
        ck_assert_uint_eq(R.chips[1].chip_id, 0);
        ck_assert_uint_eq(R.chips[1].counters[SHML_CTR_DRAM], 0);
        ck_assert_uint_eq(R.chips[2].chip_id, 0);
    } else {
        ck_assert_uint_eq(R.chips[0].chip_id, 0);
        ck_assert_uint_eq(R.chips[0].counters[SHML_CTR_DRAM], 600);
        ck_assert_uint_eq(R.chips[0].counters[SHML_CTR_L1], 300);
        ck_assert_uint_eq(R.chips[1].chip_id, 1);
        ck_assert_uint_eq(R.chips[1].counters[SHML_CTR_DRAM], 500);
        ck_assert_uint_eq(R.chips[2].chip_id, 0xFFFFFFFFu);
    }
    if (v == SHML_V4)
        ck_assert_uint_eq(R.init_state, SHML_INIT_READY);

    ck_assert_int_eq(detach(&b), 1);
    decode(v);
    ck_assert_uint_eq(R.totals[SHML_CTR_DRAM], 600);
    ck_assert_uint_eq(R.totals[SHML_CTR_L1], 300);
    ck_assert_uint_eq(R.reference_count, 1);
    ck_assert_uint_eq(R.num_active_processes, 1);
    ck_assert_int_eq(R.processes[1].pid, 0);
    ck_assert_uint_eq(R.processes[1].counters[SHML_CTR_DRAM], 0);
    assert_name(1, v == SHML_V4 ? "" : "procB"); /* v1-v3 destructor keeps name (§4.5) */

    ck_assert_int_eq(detach(&a), 1);
    decode(v);
    ck_assert_uint_eq(R.totals[SHML_CTR_DRAM], 0);
    ck_assert_uint_eq(R.totals[SHML_CTR_L1], 0);
    ck_assert_uint_eq(R.reference_count, 0);
    ck_assert_uint_eq(R.num_active_processes, 0);
    ck_assert_int_eq(R.processes[0].pid, 0);
    assert_name(0, v == SHML_V4 ? "" : "procA");
    if (var == VAR_V4B) {
        /* no idle reset in v4b (default): chip counters drift (§7.13) */
        ck_assert_uint_eq(R.chips[0].counters[SHML_CTR_DRAM], 600);
        ck_assert_uint_eq(R.chips[0].counters[SHML_CTR_L1], 300);
        ck_assert_uint_eq(R.chips[1].counters[SHML_CTR_DRAM], 500);
    } else {
        /* last process out (v1-v3), v4a chip reset, v4c idle reset */
        for (int s = 0; s < SHML_MAX_CHIPS; s++)
            for (int c = 0; c < SHML_CTR_COUNT; c++)
                ck_assert_uint_eq(R.chips[s].counters[c], 0);
    }
    ck_assert_uint_eq(R.chips[sentinel_zero(var) ? 0 : 1].chip_id, 1); /* ids stay */
}
END_TEST

/* ---- counters --------------------------------------------------------------------------- */

START_TEST(test_saturating_subtraction) {
    int var = _i;
    shmm_config cfg;
    config_of(var, &cfg);
    world_reset();
    static proc a;
    proc_make(&a, &cfg, 100, "a");
    attach(&a);
    alloc(&a, 100, SHML_TYPE_TRACE, 0);
    alloc(&a, 7, SHML_TYPE_CB, 0);
    release(&a, 250, SHML_TYPE_TRACE, 0);
    decode(variants[var].v);
    ck_assert_uint_eq(R.totals[SHML_CTR_TRACE], 0);
    ck_assert_uint_eq(R.chips[0].counters[SHML_CTR_TRACE], 0);
    ck_assert_uint_eq(R.processes[0].counters[SHML_CTR_TRACE], 0);
    ck_assert_uint_eq(R.totals[SHML_CTR_CB], 7);
    ck_assert_uint_eq(R.processes[0].counters[SHML_CTR_CB], 7);
}
END_TEST

START_TEST(test_kernel_counted_in_v1k_only) {
    shmm_config cfg;
    world_reset();
    static proc a;
    shmm_config_default(&cfg, SHML_L1K, SHMM_SUB_NONE);
    proc_make(&a, &cfg, 100, "a");
    attach(&a);
    alloc(&a, 64, SHML_TYPE_KERNEL, 0);
    decode(SHML_L1K);
    ck_assert_uint_eq(R.totals[SHML_CTR_KERNEL], 64);
    ck_assert_uint_eq(R.processes[0].counters[SHML_CTR_KERNEL], 64);
    ck_assert_uint_eq(R.chips[0].counters[SHML_CTR_KERNEL], 64);

    world_reset();
    shmm_config_default(&cfg, SHML_L1N, SHMM_SUB_NONE);
    proc_make(&a, &cfg, 100, "a");
    attach(&a);
    alloc(&a, 64, SHML_TYPE_KERNEL, 0);
    decode(SHML_L1N);
    for (int c = 0; c < SHML_CTR_COUNT; c++)
        ck_assert_uint_eq(R.totals[c], 0);
    /* ignored type still creates the process slot (§4.2) */
    ck_assert_int_eq(R.processes[0].pid, 100);
    ck_assert_uint_eq(R.num_active_processes, 1);
}
END_TEST

START_TEST(test_chip_sentinel_mismatch_v2a_region_v2b_writer) {
    /* §7.3: a v2b writer on a v2a-initialised region finds no free chip slot. */
    shmm_config ca, cb;
    shmm_config_default(&ca, SHML_V2A, SHMM_SUB_NONE);
    shmm_config_default(&cb, SHML_V2B, SHMM_SUB_NONE);
    world_reset();
    static proc a, b;
    proc_make(&a, &ca, 100, "a");
    proc_make(&b, &cb, 200, "b");
    attach(&a);
    attach(&b);
    ck_assert_int_eq(b.res.attach, SHMM_ATTACH_ATTACHED); /* same version number: no check fires */
    alloc(&b, 100, SHML_TYPE_DRAM, 5);
    ck_assert_int_eq(b.res.chip_slot, -1);
    alloc(&b, 10, SHML_TYPE_DRAM, 0);
    ck_assert_int_eq(b.res.chip_slot, 0);
    decode(SHML_V2B);
    ck_assert_uint_eq(R.totals[SHML_CTR_DRAM], 110);
    ck_assert_uint_eq(R.chips[0].counters[SHML_CTR_DRAM], 10);
    for (int s = 1; s < SHML_MAX_CHIPS; s++)
        ck_assert_uint_eq(R.chips[s].chip_id, 0);
}
END_TEST

START_TEST(test_chip_table_full) {
    shmm_config cfg;
    shmm_config_default(&cfg, SHML_V3, SHMM_SUB_NONE);
    world_reset();
    static proc a;
    proc_make(&a, &cfg, 100, "a");
    attach(&a);
    for (uint32_t chip = 0; chip < 16; chip++) {
        alloc(&a, 1, SHML_TYPE_L1, chip);
        ck_assert_int_eq(a.res.chip_slot, (int)chip);
    }
    alloc(&a, 1, SHML_TYPE_L1, 16);
    ck_assert_int_eq(a.res.chip_slot, -1);
    decode(SHML_V3);
    ck_assert_uint_eq(R.totals[SHML_CTR_L1], 17);
    ck_assert_uint_eq(R.chips[15].chip_id, 15);
    ck_assert_uint_eq(R.chips[15].counters[SHML_CTR_L1], 1);
}
END_TEST

START_TEST(test_process_table_full) {
    /* v4c: no slot, nothing recorded; v4a: totals still updated (§4.2, §4.6) */
    for (int var = VAR_V4A; var <= VAR_V4C; var += 2) {
        shmm_config cfg;
        config_of(var, &cfg);
        world_reset();
        static proc many[64], extra;
        for (int i = 0; i < 64; i++) {
            proc_make(&many[i], &cfg, 1000 + i, "w");
            attach(&many[i]);
            ck_assert_int_eq(many[i].res.slot, i);
        }
        proc_make(&extra, &cfg, 5000, "late");
        attach(&extra);
        ck_assert_int_eq(extra.res.slot, -1);
        alloc(&extra, 100, SHML_TYPE_DRAM, 0);
        ck_assert_int_eq(extra.res.slot, -1);
        decode(SHML_V4);
        ck_assert_uint_eq(R.totals[SHML_CTR_DRAM], var == VAR_V4C ? 0 : 100);
        ck_assert_uint_eq(R.reference_count, 64);
        ck_assert_uint_eq(R.num_active_processes, 64);
    }
}
END_TEST

START_TEST(test_process_names) {
    shmm_process p;
    uint8_t name[64];
    shmm_process_init(&p, 7, "a-very-long-process-name");
    ck_assert_str_eq(p.comm, "a-very-long-pro"); /* /proc/pid/comm: 15 characters */
    shmm_process_name_bytes(&p, name);
    ck_assert_str_eq((char *)name, "a-very-long-pro");
    ck_assert_uint_eq(name[63], 0);
    shmm_process_init(&p, 7, NULL);
    shmm_process_name_bytes(&p, name);
    ck_assert_str_eq((char *)name, "unknown");
}
END_TEST

START_TEST(test_per_pid_off_and_idle_reset) {
    /* §7.22: a v4c provider without per-PID tracking records totals without a slot; the
     * next attach with reference_count 0 resets them. */
    shmm_config off, on;
    shmm_config_default(&off, SHML_V4, SHMM_SUB_V4C);
    off.per_pid = 0;
    shmm_config_default(&on, SHML_V4, SHMM_SUB_V4C);
    world_reset();
    static proc a, b;
    proc_make(&a, &off, 100, "a");
    proc_make(&b, &on, 200, "b");
    attach(&a);
    alloc(&a, 100, SHML_TYPE_DRAM, 0);
    ck_assert_int_eq(a.res.slot, -1);
    decode(SHML_V4);
    ck_assert_uint_eq(R.totals[SHML_CTR_DRAM], 100);
    ck_assert_uint_eq(R.reference_count, 0);
    attach(&b);
    decode(SHML_V4);
    ck_assert_uint_eq(R.totals[SHML_CTR_DRAM], 0);
    ck_assert_uint_eq(R.chips[0].counters[SHML_CTR_DRAM], 0);
    ck_assert_uint_eq(R.reference_count, 1);

    /* the §7b intermediate v4c without the idle reset keeps them */
    world_reset();
    on.idle_reset = 0;
    proc_make(&a, &off, 100, "a");
    proc_make(&b, &on, 200, "b");
    attach(&a);
    alloc(&a, 100, SHML_TYPE_DRAM, 0);
    attach(&b);
    decode(SHML_V4);
    ck_assert_uint_eq(R.totals[SHML_CTR_DRAM], 100);
}
END_TEST

/* ---- lifecycle defects ------------------------------------------------------------------ */

START_TEST(test_crash_leaks_refcount_v3) {
    /* §7.4: a killed process keeps its increment; the last-out reset never fires. */
    shmm_config cfg;
    shmm_config_default(&cfg, SHML_V3, SHMM_SUB_NONE);
    world_reset();
    static proc a, b;
    proc_make(&a, &cfg, 100, "a");
    proc_make(&b, &cfg, 200, "b");
    attach(&a);
    attach(&b);
    alloc(&b, 4096, SHML_TYPE_L1, 0);
    kill_proc(&b);
    detach(&a);
    decode(SHML_V3);
    ck_assert_uint_eq(R.reference_count, 1);
    ck_assert_uint_eq(R.totals[SHML_CTR_L1], 4096);
    ck_assert_int_eq(R.processes[0].pid, 200); /* slots are claimed at first record */
    ck_assert_uint_eq(R.chips[0].counters[SHML_CTR_L1], 4096);
}
END_TEST

START_TEST(test_v4_reaping_at_attach) {
    for (int var = VAR_V4A; var <= VAR_V4C; var++) {
        shmm_config cfg;
        config_of(var, &cfg);
        world_reset();
        static proc a, b;
        proc_make(&a, &cfg, 100, "a");
        proc_make(&b, &cfg, 200, "b");
        attach(&a);
        alloc(&a, 1000, SHML_TYPE_DRAM, 0);
        kill_proc(&a);
        attach(&b);
        ck_assert_uint_eq(b.res.cleaned, 1);
        ck_assert_int_eq(b.res.slot, 0); /* A's slot, freed by the reap */
        decode(SHML_V4);
        ck_assert_uint_eq(R.totals[SHML_CTR_DRAM], 0);
        ck_assert_int_eq(R.processes[0].pid, 200);
        ck_assert_uint_eq(R.processes[0].counters[SHML_CTR_DRAM], 0);
        ck_assert_uint_eq(R.reference_count, 1);
        ck_assert_uint_eq(R.num_active_processes, 1);
        /* chip counters: only v4c's idle reset (refcount 0 after the reap) clears them */
        ck_assert_uint_eq(R.chips[0].counters[SHML_CTR_DRAM], var == VAR_V4C ? 0 : 1000);
    }
}
END_TEST

START_TEST(test_v4_on_live_pre_v4_region) {
    /* §7.6: v4a reinitialises a v3 region under a live v3 writer; v4c refuses it, and
     * reclaims it once the writer is dead. */
    for (int var = VAR_V4A; var <= VAR_V4C; var += 2) {
        shmm_config c3, c4;
        shmm_config_default(&c3, SHML_V3, SHMM_SUB_NONE);
        config_of(var, &c4);
        world_reset();
        static proc w, x;
        proc_make(&w, &c3, 500, "old");
        proc_make(&x, &c4, 600, "new");
        attach(&w);
        alloc(&w, 100, SHML_TYPE_DRAM, 0);
        attach(&x);
        decode(SHML_V4);
        if (var == VAR_V4A) {
            ck_assert_int_eq(x.res.attach, SHMM_ATTACH_REINITIALIZED);
            ck_assert_uint_eq(R.version, 4);
            ck_assert_uint_eq(R.totals[SHML_CTR_DRAM], 0);
            ck_assert_int_eq(R.processes[0].pid, 600);
        } else {
            ck_assert_int_eq(x.res.attach, SHMM_ATTACH_DISABLED);
            ck_assert_str_eq(x.res.disabled_reason, "live pre-v4 writer still using the region");
            ck_assert_uint_eq(R.version, 3);
            ck_assert_uint_eq(R.totals[SHML_CTR_DRAM], 100);
            ck_assert_int_eq(x.p.enabled, 0);
            kill_proc(&w);
            attach(&x);
            ck_assert_int_eq(x.res.attach, SHMM_ATTACH_REINITIALIZED);
            decode(SHML_V4);
            ck_assert_uint_eq(R.version, 4);
            ck_assert_uint_eq(R.init_state, SHML_INIT_READY);
        }
    }
}
END_TEST

START_TEST(test_v4_wedged_initialiser) {
    /* §7.7: the creator dies after its CAS to IN_PROGRESS. */
    for (int var = VAR_V4A; var <= VAR_V4C; var += 2) {
        shmm_config cfg;
        config_of(var, &cfg);
        cfg.ready_poll_attempts = 5;
        world_reset();
        static proc a, b;
        proc_make(&a, &cfg, 100, "a");
        proc_make(&b, &cfg, 200, "b");
        /* open, ftruncate, load init_state, (v4c: load version), CAS 0->1 */
        unsigned long cas_step = var == VAR_V4C ? 5 : 4;
        shmm_image_arm(&a.img, cas_step);
        ck_assert_int_eq(attach(&a), 0);
        ck_assert_uint_eq(a.res.steps, cas_step);
        ck_assert_int_eq(a.p.crashed, 1);
        ck_assert_uint_eq(file.bytes[8536], SHML_INIT_IN_PROGRESS);
        kill_proc(&a);
        ck_assert_int_eq(attach(&b), 1);
        if (var == VAR_V4A) {
            ck_assert_int_eq(b.res.attach, SHMM_ATTACH_DISABLED);
            ck_assert_str_eq(b.res.disabled_reason, "timed out waiting for region initialisation");
        } else {
            ck_assert_int_eq(b.res.attach, SHMM_ATTACH_REINITIALIZED);
            decode(SHML_V4);
            ck_assert_uint_eq(R.init_state, SHML_INIT_READY);
            ck_assert_int_eq(R.processes[0].pid, 200);
        }
    }
}
END_TEST

/* ---- crash after every step ------------------------------------------------------------- */

START_TEST(test_crash_after_every_step_of_alloc) {
    int var = _i;
    shml_version v = variants[var].v;
    shmm_config cfg;
    config_of(var, &cfg);
    world_reset();
    static proc a;
    static shmm_file base;
    proc_make(&a, &cfg, 100, "a");
    attach(&a);
    alloc(&a, 5, SHML_TYPE_DRAM, 0); /* slot exists from here on */
    base = file;
    shmm_image_arm(&a.img, 0);
    ck_assert_int_eq(alloc(&a, 1000, SHML_TYPE_DRAM, 0), 1);
    unsigned long n = a.res.steps;
    /* Hand-counted (§4.2): v1-K/N: T+, chip load, C+, ts, pid load, P load, P store, P ts;
     * v1-A..v4a: T+, chip load, C+, ts, pid load, P+, P ts; v4b/c: pid load first. */
    unsigned long k_total = (var == VAR_V4B || var == VAR_V4C) ? 2 : 1;
    unsigned long k_chip = k_total + 2;
    unsigned long k_proc = (var == VAR_L1K || var == VAR_L1N) ? 7 : 6;
    ck_assert_uint_eq(n, (var == VAR_L1K || var == VAR_L1N) ? 8 : 7);
    for (unsigned long k = 1; k < n; k++) {
        file = base;
        a.p.enabled = 1;
        a.p.crashed = 0;
        shmm_image_arm(&a.img, k);
        ck_assert_int_eq(alloc(&a, 1000, SHML_TYPE_DRAM, 0), 0);
        ck_assert_uint_eq(a.res.steps, k);
        ck_assert_int_eq(a.res.completed, 0);
        ck_assert_int_eq(a.p.crashed, 1);
        decode(v);
        ck_assert_uint_eq(R.totals[SHML_CTR_DRAM], k >= k_total ? 1005 : 5);
        ck_assert_uint_eq(R.chips[0].counters[SHML_CTR_DRAM], k >= k_chip ? 1005 : 5);
        ck_assert_uint_eq(R.processes[0].counters[SHML_CTR_DRAM], k >= k_proc ? 1005 : 5);
        /* §7.21: between the two, the total holds bytes no slot holds */
        if (k >= k_total && k < k_proc)
            ck_assert_uint_ne(R.totals[SHML_CTR_DRAM], R.processes[0].counters[SHML_CTR_DRAM]);
    }
}
END_TEST

START_TEST(test_crash_mid_initialisation_v1) {
    /* §7.2: a v1-K creator killed mid-initialize_region leaves version set, the rest of
     * the table unwritten; an attacher uses it as is (no readiness flag). Steps: open,
     * ftruncate, version, num_active, timestamp, reference_count. */
    shmm_config cfg;
    shmm_config_default(&cfg, SHML_L1K, SHMM_SUB_NONE);
    world_reset();
    static proc a, b;
    proc_make(&a, &cfg, 100, "a");
    proc_make(&b, &cfg, 200, "b");
    shmm_image_arm(&a.img, 3);
    ck_assert_int_eq(attach(&a), 0);
    kill_proc(&a);
    decode(SHML_L1K);
    ck_assert_uint_eq(R.version, 1);
    ck_assert_uint_eq(R.last_update_timestamp, 0);
    ck_assert_int_eq(attach(&b), 1);
    ck_assert_int_eq(b.res.attach, SHMM_ATTACH_ATTACHED);
    decode(SHML_L1K);
    ck_assert_uint_eq(R.reference_count, 1);
}
END_TEST

/* ---- races through hooks ---------------------------------------------------------------- */

typedef struct {
    char op;
    size_t offset;
    int nth;   /* fire on the nth matching access */
    int seen;
    int fired;
    shmm_image *img;
    void (*action)(void);
} trigger;

static int on_trigger(void *user, unsigned long step) {
    (void)step;
    trigger *t = user;
    if (t->fired || t->img->last_op != t->op || t->img->last_offset != t->offset)
        return 0;
    if (++t->seen == t->nth) {
        t->fired = 1;
        t->action();
    }
    return 0;
}

static void arm_trigger(trigger *t, proc *x, char op, size_t offset, int nth, void (*action)(void)) {
    memset(t, 0, sizeof *t);
    t->op = op;
    t->offset = offset;
    t->nth = nth;
    t->img = &x->img;
    t->action = action;
    x->img.on_step = on_trigger;
    x->img.user = t;
}

static proc ra, rb, rc, rd;

static void b_alloc_10(void) { alloc(&rb, 10, SHML_TYPE_DRAM, 0); }
static void b_free_800(void) { release(&rb, 800, SHML_TYPE_DRAM, 0); }
static void b_attach(void) { attach(&rb); }
static void c_attach(void) { attach(&rc); }
static void a_alloc_l1_100(void) { alloc(&ra, 100, SHML_TYPE_L1, 0); }

START_TEST(test_race_lost_num_active_update) {
    /* §7.10: plain ++ of num_active_processes; B's whole first record runs between A's
     * load and A's store. */
    shmm_config cfg;
    shmm_config_default(&cfg, SHML_L1K, SHMM_SUB_NONE);
    world_reset();
    proc_make(&ra, &cfg, 100, "a");
    proc_make(&rb, &cfg, 200, "b");
    attach(&ra);
    attach(&rb);
    trigger t;
    arm_trigger(&t, &ra, 'l', shml_off(SHML_L1K, SHML_F_NUM_ACTIVE, 0, 0), 1, b_alloc_10);
    alloc(&ra, 1, SHML_TYPE_DRAM, 0);
    ck_assert_int_eq(t.fired, 1);
    decode(SHML_L1K);
    ck_assert_int_eq(R.processes[0].pid, 100);
    ck_assert_int_eq(R.processes[1].pid, 200);
    ck_assert_uint_eq(R.num_active_processes, 1); /* two live slots */
}
END_TEST

START_TEST(test_race_double_slot_claim) {
    /* §7.11: test-then-store claim (v1-K). B claims slot 0 between A's test and A's
     * store: both wrote slot 0, B's bytes vanish from the table. */
    shmm_config cfg;
    shmm_config_default(&cfg, SHML_L1K, SHMM_SUB_NONE);
    world_reset();
    proc_make(&ra, &cfg, 100, "a");
    proc_make(&rb, &cfg, 200, "b");
    attach(&ra);
    attach(&rb);
    trigger t;
    /* the 1st load of slot 0's pid is pass 1, the 2nd is pass 2's test */
    arm_trigger(&t, &ra, 'l', shml_off(SHML_L1K, SHML_F_PROC_PID, 0, 0), 2, b_alloc_10);
    alloc(&ra, 1000, SHML_TYPE_DRAM, 0);
    ck_assert_int_eq(t.fired, 1);
    decode(SHML_L1K);
    ck_assert_int_eq(R.processes[0].pid, 100);
    ck_assert_uint_eq(R.processes[0].counters[SHML_CTR_DRAM], 1000);
    ck_assert_int_eq(R.processes[1].pid, 0);
    ck_assert_uint_eq(R.totals[SHML_CTR_DRAM], 1010);
    ck_assert_uint_eq(R.num_active_processes, 2);

    /* v3 with the CAS claim: same moment (end of A's pass 1), A's CAS on slot 0 fails and
     * it takes slot 1. */
    shmm_config_default(&cfg, SHML_V3, SHMM_SUB_NONE);
    world_reset();
    proc_make(&ra, &cfg, 100, "a");
    proc_make(&rb, &cfg, 200, "b");
    attach(&ra);
    attach(&rb);
    arm_trigger(&t, &ra, 'l', shml_off(SHML_V3, SHML_F_PROC_PID, 63, 0), 1, b_alloc_10);
    alloc(&ra, 1000, SHML_TYPE_DRAM, 0);
    ck_assert_int_eq(t.fired, 1);
    decode(SHML_V3);
    ck_assert_int_eq(R.processes[0].pid, 200);
    ck_assert_int_eq(R.processes[1].pid, 100);
    ck_assert_uint_eq(R.processes[0].counters[SHML_CTR_DRAM], 10);
    ck_assert_uint_eq(R.processes[1].counters[SHML_CTR_DRAM], 1000);
}
END_TEST

START_TEST(test_race_destructor_wraps_total) {
    /* §7.8: `if (T >= P) T.fetch_sub(P)`: B's free lands between A's test and A's
     * subtraction, the total wraps. */
    shmm_config cfg;
    shmm_config_default(&cfg, SHML_L1K, SHMM_SUB_NONE);
    world_reset();
    proc_make(&ra, &cfg, 100, "a");
    proc_make(&rb, &cfg, 200, "b");
    attach(&ra);
    attach(&rb);
    alloc(&ra, 1000, SHML_TYPE_DRAM, 0);
    alloc(&rb, 500, SHML_TYPE_DRAM, 0);
    trigger t;
    arm_trigger(&t, &ra, 'l', shml_off(SHML_L1K, SHML_F_TOTAL, 0, SHML_CTR_DRAM), 1, b_free_800);
    detach(&ra);
    ck_assert_int_eq(t.fired, 1);
    decode(SHML_L1K);
    ck_assert_uint_eq(R.totals[SHML_CTR_DRAM], UINT64_MAX - 299); /* 700 - 1000 */
}
END_TEST

START_TEST(test_race_v3_attach_during_creation) {
    /* §7.2/§7.5: B attaches between A's shm_open and A's initialisation: it reads version
     * 0 with reference_count 0 and initialises; A's initialisation then stores 0 into
     * reference_count: one increment lost. */
    shmm_config cfg;
    shmm_config_default(&cfg, SHML_V3, SHMM_SUB_NONE);
    world_reset();
    proc_make(&ra, &cfg, 100, "a");
    proc_make(&rb, &cfg, 200, "b");
    trigger t;
    arm_trigger(&t, &ra, 'o', 0, 1, b_attach);
    attach(&ra);
    ck_assert_int_eq(t.fired, 1);
    ck_assert_int_eq(ra.res.attach, SHMM_ATTACH_CREATED);
    ck_assert_int_eq(rb.res.attach, SHMM_ATTACH_REINITIALIZED);
    decode(SHML_V3);
    ck_assert_uint_eq(R.reference_count, 1); /* two attached */
}
END_TEST

START_TEST(test_race_two_reapers) {
    /* §7.20 (v4b): B and C both reap dead A. C runs entirely while B is inside
     * release_process_slot; C then claims the freed slot and B's release clears it again:
     * counts undercount and D's bytes are subtracted away. v4c's CAS to -1 prevents it. */
    for (int var = VAR_V4B; var <= VAR_V4C; var++) {
        shmm_config cfg;
        config_of(var, &cfg);
        world_reset();
        proc_make(&rd, &cfg, 400, "d");
        proc_make(&ra, &cfg, 100, "a");
        proc_make(&rb, &cfg, 200, "b");
        proc_make(&rc, &cfg, 300, "c");
        attach(&rd);
        alloc(&rd, 300, SHML_TYPE_DRAM, 0);
        attach(&ra);
        alloc(&ra, 1000, SHML_TYPE_DRAM, 0);
        kill_proc(&ra);
        trigger t;
        if (var == VAR_V4B)
            arm_trigger(&t, &rb, 'l', shml_off(SHML_V4, SHML_F_PROC_COUNTER, 1, SHML_CTR_DRAM), 1, c_attach);
        else
            arm_trigger(&t, &rb, 'c', shml_off(SHML_V4, SHML_F_PROC_PID, 1, 0), 1, c_attach);
        attach(&rb);
        ck_assert_int_eq(t.fired, 1);
        decode(SHML_V4);
        ck_assert_int_eq(R.processes[0].pid, 400);
        if (var == VAR_V4B) {
            ck_assert_int_eq(R.processes[1].pid, 200);
            ck_assert_int_eq(R.processes[2].pid, 0); /* C lost its slot */
            ck_assert_uint_eq(R.reference_count, 2); /* three live processes */
            ck_assert_uint_eq(R.totals[SHML_CTR_DRAM], 0); /* D's 300 subtracted away */
        } else {
            ck_assert_int_eq(R.processes[1].pid, 200);
            ck_assert_int_eq(R.processes[2].pid, 300);
            ck_assert_uint_eq(R.reference_count, 3);
            ck_assert_uint_eq(R.num_active_processes, 3);
            ck_assert_uint_eq(R.totals[SHML_CTR_DRAM], 300);
        }
        ck_assert_uint_eq(R.processes[0].counters[SHML_CTR_DRAM], 300);
    }
}
END_TEST

START_TEST(test_race_reaper_against_new_claimer) {
    /* B's reap has read dead A's pid in slot 1; C then reaps A and claims slot 1. v4a's
     * clear_process_slot (no CAS, §7.19) wipes C's fresh slot; v4c's CAS from A to -1 fails
     * and C keeps it. */
    for (int var = VAR_V4A; var <= VAR_V4C; var += 2) {
        shmm_config cfg;
        config_of(var, &cfg);
        world_reset();
        proc_make(&rd, &cfg, 400, "d");
        proc_make(&ra, &cfg, 100, "a");
        proc_make(&rb, &cfg, 200, "b");
        proc_make(&rc, &cfg, 300, "c");
        attach(&rd);
        attach(&ra);
        alloc(&ra, 1000, SHML_TYPE_DRAM, 0);
        kill_proc(&ra);
        trigger t;
        /* B's attach: init_state and version loads, then the reap loads pid 0, pid 1 */
        arm_trigger(&t, &rb, 'l', shml_off(SHML_V4, SHML_F_PROC_PID, 1, 0), 1, c_attach);
        attach(&rb);
        ck_assert_int_eq(t.fired, 1);
        ck_assert_int_eq(rc.res.slot, 1);
        decode(SHML_V4);
        if (var == VAR_V4A) {
            ck_assert_int_eq(R.processes[1].pid, 200); /* B took the slot C had claimed */
            ck_assert_int_eq(R.processes[2].pid, 0);
            ck_assert_uint_eq(R.num_active_processes, 2); /* three live processes */
        } else {
            ck_assert_int_eq(R.processes[1].pid, 300);
            ck_assert_int_eq(R.processes[2].pid, 200);
            ck_assert_uint_eq(R.num_active_processes, 3);
            ck_assert_uint_eq(R.reference_count, 3);
        }
        ck_assert_uint_eq(R.totals[SHML_CTR_DRAM], 0);
    }
}
END_TEST

START_TEST(test_record_reclaims_cleaned_slot) {
    /* §7.14: after a cleaner freed a live process's slot, its next record claims one
     * again; the claim bumps both counts in v4b/v4c, not in v4a (derived counts). */
    for (int var = VAR_V4A; var <= VAR_V4C; var++) {
        shmm_config cfg;
        config_of(var, &cfg);
        world_reset();
        proc_make(&ra, &cfg, 100, "a");
        attach(&ra);
        shmm_pidset_remove(&live, 100); /* a cleaner wrongly sees it dead */
        shmm_result res;
        reader(SHMM_READER_SAFE, SHML_V4, &res);
        ck_assert_uint_eq(res.cleaned, 1);
        shmm_pidset_add(&live, 100, 0);
        decode(SHML_V4);
        ck_assert_uint_eq(R.num_active_processes, 0);
        release(&ra, 10, SHML_TYPE_DRAM, 0);
        ck_assert_int_eq(ra.res.slot, 0);
        decode(SHML_V4);
        ck_assert_int_eq(R.processes[0].pid, 100);
        ck_assert_uint_eq(R.num_active_processes, var == VAR_V4A ? 0 : 1);
        ck_assert_uint_eq(R.reference_count, var == VAR_V4A ? 0 : 1);
    }
}
END_TEST

START_TEST(test_initial_chip_slot_holds_device_id) {
    for (int var = 0; var < VAR_COUNT; var++) {
        shmm_config cfg;
        config_of(var, &cfg);
        world_reset();
        proc_make(&ra, &cfg, 100, "a");
        ra.p.device_id = 3;
        attach(&ra);
        decode(variants[var].v);
        ck_assert_uint_eq(R.device_id, 3);
        ck_assert_uint_eq(R.chips[0].chip_id, 3);
        ck_assert_uint_eq(R.chips[1].chip_id, sentinel_zero(var) ? 0 : 0xFFFFFFFFu);
        ck_assert_uint_eq(R.chips[15].chip_id, sentinel_zero(var) ? 0 : 0xFFFFFFFFu);
        /* v4 claims at attach; earlier versions at the first record */
        ck_assert_int_eq(R.processes[0].pid, variants[var].v == SHML_V4 ? 100 : 0);
    }
}
END_TEST

START_TEST(test_race_v4a_recompute_loses_allocation) {
    /* §7.19: B's recompute_aggregates sums the slots, A records 100 bytes of L1, B stores
     * the stale sum. */
    shmm_config cfg;
    shmm_config_default(&cfg, SHML_V4, SHMM_SUB_V4A);
    world_reset();
    proc_make(&ra, &cfg, 100, "a");
    proc_make(&rb, &cfg, 200, "b");
    attach(&ra);
    alloc(&ra, 50, SHML_TYPE_L1, 0);
    trigger t;
    arm_trigger(&t, &rb, 's', shml_off(SHML_V4, SHML_F_TOTAL, 0, SHML_CTR_DRAM), 1, a_alloc_l1_100);
    attach(&rb);
    ck_assert_int_eq(t.fired, 1);
    decode(SHML_V4);
    ck_assert_uint_eq(R.processes[0].counters[SHML_CTR_L1], 150);
    ck_assert_uint_eq(R.totals[SHML_CTR_L1], 50);
}
END_TEST

/* ---- readers ---------------------------------------------------------------------------- */

/* v1-K region: A (pid 100, dead) dram 1000 + l1 200 in slot 0, B (pid 200) dram 300. */
static void build_v1k_with_dead(int b_other_user) {
    shmm_config cfg;
    shmm_config_default(&cfg, SHML_L1K, SHMM_SUB_NONE);
    world_reset();
    proc_make(&ra, &cfg, 100, "a");
    proc_make(&rb, &cfg, 200, "b");
    attach(&ra);
    attach(&rb);
    alloc(&ra, 1000, SHML_TYPE_DRAM, 0);
    alloc(&ra, 200, SHML_TYPE_L1, 0);
    alloc(&rb, 300, SHML_TYPE_DRAM, 0);
    kill_proc(&ra);
    if (b_other_user)
        shmm_pidset_add(&live, 200, 1);
}

static void assert_slot_zero_bytes(size_t base, size_t len) {
    for (size_t i = 0; i < len; i++)
        ck_assert_msg(file.bytes[base + i] == 0, "byte %zu not zero", base + i);
}

START_TEST(test_reader_tt_smi_77c4) {
    build_v1k_with_dead(0);
    shmm_result res;
    ck_assert_int_eq(reader(SHMM_READER_TT_SMI_77C4, SHML_L1K, &res), 1);
    ck_assert_uint_eq(res.cleaned, 1);
    decode(SHML_L1K);
    assert_slot_zero_bytes(992, 128);
    ck_assert_uint_eq(R.totals[SHML_CTR_DRAM], 1300); /* totals untouched (§6.1) */
    ck_assert_uint_eq(R.totals[SHML_CTR_L1], 200);
    ck_assert_uint_eq(R.num_active_processes, 1);
    ck_assert_int_eq(R.processes[1].pid, 200);
}
END_TEST

START_TEST(test_reader_tt_smi_613a_and_ui) {
    for (int ui = 0; ui <= 1; ui++) {
        build_v1k_with_dead(0);
        shmm_result res;
        reader(ui ? SHMM_READER_TT_SMI_UI : SHMM_READER_TT_SMI_613A, SHML_L1K, &res);
        ck_assert_uint_eq(res.cleaned, 1);
        decode(SHML_L1K);
        assert_slot_zero_bytes(992, 128);
        ck_assert_uint_eq(R.totals[SHML_CTR_DRAM], 300);
        ck_assert_uint_eq(R.totals[SHML_CTR_L1], 0);
        ck_assert_uint_eq(R.chips[0].counters[SHML_CTR_DRAM], 1300); /* chips untouched */
        ck_assert_uint_eq(R.num_active_processes, ui ? 2 : 1);     /* the backend does not recount */
    }
}
END_TEST

START_TEST(test_reader_eperm_counts_as_dead) {
    /* §7.24: tt_smi wipes a live slot of another user; safe and tt-mgmt do not. */
    build_v1k_with_dead(1);
    shmm_result res;
    reader(SHMM_READER_TT_SMI_613A, SHML_L1K, &res);
    ck_assert_uint_eq(res.cleaned, 2);
    decode(SHML_L1K);
    ck_assert_uint_eq(R.totals[SHML_CTR_DRAM], 0);
    ck_assert_uint_eq(R.num_active_processes, 0);

    build_v1k_with_dead(1);
    reader(SHMM_READER_SAFE, SHML_L1K, &res);
    ck_assert_uint_eq(res.cleaned, 1);
    decode(SHML_L1K);
    ck_assert_int_eq(R.processes[1].pid, 200);
    ck_assert_uint_eq(R.totals[SHML_CTR_DRAM], 300);
}
END_TEST

START_TEST(test_reader_unclamped_wraps_safe_clamps) {
    for (int safe = 0; safe <= 1; safe++) {
        build_v1k_with_dead(0);
        /* totals already reduced below A's slot (e.g. a clamp earlier): 500 */
        decode(SHML_L1K);
        R.totals[SHML_CTR_DRAM] = 500;
        ck_assert_int_eq(shml_encode(SHML_L1K, &R, file.bytes, file.size, NULL, 0), 0);
        shmm_result res;
        reader(safe ? SHMM_READER_SAFE : SHMM_READER_TT_SMI_613A, SHML_L1K, &res);
        decode(SHML_L1K);
        ck_assert_uint_eq(R.totals[SHML_CTR_DRAM], safe ? 0 : UINT64_MAX - 499);
        if (safe) {
            ck_assert_int_eq(R.processes[0].pid, 0);
            assert_name(0, "");
            ck_assert_uint_eq(R.num_active_processes, 1);
            ck_assert_uint_eq(R.reference_count, 1); /* A's leaked attach returned */
        }
    }
}
END_TEST

START_TEST(test_reader_python_does_nothing) {
    build_v1k_with_dead(0);
    static shmm_file before;
    before = file;
    shmm_result res;
    ck_assert_int_eq(reader(SHMM_READER_PYTHON, SHML_L1K, &res), 1);
    ck_assert_uint_eq(res.cleaned, 0);
    ck_assert_uint_eq(res.steps, 0);
    ck_assert_int_eq(memcmp(before.bytes, file.bytes, sizeof file.bytes), 0);
}
END_TEST

/* v4c region: D (pid 400) dram 300 in slot 0, A (pid 100, dead) dram 1000 + l1 200 in slot 1. */
static void build_v4_with_dead(shml_version v) {
    shmm_config cfg;
    shmm_config_default(&cfg, v, SHMM_SUB_V4C);
    world_reset();
    proc_make(&rd, &cfg, 400, "d");
    proc_make(&ra, &cfg, 100, "a");
    attach(&rd);
    attach(&ra);
    alloc(&rd, 300, SHML_TYPE_DRAM, 0);
    alloc(&ra, 1000, SHML_TYPE_DRAM, 0);
    alloc(&ra, 200, SHML_TYPE_L1, 0);
    kill_proc(&ra);
}

START_TEST(test_reader_tt_mgmt) {
    for (int cleanup = 0; cleanup <= 1; cleanup++) {
        build_v4_with_dead(SHML_V4);
        shmm_result res;
        reader(cleanup ? SHMM_READER_TT_MGMT_CLEANUP : SHMM_READER_TT_MGMT_UPDATE, SHML_V4, &res);
        ck_assert_uint_eq(res.cleaned, 1);
        decode(SHML_V4);
        ck_assert_uint_eq(R.totals[SHML_CTR_DRAM], 300);
        ck_assert_uint_eq(R.totals[SHML_CTR_L1], 0);
        ck_assert_int_eq(R.processes[1].pid, 0);
        ck_assert_uint_eq(R.processes[1].counters[SHML_CTR_DRAM], 0);
        assert_name(1, "a"); /* tt-mgmt does not clear the name */
        ck_assert_uint_eq(R.reference_count, cleanup ? 1 : 2);
        ck_assert_uint_eq(R.num_active_processes, cleanup ? 1 : 2);
    }
    /* v3 accepted; v2 and an unready v4 refused */
    build_v4_with_dead(SHML_V3);
    shmm_result res;
    reader(SHMM_READER_TT_MGMT_UPDATE, SHML_V4, &res);
    ck_assert_uint_eq(res.cleaned, 1);
    build_v4_with_dead(SHML_V2B);
    reader(SHMM_READER_TT_MGMT_UPDATE, SHML_V4, &res);
    ck_assert_uint_eq(res.cleaned, 0);
    decode(SHML_V2B);
    ck_assert_uint_eq(R.totals[SHML_CTR_DRAM], 1300);
    build_v4_with_dead(SHML_V4);
    file.bytes[8536] = 1;
    file.bytes[8537] = file.bytes[8538] = file.bytes[8539] = 0;
    reader(SHMM_READER_TT_MGMT_CLEANUP, SHML_V4, &res);
    ck_assert_uint_eq(res.cleaned, 0);
}
END_TEST

START_TEST(test_reader_safe_on_v4) {
    build_v4_with_dead(SHML_V4);
    shmm_result res;
    reader(SHMM_READER_SAFE, SHML_V4, &res);
    ck_assert_uint_eq(res.cleaned, 1);
    decode(SHML_V4);
    ck_assert_uint_eq(R.totals[SHML_CTR_DRAM], 300);
    ck_assert_uint_eq(R.totals[SHML_CTR_L1], 0);
    ck_assert_int_eq(R.processes[1].pid, 0);
    assert_name(1, "");
    ck_assert_uint_eq(R.reference_count, 1);
    ck_assert_uint_eq(R.num_active_processes, 1);
    ck_assert_uint_eq(R.chips[0].counters[SHML_CTR_DRAM], 1300); /* chips are never reduced */
}
END_TEST

START_TEST(test_reader_tt_smi_on_v4_file_writes_wrong_offsets) {
    /* §7.23: the v1-K mirror on a v4 file. Slot 1's l1 counter (offset 976 + 16 = 992)
     * reads as the v1-K "pid" of slot 0; 4242 is not a live pid, so tt_smi subtracts
     * garbage from the totals and wipes 128 bytes at 992, including live slot 2's pid. */
    shmm_config cfg;
    shmm_config_default(&cfg, SHML_V4, SHMM_SUB_V4C);
    world_reset();
    proc_make(&ra, &cfg, 100, "a");
    proc_make(&rb, &cfg, 200, "b");
    proc_make(&rc, &cfg, 300, "c");
    attach(&ra);
    attach(&rb);
    attach(&rc);
    alloc(&rb, 4242, SHML_TYPE_L1, 0);
    shmm_result res;
    ck_assert_int_eq(reader(SHMM_READER_TT_SMI_613A, SHML_L1K, &res), 1); /* no SIGBUS: same last page */
    ck_assert_uint_eq(res.cleaned, 1);
    assert_slot_zero_bytes(992, 128);
    decode(SHML_V4);
    ck_assert_int_eq(R.processes[1].pid, 200);
    ck_assert_int_eq(R.processes[2].pid, 0);             /* C is alive */
    ck_assert_uint_gt(R.totals[SHML_CTR_TRACE], UINT64_MAX / 2); /* minus slot 1's timestamp */
}
END_TEST

START_TEST(test_reader_sigbus_beyond_file) {
    /* tt_smi maps the v1-K size whatever the file size; past the file's last page: SIGBUS. */
    world_reset();
    file.exists = 1;
    file.size = 4096;
    file.bytes[992] = 0x10; /* a "pid" 16 in slot 0 (dead) */
    shmm_image img;
    shmm_ops ops;
    shmm_image_init(&img, &file);
    shmm_ops_image(&ops, &img);
    shmm_result res;
    ck_assert_int_eq(shmm_reader_cleanup(SHMM_READER_TT_SMI_77C4, NULL, &ops, &env, &res), 0);
    ck_assert_int_eq(img.sigbus, 1);
    ck_assert_int_eq(res.completed, 0);
}
END_TEST

/* ---- image backend and expectations ---------------------------------------------------- */

START_TEST(test_truncate_resizes_exactly) {
    /* §7.1: a v1-K attacher grows a v4 file to 9280; a v4 attacher shrinks it back, the
     * bytes beyond 8576 are gone. */
    shmm_config c4, ck;
    shmm_config_default(&c4, SHML_V4, SHMM_SUB_V4C);
    shmm_config_default(&ck, SHML_L1K, SHMM_SUB_NONE);
    world_reset();
    proc_make(&ra, &c4, 100, "a");
    proc_make(&rb, &ck, 200, "b");
    attach(&ra);
    attach(&rb);
    ck_assert_uint_eq(file.size, 9280);
    file.bytes[9000] = 0xAA;
    detach(&ra);
    attach(&ra);
    ck_assert_uint_eq(file.size, 8576);
    ck_assert_uint_eq(file.bytes[9000], 0);
    shmm_config cl1a;
    shmm_config_default(&cl1a, SHML_L1A, SHMM_SUB_NONE);
    ck_assert_uint_eq(shmm_config_region_size(&cl1a), 8640);
    cl1a.region_size = 8576;
    ck_assert_uint_eq(shmm_config_region_size(&cl1a), 8576);
    ck_assert_str_eq(shmm_config_name(&c4), "v4c");
}
END_TEST

START_TEST(test_open_denied_disables) {
    shmm_config cfg;
    shmm_config_default(&cfg, SHML_V4, SHMM_SUB_V4C);
    world_reset();
    file.exists = 1;
    file.deny_open = 1;
    proc_make(&ra, &cfg, 100, "a");
    ck_assert_int_eq(attach(&ra), 1);
    ck_assert_int_eq(ra.res.attach, SHMM_ATTACH_DISABLED);
    ck_assert_uint_eq(ra.res.steps, 1);
    alloc(&ra, 10, SHML_TYPE_DRAM, 0);
    ck_assert_uint_eq(ra.res.steps, 0);
}
END_TEST

START_TEST(test_expect_mask_and_compare) {
    static shmm_file first;
    static uint8_t mask[8576];
    char err[160];
    shmm_config cfg;
    shmm_config_default(&cfg, SHML_V4, SHMM_SUB_V4C);
    for (int run = 0; run < 3; run++) {
        world_reset();
        env.now_ns = run == 1 ? 777777 : 1000; /* run 1: other timestamps */
        proc_make(&ra, &cfg, 100, "a");
        attach(&ra);
        alloc(&ra, run == 2 ? 17 : 16, SHML_TYPE_DRAM, 0);
        if (run == 0)
            first = file;
    }
    shmm_expect_mask(SHML_V4, 8576, 0, mask);
    ck_assert_uint_eq(mask[8], 0);        /* region timestamp */
    ck_assert_uint_eq(mask[856 + 48], 0); /* slot 0 timestamp */
    ck_assert_uint_eq(mask[856 + 56], 0xFF);
    ck_assert_uint_eq(mask[48], 0xFF);
    /* run 2 differs in a determined byte */
    ck_assert_int_eq(shmm_expect_compare(SHML_V4, first.bytes, file.bytes, mask, 8576, err, sizeof err), 48);
    ck_assert_str_eq(err, "offset 48 (totals.dram): expected 0x10, found 0x11");
    /* rebuild run 1 (timestamps only differ) */
    world_reset();
    env.now_ns = 777777;
    proc_make(&ra, &cfg, 100, "a");
    attach(&ra);
    alloc(&ra, 16, SHML_TYPE_DRAM, 0);
    ck_assert_int_ne(memcmp(first.bytes, file.bytes, 8576), 0);
    ck_assert_int_eq(shmm_expect_compare(SHML_V4, first.bytes, file.bytes, mask, 8576, err, sizeof err), -1);
    shmm_expect_mask(SHML_V4, 8576, SHMM_MASK_SKIP_NAMES, mask);
    ck_assert_uint_eq(mask[856 + 56], 0);
}
END_TEST

START_TEST(test_reader_names) {
    for (int r = 0; r < SHMM_READER_COUNT; r++) {
        shmm_reader back;
        ck_assert_int_eq(shmm_reader_parse(shmm_reader_name((shmm_reader)r), &back), 0);
        ck_assert_int_eq(back, r);
    }
    ck_assert_str_eq(shmm_reader_name(SHMM_READER_TT_SMI_77C4), "tt_smi@77c44153");
}
END_TEST

static Suite *shm_model_suite(void) {
    Suite *s = suite_create("shm_model");
    TCase *tc = tcase_create("writers");
    tcase_add_loop_test(tc, test_lifecycle_two_processes, 0, VAR_COUNT);
    tcase_add_loop_test(tc, test_saturating_subtraction, 0, VAR_COUNT);
    tcase_add_test(tc, test_kernel_counted_in_v1k_only);
    tcase_add_test(tc, test_chip_sentinel_mismatch_v2a_region_v2b_writer);
    tcase_add_test(tc, test_chip_table_full);
    tcase_add_test(tc, test_process_table_full);
    tcase_add_test(tc, test_process_names);
    tcase_add_test(tc, test_record_reclaims_cleaned_slot);
    tcase_add_test(tc, test_initial_chip_slot_holds_device_id);
    tcase_add_test(tc, test_per_pid_off_and_idle_reset);
    tcase_add_test(tc, test_crash_leaks_refcount_v3);
    tcase_add_test(tc, test_v4_reaping_at_attach);
    tcase_add_test(tc, test_v4_on_live_pre_v4_region);
    tcase_add_test(tc, test_v4_wedged_initialiser);
    suite_add_tcase(s, tc);
    tc = tcase_create("crashes");
    tcase_add_loop_test(tc, test_crash_after_every_step_of_alloc, 0, VAR_COUNT);
    tcase_add_test(tc, test_crash_mid_initialisation_v1);
    suite_add_tcase(s, tc);
    tc = tcase_create("races");
    tcase_add_test(tc, test_race_lost_num_active_update);
    tcase_add_test(tc, test_race_double_slot_claim);
    tcase_add_test(tc, test_race_destructor_wraps_total);
    tcase_add_test(tc, test_race_v3_attach_during_creation);
    tcase_add_test(tc, test_race_two_reapers);
    tcase_add_test(tc, test_race_v4a_recompute_loses_allocation);
    tcase_add_test(tc, test_race_reaper_against_new_claimer);
    suite_add_tcase(s, tc);
    tc = tcase_create("readers");
    tcase_add_test(tc, test_reader_tt_smi_77c4);
    tcase_add_test(tc, test_reader_tt_smi_613a_and_ui);
    tcase_add_test(tc, test_reader_eperm_counts_as_dead);
    tcase_add_test(tc, test_reader_unclamped_wraps_safe_clamps);
    tcase_add_test(tc, test_reader_python_does_nothing);
    tcase_add_test(tc, test_reader_tt_mgmt);
    tcase_add_test(tc, test_reader_safe_on_v4);
    tcase_add_test(tc, test_reader_tt_smi_on_v4_file_writes_wrong_offsets);
    tcase_add_test(tc, test_reader_sigbus_beyond_file);
    tcase_add_test(tc, test_reader_names);
    suite_add_tcase(s, tc);
    tc = tcase_create("backend and expectations");
    tcase_add_test(tc, test_truncate_resizes_exactly);
    tcase_add_test(tc, test_open_denied_disables);
    tcase_add_test(tc, test_expect_mask_and_compare);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(shm_model_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
