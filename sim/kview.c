/* kview: DUMP_KERNELS reports as data (see kview.h). Lines are classified by srvline, the
 * one module that knows the server's templates. */
#include "kview.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "ledger.h"
#include "mem.h"
#include "scn.h"
#include "srvline.h"

static int push_dev(kview *v) {
    if (v->ndev == v->capdev) {
        size_t cap = v->capdev ? v->capdev * 2 : 8;
        kview_device *nv = mem_realloc(v->dev, sizeof *nv * cap);
        if (!nv)
            return -1;
        v->dev = nv;
        v->capdev = cap;
    }
    memset(&v->dev[v->ndev++], 0, sizeof *v->dev);
    return 0;
}

static int push_kernel(kview *v) {
    if (v->nk == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 16;
        kview_kernel *nv = mem_realloc(v->k, sizeof *nv * cap);
        if (!nv)
            return -1;
        v->k = nv;
        v->cap = cap;
    }
    memset(&v->k[v->nk++], 0, sizeof *v->k);
    return 0;
}

static void copy_num(char *dst, size_t n, srvline_text t) {
    size_t l = t.len < n - 1 ? t.len : n - 1;
    memcpy(dst, t.ptr, l);
    dst[l] = '\0';
}

int kview_parse(const char *text, size_t len, kview *v, char *err, size_t errlen) {
    memset(v, 0, sizeof *v);
    int32_t dev = -1;
    size_t lineno = 0;
    for (size_t at = 0; at < len;) {
        const char *l = text + at;
        const char *e = memchr(l, '\n', len - at);
        size_t n = e ? (size_t)(e - l) : len - at;
        at += n + (e ? 1 : 0);
        lineno++;
        srvline s;
        srvline_classify(l, n, &s);
        int oom = 0;
        switch (s.kind) {
        case SRVLINE_KDUMP_TOTAL:
            v->total = s.count;
            break;
        case SRVLINE_KDUMP_DEVICE:
            if (push_dev(v) < 0) {
                oom = 1;
                break;
            }
            dev = s.device_id;
            v->dev[v->ndev - 1].dev = s.device_id;
            v->dev[v->ndev - 1].n = s.count;
            copy_num(v->dev[v->ndev - 1].mb, sizeof v->dev->mb, s.num);
            break;
        case SRVLINE_KDUMP_KERNEL_ID:
            if (push_kernel(v) < 0) {
                oom = 1;
                break;
            }
            v->k[v->nk - 1].dev = dev;
            v->k[v->nk - 1].id = s.buffer_id;
            break;
        case SRVLINE_KDUMP_SIZE:
            if (v->nk)
                copy_num(v->k[v->nk - 1].kb, sizeof v->k->kb, s.num);
            break;
        case SRVLINE_KDUMP_OWNER:
            if (v->nk)
                v->k[v->nk - 1].pid = s.pid;
            break;
        case SRVLINE_KDUMP_COMPLETE:
            v->complete = 1;
            break;
        case SRVLINE_MALFORMED:
            if (s.expected && strstr(s.expected, "ernel") != NULL) { /* Kernel ID, kernels), kernel allocations */
                snprintf(err, errlen, "line %zu: expected '%s', found '%.*s'", lineno, s.expected,
                         (int)(n < 200 ? n : 200), l);
                return -1;
            }
            break;
        default:
            break;
        }
        if (oom) {
            snprintf(err, errlen, "line %zu: out of memory", lineno);
            return -1;
        }
    }
    return 0;
}

void kview_release(kview *v) {
    if (!v)
        return;
    mem_free(v->dev);
    mem_free(v->k);
    memset(v, 0, sizeof *v);
}

