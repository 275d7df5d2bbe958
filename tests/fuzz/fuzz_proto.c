/* fuzz_proto: libFuzzer target for the frame codec (sim/proto.c) and the server semantics
 * behind it (sim/ledger.c).
 *
 * The first input byte picks the protocol revision and the chunk sizes; the rest is a byte
 * stream as a client would write it on the socket. For every revision the stream is decoded
 * frame by frame, and each frame must encode back to the very same bytes (decoding keeps the
 * padding, so the codec is lossless). The same bytes are then pushed through a proto_reader
 * in chunks of input-chosen sizes, and it must deliver the same frames at the same places.
 * Finally the chosen revision's ledger handles the stream the way allocsim-server's
 * transport does (a whole frame at a time; in v144 a type byte outside 1..12 drops one byte,
 * and ten in a row close the connection), rendering every line, with some PIDs dead so that
 * cleanups run. Any mismatch aborts: a codec that does not round-trip is a bug even when
 * nothing crashes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ledger.h"
#include "mem.h"
#include "proto.h"

/* The reference server's limit of consecutive bad type bytes (protocol.md §3.3). */
#define FUZZ_PROTO_MAX_CONSECUTIVE_ERRORS 10

typedef struct {
    size_t lines;
} fuzz_proto_sink;

/* Each emitted line is one line: a '\n' inside would split it in the server's output. */
static void fuzz_proto_emit(void *ctx, ledger_stream stream, const char *line, size_t len) {
    fuzz_proto_sink *sink = ctx;
    if (stream != LEDGER_STDOUT && stream != LEDGER_STDERR)
        abort();
    if (memchr(line, '\n', len))
        abort();
    sink->lines++;
}

/* A deterministic mix of live and dead PIDs; 0 and -1 stay alive, as on the real server. */
static int fuzz_proto_is_dead(void *ctx, int32_t pid) {
    (void)ctx;
    if (pid == 0 || pid == -1)
        return 0;
    return ((uint32_t)pid % 3u) == 1u;
}

static void fuzz_proto_round_trip(proto_rev rev, const uint8_t *data, size_t size) {
    const size_t fs = proto_rev_get(rev)->frame_size;
    uint8_t again[PROTO_MAX_FRAME];
    proto_msg m;
    for (size_t off = 0; off + fs <= size; off += fs) {
        if (proto_decode(rev, data + off, size - off, &m) != fs)
            abort();
        memset(again, 0xAA, sizeof again);
        if (proto_encode(rev, &m, again) != fs || memcmp(again, data + off, fs) != 0)
            abort();
    }
    /* Too short a buffer decodes nothing and leaves the message alone. */
    if (size % fs) {
        proto_msg untouched;
        memset(&untouched, 0x5C, sizeof untouched);
        memcpy(&m, &untouched, sizeof m);
        if (proto_decode(rev, data + size - size % fs, size % fs, &m) != 0 ||
            memcmp(&m, &untouched, sizeof m) != 0)
            abort();
    }
}

/* Feeds the bytes to a reader in chunks of 1..64 bytes chosen by `pattern`. */
static void fuzz_proto_reader(proto_rev rev, const uint8_t *data, size_t size, uint8_t pattern) {
    const size_t fs = proto_rev_get(rev)->frame_size;
    proto_reader r;
    proto_reader_init(&r, rev);
    size_t pos = 0, frames = 0, k = 0;
    while (pos < size) {
        size_t chunk = 1 + (size_t)((pattern + 37u * k++) % 64u);
        if (chunk > size - pos)
            chunk = size - pos;
        size_t used = 0;
        while (used < chunk) {
            proto_msg got;
            int ready = 0;
            size_t n = proto_reader_push(&r, data + pos + used, chunk - used, &got, &ready);
            if (n == 0 && !ready)
                abort(); /* no progress on a non-empty push */
            used += n;
            if (ready) {
                proto_msg want;
                if (proto_decode(rev, data + frames * fs, size - frames * fs, &want) != fs)
                    abort();
                if (memcmp(&got, &want, sizeof got) != 0)
                    abort();
                if (pos + used != (frames + 1) * fs)
                    abort(); /* delivered somewhere other than a frame boundary */
                frames++;
            }
        }
        pos += chunk;
    }
    if (frames != size / fs || proto_reader_pending(&r) != size % fs)
        abort();
}

/* Runs the stream through the revision's ledger like allocsim-server's connection loop. */
static void fuzz_proto_ledger(proto_rev rev, const uint8_t *data, size_t size) {
    fuzz_proto_sink sink = {0};
    ledger_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.rev = rev;
    cfg.emit = fuzz_proto_emit;
    cfg.emit_ctx = &sink;
    cfg.is_dead = fuzz_proto_is_dead;
    ledger *l = ledger_new(&cfg);
    if (!l)
        return;
    const proto_rev_info *ri = proto_rev_get(rev);
    size_t start = 0, handled = 0;
    int consecutive_errors = 0;
    uint64_t now = 0;
    while (size - start >= ri->frame_size) {
        proto_msg msg, reply;
        proto_decode(rev, data + start, size - start, &msg);
        ledger_set_time(l, now += 1000);
        int res = ledger_apply(l, &msg, &reply);
        if (res == LEDGER_RESYNC) {
            if (ri->frame_size != 144 || (msg.type >= 1 && msg.type <= 12))
                abort(); /* only v144 resynchronises, and only on a bad type byte */
            if (++consecutive_errors >= FUZZ_PROTO_MAX_CONSECUTIVE_ERRORS)
                break;
            start += 1;
            continue;
        }
        consecutive_errors = 0;
        start += ri->frame_size;
        if (res == LEDGER_REPLY) {
            uint8_t out[PROTO_MAX_FRAME];
            proto_msg back;
            if (msg.type != PROTO_QUERY && msg.type != PROTO_DEVICE_INFO_QUERY)
                abort(); /* only the two queries are answered (§3.4) */
            if (reply.device_id != msg.device_id)
                abort();
            proto_encode(rev, &reply, out);
            proto_decode(rev, out, ri->frame_size, &back);
            if (memcmp(&back, &reply, sizeof back) != 0)
                abort();
        }
        if (++handled % 16 == 0)
            ledger_cleanup(l);
    }
    ledger_entry *entries = NULL;
    size_t n = ledger_entries(l, &entries);
    if (n != (size_t)-1) {
        if (n != ledger_count(l))
            abort();
        for (size_t i = 1; i < n; i++) {
            const ledger_entry *a = &entries[i - 1], *b = &entries[i];
            int ordered = a->device_id < b->device_id ||
                          (a->device_id == b->device_id &&
                           (a->buffer_type < b->buffer_type ||
                            (a->buffer_type == b->buffer_type && a->buffer_id < b->buffer_id)));
            if (!ordered)
                abort(); /* sorted by (device, type, id), keys unique */
        }
        for (size_t i = 0; i < n; i++)
            if (entries[i].ref_count < 1)
                abort();
        mem_free(entries);
    }
    ledger_print_stats(l);
    ledger_free(l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    uint8_t head = data[0];
    proto_rev rev = (proto_rev)(head % PROTO_REV_COUNT);
    data++;
    size--;
    for (int r = 0; r < PROTO_REV_COUNT; r++) {
        fuzz_proto_round_trip((proto_rev)r, data, size);
        fuzz_proto_reader((proto_rev)r, data, size, head);
    }
    fuzz_proto_ledger(rev, data, size);
    return 0;
}
