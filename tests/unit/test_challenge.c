/* The hardware check (docs/challenge.md): planning from an offer's claim,
 * judging measured times, the false-fail statistics; the mark in the
 * market view (old observation records read as unchecked) and selection
 * leaving out GPU offers of providers that failed. */
#include "hearth/challenge.h"
#include "hearth/error.h"
#include "hearth/kinds.h"
#include "hearth/view.h"
#include "tap.h"
#include "tmpdir.h"

#include <lmdb.h>
#include <math.h>

static void pow_offer(hearth_offer *o, uint8_t tier, uint64_t mhs)
{
    memset(o, 0, sizeof *o);
    o->job_kind = HEARTH_KIND_JOB_POW;
    o->backend = HEARTH_BACKEND_POW;
    o->hw.tier = tier;
    o->bench_mhash_s = mhs;
}

static void test_plan(void)
{
    hearth_offer o;
    hearth_challenge_plan p;
    const char *why = NULL;
    int fb = -1;

    pow_offer(&o, 0, 16);  /* a CPU benchmarked at 16 MH/s */
    CHECK(hearth_challenge_claimed_hs(&o, &fb) == 16000000u && fb == 1);
    CHECK(hearth_challenge_plan_for(&o, NULL, &p, &why) == HEARTH_OK);
    /* 2 s at 16 MH/s over 8 jobs: 4e6 hashes a job, 2^22 */
    CHECK(p.bits == 22 && p.jobs == 8 && p.from_bench == 1);
    CHECK(fabs(p.expected_s - 8.0 * 4194304 / 16e6) < 1e-9);
    CHECK(p.budget_ms == (uint64_t)ceil(p.expected_s * 4000));
    CHECK(p.rtt_cap_ms == 125);

    pow_offer(&o, 1, 0);   /* a tier 1 GPU without a benchmark */
    CHECK(hearth_challenge_claimed_hs(&o, &fb) == HEARTH_CHALLENGE_TIER1_HS &&
          fb == 0);
    pow_offer(&o, 3, 0);
    CHECK(hearth_challenge_claimed_hs(&o, NULL) == HEARTH_CHALLENGE_TIER3_HS);
    pow_offer(&o, 0, 0);
    CHECK(hearth_challenge_claimed_hs(&o, NULL) == HEARTH_CHALLENGE_CPU_HS);

    /* an absurd claim is capped at the runner's 40 bits */
    pow_offer(&o, 1, 1000000000000ull);
    CHECK(hearth_challenge_plan_for(&o, NULL, &p, NULL) == 0 && p.bits == 40);

    hearth_challenge_opts op;
    hearth_challenge_opts_default(&op);
    op.jobs = 7;
    CHECK(hearth_challenge_plan_for(&o, &op, &p, &why) == HEARTH_EINVAL &&
          strstr(why, "8 to 64"));
    hearth_challenge_opts_default(&op);
    op.margin = 1.0;
    CHECK(hearth_challenge_plan_for(&o, &op, &p, &why) == HEARTH_EINVAL);
    hearth_challenge_opts_default(&op);
    op.seconds = 0;
    CHECK(hearth_challenge_plan_for(&o, &op, &p, &why) == HEARTH_EINVAL);
    o.job_kind = 5100;
    CHECK(hearth_challenge_plan_for(&o, NULL, &p, &why) == HEARTH_EINVAL &&
          strstr(why, "5970"));
}

static void fill(hearth_challenge_sample *s, size_t n, int outcome,
                 uint64_t ms, uint64_t rtt)
{
    for (size_t i = 0; i < n; i++)
        s[i] = (hearth_challenge_sample){outcome, ms, rtt};
}

