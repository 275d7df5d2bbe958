/* shim_preload: LD_PRELOAD library that moves the allocation server's hard-coded socket.
 *
 * The real server binds /tmp/tt_allocation_server.sock (unlinking whatever is there first)
 * and offers no option to change it, so two servers, or a test and a user's live server,
 * would clobber each other. Loaded into the server with LD_PRELOAD, this library replaces
 * that exact path with the one in the environment variable ALLOCSIM_SOCKET_PATH (a private
 * path in a directory the harness owns) in bind, connect, unlink, unlinkat, remove, access,
 * stat and lstat. Any other path, and every call when the variable is unset or unusable,
 * passes through untouched.
 *
 * SHM readers (docs/shm-transport.md): with ALLOCSIM_SHM_DIR set to a directory, the region
 * files TT-Metal names /dev/shm/tt_device_<id>_memory are looked for in that directory
 * instead: shm_open and shm_unlink of "/tt_device_*", open, open64, openat, openat64, stat,
 * stat64, lstat, lstat64, access and unlink of "/dev/shm/tt_device_*", and opendir of
 * "/dev/shm" itself (which then lists the private directory). Other /dev/shm entries
 * (semaphores, other programs' segments) are not redirected.
 *
 * It is loaded into binaries we do not control, so it must never crash them: the real
 * functions and the replacement path are resolved once in a constructor (the server's signal
 * handler calls unlink, and dlsym is not async-signal-safe; a call that comes before the
 * constructor resolves them itself), the wrappers only compare and
 * copy bytes on the stack, and errno is left as the real call sets it. Built without
 * sanitizers, linked only against libc and libdl.
 */
#define _GNU_SOURCE /* RTLD_NEXT */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <dirent.h>
#include <stdarg.h>
#include <unistd.h>

#define SHIM_HARDCODED "/tmp/tt_allocation_server.sock"
#define SHIM_SHM_PREFIX "/dev/shm/tt_device_"
#define SHIM_PATH_MAX 4096

typedef int (*bind_fn)(int, const struct sockaddr *, socklen_t);
typedef int (*unlink_fn)(const char *);
typedef int (*unlinkat_fn)(int, const char *, int);
typedef int (*access_fn)(const char *, int);
typedef int (*stat_fn)(const char *, struct stat *);

static bind_fn real_bind, real_connect;
static unlink_fn real_unlink, real_remove;
static unlinkat_fn real_unlinkat;
static access_fn real_access;
static stat_fn real_stat, real_lstat;
typedef int (*stat64_fn)(const char *, struct stat64 *);
static stat64_fn real_stat64, real_lstat64;
typedef int (*open_fn)(const char *, int, ...);
typedef int (*openat_fn)(int, const char *, int, ...);
typedef DIR *(*opendir_fn)(const char *);
static open_fn real_open, real_open64;
static openat_fn real_openat, real_openat64;
static opendir_fn real_opendir;

/* ALLOCSIM_SHM_DIR: where /dev/shm/tt_device_* live for this process; empty when unset. */
static char shm_dir[1024];

/* The replacement path; empty when the variable is unset or does not fit a sockaddr_un. */
static char replacement[sizeof(((struct sockaddr_un *)0)->sun_path)];

static volatile int initialised;

__attribute__((constructor)) static void shim_init(void) {
    if (initialised)
        return;
    real_bind = (bind_fn)dlsym(RTLD_NEXT, "bind");
    real_connect = (bind_fn)dlsym(RTLD_NEXT, "connect");
    real_unlink = (unlink_fn)dlsym(RTLD_NEXT, "unlink");
    real_remove = (unlink_fn)dlsym(RTLD_NEXT, "remove");
    real_unlinkat = (unlinkat_fn)dlsym(RTLD_NEXT, "unlinkat");
    real_access = (access_fn)dlsym(RTLD_NEXT, "access");
    real_stat = (stat_fn)dlsym(RTLD_NEXT, "stat");
    real_lstat = (stat_fn)dlsym(RTLD_NEXT, "lstat");
    real_stat64 = (stat64_fn)dlsym(RTLD_NEXT, "stat64");
    real_lstat64 = (stat64_fn)dlsym(RTLD_NEXT, "lstat64");
    real_open = (open_fn)dlsym(RTLD_NEXT, "open");
    real_open64 = (open_fn)dlsym(RTLD_NEXT, "open64");
    real_openat = (openat_fn)dlsym(RTLD_NEXT, "openat");
    real_openat64 = (openat_fn)dlsym(RTLD_NEXT, "openat64");
    real_opendir = (opendir_fn)dlsym(RTLD_NEXT, "opendir");
    const char *sd = getenv("ALLOCSIM_SHM_DIR");
    if (sd && sd[0] == '/' && strlen(sd) < sizeof shm_dir - 300)
        memcpy(shm_dir, sd, strlen(sd) + 1);
    const char *env = getenv("ALLOCSIM_SOCKET_PATH");
    if (env && env[0] == '/' && strlen(env) < sizeof replacement)
        memcpy(replacement, env, strlen(env) + 1);
    initialised = 1;
}

