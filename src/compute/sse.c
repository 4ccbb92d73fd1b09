/* Server-Sent Events parsing (sse.h). Lines are gathered into one
 * growing buffer even when a piece holds whole lines: the copies are
 * cheap next to the JSON parse each event costs, and one path is easier
 * to get right for every way a stream can be split. */
#include "sse.h"

#include <stdlib.h>
#include <string.h>

#include "hearth/error.h"

static const unsigned char bom[3] = {0xef, 0xbb, 0xbf};

int hearth_sse_init(hearth_sse *s, size_t max_line, size_t max_data,
                    hearth_sse_event_fn fn, void *user)
{
    memset(s, 0, sizeof *s);
    s->max_line = max_line;
    s->max_data = max_data;
    s->fn = fn;
    s->user = user;
    /* the buffers grow on demand; start small since most lines are */
    s->line = malloc(256);
    s->data = malloc(256);
    if (!s->line || !s->data) {
        hearth_sse_free(s);
        return HEARTH_ENOMEM;
    }
    s->line[0] = s->data[0] = '\0';
    s->line_cap = s->data_cap = 256;
    return HEARTH_OK;
}

void hearth_sse_free(hearth_sse *s)
{
    free(s->line);
    free(s->data);
    s->line = s->data = NULL;
}

/* Make room in *buf (capacity *cap) for need bytes plus a NUL. */
static int grow(char **buf, size_t *cap, size_t need)
{
    if (need + 1 <= *cap)
        return HEARTH_OK;
    size_t ncap = *cap;
    while (ncap < need + 1)
        ncap *= 2;
    char *p = realloc(*buf, ncap);
    if (!p)
        return HEARTH_ENOMEM;
    *buf = p;
    *cap = ncap;
    return HEARTH_OK;
}

static int dispatch(hearth_sse *s)
{
    int rc = 0;
    if (s->has_data)
        rc = s->fn(s->user, s->name, s->data, s->data_len);
    s->has_data = 0;
    s->data_len = 0;
    s->data[0] = '\0';
    s->name[0] = '\0';
    return rc;
}

static int add_data(hearth_sse *s, const char *v, size_t n)
{
    size_t sep = s->has_data ? 1 : 0;
    if (s->data_len + sep + n > s->max_data)
        return HEARTH_ETOOBIG;
    int rc = grow(&s->data, &s->data_cap, s->data_len + sep + n);
    if (rc)
        return rc;
    if (sep)
        s->data[s->data_len++] = '\n';
    memcpy(s->data + s->data_len, v, n);
    s->data_len += n;
    s->data[s->data_len] = '\0';
    s->has_data = 1;
    return HEARTH_OK;
}

/* One complete line, without its end. */
static int line(hearth_sse *s, const char *p, size_t n)
{
    if (n == 0)
        return dispatch(s);
    if (p[0] == ':')
        return HEARTH_OK;
    const char *colon = memchr(p, ':', n);
    size_t flen = colon ? (size_t)(colon - p) : n;
    const char *v = colon ? colon + 1 : p + n;
    size_t vlen = colon ? n - flen - 1 : 0;
    if (vlen && v[0] == ' ')
        v++, vlen--;
    if (flen == 4 && !memcmp(p, "data", 4))
        return add_data(s, v, vlen);
    if (flen == 5 && !memcmp(p, "error", 5)) {
        /* llama.cpp server reports a failure mid-stream as an "error:"
         * line, outside the standard: keep it as an "error" event */
        memcpy(s->name, "error", 6);
        return add_data(s, v, vlen);
    }
    if (flen == 5 && !memcmp(p, "event", 5)) {
        size_t k = vlen < sizeof s->name - 1 ? vlen : sizeof s->name - 1;
        memcpy(s->name, v, k);
        s->name[k] = '\0';
    }
    return HEARTH_OK;
}

static int end_line(hearth_sse *s)
{
    int rc = line(s, s->line, s->line_len);
    s->line_len = 0;
    return rc;
}

static int add_line(hearth_sse *s, const char *p, size_t n)
{
    if (s->line_len + n > s->max_line)
        return HEARTH_ETOOBIG;
    int rc = grow(&s->line, &s->line_cap, s->line_len + n);
    if (rc)
        return rc;
    memcpy(s->line + s->line_len, p, n);
    s->line_len += n;
    s->line[s->line_len] = '\0';
    return HEARTH_OK;
}

/* Skip a UTF-8 byte order mark at the very start, which the standard
 * allows; a partial match that fails is fed back as ordinary bytes. */
static int skip_bom(hearth_sse *s, const char **p, size_t *n)
{
    while (!s->started && *n) {
        if ((unsigned char)**p == bom[s->bom]) {
            (*p)++, (*n)--;
            if (++s->bom == sizeof bom)
                s->started = 1;
            continue;
        }
        s->started = 1;
        int rc = add_line(s, (const char *)bom, s->bom);
        if (rc)
            return rc;
    }
    return HEARTH_OK;
}

int hearth_sse_feed(hearth_sse *s, const char *p, size_t n)
{
    int rc = skip_bom(s, &p, &n);
    while (!rc && n) {
        if (s->after_cr) {
            s->after_cr = 0;
            if (*p == '\n') {
                p++, n--;
                continue;
            }
        }
        size_t k = 0;
        while (k < n && p[k] != '\n' && p[k] != '\r')
            k++;
        rc = add_line(s, p, k);
        if (rc || k == n)
            break;
        s->after_cr = p[k] == '\r';
        p += k + 1, n -= k + 1;
        rc = end_line(s);
    }
    return rc;
}

int hearth_sse_finish(hearth_sse *s)
{
    int rc = HEARTH_OK;
    if (!s->started && s->bom) {
        s->started = 1;
        rc = add_line(s, (const char *)bom, s->bom);
    }
    if (!rc && s->line_len)
        rc = end_line(s);
    if (!rc)
        rc = dispatch(s);
    return rc;
}
