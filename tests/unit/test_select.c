/* Peer selection (src/market/select.c): properties over random peers and
 * requests, checked against a small reference written from the header's
 * contract, with and without the index; then each strategy, top-N,
 * round-robin, cooldown, the lists and the helpers. */
#include "hearth/error.h"
#include "hearth/offer.h"
#include "hearth/select.h"
#include "tap.h"

#include <math.h>
#include <stdint.h>

#define NOW 1700000000

/* the test's own PRNG (splitmix64), so it shares nothing with the code */
static uint64_t rng_state = 12345;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static uint64_t below(uint64_t n)
{
    return n ? rnd() % n : 0;
}

static const uint32_t kinds[] = {5050, 5970, 5100};
static uint32_t models[6];

/* mostly ordinary values, with every edge the code special-cases */
static void random_peer(hearth_peer *p, hearth_peer_obs *o, size_t i)
{
    memset(p, 0, sizeof *p);
    for (int k = 0; k < 32; k++)
        p->pubkey[k] = (uint8_t)rnd();
    p->pubkey[0] = (uint8_t)(i & 0x3f); /* small key space: list hits */
    p->pubkey[1] = 0;
    p->job_kind = kinds[below(3)];
    p->backend = 1 + (uint8_t)below(3);
    p->tier = (uint8_t)below(6);
    p->rails = (uint8_t)below(4);
    p->nmodels = (uint8_t)(below(10) == 0 ? 4 + below(13) : below(4));
    for (unsigned k = 0; k < p->nmodels; k++)
        p->model_hash[k] = models[below(6)];
    p->vram_mb = (uint32_t)below(4) * 6000;
    p->price.per_job = below(5) == 0 ? 0 : below(3000);
    p->price.per_mtok_in = below(200000);
    p->price.per_mtok_out = below(900000);
    p->price.per_gpu_second = below(4) == 0 ? below(100) : 0;
    p->price.per_mhash = below(3);
    if (below(40) == 0) /* does not fit the index's 32 bits */
        p->price.per_mtok_out = (uint64_t)1 << 40;
    if (below(200) == 0)
        p->price.per_job = UINT64_MAX; /* saturates */
    p->bench_mhash_s = below(5) == 0 ? 0 : below(20000);
    if (below(100) == 0)
        p->bench_mhash_s = (uint64_t)1 << 33;
    p->bench_tokens_s = below(5) == 0 ? 0 : (uint32_t)below(150);
    p->capacity_total = (uint32_t)below(4);
    p->capacity_free = (uint32_t)below(p->capacity_total + 2);
    if (below(100) == 0)
        p->capacity_total = p->capacity_free = 70000;
    int64_t e[] = {0, NOW - 5, NOW, NOW + 1, NOW + 300, INT64_MAX,
                   INT64_MIN + 1};
    p->expires_at = below(3) ? NOW + 60 : e[below(7)];
    memset(o, 0, sizeof *o);
    o->rtt_ms = (uint32_t)below(400);
    o->jobs_ok = (uint32_t)below(50);
    o->jobs_failed = (uint32_t)below(10);
    o->consecutive_failures = (uint32_t)(below(4) ? 0 : below(40));
    int64_t c[] = {0, NOW - 1, NOW, NOW + 1, NOW + 3600, INT64_MAX};
    o->cooldown_until = below(3) ? 0 : c[below(6)];
    float reps[] = {0.5f, 0.0f, 1.0f, 0.9f, -1.0f, 7.0f, NAN};
    o->reputation = reps[below(7)];
}

