#include "hearth/event.h"
#include "hearth/error.h"
#include "hearth/hex.h"
#include "hearth/keys.h"
#include "hearth/utf8.h"
#include "../util/arena.h"
#include "crypto.h"
#include "event_internal.h"
#include "json_internal.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define FAIL(code, reason)      \
    do {                        \
        *why = (reason);        \
        return (code);          \
    } while (0)

static const char *json_reason(const json_error_t *err)
{
    switch (json_error_code(err)) {
    case json_error_out_of_memory: return "error: out of memory";
    case json_error_stack_overflow: return "invalid: JSON nested too deeply";
    case json_error_invalid_utf8: return "invalid: string is not valid UTF-8";
    case json_error_premature_end_of_input: return "invalid: truncated JSON";
    case json_error_end_of_input_expected:
        return "invalid: trailing data after JSON value";
    case json_error_duplicate_key: return "invalid: duplicate key in JSON object";
    case json_error_numeric_overflow: return "invalid: number out of range";
    case json_error_null_byte_in_key: return "invalid: NUL in object key";
    default: break;
    }
    /* a \\u escape of a lone UTF-16 surrogate cannot become UTF-8 */
    if (strstr(err->text, "Unicode"))
        return "invalid: string has an invalid \\u escape (lone surrogate)";
    return "invalid: malformed JSON";
}

json_t *hearth_json_load(const char *s, size_t n, size_t max,
                         const char **why)
{
    json_error_t err;
    if (n > max) {
        *why = "invalid: message too large";
        return NULL;
    }
    /* a raw NUL byte is never valid JSON (inside strings it must be
     * escaped), but jansson skips one between tokens */
    if (memchr(s, '\0', n)) {
        *why = "invalid: malformed JSON";
        return NULL;
    }
    json_t *j = json_loadb(s, n, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_ANY,
                           &err);
    if (!j)
        *why = json_reason(&err);
    return j;
}

static hearth_event *event_alloc(void)
{
    return calloc(1, sizeof(hearth_event));
}

void hearth_event_free(hearth_event *ev)
{
    if (!ev)
        return;
    hearth_arena_free(ev->arena);
    free(ev);
}

static const int8_t hexdigit[256] = {
    ['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5, ['5'] = 6,
    ['6'] = 7, ['7'] = 8, ['8'] = 9, ['9'] = 10, ['a'] = 11, ['b'] = 12,
    ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
};

int hearth_event_hex_decode(const char *s, size_t len, uint8_t *out, size_t n)
{
    if (len != 2 * n)
        return HEARTH_EINVAL;
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        int hi = hexdigit[(unsigned char)s[2 * i]] - 1;
        int lo = hexdigit[(unsigned char)s[2 * i + 1]] - 1;
        bad |= hi | lo; /* -1 sets the sign bit */
        out[i] = (uint8_t)((unsigned)hi << 4 | (unsigned)lo);
    }
    return bad < 0 ? HEARTH_EINVAL : HEARTH_OK;
}

static int hex_field(const json_t *v, uint8_t *out, size_t n)
{
    return json_is_string(v) &&
           hearth_event_hex_decode(json_string_value(v), json_string_length(v),
                                   out, n) == HEARTH_OK;
}

/* 0 <= value <= max, and written as an integer in the JSON */
static int int_field(const json_t *v, long long max, long long *out)
{
    if (!json_is_integer(v))
        return 0;
    json_int_t x = json_integer_value(v);
    if (x < 0 || x > max)
        return 0;
    *out = x;
    return 1;
}

