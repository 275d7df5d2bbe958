/* scn_expect: evaluation, copy and release of scenario expectations (see scn.h).
 *
 * Expectations are checked against a dumpview, the one representation of a DUMP_REMAINING
 * report shared by the simulator (the ledger's text, parsed) and the harness (a real
 * server's text, parsed). The report prints sizes only as %g-rounded MB and KB, so byte
 * counts are compared by formatting the expected bytes the same way (ledger_format_mb).
 * A group with more than 10 buffers is printed without its buffer lines: an expectation that
 * needs those lines fails there and says why, instead of guessing.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ledger.h"
#include "mem.h"
#include "scn.h"

void scn_expect_release(struct scn_expect *e) {
    if (!e)
        return;
    mem_free(e->text);
    mem_free(e->process);
    mem_free(e->buffer_name);
    mem_free(e->devices);
    e->text = e->process = e->buffer_name = NULL;
    e->devices = NULL;
    e->ndevices = 0;
}

static int dup_opt(char **dst, const char *src) {
    *dst = NULL;
    return src && !(*dst = mem_strdup(src)) ? -1 : 0;
}

int scn_expect_copy(struct scn_expect *dst, const struct scn_expect *src) {
    *dst = *src;
    dst->devices = NULL;
    int rc = dup_opt(&dst->text, src->text);
    rc |= dup_opt(&dst->process, src->process);
    rc |= dup_opt(&dst->buffer_name, src->buffer_name);
    if (src->ndevices) {
        dst->devices = mem_alloc(sizeof *dst->devices * src->ndevices);
        if (dst->devices)
            memcpy(dst->devices, src->devices, sizeof *dst->devices * src->ndevices);
        else
            rc = -1;
    }
    if (rc) {
        scn_expect_release(dst);
        return -1;
    }
    return 0;
}

/* ---- lookups in a view ---------------------------------------------------------------- */

static const dumpview_group *find_group(const dumpview *v, int32_t dev, uint8_t type) {
    for (size_t i = 0; i < v->ngroups; i++)
        if (v->groups[i].device_id == dev && v->groups[i].buffer_type == type)
            return &v->groups[i];
    return NULL;
}

static const dumpview_buffer *find_buffer(const dumpview *v, int32_t dev, uint8_t type, uint64_t id) {
    size_t lo = 0, hi = v->nbuffers;
    while (lo < hi) { /* buffers are sorted by (device, type, id) */
        size_t mid = lo + (hi - lo) / 2;
        const dumpview_buffer *b = &v->buffers[mid];
        int lt = b->device_id != dev ? b->device_id < dev : b->buffer_type != type ? b->buffer_type < type : b->buffer_id < id;
        if (lt)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < v->nbuffers) {
        const dumpview_buffer *b = &v->buffers[lo];
        if (b->device_id == dev && b->buffer_type == type && b->buffer_id == id)
            return b;
    }
    return NULL;
}

static const char *pid_name(dumpview_pid_name_fn name, void *ctx, int32_t pid, char *buf, size_t n) {
    const char *s = name ? name(ctx, pid) : NULL;
    if (s)
        return s;
    snprintf(buf, n, "PID %" PRId32, pid);
    return buf;
}

static int name_is(dumpview_pid_name_fn name, void *ctx, int32_t pid, const char *want) {
    const char *s = name ? name(ctx, pid) : NULL;
    return s && strcmp(s, want) == 0;
}

/* ---- kinds ---------------------------------------------------------------------------- */

