/* fuzz_model: the oracle of `allocsim fuzz` — a ledger (sim/ledger.h) behind the reference
 * server's robust framing, with the replies and reports each connection is owed, the frames
 * that bring a server back to empty, and the field-by-field comparison of reply frames.
 *
 * Bytes are consumed per connection in whole frames by sim/framing (in v144 a bad type byte
 * drops one byte and ten in a row close the connection; a partial frame left at close is
 * dropped). CBs and
 * kernels are shadowed here so the reset frames can undo them.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz.h"
#include "framing.h"
#include "fuzz_int.h"
#include "mem.h"
#include "rng.h"

/* ---- the model ------------------------------------------------------------------------------- */

typedef struct {
    uint8_t kind;
    uint8_t frame[PROTO_MAX_FRAME];
} model_reply;

typedef struct {
    int used;
    int open;
    int proc;
    framing fr; /* the server's framing of this connection (sim/framing.h) */
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
    const dev_config *devices; /* the chips the modelled server detects (NULL: none) */
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
    cfg.devices = m->devices;
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

int fuzz_model_set_devices(fuzz_model *m, const dev_config *devices) {
    m->devices = devices;
    return fuzz_model_reset(m);
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
    framing_init(&c->fr, m->rev);
    return 0;
}

void fuzz_model_close(fuzz_model *m, uint16_t conn) {
    model_conn *c = model_conn_get(m, conn);
    if (!c)
        return;
    c->open = 0;
    c->fr.have = 0;
    c->rhead = c->rcount = 0;
}

fuzz_conn_state fuzz_model_conn(const fuzz_model *m, uint16_t conn) {
    fuzz_conn_state st = {0, 0, 0, 0, -1, 0};
    const model_conn *c = model_conn_get(m, conn);
    if (!c)
        return st;
    st.open = c->open;
    st.server_closed = c->fr.closed;
    st.pending = framing_pending(&c->fr);
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

/* Applies the complete frame in c->fr.buf. Returns 1 when it was handled, 0 when the transport
 * dropped its first byte (v144 resync), -1 when out of memory. */
static int model_apply_frame(fuzz_model *m, model_conn *c) {
    proto_msg msg, reply;
    proto_decode(m->rev, c->fr.buf, m->frame_size, &msg);
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
        framing_resync(&c->fr);
        return 0;
    }
    framing_handled(&c->fr);
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
    if (!c || !c->open || c->fr.closed)
        return 0;
    int applied = 0;
    for (size_t i = 0; i < len; i++) {
        if (!framing_push(&c->fr, bytes[i]))
            continue;
        int r = model_apply_frame(m, c);
        if (r < 0)
            return -1;
        applied += r;
        if (c->fr.closed)
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

