/* cmd_fuzz: `allocsim fuzz`, a seeded fuzzing campaign against one server, or two compared.
 *
 * Stream number n of a campaign is fuzz_generate(seed, n); a shard I/N runs the numbers
 * congruent to I modulo N, so shards split one campaign without overlap. Each stream runs on
 * a long-lived server (fuzz_exec); a failure is named by its signature. The first stream with
 * a new signature is triaged: minimised per failure class (any crash is one class) with a
 * predicate that accepts the class within a few tries, so a racy stream still shrinks; what
 * is left once that cause is taken out is tried again, so a stream holding two defects gives
 * two reproducers. Each reproducer is confirmed on fresh servers, keyed by its root cause
 * (fuzz_triage.h) and written to OUT/<signature>.allocstream with a readable .txt next to it;
 * reproducers with the same key are one finding. Later hits of a signature, and failures of a
 * --known root cause, are only counted. The summary lists every finding with the command that
 * reproduces it, and the speed as `bench fuzz_streams_per_s`. `allocsim fuzz merge` is in
 * cmd_fuzz_merge.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmds.h"
#include "fuzz.h"
#include "fuzz_exec.h"
#include "fuzz_triage.h"
#include "mem.h"
#include "sbuf.h"
#include "stream.h"

#define FUZZ_DEFAULT_RUNS 10000
#define FUZZ_BENCH_MS 5000
#define FUZZ_STATUS_TTY_MS 200
#define FUZZ_STATUS_LOG_MS 5000
#define FUZZ_QUIET_MS 250

/* One root cause: a reproducer and every signature it was seen under. */
typedef struct {
    char sig[128];      /* the reproducer's own signature (the commonest on confirmation) */
    char key[17];       /* fuzz_root_key of the reproducer */
    char *sigs;         /* every signature mapped here, space-separated */
    int known;          /* from --known: counted, never written */
    uint64_t hits;
    uint64_t first_stream;
    size_t frames_before, frames_after;
    size_t records_before, records_after;
    int confirmed, confirm_runs;
    uint32_t min_tests;
    char path[PATH_MAX];
    char *summary; /* first line of the detail */
} finding;

/* A signature seen in the campaign and the finding it belongs to (-1: not reproducible). */
typedef struct {
    char sig[128];
    long finding;
    uint64_t hits;
} sigmap;

typedef struct {
    proto_rev rev;
    uint64_t seed;
    uint64_t runs;
    uint64_t time_ms;
    uint32_t shard_i, shard_n;
    const char *out;
    uint64_t timeout_ms;
    int swarm;
    unsigned features;
    uint32_t max_ops;
    const char *server;
    const char *vs;
    int bench;
    int confirm;
    int minimise;
    int check_device_info;
    const char *devices;  /* --devices PRESET: the reference side detects those chips */
    int warm_spare;       /* keep a started server waiting for the next restart */
    int quiet;
    int tries;            /* runs a racy class gets before a candidate is rejected */
    uint32_t min_budget;  /* minimiser tests per root cause */
    int max_roots;        /* causes looked for in one failing stream */
    int settle_ms;        /* grace for a late death after a stream with abrupt closes */
    fuzz_known_set known;
    sigmap *sigs;
    size_t nsigs, capsigs;

    fuzz_gen_config gen;
    fuzz_exec *a, *b;
    fuzz_outcome oa, ob;
    finding *found;
    size_t nfound, capfound;
    uint64_t execs, inconclusive, failures;
    double fuzz_seconds; /* time spent running streams, minimisation excluded */
    struct timespec start;
    struct timespec last_status;
    int tty;
} campaign;

static const char *const reference_args[] = {"--cleanup-interval", "0", "--stats-interval", "0", NULL};

