/* hearth job submit, running: the loop and pool, the market sync, the
 * customer (hearth/customer.h), progress on stderr, SIGINT as
 * cancellation, and the report on stdout. */
#include "cli.h"
#include "job_cli.h"

#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hearth/error.h"
#include "hearth/hex.h"
#include "hearth/keys.h"
#include "hearth/kinds.h"
#include "hearth/sync.h"

#define FLUSH_WAIT_MS 5000  /* deletions and the last OKs before exit */
#define SETTLE_PASS_MS 5000 /* unfinished settlements, at start */
#define POLL_MS 50

struct run {
    struct job_submit *q;
    hearth_view *view;
    hearth_jobdb *db;
    hearth_sync *sync;
    hearth_customer *cust;
    hearth_customer_job *job;
    hearth_ledger *ledger;
    hearth_nwc *wallet;
    int started, done, have_result, exit_code, tty, bar_shown, last_pct;
    int64_t flush_until_ms;
    lws_sorted_usec_list_t start_sul, sync_sul, flush_sul;
    /* the report, copied out of on_done */
    hearth_customer_result res;
    hearth_customer_attempt atts[HEARTH_CUSTOMER_MAX_ATTEMPTS];
    hearth_buf content;
    char reason[HEARTH_CUSTOMER_WHY_MAX];
    char summary[HEARTH_CUSTOMER_SUMMARY_MAX];
    uint8_t root[32];
};

/* the one event loop, reachable from the signal handler */
static hearth_loop *sig_loop;
static volatile sig_atomic_t got_sig;

static void on_signal(int sig)
{
    (void)sig;
    if (!sig_loop)
        return;
    if (got_sig++)
        hearth_loop_stop(sig_loop); /* asked twice: now */
    else
        hearth_loop_wake(sig_loop); /* cancel first, in on_wake */
}

static void catch_signals(hearth_loop *loop)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sig_loop = loop;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- leaving: wait for the last publishes, then stop ---- */

static void flush_cb(lws_sorted_usec_list_t *sul)
{
    struct run *r = lws_container_of(sul, struct run, flush_sul);
    hearth_loop *loop = r->q->c.loop;
    if (!hearth_pool_pending(r->q->c.pool) || now_ms() >= r->flush_until_ms) {
        hearth_loop_stop(loop);
        return;
    }
    lws_sul_schedule(hearth_loop_lws(loop), 0, &r->flush_sul, flush_cb,
                     POLL_MS * 1000);
}

static void leave(struct run *r)
{
    r->flush_until_ms = now_ms() + FLUSH_WAIT_MS;
    lws_sul_schedule(hearth_loop_lws(r->q->c.loop), 0, &r->flush_sul,
                     flush_cb, 1);
}

/* ---- progress on stderr ---- */

static void bar_end(struct run *r)
{
    if (r->bar_shown)
        fputc('\n', stderr);
    r->bar_shown = 0;
}

static void on_progress(hearth_customer_job *j, int pct,
                        const uint8_t provider[32], void *user)
{
    struct run *r = user;
    char who[32];
    (void)j;
    if (pct == r->last_pct)
        return;
    r->last_pct = pct;
    job_npub_short(provider, who);
    if (!r->tty) {
        fprintf(stderr, "hearth: %s: %d%%\n", who, pct);
        return;
    }
    char bar[31];
    int fill = pct * 30 / 100;
    memset(bar, '#', (size_t)fill);
    memset(bar + fill, ' ', (size_t)(30 - fill));
    bar[30] = 0;
    fprintf(stderr, "\r[%s] %3d%% %s", bar, pct, who);
    r->bar_shown = 1;
}

static void on_attempt(hearth_customer_job *j,
                       const hearth_customer_attempt *a, void *user)
{
    struct run *r = user;
    char who[32], id[13];
    (void)j;
    job_npub_short(a->provider, who);
    hearth_hex_encode(a->request_id, 6, id);
    bar_end(r);
    r->last_pct = -1;
    if (a->outcome == HEARTH_CUST_RUNNING && a->paid_msat)
        fprintf(stderr, "hearth: %s: paid %llu msat over Lightning, "
                "request %s\n", who, (unsigned long long)a->paid_msat, id);
    else if (a->outcome == HEARTH_CUST_RUNNING)
        fprintf(stderr, "hearth: asking %s (bid %llu msat), request %s\n",
                who, (unsigned long long)a->bid_msat, id);
    else
        fprintf(stderr, "hearth: %s: %s%s%s\n", who,
                hearth_cust_outcome_name(a->outcome), *a->reason ? ": " : "",
                a->reason);
}

