/* cmd_run_dry: `allocsim run SCENARIO --dry-run` — simulate a scenario without any server.
 *
 * Prints one line per simulated message (and per process start, exit and crash), then the
 * server output the ledger expects at every dump, then the result of every expectation
 * evaluated against those expected dumps, then the XXH3-64 digest of the encoded message
 * stream. --check-determinism runs the scenario twice and compares the whole output.
 * Exit status: 0 every expectation held, 1 one failed (or the two runs differed), 2 bad
 * usage or a bad scenario (parse error, scenario error such as out of memory).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_run_shm.h"
#include "cmds.h"
#include "dumpview.h"
#include "budget.h"
#include "mem.h"
#include "sbuf.h"
#include "scn.h"
#include "scn_load.h"
#include "scn_run.h"
#include "timeline.h"

static void usage(FILE *f) {
    fprintf(f, "usage: allocsim run SCENARIO --dry-run [--seed N] [--protocol REV] [--timeline FILE.tsv]\n"
               "                    [--check-determinism] [--quiet]\n"
               "  --seed N             seed of the run (default: the scenario's `seed`, else 0)\n"
               "  --protocol REV       %s (default: the scenario's `protocol`, else v72)\n"
               "  --timeline FILE      write the memory timeline (TSV, docs/scenarios.md)\n"
               "  --check-determinism  run twice; fail if the output or digest differ\n"
               "  --quiet              omit the per-message lines\n"
               "  --transport shm|both also print the SHM regions the model expects at every dump\n"
               "  --shm-layout LAYOUT  override every mesh's shm_layout (v1-K ... v4, v4a, v4b, v4c)\n"
               "  --dialect poc|enhanced  whose dumps to expect (default poc; enhanced: allocation_server_enhanced)\n"
               "%s",
            proto_rev_names(), budget_usage());
}

static const char *type_name(uint8_t t, char *buf, size_t n) {
    if (t < PROTO_BUF_TYPE_COUNT)
        return proto_buffer_type_name(t);
    snprintf(buf, n, "%u", (unsigned)t);
    return buf;
}

static void render_step(const plan *p, const plan_step *s, sbuf *out) {
    const char *proc = p->proc_names[s->proc];
    const proto_msg *m = &s->msg;
    char tb[8];
    switch (s->kind) {
    case PLAN_SPAWN:
        sbuf_printf(out, "SPAWN proc=%s pid=%" PRId32 "\n", proc, p->sim_pid[s->proc]);
        return;
    case PLAN_EXIT:
        sbuf_printf(out, "EXIT proc=%s\n", proc);
        return;
    case PLAN_CRASH:
        sbuf_printf(out, "CRASH proc=%s\n", proc);
        return;
    case PLAN_PHASE:
    case PLAN_OPEN:
    case PLAN_CLOSE:
        return;
    case PLAN_DUMP:
        sbuf_printf(out, "DUMP_REMAINING proc=%s\n", proc);
        return;
    case PLAN_SEND:
        break;
    }
    switch (m->type) {
    case PROTO_ALLOC:
        sbuf_printf(out, "ALLOC dev=%" PRId32 " size=%" PRIu64 " type=%s id=%" PRIu64 " proc=%s\n", m->device_id, m->size,
                    type_name(m->buffer_type, tb, sizeof tb), m->buffer_id, proc);
        break;
    case PROTO_FREE:
        sbuf_printf(out, "FREE dev=%" PRId32 " id=%" PRIu64 " proc=%s\n", m->device_id, m->buffer_id, proc);
        break;
    case PROTO_QUERY:
        sbuf_printf(out, "QUERY dev=%" PRId32 " proc=%s", m->device_id, proc);
        if (s->has_reply)
            sbuf_printf(out, " -> dram=%" PRIu64 " l1=%" PRIu64 " l1_small=%" PRIu64 " trace=%" PRIu64,
                        s->reply.dram_allocated, s->reply.l1_allocated, s->reply.l1_small_allocated,
                        s->reply.trace_allocated);
        if (s->has_reply && p->rev >= PROTO_V144)
            sbuf_printf(out, " cb=%" PRIu64 " kernel=%" PRIu64, s->reply.cb_allocated, s->reply.kernel_allocated);
        sbuf_putc(out, '\n');
        break;
    case PROTO_CB_ALLOC:
    case PROTO_CB_FREE:
        sbuf_printf(out, "%s dev=%" PRId32 " size=%" PRIu64 " id=%" PRIu64 " proc=%s\n",
                    m->type == PROTO_CB_ALLOC ? "CB_ALLOC" : "CB_FREE", m->device_id, m->size, m->buffer_id, proc);
        break;
    case PROTO_KERNEL_LOAD:
        sbuf_printf(out, "KERNEL_LOAD dev=%" PRId32 " size=%" PRIu64 " id=%" PRIu64 " type=%s proc=%s\n", m->device_id,
                    m->size, m->buffer_id, proto_kernel_type_name(m->buffer_type), proc);
        break;
    case PROTO_KERNEL_UNLOAD:
        sbuf_printf(out, "KERNEL_UNLOAD dev=%" PRId32 " size=%" PRIu64 " id=%" PRIu64 " proc=%s\n", m->device_id, m->size,
                    m->buffer_id, proc);
        break;
    default:
        sbuf_printf(out, "%s dev=%" PRId32 " proc=%s\n", proto_type_name(m->type) ? proto_type_name(m->type) : "TYPE",
                    m->device_id, proc);
        break;
    }
    if (s->wire_bytes && out->len && out->data[out->len - 1] == '\n') { /* client frame_bytes= */
        out->data[--out->len] = '\0';
        sbuf_printf(out, " bytes=%u\n", (unsigned)s->wire_bytes);
    }
}

