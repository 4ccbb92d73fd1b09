/* Settlement in the market simulator (sim_settle.h, docs/simulator.md
 * "Settlement"). The provider's side of each (provider, customer) pair is
 * a small book with the figures hearth_ledger_standing_get would give;
 * admission asks the real hearth_credit_decide, reputation the real
 * hearth_rep_compute, so the simulator measures the policies the peers
 * run, not copies of them. */
#include "sim_settle.h"

#include "hearth/credit.h"
#include "hearth/error.h"
#include "rng.h"

#include <stdlib.h>
#include <string.h>

#define EPOCH 1700000000        /* as in sim.c: unix time of t = 0 */
#define MIN_JOB_MSAT 1000       /* hearth_rep_params min_msat: a job
                                   counts at least this much */

/* The provider's book of one customer, and that customer's receipts for
 * the provider folded to totals: hearth_rep_compute looks only at each
 * pair's accepted and disputed msat, so folding changes no score. */
struct book {
    int64_t owed;           /* > 0: the customer owes; < 0: refund due */
    int64_t disputed;       /* the provider's claims held in dispute */
    int64_t owing_since;    /* unix s; 0 while owed <= 0 */
    uint64_t inflight;      /* admitted on credit, not billed yet */
    uint64_t paid;          /* received from the customer, all rails */
    uint64_t acc, disp;     /* receipts: accepted / disputed msat */
    uint8_t disputes;       /* the customer disputed this provider */
};

struct sident {
    uint8_t pubkey[32];
    uint8_t cheat;
    struct book *book;      /* per customer; NULL until first used */
};

struct sim_settle {
    hearth_sim_config cfg;
    hearth_sim_result *res;
    hearth_rng rng;
    struct sident *ids;
    size_t nids, cap;
    uint8_t (*ckey)[32];    /* customer pubkeys */
    uint8_t *ctype;
    hearth_rep_receipt *rec;
    size_t cap_rec;
};

static double unit(hearth_rng *r)
{
    return hearth_rng_unit(hearth_rng_next(r));
}

static void key_of(uint64_t x, uint8_t out[32])
{
    for (int i = 0; i < 4; i++) {
        uint64_t v = hearth_splitmix64(&x);
        memcpy(out + 8 * i, &v, 8);
    }
}

/* The first round(nonpaying * customers) customers do not pay, taking
 * turns as deadbeats and disputers: exact shares even in small runs. */
int ss_new(const hearth_sim_config *c, hearth_sim_result *r,
           sim_settle **out)
{
    sim_settle *ss = calloc(1, sizeof *ss);
    if (!ss)
        return HEARTH_ENOMEM;
    ss->cfg = *c;
    ss->res = r;
    hearth_rng_seed(&ss->rng, c->seed ^ 0x736574746c65ull);
    ss->ckey = calloc(c->customers, sizeof *ss->ckey);
    ss->ctype = calloc(c->customers, 1);
    if (!ss->ckey || !ss->ctype) {
        ss_free(ss);
        return HEARTH_ENOMEM;
    }
    size_t bad = (size_t)(c->nonpaying * (double)c->customers + 0.5);
    for (size_t k = 0; k < c->customers; k++) {
        key_of(c->seed ^ 0xc0570000ull ^ ((uint64_t)k << 20), ss->ckey[k]);
        ss->ctype[k] = k >= bad ? CUST_HONEST
                       : k % 2 ? CUST_DISPUTER : CUST_DEADBEAT;
    }
    *out = ss;
    return HEARTH_OK;
}

void ss_free(sim_settle *ss)
{
    if (!ss)
        return;
    for (size_t i = 0; i < ss->nids; i++)
        free(ss->ids[i].book);
    free(ss->ids);
    free(ss->ckey);
    free(ss->ctype);
    free(ss->rec);
    free(ss);
}

int ss_add_ident(sim_settle *ss, const uint8_t pubkey[32], uint64_t h)
{
    if (ss->nids == ss->cap) {
        size_t cap = ss->cap ? 2 * ss->cap : 1024;
        struct sident *p = realloc(ss->ids, cap * sizeof *p);
        if (!p)
            return HEARTH_ENOMEM;
        ss->ids = p;
        ss->cap = cap;
    }
    struct sident *id = &ss->ids[ss->nids++];
    memset(id, 0, sizeof *id);
    memcpy(id->pubkey, pubkey, 32);
    double u = hearth_rng_unit(hearth_splitmix64(&h));
    double d = ss->cfg.dishonest;
    id->cheat = u < d / 2 ? CHEAT_TAMPER : u < d ? CHEAT_OVERCHARGE
                                                 : CHEAT_NONE;
    return HEARTH_OK;
}

