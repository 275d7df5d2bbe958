/* test_fuzz_campaign: acceptance tests of `allocsim fuzz` campaigns against servers with
 * planted defects (allocsim-server --fault sigpipe, bad-device, single-recv, silent-after=N): a
 * racy stream holding two defects is minimised into two small confirmed reproducers, root
 * causes are grouped and counted, --known skips what is known, `allocsim fuzz merge` joins
 * shards, and after a first hang later hangs are called after the quiet time (250 ms) instead
 * of the whole reply timeout.
 *
 * Each test runs the built `allocsim` binary ($ALLOCSIM_BIN) in a private directory and
 * reads what it printed and wrote; the socket is private (the fuzzer's shim), never the real
 * one. The root-cause key and residue helpers of fuzz_triage.h are tested directly.
 */
#include <check.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fuzz.h"
#include "fuzz_triage.h"
#include "mem.h"
#include "proto.h"
#include "sbuf.h"
#include "stream.h"

static char work_dir[64];
static char bin_dir[1024];

static void setup(void) {
    snprintf(work_dir, sizeof work_dir, "/tmp/allocsim-fzc-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(work_dir));
    const char *b = getenv("ALLOCSIM_BIN");
    snprintf(bin_dir, sizeof bin_dir, "%s", b ? b : "build/bin");
}

static void teardown(void) {
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", work_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", work_dir);
}

/* Runs a shell command in work_dir; returns its exit status and its stdout in out. */
static int run_cmd(const char *cmd, sbuf *out) {
    char full[8192];
    snprintf(full, sizeof full, "cd '%s' && %s 2>stderr.txt", work_dir, cmd);
    FILE *p = popen(full, "r");
    ck_assert_ptr_nonnull(p);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0)
        sbuf_append(out, buf, n);
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static void faulty_server(char *buf, size_t n, const char *faults) {
    snprintf(buf, n, "%s/allocsim-server --protocol v72 --cleanup-interval 0 --stats-interval 0 %s",
             bin_dir, faults);
}

/* Number of *.allocstream files in dir. */
static int count_streams(const char *dir) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", work_dir, dir);
    DIR *d = opendir(path);
    if (!d)
        return 0;
    int n = 0;
    for (struct dirent *de; (de = readdir(d));)
        n += strstr(de->d_name, ".allocstream") != NULL;
    closedir(d);
    return n;
}

static stream load_in(const char *rel) {
    char path[512], err[256];
    snprintf(path, sizeof path, "%s/%s", work_dir, rel);
    stream s;
    ck_assert_msg(stream_load(path, &s, err, sizeof err) == 0, "%s", err);
    return s;
}

/* Seed 16 of `--features baddev,earlyclose --max-ops 16` is one stream (stream 0) holding
 * both an abrupt close after a QUERY (SIGPIPE on a server that does not ignore it, racy: the
 * reply may go out before the close) and an ALLOC with an out-of-range device (SIGSEGV). */
#define TWO_DEFECTS "--seed 16 --runs 1 --max-ops 16 --features baddev,earlyclose"

