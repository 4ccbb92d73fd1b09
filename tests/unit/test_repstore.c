/* The receipt store and the reputation sync's computation without the
 * network: ingest, idempotency, bounds, how facts are backed, forged and
 * unsigned events, ledger priors, and a self-dealing ring that must not
 * move any score in the market view. */
#include "hearth/error.h"
#include "hearth/event.h"
#include "hearth/keys.h"
#include "hearth/kinds.h"
#include "hearth/ledger.h"
#include "hearth/loop.h"
#include "hearth/meter.h"
#include "hearth/pool.h"
#include "hearth/repstore.h"
#include "hearth/repsync.h"
#include "hearth/reputation.h"
#include "hearth/view.h"
#include "tap.h"
#include "tmpdir.h"

#include <math.h>
#include <time.h>

#define MAXF 4096

static int64_t T0;  /* a base time a little in the past */

typedef struct key {
    uint8_t sk[32], pk[32];
} key;

static void keygen(key *k)
{
    hearth_key_generate(k->sk);
    hearth_key_pubkey(k->sk, k->pk);
}

/* A final credit note from p to customer c for job `job`; n gets the
 * note as parsed (id and provider set) for receipts. */
static hearth_event *note_ev(const key *p, const uint8_t c[32], uint8_t job,
                             uint64_t amount, int64_t at,
                             hearth_meter_note *n)
{
    hearth_event *ev = NULL;
    const char *why = "";
    memset(n, 0, sizeof *n);
    memset(n->request_id, job, 32);
    n->request_id[0] = p->pk[0]; /* jobs of different providers differ */
    memcpy(n->customer, c, 32);
    n->seq = 1;
    n->final = 1;
    n->usage.jobs = 1;
    n->price.per_job = amount;
    n->amount_msat = amount;
    memset(n->input_sha256, 0x3c, 32);
    n->has_output = 1;
    memset(n->output_sha256, 0x4d, 32);
    n->rail = HEARTH_RAIL_CREDIT;
    CHECKF(hearth_meter_note_to_event(n, at, &ev, &why) == HEARTH_OK, "%s",
           why);
    if (!ev)
        return NULL;
    CHECK(hearth_event_sign(ev, p->sk) == HEARTH_OK);
    memcpy(n->id, ev->id, 32);
    memcpy(n->provider, p->pk, 32);
    return ev;
}

/* c's receipt for n: accept (reason NONE) with the note's amount unless
 * amount is given (not 0), or a dispute accepting nothing. */
static hearth_event *receipt_ev(const key *c, const hearth_meter_note *n,
                                hearth_dispute reason, uint64_t amount,
                                int64_t at)
{
    hearth_receipt r;
    hearth_event *ev = NULL;
    const char *why = "";
    hearth_receipt_for(n, reason, &r);
    memcpy(r.customer, c->pk, 32);
    if (amount)
        r.amount_msat = amount;
    CHECKF(hearth_receipt_to_event(&r, at, &ev, &why) == HEARTH_OK, "%s", why);
    if (ev)
        CHECK(hearth_event_sign(ev, c->sk) == HEARTH_OK);
    return ev;
}

/* A batch of events to ingest and free. */
typedef struct batch {
    hearth_event *ev[1024];
    size_t n;
} batch;

static void add(batch *b, hearth_event *ev)
{
    if (ev && b->n < 1024)
        b->ev[b->n++] = ev;
}

static void drain(batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        hearth_event_free(b->ev[i]);
    b->n = 0;
}

/* ingest b (verified by the store itself) and free it; 0 if all went */
static int ingest(hearth_repstore *s, batch *b, hearth_repstore_result *res)
{
    int rc = hearth_repstore_ingest(s, b->ev, b->n, time(NULL), 0, res);
    drain(b);
    return rc;
}

/* One job: p's note to c and c's receipt for it. */
static void job(batch *b, const key *p, const key *c, uint8_t jobno,
                uint64_t amount, hearth_dispute reason, int64_t at)
{
    hearth_meter_note n;
    add(b, note_ev(p, c->pk, jobno, amount, at, &n));
    add(b, receipt_ev(c, &n, reason, 0, at + 1));
}