static void random_req(hearth_select_req *r, const uint8_t (*keys)[32],
                       size_t nkeys)
{
    memset(r, 0, sizeof *r);
    r->job_kind = kinds[below(3)];
    r->model_hash = below(2) ? 0 : models[below(6)];
    r->min_vram_mb = below(2) ? 0 : (uint32_t)below(3) * 6000;
    r->max_tier = (uint8_t)below(5);
    r->rails = (uint8_t)below(4);
    r->max_price_msat = below(3) ? 0 : 50 + below(3000);
    r->usage.jobs = 1;
    r->usage.tokens_in = below(2000);
    r->usage.tokens_out = below(800);
    r->usage.hashes = below(2) ? 0 : below((uint64_t)1 << 34);
    r->usage.gpu_ms = below(4) ? 0 : below(5000);
    if (below(20) == 0)
        r->usage.tokens_out = (uint64_t)1 << 40; /* past 32 bits */
    if (below(4) == 0 && nkeys) {
        r->trust = keys;
        r->ntrust = 1 + below(nkeys - 1);
    }
    if (below(4) == 0 && nkeys) {
        r->block = keys + below(nkeys / 2);
        r->nblock = 1 + below(nkeys / 2);
    }
    r->strategy = (hearth_strategy)below(5);
    r->top_n = 1;
    r->seed = rnd();
    r->now = NOW;
}

/* ---- the reference: the header's contract, written plainly ---- */

enum { K_KIND, K_EXPIRED, K_MODEL, K_SMALL, K_TIER, K_RAIL, K_FULL, K_COOL,
       K_PRICE, K_BLOCKED, K_UNTRUSTED, K_OK };

static int listed(const uint8_t (*keys)[32], size_t n, const uint8_t *pk)
{
    for (size_t i = 0; i < n; i++)
        if (!memcmp(keys[i], pk, 32))
            return 1;
    return 0;
}

static int ref_reason(const hearth_peer *p, const hearth_peer_obs *o,
                      const hearth_select_req *r)
{
    if (p->job_kind != r->job_kind)
        return K_KIND;
    if (p->expires_at != 0 && p->expires_at <= r->now)
        return K_EXPIRED;
    if (r->model_hash) {
        int found = 0;
        for (unsigned k = 0; k < p->nmodels && k < 16; k++)
            found |= p->model_hash[k] == r->model_hash;
        if (!found)
            return K_MODEL;
    }
    if (p->vram_mb < r->min_vram_mb)
        return K_SMALL;
    if (r->max_tier && (p->tier == 0 || p->tier > r->max_tier))
        return K_TIER;
    if (r->rails && !(p->rails & r->rails))
        return K_RAIL;
    if (p->capacity_total && !p->capacity_free)
        return K_FULL;
    if (o && o->cooldown_until > r->now)
        return K_COOL;
    if (r->max_price_msat &&
        hearth_offer_price(&p->price, &r->usage) > r->max_price_msat)
        return K_PRICE;
    if (r->nblock && listed(r->block, r->nblock, p->pubkey))
        return K_BLOCKED;
    if (r->ntrust && !listed(r->trust, r->ntrust, p->pubkey))
        return K_UNTRUSTED;
    return K_OK;
}

static size_t stat_of(const hearth_select_stats *s, int k)
{
    switch (k) {
    case K_KIND: return s->wrong_kind;
    case K_EXPIRED: return s->expired;
    case K_MODEL: return s->wrong_model;
    case K_SMALL: return s->too_small;
    case K_TIER: return s->wrong_tier;
    case K_RAIL: return s->no_rail;
    case K_FULL: return s->full;
    case K_COOL: return s->cooling_down;
    case K_PRICE: return s->too_expensive;
    case K_BLOCKED: return s->blocked;
    case K_UNTRUSTED: return s->untrusted;
    default: return s->eligible;
    }
}

/* the rank order each strategy promises, for adjacent candidates */
static int in_order(hearth_strategy s, const hearth_candidate *a,
                    const hearth_candidate *b)
{
    switch (s) {
    case HEARTH_STRATEGY_CHEAPEST:
        return a->price_msat <= b->price_msat;
    case HEARTH_STRATEGY_FASTEST:
        return a->latency_ms <= b->latency_ms;
    case HEARTH_STRATEGY_LEAST_LOADED:
        return a->load <= b->load;
    default:
        return a->score >= b->score - 1e-9;
    }
}

