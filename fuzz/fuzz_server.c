/* fuzz_server: the executor's server and resources — starting, restarting and stopping the
 * server under test, the pool of stand-in children, outcomes, and the comparison of two
 * servers' observations in differential mode (see fuzz_exec.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "dumpview.h"
#include "fuzz_exec_int.h"
#include "mem.h"

/* ---- outcome ------------------------------------------------------------------------------- */

void fuzz_outcome_init(fuzz_outcome *o) { memset(o, 0, sizeof *o); }

static void outcome_clear_obs(fuzz_outcome *o) {
    for (size_t i = 0; i < o->nobs; i++)
        mem_free(o->obs[i].dump);
    o->nobs = 0;
}

void fuzz_outcome_release(fuzz_outcome *o) {
    if (!o)
        return;
    outcome_clear_obs(o);
    mem_free(o->obs);
    sbuf_release(&o->detail);
    sbuf_release(&o->dump_text);
    fuzz_outcome_init(o);
}

void fuzz_outcome_reset(fuzz_outcome *o) {
    outcome_clear_obs(o);
    sbuf_reset(&o->detail);
    sbuf_reset(&o->dump_text);
    o->verdict = FUZZ_PASS;
    o->signature[0] = '\0';
    o->record = 0;
    o->replies = o->dumps = o->frames = 0;
}

fuzz_observation *fuzz_outcome_add_obs(fuzz_outcome *o) {
    if (o->nobs == o->obs_cap) {
        size_t n = o->obs_cap ? o->obs_cap * 2 : 16;
        fuzz_observation *v = mem_realloc(o->obs, n * sizeof *v);
        if (!v)
            return NULL;
        o->obs = v;
        o->obs_cap = n;
    }
    fuzz_observation *ob = &o->obs[o->nobs++];
    memset(ob, 0, sizeof *ob);
    return ob;
}

/* ---- the server ---------------------------------------------------------------------------- */

int fuzz_exec_timeout(const fuzz_exec *x) { return x->cfg.timeout_ms > 0 ? x->cfg.timeout_ms : 5000; }

static int exec_spawn(fuzz_exec *x, srvproc **out, char *err, size_t errlen) {
    srvproc_config c;
    memset(&c, 0, sizeof c);
    c.command = x->command;
    c.rev = x->cfg.rev;
    c.extra_args = (const char *const *)x->extra;
    return srvproc_start(&c, out, err, errlen);
}

