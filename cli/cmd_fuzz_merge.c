/* cmd_fuzz_merge: `allocsim fuzz merge [--out DIR] DIR...`, one findings directory from many.
 *
 * Shards of a campaign (or campaigns on many machines) each write their own findings
 * directory. Merging loads every reproducer, groups them by root cause (fuzz_root_key: the
 * same frames once pids and connection numbers are normalised), keeps the smallest of each
 * group (fewest frames, then fewest bytes) with the union of the signatures seen, and writes
 * them and a summary.txt into the output directory. Merging a merged directory again changes
 * nothing, so merges can be chained (per machine, then per team).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cmds.h"
#include "fuzz_triage.h"
#include "mem.h"
#include "sbuf.h"

/* Appends the file at path to out. Returns 0, or -1 if it cannot be read. */
static int merge_slurp(const char *path, sbuf *out) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    char buf[8192];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        sbuf_append(out, buf, n);
    fclose(f);
    return 0;
}

static int merge_spit(const char *path, const sbuf *b) {
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    int ok = fwrite(sbuf_str(b), 1, b->len, f) == b->len;
    ok &= fclose(f) == 0;
    return ok ? 0 : -1;
}

/* "dir/x.allocstream" -> "dir/x.txt" in buf. */
static void merge_txt_path(const char *stream_path, char *buf, size_t n) {
    snprintf(buf, n, "%s", stream_path);
    char *dot = strstr(buf, ".allocstream");
    if (dot)
        snprintf(dot, n - (size_t)(dot - buf), ".txt");
}

