/* conn: client connections with bounded waits (see conn.h).
 *
 * The socket is non-blocking; every wait is a poll() against a deadline on the monotonic
 * clock, so a hung server turns into CONN_TIMEOUT instead of a hung harness.
 */
#include "conn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds left until deadline, at least 0. */
static int left_ms(int64_t deadline) {
    int64_t l = deadline - now_ms();
    return l < 0 ? 0 : (l > 1000000000 ? 1000000000 : (int)l);
}

const char *conn_status_name(conn_status st) {
    switch (st) {
    case CONN_OK: return "ok";
    case CONN_REFUSED: return "refused";
    case CONN_CLOSED: return "closed by server";
    case CONN_TIMEOUT: return "timeout";
    case CONN_PROTOCOL: return "unexpected reply";
    case CONN_ERROR: return "error";
    }
    return "error";
}

/* Largest frame-aligned send() that the kernel queues as one buffer: AF_UNIX stream sockets
 * cut a write into buffers of at most about 36 KiB and half the send buffer. */
static void conn_set_chunk(conn *c) {
    int sndbuf = 0;
    socklen_t l = sizeof sndbuf;
    size_t cap = 32768;
    if (getsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, &l) == 0 && sndbuf > 0 &&
        (size_t)sndbuf / 2 > 64 && (size_t)sndbuf / 2 - 64 < cap)
        cap = (size_t)sndbuf / 2 - 64;
    c->max_chunk = cap / c->frame_size * c->frame_size;
    if (c->max_chunk < c->frame_size)
        c->max_chunk = c->frame_size;
}

conn_status conn_open(conn *c, const char *path, proto_rev rev, int timeout_ms, char *err,
                      size_t errlen) {
    memset(c, 0, sizeof *c);
    c->fd = -1;
    c->rev = rev;
    c->frame_size = proto_rev_get(rev)->frame_size;
    c->timeout_ms = timeout_ms > 0 ? timeout_ms : CONN_DEFAULT_TIMEOUT_MS;
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa.sun_path) {
        snprintf(err, errlen, "connect %s: expected a socket path of at most %zu bytes, found %zu",
                 path, sizeof sa.sun_path - 1, strlen(path));
        return CONN_ERROR;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int64_t deadline = now_ms() + c->timeout_ms;
    for (;;) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
            snprintf(err, errlen, "connect %s: socket: %s", path, strerror(errno));
            return CONN_ERROR;
        }
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
            c->fd = fd;
            conn_set_chunk(c);
            return CONN_OK;
        }
        int e = errno;
        close(fd);
        if (e == EAGAIN || e == EINTR) { /* listen backlog full: the server is slow to accept */
            if (left_ms(deadline) == 0) {
                snprintf(err, errlen, "connect %s: the server did not accept within %d ms", path,
                         c->timeout_ms);
                return CONN_TIMEOUT;
            }
            struct timespec ts = {0, 2000000};
            nanosleep(&ts, NULL);
            continue;
        }
        snprintf(err, errlen, "connect %s: %s", path, strerror(e));
        return (e == ENOENT || e == ECONNREFUSED) ? CONN_REFUSED : CONN_ERROR;
    }
}

/* Counts replies owed for the frames starting inside bytes[0..len) at stream offset base. */
static void count_replies(conn *c, const uint8_t *bytes, size_t len, uint64_t base) {
    uint64_t fs = c->frame_size;
    uint64_t first = (base + fs - 1) / fs * fs; /* first frame boundary at or after base */
    for (uint64_t off = first; off < base + len; off += fs) {
        uint8_t t = bytes[off - base];
        c->frames_sent++;
        if (t == PROTO_QUERY || (t == PROTO_DEVICE_INFO_QUERY && proto_type_handled(c->rev, t)))
            c->replies_pending++;
    }
}

conn_status conn_send(conn *c, const void *bytes, size_t len, char *err, size_t errlen) {
    const uint8_t *p = bytes;
    size_t done = 0;
    int64_t deadline = now_ms() + c->timeout_ms;
    count_replies(c, p, len, c->bytes_sent);
    size_t chunk = len;
    if (c->bytes_sent % c->frame_size == 0 && len % c->frame_size == 0) {
        size_t max = c->max_chunk ? c->max_chunk : 32768 / c->frame_size * c->frame_size;
        if (chunk > max)
            chunk = max;
    }
    size_t chunk_end = chunk;
    while (done < len) {
        /* After a short send, finish the chunk before starting the next, so later sends
         * start at frame boundaries again. */
        ssize_t n = send(c->fd, p + done, chunk_end - done, MSG_NOSIGNAL);
        if (n > 0) {
            done += (size_t)n;
            if (done == chunk_end)
                chunk_end = len - done < chunk ? len : done + chunk;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pf = {c->fd, POLLOUT, 0};
            int r = poll(&pf, 1, left_ms(deadline));
            if (r == 0) {
                c->bytes_sent += done;
                snprintf(err, errlen,
                         "send: the server read nothing for %d ms (%zu of %zu bytes sent): hung?",
                         c->timeout_ms, done, len);
                return CONN_TIMEOUT;
            }
            continue;
        }
        int e = errno;
        c->bytes_sent += done;
        snprintf(err, errlen, "send: %s (%zu of %zu bytes sent)", strerror(e), done, len);
        return (e == EPIPE || e == ECONNRESET) ? CONN_CLOSED : CONN_ERROR;
    }
    c->bytes_sent += len;
    return CONN_OK;
}

