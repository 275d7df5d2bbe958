/* srvproc: the allocation server as a process the harness owns, or one it attaches to.
 *
 * Owned mode starts any server command (the real allocation_server_poc, which takes no
 * arguments and binds the hard-coded /tmp/tt_allocation_server.sock, or the built-in
 * reference server started the same way) in its own process group, with stdout and stderr
 * on pipes that a reader thread drains continuously: the real server writes while holding its
 * registry lock, so a full pipe would stall every client. Output is kept as a log of lines,
 * each tagged with its stream and arrival order, assembled from the fragments the server
 * writes. The process is watched the whole time, so a server that dies is reported as such
 * ("killed by signal 11 (SIGSEGV)") rather than as a connect error.
 *
 * Isolation: the hard-coded path is redirected to a private socket in a private directory by
 * an LD_PRELOAD shim (liballocsim_shim.so). When the binary cannot take a preload (static or
 * setuid), the run instead holds an exclusive lock on /tmp/allocsim-hardcoded-socket.lock and
 * uses the hard-coded path, after checking that no live server is listening there; a note
 * says so. Either way a user's live server is never touched by a shimmed run.
 *
 * Attach mode connects to a server someone else runs (--socket PATH) and follows its log
 * file (--server-log FILE) from the file's size at attach time, like tail -f.
 */
#ifndef ALLOCSIM_SRVPROC_H
#define ALLOCSIM_SRVPROC_H

#include <stddef.h>
#include <sys/types.h>

#include "proto.h"
#include "sbuf.h"

#define SRVPROC_HARDCODED_SOCKET "/tmp/tt_allocation_server.sock"
#define SRVPROC_LOCK_PATH "/tmp/allocsim-hardcoded-socket.lock"
#define SRVPROC_SHIM_ENV "ALLOCSIM_SOCKET_PATH"

typedef enum {
    SRVPROC_ISOLATE_AUTO = 0, /* the shim if the binary can take it, else the lock */
    SRVPROC_ISOLATE_SHIM,     /* the shim or fail */
    SRVPROC_ISOLATE_LOCK      /* the lock and the hard-coded path */
} srvproc_isolation;

typedef struct {
    /* Server command line, run as /bin/sh -c 'exec COMMAND'. NULL: the reference server
     * (allocsim-server next to the harness, see srvproc_reference_path) with --protocol. */
    const char *command;
    proto_rev rev;                  /* the reference server's --protocol */
    const char *const *extra_args;  /* reference server: more arguments, NULL-terminated */
    /* An owned server that binds this path itself (no isolation, no shim). NULL: isolate. */
    const char *socket_path;
    srvproc_isolation isolation;
    int lock_timeout_ms;            /* how long to wait for another run's lock (default 60 s) */
} srvproc_config;

typedef enum { SRVPROC_OUT = 1, SRVPROC_ERR = 2 } srvproc_stream;

typedef struct {
    const char *text; /* the line without '\n', NUL-terminated */
    size_t len;
    srvproc_stream stream;
    size_t index;     /* arrival sequence number over both streams */
} srvproc_line;

typedef struct srvproc srvproc;

/* Starts an owned server (does not wait for it to be ready: see srvproc_wait_ready).
 * Returns 0 and *out, or -1 with the reason in err (no process is left running). The server
 * gets SIGTERM if the thread that called this dies (PR_SET_PDEATHSIG), so call it from a
 * thread that outlives the server. */
int srvproc_start(const srvproc_config *cfg, srvproc **out, char *err, size_t errlen);

/* Attaches to a server that someone else runs. log_path may be NULL (no output: dumps cannot
 * be read). Returns 0 and *out, or -1 with err. */
int srvproc_attach(const char *socket_path, const char *log_path, srvproc **out, char *err,
                   size_t errlen);

/* Waits until the socket accepts a connection (tried every few ms) or the server exits, at
 * most timeout_ms. In shim mode, a server that never accepts on the private path while the
 * hard-coded path changed is reported as "the socket shim did not apply". Returns 0 when ready; -1 with the cause in err: "server exited with status 3 before
 * accepting connections", "... not ready within 10000 ms", each followed by the log tail. */
int srvproc_wait_ready(srvproc *p, int timeout_ms, char *err, size_t errlen);

/* The socket path clients use (private in shim mode). */
const char *srvproc_socket_path(const srvproc *p);

/* A note for the user about how the run was isolated, or NULL. Valid while p lives. */
const char *srvproc_note(const srvproc *p);

