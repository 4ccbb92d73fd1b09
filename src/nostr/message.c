#include "hearth/message.h"
#include "hearth/utf8.h"
#include "hearth/error.h"
#include "hearth/hex.h"
#include "event_internal.h"
#include "json_internal.h"

#include <stdlib.h>
#include <string.h>

#define FAIL(code, reason)      \
    do {                        \
        *why = (reason);        \
        return (code);          \
    } while (0)

#define SIGNED (HEARTH_EV_HAS_ID | HEARTH_EV_HAS_PUBKEY | HEARTH_EV_HAS_SIG | \
                HEARTH_EV_HAS_CREATED_AT)

/* ---- strings ---- */

/* NIP-01 says "max length 64 chars"; we count code points, so a subid is
 * also at most 256 bytes */
static int subid_valid(const char *s)
{
    if (!s || !*s)
        return 0;
    size_t n = strnlen(s, 4 * HEARTH_SUBID_MAX + 1);
    return n <= 4 * HEARTH_SUBID_MAX && hearth_utf8_valid(s, n) &&
           hearth_utf8_count(s, n) <= HEARTH_SUBID_MAX;
}

static int text_valid(const char *s)
{
    return !s || hearth_utf8_valid(s, strlen(s));
}

static int challenge_valid(const char *s)
{
    if (!s || !*s)
        return 0;
    size_t n = strnlen(s, HEARTH_CHALLENGE_MAX + 1);
    return n <= HEARTH_CHALLENGE_MAX && hearth_utf8_valid(s, n);
}

static int dup_str(const char *s, size_t n, char **out, const char **why)
{
    char *p = malloc(n + 1);
    if (!p)
        FAIL(HEARTH_ENOMEM, "error: out of memory");
    memcpy(p, s, n);
    p[n] = '\0';
    *out = p;
    return HEARTH_OK;
}

/* ---- parsing ---- */

static int take_subid(const json_t *v, hearth_msg *m, const char **why)
{
    if (!json_is_string(v))
        FAIL(HEARTH_EINVAL, "invalid: subscription id must be a string");
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n == 0)
        FAIL(HEARTH_EINVAL, "invalid: subscription id must not be empty");
    if (memchr(s, '\0', n))
        FAIL(HEARTH_EINVAL, "invalid: subscription id must not contain NUL");
    if (hearth_utf8_count(s, n) > HEARTH_SUBID_MAX)
        FAIL(HEARTH_EINVAL,
             "invalid: subscription id longer than 64 characters");
    return dup_str(s, n, &m->subid, why);
}

/* OK, CLOSED and NOTICE texts */
static int take_text(const json_t *v, char **out, const char **why)
{
    if (!json_is_string(v))
        FAIL(HEARTH_EINVAL, "invalid: message text must be a string");
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (memchr(s, '\0', n))
        FAIL(HEARTH_EINVAL, "invalid: message text must not contain NUL");
    return dup_str(s, n, out, why);
}

static int take_event(const json_t *v, size_t hint, hearth_msg *m,
                      const char **why)
{
    return hearth_event_from_json(v, 0, hint, &m->event, why);
}

typedef int (*parse_fn)(const json_t *a, size_t n, size_t len, hearth_msg *m,
                        const char **why);

static int p_event(const json_t *a, size_t n, size_t len, hearth_msg *m,
                   const char **why)
{
    return take_event(json_array_get(a, 1), len, m, why);
}

/* REQ and COUNT: subid, then the filters */
static int p_filters(const json_t *a, size_t n, size_t len, hearth_msg *m,
                     const char **why)
{
    int rc = take_subid(json_array_get(a, 1), m, why);
    if (rc)
        return rc;
    if (n - 2 > HEARTH_MSG_MAX_FILTERS)
        FAIL(HEARTH_ETOOBIG, "invalid: too many filters");
    m->filters = calloc(n - 2, sizeof *m->filters);
    if (!m->filters)
        FAIL(HEARTH_ENOMEM, "error: out of memory");
    for (size_t i = 2; i < n; i++) {
        rc = hearth_filter_from_json(json_array_get(a, i),
                                     &m->filters[m->nfilters], why);
        if (rc)
            return rc;
        m->nfilters++;
    }
    return HEARTH_OK;
}

