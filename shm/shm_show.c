/* shm_show: the chip table, process table, details, JSON and watch lines of `allocsim shm
 * show` (formats documented in docs/shm.md; see shm_show.h).
 */
#include "shm_show.h"

#include "shm_io.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static shmm_pid_state live(const shmv_options *o, int32_t pid) {
    return (o && o->pid_state ? o->pid_state : shmio_pid_state)(o ? o->pid_ctx : NULL, pid);
}

void shmv_layout_text(const shms_file *f, char *buf, size_t len) {
    snprintf(buf, len, "%s%s", shml_version_get(f->layout)->name, f->det.ambiguous ? "?" : "");
}

static uint64_t dram_of(const uint64_t *c) {
    return c[SHML_CTR_DRAM] + c[SHML_CTR_TRACE];
}
static uint64_t l1_of(const uint64_t *c) {
    return c[SHML_CTR_L1] + c[SHML_CTR_L1_SMALL] + c[SHML_CTR_CB];
}

/* "1.0GiB / 12.0GiB  8.3%" or "1.0GiB". */
static void used_of(uint64_t used, uint64_t cap, char *buf, size_t len) {
    char a[32], b[32];
    shms_bytes(used, a, sizeof a);
    if (!cap) {
        snprintf(buf, len, "%s", a);
        return;
    }
    snprintf(buf, len, "%s / %s %5.1f%%", a, shms_bytes(cap, b, sizeof b), 100.0 * (double)used / (double)cap);
}

static const char *init_text(uint32_t s) {
    return s == SHML_INIT_READY ? "ready" : s == SHML_INIT_IN_PROGRESS ? "initialising" : s == 0 ? "uninit" : "garbage";
}

static int region_chip(const shms_file *f) {
    int32_t d = (int32_t)f->region.device_id;
    return d >= 0 ? d : 0;
}

/* Region names are up to 37 characters: "tt_device_" + a 64-bit id (20 digits) + "_memory". */
void shmv_chip_header(sbuf *out) {
    sbuf_printf(out, "%-37s %-6s %4s %-30s %-30s %5s %5s  %s\n", "Region", "Layout", "Dev", "DRAM", "L1", "Procs",
                "Live", "State");
}

void shmv_process_header(sbuf *out) {
    sbuf_printf(out, "%-37s %4s %8s %-15s %9s %9s %9s %9s %9s  %s\n", "Region", "Dev", "PID", "Process", "DRAM", "L1",
                "L1 Small", "Trace", "CB", "State");
}

void shmv_chip_row(const shms_file *f, const shmv_options *opt, sbuf *out) {
    char lay[16], d[64], l[64];
    uint64_t cd = 0, cl = 0;
    const shml_region *g = &f->region;
    shms_capacity(opt ? opt->preset : NULL, region_chip(f), &cd, &cl);
    used_of(dram_of(g->totals), cd, d, sizeof d);
    used_of(l1_of(g->totals), cl, l, sizeof l);
    shmv_layout_text(f, lay, sizeof lay);
    int occ = 0, alive = 0;
    for (int s = 0; s < SHML_MAX_PROCESSES; s++) {
        if (g->processes[s].pid == 0)
            continue;
        occ++;
        alive += g->processes[s].pid > 0 && live(opt, g->processes[s].pid) != SHMM_PID_DEAD;
    }
    const char *state = f->layout == SHML_V4 ? init_text(g->init_state) : "-";
    sbuf_printf(out, "%-37s %-6s %4" PRId32 " %-30s %-30s %5d %5d  %s%s\n", f->name, lay, (int32_t)g->device_id, d, l,
                occ, alive, state, f->size_matches ? "" : " (resized)");
}

static const char *pid_text(const shmv_options *o, int32_t pid) {
    if (pid == SHML_PID_RELEASING)
        return "releasing";
    if (pid < 0)
        return "bad-pid";
    switch (live(o, pid)) {
    case SHMM_PID_ALIVE: return "live";
    case SHMM_PID_OTHER_USER: return "live (other user)";
    default: return "dead";
    }
}

