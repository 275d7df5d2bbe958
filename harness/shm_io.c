/* shm_io: the region directory, region files and the real-atomics shmm_ops backend.
 *
 * The backend's accesses are __atomic builtins on the shared mapping at the order the model
 * asks for; SHMM_PLAIN (a non-atomic access in TT-Metal) is done relaxed, which on x86-64
 * compiles to the same plain mov TT-Metal's code does. Widths 1, 2, 4 and 8 map to the
 * builtins on uint8_t..uint64_t; offsets are aligned by the layout table.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "shm_io.h"

#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994
#endif

/* ---- directory ----------------------------------------------------------------------------- */

/* Creates, sizes and maps a probe file: proves MAP_SHARED writable mappings work there. */
static int probe_mmap(const char *dir, char *err, size_t errlen) {
    char path[SHMIO_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/.allocsim-probe-%ld", dir, (long)getpid());
    int fd = open(path, O_CREAT | O_RDWR | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot create a region file there: %s", dir, strerror(errno));
        return -1;
    }
    int rc = 0;
    const char *what = "ftruncate";
    if (ftruncate(fd, 4096) == 0) {
        what = "mmap";
        void *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (m != MAP_FAILED) {
            __atomic_store_n((volatile uint32_t *)m, 1u, __ATOMIC_RELAXED);
            munmap(m, 4096);
        } else {
            rc = -1;
        }
    } else {
        rc = -1;
    }
    if (rc < 0)
        snprintf(err, errlen, "%s: cannot map a region file there: %s: %s", dir, what, strerror(errno));
    close(fd);
    unlink(path);
    return rc;
}

/* Whether name is a private directory name "allocsim-XXXXXX" (mkdtemp's six characters). */
static int is_private_name(const char *n) {
    return strncmp(n, "allocsim-", 9) == 0 && strlen(n) == 15;
}

/* Removes what a run leaves in its private directory (region files, the probe file, the
 * owner file), then the directory if that left it empty. */
static void remove_private_dir(const char *path) {
    DIR *dh = opendir(path);
    if (dh) {
        struct dirent *e;
        while ((e = readdir(dh)) != NULL) {
            const char *n = e->d_name;
            if (strcmp(n, SHMIO_OWNER_FILE) != 0 && strncmp(n, ".allocsim-probe-", 16) != 0 &&
                !(strncmp(n, "tt_device_", 10) == 0 && strlen(n) > 17 && strcmp(n + strlen(n) - 7, "_memory") == 0))
                continue;
            char p[SHMIO_PATH_MAX + 300];
            snprintf(p, sizeof p, "%s/%s", path, n);
            unlink(p);
        }
        closedir(dh);
    }
    rmdir(path);
}

int shmio_clean_stale(const char *base, unsigned *removed) {
    *removed = 0;
    DIR *dh = opendir(base);
    if (!dh)
        return -1;
    struct dirent *e;
    while ((e = readdir(dh)) != NULL) {
        if (!is_private_name(e->d_name))
            continue;
        char dir[SHMIO_PATH_MAX], owner[SHMIO_PATH_MAX + 16];
        if ((size_t)snprintf(dir, sizeof dir, "%s/%s", base, e->d_name) >= sizeof dir)
            continue;
        struct stat st;
        if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != getuid())
            continue;
        snprintf(owner, sizeof owner, "%s/%s", dir, SHMIO_OWNER_FILE);
        int fd = open(owner, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
            continue; /* no owner recorded: not ours to judge */
        char buf[32];
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n <= 0)
            continue;
        buf[n] = '\0';
        char *end;
        long pid = strtol(buf, &end, 10);
        if (pid <= 0 || pid > 0x7fffffffL || (*end != '\n' && *end != '\0'))
            continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue; /* alive (or another user's): its run may still be going */
        remove_private_dir(dir);
        if (access(dir, F_OK) != 0)
            (*removed)++;
    }
    closedir(dh);
    return 0;
}

