/* test_server: integration tests of allocsim-server, every protocol revision.
 *
 * Each test starts the server on a private socket (tests/testutil.h), speaks the wire
 * protocol to it and compares its stdout and stderr line for line with templates written
 * here from protocol.md §5 (not copied from the ledger's output): the seed's eight TRACE
 * buffers, ref counts, unknown frees, dead-process cleanup, QUERY and DEVICE_INFO replies,
 * v144's validation and resync, garbage, signals, --quiet, usage errors and two servers at
 * once. Output is synchronised without sleeping: a FREE of a never-allocated id is a stdout
 * fence (its warning line proves every earlier line was written) and a RESPONSE frame (type
 * 4, "Unknown message type: 4" in every revision) is a stderr fence.
 */
#include <check.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "testutil.h"

/* protocol.md §0, written out here rather than read from proto.c. */
static const char *const rev_names[PROTO_REV_COUNT] = {"v72", "v112", "v112-hex", "v144",
                                                       "v144-256"};
static const size_t rev_frame[PROTO_REV_COUNT] = {72, 112, 112, 144, 144};
static const int rev_hex[PROTO_REV_COUNT] = {0, 0, 1, 1, 1};
static const int rev_v144[PROTO_REV_COUNT] = {0, 0, 0, 1, 1};

#define TRACE_SIZE 12503040u
#define TRACE_ADDR 1043741824u
#define FENCE_ID_BASE 0xFE0000u

#define BANNER_FMT                                                                             \
    "\xF0\x9F\x9A\x80 Allocation Server started\n"                                             \
    "   Listening on: %s\n"                                                                    \
    "   Press Ctrl+C to stop\n"                                                                \
    "\xF0\x9F\x94\x84 Background cleanup thread started (checking every 10s)\n"

#define DUMP_REQUEST "\xF0\x9F\x93\x8B Received DUMP_REMAINING request..."
#define DUMP_COMPLETE "\xF0\x9F\x93\x8B DUMP_REMAINING complete."
#define DUMP_HEADER                                                                            \
    "\xE2\x95\x94" EQ62 "\xE2\x95\x97\n"                                                      \
    "\xE2\x95\x91           REMAINING ALLOCATED BUFFERS                       \xE2\x95\x91\n"  \
    "\xE2\x95\x9A" EQ62 "\xE2\x95\x9D\n"
#define EQ2 "\xE2\x95\x90\xE2\x95\x90"
#define EQ10 EQ2 EQ2 EQ2 EQ2 EQ2
#define EQ62 EQ10 EQ10 EQ10 EQ10 EQ10 EQ10 EQ2
#define PERFECT "\xE2\x9C\x93 No buffers remaining - perfect cleanup!\n"
#define WARN2 "\xE2\x9A\xA0\xEF\xB8\x8F  " /* "⚠️  " */

/* ---- per-test state ------------------------------------------------------------------------ */

typedef struct {
    proto_rev rev;
    tu_server server;
    int fd;            /* main client connection */
    size_t out_mark;   /* stdout consumed so far */
    size_t err_mark;   /* stderr consumed so far */
    uint64_t fences;   /* fence ids used */
    int32_t pid;       /* a live pid: this test process */
} fixture;

static void fx_start_with(fixture *f, int rev, const char *const extra[]) {
    memset(f, 0, sizeof *f);
    f->rev = (proto_rev)rev;
    f->pid = (int32_t)getpid();
    ck_assert_int_eq(tu_server_start(&f->server, rev_names[rev], extra), 0);
    f->fd = tu_connect(f->server.sock);
    ck_assert_int_ge(f->fd, 0);
    /* The banner's last line ends the startup output. */
    char *startup = tu_capture_until(&f->server.out, 0,
                                     "\xF0\x9F\x94\x84 Background cleanup thread started "
                                     "(checking every 10s)",
                                     &f->out_mark);
    ck_assert_msg(startup != NULL, "no startup banner; stderr: %s", f->server.err.data);
    free(startup);
}

static void fx_start(fixture *f, int rev) {
    /* The timer never fires during a test unless a test asks for it. */
    static const char *const extra[] = {"--cleanup-interval", "600", NULL};
    fx_start_with(f, rev, extra);
}

static void fx_stop(fixture *f) {
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
    int status = tu_server_stop(&f->server, SIGTERM);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "server did not exit 0 (status %#x); stderr:\n%s", status,
                  f->server.err.data);
    tu_server_release(&f->server);
}

static void fx_send_on(fixture *f, int fd, uint8_t type, int32_t dev, uint64_t size,
                       uint8_t buffer_type, int32_t pid, uint64_t buffer_id) {
    proto_msg m;
    memset(&m, 0, sizeof m);
    m.type = type;
    m.device_id = dev;
    m.size = size;
    m.buffer_type = buffer_type;
    m.process_id = pid;
    m.buffer_id = buffer_id;
    uint8_t frame[PROTO_MAX_FRAME];
    size_t n = proto_encode(f->rev, &m, frame);
    ck_assert_uint_eq(n, rev_frame[f->rev]);
    ck_assert_int_eq(tu_send(fd, frame, n), 0);
}

static void fx_send(fixture *f, uint8_t type, int32_t dev, uint64_t size, uint8_t buffer_type,
                    uint64_t buffer_id) {
    fx_send_on(f, f->fd, type, dev, size, buffer_type, f->pid, buffer_id);
}

/* The revision's form of a buffer id in the alloc/free lines (§5.5). */
static const char *fx_id(const fixture *f, uint64_t id, char *buf, size_t n) {
    if (rev_hex[f->rev])
        snprintf(buf, n, "0x%" PRIx64, id);
    else
        snprintf(buf, n, "%" PRIu64, id);
    return buf;
}

static char *vfmt(const char *format, va_list ap) {
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, format, ap);
    ck_assert_int_ge(n, 0);
    char *s = malloc((size_t)n + 1);
    vsnprintf(s, (size_t)n + 1, format, again);
    va_end(again);
    return s;
}

