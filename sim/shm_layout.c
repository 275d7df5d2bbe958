/* shm_layout: the SHM region layout table, field locator, codec and detector.
 *
 * Everything here follows shm-tracking.md §2: one table row per layout version; every
 * field offset is computed from the row (header offsets are common to all versions), so
 * the codec, the locator used by the writer model and the offset describer cannot
 * disagree. Values are written byte by byte little-endian with proto.c's helpers.
 */
#include "shm_layout.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "proto.h"

static const shml_version_info versions[SHML_VERSION_COUNT] = {
    [SHML_L1K] = {"v1-K", "L1-K", 1, 9280, 0, 6, 96, 56, 992, 128, 56, 64, 9184, 0, 0, 1},
    [SHML_L1N] = {"v1-N", "L1-N", 1, 8640, 0, 5, 88, 48, 856, 120, 48, 56, 8536, 0, 0, 1},
    [SHML_L1A] = {"v1-A", "L1-A", 1, 8640, 8576, 5, 88, 48, 856, 120, 48, 56, 8536, 0, 0, 1},
    [SHML_V2A] = {"v2a", "v2a", 2, 8576, 0, 5, 88, 48, 856, 120, 48, 56, 0, 0, 0, 1},
    [SHML_V2B] = {"v2b", "v2b", 2, 8576, 0, 5, 88, 48, 856, 120, 48, 56, 0, 0, SHML_CHIP_UNUSED, 0},
    [SHML_V3] = {"v3", "v3", 3, 8576, 0, 5, 88, 48, 856, 120, 48, 56, 0, 0, SHML_CHIP_UNUSED, 0},
    [SHML_V4] = {"v4", "v4", 4, 8576, 0, 5, 88, 48, 856, 120, 48, 56, 0, 8536, SHML_CHIP_UNUSED, 0},
};

/* Header offsets, identical in every version (§2.3-§2.8). */
enum {
    OFF_VERSION = 0,
    OFF_NUM_ACTIVE = 4,
    OFF_TIMESTAMP = 8,
    OFF_REFCOUNT = 16,
    OFF_BOARD_SERIAL = 24,
    OFF_ASIC_ID = 32,
    OFF_DEVICE_ID = 40,
    OFF_TOTALS = 48
};

const shml_version_info *shml_version_get(shml_version v) { return &versions[v]; }

int shml_version_parse(const char *name, shml_version *out) {
    for (int v = 0; v < SHML_VERSION_COUNT; v++) {
        if (strcasecmp(name, versions[v].name) == 0 || strcasecmp(name, versions[v].spec_name) == 0) {
            *out = (shml_version)v;
            return 0;
        }
    }
    return -1;
}

const char *shml_version_names(void) { return "v1-K, v1-N, v1-A, v2a, v2b, v3, v4"; }

int shml_size_valid(shml_version v, size_t len) {
    if ((unsigned)v >= SHML_VERSION_COUNT)
        return 0;
    return len == versions[v].size_bytes ||
           (versions[v].alt_size_bytes != 0 && len == versions[v].alt_size_bytes);
}

static int is_v4(shml_version v) { return v == SHML_V4; }
static int header_atomic(shml_version v) { return is_v4(v); }
static int proc_atomic(shml_version v) { return v >= SHML_L1A; }
static int chip_ids_atomic(shml_version v) { return v >= SHML_V3; }

