/* Private parts of the relay pool (src/net/pool*.c) and its pure helpers,
 * which the unit tests reach through this header. */
#ifndef HEARTH_POOL_INTERNAL_H
#define HEARTH_POOL_INTERNAL_H

#include <libwebsockets.h>
#include <stdint.h>

#include "hearth/buf.h"
#include "hearth/event.h"
#include "hearth/filter.h"
#include "hearth/loop.h"
#include "hearth/message.h"
#include "hearth/pool.h"

/* ---- pure helpers (pool_util.c) ---- */

/* Reconnect/retry delay before attempt number `attempt` (0 = first retry):
 * the exponential step min(max_ms, base_ms * 2^attempt), of which the
 * upper half is random ("equal jitter"), so peers that lost the same relay
 * do not come back in lockstep. rnd is a uniform random 32-bit value. */
uint32_t pool_backoff_ms(unsigned attempt, uint32_t base_ms, uint32_t max_ms,
                         uint32_t rnd);

/* Bounded set of event ids with least-recently-used eviction: a keyed
 * (SipHash) open-addressing table of entry indexes plus a doubly linked
 * recency list threaded through the entries. */
typedef struct pool_seen_ent {
    uint8_t id[32];
    uint32_t prev, next;      /* recency list; POOL_SEEN_NIL ends it */
} pool_seen_ent;
#define POOL_SEEN_NIL UINT32_MAX
typedef struct pool_seen {
    uint32_t cap;             /* most entries kept */
    uint32_t n;               /* entries in use */
    uint32_t nalloc;          /* entries allocated (grows up to cap) */
    uint32_t mask;            /* table size - 1 */
    uint32_t *table;          /* entry index + 1; 0 is an empty slot */
    pool_seen_ent *ent;
    uint32_t head, tail;      /* most and least recently used */
    uint8_t key[16];          /* SipHash key: a relay cannot aim for
                                 colliding slots */
} pool_seen;

int pool_seen_init(pool_seen *s, uint32_t cap);
void pool_seen_free(pool_seen *s);
/* 1 if id is in the set (and marks it most recently used), else 0. */
int pool_seen_has(pool_seen *s, const uint8_t id[32]);
/* Insert (evicting the least recently used past cap); 0 or HEARTH_ENOMEM. */
int pool_seen_add(pool_seen *s, const uint8_t id[32]);

/* Parse a normalized ws(s) URL into its parts for lws (pointers into buf,
 * which must hold a copy of the URL). 0 or HEARTH_EINVAL. */
typedef struct pool_url {
    int tls;
    int port;
    char host[256];
    char path[HEARTH_RELAY_URL_MAX + 2];
} pool_url;
int pool_url_split(const char *url, pool_url *out);

/* ---- the pool ---- */

enum pool_wsi_kind { POOL_WSI_WS = 1, POOL_WSI_HTTP };

struct pool_relay;

/* lws userdata of a connection: tells the callback which relay and which
 * of its two connections (websocket or NIP-11 fetch) it is. */
struct pool_tag {
    enum pool_wsi_kind kind;
    struct pool_relay *relay;
};

/* one verified event waiting for a busy application */
struct pool_inq {
    struct pool_inq *next;
    hearth_sub *sub;
    hearth_event *ev;
    size_t bytes;                 /* size of its message, for the cap */
};

/* per (publish, relay) */
enum pub_at_state {
    PUB_AT_QUEUED = 0,   /* in the relay's send queue */
    PUB_AT_SENT,         /* waiting for OK */
    PUB_AT_BACKOFF,      /* waiting until retry_at */
    PUB_AT_AUTH,         /* waiting for our AUTH to be accepted */
    PUB_AT_DONE
};
struct pool_pub;
struct pub_at {
    struct pool_pub *pub;
    struct pub_at *next;          /* send queue or sent list of a relay */
    enum pub_at_state state;
    uint32_t attempts;
    int auth_retried;
    int64_t retry_at;             /* monotonic ms */
    char last[160];               /* last reason, for "gave up" */
};
struct pool_pub {
    struct pool_pub *next, *prev;
    uint8_t id[32];
    char idhex[65];
    int difficulty;               /* NIP-13 leading zero bits of the id */
    char *msg;                    /* ["EVENT", ...] */
    size_t len;
    int64_t deadline;             /* monotonic ms */
    size_t open;                  /* relays without a final result */
    int counted;                  /* still in npubs and pub_bytes */
    hearth_pub_cb cb;
    void *user;
    size_t cost;                  /* bytes counted in pool->pub_bytes */
    size_t nat;                   /* relays in the pool when published */
    struct pub_at at[];           /* one per relay */
};

/* per (subscription, relay) */
struct sub_at {
    enum hearth_sub_state state;
    int sent;                     /* counted against max_subscriptions */
    int need_close;               /* CLOSE owed (after unsub) */
    int eosed_once;               /* stored events complete at least once */
    int auth_retried;
    int waiting_auth;             /* CLOSED auth-required; resend after AUTH */
    int64_t newest;               /* newest created_at verified from here */
    int64_t eose_wall;            /* wall clock of the last EOSE */
    char message[160];
};
struct hearth_sub {
    struct hearth_sub *next, *prev;
    hearth_pool *pool;
    char subid[24];
    size_t nfilters;
    hearth_filter **filters;
    hearth_sub_cbs cbs;
    void *user;
    pool_seen seen;
    int dead;                     /* unsubscribed; freed when refs drop */
    unsigned refs;                /* queued events pointing here */
    int all_eose;
    int eose_pending;             /* all EOSE, but events still queued */
    struct sub_at at[HEARTH_POOL_MAX_RELAYS];
};

