/* shm_fuzz: schedule generation, text form, the model executor (the oracle), the finding
 * verdict and the minimiser of the SHM fuzzer (see shm_fuzz.h). The real executor is in
 * shm_fuzz_real.c and shares the entry semantics written here: an entry of a process that is
 * paused, exited or crashed does nothing; `resume` of a process paused deeper first finishes
 * the ones paused above it.
 */
#include "shm_fuzz.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "rng.h"

static const char *const op_names[SHMF_OP_COUNT] = {"attach", "alloc", "free", "detach", "kill", "cleanup", "resume"};

const char *shmf_op_name(shmf_op op) {
    return (unsigned)op < SHMF_OP_COUNT ? op_names[op] : "?";
}

const char *shmf_kind_name(int kind) {
    if (kind >= 0 && kind < SHMC_KIND_COUNT)
        return shmc_kind_name((shmc_kind)kind);
    return kind == SHMF_K_SLOT_TWICE ? "slot-twice" : kind == SHMF_K_MODEL ? "model-mismatch"
                                                  : kind == SHMF_K_HARNESS ? "harness"
                                                  : kind == SHMF_K_INHERITED ? "slot-inherited" : "?";
}

static int kind_parse(const char *s) {
    for (int k = 0; k < SHMF_K_COUNT; k++)
        if (!strcmp(s, shmf_kind_name(k)))
            return k;
    return -1;
}

int shmf_config_parse(const char *name, shmm_config *out) {
    shml_version v;
    shmm_subvariant sub = SHMM_SUB_NONE;
    if (!strcasecmp(name, "v4a"))
        sub = SHMM_SUB_V4A;
    else if (!strcasecmp(name, "v4b"))
        sub = SHMM_SUB_V4B;
    else if (!strcasecmp(name, "v4c"))
        sub = SHMM_SUB_V4C;
    if (sub != SHMM_SUB_NONE)
        v = SHML_V4;
    else if (shml_version_parse(name, &v) != 0)
        return -1;
    shmm_config_default(out, v, sub);
    out->ready_poll_attempts = 3;
    return 0;
}

static const char *const all_builds[] = {"v1-K", "v1-N", "v1-A", "v2a", "v2b", "v3", "v4a", "v4b", "v4c"};
#define NBUILDS ((int)(sizeof all_builds / sizeof all_builds[0]))

int shmf_gen_check(const shmf_gen_options *o, char *err, size_t errlen) {
    if (!o->layouts || !strcmp(o->layouts, "all") || !strcmp(o->layouts, "mix"))
        return 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", o->layouts);
    for (char *t = strtok(buf, ","); t; t = strtok(NULL, ",")) {
        shmm_config c;
        if (shmf_config_parse(t, &c) != 0) {
            snprintf(err, errlen, "unknown layout '%s' (v1-K, v1-N, v1-A, v2a, v2b, v3, v4a, v4b, v4c, all, mix)", t);
            return -1;
        }
    }
    return 0;
}

/* ---- generation --------------------------------------------------------------------------- */

static void pick_build(rng *r, const shmf_gen_options *o, int proc, shmm_config *first, shmm_config *out) {
    if (o->safe) {
        shmf_config_parse("v4c", out);
        return;
    }
    if (o->layouts && strcmp(o->layouts, "all") && strcmp(o->layouts, "mix")) {
        char buf[256], *names[16];
        int n = 0;
        snprintf(buf, sizeof buf, "%s", o->layouts);
        for (char *t = strtok(buf, ","); t && n < 16; t = strtok(NULL, ","))
            names[n++] = t;
        /* One build for the whole schedule mostly; a mix of the listed ones sometimes. */
        if (proc > 0 && rng_below(r, 4) != 0) {
            *out = *first;
            return;
        }
        shmf_config_parse(names[rng_below(r, (uint64_t)n)], out);
        return;
    }
    int mix = o->layouts && !strcmp(o->layouts, "mix") ? 1 : rng_below(r, 5) == 0;
    if (proc > 0 && !mix) {
        *out = *first;
        return;
    }
    shmf_config_parse(all_builds[rng_below(r, NBUILDS)], out);
}

/* Pid reuse (shm-tracking.md §7.15), from a random stream of its own so that schedules without
 * it stay what they were: one time in three, when a writer is gone and a process number is
 * free, a new process of the same build gets that writer's pid. Its entries (attach, one or two
 * records, sometimes a free) go in at a random place after the writer is gone. */
