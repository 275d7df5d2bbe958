/* shm_plan: the SHM operations of a plan and the regions they leave (see shm_plan.h).
 *
 * Derivation walks the plan once. Open providers are kept per (process, chip); a FREE frame
 * finds the size and type of its buffer in a per-process stack of live ALLOCs keyed by
 * (device, id), searched from the newest entry, so a kernel-binary view (a second ALLOC at
 * the same address, freed first) releases the view's size and the binary keeps its own.
 * The model then runs every operation on a plain image per region file with the simulated
 * pids; liveness comes from the plan (a process is alive from SPAWN to CRASH / EXIT).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "mem.h"
#include "rng.h"
#include "shm_plan.h"

void shmp_config_of(const dev_config *cfg, shmm_config *out) {
    shml_version v = cfg->shm_layout ? (shml_version)(cfg->shm_layout - 1) : SHML_V4;
    shmm_config_default(out, v, v == SHML_V4 ? (shmm_subvariant)cfg->shm_sub : SHMM_SUB_NONE);
    if (cfg->shm_per_pid)
        out->per_pid = cfg->shm_per_pid == 1;
    if (v == SHML_L1A && cfg->shm_l1a_padding)
        out->region_size = cfg->shm_l1a_padding == 1 ? 8640 : 8576;
    if (cfg->shm_version_check)
        out->v23_version_check = cfg->shm_version_check == 1;
    if (cfg->shm_claim_cas)
        out->v23_claim_cas = cfg->shm_claim_cas == 1;
    if (cfg->shm_idle_reset)
        out->idle_reset = cfg->shm_idle_reset == 1;
    if (cfg->shm_cb_update)
        out->cb_update = cfg->shm_cb_update == 1 ? SHMM_CB_ABSOLUTE : SHMM_CB_DELTA;
    if (cfg->shm_cb_rate_limit_set)
        out->cb_rate_limit_ns = cfg->shm_cb_rate_limit_ns;
}

int shmp_cb_records(const dev_config *cfg) {
    shml_version v = cfg->shm_layout ? (shml_version)(cfg->shm_layout - 1) : SHML_V4;
    return v == SHML_L1K && cfg->shm_cb_era != 2;
}

/* A value from (seed, what, index) that does not depend on anything else. */
static uint64_t draw(uint64_t seed, uint64_t what, uint64_t index) {
    uint64_t st = seed ^ (what * 0x9e3779b97f4a7c15ull) ^ (index * 0xbf58476d1ce4e5b9ull);
    return rng_splitmix64(&st);
}

uint64_t shmp_chip_id(const dev_config *cfg, shml_version v, uint64_t seed, int device) {
    uint64_t preset = rng_stream_id(cfg->preset);
    if (v >= SHML_V2A) {
        /* chip_unique_id: 64 bits, never 0 (a zero would read as "no id"). */
        uint64_t id = draw(seed, preset ^ 0x55, (uint64_t)device);
        return id ? id : 1;
    }
    /* v1: (board_id << 8) | asic_location. N300 cards carry a local chip (location 0) and a
     * remote one (1): chip i and i + 4 of a T3K, chips 0 and 1 of an N300. A Galaxy tray of
     * 8 chips has location (tray_id << 4) | chip_in_tray, tray_id 1..4. */
    dev_chip_info info;
    dev_chip_info_get(cfg, device, &info);
    uint64_t card = (uint64_t)device, loc = info.remote ? 1 : 0;
    if (strcmp(cfg->preset, "t3k") == 0)
        card = (uint64_t)device % 4;
    else if (strcmp(cfg->preset, "n300") == 0)
        card = 0;
    else if (strcmp(cfg->preset, "galaxy") == 0) {
        card = (uint64_t)device / 8;
        loc = ((card + 1) << 4) | ((uint64_t)device % 8);
    }
    uint64_t board = 1 + draw(seed, preset ^ 0xb0, card) % 0xffffff; /* composite fits 32 bits */
    return (board << 8) | loc;
}