static int p_subid(const json_t *a, size_t n, size_t len, hearth_msg *m,
                   const char **why)
{
    return take_subid(json_array_get(a, 1), m, why);
}

static int p_relay_event(const json_t *a, size_t n, size_t len, hearth_msg *m,
                         const char **why)
{
    int rc = take_subid(json_array_get(a, 1), m, why);
    return rc ? rc : take_event(json_array_get(a, 2), len, m, why);
}

static int p_ok(const json_t *a, size_t n, size_t len, hearth_msg *m,
                const char **why)
{
    const json_t *id = json_array_get(a, 1), *ok = json_array_get(a, 2);
    if (!json_is_string(id) ||
        hearth_hex_decode(json_string_value(id), json_string_length(id),
                          m->id, 32, 0))
        FAIL(HEARTH_EINVAL,
             "invalid: OK event id must be 64 lowercase hex characters");
    if (!json_is_boolean(ok))
        FAIL(HEARTH_EINVAL, "invalid: OK status must be true or false");
    m->ok = json_is_true(ok);
    return take_text(json_array_get(a, 3), &m->message, why);
}

static int p_closed(const json_t *a, size_t n, size_t len, hearth_msg *m,
                    const char **why)
{
    int rc = take_subid(json_array_get(a, 1), m, why);
    return rc ? rc : take_text(json_array_get(a, 2), &m->message, why);
}

static int p_notice(const json_t *a, size_t n, size_t len, hearth_msg *m,
                    const char **why)
{
    return take_text(json_array_get(a, 1), &m->message, why);
}

static int p_challenge(const json_t *a, size_t n, size_t len, hearth_msg *m,
                       const char **why)
{
    const json_t *v = json_array_get(a, 1);
    if (!json_is_string(v) || json_string_length(v) == 0)
        FAIL(HEARTH_EINVAL, "invalid: AUTH challenge must be a non-empty string");
    if (json_string_length(v) > HEARTH_CHALLENGE_MAX)
        FAIL(HEARTH_ETOOBIG, "invalid: AUTH challenge too long");
    if (memchr(json_string_value(v), '\0', json_string_length(v)))
        FAIL(HEARTH_EINVAL, "invalid: AUTH challenge must not contain NUL");
    return dup_str(json_string_value(v), json_string_length(v),
                   &m->challenge, why);
}

static int count_field(const char *key, const json_t *v, hearth_msg *m,
                       int *seen, const char **why)
{
    if (!strcmp(key, "count")) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) > HEARTH_MAX_TIMESTAMP)
            FAIL(HEARTH_EINVAL,
                 "invalid: count must be an integer from 0 to 2^53-1");
        m->count = (uint64_t)json_integer_value(v);
        *seen = 1;
        return HEARTH_OK;
    }
    if (!strcmp(key, "approximate")) {
        if (!json_is_boolean(v))
            FAIL(HEARTH_EINVAL, "invalid: approximate must be true or false");
        m->approximate = json_is_true(v);
        return HEARTH_OK;
    }
    /* NIP-45 HyperLogLog registers: accepted so that such relays work,
     * but not kept, as nothing here merges counts across relays */
    if (!strcmp(key, "hll")) {
        if (!json_is_string(v))
            FAIL(HEARTH_EINVAL, "invalid: hll must be a string");
        return HEARTH_OK;
    }
    FAIL(HEARTH_EINVAL, "invalid: unknown field in COUNT result");
}

static int p_count_result(const json_t *a, size_t n, size_t len,
                          hearth_msg *m, const char **why)
{
    int rc = take_subid(json_array_get(a, 1), m, why);
    if (rc)
        return rc;
    const json_t *obj = json_array_get(a, 2);
    if (!json_is_object(obj))
        FAIL(HEARTH_EINVAL, "invalid: COUNT result must be a JSON object");
    const char *key;
    json_t *v;
    int seen = 0;
    json_object_foreach((json_t *)obj, key, v) {
        rc = count_field(key, v, m, &seen, why);
        if (rc)
            return rc;
    }
    if (!seen)
        FAIL(HEARTH_EINVAL, "invalid: COUNT result lacks count");
    return HEARTH_OK;
}