static void add_pid_reuse(uint64_t seed, uint64_t n, shmf_schedule *s, const int *gone_at) {
    static const uint64_t sizes[] = {4096, 8192, 65536};
    static const uint8_t types[] = {SHML_TYPE_DRAM, SHML_TYPE_L1, SHML_TYPE_TRACE};
    rng r;
    int cand[SHMF_MAX_PROCS], nc = 0;
    rng_init(&r, seed ^ 0x7069642d72657573ull, n);
    if (rng_below(&r, 3) != 0 || s->nprocs >= SHMF_MAX_PROCS)
        return;
    for (int q = 0; q < s->nprocs; q++)
        if (!s->procs[q].is_reader && gone_at[q] >= 0)
            cand[nc++] = q;
    if (nc == 0)
        return;
    int q = cand[rng_below(&r, (uint64_t)nc)], np = s->nprocs;
    shmf_entry blk[4];
    int nb = 0;
    memset(blk, 0, sizeof blk);
    blk[nb++].op = SHMF_ATTACH;
    for (int k = 1 + (int)rng_below(&r, 2); k > 0; k--) {
        blk[nb].op = SHMF_ALLOC;
        blk[nb].size = sizes[rng_below(&r, 3)];
        blk[nb++].type = types[rng_below(&r, 3)];
    }
    if (rng_below(&r, 2) == 0) {
        blk[nb] = blk[nb - 1];
        blk[nb++].op = SHMF_FREE;
    }
    if (s->nentries + nb > SHMF_MAX_ENTRIES)
        return;
    int pos = gone_at[q] + 1 + (int)rng_below(&r, (uint64_t)(s->nentries - gone_at[q]));
    s->procs[np].cfg = s->procs[q].cfg;
    s->procs[np].pid_from = (uint8_t)(q + 1);
    s->nprocs++;
    memmove(&s->e[pos + nb], &s->e[pos], (size_t)(s->nentries - pos) * sizeof s->e[0]);
    for (int k = 0; k < nb; k++) {
        blk[k].proc = (uint8_t)np;
        s->e[pos + k] = blk[k];
    }
    s->nentries += nb;
}

int shmf_uses_pid_reuse(const shmf_schedule *s) {
    for (int p = 0; p < s->nprocs; p++)
        if (s->procs[p].pid_from)
            return 1;
    return 0;
}

int shmf_slot_inherited(const shmf_schedule *s, int p, const shmf_entry *e, int res_slot, const uint8_t *bytes,
                        size_t size, char *detail, size_t dlen) {
    const shmm_config *cfg = &s->procs[p].cfg;
    shml_region *r = mem_alloc(sizeof *r);
    int found = 0;
    if (!r || res_slot < 0 || res_slot >= SHML_MAX_PROCESSES ||
        shml_decode(cfg->version, bytes, size, SHML_DECODE_ANY_VERSION, r, NULL, 0) != 0) {
        mem_free(r);
        return 0;
    }
    uint64_t own = 0, held = 0;
    if (e->op == SHMF_ALLOC && shml_counter_of_type(cfg->version, e->type) >= 0)
        own = e->size;
    for (int k = 0; k < SHML_CTR_COUNT; k++)
        held += r->processes[res_slot].counters[k];
    if (held > own) {
        snprintf(detail, dlen, "processes[%d] (pid %d) held %llu bytes after p%d's first %s, which recorded %llu",
                 res_slot, (int)r->processes[res_slot].pid, (unsigned long long)held, p, shmf_op_name((shmf_op)e->op),
                 (unsigned long long)own);
        found = 1;
    }
    mem_free(r);
    return found;
}

