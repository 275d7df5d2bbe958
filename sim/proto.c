/* proto: encoder, decoder and revision table of the allocation server's wire protocol.
 * Offsets follow protocol.md §2.2-2.4: bytes 0-71 are shared by every layout; v112 then
 * carries the device-info block at 72; v144 inserts cb/kernel totals at 72 and moves the
 * device-info block to 88, followed by the ring-buffer fields and pad3. */
#include "proto.h"

#include <string.h>
#include <strings.h>

static const proto_rev_info rev_table[PROTO_REV_COUNT] = {
    [PROTO_V72] = {"v72", "83d21905", 72, 8, 0, 5},
    [PROTO_V112] = {"v112", "d6d33ec9", 112, 8, 0, 7},
    [PROTO_V112_HEX] = {"v112-hex", "45039855", 112, 8, 1, 7},
    [PROTO_V144] = {"v144", "a81ea34f", 144, 8, 1, 12},
    [PROTO_V144_256] = {"v144-256", "114a0627", 144, 256, 1, 12},
};

const proto_rev_info *proto_rev_get(proto_rev rev) { return &rev_table[rev]; }

int proto_rev_parse(const char *name, proto_rev *out) {
    for (int i = 0; i < PROTO_REV_COUNT; i++) {
        if (name && strcmp(name, rev_table[i].name) == 0) {
            *out = (proto_rev)i;
            return 0;
        }
    }
    return -1;
}

const char *proto_rev_names(void) { return "v72, v112, v112-hex, v144, v144-256"; }

int proto_type_handled(proto_rev rev, uint8_t t) {
    if (t == PROTO_RESPONSE || t == PROTO_DEVICE_INFO_RESPONSE)
        return 0;
    return t >= 1 && t <= rev_table[rev].max_type;
}

static const char *const type_names[] = {
    NULL,        "ALLOC",       "FREE",          "QUERY",        "RESPONSE",
    "DUMP_REMAINING", "DEVICE_INFO_QUERY", "DEVICE_INFO_RESPONSE", "CB_ALLOC", "CB_FREE",
    "KERNEL_LOAD", "KERNEL_UNLOAD", "DUMP_KERNELS"};

const char *proto_type_name(uint8_t t) {
    return t < sizeof type_names / sizeof type_names[0] ? type_names[t] : NULL;
}

int proto_type_parse(const char *name) {
    for (size_t i = 1; i < sizeof type_names / sizeof type_names[0]; i++)
        if (strcasecmp(name, type_names[i]) == 0)
            return (int)i;
    return -1;
}

static const char *const buffer_type_names[PROTO_BUF_TYPE_COUNT] = {"DRAM", "L1", "SYSTEM_MEMORY",
                                                                    "L1_SMALL", "TRACE"};

const char *proto_buffer_type_name(uint8_t t) {
    return t < PROTO_BUF_TYPE_COUNT ? buffer_type_names[t] : "UNKNOWN";
}

int proto_buffer_type_parse(const char *name) {
    for (int i = 0; i < PROTO_BUF_TYPE_COUNT; i++)
        if (strcasecmp(name, buffer_type_names[i]) == 0)
            return i;
    return -1;
}

const char *proto_kernel_type_name(uint8_t t) {
    static const char *const names[] = {"Application", "Fabric", "Dispatch"};
    return t < 3 ? names[t] : "Unknown";
}

/* ---- little-endian byte access -------------------------------------------------------- */

void proto_le_put16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

void proto_le_put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

void proto_le_put64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

uint16_t proto_le_get16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

uint32_t proto_le_get32(const uint8_t *p) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

uint64_t proto_le_get64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

#define put32 proto_le_put32
#define put64 proto_le_put64
#define get32 proto_le_get32
#define get64 proto_le_get64

/* Signed fields travel as two's complement. */
static int32_t get_i32(const uint8_t *p) {
    uint32_t u = get32(p);
    return u <= INT32_MAX ? (int32_t)u : (int32_t)(u - 2147483648u) - INT32_MAX - 1;
}

/* Offset of the device-info block (total_dram_size) in each layout. */
static size_t info_offset(proto_rev rev) { return rev_table[rev].frame_size == 144 ? 88 : 72; }

