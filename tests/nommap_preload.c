/* nommap_preload: a test-only LD_PRELOAD library that makes every shared, writable, file-backed
 * mmap fail with ENODEV, the way a filesystem without mmap support answers (some FUSE and
 * network filesystems). tests/cmake/shm_nommap.cmake runs `allocsim run --transport shm` under
 * it to prove that such a region directory is exit 3 with the cause. Anonymous and private
 * mappings (the loader, malloc, the sanitizers) pass through unchanged.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/types.h>

typedef void *(*mmap_fn)(void *, size_t, int, int, int, off_t);

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
    static mmap_fn real;
    if ((flags & MAP_SHARED) && !(flags & MAP_ANONYMOUS) && fd >= 0 && (prot & PROT_WRITE)) {
        errno = ENODEV;
        return MAP_FAILED;
    }
    if (!real)
        real = (mmap_fn)dlsym(RTLD_NEXT, "mmap");
    return real(addr, len, prot, flags, fd, off);
}

void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
    return mmap(addr, len, prot, flags, fd, off);
}