void shmf_generate(uint64_t seed, uint64_t n, const shmf_gen_options *o, shmf_schedule *s) {
    static const uint64_t sizes[] = {4096, 8192, 65536, 1048576, 12503040};
    static const uint8_t types[] = {SHML_TYPE_DRAM, SHML_TYPE_DRAM, SHML_TYPE_L1, SHML_TYPE_L1_SMALL, SHML_TYPE_TRACE,
                                    SHML_TYPE_CB};
    static const shmm_reader readers[] = {SHMM_READER_TT_SMI_613A, SHMM_READER_TT_SMI_77C4, SHMM_READER_TT_SMI_UI,
                                          SHMM_READER_TT_MGMT_UPDATE, SHMM_READER_TT_MGMT_CLEANUP, SHMM_READER_SAFE};
    rng r;
    rng_init(&r, seed, n);
    memset(s, 0, sizeof *s);
    int max_ops = o->max_ops > 0 ? o->max_ops : 14;
    if (max_ops > SHMF_MAX_ENTRIES - 8)
        max_ops = SHMF_MAX_ENTRIES - 8;
    int writers = 2 + (int)rng_below(&r, 2);
    int reader = rng_below(&r, 2) == 0;
    s->nprocs = writers + reader;
    for (int p = 0; p < writers; p++)
        pick_build(&r, o, p, &s->procs[0].cfg, &s->procs[p].cfg);
    if (reader)
        s->procs[writers].is_reader = 1;
    int attached[SHMF_MAX_PROCS] = {0}, gone[SHMF_MAX_PROCS] = {0}, paused[SHMF_MAX_PROCS] = {0};
    int gone_at[SHMF_MAX_PROCS] = {-1, -1, -1, -1};
    uint64_t held[SHMF_MAX_PROCS][2] = {{0}}; /* last allocation (size, type) to free */
    int stack[SHMF_MAX_PROCS], depth = 0, since_pause = 0;
    int target = 3 + (int)rng_below(&r, (uint64_t)max_ops - 2);
    while (s->nentries < target && s->nentries < SHMF_MAX_ENTRIES - 4) {
        shmf_entry *e = &s->e[s->nentries];
        memset(e, 0, sizeof *e);
        int eligible = 0;
        for (int q = 0; q < s->nprocs; q++)
            eligible += !paused[q] && !gone[q];
        if (eligible == 0 && depth == 0)
            break;
        if (depth > 0 && (eligible == 0 || (since_pause >= 1 && rng_below(&r, 3) == 0))) {
            e->proc = (uint8_t)stack[--depth];
            e->op = SHMF_RESUME;
            paused[e->proc] = 0;
            s->nentries++;
            continue;
        }
        int p = (int)rng_below(&r, (uint64_t)s->nprocs);
        if (paused[p] || gone[p])
            continue;
        e->proc = (uint8_t)p;
        if (s->procs[p].is_reader) {
            e->op = SHMF_CLEANUP;
            e->reader = (uint8_t)(o->safe ? SHMM_READER_SAFE : readers[rng_below(&r, 6)]);
        } else if (!attached[p]) {
            e->op = SHMF_ATTACH;
            attached[p] = 1;
        } else {
            uint64_t k = rng_below(&r, 100);
            if (k < 45) {
                e->op = SHMF_ALLOC;
                e->size = sizes[rng_below(&r, 5)];
                e->type = types[rng_below(&r, 6)];
                held[p][0] = e->size;
                held[p][1] = e->type;
            } else if (k < 75 && (!o->safe || held[p][0])) {
                e->op = SHMF_FREE;
                e->size = held[p][0] ? held[p][0] : sizes[rng_below(&r, 5)];
                e->type = held[p][0] ? (uint8_t)held[p][1] : types[rng_below(&r, 6)];
                held[p][0] = 0;
            } else if (k < 90 || o->safe) {
                e->op = SHMF_DETACH;
                gone[p] = 1;
                gone_at[p] = s->nentries;
            } else {
                e->op = SHMF_KILL;
                gone[p] = 1;
                gone_at[p] = s->nentries;
            }
            e->chip = rng_below(&r, 4) == 0 ? 1 : 0;
        }
        if (e->op != SHMF_KILL) {
            uint64_t d = rng_below(&r, 100);
            if (!o->safe && d < 12) {
                e->crash_frac = (uint16_t)rng_below(&r, 1000);
                gone[p] = 1;
                gone_at[p] = s->nentries;
            } else if (d < 45 && depth < SHMF_MAX_PROCS - 1 && !(o->safe && e->op == SHMF_ATTACH)) {
                e->pause_frac = (uint16_t)(1 + rng_below(&r, 999));
                stack[depth++] = p;
                paused[p] = 1;
                since_pause = 0;
                s->nentries++;
                continue;
            }
        }
        since_pause++;
        s->nentries++;
    }
    while (depth > 0 && s->nentries < SHMF_MAX_ENTRIES) {
        shmf_entry *e = &s->e[s->nentries++];
        memset(e, 0, sizeof *e);
        e->proc = (uint8_t)stack[--depth];
        e->op = SHMF_RESUME;
    }
    if (o->pid_reuse && !o->safe)
        add_pid_reuse(seed, n, s, gone_at);
    shmf_resolve(s);
}

/* ---- the model executor ------------------------------------------------------------------- */

enum { ST_IDLE = 0, ST_PAUSED, ST_GONE, ST_NOTYET };

typedef struct mexec mexec;
typedef struct {
    mexec *m;
    int proc;
    unsigned long pause_at;
} mhook;

struct mexec {
    shmf_schedule *s; /* resolved in place when resolve is set */
    int resolve;
    int idx;
    shmm_file file;
    shmm_image img[SHMF_MAX_PROCS];
    shmm_ops ops[SHMF_MAX_PROCS];
    shmm_provider prov[SHMF_MAX_PROCS];
    int state[SHMF_MAX_PROCS];
    int inherit_checked[SHMF_MAX_PROCS];
    int32_t pid[SHMF_MAX_PROCS];
    shmm_pidset live;
    shmf_outcome *out;
};

static void run_entries(mexec *m, int stop_proc);

static int hook(void *user, unsigned long step) {
    mhook *h = user;
    if (step == h->pause_at) {
        h->m->state[h->proc] = ST_PAUSED;
        run_entries(h->m, h->proc);
        if (h->m->state[h->proc] == ST_PAUSED)
            h->m->state[h->proc] = ST_IDLE;
    }
    return 0;
}

