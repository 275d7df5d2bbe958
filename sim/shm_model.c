/* shm_model: the SHM writer and reader operations as sequences of atomic steps.
 *
 * Each operation is written once against shmm_ops and follows the order of the real code
 * in shm-tracking.md §3-§6; docs/shm-model.md lists the step sequences. An operation runs
 * inside a `run`: every primitive performs one access through ops, counts it, and calls
 * ops->step; when step asks to stop, the primitive longjmps back to the operation's entry
 * (nothing is allocated in between, so nothing leaks). Plain loads and stores are issued
 * with SHMM_PLAIN where the field is not atomic in the modelled version, so a trace or a
 * real backend can tell them apart.
 */
#include "shm_model.h"
#include "shm_model_int.h"

#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ---- image backend ---------------------------------------------------------------------- */

#define PAGE_BYTES 4096

void shmm_file_init(shmm_file *f) { memset(f, 0, sizeof *f); }

void shmm_image_init(shmm_image *img, shmm_file *f) {
    memset(img, 0, sizeof *img);
    img->file = f;
}

void shmm_image_arm(shmm_image *img, unsigned long stop_after) {
    img->steps = 0;
    img->stop_after = stop_after;
    img->stopped = 0;
    img->sigbus = 0;
}

/* 1 if [off, off+width) is mapped: inside the file's last page. */
static int img_mapped(shmm_image *img, size_t off, int width) {
    size_t limit = (img->file->size + PAGE_BYTES - 1) / PAGE_BYTES * PAGE_BYTES;
    if (limit > SHMM_FILE_CAPACITY)
        limit = SHMM_FILE_CAPACITY;
    if (off + (size_t)width > limit) {
        img->sigbus = 1;
        return 0;
    }
    return 1;
}

