/* Selection internals shared by select.c (filters, score, ranking, the
 * API) and select_index.c (the compact index and its scan). Small and
 * hot, so static inline: both loops inline them. Not installed. */
#ifndef HEARTH_MARKET_SELECT_INTERNAL_H
#define HEARTH_MARKET_SELECT_INTERNAL_H

#include "hearth/select.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* Assumptions for what the view does not know (docs/selection.md) */
#define DEFAULT_RTT_MS 250.0
#define UNKNOWN_MHASH_S 10.0   /* a CPU core without SHA extensions */
#define UNKNOWN_TOKENS_S 2.0   /* a CPU running a small model */
#define PROMPT_SPEEDUP 10.0    /* prompt tokens vs generated tokens */
/* Beta(4, 1) prior: a stranger is trusted like a peer with 4 successes
 * and 1 failure (0.8), so one bad job does not bury a newcomer and one
 * good job does not crown it. */
#define PRIOR_OK 4.0
#define PRIOR_FAILED 1.0
#define MAX_FAIL_HALVINGS 30   /* each consecutive failure halves */

/* Why a peer is left out, in the documented order, as bit numbers of a
 * mask: the lowest set bit is the reason counted. R_ELIGIBLE comes last,
 * so a mask with only that bit answers "none". */
enum reason {
    R_KIND, R_EXPIRED, R_MODEL, R_SMALL, R_TIER, R_RAIL, R_FULL, R_COOL,
    R_HWFAIL, R_PRICE, R_BLOCKED, R_UNTRUSTED, R_ELIGIBLE, R_COUNT
};

/* A set of pubkeys for the trust and block lists: open addressing on the
 * first 8 bytes (pubkeys are uniformly random curve x coordinates). */
#define KEYSET_STACK 2048u
struct keyset {
    const uint8_t (*keys)[32];
    size_t n;
    uint32_t *slot;      /* index + 1 into keys; 0 = empty */
    unsigned shift;
    size_t mask;
    uint32_t stack[KEYSET_STACK];
};

static inline size_t key_hash(const uint8_t pk[32], unsigned shift)
{
    uint64_t h;
    memcpy(&h, pk, 8);
    return (size_t)((h * 0x9e3779b97f4a7c15u) >> shift);
}

static inline int keyset_has(const struct keyset *ks, const uint8_t pk[32])
{
    for (size_t h = key_hash(pk, ks->shift); ks->slot[h];
         h = (h + 1) & ks->mask)
        if (!memcmp(ks->keys[ks->slot[h] - 1], pk, 32))
            return 1;
    return 0;
}

/* The request, turned into what the loop compares against */
struct ctx {
    uint32_t kind, model, min_vram;
    unsigned model_set;      /* 1 when a model is asked for */
    unsigned max_tier;       /* 255 = any */
    unsigned rails, rails_set;
    uint64_t max_price;      /* UINT64_MAX = no limit */
    int64_t now;
    hearth_usage usage;
    double hash_k;           /* hashes / 1000: ms at 1 MH/s */
    double tok_ms;           /* token-ms at 1 token/s */
    double gpu_ms;
    int small_usage;         /* every usage figure below 2^32 */
    const struct keyset *trust, *block;   /* never NULL */
};

static inline unsigned tier_rank(unsigned tier)
{
    return tier ? tier : 5; /* CPU only ranks below tier 4 */
}

static inline uint64_t sat_add(uint64_t a, uint64_t b)
{
    uint64_t s = a + b;
    return s < a ? UINT64_MAX : s;
}

typedef unsigned __int128 u128;

/* ceil(a * b / d), saturating: the rounding of hearth_offer_price, which
 * this must equal (the max-price filter compares what the provider will
 * charge). d is a constant after inlining, so the common case, a product
 * below 2^64, divides by multiplication. */
static inline uint64_t mul_div_ceil(uint64_t a, uint64_t b, uint64_t d)
{
    u128 p = (u128)a * b;
    if (!(p >> 64)) {
        uint64_t lo = (uint64_t)p;
        return lo / d + (lo % d != 0);
    }
    u128 q = p / d + (p % d != 0);
    return q >> 64 ? UINT64_MAX : (uint64_t)q;
}