/* Evaluates every expectation of the plan against the ledger's dumps. Returns the number
 * that failed, or -1 when an expected dump does not parse (a bug, reported in out). */
static long render_results(const plan *p, const scn_run_info *info, sbuf *out, size_t *held) {
    long failed = 0;
    *held = 0;
    for (size_t i = 0; i < p->ndumps; i++) {
        const plan_dump *d = &p->dumps[i];
        sbuf_printf(out, "== %s: expected server output\n%s", d->golden_name, sbuf_str(&d->expected));
    }
    for (size_t i = 0; i < p->nkdumps; i++)
        sbuf_printf(out, "== kernels %zu (line %d): expected server output\n%s", i + 1, p->kdumps[i].line,
                    sbuf_str(&p->kdumps[i].expected));
    for (size_t i = 0; i < p->ndumps; i++) {
        const plan_dump *d = &p->dumps[i];
        if (!d->nexpects)
            continue;
        dumpview v;
        char err[256];
        if (dumpview_parse_text(sbuf_str(&d->expected), d->expected.len, &v, err, sizeof err) < 0) {
            sbuf_printf(out, "internal error: expected %s does not parse: %s\n", d->golden_name, err);
            return -1;
        }
        for (size_t k = 0; k < d->nexpects; k++) {
            const struct scn_expect *e = &d->expects[k];
            if (e->kind == SCN_EXPECT_SHM) /* on the SHM regions: cmd_shm_render_expected */
                continue;
            sbuf why = SBUF_INIT;
            int ok = scn_expect_eval(e, &v, scn_run_pid_name, (void *)p, &v, scn_run_pid_name, (void *)p, &why);
            if (ok) {
                sbuf_printf(out, "expect line %d: ok: %s\n", e->line, e->text);
                (*held)++;
            } else {
                sbuf_printf(out, "expect line %d: FAILED: %s\n  %s\n", e->line, e->text, sbuf_str(&why));
                failed++;
            }
            sbuf_release(&why);
        }
        dumpview_release(&v);
    }
    for (size_t i = 0; i < p->nchecks; i++) { /* expect query / expect kernels, on the model */
        const plan_check *c = &p->checks[i];
        if (c->ok) {
            sbuf_printf(out, "expect line %d: ok: %s\n", c->line, c->text);
            (*held)++;
        } else {
            sbuf_printf(out, "expect line %d: FAILED: %s\n  %s\n", c->line, c->text, c->why);
            failed++;
        }
    }
    for (size_t i = 0; info && i < info->ncaught; i++) {
        sbuf_printf(out, "expect error line %d: ok: %s\n", info->caught[i].line, info->caught[i].message);
        (*held)++;
    }
    return failed;
}