int shmio_dir_open(shmio_dir *d, const char *dir, unsigned flags, char *err, size_t errlen) {
    memset(d, 0, sizeof *d);
    d->keep = (flags & SHMIO_DIR_KEEP) != 0;
    if (flags & SHMIO_DIR_LIVE) {
        if (dir) {
            snprintf(err, errlen, "--shm-live uses /dev/shm; it cannot be combined with --shm-dir");
            return -1;
        }
        snprintf(d->path, sizeof d->path, "/dev/shm");
        d->live = 1;
        d->keep = 1;
        return probe_mmap(d->path, err, errlen);
    }
    if (!dir) {
        const char *base = getenv("ALLOCSIM_SHM_BASE");
        if (!base || !*base)
            base = "/dev/shm";
        struct statfs sf;
        if (statfs(base, &sf) != 0) {
            snprintf(err, errlen, "%s: cannot create the private region directory there: %s (use --shm-dir DIR)", base,
                     strerror(errno));
            return -1;
        }
        if ((unsigned long)sf.f_type != (unsigned long)TMPFS_MAGIC && !getenv("ALLOCSIM_SHM_BASE")) {
            snprintf(err, errlen, "%s is not a tmpfs (f_type 0x%lx): use --shm-dir DIR on a tmpfs", base,
                     (unsigned long)sf.f_type);
            return -1;
        }
        if ((size_t)snprintf(d->path, sizeof d->path, "%s/allocsim-XXXXXX", base) >= sizeof d->path) {
            snprintf(err, errlen, "%s: path too long", base);
            return -1;
        }
        unsigned stale;
        shmio_clean_stale(base, &stale); /* left behind by harnesses that were killed */
        d->stale_removed = stale;
        if (!mkdtemp(d->path)) {
            snprintf(err, errlen, "%s: cannot create the private region directory: %s", d->path, strerror(errno));
            return -1;
        }
        d->created = 1;
        d->owned = 1;
        /* The creator's pid, so a later run can tell a directory whose harness died. */
        char owner[SHMIO_PATH_MAX + 16];
        snprintf(owner, sizeof owner, "%s/%s", d->path, SHMIO_OWNER_FILE);
        int fd = open(owner, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd >= 0) {
            char pid[24];
            int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
            if (write(fd, pid, (size_t)n) != n) {
                /* an unreadable owner only means the directory is never judged stale */
            }
            close(fd);
        }
    } else {
        if (strlen(dir) + 1 > sizeof d->path - 40) {
            snprintf(err, errlen, "%s: path too long", dir);
            return -1;
        }
        snprintf(d->path, sizeof d->path, "%s", dir);
        size_t n = strlen(d->path);
        while (n > 1 && d->path[n - 1] == '/')
            d->path[--n] = '\0';
        if (mkdir(d->path, 0700) == 0)
            d->created = 1;
        else if (errno != EEXIST) {
            snprintf(err, errlen, "%s: cannot create the region directory: %s", d->path, strerror(errno));
            return -1;
        }
        struct stat st;
        if (stat(d->path, &st) != 0 || !S_ISDIR(st.st_mode)) {
            snprintf(err, errlen, "%s: not a directory", d->path);
            return -1;
        }
    }
    if (probe_mmap(d->path, err, errlen) < 0) {
        if (d->owned)
            remove_private_dir(d->path);
        else if (d->created)
            rmdir(d->path);
        d->created = 0;
        return -1;
    }
    return 0;
}

static int is_region_name(const char *n) {
    size_t len = strlen(n);
    return strncmp(n, "tt_device_", 10) == 0 && len > 17 && strcmp(n + len - 7, "_memory") == 0;
}

void shmio_dir_close(shmio_dir *d) {
    if (!d->path[0] || d->keep || d->live)
        return;
    DIR *dh = opendir(d->path);
    if (dh) {
        struct dirent *e;
        while ((e = readdir(dh)) != NULL) {
            if (!is_region_name(e->d_name))
                continue;
            char p[SHMIO_PATH_MAX + 300];
            snprintf(p, sizeof p, "%s/%s", d->path, e->d_name);
            unlink(p);
        }
        closedir(dh);
    }
    if (d->owned) {
        char owner[SHMIO_PATH_MAX + 16];
        snprintf(owner, sizeof owner, "%s/%s", d->path, SHMIO_OWNER_FILE);
        unlink(owner);
    }
    if (d->created)
        rmdir(d->path);
    d->path[0] = '\0';
}

