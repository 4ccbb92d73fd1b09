/* Market simulator (include/hearth/sim.h, docs/simulator.md).
 *
 * A discrete-event simulation: one binary heap of timestamped events
 * (job arrivals, requests reaching providers, jobs finishing, results
 * reaching customers, deadlines, providers leaving and joining, customers
 * re-reading offers). Customers choose with the real hearth_select over
 * their own view of the market, learn only from their own jobs (plus a
 * slowly gossiped reputation), and see capacity as of their last refresh,
 * as a real peer does. All randomness comes from the configured seed. */
#include "hearth/sim.h"

#include "hearth/credit.h"
#include "hearth/error.h"
#include "hearth/hw.h"
#include "hearth/offer.h"
#include "hearth/view.h"
#include "rng.h"
#include "sim_settle.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define EPOCH 1700000000        /* unix time of simulated t = 0 */
#define OFFER_TTL_S 120.0       /* offers expire 2x the 60 s refresh after
                                   their last publication */
#define REP_STEP 0.02           /* reputation drift per outcome */
#define MAX_TOPN 64
#define MAX_BOUNCES 8           /* "busy" answers a job takes before it
                                   gives up */
#define NIL UINT32_MAX

const char *const hearth_sim_models[3] = {
    "llama-3.1-8b-q4", "qwen2.5-14b-q4", "qwen2.5-32b-q4"};
static const uint32_t model_vram_mb[3] = {5800, 10000, 20000};
/* generation speed relative to the 8B model offers are benchmarked on */
static const double model_speed[3] = {1.0, 0.55, 0.25};
static const double model_mix[3] = {0.70, 0.25, 0.05};

/* A hobbyist GPU mix (roughly the shape of public hardware surveys).
 * mhash_s: single SHA-256 per try (NIP-13 with a midstate); tokens_s: an
 * 8B model at 4-bit, generation. */
static const struct gpu_model {
    const char *name;
    uint32_t vram_mb;
    uint8_t cc_major, cc_minor;
    double weight, mhash_s, tokens_s;
} gpus[] = {
    {"RTX 4090", 24564, 8, 9, 3, 22000, 140},
    {"RTX 3090", 24576, 8, 6, 3, 10000, 120},
    {"RTX 4080", 16376, 8, 9, 3, 15000, 110},
    {"RTX 4070 Ti", 12282, 8, 9, 5, 11000, 85},
    {"RTX 3080", 10240, 8, 6, 6, 8500, 100},
    {"RTX 4060 Ti", 8188, 8, 9, 8, 6000, 55},
    {"RTX 3060", 12288, 8, 6, 14, 4500, 50},
    {"RTX 2070", 8192, 7, 5, 6, 3800, 45},
    {"GTX 1660 SUPER", 6144, 7, 5, 10, 3000, 28},
    {"GTX 1070", 8192, 6, 1, 6, 2500, 30},
    {"GTX 1060 6GB", 6144, 6, 1, 8, 1800, 20},
    {"GTX 1050 Ti", 4096, 6, 1, 5, 900, 0},
    {"GTX 970", 4096, 5, 2, 3, 1300, 0},
    {"CPU only", 0, 0, 0, 10, 200, 8},
};
#define NGPUS (sizeof gpus / sizeof gpus[0])

/* price premium by (advertised) tier: faster hardware asks more per unit
 * of work, but not in proportion to its speed */
static const double tier_premium[5] = {0.8, 1.3, 1.1, 0.95, 0.85};

enum { CLS_HONEST, CLS_LIAR, CLS_FAILER };

/* ---- random variates ---- */

static double unit(hearth_rng *r)
{
    return hearth_rng_unit(hearth_rng_next(r));
}

static double expo(hearth_rng *r, double mean)
{
    return -mean * log1p(-unit(r));
}

static double normal(hearth_rng *r)
{
    /* Box-Muller, one of the pair: simple and deterministic */
    double u = unit(r), v = unit(r);
    return sqrt(-2.0 * log1p(-u)) * cos(6.283185307179586 * v);
}

static double lognormal(hearth_rng *r, double median, double sigma)
{
    return median * exp(sigma * normal(r));
}

static double clampd(double x, double lo, double hi)
{
    return x < lo ? lo : x > hi ? hi : x;
}

/* ---- providers ---- */

struct ident {
    double earned, busy_s, online_slot_s;
    uint8_t cls;
};

struct prov {
    uint32_t gen, session, ident;
    uint8_t online, cls, gpu, gpu_count, tier, adv_tier, rails, models;
    uint32_t slots, busy, last_free;
    double mhash, tokens;            /* delivered, per slot */
    uint64_t adv_mhash;
    uint32_t adv_tokens;
    double fail_p, rtt_ms;
    float rep;                       /* gossiped reputation, 0..1 */
    hearth_price pow_price, text_price;
    uint8_t pubkey[32];
    double offline_since, online_since;
    double tstart_sum;               /* of running attempts: busy time */
    uint32_t qhead, qtail, qlen;     /* waiting attempts */
};

static void new_identity(hearth_rng *r, uint64_t seed, uint32_t slot,
                         double liars, double failers, struct prov *p)
{
    double w = 0, pick;
    for (size_t g = 0; g < NGPUS; g++)
        w += gpus[g].weight;
    pick = unit(r) * w;
    size_t g = 0;
    while (g + 1 < NGPUS && pick >= gpus[g].weight)
        pick -= gpus[g++].weight;
    const struct gpu_model *m = &gpus[g];
    p->gen++;
    p->gpu = (uint8_t)g;
    double u = unit(r);
    p->gpu_count = m->vram_mb == 0 ? 1 : u < 0.88 ? 1 : u < 0.98 ? 2 : 4;
    p->tier = hearth_gpu_tier(m->vram_mb, m->cc_major, m->cc_minor);
    u = unit(r);
    p->cls = u < liars ? CLS_LIAR : u < liars + failers ? CLS_FAILER
                                                        : CLS_HONEST;
    p->mhash = m->mhash_s * lognormal(r, 1.0, 0.1);
    p->tokens = m->tokens_s * lognormal(r, 1.0, 0.1);
    double boast = 1.0;
    p->adv_tier = p->tier;
    if (p->cls == CLS_LIAR) {
        boast = 2.5 + 1.5 * unit(r);
        p->adv_tier = p->tier == 0 ? 3 : p->tier > 1 ? p->tier - 1 : 1;
    }
    p->adv_mhash = (uint64_t)(p->mhash * boast);
    p->adv_tokens = (uint32_t)(p->tokens * boast);
    p->fail_p = p->cls == CLS_FAILER ? 0.3 + 0.4 * unit(r)
                : p->cls == CLS_LIAR ? 0.01 : 0.005;
    p->slots = p->gpu_count * (p->tier == 1 ? 2u : 1u);
    p->rtt_ms = clampd(lognormal(r, 120, 0.5), 20, 2000);
    u = unit(r);
    p->rails = u < 0.80 ? (HEARTH_RAIL_CREDIT | HEARTH_RAIL_LIGHTNING)
               : u < 0.92 ? HEARTH_RAIL_LIGHTNING : HEARTH_RAIL_CREDIT;
    p->models = 0;
    if (m->tokens_s > 0)
        for (int k = 0; k < 3; k++)
            if (m->vram_mb == 0 ? k == 0 : model_vram_mb[k] <= m->vram_mb)
                p->models |= (uint8_t)(1u << k);
    double prem = tier_premium[p->adv_tier];
    double tok = 500000.0 * prem * lognormal(r, 1.0, 0.35);
    p->text_price = (hearth_price){
        .per_job = (uint64_t)(200 * lognormal(r, 1.0, 0.5)),
        .per_mtok_in = (uint64_t)(tok / 4 * lognormal(r, 1.0, 0.2)),
        .per_mtok_out = (uint64_t)tok,
    };
    /* 1 msat per mega-hash is the smallest price the offer can state,
     * and already generous for a GPU: most ask that */
    p->pow_price = (hearth_price){
        .per_job = (uint64_t)(1000 * prem * lognormal(r, 1.0, 0.5)),
        .per_mhash = unit(r) < 0.7 ? 1 : 2,
    };
    p->rep = 0.5f;
    uint64_t x = seed ^ ((uint64_t)slot << 32) ^ p->gen;
    for (int i = 0; i < 4; i++) {
        uint64_t v = hearth_splitmix64(&x);
        memcpy(p->pubkey + 8 * i, &v, 8);
    }
}

