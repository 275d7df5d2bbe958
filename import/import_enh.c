/* import_enh: what the importer does with the lines only allocation_server_enhanced prints
 * (tracking-stories.md §3), beside the poc's lines that import.c replays.
 *
 * The dialect is recognised by its banner or by any line of its own (histories, ALREADY FREED
 * and never-tracked frees, the reuse-with-a-different-size warning, the DOUBLE-FREED report,
 * KB statistics); such a log is v72 whatever its hex ids suggest. Its DOUBLE-FREED report
 * (printed at a perfect dump and again at shutdown) becomes findings: one per (device, id)
 * and number of frees, so the shutdown copy of a report already read adds nothing.
 */
#include "import_int.h"

#include <inttypes.h>

int imp_enh_only_line(const srvline *s) {
    switch (s->kind) {
    case SRVLINE_ENH_BANNER:
    case SRVLINE_ENH_REUSE_SIZE:
    case SRVLINE_ENH_ALREADY_FREED:
    case SRVLINE_ENH_FREE_UNTRACKED:
    case SRVLINE_ENH_LAST_EVENTS:
    case SRVLINE_ENH_HISTORY:
    case SRVLINE_ENH_DF_FOUND:
    case SRVLINE_ENH_DF_TITLE:
    case SRVLINE_ENH_DF_BUFFER:
    case SRVLINE_ENH_DF_TOTALS:
    case SRVLINE_ENH_DF_HISTORY:
    case SRVLINE_ENH_STATS_KB:
        return 1;
    default:
        return 0; /* SRVLINE_ENH_EVENT alone is too plain to tell */
    }
}

/* (device, id) folded into one map key (the map only needs a stable, well-spread key; two
 * keys colliding merely merge their dedup). */
static uint64_t df_key(int32_t dev, uint64_t id) {
    uint64_t k = id ^ ((uint64_t)(uint32_t)dev * 0x9E3779B97F4A7C15ull);
    return k ? k : 1;
}

void imp_enh_df_line(imp *x, const srvline *s) {
    if (s->kind == SRVLINE_ENH_DF_BUFFER) {
        x->df_have = 1;
        x->df_dev = s->device_id;
        x->df_id = s->buffer_id;
        x->df_line = x->line;
        return;
    }
    if (s->kind != SRVLINE_ENH_DF_TOTALS || !x->df_have)
        return;
    x->df_have = 0;
    uint64_t key = df_key(x->df_dev, x->df_id);
    uint32_t seen;
    int had = imp_map_get(&x->df_seen, key, &seen);
    uint32_t frees = s->count > UINT32_MAX - 1 ? UINT32_MAX - 1 : (uint32_t)s->count;
    if (had && seen == frees)
        return; /* the same report again (shutdown) */
    if (!had)
        x->r->double_freed++;
    if (imp_map_put(&x->df_seen, key, frees) < 0) {
        x->oom = 1;
        return;
    }
    imp_finding(x, x->df_line, "the server reports buffer 0x%" PRIx64 " on device %d DOUBLE-FREED: %" PRIu64
                " allocs, %" PRIu64 " frees", x->df_id, (int)x->df_dev, s->size, s->count);
}
