/* srv: the reference server's socket, threads, framing and output (see srv.h).
 *
 * Threads: the caller of srv_run accepts connections; each connection has a detached thread
 * that reads whole frames and hands them to the ledger under ledger_lock; one timer thread
 * runs the dead-PID cleanup and the statistics block. The connection list exists only so that
 * stopping can shut every connection down and wait for its thread before the ledger is freed.
 * Lock order: conn_lock and timer_lock are never held while taking ledger_lock.
 */
#include "srv.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "framing.h"
#include "ledger.h"
#include "mem.h"
#include "standin.h"

#define SRV_STATS_DEFAULT_MS 10000u
/* Per-connection input buffer: many frames per read(2) when a client streams. */
#define SRV_READ_BUFFER 16384
/* Longest interval accepted on the command line: keeps milliseconds inside uint32_t. */
#define SRV_INTERVAL_MAX_S 1000000.0

typedef struct srv_conn {
    struct srv *server;
    int fd;
    struct srv_conn *prev, *next;
} srv_conn;

struct srv {
    srv_config cfg;
    ledger *ledger;
    pthread_mutex_t ledger_lock;

    int listen_fd;
    int wake_fd[2]; /* srv_stop writes a byte to [1]; the accept loop polls [0] */
    dev_t sock_dev;
    ino_t sock_ino;

    pthread_mutex_t conn_lock;
    pthread_cond_t conn_idle; /* signalled when nconns drops to 0 */
    srv_conn *conns;
    size_t nconns;

    pthread_mutex_t timer_lock;
    pthread_cond_t timer_wake; /* CLOCK_MONOTONIC */
    int timer_stop;
    pthread_t timer_thread;
    int timer_running;
};

/* ---- configuration and command line ----------------------------------------------------- */

uint32_t srv_default_cleanup_ms(proto_rev rev) {
    return proto_rev_get(rev)->frame_size == 144 ? 3000u : 5000u;
}

void srv_config_defaults(srv_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->rev = PROTO_V72;
    snprintf(cfg->socket_path, sizeof cfg->socket_path, "%s", SRV_DEFAULT_SOCKET);
    cfg->cleanup_interval_ms = SRV_INTERVAL_DEFAULT;
    cfg->stats_interval_ms = SRV_INTERVAL_DEFAULT;
    cfg->out_fd = 1;
    cfg->err_fd = 2;
}

const char *srv_usage(void) {
    return "Usage: allocsim-server [--protocol REV] [--socket PATH] [--quiet]\n"
           "                       [--cleanup-interval SECONDS] [--stats-interval SECONDS]\n"
           "                       [--dialect poc|enhanced] [--devices PRESET]\n"
           "                       [--fault NAME]... [--help]\n"
           "\n"
           "allocsim's reference TT-Metal allocation server: prints what the real\n"
           "allocation_server_poc prints, for the chosen protocol revision.\n"
           "\n"
           "  --protocol REV            v72 (default), v112, v112-hex, v144, v144-256\n"
           "  --socket PATH             socket to bind (default /tmp/tt_allocation_server.sock)\n"
           "  -q, --quiet               print nothing at all\n"
           "  --cleanup-interval SECS   dead-process cleanup period (default 5, 3 for v144\n"
           "                            and v144-256; 0 disables; fractions allowed)\n"
           "  --stats-interval SECS     statistics block period (default 10; 0 disables)\n"
           "  --dialect poc|enhanced    print what allocation_server_poc (default) or\n"
           "                            allocation_server_enhanced prints (v72 only)\n"
           "  --devices PRESET          detect the chips of n150, n300, t3k, galaxy, p150 or\n"
           "                            p300 (banner, DEVICE_INFO); default none\n"
           "  --fault NAME              plant a defect (testing the harness only):\n"
           "                            keep-trace, refcount, no-bounds, sigpipe,\n"
           "                            bad-device, single-recv, silent-after=N;\n"
           "                            repeatable\n"
           "  -h, --help                show this help\n"
           "\n"
           "SIGINT or SIGTERM prints the statistics block, stops the server, removes the\n"
           "socket file and exits with status 0. Startup failures exit with status 1, bad\n"
           "usage with status 2.\n";
}