static inline uint64_t price_of(const hearth_price *p, const hearth_usage *u)
{
    u128 base = (u128)p->per_job * u->jobs;
    uint64_t x = base >> 64 ? UINT64_MAX : (uint64_t)base;
    x = sat_add(x, mul_div_ceil(p->per_mtok_in, u->tokens_in, 1000000));
    x = sat_add(x, mul_div_ceil(p->per_mtok_out, u->tokens_out, 1000000));
    x = sat_add(x, mul_div_ceil(p->per_gpu_second, u->gpu_ms, 1000));
    return sat_add(x, mul_div_ceil(p->per_mhash, u->hashes, 1000000));
}

/* the last filters, which need the pubkey */
static inline int listed_out(const struct ctx *c, const hearth_peer *p)
{
    if (c->block->n && keyset_has(c->block, p->pubkey))
        return R_BLOCKED;
    if (c->trust->n && !keyset_has(c->trust, p->pubkey))
        return R_UNTRUSTED;
    return R_ELIGIBLE;
}

/* The offer claims a GPU and its provider failed the hardware check
 * (docs/challenge.md): the claim is not believed, so the offer is not
 * chosen. CPU offers (tier 0) of the same provider stay eligible. */
static inline int hw_failed(const hearth_peer *p, const hearth_peer_obs *o)
{
    return o && o->hw_verdict == HEARTH_HW_FAIL && p->tier != 0;
}

/* Why p fails the request (R_ELIGIBLE: it does not), *price set either
 * way. Every check goes into one mask without a branch: the loop then
 * has a single data-dependent branch, "eligible or not", where a branch
 * per check would mispredict on every other peer. The first reason in
 * the documented order is the lowest set bit. */
static inline unsigned reject(const struct ctx *c, const hearth_peer *p,
                              const hearth_peer_obs *o, uint64_t *price)
{
    unsigned m = 1u << R_ELIGIBLE;
    m |= (unsigned)((p->expires_at != 0) & (p->expires_at <= c->now))
         << R_EXPIRED;
    m |= (unsigned)(p->vram_mb < c->min_vram) << R_SMALL;
    m |= (unsigned)(tier_rank(p->tier) > c->max_tier) << R_TIER;
    m |= (unsigned)(((p->rails & c->rails) == 0) & c->rails_set) << R_RAIL;
    m |= (unsigned)((p->capacity_total != 0) & (p->capacity_free == 0))
         << R_FULL;
    if (o) {
        m |= (unsigned)(o->cooldown_until > c->now) << R_COOL;
        m |= (unsigned)hw_failed(p, o) << R_HWFAIL;
    }
    if (c->model) {
        unsigned nm = p->nmodels < HEARTH_OFFER_MAX_MODELS
                          ? p->nmodels : HEARTH_OFFER_MAX_MODELS;
        unsigned found = 0;
        for (unsigned k = 0; k < nm; k++)
            found |= p->model_hash[k] == c->model;
        m |= (found ^ 1u) << R_MODEL;
    }
    *price = price_of(&p->price, &c->usage);
    m |= (unsigned)(*price > c->max_price) << R_PRICE;
    unsigned why = (unsigned)__builtin_ctz(m);
    return why == R_ELIGIBLE ? (unsigned)listed_out(c, p) : why;
}

/* The raw figures of an eligible peer; the hot loop and the explain
 * output both come from here, so they cannot disagree. The first half
 * needs only the offer; the second the observations. */
struct raw {
    double rtt, queue, run, latency, reliability, reputation, load;
};

static inline void measure_offer(const struct ctx *c, uint32_t free_slots,
                                 uint32_t total, uint64_t mhash_s,
                                 uint32_t tokens_s, struct raw *r)
{
    uint32_t busy = total - (free_slots < total ? free_slots : total);
    r->load = total ? (double)busy / total : 0.5;
    double mh = mhash_s ? (double)mhash_s : UNKNOWN_MHASH_S;
    double ts = tokens_s ? (double)tokens_s : UNKNOWN_TOKENS_S;
    r->run = c->gpu_ms;
    if (c->hash_k > 0)
        r->run += c->hash_k / mh;
    if (c->tok_ms > 0)
        r->run += c->tok_ms / ts;
    /* The advertised free slot may be gone when the request lands: the
     * busier the peer, the likelier a wait of about one job. */
    r->queue = r->load * r->run;
}

