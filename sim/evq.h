/* evq: the simulator's event queue, a binary min-heap keyed by (virtual time, sequence).
 *
 * Every push gets the next sequence number, so events at the same virtual time come out in
 * the order they were pushed: simulated processes that act "at the same time" interleave
 * deterministically, never by address or hash order. Push and pop are O(log n).
 */
#ifndef ALLOCSIM_EVQ_H
#define ALLOCSIM_EVQ_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t vtime_ns; /* when the event fires */
    uint64_t seq;      /* push order, breaks ties */
    int32_t proc;      /* who acts (a simulated process index) */
    uint64_t data;     /* free for the caller */
} evq_event;

typedef struct {
    evq_event *heap;
    size_t n, cap;
    uint64_t next_seq;
} evq;

/* Makes an empty queue (no allocation until the first push). */
void evq_init(evq *q);
/* Frees the heap; the queue is empty and usable again. */
void evq_release(evq *q);

/* Schedules an event. Returns 0, or -1 when out of memory (the queue is unchanged). */
int evq_push(evq *q, uint64_t vtime_ns, int32_t proc, uint64_t data);

/* Removes the earliest event into *out. Returns 1, or 0 when the queue is empty. */
int evq_pop(evq *q, evq_event *out);

/* The earliest event without removing it, or NULL when empty. */
const evq_event *evq_peek(const evq *q);

/* Number of scheduled events. */
size_t evq_size(const evq *q);

#endif