/* printf into a malloc'd string. */
static char *fmt(const char *format, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *format, ...) {
    va_list ap;
    va_start(ap, format);
    char *s = vfmt(format, ap);
    va_end(ap);
    return s;
}

/* Appends to a malloc'd string. */
static void cat(char **s, const char *format, ...) __attribute__((format(printf, 2, 3)));
static void cat(char **s, const char *format, ...) {
    va_list ap;
    va_start(ap, format);
    char *add = vfmt(format, ap);
    va_end(ap);
    size_t a = *s ? strlen(*s) : 0;
    *s = realloc(*s, a + strlen(add) + 1);
    memcpy(*s + a, add, strlen(add) + 1);
    free(add);
}

/* Everything printed on stdout since the last call, up to a fence FREE's warning line. */
static char *fx_stdout_fence(fixture *f) {
    uint64_t id = FENCE_ID_BASE + f->fences++;
    fx_send(f, PROTO_FREE, 0, 0, 0, id);
    char idbuf[32];
    char *line = fmt("\xE2\x9A\xA0 [PID %d] Deallocation for unknown buffer %s on device 0 "
                     "(allocated before tracking started)",
                     f->pid, fx_id(f, id, idbuf, sizeof idbuf));
    char *text = tu_capture_until(&f->server.out, f->out_mark, line, &f->out_mark);
    ck_assert_msg(text != NULL, "stdout fence not seen; stdout:\n%s", f->server.out.data);
    free(line);
    return text;
}

/* Everything printed on stderr since the last call, up to a RESPONSE frame's line. */
static char *fx_stderr_fence(fixture *f) {
    fx_send(f, PROTO_RESPONSE, 0, 0, 0, 0);
    char *text = tu_capture_until(&f->server.err, f->err_mark, "Unknown message type: 4",
                                  &f->err_mark);
    ck_assert_msg(text != NULL, "stderr fence not seen; stderr:\n%s", f->server.err.data);
    return text;
}

static void fx_expect_stdout(fixture *f, const char *want) {
    char *got = fx_stdout_fence(f);
    ck_assert_str_eq(got, want);
    free(got);
}

static void fx_expect_stderr(fixture *f, const char *want) {
    char *got = fx_stderr_fence(f);
    ck_assert_str_eq(got, want);
    free(got);
}

/* Sends DUMP_REMAINING and returns the report from its request line to its completion line
 * (both included), checking that nothing else was printed before it since the last mark. */
static char *fx_dump(fixture *f) {
    fx_expect_stdout(f, "");
    fx_send(f, PROTO_DUMP_REMAINING, 0, 0, 0, 0);
    size_t start = f->out_mark;
    char *before = tu_capture_until(&f->server.out, start, DUMP_COMPLETE, &f->out_mark);
    ck_assert_msg(before != NULL, "dump did not complete; stdout:\n%s", f->server.out.data);
    char *report = fmt("%s" DUMP_COMPLETE "\n", before);
    free(before);
    return report;
}

typedef struct {
    uint8_t type;
    int32_t device_id;
    uint64_t dram, l1, l1_small, trace, cb, kernel;
    uint32_t is_available, num_devices;
} reply_view;

/* Sends a QUERY (3) or DEVICE_INFO_QUERY (6) and reads exactly one frame-size reply. */
static reply_view fx_ask(fixture *f, uint8_t type, int32_t dev) {
    fx_send(f, type, dev, 0, 0, 0);
    uint8_t buf[PROTO_MAX_FRAME];
    size_t n = rev_frame[f->rev];
    ck_assert_int_eq(tu_recv_exact(f->fd, buf, n, TU_TIMEOUT_MS), (long)n);
    proto_msg m;
    ck_assert_uint_eq(proto_decode(f->rev, buf, n, &m), n);
    reply_view r = {m.type, m.device_id, m.dram_allocated, m.l1_allocated,
                    m.l1_small_allocated, m.trace_allocated, m.cb_allocated,
                    m.kernel_allocated, m.is_available, m.num_devices};
    return r;
}

static reply_view fx_query(fixture *f, int32_t dev) {
    reply_view r = fx_ask(f, PROTO_QUERY, dev);
    ck_assert_uint_eq(r.type, PROTO_RESPONSE);
    ck_assert_int_eq(r.device_id, dev);
    return r;
}

static void fx_expect_totals(fixture *f, int32_t dev, uint64_t dram, uint64_t l1,
                             uint64_t l1_small, uint64_t trace) {
    reply_view r = fx_query(f, dev);
    ck_assert_uint_eq(r.dram, dram);
    ck_assert_uint_eq(r.l1, l1);
    ck_assert_uint_eq(r.l1_small, l1_small);
    ck_assert_uint_eq(r.trace, trace);
}

/* The dump of one buffer per listed device, all TRACE (§5.7). */
static char *trace_dump_text(int32_t pid, int ndevices) {
    char *s = fmt(DUMP_REQUEST "\n\n" DUMP_HEADER "Total tracked allocations: %d\n\n", ndevices);
    for (int d = 0; d < ndevices; d++)
        cat(&s,
            "Device %d:\n"
            "  TRACE: 1 buffers, 11.9238 MB total\n"
            "    - Buffer 0x3e363c80: 12210 KB (PID %d, ref_count=1)\n\n",
            d, pid);
    cat(&s, "Total remaining buffers: %d\n\n" DUMP_COMPLETE "\n", ndevices);
    return s;
}

static const char *const empty_dump =
    DUMP_REQUEST "\n\n" DUMP_HEADER "Total tracked allocations: 0\n\n" PERFECT DUMP_COMPLETE "\n";

/* ---- startup and the seed story ------------------------------------------------------------ */