/* pid of the owned server, or 0 in attach mode. */
pid_t srvproc_pid(const srvproc *p);

/* 1 if the owned server has exited (reaped: *wstatus set when not NULL), else 0. In attach
 * mode always 0. Never blocks. */
int srvproc_exited(srvproc *p, int *wstatus);

/* Waits up to timeout_ms for the server to exit; 1 if it has, 0 if not (or attach mode). */
int srvproc_wait_exit(srvproc *p, int timeout_ms, int *wstatus);

/* Describes a wait status in words: "exited with status 1", "killed by signal 11 (SIGSEGV)",
 * "killed by signal 6 (SIGABRT), core dumped". */
void srvproc_describe_status(int wstatus, char *buf, size_t len);

/* "running (pid 1234)", "exited with status 3", "attached to PATH (not owned)". */
void srvproc_describe(srvproc *p, char *buf, size_t len);

/* Stops an owned server: SIGTERM to its process group, up to term_timeout_ms, then SIGKILL.
 * Returns 0 if it exited after SIGTERM, 1 if SIGKILL was needed, 2 if it had already exited,
 * 3 in attach mode (nothing to stop). report receives what happened in words, for example
 * "stopped by SIGTERM: exited with status 0" or "did not stop within 2000 ms of SIGTERM;
 * killed by signal 9 (SIGKILL)". */
int srvproc_stop(srvproc *p, int term_timeout_ms, char *report, size_t len);

/* Stops the server if it still runs (SIGTERM, 2 s, SIGKILL), joins the reader, removes the
 * private directory, releases the lock and frees p. NULL-safe. */
void srvproc_free(srvproc *p);

/* ---- the log ----------------------------------------------------------------------------- */

/* Index one past the last complete line received so far. */
size_t srvproc_log_end(srvproc *p);

/* Copies line idx (text into out, without '\n'). Returns 0, or -1 if idx was trimmed or has
 * not arrived. */
int srvproc_log_get(srvproc *p, size_t idx, sbuf *out, srvproc_stream *stream);

/* Appends lines [from, to) of the given streams (SRVPROC_OUT | SRVPROC_ERR) to out, each
 * followed by '\n'. Trimmed or missing lines are skipped. */
void srvproc_log_text(srvproc *p, size_t from, size_t to, int streams, sbuf *out);

/* Appends the last n lines to out, prefixed "out| " or "err| ", for failure reports. */
void srvproc_log_tail(srvproc *p, size_t n, sbuf *out);

/* Line predicate for srvproc_wait_line; runs with the log locked, must not call srvproc. */
typedef int (*srvproc_line_pred)(const srvproc_line *line, void *ctx);

typedef enum {
    SRVPROC_FOUND = 0,
    SRVPROC_TIMEOUT = 1,
    SRVPROC_DIED = 2 /* the server exited and its output is drained; no match */
} srvproc_wait_result;

/* Waits until a line with index >= from satisfies pred, at most timeout_ms.
 * On SRVPROC_FOUND *found (if not NULL) is its index. */
srvproc_wait_result srvproc_wait_line(srvproc *p, size_t from, srvproc_line_pred pred,
                                      void *ctx, int timeout_ms, size_t *found);

/* Frees the lines before index `before` (their indices stay unused). For long runs. */
void srvproc_log_trim(srvproc *p, size_t before);

/* ---- locating the built-in parts ----------------------------------------------------------- */

/* Path of allocsim-server: $ALLOCSIM_BIN/allocsim-server, else the build's
 * ALLOCSIM_SERVER_PATH, else next to the running program. Returns 0 or -1 with err. */
int srvproc_reference_path(char *buf, size_t len, char *err, size_t errlen);

/* Path of liballocsim_shim.so: $ALLOCSIM_SHIM, else $ALLOCSIM_BIN/../lib/, else the build's
 * ALLOCSIM_SHIM_PATH, else ../lib next to the running program. 0 or -1 with err. */
int srvproc_shim_path(char *buf, size_t len, char *err, size_t errlen);

/* 1 if the ELF executable at path can take an LD_PRELOAD (dynamically linked, not setuid or
 * setgid), 0 if not (why explains), -1 if it cannot be read (why explains). A file that is
 * not ELF (a script) counts as 1: its interpreter takes the preload. */
int srvproc_preload_possible(const char *path, char *why, size_t whylen);

#endif
