/* lhist: the enhanced server's per-buffer history (tracking-stories.md §3).
 *
 * allocation_server_enhanced keeps, for every (device, buffer id) it ever saw, the number of
 * allocations (ALLOC and duplicate ALLOC, "REUSE") and frees, and the last 50 events, forever:
 * a history outlives its buffer, which is how the server recognises a free of a buffer that
 * was already freed. A history is "double-freed" when frees > allocs (a free of a never-seen
 * buffer makes one: allocs 0, frees 1). The ledger keeps one lhist in the enhanced dialect and
 * renders the server's lines from it; nothing here prints.
 */
#ifndef ALLOCSIM_LHIST_H
#define ALLOCSIM_LHIST_H

#include <stddef.h>
#include <stdint.h>

#define LHIST_KEEP 50 /* events kept per history; the counts are not trimmed */

typedef enum { LHIST_ALLOC = 0, LHIST_FREE = 1, LHIST_REUSE = 2 } lhist_kind;

typedef struct {
    uint8_t kind;   /* lhist_kind */
    int32_t pid;
    int32_t ref;    /* ref count after the event */
    uint64_t size;
} lhist_event;

typedef struct {
    int32_t device_id;
    uint64_t buffer_id;
    uint64_t allocs, frees;
    lhist_event *ev; /* ring of at most LHIST_KEEP events */
    uint32_t nev, cap, head; /* head: index of the oldest event once the ring is full */
} lhist_entry;

typedef struct lhist lhist;

/* Returns an empty history set, or NULL when out of memory. */
lhist *lhist_new(void);
void lhist_free(lhist *h);

/* The history of (dev, id), or NULL if none. The pointer is valid until the next record. */
const lhist_entry *lhist_find(const lhist *h, int32_t dev, uint64_t id);

/* Appends an event to the history of (dev, id), creating it, and counts it (ALLOC and REUSE
 * as allocs, FREE as frees). Returns 0, or -1 when out of memory (nothing recorded). */
int lhist_record(lhist *h, int32_t dev, uint64_t id, lhist_kind kind, uint64_t size, int32_t pid,
                 int32_t ref);

/* The i-th kept event, newest first (i = 0 is the newest); NULL when i >= nev. */
const lhist_event *lhist_newest(const lhist_entry *e, size_t i);

/* The i-th kept event, oldest first; NULL when i >= nev. */
const lhist_event *lhist_oldest(const lhist_entry *e, size_t i);

/* The event as the server prints it: "«ALLOC|FREE|REUSE» size=«n» pid=«p» ref=«r»". */
void lhist_format(const lhist_event *ev, char *buf, size_t n);

/* Double-freed histories (frees > allocs) sorted by (device, buffer id): *out (mem_alloc'd,
 * released with mem_free; NULL when none) points into h until the next record. Returns the
 * count, or (size_t)-1 when out of memory. */
size_t lhist_double_freed(const lhist *h, const lhist_entry ***out);

/* Number of double-freed histories. */
size_t lhist_double_freed_count(const lhist *h);

#endif