/* Why reading from a relay is paused; reads resume when no bit is left. */
enum { POOL_PAUSE_APP = 1u, POOL_PAUSE_FLOOD = 2u };
/* bytes of verified events queued per relay for a busy application */
#define POOL_INQ_MAX_BYTES (16u << 20)

enum auth_state { AUTH_NONE = 0, AUTH_TO_SEND, AUTH_SENT, AUTH_OK,
                  AUTH_FAILED };

struct pool_relay {
    hearth_pool *pool;
    size_t index;
    char *url;
    pool_url u;
    enum hearth_relay_state state;
    struct lws *wsi, *http_wsi;
    struct pool_tag ws_tag, http_tag;
    int64_t next_connect;         /* monotonic ms; 0 = not scheduled */
    int64_t opened_at;
    int64_t connect_started;
    int64_t nip11_deadline;
    unsigned attempt;             /* failed connects in a row */
    int closing;                  /* we asked lws to close wsi */
    hearth_buf nip11;             /* body being fetched */
    int nip11_done;
    hearth_relay_limits lim;
    /* NIP-42 */
    enum auth_state auth;
    hearth_event *auth_ev;
    int64_t auth_hold_until;      /* hold sends for AUTH (auth_required) */
    int64_t auth_sent_at;
    /* inbound */
    hearth_buf rx;
    int rx_skip;                  /* dropping an oversized message */
    struct pool_inq *inq, *inq_tail;
    uint32_t inq_len;
    size_t inq_bytes;
    unsigned rx_paused;           /* POOL_PAUSE_* bits */
    int64_t win_start;            /* flood window */
    uint32_t win_count;
    int flood_counted;
    /* outbound */
    hearth_buf tx;                /* LWS_PRE + one message */
    struct pub_at *sendq, *sendq_tail;
    struct pub_at *sent;          /* waiting for OK */
    uint32_t nsent_pubs;
    uint32_t nsent_reqs;          /* subscriptions open at the relay */
    /* misbehaviour */
    uint32_t score;
    int64_t score_at;             /* when score was last decayed */
    uint32_t cooloff_ms;
    int64_t cooling_until;
    hearth_pool_relay_info st;
    char last_error[200];
};

struct hearth_pool {
    hearth_loop *loop;
    struct lws_context *ctx;
    struct lws_vhost *vh;
    hearth_pool_opts o;
    uint8_t sk[32];
    int has_key;
    char ca_file[4096];
    size_t nrelays;
    struct pool_relay *relays[HEARTH_POOL_MAX_RELAYS];
    hearth_sub *subs;
    uint64_t next_subid;
    struct pool_pub *pubs;
    size_t npubs;
    size_t pub_bytes;
    int app_busy;
    size_t rr;                    /* round robin start for draining */
    lws_sorted_usec_list_t tick;
    lws_sorted_usec_list_t drain;
    int freeing;
};

/* pool.c */
int64_t pool_now_ms(void);
void pool_relay_error(struct pool_relay *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void pool_want_write(struct pool_relay *r);
void pool_schedule_tick(hearth_pool *p, uint32_t ms);
void pool_schedule_drain(hearth_pool *p);
void pool_penalize(struct pool_relay *r, uint32_t points, const char *why);

/* pool_conn.c */
void pool_host_header(const struct pool_relay *r, char *out, size_t n);
void pool_conn_start(struct pool_relay *r);
void pool_conn_tick(struct pool_relay *r, int64_t now);
int pool_conn_callback(struct lws *wsi, enum lws_callback_reasons reason,
                       struct pool_tag *tag, void *in, size_t len);
void pool_conn_drop(struct pool_relay *r);
void pool_conn_kill(struct pool_relay *r);
void pool_conn_pause(struct pool_relay *r, unsigned why);
void pool_conn_unpause(struct pool_relay *r, unsigned why);

/* pool_nip11.c */
int pool_nip11_start(struct pool_relay *r);
void pool_nip11_finished(struct pool_relay *r); /* pool_conn.c */
void pool_host_header(const struct pool_relay *r, char *out, size_t n);
int pool_nip11_callback(struct lws *wsi, enum lws_callback_reasons reason,
                        struct pool_relay *r, void *in, size_t len);

/* pool_sub.c */
void pool_sub_relay_up(struct pool_relay *r);
void pool_sub_relay_down(struct pool_relay *r, const char *why);
int pool_sub_next_msg(struct pool_relay *r, hearth_buf *out);
void pool_sub_on_event(struct pool_relay *r, hearth_msg *m);
void pool_sub_on_eose(struct pool_relay *r, const char *subid);
void pool_sub_on_closed(struct pool_relay *r, const char *subid,
                        const char *message);
void pool_sub_after_auth(struct pool_relay *r, int ok);
void pool_sub_drain(hearth_pool *p);
void pool_sub_release(hearth_sub *s);
void pool_sub_reap(hearth_pool *p);
void pool_sub_free_all(hearth_pool *p);
void pool_sub_add_relay(hearth_pool *p, struct pool_relay *r);

/* pool_pub.c */
void pool_pub_relay_up(struct pool_relay *r);
void pool_pub_relay_down(struct pool_relay *r, const char *why);
void pool_pub_relay_dropped(struct pool_relay *r, const char *why);
int pool_pub_next_msg(struct pool_relay *r, hearth_buf *out);
void pool_pub_on_ok(struct pool_relay *r, const hearth_msg *m);
void pool_pub_after_auth(struct pool_relay *r, int ok);
void pool_pub_tick(hearth_pool *p, int64_t now);
void pool_pub_free_all(hearth_pool *p);
void pool_pub_reap(hearth_pool *p);

#endif
