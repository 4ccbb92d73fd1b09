/* The relay server: options, start and stop, the NIP-11 document, stats.
 * How it works: docs/relay.md; the pieces: relay_internal.h. */
#include "relay_internal.h"

#include "hearth/error.h"
#include "hearth/message.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef HEARTH_VERSION
#define HEARTH_VERSION "0.1.0"
#endif

void hearth_relay_opts_init(hearth_relay_opts *o)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    memset(o, 0, sizeof *o);
    o->host = "127.0.0.1";
    o->port = 7447;
    o->threads = cpus > 0 ? (unsigned)cpus : 1;
    o->max_message = 256u << 10;
    o->max_subs = 32;
    o->max_filters = 10;
    o->max_limit = 500;
    o->rate_conn = 100;
    o->rate_pubkey = 50;
    o->max_output = 8u << 20;
    o->max_queue = 8192;
    o->max_inflight = 512;
    o->batch = 512;
    o->purge_interval = 30;
    hearth_policy_init(&o->policy);
    o->name = "hearth relay";
    o->description = "A Nostr relay for the hearth compute market";
}

/* Zero means "the default" for the sizes, so a caller may fill in only
 * what it cares about; the threads count is taken as given (0 = inline). */
static void fill_defaults(hearth_relay_opts *o)
{
    hearth_relay_opts d;
    hearth_relay_opts_init(&d);
#define DEF(f) if (!o->f) o->f = d.f
    DEF(host);
    DEF(max_message);
    DEF(max_subs);
    DEF(max_filters);
    DEF(max_limit);
    DEF(max_output);
    DEF(max_queue);
    DEF(max_inflight);
    DEF(batch);
    DEF(name);
#undef DEF
    if (o->max_message > HEARTH_MSG_MAX_JSON)
        o->max_message = HEARTH_MSG_MAX_JSON;
    /* room for a full answer plus the OKs of everything in flight (each
     * under 256 bytes), so only a client that does not read is closed */
    size_t floor = 2 * o->max_message + o->max_inflight * 256;
    if (o->max_output < floor)
        o->max_output = floor;
}

static void add_str_field(hearth_buf *b, const char *key, const char *val)
{
    if (!val || !*val)
        return;
    hearth_buf_addf(b, ",\"%s\":", key);
    hearth_buf_addjson(b, val, strlen(val));
}

static int build_info(hearth_relay *r)
{
    const hearth_relay_opts *o = &r->o;
    hearth_buf b = HEARTH_BUF_INIT;
    int writes_restricted = o->policy.discovery || o->policy.default_pow > 0 ||
                            o->policy.npow > 0 ||
                            (o->auth & HEARTH_RELAY_AUTH_WRITE);
    hearth_buf_adds(&b, "{\"name\":");
    hearth_buf_addjson(&b, o->name, strlen(o->name));
    add_str_field(&b, "description", o->description);
    add_str_field(&b, "pubkey", o->pubkey);
    add_str_field(&b, "contact", o->contact);
    /* no "software": NIP-11 wants a homepage URL, and hearth has none yet */
    hearth_buf_adds(&b, ",\"supported_nips\":[1,9,11,13,40,42,45]"
                        ",\"version\":\"hearth " HEARTH_VERSION "\"");
    hearth_buf_addf(&b, ",\"limitation\":{\"max_message_length\":%zu"
                    ",\"max_subscriptions\":%zu,\"max_filters\":%zu"
                    ",\"max_limit\":%zu,\"default_limit\":%zu"
                    ",\"max_subid_length\":%u,\"max_event_tags\":%u",
                    o->max_message, o->max_subs, o->max_filters, o->max_limit,
                    o->max_limit, HEARTH_SUBID_MAX, HEARTH_EVENT_MAX_TAGS);
    if (o->policy.max_content)
        hearth_buf_addf(&b, ",\"max_content_length\":%zu",
                        o->policy.max_content);
    hearth_buf_addf(&b, ",\"min_pow_difficulty\":%d,\"auth_required\":%s"
                    ",\"payment_required\":false,\"restricted_writes\":%s",
                    o->policy.default_pow,
                    (o->auth & HEARTH_RELAY_AUTH_READ) ? "true" : "false",
                    writes_restricted ? "true" : "false");
    if (o->policy.max_future > 0)
        hearth_buf_addf(&b, ",\"created_at_upper_limit\":%lld",
                        (long long)o->policy.max_future);
    hearth_buf_adds(&b, "}}");
    if (hearth_buf_error(&b)) {
        hearth_buf_free(&b);
        return HEARTH_ENOMEM;
    }
    r->info = b.p;
    r->info_len = b.len;
    return HEARTH_OK;
}