typedef struct {
    const char *path;
    scn_run_opts ro;
    budget lim;
    const char *timeline_path;
    int determinism, quiet;
    int shm;                /* --transport shm|both: print the expected SHM regions */
    const char *shm_layout; /* --shm-layout */
} dry_args;

/* One simulation into text. Returns 0 ok, 1 expectation failed, 2 scenario error (message
 * already in out). */
static int dry_once(const scn_script *s, const dry_args *a, timeline *tl, sbuf *out, uint64_t *digest) {
    plan p;
    scn_run_info info;
    char err[1024];
    scn_run_opts ro = a->ro;
    ro.timeline = tl;
    /* --quiet prints no per-message line: unless the SHM model needs them, keep no steps (a
     * 5-million-frame run then needs megabytes instead of gigabytes; docs/benchmarks.md). */
    ro.keep_steps = !a->quiet || a->shm;
    int rc = scn_run(s, &ro, &p, &info, err, sizeof err);
    if (rc != SCN_RUN_OK) {
        budget_explain(&a->lim, err, sizeof err);
        sbuf_printf(out, "%s\n", err);
        return rc == SCN_RUN_FAILED ? 1 : 2;
    }
    if (!a->quiet)
        for (size_t i = 0; i < p.nsteps; i++)
            render_step(&p, &p.steps[i], out);
    size_t held = 0;
    long failed = render_results(&p, &info, out, &held);
    if (p.stderr_model && !a->quiet) /* client frame_bytes=: what the server prints on stderr */
    {
        size_t nl = 0;
        for (const char *c = sbuf_str(&p.stderr_lines); *c; c++)
            nl += *c == '\n';
        sbuf_printf(out, "== server stderr: %zu lines\n%s", nl, sbuf_str(&p.stderr_lines));
    }
    if (a->shm && failed >= 0) {
        long shm_failed = cmd_shm_render_expected(s, &p, out, &held);
        failed = shm_failed < 0 ? -1 : failed + shm_failed;
    }
    sbuf_printf(out, "frames %" PRIu64 ", dumps %zu, expectations %zu held, %ld failed\n", p.frames, p.ndumps, held,
                failed < 0 ? 0 : failed);
    sbuf_printf(out, "digest %016" PRIx64 "\n", p.digest);
    *digest = p.digest;
    plan_release(&p);
    scn_run_info_release(&info);
    return failed < 0 ? 2 : failed > 0 ? 1 : 0;
}

static int write_file(const char *path, const sbuf *b) {
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t n = fwrite(sbuf_str(b), 1, b->len, f);
    int rc = n == b->len ? 0 : -1;
    if (fclose(f) != 0)
        rc = -1;
    return rc;
}

