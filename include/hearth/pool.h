/* The relay pool: hearth's client side of Nostr. It keeps connections to a
 * set of relays (ws:// and wss://) on the one event loop, reconnects with
 * exponential backoff and jitter, fetches each relay's NIP-11 document and
 * honours its limits, answers NIP-42 challenges, keeps subscriptions alive
 * across reconnects, de-duplicates events across relays, and tracks the OK
 * of every published event per relay with retries. docs/pool.md describes
 * the behaviour, the limits and the retry table.
 *
 * Everything here runs on the loop thread: call these functions from the
 * thread that runs hearth_loop_run (or before it starts), never from
 * another thread (those use hearth_loop_wake, which calls opts.on_wake on
 * the loop thread). Callbacks must not call hearth_pool_free.
 *
 * Nothing that reaches the application is unchecked: every event a relay
 * sends is parsed strictly, its id recomputed, its signature verified and
 * its fields matched against the subscription's filters first. Relays that
 * send garbage, forgeries or floods collect a misbehaviour score and are
 * dropped for a cooling-off period (see hearth_pool_relay_info). */
#ifndef HEARTH_POOL_H
#define HEARTH_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "hearth/buf.h"
#include "hearth/event.h"
#include "hearth/filter.h"
#include "hearth/loop.h"

#define HEARTH_POOL_MAX_RELAYS 64u
#define HEARTH_RELAY_URL_MAX   255u  /* bytes of a normalized relay URL */
#define HEARTH_POOL_CA_FILE    "/etc/ssl/certs/ca-certificates.crt"

typedef struct hearth_pool hearth_pool;
typedef struct hearth_sub hearth_sub;

typedef struct hearth_pool_opts {
    const uint8_t *sk;          /* key for NIP-42 AUTH; NULL: never auth */
    const char *ca_file;        /* CA bundle for wss://; NULL: the system's */
    uint32_t backoff_min_ms;    /* first reconnect delay (500) */
    uint32_t backoff_max_ms;    /* cap of the reconnect delay (60000) */
    uint32_t nip11_timeout_ms;  /* NIP-11 fetch before connecting (5000);
                                   0 skips NIP-11 */
    uint32_t seen_cap;          /* ids remembered per subscription (65536) */
    uint32_t max_in_events;     /* verified events queued per relay for a
                                   busy application before reads pause
                                   (1024) */
    size_t max_pub_bytes;       /* bytes of events awaiting OKs (64 MiB) */
    uint32_t pub_attempts;      /* sends of one event to one relay (5) */
    uint32_t pub_timeout_ms;    /* overall time for one publish (30000) */
    uint32_t flood_per_s;       /* inbound messages/s before a relay counts
                                   as flooding (20000) */
    uint32_t drop_score;        /* misbehaviour score that drops a relay
                                   (100) */
    uint32_t cooloff_ms;        /* first cooling-off period (300000); it
                                   doubles on every further drop */
    uint32_t resume_margin_s;   /* since = newest seen - margin (60) */
    void (*on_wake)(void *user);/* after hearth_loop_wake, on the loop */
    void *user;                 /* for on_wake */
} hearth_pool_opts;

void hearth_pool_opts_default(hearth_pool_opts *o);

/* The pool adds its own client vhost to the loop's context. opts is
 * copied (the key too); NULL means the defaults, and so does 0 in any
 * field except nip11_timeout_ms and resume_margin_s. */
int hearth_pool_new(hearth_loop *loop, const hearth_pool_opts *opts,
                    hearth_pool **out);
/* Closes every connection at once (no goodbye frames), without running
 * the loop, and frees everything; pending publishes and subscriptions get
 * no more callbacks. Bounded time: it never waits for the network. */
void hearth_pool_free(hearth_pool *p);

/* Add a relay by URL (normalized with hearth_relay_url_normalize) and
 * start connecting. Existing subscriptions are sent to it too. Adding a URL
 * twice is a no-op. HEARTH_EINVAL for a bad URL, HEARTH_ETOOBIG past
 * HEARTH_POOL_MAX_RELAYS. *index (may be NULL) gets the relay's index. */
