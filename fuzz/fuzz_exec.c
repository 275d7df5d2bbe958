/* fuzz_exec: running one stream against a live server and judging it (see fuzz_exec.h; the
 * server's life, the stand-in pool and differential comparison are in fuzz_server.c).
 *
 * The executor is single-threaded; the only other thread is srvproc's output reader. Order
 * across connections comes from fences (a QUERY whose reply proves that the connection's
 * earlier frames were handled); order between the socket and the server's stdout comes from
 * the same fences, because the reference and the real server print a frame's lines before
 * handling the next frame of that connection. Every wait is bounded by the timeout, and a
 * failed wait is diagnosed against the server process (dead? sanitizer report?) before it
 * is called a hang.
 */
#include "fuzz_exec.h"

#include <errno.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <signal.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <sched.h>
#include <unistd.h>

#include "conn.h"
#include "dumpview.h"
#include "fuzz.h"
#include "mem.h"
#include "srvproc.h"
#include "standin.h"

#include "fuzz_exec_int.h"

/* ---- one run ------------------------------------------------------------------------------- */

/* Process states during a run. A process whose whole life holds no dump is a phantom: the
 * server only looks at liveness when it prints a report, so its recorded pid (above pid_max,
 * never alive) serves as well as a stand-in's and its death costs nothing. A real stand-in is
 * killed at once but reaped only before the next report, so the kernel's teardown overlaps
 * with other work. */
enum {
    PROC_NEW = 0,
    PROC_RUNNING,     /* stand-in alive */
    PROC_ENDED,       /* stand-in reaped: its pid is dead */
    PROC_DYING,       /* stand-in killed (or its pipe closed), not reaped yet */
    PROC_PHANTOM,     /* no stand-in: the recorded pid stands in */
    PROC_PHANTOM_ENDED
};

typedef struct {
    standin st;
    int state;
    int phantom; /* decided before the run from where its life and the dumps lie */
    char name[16];
} run_proc;

typedef struct {
    conn c;
    int open;
    int proc;        /* owning process (last CONNECT), -1 if none */
    int unconfirmed; /* frames sent since the last proof that the server handled them */
    int dirty_tail;  /* the last frame sent is not the executor's fence (see run_fence) */
} run_conn;

typedef struct {
    fuzz_exec *x;
    const stream *s;
    fuzz_outcome *o;
    uint8_t *work; /* the payload with live pids patched in */
    fuzz_pid_site *sites;
    size_t nsites;
    size_t *dump_recs; /* records that make the server print a report (ascending) */
    size_t ndump_recs, next_dump;
    run_proc *procs;
    run_conn *conns;
    size_t nconns;
    int last_conn;
    sbuf batch;     /* whole frames for one connection, sent together */
    int batch_conn; /* -1 when the batch is empty */
    size_t record;
    size_t log_start;
    int done; /* a verdict other than PASS was reached */
} run;

static void run_verdict(run *r, fuzz_verdict v, const char *sig) {
    if (r->done)
        return;
    r->done = 1;
    r->o->verdict = v;
    r->o->record = r->record;
    snprintf(r->o->signature, sizeof r->o->signature, "%s", sig ? sig : "");
    fuzz_signature_clean(r->o->signature);
    if (v == FUZZ_ERROR)
        r->o->signature[0] = '\0';
}

static void run_where(run *r) {
    if (r->record < r->s->nrecords)
        sbuf_printf(&r->o->detail, "at record %zu (%s)", r->record,
                    stream_op_name(r->s->records[r->record].op) ? stream_op_name(r->s->records[r->record].op) : "?");
    else
        sbuf_puts(&r->o->detail, "in the final check after the last record");
}

static void run_tail(run *r) {
    sbuf_puts(&r->o->detail, "\nserver log tail:\n");
    srvproc_log_tail(r->x->srv, FUZZ_LOG_TAIL, &r->o->detail);
}

static int is_dump_done(const srvproc_line *l, void *ctx) {
    (void)ctx;
    return l->stream == SRVPROC_OUT && strcmp(l->text, FUZZ_DUMP_DONE) == 0;
}

static int never(const srvproc_line *l, void *ctx) {
    (void)l;
    (void)ctx;
    return 0;
}

/* Looks for sanitizer reports in stderr lines not scanned yet. Returns 1 (and fails the run)
 * when one is found. */
static int run_scan(run *r) {
    fuzz_exec *x = r->x;
    size_t end = srvproc_log_end(x->srv);
    if (end <= x->scan_pos)
        return 0;
    sbuf text = SBUF_INIT;
    /* An attached server's log file mixes both streams (and reads back as stdout). */
    srvproc_log_text(x->srv, x->scan_pos, end, x->attach_socket ? SRVPROC_OUT | SRVPROC_ERR : SRVPROC_ERR, &text);
    x->scan_pos = end;
    const char *p = sbuf_str(&text);
    int found = 0;
    while (*p && !found) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        char sig[128];
        if (fuzz_sanitizer_signature(p, len, sig, sizeof sig)) {
            found = 1;
            if (!r->done) {
                sbuf_printf(&r->o->detail, "sanitizer report on the server's stderr ");
                run_where(r);
                sbuf_printf(&r->o->detail, ":\n  %.*s", (int)len, p);
                run_tail(r);
            }
            run_verdict(r, FUZZ_FAIL, sig);
        }
        p = nl ? nl + 1 : p + len;
    }
    sbuf_release(&text);
    return found;
}

/* 1 when the server printed a dead-process block outside a dump since the run started: its
 * cleanup timer ran, which the model cannot know about. */