static uint64_t entry_now(int idx) {
    return 1000000000ull + (uint64_t)idx * 1000u;
}

/* Runs one operation of process p on the view v; returns the result. */
static int do_op(shmm_provider *pr, const shmm_ops *ops, const shmm_env *env, const shmf_entry *e, int is_reader,
                 shml_version layout, shmm_result *res) {
    switch (e->op) {
    case SHMF_ATTACH: return shmm_attach(pr, ops, env, res);
    case SHMF_ALLOC: return shmm_record_alloc(pr, ops, env, e->size, e->type, e->chip, res);
    case SHMF_FREE: return shmm_record_free(pr, ops, env, e->size, e->type, e->chip, res);
    case SHMF_DETACH: return shmm_detach(pr, ops, env, res);
    case SHMF_CLEANUP: {
        (void)is_reader;
        shmm_reader_config rc;
        shmm_reader_config_default(&rc, layout);
        return shmm_reader_cleanup((shmm_reader)e->reader, &rc, ops, env, res);
    }
    default: memset(res, 0, sizeof *res); res->completed = 1; res->slot = res->chip_slot = -1; return 1;
    }
}

/* The layout a reader process assumes for the safe cleanup: the file's, as detected. */
static shml_version file_layout(const shmm_file *f) {
    shml_detection d;
    if (!f->exists || shml_detect(f->bytes, f->size, &d) == 0)
        return SHML_V4;
    return d.best;
}

static void note_slot(mexec *m, int p, const shmm_result *res, const shmf_entry *e) {
    shmf_outcome *o = m->out;
    if (m->s->procs[p].is_reader || res->slot < 0 || e->op == SHMF_DETACH)
        return;
    o->slot_of[p] = res->slot;
    if (m->s->procs[p].pid_from && !m->inherit_checked[p]) {
        char d[200];
        m->inherit_checked[p] = 1;
        if (shmf_slot_inherited(m->s, p, e, res->slot, m->file.bytes, m->file.size, d, sizeof d)) {
            if (!(o->kinds & (1u << SHMF_K_INHERITED)))
                snprintf(o->detail[SHMF_K_INHERITED], sizeof o->detail[0], "%s", d);
            o->kinds |= 1u << SHMF_K_INHERITED;
        }
    }
    for (int q = 0; q < m->s->nprocs; q++) {
        if (q == p || m->s->procs[q].is_reader || m->state[q] == ST_GONE || m->state[q] == ST_NOTYET ||
            o->slot_of[q] != res->slot)
            continue;
        if (!(o->kinds & (1u << SHMF_K_SLOT_TWICE)))
            snprintf(o->detail[SHMF_K_SLOT_TWICE], sizeof o->detail[0],
                     "processes[%d] used by p%d (%s) and p%d (%s), both alive", res->slot, p,
                     shmm_config_name(&m->s->procs[p].cfg), q, shmm_config_name(&m->s->procs[q].cfg));
        o->kinds |= 1u << SHMF_K_SLOT_TWICE;
    }
}

static void exec_entry(mexec *m, shmf_entry *e, int idx) {
    int p = e->proc;
    shmm_env env = {entry_now(idx), shmm_pidset_state, &m->live};
    if (e->op == SHMF_KILL) {
        shmm_crash(&m->prov[p]);
        m->state[p] = ST_GONE;
        shmm_pidset_remove(&m->live, m->pid[p]);
        return;
    }
    if (e->op == SHMF_CLEANUP && !m->file.exists)
        return;
    shml_version layout = file_layout(&m->file);
    if (m->resolve && (e->pause_frac || e->crash_frac)) {
        /* Count the op's steps in isolation on a copy: the steps before a pause do not depend
         * on what runs during it. */
        shmm_file *copy = mem_alloc(sizeof *copy);
        if (copy) {
            *copy = m->file;
            shmm_image ci;
            shmm_ops co;
            shmm_provider cp = m->prov[p];
            shmm_image_init(&ci, copy);
            shmm_ops_image(&co, &ci);
            shmm_result cr;
            do_op(&cp, &co, &env, e, m->s->procs[p].is_reader, layout, &cr);
            unsigned long steps = cr.steps ? cr.steps : 1;
            if (e->pause_frac)
                e->pause_at = (uint32_t)(1 + (e->pause_frac * (steps > 1 ? steps - 1 : 1)) / 1000);
            if (e->crash_frac)
                e->crash_at = (uint32_t)(1 + (e->crash_frac * steps) / 1000);
            if (e->pause_at >= steps)
                e->pause_at = steps > 1 ? (uint32_t)(steps - 1) : 0;
            mem_free(copy);
        }
        e->pause_frac = e->crash_frac = 0;
    }
    if (e->op == SHMF_DETACH)
        m->out->slot_of[p] = -1; /* releasing its slot: a later claimer may take it */
    mhook h = {m, p, e->pause_at};
    shmm_image_arm(&m->img[p], e->crash_at);
    m->img[p].on_step = e->pause_at ? hook : NULL;
    m->img[p].user = &h;
    m->img[p].stopped = 0;
    m->img[p].sigbus = 0;
    shmm_result res;
    int done = do_op(&m->prov[p], &m->ops[p], &env, e, m->s->procs[p].is_reader, layout, &res);
    m->img[p].on_step = NULL;
    if (!done) {
        shmm_crash(&m->prov[p]);
        m->state[p] = ST_GONE;
        shmm_pidset_remove(&m->live, m->pid[p]);
        return;
    }
    m->state[p] = ST_IDLE;
    note_slot(m, p, &res, e);
    if (e->op == SHMF_DETACH) {
        m->state[p] = ST_GONE;
        shmm_pidset_remove(&m->live, m->pid[p]);
    }
}

