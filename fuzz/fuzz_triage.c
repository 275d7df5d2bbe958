/* fuzz_triage: failure classes, root-cause keys of reproducers, the residue of a stream once
 * one cause is taken out, and the set of known root causes loaded from reproducer files (see
 * fuzz_triage.h). Pure apart from reading reproducer files; nothing here runs a server.
 */
#include "fuzz_triage.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "fuzz.h"
#include "fuzz_int.h"
#include "mem.h"

/* ---- classes ----------------------------------------------------------------------------- */

static int has_prefix(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

void fuzz_signature_class(const char *sig, char *cls, size_t n) {
    const char *side = "";
    if ((sig[0] == 'a' || sig[0] == 'b') && sig[1] == '-') {
        side = sig[0] == 'a' ? "a-" : "b-";
        sig += 2;
    }
    static const char *const crash[] = {"crash-", "exit-status-", "asan-", "ubsan-", "lsan-",
                                        "tsan-", "msan-"};
    const char *c = "mismatch";
    for (size_t i = 0; i < sizeof crash / sizeof crash[0]; i++)
        if (has_prefix(sig, crash[i]))
            c = "crash";
    if (strcmp(sig, "hang") == 0)
        c = "hang";
    snprintf(cls, n, "%s%s", side, c);
}

int fuzz_signature_in_class(const char *sig, const char *cls) {
    char c[32];
    fuzz_signature_class(sig, c, sizeof c);
    return strcmp(c, cls) == 0;
}

/* ---- root-cause keys ----------------------------------------------------------------------- */

int fuzz_root_key(const stream *s, char key[17]) {
    fuzz_pid_site *sites = NULL;
    size_t nsites = 0;
    uint8_t *work = mem_alloc(s->payload_len ? s->payload_len : 1);
    if (!work || fuzz_pid_sites(s, &sites, &nsites) != 0) {
        mem_free(work);
        return -1;
    }
    copy_bytes(work, s->payload, s->payload_len);
    for (uint32_t p = 0; p < s->nprocs; p++)
        fuzz_pid_patch(work, sites, nsites, p, (int32_t)p);
    /* Connections renumbered in order of first use; 0xffff marks "not seen yet". */
    uint16_t map[65536];
    memset(map, 0xff, sizeof map);
    uint16_t next = 0;
    XXH3_state_t st;
    XXH3_64bits_reset(&st);
    uint64_t fs = s->frame_size;
    XXH3_64bits_update(&st, &fs, sizeof fs);
    for (size_t i = 0; i < s->nrecords; i++) {
        const stream_record *r = &s->records[i];
        uint16_t id = r->id;
        int is_conn = r->op != STREAM_OP_SPAWN && r->op != STREAM_OP_CRASH &&
                      r->op != STREAM_OP_EXIT && r->op != STREAM_OP_SLEEP;
        if (is_conn) {
            if (map[id] == 0xffff)
                map[id] = next++;
            id = map[id];
        }
        uint8_t head[8] = {r->op, r->flags, (uint8_t)(id & 0xff), (uint8_t)(id >> 8),
                           (uint8_t)(r->len & 0xff), (uint8_t)(r->len >> 8),
                           (uint8_t)(r->len >> 16), (uint8_t)(r->len >> 24)};
        XXH3_64bits_update(&st, head, sizeof head);
        if (r->len)
            XXH3_64bits_update(&st, work + r->offset, r->len);
    }
    snprintf(key, 17, "%016llx", (unsigned long long)XXH3_64bits_digest(&st));
    mem_free(sites);
    mem_free(work);
    return 0;
}

/* ---- residue ------------------------------------------------------------------------------- */

static int record_sends(const stream_record *r) {
    return r->op == STREAM_OP_WRITE || r->op == STREAM_OP_DUMP;
}

static int record_same(const stream *a, const stream_record *ra, const stream *b,
                       const stream_record *rb) {
    return ra->op == rb->op && ra->id == rb->id && ra->len == rb->len &&
           (ra->len == 0 || memcmp(rec_bytes(a, ra), rec_bytes(b, rb), ra->len) == 0);
}

long fuzz_stream_without(const stream *orig, const stream *sub, stream *out) {
    uint8_t *drop = mem_calloc(orig->nrecords ? orig->nrecords : 1, 1);
    if (!drop)
        return -1;
    size_t j = 0, removed = 0;
    for (size_t i = 0; i < orig->nrecords; i++) {
        while (j < sub->nrecords && !record_sends(&sub->records[j]))
            j++;
        if (j < sub->nrecords && record_same(orig, &orig->records[i], sub, &sub->records[j])) {
            drop[i] = 1;
            removed++;
            j++;
        }
    }
    while (j < sub->nrecords && !record_sends(&sub->records[j]))
        j++;
    if (j < sub->nrecords) { /* not a subsequence: keep everything */
        memset(drop, 0, orig->nrecords);
        removed = 0;
    }
    stream_init(out, orig->rev);
    int oom = 0;
    for (uint32_t p = 0; !oom && p < orig->nprocs; p++)
        oom = stream_add_proc(out, orig->procs[p].recorded_pid, orig->procs[p].name) < 0;
    for (size_t i = 0; !oom && i < orig->nrecords; i++) {
        const stream_record *r = &orig->records[i];
        if (!drop[i])
            oom = stream_append(out, r->op, r->flags, r->id, rec_bytes(orig, r), r->len) != 0;
    }
    mem_free(drop);
    if (oom) {
        stream_release(out);
        return -1;
    }
    return (long)removed;
}

/* ---- known root causes --------------------------------------------------------------------- */

int fuzz_known_add_sig(fuzz_known *e, const char *sig) {
    size_t have = e->sigs ? strlen(e->sigs) : 0;
    for (const char *p = e->sigs; p && *p;) {
        const char *sp = strchr(p, ' ');
        size_t len = sp ? (size_t)(sp - p) : strlen(p);
        if (len == strlen(sig) && strncmp(p, sig, len) == 0)
            return 0;
        p = sp ? sp + 1 : p + len;
    }
    char *v = mem_realloc(e->sigs, have + strlen(sig) + 2);
    if (!v)
        return -1;
    snprintf(v + have, strlen(sig) + 2, "%s%s", have ? " " : "", sig);
    e->sigs = v;
    return 0;
}

/* Reads "# failure SIG" and "# signatures: A B" from the .txt next to an .allocstream. */
static int known_read_txt(fuzz_known *e, const char *stream_path) {
    size_t len = strlen(stream_path);
    const char *ext = ".allocstream";
    char *txt = mem_alloc(len + 8);
    if (!txt)
        return -1;
    memcpy(txt, stream_path, len + 1);
    if (len > strlen(ext) && strcmp(txt + len - strlen(ext), ext) == 0)
        txt[len - strlen(ext)] = '\0';
    strcat(txt, ".txt");
    FILE *f = fopen(txt, "r");
    mem_free(txt);
    if (!f)
        return 0;
    char line[4096];
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f) && line[0] == '#') {
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "# failure ", 10) == 0) {
            snprintf(e->sig, sizeof e->sig, "%s", line + 10);
            rc = fuzz_known_add_sig(e, e->sig);
        } else if (strncmp(line, "# signatures: ", 14) == 0) {
            for (char *tok = strtok(line + 14, " "); tok && rc == 0; tok = strtok(NULL, " "))
                rc = fuzz_known_add_sig(e, tok);
        }
    }
    fclose(f);
    return rc;
}

