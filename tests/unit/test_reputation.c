/* Reputation from receipts (src/ledger/reputation.c): an honest market,
 * then the cheap forgeries docs/reputation.md discusses, each shown not to
 * move scores much. Everything is deterministic (fixed LCG seeds). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hearth/error.h"
#include "hearth/reputation.h"
#include "hearth/view.h"
#include "tap.h"
#include "tmpdir.h"

/* Key spaces: tag byte + index, so scenarios never collide. */
enum { T_LOCAL = 1, T_HONEST_P, T_HONEST_C, T_FRESH, T_RING, T_RAND };

static void key(uint8_t out[32], int tag, uint32_t i)
{
    memset(out, 0, 32);
    out[0] = (uint8_t)tag;
    memcpy(out + 1, &i, sizeof i);
    out[31] = 0x5a;
}

typedef struct market {
    hearth_rep_receipt *r;
    size_t n, cap;
    uint32_t next_job;
} market;

static void add(market *m, int ctag, uint32_t ci, int ptag, uint32_t pi,
                uint64_t msat, int disputed, int backed)
{
    if (m->n == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 256;
        m->r = realloc(m->r, m->cap * sizeof *m->r);
        if (!m->r)
            exit(1);
    }
    hearth_rep_receipt *x = &m->r[m->n++];
    memset(x, 0, sizeof *x);
    key(x->customer, ctag, ci);
    key(x->provider, ptag, pi);
    uint32_t j = ++m->next_job;
    memcpy(x->job_id, &j, sizeof j);
    x->amount_msat = msat;
    x->disputed = (uint8_t)disputed;
    x->reason = disputed ? HEARTH_REP_WRONG_RESULT : HEARTH_REP_ACCEPTED;
    x->backed = (uint8_t)backed;
}

static uint32_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(*s >> 33);
}

/* The honest market: the local peer buys from providers 0 and 1; 60
 * customers each buy from three of providers 0..3 (provider 3 is
 * mediocre: a third of its jobs disputed); provider 4 has a modest
 * history with three customers. */
static void honest_market(market *m)
{
    uint8_t lk[32];
    key(lk, T_LOCAL, 0);
    for (int j = 0; j < 3; j++) {
        add(m, T_LOCAL, 0, T_HONEST_P, 0, 40000, 0, 1);
        add(m, T_LOCAL, 0, T_HONEST_P, 1, 25000, 0, 1);
    }
    for (uint32_t c = 0; c < 60; c++)
        for (uint32_t k = 0; k < 3; k++) {
            uint32_t p = (c + k) % 4;
            for (uint32_t j = 0; j < 2; j++)
                add(m, T_HONEST_C, c, T_HONEST_P, p, 10000 + 1000 * (c % 7),
                    p == 3 && (c + j) % 3 == 0, 1);
        }
    for (uint32_t c = 0; c < 3; c++)
        add(m, T_HONEST_C, c, T_HONEST_P, 4, 20000, 0, 1);
}

static const uint8_t *local_key(void)
{
    static uint8_t lk[32];
    key(lk, T_LOCAL, 0);
    return lk;
}

static const hearth_rep_score *find(const hearth_rep_result *r, int tag,
                                    uint32_t i)
{
    uint8_t k[32];
    key(k, tag, i);
    return hearth_rep_find(r, k);
}

static float score_of(const hearth_rep_result *r, int tag, uint32_t i)
{
    const hearth_rep_score *s = find(r, tag, i);
    return s ? s->score : -1.0f;
}

static void compute(market *m, hearth_rep_result *res)
{
    int rc = hearth_rep_compute(local_key(), m->r, m->n, NULL, 0, NULL, res);
    CHECKF(rc == HEARTH_OK, "rc %d", rc);
}

static void show(const char *what, const hearth_rep_score *s)
{
    char buf[512];
    if (!s)
        return;
    hearth_rep_explain_str(s, buf, sizeof buf);
    printf("  %s: %s\n", what, buf);
}

