/* hearth publish: read events as JSON lines on stdin, sign the unsigned
 * ones, send them to every relay through the pool, print each relay's
 * final answer per event.
 *
 * stdin is read on a helper thread so that a slow producer never blocks
 * the event loop; the thread hands events over through a small bounded
 * queue (it waits when the queue is full) and wakes the loop. */
#include "cli.h"
#include "pool_cli.h"

#include "hearth/error.h"
#include "hearth/event.h"
#include "hearth/hex.h"
#include "hearth/keys.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_TIMEOUT_S 30.0
#define MAX_QUEUED 64   /* events read ahead of the pool */

struct item {
    struct item *next;
    hearth_event *ev;
    long line;
};

struct publish {
    struct pool_cli c;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct item *head, *tail;
    size_t queued;
    int eof, stop;
    int detached;             /* the reader outlives run() */
    const char *to_inbox;     /* --to-inbox PUBKEY */
    uint8_t inbox_pk[32];
    int ready;                /* relays known: events may go out */
    int no_inbox;             /* --to-inbox found no relay list */
    long bad_lines;
    unsigned long ok, rejected, failed;
    lws_sorted_usec_list_t pump_sul;
    hearth_buf out;
};

static const char publish_help[] =
    "usage: hearth publish --relay URL [--relay URL...] [--key SPEC] [--json]\n"
    "                      [--timeout S] [options] < events.jsonl\n"
    "\n"
    "Reads one event per line. Unsigned events ({\"kind\":1,\"content\":\"..\"}\n"
    "at least) are signed with the key, as 'hearth event sign' does; signed\n"
    "ones are verified and sent as they are. Each event goes to every relay;\n"
    "one line per event and relay tells the relay's final answer:\n"
    "  <id> <relay> ok\n"
    "  <id> <relay> rejected: <prefix: message>\n"
    "  <id> <relay> failed: <why>\n"
    "(--json: one object per line with id, relay, result, message).\n"
    "'rate-limited:' answers and lost connections are retried with backoff\n"
    "for up to --timeout seconds per event (default 30); 'duplicate:' counts\n"
    "as ok. Exit status 1 if any relay rejected or failed an event or a line\n"
    "was bad.\n"
    "\n"
    "options:\n"
    "  --json           JSON result objects\n"
    "  --to-inbox PUBKEY  also send to PUBKEY's inbox: the read relays of\n"
    "                   its NIP-65 relay list (kind 10002), looked up on\n"
    "                   the --relay relays first (hex or npub)\n";

static void pump_cb(lws_sorted_usec_list_t *sul);

static void schedule_pump(struct publish *q)
{
    lws_sul_schedule(hearth_loop_lws(q->c.loop), 0, &q->pump_sul, pump_cb, 1);
}

static void print_result(struct publish *q, const uint8_t id[32],
                         const char *relay, enum hearth_pub_result r,
                         const char *msg)
{
    static const char *const words[] = {"ok", "rejected", "failed"};
    char idhex[65];
    hearth_buf *b = &q->out;
    hearth_hex_encode(id, 32, idhex);
    hearth_buf_reset(b);
    if (q->c.json) {
        hearth_buf_addf(b, "{\"id\":\"%s\",\"relay\":", idhex);
        hearth_buf_addjson(b, relay, strlen(relay));
        hearth_buf_addf(b, ",\"result\":\"%s\",\"message\":", words[r]);
        hearth_buf_addjson(b, msg, strlen(msg));
        hearth_buf_addc(b, '}');
    } else if (r == HEARTH_PUB_OK) {
        hearth_buf_addf(b, "%s %s ok", idhex, relay);
    } else {
        hearth_buf_addf(b, "%s %s %s: %s", idhex, relay, words[r],
                        *msg ? msg : "(no message)");
    }
    if (!hearth_buf_error(b)) {
        puts(b->p);
        fflush(stdout);
    }
}

static void on_result(const uint8_t id[32], const char *relay,
                      enum hearth_pub_result r, const char *msg, void *user)
{
    struct publish *q = user;
    if (r == HEARTH_PUB_OK)
        q->ok++;
    else if (r == HEARTH_PUB_REJECTED)
        q->rejected++;
    else
        q->failed++;
    print_result(q, id, relay, r, msg);
    schedule_pump(q); /* room for more, or maybe the end */
}