static const hearth_rep_receipt *fact_for(const hearth_rep_receipt *f,
                                          size_t n, const uint8_t c[32],
                                          const uint8_t p[32])
{
    for (size_t i = 0; i < n; i++)
        if (!memcmp(f[i].customer, c, 32) && !memcmp(f[i].provider, p, 32))
            return &f[i];
    return NULL;
}

static hearth_rep_receipt facts[MAXF];

static void test_ingest(void)
{
    char *dir = tap_tmpdir("repstore");
    hearth_repstore *s;
    hearth_repstore_info info;
    hearth_repstore_result res[8];
    hearth_meter_note n;
    size_t nf;
    key p, c, x;
    batch b = {0};
    keygen(&p);
    keygen(&c);
    keygen(&x);
    CHECK(hearth_repstore_open(dir, NULL, &s) == HEARTH_OK);

    /* one job, both sides, and the receipt twice in one batch */
    add(&b, note_ev(&p, c.pk, 1, 5000, T0, &n));
    add(&b, receipt_ev(&c, &n, HEARTH_DISPUTE_NONE, 0, T0 + 1));
    add(&b, receipt_ev(&c, &n, HEARTH_DISPUTE_NONE, 0, T0 + 1));
    CHECK(ingest(s, &b, res) == HEARTH_OK);
    CHECK(res[0].status == HEARTH_REPSTORE_STORED);
    CHECK(res[1].status == HEARTH_REPSTORE_STORED);
    CHECK(res[2].status == HEARTH_REPSTORE_DUPLICATE);
    CHECK(hearth_repstore_facts(s, 0, facts, MAXF, &nf) == HEARTH_OK);
    CHECKF(nf == 1, "%zu", nf);
    CHECK(nf && facts[0].backed && facts[0].amount_msat == 5000 &&
          !facts[0].disputed && !memcmp(facts[0].customer, c.pk, 32) &&
          !memcmp(facts[0].provider, p.pk, 32) &&
          !memcmp(facts[0].job_id, n.request_id, 32));

    /* idempotent across batches: the same note again changes nothing */
    add(&b, note_ev(&p, c.pk, 1, 5000, T0, &n));
    CHECK(ingest(s, &b, res) == HEARTH_OK);
    CHECK(res[0].status == HEARTH_REPSTORE_DUPLICATE);
    CHECK(hearth_repstore_get_info(s, &info) == HEARTH_OK);
    CHECK(info.records == 2 && info.notes == 1 && info.receipts == 1 &&
          info.providers == 1 && info.evicted == 0);

    /* since: receipts before it are not facts */
    CHECK(hearth_repstore_facts(s, T0 + 2, facts, MAXF, &nf) == HEARTH_OK);
    CHECK(nf == 0);
    /* persists across a reopen */
    hearth_repstore_close(s);
    CHECK(hearth_repstore_open(dir, NULL, &s) == HEARTH_OK);
    CHECK(hearth_repstore_facts(s, 0, facts, MAXF, &nf) == HEARTH_OK &&
          nf == 1);
    hearth_repstore_close(s);
    tap_rmtree(dir);
    free(dir);
}