static void test_honest(void)
{
    market m = { 0 };
    honest_market(&m);
    hearth_rep_result r;
    compute(&m, &r);
    CHECK(r.n == 5 && r.converged);
    for (uint32_t p = 0; p < 3; p++)
        CHECKF(score_of(&r, T_HONEST_P, p) > 0.75f, "p%u %.3f", p,
               score_of(&r, T_HONEST_P, p));
    CHECK(score_of(&r, T_HONEST_P, 3) < score_of(&r, T_HONEST_P, 2));
    CHECK(score_of(&r, T_HONEST_P, 4) > 0.55f);
    show("honest p0", find(&r, T_HONEST_P, 0));
    show("mediocre p3", find(&r, T_HONEST_P, 3));
    hearth_rep_result_free(&r);
    free(m.r);
}

/* (a) 1000 fresh keys, each paying (self-paid, so free to the attacker)
 * and praising one provider, with no spending anywhere else. Their only
 * standing comes from that provider, which does not count for rating it.
 * Bound: every score moves by less than 0.05. */
static void test_fresh_keys(void)
{
    const float bound = 0.05f;
    for (uint32_t target = 2; target <= 4; target++) {
        market m = { 0 };
        honest_market(&m);
        hearth_rep_result base, att;
        compute(&m, &base);
        for (uint32_t f = 0; f < 1000; f++)
            add(&m, T_FRESH, f, T_HONEST_P, target, 50000, 0, 1);
        compute(&m, &att);
        float worst = 0;
        uint32_t at = 0;
        for (uint32_t p = 0; p < 5; p++) {
            float d = fabsf(score_of(&att, T_HONEST_P, p) -
                            score_of(&base, T_HONEST_P, p));
            at = d > worst ? p : at;
            worst = d > worst ? d : worst;
        }
        printf("(a) 1000 fresh keys praise p%u: %.3f -> %.3f, largest "
               "move of any score %.5f at p%u (bound %.2f)\n", target,
               score_of(&base, T_HONEST_P, target),
               score_of(&att, T_HONEST_P, target), worst, at, bound);
        CHECKF(worst < bound, "target p%u moved %.4f", target, worst);
        const hearth_rep_score *s = find(&att, T_HONEST_P, target);
        CHECK(s && s->why.raters >= 1000);
        show("after", s);
        hearth_rep_result_free(&base);
        hearth_rep_result_free(&att);
        free(m.r);
    }
}

/* A self-dealing ring: provider 0 of the ring and 49 customers that also
 * sell to each other, with large real payments inside the ring. */
static void add_ring(market *m)
{
    for (uint32_t c = 1; c < 50; c++) {
        for (int j = 0; j < 5; j++)
            add(m, T_RING, c, T_RING, 0, 1000000, 0, 1);
        add(m, T_RING, c, T_RING, c % 49 + 1, 500000, 0, 1);
    }
}

/* (b) the ring cannot lift its provider above provider 4, which has only
 * three honest customers; with no path of trust from the local peer the
 * ring's receipts weigh exactly zero. */
static void test_ring(void)
{
    market m = { 0 };
    honest_market(&m);
    add_ring(&m);
    hearth_rep_result r;
    compute(&m, &r);
    const hearth_rep_score *ring = find(&r, T_RING, 0);
    float modest = score_of(&r, T_HONEST_P, 4);
    CHECK(ring && ring->why.weighted_raters == 0 && ring->why.good == 0);
    CHECKF(ring && ring->score < modest, "ring %.3f modest %.3f",
           ring ? ring->score : -1, modest);
    printf("(b) ring provider %.3f (conf %.3f) vs modest honest %.3f\n",
           ring ? ring->score : -1, ring ? ring->confidence : -1, modest);
    hearth_rep_result_free(&r);

    /* one ring customer buys one small job from an honest provider: the
     * ring now has a path of trust, but only as wide as that purchase */
    add(&m, T_RING, 1, T_HONEST_P, 2, 10000, 0, 1);
    compute(&m, &r);
    ring = find(&r, T_RING, 0);
    modest = score_of(&r, T_HONEST_P, 4);
    CHECKF(ring && ring->score < modest, "ring %.3f modest %.3f",
           ring ? ring->score : -1, modest);
    printf("(b) with one attack edge: ring %.3f vs modest honest %.3f\n",
           ring ? ring->score : -1, modest);
    show("ring", ring);
    hearth_rep_result_free(&r);
    free(m.r);
}

