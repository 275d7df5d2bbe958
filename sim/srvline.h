/* srvline: classifies one line of the allocation server's output, any revision.
 *
 * The server's stdout and stderr (protocol.md §5) are the only record a real run leaves, and
 * several parts of allocsim read them: the dump parser (dumpview), the log importer and the
 * harness checks. This module is the one place that knows every line template: it says which
 * kind of line a string is, extracts its fields (pids, devices, ids in decimal or 0x hex,
 * sizes, ref counts, the KB/MB numbers as printed) and tells which protocol revisions can
 * print it. A line that starts like a server line but does not fit its template is
 * SRVLINE_MALFORMED with the template it was expected to follow, so readers can report
 * "expected X, found Y". It accepts arbitrary bytes (NULs, invalid UTF-8, CR) and never
 * reads outside [line, line + len).
 */
#ifndef ALLOCSIM_SRVLINE_H
#define ALLOCSIM_SRVLINE_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

typedef enum {
    SRVLINE_OTHER = 0, /* not a server line (noise, client output, unknown text) */
    SRVLINE_MALFORMED, /* looks like a server line but does not fit; see .expected */
    SRVLINE_EMPTY,     /* "" (the ⏎ of the templates) */

    /* §5.5 allocation and free lines */
    SRVLINE_ALLOC,          /* new ALLOC */
    SRVLINE_ALLOC_REF,      /* ALLOC of an existing key: ref_count is the new count */
    SRVLINE_FREE_REF,       /* FREE with references left: ref_count remaining */
    SRVLINE_FREE_FINAL,     /* FREE of the last reference */
    SRVLINE_FREE_PRE_V72,   /* "(«size» bytes)" with no suffix: docs-only pre-v72 build */
    SRVLINE_FREE_UNKNOWN,   /* Deallocation for unknown buffer */

    /* §5.6 rejections and errors */
    SRVLINE_INVALID_TYPE_PID, /* ⚠ [PID p] Invalid buffer_type (v72, v112, v112-hex) */
    SRVLINE_INVALID_TYPE,     /* ⚠️  Invalid buffer_type (v144) */
    SRVLINE_INVALID_DEVICE,   /* ⚠️  Invalid device_id */
    SRVLINE_INVALID_SIZE,     /* ⚠️  Invalid size */
    SRVLINE_UNKNOWN_TYPE,     /* Unknown message type: n (size = n) */
    SRVLINE_INVALID_TYPE_V128,/* ⚠️  Invalid message type - skipping (docs-only "v128") */
    SRVLINE_TOO_MANY_ERRORS,
    SRVLINE_ACCEPT_FAILED,
    SRVLINE_SOCKET_ERROR,     /* Error: Failed to create/bind/listen ... */

    /* §5.7 DUMP_REMAINING report */
    SRVLINE_DUMP_REQUEST,
    SRVLINE_FRAME_TOP,        /* ╔═...═╗ (dump and kernel reports) */
    SRVLINE_DUMP_TITLE,
    SRVLINE_FRAME_BOTTOM,     /* ╚═...═╝ */
    SRVLINE_DUMP_TRACKED,     /* Total tracked allocations: N (count) */
    SRVLINE_DUMP_PERFECT,
    SRVLINE_DUMP_DEVICE,      /* Device d: */
    SRVLINE_DUMP_GROUP,       /*   TYPE: n buffers, MB MB total (count, num = MB) */
    SRVLINE_DUMP_BUFFER,      /*     - Buffer 0x..: KB KB (PID p, ref_count=r) (num = KB) */
    SRVLINE_DUMP_TOTAL,       /* Total remaining buffers: N (count) */
    SRVLINE_DUMP_COMPLETE,

    /* §5.8 dead-process block */
    SRVLINE_DEAD_HEADER,
    SRVLINE_DEAD_PID,
    SRVLINE_DEAD_REMOVED_BUFFERS, /* count, num = MB, pid */
    SRVLINE_DEAD_REMOVED_CBS,
    SRVLINE_DEAD_REMOVED_KERNELS,

    /* §5.9 CB and kernel lines, DUMP_KERNELS report (v144) */
    SRVLINE_CB_ALLOC,         /* device_id, num = MB of the message, num2 = total MB */
    SRVLINE_CB_FREE,
    SRVLINE_KERNEL_LOAD,      /* buffer_type = kernel type 0..2, 3 Unknown, -1 no word (v128) */
    SRVLINE_KERNEL_UNLOAD,
    SRVLINE_KDUMP_TITLE,
    SRVLINE_KDUMP_TOTAL,      /* Total kernel allocations: N */
    SRVLINE_KDUMP_DEVICE,     /* 📊 Device d - Total: MB MB (n kernels) */
    SRVLINE_KDUMP_BOX_TOP,
    SRVLINE_KDUMP_KERNEL_ID,  /* buffer_id = kernel id */
    SRVLINE_KDUMP_SIZE,       /* num = KB */
    SRVLINE_KDUMP_OWNER,      /* pid */
    SRVLINE_KDUMP_AGE,        /* count = seconds */
    SRVLINE_KDUMP_SEPARATOR,  /*   │ */
    SRVLINE_KDUMP_BOX_BOTTOM,
    SRVLINE_KDUMP_COMPLETE,

    /* §5.10 statistics and shutdown */
    SRVLINE_STATS_HEADER,
    SRVLINE_STATS_DEVICE,     /* device_id */
    SRVLINE_STATS_BUFFERS,    /* count */
    SRVLINE_STATS_DRAM,       /* size, num = KB */
    SRVLINE_STATS_L1,         /* size, num = KB */
    SRVLINE_STATS_TOTAL,      /* size */
    SRVLINE_STATS_ACTIVE,     /* count */
    SRVLINE_CLEANUP_STOPPED,
    SRVLINE_SERVER_STOPPED,

    /* §5.4 startup */
    SRVLINE_DETECT_HEADER,
    SRVLINE_DETECT_NONE,      /* No (PCIe) devices detected */
    SRVLINE_DETECT_NOTICE,    /* Server will track allocations anyway / without device info */
    SRVLINE_DETECT_LIMIT,     /* Warning: Found n devices, limiting to 8 */
    SRVLINE_DETECT_DEVICE,    /* device_id, size = GB, count = MB L1, text = arch */
    SRVLINE_DETECT_TOTAL,     /* count */
    SRVLINE_DETECT_TOPOLOGY,
    SRVLINE_DETECT_NOTE,
    SRVLINE_DETECT_FAILED,    /* Failed to initialize cluster / Error during device detection /
                                 Warning: Could not query device */
    SRVLINE_DETECT_DEBUG,     /* unindented per-chip lines of v144 */
    SRVLINE_BANNER_STARTED,
    SRVLINE_BANNER_LISTENING, /* text = socket path */
    SRVLINE_BANNER_HINT,      /* Press Ctrl+C to stop */
    SRVLINE_CLEANUP_STARTED,
    SRVLINE_USAGE,

    /* allocation_server_enhanced only (tracking-stories.md §3; revs = v72, its frame size) */
    SRVLINE_ENH_BANNER,        /* 🚀 Enhanced Allocation Server started (with history tracking) */
    SRVLINE_ENH_REUSE_SIZE,    /* Buffer reused with DIFFERENT size: count = old, size = new,
                                  buffer_id (decimal), device_id, pid */
    SRVLINE_ENH_ALREADY_FREED, /* Deallocation for ALREADY FREED buffer: size = allocs,
                                  count = frees (this one included), buffer_id, device_id, pid */
    SRVLINE_ENH_FREE_UNTRACKED,/* Deallocation for unknown buffer ... (never tracked ...) */
    SRVLINE_ENH_LAST_EVENTS,   /*    Last 5 events for this buffer: */
    SRVLINE_ENH_EVENT,         /* an indented "«ALLOC|FREE|REUSE» size=n pid=p ref=r":
                                  count = 0 ALLOC / 1 FREE / 2 REUSE, size, pid, ref_count */
    SRVLINE_ENH_HISTORY,       /*       History (allocs=A frees=F): size = A, count = F */
    SRVLINE_ENH_DF_FOUND,      /* ⚠️  However, found N buffers that were DOUBLE-FREED ... */
    SRVLINE_ENH_DF_TITLE,      /* ║ DOUBLE-FREED BUFFERS ║ */
    SRVLINE_ENH_DF_BUFFER,     /* Buffer 0x«hex» on device «dev»: */
    SRVLINE_ENH_DF_TOTALS,     /*   Total allocs: A, Total frees: F (size = A, count = F) */
    SRVLINE_ENH_DF_HISTORY,    /*   History: */
    SRVLINE_ENH_STATS_KB,      /*     DRAM|L1|Total: «KB» KB (num = KB, text = the word) */

    SRVLINE_KIND_COUNT
} srvline_kind;

