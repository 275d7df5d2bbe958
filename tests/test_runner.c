/* Tests for harness/standin and harness/runner against the reference server.
 *
 * Stand-ins: alive while running, dead (kill(pid, 0) fails) after crash or exit because they
 * are reaped, and holding none of the harness's descriptors. Runner: a small hand-built plan
 * (the seed's TRACE buffers, a QUERY, a dump, a crash, a second dump) executed against
 * allocsim-server, with the expected values taken from protocol.md (12503040 bytes print as
 * "12210 KB" and "11.9238 MB"; a dump after a crash starts with the dead-process block);
 * its recording replayed on a fresh server gives the same dumps; pids split across writes
 * are rewritten, verbatim ones are not; and a dead, a hung or a missing server ends the run
 * with a message naming the cause. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runner.h"
#include "standin.h"

#define WAIT_MS 10000

static int alive(pid_t pid) { return kill(pid, 0) == 0; }

static int count_fds(pid_t pid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

START_TEST(test_standin_lifecycle) {
    standin a, b, c;
    char err[256];
    int extra[2];
    ck_assert_int_eq(pipe(extra), 0); /* not close-on-exec: the child must close it itself */
    ck_assert_int_eq(standin_spawn(&a, err, sizeof err), 0);
    ck_assert_int_eq(standin_spawn(&b, err, sizeof err), 0);
    ck_assert_int_eq(standin_spawn(&c, err, sizeof err), 0);
    ck_assert(alive(a.pid) && alive(b.pid) && alive(c.pid));
    /* Only its pipe (stdin) and /dev/null (stdout, stderr) are open in a stand-in: not the
     * extra pipe above, not the other stand-ins' pipes. */
    int n = -1;
    for (int i = 0; i < 200 && (n = count_fds(a.pid)) != 3; i++)
        usleep(5000);
    ck_assert_int_eq(n, 3);

    ck_assert_int_eq(standin_crash(&a, err, sizeof err), 0);
    ck_assert_int_eq(a.state, STANDIN_CRASHED);
    ck_assert_int_eq(kill(a.pid, 0), -1);
    ck_assert_int_eq(errno, ESRCH); /* reaped: not even a zombie */

    ck_assert_int_eq(standin_exit(&b, err, sizeof err), 0);
    ck_assert_int_eq(b.state, STANDIN_EXITED);
    ck_assert_int_eq(kill(b.pid, 0), -1);
    ck_assert_int_eq(errno, ESRCH);

    ck_assert_int_eq(standin_crash(&b, err, sizeof err), -1);
    char want[128];
    snprintf(want, sizeof want, "stand-in %d: crash: expected a running process, found it already ended",
             (int)b.pid);
    ck_assert_str_eq(err, want);
    standin_release(&c);
    ck_assert_int_eq(kill(c.pid, 0), -1);
    standin_release(&c); /* twice is harmless */
    close(extra[0]);
    close(extra[1]);
}
END_TEST

static srvproc *start_reference(proto_rev rev) {
    srvproc_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.rev = rev;
    const char *extra[] = {"--stats-interval", "0", NULL};
    cfg.extra_args = extra;
    srvproc *p = NULL;
    char err[2048];
    ck_assert_msg(srvproc_start(&cfg, &p, err, sizeof err) == 0, "%s", err);
    ck_assert_msg(srvproc_wait_ready(p, WAIT_MS, err, sizeof err) == 0, "%s", err);
    return p;
}

static proto_msg alloc_msg(int32_t pid, int32_t dev, uint8_t type, uint64_t id, uint64_t size) {
    proto_msg m;
    memset(&m, 0, sizeof m);
    m.type = PROTO_ALLOC;
    m.device_id = dev;
    m.size = size;
    m.buffer_type = type;
    m.process_id = pid;
    m.buffer_id = id;
    return m;
}

/* The hand-built plan: a (5001) allocates the seed's TRACE buffer on devices 0 and 1, b (5002)
 * a DRAM buffer; a queries device 1; b dumps; a crashes; b dumps again; b exits. */
