/* shm_check: the region invariants (see shm_check.h for the list). Every check reads only
 * the decoded region and the layout table; the messages carry the numbers a person needs to
 * see the defect without opening the file.
 */
#include "shm_check.h"

#include "shm_io.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const kind_names[SHMC_KIND_COUNT] = {
    "size",     "init-state", "total-sum",     "wrapped",          "capacity",  "dead-pid",
    "dup-pid",  "releasing",  "chip-sentinel", "chip-above-total", "num-active"};

const char *shmc_kind_name(shmc_kind k) {
    return (unsigned)k < SHMC_KIND_COUNT ? kind_names[k] : "?";
}

#if defined(__GNUC__)
__attribute__((format(printf, 5, 6)))
#endif
static void add(shmc_report *r, const shmc_options *o, shmc_kind k, const char *field, const char *fmt, ...) {
    if (o->skip & (1u << k))
        return;
    r->total++;
    r->kinds |= 1u << k;
    if (r->count >= SHMC_MAX_FINDINGS)
        return;
    shmc_finding *f = &r->f[r->count++];
    f->kind = k;
    snprintf(f->field, sizeof f->field, "%s", field);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->message, sizeof f->message, fmt, ap);
    va_end(ap);
}

int shmc_check(const shms_file *file, const shmc_options *opt, shmc_report *out) {
    shmc_options defaults;
    memset(out, 0, sizeof *out);
    if (!opt) {
        memset(&defaults, 0, sizeof defaults);
        opt = &defaults;
    }
    shmm_pid_state_fn alive = opt->pid_state ? opt->pid_state : shmio_pid_state;
    const shml_region *g = &file->region;
    const shml_version_info *vi = shml_version_get(file->layout);
    int nc = vi->counter_count;
    char field[64];

    if (!file->size_matches)
        add(out, opt, SHMC_SIZE, "file size", "%zu bytes, but a %s region is %zu bytes", file->size, vi->name,
            vi->size_bytes);
    if (file->layout == SHML_V4 && g->init_state != SHML_INIT_READY)
        add(out, opt, SHMC_INIT_STATE, "init_state", "0x%08" PRIx32 " (%s), expected READY 0x%08x", g->init_state,
            g->init_state == SHML_INIT_IN_PROGRESS ? "IN_PROGRESS: wedged by an initialiser that never finished"
            : g->init_state == 0                   ? "UNINITIALIZED"
                                                   : "garbage",
            SHML_INIT_READY);

    /* Process slots: occupancy, liveness, duplicates, sums. */
    uint64_t sum[SHML_CTR_COUNT] = {0};
    int occupied = 0, with_pid = 0;
    for (int s = 0; s < SHML_MAX_PROCESSES; s++) {
        const shml_process *p = &g->processes[s];
        if (p->pid == 0)
            continue;
        occupied++;
        if (p->pid == SHML_PID_RELEASING && file->layout == SHML_V4) {
            snprintf(field, sizeof field, "processes[%d].pid", s);
            add(out, opt, SHMC_RELEASING, field, "-1: a release was left unfinished (the slot is lost)");
            continue;
        }
        if (p->pid < 0) {
            snprintf(field, sizeof field, "processes[%d].pid", s);
            add(out, opt, SHMC_DEAD_PID, field, "%" PRId32 ": not a pid", p->pid);
            continue;
        }
        with_pid++;
        for (int c = 0; c < nc; c++)
            sum[c] += p->counters[c];
        if (alive(opt->pid_ctx, p->pid) == SHMM_PID_DEAD) {
            snprintf(field, sizeof field, "processes[%d].pid", s);
            add(out, opt, SHMC_DEAD_PID, field, "%" PRId32 " is not running (slot still holds %" PRIu64 " bytes of DRAM)",
                p->pid, p->counters[SHML_CTR_DRAM]);
        }
        for (int t = 0; t < s; t++) {
            if (g->processes[t].pid == p->pid) {
                snprintf(field, sizeof field, "processes[%d].pid", s);
                add(out, opt, SHMC_DUP_PID, field, "%" PRId32 " also in processes[%d]: one process, two slots",
                    p->pid, t);
                break;
            }
        }
        for (int c = 0; c < nc; c++) {
            if (p->counters[c] >> 63) {
                snprintf(field, sizeof field, "processes[%d].%s", s, shml_counter_name(c));
                add(out, opt, SHMC_WRAPPED, field, "%" PRIu64 " (>= 2^63: wrapped below zero)", p->counters[c]);
            }
        }
    }
    for (int c = 0; c < nc; c++) {
        snprintf(field, sizeof field, "totals.%s", shml_counter_name(c));
        if (g->totals[c] >> 63)
            add(out, opt, SHMC_WRAPPED, field, "%" PRIu64 " (>= 2^63: wrapped below zero)", g->totals[c]);
        if (with_pid > 0 && g->totals[c] != sum[c])
            add(out, opt, SHMC_TOTAL_SUM, field, "%" PRIu64 ", but the %d occupied process slots hold %" PRIu64,
                g->totals[c], with_pid, sum[c]);
    }
    if (opt->dram_capacity && !(g->totals[SHML_CTR_DRAM] >> 63) &&
        g->totals[SHML_CTR_DRAM] + g->totals[SHML_CTR_TRACE] > opt->dram_capacity)
        add(out, opt, SHMC_CAPACITY, "totals.dram+trace", "%" PRIu64 " above the chip's DRAM of %" PRIu64,
            g->totals[SHML_CTR_DRAM] + g->totals[SHML_CTR_TRACE], opt->dram_capacity);
    if (opt->l1_capacity && !(g->totals[SHML_CTR_L1] >> 63) &&
        g->totals[SHML_CTR_L1] + g->totals[SHML_CTR_L1_SMALL] + g->totals[SHML_CTR_CB] > opt->l1_capacity)
        add(out, opt, SHMC_CAPACITY, "totals.l1+l1_small+cb", "%" PRIu64 " above the chip's L1 of %" PRIu64,
            g->totals[SHML_CTR_L1] + g->totals[SHML_CTR_L1_SMALL] + g->totals[SHML_CTR_CB], opt->l1_capacity);
    if (g->num_active_processes != (uint32_t)occupied)
        add(out, opt, SHMC_NUM_ACTIVE, "num_active_processes", "%" PRIu32 ", but %d process slots are occupied",
            g->num_active_processes, occupied);

    /* Chip slots. */
    uint64_t chip_sum[SHML_CTR_COUNT] = {0};
    for (int s = 0; s < SHML_MAX_CHIPS; s++) {
        const shml_chip *ch = &g->chips[s];
        int unused = ch->chip_id == vi->chip_unused;
        uint64_t any = 0;
        for (int c = 0; c < nc; c++) {
            any |= ch->counters[c];
            chip_sum[c] += ch->counters[c];
            if (ch->counters[c] >> 63) {
                snprintf(field, sizeof field, "chip_stats[%d].%s", s, shml_counter_name(c));
                add(out, opt, SHMC_WRAPPED, field, "%" PRIu64 " (>= 2^63: wrapped below zero)", ch->counters[c]);
            }
        }
        /* With sentinel 0 an unused slot and chip 0 look alike (§7.12): only the 0xFFFFFFFF
         * sentinel can be held to "no bytes". */
        if (unused && vi->chip_unused == SHML_CHIP_UNUSED && any) {
            snprintf(field, sizeof field, "chip_stats[%d]", s);
            add(out, opt, SHMC_CHIP_SENTINEL, field, "chip_id 0x%08" PRIx32 " (unused) but holds %" PRIu64 " bytes of DRAM",
                ch->chip_id, ch->counters[SHML_CTR_DRAM]);
        }
        if (!unused) {
            for (int t = 0; t < s; t++) {
                if (g->chips[t].chip_id == ch->chip_id) {
                    snprintf(field, sizeof field, "chip_stats[%d].chip_id", s);
                    add(out, opt, SHMC_CHIP_SENTINEL, field, "%" PRIu32 " also in chip_stats[%d]: one chip, two slots",
                        ch->chip_id, t);
                    break;
                }
            }
        }
    }
    for (int c = 0; c < nc; c++) {
        if (chip_sum[c] > g->totals[c] && !(g->totals[c] >> 63) && !(chip_sum[c] >> 63)) {
            snprintf(field, sizeof field, "chip_stats[*].%s", shml_counter_name(c));
            add(out, opt, SHMC_CHIP_ABOVE_TOTAL, field, "%" PRIu64 " over all chips, above totals.%s %" PRIu64,
                chip_sum[c], shml_counter_name(c), g->totals[c]);
        }
    }
    return out->total;
}
