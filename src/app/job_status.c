/* hearth job status / hearth job cancel: read a recorded job and the
 * chain of its attempts from the job table (any role), and withdraw the
 * open attempts of one of our own jobs with NIP-09 deletions. */
#include "cli.h"
#include "job_cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hearth/error.h"
#include "hearth/hex.h"
#include "hearth/keys.h"
#include "hearth/kinds.h"

#define CHAIN_SCAN 8192u      /* records read to find a chain */
#define CANCEL_WAIT_S 10.0

static const uint8_t zero32[32];

struct chain {
    hearth_job_rec *recs;     /* the chain, by attempt number */
    size_t n;
    hearth_job_rec head;      /* the record the user named */
};

struct status_cli {
    struct pool_cli c;        /* cancel: relays, key, json */
    const char *id;
    char data[PATH_MAX];
    const char *data_opt;
};

static const char status_help[] =
"usage: hearth job status ID [--data DIR] [--json]\n"
"\n"
"Shows a job from the job table: its state, provider, amount and reason,\n"
"and for a customer's job every attempt of its chain (retries and\n"
"redundant requests point at the first request). ID is a request id or\n"
"a unique hex prefix of one. Jobs this peer served ('hearth run' with the\n"
"same --data) are shown too.\n"
"\n"
"  --data DIR   the data directory (default $XDG_DATA_HOME/hearth)\n"
"  --json       one JSON object\n";

static const char cancel_help[] =
"usage: hearth job cancel ID --relay URL... [--key SPEC] [--data DIR]\n"
"\n"
"Withdraws the open attempts of a job submitted with this key: a NIP-09\n"
"deletion (with the job's k tag) of each request goes to the relays\n"
"(--relay, else the relays the request named), and the job table marks\n"
"them cancelled. Exit status 1 if no relay took a deletion.\n\n";

static int parse(struct status_cli *s, int argc, char **argv, int pool)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int r = pool ? pool_cli_opt(&s->c, argc, argv, &i) : 0;
        if (r < 0)
            return -1;
        if (r > 0)
            continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            s->c.help = 1;
        } else if (!strcmp(a, "--json")) {
            s->c.json = 1;
        } else if (!strcmp(a, "--data") && i + 1 < argc) {
            s->data_opt = argv[++i];
        } else if (a[0] != '-' && !s->id) {
            s->id = a;
        } else {
            cli_error("unexpected argument '%s' (see --help)", a);
            return -1;
        }
    }
    if (!s->c.help && !s->id) {
        cli_error("which job? give its id (or a unique hex prefix)");
        return -1;
    }
    job_data_dir(s->data_opt, s->data, sizeof s->data);
    return 0;
}

static int open_db(struct status_cli *s, hearth_jobdb **db)
{
    char dir[PATH_MAX + 8];
    if (job_subdir(s->data, "jobs", 0, dir, sizeof dir))
        return CLI_ERROR;
    int rc = hearth_jobdb_open(dir, db);
    if (rc) {
        cli_error("cannot open the job table in %s: %s", dir,
                  hearth_strerror(rc));
        return CLI_ERROR;
    }
    return CLI_OK;
}

static int by_attempt(const void *a, const void *b)
{
    const hearth_job_rec *x = a, *y = b;
    if (x->attempts != y->attempts)
        return x->attempts < y->attempts ? -1 : 1;
    return x->created_at < y->created_at ? -1 : x->created_at > y->created_at;
}

/* The named record and, for a customer's job, the records whose upstream
 * is the chain's first request. */
static int load_chain(hearth_jobdb *db, const char *id, struct chain *ch)
{
    size_t n = 0;
    int rc = hearth_jobdb_find_prefix(db, id, &ch->head);
    if (rc == HEARTH_ENOTFOUND)
        cli_error("no job %s in the job table", id);
    else if (rc == HEARTH_EINVAL)
        cli_error("'%s' is not a hex id, or more than one job starts with "
                  "it: give more digits", id);
    if (rc)
        return rc;
    ch->recs = calloc(CHAIN_SCAN, sizeof *ch->recs);
    if (!ch->recs)
        return HEARTH_ENOMEM;
    if (ch->head.role != HEARTH_JOB_CUSTOMER) {
        ch->recs[ch->n++] = ch->head;
        return HEARTH_OK;
    }
    const uint8_t *root = memcmp(ch->head.upstream, zero32, 32)
                              ? ch->head.upstream : ch->head.id;
    rc = hearth_jobdb_list(db, HEARTH_JOB_CUSTOMER, 0, ch->recs, CHAIN_SCAN,
                           &n);
    for (size_t i = 0; rc == HEARTH_OK && i < n; i++)
        if (!memcmp(ch->recs[i].id, root, 32) ||
            !memcmp(ch->recs[i].upstream, root, 32))
            ch->recs[ch->n++] = ch->recs[i];
    if (rc == HEARTH_OK && !ch->n)
        ch->recs[ch->n++] = ch->head;
    qsort(ch->recs, ch->n, sizeof *ch->recs, by_attempt);
    return rc;
}