/* Listening comes last: once the vhost exists nothing may fail. */
static int start(hearth_relay *r)
{
    int rc = build_info(r);
    if (!rc)
        rc = relay_ingest_start(r);
    if (!rc && r->loop)
        rc = relay_lws_listen(r);
    if (rc)
        return rc;
    if (r->o.url && *r->o.url) {
        snprintf(r->url, sizeof r->url, "%s", r->o.url);
    } else {
        const char *h = r->o.host;
        int v6 = strchr(h, ':') != NULL;
        snprintf(r->url, sizeof r->url, "ws://%s%s%s:%d", v6 ? "[" : "", h,
                 v6 ? "]" : "", r->port ? r->port : r->o.port);
    }
    if (r->loop)
        relay_lws_start_timer(r);
    return HEARTH_OK;
}

int hearth_relay_new(hearth_loop *loop, hearth_store *store,
                     const hearth_relay_opts *opts, hearth_relay **out)
{
    *out = NULL;
    if (!store || sodium_init() < 0)
        return HEARTH_EINVAL;
    hearth_relay *r = calloc(1, sizeof *r);
    if (!r)
        return HEARTH_ENOMEM;
    if (opts)
        r->o = *opts;
    else
        hearth_relay_opts_init(&r->o);
    fill_defaults(&r->o);
    r->loop = loop;
    r->store = store;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->verify_cv, NULL);
    pthread_cond_init(&r->write_cv, NULL);
    randombytes_buf(r->pk_key, sizeof r->pk_key);
    if (r->o.rate_pubkey > 0 &&
        !(r->pk = calloc(RELAY_PK_SLOTS, sizeof *r->pk))) {
        hearth_relay_free(r);
        return HEARTH_ENOMEM;
    }
    int rc = start(r);
    if (rc) {
        hearth_relay_free(r);
        return rc;
    }
    relay_log(r, "listening on %s (%u verify threads)", r->url, r->nworkers);
    *out = r;
    return HEARTH_OK;
}

int hearth_relay_port(const hearth_relay *r)
{
    return r->port;
}

const char *hearth_relay_url(const hearth_relay *r)
{
    return r->url;
}

const char *hearth_relay_info_json(const hearth_relay *r)
{
    return r->info;
}

void hearth_relay_stop(hearth_relay *r)
{
    if (!r)
        return;
    relay_lws_cleanup(r);
    relay_ingest_stop(r);
}

size_t hearth_relay_poll(hearth_relay *r)
{
    return relay_drain(r);
}

void hearth_relay_get_stats(hearth_relay *r, hearth_relay_stats *st)
{
    *st = r->st;
    st->queued = r->queued;
    pthread_mutex_lock(&r->mu);
    st->batches = r->batches;
    pthread_mutex_unlock(&r->mu);
}

static void free_queue(struct relay_queue *q)
{
    struct relay_job *j, *next;
    for (j = q->head; j; j = next) {
        next = j->next;
        j->conn->inflight--;
        relay_conn_release(j->conn);
        relay_job_free(j);
    }
    memset(q, 0, sizeof *q);
}

void hearth_relay_free(hearth_relay *r)
{
    if (!r)
        return;
    /* no lws call here: with a loop, the context is gone by now */
    relay_ingest_stop(r);
    relay_drain(r); /* answers go nowhere now; this frees the jobs */
    free_queue(&r->verify_q);
    free_queue(&r->write_q);
    while (r->conns)
        relay_conn_gone(r->conns);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->verify_cv);
    pthread_cond_destroy(&r->write_cv);
    hearth_buf_free(&r->scratch);
    hearth_buf_free(&r->evjson);
    hearth_buf_free(&r->tx);
    free(r->workers);
    free(r->protocols);
    free(r->sul);
    free(r->pk);
    free(r->info);
    free(r);
}
