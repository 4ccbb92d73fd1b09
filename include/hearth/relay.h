/* A NIP-01 relay server on the event store (docs/relay.md).
 *
 * The relay adds one listening vhost to the shared event loop. All socket
 * work, message parsing, subscriptions and queries run on the loop thread;
 * signature checks run on a pool of verify threads, and one writer thread
 * commits verified events to the store in batches. An OK true goes to the
 * client only after the commit that made its event durable.
 *
 * The same message handling is reachable without sockets: a connection
 * made with hearth_relay_conn_new takes whole client messages and hands
 * back the relay's answers as text. Tests and the fuzzer drive the relay
 * that way, and an embedding program (`hearth run`) can use it to talk to
 * its own relay in process.
 *
 * Thread rules: every function here must be called on the loop thread (or,
 * for a relay made without a loop, on the one thread that drives it). */
#ifndef HEARTH_RELAY_H
#define HEARTH_RELAY_H

#include <stddef.h>
#include <stdint.h>

#include "hearth/buf.h"
#include "hearth/loop.h"
#include "hearth/policy.h"
#include "hearth/store.h"

typedef struct hearth_relay hearth_relay;
typedef struct hearth_relay_conn hearth_relay_conn;

/* who must authenticate (NIP-42) before doing what */
enum hearth_relay_auth {
    HEARTH_RELAY_AUTH_NONE = 0,  /* AUTH is offered, never required */
    HEARTH_RELAY_AUTH_WRITE = 1, /* EVENT needs it */
    HEARTH_RELAY_AUTH_READ = 2,  /* REQ and COUNT need it */
    HEARTH_RELAY_AUTH_ALL = 3
};

typedef struct hearth_relay_opts {
    const char *host;          /* listen address, default "127.0.0.1" */
    int port;                  /* default 7447; 0 lets the kernel choose */
    const char *url;           /* public URL for NIP-42 (default ws://host:port) */
    unsigned threads;          /* verify threads; 0 = verify and write inline
                                  on the calling thread (tests, fuzzing) */
    size_t max_message;        /* bytes of one client message */
    size_t max_subs;           /* open subscriptions per connection */
    size_t max_filters;        /* filters per REQ or COUNT */
    size_t max_limit;          /* events one filter returns before EOSE */
    double rate_conn;          /* EVENTs per second per connection, 0 = off */
    double rate_pubkey;        /* EVENTs per second per author, 0 = off */
    size_t max_output;         /* unsent bytes before a slow reader is closed */
    size_t max_queue;          /* events in the ingest pipeline, all conns */
    size_t max_inflight;       /* events in the pipeline per connection */
    size_t batch;              /* events per store commit at most */
    unsigned purge_interval;   /* seconds between NIP-40 purges, 0 = never */
    int auth;                  /* enum hearth_relay_auth */
    hearth_policy policy;      /* discovery mode, PoW, clock skew */
    /* NIP-11 document */
    const char *name, *description, *contact, *pubkey;
    /* one line per notable thing (never event contents); may be NULL */
    void (*log)(void *ctx, const char *line);
    void *log_ctx;
} hearth_relay_opts;

/* The defaults documented in docs/relay.md; threads = online CPUs. */
void hearth_relay_opts_init(hearth_relay_opts *o);

/* Start a relay on store. With a loop, it listens on host:port; without
 * one (loop NULL) it only serves hearth_relay_conn connections. The store
 * must outlive the relay; opts is copied (its strings must outlive it).
 * HEARTH_EIO when the address cannot be bound. */
int hearth_relay_new(hearth_loop *loop, hearth_store *store,
                     const hearth_relay_opts *opts, hearth_relay **out);

/* The port the relay listens on (useful with port 0), or 0. */
int hearth_relay_port(const hearth_relay *r);
/* The URL the relay names itself by (NIP-42 relay tag). */
const char *hearth_relay_url(const hearth_relay *r);

/* Shutdown. Call after hearth_loop_run returned: waits until every event
 * already handed to the verify threads is checked and committed (so
 * nothing acknowledged or about to be is lost), joins the threads, and
 * sends nothing more. Then free the loop, then the relay. */
void hearth_relay_stop(hearth_relay *r);
/* Releases everything. With a loop, call hearth_relay_stop before
 * hearth_loop_free and this after it: libwebsockets still calls into the
 * relay while it closes the connections. Without a loop, this alone is
 * enough. */
void hearth_relay_free(hearth_relay *r);

typedef struct hearth_relay_stats {
    uint64_t connections;      /* open now */
    uint64_t subscriptions;    /* open now */
    uint64_t accepted;         /* connections since start */
    uint64_t messages;         /* client messages handled */
    uint64_t events_received;  /* EVENT messages */
    uint64_t events_stored;    /* committed as new */
    uint64_t events_refused;   /* OK false, for any reason */
    uint64_t duplicates;       /* OK true "duplicate:" */
    uint64_t ephemeral;        /* broadcast without storing */
    uint64_t batches;          /* store commits */
    uint64_t queries;          /* REQ and COUNT answered */
    uint64_t slow_closed;      /* connections closed for reading too slowly */
    uint64_t queued;           /* events in the pipeline now */
} hearth_relay_stats;

void hearth_relay_get_stats(hearth_relay *r, hearth_relay_stats *st);

/* The NIP-11 document this relay serves (NUL-terminated JSON). */
const char *hearth_relay_info_json(const hearth_relay *r);

/* ---- connections without a socket ---- */

/* A connection that is fed by calls. It gets the NIP-42 challenge like a
 * socket would (it is the first output). */
int hearth_relay_conn_new(hearth_relay *r, hearth_relay_conn **out);
/* Handle one whole client message (one websocket text message). Answers
 * that are ready at once are queued; answers to EVENTs follow after their
 * commit (see hearth_relay_poll). Returns 1 when the relay wants the
 * connection closed after its output is sent (message too large, reading
 * too slowly), else 0. */
int hearth_relay_conn_input(hearth_relay_conn *c, const char *msg, size_t len);
/* Append the queued output to out, one message per line, and clear it. */
int hearth_relay_conn_output(hearth_relay_conn *c, hearth_buf *out);
/* Forget the connection; answers still in the pipeline are dropped. */
void hearth_relay_conn_free(hearth_relay_conn *c);

/* Deliver what the verify and writer threads finished (OK messages and
 * live events). With a loop this happens by itself; without one, call it.
 * Returns the number of events still in the pipeline. */
size_t hearth_relay_poll(hearth_relay *r);

#endif
