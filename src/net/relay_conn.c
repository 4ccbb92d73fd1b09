/* One client connection of the relay: a whole message in, answers out.
 * Nothing here touches a socket, so tests and the fuzzer drive it through
 * hearth_relay_conn_input; relay_lws.c feeds it from websocket frames. */
#include "relay_internal.h"

#include "hearth/error.h"
#include "hearth/hex.h"
#include "hearth/kinds.h"
#include "hearth/message.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t relay_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void relay_log(hearth_relay *r, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    if (!r->o.log)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    r->o.log(r->o.log_ctx, line);
}

/* ---- rate limits ---- */

/* A bucket holds two seconds' worth of tokens, so short bursts pass. A
 * bucket never used (last_ms 0) starts full. */
static int bucket_take(struct relay_bucket *b, double rate, int64_t now)
{
    double cap = rate * 2 < 1 ? 1 : rate * 2;
    if (b->last_ms == 0)
        b->tokens = cap;
    else
        b->tokens += (double)(now - b->last_ms) * rate / 1000.0;
    if (b->tokens > cap)
        b->tokens = cap;
    b->last_ms = now ? now : 1;
    if (b->tokens < 1)
        return 0;
    b->tokens -= 1;
    return 1;
}

static struct relay_pk_slot *pk_slot(hearth_relay *r, const uint8_t pk[32])
{
    unsigned char h[crypto_shorthash_BYTES];
    uint64_t v;
    crypto_shorthash(h, pk, 32, r->pk_key);
    memcpy(&v, h, sizeof v);
    struct relay_pk_slot *s = &r->pk[v % RELAY_PK_SLOTS];
    if (memcmp(s->pubkey, pk, 32)) {
        /* a colliding author takes the slot over with a full bucket:
         * the limit is a courtesy against floods from one honest key,
         * not a defence (keys are free) */
        memcpy(s->pubkey, pk, 32);
        s->b.last_ms = 0;
    }
    return s;
}

/* A forged event must not spend its claimed author's budget: the token
 * taken before verification is given back when the signature fails. */
static void pk_refund(hearth_relay *r, const uint8_t pk[32])
{
    if (!r->pk)
        return;
    struct relay_pk_slot *s = pk_slot(r, pk);
    if (s->b.last_ms)
        s->b.tokens += 1;
}

/* ---- output ---- */

static void free_output(hearth_relay_conn *c)
{
    struct relay_out *o = c->out_head, *next;
    for (; o; o = next) {
        next = o->next;
        free(o);
    }
    c->out_head = c->out_tail = NULL;
    c->out_bytes = 0;
}

static void slow_reader(hearth_relay_conn *c)
{
    hearth_relay *r = c->relay;
    char notice[160];
    free_output(c);
    r->st.slow_closed++;
    relay_log(r, "closing %s: over %zu bytes of unsent output", c->peer,
              r->o.max_output);
    snprintf(notice, sizeof notice,
             "error: closing the connection: more than %zu bytes waiting to "
             "be sent (reading too slowly)", r->o.max_output);
    relay_close_after(c, 1008, notice);
}

/* Queue the concatenation of n pieces as one message. */
static int send_parts(hearth_relay_conn *c, const hearth_str *parts, size_t n)
{
    size_t len = 0;
    if (c->dead || c->closing)
        return HEARTH_OK;
    for (size_t i = 0; i < n; i++)
        len += parts[i].n;
    if (c->out_bytes + len > c->relay->o.max_output) {
        slow_reader(c);
        return HEARTH_ETOOBIG;
    }
    struct relay_out *o = malloc(sizeof *o + RELAY_PRE + len);
    if (!o)
        return HEARTH_ENOMEM;
    char *p = o->data + RELAY_PRE;
    for (size_t i = 0; i < n; i++) {
        memcpy(p, parts[i].p, parts[i].n);
        p += parts[i].n;
    }
    o->len = len;
    o->next = NULL;
    if (c->out_tail)
        c->out_tail->next = o;
    else
        c->out_head = o;
    c->out_tail = o;
    c->out_bytes += len;
    relay_lws_want_write(c);
    return HEARTH_OK;
}

int relay_send(hearth_relay_conn *c, const char *msg, size_t len)
{
    hearth_str s = {msg, len};
    return send_parts(c, &s, 1);
}

