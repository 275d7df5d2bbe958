/* srv: allocsim's reference allocation server as a library (the program is main_server.c).
 *
 * The server's state and every line it prints come from one ledger (sim/ledger.h) kept
 * behind one mutex; this module adds what the ledger cannot do: the Unix socket, one thread
 * per connection, reading whole frames despite short reads, the v144 one-byte resync, replies,
 * the background cleanup/statistics timer and the orderly stop. It starts like the real
 * server (protocol.md §3.1: socket, unconditional unlink, bind, listen(128), startup lines,
 * accept loop) and is deliberately robust where the real one is not (docs/server.md).
 *
 * Output goes to the file descriptors named in the configuration, one write(2) per whole
 * line, so lines of different threads never interleave mid-line.
 */
#ifndef ALLOCSIM_SRV_H
#define ALLOCSIM_SRV_H

#include <stddef.h>
#include <stdint.h>

#include "device.h"
#include "ledger.h"
#include "proto.h"

/* The real server's hard-coded socket path. */
#define SRV_DEFAULT_SOCKET "/tmp/tt_allocation_server.sock"

/* Interval value meaning "the revision's default" in srv_config. */
#define SRV_INTERVAL_DEFAULT UINT32_MAX

/* Planted defects of the transport, mimicking the real servers (protocol.md §8); the bits sit
 * above the LEDGER_FAULT_* ones in srv_config.faults and never reach the ledger. */
#define SRV_FAULT_SIGPIPE (1u << 16)     /* replies without MSG_NOSIGNAL, SIGPIPE not ignored */
#define SRV_FAULT_BAD_DEVICE (1u << 17)  /* an ALLOC with an out-of-range device id dies of
                                            SIGSEGV, as the unchecked device_stats_ write does */
#define SRV_FAULT_SINGLE_RECV (1u << 18) /* one recv() per frame; a short read is handled as a
                                            frame whose tail is the previous frame's bytes */
#define SRV_FAULT_SILENT_AFTER (1u << 19) /* a connection that has just had silent_after_allocs
                                            ALLOCs in a row keeps being read, never answered */
#define SRV_FAULTS_TRANSPORT (SRV_FAULT_SIGPIPE | SRV_FAULT_BAD_DEVICE | SRV_FAULT_SINGLE_RECV | SRV_FAULT_SILENT_AFTER)

typedef struct {
    proto_rev rev;
    char socket_path[108];         /* fits sockaddr_un.sun_path */
    int quiet;                     /* print nothing at all (v144's --quiet) */
    uint32_t cleanup_interval_ms;  /* dead-PID cleanup period; 0 disables */
    uint32_t stats_interval_ms;    /* statistics period; 0 disables */
    unsigned faults;               /* LEDGER_FAULT_* and SRV_FAULT_* */
    unsigned silent_after_allocs;  /* SRV_FAULT_SILENT_AFTER: N of --fault silent-after=N (1..10^6) */
    int out_fd;                    /* where stdout lines go (normally 1) */
    int err_fd;                    /* where stderr lines go (normally 2) */
    ledger_dialect dialect;        /* --dialect: poc (default) or enhanced (v72 only) */
    int have_devices;              /* --devices PRESET: detect the preset's chips */
    dev_config devices;
} srv_config;

typedef struct srv srv;

/* Fills cfg with the defaults: protocol v72, the real socket path, cleanup every 5 s
 * (3 s for the v144 family), statistics every 10 s, no faults, fds 1 and 2. Never fails. */
void srv_config_defaults(srv_config *cfg);

/* The real server's cleanup period for rev, in milliseconds (5000, or 3000 for v144). */
uint32_t srv_default_cleanup_ms(proto_rev rev);

/* What srv_parse_args decided. */
typedef enum { SRV_ARGS_RUN = 0, SRV_ARGS_HELP = 1, SRV_ARGS_ERROR = 2 } srv_args_result;

/* Parses the command line of allocsim-server (argv[0] is skipped) into cfg, which must
 * have been filled by srv_config_defaults. Returns SRV_ARGS_RUN, SRV_ARGS_HELP (--help
 * seen) or SRV_ARGS_ERROR with a one-line reason in err (err_len > 0). */
srv_args_result srv_parse_args(int argc, char *const argv[], srv_config *cfg, char *err,
                               size_t err_len);

/* The usage text of allocsim-server (several lines, each ending in '\n'). */
const char *srv_usage(void);

/* Creates the socket exactly like the real server (socket, unlink(path), bind, listen(128))
 * and an empty ledger. Prints nothing. Returns NULL on failure with the real server's
 * message in err ("Error: Failed to create socket", "Error: Failed to bind socket",
 * "Error: Failed to listen on socket", or "Error: out of memory"). */
srv *srv_new(const srv_config *cfg, char *err, size_t err_len);

/* Prints the startup lines, starts the timer thread and serves clients until srv_stop is
 * called. Then it stops accepting, closes every connection and waits for its thread, prints
 * the statistics block, stops the timer, unlinks the socket path (only if it is still the
 * socket this server bound) and prints the shutdown lines. Returns 0, or -1 with a reason
 * in err if a thread could not be started (nothing is served then). Call once. */
int srv_run(srv *s, char *err, size_t err_len);

/* Asks srv_run to stop. Async-signal-safe (one write to a pipe); may be called from any
 * thread, before or during srv_run, any number of times. */
void srv_stop(srv *s);

/* Releases everything. Precondition: srv_run has returned, or was never called. */
void srv_free(srv *s);

#endif
