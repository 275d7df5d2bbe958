/* framing: one connection's byte stream as a server revision cuts it into frames (see
 * framing.h; protocol.md §3.2, §3.3).
 */
#include "framing.h"

#include <string.h>

void framing_init(framing *f, proto_rev rev) {
    memset(f, 0, sizeof *f);
    f->frame_size = proto_rev_get(rev)->frame_size;
    f->resync = f->frame_size == 144;
}

int framing_push(framing *f, uint8_t byte) {
    if (f->closed)
        return 0;
    f->buf[f->have++] = byte;
    return f->have == f->frame_size;
}

int framing_type_ok(const framing *f) {
    return !f->resync || (f->buf[0] >= 1 && f->buf[0] <= PROTO_DUMP_KERNELS);
}

void framing_handled(framing *f) {
    f->errors = 0;
    f->have = 0;
}

int framing_resync(framing *f) {
    if (++f->errors >= FRAMING_MAX_ERRORS) {
        f->closed = 1;
        f->have = 0;
        return 1;
    }
    memmove(f->buf, f->buf + 1, f->frame_size - 1);
    f->have = f->frame_size - 1;
    return 0;
}

size_t framing_encode_client(size_t frame_bytes, const proto_msg *m, uint8_t *out) {
    switch (frame_bytes) {
    case 72:
        return proto_encode(PROTO_V72, m, out);
    case 112:
        return proto_encode(PROTO_V112, m, out);
    case 128: /* protocol.md §2.4: the v128 layout is v144's first 128 bytes */
        proto_encode(PROTO_V144, m, out);
        return 128;
    case 144:
        return proto_encode(PROTO_V144, m, out);
    default:
        return 0;
    }
}