START_TEST(racy_stream_gives_two_small_reproducers) {
    char srv[1200], cmd[4096];
    faulty_server(srv, sizeof srv, "--fault sigpipe --fault bad-device");
    snprintf(cmd, sizeof cmd, "%s/allocsim fuzz " TWO_DEFECTS " --server '%s' --out found --quiet",
             bin_dir, srv);
    sbuf out = SBUF_INIT;
    int rc = run_cmd(cmd, &out);
    const char *o = sbuf_str(&out);
    ck_assert_msg(rc == 1, "exit %d, expected 1 (failures found):\n%s", rc, o);
    ck_assert_msg(strstr(o, "2 root causes") != NULL, "expected two root causes:\n%s", o);
    ck_assert_int_eq(count_streams("found"), 2);
    /* Each reproducer is at most two frames and was confirmed on a fresh server. */
    const char *names[2] = {"found/crash-SIGPIPE.allocstream", "found/crash-SIGSEGV.allocstream"};
    char probe[512]; /* an ASan build of the server reports the SIGSEGV itself: asan-SEGV */
    snprintf(probe, sizeof probe, "%s/%s", work_dir, names[1]);
    if (access(probe, F_OK) != 0)
        names[1] = "found/asan-SEGV.allocstream";
    for (int i = 0; i < 2; i++) {
        stream s = load_in(names[i]);
        ck_assert_msg(fuzz_stream_frames(&s) <= 2, "%s: %zu frames", names[i], fuzz_stream_frames(&s));
        stream_release(&s);
    }
    ck_assert_msg(strstr(o, "confirmed 0/") == NULL, "a reproducer was not confirmed:\n%s", o);
    /* The SIGSEGV one is the bad device, alone. */
    stream seg = load_in(names[1]);
    ck_assert_uint_eq(seg.nrecords, 1);
    proto_msg m;
    proto_decode(seg.rev, seg.payload, seg.frame_size, &m);
    ck_assert_int_eq(m.type, PROTO_ALLOC);
    ck_assert(m.device_id < 0 || m.device_id >= 8);
    stream_release(&seg);
    /* Each replays to its own crash on a fresh server (every report ends with one command). */
    snprintf(cmd, sizeof cmd, "%s/allocsim replay %s --server '%s' >/dev/null", bin_dir, names[1], srv);
    sbuf r = SBUF_INIT;
    ck_assert_int_eq(run_cmd(cmd, &r), 3);
    sbuf_release(&r);
    sbuf_release(&out);
}
END_TEST

START_TEST(known_root_causes_are_counted_not_minimised) {
    char srv[1200], cmd[4096];
    faulty_server(srv, sizeof srv, "--fault sigpipe --fault bad-device");
    sbuf out = SBUF_INIT;
    snprintf(cmd, sizeof cmd, "%s/allocsim fuzz " TWO_DEFECTS " --server '%s' --out first --quiet",
             bin_dir, srv);
    ck_assert_int_eq(run_cmd(cmd, &out), 1);
    sbuf_reset(&out);
    /* The same campaign with those reproducers known: nothing new, exit 0, nothing written. */
    snprintf(cmd, sizeof cmd, "%s/allocsim fuzz " TWO_DEFECTS " --server '%s' --out second --known first --quiet",
             bin_dir, srv);
    int rc = run_cmd(cmd, &out);
    const char *o = sbuf_str(&out);
    ck_assert_msg(rc == 0, "exit %d, expected 0 (only known causes):\n%s", rc, o);
    ck_assert_msg(strstr(o, "known") != NULL, "%s", o);
    ck_assert_int_eq(count_streams("second"), 0);
    sbuf_release(&out);
}
END_TEST

START_TEST(merge_dedups_shards_by_root_cause) {
    char srv[1200], cmd[8192];
    faulty_server(srv, sizeof srv, "--fault bad-device");
    /* Three shards of one campaign in parallel, each with its own private server. */
    snprintf(cmd, sizeof cmd,
             "for i in 0 1 2; do %s/allocsim fuzz --seed 3 --runs 30 --max-ops 8 --features baddev "
             "--shard $i/3 --server '%s' --out shard$i --quiet --min-budget 60 --confirm 1 >/dev/null & done; wait",
             bin_dir, srv);
    sbuf out = SBUF_INIT;
    run_cmd(cmd, &out);
    int total = count_streams("shard0") + count_streams("shard1") + count_streams("shard2");
    ck_assert_msg(total >= 2, "shards found %d reproducers", total);
    sbuf_reset(&out);
    snprintf(cmd, sizeof cmd, "%s/allocsim fuzz merge --out merged shard0 shard1 shard2", bin_dir);
    int rc = run_cmd(cmd, &out);
    const char *o = sbuf_str(&out);
    ck_assert_msg(rc == 0, "merge exit %d:\n%s", rc, o);
    int merged = count_streams("merged");
    ck_assert_msg(merged >= 1 && merged <= total, "merged %d of %d", merged, total);
    char expect[64];
    snprintf(expect, sizeof expect, "%d reproducers", total);
    ck_assert_msg(strstr(o, expect) != NULL, "%s", o);
    snprintf(expect, sizeof expect, "%d root cause", merged);
    ck_assert_msg(strstr(o, expect) != NULL, "%s", o);
    /* Merging the merged directory again changes nothing. */
    sbuf_reset(&out);
    snprintf(cmd, sizeof cmd, "%s/allocsim fuzz merge --out merged2 merged shard1", bin_dir);
    ck_assert_int_eq(run_cmd(cmd, &out), 0);
    ck_assert_int_eq(count_streams("merged2"), merged);
    sbuf_release(&out);
}
END_TEST