typedef struct {
    plan p;
    plan_step steps[16];
    char *names[2];
    int32_t pids[2];
    size_t query_step;
} test_plan;

static void build_plan(test_plan *t) {
    memset(t, 0, sizeof *t);
    t->names[0] = "a";
    t->names[1] = "b";
    t->pids[0] = 5001;
    t->pids[1] = 5002;
    plan_step *s = t->steps;
    size_t n = 0;
    s[n].kind = PLAN_SPAWN, s[n++].proc = 0;
    s[n].kind = PLAN_SPAWN, s[n++].proc = 1;
    s[n].kind = PLAN_SEND, s[n].proc = 0;
    s[n++].msg = alloc_msg(5001, 0, PROTO_BUF_TRACE, 1043741824u, 12503040u);
    s[n].kind = PLAN_SEND, s[n].proc = 0;
    s[n++].msg = alloc_msg(5001, 1, PROTO_BUF_TRACE, 1043741824u, 12503040u);
    s[n].kind = PLAN_SEND, s[n].proc = 1;
    s[n++].msg = alloc_msg(5002, 0, PROTO_BUF_DRAM, 0x1000, 4096);
    s[n].kind = PLAN_SEND, s[n].proc = 0, s[n].has_reply = 1;
    s[n].msg.type = PROTO_QUERY, s[n].msg.device_id = 1, s[n].msg.process_id = 5001;
    t->query_step = n++;
    s[n].kind = PLAN_DUMP, s[n].proc = 1, s[n].dump = 0;
    s[n].msg.type = PROTO_DUMP_REMAINING, s[n++].msg.process_id = 5002;
    s[n].kind = PLAN_CRASH, s[n++].proc = 0;
    s[n].kind = PLAN_DUMP, s[n].proc = 1, s[n].dump = 1;
    s[n].msg.type = PROTO_DUMP_REMAINING, s[n++].msg.process_id = 5002;
    s[n].kind = PLAN_EXIT, s[n++].proc = 1;
    t->p.rev = PROTO_V72;
    t->p.nprocs = 2;
    t->p.proc_names = t->names;
    t->p.sim_pid = t->pids;
    t->p.steps = t->steps;
    t->p.nsteps = n;
}

static const dumpview_buffer *find_buffer(const dumpview *v, int32_t dev, uint64_t id) {
    for (size_t i = 0; i < v->nbuffers; i++)
        if (v->buffers[i].device_id == dev && v->buffers[i].buffer_id == id)
            return &v->buffers[i];
    return NULL;
}

static const dumpview_group *find_group(const dumpview *v, int32_t dev, uint8_t type) {
    for (size_t i = 0; i < v->ngroups; i++)
        if (v->groups[i].device_id == dev && v->groups[i].buffer_type == type)
            return &v->groups[i];
    return NULL;
}