/* Parses a duration in seconds ("5", "0.25") into milliseconds. 0 stays 0; any positive
 * value is at least 1 ms. Returns 0, or -1 if text is not a number in [0, 1e6]. */
static int srv_parse_seconds(const char *text, uint32_t *out_ms) {
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    int leading_ok = (text[0] >= '0' && text[0] <= '9') || text[0] == '.';
    if (!leading_ok || errno != 0 || end == text || *end != '\0' || !isfinite(v) ||
        v > SRV_INTERVAL_MAX_S)
        return -1;
    double ms = floor(v * 1000.0 + 0.5);
    if (v > 0.0 && ms < 1.0)
        ms = 1.0;
    *out_ms = (uint32_t)ms;
    return 0;
}

static int srv_parse_fault(const char *name, srv_config *cfg) {
    unsigned *faults = &cfg->faults;
    if (strncmp(name, "silent-after=", 13) == 0) {
        char *end = NULL;
        errno = 0;
        unsigned long n = strtoul(name + 13, &end, 10);
        if (name[13] < '1' || name[13] > '9' || errno != 0 || *end != '\0' || n > 1000000)
            return -1;
        *faults |= SRV_FAULT_SILENT_AFTER;
        cfg->silent_after_allocs = (unsigned)n;
        return 0;
    }
    if (strcmp(name, "keep-trace") == 0)
        *faults |= LEDGER_FAULT_KEEP_TRACE;
    else if (strcmp(name, "refcount") == 0)
        *faults |= LEDGER_FAULT_REFCOUNT;
    else if (strcmp(name, "no-bounds") == 0)
        *faults |= LEDGER_FAULT_NO_BOUNDS;
    else if (strcmp(name, "sigpipe") == 0)
        *faults |= SRV_FAULT_SIGPIPE;
    else if (strcmp(name, "bad-device") == 0)
        *faults |= SRV_FAULT_BAD_DEVICE;
    else if (strcmp(name, "single-recv") == 0)
        *faults |= SRV_FAULT_SINGLE_RECV;
    else
        return -1;
    return 0;
}

/* Matches option `name` in "--name VALUE" or "--name=VALUE" form. Returns 1 and sets *value
 * (advancing *i past a separate value), 0 if argv[*i] is another option, -1 if the value is
 * missing. */
static int srv_match_valued(int argc, char *const argv[], int *i, const char *name,
                            const char **value) {
    const char *arg = argv[*i];
    size_t n = strlen(name);
    if (strncmp(arg, name, n) != 0)
        return 0;
    if (arg[n] == '=') {
        *value = arg + n + 1;
        return 1;
    }
    if (arg[n] != '\0')
        return 0;
    if (*i + 1 >= argc)
        return -1;
    *i += 1;
    *value = argv[*i];
    return 1;
}