static int exec_start(fuzz_exec *x, char *err, size_t errlen) {
    if (x->attach_socket) {
        if (!x->srv && srvproc_attach(x->attach_socket, x->attach_log, &x->srv, err, errlen) != 0)
            return -1;
    } else {
        char serr[1024];
        if (x->spare && srvproc_wait_ready(x->spare, fuzz_exec_timeout(x) * 2, serr, sizeof serr) == 0) {
            x->srv = x->spare; /* started long ago: ready at once */
        } else {
            srvproc_free(x->spare); /* a spare that died waiting is no use */
            if (exec_spawn(x, &x->srv, err, errlen) != 0)
                return -1;
            if (srvproc_wait_ready(x->srv, fuzz_exec_timeout(x) * 2, err, errlen) != 0)
                return -1;
        }
        x->spare = NULL;
        /* The next one starts now, while this one serves (only with a private socket: two
         * servers cannot share the hard-coded path). */
        if (x->cfg.warm_spare && !srvproc_note(x->srv) && exec_spawn(x, &x->spare, serr, sizeof serr) != 0)
            x->spare = NULL;
    }
    x->log_pos = x->scan_pos = srvproc_log_end(x->srv);
    if (fuzz_model_reset(x->model) != 0 ||
        fuzz_model_connect(x->model, FUZZ_CONN_CONTROL, -1) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    char cerr[512];
    conn_status st = conn_open(&x->control, srvproc_socket_path(x->srv), x->cfg.rev,
                               fuzz_exec_timeout(x), cerr, sizeof cerr);
    if (st != CONN_OK) {
        snprintf(err, errlen, "%s", cerr);
        return -1;
    }
    x->dirty = 0;
    return 0;
}

int fuzz_exec_new(const fuzz_exec_config *cfg, fuzz_exec **out, char *err, size_t errlen) {
    *out = NULL;
    fuzz_exec *x = mem_calloc(1, sizeof *x);
    if (!x) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    x->cfg = *cfg;
    x->quiet_ms = cfg->quiet_ms;
    x->control.fd = -1;
    x->frame_size = proto_rev_get(cfg->rev)->frame_size;
    if (cfg->devices && dev_preset(cfg->devices, &x->devices) != 0) {
        snprintf(err, errlen, "expected a device preset (%s), found '%s'", dev_preset_names(), cfg->devices);
        mem_free(x);
        return -1;
    }
    size_t nextra = 0;
    while (cfg->extra_args && cfg->extra_args[nextra])
        nextra++;
    /* The reference server detects the preset's chips too (two more arguments). */
    int ref_devices = cfg->devices && !cfg->command && !cfg->attach_socket;
    x->extra = mem_calloc(nextra + 3, sizeof *x->extra);
    int oom = !x->extra;
    for (size_t i = 0; !oom && i < nextra; i++)
        oom = !(x->extra[i] = mem_strdup(cfg->extra_args[i]));
    if (!oom && ref_devices)
        oom = !(x->extra[nextra] = mem_strdup("--devices")) || !(x->extra[nextra + 1] = mem_strdup(cfg->devices));
    if (cfg->command)
        oom |= !(x->command = mem_strdup(cfg->command));
    if (cfg->attach_socket)
        oom |= !(x->attach_socket = mem_strdup(cfg->attach_socket));
    if (cfg->attach_log)
        oom |= !(x->attach_log = mem_strdup(cfg->attach_log));
    x->model = oom ? NULL : fuzz_model_new(cfg->rev, 0);
    if (x->model && cfg->devices && fuzz_model_set_devices(x->model, &x->devices) != 0) {
        fuzz_model_free(x->model);
        x->model = NULL;
    }
    if (!x->model) {
        fuzz_exec_free(x);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    x->cfg.command = x->command;
    x->cfg.attach_socket = x->attach_socket;
    x->cfg.attach_log = x->attach_log;
    x->cfg.extra_args = (const char *const *)x->extra;
    x->cfg.devices = NULL; /* not copied; x->devices holds the preset */
    /* The server's own liveness test, so the model drops exactly the pids the server drops. */
    fuzz_model_set_liveness(x->model, standin_pid_dead, NULL);
    if (exec_start(x, err, errlen) != 0) {
        fuzz_exec_free(x);
        return -1;
    }
    *out = x;
    return 0;
}

void fuzz_exec_idle_drop(fuzz_exec *x) {
    for (size_t i = 0; i < x->nidle; i++)
        conn_abort(&x->idle[i]);
    x->nidle = 0;
}

int fuzz_exec_restart(fuzz_exec *x, char *err, size_t errlen) {
    conn_abort(&x->control);
    fuzz_exec_idle_drop(x);
    if (!x->attach_socket) {
        srvproc_free(x->srv);
        x->srv = NULL;
    }
    x->restarts++;
    return exec_start(x, err, errlen);
}

void fuzz_exec_invalidate(fuzz_exec *x) { x->dirty = 1; }

void fuzz_exec_set_quiet(fuzz_exec *x, int quiet_ms) { x->quiet_ms = x->cfg.quiet_ms = quiet_ms; }

const char *fuzz_exec_note(const fuzz_exec *x) { return x->srv ? srvproc_note(x->srv) : NULL; }

uint64_t fuzz_exec_restarts(const fuzz_exec *x) { return x->restarts; }

void fuzz_exec_free(fuzz_exec *x) {
    if (!x)
        return;
    conn_abort(&x->control);
    fuzz_exec_idle_drop(x);
    srvproc_free(x->srv);
    srvproc_free(x->spare);
    for (size_t i = 0; i < x->npool; i++)
        standin_release(&x->pool[i]);
    mem_free(x->pool);
    fuzz_model_free(x->model);
    for (size_t i = 0; x->extra && x->extra[i]; i++)
        mem_free(x->extra[i]);
    mem_free(x->extra);
    mem_free(x->command);
    mem_free(x->attach_socket);
    mem_free(x->attach_log);
    mem_free(x);
}

fuzz_verdict fuzz_exec_settle(fuzz_exec *x, int grace_ms, fuzz_outcome *o) {
    if (o->verdict != FUZZ_PASS || x->attach_socket || !x->srv)
        return o->verdict;
    if (!srvproc_wait_exit(x->srv, grace_ms, NULL))
        return o->verdict;
    /* The dead server is still x->srv: an empty stream's final check diagnoses it. */
    stream empty;
    stream_init(&empty, x->cfg.rev);
    fuzz_exec_run(x, &empty, o);
    stream_release(&empty);
    return o->verdict;
}

/* ---- stand-in pool ------------------------------------------------------------------------- */

int fuzz_exec_pool_take(fuzz_exec *x, standin *out, char *err, size_t errlen) {
    if (x->npool > 0) {
        *out = x->pool[--x->npool];
        return 0;
    }
    memset(out, 0, sizeof *out);
    return standin_spawn(out, err, errlen);
}

void fuzz_exec_pool_give(fuzz_exec *x, standin *s) {
    if (x->npool == x->pool_cap) {
        size_t n = x->pool_cap ? x->pool_cap * 2 : 8;
        standin *v = mem_realloc(x->pool, n * sizeof *v);
        if (!v) {
            standin_release(s);
            return;
        }
        x->pool = v;
        x->pool_cap = n;
    }
    x->pool[x->npool++] = *s;
}

/* ---- differential mode --------------------------------------------------------------------- */

int fuzz_observations_compare(proto_rev rev, const fuzz_outcome *a, const fuzz_outcome *b,
                              char *sig, size_t siglen, sbuf *detail) {
    size_t n = a->nobs < b->nobs ? a->nobs : b->nobs;
    for (size_t i = 0; i < n; i++) {
        const fuzz_observation *x = &a->obs[i], *y = &b->obs[i];
        if (x->is_dump != y->is_dump) {
            snprintf(sig, siglen, "diff-order");
            sbuf_printf(detail, "observation %zu: one server printed a report where the other sent a reply", i);
            return 1;
        }
        if (!x->is_dump) {
            const char *field = fuzz_reply_diff(rev, x->frame, y->frame);
            if (!field)
                continue;
            const char *k = x->kind == PROTO_QUERY ? "QUERY" : "DEVICE_INFO";
            snprintf(sig, siglen, "diff-reply-%s-%s", k, field);
            sbuf_printf(detail, "record %zu: the servers answer differently (first: A, then B): ", x->record);
            fuzz_reply_describe(rev, x->kind, x->frame, y->frame, detail);
            return 1;
        }
        const char *p = x->dump ? x->dump : "", *q = y->dump ? y->dump : "";
        if (strcmp(p, q) == 0)
            continue;
        size_t line = 1;
        while (*p && *p == *q) {
            if (*p == '\n')
                line++;
            p++;
            q++;
        }
        snprintf(sig, siglen, "diff-dump");
        sbuf_printf(detail, "record %zu: the DUMP_REMAINING reports differ from line %zu\nA:\n%s\nB:\n%s", x->record,
                    line, x->dump ? x->dump : "", y->dump ? y->dump : "");
        return 1;
    }
    if (a->nobs != b->nobs) {
        snprintf(sig, siglen, "diff-count");
        sbuf_printf(detail, "A gave %zu replies and reports, B %zu", a->nobs, b->nobs);
        return 1;
    }
    return 0;
}

