/* cmd_run_shm: `allocsim run SCENARIO --transport shm|both` — the SHM transport.
 *
 * Simulates the scenario into a plan (the same plan the socket transport sends), derives the
 * SHM operations and the regions the writer model expects (sim/shm_plan), runs the
 * operations with real stand-in processes on real region files in a private directory
 * (harness/shm_run), and judges every check point (each `dump` and the end of the run):
 * every region file must exist exactly when the model's does, have its size, and hold every
 * byte the model determines (live pids mapped to simulated ones; timestamps excluded); the
 * readable rendering of all regions is compared with the golden file NAME.shm-LAYOUT.golden.
 * `--transport both` runs the socket transport at the same time with the same processes: the
 * socket runner's frames carry the SHM stand-ins' pids, and both are checked at every check
 * point (docs/shm-transport.md).
 * Exit status: 0 all held, 1 a check failed, 2 bad usage or scenario, 3 the region
 * directory or a stand-in failed.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "budget.h"
#include "cmd_run_shm.h"
#include "cmds.h"
#include "mem.h"
#include "scn_load.h"
#include "scn_run.h"
#include "shm_expect.h"
#include "shm_io.h"
#include "shm_plan.h"
#include "shm_run.h"
#include "verdict.h"

typedef struct {
    const char *path;
    int both;
    int argc;   /* the whole command line (--transport both hands it to the socket run) */
    char **argv;
    int socket_rc; /* --transport both: the socket run's exit status, -1 if it did not run */
    const char *shm_dir, *reader, *layout;
    int keep, live;
    int has_seed, has_rev;
    uint64_t seed;
    proto_rev rev;
    int update_golden, no_golden, quiet, verbose;
    budget lim;
} shm_opts;

static void usage(FILE *f) {
    fprintf(f,
            "usage: allocsim run SCENARIO --transport shm|both [--shm-dir DIR] [--keep-shm] [--shm-live]\n"
            "                    [--reader \"CMD\"] [--shm-layout LAYOUT] [--seed N] [--protocol REV]\n"
            "                    [--update-golden] [--no-golden] [-q] [-v]\n"
            "  --transport shm       stand-in processes write TT-Metal's SHM regions; no server\n"
            "  --transport both      both at once: each stand-in's pid in the frames and in the region slots\n"
            "                        (server options apply to the socket side)\n"
            "  --shm-dir DIR         region directory (default: a new private one under /dev/shm)\n"
            "  --keep-shm            leave the region files after the run\n"
            "  --shm-live            use the machine's /dev/shm (touches real tt_device_* regions!)\n"
            "  --reader \"CMD\"        run CMD at every check point with /dev/shm redirected (shim)\n"
            "  --shm-layout LAYOUT   override every mesh's shm_layout (%s, v4a, v4b, v4c)\n",
            shml_version_names());
}

