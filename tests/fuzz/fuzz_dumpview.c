/* fuzz_dumpview: libFuzzer target for the DUMP_REMAINING parser (sim/dumpview.c) and the
 * line classifier under it (sim/srvline.c).
 *
 * The input is fed both ways the harness uses: whole (dumpview_parse_text) and line by line
 * through one incremental parser that keeps going after errors and completed reports. Every
 * view that parses is rendered, parsed again and compared with itself: a report that renders
 * to text the parser reads differently is a bug even when nothing crashes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dumpview.h"
#include "srvline.h"

static void check_round_trip(const dumpview *v) {
    sbuf text = SBUF_INIT, diff = SBUF_INIT;
    dumpview again;
    char err[256];
    dumpview_render(v, NULL, NULL, &text);
    if (dumpview_parse_text(text.data, text.len, &again, err, sizeof err) != 0) {
        if (strstr(err, "out of memory") == NULL)
            abort(); /* the renderer wrote something its own parser rejects */
    } else {
        if (dumpview_compare(v, NULL, NULL, &again, NULL, NULL, &diff) != 0)
            abort();
        dumpview_release(&again);
    }
    sbuf_release(&text);
    sbuf_release(&diff);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *text = (const char *)data;
    dumpview v;
    char err[256];
    if (dumpview_parse_text(text, size, &v, err, sizeof err) == 0) {
        check_round_trip(&v);
        dumpview_release(&v);
    }
    dumpview_parser *p = dumpview_parser_new();
    if (!p)
        return 0;
    size_t pos = 0;
    while (pos < size) {
        const char *nl = memchr(text + pos, '\n', size - pos);
        size_t end = nl ? (size_t)(nl - text) : size;
        srvline s;
        srvline_classify(text + pos, end - pos, &s);
        if (dumpview_parser_line(p, text + pos, end - pos, err, sizeof err) == 1) {
            dumpview_parser_take(p, &v);
            check_round_trip(&v);
            dumpview_release(&v);
        }
        pos = nl ? end + 1 : size;
    }
    dumpview_parser_free(p);
    return 0;
}
