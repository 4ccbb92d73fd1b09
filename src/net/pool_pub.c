/* Publishing: one EVENT message per publish, sent to every relay, with
 * the relay's OK tracked per (event, relay). Retries follow
 * hearth_pub_policy with backoff; transport losses resend after the
 * reconnect; every relay gets exactly one final callback, bounded by
 * opts.pub_attempts and opts.pub_timeout_ms. */
#include "pool_internal.h"

#include "hearth/error.h"
#include "hearth/hex.h"
#include "hearth/message.h"
#include "hearth/nip13.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* an event is retried after "rate-limited:" no sooner than this */
#define RETRY_BASE_MS 1000
#define RETRY_MAX_MS 30000
/* events sent to one relay and still waiting for their OK: more would
 * only sit in the relay's input buffer */
#define MAX_IN_FLIGHT 256

static void finalize(struct pool_relay *r, struct pub_at *a,
                     enum hearth_pub_result res, const char *msg)
{
    struct pool_pub *pub = a->pub;
    hearth_pool *p = r->pool;
    a->state = PUB_AT_DONE;
    a->next = NULL;
    pub->open--;
    if (pub->open == 0 && pub->counted) {
        /* freed later by the reap, never under a caller's loop */
        pub->counted = 0;
        p->npubs--;
        p->pub_bytes -= pub->cost;
    }
    if (pub->cb)
        pub->cb(pub->id, r->url, res, msg ? msg : "", pub->user);
}

static void push_back(struct pool_relay *r, struct pub_at *a)
{
    a->state = PUB_AT_QUEUED;
    a->next = NULL;
    if (r->sendq_tail)
        r->sendq_tail->next = a;
    else
        r->sendq = a;
    r->sendq_tail = a;
}

/* remove a from the list at *head; 1 if it was there */
static int unlink_from(struct pub_at **head, struct pub_at **tail,
                       struct pub_at *a)
{
    struct pub_at *prev = NULL;
    for (struct pub_at *x = *head; x; prev = x, x = x->next) {
        if (x != a)
            continue;
        if (prev)
            prev->next = a->next;
        else
            *head = a->next;
        if (tail && *tail == a)
            *tail = prev;
        a->next = NULL;
        return 1;
    }
    return 0;
}

static void unlink_any(struct pool_relay *r, struct pub_at *a)
{
    if (a->state == PUB_AT_QUEUED)
        unlink_from(&r->sendq, &r->sendq_tail, a);
    else if (a->state == PUB_AT_SENT && unlink_from(&r->sent, NULL, a))
        r->nsent_pubs--;
}

int hearth_pool_publish(hearth_pool *p, const hearth_event *ev,
                        hearth_pub_cb cb, void *user)
{
    const unsigned need = HEARTH_EV_HAS_ID | HEARTH_EV_HAS_PUBKEY |
                          HEARTH_EV_HAS_SIG;
    if (!ev || (ev->has & need) != need || p->nrelays == 0)
        return HEARTH_EINVAL;
    int rc = hearth_event_verify(ev, NULL);
    if (rc)
        return rc;
    hearth_buf b = HEARTH_BUF_INIT;
    rc = hearth_msg_build_event(ev, &b);
    if (rc || (rc = hearth_buf_error(&b))) {
        hearth_buf_free(&b);
        return rc;
    }
    size_t head = sizeof(struct pool_pub) + p->nrelays * sizeof(struct pub_at);
    if (p->pub_bytes + head + b.len > p->o.max_pub_bytes) {
        hearth_buf_free(&b);
        return HEARTH_ETOOBIG;
    }
    struct pool_pub *pub = calloc(1, head);
    if (!pub) {
        hearth_buf_free(&b);
        return HEARTH_ENOMEM;
    }
    pub->nat = p->nrelays;
    pub->cost = head + b.len;
    memcpy(pub->id, ev->id, 32);
    hearth_hex_encode(ev->id, 32, pub->idhex);
    pub->difficulty = hearth_nip13_leading_zero_bits(ev->id);
    pub->msg = b.p;
    pub->len = b.len;
    pub->deadline = pool_now_ms() + p->o.pub_timeout_ms;
    pub->cb = cb;
    pub->user = user;
    pub->open = p->nrelays;
    pub->counted = 1;
    pub->next = p->pubs;
    if (p->pubs)
        p->pubs->prev = pub;
    p->pubs = pub;
    p->npubs++;
    p->pub_bytes += pub->cost;
    for (size_t i = 0; i < p->nrelays; i++) {
        pub->at[i].pub = pub;
        push_back(p->relays[i], &pub->at[i]);
        pool_want_write(p->relays[i]);
    }
    return HEARTH_OK;
}