static int parse_tags(hearth_event *ev, const json_t *tags, size_t hint,
                      const char **why)
{
    if (!json_is_array(tags))
        FAIL(HEARTH_EINVAL, "invalid: tags must be an array of arrays");
    size_t n = json_array_size(tags);
    if (n > HEARTH_EVENT_MAX_TAGS)
        FAIL(HEARTH_ETOOBIG, "invalid: too many tags");
    ev->tags = hearth_arena_alloc(&ev->arena, (n ? n : 1) * sizeof *ev->tags,
                                  hint);
    if (!ev->tags)
        FAIL(HEARTH_ENOMEM, "error: out of memory");
    ev->tags_cap = n;
    for (size_t i = 0; i < n; i++) {
        const json_t *t = json_array_get(tags, i);
        if (!json_is_array(t))
            FAIL(HEARTH_EINVAL, "invalid: each tag must be an array of strings");
        size_t m = json_array_size(t);
        if (m > HEARTH_TAG_MAX_VALUES)
            FAIL(HEARTH_ETOOBIG, "invalid: tag has too many values");
        hearth_str *v = hearth_arena_alloc(&ev->arena, (m ? m : 1) * sizeof *v,
                                           hint);
        if (!v)
            FAIL(HEARTH_ENOMEM, "error: out of memory");
        for (size_t k = 0; k < m; k++) {
            const json_t *s = json_array_get(t, k);
            if (!json_is_string(s))
                FAIL(HEARTH_EINVAL, "invalid: tag values must be strings");
            v[k].n = json_string_length(s);
            v[k].p = hearth_arena_strdup(&ev->arena, json_string_value(s),
                                         v[k].n, hint);
            if (!v[k].p)
                FAIL(HEARTH_ENOMEM, "error: out of memory");
        }
        ev->tags[i].n = m;
        ev->tags[i].v = v;
    }
    ev->ntags = n;
    return HEARTH_OK;
}


static int parse_field(hearth_event *ev, const char *key, const json_t *v,
                       size_t hint, unsigned *seen, const char **why)
{
    long long x;
    switch (key[0]) {
    case 'i':
        if (strcmp(key, "id"))
            break;
        if (!hex_field(v, ev->id, 32))
            FAIL(HEARTH_EINVAL, "invalid: id must be 64 lowercase hex characters");
        *seen |= HEARTH_F_ID;
        return HEARTH_OK;
    case 'p':
        if (strcmp(key, "pubkey"))
            break;
        if (!hex_field(v, ev->pubkey, 32))
            FAIL(HEARTH_EINVAL, "invalid: pubkey must be 64 lowercase hex characters");
        *seen |= HEARTH_F_PUBKEY;
        return HEARTH_OK;
    case 's':
        if (strcmp(key, "sig"))
            break;
        if (!hex_field(v, ev->sig, 64))
            FAIL(HEARTH_EINVAL, "invalid: sig must be 128 lowercase hex characters");
        *seen |= HEARTH_F_SIG;
        return HEARTH_OK;
    case 'c':
        if (strcmp(key, "created_at") == 0) {
            if (!int_field(v, HEARTH_MAX_TIMESTAMP, &x))
                FAIL(HEARTH_EINVAL, "invalid: created_at must be an integer from 0 to 2^53-1");
            ev->created_at = x;
            *seen |= HEARTH_F_CREATED;
            return HEARTH_OK;
        }
        if (strcmp(key, "content"))
            break;
        if (!json_is_string(v))
            FAIL(HEARTH_EINVAL, "invalid: content must be a string");
        ev->content.n = json_string_length(v);
        ev->content.p = hearth_arena_strdup(&ev->arena, json_string_value(v),
                                            ev->content.n, hint);
        if (!ev->content.p)
            FAIL(HEARTH_ENOMEM, "error: out of memory");
        *seen |= HEARTH_F_CONTENT;
        return HEARTH_OK;
    case 'k':
        if (strcmp(key, "kind"))
            break;
        if (!int_field(v, HEARTH_MAX_KIND, &x))
            FAIL(HEARTH_EINVAL, "invalid: kind must be an integer from 0 to 65535");
        ev->kind = (uint32_t)x;
        *seen |= HEARTH_F_KIND;
        return HEARTH_OK;
    case 't':
        if (strcmp(key, "tags"))
            break;
        *seen |= HEARTH_F_TAGS;
        return parse_tags(ev, v, hint, why);
    }
    FAIL(HEARTH_EINVAL, "invalid: unknown field in event");
}

int hearth_event_check_required(hearth_event *ev, unsigned seen,
                                unsigned flags, const char **why)
{
    if (!(flags & HEARTH_PARSE_UNSIGNED)) {
        if (!(seen & HEARTH_F_ID))
            FAIL(HEARTH_EINVAL, "invalid: missing id");
        if (!(seen & HEARTH_F_PUBKEY))
            FAIL(HEARTH_EINVAL, "invalid: missing pubkey");
        if (!(seen & HEARTH_F_SIG))
            FAIL(HEARTH_EINVAL, "invalid: missing sig");
        if (!(seen & HEARTH_F_CREATED))
            FAIL(HEARTH_EINVAL, "invalid: missing created_at");
        if (!(seen & HEARTH_F_TAGS))
            FAIL(HEARTH_EINVAL, "invalid: missing tags");
    }
    if (!(seen & HEARTH_F_KIND))
        FAIL(HEARTH_EINVAL, "invalid: missing kind");
    if (!(seen & HEARTH_F_CONTENT))
        FAIL(HEARTH_EINVAL, "invalid: missing content");
    ev->has = (seen & HEARTH_F_ID ? HEARTH_EV_HAS_ID : 0) |
              (seen & HEARTH_F_PUBKEY ? HEARTH_EV_HAS_PUBKEY : 0) |
              (seen & HEARTH_F_SIG ? HEARTH_EV_HAS_SIG : 0) |
              (seen & HEARTH_F_CREATED ? HEARTH_EV_HAS_CREATED_AT : 0);
    return HEARTH_OK;
}