srv_args_result srv_parse_args(int argc, char *const argv[], srv_config *cfg, char *err,
                               size_t err_len) {
    static const char *const valued[] = {"--protocol", "--socket", "--cleanup-interval",
                                         "--stats-interval", "--fault", "--dialect",
                                         "--devices"};
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
            return SRV_ARGS_HELP;
        if (strcmp(arg, "--quiet") == 0 || strcmp(arg, "-q") == 0) {
            cfg->quiet = 1;
            continue;
        }
        const char *value = NULL;
        size_t which = 0;
        int m = 0;
        for (; which < sizeof valued / sizeof valued[0]; which++) {
            m = srv_match_valued(argc, argv, &i, valued[which], &value);
            if (m != 0)
                break;
        }
        if (m < 0) {
            snprintf(err, err_len, "expected a value after %s, found the end of the arguments",
                     valued[which]);
            return SRV_ARGS_ERROR;
        }
        if (m == 0) {
            snprintf(err, err_len, "expected an option, found '%s'", arg);
            return SRV_ARGS_ERROR;
        }
        switch (which) {
        case 0:
            if (proto_rev_parse(value, &cfg->rev) != 0) {
                snprintf(err, err_len, "--protocol: expected one of %s, found '%s'",
                         proto_rev_names(), value);
                return SRV_ARGS_ERROR;
            }
            break;
        case 1:
            if (value[0] == '\0' || strlen(value) >= sizeof cfg->socket_path) {
                snprintf(err, err_len,
                         "--socket: expected a path of 1 to %zu bytes, found %zu bytes",
                         sizeof cfg->socket_path - 1, strlen(value));
                return SRV_ARGS_ERROR;
            }
            snprintf(cfg->socket_path, sizeof cfg->socket_path, "%s", value);
            break;
        case 2:
        case 3:
            if (srv_parse_seconds(value, which == 2 ? &cfg->cleanup_interval_ms
                                                    : &cfg->stats_interval_ms) != 0) {
                snprintf(err, err_len, "%s: expected seconds (a number from 0 to %.0f), found '%s'",
                         valued[which], SRV_INTERVAL_MAX_S, value);
                return SRV_ARGS_ERROR;
            }
            break;
        case 5:
            if (strcmp(value, "poc") == 0) {
                cfg->dialect = LEDGER_DIALECT_POC;
            } else if (strcmp(value, "enhanced") == 0) {
                cfg->dialect = LEDGER_DIALECT_ENHANCED;
            } else {
                snprintf(err, err_len, "--dialect: expected poc or enhanced, found '%s'", value);
                return SRV_ARGS_ERROR;
            }
            break;
        case 6:
            if (strcmp(value, "none") == 0) {
                cfg->have_devices = 0;
            } else if (dev_preset(value, &cfg->devices) == 0) {
                cfg->have_devices = 1;
            } else {
                snprintf(err, err_len, "--devices: expected one of %s or none, found '%s'",
                         dev_preset_names(), value);
                return SRV_ARGS_ERROR;
            }
            break;
        default:
            if (srv_parse_fault(value, cfg) != 0) {
                snprintf(err, err_len,
                         "--fault: expected keep-trace, refcount, no-bounds, sigpipe, bad-device, single-recv or "
                         "silent-after=N (N 1..1000000), found '%s'", value);
                return SRV_ARGS_ERROR;
            }
            break;
        }
    }
    if (cfg->dialect == LEDGER_DIALECT_ENHANCED && cfg->rev != PROTO_V72) {
        snprintf(err, err_len, "--dialect enhanced: the enhanced server speaks only --protocol v72, "
                 "found --protocol %s", proto_rev_get(cfg->rev)->name);
        return SRV_ARGS_ERROR;
    }
    if (cfg->have_devices && (cfg->rev == PROTO_V72 || cfg->dialect == LEDGER_DIALECT_ENHANCED)) {
        snprintf(err, err_len, "--devices: expected --protocol v112, v112-hex, v144 or v144-256 "
                 "(the %s server detects no devices)",
                 cfg->dialect == LEDGER_DIALECT_ENHANCED ? "enhanced" : "v72");
        return SRV_ARGS_ERROR;
    }
    return SRV_ARGS_RUN;
}

/* ---- output ------------------------------------------------------------------------------ */

