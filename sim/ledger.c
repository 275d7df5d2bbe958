/* ledger: the allocation server's state machine and output, per protocol.md §4 and §5.
 *
 * Three registries keyed by (device_id, buffer_id) live in open-addressing hash tables
 * (linear probing, backward-shift deletion, XXH3 of the key): buffers (with ref counts),
 * and in v144 CBs and kernels (overwrite semantics, no ref count). Reports sort entries at
 * print time, so no output ever depends on hash order. Lines are rendered only when an emit
 * callback is configured.
 */
#include "ledger.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
/* Header-only xxHash: the key hash is on the simulator's hot path. */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "lhist.h"
#include "mem.h"
#include "sbuf.h"

typedef struct {
    int32_t device_id;
    uint8_t used;
    uint8_t type; /* buffer type, or kernel type */
    int32_t pid;
    int32_t ref_count;
    uint64_t buffer_id;
    uint64_t size;
    uint64_t time_ns;
} slot;

typedef struct {
    slot *slots;
    size_t cap; /* power of two, 0 before the first insert */
    size_t count;
} table;

struct ledger {
    ledger_config cfg;
    int max_devices;
    uint64_t now_ns;
    table buffers, cbs, kernels;
    ledger_counters *counters; /* max_devices entries, separately allocated (see NO_BOUNDS) */
    sbuf line;
    lhist *hist; /* enhanced dialect: every (device, id)'s history, kept forever */
};

static int enhanced(const ledger *l) { return l->cfg.dialect == LEDGER_DIALECT_ENHANCED; }

/* ---- hash table ----------------------------------------------------------------------- */

static size_t key_hash(int32_t dev, uint64_t id) {
    uint8_t k[12];
    uint32_t d = (uint32_t)dev;
    for (int i = 0; i < 4; i++)
        k[i] = (uint8_t)(d >> (8 * i));
    for (int i = 0; i < 8; i++)
        k[4 + i] = (uint8_t)(id >> (8 * i));
    return (size_t)XXH3_64bits(k, sizeof k);
}

static slot *table_find(const table *t, int32_t dev, uint64_t id) {
    if (!t->cap)
        return NULL;
    size_t mask = t->cap - 1;
    for (size_t i = key_hash(dev, id) & mask;; i = (i + 1) & mask) {
        slot *s = &t->slots[i];
        if (!s->used)
            return NULL;
        if (s->device_id == dev && s->buffer_id == id)
            return s;
    }
}

static int table_grow(table *t) {
    size_t cap = t->cap ? t->cap * 2 : 64;
    slot *fresh = mem_calloc(cap, sizeof *fresh);
    if (!fresh)
        return -1;
    for (size_t i = 0; i < t->cap; i++) {
        if (!t->slots[i].used)
            continue;
        size_t j = key_hash(t->slots[i].device_id, t->slots[i].buffer_id) & (cap - 1);
        while (fresh[j].used)
            j = (j + 1) & (cap - 1);
        fresh[j] = t->slots[i];
    }
    mem_free(t->slots);
    t->slots = fresh;
    t->cap = cap;
    return 0;
}

/* Returns the slot for the key, creating an empty used slot if absent (*created = 1).
 * NULL when out of memory. */
static slot *table_upsert(table *t, int32_t dev, uint64_t id, int *created) {
    *created = 0;
    slot *s = table_find(t, dev, id);
    if (s)
        return s;
    if ((t->count + 1) * 4 > t->cap * 3 && table_grow(t) != 0)
        return NULL;
    size_t mask = t->cap - 1;
    size_t i = key_hash(dev, id) & mask;
    while (t->slots[i].used)
        i = (i + 1) & mask;
    s = &t->slots[i];
    memset(s, 0, sizeof *s);
    s->used = 1;
    s->device_id = dev;
    s->buffer_id = id;
    t->count++;
    *created = 1;
    return s;
}

static void table_erase(table *t, slot *s) {
    size_t mask = t->cap - 1;
    size_t hole = (size_t)(s - t->slots);
    t->slots[hole].used = 0;
    t->count--;
    for (size_t i = (hole + 1) & mask; t->slots[i].used; i = (i + 1) & mask) {
        size_t home = key_hash(t->slots[i].device_id, t->slots[i].buffer_id) & mask;
        /* Move the entry into the hole if its home does not lie cyclically in (hole, i]. */
        int in_range = hole <= i ? (home > hole && home <= i) : (home > hole || home <= i);
        if (!in_range) {
            t->slots[hole] = t->slots[i];
            t->slots[i].used = 0;
            hole = i;
        }
    }
}

static void table_release(table *t) {
    mem_free(t->slots);
    memset(t, 0, sizeof *t);
}

/* Collects every used slot sorted by (device, type, id); NULL with *n = 0 if empty or out of
 * memory (*oom set). */
static int cmp_slot(const void *a, const void *b) {
    const slot *x = a, *y = b;
    if (x->device_id != y->device_id)
        return x->device_id < y->device_id ? -1 : 1;
    if (x->type != y->type)
        return x->type < y->type ? -1 : 1;
    if (x->buffer_id != y->buffer_id)
        return x->buffer_id < y->buffer_id ? -1 : 1;
    return 0;
}

static int cmp_slot_by_id(const void *a, const void *b) {
    const slot *x = a, *y = b;
    if (x->device_id != y->device_id)
        return x->device_id < y->device_id ? -1 : 1;
    return x->buffer_id < y->buffer_id ? -1 : x->buffer_id > y->buffer_id;
}

