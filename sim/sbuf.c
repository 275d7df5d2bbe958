/* sbuf: growable buffer (see sbuf.h). */
#include "sbuf.h"

#include <stdio.h>
#include <string.h>

#include "mem.h"

static int reserve(sbuf *b, size_t extra) {
    if (b->failed)
        return 0;
    if (b->len + extra + 1 <= b->cap)
        return 1;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *d = mem_realloc(b->data, cap);
    if (!d) {
        b->failed = 1;
        return 0;
    }
    b->data = d;
    b->cap = cap;
    return 1;
}

void sbuf_append(sbuf *b, const void *data, size_t len) {
    if (!reserve(b, len))
        return;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void sbuf_puts(sbuf *b, const char *s) { sbuf_append(b, s, strlen(s)); }

void sbuf_putc(sbuf *b, char c) { sbuf_append(b, &c, 1); }

void sbuf_vprintf(sbuf *b, const char *fmt, va_list ap) {
    char small[256];
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(small, sizeof small, fmt, copy);
    va_end(copy);
    if (n < 0)
        return;
    if ((size_t)n < sizeof small) {
        sbuf_append(b, small, (size_t)n);
        return;
    }
    if (!reserve(b, (size_t)n))
        return;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void sbuf_printf(sbuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    sbuf_vprintf(b, fmt, ap);
    va_end(ap);
}

void sbuf_reset(sbuf *b) {
    b->len = 0;
    b->failed = 0;
    if (b->data)
        b->data[0] = '\0';
}

void sbuf_release(sbuf *b) {
    mem_free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->failed = 0;
}

const char *sbuf_str(const sbuf *b) { return b->data ? b->data : ""; }

int sbuf_failed(const sbuf *b) { return b->failed; }