/* backed only by the provider's own note for that job and customer */
static void test_backed(void)
{
    char *dir = tap_tmpdir("repstore");
    hearth_repstore *s;
    hearth_meter_note n, n2;
    hearth_repstore_result res[16];
    size_t nf;
    key p, c, c2, x;
    batch b = {0};
    keygen(&p);
    keygen(&c);
    keygen(&c2);
    keygen(&x);
    CHECK(hearth_repstore_open(dir, NULL, &s) == HEARTH_OK);

    /* receipt claiming more than billed: capped at the bill */
    add(&b, note_ev(&p, c.pk, 1, 3000, T0, &n));
    add(&b, receipt_ev(&c, &n, HEARTH_DISPUTE_NONE, 90000000, T0 + 1));
    /* dispute accepting nothing: weighs what was billed */
    add(&b, note_ev(&p, c2.pk, 2, 7000, T0, &n2));
    add(&b, receipt_ev(&c2, &n2, HEARTH_DISPUTE_OVERCHARGED, 0, T0 + 2));
    CHECK(ingest(s, &b, res) == HEARTH_OK);
    /* x receipts a job of p that p never billed to x (p's note for c) */
    hearth_meter_note fake = n;
    memcpy(fake.customer, x.pk, 32);
    add(&b, receipt_ev(&x, &fake, HEARTH_DISPUTE_NONE, 0, T0 + 3));
    /* x receipts a job nobody billed at all */
    memset(fake.request_id, 0x77, 32);
    add(&b, receipt_ev(&x, &fake, HEARTH_DISPUTE_WRONG_RESULT, 0, T0 + 4));
    /* a note x signs itself about p's job does not back c's receipt */
    CHECK(ingest(s, &b, res) == HEARTH_OK);

    CHECK(hearth_repstore_facts(s, 0, facts, MAXF, &nf) == HEARTH_OK);
    CHECKF(nf == 4, "%zu", nf);
    const hearth_rep_receipt *f = fact_for(facts, nf, c.pk, p.pk);
    CHECK(f && f->backed && f->amount_msat == 3000 && !f->disputed);
    f = fact_for(facts, nf, c2.pk, p.pk);
    CHECK(f && f->backed && f->amount_msat == 7000 && f->disputed &&
          f->reason == HEARTH_REP_OVERCHARGED);
    size_t unbacked = 0;
    for (size_t i = 0; i < nf; i++)
        if (!memcmp(facts[i].customer, x.pk, 32))
            unbacked += !facts[i].backed;
    CHECK(unbacked == 2);
    /* newest first */
    CHECK(nf == 4 && !memcmp(facts[0].customer, x.pk, 32) &&
          facts[0].disputed);
    /* max honoured: the newest one only */
    CHECK(hearth_repstore_facts(s, 0, facts, 1, &nf) == HEARTH_OK && nf == 1);
    hearth_repstore_close(s);
    tap_rmtree(dir);
    free(dir);
}

/* forged, malformed and foreign events never become records */
static void test_forged(void)
{
    char *dir = tap_tmpdir("repstore");
    hearth_repstore *s;
    hearth_repstore_info info;
    hearth_repstore_result res[8];
    hearth_meter_note n;
    key p, c;
    batch b = {0};
    keygen(&p);
    keygen(&c);
    CHECK(hearth_repstore_open(dir, NULL, &s) == HEARTH_OK);

    hearth_event *forged = note_ev(&p, c.pk, 1, 1000, T0, &n);
    forged->sig[5] ^= 1;                 /* signature no longer holds */
    add(&b, forged);
    hearth_event *unsigned_ev = NULL;
    hearth_receipt r;
    hearth_receipt_for(&n, HEARTH_DISPUTE_NONE, &r);
    CHECK(hearth_receipt_to_event(&r, T0, &unsigned_ev, NULL) == HEARTH_OK);
    add(&b, unsigned_ev);                /* never signed */
    hearth_event *other = NULL;
    CHECK(hearth_event_new(1, T0, "hi", 2, &other) == HEARTH_OK);
    CHECK(hearth_event_sign(other, c.sk) == HEARTH_OK);
    add(&b, other);                      /* a text note */
    hearth_event *bad = NULL;            /* signed, but no v tag */
    CHECK(hearth_event_new(HEARTH_KIND_RECEIPT, T0, "", 0, &bad) ==
          HEARTH_OK);
    CHECK(hearth_event_sign(bad, c.sk) == HEARTH_OK);
    add(&b, bad);
    /* a receipt timestamped an hour ahead */
    add(&b, receipt_ev(&c, &n, HEARTH_DISPUTE_NONE, 0, time(NULL) + 3600));
    CHECK(ingest(s, &b, res) == HEARTH_OK);
    CHECK(res[0].status == HEARTH_REPSTORE_REJECTED && res[0].why);
    CHECK(res[1].status == HEARTH_REPSTORE_REJECTED && res[1].why);
    CHECK(res[2].status == HEARTH_REPSTORE_IGNORED);
    CHECKF(res[3].status == HEARTH_REPSTORE_REJECTED && res[3].why &&
           !strncmp(res[3].why, "invalid: ", 9), "%s", res[3].why);
    CHECK(res[4].status == HEARTH_REPSTORE_REJECTED);
    CHECK(hearth_repstore_get_info(s, &info) == HEARTH_OK &&
          info.records == 0);
    hearth_repstore_close(s);
    tap_rmtree(dir);
    free(dir);
}