static slot *table_sorted(const table *t, size_t *n, int *oom) {
    *n = 0;
    *oom = 0;
    if (!t->count)
        return NULL;
    slot *out = mem_alloc(t->count * sizeof *out);
    if (!out) {
        *oom = 1;
        return NULL;
    }
    for (size_t i = 0; i < t->cap; i++)
        if (t->slots[i].used)
            out[(*n)++] = t->slots[i];
    qsort(out, *n, sizeof *out, cmp_slot);
    return out;
}

/* ---- output --------------------------------------------------------------------------- */

void ledger_format_mb(char *buf, size_t n, uint64_t bytes) {
    snprintf(buf, n, "%g", (double)bytes / (1024.0 * 1024.0));
}

void ledger_format_kb(char *buf, size_t n, uint64_t bytes) {
    snprintf(buf, n, "%g", (double)bytes / 1024.0);
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void say(ledger *l, ledger_stream stream, const char *fmt, ...) {
    if (!l->cfg.emit)
        return;
    va_list ap;
    va_start(ap, fmt);
    sbuf_reset(&l->line);
    sbuf_vprintf(&l->line, fmt, ap);
    va_end(ap);
    l->cfg.emit(l->cfg.emit_ctx, stream, sbuf_str(&l->line), l->line.len);
}

/* The buffer id as the revision prints it in alloc/free/unknown lines. */
static const char *fmt_id(const ledger *l, uint64_t id, char *buf, size_t n) {
    if (proto_rev_get(l->cfg.rev)->hex_ids || enhanced(l))
        snprintf(buf, n, "0x%" PRIx64, id);
    else
        snprintf(buf, n, "%" PRIu64, id);
    return buf;
}

static const char frame_top[] = "╔══════════════════════════════════════════════════════════════╗";
static const char frame_bottom[] = "╚══════════════════════════════════════════════════════════════╝";
static const char box_top[] = "  ┌─────────────────────────────────────────────────────────┐";
static const char box_bottom[] = "  └─────────────────────────────────────────────────────────┘";

/* ---- lifecycle ------------------------------------------------------------------------ */

ledger *ledger_new(const ledger_config *cfg) {
    ledger *l = mem_calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->cfg = *cfg;
    l->max_devices = proto_rev_get(cfg->rev)->max_devices;
    l->counters = mem_calloc((size_t)l->max_devices, sizeof *l->counters);
    if (!l->counters || (enhanced(l) && !(l->hist = lhist_new()))) {
        mem_free(l->counters);
        mem_free(l);
        return NULL;
    }
    return l;
}

void ledger_free(ledger *l) {
    if (!l)
        return;
    table_release(&l->buffers);
    table_release(&l->cbs);
    table_release(&l->kernels);
    mem_free(l->counters);
    sbuf_release(&l->line);
    lhist_free(l->hist);
    mem_free(l);
}

void ledger_set_time(ledger *l, uint64_t now_ns) { l->now_ns = now_ns; }

void ledger_set_emit(ledger *l, ledger_emit_fn emit, void *ctx) {
    l->cfg.emit = emit;
    l->cfg.emit_ctx = ctx;
}

void ledger_set_liveness(ledger *l, ledger_dead_fn is_dead, void *ctx) {
    l->cfg.is_dead = is_dead;
    l->cfg.dead_ctx = ctx;
}

static int device_ok(const ledger *l, int32_t dev) { return dev >= 0 && dev < l->max_devices; }

static uint64_t *type_counter(ledger_counters *c, uint8_t type) {
    switch (type) {
    case PROTO_BUF_DRAM:
        return &c->dram;
    case PROTO_BUF_L1:
        return &c->l1;
    case PROTO_BUF_SYSTEM_MEMORY:
    case PROTO_BUF_L1_SMALL:
        return &c->l1_small;
    default:
        return &c->trace;
    }
}

static uint64_t *kernel_type_counter(ledger_counters *c, uint8_t ktype) {
    switch (ktype) {
    case 0:
        return &c->kernel_application;
    case 1:
        return &c->kernel_fabric;
    case 2:
        return &c->kernel_dispatch;
    default:
        return NULL;
    }
}

/* ---- message handlers ----------------------------------------------------------------- */

static int handle_alloc(ledger *l, const proto_msg *m) {
    int v144 = proto_rev_get(l->cfg.rev)->frame_size == 144;
    int checked = !(l->cfg.faults & LEDGER_FAULT_NO_BOUNDS);
    char id[32];
    if (checked && !device_ok(l, m->device_id)) {
        say(l, LEDGER_STDERR, "⚠️  Invalid device_id %d - ignoring message", m->device_id);
        return LEDGER_HANDLED;
    }
    if (v144 && (m->size == 0 || m->size > 100ull * 1024 * 1024 * 1024)) {
        say(l, LEDGER_STDERR, "⚠️  Invalid size %" PRIu64 " - ignoring message", m->size);
        return LEDGER_HANDLED;
    }
    if (m->buffer_type >= PROTO_BUF_TYPE_COUNT) {
        if (enhanced(l))
            say(l, LEDGER_STDERR, "⚠ [PID %d] Invalid buffer_type %d", m->process_id, m->buffer_type);
        else if (v144)
            say(l, LEDGER_STDERR, "⚠️  Invalid buffer_type %d for buffer %" PRIu64 " on device %d",
                m->buffer_type, m->buffer_id, m->device_id);
        else
            say(l, LEDGER_STDERR, "⚠ [PID %d] Invalid buffer_type %d for buffer %" PRIu64 " on device %d",
                m->process_id, m->buffer_type, m->buffer_id, m->device_id);
        return LEDGER_HANDLED;
    }
    int created;
    slot *s = table_upsert(&l->buffers, m->device_id, m->buffer_id, &created);
    if (!s)
        return -1;
    if (!created) {
        if (enhanced(l) && s->size != m->size) {
            /* the enhanced server replaces the size (the counters keep the old one) */
            say(l, LEDGER_STDOUT,
                "⚠ [PID %d] Buffer reused with DIFFERENT size: old=%" PRIu64 " new=%" PRIu64
                " (buffer_id=%" PRIu64 ", device=%d)",
                m->process_id, s->size, m->size, m->buffer_id, m->device_id);
            s->size = m->size;
        }
        if (!(l->cfg.faults & LEDGER_FAULT_REFCOUNT))
            s->ref_count++;
        if (enhanced(l) && lhist_record(l->hist, m->device_id, m->buffer_id, LHIST_REUSE, m->size,
                                        m->process_id, s->ref_count) < 0)
            return -1;
        if (l->cfg.emit)
            say(l, LEDGER_STDOUT,
            "✓ [PID %d] Allocated %" PRIu64 " bytes of %s on device %d (buffer_id=%s, ref_count=%d)",
            m->process_id, m->size, proto_buffer_type_name(m->buffer_type), m->device_id,
            fmt_id(l, m->buffer_id, id, sizeof id), s->ref_count);
        return LEDGER_HANDLED;
    }
    s->size = m->size;
    s->type = m->buffer_type;
    s->pid = m->process_id;
    s->ref_count = 1;
    s->time_ns = l->now_ns;
    if (enhanced(l) && lhist_record(l->hist, m->device_id, m->buffer_id, LHIST_ALLOC, m->size,
                                    m->process_id, 1) < 0) {
        table_erase(&l->buffers, s);
        return -1;
    }
    /* With LEDGER_FAULT_NO_BOUNDS this index is unchecked on purpose (the planted defect of
     * the real v72/v112 servers). */
    ledger_counters *c = &l->counters[m->device_id];
    c->num_buffers++;
    *type_counter(c, m->buffer_type) += m->size;
    if (l->cfg.emit)
        say(l, LEDGER_STDOUT, "✓ [PID %d] Allocated %" PRIu64 " bytes of %s on device %d (buffer_id=%s)",
        m->process_id, m->size, proto_buffer_type_name(m->buffer_type), m->device_id,
        fmt_id(l, m->buffer_id, id, sizeof id));
    return LEDGER_HANDLED;
}

static void drop_buffer_counts(ledger *l, const slot *s) {
    if (!device_ok(l, s->device_id))
        return;
    ledger_counters *c = &l->counters[s->device_id];
    c->num_buffers--;
    *type_counter(c, s->type) -= s->size;
}

/* Enhanced dialect, FREE of a key that is not live: ALREADY FREED with the last five events
 * when the key has a history, "never tracked" otherwise; either way a FREE event is kept. */
static int enhanced_free_unknown(ledger *l, const proto_msg *m) {
    const lhist_entry *h = lhist_find(l->hist, m->device_id, m->buffer_id);
    if (h) {
        say(l, LEDGER_STDOUT,
            "⚠ [PID %d] Deallocation for ALREADY FREED buffer 0x%" PRIx64
            " on device %d (allocs=%" PRIu64 " frees=%" PRIu64 ")",
            m->process_id, m->buffer_id, m->device_id, h->allocs, h->frees + 1);
        say(l, LEDGER_STDOUT, "   Last 5 events for this buffer:");
        for (size_t i = 0; i < 5 && l->cfg.emit; i++) {
            const lhist_event *ev = lhist_newest(h, i);
            char text[96];
            if (!ev)
                break;
            lhist_format(ev, text, sizeof text);
            say(l, LEDGER_STDOUT, "     %s", text);
        }
    } else {
        say(l, LEDGER_STDOUT,
            "⚠ [PID %d] Deallocation for unknown buffer 0x%" PRIx64
            " on device %d (never tracked or allocated before server started)",
            m->process_id, m->buffer_id, m->device_id);
    }
    return lhist_record(l->hist, m->device_id, m->buffer_id, LHIST_FREE, 0, m->process_id, 0) < 0
               ? -1
               : LEDGER_HANDLED;
}

static int handle_free(ledger *l, const proto_msg *m) {
    char id[32];
    slot *s = table_find(&l->buffers, m->device_id, m->buffer_id);
    if (!s && enhanced(l))
        return enhanced_free_unknown(l, m);
    if (!s) {
        if (l->cfg.emit)
            say(l, LEDGER_STDOUT,
            "⚠ [PID %d] Deallocation for unknown buffer %s on device %d (allocated before tracking started)",
            m->process_id, fmt_id(l, m->buffer_id, id, sizeof id), m->device_id);
        return LEDGER_HANDLED;
    }
    s->ref_count--;
    if (enhanced(l) && lhist_record(l->hist, m->device_id, m->buffer_id, LHIST_FREE, s->size,
                                    m->process_id, s->ref_count) < 0) {
        s->ref_count++;
        return -1;
    }
    if (s->ref_count > 0) {
        if (l->cfg.emit)
            say(l, LEDGER_STDOUT,
            "✗ [PID %d] Freed buffer %s on device %d (%" PRIu64 " bytes, ref_count=%d remaining)", s->pid,
            fmt_id(l, m->buffer_id, id, sizeof id), m->device_id, s->size, s->ref_count);
        return LEDGER_HANDLED;
    }
    if (l->cfg.emit)
        say(l, LEDGER_STDOUT, "✗ [PID %d] Freed buffer %s on device %d (%" PRIu64 " bytes, FINAL)", s->pid,
        fmt_id(l, m->buffer_id, id, sizeof id), m->device_id, s->size);
    if ((l->cfg.faults & LEDGER_FAULT_KEEP_TRACE) && s->type == PROTO_BUF_TRACE) {
        s->ref_count = 1; /* planted defect: the entry survives its last free */
        return LEDGER_HANDLED;
    }
    drop_buffer_counts(l, s);
    table_erase(&l->buffers, s);
    return LEDGER_HANDLED;
}

static void fill_query_reply(const ledger *l, const proto_msg *m, proto_msg *r) {
    memset(r, 0, sizeof *r);
    r->type = PROTO_RESPONSE;
    r->device_id = m->device_id;
    if (!device_ok(l, m->device_id))
        return;
    const ledger_counters *c = &l->counters[m->device_id];
    r->dram_allocated = c->dram;
    r->l1_allocated = c->l1;
    r->l1_small_allocated = c->l1_small;
    r->trace_allocated = c->trace;
    if (proto_rev_get(l->cfg.rev)->frame_size == 144) {
        r->cb_allocated = c->cb;
        r->kernel_allocated = c->kernel;
    }
}

/* Chips the server detected: the configured mesh, capped at MAX_DEVICES. */
static int detected_chips(const ledger *l) {
    if (!l->cfg.devices)
        return 0;
    int n = l->cfg.devices->num_devices;
    return n < l->max_devices ? n : l->max_devices;
}

static void fill_device_info_reply(const ledger *l, const proto_msg *m, proto_msg *r) {
    memset(r, 0, sizeof *r);
    r->type = PROTO_DEVICE_INFO_RESPONSE;
    r->device_id = m->device_id;
    int n = detected_chips(l);
    if (m->device_id == -1) {
        r->num_devices = (uint32_t)n;
        r->is_available = n > 0;
    } else if (m->device_id >= 0 && m->device_id < n) {
        dev_chip_info ci;
        dev_chip_info_get(l->cfg.devices, m->device_id, &ci);
        r->is_available = 1;
        r->arch_type = (uint32_t)ci.arch;
        r->num_dram_channels = ci.num_dram_channels;
        r->dram_size_per_channel = (uint32_t)ci.dram_size_per_channel;
        r->l1_size_per_core = (uint32_t)ci.l1_size_per_core;
        r->total_dram_size = ci.total_dram_size;
        r->total_l1_size = ci.total_l1_size;
    }
}

static void handle_cb_alloc(ledger *l, const proto_msg *m) {
    if (!device_ok(l, m->device_id))
        return;
    int created;
    slot *s = table_upsert(&l->cbs, m->device_id, m->buffer_id, &created);
    if (!s)
        return;
    s->size = m->size;
    s->pid = m->process_id;
    s->time_ns = l->now_ns;
    ledger_counters *c = &l->counters[m->device_id];
    c->cb += m->size;
    if (!l->cfg.emit) /* nobody listens (a simulation without capture): skip the %g formatting */
        return;
    char a[32], b[32];
    ledger_format_mb(a, sizeof a, m->size);
    ledger_format_mb(b, sizeof b, c->cb);
    say(l, LEDGER_STDOUT, "✓ [CB_ALLOC] Device %d: +%s MB (Total: %s MB)", m->device_id, a, b);
}

static void handle_cb_free(ledger *l, const proto_msg *m) {
    if (!device_ok(l, m->device_id))
        return;
    slot *s = table_find(&l->cbs, m->device_id, m->buffer_id);
    if (s)
        table_erase(&l->cbs, s);
    ledger_counters *c = &l->counters[m->device_id];
    c->cb -= m->size; /* the message's size, unconditionally: underflows like the server */
    if (!l->cfg.emit) /* nobody listens (a simulation without capture): skip the %g formatting */
        return;
    char a[32], b[32];
    ledger_format_mb(a, sizeof a, m->size);
    ledger_format_mb(b, sizeof b, c->cb);
    say(l, LEDGER_STDOUT, "✗ [CB_FREE] Device %d: -%s MB (Total: %s MB)", m->device_id, a, b);
}

static void handle_kernel_load(ledger *l, const proto_msg *m) {
    if (!device_ok(l, m->device_id))
        return;
    int created;
    slot *s = table_upsert(&l->kernels, m->device_id, m->buffer_id, &created);
    if (!s)
        return;
    s->size = m->size;
    s->pid = m->process_id;
    s->type = m->buffer_type;
    s->time_ns = l->now_ns;
    ledger_counters *c = &l->counters[m->device_id];
    c->kernel += m->size;
    uint64_t *k = kernel_type_counter(c, m->buffer_type);
    if (k)
        *k += m->size;
    if (!l->cfg.emit) /* nobody listens (a simulation without capture): skip the %g formatting */
        return;
    char a[32], b[32];
    ledger_format_mb(a, sizeof a, m->size);
    ledger_format_mb(b, sizeof b, c->kernel);
    say(l, LEDGER_STDOUT, "✓ [KERNEL_LOAD] %s kernel on Device %d: +%s MB (Total: %s MB)",
        proto_kernel_type_name(m->buffer_type), m->device_id, a, b);
}

static void handle_kernel_unload(ledger *l, const proto_msg *m) {
    if (!device_ok(l, m->device_id))
        return;
    slot *s = table_find(&l->kernels, m->device_id, m->buffer_id);
    if (!s)
        return; /* unknown unload: silent */
    uint8_t ktype = s->type;
    ledger_counters *c = &l->counters[m->device_id];
    uint64_t *k = kernel_type_counter(c, ktype);
    if (k)
        *k -= m->size;
    c->kernel -= m->size;
    table_erase(&l->kernels, s);
    if (!l->cfg.emit) /* nobody listens (a simulation without capture): skip the %g formatting */
        return;
    char a[32], b[32];
    ledger_format_mb(a, sizeof a, m->size);
    ledger_format_mb(b, sizeof b, c->kernel);
    say(l, LEDGER_STDOUT, "✗ [KERNEL_UNLOAD] %s kernel on Device %d: -%s MB (Total: %s MB)",
        proto_kernel_type_name(ktype), m->device_id, a, b);
}

/* ---- dead-process cleanup ------------------------------------------------------------- */

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return x < y ? -1 : x > y;
}