static int paused_anywhere(const mexec *m, int p) {
    return m->state[p] == ST_PAUSED;
}

static void run_entries(mexec *m, int stop_proc) {
    while (m->idx < m->s->nentries) {
        shmf_entry *e = &m->s->e[m->idx];
        int p = e->proc;
        if (p >= m->s->nprocs) {
            m->idx++;
            continue;
        }
        if (e->op == SHMF_RESUME) {
            if (p == stop_proc) {
                m->idx++;
                return;
            }
            if (paused_anywhere(m, p))
                return; /* finish the operations paused above it first */
            m->idx++;
            continue;
        }
        int idx = m->idx++;
        if (m->state[p] == ST_NOTYET && m->state[m->s->procs[p].pid_from - 1] == ST_GONE) {
            m->state[p] = ST_IDLE; /* starts now, with the dead process's pid */
            shmm_pidset_add(&m->live, m->pid[p], 0);
        }
        if (m->state[p] != ST_IDLE)
            continue;
        if (m->s->procs[p].is_reader && e->op != SHMF_CLEANUP)
            continue;
        if (!m->s->procs[p].is_reader && e->op == SHMF_CLEANUP)
            continue;
        exec_entry(m, e, idx);
    }
}

static void model_quiesce(mexec *m) {
    run_entries(m, -1);
    for (int p = 0; p < m->s->nprocs; p++) {
        if (m->s->procs[p].is_reader || m->state[p] != ST_IDLE || !m->prov[p].enabled)
            continue;
        shmf_entry e;
        memset(&e, 0, sizeof e);
        e.proc = (uint8_t)p;
        e.op = SHMF_DETACH;
        exec_entry(m, &e, m->s->nentries + p);
    }
}

static void placeholder_pids(int32_t *pids) {
    for (int p = 0; p < SHMF_MAX_PROCS; p++)
        pids[p] = 4000000 + p; /* below pid_max's ceiling, never used by the model as real */
}

/* The verdict on a final region: shm_check with the schedule's liveness (every process is
 * gone at quiescence). */
void shmf_judge_bytes(const uint8_t *bytes, size_t size, int exists, shmf_outcome *out) {
    out->region_size = exists ? size : 0;
    if (!exists)
        return;
    memcpy(out->region, bytes, size < sizeof out->region ? size : sizeof out->region);
    shms_file *f = mem_alloc(sizeof *f);
    if (!f)
        return;
    memset(f, 0, sizeof *f);
    memcpy(f->bytes, bytes, size < sizeof f->bytes ? size : sizeof f->bytes);
    f->size = f->nbytes = size;
    snprintf(f->path, sizeof f->path, "%s", SHMF_REGION_NAME);
    f->name = f->path;
    if (shms_decode(f)) {
        shmm_pidset none;
        memset(&none, 0, sizeof none);
        shmc_options co;
        memset(&co, 0, sizeof co);
        co.pid_state = shmm_pidset_state;
        co.pid_ctx = &none;
        shmc_report *rep = mem_alloc(sizeof *rep);
        if (rep) {
            shmc_check(f, &co, rep);
            for (int k = 0; k < rep->count; k++) {
                if (!(out->kinds & (1u << rep->f[k].kind)))
                    snprintf(out->detail[rep->f[k].kind], sizeof out->detail[0], "%s: %s", rep->f[k].field,
                             rep->f[k].message);
            }
            out->kinds |= rep->kinds;
            mem_free(rep);
        }
    }
    mem_free(f);
}