static int same_cands(const hearth_candidate *a, const hearth_candidate *b,
                      size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a[i].index != b[i].index || a[i].score != b[i].score ||
            a[i].price_msat != b[i].price_msat)
            return 0;
    return 1;
}

#define NPEERS 600

static void property_round(hearth_peer *peers, hearth_peer_obs *obs,
                           const uint8_t (*keys)[32], size_t nkeys)
{
    static hearth_candidate all[NPEERS], all_ix[NPEERS], few[8];
    hearth_select_req req;
    hearth_select_stats st, st_ix;
    size_t n = 50 + below(NPEERS - 50), nout = 0, nout_ix = 0, nfew = 0;
    int use_obs = below(5) != 0;
    const hearth_peer_obs *ob = use_obs ? obs : NULL;
    for (size_t i = 0; i < n; i++)
        random_peer(&peers[i], &obs[i], i);
    random_req(&req, keys, nkeys);
    if (req.strategy == HEARTH_STRATEGY_ROUND_ROBIN)
        req.strategy = HEARTH_STRATEGY_BALANCED; /* tested on its own */
    CHECK(hearth_select(peers, ob, n, &req, all, n, &nout, &st) == 0);

    /* every peer is where the reference says, and counted there */
    size_t want[K_OK + 1] = {0};
    static int ok[NPEERS];
    for (size_t i = 0; i < n; i++) {
        int k = ref_reason(&peers[i], use_obs ? &obs[i] : NULL, &req);
        want[k]++;
        ok[i] = k == K_OK;
    }
    CHECK(st.considered == n);
    for (int k = 0; k <= K_OK; k++)
        CHECKF(stat_of(&st, k) == want[k], "reason %d: %zu, want %zu", k,
               stat_of(&st, k), want[k]);
    CHECK(nout == want[K_OK]);
    for (size_t j = 0; j < nout; j++) {
        const hearth_candidate *c = &all[j];
        CHECK(c->index < n && ok[c->index]);
        ok[c->index] = 2; /* returned once */
        CHECK(c->price_msat ==
              hearth_offer_price(&peers[c->index].price, &req.usage));
        CHECK(fabs(c->latency_ms - (c->rtt_ms + c->queue_ms + c->run_ms)) <=
              1e-9 * c->latency_ms);
        double sum = c->part.price + c->part.latency + c->part.reliability +
                     c->part.reputation + c->part.capacity;
        CHECK(fabs(c->score - sum) < 1e-9);
        CHECK(c->reliability > 0 && c->reliability < 1);
        CHECK(c->reputation >= 0 && c->reputation <= 1);
        CHECK(c->load >= 0 && c->load <= 1);
        if (j)
            CHECKF(in_order(req.strategy, &all[j - 1], c),
                   "%s: %zu after %zu", hearth_strategy_name(req.strategy),
                   c->index, all[j - 1].index);
    }
    for (size_t i = 0; i < n; i++)
        CHECK(ok[i] != 1); /* no eligible peer left out */

    /* the index gives the same, bit for bit */
    hearth_select_index ix;
    CHECK(hearth_select_index_build(peers, ob, n, NOW - 1000, &ix) == 0);
    req.index = &ix;
    CHECK(hearth_select(peers, ob, n, &req, all_ix, n, &nout_ix, &st_ix) ==
          0);
    CHECK(nout_ix == nout && same_cands(all, all_ix, nout));
    CHECK(!memcmp(&st, &st_ix, sizeof st));
    if (memcmp(&st, &st_ix, sizeof st))
        for (int k = 0; k <= K_OK; k++)
            if (stat_of(&st, k) != stat_of(&st_ix, k))
                fprintf(stderr, "  reason %d: %zu plain, %zu index\n", k,
                        stat_of(&st, k), stat_of(&st_ix, k));

    /* a few: the same as the head of the full ranking (the heap and the
     * pruning lose nothing) */
    size_t k = 1 + below(8);
    for (int mode = 0; mode < 2; mode++) {
        req.index = mode ? &ix : NULL;
        CHECK(hearth_select(peers, ob, n, &req, few, k, &nfew, NULL) == 0);
        CHECK(nfew == (k < nout ? k : nout));
        CHECKF(same_cands(all, few, nfew), "%s, %zu of %zu, index %d",
               hearth_strategy_name(req.strategy), k, nout, mode);
    }
    hearth_select_index_free(&ix);
}