/* ["EVENT",<subid as JSON>,<event JSON>] without re-encoding the event */
static int send_event(hearth_relay_conn *c, const struct relay_sub *s,
                      const char *json, size_t len)
{
    hearth_str parts[5] = {{"[\"EVENT\",", 9},
                           {s->subid_json, s->subid_json_len},
                           {",", 1},
                           {json, len},
                           {"]", 1}};
    return send_parts(c, parts, 5);
}

/* Build into the relay's scratch buffer, then queue. */
#define SEND_BUILT(c, call)                                                \
    do {                                                                   \
        hearth_buf *b_ = &(c)->relay->scratch;                             \
        hearth_buf_reset(b_);                                              \
        if ((call) == HEARTH_OK && !hearth_buf_error(b_))                  \
            relay_send((c), b_->p, b_->len);                               \
    } while (0)

void relay_send_notice(hearth_relay_conn *c, const char *text)
{
    SEND_BUILT(c, hearth_msg_build_notice(text, b_));
}

static void send_ok(hearth_relay_conn *c, const uint8_t id[32], int ok,
                    const char *why)
{
    SEND_BUILT(c, hearth_msg_build_ok(id, ok, why, b_));
}

static void send_closed(hearth_relay_conn *c, const char *subid,
                        const char *why)
{
    SEND_BUILT(c, hearth_msg_build_closed(subid, why, b_));
}

void relay_close_after(hearth_relay_conn *c, int code, const char *notice)
{
    if (c->closing || c->dead)
        return;
    if (notice)
        relay_send_notice(c, notice);
    c->closing = 1;
    c->close_code = code;
    relay_lws_want_write(c);
}

/* ---- flow control ---- */

/* Reading pauses when this connection or the whole pipeline has too much
 * in flight, or when the client is not reading its answers; it resumes at
 * half those marks so the state does not flap with every result. */
void relay_update_flow(hearth_relay_conn *c)
{
    hearth_relay *r = c->relay;
    if (c->dead)
        return;
    int pause;
    if (!c->throttled)
        pause = c->inflight >= r->o.max_inflight ||
                r->queued >= r->o.max_queue ||
                c->out_bytes >= r->o.max_output / 4;
    else
        pause = c->inflight > r->o.max_inflight / 2 ||
                r->queued > r->o.max_queue / 2 ||
                c->out_bytes > r->o.max_output / 8;
    if (pause == (int)c->throttled)
        return;
    c->throttled = (unsigned)pause;
    if (pause)
        r->nthrottled++;
    else
        r->nthrottled--;
    relay_lws_flow(c, !pause);
}

void relay_unthrottle(hearth_relay *r)
{
    for (hearth_relay_conn *c = r->conns; c && r->nthrottled; c = c->next)
        if (c->throttled)
            relay_update_flow(c);
}

/* ---- subscriptions ---- */

static void sub_clear(struct relay_sub *s)
{
    for (size_t i = 0; i < s->nfilters; i++)
        hearth_filter_free(s->filters[i]);
    free(s->filters);
    free(s->subid);
    free(s->subid_json);
    memset(s, 0, sizeof *s);
}

static struct relay_sub *sub_find(hearth_relay_conn *c, const char *subid)
{
    for (size_t i = 0; i < c->nsubs; i++)
        if (!strcmp(c->subs[i].subid, subid))
            return &c->subs[i];
    return NULL;
}

static void sub_remove(hearth_relay_conn *c, struct relay_sub *s)
{
    sub_clear(s);
    *s = c->subs[--c->nsubs];
    c->relay->st.subscriptions--;
}

static void subs_free(hearth_relay_conn *c)
{
    for (size_t i = 0; i < c->nsubs; i++)
        sub_clear(&c->subs[i]);
    c->relay->st.subscriptions -= c->nsubs;
    free(c->subs);
    c->subs = NULL;
    c->nsubs = c->subs_cap = 0;
}

/* The subid escaped once, as every EVENT for it will carry it. */
static int sub_init(struct relay_sub *s, const char *subid)
{
    hearth_buf b = HEARTH_BUF_INIT;
    memset(s, 0, sizeof *s);
    hearth_buf_addjson(&b, subid, strlen(subid));
    s->subid = strdup(subid);
    if (hearth_buf_error(&b) || !s->subid) {
        hearth_buf_free(&b);
        free(s->subid);
        s->subid = NULL;
        return HEARTH_ENOMEM;
    }
    s->subid_json = b.p;
    s->subid_json_len = b.len;
    return HEARTH_OK;
}

