/* cmd_run: `allocsim run` (one scenario against a live server) and `allocsim check` (many).
 *
 * The pipeline of one scenario: parse and simulate it into a plan (libsim), start or attach
 * a server (srvproc), execute the plan (runner), then judge every dump three ways — the
 * scenario's expectations, the ledger's exact report, the golden file — and every QUERY reply
 * (verdict). Whether a dead process was cleaned up is checked in the whole server log, since
 * the server's background thread may do it before the dump does. The report ends with one
 * command line that reproduces the run.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "cmd_run_cbk.h"
#include "cmd_run_shm.h"
#include "cmds.h"
#include "budget.h"
#include "mem.h"
#include "plot.h"
#include "runner.h"
#include "sbuf.h"
#include "scn.h"
#include "srvline.h"
#include "scn_run.h"
#include "srvproc.h"
#include "timeline.h"
#include "verdict.h"

typedef struct {
    const char *server;     /* --server CMD */
    const char *socket;     /* --socket PATH (attach) */
    const char *server_log; /* --server-log FILE (attach) */
    int has_rev;
    proto_rev rev;
    int has_seed;
    uint64_t seed;
    int timeout_ms;
    const char *record;     /* --record FILE */
    int update_golden;
    int no_golden;
    int tap;
    const char *junit;
    const char *timeline;   /* --timeline FILE.tsv */
    const char *plot;       /* --plot FILE.png|svg */
    int quiet;
    int verbose;
    srvproc_isolation isolation;
    int jobs;
    int skip_incompatible; /* check: a scenario needing more devices than --protocol allows is skipped */
    budget lim;            /* --max-frames, --max-buffers, --max-statements, --max-memory */
    int has_dialect;       /* --dialect given; else detected from the server's start-up line */
    ledger_dialect dialect;
} run_opts;

static void run_usage(FILE *f) {
    fprintf(f,
            "usage: allocsim run SCENARIO [options]\n"
            "       allocsim run SCENARIO --dry-run [--seed N] [--protocol REV] [--timeline FILE] [--check-determinism]\n"
            "       allocsim check [PATH...] [options]     (default: every scenario of the library)\n"
            "\n"
            "server (default: the built-in allocsim-server, started like the real one):\n"
            "  --server \"CMD ARGS\"       start this server (e.g. a real allocation_server_poc)\n"
            "  --socket PATH --server-log FILE   attach to a running server and read its log\n"
            "  --isolation auto|shim|lock  how an owned server's hard-coded socket is kept private\n"
            "  -j, --jobs N              check: run N scenarios at once (each has its own server)\n"
            "  --timeout DURATION        fence, reply and dump timeout (default 10s)\n"
            "  --dialect poc|enhanced    the server's output (default: from its start-up line)\n"
            "simulation:\n"
            "  --protocol REV            %s (default: the scenario's, else v72)\n"
            "  --seed N                  override the scenario's seed\n"
            "%s"
            "output:\n"
            "  --record FILE.allocstream  save the frames sent\n"
            "  --update-golden           rewrite the scenario's golden file (review with git diff)\n"
            "  --no-golden               skip the golden comparison\n"
            "  --timeline FILE.tsv       write the simulated memory timeline\n"
            "  --plot FILE.png|svg       render the timeline with gnuplot\n"
            "  --tap                     TAP on stdout    --junit FILE   JUnit XML\n"
            "  -q, --quiet               only failures and the summary    -v  also print every dump\n"
            "exit status: 0 all held, 1 an expectation failed, 2 bad usage or scenario, 3 server failure\n",
            proto_rev_names(), budget_usage());
}

/* Parses the options shared by run and check; positional arguments go to paths.
 * Returns 0, or 2 after printing a usage error. */
