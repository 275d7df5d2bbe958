/* cmd_shm_fuzz: `allocsim fuzz --target shm`, the SHM region protocol fuzzer (docs/shm.md).
 *
 * Schedule number n of a campaign is shmf_generate(seed, n). Each runs with real processes
 * on a region file in a private directory (harness/shm_io) and is judged at quiescence (the
 * model's bytes, shm_check's invariants, slot ownership). Each new signature (kind@builds)
 * is minimised on the model, confirmed with real processes, and written as
 * OUT/<signature>.shmsched with an `expect` line; later hits are counted. `--replay FILE...`
 * runs reproducers: exit 0 when each still shows its expected kind and the real run agrees
 * with the model (CTest replays tests/fuzz/shm-repro/ this way). Exit status: 0 nothing found
 * (or every replay held), 1 findings (or a replay did not hold), 2 bad usage or a bad
 * reproducer, 3 the harness could not run.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmds.h"
#include "mem.h"
#include "sbuf.h"
#include "shm_fuzz.h"
#include "shm_io.h"

#define SHMFZ_MAX_SIGS 128
#define SHMFZ_SKIP 77 /* --replay: every reproducer needed what this machine refuses (CTest SKIP) */

typedef struct {
    char sig[96];
    uint64_t hits, first;
    int written;
} shmfz_sig;

static double secs_since(const struct timespec *t0) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static void shmfz_usage(FILE *f) {
    fprintf(f, "usage: allocsim fuzz --target shm --seed N [--runs N | --time DURATION] [--shm-layout LIST]\n"
               "                     [--safe] [--no-pid-reuse] [--max-ops N] [--out DIR] [--shm-dir DIR] [--quiet]\n"
               "       allocsim fuzz --target shm --replay FILE.shmsched... [--shm-dir DIR]\n"
               "--shm-layout: all (default), mix, or a comma list of v1-K, v1-N, v1-A, v2a, v2b, v3, v4a, v4b, v4c.\n"
               "--safe: v4c writers, the safe reader, kills only between operations (should find nothing).\n"
               "--no-pid-reuse: never give a new process a dead one's pid (schedules as before pid reuse).\n"
               "--replay exits 77 when every file was skipped (pid reuse without a private PID namespace).\n");
}

static int parse_duration(const char *s, double *out) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || v <= 0)
        return -1;
    if (!strcmp(end, "s") || !*end)
        *out = v;
    else if (!strcmp(end, "m"))
        *out = v * 60;
    else if (!strcmp(end, "h"))
        *out = v * 3600;
    else
        return -1;
    return 0;
}

static void print_kinds(const shmf_outcome *o, const char *prefix) {
    for (int k = 0; k < SHMF_K_COUNT; k++)
        if (o->kinds & (1u << k))
            printf("%s%s: %s\n", prefix, shmf_kind_name(k), o->detail[k]);
}

static int replay(char **files, int n, const char *dir) {
    int worst = 0, skipped = 0, probed = 0;
    char why[256] = "";
    for (int i = 0; i < n; i++) {
        FILE *f = fopen(files[i], "rb");
        if (!f) {
            fprintf(stderr, "allocsim fuzz: %s: cannot open: %s\n", files[i], strerror(errno));
            worst = 2;
            continue;
        }
        char *buf = mem_alloc(65536);
        size_t len = buf ? fread(buf, 1, 65535, f) : 0;
        int toolong = buf && fgetc(f) != EOF;
        fclose(f);
        shmf_schedule s;
        int expect;
        char err[256];
        if (!buf || toolong || shmf_parse(buf, len, &s, &expect, err, sizeof err) != 0) {
            fprintf(stderr, "allocsim fuzz: %s: %s\n", files[i], !buf ? "out of memory" : toolong ? "larger than 64 KiB" : err);
            mem_free(buf);
            worst = 2;
            continue;
        }
        mem_free(buf);
        if (shmf_uses_pid_reuse(&s)) {
            if (!probed)
                probed = shmf_pidns_probe(why, sizeof why) == 0 ? 1 : -1;
            if (probed < 0) {
                printf("%s: SKIP: pid reuse needs a private PID namespace: %s\n", files[i], why);
                skipped++;
                continue;
            }
        }
        shmf_outcome *o = mem_alloc(sizeof *o);
        if (!o || shmf_run_real(&s, dir, o, err, sizeof err) != 0) {
            fprintf(stderr, "allocsim fuzz: %s: %s\n", files[i], o ? err : "out of memory");
            mem_free(o);
            return 3;
        }
        int bad = (o->kinds >> SHMF_K_MODEL) & 1 || (o->kinds >> SHMF_K_HARNESS) & 1;
        int held = expect >= 0 ? ((o->kinds >> expect) & 1) && !bad : o->kinds == 0;
        printf("%s: %s%s%s\n", files[i], held ? "held" : "DID NOT HOLD", expect >= 0 ? ", expected " : "",
               expect >= 0 ? shmf_kind_name(expect) : "");
        print_kinds(o, "  ");
        if (!held && worst < 1)
            worst = 1;
        mem_free(o);
    }
    return worst == 0 && skipped == n ? SHMFZ_SKIP : worst;
}

