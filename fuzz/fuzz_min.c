/* fuzz_min: the minimiser — shrinks a failing stream, ddmin-style, while a caller's predicate
 * keeps saying "still fails": quick cuts, whole records, frames inside writes, then fields.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz.h"
#include "fuzz_int.h"
#include "mem.h"
#include "rng.h"

/* ---- minimising ------------------------------------------------------------------------------ */

typedef struct {
    fuzz_pred_fn pred;
    void *ctx;
    fuzz_min_config *cfg;
    uint32_t max_tests;
    int stop;    /* the predicate asked to stop, or the budget is spent */
    int oom;
} minimiser;

/* Runs the predicate on cand. Returns 1 if it holds. */
static int min_test(minimiser *mn, const stream *cand) {
    if (mn->stop)
        return 0;
    if (mn->cfg->tests >= mn->max_tests) {
        mn->stop = 1;
        return 0;
    }
    mn->cfg->tests++;
    int r = mn->pred(mn->ctx, cand);
    if (r < 0) {
        mn->stop = 2;
        return 0;
    }
    return r == 1;
}

/* Builds the stream made of in's processes and the records whose keep flag is set. */
static int min_subset(const stream *in, const uint8_t *keep, stream *out) {
    stream_init(out, in->rev);
    for (uint32_t i = 0; i < in->nprocs; i++)
        if (stream_add_proc(out, in->procs[i].recorded_pid, in->procs[i].name) < 0)
            goto fail;
    for (size_t i = 0; i < in->nrecords; i++) {
        if (!keep[i])
            continue;
        const stream_record *r = &in->records[i];
        if (stream_append(out, r->op, r->flags, r->id, rec_bytes(in, r), r->len) != 0)
            goto fail;
    }
    return 0;
fail:
    stream_release(out);
    return -1;
}

/* Replaces *cur with *cand (taking ownership). */
static void min_take(stream *cur, stream *cand) {
    stream_release(cur);
    *cur = *cand;
    memset(cand, 0, sizeof *cand);
}

/* ddmin over whole records: try removing chunks, halving the chunk size when nothing goes. */
static void min_records(minimiser *mn, stream *cur) {
    size_t chunks = 2;
    while (!mn->stop && cur->nrecords > 0) {
        size_t n = cur->nrecords;
        if (chunks > n)
            chunks = n;
        size_t size = (n + chunks - 1) / chunks;
        int reduced = 0;
        uint8_t *keep = mem_alloc(n);
        if (!keep) {
            mn->oom = 1;
            return;
        }
        for (size_t start = 0; start < n && !mn->stop; start += size) {
            for (size_t i = 0; i < n; i++)
                keep[i] = i < start || i >= start + size;
            stream cand;
            if (min_subset(cur, keep, &cand) != 0) {
                mn->oom = 1;
                break;
            }
            if (min_test(mn, &cand)) {
                min_take(cur, &cand);
                reduced = 1;
                break;
            }
            stream_release(&cand);
        }
        mem_free(keep);
        if (mn->oom)
            return;
        if (reduced) {
            if (chunks > 2)
                chunks--;
            continue;
        }
        if (size == 1)
            return;
        chunks *= 2;
    }
}

/* Builds a copy of cur whose record idx has payload p[0..len). */
static int min_with_payload(const stream *cur, size_t idx, const uint8_t *p, uint32_t len,
                            stream *out) {
    stream_init(out, cur->rev);
    for (uint32_t i = 0; i < cur->nprocs; i++)
        if (stream_add_proc(out, cur->procs[i].recorded_pid, cur->procs[i].name) < 0)
            goto fail;
    for (size_t i = 0; i < cur->nrecords; i++) {
        const stream_record *r = &cur->records[i];
        const uint8_t *payload = i == idx ? p : rec_bytes(cur, r);
        uint32_t plen = i == idx ? len : r->len;
        if (stream_append(out, r->op, r->flags, r->id, payload, plen) != 0)
            goto fail;
    }
    return 0;
fail:
    stream_release(out);
    return -1;
}

