/* shm_scan: finding and reading the SHM tracking regions of a directory.
 *
 * A directory (/dev/shm on a real machine, a private one in tests and the fuzzer) holds
 * regions named tt_device_<id>_memory (shm-tracking.md §3.1). shms_list lists them sorted by
 * id; shms_load reads one with read(2) (never mmap: a file not yet ftruncated would SIGBUS,
 * §7.25), detects its layout (shml_detect) and decodes it. A file that cannot be used —
 * missing, not a regular file, unreadable, too short, too long, an unknown version, bytes of
 * no layout — is reported in the entry's error text (one line, naming nothing but the
 * reason: callers prefix the path), never by failing the scan. Also: process liveness as the
 * readers see it, and the byte formats the region tools print.
 */
#ifndef ALLOCSIM_SHM_SCAN_H
#define ALLOCSIM_SHM_SCAN_H

#include <stddef.h>
#include <stdint.h>

#include "shm_layout.h"
#include "shm_model.h"

#define SHMS_PATH_MAX 4096

/* One region file, read. */
typedef struct {
    char path[SHMS_PATH_MAX];
    const char *name;       /* the file name inside path */
    int has_id;             /* the name is tt_device_<decimal>_memory */
    uint64_t file_id;       /* that decimal id */
    size_t size;            /* file size (st_size) */
    int ok;                 /* 1: decoded; 0: see error */
    char error[256];        /* why the file cannot be used (one line, no path) */
    shml_detection det;     /* layout detection (valid when ok) */
    shml_version layout;    /* det.best */
    int size_matches;       /* size is a valid size of the layout */
    shml_region region;     /* decoded (valid when ok) */
    uint8_t bytes[SHMM_FILE_CAPACITY]; /* the first min(size, capacity) bytes */
    size_t nbytes;
} shms_file;

/* A sorted list of region file names. */
typedef struct {
    char **names; /* owned, sorted by id then by name */
    size_t count;
} shms_list_t;

/* 1 if name looks like a region (tt_device_*_memory); *id set when the middle is decimal. */
int shms_name_is_region(const char *name, int *has_id, uint64_t *id);

/* Lists the region files of dir. Returns 0, or -1 with a message in err (directory cannot be
 * opened, out of memory). */
int shms_list(const char *dir, shms_list_t *out, char *err, size_t errlen);
void shms_list_free(shms_list_t *l);

/* Reads and decodes dir/name (or path when dir is NULL) into *f. Returns 1 if f->ok, 0 if
 * the file is bad (f->error says why). Never fails otherwise. */
int shms_load(const char *dir, const char *name, shms_file *f);

/* Decodes bytes already in f->bytes (f->nbytes, f->size set): detection and decoding, as
 * shms_load does after reading. Used by the record sampler and the fuzzer. */
int shms_decode(shms_file *f);

/* "0B", "512B", "1.5KiB", "12.0GiB": tt_smi @613a74f6's byte format (§6.2), into buf. */
char *shms_bytes(uint64_t v, char *buf, size_t len);

/* The process name of a slot as printable text (non-printing bytes as '?', at most 63). */
void shms_slot_name(const shml_process *p, char *buf, size_t len);

/* Capacity of one chip in bytes for the tt_smi DRAM and L1 columns, from a device preset
 * ("t3k", ...; NULL or "" = unknown = 0). chip indexes the preset's chips (clamped). Returns
 * 0, or -1 if the preset is unknown. */
int shms_capacity(const char *preset, int chip, uint64_t *dram, uint64_t *l1);

#endif
