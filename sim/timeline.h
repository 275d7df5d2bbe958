/* timeline: bytes in use per device and region over time, plus phase markers, as TSV.
 *
 * The simulator records the server's view after every frame it sends (the ledger's per-type
 * totals, SYSTEM_MEMORY folded into L1_SMALL like the server's counters) and phase markers
 * (trace_begin, trace_end, decode, close, dump, exit, crash, or free text). The log importer
 * records the same from a real server's log with "line" as the time unit. A row is kept only
 * when a device's values change. timeline_write renders the documented format
 * (docs/scenarios.md, "Timeline format") that the plot driver reads:
 *
 *   #allocsim-timeline v1
 *   #title <text>
 *   #time_unit ns
 *   #capacity <device> <DRAM> <L1> <L1_SMALL> <TRACE>
 *   time<TAB>device<TAB>DRAM<TAB>L1<TAB>L1_SMALL<TAB>TRACE
 *   #phase <time> <label>          (interleaved with the rows, in time order)
 *   <time><TAB><device><TAB><bytes><TAB><bytes><TAB><bytes><TAB><bytes>
 *   #cbk <time> <device> <CB bytes> <kernel bytes>   (v144: after a change of either)
 *
 * The CB and kernel series are comment lines, so readers of the first format (which ignore
 * `#` lines they do not know) read new timelines unchanged, and a timeline without CB or
 * kernel activity (every revision before v144) is byte-identical to before.
 */
#ifndef ALLOCSIM_TIMELINE_H
#define ALLOCSIM_TIMELINE_H

#include <stddef.h>
#include <stdint.h>

#include "sbuf.h"

/* Column order of every byte array below. */
enum { TIMELINE_DRAM = 0, TIMELINE_L1, TIMELINE_L1_SMALL, TIMELINE_TRACE, TIMELINE_NREGIONS };

#define TIMELINE_MAX_DEVICES 256

typedef struct {
    uint64_t time;
    int32_t device;
    uint64_t bytes[TIMELINE_NREGIONS];
} timeline_row;

typedef struct {
    uint64_t time;
    char *label;
} timeline_phase;

typedef struct {
    int32_t device;
    uint64_t bytes[TIMELINE_NREGIONS]; /* region size x banks; 0 = unknown */
} timeline_capacity;

/* The server's cb_allocated and kernel_allocated of a device after a change (v144). */
typedef struct {
    uint64_t time;
    int32_t device;
    uint64_t cb, kernel;
} timeline_cbk;

typedef struct {
    char *title;
    char time_unit[8];            /* "ns" (default) or "line" */
    timeline_capacity *caps;      /* ascending device */
    size_t ncaps;
    timeline_phase *phases;       /* non-decreasing time */
    size_t nphases, cap_phases;
    timeline_row *rows;           /* non-decreasing time */
    size_t nrows, cap_rows;
    timeline_cbk *cbks;           /* non-decreasing time */
    size_t ncbks, cap_cbks;
    uint64_t (*last_cbk)[2];      /* latest CB and kernel bytes per device (lazily allocated) */
    uint64_t last[TIMELINE_MAX_DEVICES][TIMELINE_NREGIONS]; /* latest values per device */
    uint64_t last_time;
} timeline;

/* Returns a new empty timeline (time unit "ns"), or NULL when out of memory. */
timeline *timeline_new(void);
void timeline_free(timeline *t);

/* Sets the title; tabs and line breaks become spaces. 0, or -1 when out of memory. */
int timeline_set_title(timeline *t, const char *title);

/* "ns" or "line". Returns 0, or -1 for any other unit. */
int timeline_set_time_unit(timeline *t, const char *unit);

/* Sets (or replaces) the capacity of a device. 0, or -1 when the device is outside
 * [0, TIMELINE_MAX_DEVICES) or out of memory. */
int timeline_set_capacity(timeline *t, int32_t device, const uint64_t bytes[TIMELINE_NREGIONS]);

/* Adds a phase marker. Preconditions: time not before the latest phase or row; label
 * non-empty. Tabs and line breaks in the label become spaces. 0, or -1 when the time goes
 * backwards, the label is empty, or out of memory. */
int timeline_add_phase(timeline *t, uint64_t time, const char *label);

/* Records the values of a device after a change. Adds a row only if they differ from the
 * device's previous values (all zero at first). 0; -1 when the time goes backwards, the
 * device is out of range, or out of memory. */
int timeline_record(timeline *t, uint64_t time, int32_t device, const uint64_t bytes[TIMELINE_NREGIONS]);

/* Records a device's CB and kernel bytes after a change; a `#cbk` line only if they differ
 * from its previous ones (zero at first). Same contract as timeline_record. */
int timeline_record_cbk(timeline *t, uint64_t time, int32_t device, uint64_t cb, uint64_t kernel);

/* Appends the TSV text (format above) to out. */
void timeline_write(const timeline *t, sbuf *out);

#endif