/* One line per attempt that got a result: what its receipt said. */
static void receipt_lines(const hearth_customer_result *res)
{
    for (size_t i = 0; i < res->nattempts; i++) {
        const hearth_customer_attempt *a = &res->attempts[i];
        if (a->receipt == HEARTH_CUST_RECEIPT_ACCEPTED)
            fprintf(stderr, "hearth: receipt: accepted %llu msat\n",
                    (unsigned long long)a->receipt_msat);
        else if (a->receipt == HEARTH_CUST_RECEIPT_DISPUTED)
            fprintf(stderr, "hearth: receipt: disputed (%s)\n",
                    a->receipt_reason);
        else if (a->receipt == HEARTH_CUST_RECEIPT_NO_NOTE)
            fprintf(stderr, "hearth: receipt: none (no metering note)\n");
        else if (a->receipt == HEARTH_CUST_RECEIPT_FAILED)
            fprintf(stderr, "hearth: receipt: none (%s)\n",
                    a->receipt_reason);
    }
}

static void on_done(hearth_customer_job *j, const hearth_customer_result *res,
                    void *user)
{
    struct run *r = user;
    bar_end(r);
    receipt_lines(res);
    hearth_customer_job_id(j, r->root);
    r->res = *res;
    memcpy(r->atts, res->attempts, res->nattempts * sizeof *res->attempts);
    r->res.attempts = r->atts;
    r->res.chosen = res->chosen ? &r->atts[res->chosen - res->attempts] : NULL;
    hearth_buf_add(&r->content, res->content ? res->content : "",
                   res->content_len);
    snprintf(r->reason, sizeof r->reason, "%s", res->reason);
    snprintf(r->summary, sizeof r->summary, "%s", res->summary);
    r->done = r->have_result = 1;
    r->job = NULL;
    r->exit_code = res->outcome == HEARTH_CUST_OK ? CLI_OK : CLI_FAIL;
    leave(r);
}

/* ---- starting ---- */

static void spec_of(struct job_submit *q, hearth_job_spec *s)
{
    memset(s, 0, sizeof *s);
    s->kind = q->kind;
    s->inputs = q->inputs;
    s->ninputs = q->ninputs;
    s->params = q->params;
    s->nparams = q->nparams;
    s->output = q->output;
}

static void start(struct run *r)
{
    struct job_submit *q = r->q;
    hearth_job_spec spec;
    /* errors and quotes end an attempt: on_attempt tells of them */
    hearth_customer_cbs cbs = {on_progress, NULL, on_attempt, on_done};
    if (r->started)
        return;
    r->started = 1;
    spec_of(q, &spec);
    if (q->has_provider)
        q->o.provider = q->provider;
    int rc = hearth_customer_submit(r->cust, &spec, &q->o, &cbs, r, &r->job);
    if (rc == HEARTH_OK)
        return;
    if (rc == HEARTH_ENOTFOUND)
        cli_error("no eligible provider for kind %u in the market view "
                  "(see 'hearth peers --kind %u'; --max-price may be too "
                  "low)", q->kind, q->kind);
    else
        cli_error("cannot submit the job: %s", hearth_strerror(rc));
    r->exit_code = rc == HEARTH_ENOTFOUND ? CLI_FAIL : CLI_ERROR;
    r->done = 1;
    /* scripts reading --json get an answer they can parse either way */
    r->have_result = rc == HEARTH_ENOTFOUND && q->c.json;
    r->res.outcome = HEARTH_CUST_NO_PROVIDER;
    r->res.redundancy = q->o.redundancy;
    r->res.agree = -1;
    snprintf(r->reason, sizeof r->reason, "no eligible provider");
    leave(r);
}

static void start_cb(lws_sorted_usec_list_t *sul)
{
    start(lws_container_of(sul, struct run, start_sul));
}

/* the sync ran out of time: choose from what the view has */
static void sync_cb(lws_sorted_usec_list_t *sul)
{
    struct run *r = lws_container_of(sul, struct run, sync_sul);
    if (!r->started)
        fprintf(stderr, "hearth: the market sync did not finish in %.0f s; "
                "choosing from what arrived\n", r->q->sync_s);
    start(r);
}