/* Appends the distinct owner pids of t to *pids. Returns -1 when out of memory. */
static int collect_pids(const table *t, int32_t **pids, size_t *n, size_t *cap) {
    for (size_t i = 0; i < t->cap; i++) {
        if (!t->slots[i].used)
            continue;
        if (*n == *cap) {
            size_t nc = *cap ? *cap * 2 : 16;
            int32_t *np = mem_realloc(*pids, nc * sizeof *np);
            if (!np)
                return -1;
            *pids = np;
            *cap = nc;
        }
        (*pids)[(*n)++] = t->slots[i].pid;
    }
    return 0;
}

typedef struct {
    uint64_t count, bytes;
} removed;

/* Removes every entry of pid from t; kind 0 = buffers, 1 = CBs, 2 = kernels. Backward-shift
 * deletion can move a not-yet-visited entry of a wrapped cluster to an index already passed,
 * so passes repeat until one removes nothing. */
static removed remove_pid(ledger *l, table *t, int kind, int32_t pid) {
    removed r = {0, 0};
    for (int again = 1; again;) {
        again = 0;
        for (size_t i = 0; i < t->cap;) {
            slot *s = &t->slots[i];
            if (!s->used || s->pid != pid) {
                i++;
                continue;
            }
            r.count++;
            r.bytes += s->size;
            if (device_ok(l, s->device_id)) {
                ledger_counters *c = &l->counters[s->device_id];
                if (kind == 0) {
                    c->num_buffers--;
                    *type_counter(c, s->type) -= s->size;
                } else if (kind == 1) {
                    c->cb -= s->size;
                } else {
                    c->kernel -= s->size;
                    uint64_t *k = kernel_type_counter(c, s->type);
                    if (k)
                        *k -= s->size;
                }
            }
            table_erase(t, s); /* slot i may now hold a shifted entry: look at it again */
            again = 1;
        }
    }
    return r;
}

