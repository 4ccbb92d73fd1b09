/* Single-pass strict parser for one event object. Profiling showed the
 * generic JSON tree (jansson) costing 65% of the time hearth spends on an
 * event besides the signature check (docs/benchmarks.md), so events -- the
 * hot path of a relay -- are decoded straight into the event's arena.
 * The rules are those of hearth_event_from_json (the jansson path messages
 * still use); tests/fuzz/fuzz_event.c checks that both agree on every input.
 *
 * An event's shape bounds its depth (object > tags > tag > string), so no
 * recursion and no depth counter are needed: anything deeper is a type
 * error at the first unexpected '[' or '{'. */
#include "hearth/error.h"
#include "hearth/event.h"
#include "hearth/utf8.h"
#include "../util/arena.h"
#include "event_internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct lex {
    const char *p, *end;
    hearth_event *ev;
    size_t hint;
    const char *why;
} lex;

static int fail(lex *x, int code, const char *why)
{
    x->why = why;
    return code;
}

static void skip_ws(lex *x)
{
    while (x->p < x->end && (*x->p == ' ' || *x->p == '\n' ||
                             *x->p == '\r' || *x->p == '\t'))
        x->p++;
}

/* next non-space byte, or -1 at the end of input */
static int peek(lex *x)
{
    skip_ws(x);
    return x->p < x->end ? (unsigned char)*x->p : -1;
}

