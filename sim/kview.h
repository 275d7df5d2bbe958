/* kview: a DUMP_KERNELS report (protocol.md §5.9) as data — parse, compare, expect.
 *
 * The v144 server prints its kernel registry on DUMP_KERNELS: a title frame, `Total kernel
 * allocations: N`, then per device with kernels (ascending) `📊 Device d - Total: MB MB (n
 * kernels)` and one box per kernel (id in hex, size in KB, owner pid, age in seconds), and
 * `📋 DUMP_KERNELS complete.`. The model (the ledger) renders the same lines, so one parser
 * reads both; a comparison checks every field but the ages (wall-clock seconds on a real
 * server), kernels as a set per device (the real server prints them in hash-map order), pids
 * as process names. `expect kernels ...` statements are evaluated here too, on either view.
 */
#ifndef ALLOCSIM_KVIEW_H
#define ALLOCSIM_KVIEW_H

#include <stddef.h>
#include <stdint.h>

#include "dumpview.h"
#include "sbuf.h"

struct scn_expect;

typedef struct {
    int32_t dev;
    uint64_t id;
    char kb[32];   /* the size as printed (KB, %g) */
    int32_t pid;
} kview_kernel;

typedef struct {
    int32_t dev;
    uint64_t n;    /* kernels, as the device line says */
    char mb[32];   /* its total as printed (MB, %g) */
} kview_device;

typedef struct {
    uint64_t total;      /* Total kernel allocations */
    kview_device *dev;   /* in report order */
    size_t ndev, capdev;
    kview_kernel *k;     /* in report order */
    size_t nk, cap;
    int complete;        /* the completion line was read */
} kview;

/* Parses the lines of one report (any text around it is skipped: noise, other server
 * lines). Returns 0, or -1 with `line N: expected ..., found ...` in err (a malformed report
 * line, or out of memory). *v is valid (release it) either way. */
int kview_parse(const char *text, size_t len, kview *v, char *err, size_t errlen);

void kview_release(kview *v);

/* Compares want (the model) with got (a server) field by field except ages: the total, the
 * device lines (devices, counts, MB totals), and per device the set of kernels (id, KB,
 * owner as a process name through each side's mapper). Appends one line per difference to
 * why; returns the number of differences. */
size_t kview_compare(const kview *want, dumpview_pid_name_fn want_name, void *want_ctx, const kview *got,
                     dumpview_pid_name_fn got_name, void *got_ctx, sbuf *why);

/* Evaluates an `expect kernels ...` statement (SCN_EXPECT_KTOTAL, _KGROUPS, _KHAS, _KLACKS) on
 * v over the devices of bits (DEV_MAX_DEVICES bits). Returns 1 if it holds, else 0 with the
 * reason appended to why. */
int kview_expect_eval(const struct scn_expect *e, const uint64_t *bits, const kview *v, dumpview_pid_name_fn name,
                      void *name_ctx, sbuf *why);

#endif