START_TEST(test_startup_lines) {
    tu_server s;
    ck_assert_int_eq(tu_server_start(&s, rev_names[_i], NULL), 0);
    size_t end = 0;
    char *before = tu_capture_until(
        &s.out, 0, "\xF0\x9F\x94\x84 Background cleanup thread started (checking every 10s)", &end);
    ck_assert_ptr_nonnull(before);
    char *banner = fmt(BANNER_FMT, s.sock);
    char *got = fmt("%s\xF0\x9F\x94\x84 Background cleanup thread started (checking every 10s)\n",
                    before);
    /* §5.4: every revision ends its startup with the v72 banner. */
    ck_assert_uint_ge(strlen(got), strlen(banner));
    ck_assert_str_eq(got + strlen(got) - strlen(banner), banner);
    const char *detect = got;
    size_t detect_len = strlen(got) - strlen(banner);
    switch (_i) {
    case PROTO_V72:
        ck_assert_uint_eq(detect_len, 0);
        break;
    case PROTO_V112:
    case PROTO_V112_HEX:
        /* d6d33ec9 / 45039855 wording with no device found. */
        ck_assert_int_eq(strncmp(detect,
                                 "\xF0\x9F\x94\x8D Device detection (using TT-Metal APIs):\n"
                                 "   No devices detected\n"
                                 "   Server will track allocations anyway\n",
                                 detect_len),
                         0);
        ck_assert_uint_eq(detect_len, strlen("\xF0\x9F\x94\x8D Device detection (using TT-Metal "
                                             "APIs):\n   No devices detected\n   Server will "
                                             "track allocations anyway\n"));
        break;
    case PROTO_V144:
        ck_assert_int_eq(strncmp(detect,
                                 "\xF0\x9F\x94\x8D Device detection (using UMD Cluster for "
                                 "accurate specs):\n",
                                 strlen("\xF0\x9F\x94\x8D Device detection (using UMD Cluster "
                                        "for accurate specs):\n")),
                         0);
        break;
    default:
        ck_assert_int_eq(strncmp(detect,
                                 "\xF0\x9F\x94\x8D Device detection (all chips via "
                                 "ClusterDescriptor, no hugepages):\n",
                                 strlen("\xF0\x9F\x94\x8D Device detection (all chips via "
                                        "ClusterDescriptor, no hugepages):\n")),
                         0);
        break;
    }
    free(before);
    free(banner);
    free(got);
    int status = tu_server_stop(&s, SIGTERM);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert_str_eq(s.err.data, "");
    tu_server_release(&s);
}
END_TEST

/* The seed story (seed-trace-buffers.md): eight TRACE buffers at 0x3e363c80, listed in the
 * dump until freed, then a perfect cleanup. */
START_TEST(test_seed_trace_buffers) {
    fixture f;
    fx_start(&f, _i);
    char idbuf[32];
    const char *id = fx_id(&f, TRACE_ADDR, idbuf, sizeof idbuf);
    /* Device order of the real log: 4 first, then the others. */
    static const int order[8] = {4, 0, 3, 7, 6, 2, 1, 5};
    char *want = NULL;
    for (int k = 0; k < 8; k++) {
        fx_send(&f, PROTO_ALLOC, order[k], TRACE_SIZE, PROTO_BUF_TRACE, TRACE_ADDR);
        cat(&want, "\xE2\x9C\x93 [PID %d] Allocated 12503040 bytes of TRACE on device %d "
                   "(buffer_id=%s)\n",
            f.pid, order[k], id);
    }
    fx_expect_stdout(&f, want);
    free(want);
    /* The exact observed line, in this revision's id form. */
    if (!rev_hex[_i])
        ck_assert_ptr_nonnull(strstr(f.server.out.data, "Allocated 12503040 bytes of TRACE on "
                                                        "device 4 (buffer_id=1043741824)\n"));
    else
        ck_assert_ptr_nonnull(strstr(f.server.out.data, "Allocated 12503040 bytes of TRACE on "
                                                        "device 4 (buffer_id=0x3e363c80)\n"));

    char *dump = fx_dump(&f);
    char *expect = trace_dump_text(f.pid, 8);
    ck_assert_str_eq(dump, expect);
    free(dump);
    free(expect);
    for (int d = 0; d < 8; d++)
        fx_expect_totals(&f, d, 0, 0, 0, TRACE_SIZE);

    want = NULL;
    for (int d = 0; d < 8; d++) {
        fx_send(&f, PROTO_FREE, d, TRACE_SIZE, PROTO_BUF_TRACE, TRACE_ADDR);
        cat(&want, "\xE2\x9C\x97 [PID %d] Freed buffer %s on device %d (12503040 bytes, FINAL)\n",
            f.pid, id, d);
    }
    fx_expect_stdout(&f, want);
    free(want);
    dump = fx_dump(&f);
    ck_assert_str_eq(dump, empty_dump);
    free(dump);
    for (int d = 0; d < 8; d++)
        fx_expect_totals(&f, d, 0, 0, 0, 0);
    fx_expect_stderr(&f, "");
    fx_stop(&f);
}
END_TEST

/* ---- registry semantics -------------------------------------------------------------------- */