int ledger_cleanup(ledger *l) {
    if (!l->cfg.is_dead)
        return 0;
    int32_t *pids = NULL;
    size_t n = 0, cap = 0;
    int v144 = proto_rev_get(l->cfg.rev)->frame_size == 144;
    if (collect_pids(&l->buffers, &pids, &n, &cap) != 0 ||
        (v144 && (collect_pids(&l->cbs, &pids, &n, &cap) != 0 ||
                  collect_pids(&l->kernels, &pids, &n, &cap) != 0))) {
        mem_free(pids);
        return 0;
    }
    if (n > 1) /* qsort(NULL, 0, ...) is undefined (UBSan) when nothing is registered */
        qsort(pids, n, sizeof *pids, cmp_i32);
    int dead = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && pids[i] == pids[i - 1])
            continue;
        int32_t pid = pids[i];
        if (!l->cfg.is_dead(l->cfg.dead_ctx, pid))
            continue;
        if (dead++ == 0) {
            say(l, LEDGER_STDOUT, "%s", "");
            say(l, LEDGER_STDOUT, "⚠️  Detected dead processes, cleaning up orphaned buffers...");
        }
        say(l, LEDGER_STDOUT, "   PID %d is dead, removing its buffers...", pid);
        char mb[32];
        removed b = remove_pid(l, &l->buffers, 0, pid);
        ledger_format_mb(mb, sizeof mb, b.bytes);
        say(l, LEDGER_STDOUT, "   ✓ Removed %" PRIu64 " buffers (%s MB) from PID %d", b.count, mb, pid);
        if (v144) {
            removed c = remove_pid(l, &l->cbs, 1, pid);
            if (c.count) {
                ledger_format_mb(mb, sizeof mb, c.bytes);
                say(l, LEDGER_STDOUT, "   ✓ Removed %" PRIu64 " CBs (%s MB) from PID %d", c.count, mb, pid);
            }
            removed k = remove_pid(l, &l->kernels, 2, pid);
            if (k.count) {
                ledger_format_mb(mb, sizeof mb, k.bytes);
                say(l, LEDGER_STDOUT, "   ✓ Removed %" PRIu64 " kernels (%s MB) from PID %d", k.count, mb,
                    pid);
            }
        }
    }
    if (dead)
        say(l, LEDGER_STDOUT, "%s", "");
    mem_free(pids);
    return dead;
}