static void model_run(shmf_schedule *s, const int32_t *pids, int resolve, shmf_outcome *out) {
    mexec *m = mem_calloc(1, sizeof *m);
    if (!m)
        return;
    memset(out, 0, sizeof *out);
    for (int p = 0; p < SHMF_MAX_PROCS; p++)
        out->slot_of[p] = -1;
    m->s = s;
    m->resolve = resolve;
    m->out = out;
    shmm_file_init(&m->file);
    int32_t ph[SHMF_MAX_PROCS];
    if (!pids) {
        placeholder_pids(ph);
        pids = ph;
    }
    for (int p = 0; p < s->nprocs; p++) {
        m->pid[p] = s->procs[p].pid_from ? pids[s->procs[p].pid_from - 1] : pids[p];
        if (s->procs[p].pid_from)
            m->state[p] = ST_NOTYET;
        else
            shmm_pidset_add(&m->live, pids[p], 0);
        shmm_image_init(&m->img[p], &m->file);
        shmm_ops_image(&m->ops[p], &m->img[p]);
        shmm_process self;
        char name[16];
        snprintf(name, sizeof name, "p%d", p);
        shmm_process_init(&self, m->pid[p], name);
        shmm_config cfg = s->procs[p].cfg;
        if (s->procs[p].is_reader)
            shmf_config_parse("v4c", &cfg);
        shmm_provider_init(&m->prov[p], &cfg, &self, SHMF_ASIC_ID, 0);
    }
    model_quiesce(m);
    shmf_judge_bytes(m->file.bytes, m->file.size, m->file.exists, out);
    mem_free(m);
}

void shmf_resolve(shmf_schedule *s) {
    shmf_outcome *o = mem_alloc(sizeof *o);
    if (o) {
        model_run(s, NULL, 1, o);
        mem_free(o);
    }
}

void shmf_run_model(const shmf_schedule *s, const int32_t *pids, shmf_outcome *out) {
    shmf_schedule copy = *s;
    model_run(&copy, pids, 0, out);
}

/* ---- signatures, minimiser ---------------------------------------------------------------- */

void shmf_signature(const shmf_schedule *s, int kind, char *buf, size_t len) {
    const char *names[SHMF_MAX_PROCS];
    int n = 0;
    for (int p = 0; p < s->nprocs; p++) {
        if (s->procs[p].is_reader)
            continue;
        const char *nm = shmm_config_name(&s->procs[p].cfg);
        int dup = 0;
        for (int k = 0; k < n; k++)
            dup |= !strcmp(names[k], nm);
        if (!dup)
            names[n++] = nm;
    }
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            const char *t = names[j];
            names[j] = names[j - 1];
            names[j - 1] = t;
        }
    size_t o = (size_t)snprintf(buf, len, "%s@", shmf_kind_name(kind));
    for (int i = 0; i < n && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? "+" : "", names[i]);
}

static int still_finds(const shmf_schedule *s, int kind) {
    shmf_outcome *o = mem_alloc(sizeof *o);
    if (!o)
        return 0;
    shmf_run_model(s, NULL, o);
    int yes = (o->kinds >> kind) & 1;
    mem_free(o);
    return yes;
}

int shmf_minimise(shmf_schedule *s, int kind) {
    int runs = 0, changed = 1;
    while (changed) {
        changed = 0;
        for (int i = s->nentries - 1; i >= 0; i--) {
            shmf_schedule c = *s;
            memmove(&c.e[i], &c.e[i + 1], (size_t)(c.nentries - i - 1) * sizeof c.e[0]);
            c.nentries--;
            runs++;
            if (still_finds(&c, kind)) {
                *s = c;
                changed = 1;
            }
        }
        for (int i = 0; i < s->nentries; i++) {
            if (!s->e[i].pause_at && !s->e[i].crash_at)
                continue;
            shmf_schedule c = *s;
            if (c.e[i].pause_at)
                c.e[i].pause_at = 0;
            else
                c.e[i].crash_at = 0;
            runs++;
            if (still_finds(&c, kind)) {
                *s = c;
                changed = 1;
            }
        }
        /* Drop a process nobody uses (renumbering the later ones). */
        for (int p = s->nprocs - 1; p >= 0 && s->nprocs > 1; p--) {
            int used = 0;
            for (int i = 0; i < s->nentries; i++)
                used |= s->e[i].proc == p;
            for (int q = 0; q < s->nprocs; q++)
                used |= s->procs[q].pid_from == p + 1;
            if (used)
                continue;
            shmf_schedule c = *s;
            memmove(&c.procs[p], &c.procs[p + 1], (size_t)(c.nprocs - p - 1) * sizeof c.procs[0]);
            c.nprocs--;
            for (int i = 0; i < c.nentries; i++)
                if (c.e[i].proc > p)
                    c.e[i].proc--;
            for (int q = 0; q < c.nprocs; q++)
                if (c.procs[q].pid_from > p + 1)
                    c.procs[q].pid_from--;
            runs++;
            if (still_finds(&c, kind)) {
                *s = c;
                changed = 1;
            }
        }
    }
    return runs;
}

