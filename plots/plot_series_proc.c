/* plot_series_proc: per-process series for `allocsim plot`, from the `#shm-process` lines that
 * `allocsim shm record` writes (format in docs/scenarios.md):
 *
 *   #shm-process TIME DEVICE PID NAME DRAM L1 L1_SMALL TRACE CB
 *
 * one line whenever a process slot of a region changes; NAME `-` with zero counters ends the
 * series of the pid's latest process on that device (its slot was freed or taken by another
 * pid). A process is (device, pid, name): a recycled pid under another name is a new series.
 * Each process's value is DRAM + TRACE + L1 + L1_SMALL, the sum the upper strip's stack shows
 * (CB is a line of its own in the lower strip and never stacked).
 *
 * Per panel at most PLOT_PROC_SLOTS lines: with more processes the PLOT_PROC_SLOTS - 1 largest
 * by peak (then lower pid, then first seen) get a line each and the rest one summed line
 * "N more processes (sum)". The data are extra blocks of FILE.data.tsv after the panels'
 * (gnuplot index NDEV + i - 1 for panel i), the settings are proc_n[] and proc_title[], and
 * plots/timeline_proc.gp draws them; timelines without such lines never reach this file, so
 * their data and scripts are unchanged.
 */
#include "plot.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "plot_int.h"

typedef struct {
    int device;
    int32_t pid;
    char name[64];
    uint64_t peak;
    int ended;
} plot_proc;

typedef struct {
    uint64_t time;
    size_t seq;
    uint32_t proc;
    uint64_t bytes;
} plot_proc_event;

struct plot_procs {
    plot_proc *p;
    size_t np, pcap;
    plot_proc_event *ev;
    size_t nev, evcap;
};

void plot_proc_release(struct plot_procs *pp)
{
    if (!pp)
        return;
    mem_free(pp->p);
    mem_free(pp->ev);
    mem_free(pp);
}

static int plot_proc_fail(const char *name, int lineno, size_t col, const char *expected,
                          const char *tok, size_t toklen, char *err, size_t errlen)
{
    char found[48];
    if (toklen == 0)
        snprintf(found, sizeof found, "end of line");
    else
        snprintf(found, sizeof found, "\"%.*s\"", (int)(toklen > 40 ? 40 : toklen), tok);
    plot_errf(err, errlen, "%s:%d:%zu: expected %s, found %s", name, lineno, col, expected, found);
    return -1;
}

int plot_proc_parse(plot_timeline *tl, const char *name, int lineno, const char *line, size_t len,
                    char *err, size_t errlen)
{
    static const char *const what[9] = {"time",       "device id",    "pid",           "process name",
                                        "DRAM bytes", "L1 bytes",     "L1_SMALL bytes", "TRACE bytes",
                                        "CB bytes"};
    const char *tok[9];
    size_t toklen[9], pos = 13; /* after "#shm-process " */
    uint64_t v[9] = {0};
    struct plot_procs *pp;
    plot_proc *pr = NULL;
    size_t i;
    int k;
    for (k = 0; k < 9; k++) {
        size_t e = pos;
        while (e < len && line[e] != ' ')
            e++;
        tok[k] = line + pos;
        toklen[k] = pos <= len ? e - pos : 0;
        if (k != 3 && plot_parse_u64(tok[k], toklen[k], &v[k]) != 0)
            return plot_proc_fail(name, lineno, pos + 1, what[k], tok[k], toklen[k], err, errlen);
        if (k == 3 && (toklen[k] == 0 || toklen[k] > 63))
            return plot_proc_fail(name, lineno, pos + 1, "a process name of 1..63 characters", tok[k],
                                  toklen[k], err, errlen);
        pos = e + 1;
    }
    if (pos <= len)
        return plot_proc_fail(name, lineno, pos + 1, "end of line", line + pos, len - pos, err, errlen);
    if (v[1] > PLOT_MAX_DEVICE)
        return plot_proc_fail(name, lineno, (size_t)(tok[1] - line) + 1, "a device id 0..1023", tok[1],
                              toklen[1], err, errlen);
    if (v[2] == 0 || v[2] > INT32_MAX)
        return plot_proc_fail(name, lineno, (size_t)(tok[2] - line) + 1, "a pid 1..2147483647", tok[2],
                              toklen[2], err, errlen);
    if (!tl->procs && !(tl->procs = mem_calloc(1, sizeof *tl->procs)))
        return plot_errf(err, errlen, "out of memory"), -1;
    pp = tl->procs;
    /* The pid's latest process on this device. */
    for (i = pp->np; i-- > 0;)
        if (pp->p[i].device == (int)v[1] && pp->p[i].pid == (int32_t)v[2]) {
            pr = &pp->p[i];
            break;
        }
    if (toklen[3] == 1 && tok[3][0] == '-') {
        if (!pr)
            return 0; /* the end of a series this file never began */
        pr->ended = 1;
    } else if (!pr || strlen(pr->name) != toklen[3] || memcmp(pr->name, tok[3], toklen[3]) != 0) {
        if (pp->np == pp->pcap) {
            size_t nc = pp->pcap ? pp->pcap * 2 : 16;
            plot_proc *np = mem_realloc(pp->p, nc * sizeof *np);
            if (!np)
                return plot_errf(err, errlen, "out of memory"), -1;
            pp->p = np;
            pp->pcap = nc;
        }
        pr = &pp->p[pp->np++];
        memset(pr, 0, sizeof *pr);
        pr->device = (int)v[1];
        pr->pid = (int32_t)v[2];
        memcpy(pr->name, tok[3], toklen[3]);
    } else {
        pr->ended = 0;
    }
    if (pp->nev == pp->evcap) {
        size_t nc = pp->evcap ? pp->evcap * 2 : 64;
        plot_proc_event *ne = mem_realloc(pp->ev, nc * sizeof *ne);
        if (!ne)
            return plot_errf(err, errlen, "out of memory"), -1;
        pp->ev = ne;
        pp->evcap = nc;
    }
    {
        plot_proc_event *e = &pp->ev[pp->nev];
        uint64_t sum = 0;
        for (k = 4; k < 8; k++)
            sum = sum > UINT64_MAX - v[k] ? UINT64_MAX : sum + v[k];
        e->time = v[0];
        e->seq = pp->nev;
        e->proc = (uint32_t)(pr - pp->p);
        e->bytes = sum;
        if (sum > pr->peak)
            pr->peak = sum;
        pp->nev++;
    }
    if ((int)v[1] + 1 > tl->ndevice_slots)
        tl->ndevice_slots = (int)v[1] + 1;
    return 0;
}

