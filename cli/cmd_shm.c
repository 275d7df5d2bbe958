/* cmd_shm: `allocsim shm show|check|clean|record`, the region tools (docs/shm.md).
 *
 * Each subcommand reads the regions of a directory (default /dev/shm) or the files named on
 * the command line through shm/ (shm_scan), and prints: the tt_smi-like tables (show), the
 * invariant findings (check), what a cleanup changed (clean), or a timeline (record). A bad
 * file is one line on stderr naming it; the others are still handled. Exit status: 0 fine,
 * 1 findings (check) or a cleanup that changed something with --fail-on-change, 2 bad usage
 * or a bad file, 3 a region could not be written (clean).
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmds.h"
#include "mem.h"
#include "sbuf.h"
#include "shm_check.h"
#include "shm_clean.h"
#include "shm_record.h"
#include "shm_scan.h"
#include "shm_show.h"

#define SHM_DEFAULT_DIR "/dev/shm"

typedef struct {
    const char *sub;
    const char *dir;
    int dir_given;
    const char *preset;
    int json, details, watch, live, fail_on_change;
    long interval_ms;
    long count;      /* watch refreshes / record samples; 0: until interrupted */
    double duration_s;
    const char *out;
    const char *as;
    char **files;
    int nfiles;
} shm_args;

static volatile sig_atomic_t shm_stop;
static void on_signal(int sig) {
    (void)sig;
    shm_stop = 1;
}

static void shm_usage(FILE *f) {
    fprintf(f, "usage: allocsim shm show   [--dir DIR | FILE...] [--devices PRESET] [--json] [--details]\n"
               "                           [--watch [--interval MS] [--count N]]\n"
               "       allocsim shm check  [--dir DIR | FILE...] [--devices PRESET] [--json]\n"
               "       allocsim shm clean  [--dir DIR | FILE...] [--as safe|tt_smi|tt_smi@77c44153|tt_smi_ui|tt-mgmt|\n"
               "                           tt-mgmt-update|v4] [--live]\n"
               "       allocsim shm record [--dir DIR] --interval MS -o FILE.tsv [--count N | --duration SECONDS]\n"
               "                           [--devices PRESET]\n"
               "DIR defaults to " SHM_DEFAULT_DIR ". clean never writes " SHM_DEFAULT_DIR " unless --live is given.\n"
               "Exit status: 0 fine, 1 findings (check), 2 bad usage or a bad file, 3 a region could not be written.\n");
}

static int parse_long(const char *s, long lo, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo)
        return -1;
    *out = v;
    return 0;
}