/* NIP-11 limits, checked before each send: refusing here saves a round
 * trip and a misleading "rejected" from the relay */
static int over_limits(const struct pool_relay *r, const struct pool_pub *pub,
                       char *why, size_t n)
{
    const hearth_relay_limits *l = &r->lim;
    if (l->max_message_length > 0 &&
        pub->len > (uint64_t)l->max_message_length) {
        snprintf(why, n, "event message is %zu bytes, over the relay's "
                 "max_message_length %" PRId64, pub->len,
                 l->max_message_length);
        return 1;
    }
    if (l->min_pow_difficulty > 0 && pub->difficulty < l->min_pow_difficulty) {
        snprintf(why, n, "pow: difficulty %d is below the relay's "
                 "min_pow_difficulty %d", pub->difficulty,
                 l->min_pow_difficulty);
        return 1;
    }
    return 0;
}

int pool_pub_next_msg(struct pool_relay *r, hearth_buf *out)
{
    hearth_pool *p = r->pool;
    struct pub_at *a;
    char why[240];
    while (r->nsent_pubs < MAX_IN_FLIGHT && (a = r->sendq)) {
        r->sendq = a->next;
        if (!r->sendq)
            r->sendq_tail = NULL;
        a->next = NULL;
        if (over_limits(r, a->pub, why, sizeof why)) {
            finalize(r, a, HEARTH_PUB_FAILED, why);
            continue;
        }
        if (a->attempts >= p->o.pub_attempts) {
            snprintf(why, sizeof why, "gave up after %u attempts: %s",
                     a->attempts, a->last[0] ? a->last : "no answer");
            finalize(r, a, HEARTH_PUB_FAILED, why);
            continue;
        }
        hearth_buf_add(out, a->pub->msg, a->pub->len);
        a->attempts++;
        a->state = PUB_AT_SENT;
        a->next = r->sent;
        r->sent = a;
        r->nsent_pubs++;
        return 1;
    }
    return 0;
}

static void retry_later(struct pool_relay *r, struct pub_at *a,
                        const char *msg)
{
    hearth_pool *p = r->pool;
    char why[240];
    snprintf(a->last, sizeof a->last, "%s", msg);
    if (a->attempts >= p->o.pub_attempts) {
        snprintf(why, sizeof why, "gave up after %u attempts: %s",
                 a->attempts, msg);
        finalize(r, a, HEARTH_PUB_FAILED, why);
        return;
    }
    a->state = PUB_AT_BACKOFF;
    a->retry_at = pool_now_ms() +
                  pool_backoff_ms(a->attempts - 1, RETRY_BASE_MS, RETRY_MAX_MS,
                                  randombytes_random());
}

static void on_auth_required(struct pool_relay *r, struct pub_at *a,
                             const char *msg)
{
    if (!r->pool->has_key || a->auth_retried) {
        finalize(r, a, HEARTH_PUB_REJECTED, msg);
        return;
    }
    a->auth_retried = 1;
    snprintf(a->last, sizeof a->last, "%s", msg);
    if (r->auth == AUTH_OK) {
        push_back(r, a);
        pool_want_write(r);
    } else {
        a->state = PUB_AT_AUTH; /* resent by pool_pub_after_auth */
    }
}

void pool_pub_on_ok(struct pool_relay *r, const hearth_msg *m)
{
    struct pub_at *a = r->sent;
    while (a && memcmp(a->pub->id, m->id, 32))
        a = a->next;
    if (!a)
        return; /* an answer we stopped waiting for (timed out) */
    unlink_from(&r->sent, NULL, a);
    r->nsent_pubs--;
    pool_want_write(r); /* room in flight */
    switch (hearth_pub_policy(m->ok, m->message)) {
    case HEARTH_PUB_ACCEPT:
        finalize(r, a, HEARTH_PUB_OK, m->message);
        break;
    case HEARTH_PUB_REJECT:
        finalize(r, a, HEARTH_PUB_REJECTED, m->message);
        break;
    case HEARTH_PUB_RETRY:
        retry_later(r, a, m->message);
        break;
    case HEARTH_PUB_AUTH:
        on_auth_required(r, a, m->message);
        break;
    }
}