static void check_plan_result(runner_result *res, size_t query_step) {
    ck_assert_msg(res->status == RUNNER_OK, "%s", sbuf_str(&res->message));
    ck_assert_uint_eq(res->nprocs, 2);
    int32_t a = res->live_pid[0], b = res->live_pid[1];
    ck_assert(a > 0 && b > 0 && a != 5001 && b != 5002);
    ck_assert_str_eq(runner_live_pid_name(res, a), "a");
    ck_assert_str_eq(runner_recorded_pid_name(res, 5002), "b");
    ck_assert_ptr_null(runner_live_pid_name(res, 5001));
    /* The stand-ins are gone after the run: crashed, or exited and reaped. */
    ck_assert_int_eq(kill(a, 0), -1);
    ck_assert_int_eq(kill(b, 0), -1);

    ck_assert_uint_eq(res->nreplies, 1);
    ck_assert_int_eq(res->replies[0].plan_step, (long)query_step);
    ck_assert_int_eq(res->replies[0].msg.type, PROTO_RESPONSE);
    ck_assert_int_eq(res->replies[0].msg.device_id, 1);
    ck_assert_uint_eq(res->replies[0].msg.trace_allocated, 12503040u);
    ck_assert_uint_eq(res->replies[0].msg.dram_allocated, 0);

    ck_assert_uint_eq(res->ndumps, 2);
    runner_dump *d0 = &res->dumps[0], *d1 = &res->dumps[1];
    ck_assert_int_eq(d0->plan_dump, 0);
    ck_assert_int_eq(d1->plan_dump, 1);
    ck_assert_msg(d0->parsed, "%s\n%s", d0->parse_error, sbuf_str(&d0->text));
    ck_assert_msg(d1->parsed, "%s\n%s", d1->parse_error, sbuf_str(&d1->text));
    const char *t = sbuf_str(&d0->text);
    ck_assert_msg(strncmp(t, "📋 Received DUMP_REMAINING request...\n", strlen("📋 Received DUMP_REMAINING request...\n")) == 0, "%s", t);
    const char *done = "📋 DUMP_REMAINING complete.\n";
    ck_assert_str_eq(t + strlen(t) - strlen(done), done);
    ck_assert_uint_lt(d0->first_line, d0->last_line);
    ck_assert_uint_lt(d0->last_line, d1->first_line);

    ck_assert_uint_eq(d0->view.total_tracked, 3);
    const dumpview_buffer *tr = find_buffer(&d0->view, 1, 1043741824u);
    ck_assert_ptr_nonnull(tr);
    ck_assert_int_eq(tr->buffer_type, PROTO_BUF_TRACE);
    ck_assert_str_eq(tr->kb, "12210");
    ck_assert_int_eq(tr->pid, a);
    ck_assert_int_eq(tr->ref_count, 1);
    const dumpview_group *g = find_group(&d0->view, 0, PROTO_BUF_TRACE);
    ck_assert_ptr_nonnull(g);
    ck_assert_str_eq(g->mb, "11.9238");
    const dumpview_buffer *dr = find_buffer(&d0->view, 0, 0x1000);
    ck_assert_ptr_nonnull(dr);
    ck_assert_int_eq(dr->pid, b);
    ck_assert_str_eq(dr->kb, "4");
    ck_assert_uint_eq(d0->view.ndead, 0);

    /* After a's crash the dump's cleanup removes both TRACE buffers. */
    ck_assert_uint_eq(d1->view.ndead, 1);
    ck_assert_int_eq(d1->view.dead[0].pid, a);
    ck_assert_uint_eq(d1->view.dead[0].buffers, 2);
    ck_assert_uint_eq(d1->view.total_tracked, 1);
    ck_assert_ptr_null(find_buffer(&d1->view, 1, 1043741824u));
    ck_assert_ptr_nonnull(find_buffer(&d1->view, 0, 0x1000));
}

START_TEST(test_plan_against_reference_server) {
    test_plan tp;
    build_plan(&tp);
    srvproc *srv = start_reference(PROTO_V72);
    char dir[] = "/tmp/allocsim-runnertest-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char rec[128];
    snprintf(rec, sizeof rec, "%s/run.allocstream", dir);
    runner_opts o;
    runner_opts_default(&o);
    runner_result res;
    runner_run_plan(srv, &tp.p, &o, rec, &res);
    check_plan_result(&res, tp.query_step);
    /* Fences only where order across connections needs one: before b's first write and
     * before a's QUERY; the QUERY's reply already orders the dump after a's writes. */
    ck_assert_uint_eq(res.fences, 2);
    srvproc_free(srv);

    /* The recording replays on a fresh server to the same reports (pids mapped to names). */
    stream s;
    char err[512];
    ck_assert_msg(stream_load(rec, &s, err, sizeof err) == 0, "%s", err);
    srvproc *srv2 = start_reference(PROTO_V72);
    runner_result res2;
    ck_assert_int_eq(runner_run_stream(srv2, &s, &o, &res2), RUNNER_OK);
    ck_assert_uint_eq(res2.ndumps, 2);
    for (size_t i = 0; i < 2; i++) {
        sbuf diff = SBUF_INIT;
        int rc = dumpview_compare(&res.dumps[i].view, runner_live_pid_name, &res, &res2.dumps[i].view,
                                  runner_live_pid_name, &res2, &diff);
        ck_assert_msg(rc == 0, "dump %zu differs on replay:\n%s", i, sbuf_str(&diff));
        sbuf_release(&diff);
    }
    ck_assert_int_eq(res2.dumps[0].plan_dump, -1);
    ck_assert_uint_eq(res2.replies[0].msg.trace_allocated, 12503040u);
    runner_result_release(&res2);
    runner_result_release(&res);
    stream_release(&s);
    srvproc_free(srv2);
    unlink(rec);
    rmdir(dir);
}
END_TEST