static void on_caught_up(hearth_sync *s, void *user)
{
    struct run *r = user;
    (void)s;
    /* not from inside the sync's callback: submitting reads the view */
    lws_sul_schedule(hearth_loop_lws(r->q->c.loop), 0, &r->start_sul,
                     start_cb, 1);
}

static void on_wake(void *user)
{
    struct run *r = user;
    if (!got_sig || r->done)
        return;
    if (r->job) {
        bar_end(r);
        fprintf(stderr, "hearth: interrupted: withdrawing the job\n");
        hearth_customer_cancel(r->job, "cancelled by the customer");
        r->job = NULL;
    } else if (!r->started) {
        r->started = r->done = 1;
        r->exit_code = CLI_FAIL;
        leave(r);
    }
}

static int start_sync(struct run *r)
{
    hearth_sync_opts so;
    struct lws_context *cx = hearth_loop_lws(r->q->c.loop);
    hearth_sync_opts_default(&so);
    so.job_kinds[0] = r->q->kind;
    so.njob_kinds = 1;
    so.on_caught_up = on_caught_up;
    so.user = r;
    if (hearth_sync_new(r->q->c.loop, r->q->c.pool, r->view, &so, &r->sync)) {
        cli_error("cannot follow the market on these relays");
        return CLI_ERROR;
    }
    lws_sul_schedule(cx, 0, &r->sync_sul, sync_cb,
                     (lws_usec_t)(r->q->sync_s * 1e6));
    return CLI_OK;
}

/* ---- setting up ---- */

static int open_stores(struct run *r)
{
    char dir[PATH_MAX + 8];
    struct job_submit *q = r->q;
    int rc;
    if (job_subdir(q->data, "view", 1, dir, sizeof dir))
        return CLI_ERROR;
    if ((rc = hearth_view_open(dir, NULL, &r->view))) {
        cli_error("cannot open the market view in %s: %s", dir,
                  hearth_strerror(rc));
        return CLI_ERROR;
    }
    if (job_subdir(q->data, "jobs", 1, dir, sizeof dir))
        return CLI_ERROR;
    if ((rc = hearth_jobdb_open(dir, &r->db))) {
        cli_error("cannot open the job table in %s: %s", dir,
                  hearth_strerror(rc));
        return CLI_ERROR;
    }
    return job_ledger_open(q->data, &r->ledger) ? CLI_ERROR : CLI_OK;
}

int job_ledger_open(const char *data, hearth_ledger **out)
{
    char dir[PATH_MAX + 8];
    int rc;
    if (job_subdir(data, "ledger", 1, dir, sizeof dir))
        return -1;
    if ((rc = hearth_ledger_open(dir, out))) {
        cli_error("cannot open the ledger in %s: %s", dir,
                  hearth_strerror(rc));
        return -1;
    }
    return 0;
}

int job_wallet_open(hearth_loop *loop, const char *path, const char *ca_file,
                    hearth_nwc **out)
{
    hearth_nwc_conn conn;
    hearth_nwc_opts o;
    const char *why = NULL;
    memset(&conn, 0, sizeof conn);
    int rc = hearth_nwc_conn_load(path, &conn, &why);
    if (rc != HEARTH_OK) {
        cli_error("cannot use the wallet connection in %s: %s", path,
                  rc == HEARTH_EPERM ? "the file must be readable by its "
                  "owner only (chmod 600)" : why ? why : hearth_strerror(rc));
        hearth_nwc_conn_clear(&conn);
        return -1;
    }
    hearth_nwc_opts_default(&o);
    o.ca_file = ca_file;
    rc = hearth_nwc_new(loop, &conn, &o, out);
    hearth_nwc_conn_clear(&conn);
    if (rc != HEARTH_OK) {
        cli_error("cannot connect to the wallet: %s", hearth_strerror(rc));
        return -1;
    }
    return 0;
}

static void print_settled(const hearth_customer_settled *s)
{
    char who[32], id[13];
    job_npub_short(s->provider, who);
    hearth_hex_encode(s->request_id, 6, id);
    fprintf(stderr, "hearth: settle: request %s (%s): %s", id, who, s->what);
    if (s->amount_msat)
        fprintf(stderr, " %llu msat", (unsigned long long)s->amount_msat);
    fprintf(stderr, "%s%s\n", *s->detail ? ": " : "", s->detail);
}

