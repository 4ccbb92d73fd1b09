/* hearth market challenge: the hardware check (docs/challenge.md). Reads
 * the provider's PoW offer from the market view (after a sync), asks it
 * for K NIP-13 jobs one after the other through the customer (each
 * result's proof of work checked there), times them, judges them with
 * hearth/challenge.h and writes the mark into the view. */
#include "cli.h"
#include "job_cli.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hearth/challenge.h"
#include "hearth/error.h"
#include "hearth/hex.h"
#include "hearth/keys.h"
#include "hearth/kinds.h"
#include "hearth/sync.h"

#define SYNC_S 10.0          /* the market sync before reading the offer */
#define SAFETY_MS 10000u     /* the customer's own deadline past ours */
#define FLUSH_WAIT_MS 5000   /* settlements, deletions, the last OKs */
#define POLL_MS 50

struct chal {
    struct pool_cli c;
    char data[PATH_MAX];
    const char *data_opt;
    uint8_t provider[32];
    hearth_challenge_opts co;
    hearth_view *view;
    hearth_jobdb *db;
    hearth_sync *sync;
    hearth_customer *cust;
    /* the challenge */
    hearth_challenge_plan plan;
    hearth_challenge_sample s[HEARTH_CHALLENGE_MAX_JOBS];
    size_t n;                 /* samples taken */
    hearth_customer_job *job; /* the job running, NULL between jobs */
    unsigned open_jobs;       /* submitted and not yet on_done */
    int64_t sent_ms, fb_ms;
    char input[192], bits[8];
    int started, finished, exit_code;
    char fail[256];           /* why the check could not run */
    hearth_challenge_verdict v;
    lws_sorted_usec_list_t start_sul, sync_sul, next_sul, limit_sul,
        flush_sul;
    int64_t flush_until_ms;
};

static const char help[] =
    "usage: hearth market challenge PROVIDER [--seconds S] [--relay URL...]\n"
    "                               [--data DIR] [--key SPEC] [--json]\n"
    "\n"
    "The hardware check: asks PROVIDER (hex or npub) for 8 NIP-13 PoW jobs\n"
    "(kind 5970) sized so that the hash rate its offer claims (its benchmark,\n"
    "else the minimum of its GPU tier) would do them in about S seconds of\n"
    "work, checks every result's proof of work, times them and compares the\n"
    "rate achieved with the claim: below a quarter of it is FAIL. The mark\n"
    "(verdict, measured and claimed rate, time) goes into the market view;\n"
    "selection then leaves out GPU offers of providers that failed.\n"
    "\n"
    "Exit status 0 pass, 1 fail, 3 when the check could not run (no offer,\n"
    "the provider refused a job, no relay).\n"
    "\n"
    "options:\n"
    "  --seconds S      work at the claimed rate (default 2)\n"
    "  --data DIR       data directory, as 'hearth job' (view in DIR/view)\n"
    "  --json           the verdict as one JSON object\n";

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct lws_context *lws_of(struct chal *q)
{
    return hearth_loop_lws(q->c.loop);
}

/* ---- leaving ---- */

static void flush_cb(lws_sorted_usec_list_t *sul)
{
    struct chal *q = lws_container_of(sul, struct chal, flush_sul);
    if ((!q->open_jobs && !hearth_pool_pending(q->c.pool)) ||
        now_ms() >= q->flush_until_ms) {
        hearth_loop_stop(q->c.loop);
        return;
    }
    lws_sul_schedule(lws_of(q), 0, &q->flush_sul, flush_cb, POLL_MS * 1000);
}

static void leave(struct chal *q, int code)
{
    if (q->finished)
        return;
    q->finished = 1;
    q->exit_code = code;
    lws_sul_cancel(&q->limit_sul);
    lws_sul_cancel(&q->next_sul);
    if (q->job) {
        hearth_customer_cancel(q->job, "hardware check over");
        q->job = NULL;
    }
    q->flush_until_ms = now_ms() + FLUSH_WAIT_MS;
    lws_sul_schedule(lws_of(q), 0, &q->flush_sul, flush_cb, 1);
}