int shml_field_locate(shml_version v, shml_field_id f, int slot, int counter, shml_field *out) {
    if ((unsigned)v >= SHML_VERSION_COUNT)
        return -1;
    const shml_version_info *vi = &versions[v];
    int needs_slot_chip = f == SHML_F_CHIP_ID || f == SHML_F_CHIP_IS_REMOTE || f == SHML_F_CHIP_COUNTER;
    int needs_slot_proc = f == SHML_F_PROC_PID || f == SHML_F_PROC_COUNTER ||
                          f == SHML_F_PROC_TIMESTAMP || f == SHML_F_PROC_NAME;
    int needs_counter = f == SHML_F_TOTAL || f == SHML_F_CHIP_COUNTER || f == SHML_F_PROC_COUNTER;
    if (needs_slot_chip && (slot < 0 || slot >= SHML_MAX_CHIPS))
        return -1;
    if (needs_slot_proc && (slot < 0 || slot >= SHML_MAX_PROCESSES))
        return -1;
    if (needs_counter && (counter < 0 || counter >= vi->counter_count))
        return -1;
    size_t chip = vi->chip_base + vi->chip_stride * (size_t)(slot < 0 ? 0 : slot);
    size_t proc = vi->proc_base + vi->proc_stride * (size_t)(slot < 0 ? 0 : slot);
    shml_field r = {0, 0, 0};
    switch (f) {
    case SHML_F_VERSION: r = (shml_field){OFF_VERSION, 4, header_atomic(v)}; break;
    case SHML_F_NUM_ACTIVE: r = (shml_field){OFF_NUM_ACTIVE, 4, header_atomic(v)}; break;
    case SHML_F_TIMESTAMP: r = (shml_field){OFF_TIMESTAMP, 8, v >= SHML_V3}; break;
    case SHML_F_REFCOUNT: r = (shml_field){OFF_REFCOUNT, 4, 1}; break;
    case SHML_F_BOARD_SERIAL: r = (shml_field){OFF_BOARD_SERIAL, 8, header_atomic(v)}; break;
    case SHML_F_ASIC_ID: r = (shml_field){OFF_ASIC_ID, 8, header_atomic(v)}; break;
    case SHML_F_DEVICE_ID: r = (shml_field){OFF_DEVICE_ID, 4, header_atomic(v)}; break;
    case SHML_F_TOTAL: r = (shml_field){OFF_TOTALS + 8 * (size_t)counter, 8, 1}; break;
    case SHML_F_CHIP_ID: r = (shml_field){chip, 4, chip_ids_atomic(v)}; break;
    case SHML_F_CHIP_IS_REMOTE: r = (shml_field){chip + 4, 4, chip_ids_atomic(v)}; break;
    case SHML_F_CHIP_COUNTER: r = (shml_field){chip + 8 + 8 * (size_t)counter, 8, 1}; break;
    case SHML_F_PROC_PID: r = (shml_field){proc, 4, proc_atomic(v)}; break;
    case SHML_F_PROC_COUNTER: r = (shml_field){proc + 8 + 8 * (size_t)counter, 8, proc_atomic(v)}; break;
    case SHML_F_PROC_TIMESTAMP: r = (shml_field){proc + vi->proc_timestamp_off, 8, proc_atomic(v)}; break;
    case SHML_F_PROC_NAME: r = (shml_field){proc + vi->proc_name_off, SHML_NAME_BYTES, 0}; break;
    case SHML_F_INIT_STATE:
        if (vi->init_state_off == 0)
            return -1;
        r = (shml_field){vi->init_state_off, 4, 1};
        break;
    case SHML_F_PADDING:
        if (vi->padding_off == 0)
            return -1;
        r = (shml_field){vi->padding_off, 64, 0};
        break;
    default:
        return -1;
    }
    *out = r;
    return 0;
}

size_t shml_off(shml_version v, shml_field_id f, int slot, int counter) {
    shml_field fd;
    return shml_field_locate(v, f, slot, counter, &fd) == 0 ? fd.offset : SIZE_MAX;
}

int shml_counter_of_type(shml_version v, uint8_t type) {
    switch (type) {
    case SHML_TYPE_DRAM: return SHML_CTR_DRAM;
    case SHML_TYPE_L1: return SHML_CTR_L1;
    case SHML_TYPE_L1_SMALL: return SHML_CTR_L1_SMALL;
    case SHML_TYPE_TRACE: return SHML_CTR_TRACE;
    case SHML_TYPE_CB: return SHML_CTR_CB;
    case SHML_TYPE_KERNEL: return v == SHML_L1K ? SHML_CTR_KERNEL : -1;
    default: return -1;
    }
}

const char *shml_type_name(shml_version v, uint8_t type) {
    static const char *const names[] = {"DRAM", "L1", "SYSTEM_MEMORY", "L1_SMALL", "TRACE", "CB", "KERNEL"};
    if (type == SHML_TYPE_UNKNOWN)
        return "UNKNOWN";
    if (type < SHML_TYPE_KERNEL || (type == SHML_TYPE_KERNEL && v == SHML_L1K))
        return names[type];
    return NULL;
}

const char *shml_counter_name(int counter) {
    static const char *const names[SHML_CTR_COUNT] = {"dram", "l1", "l1_small", "trace", "cb", "kernel"};
    return counter >= 0 && counter < SHML_CTR_COUNT ? names[counter] : "?";
}