int shmv_process_rows(const shms_file *f, const shmv_options *opt, sbuf *out) {
    const shml_region *g = &f->region;
    int n = 0;
    for (int s = 0; s < SHML_MAX_PROCESSES; s++) {
        const shml_process *p = &g->processes[s];
        if (p->pid == 0)
            continue;
        char name[64], b[5][32];
        shms_slot_name(p, name, sizeof name);
        if (strlen(name) > 15)
            memcpy(name + 12, "...", 4);
        sbuf_printf(out, "%-37s %4" PRId32 " %8" PRId32 " %-15s %9s %9s %9s %9s %9s  %s\n", f->name,
                    (int32_t)g->device_id, p->pid, name, shms_bytes(p->counters[SHML_CTR_DRAM], b[0], 32),
                    shms_bytes(p->counters[SHML_CTR_L1], b[1], 32), shms_bytes(p->counters[SHML_CTR_L1_SMALL], b[2], 32),
                    shms_bytes(p->counters[SHML_CTR_TRACE], b[3], 32), shms_bytes(p->counters[SHML_CTR_CB], b[4], 32),
                    pid_text(opt, p->pid));
        n++;
    }
    return n;
}

static void counters_line(sbuf *out, const char *label, const uint64_t *c, int nc) {
    char b[32];
    sbuf_printf(out, "  %-22s", label);
    for (int k = 0; k < nc; k++)
        sbuf_printf(out, " %10s", shms_bytes(c[k], b, sizeof b));
    sbuf_putc(out, '\n');
}

void shmv_details(const shms_file *f, const shmv_options *opt, sbuf *out) {
    const shml_region *g = &f->region;
    const shml_version_info *vi = shml_version_get(f->layout);
    int nc = vi->counter_count;
    char lay[16], label[64];
    shmv_layout_text(f, lay, sizeof lay);
    sbuf_printf(out, "%s: layout %s, %zu bytes, version %" PRIu32, f->name, lay, f->size, g->version);
    if (f->layout == SHML_V4)
        sbuf_printf(out, ", init_state 0x%08" PRIx32 " (%s)", g->init_state, init_text(g->init_state));
    sbuf_printf(out, "\n  asic_id %" PRIu64 ", board_serial %" PRIu64 ", device_id %" PRId32
                     ", reference_count %" PRIu32 ", num_active_processes %" PRIu32 ", last_update %" PRIu64 " ns\n",
                g->asic_id, g->board_serial, (int32_t)g->device_id, g->reference_count, g->num_active_processes,
                g->last_update_timestamp);
    if (f->det.ambiguous || !f->size_matches)
        sbuf_printf(out, "  detection: %s\n", f->det.note);
    sbuf_printf(out, "  %-22s", "");
    for (int k = 0; k < nc; k++)
        sbuf_printf(out, " %10s", shml_counter_name(k));
    sbuf_putc(out, '\n');
    counters_line(out, "totals", g->totals, nc);
    for (int s = 0; s < SHML_MAX_CHIPS; s++) {
        const shml_chip *ch = &g->chips[s];
        uint64_t any = 0;
        for (int k = 0; k < nc; k++)
            any |= ch->counters[k];
        if (ch->chip_id == vi->chip_unused && !any)
            continue;
        snprintf(label, sizeof label, "chip[%d] id %" PRIu32 "%s", s, ch->chip_id, ch->is_remote ? " R" : "");
        counters_line(out, label, ch->counters, nc);
    }
    for (int s = 0; s < SHML_MAX_PROCESSES; s++) {
        const shml_process *p = &g->processes[s];
        if (p->pid == 0)
            continue;
        char name[64];
        shms_slot_name(p, name, sizeof name);
        snprintf(label, sizeof label, "proc[%d] %" PRId32 " %.10s", s, p->pid, name);
        counters_line(out, label, p->counters, nc);
        sbuf_printf(out, "  %-22s %s\n", "", pid_text(opt, p->pid));
    }
}