static int parse_opts(int argc, char **argv, run_opts *o, const char ***paths, int *npaths) {
    memset(o, 0, sizeof *o);
    o->timeout_ms = 10000;
    o->jobs = 1;
    budget_defaults(&o->lim);
    *paths = mem_calloc((size_t)argc + 1, sizeof **paths);
    *npaths = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        char lerr[256];
        int lr = budget_parse_option(argc, argv, &i, &o->lim, lerr, sizeof lerr);
        if (lr < 0) {
            fprintf(stderr, "allocsim: %s\n", lerr);
            return 2;
        }
        if (lr > 0)
            continue;
#define NEED_VALUE                                                                                 \
    if (!v) {                                                                                      \
        fprintf(stderr, "allocsim: %s needs a value\n", a);                                        \
        return 2;                                                                                  \
    }                                                                                              \
    i++;
        if (strcmp(a, "--server") == 0) {
            NEED_VALUE o->server = v;
        } else if (strcmp(a, "--socket") == 0) {
            NEED_VALUE o->socket = v;
        } else if (strcmp(a, "--server-log") == 0) {
            NEED_VALUE o->server_log = v;
        } else if (strcmp(a, "--dialect") == 0) {
            NEED_VALUE if (strcmp(v, "poc") == 0) {
                o->dialect = LEDGER_DIALECT_POC;
            } else if (strcmp(v, "enhanced") == 0) {
                o->dialect = LEDGER_DIALECT_ENHANCED;
            } else {
                fprintf(stderr, "allocsim: --dialect: expected poc or enhanced, found '%s'\n", v);
                return 2;
            }
            o->has_dialect = 1;
        } else if (strcmp(a, "--protocol") == 0) {
            NEED_VALUE if (proto_rev_parse(v, &o->rev) != 0) {
                fprintf(stderr, "allocsim: --protocol: expected one of %s, found '%s'\n", proto_rev_names(), v);
                return 2;
            }
            o->has_rev = 1;
        } else if (strcmp(a, "--seed") == 0) {
            NEED_VALUE char *end;
            errno = 0;
            o->seed = strtoull(v, &end, 0);
            if (errno || *end || !*v || *v == '-') {
                fprintf(stderr, "allocsim: --seed: expected an unsigned 64-bit number, found '%s'\n", v);
                return 2;
            }
            o->has_seed = 1;
        } else if (strcmp(a, "--timeout") == 0) {
            NEED_VALUE uint64_t ns;
            char err[256];
            if (scn_parse_time(v, &ns, err, sizeof err) != 0 || ns < 1000000ull || ns > 3600000000000ull) {
                fprintf(stderr, "allocsim: --timeout: expected a duration from 1ms to 1h (e.g. 10s), found '%s'\n", v);
                return 2;
            }
            o->timeout_ms = (int)(ns / 1000000ull);
        } else if (strcmp(a, "--record") == 0) {
            NEED_VALUE o->record = v;
        } else if (strcmp(a, "--update-golden") == 0) {
            o->update_golden = 1;
        } else if (strcmp(a, "--no-golden") == 0) {
            o->no_golden = 1;
        } else if (strcmp(a, "--tap") == 0) {
            o->tap = 1;
        } else if (strcmp(a, "--junit") == 0) {
            NEED_VALUE o->junit = v;
        } else if (strcmp(a, "--timeline") == 0) {
            NEED_VALUE o->timeline = v;
        } else if (strcmp(a, "--plot") == 0) {
            NEED_VALUE o->plot = v;
        } else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
            o->quiet = 1;
        } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
            o->verbose = 1;
        } else if (strcmp(a, "-j") == 0 || strcmp(a, "--jobs") == 0) {
            NEED_VALUE char *end;
            long j = strtol(v, &end, 10);
            if (*end || j < 1 || j > 64) {
                fprintf(stderr, "allocsim: %s: expected a number of parallel runs from 1 to 64, found '%s'\n", a, v);
                return 2;
            }
            o->jobs = (int)j;
        } else if (strcmp(a, "--isolation") == 0) {
            NEED_VALUE if (strcmp(v, "auto") == 0) o->isolation = SRVPROC_ISOLATE_AUTO;
            else if (strcmp(v, "shim") == 0) o->isolation = SRVPROC_ISOLATE_SHIM;
            else if (strcmp(v, "lock") == 0) o->isolation = SRVPROC_ISOLATE_LOCK;
            else {
                fprintf(stderr, "allocsim: --isolation: expected auto, shim or lock, found '%s'\n", v);
                return 2;
            }
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            run_usage(stdout);
            exit(0);
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "allocsim: unknown option '%s' (allocsim run --help)\n", a);
            return 2;
        } else {
            (*paths)[(*npaths)++] = a;
        }
#undef NEED_VALUE
    }
    if ((o->socket != NULL) != (o->server_log != NULL)) {
        fprintf(stderr, "allocsim: --socket and --server-log go together\n");
        return 2;
    }
    if (o->socket && o->server) {
        fprintf(stderr, "allocsim: --server and --socket exclude each other\n");
        return 2;
    }
    return 0;
}

static char *read_text_file(const char *path, size_t *len, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        return NULL;
    }
    sbuf b = SBUF_INIT;
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        sbuf_append(&b, buf, n);
    int bad = ferror(f);
    fclose(f);
    if (bad || sbuf_failed(&b)) {
        snprintf(err, errlen, "%s: cannot read: %s", path, bad ? "I/O error" : "out of memory");
        sbuf_release(&b);
        return NULL;
    }
    if (!b.data)
        sbuf_append(&b, "", 0);
    *len = b.len;
    return b.data;
}