/* ---- selection: which processes of a device get a line ------------------------------------- */

static const struct plot_procs *plot_proc_sort_ctx;

static int plot_proc_rank_cmp(const void *a, const void *b)
{
    const plot_proc *x = &plot_proc_sort_ctx->p[*(const uint32_t *)a];
    const plot_proc *y = &plot_proc_sort_ctx->p[*(const uint32_t *)b];
    if (x->peak != y->peak)
        return x->peak > y->peak ? -1 : 1;
    if (x->pid != y->pid)
        return x->pid < y->pid ? -1 : 1;
    return *(const uint32_t *)a < *(const uint32_t *)b ? -1 : 1;
}

/* The device's processes ranked (mem_alloc'd ids in *ids, count returned; -1 out of memory);
 * *nlines = columns drawn (the last being the sum of the rest when *other). */
static long plot_proc_rank(const struct plot_procs *pp, int device, uint32_t **ids, int *nlines, int *other)
{
    size_t n = 0, i;
    uint32_t *v = mem_alloc((pp->np ? pp->np : 1) * sizeof *v);
    if (!v)
        return -1;
    for (i = 0; i < pp->np; i++)
        if (pp->p[i].device == device)
            v[n++] = (uint32_t)i;
    plot_proc_sort_ctx = pp;
    qsort(v, n, sizeof *v, plot_proc_rank_cmp);
    *other = n > PLOT_PROC_SLOTS;
    *nlines = *other ? PLOT_PROC_SLOTS : (int)n;
    *ids = v;
    return (long)n;
}

void plot_proc_settings(const plot_timeline *tl, const int *dev, int ndev, sbuf *b)
{
    const struct plot_procs *pp = tl->procs;
    sbuf titles = SBUF_INIT;
    int i, k;
    sbuf_printf(b, "# per-process series (#shm-process lines): panel i's block is index NDEV + i - 1\n"
                   "PROC_SLOTS = %d\n",
                PLOT_PROC_SLOTS);
    sbuf_printf(b, "array proc_n[%d] = [", ndev);
    for (i = 0; i < ndev; i++) {
        uint32_t *ids = NULL;
        int nlines = 0, other = 0;
        long n = plot_proc_rank(pp, dev[i], &ids, &nlines, &other);
        if (n < 0) {
            sbuf_release(&titles);
            b->failed = 1;
            return;
        }
        sbuf_printf(b, "%s%d", i ? ", " : "", nlines);
        for (k = 0; k < PLOT_PROC_SLOTS; k++) {
            char t[96];
            if (k < nlines && !(other && k == nlines - 1))
                snprintf(t, sizeof t, "pid %" PRId32 " %s", pp->p[ids[k]].pid, pp->p[ids[k]].name);
            else if (k < nlines)
                snprintf(t, sizeof t, "%ld more processes (sum)", n - (PLOT_PROC_SLOTS - 1));
            else
                t[0] = '\0';
            sbuf_puts(&titles, i || k ? ", " : "");
            plot_put_gpstr(&titles, t);
        }
        mem_free(ids);
    }
    sbuf_puts(b, "]\n");
    sbuf_printf(b, "array proc_other[%d] = [", ndev);
    for (i = 0; i < ndev; i++) {
        uint32_t *ids = NULL;
        int nlines = 0, other = 0;
        if (plot_proc_rank(pp, dev[i], &ids, &nlines, &other) < 0) {
            b->failed = 1;
            break;
        }
        sbuf_printf(b, "%s%d", i ? ", " : "", other);
        mem_free(ids);
    }
    sbuf_puts(b, "]\n");
    sbuf_printf(b, "array proc_title[%d] = [%s]\n", ndev * PLOT_PROC_SLOTS, sbuf_str(&titles));
    sbuf_release(&titles);
}