static int parse_args(int argc, char **argv, shm_args *a) {
    memset(a, 0, sizeof *a);
    a->dir = SHM_DEFAULT_DIR;
    a->interval_ms = -1;
    a->files = mem_calloc((size_t)argc + 1, sizeof *a->files);
    if (!a->files)
        return -1;
    if (argc < 2) {
        shm_usage(stderr);
        return -1;
    }
    a->sub = argv[1];
    for (int i = 2; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = !strcmp(o, "--dir") || !strcmp(o, "--devices") || !strcmp(o, "--interval") || !strcmp(o, "--count") ||
                    !strcmp(o, "-o") || !strcmp(o, "--output") || !strcmp(o, "--as") || !strcmp(o, "--duration");
        if (takes && !v) {
            fprintf(stderr, "allocsim shm %s: %s needs a value\n", a->sub, o);
            return -1;
        }
        if (!strcmp(o, "--dir")) {
            a->dir = v;
            a->dir_given = 1;
        } else if (!strcmp(o, "--devices")) {
            uint64_t d, l;
            if (shms_capacity(v, 0, &d, &l) != 0) {
                fprintf(stderr, "allocsim shm %s: --devices: unknown preset '%s'\n", a->sub, v);
                return -1;
            }
            a->preset = v;
        } else if (!strcmp(o, "--interval")) {
            if (parse_long(v, 1, &a->interval_ms) != 0) {
                fprintf(stderr, "allocsim shm %s: --interval: expected milliseconds >= 1, found '%s'\n", a->sub, v);
                return -1;
            }
        } else if (!strcmp(o, "--count")) {
            if (parse_long(v, 1, &a->count) != 0) {
                fprintf(stderr, "allocsim shm %s: --count: expected a number >= 1, found '%s'\n", a->sub, v);
                return -1;
            }
        } else if (!strcmp(o, "--duration")) {
            char *end;
            a->duration_s = strtod(v, &end);
            if (end == v || *end || !(a->duration_s > 0)) {
                fprintf(stderr, "allocsim shm %s: --duration: expected seconds > 0, found '%s'\n", a->sub, v);
                return -1;
            }
        } else if (!strcmp(o, "-o") || !strcmp(o, "--output")) {
            a->out = v;
        } else if (!strcmp(o, "--as")) {
            a->as = v;
        } else if (!strcmp(o, "--json")) {
            a->json = 1;
            continue;
        } else if (!strcmp(o, "--details") || !strcmp(o, "-d")) {
            a->details = 1;
            continue;
        } else if (!strcmp(o, "--watch") || !strcmp(o, "-w")) {
            a->watch = 1;
            continue;
        } else if (!strcmp(o, "--live")) {
            a->live = 1;
            continue;
        } else if (!strcmp(o, "--fail-on-change")) {
            a->fail_on_change = 1;
            continue;
        } else if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
            shm_usage(stdout);
            exit(0);
        } else if (o[0] == '-' && o[1]) {
            fprintf(stderr, "allocsim shm %s: unknown option '%s'\n", a->sub, o);
            return -1;
        } else {
            a->files[a->nfiles++] = argv[i];
            continue;
        }
        i++;
    }
    if (a->nfiles && a->dir_given) {
        fprintf(stderr, "allocsim shm %s: give --dir or files, not both\n", a->sub);
        return -1;
    }
    return 0;
}

/* The regions to visit: the files given, or the directory's listing. */
typedef struct {
    shms_list_t list;
    const char *dir; /* NULL when files were given */
    char **names;
    size_t count;
} shm_targets;

static int targets_get(const shm_args *a, shm_targets *t) {
    char err[512];
    memset(t, 0, sizeof *t);
    if (a->nfiles) {
        t->names = a->files;
        t->count = (size_t)a->nfiles;
        return 0;
    }
    if (shms_list(a->dir, &t->list, err, sizeof err) != 0) {
        fprintf(stderr, "allocsim shm %s: %s\n", a->sub, err);
        return -1;
    }
    t->dir = a->dir;
    t->names = t->list.names;
    t->count = t->list.count;
    return 0;
}

static void targets_free(shm_targets *t) {
    shms_list_free(&t->list);
}

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !shm_stop) {
    }
}