static int expect(lex *x, char c)
{
    int got = peek(x);
    if (got == c) {
        x->p++;
        return HEARTH_OK;
    }
    return fail(x, HEARTH_EINVAL, got < 0 ? "invalid: truncated JSON"
                                          : "invalid: malformed JSON");
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int read_u16(lex *x, const char *s, unsigned *out)
{
    unsigned v = 0;
    if (x->end - s < 4)
        return fail(x, HEARTH_EINVAL, "invalid: truncated JSON");
    for (int i = 0; i < 4; i++) {
        int h = hexval((unsigned char)s[i]);
        if (h < 0)
            return fail(x, HEARTH_EINVAL, "invalid: malformed JSON");
        v = v << 4 | (unsigned)h;
    }
    *out = v;
    return HEARTH_OK;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12);
        o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | cp >> 18);
    o[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    o[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* \uXXXX, possibly a surrogate pair; s points after the 'u' */
static int unicode_escape(lex *x, const char **s, char **o)
{
    unsigned cp, lo;
    if (read_u16(x, *s, &cp))
        return HEARTH_EINVAL;
    *s += 4;
    if (cp >= 0xdc00 && cp <= 0xdfff)
        goto lone;
    if (cp >= 0xd800 && cp <= 0xdbff) {
        if (x->end - *s < 6 || (*s)[0] != '\\' || (*s)[1] != 'u' ||
            read_u16(x, *s + 2, &lo) || lo < 0xdc00 || lo > 0xdfff)
            goto lone;
        *s += 6;
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
    }
    *o += put_utf8(*o, cp);
    return HEARTH_OK;
lone:
    return fail(x, HEARTH_EINVAL,
                "invalid: string has an invalid \\u escape (lone surrogate)");
}

static int escape(lex *x, const char **s, char **o)
{
    char c = *(*s)++;
    switch (c) {
    case '"': case '\\': case '/': *(*o)++ = c; return HEARTH_OK;
    case 'b': *(*o)++ = '\b'; return HEARTH_OK;
    case 'f': *(*o)++ = '\f'; return HEARTH_OK;
    case 'n': *(*o)++ = '\n'; return HEARTH_OK;
    case 'r': *(*o)++ = '\r'; return HEARTH_OK;
    case 't': *(*o)++ = '\t'; return HEARTH_OK;
    case 'u': return unicode_escape(x, s, o);
    }
    return fail(x, HEARTH_EINVAL, "invalid: malformed JSON");
}

/* Decode a string token into out (capacity >= raw length + 1). The raw
 * token [x->p, close) was already delimited by find_close. */
static int decode(lex *x, const char *close, char *out, size_t *n)
{
    const char *s = x->p;
    char *o = out;
    while (s < close) {
        unsigned char c = (unsigned char)*s;
        if (c == '\\') {
            s++;
            if (escape(x, &s, &o))
                return HEARTH_EINVAL;
        } else if (c < 0x20) {
            return fail(x, HEARTH_EINVAL, "invalid: malformed JSON");
        } else {
            *o++ = (char)c;
            s++;
        }
    }
    *o = '\0';
    *n = (size_t)(o - out);
    if (!hearth_utf8_valid(out, *n))
        return fail(x, HEARTH_EINVAL, "invalid: string is not valid UTF-8");
    x->p = close + 1;
    return HEARTH_OK;
}

/* x->p is just after the opening quote; returns the closing quote */
static const char *find_close(lex *x)
{
    const char *s = x->p;
    for (;;) {
        const char *q = memchr(s, '"', (size_t)(x->end - s));
        if (!q)
            return NULL;
        size_t bs = 0; /* an even run of backslashes leaves the quote real */
        while (q - bs > x->p && q[-1 - (ptrdiff_t)bs] == '\\')
            bs++;
        if (bs % 2 == 0)
            return q;
        s = q + 1;
    }
}

static int string(lex *x, hearth_str *out)
{
    if (expect(x, '"'))
        return HEARTH_EINVAL;
    const char *close = find_close(x);
    if (!close)
        return fail(x, HEARTH_EINVAL, "invalid: truncated JSON");
    size_t n;
    char *buf = hearth_arena_alloc(&x->ev->arena, (size_t)(close - x->p) + 1,
                                   x->hint);
    if (!buf)
        return fail(x, HEARTH_ENOMEM, "error: out of memory");
    if (decode(x, close, buf, &n))
        return HEARTH_EINVAL;
    out->p = buf;
    out->n = n;
    return HEARTH_OK;
}

/* Object keys are short; decode into a stack buffer (longer = unknown). */
static int key(lex *x, char k[16])
{
    if (expect(x, '"'))
        return HEARTH_EINVAL;
    const char *close = find_close(x);
    char tmp[16];
    size_t n;
    if (!close)
        return fail(x, HEARTH_EINVAL, "invalid: truncated JSON");
    if (close - x->p >= (ptrdiff_t)sizeof tmp) {
        /* still has to be a valid string before it is called unknown */
        x->p = close + 1;
        k[0] = '\0';
        return HEARTH_OK;
    }
    if (decode(x, close, tmp, &n))
        return HEARTH_EINVAL;
    memcpy(k, tmp, n + 1);
    if (strlen(k) != n)
        k[0] = '\0'; /* a NUL inside a key never names a field */
    return expect(x, ':');
}

/* A non-negative integer field. Fractions, exponents and other types are
 * type errors (reason why_type); more digits than fit is out of range. */
static int integer(lex *x, long long max, long long *out, const char *why_type)
{
    int c = peek(x);
    int neg = 0;
    if (c == '-') {
        neg = 1;
        x->p++;
        c = x->p < x->end ? (unsigned char)*x->p : -1;
    }
    if (c < '0' || c > '9')
        return fail(x, HEARTH_EINVAL, c < 0 && neg ? "invalid: truncated JSON"
                                                  : why_type);
    unsigned long long v = 0;
    int digits = 0;
    const char *start = x->p;
    while (x->p < x->end && *x->p >= '0' && *x->p <= '9') {
        if (++digits > 19)
            return fail(x, HEARTH_EINVAL, "invalid: number out of range");
        v = v * 10 + (unsigned)(*x->p++ - '0');
    }
    if (digits > 1 && *start == '0')
        return fail(x, HEARTH_EINVAL, "invalid: malformed JSON");
    if (x->p < x->end && (*x->p == '.' || *x->p == 'e' || *x->p == 'E'))
        return fail(x, HEARTH_EINVAL, why_type);
    if ((neg && v != 0) || v > (unsigned long long)max)
        return fail(x, HEARTH_EINVAL, why_type);
    *out = (long long)v;
    return HEARTH_OK;
}

static int hex_string(lex *x, uint8_t *out, size_t n, const char *why_bad)
{
    hearth_str s;
    if (peek(x) != '"')
        return fail(x, HEARTH_EINVAL, why_bad);
    int rc = string(x, &s);
    if (rc)
        return rc;
    if (hearth_event_hex_decode(s.p, s.n, out, n))
        return fail(x, HEARTH_EINVAL, why_bad);
    return HEARTH_OK;
}

/* grow an arena array of hearth_str / hearth_tag by doubling */
static void *grow(lex *x, void *old, size_t n, size_t *cap, size_t size)
{
    size_t ncap = *cap ? 2 * *cap : 8;
    void *p = hearth_arena_alloc(&x->ev->arena, ncap * size, x->hint);
    if (p && n)
        memcpy(p, old, n * size);
    *cap = ncap;
    return p;
}

static int tag(lex *x, hearth_tag *t)
{
    size_t cap = 0;
    t->n = 0;
    t->v = NULL;
    if (peek(x) != '[')
        return fail(x, HEARTH_EINVAL,
                    "invalid: each tag must be an array of strings");
    x->p++;
    if (peek(x) == ']') {
        x->p++;
        return HEARTH_OK;
    }
    for (;;) {
        if (peek(x) != '"')
            return fail(x, peek(x) < 0 ? HEARTH_EINVAL : HEARTH_EINVAL,
                        peek(x) < 0 ? "invalid: truncated JSON"
                                    : "invalid: tag values must be strings");
        if (t->n == HEARTH_TAG_MAX_VALUES)
            return fail(x, HEARTH_ETOOBIG, "invalid: tag has too many values");
        if (t->n == cap && !(t->v = grow(x, t->v, t->n, &cap, sizeof *t->v)))
            return fail(x, HEARTH_ENOMEM, "error: out of memory");
        int rc = string(x, &t->v[t->n]);
        if (rc)
            return rc;
        t->n++;
        int c = peek(x);
        x->p++;
        if (c == ']')
            return HEARTH_OK;
        if (c != ',')
            return fail(x, HEARTH_EINVAL, c < 0 ? "invalid: truncated JSON"
                                                : "invalid: malformed JSON");
    }
}

static int tags(lex *x)
{
    hearth_event *ev = x->ev;
    if (peek(x) != '[')
        return fail(x, HEARTH_EINVAL, "invalid: tags must be an array of arrays");
    x->p++;
    if (peek(x) == ']') {
        x->p++;
        return HEARTH_OK;
    }
    for (;;) {
        if (ev->ntags == HEARTH_EVENT_MAX_TAGS)
            return fail(x, HEARTH_ETOOBIG, "invalid: too many tags");
        if (ev->ntags == ev->tags_cap &&
            !(ev->tags = grow(x, ev->tags, ev->ntags, &ev->tags_cap,
                              sizeof *ev->tags)))
            return fail(x, HEARTH_ENOMEM, "error: out of memory");
        int rc = tag(x, &ev->tags[ev->ntags]);
        if (rc)
            return rc;
        ev->ntags++;
        int c = peek(x);
        x->p++;
        if (c == ']')
            return HEARTH_OK;
        if (c != ',')
            return fail(x, HEARTH_EINVAL, c < 0 ? "invalid: truncated JSON"
                                                : "invalid: malformed JSON");
    }
}

static int field(lex *x, const char *k, unsigned *seen)
{
    hearth_event *ev = x->ev;
    long long v;
    unsigned bit;
    int rc;
    if (!strcmp(k, "id")) {
        bit = HEARTH_F_ID;
        rc = hex_string(x, ev->id, 32,
                        "invalid: id must be 64 lowercase hex characters");
    } else if (!strcmp(k, "pubkey")) {
        bit = HEARTH_F_PUBKEY;
        rc = hex_string(x, ev->pubkey, 32,
                        "invalid: pubkey must be 64 lowercase hex characters");
    } else if (!strcmp(k, "sig")) {
        bit = HEARTH_F_SIG;
        rc = hex_string(x, ev->sig, 64,
                        "invalid: sig must be 128 lowercase hex characters");
    } else if (!strcmp(k, "created_at")) {
        bit = HEARTH_F_CREATED;
        rc = integer(x, HEARTH_MAX_TIMESTAMP, &v,
                     "invalid: created_at must be an integer from 0 to 2^53-1");
        ev->created_at = v;
    } else if (!strcmp(k, "kind")) {
        bit = HEARTH_F_KIND;
        rc = integer(x, HEARTH_MAX_KIND, &v,
                     "invalid: kind must be an integer from 0 to 65535");
        ev->kind = (uint32_t)v;
    } else if (!strcmp(k, "tags")) {
        bit = HEARTH_F_TAGS;
        rc = tags(x);
    } else if (!strcmp(k, "content")) {
        bit = HEARTH_F_CONTENT;
        rc = peek(x) == '"' ? string(x, &ev->content)
                            : fail(x, HEARTH_EINVAL,
                                   "invalid: content must be a string");
    } else {
        return fail(x, HEARTH_EINVAL, "invalid: unknown field in event");
    }
    if (rc == HEARTH_OK && (*seen & bit))
        return fail(x, HEARTH_EINVAL, "invalid: duplicate key in JSON object");
    *seen |= bit;
    return rc;
}

static int object(lex *x, unsigned *seen)
{
    int c = peek(x);
    if (c != '{')
        return fail(x, HEARTH_EINVAL,
                    c < 0 ? "invalid: truncated JSON"
                          : "invalid: event must be a JSON object");
    x->p++;
    if (peek(x) == '}') {
        x->p++;
        return HEARTH_OK;
    }
    for (;;) {
        char k[16];
        int rc = key(x, k);
        if (rc == HEARTH_OK)
            rc = field(x, k, seen);
        if (rc)
            return rc;
        c = peek(x);
        x->p++;
        if (c == '}')
            return HEARTH_OK;
        if (c != ',')
            return fail(x, HEARTH_EINVAL, c < 0 ? "invalid: truncated JSON"
                                                : "invalid: malformed JSON");
    }
}

int hearth_event_parse_span(const char *json, size_t len, unsigned flags,
                            hearth_event **out, size_t *used, const char **why)
{
    lex x = {json, json + len, NULL, len + 256, NULL};
    unsigned seen = 0;
    *out = NULL;
    x.ev = calloc(1, sizeof *x.ev);
    if (!x.ev) {
        *why = "error: out of memory";
        return HEARTH_ENOMEM;
    }
    int rc = object(&x, &seen);
    if (rc == HEARTH_OK)
        rc = hearth_event_check_required(x.ev, seen, flags, &x.why);
    if (rc) {
        *why = x.why;
        hearth_event_free(x.ev);
        return rc;
    }
    *used = (size_t)(x.p - json);
    *out = x.ev;
    return HEARTH_OK;
}

int hearth_event_parse(const char *json, size_t len, unsigned flags,
                       hearth_event **out, const char **why)
{
    const char *dummy;
    size_t used;
    if (!why)
        why = &dummy;
    *out = NULL;
    if (len > HEARTH_EVENT_MAX_JSON) {
        *why = "invalid: message too large";
        return HEARTH_ETOOBIG;
    }
    int rc = hearth_event_parse_span(json, len, flags, out, &used, why);
    if (rc)
        return rc;
    lex x = {json + used, json + len, NULL, 0, NULL};
    if (peek(&x) >= 0) {
        hearth_event_free(*out);
        *out = NULL;
        *why = "invalid: trailing data after JSON value";
        return HEARTH_EINVAL;
    }
    return HEARTH_OK;
}