conn_status conn_send_msg(conn *c, const proto_msg *msg, char *err, size_t errlen) {
    uint8_t frame[PROTO_MAX_FRAME];
    size_t n = proto_encode(c->rev, msg, frame);
    return conn_send(c, frame, n, err, errlen);
}

/* Reads exactly len bytes before deadline. */
static conn_status read_exact(conn *c, uint8_t *buf, size_t len, int64_t deadline, char *err,
                              size_t errlen) {
    size_t got = 0;
    while (got < len) {
        ssize_t n = recv(c->fd, buf + got, len - got, 0);
        if (n > 0) {
            got += (size_t)n;
            continue;
        }
        if (n == 0) {
            snprintf(err, errlen, "read reply: the server closed the connection after %zu of %zu bytes",
                     got, len);
            return CONN_CLOSED;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            struct pollfd pf = {c->fd, POLLIN, 0};
            if (poll(&pf, 1, left_ms(deadline)) == 0) {
                snprintf(err, errlen, "read reply: no reply within %d ms (%zu of %zu bytes read): hung?",
                         c->timeout_ms, got, len);
                return CONN_TIMEOUT;
            }
            continue;
        }
        int e = errno;
        snprintf(err, errlen, "read reply: %s", strerror(e));
        return e == ECONNRESET ? CONN_CLOSED : CONN_ERROR;
    }
    return CONN_OK;
}

conn_status conn_read_reply(conn *c, uint8_t *buf, char *err, size_t errlen) {
    conn_status st = read_exact(c, buf, c->frame_size, now_ms() + c->timeout_ms, err, errlen);
    if (st == CONN_OK && c->replies_pending > 0)
        c->replies_pending--;
    return st;
}

conn_status conn_fence(conn *c, int32_t pid, proto_msg *reply, char *err, size_t errlen) {
    uint8_t buf[PROTO_MAX_FRAME];
    while (c->replies_pending > 0) {
        conn_status st = conn_read_reply(c, buf, err, errlen);
        if (st != CONN_OK)
            return st;
    }
    if (c->bytes_sent % c->frame_size != 0) {
        /* A partial frame is pending: the fence's bytes would complete it, not fence. */
        snprintf(err, errlen,
                 "fence: the connection is in the middle of a frame (%llu bytes sent, frame size %zu)",
                 (unsigned long long)c->bytes_sent, c->frame_size);
        return CONN_PROTOCOL;
    }
    proto_msg q;
    memset(&q, 0, sizeof q);
    q.type = PROTO_QUERY;
    q.device_id = 0;
    q.process_id = pid;
    conn_status st = conn_send_msg(c, &q, err, errlen);
    if (st != CONN_OK)
        return st;
    st = conn_read_reply(c, buf, err, errlen);
    if (st != CONN_OK)
        return st;
    proto_msg r;
    proto_decode(c->rev, buf, c->frame_size, &r);
    if (r.type != PROTO_RESPONSE || r.device_id != 0) {
        snprintf(err, errlen, "fence: expected a RESPONSE (type 4) for device 0, found type %u for device %d",
                 r.type, r.device_id);
        return CONN_PROTOCOL;
    }
    if (reply)
        *reply = r;
    return CONN_OK;
}

conn_status conn_close(conn *c, char *err, size_t errlen) {
    if (!c || c->fd < 0)
        return CONN_OK;
    conn_status st = CONN_OK;
    if (shutdown(c->fd, SHUT_WR) == 0) {
        int64_t deadline = now_ms() + c->timeout_ms;
        uint8_t sink[4096];
        for (;;) {
            ssize_t n = recv(c->fd, sink, sizeof sink, 0);
            if (n > 0)
                continue;
            if (n == 0)
                break;
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                struct pollfd pf = {c->fd, POLLIN, 0};
                if (poll(&pf, 1, left_ms(deadline)) == 0) {
                    snprintf(err, errlen, "close: the server did not close its side within %d ms",
                             c->timeout_ms);
                    st = CONN_TIMEOUT;
                    break;
                }
                continue;
            }
            break; /* ECONNRESET and the like: the server is gone, nothing left to read */
        }
    }
    close(c->fd);
    c->fd = -1;
    c->replies_pending = 0;
    return st;
}

void conn_abort(conn *c) {
    if (c && c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
}