struct verb {
    const char *name;
    hearth_msg_type type;
    size_t min, max;          /* array elements, the name included */
    parse_fn parse;
    const char *arity;        /* why, when the count is outside min..max */
};

static const struct verb client_verbs[] = {
    {"EVENT", HEARTH_MSG_EVENT, 2, 2, p_event,
     "invalid: EVENT takes exactly one event"},
    {"REQ", HEARTH_MSG_REQ, 3, SIZE_MAX, p_filters,
     "invalid: REQ takes a subscription id and at least one filter"},
    {"CLOSE", HEARTH_MSG_CLOSE, 2, 2, p_subid,
     "invalid: CLOSE takes exactly a subscription id"},
    {"AUTH", HEARTH_MSG_AUTH, 2, 2, p_event,
     "invalid: AUTH takes exactly one event"},
    {"COUNT", HEARTH_MSG_COUNT, 3, SIZE_MAX, p_filters,
     "invalid: COUNT takes a subscription id and at least one filter"},
};

static const struct verb relay_verbs[] = {
    {"EVENT", HEARTH_MSG_RELAY_EVENT, 3, 3, p_relay_event,
     "invalid: EVENT takes a subscription id and an event"},
    {"OK", HEARTH_MSG_OK, 4, 4, p_ok,
     "invalid: OK takes an event id, a boolean and a message"},
    {"EOSE", HEARTH_MSG_EOSE, 2, 2, p_subid,
     "invalid: EOSE takes exactly a subscription id"},
    {"CLOSED", HEARTH_MSG_CLOSED, 3, 3, p_closed,
     "invalid: CLOSED takes a subscription id and a message"},
    {"NOTICE", HEARTH_MSG_NOTICE, 2, 2, p_notice,
     "invalid: NOTICE takes exactly a message"},
    {"AUTH", HEARTH_MSG_AUTH_CHALLENGE, 2, 2, p_challenge,
     "invalid: AUTH takes exactly a challenge"},
    {"COUNT", HEARTH_MSG_COUNT_RESULT, 3, 3, p_count_result,
     "invalid: COUNT takes a subscription id and a result object"},
};

static int parse_array(const json_t *a, size_t len, const struct verb *verbs,
                       size_t nverbs, hearth_msg *m, const char **why)
{
    if (!json_is_array(a))
        FAIL(HEARTH_EINVAL, "invalid: message must be a JSON array");
    size_t n = json_array_size(a);
    if (n == 0)
        FAIL(HEARTH_EINVAL, "invalid: empty message");
    const json_t *t = json_array_get(a, 0);
    if (!json_is_string(t))
        FAIL(HEARTH_EINVAL, "invalid: message type must be a string");
    for (size_t i = 0; i < nverbs; i++) {
        const struct verb *v = &verbs[i];
        /* the length check keeps "EOSE\u0000x" from passing as EOSE */
        if (json_string_length(t) != strlen(v->name) ||
            strcmp(json_string_value(t), v->name))
            continue;
        if (n < v->min || n > v->max)
            FAIL(HEARTH_EINVAL, v->arity);
        m->type = v->type;
        return v->parse(a, n, len, m, why);
    }
    FAIL(HEARTH_EINVAL, "unsupported: unknown message type");
}

/* ---- the EVENT fast path ----
 * EVENT messages are nearly all of a relay's (and a pool's) input. They are
 * parsed in place by the single-pass event parser instead of through a
 * jansson tree; anything unusual (escapes in a subid, a parse error) falls
 * back to the general path below, which gives the established reasons. */

static const char *ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

/* p at a token; if it is the literal lit, return what follows, else NULL */
static const char *lit(const char *p, const char *end, const char *lit)
{
    size_t n = strlen(lit);
    p = ws(p, end);
    return (size_t)(end - p) >= n && !memcmp(p, lit, n) ? p + n : NULL;
}