/* The offer(s) a provider publishes: PoW always, text generation when it
 * can run a model. Returns how many were written (0..2). */
static int offers_of(const struct prov *p, int64_t expires,
                     uint32_t free_slots, hearth_peer out[2])
{
    int n = 0;
    for (int k = 0; k < 2; k++) {
        if (k == 1 && !p->models)
            break;
        hearth_peer *e = &out[n++];
        memset(e, 0, sizeof *e);
        memcpy(e->pubkey, p->pubkey, 32);
        e->job_kind = k ? HEARTH_SIM_KIND_TEXT : HEARTH_SIM_KIND_POW;
        e->backend = k ? HEARTH_BACKEND_OPENAI : HEARTH_BACKEND_POW;
        e->tier = p->adv_tier;
        e->rails = p->rails;
        e->vram_mb = gpus[p->gpu].vram_mb;
        if (k) {
            for (int m = 0; m < 3; m++)
                if (p->models & (1u << m))
                    e->model_hash[e->nmodels++] =
                        hearth_model_hash(hearth_sim_models[m]);
            e->price = p->text_price;
            e->bench_tokens_s = p->adv_tokens;
        } else {
            e->price = p->pow_price;
            e->bench_mhash_s = p->adv_mhash;
        }
        e->capacity_total = p->slots;
        e->capacity_free = free_slots;
        e->expires_at = expires;
    }
    return n;
}

void hearth_sim_market(uint64_t seed, size_t n, int64_t now,
                       hearth_peer *peers, hearth_peer_obs *obs)
{
    hearth_rng r;
    hearth_rng_seed(&r, seed);
    struct prov p;
    memset(&p, 0, sizeof p);
    size_t i = 0;
    for (uint32_t slot = 0; i < n; slot++) {
        p.gen = 0;
        new_identity(&r, seed, slot, 0.05, 0.05, &p);
        uint32_t free_slots = (uint32_t)hearth_rng_below(
            hearth_rng_next(&r), p.slots + 1u);
        int64_t exp = unit(&r) < 0.02 ? now - 10
                                      : now + 1 + (int64_t)(unit(&r) * 120);
        hearth_peer two[2];
        int k = offers_of(&p, exp, free_slots, two);
        hearth_peer_obs o;
        memset(&o, 0, sizeof o);
        o.reputation = 0.5f;
        if (unit(&r) < 0.6) { /* providers this peer has used */
            o.rtt_ms = (uint32_t)p.rtt_ms;
            o.jobs_ok = (uint32_t)(unit(&r) * 200);
            o.jobs_failed = (uint32_t)(o.jobs_ok * p.fail_p +
                                       unit(&r) * 3);
            o.reputation = (float)(0.2 + 0.8 * unit(&r));
            if (unit(&r) < 0.05) {
                o.consecutive_failures = 1 + (uint32_t)(unit(&r) * 4);
                o.last_failure = now - 30;
                o.cooldown_until = unit(&r) < 0.6 ? now + 60 : now - 1;
            }
        }
        for (int j = 0; j < k && i < n; j++, i++) {
            peers[i] = two[j];
            if (obs)
                obs[i] = o;
        }
    }
}

/* ---- the event queue ---- */

enum {
    EV_ARRIVE, EV_RECV, EV_DONE, EV_RESULT, EV_DEADLINE, EV_LEAVE, EV_JOIN,
    EV_REFRESH, EV_PAY
};

struct ev {
    double t;
    uint64_t seq;      /* insertion order: equal times stay deterministic */
    uint32_t type, id;
};

struct evq {
    struct ev *h;
    size_t n, cap;
    uint64_t seq;
};

static int ev_before(const struct ev *a, const struct ev *b)
{
    return a->t < b->t || (a->t == b->t && a->seq < b->seq);
}

