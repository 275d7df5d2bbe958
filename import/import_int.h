/* import_int: the importer's internal state, shared by the files of import/ only.
 *
 * import.c replays the log (event lines, dumps, the two passes); import_util.c holds the small
 * containers (u64 map, device sets) and the warning/finding notes; import_stream.c turns
 * events into the replayable stream and the timeline rows. Not part of the public API.
 */
#ifndef ALLOCSIM_IMPORT_INT_H
#define ALLOCSIM_IMPORT_INT_H

#include <stdarg.h>

#include "import.h"
#include "ledger.h"
#include "srvline.h"

/* The dumper process's recorded pid: a value no real process has. */
#define IMPORT_DUMPER_PID INT32_MIN

/* u64 -> u32 map (open addressing, linear probing, no deletion). */
typedef struct {
    uint64_t *keys;
    uint32_t *vals; /* value + 1; 0 = empty slot */
    size_t cap, n;
} u64map;

/* ---- importer state --------------------------------------------------------------------- */

typedef struct {
    int32_t pid;
    uint32_t *lcs; /* lifecycles with a live entry this pid may own (deduplicated at the tail) */
    size_t n, cap;
    int proc;      /* stream process index, -1 before its first event */
    int crashed;   /* cleaned up as dead: the stream has crashed its stand-in */
    int stale_warned;
} pidinfo;

typedef struct {
    uint64_t v[4];
    int seen;
    uint64_t cbk[2]; /* CB and kernel totals from the v144 lines, bytes */
} tl_last;

typedef struct {
    const import_opts *o;
    const char *name;
    import_result *r;
    ledger *led;
    int max_devices;
    u64map ids;   /* buffer id -> current lifecycle */
    u64map pidmap; /* (uint32) pid -> pidinfo index */
    pidinfo *pinfo;
    size_t npinfo, pinfo_cap;
    size_t bcap, dcap, wcap, fcap;
    dumpview_parser *parser;
    int have_dump;          /* r->dumps[ndumps - 1] is being read */
    size_t pending_request; /* a request line seen while another report was being read */
    size_t line;
    int oom;
    tl_last *last;          /* max_devices entries */
    uint8_t *capacity_done; /* max_devices entries */
    /* stream */
    int last_conn;
    int unfenced;
    int dumper;
    /* dead-process block being read */
    int dead_pending;
    int32_t dead_pid;
    uint64_t dead_removed;
    int pre_v72_noted;
    int stream_full;
    size_t event_lines;
    /* enhanced dialect: the DOUBLE-FREED report being read (import_enh.c) */
    int df_have;
    int32_t df_dev;
    uint64_t df_id;
    size_t df_line;
    u64map df_seen; /* hash of (device, id) -> frees already reported */
} imp;

/* u64 map: get returns 1 and sets *v when k is present; put returns -1 when out of memory. */
int imp_map_get(const u64map *m, uint64_t k, uint32_t *v);
int imp_map_put(u64map *m, uint64_t k, uint32_t v);
void imp_map_release(u64map *m);

/* Sorted device sets. add returns -1 when out of memory. */
size_t imp_devset_pos(const import_devset *s, int32_t d);
int imp_devset_has(const import_devset *s, int32_t d);
int imp_devset_add(import_devset *s, int32_t d, int32_t owner);
void imp_devset_del(import_devset *s, int32_t d);
void imp_devset_release(import_devset *s);

/* Warnings (malformed lines) and findings (state disagreements), "LOG:LINE: ..." */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
void imp_warn(imp *x, size_t line, const char *fmt, ...);
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
void imp_finding(imp *x, size_t line, const char *fmt, ...);

/* PIDs named by event lines (pid_get adds; NULL when out of memory). */
pidinfo *imp_pid_find(imp *x, int32_t pid);
pidinfo *imp_pid_get(imp *x, int32_t pid);

/* The replayable stream (no-ops unless want_stream). */
void imp_st_write(imp *x, int32_t pid, const proto_msg *m);
void imp_st_dump(imp *x);
void imp_st_crash(imp *x, pidinfo *p);

/* The enhanced dialect (import_enh.c): whether a line is one only allocation_server_enhanced
 * prints, and its DOUBLE-FREED report lines (findings, one per (device, id) and frees count). */
int imp_enh_only_line(const srvline *s);
void imp_enh_df_line(imp *x, const srvline *s);

/* Timeline rows for one device / every device seen (no-ops unless want_timeline). */
void imp_tl_device(imp *x, int32_t dev);
void imp_tl_cbk(imp *x, const srvline *s); /* a v144 CB/kernel line: `#cbk` when a total changed */
void imp_tl_all_devices(imp *x);

#endif
