/* import: reads a real allocation server's stdout log and rebuilds what happened.
 *
 * A log captured on hardware (any protocol revision, with noise, interleaved threads, CRLF
 * line ends and invalid UTF-8) is read line by line with the server-line classifier
 * (srvline). The revision is detected from the log itself (id format, detection banner,
 * v144-only lines). Every ALLOC and FREE line is turned back into the message that caused it
 * and fed to a ledger (the server's own semantics); the ledger is kept in step with the log
 * where the log says otherwise (a log that starts after the server did), and each such
 * correction is a finding. From the same events the importer follows each buffer id through
 * its lifecycles (allocated on which devices, freed on which, cleaned up with a dead PID, or
 * still there), checks every DUMP_REMAINING report in the log against the state rebuilt from
 * the lines before it (dumpview), and can emit a memory timeline (TSV, time = line number)
 * and a replayable .allocstream with one process per PID.
 *
 * Linear in the log size; nothing here prints. Lines that look like server lines but do not
 * fit their template become warnings "LOG:LINE: expected ..., found ...".
 */
#ifndef ALLOCSIM_IMPORT_H
#define ALLOCSIM_IMPORT_H

#include <stddef.h>
#include <stdint.h>

#include "dumpview.h"
#include "proto.h"
#include "sbuf.h"
#include "stream.h"

typedef struct {
    const char *log_name;  /* used in messages ("LOG:LINE: ..."); default "log" */
    int force_rev;         /* 1: use rev instead of detecting it */
    proto_rev rev;
    int want_timeline;     /* collect timeline rows (import_write_timeline) */
    int want_stream;       /* build the replayable stream (import_result.stream) */
} import_opts;

typedef enum {
    IMPORT_FULLY_FREED = 0, /* every device it was on was freed */
    IMPORT_CLEANED_UP,      /* gone, at least one device by the server's dead-PID cleanup */
    IMPORT_REMAINING,       /* still there at the end, and listed by the last dump after it */
    IMPORT_LEAKED,          /* still there at the end, and no dump came after it */
    IMPORT_LOST             /* still there when the server started again (state dropped) */
} import_status;

/* A small sorted set of device ids; owner[i] is the PID owning device v[i]'s entry (kept for
 * the live set, meaningless in the others). */
typedef struct {
    int32_t *v;
    int32_t *owner;
    size_t n, cap;
} import_devset;

/* One lifecycle of a buffer id: from its first ALLOC until it is gone from every device. A
 * buffer id allocated again after that starts a new lifecycle. */
typedef struct {
    uint64_t buffer_id;
    uint64_t size;          /* bytes, from the first line that named it */
    int buffer_type;        /* 0..4, or -1 when only free lines were seen */
    int32_t pid;            /* owner (first ALLOC's pid, or the pid on the free line) */
    size_t first_line, last_line;
    import_devset allocated; /* devices with an ALLOC line */
    import_devset freed;     /* devices with a FINAL free line */
    import_devset cleaned;   /* devices emptied by dead-PID cleanup */
    import_devset live;      /* devices holding it at the end of the log */
    import_devset lost;      /* devices holding it when the server started again */
    size_t lost_line;        /* line of that start */
    int32_t cleaned_pid;     /* the dead PID, when cleaned is not empty */
    int before_log;          /* a device was freed or referenced without an ALLOC line */
    int32_t max_ref_count;   /* highest ref_count printed for it */
    size_t dumps_listed;     /* dumps that held it */
    size_t last_dump;        /* 1-based index of the last dump that held it, 0 none */
    import_status status;
} import_buffer;

typedef struct {
    size_t index;          /* 1-based */
    size_t request_line;   /* line of "📋 Received DUMP_REMAINING request..." (0 if absent) */
    size_t title_line;     /* line of the report title */
    size_t end_line;       /* last line of the report (completion line, or end of body) */
    int parsed;            /* view holds the report */
    dumpview view;         /* what the dump held */
    dumpview expected;     /* what the lines before it imply (the ledger's report) */
    int agrees;            /* 1 if view equals expected (dead-process blocks aside) */
    sbuf differences;      /* dumpview_compare's description when it does not agree */
} import_dump;