/* (c) disputes from trusted customers lower a score */
static void test_disputes(void)
{
    market m = { 0 };
    honest_market(&m);
    hearth_rep_result base, after;
    compute(&m, &base);
    for (uint32_t c = 0; c < 60; c += 3)
        add(&m, T_HONEST_C, c, T_HONEST_P, 2, 30000, 1, 1);
    compute(&m, &after);
    float b = score_of(&base, T_HONEST_P, 2), a = score_of(&after, T_HONEST_P, 2);
    printf("(c) 20 trusted disputes: p2 %.3f -> %.3f\n", b, a);
    CHECKF(a < b - 0.1f, "%.3f -> %.3f", b, a);
    CHECK(find(&after, T_HONEST_P, 2)->why.bad > 0);
    hearth_rep_result_free(&base);
    hearth_rep_result_free(&after);
    free(m.r);
}

/* (d) unbacked receipts count zero: the same scores, bit for bit */
static void test_unbacked(void)
{
    market m = { 0 };
    honest_market(&m);
    hearth_rep_result base, after;
    compute(&m, &base);
    for (uint32_t i = 0; i < 500; i++) {
        add(&m, T_FRESH, i, T_HONEST_P, i % 5, 1000000, 0, 0);
        add(&m, T_HONEST_C, i % 60, T_HONEST_P, i % 5, 1000000, 1, 0);
        add(&m, T_LOCAL, 0, T_HONEST_P, i % 5, 1000000, 1, 0);
    }
    compute(&m, &after);
    CHECK(base.n == after.n);
    for (size_t i = 0; i < base.n && i < after.n; i++) {
        CHECK(base.scores[i].score == after.scores[i].score);
        CHECK(base.scores[i].confidence == after.scores[i].confidence);
        CHECK(after.scores[i].why.unbacked == 300);
    }
    hearth_rep_result_free(&base);
    hearth_rep_result_free(&after);
    free(m.r);
}

/* (e) the local peer's own bad experience outweighs the crowd */
static void test_own_experience(void)
{
    market m = { 0 };
    honest_market(&m);
    for (uint32_t c = 0; c < 60; c++)
        add(&m, T_HONEST_C, c, T_HONEST_P, 2, 50000, 0, 1);
    hearth_rep_result base, after;
    compute(&m, &base);
    add(&m, T_LOCAL, 0, T_HONEST_P, 2, 100000, 1, 1);
    compute(&m, &after);
    float b = score_of(&base, T_HONEST_P, 2), a = score_of(&after, T_HONEST_P, 2);
    printf("(e) own dispute vs 150 good receipts: p2 %.3f -> %.3f\n", b, a);
    CHECK(b > 0.8f);
    CHECKF(a < 0.4f, "%.3f", a);
    show("after", find(&after, T_HONEST_P, 2));
    hearth_rep_result_free(&base);
    hearth_rep_result_free(&after);
    free(m.r);
}

static void check_bounds(const hearth_rep_result *r)
{
    for (size_t i = 0; i < r->n; i++) {
        const hearth_rep_score *s = &r->scores[i];
        CHECK(isfinite(s->score) && s->score >= 0 && s->score <= 1);
        CHECK(isfinite(s->confidence) && s->confidence >= 0 &&
              s->confidence <= 1);
        CHECK(isfinite(s->why.good) && isfinite(s->why.bad) &&
              isfinite(s->why.standing));
    }
}

static void random_market(market *m, uint64_t seed, size_t n, uint32_t keys)
{
    uint32_t providers = keys / 10;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = lcg(&seed) % keys, p = lcg(&seed) % providers;
        int ctag = c == 0 ? T_LOCAL : T_RAND;
        uint64_t amt = (uint64_t)(lcg(&seed) % 100000) * 10;
        if (i % 97 == 0)
            amt = i % 2 ? 0 : UINT64_MAX; /* extremes stay finite */
        add(m, ctag, ctag == T_LOCAL ? 0 : c, T_RAND, p, amt,
            lcg(&seed) % 10 == 0, lcg(&seed) % 20 != 0);
    }
}