static void test_properties(void)
{
    static hearth_peer peers[NPEERS];
    static hearth_peer_obs obs[NPEERS];
    static uint8_t keys[200][32];
    for (size_t i = 0; i < 200; i++) {
        for (int b = 0; b < 32; b++)
            keys[i][b] = (uint8_t)rnd();
        keys[i][0] = (uint8_t)(i & 0x3f);
        keys[i][1] = 0;
    }
    /* plant real peer keys in the lists: the test makes them collide on
     * purpose by copying peers' keys after generation */
    for (int round = 0; round < 300; round++) {
        property_round(peers, obs, (const uint8_t(*)[32])keys, 200);
        for (size_t i = 0; i < 200; i += 3)
            memcpy(keys[i], peers[below(50)].pubkey, 32);
    }
}

/* a tidy market for the strategy tests: eligible text offers that differ
 * in one thing at a time */
static void plain_peer(hearth_peer *p, uint64_t per_mtok_out,
                       uint32_t tokens_s, uint32_t free_slots)
{
    memset(p, 0, sizeof *p);
    p->pubkey[0] = (uint8_t)per_mtok_out;
    p->pubkey[1] = (uint8_t)tokens_s;
    p->pubkey[2] = (uint8_t)free_slots;
    p->job_kind = 5050;
    p->tier = 2;
    p->rails = HEARTH_RAIL_LIGHTNING;
    p->vram_mb = 12000;
    p->price.per_mtok_out = per_mtok_out;
    p->bench_tokens_s = tokens_s;
    p->capacity_total = 4;
    p->capacity_free = free_slots;
    p->expires_at = NOW + 100;
}

static void base_req(hearth_select_req *r, hearth_strategy s)
{
    memset(r, 0, sizeof *r);
    r->job_kind = 5050;
    r->usage = (hearth_usage){.jobs = 1, .tokens_out = 500};
    r->strategy = s;
    r->top_n = 1;
    r->now = NOW;
}