static void cannot_run(struct chal *q, const char *why)
{
    snprintf(q->fail, sizeof q->fail, "%s", why);
    leave(q, CLI_ERROR);
}

static void next_cb(lws_sorted_usec_list_t *sul);

/* ---- the verdict ---- */

static void conclude(struct chal *q)
{
    hearth_view_hw_check m;
    if (hearth_challenge_judge(&q->plan, q->s, q->n, &q->v)) {
        cannot_run(q, "internal error: the samples could not be judged");
        return;
    }
    m.verdict = q->v.verdict;
    m.checked_at = (int64_t)time(NULL);
    m.measured_hs = q->v.measured_hs;
    m.claimed_hs = q->v.claimed_hs;
    if (hearth_view_set_hw_check(q->view, q->provider, &m) != HEARTH_OK)
        fprintf(stderr, "hearth: could not write the mark into the view\n");
    leave(q, q->v.verdict == HEARTH_HW_PASS ? CLI_OK : CLI_FAIL);
}

static void take(struct chal *q, int outcome)
{
    int64_t t = now_ms();
    hearth_challenge_sample *s = &q->s[q->n++];
    s->outcome = outcome;
    s->elapsed_ms = (uint64_t)(t - q->sent_ms);
    s->rtt_ms = q->fb_ms ? (uint64_t)(q->fb_ms - q->sent_ms) : 0;
    q->job = NULL;
    lws_sul_cancel(&q->limit_sul);
    uint64_t work = hearth_challenge_work_ms(&q->plan, q->s, q->n);
    if (q->n == q->plan.jobs || outcome != HEARTH_CHALLENGE_DONE ||
        work > q->plan.budget_ms)
        conclude(q);
    else
        lws_sul_schedule(lws_of(q), 0, &q->next_sul, next_cb, 1);
}

/* ---- one job ---- */

static void limit_cb(lws_sorted_usec_list_t *sul)
{
    struct chal *q = lws_container_of(sul, struct chal, limit_sul);
    if (!q->job || q->finished)
        return;
    fprintf(stderr, "hearth: job %zu: the work budget ran out\n", q->n + 1);
    hearth_customer_job *j = q->job;
    take(q, HEARTH_CHALLENGE_TIMEOUT);
    hearth_customer_cancel(j, "hardware check: out of time");
}

static void on_feedback(hearth_customer_job *j, enum hearth_nip90_status st,
                        const char *info, const uint8_t provider[32],
                        void *user)
{
    struct chal *q = user;
    (void)st, (void)info, (void)provider;
    if (j == q->job && !q->fb_ms)
        q->fb_ms = now_ms();
}

static void on_attempt(hearth_customer_job *j,
                       const hearth_customer_attempt *a, void *user)
{
    struct chal *q = user;
    char why[HEARTH_CUSTOMER_WHY_MAX + 64];
    /* a re-bid is the same job asked again with the quoted price */
    if (j != q->job || a->outcome == HEARTH_CUST_RUNNING ||
        a->outcome == HEARTH_CUST_REBID || q->finished)
        return;
    if (a->outcome == HEARTH_CUST_OK) {
        take(q, HEARTH_CHALLENGE_DONE);
    } else if (a->outcome == HEARTH_CUST_INVALID) {
        fprintf(stderr, "hearth: job %zu: %s\n", q->n + 1, a->reason);
        take(q, HEARTH_CHALLENGE_INVALID);
    } else if (a->outcome == HEARTH_CUST_TIMEOUT) {
        take(q, HEARTH_CHALLENGE_TIMEOUT);
    } else {
        snprintf(why, sizeof why, "job %zu: %s: %s", q->n + 1,
                 hearth_cust_outcome_name(a->outcome), a->reason);
        q->job = NULL;
        cannot_run(q, why);
    }
}

static void on_done(hearth_customer_job *j, const hearth_customer_result *r,
                    void *user)
{
    struct chal *q = user;
    if (q->open_jobs)
        q->open_jobs--;
    if (j != q->job || q->finished)
        return;
    /* ended without an attempt verdict (deadline, no provider) */
    char why[HEARTH_CUSTOMER_WHY_MAX + 64];
    snprintf(why, sizeof why, "job %zu: %s: %s", q->n + 1,
             hearth_cust_outcome_name(r->outcome), r->reason);
    q->job = NULL;
    cannot_run(q, why);
}

