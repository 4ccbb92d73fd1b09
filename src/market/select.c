/* Peer selection: hard filters, then a score, then a pick among the best
 * (include/hearth/select.h; the formula and its reasons are in
 * docs/selection.md).
 *
 * The hot loop runs once per offer in the view (100,000 of them in a busy
 * market), so it allocates nothing, computes no logarithm (it ranks by
 * the product whose log2 is the score) and keeps only the best few in a
 * small heap. The exact score and its parts are computed afterwards, for
 * the few candidates that are returned. */
#include "hearth/select.h"

#include "hearth/error.h"
#include "rng.h"

#include <math.h>
#include <stdlib.h>
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
    R_PRICE, R_BLOCKED, R_UNTRUSTED, R_ELIGIBLE, R_COUNT
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

static int keyset_init(struct keyset *ks, const uint8_t (*keys)[32],
                       size_t n)
{
    ks->keys = keys;
    ks->n = n;
    ks->slot = NULL;
    if (!n)
        return HEARTH_OK;
    if (!keys || n > UINT32_MAX / 4)
        return HEARTH_EINVAL;
    size_t size = 16;
    unsigned bits = 4;
    while (size < 2 * n) {
        size <<= 1;
        bits++;
    }
    if (size <= KEYSET_STACK) {
        ks->slot = ks->stack;
    } else if (!(ks->slot = malloc(size * sizeof *ks->slot))) {
        return HEARTH_ENOMEM;
    }
    memset(ks->slot, 0, size * sizeof *ks->slot);
    ks->shift = 64 - bits;
    ks->mask = size - 1;
    for (size_t i = 0; i < n; i++) {
        size_t h = key_hash(keys[i], ks->shift);
        while (ks->slot[h])
            h = (h + 1) & ks->mask;
        ks->slot[h] = (uint32_t)(i + 1);
    }
    return HEARTH_OK;
}

static void keyset_free(struct keyset *ks)
{
    if (ks->slot && ks->slot != ks->stack)
        free(ks->slot);
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
    if (o)
        m |= (unsigned)(o->cooldown_until > c->now) << R_COOL;
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

static void fill(const struct ctx *c, const hearth_peer *peers,
                 const hearth_peer_obs *obs, size_t i, hearth_candidate *out)
{
    struct raw r;
    uint64_t price = price_of(&peers[i].price, &c->usage);
    measure(c, &peers[i], obs ? &obs[i] : NULL, &r);
    out->index = i;
    out->price_msat = price;
    out->latency_ms = r.latency;
    out->rtt_ms = r.rtt;
    out->queue_ms = r.queue;
    out->run_ms = r.run;
    out->reliability = r.reliability;
    out->reputation = r.reputation;
    out->load = r.load;
    out->part.price = -log2(1.0 + (double)price);
    out->part.latency = -log2(1.0 + r.latency);
    out->part.reliability = 2.0 * log2(r.reliability);
    out->part.reputation = log2(0.5 + r.reputation);
    out->part.capacity = log2(1.0 - 0.5 * r.load);
    out->score = out->part.price + out->part.latency +
                 out->part.reliability + out->part.reputation +
                 out->part.capacity;
}

/* While ranking, a heap entry keeps its sort keys in score (primary) and
 * reliability (tie-break); fill() overwrites both with the real values. */
static inline int better(const hearth_candidate *a, const hearth_candidate *b)
{
    if (a->score != b->score)
        return a->score > b->score;
    if (a->reliability != b->reliability)
        return a->reliability > b->reliability;
    return a->index < b->index;
}

/* min-heap on "better": the root is the worst of the kept */
static void sift_down(hearth_candidate *h, size_t n, size_t i)
{
    hearth_candidate x = h[i];
    for (;;) {
        size_t k = 2 * i + 1;
        if (k >= n)
            break;
        if (k + 1 < n && better(&h[k], &h[k + 1]))
            k++;
        if (!better(&x, &h[k]))
            break;
        h[i] = h[k];
        i = k;
    }
    h[i] = x;
}

static void sift_up(hearth_candidate *h, size_t i)
{
    hearth_candidate x = h[i];
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!better(&h[up], &x))
            break;
        h[i] = h[up];
        i = up;
    }
    h[i] = x;
}