/* ---- text form ---------------------------------------------------------------------------- */

static const char *type_name(uint8_t t) {
    switch (t) {
    case SHML_TYPE_DRAM: return "DRAM";
    case SHML_TYPE_L1: return "L1";
    case SHML_TYPE_SYSTEM_MEMORY: return "SYSTEM_MEMORY";
    case SHML_TYPE_L1_SMALL: return "L1_SMALL";
    case SHML_TYPE_TRACE: return "TRACE";
    case SHML_TYPE_CB: return "CB";
    case SHML_TYPE_KERNEL: return "KERNEL";
    default: return NULL;
    }
}

void shmf_format(const shmf_schedule *s, const char *comment, int expect_kind, sbuf *out) {
    sbuf_puts(out, "# allocsim shm-fuzz schedule v1\n");
    if (comment)
        for (const char *c = comment; *c;) {
            const char *nl = strchr(c, '\n');
            size_t n = nl ? (size_t)(nl - c) : strlen(c);
            sbuf_printf(out, "# %.*s\n", (int)n, c);
            c += n + (nl != NULL);
        }
    for (int p = 0; p < s->nprocs; p++) {
        if (s->procs[p].is_reader)
            sbuf_printf(out, "proc p%d reader\n", p);
        else
            sbuf_printf(out, "proc p%d writer %s", p, shmm_config_name(&s->procs[p].cfg));
        if (s->procs[p].pid_from)
            sbuf_printf(out, " pid-of p%d", s->procs[p].pid_from - 1);
        if (!s->procs[p].is_reader)
            sbuf_putc(out, '\n');
    }
    for (int i = 0; i < s->nentries; i++) {
        const shmf_entry *e = &s->e[i];
        sbuf_printf(out, "p%d %s", e->proc, shmf_op_name((shmf_op)e->op));
        if (e->op == SHMF_ALLOC || e->op == SHMF_FREE) {
            const char *tn = type_name(e->type);
            if (tn)
                sbuf_printf(out, " %" PRIu64 " %s chip %" PRIu32, e->size, tn, e->chip);
            else
                sbuf_printf(out, " %" PRIu64 " %u chip %" PRIu32, e->size, e->type, e->chip);
        }
        if (e->op == SHMF_CLEANUP)
            sbuf_printf(out, " %s", shmm_reader_name((shmm_reader)e->reader));
        if (e->pause_at)
            sbuf_printf(out, " pause %" PRIu32, e->pause_at);
        if (e->crash_at)
            sbuf_printf(out, " crash %" PRIu32, e->crash_at);
        sbuf_putc(out, '\n');
    }
    if (expect_kind >= 0)
        sbuf_printf(out, "expect %s\n", shmf_kind_name(expect_kind));
}

static int parse_u64(const char *t, uint64_t max, uint64_t *v) {
    if (!t || !*t)
        return -1;
    uint64_t x = 0;
    for (const char *c = t; *c; c++) {
        if (*c < '0' || *c > '9' || x > (UINT64_MAX - 9) / 10)
            return -1;
        x = x * 10 + (uint64_t)(*c - '0');
    }
    if (x > max)
        return -1;
    *v = x;
    return 0;
}

static int parse_proc(const char *t, int nprocs) {
    uint64_t v;
    if (!t || t[0] != 'p' || parse_u64(t + 1, SHMF_MAX_PROCS - 1, &v) != 0 || (int)v >= nprocs)
        return -1;
    return (int)v;
}