static int parse(int argc, char **argv, shm_opts *o) {
    memset(o, 0, sizeof *o);
    budget_defaults(&o->lim);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char lerr[256];
        int lr = budget_parse_option(argc, argv, &i, &o->lim, lerr, sizeof lerr);
        if (lr < 0) {
            fprintf(stderr, "allocsim run: %s\n", lerr);
            return 2;
        }
        if (lr > 0)
            continue;
        int takes = strcmp(a, "--transport") == 0 || strcmp(a, "--shm-dir") == 0 || strcmp(a, "--reader") == 0 ||
                    strcmp(a, "--shm-layout") == 0 || strcmp(a, "--seed") == 0 || strcmp(a, "--protocol") == 0;
        if (takes && !v) {
            fprintf(stderr, "allocsim run: %s needs a value\n", a);
            return 2;
        }
        if (strcmp(a, "--transport") == 0) {
            if (strcmp(v, "shm") != 0 && strcmp(v, "both") != 0) {
                fprintf(stderr, "allocsim run: --transport: expected socket, shm or both, found '%s'\n", v);
                return 2;
            }
            o->both = strcmp(v, "both") == 0;
            i++;
        } else if (strcmp(a, "--shm-dir") == 0) {
            o->shm_dir = v;
            i++;
        } else if (strcmp(a, "--reader") == 0) {
            o->reader = v;
            i++;
        } else if (strcmp(a, "--shm-layout") == 0) {
            o->layout = v;
            i++;
        } else if (strcmp(a, "--keep-shm") == 0) {
            o->keep = 1;
        } else if (strcmp(a, "--shm-live") == 0) {
            o->live = 1;
        } else if (strcmp(a, "--seed") == 0) {
            char *end;
            errno = 0;
            o->seed = strtoull(v, &end, 0);
            if (errno || *end || !*v || v[0] == '-') {
                fprintf(stderr, "allocsim run: --seed: expected an unsigned 64-bit number, found '%s'\n", v);
                return 2;
            }
            o->has_seed = 1;
            i++;
        } else if (strcmp(a, "--protocol") == 0) {
            if (proto_rev_parse(v, &o->rev) < 0) {
                fprintf(stderr, "allocsim run: --protocol: expected one of %s, found '%s'\n", proto_rev_names(), v);
                return 2;
            }
            o->has_rev = 1;
            i++;
        } else if (strcmp(a, "--update-golden") == 0) {
            o->update_golden = 1;
        } else if (strcmp(a, "--no-golden") == 0) {
            o->no_golden = 1;
        } else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
            o->quiet = 1;
        } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
            o->verbose = 1;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return -1;
        } else if (o->both && a[0] == '-') {
            /* a socket-transport option: the socket run reads it */
            if (i + 1 < argc && argv[i + 1][0] != '-' &&
                (strcmp(a, "--server") == 0 || strcmp(a, "--socket") == 0 || strcmp(a, "--server-log") == 0 ||
                 strcmp(a, "--timeout") == 0 || strcmp(a, "--isolation") == 0 || strcmp(a, "--dialect") == 0 ||
                 strcmp(a, "--record") == 0 || strcmp(a, "--junit") == 0 || strcmp(a, "--timeline") == 0 ||
                 strcmp(a, "--plot") == 0))
                i++;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "allocsim run: --transport shm: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        } else if (!o->path) {
            o->path = a;
        } else {
            fprintf(stderr, "allocsim run: expected one scenario file, found a second: '%s'\n", a);
            return 2;
        }
    }
    if (!o->path) {
        fprintf(stderr, "allocsim run: expected a scenario file\n");
        usage(stderr);
        return 2;
    }
    if (o->live && o->shm_dir) {
        fprintf(stderr, "allocsim run: --shm-live and --shm-dir exclude each other\n");
        return 2;
    }
    return 0;
}

int cmd_shm_override_layout(scn_script *s, const char *name, char *err, size_t errlen) {
    shml_version v;
    shmm_subvariant sub = SHMM_SUB_NONE;
    if (strcmp(name, "v4a") == 0 || strcmp(name, "v4b") == 0 || strcmp(name, "v4c") == 0) {
        v = SHML_V4;
        sub = name[2] == 'a' ? SHMM_SUB_V4A : name[2] == 'b' ? SHMM_SUB_V4B : SHMM_SUB_V4C;
    } else if (shml_version_parse(name, &v) < 0) {
        snprintf(err, errlen, "--shm-layout: expected one of %s, v4a, v4b, v4c, found '%s'", shml_version_names(), name);
        return -1;
    }
    for (int i = 0; i < s->nmeshes; i++) {
        dev_config *c = &s->meshes[i].cfg;
        c->shm_layout = (uint8_t)(v + 1);
        c->shm_sub = (uint8_t)sub;
        /* options of another layout no longer apply: back to the new layout's defaults */
        c->shm_l1a_padding = c->shm_version_check = c->shm_claim_cas = c->shm_idle_reset = 0;
        c->shm_cb_update = c->shm_cb_era = c->shm_cb_rate_limit_set = 0;
        c->shm_cb_rate_limit_ns = 0;
    }
    return 0;
}

static void render_chip_header(const shm_plan *sp, int c, sbuf *out) {
    sbuf_printf(out, "-- %s (device %" PRId32 ")\n", sp->chips[c].name, sp->chips[c].device_id);
}

static void render_image(const shm_plan *sp, const shmp_image *im, dumpview_pid_name_fn name, void *ctx, sbuf *out) {
    for (int c = 0; c < sp->nchips; c++) {
        render_chip_header(sp, c, out);
        if (!im->exists[c]) {
            sbuf_puts(out, "  (no file)\n");
            continue;
        }
        size_t len = im->size[c] < SHMM_FILE_CAPACITY ? im->size[c] : SHMM_FILE_CAPACITY;
        shmp_render_region(sp->chips[c].layout, shmp_image_bytes(im, c), len, name, ctx, out);
    }
}

static const char *plan_pid_name(void *ctx, int32_t pid) { return scn_run_pid_name(ctx, pid); }

