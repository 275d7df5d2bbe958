/* generate_streams: writes the malformed .allocstream files of tests/bad/stream and their
 * .expect files. Not part of the build (the files are committed); to regenerate:
 *
 *   cc -std=c11 -o /tmp/generate_streams tests/bad/generate_streams.c -lxxhash
 *   /tmp/generate_streams tests/bad/stream
 *
 * Every file is built from the layout documented in harness/stream.h (a 56-byte header,
 * process entries, records), not with stream.c, so the expected messages and byte offsets
 * follow from the format itself.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <xxhash.h>

typedef struct {
    uint8_t d[8192];
    size_t n;
} buf;

static void put(buf *b, const void *p, size_t n) {
    memcpy(b->d + b->n, p, n);
    b->n += n;
}
static void put8(buf *b, uint8_t v) { put(b, &v, 1); }
static void put16(buf *b, uint16_t v) {
    for (int i = 0; i < 2; i++)
        put8(b, (uint8_t)(v >> (8 * i)));
}
static void put32(buf *b, uint32_t v) {
    for (int i = 0; i < 4; i++)
        put8(b, (uint8_t)(v >> (8 * i)));
}
static void put64(buf *b, uint64_t v) {
    for (int i = 0; i < 8; i++)
        put8(b, (uint8_t)(v >> (8 * i)));
}
static void set32(buf *b, size_t at, uint32_t v) {
    for (int i = 0; i < 4; i++)
        b->d[at + i] = (uint8_t)(v >> (8 * i));
}
static void set64(buf *b, size_t at, uint64_t v) {
    for (int i = 0; i < 8; i++)
        b->d[at + i] = (uint8_t)(v >> (8 * i));
}

static void header(buf *b, const char *rev, uint32_t frame_size, uint32_t nprocs, uint64_t nrecords) {
    b->n = 0;
    put(b, "ALLOCSTM", 8);
    put32(b, 1);
    put32(b, frame_size);
    char r[16] = {0};
    memcpy(r, rev, strlen(rev));
    put(b, r, 16);
    put32(b, nprocs);
    put32(b, 0);
    put64(b, nrecords);
    put64(b, 0); /* digest, set by seal */
}

static void proc(buf *b, int32_t pid, const char *name) {
    put32(b, (uint32_t)pid);
    put16(b, (uint16_t)strlen(name));
    put(b, name, strlen(name));
}

static void record(buf *b, uint8_t op, uint8_t flags, uint16_t id, const void *payload, uint32_t len) {
    put8(b, op);
    put8(b, flags);
    put16(b, id);
    put32(b, len);
    if (len)
        put(b, payload, len);
}

static void seal(buf *b) { set64(b, 48, XXH3_64bits(b->d + 56, b->n - 56)); }

/* A v72 ALLOC frame: type 1, device 0, 1 MiB DRAM, pid 4242, buffer id 0x20. */
static void alloc_frame(uint8_t f[72]) {
    memset(f, 0, 72);
    f[0] = 1;
    uint64_t size = 1u << 20;
    for (int i = 0; i < 8; i++)
        f[8 + i] = (uint8_t)(size >> (8 * i));
    uint32_t pid = 4242;
    for (int i = 0; i < 4; i++)
        f[20 + i] = (uint8_t)(pid >> (8 * i));
    f[24] = 0x20;
}

/* The good stream: one process "llama" that connects, allocates, fences, dumps, closes and
 * exits. Records start at byte 67 (56 + 4 + 2 + 5); offsets[i] is where record i starts. */
static size_t offsets[16];
static void good(buf *b, uint64_t nrecords_in_header) {
    header(b, "v72", 72, 1, nrecords_in_header);
    proc(b, 4242, "llama");
    uint8_t f[72], conn[2] = {0, 0};
    alloc_frame(f);
    size_t k = 0;
    offsets[k++] = b->n;
    record(b, 1, 0, 0, NULL, 0); /* SPAWN process 0 */
    offsets[k++] = b->n;
    record(b, 2, 0, 0, conn, 2); /* CONNECT connection 0 for process 0 */
    offsets[k++] = b->n;
    record(b, 3, 0, 0, f, 72); /* WRITE the ALLOC */
    offsets[k++] = b->n;
    record(b, 4, 0, 0, NULL, 0); /* FENCE */
    offsets[k++] = b->n;
    record(b, 9, 0, 0, NULL, 0); /* DUMP */
    offsets[k++] = b->n;
    record(b, 6, 0, 0, NULL, 0); /* CLOSE */
    offsets[k++] = b->n;
    record(b, 8, 0, 0, NULL, 0); /* EXIT */
    offsets[k++] = b->n;
}
#define GOOD_RECORDS 7

static const char *out_dir;

static void emit(const char *name, const buf *b, const char *comment, const char *error_fmt, ...)
    __attribute__((format(printf, 4, 5)));