static inline void measure_obs(const hearth_peer_obs *o, struct raw *r)
{
    r->rtt = DEFAULT_RTT_MS;
    r->reliability = PRIOR_OK / (PRIOR_OK + PRIOR_FAILED);
    r->reputation = 0.5;
    if (o) {
        if (o->rtt_ms)
            r->rtt = o->rtt_ms;
        double ok = o->jobs_ok, bad = o->jobs_failed;
        unsigned cf = o->consecutive_failures < MAX_FAIL_HALVINGS
                          ? o->consecutive_failures : MAX_FAIL_HALVINGS;
        uint64_t bits = (uint64_t)(1023 - cf) << 52; /* 2^-cf exactly */
        double halving;
        memcpy(&halving, &bits, sizeof halving);
        r->reliability = (ok + PRIOR_OK) / (ok + bad + PRIOR_OK + PRIOR_FAILED)
                         * halving;
        float rep = o->reputation;
        r->reputation = rep >= 0.0f ? (rep <= 1.0f ? rep : 1.0) : 0.0;
        if (rep != rep)
            r->reputation = 0.5;
    }
    r->latency = r->rtt + r->queue + r->run;
}

static inline void measure(const struct ctx *c, const hearth_peer *p,
                           const hearth_peer_obs *o, struct raw *r)
{
    measure_offer(c, p->capacity_free, p->capacity_total, p->bench_mhash_s,
                  p->bench_tokens_s, r);
    measure_obs(o, r);
}

/* 2^score without the logarithms: what balanced ranks by */
static inline double utility(uint64_t price, const struct raw *r)
{
    return r->reliability * r->reliability * (0.5 + r->reputation) *
           (1.0 - 0.5 * r->load) /
           ((1.0 + (double)price) * (1.0 + r->latency));
}

/* What the observations can do for a peer at best, so the ranking can
 * skip peers without reading them: its round trip (a lower bound; exact
 * from the index) and rel^2 (0.5 + reputation) (an upper bound, 1.5
 * when unknown; from the index, rounded up to a float). */
struct obs_bound {
    double rtt, trust;
};

static const struct obs_bound LOOSE = {0.0, 1.5};

/* The best primary sort key the peer could have. Floating-point rounding
 * is monotonic and the expressions mirror utility() and measure_obs()
 * term by term, so the bound holds exactly, not just in theory. */
static inline double key_bound(hearth_strategy s, uint64_t price,
                               const struct raw *r, struct obs_bound ob)
{
    switch (s) {
    case HEARTH_STRATEGY_CHEAPEST:
        return -(double)price;
    case HEARTH_STRATEGY_FASTEST:
        return -(ob.rtt + r->queue + r->run);
    case HEARTH_STRATEGY_LEAST_LOADED:
        return -r->load;
    default:
        return ob.trust * (1.0 - 0.5 * r->load) /
               ((1.0 + (double)price) * (1.0 + (ob.rtt + r->queue + r->run)));
    }
}

void sel_fill(const struct ctx *c, const hearth_peer *peers,
              const hearth_peer_obs *obs, size_t i, hearth_candidate *out);

/* While ranking, a heap entry keeps its sort keys in score (primary) and
 * reliability (tie-break), and its price; sel_fill() overwrites them with the
 * real values. */
static inline int better(hearth_strategy s, const hearth_candidate *a,
                         const hearth_candidate *b)
{
    /* prices past 2^53 msat share a double: cheapest compares exactly */
    if (s == HEARTH_STRATEGY_CHEAPEST && a->price_msat != b->price_msat)
        return a->price_msat < b->price_msat;
    if (a->score != b->score)
        return a->score > b->score;
    if (a->reliability != b->reliability)
        return a->reliability > b->reliability;
    return a->index < b->index;
}

void sel_sift_down(hearth_strategy s, hearth_candidate *h, size_t n,
                   size_t i);
void sel_sift_up(hearth_strategy s, hearth_candidate *h, size_t i);

static inline void keys_of(hearth_strategy s, uint64_t price,
                           const struct raw *r, hearth_candidate *e)
{
    double u = utility(price, r);
    switch (s) {
    case HEARTH_STRATEGY_CHEAPEST:
        e->score = -(double)price;
        e->reliability = u;
        break;
    case HEARTH_STRATEGY_FASTEST:
        e->score = -r->latency;
        e->reliability = u;
        break;
    case HEARTH_STRATEGY_LEAST_LOADED:
        e->score = -r->load;
        e->reliability = u;
        break;
    default:
        e->score = u;
        e->reliability = 0;
        break;
    }
}