static double seconds_since(const struct timespec *t) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t->tv_sec) + (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

static void fuzz_usage(FILE *f) {
    fprintf(f,
            "usage: allocsim fuzz --seed N [--runs N | --time DURATION] [--protocol REV]\n"
            "                     [--server \"CMD\"] [--vs \"CMD\"] [--shard I/N] [--out DIR]\n"
            "                     [--timeout DURATION] [--swarm] [--no-transport-faults]\n"
            "                     [--features LIST] [--max-ops N] [--confirm N] [--no-minimise]\n"
            "                     [--check-device-info] [--quiet] [--bench] [--known PATH]\n"
            "                     [--tries K] [--min-budget N] [--devices PRESET] [--no-spare]\n"
            "       allocsim fuzz merge [--out DIR] DIR...\n"
            "\n"
            "Generates seeded message streams (valid and hostile, with transport faults), sends\n"
            "them to the server and checks it against the ledger: crash, sanitizer report, hang,\n"
            "wrong QUERY/DEVICE_INFO reply, wrong DUMP_REMAINING report. Each new failure is\n"
            "minimised, confirmed on a fresh server and written to OUT/<signature>.allocstream\n"
            "(+ .txt). Replay one with: allocsim replay FILE --server \"CMD\".\n"
            "\n"
            "  --seed N             campaign seed (required); stream n is the same for a seed\n"
            "  --runs N             streams 0..N-1 of the campaign (default %d)\n"
            "  --time DURATION      run until the time is up instead (60s, 5m, 1h)\n"
            "  --protocol REV       %s (default v72)\n"
            "  --server \"CMD\"       server under test (default: allocsim-server --protocol REV)\n"
            "  --vs \"CMD\"           differential mode: compare the two servers' replies and dumps\n"
            "  --shard I/N          run the stream numbers congruent to I mod N\n"
            "  --out DIR            where reproducers go (default fuzz-findings)\n"
            "  --timeout DURATION   a reply or report later than this is a hang (default 5s)\n"
            "  --swarm              each stream's seed also picks which features it uses\n"
            "  --no-transport-faults  no split, merged, truncated or garbage writes and no early\n"
            "                       closes: what a real server's single-recv framing can compare\n"
            "  --features LIST      features to use (all, transport, refcount, query, dump, multi,\n"
            "                       death, badfree, baddev, badtype, sizes, badmsg, cbkernel,\n"
            "                       reconnect, split, merge, truncate, earlyclose, garbage; -name\n"
            "                       removes one)\n"
            "  --max-ops N          operations per stream: 1..N (default 24)\n"
            "  --confirm N          runs on a fresh server to confirm a failure (default 3)\n"
            "  --no-minimise        write failing streams as found\n"
            "  --known PATH         reproducers (a file or a directory) of known root causes:\n"
            "                       failures matching them are counted, not minimised again\n"
            "  --tries K            runs a crash or hang gets before a candidate is rejected\n"
            "                       while minimising (racy failures; default 3)\n"
            "  --min-budget N       minimiser runs per root cause (default 400)\n"
            "  --check-device-info  compare DEVICE_INFO replies with --server too (the ledger\n"
            "                       models a machine without devices)\n"
            "  --devices PRESET     the reference server and the model detect the chips of PRESET\n"
            "                       (n150, n300, t3k, galaxy, p150, p300; v112 and later) and\n"
            "                       DEVICE_INFO replies are compared, e.g. with --vs a real server\n"
            "  --no-spare           no second server kept started for the next restart\n"
            "  --quiet              no status line\n"
            "  --bench              measure streams per second against the reference server\n",
            FUZZ_DEFAULT_RUNS, proto_rev_names());
}

/* ---- running one stream on the server(s) ---------------------------------------------------- */

/* Runs s and returns the verdict; on FUZZ_FAIL sig holds the signature and detail the story. */
static fuzz_verdict camp_run(campaign *c, const stream *s, char *sig, size_t siglen, sbuf *detail) {
    sig[0] = '\0';
    fuzz_verdict va = fuzz_exec_run(c->a, s, &c->oa);
    if (!c->b) {
        if (va == FUZZ_FAIL || va == FUZZ_ERROR || va == FUZZ_INCONCLUSIVE) {
            snprintf(sig, siglen, "%s", c->oa.signature);
            sbuf_puts(detail, sbuf_str(&c->oa.detail));
        }
        return va;
    }
    fuzz_verdict vb = fuzz_exec_run(c->b, s, &c->ob);
    if (va == FUZZ_ERROR || vb == FUZZ_ERROR) {
        sbuf_puts(detail, sbuf_str(va == FUZZ_ERROR ? &c->oa.detail : &c->ob.detail));
        return FUZZ_ERROR;
    }
    if (va == FUZZ_FAIL || vb == FUZZ_FAIL) {
        fuzz_outcome *o = va == FUZZ_FAIL ? &c->oa : &c->ob;
        snprintf(sig, siglen, "%s-%.100s", va == FUZZ_FAIL ? "a" : "b", o->signature);
        sbuf_printf(detail, "server %s: %s", va == FUZZ_FAIL ? "A" : "B", sbuf_str(&o->detail));
        return FUZZ_FAIL;
    }
    if (va == FUZZ_INCONCLUSIVE || vb == FUZZ_INCONCLUSIVE)
        return FUZZ_INCONCLUSIVE;
    if (fuzz_observations_compare(c->rev, &c->oa, &c->ob, sig, siglen, detail) != 0) {
        fuzz_exec_invalidate(c->a);
        fuzz_exec_invalidate(c->b);
        return FUZZ_FAIL;
    }
    return FUZZ_PASS;
}

/* 1 if s closes a connection abruptly: the server may die of it after the final check. */
static int stream_has_abort(const stream *s) {
    for (size_t i = 0; i < s->nrecords; i++)
        if (s->records[i].op == STREAM_OP_CLOSE && (s->records[i].flags & STREAM_FLAG_ABORT))
            return 1;
    return 0;
}

/* camp_run, then (for a stream with abrupt closes) a short wait for a late death. */
static fuzz_verdict camp_run_settled(campaign *c, const stream *s, char *sig, size_t siglen, sbuf *detail) {
    fuzz_verdict v = camp_run(c, s, sig, siglen, detail);
    if (v != FUZZ_PASS || c->b || !stream_has_abort(s))
        return v;
    if (fuzz_exec_settle(c->a, c->settle_ms, &c->oa) == FUZZ_FAIL) {
        snprintf(sig, siglen, "%s", c->oa.signature);
        sbuf_puts(detail, sbuf_str(&c->oa.detail));
        return FUZZ_FAIL;
    }
    return v;
}

typedef struct {
    campaign *c;
    const char *cls; /* the failure class being minimised */
    int tries;
} pred_ctx;

/* Holds when cand fails in the class within ctx->tries runs (a race may hide it once). */
static int pred_same_class(void *ctx, const stream *cand) {
    pred_ctx *p = ctx;
    for (int t = 0; t < p->tries; t++) {
        char sig[128];
        sbuf detail = SBUF_INIT;
        fuzz_verdict v = camp_run_settled(p->c, cand, sig, sizeof sig, &detail);
        sbuf_release(&detail);
        if (v == FUZZ_ERROR)
            return -1;
        if (v == FUZZ_FAIL && fuzz_signature_in_class(sig, p->cls))
            return 1;
    }
    return 0;
}

/* What `times` runs of s on freshly started servers showed: the commonest signature of class
 * cls (any class when cls is NULL) in best, how often it came, and every signature seen. */
typedef struct {
    char best[128];
    int best_count;
    int in_class;
    char seen[8][128];
    int count[8];
    int nseen;
} confirm_result;

static void camp_confirm(campaign *c, const stream *s, const char *cls, int times, confirm_result *cr) {
    memset(cr, 0, sizeof *cr);
    char err[512];
    for (int i = 0; i < times; i++) {
        if (fuzz_exec_restart(c->a, err, sizeof err) != 0 ||
            (c->b && fuzz_exec_restart(c->b, err, sizeof err) != 0))
            return;
        char got[128];
        sbuf detail = SBUF_INIT;
        fuzz_verdict v = camp_run_settled(c, s, got, sizeof got, &detail);
        sbuf_release(&detail);
        if (v != FUZZ_FAIL || (cls && !fuzz_signature_in_class(got, cls)))
            continue;
        cr->in_class++;
        int k = 0;
        while (k < cr->nseen && strcmp(cr->seen[k], got) != 0)
            k++;
        if (k == cr->nseen && k < 8)
            snprintf(cr->seen[cr->nseen++], sizeof cr->seen[0], "%s", got);
        if (k < 8 && ++cr->count[k] > cr->best_count) {
            cr->best_count = cr->count[k];
            snprintf(cr->best, sizeof cr->best, "%s", got);
        }
    }
}

/* ---- findings ------------------------------------------------------------------------------ */

static int mkdir_p(const char *dir) {
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", dir);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buf, 0777) == 0 || errno == EEXIST ? 0 : -1;
}

static void camp_repro_command(const campaign *c, const char *path, sbuf *out) {
    sbuf_printf(out, "allocsim replay %s", path);
    if (c->server)
        sbuf_printf(out, " --server '%s'", c->server);
    if (c->timeout_ms != 5000)
        sbuf_printf(out, " --timeout %" PRIu64 "ms", c->timeout_ms);
    if (c->vs)
        sbuf_printf(out, " --vs '%s'", c->vs);
    if (c->devices)
        sbuf_printf(out, " --devices %s", c->devices);
}

/* Writes OUT/<sig>.allocstream and OUT/<sig>.txt. Returns 0 or -1 with err. */
static int camp_write(campaign *c, finding *f, stream *s, const char *detail, char *err, size_t errlen) {
    if (mkdir_p(c->out) != 0) {
        snprintf(err, errlen, "%s: %s", c->out, strerror(errno));
        return -1;
    }
    /* One file per root cause: a second cause with the same signature gets a suffix. */
    char name[160];
    snprintf(name, sizeof name, "%s", f->sig);
    for (int k = 2;; k++) {
        int taken = 0;
        for (size_t i = 0; i < c->nfound; i++)
            if (&c->found[i] != f && !c->found[i].known && c->found[i].path[0]) {
                const char *base = strrchr(c->found[i].path, '/');
                char other[160];
                snprintf(other, sizeof other, "%s", base ? base + 1 : c->found[i].path);
                other[strcspn(other, ".")] = '\0';
                taken |= strcmp(other, name) == 0;
            }
        if (!taken)
            break;
        snprintf(name, sizeof name, "%s-%d", f->sig, k);
    }
    snprintf(f->path, sizeof f->path, "%s/%s.allocstream", c->out, name);
    if (stream_save(s, f->path, err, errlen) != 0)
        return -1;
    char txt[PATH_MAX + 8];
    snprintf(txt, sizeof txt, "%s/%s.txt", c->out, name);
    FILE *fp = fopen(txt, "w");
    if (!fp) {
        snprintf(err, errlen, "%.400s: %s", txt, strerror(errno));
        return -1;
    }
    sbuf b = SBUF_INIT;
    sbuf_printf(&b, "# failure %s\n# found by: allocsim fuzz --seed %" PRIu64 " --protocol %s%s, stream %" PRIu64 "\n",
                f->sig, c->seed, proto_rev_get(c->rev)->name, c->swarm ? " --swarm" : "", f->first_stream);
    sbuf_printf(&b, "# minimised from %zu records / %zu frames to %zu records / %zu frames (%" PRIu32 " tests); "
                    "confirmed %d of %d runs on a fresh server\n",
                f->records_before, f->frames_before, f->records_after, f->frames_after, f->min_tests,
                f->confirmed, f->confirm_runs);
    sbuf_printf(&b, "# root cause: %s\n", f->key);
    if (f->sigs && f->sigs[0])
        sbuf_printf(&b, "# signatures: %s\n", f->sigs);
    sbuf_puts(&b, "# reproduce: ");
    camp_repro_command(c, f->path, &b);
    sbuf_puts(&b, "\n#\n# what happened (first run):\n");
    for (const char *p = detail; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        sbuf_printf(&b, "#   %.*s\n", (int)len, p);
        p = nl ? nl + 1 : p + len;
    }
    sbuf_puts(&b, "\n");
    fuzz_stream_render(s, &b);
    int ok = fputs(sbuf_str(&b), fp) >= 0;
    ok &= fclose(fp) == 0;
    sbuf_release(&b);
    if (!ok) {
        snprintf(err, errlen, "%.400s: write failed", txt);
        return -1;
    }
    return 0;
}

static void status_line(campaign *c, int final);

static finding *camp_add_finding(campaign *c) {
    if (c->nfound == c->capfound) {
        size_t cap = c->capfound ? c->capfound * 2 : 8;
        finding *v = mem_realloc(c->found, cap * sizeof *v);
        if (!v)
            return NULL;
        c->found = v;
        c->capfound = cap;
    }
    finding *f = &c->found[c->nfound++];
    memset(f, 0, sizeof *f);
    return f;
}

static sigmap *camp_sig(campaign *c, const char *sig) {
    for (size_t i = 0; i < c->nsigs; i++)
        if (strcmp(c->sigs[i].sig, sig) == 0)
            return &c->sigs[i];
    return NULL;
}

static void camp_map_sig(campaign *c, const char *sig, long fi) {
    sigmap *m = camp_sig(c, sig);
    if (!m) {
        if (c->nsigs == c->capsigs) {
            size_t cap = c->capsigs ? c->capsigs * 2 : 16;
            sigmap *v = mem_realloc(c->sigs, cap * sizeof *v);
            if (!v)
                return;
            c->sigs = v;
            c->capsigs = cap;
        }
        m = &c->sigs[c->nsigs++];
        memset(m, 0, sizeof *m);
        snprintf(m->sig, sizeof m->sig, "%s", sig);
        m->finding = fi;
    } else if (m->finding < 0) {
        m->finding = fi;
    }
    if (fi >= 0) {
        fuzz_known tmp = {.sigs = c->found[fi].sigs};
        if (fuzz_known_add_sig(&tmp, sig) == 0)
            c->found[fi].sigs = tmp.sigs;
    }
}

/* The finding of a --known root cause with this key or signature, created on first use. */
static long camp_known_finding(campaign *c, const fuzz_known *k) {
    for (size_t i = 0; i < c->nfound; i++)
        if (c->found[i].known && strcmp(c->found[i].key, k->key) == 0)
            return (long)i;
    finding *f = camp_add_finding(c);
    if (!f)
        return -1;
    f->known = 1;
    snprintf(f->sig, sizeof f->sig, "%s", k->sig);
    snprintf(f->key, sizeof f->key, "%s", k->key);
    snprintf(f->path, sizeof f->path, "%s", k->path);
    f->frames_after = k->frames;
    return (long)(f - c->found);
}

static void camp_say(campaign *c, const char *fmt, const char *a, const char *b) {
    if (c->quiet)
        return;
    if (c->tty)
        fputs("\r\033[K", stderr);
    fprintf(stderr, fmt, a, b);
}

/* One cause of the failing stream `s`: minimises it within class cls, confirms, keys it and
 * files it (a new finding, or a new signature of a finding or a known cause). *removed gets
 * the record-level reproducer, for the caller to take it out of the stream. Returns the
 * finding's index or -1. */
static long camp_one_cause(campaign *c, const stream *s, uint64_t n, const char *sig, const char *cls,
                           const char *detail, size_t fail_record, stream *removed, int *have_removed) {
    pred_ctx pc = {c, cls, strstr(cls, "mismatch") ? 1 : c->tries};
    stream coarse, best;
    int have_coarse = 0, have_best = 0;
    uint32_t tests = 0;
    char err[512];
    *have_removed = 0;
    if (c->minimise) {
        fuzz_min_config mc = {c->min_budget / 2, fail_record, 0, 1};
        if (fuzz_minimise(s, pred_same_class, &pc, &mc, &coarse, err, sizeof err) == 0 || coarse.nrecords)
            have_coarse = 1;
        tests += mc.tests;
        fuzz_min_config mf = {c->min_budget - mc.tests, SIZE_MAX, 0, 0};
        if (have_coarse && (fuzz_minimise(&coarse, pred_same_class, &pc, &mf, &best, err, sizeof err) == 0 ||
                            best.nrecords))
            have_best = 1;
        tests += mf.tests;
    }
    const stream *keep = have_best ? &best : have_coarse ? &coarse : s;
    confirm_result cr;
    camp_confirm(c, keep, cls, c->confirm > 0 ? c->confirm : 1, &cr);
    if (cr.in_class == 0 && keep != s) { /* the minimised stream does not hold: keep the original */
        keep = s;
        camp_confirm(c, keep, cls, c->confirm > 0 ? c->confirm : 1, &cr);
    }
    const char *own = cr.best_count ? cr.best : sig;
    char key[17] = "";
    long fi = -1;
    if (fuzz_root_key(keep, key) == 0) {
        for (size_t i = 0; i < c->nfound && fi < 0; i++)
            if (strcmp(c->found[i].key, key) == 0)
                fi = (long)i;
        const fuzz_known *k = fi < 0 ? fuzz_known_find(&c->known, key) : NULL;
        if (k)
            fi = camp_known_finding(c, k);
    }
    if (fi >= 0) {
        camp_say(c, "fuzz:   same root cause as %s%s\n", c->found[fi].sig,
                 c->found[fi].known ? " (known)" : "");
    } else {
        finding *f = camp_add_finding(c);
        if (f) {
            fi = (long)(f - c->found);
            snprintf(f->sig, sizeof f->sig, "%s", own);
            snprintf(f->key, sizeof f->key, "%s", key);
            f->first_stream = n;
            const char *nl = strchr(detail, '\n');
            f->summary = mem_strndup(detail, nl ? (size_t)(nl - detail) : strlen(detail));
            f->records_before = s->nrecords;
            f->frames_before = fuzz_stream_frames(s);
            f->records_after = keep->nrecords;
            f->frames_after = fuzz_stream_frames(keep);
            f->min_tests = tests;
            f->confirm_runs = c->confirm > 0 ? c->confirm : 1;
            f->confirmed = cr.best_count;
            camp_map_sig(c, own, fi);
            stream copy;
            if (fuzz_stream_copy(keep, &copy) == 0) {
                if (camp_write(c, f, &copy, detail, err, sizeof err) != 0) {
                    fprintf(stderr, "fuzz: cannot write the reproducer: %s\n", err);
                    f->path[0] = '\0';
                }
                stream_release(&copy);
            }
            if (!c->quiet)
                fprintf(stderr, "fuzz:   %s: minimised to %zu frames in %zu records (%" PRIu32
                                " tests), confirmed %d/%d%s%s\n",
                        f->sig, f->frames_after, f->records_after, f->min_tests, f->confirmed,
                        f->confirm_runs, f->path[0] ? ", written to " : "", f->path);
        }
    }
    for (int i = 0; fi >= 0 && i < cr.nseen; i++)
        camp_map_sig(c, cr.seen[i], fi);
    if (fi >= 0 && sig[0]) /* the symptom that led here belongs to this cause too */
        camp_map_sig(c, sig, fi);
    if (have_coarse && fi >= 0) {
        *removed = coarse;
        *have_removed = 1;
    } else if (have_coarse) {
        stream_release(&coarse);
    }
    if (have_best)
        stream_release(&best);
    return fi;
}

/* A stream failed with a signature not seen before: triage it into root causes. prev is the
 * stream before it (a late death can be noticed one stream late), or NULL. */
static void camp_new_failure(campaign *c, const stream *s, const stream *prev, uint64_t n, const char *sig,
                             const char *detail, size_t fail_record) {
    char first_line[512];
    snprintf(first_line, sizeof first_line, "%.*s", (int)strcspn(detail, "\n"), detail);
    camp_say(c, "fuzz: new failure %s: %s\n", sig, first_line);
    char cls[32];
    fuzz_signature_class(sig, cls, sizeof cls);
    /* Once a hang is known, a server that has read every byte and stays silent for a quarter
     * second is hung: triage and later hangs no longer wait the whole timeout. */
    if (strstr(cls, "hang") && c->timeout_ms > FUZZ_QUIET_MS) {
        fuzz_exec_set_quiet(c->a, FUZZ_QUIET_MS);
        if (c->b)
            fuzz_exec_set_quiet(c->b, FUZZ_QUIET_MS);
    }
    /* A failure that does not come back on a fresh server (timing, an earlier stream's doing)
     * is tried with the stream before it; if neither holds it is counted, not minimised. */
    confirm_result cr;
    const stream *src = s;
    camp_confirm(c, s, cls, c->tries, &cr);
    if (cr.in_class == 0 && prev) {
        camp_confirm(c, prev, cls, c->tries, &cr);
        if (cr.in_class) {
            src = prev;
            fail_record = SIZE_MAX;
            n = n ? n - c->shard_n : 0;
        }
    }
    if (cr.in_class == 0) {
        camp_say(c, "fuzz:   %s does not come back on a fresh server%s\n", sig, ": counted, not minimised");
        camp_map_sig(c, sig, -1);
        return;
    }
    stream cur;
    if (fuzz_stream_copy(src, &cur) != 0)
        return;
    long first = -1;
    for (int round = 0; round < c->max_roots; round++) {
        char rsig[128];
        snprintf(rsig, sizeof rsig, "%s", round == 0 ? sig : "");
        if (round > 0) { /* anything left in the rest of the stream? */
            camp_confirm(c, &cur, NULL, c->tries, &cr);
            if (cr.in_class == 0)
                break;
            snprintf(rsig, sizeof rsig, "%s", cr.best);
            fuzz_signature_class(rsig, cls, sizeof cls);
            camp_say(c, "fuzz:   the rest of the stream fails too: %s%s\n", rsig, "");
        }
        stream removed, rest;
        int have_removed = 0;
        char rest_detail[256];
        snprintf(rest_detail, sizeof rest_detail,
                 "%s in what is left of the stream once the cause of %s is taken out", rsig, sig);
        long fi = camp_one_cause(c, &cur, n, rsig, cls, round == 0 ? detail : rest_detail,
                                 round == 0 ? fail_record : SIZE_MAX, &removed, &have_removed);
        if (round == 0)
            first = fi;
        long dropped = have_removed ? fuzz_stream_without(&cur, &removed, &rest) : 0;
        if (have_removed)
            stream_release(&removed);
        if (dropped <= 0)
            break;
        stream_release(&cur);
        cur = rest;
    }
    stream_release(&cur);
    /* The signature that started it all belongs to the first cause unless a later one showed it. */
    if (!camp_sig(c, sig) || camp_sig(c, sig)->finding < 0)
        camp_map_sig(c, sig, first);
    status_line(c, 0);
}

/* ---- status -------------------------------------------------------------------------------- */

static void status_line(campaign *c, int final) {
    if (c->quiet)
        return;
    double since = seconds_since(&c->last_status);
    if (!final && since * 1000 < (c->tty ? FUZZ_STATUS_TTY_MS : FUZZ_STATUS_LOG_MS))
        return;
    clock_gettime(CLOCK_MONOTONIC, &c->last_status);
    double el = seconds_since(&c->start);
    double rate = c->fuzz_seconds > 0 ? (double)c->execs / c->fuzz_seconds : 0.0;
    char line[256];
    snprintf(line, sizeof line,
             "fuzz: execs %" PRIu64 "  %.0f/s  root causes %zu (%" PRIu64 " failing streams)  inconclusive %" PRIu64 "  elapsed %.0fs",
             c->execs, rate, c->nfound, c->failures, c->inconclusive, el);
    if (c->tty)
        fprintf(stderr, "\r\033[K%s%s", line, final ? "\n" : "");
    else
        fprintf(stderr, "%s\n", line);
    fflush(stderr);
}

/* ---- options ------------------------------------------------------------------------------- */

static int parse_u64(const char *s, uint64_t *out) {
    if (!s || !*s)
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || *end || s[0] == '-')
        return -1;
    *out = v;
    return 0;
}