static uint64_t srv_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Writes all of buf unless the descriptor fails (a closed pipe: the line is lost, like the
 * real server's output to a vanished terminal). Returns 0 or -1. */
static int srv_write_all(int fd, const void *buf, size_t len) {
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* One write(2) per line (text + '\n'), so concurrent lines never mix. */
static void srv_write_line(int fd, const char *line, size_t len) {
    char stack[512];
    char *buf = stack;
    if (len + 1 > sizeof stack) {
        buf = mem_alloc(len + 1);
        if (!buf) {
            srv_write_all(fd, line, len);
            srv_write_all(fd, "\n", 1);
            return;
        }
    }
    memcpy(buf, line, len);
    buf[len] = '\n';
    srv_write_all(fd, buf, len + 1);
    if (buf != stack)
        mem_free(buf);
}

static void srv_emit(void *ctx, ledger_stream stream, const char *line, size_t len) {
    srv *s = ctx;
    srv_write_line(stream == LEDGER_STDERR ? s->cfg.err_fd : s->cfg.out_fd, line, len);
}

/* Lines the transport prints itself (the real server prints them without the lock). */
static void srv_print_err(srv *s, const char *line) {
    if (!s->cfg.quiet)
        srv_write_line(s->cfg.err_fd, line, strlen(line));
}

/* ---- connections ------------------------------------------------------------------------- */

/* Sends a whole reply; MSG_NOSIGNAL because a client that closed early must not kill us
 * (unless SRV_FAULT_SIGPIPE plants exactly that defect). */
static int srv_send_all(int fd, const uint8_t *buf, size_t len, unsigned faults) {
    int flags = (faults & SRV_FAULT_SIGPIPE) ? 0 : MSG_NOSIGNAL;
    while (len > 0) {
        ssize_t n = send(fd, buf, len, flags);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Handles one complete frame under the ledger lock. Returns the ledger's result. */
static int srv_apply_frame(srv *s, const uint8_t *frame, size_t frame_size, proto_msg *reply) {
    proto_msg msg;
    proto_decode(s->cfg.rev, frame, frame_size, &msg);
    if ((s->cfg.faults & SRV_FAULT_BAD_DEVICE) && msg.type == PROTO_ALLOC &&
        (msg.device_id < 0 || msg.device_id >= proto_rev_get(s->cfg.rev)->max_devices))
        raise(SIGSEGV);
    pthread_mutex_lock(&s->ledger_lock);
    ledger_set_time(s->ledger, srv_now_ns());
    int result = ledger_apply(s->ledger, &msg, reply);
    pthread_mutex_unlock(&s->ledger_lock);
    return result;
}

static void srv_conn_finish(srv_conn *c) {
    srv *s = c->server;
    pthread_mutex_lock(&s->conn_lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->nconns--;
    if (s->nconns == 0)
        pthread_cond_broadcast(&s->conn_idle);
    /* Closed under the lock so srv_run never shuts down a recycled descriptor number. */
    close(c->fd);
    pthread_mutex_unlock(&s->conn_lock);
    mem_free(c);
}

/* Reads as much as the client has sent (fewer system calls than one read per frame) and
 * handles every whole frame in it; bytes of an incomplete frame wait for the next read. EOF,
 * even mid-frame, or an error ends the connection silently. */
static void *srv_conn_main(void *arg) {
    srv_conn *c = arg;
    srv *s = c->server;
    const size_t frame_size = proto_rev_get(s->cfg.rev)->frame_size;
    uint8_t in[SRV_READ_BUFFER];
    uint8_t out[PROTO_MAX_FRAME];
    size_t start = 0, end = 0; /* unhandled bytes are in[start, end) */
    int consecutive_errors = 0;
    unsigned allocs = 0; /* SRV_FAULT_SILENT_AFTER: consecutive ALLOCs just handled here */
    if (s->cfg.faults & SRV_FAULT_SINGLE_RECV) /* a first short read is completed with zeros */
        memset(in, 0, frame_size);

    for (;;) {
        if ((s->cfg.faults & SRV_FAULT_SILENT_AFTER) && allocs >= s->cfg.silent_after_allocs) {
            /* Deaf: every byte is read (the client's queue drains) and nothing is handled,
             * answered or printed, like a handler stuck after reading its input. */
            ssize_t n = read(c->fd, in, sizeof in);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            continue;
        }
        if (s->cfg.faults & SRV_FAULT_SINGLE_RECV) {
            /* The real server's framing: whatever one recv() returns is a frame. */
            ssize_t n = recv(c->fd, in, frame_size, 0);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            start = 0;
            end = frame_size;
        } else if (end - start < frame_size) {
            memmove(in, in + start, end - start);
            end -= start;
            start = 0;
            ssize_t n = read(c->fd, in + end, sizeof in - end);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            end += (size_t)n;
            continue;
        }
        proto_msg reply;
        int result = srv_apply_frame(s, in + start, frame_size, &reply);
        if (result == LEDGER_RESYNC) {
            if (++consecutive_errors >= FRAMING_MAX_ERRORS) {
                srv_print_err(s, FRAMING_TOO_MANY_ERRORS_LINE);
                break;
            }
            start += 1; /* drop one byte and judge the frame that starts at the next one */
            continue;
        }
        consecutive_errors = 0;
        if (s->cfg.faults & SRV_FAULT_SILENT_AFTER) {
            proto_msg m;
            proto_decode(s->cfg.rev, in + start, frame_size, &m);
            allocs = m.type == PROTO_ALLOC ? allocs + 1 : 0; /* a run of ALLOCs, nothing between */
        }
        start += frame_size;
        if (result == LEDGER_REPLY) {
            size_t n = proto_encode(s->cfg.rev, &reply, out);
            if (srv_send_all(c->fd, out, n, s->cfg.faults) != 0)
                break;
        }
    }
    srv_conn_finish(c);
    return NULL;
}

/* Waits up to ms for srv_stop; used to back off when accept cannot get a descriptor. */
static void srv_pause(srv *s, int ms) {
    struct pollfd p = {s->wake_fd[0], POLLIN, 0};
    poll(&p, 1, ms);
}

static void srv_accept_one(srv *s) {
    int fd = accept(s->listen_fd, NULL, NULL);
    if (fd < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED)
            return;
        srv_print_err(s, "Accept failed");
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
            srv_pause(s, 100);
        return;
    }
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0 && (flags & O_NONBLOCK))
        fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);

    srv_conn *c = mem_alloc(sizeof *c);
    if (!c) {
        close(fd);
        return;
    }
    c->server = s;
    c->fd = fd;
    c->prev = NULL;

    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_mutex_lock(&s->conn_lock);
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    pthread_t tid;
    int rc = pthread_create(&tid, &attr, srv_conn_main, c);
    pthread_mutex_unlock(&s->conn_lock);
    pthread_attr_destroy(&attr);
    if (rc != 0)
        srv_conn_finish(c); /* out of threads: drop this client, keep serving the others */
}

/* Shuts every connection down and waits until each thread has finished. */
static void srv_close_connections(srv *s) {
    pthread_mutex_lock(&s->conn_lock);
    for (srv_conn *c = s->conns; c; c = c->next)
        shutdown(c->fd, SHUT_RDWR);
    while (s->nconns > 0)
        pthread_cond_wait(&s->conn_idle, &s->conn_lock);
    pthread_mutex_unlock(&s->conn_lock);
}

/* ---- timer: dead-PID cleanup and statistics --------------------------------------------- */

static void srv_deadline_add(struct timespec *t, uint32_t ms) {
    t->tv_sec += (time_t)(ms / 1000u);
    t->tv_nsec += (long)(ms % 1000u) * 1000000L;
    if (t->tv_nsec >= 1000000000L) {
        t->tv_sec += 1;
        t->tv_nsec -= 1000000000L;
    }
}

static int srv_deadline_passed(const struct timespec *deadline) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > deadline->tv_sec ||
           (now.tv_sec == deadline->tv_sec && now.tv_nsec >= deadline->tv_nsec);
}

static int srv_timespec_before(const struct timespec *a, const struct timespec *b) {
    return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* Runs one periodic job under the ledger lock. */
static void srv_run_job(srv *s, int stats) {
    pthread_mutex_lock(&s->ledger_lock);
    ledger_set_time(s->ledger, srv_now_ns());
    if (stats)
        ledger_print_stats(s->ledger);
    else
        ledger_cleanup(s->ledger);
    pthread_mutex_unlock(&s->ledger_lock);
}

static void *srv_timer_main(void *arg) {
    srv *s = arg;
    const uint32_t periods[2] = {s->cfg.cleanup_interval_ms, s->cfg.stats_interval_ms};
    struct timespec next[2];
    for (int j = 0; j < 2; j++) {
        clock_gettime(CLOCK_MONOTONIC, &next[j]);
        srv_deadline_add(&next[j], periods[j]);
    }
    pthread_mutex_lock(&s->timer_lock);
    while (!s->timer_stop) {
        int soonest = -1;
        for (int j = 0; j < 2; j++)
            if (periods[j] > 0 && (soonest < 0 || srv_timespec_before(&next[j], &next[soonest])))
                soonest = j;
        if (soonest < 0) {
            pthread_cond_wait(&s->timer_wake, &s->timer_lock);
            continue;
        }
        if (!srv_deadline_passed(&next[soonest])) {
            pthread_cond_timedwait(&s->timer_wake, &s->timer_lock, &next[soonest]);
            continue;
        }
        pthread_mutex_unlock(&s->timer_lock);
        srv_run_job(s, soonest == 1);
        pthread_mutex_lock(&s->timer_lock);
        srv_deadline_add(&next[soonest], periods[soonest]);
        /* A job that overran its period (a stalled output pipe) must not fire in a burst. */
        if (srv_deadline_passed(&next[soonest])) {
            clock_gettime(CLOCK_MONOTONIC, &next[soonest]);
            srv_deadline_add(&next[soonest], periods[soonest]);
        }
    }
    pthread_mutex_unlock(&s->timer_lock);
    return NULL;
}

static void srv_timer_stop(srv *s) {
    if (!s->timer_running)
        return;
    pthread_mutex_lock(&s->timer_lock);
    s->timer_stop = 1;
    pthread_cond_broadcast(&s->timer_wake);
    pthread_mutex_unlock(&s->timer_lock);
    pthread_join(s->timer_thread, NULL);
    s->timer_running = 0;
}

/* ---- lifecycle ----------------------------------------------------------------------------- */

static void srv_set_err(char *err, size_t err_len, const char *text) {
    if (err_len > 0)
        snprintf(err, err_len, "%s", text);
}

static int srv_init_sync(srv *s) {
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0)
        return -1;
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&s->timer_wake, &ca);
    pthread_condattr_destroy(&ca);
    if (rc != 0)
        return -1;
    pthread_mutex_init(&s->ledger_lock, NULL);
    pthread_mutex_init(&s->conn_lock, NULL);
    pthread_mutex_init(&s->timer_lock, NULL);
    pthread_cond_init(&s->conn_idle, NULL);
    return 0;
}