static void ctx_init(struct ctx *c, const hearth_select_req *req)
{
    c->kind = req->job_kind;
    c->model = req->model_hash;
    c->model_set = req->model_hash != 0;
    c->min_vram = req->min_vram_mb;
    c->max_tier = req->max_tier ? req->max_tier : 255u;
    c->rails = req->rails;
    c->rails_set = req->rails != 0;
    c->max_price = req->max_price_msat ? req->max_price_msat : UINT64_MAX;
    c->now = req->now;
    c->usage = req->usage;
    c->hash_k = (double)req->usage.hashes / 1000.0;
    c->tok_ms = ((double)req->usage.tokens_out +
                 (double)req->usage.tokens_in / PROMPT_SPEEDUP) * 1000.0;
    c->gpu_ms = (double)req->usage.gpu_ms;
    const hearth_usage *u = &req->usage;
    c->small_usage = (u->jobs | u->tokens_in | u->tokens_out | u->gpu_ms |
                      u->hashes) <= UINT32_MAX;
}

static void put_stats(hearth_select_stats *st, size_t n,
                      const size_t cnt[R_COUNT])
{
    if (!st)
        return;
    st->considered = n;
    st->wrong_kind = cnt[R_KIND];
    st->expired = cnt[R_EXPIRED];
    st->wrong_model = cnt[R_MODEL];
    st->too_small = cnt[R_SMALL];
    st->wrong_tier = cnt[R_TIER];
    st->no_rail = cnt[R_RAIL];
    st->full = cnt[R_FULL];
    st->cooling_down = cnt[R_COOL];
    st->too_expensive = cnt[R_PRICE];
    st->blocked = cnt[R_BLOCKED];
    st->untrusted = cnt[R_UNTRUSTED];
    st->eligible = cnt[R_ELIGIBLE];
}

/* Top-N: draw the choice among the best m and move it to the front */
static void pick(hearth_candidate *h, size_t m, hearth_strategy s,
                 uint64_t seed)
{
    uint64_t x = seed ^ 0x5ca1ab1e0ddba11u;
    double u = hearth_rng_unit(hearth_splitmix64(&x));
    size_t j = (size_t)(u * (double)m);
    if (s == HEARTH_STRATEGY_BALANCED) {
        /* probability proportional to 2^score: a peer half as good by
         * the score gets half the jobs */
        double w[HEARTH_SELECT_TOPN_MAX], sum = 0;
        for (size_t k = 0; k < m; k++)
            sum += w[k] = exp2(h[k].score - h[0].score);
        double t = u * sum;
        for (j = 0; j + 1 < m && t >= w[j]; j++)
            t -= w[j];
    }
    if (j >= m)
        j = m - 1;
    hearth_candidate chosen = h[j];
    memmove(&h[1], &h[0], j * sizeof *h);
    h[0] = chosen;
}

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

static void place(struct run *w, size_t i)
{
    size_t e = w->e++;
    if (e >= w->start && e < w->start + w->want)
        fill(&w->c, w->peers, w->obs, i, &w->out[e - w->start]);
    else if (e < w->wrapped)
        fill(&w->c, w->peers, w->obs, i, &w->out[w->m - w->start + e]);
}

/* an eligible peer: into the heap if it beats the worst kept one */
static inline void consider(struct run *w, size_t i, uint64_t price,
                            uint32_t free_slots, uint32_t total,
                            uint64_t mhash_s, uint32_t tokens_s,
                            struct obs_bound ob)
{
    if (w->strat == HEARTH_STRATEGY_ROUND_ROBIN || !w->k) {
        if (w->place)
            place(w, i);
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
            key_bound(HEARTH_STRATEGY_BALANCED, price, &r, ob) <
                w->h[0].reliability)
            return;
    }
    measure_obs(w->obs ? &w->obs[i] : NULL, &r);
    hearth_candidate e;
    e.index = i;
    keys_of(w->strat, price, &r, &e);
    if (w->size < w->k) {
        w->h[w->size] = e;
        sift_up(w->h, w->size++);
    } else if (better(&e, &w->h[0])) {
        w->h[0] = e;
        sift_down(w->h, w->size, 0);
    }
}

