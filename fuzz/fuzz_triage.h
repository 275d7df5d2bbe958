/* fuzz_triage: telling failures apart by cause rather than by symptom.
 *
 * A signature names a symptom (crash-SIGPIPE, dump-mismatch-count); one defect can show
 * several, and a racy stream can show a different one on every run. Triage works on classes
 * (every crash, sanitizer report or exit is one class, a hang another, every mismatch a third)
 * for minimising, and on root causes for reporting: the key of a minimised reproducer, which
 * is its records with recorded pids replaced by process numbers and connections renumbered in
 * order of appearance. Two reproducers with the same key are one finding.
 *
 * Known root causes come from reproducer files (a directory of .allocstream files, as a
 * campaign or `allocsim fuzz merge` writes them, or one file): their keys and, from the .txt
 * next to each, the signatures they were seen under.
 */
#ifndef ALLOCSIM_FUZZ_TRIAGE_H
#define ALLOCSIM_FUZZ_TRIAGE_H

#include <stddef.h>
#include <stdint.h>

#include "stream.h"

/* The class of a signature for minimising: "crash" (crash-*, exit-status-*, asan-, ubsan-,
 * lsan-, tsan-, msan-), "hang", or "mismatch" (everything else); in differential mode the
 * server prefix stays ("a-crash", "b-hang"). Written into cls. */
void fuzz_signature_class(const char *sig, char *cls, size_t n);

/* 1 if sig belongs to class cls (as fuzz_signature_class names it), else 0. */
int fuzz_signature_in_class(const char *sig, const char *cls);

/* The root-cause key of a (minimised) stream: 16 hex digits of an XXH3 hash over its records
 * with pids normalised to process numbers and connections renumbered. Returns 0, or -1 when
 * out of memory. */
int fuzz_root_key(const stream *s, char key[17]);

/* out = orig without the records that sub consists of (sub's WRITE and DUMP records matched
 * in order against orig's, byte for byte): what is left of a stream once the cause that sub
 * reproduces is taken out. Structural records (SPAWN, CONNECT, CLOSE, ...) stay. Returns the
 * number of records removed (0: sub is not a subsequence of orig, *out is then a copy), or -1
 * when out of memory. */
long fuzz_stream_without(const stream *orig, const stream *sub, stream *out);

/* One known root cause. */
typedef struct {
    char key[17];
    char sig[128];       /* the signature it was written under */
    char *sigs;          /* every signature seen with it, space-separated (owned; may be "") */
    char *path;          /* the .allocstream it came from (owned) */
    size_t frames;       /* frames of the reproducer */
    size_t bytes;        /* payload bytes of the reproducer */
    uint64_t hits;       /* campaign: streams that failed with it */
} fuzz_known;

typedef struct {
    fuzz_known *v;
    size_t n, cap;
} fuzz_known_set;

/* Adds the reproducers at path (a .allocstream file, or every *.allocstream in a directory,
 * in name order) to set. Returns the number added, or -1 with "path: what went wrong" in
 * err. */
long fuzz_known_load(fuzz_known_set *set, const char *path, char *err, size_t errlen);

/* The entry with key, or NULL. */
fuzz_known *fuzz_known_find(fuzz_known_set *set, const char *key);

/* The entry that lists signature sig (its own or among sigs), or NULL. */
fuzz_known *fuzz_known_find_sig(fuzz_known_set *set, const char *sig);

/* Adds sig to e->sigs unless it is there. Returns 0 or -1 when out of memory. */
int fuzz_known_add_sig(fuzz_known *e, const char *sig);

void fuzz_known_release(fuzz_known_set *set);

#endif