static int srv_open_pipe(int fds[2]) {
    if (pipe(fds) != 0)
        return -1;
    for (int i = 0; i < 2; i++) {
        fcntl(fds[i], F_SETFD, FD_CLOEXEC);
        fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
    }
    return 0;
}

/* socket, unconditional unlink, bind, listen(128): the real server's order (§3.1). */
static const char *srv_open_socket(srv *s) {
    s->listen_fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (s->listen_fd < 0)
        return "Error: Failed to create socket";
    fcntl(s->listen_fd, F_SETFD, FD_CLOEXEC);
    /* Non-blocking so a client that gives up between poll and accept cannot block us. */
    fcntl(s->listen_fd, F_SETFL, fcntl(s->listen_fd, F_GETFL) | O_NONBLOCK);
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", s->cfg.socket_path);
    unlink(s->cfg.socket_path);
    if (bind(s->listen_fd, (struct sockaddr *)&addr, sizeof addr) != 0)
        return "Error: Failed to bind socket";
    if (listen(s->listen_fd, 128) != 0)
        return "Error: Failed to listen on socket";
    struct stat st;
    if (stat(s->cfg.socket_path, &st) == 0) {
        s->sock_dev = st.st_dev;
        s->sock_ino = st.st_ino;
    }
    return NULL;
}

