/* stream: building, validating, encoding, writing and parsing .allocstream files, and the
 * conversion of a simulated plan into a stream (the format is described in stream.h).
 *
 * Every integer is written and read byte by byte in little-endian order. A parsed file is
 * held whole in memory with all payloads copied into one array, so a stream that was loaded
 * and one that was built look the same to the runner. The parser never trusts a count from
 * the file for an allocation: it is bounded by the bytes actually present first.
 */
#include "stream.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <xxhash.h>

#include "framing.h"
#include "mem.h"

static const char *const op_names[] = {NULL,    "SPAWN", "CONNECT", "WRITE", "FENCE", "READ_REPLY",
                                       "CLOSE", "CRASH", "EXIT",    "DUMP",  "SLEEP"};

const char *stream_op_name(uint8_t op) {
    return op < sizeof op_names / sizeof op_names[0] ? op_names[op] : NULL;
}

/* ---- little-endian helpers --------------------------------------------------------------- */

#define put16 proto_le_put16
#define put32 proto_le_put32
#define put64 proto_le_put64
#define get16 proto_le_get16
#define get32 proto_le_get32
#define get64 proto_le_get64

/* ---- building ---------------------------------------------------------------------------- */

void stream_init(stream *s, proto_rev rev) {
    memset(s, 0, sizeof *s);
    s->rev = rev;
    s->frame_size = proto_rev_get(rev)->frame_size;
}

void stream_release(stream *s) {
    if (!s)
        return;
    for (uint32_t i = 0; i < s->nprocs; i++)
        mem_free(s->procs[i].name);
    mem_free(s->procs);
    mem_free(s->records);
    mem_free(s->payload);
    proto_rev rev = s->rev;
    stream_init(s, rev);
}

int stream_add_proc(stream *s, int32_t recorded_pid, const char *name) {
    if (s->nprocs >= 65535)
        return -1;
    if (s->nprocs == s->procs_cap) {
        size_t cap = s->procs_cap ? s->procs_cap * 2 : 8;
        stream_proc *p = mem_realloc(s->procs, cap * sizeof *p);
        if (!p)
            return -1;
        s->procs = p;
        s->procs_cap = cap;
    }
    char *copy = mem_strdup(name ? name : "");
    if (!copy)
        return -1;
    s->procs[s->nprocs].recorded_pid = recorded_pid;
    s->procs[s->nprocs].name = copy;
    return (int)s->nprocs++;
}

int stream_append(stream *s, uint8_t op, uint8_t flags, uint16_t id, const void *payload,
                  uint32_t len) {
    if (s->nrecords == s->records_cap) {
        size_t cap = s->records_cap ? s->records_cap * 2 : 64;
        stream_record *r = mem_realloc(s->records, cap * sizeof *r);
        if (!r)
            return -1;
        s->records = r;
        s->records_cap = cap;
    }
    if (s->payload_len + len > s->payload_cap) {
        size_t cap = s->payload_cap ? s->payload_cap : 1024;
        while (cap < s->payload_len + len)
            cap *= 2;
        uint8_t *p = mem_realloc(s->payload, cap);
        if (!p)
            return -1;
        s->payload = p;
        s->payload_cap = cap;
    }
    stream_record *r = &s->records[s->nrecords++];
    r->op = op;
    r->flags = flags;
    r->id = id;
    r->len = len;
    r->offset = s->payload_len;
    if (len)
        memcpy(s->payload + s->payload_len, payload, len);
    s->payload_len += len;
    return 0;
}

int stream_append_connect(stream *s, uint16_t conn, uint16_t proc) {
    uint8_t b[2];
    put16(b, proc);
    return stream_append(s, STREAM_OP_CONNECT, 0, conn, b, 2);
}

int stream_append_connect_client(stream *s, uint16_t conn, uint16_t proc, uint16_t frame_bytes) {
    uint8_t b[4];
    put16(b, proc);
    put16(b + 2, frame_bytes);
    return stream_append(s, STREAM_OP_CONNECT, 0, conn, b, 4);
}