static int ev_push(struct evq *q, double t, uint32_t type, uint32_t id)
{
    if (q->n == q->cap) {
        size_t cap = q->cap ? 2 * q->cap : 1024;
        struct ev *h = realloc(q->h, cap * sizeof *h);
        if (!h)
            return HEARTH_ENOMEM;
        q->h = h;
        q->cap = cap;
    }
    struct ev e = {t, q->seq++, type, id};
    size_t i = q->n++;
    while (i > 0 && ev_before(&e, &q->h[(i - 1) / 2])) {
        q->h[i] = q->h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    q->h[i] = e;
    return HEARTH_OK;
}

static struct ev ev_pop(struct evq *q)
{
    struct ev top = q->h[0], x = q->h[--q->n];
    size_t i = 0;
    for (;;) {
        size_t k = 2 * i + 1;
        if (k >= q->n)
            break;
        if (k + 1 < q->n && ev_before(&q->h[k + 1], &q->h[k]))
            k++;
        if (!ev_before(&q->h[k], &x))
            break;
        q->h[i] = q->h[k];
        i = k;
    }
    if (q->n)
        q->h[i] = x;
    return top;
}

/* ---- jobs, attempts, customers ---- */

struct job {
    double arrival;
    uint32_t index, customer, next_free;
    uint8_t kind_pow, model, attempts, bounces;
    hearth_usage usage;
    uint64_t max_price;
};

enum { A_SENT, A_QUEUED, A_RUNNING, A_FINISHED, A_CLOSED };

struct attempt {
    uint32_t job, prov, session, gen, ident, next, refs;
    uint8_t state, will_fail, ok, busy, lost;
    double sent, start, run_s, deadline;
    double expect_run_s;     /* from the offer's benchmark figures */
    uint64_t price;
    struct ss_job sj;        /* settle runs: rail, cheat, bill */
};

/* A customer's offers of one job kind, as hearth_view_snapshot hands
 * them over, with the index a peer selecting often keeps */
struct view {
    hearth_peer *peers;
    hearth_peer_obs *obs;
    uint32_t *owner;            /* view index -> provider slot */
    int32_t *pos;               /* provider slot -> view index, -1 */
    size_t n;
    hearth_select_index ix;     /* of peers and obs, kept in step */
};

enum { VIEW_POW, VIEW_TEXT, NVIEWS };   /* the order offers_of() uses */

struct cust {
    struct view v[NVIEWS];
    hearth_peer_obs *master;    /* per provider slot */
    uint32_t *master_gen;
    uint8_t *ban;               /* per slot: BAN_OWN, BAN_REP (settle) */
    double next_rep;            /* settle: next reputation run */
    uint8_t rails;
    uint64_t rr;
};

/* a customer does not choose a banned provider: caught cheating it
 * (never again) or scoring below --rep-min (until its score recovers) */
enum { BAN_OWN = 1, BAN_REP = 2 };
#define BANNED_UNTIL ((int64_t)1 << 62)

struct sim {
    hearth_sim_config cfg;
    hearth_sim_result *res;
    hearth_rng world, work, exec;
    struct evq q;
    double now, lambda, session_mean, offline_mean, hear;
    struct prov *prov;
    size_t nprov;
    struct ident *ids;
    size_t nids, cap_ids;
    struct cust *cust;
    struct job *jobs;
    size_t njobs_pool, cap_jobs;
    uint32_t free_job;
    struct attempt *att;
    size_t natt, cap_att;
    uint32_t free_att;
    uint64_t arrived, active;
    size_t online, online_liars, online_failers;
    double pop_liars_sum, pop_failers_sum;
    double *lat, *cost;
    uint8_t *lat_phase;
    size_t ndone;
    sim_settle *ss;             /* settle runs only */
};

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return HEARTH_OK;
    size_t c = *cap ? *cap : 256;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, c * size);
    if (!q)
        return HEARTH_ENOMEM;
    *p = q;
    *cap = c;
    return HEARTH_OK;
}

static int add_ident(struct sim *s, struct prov *p)
{
    if (grow((void **)&s->ids, &s->cap_ids, s->nids + 1, sizeof *s->ids))
        return HEARTH_ENOMEM;
    memset(&s->ids[s->nids], 0, sizeof *s->ids);
    s->ids[s->nids].cls = p->cls;
    p->ident = (uint32_t)s->nids++;
    if (p->cls == CLS_LIAR)
        s->res->liar_ids++;
    if (p->cls == CLS_FAILER)
        s->res->failer_ids++;
    if (!s->ss)
        return HEARTH_OK;
    /* settlement is about who pays and who cheats, not about rails:
     * every peer has a wallet and takes credit */
    p->rails = HEARTH_RAIL_CREDIT | HEARTH_RAIL_LIGHTNING;
    uint64_t h;
    memcpy(&h, p->pubkey, 8);
    return ss_add_ident(s->ss, p->pubkey, h ^ 0xd1500000ull);
}

static uint32_t job_new(struct sim *s)
{
    if (s->free_job != NIL) {
        uint32_t j = s->free_job;
        s->free_job = s->jobs[j].next_free;
        return j;
    }
    if (grow((void **)&s->jobs, &s->cap_jobs, s->njobs_pool + 1,
             sizeof *s->jobs))
        return NIL;
    return (uint32_t)s->njobs_pool++;
}

static void job_free(struct sim *s, uint32_t j)
{
    s->jobs[j].next_free = s->free_job;
    s->free_job = j;
    s->active--;
}

static uint32_t att_new(struct sim *s)
{
    if (s->free_att != NIL) {
        uint32_t a = s->free_att;
        s->free_att = s->att[a].next;
        return a;
    }
    if (grow((void **)&s->att, &s->cap_att, s->natt + 1, sizeof *s->att))
        return NIL;
    return (uint32_t)s->natt++;
}

/* an attempt is recycled once closed and no event or queue refers to it */
static void att_unref(struct sim *s, uint32_t a)
{
    struct attempt *x = &s->att[a];
    if (--x->refs == 0 && x->state == A_CLOSED) {
        x->next = s->free_att;
        s->free_att = a;
    }
}

static int att_event(struct sim *s, double t, uint32_t type, uint32_t a)
{
    s->att[a].refs++;
    return ev_push(&s->q, t, type, a);
}

static size_t phase_of(const struct sim *s, uint32_t index)
{
    return (size_t)((uint64_t)index * HEARTH_SIM_PHASES / s->cfg.jobs);
}

/* Does customer c hear of this identity? A fixed share of the market,
 * decided by a hash so it survives refreshes. */
static int hears(const struct sim *s, size_t c, uint32_t slot, uint32_t gen)
{
    if (s->hear >= 1.0)
        return 1;
    uint64_t x = s->cfg.seed ^ ((uint64_t)c << 40) ^ ((uint64_t)slot << 8) ^
                 gen;
    return hearth_rng_unit(hearth_splitmix64(&x)) < s->hear;
}

/* The customer's observations of a provider as its selection sees them:
 * a banned provider cools down for good. */
static hearth_peer_obs obs_of(const struct cust *cu, uint32_t slot)
{
    hearth_peer_obs o = cu->master[slot];
    if (cu->ban && cu->ban[slot])
        o.cooldown_until = BANNED_UNTIL;
    return o;
}

/* Re-read the offers this customer hears of: the providers online, and
 * the offers of those gone that have not expired yet. Capacity is as of
 * now; between refreshes only the customer's own jobs move it. */