int hearth_event_from_json(const json_t *obj, unsigned flags, size_t hint,
                           hearth_event **out, const char **why)
{
    const char *dummy;
    if (!why)
        why = &dummy;
    *out = NULL;
    if (!json_is_object(obj))
        FAIL(HEARTH_EINVAL, "invalid: event must be a JSON object");
    hearth_event *ev = event_alloc();
    if (!ev)
        FAIL(HEARTH_ENOMEM, "error: out of memory");
    unsigned seen = 0;
    const char *key;
    json_t *v;
    int rc = HEARTH_OK;
    json_object_foreach((json_t *)obj, key, v) {
        rc = parse_field(ev, key, v, hint, &seen, why);
        if (rc)
            break;
    }
    if (rc == HEARTH_OK)
        rc = hearth_event_check_required(ev, seen, flags, why);
    if (rc) {
        hearth_event_free(ev);
        return rc;
    }
    *out = ev;
    return HEARTH_OK;
}

int hearth_event_new(uint32_t kind, int64_t created_at, const char *content,
                     size_t content_len, hearth_event **out)
{
    *out = NULL;
    if (kind > HEARTH_MAX_KIND || created_at < 0 ||
        created_at > HEARTH_MAX_TIMESTAMP)
        return HEARTH_EINVAL;
    hearth_event *ev = event_alloc();
    if (!ev)
        return HEARTH_ENOMEM;
    ev->kind = kind;
    ev->created_at = created_at;
    ev->has = HEARTH_EV_HAS_CREATED_AT;
    int rc = hearth_event_set_content(ev, content ? content : "",
                                      content ? content_len : 0);
    if (rc) {
        hearth_event_free(ev);
        return rc;
    }
    *out = ev;
    return HEARTH_OK;
}

int hearth_event_set_content(hearth_event *ev, const char *content, size_t n)
{
    /* never build what our own (and every other) parser would refuse */
    if (!hearth_utf8_valid(content, n))
        return HEARTH_EINVAL;
    char *p = hearth_arena_strdup(&ev->arena, content, n, n + 1024);
    if (!p)
        return HEARTH_ENOMEM;
    ev->content.p = p;
    ev->content.n = n;
    ev->has &= ~(unsigned)(HEARTH_EV_HAS_ID | HEARTH_EV_HAS_SIG);
    return HEARTH_OK;
}

int hearth_event_add_tag(hearth_event *ev, size_t n, const char *const *vals,
                         const size_t *lens)
{
    if (ev->ntags >= HEARTH_EVENT_MAX_TAGS || n > HEARTH_TAG_MAX_VALUES)
        return HEARTH_ETOOBIG;
    if (ev->ntags == ev->tags_cap) {
        size_t cap = ev->tags_cap ? 2 * ev->tags_cap : 8;
        hearth_tag *t = hearth_arena_alloc(&ev->arena, cap * sizeof *t, 0);
        if (!t)
            return HEARTH_ENOMEM;
        if (ev->ntags)
            memcpy(t, ev->tags, ev->ntags * sizeof *t);
        ev->tags = t; /* the old array stays in the arena until free */
        ev->tags_cap = cap;
    }
    for (size_t i = 0; i < n; i++)
        if (!hearth_utf8_valid(vals[i], lens ? lens[i] : strlen(vals[i])))
            return HEARTH_EINVAL;
    hearth_str *v = hearth_arena_alloc(&ev->arena, (n ? n : 1) * sizeof *v, 0);
    if (!v)
        return HEARTH_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        v[i].n = lens ? lens[i] : strlen(vals[i]);
        v[i].p = hearth_arena_strdup(&ev->arena, vals[i], v[i].n, 0);
        if (!v[i].p)
            return HEARTH_ENOMEM;
    }
    ev->tags[ev->ntags].n = n;
    ev->tags[ev->ntags].v = v;
    ev->ntags++;
    ev->has &= ~(unsigned)(HEARTH_EV_HAS_ID | HEARTH_EV_HAS_SIG);
    return HEARTH_OK;
}

