/* fuzz: stream generation, the oracle model, failure signatures, the minimiser and the text
 * rendering of reproducers (the pure half of `allocsim fuzz`; see fuzz.h).
 *
 * The generator is stateful: it keeps a model of the server (the same one the executor uses
 * as its oracle) so that frees hit live buffers, storms hit live keys, fences go where order
 * across connections matters, and a connection left misaligned by garbage is realigned before
 * a real frame follows. Its only source of randomness is sim/rng.h (xoshiro256**), seeded from
 * the campaign seed and the stream number; it never asks the operating system anything, so a
 * seed reproduces the same bytes anywhere.
 */
#include "fuzz.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mem.h"
#include "rng.h"

/* ---- little helpers ------------------------------------------------------------------------- */

/* Percent chance, for readability of the generator's weights. */
static int gen_chance(rng *r, unsigned percent) { return rng_below(r, 100) < percent; }

static int rev_is_v144(proto_rev rev) { return proto_rev_get(rev)->frame_size == 144; }

/* The payload of record r, or NULL for an empty stream (no NULL + offset arithmetic). */
static const uint8_t *rec_bytes(const stream *s, const stream_record *r) {
    return s->payload ? s->payload + r->offset : NULL;
}

/* memcpy that accepts n == 0 with NULL pointers. */
static void copy_bytes(void *dst, const void *src, size_t n) {
    if (n)
        memcpy(dst, src, n);
}

/* Offset of process_id in every layout (protocol.md §2.2). */
#define FUZZ_PID_OFFSET 20
/* Ten bad type bytes in a row close a v144 connection (protocol.md §3.3). */
#define FUZZ_MAX_CONSECUTIVE_ERRORS 10
/* Larger than any pid_max Linux allows (2^22), so these pids never exist. */
#define FUZZ_RECORDED_PID_BASE 0x5a000000
#define FUZZ_NEVER_PID_BASE 0x6b000000
#define FUZZ_PID_MAX_LINUX 4194304
/* Buffer id used by the reset frames for the counter-compensating CB/KERNEL messages. */
#define FUZZ_RESET_ID 0xfffffffffffff000ull
#define FUZZ_MAX_CONNS 64
#define FUZZ_MAX_PROCS 4

/* ---- features -------------------------------------------------------------------------------- */

static const char *const feature_names[FUZZ_F_COUNT] = {
    "refcount", "query", "dump", "multi", "death", "badfree", "baddev", "badtype", "sizes",
    "badmsg", "cbkernel", "reconnect", "split", "merge", "truncate", "earlyclose", "garbage"};

const char *fuzz_feature_name(unsigned bit) { return bit < FUZZ_F_COUNT ? feature_names[bit] : "?"; }

void fuzz_features_format(unsigned mask, char *buf, size_t n) {
    if (n == 0)
        return;
    buf[0] = '\0';
    size_t used = 0;
    for (unsigned b = 0; b < FUZZ_F_COUNT; b++) {
        if (!(mask & (1u << b)))
            continue;
        int k = snprintf(buf + used, n - used, "%s%s", used ? "," : "", feature_names[b]);
        if (k < 0 || (size_t)k >= n - used)
            return;
        used += (size_t)k;
    }
    if (used == 0)
        snprintf(buf, n, "none");
}

int fuzz_features_parse(const char *list, unsigned *mask, char *err, size_t errlen) {
    unsigned m = 0;
    int first = 1;
    const char *p = list;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        int remove = len > 0 && p[0] == '-';
        const char *name = remove ? p + 1 : p;
        size_t nlen = remove ? len - 1 : len;
        unsigned bits = 0;
        if (nlen == 3 && strncmp(name, "all", 3) == 0)
            bits = FUZZ_F_ALL;
        else if (nlen == 9 && strncmp(name, "transport", 9) == 0)
            bits = FUZZ_F_TRANSPORT;
        else
            for (unsigned b = 0; b < FUZZ_F_COUNT; b++)
                if (strlen(feature_names[b]) == nlen && strncmp(name, feature_names[b], nlen) == 0)
                    bits = 1u << b;
        if (!bits) {
            snprintf(err, errlen,
                     "expected a feature name (all, transport, refcount, query, dump, multi, death, "
                     "badfree, baddev, badtype, sizes, badmsg, cbkernel, reconnect, split, merge, "
                     "truncate, earlyclose, garbage), found '%.*s'",
                     (int)len, p);
            return -1;
        }
        if (remove) {
            if (first)
                m = FUZZ_F_ALL;
            m &= ~bits;
        } else {
            m |= bits;
        }
        first = 0;
        p = end ? end + 1 : p + len;
    }
    *mask = m;
    return 0;
}

/* ---- the model ------------------------------------------------------------------------------- */

typedef struct {
    uint8_t kind;
    uint8_t frame[PROTO_MAX_FRAME];
} model_reply;

typedef struct {
    int used;
    int open;
    int server_closed;
    int proc;
    size_t have;
    uint8_t buf[PROTO_MAX_FRAME];
    int errors; /* consecutive bad type bytes (v144) */
    int last_replied;
    model_reply *replies;
    size_t rhead, rcount, rcap;
} model_conn;

/* The v144 CB and kernel registries, shadowed because the ledger has no accessor for them
 * and the reset frames must name every live entry. */
typedef struct {
    int32_t device_id;
    uint64_t id;
    int32_t pid;
} model_key;

typedef struct {
    model_key *v;
    size_t n, cap;
} model_keys;

struct fuzz_model {
    proto_rev rev;
    size_t frame_size;
    int max_devices;
    unsigned faults;
    ledger *l;
    ledger_dead_fn is_dead;
    void *dead_ctx;
    model_conn *conns;
    size_t nconns;
    model_conn control; /* FUZZ_CONN_CONTROL, kept apart from the dense array */
    char **dumps;
    size_t ndumps, dumps_cap;
    int capturing;
    sbuf cur_dump;
    model_keys cbs, kernels;
    int oom;
};

static void model_emit(void *ctx, ledger_stream stream, const char *line, size_t len) {
    fuzz_model *m = ctx;
    if (!m->capturing || stream != LEDGER_STDOUT)
        return;
    sbuf_append(&m->cur_dump, line, len);
    sbuf_putc(&m->cur_dump, '\n');
}

static int model_dead(void *ctx, int32_t pid) {
    fuzz_model *m = ctx;
    return m->is_dead ? m->is_dead(m->dead_ctx, pid) : 0;
}

static int model_make_ledger(fuzz_model *m) {
    ledger_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.rev = m->rev;
    cfg.emit = model_emit;
    cfg.emit_ctx = m;
    cfg.is_dead = model_dead;
    cfg.dead_ctx = m;
    cfg.faults = m->faults;
    m->l = ledger_new(&cfg);
    return m->l ? 0 : -1;
}

fuzz_model *fuzz_model_new(proto_rev rev, unsigned faults) {
    fuzz_model *m = mem_calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->rev = rev;
    m->frame_size = proto_rev_get(rev)->frame_size;
    m->max_devices = proto_rev_get(rev)->max_devices;
    m->faults = faults;
    if (model_make_ledger(m) != 0) {
        mem_free(m);
        return NULL;
    }
    return m;
}

static void model_clear(fuzz_model *m) {
    for (size_t i = 0; i < m->nconns; i++)
        mem_free(m->conns[i].replies);
    mem_free(m->control.replies);
    memset(&m->control, 0, sizeof m->control);
    mem_free(m->conns);
    m->conns = NULL;
    m->nconns = 0;
    for (size_t i = 0; i < m->ndumps; i++)
        mem_free(m->dumps[i]);
    mem_free(m->dumps);
    m->dumps = NULL;
    m->ndumps = m->dumps_cap = 0;
    sbuf_release(&m->cur_dump);
    mem_free(m->cbs.v);
    mem_free(m->kernels.v);
    memset(&m->cbs, 0, sizeof m->cbs);
    memset(&m->kernels, 0, sizeof m->kernels);
    m->capturing = 0;
    m->oom = 0;
}

void fuzz_model_free(fuzz_model *m) {
    if (!m)
        return;
    model_clear(m);
    ledger_free(m->l);
    mem_free(m);
}

int fuzz_model_reset(fuzz_model *m) {
    model_clear(m);
    ledger_free(m->l);
    m->l = NULL;
    return model_make_ledger(m);
}

void fuzz_model_set_liveness(fuzz_model *m, ledger_dead_fn is_dead, void *ctx) {
    m->is_dead = is_dead;
    m->dead_ctx = ctx;
}

ledger *fuzz_model_ledger(fuzz_model *m) { return m->l; }

static model_conn *model_conn_get(const fuzz_model *m, uint16_t conn) {
    if (conn == FUZZ_CONN_CONTROL)
        return m->control.used ? (model_conn *)&m->control : NULL;
    return conn < m->nconns && m->conns[conn].used ? &m->conns[conn] : NULL;
}

int fuzz_model_connect(fuzz_model *m, uint16_t conn, int proc) {
    if (conn != FUZZ_CONN_CONTROL && conn >= m->nconns) {
        size_t n = (size_t)conn + 1;
        if (n < m->nconns * 2)
            n = m->nconns * 2;
        model_conn *c = mem_realloc(m->conns, n * sizeof *c);
        if (!c)
            return -1;
        memset(c + m->nconns, 0, (n - m->nconns) * sizeof *c);
        m->conns = c;
        m->nconns = n;
    }
    model_conn *c = conn == FUZZ_CONN_CONTROL ? &m->control : &m->conns[conn];
    model_reply *keep = c->replies;
    size_t keep_cap = c->rcap;
    memset(c, 0, sizeof *c);
    c->replies = keep;
    c->rcap = keep_cap;
    c->used = 1;
    c->open = 1;
    c->proc = proc;
    return 0;
}

void fuzz_model_close(fuzz_model *m, uint16_t conn) {
    model_conn *c = model_conn_get(m, conn);
    if (!c)
        return;
    c->open = 0;
    c->have = 0;
    c->rhead = c->rcount = 0;
}

fuzz_conn_state fuzz_model_conn(const fuzz_model *m, uint16_t conn) {
    fuzz_conn_state st = {0, 0, 0, 0, -1, 0};
    const model_conn *c = model_conn_get(m, conn);
    if (!c)
        return st;
    st.open = c->open;
    st.server_closed = c->server_closed;
    st.pending = c->have;
    st.replies = c->rcount;
    st.proc = c->proc;
    st.last_replied = c->last_replied;
    return st;
}

static int model_queue_reply(model_conn *c, uint8_t kind, const uint8_t *frame, size_t fs) {
    if (c->rhead + c->rcount == c->rcap) {
        if (c->rhead > 0) {
            memmove(c->replies, c->replies + c->rhead, c->rcount * sizeof *c->replies);
            c->rhead = 0;
        } else {
            size_t n = c->rcap ? c->rcap * 2 : 4;
            model_reply *r = mem_realloc(c->replies, n * sizeof *r);
            if (!r)
                return -1;
            c->replies = r;
            c->rcap = n;
        }
    }
    model_reply *r = &c->replies[c->rhead + c->rcount++];
    r->kind = kind;
    memcpy(r->frame, frame, fs);
    return 0;
}

int fuzz_model_pop_reply(fuzz_model *m, uint16_t conn, uint8_t *frame, uint8_t *kind) {
    model_conn *c = model_conn_get(m, conn);
    if (!c || c->rcount == 0)
        return 0;
    model_reply *r = &c->replies[c->rhead++];
    c->rcount--;
    if (c->rcount == 0)
        c->rhead = 0;
    memcpy(frame, r->frame, m->frame_size);
    if (kind)
        *kind = r->kind;
    return 1;
}

size_t fuzz_model_dump_count(const fuzz_model *m) { return m->ndumps; }

const char *fuzz_model_dump_text(const fuzz_model *m, size_t i) {
    return i < m->ndumps ? m->dumps[i] : NULL;
}