START_TEST(test_duplicate_alloc_raises_ref_count) {
    fixture f;
    fx_start(&f, _i);
    char idbuf[32];
    const char *id = fx_id(&f, 0x1000, idbuf, sizeof idbuf);
    fx_send(&f, PROTO_ALLOC, 1, 4096, PROTO_BUF_DRAM, 0x1000);
    fx_expect_totals(&f, 1, 4096, 0, 0, 0);
    /* A view: same key, other size and type. The line shows the message's; the entry keeps
     * the first (§4.2). */
    fx_send(&f, PROTO_ALLOC, 1, 8192, PROTO_BUF_L1, 0x1000);
    char *want = fmt("\xE2\x9C\x93 [PID %d] Allocated 4096 bytes of DRAM on device 1 "
                     "(buffer_id=%s)\n"
                     "\xE2\x9C\x93 [PID %d] Allocated 8192 bytes of L1 on device 1 "
                     "(buffer_id=%s, ref_count=2)\n",
                     f.pid, id, f.pid, id);
    fx_expect_stdout(&f, want);
    free(want);
    fx_expect_totals(&f, 1, 4096, 0, 0, 0);

    char *dump = fx_dump(&f);
    char *expect = fmt(DUMP_REQUEST "\n\n" DUMP_HEADER "Total tracked allocations: 1\n\n"
                                    "Device 1:\n"
                                    "  DRAM: 1 buffers, 0.00390625 MB total\n"
                                    "    - Buffer 0x1000: 4 KB (PID %d, ref_count=2)\n\n"
                                    "Total remaining buffers: 1\n\n" DUMP_COMPLETE "\n",
                       f.pid);
    ck_assert_str_eq(dump, expect);
    free(dump);
    free(expect);

    fx_send(&f, PROTO_FREE, 1, 0, 0, 0x1000);
    want = fmt("\xE2\x9C\x97 [PID %d] Freed buffer %s on device 1 (4096 bytes, ref_count=1 "
               "remaining)\n",
               f.pid, id);
    fx_expect_stdout(&f, want);
    free(want);
    fx_expect_totals(&f, 1, 4096, 0, 0, 0);
    fx_send(&f, PROTO_FREE, 1, 0, 0, 0x1000);
    want = fmt("\xE2\x9C\x97 [PID %d] Freed buffer %s on device 1 (4096 bytes, FINAL)\n", f.pid,
               id);
    fx_expect_stdout(&f, want);
    free(want);
    fx_expect_totals(&f, 1, 0, 0, 0, 0);
    fx_stop(&f);
}
END_TEST

START_TEST(test_unknown_free_changes_nothing) {
    fixture f;
    fx_start(&f, _i);
    char idbuf[32];
    const char *id = fx_id(&f, 0x2000, idbuf, sizeof idbuf);
    fx_send(&f, PROTO_ALLOC, 2, 1 << 20, PROTO_BUF_L1, 0x2000);
    fx_expect_totals(&f, 2, 0, 1 << 20, 0, 0);
    /* Right id, wrong device: unknown; the buffer on device 2 stays. */
    fx_send(&f, PROTO_FREE, 3, 1 << 20, PROTO_BUF_L1, 0x2000);
    char *want = fmt("\xE2\x9C\x93 [PID %d] Allocated 1048576 bytes of L1 on device 2 "
                     "(buffer_id=%s)\n"
                     "\xE2\x9A\xA0 [PID %d] Deallocation for unknown buffer %s on device 3 "
                     "(allocated before tracking started)\n",
                     f.pid, id, f.pid, id);
    fx_expect_stdout(&f, want);
    free(want);
    fx_expect_totals(&f, 2, 0, 1 << 20, 0, 0);
    fx_expect_totals(&f, 3, 0, 0, 0, 0);
    /* The unknown-free line goes to stdout, nothing to stderr (§8.8). */
    fx_expect_stderr(&f, "");
    fx_stop(&f);
}
END_TEST

/* A reaped child's pid is dead for kill(pid, 0). */
static int32_t dead_pid(void) {
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0)
        _exit(0);
    int status;
    ck_assert_int_eq(waitpid(child, &status, 0), child);
    return (int32_t)child;
}

START_TEST(test_dead_pid_removed_at_dump) {
    fixture f;
    fx_start(&f, _i);
    int32_t dead = dead_pid();
    fx_send_on(&f, f.fd, PROTO_ALLOC, 0, 1 << 20, PROTO_BUF_L1, dead, 0x3000);
    fx_send_on(&f, f.fd, PROTO_ALLOC, 1, 2 << 20, PROTO_BUF_DRAM, dead, 0x4000);
    fx_send(&f, PROTO_ALLOC, 0, TRACE_SIZE, PROTO_BUF_TRACE, TRACE_ADDR);
    free(fx_stdout_fence(&f));
    fx_expect_totals(&f, 0, 0, 1 << 20, 0, TRACE_SIZE);

    char *dump = fx_dump(&f);
    char *expect = fmt(DUMP_REQUEST "\n"
                                    "\n" WARN2 "Detected dead processes, cleaning up orphaned buffers...\n"
                                    "   PID %d is dead, removing its buffers...\n"
                                    "   \xE2\x9C\x93 Removed 2 buffers (3 MB) from PID %d\n"
                                    "\n"
                                    "\n" DUMP_HEADER "Total tracked allocations: 1\n\n"
                                    "Device 0:\n"
                                    "  TRACE: 1 buffers, 11.9238 MB total\n"
                                    "    - Buffer 0x3e363c80: 12210 KB (PID %d, ref_count=1)\n\n"
                                    "Total remaining buffers: 1\n\n" DUMP_COMPLETE "\n",
                       dead, dead, f.pid);
    ck_assert_str_eq(dump, expect);
    free(dump);
    free(expect);
    fx_expect_totals(&f, 0, 0, 0, 0, TRACE_SIZE);
    fx_expect_totals(&f, 1, 0, 0, 0, 0);
    fx_stop(&f);
}
END_TEST