int shmf_parse(const char *text, size_t len, shmf_schedule *s, int *expect_kind, char *err, size_t errlen) {
    memset(s, 0, sizeof *s);
    *expect_kind = -1;
    int line = 0;
    size_t pos = 0;
    while (pos < len) {
        char buf[512];
        size_t e = pos;
        while (e < len && text[e] != '\n')
            e++;
        line++;
        size_t n = e - pos;
        if (n >= sizeof buf) {
            snprintf(err, errlen, "line %d: longer than %zu bytes", line, sizeof buf - 1);
            return -1;
        }
        memcpy(buf, text + pos, n);
        buf[n] = '\0';
        pos = e + 1;
        if (memchr(buf, '\0', n)) {
            snprintf(err, errlen, "line %d: a NUL byte", line);
            return -1;
        }
        char *tok[12];
        int nt = 0;
        for (char *t = strtok(buf, " \t\r"); t && nt < 12; t = strtok(NULL, " \t\r"))
            tok[nt++] = t;
        if (nt == 0 || tok[0][0] == '#')
            continue;
        if (!strcmp(tok[0], "proc")) {
            if (s->nentries) {
                snprintf(err, errlen, "line %d: proc after the first entry", line);
                return -1;
            }
            uint64_t v;
            if (nt < 3 || tok[1][0] != 'p' || parse_u64(tok[1] + 1, SHMF_MAX_PROCS - 1, &v) != 0 ||
                (int)v != s->nprocs) {
                snprintf(err, errlen, "line %d: expected 'proc p%d writer BUILD' or 'proc p%d reader'", line, s->nprocs,
                         s->nprocs);
                return -1;
            }
            shmf_proc *pr = &s->procs[s->nprocs];
            if (!strcmp(tok[2], "reader") && nt == 3) {
                pr->is_reader = 1;
            } else if (!strcmp(tok[2], "writer") && nt == 4 && shmf_config_parse(tok[3], &pr->cfg) == 0) {
            } else if (!strcmp(tok[2], "writer") && nt == 6 && shmf_config_parse(tok[3], &pr->cfg) == 0 &&
                       !strcmp(tok[4], "pid-of") && parse_proc(tok[5], s->nprocs) >= 0 &&
                       !s->procs[parse_proc(tok[5], s->nprocs)].is_reader &&
                       !s->procs[parse_proc(tok[5], s->nprocs)].pid_from) {
                pr->pid_from = (uint8_t)(parse_proc(tok[5], s->nprocs) + 1);
            } else {
                snprintf(err, errlen, "line %d: expected 'writer BUILD [pid-of pN]' (v1-K ... v4c; pN an earlier writer) or 'reader'", line);
                return -1;
            }
            s->nprocs++;
            continue;
        }
        if (!strcmp(tok[0], "expect")) {
            if (nt != 2 || (*expect_kind = kind_parse(tok[1])) < 0) {
                snprintf(err, errlen, "line %d: expected 'expect KIND'", line);
                return -1;
            }
            continue;
        }
        int p = parse_proc(tok[0], s->nprocs);
        if (p < 0) {
            snprintf(err, errlen, "line %d: expected 'proc', 'expect' or a declared process p0..p%d, found '%.40s'",
                     line, s->nprocs - 1, tok[0]);
            return -1;
        }
        if (s->nentries >= SHMF_MAX_ENTRIES) {
            snprintf(err, errlen, "line %d: more than %d entries", line, SHMF_MAX_ENTRIES);
            return -1;
        }
        shmf_entry *en = &s->e[s->nentries];
        memset(en, 0, sizeof *en);
        en->proc = (uint8_t)p;
        int op = -1;
        for (int k = 0; nt > 1 && k < SHMF_OP_COUNT; k++)
            if (!strcmp(tok[1], op_names[k]))
                op = k;
        if (op < 0) {
            snprintf(err, errlen, "line %d: expected an operation (attach, alloc, free, detach, kill, cleanup, resume)",
                     line);
            return -1;
        }
        en->op = (uint8_t)op;
        int i = 2;
        if (op == SHMF_ALLOC || op == SHMF_FREE) {
            uint64_t v, chip;
            int t = -1;
            if (nt < 6 || parse_u64(tok[2], UINT64_MAX, &en->size) != 0 || strcmp(tok[4], "chip") ||
                parse_u64(tok[5], UINT32_MAX, &chip) != 0) {
                snprintf(err, errlen, "line %d: expected '%s SIZE TYPE chip N'", line, op_names[op]);
                return -1;
            }
            for (int k = 0; k < 256 && t < 0; k++)
                if (type_name((uint8_t)k) && !strcmp(tok[3], type_name((uint8_t)k)))
                    t = k;
            if (t < 0 && parse_u64(tok[3], 255, &v) == 0)
                t = (int)v;
            if (t < 0) {
                snprintf(err, errlen, "line %d: unknown buffer type '%.20s'", line, tok[3]);
                return -1;
            }
            en->type = (uint8_t)t;
            en->chip = (uint32_t)chip;
            i = 6;
        } else if (op == SHMF_CLEANUP) {
            shmm_reader r;
            if (nt < 3 || shmm_reader_parse(tok[2], &r) != 0) {
                snprintf(err, errlen, "line %d: expected 'cleanup READER'", line);
                return -1;
            }
            en->reader = (uint8_t)r;
            i = 3;
        }
        for (; i < nt; i += 2) {
            uint64_t v;
            if (i + 1 >= nt || parse_u64(tok[i + 1], 1000000, &v) != 0 || v == 0 ||
                (strcmp(tok[i], "pause") && strcmp(tok[i], "crash"))) {
                snprintf(err, errlen, "line %d: expected 'pause N' or 'crash N' (1..1000000)", line);
                return -1;
            }
            if (!strcmp(tok[i], "pause"))
                en->pause_at = (uint32_t)v;
            else
                en->crash_at = (uint32_t)v;
        }
        s->nentries++;
    }
    if (s->nprocs == 0) {
        snprintf(err, errlen, "no 'proc' line");
        return -1;
    }
    return 0;
}