static void settled_json(hearth_buf *b, const hearth_customer_settled *s)
{
    hearth_buf_adds(b, "{\"request_id\":\"");
    hearth_buf_addhex(b, s->request_id, 32);
    hearth_buf_adds(b, "\",\"provider\":\"");
    hearth_buf_addhex(b, s->provider, 32);
    hearth_buf_adds(b, "\",\"status\":");
    hearth_buf_addjson(b, s->what, strlen(s->what));
    hearth_buf_addf(b, ",\"amount_msat\":%llu,\"detail\":",
                    (unsigned long long)s->amount_msat);
    hearth_buf_addjson(b, s->detail, strlen(s->detail));
    hearth_buf_addc(b, '}');
}

void job_settle_print(const hearth_customer_settle_report *r, int json)
{
    if (!json) {
        for (size_t i = 0; i < r->n; i++)
            print_settled(&r->items[i]);
        fprintf(stderr, "hearth: settle: %zu unfinished: %u paid, %u "
                "receipts, %u refunds due, %u waiting, %u not paid\n", r->n,
                r->paid, r->receipts, r->refunds, r->waiting, r->unpaid);
        return;
    }
    hearth_buf b = HEARTH_BUF_INIT;
    hearth_buf_addf(&b, "{\"unfinished\":%zu,\"paid\":%u,\"receipts\":%u,"
                        "\"refunds\":%u,\"waiting\":%u,\"not_paid\":%u,"
                        "\"jobs\":[", r->n, r->paid, r->receipts,
                    r->refunds, r->waiting, r->unpaid);
    for (size_t i = 0; i < r->n; i++) {
        if (i)
            hearth_buf_addc(&b, ',');
        settled_json(&b, &r->items[i]);
    }
    hearth_buf_adds(&b, "]}\n");
    if (!hearth_buf_error(&b))
        fwrite(b.p, 1, b.len, stdout);
    hearth_buf_free(&b);
}

/* the pass at start: tell only when it found something */
static void on_settled(const hearth_customer_settle_report *rep, void *user)
{
    (void)user;
    if (rep->n)
        job_settle_print(rep, 0);
}

/* A key signs the requests; without one a fresh key serves this job
 * only (it can be cancelled with Ctrl-C, not later). */
static int get_key(struct job_submit *q)
{
    if (pool_cli_key(&q->c))
        return CLI_ERROR;
    if (q->c.has_key)
        return CLI_OK;
    if (hearth_key_generate(q->c.sk)) {
        cli_error("cannot make a key");
        return CLI_ERROR;
    }
    q->c.has_key = 1;
    q->ephemeral_key = 1;
    fprintf(stderr, "hearth: no key found: using a one-off key for this job "
            "('hearth key new' makes a lasting one)\n");
    return CLI_OK;
}

/* PoW input: the miner needs the pubkey and created_at the event will
 * carry; fill in the customer's and now when the input has none. */
static int fill_pow_input(struct job_submit *q)
{
    hearth_event *ev = NULL;
    hearth_buf out = HEARTH_BUF_INIT;
    hearth_buf *in = &q->data_in[0];
    uint8_t pk[32];
    if (q->kind != HEARTH_KIND_JOB_POW || q->ninputs != 1)
        return CLI_OK;
    if (hearth_event_parse(in->p, in->len, HEARTH_PARSE_UNSIGNED, &ev,
                           NULL) != HEARTH_OK) {
        cli_error("a PoW job's input is an event as JSON (unsigned is "
                  "fine)");
        return CLI_USAGE;
    }
    unsigned need = HEARTH_EV_HAS_PUBKEY | HEARTH_EV_HAS_CREATED_AT;
    int rc = CLI_OK;
    if ((ev->has & need) != need) {
        if (!(ev->has & HEARTH_EV_HAS_PUBKEY) &&
            hearth_key_pubkey(q->c.sk, pk) == HEARTH_OK)
            memcpy(ev->pubkey, pk, 32);
        if (!(ev->has & HEARTH_EV_HAS_CREATED_AT))
            ev->created_at = (int64_t)time(NULL);
        ev->has |= need;
        ev->has &= ~(unsigned)(HEARTH_EV_HAS_ID | HEARTH_EV_HAS_SIG);
        if (hearth_event_to_json(ev, &out) || hearth_buf_addc(&out, 0)) {
            rc = CLI_ERROR;
        } else {
            out.len--;
            hearth_buf_free(in);
            *in = out;
            memset(&out, 0, sizeof out);
            q->inputs[0].value = in->p;
            q->inputs[0].len = in->len;
        }
    }
    hearth_buf_free(&out);
    hearth_event_free(ev);
    return rc;
}