/* ---- the messages ---- */

static int authed_as(const hearth_relay_conn *c, const uint8_t pk[32])
{
    for (unsigned i = 0; i < c->nauthed; i++)
        if (!memcmp(c->authed[i], pk, 32))
            return 1;
    return 0;
}

/* The checks an EVENT passes on the loop thread, cheapest first and all
 * before the signature is looked at. NULL to go on, else the OK reason
 * (with *ok set: a duplicate is acknowledged). */
static const char *event_gate(hearth_relay_conn *c, const hearth_event *ev,
                              int64_t now, int *ok)
{
    hearth_relay *r = c->relay;
    const char *why = NULL;
    int found = 0;
    *ok = 0;
    if (ev->kind == HEARTH_KIND_AUTH)
        return "invalid: kind 22242 events belong in an AUTH message";
    if (r->o.auth & HEARTH_RELAY_AUTH_WRITE) {
        if (!c->nauthed)
            return "auth-required: this relay accepts events only from "
                   "authenticated clients (NIP-42)";
        if (!authed_as(c, ev->pubkey))
            return "restricted: you may only publish events signed by a key "
                   "you authenticated with";
    }
    if (r->o.rate_conn > 0 &&
        !bucket_take(&c->rate, r->o.rate_conn, relay_now_ms()))
        return "rate-limited: too many events from this connection; slow down";
    if (hearth_store_has_id(r->store, ev->id, &found))
        return "error: could not read the event store";
    if (found) {
        *ok = 1;
        return "duplicate: already have this event";
    }
    if (hearth_event_is_expired(ev, now))
        return "invalid: event has expired";
    if (hearth_policy_check(&r->o.policy, ev, now, &why))
        return why;
    if (r->pk && !bucket_take(&pk_slot(r, ev->pubkey)->b, r->o.rate_pubkey,
                              relay_now_ms()))
        return "rate-limited: too many events from this author; slow down";
    return NULL;
}

static void on_event(hearth_relay_conn *c, hearth_msg *m)
{
    hearth_relay *r = c->relay;
    int ok;
    r->st.events_received++;
    const char *why = event_gate(c, m->event, (int64_t)time(NULL), &ok);
    if (why) {
        if (ok)
            r->st.duplicates++;
        else
            r->st.events_refused++;
        send_ok(c, m->event->id, ok, why);
        return;
    }
    struct relay_job *j = calloc(1, sizeof *j);
    if (!j) {
        r->st.events_refused++;
        send_ok(c, m->event->id, 0, "error: out of memory");
        return;
    }
    j->conn = c;
    j->ev = m->event;
    m->event = NULL;
    c->inflight++;
    r->queued++;
    relay_submit(r, j);
    if (!c->dead)
        relay_update_flow(c);
}

static int reads_allowed(hearth_relay_conn *c, const char *subid)
{
    hearth_relay *r = c->relay;
    if ((r->o.auth & HEARTH_RELAY_AUTH_READ) && !c->nauthed) {
        send_closed(c, subid, "auth-required: this relay serves only "
                              "authenticated clients (NIP-42)");
        return 0;
    }
    return 1;
}

static int filters_allowed(hearth_relay_conn *c, const hearth_msg *m)
{
    char why[96];
    if (m->nfilters <= c->relay->o.max_filters)
        return 1;
    snprintf(why, sizeof why, "invalid: too many filters (this relay takes "
             "at most %zu per request)", c->relay->o.max_filters);
    send_closed(c, m->subid, why);
    return 0;
}

struct req_ctx {
    hearth_relay_conn *c;
    const struct relay_sub *sub;
};

static int req_row(void *ctx, const hearth_store_row *row)
{
    struct req_ctx *q = ctx;
    /* stop early rather than let one answer fill the output bound: the
     * client sees fewer events before EOSE, as with any capped limit */
    if (q->c->out_bytes > q->c->relay->o.max_output / 2 || q->c->closing)
        return 1;
    send_event(q->c, q->sub, row->json, row->len);
    return 0;
}

/* NIP-01: a missing limit or one above ours is clamped to ours. */
static void clamp_limits(hearth_filter **f, size_t n, size_t max)
{
    for (size_t i = 0; i < n; i++)
        if (!f[i]->has_limit || f[i]->limit > max) {
            f[i]->has_limit = 1;
            f[i]->limit = max;
        }
}