void fuzz_model_drop_dumps(fuzz_model *m, size_t n) {
    if (n > m->ndumps)
        n = m->ndumps;
    if (n == 0)
        return;
    for (size_t i = 0; i < n; i++)
        mem_free(m->dumps[i]);
    memmove(m->dumps, m->dumps + n, (m->ndumps - n) * sizeof *m->dumps);
    m->ndumps -= n;
}

/* ---- shadow CB / kernel registries ---------------------------------------------------------- */

static model_key *keys_find(model_keys *k, int32_t dev, uint64_t id) {
    for (size_t i = 0; i < k->n; i++)
        if (k->v[i].device_id == dev && k->v[i].id == id)
            return &k->v[i];
    return NULL;
}

static int keys_set(model_keys *k, int32_t dev, uint64_t id, int32_t pid) {
    model_key *e = keys_find(k, dev, id);
    if (e) {
        e->pid = pid;
        return 0;
    }
    if (k->n == k->cap) {
        size_t n = k->cap ? k->cap * 2 : 8;
        model_key *v = mem_realloc(k->v, n * sizeof *v);
        if (!v)
            return -1;
        k->v = v;
        k->cap = n;
    }
    k->v[k->n].device_id = dev;
    k->v[k->n].id = id;
    k->v[k->n].pid = pid;
    k->n++;
    return 0;
}

static void keys_erase(model_keys *k, int32_t dev, uint64_t id) {
    model_key *e = keys_find(k, dev, id);
    if (e)
        *e = k->v[--k->n];
}

static void keys_drop_dead(fuzz_model *m, model_keys *k) {
    for (size_t i = 0; i < k->n;) {
        if (model_dead(m, k->v[i].pid))
            k->v[i] = k->v[--k->n];
        else
            i++;
    }
}

/* Mirrors ledger's v144 CB/kernel handling on the shadow registries (protocol.md §4.6). */
static int model_shadow(fuzz_model *m, const proto_msg *msg) {
    if (!rev_is_v144(m->rev) || msg->device_id < 0 || msg->device_id >= m->max_devices)
        return 0;
    switch (msg->type) {
    case PROTO_CB_ALLOC:
        return keys_set(&m->cbs, msg->device_id, msg->buffer_id, msg->process_id);
    case PROTO_CB_FREE:
        keys_erase(&m->cbs, msg->device_id, msg->buffer_id);
        return 0;
    case PROTO_KERNEL_LOAD:
        return keys_set(&m->kernels, msg->device_id, msg->buffer_id, msg->process_id);
    case PROTO_KERNEL_UNLOAD:
        keys_erase(&m->kernels, msg->device_id, msg->buffer_id);
        return 0;
    default:
        return 0;
    }
}

/* ---- framing --------------------------------------------------------------------------------- */

static int model_type_ok(const fuzz_model *m, uint8_t t) {
    return !rev_is_v144(m->rev) || (t >= 1 && t <= PROTO_DUMP_KERNELS);
}

/* Applies the complete frame in c->buf. Returns 1 when it was handled, 0 when the transport
 * dropped its first byte (v144 resync), -1 when out of memory. */
static int model_apply_frame(fuzz_model *m, model_conn *c) {
    proto_msg msg, reply;
    proto_decode(m->rev, c->buf, m->frame_size, &msg);
    int dump = msg.type == PROTO_DUMP_REMAINING && model_type_ok(m, msg.type);
    if (dump) {
        sbuf_reset(&m->cur_dump);
        m->capturing = 1;
    }
    int r = ledger_apply(m->l, &msg, &reply);
    m->capturing = 0;
    if (r < 0)
        return -1;
    if (r == LEDGER_RESYNC) {
        if (++c->errors >= FUZZ_MAX_CONSECUTIVE_ERRORS) {
            c->server_closed = 1;
            c->have = 0;
            return 0;
        }
        memmove(c->buf, c->buf + 1, m->frame_size - 1);
        c->have = m->frame_size - 1;
        return 0;
    }
    c->errors = 0;
    c->have = 0;
    c->last_replied = r == LEDGER_REPLY;
    if (model_shadow(m, &msg) != 0)
        return -1;
    if (dump) {
        keys_drop_dead(m, &m->cbs);
        keys_drop_dead(m, &m->kernels);
        if (sbuf_failed(&m->cur_dump))
            return -1;
        if (m->ndumps == m->dumps_cap) {
            size_t n = m->dumps_cap ? m->dumps_cap * 2 : 4;
            char **d = mem_realloc(m->dumps, n * sizeof *d);
            if (!d)
                return -1;
            m->dumps = d;
            m->dumps_cap = n;
        }
        char *text = mem_strdup(sbuf_str(&m->cur_dump));
        if (!text)
            return -1;
        m->dumps[m->ndumps++] = text;
    }
    if (r == LEDGER_REPLY) {
        uint8_t frame[PROTO_MAX_FRAME];
        proto_encode(m->rev, &reply, frame);
        if (model_queue_reply(c, msg.type, frame, m->frame_size) != 0)
            return -1;
    }
    return 1;
}

int fuzz_model_write(fuzz_model *m, uint16_t conn, const uint8_t *bytes, size_t len) {
    model_conn *c = model_conn_get(m, conn);
    if (!c || !c->open || c->server_closed)
        return 0;
    int applied = 0;
    for (size_t i = 0; i < len; i++) {
        c->buf[c->have++] = bytes[i];
        if (c->have < m->frame_size)
            continue;
        int r = model_apply_frame(m, c);
        if (r < 0)
            return -1;
        applied += r;
        if (c->server_closed)
            return applied;
    }
    return applied;
}

static void frame_put(sbuf *out, proto_rev rev, const proto_msg *msg) {
    uint8_t frame[PROTO_MAX_FRAME];
    size_t n = proto_encode(rev, msg, frame);
    sbuf_append(out, frame, n);
}

long fuzz_model_reset_frames(fuzz_model *m, int32_t pid, sbuf *out) {
    long frames = 0;
    ledger_entry *e = NULL;
    size_t n = ledger_entries(m->l, &e);
    if (n == (size_t)-1)
        return -1;
    proto_msg msg;
    for (size_t i = 0; i < n; i++) {
        for (int32_t k = 0; k < e[i].ref_count; k++) {
            memset(&msg, 0, sizeof msg);
            msg.type = PROTO_FREE;
            msg.device_id = e[i].device_id;
            msg.buffer_id = e[i].buffer_id;
            msg.process_id = pid;
            frame_put(out, m->rev, &msg);
            frames++;
        }
    }
    mem_free(e);
    if (!rev_is_v144(m->rev))
        return sbuf_failed(out) ? -1 : frames;
    /* CB_FREE and KERNEL_UNLOAD of size 0 erase an entry without touching the totals. */
    for (size_t i = 0; i < m->cbs.n; i++) {
        memset(&msg, 0, sizeof msg);
        msg.type = PROTO_CB_FREE;
        msg.device_id = m->cbs.v[i].device_id;
        msg.buffer_id = m->cbs.v[i].id;
        msg.process_id = pid;
        frame_put(out, m->rev, &msg);
        frames++;
    }
    for (size_t i = 0; i < m->kernels.n; i++) {
        memset(&msg, 0, sizeof msg);
        msg.type = PROTO_KERNEL_UNLOAD;
        msg.device_id = m->kernels.v[i].device_id;
        msg.buffer_id = m->kernels.v[i].id;
        msg.process_id = pid;
        frame_put(out, m->rev, &msg);
        frames++;
    }
    /* Totals left by duplicates, wrong sizes and underflows: subtract exactly what is there. */
    for (int32_t dev = 0; dev < m->max_devices; dev++) {
        ledger_counters c = ledger_device_counters(m->l, dev);
        if (c.cb) {
            memset(&msg, 0, sizeof msg);
            msg.type = PROTO_CB_FREE;
            msg.device_id = dev;
            msg.buffer_id = FUZZ_RESET_ID;
            msg.size = c.cb;
            msg.process_id = pid;
            frame_put(out, m->rev, &msg);
            frames++;
        }
        if (c.kernel) {
            /* KERNEL_UNLOAD subtracts only for a known key: load one first (kernel type 3
             * touches no per-type counter). */
            memset(&msg, 0, sizeof msg);
            msg.type = PROTO_KERNEL_LOAD;
            msg.device_id = dev;
            msg.buffer_id = FUZZ_RESET_ID;
            msg.size = 1;
            msg.buffer_type = 3;
            msg.process_id = pid;
            frame_put(out, m->rev, &msg);
            msg.type = PROTO_KERNEL_UNLOAD;
            msg.size = c.kernel + 1;
            frame_put(out, m->rev, &msg);
            frames += 2;
        }
    }
    return sbuf_failed(out) ? -1 : frames;
}

/* ---- pid sites ------------------------------------------------------------------------------ */

#define FUZZ_SYNTH ((size_t)-1) /* a byte the executor makes up (fence, empty DUMP) */

/* The server's framing of one connection, byte by byte, remembering where each byte of the
 * current frame came from: the shared core of pid rewriting and rendering. */
typedef struct {
    int open;
    int closed; /* by the server */
    int errors;
    size_t have;
    uint8_t val[PROTO_MAX_FRAME];
    size_t off[PROTO_MAX_FRAME];
} walk_conn;

typedef struct {
    /* A frame the server handles: its bytes and where each came from. */
    void (*frame)(void *ctx, const uint8_t *val, const size_t *off);
    /* v144: one byte dropped by the resync; closed is set when it was the tenth in a row. */
    void (*drop)(void *ctx, uint8_t byte, int closed);
    void *ctx;
} walk_fns;

static void walk_reset(walk_conn *c) {
    memset(c, 0, sizeof *c);
    c->open = 1;
}

static void walk_byte(const stream *s, walk_conn *c, uint8_t b, size_t off, const walk_fns *fn) {
    if (!c->open || c->closed)
        return;
    c->val[c->have] = b;
    c->off[c->have] = off;
    if (++c->have < s->frame_size)
        return;
    if (rev_is_v144(s->rev) && (c->val[0] < 1 || c->val[0] > PROTO_DUMP_KERNELS)) {
        uint8_t dropped = c->val[0];
        if (++c->errors >= FUZZ_MAX_CONSECUTIVE_ERRORS) {
            c->closed = 1;
            c->have = 0;
        } else {
            memmove(c->val, c->val + 1, s->frame_size - 1);
            memmove(c->off, c->off + 1, (s->frame_size - 1) * sizeof *c->off);
            c->have = s->frame_size - 1;
        }
        if (fn->drop)
            fn->drop(fn->ctx, dropped, c->closed);
        return;
    }
    c->errors = 0;
    c->have = 0;
    if (fn->frame)
        fn->frame(fn->ctx, c->val, c->off);
}

/* Feeds the bytes record r puts on its connection (payload, or a synthesised DUMP frame). */
static void walk_record(const stream *s, const stream_record *r, walk_conn *c, const walk_fns *fn) {
    const uint8_t *p = rec_bytes(s, r);
    int verbatim = (r->flags & STREAM_FLAG_VERBATIM) != 0;
    if (r->op == STREAM_OP_WRITE || (r->op == STREAM_OP_DUMP && r->len > 0)) {
        for (uint32_t k = 0; k < r->len; k++)
            walk_byte(s, c, p[k], verbatim ? FUZZ_SYNTH : r->offset + k, fn);
    } else if (r->op == STREAM_OP_DUMP) {
        uint8_t synth[PROTO_MAX_FRAME];
        memset(synth, 0, sizeof synth);
        synth[0] = PROTO_DUMP_REMAINING;
        for (size_t k = 0; k < s->frame_size; k++)
            walk_byte(s, c, synth[k], FUZZ_SYNTH, fn);
    }
}

/* Applies the connection bookkeeping of record r (connect, close, implicit open) to c. */
static void walk_conn_op(const stream_record *r, walk_conn *c) {
    if (r->op == STREAM_OP_CONNECT ||
        (!c->open && (r->op == STREAM_OP_WRITE || r->op == STREAM_OP_DUMP)))
        walk_reset(c);
    else if (r->op == STREAM_OP_CLOSE)
        c->open = 0;
}