/* A chain is done if one attempt delivered, running while one is open,
 * else as its last attempt ended. */
static const hearth_job_rec *summary_rec(const struct chain *ch)
{
    for (size_t i = 0; i < ch->n; i++)
        if (ch->recs[i].state == HEARTH_JOB_DONE)
            return &ch->recs[i];
    for (size_t i = 0; i < ch->n; i++)
        if (!hearth_job_state_final(ch->recs[i].state))
            return &ch->recs[i];
    return &ch->recs[ch->n - 1];
}

static const char *role_name(int role)
{
    return role == HEARTH_JOB_PROVIDER   ? "provider"
           : role == HEARTH_JOB_CUSTOMER ? "customer"
           : role == HEARTH_JOB_ROUTER   ? "router"
                                         : "unknown";
}

static void rec_json(hearth_buf *b, const hearth_job_rec *r)
{
    hearth_buf_adds(b, "{\"id\":\"");
    hearth_buf_addhex(b, r->id, 32);
    hearth_buf_addf(b, "\",\"role\":\"%s\",\"state\":\"%s\",\"attempt\":%u,"
                       "\"kind\":%u,\"provider\":\"",
                    role_name(r->role), hearth_job_state_name(r->state),
                    r->attempts, r->kind);
    hearth_buf_addhex(b, r->provider, 32);
    hearth_buf_adds(b, "\",\"customer\":\"");
    hearth_buf_addhex(b, r->customer, 32);
    hearth_buf_adds(b, "\",\"upstream\":");
    if (memcmp(r->upstream, zero32, 32)) {
        hearth_buf_addc(b, '"');
        hearth_buf_addhex(b, r->upstream, 32);
        hearth_buf_addc(b, '"');
    } else {
        hearth_buf_adds(b, "null");
    }
    hearth_buf_adds(b, ",\"result_id\":");
    if (memcmp(r->result_id, zero32, 32)) {
        hearth_buf_addc(b, '"');
        hearth_buf_addhex(b, r->result_id, 32);
        hearth_buf_addc(b, '"');
    } else {
        hearth_buf_adds(b, "null");
    }
    hearth_buf_adds(b, ",\"output_hash\":\"");
    hearth_buf_addhex(b, r->output_hash, 32);
    hearth_buf_addf(b, "\",\"amount_msat\":%llu,\"created_at\":%lld,"
                       "\"updated_at\":%lld,\"reason\":",
                    (unsigned long long)r->amount_msat,
                    (long long)r->created_at, (long long)r->updated_at);
    hearth_buf_addjson(b, r->reason, strlen(r->reason));
    hearth_buf_addc(b, '}');
}

static void print_status_json(const struct chain *ch)
{
    const hearth_job_rec *s = summary_rec(ch);
    hearth_buf b = HEARTH_BUF_INIT;
    hearth_buf_adds(&b, "{\"id\":\"");
    hearth_buf_addhex(&b, ch->recs[0].id, 32);
    hearth_buf_addf(&b, "\",\"role\":\"%s\",\"kind\":%u,\"state\":\"%s\","
                        "\"provider\":\"", role_name(s->role), s->kind,
                    hearth_job_state_name(s->state));
    hearth_buf_addhex(&b, s->provider, 32);
    hearth_buf_addf(&b, "\",\"amount_msat\":%llu,\"reason\":",
                    (unsigned long long)s->amount_msat);
    hearth_buf_addjson(&b, s->reason, strlen(s->reason));
    hearth_buf_adds(&b, ",\"record\":");
    rec_json(&b, &ch->head);
    hearth_buf_adds(&b, ",\"attempts\":[");
    for (size_t i = 0; i < ch->n; i++) {
        if (i)
            hearth_buf_addc(&b, ',');
        rec_json(&b, &ch->recs[i]);
    }
    hearth_buf_adds(&b, "]}\n");
    if (!hearth_buf_error(&b))
        fwrite(b.p, 1, b.len, stdout);
    hearth_buf_free(&b);
}