/* Hand queued events to the pool; stop the loop when all is done. */
static void pump(struct publish *q)
{
    int done;
    if (!q->ready)
        return; /* the inbox relays are still being looked up */
    pthread_mutex_lock(&q->mu);
    while (q->head) {
        struct item *it = q->head;
        int rc = hearth_pool_publish(q->c.pool, it->ev, on_result, q);
        if (rc == HEARTH_ETOOBIG && hearth_pool_pending(q->c.pool))
            break; /* wait for results to free room */
        if (rc) {
            cli_error("line %ld: not sent: %s", it->line, hearth_strerror(rc));
            q->bad_lines++;
        }
        q->head = it->next;
        if (!q->head)
            q->tail = NULL;
        q->queued--;
        hearth_event_free(it->ev);
        free(it);
    }
    pthread_cond_broadcast(&q->cv);
    done = q->eof && !q->head;
    pthread_mutex_unlock(&q->mu);
    if (done && hearth_pool_pending(q->c.pool) == 0)
        hearth_loop_stop(q->c.loop);
}

static void pump_cb(lws_sorted_usec_list_t *sul)
{
    pump(lws_container_of(sul, struct publish, pump_sul));
}

static void on_wake(void *user)
{
    pump(user);
}

/* the event a line describes, signed; NULL and *why on failure */
static hearth_event *event_of_line(struct publish *q, const char *line,
                                   size_t len, const char **why)
{
    const unsigned all = HEARTH_EV_HAS_ID | HEARTH_EV_HAS_PUBKEY |
                         HEARTH_EV_HAS_SIG;
    hearth_event *ev = NULL;
    uint8_t pk[32];
    if (hearth_event_parse(line, len, HEARTH_PARSE_UNSIGNED, &ev, why))
        return NULL;
    unsigned has = ev->has & all;
    if (has == all) {
        if (hearth_event_verify(ev, why) == HEARTH_OK)
            return ev;
    } else if (has & (HEARTH_EV_HAS_ID | HEARTH_EV_HAS_SIG)) {
        *why = "invalid: partly signed event (id or sig without the rest)";
    } else if (!q->c.has_key) {
        *why = "unsigned event and no key to sign it (give --key)";
    } else if ((has & HEARTH_EV_HAS_PUBKEY) &&
               (hearth_key_pubkey(q->c.sk, pk) ||
                memcmp(pk, ev->pubkey, 32))) {
        *why = "invalid: the event's pubkey is not the key's";
    } else {
        if (!(ev->has & HEARTH_EV_HAS_CREATED_AT))
            ev->created_at = (int64_t)time(NULL);
        if (hearth_event_sign(ev, q->c.sk) == HEARTH_OK)
            return ev;
        *why = "error: signing failed";
    }
    hearth_event_free(ev);
    return NULL;
}

/* Wake the loop unless it is shutting down: the lock keeps the loop alive
 * for as long as the wake takes. */
static void wake(struct publish *q)
{
    pthread_mutex_lock(&q->mu);
    if (!q->stop)
        hearth_loop_wake(q->c.loop);
    pthread_mutex_unlock(&q->mu);
}

static int enqueue(struct publish *q, hearth_event *ev, long line)
{
    struct item *it = calloc(1, sizeof *it);
    if (!it)
        return -1;
    it->ev = ev;
    it->line = line;
    pthread_mutex_lock(&q->mu);
    while (q->queued >= MAX_QUEUED && !q->stop)
        pthread_cond_wait(&q->cv, &q->mu);
    int stop = q->stop;
    if (!stop) {
        if (q->tail)
            q->tail->next = it;
        else
            q->head = it;
        q->tail = it;
        q->queued++;
    }
    pthread_mutex_unlock(&q->mu);
    if (stop) {
        free(it);
        return -1;
    }
    wake(q);
    return 0;
}

static void *reader(void *arg)
{
    struct publish *q = arg;
    hearth_buf line = HEARTH_BUF_INIT;
    long n = 0;
    int r;
    while ((r = cli_read_line(stdin, &line)) != 0) {
        n++;
        if (r > 0 && line.len == 0)
            continue;
        const char *why = "invalid: line too long";
        hearth_event *ev = r > 0 ? event_of_line(q, line.p, line.len, &why)
                                 : NULL;
        if (!ev) {
            cli_error("line %ld: %s", n, why);
            pthread_mutex_lock(&q->mu);
            q->bad_lines++;
            pthread_mutex_unlock(&q->mu);
            continue;
        }
        if (enqueue(q, ev, n)) {
            hearth_event_free(ev);
            break;
        }
    }
    hearth_buf_free(&line);
    pthread_mutex_lock(&q->mu);
    q->eof = 1;
    pthread_mutex_unlock(&q->mu);
    wake(q);
    return NULL;
}