static int mkdir_p(const char *d) {
    char p[4096];
    snprintf(p, sizeof p, "%s", d);
    for (char *c = p + 1; *c; c++) {
        if (*c == '/') {
            *c = '\0';
            mkdir(p, 0777);
            *c = '/';
        }
    }
    return mkdir(p, 0777) == 0 || errno == EEXIST ? 0 : -1;
}

int cmd_fuzz_shm(int argc, char **argv) {
    uint64_t seed = 0, runs = 0;
    int have_seed = 0, quiet = 0, nreplay = 0;
    double time_s = 0;
    const char *out = "fuzz-findings", *shm_dir = NULL;
    shmf_gen_options go = {"all", 0, 14, 1};
    char **rep = mem_calloc((size_t)argc + 1, sizeof *rep);
    if (!rep)
        return 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end;
        if (!strcmp(a, "--target") && v) {
            i++;
        } else if (!strcmp(a, "--seed") && v) {
            seed = strtoull(v, &end, 0);
            if (*end || !*v)
                goto usage;
            have_seed = 1;
            i++;
        } else if (!strcmp(a, "--runs") && v) {
            runs = strtoull(v, &end, 10);
            if (*end || !*v || !runs)
                goto usage;
            i++;
        } else if (!strcmp(a, "--time") && v) {
            if (parse_duration(v, &time_s) != 0)
                goto usage;
            i++;
        } else if (!strcmp(a, "--shm-layout") && v) {
            go.layouts = v;
            i++;
        } else if (!strcmp(a, "--max-ops") && v) {
            go.max_ops = atoi(v);
            if (go.max_ops < 1)
                goto usage;
            i++;
        } else if (!strcmp(a, "--out") && v) {
            out = v;
            i++;
        } else if (!strcmp(a, "--shm-dir") && v) {
            shm_dir = v;
            i++;
        } else if (!strcmp(a, "--no-pid-reuse")) {
            go.pid_reuse = 0;
        } else if (!strcmp(a, "--safe")) {
            go.safe = 1;
        } else if (!strcmp(a, "--quiet")) {
            quiet = 1;
        } else if (!strcmp(a, "--replay")) {
            while (i + 1 < argc && argv[i + 1][0] != '-')
                rep[nreplay++] = argv[++i];
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            shmfz_usage(stdout);
            mem_free(rep);
            return 0;
        } else {
            fprintf(stderr, "allocsim fuzz --target shm: unknown or incomplete option '%s'\n", a);
            goto usage;
        }
    }
    char err[512];
    if (shmf_gen_check(&go, err, sizeof err) != 0) {
        fprintf(stderr, "allocsim fuzz --target shm: --shm-layout: %s\n", err);
        mem_free(rep);
        return 2;
    }
    if (!nreplay && !have_seed)
        goto usage;
    shmio_dir d;
    if (shmio_dir_open(&d, shm_dir, 0, err, sizeof err) != 0) {
        fprintf(stderr, "allocsim fuzz --target shm: %s\n", err);
        mem_free(rep);
        return 3;
    }
    if (nreplay) {
        int rc = replay(rep, nreplay, d.path);
        shmio_dir_close(&d);
        mem_free(rep);
        return rc;
    }
    if (!runs && time_s <= 0)
        runs = 1000;
    shmfz_sig *sigs = mem_calloc(SHMFZ_MAX_SIGS, sizeof *sigs);
    shmf_outcome *o = mem_alloc(sizeof *o);
    if (!sigs || !o) {
        fprintf(stderr, "allocsim fuzz --target shm: out of memory\n");
        shmio_dir_close(&d);
        return 3;
    }
    if (go.pid_reuse && !go.safe && shmf_pidns_probe(err, sizeof err) != 0) {
        printf("shm fuzz: pid reuse skipped (no private PID namespace: %s)\n", err);
        go.pid_reuse = 0;
    }
    int nsigs = 0, rc = 0;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint64_t n;
    for (n = 0; runs ? n < runs : secs_since(&t0) < time_s; n++) {
        shmf_schedule s;
        shmf_generate(seed, n, &go, &s);
        if (shmf_run_real(&s, d.path, o, err, sizeof err) != 0) {
            fprintf(stderr, "allocsim fuzz --target shm: schedule %" PRIu64 ": %s\n", n, err);
            rc = 3;
            break;
        }
        for (int k = 0; k < SHMF_K_COUNT; k++) {
            if (!(o->kinds & (1u << k)))
                continue;
            char sig[96];
            shmf_signature(&s, k, sig, sizeof sig);
            int j;
            for (j = 0; j < nsigs; j++)
                if (!strcmp(sigs[j].sig, sig))
                    break;
            if (j < nsigs) {
                sigs[j].hits++;
                continue;
            }
            if (nsigs == SHMFZ_MAX_SIGS)
                continue;
            shmfz_sig *g = &sigs[nsigs++];
            snprintf(g->sig, sizeof g->sig, "%s", sig);
            g->hits = 1;
            g->first = n;
            /* Minimise on the model (the real run is its exact replica), confirm for real. */
            shmf_schedule m = s;
            int before = m.nentries;
            if (k != SHMF_K_MODEL && k != SHMF_K_HARNESS)
                shmf_minimise(&m, k);
            shmf_outcome *c = mem_alloc(sizeof *c);
            int confirmed = c && shmf_run_real(&m, d.path, c, err, sizeof err) == 0 && ((c->kinds >> k) & 1);
            if (!confirmed)
                m = s;
            if (mkdir_p(out) == 0) {
                char path[4200], comment[600];
                snprintf(path, sizeof path, "%s/%s.shmsched", out, sig);
                snprintf(comment, sizeof comment,
                         "signature %s\nfound by: allocsim fuzz --target shm --seed %" PRIu64
                         " --shm-layout %s%s, schedule %" PRIu64 "\n%d entries minimised to %d%s\n%s",
                         sig, seed, go.layouts, go.safe ? " --safe" : "", n, before, m.nentries,
                         confirmed ? ", confirmed with real processes" : " (not confirmed: kept as found)",
                         (c && confirmed ? c : o)->detail[k]);
                sbuf t = SBUF_INIT;
                shmf_format(&m, comment, k, &t);
                FILE *f = fopen(path, "w");
                if (f) {
                    fputs(sbuf_str(&t), f);
                    fclose(f);
                    g->written = 1;
                }
                sbuf_release(&t);
                if (!quiet)
                    printf("new: %s (schedule %" PRIu64 ", %d -> %d entries) -> %s\n", sig, n, before, m.nentries, path);
            }
            mem_free(c);
        }
        if (!quiet && isatty(STDERR_FILENO) && n % 50 == 0)
            fprintf(stderr, "\r%" PRIu64 " schedules, %d signatures", n + 1, nsigs);
    }
    double el = secs_since(&t0);
    if (!quiet && isatty(STDERR_FILENO))
        fputc('\n', stderr);
    printf("shm fuzz: seed %" PRIu64 ", %" PRIu64 " schedules in %.1f s, %d signature%s\n", seed, n, el, nsigs,
           nsigs == 1 ? "" : "s");
    for (int j = 0; j < nsigs; j++)
        printf("  %-40s hits %" PRIu64 " first schedule %" PRIu64 "%s%s/%s.shmsched\n", sigs[j].sig, sigs[j].hits,
               sigs[j].first, sigs[j].written ? "  " : "  (not written) ", out, sigs[j].sig);
    printf("bench shm_fuzz_schedules_per_s %.1f\n", el > 0 ? (double)n / el : 0.0);
    if (nsigs)
        printf("replay: allocsim fuzz --target shm --replay %s/*.shmsched\n", out);
    mem_free(sigs);
    mem_free(o);
    shmio_dir_close(&d);
    mem_free(rep);
    return rc ? rc : nsigs ? 1 : 0;
usage:
    shmfz_usage(stderr);
    mem_free(rep);
    return 2;
}