/* ---- derivation ---------------------------------------------------------------------------- */

typedef struct {
    int32_t dev;
    uint64_t id, size;
    uint8_t type;
    int live;
} live_alloc;

typedef struct {
    live_alloc *v;
    size_t n, cap;
} alloc_stack;

typedef struct {
    const scn_script *s;
    const plan *p;
    shm_plan *sp;
    size_t cap_ops;
    int *open_mesh;     /* [proc * nchips_cap + chip]: mesh + 1 when attached, else 0 */
    int nchips_cap;
    alloc_stack *stacks;
    uint64_t *cb_bytes; /* [proc * DEV_MAX_DEVICES + device]: live CB bytes (update_from_allocator eras) */
} deriv;

static int chip_find_or_add(deriv *d, const dev_config *cfg, shml_version v, int32_t dev) {
    shm_plan *sp = d->sp;
    uint64_t id = shmp_chip_id(cfg, v, d->p->seed, dev);
    for (int i = 0; i < sp->nchips; i++)
        if (sp->chips[i].id == id && sp->chips[i].device_id == dev)
            return i;
    if (sp->nchips == d->nchips_cap) {
        int cap = d->nchips_cap ? d->nchips_cap * 2 : 8;
        shmp_chip *nc = mem_realloc(sp->chips, sizeof *nc * (size_t)cap);
        if (!nc)
            return -1;
        sp->chips = nc;
        int *no = mem_calloc((size_t)d->p->nprocs * (size_t)cap + 1, sizeof *no);
        if (!no)
            return -1;
        for (int pr = 0; pr < d->p->nprocs; pr++)
            for (int c = 0; c < sp->nchips; c++)
                no[pr * cap + c] = d->open_mesh[pr * d->nchips_cap + c];
        mem_free(d->open_mesh);
        d->open_mesh = no;
        d->nchips_cap = cap;
    }
    shmp_chip *c = &sp->chips[sp->nchips];
    memset(c, 0, sizeof *c);
    c->id = id;
    c->device_id = dev;
    c->layout = v;
    snprintf(c->name, sizeof c->name, "tt_device_%" PRIu64 "_memory", id);
    return sp->nchips++;
}

static int push_op(deriv *d, shmp_kind kind, int proc, int chip, int mesh, uint64_t size, uint8_t type, size_t step) {
    shm_plan *sp = d->sp;
    if (sp->nops == d->cap_ops) {
        size_t cap = d->cap_ops ? d->cap_ops * 2 : 64;
        shmp_op *n = mem_realloc(sp->ops, sizeof *n * cap);
        if (!n)
            return -1;
        sp->ops = n;
        d->cap_ops = cap;
    }
    sp->ops[sp->nops++] = (shmp_op){kind, proc, chip, mesh, size, type, step};
    return 0;
}

/* The chip a process has attached for device dev, or -1. */
static int attached_chip(const deriv *d, int proc, int32_t dev, int *mesh) {
    for (int c = 0; c < d->sp->nchips; c++)
        if (d->sp->chips[c].device_id == dev && d->open_mesh[proc * d->nchips_cap + c]) {
            *mesh = d->open_mesh[proc * d->nchips_cap + c] - 1;
            return c;
        }
    return -1;
}

static int stack_push(alloc_stack *st, int32_t dev, uint64_t id, uint64_t size, uint8_t type) {
    if (st->n == st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 32;
        live_alloc *n = mem_realloc(st->v, sizeof *n * cap);
        if (!n)
            return -1;
        st->v = n;
        st->cap = cap;
    }
    st->v[st->n++] = (live_alloc){dev, id, size, type, 1};
    return 0;
}

/* ShmBufferType of v1-K for CBs and kernels (shm-tracking.md §2.2); buffers use 0..4. */
#define SHMP_TYPE_CB 5
#define SHMP_TYPE_KERNEL 6