static void test_bounds(void)
{
    char *dir = tap_tmpdir("repstore");
    hearth_repstore *s;
    hearth_repstore_opts o = {4, 10};
    hearth_repstore_info info;
    hearth_repstore_result res[16];
    hearth_meter_note n;
    size_t nf;
    key p, q, c;
    batch b = {0};
    keygen(&p);
    keygen(&q);
    keygen(&c);
    CHECK(hearth_repstore_open(dir, &o, &s) == HEARTH_OK);

    /* six notes of p: the two oldest go */
    for (int i = 0; i < 6; i++)
        add(&b, note_ev(&p, c.pk, (uint8_t)(10 + i), 1000, T0 + 10 * i, &n));
    CHECK(ingest(s, &b, res) == HEARTH_OK);
    CHECK(hearth_repstore_get_info(s, &info) == HEARTH_OK);
    CHECKF(info.records == 4 && info.evicted == 2, "%llu %llu",
           (unsigned long long)info.records,
           (unsigned long long)info.evicted);
    /* older than everything p keeps at the bound: goes at once */
    add(&b, note_ev(&p, c.pk, 99, 1000, T0 - 100, &n));
    CHECK(ingest(s, &b, res) == HEARTH_OK);
    CHECK(res[0].status == HEARTH_REPSTORE_TOO_OLD);
    /* ... and the receipt for the youngest job still has its note */
    add(&b, note_ev(&p, c.pk, 15, 1000, T0 + 50, &n));
    add(&b, receipt_ev(&c, &n, HEARTH_DISPUTE_NONE, 0, T0 + 51));
    CHECK(ingest(s, &b, res) == HEARTH_OK);
    CHECK(res[0].status == HEARTH_REPSTORE_DUPLICATE);
    CHECK(hearth_repstore_facts(s, 0, facts, MAXF, &nf) == HEARTH_OK);
    CHECK(nf == 1 && facts[0].backed);

    hearth_repstore_close(s);
    tap_rmtree(dir);

    /* total bound: eight providers' notes, the five newest stay */
    o.max_per_provider = 100;
    o.max_total = 5;
    CHECK(hearth_repstore_open(dir, &o, &s) == HEARTH_OK);
    for (int i = 0; i < 8; i++) {
        keygen(&q);
        add(&b, note_ev(&q, c.pk, (uint8_t)(30 + i), 1000, T0 + 100 + i, &n));
    }
    CHECK(ingest(s, &b, res) == HEARTH_OK);
    CHECK(hearth_repstore_get_info(s, &info) == HEARTH_OK);
    CHECKF(info.records == 5 && info.providers == 5 && info.evicted == 3,
           "%llu %llu", (unsigned long long)info.records,
           (unsigned long long)info.providers);
    /* the last provider's note is among them, its receipt backed */
    add(&b, receipt_ev(&c, &n, HEARTH_DISPUTE_NONE, 0, T0 + 200));
    CHECK(ingest(s, &b, res) == HEARTH_OK);
    CHECK(hearth_repstore_facts(s, 0, facts, MAXF, &nf) == HEARTH_OK);
    CHECK(nf == 1 && facts[0].backed);
    hearth_repstore_close(s);
    tap_rmtree(dir);
    free(dir);
}

/* ---- the ring ---- */

enum { NCUST = 8, NRING = 10 };

struct market {
    key local, p[3], cust[NCUST], ring[NRING];
};