/* A library constructor may call in before ours ran: resolve then (not from a signal). */
#define ENSURE_INIT()                                                                          \
    do {                                                                                       \
        if (!initialised)                                                                      \
            shim_init();                                                                       \
    } while (0)

/* The path to use instead of p: the replacement if p is exactly the hard-coded path. */
static const char *redirect(const char *p) {
    /* libc declares these path arguments nonnull, so without this barrier the optimiser drops
     * the NULL test below; hostile callers do pass NULL and must get the real call's EFAULT. */
    __asm__("" : "+r"(p));
    if (p && replacement[0] && strcmp(p, SHIM_HARDCODED) == 0)
        return replacement;
    return p;
}

/* The path to use instead of p: the socket redirect, or a region file of /dev/shm moved to
 * ALLOCSIM_SHM_DIR (written into buf, SHIM_PATH_MAX bytes). */
static const char *redirect_any(const char *p, char *buf) {
    p = redirect(p);
    if (p && shm_dir[0] && strncmp(p, SHIM_SHM_PREFIX, sizeof SHIM_SHM_PREFIX - 1) == 0) {
        size_t dl = strlen(shm_dir), nl = strlen(p + 8); /* p + 8: "/tt_device_..." */
        if (dl + nl + 1 <= SHIM_PATH_MAX) {
            memcpy(buf, shm_dir, dl);
            memcpy(buf + dl, p + 8, nl + 1);
            return buf;
        }
    }
    return p;
}

/* If sa names the hard-coded path, fills *tmp with the replacement and returns it (its
 * length in *len); else returns sa unchanged. */
static const struct sockaddr *redirect_addr(const struct sockaddr *sa, socklen_t *len,
                                            struct sockaddr_un *tmp) {
    static const size_t path_off = offsetof(struct sockaddr_un, sun_path);
    if (!sa || !replacement[0] || *len <= path_off || sa->sa_family != AF_UNIX)
        return sa;
    const struct sockaddr_un *un = (const struct sockaddr_un *)sa;
    size_t max = *len - path_off;
    if (max > sizeof un->sun_path)
        max = sizeof un->sun_path;
    size_t n = strnlen(un->sun_path, max);
    if (n != sizeof SHIM_HARDCODED - 1 || memcmp(un->sun_path, SHIM_HARDCODED, n) != 0)
        return sa;
    memset(tmp, 0, sizeof *tmp);
    tmp->sun_family = AF_UNIX;
    size_t rl = strlen(replacement);
    memcpy(tmp->sun_path, replacement, rl + 1);
    *len = (socklen_t)(path_off + rl + 1);
    return (const struct sockaddr *)tmp;
}

int bind(int fd, const struct sockaddr *sa, socklen_t len) {
    ENSURE_INIT();
    if (!real_bind) {
        errno = ENOSYS;
        return -1;
    }
    struct sockaddr_un tmp;
    const struct sockaddr *use = redirect_addr(sa, &len, &tmp);
    return real_bind(fd, use, len);
}

int connect(int fd, const struct sockaddr *sa, socklen_t len) {
    ENSURE_INIT();
    if (!real_connect) {
        errno = ENOSYS;
        return -1;
    }
    struct sockaddr_un tmp;
    const struct sockaddr *use = redirect_addr(sa, &len, &tmp);
    return real_connect(fd, use, len);
}

int unlink(const char *path) {
    ENSURE_INIT();
    if (!real_unlink) {
        errno = ENOSYS;
        return -1;
    }
    char buf[SHIM_PATH_MAX];
    return real_unlink(redirect_any(path, buf));
}

int remove(const char *path) {
    ENSURE_INIT();
    if (!real_remove) {
        errno = ENOSYS;
        return -1;
    }
    return real_remove(redirect(path));
}

int unlinkat(int dirfd, const char *path, int flags) {
    ENSURE_INIT();
    if (!real_unlinkat) {
        errno = ENOSYS;
        return -1;
    }
    return real_unlinkat(dirfd, redirect(path), flags);
}

int access(const char *path, int mode) {
    ENSURE_INIT();
    if (!real_access) {
        errno = ENOSYS;
        return -1;
    }
    char buf[SHIM_PATH_MAX];
    return real_access(redirect_any(path, buf), mode);
}

int stat(const char *path, struct stat *sb) {
    ENSURE_INIT();
    if (!real_stat) {
        errno = ENOSYS;
        return -1;
    }
    char buf[SHIM_PATH_MAX];
    return real_stat(redirect_any(path, buf), sb);
}

int lstat(const char *path, struct stat *sb) {
    ENSURE_INIT();
    if (!real_lstat) {
        errno = ENOSYS;
        return -1;
    }
    char buf[SHIM_PATH_MAX];
    return real_lstat(redirect_any(path, buf), sb);
}

/* ---- SHM regions (ALLOCSIM_SHM_DIR) -------------------------------------------------------- */

