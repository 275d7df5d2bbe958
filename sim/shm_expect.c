/* shm_expect: `expect shm ...` on SHM regions (see shm_expect.h).
 *
 * A selection names logical devices; every region file of the plan whose device_id is
 * selected is checked (`all`: every region the plan touches). The first failing region
 * ends the evaluation with its reason. A region is decoded in the layout of its first
 * writer (shm_plan); a field the layout lacks (KERNEL outside v1-K, init_state outside v4)
 * is a failure that says so, not a silent 0.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "mem.h"
#include "shm_expect.h"

static int selected(const struct scn_expect *e, int32_t dev) {
    if (e->devs.all)
        return 1;
    if (dev < 0 || dev >= DEV_MAX_DEVICES)
        return 0;
    return (e->devs.bits[dev / 64] >> (dev % 64)) & 1;
}

static void region_label(const shm_plan *sp, int c, sbuf *why) {
    sbuf_printf(why, "region %s (device %" PRId32 "): ", sp->chips[c].name, sp->chips[c].device_id);
}

static const char *init_name(uint32_t v) {
    return v == SHML_INIT_READY ? "READY" : v == SHML_INIT_IN_PROGRESS ? "IN_PROGRESS" : v == 0 ? "UNINITIALIZED" : NULL;
}

static int32_t proc_pid(const plan *p, const char *name) {
    for (int i = 0; i < p->nprocs; i++)
        if (strcmp(p->proc_names[i], name) == 0)
            return p->sim_pid[i];
    return 0;
}

/* The model comparison of one region: existence, size, determined bytes. */
static int eval_model(const shm_plan *sp, int c, const shmp_image *want, const shmp_image *got, sbuf *why) {
    if (want->exists[c] != got->exists[c]) {
        region_label(sp, c, why);
        sbuf_printf(why, "file: expected %s, found %s", want->exists[c] ? "present" : "absent",
                    got->exists[c] ? "present" : "absent");
        return 0;
    }
    if (!want->exists[c])
        return 1;
    if (want->size[c] != got->size[c]) {
        region_label(sp, c, why);
        sbuf_printf(why, "file size: expected %zu, found %zu", want->size[c], got->size[c]);
        return 0;
    }
    size_t len = want->size[c] < SHMM_FILE_CAPACITY ? want->size[c] : SHMM_FILE_CAPACITY;
    shml_version v = sp->chips[c].layout;
    if (!shml_size_valid(v, len)) {
        if (memcmp(shmp_image_bytes(want, c), shmp_image_bytes(got, c), len) == 0)
            return 1;
        region_label(sp, c, why);
        sbuf_printf(why, "%zu-byte file: expected the model's bytes, found others", len);
        return 0;
    }
    uint8_t *mask = mem_alloc(SHMM_FILE_CAPACITY);
    if (!mask) {
        sbuf_puts(why, "out of memory (host)");
        return 0;
    }
    char err[512];
    shmm_expect_mask(v, len, 0, mask);
    long off = shmm_expect_compare(v, shmp_image_bytes(want, c), shmp_image_bytes(got, c), mask, len, err, sizeof err);
    mem_free(mask);
    if (off < 0)
        return 1;
    region_label(sp, c, why);
    sbuf_puts(why, err);
    return 0;
}