static int record_is_conn_op(const stream_record *r) {
    return r->op != STREAM_OP_SPAWN && r->op != STREAM_OP_CRASH && r->op != STREAM_OP_EXIT &&
           r->op != STREAM_OP_SLEEP;
}

/* Connections a stream uses (highest id + 1). */
static size_t stream_conn_count(const stream *s) {
    size_t n = 0;
    for (size_t i = 0; i < s->nrecords; i++)
        if (record_is_conn_op(&s->records[i]) && (size_t)s->records[i].id + 1 > n)
            n = (size_t)s->records[i].id + 1;
    return n;
}

/* Walks every connection record of s through the server's framing, calling fn's callbacks
 * frame by frame; *record is kept at the index of the record being walked. Stops early when
 * *stop becomes non-zero. Returns 0, or -1 when out of memory. */
static int walk_stream(const stream *s, walk_fns *fn, size_t *record, const int *stop) {
    size_t nconns = stream_conn_count(s);
    walk_conn *conns = nconns ? mem_calloc(nconns, sizeof *conns) : NULL;
    if (nconns && !conns)
        return -1;
    for (size_t i = 0; i < s->nrecords && !*stop; i++) {
        const stream_record *r = &s->records[i];
        if (!record_is_conn_op(r))
            continue;
        *record = i;
        walk_conn_op(r, &conns[r->id]);
        /* FENCE: a whole valid frame at a boundary (the executor skips it elsewhere), which
         * leaves the framing as it was. */
        walk_record(s, r, &conns[r->id], fn);
    }
    mem_free(conns);
    return 0;
}

typedef struct {
    fuzz_pid_site *v;
    size_t n, cap;
    int oom;
    const stream *s;
} site_list;

static void sites_push(site_list *l, uint32_t proc, size_t offset, uint8_t byte) {
    if (l->n == l->cap) {
        size_t n = l->cap ? l->cap * 2 : 16;
        fuzz_pid_site *v = mem_realloc(l->v, n * sizeof *v);
        if (!v) {
            l->oom = 1;
            return;
        }
        l->v = v;
        l->cap = n;
    }
    l->v[l->n].proc = proc;
    l->v[l->n].offset = offset;
    l->v[l->n].byte = byte;
    l->n++;
}

static void sites_frame(void *ctx, const uint8_t *val, const size_t *off) {
    site_list *l = ctx;
    int32_t pid = (int32_t)proto_le_get32(val + FUZZ_PID_OFFSET);
    for (uint32_t p = 0; p < l->s->nprocs; p++) {
        if (l->s->procs[p].recorded_pid != pid)
            continue;
        for (uint8_t q = 0; q < 4; q++)
            if (off[FUZZ_PID_OFFSET + q] != FUZZ_SYNTH)
                sites_push(l, p, off[FUZZ_PID_OFFSET + q], q);
        return; /* the first process with a pid keeps it */
    }
}

int fuzz_pid_sites(const stream *s, fuzz_pid_site **out, size_t *n) {
    *out = NULL;
    *n = 0;
    site_list l = {NULL, 0, 0, 0, s};
    walk_fns fn = {sites_frame, NULL, &l};
    size_t record;
    if (walk_stream(s, &fn, &record, &l.oom) != 0 || l.oom) {
        mem_free(l.v);
        return -1;
    }
    *out = l.v;
    *n = l.n;
    return 0;
}

typedef struct {
    size_t *v;
    size_t n, cap;
    size_t record;
    int oom;
} dump_list;

static void dumps_frame(void *ctx, const uint8_t *val, const size_t *off) {
    dump_list *d = ctx;
    (void)off;
    if (val[0] != PROTO_DUMP_REMAINING || (d->n && d->v[d->n - 1] == d->record))
        return;
    if (d->n == d->cap) {
        size_t n = d->cap ? d->cap * 2 : 8;
        size_t *v = mem_realloc(d->v, n * sizeof *v);
        if (!v) {
            d->oom = 1;
            return;
        }
        d->v = v;
        d->cap = n;
    }
    d->v[d->n++] = d->record;
}

int fuzz_dump_records(const stream *s, size_t **out, size_t *n) {
    *out = NULL;
    *n = 0;
    dump_list d = {NULL, 0, 0, 0, 0};
    walk_fns fn = {dumps_frame, NULL, &d};
    if (walk_stream(s, &fn, &d.record, &d.oom) != 0 || d.oom) {
        mem_free(d.v);
        return -1;
    }
    *out = d.v;
    *n = d.n;
    return 0;
}

void fuzz_pid_patch(uint8_t *payload, const fuzz_pid_site *sites, size_t n, uint32_t proc,
                    int32_t pid) {
    for (size_t i = 0; i < n; i++)
        if (sites[i].proc == proc)
            payload[sites[i].offset] = (uint8_t)((uint32_t)pid >> (8 * sites[i].byte));
}

/* ---- replies --------------------------------------------------------------------------------- */

typedef struct {
    const char *name;
    size_t offset;
    size_t size;
    int is_signed;
} reply_field;

#define RF(f, sgn) {#f, offsetof(proto_msg, f), sizeof(((proto_msg *)0)->f), sgn}
static const reply_field reply_fields[] = {
    RF(type, 0), RF(pad1, 0), RF(device_id, 1), RF(size, 0), RF(buffer_type, 0), RF(pad2, 0),
    RF(process_id, 1), RF(buffer_id, 0), RF(timestamp, 0), RF(dram_allocated, 0),
    RF(l1_allocated, 0), RF(l1_small_allocated, 0), RF(trace_allocated, 0), RF(cb_allocated, 0),
    RF(kernel_allocated, 0), RF(total_dram_size, 0), RF(total_l1_size, 0), RF(arch_type, 0),
    RF(num_dram_channels, 0), RF(dram_size_per_channel, 0), RF(l1_size_per_core, 0),
    RF(is_available, 0), RF(num_devices, 0), RF(ringbuffer_total_size, 0),
    RF(ringbuffer_used_bytes, 0), RF(ringbuffer_num_programs, 0), RF(pad3, 0)};
#undef RF

static const reply_field *reply_first_diff(const proto_msg *a, const proto_msg *b) {
    for (size_t i = 0; i < sizeof reply_fields / sizeof reply_fields[0]; i++) {
        const reply_field *f = &reply_fields[i];
        if (memcmp((const char *)a + f->offset, (const char *)b + f->offset, f->size) != 0)
            return f;
    }
    return NULL;
}

const char *fuzz_reply_diff(proto_rev rev, const uint8_t *expected, const uint8_t *actual) {
    proto_msg a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    size_t fs = proto_rev_get(rev)->frame_size;
    proto_decode(rev, expected, fs, &a);
    proto_decode(rev, actual, fs, &b);
    const reply_field *f = reply_first_diff(&a, &b);
    return f ? f->name : NULL;
}

static void field_print(sbuf *out, const proto_msg *msg, const reply_field *f) {
    const uint8_t *p = (const uint8_t *)msg + f->offset;
    if (f->size == 3) {
        sbuf_printf(out, "%02x %02x %02x", p[0], p[1], p[2]);
        return;
    }
    uint64_t v = 0;
    if (f->size == 1)
        v = p[0];
    else if (f->size == 4) {
        uint32_t x;
        memcpy(&x, p, 4);
        if (f->is_signed) {
            sbuf_printf(out, "%" PRId32, (int32_t)x);
            return;
        }
        v = x;
    } else {
        memcpy(&v, p, 8);
    }
    sbuf_printf(out, "%" PRIu64, v);
}

void fuzz_reply_describe(proto_rev rev, uint8_t kind, const uint8_t *expected,
                         const uint8_t *actual, sbuf *out) {
    proto_msg a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    size_t fs = proto_rev_get(rev)->frame_size;
    proto_decode(rev, expected, fs, &a);
    proto_decode(rev, actual, fs, &b);
    const char *kname = proto_type_name(kind);
    sbuf_printf(out, "%s(device %" PRId32 ") reply: ", kname ? kname : "?", a.device_id);
    const reply_field *f = reply_first_diff(&a, &b);
    if (!f) {
        sbuf_puts(out, "identical");
        return;
    }
    sbuf_printf(out, "%s expected ", f->name);
    field_print(out, &a, f);
    sbuf_puts(out, ", found ");
    field_print(out, &b, f);
}

/* ---- signatures ------------------------------------------------------------------------------ */

void fuzz_signature_clean(char *sig) {
    size_t o = 0;
    for (size_t i = 0; sig[i] && o < 96; i++) {
        char ch = sig[i];
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                 ch == '_' || ch == '.' || ch == '-';
        if (!ok)
            ch = '-';
        if (ch == '-' && (o == 0 || sig[o - 1] == '-'))
            continue;
        sig[o++] = ch;
    }
    while (o > 0 && sig[o - 1] == '-')
        o--;
    sig[o] = '\0';
    if (o == 0)
        strcpy(sig, "unknown");
}

/* Appends up to max words of text[0..len) to sig, '-'-separated: quoted parts ('...') and
 * words with digits are skipped, a word ending in ':' ends the list, and so do the words
 * "on", "at" and "in" after the first. */
static void sig_words(const char *text, size_t len, int max, char *sig, size_t n) {
    size_t used = strlen(sig);
    int words = 0;
    size_t i = 0;
    while (i < len && words < max) {
        while (i < len && (text[i] == ' ' || text[i] == '\t'))
            i++;
        if (i < len && text[i] == '\'') {
            size_t j = i + 1;
            while (j < len && text[j] != '\'')
                j++;
            i = j + 1;
            continue;
        }
        size_t start = i;
        while (i < len && text[i] != ' ' && text[i] != '\t' && text[i] != '\'')
            i++;
        size_t wl = i - start;
        if (wl == 0)
            continue;
        int colon = text[start + wl - 1] == ':';
        if (colon)
            wl--;
        int digit = 0;
        for (size_t k = 0; k < wl; k++)
            if (text[start + k] >= '0' && text[start + k] <= '9')
                digit = 1;
        if (words > 0 && ((wl == 2 && (strncmp(text + start, "on", 2) == 0 ||
                                       strncmp(text + start, "at", 2) == 0 ||
                                       strncmp(text + start, "in", 2) == 0))))
            break;
        if (!digit && wl > 0) {
            int k = snprintf(sig + used, n - used, "-%.*s", (int)wl, text + start);
            if (k < 0 || (size_t)k >= n - used)
                break;
            used += (size_t)k;
            words++;
        }
        if (colon)
            break;
    }
}

static const char *find_sub(const char *s, size_t len, const char *needle) {
    size_t nl = strlen(needle);
    for (size_t i = 0; i + nl <= len; i++)
        if (memcmp(s + i, needle, nl) == 0)
            return s + i;
    return NULL;
}

int fuzz_sanitizer_signature(const char *line, size_t len, char *sig, size_t n) {
    static const struct {
        const char *marker;
        const char *prefix;
        int words;
    } kinds[] = {
        {"ERROR: LeakSanitizer:", "lsan-leak", 0},
        {"ERROR: AddressSanitizer: ", "asan", 3},
        {"runtime error: ", "ubsan", 4},
        {"WARNING: ThreadSanitizer: ", "tsan", 3},
        {"WARNING: MemorySanitizer: ", "msan", 3},
        {"ERROR: MemorySanitizer: ", "msan", 3},
    };
    if (n == 0)
        return 0;
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        const char *at = find_sub(line, len, kinds[k].marker);
        if (!at)
            continue;
        snprintf(sig, n, "%s", kinds[k].prefix);
        if (kinds[k].words) {
            size_t off = (size_t)(at - line) + strlen(kinds[k].marker);
            sig_words(line + off, len - off, kinds[k].words, sig, n);
        }
        fuzz_signature_clean(sig);
        return 1;
    }
    return 0;
}