/* a subscription id without escapes; NULL if not that simple */
static const char *plain_subid(const char *p, const char *end, hearth_msg *m)
{
    p = ws(p, end);
    if (p == end || *p != '"')
        return NULL;
    const char *q = ++p;
    while (q < end && *q != '"' && *q != '\\' && (unsigned char)*q >= 0x20)
        q++;
    if (q == end || *q != '"' || q - p > 4 * (ptrdiff_t)HEARTH_SUBID_MAX)
        return NULL;
    char *sub = malloc((size_t)(q - p) + 1);
    if (!sub)
        return NULL;
    memcpy(sub, p, (size_t)(q - p));
    sub[q - p] = '\0';
    if (!subid_valid(sub)) {
        free(sub);
        return NULL;
    }
    m->subid = sub;
    return lit(q + 1, end, ",");
}

static int fast_event(const char *json, size_t len, int relay, hearth_msg *m)
{
    const char *end = json + len, *p = lit(json, end, "[");
    const char *why;
    size_t used;
    if (p)
        p = lit(p, end, "\"EVENT\"");
    if (p)
        p = lit(p, end, ",");
    if (p && relay)
        p = plain_subid(p, end, m);
    if (!p)
        return HEARTH_EINVAL;
    p = ws(p, end);
    if (hearth_event_parse_span(p, (size_t)(end - p), 0, &m->event, &used,
                                &why))
        return HEARTH_EINVAL;
    p = lit(p + used, end, "]");
    if (!p || ws(p, end) != end)
        return HEARTH_EINVAL;
    m->type = relay ? HEARTH_MSG_RELAY_EVENT : HEARTH_MSG_EVENT;
    return HEARTH_OK;
}

static int parse(const char *json, size_t len, const struct verb *verbs,
                 size_t nverbs, hearth_msg *out, const char **why)
{
    const char *dummy;
    if (!why)
        why = &dummy;
    memset(out, 0, sizeof *out);
    out->approximate = -1;
    if (len <= HEARTH_MSG_MAX_JSON &&
        fast_event(json, len, verbs == relay_verbs, out) == HEARTH_OK)
        return HEARTH_OK;
    hearth_msg_clear(out);
    out->approximate = -1;
    json_t *j = hearth_json_load(json, len, HEARTH_MSG_MAX_JSON, why);
    if (!j)
        return len > HEARTH_MSG_MAX_JSON ? HEARTH_ETOOBIG : HEARTH_EINVAL;
    int rc = parse_array(j, len, verbs, nverbs, out, why);
    json_decref(j);
    if (rc)
        hearth_msg_clear(out);
    return rc;
}

int hearth_msg_parse_client(const char *json, size_t len, hearth_msg *out,
                            const char **why)
{
    return parse(json, len, client_verbs,
                 sizeof client_verbs / sizeof client_verbs[0], out, why);
}

int hearth_msg_parse_relay(const char *json, size_t len, hearth_msg *out,
                           const char **why)
{
    return parse(json, len, relay_verbs,
                 sizeof relay_verbs / sizeof relay_verbs[0], out, why);
}

void hearth_msg_clear(hearth_msg *m)
{
    free(m->subid);
    free(m->message);
    free(m->challenge);
    hearth_event_free(m->event);
    for (size_t i = 0; i < m->nfilters; i++)
        hearth_filter_free(m->filters[i]);
    free(m->filters);
    memset(m, 0, sizeof *m);
}

/* ---- building ---- */

/* Checks the buffer and the size bound; an oversized message is taken
 * back out so the caller's buffer holds only whole messages. */
static int finish(hearth_buf *out, size_t start)
{
    int rc = hearth_buf_error(out);
    if (rc)
        return rc;
    if (out->len - start <= HEARTH_MSG_MAX_JSON)
        return HEARTH_OK;
    out->len = start;
    out->p[start] = '\0';
    return HEARTH_ETOOBIG;
}

static void add_str(hearth_buf *out, const char *s)
{
    hearth_buf_addc(out, ',');
    hearth_buf_addjson(out, s ? s : "", s ? strlen(s) : 0);
}