int stat64(const char *path, struct stat64 *sb) {
    ENSURE_INIT();
    if (!real_stat64) {
        errno = ENOSYS;
        return -1;
    }
    char buf[SHIM_PATH_MAX];
    return real_stat64(redirect_any(path, buf), sb);
}

int lstat64(const char *path, struct stat64 *sb) {
    ENSURE_INIT();
    if (!real_lstat64) {
        errno = ENOSYS;
        return -1;
    }
    char buf[SHIM_PATH_MAX];
    return real_lstat64(redirect_any(path, buf), sb);
}

/* mode is read only when the flags say a file may be created, as open(2) does. */
#define TAKE_MODE(flags, mode)                                                                 \
    do {                                                                                       \
        if ((flags) & (O_CREAT | __O_TMPFILE)) {                                               \
            va_list ap;                                                                        \
            va_start(ap, flags);                                                               \
            mode = va_arg(ap, int);                                                            \
            va_end(ap);                                                                        \
        }                                                                                      \
    } while (0)

int open(const char *path, int flags, ...) {
    ENSURE_INIT();
    int mode = 0;
    TAKE_MODE(flags, mode);
    if (!real_open) {
        errno = ENOSYS;
        return -1;
    }
    char buf[SHIM_PATH_MAX];
    return real_open(redirect_any(path, buf), flags, mode);
}

int open64(const char *path, int flags, ...) {
    ENSURE_INIT();
    int mode = 0;
    TAKE_MODE(flags, mode);
    if (!real_open64) {
        errno = ENOSYS;
        return -1;
    }
    char buf[SHIM_PATH_MAX];
    return real_open64(redirect_any(path, buf), flags, mode);
}

int openat(int dirfd, const char *path, int flags, ...) {
    ENSURE_INIT();
    int mode = 0;
    TAKE_MODE(flags, mode);
    if (!real_openat) {
        errno = ENOSYS;
        return -1;
    }
    char buf[SHIM_PATH_MAX];
    return real_openat(dirfd, redirect_any(path, buf), flags, mode);
}

int openat64(int dirfd, const char *path, int flags, ...) {
    ENSURE_INIT();
    int mode = 0;
    TAKE_MODE(flags, mode);
    if (!real_openat64) {
        errno = ENOSYS;
        return -1;
    }
    char buf[SHIM_PATH_MAX];
    return real_openat64(dirfd, redirect_any(path, buf), flags, mode);
}

DIR *opendir(const char *path) {
    ENSURE_INIT();
    if (!real_opendir) {
        errno = ENOSYS;
        return NULL;
    }
    const char *p = path; /* a local: clang warns on testing a nonnull-declared parameter */
    __asm__("" : "+r"(p));
    if (p && shm_dir[0] && (strcmp(p, "/dev/shm") == 0 || strcmp(p, "/dev/shm/") == 0))
        return real_opendir(shm_dir);
    return real_opendir(path);
}

/* shm_open("/tt_device_..."): the file in ALLOCSIM_SHM_DIR, opened as glibc's shm_open does. */
static const char *shm_name_path(const char *name, char *buf) {
    __asm__("" : "+r"(name));
    if (!name || !shm_dir[0])
        return NULL;
    while (*name == '/')
        name++;
    if (strncmp(name, "tt_device_", 10) != 0 || strchr(name, '/'))
        return NULL;
    size_t dl = strlen(shm_dir), nl = strlen(name);
    if (dl + nl + 2 > SHIM_PATH_MAX)
        return NULL;
    memcpy(buf, shm_dir, dl);
    buf[dl] = '/';
    memcpy(buf + dl + 1, name, nl + 1);
    return buf;
}

int shm_open(const char *name, int oflag, mode_t mode) {
    ENSURE_INIT();
    char buf[SHIM_PATH_MAX];
    const char *p = shm_name_path(name, buf);
    if (p && real_open)
        return real_open(p, oflag | O_NOFOLLOW | O_CLOEXEC, (int)mode);
    char dev[SHIM_PATH_MAX];
    const char *n = name ? name : "";
    while (*n == '/')
        n++;
    if (strlen(n) + 10 > sizeof dev || !real_open) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(dev, "/dev/shm/", 9);
    memcpy(dev + 9, n, strlen(n) + 1);
    return real_open(dev, oflag | O_NOFOLLOW | O_CLOEXEC, (int)mode);
}

int shm_unlink(const char *name) {
    ENSURE_INIT();
    char buf[SHIM_PATH_MAX];
    const char *p = shm_name_path(name, buf);
    if (!real_unlink) {
        errno = ENOSYS;
        return -1;
    }
    if (p)
        return real_unlink(p);
    char dev[SHIM_PATH_MAX];
    const char *n = name ? name : "";
    while (*n == '/')
        n++;
    if (strlen(n) + 10 > sizeof dev) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(dev, "/dev/shm/", 9);
    memcpy(dev + 9, n, strlen(n) + 1);
    return real_unlink(dev);
}