/* ---- reports -------------------------------------------------------------------------- */

/* The enhanced server's DOUBLE-FREED report: a header, then each history with frees > allocs
 * and all its kept events, oldest first. */
static int print_double_freed(ledger *l) {
    if (!l->cfg.emit)
        return 0;
    const lhist_entry **df;
    size_t n = lhist_double_freed(l->hist, &df);
    if (n == (size_t)-1)
        return -1;
    say(l, LEDGER_STDOUT, "%s", "");
    say(l, LEDGER_STDOUT, "%s", frame_top);
    say(l, LEDGER_STDOUT, "║           DOUBLE-FREED BUFFERS                              ║");
    say(l, LEDGER_STDOUT, "%s", frame_bottom);
    say(l, LEDGER_STDOUT, "%s", "");
    for (size_t i = 0; i < n; i++) {
        say(l, LEDGER_STDOUT, "Buffer 0x%" PRIx64 " on device %d:", df[i]->buffer_id, df[i]->device_id);
        say(l, LEDGER_STDOUT, "  Total allocs: %" PRIu64 ", Total frees: %" PRIu64, df[i]->allocs,
            df[i]->frees);
        say(l, LEDGER_STDOUT, "  History:");
        for (size_t k = 0; k < df[i]->nev; k++) {
            char text[96];
            lhist_format(lhist_oldest(df[i], k), text, sizeof text);
            say(l, LEDGER_STDOUT, "    %s", text);
        }
        say(l, LEDGER_STDOUT, "%s", "");
    }
    mem_free(df);
    return 0;
}