/* (f) convergence, the iteration cap, bounds, arguments */
static void test_bounds(void)
{
    market m = { 0 };
    random_market(&m, 7, 5000, 500);
    hearth_rep_result r;
    compute(&m, &r);
    CHECK(r.converged && r.iterations < 200);
    check_bounds(&r);
    printf("(f) 5000 random receipts: %zu providers, converged in %u "
           "steps\n", r.n, r.iterations);
    hearth_rep_result_free(&r);

    hearth_rep_params p;
    hearth_rep_params_default(&p);
    p.max_iter = 3;
    CHECK(hearth_rep_compute(local_key(), m.r, m.n, NULL, 0, &p, &r) == 0);
    CHECK(r.iterations == 3 && !r.converged);
    check_bounds(&r);
    hearth_rep_result_free(&r);

    /* priors and a near-1 damping still stay bounded */
    hearth_rep_prior pr[2];
    key(pr[0].pubkey, T_RAND, 3);
    pr[0].weight = 5;
    key(pr[1].pubkey, T_FRESH, 9); /* a key no receipt names */
    pr[1].weight = 0.5;
    hearth_rep_params_default(&p);
    p.damping = 0.999;
    CHECK(hearth_rep_compute(local_key(), m.r, m.n, pr, 2, &p, &r) == 0);
    check_bounds(&r);
    hearth_rep_result_free(&r);

    CHECK(hearth_rep_compute(local_key(), NULL, 0, NULL, 0, NULL, &r) == 0);
    CHECK(r.n == 0);
    hearth_rep_result_free(&r);
    p.damping = 1.0;
    CHECK(hearth_rep_compute(local_key(), m.r, m.n, NULL, 0, &p, &r) ==
          HEARTH_EINVAL);
    hearth_rep_params_default(&p);
    p.unit_msat = NAN;
    CHECK(hearth_rep_compute(local_key(), m.r, m.n, NULL, 0, &p, &r) ==
          HEARTH_EINVAL);
    pr[0].weight = -1;
    CHECK(hearth_rep_compute(local_key(), m.r, m.n, pr, 1, NULL, &r) ==
          HEARTH_EINVAL);
    CHECK(hearth_rep_compute(NULL, m.r, m.n, NULL, 0, NULL, &r) ==
          HEARTH_EINVAL);

    /* duplicates of one job count once (cumulative notes) */
    market d = { 0 };
    honest_market(&d);
    hearth_rep_result a, b;
    compute(&d, &a);
    size_t n0 = d.n;
    for (size_t i = 0; i < n0; i++) {
        add(&d, T_LOCAL, 0, T_LOCAL, 0, 0, 0, 1);
        d.r[d.n - 1] = d.r[i];
        d.r[d.n - 1].amount_msat /= 2;   /* an earlier, smaller note */
    }
    compute(&d, &b);
    for (size_t i = 0; i < a.n && a.n == b.n; i++)
        CHECK(a.scores[i].score == b.scores[i].score);
    CHECK(b.scores[0].why.duplicates > 0);
    hearth_rep_result_free(&a);
    hearth_rep_result_free(&b);
    free(d.r);
    free(m.r);
}

/* the market view's reputation slot takes the scores */
static void test_fill_view(void)
{
    market m = { 0 };
    honest_market(&m);
    hearth_rep_result r;
    compute(&m, &r);
    char *dir = tap_tmpdir("rep");
    hearth_view *v = NULL;
    CHECK(hearth_view_open(dir, NULL, &v) == 0);
    CHECK(v && hearth_rep_fill_view(v, &r) == 0);
    for (size_t i = 0; v && i < r.n; i++) {
        hearth_peer_obs o;
        CHECK(hearth_view_get_obs(v, r.scores[i].provider, &o) == 0);
        CHECK(o.reputation == r.scores[i].score);
    }
    CHECK(hearth_rep_fill_view(NULL, &r) == HEARTH_EINVAL);
    hearth_view_close(v);
    tap_rmtree(dir);
    free(dir);
    hearth_rep_result_free(&r);
    free(m.r);
}

/* (g) 100k receipts among 10k keys; the time is printed, not checked */
static void test_perf(void)
{
    market m = { 0 };
    random_market(&m, 42, 100000, 10000);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    hearth_rep_result r;
    compute(&m, &r);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
                (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    printf("(g) 100000 receipts, 10000 keys: %zu providers in %.1f ms, "
           "%u steps%s\n", r.n, ms, r.iterations,
           r.converged ? "" : " (cap reached)");
    CHECK(r.n == 1000);
    check_bounds(&r);
    hearth_rep_result_free(&r);
    free(m.r);
}

int main(void)
{
    test_honest();
    test_fresh_keys();
    test_ring();
    test_disputes();
    test_unbacked();
    test_own_experience();
    test_bounds();
    test_fill_view();
    test_perf();
    return tap_done();
}