long cmd_shm_render_expected(const scn_script *s, const plan *p, sbuf *out, size_t *held) {
    shm_plan sp;
    char err[256];
    long failed = 0;
    if (shmp_build(s, p, &sp, err, sizeof err) < 0) {
        sbuf_printf(out, "%s\n", err);
        return -1;
    }
    for (size_t i = 0; i < p->ndumps && i < sp.ndumps; i++) {
        sbuf_printf(out, "== %s: expected SHM regions\n", p->dumps[i].golden_name);
        render_image(&sp, &sp.dumps[i], plan_pid_name, (void *)p, out);
        for (size_t k = 0; k < p->dumps[i].nexpects; k++) {
            const struct scn_expect *e = &p->dumps[i].expects[k];
            if (e->kind != SCN_EXPECT_SHM)
                continue;
            sbuf why = SBUF_INIT;
            if (shmx_eval(e, p, &sp, &sp.dumps[i], &sp.dumps[i], &why)) {
                sbuf_printf(out, "expect line %d: ok: %s\n", e->line, e->text);
                (*held)++;
            } else {
                sbuf_printf(out, "expect line %d: FAILED: %s\n  %s\n", e->line, e->text, sbuf_str(&why));
                failed++;
            }
            sbuf_release(&why);
        }
    }
    sbuf_printf(out, "== end of run: expected SHM regions\n");
    render_image(&sp, &sp.final, plan_pid_name, (void *)p, out);
    shmp_release(&sp);
    return failed;
}

/* The `expect shm` expectations of dump i on the regions read at its check point (live
 * pids mapped to simulated ones first). */
static void check_shm_expects(verdict_report *rep, shmrun *x, const plan *p, const shm_plan *sp, size_t i) {
    const plan_dump *d = &p->dumps[i];
    shmp_image mapped;
    size_t n = sp->nchips ? (size_t)sp->nchips : 1;
    int any = 0;
    for (size_t k = 0; k < d->nexpects; k++)
        any |= d->expects[k].kind == SCN_EXPECT_SHM;
    if (!any)
        return;
    mapped.bytes = mem_alloc(n * SHMM_FILE_CAPACITY);
    if (!mapped.bytes) {
        verdict_report_add(rep, "expect shm", 0, "out of memory (host)");
        return;
    }
    memcpy(mapped.bytes, x->actual[i].bytes, (size_t)sp->nchips * SHMM_FILE_CAPACITY);
    mapped.size = x->actual[i].size;
    mapped.exists = x->actual[i].exists;
    for (int c = 0; c < sp->nchips; c++)
        if (mapped.exists[c]) {
            size_t len = mapped.size[c] < SHMM_FILE_CAPACITY ? mapped.size[c] : SHMM_FILE_CAPACITY;
            shmp_map_pids(sp->chips[c].layout, mapped.bytes + (size_t)c * SHMM_FILE_CAPACITY, len, shmrun_live_to_sim,
                          x);
        }
    for (size_t k = 0; k < d->nexpects; k++) {
        const struct scn_expect *e = &d->expects[k];
        if (e->kind != SCN_EXPECT_SHM)
            continue;
        sbuf why = SBUF_INIT;
        int ok = shmx_eval(e, p, sp, &sp->dumps[i], &mapped, &why);
        char name[600];
        snprintf(name, sizeof name, "%s: line %d: %s", d->golden_name, e->line, e->text ? e->text : "expect shm");
        verdict_report_add(rep, name, ok, ok ? NULL : sbuf_str(&why));
        sbuf_release(&why);
    }
    mem_free(mapped.bytes);
}

/* Compares one region file with the model; adds one case. */
static void check_region(verdict_report *rep, const char *label, shmrun *x, const shm_plan *sp, int c,
                         const shmp_image *want, const shmp_image *got) {
    char name[512], detail[1024] = "";
    snprintf(name, sizeof name, "%s: region %s (device %" PRId32 ") matches model", label, sp->chips[c].name,
             sp->chips[c].device_id);
    int ok = 1;
    if (want->exists[c] != got->exists[c]) {
        ok = 0;
        snprintf(detail, sizeof detail, "expected the file %s, found it %s", want->exists[c] ? "to exist" : "absent",
                 got->exists[c] ? "present" : "missing");
    } else if (want->exists[c] && want->size[c] != got->size[c]) {
        ok = 0;
        snprintf(detail, sizeof detail, "file size: expected %zu bytes, found %zu", want->size[c], got->size[c]);
    } else if (want->exists[c]) {
        size_t len = want->size[c] < SHMM_FILE_CAPACITY ? want->size[c] : SHMM_FILE_CAPACITY;
        uint8_t *mask = mem_alloc(SHMM_FILE_CAPACITY), *mapped = mem_alloc(SHMM_FILE_CAPACITY);
        if (!mask || !mapped) {
            ok = 0;
            snprintf(detail, sizeof detail, "out of memory (host)");
        } else if (shml_size_valid(sp->chips[c].layout, len)) {
            memcpy(mapped, shmp_image_bytes(got, c), SHMM_FILE_CAPACITY);
            shmp_map_pids(sp->chips[c].layout, mapped, len, shmrun_live_to_sim, x);
            shmm_expect_mask(sp->chips[c].layout, len, 0, mask);
            char why[512];
            long off = shmm_expect_compare(sp->chips[c].layout, shmp_image_bytes(want, c), mapped, mask, len, why,
                                           sizeof why);
            if (off >= 0) {
                ok = 0;
                snprintf(detail, sizeof detail, "%s", why);
            }
        } else if (memcmp(shmp_image_bytes(want, c), shmp_image_bytes(got, c), len) != 0) {
            ok = 0; /* a size no layout has (a mixed-version shrink): compare every byte */
            snprintf(detail, sizeof detail, "%zu-byte file differs from the model", len);
        }
        mem_free(mask);
        mem_free(mapped);
    }
    verdict_report_add(rep, name, ok, ok ? NULL : detail);
}