static int parse_args(campaign *c, int argc, char **argv) {
    int have_seed = 0, transport = 1, have_features = 0, have_runs = 0;
    char err[512];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED_VALUE()                                                                   \
    do {                                                                               \
        if (!v) {                                                                      \
            fprintf(stderr, "allocsim fuzz: %s: expected a value, found the end\n", a); \
            return -1;                                                                 \
        }                                                                              \
        i++;                                                                           \
    } while (0)
        uint64_t u;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fuzz_usage(stdout);
            return 1;
        } else if (strcmp(a, "--seed") == 0) {
            NEED_VALUE();
            if (parse_u64(v, &c->seed) != 0) {
                fprintf(stderr, "allocsim fuzz: --seed: expected an unsigned number, found '%s'\n", v);
                return -1;
            }
            have_seed = 1;
        } else if (strcmp(a, "--runs") == 0) {
            NEED_VALUE();
            if (parse_u64(v, &c->runs) != 0 || c->runs == 0) {
                fprintf(stderr, "allocsim fuzz: --runs: expected a positive number, found '%s'\n", v);
                return -1;
            }
            have_runs = 1;
        } else if (strcmp(a, "--time") == 0) {
            NEED_VALUE();
            if (fuzz_parse_duration(v, &c->time_ms, err, sizeof err) != 0 || c->time_ms == 0) {
                fprintf(stderr, "allocsim fuzz: --time: %s\n", err);
                return -1;
            }
        } else if (strcmp(a, "--timeout") == 0) {
            NEED_VALUE();
            if (fuzz_parse_duration(v, &c->timeout_ms, err, sizeof err) != 0 || c->timeout_ms == 0 ||
                c->timeout_ms > INT32_MAX) {
                fprintf(stderr, "allocsim fuzz: --timeout: %s\n", err);
                return -1;
            }
        } else if (strcmp(a, "--protocol") == 0) {
            NEED_VALUE();
            if (proto_rev_parse(v, &c->rev) != 0) {
                fprintf(stderr, "allocsim fuzz: --protocol: expected one of %s, found '%s'\n",
                        proto_rev_names(), v);
                return -1;
            }
        } else if (strcmp(a, "--server") == 0) {
            NEED_VALUE();
            c->server = v;
        } else if (strcmp(a, "--vs") == 0) {
            NEED_VALUE();
            c->vs = v;
        } else if (strcmp(a, "--out") == 0) {
            NEED_VALUE();
            c->out = v;
        } else if (strcmp(a, "--shard") == 0) {
            NEED_VALUE();
            unsigned si, sn;
            char extra;
            if (sscanf(v, "%u/%u%c", &si, &sn, &extra) != 2 || sn == 0 || si >= sn) {
                fprintf(stderr, "allocsim fuzz: --shard: expected I/N with 0 <= I < N, found '%s'\n", v);
                return -1;
            }
            c->shard_i = si;
            c->shard_n = sn;
        } else if (strcmp(a, "--features") == 0) {
            NEED_VALUE();
            if (fuzz_features_parse(v, &c->features, err, sizeof err) != 0) {
                fprintf(stderr, "allocsim fuzz: --features: %s\n", err);
                return -1;
            }
            have_features = 1;
        } else if (strcmp(a, "--max-ops") == 0) {
            NEED_VALUE();
            if (parse_u64(v, &u) != 0 || u == 0 || u > 100000) {
                fprintf(stderr, "allocsim fuzz: --max-ops: expected 1 to 100000, found '%s'\n", v);
                return -1;
            }
            c->max_ops = (uint32_t)u;
        } else if (strcmp(a, "--confirm") == 0) {
            NEED_VALUE();
            if (parse_u64(v, &u) != 0 || u > 100) {
                fprintf(stderr, "allocsim fuzz: --confirm: expected 0 to 100, found '%s'\n", v);
                return -1;
            }
            c->confirm = (int)u;
        } else if (strcmp(a, "--known") == 0) {
            NEED_VALUE();
            if (fuzz_known_load(&c->known, v, err, sizeof err) < 0) {
                fprintf(stderr, "allocsim fuzz: --known: %s\n", err);
                return -1;
            }
        } else if (strcmp(a, "--tries") == 0) {
            NEED_VALUE();
            if (parse_u64(v, &u) != 0 || u == 0 || u > 100) {
                fprintf(stderr, "allocsim fuzz: --tries: expected 1 to 100, found '%s'\n", v);
                return -1;
            }
            c->tries = (int)u;
        } else if (strcmp(a, "--min-budget") == 0) {
            NEED_VALUE();
            if (parse_u64(v, &u) != 0 || u < 2 || u > 100000) {
                fprintf(stderr, "allocsim fuzz: --min-budget: expected 2 to 100000, found '%s'\n", v);
                return -1;
            }
            c->min_budget = (uint32_t)u;
        } else if (strcmp(a, "--swarm") == 0) {
            c->swarm = 1;
        } else if (strcmp(a, "--no-transport-faults") == 0) {
            transport = 0;
        } else if (strcmp(a, "--no-minimise") == 0 || strcmp(a, "--no-minimize") == 0) {
            c->minimise = 0;
        } else if (strcmp(a, "--check-device-info") == 0) {
            c->check_device_info = 1;
        } else if (strcmp(a, "--devices") == 0) {
            NEED_VALUE();
            dev_config dc;
            if (dev_preset(v, &dc) != 0) {
                fprintf(stderr, "allocsim fuzz: --devices: expected one of %s, found '%s'\n", dev_preset_names(), v);
                return -1;
            }
            c->devices = v;
            c->check_device_info = 1;
        } else if (strcmp(a, "--quiet") == 0) {
            c->quiet = 1;
        } else if (strcmp(a, "--no-spare") == 0) {
            c->warm_spare = 0;
        } else if (strcmp(a, "--bench") == 0) {
            c->bench = 1;
        } else {
            fprintf(stderr, "allocsim fuzz: expected an option (see --help), found '%s'\n", a);
            return -1;
        }