int hearth_pool_add_relay(hearth_pool *p, const char *url, size_t *index);
size_t hearth_pool_nrelays(const hearth_pool *p);

/* ---- subscriptions ---- */

enum hearth_sub_state {
    HEARTH_SUB_PENDING = 0, /* not sent yet (connecting, queued by
                               max_subscriptions, waiting for AUTH) */
    HEARTH_SUB_SENT,        /* REQ sent, stored events arriving */
    HEARTH_SUB_EOSE,        /* stored events done, live events follow */
    HEARTH_SUB_CLOSED,      /* the relay refused or ended it (message) */
    HEARTH_SUB_FAILED       /* the relay is unreachable or was dropped */
};

typedef struct hearth_sub_cbs {
    /* A verified, matching event seen for the first time by this
     * subscription. Return 0 when done with it (the pool frees it after
     * the call), or 1 when the application is busy: the pool keeps the
     * event and those after it queued (and pauses reading from relays
     * whose queue is full) until hearth_pool_resume. */
    int (*on_event)(hearth_sub *s, const hearth_event *ev,
                    const char *relay, void *user);
    /* A relay's state for this subscription changed (EOSE, CLOSED with the
     * relay's message, FAILED with a reason; back to PENDING when it
     * reconnects). May be NULL. */
    void (*on_state)(hearth_sub *s, const char *relay,
                     enum hearth_sub_state st, const char *message,
                     void *user);
    /* Once, when every relay has sent EOSE, closed the subscription or
     * failed, and the events queued before that were handed over. May be
     * NULL. */
    void (*on_all_eose)(hearth_sub *s, void *user);
} hearth_sub_cbs;

/* Subscribe with n filters (1..HEARTH_MSG_MAX_FILTERS; they are copied)
 * on every relay of the pool. The subscription lives until
 * hearth_pool_unsub or hearth_pool_free; callbacks start from the loop. */
int hearth_pool_sub(hearth_pool *p, hearth_filter *const *filters, size_t n,
                    const hearth_sub_cbs *cbs, void *user, hearth_sub **out);
/* Sends CLOSE where needed; no callbacks after this returns. */
void hearth_pool_unsub(hearth_sub *s);
/* This subscription's state at relay i. */
enum hearth_sub_state hearth_sub_relay_state(const hearth_sub *s, size_t i,
                                             const char **message);
/* The application can take events again (after on_event returned 1). */
void hearth_pool_resume(hearth_pool *p);

/* ---- publishing ---- */

enum hearth_pub_result {
    HEARTH_PUB_OK = 0,      /* accepted (or "duplicate:": already there) */
    HEARTH_PUB_REJECTED,    /* the relay said no for good (its message) */
    HEARTH_PUB_FAILED       /* never got an answer, or refused locally
                               (NIP-11 limits): the reason */
};

/* Called once per relay with the final result; message is the relay's
 * text for OK/REJECTED ("" if none) or hearth's reason for FAILED. */
typedef void (*hearth_pub_cb)(const uint8_t id[32], const char *relay,
                              enum hearth_pub_result r, const char *message,
                              void *user);

/* Send a signed event to every relay of the pool. The event is verified
 * first (HEARTH_EBADID/EBADSIG) and copied. HEARTH_ETOOBIG when the bytes
 * awaiting OKs would pass opts.max_pub_bytes: wait for results first.
 * Each relay's result arrives exactly once through cb, never from inside
 * this call. */
int hearth_pool_publish(hearth_pool *p, const hearth_event *ev,
                        hearth_pub_cb cb, void *user);
/* Publishes whose results are not all in yet. */
size_t hearth_pool_pending(const hearth_pool *p);

/* Retry policy by the machine-readable prefix of an OK (pure; see the
 * table in docs/pool.md). */
enum hearth_pub_action {
    HEARTH_PUB_ACCEPT,      /* ok true, or duplicate: */
    HEARTH_PUB_REJECT,      /* invalid: blocked: pow: restricted: mute: ... */
    HEARTH_PUB_RETRY,       /* rate-limited: error: -> backoff and resend */
    HEARTH_PUB_AUTH         /* auth-required: -> authenticate, resend once */
};
enum hearth_pub_action hearth_pub_policy(int ok, const char *message);