/* One region for every form but MODEL and FILE (the file exists). */
static int eval_fields(const struct scn_expect *e, const plan *p, const shm_plan *sp, int c, const shml_region *r,
                       sbuf *why) {
    shml_version v = sp->chips[c].layout;
    const char *lname = shml_version_get(v)->name;
    switch (e->shm_what) {
    case SCN_SHM_TOTAL: {
        if (e->shm_counter >= shml_version_get(v)->counter_count) {
            region_label(sp, c, why);
            sbuf_printf(why, "totals.%s: expected %" PRIu64 ", found no such counter in layout %s",
                        shml_counter_name(e->shm_counter), e->bytes, lname);
            return 0;
        }
        uint64_t have = r->totals[e->shm_counter];
        if (have != e->bytes) {
            region_label(sp, c, why);
            sbuf_printf(why, "totals.%s: expected %" PRIu64 ", found %" PRIu64, shml_counter_name(e->shm_counter),
                        e->bytes, have);
            return 0;
        }
        return 1;
    }
    case SCN_SHM_PROCESS: {
        int32_t pid = proc_pid(p, e->process);
        int slot = -1;
        for (int i = 0; i < SHML_MAX_PROCESSES && pid > 0; i++)
            if (r->processes[i].pid == pid) {
                slot = i;
                break;
            }
        if (e->none) {
            if (slot >= 0) {
                region_label(sp, c, why);
                sbuf_printf(why, "processes[%d].pid: expected no slot of %s, found one", slot, e->process);
                return 0;
            }
            return 1;
        }
        if (slot < 0) {
            region_label(sp, c, why);
            sbuf_printf(why, "processes[].pid: expected a slot of %s, found none", e->process);
            return 0;
        }
        for (int k = 0; k < SCN_Q_COUNT; k++) {
            if (!(e->qmask & (1u << k)))
                continue;
            if (k >= shml_version_get(v)->counter_count) {
                region_label(sp, c, why);
                sbuf_printf(why, "processes[%d].%s: expected %" PRIu64 ", found no such counter in layout %s", slot,
                            shml_counter_name(k), e->q[k], lname);
                return 0;
            }
            if (r->processes[slot].counters[k] != e->q[k]) {
                region_label(sp, c, why);
                sbuf_printf(why, "processes[%d].%s (%s): expected %" PRIu64 ", found %" PRIu64, slot,
                            shml_counter_name(k), e->process, e->q[k], r->processes[slot].counters[k]);
                return 0;
            }
        }
        return 1;
    }
    case SCN_SHM_ACTIVE:
    case SCN_SHM_REFCOUNT:
    case SCN_SHM_VERSION: {
        const char *field = e->shm_what == SCN_SHM_ACTIVE     ? "num_active_processes"
                            : e->shm_what == SCN_SHM_REFCOUNT ? "reference_count"
                                                              : "version";
        uint32_t have = e->shm_what == SCN_SHM_ACTIVE     ? r->num_active_processes
                        : e->shm_what == SCN_SHM_REFCOUNT ? r->reference_count
                                                          : r->version;
        if ((int64_t)have != e->count) {
            region_label(sp, c, why);
            sbuf_printf(why, "%s: expected %" PRId64 ", found %" PRIu32, field, e->count, have);
            return 0;
        }
        return 1;
    }
    case SCN_SHM_INIT: {
        const char *want = init_name((uint32_t)e->count);
        if (v != SHML_V4) {
            region_label(sp, c, why);
            sbuf_printf(why, "init_state: expected %s, found no such field in layout %s", want, lname);
            return 0;
        }
        if (r->init_state != (uint32_t)e->count) {
            const char *have = init_name(r->init_state);
            region_label(sp, c, why);
            if (have)
                sbuf_printf(why, "init_state: expected %s, found %s", want, have);
            else
                sbuf_printf(why, "init_state: expected %s, found 0x%08" PRIx32, want, r->init_state);
            return 0;
        }
        return 1;
    }
    default:
        break;
    }
    sbuf_printf(why, "expected an `expect shm` form, found form %d", e->shm_what);
    return 0;
}

int shmx_eval(const struct scn_expect *e, const plan *p, const shm_plan *sp, const shmp_image *want,
              const shmp_image *got, sbuf *why) {
    if (e->kind != SCN_EXPECT_SHM) {
        sbuf_puts(why, "expected an `expect shm` expectation, found another kind");
        return 0;
    }
    int any = 0;
    shml_region *r = mem_alloc(sizeof *r);
    if (!r) {
        sbuf_puts(why, "out of memory (host)");
        return 0;
    }
    int ok = 1;
    for (int c = 0; c < sp->nchips && ok; c++) {
        if (e->shm_what != SCN_SHM_MODEL && !selected(e, sp->chips[c].device_id))
            continue;
        any = 1;
        if (e->shm_what == SCN_SHM_MODEL) {
            ok = eval_model(sp, c, want, got, why);
            continue;
        }
        if (e->shm_what == SCN_SHM_FILE) {
            if (got->exists[c] == e->none) {
                region_label(sp, c, why);
                sbuf_printf(why, "file: expected %s, found %s", e->none ? "absent" : "present",
                            got->exists[c] ? "present" : "absent");
                ok = 0;
            }
            continue;
        }
        if (!got->exists[c]) {
            region_label(sp, c, why);
            sbuf_puts(why, "file: expected present, found absent");
            ok = 0;
            continue;
        }
        size_t len = got->size[c] < SHMM_FILE_CAPACITY ? got->size[c] : SHMM_FILE_CAPACITY;
        char err[256];
        if (shml_decode(sp->chips[c].layout, shmp_image_bytes(got, c), len, SHML_DECODE_ANY_VERSION, r, err,
                        sizeof err) < 0) {
            region_label(sp, c, why);
            sbuf_printf(why, "expected a %s region, found: %s", shml_version_get(sp->chips[c].layout)->name, err);
            ok = 0;
            continue;
        }
        ok = eval_fields(e, p, sp, c, r, why);
    }
    mem_free(r);
    if (ok && !any && e->shm_what != SCN_SHM_MODEL && !(e->shm_what == SCN_SHM_FILE && e->none)) {
        sbuf_puts(why, "expected an SHM region of a selected device, found none (no process opened them)");
        return 0;
    }
    return ok;
}