int ss_customer_type(const sim_settle *ss, uint32_t cust)
{
    return ss->ctype[cust];
}

int ss_dishonest(const sim_settle *ss, uint32_t ident)
{
    return ss->ids[ident].cheat != CHEAT_NONE;
}

static struct book *book_of(sim_settle *ss, uint32_t ident, uint32_t cust)
{
    struct sident *id = &ss->ids[ident];
    if (!id->book)
        id->book = calloc(ss->cfg.customers, sizeof *id->book);
    return id->book ? &id->book[cust] : NULL;
}

static void book_owe(struct book *b, int64_t delta, int64_t now)
{
    int64_t before = b->owed;
    b->owed += delta;
    if (b->owed <= 0)
        b->owing_since = 0;
    else if (before <= 0)
        b->owing_since = now;
}

/* the customer pays x msat to the provider (Lightning) */
static void pay(sim_settle *ss, uint32_t ident, struct book *b, uint64_t x)
{
    b->paid += x;
    ss->res->settle.customer_paid_msat += (double)x;
    if (ss->ids[ident].cheat == CHEAT_NONE)
        ss->res->settle.honest_paid_msat += (double)x;
}

static void settle_balance(sim_settle *ss, uint32_t ident, struct book *b,
                           int64_t now)
{
    if (b->owed <= 0)
        return;
    pay(ss, ident, b, (uint64_t)b->owed);
    book_owe(b, -b->owed, now);
    ss->res->settle.payments++;
}

static void pick_cheat(sim_settle *ss, uint32_t ident, struct ss_job *j)
{
    uint8_t cheat = ss->ids[ident].cheat;
    if (cheat == CHEAT_NONE || unit(&ss->rng) >= ss->cfg.cheat_rate)
        return;
    j->cheat = cheat;
    if (cheat == CHEAT_OVERCHARGE) /* 1.5-3x: the note claims more work */
        j->bill = (uint64_t)((double)j->quote * (1.5 + 1.5 * unit(&ss->rng)));
}

/* Payment asked (PREPAY or OVERDUE): an honest customer pays the invoice
 * if it is within its own maximum price (settlement.md "Payment", step 1)
 * and settles its balance with that provider while at it; a non-paying
 * one never pays an invoice, and is cut off. */
static void prepay(sim_settle *ss, uint32_t ident, uint32_t cust,
                   struct book *b, uint64_t max_price, int64_t now,
                   struct ss_job *j)
{
    if (ss->ctype[cust] != CUST_HONEST || j->bill > max_price) {
        j->rail = RAIL_REFUSED;
        ss->res->settle.refused++;
        return;
    }
    settle_balance(ss, ident, b, now);
    pay(ss, ident, b, j->bill);
    j->rail = RAIL_PREPAID;
    ss->res->settle.prepaid_jobs++;
}

int ss_admit(sim_settle *ss, uint32_t ident, uint32_t cust, uint64_t quote,
             uint64_t max_price, double now, struct ss_job *j)
{
    memset(j, 0, sizeof *j);
    j->quote = j->bill = quote;
    pick_cheat(ss, ident, j);
    struct book *b = book_of(ss, ident, cust);
    if (!b)
        return HEARTH_ENOMEM;
    /* the real policy: strangers get a little, a customer that has paid
     * gets what it paid on top (up to the cap), one that disputed our
     * bills no stranger's credit; so a key that never pays takes at most
     * the stranger's share from each provider */
    hearth_credit_trust t;
    memcpy(t.pubkey, ss->ckey[cust], 32);
    t.limit_msat = UINT64_MAX;
    hearth_credit_policy pol;
    hearth_credit_policy_default(&pol);
    pol.stranger_msat = ss->cfg.stranger_credit_msat;
    pol.limit_msat = ss->cfg.credit_cap_msat;
    if (ss->cfg.no_credit_limit) {
        pol.trust = &t;
        pol.ntrust = 1;
    }
    hearth_ledger_standing st = {b->owed, b->disputes ? b->disputed : 0,
                                 b->owing_since,
                                 b->paid > INT64_MAX ? INT64_MAX
                                                     : (int64_t)b->paid};
    hearth_credit_decision d;
    int64_t unix_now = EPOCH + (int64_t)now;
    /* the provider decides on its own estimate: an overcharger's too */
    int rc = hearth_credit_decide(&pol, ss->ckey[cust], &st, b->inflight,
                                  j->bill, unix_now, &d);
    if (rc)
        return rc;
    if (d.verdict == HEARTH_CREDIT_SERVE) {
        j->rail = RAIL_CREDIT;
        b->inflight += quote;
        ss->res->settle.credit_jobs++;
        return HEARTH_OK;
    }
    prepay(ss, ident, cust, b, max_price, unix_now, j);
    return HEARTH_OK;
}