/* want: SHMP_TYPE_CB or SHMP_TYPE_KERNEL, or -1 for a buffer (any other type). */
static int stack_pop(alloc_stack *st, int32_t dev, uint64_t id, int want, uint64_t *size, uint8_t *type) {
    for (size_t i = st->n; i-- > 0;) {
        live_alloc *a = &st->v[i];
        int kind_ok = want < 0 ? a->type != SHMP_TYPE_CB && a->type != SHMP_TYPE_KERNEL : a->type == want;
        if (a->live && a->dev == dev && a->id == id && kind_ok) {
            *size = a->size;
            *type = a->type;
            a->live = 0;
            while (st->n && !st->v[st->n - 1].live)
                st->n--;
            return 0;
        }
    }
    return -1;
}

/* A CB_ALLOC / CB_FREE frame (step i) on attached chip c in an update_from_allocator era (§4.7, §5).
 * The process's CB figure for the device (Device::get_total_cb_allocated(): the CBs of its
 * programs on that device) follows the frame: + the CB's size, - the size the matching
 * CB_ALLOC stored. TT-Metal publishes it once per program and device, after
 * allocate_circular_buffers / deallocate_circular_buffers: the plan has no program
 * boundaries, so a program's CBs are a run of frames of one kind, process and device with
 * rising ids (every program starts from the same base address, l1_unreserved_base); the
 * update follows the run's last frame. */
static int cb_frame(deriv *d, size_t i, int c, int mesh) {
    const plan_step *st = &d->p->steps[i];
    const proto_msg *m = &st->msg;
    uint64_t *cb = &d->cb_bytes[(size_t)st->proc * DEV_MAX_DEVICES + (size_t)m->device_id];
    if (m->type == PROTO_CB_ALLOC) {
        if (stack_push(&d->stacks[st->proc], m->device_id, m->buffer_id, m->size, SHMP_TYPE_CB) < 0)
            return -1;
        *cb += m->size;
    } else {
        uint64_t size;
        uint8_t type;
        if (stack_pop(&d->stacks[st->proc], m->device_id, m->buffer_id, SHMP_TYPE_CB, &size, &type) == 0)
            *cb = *cb >= size ? *cb - size : 0;
    }
    if (i + 1 < d->p->nsteps) {
        const plan_step *nx = &d->p->steps[i + 1];
        if (nx->kind == PLAN_SEND && nx->proc == st->proc && nx->msg.type == m->type &&
            nx->msg.device_id == m->device_id && nx->msg.buffer_id > m->buffer_id)
            return 0; /* the same program's next CB */
    }
    return push_op(d, SHMP_CB_UPDATE, st->proc, c, mesh, *cb, SHMP_TYPE_CB, i);
}

