/* srvline: the server's line templates (protocol.md §5) as small matchers over a cursor.
 *
 * Lines are dispatched on their first bytes (each template family starts with a distinct
 * symbol or indentation), then matched literally piece by piece. Numbers are parsed with
 * overflow checks; a number that does not fit makes the line malformed rather than wrapping.
 * The order of the attempts matters where one template is a prefix of another ("L1" and
 * "L1_SMALL", 4-space statistics lines and 3-space detection lines).
 */
#include "srvline.h"

#include <string.h>

typedef struct {
    const char *p;
    const char *end;
} cursor;

static int lit(cursor *c, const char *s) {
    size_t n = strlen(s);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, s, n) != 0)
        return 0;
    c->p += n;
    return 1;
}

static int at_end(const cursor *c) { return c->p == c->end; }

static int is_digit(char ch) { return ch >= '0' && ch <= '9'; }

static int dec_u64(cursor *c, uint64_t *v) {
    uint64_t x = 0;
    const char *start = c->p;
    while (c->p < c->end && is_digit(*c->p)) {
        unsigned d = (unsigned)(*c->p - '0');
        if (x > (UINT64_MAX - d) / 10)
            return 0;
        x = x * 10 + d;
        c->p++;
    }
    if (c->p == start)
        return 0;
    *v = x;
    return 1;
}

static int dec_i32(cursor *c, int32_t *v) {
    int neg = 0;
    uint64_t x;
    if (c->p < c->end && *c->p == '-') {
        neg = 1;
        c->p++;
    }
    if (!dec_u64(c, &x))
        return 0;
    if (neg ? x > 2147483648u : x > 2147483647u)
        return 0;
    *v = neg ? (int32_t)(-(int64_t)x) : (int32_t)x;
    return 1;
}

static int hex_digit(char ch) {
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Hex digits after a "0x" the caller consumed. */
static int hex_u64(cursor *c, uint64_t *v) {
    uint64_t x = 0;
    const char *start = c->p;
    int d;
    while (c->p < c->end && (d = hex_digit(*c->p)) >= 0) {
        if (x >> 60)
            return 0;
        x = (x << 4) | (uint64_t)d;
        c->p++;
    }
    if (c->p == start)
        return 0;
    *v = x;
    return 1;
}

/* A buffer id in the build's form: 0x-hex or decimal. */
static int buffer_id(cursor *c, uint64_t *v, int *is_hex) {
    if (lit(c, "0x")) {
        *is_hex = 1;
        return hex_u64(c, v);
    }
    *is_hex = 0;
    return dec_u64(c, v);
}

/* A number printed with the iostream default format (%g): digits, '.', 'e', sign. */
static int gnum(cursor *c, srvline_text *t) {
    const char *start = c->p;
    if (c->p >= c->end || !is_digit(*c->p))
        return 0;
    while (c->p < c->end &&
           (is_digit(*c->p) || *c->p == '.' || *c->p == 'e' || *c->p == '+' || *c->p == '-'))
        c->p++;
    if (c->p - start > 31)
        return 0;
    t->ptr = start;
    t->len = (size_t)(c->p - start);
    return 1;
}

/* Text up to (not including) the first occurrence of stop; the cursor stops at stop. */
static int until(cursor *c, const char *stop, srvline_text *t) {
    size_t n = strlen(stop);
    for (const char *q = c->p; (size_t)(c->end - q) >= n; q++) {
        if (memcmp(q, stop, n) == 0) {
            t->ptr = c->p;
            t->len = (size_t)(q - c->p);
            c->p = q;
            return 1;
        }
    }
    return 0;
}

static void rest(cursor *c, srvline_text *t) {
    t->ptr = c->p;
    t->len = (size_t)(c->end - c->p);
    c->p = c->end;
}

/* Buffer type names, longest first where one is a prefix of another. */
static int buffer_type_word(cursor *c, int *t) {
    static const struct {
        const char *name;
        int value;
    } words[] = {{"SYSTEM_MEMORY", 2}, {"L1_SMALL", 3}, {"DRAM", 0},
                 {"L1", 1},            {"TRACE", 4},    {"UNKNOWN", 255}};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        if (lit(c, words[i].name)) {
            *t = words[i].value;
            return 1;
        }
    }
    return 0;
}

static int kernel_type_word(cursor *c, int *t) {
    static const char *const words[] = {"Application", "Fabric", "Dispatch", "Unknown"};
    for (int i = 0; i < 4; i++) {
        if (lit(c, words[i])) {
            *t = i;
            return 1;
        }
    }
    return 0;
}

/* A box line: left, n copies of fill, right, end of line. */
static int box(cursor *c, const char *left, const char *fill, int n, const char *right) {
    if (!lit(c, left))
        return 0;
    for (int i = 0; i < n; i++)
        if (!lit(c, fill))
            return 0;
    return lit(c, right) && at_end(c);
}

/* ---- templates ------------------------------------------------------------------------ */

#define T_ALLOC "✓ [PID «pid»] Allocated «size» bytes of «TYPE» on device «dev» (buffer_id=«ID»)"
#define T_FREE                                                                              \
    "✗ [PID «pid»] Freed buffer «ID» on device «dev» («size» bytes, FINAL) or («size» bytes, " \
    "ref_count=«n» remaining)"
#define T_UNKNOWN_FREE                                                                      \
    "⚠ [PID «pid»] Deallocation for unknown buffer «ID» on device «dev» (allocated before " \
    "tracking started)"