static uint64_t img_get(const uint8_t *p, int width) {
    uint64_t v = 0;
    for (int i = width - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static void img_put(uint8_t *p, int width, uint64_t v) {
    for (int i = 0; i < width; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t width_mask(int width) { return width >= 8 ? UINT64_MAX : (UINT64_C(1) << (8 * width)) - 1; }

static void img_note(shmm_image *img, char op, size_t off) {
    img->last_op = op;
    img->last_offset = off;
}

static uint64_t img_load(void *ctx, size_t off, int width, int order) {
    (void)order;
    shmm_image *img = ctx;
    img_note(img, 'l', off);
    return img_mapped(img, off, width) ? img_get(img->file->bytes + off, width) : 0;
}

static void img_store(void *ctx, size_t off, int width, uint64_t v, int order) {
    (void)order;
    shmm_image *img = ctx;
    img_note(img, 's', off);
    if (img_mapped(img, off, width))
        img_put(img->file->bytes + off, width, v);
}

static uint64_t img_rmw(shmm_image *img, size_t off, int width, uint64_t v, int op) {
    img_note(img, op == '=' ? 'x' : (char)op, off);
    if (!img_mapped(img, off, width))
        return 0;
    uint64_t old = img_get(img->file->bytes + off, width), nv = v;
    if (op == '+')
        nv = old + v;
    else if (op == '-')
        nv = old - v;
    img_put(img->file->bytes + off, width, nv & width_mask(width));
    return old;
}

static uint64_t img_fetch_add(void *ctx, size_t off, int width, uint64_t v, int order) {
    (void)order;
    return img_rmw(ctx, off, width, v, '+');
}

static uint64_t img_fetch_sub(void *ctx, size_t off, int width, uint64_t v, int order) {
    (void)order;
    return img_rmw(ctx, off, width, v, '-');
}

static uint64_t img_exchange(void *ctx, size_t off, int width, uint64_t v, int order) {
    (void)order;
    return img_rmw(ctx, off, width, v, '=');
}

static int img_cas(void *ctx, size_t off, int width, uint64_t *expected, uint64_t desired, int so, int fo) {
    (void)so;
    (void)fo;
    shmm_image *img = ctx;
    img_note(img, 'c', off);
    if (!img_mapped(img, off, width))
        return 0;
    uint64_t cur = img_get(img->file->bytes + off, width);
    if (cur != (*expected & width_mask(width))) {
        *expected = cur;
        return 0;
    }
    img_put(img->file->bytes + off, width, desired & width_mask(width));
    return 1;
}

static void img_store_bytes(void *ctx, size_t off, const uint8_t *bytes, size_t len) {
    shmm_image *img = ctx;
    img_note(img, 'b', off);
    if (img_mapped(img, off, (int)len))
        memcpy(img->file->bytes + off, bytes, len);
}

static int img_open(void *ctx) {
    shmm_image *img = ctx;
    img_note(img, 'o', 0);
    if (!img->file->exists) {
        img->file->exists = 1;
        img->file->size = 0;
        memset(img->file->bytes, 0, sizeof img->file->bytes);
        return SHMM_OPEN_CREATED;
    }
    return img->file->deny_open ? SHMM_OPEN_FAILED : SHMM_OPEN_EXISTED;
}

static int img_truncate(void *ctx, size_t size) {
    img_note(ctx, 't', size);
    shmm_file *f = ((shmm_image *)ctx)->file;
    if (size > SHMM_FILE_CAPACITY)
        return -1;
    /* Shrinking discards the tail; growing exposes zeros (§7.1). */
    size_t lo = size < f->size ? size : f->size;
    memset(f->bytes + lo, 0, SHMM_FILE_CAPACITY - lo);
    f->size = size;
    return 0;
}

static int img_step(void *ctx) {
    shmm_image *img = ctx;
    img->steps++;
    if (img->stopped || img->sigbus || (img->stop_after != 0 && img->steps >= img->stop_after)) {
        img->stopped = 1;
        return 1;
    }
    if (img->on_step && img->on_step(img->user, img->steps)) {
        img->stopped = 1;
        return 1;
    }
    return 0;
}

void shmm_ops_image(shmm_ops *ops, shmm_image *img) {
    ops->ctx = img;
    ops->load = img_load;
    ops->store = img_store;
    ops->fetch_add = img_fetch_add;
    ops->fetch_sub = img_fetch_sub;
    ops->exchange = img_exchange;
    ops->cas = img_cas;
    ops->store_bytes = img_store_bytes;
    ops->open = img_open;
    ops->truncate = img_truncate;
    ops->step = img_step;
}

/* ---- pid set ---------------------------------------------------------------------------- */

int shmm_pidset_add(shmm_pidset *s, int32_t pid, int other_user) {
    for (int i = 0; i < s->count; i++) {
        if (s->pids[i] == pid) {
            s->other_user[i] = (uint8_t)(other_user != 0);
            return 0;
        }
    }
    if (s->count >= SHMM_PIDSET_MAX)
        return -1;
    s->pids[s->count] = pid;
    s->other_user[s->count] = (uint8_t)(other_user != 0);
    s->count++;
    return 0;
}

void shmm_pidset_remove(shmm_pidset *s, int32_t pid) {
    for (int i = 0; i < s->count; i++) {
        if (s->pids[i] == pid) {
            s->pids[i] = s->pids[s->count - 1];
            s->other_user[i] = s->other_user[s->count - 1];
            s->count--;
            return;
        }
    }
}

shmm_pid_state shmm_pidset_state(void *ctx, int32_t pid) {
    const shmm_pidset *s = ctx;
    if (pid <= 0)
        return SHMM_PID_DEAD;
    for (int i = 0; i < s->count; i++)
        if (s->pids[i] == pid)
            return s->other_user[i] ? SHMM_PID_OTHER_USER : SHMM_PID_ALIVE;
    return SHMM_PID_DEAD;
}

/* ---- configuration and identities ------------------------------------------------------- */

void shmm_config_default(shmm_config *cfg, shml_version v, shmm_subvariant sub) {
    memset(cfg, 0, sizeof *cfg);
    cfg->version = v;
    cfg->sub = v == SHML_V4 ? (sub == SHMM_SUB_NONE ? SHMM_SUB_V4C : sub) : SHMM_SUB_NONE;
    cfg->per_pid = 1;
    cfg->region_size = 0;
    cfg->l1a_version_value = 1;
    cfg->v23_version_check = 1;
    cfg->v23_claim_cas = 1;
    cfg->last_out_skip_unused = 1;
    cfg->v4b_record_requires_slot = 1;
    cfg->idle_reset = cfg->sub == SHMM_SUB_V4C;
    cfg->ready_poll_attempts = 1000;
    cfg->cb_update = cfg->sub == SHMM_SUB_V4C || cfg->sub == SHMM_SUB_V4B ? SHMM_CB_DELTA : SHMM_CB_ABSOLUTE;
    cfg->cb_rate_limit_ns = SHMM_CB_RATE_LIMIT_NS;
}

size_t shmm_config_region_size(const shmm_config *cfg) {
    return cfg->region_size ? cfg->region_size : shml_version_get(cfg->version)->size_bytes;
}

const char *shmm_config_name(const shmm_config *cfg) {
    if (cfg->version == SHML_V4)
        return cfg->sub == SHMM_SUB_V4A ? "v4a" : cfg->sub == SHMM_SUB_V4B ? "v4b" : "v4c";
    return shml_version_get(cfg->version)->name;
}

void shmm_process_init(shmm_process *p, int32_t pid, const char *name) {
    memset(p, 0, sizeof *p);
    p->pid = pid;
    if (name == NULL)
        p->comm_unreadable = 1;
    else
        strncpy(p->comm, name, sizeof p->comm - 1);
}

void shmm_process_name_bytes(const shmm_process *p, uint8_t out[SHML_NAME_BYTES]) {
    memset(out, 0, SHML_NAME_BYTES);
    const char *name = p->comm_unreadable ? "unknown" : p->comm;
    size_t n = strlen(name);
    memcpy(out, name, n < SHML_NAME_BYTES - 1 ? n : SHML_NAME_BYTES - 1);
}

void shmm_provider_init(shmm_provider *p, const shmm_config *cfg, const shmm_process *self, uint64_t id,
                        int32_t device_id) {
    memset(p, 0, sizeof *p);
    p->cfg = *cfg;
    p->self = *self;
    p->id = id;
    p->device_id = device_id;
}

/* ---- run: one operation's primitives (sim/shm_model_int.h) ------------------------------ */


/* Runs fn with setjmp as the crash point. Only r (reached through a pointer) changes after
 * setjmp, so nothing here is clobbered by longjmp. */
static int run_jmp(run *r, shmm_provider *p, op_fn fn, void *arg) {
    if (setjmp(r->stop) == 0) {
        fn(r, p, arg);
        return 1;
    }
    return 0;
}

int shmm_run_op(shmm_provider *p, shml_version v, const shmm_ops *ops, const shmm_env *env, shmm_result *res,
                op_fn fn, void *arg) {
    shmm_result local;
    if (res == NULL)
        res = &local;
    memset(res, 0, sizeof *res);
    res->slot = -1;
    res->chip_slot = -1;
    run r;
    r.ops = ops;
    r.env = env;
    r.res = res;
    r.v = v;
    res->completed = run_jmp(&r, p, fn, arg);
    if (!res->completed && p) {
        p->crashed = 1;
        p->enabled = 0;
    }
    return res->completed;
}

/* ---- writer building blocks ------------------------------------------------------------- */

static int is_v1(shml_version v) { return v <= SHML_L1A; }

/* Order used by initialize_region for atomic fields: v4 writes relaxed, earlier code uses
 * un-annotated (seq_cst) stores [uncertain: not visible in the spec]. */
static int init_order(run *r) { return r->v == SHML_V4 ? SHMM_RELAXED : SHMM_SEQ_CST; }

static void store_identifiers(run *r, shmm_provider *p, int order) {
    if (is_v1(r->v)) {
        st(r, SHML_F_BOARD_SERIAL, 0, 0, p->id >> 8, order);
        st(r, SHML_F_ASIC_ID, 0, 0, p->id & 0xFF, order);
    } else {
        st(r, SHML_F_BOARD_SERIAL, 0, 0, 0, order);
        st(r, SHML_F_ASIC_ID, 0, 0, p->id, order);
    }
    st(r, SHML_F_DEVICE_ID, 0, 0, (uint32_t)p->device_id, order);
}

/* initialize_region() (§3.2): header, totals, chip table, process table. */
static void initialize_region(run *r, shmm_provider *p) {
    int o = init_order(r);
    const shml_version_info *vi = shml_version_get(r->v);
    uint32_t version = r->v == SHML_L1A ? p->cfg.l1a_version_value : vi->version_value;
    st(r, SHML_F_VERSION, 0, 0, version, o);
    st(r, SHML_F_NUM_ACTIVE, 0, 0, 0, o);
    st(r, SHML_F_TIMESTAMP, 0, 0, r->env->now_ns, o);
    st(r, SHML_F_REFCOUNT, 0, 0, 0, o);
    store_identifiers(r, p, o);
    for (int c = 0; c < counters(r); c++)
        st(r, SHML_F_TOTAL, 0, c, 0, o);
    for (int s = 0; s < SHML_MAX_CHIPS; s++) {
        st(r, SHML_F_CHIP_ID, s, 0, vi->chip_unused, o);
        st(r, SHML_F_CHIP_IS_REMOTE, s, 0, 0, o);
        for (int c = 0; c < counters(r); c++)
            st(r, SHML_F_CHIP_COUNTER, s, c, 0, o);
    }
    st(r, SHML_F_CHIP_ID, 0, 0, (uint32_t)p->device_id, o);
    for (int s = 0; s < SHML_MAX_PROCESSES; s++) {
        st(r, SHML_F_PROC_PID, s, 0, 0, o);
        for (int c = 0; c < counters(r); c++)
            st(r, SHML_F_PROC_COUNTER, s, c, 0, o);
        st(r, SHML_F_PROC_TIMESTAMP, s, 0, 0, o);
        zero_name(r, s);
    }
}

/* find_or_create_chip_entry(chip_id) (§4.1). Returns the slot or -1. */
int shmm_chip_find_or_create(run *r, uint32_t chip_id) {
    uint32_t unused = shml_version_get(r->v)->chip_unused;
    for (int s = 0; s < SHML_MAX_CHIPS; s++)
        if ((uint32_t)ld(r, SHML_F_CHIP_ID, s, 0, SHMM_RELAXED) == chip_id)
            return s;
    for (int s = 0; s < SHML_MAX_CHIPS; s++) {
        int won;
        if (r->v >= SHML_V3) {
            uint64_t expected = unused;
            won = cas(r, SHML_F_CHIP_ID, s, 0, &expected, chip_id, SHMM_ACQ_REL, SHMM_RELAXED);
            if (!won && (uint32_t)expected == chip_id)
                return s;
        } else {
            won = (uint32_t)ld(r, SHML_F_CHIP_ID, s, 0, SHMM_RELAXED) == unused;
            if (won)
                st(r, SHML_F_CHIP_ID, s, 0, chip_id, SHMM_RELAXED);
        }
        if (won) {
            st(r, SHML_F_CHIP_IS_REMOTE, s, 0, 0, SHMM_RELAXED);
            for (int c = 0; c < counters(r); c++)
                st(r, SHML_F_CHIP_COUNTER, s, c, 0, SHMM_RELAXED);
            return s;
        }
    }
    return -1;
}

static void write_name(run *r, shmm_provider *p, int slot) {
    uint8_t name[SHML_NAME_BYTES];
    shmm_process_name_bytes(&p->self, name);
    store_bytes(r, shml_off(r->v, SHML_F_PROC_NAME, slot, 0), name, SHML_NAME_BYTES);
}

int shmm_find_own_slot(run *r, shmm_provider *p, int order) {
    for (int s = 0; s < SHML_MAX_PROCESSES; s++)
        if (as_pid(ld(r, SHML_F_PROC_PID, s, 0, order)) == p->self.pid)
            return s;
    return -1;
}

/* Pre-v4 find_or_create_pid_entry (§4.2): match, else first free slot by test-then-store
 * (or CAS in v2/v3 with the review fix), zero it, stamp, name, num_active_processes++. */
static int pid_find_or_create(run *r, shmm_provider *p) {
    int s = shmm_find_own_slot(r, p, SHMM_RELAXED);
    if (s >= 0)
        return s;
    int use_cas = (r->v >= SHML_V2A && r->v <= SHML_V3) && p->cfg.v23_claim_cas;
    for (s = 0; s < SHML_MAX_PROCESSES; s++) {
        int won;
        if (use_cas) {
            uint64_t expected = 0;
            won = cas(r, SHML_F_PROC_PID, s, 0, &expected, pid_bits(p->self.pid), SHMM_ACQ_REL, SHMM_RELAXED);
        } else {
            won = ld(r, SHML_F_PROC_PID, s, 0, SHMM_SEQ_CST) == 0;
            if (won)
                st(r, SHML_F_PROC_PID, s, 0, pid_bits(p->self.pid), SHMM_SEQ_CST);
        }
        if (!won)
            continue;
        for (int c = 0; c < counters(r); c++)
            st(r, SHML_F_PROC_COUNTER, s, c, 0, SHMM_RELAXED);
        st(r, SHML_F_PROC_TIMESTAMP, s, 0, r->env->now_ns, SHMM_RELAXED);
        write_name(r, p, s);
        uint64_t n = ld(r, SHML_F_NUM_ACTIVE, 0, 0, SHMM_PLAIN);
        st(r, SHML_F_NUM_ACTIVE, 0, 0, (uint32_t)(n + 1), SHMM_PLAIN);
        return s;
    }
    return -1;
}

/* v4 claim_own_pid_entry (§4.4). */
int shmm_claim_own(run *r, shmm_provider *p) {
    int s = shmm_find_own_slot(r, p, SHMM_RELAXED);
    if (s >= 0)
        return s;
    for (s = 0; s < SHML_MAX_PROCESSES; s++) {
        uint64_t expected = 0;
        if (!cas(r, SHML_F_PROC_PID, s, 0, &expected, pid_bits(p->self.pid), SHMM_ACQ_REL, SHMM_RELAXED))
            continue;
        for (int c = 0; c < counters(r); c++)
            st(r, SHML_F_PROC_COUNTER, s, c, 0, SHMM_RELAXED);
        st(r, SHML_F_PROC_TIMESTAMP, s, 0, r->env->now_ns, SHMM_RELAXED);
        write_name(r, p, s);
        if (p->cfg.sub != SHMM_SUB_V4A) {
            fadd(r, SHML_F_REFCOUNT, 0, 0, 1, SHMM_RELEASE);
            fadd(r, SHML_F_NUM_ACTIVE, 0, 0, 1, SHMM_RELAXED);
        }
        return s;
    }
    return -1;
}

/* v4a clear_process_slot: no CAS, no subtraction. */
static void clear_slot_v4a(run *r, int s) {
    for (int c = 0; c < counters(r); c++)
        st(r, SHML_F_PROC_COUNTER, s, c, 0, SHMM_RELAXED);
    st(r, SHML_F_PROC_TIMESTAMP, s, 0, 0, SHMM_RELAXED);
    zero_name(r, s);
    st(r, SHML_F_PROC_PID, s, 0, 0, SHMM_RELEASE);
}

/* v4b release_process_slot(slot) [uncertain: code not retrieved]: subtract, clear,
 * decrement both counts, no ownership guard. */
static void release_v4b(run *r, int s) {
    for (int c = 0; c < counters(r); c++)
        sat_sub(r, SHML_F_TOTAL, 0, c, ld(r, SHML_F_PROC_COUNTER, s, c, SHMM_RELAXED));
    clear_slot_v4a(r, s);
    sat_dec(r, SHML_F_REFCOUNT, SHMM_ACQ_REL);
    sat_dec(r, SHML_F_NUM_ACTIVE, SHMM_RELAXED);
}

/* v4c release_process_slot(slot, expected_owner). Returns 1 if this call released it. */
static int release_v4c(run *r, int s, int32_t owner) {
    if (owner <= 0)
        return 0;
    uint64_t expected = pid_bits(owner);
    if (!cas(r, SHML_F_PROC_PID, s, 0, &expected, pid_bits(SHML_PID_RELEASING), SHMM_ACQ_REL, SHMM_RELAXED))
        return 0;
    for (int c = 0; c < counters(r); c++)
        sat_sub(r, SHML_F_TOTAL, 0, c, xchg(r, SHML_F_PROC_COUNTER, s, c, 0, SHMM_RELAXED));
    st(r, SHML_F_PROC_TIMESTAMP, s, 0, 0, SHMM_RELAXED);
    zero_name(r, s);
    st(r, SHML_F_PROC_PID, s, 0, 0, SHMM_RELEASE);
    sat_dec(r, SHML_F_REFCOUNT, SHMM_ACQ_REL);
    sat_dec(r, SHML_F_NUM_ACTIVE, SHMM_RELAXED);
    st(r, SHML_F_TIMESTAMP, 0, 0, r->env->now_ns, SHMM_RELAXED);
    return 1;
}

/* reap_dead_processes() (§4.4). */
static unsigned reap(run *r, shmm_provider *p) {
    unsigned n = 0;
    for (int s = 0; s < SHML_MAX_PROCESSES; s++) {
        int32_t pid = as_pid(ld(r, SHML_F_PROC_PID, s, 0, SHMM_ACQUIRE));
        if ((p->cfg.sub == SHMM_SUB_V4A ? pid == 0 : pid <= 0) || pid == p->self.pid ||
            pid_state(r, pid) != SHMM_PID_DEAD)
            continue;
        if (p->cfg.sub == SHMM_SUB_V4A) {
            clear_slot_v4a(r, s);
            n++;
        } else if (p->cfg.sub == SHMM_SUB_V4B) {
            release_v4b(r, s);
            n++;
        } else {
            n += (unsigned)release_v4c(r, s, pid);
        }
    }
    return n;
}

/* v4a recompute_aggregates(): sum live slots, store totals and both counts. */
static void recompute_v4a(run *r, shmm_provider *p) {
    if (!p->cfg.per_pid)
        return;
    uint64_t sums[SHML_CTR_COUNT] = {0};
    uint32_t live = 0;
    for (int s = 0; s < SHML_MAX_PROCESSES; s++) {
        if (ld(r, SHML_F_PROC_PID, s, 0, SHMM_ACQUIRE) == 0)
            continue;
        live++;
        for (int c = 0; c < counters(r); c++)
            sums[c] += ld(r, SHML_F_PROC_COUNTER, s, c, SHMM_RELAXED);
    }
    for (int c = 0; c < counters(r); c++)
        st(r, SHML_F_TOTAL, 0, c, sums[c], SHMM_RELAXED);
    st(r, SHML_F_NUM_ACTIVE, 0, 0, live, SHMM_RELAXED);
    st(r, SHML_F_REFCOUNT, 0, 0, live, SHMM_RELEASE);
    st(r, SHML_F_TIMESTAMP, 0, 0, r->env->now_ns, SHMM_RELAXED);
}

/* Zero the counters of every chip slot whose chip_id is not `skip`. */
static void zero_chips(run *r, uint32_t skip) {
    for (int s = 0; s < SHML_MAX_CHIPS; s++) {
        if ((uint32_t)ld(r, SHML_F_CHIP_ID, s, 0, SHMM_RELAXED) == skip)
            continue;
        for (int c = 0; c < counters(r); c++)
            st(r, SHML_F_CHIP_COUNTER, s, c, 0, SHMM_RELAXED);
    }
}

/* v4c reset_aggregates_if_idle(). */
static void reset_if_idle(run *r) {
    if (ld(r, SHML_F_REFCOUNT, 0, 0, SHMM_ACQUIRE) != 0)
        return;
    for (int c = 0; c < counters(r); c++)
        st(r, SHML_F_TOTAL, 0, c, 0, SHMM_RELAXED);
    zero_chips(r, SHML_CHIP_UNUSED);
}

/* ---- attach ----------------------------------------------------------------------------- */

/* v4a/v4b reclaim test for a READY region of a foreign version (§3.2). */
static int v4ab_reclaimable(run *r, shmm_provider *p, uint32_t version) {
    if (ld(r, SHML_F_REFCOUNT, 0, 0, SHMM_ACQUIRE) == 0)
        return 1;
    if (version < 2 || version > 4)
        return 0;
    for (int s = 0; s < SHML_MAX_PROCESSES; s++) {
        int32_t pid = as_pid(ld(r, SHML_F_PROC_PID, s, 0, SHMM_ACQUIRE));
        if (pid != 0 && pid != p->self.pid && pid_state(r, pid) != SHMM_PID_DEAD)
            return 0;
    }
    return 1;
}

/* v4c legacy_region_is_reclaimable(version) (§3.2). */
static int v4c_reclaimable(run *r, shmm_provider *p, uint32_t version) {
    if (version == 0)
        return 1;
    if (version >= 2 && version <= 4) {
        for (int s = 0; s < SHML_MAX_PROCESSES; s++) {
            int32_t pid = as_pid(ld(r, SHML_F_PROC_PID, s, 0, SHMM_ACQUIRE));
            if (pid != 0 && pid != p->self.pid && pid_state(r, pid) != SHMM_PID_DEAD)
                return 0;
        }
        return 1;
    }
    return ld(r, SHML_F_REFCOUNT, 0, 0, SHMM_ACQUIRE) == 0;
}

static void disable(run *r, shmm_provider *p, const char *why) {
    r->res->attach = SHMM_ATTACH_DISABLED;
    r->res->disabled_reason = why;
    p->enabled = 0;
}

/* The v4 state machine (§3.2). Returns 1 to go on, 0 if disabled. *must_init set. */
static int attach_v4_state(run *r, shmm_provider *p, int *must_init) {
    int v4c = p->cfg.sub == SHMM_SUB_V4C;
    uint32_t state = (uint32_t)ld(r, SHML_F_INIT_STATE, 0, 0, SHMM_ACQUIRE);
    if (state == SHML_INIT_READY) {
        uint32_t version = (uint32_t)ld(r, SHML_F_VERSION, 0, 0, SHMM_ACQUIRE);
        if (version == 4)
            return 1;
        int reclaimable = v4c ? v4c_reclaimable(r, p, version) : v4ab_reclaimable(r, p, version);
        uint64_t expected = SHML_INIT_READY;
        if (reclaimable &&
            cas(r, SHML_F_INIT_STATE, 0, 0, &expected, SHML_INIT_IN_PROGRESS, SHMM_ACQ_REL, SHMM_ACQUIRE)) {
            *must_init = 1;
            return 1;
        }
        disable(r, p, "version mismatch: region still in use");
        return 0;
    }
    if (v4c) {
        uint32_t version = (uint32_t)ld(r, SHML_F_VERSION, 0, 0, SHMM_ACQUIRE);
        if (version != 0 && version != 4 && !v4c_reclaimable(r, p, version)) {
            disable(r, p, "live pre-v4 writer still using the region");
            return 0;
        }
    }
    uint64_t expected = SHML_INIT_UNINITIALIZED;
    if (cas(r, SHML_F_INIT_STATE, 0, 0, &expected, SHML_INIT_IN_PROGRESS, SHMM_ACQ_REL, SHMM_ACQUIRE)) {
        *must_init = 1;
        return 1;
    }
    for (unsigned i = 0; i < p->cfg.ready_poll_attempts; i++)
        if ((uint32_t)ld(r, SHML_F_INIT_STATE, 0, 0, SHMM_ACQUIRE) == SHML_INIT_READY)
            return 1;
    if (v4c && (uint32_t)ld(r, SHML_F_INIT_STATE, 0, 0, SHMM_ACQUIRE) == SHML_INIT_IN_PROGRESS &&
        v4c_reclaimable(r, p, (uint32_t)ld(r, SHML_F_VERSION, 0, 0, SHMM_ACQUIRE))) {
        expected = SHML_INIT_IN_PROGRESS;
        if (cas(r, SHML_F_INIT_STATE, 0, 0, &expected, SHML_INIT_UNINITIALIZED, SHMM_ACQ_REL, SHMM_ACQUIRE)) {
            expected = SHML_INIT_UNINITIALIZED;
            if (cas(r, SHML_F_INIT_STATE, 0, 0, &expected, SHML_INIT_IN_PROGRESS, SHMM_ACQ_REL, SHMM_ACQUIRE)) {
                *must_init = 1;
                return 1;
            }
        }
    }
    disable(r, p, "timed out waiting for region initialisation");
    return 0;
}

static void op_attach(run *r, shmm_provider *p, void *arg) {
    (void)arg;
    p->enabled = 0;
    int opened = r->ops->open(r->ops->ctx);
    step(r);
    if (opened == SHMM_OPEN_FAILED) {
        disable(r, p, "Failed to create shared memory (open)");
        return;
    }
    int created = opened == SHMM_OPEN_CREATED;
    int truncated = r->ops->truncate(r->ops->ctx, shmm_config_region_size(&p->cfg));
    step(r);
    if (truncated != 0) {
        disable(r, p, "Failed to create shared memory (ftruncate)");
        return;
    }
    r->res->attach = created ? SHMM_ATTACH_CREATED : SHMM_ATTACH_ATTACHED;
    if (r->v == SHML_V4) {
        int must_init = 0;
        if (!attach_v4_state(r, p, &must_init))
            return;
        if (must_init) {
            initialize_region(r, p);
            st(r, SHML_F_INIT_STATE, 0, 0, SHML_INIT_READY, SHMM_RELEASE);
            r->res->attach = created ? SHMM_ATTACH_CREATED : SHMM_ATTACH_REINITIALIZED;
        } else {
            r->res->attach = SHMM_ATTACH_ATTACHED;
        }
        if (p->cfg.per_pid) {
            r->res->cleaned = reap(r, p);
            if (p->cfg.sub != SHMM_SUB_V4A && p->cfg.idle_reset)
                reset_if_idle(r);
            r->res->slot = shmm_claim_own(r, p);
            if (p->cfg.sub == SHMM_SUB_V4A)
                recompute_v4a(r, p);
        }
        store_identifiers(r, p, SHMM_RELAXED);
        p->enabled = 1;
        return;
    }
    if (created) {
        initialize_region(r, p);
    } else if (!is_v1(r->v) && p->cfg.v23_version_check) {
        uint32_t version = (uint32_t)ld(r, SHML_F_VERSION, 0, 0, SHMM_PLAIN);
        if (version != shml_version_get(r->v)->version_value) {
            if (ld(r, SHML_F_REFCOUNT, 0, 0, SHMM_ACQUIRE) != 0) {
                disable(r, p, "version mismatch: disabling SHM tracking for this provider");
                return;
            }
            initialize_region(r, p);
            r->res->attach = SHMM_ATTACH_REINITIALIZED;
        }
    }
    fadd(r, SHML_F_REFCOUNT, 0, 0, 1, SHMM_RELAXED);
    store_identifiers(r, p, SHMM_PLAIN);
    p->enabled = 1;
}

int shmm_attach(shmm_provider *p, const shmm_ops *ops, const shmm_env *env, shmm_result *res) {
    return shmm_run_op(p, p->cfg.version, ops, env, res, op_attach, NULL);
}

/* ---- records ---------------------------------------------------------------------------- */

typedef struct {
    uint64_t size;
    uint8_t type;
    uint32_t chip_id;
    int is_free;
} record_args;

static void apply(run *r, shml_field_id f, int slot, int ctr, const record_args *a) {
    if (a->is_free)
        sat_sub(r, f, slot, ctr, a->size);
    else
        fadd(r, f, slot, ctr, a->size, SHMM_RELAXED);
}

static void op_record(run *r, shmm_provider *p, void *arg) {
    const record_args *a = arg;
    int ctr = shml_counter_of_type(r->v, a->type);
    int v4 = r->v == SHML_V4;
    int slot_first = v4 && p->cfg.per_pid &&
                     (p->cfg.sub == SHMM_SUB_V4C || (p->cfg.sub == SHMM_SUB_V4B && p->cfg.v4b_record_requires_slot));
    int slot = -1;
    if (slot_first) {
        slot = shmm_claim_own(r, p);
        r->res->slot = slot;
        if (slot < 0)
            return;
    }
    if (ctr >= 0)
        apply(r, SHML_F_TOTAL, 0, ctr, a);
    int chip = shmm_chip_find_or_create(r, a->chip_id);
    r->res->chip_slot = chip;
    if (chip >= 0 && ctr >= 0)
        apply(r, SHML_F_CHIP_COUNTER, chip, ctr, a);
    st(r, SHML_F_TIMESTAMP, 0, 0, r->env->now_ns, SHMM_RELAXED);
    if (!p->cfg.per_pid)
        return;
    if (!slot_first) {
        if (v4) {
            slot = shmm_find_own_slot(r, p, SHMM_RELAXED);
            if (slot < 0)
                slot = shmm_claim_own(r, p);
        } else {
            slot = pid_find_or_create(r, p);
        }
        r->res->slot = slot;
        if (slot < 0)
            return;
    }
    if (ctr >= 0) {
        if (r->v == SHML_L1K || r->v == SHML_L1N) {
            /* v1-K / v1-N: plain read-modify-write on the slot (§7.9). */
            uint64_t cur = ld(r, SHML_F_PROC_COUNTER, slot, ctr, SHMM_PLAIN);
            uint64_t next = a->is_free ? (cur >= a->size ? cur - a->size : 0) : cur + a->size;
            st(r, SHML_F_PROC_COUNTER, slot, ctr, next, SHMM_PLAIN);
        } else {
            apply(r, SHML_F_PROC_COUNTER, slot, ctr, a);
        }
    }
    st(r, SHML_F_PROC_TIMESTAMP, slot, 0, r->env->now_ns, SHMM_RELAXED);
}

static int record(shmm_provider *p, const shmm_ops *ops, const shmm_env *env, uint64_t size, uint8_t type,
                  uint32_t chip_id, int is_free, shmm_result *res) {
    record_args a = {size, type, chip_id, is_free};
    if (!p->enabled) {
        if (res) {
            memset(res, 0, sizeof *res);
            res->completed = 1;
            res->slot = res->chip_slot = -1;
        }
        return 1;
    }
    return shmm_run_op(p, p->cfg.version, ops, env, res, op_record, &a);
}

int shmm_record_alloc(shmm_provider *p, const shmm_ops *ops, const shmm_env *env, uint64_t size, uint8_t type,
                      uint32_t chip_id, shmm_result *res) {
    return record(p, ops, env, size, type, chip_id, 0, res);
}

int shmm_record_free(shmm_provider *p, const shmm_ops *ops, const shmm_env *env, uint64_t size, uint8_t type,
                     uint32_t chip_id, shmm_result *res) {
    return record(p, ops, env, size, type, chip_id, 1, res);
}

/* ---- destructor ------------------------------------------------------------------------- */

static void op_detach(run *r, shmm_provider *p, void *arg) {
    (void)arg;
    if (r->v == SHML_V4) {
        int s = shmm_find_own_slot(r, p, SHMM_RELAXED);
        r->res->slot = s;
        if (s >= 0) {
            if (p->cfg.sub == SHMM_SUB_V4A)
                clear_slot_v4a(r, s);
            else if (p->cfg.sub == SHMM_SUB_V4B)
                release_v4b(r, s);
            else
                release_v4c(r, s, p->self.pid);
        }
        r->res->cleaned = reap(r, p);
        if (p->cfg.sub == SHMM_SUB_V4A) {
            recompute_v4a(r, p);
            if (ld(r, SHML_F_REFCOUNT, 0, 0, SHMM_ACQUIRE) == 0)
                zero_chips(r, SHML_CHIP_UNUSED);
        } else if (p->cfg.idle_reset) {
            reset_if_idle(r);
        }
        p->enabled = 0;
        return;
    }
    if (p->cfg.per_pid) {
        int s = shmm_find_own_slot(r, p, SHMM_RELAXED);
        r->res->slot = s;
        if (s >= 0) {
            /* if (T >= P) T.fetch_sub(P) else T.store(0): two separate atomics (§7.8). */
            for (int c = 0; c < counters(r); c++) {
                uint64_t mine = ld(r, SHML_F_PROC_COUNTER, s, c, SHMM_RELAXED);
                if (ld(r, SHML_F_TOTAL, 0, c, SHMM_SEQ_CST) >= mine)
                    fsub(r, SHML_F_TOTAL, 0, c, mine, SHMM_SEQ_CST);
                else
                    st(r, SHML_F_TOTAL, 0, c, 0, SHMM_SEQ_CST);
            }
            st(r, SHML_F_PROC_PID, s, 0, 0, SHMM_SEQ_CST);
            for (int c = 0; c < counters(r); c++)
                st(r, SHML_F_PROC_COUNTER, s, c, 0, SHMM_SEQ_CST);
            uint64_t n = ld(r, SHML_F_NUM_ACTIVE, 0, 0, SHMM_PLAIN);
            st(r, SHML_F_NUM_ACTIVE, 0, 0, (uint32_t)(n - 1), SHMM_PLAIN);
        }
    }
    if ((uint32_t)fsub(r, SHML_F_REFCOUNT, 0, 0, 1, SHMM_ACQ_REL) == 1) {
        for (int c = 0; c < counters(r); c++)
            st(r, SHML_F_TOTAL, 0, c, 0, SHMM_SEQ_CST);
        uint32_t skip = 0;
        if ((r->v == SHML_V2B || r->v == SHML_V3) && p->cfg.last_out_skip_unused)
            skip = SHML_CHIP_UNUSED;
        zero_chips(r, skip);
    }
    p->enabled = 0;
}

int shmm_detach(shmm_provider *p, const shmm_ops *ops, const shmm_env *env, shmm_result *res) {
    if (!p->enabled) {
        if (res) {
            memset(res, 0, sizeof *res);
            res->completed = 1;
            res->slot = res->chip_slot = -1;
        }
        return 1;
    }
    return shmm_run_op(p, p->cfg.version, ops, env, res, op_detach, NULL);
}

void shmm_crash(shmm_provider *p) {
    p->crashed = 1;
    p->enabled = 0;
}

/* ---- readers ---------------------------------------------------------------------------- */

static const char *const reader_names[SHMM_READER_COUNT] = {
    "tt_smi@77c44153", "tt_smi@613a74f6", "tt_smi_ui", "shm_reader.py", "tt-mgmt-update", "tt-mgmt-cleanup",
    "safe"};

const char *shmm_reader_name(shmm_reader r) {
    return (unsigned)r < SHMM_READER_COUNT ? reader_names[r] : "?";
}

int shmm_reader_parse(const char *name, shmm_reader *out) {
    for (int i = 0; i < SHMM_READER_COUNT; i++) {
        if (strcasecmp(name, reader_names[i]) == 0) {
            *out = (shmm_reader)i;
            return 0;
        }
    }
    return -1;
}

void shmm_reader_config_default(shmm_reader_config *cfg, shml_version layout) {
    cfg->layout = layout;
    cfg->tt_mgmt_eperm_alive = 1;
}

typedef struct {
    shmm_reader which;
    const shmm_reader_config *cfg;
} reader_args;

/* tt_smi / tt_smi_ui: the v1-K mirror on every file; kill(pid, 0) != 0 is dead (EPERM too). */
static void reader_tt_smi(run *r, shmm_reader which) {
    static const uint8_t zeros[128];
    unsigned cleaned = 0;
    for (int s = 0; s < SHML_MAX_PROCESSES; s++) {
        int32_t pid = as_pid(ld(r, SHML_F_PROC_PID, s, 0, SHMM_PLAIN));
        if (pid <= 0 || pid_state(r, pid) == SHMM_PID_ALIVE)
            continue;
        if (which != SHMM_READER_TT_SMI_77C4)
            for (int c = 0; c < SHML_CTR_COUNT; c++)
                fsub(r, SHML_F_TOTAL, 0, c, ld(r, SHML_F_PROC_COUNTER, s, c, SHMM_PLAIN), SHMM_RELAXED);
        store_bytes(r, shml_off(SHML_L1K, SHML_F_PROC_PID, s, 0), zeros, sizeof zeros);
        cleaned++;
    }
    r->res->cleaned = cleaned;
    if (cleaned > 0 && which != SHMM_READER_TT_SMI_UI) {
        uint32_t live = 0;
        for (int s = 0; s < SHML_MAX_PROCESSES; s++)
            live += as_pid(ld(r, SHML_F_PROC_PID, s, 0, SHMM_PLAIN)) > 0;
        st(r, SHML_F_NUM_ACTIVE, 0, 0, live, SHMM_PLAIN);
    }
}

/* tt-mgmt: the v3/v4 mirror; versions 3..4 only, v4 only when READY. */
static void reader_tt_mgmt(run *r, const reader_args *a) {
    uint32_t version = (uint32_t)ld(r, SHML_F_VERSION, 0, 0, SHMM_ACQUIRE);
    if (version < 3 || version > 4)
        return;
    if (version == 4 && (uint32_t)ld(r, SHML_F_INIT_STATE, 0, 0, SHMM_ACQUIRE) != SHML_INIT_READY)
        return;
    unsigned cleaned = 0;
    for (int s = 0; s < SHML_MAX_PROCESSES; s++) {
        int32_t pid = as_pid(ld(r, SHML_F_PROC_PID, s, 0, SHMM_ACQUIRE));
        if (pid <= 0)
            continue;
        shmm_pid_state state = pid_state(r, pid);
        if (state == SHMM_PID_ALIVE || (state == SHMM_PID_OTHER_USER && a->cfg->tt_mgmt_eperm_alive))
            continue;
        for (int c = 0; c < counters(r); c++)
            sat_sub(r, SHML_F_TOTAL, 0, c, xchg(r, SHML_F_PROC_COUNTER, s, c, 0, SHMM_RELAXED));
        st(r, SHML_F_PROC_PID, s, 0, 0, SHMM_RELEASE);
        cleaned++;
    }
    r->res->cleaned = cleaned;
    if (a->which == SHMM_READER_TT_MGMT_CLEANUP && version >= 4) {
        uint32_t live = 0;
        for (int s = 0; s < SHML_MAX_PROCESSES; s++)
            live += as_pid(ld(r, SHML_F_PROC_PID, s, 0, SHMM_ACQUIRE)) > 0;
        st(r, SHML_F_NUM_ACTIVE, 0, 0, live, SHMM_RELAXED);
        st(r, SHML_F_REFCOUNT, 0, 0, live, SHMM_RELEASE);
    }
}

/* Ours: claim the dead slot by CAS pid -> -1 so a racing cleaner or a new claimer cannot
 * share it, move each counter out with exchange and subtract it clamped, clear, free the
 * slot, decrement both counts saturating. Chip slots are left alone (no per-process chip
 * record exists). */
static void reader_safe(run *r) {
    unsigned cleaned = 0;
    for (int s = 0; s < SHML_MAX_PROCESSES; s++) {
        int32_t pid = as_pid(ld(r, SHML_F_PROC_PID, s, 0, SHMM_ACQUIRE));
        if (pid <= 0 || pid_state(r, pid) != SHMM_PID_DEAD)
            continue;
        uint64_t expected = pid_bits(pid);
        if (!cas(r, SHML_F_PROC_PID, s, 0, &expected, pid_bits(SHML_PID_RELEASING), SHMM_ACQ_REL, SHMM_RELAXED))
            continue;
        for (int c = 0; c < counters(r); c++)
            sat_sub(r, SHML_F_TOTAL, 0, c, xchg(r, SHML_F_PROC_COUNTER, s, c, 0, SHMM_RELAXED));
        st(r, SHML_F_PROC_TIMESTAMP, s, 0, 0, SHMM_RELAXED);
        zero_name(r, s);
        st(r, SHML_F_PROC_PID, s, 0, 0, SHMM_RELEASE);
        sat_dec(r, SHML_F_NUM_ACTIVE, SHMM_RELAXED);
        sat_dec(r, SHML_F_REFCOUNT, SHMM_ACQ_REL);
        cleaned++;
    }
    r->res->cleaned = cleaned;
}

static void op_reader(run *r, shmm_provider *p, void *arg) {
    (void)p;
    const reader_args *a = arg;
    switch (a->which) {
    case SHMM_READER_TT_SMI_77C4:
    case SHMM_READER_TT_SMI_613A:
    case SHMM_READER_TT_SMI_UI: reader_tt_smi(r, a->which); break;
    case SHMM_READER_TT_MGMT_UPDATE:
    case SHMM_READER_TT_MGMT_CLEANUP: reader_tt_mgmt(r, a); break;
    case SHMM_READER_SAFE: reader_safe(r); break;
    default: break; /* shm_reader.py: cleanup not implemented, returns 0 */
    }
}

int shmm_reader_cleanup(shmm_reader which, const shmm_reader_config *cfg, const shmm_ops *ops, const shmm_env *env,
                        shmm_result *res) {
    shmm_reader_config defaults;
    if (cfg == NULL) {
        shmm_reader_config_default(&defaults, SHML_V4);
        cfg = &defaults;
    }
    shml_version layout = SHML_L1K;
    if (which == SHMM_READER_TT_MGMT_UPDATE || which == SHMM_READER_TT_MGMT_CLEANUP)
        layout = SHML_V4;
    else if (which == SHMM_READER_SAFE)
        layout = cfg->layout;
    reader_args a = {which, cfg};
    return shmm_run_op(NULL, layout, ops, env, res, op_reader, &a);
}

/* ---- expectations ----------------------------------------------------------------------- */

void shmm_expect_mask(shml_version v, size_t len, unsigned flags, uint8_t *mask) {
    memset(mask, 0xFF, len);
    size_t off = shml_off(v, SHML_F_TIMESTAMP, 0, 0);
    if (off + 8 <= len)
        memset(mask + off, 0, 8);
    for (int s = 0; s < SHML_MAX_PROCESSES; s++) {
        off = shml_off(v, SHML_F_PROC_TIMESTAMP, s, 0);
        if (off + 8 <= len)
            memset(mask + off, 0, 8);
        off = shml_off(v, SHML_F_PROC_NAME, s, 0);
        if ((flags & SHMM_MASK_SKIP_NAMES) && off + SHML_NAME_BYTES <= len)
            memset(mask + off, 0, SHML_NAME_BYTES);
    }
}

long shmm_expect_compare(shml_version v, const uint8_t *expected, const uint8_t *actual, const uint8_t *mask,
                         size_t len, char *err, size_t err_len) {
    for (size_t i = 0; i < len; i++) {
        if (mask[i] == 0 || expected[i] == actual[i])
            continue;
        if (err) {
            char what[64];
            snprintf(err, err_len, "offset %zu (%s): expected 0x%02x, found 0x%02x", i,
                     shml_describe_offset(v, i, what, sizeof what), expected[i], actual[i]);
        }
        return (long)i;
    }
    return -1;
}