START_TEST(test_split_and_verbatim_pids) {
    const int32_t ghost = 0x7ffffff0; /* above any pid_max: certainly dead unless rewritten */
    stream s;
    stream_init(&s, PROTO_V72);
    ck_assert_int_eq(stream_add_proc(&s, ghost, "p"), 0);
    stream_append(&s, STREAM_OP_SPAWN, 0, 0, NULL, 0);
    stream_append_connect(&s, 0, 0);
    uint8_t f[72];
    proto_msg m = alloc_msg(ghost, 0, PROTO_BUF_L1, 0x5000, 2048);
    proto_encode(PROTO_V72, &m, f);
    /* Split inside the process_id field (bytes 20..23): 22 + 50. */
    stream_append(&s, STREAM_OP_WRITE, 0, 0, f, 22);
    stream_append(&s, STREAM_OP_WRITE, 0, 0, f + 22, 50);
    m.buffer_id = 0x6000;
    proto_encode(PROTO_V72, &m, f);
    stream_append(&s, STREAM_OP_WRITE, STREAM_FLAG_VERBATIM, 0, f, 72);
    stream_append(&s, STREAM_OP_FENCE, 0, 0, NULL, 0);
    stream_append(&s, STREAM_OP_DUMP, 0, 0, NULL, 0);
    srvproc *srv = start_reference(PROTO_V72);
    runner_result res;
    ck_assert_msg(runner_run_stream(srv, &s, NULL, &res) == RUNNER_OK, "%s", sbuf_str(&res.message));
    ck_assert_uint_eq(res.ndumps, 1);
    const dumpview *v = &res.dumps[0].view;
    ck_assert_msg(res.dumps[0].parsed, "%s", sbuf_str(&res.dumps[0].text));
    /* The verbatim frame kept the dead pid: the dump's cleanup removed it first. */
    ck_assert_uint_eq(v->ndead, 1);
    ck_assert_int_eq(v->dead[0].pid, ghost);
    ck_assert_uint_eq(v->dead[0].buffers, 1);
    const dumpview_buffer *b = find_buffer(v, 0, 0x5000);
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(b->pid, res.live_pid[0]);
    ck_assert_ptr_null(find_buffer(v, 0, 0x6000));
    ck_assert_uint_eq(res.fences, 1);
    ck_assert_uint_eq(res.frames_sent, 4); /* two ALLOCs, the fence's QUERY, the DUMP */
    runner_result_release(&res);
    stream_release(&s);
    srvproc_free(srv);
}
END_TEST

static int is_banner_end(const srvproc_line *l, void *ctx) {
    (void)ctx;
    return strcmp(l->text, "   Press Ctrl+C to stop") == 0;
}

START_TEST(test_dead_server_reported) {
    test_plan tp;
    build_plan(&tp);
    srvproc *srv = start_reference(PROTO_V72);
    /* Ready means listening, which comes before the banner: wait for the banner too. */
    ck_assert_int_eq(srvproc_wait_line(srv, 0, is_banner_end, NULL, WAIT_MS, NULL), SRVPROC_FOUND);
    /* SIGKILL: a sanitized server would catch SIGSEGV itself and exit with a report. */
    kill(srvproc_pid(srv), SIGKILL);
    int st;
    ck_assert_int_eq(srvproc_wait_exit(srv, WAIT_MS, &st), 1);
    runner_result res;
    ck_assert_int_eq(runner_run_plan(srv, &tp.p, NULL, NULL, &res), RUNNER_SERVER_FAILED);
    const char *msg = sbuf_str(&res.message);
    ck_assert_msg(strstr(msg, "record 1 (CONNECT connection 0): connect /tmp/allocsim-"), "%.1500s", msg);
    ck_assert_msg(strstr(msg, "Connection refused\nserver: killed by signal 9 (SIGKILL)"), "%.1500s", msg);
    ck_assert_msg(strstr(msg, "last 30 lines of the server log:\nout| 🚀 Allocation Server started"), "%.1500s", msg);
    ck_assert_uint_eq(res.failed_record, 1);
    /* The stand-in spawned before the failure was ended. */
    ck_assert(res.live_pid[0] > 0);
    ck_assert_int_eq(kill(res.live_pid[0], 0), -1);
    runner_result_release(&res);
    srvproc_free(srv);
}
END_TEST