/* ["TYPE", event] and ["TYPE", subid, event] */
static int build_with_event(const char *head, const char *subid,
                            const hearth_event *ev, hearth_buf *out)
{
    if (!ev || (ev->has & SIGNED) != SIGNED)
        return HEARTH_EINVAL;
    size_t start = out->len;
    hearth_buf_adds(out, head);
    if (subid)
        add_str(out, subid);
    hearth_buf_addc(out, ',');
    hearth_event_to_json(ev, out);
    hearth_buf_addc(out, ']');
    return finish(out, start);
}

int hearth_msg_build_event(const hearth_event *ev, hearth_buf *out)
{
    return build_with_event("[\"EVENT\"", NULL, ev, out);
}

int hearth_msg_build_auth(const hearth_event *ev, hearth_buf *out)
{
    return build_with_event("[\"AUTH\"", NULL, ev, out);
}

int hearth_msg_build_relay_event(const char *subid, const hearth_event *ev,
                                 hearth_buf *out)
{
    if (!subid_valid(subid))
        return HEARTH_EINVAL;
    return build_with_event("[\"EVENT\"", subid, ev, out);
}

static int build_filters(const char *head, const char *subid,
                         hearth_filter *const *filters, size_t n,
                         hearth_buf *out)
{
    if (!subid_valid(subid) || n == 0 || n > HEARTH_MSG_MAX_FILTERS)
        return HEARTH_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!filters[i])
            return HEARTH_EINVAL;
    size_t start = out->len;
    hearth_buf_adds(out, head);
    add_str(out, subid);
    for (size_t i = 0; i < n; i++) {
        hearth_buf_addc(out, ',');
        hearth_filter_to_json(filters[i], out);
    }
    hearth_buf_addc(out, ']');
    return finish(out, start);
}

int hearth_msg_build_req(const char *subid, hearth_filter *const *filters,
                         size_t n, hearth_buf *out)
{
    return build_filters("[\"REQ\"", subid, filters, n, out);
}

int hearth_msg_build_count(const char *subid, hearth_filter *const *filters,
                           size_t n, hearth_buf *out)
{
    return build_filters("[\"COUNT\"", subid, filters, n, out);
}

/* ["TYPE", s1] or ["TYPE", s1, s2]; s2 may be NULL for "" */
static int build_strings(const char *head, const char *s1, const char *s2,
                         int two, hearth_buf *out)
{
    size_t start = out->len;
    hearth_buf_adds(out, head);
    add_str(out, s1);
    if (two)
        add_str(out, s2);
    hearth_buf_addc(out, ']');
    return finish(out, start);
}

int hearth_msg_build_close(const char *subid, hearth_buf *out)
{
    if (!subid_valid(subid))
        return HEARTH_EINVAL;
    return build_strings("[\"CLOSE\"", subid, NULL, 0, out);
}

int hearth_msg_build_eose(const char *subid, hearth_buf *out)
{
    if (!subid_valid(subid))
        return HEARTH_EINVAL;
    return build_strings("[\"EOSE\"", subid, NULL, 0, out);
}

int hearth_msg_build_closed(const char *subid, const char *message,
                            hearth_buf *out)
{
    if (!subid_valid(subid) || !text_valid(message))
        return HEARTH_EINVAL;
    return build_strings("[\"CLOSED\"", subid, message, 1, out);
}

int hearth_msg_build_notice(const char *message, hearth_buf *out)
{
    if (!text_valid(message))
        return HEARTH_EINVAL;
    return build_strings("[\"NOTICE\"", message, NULL, 0, out);
}

int hearth_msg_build_auth_challenge(const char *challenge, hearth_buf *out)
{
    if (!challenge_valid(challenge))
        return HEARTH_EINVAL;
    return build_strings("[\"AUTH\"", challenge, NULL, 0, out);
}

int hearth_msg_build_ok(const uint8_t id[32], int ok, const char *message,
                        hearth_buf *out)
{
    if (!text_valid(message))
        return HEARTH_EINVAL;
    size_t start = out->len;
    hearth_buf_adds(out, "[\"OK\",\"");
    hearth_buf_addhex(out, id, 32);
    hearth_buf_adds(out, ok ? "\",true" : "\",false");
    add_str(out, message);
    hearth_buf_addc(out, ']');
    return finish(out, start);
}