/* The partial-frame defect (--fault single-recv: one recv() per message, a short read handled
 * with the previous frame's tail, as the real v72/v112 servers do). Seed 1 of `--features split
 * --max-ops 8` splits frames in most of its first 40 streams, and the defect shows as several
 * signatures (counts, buffers, QUERY replies). The executor lets the server read each partial
 * write on its own, so every run splits the same way: the failures minimise and confirm, and
 * all of them end as one root cause whose reproducer is one partial write. */
START_TEST(partial_frame_defect_is_one_root_cause) {
    char srv[1200], cmd[4096];
    faulty_server(srv, sizeof srv, "--fault single-recv");
    snprintf(cmd, sizeof cmd,
             "%s/allocsim fuzz --seed 1 --runs 40 --features split --max-ops 8 --server '%s' --out found --quiet",
             bin_dir, srv);
    sbuf out = SBUF_INIT;
    int rc = run_cmd(cmd, &out);
    const char *o = sbuf_str(&out);
    ck_assert_msg(rc == 1, "exit %d, expected 1:\n%s", rc, o);
    ck_assert_msg(strstr(o, " 1 root cause\n") != NULL, "expected one root cause:\n%s", o);
    ck_assert_msg(strstr(o, "not reproducible") == NULL, "a failure did not come back:\n%s", o);
    ck_assert_msg(strstr(o, "confirmed 3/3") != NULL, "%s", o);
    int nsig = 0;
    const char *p = strstr(o, "failing streams: ");
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(sscanf(p, "failing streams: %d signature", &nsig), 1);
    ck_assert_msg(nsig >= 2, "one defect, several symptoms expected, found %d:\n%s", nsig, o);
    ck_assert_int_eq(count_streams("found"), 1);
    /* The reproducer: at most two frames' worth, and a write shorter than a frame. */
    sbuf ls = SBUF_INIT;
    ck_assert_int_eq(run_cmd("ls found/*.allocstream", &ls), 0);
    char name[256];
    snprintf(name, sizeof name, "%.*s", (int)strcspn(sbuf_str(&ls), "\n"), sbuf_str(&ls));
    stream s = load_in(name);
    ck_assert_msg(fuzz_stream_frames(&s) <= 2, "%zu frames", fuzz_stream_frames(&s));
    int partial = 0;
    for (size_t i = 0; i < s.nrecords; i++)
        partial |= s.records[i].op == STREAM_OP_WRITE && s.records[i].len % s.frame_size != 0;
    ck_assert_msg(partial, "the reproducer splits no frame");
    stream_release(&s);
    /* It fails on the defective server every time and holds on a healthy one (the healthy
     * framing drops a partial frame left at the end). */
    for (int i = 0; i < 3; i++) {
        sbuf r = SBUF_INIT;
        snprintf(cmd, sizeof cmd, "%s/allocsim replay %s --server '%s' >/dev/null", bin_dir, name, srv);
        ck_assert_int_eq(run_cmd(cmd, &r), 1);
        sbuf_release(&r);
    }
    faulty_server(srv, sizeof srv, "");
    snprintf(cmd, sizeof cmd, "%s/allocsim replay %s --server '%s' >/dev/null", bin_dir, name, srv);
    sbuf r = SBUF_INIT;
    ck_assert_int_eq(run_cmd(cmd, &r), 0);
    sbuf_release(&r);
    sbuf_release(&ls);
    sbuf_release(&out);
}
END_TEST

