/* conn: one client connection to an allocation server (one per simulated process).
 *
 * AF_UNIX SOCK_STREAM, the server's transport. Frames are sent whole (looping on short
 * writes, MSG_NOSIGNAL so a dying server cannot kill the harness with SIGPIPE) and every wait
 * is bounded by the connection's timeout. A fence is a QUERY for device 0 whose RESPONSE
 * proves that the server handled everything sent on this connection before it; the server
 * runs one thread per connection, so this is how order across connections is made. The
 * connection counts the QUERY and DEVICE_INFO_QUERY frames it sent and always reads their
 * replies (at the next fence, read or close): the real server dies of SIGPIPE when a client
 * leaves before its reply.
 *
 * Whole frames are never cut by the transport: the real v72/v112 server reads each message
 * with one recv() and no MSG_WAITALL, so a frame split over two kernel socket buffers could
 * reach it in two halves. A frame-aligned send is therefore issued in chunks that each fit
 * one socket buffer (at most 32 KiB, whole frames).
 */
#ifndef ALLOCSIM_CONN_H
#define ALLOCSIM_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

#define CONN_DEFAULT_TIMEOUT_MS 10000

/* Results of the conn functions. */
typedef enum {
    CONN_OK = 0,
    CONN_REFUSED = 1, /* connect: no socket at the path, or nobody listening */
    CONN_CLOSED = 2,  /* the server closed the connection (EOF, EPIPE, ECONNRESET) */
    CONN_TIMEOUT = 3, /* the timeout passed first (server hung, or a reply that never comes) */
    CONN_PROTOCOL = 4, /* a reply arrived that is not the one expected */
    CONN_ERROR = 5    /* anything else (errno text in the message) */
} conn_status;

typedef struct {
    int fd;                  /* -1 when closed */
    proto_rev rev;
    size_t frame_size;
    int timeout_ms;          /* every wait (connect, write, read) */
    uint64_t bytes_sent;     /* position in the byte stream, for frame alignment */
    uint64_t replies_pending; /* replies the server owes for frames sent and not yet read */
    uint64_t frames_sent;    /* frames started (at frame boundaries of the byte stream) */
    size_t max_chunk;        /* bytes per send() for frame-aligned data (0: 32 KiB) */
} conn;

/* Connects to the socket at path (retrying while the listen backlog is full, up to
 * timeout_ms). Returns CONN_OK, or another status with "connect PATH: reason" in err. */
conn_status conn_open(conn *c, const char *path, proto_rev rev, int timeout_ms, char *err,
                      size_t errlen);

/* Sends len bytes exactly (any content: frames, part of one, garbage). When the connection is
 * at a frame boundary and len is a multiple of the frame size, every send() carries whole
 * frames only (see above); anything else is sent as given. Counts the QUERY and
 * DEVICE_INFO_QUERY frames that start at frame boundaries of this connection's byte stream
 * (types the revision answers) as pending replies. Precondition: c is open. */
conn_status conn_send(conn *c, const void *bytes, size_t len, char *err, size_t errlen);

/* Encodes msg for the connection's revision and sends it. */
conn_status conn_send_msg(conn *c, const proto_msg *msg, char *err, size_t errlen);

/* Reads exactly one frame_size reply into buf (PROTO_MAX_FRAME bytes) within the timeout
 * and decrements replies_pending if positive. Returns CONN_OK, CONN_CLOSED (EOF, also mid
 * reply: "... after 40 of 72 bytes"), CONN_TIMEOUT, or CONN_ERROR. */
conn_status conn_read_reply(conn *c, uint8_t *buf, char *err, size_t errlen);

/* Fence: reads the replies still owed, sends QUERY(device 0, pid) and reads its reply,
 * which must be a RESPONSE (type 4) for device 0 (else CONN_PROTOCOL). reply (may be NULL)
 * receives the decoded answer. */
conn_status conn_fence(conn *c, int32_t pid, proto_msg *reply, char *err, size_t errlen);

/* Closes gracefully: shuts down the sending side, reads (and discards) everything the server
 * still sends until it closes its side, bounded by the timeout, then closes. The drain makes
 * sure no reply is left unread. Returns CONN_OK or the status of the drain (the descriptor is
 * closed either way). NULL-safe and safe on a closed conn. */
conn_status conn_close(conn *c, char *err, size_t errlen);

/* Closes at once without reading (the fuzzer uses this to test abrupt clients). */
void conn_abort(conn *c);

/* "ok", "refused", "closed by server", "timeout", "unexpected reply", "error". */
const char *conn_status_name(conn_status st);

#endif
