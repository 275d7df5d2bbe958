/* kreport: cutting DUMP_KERNELS reports out of a server's log (see kreport.h). */
#include "kreport.h"

#include <stdio.h>
#include <string.h>

#include "srvline.h"

static int is_kind(const srvproc_line *l, void *ctx) {
    if (l->stream != SRVPROC_OUT)
        return 0;
    srvline s;
    srvline_classify(l->text, l->len, &s);
    return s.kind == *(const srvline_kind *)ctx;
}

static srvline_kind line_kind(srvproc *srv, size_t idx, sbuf *tmp) {
    srvproc_stream st;
    sbuf_reset(tmp);
    if (srvproc_log_get(srv, idx, tmp, &st) != 0 || st != SRVPROC_OUT)
        return SRVLINE_OTHER;
    srvline s;
    srvline_classify(sbuf_str(tmp), tmp->len, &s);
    return s.kind;
}

size_t kreport_collect(srvproc *srv, size_t from, size_t n, int timeout_ms, sbuf *texts, char *err, size_t errlen) {
    size_t pos = from;
    sbuf tmp = SBUF_INIT;
    size_t k = 0;
    for (; k < n; k++) {
        srvline_kind want = SRVLINE_KDUMP_COMPLETE;
        size_t done;
        srvproc_wait_result wr = srvproc_wait_line(srv, pos, is_kind, &want, timeout_ms, &done);
        if (wr != SRVPROC_FOUND) {
            snprintf(err, errlen, "%s: DUMP_KERNELS report %zu of %zu (no '📋 DUMP_KERNELS complete.' line)",
                     wr == SRVPROC_DIED ? "the server died before printing" : "timed out waiting for", k + 1, n);
            break;
        }
        /* The report starts at the frame top above its title, the last title before done. */
        size_t first = pos;
        for (size_t i = done; i-- > pos;) {
            if (line_kind(srv, i, &tmp) == SRVLINE_KDUMP_TITLE) {
                first = i > pos && line_kind(srv, i - 1, &tmp) == SRVLINE_FRAME_TOP ? i - 1 : i;
                break;
            }
        }
        srvproc_log_text(srv, first, done + 1, SRVPROC_OUT, &texts[k]);
        pos = done + 1;
    }
    sbuf_release(&tmp);
    return k;
}