int stream_append_frame(stream *s, uint16_t conn, const proto_msg *msg) {
    uint8_t frame[PROTO_MAX_FRAME];
    size_t n = proto_encode(s->rev, msg, frame);
    return stream_append(s, STREAM_OP_WRITE, 0, conn, frame, (uint32_t)n);
}

int stream_append_sleep(stream *s, uint32_t ms) {
    uint8_t b[4];
    put32(b, ms);
    return stream_append(s, STREAM_OP_SLEEP, 0, 0, b, 4);
}

/* ---- validation -------------------------------------------------------------------------- */

/* Checks one record's op, id and payload size; "expected X, found Y" into err. */
static int check_record(const stream *s, const stream_record *r, const uint8_t *payload,
                        char *err, size_t errlen) {
    const char *name = stream_op_name(r->op);
    if (!name) {
        snprintf(err, errlen, "expected an op between 1 (SPAWN) and 10 (SLEEP), found %u", r->op);
        return -1;
    }
    uint32_t want = 0;
    int any_len = 0;
    switch (r->op) {
    case STREAM_OP_SPAWN:
    case STREAM_OP_CRASH:
    case STREAM_OP_EXIT:
        if (r->id >= s->nprocs) {
            snprintf(err, errlen, "%s: expected a process index below %u, found %u", name,
                     s->nprocs, r->id);
            return -1;
        }
        break;
    case STREAM_OP_CONNECT:
        want = r->len == 4 ? 4 : 2; /* 4: a client of another struct size (stream.h) */
        if (r->len == 4 && get16(payload + 2) != 72 && get16(payload + 2) != 112 &&
            get16(payload + 2) != 128 && get16(payload + 2) != 144) {
            snprintf(err, errlen, "CONNECT: expected a client frame size of 72, 112, 128 or 144, found %u",
                     get16(payload + 2));
            return -1;
        }
        if ((r->len == 2 || r->len == 4) && get16(payload) >= s->nprocs) {
            snprintf(err, errlen, "CONNECT: expected a process index below %u, found %u",
                     s->nprocs, get16(payload));
            return -1;
        }
        break;
    case STREAM_OP_WRITE:
        any_len = 1;
        break;
    case STREAM_OP_DUMP:
        if (r->len != 0 && r->len != s->frame_size) {
            snprintf(err, errlen, "DUMP: expected a payload of 0 or %zu bytes, found %u",
                     s->frame_size, r->len);
            return -1;
        }
        any_len = 1;
        break;
    case STREAM_OP_SLEEP:
        want = 4;
        break;
    default:
        break;
    }
    if (!any_len && r->len != want) {
        snprintf(err, errlen, "%s: expected a payload of %u bytes, found %u", name, want, r->len);
        return -1;
    }
    return 0;
}

int stream_validate(const stream *s, char *err, size_t errlen) {
    char why[160];
    for (size_t i = 0; i < s->nrecords; i++) {
        const stream_record *r = &s->records[i];
        if (check_record(s, r, s->payload + r->offset, why, sizeof why) != 0) {
            snprintf(err, errlen, "record %zu: %s", i, why);
            return -1;
        }
    }
    return 0;
}

/* ---- encoding ---------------------------------------------------------------------------- */

static void encode_header(const stream *s, uint8_t *h, uint64_t nrecords, uint64_t digest) {
    memset(h, 0, STREAM_HEADER_SIZE);
    memcpy(h, STREAM_MAGIC, 8);
    put32(h + 8, STREAM_VERSION);
    put32(h + 12, (uint32_t)s->frame_size);
    const char *rev = proto_rev_get(s->rev)->name;
    memcpy(h + 16, rev, strnlen(rev, STREAM_REVISION_LEN));
    put32(h + 32, s->nprocs);
    put32(h + 36, 0);
    put64(h + 40, nrecords);
    put64(h + 48, digest);
}

static size_t proc_entry_size(const stream_proc *p) {
    size_t n = strlen(p->name);
    return 6 + (n > 65535 ? 65535 : n);
}

static size_t encode_proc(const stream_proc *p, uint8_t *out) {
    size_t n = strlen(p->name);
    if (n > 65535)
        n = 65535;
    put32(out, (uint32_t)p->recorded_pid);
    put16(out + 4, (uint16_t)n);
    memcpy(out + 6, p->name, n);
    return 6 + n;
}

