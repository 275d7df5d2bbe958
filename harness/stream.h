/* stream: the .allocstream recording format, for record, replay, fuzzing and log import.
 *
 * A .allocstream file is everything needed to make a server see one run again: the processes
 * of the run and, in order, what each did on the wire (connect, write bytes, fence, read a
 * reply, close, crash, exit, dump, sleep). Writes are raw bytes, not messages, so a stream can
 * carry partial frames, merged frames and garbage (the fuzzer needs all three). When a stream
 * is replayed, every process_id field equal to a recorded pid is rewritten to the live
 * stand-in's pid, so the server sees the run's processes alive (or dead) as they were.
 *
 * File layout, all integers little-endian, encoded byte by byte:
 *
 *   header (56 bytes)
 *     0  char[8]  magic "ALLOCSTM"
 *     8  u32      format version (1)
 *     12 u32      frame_size (72, 112 or 144; must match the revision)
 *     16 char[16] revision name ("v72", "v144-256", ...), NUL padded
 *     32 u32      nprocs
 *     36 u32      reserved (0)
 *     40 u64      nrecords
 *     48 u64      XXH3-64 (seed 0) of every byte after the header
 *   nprocs process entries: i32 recorded_pid, u16 name_len, name bytes (no NUL)
 *   nrecords records:       u8 op, u8 flags, u16 id, u32 len, payload[len]
 *
 * `id` is a process index (SPAWN, CRASH, EXIT), a connection index (CONNECT, WRITE, FENCE,
 * READ_REPLY, CLOSE, DUMP) or 0 (SLEEP). Payloads by op:
 *   SPAWN, FENCE, READ_REPLY, CLOSE, CRASH, EXIT: empty
 *   CONNECT: u16 process index that owns the connection, optionally followed by u16 the
 *            client's frame size (72, 112, 128, 144) when it differs from frame_size: the
 *            connection carries a client of another struct size (`client frame_bytes=`,
 *            tracking-stories.md S9); pids sit at offset 20 of the client's frames, it is
 *            never fenced, and write errors on it mean the server gave up on it
 *   WRITE:   the raw bytes to send
 *   DUMP:    one DUMP_REMAINING frame (frame_size bytes), or empty for a zeroed one carrying
 *            the connection's process pid
 *   SLEEP:   u32 milliseconds
 */
#ifndef ALLOCSIM_STREAM_H
#define ALLOCSIM_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "plan.h"
#include "proto.h"

#define STREAM_MAGIC "ALLOCSTM"
#define STREAM_VERSION 1
#define STREAM_HEADER_SIZE 56
#define STREAM_REVISION_LEN 16

typedef enum {
    STREAM_OP_SPAWN = 1,      /* process `id` starts: the replayer forks its stand-in */
    STREAM_OP_CONNECT = 2,    /* connection `id` opens for the process in the payload */
    STREAM_OP_WRITE = 3,      /* the payload bytes are written on connection `id` */
    STREAM_OP_FENCE = 4,      /* QUERY(device 0) on connection `id`, wait for its RESPONSE */
    STREAM_OP_READ_REPLY = 5, /* read one frame_size reply on connection `id` */
    STREAM_OP_CLOSE = 6,      /* connection `id` closes (after reading what the server sent) */
    STREAM_OP_CRASH = 7,      /* process `id` is killed (SIGKILL) and reaped */
    STREAM_OP_EXIT = 8,       /* process `id` exits normally and is reaped */
    STREAM_OP_DUMP = 9,       /* DUMP_REMAINING on connection `id`, wait for the report */
    STREAM_OP_SLEEP = 10      /* pause for the payload's milliseconds */
} stream_op;

/* Record flags. */
enum {
    /* WRITE, DUMP: send these bytes exactly as recorded (no process_id rewriting). */
    STREAM_FLAG_VERBATIM = 1,
    /* CLOSE: close at once without reading what the server still sends (an abrupt client;
     * a real server may die of SIGPIPE). */
    STREAM_FLAG_ABORT = 2
};

typedef struct {
    int32_t recorded_pid;
    char *name; /* owned, NUL-terminated */
} stream_proc;

typedef struct {
    uint8_t op;
    uint8_t flags;
    uint16_t id;
    uint32_t len;
    size_t offset; /* payload position in stream.payload */
} stream_record;

/* A whole stream in memory: loaded from a file or being built. All payloads are stored
 * back to back in `payload`, in record order. */
typedef struct {
    proto_rev rev;
    size_t frame_size;
    stream_proc *procs;
    uint32_t nprocs;
    stream_record *records;
    size_t nrecords;
    uint8_t *payload;
    size_t payload_len;
    size_t records_cap, procs_cap, payload_cap;
    uint64_t digest; /* of the loaded file, or computed by stream_save */
} stream;

/* Name of an op ("WRITE", ...), or NULL for a value that is not an op. */
const char *stream_op_name(uint8_t op);

/* ---- building and saving ---------------------------------------------------------------- */

/* Initialises an empty stream for revision rev. Never fails (allocates on first append). */
void stream_init(stream *s, proto_rev rev);

/* Frees everything the stream owns; s can be initialised again. NULL-safe. */
void stream_release(stream *s);