/* A server that goes deaf (--fault silent-after=2: after two ALLOCs in a row on a connection
 * it keeps reading that connection but never answers). Seed 1 of `--max-ops 8` has such a run
 * in 7 of its first 14 streams, the first at stream 3. The first hang waits the whole reply
 * timeout (3 s); from then on a connection whose bytes the server has all read and that stays
 * silent for 250 ms is a hang, so triage (about ten hanging runs) and the six later hangs
 * cost a quarter second each. Without that the campaign would take at least (7 + 10) x 3 s;
 * the bound asserted is two thirds of 7 x 3 s. The hang is one root cause whose reproducer is
 * the two ALLOCs, confirmed on fresh servers, hanging on a fresh faulty server and holding on
 * a healthy one. */
#define QUICK_HANG_TIMEOUT_S 3

START_TEST(later_hangs_are_called_after_the_quiet_time) {
    char srv[1200], cmd[4096];
    faulty_server(srv, sizeof srv, "--fault silent-after=2");
    snprintf(cmd, sizeof cmd,
             "%s/allocsim fuzz --seed 1 --runs 14 --max-ops 8 --timeout %ds --tries 1 --confirm 2 --min-budget 8 "
             "--server '%s' --out found --quiet",
             bin_dir, QUICK_HANG_TIMEOUT_S, srv);
    sbuf out = SBUF_INIT;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = run_cmd(cmd, &out);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double elapsed = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    const char *o = sbuf_str(&out);
    ck_assert_msg(rc == 1, "exit %d, expected 1:\n%s", rc, o);
    ck_assert_msg(strstr(o, "1 signature, 1 root cause") != NULL, "expected one root cause:\n%s", o);
    int hangs = 0;
    const char *p = strstr(o, "hang: ");
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(sscanf(p, "hang: %d hits", &hangs), 1);
    ck_assert_msg(hangs >= 5, "expected several hanging streams, found %d:\n%s", hangs, o);
    /* The first hang waited the whole timeout ... */
    char first[64];
    snprintf(first, sizeof first, "did not answer within %d ms", QUICK_HANG_TIMEOUT_S * 1000);
    ck_assert_msg(strstr(o, first) != NULL, "%s", o);
    ck_assert_msg(elapsed >= QUICK_HANG_TIMEOUT_S, "%.1f s: the first hang cannot cost less than the timeout", elapsed);
    /* ... the others did not (each would cost 3 s more). */
    double bound = hangs * QUICK_HANG_TIMEOUT_S * 2.0 / 3.0;
    ck_assert_msg(elapsed < bound, "%d hanging streams took %.1f s, expected under %.1f s:\n%s", hangs, elapsed, bound,
                  o);
    ck_assert_msg(strstr(o, "confirmed 2/2") != NULL, "%s", o);
    /* The reproducer: the two ALLOCs on one connection. */
    stream s = load_in("found/hang.allocstream");
    ck_assert_uint_eq(fuzz_stream_frames(&s), 2);
    for (size_t i = 0; i < s.nrecords; i++) {
        const stream_record *r = &s.records[i];
        for (size_t at = 0; r->op == STREAM_OP_WRITE && at + s.frame_size <= r->len; at += s.frame_size) {
            proto_msg m;
            proto_decode(s.rev, s.payload + r->offset + at, s.frame_size, &m);
            ck_assert_int_eq(m.type, PROTO_ALLOC);
        }
    }
    stream_release(&s);
    /* It hangs on a fresh faulty server (exit 3) and holds on a healthy one. */
    sbuf r = SBUF_INIT;
    snprintf(cmd, sizeof cmd, "%s/allocsim replay found/hang.allocstream --server '%s' --timeout 1s >/dev/null", bin_dir,
             srv);
    ck_assert_int_eq(run_cmd(cmd, &r), 3);
    faulty_server(srv, sizeof srv, "");
    snprintf(cmd, sizeof cmd, "%s/allocsim replay found/hang.allocstream --server '%s' --timeout 1s >/dev/null", bin_dir,
             srv);
    ck_assert_int_eq(run_cmd(cmd, &r), 0);
    sbuf_release(&r);
    sbuf_release(&out);
}
END_TEST