static void scan_plain(struct run *w, size_t n)
{
    const uint32_t kind = w->c.kind;
    for (size_t i = 0; i < n; i++) {
        const hearth_peer *p = &w->peers[i];
        if (p->job_kind != kind) {
            w->cnt[R_KIND]++;
            continue;
        }
        uint64_t price;
        unsigned why = reject(&w->c, p, w->obs ? &w->obs[i] : NULL, &price);
        w->cnt[why]++;
        if (why == R_ELIGIBLE)
            consider(w, i, price, p->capacity_free, p->capacity_total,
                     p->bench_mhash_s, p->bench_tokens_s, LOOSE);
    }
}

/* ---- the index: the same filters over a compact copy ----
 *
 * Struct of arrays in blocks: 4 bytes a field, 18 fields, 72 bytes a
 * peer, read as one sequential stream. Each block of 64 peers goes through two
 * loops. The first computes every peer's reason mask from the arrays
 * with nothing but compares, shifts and ors, which the compiler turns
 * into vector instructions (8 or 16 peers an instruction). The second,
 * scalar, counts the reasons and gathers the peers that passed, without
 * a branch; only those get a price and a place in the ranking. Values
 * that do not fit 32 bits mark a peer cold: it is judged from the
 * arrays by the plain code instead, so the result never differs. */

enum {
    A_KIND, A_EXPIRES, A_COOLDOWN, A_VRAM, A_FLAGS, A_CAP, A_MODEL0,
    A_MODEL1, A_MODEL2, A_PJOB, A_PIN, A_POUT, A_PGPU, A_PHASH, A_MHASH,
    A_TOKENS, A_RTT, A_TRUST, A_NCOLS
};
#define BLOCK 64
#define COLD_BIT 15   /* in a mask: judge this peer from the arrays */
/* flags: tier rank in bits 0-7, rails in 8-15, cold in bit 16 */

/* Clamping a time far from base is exact: selection only ever compares
 * it with a now within HOT_RANGE of base. */
#define HOT_RANGE (INT32_MAX / 2)

static size_t index_cap(size_t n)
{
    return (n + BLOCK - 1) / BLOCK * BLOCK;
}

/* field a of peer i: blocks of BLOCK peers, each holding its fields one
 * after the other (4.5 KiB), so a scan reads one sequential stream */
static inline uint32_t *cell(const hearth_select_index *ix, int a, size_t i)
{
    return (uint32_t *)ix->hot + ((i / BLOCK) * A_NCOLS + (size_t)a) * BLOCK +
           i % BLOCK;
}

static uint32_t rel_time(int64_t t, int64_t base)
{
    int64_t d;
    if (__builtin_sub_overflow(t, base, &d))
        d = t < base ? INT64_MIN : INT64_MAX;
    int32_t r = d < -2 * (int64_t)HOT_RANGE ? INT32_MIN + 1
                : d > 2 * (int64_t)HOT_RANGE ? INT32_MAX - 1 : (int32_t)d;
    return (uint32_t)r;
}