/* ---- relay information and health ---- */

enum hearth_relay_state {
    HEARTH_RELAY_IDLE = 0,  /* waiting to (re)connect */
    HEARTH_RELAY_NIP11,     /* fetching the NIP-11 document */
    HEARTH_RELAY_CONNECTING,
    HEARTH_RELAY_OPEN,
    HEARTH_RELAY_COOLING    /* dropped for misbehaviour until cooling_ms */
};

/* NIP-11 limitation fields the pool uses (0 / -1 when absent). */
typedef struct hearth_relay_limits {
    int fetched;                /* a NIP-11 document was read */
    int64_t max_message_length; /* 0: none */
    int64_t max_subscriptions;  /* 0: none */
    int64_t max_limit;          /* 0: none (informational) */
    int min_pow_difficulty;     /* 0: none */
    int auth_required;          /* 1 if the relay says so */
    int payment_required;       /* informational */
    int restricted_writes;      /* informational */
} hearth_relay_limits;

/* Parse a NIP-11 document (pure). Unknown fields are ignored; fields of the
 * wrong type count as absent. HEARTH_EINVAL if it is not a JSON object. */
int hearth_nip11_parse(const char *json, size_t len, hearth_relay_limits *out);

typedef struct hearth_pool_relay_info {
    const char *url;
    enum hearth_relay_state state;
    hearth_relay_limits limits;
    int authenticated;
    uint64_t connects, disconnects, connect_failures;
    uint64_t msgs_in, bytes_in, msgs_out, bytes_out;
    uint64_t events_in, events_delivered, duplicates;
    uint64_t bad_json, bad_id, bad_sig, unmatched, unknown_sub, floods;
    uint64_t oversized, notices;
    uint64_t paused;            /* times reading was paused */
    uint32_t queued, queued_max;/* events held for the application: now,
                                   and the most ever */
    uint32_t score;             /* current misbehaviour score */
    uint32_t drops;             /* times dropped for misbehaviour */
    int64_t cooling_ms;         /* ms of cooling-off left, 0 if none */
    const char *last_error;     /* "" if none */
} hearth_pool_relay_info;

/* Stats of relay i (pointers stay valid until the next pool call). */
int hearth_pool_relay_stats(const hearth_pool *p, size_t i,
                            hearth_pool_relay_info *out);
/* All relays' stats as a JSON array (appended to out). */
int hearth_pool_stats_json(const hearth_pool *p, hearth_buf *out);

/* ---- relay URLs and NIP-65 ---- */

/* ws:// or wss:// URL in a canonical form: scheme and host lowercased, the
 * default port (80/443) removed, an empty path written as nothing and a
 * lone "/" path dropped; no userinfo, query string kept, fragment
 * rejected. Appended to out. HEARTH_EINVAL for anything else. */
int hearth_relay_url_normalize(const char *url, hearth_buf *out);

/* A kind-10002 relay list (NIP-65): which relays an author writes to
 * (outbox: read their events there) and reads from (inbox: send events
 * that mention them there). */
typedef struct hearth_relay_list {
    size_t nread, nwrite;
    char *read[HEARTH_POOL_MAX_RELAYS];   /* normalized, owned */
    char *write[HEARTH_POOL_MAX_RELAYS];
} hearth_relay_list;

/* Pure parse of a kind-10002 event's "r" tags: ["r", url] counts for both,
 * ["r", url, "read"] or ["r", url, "write"] for one. Bad URLs, other
 * markers and duplicates are skipped; past HEARTH_POOL_MAX_RELAYS per list
 * the rest is ignored. HEARTH_EINVAL if the event is not kind 10002. The
 * caller frees with hearth_relay_list_clear. Does not verify the event. */
int hearth_nip65_parse(const hearth_event *ev, hearth_relay_list *out);
void hearth_relay_list_clear(hearth_relay_list *l);

#endif