/* The background cleanup finds a dead owner on its own, with a short period. */
START_TEST(test_dead_pid_removed_by_timer) {
    fixture f;
    static const char *const extra[] = {"--cleanup-interval", "0.05", NULL};
    fx_start_with(&f, _i, extra);
    int32_t dead = dead_pid();
    fx_send_on(&f, f.fd, PROTO_ALLOC, 0, 1 << 20, PROTO_BUF_L1, dead, 0x3000);
    char *line = fmt("   \xE2\x9C\x93 Removed 1 buffers (1 MB) from PID %d", dead);
    size_t after = 0;
    char *before = tu_capture_until(&f.server.out, f.out_mark, line, &after);
    ck_assert_msg(before != NULL, "no unprompted cleanup; stdout:\n%s", f.server.out.data);
    char idbuf[32];
    char *want = fmt("\xE2\x9C\x93 [PID %d] Allocated 1048576 bytes of L1 on device 0 "
                     "(buffer_id=%s)\n"
                     "\n" WARN2 "Detected dead processes, cleaning up orphaned buffers...\n"
                     "   PID %d is dead, removing its buffers...\n",
                     dead, fx_id(&f, 0x3000, idbuf, sizeof idbuf), dead);
    ck_assert_str_eq(before, want);
    free(before);
    free(want);
    free(line);
    f.out_mark = after;
    fx_expect_stdout(&f, "\n"); /* the block's closing empty line */
    fx_expect_totals(&f, 0, 0, 0, 0, 0);
    char *dump = fx_dump(&f);
    ck_assert_str_eq(dump, empty_dump);
    free(dump);
    fx_stop(&f);
}
END_TEST

/* ---- replies ------------------------------------------------------------------------------ */

START_TEST(test_query_matches_totals) {
    fixture f;
    fx_start(&f, _i);
    fx_send(&f, PROTO_ALLOC, 3, 1000, PROTO_BUF_DRAM, 0x10);
    fx_send(&f, PROTO_ALLOC, 3, 2000, PROTO_BUF_L1, 0x20);
    fx_send(&f, PROTO_ALLOC, 3, 300, PROTO_BUF_SYSTEM_MEMORY, 0x30);
    fx_send(&f, PROTO_ALLOC, 3, 400, PROTO_BUF_L1_SMALL, 0x40);
    fx_send(&f, PROTO_ALLOC, 3, 5000, PROTO_BUF_TRACE, 0x50);
    fx_send(&f, PROTO_ALLOC, 4, 7, PROTO_BUF_DRAM, 0x10);
    /* §3.4: l1_small carries types 2 and 3. */
    fx_expect_totals(&f, 3, 1000, 2000, 700, 5000);
    fx_expect_totals(&f, 4, 7, 0, 0, 0);
    fx_expect_totals(&f, 0, 0, 0, 0, 0);
    /* Out-of-range ids are echoed with zero totals. */
    fx_expect_totals(&f, -1, 0, 0, 0, 0);
    fx_expect_totals(&f, 8, 0, 0, 0, 0);
    fx_expect_totals(&f, 256, 0, 0, 0, 0);

    /* Device 200 exists only in v144-256 (MAX_DEVICES 256); elsewhere ALLOC is rejected with
     * the v144 warning (allocsim bounds-checks every revision). */
    fx_send(&f, PROTO_ALLOC, 200, 64, PROTO_BUF_DRAM, 0x60);
    char *lines = fx_stdout_fence(&f);
    char *err = fx_stderr_fence(&f);
    if (_i == PROTO_V144_256) {
        char idbuf[32];
        char *want = fmt("\xE2\x9C\x93 [PID %d] Allocated 64 bytes of DRAM on device 200 "
                         "(buffer_id=%s)\n",
                         f.pid, fx_id(&f, 0x60, idbuf, sizeof idbuf));
        ck_assert_str_eq(lines + strlen(lines) - strlen(want), want);
        ck_assert_str_eq(err, "");
        fx_expect_totals(&f, 200, 64, 0, 0, 0);
        free(want);
    } else {
        ck_assert_ptr_null(strstr(lines, "device 200"));
        ck_assert_str_eq(err, WARN2 "Invalid device_id 200 - ignoring message\n");
        fx_expect_totals(&f, 200, 0, 0, 0, 0);
    }
    free(lines);
    free(err);
    fx_stop(&f);
}
END_TEST

START_TEST(test_device_info_query) {
    fixture f;
    fx_start(&f, _i);
    if (_i == PROTO_V72) {
        /* No reply: the next frame read is the QUERY's answer. */
        fx_send(&f, PROTO_DEVICE_INFO_QUERY, 0, 0, 0, 0);
        fx_expect_totals(&f, 5, 0, 0, 0, 0);
        fx_expect_stderr(&f, "Unknown message type: 6\n");
    } else {
        reply_view r = fx_ask(&f, PROTO_DEVICE_INFO_QUERY, -1);
        ck_assert_uint_eq(r.type, PROTO_DEVICE_INFO_RESPONSE);
        ck_assert_int_eq(r.device_id, -1);
        ck_assert_uint_eq(r.num_devices, 0); /* the reference server detects no device */
        ck_assert_uint_eq(r.is_available, 0);
        r = fx_ask(&f, PROTO_DEVICE_INFO_QUERY, 0);
        ck_assert_uint_eq(r.type, PROTO_DEVICE_INFO_RESPONSE);
        ck_assert_int_eq(r.device_id, 0);
        ck_assert_uint_eq(r.is_available, 0);
        fx_expect_totals(&f, 5, 0, 0, 0, 0);
        fx_expect_stderr(&f, "");
    }
    fx_expect_stdout(&f, "");
    fx_stop(&f);
}
END_TEST

/* ---- validation, framing, garbage ---------------------------------------------------------- */

START_TEST(test_size_zero) {
    fixture f;
    fx_start(&f, _i);
    fx_send(&f, PROTO_ALLOC, 0, 0, PROTO_BUF_DRAM, 0x70);
    char *out = fx_stdout_fence(&f);
    char *err = fx_stderr_fence(&f);
    if (rev_v144[_i]) {
        ck_assert_str_eq(out, "");
        ck_assert_str_eq(err, WARN2 "Invalid size 0 - ignoring message\n");
        ck_assert_uint_eq(fx_query(&f, 0).dram, 0);
    } else {
        /* v72 and v112 accept size 0 (§4.2). */
        char idbuf[32];
        char *want = fmt("\xE2\x9C\x93 [PID %d] Allocated 0 bytes of DRAM on device 0 "
                         "(buffer_id=%s)\n",
                         f.pid, fx_id(&f, 0x70, idbuf, sizeof idbuf));
        ck_assert_str_eq(out, want);
        ck_assert_str_eq(err, "");
        free(want);
    }
    free(out);
    free(err);
    fx_stop(&f);
}
END_TEST

