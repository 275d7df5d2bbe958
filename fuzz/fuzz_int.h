/* fuzz_int: what the pure fuzz files (fuzz_gen.c, fuzz_model.c, fuzz_text.c, fuzz_sig.c,
 * fuzz_min.c) share and nobody else needs: a few helpers and the constants of the stream
 * layout. Not part of the fuzz/ interface; include fuzz.h instead.
 */
#ifndef ALLOCSIM_FUZZ_INT_H
#define ALLOCSIM_FUZZ_INT_H

#include <stdint.h>
#include <string.h>

#include "framing.h"
#include "fuzz.h"
#include "rng.h"

/* Percent chance, for readability of the generator's weights. */
static inline int gen_chance(rng *r, unsigned percent) { return rng_below(r, 100) < percent; }

static inline int rev_is_v144(proto_rev rev) { return proto_rev_get(rev)->frame_size == 144; }

/* The payload of record r, or NULL for an empty stream (no NULL + offset arithmetic). */
static inline const uint8_t *rec_bytes(const stream *s, const stream_record *r) {
    return s->payload ? s->payload + r->offset : NULL;
}

/* memcpy that accepts n == 0 with NULL pointers. */
static inline void copy_bytes(void *dst, const void *src, size_t n) {
    if (n)
        memcpy(dst, src, n);
}

/* Offset of process_id in every layout (protocol.md §2.2). */
#define FUZZ_PID_OFFSET 20
/* Ten bad type bytes in a row close a v144 connection (protocol.md §3.3). */
#define FUZZ_MAX_CONSECUTIVE_ERRORS FRAMING_MAX_ERRORS
/* Larger than any pid_max Linux allows (2^22), so these pids never exist. */
#define FUZZ_RECORDED_PID_BASE 0x5a000000
#define FUZZ_NEVER_PID_BASE 0x6b000000
#define FUZZ_PID_MAX_LINUX 4194304
/* Buffer id used by the reset frames for the counter-compensating CB/KERNEL messages. */
#define FUZZ_RESET_ID 0xfffffffffffff000ull
#define FUZZ_MAX_CONNS 64
#define FUZZ_MAX_PROCS 4

#endif