void pool_pub_after_auth(struct pool_relay *r, int ok)
{
    for (struct pool_pub *pub = r->pool->pubs; pub; pub = pub->next) {
        if (r->index >= pub->nat)
            continue;
        struct pub_at *a = &pub->at[r->index];
        if (a->state != PUB_AT_AUTH)
            continue;
        if (ok)
            push_back(r, a);
        else
            finalize(r, a, HEARTH_PUB_REJECTED, a->last);
    }
    pool_want_write(r);
}

void pool_pub_relay_up(struct pool_relay *r)
{
    pool_want_write(r);
}

/* Events sent but not answered go back to the front of the queue, to be
 * sent again after the reconnect (each send counted as an attempt). */
void pool_pub_relay_down(struct pool_relay *r, const char *why)
{
    struct pub_at *rev = NULL;
    while (r->sent) {
        struct pub_at *a = r->sent;
        r->sent = a->next;
        a->next = rev;
        rev = a;
    }
    r->nsent_pubs = 0;
    /* r->sent was newest first; rev is oldest first */
    struct pub_at *last = NULL;
    for (struct pub_at *a = rev; a; a = a->next) {
        a->state = PUB_AT_QUEUED;
        snprintf(a->last, sizeof a->last, "%s", why);
        last = a;
    }
    if (last) {
        last->next = r->sendq;
        if (!r->sendq)
            r->sendq_tail = last;
        r->sendq = rev;
    }
}

void pool_pub_relay_dropped(struct pool_relay *r, const char *why)
{
    char msg[240];
    snprintf(msg, sizeof msg, "relay dropped: %s", why);
    r->sendq = r->sendq_tail = r->sent = NULL;
    r->nsent_pubs = 0;
    for (struct pool_pub *pub = r->pool->pubs; pub; pub = pub->next) {
        if (r->index >= pub->nat)
            continue;
        struct pub_at *a = &pub->at[r->index];
        if (a->state != PUB_AT_DONE)
            finalize(r, a, HEARTH_PUB_FAILED, msg);
    }
}

static void tick_one(struct pool_relay *r, struct pub_at *a, int64_t now)
{
    char why[240];
    if (now >= a->pub->deadline) {
        unlink_any(r, a);
        snprintf(why, sizeof why, "timed out after %u attempts: %s",
                 a->attempts, a->last[0] ? a->last :
                 r->last_error[0] ? r->last_error : "no answer");
        finalize(r, a, HEARTH_PUB_FAILED, why);
    } else if (a->state == PUB_AT_BACKOFF && now >= a->retry_at) {
        push_back(r, a);
        pool_want_write(r);
    } else if (a->state == PUB_AT_QUEUED &&
               r->state == HEARTH_RELAY_COOLING) {
        unlink_any(r, a);
        snprintf(why, sizeof why, "relay is cooling off: %s", r->last_error);
        finalize(r, a, HEARTH_PUB_FAILED, why);
    }
}

void pool_pub_tick(hearth_pool *p, int64_t now)
{
    for (struct pool_pub *pub = p->pubs; pub; pub = pub->next)
        for (size_t i = 0; i < pub->nat && pub->open; i++)
            if (pub->at[i].state != PUB_AT_DONE)
                tick_one(p->relays[i], &pub->at[i], now);
}

static void pub_unlink_free(hearth_pool *p, struct pool_pub *pub)
{
    if (pub->prev)
        pub->prev->next = pub->next;
    else
        p->pubs = pub->next;
    if (pub->next)
        pub->next->prev = pub->prev;
    free(pub->msg);
    free(pub);
}

void pool_pub_reap(hearth_pool *p)
{
    struct pool_pub *pub = p->pubs;
    while (pub) {
        struct pool_pub *next = pub->next;
        if (pub->open == 0)
            pub_unlink_free(p, pub);
        pub = next;
    }
}

void pool_pub_free_all(hearth_pool *p)
{
    while (p->pubs)
        pub_unlink_free(p, p->pubs);
    p->npubs = 0;
    p->pub_bytes = 0;
    for (size_t i = 0; i < p->nrelays; i++) {
        struct pool_relay *r = p->relays[i];
        r->sendq = r->sendq_tail = r->sent = NULL;
        r->nsent_pubs = 0;
    }
}