static void encode_record_head(uint8_t op, uint8_t flags, uint16_t id, uint32_t len, uint8_t *out) {
    out[0] = op;
    out[1] = flags;
    put16(out + 2, id);
    put32(out + 4, len);
}

int stream_encode(stream *s, uint8_t **out, size_t *out_len) {
    size_t total = STREAM_HEADER_SIZE + s->nrecords * 8 + s->payload_len;
    for (uint32_t i = 0; i < s->nprocs; i++)
        total += proc_entry_size(&s->procs[i]);
    uint8_t *buf = mem_alloc(total);
    if (!buf)
        return -1;
    size_t pos = STREAM_HEADER_SIZE;
    for (uint32_t i = 0; i < s->nprocs; i++)
        pos += encode_proc(&s->procs[i], buf + pos);
    for (size_t i = 0; i < s->nrecords; i++) {
        const stream_record *r = &s->records[i];
        encode_record_head(r->op, r->flags, r->id, r->len, buf + pos);
        pos += 8;
        if (r->len)
            memcpy(buf + pos, s->payload + r->offset, r->len);
        pos += r->len;
    }
    s->digest = XXH3_64bits(buf + STREAM_HEADER_SIZE, total - STREAM_HEADER_SIZE);
    encode_header(s, buf, s->nrecords, s->digest);
    *out = buf;
    *out_len = total;
    return 0;
}