/* local buys from p0 and p1; customers buy from all three providers */
static void honest(batch *b, struct market *m)
{
    uint8_t jobno = 1;
    job(b, &m->p[0], &m->local, jobno++, 200000, HEARTH_DISPUTE_NONE, T0);
    job(b, &m->p[1], &m->local, jobno++, 200000, HEARTH_DISPUTE_NONE, T0);
    for (int i = 0; i < NCUST; i++)
        for (int k = 0; k < 3; k++)
            job(b, &m->p[k], &m->cust[i], jobno++, 100000 + 1000 * i,
                i == 0 && k == 2 ? HEARTH_DISPUTE_TOO_SLOW
                                 : HEARTH_DISPUTE_NONE,
                T0 + 10);
}

/* ring[0] sells to the others; they all sell to each other, back every
 * receipt with a note, praise ring[0], and dispute p2 without notes */
static void ring(batch *b, struct market *m)
{
    uint8_t jobno = 200;
    for (int i = 1; i < NRING; i++) {
        job(b, &m->ring[0], &m->ring[i], jobno++, 5000000,
            HEARTH_DISPUTE_NONE, T0 + 20);
        job(b, &m->ring[i], &m->ring[(i % (NRING - 1)) + 1], jobno++,
            5000000, HEARTH_DISPUTE_NONE, T0 + 20);
        hearth_meter_note fake;
        memset(&fake, 0, sizeof fake);
        memset(fake.request_id, 0x55, 32);
        fake.request_id[0] = (uint8_t)i;
        memcpy(fake.provider, m->p[2].pk, 32);
        fake.rail = HEARTH_RAIL_CREDIT;
        memcpy(fake.customer, m->ring[i].pk, 32);
        add(b, receipt_ev(&m->ring[i], &fake, HEARTH_DISPUTE_WRONG_RESULT, 0,
                          T0 + 21));
    }
}

struct setup {
    char *dir;
    hearth_repstore *store;
    hearth_view *view;
    hearth_loop *loop;
    hearth_pool *pool;
    hearth_repsync *rs;
};

static void setup_open(struct setup *u, const uint8_t local[32],
                       hearth_ledger *ledger)
{
    char sub[4200];
    hearth_pool_opts po;
    u->dir = tap_tmpdir("repring");
    snprintf(sub, sizeof sub, "%s/reputation", u->dir);
    CHECK(hearth_repstore_open(sub, NULL, &u->store) == HEARTH_OK);
    snprintf(sub, sizeof sub, "%s/view", u->dir);
    CHECK(hearth_view_open(sub, NULL, &u->view) == HEARTH_OK);
    CHECK(hearth_loop_new(&u->loop) == HEARTH_OK);
    hearth_pool_opts_default(&po);
    CHECK(hearth_pool_new(u->loop, &po, &u->pool) == HEARTH_OK);
    CHECK(hearth_repsync_new(u->loop, u->pool, u->view, ledger, u->store,
                             local, NULL, &u->rs) == HEARTH_OK);
}

static void setup_close(struct setup *u)
{
    hearth_repsync_free(u->rs);
    hearth_pool_free(u->pool);
    hearth_loop_free(u->loop);
    hearth_view_close(u->view);
    hearth_repstore_close(u->store);
    tap_rmtree(u->dir);
    free(u->dir);
}

static float view_rep(hearth_view *v, const uint8_t pk[32])
{
    hearth_peer_obs o;
    if (hearth_view_get_obs(v, pk, &o))
        return -1;
    return o.reputation;
}

