/* ledger: what a correct allocation server holds and prints, message by message.
 *
 * The ledger implements the server semantics of protocol.md §4 for one revision: the
 * (device_id, buffer_id) registry with ref counts that keep the first size, type and owner;
 * per-device counters; the v144 CB and kernel registries; dead-PID cleanup; the
 * DUMP_REMAINING, DUMP_KERNELS and statistics reports; QUERY and DEVICE_INFO replies.
 * It renders every line the server would print (§5) through a callback, or nothing when no
 * callback is set (the simulator's fast path).
 *
 * It is used three ways: by the simulator to know the expected dump and QUERY answers at any
 * point, by allocsim-server as its whole state machine (behind a mutex), and by the harness
 * and fuzzer as the oracle. Where the real server is undefined (device ids out of range in
 * v72/v112) the ledger bounds-checks like v144 and prints v144's warning; docs/server.md
 * lists these differences. Buffer lines inside a dump group are printed in ascending
 * buffer-id order (the real server's order is its hash order).
 *
 * Not thread-safe: callers serialise. Time comes from ledger_set_time (kernel ages).
 */
#ifndef ALLOCSIM_LEDGER_H
#define ALLOCSIM_LEDGER_H

#include <stddef.h>
#include <stdint.h>

#include "device.h"
#include "proto.h"

typedef struct ledger ledger;

/* Which server prints the lines: TT-Metal's allocation_server_poc (every revision) or
 * allocation_server_enhanced (tracking-stories.md §3: v72 frames, per-buffer histories, hex
 * ids, ALREADY FREED / never-tracked warnings, size replaced on reuse, dumps without
 * request/completion lines, the DOUBLE-FREED report, statistics in KB). */
typedef enum { LEDGER_DIALECT_POC = 0, LEDGER_DIALECT_ENHANCED = 1 } ledger_dialect;

typedef enum { LEDGER_STDOUT = 1, LEDGER_STDERR = 2 } ledger_stream;

/* Receives one printed line, without its trailing '\n'. */
typedef void (*ledger_emit_fn)(void *ctx, ledger_stream stream, const char *line, size_t len);

/* Returns non-zero if pid is dead (the server's kill(pid, 0) != 0 test). */
typedef int (*ledger_dead_fn)(void *ctx, int32_t pid);

/* Planted defects, for the canary test and the fuzzer's acceptance test. Never set in a
 * normal run. */
enum {
    LEDGER_FAULT_KEEP_TRACE = 1u << 0, /* the FINAL free of a TRACE buffer keeps the entry */
    LEDGER_FAULT_REFCOUNT = 1u << 1,   /* a duplicate ALLOC does not raise ref_count */
    LEDGER_FAULT_NO_BOUNDS = 1u << 2   /* ALLOC indexes the device counters unchecked */
};

typedef struct {
    proto_rev rev;
    ledger_emit_fn emit; /* NULL: render nothing */
    void *emit_ctx;
    ledger_dead_fn is_dead; /* NULL: every PID is alive */
    void *dead_ctx;
    unsigned faults; /* LEDGER_FAULT_* */
    ledger_dialect dialect;
    /* The chips the server "detected" at startup: their banner lines and DEVICE_INFO replies
     * (protocol.md §3.4, §5.4). NULL: none, as on a machine without devices. Must outlive the
     * ledger. */
    const dev_config *devices;
} ledger_config;

/* What ledger_apply did with a message. */
typedef enum {
    LEDGER_HANDLED = 0, /* handled (or rejected with a printed line); no reply */
    LEDGER_REPLY = 1,   /* handled; *reply holds the frame to send back */
    LEDGER_RESYNC = 2   /* v144 only: the type byte is outside 1..12; the transport discards
                           one byte and counts a consecutive error (nothing was printed) */
} ledger_result;

/* One registry entry, as listed by ledger_entries. */
typedef struct {
    int32_t device_id;
    uint64_t buffer_id;
    uint64_t size;       /* size of the first ALLOC */
    uint8_t buffer_type; /* type of the first ALLOC */
    int32_t owner_pid;   /* pid of the first ALLOC */
    int32_t ref_count;
} ledger_entry;

/* Per-device counters as the server keeps them (u64, wrapping like the server's). */
typedef struct {
    uint64_t dram, l1, l1_small, trace, num_buffers;
    uint64_t cb, kernel, kernel_application, kernel_fabric, kernel_dispatch;
} ledger_counters;

/* Returns a new empty ledger, or NULL when out of memory. */
ledger *ledger_new(const ledger_config *cfg);
void ledger_free(ledger *l);

/* Sets the clock used for kernel load times and ages (nanoseconds, monotonic). */
void ledger_set_time(ledger *l, uint64_t now_ns);

/* Replaces the output callback (NULL: render nothing), e.g. to render only the dumps. */
void ledger_set_emit(ledger *l, ledger_emit_fn emit, void *ctx);

/* Replaces the liveness predicate (for example when processes are added). */
void ledger_set_liveness(ledger *l, ledger_dead_fn is_dead, void *ctx);

/* Handles one message exactly as the server of the ledger's revision does, including the
 * DUMP_REMAINING report (with its dead-PID cleanup) and "Unknown message type" lines.
 * Fills *reply (may be NULL if the caller does not want it) when the result is LEDGER_REPLY.
 * Returns LEDGER_HANDLED, LEDGER_REPLY or LEDGER_RESYNC; never fails except by running out
 * of memory, in which case the message is dropped and -1 is returned. */
int ledger_apply(ledger *l, const proto_msg *msg, proto_msg *reply);

/* The background cleanup pass: removes every entry, CB and kernel of dead PIDs and prints
 * the dead-process block when at least one PID is dead. Returns the number of dead PIDs. */
int ledger_cleanup(ledger *l);

/* Prints the periodic statistics block (§5.10). */
void ledger_print_stats(ledger *l);

/* Prints the startup lines of the revision's server: the detection block (v112, v144) for
 * cfg.devices (none when NULL) and the banner naming socket_path. The line
 * "🔄 Background cleanup thread started (checking every 10s)" is included last. The enhanced
 * dialect prints its own two banner lines only. */
void ledger_print_startup(ledger *l, const char *socket_path);

/* Prints the shutdown lines after the statistics block: the cleanup-thread stop line, an
 * empty line and "🛑 Allocation Server stopped" (enhanced: no cleanup-thread line, and the
 * DOUBLE-FREED report last). */
void ledger_print_shutdown(ledger *l);

/* Number of registry entries (allocations_.size()). */
size_t ledger_count(const ledger *l);

/* Counters of device dev; zeroes for a device outside [0, max_devices). */
ledger_counters ledger_device_counters(const ledger *l, int32_t dev);

/* Looks up one entry. Returns 1 and fills *out if present. */
int ledger_lookup(const ledger *l, int32_t dev, uint64_t buffer_id, ledger_entry *out);

/* All entries sorted by (device_id, buffer_type, buffer_id). *out is allocated with
 * mem_alloc and must be released with mem_free. Returns the count, or (size_t)-1 when out
 * of memory. */
size_t ledger_entries(const ledger *l, ledger_entry **out);

/* Formats a byte count the way the server prints MB / KB (iostream default: %g). */
void ledger_format_mb(char *buf, size_t n, uint64_t bytes);
void ledger_format_kb(char *buf, size_t n, uint64_t bytes);

#endif
