/* fuzz: the pure half of `allocsim fuzz` — stream generation, the oracle model, failure
 * signatures, the minimiser and the text rendering of reproducers.
 *
 * Nothing here touches a socket or a process; fuzz/fuzz_exec.h runs streams against live
 * servers. Everything is deterministic: a campaign seed and a stream number give the same
 * .allocstream bytes on every machine, because the generator draws from its own PRNG and
 * guides itself with a model that never asks the operating system anything.
 *
 * The model is the oracle: one ledger (sim/ledger.h, the exact state and output of a correct
 * server) behind the reference server's robust framing. Bytes are consumed per connection in
 * whole frames; in v144 a frame whose type byte is outside 1..12 makes the transport drop one
 * byte, and ten such drops in a row close the connection; a partial frame left when a
 * connection closes is dropped. The model knows which replies each write provokes and which
 * DUMP_REMAINING reports it prints, so the executor knows what to wait for and what to compare.
 * A real server reads each message with a single recv() and no framing (protocol.md §8.1), so
 * streams with transport faults are not comparable against one; see docs/fuzzing.md.
 */
#ifndef ALLOCSIM_FUZZ_H
#define ALLOCSIM_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "ledger.h"
#include "proto.h"
#include "sbuf.h"
#include "stream.h"

/* ---- features: what a stream may contain --------------------------------------------------- */

enum {
    FUZZ_F_REFCOUNT = 1u << 0,   /* ref-count storms: the same key allocated again and again */
    FUZZ_F_QUERY = 1u << 1,      /* QUERY and DEVICE_INFO_QUERY with their replies read */
    FUZZ_F_DUMP = 1u << 2,       /* DUMP_REMAINING in the middle of a stream */
    FUZZ_F_MULTI = 1u << 3,      /* several processes, each with its own connection */
    FUZZ_F_DEATH = 1u << 4,      /* processes crash or exit; their pids are used afterwards */
    FUZZ_F_BADFREE = 1u << 5,    /* unknown and double frees */
    FUZZ_F_BADDEV = 1u << 6,     /* out-of-range device ids */
    FUZZ_F_BADTYPE = 1u << 7,    /* buffer types above 4 */
    FUZZ_F_SIZES = 1u << 8,      /* size 0 and huge sizes */
    FUZZ_F_BADMSG = 1u << 9,     /* message types the revision does not handle */
    FUZZ_F_CBKERNEL = 1u << 10,  /* v144 CB and KERNEL edge cases (underflow, duplicates) */
    FUZZ_F_RECONNECT = 1u << 11, /* a process closes its connection and opens another */
    FUZZ_F_SPLIT = 1u << 12,     /* one frame split across two writes */
    FUZZ_F_MERGE = 1u << 13,     /* several frames in one write */
    FUZZ_F_TRUNCATE = 1u << 14,  /* connection closed in the middle of a frame */
    FUZZ_F_EARLYCLOSE = 1u << 15, /* connection closed before reading a reply */
    FUZZ_F_GARBAGE = 1u << 16,   /* bytes that are no frame (v144 resync, desynchronisation) */
    FUZZ_F_COUNT = 17
};

/* Faults of the transport: a real server's single-recv framing makes them non-comparable. */
#define FUZZ_F_TRANSPORT \
    (FUZZ_F_SPLIT | FUZZ_F_MERGE | FUZZ_F_TRUNCATE | FUZZ_F_EARLYCLOSE | FUZZ_F_GARBAGE)
#define FUZZ_F_ALL ((1u << FUZZ_F_COUNT) - 1u)

/* Record flag on CLOSE: close at once without reading what the server still sends (an
 * abrupt client; a real server may die of SIGPIPE). Value chosen next to STREAM_FLAG_VERBATIM. */
#define FUZZ_FLAG_ABORT 2u

/* Name of feature bit `bit` (0..FUZZ_F_COUNT-1): "refcount", "query", ... */
const char *fuzz_feature_name(unsigned bit);

/* Writes the names of the features in mask, comma-separated ("none" when empty), into buf. */
void fuzz_features_format(unsigned mask, char *buf, size_t n);

/* Parses a comma-separated feature list ("all", names, "-name" to remove). Returns 0 and sets
 * *mask, or -1 with "expected a feature name (refcount, ...), found 'x'" in err. */
int fuzz_features_parse(const char *list, unsigned *mask, char *err, size_t errlen);

/* ---- generation ------------------------------------------------------------------------------ */

typedef struct {
    proto_rev rev;
    uint64_t seed;       /* campaign seed */
    unsigned features;   /* FUZZ_F_* allowed */
    int swarm;           /* each stream's seed also picks a random subset of `features` */
    uint32_t max_ops;    /* operations per stream: 1..max_ops (0 means 24) */
} fuzz_gen_config;

/* The seed of stream number n of a campaign (a mix of both; stable across versions). */
uint64_t fuzz_stream_seed(uint64_t campaign_seed, uint64_t n);

/* The features stream n uses: cfg->features, or in swarm mode a subset drawn from its seed. */
unsigned fuzz_stream_features(const fuzz_gen_config *cfg, uint64_t n);