static void golden_path(const char *scenario, const char *layout, sbuf *out) {
    size_t len = strlen(scenario);
    if (len > 4 && strcmp(scenario + len - 4, ".scn") == 0)
        len -= 4;
    sbuf_printf(out, "%.*s.shm-%s.golden", (int)len, scenario, layout);
}

static int run_socket_too(int argc, char **argv, const runner_procs *procs);

/* The SHM run; fills rep. */
static void run_shm(const shm_opts *o, verdict_report *rep, FILE *out) {
    scn_script *s = NULL;
    char err[2048];
    plan p;
    memset(&p, 0, sizeof p);
    shm_plan sp;
    memset(&sp, 0, sizeof sp);
    shmio_dir dir;
    memset(&dir, 0, sizeof dir);
    shmrun x;
    memset(&x, 0, sizeof x);
    int have_x = 0;
    sbuf canon = SBUF_INIT, gp = SBUF_INIT, repro = SBUF_INIT;
    if (scn_load_file(o->path, &s, err, sizeof err) < 0) {
        budget_explain(&o->lim, err, sizeof err);
        verdict_report_set_error(rep, 2, err);
        goto out;
    }
    if (o->layout && cmd_shm_override_layout(s, o->layout, err, sizeof err) < 0) {
        verdict_report_set_error(rep, 2, err);
        goto out;
    }
    scn_run_opts ro;
    scn_run_opts_init(&ro);
    ro.has_seed = o->has_seed;
    ro.seed = o->seed;
    ro.has_rev = o->has_rev;
    ro.rev = o->rev;
    budget_apply_run(&o->lim, &ro);
    scn_run_info info;
    int rc = scn_run(s, &ro, &p, &info, err, sizeof err);
    if (rc != SCN_RUN_OK) {
        budget_explain(&o->lim, err, sizeof err);
        verdict_report_set_error(rep, rc == SCN_RUN_FAILED ? 1 : 2, err);
        goto out;
    }
    scn_run_info_release(&info);
    if (o->both) {
        /* the socket side's options (--server, --dialect, ...) matter too: the whole command */
        sbuf_puts(&repro, "allocsim");
        for (int i = 0; i < o->argc; i++) {
            sbuf_putc(&repro, ' ');
            cmd_shell_quote(&repro, o->argv[i]);
        }
        if (!o->has_seed)
            sbuf_printf(&repro, " --seed %" PRIu64, p.seed);
        if (!o->has_rev)
            sbuf_printf(&repro, " --protocol %s", proto_rev_get(p.rev)->name);
    } else {
        sbuf_printf(&repro, "allocsim run %s --transport shm --seed %" PRIu64 " --protocol %s", o->path, p.seed,
                    proto_rev_get(p.rev)->name);
        if (o->layout)
            sbuf_printf(&repro, " --shm-layout %s", o->layout);
    }
    verdict_report_set_repro(rep, sbuf_str(&repro));
    if (shmp_build(s, &p, &sp, err, sizeof err) < 0) {
        verdict_report_set_error(rep, 3, err);
        goto out;
    }
    if (shmio_dir_open(&dir, o->shm_dir, (o->keep ? SHMIO_DIR_KEEP : 0u) | (o->live ? SHMIO_DIR_LIVE : 0u), err,
                       sizeof err) < 0) {
        verdict_report_set_error(rep, 3, err);
        goto out;
    }
    if (shmrun_init(&x, &p, &sp, &dir, o->reader) < 0) {
        verdict_report_set_error(rep, 3, x.msg);
        have_x = 1;
        goto out;
    }
    have_x = 1;
    if (o->both) {
        /* One process per simulated process for both transports: the socket run's frames
         * carry the SHM stand-ins' pids, and the SHM plan catches up at every process start,
         * end and dump (shmrun_runner_procs). The socket run prints its own report first. */
        runner_procs procs;
        shmrun_runner_procs(&x, &procs);
        shm_opts *mo = (shm_opts *)o;
        mo->socket_rc = run_socket_too(o->argc, o->argv, &procs);
        fflush(stdout);
    }
    if (shmrun_finish(&x) < 0) {
        verdict_report_set_error(rep, 3, x.msg);
        goto out;
    }
    for (size_t i = 0; i < p.ndumps && i < sp.ndumps; i++) {
        if (!x.have_actual[i])
            continue;
        for (int c = 0; c < sp.nchips; c++)
            check_region(rep, p.dumps[i].golden_name, &x, &sp, c, &sp.dumps[i], &x.actual[i]);
        check_shm_expects(rep, &x, &p, &sp, i);
        sbuf_printf(&canon, "== %s\n", p.dumps[i].golden_name);
        render_image(&sp, &x.actual[i], shmrun_live_pid_name, &x, &canon);
        if (o->reader && x.reader_status[i] != -1) {
            char rname[512];
            snprintf(rname, sizeof rname, "%s: reader exits with status 0", p.dumps[i].golden_name);
            int st = x.reader_status[i];
            int ok = st == 0;
            char detail[256];
            snprintf(detail, sizeof detail, "reader wait status 0x%x", (unsigned)st);
            verdict_report_add(rep, rname, ok, ok ? NULL : detail);
            if (!o->quiet)
                fprintf(out, "--- %s: reader output ---\n%s", p.dumps[i].golden_name, sbuf_str(&x.reader_out[i]));
        }
        if (o->verbose) {
            sbuf tmp = SBUF_INIT;
            render_image(&sp, &x.actual[i], shmrun_live_pid_name, &x, &tmp);
            fprintf(out, "--- %s: SHM regions ---\n%s", p.dumps[i].golden_name, sbuf_str(&tmp));
            sbuf_release(&tmp);
        }
    }
    for (int c = 0; c < sp.nchips; c++)
        check_region(rep, "end of run", &x, &sp, c, &sp.final, &x.final);
    sbuf_printf(&canon, "== end of run\n");
    render_image(&sp, &x.final, shmrun_live_pid_name, &x, &canon);
    if (!o->no_golden && sp.nchips > 0) {
        golden_path(o->path, shml_version_get(sp.cfgs[0].version)->name, &gp);
        verdict_golden(rep, sbuf_str(&gp), sbuf_str(&canon), o->update_golden);
    }
    if (!o->quiet && (o->keep || o->live))
        fprintf(out, "note: SHM regions kept in %s\n", dir.path);
out:
    if (have_x)
        shmrun_release(&x);
    shmio_dir_close(&dir);
    shmp_release(&sp);
    plan_release(&p);
    scn_script_free(s);
    sbuf_release(&canon);
    sbuf_release(&gp);
    sbuf_release(&repro);
}