static int refresh_view(struct sim *s, size_t c)
{
    struct cust *cu = &s->cust[c];
    int64_t now = EPOCH + (int64_t)s->now;
    for (int k = 0; k < NVIEWS; k++)
        cu->v[k].n = 0;
    for (size_t i = 0; i < s->nprov; i++) {
        struct prov *p = &s->prov[i];
        for (int k = 0; k < NVIEWS; k++)
            cu->v[k].pos[i] = -1;
        if (!hears(s, c, (uint32_t)i, p->gen))
            continue;
        if (!p->online && s->now - p->offline_since >= OFFER_TTL_S)
            continue;
        hearth_peer two[2];
        int64_t exp = p->online ? now + (int64_t)OFFER_TTL_S
                                : EPOCH + (int64_t)(p->offline_since +
                                                    OFFER_TTL_S);
        uint32_t busy = p->busy < p->slots ? p->busy : p->slots;
        int k = offers_of(p, exp, p->online ? p->slots - busy : p->last_free,
                          two);
        if (cu->master_gen[i] != p->gen) {
            memset(&cu->master[i], 0, sizeof cu->master[i]);
            cu->master[i].reputation = 0.5f;
            cu->master_gen[i] = p->gen;
            if (cu->ban)
                cu->ban[i] = 0;
        }
        if (!s->ss) /* settle runs: reputation from receipts instead */
            cu->master[i].reputation = p->rep;
        for (int j = 0; j < k; j++) {
            struct view *v = &cu->v[j];
            v->pos[i] = (int32_t)v->n;
            v->peers[v->n] = two[j];
            v->obs[v->n] = obs_of(cu, (uint32_t)i);
            v->owner[v->n++] = (uint32_t)i;
        }
    }
    /* a real peer would keep its index and update it; rebuilding costs
     * about what copying the offers did */
    for (int k = 0; k < NVIEWS; k++) {
        struct view *v = &cu->v[k];
        hearth_select_index_free(&v->ix);
        int rc = hearth_select_index_build(v->peers, v->obs, v->n, now,
                                           &v->ix);
        if (rc)
            return rc;
    }
    return HEARTH_OK;
}

/* The customer rates providers from every receipt gossiped so far, as
 * hearth_rep_compute does for a real peer, and stops choosing those
 * that score below --rep-min. */
static int apply_reputation(struct sim *s, uint32_t c)
{
    struct cust *cu = &s->cust[c];
    hearth_rep_result rr;
    int rc = ss_reputation(s->ss, c, &rr);
    if (rc)
        return rc;
    for (size_t i = 0; i < s->nprov; i++) {
        const struct prov *p = &s->prov[i];
        if (cu->master_gen[i] != p->gen)
            continue;
        const hearth_rep_score *sc = hearth_rep_find(&rr, p->pubkey);
        cu->master[i].reputation = sc ? sc->score : 0.5f;
        cu->ban[i] &= (uint8_t)~BAN_REP;
        if (!sc || sc->score >= s->cfg.rep_min)
            continue;
        cu->ban[i] |= BAN_REP;
        s->res->settle.rep_excluded++;
        if (!ss_dishonest(s->ss, p->ident))
            s->res->settle.rep_excluded_honest++;
    }
    hearth_rep_result_free(&rr);
    return HEARTH_OK;
}

static int on_refresh(struct sim *s, uint32_t c)
{
    struct cust *cu = &s->cust[c];
    if (s->ss && !s->cfg.no_reputation && s->now >= cu->next_rep) {
        int rc = apply_reputation(s, c);
        if (rc)
            return rc;
        cu->next_rep = s->now + s->cfg.rep_interval_s;
    }
    int rc = refresh_view(s, c);
    return rc ? rc : ev_push(&s->q, s->now + s->cfg.refresh_s, EV_REFRESH, c);
}

static int on_pay(struct sim *s, uint32_t c)
{
    ss_pay(s->ss, c, s->now);
    return ev_push(&s->q, s->now + s->cfg.pay_interval_s, EV_PAY, c);
}

/* the customer's own bookkeeping of a provider's slots between refreshes:
 * one taken (-1), one given back (+1), or all taken ("busy", 0) */
static void view_slots(struct cust *cu, uint32_t slot, int delta)
{
    for (int k = 0; k < NVIEWS; k++) {
        struct view *v = &cu->v[k];
        if (v->pos[slot] < 0)
            continue;
        hearth_peer *e = &v->peers[v->pos[slot]];
        if (delta < 0 && e->capacity_free > 0)
            e->capacity_free--;
        else if (delta > 0 && e->capacity_free < e->capacity_total)
            e->capacity_free++;
        else if (delta == 0)
            e->capacity_free = 0;
        hearth_select_index_update(&v->ix, v->peers, v->obs,
                                   (size_t)v->pos[slot]);
    }
}

/* new observations of a provider, into the customer's views */
static void view_obs(struct cust *cu, uint32_t slot)
{
    for (int k = 0; k < NVIEWS; k++) {
        struct view *v = &cu->v[k];
        if (v->pos[slot] < 0)
            continue;
        v->obs[v->pos[slot]] = obs_of(cu, slot);
        hearth_select_index_update(&v->ix, v->peers, v->obs,
                                   (size_t)v->pos[slot]);
    }
}

static uint64_t reference_price(const struct job *j)
{
    static const hearth_price text = {.per_job = 200,
                                      .per_mtok_in = 125000,
                                      .per_mtok_out = 500000};
    static const hearth_price pow = {.per_job = 1000, .per_mhash = 2};
    return hearth_offer_price(j->kind_pow ? &pow : &text, &j->usage);
}

static double run_time_s(const struct prov *p, const struct job *j)
{
    if (j->kind_pow)
        return (double)j->usage.hashes / (p->mhash * 1e6);
    double tps = p->tokens * model_speed[j->model];
    return ((double)j->usage.tokens_out +
            (double)j->usage.tokens_in / 10.0) / tps;
}

static void finish_job(struct sim *s, uint32_t jid, int ok, uint64_t price)
{
    struct job *j = &s->jobs[jid];
    size_t ph = phase_of(s, j->index);
    if (ok) {
        s->res->completed++;
        s->res->phase[ph].completed++;
        s->lat[s->ndone] = (s->now - j->arrival) * 1000.0;
        s->cost[s->ndone] = (double)price;
        s->lat_phase[s->ndone++] = (uint8_t)ph;
    }
    job_free(s, jid);
}

static int dispatch(struct sim *s, uint32_t jid);

static void start_next(struct sim *s, struct prov *p);

static int start(struct sim *s, struct prov *p, uint32_t a)
{
    struct attempt *x = &s->att[a];
    const struct job *j = &s->jobs[x->job];
    x->state = A_RUNNING;
    x->start = s->now;
    p->busy++;
    p->tstart_sum += s->now;
    x->run_s = run_time_s(p, j) * lognormal(&s->exec, 1.0, 0.15);
    x->will_fail = unit(&s->exec) < p->fail_p;
    double end = x->will_fail ? x->run_s * unit(&s->exec) : x->run_s;
    return att_event(s, s->now + end, EV_DONE, a);
}

/* a slot came free: the next waiting attempt that is still wanted */
static void start_next(struct sim *s, struct prov *p)
{
    while (p->qhead != NIL && p->busy < p->slots) {
        uint32_t a = p->qhead;
        p->qhead = s->att[a].next;
        p->qlen--;
        if (p->qhead == NIL)
            p->qtail = NIL;
        if (s->att[a].state == A_QUEUED)
            start(s, p, a);
        att_unref(s, a);
    }
}

static void stop_running(struct sim *s, struct prov *p, struct attempt *x)
{
    p->busy--;
    p->tstart_sum -= x->start;
    s->ids[p->ident].busy_s += s->now - x->start;
}