/* path + ".tmp" into buf; -1 if it does not fit. */
static int tmp_path(const char *path, char *buf, size_t len) {
    int n = snprintf(buf, len, "%s.tmp", path);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

int stream_save(stream *s, const char *path, char *err, size_t errlen) {
    char tmp[4096];
    if (tmp_path(path, tmp, sizeof tmp) != 0) {
        snprintf(err, errlen, "%s: path too long", path);
        return -1;
    }
    uint8_t *buf;
    size_t len;
    if (stream_encode(s, &buf, &len) != 0) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot create: %s", tmp, strerror(errno));
        mem_free(buf);
        return -1;
    }
    size_t w = fwrite(buf, 1, len, f);
    int werr = errno;
    mem_free(buf);
    if (fclose(f) != 0 || w != len) {
        snprintf(err, errlen, "%s: write failed: %s", tmp, strerror(werr));
        unlink(tmp);
        return -1;
    }
    if (rename(tmp, path) != 0) {
        snprintf(err, errlen, "%s: cannot rename from %s: %s", path, tmp, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* ---- incremental writer ------------------------------------------------------------------ */

struct stream_writer {
    FILE *f;
    char *path;
    char *tmp;
    stream meta; /* revision and processes only */
    uint64_t nrecords;
    int started; /* header + processes written */
    XXH3_state_t *hash;
    char err[256];
};

static void writer_fail(stream_writer *w, const char *what) {
    if (!w->err[0])
        snprintf(w->err, sizeof w->err, "%s: %s: %s", w->tmp, what, strerror(errno));
}

stream_writer *stream_writer_open(const char *path, proto_rev rev, char *err, size_t errlen) {
    stream_writer *w = mem_calloc(1, sizeof *w);
    char tmp[4096];
    if (!w || tmp_path(path, tmp, sizeof tmp) != 0) {
        snprintf(err, errlen, "%s: %s", path, w ? "path too long" : "out of memory");
        mem_free(w);
        return NULL;
    }
    stream_init(&w->meta, rev);
    w->path = mem_strdup(path);
    w->tmp = mem_strdup(tmp);
    w->hash = XXH3_createState();
    if (!w->path || !w->tmp || !w->hash) {
        snprintf(err, errlen, "%s: out of memory", path);
        stream_writer_abort(w);
        return NULL;
    }
    XXH3_64bits_reset(w->hash);
    w->f = fopen(tmp, "wb");
    if (!w->f) {
        snprintf(err, errlen, "%s: cannot create: %s", tmp, strerror(errno));
        stream_writer_abort(w);
        return NULL;
    }
    return w;
}

int stream_writer_add_proc(stream_writer *w, int32_t recorded_pid, const char *name) {
    if (w->err[0] || w->started)
        return -1;
    int idx = stream_add_proc(&w->meta, recorded_pid, name);
    if (idx < 0 && !w->err[0])
        snprintf(w->err, sizeof w->err, "%s: cannot add process (out of memory or 65535 reached)",
                 w->path);
    return idx;
}

/* Hashes and writes bytes that follow the header. */
static void writer_emit(stream_writer *w, const uint8_t *b, size_t len) {
    if (w->err[0] || len == 0)
        return;
    XXH3_64bits_update(w->hash, b, len);
    if (fwrite(b, 1, len, w->f) != len)
        writer_fail(w, "write failed");
}

static void writer_start(stream_writer *w) {
    if (w->started)
        return;
    w->started = 1;
    uint8_t h[STREAM_HEADER_SIZE];
    encode_header(&w->meta, h, 0, 0); /* rewritten by finish */
    if (fwrite(h, 1, sizeof h, w->f) != sizeof h)
        writer_fail(w, "write failed");
    for (uint32_t i = 0; i < w->meta.nprocs; i++) {
        uint8_t e[6 + 65535];
        size_t n = encode_proc(&w->meta.procs[i], e);
        writer_emit(w, e, n);
    }
}

int stream_writer_append(stream_writer *w, uint8_t op, uint8_t flags, uint16_t id,
                         const void *payload, uint32_t len) {
    if (w->err[0])
        return -1;
    writer_start(w);
    uint8_t head[8];
    encode_record_head(op, flags, id, len, head);
    writer_emit(w, head, 8);
    writer_emit(w, payload, len);
    if (w->err[0])
        return -1;
    w->nrecords++;
    return 0;
}

int stream_writer_finish(stream_writer *w, char *err, size_t errlen) {
    writer_start(w);
    if (!w->err[0]) {
        uint8_t h[STREAM_HEADER_SIZE];
        encode_header(&w->meta, h, w->nrecords, XXH3_64bits_digest(w->hash));
        if (fflush(w->f) != 0 || fseek(w->f, 0, SEEK_SET) != 0 ||
            fwrite(h, 1, sizeof h, w->f) != sizeof h)
            writer_fail(w, "write failed");
    }
    if (!w->err[0]) {
        int rc = fclose(w->f);
        w->f = NULL;
        if (rc != 0)
            writer_fail(w, "write failed");
        else if (rename(w->tmp, w->path) != 0)
            snprintf(w->err, sizeof w->err, "%s: cannot rename from %s: %s", w->path, w->tmp,
                     strerror(errno));
    }
    if (w->err[0]) {
        snprintf(err, errlen, "%s", w->err);
        stream_writer_abort(w);
        return -1;
    }
    stream_writer_abort(w); /* frees; the temporary name no longer exists */
    return 0;
}

void stream_writer_abort(stream_writer *w) {
    if (!w)
        return;
    if (w->f) {
        fclose(w->f);
        unlink(w->tmp);
    }
    if (w->hash)
        XXH3_freeState(w->hash);
    stream_release(&w->meta);
    mem_free(w->path);
    mem_free(w->tmp);
    mem_free(w);
}

/* ---- parsing ----------------------------------------------------------------------------- */

/* Printable rendering of untrusted bytes for messages: printable ASCII kept, others \xNN. */
static void quote_bytes(const uint8_t *b, size_t n, char *out, size_t outlen) {
    size_t o = 0;
    for (size_t i = 0; i < n && o + 5 < outlen; i++) {
        if (b[i] >= 0x20 && b[i] < 0x7f && b[i] != '\'' && b[i] != '\\')
            out[o++] = (char)b[i];
        else
            o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", b[i]);
    }
    out[o] = '\0';
}

int stream_parse(const uint8_t *data, size_t len, const char *name, stream *out, char *err,
                 size_t errlen) {
    stream_init(out, PROTO_V72);
    if (len < STREAM_HEADER_SIZE) {
        char q[64];
        quote_bytes(data, len < 8 ? len : 8, q, sizeof q);
        if (len < 8 || memcmp(data, STREAM_MAGIC, 8) != 0)
            snprintf(err, errlen, "%s: bad magic: expected ALLOCSTM, found '%s'", name, q);
        else
            snprintf(err, errlen, "%s: truncated header: expected %d bytes, found %zu", name,
                     STREAM_HEADER_SIZE, len);
        return -1;
    }
    if (memcmp(data, STREAM_MAGIC, 8) != 0) {
        char q[64];
        quote_bytes(data, 8, q, sizeof q);
        snprintf(err, errlen, "%s: bad magic: expected ALLOCSTM, found '%s'", name, q);
        return -1;
    }
    uint32_t version = get32(data + 8);
    if (version != STREAM_VERSION) {
        snprintf(err, errlen, "%s: unsupported format version: expected %d, found %u", name,
                 STREAM_VERSION, version);
        return -1;
    }
    char rev_name[STREAM_REVISION_LEN + 1];
    memcpy(rev_name, data + 16, STREAM_REVISION_LEN);
    rev_name[STREAM_REVISION_LEN] = '\0';
    proto_rev rev;
    if (proto_rev_parse(rev_name, &rev) != 0) {
        char q[80];
        quote_bytes((const uint8_t *)rev_name, strlen(rev_name), q, sizeof q);
        snprintf(err, errlen, "%s: unknown revision: expected one of %s, found '%s'", name,
                 proto_rev_names(), q);
        return -1;
    }
    for (size_t i = strlen(rev_name); i < STREAM_REVISION_LEN; i++) {
        if (data[16 + i] != 0) {
            snprintf(err, errlen,
                     "%s: bad revision field: expected NUL padding after '%s', found 0x%02x at byte %zu",
                     name, rev_name, data[16 + i], 16 + i);
            return -1;
        }
    }
    if (get32(data + 36) != 0) {
        snprintf(err, errlen, "%s: bad reserved field: expected 0, found %u", name, get32(data + 36));
        return -1;
    }
    uint32_t frame_size = get32(data + 12);
    if (frame_size != proto_rev_get(rev)->frame_size) {
        snprintf(err, errlen, "%s: bad frame size: expected %zu (revision %s), found %u", name,
                 proto_rev_get(rev)->frame_size, rev_name, frame_size);
        return -1;
    }
    stream_init(out, rev);
    uint32_t nprocs = get32(data + 32);
    uint64_t nrecords = get64(data + 40);
    uint64_t digest = get64(data + 48);
    size_t pos = STREAM_HEADER_SIZE;
    if (nprocs > 65535 || nprocs > (len - pos) / 6) {
        snprintf(err, errlen,
                 "%s: bad process count: header says %u processes, but only %zu bytes follow the "
                 "header (6 bytes per process at least)",
                 name, nprocs, len - pos);
        return -1;
    }
    for (uint32_t i = 0; i < nprocs; i++) {
        if (len - pos < 6) {
            snprintf(err, errlen, "%s: truncated process entry %u at byte %zu: expected 6 bytes, found %zu",
                     name, i, pos, len - pos);
            goto fail;
        }
        int32_t pid = (int32_t)get32(data + pos);
        uint16_t nlen = get16(data + pos + 4);
        if (len - pos - 6 < nlen) {
            snprintf(err, errlen,
                     "%s: truncated process entry %u at byte %zu: expected %u name bytes, found %zu",
                     name, i, pos, nlen, len - pos - 6);
            goto fail;
        }
        if (memchr(data + pos + 6, '\0', nlen)) {
            snprintf(err, errlen, "%s: process entry %u at byte %zu: expected a name without NUL bytes",
                     name, i, pos);
            goto fail;
        }
        char *nm = mem_strndup((const char *)data + pos + 6, nlen);
        if (!nm || stream_add_proc(out, pid, nm) < 0) {
            mem_free(nm);
            snprintf(err, errlen, "%s: out of memory", name);
            goto fail;
        }
        mem_free(nm);
        pos += 6 + (size_t)nlen;
    }
    for (uint64_t i = 0; i < nrecords; i++) {
        if (len - pos < 8) {
            snprintf(err, errlen, "%s: truncated record %llu at byte %zu: expected 8 header bytes, found %zu",
                     name, (unsigned long long)i, pos, len - pos);
            goto fail;
        }
        uint8_t op = data[pos], flags = data[pos + 1];
        uint16_t id = get16(data + pos + 2);
        uint32_t rlen = get32(data + pos + 4);
        if (len - pos - 8 < rlen) {
            snprintf(err, errlen,
                     "%s: truncated record %llu at byte %zu: expected %u payload bytes, found %zu",
                     name, (unsigned long long)i, pos, rlen, len - pos - 8);
            goto fail;
        }
        if (stream_append(out, op, flags, id, data + pos + 8, rlen) != 0) {
            snprintf(err, errlen, "%s: out of memory", name);
            goto fail;
        }
        char why[160];
        if (check_record(out, &out->records[out->nrecords - 1], data + pos + 8, why, sizeof why) != 0) {
            snprintf(err, errlen, "%s: record %llu at byte %zu: %s", name, (unsigned long long)i,
                     pos, why);
            goto fail;
        }
        pos += 8 + (size_t)rlen;
    }
    if (pos != len) {
        snprintf(err, errlen, "%s: trailing data: expected end of file after %llu records at byte %zu, found %zu more bytes",
                 name, (unsigned long long)nrecords, pos, len - pos);
        goto fail;
    }
    uint64_t actual = XXH3_64bits(data + STREAM_HEADER_SIZE, len - STREAM_HEADER_SIZE);
    if (actual != digest) {
        snprintf(err, errlen, "%s: digest mismatch: header says 0x%016llx, content hashes to 0x%016llx",
                 name, (unsigned long long)digest, (unsigned long long)actual);
        goto fail;
    }
    out->digest = digest;
    return 0;
fail:
    stream_release(out);
    return -1;
}

int stream_load(const char *path, stream *out, char *err, size_t errlen) {
    stream_init(out, PROTO_V72);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 65536;
            uint8_t *n = mem_realloc(buf, ncap);
            if (!n) {
                fclose(f);
                mem_free(buf);
                snprintf(err, errlen, "%s: out of memory", path);
                return -1;
            }
            buf = n;
            cap = ncap;
        }
        errno = 0;
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    int rerr = ferror(f) ? (errno ? errno : EIO) : 0; /* a directory: EISDIR */
    fclose(f);
    if (rerr) {
        mem_free(buf);
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(rerr));
        return -1;
    }
    int rc = stream_parse(buf, len, path, out, err, errlen);
    mem_free(buf);
    return rc;
}

/* ---- plan conversion --------------------------------------------------------------------- */

int stream_from_plan(const plan *p, stream *out, char *err, size_t errlen) {
    stream_init(out, p->rev);
    if (p->nprocs < 0 || p->nprocs > 65535) {
        snprintf(err, errlen, "plan: expected at most 65535 processes, found %d", p->nprocs);
        return -1;
    }
    for (int i = 0; i < p->nprocs; i++)
        if (stream_add_proc(out, p->sim_pid[i], p->proc_names ? p->proc_names[i] : NULL) < 0)
            goto oom;
    /* dirty[c]: connection c has writes whose processing nothing has confirmed yet; open[c]:
     * it is open; wire[c]: its client frame size when it is misframed (plan_step.wire_bytes),
     * else 0. A misframed connection cannot be fenced (a QUERY would be misframed too): it is
     * settled by closing it (the server has handled every byte once it closes its side), and
     * the process's next frame opens a new connection, as sim/scn_run.c models it. */
    uint8_t *dirty = mem_calloc((size_t)p->nprocs + 1, 3);
    uint16_t *wire = mem_calloc((size_t)p->nprocs + 1, sizeof *wire);
    if (!dirty || !wire) {
        mem_free(dirty);
        mem_free(wire);
        goto oom;
    }
    uint8_t *open = dirty + p->nprocs + 1;
    int last = -1; /* connection written last */
    int rc = 0;
#define EMIT(expr)                                                                             \
    do {                                                                                       \
        if ((expr) != 0) {                                                                     \
            rc = -1;                                                                           \
            goto done;                                                                         \
        }                                                                                      \
    } while (0)
#define SETTLE(k)                                                                              \
    do {                                                                                       \
        if (wire[k]) {                                                                         \
            EMIT(stream_append(out, STREAM_OP_CLOSE, 0, (uint16_t)(k), NULL, 0));              \
            open[k] = 0;                                                                       \
        } else {                                                                               \
            EMIT(stream_append(out, STREAM_OP_FENCE, 0, (uint16_t)(k), NULL, 0));              \
        }                                                                                      \
        dirty[k] = 0;                                                                          \
    } while (0)
    for (size_t i = 0; i < p->nsteps; i++) {
        const plan_step *st = &p->steps[i];
        if (st->kind == PLAN_PHASE || st->kind == PLAN_OPEN || st->kind == PLAN_CLOSE)
            continue; /* nothing on the wire (OPEN / CLOSE are for the SHM transport) */
        if (st->proc < 0 || st->proc >= p->nprocs) {
            snprintf(err, errlen, "plan step %zu: expected a process index below %d, found %d", i,
                     p->nprocs, st->proc);
            mem_free(dirty);
            mem_free(wire);
            stream_release(out);
            return -1;
        }
        uint16_t c = (uint16_t)st->proc;
        uint8_t frame[PROTO_MAX_FRAME];
        switch (st->kind) {
        case PLAN_SPAWN:
            EMIT(stream_append(out, STREAM_OP_SPAWN, 0, c, NULL, 0));
            EMIT(stream_append_connect(out, c, c));
            open[c] = 1;
            wire[c] = 0;
            break;
        case PLAN_SEND:
            if (last >= 0 && dirty[last] && (last != c || wire[c] != st->wire_bytes))
                SETTLE(last);
            if (open[c] && wire[c] != st->wire_bytes) { /* another struct size: reconnect */
                EMIT(stream_append(out, STREAM_OP_CLOSE, 0, c, NULL, 0));
                open[c] = 0;
            }
            if (!open[c]) {
                EMIT(st->wire_bytes ? stream_append_connect_client(out, c, c, st->wire_bytes)
                                    : stream_append_connect(out, c, c));
                open[c] = 1;
                wire[c] = st->wire_bytes;
            }
            if (st->wire_bytes) {
                size_t n = framing_encode_client(st->wire_bytes, &st->msg, frame);
                EMIT(n == 0 || stream_append(out, STREAM_OP_WRITE, 0, c, frame, (uint32_t)n));
            } else {
                EMIT(stream_append_frame(out, c, &st->msg));
            }
            dirty[c] = 1;
            last = c;
            if (st->has_reply) {
                /* The reply proves every earlier frame on c was handled. */
                EMIT(stream_append(out, STREAM_OP_READ_REPLY, 0, c, NULL, 0));
                dirty[c] = 0;
            }
            break;
        case PLAN_DUMP:
            if (last >= 0 && dirty[last])
                SETTLE(last);
            if (!open[c] || wire[c]) { /* the harness's dump goes on a correctly framed connection */
                if (open[c])
                    EMIT(stream_append(out, STREAM_OP_CLOSE, 0, c, NULL, 0));
                EMIT(stream_append_connect(out, c, c));
                open[c] = 1;
                wire[c] = 0;
            }
            proto_encode(p->rev, &st->msg, frame);
            EMIT(stream_append(out, STREAM_OP_DUMP, 0, c, frame, (uint32_t)out->frame_size));
            dirty[c] = 0;
            last = c;
            break;
        case PLAN_CRASH:
        case PLAN_EXIT:
            if (dirty[c])
                SETTLE(c);
            if (open[c])
                EMIT(stream_append(out, STREAM_OP_CLOSE, 0, c, NULL, 0));
            open[c] = 0;
            EMIT(stream_append(out, st->kind == PLAN_CRASH ? STREAM_OP_CRASH : STREAM_OP_EXIT, 0,
                               c, NULL, 0));
            if (last == c)
                last = -1;
            break;
        case PLAN_PHASE:
        case PLAN_OPEN:
        case PLAN_CLOSE:
            break;
        }
    }
#undef SETTLE
#undef EMIT
done:
    mem_free(dirty);
    mem_free(wire);
    if (rc == 0)
        return 0;
oom:
    stream_release(out);
    snprintf(err, errlen, "plan: out of memory while converting to a stream");
    return -1;
}