static void test_strategies(void)
{
    hearth_peer p[5];
    hearth_candidate out[5];
    size_t n = 0;
    hearth_select_req r;
    /* price, speed, free slots: cheap+slow, dear+fast, mid+idle, ... */
    plain_peer(&p[0], 100000, 20, 2);
    plain_peer(&p[1], 900000, 140, 2);
    plain_peer(&p[2], 400000, 60, 4);
    plain_peer(&p[3], 300000, 50, 1);
    plain_peer(&p[4], 100000, 20, 3); /* ties p[0] on price */

    base_req(&r, HEARTH_STRATEGY_CHEAPEST);
    CHECK(hearth_select(p, NULL, 5, &r, out, 5, &n, NULL) == 0 && n == 5);
    /* tie on price: the better score wins (p[4] is less loaded) */
    CHECK(out[0].index == 4 && out[1].index == 0);
    base_req(&r, HEARTH_STRATEGY_FASTEST);
    CHECK(hearth_select(p, NULL, 5, &r, out, 5, &n, NULL) == 0);
    CHECK(out[0].index == 1);
    base_req(&r, HEARTH_STRATEGY_LEAST_LOADED);
    CHECK(hearth_select(p, NULL, 5, &r, out, 5, &n, NULL) == 0);
    CHECK(out[0].index == 2 && out[0].load == 0);
    CHECK(out[4].index == 3 && out[4].load == 0.75);

    /* balanced: the best product of the factors; here the fast one
     * (9x the price, 7x the speed) loses to the middle */
    base_req(&r, HEARTH_STRATEGY_BALANCED);
    CHECK(hearth_select(p, NULL, 5, &r, out, 5, &n, NULL) == 0);
    for (size_t i = 1; i < n; i++)
        CHECK(out[i - 1].score >= out[i].score);
    CHECK(out[0].index != 1);

    /* explain: the parts as documented */
    const hearth_candidate *c = &out[0];
    CHECK(fabs(c->part.price + log2(1.0 + (double)c->price_msat)) < 1e-12);
    CHECK(fabs(c->part.latency + log2(1.0 + c->latency_ms)) < 1e-12);
    CHECK(fabs(c->part.reliability - 2 * log2(0.8)) < 1e-12); /* prior */
    CHECK(c->part.reputation == 0.0);                       /* 0.5 + 0.5 */
    CHECK(c->rtt_ms == 250.0);                              /* unknown */

    /* prices past 2^53 msat are still ordered exactly */
    hearth_peer big[3];
    plain_peer(&big[0], 0, 50, 2);
    plain_peer(&big[1], 0, 50, 2);
    plain_peer(&big[2], 0, 50, 2);
    big[0].price.per_job = ((uint64_t)1 << 60) + 1;
    big[1].price.per_job = (uint64_t)1 << 60;
    big[2].price.per_job = ((uint64_t)1 << 60) + 2;
    base_req(&r, HEARTH_STRATEGY_CHEAPEST);
    for (int mode = 0; mode < 2; mode++) {
        hearth_select_index bix;
        CHECK(hearth_select_index_build(big, NULL, 3, NOW, &bix) == 0);
        r.index = mode ? &bix : NULL;
        CHECK(hearth_select(big, NULL, 3, &r, out, 1, &n, NULL) == 0);
        CHECK(n == 1 && out[0].index == 1);
        hearth_select_index_free(&bix);
    }
    r.index = NULL;

    /* the run time follows the benchmark: 500 tokens at 20/s = 25 s */
    base_req(&r, HEARTH_STRATEGY_CHEAPEST);
    CHECK(hearth_select(p, NULL, 5, &r, out, 1, &n, NULL) == 0);
    CHECK(fabs(out[0].run_ms - 25000.0) < 1e-6);
}

static void test_cooldown_and_obs(void)
{
    hearth_peer p[3];
    hearth_peer_obs o[3];
    hearth_candidate out[3];
    hearth_select_stats st;
    size_t n;
    hearth_select_req r;
    for (int i = 0; i < 3; i++) {
        plain_peer(&p[i], 100000 * (uint64_t)(i + 1), 50, 2);
        memset(&o[i], 0, sizeof o[i]);
        o[i].reputation = 0.5f;
    }
    base_req(&r, HEARTH_STRATEGY_CHEAPEST);
    o[0].cooldown_until = NOW + 1; /* cooling down: skipped */
    o[1].cooldown_until = NOW;     /* over now: back */
    hearth_select_index ix;
    CHECK(hearth_select_index_build(p, o, 3, NOW, &ix) == 0);
    for (int mode = 0; mode < 2; mode++) {
        r.index = mode ? &ix : NULL;
        CHECK(hearth_select(p, o, 3, &r, out, 3, &n, &st) == 0);
        CHECK(n == 2 && out[0].index == 1 && st.cooling_down == 1);
    }
    /* the cooldown ends: after an update the index agrees */
    o[0].cooldown_until = NOW - 1;
    hearth_select_index_update(&ix, p, o, 0);
    CHECK(hearth_select(p, o, 3, &r, out, 3, &n, &st) == 0 && n == 3);
    CHECK(out[0].index == 0);
    /* without the update the index would still skip it: it is a copy */
    r.now = NOW + 10;
    o[2].cooldown_until = NOW + 100;
    CHECK(hearth_select(p, o, 3, &r, out, 3, &n, &st) == 0 && n == 3);
    hearth_select_index_free(&ix);

    /* failures lower reliability, consecutive ones halve it */
    r.index = NULL;
    r.now = NOW;
    memset(o, 0, sizeof o);
    o[0].jobs_ok = 20;
    o[1].jobs_ok = 20;
    o[1].jobs_failed = 2;
    o[1].consecutive_failures = 2;
    base_req(&r, HEARTH_STRATEGY_BALANCED);
    p[1].price = p[0].price;
    CHECK(hearth_select(p, o, 2, &r, out, 2, &n, NULL) == 0 && n == 2);
    CHECK(out[0].index == 0 && out[1].index == 1);
    CHECK(fabs(out[0].reliability - 24.0 / 25.0) < 1e-12);
    CHECK(fabs(out[1].reliability - 24.0 / 27.0 / 4.0) < 1e-12);
}

