/* timeline: recording and TSV rendering of memory-in-use samples (see timeline.h). Rows and
 * phases are kept in two time-ordered arrays and merged when written, phases first at equal
 * times, so a marker always precedes the changes it explains. */
#include "timeline.h"

#include <inttypes.h>
#include <string.h>

#include "mem.h"

timeline *timeline_new(void) {
    timeline *t = mem_calloc(1, sizeof *t);
    if (t)
        memcpy(t->time_unit, "ns", 3);
    return t;
}

void timeline_free(timeline *t) {
    if (!t)
        return;
    for (size_t i = 0; i < t->nphases; i++)
        mem_free(t->phases[i].label);
    mem_free(t->phases);
    mem_free(t->rows);
    mem_free(t->cbks);
    mem_free(t->last_cbk);
    mem_free(t->caps);
    mem_free(t->title);
    mem_free(t);
}

/* A copy with tabs and line breaks replaced, so one value stays on one line and one field. */
static char *one_line(const char *s) {
    char *c = mem_strdup(s);
    if (c)
        for (char *p = c; *p; p++)
            if (*p == '\t' || *p == '\n' || *p == '\r')
                *p = ' ';
    return c;
}

int timeline_set_title(timeline *t, const char *title) {
    char *c = one_line(title);
    if (!c)
        return -1;
    mem_free(t->title);
    t->title = c;
    return 0;
}

int timeline_set_time_unit(timeline *t, const char *unit) {
    if (strcmp(unit, "ns") != 0 && strcmp(unit, "line") != 0)
        return -1;
    memcpy(t->time_unit, unit, strlen(unit) + 1);
    return 0;
}

int timeline_set_capacity(timeline *t, int32_t device, const uint64_t bytes[TIMELINE_NREGIONS]) {
    if (device < 0 || device >= TIMELINE_MAX_DEVICES)
        return -1;
    size_t i = 0;
    while (i < t->ncaps && t->caps[i].device < device)
        i++;
    if (i == t->ncaps || t->caps[i].device != device) {
        timeline_capacity *nc = mem_realloc(t->caps, sizeof *nc * (t->ncaps + 1));
        if (!nc)
            return -1;
        t->caps = nc;
        memmove(&nc[i + 1], &nc[i], sizeof *nc * (t->ncaps - i));
        t->ncaps++;
        nc[i].device = device;
    }
    memcpy(t->caps[i].bytes, bytes, sizeof t->caps[i].bytes);
    return 0;
}

int timeline_add_phase(timeline *t, uint64_t time, const char *label) {
    if (time < t->last_time || !label || !label[0])
        return -1;
    if (t->nphases == t->cap_phases) {
        size_t cap = t->cap_phases ? t->cap_phases * 2 : 16;
        timeline_phase *np = mem_realloc(t->phases, sizeof *np * cap);
        if (!np)
            return -1;
        t->phases = np;
        t->cap_phases = cap;
    }
    char *c = one_line(label);
    if (!c)
        return -1;
    t->phases[t->nphases++] = (timeline_phase){time, c};
    t->last_time = time;
    return 0;
}

int timeline_record(timeline *t, uint64_t time, int32_t device, const uint64_t bytes[TIMELINE_NREGIONS]) {
    if (time < t->last_time || device < 0 || device >= TIMELINE_MAX_DEVICES)
        return -1;
    if (memcmp(t->last[device], bytes, sizeof t->last[device]) == 0)
        return 0;
    if (t->nrows == t->cap_rows) {
        size_t cap = t->cap_rows ? t->cap_rows * 2 : 64;
        timeline_row *nr = mem_realloc(t->rows, sizeof *nr * cap);
        if (!nr)
            return -1;
        t->rows = nr;
        t->cap_rows = cap;
    }
    timeline_row *r = &t->rows[t->nrows++];
    r->time = time;
    r->device = device;
    memcpy(r->bytes, bytes, sizeof r->bytes);
    memcpy(t->last[device], bytes, sizeof t->last[device]);
    t->last_time = time;
    return 0;
}

int timeline_record_cbk(timeline *t, uint64_t time, int32_t device, uint64_t cb, uint64_t kernel) {
    if (time < t->last_time || device < 0 || device >= TIMELINE_MAX_DEVICES)
        return -1;
    if (!t->last_cbk) {
        if (cb == 0 && kernel == 0)
            return 0;
        if (!(t->last_cbk = mem_calloc(TIMELINE_MAX_DEVICES, sizeof *t->last_cbk)))
            return -1;
    }
    if (t->last_cbk[device][0] == cb && t->last_cbk[device][1] == kernel)
        return 0;
    if (t->ncbks == t->cap_cbks) {
        size_t cap = t->cap_cbks ? t->cap_cbks * 2 : 64;
        timeline_cbk *nv = mem_realloc(t->cbks, sizeof *nv * cap);
        if (!nv)
            return -1;
        t->cbks = nv;
        t->cap_cbks = cap;
    }
    t->cbks[t->ncbks++] = (timeline_cbk){time, device, cb, kernel};
    t->last_cbk[device][0] = cb;
    t->last_cbk[device][1] = kernel;
    t->last_time = time;
    return 0;
}

void timeline_write(const timeline *t, sbuf *out) {
    sbuf_puts(out, "#allocsim-timeline v1\n");
    sbuf_printf(out, "#title %s\n", t->title ? t->title : "");
    sbuf_printf(out, "#time_unit %s\n", t->time_unit);
    for (size_t i = 0; i < t->ncaps; i++) {
        const uint64_t *b = t->caps[i].bytes;
        sbuf_printf(out, "#capacity %" PRId32 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", t->caps[i].device,
                    b[0], b[1], b[2], b[3]);
    }
    sbuf_puts(out, "time\tdevice\tDRAM\tL1\tL1_SMALL\tTRACE\n");
    size_t p = 0, r = 0, c = 0;
    while (p < t->nphases || r < t->nrows || c < t->ncbks) {
        /* At equal times: the phase, then the rows, then the CB/kernel lines. */
        uint64_t tr = r < t->nrows ? t->rows[r].time : UINT64_MAX;
        uint64_t tc = c < t->ncbks ? t->cbks[c].time : UINT64_MAX;
        if (p < t->nphases && t->phases[p].time <= tr && t->phases[p].time <= tc) {
            sbuf_printf(out, "#phase %" PRIu64 " %s\n", t->phases[p].time, t->phases[p].label);
            p++;
            continue;
        }
        if (c < t->ncbks && tc < tr) {
            const timeline_cbk *k = &t->cbks[c++];
            sbuf_printf(out, "#cbk %" PRIu64 " %" PRId32 " %" PRIu64 " %" PRIu64 "\n", k->time, k->device, k->cb, k->kernel);
            continue;
        }
        const timeline_row *row = &t->rows[r++];
        sbuf_printf(out, "%" PRIu64 "\t%" PRId32 "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\n", row->time,
                    row->device, row->bytes[0], row->bytes[1], row->bytes[2], row->bytes[3]);
    }
}