/* A slice of the classified line (not NUL-terminated). */
typedef struct {
    const char *ptr;
    size_t len;
} srvline_text;

/* Bit (1u << rev) for each proto_rev. */
#define SRVLINE_REV(r) (1u << (r))
#define SRVLINE_REVS_ALL ((1u << PROTO_REV_COUNT) - 1u)
#define SRVLINE_REVS_DEC (SRVLINE_REV(PROTO_V72) | SRVLINE_REV(PROTO_V112))
#define SRVLINE_REVS_HEX \
    (SRVLINE_REV(PROTO_V112_HEX) | SRVLINE_REV(PROTO_V144) | SRVLINE_REV(PROTO_V144_256))
#define SRVLINE_REVS_V112 (SRVLINE_REV(PROTO_V112) | SRVLINE_REV(PROTO_V112_HEX))
#define SRVLINE_REVS_V144 (SRVLINE_REV(PROTO_V144) | SRVLINE_REV(PROTO_V144_256))

typedef struct {
    srvline_kind kind;
    /* Revisions whose server prints this line: a mask of SRVLINE_REV bits. All bits for
     * lines every revision prints; 0 for docs-only variants (pre-v72, "v128"). */
    unsigned revs;
    int32_t pid;
    int32_t device_id;
    int32_t ref_count;
    int buffer_type;     /* 0..4, or the kernel type; -1 when the line has none */
    int id_hex;          /* 1 if buffer_id was printed as 0x... */
    uint64_t buffer_id;
    uint64_t size;       /* bytes (or the rejected size, GB of a detected device) */
    uint64_t count;      /* buffers, N, message type, seconds, ... (see the kinds) */
    srvline_text num;    /* a %g number as printed (KB or MB), see the kinds */
    srvline_text num2;
    srvline_text text;   /* free text of a few kinds */
    const char *expected; /* SRVLINE_MALFORMED: the template the line should follow */
    srvline_kind expected_kind; /* SRVLINE_MALFORMED: the kind it started like */
} srvline;