typedef struct {
    size_t line; /* 0: about the whole log */
    char *text;  /* owned: "LOG:LINE: ..." */
} import_note;

#define IMPORT_MAX_NOTES 1000 /* warnings and findings kept; the rest are only counted */

typedef struct {
    proto_rev rev;
    int rev_forced;
    unsigned rev_candidates;   /* SRVLINE_REV mask left by the log's evidence */
    int enhanced;              /* allocation_server_enhanced's log (its banner or its own lines:
                                  tracking-stories.md §3); rev is then v72, its frame size */
    size_t double_freed;       /* distinct (device, id) its DOUBLE-FREED reports listed */
    size_t lines;              /* lines read */
    size_t server_lines;       /* lines recognised as the server's */
    /* events */
    size_t allocs, alloc_refs, frees_ref, frees_final, frees_unknown, frees_pre_v72;
    size_t rejected;           /* invalid buffer_type / device_id / size lines */
    size_t unknown_types;      /* Unknown message type and v144 protocol errors */
    size_t cb_kernel_lines;
    size_t dead_pids;          /* PIDs cleaned up as dead */
    size_t stats_blocks;
    size_t server_starts;

    import_buffer *buffers;    /* in order of first line */
    size_t nbuffers;
    import_dump *dumps;
    size_t ndumps;
    int32_t *pids;             /* every PID named by an event line, in order of appearance */
    size_t npids;

    import_note *warnings;     /* malformed server lines (first IMPORT_MAX_NOTES) */
    size_t nwarnings;          /* total, including those not kept */
    import_note *findings;     /* dump disagreements and log/state inconsistencies */
    size_t nfindings;

    sbuf timeline_rows;        /* want_timeline: "line\tdev\tDRAM\tL1\tL1_SMALL\tTRACE\n" rows */
    sbuf timeline_head;        /* want_timeline: "#phase" and "#capacity" lines */
    int have_stream;
    stream stream;             /* want_stream: one process per PID, plus "dumper" */
} import_result;

/* Imports a log held in memory (data need not be NUL-terminated; any bytes). Fills *res,
 * which the caller releases with import_result_release whatever the outcome. Returns 0, or
 * -1 with "out of memory" in err. Never fails on content: bad lines become warnings. */
int import_run(const char *data, size_t len, const import_opts *o, import_result *res,
               char *err, size_t errlen);

/* Reads path ("-" = standard input) and imports it. Returns 0, or -1 with "PATH: reason" in
 * err when the file cannot be read (or out of memory). */
int import_file(const char *path, const import_opts *o, import_result *res, char *err,
                size_t errlen);

void import_result_release(import_result *res);

/* Name of a status: "FULLY FREED", "CLEANED UP", "REMAINING", "LEAKED", "LOST". */
const char *import_status_name(import_status s);

typedef struct {
    int have_buffer;       /* report only lifecycles of this buffer id */
    uint64_t buffer_id;
    size_t max_notes;      /* warnings and findings printed (0 = 50) */
} import_report_opts;

/* The human report: summary, per-buffer lifecycles (in the seed's
 * verify_trace_buffer_source.py layout), dumps and their check, findings, warnings. */
void import_report_text(const import_result *r, const char *log_name,
                        const import_report_opts *o, sbuf *out);

/* The same as one JSON object with a stable key order (documented in docs/import.md). */
void import_report_json(const import_result *r, const char *log_name,
                        const import_report_opts *o, sbuf *out);

/* Writes the timeline TSV (requires want_timeline). Returns 0, or -1 with "PATH: reason". */
int import_write_timeline(const import_result *r, const char *log_name, const char *path,
                          char *err, size_t errlen);

/* Writes a scenario with the log's events as raw `send` statements, one process per PID
 * (requires want_stream). Order across processes is not kept by the scenario language, so
 * the text says so in a comment. Returns 0, or -1 with "PATH: reason". */
int import_write_scenario(const import_result *r, const char *log_name, const char *path,
                          char *err, size_t errlen);

#endif
