/* shm_layout: the byte layouts of TT-Metal's per-chip SHM tracking region, every version.
 *
 * TT-Metal maps one `DeviceMemoryRegion` per chip at /dev/shm/tt_device_<id>_memory
 * (shm-tracking.md §2). Seven layouts are known: v1-K (9280 bytes, with KERNEL counters),
 * v1-N (8640), v1-A (8640 or 8576, uncertain), v2a, v2b, v3 and v4 (8576 each). This module
 * holds one table describing them (sizes, bases, strides, which fields exist and which are
 * atomic), locates every field's byte offset so the writer model (shm_model) and a harness
 * can address single atomic fields, and encodes/decodes a whole region byte by byte,
 * little-endian, at the spec's offsets, never by casting a struct over the buffer.
 * Encoding starts from an all-zero buffer, so padding is always written as zero; decoding
 * ignores padding. shml_detect guesses which layout a file holds from its size, version
 * field and table contents, and says when the guess is ambiguous.
 *
 * The length of a buffer is the file size: encode and decode accept exactly the sizes a
 * layout can have (v1-A: 8640 with padding[64] or 8576 without). No I/O, no allocation.
 */
#ifndef ALLOCSIM_SHM_LAYOUT_H
#define ALLOCSIM_SHM_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    SHML_L1K = 0, /* "v1-K": profiler era A/B/C, KERNEL counters, padding[64], 9280 bytes */
    SHML_L1N,     /* "v1-N": era D, no KERNEL, padding[64], 8640 bytes */
    SHML_L1A,     /* "v1-A": era E, atomic per-process fields, 8640 or 8576 bytes */
    SHML_V2A,     /* "v2a": chip_unique_id naming, chip sentinel 0, 8576 bytes */
    SHML_V2B,     /* "v2b": chip sentinel 0xFFFFFFFF */
    SHML_V3,      /* "v3": timestamp and chip ids atomic */
    SHML_V4,      /* "v4": every header field atomic, init_state at 8536 */
    SHML_VERSION_COUNT
} shml_version;

#define SHML_MAX_CHIPS 16
#define SHML_MAX_PROCESSES 64
#define SHML_NAME_BYTES 64
#define SHML_MAX_REGION_BYTES 9280
#define SHML_CHIP_UNUSED 0xFFFFFFFFu   /* CHIP_STATS_UNUSED, v2b/v3/v4 */
#define SHML_INIT_UNINITIALIZED 0u
#define SHML_INIT_IN_PROGRESS 1u
#define SHML_INIT_READY 0x52454459u    /* "REDY" */
#define SHML_PID_RELEASING (-1)        /* v4c: slot mid-release */

/* Counter kinds, the order of the totals and of every counter block. KERNEL exists in v1-K
 * only. Not the same numbering as ShmBufferType (SYSTEM_MEMORY sits at 2 there). */
typedef enum {
    SHML_CTR_DRAM = 0,
    SHML_CTR_L1,
    SHML_CTR_L1_SMALL,
    SHML_CTR_TRACE,
    SHML_CTR_CB,
    SHML_CTR_KERNEL,
    SHML_CTR_COUNT
} shml_counter;

/* ShmBufferType values (§2.2). KERNEL (6) is a counted type in v1-K only. */
enum {
    SHML_TYPE_DRAM = 0,
    SHML_TYPE_L1 = 1,
    SHML_TYPE_SYSTEM_MEMORY = 2,
    SHML_TYPE_L1_SMALL = 3,
    SHML_TYPE_TRACE = 4,
    SHML_TYPE_CB = 5,
    SHML_TYPE_KERNEL = 6,
    SHML_TYPE_UNKNOWN = 255
};

/* One row of the layout table. Offsets are bytes from the start of the region. */
typedef struct {
    const char *name;          /* "v1-K", "v1-N", "v1-A", "v2a", "v2b", "v3", "v4" */
    const char *spec_name;     /* the spec's name: "L1-K", ..., "v4" */
    uint32_t version_value;    /* what the creator writes into `version` (v1-A: 1, §2.1) */
    size_t size_bytes;         /* sizeof(DeviceMemoryRegion) */
    size_t alt_size_bytes;     /* the other possible size (v1-A without padding), or 0 */
    int counter_count;         /* 6 with KERNEL (v1-K), else 5 */
    size_t chip_base, chip_stride;
    size_t proc_base, proc_stride;
    size_t proc_timestamp_off; /* within a process slot */
    size_t proc_name_off;
    size_t padding_off;        /* padding[64], or 0 if absent (v1-A: present at 8640 only) */
    size_t init_state_off;     /* v4 only, else 0 */
    uint32_t chip_unused;      /* chip_id meaning "free slot": 0 or 0xFFFFFFFF */
    int device_id_signed;      /* int32 (v1, v2a) or uint32 (v2b, v3, v4) */
} shml_version_info;

/* Every field kind. Slot and counter arguments select the instance. */
typedef enum {
    SHML_F_VERSION = 0,
    SHML_F_NUM_ACTIVE,
    SHML_F_TIMESTAMP,
    SHML_F_REFCOUNT,
    SHML_F_BOARD_SERIAL,
    SHML_F_ASIC_ID,
    SHML_F_DEVICE_ID,
    SHML_F_TOTAL,          /* counter */
    SHML_F_CHIP_ID,        /* slot */
    SHML_F_CHIP_IS_REMOTE, /* slot */
    SHML_F_CHIP_COUNTER,   /* slot, counter */
    SHML_F_PROC_PID,       /* slot */
    SHML_F_PROC_COUNTER,   /* slot, counter */
    SHML_F_PROC_TIMESTAMP, /* slot */
    SHML_F_PROC_NAME,      /* slot; 64 bytes */
    SHML_F_INIT_STATE,
    SHML_F_PADDING,        /* padding[64] */
    SHML_F_COUNT
} shml_field_id;

