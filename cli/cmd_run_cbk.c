/* cmd_run_cbk: the CB/kernel side of a live run (see cmd_run_cbk.h).
 *
 * The interpreter evaluated `expect query` and `expect kernels` on the model when they ran
 * (plan.checks, what a dry run prints). A live run asks the same questions of the server:
 * each `expect kernels` is evaluated on the DUMP_KERNELS report the server printed for the
 * same `dump kernels` (kview), each `expect query` on the server's replies to the same QUERY
 * frames (the plan step of each device's latest query), and every report is compared with
 * the model's field by field except the ages (tracking-stories.md §2.3).
 */
#include "cmd_run_cbk.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "kreport.h"
#include "kview.h"
#include "mem.h"
#include "scn.h"
#include "scn_run.h"

static const runner_reply *reply_of_step(const runner_result *res, long step) {
    for (size_t i = 0; step >= 0 && i < res->nreplies; i++)
        if (res->replies[i].plan_step == step)
            return &res->replies[i];
    return NULL;
}

static void check_query(verdict_report *rep, const plan_check *c, runner_result *res) {
    static const char *names[SCN_Q_COUNT] = {"dram", "l1", "l1_small", "trace", "cb", "kernel"};
    const struct scn_expect *e = c->expect;
    sbuf why = SBUF_INIT;
    int ok = 1;
    for (size_t i = 0; ok && i < c->nq; i++) {
        const runner_reply *rr = reply_of_step(res, c->qsteps[i]);
        if (!rr) {
            sbuf_printf(&why, "device %d: expected the server's reply to the query before line %d, found none",
                        (int)c->qdevs[i], c->line);
            ok = 0;
            break;
        }
        const proto_msg *m = &rr->msg;
        const uint64_t got[SCN_Q_COUNT] = {m->dram_allocated,     m->l1_allocated, m->l1_small_allocated,
                                           m->trace_allocated,    m->cb_allocated, m->kernel_allocated};
        for (int k = 0; k < SCN_Q_COUNT; k++)
            if ((e->qmask >> k) & 1u && got[k] != e->q[k]) {
                sbuf_printf(&why, "device %d: expected %s_allocated %" PRIu64 ", the server replied %" PRIu64,
                            (int)c->qdevs[i], names[k], e->q[k], got[k]);
                ok = 0;
                break;
            }
    }
    char name[600];
    snprintf(name, sizeof name, "line %d: %s (server's replies)", c->line, c->text);
    verdict_report_add(rep, name, ok, ok ? NULL : sbuf_str(&why));
    sbuf_release(&why);
}

void cmd_run_check_cbk(verdict_report *rep, const plan *p, srvproc *srv, runner_result *res, int timeout_ms) {
    for (size_t i = 0; i < p->nchecks; i++)
        if (p->checks[i].expect && p->checks[i].expect->kind == SCN_EXPECT_QUERY)
            check_query(rep, &p->checks[i], res);
    if (!p->nkdumps)
        return;
    if (!proto_type_handled(p->rev, PROTO_DUMP_KERNELS)) {
        char d[160];
        snprintf(d, sizeof d, "not compared: protocol %s has no DUMP_KERNELS", proto_rev_get(p->rev)->name);
        verdict_report_add(rep, "kernel reports", 1, d);
        return;
    }
    /* The k-th report in the log answers the k-th DUMP_KERNELS frame, raw sends included. */
    size_t nframes = 0;
    long *ordinal = mem_calloc(p->nkdumps, sizeof *ordinal);
    for (size_t s = 0, k = 0; s < p->nsteps; s++) {
        if (p->steps[s].kind != PLAN_SEND || p->steps[s].msg.type != PROTO_DUMP_KERNELS)
            continue;
        for (; k < p->nkdumps && p->kdumps[k].step < (long)s; k++)
            ordinal[k] = -1;
        if (k < p->nkdumps && p->kdumps[k].step == (long)s)
            ordinal[k++] = (long)nframes;
        nframes++;
    }
    sbuf *texts = mem_calloc(nframes ? nframes : 1, sizeof *texts);
    char err[256] = "";
    size_t found = kreport_collect(srv, res->log_start, nframes, timeout_ms, texts, err, sizeof err);
    for (size_t i = 0; i < p->nkdumps; i++) {
        const plan_kdump *kd = &p->kdumps[i];
        char label[96], name[700];
        snprintf(label, sizeof label, "kernels %zu (line %d)", i + 1, kd->line);
        kview want, got;
        char perr[300];
        memset(&got, 0, sizeof got);
        int wok = kview_parse(sbuf_str(&kd->expected), kd->expected.len, &want, perr, sizeof perr) == 0;
        snprintf(name, sizeof name, "%s: report", label);
        if (!wok) {
            verdict_report_add(rep, name, 0, perr);
        } else if (ordinal[i] < 0 || (size_t)ordinal[i] >= found) {
            verdict_report_add(rep, name, 0, ordinal[i] < 0 ? "internal: no DUMP_KERNELS frame in the plan" : err);
        } else if (kview_parse(sbuf_str(&texts[ordinal[i]]), texts[ordinal[i]].len, &got, perr, sizeof perr) != 0 ||
                   !got.complete) {
            verdict_report_add(rep, name, 0, got.complete ? perr : "the server's report has no completion line");
        } else {
            sbuf why = SBUF_INIT;
            size_t nd = kview_compare(&want, scn_run_pid_name, (void *)p, &got, runner_live_pid_name, res, &why);
            snprintf(name, sizeof name, "%s: model (ages not compared)", label);
            verdict_report_add(rep, name, nd == 0, nd ? sbuf_str(&why) : NULL);
            sbuf_release(&why);
            for (size_t c = 0; c < p->nchecks; c++) {
                const plan_check *pc = &p->checks[c];
                if (pc->kdump != (int)i || !pc->expect)
                    continue;
                sbuf w = SBUF_INIT;
                int ok = kview_expect_eval(pc->expect, pc->devs, &got, runner_live_pid_name, res, &w);
                snprintf(name, sizeof name, "%s: line %d: %s", label, pc->line, pc->text);
                verdict_report_add(rep, name, ok, ok ? NULL : sbuf_str(&w));
                sbuf_release(&w);
            }
        }
        kview_release(&want);
        kview_release(&got);
    }
    for (size_t i = 0; i < nframes; i++)
        sbuf_release(&texts[i]);
    mem_free(texts);
    mem_free(ordinal);
}