static void index_put(hearth_select_index *ix, const hearth_peer *p,
                      const hearth_peer_obs *o, size_t i)
{
    const hearth_price *pr = &p->price;
    int cold = p->nmodels > 3 || p->capacity_free > UINT16_MAX ||
               p->capacity_total > UINT16_MAX || pr->per_job > UINT32_MAX ||
               pr->per_mtok_in > UINT32_MAX || pr->per_mtok_out > UINT32_MAX ||
               pr->per_gpu_second > UINT32_MAX ||
               pr->per_mhash > UINT32_MAX || p->bench_mhash_s > UINT32_MAX;
    uint32_t v[A_NCOLS] = {0};
    v[A_KIND] = p->job_kind;
    v[A_EXPIRES] = p->expires_at ? rel_time(p->expires_at, ix->base)
                                 : (uint32_t)INT32_MAX;
    v[A_COOLDOWN] = o ? rel_time(o->cooldown_until, ix->base)
                      : (uint32_t)INT32_MIN;
    v[A_VRAM] = p->vram_mb;
    v[A_FLAGS] = tier_rank(p->tier) | (uint32_t)p->rails << 8 |
                 (uint32_t)cold << 16;
    if (!cold) {
        v[A_CAP] = p->capacity_free | p->capacity_total << 16;
        for (unsigned k = 0; k < p->nmodels; k++)
            v[A_MODEL0 + k] = p->model_hash[k];
        v[A_PJOB] = (uint32_t)pr->per_job;
        v[A_PIN] = (uint32_t)pr->per_mtok_in;
        v[A_POUT] = (uint32_t)pr->per_mtok_out;
        v[A_PGPU] = (uint32_t)pr->per_gpu_second;
        v[A_PHASH] = (uint32_t)pr->per_mhash;
        v[A_MHASH] = (uint32_t)p->bench_mhash_s;
        v[A_TOKENS] = p->bench_tokens_s;
    }
    /* the observations' part of the score, for the bounds: the round
     * trip as measure_obs() has it, and the trust factor rounded up */
    struct raw r = {0};
    measure_obs(o, &r);
    v[A_RTT] = (uint32_t)r.rtt;
    double t = r.reliability * r.reliability * (0.5 + r.reputation);
    float up = (float)t;
    if ((double)up < t)
        up = nextafterf(up, 2.0f);
    memcpy(&v[A_TRUST], &up, sizeof up);
    for (int a = 0; a < A_NCOLS; a++)
        *cell(ix, a, i) = v[a];
}

int hearth_select_index_build(const hearth_peer *peers,
                              const hearth_peer_obs *obs, size_t n,
                              int64_t now, hearth_select_index *ix)
{
    if (!ix || (n && !peers))
        return HEARTH_EINVAL;
    ix->hot = NULL;
    ix->n = 0;
    ix->base = now;
    size_t cap = index_cap(n ? n : 1);
    if (cap > SIZE_MAX / (A_NCOLS * sizeof(uint32_t)))
        return HEARTH_ENOMEM;
    /* zeroed: the padding of the last block is read, never counted */
    uint32_t *h = aligned_alloc(64, cap * A_NCOLS * sizeof *h);
    if (!h)
        return HEARTH_ENOMEM;
    memset(h, 0, cap * A_NCOLS * sizeof *h);
    ix->hot = h;
    ix->n = n;
    for (size_t i = 0; i < n; i++)
        index_put(ix, &peers[i], obs ? &obs[i] : NULL, i);
    return HEARTH_OK;
}

void hearth_select_index_update(hearth_select_index *ix,
                                const hearth_peer *peers,
                                const hearth_peer_obs *obs, size_t i)
{
    if (ix && ix->hot && peers && i < ix->n)
        index_put(ix, &peers[i], obs ? &obs[i] : NULL, i);
}

void hearth_select_index_free(hearth_select_index *ix)
{
    if (!ix)
        return;
    free(ix->hot);
    ix->hot = NULL;
    ix->n = 0;
}

/* the filter values as the vector loop wants them: plain locals */
struct want {
    uint32_t kind, model, model_set, min_vram, max_tier, rails, rails_set;
    int32_t now;
    const uint32_t *col[A_NCOLS];   /* the fields of the current block */
};

/* Where the compiler can, build block_masks twice, for AVX2 (8 peers an
 * instruction) and for the baseline (SSE2, 4), and pick at load time. */
#if defined(__x86_64__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#endif
#endif
#ifndef VECTOR_CLONES
#define VECTOR_CLONES
#endif

/* Reasons R_KIND..R_COOL of the BLOCK peers from i0 into mask, and how
 * many of the first len peers (cold ones aside) each reason rejects,
 * added to count. Compares, shifts, ors and sums over arrays, without a
 * branch: every loop here is vectorized. */