/* The socket run of --transport both: the same arguments without the SHM ones. */
static int run_socket_too(int argc, char **argv, const runner_procs *procs) {
    char **av = mem_calloc((size_t)argc + 1, sizeof *av);
    if (!av)
        return 2;
    int n = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--transport") == 0 || strcmp(a, "--shm-dir") == 0 || strcmp(a, "--reader") == 0 ||
            strcmp(a, "--shm-layout") == 0) {
            i++;
            continue;
        }
        if (strcmp(a, "--keep-shm") == 0 || strcmp(a, "--shm-live") == 0)
            continue;
        av[n++] = argv[i];
    }
    int rc = cmd_run_socket_with(n, av, procs);
    mem_free(av);
    return rc;
}

int cmd_run_shm(int argc, char **argv) {
    shm_opts o;
    int prc = parse(argc, argv, &o);
    if (prc != 0)
        return prc < 0 ? 0 : prc;
    budget_apply_memory(&o.lim);
    o.argc = argc;
    o.argv = argv;
    o.socket_rc = -1;
    verdict_report rep;
    verdict_report_init(&rep, o.path);
    run_shm(&o, &rep, stdout);
    if (rep.error_status == 2 && rep.ncases == 0 && rep.error)
        fprintf(stderr, "%s\n", rep.error);
    else
        verdict_print_human(&rep, stdout);
    int rc = verdict_report_status(&rep);
    verdict_report_release(&rep);
    if (o.both && o.socket_rc > rc)
        rc = o.socket_rc;
    return rc;
}