/* Classifies line[0..len) (a trailing "\n", "\r\n" or "\r" is ignored). Never fails: any
 * bytes give some kind, SRVLINE_OTHER at worst. Fields not used by the kind are 0 (-1 for
 * buffer_type). Slices in *out point into line. */
void srvline_classify(const char *line, size_t len, srvline *out);

/* Classifies the lines only allocation_server_enhanced prints (the SRVLINE_ENH_* kinds).
 * Returns 1 and fills *out when line[0..len) (no trailing newline) is one, else 0 and leaves
 * *out alone. Called by srvline_classify first. */
int srvline_classify_enhanced(const char *line, size_t len, srvline *out);

/* A short stable name of a kind ("alloc", "dump-group", ...), for reports and JSON. */
const char *srvline_kind_name(srvline_kind kind);

/* Copies line[0..len) into buf (size n >= 8) for an error message: bytes outside printable
 * ASCII and valid UTF-8 become \xNN, and a long line is cut with "...". Returns buf. */
char *srvline_quote(const char *line, size_t len, char *buf, size_t n);

/* Length (1..4) of the valid UTF-8 sequence at s[0..n), n >= 1; 0 if the bytes there are not
 * valid UTF-8 (overlong forms and surrogates included). */
size_t srvline_utf8_len(const char *s, size_t n);

#endif