START_TEST(test_hung_server_reported) {
    /* A socket that listens and never accepts: connect and write succeed, no reply comes. */
    char dir[] = "/tmp/allocsim-hungtest-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/server.sock", dir);
    int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(listen(lfd, 8), 0);
    srvproc *srv = NULL;
    char err[256];
    ck_assert_int_eq(srvproc_attach(path, NULL, &srv, err, sizeof err), 0);
    stream s;
    stream_init(&s, PROTO_V112);
    stream_add_proc(&s, 77, "worker");
    stream_append(&s, STREAM_OP_SPAWN, 0, 0, NULL, 0);
    stream_append_connect(&s, 2, 0);
    proto_msg m = alloc_msg(77, 0, PROTO_BUF_DRAM, 0x10, 64);
    stream_append_frame(&s, 2, &m);
    stream_append(&s, STREAM_OP_FENCE, 0, 2, NULL, 0);
    runner_opts o;
    runner_opts_default(&o);
    o.timeout_ms = 300;
    runner_result res;
    ck_assert_int_eq(runner_run_stream(srv, &s, &o, &res), RUNNER_SERVER_FAILED);
    const char *msg = sbuf_str(&res.message);
    ck_assert_msg(strstr(msg, "record 3 (FENCE connection 2 of process 'worker'): read reply: no reply within 300 ms"),
                  "%.1500s", msg);
    ck_assert_msg(strstr(msg, "server: attached to "), "%.1500s", msg);
    runner_result_release(&res);
    srvproc_free(srv);
    stream_release(&s);
    close(lfd);
    unlink(path);
    rmdir(dir);
}
END_TEST

START_TEST(test_bad_stream_reported) {
    srvproc *srv = start_reference(PROTO_V72);
    stream s;
    stream_init(&s, PROTO_V72);
    stream_add_proc(&s, 1, "p");
    stream_append(&s, STREAM_OP_WRITE, 0, 3, "x", 1);
    runner_result res;
    ck_assert_int_eq(runner_run_stream(srv, &s, NULL, &res), RUNNER_BAD_INPUT);
    ck_assert_str_eq(sbuf_str(&res.message),
                     "record 0 (WRITE connection 3): connection 3 is not open (no CONNECT before, or closed)");
    runner_result_release(&res);
    stream_release(&s);

    stream_init(&s, PROTO_V72);
    stream_add_proc(&s, 1, "p");
    stream_append(&s, STREAM_OP_CRASH, 0, 0, NULL, 0);
    ck_assert_int_eq(runner_run_stream(srv, &s, NULL, &res), RUNNER_BAD_INPUT);
    ck_assert_str_eq(sbuf_str(&res.message), "record 0 (CRASH process 0 'p'): the process is not running");
    runner_result_release(&res);
    stream_release(&s);
    /* The server is unharmed. */
    ck_assert_int_eq(srvproc_exited(srv, NULL), 0);
    srvproc_free(srv);
}
END_TEST

int main(void) {
    Suite *s = suite_create("runner");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_standin_lifecycle);
    tcase_add_test(tc, test_plan_against_reference_server);
    tcase_add_test(tc, test_split_and_verbatim_pids);
    tcase_add_test(tc, test_dead_server_reported);
    tcase_add_test(tc, test_hung_server_reported);
    tcase_add_test(tc, test_bad_stream_reported);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
