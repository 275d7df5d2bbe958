/* fuzz_stream: libFuzzer target for the .allocstream reader (harness/stream.c).
 *
 * Replayed files come from anywhere (fuzzer reproducers, imported logs, other machines), so
 * the parser must reject any damage with an error and never crash, read out of bounds or
 * leak. When a file is accepted, encoding the parsed stream must give back the same bytes:
 * the format has exactly one encoding of each stream, so anything else is a parser or encoder
 * bug even when nothing crashes. The input is also checked with its digest repaired, so that
 * the structural checks behind the digest are reached.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "mem.h"
#include "stream.h"

static void fuzz_stream_check(const uint8_t *data, size_t size) {
    stream s;
    char err[512];
    if (stream_parse(data, size, "fuzz", &s, err, sizeof err) != 0) {
        if (!err[0])
            abort(); /* every rejection says why */
        return;
    }
    uint8_t *again;
    size_t len;
    if (stream_encode(&s, &again, &len) != 0)
        abort();
    if (len != size || memcmp(again, data, size) != 0)
        abort();
    mem_free(again);
    stream_release(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_stream_check(data, size);
    if (size >= STREAM_HEADER_SIZE) {
        uint8_t *copy = malloc(size);
        if (!copy)
            return 0;
        memcpy(copy, data, size);
        uint64_t d = XXH3_64bits(copy + STREAM_HEADER_SIZE, size - STREAM_HEADER_SIZE);
        for (int i = 0; i < 8; i++)
            copy[48 + i] = (uint8_t)(d >> (8 * i));
        fuzz_stream_check(copy, size);
        free(copy);
    }
    return 0;
}