#define T_INVALID_TYPE_PID "⚠ [PID «pid»] Invalid buffer_type «t» for buffer «dec-id» on device «dev»"
#define T_INVALID_TYPE "⚠️  Invalid buffer_type «t» for buffer «dec-id» on device «dev»"
#define T_INVALID_DEVICE "⚠️  Invalid device_id «dev» - ignoring message"
#define T_INVALID_SIZE "⚠️  Invalid size «size» - ignoring message"
#define T_UNKNOWN_TYPE "Unknown message type: «n»"
#define T_DEVICE "Device «dev»:"
#define T_TRACKED "Total tracked allocations: «N»"
#define T_TOTAL "Total remaining buffers: «N»"
#define T_GROUP "  «TYPE»: «n» buffers, «MB» MB total"
#define T_BUFFER "    - Buffer 0x«hex»: «KB» KB (PID «pid», ref_count=«n»)"
#define T_DEAD_PID "   PID «pid» is dead, removing its buffers..."
#define T_REMOVED "   ✓ Removed «n» buffers («MB» MB) from PID «pid»"
#define T_CB "✓ [CB_ALLOC] Device «dev»: +«MB» MB (Total: «MB» MB)"
#define T_CB_FREE "✗ [CB_FREE] Device «dev»: -«MB» MB (Total: «MB» MB)"
#define T_KLOAD "✓ [KERNEL_LOAD] «KTYPE» kernel on Device «dev»: +«MB» MB (Total: «MB» MB)"
#define T_KUNLOAD "✗ [KERNEL_UNLOAD] «KTYPE» kernel on Device «dev»: -«MB» MB (Total: «MB» MB)"
#define T_KDUMP_DEVICE "📊 Device «dev» - Total: «MB» MB («n» kernels)"
#define T_KDUMP_TOTAL "Total kernel allocations: «N»"
#define T_STATS_DEVICE "  Device «i»:"
#define T_STATS_LINE "    Buffers: «n» / DRAM: «b» bytes («KB» KB) / L1: ... / Total: «b» bytes"
#define T_KDUMP_LINE "  │ Kernel ID: 0x«hex» / Size: «KB» KB / Owner PID: «pid» / Age: «s» seconds"
#define T_DETECT_DEVICE "   Device «i»: «Arch» («GB»GB DRAM, «MB»MB L1)"
#define T_DETECT_TOTAL "   Total: «n» device(s) detected"

#define SP11 "           "
#define SP23 "                       "
#define DUMP_TITLE "║" SP11 "REMAINING ALLOCATED BUFFERS" SP23 "║"
#define KDUMP_TITLE "║" SP11 "DETAILED KERNEL ALLOCATIONS" SP23 "║"

/* The line started like `kind` but does not fit its template `expected`. */
static void malformed_as(srvline *o, srvline_kind kind, const char *expected) {
    memset(o, 0, sizeof *o);
    o->kind = SRVLINE_MALFORMED;
    o->expected_kind = kind;
    o->buffer_type = -1;
    o->revs = SRVLINE_REVS_ALL;
    o->expected = expected;
}

static void set(srvline *o, srvline_kind kind, unsigned revs) {
    o->kind = kind;
    o->revs = revs;
}

/* "✓ [PID p] Allocated ..." */
static void match_alloc(cursor *c, srvline *o) {
    if (lit(c, "] Allocated ") && dec_u64(c, &o->size) && lit(c, " bytes of ") &&
        buffer_type_word(c, &o->buffer_type) && lit(c, " on device ") &&
        dec_i32(c, &o->device_id) && lit(c, " (buffer_id=") &&
        buffer_id(c, &o->buffer_id, &o->id_hex)) {
        unsigned revs = o->id_hex ? SRVLINE_REVS_HEX : SRVLINE_REVS_DEC;
        if (lit(c, ")") && at_end(c)) {
            set(o, SRVLINE_ALLOC, revs);
            return;
        }
        if (lit(c, ", ref_count=") && dec_i32(c, &o->ref_count) && lit(c, ")") && at_end(c)) {
            set(o, SRVLINE_ALLOC_REF, revs);
            return;
        }
    }
    malformed_as(o, SRVLINE_ALLOC, T_ALLOC);
}

/* "✗ [PID p] Freed buffer ..." */
static void match_free(cursor *c, srvline *o) {
    if (lit(c, "] Freed buffer ") && buffer_id(c, &o->buffer_id, &o->id_hex) &&
        lit(c, " on device ") && dec_i32(c, &o->device_id) && lit(c, " (") &&
        dec_u64(c, &o->size) && lit(c, " bytes")) {
        unsigned revs = o->id_hex ? SRVLINE_REVS_HEX : SRVLINE_REVS_DEC;
        if (lit(c, ", FINAL)") && at_end(c)) {
            set(o, SRVLINE_FREE_FINAL, revs);
            return;
        }
        if (lit(c, ", ref_count=") && dec_i32(c, &o->ref_count) && lit(c, " remaining)") &&
            at_end(c)) {
            set(o, SRVLINE_FREE_REF, revs);
            return;
        }
        if (!o->id_hex && lit(c, ")") && at_end(c)) {
            set(o, SRVLINE_FREE_PRE_V72, 0);
            return;
        }
    }
    malformed_as(o, SRVLINE_FREE_FINAL, T_FREE);
}

/* "⚠ [PID p] ..." : unknown free or the pre-v144 invalid buffer_type line. */
static void match_warn_pid(cursor *c, srvline *o) {
    cursor save = *c;
    if (lit(c, "] Deallocation for unknown buffer ")) {
        if (buffer_id(c, &o->buffer_id, &o->id_hex) && lit(c, " on device ") &&
            dec_i32(c, &o->device_id) && lit(c, " (allocated before tracking started)") &&
            at_end(c)) {
            set(o, SRVLINE_FREE_UNKNOWN, o->id_hex ? SRVLINE_REVS_HEX : SRVLINE_REVS_DEC);
            return;
        }
        malformed_as(o, SRVLINE_FREE_UNKNOWN, T_UNKNOWN_FREE);
        return;
    }
    *c = save;
    if (lit(c, "] Invalid buffer_type ")) {
        if (dec_u64(c, &o->count) && o->count <= 255 && lit(c, " for buffer ") &&
            dec_u64(c, &o->buffer_id) && lit(c, " on device ") && dec_i32(c, &o->device_id) &&
            at_end(c)) {
            o->buffer_type = (int)o->count;
            set(o, SRVLINE_INVALID_TYPE_PID, SRVLINE_REV(PROTO_V72) | SRVLINE_REVS_V112);
            return;
        }
        malformed_as(o, SRVLINE_INVALID_TYPE_PID, T_INVALID_TYPE_PID);
        return;
    }
    malformed_as(o, SRVLINE_FREE_UNKNOWN, T_UNKNOWN_FREE);
}