static void print_status(const struct chain *ch)
{
    const hearth_job_rec *s = summary_rec(ch);
    char id[65], who[32];
    hearth_hex_encode(ch->recs[0].id, 32, id);
    job_npub_short(s->provider, who);
    printf("job %s\n  role %s, kind %u: %s\n  provider %s, amount %llu "
           "msat\n", id, role_name(s->role), s->kind,
           hearth_job_state_name(s->state), who,
           (unsigned long long)s->amount_msat);
    if (*s->reason)
        printf("  reason: %s\n", s->reason);
    if (ch->n < 2 && s->role != HEARTH_JOB_CUSTOMER)
        return;
    printf("  attempts:\n");
    for (size_t i = 0; i < ch->n; i++) {
        const hearth_job_rec *r = &ch->recs[i];
        char rid[13];
        hearth_hex_encode(r->id, 6, rid);
        job_npub_short(r->provider, who);
        printf("    %u %s %s %-9s %s\n", r->attempts, rid, who,
               hearth_job_state_name(r->state), r->reason);
    }
}

int job_status(int argc, char **argv)
{
    struct status_cli s;
    struct chain ch;
    hearth_jobdb *db = NULL;
    memset(&s, 0, sizeof s);
    memset(&ch, 0, sizeof ch);
    if (parse(&s, argc, argv, 0))
        return CLI_USAGE;
    if (s.c.help) {
        fputs(status_help, stdout);
        return CLI_OK;
    }
    int rc = open_db(&s, &db);
    if (rc == CLI_OK) {
        int e = load_chain(db, s.id, &ch);
        rc = e == HEARTH_ENOTFOUND ? CLI_FAIL
             : e == HEARTH_EINVAL  ? CLI_USAGE
             : e                   ? CLI_ERROR
                                   : CLI_OK;
        if (e && e != HEARTH_ENOTFOUND && e != HEARTH_EINVAL)
            cli_error("cannot read the job table: %s", hearth_strerror(e));
    }
    if (rc == CLI_OK && s.c.json)
        print_status_json(&ch);
    else if (rc == CLI_OK)
        print_status(&ch);
    free(ch.recs);
    hearth_jobdb_close(db);
    return rc;
}

/* ---- cancel ---- */

struct cancel {
    struct status_cli s;
    hearth_jobdb *db;
    struct chain ch;
    hearth_event *reqs[HEARTH_CUSTOMER_MAX_ATTEMPTS]; /* kept requests */
    size_t nopen;
    size_t pubs, accepted[HEARTH_CUSTOMER_MAX_ATTEMPTS], answers;
    uint8_t ids[HEARTH_CUSTOMER_MAX_ATTEMPTS][32];   /* deletion ids */
};

/* the "relays" tag of a plain request: where its customer listens */
static void relays_of(struct cancel *k, const hearth_event *ev)
{
    const hearth_tag *t = hearth_event_find_tag(ev, "relays");
    for (size_t i = 1; t && i < t->n && k->s.c.nrelays <
                                            HEARTH_POOL_MAX_RELAYS; i++)
        k->s.c.relays[k->s.c.nrelays++] = t->v[i].p;
}

static int open_attempts(struct cancel *k, const uint8_t pk[32])
{
    int from_request = k->s.c.nrelays == 0;
    for (size_t i = 0; i < k->ch.n && k->nopen < HEARTH_CUSTOMER_MAX_ATTEMPTS;
         i++) {
        hearth_job_rec *r = &k->ch.recs[i];
        hearth_buf blob = HEARTH_BUF_INIT;
        if (r->role != HEARTH_JOB_CUSTOMER || hearth_job_state_final(r->state))
            continue;
        if (memcmp(r->customer, pk, 32)) {
            cli_error("job %.12s... was submitted with another key: give "
                      "that one with --key", k->s.id);
            return CLI_ERROR;
        }
        hearth_event *ev = NULL;
        if (hearth_jobdb_blob(k->db, r->id, &blob) == HEARTH_OK)
            hearth_event_parse(blob.p, blob.len, 0, &ev, NULL);
        hearth_buf_free(&blob);
        if (ev && from_request)
            relays_of(k, ev);
        k->reqs[k->nopen] = ev;
        k->ch.recs[k->nopen++] = *r; /* open ones first, in place */
    }
    if (!k->nopen) {
        cli_error("job %s is %s: nothing to cancel", k->s.id,
                  hearth_job_state_name(summary_rec(&k->ch)->state));
        return CLI_FAIL;
    }
    if (!k->s.c.nrelays) {
        cli_error("no relay: give --relay URL (the request named none)");
        return CLI_USAGE;
    }
    return CLI_OK;
}