/* ---- data: one block per panel, a row whenever a shown column changes ---------------------- */

static int plot_proc_event_cmp(const void *a, const void *b)
{
    const plot_proc_event *x = a, *y = b;
    if (x->time != y->time)
        return x->time < y->time ? -1 : 1;
    return x->seq < y->seq ? -1 : 1;
}

static void plot_proc_row(FILE *f, uint64_t t, const uint64_t *col, int nlines)
{
    int k;
    fprintf(f, "%" PRIu64, t);
    for (k = 0; k < nlines; k++)
        fprintf(f, "\t%" PRIu64, col[k]);
    fputc('\n', f);
}

int plot_proc_data(const plot_timeline *tl, const int *dev, int ndev, uint64_t t_begin, uint64_t t_end,
                   size_t max_points, FILE *f, char *err, size_t errlen)
{
    const struct plot_procs *pp = tl->procs;
    plot_proc_event *ev = mem_alloc((pp->nev ? pp->nev : 1) * sizeof *ev);
    size_t *mine = mem_alloc((pp->nev ? pp->nev : 1) * sizeof *mine);
    int *col_of = mem_alloc((pp->np ? pp->np : 1) * sizeof *col_of);
    uint64_t *cur = mem_alloc((pp->np ? pp->np : 1) * sizeof *cur);
    int i, rc = 0;
    if (!ev || !mine || !col_of || !cur) {
        mem_free(ev), mem_free(mine), mem_free(col_of), mem_free(cur);
        return plot_errf(err, errlen, "out of memory"), -1;
    }
    memcpy(ev, pp->ev, pp->nev * sizeof *ev);
    qsort(ev, pp->nev, sizeof *ev, plot_proc_event_cmp);
    for (i = 0; i < ndev; i++) {
        uint32_t *ids = NULL;
        int nlines = 0, other = 0, k;
        size_t j, nmine = 0, ntimes = 0;
        uint64_t col[PLOT_PROC_SLOTS] = {0}, peak[PLOT_PROC_SLOTS] = {0};
        uint64_t bucket = 0, cur_bucket = UINT64_MAX, bucket_t = 0;
        long n = plot_proc_rank(pp, dev[i], &ids, &nlines, &other);
        if (n < 0) {
            rc = -1;
            plot_errf(err, errlen, "out of memory");
            break;
        }
        for (j = 0; j < pp->np; j++)
            col_of[j] = -1;
        for (k = 0; k < (int)n; k++)
            col_of[ids[k]] = other && k >= nlines - 1 ? nlines - 1 : k;
        memset(cur, 0, pp->np * sizeof *cur);
        for (j = 0; j < pp->nev; j++)
            if (pp->p[ev[j].proc].device == dev[i]) {
                ntimes += nmine == 0 || ev[mine[nmine - 1]].time != ev[j].time;
                mine[nmine++] = j;
            }
        /* Too many changes for max_points: buckets of equal time keep each column's highest
         * value (at the bucket's first change), so every peak stays visible. */
        if (ntimes + 2 > max_points && t_end > t_begin)
            bucket = (t_end - t_begin) / (max_points / 2) + 1;
        fprintf(f, "\n\n# processes of panel %d: device %d, %ld process%s, %d column%s\n", i, dev[i], n,
                n == 1 ? "" : "es", nlines, nlines == 1 ? "" : "s");
        plot_proc_row(f, t_begin, col, nlines > 0 ? nlines : 1);
        for (j = 0; j < nmine; j++) {
            const plot_proc_event *e = &ev[mine[j]];
            int c = col_of[e->proc];
            col[c] = col[c] - cur[e->proc] + e->bytes;
            cur[e->proc] = e->bytes;
            if (j + 1 < nmine && ev[mine[j + 1]].time == e->time)
                continue; /* one row per time, after all of its changes */
            if (!bucket) {
                plot_proc_row(f, e->time, col, nlines);
                continue;
            }
            {
                uint64_t b = (e->time > t_begin ? e->time - t_begin : 0) / bucket;
                if (b != cur_bucket) {
                    if (cur_bucket != UINT64_MAX)
                        plot_proc_row(f, bucket_t, peak, nlines);
                    cur_bucket = b;
                    bucket_t = e->time;
                    memcpy(peak, col, sizeof peak);
                }
                for (k = 0; k < nlines; k++)
                    if (col[k] > peak[k])
                        peak[k] = col[k];
            }
        }
        if (bucket && cur_bucket != UINT64_MAX)
            plot_proc_row(f, bucket_t, peak, nlines);
        plot_proc_row(f, t_end, col, nlines > 0 ? nlines : 1);
        mem_free(ids);
    }
    mem_free(ev);
    mem_free(mine);
    mem_free(col_of);
    mem_free(cur);
    return rc;
}