/* "⚠️  ..." lines. */
static void match_warn2(cursor *c, srvline *o) {
    if (lit(c, "Detected dead processes, cleaning up orphaned buffers...")) {
        if (at_end(c))
            set(o, SRVLINE_DEAD_HEADER, SRVLINE_REVS_ALL);
        else
            malformed_as(o, SRVLINE_DEAD_HEADER, "⚠️  Detected dead processes, cleaning up orphaned buffers...");
        return;
    }
    if (lit(c, "Too many consecutive errors (10) - closing connection (likely protocol mismatch)")) {
        if (at_end(c))
            set(o, SRVLINE_TOO_MANY_ERRORS, SRVLINE_REVS_V144);
        else
            malformed_as(o, SRVLINE_TOO_MANY_ERRORS, "⚠️  Too many consecutive errors (10) - closing connection (likely protocol mismatch)");
        return;
    }
    if (lit(c, "Invalid message type - skipping")) {
        if (at_end(c))
            set(o, SRVLINE_INVALID_TYPE_V128, 0);
        else
            malformed_as(o, SRVLINE_INVALID_TYPE_V128, "⚠️  Invalid message type - skipping");
        return;
    }
    if (lit(c, "Invalid buffer_type ")) {
        if (dec_u64(c, &o->count) && o->count <= 255 && lit(c, " for buffer ") &&
            dec_u64(c, &o->buffer_id) && lit(c, " on device ") && dec_i32(c, &o->device_id) &&
            at_end(c)) {
            o->buffer_type = (int)o->count;
            set(o, SRVLINE_INVALID_TYPE, SRVLINE_REVS_V144);
        } else {
            malformed_as(o, SRVLINE_INVALID_TYPE, T_INVALID_TYPE);
        }
        return;
    }
    if (lit(c, "Invalid device_id ")) {
        if (dec_i32(c, &o->device_id) && lit(c, " - ignoring message") && at_end(c))
            set(o, SRVLINE_INVALID_DEVICE, SRVLINE_REVS_V144);
        else
            malformed_as(o, SRVLINE_INVALID_DEVICE, T_INVALID_DEVICE);
        return;
    }
    if (lit(c, "Invalid size ")) {
        if (dec_u64(c, &o->size) && lit(c, " - ignoring message") && at_end(c))
            set(o, SRVLINE_INVALID_SIZE, SRVLINE_REVS_V144);
        else
            malformed_as(o, SRVLINE_INVALID_SIZE, T_INVALID_SIZE);
        return;
    }
    /* Other "⚠️  " text is not the server's (the TT-Metal client prints such lines too). */
}

/* "... Device d: ±MB MB (Total: MB MB)" tail shared by the CB and kernel lines. */
static int cb_tail(cursor *c, srvline *o, const char *sign) {
    return dec_i32(c, &o->device_id) && lit(c, ": ") && lit(c, sign) && gnum(c, &o->num) &&
           lit(c, " MB (Total: ") && gnum(c, &o->num2) && lit(c, " MB)") && at_end(c);
}

static int match_kernel(cursor *c, srvline *o, srvline_kind kind, const char *sign) {
    if (kernel_type_word(c, &o->buffer_type)) {
        if (lit(c, " kernel on Device ") && cb_tail(c, o, sign)) {
            set(o, kind, SRVLINE_REVS_V144);
            return 1;
        }
        return 0;
    }
    o->buffer_type = -1; /* "v128": no kernel-type word */
    if (lit(c, "Device ") && cb_tail(c, o, sign)) {
        set(o, kind, 0);
        return 1;
    }
    return 0;
}

static void match_stats4(cursor *c, srvline *o) {
    if (lit(c, "Buffers: ")) {
        if (dec_u64(c, &o->count) && at_end(c))
            set(o, SRVLINE_STATS_BUFFERS, SRVLINE_REVS_ALL);
        else
            malformed_as(o, SRVLINE_STATS_BUFFERS, T_STATS_LINE);
        return;
    }
    int dram = lit(c, "DRAM: ");
    if (dram || lit(c, "L1: ")) {
        if (dec_u64(c, &o->size) && lit(c, " bytes (") && gnum(c, &o->num) && lit(c, " KB)") &&
            at_end(c))
            set(o, dram ? SRVLINE_STATS_DRAM : SRVLINE_STATS_L1, SRVLINE_REVS_ALL);
        else
            malformed_as(o, SRVLINE_STATS_BUFFERS, T_STATS_LINE);
        return;
    }
    if (lit(c, "Total: ")) {
        if (dec_u64(c, &o->size) && lit(c, " bytes") && at_end(c))
            set(o, SRVLINE_STATS_TOTAL, SRVLINE_REVS_ALL);
        else
            malformed_as(o, SRVLINE_STATS_BUFFERS, T_STATS_LINE);
    }
}

