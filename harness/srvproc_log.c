/* srvproc_log: the server's output as a line log, and the thread that fills it.
 *
 * One reader thread per server drains its stdout and stderr pipes (or, when attached, follows
 * its log file like tail -F) into the log and watches the process (pidfd when the kernel has
 * it, else waitpid(WNOHANG) every 10 ms); it is the only thread that reaps the server. Lines
 * are stored in fixed-size chunks so their storage never moves; waiters are woken on each new
 * chunk of lines and on exit. Public accessors are in srvproc.h.
 */
#define _GNU_SOURCE
#include "srvproc.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mem.h"
#include "srvproc_int.h"

/* ---- the log --------------------------------------------------------------------------- */

/* Appends one complete line. Called with mu held. Returns -1 on allocation failure. */
static int log_push(srvproc *p, int stream, const char *text, size_t len) {
    size_t chunk = p->end / CHUNK_LINES;
    if (chunk >= p->nchunks) {
        size_t n = p->nchunks ? p->nchunks * 2 : 16;
        line_rec **c = mem_realloc(p->chunks, n * sizeof *c);
        if (!c)
            return -1;
        memset(c + p->nchunks, 0, (n - p->nchunks) * sizeof *c);
        p->chunks = c;
        p->nchunks = n;
    }
    if (!p->chunks[chunk]) {
        p->chunks[chunk] = mem_calloc(CHUNK_LINES, sizeof(line_rec));
        if (!p->chunks[chunk])
            return -1;
    }
    char *copy = mem_alloc(len + 1);
    if (!copy)
        return -1;
    memcpy(copy, text, len);
    copy[len] = '\0';
    line_rec *r = &p->chunks[chunk][p->end % CHUNK_LINES];
    r->text = copy;
    r->len = (uint32_t)len;
    r->stream = (uint8_t)stream;
    p->end++;
    return 0;
}

static const line_rec *log_at(const srvproc *p, size_t idx) {
    if (idx < p->trimmed || idx >= p->end)
        return NULL;
    const line_rec *c = p->chunks[idx / CHUNK_LINES];
    return c ? &c[idx % CHUNK_LINES] : NULL;
}

/* Splits data into lines, joining with the stream's pending fragment. Called with mu held. */
static void log_feed(srvproc *p, int stream, const char *data, size_t len) {
    sbuf *part = &p->partial[stream];
    while (len) {
        const char *nl = memchr(data, '\n', len);
        size_t take = nl ? (size_t)(nl - data) : len;
        int cut = 0;
        if (part->len + take > MAX_LINE_BYTES) { /* an endless line is cut into pieces */
            take = MAX_LINE_BYTES - part->len;
            cut = 1;
            nl = NULL;
        }
        if (!nl && !cut) {
            sbuf_append(part, data, take);
            return;
        }
        if (part->len) {
            sbuf_append(part, data, take);
            log_push(p, stream, sbuf_str(part), part->len);
            sbuf_reset(part);
        } else {
            log_push(p, stream, data, take);
        }
        data += take + (nl ? 1 : 0);
        len -= take + (nl ? 1 : 0);
    }
}

/* Pushes a fragment left at EOF as a line of its own. Called with mu held. */
static void log_flush(srvproc *p, int stream) {
    sbuf *part = &p->partial[stream];
    if (part->len) {
        log_push(p, stream, sbuf_str(part), part->len);
        sbuf_reset(part);
    }
}

size_t srvproc_log_end(srvproc *p) {
    pthread_mutex_lock(&p->mu);
    size_t e = p->end;
    pthread_mutex_unlock(&p->mu);
    return e;
}

int srvproc_log_get(srvproc *p, size_t idx, sbuf *out, srvproc_stream *stream) {
    pthread_mutex_lock(&p->mu);
    const line_rec *r = log_at(p, idx);
    if (r) {
        sbuf_reset(out);
        sbuf_append(out, r->text, r->len);
        if (stream)
            *stream = (srvproc_stream)r->stream;
    }
    pthread_mutex_unlock(&p->mu);
    return r ? 0 : -1;
}

void srvproc_log_text(srvproc *p, size_t from, size_t to, int streams, sbuf *out) {
    pthread_mutex_lock(&p->mu);
    if (to > p->end)
        to = p->end;
    for (size_t i = from < p->trimmed ? p->trimmed : from; i < to; i++) {
        const line_rec *r = log_at(p, i);
        if (r && (r->stream & streams)) {
            sbuf_append(out, r->text, r->len);
            sbuf_putc(out, '\n');
        }
    }
    pthread_mutex_unlock(&p->mu);
}

