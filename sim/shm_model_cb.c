/* shm_model_cb: update_from_allocator(device, pid), TT-Metal's CB accounting from era C on
 * (shm-tracking.md §4.7), as a sequence of atomic steps over shmm_ops.
 *
 * From graph-tracking era G3 on, CBs no longer reach the region one record per CB: after a
 * program allocates (or frees) its circular buffers on a device, TT-Metal publishes the
 * process's whole CB figure for that device, Device::get_total_cb_allocated(). Two variants:
 *
 * - absolute (eras C..v3, v4a): at most one update per logical device id per 100 ms
 *   (a process-wide map; a skipped update is never retried), then store the figure into
 *   totals.cb (last writer wins across processes), the region timestamp, the first chip slot
 *   whose chip_id is the device id or the unused sentinel (chip_id and cb stored), and the
 *   own process slot if it already exists (cb, timestamp);
 * - delta (v4c; v4b by choice): unthrottled; own slot's cb exchanged for the figure, totals.cb
 *   moved by the difference (saturating when it shrinks), timestamps, and the chip slot found
 *   or created by CAS gets cb = the current totals.cb.
 *
 * Written with the primitives of shm_model_int.h, so every access is one step and a crash
 * can fall between any two. The rate limit reads shmm_env.now_ns (virtual time): the model
 * never reads a clock. docs/shm-model.md lists the steps and the [uncertain] choices.
 */
#include <string.h>

#include "shm_model.h"
#include "shm_model_int.h"

void shmm_cb_limiter_init(shmm_cb_limiter *l) { memset(l, 0, sizeof *l); }

/* 1 if an update of device_id at now_ns goes through (and is remembered), 0 if throttled:
 * a previous update of the same device less than interval_ns ago. */
static int limiter_pass(shmm_cb_limiter *l, int32_t device_id, uint64_t now_ns, uint64_t interval_ns) {
    if (l == NULL || interval_ns == 0)
        return 1;
    for (int i = 0; i < l->count; i++) {
        if (l->device_id[i] != device_id)
            continue;
        if (now_ns >= l->last_ns[i] && now_ns - l->last_ns[i] < interval_ns)
            return 0;
        l->last_ns[i] = now_ns;
        return 1;
    }
    if (l->count < SHMM_CB_LIMIT_DEVICES) {
        l->device_id[l->count] = device_id;
        l->last_ns[l->count] = now_ns;
        l->count++;
    }
    return 1;
}

typedef struct {
    uint64_t cb;
} cb_args;

static int cb_counter(run *r) { return shml_counter_of_type(r->v, SHML_TYPE_CB); }

/* Eras C..v3, v4a: absolute stores, last writer wins (§4.7, §7.18). */
static void update_absolute(run *r, shmm_provider *p, uint64_t cb) {
    int ctr = cb_counter(r);
    uint32_t dev = (uint32_t)p->device_id, unused = shml_version_get(r->v)->chip_unused;
    st(r, SHML_F_TOTAL, 0, ctr, cb, SHMM_SEQ_CST);
    st(r, SHML_F_TIMESTAMP, 0, 0, r->env->now_ns, SHMM_RELAXED);
    /* one pass, "equal or unused": an unused slot before the device's own wins (§7.18) */
    for (int s = 0; s < SHML_MAX_CHIPS; s++) {
        uint32_t id = (uint32_t)ld(r, SHML_F_CHIP_ID, s, 0, SHMM_RELAXED);
        if (id != dev && id != unused)
            continue;
        r->res->chip_slot = s;
        st(r, SHML_F_CHIP_ID, s, 0, dev, SHMM_RELAXED);
        st(r, SHML_F_CHIP_COUNTER, s, ctr, cb, SHMM_SEQ_CST);
        break;
    }
    int slot = shmm_find_own_slot(r, p, SHMM_RELAXED); /* never created here */
    r->res->slot = slot;
    if (slot < 0)
        return;
    st(r, SHML_F_PROC_COUNTER, slot, ctr, cb, SHMM_RELAXED);
    st(r, SHML_F_PROC_TIMESTAMP, slot, 0, r->env->now_ns, SHMM_RELAXED);
}

/* v4c (id 58210605148): the own slot holds the figure, the total moves by the delta. */
static void update_delta(run *r, shmm_provider *p, uint64_t cb) {
    int ctr = cb_counter(r);
    if (!p->cfg.per_pid)
        return; /* no slot to hold the previous figure [uncertain] */
    int slot = shmm_claim_own(r, p);
    r->res->slot = slot;
    if (slot < 0)
        return;
    uint64_t prev = xchg(r, SHML_F_PROC_COUNTER, slot, ctr, cb, SHMM_RELAXED);
    if (cb >= prev)
        fadd(r, SHML_F_TOTAL, 0, ctr, cb - prev, SHMM_RELAXED);
    else
        sat_sub(r, SHML_F_TOTAL, 0, ctr, prev - cb);
    st(r, SHML_F_PROC_TIMESTAMP, slot, 0, r->env->now_ns, SHMM_RELAXED);
    st(r, SHML_F_TIMESTAMP, 0, 0, r->env->now_ns, SHMM_RELAXED);
    int chip = shmm_chip_find_or_create(r, (uint32_t)p->device_id);
    r->res->chip_slot = chip;
    if (chip < 0)
        return;
    uint64_t total = ld(r, SHML_F_TOTAL, 0, ctr, SHMM_RELAXED);
    st(r, SHML_F_CHIP_COUNTER, chip, ctr, total, SHMM_RELAXED);
}

static void op_update(run *r, shmm_provider *p, void *arg) {
    const cb_args *a = arg;
    if (p->cfg.cb_update == SHMM_CB_DELTA)
        update_delta(r, p, a->cb);
    else
        update_absolute(r, p, a->cb);
}

int shmm_update_from_allocator(shmm_provider *p, const shmm_ops *ops, const shmm_env *env, shmm_cb_limiter *lim,
                               uint64_t cb_bytes, shmm_result *res) {
    int throttled = p->enabled && p->cfg.cb_update != SHMM_CB_DELTA &&
                    !limiter_pass(lim, p->device_id, env->now_ns, p->cfg.cb_rate_limit_ns);
    if (!p->enabled || throttled) {
        if (res) {
            memset(res, 0, sizeof *res);
            res->completed = 1;
            res->slot = res->chip_slot = -1;
            res->rate_limited = throttled;
        }
        return 1;
    }
    cb_args a = {cb_bytes};
    return shmm_run_op(p, p->cfg.version, ops, env, res, op_update, &a);
}