/* Tries cur with record idx's payload replaced; keeps it when the predicate holds. */
static int min_try_payload(minimiser *mn, stream *cur, size_t idx, const uint8_t *p, uint32_t len) {
    stream cand;
    if (min_with_payload(cur, idx, p, len, &cand) != 0) {
        mn->oom = 1;
        return 0;
    }
    if (min_test(mn, &cand)) {
        min_take(cur, &cand);
        return 1;
    }
    stream_release(&cand);
    return 0;
}

/* Joins records i and i+1 (WRITEs on one connection) into one write. */
static int min_join(const stream *cur, size_t i, stream *out) {
    stream_init(out, cur->rev);
    for (uint32_t p = 0; p < cur->nprocs; p++)
        if (stream_add_proc(out, cur->procs[p].recorded_pid, cur->procs[p].name) < 0)
            goto fail;
    for (size_t k = 0; k < cur->nrecords; k++) {
        const stream_record *r = &cur->records[k];
        if (k == i + 1)
            continue;
        if (k != i) {
            if (stream_append(out, r->op, r->flags, r->id, rec_bytes(cur, r), r->len) != 0)
                goto fail;
            continue;
        }
        const stream_record *n = &cur->records[i + 1];
        uint8_t *joined = mem_alloc((size_t)r->len + n->len + 1);
        if (!joined)
            goto fail;
        copy_bytes(joined, rec_bytes(cur, r), r->len);
        copy_bytes(joined + r->len, rec_bytes(cur, n), n->len);
        int rc = stream_append(out, r->op, r->flags, r->id, joined, r->len + n->len);
        mem_free(joined);
        if (rc != 0)
            goto fail;
    }
    return 0;
fail:
    stream_release(out);
    return -1;
}

/* Removes bytes [at, at + take) of WRITE record idx if the predicate still holds. */
static int min_cut(minimiser *mn, stream *cur, size_t idx, size_t at, size_t take) {
    const stream_record *r = &cur->records[idx];
    uint8_t *p = mem_alloc(r->len);
    if (!p) {
        mn->oom = 1;
        return 0;
    }
    const uint8_t *old = rec_bytes(cur, r);
    copy_bytes(p, old, at);
    copy_bytes(p + at, old + at + take, r->len - at - take);
    int ok = min_try_payload(mn, cur, idx, p, (uint32_t)(r->len - take));
    mem_free(p);
    return ok;
}

/* 1 if a WRITE of cur is not a whole number of frames. */
static int min_has_partial(const stream *cur) {
    for (size_t i = 0; i < cur->nrecords; i++)
        if (cur->records[i].op == STREAM_OP_WRITE && cur->records[i].len % cur->frame_size != 0)
            return 1;
    return 0;
}

/* Inside WRITE records: neighbouring writes on one connection joined (a split frame whose
 * split does not matter becomes one write), whole frames removed, then for writes that are
 * not whole frames (garbage, partial frames) the odd tail and smaller chunks, a bounded number
 * of tries per record. */
static void min_bytes(minimiser *mn, stream *cur) {
    const size_t fs = cur->frame_size;
    for (size_t i = 0; i + 1 < cur->nrecords && !mn->stop && !mn->oom;) {
        const stream_record *a = &cur->records[i], *b = &cur->records[i + 1];
        if (a->op == STREAM_OP_WRITE && b->op == STREAM_OP_WRITE && a->id == b->id &&
            a->flags == b->flags) {
            stream cand;
            if (min_join(cur, i, &cand) != 0) {
                mn->oom = 1;
                return;
            }
            if (min_test(mn, &cand)) {
                min_take(cur, &cand);
                continue; /* record i grew: try joining it with the next one too */
            }
            stream_release(&cand);
        }
        i++;
    }
    for (size_t idx = 0; idx < cur->nrecords && !mn->stop && !mn->oom; idx++) {
        if (cur->records[idx].op != STREAM_OP_WRITE)
            continue;
        for (size_t at = 0; !mn->stop && !mn->oom;) {
            size_t len = cur->records[idx].len;
            if (at + fs > len || len <= fs)
                break;
            if (!min_cut(mn, cur, idx, at, fs))
                at += fs;
        }
        size_t len = cur->records[idx].len;
        /* A whole frame is cut into a partial one only in a stream that already splits
         * frames (a server without framing fails on those): a few bytes that fail the same
         * way are the same cause as the partial writes of other reproducers. */
        if (len % fs == 0 && (len != fs || !min_has_partial(cur)))
            continue;
        if (len > fs)
            min_cut(mn, cur, idx, len - len % fs, len % fs);
        int budget = 48;
        for (size_t chunk = fs / 2; chunk >= 1 && budget > 0 && !mn->stop && !mn->oom; chunk /= 2) {
            for (size_t at = 0; budget > 0 && !mn->stop && !mn->oom;) {
                len = cur->records[idx].len;
                if (at >= len || len <= 1)
                    break;
                size_t take = chunk < len - at ? chunk : len - at;
                if (take >= len)
                    break;
                budget--;
                if (!min_cut(mn, cur, idx, at, take))
                    at += take;
            }
            if (chunk == 1)
                break;
        }
    }
}