static void match_indent3(cursor *c, srvline *o) {
    const unsigned detect = SRVLINE_REVS_V112 | SRVLINE_REVS_V144;
    cursor save;
    if (lit(c, "PID ")) {
        if (dec_i32(c, &o->pid) && lit(c, " is dead, removing its buffers...") && at_end(c))
            set(o, SRVLINE_DEAD_PID, SRVLINE_REVS_ALL);
        else
            malformed_as(o, SRVLINE_DEAD_PID, T_DEAD_PID);
        return;
    }
    if (lit(c, "✓ Removed ")) {
        srvline_kind kind = SRVLINE_OTHER;
        unsigned revs = SRVLINE_REVS_V144;
        if (dec_u64(c, &o->count)) {
            if (lit(c, " buffers (")) {
                kind = SRVLINE_DEAD_REMOVED_BUFFERS;
                revs = SRVLINE_REVS_ALL;
            } else if (lit(c, " CBs (")) {
                kind = SRVLINE_DEAD_REMOVED_CBS;
            } else if (lit(c, " kernels (")) {
                kind = SRVLINE_DEAD_REMOVED_KERNELS;
            }
        }
        if (kind != SRVLINE_OTHER && gnum(c, &o->num) && lit(c, " MB) from PID ") &&
            dec_i32(c, &o->pid) && at_end(c))
            set(o, kind, revs);
        else
            malformed_as(o, SRVLINE_DEAD_REMOVED_BUFFERS, T_REMOVED);
        return;
    }
    if (lit(c, "Device ")) {
        if (dec_i32(c, &o->device_id) && lit(c, ": ") && until(c, " (", &o->text) &&
            lit(c, " (") && dec_u64(c, &o->size) && lit(c, "GB DRAM, ") &&
            dec_u64(c, &o->count) && lit(c, "MB L1)")) {
            if (at_end(c)) {
                set(o, SRVLINE_DETECT_DEVICE, SRVLINE_REVS_V112);
                return;
            }
            save = *c;
            if ((lit(c, " [Local]") || (*c = save, lit(c, " [Remote]"))) && at_end(c)) {
                set(o, SRVLINE_DETECT_DEVICE, SRVLINE_REV(PROTO_V144));
                return;
            }
            *c = save;
            if ((lit(c, " [Local PCIe]") || (*c = save, lit(c, " [Remote Ethernet]"))) &&
                at_end(c)) {
                set(o, SRVLINE_DETECT_DEVICE, SRVLINE_REV(PROTO_V144_256));
                return;
            }
        }
        malformed_as(o, SRVLINE_DETECT_DEVICE, T_DETECT_DEVICE);
        return;
    }
    if (lit(c, "Total: ")) {
        if (dec_u64(c, &o->count)) {
            save = *c;
            if (lit(c, " PCIe device(s) detected") && at_end(c)) {
                set(o, SRVLINE_DETECT_TOTAL, SRVLINE_REV(PROTO_V112));
                return;
            }
            *c = save;
            if (lit(c, " device(s) detected")) {
                uint64_t local, remote;
                if (at_end(c)) {
                    set(o, SRVLINE_DETECT_TOTAL, SRVLINE_REVS_V112 | SRVLINE_REV(PROTO_V144));
                    return;
                }
                if (lit(c, " (") && dec_u64(c, &local) && lit(c, " local, ") &&
                    dec_u64(c, &remote) && lit(c, " remote)") && at_end(c)) {
                    set(o, SRVLINE_DETECT_TOTAL, SRVLINE_REV(PROTO_V144_256));
                    return;
                }
            }
        }
        malformed_as(o, SRVLINE_DETECT_TOTAL, T_DETECT_TOTAL);
        return;
    }
    if (lit(c, "No PCIe devices detected")) {
        if (at_end(c))
            set(o, SRVLINE_DETECT_NONE, SRVLINE_REV(PROTO_V112));
        return;
    }
    if (lit(c, "No devices detected")) {
        if (at_end(c))
            set(o, SRVLINE_DETECT_NONE, SRVLINE_REVS_V112);
        return;
    }
    if (lit(c, "Server will track allocations ")) {
        if (lit(c, "anyway") && at_end(c))
            set(o, SRVLINE_DETECT_NOTICE, SRVLINE_REVS_V112);
        else if (lit(c, "without device info") && at_end(c))
            set(o, SRVLINE_DETECT_NOTICE, detect);
        return;
    }
    if (lit(c, "Warning: Found ")) {
        if (dec_u64(c, &o->count) && lit(c, " devices, limiting to 8") && at_end(c))
            set(o, SRVLINE_DETECT_LIMIT, SRVLINE_REVS_V112);
        return;
    }
    if (lit(c, "Warning: Could not query device ")) {
        if (dec_i32(c, &o->device_id) && lit(c, ": ")) {
            rest(c, &o->text);
            set(o, SRVLINE_DETECT_FAILED, detect);
        }
        return;
    }
    if (lit(c, "Error during device detection: ")) {
        rest(c, &o->text);
        set(o, SRVLINE_DETECT_FAILED, detect);
        return;
    }
    if (lit(c, "Failed to initialize cluster")) {
        if (at_end(c))
            set(o, SRVLINE_DETECT_FAILED, SRVLINE_REV(PROTO_V144_256));
        return;
    }
    if (lit(c, "Topology: ")) {
        uint64_t remote;
        if (dec_u64(c, &o->count) && lit(c, " local chip(s), ") && dec_u64(c, &remote) &&
            lit(c, " remote chip(s)") && at_end(c))
            set(o, SRVLINE_DETECT_TOPOLOGY, SRVLINE_REV(PROTO_V144_256));
        return;
    }
    if (lit(c, "Note: Remote chip specs from topology (hugepages needed for telemetry)")) {
        if (at_end(c))
            set(o, SRVLINE_DETECT_NOTE, SRVLINE_REV(PROTO_V144_256));
        return;
    }
    if (lit(c, "Listening on: ")) {
        rest(c, &o->text);
        set(o, SRVLINE_BANNER_LISTENING, SRVLINE_REVS_ALL);
        return;
    }
    if (lit(c, "Press Ctrl+C to stop") && at_end(c))
        set(o, SRVLINE_BANNER_HINT, SRVLINE_REVS_ALL);
}

