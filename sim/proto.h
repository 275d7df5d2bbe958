/* proto: the allocation server's wire protocol, every known revision.
 *
 * One fixed-size little-endian frame per message, no framing fields; the frame size is
 * implied by the server build (72, 112 or 144 bytes). Frames are encoded and decoded byte by
 * byte at the offsets of protocol.md §2, never by casting a struct over a buffer. Decoding
 * keeps the padding bytes, so decode followed by encode reproduces any frame exactly.
 * One table (proto_rev_get) holds every revision's name, frame size, device limit, id
 * format and message types; everything else in allocsim asks it instead of hard-coding.
 */
#ifndef ALLOCSIM_PROTO_H
#define ALLOCSIM_PROTO_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    PROTO_V72 = 0,
    PROTO_V112,
    PROTO_V112_HEX,
    PROTO_V144,
    PROTO_V144_256,
    PROTO_REV_COUNT
} proto_rev;

#define PROTO_MAX_FRAME 144

/* Message types (byte 0). */
enum {
    PROTO_ALLOC = 1,
    PROTO_FREE = 2,
    PROTO_QUERY = 3,
    PROTO_RESPONSE = 4,
    PROTO_DUMP_REMAINING = 5,
    PROTO_DEVICE_INFO_QUERY = 6,
    PROTO_DEVICE_INFO_RESPONSE = 7,
    PROTO_CB_ALLOC = 8,
    PROTO_CB_FREE = 9,
    PROTO_KERNEL_LOAD = 10,
    PROTO_KERNEL_UNLOAD = 11,
    PROTO_DUMP_KERNELS = 12
};

/* TT-Metal BufferType, the raw enum the server indexes its name table with. */
enum {
    PROTO_BUF_DRAM = 0,
    PROTO_BUF_L1 = 1,
    PROTO_BUF_SYSTEM_MEMORY = 2,
    PROTO_BUF_L1_SMALL = 3,
    PROTO_BUF_TRACE = 4,
    PROTO_BUF_TYPE_COUNT = 5
};

typedef struct {
    const char *name;       /* "v72", "v112", "v112-hex", "v144", "v144-256" */
    const char *server_commit; /* SRV commit the revision models */
    size_t frame_size;      /* 72, 112 or 144 */
    int max_devices;        /* MAX_DEVICES: 8, or 256 for v144-256 */
    int hex_ids;            /* buffer ids in alloc/free/unknown lines printed as 0x... */
    uint8_t max_type;       /* highest message type the server handles (5, 7 or 12) */
} proto_rev_info;

/* Every field of every layout. Fields a revision does not carry decode as 0 and are not
 * encoded. pad1, pad2 and pad3 are carried so that decode + encode is lossless. */
typedef struct {
    uint8_t type;
    uint8_t pad1[3];
    int32_t device_id;
    uint64_t size;
    uint8_t buffer_type;
    uint8_t pad2[3];
    int32_t process_id;
    uint64_t buffer_id;
    uint64_t timestamp;
    uint64_t dram_allocated;
    uint64_t l1_allocated;
    uint64_t l1_small_allocated;
    uint64_t trace_allocated;
    uint64_t cb_allocated;      /* v144 only */
    uint64_t kernel_allocated;  /* v144 only */
    uint64_t total_dram_size;   /* v112, v144 */
    uint64_t total_l1_size;
    uint32_t arch_type;
    uint32_t num_dram_channels;
    uint32_t dram_size_per_channel;
    uint32_t l1_size_per_core;
    uint32_t is_available;
    uint32_t num_devices;
    uint32_t ringbuffer_total_size;   /* v144 only */
    uint32_t ringbuffer_used_bytes;   /* v144 only */
    uint32_t ringbuffer_num_programs; /* v144 only */
    uint32_t pad3;                    /* v144 only */
} proto_msg;

/* The revision table entry for rev. Precondition: rev < PROTO_REV_COUNT. Never NULL. */
const proto_rev_info *proto_rev_get(proto_rev rev);

/* Parses a revision name ("v72", "v112", "v112-hex", "v144", "v144-256"). Returns 0 and sets
 * *out, or -1 if the name is unknown. */
int proto_rev_parse(const char *name, proto_rev *out);

/* A comma-separated list of every revision name, for usage and error messages. */
const char *proto_rev_names(void);

/* 1 if the server of revision rev handles message type t (as opposed to printing
 * "Unknown message type" or, in v144, silently resynchronising). */
int proto_type_handled(proto_rev rev, uint8_t t);

/* Name of a message type ("ALLOC", ...), or NULL for a value no revision defines. */
const char *proto_type_name(uint8_t t);

/* Parses a message type name (case-insensitive). Returns the value or -1. */
int proto_type_parse(const char *name);

/* The server's name for a buffer type: "DRAM", "L1", "SYSTEM_MEMORY", "L1_SMALL", "TRACE",
 * or "UNKNOWN" for values above 4. */
const char *proto_buffer_type_name(uint8_t t);

/* Parses a buffer type name (case-insensitive). Returns the value or -1. */
int proto_buffer_type_parse(const char *name);

/* Kernel type word of the KERNEL_LOAD lines: "Application", "Fabric", "Dispatch", "Unknown". */
const char *proto_kernel_type_name(uint8_t t);

/* Writes msg as one frame of revision rev into out (at least frame_size bytes).
 * Returns the frame size. Never fails. */
size_t proto_encode(proto_rev rev, const proto_msg *msg, uint8_t *out);

/* Reads one frame of revision rev from in. Precondition: len >= frame size.
 * Returns the frame size consumed, or 0 if len is too short (msg is then untouched). */
size_t proto_decode(proto_rev rev, const uint8_t *in, size_t len, proto_msg *msg);

/* Little-endian byte access, shared by every binary format allocsim reads or writes. */
void proto_le_put16(uint8_t *p, uint16_t v);
void proto_le_put32(uint8_t *p, uint32_t v);
void proto_le_put64(uint8_t *p, uint64_t v);
uint16_t proto_le_get16(const uint8_t *p);
uint32_t proto_le_get32(const uint8_t *p);
uint64_t proto_le_get64(const uint8_t *p);

/* Incremental decoder for a byte stream cut at arbitrary points. */
typedef struct {
    proto_rev rev;
    size_t have;
    uint8_t buf[PROTO_MAX_FRAME];
} proto_reader;

void proto_reader_init(proto_reader *r, proto_rev rev);

/* Appends up to len bytes from data; stops as soon as one frame is complete.
 * Returns the number of bytes consumed. When a frame is complete, *ready is set to 1 and msg
 * is filled; the next call starts the next frame. */
size_t proto_reader_push(proto_reader *r, const uint8_t *data, size_t len, proto_msg *msg,
                         int *ready);

/* Bytes of an incomplete frame held by the reader (0 at a frame boundary). */
size_t proto_reader_pending(const proto_reader *r);

#endif