/* "receipt": null without a result, else what was sent (id null when
 * nothing was: no metering note, or it could not be published) */
static void json_receipt(hearth_buf *b, const hearth_customer_attempt *a)
{
    static const uint8_t none[32];
    if (a->receipt == HEARTH_CUST_RECEIPT_NONE) {
        hearth_buf_adds(b, ",\"receipt\":null");
        return;
    }
    if (memcmp(a->receipt_id, none, 32)) {
        hearth_buf_adds(b, ",\"receipt\":{\"id\":\"");
        hearth_buf_addhex(b, a->receipt_id, 32);
        hearth_buf_addc(b, '"');
    } else {
        hearth_buf_adds(b, ",\"receipt\":{\"id\":null");
    }
    if (memcmp(a->note_id, none, 32)) {
        hearth_buf_adds(b, ",\"note_id\":\"");
        hearth_buf_addhex(b, a->note_id, 32);
        hearth_buf_addc(b, '"');
    } else {
        hearth_buf_adds(b, ",\"note_id\":null");
    }
    hearth_buf_addf(b, ",\"status\":\"%s\",\"reason\":",
                    hearth_cust_receipt_name(a->receipt));
    hearth_buf_addjson(b, a->receipt_reason, strlen(a->receipt_reason));
    hearth_buf_addf(b, ",\"amount_msat\":%llu}",
                    (unsigned long long)a->receipt_msat);
}

static void print_json(struct run *r)
{
    const hearth_customer_result *res = &r->res;
    hearth_buf b = HEARTH_BUF_INIT;
    static const uint8_t none[32];
    if (memcmp(r->root, none, 32)) {
        hearth_buf_adds(&b, "{\"id\":\"");
        hearth_buf_addhex(&b, r->root, 32);
        hearth_buf_addc(&b, '"');
    } else {
        hearth_buf_adds(&b, "{\"id\":null");
    }
    hearth_buf_addf(&b, ",\"kind\":%u,\"outcome\":\"%s\",\"reason\":",
                    r->q->kind, hearth_cust_outcome_name(res->outcome));
    hearth_buf_addjson(&b, r->reason, strlen(r->reason));
    if (res->chosen) {
        hearth_buf_adds(&b, ",\"provider\":\"");
        hearth_buf_addhex(&b, res->chosen->provider, 32);
        hearth_buf_adds(&b, "\",\"result\":");
        hearth_buf_addjson(&b, r->content.p ? r->content.p : "",
                           r->content.len);
        hearth_buf_addf(&b, ",\"amount_msat\":%llu",
                        (unsigned long long)res->chosen->amount_msat);
    } else {
        hearth_buf_adds(&b, ",\"provider\":null,\"result\":null,"
                            "\"amount_msat\":0");
    }
    hearth_buf_addf(&b, ",\"verified\":%s,\"checks\":",
                    res->verified ? "true" : "false");
    hearth_buf_addjson(&b, r->summary, strlen(r->summary));
    hearth_buf_adds(&b, ",\"attempts\":[");
    for (size_t i = 0; i < res->nattempts; i++) {
        const hearth_customer_attempt *a = &res->attempts[i];
        hearth_buf_adds(&b, i ? ",{\"provider\":\"" : "{\"provider\":\"");
        hearth_buf_addhex(&b, a->provider, 32);
        hearth_buf_adds(&b, "\",\"request_id\":\"");
        hearth_buf_addhex(&b, a->request_id, 32);
        hearth_buf_addf(&b, "\",\"outcome\":\"%s\",\"reason\":",
                        hearth_cust_outcome_name(a->outcome));
        hearth_buf_addjson(&b, a->reason, strlen(a->reason));
        hearth_buf_addf(&b, ",\"bid_msat\":%llu,\"amount_msat\":%llu,"
                            "\"paid_msat\":%llu",
                        (unsigned long long)a->bid_msat,
                        (unsigned long long)a->amount_msat,
                        (unsigned long long)a->paid_msat);
        json_receipt(&b, a);
        hearth_buf_addc(&b, '}');
    }
    hearth_buf_addf(&b, "],\"redundancy\":%u,\"results_ok\":%u,"
                        "\"agreement\":%s}\n", res->redundancy, res->nok,
                    res->agree < 0 ? "null" : res->agree ? "true" : "false");
    if (!hearth_buf_error(&b))
        fwrite(b.p, 1, b.len, stdout);
    hearth_buf_free(&b);
}