/* ---- server stderr (client frame_bytes=, tracking-stories.md S9) ------------------------------ */

/* Copies line into out with every decimal number equal to one of the pids replaced by
 * "<name>" of its process. */
static void pid_names(const char *line, size_t len, const int32_t *pids, char *const *names, uint32_t n, sbuf *out) {
    size_t i = 0;
    while (i < len) {
        if (line[i] >= '0' && line[i] <= '9' && (i == 0 || line[i - 1] < '0' || line[i - 1] > '9')) {
            size_t j = i;
            int64_t v = 0;
            while (j < len && line[j] >= '0' && line[j] <= '9' && v < INT32_MAX)
                v = v * 10 + (line[j++] - '0');
            const char *name = NULL;
            for (uint32_t k = 0; k < n && !name && (j == len || line[j] < '0' || line[j] > '9'); k++)
                if (pids[k] == v && v > 0)
                    name = names[k];
            if (name) {
                sbuf_printf(out, "<%s>", name);
                i = j;
                continue;
            }
        }
        sbuf_putc(out, line[i++]);
    }
    sbuf_putc(out, '\n');
}

/* The lines of text, pid-named, as a sorted array of strings inside store. */
static size_t sorted_lines(const char *text, const int32_t *pids, char *const *names, uint32_t n, sbuf *store,
                           const char ***out) {
    size_t count = 0;
    while (*text) {
        const char *nl = strchr(text, '\n');
        size_t len = nl ? (size_t)(nl - text) : strlen(text);
        pid_names(text, len, pids, names, n, store);
        sbuf_putc(store, '\0');
        count++;
        text += len + (nl ? 1 : 0);
    }
    *out = count ? mem_alloc(count * sizeof **out) : NULL;
    if (count && !*out)
        return (size_t)-1;
    const char *p = sbuf_str(store);
    for (size_t i = 0; i < count; i++) {
        (*out)[i] = p;
        p += strlen(p) + 2; /* the line's '\n' and '\0' */
    }
    for (size_t i = 1; i < count; i++) /* insertion sort: a handful of lines */
        for (size_t k = i; k > 0 && strcmp((*out)[k - 1], (*out)[k]) > 0; k--) {
            const char *t = (*out)[k];
            (*out)[k] = (*out)[k - 1];
            (*out)[k - 1] = t;
        }
    return count;
}

void cmd_run_check_stderr(verdict_report *rep, const plan *p, srvproc *srv, const runner_result *res) {
    if (!p->stderr_model)
        return;
    sbuf got = SBUF_INIT, gs = SBUF_INIT, ws = SBUF_INIT, why = SBUF_INIT;
    srvproc_log_text(srv, res->log_start, res->log_end, SRVPROC_ERR, &got);
    const char **g = NULL, **w = NULL;
    size_t ng = sorted_lines(sbuf_str(&got), res->live_pid, res->proc_names, res->nprocs, &gs, &g);
    size_t nw = sorted_lines(sbuf_str(&p->stderr_lines), p->sim_pid, p->proc_names, (uint32_t)p->nprocs, &ws, &w);
    if (ng == (size_t)-1 || nw == (size_t)-1) {
        verdict_report_add(rep, "server stderr matches model", 0, "out of memory");
    } else {
        size_t i = 0, k = 0;
        while (i < nw || k < ng) {
            int c = i == nw ? 1 : k == ng ? -1 : strcmp(w[i], g[k]);
            if (c == 0) {
                i++, k++;
                continue;
            }
            if (c < 0)
                sbuf_printf(&why, "expected, not printed: %s", w[i++]);
            else
                sbuf_printf(&why, "printed, not expected: %s", g[k++]);
        }
        char name[96];
        snprintf(name, sizeof name, "server stderr matches model (%zu lines)", nw);
        verdict_report_add(rep, name, why.len == 0, why.len ? sbuf_str(&why) : NULL);
    }
    mem_free(g);
    mem_free(w);
    sbuf_release(&got);
    sbuf_release(&gs);
    sbuf_release(&ws);
    sbuf_release(&why);
}