int hearth_msg_build_count_result(const char *subid, uint64_t count,
                                  int approximate, hearth_buf *out)
{
    if (!subid_valid(subid) || count > (uint64_t)HEARTH_MAX_TIMESTAMP ||
        approximate < -1 || approximate > 1)
        return HEARTH_EINVAL;
    size_t start = out->len;
    hearth_buf_adds(out, "[\"COUNT\"");
    add_str(out, subid);
    hearth_buf_addf(out, ",{\"count\":%llu", (unsigned long long)count);
    if (approximate >= 0)
        hearth_buf_adds(out, approximate ? ",\"approximate\":true"
                                         : ",\"approximate\":false");
    hearth_buf_adds(out, "}]");
    return finish(out, start);
}

int hearth_msg_build(const hearth_msg *m, hearth_buf *out)
{
    switch (m->type) {
    case HEARTH_MSG_EVENT:
        return hearth_msg_build_event(m->event, out);
    case HEARTH_MSG_REQ:
        return hearth_msg_build_req(m->subid, m->filters, m->nfilters, out);
    case HEARTH_MSG_CLOSE:
        return hearth_msg_build_close(m->subid, out);
    case HEARTH_MSG_AUTH:
        return hearth_msg_build_auth(m->event, out);
    case HEARTH_MSG_COUNT:
        return hearth_msg_build_count(m->subid, m->filters, m->nfilters, out);
    case HEARTH_MSG_RELAY_EVENT:
        return hearth_msg_build_relay_event(m->subid, m->event, out);
    case HEARTH_MSG_OK:
        return hearth_msg_build_ok(m->id, m->ok, m->message, out);
    case HEARTH_MSG_EOSE:
        return hearth_msg_build_eose(m->subid, out);
    case HEARTH_MSG_CLOSED:
        return hearth_msg_build_closed(m->subid, m->message, out);
    case HEARTH_MSG_NOTICE:
        return hearth_msg_build_notice(m->message, out);
    case HEARTH_MSG_AUTH_CHALLENGE:
        return hearth_msg_build_auth_challenge(m->challenge, out);
    case HEARTH_MSG_COUNT_RESULT:
        return hearth_msg_build_count_result(m->subid, m->count,
                                             m->approximate, out);
    case HEARTH_MSG_NONE:
        break;
    }
    return HEARTH_EINVAL;
}

/* ---- OK / CLOSED prefixes ---- */

static const char *const prefix_names[] = {
    [HEARTH_PREFIX_NONE] = "",
    [HEARTH_PREFIX_OTHER] = "",
    [HEARTH_PREFIX_DUPLICATE] = "duplicate",
    [HEARTH_PREFIX_POW] = "pow",
    [HEARTH_PREFIX_BLOCKED] = "blocked",
    [HEARTH_PREFIX_RATE_LIMITED] = "rate-limited",
    [HEARTH_PREFIX_INVALID] = "invalid",
    [HEARTH_PREFIX_RESTRICTED] = "restricted",
    [HEARTH_PREFIX_MUTE] = "mute",
    [HEARTH_PREFIX_ERROR] = "error",
    [HEARTH_PREFIX_AUTH_REQUIRED] = "auth-required",
    [HEARTH_PREFIX_UNSUPPORTED] = "unsupported",
};

#define NPREFIX (sizeof prefix_names / sizeof prefix_names[0])

const char *hearth_prefix_str(hearth_prefix p)
{
    return (unsigned)p < NPREFIX ? prefix_names[p] : "";
}

hearth_prefix hearth_prefix_parse(const char *msg)
{
    if (!msg)
        return HEARTH_PREFIX_NONE;
    size_t n = strspn(msg, "abcdefghijklmnopqrstuvwxyz0123456789-");
    if (n == 0 || msg[n] != ':')
        return HEARTH_PREFIX_NONE;
    for (size_t p = HEARTH_PREFIX_DUPLICATE; p < NPREFIX; p++)
        if (strlen(prefix_names[p]) == n && !memcmp(msg, prefix_names[p], n))
            return (hearth_prefix)p;
    return HEARTH_PREFIX_OTHER;
}