typedef struct {
    size_t offset;
    int width;  /* bytes: 1, 2, 4, 8, or 64 for names and padding */
    int atomic; /* std::atomic in the real struct of this version */
} shml_field;

typedef struct {
    int32_t pid;
    uint64_t counters[SHML_CTR_COUNT];
    uint64_t last_update_timestamp;
    char name[SHML_NAME_BYTES]; /* raw bytes, not necessarily NUL-terminated */
} shml_process;

typedef struct {
    uint32_t chip_id;
    uint32_t is_remote;
    uint64_t counters[SHML_CTR_COUNT];
} shml_chip;

/* A decoded region. Fields a version lacks (KERNEL counters outside v1-K, init_state
 * outside v4) decode as 0 and are not encoded. device_id is the raw 32 bits (int32 in v1
 * and v2a: cast to int32_t). */
typedef struct {
    uint32_t version;
    uint32_t num_active_processes;
    uint64_t last_update_timestamp;
    uint32_t reference_count;
    uint64_t board_serial;
    uint64_t asic_id;
    uint32_t device_id;
    uint64_t totals[SHML_CTR_COUNT];
    shml_chip chips[SHML_MAX_CHIPS];
    shml_process processes[SHML_MAX_PROCESSES];
    uint32_t init_state;
} shml_region;

/* The table row of v. Precondition: v < SHML_VERSION_COUNT. Never NULL. */
const shml_version_info *shml_version_get(shml_version v);

/* Parses a version name ("v1-K", "v1-n", "v4", also the spec names "L1-K", ...),
 * case-insensitive. Returns 0 and sets *out, or -1. */
int shml_version_parse(const char *name, shml_version *out);

/* A comma-separated list of the version names, for usage and error messages. */
const char *shml_version_names(void);

/* 1 if len is a size a region of version v can have (the file size), else 0. */
int shml_size_valid(shml_version v, size_t len);

/* Locates one field instance. slot and counter are ignored where they do not apply.
 * Returns 0 and fills *out, or -1 if v lacks the field (KERNEL outside v1-K, init_state
 * outside v4, padding[64] in v2+) or slot/counter is out of range. padding[64] of v1-A is
 * reported present: whether it exists depends on the region size. */
int shml_field_locate(shml_version v, shml_field_id f, int slot, int counter, shml_field *out);

/* Byte offset of a field instance, or SIZE_MAX where shml_field_locate fails. */
size_t shml_off(shml_version v, shml_field_id f, int slot, int counter);

/* The counter a ShmBufferType value updates in version v, or -1 for the types that change
 * no counter (SYSTEM_MEMORY, UNKNOWN, KERNEL outside v1-K, anything else). */
int shml_counter_of_type(shml_version v, uint8_t type);

/* Name of a ShmBufferType value in version v ("DRAM", ..., "KERNEL" in v1-K only), or
 * NULL for a value the version does not define. */
const char *shml_type_name(shml_version v, uint8_t type);

/* Name of a counter kind: "dram", "l1", "l1_small", "trace", "cb", "kernel". */
const char *shml_counter_name(int counter);

/* Writes a description of the field containing byte `offset` in version v ("version",
 * "totals.l1", "chip_stats[2].dram", "processes[5].process_name", "padding",
 * "(hole)") into buf. Returns buf. */
char *shml_describe_offset(shml_version v, size_t offset, char *buf, size_t buf_len);

/* Encodes r as version v into buf, which is the whole region: len must be a valid size
 * (shml_size_valid). The buffer is zeroed first, so holes and padding are 0. Returns 0, or
 * -1 with a message in err (if non-NULL) when len or v is wrong. */
int shml_encode(shml_version v, const shml_region *r, uint8_t *buf, size_t len, char *err,
                size_t err_len);

enum {
    SHML_DECODE_ANY_VERSION = 1u << 0 /* do not require version == the layout's value */
};

/* Decodes buf (the whole region, len = file size) as version v into *out. Fails, naming
 * the field, when len is not a valid size ("size 9000: expected 8576 bytes for v4"), v is
 * unknown, or (unless SHML_DECODE_ANY_VERSION) the version field differs from the layout's
 * value ("version 3 at offset 0: expected 4 for v4"). Returns 0, or -1 with a message in
 * err; *out is fully written on success only. */
int shml_decode(shml_version v, const uint8_t *buf, size_t len, unsigned flags,
                shml_region *out, char *err, size_t err_len);

/* What shml_detect found. candidates is a bit set (1u << shml_version) of every layout
 * consistent with the evidence; best is the most likely one (valid when candidates != 0). */
typedef struct {
    unsigned candidates;
    shml_version best;
    int ambiguous;      /* more than one candidate */
    uint32_t version_field;
    char note[200];     /* why: the evidence used, or what contradicts */
} shml_detection;

/* Guesses the layout of a region image of len bytes from its version field, its size and
 * its table contents (chip sentinels; process slot plausibility when the size does not
 * settle it). Returns the number of candidates (0: nothing fits, e.g. garbage or a file
 * too short). Never fails otherwise; *out is always written. */
int shml_detect(const uint8_t *buf, size_t len, shml_detection *out);

#endif