/* Builds stream number n of the campaign into *out (initialised here; the caller releases it
 * with stream_release). Same config and n give the same stream, byte for byte. Processes get
 * recorded pids above the kernel's pid_max, so a pid that is not rewritten to a live stand-in
 * is certainly dead. Returns 0, or -1 with a reason in err (out of memory). */
int fuzz_generate(const fuzz_gen_config *cfg, uint64_t n, stream *out, char *err, size_t errlen);

/* Number of frame starts in the WRITE and DUMP records of s (a partial frame counts). */
size_t fuzz_stream_frames(const stream *s);

/* ---- the model ------------------------------------------------------------------------------- */

typedef struct fuzz_model fuzz_model;

/* What a connection looks like from the server's side. */
typedef struct {
    int open;           /* connected and not closed by either side */
    int server_closed;  /* v144: the server gave up after ten consecutive bad type bytes */
    size_t pending;     /* bytes of an incomplete frame the server holds */
    size_t replies;     /* replies the server has sent and the client has not read */
    int proc;           /* owning process index, -1 if none */
    int last_replied;   /* the last frame handled on it was answered (QUERY, DEVICE_INFO):
                           reading that answer proves everything before was handled */
} fuzz_conn_state;

/* A connection id the model keeps apart from the others (the executor's own connection). */
#define FUZZ_CONN_CONTROL 0xffffu

/* Returns a model for revision rev with the given planted faults (0 for a correct server), or
 * NULL when out of memory. Liveness: every pid alive until fuzz_model_set_liveness. */
fuzz_model *fuzz_model_new(proto_rev rev, unsigned faults);
void fuzz_model_free(fuzz_model *m);

/* Forgets connections, replies and dumps and starts over with an empty ledger. Returns 0 or
 * -1 when out of memory. */
int fuzz_model_reset(fuzz_model *m);

void fuzz_model_set_liveness(fuzz_model *m, ledger_dead_fn is_dead, void *ctx);

/* Models a server that detected the chips of devices (DEVICE_INFO replies as the ledger
 * gives them for it; NULL: none, the default). devices must outlive the model. Resets the
 * model like fuzz_model_reset. Returns 0 or -1 when out of memory. */
int fuzz_model_set_devices(fuzz_model *m, const dev_config *devices);

/* The ledger (for entries and counters). Owned by the model. */
ledger *fuzz_model_ledger(fuzz_model *m);

/* Opens connection `conn` for process proc (-1 if none). Reopening a closed index starts a
 * fresh connection. Returns 0 or -1 when out of memory. */
int fuzz_model_connect(fuzz_model *m, uint16_t conn, int proc);

/* The client closes conn: unread replies and any partial frame are dropped. */
void fuzz_model_close(fuzz_model *m, uint16_t conn);

/* Feeds len bytes written by the client on conn into the server-side framing and applies
 * every completed frame. Bytes on a connection that is not open, or that the server closed,
 * are ignored. Returns the number of frames applied, or -1 when out of memory. */
int fuzz_model_write(fuzz_model *m, uint16_t conn, const uint8_t *bytes, size_t len);

fuzz_conn_state fuzz_model_conn(const fuzz_model *m, uint16_t conn);

/* Pops the oldest unread reply of conn into frame (frame_size bytes) and, when kind is not
 * NULL, the request type it answers (QUERY or DEVICE_INFO_QUERY). Returns 1, or 0 if none. */
int fuzz_model_pop_reply(fuzz_model *m, uint16_t conn, uint8_t *frame, uint8_t *kind);

/* DUMP_REMAINING reports printed so far, in order; each is its lines from "📋 Received
 * DUMP_REMAINING request..." to "📋 DUMP_REMAINING complete.", '\n'-terminated. */
size_t fuzz_model_dump_count(const fuzz_model *m);
const char *fuzz_model_dump_text(const fuzz_model *m, size_t i);

/* Drops the reports already consumed (the first n). */
void fuzz_model_drop_dumps(fuzz_model *m, size_t n);

/* The frames that bring a server in the model's state back to empty: FREE of every live
 * buffer (ref_count times) and, in v144, CB_FREE and KERNEL_UNLOAD of every live entry plus
 * compensating messages for counters left non-zero by duplicates and underflows. Appended to
 * out as encoded frames of the model's revision, with process_id pid. Returns the number of
 * frames, or -1 when out of memory. The model is not changed: feed the bytes to it. */
long fuzz_model_reset_frames(fuzz_model *m, int32_t pid, sbuf *out);

/* ---- pid rewriting -------------------------------------------------------------------------- */

/* One byte of a process_id field, in a stream's payload, that holds part of a recorded pid. */
typedef struct {
    uint32_t proc;   /* process index */
    size_t offset;   /* position in stream.payload */
    uint8_t byte;    /* 0..3: which byte of the little-endian pid */
} fuzz_pid_site;

