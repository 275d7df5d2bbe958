/* fuzz_import: libFuzzer target for the log importer (import/import.c, import_report.c).
 *
 * Arbitrary bytes are imported as a server log with the timeline and the stream enabled, the
 * human and JSON reports are rendered, and the stream must pass its own validation and encode:
 * the importer must never crash, hang or build a stream the replayer would refuse.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "import.h"
#include "mem.h"
#include "stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    import_opts o;
    memset(&o, 0, sizeof o);
    o.log_name = "fuzz.log";
    o.want_timeline = 1;
    o.want_stream = 1;
    import_result r;
    char err[256];
    if (import_run((const char *)data, size, &o, &r, err, sizeof err) == 0) {
        sbuf out = SBUF_INIT;
        import_report_text(&r, "fuzz.log", NULL, &out);
        import_report_json(&r, "fuzz.log", NULL, &out);
        sbuf_release(&out);
        if (stream_validate(&r.stream, err, sizeof err) != 0)
            abort();
        uint8_t *image = NULL;
        size_t len = 0;
        if (stream_encode(&r.stream, &image, &len) == 0)
            mem_free(image);
    }
    import_result_release(&r);
    return 0;
}
