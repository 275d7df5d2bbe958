/* cmd_fuzz: `allocsim fuzz`, a seeded fuzzing campaign against one server, or two compared.
 *
 * Stream number n of a campaign is fuzz_generate(seed, n); a shard I/N runs the numbers
 * congruent to I modulo N, so shards split one campaign without overlap. Each stream runs on
 * a long-lived server (fuzz_exec); a failure is named by its signature, and the first stream
 * with a new signature is minimised (keeping the signature), confirmed against fresh
 * servers, and written to OUT/<signature>.allocstream with a readable .txt next to it. Later
 * hits of a known signature are only counted. The final summary lists every unique failure
 * with the command that reproduces it, and the speed as `bench fuzz_streams_per_s`.
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
#include "mem.h"
#include "sbuf.h"
#include "stream.h"

#define FUZZ_DEFAULT_RUNS 10000
#define FUZZ_BENCH_MS 5000
#define FUZZ_STATUS_TTY_MS 200
#define FUZZ_STATUS_LOG_MS 5000

typedef struct {
    char sig[128];
    uint64_t hits;
    uint64_t first_stream;
    size_t frames_before, frames_after;
    size_t records_before, records_after;
    int confirmed, confirm_runs;
    uint32_t min_tests;
    char path[PATH_MAX];
    char *summary; /* first line of the detail */
} finding;

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
    int quiet;

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
            "                     [--check-device-info] [--quiet] [--bench]\n"
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
            "  --check-device-info  compare DEVICE_INFO replies with --server too (the ledger\n"
            "                       models a machine without devices)\n"
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

typedef struct {
    campaign *c;
    const char *sig;
} pred_ctx;

static int pred_same_failure(void *ctx, const stream *cand) {
    pred_ctx *p = ctx;
    char sig[128];
    sbuf detail = SBUF_INIT;
    fuzz_verdict v = camp_run(p->c, cand, sig, sizeof sig, &detail);
    sbuf_release(&detail);
    if (v == FUZZ_ERROR)
        return -1;
    return v == FUZZ_FAIL && strcmp(sig, p->sig) == 0;
}

/* Runs s on freshly started servers `times` times; returns how often sig came back. */
static int camp_confirm(campaign *c, const stream *s, const char *sig, int times) {
    int hits = 0;
    char err[512];
    for (int i = 0; i < times; i++) {
        if (fuzz_exec_restart(c->a, err, sizeof err) != 0 ||
            (c->b && fuzz_exec_restart(c->b, err, sizeof err) != 0))
            return hits;
        char got[128];
        sbuf detail = SBUF_INIT;
        if (camp_run(c, s, got, sizeof got, &detail) == FUZZ_FAIL && strcmp(got, sig) == 0)
            hits++;
        sbuf_release(&detail);
    }
    return hits;
}

/* ---- findings ------------------------------------------------------------------------------ */

static finding *camp_find(campaign *c, const char *sig) {
    for (size_t i = 0; i < c->nfound; i++)
        if (strcmp(c->found[i].sig, sig) == 0)
            return &c->found[i];
    return NULL;
}

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
}

