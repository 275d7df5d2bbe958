/* kreport: the DUMP_KERNELS reports a server printed, cut out of its log.
 *
 * A v144 server answers DUMP_KERNELS (protocol.md §5.9) with a report on stdout that starts
 * with the 64-wide frame around `DETAILED KERNEL ALLOCATIONS` and ends with `📋 DUMP_KERNELS
 * complete.`; it prints it under its registry lock, so the report's lines are contiguous in
 * the server's stdout. The k-th report in the log answers the k-th DUMP_KERNELS frame (fences
 * order frames across connections). Like dumps, reports are cut from the log after the run:
 * this module waits until the wanted number of completion lines has arrived and returns the
 * text of each report (its frame top up to its completion line), for kview_parse.
 */
#ifndef ALLOCSIM_KREPORT_H
#define ALLOCSIM_KREPORT_H

#include <stddef.h>

#include "sbuf.h"
#include "srvproc.h"

/* Collects the first n DUMP_KERNELS reports printed at or after log line `from`, waiting up
 * to timeout_ms for each completion line. texts[0..n) receive the reports (append; each
 * line '\n'-terminated). Returns the number found (< n when the server did not print them
 * all in time, with the reason in err, or died). */
size_t kreport_collect(srvproc *srv, size_t from, size_t n, int timeout_ms, sbuf *texts, char *err, size_t errlen);

#endif