/* Appends text with control bytes and invalid UTF-8 written as \xNN: a failure report quotes
 * whatever a broken server printed, and raw escape sequences would garble the terminal. */
static void append_printable(sbuf *out, const char *text, size_t len) {
    const unsigned char *t = (const unsigned char *)text;
    for (size_t i = 0; i < len;) {
        unsigned char c = t[i];
        size_t n = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
        int ok = n > 0 && i + n <= len && ((c >= 0x20 && c != 0x7f) || c == '\t' || c >= 0x80);
        for (size_t k = 1; ok && k < n; k++)
            ok = (t[i + k] & 0xc0) == 0x80;
        if (ok) {
            sbuf_append(out, text + i, n);
            i += n;
        } else {
            sbuf_printf(out, "\\x%02x", c);
            i++;
        }
    }
}

void srvproc_log_tail(srvproc *p, size_t n, sbuf *out) {
    pthread_mutex_lock(&p->mu);
    size_t from = p->end > n ? p->end - n : 0;
    if (from < p->trimmed)
        from = p->trimmed;
    for (size_t i = from; i < p->end; i++) {
        const line_rec *r = log_at(p, i);
        if (!r)
            continue;
        sbuf_puts(out, r->stream == SRVPROC_ERR ? "err| " : "out| ");
        append_printable(out, r->text, r->len);
        sbuf_putc(out, '\n');
    }
    /* Fragments not yet ended by '\n' matter most when the server died mid-line. */
    for (int s = SRVPROC_OUT; s <= SRVPROC_ERR; s++) {
        if (p->partial[s].len) {
            sbuf_puts(out, s == SRVPROC_ERR ? "err| " : "out| ");
            append_printable(out, p->partial[s].data, p->partial[s].len);
            sbuf_puts(out, " (no newline)\n");
        }
    }
    pthread_mutex_unlock(&p->mu);
}

srvproc_wait_result srvproc_wait_line(srvproc *p, size_t from, srvproc_line_pred pred,
                                      void *ctx, int timeout_ms, size_t *found) {
    struct timespec deadline;
    srvp_abstime_in(&deadline, timeout_ms < 0 ? 0 : timeout_ms);
    pthread_mutex_lock(&p->mu);
    size_t i = from < p->trimmed ? p->trimmed : from;
    srvproc_wait_result res;
    for (;;) {
        for (; i < p->end; i++) {
            const line_rec *r = log_at(p, i);
            srvproc_line l = {r->text, r->len, (srvproc_stream)r->stream, i};
            if (pred(&l, ctx)) {
                if (found)
                    *found = i;
                res = SRVPROC_FOUND;
                goto out;
            }
        }
        if (p->owned && p->drained) {
            res = SRVPROC_DIED;
            goto out;
        }
        if (pthread_cond_timedwait(&p->cv, &p->mu, &deadline) == ETIMEDOUT) {
            /* Lines that arrived with the timeout still count. */
            for (; i < p->end; i++) {
                const line_rec *r = log_at(p, i);
                srvproc_line l = {r->text, r->len, (srvproc_stream)r->stream, i};
                if (pred(&l, ctx)) {
                    if (found)
                        *found = i;
                    res = SRVPROC_FOUND;
                    goto out;
                }
            }
            res = SRVPROC_TIMEOUT;
            goto out;
        }
    }
out:
    pthread_mutex_unlock(&p->mu);
    return res;
}

void srvproc_log_trim(srvproc *p, size_t before) {
    pthread_mutex_lock(&p->mu);
    if (before > p->end)
        before = p->end;
    for (size_t i = p->trimmed; i < before; i++) {
        line_rec *c = p->chunks[i / CHUNK_LINES];
        mem_free(c[i % CHUNK_LINES].text);
        c[i % CHUNK_LINES].text = NULL;
        if (i % CHUNK_LINES == CHUNK_LINES - 1) {
            mem_free(c);
            p->chunks[i / CHUNK_LINES] = NULL;
        }
    }
    if (before > p->trimmed)
        p->trimmed = before;
    pthread_mutex_unlock(&p->mu);
}

/* ---- the reader thread ------------------------------------------------------------------- */