int hearth_prefix_build(hearth_prefix p, const char *text, hearth_buf *out)
{
    const char *name = hearth_prefix_str(p);
    if (*name) {
        hearth_buf_adds(out, name);
        hearth_buf_adds(out, ": ");
    }
    hearth_buf_adds(out, text ? text : "");
    return hearth_buf_error(out);
}

/* ---- NIP-42 ---- */

int hearth_auth_build(const char *relay_url, const char *challenge,
                      const uint8_t sk[32], int64_t created_at,
                      hearth_event **out)
{
    hearth_event *ev;
    *out = NULL;
    if (!relay_url || !challenge)
        return HEARTH_EINVAL;
    int rc = hearth_event_new(HEARTH_AUTH_KIND, created_at, "", 0, &ev);
    if (rc)
        return rc;
    rc = hearth_event_add_tagv(ev, "relay", relay_url, (char *)NULL);
    if (rc == HEARTH_OK)
        rc = hearth_event_add_tagv(ev, "challenge", challenge, (char *)NULL);
    if (rc == HEARTH_OK)
        rc = hearth_event_sign(ev, sk);
    if (rc) {
        hearth_event_free(ev);
        return rc;
    }
    *out = ev;
    return HEARTH_OK;
}

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* length of "scheme://host:port", or 0 if s has no "://" */
static size_t origin_len(const char *s, size_t n)
{
    for (size_t i = 0; i + 3 <= n; i++) {
        if (memcmp(s + i, "://", 3))
            continue;
        for (i += 3; i < n; i++)
            if (s[i] == '/' || s[i] == '?' || s[i] == '#')
                break;
        return i;
    }
    return 0;
}

/* NIP-42 leaves URL normalization to the relay. Clients differ in the case
 * of the host and in a trailing '/', so those are ignored; the path,
 * query and port (written or not) must otherwise agree. */
static int same_relay(const char *a, size_t an, const char *b)
{
    size_t bn = strlen(b);
    while (an && a[an - 1] == '/')
        an--;
    while (bn && b[bn - 1] == '/')
        bn--;
    size_t ao = origin_len(a, an), bo = origin_len(b, bn);
    if (ao != bo || an - ao != bn - bo)
        return 0;
    for (size_t i = 0; i < ao; i++)
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
            return 0;
    return memcmp(a + ao, b + bo, an - ao) == 0;
}

/* first value of the first tag called name, if it has one */
static const hearth_str *tag_value(const hearth_event *ev, const char *name)
{
    const hearth_tag *t = hearth_event_find_tag(ev, name);
    return t && t->n >= 2 ? &t->v[1] : NULL;
}

int hearth_auth_check(const hearth_event *ev, const char *relay_url,
                      const char *challenge, int64_t now, const char **why)
{
    const char *dummy;
    if (!why)
        why = &dummy;
    if (ev->kind != HEARTH_AUTH_KIND)
        FAIL(HEARTH_EINVAL, "invalid: AUTH event must be of kind 22242");
    const hearth_str *c = tag_value(ev, "challenge");
    if (!c)
        FAIL(HEARTH_EINVAL, "invalid: AUTH event lacks a challenge tag");
    if (!challenge || c->n != strlen(challenge) ||
        memcmp(c->p, challenge, c->n))
        FAIL(HEARTH_EINVAL, "invalid: AUTH challenge does not match");
    const hearth_str *r = tag_value(ev, "relay");
    if (!r)
        FAIL(HEARTH_EINVAL, "invalid: AUTH event lacks a relay tag");
    if (!relay_url || !same_relay(r->p, r->n, relay_url))
        FAIL(HEARTH_EINVAL, "invalid: AUTH event is for another relay");
    /* unsigned arithmetic: the distance is exact for any now */
    uint64_t d = ev->created_at > now
                     ? (uint64_t)ev->created_at - (uint64_t)now
                     : (uint64_t)now - (uint64_t)ev->created_at;
    if (!(ev->has & HEARTH_EV_HAS_CREATED_AT) || d > HEARTH_AUTH_MAX_SKEW)
        FAIL(HEARTH_EINVAL,
             "invalid: AUTH event created_at is too far from the current time");
    return hearth_event_verify(ev, why);
}