START_TEST(test_split_frames_are_joined) {
    fixture f;
    fx_start(&f, _i);
    proto_msg m;
    memset(&m, 0, sizeof m);
    m.type = PROTO_ALLOC;
    m.device_id = 6;
    m.size = TRACE_SIZE;
    m.buffer_type = PROTO_BUF_TRACE;
    m.process_id = f.pid;
    m.buffer_id = TRACE_ADDR;
    uint8_t frame[PROTO_MAX_FRAME];
    size_t n = proto_encode(f.rev, &m, frame);
    /* Three writes with pauses: the real server would dispatch each piece on its own. */
    ck_assert_int_eq(tu_send(f.fd, frame, 1), 0);
    tu_sleep_ms(20);
    ck_assert_int_eq(tu_send(f.fd, frame + 1, 30), 0);
    tu_sleep_ms(20);
    ck_assert_int_eq(tu_send(f.fd, frame + 31, n - 31), 0);
    char idbuf[32];
    char *want = fmt("\xE2\x9C\x93 [PID %d] Allocated 12503040 bytes of TRACE on device 6 "
                     "(buffer_id=%s)\n",
                     f.pid, fx_id(&f, TRACE_ADDR, idbuf, sizeof idbuf));
    fx_expect_stdout(&f, want);
    free(want);
    fx_expect_stderr(&f, "");
    fx_stop(&f);
}
END_TEST

/* Frame of a QUERY for dev in revision rev, into out; returns its size. */
static size_t query_frame(proto_rev rev, int32_t dev, uint8_t *out) {
    proto_msg m;
    memset(&m, 0, sizeof m);
    m.type = PROTO_QUERY;
    m.device_id = dev;
    return proto_encode(rev, &m, out);
}

START_TEST(test_bad_type_bytes) {
    fixture f;
    fx_start(&f, _i);
    uint8_t junk[2 * PROTO_MAX_FRAME];
    memset(junk, 0xEE, sizeof junk);
    if (rev_v144[_i]) {
        /* Bad bytes before a frame are skipped one at a time, silently; a valid type resets
         * the count, so 5 + 9 bad bytes in two runs do not close the connection (§3.3). */
        static const size_t runs[2] = {5, 9};
        for (int k = 0; k < 2; k++) {
            uint8_t buf[PROTO_MAX_FRAME + 16];
            memset(buf, 0xEE, runs[k]);
            size_t n = runs[k] + query_frame(f.rev, k + 1, buf + runs[k]);
            ck_assert_int_eq(tu_send(f.fd, buf, n), 0);
            uint8_t reply[PROTO_MAX_FRAME];
            ck_assert_int_eq(tu_recv_exact(f.fd, reply, rev_frame[_i], TU_TIMEOUT_MS),
                             (long)rev_frame[_i]);
            ck_assert_uint_eq(reply[0], PROTO_RESPONSE);
            ck_assert_uint_eq(reply[4], (uint8_t)(k + 1));
        }
        fx_expect_stderr(&f, "");
        /* Ten bad bytes in a row (judged once a frame's worth has arrived): closed. */
        ck_assert_int_eq(tu_send(f.fd, junk, rev_frame[_i] + 9), 0);
        size_t next = 0;
        char *before = tu_capture_until(&f.server.err, f.err_mark,
                                        WARN2 "Too many consecutive errors (10) - closing "
                                              "connection (likely protocol mismatch)",
                                        &next);
        ck_assert_ptr_nonnull(before);
        ck_assert_str_eq(before, "");
        free(before);
        f.err_mark = next;
        uint8_t b;
        ck_assert_int_le(tu_recv_exact(f.fd, &b, 1, TU_TIMEOUT_MS), 0);
    } else {
        /* v72 and v112 judge whole frames: each is one "Unknown message type" line. */
        ck_assert_int_eq(tu_send(f.fd, junk, 2 * rev_frame[_i]), 0);
        fx_expect_stderr(&f, "Unknown message type: 238\nUnknown message type: 238\n");
        fx_expect_totals(&f, 0, 0, 0, 0, 0);
    }
    close(f.fd);
    /* The server is still there and answers on a new connection. */
    f.fd = tu_connect(f.server.sock);
    ck_assert_int_ge(f.fd, 0);
    fx_expect_totals(&f, 0, 0, 0, 0, 0);
    fx_expect_stdout(&f, "");
    fx_expect_stderr(&f, "");
    fx_stop(&f);
}
END_TEST

START_TEST(test_random_garbage_survives) {
    fixture f;
    fx_start(&f, _i);
    uint64_t x = 0x243F6A8885A308D3u + (uint64_t)_i;
    uint8_t junk[8192];
    for (size_t k = 0; k < sizeof junk; k++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        junk[k] = (uint8_t)x;
    }
    /* Several connections, some closed in the middle of a frame or before reading a reply. */
    for (int c = 0; c < 4; c++) {
        int fd = tu_connect(f.server.sock);
        ck_assert_int_ge(fd, 0);
        tu_send(fd, junk + c * 2048, 2048 - (size_t)c * 13);
        close(fd);
    }
    /* QUERY and vanish without reading the reply: no SIGPIPE death. */
    for (int c = 0; c < 8; c++) {
        int fd = tu_connect(f.server.sock);
        ck_assert_int_ge(fd, 0);
        fx_send_on(&f, fd, PROTO_QUERY, 0, 0, 0, 0, 0);
        close(fd);
    }
    close(f.fd);
    f.fd = tu_connect(f.server.sock);
    ck_assert_int_ge(f.fd, 0);
    reply_view r = fx_query(&f, 1);
    ck_assert_int_eq(r.device_id, 1);
    ck_assert_int_eq(kill(f.server.pid, 0), 0);
    fx_stop(&f);
}
END_TEST