static struct relay_sub *sub_slot(hearth_relay_conn *c, const char *subid)
{
    hearth_relay *r = c->relay;
    struct relay_sub *s = sub_find(c, subid);
    if (s) {
        sub_remove(c, s); /* a REQ with a known subid replaces it */
    } else if (c->nsubs >= r->o.max_subs) {
        char why[128];
        snprintf(why, sizeof why, "rate-limited: too many open subscriptions "
                 "(at most %zu); CLOSE one first", r->o.max_subs);
        send_closed(c, subid, why);
        return NULL;
    }
    if (c->nsubs == c->subs_cap) {
        size_t cap = c->subs_cap ? c->subs_cap * 2 : 4;
        struct relay_sub *p = realloc(c->subs, cap * sizeof *p);
        if (!p)
            goto oom;
        c->subs = p;
        c->subs_cap = cap;
    }
    s = &c->subs[c->nsubs];
    if (sub_init(s, subid))
        goto oom;
    c->nsubs++;
    r->st.subscriptions++;
    return s;
oom:
    send_closed(c, subid, "error: out of memory");
    return NULL;
}

static void on_req(hearth_relay_conn *c, hearth_msg *m)
{
    hearth_relay *r = c->relay;
    if (!reads_allowed(c, m->subid) || !filters_allowed(c, m))
        return;
    struct relay_sub *s = sub_slot(c, m->subid);
    if (!s)
        return;
    s->filters = m->filters;
    s->nfilters = m->nfilters;
    m->filters = NULL;
    m->nfilters = 0;
    clamp_limits(s->filters, s->nfilters, r->o.max_limit);
    /* read before the query's snapshot: what is committed by now is in
     * the answer (or beyond its limit), even if its fan-out is pending */
    s->after_serial = relay_committed_serial(r);
    struct req_ctx q = {c, s};
    r->st.queries++;
    int rc = hearth_store_query(r->store, s->filters, s->nfilters,
                                r->o.max_limit * s->nfilters,
                                (int64_t)time(NULL), req_row, &q, NULL);
    if (rc < 0) {
        send_closed(c, s->subid, "error: could not read the event store");
        sub_remove(c, s);
        return;
    }
    SEND_BUILT(c, hearth_msg_build_eose(s->subid, b_));
}

static void on_count(hearth_relay_conn *c, hearth_msg *m)
{
    hearth_relay *r = c->relay;
    uint64_t n = 0;
    if (!reads_allowed(c, m->subid) || !filters_allowed(c, m))
        return;
    r->st.queries++;
    if (hearth_store_count(r->store, m->filters, m->nfilters,
                           (int64_t)time(NULL), &n, NULL)) {
        send_closed(c, m->subid, "error: could not read the event store");
        return;
    }
    SEND_BUILT(c, hearth_msg_build_count_result(m->subid, n, -1, b_));
}

static void on_close(hearth_relay_conn *c, const hearth_msg *m)
{
    struct relay_sub *s = sub_find(c, m->subid);
    if (s)
        sub_remove(c, s);
}

static void on_auth(hearth_relay_conn *c, const hearth_msg *m)
{
    hearth_relay *r = c->relay;
    const char *why = NULL;
    const hearth_event *ev = m->event;
    if (hearth_auth_check(ev, r->url, c->challenge, (int64_t)time(NULL),
                          &why)) {
        send_ok(c, ev->id, 0, why);
        return;
    }
    if (!authed_as(c, ev->pubkey)) {
        /* NIP-42 lets a client add keys; the oldest gives way when full */
        if (c->nauthed == RELAY_MAX_AUTHED)
            memmove(c->authed[0], c->authed[1],
                    (RELAY_MAX_AUTHED - 1) * 32u);
        else
            c->nauthed++;
        memcpy(c->authed[c->nauthed - 1], ev->pubkey, 32);
    }
    send_ok(c, ev->id, 1, "");
}

/* ---- answering what does not parse ---- */

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* p at a '"': the string up to the next '"' if it has no escapes */
static int plain_string(const char *p, const char *end, hearth_str *out)
{
    if (p >= end || *p != '"')
        return 0;
    const char *q = ++p;
    while (q < end && *q != '"' && *q != '\\')
        q++;
    if (q >= end || *q != '"')
        return 0;
    *out = (hearth_str){p, (size_t)(q - p)};
    return 1;
}

