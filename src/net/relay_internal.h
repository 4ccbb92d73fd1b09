/* Private parts of the relay server shared by its files:
 *   relay.c          lifecycle, NIP-11 document, stats
 *   relay_conn.c     one client message in, answers out (no sockets)
 *   relay_ingest.c   verify threads, writer thread, result queue
 *   relay_lws.c      libwebsockets glue: vhost, HTTP, frames, writes */
#ifndef HEARTH_RELAY_INTERNAL_H
#define HEARTH_RELAY_INTERNAL_H

#include "hearth/event.h"
#include "hearth/filter.h"
#include "hearth/relay.h"

#include <pthread.h>
#include <stdint.h>

struct lws;
struct lws_vhost;

/* LWS_PRE of libwebsockets 4.1, kept here so relay_conn.c needs no lws
 * header; relay_lws.c checks it at compile time. */
#define RELAY_PRE 16

/* one queued outgoing message, with room before it for the frame header */
struct relay_out {
    struct relay_out *next;
    size_t len;
    char data[];            /* RELAY_PRE bytes, then the message */
};

struct relay_sub {
    char *subid;
    char *subid_json;       /* escaped once: every EVENT for it carries it */
    size_t subid_json_len;
    uint64_t after_serial;  /* stored events up to this one were in its
                               answer: not sent again live */
    size_t nfilters;
    hearth_filter **filters;
};

struct relay_bucket {
    double tokens;
    int64_t last_ms;
};

/* authors one connection may hold authenticated at once */
#define RELAY_MAX_AUTHED 4

struct hearth_relay_conn {
    hearth_relay *relay;
    struct lws *wsi;                  /* NULL when driven by calls */
    hearth_relay_conn *prev, *next;   /* the relay's list of live conns */
    struct relay_out *out_head, *out_tail;
    size_t out_bytes;
    struct relay_sub *subs;
    size_t nsubs, subs_cap;
    hearth_buf rx;                    /* fragments of a message */
    struct relay_bucket rate;
    size_t inflight;                  /* events of ours in the pipeline */
    uint8_t authed[RELAY_MAX_AUTHED][32];
    unsigned nauthed;
    char challenge[33];
    unsigned closing : 1;   /* close once the output is sent */
    unsigned dead : 1;      /* socket gone; freed when inflight reaches 0 */
    unsigned throttled : 1; /* reading paused (lws_rx_flow_control) */
    unsigned rx_skip : 1;   /* dropping the rest of an oversized message */
    int close_code;
    char peer[48];
};

/* an event on its way through the pipeline */
struct relay_job {
    struct relay_job *next;
    hearth_relay_conn *conn;
    hearth_event *ev;
    int verified;                 /* 0 bad id/sig, 1 good */
    const char *why;              /* verify failure reason */
    hearth_store_result res;      /* from the writer */
};

struct relay_queue {
    struct relay_job *head, *tail;
    size_t n;
};

/* per-author token buckets, in a table keyed by a keyed hash of the
 * pubkey so authors cannot aim at each other's slots */
#define RELAY_PK_SLOTS 16384u
struct relay_pk_slot {
    uint8_t pubkey[32];
    struct relay_bucket b;
};

struct hearth_relay {
    hearth_relay_opts o;
    hearth_loop *loop;
    hearth_store *store;
    struct lws_vhost *vhost;
    void *protocols;              /* the lws_protocols array */
    int port;
    char url[300];
    char *info;                   /* NIP-11 JSON */
    size_t info_len;
    hearth_relay_conn *conns;     /* live connections */
    size_t nconns;
    size_t queued;                /* jobs submitted, results not yet seen */
    size_t nthrottled;
    hearth_buf scratch;           /* message being built */
    hearth_buf evjson;            /* event being fanned out */
    hearth_buf tx;                /* frames being sent together */
    hearth_relay_stats st;
    struct relay_pk_slot *pk;
    unsigned char pk_key[16];
    /* the pipeline: everything below is under mu */
    pthread_mutex_t mu;
    pthread_cond_t verify_cv, write_cv;
    struct relay_queue verify_q, write_q, done_q;
    pthread_t *workers, writer;
    unsigned nworkers, workers_live;
    int started, stopping, stopped, wake_pending, purge_due;
    int gathering;                /* the writer waits for a fuller batch */
    uint64_t batches;
    uint64_t committed_serial;    /* highest serial the writer committed */
    void *sul;                    /* purge timer (lws_sorted_usec_list_t) */
};

/* relay_conn.c */
hearth_relay_conn *relay_conn_alloc(hearth_relay *r, struct lws *wsi);
void relay_conn_gone(hearth_relay_conn *c);       /* socket closed */
void relay_conn_release(hearth_relay_conn *c);    /* free if unused */
int relay_conn_message(hearth_relay_conn *c, const char *msg, size_t len);
void relay_conn_too_large(hearth_relay_conn *c, size_t len);
int relay_send(hearth_relay_conn *c, const char *msg, size_t len);
void relay_send_notice(hearth_relay_conn *c, const char *text);
void relay_close_after(hearth_relay_conn *c, int code, const char *notice);
void relay_job_finished(hearth_relay *r, struct relay_job *j);
void relay_update_flow(hearth_relay_conn *c);
void relay_unthrottle(hearth_relay *r);
void relay_log(hearth_relay *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int64_t relay_now_ms(void);

/* relay_ingest.c */
int relay_ingest_start(hearth_relay *r);
void relay_ingest_stop(hearth_relay *r);
void relay_submit(hearth_relay *r, struct relay_job *j);
size_t relay_drain(hearth_relay *r);
void relay_request_purge(hearth_relay *r);
uint64_t relay_committed_serial(hearth_relay *r);
void relay_job_free(struct relay_job *j);

/* relay_lws.c */
int relay_lws_listen(hearth_relay *r);
void relay_lws_want_write(hearth_relay_conn *c);
void relay_lws_flow(hearth_relay_conn *c, int enable);
void relay_lws_wake(hearth_relay *r);
void relay_lws_start_timer(hearth_relay *r);
void relay_lws_cleanup(hearth_relay *r);

#endif