const char *fuzz_signal_name(int sig, char *buf, size_t n) {
    static const struct {
        int sig;
        const char *name;
    } names[] = {{SIGHUP, "SIGHUP"},   {SIGINT, "SIGINT"},   {SIGQUIT, "SIGQUIT"},
                 {SIGILL, "SIGILL"},   {SIGTRAP, "SIGTRAP"}, {SIGABRT, "SIGABRT"},
                 {SIGBUS, "SIGBUS"},   {SIGFPE, "SIGFPE"},   {SIGKILL, "SIGKILL"},
                 {SIGUSR1, "SIGUSR1"}, {SIGSEGV, "SIGSEGV"}, {SIGUSR2, "SIGUSR2"},
                 {SIGPIPE, "SIGPIPE"}, {SIGALRM, "SIGALRM"}, {SIGTERM, "SIGTERM"},
                 {SIGSYS, "SIGSYS"},   {SIGXCPU, "SIGXCPU"}, {SIGXFSZ, "SIGXFSZ"}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].sig == sig) {
            snprintf(buf, n, "%s", names[i].name);
            return buf;
        }
    snprintf(buf, n, "SIG%d", sig);
    return buf;
}

int fuzz_parse_duration(const char *text, uint64_t *ms, char *err, size_t errlen) {
    char *end = NULL;
    double v = text && *text ? strtod(text, &end) : -1.0;
    double scale = -1.0;
    if (end && end != text && v >= 0.0) {
        if (*end == '\0' || strcmp(end, "s") == 0)
            scale = 1000.0;
        else if (strcmp(end, "ms") == 0)
            scale = 1.0;
        else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
            scale = 60000.0;
        else if (strcmp(end, "h") == 0)
            scale = 3600000.0;
    }
    if (scale < 0.0 || v * scale > 1e15) {
        snprintf(err, errlen, "expected a duration such as 60s, 5m or 500ms, found '%s'", text ? text : "");
        return -1;
    }
    *ms = (uint64_t)(v * scale + 0.5);
    return 0;
}

int fuzz_command_disables_cleanup(const char *command) {
    static const char opt[] = "--cleanup-interval";
    for (const char *p = command; p && (p = strstr(p, opt)) != NULL; p += sizeof opt - 1) {
        const char *v = p + sizeof opt - 1;
        if (*v != ' ' && *v != '=')
            continue;
        while (*v == ' ' || *v == '=')
            v++;
        char *end;
        double d = strtod(v, &end);
        if (end != v && d == 0.0 && (*end == '\0' || *end == ' ' || *end == '\''))
            return 1;
    }
    return 0;
}

/* ---- stream helpers -------------------------------------------------------------------------- */

int fuzz_stream_copy(const stream *in, stream *out) {
    stream_init(out, in->rev);
    for (uint32_t i = 0; i < in->nprocs; i++)
        if (stream_add_proc(out, in->procs[i].recorded_pid, in->procs[i].name) < 0)
            goto fail;
    for (size_t i = 0; i < in->nrecords; i++) {
        const stream_record *r = &in->records[i];
        if (stream_append(out, r->op, r->flags, r->id, rec_bytes(in, r), r->len) != 0)
            goto fail;
    }
    return 0;
fail:
    stream_release(out);
    return -1;
}

/* Per-connection byte positions, for frame alignment in counting and rendering. */
typedef struct {
    uint64_t pos[FUZZ_MAX_CONNS];
} conn_positions;

static uint64_t *conn_pos(conn_positions *p, uint16_t id) {
    return &p->pos[id % FUZZ_MAX_CONNS];
}

size_t fuzz_stream_frames(const stream *s) {
    conn_positions cp;
    memset(&cp, 0, sizeof cp);
    size_t frames = 0;
    for (size_t i = 0; i < s->nrecords; i++) {
        const stream_record *r = &s->records[i];
        uint64_t *pos = conn_pos(&cp, r->id);
        if (r->op == STREAM_OP_CONNECT) {
            *pos = 0;
        } else if (r->op == STREAM_OP_DUMP) {
            frames++;
        } else if (r->op == STREAM_OP_WRITE) {
            for (uint32_t k = 0; k < r->len; k++)
                if ((*pos + k) % s->frame_size == 0)
                    frames++;
            *pos += r->len;
        }
    }
    return frames;
}

/* ---- generation ------------------------------------------------------------------------------ */

uint64_t fuzz_stream_seed(uint64_t campaign_seed, uint64_t n) {
    uint64_t st = campaign_seed ^ 0x616c6c6f6373696dull; /* "allocsim" */
    st = rng_splitmix64(&st) + n * 0x9e3779b97f4a7c15ull;
    return rng_splitmix64(&st);
}

unsigned fuzz_stream_features(const fuzz_gen_config *cfg, uint64_t n) {
    if (!cfg->swarm)
        return cfg->features;
    rng r;
    rng_init(&r, fuzz_stream_seed(cfg->seed, n), rng_stream_id("fuzz-swarm"));
    unsigned mask = 0;
    /* Each feature is on with probability 1/2; streams then differ in kind, not only in
     * detail (swarm testing). */
    for (int tries = 0; tries < 4 && mask == 0; tries++)
        mask = (unsigned)rng_next(&r) & cfg->features;
    return mask;
}

typedef struct {
    int32_t pid;
    int spawned;
    int alive;
    int conn; /* open connection, -1 if none */
} gen_proc;

typedef struct {
    rng rng;
    unsigned feat;
    stream *s;
    fuzz_model *m;
    proto_rev rev;
    size_t fs;
    int max_devices;
    int v144;
    int ndev;
    gen_proc procs[FUZZ_MAX_PROCS];
    int nprocs;
    int nconns;
    int last_conn;
    uint8_t unconfirmed[FUZZ_MAX_CONNS];
    int failed;
} gen;

static int gen_dead(void *ctx, int32_t pid) {
    const gen *g = ctx;
    for (int i = 0; i < g->nprocs; i++)
        if (g->procs[i].pid == pid)
            return !g->procs[i].alive;
    if (pid == 0 || pid == -1)
        return 0;
    /* The generator never asks the system: small pids count as alive, impossible ones dead. */
    return pid > FUZZ_PID_MAX_LINUX || pid < -1;
}

static void gen_record(gen *g, uint8_t op, uint8_t flags, uint16_t id, const void *p, uint32_t len) {
    if (stream_append(g->s, op, flags, id, p, len) != 0)
        g->failed = 1;
}

static int gen_spawn(gen *g) {
    if (g->nprocs >= FUZZ_MAX_PROCS)
        return -1;
    int i = g->nprocs;
    char name[16];
    snprintf(name, sizeof name, "p%d", i);
    int32_t pid = FUZZ_RECORDED_PID_BASE + (int32_t)(rng_below(&g->rng, 0x10000) << 4) + i;
    if (stream_add_proc(g->s, pid, name) != i) {
        g->failed = 1;
        return -1;
    }
    g->procs[i].pid = pid;
    g->procs[i].spawned = 1;
    g->procs[i].alive = 1;
    g->procs[i].conn = -1;
    g->nprocs++;
    gen_record(g, STREAM_OP_SPAWN, 0, (uint16_t)i, NULL, 0);
    return i;
}

/* Bytes written into the stream and the model together. */
static void gen_write(gen *g, int conn, const uint8_t *bytes, size_t len) {
    gen_record(g, STREAM_OP_WRITE, 0, (uint16_t)conn, bytes, (uint32_t)len);
    if (fuzz_model_write(g->m, (uint16_t)conn, bytes, len) < 0)
        g->failed = 1;
    g->unconfirmed[conn] = 1;
}

/* Reads every reply the model says is owed on conn (READ_REPLY records). A reply proves that
 * the server handled everything before the request, so when the caller knows the request was
 * the last frame written (proves_all), the connection counts as confirmed. */
static void gen_read_replies(gen *g, int conn, int proves_all) {
    uint8_t frame[PROTO_MAX_FRAME];
    int read = 0;
    while (fuzz_model_pop_reply(g->m, (uint16_t)conn, frame, NULL)) {
        gen_record(g, STREAM_OP_READ_REPLY, 0, (uint16_t)conn, NULL, 0);
        read++;
    }
    fuzz_conn_state st = fuzz_model_conn(g->m, (uint16_t)conn);
    if (read && proves_all && st.pending == 0)
        g->unconfirmed[conn] = 0;
}

/* Brings a connection left inside a frame (by garbage) back to a frame boundary without
 * touching the server's state: each write completes the frame the server holds, with bytes
 * of value 4 (RESPONSE), which every revision answers with "Unknown message type: 4" at most.
 * Each round either ends on a boundary or makes the v144 resync drop one more byte, so it
 * stops within ten rounds (the tenth drop closes the connection). */
static void gen_realign(gen *g, int conn) {
    uint8_t fill[PROTO_MAX_FRAME];
    memset(fill, PROTO_RESPONSE, sizeof fill);
    for (int iter = 0; iter < 2 * FUZZ_MAX_CONSECUTIVE_ERRORS + 2; iter++) {
        fuzz_conn_state st = fuzz_model_conn(g->m, (uint16_t)conn);
        if (!st.open || st.server_closed || st.pending == 0)
            return;
        gen_write(g, conn, fill, g->fs - st.pending);
    }
}

static void gen_close_conn(gen *g, int conn, int abort);

/* Proves that the server handled everything sent on conn: a FENCE record (a QUERY whose reply
 * comes last), or, for a connection stuck inside a frame or given up by the server, a graceful
 * close (the server closes its side only after handling what came before). */
static void gen_fence(gen *g, int conn) {
    fuzz_conn_state st = fuzz_model_conn(g->m, (uint16_t)conn);
    if (!st.open)
        return;
    if (st.pending && !st.server_closed)
        gen_realign(g, conn);
    st = fuzz_model_conn(g->m, (uint16_t)conn);
    if (st.server_closed || st.pending) {
        gen_close_conn(g, conn, 0);
        return;
    }
    gen_record(g, STREAM_OP_FENCE, 0, (uint16_t)conn, NULL, 0);
    /* The fence's QUERY goes through the model like any frame (the executor does the same). */
    proto_msg q;
    memset(&q, 0, sizeof q);
    q.type = PROTO_QUERY;
    q.process_id = st.proc >= 0 ? g->procs[st.proc].pid : 0;
    uint8_t frame[PROTO_MAX_FRAME];
    size_t n = proto_encode(g->rev, &q, frame);
    if (fuzz_model_write(g->m, (uint16_t)conn, frame, n) < 0)
        g->failed = 1;
    while (fuzz_model_pop_reply(g->m, (uint16_t)conn, frame, NULL))
        ;
    g->unconfirmed[conn] = 0;
}

/* Makes conn the active connection: whatever the previous one sent must be handled first. */
static void gen_use(gen *g, int conn) {
    if (g->last_conn >= 0 && g->last_conn != conn && g->unconfirmed[g->last_conn])
        gen_fence(g, g->last_conn);
    g->last_conn = conn;
}

static void gen_confirm_all(gen *g) {
    if (g->last_conn >= 0 && g->unconfirmed[g->last_conn])
        gen_fence(g, g->last_conn);
}

/* The open connection of process p, connecting one when it has none. -1 if impossible. */
static int gen_conn_of(gen *g, int p) {
    if (g->procs[p].conn >= 0) {
        fuzz_conn_state st = fuzz_model_conn(g->m, (uint16_t)g->procs[p].conn);
        if (st.open && !st.server_closed)
            return g->procs[p].conn;
        g->procs[p].conn = -1;
    }
    if (g->nconns >= FUZZ_MAX_CONNS)
        return -1;
    int c = g->nconns++;
    uint8_t payload[2] = {(uint8_t)p, (uint8_t)(p >> 8)};
    gen_record(g, STREAM_OP_CONNECT, 0, (uint16_t)c, payload, 2);
    if (fuzz_model_connect(g->m, (uint16_t)c, p) != 0)
        g->failed = 1;
    g->unconfirmed[c] = 0;
    g->procs[p].conn = c;
    return c;
}