static int derive_step(deriv *d, size_t i) {
    const plan_step *st = &d->p->steps[i];
    const proto_msg *m = &st->msg;
    int mesh;
    switch (st->kind) {
    case PLAN_OPEN:
    case PLAN_CLOSE: {
        const dev_config *cfg = &d->s->meshes[st->mesh].cfg;
        int c = chip_find_or_add(d, cfg, d->sp->cfgs[st->mesh].version, m->device_id);
        if (c < 0)
            return -1;
        d->open_mesh[st->proc * d->nchips_cap + c] = st->kind == PLAN_OPEN ? st->mesh + 1 : 0;
        if (m->device_id >= 0 && m->device_id < DEV_MAX_DEVICES) /* a new Device: no CBs yet */
            d->cb_bytes[(size_t)st->proc * DEV_MAX_DEVICES + (size_t)m->device_id] = 0;
        return push_op(d, st->kind == PLAN_OPEN ? SHMP_ATTACH : SHMP_DETACH, st->proc, c, st->mesh, 0, 0, i);
    }
    case PLAN_CRASH:
    case PLAN_EXIT:
        for (int c = 0; c < d->sp->nchips; c++)
            d->open_mesh[st->proc * d->nchips_cap + c] = 0;
        d->stacks[st->proc].n = 0;
        memset(d->cb_bytes + (size_t)st->proc * DEV_MAX_DEVICES, 0, DEV_MAX_DEVICES * sizeof *d->cb_bytes);
        return 0;
    case PLAN_SEND:
        if (m->type == PROTO_ALLOC) {
            int c = attached_chip(d, st->proc, m->device_id, &mesh);
            if (c < 0)
                return 0;
            if (stack_push(&d->stacks[st->proc], m->device_id, m->buffer_id, m->size, m->buffer_type) < 0)
                return -1;
            return push_op(d, SHMP_ALLOC, st->proc, c, mesh, m->size, m->buffer_type, i);
        }
        if (m->type == PROTO_FREE) {
            int c = attached_chip(d, st->proc, m->device_id, &mesh);
            uint64_t size;
            uint8_t type;
            if (c < 0 || stack_pop(&d->stacks[st->proc], m->device_id, m->buffer_id, -1, &size, &type) < 0)
                return 0; /* not a buffer of this process: TT-Metal records nothing */
            return push_op(d, SHMP_FREE, st->proc, c, mesh, size, type, i);
        }
        /* CBs and kernels (v144's CB_ALLOC ... KERNEL_UNLOAD): recorded per call only in the
         * v1-K era that reported to the socket and to SHM at once (shmp_cb_records; §5, G2: track_allocate_cb
         * records CB `size`, track_kernel_load KERNEL `kernel_size x num_cores`, which is the
         * frame's size; an unload releases the first stored entry of that kernel). A CB_FREE
         * releases the CB it names (G2 frees every CB of the device at once; the same bytes
         * once all are freed). Later eras, and v1-K with shm_cb_era=update (era C / G3),
         * record no kernels and publish CBs through update_from_allocator (§4.7): see cb_frame. */
        if (m->type == PROTO_CB_ALLOC || m->type == PROTO_KERNEL_LOAD || m->type == PROTO_CB_FREE ||
            m->type == PROTO_KERNEL_UNLOAD) {
            int c = attached_chip(d, st->proc, m->device_id, &mesh);
            if (c < 0)
                return 0;
            if (!shmp_cb_records(&d->s->meshes[mesh].cfg))
                return m->type == PROTO_CB_ALLOC || m->type == PROTO_CB_FREE ? cb_frame(d, i, c, mesh) : 0;
            int kind = m->type == PROTO_CB_ALLOC || m->type == PROTO_CB_FREE ? SHMP_TYPE_CB : SHMP_TYPE_KERNEL;
            if (m->type == PROTO_CB_ALLOC || m->type == PROTO_KERNEL_LOAD) {
                if (stack_push(&d->stacks[st->proc], m->device_id, m->buffer_id, m->size, (uint8_t)kind) < 0)
                    return -1;
                return push_op(d, SHMP_ALLOC, st->proc, c, mesh, m->size, (uint8_t)kind, i);
            }
            uint64_t size;
            uint8_t type;
            if (stack_pop(&d->stacks[st->proc], m->device_id, m->buffer_id, kind, &size, &type) < 0)
                return 0;
            return push_op(d, SHMP_FREE, st->proc, c, mesh, size, type, i);
        }
        return 0;
    default:
        return 0;
    }
}

/* ---- the model over images ----------------------------------------------------------------- */

typedef struct {
    const plan *p;
    const uint8_t *alive;
} liveness;

static shmm_pid_state plan_pid_state(void *ctx, int32_t pid) {
    const liveness *l = ctx;
    for (int i = 0; i < l->p->nprocs; i++)
        if (l->p->sim_pid[i] == pid)
            return l->alive[i] ? SHMM_PID_ALIVE : SHMM_PID_DEAD;
    return SHMM_PID_DEAD;
}