static VECTOR_CLONES void block_masks(const struct want *f, size_t len,
                                          uint32_t *restrict mask,
                                          uint32_t *restrict count)
{
    const uint32_t *restrict kind = f->col[A_KIND];
    const int32_t *restrict exp = (const int32_t *)f->col[A_EXPIRES];
    const int32_t *restrict cool = (const int32_t *)f->col[A_COOLDOWN];
    const uint32_t *restrict vram = f->col[A_VRAM];
    const uint32_t *restrict flags = f->col[A_FLAGS];
    const uint32_t *restrict cap = f->col[A_CAP];
    const uint32_t *restrict m0 = f->col[A_MODEL0];
    const uint32_t *restrict m1 = f->col[A_MODEL1];
    const uint32_t *restrict m2 = f->col[A_MODEL2];
    const uint32_t K = f->kind, M = f->model, MS = f->model_set,
                   V = f->min_vram, T = f->max_tier, R = f->rails,
                   RS = f->rails_set, L = (uint32_t)len;
    const int32_t now = f->now;
    uint32_t first[BLOCK];
    for (uint32_t j = 0; j < BLOCK; j++) {
        uint32_t fl = flags[j], c = cap[j];
        uint32_t no_model = (m0[j] != M) & (m1[j] != M) & (m2[j] != M) & MS;
        uint32_t full = ((c >> 16) != 0) & ((c & 0xffffu) == 0);
        uint32_t m = (uint32_t)(kind[j] != K) << R_KIND |
                     (uint32_t)(exp[j] <= now) << R_EXPIRED |
                     no_model << R_MODEL |
                     (uint32_t)(vram[j] < V) << R_SMALL |
                     (uint32_t)((fl & 0xffu) > T) << R_TIER |
                     ((((fl >> 8) & R) == 0) & RS) << R_RAIL |
                     full << R_FULL |
                     (uint32_t)(cool[j] > now) << R_COOL;
        uint32_t live = (uint32_t)(j < L), is_cold = (fl >> 16) & live;
        mask[j] = m | is_cold << COLD_BIT;
        /* the lowest set bit, for the live warm peers only */
        first[j] = (m & (0u - m)) & (0u - (live & (is_cold ^ 1u)));
    }
    for (int r = R_KIND; r <= R_COOL; r++) {
        uint32_t n = 0, bit = 1u << r;
        for (int j = 0; j < BLOCK; j++)
            n += first[j] == bit;
        count[r] += n;
    }
}

/* price_of for 32-bit prices: with usage below 2^32 too, every product
 * fits in 64 bits and each division by a constant is a multiplication;
 * usage figures that are 0 cost nothing (a loop-invariant branch) */
static inline uint64_t index_price(const struct ctx *c, const struct want *f,
                                   size_t j)
{
    const hearth_usage *u = &c->usage;
    if (!c->small_usage) {
        hearth_price p = {f->col[A_PJOB][j], f->col[A_PIN][j],
                          f->col[A_POUT][j], f->col[A_PGPU][j],
                          f->col[A_PHASH][j]};
        return price_of(&p, u);
    }
    uint64_t x = 0;
    if (u->tokens_in)
        x += ((uint64_t)f->col[A_PIN][j] * u->tokens_in + 999999) / 1000000;
    if (u->tokens_out)
        x += ((uint64_t)f->col[A_POUT][j] * u->tokens_out + 999999) /
             1000000;
    if (u->gpu_ms)
        x += ((uint64_t)f->col[A_PGPU][j] * u->gpu_ms + 999) / 1000;
    if (u->hashes)
        x += ((uint64_t)f->col[A_PHASH][j] * u->hashes + 999999) / 1000000;
    return sat_add(x, (uint64_t)f->col[A_PJOB][j] * u->jobs);
}

/* a cold peer, or one that passed the mask: the rest of the filters */
static void judge(struct run *w, const struct want *f, size_t i0, size_t j,
                  int cold)
{
    size_t i = i0 + j;
    const hearth_peer *p = &w->peers[i];
    uint64_t price;
    unsigned why;
    if (cold) {
        why = p->job_kind != w->c.kind
                  ? R_KIND
                  : reject(&w->c, p, w->obs ? &w->obs[i] : NULL, &price);
        w->cnt[why]++;
        if (why == R_ELIGIBLE)
            consider(w, i, price, p->capacity_free, p->capacity_total,
                     p->bench_mhash_s, p->bench_tokens_s, LOOSE);
        return;
    }
    price = index_price(&w->c, f, j);
    why = R_ELIGIBLE - (R_ELIGIBLE - R_PRICE) * (price > w->c.max_price);
    if ((w->c.block->n || w->c.trust->n) && why == R_ELIGIBLE)
        why = (unsigned)listed_out(&w->c, p);
    w->cnt[why]++;
    if (why == R_ELIGIBLE) {
        uint32_t cap = f->col[A_CAP][j], tb = f->col[A_TRUST][j];
        float trust;
        memcpy(&trust, &tb, sizeof trust);
        struct obs_bound ob = {f->col[A_RTT][j], trust};
        consider(w, i, price, cap & 0xffffu, cap >> 16, f->col[A_MHASH][j],
                 f->col[A_TOKENS][j], ob);
    }
}