static int run_disturbed(run *r) {
    if (!r->x->cfg.background_cleanup)
        return 0;
    sbuf text = SBUF_INIT;
    srvproc_log_text(r->x->srv, r->log_start, srvproc_log_end(r->x->srv), SRVPROC_OUT, &text);
    int inside = 0, disturbed = 0;
    const char *p = sbuf_str(&text);
    while (*p && !disturbed) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len == strlen(FUZZ_DUMP_START) && memcmp(p, FUZZ_DUMP_START, len) == 0)
            inside = 1;
        else if (len == strlen(FUZZ_DUMP_DONE) && memcmp(p, FUZZ_DUMP_DONE, len) == 0)
            inside = 0;
        else if (!inside && len == strlen(FUZZ_DEAD_HEADER) && memcmp(p, FUZZ_DEAD_HEADER, len) == 0)
            disturbed = 1;
        p = nl ? nl + 1 : p + len;
    }
    sbuf_release(&text);
    if (disturbed) {
        sbuf_puts(&r->o->detail, "the server's own cleanup timer removed dead processes during the stream; "
                                 "no verdict");
        run_verdict(r, FUZZ_INCONCLUSIVE, NULL);
    }
    return disturbed;
}

/* A wait or write failed: decides between a sanitizer report, a dead server, a hang and an
 * unexpected close, and fails the run accordingly. reply_kind is the request whose reply was
 * awaited (0 if none). */
static void run_diagnose(run *r, conn_status st, const char *what, const char *err, uint8_t reply_kind) {
    fuzz_exec *x = r->x;
    int ws = 0;
    int exited = srvproc_pid(x->srv) && srvproc_wait_exit(x->srv, st == CONN_TIMEOUT ? 0 : 1000, &ws);
    if (exited) /* let the reader take everything the server wrote before dying */
        srvproc_wait_line(x->srv, srvproc_log_end(x->srv), never, NULL, 2000, NULL);
    if (run_scan(r))
        return;
    char sig[128], status[160];
    if (exited) {
        srvproc_describe_status(ws, status, sizeof status);
        if (WIFSIGNALED(ws)) {
            char name[32];
            snprintf(sig, sizeof sig, "crash-%s", fuzz_signal_name(WTERMSIG(ws), name, sizeof name));
        } else {
            snprintf(sig, sizeof sig, "exit-status-%d", WIFEXITED(ws) ? WEXITSTATUS(ws) : -1);
        }
        sbuf_printf(&r->o->detail, "the server died (%s) ", status);
    } else if (st == CONN_TIMEOUT) {
        snprintf(sig, sizeof sig, "hang");
        sbuf_printf(&r->o->detail, "the server did not answer within %d ms ", fuzz_exec_timeout(x));
    } else if (reply_kind) {
        const char *k = reply_kind == PROTO_QUERY ? "QUERY" : "DEVICE_INFO";
        snprintf(sig, sizeof sig, "reply-missing-%s", k);
        sbuf_printf(&r->o->detail, "the server closed the connection instead of answering %s ", k);
    } else {
        snprintf(sig, sizeof sig, "conn-closed");
        sbuf_puts(&r->o->detail, "the server closed a connection it should have kept ");
    }
    run_where(r);
    sbuf_printf(&r->o->detail, ": %s: %s", what, err);
    run_tail(r);
    run_verdict(r, FUZZ_FAIL, sig);
}

static int32_t run_conn_pid(const run *r, uint16_t id) {
    if (id >= r->nconns)
        return 0;
    int p = r->conns[id].proc;
    if (p < 0 || (uint32_t)p >= r->s->nprocs)
        return 0;
    return r->procs[p].state != PROC_NEW ? (int32_t)r->procs[p].st.pid : r->s->procs[p].recorded_pid;
}

static const char *run_pid_name(void *ctx, int32_t pid) {
    const run *r = ctx;
    for (uint32_t i = 0; i < r->s->nprocs; i++)
        if (r->procs[i].state != PROC_NEW && r->procs[i].st.pid == pid)
            return r->procs[i].name;
    return NULL;
}

/* Sends bytes on c (already fed to the model). A close by the server is expected when the
 * model says the server gave up on the connection. Returns 0 or -1 (the run failed). */
static int run_send(run *r, uint16_t id, conn *c, const uint8_t *bytes, size_t len) {
    char err[256];
    conn_status st = conn_send(c, bytes, len, err, sizeof err);
    r->o->frames += (len + r->x->frame_size - 1) / r->x->frame_size;
    if (st == CONN_OK)
        return 0;
    if (st == CONN_CLOSED && fuzz_model_conn(r->x->model, id).server_closed)
        return 0;
    run_diagnose(r, st, "sending", err, 0);
    return -1;
}

/* Bytes written on c that the server has not read yet (SIOCOUTQ of a Unix stream socket: a
 * write stays charged to the sender until the reader consumes it), or 0 when unknown. */
static int run_unread(const conn *c) {
    int q = 0;
    if (c->fd < 0 || ioctl(c->fd, TIOCOUTQ, &q) != 0)
        return 0;
    return q;
}

static long run_ms_since(const struct timespec *t0) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long)(now.tv_sec - t0->tv_sec) * 1000 + (now.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Waits (at most the timeout) until the server has read every byte written on c. After a
 * write that leaves the connection inside a frame (or completes one), this makes the write a
 * read of its own on the server side: a server that dispatches whatever one recv() returns
 * (the real v72/v112 servers, --fault single-recv) then sees the stream's write boundaries,
 * not whatever the scheduler glued together, so a split frame fails the same way every run. */
static void run_drain(run *r, const conn *c) {
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int spin = 0; run_unread(c) > 0; spin++) {
        if (spin < 64) {
            sched_yield();
            continue;
        }
        if (run_ms_since(&t0) >= fuzz_exec_timeout(r->x))
            return; /* not reading: the next wait diagnoses it */
        struct timespec ts = {0, 50000};
        nanosleep(&ts, NULL);
    }
}