/* Reads what fd has now (non-blocking) into the log. Returns 1 at EOF, 0 otherwise. */
static int drain_fd(srvproc *p, int fd, int stream) {
    char buf[65536];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n > 0) {
            pthread_mutex_lock(&p->mu);
            log_feed(p, stream, buf, (size_t)n);
            pthread_cond_broadcast(&p->cv);
            pthread_mutex_unlock(&p->mu);
            if ((size_t)n < sizeof buf)
                return 0;
            continue;
        }
        if (n == 0) {
            pthread_mutex_lock(&p->mu);
            log_flush(p, stream);
            pthread_cond_broadcast(&p->cv);
            pthread_mutex_unlock(&p->mu);
            return 1;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        return 1;
    }
}

static void try_reap(srvproc *p) {
    int st;
    pid_t r = waitpid(p->pid, &st, WNOHANG);
    if (r == p->pid || (r < 0 && errno == ECHILD)) {
        /* Output written just before the exit is in the pipes: take it first. */
        if (p->out_fd >= 0)
            drain_fd(p, p->out_fd, SRVPROC_OUT);
        if (p->err_fd >= 0)
            drain_fd(p, p->err_fd, SRVPROC_ERR);
        pthread_mutex_lock(&p->mu);
        p->exited = 1;
        p->wstatus = r == p->pid ? st : 0;
        p->drained = 1;
        log_flush(p, SRVPROC_OUT);
        log_flush(p, SRVPROC_ERR);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
}

void *srvp_reader_owned(void *arg) {
    srvproc *p = arg;
    int out_eof = 0, err_eof = 0;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        int exited = p->exited;
        pthread_mutex_unlock(&p->mu);
        struct pollfd pf[4];
        int n = 0, i_out = -1, i_err = -1, i_pid = -1;
        pf[n].fd = p->wake[0];
        pf[n].events = POLLIN;
        n++;
        if (!out_eof) {
            i_out = n;
            pf[n].fd = p->out_fd;
            pf[n++].events = POLLIN;
        }
        if (!err_eof) {
            i_err = n;
            pf[n].fd = p->err_fd;
            pf[n++].events = POLLIN;
        }
        if (!exited && p->pid_fd >= 0) {
            i_pid = n;
            pf[n].fd = p->pid_fd;
            pf[n++].events = POLLIN;
        }
        if (exited && out_eof && err_eof)
            break;
        int timeout = (!exited && p->pid_fd < 0) ? 10 : -1;
        if (!exited && p->pid_fd >= 0 && out_eof && err_eof)
            timeout = -1;
        int r = poll(pf, (nfds_t)n, timeout);
        if (r < 0 && errno != EINTR)
            break;
        if (r > 0 && (pf[0].revents & (POLLIN | POLLHUP)))
            break;
        if (i_out >= 0 && r > 0 && (pf[i_out].revents & (POLLIN | POLLHUP | POLLERR)))
            out_eof = drain_fd(p, p->out_fd, SRVPROC_OUT);
        if (i_err >= 0 && r > 0 && (pf[i_err].revents & (POLLIN | POLLHUP | POLLERR)))
            err_eof = drain_fd(p, p->err_fd, SRVPROC_ERR);
        if (!exited && (p->pid_fd < 0 || (i_pid >= 0 && r > 0 && (pf[i_pid].revents & POLLIN))))
            try_reap(p);
    }
    return NULL;
}

void *srvp_reader_attached(void *arg) {
    srvproc *p = arg;
    char buf[65536];
    for (;;) {
        ssize_t n = p->log_fd >= 0 ? pread(p->log_fd, buf, sizeof buf, p->log_off) : 0;
        if (n > 0) {
            p->log_off += n;
            pthread_mutex_lock(&p->mu);
            log_feed(p, SRVPROC_OUT, buf, (size_t)n);
            pthread_cond_broadcast(&p->cv);
            pthread_mutex_unlock(&p->mu);
            continue;
        }
        if (p->log_fd >= 0) {
            struct stat sb;
            if (fstat(p->log_fd, &sb) == 0 && sb.st_size < p->log_off)
                p->log_off = 0; /* truncated and rewritten: start over, like tail -F */
        }
        struct pollfd pf = {p->wake[0], POLLIN, 0};
        if (poll(&pf, 1, 5) > 0)
            break;
    }
    return NULL;
}