/* Tries record idx with len bytes at payload offset off replaced by the little-endian v. */
static int min_try_value(minimiser *mn, stream *cur, size_t idx, size_t off, size_t len, uint64_t v) {
    const stream_record *r = &cur->records[idx];
    uint8_t *p = mem_alloc(r->len);
    if (!p) {
        mn->oom = 1;
        return 0;
    }
    memcpy(p, cur->payload + r->offset, r->len);
    for (size_t i = 0; i < len; i++)
        p[off + i] = (uint8_t)(v >> (8 * i));
    int ok = min_try_payload(mn, cur, idx, p, r->len);
    mem_free(p);
    return ok;
}

static uint64_t min_read(const stream *cur, size_t idx, size_t off, size_t len) {
    const uint8_t *b = cur->payload + cur->records[idx].offset + off;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
}

/* The device id (i32 at offset 4 of every layout) of frame `at` of record idx, made as small as
 * the failure allows: -1, else the smallest failing non-negative value (bisection), so that
 * every out-of-range id that takes one code path (256, 1000, -2^31) ends as the same value
 * and the reproducers as one root cause. */
static void min_device(minimiser *mn, stream *cur, size_t idx, size_t at) {
    int32_t v = (int32_t)(uint32_t)min_read(cur, idx, at + 4, 4);
    if (v == 0 || v == -1)
        return;
    if (min_try_value(mn, cur, idx, at + 4, 4, (uint32_t)-1))
        return;
    if (v < 0)
        return;
    int32_t lo = 0, hi = v; /* lo does not fail (zero was tried), hi does */
    while (hi - lo > 1 && !mn->stop && !mn->oom) {
        int32_t mid = lo + (hi - lo) / 2;
        if (min_try_value(mn, cur, idx, at + 4, 4, (uint32_t)mid))
            hi = mid;
        else
            lo = mid;
    }
}

/* Field simplification: each multi-byte field of each frame set to zero, one at a time; where
 * zero loses the failure, the device id and the buffer type are shrunk to their smallest
 * failing value and the other numbers tried at 1. Bytes of partial frames (a write shorter
 * than a frame) are shrunk to the smallest failing value below 16, or to 0 or 1. */