static int image_alloc(shmp_image *im, int nchips) {
    size_t n = nchips ? (size_t)nchips : 1;
    im->bytes = mem_calloc(n, SHMM_FILE_CAPACITY);
    im->size = mem_calloc(n, sizeof *im->size);
    im->exists = mem_calloc(n, 1);
    return im->bytes && im->size && im->exists ? 0 : -1;
}

static void image_release(shmp_image *im) {
    mem_free(im->bytes);
    mem_free(im->size);
    mem_free(im->exists);
    memset(im, 0, sizeof *im);
}

static int snapshot(shmp_image *im, const shmm_file *files, int nchips) {
    if (image_alloc(im, nchips) < 0)
        return -1;
    for (int c = 0; c < nchips; c++) {
        memcpy(im->bytes + (size_t)c * SHMM_FILE_CAPACITY, files[c].bytes, SHMM_FILE_CAPACITY);
        im->size[c] = files[c].size;
        im->exists[c] = (uint8_t)files[c].exists;
    }
    return 0;
}

static int run_model(const plan *p, shm_plan *sp) {
    int rc = -1;
    shmm_file *files = mem_calloc(sp->nchips ? (size_t)sp->nchips : 1, sizeof *files);
    shmm_image *views = mem_calloc(sp->nchips ? (size_t)sp->nchips : 1, sizeof *views);
    shmm_provider *prov = mem_calloc((size_t)p->nprocs * (size_t)(sp->nchips ? sp->nchips : 1), sizeof *prov);
    uint8_t *alive = mem_calloc((size_t)p->nprocs + 1, 1);
    shmm_cb_limiter *limits = mem_calloc((size_t)p->nprocs + 1, sizeof *limits); /* empty maps */
    sp->dumps = mem_calloc(p->ndumps ? p->ndumps : 1, sizeof *sp->dumps);
    if (!files || !views || !prov || !alive || !limits || !sp->dumps)
        goto out;
    for (int c = 0; c < sp->nchips; c++) {
        shmm_file_init(&files[c]);
        shmm_image_init(&views[c], &files[c]);
    }
    liveness l = {p, alive};
    shmm_env env = {0, plan_pid_state, &l};
    for (size_t i = 0; i < p->nsteps; i++) {
        const plan_step *st = &p->steps[i];
        env.now_ns = st->vtime_ns;
        if (st->kind == PLAN_SPAWN)
            alive[st->proc] = 1;
        else if (st->kind == PLAN_CRASH || st->kind == PLAN_EXIT)
            alive[st->proc] = 0;
        else if (st->kind == PLAN_DUMP && st->dump >= 0 && (size_t)st->dump < p->ndumps) {
            if (snapshot(&sp->dumps[st->dump], files, sp->nchips) < 0)
                goto out;
            sp->ndumps = (size_t)st->dump + 1 > sp->ndumps ? (size_t)st->dump + 1 : sp->ndumps;
        }
        for (size_t k = sp->step_ops[i]; k < sp->step_ops[i + 1]; k++) {
            const shmp_op *op = &sp->ops[k];
            shmm_provider *pv = &prov[(size_t)op->proc * (size_t)sp->nchips + (size_t)op->chip];
            shmm_ops ops;
            shmm_ops_image(&ops, &views[op->chip]);
            if (op->kind == SHMP_ATTACH) {
                shmm_process self;
                shmm_process_init(&self, p->sim_pid[op->proc], p->proc_names[op->proc]);
                shmm_provider_init(pv, &sp->cfgs[op->mesh], &self, sp->chips[op->chip].id,
                                   sp->chips[op->chip].device_id);
                shmm_attach(pv, &ops, &env, NULL);
            } else if (op->kind == SHMP_ALLOC) {
                shmm_record_alloc(pv, &ops, &env, op->size, op->type, (uint32_t)sp->chips[op->chip].device_id, NULL);
            } else if (op->kind == SHMP_FREE) {
                shmm_record_free(pv, &ops, &env, op->size, op->type, (uint32_t)sp->chips[op->chip].device_id, NULL);
            } else if (op->kind == SHMP_CB_UPDATE) {
                shmm_update_from_allocator(pv, &ops, &env, &limits[op->proc], op->size, NULL);
            } else {
                shmm_detach(pv, &ops, &env, NULL);
            }
        }
    }
    if (snapshot(&sp->final, files, sp->nchips) < 0)
        goto out;
    rc = 0;
out:
    mem_free(files);
    mem_free(views);
    mem_free(prov);
    mem_free(alive);
    mem_free(limits);
    return rc;
}