#undef NEED_VALUE
    }
    if (!have_seed && !c->bench) {
        fprintf(stderr, "allocsim fuzz: expected --seed N (the campaign seed)\n");
        return -1;
    }
    if (c->devices && c->rev == PROTO_V72) {
        fprintf(stderr, "allocsim fuzz: --devices: expected --protocol v112, v112-hex, v144 or v144-256, "
                        "found v72 (no DEVICE_INFO)\n");
        return -1;
    }
    if (have_runs && c->time_ms) {
        fprintf(stderr, "allocsim fuzz: expected --runs or --time, found both\n");
        return -1;
    }
    if (c->bench && !have_runs && !c->time_ms)
        c->time_ms = FUZZ_BENCH_MS;
    if (!have_runs && !c->time_ms)
        c->runs = FUZZ_DEFAULT_RUNS;
    if (!have_features)
        c->features = FUZZ_F_ALL;
    if (!transport)
        c->features &= ~FUZZ_F_TRANSPORT;
    return 0;
}

/* The server of the reference build, judged with its own dead-PID timer off; a --server
 * command keeps whatever timers it has. */
static int camp_exec(campaign *c, const char *cmd, int differential, fuzz_exec **out) {
    fuzz_exec_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.rev = c->rev;
    cfg.command = cmd;
    cfg.extra_args = cmd ? NULL : reference_args;
    cfg.timeout_ms = (int)c->timeout_ms;
    cfg.oracle = !differential;
    cfg.check_device_info = cmd || differential ? c->check_device_info : 1;
    cfg.devices = c->devices;
    cfg.warm_spare = c->warm_spare;
    cfg.background_cleanup = cmd && !fuzz_command_disables_cleanup(cmd);
    cfg.final_check = 1;
    cfg.record_transcript = differential;
    char err[2048];
    if (fuzz_exec_new(&cfg, out, err, sizeof err) != 0) {
        fprintf(stderr, "allocsim fuzz: cannot start the server%s%s: %s\n", cmd ? " " : "", cmd ? cmd : "", err);
        return -1;
    }
    const char *note = fuzz_exec_note(*out);
    if (note && !c->quiet)
        fprintf(stderr, "fuzz: note: %s\n", note);
    return 0;
}