static void test_round_robin(void)
{
    hearth_peer p[12];
    hearth_candidate out[4];
    size_t n;
    hearth_select_req r;
    for (int i = 0; i < 12; i++)
        plain_peer(&p[i], 1000 + (uint64_t)i, 50, 2);
    p[3].job_kind = 5970; /* not eligible: 10 remain */
    p[7].capacity_free = 0;
    size_t elig[] = {0, 1, 2, 4, 5, 6, 8, 9, 10, 11};
    hearth_select_index ix;
    CHECK(hearth_select_index_build(p, NULL, 12, NOW, &ix) == 0);
    for (int mode = 0; mode < 2; mode++) {
        base_req(&r, HEARTH_STRATEGY_ROUND_ROBIN);
        r.index = mode ? &ix : NULL;
        r.top_n = 5; /* ignored */
        int seen[12] = {0};
        for (uint64_t s = 0; s < 10; s++) {
            r.seed = s + 20; /* 20 mod 10 = 0 */
            CHECK(hearth_select(p, NULL, 12, &r, out, 3, &n, NULL) == 0);
            CHECK(n == 3);
            CHECK(out[0].index == elig[s]);
            CHECK(out[1].index == elig[(s + 1) % 10]);
            CHECK(out[2].index == elig[(s + 2) % 10]);
            seen[out[0].index]++;
        }
        for (size_t i = 0; i < 10; i++)
            CHECK(seen[elig[i]] == 1);
    }
    hearth_select_index_free(&ix);
}

/* chi-square of counts against expected shares, df = k - 1 */
static double chi2(const size_t *count, const double *share, size_t k,
                   size_t total)
{
    double x = 0;
    for (size_t i = 0; i < k; i++) {
        double e = share[i] * (double)total;
        x += (count[i] - e) * (count[i] - e) / e;
    }
    return x;
}

