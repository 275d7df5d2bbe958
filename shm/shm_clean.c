/* shm_clean: one reader's cleanup on a real mapping of a region file (see shm_clean.h). The
 * file is decoded first, so only a file of a known layout is ever written; the mapping and
 * atomics are harness/shm_io's.
 */
#include "shm_clean.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shm_io.h"

int shmk_reader_parse(const char *name, shmm_reader *out) {
    if (!strcmp(name, "safe") || !strcmp(name, "v4") || !strcmp(name, "v4c"))
        *out = SHMM_READER_SAFE;
    else if (!strcmp(name, "tt_smi"))
        *out = SHMM_READER_TT_SMI_613A;
    else if (!strcmp(name, "tt-mgmt") || !strcmp(name, "tt_mgmt"))
        *out = SHMM_READER_TT_MGMT_CLEANUP;
    else
        return shmm_reader_parse(name, out);
    return 0;
}

static void diff_u64(sbuf *r, int *n, const char *field, uint64_t a, uint64_t b) {
    if (a == b)
        return;
    sbuf_printf(r, "  %s: %" PRIu64 " -> %" PRIu64 "\n", field, a, b);
    (*n)++;
}

int shmk_diff(const shms_file *fa, const shms_file *fb, sbuf *r) {
    const shml_region *a = &fa->region, *b = &fb->region;
    int n = 0, nc = shml_version_get(fa->layout)->counter_count;
    char f[64];
    diff_u64(r, &n, "num_active_processes", a->num_active_processes, b->num_active_processes);
    diff_u64(r, &n, "reference_count", a->reference_count, b->reference_count);
    for (int c = 0; c < nc; c++) {
        snprintf(f, sizeof f, "totals.%s", shml_counter_name(c));
        diff_u64(r, &n, f, a->totals[c], b->totals[c]);
    }
    for (int s = 0; s < SHML_MAX_CHIPS; s++) {
        for (int c = 0; c < nc; c++) {
            snprintf(f, sizeof f, "chip_stats[%d].%s", s, shml_counter_name(c));
            diff_u64(r, &n, f, a->chips[s].counters[c], b->chips[s].counters[c]);
        }
    }
    for (int s = 0; s < SHML_MAX_PROCESSES; s++) {
        const shml_process *p = &a->processes[s], *q = &b->processes[s];
        if (p->pid != q->pid) {
            sbuf_printf(r, "  processes[%d].pid: %" PRId32 " -> %" PRId32 "\n", s, p->pid, q->pid);
            n++;
        }
        for (int c = 0; c < nc; c++) {
            snprintf(f, sizeof f, "processes[%d].%s", s, shml_counter_name(c));
            diff_u64(r, &n, f, p->counters[c], q->counters[c]);
        }
        if (memcmp(p->name, q->name, SHML_NAME_BYTES) != 0) {
            sbuf_printf(r, "  processes[%d].process_name: changed\n", s);
            n++;
        }
    }
    return n;
}

int shmk_clean(const char *dir, const char *name, shmm_reader reader, shms_file *before, shms_file *after,
               sbuf *report, unsigned *cleaned, char *err, size_t errlen) {
    *cleaned = 0;
    if (!shms_load(dir, name, before)) {
        snprintf(err, errlen, "%s", before->error);
        return -1;
    }
    shmio_region rg;
    memset(&rg, 0, sizeof rg);
    snprintf(rg.path, sizeof rg.path, "%s", before->path);
    rg.fd = open(before->path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    if (rg.fd < 0) {
        snprintf(err, errlen, "cannot open read-write: %s", strerror(errno));
        return -2;
    }
    struct stat st;
    if (fstat(rg.fd, &st) != 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size != before->size) {
        snprintf(err, errlen, "changed while it was read (size %jd, was %zu): not cleaned", (intmax_t)st.st_size,
                 before->size);
        close(rg.fd);
        return -2;
    }
    void *m = mmap(NULL, SHMM_FILE_CAPACITY, PROT_READ | PROT_WRITE, MAP_SHARED, rg.fd, 0);
    if (m == MAP_FAILED) {
        snprintf(err, errlen, "cannot map read-write: %s", strerror(errno));
        close(rg.fd);
        return -2;
    }
    rg.base = m;
    shmm_ops ops;
    shmio_region_ops(&ops, &rg);
    shmm_env env = {shmio_now_ns(), shmio_pid_state, NULL};
    shmm_reader_config cfg;
    shmm_reader_config_default(&cfg, before->layout);
    shmm_result res;
    shmm_reader_cleanup(reader, &cfg, &ops, &env, &res);
    *cleaned = res.cleaned;
    shmio_region_close(&rg);
    if (!shms_load(dir, name, after)) {
        snprintf(err, errlen, "after the cleanup: %s", after->error);
        return -1;
    }
    shmk_diff(before, after, report);
    return 0;
}
