/* shm_scan: listing, reading and decoding region files; liveness; byte formats (see
 * shm_scan.h). Reads with open(O_RDONLY|O_NONBLOCK|O_NOFOLLOW) + fstat + read, so a FIFO,
 * a device node, a symlink loop or a file that shrinks under us cannot block or crash it.
 */
#include "shm_scan.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "device.h"
#include "mem.h"

static const char region_prefix[] = "tt_device_";
static const char region_suffix[] = "_memory";

int shms_name_is_region(const char *name, int *has_id, uint64_t *id) {
    size_t n = strlen(name), lp = sizeof region_prefix - 1, ls = sizeof region_suffix - 1;
    *has_id = 0;
    *id = 0;
    if (n < lp + ls || strncmp(name, region_prefix, lp) != 0 || strcmp(name + n - ls, region_suffix) != 0)
        return 0;
    const char *d = name + lp, *e = name + n - ls;
    if (d == e)
        return 1;
    uint64_t v = 0;
    for (const char *c = d; c < e; c++) {
        if (*c < '0' || *c > '9' || v > (UINT64_MAX - (uint64_t)(*c - '0')) / 10)
            return 1;
        v = v * 10 + (uint64_t)(*c - '0');
    }
    *has_id = 1;
    *id = v;
    return 1;
}

static int name_cmp(const void *a, const void *b) {
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    int hx, hy;
    uint64_t ix, iy;
    shms_name_is_region(x, &hx, &ix);
    shms_name_is_region(y, &hy, &iy);
    if (hx != hy)
        return hx ? -1 : 1;
    if (hx && ix != iy)
        return ix < iy ? -1 : 1;
    return strcmp(x, y);
}

int shms_list(const char *dir, shms_list_t *out, char *err, size_t errlen) {
    out->names = NULL;
    out->count = 0;
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "%s: cannot open directory: %s", dir, strerror(errno));
        return -1;
    }
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        int has;
        uint64_t id;
        if (!shms_name_is_region(e->d_name, &has, &id))
            continue;
        if (out->count == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            char **nn = mem_realloc(out->names, ncap * sizeof *nn);
            if (!nn)
                goto oom;
            out->names = nn;
            cap = ncap;
        }
        if (!(out->names[out->count] = mem_strdup(e->d_name)))
            goto oom;
        out->count++;
    }
    closedir(d);
    if (out->count > 1)
        qsort(out->names, out->count, sizeof *out->names, name_cmp);
    return 0;
oom:
    closedir(d);
    shms_list_free(out);
    snprintf(err, errlen, "%s: out of memory listing the directory", dir);
    return -1;
}

void shms_list_free(shms_list_t *l) {
    for (size_t i = 0; i < l->count; i++)
        mem_free(l->names[i]);
    mem_free(l->names);
    l->names = NULL;
    l->count = 0;
}

int shms_decode(shms_file *f) {
    char err[200];
    f->ok = 0;
    if (shml_detect(f->bytes, f->nbytes < f->size ? f->nbytes : f->size, &f->det) == 0) {
        snprintf(f->error, sizeof f->error, "%s", f->det.note);
        return 0;
    }
    f->layout = f->det.best;
    const shml_version_info *vi = shml_version_get(f->layout);
    f->size_matches = shml_size_valid(f->layout, f->size);
    size_t len = f->size_matches ? f->size : vi->size_bytes;
    uint8_t tmp[SHMM_FILE_CAPACITY];
    memset(tmp, 0, sizeof tmp);
    memcpy(tmp, f->bytes, f->nbytes < len ? f->nbytes : len);
    if (shml_decode(f->layout, tmp, len, SHML_DECODE_ANY_VERSION, &f->region, err, sizeof err) != 0) {
        snprintf(f->error, sizeof f->error, "%s", err);
        return 0;
    }
    f->ok = 1;
    return 1;
}

int shms_load(const char *dir, const char *name, shms_file *f) {
    struct stat st;
    f->ok = 0;
    f->error[0] = '\0';
    f->size = f->nbytes = 0;
    if (dir)
        snprintf(f->path, sizeof f->path, "%s/%s", dir, name);
    else
        snprintf(f->path, sizeof f->path, "%s", name);
    const char *slash = strrchr(f->path, '/');
    f->name = slash ? slash + 1 : f->path;
    shms_name_is_region(f->name, &f->has_id, &f->file_id);
    int fd = open(f->path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        snprintf(f->error, sizeof f->error, "cannot open: %s", strerror(errno));
        return 0;
    }
    if (fstat(fd, &st) != 0) {
        snprintf(f->error, sizeof f->error, "cannot stat: %s", strerror(errno));
        close(fd);
        return 0;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(f->error, sizeof f->error, "not a regular file");
        close(fd);
        return 0;
    }
    f->size = (size_t)st.st_size;
    if (st.st_size > (off_t)SHMM_FILE_CAPACITY) {
        snprintf(f->error, sizeof f->error, "size %jd bytes: larger than any layout (largest is %d bytes)",
                 (intmax_t)st.st_size, SHML_MAX_REGION_BYTES);
        close(fd);
        return 0;
    }
    size_t want = f->size;
    while (f->nbytes < want) {
        ssize_t r = read(fd, f->bytes + f->nbytes, want - f->nbytes);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(f->error, sizeof f->error, "cannot read: %s", strerror(errno));
            close(fd);
            return 0;
        }
        if (r == 0)
            break;
        f->nbytes += (size_t)r;
    }
    close(fd);
    if (f->nbytes < f->size)
        f->size = f->nbytes; /* shrank while we read: judge what we have */
    return shms_decode(f);
}

char *shms_bytes(uint64_t v, char *buf, size_t len) {
    static const char *const unit[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (v < 1024) {
        snprintf(buf, len, "%" PRIu64 "B", v);
        return buf;
    }
    double d = (double)v / 1024.0;
    int u = 0;
    while (d >= 1024.0 && u < 5) {
        d /= 1024.0;
        u++;
    }
    snprintf(buf, len, "%.1f%s", d, unit[u]);
    return buf;
}

void shms_slot_name(const shml_process *p, char *buf, size_t len) {
    size_t o = 0;
    for (size_t i = 0; i < SHML_NAME_BYTES - 1 && p->name[i] && o + 1 < len; i++) {
        unsigned char c = (unsigned char)p->name[i];
        buf[o++] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
    }
    buf[o] = '\0';
}

int shms_capacity(const char *preset, int chip, uint64_t *dram, uint64_t *l1) {
    *dram = *l1 = 0;
    if (!preset || !*preset)
        return 0;
    dev_config cfg;
    if (dev_preset(preset, &cfg) != 0)
        return -1;
    if (chip < 0 || chip >= cfg.num_devices)
        chip = 0;
    dev_chip_info ci;
    dev_chip_info_get(&cfg, chip, &ci);
    *dram = ci.total_dram_size;
    *l1 = ci.total_l1_size;
    return 0;
}