/* Settle runs: the customer books and verifies what came back. A
 * tampered result it caught is no result (the job is tried elsewhere).
 * Returns 1 when the customer will not use this provider again: it
 * caught it cheating, or (not paying) was asked to pay. */
static int settle_outcome(struct sim *s, struct attempt *x, int *paid)
{
    if (!s->ss)
        return 0;
    const struct job *j = &s->jobs[x->job];
    if (!*paid) {
        ss_fail(s->ss, x->ident, j->customer, &x->sj, s->now);
        return x->sj.rail == RAIL_REFUSED &&
               ss_customer_type(s->ss, j->customer) != CUST_HONEST;
    }
    int v = ss_deliver(s->ss, x->ident, j->customer, &x->sj, s->now,
                       phase_of(s, j->index));
    if (v == SS_TAMPER_CAUGHT)
        *paid = 0;
    return v != SS_ACCEPTED;
}

/* The customer learns how an attempt went: its observations, the gossiped
 * reputation, and either the end of the job or a retry. */
static int outcome(struct sim *s, uint32_t a, int paid)
{
    struct attempt *x = &s->att[a];
    int delivered = paid;
    int ban = settle_outcome(s, x, &paid);
    /* NIP-90 "processing" feedback tells the customer when the run
     * started, so it can time the run itself: more than twice what the
     * advertised speed promised is delivered and paid, but observed as
     * a failure (this is what catches hardware liars) */
    int slow = delivered && x->run_s > 2.0 * x->expect_run_s + 0.5;
    /* the view's observations are about delivery (an answer, in time);
     * what verification found goes into the receipt, and only
     * reputation acts on receipts */
    int ok = delivered && !slow;
    if (slow)
        s->res->slow++;
    uint32_t jid = x->job, slot = x->prov;
    struct job *j = &s->jobs[jid];
    struct cust *cu = &s->cust[j->customer];
    struct prov *p = &s->prov[slot];
    x->state = A_CLOSED;
    int64_t now = EPOCH + (int64_t)s->now;
    if (p->gen == x->gen) /* receipts about an identity still around */
        p->rep += (float)(REP_STEP * ((ok ? 1.0 : 0.0) - p->rep));
    if (cu->master_gen[slot] == x->gen) {
        hearth_peer_obs *o = &cu->master[slot];
        o->rtt_ms = (uint32_t)p->rtt_ms;
        if (ok) {
            o->jobs_ok++;
            o->consecutive_failures = 0;
        } else {
            o->jobs_failed++;
            o->consecutive_failures++;
            o->last_failure = now;
            o->cooldown_until =
                now + hearth_view_backoff(o->consecutive_failures);
        }
        if (p->gen == x->gen && !s->ss)
            o->reputation = p->rep;
        /* its own receipts are part of reputation: off with it */
        if (ban && !s->cfg.no_reputation && !(cu->ban[slot] & BAN_OWN)) {
            cu->ban[slot] |= BAN_OWN;
            s->res->settle.own_bans++;
        }
        view_obs(cu, slot);
    }
    view_slots(cu, slot, +1);
    if (paid) {
        s->ids[x->ident].earned += (double)x->price;
        finish_job(s, jid, 1, x->price);
        return HEARTH_OK;
    }
    s->res->phase[phase_of(s, j->index)].failed_attempts++;
    if (j->attempts >= s->cfg.max_attempts) {
        s->res->failed++;
        finish_job(s, jid, 0, 0);
        return HEARTH_OK;
    }
    return dispatch(s, jid);
}

/* Settle runs: the provider admits the request on credit or asks for
 * payment first (sim_settle.c); counted per tenth for paying customers,
 * whose traffic to dishonest providers is the measure of learning. */
static int settle_admit(struct sim *s, struct attempt *t,
                        const struct job *j, size_t ph)
{
    if (ss_customer_type(s->ss, j->customer) == CUST_HONEST) {
        s->res->phase[ph].honest_attempts++;
        if (ss_dishonest(s->ss, t->ident))
            s->res->phase[ph].to_dishonest++;
    }
    return ss_admit(s->ss, t->ident, j->customer, t->price, j->max_price,
                    s->now, &t->sj);
}

static int dispatch(struct sim *s, uint32_t jid)
{
    struct job *j = &s->jobs[jid];
    struct cust *cu = &s->cust[j->customer];
    hearth_select_req req;
    memset(&req, 0, sizeof req);
    req.job_kind = j->kind_pow ? HEARTH_SIM_KIND_POW : HEARTH_SIM_KIND_TEXT;
    if (!j->kind_pow) {
        req.model_hash = hearth_model_hash(hearth_sim_models[j->model]);
        req.min_vram_mb = model_vram_mb[j->model];
    }
    req.rails = cu->rails;
    req.max_price_msat = j->max_price;
    req.usage = j->usage;
    req.strategy = s->cfg.strategy;
    req.top_n = s->cfg.top_n;
    uint64_t x = s->cfg.seed ^ ((uint64_t)j->index << 8) ^ j->attempts;
    req.seed = s->cfg.strategy == HEARTH_STRATEGY_ROUND_ROBIN
                   ? cu->rr++ : hearth_splitmix64(&x);
    req.now = EPOCH + (int64_t)s->now;
    struct view *v = &cu->v[j->kind_pow ? VIEW_POW : VIEW_TEXT];
    req.index = &v->ix;
    hearth_candidate cand[MAX_TOPN];
    hearth_select_stats st;
    size_t nout = 0;
    size_t want = req.top_n ? req.top_n : 1;
    if (want > MAX_TOPN)
        want = MAX_TOPN;
    int rc = hearth_select(v->peers, v->obs, v->n, &req, cand, want,
                           &nout, &st);
    if (rc)
        return rc;
    s->res->select_calls++;
    s->res->peer_visits += v->n;
    if (nout == 0) {
        if (j->attempts > 0)
            s->res->failed++;
        else if (st.too_expensive > 0)
            s->res->dropped_price++;
        else
            s->res->dropped_no_provider++;
        finish_job(s, jid, 0, 0);
        return HEARTH_OK;
    }
    uint32_t a = att_new(s);
    if (a == NIL)
        return HEARTH_ENOMEM;
    j = &s->jobs[jid];
    struct attempt *t = &s->att[a];
    uint32_t slot = v->owner[cand[0].index];
    struct prov *p = &s->prov[slot];
    memset(t, 0, sizeof *t);
    t->job = jid;
    t->prov = slot;
    t->session = p->session;
    t->gen = p->gen;
    t->ident = p->ident;
    t->next = NIL;
    t->state = A_SENT;
    t->sent = s->now;
    t->price = cand[0].price_msat;
    /* the customer's patience: three times what it expects (bigger
     * models run slower than the 8B benchmark, and it knows that), plus
     * 5 s for the queue */
    double speed = j->kind_pow ? 1.0 : model_speed[j->model];
    double expect = cand[0].rtt_ms +
                    (cand[0].queue_ms + cand[0].run_ms) / speed;
    t->deadline = s->now + (3.0 * expect + 5000.0) / 1000.0;
    t->expect_run_s = cand[0].run_ms / speed / 1000.0;
    t->lost = !p->online;
    j->attempts++;
    view_slots(cu, slot, -1);
    size_t ph = phase_of(s, j->index);
    s->res->attempts++;
    s->res->phase[ph].attempts++;
    if (p->cls == CLS_LIAR)
        s->res->phase[ph].to_liars++;
    if (p->cls == CLS_FAILER)
        s->res->phase[ph].to_failers++;
    if (s->ss && (rc = settle_admit(s, t, j, ph)))
        return rc;
    if ((rc = att_event(s, s->now + p->rtt_ms / 2000.0, EV_RECV, a)))
        return rc;
    return att_event(s, t->deadline, EV_DEADLINE, a);
}