/* Sends the batched frames. Returns 0 or -1. */
static int run_flush(run *r) {
    if (r->batch_conn < 0)
        return 0;
    uint16_t id = (uint16_t)r->batch_conn;
    r->batch_conn = -1;
    int rc = 0;
    if (!r->done && id < r->nconns && r->conns[id].open)
        rc = run_send(r, id, &r->conns[id].c, (const uint8_t *)r->batch.data, r->batch.len);
    sbuf_reset(&r->batch);
    return rc;
}

static int run_model_write(run *r, uint16_t id, const uint8_t *bytes, size_t len) {
    if (fuzz_model_write(r->x->model, id, bytes, len) < 0) {
        sbuf_puts(&r->o->detail, "out of memory in the model");
        run_verdict(r, FUZZ_ERROR, NULL);
        return -1;
    }
    return 0;
}

static int run_check_reply(run *r, uint8_t kind, const uint8_t *expected, const uint8_t *actual);

/* Reads exactly len bytes from c within the timeout, in as few calls as the kernel allows. */
static conn_status run_recv(fuzz_exec *x, conn *c, uint8_t *buf, size_t len, char *err, size_t errlen) {
    size_t got = 0;
    struct timespec t0, drained_at = {0, 0};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* A reply is read right after its request was sent, so it is rarely there yet: waiting
     * first saves the recv that would fail. */
    struct pollfd first = {c->fd, POLLIN, 0};
    int quiet_on = x->quiet_ms > 0 && x->quiet_ms < fuzz_exec_timeout(x);
    /* Everything already read by the server: the silence counts from now, so a quick hang
     * costs one quiet time, not the first wait plus another. */
    if (quiet_on && run_unread(c) == 0)
        drained_at = t0;
    poll(&first, 1, quiet_on ? x->quiet_ms : fuzz_exec_timeout(x));
    while (got < len) {
        ssize_t n = recv(c->fd, buf + got, len - got, 0);
        if (n > 0) {
            got += (size_t)n;
            continue;
        }
        if (n == 0) {
            snprintf(err, errlen, "the server closed the connection after %zu of %zu reply bytes", got, len);
            return CONN_CLOSED;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            int e = errno;
            snprintf(err, errlen, "recv: %s", strerror(e));
            return e == ECONNRESET ? CONN_CLOSED : CONN_ERROR;
        }
        long left = fuzz_exec_timeout(x) - run_ms_since(&t0);
        if (left <= 0) {
            snprintf(err, errlen, "no reply within %d ms (%zu of %zu bytes read)", fuzz_exec_timeout(x), got, len);
            return CONN_TIMEOUT;
        }
        /* A server that has read every byte sent and stays silent for the quiet time will not
         * answer: a hang is called then rather than after the whole timeout. */
        int quiet = x->quiet_ms > 0 && x->quiet_ms < fuzz_exec_timeout(x) ? x->quiet_ms : 0;
        struct pollfd pf = {c->fd, POLLIN, 0};
        if (!quiet || run_unread(c) > 0) {
            poll(&pf, 1, quiet ? (int)(left < 20 ? left : 20) : (int)left);
            if (quiet && !(pf.revents & (POLLIN | POLLHUP | POLLERR)))
                drained_at.tv_sec = 0; /* still reading: the quiet time starts afresh */
            continue;
        }
        if (drained_at.tv_sec == 0)
            clock_gettime(CLOCK_MONOTONIC, &drained_at);
        long quiet_left = quiet - run_ms_since(&drained_at);
        if (quiet_left <= 0) {
            snprintf(err, errlen, "no reply: the server read every byte sent and stayed silent for %d ms "
                     "(%zu of %zu bytes read)", quiet, got, len);
            return CONN_TIMEOUT;
        }
        poll(&pf, 1, (int)(quiet_left < left ? quiet_left : left));
    }
    return CONN_OK;
}

/* Reads the oldest reply the model says conn id is owed and compares it. Returns 0 (also when
 * none is owed) or -1. */
static int run_read_reply(run *r, uint16_t id, conn *c) {
    fuzz_exec *x = r->x;
    uint8_t expected[PROTO_MAX_FRAME], actual[PROTO_MAX_FRAME], kind = 0;
    if (!fuzz_model_pop_reply(x->model, id, expected, &kind))
        return 0;
    char err[256];
    conn_status st = run_recv(x, c, actual, x->frame_size, err, sizeof err);
    if (st != CONN_OK) {
        run_diagnose(r, st, "reading a reply", err, kind);
        return -1;
    }
    /* The answer to the last frame sent proves the connection's order like a fence does. */
    fuzz_conn_state cs = fuzz_model_conn(x->model, id);
    if (id < r->nconns && cs.replies == 0 && cs.pending == 0 && cs.last_replied && r->batch_conn != (int)id)
        r->conns[id].unconfirmed = 0;
    return run_check_reply(r, kind, expected, actual);
}

static int run_collect_dumps(run *r);

/* Reads every reply conn id is owed: all bytes first (one wait), then, when dumps_first is
 * set, the reports the model predicts (the server printed them before its last reply, so
 * they are complete by now and are judged first, in the server's order), then each reply. */
static int run_read_replies(run *r, uint16_t id, conn *c, int dumps_first) {
    fuzz_exec *x = r->x;
    size_t owed = fuzz_model_conn(x->model, id).replies;
    uint8_t one[PROTO_MAX_FRAME];
    uint8_t *buf = owed <= 1 ? one : mem_alloc(owed * x->frame_size);
    if (!buf) {
        if (dumps_first && run_collect_dumps(r) != 0)
            return -1;
        while (owed-- > 0)
            if (run_read_reply(r, id, c) != 0)
                return -1;
        return 0;
    }
    char err[256];
    conn_status st = owed ? run_recv(x, c, buf, owed * x->frame_size, err, sizeof err) : CONN_OK;
    int rc = 0;
    uint8_t expected[PROTO_MAX_FRAME], kind = 0;
    if (st != CONN_OK) {
        fuzz_model_pop_reply(x->model, id, expected, &kind);
        run_diagnose(r, st, "reading replies", err, kind);
        rc = -1;
    }
    if (rc == 0 && dumps_first)
        rc = run_collect_dumps(r);
    for (size_t i = 0; rc == 0 && i < owed; i++) {
        fuzz_model_pop_reply(x->model, id, expected, &kind);
        rc = run_check_reply(r, kind, expected, buf + i * x->frame_size);
    }
    if (buf != one)
        mem_free(buf);
    return rc;
}