static int kernel_cmp(const void *a, const void *b) {
    const kview_kernel *x = a, *y = b;
    if (x->dev != y->dev)
        return x->dev < y->dev ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static kview_kernel *sorted_copy(const kview *v) {
    kview_kernel *c = mem_alloc(sizeof *c * (v->nk ? v->nk : 1));
    if (c && v->nk) {
        memcpy(c, v->k, sizeof *c * v->nk);
        qsort(c, v->nk, sizeof *c, kernel_cmp);
    }
    return c;
}

static const char *owner(dumpview_pid_name_fn fn, void *ctx, int32_t pid, char *buf, size_t n) {
    const char *name = fn ? fn(ctx, pid) : NULL;
    if (name)
        return name;
    snprintf(buf, n, "PID %d", (int)pid);
    return buf;
}

static const kview_device *find_dev(const kview *v, int32_t d) {
    for (size_t i = 0; i < v->ndev; i++)
        if (v->dev[i].dev == d)
            return &v->dev[i];
    return NULL;
}

size_t kview_compare(const kview *want, dumpview_pid_name_fn want_name, void *want_ctx, const kview *got,
                     dumpview_pid_name_fn got_name, void *got_ctx, sbuf *why) {
    size_t diffs = 0;
#define DIFF(...)                                                                                                      \
    do {                                                                                                               \
        sbuf_printf(why, __VA_ARGS__);                                                                                 \
        sbuf_putc(why, '\n');                                                                                          \
        diffs++;                                                                                                       \
    } while (0)
    if (want->total != got->total)
        DIFF("total kernel allocations: expected %" PRIu64 ", found %" PRIu64, want->total, got->total);
    for (size_t i = 0; i < want->ndev; i++) {
        const kview_device *w = &want->dev[i], *g = find_dev(got, w->dev);
        if (!g)
            DIFF("device %d: expected '%" PRIu64 " kernels, %s MB', found no device line", (int)w->dev, w->n, w->mb);
        else if (w->n != g->n || strcmp(w->mb, g->mb) != 0)
            DIFF("device %d: expected %" PRIu64 " kernels, %s MB, found %" PRIu64 " kernels, %s MB", (int)w->dev, w->n,
                 w->mb, g->n, g->mb);
    }
    for (size_t i = 0; i < got->ndev; i++)
        if (!find_dev(want, got->dev[i].dev))
            DIFF("device %d: expected no kernels, found %" PRIu64 " (%s MB)", (int)got->dev[i].dev, got->dev[i].n,
                 got->dev[i].mb);
    kview_kernel *a = sorted_copy(want), *b = sorted_copy(got);
    if (!a || !b) {
        mem_free(a);
        mem_free(b);
        DIFF("out of memory comparing kernel reports");
        return diffs;
    }
    size_t i = 0, j = 0;
    char b1[32], b2[32];
    while (i < want->nk || j < got->nk) {
        int c = i == want->nk ? 1 : j == got->nk ? -1 : kernel_cmp(&a[i], &b[j]);
        if (c < 0) {
            DIFF("missing kernel 0x%" PRIx64 " on device %d (%s KB, %s)", a[i].id, (int)a[i].dev, a[i].kb,
                 owner(want_name, want_ctx, a[i].pid, b1, sizeof b1));
            i++;
        } else if (c > 0) {
            DIFF("extra kernel 0x%" PRIx64 " on device %d (%s KB, %s)", b[j].id, (int)b[j].dev, b[j].kb,
                 owner(got_name, got_ctx, b[j].pid, b2, sizeof b2));
            j++;
        } else {
            const char *wo = owner(want_name, want_ctx, a[i].pid, b1, sizeof b1);
            const char *go = owner(got_name, got_ctx, b[j].pid, b2, sizeof b2);
            if (strcmp(a[i].kb, b[j].kb) != 0 || strcmp(wo, go) != 0)
                DIFF("kernel 0x%" PRIx64 " on device %d: expected %s KB owned by %s, found %s KB owned by %s", a[i].id,
                     (int)a[i].dev, a[i].kb, wo, b[j].kb, go);
            i++;
            j++;
        }
    }
    mem_free(a);
    mem_free(b);
#undef DIFF
    return diffs;
}

static int bit_has(const uint64_t *bits, int d) { return (bits[d / 64] >> (d % 64)) & 1u; }

int kview_expect_eval(const struct scn_expect *e, const uint64_t *bits, const kview *v, dumpview_pid_name_fn name,
                      void *name_ctx, sbuf *why) {
    if (e->kind == SCN_EXPECT_KTOTAL) {
        if (v->total != (uint64_t)e->count) {
            sbuf_printf(why, "expected %" PRId64 " kernel allocations, found %" PRIu64, e->count, v->total);
            return 0;
        }
        return 1;
    }
    for (int d = 0; d < DEV_MAX_DEVICES; d++) {
        if (!bit_has(bits, d))
            continue;
        if (e->kind == SCN_EXPECT_KGROUPS) {
            const kview_device *g = find_dev(v, d);
            if (e->none) {
                if (g) {
                    sbuf_printf(why, "device %d: expected no kernels, found %" PRIu64, d, g->n);
                    return 0;
                }
                continue;
            }
            if (!g) {
                sbuf_printf(why, "device %d: expected kernels, found the device absent from the report", d);
                return 0;
            }
            if (e->count >= 0 && g->n != (uint64_t)e->count) {
                sbuf_printf(why, "device %d: expected %" PRId64 " kernels, found %" PRIu64, d, e->count, g->n);
                return 0;
            }
            char mb[32];
            ledger_format_mb(mb, sizeof mb, e->bytes);
            if (e->has_bytes && strcmp(mb, g->mb) != 0) {
                sbuf_printf(why, "device %d: expected %s MB of kernels, found %s MB", d, mb, g->mb);
                return 0;
            }
            continue;
        }
        const kview_kernel *k = NULL;
        for (size_t i = 0; i < v->nk; i++)
            if (v->k[i].dev == d && v->k[i].id == e->kernel_id)
                k = &v->k[i];
        if (e->kind == SCN_EXPECT_KLACKS) {
            if (k) {
                sbuf_printf(why, "device %d: expected no kernel 0x%" PRIx64 ", found it listed", d, e->kernel_id);
                return 0;
            }
            continue;
        }
        if (!k) {
            sbuf_printf(why, "device %d: expected kernel 0x%" PRIx64 " listed, found none", d, e->kernel_id);
            return 0;
        }
        char kb[32];
        ledger_format_kb(kb, sizeof kb, e->bytes);
        if (e->has_size && strcmp(kb, k->kb) != 0) {
            sbuf_printf(why, "device %d: expected kernel 0x%" PRIx64 " of %s KB, found %s KB", d, e->kernel_id, kb, k->kb);
            return 0;
        }
        const char *own = name ? name(name_ctx, k->pid) : NULL;
        if (e->process && (!own || strcmp(own, e->process) != 0)) {
            sbuf_printf(why, "device %d: expected kernel 0x%" PRIx64 " owned by %s, found PID %d", d, e->kernel_id,
                        e->process, (int)k->pid);
            return 0;
        }
    }
    return 1;
}