int shmio_path(const shmio_dir *d, const char *name, char *out, size_t outlen) {
    int n = snprintf(out, outlen, "%s/%s", d->path, name);
    return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

long shmio_read_file(const shmio_dir *d, const char *name, uint8_t *buf, size_t cap, char *err, size_t errlen) {
    char path[SHMIO_PATH_MAX];
    if (shmio_path(d, name, path, sizeof path) < 0) {
        snprintf(err, errlen, "%s: path too long", name);
        return -2;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return -1;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -2;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        snprintf(err, errlen, "%s: fstat: %s", path, strerror(errno));
        close(fd);
        return -2;
    }
    size_t want = (size_t)st.st_size < cap ? (size_t)st.st_size : cap, got = 0;
    memset(buf, 0, cap);
    while (got < want) {
        ssize_t n = pread(fd, buf + got, want - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    return (long)st.st_size;
}

/* ---- the backend --------------------------------------------------------------------------- */

int shmio_region_init(shmio_region *r, const shmio_dir *d, const char *name, int mode) {
    memset(r, 0, sizeof *r);
    r->fd = -1;
    r->mode = mode ? mode : 0666;
    return shmio_path(d, name, r->path, sizeof r->path);
}

void shmio_region_close(shmio_region *r) {
    if (r->base)
        munmap(r->base, SHMM_FILE_CAPACITY);
    if (r->fd >= 0)
        close(r->fd);
    r->base = NULL;
    r->fd = -1;
}

static int order_of(int o) { return o == SHMM_PLAIN ? __ATOMIC_RELAXED : o; }

/* Orders a load may not take (release, acq_rel) are strengthened the way C++ would refuse
 * them anyway; the model never asks for them. */
static int load_order(int o) {
    o = order_of(o);
    return o == __ATOMIC_RELEASE ? __ATOMIC_RELAXED : o == __ATOMIC_ACQ_REL ? __ATOMIC_ACQUIRE : o;
}

static int store_order(int o) {
    o = order_of(o);
    return o == __ATOMIC_ACQUIRE || o == __ATOMIC_CONSUME ? __ATOMIC_RELAXED : o == __ATOMIC_ACQ_REL ? __ATOMIC_RELEASE : o;
}

#define AT(r, off, T) ((T *)(void *)((r)->base + (off)))

static uint64_t b_load(void *ctx, size_t off, int width, int order) {
    shmio_region *r = ctx;
    int o = load_order(order);
    switch (width) {
    case 1:
        return __atomic_load_n(AT(r, off, uint8_t), o);
    case 2:
        return __atomic_load_n(AT(r, off, uint16_t), o);
    case 4:
        return __atomic_load_n(AT(r, off, uint32_t), o);
    default:
        return __atomic_load_n(AT(r, off, uint64_t), o);
    }
}

static void b_store(void *ctx, size_t off, int width, uint64_t v, int order) {
    shmio_region *r = ctx;
    int o = store_order(order);
    switch (width) {
    case 1:
        __atomic_store_n(AT(r, off, uint8_t), (uint8_t)v, o);
        break;
    case 2:
        __atomic_store_n(AT(r, off, uint16_t), (uint16_t)v, o);
        break;
    case 4:
        __atomic_store_n(AT(r, off, uint32_t), (uint32_t)v, o);
        break;
    default:
        __atomic_store_n(AT(r, off, uint64_t), v, o);
        break;
    }
}

#define RMW(name, builtin)                                                                     \
    static uint64_t name(void *ctx, size_t off, int width, uint64_t v, int order) {            \
        shmio_region *r = ctx;                                                                 \
        int o = order_of(order);                                                               \
        switch (width) {                                                                       \
        case 1:                                                                                \
            return builtin(AT(r, off, uint8_t), (uint8_t)v, o);                                \
        case 2:                                                                                \
            return builtin(AT(r, off, uint16_t), (uint16_t)v, o);                              \
        case 4:                                                                                \
            return builtin(AT(r, off, uint32_t), (uint32_t)v, o);                              \
        default:                                                                               \
            return builtin(AT(r, off, uint64_t), v, o);                                        \
        }                                                                                      \
    }
RMW(b_fetch_add, __atomic_fetch_add)
RMW(b_fetch_sub, __atomic_fetch_sub)
RMW(b_exchange, __atomic_exchange_n)
#undef RMW

static int b_cas(void *ctx, size_t off, int width, uint64_t *expected, uint64_t desired, int so, int fo) {
    shmio_region *r = ctx;
    int s = order_of(so), f = load_order(fo);
    if (f > s || (s == __ATOMIC_RELEASE && f != __ATOMIC_RELAXED))
        f = __ATOMIC_RELAXED;
    int ok;
    switch (width) {
    case 1: {
        uint8_t e = (uint8_t)*expected;
        ok = __atomic_compare_exchange_n(AT(r, off, uint8_t), &e, (uint8_t)desired, 0, s, f);
        *expected = e;
        break;
    }
    case 2: {
        uint16_t e = (uint16_t)*expected;
        ok = __atomic_compare_exchange_n(AT(r, off, uint16_t), &e, (uint16_t)desired, 0, s, f);
        *expected = e;
        break;
    }
    case 4: {
        uint32_t e = (uint32_t)*expected;
        ok = __atomic_compare_exchange_n(AT(r, off, uint32_t), &e, (uint32_t)desired, 0, s, f);
        *expected = e;
        break;
    }
    default:
        ok = __atomic_compare_exchange_n(AT(r, off, uint64_t), expected, desired, 0, s, f);
        break;
    }
    return ok;
}

static void b_store_bytes(void *ctx, size_t off, const uint8_t *bytes, size_t len) {
    shmio_region *r = ctx;
    memcpy(r->base + off, bytes, len);
}

static int b_open(void *ctx) {
    shmio_region *r = ctx;
    if (r->fd >= 0)
        return SHMM_OPEN_EXISTED;
    r->fd = open(r->path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, (mode_t)r->mode);
    if (r->fd >= 0)
        return SHMM_OPEN_CREATED;
    if (errno != EEXIST)
        return SHMM_OPEN_FAILED;
    r->fd = open(r->path, O_RDWR | O_CLOEXEC, (mode_t)r->mode);
    return r->fd >= 0 ? SHMM_OPEN_EXISTED : SHMM_OPEN_FAILED;
}

static int b_truncate(void *ctx, size_t size) {
    shmio_region *r = ctx;
    if (r->fd < 0 || ftruncate(r->fd, (off_t)size) != 0)
        return -1;
    if (!r->base) {
        void *m = mmap(NULL, SHMM_FILE_CAPACITY, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
        if (m == MAP_FAILED)
            return -1;
        r->base = m;
    }
    return 0;
}

static int b_step(void *ctx) {
    shmio_region *r = ctx;
    r->steps++;
    if (r->kill_at && r->steps == r->kill_at)
        kill(getpid(), SIGKILL);
    return r->on_step ? r->on_step(r->user, r->steps) : 0;
}

void shmio_region_ops(shmm_ops *ops, shmio_region *r) {
    memset(ops, 0, sizeof *ops);
    ops->ctx = r;
    ops->load = b_load;
    ops->store = b_store;
    ops->fetch_add = b_fetch_add;
    ops->fetch_sub = b_fetch_sub;
    ops->exchange = b_exchange;
    ops->cas = b_cas;
    ops->store_bytes = b_store_bytes;
    ops->open = b_open;
    ops->truncate = b_truncate;
    ops->step = b_step;
}

int shmio_mode_of(const shmm_config *cfg) { return cfg->version == SHML_V4 ? 0600 : 0666; }

shmm_pid_state shmio_pid_state(void *ctx, int32_t pid) {
    (void)ctx;
    if (pid <= 0)
        return SHMM_PID_DEAD;
    if (kill((pid_t)pid, 0) == 0)
        return SHMM_PID_ALIVE;
    return errno == EPERM ? SHMM_PID_OTHER_USER : SHMM_PID_DEAD;
}

uint64_t shmio_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