static int parse_args(int argc, char **argv, dry_args *a) {
    memset(a, 0, sizeof *a);
    scn_run_opts_init(&a->ro);
    budget_defaults(&a->lim);
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        char lerr[256];
        int lr = budget_parse_option(argc, argv, &i, &a->lim, lerr, sizeof lerr);
        if (lr < 0) {
            fprintf(stderr, "allocsim run: %s\n", lerr);
            return -1;
        }
        if (lr > 0 || strcmp(arg, "--dry-run") == 0) {
            continue;
        } else if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            usage(stdout);
            return 1;
        } else if (strcmp(arg, "--check-determinism") == 0) {
            a->determinism = 1;
        } else if (strcmp(arg, "--quiet") == 0) {
            a->quiet = 1;
        } else if (strcmp(arg, "--seed") == 0 && val) {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(val, &end, 0);
            if (errno || *end || !*val || val[0] == '-') {
                fprintf(stderr, "allocsim run: --seed: expected an unsigned 64-bit number, found '%s'\n", val);
                return -1;
            }
            a->ro.has_seed = 1;
            a->ro.seed = v;
            i++;
        } else if (strcmp(arg, "--protocol") == 0 && val) {
            if (proto_rev_parse(val, &a->ro.rev) < 0) {
                fprintf(stderr, "allocsim run: --protocol: expected one of %s, found '%s'\n", proto_rev_names(), val);
                return -1;
            }
            a->ro.has_rev = 1;
            i++;
        } else if (strcmp(arg, "--transport") == 0 && val) {
            if (strcmp(val, "socket") != 0 && strcmp(val, "shm") != 0 && strcmp(val, "both") != 0) {
                fprintf(stderr, "allocsim run: --transport: expected socket, shm or both, found '%s'\n", val);
                return -1;
            }
            a->shm = strcmp(val, "socket") != 0;
            i++;
        } else if (strcmp(arg, "--shm-layout") == 0 && val) {
            a->shm_layout = val;
            a->shm = 1;
            i++;
        } else if (strcmp(arg, "--timeline") == 0 && val) {
            a->timeline_path = val;
            i++;
        } else if (strcmp(arg, "--dialect") == 0 && val) {
            if (strcmp(val, "poc") != 0 && strcmp(val, "enhanced") != 0) {
                fprintf(stderr, "allocsim run: --dialect: expected poc or enhanced, found '%s'\n", val);
                return -1;
            }
            a->ro.dialect = strcmp(val, "enhanced") == 0 ? LEDGER_DIALECT_ENHANCED : LEDGER_DIALECT_POC;
            i++;
        } else if (arg[0] == '-' && arg[1]) {
            fprintf(stderr, "allocsim run: unknown option or missing value: '%s'\n", arg);
            usage(stderr);
            return -1;
        } else if (!a->path) {
            a->path = arg;
        } else {
            fprintf(stderr, "allocsim run: expected one scenario, found a second: '%s'\n", arg);
            return -1;
        }
    }
    if (!a->path) {
        fprintf(stderr, "allocsim run: expected a scenario file\n");
        usage(stderr);
        return -1;
    }
    return 0;
}

int cmd_run_dry(int argc, char **argv) {
    dry_args a;
    int prc = parse_args(argc, argv, &a);
    if (prc != 0)
        return prc > 0 ? 0 : 2;
    budget_apply_run(&a.lim, &a.ro);
    budget_apply_memory(&a.lim);
    scn_script *s;
    char err[1024];
    if (scn_load_file(a.path, &s, err, sizeof err) < 0) {
        budget_explain(&a.lim, err, sizeof err);
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    if (a.shm_layout && cmd_shm_override_layout(s, a.shm_layout, err, sizeof err) < 0) {
        fprintf(stderr, "allocsim run: %s\n", err);
        scn_script_free(s);
        return 2;
    }
    timeline *tl = NULL;
    if (a.timeline_path && !(tl = timeline_new())) {
        fprintf(stderr, "allocsim run: out of memory\n");
        scn_script_free(s);
        return 2;
    }
    sbuf out = SBUF_INIT;
    uint64_t digest = 0;
    int rc = dry_once(s, &a, tl, &out, &digest);
    if (rc == 2) {
        fputs(sbuf_str(&out), stderr);
    } else {
        fwrite(sbuf_str(&out), 1, out.len, stdout);
    }
    if (rc != 2 && a.determinism) {
        sbuf again = SBUF_INIT;
        uint64_t digest2 = 0;
        int rc2 = dry_once(s, &a, NULL, &again, &digest2);
        if (rc2 != rc || again.len != out.len || memcmp(sbuf_str(&again), sbuf_str(&out), out.len) != 0) {
            printf("determinism: FAILED: second run differs (digest %016" PRIx64 " then %016" PRIx64 ")\n", digest,
                   digest2);
            rc = 1;
        } else {
            printf("determinism: ok (two runs, digest %016" PRIx64 ")\n", digest);
        }
        sbuf_release(&again);
    }
    if (tl && rc != 2) {
        sbuf tsv = SBUF_INIT;
        timeline_write(tl, &tsv);
        if (sbuf_failed(&tsv) || write_file(a.timeline_path, &tsv) < 0) {
            fprintf(stderr, "allocsim run: cannot write %s: %s\n", a.timeline_path, strerror(errno));
            rc = 2;
        }
        sbuf_release(&tsv);
    }
    if (sbuf_failed(&out)) {
        fprintf(stderr, "allocsim run: out of memory\n");
        rc = 2;
    }
    sbuf_release(&out);
    timeline_free(tl);
    scn_script_free(s);
    fflush(stdout);
    return rc;
}