static void camp_summary(campaign *c) {
    double rate = c->fuzz_seconds > 0 ? (double)c->execs / c->fuzz_seconds : 0.0;
    size_t nnew = 0, nknown = 0;
    for (size_t i = 0; i < c->nfound; i++)
        c->found[i].known ? nknown++ : nnew++;
    printf("fuzz: %" PRIu64 " streams (seed %" PRIu64 ", %s%s, shard %u/%u) in %.1f s, %" PRIu64
           " inconclusive, %" PRIu64 " failing streams: %zu signature%s, %zu root cause%s",
           c->execs, c->seed, proto_rev_get(c->rev)->name, c->swarm ? ", swarm" : "", c->shard_i,
           c->shard_n, seconds_since(&c->start), c->inconclusive, c->failures, c->nsigs,
           c->nsigs == 1 ? "" : "s", nnew + nknown, nnew + nknown == 1 ? "" : "s");
    if (nknown)
        printf(" (%zu known, %zu new)", nknown, nnew);
    printf("\n");
    for (size_t i = 0; i < c->nfound; i++) {
        finding *f = &c->found[i];
        printf("\n  %s%s: %" PRIu64 " hit%s", f->sig, f->known ? " (known)" : "", f->hits,
               f->hits == 1 ? "" : "s");
        if (!f->known)
            printf(", first at stream %" PRIu64, f->first_stream);
        printf(", root cause %s\n", f->key);
        if (f->sigs && strchr(f->sigs, ' '))
            printf("    signatures: %s\n", f->sigs);
        if (f->summary && f->summary[0])
            printf("    %s\n", f->summary);
        if (!f->known)
            printf("    reproducer: %zu frames in %zu records (from %zu frames), confirmed %d/%d on a fresh server\n",
                   f->frames_after, f->records_after, f->frames_before, f->confirmed, f->confirm_runs);
        if (f->path[0]) {
            sbuf cmd = SBUF_INIT;
            camp_repro_command(c, f->path, &cmd);
            printf("    reproduce: %s\n", sbuf_str(&cmd));
            sbuf_release(&cmd);
        }
    }
    for (size_t i = 0; i < c->nsigs; i++)
        if (c->sigs[i].finding < 0)
            printf("\n  %s: %" PRIu64 " hit%s, not reproducible on a fresh server (no reproducer)\n",
                   c->sigs[i].sig, c->sigs[i].hits, c->sigs[i].hits == 1 ? "" : "s");
    printf("bench fuzz_streams_per_s %.0f streams/s\n", rate);
}