/* One rendering of `show` into out; bad files into errs. Returns the number of bad files. */
static int show_once(const shm_args *a, shms_file *f, sbuf *out, sbuf *errs, int plain, uint64_t t0) {
    shm_targets t;
    shmv_options vo = {a->preset, NULL, NULL};
    int bad = 0;
    if (targets_get(a, &t) != 0)
        return -1;
    sbuf chips = SBUF_INIT, procs = SBUF_INIT, det = SBUF_INIT;
    int nproc = 0, nok = 0;
    if (a->json)
        sbuf_puts(out, "{\"regions\":[");
    for (size_t i = 0; i < t.count; i++) {
        int ok = shms_load(t.dir, t.names[i], f);
        if (!ok) {
            bad++;
            sbuf_printf(errs, "allocsim shm %s: %s: %s\n", a->sub, f->path, f->error);
        }
        if (a->json) {
            if (i)
                sbuf_putc(out, ',');
            shmv_json(f, &vo, out);
            continue;
        }
        if (plain) {
            shmv_plain_line(f, &vo, now_ms() - t0, out);
            continue;
        }
        if (!ok)
            continue;
        nok++;
        shmv_chip_row(f, &vo, &chips);
        nproc += shmv_process_rows(f, &vo, &procs);
        if (a->details) {
            shmv_details(f, &vo, &det);
            sbuf_putc(&det, '\n');
        }
        if (f->det.ambiguous)
            sbuf_printf(&det, "%s: layout ambiguous (%s)\n", f->name, f->det.note);
    }
    if (a->json) {
        sbuf_puts(out, "]}\n");
    } else if (!plain) {
        sbuf_printf(out, "SHM regions in %s: %d%s\n\n", t.dir ? t.dir : "(files)", nok,
                    a->preset ? "" : "   (capacities unknown: --devices PRESET)");
        if (nok) {
            shmv_chip_header(out);
            sbuf_puts(out, sbuf_str(&chips));
            sbuf_putc(out, '\n');
            if (nproc) {
                shmv_process_header(out);
                sbuf_puts(out, sbuf_str(&procs));
            } else {
                sbuf_puts(out, "No process slots in use.\n");
            }
        }
        if (det.len) {
            sbuf_putc(out, '\n');
            sbuf_puts(out, sbuf_str(&det));
        }
    }
    if (!plain && t.count == 0 && !a->json)
        sbuf_printf(out, "No tt_device_*_memory regions.\n");
    sbuf_release(&chips);
    sbuf_release(&procs);
    sbuf_release(&det);
    targets_free(&t);
    return bad;
}

static int cmd_shm_show(const shm_args *a, shms_file *f) {
    if (!a->watch) {
        sbuf out = SBUF_INIT, errs = SBUF_INIT;
        int bad = show_once(a, f, &out, &errs, 0, 0);
        fputs(sbuf_str(&out), stdout);
        fputs(sbuf_str(&errs), stderr);
        sbuf_release(&out);
        sbuf_release(&errs);
        return bad != 0 ? 2 : 0;
    }
    long interval = a->interval_ms > 0 ? a->interval_ms : 1000;
    int tty = isatty(STDOUT_FILENO) && !a->json;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    uint64_t t0 = now_ms();
    int worst = 0;
    if (tty)
        fputs("\033[?25l", stdout); /* hide the cursor, as tt_smi -w does */
    for (long n = 0; !shm_stop && (a->count == 0 || n < a->count); n++) {
        sbuf out = SBUF_INIT, errs = SBUF_INIT;
        if (n)
            sleep_ms(interval);
        if (shm_stop)
            break;
        int bad = show_once(a, f, &out, &errs, !tty && !a->json, t0);
        if (bad < 0)
            return 2;
        if (bad)
            worst = 2;
        if (tty) {
            /* Home, draw, clear what is left of the previous frame: no flicker. */
            fputs("\033[H", stdout);
            for (const char *p = sbuf_str(&out); *p; p++) {
                if (*p == '\n')
                    fputs("\033[K", stdout);
                fputc(*p, stdout);
            }
            fprintf(stdout, "\033[K\nrefresh %ld ms, %ld samples, Ctrl-C to quit\033[K\n\033[J", interval, n + 1);
            fputs(sbuf_str(&errs), stdout);
        } else {
            fputs(sbuf_str(&out), stdout); /* plain lines carry the bad files too */
        }
        fflush(stdout);
        sbuf_release(&out);
        sbuf_release(&errs);
    }
    if (tty)
        fputs("\033[?25h", stdout);
    fflush(stdout);
    return worst;
}