char *shml_describe_offset(shml_version v, size_t off, char *buf, size_t buf_len) {
    const shml_version_info *vi = &versions[v];
    static const char *const header[6] = {"version", "num_active_processes", "last_update_timestamp",
                                          "reference_count", "board_serial", "asic_id"};
    size_t chip_end = vi->chip_base + vi->chip_stride * SHML_MAX_CHIPS;
    size_t proc_end = vi->proc_base + vi->proc_stride * SHML_MAX_PROCESSES;
    if (off < OFF_NUM_ACTIVE)
        snprintf(buf, buf_len, "%s", header[0]);
    else if (off < OFF_TIMESTAMP)
        snprintf(buf, buf_len, "%s", header[1]);
    else if (off < OFF_REFCOUNT)
        snprintf(buf, buf_len, "%s", header[2]);
    else if (off < OFF_REFCOUNT + 4)
        snprintf(buf, buf_len, "%s", header[3]);
    else if (off < OFF_BOARD_SERIAL)
        snprintf(buf, buf_len, "(hole after reference_count)");
    else if (off < OFF_ASIC_ID)
        snprintf(buf, buf_len, "%s", header[4]);
    else if (off < OFF_DEVICE_ID)
        snprintf(buf, buf_len, "%s", header[5]);
    else if (off < OFF_DEVICE_ID + 4)
        snprintf(buf, buf_len, "device_id");
    else if (off < OFF_TOTALS)
        snprintf(buf, buf_len, "(hole after device_id)");
    else if (off < vi->chip_base)
        snprintf(buf, buf_len, "totals.%s", shml_counter_name((int)((off - OFF_TOTALS) / 8)));
    else if (off < chip_end) {
        size_t slot = (off - vi->chip_base) / vi->chip_stride, in = (off - vi->chip_base) % vi->chip_stride;
        if (in < 4)
            snprintf(buf, buf_len, "chip_stats[%zu].chip_id", slot);
        else if (in < 8)
            snprintf(buf, buf_len, "chip_stats[%zu].is_remote", slot);
        else
            snprintf(buf, buf_len, "chip_stats[%zu].%s", slot, shml_counter_name((int)((in - 8) / 8)));
    } else if (off < proc_end) {
        size_t slot = (off - vi->proc_base) / vi->proc_stride, in = (off - vi->proc_base) % vi->proc_stride;
        if (in < 4)
            snprintf(buf, buf_len, "processes[%zu].pid", slot);
        else if (in < 8)
            snprintf(buf, buf_len, "processes[%zu].(hole after pid)", slot);
        else if (in < vi->proc_timestamp_off)
            snprintf(buf, buf_len, "processes[%zu].%s", slot, shml_counter_name((int)((in - 8) / 8)));
        else if (in < vi->proc_name_off)
            snprintf(buf, buf_len, "processes[%zu].last_update_timestamp", slot);
        else
            snprintf(buf, buf_len, "processes[%zu].process_name", slot);
    } else if (vi->padding_off != 0 && off >= vi->padding_off && off < vi->padding_off + 64)
        snprintf(buf, buf_len, "padding");
    else if (vi->init_state_off != 0 && off >= vi->init_state_off && off < vi->init_state_off + 4)
        snprintf(buf, buf_len, "init_state");
    else
        snprintf(buf, buf_len, "(tail padding)");
    return buf;
}

/* ---- codec ----------------------------------------------------------------------------- */

static void put(uint8_t *buf, size_t off, int width, uint64_t value) {
    if (width == 4)
        proto_le_put32(buf + off, (uint32_t)value);
    else
        proto_le_put64(buf + off, value);
}

static uint64_t get(const uint8_t *buf, size_t off, int width) {
    return width == 4 ? proto_le_get32(buf + off) : proto_le_get64(buf + off);
}

static int bad_size(shml_version v, size_t len, char *err, size_t err_len) {
    if ((unsigned)v >= SHML_VERSION_COUNT) {
        if (err)
            snprintf(err, err_len, "unknown layout version %d: expected one of %s", (int)v, shml_version_names());
        return -1;
    }
    if (shml_size_valid(v, len))
        return 0;
    if (err) {
        const shml_version_info *vi = &versions[v];
        if (vi->alt_size_bytes)
            snprintf(err, err_len, "size %zu: expected %zu or %zu bytes for %s", len, vi->size_bytes,
                     vi->alt_size_bytes, vi->name);
        else
            snprintf(err, err_len, "size %zu: expected %zu bytes for %s", len, vi->size_bytes, vi->name);
    }
    return -1;
}