/* The enhanced server's history lines under one dump buffer line. */
static void print_buffer_history(ledger *l, int32_t dev, uint64_t id) {
    const lhist_entry *h = lhist_find(l->hist, dev, id);
    if (!h)
        return;
    say(l, LEDGER_STDOUT, "      History (allocs=%" PRIu64 " frees=%" PRIu64 "):", h->allocs, h->frees);
    for (size_t i = 0; i < 5 && i < h->nev; i++) {
        char text[96];
        lhist_format(lhist_newest(h, i), text, sizeof text);
        say(l, LEDGER_STDOUT, "        %s", text);
    }
}

static int print_dump(ledger *l) {
    if (!enhanced(l))
        say(l, LEDGER_STDOUT, "📋 Received DUMP_REMAINING request...");
    ledger_cleanup(l);
    if (!l->cfg.emit) {
        return LEDGER_HANDLED;
    }
    size_t n;
    int oom;
    slot *all = table_sorted(&l->buffers, &n, &oom);
    if (oom)
        return -1;
    say(l, LEDGER_STDOUT, "%s", "");
    say(l, LEDGER_STDOUT, "%s", frame_top);
    say(l, LEDGER_STDOUT, "║           REMAINING ALLOCATED BUFFERS                       ║");
    say(l, LEDGER_STDOUT, "%s", frame_bottom);
    say(l, LEDGER_STDOUT, "Total tracked allocations: %zu", n);
    say(l, LEDGER_STDOUT, "%s", "");
    if (n == 0) {
        say(l, LEDGER_STDOUT, "✓ No buffers remaining - perfect cleanup!");
        if (!enhanced(l)) {
            say(l, LEDGER_STDOUT, "📋 DUMP_REMAINING complete.");
        } else if (lhist_double_freed_count(l->hist)) {
            say(l, LEDGER_STDOUT, "%s", "");
            say(l, LEDGER_STDOUT, "⚠️  However, found %zu buffers that were DOUBLE-FREED during execution!",
                lhist_double_freed_count(l->hist));
            if (print_double_freed(l) < 0)
                return -1;
        }
        return LEDGER_HANDLED;
    }
    for (size_t i = 0; i < n;) {
        int32_t dev = all[i].device_id;
        say(l, LEDGER_STDOUT, "Device %d:", dev);
        while (i < n && all[i].device_id == dev) {
            uint8_t type = all[i].type;
            size_t j = i;
            uint64_t bytes = 0;
            while (j < n && all[j].device_id == dev && all[j].type == type)
                bytes += all[j++].size;
            char mb[32];
            ledger_format_mb(mb, sizeof mb, bytes);
            say(l, LEDGER_STDOUT, "  %s: %zu buffers, %s MB total", proto_buffer_type_name(type), j - i, mb);
            if (j - i <= 10) {
                for (size_t k = i; k < j; k++) {
                    char kb[32];
                    ledger_format_kb(kb, sizeof kb, all[k].size);
                    say(l, LEDGER_STDOUT, "    - Buffer 0x%" PRIx64 ": %s KB (PID %d, ref_count=%d)",
                        all[k].buffer_id, kb, all[k].pid, all[k].ref_count);
                    if (enhanced(l))
                        print_buffer_history(l, all[k].device_id, all[k].buffer_id);
                }
            }
            i = j;
        }
        say(l, LEDGER_STDOUT, "%s", "");
    }
    say(l, LEDGER_STDOUT, "Total remaining buffers: %zu", n);
    say(l, LEDGER_STDOUT, "%s", "");
    if (!enhanced(l))
        say(l, LEDGER_STDOUT, "📋 DUMP_REMAINING complete.");
    mem_free(all);
    return LEDGER_HANDLED;
}

