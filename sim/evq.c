/* evq: binary min-heap of events ordered by (vtime_ns, seq); see evq.h. */
#include "evq.h"

#include "mem.h"

static int before(const evq_event *a, const evq_event *b) {
    return a->vtime_ns != b->vtime_ns ? a->vtime_ns < b->vtime_ns : a->seq < b->seq;
}

void evq_init(evq *q) {
    q->heap = NULL;
    q->n = q->cap = 0;
    q->next_seq = 0;
}

void evq_release(evq *q) {
    mem_free(q->heap);
    evq_init(q);
}

int evq_push(evq *q, uint64_t vtime_ns, int32_t proc, uint64_t data) {
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 16;
        evq_event *nh = mem_realloc(q->heap, sizeof *nh * cap);
        if (!nh)
            return -1;
        q->heap = nh;
        q->cap = cap;
    }
    evq_event ev = {vtime_ns, q->next_seq++, proc, data};
    size_t i = q->n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(&ev, &q->heap[parent]))
            break;
        q->heap[i] = q->heap[parent];
        i = parent;
    }
    q->heap[i] = ev;
    return 0;
}

int evq_pop(evq *q, evq_event *out) {
    if (q->n == 0)
        return 0;
    *out = q->heap[0];
    evq_event last = q->heap[--q->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= q->n)
            break;
        if (c + 1 < q->n && before(&q->heap[c + 1], &q->heap[c]))
            c++;
        if (!before(&q->heap[c], &last))
            break;
        q->heap[i] = q->heap[c];
        i = c;
    }
    if (q->n > 0)
        q->heap[i] = last;
    return 1;
}

const evq_event *evq_peek(const evq *q) { return q->n ? &q->heap[0] : NULL; }

size_t evq_size(const evq *q) { return q->n; }
