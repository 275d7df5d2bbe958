/* plot_tsv: reads a timeline TSV (format in docs/scenarios.md: the magic line, #title,
 * #time_unit, #capacity and #phase lines, the header row, one row per change of a device) into
 * a plot_timeline. Every error names `file:line:col: expected …, found …`.
 */
#include "plot.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "plot_int.h"

const char *const plot_region_names[PLOT_NREGIONS] = {"DRAM", "TRACE", "L1", "L1_SMALL"};

/* TSV column k (after time and device) holds region plot_tsv_region[k]. */
static const int plot_tsv_region[PLOT_NREGIONS] = {PLOT_DRAM, PLOT_L1, PLOT_L1_SMALL, PLOT_TRACE};

static const char plot_magic[] = "#allocsim-timeline v1";
static const char plot_header[] = "time\tdevice\tDRAM\tL1\tL1_SMALL\tTRACE";

void plot_errf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (!err || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* "found" text for an error: the token quoted and cut to 40 bytes, or "end of line". */
static void plot_found(const char *s, size_t n, char *buf, size_t buflen)
{
    size_t i, o = 0;
    if (n == 0) {
        snprintf(buf, buflen, "end of line");
        return;
    }
    if (buflen < 8)
        return;
    buf[o++] = '"';
    for (i = 0; i < n && i < 40 && o + 6 < buflen; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\t') {
            buf[o++] = '\\';
            buf[o++] = 't';
        } else {
            buf[o++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
        }
    }
    if (i < n && o + 4 < buflen) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o++] = '"';
    buf[o] = '\0';
}

/* Parses an unsigned decimal integer filling all of s[0..n). 0 ok, -1 not a number, -2 too
 * large for 64 bits. */
