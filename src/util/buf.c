#include "hearth/buf.h"
#include "hearth/error.h"
#include "hearth/hex.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void hearth_buf_init(hearth_buf *b)
{
    memset(b, 0, sizeof *b);
}

void hearth_buf_free(hearth_buf *b)
{
    free(b->p);
    hearth_buf_init(b);
}

void hearth_buf_reset(hearth_buf *b)
{
    b->len = 0;
    b->err = 0;
    if (b->p)
        b->p[0] = '\0';
}

int hearth_buf_reserve(hearth_buf *b, size_t extra)
{
    if (b->err)
        return b->err;
    if (extra > SIZE_MAX / 2 - b->len - 1)
        return b->err = HEARTH_ENOMEM;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return HEARTH_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p)
        return b->err = HEARTH_ENOMEM;
    b->p = p;
    b->cap = cap;
    return HEARTH_OK;
}

int hearth_buf_add(hearth_buf *b, const void *p, size_t n)
{
    if (hearth_buf_reserve(b, n))
        return b->err;
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
    return HEARTH_OK;
}

int hearth_buf_addc(hearth_buf *b, char c)
{
    return hearth_buf_add(b, &c, 1);
}

int hearth_buf_adds(hearth_buf *b, const char *s)
{
    return hearth_buf_add(b, s, strlen(s));
}

int hearth_buf_addf(hearth_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return b->err = HEARTH_EINVAL;
    if (hearth_buf_reserve(b, (size_t)n))
        return b->err;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return HEARTH_OK;
}

int hearth_buf_addhex(hearth_buf *b, const uint8_t *p, size_t n)
{
    if (hearth_buf_reserve(b, 2 * n))
        return b->err;
    hearth_hex_encode(p, n, b->p + b->len);
    b->len += 2 * n;
    return HEARTH_OK;
}

/* JSON.stringify escapes only '"', '\\' and C0 controls: the seven with
 * short forms, the rest as lowercase \u00xx. DEL, U+2028/2029 and all
 * non-ASCII pass through as raw UTF-8. Ids depend on matching this. */
int hearth_buf_addjson(hearth_buf *b, const char *s, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    if (hearth_buf_reserve(b, n + 2))
        return b->err;
    hearth_buf_addc(b, '"');
    size_t run = 0; /* start of the pending run of bytes needing no escape */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        hearth_buf_add(b, s + run, i - run);
        run = i + 1;
        char esc[6] = {'\\', 0, '0', '0', 0, 0};
        size_t elen = 2;
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            esc[1] = 'u';
            esc[4] = digits[c >> 4];
            esc[5] = digits[c & 15];
            elen = 6;
        }
        hearth_buf_add(b, esc, elen);
    }
    hearth_buf_add(b, s + run, n - run);
    return hearth_buf_addc(b, '"');
}

int hearth_buf_error(const hearth_buf *b)
{
    return b->err;
}