#include <stdarg.h>
static void emit(const char *name, const buf *b, const char *comment, const char *error_fmt, ...) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", out_dir, name);
    if (b) {
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(b->d, 1, b->n, f) != b->n || fclose(f) != 0) {
            perror(path);
            exit(1);
        }
    }
    char msg[2048];
    va_list ap;
    va_start(ap, error_fmt);
    vsnprintf(msg, sizeof msg, error_fmt, ap);
    va_end(ap);
    snprintf(path, sizeof path, "%s/%s.expect", out_dir, name);
    FILE *f = fopen(path, "w");
    fprintf(f, "# %s\nerror ^allocsim replay: @FILE@: %s$\n", comment, msg);
    fclose(f);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: generate_streams DIR\n");
        return 2;
    }
    out_dir = argv[1];
    mkdir(out_dir, 0755);
    buf b;

    b.n = 0;
    emit("empty.allocstream", &b, "an empty file", "bad magic: expected ALLOCSTM, found ''");
    good(&b, GOOD_RECORDS);
    seal(&b);
    b.n = 30;
    emit("truncated_header.allocstream", &b, "a header cut after 30 bytes",
         "truncated header: expected 56 bytes, found 30");
    b.n = 5;
    emit("truncated_magic.allocstream", &b, "a file cut inside the magic", "bad magic: expected ALLOCSTM, found 'ALLOC'");

    good(&b, GOOD_RECORDS);
    b.d[7] = 'N';
    seal(&b);
    emit("bad_magic.allocstream", &b, "one letter of the magic changed",
         "bad magic: expected ALLOCSTM, found 'ALLOCSTN'");

    b.n = 0;
    put(&b, "mesh t3k trace_region_size=30000000\nprocess llama\n  open\n  dump\n", 60);
    emit("scenario_text.allocstream", &b, "a scenario saved under a stream's name",
         "bad magic: expected ALLOCSTM, found 'mesh t3k'");

    good(&b, GOOD_RECORDS);
    set32(&b, 8, 2);
    seal(&b);
    emit("wrong_version.allocstream", &b, "format version 2 (from a newer allocsim?)",
         "unsupported format version: expected 1, found 2");

    good(&b, GOOD_RECORDS);
    memcpy(b.d + 16, "v96", 3);
    seal(&b);
    emit("unknown_revision.allocstream", &b, "a revision name no server has",
         "unknown revision: expected one of v72, v112, v112-hex, v144, v144-256, found 'v96'");

    good(&b, GOOD_RECORDS);
    b.d[20] = 'x';
    seal(&b);
    emit("revision_not_padded.allocstream", &b, "bytes after the revision name's NUL",
         "bad revision field: expected NUL padding after 'v72', found 0x78 at byte 20");

    good(&b, GOOD_RECORDS);
    set32(&b, 36, 7);
    seal(&b);
    emit("reserved_not_zero.allocstream", &b, "the reserved header field is not 0", "bad reserved field: expected 0, found 7");

    good(&b, GOOD_RECORDS);
    memcpy(b.d + 16, "v144", 4);
    seal(&b);
    emit("frame_size_mismatch.allocstream", &b, "revision v144 with 72-byte frames",
         "bad frame size: expected 144 \\(revision v144\\), found 72");

    good(&b, GOOD_RECORDS);
    set32(&b, 32, 1000);
    seal(&b);
    emit("too_many_processes.allocstream", &b, "a process count larger than the file can hold",
         "bad process count: header says 1000 processes, but only %zu bytes follow the header \\(6 bytes per "
         "process at least\\)",
         b.n - 56);

    good(&b, GOOD_RECORDS);
    b.n = 56 + 8;
    emit("truncated_process.allocstream", &b, "a file cut inside the process name",
         "truncated process entry 0 at byte 56: expected 5 name bytes, found 2");

    good(&b, GOOD_RECORDS);
    b.d[56 + 6 + 2] = 0;
    seal(&b);
    emit("process_name_nul.allocstream", &b, "a NUL byte inside a process name",
         "process entry 0 at byte 56: expected a name without NUL bytes");

    good(&b, GOOD_RECORDS);
    b.n = offsets[3] + 4;
    emit("truncated_record_header.allocstream", &b, "a file cut inside a record header",
         "truncated record 3 at byte %zu: expected 8 header bytes, found 4", offsets[3]);

    good(&b, GOOD_RECORDS);
    b.n = offsets[2] + 8 + 20;
    emit("truncated_record_payload.allocstream", &b, "a file cut inside a WRITE frame (after 20 of 72 bytes)",
         "truncated record 2 at byte %zu: expected 72 payload bytes, found 20", offsets[2]);

    good(&b, GOOD_RECORDS + 3);
    seal(&b);
    emit("record_count_too_high.allocstream", &b, "the header promises 10 records, the file has 7",
         "truncated record 7 at byte %zu: expected 8 header bytes, found 0", offsets[7]);

    good(&b, GOOD_RECORDS);
    set32(&b, offsets[2] + 4, 0xffffffffu);
    seal(&b);
    emit("huge_record_length.allocstream", &b, "a record length of 4 GiB",
         "truncated record 2 at byte %zu: expected 4294967295 payload bytes, found %zu", offsets[2],
         b.n - offsets[2] - 8);

    good(&b, GOOD_RECORDS);
    b.d[offsets[3]] = 42;
    seal(&b);
    emit("unknown_op.allocstream", &b, "a record whose op is 42",
         "record 3 at byte %zu: expected an op between 1 \\(SPAWN\\) and 10 \\(SLEEP\\), found 42", offsets[3]);

    good(&b, GOOD_RECORDS);
    b.d[offsets[0]] = 0;
    seal(&b);
    emit("op_zero.allocstream", &b, "a record whose op is 0 (zeroed bytes)",
         "record 0 at byte %zu: expected an op between 1 \\(SPAWN\\) and 10 \\(SLEEP\\), found 0", offsets[0]);

    good(&b, GOOD_RECORDS);
    b.d[offsets[1] + 8] = 9;
    seal(&b);
    emit("connect_unknown_process.allocstream", &b, "a connection for process 9 of a one-process stream",
         "record 1 at byte %zu: CONNECT: expected a process index below 1, found 9", offsets[1]);

    good(&b, GOOD_RECORDS);
    b.d[offsets[0] + 2] = 3;
    seal(&b);
    emit("spawn_unknown_process.allocstream", &b, "SPAWN of process 3 of a one-process stream",
         "record 0 at byte %zu: SPAWN: expected a process index below 1, found 3", offsets[0]);

    {
        /* a DUMP record carrying 40 bytes instead of 0 or one 72-byte frame */
        header(&b, "v72", 72, 1, 3);
        proc(&b, 4242, "llama");
        uint8_t conn[2] = {0, 0}, junk[40] = {5};
        size_t at[3];
        at[0] = b.n;
        record(&b, 1, 0, 0, NULL, 0);
        at[1] = b.n;
        record(&b, 2, 0, 0, conn, 2);
        at[2] = b.n;
        record(&b, 9, 0, 0, junk, 40);
        seal(&b);
        emit("dump_frame_size.allocstream", &b, "a DUMP record with a 40-byte frame in a 72-byte revision",
             "record 2 at byte %zu: DUMP: expected a payload of 0 or 72 bytes, found 40", at[2]);
    }
    {
        header(&b, "v72", 72, 0, 1);
        size_t at = b.n;
        uint8_t ms[3] = {1, 0, 0};
        record(&b, 10, 0, 0, ms, 3);
        seal(&b);
        emit("sleep_payload.allocstream", &b, "a SLEEP record with a 3-byte payload",
             "record 0 at byte %zu: SLEEP: expected a payload of 4 bytes, found 3", at);
    }

    good(&b, GOOD_RECORDS);
    put(&b, "extra", 5);
    seal(&b);
    emit("trailing_data.allocstream", &b, "5 bytes after the last record",
         "trailing data: expected end of file after 7 records at byte %zu, found 5 more bytes", offsets[7]);

    good(&b, GOOD_RECORDS);
    seal(&b);
    uint64_t right = XXH3_64bits(b.d + 56, b.n - 56);
    set64(&b, 48, right ^ 1);
    emit("bad_digest.allocstream", &b, "a digest that does not match the content (one bit off)",
         "digest mismatch: header says 0x%016llx, content hashes to 0x%016llx", (unsigned long long)(right ^ 1),
         (unsigned long long)right);

    good(&b, GOOD_RECORDS);
    seal(&b);
    b.d[offsets[2] + 8 + 8] ^= 0x01; /* 1 MiB + 1 byte: a flipped bit in the ALLOC size */
    emit("flipped_payload_bit.allocstream", &b, "one bit of a frame flipped after the digest was written",
         "digest mismatch: header says 0x%016llx, content hashes to 0x%016llx", (unsigned long long)right,
         (unsigned long long)XXH3_64bits(b.d + 56, b.n - 56));

    {
        /* a directory named like a stream */
        char dir[4096], readme[4200];
        snprintf(dir, sizeof dir, "%s/directory.allocstream", out_dir);
        mkdir(dir, 0755);
        snprintf(readme, sizeof readme, "%s/README", dir);
        FILE *f = fopen(readme, "w");
        fputs("A directory named like a stream: allocsim replay must refuse it (../directory.allocstream.expect).\n", f);
        fclose(f);
        emit("directory.allocstream", NULL, "a directory given as the stream", "cannot read: Is a directory");
    }

    emit("missing.allocstream", NULL, "a stream that does not exist",
         "cannot open: No such file or directory");
    return 0;
}