static void print_result(struct run *r)
{
    if (r->q->c.json) {
        print_json(r);
    } else if (r->res.outcome == HEARTH_CUST_OK) {
        fwrite(r->content.p ? r->content.p : "", 1, r->content.len, stdout);
        fputc('\n', stdout);
        if (r->res.redundancy > 1)
            fprintf(stderr, "hearth: %u of %u results, %s\n", r->res.nok,
                    r->res.redundancy,
                    r->res.agree ? "they agree" : "they DISAGREE");
    } else {
        cli_error("the job %s: %s", hearth_cust_outcome_name(r->res.outcome),
                  r->reason);
    }
    fflush(stdout);
}

static int run_loop(struct run *r)
{
    struct job_submit *q = r->q;
    hearth_pool_opts po;
    int rc;
    hearth_pool_opts_default(&po);
    po.on_wake = on_wake;
    po.user = r;
    po.pub_timeout_ms = FLUSH_WAIT_MS; /* a dead relay must not hold us */
    if ((rc = pool_cli_open(&q->c, &po)))
        return rc;
    catch_signals(q->c.loop);
    if (hearth_customer_new(q->c.loop, q->c.pool, r->view, r->db, q->c.sk,
                            &r->cust)) {
        cli_error("cannot start the customer");
        return CLI_ERROR;
    }
    hearth_customer_set_ledger(r->cust, r->ledger);
    if (q->wallet && job_wallet_open(q->c.loop, q->wallet, q->c.ca_file,
                                     &r->wallet))
        return CLI_ERROR;
    hearth_customer_set_wallet(r->cust, r->wallet);
    /* settlements a crash left unfinished, alongside the market sync */
    if (!q->ephemeral_key)
        hearth_customer_settle_pending(r->cust, SETTLE_PASS_MS, on_settled,
                                       r);
    if (!q->has_provider && (rc = start_sync(r)))
        return rc;
    if (q->has_provider)
        lws_sul_schedule(hearth_loop_lws(q->c.loop), 0, &r->start_sul,
                         start_cb, 1);
    if (hearth_loop_run(q->c.loop)) {
        cli_error("event loop failed");
        return CLI_ERROR;
    }
    if (r->have_result)
        print_result(r);
    else if (!r->done)
        cli_error("interrupted");
    return r->done ? r->exit_code : CLI_FAIL;
}

int job_submit_run(struct job_submit *q)
{
    struct run *r = calloc(1, sizeof *r);
    int rc;
    if (!r) {
        cli_error("out of memory");
        return CLI_ERROR;
    }
    r->q = q;
    r->tty = isatty(2);
    r->last_pct = -1;
    if (q->c.has_timeout)
        q->o.deadline_ms = (uint32_t)(q->c.timeout * 1000);
    char data[PATH_MAX];
    job_data_dir(q->data[0] ? q->data : NULL, data, sizeof data);
    memcpy(q->data, data, sizeof data);
    rc = get_key(q);
    if (rc == CLI_OK)
        rc = fill_pow_input(q);
    if (rc == CLI_OK)
        rc = open_stores(r);
    if (rc == CLI_OK)
        rc = run_loop(r);
    /* the wallet first: a payment in flight calls into the customer;
     * customer and sync unsubscribe: before the pool goes */
    hearth_nwc_free(r->wallet);
    hearth_customer_free(r->cust);
    hearth_sync_free(r->sync);
    if (q->c.loop) {
        lws_sul_cancel(&r->start_sul);
        lws_sul_cancel(&r->sync_sul);
        lws_sul_cancel(&r->flush_sul);
    }
    sig_loop = NULL;
    pool_cli_close(&q->c);
    hearth_view_close(r->view);
    hearth_jobdb_close(r->db);
    hearth_ledger_close(r->ledger);
    hearth_buf_free(&r->content);
    free(r);
    return rc;
}
