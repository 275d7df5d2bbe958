/* fuzz_shm_layout: libFuzzer target for the region decoder path of `allocsim shm`: arbitrary
 * bytes as a region file go through detection, decoding, the invariant checks and every
 * renderer (table rows, details, JSON, watch line). Nothing may crash, read out of bounds or
 * leak; liveness is fixed (every pid dead) so runs are deterministic.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "sbuf.h"
#include "shm_check.h"
#include "shm_scan.h"
#include "shm_show.h"

static shmm_pid_state all_dead(void *ctx, int32_t pid) {
    (void)ctx;
    (void)pid;
    return SHMM_PID_DEAD;
}

static shms_file file;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > sizeof file.bytes)
        size = sizeof file.bytes;
    memset(&file, 0, sizeof file);
    memcpy(file.bytes, data, size);
    file.size = file.nbytes = size;
    snprintf(file.path, sizeof file.path, "tt_device_0_memory");
    file.name = file.path;
    shmv_options vo = {"t3k", all_dead, NULL};
    sbuf out = SBUF_INIT;
    if (shms_decode(&file)) {
        shmc_options co;
        memset(&co, 0, sizeof co);
        co.pid_state = all_dead;
        co.dram_capacity = 1u << 30;
        co.l1_capacity = 1u << 20;
        shmc_report rep;
        shmc_check(&file, &co, &rep);
        shmv_chip_row(&file, &vo, &out);
        shmv_process_rows(&file, &vo, &out);
        shmv_details(&file, &vo, &out);
    }
    shmv_json(&file, &vo, &out);
    shmv_plain_line(&file, &vo, 0, &out);
    sbuf_release(&out);
    return 0;
}