/* an unsigned note nobody can have mined before: fresh random content */
static void make_input(struct chal *q)
{
    uint8_t pk[32], rnd[8];
    char pkh[65], rh[17];
    hearth_key_pubkey(q->c.sk, pk);
    hearth_hex_encode(pk, 32, pkh);
    randombytes_buf(rnd, sizeof rnd);
    hearth_hex_encode(rnd, sizeof rnd, rh);
    snprintf(q->input, sizeof q->input,
             "{\"pubkey\":\"%s\",\"created_at\":%lld,\"kind\":1,\"tags\":[],"
             "\"content\":\"hw check %zu %s\"}", pkh,
             (long long)time(NULL), q->n + 1, rh);
}

static void send_next(struct chal *q)
{
    hearth_job_input in = {NULL, 0, "text", ""};
    hearth_job_param par = {"pow", q->bits};
    hearth_job_spec spec;
    hearth_customer_opts o;
    hearth_customer_cbs cbs = {NULL, on_feedback, on_attempt, on_done};
    uint64_t left = q->plan.budget_ms -
                    hearth_challenge_work_ms(&q->plan, q->s, q->n);
    make_input(q);
    in.value = q->input;
    in.len = strlen(q->input);
    memset(&spec, 0, sizeof spec);
    spec.kind = HEARTH_KIND_JOB_POW;
    spec.inputs = &in;
    spec.ninputs = 1;
    spec.params = &par;
    spec.nparams = 1;
    hearth_customer_opts_default(&o);
    o.provider = q->provider;
    o.max_attempts = 2; /* room for one re-bid */
    o.deadline_ms = (uint32_t)(left + q->plan.rtt_cap_ms + SAFETY_MS);
    o.attempt_timeout_ms = o.deadline_ms;
    q->sent_ms = now_ms();
    q->fb_ms = 0;
    int rc = hearth_customer_submit(q->cust, &spec, &o, &cbs, q, &q->job);
    if (rc != HEARTH_OK) {
        q->job = NULL;
        cannot_run(q, hearth_strerror(rc));
        return;
    }
    q->open_jobs++;
    lws_sul_schedule(lws_of(q), 0, &q->limit_sul, limit_cb,
                     (lws_usec_t)(left + q->plan.rtt_cap_ms) * 1000);
}

static void next_cb(lws_sorted_usec_list_t *sul)
{
    struct chal *q = lws_container_of(sul, struct chal, next_sul);
    if (!q->finished)
        send_next(q);
}

/* ---- starting: the offer, the plan ---- */

static int find_offer(struct chal *q, hearth_offer *o)
{
    static const hearth_backend order[] = {
        HEARTH_BACKEND_POW, HEARTH_BACKEND_EXEC, HEARTH_BACKEND_OPENAI
    };
    int64_t now = (int64_t)time(NULL);
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
        if (hearth_view_get_offer(q->view, HEARTH_KIND_JOB_POW, q->provider,
                                  order[i], o) == HEARTH_OK &&
            o->expires_at > now)
            return HEARTH_OK;
    return HEARTH_ENOTFOUND;
}

static void start(struct chal *q)
{
    hearth_offer *o = malloc(sizeof *o);
    const char *why = "";
    if (q->started)
        goto out;
    q->started = 1;
    if (!o) {
        cannot_run(q, "out of memory");
    } else if (find_offer(q, o) != HEARTH_OK) {
        cannot_run(q, "the market view has no live PoW offer (kind 5970) "
                      "from this provider");
    } else if (hearth_challenge_plan_for(o, &q->co, &q->plan, &why)) {
        cannot_run(q, why);
    } else {
        snprintf(q->bits, sizeof q->bits, "%d", q->plan.bits);
        fprintf(stderr, "hearth: claimed %.4g MH/s (%s): %u jobs of %d bits, "
                "%.2f s of work at that rate; fail past %.2f s\n",
                (double)q->plan.claimed_hs / 1e6,
                q->plan.from_bench ? "benchmark" : "GPU tier", q->plan.jobs,
                q->plan.bits, q->plan.expected_s,
                q->plan.budget_ms / 1000.0);
        send_next(q);
    }
out:
    free(o);
}