static void test_ring(void)
{
    static struct market m;
    struct setup u;
    batch *b = calloc(1, sizeof *b);
    keygen(&m.local);
    for (int i = 0; i < 3; i++)
        keygen(&m.p[i]);
    for (int i = 0; i < NCUST; i++)
        keygen(&m.cust[i]);
    for (int i = 0; i < NRING; i++)
        keygen(&m.ring[i]);
    setup_open(&u, m.local.pk, NULL);

    honest(b, &m);
    CHECK(ingest(u.store, b, NULL) == HEARTH_OK);
    CHECK(hearth_repsync_compute(u.rs) == HEARTH_OK);
    const hearth_rep_result *r = hearth_repsync_result(u.rs);
    const hearth_rep_score *s2 = hearth_rep_find(r, m.p[2].pk);
    float before = s2 ? s2->score : -1, before_conf = s2 ? s2->confidence : -1;
    CHECKF(before > 0.6f, "%f", before);
    float in_view = view_rep(u.view, m.p[2].pk);
    CHECKF(fabsf(in_view - before) < 1e-6f, "%f %f", in_view, before);
    CHECK(hearth_repsync_get_stats(u.rs)->last_written == 3);
    /* nothing changed: nothing written */
    CHECK(hearth_repsync_compute(u.rs) == HEARTH_OK);
    CHECK(hearth_repsync_get_stats(u.rs)->last_written == 0);

    ring(b, &m);
    CHECK(ingest(u.store, b, NULL) == HEARTH_OK);
    CHECK(hearth_repsync_compute(u.rs) == HEARTH_OK);
    r = hearth_repsync_result(u.rs);
    s2 = hearth_rep_find(r, m.p[2].pk);
    CHECKF(s2 && s2->score == before && s2->confidence == before_conf,
           "%f %f", s2 ? s2->score : -1, before);
    CHECKF(fabsf(view_rep(u.view, m.p[2].pk) - before) < 1e-6f, "%f",
           view_rep(u.view, m.p[2].pk));
    const hearth_rep_score *rp = hearth_rep_find(r, m.ring[0].pk);
    CHECKF(rp && rp->score == 0.5f && rp->confidence == 0.0f, "%f %f",
           rp ? rp->score : -1, rp ? rp->confidence : -1);
    CHECK(view_rep(u.view, m.ring[0].pk) == 0.5f);
    CHECK(s2 && s2->why.unbacked >= NRING - 1);
    setup_close(&u);
    free(b);
}

/* priors: counterparties of our ledger, weighted by what we traded */
static void test_priors(void)
{
    char *dir = tap_tmpdir("repprior");
    hearth_ledger *l;
    hearth_rep_prior pr[8];
    size_t n = 9;
    key us, a, bk;
    keygen(&us);
    keygen(&a);
    keygen(&bk);
    CHECK(hearth_ledger_open(dir, &l) == HEARTH_OK);
    CHECK(hearth_repsync_priors(l, us.pk, pr, 8, &n) == HEARTH_OK && n == 0);
    hearth_ledger_post_req p;
    memset(&p, 0, sizeof p);
    p.kind = HEARTH_POST_ACCEPTED;
    p.side = HEARTH_SIDE_BUY;
    p.rail = HEARTH_RAIL_CREDIT;
    p.time = T0;
    p.amount_msat = 1000000; /* 1000 sats bought from a */
    memset(p.event_id, 1, 32);
    memcpy(p.counterparty, a.pk, 32);
    CHECK(hearth_ledger_post(l, &p, NULL) == HEARTH_OK);
    p.amount_msat = 1000; /* 1 sat sold to b */
    p.side = HEARTH_SIDE_SELL;
    memset(p.event_id, 2, 32);
    memcpy(p.counterparty, bk.pk, 32);
    CHECK(hearth_ledger_post(l, &p, NULL) == HEARTH_OK);
    CHECK(hearth_repsync_priors(l, us.pk, pr, 8, &n) == HEARTH_OK);
    CHECKF(n == 1 || n == 2, "%zu", n);
    for (size_t i = 0; i < n; i++) {
        if (!memcmp(pr[i].pubkey, a.pk, 32))
            CHECKF(fabs(pr[i].weight - 0.25) < 0.01, "%f", pr[i].weight);
        else
            /* b still owes the sat: nothing counts yet */
            CHECK(!memcmp(pr[i].pubkey, bk.pk, 32) && pr[i].weight < 0.03);
    }
    hearth_ledger_close(l);
    tap_rmtree(dir);
    free(dir);
}

int main(void)
{
    T0 = (int64_t)time(NULL) - 100000;
    test_ingest();
    test_backed();
    test_forged();
    test_bounds();
    test_ring();
    test_priors();
    return tap_done();
}