static void on_pub(const uint8_t id[32], const char *relay,
                   enum hearth_pub_result r, const char *msg, void *user)
{
    struct cancel *k = user;
    for (size_t i = 0; i < k->nopen; i++)
        if (!memcmp(k->ids[i], id, 32) && r == HEARTH_PUB_OK)
            k->accepted[i]++;
    if (r != HEARTH_PUB_OK)
        fprintf(stderr, "hearth: %s did not take the deletion: %s\n", relay,
                msg);
    if (++k->answers == k->pubs * hearth_pool_nrelays(k->s.c.pool))
        hearth_loop_stop(k->s.c.loop);
}

static int send_deletions(struct cancel *k)
{
    for (size_t i = 0; i < k->nopen; i++) {
        hearth_job_rec *r = &k->ch.recs[i];
        hearth_event *ev = NULL;
        int rc = hearth_nip90_cancel_build(r->id, r->kind,
                                           "cancelled by the customer",
                                           (int64_t)time(NULL), &ev);
        if (rc == HEARTH_OK)
            rc = hearth_event_sign(ev, k->s.c.sk);
        if (rc == HEARTH_OK) {
            memcpy(k->ids[i], ev->id, 32);
            rc = hearth_pool_publish(k->s.c.pool, ev, on_pub, k);
        }
        hearth_event_free(ev);
        if (rc != HEARTH_OK) {
            cli_error("cannot publish the deletion: %s", hearth_strerror(rc));
            return CLI_ERROR;
        }
        k->pubs++;
        r->state = HEARTH_JOB_CANCELLED;
        r->updated_at = (int64_t)time(NULL);
        snprintf(r->reason, sizeof r->reason, "cancelled by the customer");
        hearth_jobdb_put(k->db, r, NULL, 0, NULL);
    }
    return CLI_OK;
}

static int cancel_run(struct cancel *k)
{
    hearth_pool_opts po;
    uint8_t pk[32];
    int rc = open_db(&k->s, &k->db);
    if (rc != CLI_OK)
        return rc;
    int e = load_chain(k->db, k->s.id, &k->ch);
    if (e)
        return e == HEARTH_ENOTFOUND ? CLI_FAIL
               : e == HEARTH_EINVAL  ? CLI_USAGE : CLI_ERROR;
    if (pool_cli_key(&k->s.c) || !k->s.c.has_key) {
        if (!k->s.c.has_key)
            cli_error("no key: give the job's key with --key");
        return CLI_ERROR;
    }
    hearth_key_pubkey(k->s.c.sk, pk);
    if ((rc = open_attempts(k, pk)) != CLI_OK)
        return rc;
    hearth_pool_opts_default(&po);
    if ((rc = pool_cli_open(&k->s.c, &po)) != CLI_OK ||
        (rc = send_deletions(k)) != CLI_OK)
        return rc;
    pool_cli_arm_timeout(&k->s.c, k->s.c.has_timeout ? k->s.c.timeout
                                                     : CANCEL_WAIT_S);
    hearth_loop_run(k->s.c.loop);
    size_t taken = 0;
    for (size_t i = 0; i < k->nopen; i++)
        taken += k->accepted[i] > 0;
    if (k->s.c.json)
        printf("{\"cancelled\":%zu,\"accepted\":%zu}\n", k->nopen, taken);
    else
        fprintf(stderr, "hearth: %zu request(s) withdrawn, %zu taken by a "
                "relay\n", k->nopen, taken);
    return taken == k->nopen ? CLI_OK : CLI_FAIL;
}

int job_cancel(int argc, char **argv)
{
    struct cancel *k = calloc(1, sizeof *k);
    if (!k) {
        cli_error("out of memory");
        return CLI_ERROR;
    }
    int rc = parse(&k->s, argc, argv, 1) ? CLI_USAGE : CLI_OK;
    if (rc == CLI_OK && k->s.c.help)
        printf("%s%s", cancel_help, pool_cli_help);
    else if (rc == CLI_OK)
        rc = cancel_run(k);
    pool_cli_close(&k->s.c);
    for (size_t i = 0; i < k->nopen; i++)
        hearth_event_free(k->reqs[i]);
    free(k->ch.recs);
    hearth_jobdb_close(k->db);
    free(k);
    return rc;
}