static void test_top_n(void)
{
    hearth_peer p[8];
    hearth_candidate out[8];
    size_t n;
    hearth_select_req r;
    for (int i = 0; i < 8; i++)
        plain_peer(&p[i], 100000 + 1000 * (uint64_t)i, 50, 2);
    /* cheapest, top 5: the 5 cheapest, uniformly; never the others */
    size_t count[8] = {0};
    const size_t rounds = 20000;
    base_req(&r, HEARTH_STRATEGY_CHEAPEST);
    r.top_n = 5;
    for (uint64_t s = 0; s < rounds; s++) {
        r.seed = s;
        CHECK(hearth_select(p, NULL, 8, &r, out, 3, &n, NULL) == 0);
        count[out[0].index]++;
        /* the rest stay in rank order */
        CHECK(n == 3 && out[1].price_msat <= out[2].price_msat);
    }
    double uni[5] = {0.2, 0.2, 0.2, 0.2, 0.2};
    double x = chi2(count, uni, 5, rounds);
    CHECKF(x < 18.47, "chi2 %.2f (df 4, p 0.001)", x); /* uniform */
    CHECK(count[5] == 0 && count[6] == 0 && count[7] == 0);

    /* balanced: probability proportional to 2^score */
    base_req(&r, HEARTH_STRATEGY_BALANCED);
    r.top_n = 4;
    plain_peer(&p[0], 100000, 50, 2);
    plain_peer(&p[1], 200000, 50, 2); /* half the utility */
    plain_peer(&p[2], 400000, 50, 2); /* a quarter */
    plain_peer(&p[3], 400000, 50, 2);
    memset(count, 0, sizeof count);
    CHECK(hearth_select(p, NULL, 4, &r, out, 4, &n, NULL) == 0 && n == 4);
    double w[4], sum = 0;
    for (int i = 0; i < 4; i++)
        sum += w[i] = exp2(out[i].score);
    double share[4];
    size_t idx[4];
    for (int i = 0; i < 4; i++) {
        share[i] = w[i] / sum;
        idx[i] = out[i].index;
    }
    for (uint64_t s = 0; s < rounds; s++) {
        r.seed = s * 7919;
        CHECK(hearth_select(p, NULL, 4, &r, out, 1, &n, NULL) == 0);
        for (int i = 0; i < 4; i++)
            count[i] += out[0].index == idx[i];
    }
    x = chi2(count, share, 4, rounds);
    CHECKF(x < 16.27, "chi2 %.2f (df 3, p 0.001)", x);
    CHECK(count[0] > count[1] && count[1] > count[2]);

    /* top_n 1 never randomises; top_n beyond max_out still spreads */
    base_req(&r, HEARTH_STRATEGY_CHEAPEST);
    for (uint64_t s = 0; s < 50; s++) {
        r.seed = s;
        CHECK(hearth_select(p, NULL, 4, &r, out, 1, &n, NULL) == 0);
        CHECK(out[0].index == 0);
    }
    r.top_n = 3;
    int hit[4] = {0};
    for (uint64_t s = 0; s < 300; s++) {
        r.seed = s;
        CHECK(hearth_select(p, NULL, 4, &r, out, 1, &n, NULL) == 0);
        CHECK(n == 1);
        hit[out[0].index]++;
    }
    CHECK(hit[0] > 50 && hit[1] > 50 && hit[2] + hit[3] > 50);
}

static void test_lists(void)
{
    /* lists past the stack tables: 3000 keys, heap-allocated */
    enum { N = 3000 };
    static hearth_peer p[N];
    static uint8_t keys[N][32];
    hearth_candidate out[4];
    hearth_select_stats st;
    size_t n;
    for (size_t i = 0; i < N; i++) {
        plain_peer(&p[i], 1000 + i, 50, 2);
        for (int b = 0; b < 32; b++)
            p[i].pubkey[b] = (uint8_t)rnd();
        memcpy(keys[i], p[i].pubkey, 32);
    }
    hearth_select_req r;
    base_req(&r, HEARTH_STRATEGY_CHEAPEST);
    r.block = (const uint8_t(*)[32])keys;
    r.nblock = N - 1; /* all but the last */
    CHECK(hearth_select(p, NULL, N, &r, out, 4, &n, &st) == 0);
    CHECK(n == 1 && out[0].index == N - 1 && st.blocked == N - 1);
    r.nblock = 0;
    r.trust = (const uint8_t(*)[32])(keys + 2000);
    r.ntrust = 1000;
    CHECK(hearth_select(p, NULL, N, &r, out, 4, &n, &st) == 0);
    CHECK(n == 4 && out[0].index == 2000 && st.untrusted == 2000);
}