static void match_indent2(cursor *c, srvline *o) {
    cursor save = *c;
    if (lit(c, "│")) {
        if (at_end(c)) {
            set(o, SRVLINE_KDUMP_SEPARATOR, SRVLINE_REVS_V144);
            return;
        }
        if (lit(c, " Kernel ID: 0x")) {
            if (hex_u64(c, &o->buffer_id) && at_end(c)) {
                o->id_hex = 1;
                set(o, SRVLINE_KDUMP_KERNEL_ID, SRVLINE_REVS_V144);
            } else {
                malformed_as(o, SRVLINE_KDUMP_KERNEL_ID, T_KDUMP_LINE);
            }
            return;
        }
        if (lit(c, "   Size:      ")) {
            if (gnum(c, &o->num) && lit(c, " KB") && at_end(c))
                set(o, SRVLINE_KDUMP_SIZE, SRVLINE_REVS_V144);
            else
                malformed_as(o, SRVLINE_KDUMP_KERNEL_ID, T_KDUMP_LINE);
            return;
        }
        if (lit(c, "   Owner PID: ")) {
            if (dec_i32(c, &o->pid) && at_end(c))
                set(o, SRVLINE_KDUMP_OWNER, SRVLINE_REVS_V144);
            else
                malformed_as(o, SRVLINE_KDUMP_KERNEL_ID, T_KDUMP_LINE);
            return;
        }
        if (lit(c, "   Age:       ")) {
            if (dec_u64(c, &o->count) && lit(c, " seconds") && at_end(c))
                set(o, SRVLINE_KDUMP_AGE, SRVLINE_REVS_V144);
            else
                malformed_as(o, SRVLINE_KDUMP_KERNEL_ID, T_KDUMP_LINE);
            return;
        }
        malformed_as(o, SRVLINE_KDUMP_KERNEL_ID, T_KDUMP_LINE);
        return;
    }
    if (box(c, "┌", "─", 57, "┐")) {
        set(o, SRVLINE_KDUMP_BOX_TOP, SRVLINE_REVS_V144);
        return;
    }
    *c = save;
    if (box(c, "└", "─", 57, "┘")) {
        set(o, SRVLINE_KDUMP_BOX_BOTTOM, SRVLINE_REVS_V144);
        return;
    }
    *c = save;
    if (lit(c, "Device ")) {
        if (dec_i32(c, &o->device_id) && lit(c, ":") && at_end(c))
            set(o, SRVLINE_STATS_DEVICE, SRVLINE_REVS_ALL);
        else
            malformed_as(o, SRVLINE_STATS_DEVICE, T_STATS_DEVICE);
        return;
    }
    if (lit(c, "Active allocations: ")) {
        if (dec_u64(c, &o->count) && at_end(c))
            set(o, SRVLINE_STATS_ACTIVE, SRVLINE_REVS_ALL);
        else
            malformed_as(o, SRVLINE_STATS_ACTIVE, "  Active allocations: «n»");
        return;
    }
    if (buffer_type_word(c, &o->buffer_type) && o->buffer_type != 255 && lit(c, ":")) {
        if (lit(c, " ") && dec_u64(c, &o->count) && lit(c, " buffers, ") && gnum(c, &o->num) &&
            lit(c, " MB total") && at_end(c))
            set(o, SRVLINE_DUMP_GROUP, SRVLINE_REVS_ALL);
        else
            malformed_as(o, SRVLINE_DUMP_GROUP, T_GROUP);
        return;
    }
    o->buffer_type = -1;
}

static void match_unindented(cursor *c, srvline *o) {
    cursor save = *c;
    if (lit(c, "Device ")) {
        if (dec_i32(c, &o->device_id) && lit(c, ":") && at_end(c))
            set(o, SRVLINE_DUMP_DEVICE, SRVLINE_REVS_ALL);
        else
            malformed_as(o, SRVLINE_DUMP_DEVICE, T_DEVICE);
        return;
    }
    if (lit(c, "Total tracked allocations: ")) {
        if (dec_u64(c, &o->count) && at_end(c))
            set(o, SRVLINE_DUMP_TRACKED, SRVLINE_REVS_ALL);
        else
            malformed_as(o, SRVLINE_DUMP_TRACKED, T_TRACKED);
        return;
    }
    if (lit(c, "Total remaining buffers: ")) {
        if (dec_u64(c, &o->count) && at_end(c))
            set(o, SRVLINE_DUMP_TOTAL, SRVLINE_REVS_ALL);
        else
            malformed_as(o, SRVLINE_DUMP_TOTAL, T_TOTAL);
        return;
    }
    if (lit(c, "Total kernel allocations: ")) {
        if (dec_u64(c, &o->count) && at_end(c))
            set(o, SRVLINE_KDUMP_TOTAL, SRVLINE_REVS_V144);
        else
            malformed_as(o, SRVLINE_KDUMP_TOTAL, T_KDUMP_TOTAL);
        return;
    }
    if (lit(c, "Unknown message type: ")) {
        if (dec_u64(c, &o->count) && o->count <= 255 && at_end(c)) {
            unsigned revs = SRVLINE_REV(PROTO_V72) | SRVLINE_REVS_V112;
            if (o->count == PROTO_DEVICE_INFO_QUERY)
                revs = SRVLINE_REV(PROTO_V72);
            else if (o->count == PROTO_RESPONSE || o->count == PROTO_DEVICE_INFO_RESPONSE)
                revs = SRVLINE_REVS_ALL;
            set(o, SRVLINE_UNKNOWN_TYPE, revs);
        } else {
            malformed_as(o, SRVLINE_UNKNOWN_TYPE, T_UNKNOWN_TYPE);
        }
        return;
    }
    if (lit(c, "Accept failed")) {
        if (at_end(c))
            set(o, SRVLINE_ACCEPT_FAILED, SRVLINE_REVS_ALL);
        return;
    }
    if (lit(c, "Error: Failed to ")) {
        if ((lit(c, "create socket") || lit(c, "bind socket") || lit(c, "listen on socket")) &&
            at_end(c))
            set(o, SRVLINE_SOCKET_ERROR, SRVLINE_REVS_ALL);
        return;
    }
    if (lit(c, "Usage: ")) {
        if (until(c, " [--quiet|-q]", &o->text) && lit(c, " [--quiet|-q]") && at_end(c))
            set(o, SRVLINE_USAGE, SRVLINE_REVS_V144);
        return;
    }
    /* v144's unindented per-chip debug lines */
    uint64_t a, b;
    if ((lit(c, "DRAM size per channel: ") || (*c = save, lit(c, "Number of DRAM channels: ")) ||
         (*c = save, lit(c, "L1 size per core: "))) &&
        dec_u64(c, &a) && at_end(c)) {
        set(o, SRVLINE_DETECT_DEBUG, SRVLINE_REV(PROTO_V144));
        return;
    }
    *c = save;
    if (lit(c, "Grid size: ") && dec_u64(c, &a) && lit(c, "x") && dec_u64(c, &b) && at_end(c)) {
        set(o, SRVLINE_DETECT_DEBUG, SRVLINE_REV(PROTO_V144));
        return;
    }
    *c = save;
    if (lit(c, "Is remote: ") && (lit(c, "0") || lit(c, "1")) && at_end(c)) {
        set(o, SRVLINE_DETECT_DEBUG, SRVLINE_REV(PROTO_V144));
        return;
    }
    *c = save;
    if (lit(c, "Arch: ") && c->p < c->end) {
        rest(c, &o->text);
        set(o, SRVLINE_DETECT_DEBUG, SRVLINE_REV(PROTO_V144));
    }
}

