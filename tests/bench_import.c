/* bench_import: how fast `allocsim import` reads a large server log.
 *
 * Builds a synthetic v72 log in memory: N lines (default 10^6) of ALLOC, ALLOC with
 * ref_count, FREE with references left and FINAL FREE lines from 8 processes over 8 devices
 * and a few thousand live buffers, with a DUMP_REMAINING report every 100 000 lines and a
 * statistics block now and then. Imports it three times (report only; with timeline and
 * stream) and prints lines per second. Usage: bench_import [LINES]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "import.h"
#include "ledger.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Appends the report a correct server prints for the held (device, id, size) entries. */
static void dump_lines(void *ctx, ledger_stream stream, const char *line, size_t len) {
    if (stream == LEDGER_STDOUT) {
        sbuf_append(ctx, line, len);
        sbuf_putc(ctx, '\n');
    }
}

int main(int argc, char **argv) {
    size_t target = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;
    sbuf log = SBUF_INIT;
    ledger_config cfg = {0};
    cfg.rev = PROTO_V72;
    cfg.emit = dump_lines;
    cfg.emit_ctx = &log;
    ledger *l = ledger_new(&cfg);
    uint64_t x = 88172645463325252u;
    size_t lines = 0, next_dump = 100000;
    /* the ledger prints exactly the lines a v72 server would: the log is self-consistent */
    while (lines < target) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        proto_msg m = {0};
        m.device_id = (int32_t)(x % 8);
        m.buffer_id = 0x10000u + ((x >> 8) % 4096u) * 0x800u;
        m.process_id = 4000 + (int32_t)((x >> 20) % 8);
        m.size = 2048u << ((x >> 30) % 6);
        m.buffer_type = (uint8_t)((x >> 40) % 5);
        ledger_entry e;
        m.type = ledger_lookup(l, m.device_id, m.buffer_id, &e) && ((x >> 50) & 1) ? PROTO_FREE
                                                                                    : PROTO_ALLOC;
        size_t before = log.len;
        ledger_apply(l, &m, NULL);
        for (size_t i = before; i < log.len; i++)
            lines += log.data[i] == '\n';
        if (lines >= next_dump) {
            proto_msg d = {0};
            d.type = PROTO_DUMP_REMAINING;
            before = log.len;
            ledger_apply(l, &d, NULL);
            if (lines / 300000 != (lines - 1) / 300000)
                ledger_print_stats(l);
            for (size_t i = before; i < log.len; i++)
                lines += log.data[i] == '\n';
            next_dump += 100000;
        }
    }
    ledger_free(l);
    printf("bench_import: %zu lines, %.1f MB of log\n", lines, (double)log.len / 1e6);
    for (int mode = 0; mode < 2; mode++) {
        import_opts o = {0};
        o.log_name = "bench.log";
        o.want_timeline = o.want_stream = mode;
        import_result r;
        char err[256];
        double t0 = now_s();
        if (import_run(log.data, log.len, &o, &r, err, sizeof err) < 0) {
            fprintf(stderr, "bench_import: %s\n", err);
            return 1;
        }
        double dt = now_s() - t0;
        sbuf rep = SBUF_INIT;
        t0 = now_s();
        import_report_text(&r, "bench.log", NULL, &rep);
        double dr = now_s() - t0;
        printf("%-28s %.3f s  %.2f M lines/s  (%zu lifecycles, %zu dumps, %zu findings, "
               "report %.3f s, %.1f MB)\n",
               mode ? "import + timeline + stream" : "import", dt, (double)lines / dt / 1e6,
               r.nbuffers, r.ndumps, r.nfindings, dr, (double)rep.len / 1e6);
        sbuf_release(&rep);
        import_result_release(&r);
    }
    sbuf_release(&log);
    return 0;
}