static int cmd_shm_check(const shm_args *a, shms_file *f) {
    shm_targets t;
    if (targets_get(a, &t) != 0)
        return 2;
    int bad = 0, findings = 0, regions = 0;
    for (size_t i = 0; i < t.count; i++) {
        if (!shms_load(t.dir, t.names[i], f)) {
            fprintf(stderr, "allocsim shm check: %s: %s\n", f->path, f->error);
            bad++;
            continue;
        }
        regions++;
        shmc_options co;
        memset(&co, 0, sizeof co);
        shms_capacity(a->preset, (int32_t)f->region.device_id >= 0 ? (int)(int32_t)f->region.device_id : 0,
                      &co.dram_capacity, &co.l1_capacity);
        shmc_report r;
        shmc_check(f, &co, &r);
        for (int k = 0; k < r.count; k++)
            printf("%s: %s: %s [%s]\n", f->path, r.f[k].field, r.f[k].message, shmc_kind_name(r.f[k].kind));
        if (r.total > r.count)
            printf("%s: ... %d more findings\n", f->path, r.total - r.count);
        findings += r.total;
    }
    printf("shm check: %d region%s, %d finding%s, %d unreadable\n", regions, regions == 1 ? "" : "s", findings,
           findings == 1 ? "" : "s", bad);
    targets_free(&t);
    return bad ? 2 : findings ? 1 : 0;
}

