/* device: device presets, the per-device memory map and TT-Metal's sizing rules (see device.h).
 *
 * Numbers come from tt-memory-model.md: hardware facts from §3, the DRAM and L1 maps from
 * §2.1 / §2.2, per-bank footprints from §4.3 and the trace page and padding rules from §5
 * (pre-2026 behaviour, the era of the allocation-server branch). Everything here is pure
 * arithmetic on a dev_config; nothing allocates.
 */
#include "device.h"

#include <stdio.h>
#include <string.h>

#define DEV_GIB 1073741824ull

/* Wormhole B0, tt-memory-model.md §3. */
#define DEV_WH_DRAM_BANKS 12u
#define DEV_WH_DRAM_BANK_SIZE DEV_GIB
#define DEV_WH_DRAM_ALIGN 32u
#define DEV_WH_L1_SIZE 1499136ull
#define DEV_WH_L1_UNRESERVED 101152ull /* observed first CB address, branch era (§11.1) */
/* max_tensix + max_eth = 80 + 16: ceil(96 / 12 banks) = 8 -> profiler region 64 000 x 5 x 8. */
#define DEV_WH_PROFILER_CORES 96u

/* Blackhole, tt-memory-model.md §3. */
#define DEV_BH_DRAM_BANKS 8u
#define DEV_BH_DRAM_BANK_SIZE 4278190080ull
#define DEV_BH_DRAM_ALIGN 64u
#define DEV_BH_L1_SIZE 1572864ull
/* Not calibrated (no Blackhole log yet). Placeholder derived like Wormhole's: the Wormhole
 * value 101 152 = MEM_MAP_END + 69 KiB aligned to 32; assuming the same MEM_MAP_END and
 * aligning to Blackhole's max(DRAM 64, L1 16) alignment gives 101 184. Replace with the first
 * CB address of a real Blackhole log (§11.2 item 3). */
#define DEV_BH_L1_UNRESERVED 101184ull
/* max_tensix + max_eth = 140 + 14: ceil(154 / 8 banks) = 20 -> profiler region 64 000 x 5 x 20. */
#define DEV_BH_PROFILER_CORES 154u

#define DEV_L1_ALIGN 16u
#define DEV_DRAM_BARRIER_BYTES 4u
#define DEV_PROFILER_PER_RISC_BYTES 64000ull /* 2 x (2 + 4 + 2) x 1000 x 4 */
#define DEV_PROFILER_RISCS 5ull

static uint64_t dev_round_up(uint64_t v, uint64_t align) { return (v + align - 1) / align * align; }

static uint64_t dev_ceil_div(uint64_t a, uint64_t b) { return a / b + (a % b != 0); }