static void test_errors_and_helpers(void)
{
    hearth_peer p;
    hearth_candidate out[1];
    size_t n = 7;
    hearth_select_req r;
    plain_peer(&p, 1000, 50, 1);
    base_req(&r, HEARTH_STRATEGY_BALANCED);
    CHECK(hearth_select(&p, NULL, 1, NULL, out, 1, &n, NULL) == HEARTH_EINVAL);
    CHECK(hearth_select(&p, NULL, 1, &r, out, 1, NULL, NULL) == HEARTH_EINVAL);
    CHECK(hearth_select(NULL, NULL, 1, &r, out, 1, &n, NULL) == HEARTH_EINVAL);
    CHECK(hearth_select(&p, NULL, 1, &r, NULL, 1, &n, NULL) == HEARTH_EINVAL);
    r.strategy = (hearth_strategy)9;
    CHECK(hearth_select(&p, NULL, 1, &r, out, 1, &n, NULL) == HEARTH_EINVAL);
    base_req(&r, HEARTH_STRATEGY_BALANCED);
    hearth_select_index ix;
    CHECK(hearth_select_index_build(&p, NULL, 1, NOW, &ix) == 0);
    r.index = &ix;
    CHECK(hearth_select(&p, NULL, 0, &r, out, 1, &n, NULL) == HEARTH_EINVAL);
    CHECK(hearth_select(&p, NULL, 1, &r, out, 0, &n, NULL) == 0 && n == 0);
    hearth_select_index_free(&ix);
    r.index = NULL;
    CHECK(hearth_select(NULL, NULL, 0, &r, NULL, 0, &n, NULL) == 0 && n == 0);
    /* a request far from the index's base falls back to the arrays */
    CHECK(hearth_select_index_build(&p, NULL, 1, NOW - 2000000000, &ix) == 0);
    r.index = &ix;
    CHECK(hearth_select(&p, NULL, 1, &r, out, 1, &n, NULL) == 0 && n == 1);
    hearth_select_index_free(&ix);

    /* FNV-1a, never 0 */
    CHECK(hearth_model_hash("") == 2166136261u);
    CHECK(hearth_model_hash("a") == 0xe40c292cu);
    CHECK(hearth_model_hash("llama") != hearth_model_hash("Llama"));

    hearth_strategy s;
    for (int i = 0; i <= HEARTH_STRATEGY_ROUND_ROBIN; i++) {
        CHECK(hearth_strategy_parse(hearth_strategy_name((hearth_strategy)i),
                                    &s) == 0 && (int)s == i);
    }
    CHECK(hearth_strategy_parse("least_loaded", &s) == 0 &&
          s == HEARTH_STRATEGY_LEAST_LOADED);
    CHECK(hearth_strategy_parse("round-rob", &s) == HEARTH_EINVAL);
    CHECK(hearth_strategy_parse("", &s) == HEARTH_EINVAL);
    CHECK(!strcmp(hearth_strategy_name((hearth_strategy)42), "unknown"));

    hearth_offer o;
    memset(&o, 0, sizeof o);
    o.pubkey[0] = 7;
    o.job_kind = 5050;
    o.backend = HEARTH_BACKEND_OPENAI;
    o.hw.tier = 2;
    o.hw.vram_mb = 12288;
    o.nmodels = 2;
    strcpy(o.models[0], "llama-3.1-8b-q4");
    strcpy(o.models[1], "qwen2.5-14b-q4");
    o.price.per_mtok_out = 500000;
    o.bench_tokens_s = 55;
    o.capacity_free = 1;
    o.capacity_total = 2;
    o.rails = HEARTH_RAIL_LIGHTNING;
    o.expires_at = NOW + 120;
    hearth_peer_from_offer(&o, &p);
    CHECK(p.pubkey[0] == 7 && p.job_kind == 5050 && p.tier == 2);
    CHECK(p.nmodels == 2 &&
          p.model_hash[1] == hearth_model_hash("qwen2.5-14b-q4"));
    CHECK(p.price.per_mtok_out == 500000 && p.bench_tokens_s == 55);
    CHECK(p.capacity_free == 1 && p.capacity_total == 2);
    CHECK(p.rails == HEARTH_RAIL_LIGHTNING && p.expires_at == NOW + 120);
}

int main(void)
{
    for (int i = 0; i < 6; i++) {
        static const char *names[] = {"llama-3.1-8b-q4", "qwen2.5-14b-q4",
                                      "qwen2.5-32b-q4", "mistral-7b",
                                      "phi-3", "sdxl"};
        models[i] = hearth_model_hash(names[i]);
    }
    test_properties();
    test_strategies();
    test_cooldown_and_obs();
    test_round_robin();
    test_top_n();
    test_lists();
    test_errors_and_helpers();
    return tap_done();
}