/* Writes OUT/<sig>.allocstream and OUT/<sig>.txt. Returns 0 or -1 with err. */
static int camp_write(campaign *c, finding *f, stream *s, const char *detail, char *err, size_t errlen) {
    if (mkdir_p(c->out) != 0) {
        snprintf(err, errlen, "%s: %s", c->out, strerror(errno));
        return -1;
    }
    snprintf(f->path, sizeof f->path, "%s/%s.allocstream", c->out, f->sig);
    if (stream_save(s, f->path, err, errlen) != 0)
        return -1;
    char txt[PATH_MAX + 8];
    snprintf(txt, sizeof txt, "%s/%s.txt", c->out, f->sig);
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

/* A stream failed with a signature not seen before: minimise, confirm, write. */
static void camp_new_finding(campaign *c, const stream *s, uint64_t n, const char *sig, const char *detail,
                             size_t fail_record) {
    if (c->nfound == c->capfound) {
        size_t cap = c->capfound ? c->capfound * 2 : 8;
        finding *v = mem_realloc(c->found, cap * sizeof *v);
        if (!v)
            return;
        c->found = v;
        c->capfound = cap;
    }
    finding *f = &c->found[c->nfound++];
    memset(f, 0, sizeof *f);
    snprintf(f->sig, sizeof f->sig, "%s", sig);
    f->hits = 1;
    f->first_stream = n;
    const char *nl = strchr(detail, '\n');
    f->summary = mem_strndup(detail, nl ? (size_t)(nl - detail) : strlen(detail));
    f->records_before = s->nrecords;
    f->frames_before = fuzz_stream_frames(s);
    if (!c->quiet) {
        if (c->tty)
            fputs("\r\033[K", stderr);
        fprintf(stderr, "fuzz: stream %" PRIu64 ": new failure %s: %s\n", n, sig, f->summary ? f->summary : "");
    }

    stream best;
    int have_best = 0;
    /* A failure that does not come back on a fresh server (timing, state left by an earlier
     * stream) cannot be minimised: say so and keep the stream as found. */
    int fresh = c->confirm > 0 ? camp_confirm(c, s, f->sig, 1) : 1;
    if (c->minimise && fresh) {
        pred_ctx pc = {c, f->sig};
        fuzz_min_config mc = {0, fail_record, 0};
        char err[256];
        if (fuzz_minimise(s, pred_same_failure, &pc, &mc, &best, err, sizeof err) == 0 || best.nrecords)
            have_best = 1;
        f->min_tests = mc.tests;
    }
    const stream *keep = have_best ? &best : s;
    f->confirm_runs = fresh ? c->confirm : 1;
    f->confirmed = fresh ? camp_confirm(c, keep, f->sig, c->confirm) : 0;
    if (have_best && f->confirmed == 0 && c->confirm > 0 && fresh) {
        /* The minimised stream does not hold on a fresh server: keep the original. */
        int orig = camp_confirm(c, s, f->sig, c->confirm);
        if (orig > 0) {
            keep = s;
            f->confirmed = orig;
        }
    }
    f->records_after = keep->nrecords;
    f->frames_after = fuzz_stream_frames(keep);
    stream copy;
    char err[512];
    if (fuzz_stream_copy(keep, &copy) == 0) {
        if (camp_write(c, f, &copy, detail, err, sizeof err) != 0) {
            fprintf(stderr, "fuzz: cannot write the reproducer: %s\n", err);
            f->path[0] = '\0';
        }
        stream_release(&copy);
    }
    if (have_best)
        stream_release(&best);
    if (!c->quiet) {
        fprintf(stderr, "fuzz:   minimised to %zu frames in %zu records (%" PRIu32 " tests), confirmed %d/%d%s%s\n",
                f->frames_after, f->records_after, f->min_tests, f->confirmed, f->confirm_runs,
                f->path[0] ? ", written to " : "", f->path);
        status_line(c, 0);
    }
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
             "fuzz: execs %" PRIu64 "  %.0f/s  unique failures %zu (%" PRIu64 " hits)  inconclusive %" PRIu64 "  elapsed %.0fs",
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
        } else if (strcmp(a, "--swarm") == 0) {
            c->swarm = 1;
        } else if (strcmp(a, "--no-transport-faults") == 0) {
            transport = 0;
        } else if (strcmp(a, "--no-minimise") == 0 || strcmp(a, "--no-minimize") == 0) {
            c->minimise = 0;
        } else if (strcmp(a, "--check-device-info") == 0) {
            c->check_device_info = 1;
        } else if (strcmp(a, "--quiet") == 0) {
            c->quiet = 1;
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
    cfg.check_device_info = cmd ? c->check_device_info : 1;
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
    printf("fuzz: %" PRIu64 " streams (seed %" PRIu64 ", %s%s, shard %u/%u) in %.1f s, %" PRIu64
           " inconclusive, %zu unique failure%s (%" PRIu64 " failing streams)\n",
           c->execs, c->seed, proto_rev_get(c->rev)->name, c->swarm ? ", swarm" : "", c->shard_i,
           c->shard_n, seconds_since(&c->start), c->inconclusive, c->nfound, c->nfound == 1 ? "" : "s",
           c->failures);
    for (size_t i = 0; i < c->nfound; i++) {
        finding *f = &c->found[i];
        printf("\n  %s: %" PRIu64 " hit%s, first at stream %" PRIu64 "\n", f->sig, f->hits,
               f->hits == 1 ? "" : "s", f->first_stream);
        if (f->summary && f->summary[0])
            printf("    %s\n", f->summary);
        printf("    reproducer: %zu frames in %zu records (from %zu frames), confirmed %d/%d on a fresh server\n",
               f->frames_after, f->records_after, f->frames_before, f->confirmed, f->confirm_runs);
        if (f->path[0]) {
            sbuf cmd = SBUF_INIT;
            camp_repro_command(c, f->path, &cmd);
            printf("    reproduce: %s\n", sbuf_str(&cmd));
            sbuf_release(&cmd);
        }
    }
    printf("bench fuzz_streams_per_s %.0f streams/s\n", rate);
}

int cmd_fuzz(int argc, char **argv) {
    campaign c;
    memset(&c, 0, sizeof c);
    c.rev = PROTO_V72;
    c.shard_n = 1;
    c.out = "fuzz-findings";
    c.timeout_ms = 5000;
    c.confirm = 3;
    c.minimise = 1;
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
    clock_gettime(CLOCK_MONOTONIC, &c.start);
    c.last_status = c.start;
    int status = 0;
    char sig[128];
    sbuf detail = SBUF_INIT;
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
            finding *f = camp_find(&c, sig);
            if (f)
                f->hits++;
            else
                camp_new_finding(&c, &s, n, sig, sbuf_str(&detail), c.vs ? s.nrecords : c.oa.record);
        }
        stream_release(&s);
        status_line(&c, 0);
    }
    sbuf_release(&detail);
    status_line(&c, 1);
    camp_summary(&c);
    fuzz_exec_free(c.a);
    fuzz_exec_free(c.b);
    fuzz_outcome_release(&c.oa);
    fuzz_outcome_release(&c.ob);
    for (size_t i = 0; i < c.nfound; i++)
        mem_free(c.found[i].summary);
    size_t nfound = c.nfound;
    mem_free(c.found);
    if (status)
        return status;
    return nfound ? 1 : 0;
}