static int on_recv(struct sim *s, uint32_t a)
{
    struct attempt *x = &s->att[a];
    struct prov *p = &s->prov[x->prov];
    if (x->state != A_SENT || !p->online || p->session != x->session)
        return HEARTH_OK; /* cancelled, or nobody there: the deadline says */
    if (x->sj.rail == RAIL_REFUSED) { /* payment asked, none came */
        x->state = A_FINISHED;
        return att_event(s, s->now + p->rtt_ms / 2000.0, EV_RESULT, a);
    }
    if (p->busy < p->slots)
        return start(s, p, a);
    if (p->qlen >= p->slots) { /* a full provider says so at once */
        x->state = A_FINISHED;
        x->busy = 1;
        return att_event(s, s->now + p->rtt_ms / 2000.0, EV_RESULT, a);
    }
    x->state = A_QUEUED;
    p->qlen++;
    x->next = NIL;
    x->refs++;
    if (p->qtail == NIL)
        p->qhead = a;
    else
        s->att[p->qtail].next = a;
    p->qtail = a;
    return HEARTH_OK;
}

static int on_done(struct sim *s, uint32_t a)
{
    struct attempt *x = &s->att[a];
    struct prov *p = &s->prov[x->prov];
    if (x->state != A_RUNNING || p->session != x->session)
        return HEARTH_OK;
    stop_running(s, p, x);
    x->state = A_FINISHED;
    x->ok = !x->will_fail;
    start_next(s, p);
    return att_event(s, s->now + p->rtt_ms / 2000.0, EV_RESULT, a);
}

/* "busy": not a failure of the provider, but the customer now knows it
 * is full and looks elsewhere, without using up an attempt */
static int bounce(struct sim *s, uint32_t a)
{
    struct attempt *x = &s->att[a];
    struct job *j = &s->jobs[x->job];
    struct cust *cu = &s->cust[j->customer];
    x->state = A_CLOSED;
    s->res->busy++;
    if (s->ss)
        ss_fail(s->ss, x->ident, j->customer, &x->sj, s->now);
    view_slots(cu, x->prov, 0);
    j->attempts--;
    if (++j->bounces > MAX_BOUNCES) {
        s->res->failed++;
        finish_job(s, x->job, 0, 0);
        return HEARTH_OK;
    }
    return dispatch(s, x->job);
}

static int on_result(struct sim *s, uint32_t a)
{
    struct attempt *x = &s->att[a];
    if (x->state != A_FINISHED)
        return HEARTH_OK; /* the deadline came first */
    if (x->busy)
        return bounce(s, a);
    if (x->sj.rail == RAIL_REFUSED)
        return outcome(s, a, 0);
    if (!x->ok)
        s->res->errors++;
    return outcome(s, a, x->ok);
}

static int on_deadline(struct sim *s, uint32_t a)
{
    struct attempt *x = &s->att[a];
    struct prov *p = &s->prov[x->prov];
    if (x->state == A_CLOSED)
        return HEARTH_OK;
    if (p->session != x->session || x->lost) {
        s->res->lost++;
    } else {
        s->res->timeouts++;
        if (x->state == A_RUNNING) { /* cancelled: the slot frees now */
            stop_running(s, p, x);
            start_next(s, p);
        }
    }
    return outcome(s, a, 0);
}

static void set_online(struct sim *s, struct prov *p, int on)
{
    long d = on ? 1 : -1;
    p->online = (uint8_t)on;
    s->online += (size_t)d;
    if (p->cls == CLS_LIAR)
        s->online_liars += (size_t)d;
    if (p->cls == CLS_FAILER)
        s->online_failers += (size_t)d;
}

static int on_leave(struct sim *s, uint32_t i)
{
    struct prov *p = &s->prov[i];
    struct ident *id = &s->ids[p->ident];
    id->busy_s += p->busy * s->now - p->tstart_sum;
    id->online_slot_s += p->slots * (s->now - p->online_since);
    p->last_free = p->slots - (p->busy < p->slots ? p->busy : p->slots);
    p->busy = 0;
    p->tstart_sum = 0;
    while (p->qhead != NIL) {
        uint32_t a = p->qhead;
        p->qhead = s->att[a].next;
        att_unref(s, a);
    }
    p->qtail = NIL;
    p->qlen = 0;
    p->session++;
    p->offline_since = s->now;
    set_online(s, p, 0);
    return ev_push(&s->q, s->now + expo(&s->world, s->offline_mean),
                   EV_JOIN, i);
}

static int on_join(struct sim *s, uint32_t i)
{
    struct prov *p = &s->prov[i];
    if (unit(&s->world) < 0.5) { /* a new machine, or a new key */
        new_identity(&s->world, s->cfg.seed, i, s->cfg.liars,
                     s->cfg.failers, p);
        if (add_ident(s, p))
            return HEARTH_ENOMEM;
    }
    p->online_since = s->now;
    set_online(s, p, 1);
    return ev_push(&s->q, s->now + expo(&s->world, s->session_mean),
                   EV_LEAVE, i);
}