/* The type word and what follows it in ["TYPE", ...]; 0 if not so. */
static int message_head(const char *msg, size_t len, hearth_str *type,
                        const char **rest)
{
    const char *end = msg + len, *p = skip_ws(msg, end);
    if (p >= end || *p++ != '[')
        return 0;
    p = skip_ws(p, end);
    if (!plain_string(p, end, type))
        return 0;
    p = skip_ws(type->p + type->n + 1, end);
    if (p >= end || *p++ != ',')
        return 0;
    *rest = skip_ws(p, end);
    return 1;
}

/* The first "id" in key position of an event object: a guess, good enough
 * to address the OK false of an event that did not parse. */
static int guess_event_id(const char *start, const char *end, uint8_t id[32])
{
    for (const char *p = start + 1; p + 4 < end; p++) {
        if (memcmp(p, "\"id\"", 4))
            continue;
        const char *b = p - 1;
        while (b > start && (*b == ' ' || *b == '\n' || *b == '\t'))
            b--;
        if (*b != '{' && *b != ',')
            continue;
        const char *v = skip_ws(p + 4, end);
        hearth_str s;
        if (v >= end || *v != ':' || !plain_string(skip_ws(v + 1, end), end, &s))
            return 0;
        return s.n == 64 && hearth_hex_decode(s.p, 64, id, 32, 0) == HEARTH_OK;
    }
    return 0;
}

/* NIP-01 wants an OK for every EVENT and a CLOSED for every refused REQ,
 * and clients wait for them: so a message that fails to parse is answered
 * that way when its id or subid can be made out, else with a NOTICE. */
static void refuse_unparsed(hearth_relay_conn *c, const char *msg, size_t len,
                            const char *why)
{
    hearth_str type, sub;
    const char *rest;
    uint8_t id[32];
    char subid[HEARTH_SUBID_MAX * 4 + 1];
    if (message_head(msg, len, &type, &rest)) {
        if (type.n == 5 && !memcmp(type.p, "EVENT", 5) &&
            guess_event_id(rest, msg + len, id)) {
            c->relay->st.events_refused++;
            send_ok(c, id, 0, why);
            return;
        }
        if (((type.n == 3 && !memcmp(type.p, "REQ", 3)) ||
             (type.n == 5 && !memcmp(type.p, "COUNT", 5))) &&
            plain_string(rest, msg + len, &sub) && sub.n > 0 &&
            sub.n < sizeof subid && !memchr(sub.p, '\0', sub.n)) {
            memcpy(subid, sub.p, sub.n);
            subid[sub.n] = '\0';
            size_t before = c->out_bytes;
            send_closed(c, subid, why);
            if (c->out_bytes != before || c->closing)
                return; /* else the subid was not valid: fall through */
        }
    }
    relay_send_notice(c, why);
}

/* The connection is closed: the rest of the message is still coming, and
 * the next message could only be parsed by guessing where it starts. */
void relay_conn_too_large(hearth_relay_conn *c, size_t len)
{
    hearth_relay *r = c->relay;
    char notice[96];
    snprintf(notice, sizeof notice, "invalid: message too large (this relay "
             "takes at most %zu bytes)", r->o.max_message);
    relay_log(r, "closing %s: message of %zu+ bytes", c->peer, len);
    relay_close_after(c, 1009, notice);
}

int relay_conn_message(hearth_relay_conn *c, const char *msg, size_t len)
{
    hearth_relay *r = c->relay;
    hearth_msg m;
    const char *why = NULL;
    if (c->closing || c->dead)
        return 1;
    r->st.messages++;
    if (len > r->o.max_message) {
        relay_conn_too_large(c, len);
        return 1;
    }
    if (hearth_msg_parse_client(msg, len, &m, &why)) {
        refuse_unparsed(c, msg, len, why);
        return c->closing;
    }
    switch (m.type) {
    case HEARTH_MSG_EVENT: on_event(c, &m); break;
    case HEARTH_MSG_REQ: on_req(c, &m); break;
    case HEARTH_MSG_COUNT: on_count(c, &m); break;
    case HEARTH_MSG_CLOSE: on_close(c, &m); break;
    case HEARTH_MSG_AUTH: on_auth(c, &m); break;
    default: relay_send_notice(c, "invalid: not a client message"); break;
    }
    hearth_msg_clear(&m);
    return c->closing;
}

/* ---- results from the pipeline ---- */