static void gen_close_conn(gen *g, int conn, int abort) {
    gen_record(g, STREAM_OP_CLOSE, abort ? FUZZ_FLAG_ABORT : 0, (uint16_t)conn, NULL, 0);
    fuzz_model_close(g->m, (uint16_t)conn);
    /* A graceful close waits for the server to close its side: everything was handled. An
     * abrupt one proves nothing, so the generator fences before any abrupt close. */
    g->unconfirmed[conn] = 0;
    if (g->last_conn == conn)
        g->last_conn = -1;
    for (int p = 0; p < g->nprocs; p++)
        if (g->procs[p].conn == conn)
            g->procs[p].conn = -1;
}

static void gen_close(gen *g, int p, int abort) {
    if (g->procs[p].conn >= 0)
        gen_close_conn(g, g->procs[p].conn, abort);
}

/* Makes conn of process p active and proven handled before a write whose effect must not
 * mix with earlier ones (an abrupt close, garbage). The fence may have to close conn; then
 * another connection is opened. Returns the connection to write on, or -1. */
static int gen_quiet_conn(gen *g, int p, int conn) {
    gen_use(g, conn);
    if (g->unconfirmed[conn])
        gen_fence(g, conn);
    fuzz_conn_state st = fuzz_model_conn(g->m, (uint16_t)conn);
    if (st.open && !st.server_closed)
        return conn;
    conn = gen_conn_of(g, p);
    if (conn >= 0)
        gen_use(g, conn);
    return conn;
}

static int gen_pick_alive(gen *g) {
    int alive[FUZZ_MAX_PROCS], n = 0;
    for (int i = 0; i < g->nprocs; i++)
        if (g->procs[i].alive)
            alive[n++] = i;
    return n ? alive[rng_below(&g->rng, (uint64_t)n)] : -1;
}

static int32_t gen_dead_pid(gen *g) {
    int dead[FUZZ_MAX_PROCS], n = 0;
    for (int i = 0; i < g->nprocs; i++)
        if (!g->procs[i].alive)
            dead[n++] = i;
    if (n && gen_chance(&g->rng, 70))
        return g->procs[dead[rng_below(&g->rng, (uint64_t)n)]].pid;
    return FUZZ_NEVER_PID_BASE + (int32_t)rng_below(&g->rng, 0x100000);
}

static int32_t gen_device(gen *g) { return (int32_t)rng_below(&g->rng, (uint64_t)g->ndev); }

static int32_t gen_bad_device(gen *g) {
    const int32_t md = g->max_devices;
    const int32_t bad[] = {-1, -2, md, md + 1, 255, 256, 1000, INT32_MIN, INT32_MAX, 0x10000, -256};
    int32_t d = bad[rng_below(&g->rng, sizeof bad / sizeof bad[0])];
    /* 255 is a valid device of v144-256: still a good edge case, not a bad id. */
    return d;
}

static uint64_t gen_id(gen *g) {
    static const uint64_t pool[] = {0x1000, 0x2000, 0x3000, 0x4000, 0x10, 0x20, 1043741824,
                                    0x40000000, 0x80000, 0x100000, 0x7ff000, 0x1234560};
    if (gen_chance(&g->rng, 75))
        return pool[rng_below(&g->rng, sizeof pool / sizeof pool[0])];
    return (rng_next(&g->rng) & 0xffffffffull) & ~0x1full;
}

static uint64_t gen_size(gen *g) {
    static const uint64_t common[] = {4096, 2048, 32, 1024, 12503040, 1048576, 65536, 1000};
    switch (rng_below(&g->rng, 4)) {
    case 0:
    case 1:
        return common[rng_below(&g->rng, sizeof common / sizeof common[0])];
    case 2:
        return 1 + rng_below(&g->rng, 1u << 20);
    default:
        return 1 + rng_below(&g->rng, 1ull << 31);
    }
}

static uint64_t gen_odd_size(gen *g) {
    const uint64_t cap = 100ull * 1024 * 1024 * 1024;
    const uint64_t odd[] = {0, 1, cap, cap + 1, UINT64_MAX, 1ull << 63, 1023999488, 999999};
    return odd[rng_below(&g->rng, sizeof odd / sizeof odd[0])];
}

static proto_msg gen_msg(uint8_t type, int32_t dev, uint64_t size, uint8_t btype, int32_t pid,
                         uint64_t id) {
    proto_msg m;
    memset(&m, 0, sizeof m);
    m.type = type;
    m.device_id = dev;
    m.size = size;
    m.buffer_type = btype;
    m.process_id = pid;
    m.buffer_id = id;
    return m;
}

/* Sends one frame on conn, maybe split across two writes; reads its reply if one comes. */
static void gen_send(gen *g, int conn, const proto_msg *msg) {
    uint8_t frame[PROTO_MAX_FRAME];
    size_t n = proto_encode(g->rev, msg, frame);
    gen_use(g, conn);
    if ((g->feat & FUZZ_F_SPLIT) && gen_chance(&g->rng, 20)) {
        size_t cut = 1 + rng_below(&g->rng, n - 1);
        gen_write(g, conn, frame, cut);
        gen_write(g, conn, frame + cut, n - cut);
    } else {
        gen_write(g, conn, frame, n);
    }
    /* A v144 frame with a bad type byte is dropped byte by byte: realign behind it. */
    if (fuzz_model_conn(g->m, (uint16_t)conn).pending)
        gen_realign(g, conn);
    gen_read_replies(g, conn, 1);
}

/* A live entry of the ledger, or 0 when there is none. */
static int gen_pick_live(gen *g, ledger_entry *out) {
    ledger_entry *e = NULL;
    size_t n = ledger_entries(fuzz_model_ledger(g->m), &e);
    if (n == (size_t)-1) {
        g->failed = 1;
        return 0;
    }
    int found = n > 0;
    if (found)
        *out = e[rng_below(&g->rng, n)];
    mem_free(e);
    return found;
}

static uint8_t gen_buffer_type(gen *g) { return (uint8_t)rng_below(&g->rng, PROTO_BUF_TYPE_COUNT); }

static void op_alloc(gen *g, int p, int conn) {
    int32_t pid = g->procs[p].pid;
    if (gen_chance(&g->rng, 5))
        pid = gen_chance(&g->rng, 50) ? 0 : -1; /* always alive for the server */
    proto_msg m = gen_msg(PROTO_ALLOC, gen_device(g), gen_size(g), gen_buffer_type(g), pid, gen_id(g));
    gen_send(g, conn, &m);
}

static void op_free(gen *g, int p, int conn) {
    ledger_entry e;
    if (!gen_pick_live(g, &e)) {
        op_alloc(g, p, conn);
        return;
    }
    proto_msg m = gen_msg(PROTO_FREE, e.device_id, gen_chance(&g->rng, 50) ? e.size : 0,
                          e.buffer_type, g->procs[p].pid, e.buffer_id);
    gen_send(g, conn, &m);
}

static void op_storm(gen *g, int p, int conn) {
    ledger_entry e;
    proto_msg m;
    if (gen_pick_live(g, &e) && gen_chance(&g->rng, 70))
        m = gen_msg(PROTO_ALLOC, e.device_id, e.size, e.buffer_type, g->procs[p].pid, e.buffer_id);
    else
        m = gen_msg(PROTO_ALLOC, gen_device(g), gen_size(g), gen_buffer_type(g), g->procs[p].pid,
                    gen_id(g));
    int times = 2 + (int)rng_below(&g->rng, 6);
    for (int i = 0; i < times; i++) {
        proto_msg a = m;
        if (gen_chance(&g->rng, 30)) /* a duplicate with another size/type keeps the first */
            a.size = gen_size(g), a.buffer_type = gen_buffer_type(g);
        gen_send(g, conn, &a);
    }
    int frees = (int)rng_below(&g->rng, (uint64_t)times + 2);
    for (int i = 0; i < frees; i++) {
        proto_msg f = gen_msg(PROTO_FREE, m.device_id, 0, 0, g->procs[p].pid, m.buffer_id);
        gen_send(g, conn, &f);
    }
}

static void op_badfree(gen *g, int p, int conn) {
    ledger_entry e;
    if (gen_chance(&g->rng, 50) && gen_pick_live(g, &e)) {
        for (int32_t i = 0; i <= e.ref_count; i++) { /* one more than the references: double free */
            proto_msg f = gen_msg(PROTO_FREE, e.device_id, e.size, 0, g->procs[p].pid, e.buffer_id);
            gen_send(g, conn, &f);
        }
        return;
    }
    int32_t dev = gen_chance(&g->rng, 80) ? gen_device(g) : gen_bad_device(g);
    proto_msg f = gen_msg(PROTO_FREE, dev, gen_size(g), 0, g->procs[p].pid,
                          gen_chance(&g->rng, 20) ? UINT64_MAX : gen_id(g));
    gen_send(g, conn, &f);
}

static void op_query(gen *g, int p, int conn) {
    int32_t dev = gen_chance(&g->rng, 80) ? gen_device(g) : gen_bad_device(g);
    uint8_t type = PROTO_QUERY;
    if (gen_chance(&g->rng, 30)) {
        type = PROTO_DEVICE_INFO_QUERY;
        if (gen_chance(&g->rng, 40))
            dev = -1;
    }
    proto_msg q = gen_msg(type, dev, 0, 0, g->procs[p].pid, 0);
    gen_send(g, conn, &q);
}

static void op_dump(gen *g, int p, int conn) {
    (void)p;
    gen_use(g, conn);
    gen_record(g, STREAM_OP_DUMP, 0, (uint16_t)conn, NULL, 0);
    fuzz_conn_state st = fuzz_model_conn(g->m, (uint16_t)conn);
    proto_msg d = gen_msg(PROTO_DUMP_REMAINING, 0, 0, 0, st.proc >= 0 ? g->procs[st.proc].pid : 0, 0);
    uint8_t frame[PROTO_MAX_FRAME];
    size_t n = proto_encode(g->rev, &d, frame);
    if (fuzz_model_write(g->m, (uint16_t)conn, frame, n) < 0)
        g->failed = 1;
    /* The executor waits for the report, which proves the connection's order. */
    fuzz_model_drop_dumps(g->m, fuzz_model_dump_count(g->m));
    g->unconfirmed[conn] = 0;
    gen_read_replies(g, conn, 0);
}

static void op_baddev(gen *g, int p, int conn) {
    int32_t dev = gen_bad_device(g);
    proto_msg m;
    switch (rng_below(&g->rng, g->v144 ? 4 : 2)) {
    case 0:
    case 1:
        m = gen_msg(PROTO_ALLOC, dev, gen_size(g), gen_buffer_type(g), g->procs[p].pid, gen_id(g));
        break;
    case 2:
        m = gen_msg(PROTO_CB_ALLOC, dev, gen_size(g), 0, g->procs[p].pid, gen_id(g));
        break;
    default:
        m = gen_msg(PROTO_KERNEL_LOAD, dev, gen_size(g), 0, g->procs[p].pid, gen_id(g));
        break;
    }
    gen_send(g, conn, &m);
}

static void op_badtype(gen *g, int p, int conn) {
    uint8_t t = (uint8_t)(PROTO_BUF_TYPE_COUNT + rng_below(&g->rng, 256 - PROTO_BUF_TYPE_COUNT));
    if (gen_chance(&g->rng, 50))
        t = PROTO_BUF_TYPE_COUNT; /* 5: just past TRACE */
    proto_msg m = gen_msg(PROTO_ALLOC, gen_device(g), gen_size(g), t, g->procs[p].pid, gen_id(g));
    gen_send(g, conn, &m);
}

static void op_sizes(gen *g, int p, int conn) {
    proto_msg m = gen_msg(PROTO_ALLOC, gen_device(g), gen_odd_size(g), gen_buffer_type(g),
                          g->procs[p].pid, gen_id(g));
    gen_send(g, conn, &m);
}