int cmd_fuzz_merge(int argc, char **argv) {
    const char *out = "fuzz-merged";
    fuzz_known_set set = {0};
    int ndirs = 0;
    char err[1024];
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) {
            out = argv[++i];
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: allocsim fuzz merge [--out DIR] DIR...\n\n"
                   "Merges findings directories (of shards, machines or earlier merges): one\n"
                   "reproducer per root cause, the smallest, with every signature seen; writes\n"
                   "them and summary.txt to --out (default fuzz-merged).\n");
            fuzz_known_release(&set);
            return 0;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "allocsim fuzz merge: expected --out DIR or a directory, found '%s'\n", argv[i]);
            fuzz_known_release(&set);
            return 2;
        } else {
            if (fuzz_known_load(&set, argv[i], err, sizeof err) < 0) {
                fprintf(stderr, "allocsim fuzz merge: %s\n", err);
                fuzz_known_release(&set);
                return 2;
            }
            ndirs++;
        }
    }
    if (ndirs == 0) {
        fprintf(stderr, "allocsim fuzz merge: expected at least one findings directory\n");
        return 2;
    }
    if (mkdir(out, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "allocsim fuzz merge: %s: %s\n", out, strerror(errno));
        fuzz_known_release(&set);
        return 3;
    }
    /* best[i]: index of the kept entry of i's group; groups in order of first appearance. */
    size_t *best = mem_calloc(set.n ? set.n : 1, sizeof *best);
    if (!best) {
        fuzz_known_release(&set);
        return 3;
    }
    size_t groups = 0;
    sbuf summary = SBUF_INIT, names = SBUF_INIT;
    for (size_t i = 0; i < set.n; i++) {
        size_t first = i;
        for (size_t j = 0; j < i; j++)
            if (strcmp(set.v[j].key, set.v[i].key) == 0) {
                first = j;
                break;
            }
        best[i] = first;
        if (first != i) {
            fuzz_known *b = &set.v[best[first]];
            fuzz_known *e = &set.v[i];
            for (const char *p = e->sigs; p && *p;) {
                char one[128];
                size_t len = strcspn(p, " ");
                snprintf(one, sizeof one, "%.*s", (int)len, p);
                fuzz_known_add_sig(b, one);
                p += len + (p[len] == ' ');
            }
            fuzz_known_add_sig(b, e->sig);
            b->hits++;
            if (e->frames < b->frames || (e->frames == b->frames && e->bytes < b->bytes)) {
                /* e becomes the kept one and inherits the group's signatures and count. */
                char *sigs = b->sigs;
                b->sigs = e->sigs;
                e->sigs = sigs;
                e->hits = b->hits;
                best[first] = i;
            }
        } else {
            set.v[i].hits = 1;
            fuzz_known_add_sig(&set.v[i], set.v[i].sig);
            groups++;
        }
    }
    int status = 0;
    size_t written = 0;
    sbuf_printf(&summary, "merge: %zu reproducers from %d directories: %zu root cause%s\n", set.n, ndirs,
                groups, groups == 1 ? "" : "s");
    for (size_t i = 0; i < set.n; i++) {
        if (best[i] != i)
            continue;
        fuzz_known *e = &set.v[best[i]];
        char name[200];
        snprintf(name, sizeof name, "%s", e->sig);
        /* A second root cause with the same signature gets a suffix. */
        for (int k = 2;; k++) {
            int used = 0;
            for (const char *p = sbuf_str(&names); *p;) {
                size_t len = strcspn(p, "\n");
                used |= len == strlen(name) && strncmp(p, name, len) == 0;
                p += len + (p[len] == '\n');
            }
            if (!used)
                break;
            snprintf(name, sizeof name, "%s-%d", e->sig, k);
        }
        sbuf_printf(&names, "%s\n", name);
        char dst[1200], src_txt[1200], dst_txt[1200];
        snprintf(dst, sizeof dst, "%s/%s.allocstream", out, name);
        snprintf(dst_txt, sizeof dst_txt, "%s/%s.txt", out, name);
        merge_txt_path(e->path, src_txt, sizeof src_txt);
        sbuf bytes = SBUF_INIT, txt = SBUF_INIT, old_txt = SBUF_INIT;
        int ok = merge_slurp(e->path, &bytes) == 0;
        if (ok && strcmp(dst, e->path) != 0)
            ok = merge_spit(dst, &bytes) == 0;
        /* The .txt keeps its header and rendering; the signature line lists the union. */
        sbuf_printf(&txt, "# failure %s\n# signatures: %s\n# merged: %" PRIu64 " reproducer%s of this root cause, kept %s\n",
                    e->sig, e->sigs ? e->sigs : e->sig, e->hits, e->hits == 1 ? "" : "s", e->path);
        if (merge_slurp(src_txt, &old_txt) == 0) {
            for (const char *p = sbuf_str(&old_txt); *p;) {
                size_t len = strcspn(p, "\n");
                if (strncmp(p, "# failure ", 10) != 0 && strncmp(p, "# signatures: ", 14) != 0 &&
                    strncmp(p, "# merged: ", 10) != 0)
                    sbuf_printf(&txt, "%.*s\n", (int)len, p);
                p += len + (p[len] == '\n');
            }
        }
        if (ok)
            ok = merge_spit(dst_txt, &txt) == 0;
        if (!ok) {
            fprintf(stderr, "allocsim fuzz merge: cannot copy %s to %s\n", e->path, dst);
            status = 3;
        } else {
            written++;
        }
        sbuf_printf(&summary, "  %s: root cause %s, %" PRIu64 " reproducer%s, kept %zu frames from %s\n", e->sig, e->key,
                    e->hits, e->hits == 1 ? "" : "s", e->frames, e->path);
        if (e->sigs && strchr(e->sigs, ' '))
            sbuf_printf(&summary, "    signatures: %s\n", e->sigs);
        sbuf_printf(&summary, "    reproduce: allocsim replay %s --server CMD\n", dst);
        sbuf_release(&bytes);
        sbuf_release(&txt);
        sbuf_release(&old_txt);
    }
    char sum_path[1200];
    snprintf(sum_path, sizeof sum_path, "%s/summary.txt", out);
    if (merge_spit(sum_path, &summary) != 0)
        status = 3;
    fputs(sbuf_str(&summary), stdout);
    sbuf_release(&summary);
    sbuf_release(&names);
    mem_free(best);
    fuzz_known_release(&set);
    return status;
}