/* One device of a GROUPS expectation with a type. Returns 1 or 0 with the reason. */
static int eval_group(const struct scn_expect *e, const dumpview *v, int32_t dev, sbuf *why) {
    uint8_t type = (uint8_t)e->type;
    const char *tn = proto_buffer_type_name(type);
    const dumpview_group *g = find_group(v, dev, type);
    if (e->none) {
        if (g)
            sbuf_printf(why, "device %" PRId32 ": expected no %s buffers, found %" PRIu64 " (%s MB)", dev, tn,
                        g->count, g->mb);
        return g == NULL;
    }
    uint64_t count = g ? g->count : 0;
    if (e->count >= 0 && count != (uint64_t)e->count) {
        sbuf_printf(why, "device %" PRId32 ": expected %" PRId64 " %s buffer%s, found %" PRIu64, dev, e->count, tn,
                    e->count == 1 ? "" : "s", count);
        return 0;
    }
    if (e->has_bytes) {
        char want[32];
        ledger_format_mb(want, sizeof want, e->bytes);
        const char *have = g ? g->mb : "0";
        if (strcmp(want, have) != 0) {
            sbuf_printf(why, "device %" PRId32 ": expected %s %" PRIu64 " bytes (%s MB), found %s MB", dev, tn, e->bytes,
                        want, have);
            return 0;
        }
    }
    if (e->has_addr) {
        if (!g || !find_buffer(v, dev, type, e->addr)) {
            if (g && !g->listed)
                sbuf_printf(why, "device %" PRId32 ": expected a %s buffer at 0x%" PRIx64 ", found a group of %" PRIu64
                            " buffers that the report does not list (more than 10)", dev, tn, e->addr, g->count);
            else
                sbuf_printf(why, "device %" PRId32 ": expected a %s buffer at 0x%" PRIx64 ", found none", dev, tn,
                            e->addr);
            return 0;
        }
    }
    return 1;
}

/* One device of a GROUPS expectation over every type. */
static int eval_device(const struct scn_expect *e, const dumpview *v, int32_t dev, sbuf *why) {
    uint64_t count = 0;
    for (size_t i = 0; i < v->ngroups; i++)
        if (v->groups[i].device_id == dev)
            count += v->groups[i].count;
    if (e->none && count) {
        sbuf_printf(why, "device %" PRId32 ": expected no buffers, found %" PRIu64, dev, count);
        return 0;
    }
    if (e->count >= 0 && count != (uint64_t)e->count) {
        sbuf_printf(why, "device %" PRId32 ": expected %" PRId64 " buffer%s, found %" PRIu64, dev, e->count,
                    e->count == 1 ? "" : "s", count);
        return 0;
    }
    return 1;
}

static int eval_named(const struct scn_expect *e, const dumpview *v, dumpview_pid_name_fn name, void *ctx, sbuf *why) {
    const char *tn = proto_buffer_type_name(e->buffer_type);
    for (size_t i = 0; i < e->ndevices; i++) {
        int32_t dev = e->devices[i];
        const dumpview_group *g = find_group(v, dev, e->buffer_type);
        const dumpview_buffer *b = g ? find_buffer(v, dev, e->buffer_type, e->buffer_id) : NULL;
        if (g && !g->listed) {
            sbuf_printf(why, "device %" PRId32 ": expected to see whether %s (%s at 0x%" PRIx64 ") remains, found a group "
                        "of %" PRIu64 " buffers that the report does not list (more than 10)",
                        dev, e->buffer_name, tn, e->buffer_id, g->count);
            return 0;
        }
        if (e->kind == SCN_EXPECT_LACKS) {
            if (b) {
                sbuf_printf(why, "device %" PRId32 ": expected %s (%s at 0x%" PRIx64 ") to be gone, found it (ref_count=%" PRId32 ")",
                            dev, e->buffer_name, tn, e->buffer_id, b->ref_count);
                return 0;
            }
            continue;
        }
        if (!b) {
            sbuf_printf(why, "device %" PRId32 ": expected %s (%s at 0x%" PRIx64 "), found none", dev, e->buffer_name, tn,
                        e->buffer_id);
            return 0;
        }
        if (e->ref_count >= 0 && b->ref_count != e->ref_count) {
            sbuf_printf(why, "device %" PRId32 ": expected %s with ref_count=%" PRId32 ", found ref_count=%" PRId32, dev,
                        e->buffer_name, e->ref_count, b->ref_count);
            return 0;
        }
        if (e->process && !name_is(name, ctx, b->pid, e->process)) {
            char buf[32];
            sbuf_printf(why, "device %" PRId32 ": expected %s owned by %s, found it owned by %s", dev, e->buffer_name,
                        e->process, pid_name(name, ctx, b->pid, buf, sizeof buf));
            return 0;
        }
    }
    return 1;
}