/* 1 if dir is the machine's /dev/shm (by inode, so /dev/shm/. and symlinks count). */
static int is_dev_shm(const char *dir) {
    struct stat a, b;
    return stat(dir, &a) == 0 && stat(SHM_DEFAULT_DIR, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

static int cmd_shm_clean(const shm_args *a, shms_file *f) {
    shmm_reader reader = SHMM_READER_SAFE;
    if (a->as && shmk_reader_parse(a->as, &reader) != 0) {
        fprintf(stderr, "allocsim shm clean: --as: unknown reader '%s' (safe, v4, tt_smi, tt_smi@77c44153, "
                        "tt_smi_ui, tt-mgmt, tt-mgmt-update)\n", a->as);
        return 2;
    }
    /* The machine's regions are written only when the user says so in so many words. */
    int touches_live = a->nfiles ? 0 : is_dev_shm(a->dir);
    for (int i = 0; i < a->nfiles && !touches_live; i++) {
        char d[SHMS_PATH_MAX];
        snprintf(d, sizeof d, "%s", a->files[i]);
        char *slash = strrchr(d, '/');
        if (slash)
            *slash = '\0';
        touches_live = is_dev_shm(slash ? (d[0] ? d : "/") : ".");
    }
    if (touches_live && !a->live) {
        fprintf(stderr, "allocsim shm clean: refusing to write the machine's regions in " SHM_DEFAULT_DIR
                        " without --live (use --dir DIR for a copy)\n");
        return 2;
    }
    shm_targets t;
    if (targets_get(a, &t) != 0)
        return 2;
    shms_file *after = mem_alloc(sizeof *after);
    if (!after) {
        targets_free(&t);
        fprintf(stderr, "allocsim shm clean: out of memory\n");
        return 2;
    }
    int bad = 0, unwritable = 0;
    unsigned total = 0;
    for (size_t i = 0; i < t.count; i++) {
        char err[300];
        sbuf rep = SBUF_INIT;
        unsigned cleaned = 0;
        int rc = shmk_clean(t.dir, t.names[i], reader, f, after, &rep, &cleaned, err, sizeof err);
        if (rc != 0) {
            fprintf(stderr, "allocsim shm clean: %s: %s\n", f->path, err);
            if (rc == -1)
                bad++;
            else
                unwritable++;
        } else {
            printf("%s: %s cleaned %u slot%s%s\n", f->path, shmm_reader_name(reader), cleaned, cleaned == 1 ? "" : "s",
                   rep.len ? "" : ", nothing changed");
            fputs(sbuf_str(&rep), stdout);
            total += cleaned;
        }
        sbuf_release(&rep);
    }
    printf("shm clean (%s): %zu region%s, %u slot%s cleaned\n", shmm_reader_name(reader), t.count,
           t.count == 1 ? "" : "s", total, total == 1 ? "" : "s");
    mem_free(after);
    targets_free(&t);
    if (unwritable)
        return 3;
    if (bad)
        return 2;
    return a->fail_on_change && total ? 1 : 0;
}

static int cmd_shm_record(const shm_args *a, shms_file *f) {
    (void)f;
    if (a->interval_ms <= 0 || !a->out || a->nfiles) {
        fprintf(stderr, "allocsim shm record: needs --interval MS and -o FILE.tsv (and --dir DIR, not files)\n");
        return 2;
    }
    FILE *out = strcmp(a->out, "-") == 0 ? stdout : fopen(a->out, "w");
    if (!out) {
        fprintf(stderr, "allocsim shm record: %s: cannot write: %s\n", a->out, strerror(errno));
        return 2;
    }
    struct timespec rt, t0, next;
    clock_gettime(CLOCK_REALTIME, &rt);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char err[256];
    shmr_options ro = {a->dir, a->preset, a->interval_ms, 0};
    shmr_recorder *r = shmr_open(&ro, out, (uint64_t)rt.tv_sec * 1000000000u + (uint64_t)rt.tv_nsec, err, sizeof err);
    if (!r) {
        fprintf(stderr, "allocsim shm record: %s\n", err);
        if (out != stdout)
            fclose(out);
        return 2;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    int bad = 0;
    long samples = 0;
    uint64_t limit_ns = a->duration_s > 0 ? (uint64_t)(a->duration_s * 1e9) : 0;
    next = t0;
    while (!shm_stop && (a->count == 0 || samples < a->count)) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        uint64_t t = (uint64_t)(now.tv_sec - t0.tv_sec) * 1000000000u + (uint64_t)now.tv_nsec - (uint64_t)t0.tv_nsec;
        if (limit_ns && t > limit_ns)
            break;
        sbuf errs = SBUF_INIT;
        shmr_sample(r, t, &errs);
        samples++;
        if (errs.len) {
            bad = 1;
            for (const char *p = sbuf_str(&errs); *p;) {
                const char *e = strchr(p, '\n');
                size_t n = e ? (size_t)(e - p) : strlen(p);
                fprintf(stderr, "allocsim shm record: %.*s\n", (int)n, p);
                p += n + (e != NULL);
            }
        }
        sbuf_release(&errs);
        fflush(out);
        /* Absolute ticks: the interval does not drift by the sampling time. */
        next.tv_nsec += (a->interval_ms % 1000) * 1000000L;
        next.tv_sec += a->interval_ms / 1000 + next.tv_nsec / 1000000000L;
        next.tv_nsec %= 1000000000L;
        if (a->count && samples >= a->count)
            break;
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR && !shm_stop) {
        }
    }
    fprintf(stderr, "allocsim shm record: %ld samples, %d regions, %" PRIu64 " rows -> %s\n", samples, shmr_regions(r),
            shmr_rows(r), a->out);
    shmr_close(r);
    if (out != stdout)
        fclose(out);
    return bad ? 2 : 0;
}

int cmd_shm(int argc, char **argv) {
    shm_args a;
    int rc;
    if (parse_args(argc, argv, &a) != 0) {
        mem_free(a.files);
        return 2;
    }
    shms_file *f = mem_alloc(sizeof *f);
    if (!f) {
        fprintf(stderr, "allocsim shm: out of memory\n");
        mem_free(a.files);
        return 2;
    }
    if (!strcmp(a.sub, "show")) {
        rc = cmd_shm_show(&a, f);
    } else if (!strcmp(a.sub, "check")) {
        rc = cmd_shm_check(&a, f);
    } else if (!strcmp(a.sub, "clean")) {
        rc = cmd_shm_clean(&a, f);
    } else if (!strcmp(a.sub, "record")) {
        rc = cmd_shm_record(&a, f);
    } else {
        fprintf(stderr, "allocsim shm: unknown subcommand '%s'\n", a.sub);
        shm_usage(stderr);
        rc = 2;
    }
    mem_free(f);
    mem_free(a.files);
    return rc;
}