static void drop_queue(struct publish *q)
{
    while (q->head) {
        struct item *it = q->head;
        q->head = it->next;
        hearth_event_free(it->ev);
        free(it);
    }
    q->tail = NULL;
}

/* NIP-65: the recipient reads its mentions on its read relays */
static void got_inbox(struct pool_cli *c, const hearth_relay_list *l,
                      void *user)
{
    struct publish *q = user;
    size_t added = l ? pool_cli_add_relays(c, l->read, l->nread, 8) : 0;
    if (!l || l->nread == 0) {
        q->no_inbox = 1;
        cli_error("no inbox relays for %s (no kind-10002 list with read "
                  "relays on the --relay relays); sending to those only",
                  q->to_inbox);
    } else {
        fprintf(stderr, "hearth: inbox of %s: %zu relays (%zu new)\n",
                q->to_inbox, l->nread, added);
    }
    q->ready = 1;
    schedule_pump(q);
}

static int run(struct publish *q)
{
    hearth_pool_opts o;
    pthread_t th;
    hearth_pool_opts_default(&o);
    double t = q->c.has_timeout ? q->c.timeout : DEFAULT_TIMEOUT_S;
    o.pub_timeout_ms = t > 0 ? (uint32_t)(t * 1000) : UINT32_MAX / 2;
    o.on_wake = on_wake;
    o.user = q;
    int rc = pool_cli_open(&q->c, &o);
    if (rc)
        return rc;
    q->ready = !q->to_inbox;
    if (q->to_inbox &&
        pool_cli_fetch_relay_list(&q->c, q->inbox_pk, got_inbox, q))
        return CLI_ERROR;
    if (pthread_create(&th, NULL, reader, q)) {
        cli_error("could not start the reader thread");
        return CLI_ERROR;
    }
    int loop_rc = hearth_loop_run(q->c.loop);
    lws_sul_cancel(&q->pump_sul);
    pthread_mutex_lock(&q->mu);
    q->stop = 1;
    int eof = q->eof;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
    if (eof)
        pthread_join(th, NULL);
    else if (pthread_detach(th) == 0)
        q->detached = 1; /* interrupted while it waits on stdin: it
                               never touches the loop again, and q is
                               left to it (see cmd_publish) */
    if (loop_rc) {
        cli_error("event loop failed");
        return CLI_ERROR;
    }
    pthread_mutex_lock(&q->mu);
    if (eof)
        drop_queue(q);
    long bad = q->bad_lines;
    pthread_mutex_unlock(&q->mu);
    int dropped = pool_cli_report(&q->c);
    int fail = bad || q->rejected || q->failed || dropped || !eof ||
               q->no_inbox;
    return fail ? CLI_FAIL : CLI_OK;
}

int cmd_publish(int argc, char **argv)
{
    /* on the heap: an interrupted reader thread may still hold it while
     * the process exits */
    struct publish *q = calloc(1, sizeof *q);
    if (!q)
        return CLI_ERROR;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    int rc = CLI_OK;
    for (int i = 1; i < argc && rc == CLI_OK; i++) {
        int r = pool_cli_opt(&q->c, argc, argv, &i);
        if (r == 0 && !strcmp(argv[i], "--to-inbox") && i + 1 < argc) {
            q->to_inbox = argv[++i];
            r = pool_cli_pubkey(q->to_inbox, q->inbox_pk) ? -1 : 1;
        } else if (r == 0) {
            cli_error("unexpected argument '%s' (see --help)", argv[i]);
        }
        if (r <= 0)
            rc = CLI_USAGE;
    }
    if (rc == CLI_OK && q->c.help)
        printf("%s%s", publish_help, pool_cli_help);
    else if (rc == CLI_OK && pool_cli_key(&q->c))
        rc = CLI_ERROR;
    else if (rc == CLI_OK)
        rc = run(q);
    pool_cli_close(&q->c);
    hearth_buf_free(&q->out);
    if (!q->detached)
        free(q);
    return rc;
}