/* ---- lifecycle ---------------------------------------------------------------------------- */

static void check_stop_lines(fixture *f, int sig) {
    struct stat st;
    ck_assert_int_eq(stat(f->server.sock, &st), 0);
    /* An idle client connected during the stop must not hold the server up. */
    int idle = tu_connect(f->server.sock);
    ck_assert_int_ge(idle, 0);
    fx_send(f, PROTO_ALLOC, 2, 4096, PROTO_BUF_L1, 0x1000);
    free(fx_stdout_fence(f));
    int status = tu_server_stop(&f->server, sig);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x, stderr:\n%s", status,
                  f->server.err.data);
    char *tail = tu_capture_copy(&f->server.out, f->out_mark);
    ck_assert_str_eq(tail, "\n"
                           "\xF0\x9F\x93\x8A Current Statistics:\n"
                           "  Device 2:\n"
                           "    Buffers: 1\n"
                           "    DRAM: 0 bytes (0 KB)\n"
                           "    L1: 4096 bytes (4 KB)\n"
                           "    Total: 4096 bytes\n"
                           "  Active allocations: 1\n"
                           "\xF0\x9F\x94\x84 Background cleanup thread stopped\n"
                           "\n"
                           "\xF0\x9F\x9B\x91 Allocation Server stopped\n");
    free(tail);
    ck_assert_int_eq(stat(f->server.sock, &st), -1);
    ck_assert_int_eq(errno, ENOENT);
    char *err = tu_capture_copy(&f->server.err, f->err_mark);
    ck_assert_str_eq(err, "");
    free(err);
    close(idle);
    close(f->fd);
    f->fd = -1;
    tu_server_release(&f->server);
}

START_TEST(test_sigterm_stops_cleanly) {
    fixture f;
    fx_start(&f, _i);
    check_stop_lines(&f, SIGTERM);
}
END_TEST

START_TEST(test_sigint_stops_cleanly) {
    fixture f;
    fx_start(&f, _i);
    check_stop_lines(&f, SIGINT);
}
END_TEST

START_TEST(test_stats_interval) {
    fixture f;
    static const char *const extra[] = {"--stats-interval", "0.05", "--cleanup-interval", "600",
                                        NULL};
    fx_start_with(&f, _i, extra);
    size_t next = 0;
    char *before = tu_capture_until(&f.server.out, f.out_mark,
                                    "\xF0\x9F\x93\x8A Current Statistics:", &next);
    ck_assert_ptr_nonnull(before);
    ck_assert_str_eq(before, "\n");
    free(before);
    before = tu_capture_until(&f.server.out, next, "  Active allocations: 0", &next);
    ck_assert_ptr_nonnull(before);
    ck_assert_str_eq(before, "");
    free(before);
    close(f.fd);
    f.fd = -1;
    int status = tu_server_stop(&f.server, SIGTERM);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    tu_server_release(&f.server);
}
END_TEST

START_TEST(test_two_servers_at_once) {
    fixture a, b;
    fx_start(&a, _i);
    fx_start(&b, (_i + 3) % PROTO_REV_COUNT);
    ck_assert_str_ne(a.server.sock, b.server.sock);
    fx_send(&a, PROTO_ALLOC, 0, TRACE_SIZE, PROTO_BUF_TRACE, TRACE_ADDR);
    fx_send(&b, PROTO_ALLOC, 0, 4096, PROTO_BUF_DRAM, 0x1000);
    fx_expect_totals(&a, 0, 0, 0, 0, TRACE_SIZE);
    fx_expect_totals(&b, 0, 4096, 0, 0, 0);
    free(fx_stdout_fence(&a));
    char *dump = fx_dump(&a);
    char *expect = trace_dump_text(a.pid, 1);
    ck_assert_str_eq(dump, expect);
    free(dump);
    free(expect);
    fx_stop(&a);
    /* b keeps its socket when a stops. */
    fx_expect_totals(&b, 0, 4096, 0, 0, 0);
    fx_stop(&b);
}
END_TEST

START_TEST(test_many_clients) {
    fixture f;
    fx_start(&f, _i);
    enum { CLIENTS = 48 };
    int fds[CLIENTS];
    for (int c = 0; c < CLIENTS; c++) {
        fds[c] = tu_connect(f.server.sock);
        ck_assert_int_ge(fds[c], 0);
    }
    for (int c = 0; c < CLIENTS; c++)
        fx_send_on(&f, fds[c], PROTO_ALLOC, c % 8, 1024, PROTO_BUF_L1, f.pid,
                   0x100000u + (uint64_t)c * 0x1000u);
    /* A QUERY on each connection proves its ALLOC was handled. */
    for (int c = 0; c < CLIENTS; c++) {
        fx_send_on(&f, fds[c], PROTO_QUERY, 0, 0, 0, 0, 0);
        uint8_t buf[PROTO_MAX_FRAME];
        ck_assert_int_eq(tu_recv_exact(fds[c], buf, rev_frame[_i], TU_TIMEOUT_MS),
                         (long)rev_frame[_i]);
        ck_assert_uint_eq(buf[0], PROTO_RESPONSE);
    }
    for (int d = 0; d < 8; d++)
        fx_expect_totals(&f, d, 0, (CLIENTS / 8) * 1024, 0, 0);
    for (int c = 0; c < CLIENTS; c++)
        close(fds[c]);
    fx_stop(&f);
}
END_TEST

/* ---- flags --------------------------------------------------------------------------------- */