/* Adds a process. Returns its index (>= 0), or -1 on allocation failure or when 65535
 * processes exist already. name may be NULL (stored as ""). */
int stream_add_proc(stream *s, int32_t recorded_pid, const char *name);

/* Appends one record. payload may be NULL when len is 0. Returns 0, or -1 on allocation
 * failure (the stream is unchanged). No validation here: stream_validate checks op, ids
 * and payload sizes, and the fuzzer may build invalid streams on purpose. */
int stream_append(stream *s, uint8_t op, uint8_t flags, uint16_t id, const void *payload,
                  uint32_t len);

/* Convenience appenders; each returns 0 or -1 on allocation failure. */
int stream_append_connect(stream *s, uint16_t conn, uint16_t proc);
int stream_append_frame(stream *s, uint16_t conn, const proto_msg *msg); /* WRITE one frame */
/* CONNECT of a client whose frames are frame_bytes long (see CONNECT above). */
int stream_append_connect_client(stream *s, uint16_t conn, uint16_t proc, uint16_t frame_bytes);
int stream_append_sleep(stream *s, uint32_t ms);

/* Checks every record against the format rules (known op; SPAWN/CRASH/EXIT/CONNECT name an
 * existing process; payload sizes as listed at the top of this file). Returns 0, or -1 with
 * "record N: expected ..., found ..." in err. */
int stream_validate(const stream *s, char *err, size_t errlen);

/* Writes the stream to path (via path.tmp + rename), computing the digest into s->digest.
 * Returns 0, or -1 with "PATH: <reason>" in err (nothing is left at path on error). */
int stream_save(stream *s, const char *path, char *err, size_t errlen);

/* Encodes the whole file image into *out (allocated with mem_alloc; the caller frees it with
 * mem_free), its length in *out_len, and sets s->digest. Returns 0, or -1 on allocation
 * failure. */
int stream_encode(stream *s, uint8_t **out, size_t *out_len);

/* ---- incremental file writer (for long recordings) ---------------------------------------- */

/* Writes records straight to a file while they are produced. All processes must be added
 * before the first record; stream_writer_finish rewrites the header with the record count
 * and digest. On any error the writer remembers it, later calls do nothing, and finish
 * reports it. */
typedef struct stream_writer stream_writer;

/* Opens path.tmp for writing. Returns NULL with "PATH: <reason>" in err. */
stream_writer *stream_writer_open(const char *path, proto_rev rev, char *err, size_t errlen);
/* Returns the process index, or -1 (too many processes, records already started, or an
 * earlier error). */
int stream_writer_add_proc(stream_writer *w, int32_t recorded_pid, const char *name);
/* Returns 0 or -1 (an earlier error). */
int stream_writer_append(stream_writer *w, uint8_t op, uint8_t flags, uint16_t id,
                         const void *payload, uint32_t len);
/* Finalises the header, renames path.tmp to path, frees w. Returns 0, or -1 with the first
 * error in err (the temporary file is removed). */
int stream_writer_finish(stream_writer *w, char *err, size_t errlen);
/* Abandons the recording: removes the temporary file and frees w. NULL-safe. */
void stream_writer_abort(stream_writer *w);

/* ---- reading ------------------------------------------------------------------------------ */

/* Parses a whole .allocstream image. name is used in messages (a file name). Checks magic,
 * version, revision and frame size, every process entry and record boundary, the record
 * count, trailing bytes, the digest, and stream_validate. Returns 0 and fills *out (which the
 * caller releases with stream_release), or -1 with an error such as
 *   "crash.allocstream: bad magic: expected ALLOCSTM, found 'ALLOCSTN'"
 *   "crash.allocstream: truncated record 12 at byte 4410: expected 144 payload bytes, found 20"
 *   "crash.allocstream: digest mismatch: header says 0x..., content hashes to 0x..."
 * in err (*out is then empty). */
int stream_parse(const uint8_t *data, size_t len, const char *name, stream *out, char *err,
                 size_t errlen);

/* Reads path and parses it (as stream_parse). Returns 0 or -1 with "PATH: ..." in err. */
int stream_load(const char *path, stream *out, char *err, size_t errlen);

/* ---- plans ------------------------------------------------------------------------------- */

/* Converts a simulated plan into the stream the runner executes: one process entry per plan
 * process (recorded pid = sim_pid), connection i belongs to process i; SPAWN is followed by
 * CONNECT; SEND becomes WRITE (plus READ_REPLY when the step expects a reply); DUMP becomes
 * DUMP; CRASH and EXIT close the connection first. FENCE records are inserted where order
 * across connections matters: before writing on a connection other than the last one written
 * (if that one has unconfirmed writes), before every DUMP, and before CRASH or EXIT of a
 * process with unconfirmed writes. A step with wire_bytes is written in the client's layout
 * on a connection opened with that frame size; where a fence would go, that connection is
 * closed instead (and reopened by the process's next such step), and a DUMP of its process
 * goes on a new, correctly framed connection. The k-th READ_REPLY answers the k-th step with has_reply;
 * the k-th DUMP record is the k-th PLAN_DUMP step. Returns 0 and fills *out (initialised by
 * this function), or -1 with a reason in err. */
int stream_from_plan(const plan *p, stream *out, char *err, size_t errlen);

#endif
