/* Growable byte buffer. Errors are sticky: after an allocation failure every
 * append is a no-op and hearth_buf_error() reports HEARTH_ENOMEM, so callers
 * can append many pieces and check once. The buffer is always NUL-terminated
 * (the NUL is not counted in len). */
#ifndef HEARTH_BUF_H
#define HEARTH_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct hearth_buf {
    char *p;
    size_t len;
    size_t cap;
    int err;
} hearth_buf;

#define HEARTH_BUF_INIT {NULL, 0, 0, 0}

void hearth_buf_init(hearth_buf *b);
void hearth_buf_free(hearth_buf *b);
void hearth_buf_reset(hearth_buf *b);          /* len = 0, keeps memory */
int hearth_buf_reserve(hearth_buf *b, size_t extra);
int hearth_buf_add(hearth_buf *b, const void *p, size_t n);
int hearth_buf_addc(hearth_buf *b, char c);
int hearth_buf_adds(hearth_buf *b, const char *s);
int hearth_buf_addf(hearth_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int hearth_buf_addhex(hearth_buf *b, const uint8_t *p, size_t n);
/* Append s as a JSON string literal, escaped exactly as JavaScript's
 * JSON.stringify escapes it (the rule NIP-01 ids depend on). */
int hearth_buf_addjson(hearth_buf *b, const char *s, size_t n);
int hearth_buf_error(const hearth_buf *b);

#endif