/* --devices PRESET: the reference side detects the preset's chips and DEVICE_INFO is compared.
 * Against a server with the same preset nothing differs; against n300 (2 chips, server.md
 * "Devices") where the other has t3k (8 chips), num_devices does. */
START_TEST(devices_preset_compares_device_info) {
    char srv[1200], cmd[4096];
    snprintf(srv, sizeof srv, "%s/allocsim-server --protocol v112 --cleanup-interval 0 --stats-interval 0 --devices t3k",
             bin_dir);
    const char *camp = "--seed 4 --runs 60 --protocol v112 --features query --max-ops 6 --quiet";
    sbuf out = SBUF_INIT;
    snprintf(cmd, sizeof cmd, "%s/allocsim fuzz %s --devices t3k --vs '%s' --out same", bin_dir, camp, srv);
    int rc = run_cmd(cmd, &out);
    ck_assert_msg(rc == 0 && strstr(sbuf_str(&out), " 0 failing streams") != NULL, "exit %d:\n%s", rc,
                  sbuf_str(&out));
    sbuf_reset(&out);
    snprintf(cmd, sizeof cmd, "%s/allocsim fuzz %s --devices n300 --vs '%s' --out differ", bin_dir, camp, srv);
    rc = run_cmd(cmd, &out);
    const char *o = sbuf_str(&out);
    ck_assert_msg(rc == 1, "exit %d:\n%s", rc, o);
    ck_assert_msg(strstr(o, "diff-reply-DEVICE_INFO-num_devices") != NULL, "%s", o);
    sbuf txt = SBUF_INIT;
    ck_assert_int_eq(run_cmd("cat differ/diff-reply-DEVICE_INFO-num_devices.txt", &txt), 0);
    ck_assert_msg(strstr(sbuf_str(&txt), "num_devices expected 2, found 8") != NULL, "%s", sbuf_str(&txt));
    ck_assert_msg(strstr(sbuf_str(&txt), "--devices n300") != NULL, "%s", sbuf_str(&txt));
    /* The fuzzer's own oracle uses the preset too: the t3k server against the t3k model holds,
     * against the n300 model it does not. */
    sbuf_reset(&out);
    snprintf(cmd, sizeof cmd, "%s/allocsim fuzz %s --devices t3k --server '%s' --out own", bin_dir, camp, srv);
    ck_assert_int_eq(run_cmd(cmd, &out), 0);
    sbuf_reset(&out);
    snprintf(cmd, sizeof cmd, "%s/allocsim fuzz %s --devices n300 --server '%s' --out own2", bin_dir, camp, srv);
    ck_assert_int_eq(run_cmd(cmd, &out), 1);
    ck_assert_msg(strstr(sbuf_str(&out), "reply-mismatch-DEVICE_INFO-num_devices") != NULL, "%s", sbuf_str(&out));
    /* v72 has no DEVICE_INFO. */
    sbuf_reset(&out);
    snprintf(cmd, sizeof cmd, "%s/allocsim fuzz --seed 1 --runs 1 --devices t3k", bin_dir);
    ck_assert_int_eq(run_cmd(cmd, &out), 2);
    sbuf_release(&txt);
    sbuf_release(&out);
}
END_TEST