static void flush_count(struct run *w, uint32_t count[R_COUNT])
{
    for (int r = 0; r < R_COUNT; r++) {
        w->cnt[r] += count[r];
        count[r] = 0;
    }
}

static void scan_index(struct run *w, const hearth_select_index *ix,
                       int32_t now)
{
    struct want f = {w->c.kind, w->c.model, w->c.model_set, w->c.min_vram,
                     w->c.max_tier, w->c.rails, w->c.rails_set, now, {0}};

    uint32_t mask[BLOCK], count[R_COUNT] = {0};
    uint8_t pass[BLOCK];
    for (size_t i0 = 0; i0 < ix->n; i0 += BLOCK) {
        size_t len = ix->n - i0 < BLOCK ? ix->n - i0 : BLOCK;
        for (int a = 0; a < A_NCOLS; a++)
            f.col[a] = cell(ix, a, i0);
        block_masks(&f, len, mask, count);
        size_t np = 0;
        uint32_t cold = 0;
        for (size_t j = 0; j < len; j++) {
            pass[np] = (uint8_t)j;
            np += mask[j] == 0;
            cold |= mask[j];
        }
        cold >>= COLD_BIT;
        if (__builtin_expect(cold, 0)) { /* in array order: round-robin */
            for (size_t j = 0; j < len; j++)
                if (mask[j] == 0 || mask[j] >> COLD_BIT)
                    judge(w, &f, i0, j, mask[j] != 0);
        } else {
            for (size_t k = 0; k < np; k++)
                judge(w, &f, i0, pass[k], 0);
        }
        if (i0 % (BLOCK << 16) == 0 || i0 + BLOCK >= ix->n)
            flush_count(w, count); /* before a uint32_t could overflow */
    }
}

int hearth_select(const hearth_peer *peers, const hearth_peer_obs *obs,
                  size_t n, const hearth_select_req *req,
                  hearth_candidate *out, size_t max_out, size_t *nout,
                  hearth_select_stats *stats)
{
    if (!req || !nout || (n && !peers) || (max_out && !out) ||
        (unsigned)req->strategy > HEARTH_STRATEGY_ROUND_ROBIN ||
        (req->index && req->index->n != n) ||
        (req->index && n && !req->index->hot))
        return HEARTH_EINVAL;
    *nout = 0;
    /* not memset: the key sets' stack tables alone are 16 KiB */
    struct run w;
    memset(w.cnt, 0, sizeof w.cnt);
    w.size = 0;
    ctx_init(&w.c, req);
    w.c.trust = &w.trust;
    w.c.block = &w.block;
    int rc = keyset_init(&w.trust, req->trust, req->ntrust);
    if (rc)
        return rc;
    if ((rc = keyset_init(&w.block, req->block, req->nblock))) {
        keyset_free(&w.trust);
        return rc;
    }
    w.peers = peers;
    w.obs = obs;
    w.strat = req->strategy;
    size_t top = req->top_n ? req->top_n : 1;
    if (top > HEARTH_SELECT_TOPN_MAX)
        top = HEARTH_SELECT_TOPN_MAX;
    /* keep at least top_n; beyond max_out they live on the stack */
    hearth_candidate spill[HEARTH_SELECT_TOPN_MAX];
    w.k = max_out;
    w.h = out;
    if (w.strat != HEARTH_STRATEGY_ROUND_ROBIN && top > max_out) {
        w.k = top;
        w.h = spill;
    }

    const hearth_select_index *ix = req->index;
    int64_t rel = ix ? req->now - ix->base : 0;
    int use_ix = ix && rel > -(int64_t)HOT_RANGE && rel < (int64_t)HOT_RANGE;
    w.place = 0;
    if (use_ix)
        scan_index(&w, ix, (int32_t)rel);
    else
        scan_plain(&w, n);
    put_stats(stats, n, w.cnt);

    if (w.strat == HEARTH_STRATEGY_ROUND_ROBIN) {
        /* the eligible peers in array order, from number seed mod m,
         * wrapping: a second pass, since m is known only after the first */
        w.m = w.cnt[R_ELIGIBLE];
        w.want = max_out < w.m ? max_out : w.m;
        if (w.want) {
            w.start = (size_t)(req->seed % w.m);
            w.wrapped = w.start + w.want > w.m ? w.start + w.want - w.m : 0;
            w.e = 0;
            w.out = out;
            w.place = 1;
            if (use_ix)
                scan_index(&w, ix, (int32_t)rel);
            else
                scan_plain(&w, n);
        }
        *nout = w.want;
    } else {
        hearth_candidate *h = w.h;
        size_t size = w.size;
        /* heap sort: pop the worst to the back, leaving best first */
        for (size_t end = size; end > 1; end--) {
            hearth_candidate t = h[0];
            h[0] = h[end - 1];
            h[end - 1] = t;
            sift_down(h, end - 1, 0);
        }
        for (size_t j = 0; j < size; j++)
            fill(&w.c, peers, obs, h[j].index, &h[j]);
        size_t m = top < size ? top : size;
        if (m > 1)
            pick(h, m, w.strat, req->seed);
        *nout = size < max_out ? size : max_out;
        if (h != out && *nout)
            memcpy(out, h, *nout * sizeof *out);
    }
    keyset_free(&w.trust);
    keyset_free(&w.block);
    return HEARTH_OK;
}