int shmp_build(const scn_script *s, const plan *p, shm_plan *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    deriv d;
    memset(&d, 0, sizeof d);
    d.s = s;
    d.p = p;
    d.sp = out;
    out->nmeshes = s->nmeshes;
    out->nsteps = p->nsteps;
    out->cfgs = mem_calloc(s->nmeshes ? (size_t)s->nmeshes : 1, sizeof *out->cfgs);
    out->step_ops = mem_calloc(p->nsteps + 1, sizeof *out->step_ops);
    d.stacks = mem_calloc((size_t)p->nprocs + 1, sizeof *d.stacks);
    d.open_mesh = mem_calloc(1, sizeof *d.open_mesh);
    d.cb_bytes = mem_calloc(((size_t)p->nprocs + 1) * DEV_MAX_DEVICES, sizeof *d.cb_bytes);
    if (!out->cfgs || !out->step_ops || !d.stacks || !d.open_mesh || !d.cb_bytes)
        goto oom;
    for (int i = 0; i < s->nmeshes; i++)
        shmp_config_of(&s->meshes[i].cfg, &out->cfgs[i]);
    for (size_t i = 0; i < p->nsteps; i++) {
        out->step_ops[i] = out->nops;
        if (derive_step(&d, i) < 0)
            goto oom;
    }
    out->step_ops[p->nsteps] = out->nops;
    for (int i = 0; i < p->nprocs; i++)
        mem_free(d.stacks[i].v);
    mem_free(d.stacks);
    mem_free(d.open_mesh);
    mem_free(d.cb_bytes);
    if (run_model(p, out) < 0) {
        shmp_release(out);
        snprintf(err, errlen, "shm: out of memory (host) while running the model");
        return -1;
    }
    return 0;
oom:
    if (d.stacks)
        for (int i = 0; i < p->nprocs; i++)
            mem_free(d.stacks[i].v);
    mem_free(d.stacks);
    mem_free(d.open_mesh);
    mem_free(d.cb_bytes);
    shmp_release(out);
    snprintf(err, errlen, "shm: out of memory (host) while deriving the SHM operations");
    return -1;
}

void shmp_release(shm_plan *sp) {
    if (!sp)
        return;
    if (sp->dumps)
        for (size_t i = 0; i < sp->ndumps; i++)
            image_release(&sp->dumps[i]);
    mem_free(sp->dumps);
    image_release(&sp->final);
    mem_free(sp->cfgs);
    mem_free(sp->chips);
    mem_free(sp->ops);
    mem_free(sp->step_ops);
    memset(sp, 0, sizeof *sp);
}

/* ---- rendering ----------------------------------------------------------------------------- */

static void render_pid(int32_t pid, dumpview_pid_name_fn name, void *ctx, sbuf *out) {
    const char *n = pid > 0 && name ? name(ctx, pid) : NULL;
    if (n)
        sbuf_printf(out, "%s", n);
    else if (pid > 0)
        sbuf_printf(out, "pid %" PRId32, pid);
    else
        sbuf_printf(out, "%" PRId32, pid);
}

static void render_counters(shml_version v, const uint64_t *c, sbuf *out) {
    int n = shml_version_get(v)->counter_count;
    for (int k = 0; k < n; k++)
        sbuf_printf(out, " %s=%" PRIu64, shml_counter_name(k), c[k]);
}

