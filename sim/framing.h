/* framing: how a server revision cuts one connection's byte stream into frames.
 *
 * The server reads frame_size bytes at a time. v144 (protocol.md §3.3) peeks first: a type
 * byte outside 1..12 is a consecutive error, one byte is discarded and the frame starting
 * at the next byte is judged; the tenth error in a row closes the connection with the
 * "Too many consecutive errors (10)" line on stderr. v72 and v112 never resynchronise.
 * Frames are whole: bytes of an incomplete frame wait for more (allocsim-server's framing;
 * the real server dispatches a short read with a stale tail, see docs/server.md), and a
 * partial frame left when the connection ends is dropped.
 *
 * Used by the simulator (a client whose struct size differs from the server's,
 * `client frame_bytes=`), by the fuzzer's oracle and by the fuzzer's stream walker. Pure:
 * the caller applies each frame (ledger_apply) and reports what the server did with it.
 */
#ifndef ALLOCSIM_FRAMING_H
#define ALLOCSIM_FRAMING_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

/* v144's limit of consecutive bad type bytes before a connection is dropped. */
#define FRAMING_MAX_ERRORS 10
/* The line v144 prints on stderr when it gives up (protocol.md §5.6). */
#define FRAMING_TOO_MANY_ERRORS_LINE                                                               \
    "\xE2\x9A\xA0\xEF\xB8\x8F  Too many consecutive errors (10) - closing connection (likely "     \
    "protocol mismatch)"

typedef struct {
    size_t frame_size; /* the server's frame */
    int resync;        /* v144: bad type bytes are dropped one at a time */
    int errors;        /* consecutive bad type bytes */
    int closed;        /* the server gave up on the connection */
    size_t have;       /* bytes of the frame being assembled, in buf */
    uint8_t buf[PROTO_MAX_FRAME];
} framing;

/* A new connection to a server of revision rev. */
void framing_init(framing *f, proto_rev rev);

/* Adds one byte the client sent. Returns 1 when f->buf now holds a whole frame, which the
 * caller must settle with framing_handled or framing_resync before pushing more; 0 when more
 * bytes are needed or the server has closed the connection (the byte is lost). */
int framing_push(framing *f, uint8_t byte);

/* 1 when the whole frame in f->buf has a type byte the server accepts (always in v72/v112;
 * 1..12 in v144). ledger_apply returns LEDGER_RESYNC exactly when this is 0. */
int framing_type_ok(const framing *f);

/* The frame in f->buf was handled: the error run ends, the next frame starts empty. */
void framing_handled(framing *f);

/* The frame in f->buf was refused for its type byte: drops that byte (the rest stays as the
 * start of the next frame). Returns 1 when it was the tenth in a row: the server closes the
 * connection (f->closed) and prints FRAMING_TOO_MANY_ERRORS_LINE; 0 otherwise. */
int framing_resync(framing *f);

/* Encodes m as a client whose struct is frame_bytes long: 72 (v72 layout), 112 (v112), 128
 * (v144 without the ring-buffer fields, the notes' "v128") or 144 (v144). out must hold
 * PROTO_MAX_FRAME bytes. Returns the size, or 0 for another frame_bytes. */
size_t framing_encode_client(size_t frame_bytes, const proto_msg *m, uint8_t *out);

/* Bytes of an incomplete frame the server holds (0 after a close). */
static inline size_t framing_pending(const framing *f) { return f->closed ? 0 : f->have; }

#endif
