/* device: device presets, the per-device memory map and TT-Metal's sizing rules.
 *
 * A dev_config describes one mesh of identical chips (lock-step: one address space per
 * region shared by every device). Presets follow tt-memory-model.md §3 (era: late 2025);
 * every field can be overridden by a scenario before dev_layout_compute.
 */
#ifndef ALLOCSIM_DEVICE_H
#define ALLOCSIM_DEVICE_H

#include <stddef.h>
#include <stdint.h>

#define DEV_MAX_DEVICES 256

typedef enum { DEV_ARCH_WORMHOLE_B0 = 2, DEV_ARCH_BLACKHOLE = 3 } dev_arch;

/* Regions of one device; each maps to the buffer type reported on the wire. */
typedef enum {
    DEV_REGION_DRAM = 0,     /* buffer type 0 */
    DEV_REGION_L1 = 1,       /* buffer type 1 */
    DEV_REGION_L1_SMALL = 2, /* buffer type 3 */
    DEV_REGION_TRACE = 3,    /* buffer type 4 */
    DEV_REGION_COUNT = 4
} dev_region;

typedef struct {
    char preset[16];            /* "n150", "n300", "t3k", "galaxy", "p150", "p300" */
    dev_arch arch;
    int num_devices;
    int mesh_rows, mesh_cols;
    int device_order[DEV_MAX_DEVICES]; /* device ids in the order a mesh allocation reports them */
    uint32_t dram_banks;        /* 12 Wormhole, 8 Blackhole */
    uint64_t dram_bank_size;    /* 1 GiB Wormhole, 4 GiB - 16 MiB Blackhole */
    uint32_t dram_alignment;    /* 32 Wormhole, 64 Blackhole */
    uint32_t l1_alignment;      /* 16 */
    uint64_t l1_size_per_core;  /* 1 499 136 Wormhole, 1 572 864 Blackhole */
    uint32_t l1_banks;          /* compute cores: 64 N150, 56 N300/T3K chip, 70 Galaxy, 110/130 BH */
    uint64_t l1_unreserved_base;/* first CB address: 101 152 Wormhole (calibrated) */
    uint64_t trace_region_size; /* rounded up to dram_alignment by dev_layout_compute */
    uint64_t l1_small_size;     /* rounded up to dram_alignment by dev_layout_compute */
    int profiler;               /* Tracy build: reserves the DRAM profiler region */
    uint32_t profiler_cores;    /* max_tensix + max_eth, for the profiler region size */
    /* SHM tracking of the TT-Metal build that runs this mesh (docs/shm-transport.md); 0 is
     * the default everywhere, so presets need not set them. */
    uint8_t shm_layout;         /* 0: v4; else shml_version + 1 (sim/shm_layout.h) */
    uint8_t shm_sub;            /* v4 sub-variant: 0 v4c, else shmm_subvariant */
    uint8_t shm_per_pid;        /* 0 on, 1 on, 2 off: per-process slots */
    uint8_t shm_l1a_padding;    /* v1-A: 0/1 8640 bytes (padding[64] kept), 2 8576 */
    uint8_t shm_version_check;  /* v2/v3 EEXIST version check: 0 default (on), 1 on, 2 off */
    uint8_t shm_claim_cas;      /* v2/v3 slot claim by CAS: 0 default (on), 1 on, 2 off */
    uint8_t shm_idle_reset;     /* v4b/v4c reset_aggregates_if_idle: 0 sub-variant's default, 1 on, 2 off */
    uint8_t shm_cb_update;      /* v4a/v4b/v4c update_from_allocator: 0 sub-variant's default, 1 absolute, 2 delta */
    uint8_t shm_cb_era;         /* v1-K CB/kernel frames: 0/1 records (era G2), 2 update_from_allocator (era C) */
    uint8_t shm_cb_rate_limit_set; /* 1: shm_cb_rate_limit_ns replaces the 100 ms of the absolute variant */
    uint64_t shm_cb_rate_limit_ns; /* absolute update_from_allocator's interval; 0 = no limit */
} dev_config;

typedef struct {
    uint64_t offset, size;
} dev_range;

/* Byte ranges of every region inside one bank (DRAM, TRACE) or one core's L1 (L1, L1_SMALL). */
typedef struct {
    uint64_t dram_unreserved_base;
    dev_range region[DEV_REGION_COUNT];
} dev_layout;

/* What a server's device detection learns about one chip of a preset's mesh (protocol.md §4.9):
 * the DRAM views and their size, L1 per core, the compute grid (the L1 bank count as x × y),
 * the totals the server derives (DRAM = channels × size per channel, L1 = per core × x × y) and
 * whether the chip is reached over Ethernet rather than PCIe. */
typedef struct {
    dev_arch arch;
    uint32_t num_dram_channels;
    uint64_t dram_size_per_channel;
    uint64_t l1_size_per_core;
    uint32_t grid_x, grid_y;
    uint64_t total_dram_size, total_l1_size;
    int remote;
} dev_chip_info;

/* Fills *out for chip `chip` (0 <= chip < cfg->num_devices) of the configuration. Remote chips:
 * the second chip of each N300 card (n300: chip 1; t3k: chips 4..7); every chip of the other
 * presets is local. */
void dev_chip_info_get(const dev_config *cfg, int chip, dev_chip_info *out);

/* The architecture as TT-Metal prints it: "Wormhole_B0" or "Blackhole" ("Unknown" else). */
const char *dev_arch_name(dev_arch arch);

/* Fills *out with a preset. Returns 0, or -1 if the name is unknown. */
int dev_preset(const char *name, dev_config *out);

/* Comma-separated preset names, for error messages. */
const char *dev_preset_names(void);

/* Checks that the configuration is usable (regions fit, counts in range, alignments powers
 * of two, device_order a permutation). Returns 0, or -1 with a message in err. */
int dev_config_validate(const dev_config *cfg, char *err, size_t errlen);

/* Computes the memory map (tt-memory-model.md §2). Precondition: cfg validated. */
void dev_layout_compute(const dev_config *cfg, dev_layout *out);

/* The buffer type byte a region reports (0, 1, 3, 4). */
uint8_t dev_region_buffer_type(dev_region r);

/* Region name as used in scenarios and timelines: "DRAM", "L1", "L1_SMALL", "TRACE". */
const char *dev_region_name(dev_region r);

/* Bytes one buffer consumes in every bank (tt-memory-model.md §4.3):
 * ceil(pages / banks) * round_up(page_size, region alignment), where pages = size/page_size
 * (rounded up if page_size does not divide size) and banks = the region's bank count, or
 * shard_cores when shard_cores > 0 (sharded). The allocator rounds the result up to
 * dram_alignment. page_size 0 means one page of the whole size. */
uint64_t dev_bank_footprint(const dev_config *cfg, dev_region r, uint64_t size, uint64_t page_size,
                            uint32_t shard_cores);

/* Trace buffers (tt-memory-model.md §5): the page size end_trace_capture picks for a trace of
 * `unpadded` bytes (1024, 2048 or 4096; minimal round-up to page * banks, ties to the larger
 * page), and the padded size reported (a multiple of that page, pre-2026 rule). */
uint64_t dev_trace_page_size(const dev_config *cfg, uint64_t unpadded);
uint64_t dev_trace_padded_size(const dev_config *cfg, uint64_t unpadded);

#endif