static int run_check_reply(run *r, uint8_t kind, const uint8_t *expected, const uint8_t *actual) {
    fuzz_exec *x = r->x;
    r->o->replies++;
    /* Differential mode compares DEVICE_INFO only when asked: two servers on different
     * machines (or one modelling no devices) differ there by design. */
    if (x->cfg.record_transcript && (kind != PROTO_DEVICE_INFO_QUERY || x->cfg.check_device_info)) {
        fuzz_observation *ob = fuzz_outcome_add_obs(r->o);
        if (ob) {
            ob->record = r->record;
            ob->kind = kind;
            memcpy(ob->frame, actual, x->frame_size);
        }
    }
    if (!x->cfg.oracle)
        return 0;
    const char *field = fuzz_reply_diff(x->cfg.rev, expected, actual);
    if (!field || (kind == PROTO_DEVICE_INFO_QUERY && !x->cfg.check_device_info))
        return 0;
    if (run_scan(r) || run_disturbed(r))
        return -1;
    char sig[128];
    snprintf(sig, sizeof sig, "reply-mismatch-%s-%s", kind == PROTO_QUERY ? "QUERY" : "DEVICE_INFO", field);
    fuzz_reply_describe(x->cfg.rev, kind, expected, actual, &r->o->detail);
    sbuf_puts(&r->o->detail, " ");
    run_where(r);
    run_tail(r);
    run_verdict(r, FUZZ_FAIL, sig);
    return -1;
}

/* Which part of a report differs first, for the signature. */
static const char *dump_category(const dumpview *e, const dumpview *a) {
    if (e->ndead != a->ndead)
        return "dead";
    for (size_t i = 0; i < e->ndead; i++)
        if (e->dead[i].buffers != a->dead[i].buffers || strcmp(e->dead[i].mb, a->dead[i].mb) != 0)
            return "dead";
    if (e->total_tracked != a->total_tracked || e->perfect != a->perfect)
        return "count";
    if (e->ngroups != a->ngroups)
        return "group";
    for (size_t i = 0; i < e->ngroups; i++)
        if (e->groups[i].device_id != a->groups[i].device_id ||
            e->groups[i].buffer_type != a->groups[i].buffer_type ||
            e->groups[i].count != a->groups[i].count || strcmp(e->groups[i].mb, a->groups[i].mb) != 0)
            return "group";
    return "buffer";
}

/* Compares one report (actual text) with the model's oldest one and consumes the latter. */
static int run_check_dump(run *r, const char *actual) {
    fuzz_exec *x = r->x;
    const char *expected = fuzz_model_dump_text(x->model, 0);
    r->o->dumps++;
    if (x->cfg.keep_dumps)
        sbuf_puts(&r->o->dump_text, actual);
    dumpview ev, av;
    char perr[256];
    memset(&ev, 0, sizeof ev);
    memset(&av, 0, sizeof av);
    int aok = dumpview_parse_text(actual, strlen(actual), &av, perr, sizeof perr) == 0;
    if (x->cfg.record_transcript) {
        fuzz_observation *ob = fuzz_outcome_add_obs(r->o);
        if (ob) {
            sbuf canon = SBUF_INIT;
            if (aok)
                dumpview_render(&av, run_pid_name, r, &canon);
            else
                sbuf_puts(&canon, actual);
            ob->record = r->record;
            ob->is_dump = 1;
            ob->dump = mem_strdup(sbuf_str(&canon));
            sbuf_release(&canon);
        }
    }
    int rc = 0;
    if (x->cfg.oracle && expected) {
        if (!aok) {
            if (!run_scan(r) && !run_disturbed(r)) {
                sbuf_printf(&r->o->detail, "the server's report does not parse (%s) ", perr);
                run_where(r);
                sbuf_printf(&r->o->detail, ":\n%s", actual);
                run_verdict(r, FUZZ_FAIL, "dump-malformed");
            }
            rc = -1;
        } else if (dumpview_parse_text(expected, strlen(expected), &ev, perr, sizeof perr) != 0) {
            sbuf_printf(&r->o->detail, "the model's report does not parse: %s", perr);
            run_verdict(r, FUZZ_ERROR, NULL);
            rc = -1;
        } else {
            sbuf diff = SBUF_INIT;
            if (dumpview_compare(&ev, NULL, NULL, &av, NULL, NULL, &diff) != 0) {
                if (!run_scan(r) && !run_disturbed(r)) {
                    char sig[64];
                    snprintf(sig, sizeof sig, "dump-mismatch-%s", dump_category(&ev, &av));
                    sbuf_puts(&r->o->detail, "DUMP_REMAINING differs from the model ");
                    run_where(r);
                    sbuf_printf(&r->o->detail, ":\n%s\nexpected:\n%s\nfound:\n%s", sbuf_str(&diff),
                                expected, actual);
                    run_verdict(r, FUZZ_FAIL, sig);
                }
                rc = -1;
            }
            sbuf_release(&diff);
        }
    }
    dumpview_release(&ev);
    dumpview_release(&av);
    fuzz_model_drop_dumps(x->model, 1);
    return rc;
}