int cmd_fuzz(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "merge") == 0)
        return cmd_fuzz_merge(argc - 1, argv + 1);
    for (int i = 1; i + 1 < argc; i++) /* --target shm: the SHM region fuzzer (cmd_shm_fuzz.c) */
        if (strcmp(argv[i], "--target") == 0 && strcmp(argv[i + 1], "shm") == 0)
            return cmd_fuzz_shm(argc, argv);
    campaign c;
    memset(&c, 0, sizeof c);
    c.rev = PROTO_V72;
    c.shard_n = 1;
    c.out = "fuzz-findings";
    c.timeout_ms = 5000;
    c.confirm = 3;
    c.minimise = 1;
    c.tries = 3;
    c.min_budget = 400;
    c.max_roots = 4;
    c.settle_ms = 20;
    c.warm_spare = 1;
    int pr = parse_args(&c, argc, argv);
    if (pr != 0)
        return pr > 0 ? 0 : 2;
    c.tty = isatty(2);
    c.gen.rev = c.rev;
    c.gen.seed = c.seed;
    c.gen.features = c.features;
    c.gen.swarm = c.swarm;
    c.gen.max_ops = c.max_ops;
    fuzz_outcome_init(&c.oa);
    fuzz_outcome_init(&c.ob);
    if (camp_exec(&c, c.server, c.vs != NULL, &c.a) != 0)
        return 3;
    if (c.vs && camp_exec(&c, c.vs, 1, &c.b) != 0) {
        fuzz_exec_free(c.a);
        return 3;
    }
    if (!c.quiet) {
        char feats[512];
        fuzz_features_format(c.features, feats, sizeof feats);
        fprintf(stderr, "fuzz: seed %" PRIu64 ", protocol %s, server %s%s%s, features %s%s\n", c.seed,
                proto_rev_get(c.rev)->name, c.server ? c.server : "allocsim-server (reference)",
                c.vs ? " vs " : "", c.vs ? c.vs : "", feats, c.swarm ? " (swarm)" : "");
    }
    if (c.vs && !c.check_device_info && !c.quiet)
        fprintf(stderr, "fuzz: note: DEVICE_INFO replies are not compared in differential mode (a server "
                        "detects its machine's devices); --check-device-info compares them, e.g. --vs "
                        "\"allocsim-server --devices PRESET ...\" against a real server on that machine\n");
    clock_gettime(CLOCK_MONOTONIC, &c.start);
    c.last_status = c.start;
    int status = 0;
    char sig[128];
    sbuf detail = SBUF_INIT;
    stream prev;
    int have_prev = 0;
    for (uint64_t k = 0;; k++) {
        uint64_t n = c.shard_i + k * c.shard_n;
        if (c.runs && n >= c.runs)
            break;
        if (c.time_ms && seconds_since(&c.start) * 1000.0 >= (double)c.time_ms)
            break;
        stream s;
        char err[256];
        if (fuzz_generate(&c.gen, n, &s, err, sizeof err) != 0) {
            fprintf(stderr, "allocsim fuzz: %s\n", err);
            status = 3;
            break;
        }
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        sbuf_reset(&detail);
        fuzz_verdict v = camp_run(&c, &s, sig, sizeof sig, &detail);
        c.fuzz_seconds += seconds_since(&t0);
        c.execs++;
        if (v == FUZZ_ERROR) {
            if (c.tty && !c.quiet)
                fputs("\n", stderr);
            fprintf(stderr, "allocsim fuzz: stream %" PRIu64 ": %s\n", n, sbuf_str(&detail));
            stream_release(&s);
            status = 3;
            break;
        }
        if (v == FUZZ_INCONCLUSIVE)
            c.inconclusive++;
        if (v == FUZZ_FAIL) {
            c.failures++;
            sigmap *m = camp_sig(&c, sig);
            const fuzz_known *k = m ? NULL : fuzz_known_find_sig(&c.known, sig);
            if (!m && k) /* a --known cause: counted, never minimised again */
                camp_map_sig(&c, sig, camp_known_finding(&c, k));
            else if (!m)
                camp_new_failure(&c, &s, have_prev ? &prev : NULL, n, sig, sbuf_str(&detail),
                                 c.vs ? s.nrecords : c.oa.record);
            else
                m->hits++;
            m = camp_sig(&c, sig);
            if (m && !m->hits)
                m->hits = 1;
            if (m && m->finding >= 0)
                c.found[m->finding].hits++;
        }
        if (have_prev)
            stream_release(&prev);
        prev = s;
        have_prev = 1;
        status_line(&c, 0);
    }
    if (have_prev)
        stream_release(&prev);
    sbuf_release(&detail);
    status_line(&c, 1);
    camp_summary(&c);
    fuzz_exec_free(c.a);
    fuzz_exec_free(c.b);
    fuzz_outcome_release(&c.oa);
    fuzz_outcome_release(&c.ob);
    size_t nnew = 0;
    for (size_t i = 0; i < c.nfound; i++) {
        nnew += !c.found[i].known;
        mem_free(c.found[i].summary);
        mem_free(c.found[i].sigs);
    }
    int unexplained = 0;
    for (size_t i = 0; i < c.nsigs; i++)
        unexplained |= c.sigs[i].finding < 0;
    mem_free(c.found);
    mem_free(c.sigs);
    fuzz_known_release(&c.known);
    if (status)
        return status;
    return nnew || unexplained ? 1 : 0;
}