static int exact(cursor *c, const char *s) { return lit(c, s) && at_end(c); }

void srvline_classify(const char *line, size_t len, srvline *o) {
    cursor c;
    memset(o, 0, sizeof *o);
    o->kind = SRVLINE_OTHER;
    o->buffer_type = -1;
    o->revs = SRVLINE_REVS_ALL;
    if (len > 0 && line[len - 1] == '\n')
        len--;
    if (len > 0 && line[len - 1] == '\r')
        len--;
    c.p = line;
    c.end = line + len;
    if (len == 0) {
        o->kind = SRVLINE_EMPTY;
        return;
    }
    if (srvline_classify_enhanced(line, len, o))
        return;
    cursor save = c;
    switch ((unsigned char)line[0]) {
    case ' ':
        if (lit(&c, "    - Buffer ")) {
            if (lit(&c, "0x") && hex_u64(&c, &o->buffer_id) && lit(&c, ": ") &&
                gnum(&c, &o->num) && lit(&c, " KB (PID ") && dec_i32(&c, &o->pid) &&
                lit(&c, ", ref_count=") && dec_i32(&c, &o->ref_count) && lit(&c, ")") &&
                at_end(&c)) {
                o->id_hex = 1;
                set(o, SRVLINE_DUMP_BUFFER, SRVLINE_REVS_ALL);
            } else {
                malformed_as(o, SRVLINE_DUMP_BUFFER, T_BUFFER);
            }
            return;
        }
        if (lit(&c, "    ")) {
            match_stats4(&c, o);
            return;
        }
        c = save;
        if (lit(&c, "   ")) {
            match_indent3(&c, o);
            return;
        }
        c = save;
        if (lit(&c, "  "))
            match_indent2(&c, o);
        return;
    case 0xE2: /* ✓ ✗ ⚠ ╔ ║ ╚ */
        if (lit(&c, "✓ [PID ")) {
            if (dec_i32(&c, &o->pid))
                match_alloc(&c, o);
            else
                malformed_as(o, SRVLINE_ALLOC, T_ALLOC);
            return;
        }
        if (lit(&c, "✗ [PID ")) {
            if (dec_i32(&c, &o->pid))
                match_free(&c, o);
            else
                malformed_as(o, SRVLINE_FREE_FINAL, T_FREE);
            return;
        }
        if (lit(&c, "⚠ [PID ")) {
            if (dec_i32(&c, &o->pid))
                match_warn_pid(&c, o);
            else
                malformed_as(o, SRVLINE_FREE_UNKNOWN, T_UNKNOWN_FREE);
            return;
        }
        if (lit(&c, "⚠️  ")) {
            match_warn2(&c, o);
            return;
        }
        if (lit(&c, "✓ [CB_ALLOC] Device ")) {
            if (cb_tail(&c, o, "+"))
                set(o, SRVLINE_CB_ALLOC, SRVLINE_REVS_V144);
            else
                malformed_as(o, SRVLINE_CB_ALLOC, T_CB);
            return;
        }
        if (lit(&c, "✗ [CB_FREE] Device ")) {
            if (cb_tail(&c, o, "-"))
                set(o, SRVLINE_CB_FREE, SRVLINE_REVS_V144);
            else
                malformed_as(o, SRVLINE_CB_FREE, T_CB_FREE);
            return;
        }
        if (lit(&c, "✓ [KERNEL_LOAD] ")) {
            if (!match_kernel(&c, o, SRVLINE_KERNEL_LOAD, "+"))
                malformed_as(o, SRVLINE_KERNEL_LOAD, T_KLOAD);
            return;
        }
        if (lit(&c, "✗ [KERNEL_UNLOAD] ")) {
            if (!match_kernel(&c, o, SRVLINE_KERNEL_UNLOAD, "-"))
                malformed_as(o, SRVLINE_KERNEL_UNLOAD, T_KUNLOAD);
            return;
        }
        if (exact(&c, "✓ No buffers remaining - perfect cleanup!")) {
            set(o, SRVLINE_DUMP_PERFECT, SRVLINE_REVS_ALL);
            return;
        }
        c = save;
        if (box(&c, "╔", "═", 62, "╗")) {
            set(o, SRVLINE_FRAME_TOP, SRVLINE_REVS_ALL);
            return;
        }
        c = save;
        if (box(&c, "╚", "═", 62, "╝")) {
            set(o, SRVLINE_FRAME_BOTTOM, SRVLINE_REVS_ALL);
            return;
        }
        c = save;
        if (exact(&c, DUMP_TITLE)) {
            set(o, SRVLINE_DUMP_TITLE, SRVLINE_REVS_ALL);
            return;
        }
        c = save;
        if (exact(&c, KDUMP_TITLE))
            set(o, SRVLINE_KDUMP_TITLE, SRVLINE_REVS_V144);
        return;
    case 0xF0: /* emoji */
        if (exact(&c, "📋 Received DUMP_REMAINING request...")) {
            set(o, SRVLINE_DUMP_REQUEST, SRVLINE_REVS_ALL);
            return;
        }
        c = save;
        if (exact(&c, "📋 DUMP_REMAINING complete.")) {
            set(o, SRVLINE_DUMP_COMPLETE, SRVLINE_REVS_ALL);
            return;
        }
        c = save;
        if (exact(&c, "📋 DUMP_KERNELS complete.")) {
            set(o, SRVLINE_KDUMP_COMPLETE, SRVLINE_REVS_V144);
            return;
        }
        c = save;
        if (exact(&c, "📊 Current Statistics:")) {
            set(o, SRVLINE_STATS_HEADER, SRVLINE_REVS_ALL);
            return;
        }
        c = save;
        if (lit(&c, "📊 Device ")) {
            if (dec_i32(&c, &o->device_id) && lit(&c, " - Total: ") && gnum(&c, &o->num) &&
                lit(&c, " MB (") && dec_u64(&c, &o->count) && lit(&c, " kernels)") && at_end(&c))
                set(o, SRVLINE_KDUMP_DEVICE, SRVLINE_REVS_V144);
            else
                malformed_as(o, SRVLINE_KDUMP_DEVICE, T_KDUMP_DEVICE);
            return;
        }
        if (lit(&c, "🔍 Device detection (")) {
            cursor s2 = c;
            if (exact(&c, "using TT-Metal APIs):"))
                set(o, SRVLINE_DETECT_HEADER, SRVLINE_REVS_V112);
            else if (c = s2, exact(&c, "using UMD Cluster for accurate specs):"))
                set(o, SRVLINE_DETECT_HEADER, SRVLINE_REV(PROTO_V144));
            else if (c = s2, exact(&c, "all chips via ClusterDescriptor, no hugepages):"))
                set(o, SRVLINE_DETECT_HEADER, SRVLINE_REV(PROTO_V144_256));
            else
                set(o, SRVLINE_DETECT_HEADER, 0); /* a build allocsim does not model */
            return;
        }
        if (exact(&c, "🚀 Allocation Server started")) {
            set(o, SRVLINE_BANNER_STARTED, SRVLINE_REVS_ALL);
            return;
        }
        c = save;
        if (exact(&c, "🔄 Background cleanup thread started (checking every 10s)")) {
            set(o, SRVLINE_CLEANUP_STARTED, SRVLINE_REVS_ALL);
            return;
        }
        c = save;
        if (exact(&c, "🔄 Background cleanup thread stopped")) {
            set(o, SRVLINE_CLEANUP_STOPPED, SRVLINE_REVS_ALL);
            return;
        }
        c = save;
        if (exact(&c, "🛑 Allocation Server stopped"))
            set(o, SRVLINE_SERVER_STOPPED, SRVLINE_REVS_ALL);
        return;
    default:
        match_unindented(&c, o);
        return;
    }
}