static int dev_is_pow2(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

static void dev_fill_wormhole(dev_config *c, const char *name, int rows, int cols, uint32_t l1_banks) {
    memset(c, 0, sizeof *c);
    snprintf(c->preset, sizeof c->preset, "%s", name);
    c->arch = DEV_ARCH_WORMHOLE_B0;
    c->num_devices = rows * cols;
    c->mesh_rows = rows;
    c->mesh_cols = cols;
    for (int i = 0; i < c->num_devices; i++)
        c->device_order[i] = i;
    c->dram_banks = DEV_WH_DRAM_BANKS;
    c->dram_bank_size = DEV_WH_DRAM_BANK_SIZE;
    c->dram_alignment = DEV_WH_DRAM_ALIGN;
    c->l1_alignment = DEV_L1_ALIGN;
    c->l1_size_per_core = DEV_WH_L1_SIZE;
    c->l1_banks = l1_banks;
    c->l1_unreserved_base = DEV_WH_L1_UNRESERVED;
    c->profiler_cores = DEV_WH_PROFILER_CORES;
}

static void dev_fill_blackhole(dev_config *c, const char *name, int rows, int cols) {
    dev_fill_wormhole(c, name, rows, cols, 110); /* 110: P150 with firmware >= 19.5.0 */
    c->arch = DEV_ARCH_BLACKHOLE;
    c->dram_banks = DEV_BH_DRAM_BANKS;
    c->dram_bank_size = DEV_BH_DRAM_BANK_SIZE;
    c->dram_alignment = DEV_BH_DRAM_ALIGN;
    c->l1_size_per_core = DEV_BH_L1_SIZE;
    c->l1_unreserved_base = DEV_BH_L1_UNRESERVED;
    c->profiler_cores = DEV_BH_PROFILER_CORES;
}

int dev_preset(const char *name, dev_config *out) {
    if (strcmp(name, "n150") == 0) {
        dev_fill_wormhole(out, name, 1, 1, 64);
    } else if (strcmp(name, "n300") == 0) {
        dev_fill_wormhole(out, name, 1, 2, 56);
    } else if (strcmp(name, "t3k") == 0) {
        /* Device order of mesh allocations observed in a real T3K log (§1, §11.1). */
        static const int t3k_order[8] = {4, 0, 3, 7, 6, 2, 1, 5};
        dev_fill_wormhole(out, name, 2, 4, 56);
        memcpy(out->device_order, t3k_order, sizeof t3k_order);
    } else if (strcmp(name, "galaxy") == 0) {
        dev_fill_wormhole(out, name, 8, 4, 70);
    } else if (strcmp(name, "p150") == 0) {
        dev_fill_blackhole(out, name, 1, 1);
    } else if (strcmp(name, "p300") == 0) {
        dev_fill_blackhole(out, name, 1, 2);
    } else {
        return -1;
    }
    return 0;
}

/* The compute grid whose cores are the L1 banks: 64 = 8x8 (N150), 56 = 8x7 (N300 chip),
 * 70 = 7x10 (Galaxy, column dispatch), 110 = 11x10 (Blackhole, 2 columns harvested). */
static void dev_grid(uint32_t banks, uint32_t *x, uint32_t *y) {
    if (banks >= 70 && banks % 10 == 0) {
        *x = banks / 10;
        *y = 10;
    } else if (banks % 8 == 0) {
        *x = 8;
        *y = banks / 8;
    } else {
        *x = banks;
        *y = 1;
    }
}

void dev_chip_info_get(const dev_config *cfg, int chip, dev_chip_info *out) {
    memset(out, 0, sizeof *out);
    out->arch = cfg->arch;
    out->num_dram_channels = cfg->dram_banks;
    out->dram_size_per_channel = cfg->dram_bank_size;
    out->l1_size_per_core = cfg->l1_size_per_core;
    dev_grid(cfg->l1_banks, &out->grid_x, &out->grid_y);
    out->total_dram_size = (uint64_t)cfg->dram_banks * cfg->dram_bank_size;
    out->total_l1_size = cfg->l1_size_per_core * out->grid_x * out->grid_y;
    if (strcmp(cfg->preset, "n300") == 0 || strcmp(cfg->preset, "t3k") == 0)
        out->remote = chip >= cfg->num_devices / 2; /* each N300 card: one PCIe chip, one remote */
}

const char *dev_arch_name(dev_arch arch) {
    switch (arch) {
    case DEV_ARCH_WORMHOLE_B0:
        return "Wormhole_B0";
    case DEV_ARCH_BLACKHOLE:
        return "Blackhole";
    default:
        return "Unknown";
    }
}

const char *dev_preset_names(void) { return "n150, n300, t3k, galaxy, p150, p300"; }

/* Profiler bytes reserved at the bottom of every DRAM bank (0 unless profiler is on). */
static uint64_t dev_profiler_bytes(const dev_config *cfg) {
    if (!cfg->profiler)
        return 0;
    uint64_t per_bank_cores = dev_ceil_div(cfg->profiler_cores, cfg->dram_banks);
    return dev_round_up(DEV_PROFILER_PER_RISC_BYTES * DEV_PROFILER_RISCS * per_bank_cores,
                        cfg->dram_alignment);
}

static uint64_t dev_dram_unreserved_base(const dev_config *cfg) {
    return dev_round_up(DEV_DRAM_BARRIER_BYTES, cfg->dram_alignment) + dev_profiler_bytes(cfg);
}

int dev_config_validate(const dev_config *cfg, char *err, size_t errlen) {
#define DEV_FAIL(...)                                                                           \
    do {                                                                                        \
        if (errlen > 0)                                                                         \
            snprintf(err, errlen, __VA_ARGS__);                                                 \
        return -1;                                                                              \
    } while (0)
    if (cfg->arch != DEV_ARCH_WORMHOLE_B0 && cfg->arch != DEV_ARCH_BLACKHOLE)
        DEV_FAIL("unknown architecture %d (expected 2 Wormhole B0 or 3 Blackhole)", (int)cfg->arch);
    if (cfg->num_devices < 1 || cfg->num_devices > DEV_MAX_DEVICES)
        DEV_FAIL("num_devices %d is out of range 1..%d", cfg->num_devices, DEV_MAX_DEVICES);
    if (cfg->mesh_rows < 1 || cfg->mesh_cols < 1 ||
        (long)cfg->mesh_rows * cfg->mesh_cols != cfg->num_devices)
        DEV_FAIL("mesh shape %dx%d does not hold %d devices", cfg->mesh_rows, cfg->mesh_cols,
                 cfg->num_devices);
    unsigned char seen[DEV_MAX_DEVICES];
    memset(seen, 0, sizeof seen);
    for (int i = 0; i < cfg->num_devices; i++) {
        int d = cfg->device_order[i];
        if (d < 0 || d >= cfg->num_devices)
            DEV_FAIL("device_order entry %d is device %d, outside 0..%d", i, d, cfg->num_devices - 1);
        if (seen[d])
            DEV_FAIL("device_order lists device %d twice", d);
        seen[d] = 1;
    }
    if (cfg->dram_banks < 1)
        DEV_FAIL("dram_banks must be at least 1");
    if (cfg->l1_banks < 1)
        DEV_FAIL("l1_banks must be at least 1");
    if (!dev_is_pow2(cfg->dram_alignment))
        DEV_FAIL("dram_alignment %u is not a power of two", cfg->dram_alignment);
    if (!dev_is_pow2(cfg->l1_alignment))
        DEV_FAIL("l1_alignment %u is not a power of two", cfg->l1_alignment);
    if (cfg->dram_bank_size == 0 || cfg->dram_bank_size % cfg->dram_alignment != 0)
        DEV_FAIL("dram_bank_size %llu is not a positive multiple of dram_alignment %u",
                 (unsigned long long)cfg->dram_bank_size, cfg->dram_alignment);
    if (cfg->profiler && cfg->profiler_cores < 1)
        DEV_FAIL("profiler is on but profiler_cores is 0");
    uint64_t base = dev_dram_unreserved_base(cfg);
    if (cfg->trace_region_size > cfg->dram_bank_size)
        DEV_FAIL("trace_region_size %llu exceeds the DRAM bank size %llu",
                 (unsigned long long)cfg->trace_region_size, (unsigned long long)cfg->dram_bank_size);
    uint64_t trace = dev_round_up(cfg->trace_region_size, cfg->dram_alignment);
    if (base > cfg->dram_bank_size || trace > cfg->dram_bank_size - base)
        DEV_FAIL("trace_region_size %llu (aligned to %llu) does not fit above "
                 "dram_unreserved_base %llu in the DRAM bank size %llu",
                 (unsigned long long)cfg->trace_region_size, (unsigned long long)trace,
                 (unsigned long long)base, (unsigned long long)cfg->dram_bank_size);
    if (cfg->l1_size_per_core == 0 || cfg->l1_size_per_core % cfg->dram_alignment != 0)
        DEV_FAIL("l1_size_per_core %llu is not a positive multiple of dram_alignment %u",
                 (unsigned long long)cfg->l1_size_per_core, cfg->dram_alignment);
    if (cfg->l1_unreserved_base >= cfg->l1_size_per_core)
        DEV_FAIL("l1_unreserved_base %llu is not below l1_size_per_core %llu",
                 (unsigned long long)cfg->l1_unreserved_base,
                 (unsigned long long)cfg->l1_size_per_core);
    if (cfg->l1_small_size > cfg->l1_size_per_core)
        DEV_FAIL("l1_small_size %llu exceeds the L1 size per core %llu",
                 (unsigned long long)cfg->l1_small_size, (unsigned long long)cfg->l1_size_per_core);
    uint64_t small = dev_round_up(cfg->l1_small_size, cfg->dram_alignment);
    if (small > cfg->l1_size_per_core - cfg->l1_unreserved_base)
        DEV_FAIL("l1_small_size %llu (aligned to %llu) does not fit above l1_unreserved_base "
                 "%llu in the L1 size per core %llu",
                 (unsigned long long)cfg->l1_small_size, (unsigned long long)small,
                 (unsigned long long)cfg->l1_unreserved_base,
                 (unsigned long long)cfg->l1_size_per_core);
    return 0;
#undef DEV_FAIL
}

void dev_layout_compute(const dev_config *cfg, dev_layout *out) {
    uint64_t trace = dev_round_up(cfg->trace_region_size, cfg->dram_alignment);
    uint64_t small = dev_round_up(cfg->l1_small_size, cfg->dram_alignment);
    uint64_t base = dev_dram_unreserved_base(cfg);
    uint64_t bank = cfg->dram_bank_size;
    uint64_t l1 = cfg->l1_size_per_core;
    out->dram_unreserved_base = base;
    out->region[DEV_REGION_DRAM] = (dev_range){base, bank - trace - base};
    out->region[DEV_REGION_TRACE] = (dev_range){bank - trace, trace};
    out->region[DEV_REGION_L1] =
        (dev_range){cfg->l1_unreserved_base, l1 - small - cfg->l1_unreserved_base};
    out->region[DEV_REGION_L1_SMALL] = (dev_range){l1 - small, small};
}

uint8_t dev_region_buffer_type(dev_region r) {
    switch (r) {
    case DEV_REGION_DRAM: return 0;
    case DEV_REGION_L1: return 1;
    case DEV_REGION_L1_SMALL: return 3;
    case DEV_REGION_TRACE: return 4;
    default: return 0xff;
    }
}

const char *dev_region_name(dev_region r) {
    switch (r) {
    case DEV_REGION_DRAM: return "DRAM";
    case DEV_REGION_L1: return "L1";
    case DEV_REGION_L1_SMALL: return "L1_SMALL";
    case DEV_REGION_TRACE: return "TRACE";
    default: return "?";
    }
}

static int dev_region_is_dram(dev_region r) { return r == DEV_REGION_DRAM || r == DEV_REGION_TRACE; }

uint64_t dev_bank_footprint(const dev_config *cfg, dev_region r, uint64_t size, uint64_t page_size,
                            uint32_t shard_cores) {
    if (size == 0)
        return 0;
    if (page_size == 0)
        page_size = size;
    uint64_t align = dev_region_is_dram(r) ? cfg->dram_alignment : cfg->l1_alignment;
    if (page_size > UINT64_MAX - align)
        return UINT64_MAX;
    uint64_t aligned_page = dev_round_up(page_size, align);
    uint64_t pages = dev_ceil_div(size, page_size);
    uint64_t banks = shard_cores > 0 ? shard_cores : dev_region_is_dram(r) ? cfg->dram_banks : cfg->l1_banks;
    uint64_t pages_per_bank = dev_ceil_div(pages, banks);
    if (pages_per_bank > UINT64_MAX / aligned_page)
        return UINT64_MAX; /* saturate: no region can hold it, the allocator reports the failure */
    return pages_per_bank * aligned_page;
}

uint64_t dev_trace_page_size(const dev_config *cfg, uint64_t unpadded) {
    static const uint64_t pages[3] = {1024, 2048, 4096};
    uint64_t best_page = pages[0], best_waste = UINT64_MAX;
    for (int i = 0; i < 3; i++) {
        uint64_t unit = pages[i] * cfg->dram_banks;
        uint64_t rem = unpadded % unit;
        uint64_t waste = rem == 0 ? 0 : unit - rem;
        if (waste <= best_waste) { /* "<=": ties go to the larger page */
            best_waste = waste;
            best_page = pages[i];
        }
    }
    return best_page;
}

uint64_t dev_trace_padded_size(const dev_config *cfg, uint64_t unpadded) {
    uint64_t page = dev_trace_page_size(cfg, unpadded);
    return dev_round_up(unpadded, page);
}