void ss_fail(sim_settle *ss, uint32_t ident, uint32_t cust,
             const struct ss_job *j, double now)
{
    struct book *b = &ss->ids[ident].book[cust];
    if (j->rail == RAIL_CREDIT)
        b->inflight -= j->quote;
    else if (j->rail == RAIL_PREPAID) /* release used 0: a refund due,
                                         used by the next credit jobs */
        book_owe(b, -(int64_t)j->bill, EPOCH + (int64_t)now);
}

/* the provider's bill: owed, or held in dispute */
static void book_bill(struct book *b, const struct ss_job *j, int dispute,
                      int64_t now)
{
    if (j->rail != RAIL_CREDIT)
        return;
    b->inflight -= j->quote;
    if (dispute)
        b->disputed += (int64_t)j->bill;
    else
        book_owe(b, (int64_t)j->bill, now);
}

static void book_receipt(struct book *b, const struct ss_job *j, int dispute)
{
    uint64_t x = j->bill < MIN_JOB_MSAT ? MIN_JOB_MSAT : j->bill;
    if (dispute) {
        b->disp += x;
        b->disputes = 1;
    } else {
        b->acc += x;
    }
}

/* what honest customers lose: a tampered result they paid for (prepaid,
 * or accepted undetected), an overcharge they prepaid */
static double lost_msat(const struct ss_job *j, int caught)
{
    if (j->cheat == CHEAT_TAMPER && (j->rail == RAIL_PREPAID || !caught))
        return (double)j->bill;
    if (j->cheat == CHEAT_OVERCHARGE && j->rail == RAIL_PREPAID)
        return (double)(j->bill - j->quote);
    return 0;
}

static void count(sim_settle *ss, uint32_t ident, uint32_t cust,
                  const struct ss_job *j, int dispute, int caught,
                  size_t ph)
{
    hearth_sim_settle *t = &ss->res->settle;
    hearth_sim_phase *p = &ss->res->phase[ph];
    t->tampered += j->cheat == CHEAT_TAMPER;
    t->tampered_detected += j->cheat == CHEAT_TAMPER && caught;
    t->overcharged += j->cheat == CHEAT_OVERCHARGE;
    t->disputes += dispute != 0;
    if (ss->ids[ident].cheat == CHEAT_NONE) {
        t->honest_disputed += dispute != 0;
        t->honest_billed_msat += (double)j->bill;
        p->honest_billed_msat += (double)j->bill;
        /* non-paying customers never settle a credit bill */
        if (j->rail == RAIL_CREDIT && ss->ctype[cust] != CUST_HONEST)
            p->honest_unpaid_msat += (double)j->bill;
    }
    if (ss->ctype[cust] == CUST_HONEST) {
        double lost = lost_msat(j, caught);
        t->customer_lost_msat += lost;
        p->customer_lost_msat += lost;
    }
}

int ss_deliver(sim_settle *ss, uint32_t ident, uint32_t cust,
               const struct ss_job *j, double now, size_t ph)
{
    struct book *b = &ss->ids[ident].book[cust];
    int caught = j->cheat == CHEAT_TAMPER &&
                 unit(&ss->rng) < ss->cfg.verify_p;
    /* an overcharge shows in the note against the offer's price */
    int over = j->cheat == CHEAT_OVERCHARGE;
    int dispute = caught || over || ss->ctype[cust] == CUST_DISPUTER;
    book_bill(b, j, dispute, EPOCH + (int64_t)now);
    book_receipt(b, j, dispute);
    count(ss, ident, cust, j, dispute, caught, ph);
    return caught ? SS_TAMPER_CAUGHT : over ? SS_OVERCHARGE_CAUGHT
                                            : SS_ACCEPTED;
}