int hearth_event_add_tagv(hearth_event *ev, const char *name, ...)
{
    const char *vals[HEARTH_TAG_MAX_VALUES];
    size_t n = 0;
    va_list ap;
    va_start(ap, name);
    for (const char *s = name; s && n < HEARTH_TAG_MAX_VALUES;
         s = va_arg(ap, const char *))
        vals[n++] = s;
    va_end(ap);
    return hearth_event_add_tag(ev, n, vals, NULL);
}

static void add_tags_json(const hearth_event *ev, hearth_buf *out)
{
    hearth_buf_addc(out, '[');
    for (size_t i = 0; i < ev->ntags; i++) {
        if (i)
            hearth_buf_addc(out, ',');
        hearth_buf_addc(out, '[');
        for (size_t k = 0; k < ev->tags[i].n; k++) {
            if (k)
                hearth_buf_addc(out, ',');
            hearth_buf_addjson(out, ev->tags[i].v[k].p, ev->tags[i].v[k].n);
        }
        hearth_buf_addc(out, ']');
    }
    hearth_buf_addc(out, ']');
}

/* decimal without printf: serialization is on every verify */
static void add_uint(hearth_buf *out, uint64_t v)
{
    char tmp[24];
    size_t i = sizeof tmp;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    hearth_buf_add(out, tmp + i, sizeof tmp - i);
}

int hearth_event_serialize(const hearth_event *ev, hearth_buf *out)
{
    hearth_buf_reserve(out, 160 + ev->content.n);
    hearth_buf_adds(out, "[0,\"");
    hearth_buf_addhex(out, ev->pubkey, 32);
    hearth_buf_add(out, "\",", 2);
    add_uint(out, (uint64_t)ev->created_at);
    hearth_buf_addc(out, ',');
    add_uint(out, ev->kind);
    hearth_buf_addc(out, ',');
    add_tags_json(ev, out);
    hearth_buf_addc(out, ',');
    hearth_buf_addjson(out, ev->content.p, ev->content.n);
    return hearth_buf_addc(out, ']');
}

int hearth_event_compute_id(const hearth_event *ev, uint8_t id[32])
{
    hearth_buf b = HEARTH_BUF_INIT;
    int rc = hearth_event_serialize(ev, &b);
    if (rc == HEARTH_OK)
        hearth_sha256(b.p, b.len, id);
    hearth_buf_free(&b);
    return rc;
}

int hearth_event_to_json(const hearth_event *ev, hearth_buf *out)
{
    hearth_buf_addc(out, '{');
    if (ev->has & HEARTH_EV_HAS_ID) {
        hearth_buf_adds(out, "\"id\":\"");
        hearth_buf_addhex(out, ev->id, 32);
        hearth_buf_adds(out, "\",");
    }
    if (ev->has & HEARTH_EV_HAS_PUBKEY) {
        hearth_buf_adds(out, "\"pubkey\":\"");
        hearth_buf_addhex(out, ev->pubkey, 32);
        hearth_buf_adds(out, "\",");
    }
    /* no printf: the store builds this for every event it writes */
    if (ev->has & HEARTH_EV_HAS_CREATED_AT) {
        hearth_buf_adds(out, "\"created_at\":");
        if (ev->created_at < 0) {
            hearth_buf_addc(out, '-');
            add_uint(out, 0 - (uint64_t)ev->created_at);
        } else {
            add_uint(out, (uint64_t)ev->created_at);
        }
        hearth_buf_addc(out, ',');
    }
    hearth_buf_adds(out, "\"kind\":");
    add_uint(out, ev->kind);
    hearth_buf_adds(out, ",\"tags\":");
    add_tags_json(ev, out);
    hearth_buf_adds(out, ",\"content\":");
    hearth_buf_addjson(out, ev->content.p, ev->content.n);
    if (ev->has & HEARTH_EV_HAS_SIG) {
        hearth_buf_adds(out, ",\"sig\":\"");
        hearth_buf_addhex(out, ev->sig, 64);
        hearth_buf_addc(out, '"');
    }
    return hearth_buf_addc(out, '}');
}

int hearth_event_verify(const hearth_event *ev, const char **why)
{
    return hearth_event_verify_with(NULL, ev, why);
}

