/* fuzz_gen: the stream generator of `allocsim fuzz` — features, stream seeds, and the
 * stateful generator that turns a campaign seed and a stream number into an .allocstream.
 *
 * The generator is stateful: it keeps a model of the server (the same one the executor uses
 * as its oracle) so that frees hit live buffers, storms hit live keys, fences go where order
 * across connections matters, and a connection left misaligned by garbage is realigned before
 * a real frame follows. Its only source of randomness is sim/rng.h (xoshiro256**), seeded from
 * the campaign seed and the stream number; it never asks the operating system anything, so a
 * seed reproduces the same bytes anywhere.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz.h"
#include "fuzz_int.h"
#include "mem.h"
#include "rng.h"

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