void shmp_render_region(shml_version v, const uint8_t *bytes, size_t len, dumpview_pid_name_fn name,
                        void *name_ctx, sbuf *out) {
    shml_region *r = mem_alloc(sizeof *r);
    char err[200];
    if (!r) {
        sbuf_printf(out, "  (out of memory)\n");
        return;
    }
    if (shml_decode(v, bytes, len, SHML_DECODE_ANY_VERSION, r, err, sizeof err) < 0) {
        sbuf_printf(out, "  does not decode as %s: %s\n", shml_version_get(v)->name, err);
        mem_free(r);
        return;
    }
    const shml_version_info *vi = shml_version_get(v);
    sbuf_printf(out, "  layout %s, %zu bytes, version %" PRIu32, vi->name, len, r->version);
    if (v == SHML_V4)
        sbuf_printf(out, ", init_state %s",
                    r->init_state == SHML_INIT_READY         ? "READY"
                    : r->init_state == SHML_INIT_IN_PROGRESS ? "IN_PROGRESS"
                    : r->init_state == 0                     ? "UNINITIALIZED"
                                                             : "garbage");
    sbuf_printf(out, "\n  num_active_processes %" PRIu32 ", reference_count %" PRIu32 "\n", r->num_active_processes,
                r->reference_count);
    sbuf_printf(out, "  board_serial %" PRIu64 ", asic_id %" PRIu64 ", device_id %" PRId32 "\n", r->board_serial,
                r->asic_id, (int32_t)r->device_id);
    sbuf_printf(out, "  totals:");
    render_counters(v, r->totals, out);
    sbuf_putc(out, '\n');
    for (int i = 0; i < SHML_MAX_CHIPS; i++) {
        const shml_chip *c = &r->chips[i];
        int any = 0;
        for (int k = 0; k < SHML_CTR_COUNT; k++)
            any |= c->counters[k] != 0;
        if (c->chip_id == vi->chip_unused && !any && !c->is_remote)
            continue;
        sbuf_printf(out, "  chip_stats[%d]: chip_id %" PRIu32 "%s", i, c->chip_id, c->is_remote ? " remote" : "");
        render_counters(v, c->counters, out);
        sbuf_putc(out, '\n');
    }
    for (int i = 0; i < SHML_MAX_PROCESSES; i++) {
        const shml_process *pr = &r->processes[i];
        int any = 0;
        for (int k = 0; k < SHML_CTR_COUNT; k++)
            any |= pr->counters[k] != 0;
        if (pr->pid == 0 && !any && pr->name[0] == 0)
            continue;
        sbuf_printf(out, "  processes[%d]: ", i);
        render_pid(pr->pid, name, name_ctx, out);
        char nm[SHML_NAME_BYTES + 1];
        memcpy(nm, pr->name, SHML_NAME_BYTES);
        nm[SHML_NAME_BYTES] = 0;
        for (char *q = nm; *q; q++)
            if ((unsigned char)*q < 0x20 || (unsigned char)*q > 0x7e)
                *q = '?';
        sbuf_printf(out, " name \"%s\"", nm);
        render_counters(v, pr->counters, out);
        sbuf_putc(out, '\n');
    }
    mem_free(r);
}

void shmp_map_pids(shml_version v, uint8_t *bytes, size_t len, shmp_pid_map_fn map, void *ctx) {
    for (int i = 0; i < SHML_MAX_PROCESSES; i++) {
        size_t off = shml_off(v, SHML_F_PROC_PID, i, 0);
        if (off == SIZE_MAX || off + 4 > len)
            continue;
        int32_t pid = (int32_t)((uint32_t)bytes[off] | (uint32_t)bytes[off + 1] << 8 | (uint32_t)bytes[off + 2] << 16 |
                                (uint32_t)bytes[off + 3] << 24);
        if (pid <= 0)
            continue;
        int32_t to = map(ctx, pid);
        if (to == 0 || to == pid)
            continue;
        for (int b = 0; b < 4; b++)
            bytes[off + (size_t)b] = (uint8_t)((uint32_t)to >> (8 * b));
    }
}