static int print_kernels(ledger *l) {
    if (!l->cfg.emit)
        return LEDGER_HANDLED;
    size_t n;
    int oom;
    slot *all = table_sorted(&l->kernels, &n, &oom);
    if (oom)
        return -1;
    say(l, LEDGER_STDOUT, "%s", "");
    say(l, LEDGER_STDOUT, "%s", frame_top);
    say(l, LEDGER_STDOUT, "║           DETAILED KERNEL ALLOCATIONS                       ║");
    say(l, LEDGER_STDOUT, "%s", frame_bottom);
    say(l, LEDGER_STDOUT, "Total kernel allocations: %zu", n);
    /* The report groups by device and lists kernels by id, whatever their kernel type. */
    if (n)
        qsort(all, n, sizeof *all, cmp_slot_by_id);
    if (n > PTRDIFF_MAX / sizeof *all) /* cannot happen; tells the optimiser the bound */
        n = 0;
    for (size_t i = 0; i < n;) {
        int32_t dev = all[i].device_id;
        size_t j = i;
        uint64_t bytes = 0;
        while (j < n && all[j].device_id == dev)
            bytes += all[j++].size;
        if (dev >= 0 && dev < l->max_devices) {
            char mb[32];
            ledger_format_mb(mb, sizeof mb, bytes);
            say(l, LEDGER_STDOUT, "%s", "");
            say(l, LEDGER_STDOUT, "📊 Device %d - Total: %s MB (%zu kernels)", dev, mb, j - i);
            say(l, LEDGER_STDOUT, "%s", box_top);
            for (size_t k = i; k < j; k++) {
                char kb[32];
                ledger_format_kb(kb, sizeof kb, all[k].size);
                uint64_t age = l->now_ns >= all[k].time_ns ? (l->now_ns - all[k].time_ns) / 1000000000ull : 0;
                say(l, LEDGER_STDOUT, "  │ Kernel ID: 0x%" PRIx64, all[k].buffer_id);
                say(l, LEDGER_STDOUT, "  │   Size:      %s KB", kb);
                say(l, LEDGER_STDOUT, "  │   Owner PID: %d", all[k].pid);
                say(l, LEDGER_STDOUT, "  │   Age:       %" PRIu64 " seconds", age);
                say(l, LEDGER_STDOUT, "  │");
            }
            say(l, LEDGER_STDOUT, "%s", box_bottom);
        }
        i = j;
    }
    say(l, LEDGER_STDOUT, "%s", "");
    say(l, LEDGER_STDOUT, "📋 DUMP_KERNELS complete.");
    mem_free(all);
    return LEDGER_HANDLED;
}

void ledger_print_stats(ledger *l) {
    if (!l->cfg.emit)
        return;
    say(l, LEDGER_STDOUT, "%s", "");
    say(l, LEDGER_STDOUT, "📊 Current Statistics:");
    for (int i = 0; i < l->max_devices; i++) {
        const ledger_counters *c = &l->counters[i];
        uint64_t total = c->dram + c->l1 + c->l1_small + c->trace;
        if (total == 0 && c->num_buffers == 0)
            continue;
        char kb[32];
        say(l, LEDGER_STDOUT, "  Device %d:", i);
        say(l, LEDGER_STDOUT, "    Buffers: %" PRIu64, c->num_buffers);
        if (enhanced(l)) { /* the enhanced server prints KB only */
            ledger_format_kb(kb, sizeof kb, c->dram);
            say(l, LEDGER_STDOUT, "    DRAM: %s KB", kb);
            ledger_format_kb(kb, sizeof kb, c->l1);
            say(l, LEDGER_STDOUT, "    L1: %s KB", kb);
            ledger_format_kb(kb, sizeof kb, total);
            say(l, LEDGER_STDOUT, "    Total: %s KB", kb);
            continue;
        }
        ledger_format_kb(kb, sizeof kb, c->dram);
        say(l, LEDGER_STDOUT, "    DRAM: %" PRIu64 " bytes (%s KB)", c->dram, kb);
        ledger_format_kb(kb, sizeof kb, c->l1);
        say(l, LEDGER_STDOUT, "    L1: %" PRIu64 " bytes (%s KB)", c->l1, kb);
        say(l, LEDGER_STDOUT, "    Total: %" PRIu64 " bytes", total);
    }
    say(l, LEDGER_STDOUT, "  Active allocations: %zu", l->buffers.count);
}

/* One chip's detection line: "   Device «i»: «Arch» («GB»GB DRAM, «MB»MB L1)«suffix»" (integer
 * GB and MB, protocol.md §5.4). */
static void say_chip(ledger *l, int chip, const dev_chip_info *ci, const char *suffix) {
    say(l, LEDGER_STDOUT, "   Device %d: %s (%" PRIu64 "GB DRAM, %" PRIu64 "MB L1)%s", chip,
        dev_arch_name(ci->arch), ci->total_dram_size / (uint64_t)(1024 * 1024 * 1024),
        ci->total_l1_size / (uint64_t)(1024 * 1024), suffix);
}

static void print_detection(ledger *l) {
    const dev_config *dc = l->cfg.devices;
    int n = detected_chips(l), local = 0;
    dev_chip_info ci;
    for (int i = 0; i < n; i++) {
        dev_chip_info_get(dc, i, &ci);
        local += !ci.remote;
    }
    switch (l->cfg.rev) {
    case PROTO_V72:
        break;
    case PROTO_V112:
    case PROTO_V112_HEX:
        say(l, LEDGER_STDOUT, "🔍 Device detection (using TT-Metal APIs):");
        if (n == 0) {
            say(l, LEDGER_STDOUT, "   No devices detected");
            say(l, LEDGER_STDOUT, "   Server will track allocations anyway");
            break;
        }
        if (dc->num_devices > n)
            say(l, LEDGER_STDOUT, "   Warning: Found %d devices, limiting to %d", dc->num_devices, n);
        for (int i = 0; i < n; i++) {
            dev_chip_info_get(dc, i, &ci);
            say_chip(l, i, &ci, "");
        }
        say(l, LEDGER_STDOUT, "   Total: %d device(s) detected", n);
        break;
    case PROTO_V144:
        say(l, LEDGER_STDOUT, "🔍 Device detection (using UMD Cluster for accurate specs):");
        for (int i = 0; i < n; i++) {
            dev_chip_info_get(dc, i, &ci);
            say(l, LEDGER_STDOUT, "DRAM size per channel: %" PRIu64, ci.dram_size_per_channel);
            say(l, LEDGER_STDOUT, "Number of DRAM channels: %u", ci.num_dram_channels);
            say(l, LEDGER_STDOUT, "L1 size per core: %" PRIu64, ci.l1_size_per_core);
            say(l, LEDGER_STDOUT, "Grid size: %ux%u", ci.grid_x, ci.grid_y);
            say(l, LEDGER_STDOUT, "Arch: %s", dev_arch_name(ci.arch));
            say(l, LEDGER_STDOUT, "Is remote: %d", ci.remote);
            say_chip(l, i, &ci, ci.remote ? " [Remote]" : " [Local]");
        }
        say(l, LEDGER_STDOUT, "   Total: %d device(s) detected", n);
        break;
    default:
        say(l, LEDGER_STDOUT, "🔍 Device detection (all chips via ClusterDescriptor, no hugepages):");
        say(l, LEDGER_STDOUT, "   Topology: %d local chip(s), %d remote chip(s)", local, n - local);
        for (int i = 0; i < n; i++) {
            dev_chip_info_get(dc, i, &ci);
            say_chip(l, i, &ci, ci.remote ? " [Remote Ethernet]" : " [Local PCIe]");
        }
        say(l, LEDGER_STDOUT, "   Total: %d device(s) detected (%d local, %d remote)", n, local, n - local);
        if (n > local)
            say(l, LEDGER_STDOUT, "   Note: Remote chip specs from topology (hugepages needed for telemetry)");
        break;
    }
}