int hearth_event_verify_with(hearth_verifier *v, const hearth_event *ev,
                             const char **why)
{
    const char *dummy;
    uint8_t id[32];
    if (!why)
        why = &dummy;
    if ((ev->has & (HEARTH_EV_HAS_ID | HEARTH_EV_HAS_PUBKEY |
                    HEARTH_EV_HAS_SIG | HEARTH_EV_HAS_CREATED_AT)) !=
        (HEARTH_EV_HAS_ID | HEARTH_EV_HAS_PUBKEY | HEARTH_EV_HAS_SIG |
         HEARTH_EV_HAS_CREATED_AT))
        FAIL(HEARTH_EINVAL, "invalid: event is not signed");
    int rc = hearth_event_compute_id(ev, id);
    if (rc)
        FAIL(rc, "error: out of memory");
    if (memcmp(id, ev->id, 32) != 0)
        FAIL(HEARTH_EBADID, "invalid: event id does not match its content");
    /* the signature is checked against the recomputed id, never the claim */
    if (hearth_verifier_schnorr(v, ev->pubkey, id, 32, ev->sig))
        FAIL(HEARTH_EBADSIG, "invalid: bad signature");
    return HEARTH_OK;
}

int hearth_event_sign(hearth_event *ev, const uint8_t sk[32])
{
    int rc = hearth_key_pubkey(sk, ev->pubkey);
    if (rc)
        return rc;
    ev->has |= HEARTH_EV_HAS_PUBKEY | HEARTH_EV_HAS_CREATED_AT;
    rc = hearth_event_compute_id(ev, ev->id);
    if (rc)
        return rc;
    rc = hearth_schnorr_sign(sk, ev->id, 32, NULL, ev->sig);
    if (rc)
        return rc;
    ev->has |= HEARTH_EV_HAS_ID | HEARTH_EV_HAS_SIG;
    return HEARTH_OK;
}

enum hearth_kind_class hearth_kind_class(uint32_t kind)
{
    if (kind == 0 || kind == 3 || (kind >= 10000 && kind < 20000))
        return HEARTH_KIND_REPLACEABLE;
    if (kind >= 20000 && kind < 30000)
        return HEARTH_KIND_EPHEMERAL;
    if (kind >= 30000 && kind < 40000)
        return HEARTH_KIND_ADDRESSABLE;
    return HEARTH_KIND_REGULAR;
}

const hearth_tag *hearth_event_find_tag(const hearth_event *ev,
                                        const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < ev->ntags; i++) {
        const hearth_tag *t = &ev->tags[i];
        if (t->n >= 1 && t->v[0].n == n && memcmp(t->v[0].p, name, n) == 0)
            return t;
    }
    return NULL;
}

hearth_str hearth_event_d(const hearth_event *ev)
{
    const hearth_tag *t = hearth_event_find_tag(ev, "d");
    if (t && t->n >= 2)
        return t->v[1];
    return (hearth_str){"", 0};
}

int hearth_event_address(const hearth_event *ev, hearth_buf *out)
{
    enum hearth_kind_class c = hearth_kind_class(ev->kind);
    if (c != HEARTH_KIND_REPLACEABLE && c != HEARTH_KIND_ADDRESSABLE)
        return HEARTH_EINVAL;
    hearth_buf_addf(out, "%u:", ev->kind);
    hearth_buf_addhex(out, ev->pubkey, 32);
    hearth_buf_addc(out, ':');
    if (c == HEARTH_KIND_ADDRESSABLE) {
        hearth_str d = hearth_event_d(ev);
        hearth_buf_add(out, d.p, d.n);
    }
    return hearth_buf_error(out);
}

int hearth_event_expiration(const hearth_event *ev, int64_t *at)
{
    const hearth_tag *t = hearth_event_find_tag(ev, "expiration");
    if (!t)
        return 0;
    if (t->n < 2 || t->v[1].n == 0 || t->v[1].n > 16)
        return HEARTH_EINVAL;
    int64_t x = 0;
    for (size_t i = 0; i < t->v[1].n; i++) {
        char c = t->v[1].p[i];
        if (c < '0' || c > '9')
            return HEARTH_EINVAL;
        x = x * 10 + (c - '0');
    }
    if (x > HEARTH_MAX_TIMESTAMP)
        return HEARTH_EINVAL;
    *at = x;
    return 1;
}

int hearth_event_is_expired(const hearth_event *ev, int64_t now)
{
    int64_t at;
    return hearth_event_expiration(ev, &at) == 1 && at <= now;
}