static void min_fields(minimiser *mn, stream *cur) {
    static const struct {
        size_t off, len;
    } fields[] = {{1, 3}, {4, 4}, {8, 8}, {16, 1}, {17, 3}, {20, 4}, {24, 8}, {32, 8}};
    const size_t fs = cur->frame_size;
    for (size_t idx = 0; idx < cur->nrecords && !mn->stop && !mn->oom; idx++) {
        if (cur->records[idx].op != STREAM_OP_WRITE)
            continue;
        size_t nframes = cur->records[idx].len / fs;
        for (size_t f = 0; f < nframes && !mn->stop && !mn->oom; f++) {
            size_t nf = sizeof fields / sizeof fields[0] + 1;
            for (size_t k = 0; k < nf && !mn->stop && !mn->oom; k++) {
                size_t off = k < nf - 1 ? fields[k].off : 40;
                size_t len = k < nf - 1 ? fields[k].len : fs - 40; /* the reply-only tail */
                const uint8_t *old = cur->payload + cur->records[idx].offset + f * fs;
                int zero = 1;
                for (size_t i = 0; i < len; i++)
                    if (old[off + i])
                        zero = 0;
                if (zero)
                    continue;
                uint8_t *p = mem_alloc(cur->records[idx].len);
                if (!p) {
                    mn->oom = 1;
                    return;
                }
                memcpy(p, cur->payload + cur->records[idx].offset, cur->records[idx].len);
                memset(p + f * fs + off, 0, len);
                int ok = min_try_payload(mn, cur, idx, p, cur->records[idx].len);
                mem_free(p);
                if (ok || k == nf - 1 || off == FUZZ_PID_OFFSET || off == 1 || off == 17)
                    continue; /* pids are the executor's; pads stay as they are */
                if (off == 4) {
                    min_device(mn, cur, idx, f * fs);
                } else if (len == 1) {
                    uint64_t v = min_read(cur, idx, f * fs + off, 1);
                    for (uint64_t c = 1; c < v && c < 16; c++)
                        if (min_try_value(mn, cur, idx, f * fs + off, 1, c))
                            break;
                } else if (min_read(cur, idx, f * fs + off, len) > 1) {
                    min_try_value(mn, cur, idx, f * fs + off, len, 1);
                }
            }
        }
        size_t len = cur->records[idx].len;
        for (size_t i = 0; len < fs && i < len && i < 8 && !mn->stop && !mn->oom; i++) {
            uint64_t v = min_read(cur, idx, i, 1);
            uint64_t top = v < 16 ? v : 2;
            for (uint64_t c = 0; c < top; c++)
                if (min_try_value(mn, cur, idx, i, 1, c))
                    break;
        }
    }
}

/* Tries the stream made of the records for which keep_fn says 1. */
static void min_try_keep(minimiser *mn, stream *cur, int (*keep_fn)(const stream_record *r, size_t i, size_t arg),
                         size_t arg) {
    uint8_t *keep = mem_alloc(cur->nrecords ? cur->nrecords : 1);
    if (!keep) {
        mn->oom = 1;
        return;
    }
    size_t kept = 0;
    for (size_t i = 0; i < cur->nrecords; i++)
        kept += keep[i] = (uint8_t)keep_fn(&cur->records[i], i, arg);
    if (kept < cur->nrecords) {
        stream cand;
        if (min_subset(cur, keep, &cand) != 0)
            mn->oom = 1;
        else if (min_test(mn, &cand))
            min_take(cur, &cand);
        else
            stream_release(&cand);
    }
    mem_free(keep);
}

static int keep_upto(const stream_record *r, size_t i, size_t last) {
    (void)r;
    return i <= last;
}

/* Records that put bytes on the wire, and SPAWN (the executor opens connections itself). */
static int keep_sending(const stream_record *r, size_t i, size_t arg) {
    (void)i;
    (void)arg;
    return r->op == STREAM_OP_WRITE || r->op == STREAM_OP_DUMP || r->op == STREAM_OP_SPAWN;
}

int fuzz_minimise(const stream *in, fuzz_pred_fn pred, void *ctx, fuzz_min_config *cfg,
                  stream *out, char *err, size_t errlen) {
    minimiser mn;
    memset(&mn, 0, sizeof mn);
    mn.pred = pred;
    mn.ctx = ctx;
    mn.cfg = cfg;
    mn.max_tests = cfg->max_tests ? cfg->max_tests : 400;
    cfg->tests = 0;
    if (fuzz_stream_copy(in, out) != 0) {
        snprintf(err, errlen, "minimise: out of memory");
        return -1;
    }
    if (cfg->fail_record + 1 < out->nrecords)
        min_try_keep(&mn, out, keep_upto, cfg->fail_record);
    min_try_keep(&mn, out, keep_sending, 0);
    if (cfg->records_only) {
        min_records(&mn, out);
    }
    for (int round = 0; !cfg->records_only && round < 3 && !mn.stop && !mn.oom; round++) {
        size_t before_records = out->nrecords, before_bytes = out->payload_len;
        min_records(&mn, out);
        min_bytes(&mn, out);
        min_records(&mn, out);
        min_fields(&mn, out);
        if (out->nrecords == before_records && out->payload_len == before_bytes)
            break;
    }
    if (mn.oom) {
        snprintf(err, errlen, "minimise: out of memory");
        return -1;
    }
    if (mn.stop == 2) {
        snprintf(err, errlen, "minimise: stopped by an error after %" PRIu32 " tests", cfg->tests);
        return -1;
    }
    return 0;
}

