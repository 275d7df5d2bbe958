/* sbuf: a growable byte/text buffer, the one string builder used everywhere.
 * On allocation failure the buffer is marked failed, further appends are ignored and
 * sbuf_failed() reports it; the contents stay NUL-terminated.
 */
#ifndef ALLOCSIM_SBUF_H
#define ALLOCSIM_SBUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct {
    char *data; /* NUL-terminated; NULL until the first append */
    size_t len;
    size_t cap;
    int failed;
} sbuf;

#define SBUF_INIT {0, 0, 0, 0}

void sbuf_append(sbuf *b, const void *data, size_t len);
void sbuf_puts(sbuf *b, const char *s);
void sbuf_putc(sbuf *b, char c);
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void sbuf_printf(sbuf *b, const char *fmt, ...);
void sbuf_vprintf(sbuf *b, const char *fmt, va_list ap);
void sbuf_reset(sbuf *b);            /* length 0, keeps the memory */
void sbuf_release(sbuf *b);          /* frees the memory */
const char *sbuf_str(const sbuf *b); /* "" when empty */
int sbuf_failed(const sbuf *b);

#endif