void ss_pay(sim_settle *ss, uint32_t cust, double now)
{
    if (ss->ctype[cust] != CUST_HONEST)
        return;
    for (uint32_t i = 0; i < ss->nids; i++)
        if (ss->ids[i].book)
            settle_balance(ss, i, &ss->ids[i].book[cust],
                           EPOCH + (int64_t)now);
}

static void receipt(hearth_rep_receipt *r, const uint8_t cust[32],
                    const struct sident *id, uint32_t ident, uint32_t c,
                    uint64_t msat, int disputed)
{
    memset(r, 0, sizeof *r);
    memcpy(r->customer, cust, 32);
    memcpy(r->provider, id->pubkey, 32);
    /* one folded "job" per pair and verdict */
    memcpy(r->job_id, &ident, 4);
    memcpy(r->job_id + 4, &c, 4);
    r->job_id[8] = (uint8_t)disputed;
    r->amount_msat = msat;
    r->disputed = (uint8_t)disputed;
    r->reason = disputed ? HEARTH_REP_WRONG_RESULT : HEARTH_REP_ACCEPTED;
    r->backed = 1; /* every delivered job has the provider's note */
}

/* every receipt so far, as gossip would have brought them */
static int gather(sim_settle *ss, size_t *n)
{
    size_t need = 2 * ss->nids * ss->cfg.customers, k = 0;
    if (need > ss->cap_rec) {
        hearth_rep_receipt *p = realloc(ss->rec, need * sizeof *p);
        if (!p)
            return HEARTH_ENOMEM;
        ss->rec = p;
        ss->cap_rec = need;
    }
    for (uint32_t i = 0; i < ss->nids; i++) {
        const struct sident *id = &ss->ids[i];
        for (uint32_t c = 0; id->book && c < ss->cfg.customers; c++) {
            const struct book *b = &id->book[c];
            if (b->acc)
                receipt(&ss->rec[k++], ss->ckey[c], id, i, c, b->acc, 0);
            if (b->disp)
                receipt(&ss->rec[k++], ss->ckey[c], id, i, c, b->disp, 1);
        }
    }
    *n = k;
    return HEARTH_OK;
}

int ss_reputation(sim_settle *ss, uint32_t cust, hearth_rep_result *out)
{
    size_t n = 0;
    int rc = gather(ss, &n);
    if (rc)
        return rc;
    ss->res->settle.receipts = n;
    ss->res->settle.rep_runs++;
    return hearth_rep_compute(ss->ckey[cust], ss->rec, n, NULL, 0, NULL,
                              out);
}

/* the first tenth from which paying customers' share of attempts sent to
 * dishonest providers stays below 5% */
static void warmup(hearth_sim_result *r)
{
    hearth_sim_settle *t = &r->settle;
    uint64_t to = 0, all = 0;
    t->warmup_phase = 0;
    for (int i = 0; i < HEARTH_SIM_PHASES; i++) {
        const hearth_sim_phase *p = &r->phase[i];
        to += p->to_dishonest;
        all += p->honest_attempts;
        if (p->honest_attempts &&
            (double)p->to_dishonest >= 0.05 * (double)p->honest_attempts)
            t->warmup_phase = i + 1;
    }
    if (t->warmup_phase >= HEARTH_SIM_PHASES)
        t->warmup_phase = -1;
    t->warmup_s = t->warmup_phase > 0 ? r->phase[t->warmup_phase].t_start
                                      : 0;
    t->dishonest_share = all ? (double)to / (double)all : 0;
}

/* Honest customers settle what they still owe (they would at their next
 * interval); what honest providers are still owed after that, or hold in
 * dispute, is work never paid. */
void ss_finish(sim_settle *ss, double now)
{
    for (uint32_t c = 0; c < ss->cfg.customers; c++)
        ss_pay(ss, c, now);
    double unpaid = 0;
    for (size_t i = 0; i < ss->nids; i++) {
        const struct sident *id = &ss->ids[i];
        if (id->cheat != CHEAT_NONE || !id->book)
            continue;
        for (size_t c = 0; c < ss->cfg.customers; c++) {
            const struct book *b = &id->book[c];
            unpaid += (double)(b->owed > 0 ? b->owed : 0) +
                      (double)(b->disputed > 0 ? b->disputed : 0);
        }
    }
    ss->res->settle.honest_unpaid_msat = unpaid;
    warmup(ss->res);
}