/* Waits for every report the model has predicted and checks each. Returns 0 or -1. */
static int run_collect_dumps(run *r) {
    fuzz_exec *x = r->x;
    while (fuzz_model_dump_count(x->model) > 0) {
        size_t idx = 0;
        srvproc_wait_result w = srvproc_wait_line(x->srv, x->log_pos, is_dump_done, NULL,
                                                  fuzz_exec_timeout(x), &idx);
        if (w != SRVPROC_FOUND) {
            if (w == SRVPROC_DIED || (srvproc_pid(x->srv) && srvproc_exited(x->srv, NULL))) {
                run_diagnose(r, CONN_CLOSED, "waiting for a DUMP_REMAINING report", "the server exited", 0);
            } else if (!run_scan(r)) {
                sbuf_printf(&r->o->detail, "no DUMP_REMAINING report within %d ms ", fuzz_exec_timeout(x));
                run_where(r);
                run_tail(r);
                run_verdict(r, FUZZ_FAIL, "dump-missing");
            }
            return -1;
        }
        sbuf text = SBUF_INIT;
        srvproc_log_text(x->srv, x->log_pos, idx + 1, SRVPROC_OUT, &text);
        x->log_pos = idx + 1;
        const char *all = sbuf_str(&text), *start = NULL;
        for (const char *p = all; (p = strstr(p, FUZZ_DUMP_START "\n")) != NULL; p++)
            if (p == all || p[-1] == '\n')
                start = p;
        int rc = run_check_dump(r, start ? start : all);
        sbuf_release(&text);
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* Proves that the server handled everything sent on conn id: a QUERY(device 0) whose reply
 * comes after every reply owed, or a graceful close when the connection sits inside a frame or
 * the server gave up on it. Returns 0 or -1. */
static void run_close(run *r, uint16_t id, int abort);

static int run_fence(run *r, uint16_t id, conn *c, int32_t pid) {
    fuzz_exec *x = r->x;
    fuzz_conn_state st = fuzz_model_conn(x->model, id);
    if (!st.open)
        return 0;
    if (st.server_closed || st.pending) {
        /* No QUERY can fence a connection the server gave up on or one stuck inside a frame;
         * a graceful close can: the server closes its side after handling what came before. */
        if (id < r->nconns && r->conns[id].open) {
            run_close(r, id, 0);
            return r->done ? -1 : run_collect_dumps(r);
        }
        return 0;
    }
    /* Every field but the type is zero, pid included (a QUERY's pid is not used): a server
     * without framing completes a short read with the tail of the last frame it read on the
     * connection, and that tail is then all zeros, as on a new connection. A connection is
     * reused by the next stream only when its last frame was this fence, so a partial write
     * fails the same way whatever ran before it. */
    (void)pid;
    proto_msg q;
    memset(&q, 0, sizeof q);
    q.type = PROTO_QUERY;
    uint8_t frame[PROTO_MAX_FRAME];
    size_t n = proto_encode(x->cfg.rev, &q, frame);
    if (run_model_write(r, id, frame, n) != 0)
        return -1;
    if (r->batch_conn == (int)id) { /* the fence rides with the frames it fences */
        sbuf_append(&r->batch, frame, n);
        if (run_flush(r) != 0)
            return -1;
    } else if (run_flush(r) != 0 || run_send(r, id, c, frame, n) != 0) {
        return -1;
    }
    if (id < r->nconns)
        r->conns[id].dirty_tail = 0;
    if (run_read_replies(r, id, c, 1) != 0)
        return -1;
    if (id < r->nconns)
        r->conns[id].unconfirmed = 0;
    return run_scan(r) ? -1 : 0;
}

static int run_grow_conns(run *r, uint16_t id) {
    if (id < r->nconns)
        return 0;
    size_t n = (size_t)id + 1;
    if (n < r->nconns * 2)
        n = r->nconns * 2;
    run_conn *v = mem_realloc(r->conns, n * sizeof *v);
    if (!v)
        return -1;
    for (size_t i = r->nconns; i < n; i++) {
        memset(&v[i], 0, sizeof v[i]);
        v[i].c.fd = -1;
        v[i].proc = -1;
    }
    r->conns = v;
    r->nconns = n;
    return 0;
}

/* Opens connection id for process proc (-1: keep the one it had). Returns 0 or -1. */
static int run_open(run *r, uint16_t id, int proc) {
    fuzz_exec *x = r->x;
    if (run_grow_conns(r, id) != 0) {
        sbuf_puts(&r->o->detail, "out of memory");
        run_verdict(r, FUZZ_ERROR, NULL);
        return -1;
    }
    run_conn *rc = &r->conns[id];
    if (proc >= 0)
        rc->proc = proc;
    char err[512];
    conn_status st = CONN_OK;
    if (x->nidle > 0)
        rc->c = x->idle[--x->nidle];
    else
        st = conn_open(&rc->c, srvproc_socket_path(x->srv), x->cfg.rev, fuzz_exec_timeout(x), err,
                       sizeof err);
    if (st != CONN_OK) {
        run_diagnose(r, st, "connecting", err, 0);
        return -1;
    }
    rc->open = 1;
    rc->unconfirmed = 0;
    rc->dirty_tail = 0; /* new: zeros; reused: its last frame was a fence */
    if (fuzz_model_connect(x->model, id, rc->proc) != 0) {
        run_verdict(r, FUZZ_ERROR, NULL);
        return -1;
    }
    return 0;
}

static int run_ensure_open(run *r, uint16_t id) {
    if (id < r->nconns && r->conns[id].open)
        return 0;
    return run_open(r, id, -1);
}

/* Fences the connection used last if it has frames nobody has proven handled. */
static int run_confirm_last(run *r) {
    if (r->last_conn < 0)
        return 0;
    run_conn *rc = &r->conns[r->last_conn];
    if (!rc->open || !rc->unconfirmed)
        return 0;
    return run_fence(r, (uint16_t)r->last_conn, &rc->c, run_conn_pid(r, (uint16_t)r->last_conn));
}

/* Makes id the active connection (fencing the previous one first). */
static int run_switch(run *r, uint16_t id) {
    if (r->last_conn >= 0 && r->last_conn != (int)id && run_confirm_last(r) != 0)
        return -1;
    r->last_conn = id;
    return 0;
}

static void run_close(run *r, uint16_t id, int abort) {
    run_conn *rc = &r->conns[id];
    char err[256];
    if (abort) {
        conn_abort(&rc->c);
    } else {
        run_read_replies(r, id, &rc->c, 0);
        if (!r->done) {
            conn_status st = conn_close(&rc->c, err, sizeof err);
            if (st == CONN_TIMEOUT)
                run_diagnose(r, st, "closing", err, 0);
        } else {
            conn_abort(&rc->c);
        }
    }
    fuzz_model_close(r->x->model, id);
    rc->open = 0;
    rc->unconfirmed = 0;
    if (r->last_conn == (int)id)
        r->last_conn = -1;
}

static int run_proc_end(run *r, uint16_t p, int crash) {
    if (p >= r->s->nprocs)
        return 0;
    run_proc *rp = &r->procs[p];
    if (rp->state == PROC_PHANTOM) {
        rp->state = PROC_PHANTOM_ENDED;
        return 0;
    }
    if (rp->state != PROC_RUNNING)
        return 0;
    if (run_confirm_last(r) != 0)
        return -1;
    if (crash) {
        kill(rp->st.pid, SIGKILL);
    } else {
        close(rp->st.pipe_fd); /* the stand-in exits when its pipe ends */
        rp->st.pipe_fd = -1;
    }
    rp->state = PROC_DYING;
    return 0;
}

/* Reaps every stand-in killed so far: until then its zombie would pass the server's kill(pid,
 * 0) test. Called before anything that makes the server look at liveness. */
static void run_reap(run *r) {
    for (uint32_t i = 0; i < r->s->nprocs; i++) {
        run_proc *rp = &r->procs[i];
        if (rp->state != PROC_DYING)
            continue;
        while (waitpid(rp->st.pid, NULL, 0) < 0 && errno == EINTR)
            ;
        if (rp->st.pipe_fd >= 0) {
            close(rp->st.pipe_fd);
            rp->st.pipe_fd = -1;
        }
        rp->st.state = STANDIN_CRASHED;
        rp->state = PROC_ENDED;
    }
}

static int run_spawn(run *r, uint16_t p) {
    if (p >= r->s->nprocs || r->procs[p].state != PROC_NEW)
        return 0;
    if (r->procs[p].phantom) {
        r->procs[p].state = PROC_PHANTOM;
        r->procs[p].st.pid = r->s->procs[p].recorded_pid;
        return 0;
    }
    char err[256];
    if (fuzz_exec_pool_take(r->x, &r->procs[p].st, err, sizeof err) != 0) {
        sbuf_printf(&r->o->detail, "cannot start a stand-in process: %s", err);
        run_verdict(r, FUZZ_ERROR, NULL);
        return -1;
    }
    r->procs[p].state = PROC_RUNNING;
    fuzz_pid_patch(r->work, r->sites, r->nsites, p, (int32_t)r->procs[p].st.pid);
    return 0;
}

/* Marks the processes that can do without a stand-in: those that end (CRASH or EXIT) with no
 * report printed between their SPAWN and their end. */
static void run_plan_phantoms(run *r) {
    const stream *s = r->s;
    for (uint32_t p = 0; p < s->nprocs; p++) {
        size_t spawn = (size_t)-1, end = (size_t)-1;
        for (size_t i = 0; i < s->nrecords; i++) {
            const stream_record *rec = &s->records[i];
            if (rec->id != p)
                continue;
            if (rec->op == STREAM_OP_SPAWN && spawn == (size_t)-1)
                spawn = i;
            else if ((rec->op == STREAM_OP_CRASH || rec->op == STREAM_OP_EXIT) && spawn != (size_t)-1) {
                end = i;
                break;
            }
        }
        if (spawn == (size_t)-1 || end == (size_t)-1 || r->x->cfg.background_cleanup)
            continue; /* a cleanup timer looks at liveness at any time: every process is real */
        int dump_inside = 0;
        for (size_t k = 0; k < r->ndump_recs; k++)
            if (r->dump_recs[k] > spawn && r->dump_recs[k] < end)
                dump_inside = 1;
        r->procs[p].phantom = !dump_inside;
    }
}

static int run_record(run *r, const stream_record *rec) {
    fuzz_exec *x = r->x;
    uint16_t id = rec->id;
    int batchable = rec->op == STREAM_OP_WRITE || rec->op == STREAM_OP_FENCE || rec->op == STREAM_OP_DUMP;
    if ((!batchable || id != r->batch_conn) && run_flush(r) != 0)
        return -1;
    while (r->next_dump < r->ndump_recs && r->dump_recs[r->next_dump] < r->record)
        r->next_dump++;
    if (r->next_dump < r->ndump_recs && r->dump_recs[r->next_dump] == r->record)
        run_reap(r);
    if (rec->op != STREAM_OP_SPAWN && rec->op != STREAM_OP_CRASH && rec->op != STREAM_OP_EXIT &&
        rec->op != STREAM_OP_SLEEP && id == FUZZ_CONN_CONTROL)
        return 0; /* reserved for the executor's own connection */
    const uint8_t *payload = r->work + rec->offset;
    switch (rec->op) {
    case STREAM_OP_SPAWN:
        return run_spawn(r, id);
    case STREAM_OP_CRASH:
    case STREAM_OP_EXIT:
        return run_proc_end(r, id, rec->op == STREAM_OP_CRASH);
    case STREAM_OP_CONNECT: {
        int proc = rec->len == 2 ? (int)(payload[0] | payload[1] << 8) : -1;
        if (proc >= 0 && (uint32_t)proc >= r->s->nprocs)
            proc = -1;
        if (id < r->nconns && r->conns[id].open)
            run_close(r, id, 0);
        if (r->done)
            return -1;
        if (run_grow_conns(r, id) == 0)
            r->conns[id].proc = proc;
        return run_open(r, id, proc);
    }
    case STREAM_OP_WRITE: {
        if (run_ensure_open(r, id) != 0 || run_switch(r, id) != 0)
            return -1;
        fuzz_conn_state st = fuzz_model_conn(x->model, id);
        if (st.server_closed)
            return 0; /* the server is gone from this connection: nothing to send */
        if (run_model_write(r, id, payload, rec->len) != 0)
            return -1;
        r->conns[id].unconfirmed = 1;
        r->conns[id].dirty_tail = 1;
        /* Whole frames at a frame boundary go out together with their neighbours (fewer
         * system calls, same bytes); partial frames keep their own write, which is the point
         * of a split. */
        if (rec->len % x->frame_size == 0 && st.pending == 0 && rec->len < FUZZ_BATCH_MAX) {
            sbuf_append(&r->batch, payload, rec->len);
            r->batch_conn = id;
            return r->batch.len >= FUZZ_BATCH_MAX ? run_flush(r) : 0;
        }
        if (run_flush(r) != 0 || run_send(r, id, &r->conns[id].c, payload, rec->len) != 0)
            return -1;
        run_drain(r, &r->conns[id].c);
        return 0;
    }
    case STREAM_OP_FENCE:
        if (id >= r->nconns || !r->conns[id].open)
            return 0;
        return run_fence(r, id, &r->conns[id].c, run_conn_pid(r, id));
    case STREAM_OP_READ_REPLY:
        if (id >= r->nconns || !r->conns[id].open)
            return 0;
        return run_read_reply(r, id, &r->conns[id].c);
    case STREAM_OP_CLOSE:
        if (id >= r->nconns || !r->conns[id].open)
            return 0;
        run_close(r, id, (rec->flags & FUZZ_FLAG_ABORT) != 0);
        return r->done ? -1 : 0;
    case STREAM_OP_DUMP: {
        if (run_ensure_open(r, id) != 0 || run_switch(r, id) != 0)
            return -1;
        uint8_t frame[PROTO_MAX_FRAME];
        size_t n = x->frame_size;
        if (rec->len == x->frame_size) {
            memcpy(frame, payload, n);
        } else {
            proto_msg d;
            memset(&d, 0, sizeof d);
            d.type = PROTO_DUMP_REMAINING;
            d.process_id = run_conn_pid(r, id);
            n = proto_encode(x->cfg.rev, &d, frame);
        }
        fuzz_conn_state st = fuzz_model_conn(x->model, id);
        if (st.server_closed)
            return 0;
        if (run_model_write(r, id, frame, n) != 0)
            return -1;
        r->conns[id].dirty_tail = 1;
        if (st.pending == 0) { /* a whole frame: the fence below sends it along */
            if (r->batch_conn != (int)id && run_flush(r) != 0)
                return -1;
            sbuf_append(&r->batch, frame, n);
            r->batch_conn = id;
        } else if (run_flush(r) != 0 || run_send(r, id, &r->conns[id].c, frame, n) != 0) {
            return -1;
        } else {
            run_drain(r, &r->conns[id].c);
        }
        r->conns[id].unconfirmed = 1;
        /* Waiting for the report is what a DUMP record means; the fence makes it exact. */
        if (run_fence(r, id, &r->conns[id].c, run_conn_pid(r, id)) != 0)
            return -1;
        return run_collect_dumps(r);
    }
    case STREAM_OP_SLEEP: {
        uint32_t ms = rec->len == 4 ? (uint32_t)(payload[0] | payload[1] << 8 | payload[2] << 16 |
                                                 (uint32_t)payload[3] << 24)
                                    : 0;
        if (ms > 10000)
            ms = 10000;
        struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
        return 0;
    }
    default:
        return 0;
    }
}

/* After the records: every connection fenced, then one report and a QUERY of each device on
 * the control connection, followed by the frames that empty the server, another report and
 * QUERY sweep proving it empty, all in one write. Returns 0 or -1. */
static int run_final(run *r) {
    fuzz_exec *x = r->x;
    if (run_flush(r) != 0)
        return -1;
    run_reap(r);
    for (size_t i = 0; i < r->nconns && !r->done; i++) {
        run_conn *rc = &r->conns[i];
        if (!rc->open)
            continue;
        fuzz_conn_state st = fuzz_model_conn(x->model, (uint16_t)i);
        if (rc->unconfirmed || st.replies || st.server_closed || st.pending)
            if (run_fence(r, (uint16_t)i, &rc->c, run_conn_pid(r, (uint16_t)i)) != 0)
                return -1;
    }
    if (r->done)
        return -1;
    sbuf out = SBUF_INIT;
    proto_msg m;
    uint8_t frame[PROTO_MAX_FRAME];
    if (x->cfg.final_check) {
        memset(&m, 0, sizeof m);
        m.type = PROTO_DUMP_REMAINING;
        sbuf_append(&out, frame, proto_encode(x->cfg.rev, &m, frame));
        int ndev = proto_rev_get(x->cfg.rev)->max_devices;
        if (ndev > FUZZ_SWEEP_DEVICES)
            ndev = FUZZ_SWEEP_DEVICES;
        for (int d = 0; d < ndev; d++) {
            memset(&m, 0, sizeof m);
            m.type = PROTO_QUERY;
            m.device_id = d;
            sbuf_append(&out, frame, proto_encode(x->cfg.rev, &m, frame));
        }
        if (run_model_write(r, FUZZ_CONN_CONTROL, (const uint8_t *)out.data, out.len) != 0) {
            sbuf_release(&out);
            return -1;
        }
    }
    size_t checked_len = out.len;
    /* The reset is computed after the final report, whose dead-PID cleanup changes the state. */
    long resets = fuzz_model_reset_frames(x->model, 0, &out);
    /* Then prove the server empty (a report and every device's totals), so that whatever
     * the reset could not undo is blamed on this stream and not on the next one. */
    if (resets > 0) {
        memset(&m, 0, sizeof m);
        m.type = PROTO_DUMP_REMAINING;
        sbuf_append(&out, frame, proto_encode(x->cfg.rev, &m, frame));
    }
    int nsweep = proto_rev_get(x->cfg.rev)->max_devices;
    if (nsweep > FUZZ_SWEEP_DEVICES)
        nsweep = FUZZ_SWEEP_DEVICES;
    if (resets == 0)
        nsweep = 1; /* nothing was reset: one QUERY proves the order */
    for (int d = 0; d < nsweep; d++) {
        memset(&m, 0, sizeof m);
        m.type = PROTO_QUERY;
        m.device_id = d;
        sbuf_append(&out, frame, proto_encode(x->cfg.rev, &m, frame));
    }
    if (resets < 0 || sbuf_failed(&out) ||
        run_model_write(r, FUZZ_CONN_CONTROL, (const uint8_t *)out.data + checked_len,
                        out.len - checked_len) != 0) {
        sbuf_release(&out);
        if (!r->done) {
            sbuf_puts(&r->o->detail, "out of memory");
            run_verdict(r, FUZZ_ERROR, NULL);
        }
        return -1;
    }
    r->record = r->s->nrecords;
    int rc = run_send(r, FUZZ_CONN_CONTROL, &x->control, (const uint8_t *)out.data, out.len);
    sbuf_release(&out);
    if (rc == 0)
        rc = run_read_replies(r, FUZZ_CONN_CONTROL, &x->control, 1);
    if (rc == 0 && run_scan(r))
        rc = -1;
    if (rc == 0 && ledger_count(fuzz_model_ledger(x->model)) != 0)
        x->dirty = 1; /* the reset did not empty the model: start the next stream afresh */
    return rc;
}

fuzz_verdict fuzz_exec_run(fuzz_exec *x, const stream *s, fuzz_outcome *o) {
    fuzz_outcome_reset(o);
    char err[1024];
    if (s->frame_size != x->frame_size) {
        sbuf_printf(&o->detail, "the stream has %zu-byte frames (%s), the server %zu-byte ones (%s)",
                    s->frame_size, proto_rev_get(s->rev)->name, x->frame_size,
                    proto_rev_get(x->cfg.rev)->name);
        o->verdict = FUZZ_ERROR;
        return o->verdict;
    }
    if (x->dirty && fuzz_exec_restart(x, err, sizeof err) != 0) {
        sbuf_printf(&o->detail, "cannot restart the server: %s", err);
        o->verdict = FUZZ_ERROR;
        x->dirty = 1;
        return o->verdict;
    }
    run r;
    memset(&r, 0, sizeof r);
    r.x = x;
    r.s = s;
    r.o = o;
    r.last_conn = -1;
    r.batch_conn = -1;
    r.log_start = srvproc_log_end(x->srv);
    r.work = mem_alloc(s->payload_len ? s->payload_len : 1);
    r.procs = mem_calloc(s->nprocs ? s->nprocs : 1, sizeof *r.procs);
    if (!r.work || !r.procs || fuzz_pid_sites(s, &r.sites, &r.nsites) != 0 ||
        fuzz_dump_records(s, &r.dump_recs, &r.ndump_recs) != 0) {
        sbuf_puts(&o->detail, "out of memory");
        run_verdict(&r, FUZZ_ERROR, NULL);
    } else {
        if (s->payload_len)
            memcpy(r.work, s->payload, s->payload_len);
        run_plan_phantoms(&r);
        for (uint32_t i = 0; i < s->nprocs; i++)
            snprintf(r.procs[i].name, sizeof r.procs[i].name, "#%" PRIu32, i);
        for (r.record = 0; r.record < s->nrecords && !r.done; r.record++)
            if (run_record(&r, &s->records[r.record]) != 0)
                break;
        if (!r.done)
            run_final(&r);
    }
    /* Connections end with the stream; live stand-ins go back to the pool when the server's
     * state is known, since their pids no longer own anything. */
    for (size_t i = 0; i < r.nconns; i++) {
        fuzz_conn_state st = fuzz_model_conn(x->model, (uint16_t)i);
        if (r.conns[i].open) {
            /* A connection left aligned, answered and proven handled is as good as new. */
            if (!r.done && st.open && !st.server_closed && !st.pending && !st.replies &&
                !r.conns[i].unconfirmed && !r.conns[i].dirty_tail && x->nidle < FUZZ_IDLE_CONNS)
                x->idle[x->nidle++] = r.conns[i].c;
            else
                conn_abort(&r.conns[i].c);
        }
        if (st.open)
            fuzz_model_close(x->model, (uint16_t)i);
    }
    sbuf_release(&r.batch);
    if (r.procs)
        run_reap(&r);
    for (uint32_t i = 0; r.procs && i < s->nprocs; i++) {
        if (r.procs[i].state == PROC_RUNNING && !r.done)
            fuzz_exec_pool_give(x, &r.procs[i].st);
        else if (r.procs[i].state == PROC_RUNNING || r.procs[i].state == PROC_ENDED)
            standin_release(&r.procs[i].st);
    }
    fuzz_model_drop_dumps(x->model, fuzz_model_dump_count(x->model));
    if (r.done)
        x->dirty = 1;
    size_t keep = x->log_pos < x->scan_pos ? x->log_pos : x->scan_pos;
    srvproc_log_trim(x->srv, keep);
    mem_free(r.work);
    mem_free(r.procs);
    mem_free(r.conns);
    mem_free(r.sites);
    mem_free(r.dump_recs);
    return o->verdict;
}

