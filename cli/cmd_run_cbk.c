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