/* Single-quotes a word for a shell command line when it needs it. */
void cmd_shell_quote(sbuf *b, const char *w) {
    if (*w && strspn(w, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=,:") == strlen(w)) {
        sbuf_puts(b, w);
        return;
    }
    sbuf_putc(b, '\'');
    for (; *w; w++) {
        if (*w == '\'')
            sbuf_puts(b, "'\\''");
        else
            sbuf_putc(b, *w);
    }
    sbuf_putc(b, '\'');
}

static void build_repro(sbuf *b, const char *path, const run_opts *o, proto_rev rev, uint64_t seed,
                        ledger_dialect dialect) {
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    self[n > 0 ? n : 0] = '\0';
    cmd_shell_quote(b, n > 0 ? self : "allocsim");
    sbuf_puts(b, " run ");
    cmd_shell_quote(b, path);
    sbuf_printf(b, " --protocol %s --seed %" PRIu64, proto_rev_get(rev)->name, seed);
    if (o->server) {
        sbuf_puts(b, " --server ");
        cmd_shell_quote(b, o->server);
    }
    if (o->socket) {
        sbuf_puts(b, " --socket ");
        cmd_shell_quote(b, o->socket);
        sbuf_puts(b, " --server-log ");
        cmd_shell_quote(b, o->server_log);
    }
    if (o->timeout_ms != 10000)
        sbuf_printf(b, " --timeout %dms", o->timeout_ms);
    if (o->has_dialect || dialect == LEDGER_DIALECT_ENHANCED) /* given, or detected from the banner */
        sbuf_printf(b, " --dialect %s", dialect == LEDGER_DIALECT_ENHANCED ? "enhanced" : "poc");
}

/* The golden file of a scenario: in the enhanced dialect NAME.enhanced.golden if it exists
 * (always, to update it: the poc's file is never rewritten from the enhanced server's output);
 * then NAME.REV.golden if it exists, else NAME.golden. */
static void golden_path(const char *scenario, proto_rev rev, ledger_dialect dialect, int update, sbuf *out) {
    size_t len = strlen(scenario);
    if (len > 4 && strcmp(scenario + len - 4, ".scn") == 0)
        len -= 4;
    sbuf_reset(out);
    if (dialect == LEDGER_DIALECT_ENHANCED) {
        sbuf_printf(out, "%.*s.enhanced.golden", (int)len, scenario);
        if (update || access(sbuf_str(out), F_OK) == 0)
            return;
        sbuf_reset(out);
    }
    sbuf_printf(out, "%.*s.%s.golden", (int)len, scenario, proto_rev_get(rev)->name);
    if (access(sbuf_str(out), F_OK) == 0)
        return;
    sbuf_reset(out);
    sbuf_printf(out, "%.*s.golden", (int)len, scenario);
}

static int has_sanitizer_report(srvproc *srv, size_t from, size_t to, sbuf *first) {
    sbuf text = SBUF_INIT;
    srvproc_log_text(srv, from, to, SRVPROC_ERR, &text);
    const char *s = sbuf_str(&text);
    const char *hit = strstr(s, "runtime error:");
    if (!hit)
        hit = strstr(s, "ERROR: AddressSanitizer");
    if (!hit)
        hit = strstr(s, "ERROR: LeakSanitizer");
    if (hit) {
        const char *e = strchr(hit, '\n');
        sbuf_append(first, hit, e ? (size_t)(e - hit) : strlen(hit));
    }
    sbuf_release(&text);
    return hit != NULL;
}

/* Checks that each dead process of an expected dump was cleaned up by the server at some
 * point up to the end of that dump (by the dump itself or by its background thread). */
static void check_cleanups(verdict_report *rep, const char *label, const plan *p, const dumpview *want,
                           srvproc *srv, runner_result *res, const runner_dump *rd) {
    if (!want->ndead)
        return;
    sbuf text = SBUF_INIT;
    srvproc_log_text(srv, res->log_start, rd->last_line + 1, SRVPROC_OUT, &text);
    for (size_t i = 0; i < want->ndead; i++) {
        const char *name = scn_run_pid_name((void *)p, want->dead[i].pid);
        int32_t live = 0;
        for (uint32_t k = 0; k < res->nprocs; k++)
            if (name && strcmp(res->proc_names[k], name) == 0)
                live = res->live_pid[k];
        char needle[96], case_name[256], detail[256];
        snprintf(needle, sizeof needle, "   PID %d is dead, removing its buffers...\n", (int)live);
        snprintf(case_name, sizeof case_name, "%s: dead process %s cleaned up", label, name ? name : "?");
        int ok = live != 0 && strstr(sbuf_str(&text), needle) != NULL;
        snprintf(detail, sizeof detail, "the server never printed 'PID %d is dead' for %s (pid %d) before this dump ended",
                 (int)live, name ? name : "?", (int)live);
        verdict_report_add(rep, case_name, ok, ok ? NULL : detail);
    }
    sbuf_release(&text);
}

/* Everything one live run of a scenario holds, so that its steps can be functions. */
typedef struct {
    const char *path;
    const run_opts *o;
    verdict_report *rep;
    FILE *out;
    char *text;
    scn_script *script;
    plan p;
    timeline *tl;
    srvproc *srv;
    runner_result res;
    int have_res;
    sbuf repro, canonical;
    size_t first_fail_from, first_fail_to; /* log lines around the first failing dump */
    ledger_dialect dialect; /* the plan's: --dialect, else poc until the banner says otherwise */
} live_run;

static int live_plan(live_run *c);

/* Reads, parses and simulates the scenario into c->p (and c->tl). Returns 0 to go on, -1 when
 * the run ends here (an error is in the report, or the scenario does not apply). */
static int live_simulate(live_run *c) {
    const run_opts *o = c->o;
    char err[2048];
    size_t len;
    c->text = read_text_file(c->path, &len, err, sizeof err);
    if (!c->text) {
        budget_explain(&o->lim, err, sizeof err);
        verdict_report_set_error(c->rep, 2, err);
        return -1;
    }
    if (scn_parse(c->text, len, c->path, &c->script, err, sizeof err) != 0) {
        verdict_report_set_error(c->rep, 2, err);
        return -1;
    }
    if (o->skip_incompatible && o->has_rev) {
        int max = proto_rev_get(o->rev)->max_devices;
        for (int i = 0; i < c->script->nmeshes; i++) {
            if (c->script->meshes[i].cfg.num_devices > max) {
                char why[256];
                snprintf(why, sizeof why, "skipped: mesh %s has %d devices, protocol %s tracks %d",
                         c->script->meshes[i].name, c->script->meshes[i].cfg.num_devices, proto_rev_get(o->rev)->name,
                         max);
                verdict_report_add(c->rep, "applicable to this revision", 1, why);
                if (!o->quiet)
                    fprintf(c->out, "== %s: %s\n", c->path, why);
                return -1;
            }
        }
    }
    /* A story written for one client era (CB_ALLOC/KERNEL_LOAD in v144, CBs as L1 ALLOCs and
     * no kernel messages before) states what that era's client sends: in the other era its
     * expectations would be about a different stream. */
    if (o->skip_incompatible && o->has_rev && c->script->has_rev &&
        (proto_rev_get(c->script->rev)->frame_size == 144) != (proto_rev_get(o->rev)->frame_size == 144) &&
        scn_script_uses_cbk(c->script)) {
        char why[256];
        snprintf(why, sizeof why, "skipped: a story of protocol %s's client era (CB/kernel messages, client faults); %s is of the other era",
                 proto_rev_get(c->script->rev)->name, proto_rev_get(o->rev)->name);
        verdict_report_add(c->rep, "applicable to this revision", 1, why);
        if (!o->quiet)
            fprintf(c->out, "== %s: %s\n", c->path, why);
        return -1;
    }
    return live_plan(c);
}

/* Simulates the parsed scenario in c->dialect into c->p (and c->tl), replacing an earlier
 * plan. Returns 0, or -1 with the error in the report. */
static int live_plan(live_run *c) {
    const run_opts *o = c->o;
    char err[2048];
    plan_release(&c->p);
    timeline_free(c->tl);
    c->tl = NULL;
    scn_run_opts ro;
    scn_run_opts_init(&ro);
    ro.dialect = c->dialect;
    ro.has_seed = o->has_seed;
    ro.seed = o->seed;
    ro.has_rev = o->has_rev;
    ro.rev = o->rev;
    budget_apply_run(&o->lim, &ro);
    if (o->timeline || o->plot) {
        c->tl = timeline_new();
        ro.timeline = c->tl;
    }
    scn_run_info info;
    int rc = scn_run(c->script, &ro, &c->p, &info, err, sizeof err);
    if (rc != SCN_RUN_OK) {
        budget_explain(&o->lim, err, sizeof err);
        verdict_report_set_error(c->rep, rc == SCN_RUN_FAILED ? 1 : 2, err);
        return -1;
    }
    scn_run_info_release(&info);
    sbuf_reset(&c->repro);
    build_repro(&c->repro, c->path, o, c->p.rev, c->p.seed, c->dialect);
    verdict_report_set_repro(c->rep, sbuf_str(&c->repro));
    return 0;
}

/* The enhanced server speaks v72 frames only: check skips a scenario of another revision,
 * run refuses it. Returns 0 when the plan applies, else -1 (skip or error in the report). */
static int live_dialect_applies(live_run *c) {
    if (c->dialect != LEDGER_DIALECT_ENHANCED || c->p.rev == PROTO_V72)
        return 0;
    char why[256];
    if (!c->o->skip_incompatible) {
        snprintf(why, sizeof why,
                 "%s: the enhanced server speaks only protocol v72, the scenario is %s (--protocol v72 to run it anyway)",
                 c->path, proto_rev_get(c->p.rev)->name);
        verdict_report_set_error(c->rep, 2, why);
        return -1;
    }
    snprintf(why, sizeof why, "skipped: protocol %s, the enhanced server speaks only v72", proto_rev_get(c->p.rev)->name);
    verdict_report_add(c->rep, "applicable to this dialect", 1, why);
    if (!c->o->quiet)
        fprintf(c->out, "== %s: %s\n", c->path, why);
    return -1;
}

/* Attaches to --socket or starts the server, and waits until it accepts connections.
 * Returns 0, or -1 with exit status 3 in the report. */
static int live_start_server(live_run *c) {
    const run_opts *o = c->o;
    char err[2048];
    if (o->socket) {
        if (srvproc_attach(o->socket, o->server_log, &c->srv, err, sizeof err) != 0) {
            verdict_report_set_error(c->rep, 3, err);
            return -1;
        }
    } else {
        srvproc_config cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.command = o->server;
        cfg.rev = c->p.rev;
        cfg.isolation = o->isolation;
        static const char *const enhanced_args[] = {"--dialect", "enhanced", NULL};
        if (!o->server && o->has_dialect && o->dialect == LEDGER_DIALECT_ENHANCED)
            cfg.extra_args = enhanced_args;
        if (srvproc_start(&cfg, &c->srv, err, sizeof err) != 0) {
            verdict_report_set_error(c->rep, 3, err);
            return -1;
        }
    }
    if (srvproc_wait_ready(c->srv, o->timeout_ms, err, sizeof err) != 0) {
        verdict_report_set_error(c->rep, 3, err);
        return -1;
    }
    if (!o->quiet) {
        fprintf(c->out, "== %s: protocol %s, seed %" PRIu64 ", %" PRIu64 " frames, digest %016" PRIx64 "\n", c->path,
                proto_rev_get(c->p.rev)->name, c->p.seed, c->p.frames, c->p.digest);
        char desc[256];
        srvproc_describe(c->srv, desc, sizeof desc);
        fprintf(c->out, "   server: %s, %s\n",
                o->server ? o->server : o->socket ? o->socket : "allocsim-server (reference)", desc);
        if (srvproc_note(c->srv))
            fprintf(c->out, "   note: %s\n", srvproc_note(c->srv));
    }
    return 0;
}

/* Checks one dump the server printed against the model's report, the cleanups and the
 * scenario's expectations, and adds it to the canonical text for the golden file. */
static void live_check_dump(live_run *c, runner_dump *rd) {
    const run_opts *o = c->o;
    verdict_report *rep = c->rep;
    char err[2048];
    plan_dump *pd = &c->p.dumps[rd->plan_dump];
    char label[96];
    snprintf(label, sizeof label, "dump %d (line %d)", rd->plan_dump + 1, pd->line);
    size_t before = verdict_report_failures(rep);
    if (o->verbose && !o->quiet)
        fprintf(c->out, "--- %s, as the server printed it ---\n%s", label, sbuf_str(&rd->text));
    dumpview want;
    if (dumpview_parse_text(sbuf_str(&pd->expected), pd->expected.len, &want, err, sizeof err) != 0) {
        char d[2300];
        snprintf(d, sizeof d, "internal: the model's report does not parse: %s", err);
        verdict_report_add(rep, label, 0, d);
        return;
    }
    if (!rd->parsed) {
        char name[160];
        snprintf(name, sizeof name, "%s: report", label);
        verdict_report_add(rep, name, 0, rd->parse_error ? rd->parse_error : "the server's report does not parse");
    } else {
        verdict_dump_views(rep, label, &want, scn_run_pid_name, &c->p, &rd->view, runner_live_pid_name, &c->res);
        check_cleanups(rep, label, &c->p, &want, c->srv, &c->res, rd);
        for (size_t k = 0; k < pd->nexpects; k++) {
            const struct scn_expect *e = &pd->expects[k];
            if (e->kind == SCN_EXPECT_SHM) /* on the SHM regions: --transport shm|both (cmd_run_shm.c) */
                continue;
            sbuf why = SBUF_INIT;
            int ok = scn_expect_eval(e, &rd->view, runner_live_pid_name, &c->res, &want, scn_run_pid_name, &c->p, &why);
            char name[600];
            snprintf(name, sizeof name, "%s: line %d: %s", label, e->line, e->text ? e->text : "expect");
            verdict_report_add(rep, name, ok, sbuf_str(&why));
            sbuf_release(&why);
        }
        sbuf_printf(&c->canonical, "== %s ==\n", label);
        verdict_canonical(&rd->view, runner_live_pid_name, &c->res, &c->canonical);
    }
    dumpview_release(&want);
    if (verdict_report_failures(rep) > before && !c->first_fail_to) {
        c->first_fail_from = rd->first_line > 12 ? rd->first_line - 12 : 0;
        c->first_fail_to = rd->last_line + 4;
    }
    if (!o->quiet) {
        int ok = verdict_report_failures(rep) == before;
        fprintf(c->out, "   %s %s: %zu buffers remaining\n", ok ? "ok  " : "FAIL", label,
                rd->parsed ? (size_t)rd->view.total_tracked : (size_t)0);
    }
}

/* Everything after the dumps: QUERY replies, the dump count, sanitizer reports on the
 * server's stderr, the golden file, the log excerpt of the first failure. */
static void live_check_rest(live_run *c) {
    const run_opts *o = c->o;
    verdict_report *rep = c->rep;
    for (size_t i = 0; i < c->res.nreplies; i++) {
        runner_reply *rr = &c->res.replies[i];
        if (rr->plan_step < 0 || (size_t)rr->plan_step >= c->p.nsteps || !c->p.steps[rr->plan_step].has_reply)
            continue;
        const plan_step *ps = &c->p.steps[rr->plan_step];
        char label[128];
        snprintf(label, sizeof label, "%s reply device %d (line %d)", proto_type_name(ps->msg.type),
                 (int)ps->msg.device_id, ps->line);
        verdict_reply(rep, label, &ps->reply, &rr->msg);
    }
    if (c->p.ndumps != c->res.ndumps) {
        char d[128];
        snprintf(d, sizeof d, "expected %zu dumps, the server completed %zu", c->p.ndumps, c->res.ndumps);
        verdict_report_add(rep, "dump count", 0, d);
    }
    cmd_run_check_stderr(rep, &c->p, c->srv, &c->res);
    sbuf san = SBUF_INIT;
    if (has_sanitizer_report(c->srv, c->res.log_start, srvproc_log_end(c->srv), &san))
        verdict_report_add(rep, "server stderr free of sanitizer reports", 0, sbuf_str(&san));
    sbuf_release(&san);
    if (!o->no_golden && c->p.ndumps) {
        sbuf gpath = SBUF_INIT;
        golden_path(c->path, c->p.rev, c->dialect, o->update_golden, &gpath);
        verdict_golden(rep, sbuf_str(&gpath), sbuf_str(&c->canonical), o->update_golden);
        sbuf_release(&gpath);
    }
    if (c->first_fail_to) {
        sbuf ex = SBUF_INIT;
        srvproc_log_text(c->srv, c->first_fail_from, c->first_fail_to, SRVPROC_OUT | SRVPROC_ERR, &ex);
        verdict_report_set_log(rep, sbuf_str(&ex));
        sbuf_release(&ex);
    }
}

/* Stops an owned server with SIGTERM and checks that it exits cleanly. */
static void live_stop_server(live_run *c) {
    if (c->o->socket)
        return;
    char stop[512];
    int how = srvproc_stop(c->srv, 5000, stop, sizeof stop);
    int wst = 0;
    int clean = how == 0 && srvproc_exited(c->srv, &wst) && WIFEXITED(wst) && WEXITSTATUS(wst) == 0;
    if (how == 2) {
        verdict_report_set_error(c->rep, 3, stop);
    } else {
        char d[700];
        snprintf(d, sizeof d, "%s", stop);
        verdict_report_add(c->rep, "server stops cleanly on SIGTERM", clean || how == 0, clean ? NULL : d);
    }
}

/* Writes --timeline (or FILE.timeline.tsv beside --plot) and renders --plot. */
static void live_write_outputs(live_run *c) {
    const run_opts *o = c->o;
    if (!c->tl || !(o->timeline || o->plot) || !c->p.nsteps)
        return;
    char err[2048];
    sbuf tsv = SBUF_INIT;
    const char *tpath = o->timeline;
    if (!tpath) {
        sbuf_printf(&tsv, "%s.timeline.tsv", o->plot);
        tpath = sbuf_str(&tsv);
    }
    sbuf t = SBUF_INIT;
    timeline_write(c->tl, &t);
    FILE *f = fopen(tpath, "wb");
    if (!f || fwrite(t.data ? t.data : "", 1, t.len, f) != t.len || fclose(f) != 0) {
        fprintf(stderr, "allocsim: cannot write %s: %s\n", tpath, strerror(errno));
    } else if (!o->quiet) {
        fprintf(c->out, "   timeline: %s\n", tpath);
    }
    sbuf_release(&t);
    if (o->plot) {
        plot_opts po;
        memset(&po, 0, sizeof po);
        po.output_path = o->plot;
        sbuf report = SBUF_INIT;
        po.report = &report;
        int pr = plot_render(tpath, &po, err, sizeof err);
        if (!o->quiet)
            fputs(sbuf_str(&report), c->out);
        if (pr == PLOT_OK) {
            if (!o->quiet)
                fprintf(c->out, "   plot: %s\n", o->plot);
        } else {
            fprintf(stderr, "allocsim: plot: %s\n", err);
        }
        sbuf_release(&report);
    }
    sbuf_release(&tsv);
}

/* Runs one scenario live and fills rep: simulate, start the server, send the plan, check
 * every dump and reply, stop the server, write the timeline and plot. Prints progress
 * (unless quiet) to out. */
static int is_banner_line(const srvproc_line *l, void *ctx) {
    (void)ctx;
    srvline s;
    srvline_classify(l->text, l->len, &s);
    return l->stream == SRVPROC_OUT &&
           (s.kind == SRVLINE_BANNER_STARTED || s.kind == SRVLINE_ENH_BANNER);
}

/* The dialect named by the server's start-up line ("🚀 Enhanced Allocation Server started
 * ..." or "🚀 Allocation Server started"); the poc's when none arrives within 2 s (an
 * attached server without a log). */
static ledger_dialect detect_dialect(srvproc *srv) {
    size_t idx;
    sbuf line = SBUF_INIT;
    srvproc_stream st;
    ledger_dialect d = LEDGER_DIALECT_POC;
    if (srvproc_wait_line(srv, 0, is_banner_line, NULL, 2000, &idx) == SRVPROC_FOUND &&
        srvproc_log_get(srv, idx, &line, &st) == 0) {
        srvline s;
        srvline_classify(sbuf_str(&line), line.len, &s);
        if (s.kind == SRVLINE_ENH_BANNER)
            d = LEDGER_DIALECT_ENHANCED;
    }
    sbuf_release(&line);
    return d;
}

static const runner_procs *run_procs; /* cmd_run_socket_with */

static void run_scenario(const char *path, const run_opts *o, verdict_report *rep, FILE *out) {
    live_run c;
    memset(&c, 0, sizeof c);
    c.path = path;
    c.o = o;
    c.rep = rep;
    c.out = out;
    c.dialect = o->has_dialect ? o->dialect : LEDGER_DIALECT_POC;
    if (live_simulate(&c) == 0 && live_dialect_applies(&c) == 0 && live_start_server(&c) == 0) {
        runner_opts rop;
        runner_opts_default(&rop);
        rop.dialect = o->has_dialect ? o->dialect : detect_dialect(c.srv);
        if (rop.dialect != c.dialect) { /* the banner named the other dialect: simulate again */
            c.dialect = rop.dialect;
            if (live_plan(&c) != 0 || live_dialect_applies(&c) != 0)
                goto done;
        }
        rop.timeout_ms = o->timeout_ms;
        rop.dump_timeout_ms = o->timeout_ms;
        rop.procs = run_procs; /* --transport both: the SHM stand-ins (cmd_run_socket_with) */
        runner_status st = runner_run_plan(c.srv, &c.p, &rop, o->record, &c.res);
        c.have_res = 1;
        if (st != RUNNER_OK) {
            verdict_report_set_error(rep, st == RUNNER_BAD_INPUT ? 2 : 3, sbuf_str(&c.res.message));
        } else {
            for (size_t i = 0; i < c.res.ndumps; i++)
                if (c.res.dumps[i].plan_dump >= 0 && (size_t)c.res.dumps[i].plan_dump < c.p.ndumps)
                    live_check_dump(&c, &c.res.dumps[i]);
            cmd_run_check_cbk(rep, &c.p, c.srv, &c.res, o->timeout_ms); /* DUMP_KERNELS, expect query/kernels */
            live_check_rest(&c);
            live_stop_server(&c);
        }
    }
done:
    live_write_outputs(&c);
    if (c.have_res)
        runner_result_release(&c.res);
    srvproc_free(c.srv);
    timeline_free(c.tl);
    plan_release(&c.p);
    scn_script_free(c.script);
    mem_free(c.text);
    sbuf_release(&c.repro);
    sbuf_release(&c.canonical);
}

static void emit_reports(verdict_report **reps, size_t n, const run_opts *o) {
    if (o->tap)
        verdict_print_tap((const verdict_report *const *)reps, n, stdout);
    if (o->junit && verdict_write_junit((const verdict_report *const *)reps, n, o->junit) != 0)
        fprintf(stderr, "allocsim: cannot write %s: %s\n", o->junit, strerror(errno));
}

/* The socket run of `--transport both` (cli/cmd_run_shm.c): cmd_run with the runner's
 * processes being the SHM stand-ins. Single-threaded use only (allocsim run, not check). */
int cmd_run_socket_with(int argc, char **argv, const runner_procs *procs) {
    run_procs = procs;
    int rc = cmd_run(argc, argv);
    run_procs = NULL;
    return rc;
}

int cmd_run(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--dry-run") == 0)
            return cmd_run_dry(argc, argv);
    for (int i = 1; i + 1 < argc; i++) /* --transport shm|both: cli/cmd_run_shm.c */
        if (strcmp(argv[i], "--transport") == 0) {
            if (strcmp(argv[i + 1], "socket") != 0)
                return cmd_run_shm(argc, argv);
            memmove(&argv[i], &argv[i + 2], sizeof *argv * (size_t)(argc - i - 1)); /* keeps argv[argc] NULL */
            argc -= 2;
            break;
        }
    run_opts o;
    const char **paths;
    int npaths;
    int rc = parse_opts(argc, argv, &o, &paths, &npaths);
    if (rc == 0 && npaths != 1) {
        fprintf(stderr, "allocsim run: expected one scenario file, found %d (allocsim run --help)\n", npaths);
        rc = 2;
    }
    if (rc) {
        mem_free(paths);
        return rc;
    }
    budget_apply_memory(&o.lim);
    verdict_report rep;
    verdict_report_init(&rep, paths[0]);
    FILE *out = o.tap ? stderr : stdout;
    run_scenario(paths[0], &o, &rep, out);
    /* A scenario that cannot be read, parsed or simulated is one line on stderr, like a
     * compiler error (`path:line:col: expected ..., found ...`): nothing was checked. */
    if (rep.error_status == 2 && rep.ncases == 0 && rep.error)
        fprintf(stderr, "%s\n", rep.error);
    else
        verdict_print_human(&rep, o.tap ? stderr : stdout);
    verdict_report *reps[1] = {&rep};
    emit_reports(reps, 1, &o);
    rc = verdict_report_status(&rep);
    verdict_report_release(&rep);
    mem_free(paths);
    return rc;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void list_push(char ***list, size_t *n, size_t *cap, char *item) {
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 32;
        *list = mem_realloc(*list, *cap * sizeof **list);
    }
    (*list)[(*n)++] = item;
}

#define COLLECT_MAX_DEPTH 8

/* Expands a directory into its *.scn files, then the ones of its subdirectories (hidden ones
 * skipped), each level sorted by name: a stable order whatever readdir returns. A file stays
 * itself. */
static int collect_at(const char *path, char ***list, size_t *n, size_t *cap, int depth) {
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "allocsim check: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        list_push(list, n, cap, mem_strdup(path));
        return 0;
    }
    if (depth > COLLECT_MAX_DEPTH) {
        fprintf(stderr, "allocsim check: %s: more than %d directory levels (a link loop?)\n", path, COLLECT_MAX_DEPTH);
        return -1;
    }
    DIR *d = opendir(path);
    if (!d) {
        fprintf(stderr, "allocsim check: %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t start = *n;
    char **subs = NULL;
    size_t nsubs = 0, capsubs = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        size_t l = strlen(e->d_name);
        sbuf b = SBUF_INIT;
        sbuf_printf(&b, "%s%s%s", path, path[strlen(path) - 1] == '/' ? "" : "/", e->d_name);
        struct stat es;
        if (stat(b.data, &es) == 0 && S_ISDIR(es.st_mode))
            list_push(&subs, &nsubs, &capsubs, b.data);
        else if (l >= 5 && strcmp(e->d_name + l - 4, ".scn") == 0)
            list_push(list, n, cap, b.data);
        else
            sbuf_release(&b);
    }
    closedir(d);
    qsort(*list + start, *n - start, sizeof **list, cmp_str);
    if (nsubs)
        qsort(subs, nsubs, sizeof *subs, cmp_str);
    int rc = 0;
    for (size_t i = 0; i < nsubs; i++) {
        if (rc == 0 && collect_at(subs[i], list, n, cap, depth + 1) != 0)
            rc = -1;
        mem_free(subs[i]);
    }
    mem_free(subs);
    return rc;
}

static int collect(const char *path, char ***list, size_t *n, size_t *cap) { return collect_at(path, list, n, cap, 0); }

typedef struct {
    char **list;
    verdict_report **reps;
    size_t n;
    const run_opts *o;
    size_t next; /* next scenario to run, under lock */
    pthread_mutex_t lock;
    sbuf *texts; /* per scenario: its progress and report */
} check_pool;

static void *check_worker(void *arg) {
    check_pool *pool = arg;
    for (;;) {
        pthread_mutex_lock(&pool->lock);
        size_t i = pool->next < pool->n ? pool->next++ : pool->n;
        pthread_mutex_unlock(&pool->lock);
        if (i == pool->n)
            return NULL;
        char *buf = NULL;
        size_t len = 0;
        FILE *mem = open_memstream(&buf, &len);
        if (!mem) {
            verdict_report_set_error(pool->reps[i], 3, "open_memstream failed");
            continue;
        }
        run_scenario(pool->list[i], pool->o, pool->reps[i], mem);
        verdict_print_human(pool->reps[i], mem);
        fclose(mem);
        sbuf_append(&pool->texts[i], buf, len);
        free(buf);
    }
}

int cmd_check(int argc, char **argv) {
    run_opts o;
    const char **paths;
    int npaths;
    int rc = parse_opts(argc, argv, &o, &paths, &npaths);
    if (rc) {
        mem_free(paths);
        return rc;
    }
    if (o.record || o.timeline || o.plot) {
        fprintf(stderr, "allocsim check: --record, --timeline and --plot apply to one scenario: use allocsim run\n");
        mem_free(paths);
        return 2;
    }
    budget_apply_memory(&o.lim);
    char **list = NULL;
    size_t n = 0, cap = 0;
    int bad = 0;
    o.skip_incompatible = 1;
    if (npaths == 0) {
        const char *dir = access("scenarios", F_OK) == 0 ? "scenarios" : ALLOCSIM_SOURCE_DIR "/scenarios";
        bad |= collect(dir, &list, &n, &cap) != 0;
    }
    for (int i = 0; i < npaths; i++)
        bad |= collect(paths[i], &list, &n, &cap) != 0;
    mem_free(paths);
    if (bad || n == 0) {
        if (!bad)
            fprintf(stderr, "allocsim check: no scenario files found\n");
        for (size_t i = 0; i < n; i++)
            mem_free(list[i]);
        mem_free(list);
        return 2;
    }
    verdict_report **reps = mem_calloc(n, sizeof *reps);
    for (size_t i = 0; i < n; i++) {
        reps[i] = mem_calloc(1, sizeof **reps);
        verdict_report_init(reps[i], list[i]);
    }
    FILE *out = o.tap ? stderr : stdout;
    if (o.jobs > 1 && n > 1 && o.socket) {
        fprintf(out, "note: -j ignored: runs attached to one server (--socket) go one at a time\n");
        o.jobs = 1;
    }
    check_pool pool = {list, reps, n, &o, 0, PTHREAD_MUTEX_INITIALIZER, NULL};
    pool.texts = mem_calloc(n, sizeof *pool.texts);
    if (o.jobs <= 1 || n == 1) {
        for (size_t i = 0; i < n; i++) {
            run_scenario(list[i], &o, reps[i], out);
            verdict_print_human(reps[i], out);
        }
    } else {
        /* Each scenario gets its own server and private socket (the shim), so runs are
         * independent; their output is kept per scenario and printed in order. */
        size_t nthreads = (size_t)o.jobs < n ? (size_t)o.jobs : n;
        pthread_t *tids = mem_calloc(nthreads, sizeof *tids);
        size_t started = 0;
        for (; started < nthreads; started++)
            if (pthread_create(&tids[started], NULL, check_worker, &pool) != 0)
                break;
        if (started == 0)
            check_worker(&pool);
        for (size_t t = 0; t < started; t++)
            pthread_join(tids[t], NULL);
        mem_free(tids);
        for (size_t i = 0; i < n; i++)
            fputs(sbuf_str(&pool.texts[i]), out);
    }
    for (size_t i = 0; i < n; i++)
        sbuf_release(&pool.texts[i]);
    mem_free(pool.texts);
    int worst = 0;
    size_t passed = 0;
    for (size_t i = 0; i < n; i++) {
        int st = verdict_report_status(reps[i]);
        passed += st == 0;
        if (st > worst)
            worst = st;
    }
    fprintf(out, "\n%zu passed, %zu failed\n", passed, n - passed);
    emit_reports(reps, n, &o);
    for (size_t i = 0; i < n; i++) {
        verdict_report_release(reps[i]);
        mem_free(reps[i]);
        mem_free(list[i]);
    }
    mem_free(reps);
    mem_free(list);
    return worst;
}