static int on_arrive(struct sim *s)
{
    uint32_t jid = job_new(s);
    if (jid == NIL)
        return HEARTH_ENOMEM;
    struct job *j = &s->jobs[jid];
    hearth_rng *r = &s->work;
    memset(j, 0, sizeof *j);
    j->arrival = s->now;
    j->index = (uint32_t)s->arrived++;
    j->customer = (uint32_t)hearth_rng_below(hearth_rng_next(r),
                                             s->cfg.customers);
    j->kind_pow = unit(r) < s->cfg.pow_share;
    j->usage.jobs = 1;
    if (j->kind_pow) {
        j->usage.hashes = 1ull << (28 + hearth_rng_below(hearth_rng_next(r),
                                                         7));
    } else {
        double u = unit(r);
        j->model = u < model_mix[0] ? 0 : u < model_mix[0] + model_mix[1]
                                              ? 1 : 2;
        j->usage.tokens_in = (uint64_t)clampd(lognormal(r, 600, 1.0), 16,
                                              32000);
        j->usage.tokens_out = (uint64_t)clampd(lognormal(r, 250, 0.9), 1,
                                               4096);
    }
    double limit = (double)reference_price(j) * lognormal(r, 1.5, 0.4);
    j->max_price = limit < 1 ? 1 : (uint64_t)limit;
    s->active++;
    s->res->jobs++;
    hearth_sim_phase *ph = &s->res->phase[phase_of(s, j->index)];
    if (ph->jobs++ == 0)
        ph->t_start = s->now;
    if (s->online) {
        s->pop_liars_sum += (double)s->online_liars / s->online;
        s->pop_failers_sum += (double)s->online_failers / s->online;
    }
    if (s->arrived < s->cfg.jobs) {
        int rc = ev_push(&s->q, s->now + expo(r, 1.0 / s->lambda),
                         EV_ARRIVE, 0);
        if (rc)
            return rc;
    }
    return dispatch(s, jid);
}

/* Offered load: mean service time of a random job on a random provider
 * that can run it, sampled from a stream of its own. */
static double mean_service_s(const struct sim *s)
{
    hearth_rng r;
    hearth_rng_seed(&r, s->cfg.seed ^ 0x5e41ce);
    double sum = 0;
    size_t n = 0;
    for (int i = 0; i < 20000; i++) {
        struct job j;
        memset(&j, 0, sizeof j);
        j.kind_pow = unit(&r) < s->cfg.pow_share;
        if (j.kind_pow) {
            j.usage.hashes = 1ull << (28 + hearth_rng_below(
                                              hearth_rng_next(&r), 7));
        } else {
            double u = unit(&r);
            j.model = u < model_mix[0] ? 0 : u < model_mix[0] + model_mix[1]
                                                 ? 1 : 2;
            j.usage.tokens_in = (uint64_t)clampd(lognormal(&r, 600, 1.0),
                                                 16, 32000);
            j.usage.tokens_out = (uint64_t)clampd(lognormal(&r, 250, 0.9),
                                                  1, 4096);
        }
        const struct prov *p =
            &s->prov[hearth_rng_below(hearth_rng_next(&r), s->nprov)];
        if (!j.kind_pow && !(p->models & (1u << j.model)))
            continue;
        sum += run_time_s(p, &j);
        n++;
    }
    return n ? sum / n : 1.0;
}

