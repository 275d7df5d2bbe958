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
#include <unistd.h>

#define SHIM_HARDCODED "/tmp/tt_allocation_server.sock"

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
    return real_unlink(redirect(path));
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
    return real_access(redirect(path), mode);
}

int stat(const char *path, struct stat *sb) {
    ENSURE_INIT();
    if (!real_stat) {
        errno = ENOSYS;
        return -1;
    }
    return real_stat(redirect(path), sb);
}

int lstat(const char *path, struct stat *sb) {
    ENSURE_INIT();
    if (!real_lstat) {
        errno = ENOSYS;
        return -1;
    }
    return real_lstat(redirect(path), sb);
}