/* serial 0: an ephemeral event, never part of a stored answer */
static void fanout(hearth_relay *r, const hearth_event *ev, uint64_t serial)
{
    hearth_buf *j = &r->evjson;
    int have = 0;
    for (hearth_relay_conn *c = r->conns; c; c = c->next) {
        if (c->closing)
            continue;
        for (size_t i = 0; i < c->nsubs; i++) {
            struct relay_sub *s = &c->subs[i];
            if ((serial && serial <= s->after_serial) ||
                !hearth_filter_match_any(s->filters, s->nfilters, ev))
                continue;
            if (!have) {
                hearth_buf_reset(j);
                if (hearth_event_to_json(ev, j) || hearth_buf_error(j))
                    return;
                have = 1;
            }
            send_event(c, s, j->p, j->len);
            if (c->closing)
                break;
        }
    }
}

void relay_job_finished(hearth_relay *r, struct relay_job *j)
{
    hearth_relay_conn *c = j->conn;
    int ok = j->verified && j->res.ok;
    const char *why = j->verified ? j->res.why : j->why;
    c->inflight--;
    r->queued--;
    if (!j->verified)
        pk_refund(r, j->ev->pubkey);
    if (j->verified && j->res.status == HEARTH_STORE_ERROR)
        relay_log(r, "store: %s", why ? why : "error");
    if (j->verified && j->res.status == HEARTH_STORE_STORED)
        r->st.events_stored++;
    else if (j->verified && j->res.status == HEARTH_STORE_EPHEMERAL)
        r->st.ephemeral++;
    else if (j->verified && j->res.status == HEARTH_STORE_DUPLICATE)
        r->st.duplicates++;
    else
        r->st.events_refused++;
    if (!c->dead)
        send_ok(c, j->ev->id, ok, why ? why : "");
    if (ok && (j->res.status == HEARTH_STORE_STORED ||
               j->res.status == HEARTH_STORE_EPHEMERAL))
        fanout(r, j->ev, j->res.status == HEARTH_STORE_STORED ? j->res.serial
                                                              : 0);
    relay_job_free(j);
    if (c->dead)
        relay_conn_release(c);
    else
        relay_update_flow(c);
}

/* ---- lifetime ---- */

hearth_relay_conn *relay_conn_alloc(hearth_relay *r, struct lws *wsi)
{
    uint8_t rnd[16];
    hearth_relay_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->relay = r;
    c->wsi = wsi;
    randombytes_buf(rnd, sizeof rnd);
    hearth_hex_encode(rnd, sizeof rnd, c->challenge);
    strcpy(c->peer, "local");
    c->next = r->conns;
    if (r->conns)
        r->conns->prev = c;
    r->conns = c;
    r->nconns++;
    r->st.connections++;
    r->st.accepted++;
    /* offered to everyone, so clients may authenticate even when the
     * relay requires nothing */
    SEND_BUILT(c, hearth_msg_build_auth_challenge(c->challenge, b_));
    return c;
}

void relay_conn_release(hearth_relay_conn *c)
{
    if (!c->dead || c->inflight)
        return;
    hearth_buf_free(&c->rx);
    free(c);
}

void relay_conn_gone(hearth_relay_conn *c)
{
    hearth_relay *r = c->relay;
    if (c->dead)
        return;
    if (c->prev)
        c->prev->next = c->next;
    else
        r->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    r->nconns--;
    r->st.connections--;
    if (c->throttled)
        r->nthrottled--;
    c->throttled = 0;
    c->dead = 1;
    c->wsi = NULL;
    subs_free(c);
    free_output(c);
    hearth_buf_free(&c->rx);
    relay_conn_release(c);
}

/* ---- the public face of call-driven connections ---- */

int hearth_relay_conn_new(hearth_relay *r, hearth_relay_conn **out)
{
    *out = relay_conn_alloc(r, NULL);
    return *out ? HEARTH_OK : HEARTH_ENOMEM;
}

int hearth_relay_conn_input(hearth_relay_conn *c, const char *msg, size_t len)
{
    return relay_conn_message(c, msg, len);
}

int hearth_relay_conn_output(hearth_relay_conn *c, hearth_buf *out)
{
    for (struct relay_out *o = c->out_head; o; o = o->next) {
        hearth_buf_add(out, o->data + RELAY_PRE, o->len);
        hearth_buf_addc(out, '\n');
    }
    free_output(c);
    relay_update_flow(c);
    return hearth_buf_error(out);
}

void hearth_relay_conn_free(hearth_relay_conn *c)
{
    if (c)
        relay_conn_gone(c);
}