static void op_badmsg(gen *g, int p, int conn) {
    uint8_t types[16];
    int n = 0;
    types[n++] = PROTO_RESPONSE;
    types[n++] = PROTO_DEVICE_INFO_RESPONSE;
    /* In v144 a type outside 1..12 desynchronises the connection (the one-byte resync), which
     * is garbage rather than a bad message: only with the garbage feature. */
    if (!g->v144 || (g->feat & FUZZ_F_GARBAGE)) {
        types[n++] = 0;
        types[n++] = 13;
        types[n++] = 200;
        types[n++] = 255;
    }
    for (uint8_t t = 1; t <= PROTO_DUMP_KERNELS && n < 16; t++)
        if (!proto_type_handled(g->rev, t) && t != PROTO_RESPONSE && t != PROTO_DEVICE_INFO_RESPONSE)
            types[n++] = t;
    uint8_t t = types[rng_below(&g->rng, (uint64_t)n)];
    proto_msg m = gen_msg(t, gen_device(g), gen_size(g), gen_buffer_type(g), g->procs[p].pid, gen_id(g));
    gen_send(g, conn, &m);
}

static void op_cbkernel(gen *g, int p, int conn) {
    static const uint64_t ids[] = {0x100, 0x200, 0x300, 1, 2};
    uint64_t id = ids[rng_below(&g->rng, sizeof ids / sizeof ids[0])];
    int32_t dev = gen_device(g);
    uint64_t size = gen_chance(&g->rng, 70) ? gen_size(g) : gen_odd_size(g);
    int32_t pid = g->procs[p].pid;
    proto_msg m;
    switch (rng_below(&g->rng, 9)) {
    case 0:
    case 1:
        m = gen_msg(PROTO_CB_ALLOC, dev, size, 0, pid, id);
        break;
    case 2:
    case 3: /* unknown or wrong-size CB_FREE underflows the total */
        m = gen_msg(PROTO_CB_FREE, dev, size, 0, pid, id);
        break;
    case 4:
    case 5:
        m = gen_msg(PROTO_KERNEL_LOAD, dev, size, (uint8_t)rng_below(&g->rng, 5), pid, id);
        break;
    case 6:
    case 7:
        m = gen_msg(PROTO_KERNEL_UNLOAD, dev, size, 0, pid, id);
        break;
    default:
        m = gen_msg(PROTO_DUMP_KERNELS, 0, 0, 0, pid, 0);
        break;
    }
    gen_send(g, conn, &m);
}

static void op_death(gen *g) {
    int p = gen_pick_alive(g);
    if (p < 0)
        return;
    gen_confirm_all(g);
    if (g->procs[p].conn >= 0 && gen_chance(&g->rng, 70))
        gen_close(g, p, 0);
    gen_record(g, gen_chance(&g->rng, 50) ? STREAM_OP_CRASH : STREAM_OP_EXIT, 0, (uint16_t)p, NULL, 0);
    g->procs[p].alive = 0;
    if (gen_chance(&g->rng, 60))
        gen_spawn(g);
}

static void op_deadpid(gen *g, int p, int conn) {
    int32_t pid = gen_dead_pid(g);
    proto_msg m;
    if (g->v144 && gen_chance(&g->rng, 30))
        m = gen_msg(gen_chance(&g->rng, 50) ? PROTO_CB_ALLOC : PROTO_KERNEL_LOAD, gen_device(g),
                    gen_size(g), 0, pid, gen_id(g));
    else
        m = gen_msg(PROTO_ALLOC, gen_device(g), gen_size(g), gen_buffer_type(g), pid, gen_id(g));
    (void)p;
    gen_send(g, conn, &m);
}

static void op_reconnect(gen *g, int p) {
    if (g->procs[p].conn < 0)
        return;
    gen_close(g, p, 0);
    gen_conn_of(g, p);
}

static void op_merge(gen *g, int p, int conn) {
    uint8_t buf[4 * PROTO_MAX_FRAME];
    size_t len = 0;
    int frames = 2 + (int)rng_below(&g->rng, 3);
    int last_query = 0;
    for (int i = 0; i < frames; i++) {
        proto_msg m;
        ledger_entry e;
        switch (rng_below(&g->rng, 4)) {
        case 0:
            if (gen_pick_live(g, &e)) {
                m = gen_msg(PROTO_FREE, e.device_id, 0, 0, g->procs[p].pid, e.buffer_id);
                break;
            }
            /* fall through */
        case 1:
        case 2:
            m = gen_msg(PROTO_ALLOC, gen_device(g), gen_size(g), gen_buffer_type(g), g->procs[p].pid,
                        gen_id(g));
            break;
        default:
            m = gen_msg(PROTO_QUERY, gen_device(g), 0, 0, g->procs[p].pid, 0);
            break;
        }
        len += proto_encode(g->rev, &m, buf + len);
        last_query = m.type == PROTO_QUERY;
    }
    gen_use(g, conn);
    gen_write(g, conn, buf, len);
    gen_read_replies(g, conn, last_query);
}

static void op_truncate(gen *g, int p, int conn) {
    conn = gen_quiet_conn(g, p, conn);
    if (conn < 0)
        return;
    proto_msg m = gen_msg(PROTO_ALLOC, gen_device(g), gen_size(g), gen_buffer_type(g), g->procs[p].pid,
                          gen_id(g));
    uint8_t frame[PROTO_MAX_FRAME];
    size_t n = proto_encode(g->rev, &m, frame);
    gen_write(g, conn, frame, 1 + rng_below(&g->rng, n - 1));
    g->unconfirmed[conn] = 0; /* the partial frame is dropped at close and changes nothing */
    gen_close(g, p, gen_chance(&g->rng, 50));
}

static void op_earlyclose(gen *g, int p, int conn) {
    conn = gen_quiet_conn(g, p, conn);
    if (conn < 0)
        return;
    uint8_t type = gen_chance(&g->rng, 70) || !proto_type_handled(g->rev, PROTO_DEVICE_INFO_QUERY)
                       ? PROTO_QUERY
                       : PROTO_DEVICE_INFO_QUERY;
    proto_msg q = gen_msg(type, gen_device(g), 0, 0, g->procs[p].pid, 0);
    uint8_t frame[PROTO_MAX_FRAME];
    size_t n = proto_encode(g->rev, &q, frame);
    gen_write(g, conn, frame, n);
    g->unconfirmed[conn] = 0; /* a query changes nothing */
    gen_close(g, p, 1);
}

/* A byte that is not a message type the server handles (so garbage never changes state),
 * with the odd handled type in v144, where the resync makes it a message start. */
static uint8_t gen_garbage_byte(gen *g) {
    if (g->v144 && gen_chance(&g->rng, 3)) {
        static const uint8_t starts[] = {PROTO_FREE, PROTO_QUERY, PROTO_RESPONSE,
                                         PROTO_DEVICE_INFO_RESPONSE};
        return starts[rng_below(&g->rng, sizeof starts / sizeof starts[0])];
    }
    for (;;) {
        uint8_t b = (uint8_t)rng_next(&g->rng);
        if (gen_chance(&g->rng, 40))
            b = 0;
        if (!proto_type_handled(g->rev, b) && (!g->v144 || b == 0 || b > PROTO_DUMP_KERNELS))
            return b;
    }
}

static void op_garbage(gen *g, int p, int conn) {
    conn = gen_quiet_conn(g, p, conn);
    if (conn < 0)
        return;
    uint8_t buf[3 * PROTO_MAX_FRAME + PROTO_MAX_FRAME];
    size_t len;
    if (g->v144 && gen_chance(&g->rng, 50)) {
        /* k bad bytes, then a real frame: the resync finds it when k < 10. */
        size_t k = 1 + rng_below(&g->rng, 12);
        for (size_t i = 0; i < k; i++) {
            uint8_t b;
            do
                b = gen_garbage_byte(g);
            while (b >= 1 && b <= PROTO_DUMP_KERNELS);
            buf[i] = b;
        }
        proto_msg m = gen_msg(PROTO_ALLOC, gen_device(g), gen_size(g), gen_buffer_type(g),
                              g->procs[p].pid, gen_id(g));
        len = k + proto_encode(g->rev, &m, buf + k);
    } else {
        len = 1 + rng_below(&g->rng, 3 * g->fs);
        for (size_t i = 0; i < len; i++)
            buf[i] = gen_garbage_byte(g);
    }
    gen_write(g, conn, buf, len);
    gen_realign(g, conn);
    gen_read_replies(g, conn, 0);
}

typedef enum {
    OP_ALLOC, OP_FREE, OP_STORM, OP_BADFREE, OP_QUERY, OP_DUMP, OP_BADDEV, OP_BADTYPE, OP_SIZES,
    OP_BADMSG, OP_CBKERNEL, OP_DEATH, OP_DEADPID, OP_SPAWN, OP_RECONNECT, OP_MERGE, OP_TRUNCATE,
    OP_EARLYCLOSE, OP_GARBAGE, OP_COUNT
} gen_op;

static void gen_weights(const gen *g, unsigned w[OP_COUNT]) {
    memset(w, 0, sizeof(unsigned) * OP_COUNT);
    unsigned f = g->feat;
    w[OP_ALLOC] = 30;
    w[OP_FREE] = 22;
    if (f & FUZZ_F_REFCOUNT) w[OP_STORM] = 8;
    if (f & FUZZ_F_BADFREE) w[OP_BADFREE] = 6;
    if (f & FUZZ_F_QUERY) w[OP_QUERY] = 8;
    if (f & FUZZ_F_DUMP) w[OP_DUMP] = 4;
    if (f & FUZZ_F_BADDEV) w[OP_BADDEV] = 5;
    if (f & FUZZ_F_BADTYPE) w[OP_BADTYPE] = 4;
    if (f & FUZZ_F_SIZES) w[OP_SIZES] = 4;
    if (f & FUZZ_F_BADMSG) w[OP_BADMSG] = 3;
    if ((f & FUZZ_F_CBKERNEL) && g->v144) w[OP_CBKERNEL] = 10;
    if (f & FUZZ_F_DEATH) w[OP_DEATH] = 3, w[OP_DEADPID] = 4;
    if (f & FUZZ_F_MULTI) w[OP_SPAWN] = 3;
    if (f & FUZZ_F_RECONNECT) w[OP_RECONNECT] = 3;
    if (f & FUZZ_F_MERGE) w[OP_MERGE] = 5;
    if (f & FUZZ_F_TRUNCATE) w[OP_TRUNCATE] = 3;
    if (f & FUZZ_F_EARLYCLOSE) w[OP_EARLYCLOSE] = 3;
    if (f & FUZZ_F_GARBAGE) w[OP_GARBAGE] = 4;
}

static gen_op gen_pick_op(gen *g, const unsigned w[OP_COUNT]) {
    unsigned total = 0;
    for (int i = 0; i < OP_COUNT; i++)
        total += w[i];
    uint64_t x = rng_below(&g->rng, total);
    for (int i = 0; i < OP_COUNT; i++) {
        if (x < w[i])
            return (gen_op)i;
        x -= w[i];
    }
    return OP_ALLOC;
}

/* The process the next operation belongs to: mostly the one that acted last (processes
 * work in bursts, and a switch costs a fence), sometimes any live one. */
static int gen_pick_actor(gen *g) {
    if (g->last_conn >= 0 && gen_chance(&g->rng, 70))
        for (int p = 0; p < g->nprocs; p++)
            if (g->procs[p].alive && g->procs[p].conn == g->last_conn)
                return p;
    return gen_pick_alive(g);
}

static void gen_step(gen *g, gen_op op) {
    if (op == OP_SPAWN) {
        if (gen_spawn(g) >= 0 && gen_chance(&g->rng, 50))
            gen_conn_of(g, g->nprocs - 1);
        return;
    }
    if (op == OP_DEATH) {
        op_death(g);
        return;
    }
    int p = gen_pick_actor(g);
    if (p < 0) {
        if (gen_spawn(g) < 0)
            return;
        p = g->nprocs - 1;
    }
    if (op == OP_RECONNECT) {
        op_reconnect(g, p);
        return;
    }
    int conn = gen_conn_of(g, p);
    if (conn < 0)
        return;
    switch (op) {
    case OP_ALLOC: op_alloc(g, p, conn); break;
    case OP_FREE: op_free(g, p, conn); break;
    case OP_STORM: op_storm(g, p, conn); break;
    case OP_BADFREE: op_badfree(g, p, conn); break;
    case OP_QUERY: op_query(g, p, conn); break;
    case OP_DUMP: op_dump(g, p, conn); break;
    case OP_BADDEV: op_baddev(g, p, conn); break;
    case OP_BADTYPE: op_badtype(g, p, conn); break;
    case OP_SIZES: op_sizes(g, p, conn); break;
    case OP_BADMSG: op_badmsg(g, p, conn); break;
    case OP_CBKERNEL: op_cbkernel(g, p, conn); break;
    case OP_DEADPID: op_deadpid(g, p, conn); break;
    case OP_MERGE: op_merge(g, p, conn); break;
    case OP_TRUNCATE: op_truncate(g, p, conn); break;
    case OP_EARLYCLOSE: op_earlyclose(g, p, conn); break;
    case OP_GARBAGE: op_garbage(g, p, conn); break;
    default: break;
    }
}