static void json_str(sbuf *out, const char *s, size_t n) {
    sbuf_putc(out, '"');
    for (size_t i = 0; i < n && s[i]; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            sbuf_printf(out, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            sbuf_printf(out, "\\u%04x", c);
        else
            sbuf_putc(out, (char)c);
    }
    sbuf_putc(out, '"');
}

static void json_counters(sbuf *out, const uint64_t *c, int nc) {
    for (int k = 0; k < nc; k++)
        sbuf_printf(out, ",\"%s\":%" PRIu64, shml_counter_name(k), c[k]);
}

void shmv_json(const shms_file *f, const shmv_options *opt, sbuf *out) {
    sbuf_puts(out, "{\"path\":");
    json_str(out, f->path, sizeof f->path);
    sbuf_puts(out, ",\"name\":");
    json_str(out, f->name, SHMS_PATH_MAX);
    if (f->has_id)
        sbuf_printf(out, ",\"file_id\":%" PRIu64, f->file_id);
    sbuf_printf(out, ",\"size\":%zu", f->size);
    if (!f->ok) {
        sbuf_puts(out, ",\"error\":");
        json_str(out, f->error, sizeof f->error);
        sbuf_putc(out, '}');
        return;
    }
    const shml_region *g = &f->region;
    const shml_version_info *vi = shml_version_get(f->layout);
    int nc = vi->counter_count;
    sbuf_printf(out, ",\"layout\":\"%s\",\"ambiguous\":%s,\"candidates\":[", vi->name, f->det.ambiguous ? "true" : "false");
    int first = 1;
    for (int v = 0; v < SHML_VERSION_COUNT; v++) {
        if (f->det.candidates & (1u << v)) {
            sbuf_printf(out, "%s\"%s\"", first ? "" : ",", shml_version_get((shml_version)v)->name);
            first = 0;
        }
    }
    sbuf_puts(out, "],\"detection\":");
    json_str(out, f->det.note, sizeof f->det.note);
    sbuf_printf(out,
                ",\"size_matches\":%s,\"version\":%" PRIu32 ",\"num_active_processes\":%" PRIu32
                ",\"last_update_timestamp\":%" PRIu64 ",\"reference_count\":%" PRIu32 ",\"board_serial\":%" PRIu64
                ",\"asic_id\":%" PRIu64 ",\"device_id\":%" PRId32,
                f->size_matches ? "true" : "false", g->version, g->num_active_processes, g->last_update_timestamp,
                g->reference_count, g->board_serial, g->asic_id, (int32_t)g->device_id);
    if (f->layout == SHML_V4)
        sbuf_printf(out, ",\"init_state\":%" PRIu32, g->init_state);
    sbuf_puts(out, ",\"totals\":{");
    sbuf_printf(out, "\"dram_shown\":%" PRIu64 ",\"l1_shown\":%" PRIu64, dram_of(g->totals), l1_of(g->totals));
    json_counters(out, g->totals, nc);
    sbuf_puts(out, "},\"chips\":[");
    for (int s = 0; s < SHML_MAX_CHIPS; s++) {
        const shml_chip *ch = &g->chips[s];
        sbuf_printf(out, "%s{\"slot\":%d,\"chip_id\":%" PRIu32 ",\"unused\":%s,\"is_remote\":%" PRIu32, s ? "," : "", s,
                    ch->chip_id, ch->chip_id == vi->chip_unused ? "true" : "false", ch->is_remote);
        json_counters(out, ch->counters, nc);
        sbuf_putc(out, '}');
    }
    sbuf_puts(out, "],\"processes\":[");
    first = 1;
    for (int s = 0; s < SHML_MAX_PROCESSES; s++) {
        const shml_process *p = &g->processes[s];
        if (p->pid == 0 && !p->counters[0] && !p->counters[1] && !p->counters[2] && !p->counters[3] &&
            !p->counters[4] && !p->counters[5] && !p->last_update_timestamp && !p->name[0])
            continue; /* an all-zero slot carries no field worth listing */
        sbuf_printf(out, "%s{\"slot\":%d,\"pid\":%" PRId32 ",\"state\":\"%s\",\"name\":", first ? "" : ",", s, p->pid,
                    p->pid == 0 ? "free" : pid_text(opt, p->pid));
        json_str(out, p->name, SHML_NAME_BYTES);
        sbuf_printf(out, ",\"last_update_timestamp\":%" PRIu64, p->last_update_timestamp);
        json_counters(out, p->counters, nc);
        sbuf_putc(out, '}');
        first = 0;
    }
    sbuf_puts(out, "]}");
}

void shmv_plain_line(const shms_file *f, const shmv_options *opt, uint64_t time_ms, sbuf *out) {
    if (!f->ok) {
        sbuf_printf(out, "%" PRIu64 " %s error %s\n", time_ms, f->name, f->error);
        return;
    }
    const shml_region *g = &f->region;
    int occ = 0, alive = 0;
    for (int s = 0; s < SHML_MAX_PROCESSES; s++) {
        if (g->processes[s].pid == 0)
            continue;
        occ++;
        alive += g->processes[s].pid > 0 && live(opt, g->processes[s].pid) != SHMM_PID_DEAD;
    }
    char lay[16];
    shmv_layout_text(f, lay, sizeof lay);
    sbuf_printf(out,
                "%" PRIu64 " %s dev %" PRId32 " layout %s dram %" PRIu64 " l1 %" PRIu64 " l1_small %" PRIu64
                " trace %" PRIu64 " cb %" PRIu64 " procs %d live %d\n",
                time_ms, f->name, (int32_t)g->device_id, lay, g->totals[SHML_CTR_DRAM], g->totals[SHML_CTR_L1],
                g->totals[SHML_CTR_L1_SMALL], g->totals[SHML_CTR_TRACE], g->totals[SHML_CTR_CB], occ, alive);
}