static int eval_cleaned(const struct scn_expect *e, const dumpview *v, dumpview_pid_name_fn name, void *ctx, sbuf *why) {
    for (size_t i = 0; i < v->ndead; i++) {
        if (!name_is(name, ctx, v->dead[i].pid, e->process))
            continue;
        if (e->count >= 0 && v->dead[i].buffers != (uint64_t)e->count) {
            sbuf_printf(why, "expected %" PRId64 " buffers removed from %s, found %" PRIu64, e->count, e->process,
                        v->dead[i].buffers);
            return 0;
        }
        if (e->cbs >= 0 && v->dead[i].cbs != (uint64_t)e->cbs) {
            sbuf_printf(why, "expected %" PRId64 " CBs removed from %s, found %" PRIu64, e->cbs, e->process, v->dead[i].cbs);
            return 0;
        }
        if (e->kernels >= 0 && v->dead[i].kernels != (uint64_t)e->kernels) {
            sbuf_printf(why, "expected %" PRId64 " kernels removed from %s, found %" PRIu64, e->kernels, e->process,
                        v->dead[i].kernels);
            return 0;
        }
        return 1;
    }
    sbuf_printf(why, "expected the dump to clean up dead process %s, found %s", e->process,
                v->ndead ? "other dead processes only" : "no dead-process block");
    return 0;
}

int scn_expect_eval(const struct scn_expect *e, const dumpview *actual, dumpview_pid_name_fn name, void *name_ctx,
                    const dumpview *model, dumpview_pid_name_fn model_name, void *model_ctx, sbuf *why) {
    switch (e->kind) {
    case SCN_EXPECT_GROUPS:
        for (size_t i = 0; i < e->ndevices; i++) {
            int ok = e->type >= 0 ? eval_group(e, actual, e->devices[i], why) : eval_device(e, actual, e->devices[i], why);
            if (!ok)
                return 0;
        }
        return 1;
    case SCN_EXPECT_TOTAL:
        if (actual->total_tracked != (uint64_t)e->count) {
            sbuf_printf(why, "expected %" PRId64 " tracked allocations, found %" PRIu64, e->count, actual->total_tracked);
            return 0;
        }
        return 1;
    case SCN_EXPECT_PERFECT:
        if (!actual->perfect) {
            sbuf_printf(why, "expected no buffers remaining, found %" PRIu64, actual->total_tracked);
            return 0;
        }
        return 1;
    case SCN_EXPECT_HAS:
    case SCN_EXPECT_LACKS:
        return eval_named(e, actual, name, name_ctx, why);
    case SCN_EXPECT_CLEANED:
        return eval_cleaned(e, actual, name, name_ctx, why);
    case SCN_EXPECT_MODEL: {
        if (!model) {
            sbuf_puts(why, "expected the model's dump to compare with, found none");
            return 0;
        }
        sbuf diff = SBUF_INIT;
        int differs = dumpview_compare(model, model_name, model_ctx, actual, name, name_ctx, &diff);
        if (differs) {
            sbuf_puts(why, "expected the dump the model predicts, found differences:\n");
            sbuf_puts(why, sbuf_str(&diff));
        }
        sbuf_release(&diff);
        return !differs;
    }
    case SCN_EXPECT_SHM: /* on the SHM regions (sim/shm_expect.h): not applicable to a server's dump */
        return 1;
    default: /* QUERY and kernel-report expectations are evaluated by the interpreter */
        break;
    }
    sbuf_puts(why, "expected an expectation on a DUMP_REMAINING report, found one on a query or a kernel report");
    return 0;
}