int fuzz_generate(const fuzz_gen_config *cfg, uint64_t n, stream *out, char *err, size_t errlen) {
    stream_init(out, cfg->rev);
    gen g;
    memset(&g, 0, sizeof g);
    rng_init(&g.rng, fuzz_stream_seed(cfg->seed, n), rng_stream_id("fuzz-ops"));
    g.feat = fuzz_stream_features(cfg, n);
    g.s = out;
    g.rev = cfg->rev;
    g.fs = proto_rev_get(cfg->rev)->frame_size;
    g.max_devices = proto_rev_get(cfg->rev)->max_devices;
    g.v144 = rev_is_v144(cfg->rev);
    g.last_conn = -1;
    g.m = fuzz_model_new(cfg->rev, 0);
    if (!g.m) {
        snprintf(err, errlen, "fuzz: out of memory");
        return -1;
    }
    fuzz_model_set_liveness(g.m, gen_dead, &g);
    /* A few devices, so that keys collide; sometimes all of them. */
    g.ndev = 1 + (int)rng_below(&g.rng, 4);
    if (gen_chance(&g.rng, 10))
        g.ndev = g.max_devices;

    int procs = (g.feat & FUZZ_F_MULTI) ? 1 + (int)rng_below(&g.rng, 3) : 1;
    for (int i = 0; i < procs; i++)
        gen_spawn(&g);
    for (int i = 0; i < procs; i++)
        gen_conn_of(&g, i);

    unsigned w[OP_COUNT];
    gen_weights(&g, w);
    uint32_t max_ops = cfg->max_ops ? cfg->max_ops : 24;
    uint32_t ops = 1 + (uint32_t)rng_below(&g.rng, max_ops);
    for (uint32_t i = 0; i < ops && !g.failed; i++)
        gen_step(&g, gen_pick_op(&g, w));
    fuzz_model_free(g.m);
    if (g.failed) {
        stream_release(out);
        snprintf(err, errlen, "fuzz: out of memory while generating stream %" PRIu64, n);
        return -1;
    }
    return 0;
}

/* ---- minimising ------------------------------------------------------------------------------ */

typedef struct {
    fuzz_pred_fn pred;
    void *ctx;
    fuzz_min_config *cfg;
    uint32_t max_tests;
    int stop;    /* the predicate asked to stop, or the budget is spent */
    int oom;
} minimiser;

/* Runs the predicate on cand. Returns 1 if it holds. */
static int min_test(minimiser *mn, const stream *cand) {
    if (mn->stop)
        return 0;
    if (mn->cfg->tests >= mn->max_tests) {
        mn->stop = 1;
        return 0;
    }
    mn->cfg->tests++;
    int r = mn->pred(mn->ctx, cand);
    if (r < 0) {
        mn->stop = 2;
        return 0;
    }
    return r == 1;
}

/* Builds the stream made of in's processes and the records whose keep flag is set. */
static int min_subset(const stream *in, const uint8_t *keep, stream *out) {
    stream_init(out, in->rev);
    for (uint32_t i = 0; i < in->nprocs; i++)
        if (stream_add_proc(out, in->procs[i].recorded_pid, in->procs[i].name) < 0)
            goto fail;
    for (size_t i = 0; i < in->nrecords; i++) {
        if (!keep[i])
            continue;
        const stream_record *r = &in->records[i];
        if (stream_append(out, r->op, r->flags, r->id, rec_bytes(in, r), r->len) != 0)
            goto fail;
    }
    return 0;
fail:
    stream_release(out);
    return -1;
}

/* Replaces *cur with *cand (taking ownership). */
static void min_take(stream *cur, stream *cand) {
    stream_release(cur);
    *cur = *cand;
    memset(cand, 0, sizeof *cand);
}

/* ddmin over whole records: try removing chunks, halving the chunk size when nothing goes. */
static void min_records(minimiser *mn, stream *cur) {
    size_t chunks = 2;
    while (!mn->stop && cur->nrecords > 0) {
        size_t n = cur->nrecords;
        if (chunks > n)
            chunks = n;
        size_t size = (n + chunks - 1) / chunks;
        int reduced = 0;
        uint8_t *keep = mem_alloc(n);
        if (!keep) {
            mn->oom = 1;
            return;
        }
        for (size_t start = 0; start < n && !mn->stop; start += size) {
            for (size_t i = 0; i < n; i++)
                keep[i] = i < start || i >= start + size;
            stream cand;
            if (min_subset(cur, keep, &cand) != 0) {
                mn->oom = 1;
                break;
            }
            if (min_test(mn, &cand)) {
                min_take(cur, &cand);
                reduced = 1;
                break;
            }
            stream_release(&cand);
        }
        mem_free(keep);
        if (mn->oom)
            return;
        if (reduced) {
            if (chunks > 2)
                chunks--;
            continue;
        }
        if (size == 1)
            return;
        chunks *= 2;
    }
}

/* Builds a copy of cur whose record idx has payload p[0..len). */
static int min_with_payload(const stream *cur, size_t idx, const uint8_t *p, uint32_t len,
                            stream *out) {
    stream_init(out, cur->rev);
    for (uint32_t i = 0; i < cur->nprocs; i++)
        if (stream_add_proc(out, cur->procs[i].recorded_pid, cur->procs[i].name) < 0)
            goto fail;
    for (size_t i = 0; i < cur->nrecords; i++) {
        const stream_record *r = &cur->records[i];
        const uint8_t *payload = i == idx ? p : rec_bytes(cur, r);
        uint32_t plen = i == idx ? len : r->len;
        if (stream_append(out, r->op, r->flags, r->id, payload, plen) != 0)
            goto fail;
    }
    return 0;
fail:
    stream_release(out);
    return -1;
}

/* Tries cur with record idx's payload replaced; keeps it when the predicate holds. */
static int min_try_payload(minimiser *mn, stream *cur, size_t idx, const uint8_t *p, uint32_t len) {
    stream cand;
    if (min_with_payload(cur, idx, p, len, &cand) != 0) {
        mn->oom = 1;
        return 0;
    }
    if (min_test(mn, &cand)) {
        min_take(cur, &cand);
        return 1;
    }
    stream_release(&cand);
    return 0;
}

/* Joins records i and i+1 (WRITEs on one connection) into one write. */
static int min_join(const stream *cur, size_t i, stream *out) {
    stream_init(out, cur->rev);
    for (uint32_t p = 0; p < cur->nprocs; p++)
        if (stream_add_proc(out, cur->procs[p].recorded_pid, cur->procs[p].name) < 0)
            goto fail;
    for (size_t k = 0; k < cur->nrecords; k++) {
        const stream_record *r = &cur->records[k];
        if (k == i + 1)
            continue;
        if (k != i) {
            if (stream_append(out, r->op, r->flags, r->id, rec_bytes(cur, r), r->len) != 0)
                goto fail;
            continue;
        }
        const stream_record *n = &cur->records[i + 1];
        uint8_t *joined = mem_alloc((size_t)r->len + n->len + 1);
        if (!joined)
            goto fail;
        copy_bytes(joined, rec_bytes(cur, r), r->len);
        copy_bytes(joined + r->len, rec_bytes(cur, n), n->len);
        int rc = stream_append(out, r->op, r->flags, r->id, joined, r->len + n->len);
        mem_free(joined);
        if (rc != 0)
            goto fail;
    }
    return 0;
fail:
    stream_release(out);
    return -1;
}

/* Removes bytes [at, at + take) of WRITE record idx if the predicate still holds. */
static int min_cut(minimiser *mn, stream *cur, size_t idx, size_t at, size_t take) {
    const stream_record *r = &cur->records[idx];
    uint8_t *p = mem_alloc(r->len);
    if (!p) {
        mn->oom = 1;
        return 0;
    }
    const uint8_t *old = rec_bytes(cur, r);
    copy_bytes(p, old, at);
    copy_bytes(p + at, old + at + take, r->len - at - take);
    int ok = min_try_payload(mn, cur, idx, p, (uint32_t)(r->len - take));
    mem_free(p);
    return ok;
}

/* Inside WRITE records: neighbouring writes on one connection joined (a split frame whose
 * split does not matter becomes one write), whole frames removed, then for writes that are
 * not whole frames (garbage, partial frames) the odd tail and smaller chunks, a bounded number
 * of tries per record. */
static void min_bytes(minimiser *mn, stream *cur) {
    const size_t fs = cur->frame_size;
    for (size_t i = 0; i + 1 < cur->nrecords && !mn->stop && !mn->oom;) {
        const stream_record *a = &cur->records[i], *b = &cur->records[i + 1];
        if (a->op == STREAM_OP_WRITE && b->op == STREAM_OP_WRITE && a->id == b->id &&
            a->flags == b->flags) {
            stream cand;
            if (min_join(cur, i, &cand) != 0) {
                mn->oom = 1;
                return;
            }
            if (min_test(mn, &cand)) {
                min_take(cur, &cand);
                continue; /* record i grew: try joining it with the next one too */
            }
            stream_release(&cand);
        }
        i++;
    }
    for (size_t idx = 0; idx < cur->nrecords && !mn->stop && !mn->oom; idx++) {
        if (cur->records[idx].op != STREAM_OP_WRITE)
            continue;
        for (size_t at = 0; !mn->stop && !mn->oom;) {
            size_t len = cur->records[idx].len;
            if (at + fs > len || len <= fs)
                break;
            if (!min_cut(mn, cur, idx, at, fs))
                at += fs;
        }
        size_t len = cur->records[idx].len;
        if (len % fs == 0)
            continue;
        if (len > fs)
            min_cut(mn, cur, idx, len - len % fs, len % fs);
        int budget = 48;
        for (size_t chunk = fs / 2; chunk >= 1 && budget > 0 && !mn->stop && !mn->oom; chunk /= 2) {
            for (size_t at = 0; budget > 0 && !mn->stop && !mn->oom;) {
                len = cur->records[idx].len;
                if (at >= len || len <= 1)
                    break;
                size_t take = chunk < len - at ? chunk : len - at;
                if (take >= len)
                    break;
                budget--;
                if (!min_cut(mn, cur, idx, at, take))
                    at += take;
            }
            if (chunk == 1)
                break;
        }
    }
}

/* Field simplification: each multi-byte field of each frame set to zero, one at a time. */
static void min_fields(minimiser *mn, stream *cur) {
    static const struct {
        size_t off, len;
    } fields[] = {{1, 3}, {4, 4}, {8, 8}, {16, 1}, {17, 3}, {20, 4}, {24, 8}, {32, 8}};
    const size_t fs = cur->frame_size;
    for (size_t idx = 0; idx < cur->nrecords && !mn->stop && !mn->oom; idx++) {
        if (cur->records[idx].op != STREAM_OP_WRITE)
            continue;
        size_t nframes = cur->records[idx].len / fs;
        for (size_t f = 0; f < nframes && !mn->stop && !mn->oom; f++) {
            size_t nf = sizeof fields / sizeof fields[0] + 1;
            for (size_t k = 0; k < nf && !mn->stop && !mn->oom; k++) {
                const stream_record *r = &cur->records[idx];
                size_t off = k < nf - 1 ? fields[k].off : 40;
                size_t len = k < nf - 1 ? fields[k].len : fs - 40; /* the reply-only tail */
                const uint8_t *old = cur->payload + r->offset + f * fs;
                int zero = 1;
                for (size_t i = 0; i < len; i++)
                    if (old[off + i])
                        zero = 0;
                if (zero)
                    continue;
                uint8_t *p = mem_alloc(r->len);
                if (!p) {
                    mn->oom = 1;
                    return;
                }
                memcpy(p, cur->payload + r->offset, r->len);
                memset(p + f * fs + off, 0, len);
                min_try_payload(mn, cur, idx, p, r->len);
                mem_free(p);
            }
        }
    }
}