/* Calls fn once per scalar field instance of v (names and padding excluded). */
typedef void (*field_visit_fn)(void *ctx, shml_field_id f, int slot, int counter, const shml_field *fd);

static void visit_scalars(shml_version v, field_visit_fn fn, void *ctx) {
    const shml_version_info *vi = &versions[v];
    shml_field fd;
    for (int f = SHML_F_VERSION; f <= SHML_F_DEVICE_ID; f++) {
        shml_field_locate(v, (shml_field_id)f, 0, 0, &fd);
        fn(ctx, (shml_field_id)f, 0, 0, &fd);
    }
    for (int c = 0; c < vi->counter_count; c++) {
        shml_field_locate(v, SHML_F_TOTAL, 0, c, &fd);
        fn(ctx, SHML_F_TOTAL, 0, c, &fd);
    }
    for (int s = 0; s < SHML_MAX_CHIPS; s++) {
        shml_field_locate(v, SHML_F_CHIP_ID, s, 0, &fd);
        fn(ctx, SHML_F_CHIP_ID, s, 0, &fd);
        shml_field_locate(v, SHML_F_CHIP_IS_REMOTE, s, 0, &fd);
        fn(ctx, SHML_F_CHIP_IS_REMOTE, s, 0, &fd);
        for (int c = 0; c < vi->counter_count; c++) {
            shml_field_locate(v, SHML_F_CHIP_COUNTER, s, c, &fd);
            fn(ctx, SHML_F_CHIP_COUNTER, s, c, &fd);
        }
    }
    for (int s = 0; s < SHML_MAX_PROCESSES; s++) {
        shml_field_locate(v, SHML_F_PROC_PID, s, 0, &fd);
        fn(ctx, SHML_F_PROC_PID, s, 0, &fd);
        for (int c = 0; c < vi->counter_count; c++) {
            shml_field_locate(v, SHML_F_PROC_COUNTER, s, c, &fd);
            fn(ctx, SHML_F_PROC_COUNTER, s, c, &fd);
        }
        shml_field_locate(v, SHML_F_PROC_TIMESTAMP, s, 0, &fd);
        fn(ctx, SHML_F_PROC_TIMESTAMP, s, 0, &fd);
    }
    if (shml_field_locate(v, SHML_F_INIT_STATE, 0, 0, &fd) == 0)
        fn(ctx, SHML_F_INIT_STATE, 0, 0, &fd);
}

/* The struct member a field instance maps to, as a pointer to its storage and width. */
static void *member(shml_region *r, shml_field_id f, int slot, int counter) {
    switch (f) {
    case SHML_F_VERSION: return &r->version;
    case SHML_F_NUM_ACTIVE: return &r->num_active_processes;
    case SHML_F_TIMESTAMP: return &r->last_update_timestamp;
    case SHML_F_REFCOUNT: return &r->reference_count;
    case SHML_F_BOARD_SERIAL: return &r->board_serial;
    case SHML_F_ASIC_ID: return &r->asic_id;
    case SHML_F_DEVICE_ID: return &r->device_id;
    case SHML_F_TOTAL: return &r->totals[counter];
    case SHML_F_CHIP_ID: return &r->chips[slot].chip_id;
    case SHML_F_CHIP_IS_REMOTE: return &r->chips[slot].is_remote;
    case SHML_F_CHIP_COUNTER: return &r->chips[slot].counters[counter];
    case SHML_F_PROC_PID: return &r->processes[slot].pid;
    case SHML_F_PROC_COUNTER: return &r->processes[slot].counters[counter];
    case SHML_F_PROC_TIMESTAMP: return &r->processes[slot].last_update_timestamp;
    case SHML_F_INIT_STATE: return &r->init_state;
    default: return NULL;
    }
}

typedef struct {
    shml_region *region;
    uint8_t *wbuf;
    const uint8_t *rbuf;
} codec_ctx;