const char *srvline_kind_name(srvline_kind kind) {
    static const char *const names[SRVLINE_KIND_COUNT] = {
        [SRVLINE_OTHER] = "other",
        [SRVLINE_ENH_BANNER] = "enh-banner",
        [SRVLINE_ENH_REUSE_SIZE] = "enh-reuse-size",
        [SRVLINE_ENH_ALREADY_FREED] = "enh-already-freed",
        [SRVLINE_ENH_FREE_UNTRACKED] = "enh-free-untracked",
        [SRVLINE_ENH_LAST_EVENTS] = "enh-last-events",
        [SRVLINE_ENH_EVENT] = "enh-event",
        [SRVLINE_ENH_HISTORY] = "enh-history",
        [SRVLINE_ENH_DF_FOUND] = "enh-df-found",
        [SRVLINE_ENH_DF_TITLE] = "enh-df-title",
        [SRVLINE_ENH_DF_BUFFER] = "enh-df-buffer",
        [SRVLINE_ENH_DF_TOTALS] = "enh-df-totals",
        [SRVLINE_ENH_DF_HISTORY] = "enh-df-history",
        [SRVLINE_ENH_STATS_KB] = "enh-stats-kb",
        [SRVLINE_MALFORMED] = "malformed",
        [SRVLINE_EMPTY] = "empty",
        [SRVLINE_ALLOC] = "alloc",
        [SRVLINE_ALLOC_REF] = "alloc-ref",
        [SRVLINE_FREE_REF] = "free-ref",
        [SRVLINE_FREE_FINAL] = "free-final",
        [SRVLINE_FREE_PRE_V72] = "free-pre-v72",
        [SRVLINE_FREE_UNKNOWN] = "free-unknown",
        [SRVLINE_INVALID_TYPE_PID] = "invalid-type-pid",
        [SRVLINE_INVALID_TYPE] = "invalid-type",
        [SRVLINE_INVALID_DEVICE] = "invalid-device",
        [SRVLINE_INVALID_SIZE] = "invalid-size",
        [SRVLINE_UNKNOWN_TYPE] = "unknown-type",
        [SRVLINE_INVALID_TYPE_V128] = "invalid-type-v128",
        [SRVLINE_TOO_MANY_ERRORS] = "too-many-errors",
        [SRVLINE_ACCEPT_FAILED] = "accept-failed",
        [SRVLINE_SOCKET_ERROR] = "socket-error",
        [SRVLINE_DUMP_REQUEST] = "dump-request",
        [SRVLINE_FRAME_TOP] = "frame-top",
        [SRVLINE_DUMP_TITLE] = "dump-title",
        [SRVLINE_FRAME_BOTTOM] = "frame-bottom",
        [SRVLINE_DUMP_TRACKED] = "dump-tracked",
        [SRVLINE_DUMP_PERFECT] = "dump-perfect",
        [SRVLINE_DUMP_DEVICE] = "dump-device",
        [SRVLINE_DUMP_GROUP] = "dump-group",
        [SRVLINE_DUMP_BUFFER] = "dump-buffer",
        [SRVLINE_DUMP_TOTAL] = "dump-total",
        [SRVLINE_DUMP_COMPLETE] = "dump-complete",
        [SRVLINE_DEAD_HEADER] = "dead-header",
        [SRVLINE_DEAD_PID] = "dead-pid",
        [SRVLINE_DEAD_REMOVED_BUFFERS] = "dead-removed-buffers",
        [SRVLINE_DEAD_REMOVED_CBS] = "dead-removed-cbs",
        [SRVLINE_DEAD_REMOVED_KERNELS] = "dead-removed-kernels",
        [SRVLINE_CB_ALLOC] = "cb-alloc",
        [SRVLINE_CB_FREE] = "cb-free",
        [SRVLINE_KERNEL_LOAD] = "kernel-load",
        [SRVLINE_KERNEL_UNLOAD] = "kernel-unload",
        [SRVLINE_KDUMP_TITLE] = "kdump-title",
        [SRVLINE_KDUMP_TOTAL] = "kdump-total",
        [SRVLINE_KDUMP_DEVICE] = "kdump-device",
        [SRVLINE_KDUMP_BOX_TOP] = "kdump-box-top",
        [SRVLINE_KDUMP_KERNEL_ID] = "kdump-kernel-id",
        [SRVLINE_KDUMP_SIZE] = "kdump-size",
        [SRVLINE_KDUMP_OWNER] = "kdump-owner",
        [SRVLINE_KDUMP_AGE] = "kdump-age",
        [SRVLINE_KDUMP_SEPARATOR] = "kdump-separator",
        [SRVLINE_KDUMP_BOX_BOTTOM] = "kdump-box-bottom",
        [SRVLINE_KDUMP_COMPLETE] = "kdump-complete",
        [SRVLINE_STATS_HEADER] = "stats-header",
        [SRVLINE_STATS_DEVICE] = "stats-device",
        [SRVLINE_STATS_BUFFERS] = "stats-buffers",
        [SRVLINE_STATS_DRAM] = "stats-dram",
        [SRVLINE_STATS_L1] = "stats-l1",
        [SRVLINE_STATS_TOTAL] = "stats-total",
        [SRVLINE_STATS_ACTIVE] = "stats-active",
        [SRVLINE_CLEANUP_STOPPED] = "cleanup-stopped",
        [SRVLINE_SERVER_STOPPED] = "server-stopped",
        [SRVLINE_DETECT_HEADER] = "detect-header",
        [SRVLINE_DETECT_NONE] = "detect-none",
        [SRVLINE_DETECT_NOTICE] = "detect-notice",
        [SRVLINE_DETECT_LIMIT] = "detect-limit",
        [SRVLINE_DETECT_DEVICE] = "detect-device",
        [SRVLINE_DETECT_TOTAL] = "detect-total",
        [SRVLINE_DETECT_TOPOLOGY] = "detect-topology",
        [SRVLINE_DETECT_NOTE] = "detect-note",
        [SRVLINE_DETECT_FAILED] = "detect-failed",
        [SRVLINE_DETECT_DEBUG] = "detect-debug",
        [SRVLINE_BANNER_STARTED] = "banner-started",
        [SRVLINE_BANNER_LISTENING] = "banner-listening",
        [SRVLINE_BANNER_HINT] = "banner-hint",
        [SRVLINE_CLEANUP_STARTED] = "cleanup-started",
        [SRVLINE_USAGE] = "usage",
    };
    return (unsigned)kind < SRVLINE_KIND_COUNT && names[kind] ? names[kind] : "other";
}