static void start_cb(lws_sorted_usec_list_t *sul)
{
    start(lws_container_of(sul, struct chal, start_sul));
}

static void sync_cb(lws_sorted_usec_list_t *sul)
{
    struct chal *q = lws_container_of(sul, struct chal, sync_sul);
    if (!q->started)
        fprintf(stderr, "hearth: the market sync did not finish in %.0f s; "
                "using what arrived\n", SYNC_S);
    start(q);
}

static void on_caught_up(hearth_sync *s, void *user)
{
    struct chal *q = user;
    (void)s;
    lws_sul_schedule(lws_of(q), 0, &q->start_sul, start_cb, 1);
}

static int start_sync(struct chal *q)
{
    hearth_sync_opts so;
    hearth_sync_opts_default(&so);
    so.job_kinds[0] = HEARTH_KIND_JOB_POW;
    so.njob_kinds = 1;
    so.on_caught_up = on_caught_up;
    so.user = q;
    if (hearth_sync_new(q->c.loop, q->c.pool, q->view, &so, &q->sync)) {
        cli_error("cannot follow the market on these relays");
        return CLI_ERROR;
    }
    lws_sul_schedule(lws_of(q), 0, &q->sync_sul, sync_cb,
                     (lws_usec_t)(SYNC_S * 1e6));
    return CLI_OK;
}

/* ---- output ---- */

static void print_json(struct chal *q)
{
    hearth_buf b = HEARTH_BUF_INIT;
    const hearth_challenge_verdict *v = &q->v;
    hearth_buf_adds(&b, "{\"provider\":\"");
    hearth_buf_addhex(&b, q->provider, 32);
    hearth_buf_addf(&b, "\",\"verdict\":\"%s\",\"measured_mhs\":%.6g,"
                    "\"claimed_mhs\":%.6g,\"from_bench\":%s,\"jobs\":%u,"
                    "\"done\":%u,\"bits\":%d,\"work_ms\":%llu,"
                    "\"budget_ms\":%llu,\"margin\":%g,\"checked_at\":%lld,"
                    "\"reason\":", hearth_hw_verdict_name(v->verdict),
                    (double)v->measured_hs / 1e6,
                    (double)v->claimed_hs / 1e6,
                    q->plan.from_bench ? "true" : "false", q->plan.jobs,
                    v->done, q->plan.bits, (unsigned long long)v->work_ms,
                    (unsigned long long)q->plan.budget_ms, q->plan.margin,
                    (long long)time(NULL));
    hearth_buf_addjson(&b, v->why, strlen(v->why));
    hearth_buf_adds(&b, ",\"samples\":[");
    for (size_t i = 0; i < q->n; i++) {
        static const char *const names[] = {"done", "timeout", "invalid"};
        hearth_buf_addf(&b, "%s{\"outcome\":\"%s\",\"elapsed_ms\":%llu,"
                        "\"rtt_ms\":%llu}", i ? "," : "",
                        names[q->s[i].outcome],
                        (unsigned long long)q->s[i].elapsed_ms,
                        (unsigned long long)q->s[i].rtt_ms);
    }
    hearth_buf_adds(&b, "]}\n");
    if (!hearth_buf_error(&b))
        fwrite(b.p, 1, b.len, stdout);
    hearth_buf_free(&b);
}

static void print_verdict(struct chal *q)
{
    char who[32];
    if (q->exit_code == CLI_ERROR) {
        cli_error("the hardware check could not run: %s", q->fail);
        if (q->c.json)
            printf("{\"verdict\":null,\"reason\":\"could not run\"}\n");
        return;
    }
    if (q->c.json) {
        print_json(q);
    } else {
        job_npub_short(q->provider, who);
        printf("%s: %s: %s\n", who,
               q->v.verdict == HEARTH_HW_PASS ? "PASS" : "FAIL", q->v.why);
    }
    fflush(stdout);
}

/* ---- setting up ---- */