static void encode_one(void *vctx, shml_field_id f, int slot, int counter, const shml_field *fd) {
    codec_ctx *c = vctx;
    void *m = member(c->region, f, slot, counter);
    uint64_t value;
    if (fd->width == 4) {
        uint32_t u;
        memcpy(&u, m, 4); /* int32 pid and uint32 fields share the bit pattern */
        value = u;
    } else {
        memcpy(&value, m, 8);
    }
    put(c->wbuf, fd->offset, fd->width, value);
}

static void decode_one(void *vctx, shml_field_id f, int slot, int counter, const shml_field *fd) {
    codec_ctx *c = vctx;
    void *m = member(c->region, f, slot, counter);
    uint64_t value = get(c->rbuf, fd->offset, fd->width);
    if (fd->width == 4) {
        uint32_t u = (uint32_t)value;
        memcpy(m, &u, 4);
    } else {
        memcpy(m, &value, 8);
    }
}

int shml_encode(shml_version v, const shml_region *r, uint8_t *buf, size_t len, char *err, size_t err_len) {
    if (bad_size(v, len, err, err_len) != 0)
        return -1;
    memset(buf, 0, len);
    codec_ctx c = {(shml_region *)r, buf, NULL}; /* encode only reads through region */
    visit_scalars(v, encode_one, &c);
    for (int s = 0; s < SHML_MAX_PROCESSES; s++)
        memcpy(buf + shml_off(v, SHML_F_PROC_NAME, s, 0), r->processes[s].name, SHML_NAME_BYTES);
    return 0;
}

int shml_decode(shml_version v, const uint8_t *buf, size_t len, unsigned flags, shml_region *out, char *err,
                size_t err_len) {
    if (bad_size(v, len, err, err_len) != 0)
        return -1;
    const shml_version_info *vi = &versions[v];
    uint32_t version = proto_le_get32(buf + OFF_VERSION);
    if (!(flags & SHML_DECODE_ANY_VERSION) && version != vi->version_value) {
        if (err)
            snprintf(err, err_len, "version %u at offset 0: expected %u for %s", version, vi->version_value,
                     vi->name);
        return -1;
    }
    memset(out, 0, sizeof *out);
    codec_ctx c = {out, NULL, buf};
    visit_scalars(v, decode_one, &c);
    for (int s = 0; s < SHML_MAX_PROCESSES; s++)
        memcpy(out->processes[s].name, buf + shml_off(v, SHML_F_PROC_NAME, s, 0), SHML_NAME_BYTES);
    return 0;
}

/* ---- detection ------------------------------------------------------------------------- */

/* How many process slots of layout v look like what a writer leaves: pid 0 with an all-zero
 * hole, or a pid in 1..4194304 (PID_MAX_LIMIT) whose hole is zero and whose name is a
 * NUL-terminated printable string. Slots beyond len are not counted. */
static int plausible_slots(shml_version v, const uint8_t *buf, size_t len) {
    const shml_version_info *vi = &versions[v];
    int score = 0;
    for (int s = 0; s < SHML_MAX_PROCESSES; s++) {
        size_t base = vi->proc_base + vi->proc_stride * (size_t)s;
        if (base + vi->proc_stride > len)
            break;
        uint32_t pid = proto_le_get32(buf + base);
        uint32_t hole = proto_le_get32(buf + base + 4);
        if (hole != 0 || pid > 4194304u)
            continue;
        const uint8_t *name = buf + base + vi->proc_name_off;
        int ok = 1, ended = 0;
        for (int i = 0; i < SHML_NAME_BYTES && ok; i++) {
            if (name[i] == 0)
                ended = 1;
            else if (ended || name[i] < 0x20 || name[i] > 0x7e)
                ok = 0;
        }
        if (ok && ended && (pid != 0 || name[0] == 0))
            score++;
    }
    return score;
}

static int count_bits(unsigned x) {
    int n = 0;
    for (; x; x &= x - 1)
        n++;
    return n;
}

static shml_version lowest(unsigned set) {
    for (int v = 0; v < SHML_VERSION_COUNT; v++)
        if (set & (1u << v))
            return (shml_version)v;
    return SHML_L1K;
}

#define BIT(v) (1u << (v))