srv *srv_new(const srv_config *cfg, char *err, size_t err_len) {
    srv *s = mem_calloc(1, sizeof *s);
    if (!s) {
        srv_set_err(err, err_len, "Error: out of memory");
        return NULL;
    }
    s->cfg = *cfg;
    s->cfg.socket_path[sizeof s->cfg.socket_path - 1] = '\0';
    if (s->cfg.cleanup_interval_ms == SRV_INTERVAL_DEFAULT)
        s->cfg.cleanup_interval_ms = srv_default_cleanup_ms(cfg->rev);
    if (s->cfg.stats_interval_ms == SRV_INTERVAL_DEFAULT)
        s->cfg.stats_interval_ms = SRV_STATS_DEFAULT_MS;
    s->listen_fd = -1;
    s->wake_fd[0] = s->wake_fd[1] = -1;
    if (srv_init_sync(s) != 0) {
        mem_free(s);
        srv_set_err(err, err_len, "Error: out of memory");
        return NULL;
    }

    ledger_config lc;
    memset(&lc, 0, sizeof lc);
    lc.rev = cfg->rev;
    lc.emit = cfg->quiet ? NULL : srv_emit;
    lc.emit_ctx = s;
    lc.is_dead = standin_pid_dead;
    lc.dead_ctx = NULL;
    lc.faults = cfg->faults & ~SRV_FAULTS_TRANSPORT;
    lc.dialect = cfg->dialect;
    lc.devices = s->cfg.have_devices ? &s->cfg.devices : NULL;
    s->ledger = ledger_new(&lc);
    const char *fail = NULL;
    if (!s->ledger)
        fail = "Error: out of memory";
    else if (srv_open_pipe(s->wake_fd) != 0)
        fail = "Error: Failed to create socket";
    else
        fail = srv_open_socket(s);
    if (fail) {
        srv_set_err(err, err_len, fail);
        srv_free(s);
        return NULL;
    }
    return s;
}