void hearth_sim_defaults(hearth_sim_config *c)
{
    memset(c, 0, sizeof *c);
    c->providers = 1000;
    c->jobs = 100000;
    c->seed = 1;
    c->strategy = HEARTH_STRATEGY_BALANCED;
    c->top_n = 3;
    c->customers = 32;
    c->view = 1000;
    c->refresh_s = 30;
    c->load = 0.6;
    c->liars = 0.05;
    c->failers = 0.05;
    c->churn = 0.3;
    c->pow_share = 0.3;
    c->max_attempts = 3;
    c->dishonest = 0.3;
    c->cheat_rate = 1.0;
    c->nonpaying = 0.3;
    c->verify_p = 1.0;
    c->credit_cap_msat = HEARTH_CREDIT_DEFAULT_LIMIT_MSAT;
    c->stranger_credit_msat = HEARTH_CREDIT_DEFAULT_STRANGER_MSAT;
    c->pay_interval_s = 600;
    c->rep_interval_s = 300;
    c->rep_min = 0.4;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* percentile by the nearest-rank rule on a sorted array */
static double pct(const double *v, size_t n, double q)
{
    if (!n)
        return 0;
    size_t k = (size_t)ceil(q * (double)n);
    return v[k ? k - 1 : 0];
}

static void dist_of(double *v, size_t n, hearth_sim_dist *d)
{
    memset(d, 0, sizeof *d);
    if (!n)
        return;
    qsort(v, n, sizeof *v, cmp_double);
    double sum = 0, wsum = 0;
    for (size_t i = 0; i < n; i++) {
        sum += v[i];
        wsum += (double)(i + 1) * v[i];
    }
    d->mean = sum / n;
    d->p10 = pct(v, n, 0.10);
    d->p50 = pct(v, n, 0.50);
    d->p90 = pct(v, n, 0.90);
    d->p99 = pct(v, n, 0.99);
    d->max = v[n - 1];
    d->gini = sum > 0 ? 2.0 * wsum / (n * sum) - (double)(n + 1) / n : 0;
}

static int check_config(const hearth_sim_config *c)
{
    if (!c->providers || !c->jobs || !c->customers || c->jobs > UINT32_MAX ||
        c->providers > INT32_MAX || !(c->load > 0) || !(c->refresh_s > 0) ||
        !(c->liars >= 0 && c->failers >= 0 && c->liars + c->failers <= 1) ||
        !(c->churn >= 0 && c->churn < 1) ||
        !(c->pow_share >= 0 && c->pow_share <= 1) || !c->max_attempts ||
        (unsigned)c->strategy > HEARTH_STRATEGY_ROUND_ROBIN)
        return HEARTH_EINVAL;
    if (c->settle &&
        !(c->dishonest >= 0 && c->dishonest <= 1 && c->nonpaying >= 0 &&
          c->nonpaying <= 1 && c->cheat_rate >= 0 && c->cheat_rate <= 1 &&
          c->verify_p >= 0 && c->verify_p <= 1 && c->pay_interval_s > 0 &&
          c->rep_interval_s > 0 && c->rep_min >= 0 && c->rep_min <= 1))
        return HEARTH_EINVAL;
    return HEARTH_OK;
}

static int setup(struct sim *s)
{
    const hearth_sim_config *c = &s->cfg;
    s->nprov = c->providers;
    s->free_job = s->free_att = NIL;
    s->hear = c->view && c->view < c->providers
                  ? (double)c->view / c->providers : 1.0;
    hearth_rng_seed(&s->world, c->seed);
    hearth_rng_seed(&s->work, c->seed ^ 0x6a6f6273u);
    hearth_rng_seed(&s->exec, c->seed ^ 0x65786563u);
    s->prov = calloc(s->nprov, sizeof *s->prov);
    s->cust = calloc(c->customers, sizeof *s->cust);
    s->lat = malloc(c->jobs * sizeof *s->lat);
    s->cost = malloc(c->jobs * sizeof *s->cost);
    s->lat_phase = malloc(c->jobs);
    if (!s->prov || !s->cust || !s->lat || !s->cost || !s->lat_phase)
        return HEARTH_ENOMEM;
    if (c->settle) {
        int rc = ss_new(c, s->res, &s->ss);
        if (rc)
            return rc;
    }
    double slots = 0;
    for (size_t i = 0; i < s->nprov; i++) {
        struct prov *p = &s->prov[i];
        new_identity(&s->world, c->seed, (uint32_t)i, c->liars, c->failers,
                     p);
        p->qhead = p->qtail = NIL;
        if (add_ident(s, p))
            return HEARTH_ENOMEM;
        set_online(s, p, 1);
        slots += p->slots;
    }
    s->lambda = c->load * slots / mean_service_s(s);
    double span = (double)c->jobs / s->lambda;
    s->offline_mean = span / 10;
    s->session_mean = c->churn > 0 ? span / -log1p(-c->churn) : 0;
    for (size_t i = 0; i < s->nprov && c->churn > 0; i++)
        if (ev_push(&s->q, expo(&s->world, s->session_mean), EV_LEAVE,
                    (uint32_t)i))
            return HEARTH_ENOMEM;
    for (size_t k = 0; k < c->customers; k++) {
        struct cust *cu = &s->cust[k];
        double u = unit(&s->world);
        cu->rails = u < 0.6 ? (HEARTH_RAIL_CREDIT | HEARTH_RAIL_LIGHTNING)
                    : u < 0.9 ? HEARTH_RAIL_LIGHTNING : HEARTH_RAIL_CREDIT;
        for (int v = 0; v < NVIEWS; v++) {
            struct view *w = &cu->v[v];
            w->peers = malloc(s->nprov * sizeof *w->peers);
            w->obs = malloc(s->nprov * sizeof *w->obs);
            w->owner = malloc(s->nprov * sizeof *w->owner);
            w->pos = malloc(s->nprov * sizeof *w->pos);
            if (!w->peers || !w->obs || !w->owner || !w->pos)
                return HEARTH_ENOMEM;
        }
        cu->master = calloc(s->nprov, sizeof *cu->master);
        cu->master_gen = calloc(s->nprov, sizeof *cu->master_gen);
        if (!cu->master || !cu->master_gen)
            return HEARTH_ENOMEM;
        if (s->ss) {
            cu->rails = HEARTH_RAIL_CREDIT | HEARTH_RAIL_LIGHTNING;
            cu->ban = calloc(s->nprov, 1);
            if (!cu->ban || ev_push(&s->q, c->pay_interval_s *
                                    unit(&s->exec), EV_PAY, (uint32_t)k))
                return HEARTH_ENOMEM;
        }
        int rc = refresh_view(s, k);
        /* staggered: customers do not all refresh at the same moment */
        if (rc || (rc = ev_push(&s->q, c->refresh_s * unit(&s->world),
                                EV_REFRESH, (uint32_t)k)))
            return rc;
    }
    return ev_push(&s->q, expo(&s->work, 1.0 / s->lambda), EV_ARRIVE, 0);
}

static void teardown(struct sim *s)
{
    for (size_t k = 0; s->cust && k < s->cfg.customers; k++) {
        for (int v = 0; v < NVIEWS; v++) {
            struct view *w = &s->cust[k].v[v];
            hearth_select_index_free(&w->ix);
            free(w->peers);
            free(w->obs);
            free(w->owner);
            free(w->pos);
        }
        free(s->cust[k].master);
        free(s->cust[k].master_gen);
        free(s->cust[k].ban);
    }
    ss_free(s->ss);
    free(s->cust);
    free(s->prov);
    free(s->ids);
    free(s->jobs);
    free(s->att);
    free(s->q.h);
    free(s->lat);
    free(s->cost);
    free(s->lat_phase);
}

static int summarize(struct sim *s)
{
    hearth_sim_result *r = s->res;
    r->sim_seconds = s->now;
    r->arrival_rate = s->lambda;
    r->identities = s->nids;
    r->liar_pop = s->arrived ? s->pop_liars_sum / s->arrived : 0;
    r->failer_pop = s->arrived ? s->pop_failers_sum / s->arrived : 0;
    for (size_t i = 0; i < s->nprov; i++) {
        struct prov *p = &s->prov[i];
        if (!p->online)
            continue;
        struct ident *id = &s->ids[p->ident];
        id->busy_s += p->busy * s->now - p->tstart_sum;
        id->online_slot_s += p->slots * (s->now - p->online_since);
    }
    double *v = malloc((s->nids > s->ndone ? s->nids : s->ndone) *
                       sizeof *v);
    if (!v)
        return HEARTH_ENOMEM;
    /* per phase: median latency of the jobs that arrived in it */
    for (size_t ph = 0; ph < HEARTH_SIM_PHASES; ph++) {
        size_t n = 0;
        for (size_t i = 0; i < s->ndone; i++)
            if (s->lat_phase[i] == ph)
                v[n++] = s->lat[i];
        qsort(v, n, sizeof *v, cmp_double);
        r->phase[ph].latency_p50_ms = pct(v, n, 0.5);
    }
    dist_of(s->lat, s->ndone, &r->latency_ms);
    r->latency_p95_ms = pct(s->lat, s->ndone, 0.95);
    dist_of(s->cost, s->ndone, &r->cost_msat);
    for (size_t i = 0; i < s->nids; i++)
        v[i] = s->ids[i].earned;
    dist_of(v, s->nids, &r->earnings_msat);
    size_t n = 0;
    for (size_t i = 0; i < s->nids; i++)
        if (s->ids[i].online_slot_s > 0)
            v[n++] = s->ids[i].busy_s / s->ids[i].online_slot_s;
    dist_of(v, n, &r->utilisation);
    free(v);
    return HEARTH_OK;
}

int hearth_sim_run(const hearth_sim_config *c, hearth_sim_result *out)
{
    if (!c || !out)
        return HEARTH_EINVAL;
    int rc = check_config(c);
    if (rc)
        return rc;
    struct sim s;
    memset(&s, 0, sizeof s);
    memset(out, 0, sizeof *out);
    s.cfg = *c;
    if (s.cfg.top_n == 0)
        s.cfg.top_n = 1;
    s.res = out;
    out->config = s.cfg;
    rc = setup(&s);
    while (!rc && s.q.n && (s.arrived < c->jobs || s.active > 0)) {
        struct ev e = ev_pop(&s.q);
        s.now = e.t;
        switch (e.type) {
        case EV_ARRIVE: rc = on_arrive(&s); break;
        case EV_RECV: rc = on_recv(&s, e.id); break;
        case EV_DONE: rc = on_done(&s, e.id); break;
        case EV_RESULT: rc = on_result(&s, e.id); break;
        case EV_DEADLINE: rc = on_deadline(&s, e.id); break;
        case EV_LEAVE: rc = on_leave(&s, e.id); break;
        case EV_JOIN: rc = on_join(&s, e.id); break;
        case EV_REFRESH: rc = on_refresh(&s, e.id); break;
        case EV_PAY: rc = on_pay(&s, e.id); break;
        }
        if (e.type >= EV_RECV && e.type <= EV_DEADLINE)
            att_unref(&s, e.id);
    }
    if (!rc && s.ss)
        ss_finish(s.ss, s.now);
    if (!rc)
        rc = summarize(&s);
    teardown(&s);
    return rc;
}