void ledger_print_startup(ledger *l, const char *socket_path) {
    if (enhanced(l)) {
        say(l, LEDGER_STDOUT, "🚀 Enhanced Allocation Server started (with history tracking)");
        say(l, LEDGER_STDOUT, "   Listening on: %s", socket_path);
        return;
    }
    print_detection(l);
    say(l, LEDGER_STDOUT, "🚀 Allocation Server started");
    say(l, LEDGER_STDOUT, "   Listening on: %s", socket_path);
    say(l, LEDGER_STDOUT, "   Press Ctrl+C to stop");
    say(l, LEDGER_STDOUT, "🔄 Background cleanup thread started (checking every 10s)");
}

void ledger_print_shutdown(ledger *l) {
    if (!enhanced(l))
        say(l, LEDGER_STDOUT, "🔄 Background cleanup thread stopped");
    say(l, LEDGER_STDOUT, "%s", "");
    say(l, LEDGER_STDOUT, "🛑 Allocation Server stopped");
    if (enhanced(l))
        print_double_freed(l);
}

int ledger_apply(ledger *l, const proto_msg *m, proto_msg *reply) {
    proto_rev rev = l->cfg.rev;
    int v144 = proto_rev_get(rev)->frame_size == 144;
    if (v144 && (m->type < 1 || m->type > PROTO_DUMP_KERNELS))
        return LEDGER_RESYNC;
    if (!proto_type_handled(rev, m->type)) {
        say(l, LEDGER_STDERR, "Unknown message type: %d", m->type);
        return LEDGER_HANDLED;
    }
    proto_msg scratch;
    proto_msg *r = reply ? reply : &scratch;
    switch (m->type) {
    case PROTO_ALLOC:
        return handle_alloc(l, m);
    case PROTO_FREE:
        return handle_free(l, m);
    case PROTO_QUERY:
        fill_query_reply(l, m, r);
        return LEDGER_REPLY;
    case PROTO_DUMP_REMAINING:
        return print_dump(l);
    case PROTO_DEVICE_INFO_QUERY:
        fill_device_info_reply(l, m, r);
        return LEDGER_REPLY;
    case PROTO_CB_ALLOC:
        handle_cb_alloc(l, m);
        return LEDGER_HANDLED;
    case PROTO_CB_FREE:
        handle_cb_free(l, m);
        return LEDGER_HANDLED;
    case PROTO_KERNEL_LOAD:
        handle_kernel_load(l, m);
        return LEDGER_HANDLED;
    case PROTO_KERNEL_UNLOAD:
        handle_kernel_unload(l, m);
        return LEDGER_HANDLED;
    case PROTO_DUMP_KERNELS:
        return print_kernels(l);
    default:
        return LEDGER_HANDLED;
    }
}

/* ---- accessors ------------------------------------------------------------------------ */

size_t ledger_count(const ledger *l) { return l->buffers.count; }

ledger_counters ledger_device_counters(const ledger *l, int32_t dev) {
    ledger_counters zero;
    memset(&zero, 0, sizeof zero);
    return device_ok(l, dev) ? l->counters[dev] : zero;
}

int ledger_lookup(const ledger *l, int32_t dev, uint64_t buffer_id, ledger_entry *out) {
    const slot *s = table_find(&l->buffers, dev, buffer_id);
    if (!s)
        return 0;
    out->device_id = s->device_id;
    out->buffer_id = s->buffer_id;
    out->size = s->size;
    out->buffer_type = s->type;
    out->owner_pid = s->pid;
    out->ref_count = s->ref_count;
    return 1;
}

size_t ledger_entries(const ledger *l, ledger_entry **out) {
    size_t n;
    int oom;
    *out = NULL;
    slot *all = table_sorted(&l->buffers, &n, &oom);
    if (oom)
        return (size_t)-1;
    if (!n)
        return 0;
    ledger_entry *e = mem_alloc(n * sizeof *e);
    if (!e) {
        mem_free(all);
        return (size_t)-1;
    }
    for (size_t i = 0; i < n; i++) {
        e[i].device_id = all[i].device_id;
        e[i].buffer_id = all[i].buffer_id;
        e[i].size = all[i].size;
        e[i].buffer_type = all[i].type;
        e[i].owner_pid = all[i].pid;
        e[i].ref_count = all[i].ref_count;
    }
    mem_free(all);
    *out = e;
    return n;
}