size_t proto_encode(proto_rev rev, const proto_msg *m, uint8_t *out) {
    size_t n = rev_table[rev].frame_size;
    memset(out, 0, n);
    out[0] = m->type;
    memcpy(out + 1, m->pad1, 3);
    put32(out + 4, (uint32_t)m->device_id);
    put64(out + 8, m->size);
    out[16] = m->buffer_type;
    memcpy(out + 17, m->pad2, 3);
    put32(out + 20, (uint32_t)m->process_id);
    put64(out + 24, m->buffer_id);
    put64(out + 32, m->timestamp);
    put64(out + 40, m->dram_allocated);
    put64(out + 48, m->l1_allocated);
    put64(out + 56, m->l1_small_allocated);
    put64(out + 64, m->trace_allocated);
    if (n == 72)
        return n;
    if (n == 144) {
        put64(out + 72, m->cb_allocated);
        put64(out + 80, m->kernel_allocated);
    }
    size_t o = info_offset(rev);
    put64(out + o, m->total_dram_size);
    put64(out + o + 8, m->total_l1_size);
    put32(out + o + 16, m->arch_type);
    put32(out + o + 20, m->num_dram_channels);
    put32(out + o + 24, m->dram_size_per_channel);
    put32(out + o + 28, m->l1_size_per_core);
    put32(out + o + 32, m->is_available);
    put32(out + o + 36, m->num_devices);
    if (n == 144) {
        put32(out + 128, m->ringbuffer_total_size);
        put32(out + 132, m->ringbuffer_used_bytes);
        put32(out + 136, m->ringbuffer_num_programs);
        put32(out + 140, m->pad3);
    }
    return n;
}

size_t proto_decode(proto_rev rev, const uint8_t *in, size_t len, proto_msg *m) {
    size_t n = rev_table[rev].frame_size;
    if (len < n)
        return 0;
    memset(m, 0, sizeof *m);
    m->type = in[0];
    memcpy(m->pad1, in + 1, 3);
    m->device_id = get_i32(in + 4);
    m->size = get64(in + 8);
    m->buffer_type = in[16];
    memcpy(m->pad2, in + 17, 3);
    m->process_id = get_i32(in + 20);
    m->buffer_id = get64(in + 24);
    m->timestamp = get64(in + 32);
    m->dram_allocated = get64(in + 40);
    m->l1_allocated = get64(in + 48);
    m->l1_small_allocated = get64(in + 56);
    m->trace_allocated = get64(in + 64);
    if (n == 72)
        return n;
    if (n == 144) {
        m->cb_allocated = get64(in + 72);
        m->kernel_allocated = get64(in + 80);
    }
    size_t o = info_offset(rev);
    m->total_dram_size = get64(in + o);
    m->total_l1_size = get64(in + o + 8);
    m->arch_type = get32(in + o + 16);
    m->num_dram_channels = get32(in + o + 20);
    m->dram_size_per_channel = get32(in + o + 24);
    m->l1_size_per_core = get32(in + o + 28);
    m->is_available = get32(in + o + 32);
    m->num_devices = get32(in + o + 36);
    if (n == 144) {
        m->ringbuffer_total_size = get32(in + 128);
        m->ringbuffer_used_bytes = get32(in + 132);
        m->ringbuffer_num_programs = get32(in + 136);
        m->pad3 = get32(in + 140);
    }
    return n;
}

void proto_reader_init(proto_reader *r, proto_rev rev) {
    r->rev = rev;
    r->have = 0;
}

size_t proto_reader_push(proto_reader *r, const uint8_t *data, size_t len, proto_msg *msg,
                         int *ready) {
    size_t need = rev_table[r->rev].frame_size - r->have;
    size_t take = len < need ? len : need;
    memcpy(r->buf + r->have, data, take);
    r->have += take;
    *ready = 0;
    if (r->have == rev_table[r->rev].frame_size) {
        proto_decode(r->rev, r->buf, r->have, msg);
        r->have = 0;
        *ready = 1;
    }
    return take;
}

size_t proto_reader_pending(const proto_reader *r) { return r->have; }