static int known_add_file(fuzz_known_set *set, const char *path, char *err, size_t errlen) {
    stream s;
    if (stream_load(path, &s, err, errlen) != 0)
        return -1;
    if (set->n == set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 8;
        fuzz_known *v = mem_realloc(set->v, cap * sizeof *v);
        if (!v) {
            stream_release(&s);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        set->v = v;
        set->cap = cap;
    }
    fuzz_known *e = &set->v[set->n];
    memset(e, 0, sizeof *e);
    int rc = fuzz_root_key(&s, e->key);
    e->frames = fuzz_stream_frames(&s);
    e->bytes = s.payload_len;
    stream_release(&s);
    if (rc == 0 && !(e->path = mem_strdup(path)))
        rc = -1;
    if (rc == 0)
        rc = known_read_txt(e, path);
    if (rc != 0) {
        mem_free(e->path);
        mem_free(e->sigs);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (!e->sig[0]) { /* no .txt: the file name stands for the signature */
        const char *base = strrchr(path, '/');
        snprintf(e->sig, sizeof e->sig, "%s", base ? base + 1 : path);
        e->sig[strcspn(e->sig, ".")] = '\0';
    }
    set->n++;
    return 0;
}

static int name_cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

long fuzz_known_load(fuzz_known_set *set, const char *path, char *err, size_t errlen) {
    DIR *d = opendir(path);
    if (!d) {
        if (errno != ENOTDIR) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            return -1;
        }
        return known_add_file(set, path, err, errlen) == 0 ? 1 : -1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    long added = 0;
    const char *ext = ".allocstream";
    for (struct dirent *de; (de = readdir(d));) {
        size_t len = strlen(de->d_name);
        if (len <= strlen(ext) || strcmp(de->d_name + len - strlen(ext), ext) != 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **v = mem_realloc(names, cap * sizeof *v);
            if (!v) {
                added = -1;
                break;
            }
            names = v;
        }
        size_t plen = strlen(path) + len + 2;
        if (!(names[n] = mem_alloc(plen))) {
            added = -1;
            break;
        }
        snprintf(names[n++], plen, "%s/%s", path, de->d_name);
    }
    closedir(d);
    if (added < 0)
        snprintf(err, errlen, "out of memory");
    if (names)
        qsort(names, n, sizeof *names, name_cmp);
    for (size_t i = 0; added >= 0 && i < n; i++)
        if (known_add_file(set, names[i], err, errlen) == 0)
            added++;
        else
            added = -1;
    for (size_t i = 0; i < n; i++)
        mem_free(names[i]);
    mem_free(names);
    return added;
}

fuzz_known *fuzz_known_find(fuzz_known_set *set, const char *key) {
    for (size_t i = 0; i < set->n; i++)
        if (strcmp(set->v[i].key, key) == 0)
            return &set->v[i];
    return NULL;
}

fuzz_known *fuzz_known_find_sig(fuzz_known_set *set, const char *sig) {
    for (size_t i = 0; i < set->n; i++) {
        fuzz_known *e = &set->v[i];
        if (strcmp(e->sig, sig) == 0)
            return e;
        for (const char *p = e->sigs; p && *p;) {
            const char *sp = strchr(p, ' ');
            size_t len = sp ? (size_t)(sp - p) : strlen(p);
            if (len == strlen(sig) && strncmp(p, sig, len) == 0)
                return e;
            p = sp ? sp + 1 : p + len;
        }
    }
    return NULL;
}

void fuzz_known_release(fuzz_known_set *set) {
    for (size_t i = 0; i < set->n; i++) {
        mem_free(set->v[i].sigs);
        mem_free(set->v[i].path);
    }
    mem_free(set->v);
    memset(set, 0, sizeof *set);
}