static void test_judge(void)
{
    hearth_offer o;
    hearth_challenge_plan p;
    hearth_challenge_verdict v;
    hearth_challenge_sample s[8];
    pow_offer(&o, 0, 16);
    CHECK(hearth_challenge_plan_for(&o, NULL, &p, NULL) == 0);

    /* honest: 262 ms of mining a job plus 100 ms of round trip */
    fill(s, 8, HEARTH_CHALLENGE_DONE, 362, 100);
    CHECK(hearth_challenge_judge(&p, s, 8, &v) == 0);
    CHECK(v.verdict == HEARTH_HW_PASS && v.done == 8 && v.work_ms == 8 * 262);
    CHECK(v.measured_hs > 15900000u && v.measured_hs < 16100000u);
    CHECKF(strstr(v.why, "achieved 16") != NULL, "%s", v.why);

    /* slow, but within the margin: 3x slower passes, 5x fails */
    fill(s, 8, HEARTH_CHALLENGE_DONE, 3 * 262, 0);
    CHECK(hearth_challenge_judge(&p, s, 8, &v) == 0 &&
          v.verdict == HEARTH_HW_PASS);
    fill(s, 8, HEARTH_CHALLENGE_DONE, 5 * 262, 0);
    CHECK(hearth_challenge_judge(&p, s, 8, &v) == 0 &&
          v.verdict == HEARTH_HW_FAIL);
    CHECKF(strstr(v.why, "below 1/4") != NULL, "%s", v.why);

    /* a long "round trip" is credited up to the cap only */
    fill(s, 8, HEARTH_CHALLENGE_DONE, 5 * 262, 5 * 262);
    CHECK(hearth_challenge_work_ms(&p, s, 8) == 8 * (5 * 262 - 125));
    CHECK(hearth_challenge_judge(&p, s, 8, &v) == 0 &&
          v.verdict == HEARTH_HW_FAIL);

    /* the budget ran out after three jobs and a fourth cut short */
    fill(s, 3, HEARTH_CHALLENGE_DONE, 262, 0);
    s[3] = (hearth_challenge_sample){HEARTH_CHALLENGE_TIMEOUT, 8000, 0};
    CHECK(hearth_challenge_judge(&p, s, 4, &v) == 0);
    CHECK(v.verdict == HEARTH_HW_FAIL && v.done == 3);
    CHECKF(strstr(v.why, "3 of 8 jobs") != NULL, "%s", v.why);

    /* a wrong result fails however fast */
    fill(s, 8, HEARTH_CHALLENGE_DONE, 10, 0);
    s[5].outcome = HEARTH_CHALLENGE_INVALID;
    CHECK(hearth_challenge_judge(&p, s, 8, &v) == 0 &&
          v.verdict == HEARTH_HW_FAIL && strstr(v.why, "proof of work"));
    s[5].outcome = 7;
    CHECK(hearth_challenge_judge(&p, s, 8, &v) == HEARTH_EINVAL);
    CHECK(hearth_challenge_judge(&p, s, 9, &v) == HEARTH_EINVAL);
    CHECK(!strcmp(hearth_hw_verdict_name(HEARTH_HW_FAIL), "fail") &&
          !strcmp(hearth_hw_verdict_name(0), "unchecked"));
}

/* the numbers docs/challenge.md quotes */
static void test_statistics(void)
{
    double p0 = hearth_challenge_false_fail(8, 4, 0);
    double p1 = hearth_challenge_false_fail(8, 4, 1);
    double p16 = hearth_challenge_false_fail(16, 4, 0);
    printf("# false fail: K=8 m=4: %.3g; overhead 1 job-time: %.3g; "
           "K=16: %.3g; K=8 m=2: %.3g\n", p0, p1, p16,
           hearth_challenge_false_fail(8, 2, 0));
    CHECK(p0 > 1e-7 && p0 < 1.2e-7);
    CHECK(p1 > p0 && p1 < 1e-4);
    CHECK(p16 < p0 * 1e-5);
    /* K = 1 is e^-m: the exponential tail */
    CHECK(fabs(hearth_challenge_false_fail(1, 4, 0) - exp(-4)) < 1e-12);
    CHECK(hearth_challenge_false_fail(8, 4, 5) == 1.0);
}

/* ---- the mark in the view ---- */

static void put_legacy_obs(const char *dir, const uint8_t pk[32])
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    uint8_t rec[36] = {0};
    rec[3] = 80;   /* rtt 80 ms */
    rec[7] = 5;    /* 5 jobs ok */
    rec[32] = 0x3f; /* reputation 0.5f = 0x3f000000 */
    CHECK(mdb_env_create(&env) == 0);
    mdb_env_set_maxdbs(env, 8);
    CHECK(mdb_env_open(env, dir, MDB_NOTLS, 0600) == 0);
    CHECK(mdb_txn_begin(env, NULL, 0, &txn) == 0);
    CHECK(mdb_dbi_open(txn, "obs", 0, &dbi) == 0);
    MDB_val k = {32, (void *)pk}, v = {36, rec};
    CHECK(mdb_put(txn, dbi, &k, &v, 0) == 0);
    CHECK(mdb_txn_commit(txn) == 0);
    mdb_env_close(env);
}