static int parse_args(struct chal *q, int argc, char **argv)
{
    int have_provider = 0;
    for (int i = 1; i < argc; i++) {
        int r = pool_cli_opt(&q->c, argc, argv, &i);
        const char *a = argv[i];
        if (r < 0)
            return -1;
        if (r > 0)
            continue;
        if (!strcmp(a, "--data") && i + 1 < argc) {
            q->data_opt = argv[++i];
        } else if (!strcmp(a, "--seconds") && i + 1 < argc) {
            char *end;
            q->co.seconds = strtod(argv[++i], &end);
            if (*end || !(q->co.seconds > 0 && q->co.seconds <= 3600)) {
                cli_error("--seconds wants a number above 0, at most 3600");
                return -1;
            }
        } else if (a[0] != '-' && !have_provider) {
            if (pool_cli_pubkey(a, q->provider))
                return -1;
            have_provider = 1;
        } else {
            cli_error("unexpected argument '%s' (see --help)", a);
            return -1;
        }
    }
    if (!q->c.help && !have_provider) {
        cli_error("give the provider to check (hex or npub)");
        return -1;
    }
    return 0;
}

static int open_stores(struct chal *q)
{
    char dir[PATH_MAX + 8];
    int rc;
    job_data_dir(q->data_opt, q->data, sizeof q->data);
    if (job_subdir(q->data, "view", 1, dir, sizeof dir))
        return CLI_ERROR;
    if ((rc = hearth_view_open(dir, NULL, &q->view))) {
        cli_error("cannot open the market view in %s: %s", dir,
                  hearth_strerror(rc));
        return CLI_ERROR;
    }
    if (job_subdir(q->data, "jobs", 1, dir, sizeof dir))
        return CLI_ERROR;
    if ((rc = hearth_jobdb_open(dir, &q->db))) {
        cli_error("cannot open the job table in %s: %s", dir,
                  hearth_strerror(rc));
        return CLI_ERROR;
    }
    return CLI_OK;
}

static int get_key(struct chal *q)
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
    return CLI_OK;
}

static int run_loop(struct chal *q)
{
    hearth_pool_opts po;
    int rc;
    hearth_pool_opts_default(&po);
    po.pub_timeout_ms = FLUSH_WAIT_MS;
    if ((rc = pool_cli_open(&q->c, &po)))
        return rc;
    if (hearth_customer_new(q->c.loop, q->c.pool, q->view, q->db, q->c.sk,
                            &q->cust)) {
        cli_error("cannot start the customer");
        return CLI_ERROR;
    }
    if ((rc = start_sync(q)))
        return rc;
    if (hearth_loop_run(q->c.loop)) {
        cli_error("event loop failed");
        return CLI_ERROR;
    }
    if (!q->finished) {
        cli_error("interrupted");
        return CLI_ERROR;
    }
    print_verdict(q);
    return q->exit_code;
}

static void clear(struct chal *q)
{
    hearth_customer_free(q->cust);
    hearth_sync_free(q->sync);
    if (q->c.loop) {
        lws_sul_cancel(&q->start_sul);
        lws_sul_cancel(&q->sync_sul);
        lws_sul_cancel(&q->next_sul);
        lws_sul_cancel(&q->limit_sul);
        lws_sul_cancel(&q->flush_sul);
    }
    pool_cli_close(&q->c);
    hearth_view_close(q->view);
    hearth_jobdb_close(q->db);
}

int cmd_market_challenge(int argc, char **argv)
{
    struct chal *q = calloc(1, sizeof *q);
    int rc;
    if (!q) {
        cli_error("out of memory");
        return CLI_ERROR;
    }
    hearth_challenge_opts_default(&q->co);
    rc = parse_args(q, argc, argv) ? CLI_USAGE : CLI_OK;
    if (rc == CLI_OK && q->c.help) {
        printf("%s%s", help, pool_cli_help);
    } else if (rc == CLI_OK && !q->c.nrelays) {
        cli_error("no relay: give at least one --relay URL");
        rc = CLI_ERROR;
    } else if (rc == CLI_OK && (rc = get_key(q)) == CLI_OK &&
               (rc = open_stores(q)) == CLI_OK) {
        rc = run_loop(q);
    }
    clear(q);
    free(q);
    return rc;
}
