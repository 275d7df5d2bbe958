/* shm_record: the sampler behind `allocsim shm record` (see shm_record.h). Each tracked
 * region keeps its fd, its device column, its last row and the last counters of each process
 * slot, so only changes are written.
 */
#include "shm_record.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "mem.h"
#include "shm_scan.h"

#define SHMR_MAX_DEVICE 1023

typedef struct {
    char *name;
    int fd;
    int device;
    int seen;       /* still listed at the last rescan */
    int bad;        /* reported bad; not reported again until it reads well */
    int has_row;
    uint64_t row[4]; /* DRAM L1 L1_SMALL TRACE */
    uint64_t cb;
    int32_t pid[SHML_MAX_PROCESSES];
    uint64_t pc[SHML_MAX_PROCESSES][5];
} shmr_region;

struct shmr_recorder {
    shmr_options opt;
    FILE *out;
    shmr_region *regions;
    int count, cap;
    uint8_t used_device[SHMR_MAX_DEVICE + 1];
    uint64_t last_scan_ns;
    int scanned;
    uint64_t rows;
    shms_file *file; /* scratch for decoding */
    int dir_bad;
};

shmr_recorder *shmr_open(const shmr_options *opt, FILE *out, uint64_t epoch_ns, char *err, size_t errlen) {
    shmr_recorder *r = mem_calloc(1, sizeof *r);
    if (!r || !(r->file = mem_alloc(sizeof *r->file))) {
        mem_free(r);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    r->opt = *opt;
    if (!r->opt.rescan_ns)
        r->opt.rescan_ns = 1000000000ull;
    r->out = out;
    fprintf(out, "#allocsim-timeline v1\n#title allocsim shm record %s, every %ld ms\n#time_unit ns\n"
                 "#shm-epoch-ns %" PRIu64 "\ntime\tdevice\tDRAM\tL1\tL1_SMALL\tTRACE\n",
            opt->dir, opt->interval_ms, epoch_ns);
    return r;
}

static int pick_device(shmr_recorder *r, uint32_t device_id) {
    if (device_id <= SHMR_MAX_DEVICE && !r->used_device[device_id]) {
        r->used_device[device_id] = 1;
        return (int)device_id;
    }
    for (int d = 0; d <= SHMR_MAX_DEVICE; d++) {
        if (!r->used_device[d]) {
            r->used_device[d] = 1;
            return d;
        }
    }
    return -1;
}

static void rescan(shmr_recorder *r, sbuf *errs) {
    shms_list_t l;
    char err[512];
    if (shms_list(r->opt.dir, &l, err, sizeof err) != 0) {
        if (!r->dir_bad)
            sbuf_printf(errs, "%s\n", err);
        r->dir_bad = 1;
        return;
    }
    r->dir_bad = 0;
    for (int i = 0; i < r->count; i++)
        r->regions[i].seen = 0;
    for (size_t k = 0; k < l.count; k++) {
        int i;
        for (i = 0; i < r->count; i++)
            if (!strcmp(r->regions[i].name, l.names[k]))
                break;
        if (i < r->count) {
            r->regions[i].seen = 1;
            continue;
        }
        if (r->count == r->cap) {
            int ncap = r->cap ? r->cap * 2 : 16;
            shmr_region *n = mem_realloc(r->regions, (size_t)ncap * sizeof *n);
            if (!n)
                break;
            r->regions = n;
            r->cap = ncap;
        }
        shmr_region *g = &r->regions[r->count];
        memset(g, 0, sizeof *g);
        if (!(g->name = mem_strdup(l.names[k])))
            break;
        g->fd = -1;
        g->device = -1;
        g->seen = 1;
        r->count++;
    }
    /* Close regions that disappeared (rm /dev/shm/tt_device_*): keep their device column. */
    for (int i = 0; i < r->count; i++) {
        if (!r->regions[i].seen && r->regions[i].fd >= 0) {
            close(r->regions[i].fd);
            r->regions[i].fd = -1;
        }
    }
    shms_list_free(&l);
}

static void bad_once(shmr_region *g, sbuf *errs, const char *path, const char *why) {
    if (!g->bad)
        sbuf_printf(errs, "%s: %s\n", path, why);
    g->bad = 1;
}

static void sample_region(shmr_recorder *r, shmr_region *g, uint64_t t, sbuf *errs) {
    shms_file *f = r->file;
    snprintf(f->path, sizeof f->path, "%s/%s", r->opt.dir, g->name);
    f->name = g->name;
    if (g->fd < 0) {
        g->fd = open(f->path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
        if (g->fd < 0) {
            char why[300];
            snprintf(why, sizeof why, "cannot open: %s", strerror(errno));
            bad_once(g, errs, f->path, why);
            return;
        }
    }
    ssize_t n = pread(g->fd, f->bytes, sizeof f->bytes, 0);
    if (n < 0) {
        char why[300];
        snprintf(why, sizeof why, "cannot read: %s", strerror(errno));
        bad_once(g, errs, f->path, why);
        close(g->fd);
        g->fd = -1;
        return;
    }
    f->nbytes = f->size = (size_t)n;
    if ((size_t)n == sizeof f->bytes) {
        bad_once(g, errs, f->path, "larger than any layout");
        return;
    }
    if (!shms_decode(f)) {
        bad_once(g, errs, f->path, f->error);
        return;
    }
    g->bad = 0;
    const shml_region *q = &f->region;
    if (g->device < 0) {
        g->device = pick_device(r, q->device_id);
        if (g->device < 0) {
            bad_once(g, errs, f->path, "more than 1024 regions: no device column left");
            return;
        }
        uint64_t cd = 0, cl = 0;
        shms_capacity(r->opt.preset, (int32_t)q->device_id >= 0 ? (int)(int32_t)q->device_id : 0, &cd, &cl);
        fprintf(r->out, "#capacity %d %" PRIu64 " %" PRIu64 " 0 0\n#shm-region %d %s %s\n", g->device, cd, cl, g->device,
                g->name, shml_version_get(f->layout)->name);
    }
    uint64_t row[4] = {q->totals[SHML_CTR_DRAM], q->totals[SHML_CTR_L1], q->totals[SHML_CTR_L1_SMALL],
                       q->totals[SHML_CTR_TRACE]};
    if (!g->has_row || memcmp(row, g->row, sizeof row) != 0) {
        fprintf(r->out, "%" PRIu64 "\t%d\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\n", t, g->device, row[0],
                row[1], row[2], row[3]);
        memcpy(g->row, row, sizeof row);
        r->rows++;
    }
    if (!g->has_row || g->cb != q->totals[SHML_CTR_CB])
        fprintf(r->out, "#shm-cb %" PRIu64 " %d %" PRIu64 "\n", t, g->device, q->totals[SHML_CTR_CB]);
    g->cb = q->totals[SHML_CTR_CB];
    g->has_row = 1;
    for (int s = 0; s < SHML_MAX_PROCESSES; s++) {
        const shml_process *p = &q->processes[s];
        uint64_t pc[5] = {p->counters[SHML_CTR_DRAM], p->counters[SHML_CTR_L1], p->counters[SHML_CTR_L1_SMALL],
                          p->counters[SHML_CTR_TRACE], p->counters[SHML_CTR_CB]};
        if (p->pid == g->pid[s] && memcmp(pc, g->pc[s], sizeof pc) == 0)
            continue;
        if (g->pid[s] > 0 && p->pid != g->pid[s]) /* the previous owner is gone: its series ends at 0 */
            fprintf(r->out, "#shm-process %" PRIu64 " %d %" PRId32 " - 0 0 0 0 0\n", t, g->device, g->pid[s]);
        if (p->pid > 0) {
            char name[64];
            shms_slot_name(p, name, sizeof name);
            for (char *c = name; *c; c++)
                if (*c == ' ')
                    *c = '_';
            fprintf(r->out,
                    "#shm-process %" PRIu64 " %d %" PRId32 " %s %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
                    "\n",
                    t, g->device, p->pid, name[0] ? name : "-", pc[0], pc[1], pc[2], pc[3], pc[4]);
        }
        g->pid[s] = p->pid;
        memcpy(g->pc[s], pc, sizeof pc);
    }
}

int shmr_sample(shmr_recorder *r, uint64_t t_ns, sbuf *errs) {
    if (!r->scanned || t_ns - r->last_scan_ns >= r->opt.rescan_ns) {
        rescan(r, errs);
        r->scanned = 1;
        r->last_scan_ns = t_ns;
    }
    int n = 0;
    for (int i = 0; i < r->count; i++) {
        if (!r->regions[i].seen)
            continue;
        sample_region(r, &r->regions[i], t_ns, errs);
        n++;
    }
    return n;
}

int shmr_regions(const shmr_recorder *r) {
    return r->count;
}

uint64_t shmr_rows(const shmr_recorder *r) {
    return r->rows;
}

void shmr_close(shmr_recorder *r) {
    if (!r)
        return;
    for (int i = 0; i < r->count; i++) {
        if (r->regions[i].fd >= 0)
            close(r->regions[i].fd);
        mem_free(r->regions[i].name);
    }
    mem_free(r->regions);
    mem_free(r->file);
    mem_free(r);
}
