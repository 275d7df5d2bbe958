/* dumpview: one DUMP_REMAINING report as data, parsed from the server's text.
 *
 * The same structure describes what a server printed (cut out of its stdout by the harness)
 * and what it should have printed (the ledger's rendering of the same report), so scenario
 * expectations and the exact comparison run on one representation. Parsing accepts the report
 * of every revision (they are identical, §5.7) and keeps the printed number strings (KB, MB)
 * next to the values, because the report prints sizes only as %g-rounded KB and MB.
 * Buffer lines are kept sorted by (device, type, buffer id) whatever order the server used.
 */
#ifndef ALLOCSIM_DUMPVIEW_H
#define ALLOCSIM_DUMPVIEW_H

#include <stddef.h>
#include <stdint.h>

#include "sbuf.h"

typedef struct {
    int32_t device_id;
    uint8_t buffer_type;  /* 0..4 (group it was listed under) */
    uint64_t buffer_id;
    char kb[32];          /* KB as printed, e.g. "12210" */
    int32_t pid;
    int32_t ref_count;
} dumpview_buffer;

typedef struct {
    int32_t device_id;
    uint8_t buffer_type;
    uint64_t count;       /* "«count» buffers" */
    char mb[32];          /* MB total as printed, e.g. "11.9238" */
    int listed;           /* 1 if the group's buffer lines are printed (count <= 10) */
} dumpview_group;

typedef struct {
    int32_t pid;
    uint64_t buffers;     /* "Removed «n» buffers" */
    char mb[32];
    uint64_t cbs, kernels; /* v144 "Removed «n» CBs" / "Removed «n» kernels" (0: no line) */
    char cb_mb[32], kernel_mb[32];
} dumpview_dead;

typedef struct {
    uint64_t total_tracked;    /* "Total tracked allocations: N" */
    int perfect;               /* "✓ No buffers remaining - perfect cleanup!" seen */
    dumpview_group *groups;    /* sorted by (device, type) */
    size_t ngroups;
    dumpview_buffer *buffers;  /* sorted by (device, type, buffer_id) */
    size_t nbuffers;
    dumpview_dead *dead;       /* dead-process block inside the dump, in printed order */
    size_t ndead;
    int complete;              /* "📋 DUMP_REMAINING complete." seen */
} dumpview;

/* Incremental parser: feed the report's lines one at a time (without '\n'), starting with
 * "📋 Received DUMP_REMAINING request..." and ending with "📋 DUMP_REMAINING complete.".
 * Lines that belong to no report (statistics, alloc lines of other threads, noise) are
 * skipped, so a report interleaved with other output still parses. */
typedef struct dumpview_parser dumpview_parser;

dumpview_parser *dumpview_parser_new(void);
void dumpview_parser_free(dumpview_parser *p);
/* Returns 0; 1 once the completion line was seen (the view is then final); -1 with a
 * message in err on a malformed report line (expected ..., found ...) or out of memory. The
 * offending line is skipped and the parser stays usable. */
int dumpview_parser_line(dumpview_parser *p, const char *line, size_t len, char *err, size_t errlen);
/* Moves the parsed view out (sorted). The parser can be reused after this. */
void dumpview_parser_take(dumpview_parser *p, dumpview *out);

void dumpview_release(dumpview *v);

/* Where an incremental parser is. A report body is printed under the server's lock, so once
 * it is DUMPVIEW_BODY_DONE its contents are final even before the completion line (which the
 * server prints unlocked and may come after another report's lines). */
typedef enum {
    DUMPVIEW_IDLE = 0,   /* waiting for a request (or a report title) */
    DUMPVIEW_REQUESTED,  /* request seen: dead-process block, unrelated lines */
    DUMPVIEW_BODY,       /* between the title and "Total remaining buffers" / perfect line */
    DUMPVIEW_BODY_DONE   /* body ended; waiting for "📋 DUMP_REMAINING complete." */
} dumpview_parser_phase;

dumpview_parser_phase dumpview_parser_state(const dumpview_parser *p);

struct ledger;

/* The report a correct server would print now, built straight from the ledger's entries
 * (no text rendered or parsed): the same view as parsing the ledger's own DUMP_REMAINING
 * output with every PID alive, without the dead-process block and with complete = 1.
 * Returns 0, or -1 when out of memory (*out is then empty). */
int dumpview_from_ledger(const struct ledger *l, dumpview *out);

/* Parses the first report in text ('\n'-separated lines, "\r\n" accepted). A report whose
 * body ended but that has no completion line parses with complete = 0. Returns 0, or -1 with
 * err ("line N: expected ..., found ...") on a malformed line, no report, or a cut-off body. */
int dumpview_parse_text(const char *text, size_t len, dumpview *out, char *err, size_t errlen);

/* Maps a pid to a display name (for example a scenario process name); NULL to print the pid. */
typedef const char *(*dumpview_pid_name_fn)(void *ctx, int32_t pid);

/* Canonical text of a view: the report's lines with buffer lines sorted and pids replaced by
 * names where the mapper knows them. Used for golden files and diffs. */
void dumpview_render(const dumpview *v, dumpview_pid_name_fn name, void *ctx, sbuf *out);

/* Compares two views after mapping pids through their own mappers. Returns 0 if equal;
 * otherwise 1 and appends a human description of each difference (first 20) to diff. */
int dumpview_compare(const dumpview *expected, dumpview_pid_name_fn ename, void *ectx,
                     const dumpview *actual, dumpview_pid_name_fn aname, void *actx, sbuf *diff);

#endif