/* ---- fuzz_triage, directly ---- */

static void two_conn_stream(stream *s, int32_t pid, uint16_t conn, int32_t dev) {
    stream_init(s, PROTO_V72);
    ck_assert_int_ge(stream_add_proc(s, pid, "p0"), 0);
    ck_assert_int_eq(stream_append_connect(s, conn, 0), 0);
    proto_msg m;
    memset(&m, 0, sizeof m);
    m.type = PROTO_ALLOC;
    m.device_id = dev;
    m.size = 4096;
    m.process_id = pid;
    m.buffer_id = 7;
    ck_assert_int_eq(stream_append_frame(s, conn, &m), 0);
}

START_TEST(root_key_ignores_pids_and_connection_numbers) {
    stream a, b, c;
    two_conn_stream(&a, 0x5a000001, 0, 9);
    two_conn_stream(&b, 0x5a0000ff, 5, 9);
    two_conn_stream(&c, 0x5a000001, 0, 10);
    char ka[17], kb[17], kc[17];
    ck_assert_int_eq(fuzz_root_key(&a, ka), 0);
    ck_assert_int_eq(fuzz_root_key(&b, kb), 0);
    ck_assert_int_eq(fuzz_root_key(&c, kc), 0);
    ck_assert_str_eq(ka, kb);
    ck_assert_str_ne(ka, kc);
    stream_release(&a);
    stream_release(&b);
    stream_release(&c);
}
END_TEST

/* A stand-in for a server defect: the stream fails when one of its frames is an ALLOC whose
 * device id is out of range (negative or >= 8 when *ctx is 0; only >= 8 when *ctx is 1). */
static int pred_bad_device(void *ctx, const stream *cand) {
    int positive_only = *(const int *)ctx;
    for (size_t i = 0; i < cand->nrecords; i++) {
        const stream_record *r = &cand->records[i];
        for (size_t at = 0; r->op == STREAM_OP_WRITE && at + cand->frame_size <= r->len; at += cand->frame_size) {
            proto_msg m;
            proto_decode(cand->rev, cand->payload + r->offset + at, cand->frame_size, &m);
            if (m.type == PROTO_ALLOC && (m.device_id >= 8 || (!positive_only && m.device_id < 0)))
                return 1;
        }
    }
    return 0;
}

/* One defect reached with device 256 and with device -2^31: minimising shrinks the device id
 * to the value closest to zero that still fails (-1 for "any out-of-range id", 8 when only
 * ids >= 8 fail), so the two reproducers become the same bytes and one root cause. */
START_TEST(device_ids_shrink_to_one_root_cause) {
    int32_t devs[2] = {256, INT32_MIN};
    char keys[2][17];
    for (int positive_only = 0; positive_only < 2; positive_only++) {
        for (int k = 0; k < 2; k++) {
            stream in, out;
            two_conn_stream(&in, 0x5a000001, 0, 3); /* a harmless ALLOC first */
            proto_msg m;
            memset(&m, 0, sizeof m);
            m.type = PROTO_ALLOC;
            m.device_id = devs[k];
            m.size = 12503040;
            m.buffer_type = 4;
            m.process_id = 0x5a000001;
            m.buffer_id = 1043741824;
            ck_assert_int_eq(stream_append_frame(&in, 0, &m), 0);
            fuzz_min_config mc = {0, SIZE_MAX, 0, 0};
            char err[256];
            int ctx = positive_only;
            if (positive_only && devs[k] < 0) {
                ck_assert_int_eq(pred_bad_device(&ctx, &in), 0);
                stream_release(&in);
                continue;
            }
            ck_assert_int_eq(fuzz_minimise(&in, pred_bad_device, &ctx, &mc, &out, err, sizeof err), 0);
            ck_assert_uint_eq(fuzz_stream_frames(&out), 1);
            const stream_record *w = NULL;
            for (size_t i = 0; i < out.nrecords; i++)
                if (out.records[i].op == STREAM_OP_WRITE)
                    w = &out.records[i];
            ck_assert_ptr_nonnull(w);
            proto_msg got;
            proto_decode(out.rev, out.payload + w->offset, out.frame_size, &got);
            ck_assert_int_eq(got.type, PROTO_ALLOC);
            ck_assert_int_eq(got.device_id, positive_only ? 8 : -1);
            ck_assert_uint_eq(got.size, 0); /* fields that do not matter are zero */
            ck_assert_uint_eq(got.buffer_id, 0);
            ck_assert_int_eq(fuzz_root_key(&out, keys[k]), 0);
            stream_release(&in);
            stream_release(&out);
        }
        if (!positive_only)
            ck_assert_str_eq(keys[0], keys[1]);
    }
}
END_TEST