/* Tries the stream made of the records for which keep_fn says 1. */
static void min_try_keep(minimiser *mn, stream *cur, int (*keep_fn)(const stream_record *r, size_t i, size_t arg),
                         size_t arg) {
    uint8_t *keep = mem_alloc(cur->nrecords ? cur->nrecords : 1);
    if (!keep) {
        mn->oom = 1;
        return;
    }
    size_t kept = 0;
    for (size_t i = 0; i < cur->nrecords; i++)
        kept += keep[i] = (uint8_t)keep_fn(&cur->records[i], i, arg);
    if (kept < cur->nrecords) {
        stream cand;
        if (min_subset(cur, keep, &cand) != 0)
            mn->oom = 1;
        else if (min_test(mn, &cand))
            min_take(cur, &cand);
        else
            stream_release(&cand);
    }
    mem_free(keep);
}

static int keep_upto(const stream_record *r, size_t i, size_t last) {
    (void)r;
    return i <= last;
}

/* Records that put bytes on the wire, and SPAWN (the executor opens connections itself). */
static int keep_sending(const stream_record *r, size_t i, size_t arg) {
    (void)i;
    (void)arg;
    return r->op == STREAM_OP_WRITE || r->op == STREAM_OP_DUMP || r->op == STREAM_OP_SPAWN;
}

int fuzz_minimise(const stream *in, fuzz_pred_fn pred, void *ctx, fuzz_min_config *cfg,
                  stream *out, char *err, size_t errlen) {
    minimiser mn;
    memset(&mn, 0, sizeof mn);
    mn.pred = pred;
    mn.ctx = ctx;
    mn.cfg = cfg;
    mn.max_tests = cfg->max_tests ? cfg->max_tests : 400;
    cfg->tests = 0;
    if (fuzz_stream_copy(in, out) != 0) {
        snprintf(err, errlen, "minimise: out of memory");
        return -1;
    }
    if (cfg->fail_record + 1 < out->nrecords)
        min_try_keep(&mn, out, keep_upto, cfg->fail_record);
    min_try_keep(&mn, out, keep_sending, 0);
    for (int round = 0; round < 3 && !mn.stop && !mn.oom; round++) {
        size_t before_records = out->nrecords, before_bytes = out->payload_len;
        min_records(&mn, out);
        min_bytes(&mn, out);
        min_records(&mn, out);
        min_fields(&mn, out);
        if (out->nrecords == before_records && out->payload_len == before_bytes)
            break;
    }
    if (mn.oom) {
        snprintf(err, errlen, "minimise: out of memory");
        return -1;
    }
    if (mn.stop == 2) {
        snprintf(err, errlen, "minimise: stopped by an error after %" PRIu32 " tests", cfg->tests);
        return -1;
    }
    return 0;
}

/* ---- rendering ------------------------------------------------------------------------------- */

static void render_pid(const stream *s, int32_t pid, sbuf *out) {
    for (uint32_t i = 0; i < s->nprocs; i++)
        if (s->procs[i].recorded_pid == pid) {
            sbuf_printf(out, "#%" PRIu32, i);
            return;
        }
    sbuf_printf(out, "%" PRId32, pid);
}

static void render_frame(const stream *s, const uint8_t *f, sbuf *out) {
    proto_msg m;
    proto_decode(s->rev, f, s->frame_size, &m);
    const char *name = proto_type_name(m.type);
    int handled = proto_type_handled(s->rev, m.type);
    if (!name || !handled)
        sbuf_printf(out, "type=%u%s%s%s", m.type, name ? "(" : "", name ? name : "", name ? ")" : "");
    else
        sbuf_puts(out, name);
    switch (m.type) {
    case PROTO_ALLOC:
        sbuf_printf(out, " dev=%" PRId32 " size=%" PRIu64 " type=%s pid=", m.device_id, m.size,
                    m.buffer_type < PROTO_BUF_TYPE_COUNT ? proto_buffer_type_name(m.buffer_type) : "?");
        if (m.buffer_type >= PROTO_BUF_TYPE_COUNT)
            sbuf_printf(out, "(%u) pid=", m.buffer_type);
        render_pid(s, m.process_id, out);
        sbuf_printf(out, " id=0x%" PRIx64, m.buffer_id);
        break;
    case PROTO_FREE:
    case PROTO_CB_ALLOC:
    case PROTO_CB_FREE:
    case PROTO_KERNEL_UNLOAD:
        sbuf_printf(out, " dev=%" PRId32 " id=0x%" PRIx64 " size=%" PRIu64 " pid=", m.device_id,
                    m.buffer_id, m.size);
        render_pid(s, m.process_id, out);
        break;
    case PROTO_KERNEL_LOAD:
        sbuf_printf(out, " dev=%" PRId32 " id=0x%" PRIx64 " size=%" PRIu64 " kernel=%s pid=",
                    m.device_id, m.buffer_id, m.size, proto_kernel_type_name(m.buffer_type));
        render_pid(s, m.process_id, out);
        break;
    case PROTO_QUERY:
    case PROTO_DEVICE_INFO_QUERY:
        sbuf_printf(out, " dev=%" PRId32, m.device_id);
        break;
    case PROTO_DUMP_REMAINING:
    case PROTO_DUMP_KERNELS:
        break;
    default:
        sbuf_printf(out, " dev=%" PRId32 " size=%" PRIu64 " btype=%u pid=", m.device_id, m.size,
                    m.buffer_type);
        render_pid(s, m.process_id, out);
        sbuf_printf(out, " id=0x%" PRIx64, m.buffer_id);
        break;
    }
    int extra = m.timestamp != 0 || m.pad1[0] || m.pad1[1] || m.pad1[2] || m.pad2[0] || m.pad2[1] ||
                m.pad2[2];
    for (size_t i = 40; i < s->frame_size; i++)
        if (f[i])
            extra = 1;
    if (extra)
        sbuf_puts(out, " (+other fields set)");
}

static void render_hex(const uint8_t *p, size_t len, sbuf *out) {
    size_t show = len < 16 ? len : 16;
    for (size_t i = 0; i < show; i++)
        sbuf_printf(out, "%s%02x", i ? " " : "", p[i]);
    if (show < len)
        sbuf_puts(out, " ...");
}

typedef struct {
    const stream *s;
    sbuf *out;
    size_t record_start; /* payload offset of the record being rendered */
    int items;
    size_t dropped;
    uint8_t drop_sample[8];
    int closed;
} render_ctx;

static void render_sep(render_ctx *rc) {
    sbuf_puts(rc->out, rc->items++ ? " | " : " ");
}

static void render_flush_drops(render_ctx *rc) {
    if (!rc->dropped)
        return;
    render_sep(rc);
    sbuf_printf(rc->out, "resync drops %zu byte%s (", rc->dropped, rc->dropped == 1 ? "" : "s");
    render_hex(rc->drop_sample, rc->dropped < sizeof rc->drop_sample ? rc->dropped : sizeof rc->drop_sample, rc->out);
    if (rc->dropped > sizeof rc->drop_sample)
        sbuf_puts(rc->out, " ...");
    sbuf_puts(rc->out, ")");
    rc->dropped = 0;
}

static void render_on_frame(void *ctx, const uint8_t *val, const size_t *off) {
    render_ctx *rc = ctx;
    render_flush_drops(rc);
    render_sep(rc);
    if (off[0] != FUZZ_SYNTH && off[0] < rc->record_start)
        sbuf_puts(rc->out, "(completes an earlier partial) ");
    render_frame(rc->s, val, rc->out);
}

static void render_on_drop(void *ctx, uint8_t byte, int closed) {
    render_ctx *rc = ctx;
    if (rc->dropped < sizeof rc->drop_sample)
        rc->drop_sample[rc->dropped] = byte;
    rc->dropped++;
    if (closed) {
        render_flush_drops(rc);
        render_sep(rc);
        sbuf_puts(rc->out, "the server gives up: 10 bad type bytes in a row close the connection");
    }
}

void fuzz_stream_render(const stream *s, sbuf *out) {
    sbuf_printf(out, "# allocstream: revision %s, frame %zu bytes, %" PRIu32 " processes, %zu records, %zu frames\n",
                proto_rev_get(s->rev)->name, s->frame_size, s->nprocs, s->nrecords, fuzz_stream_frames(s));
    for (uint32_t i = 0; i < s->nprocs; i++)
        sbuf_printf(out, "process #%" PRIu32 " %s recorded pid %" PRId32 "\n", i, s->procs[i].name,
                    s->procs[i].recorded_pid);
    size_t nconns = stream_conn_count(s);
    walk_conn *conns = nconns ? mem_calloc(nconns, sizeof *conns) : NULL;
    render_ctx rc;
    memset(&rc, 0, sizeof rc);
    rc.s = s;
    rc.out = out;
    walk_fns fn = {render_on_frame, render_on_drop, &rc};
    for (size_t i = 0; i < s->nrecords; i++) {
        const stream_record *r = &s->records[i];
        const uint8_t *p = rec_bytes(s, r);
        const char *op = stream_op_name(r->op);
        sbuf_printf(out, "%4zu %s", i, op ? op : "?");
        switch (r->op) {
        case STREAM_OP_SPAWN:
        case STREAM_OP_CRASH:
        case STREAM_OP_EXIT:
            sbuf_printf(out, " #%u", r->id);
            break;
        case STREAM_OP_CONNECT:
            sbuf_printf(out, " conn %u for #%u", r->id, r->len == 2 ? (unsigned)(p[0] | p[1] << 8) : 0);
            break;
        case STREAM_OP_SLEEP:
            sbuf_printf(out, " %" PRIu32 " ms", r->len == 4 ? proto_le_get32(p) : 0);
            break;
        case STREAM_OP_CLOSE:
            sbuf_printf(out, " conn %u%s", r->id, (r->flags & FUZZ_FLAG_ABORT) ? " abruptly" : "");
            break;
        case STREAM_OP_WRITE:
        case STREAM_OP_DUMP:
            sbuf_printf(out, " conn %u", r->id);
            if (r->op == STREAM_OP_WRITE || r->len)
                sbuf_printf(out, " %" PRIu32 " bytes%s:", r->len,
                            (r->flags & STREAM_FLAG_VERBATIM) ? " verbatim" : "");
            break;
        default:
            sbuf_printf(out, " conn %u", r->id);
            break;
        }
        if (conns && record_is_conn_op(r)) {
            walk_conn *c = &conns[r->id];
            walk_conn_op(r, c);
            if (r->op == STREAM_OP_WRITE || (r->op == STREAM_OP_DUMP && r->len)) {
                rc.record_start = r->offset;
                rc.items = 0;
                int was_closed = c->closed;
                walk_record(s, r, c, &fn);
                render_flush_drops(&rc);
                if (was_closed) {
                    render_sep(&rc);
                    sbuf_puts(out, "ignored: the server closed this connection");
                } else if (c->open && !c->closed && c->have) {
                    render_sep(&rc);
                    sbuf_printf(out, "partial frame, %zu of %zu bytes: ", c->have, s->frame_size);
                    render_hex(c->val, c->have, out);
                }
            } else if (r->op == STREAM_OP_DUMP) {
                walk_fns quiet = {NULL, NULL, NULL}; /* keeps the framing, shows nothing */
                walk_record(s, r, c, &quiet);
            }
        } else if (r->op == STREAM_OP_WRITE) {
            sbuf_puts(out, " ");
            render_hex(p, r->len, out);
        }
        sbuf_putc(out, '\n');
    }
    mem_free(conns);
}
