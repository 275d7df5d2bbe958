/* shm_plan: what a plan writes into TT-Metal's per-chip SHM regions, and the regions a
 * correct run leaves at every check point.
 *
 * The SHM transport (docs/shm-transport.md) consumes the same plan as the socket transport.
 * shmp_build derives from it the SHM operations each simulated process performs, in plan
 * order: PLAN_OPEN attaches the process to the region of every device of the mesh
 * (shmm_attach), every ALLOC / FREE frame becomes record_allocation / record_deallocation on
 * the chip of its device_id with the per-device size and the type of the buffer (a FREE
 * frame carries only the id: the size and type are those of the same process's latest live
 * ALLOC of that id on that device), CB frames become records in v1-K (era G2) and, in later
 * layouts (and v1-K with shm_cb_era=update, era C), one update_from_allocator per program and
 * device carrying the process's live CB
 * bytes on that device (§4.7), PLAN_CLOSE detaches (the destructor at Device::close()),
 * CRASH and EXIT end the process without a destructor (TT-Metal's destructor runs only at
 * close). It then runs the writer model (shm_model) over a plain image of every region and
 * keeps the expected images at every dump, so a live run can be compared byte for byte
 * (shmm_expect_mask) and a dry run can print the expected region state.
 *
 * Regions are named as the era names them (shm-tracking.md §3.1): a composite
 * (board_id << 8) | asic_location in the v1 layouts, a 64-bit chip_unique_id from v2 on;
 * board ids and unique ids are drawn from the seed, so one preset and one seed always give
 * the same names. Pure computation: no I/O.
 */
#ifndef ALLOCSIM_SHM_PLAN_H
#define ALLOCSIM_SHM_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "dumpview.h"
#include "plan.h"
#include "sbuf.h"
#include "scn.h"
#include "shm_layout.h"
#include "shm_model.h"

#define SHMP_NAME_MAX 48

/* One region file: one physical chip as one era names it. */
typedef struct {
    uint64_t id;               /* the id in the name (decimal) */
    int32_t device_id;         /* logical device id */
    shml_version layout;       /* layout of the first writer build that opens it */
    char name[SHMP_NAME_MAX];  /* "tt_device_<id>_memory" (no directory, no slash) */
} shmp_chip;

/* SHMP_CB_UPDATE: update_from_allocator(device, pid) after a program's CBs were allocated or
 * freed on the chip (layouts after v1-K, and v1-K in era C: §4.7); size is the process's
 * live CB bytes there. */
typedef enum { SHMP_ATTACH = 0, SHMP_ALLOC, SHMP_FREE, SHMP_DETACH, SHMP_CB_UPDATE } shmp_kind;

/* One SHM operation of one process. */
typedef struct {
    shmp_kind kind;
    int proc;       /* plan process */
    int chip;       /* index into shm_plan.chips */
    int mesh;       /* mesh declaration: the writer build is cfgs[mesh] */
    uint64_t size;  /* ALLOC, FREE: bytes (per device); CB_UPDATE: the CB figure published */
    uint8_t type;   /* ALLOC, FREE: ShmBufferType (0 DRAM, 1 L1, 2 SYSTEM_MEMORY, 3 L1_SMALL, 4 TRACE) */
    size_t step;    /* the plan step that produced it */
} shmp_op;

/* The regions at one moment: for each chip its bytes (SHMM_FILE_CAPACITY each), file size
 * and whether the file exists. */
typedef struct {
    uint8_t *bytes;
    size_t *size;
    uint8_t *exists;
} shmp_image;

typedef struct {
    int nmeshes;
    shmm_config *cfgs;     /* the writer build of each mesh declaration */
    int nchips;
    shmp_chip *chips;
    shmp_op *ops;
    size_t nops;
    size_t *step_ops;      /* nsteps + 1 entries: step i produced ops [step_ops[i], step_ops[i+1]) */
    size_t nsteps;
    shmp_image *dumps;     /* expected regions at each plan dump (before its DUMP step) */
    size_t ndumps;
    shmp_image final;      /* after the last step */
} shm_plan;

/* The writer build a mesh's options describe (shm_layout, shm_per_pid, ..., shm_cb_update,
 * shm_cb_rate_limit). */
void shmp_config_of(const dev_config *cfg, shmm_config *out);

/* 1 if a mesh's CB and kernel frames are one record each (v1-K in era G2, the default), 0 if
 * CBs go through update_from_allocator and kernels are not recorded (every other layout, and
 * v1-K with shm_cb_era=update: era C / G3). */
int shmp_cb_records(const dev_config *cfg);

/* The id in the region name of logical device `device` of a mesh (§3.1): v1 layouts a
 * composite id, v2+ a chip_unique_id, both drawn from the seed and the preset. */
uint64_t shmp_chip_id(const dev_config *cfg, shml_version v, uint64_t seed, int device);

/* Derives the SHM operations of plan p (built with keep_steps from script s) and runs the
 * model over them. Returns 0, or -1 with a message in err (host out of memory). */
int shmp_build(const scn_script *s, const plan *p, shm_plan *out, char *err, size_t errlen);

void shmp_release(shm_plan *sp);

/* The image of chip c in im. */
static inline const uint8_t *shmp_image_bytes(const shmp_image *im, int c) {
    return im->bytes + (size_t)c * SHMM_FILE_CAPACITY;
}

/* Appends a readable rendering of the bytes the model determines in one region (len bytes
 * of layout v): header fields, totals, used chip slots, used process slots (pids as process
 * names through name(), timestamps left out), init_state in v4. Stable text for goldens.
 * A region that does not decode as v is rendered as the reason. */
void shmp_render_region(shml_version v, const uint8_t *bytes, size_t len, dumpview_pid_name_fn name,
                        void *name_ctx, sbuf *out);

/* Rewrites, in a copy of a live region, every process slot pid for which map() returns a
 * different non-zero pid (live pid -> simulated pid), so it can be compared with the model. */
typedef int32_t (*shmp_pid_map_fn)(void *ctx, int32_t pid);
void shmp_map_pids(shml_version v, uint8_t *bytes, size_t len, shmp_pid_map_fn map, void *ctx);

#endif