START_TEST(residue_removes_the_cause_only) {
    stream whole, cause, rest;
    two_conn_stream(&whole, 0x5a000001, 0, 9);
    proto_msg q;
    memset(&q, 0, sizeof q);
    q.type = PROTO_QUERY;
    ck_assert_int_eq(stream_append_frame(&whole, 0, &q), 0);
    two_conn_stream(&cause, 0x5a000001, 0, 9);
    ck_assert_int_eq(fuzz_stream_without(&whole, &cause, &rest), 1);
    ck_assert_uint_eq(rest.nrecords, whole.nrecords - 1);
    ck_assert_uint_eq(fuzz_stream_frames(&rest), 1);
    stream_release(&rest);
    /* Not a subsequence: nothing removed. */
    stream other;
    two_conn_stream(&other, 0x5a000001, 0, 11);
    ck_assert_int_eq(fuzz_stream_without(&whole, &other, &rest), 0);
    ck_assert_uint_eq(rest.nrecords, whole.nrecords);
    stream_release(&rest);
    stream_release(&other);
    stream_release(&whole);
    stream_release(&cause);
}
END_TEST

START_TEST(classes) {
    char c[32];
    fuzz_signature_class("crash-SIGPIPE", c, sizeof c);
    ck_assert_str_eq(c, "crash");
    fuzz_signature_class("asan-SEGV", c, sizeof c);
    ck_assert_str_eq(c, "crash");
    fuzz_signature_class("dump-mismatch-dead", c, sizeof c);
    ck_assert_str_eq(c, "mismatch");
    fuzz_signature_class("b-hang", c, sizeof c);
    ck_assert_str_eq(c, "b-hang");
    ck_assert(fuzz_signature_in_class("ubsan-index-out-of-bounds", "crash"));
    ck_assert(!fuzz_signature_in_class("reply-mismatch-QUERY-l1_allocated", "crash"));
}
END_TEST

int main(void) {
    Suite *s = suite_create("fuzz_campaign");
    TCase *t = tcase_create("campaign");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 120);
    tcase_add_test(t, racy_stream_gives_two_small_reproducers);
    tcase_add_test(t, known_root_causes_are_counted_not_minimised);
    tcase_add_test(t, merge_dedups_shards_by_root_cause);
    tcase_add_test(t, partial_frame_defect_is_one_root_cause);
    tcase_add_test(t, devices_preset_compares_device_info);
    tcase_add_test(t, later_hangs_are_called_after_the_quiet_time);
    suite_add_tcase(s, t);
    TCase *u = tcase_create("triage");
    tcase_add_test(u, root_key_ignores_pids_and_connection_numbers);
    tcase_add_test(u, residue_removes_the_cause_only);
    tcase_add_test(u, device_ids_shrink_to_one_root_cause);
    tcase_add_test(u, classes);
    suite_add_tcase(s, u);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