static void test_view_mark(void)
{
    char *dir = tap_tmpdir("challenge");
    hearth_view *v = NULL;
    hearth_peer_obs ob;
    uint8_t a[32], b[32];
    memset(a, 0xaa, 32);
    memset(b, 0xbb, 32);
    CHECK(hearth_view_open(dir, NULL, &v) == 0);
    hearth_view_close(v);
    put_legacy_obs(dir, a);
    CHECK(hearth_view_open(dir, NULL, &v) == 0);
    /* an old record: its counters, and no check */
    CHECK(hearth_view_get_obs(v, a, &ob) == 0);
    CHECK(ob.rtt_ms == 80 && ob.jobs_ok == 5 && ob.reputation == 0.5f);
    CHECK(ob.hw_verdict == HEARTH_HW_UNCHECKED && ob.hw_checked_at == 0);

    hearth_view_hw_check c = {HEARTH_HW_FAIL, 1700000000, 300000,
                              20000000000ull};
    CHECK(hearth_view_set_hw_check(v, a, &c) == 0);
    CHECK(hearth_view_observe(v, a, HEARTH_OBS_OK, 40, 1700000001) == 0);
    CHECK(hearth_view_get_obs(v, a, &ob) == 0);
    CHECK(ob.jobs_ok == 6 && ob.hw_verdict == HEARTH_HW_FAIL);
    CHECK(ob.hw_checked_at == 1700000000 && ob.hw_measured_hs == 300000 &&
          ob.hw_claimed_hs == 20000000000ull);
    c.verdict = 9;
    CHECK(hearth_view_set_hw_check(v, b, &c) == HEARTH_EINVAL);
    c.verdict = HEARTH_HW_PASS;
    CHECK(hearth_view_set_hw_check(v, b, &c) == 0);
    hearth_view_close(v);
    /* durable */
    CHECK(hearth_view_open(dir, NULL, &v) == 0);
    CHECK(hearth_view_get_obs(v, b, &ob) == 0 && ob.hw_verdict == HEARTH_HW_PASS);
    CHECK(ob.reputation == 0.5f && ob.jobs_ok == 0);
    hearth_view_close(v);
    CHECK(tap_rmtree(dir) == 0);
    free(dir);
}

/* ---- selection ---- */

static void test_select(void)
{
    hearth_peer p[3];
    hearth_peer_obs o[3];
    hearth_candidate out[3];
    hearth_select_stats st;
    size_t n;
    memset(p, 0, sizeof p);
    for (int i = 0; i < 3; i++) {
        memset(p[i].pubkey, i + 1, 32);
        p[i].job_kind = HEARTH_KIND_JOB_POW;
        p[i].backend = HEARTH_BACKEND_POW;
        p[i].price.per_job = 10;
        o[i] = (hearth_peer_obs){0};
        o[i].reputation = 0.5f;
    }
    p[0].tier = 1;   /* failed: a GPU claim it could not back */
    p[0].bench_mhash_s = 20000;
    o[0].hw_verdict = HEARTH_HW_FAIL;
    p[1].tier = 0;   /* failed, but a CPU offer: still eligible */
    o[1].hw_verdict = HEARTH_HW_FAIL;
    p[2].tier = 2;
    o[2].hw_verdict = HEARTH_HW_PASS;
    hearth_select_req r;
    memset(&r, 0, sizeof r);
    r.job_kind = HEARTH_KIND_JOB_POW;
    r.strategy = HEARTH_STRATEGY_FASTEST;
    r.top_n = 1;
    r.usage.jobs = 1;
    r.usage.hashes = 1u << 20;
    r.now = 1700000000;
    for (int with_ix = 0; with_ix < 2; with_ix++) {
        hearth_select_index ix;
        if (with_ix) {
            CHECK(hearth_select_index_build(p, o, 3, r.now, &ix) == 0);
            r.index = &ix;
        }
        CHECK(hearth_select(p, o, 3, &r, out, 3, &n, &st) == 0);
        CHECK(n == 2 && st.hw_failed == 1 && st.eligible == 2);
        for (size_t i = 0; i < n; i++)
            CHECK(out[i].index != 0);
        if (with_ix) {
            /* a new check passes: the index follows */
            o[0].hw_verdict = HEARTH_HW_PASS;
            hearth_select_index_update(&ix, p, o, 0);
            CHECK(hearth_select(p, o, 3, &r, out, 3, &n, &st) == 0);
            CHECK(n == 3 && st.hw_failed == 0 && out[0].index == 0);
            /* and fails again */
            o[0].hw_verdict = HEARTH_HW_FAIL;
            hearth_select_index_update(&ix, p, o, 0);
            CHECK(hearth_select(p, o, 3, &r, out, 3, &n, &st) == 0);
            CHECK(n == 2 && st.hw_failed == 1);
            hearth_select_index_free(&ix);
            r.index = NULL;
        }
    }
}

int main(void)
{
    test_plan();
    test_judge();
    test_statistics();
    test_view_mark();
    test_select();
    return tap_done();
}