void srv_stop(srv *s) {
    int saved = errno;
    if (s->wake_fd[1] >= 0) {
        ssize_t n = write(s->wake_fd[1], "x", 1);
        (void)n; /* a full pipe already holds a stop request */
    }
    errno = saved;
}

static void srv_accept_loop(srv *s) {
    for (;;) {
        struct pollfd p[2] = {{s->wake_fd[0], POLLIN, 0}, {s->listen_fd, POLLIN, 0}};
        if (poll(p, 2, -1) < 0) {
            if (errno != EINTR)
                srv_pause(s, 10);
            continue;
        }
        if (p[0].revents)
            return;
        if (p[1].revents & POLLIN)
            srv_accept_one(s);
    }
}

/* Removes the socket file only if it is still the one this server bound: a second server on
 * the same path must not lose its socket when the first one stops. */
static void srv_unlink_own_socket(srv *s) {
    struct stat st;
    if (stat(s->cfg.socket_path, &st) == 0 && st.st_dev == s->sock_dev &&
        st.st_ino == s->sock_ino && S_ISSOCK(st.st_mode))
        unlink(s->cfg.socket_path);
}

int srv_run(srv *s, char *err, size_t err_len) {
    int rc = 0;
    pthread_mutex_lock(&s->ledger_lock);
    ledger_set_time(s->ledger, srv_now_ns());
    ledger_print_startup(s->ledger, s->cfg.socket_path);
    pthread_mutex_unlock(&s->ledger_lock);

    if (pthread_create(&s->timer_thread, NULL, srv_timer_main, s) == 0) {
        s->timer_running = 1;
        srv_accept_loop(s);
    } else {
        srv_set_err(err, err_len, "cannot start the cleanup thread");
        rc = -1;
    }

    close(s->listen_fd);
    s->listen_fd = -1;
    srv_close_connections(s);
    pthread_mutex_lock(&s->ledger_lock);
    ledger_set_time(s->ledger, srv_now_ns());
    ledger_print_stats(s->ledger);
    pthread_mutex_unlock(&s->ledger_lock);
    srv_timer_stop(s);
    srv_unlink_own_socket(s);
    pthread_mutex_lock(&s->ledger_lock);
    ledger_print_shutdown(s->ledger);
    pthread_mutex_unlock(&s->ledger_lock);
    return rc;
}

void srv_free(srv *s) {
    if (!s)
        return;
    srv_timer_stop(s);
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    for (int i = 0; i < 2; i++)
        if (s->wake_fd[i] >= 0)
            close(s->wake_fd[i]);
    if (s->ledger)
        ledger_free(s->ledger);
    pthread_cond_destroy(&s->timer_wake);
    pthread_cond_destroy(&s->conn_idle);
    pthread_mutex_destroy(&s->ledger_lock);
    pthread_mutex_destroy(&s->conn_lock);
    pthread_mutex_destroy(&s->timer_lock);
    mem_free(s);
}