uint32_t hearth_model_hash(const char *name)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *s = (const unsigned char *)name; *s; s++) {
        h ^= *s;
        h *= 16777619u;
    }
    return h ? h : 1u;
}

void hearth_peer_from_offer(const hearth_offer *o, hearth_peer *out)
{
    memset(out, 0, sizeof *out);
    memcpy(out->pubkey, o->pubkey, 32);
    out->job_kind = o->job_kind;
    out->backend = (uint8_t)o->backend;
    out->tier = o->hw.tier;
    out->rails = (uint8_t)o->rails;
    size_t nm = o->nmodels < HEARTH_OFFER_MAX_MODELS ? o->nmodels
                                                      : HEARTH_OFFER_MAX_MODELS;
    out->nmodels = (uint8_t)nm;
    for (size_t i = 0; i < nm; i++)
        out->model_hash[i] = hearth_model_hash(o->models[i]);
    out->vram_mb = o->hw.vram_mb;
    out->price = o->price;
    out->bench_mhash_s = o->bench_mhash_s;
    out->bench_tokens_s = o->bench_tokens_s;
    out->capacity_free = o->capacity_free;
    out->capacity_total = o->capacity_total;
    out->expires_at = o->expires_at;
}

static const char *const strategy_names[] = {
    [HEARTH_STRATEGY_BALANCED] = "balanced",
    [HEARTH_STRATEGY_CHEAPEST] = "cheapest",
    [HEARTH_STRATEGY_FASTEST] = "fastest",
    [HEARTH_STRATEGY_LEAST_LOADED] = "least-loaded",
    [HEARTH_STRATEGY_ROUND_ROBIN] = "round-robin",
};

int hearth_strategy_parse(const char *name, hearth_strategy *out)
{
    if (!name || !out)
        return HEARTH_EINVAL;
    for (size_t s = 0; s < sizeof strategy_names / sizeof *strategy_names;
         s++) {
        const char *a = strategy_names[s], *b = name;
        while (*a && (*a == *b || (*a == '-' && *b == '_'))) {
            a++;
            b++;
        }
        if (!*a && !*b) {
            *out = (hearth_strategy)s;
            return HEARTH_OK;
        }
    }
    return HEARTH_EINVAL;
}

const char *hearth_strategy_name(hearth_strategy s)
{
    if ((unsigned)s >= sizeof strategy_names / sizeof *strategy_names)
        return "unknown";
    return strategy_names[s];
}