int plot_parse_u64(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    size_t i;
    if (n == 0)
        return -1;
    for (i = 0; i < n; i++) {
        unsigned d;
        if (s[i] < '0' || s[i] > '9')
            return -1;
        d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -2;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

typedef struct {
    const char *name;
    int line;
    char *err;
    size_t errlen;
    uint64_t (*last)[PLOT_NSERIES]; /* per device: the values of its latest row */
} plot_parser;

static int plot_fail(plot_parser *p, size_t col, const char *expected, const char *tok,
                     size_t toklen)
{
    char found[64];
    plot_found(tok, toklen, found, sizeof found);
    plot_errf(p->err, p->errlen, "%s:%d:%zu: expected %s, found %s", p->name, p->line, col,
              expected, found);
    return -1;
}

/* Parses the number token at line[*pos] (tokens separated by spaces or tabs) into *v. */
static int plot_take_u64(plot_parser *p, const char *line, size_t len, size_t *pos,
                         const char *what, uint64_t *v)
{
    size_t b = *pos, e;
    char expected[96];
    int rc;
    while (b < len && (line[b] == ' ' || line[b] == '\t'))
        b++;
    e = b;
    while (e < len && line[e] != ' ' && line[e] != '\t')
        e++;
    rc = plot_parse_u64(line + b, e - b, v);
    if (rc != 0) {
        snprintf(expected, sizeof expected, "%s (%s)",
                 rc == -2 ? "an unsigned decimal integer below 2^64"
                          : "an unsigned decimal integer",
                 what);
        return plot_fail(p, b + 1, expected, line + b, e - b);
    }
    *pos = e;
    return 0;
}

static int plot_device_check(plot_parser *p, size_t col, uint64_t dev, const char *tok,
                             size_t toklen)
{
    if (dev > PLOT_MAX_DEVICE)
        return plot_fail(p, col, "a device id 0..1023", tok, toklen);
    return 0;
}

void plot_timeline_release(plot_timeline *tl)
{
    size_t i;
    if (!tl)
        return;
    for (i = 0; i < tl->nphases; i++)
        mem_free(tl->phases[i].label);
    mem_free(tl->phases);
    mem_free(tl->rows);
    mem_free(tl->title);
    mem_free(tl->capacity);
    mem_free(tl->has_capacity);
    mem_free(tl->has_rows);
    plot_proc_release(tl->procs);
    memset(tl, 0, sizeof *tl);
}

typedef struct {
    uint64_t time;
    size_t seq;
    char *label;
} plot_phase_sort;

static int plot_phase_cmp(const void *a, const void *b)
{
    const plot_phase_sort *x = a, *y = b;
    if (x->time != y->time)
        return x->time < y->time ? -1 : 1;
    return x->seq < y->seq ? -1 : (x->seq > y->seq);
}

static int plot_sort_phases(plot_timeline *tl)
{
    plot_phase_sort *tmp;
    size_t i;
    if (tl->nphases < 2)
        return 0;
    tmp = mem_alloc(tl->nphases * sizeof *tmp);
    if (!tmp)
        return -1;
    for (i = 0; i < tl->nphases; i++) {
        tmp[i].time = tl->phases[i].time;
        tmp[i].seq = i;
        tmp[i].label = tl->phases[i].label;
    }
    qsort(tmp, tl->nphases, sizeof *tmp, plot_phase_cmp);
    for (i = 0; i < tl->nphases; i++) {
        tl->phases[i].time = tmp[i].time;
        tl->phases[i].label = tmp[i].label;
    }
    mem_free(tmp);
    return 0;
}

/* One '#' line. Unknown directives are ignored so that later versions can add some. */
static int plot_parse_directive(plot_parser *p, plot_timeline *tl, const char *line, size_t len,
                                size_t *phase_cap)
{
    size_t w = 1, we, pos;
    while (w < len && line[w] != ' ' && line[w] != '\t')
        w++;
    we = w;
    pos = we;
    if (we == 6 && memcmp(line, "#title", 6) == 0) {
        char *t;
        while (pos < len && line[pos] == ' ')
            pos++;
        t = mem_strndup(line + pos, len - pos);
        if (!t)
            return plot_errf(p->err, p->errlen, "out of memory"), -1;
        mem_free(tl->title);
        tl->title = t;
        return 0;
    }
    if (we == 10 && memcmp(line, "#time_unit", 10) == 0) {
        size_t b = pos, e;
        while (b < len && line[b] == ' ')
            b++;
        e = len;
        while (e > b && (line[e - 1] == ' ' || line[e - 1] == '\t'))
            e--;
        if (e - b == 2 && memcmp(line + b, "ns", 2) == 0)
            tl->time_unit = PLOT_TIME_NS;
        else if (e - b == 4 && memcmp(line + b, "line", 4) == 0)
            tl->time_unit = PLOT_TIME_LINE;
        else
            return plot_fail(p, b + 1, "\"ns\" or \"line\"", line + b, e - b);
        return 0;
    }
    if (we == 9 && memcmp(line, "#capacity", 9) == 0) {
        uint64_t dev, v[PLOT_NREGIONS];
        size_t devcol = pos, k;
        static const char *const what[PLOT_NREGIONS] = {"DRAM capacity", "L1 capacity",
                                                        "L1_SMALL capacity", "TRACE capacity"};
        while (devcol < len && line[devcol] == ' ')
            devcol++;
        if (plot_take_u64(p, line, len, &pos, "device id", &dev) != 0)
            return -1;
        if (plot_device_check(p, devcol + 1, dev, line + devcol, pos - devcol) != 0)
            return -1;
        for (k = 0; k < PLOT_NREGIONS; k++)
            if (plot_take_u64(p, line, len, &pos, what[k], &v[k]) != 0)
                return -1;
        while (pos < len && (line[pos] == ' ' || line[pos] == '\t'))
            pos++;
        if (pos < len)
            return plot_fail(p, pos + 1, "end of line after 5 numbers", line + pos, len - pos);
        for (k = 0; k < PLOT_NREGIONS; k++)
            tl->capacity[dev * PLOT_NREGIONS + (size_t)plot_tsv_region[k]] = v[k];
        tl->has_capacity[dev] = 1;
        if ((int)dev + 1 > tl->ndevice_slots)
            tl->ndevice_slots = (int)dev + 1;
        return 0;
    }
    if (we == 6 && memcmp(line, "#phase", 6) == 0) {
        uint64_t t;
        char *label;
        size_t e;
        if (plot_take_u64(p, line, len, &pos, "phase time", &t) != 0)
            return -1;
        while (pos < len && (line[pos] == ' ' || line[pos] == '\t'))
            pos++;
        e = len;
        while (e > pos && (line[e - 1] == ' ' || line[e - 1] == '\t'))
            e--;
        if (e == pos)
            return plot_fail(p, pos + 1, "a phase label", line + pos, 0);
        if (tl->nphases == *phase_cap) {
            size_t ncap = *phase_cap ? *phase_cap * 2 : 16;
            plot_phase *np = mem_realloc(tl->phases, ncap * sizeof *np);
            if (!np)
                return plot_errf(p->err, p->errlen, "out of memory"), -1;
            tl->phases = np;
            *phase_cap = ncap;
        }
        label = mem_strndup(line + pos, e - pos);
        if (!label)
            return plot_errf(p->err, p->errlen, "out of memory"), -1;
        tl->phases[tl->nphases].time = t;
        tl->phases[tl->nphases].label = label;
        tl->nphases++;
        return 0;
    }
    return 0;
}

static int plot_parse_row(plot_parser *p, plot_timeline *tl, const char *line, size_t len,
                          size_t *row_cap, uint64_t *last_time)
{
    static const char *const what[6] = {"time",      "device",         "DRAM bytes",
                                        "L1 bytes",  "L1_SMALL bytes", "TRACE bytes"};
    uint64_t v[6];
    size_t start = 0, f;
    plot_row *row;
    for (f = 0; f < 6; f++) {
        size_t e = start;
        int rc;
        char expected[96];
        if (start > len) {
            char exp2[64];
            snprintf(exp2, sizeof exp2, "6 tab-separated fields (%s)", what[f]);
            return plot_fail(p, len + 1, exp2, line + len, 0);
        }
        while (e < len && line[e] != '\t')
            e++;
        rc = plot_parse_u64(line + start, e - start, &v[f]);
        if (rc != 0) {
            if (e == start && start == len) {
                snprintf(expected, sizeof expected, "6 tab-separated fields (%s)", what[f]);
                return plot_fail(p, start + 1, expected, line + start, 0);
            }
            snprintf(expected, sizeof expected, "%s (%s)",
                     rc == -2 ? "an unsigned decimal integer below 2^64"
                              : "an unsigned decimal integer",
                     what[f]);
            return plot_fail(p, start + 1, expected, line + start, e - start);
        }
        if (f == 1 && plot_device_check(p, start + 1, v[1], line + start, e - start) != 0)
            return -1;
        if (f == 0 && tl->nrows > 0 && v[0] < *last_time) {
            char expected2[96];
            snprintf(expected2, sizeof expected2, "time >= %" PRIu64 " (rows in time order)",
                     *last_time);
            return plot_fail(p, 1, expected2, line, e);
        }
        if (f == 5 && e < len)
            return plot_fail(p, e + 1, "end of line after 6 fields", line + e, len - e);
        start = e + 1;
    }
    if (tl->nrows == *row_cap) {
        size_t ncap = *row_cap ? *row_cap * 2 : 1024;
        plot_row *nr = mem_realloc(tl->rows, ncap * sizeof *nr);
        if (!nr)
            return plot_errf(p->err, p->errlen, "out of memory"), -1;
        tl->rows = nr;
        *row_cap = ncap;
    }
    row = &tl->rows[tl->nrows++];
    row->time = v[0];
    row->device = (int)v[1];
    memcpy(row->bytes, p->last[row->device], sizeof row->bytes); /* CB and kernel carry on */
    for (f = 0; f < PLOT_NREGIONS; f++)
        row->bytes[plot_tsv_region[f]] = v[2 + f];
    memcpy(p->last[row->device], row->bytes, sizeof row->bytes);
    tl->has_rows[row->device] = 1;
    if (row->device + 1 > tl->ndevice_slots)
        tl->ndevice_slots = row->device + 1;
    *last_time = v[0];
    return 0;
}

/* `#cbk TIME DEVICE CB KERNEL` (the simulator, v144) or `#shm-cb TIME DEVICE CB` (shm
 * record): a row of the device's regions as they were, with the new CB and kernel bytes. */
static int plot_parse_cbk(plot_parser *p, plot_timeline *tl, const char *line, size_t len, size_t *row_cap,
                          uint64_t *last_time, int shm)
{
    uint64_t t, dev, cb, k = 0;
    size_t pos = shm ? 7 : 4, devcol;
    plot_row *row;
    if (plot_take_u64(p, line, len, &pos, "time", &t) != 0)
        return -1;
    devcol = pos + 1;
    if (plot_take_u64(p, line, len, &pos, "device id", &dev) != 0 ||
        plot_device_check(p, devcol + 1, dev, line + devcol, pos - devcol) != 0 ||
        plot_take_u64(p, line, len, &pos, "CB bytes", &cb) != 0)
        return -1;
    if (!shm && plot_take_u64(p, line, len, &pos, "kernel bytes", &k) != 0)
        return -1;
    if (tl->nrows > 0 && t < *last_time) {
        char expected[96];
        snprintf(expected, sizeof expected, "time >= %" PRIu64 " (rows in time order)", *last_time);
        return plot_fail(p, 1, expected, line, len);
    }
    if (tl->nrows == *row_cap) {
        size_t ncap = *row_cap ? *row_cap * 2 : 1024;
        plot_row *nr = mem_realloc(tl->rows, ncap * sizeof *nr);
        if (!nr)
            return plot_errf(p->err, p->errlen, "out of memory"), -1;
        tl->rows = nr;
        *row_cap = ncap;
    }
    row = &tl->rows[tl->nrows++];
    row->time = t;
    row->device = (int)dev;
    memcpy(row->bytes, p->last[dev], sizeof row->bytes);
    row->bytes[PLOT_CB] = cb;
    if (!shm)
        row->bytes[PLOT_KERNEL] = k;
    memcpy(p->last[dev], row->bytes, sizeof row->bytes);
    tl->has_rows[dev] = 1;
    tl->has_cbk = 1;
    if ((int)dev + 1 > tl->ndevice_slots)
        tl->ndevice_slots = (int)dev + 1;
    *last_time = t;
    return 0;
}

int plot_timeline_parse(const char *text, size_t len, const char *name, plot_timeline *out,
                        char *err, size_t errlen)
{
    plot_parser p = {name ? name : "timeline", 0, err, errlen, NULL};
    plot_timeline tl;
    size_t off = 0, row_cap = 0, phase_cap = 0;
    uint64_t last_time = 0;
    int have_header = 0;

    memset(out, 0, sizeof *out);
    memset(&tl, 0, sizeof tl);
    tl.title = mem_strdup("");
    tl.capacity = mem_calloc((size_t)PLOT_DEVICE_SLOTS * PLOT_NREGIONS, sizeof(uint64_t));
    tl.has_capacity = mem_calloc(PLOT_DEVICE_SLOTS, 1);
    tl.has_rows = mem_calloc(PLOT_DEVICE_SLOTS, 1);
    p.last = mem_calloc(PLOT_DEVICE_SLOTS, sizeof *p.last);
    if (!tl.title || !tl.capacity || !tl.has_capacity || !tl.has_rows || !p.last) {
        plot_errf(err, errlen, "out of memory");
        goto fail;
    }
    while (off < len || p.line == 0) {
        const char *line = text + off;
        const char *nl = off < len ? memchr(line, '\n', len - off) : NULL;
        size_t llen = nl ? (size_t)(nl - line) : len - off;
        off += llen + (nl ? 1 : 0);
        p.line++;
        if (llen > 0 && line[llen - 1] == '\r')
            llen--;
        if (p.line == 1) {
            if (llen != sizeof plot_magic - 1 || memcmp(line, plot_magic, llen) != 0) {
                if (len == 0)
                    plot_errf(err, errlen, "%s:1:1: expected \"%s\", found end of file",
                              p.name, plot_magic);
                else
                    plot_fail(&p, 1, "\"#allocsim-timeline v1\"", line, llen);
                goto fail;
            }
            continue;
        }
        if (llen == 0)
            continue;
        if ((llen > 5 && memcmp(line, "#cbk ", 5) == 0) || (llen > 8 && memcmp(line, "#shm-cb ", 8) == 0)) {
            if (plot_parse_cbk(&p, &tl, line, llen, &row_cap, &last_time, line[1] == 's') != 0)
                goto fail;
            continue;
        }
        if (llen > 13 && memcmp(line, "#shm-process ", 13) == 0) {
            if (plot_proc_parse(&tl, p.name, p.line, line, llen, err, errlen) != 0)
                goto fail;
            continue;
        }
        if (line[0] == '#') {
            if (plot_parse_directive(&p, &tl, line, llen, &phase_cap) != 0)
                goto fail;
            continue;
        }
        if (llen == sizeof plot_header - 1 && memcmp(line, plot_header, llen) == 0) {
            if (have_header) {
                plot_fail(&p, 1, "a data row", line, llen);
                goto fail;
            }
            have_header = 1;
            continue;
        }
        if (!have_header) {
            plot_fail(&p, 1, "the header row \"time\\tdevice\\tDRAM\\tL1\\tL1_SMALL\\tTRACE\"",
                      line, llen);
            goto fail;
        }
        if (plot_parse_row(&p, &tl, line, llen, &row_cap, &last_time) != 0)
            goto fail;
    }
    if (!have_header) {
        plot_errf(err, errlen,
                  "%s:%d:1: expected the header row "
                  "\"time\\tdevice\\tDRAM\\tL1\\tL1_SMALL\\tTRACE\", found end of file",
                  p.name, p.line + 1);
        goto fail;
    }
    if (plot_sort_phases(&tl) != 0) {
        plot_errf(err, errlen, "out of memory");
        goto fail;
    }
    mem_free(p.last);
    *out = tl;
    return 0;
fail:
    mem_free(p.last);
    plot_timeline_release(&tl);
    return -1;
}

int plot_timeline_load(const char *path, plot_timeline *out, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    sbuf b = SBUF_INIT;
    char chunk[65536];
    size_t n;
    int rc;
    memset(out, 0, sizeof *out);
    if (!f) {
        plot_errf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        return -1;
    }
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        sbuf_append(&b, chunk, n);
    if (ferror(f)) {
        plot_errf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        fclose(f);
        sbuf_release(&b);
        return -1;
    }
    fclose(f);
    if (sbuf_failed(&b)) {
        plot_errf(err, errlen, "%s: out of memory", path);
        sbuf_release(&b);
        return -1;
    }
    rc = plot_timeline_parse(sbuf_str(&b), b.len, path, out, err, errlen);
    sbuf_release(&b);
    return rc;
}