/* ---- ranking ---- */

struct run {
    struct ctx c;
    struct keyset trust, block;
    /* round-robin's second pass: eligible peer number e goes to
     * out[e - start], or, wrapping around, to out[m - start + e] */
    int place;
    size_t start, want, wrapped, m, e;
    hearth_candidate *out;
    const hearth_peer *peers;
    const hearth_peer_obs *obs;
    hearth_strategy strat;
    hearth_candidate *h;        /* the heap: the best k so far */
    size_t k, size;
    size_t cnt[R_COUNT];
};

/* A looser bound than key_bound, without a division (the hot loop's
 * slowest instruction): it leaves out the queue and the capacity factor,
 * which only make a peer worse. With run = num / den, it prunes only
 * when the peer is worse by more than any rounding could explain. */
static inline int quick_prune(const struct ctx *c, hearth_strategy s,
                              uint64_t price, uint64_t mhash_s,
                              uint32_t tokens_s, struct obs_bound ob,
                              double worst)
{
    const double slack = 1.0 - 1e-9;
    double mh = mhash_s ? (double)mhash_s : UNKNOWN_MHASH_S;
    double ts = tokens_s ? (double)tokens_s : UNKNOWN_TOKENS_S;
    double den = mh * ts;
    double num = (c->gpu_ms + ob.rtt) * den + c->hash_k * ts + c->tok_ms * mh;
    switch (s) {
    case HEARTH_STRATEGY_CHEAPEST:
        return -(double)price < worst;
    case HEARTH_STRATEGY_FASTEST:     /* key <= -(rtt + run) */
        return num * slack > -worst * den;
    case HEARTH_STRATEGY_BALANCED:    /* key <= trust/((1+price)(1+rtt+run)) */
        return ob.trust * den <
               worst * (1.0 + (double)price) * (den + num) * slack;
    default:
        return 0;
    }
}
/* round-robin's second pass: the eligible peer i, if its turn is due */
void sel_place(struct run *w, size_t i);

/* an eligible peer: into the heap if it beats the worst kept one */
static inline void consider(struct run *w, size_t i, uint64_t price,
                            uint32_t free_slots, uint32_t total,
                            uint64_t mhash_s, uint32_t tokens_s,
                            struct obs_bound ob)
{
    if (w->strat == HEARTH_STRATEGY_ROUND_ROBIN || !w->k) {
        if (w->place)
            sel_place(w, i);
        return;
    }
    int full = w->size == w->k;
    if (full && quick_prune(&w->c, w->strat, price, mhash_s, tokens_s, ob,
                            w->h[0].score))
        return;
    struct raw r;
    measure_offer(&w->c, free_slots, total, mhash_s, tokens_s, &r);
    if (full) {
        double b = key_bound(w->strat, price, &r, ob);
        if (b < w->h[0].score)
            return;
        /* a tie at best: the tie-break (balanced's key) has a bound too */
        if (b == w->h[0].score && w->strat != HEARTH_STRATEGY_BALANCED &&
            (w->strat != HEARTH_STRATEGY_CHEAPEST ||
             price == w->h[0].price_msat) &&
            key_bound(HEARTH_STRATEGY_BALANCED, price, &r, ob) <
                w->h[0].reliability)
            return;
    }
    measure_obs(w->obs ? &w->obs[i] : NULL, &r);
    hearth_candidate e;
    e.index = i;
    e.price_msat = price;
    keys_of(w->strat, price, &r, &e);
    if (w->size < w->k) {
        w->h[w->size] = e;
        sel_sift_up(w->strat, w->h, w->size++);
    } else if (better(w->strat, &e, &w->h[0])) {
        w->h[0] = e;
        sel_sift_down(w->strat, w->h, w->size, 0);
    }
}

/* Times in the index are kept relative to its base; clamping one far
 * from base is exact, as selection only compares them with a now within
 * HOT_RANGE of base. */
#define HOT_RANGE (INT32_MAX / 2)

/* The scan over an index (select_index.c). rr NULL: rank into w's heap;
 * else round-robin: set bit i of rr for every eligible offer i. */
void sel_scan_index(struct run *w, const hearth_select_index *ix,
                    int32_t now, uint64_t *rr);

#endif