size_t srvline_utf8_len(const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    size_t need;
    uint32_t cp;
    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xE0) == 0xC0) {
        need = 2;
        cp = s[0] & 0x1Fu;
    } else if ((s[0] & 0xF0) == 0xE0) {
        need = 3;
        cp = s[0] & 0x0Fu;
    } else if ((s[0] & 0xF8) == 0xF0) {
        need = 4;
        cp = s[0] & 0x07u;
    } else {
        return 0;
    }
    if (n < need)
        return 0;
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3Fu);
    }
    if ((need == 2 && cp < 0x80) || (need == 3 && cp < 0x800) || (need == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return need;
}

char *srvline_quote(const char *line, size_t len, char *buf, size_t n) {
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)line;
    size_t o = 0, i = 0;
    if (n == 0)
        return buf;
    if (len > 0 && s[len - 1] == '\n')
        len--;
    if (len > 0 && s[len - 1] == '\r')
        len--;
    while (i < len) {
        size_t u = srvline_utf8_len(line + i, len - i);
        int printable = u > 1 || (u == 1 && s[i] >= 0x20 && s[i] < 0x7F && s[i] != '\\');
        size_t need = printable ? u : 4;
        if (o + need + 4 > n) { /* room for "..." and the NUL */
            if (o + 4 <= n) {
                memcpy(buf + o, "...", 3);
                o += 3;
            }
            break;
        }
        if (printable) {
            memcpy(buf + o, s + i, u);
            o += u;
            i += u;
        } else {
            buf[o++] = '\\';
            buf[o++] = 'x';
            buf[o++] = hex[s[i] >> 4];
            buf[o++] = hex[s[i] & 15];
            i++;
        }
    }
    buf[o < n ? o : n - 1] = '\0';
    return buf;
}
