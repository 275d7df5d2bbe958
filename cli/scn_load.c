/* scn_load: whole-file read + scn_parse (see scn_load.h). */
#include "scn_load.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "mem.h"

int scn_load_file(const char *path, scn_script **out, char *err, size_t errlen) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        return -1;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = 0;
    for (;;) {
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 65536;
            char *nb = ncap <= SCN_LOAD_MAX_BYTES + 1 ? mem_realloc(buf, ncap) : NULL;
            if (!nb) {
                snprintf(err, errlen, "%s: cannot read: %s", path,
                         ncap > SCN_LOAD_MAX_BYTES + 1 ? "larger than 64 MiB" : "out of memory");
                rc = -1;
                break;
            }
            buf = nb;
            cap = ncap;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) {
            if (ferror(f)) {
                snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
                rc = -1;
            }
            break;
        }
    }
    fclose(f);
    if (rc == 0 && len > SCN_LOAD_MAX_BYTES) {
        snprintf(err, errlen, "%s: cannot read: larger than 64 MiB", path);
        rc = -1;
    }
    if (rc == 0)
        rc = scn_parse(buf, len, path, out, err, errlen);
    mem_free(buf);
    return rc;
}