START_TEST(test_quiet_prints_nothing) {
    fixture f;
    memset(&f, 0, sizeof f);
    f.rev = (proto_rev)_i;
    f.pid = (int32_t)getpid();
    static const char *const extra[] = {"--quiet", NULL};
    ck_assert_int_eq(tu_server_start(&f.server, rev_names[_i], extra), 0);
    f.fd = tu_connect(f.server.sock);
    ck_assert_int_ge(f.fd, 0);
    fx_send(&f, PROTO_ALLOC, 0, TRACE_SIZE, PROTO_BUF_TRACE, TRACE_ADDR);
    fx_send(&f, PROTO_ALLOC, 0, 0, PROTO_BUF_TRACE, 0x5);
    fx_send(&f, PROTO_ALLOC, 0, 5, 9, 0x6);
    fx_send(&f, PROTO_FREE, 1, 0, 0, 0x7);
    fx_send(&f, PROTO_RESPONSE, 0, 0, 0, 0);
    fx_send(&f, PROTO_DUMP_REMAINING, 0, 0, 0, 0);
    /* Handled silently, and still answered. */
    fx_expect_totals(&f, 0, 0, 0, 0, TRACE_SIZE);
    close(f.fd);
    f.fd = -1;
    int status = tu_server_stop(&f.server, SIGTERM);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert_str_eq(f.server.out.data, "");
    ck_assert_str_eq(f.server.err.data, "");
    tu_server_release(&f.server);
}
END_TEST

START_TEST(test_fault_refcount_is_planted) {
    fixture f;
    static const char *const extra[] = {"--fault", "refcount", "--cleanup-interval", "600", NULL};
    fx_start_with(&f, _i, extra);
    fx_send(&f, PROTO_ALLOC, 0, TRACE_SIZE, PROTO_BUF_TRACE, TRACE_ADDR);
    fx_send(&f, PROTO_ALLOC, 0, TRACE_SIZE, PROTO_BUF_TRACE, TRACE_ADDR);
    free(fx_stdout_fence(&f));
    char *dump = fx_dump(&f);
    /* A correct server would list ref_count=2 (test_duplicate_alloc_raises_ref_count). */
    ck_assert_ptr_nonnull(strstr(dump, "(PID "));
    ck_assert_ptr_null(strstr(dump, "ref_count=2)"));
    free(dump);
    fx_stop(&f);
}
END_TEST

/* Runs allocsim-server with args and returns its status; captures in *s. */
static int run_once(tu_server *s, const char *const args[]) {
    ck_assert_int_eq(tu_server_prepare(s), 0);
    ck_assert_int_eq(tu_server_spawn(s, args), 0);
    return tu_server_wait(s);
}

START_TEST(test_usage_and_startup_errors) {
    tu_server s;
    static const char *const help[] = {"--help", NULL};
    int status = run_once(&s, help);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert_ptr_nonnull(strstr(s.out.data, "Usage: allocsim-server"));
    ck_assert_ptr_nonnull(strstr(s.out.data, "--protocol"));
    ck_assert_str_eq(s.err.data, "");
    tu_server_release(&s);

    static const char *const bad[][4] = {{"--protocol", "v128", NULL},
                                         {"--protocol", NULL},
                                         {"--cleanup-interval", "-1", NULL},
                                         {"--stats-interval", "soon", NULL},
                                         {"--fault", "everything", NULL},
                                         {"--frobnicate", NULL},
                                         {"extra-argument", NULL}};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        status = run_once(&s, bad[k]);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 2, "%s: status %#x", bad[k][0],
                      status);
        ck_assert_str_eq(s.out.data, "");
        ck_assert_ptr_nonnull(strstr(s.err.data, "allocsim-server: "));
        tu_server_release(&s);
    }

    /* bind fails: the real server's line, exit 1. */
    static const char *const nodir[] = {"--socket", "/nonexistent-allocsim-dir/s.sock", NULL};
    status = run_once(&s, nodir);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 1);
    ck_assert_str_eq(s.err.data, "Error: Failed to bind socket\n");
    ck_assert_str_eq(s.out.data, "");
    tu_server_release(&s);
}
END_TEST

static Suite *server_suite(void) {
    Suite *s = suite_create("server");
    struct {
        const char *name;
        const TTest *test;
        int per_revision;
    } tests[] = {
        {"startup", test_startup_lines, 1},
        {"seed", test_seed_trace_buffers, 1},
        {"refcount", test_duplicate_alloc_raises_ref_count, 1},
        {"unknown_free", test_unknown_free_changes_nothing, 1},
        {"dead_dump", test_dead_pid_removed_at_dump, 1},
        {"dead_timer", test_dead_pid_removed_by_timer, 1},
        {"query", test_query_matches_totals, 1},
        {"device_info", test_device_info_query, 1},
        {"size_zero", test_size_zero, 1},
        {"split", test_split_frames_are_joined, 1},
        {"bad_type", test_bad_type_bytes, 1},
        {"garbage", test_random_garbage_survives, 1},
        {"sigterm", test_sigterm_stops_cleanly, 1},
        {"sigint", test_sigint_stops_cleanly, 1},
        {"stats", test_stats_interval, 1},
        {"two_servers", test_two_servers_at_once, 1},
        {"many_clients", test_many_clients, 1},
        {"quiet", test_quiet_prints_nothing, 1},
        {"fault", test_fault_refcount_is_planted, 1},
        {"usage", test_usage_and_startup_errors, 0},
    };
    for (size_t k = 0; k < sizeof tests / sizeof tests[0]; k++) {
        TCase *tc = tcase_create(tests[k].name);
        tcase_set_timeout(tc, 60);
        tcase_add_loop_test(tc, tests[k].test, 0, tests[k].per_revision ? PROTO_REV_COUNT : 1);
        suite_add_tcase(s, tc);
    }
    return s;
}

int main(void) {
    if (tu_root_init() != 0) {
        perror("mkdtemp under /tmp");
        return EXIT_FAILURE;
    }
    SRunner *sr = srunner_create(server_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    tu_root_cleanup();
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