/* Finds where the recorded pids sit in the frames the server will handle, following each
 * connection's framing as the server does (v144 resync and give-up included, a field split
 * across writes found whole). Only WRITE and DUMP payloads without STREAM_FLAG_VERBATIM are
 * searched; FENCE and empty DUMP records stand for a synthesised frame; a WRITE on a
 * connection that is not open opens it (as the executor does). *out is allocated with
 * mem_alloc (NULL when none). Returns 0 or -1 when out of memory. */
int fuzz_pid_sites(const stream *s, fuzz_pid_site **out, size_t *n);

/* Indices of the records that make the server print a DUMP_REMAINING report (DUMP records,
 * and WRITE records carrying a DUMP_REMAINING frame the server will handle), ascending, in
 * *out (mem_alloc; NULL when none). Only at these records does a server look at which pids
 * are alive. Returns 0 or -1 when out of memory. */
int fuzz_dump_records(const stream *s, size_t **out, size_t *n);

/* Writes pid into every site of process proc in payload (a copy of stream.payload). */
void fuzz_pid_patch(uint8_t *payload, const fuzz_pid_site *sites, size_t n, uint32_t proc,
                    int32_t pid);

/* ---- comparing replies ----------------------------------------------------------------------- */

/* Compares two reply frames of revision rev field by field. Returns NULL when equal, else the
 * name of the first differing field ("l1_allocated", "num_devices", "type", ...). */
const char *fuzz_reply_diff(proto_rev rev, const uint8_t *expected, const uint8_t *actual);

/* Describes the difference in the field returned by fuzz_reply_diff:
 * "QUERY(device 0) reply: l1_allocated expected 4096, found 0". */
void fuzz_reply_describe(proto_rev rev, uint8_t kind, const uint8_t *expected,
                         const uint8_t *actual, sbuf *out);

/* ---- signatures ------------------------------------------------------------------------------ */

/* Recognises a sanitizer report line on a server's stderr and writes its signature into sig:
 * "asan-heap-buffer-overflow" (ERROR: AddressSanitizer: ...), "lsan-leak", "ubsan-<words>"
 * (runtime error: ..., numbers and quoted text dropped), "tsan-<words>", "msan-<words>".
 * Returns 1 if the line is such a report, else 0. */
int fuzz_sanitizer_signature(const char *line, size_t len, char *sig, size_t n);

/* "SIGSEGV", "SIGABRT", ... for a signal number ("SIG<n>" for unknown ones). */
const char *fuzz_signal_name(int sig, char *buf, size_t n);

/* Turns any text into a file-name-safe signature (letters, digits, '-', '_', '.'). */
void fuzz_signature_clean(char *sig);

/* Parses a duration: a number with an optional unit ms, s, m or h ("500ms", "60s", "5m",
 * "1.5h"; no unit means seconds). Returns 0 and *ms, or -1 with
 * "expected a duration such as 60s, 5m or 500ms, found 'x'" in err. */
int fuzz_parse_duration(const char *text, uint64_t *ms, char *err, size_t errlen);

/* 1 if a server command line turns the dead-PID cleanup timer off ("--cleanup-interval 0"
 * or "--cleanup-interval=0", any spelling of zero), else 0. NULL gives 0. */
int fuzz_command_disables_cleanup(const char *command);

/* ---- minimising ------------------------------------------------------------------------------ */

/* Returns 1 if the candidate still shows the failure being minimised, 0 if not, -1 to stop
 * (an error: the minimiser returns the best stream found so far). */
typedef int (*fuzz_pred_fn)(void *ctx, const stream *candidate);

typedef struct {
    uint32_t max_tests;  /* predicate calls allowed (0 means 400) */
    size_t fail_record;  /* record where the failure showed (records after it are tried
                            away first); nrecords or more when unknown */
    uint32_t tests;      /* out: predicate calls made */
    int records_only;    /* only the quick cuts and whole records: the result's records are
                            then a subsequence of the input's (see fuzz_stream_without) */
} fuzz_min_config;

/* Shrinks in (for which pred holds) ddmin-style: first two quick cuts (everything after
 * fail_record; every record that sends no bytes except SPAWN), then whole records (chunks of
 * halving size),
 * then frames inside WRITE records (removing frames, dropping trailing bytes), then fields
 * (frame fields set to zero or a small value, one at a time). Every step keeps the predicate
 * true. *out receives the smallest stream found (initialised here; release it). Returns 0, or
 * -1 with a reason in err (out of memory, or the predicate returned -1: *out then holds the
 * best stream so far). */
int fuzz_minimise(const stream *in, fuzz_pred_fn pred, void *ctx, fuzz_min_config *cfg,
                  stream *out, char *err, size_t errlen);

/* Copies a stream (processes, records, payloads). Returns 0 or -1 when out of memory. */
int fuzz_stream_copy(const stream *in, stream *out);

/* ---- rendering ------------------------------------------------------------------------------- */

/* Appends a readable rendering of s: a header, the processes, then one line per record with
 * WRITE payloads decoded into frames ("ALLOC dev=0 size=4096 type=L1 pid=#1 id=0x1000"),
 * partial frames and garbage shown as hex. Recorded pids are shown as #<process index>. */
void fuzz_stream_render(const stream *s, sbuf *out);

#endif