int shml_detect(const uint8_t *buf, size_t len, shml_detection *out) {
    memset(out, 0, sizeof *out);
    if (len < OFF_TOTALS) {
        snprintf(out->note, sizeof out->note, "size %zu: too short for any layout (smallest is 8576 bytes)", len);
        return 0;
    }
    uint32_t version = proto_le_get32(buf + OFF_VERSION);
    out->version_field = version;
    unsigned by_size = 0, by_version = 0;
    for (int v = 0; v < SHML_VERSION_COUNT; v++)
        if (shml_size_valid((shml_version)v, len))
            by_size |= BIT(v);
    switch (version) {
    case 0: by_version = BIT(SHML_VERSION_COUNT) - 1; break;
    case 1: by_version = BIT(SHML_L1K) | BIT(SHML_L1N) | BIT(SHML_L1A); break;
    case 2: by_version = BIT(SHML_V2A) | BIT(SHML_V2B); break;
    case 3: by_version = BIT(SHML_V3); break;
    case 4: by_version = BIT(SHML_V4); break;
    default:
        snprintf(out->note, sizeof out->note, "version %u at offset 0: no known layout has it", version);
        return 0;
    }
    unsigned cand = by_size & by_version;
    const char *why = "version field and size";
    if (cand == 0) {
        /* Another writer's ftruncate resized the file (§7.1), or it was cut short: trust the
         * version field, keep the layouts whose content fits. */
        for (int v = 0; v < SHML_VERSION_COUNT; v++)
            if ((by_version & BIT(v)) && versions[v].proc_base + versions[v].proc_stride * SHML_MAX_PROCESSES <= len)
                cand |= BIT(v);
        if (cand == 0) {
            snprintf(out->note, sizeof out->note, "size %zu: too short for version %u", len, version);
            return 0;
        }
        why = "version field only: size matches no layout of that version (resized by another writer?)";
    }
    shml_version best = lowest(cand);
    if (version == 0) {
        why = "version 0: region not initialised (zero-filled or mid-creation); size only";
    }
    /* Layout differences visible in the bytes: v1-K against the 88/856 family, which only
     * meet when the size did not decide (a resized file). */
    if ((cand & BIT(SHML_L1K)) && (cand & ~BIT(SHML_L1K))) {
        int k = plausible_slots(SHML_L1K, buf, len), n = plausible_slots(SHML_L1N, buf, len);
        if (k > n)
            cand = BIT(SHML_L1K);
        else if (n > k)
            cand &= ~BIT(SHML_L1K);
        best = lowest(cand);
    }
    if (cand & BIT(SHML_V2A) && cand & BIT(SHML_V2B) && version == 2) {
        int zero = 0, unused = 0;
        for (int s = 1; s < SHML_MAX_CHIPS; s++) {
            uint32_t id = proto_le_get32(buf + versions[SHML_V2A].chip_base + versions[SHML_V2A].chip_stride * (size_t)s);
            zero += id == 0;
            unused += id == SHML_CHIP_UNUSED;
        }
        if (unused > 0 && zero == 0) {
            cand = BIT(SHML_V2B);
            why = "version 2 with chip slots 0xFFFFFFFF (v2b sentinel)";
        } else if (zero > 0 && unused == 0) {
            cand = BIT(SHML_V2A);
            why = "version 2 with chip slots 0 (v2a sentinel)";
        } else {
            why = unused && zero ? "version 2 with both chip sentinels (0 and 0xFFFFFFFF) in the table"
                                 : "version 2 with every chip slot in use: sentinel unknown";
        }
        best = unused > zero ? SHML_V2B : SHML_V2A;
    }
    if (cand == (BIT(SHML_L1N) | BIT(SHML_L1A)))
        why = "version 1, 8640 bytes: v1-N and v1-A have identical bytes (they differ in atomicity only)";
    if (!(cand & BIT(best)))
        best = lowest(cand);
    out->candidates = cand;
    out->best = best;
    out->ambiguous = count_bits(cand) > 1;
    if (cand == BIT(SHML_V4)) {
        uint32_t st = proto_le_get32(buf + versions[SHML_V4].init_state_off);
        snprintf(out->note, sizeof out->note, "%s; init_state 0x%08x (%s)", why, st,
                 st == SHML_INIT_READY ? "READY" : st == SHML_INIT_IN_PROGRESS ? "IN_PROGRESS"
                                                : st == 0 ? "UNINITIALIZED" : "garbage");
    } else {
        snprintf(out->note, sizeof out->note, "%s", why);
    }
    return count_bits(cand);
}
