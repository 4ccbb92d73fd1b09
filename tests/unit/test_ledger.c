/* Ledger: the legs of every posting kind on both sides, idempotency,
 * request validation, reservations and their release, history order,
 * CSV and JSON export, thousands of random postings against an oracle
 * with the invariant check, reopening, kill -9 in the middle of a stream
 * of postings, and threads posting distinct and duplicate events. */
#include "hearth/error.h"
#include "hearth/ledger.h"
#include "tap.h"
#include "tmpdir.h"

#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LN HEARTH_RAIL_LIGHTNING
#define CR HEARTH_RAIL_CREDIT
#define SELL HEARTH_SIDE_SELL
#define BUY HEARTH_SIDE_BUY

/* ---- fixtures ---- */

static hearth_ledger *open_l(const char *dir)
{
    hearth_ledger *l = NULL;
    int rc = hearth_ledger_open(dir, &l);
    CHECKF(rc == HEARTH_OK && l, "open %s: %s", dir, hearth_strerror(rc));
    if (!l)
        exit(1);
    return l;
}

/* distinct 32-byte ids from a tag and a number */
static void mk_id(uint8_t tag, uint32_t n, uint8_t id[32])
{
    memset(id, 0, 32);
    id[0] = tag;
    id[1] = (uint8_t)(n * 37u + 11u);
    for (int i = 0; i < 4; i++)
        id[28 + i] = (uint8_t)(n >> (24 - 8 * i));
}

static void id_hex(uint8_t tag, uint32_t n, char out[65])
{
    uint8_t id[32];
    mk_id(tag, n, id);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", id[i]);
}

static hearth_ledger_post_req mk_req(int kind, int side, int rail,
                                     uint32_t cp, uint64_t amount,
                                     uint32_t ev)
{
    hearth_ledger_post_req p;
    memset(&p, 0, sizeof p);
    mk_id('e', ev, p.event_id);
    p.kind = (uint8_t)kind;
    p.side = (uint8_t)side;
    p.rail = (uint8_t)rail;
    mk_id('c', cp, p.counterparty);
    mk_id('j', ev, p.job_id);
    if (rail == LN && (kind == HEARTH_POST_PAYMENT ||
                       kind == HEARTH_POST_REFUND ||
                       kind == HEARTH_POST_RESERVE))
        mk_id('p', ev + 1, p.preimage);
    p.amount_msat = amount;
    p.time = 1700000000 + (int64_t)ev;
    p.memo = "note";
    return p;
}

static int post(hearth_ledger *l, const hearth_ledger_post_req *p)
{
    return hearth_ledger_post(l, p, NULL);
}

static hearth_ledger_balance bal(hearth_ledger *l, uint32_t cp, int rail)
{
    hearth_ledger_balance b;
    uint8_t id[32];
    mk_id('c', cp, id);
    CHECK(hearth_ledger_balance_get(l, id, rail, &b) == HEARTH_OK);
    return b;
}

static void check_books(hearth_ledger *l, const char *where)
{
    hearth_ledger_report r;
    int rc = hearth_ledger_check(l, &r);
    CHECKF(rc == HEARTH_OK && r.sum == 0,
           "%s: rc %d sum %" PRId64 " bad entries %" PRIu64 " balances %"
           PRIu64 " index %" PRIu64, where, rc, r.sum, r.bad_entries,
           r.bad_balances, r.bad_index);
}

static uint64_t n_entries(hearth_ledger *l)
{
    hearth_ledger_totals t;
    CHECK(hearth_ledger_totals_get(l, &t) == HEARTH_OK);
    return t.entries;
}

/* The seller's legs of each kind (the oracle, written independently of
 * the library's table): account and sign of the amount. */
struct want_leg {
    int acct, sign;
};
static const struct want_leg seller[HEARTH_POST_KIND_MAX + 1][2] = {
    [HEARTH_POST_ACCEPTED] = {{HEARTH_ACCT_RECEIVABLE, 1},
                              {HEARTH_ACCT_REVENUE, -1}},
    [HEARTH_POST_DISPUTED] = {{HEARTH_ACCT_DISPUTED, 1},
                              {HEARTH_ACCT_REVENUE, -1}},
    [HEARTH_POST_REVERSED] = {{HEARTH_ACCT_REVENUE, 1},
                              {HEARTH_ACCT_RECEIVABLE, -1}},
    [HEARTH_POST_UPHELD] = {{HEARTH_ACCT_REVENUE, 1},
                            {HEARTH_ACCT_DISPUTED, -1}},
    [HEARTH_POST_REJECTED] = {{HEARTH_ACCT_RECEIVABLE, 1},
                              {HEARTH_ACCT_DISPUTED, -1}},
    [HEARTH_POST_PAYMENT] = {{HEARTH_ACCT_CASH, 1},
                             {HEARTH_ACCT_RECEIVABLE, -1}},
    [HEARTH_POST_REFUND] = {{HEARTH_ACCT_PAYABLE, 1},
                            {HEARTH_ACCT_CASH, -1}},
    [HEARTH_POST_RESERVE] = {{HEARTH_ACCT_CASH, 1},
                             {HEARTH_ACCT_RESERVED, -1}},
    [HEARTH_POST_BILLED] = {{HEARTH_ACCT_RECEIVABLE, 1},
                            {HEARTH_ACCT_REVENUE, -1}},
    [HEARTH_POST_CONTESTED] = {{HEARTH_ACCT_DISPUTED, 1},
                               {HEARTH_ACCT_RECEIVABLE, -1}},
};

static int mirror(int acct)
{
    switch (acct) {
    case HEARTH_ACCT_RECEIVABLE: return HEARTH_ACCT_PAYABLE;
    case HEARTH_ACCT_PAYABLE: return HEARTH_ACCT_RECEIVABLE;
    case HEARTH_ACCT_REVENUE: return HEARTH_ACCT_EXPENSE;
    case HEARTH_ACCT_EXPENSE: return HEARTH_ACCT_REVENUE;
    }
    return acct;
}

/* add the oracle legs of kind to acct[] */
static void oracle_legs(int kind, int side, int64_t a, int64_t *acct)
{
    for (int i = 0; i < 2; i++) {
        int ac = seller[kind][i].acct;
        int64_t d = seller[kind][i].sign * a;
        if (side == BUY) {
            ac = mirror(ac);
            d = -d;
        }
        acct[ac] += d;
    }
}

/* ---- tests ---- */

static void test_names(void)
{
    CHECK(!strcmp(hearth_ledger_kind_name(HEARTH_POST_ACCEPTED),
                  "accepted"));
    CHECK(!strcmp(hearth_ledger_kind_name(HEARTH_POST_RELEASE), "release"));
    CHECK(!strcmp(hearth_ledger_kind_name(0), "unknown"));
    CHECK(!strcmp(hearth_ledger_kind_name(HEARTH_POST_CONTESTED),
                  "contested"));
    CHECK(!strcmp(hearth_ledger_kind_name(12), "unknown"));
    CHECK(!strcmp(hearth_ledger_account_name(HEARTH_ACCT_DISPUTED),
                  "disputed"));
    CHECK(!strcmp(hearth_ledger_account_name(8), "unknown"));
    CHECK(!strcmp(hearth_ledger_rail_name(LN), "lightning"));
    CHECK(!strcmp(hearth_ledger_rail_name(CR), "credit"));
    CHECK(!strcmp(hearth_ledger_rail_name(3), "unknown"));
}

/* every kind on each side, on a counterparty of its own */
static void test_kinds(const char *dir)
{
    hearth_ledger *l = open_l(dir);
    uint32_t cp = 0;
    for (int side = SELL; side <= BUY; side++)
        for (int kind = 1; kind <= HEARTH_POST_KIND_MAX; kind++, cp++) {
            if (kind == HEARTH_POST_RELEASE)
                continue;
            int rail = kind >= HEARTH_POST_PAYMENT &&
                               kind <= HEARTH_POST_RESERVE ? LN : CR;
            hearth_ledger_post_req p = mk_req(kind, side, rail, cp, 1000 +
                                              cp, 100 + cp);
            const char *why = NULL;
            int rc = hearth_ledger_post(l, &p, &why);
            CHECKF(rc == HEARTH_OK, "kind %d side %d: %d %s", kind, side,
                   rc, why ? why : "");
            int64_t want[HEARTH_ACCT_MAX + 1] = {0};
            oracle_legs(kind, side, 1000 + cp, want);
            hearth_ledger_balance b = bal(l, cp, rail);
            CHECKF(!memcmp(b.acct, want, sizeof want), "kind %d side %d",
                   kind, side);
            CHECK(b.net_owed == want[HEARTH_ACCT_RECEIVABLE] +
                                want[HEARTH_ACCT_PAYABLE]);
            hearth_ledger_entry e;
            CHECK(hearth_ledger_find_event(l, p.event_id, &e) == HEARTH_OK);
            CHECK(e.kind == kind && e.side == side && e.nlegs == 2 &&
                  e.amount_msat == 1000 + cp && !strcmp(e.memo, "note") &&
                  !memcmp(e.preimage, p.preimage, 32) &&
                  !memcmp(e.job_id, p.job_id, 32));
        }
    check_books(l, "kinds");
    hearth_ledger_close(l);
}

/* Standing for the credit policy: owed over every rail, held claims, and
 * the time since which the counterparty has owed without a break. */
static void test_standing(const char *dir)
{
    hearth_ledger *l = open_l(dir);
    hearth_ledger_standing s;
    hearth_ledger_post_req p = mk_req(HEARTH_POST_BILLED, SELL, CR, 7, 500, 1);
    CHECK(hearth_ledger_standing_get(l, p.counterparty, &s) == HEARTH_OK);
    CHECK(s.owed_msat == 0 && s.disputed_msat == 0 && s.owing_since == 0);
    p.time = 100;
    CHECK(post(l, &p) == HEARTH_OK);
    p = mk_req(HEARTH_POST_BILLED, SELL, CR, 7, 300, 2);
    p.time = 200;
    CHECK(post(l, &p) == HEARTH_OK);
    CHECK(hearth_ledger_standing_get(l, p.counterparty, &s) == HEARTH_OK);
    CHECK(s.owed_msat == 800 && s.owing_since == 100);
    /* a claim they contest moves from owed to disputed */
    p = mk_req(HEARTH_POST_CONTESTED, SELL, CR, 7, 300, 3);
    p.time = 250;
    CHECK(post(l, &p) == HEARTH_OK);
    CHECK(hearth_ledger_standing_get(l, p.counterparty, &s) == HEARTH_OK);
    CHECK(s.owed_msat == 500 && s.disputed_msat == 300 &&
          s.owing_since == 100);
    /* work we bought from them nets against what they owe (mutual
     * credit); paid down to zero the clock stops */
    p = mk_req(HEARTH_POST_ACCEPTED, BUY, CR, 7, 200, 4);
    p.time = 260;
    CHECK(post(l, &p) == HEARTH_OK);
    p = mk_req(HEARTH_POST_PAYMENT, SELL, LN, 7, 300, 5);
    p.settle_rail = CR;
    p.time = 300;
    CHECK(post(l, &p) == HEARTH_OK);
    CHECK(hearth_ledger_standing_get(l, p.counterparty, &s) == HEARTH_OK);
    CHECK(s.owed_msat == 0 && s.owing_since == 0);
    p = mk_req(HEARTH_POST_BILLED, SELL, CR, 7, 50, 6);
    p.time = 400;
    CHECK(post(l, &p) == HEARTH_OK);
    CHECK(hearth_ledger_standing_get(l, p.counterparty, &s) == HEARTH_OK);
    CHECK(s.owed_msat == 50 && s.owing_since == 400);
    check_books(l, "standing");
    hearth_ledger_close(l);
}

/* A payment on Lightning clearing a mutual-credit receivable. */
static void test_settle_rail(const char *dir)
{
    hearth_ledger *l = open_l(dir);
    hearth_ledger_post_req p = mk_req(HEARTH_POST_ACCEPTED, SELL, CR, 1,
                                      5000, 1);
    CHECK(post(l, &p) == HEARTH_OK);
    p = mk_req(HEARTH_POST_PAYMENT, SELL, LN, 1, 3000, 2);
    p.settle_rail = CR;
    CHECK(post(l, &p) == HEARTH_OK);
    hearth_ledger_balance c = bal(l, 1, CR), n = bal(l, 1, LN);
    CHECK(c.acct[HEARTH_ACCT_RECEIVABLE] == 2000 && c.net_owed == 2000);
    CHECK(c.acct[HEARTH_ACCT_REVENUE] == -5000);
    CHECK(n.acct[HEARTH_ACCT_CASH] == 3000 && n.net_owed == 0);
    hearth_ledger_balance all[4];
    size_t cnt;
    CHECK(hearth_ledger_balances(l, all, 4, &cnt) == HEARTH_OK && cnt == 2);
    CHECK(cnt == 2 && all[0].rail == CR && all[1].rail == LN &&
          all[0].net_owed == 2000);
    hearth_ledger_totals t;
    CHECK(hearth_ledger_totals_get(l, &t) == HEARTH_OK && t.entries == 2);
    CHECK(t.acct[LN][HEARTH_ACCT_CASH] == 3000 &&
          t.acct[CR][HEARTH_ACCT_RECEIVABLE] == 2000);
    check_books(l, "settle rail");
    hearth_ledger_close(l);
}

static void test_idempotent(const char *dir)
{
    hearth_ledger *l = open_l(dir);
    hearth_ledger_post_req p = mk_req(HEARTH_POST_ACCEPTED, SELL, CR, 1,
                                      700, 1);
    CHECK(post(l, &p) == HEARTH_OK);
    CHECK(post(l, &p) == HEARTH_LEDGER_DUP);
    CHECK(post(l, &p) == HEARTH_LEDGER_DUP);
    CHECK(n_entries(l) == 1);
    CHECK(bal(l, 1, CR).acct[HEARTH_ACCT_RECEIVABLE] == 700);
    /* the same id reused for another posting is an error, not a dup */
    const char *why = NULL;
    p.amount_msat = 701;
    CHECK(hearth_ledger_post(l, &p, &why) == HEARTH_EINVAL && why);
    p.amount_msat = 700;
    p.kind = HEARTH_POST_DISPUTED;
    CHECK(post(l, &p) == HEARTH_EINVAL);
    CHECK(n_entries(l) == 1);
    hearth_ledger_close(l);
    /* and after a reopen */
    l = open_l(dir);
    p.kind = HEARTH_POST_ACCEPTED;
    CHECK(post(l, &p) == HEARTH_LEDGER_DUP);
    CHECK(n_entries(l) == 1);
    check_books(l, "idempotent");
    hearth_ledger_close(l);
}

static void test_invalid(const char *dir)
{
    hearth_ledger *l = open_l(dir);
    struct {
        hearth_ledger_post_req p;
        const char *what;
    } bad[12];
    size_t n = 0;
    hearth_ledger_post_req ok = mk_req(HEARTH_POST_ACCEPTED, SELL, CR, 1,
                                       10, 1);
#define BAD(expr, w)                  \
    do {                              \
        bad[n].p = ok;                \
        hearth_ledger_post_req *q = &bad[n].p; \
        expr;                         \
        bad[n++].what = (w);          \
    } while (0)
    BAD(q->kind = 0, "kind 0");
    BAD(q->kind = 12, "kind 12");
    BAD(q->side = 3, "side");
    BAD(q->rail = 0, "rail 0");
    BAD(q->rail = 3, "rail 3");
    BAD(q->amount_msat = 0, "zero");
    BAD(q->amount_msat = (uint64_t)INT64_MAX + 1, "too big");
    BAD(q->settle_rail = LN, "settle rail");
    BAD((q->kind = HEARTH_POST_PAYMENT, q->rail = CR), "credit cash");
    BAD((q->kind = HEARTH_POST_PAYMENT, q->rail = LN), "no preimage");
    BAD((q->kind = HEARTH_POST_RESERVE, q->rail = LN, q->preimage[0] = 1,
         memset(q->job_id, 0, 32)), "reserve without job");
    BAD(q->memo = "0123456789012345678901234567890123456789012345678901234"
                  "5678901234567890123456789012345678901234567890123456789"
                  "012345678901234567890", "memo");
#undef BAD
    for (size_t i = 0; i < n; i++) {
        const char *why = NULL;
        int rc = hearth_ledger_post(l, &bad[i].p, &why);
        CHECKF(rc == HEARTH_EINVAL && why && !strncmp(why, "invalid: ", 9),
               "%s: %d", bad[i].what, rc);
    }
    CHECK(n_entries(l) == 0);
    /* balances refuse to overflow, and nothing is half-applied */
    hearth_ledger_post_req big = mk_req(HEARTH_POST_ACCEPTED, SELL, CR, 2,
                                        INT64_MAX, 2);
    CHECK(post(l, &big) == HEARTH_OK);
    big = mk_req(HEARTH_POST_ACCEPTED, SELL, CR, 2, 1, 3);
    CHECK(post(l, &big) == HEARTH_EINVAL);
    CHECK(n_entries(l) == 1);
    CHECK(post(l, &ok) == HEARTH_OK);
    check_books(l, "invalid");
    hearth_ledger_close(l);
}

static hearth_ledger_reservation res(hearth_ledger *l, uint32_t ev)
{
    hearth_ledger_reservation r;
    uint8_t job[32];
    mk_id('j', ev, job);
    memset(&r, 0, sizeof r);
    CHECK(hearth_ledger_reservation_get(l, job, &r) == HEARTH_OK);
    return r;
}

static void test_reservations(const char *dir)
{
    hearth_ledger *l = open_l(dir);
    uint8_t job[32];
    /* seller: 10000 prepaid, 6000 used, 4000 refunded */
    hearth_ledger_post_req p = mk_req(HEARTH_POST_RESERVE, SELL, LN, 1,
                                      10000, 1);
    CHECK(hearth_ledger_reserve(l, &p, NULL) == HEARTH_OK);
    CHECK(hearth_ledger_reserve(l, &p, NULL) == HEARTH_LEDGER_DUP);
    hearth_ledger_post_req other = p;
    mk_id('e', 99, other.event_id);
    CHECK(hearth_ledger_reserve(l, &other, NULL) == HEARTH_LEDGER_DUP);
    other.amount_msat = 9999;
    CHECK(hearth_ledger_reserve(l, &other, NULL) == HEARTH_EINVAL);
    hearth_ledger_reservation r = res(l, 1);
    CHECK(r.state == HEARTH_RES_OPEN && r.amount_msat == 10000 &&
          r.side == SELL && r.rail == LN && r.reserve_seq == 1);
    hearth_ledger_balance b = bal(l, 1, LN);
    CHECK(b.acct[HEARTH_ACCT_CASH] == 10000 &&
          b.acct[HEARTH_ACCT_RESERVED] == -10000);
    hearth_ledger_close(l);

    l = open_l(dir);  /* the reservation survives a restart */
    mk_id('j', 1, job);
    CHECK(hearth_ledger_release(l, job, 10001, 5, NULL) == HEARTH_EINVAL);
    CHECK(hearth_ledger_release(l, job, 6000, 5, NULL) == HEARTH_OK);
    CHECK(hearth_ledger_release(l, job, 6000, 5, NULL) == HEARTH_LEDGER_DUP);
    CHECK(hearth_ledger_release(l, job, 5000, 5, NULL) == HEARTH_EINVAL);
    r = res(l, 1);
    CHECK(r.state == HEARTH_RES_RELEASED && r.used_msat == 6000 &&
          r.release_seq == 2);
    b = bal(l, 1, LN);
    CHECK(b.acct[HEARTH_ACCT_RESERVED] == 0 &&
          b.acct[HEARTH_ACCT_REVENUE] == -6000 &&
          b.acct[HEARTH_ACCT_PAYABLE] == -4000 && b.net_owed == -4000);
    hearth_ledger_entry e[1];
    size_t n;
    CHECK(hearth_ledger_history(l, NULL, e, 1, &n) == HEARTH_OK && n == 1);
    CHECK(e[0].kind == HEARTH_POST_RELEASE && e[0].nlegs == 3 &&
          e[0].amount_msat == 6000);
    /* the refund paid back clears the payable */
    p = mk_req(HEARTH_POST_REFUND, SELL, LN, 1, 4000, 2);
    CHECK(post(l, &p) == HEARTH_OK);
    b = bal(l, 1, LN);
    CHECK(b.acct[HEARTH_ACCT_PAYABLE] == 0 &&
          b.acct[HEARTH_ACCT_CASH] == 6000);

    /* buyer: a cancelled job, nothing used, all refunded */
    p = mk_req(HEARTH_POST_RESERVE, BUY, LN, 2, 800, 3);
    CHECK(hearth_ledger_reserve(l, &p, NULL) == HEARTH_OK);
    mk_id('j', 3, job);
    CHECK(hearth_ledger_release(l, job, 0, 6, NULL) == HEARTH_OK);
    b = bal(l, 2, LN);
    CHECK(b.acct[HEARTH_ACCT_CASH] == -800 &&
          b.acct[HEARTH_ACCT_RESERVED] == 0 &&
          b.acct[HEARTH_ACCT_RECEIVABLE] == 800 &&
          b.acct[HEARTH_ACCT_EXPENSE] == 0 && b.net_owed == 800);
    p = mk_req(HEARTH_POST_REFUND, BUY, LN, 2, 800, 4);
    CHECK(post(l, &p) == HEARTH_OK);
    b = bal(l, 2, LN);
    CHECK(b.acct[HEARTH_ACCT_CASH] == 0 && b.net_owed == 0);

    /* buyer: fully used */
    p = mk_req(HEARTH_POST_RESERVE, BUY, LN, 3, 500, 5);
    CHECK(hearth_ledger_reserve(l, &p, NULL) == HEARTH_OK);
    mk_id('j', 5, job);
    CHECK(hearth_ledger_release(l, job, 500, 7, NULL) == HEARTH_OK);
    b = bal(l, 3, LN);
    CHECK(b.acct[HEARTH_ACCT_EXPENSE] == 500 &&
          b.acct[HEARTH_ACCT_CASH] == -500 && b.net_owed == 0);

    mk_id('j', 77, job);
    CHECK(hearth_ledger_release(l, job, 0, 7, NULL) == HEARTH_ENOTFOUND);
    hearth_ledger_report rep;
    CHECK(hearth_ledger_check(l, &rep) == HEARTH_OK &&
          rep.open_reservations == 0 && rep.entries == 8);
    hearth_ledger_close(l);
}

/* Seller and buyer books of the same events mirror each other. */
static void test_mirror(const char *base)
{
    char d1[4200], d2[4200];
    snprintf(d1, sizeof d1, "%s/seller", base);
    snprintf(d2, sizeof d2, "%s/buyer", base);
    hearth_ledger *s = open_l(d1), *b = open_l(d2);
    static const int kinds[] = {
        HEARTH_POST_ACCEPTED, HEARTH_POST_ACCEPTED, HEARTH_POST_DISPUTED,
        HEARTH_POST_REJECTED, HEARTH_POST_DISPUTED, HEARTH_POST_UPHELD,
        HEARTH_POST_REVERSED, HEARTH_POST_PAYMENT
    };
    for (uint32_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        int rail = kinds[i] == HEARTH_POST_PAYMENT ? LN : CR;
        hearth_ledger_post_req p = mk_req(kinds[i], SELL, rail, 1,
                                          100 * (i + 1), i);
        if (kinds[i] == HEARTH_POST_PAYMENT)
            p.settle_rail = CR;
        CHECK(post(s, &p) == HEARTH_OK);
        p.side = BUY;
        CHECK(post(b, &p) == HEARTH_OK);
    }
    for (int rail = CR; rail <= LN; rail++) {
        hearth_ledger_balance x = bal(s, 1, rail), y = bal(b, 1, rail);
        CHECK(x.net_owed == -y.net_owed);
        CHECK(x.acct[HEARTH_ACCT_REVENUE] == -y.acct[HEARTH_ACCT_EXPENSE]);
        CHECK(x.acct[HEARTH_ACCT_CASH] == -y.acct[HEARTH_ACCT_CASH]);
        CHECK(x.acct[HEARTH_ACCT_DISPUTED] ==
              -y.acct[HEARTH_ACCT_DISPUTED]);
    }
    /* receivable: 100 + 200 accepted, 400 of the held claims rejected
     * (so owed), 700 reversed, 800 paid: overpaid by 800; disputed:
     * 300 + 500 held, 400 rejected, 600 upheld */
    CHECK(bal(s, 1, CR).net_owed == 100 + 200 + 400 - 700 - 800);
    CHECK(bal(b, 1, CR).net_owed == -(100 + 200 + 400 - 700 - 800));
    CHECK(bal(s, 1, CR).acct[HEARTH_ACCT_DISPUTED] == 300 + 500 - 400 - 600);
    check_books(s, "mirror seller");
    check_books(b, "mirror buyer");
    hearth_ledger_close(s);
    hearth_ledger_close(b);
}

static void test_history(const char *dir)
{
    hearth_ledger *l = open_l(dir);
    for (uint32_t i = 0; i < 30; i++) {
        hearth_ledger_post_req p = mk_req(HEARTH_POST_ACCEPTED, SELL, CR,
                                          i % 3, 10 + i, i);
        CHECK(post(l, &p) == HEARTH_OK);
    }
    hearth_ledger_entry e[40];
    size_t n;
    CHECK(hearth_ledger_history(l, NULL, e, 40, &n) == HEARTH_OK && n == 30);
    int order = 1;
    for (size_t i = 0; i < n; i++)
        order &= e[i].seq == 30 - i && e[i].amount_msat == 10 + 29 - i;
    CHECK(order);
    CHECK(hearth_ledger_history(l, NULL, e, 5, &n) == HEARTH_OK && n == 5 &&
          e[0].seq == 30 && e[4].seq == 26);
    uint8_t cp[32];
    mk_id('c', 1, cp);
    CHECK(hearth_ledger_history(l, cp, e, 4, &n) == HEARTH_OK && n == 4);
    int mine = 1;
    for (size_t i = 0; i < n; i++)
        mine &= !memcmp(e[i].counterparty, cp, 32);
    CHECK(mine && e[0].seq == 29 && e[1].seq == 26);
    CHECK(hearth_ledger_history(l, NULL, e, 0, &n) == HEARTH_OK && n == 0);
    hearth_ledger_close(l);
}

static void test_csv(const char *dir)
{
    hearth_ledger *l = open_l(dir);
    hearth_buf b = HEARTH_BUF_INIT;
    const char *head = "seq,time,event_id,kind,side,counterparty,job_id,"
                       "account,rail,amount_msat,preimage,memo\r\n";
    CHECK(hearth_ledger_export_csv(l, &b) == HEARTH_OK &&
          !strcmp(b.p, head));
    hearth_ledger_post_req p = mk_req(HEARTH_POST_ACCEPTED, SELL, CR, 1,
                                      42, 1);
    p.memo = "job 1, \"fast\"\nline";
    memset(p.job_id, 0, 32);
    CHECK(post(l, &p) == HEARTH_OK);
    p = mk_req(HEARTH_POST_PAYMENT, SELL, LN, 1, 42, 2);
    p.settle_rail = CR;
    p.memo = NULL;
    CHECK(post(l, &p) == HEARTH_OK);
    hearth_buf_reset(&b);
    CHECK(hearth_ledger_export_csv(l, &b) == HEARTH_OK);
    char ev1[65], cp1[65], pre2[65];
    id_hex('e', 1, ev1);
    id_hex('c', 1, cp1);
    id_hex('p', 3, pre2);
    char want[4096];
    snprintf(want, sizeof want,
             "%s"
             "1,1700000001,%s,accepted,sell,%s,,receivable,credit,42,,"
             "\"job 1, \"\"fast\"\"\nline\"\r\n"
             "1,1700000001,%s,accepted,sell,%s,,revenue,credit,-42,,"
             "\"job 1, \"\"fast\"\"\nline\"\r\n",
             head, ev1, cp1, ev1, cp1);
    CHECKF(!strncmp(b.p, want, strlen(want)), "csv:\n%s", b.p);
    /* the payment: two more lines, cash on lightning and the credit
     * receivable cleared, with the preimage */
    const char *pay = b.p + strlen(want);
    CHECK(!strncmp(pay, "2,1700000002,", 13));
    CHECK(strstr(pay, ",payment,sell,") && strstr(pay, ",cash,lightning,42,")
          && strstr(pay, ",receivable,credit,-42,"));
    CHECK(strstr(pay, pre2) != NULL);
    int lines = 0;
    for (const char *s = b.p; (s = strstr(s, "\r\n")); s += 2)
        lines++;
    CHECK(lines == 5);

    /* JSON: parsed back */
    hearth_buf_reset(&b);
    CHECK(hearth_ledger_export_json(l, &b) == HEARTH_OK);
    json_error_t err;
    json_t *j = json_loads(b.p, 0, &err);
    CHECKF(j && json_is_array(j) && json_array_size(j) == 2, "json: %s",
           b.p);
    json_t *e0 = json_array_get(j, 0), *e1 = json_array_get(j, 1);
    CHECK(json_integer_value(json_object_get(e0, "seq")) == 1);
    CHECK(!strcmp(json_string_value(json_object_get(e0, "kind")),
                  "accepted"));
    CHECK(!strcmp(json_string_value(json_object_get(e0, "memo")),
                  "job 1, \"fast\"\nline"));
    CHECK(json_is_null(json_object_get(e0, "job_id")));
    CHECK(!strcmp(json_string_value(json_object_get(e0, "event_id")), ev1));
    json_t *legs = json_object_get(e1, "legs");
    CHECK(json_array_size(legs) == 2);
    CHECK(!strcmp(json_string_value(json_object_get(json_array_get(legs, 1),
                                                    "rail")), "credit"));
    CHECK(json_integer_value(json_object_get(json_array_get(legs, 1),
                                             "amount_msat")) == -42);
    CHECK(json_is_string(json_object_get(e1, "preimage")));
    json_decref(j);
    hearth_buf_free(&b);
    hearth_ledger_close(l);
}

/* ---- random postings against an oracle ---- */

#define RCP 6
#define RJOBS 4000

struct oracle {
    int64_t acct[RCP][HEARTH_RAIL_MAX + 1][HEARTH_ACCT_MAX + 1];
    uint64_t reserved[RJOBS];  /* 0: none */
    uint8_t res_side[RJOBS], res_cp[RJOBS], released[RJOBS];
    hearth_ledger_post_req done[RJOBS];
    uint32_t ndone;
    uint64_t entries;
};

static int apply_release(hearth_ledger *l, struct oracle *o, uint32_t j,
                         uint64_t used)
{
    uint8_t job[32];
    mk_id('j', j, job);
    int rc = hearth_ledger_release(l, job, used, 9, NULL);
    if (rc)
        return rc;
    int64_t *a = o->acct[o->res_cp[j]][LN];
    int s = o->res_side[j] == SELL ? 1 : -1;
    int64_t amt = (int64_t)o->reserved[j], u = (int64_t)used;
    a[HEARTH_ACCT_RESERVED] += s * amt;
    a[s > 0 ? HEARTH_ACCT_REVENUE : HEARTH_ACCT_EXPENSE] -= s * u;
    a[s > 0 ? HEARTH_ACCT_PAYABLE : HEARTH_ACCT_RECEIVABLE] -= s * (amt - u);
    o->released[j] = 1;
    o->entries++;
    return HEARTH_OK;
}

static int random_step(hearth_ledger *l, struct oracle *o, uint32_t i)
{
    int dice = rand() % 20;
    if (dice == 0 && o->ndone) {  /* replay an applied event */
        return post(l, &o->done[(uint32_t)rand() % o->ndone]) ==
               HEARTH_LEDGER_DUP ? 0 : 1;
    }
    if (dice == 1) {  /* release an open reservation, if any */
        uint32_t j = (uint32_t)rand() % (i + 1);
        if (o->reserved[j] && !o->released[j])
            return apply_release(l, o, j, (uint64_t)rand() %
                                              (o->reserved[j] + 1));
        return 0;
    }
    int kind = 1 + rand() % HEARTH_POST_RESERVE;
    int side = 1 + rand() % 2;
    int rail = kind >= HEARTH_POST_PAYMENT ? LN : 1 + rand() % 2;
    uint32_t cp = (uint32_t)rand() % RCP;
    uint64_t amount = 1 + (uint64_t)rand() % 100000;
    hearth_ledger_post_req p = mk_req(kind, side, rail, cp, amount, i);
    if (post(l, &p) != HEARTH_OK)
        return 1;
    oracle_legs(kind, side, (int64_t)amount, o->acct[cp][rail]);
    if (kind == HEARTH_POST_RESERVE) {
        o->reserved[i] = amount;
        o->res_side[i] = (uint8_t)side;
        o->res_cp[i] = (uint8_t)cp;
    }
    o->done[o->ndone++] = p;
    o->entries++;
    return 0;
}

static int oracle_matches(hearth_ledger *l, const struct oracle *o)
{
    int bad = 0;
    for (uint32_t cp = 0; cp < RCP; cp++)
        for (int rail = CR; rail <= LN; rail++) {
            hearth_ledger_balance b = bal(l, cp, rail);
            bad += memcmp(b.acct + 1, o->acct[cp][rail] + 1,
                          HEARTH_ACCT_MAX * sizeof(int64_t)) != 0;
        }
    return bad == 0 && n_entries(l) == o->entries;
}

static void test_random(const char *dir)
{
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
    printf("# random seed %u\n", seed);
    srand(seed);
    struct oracle *o = calloc(1, sizeof *o);
    hearth_ledger *l = open_l(dir);
    int fails = 0;
    for (uint32_t i = 0; i < 3000; i++)
        fails += random_step(l, o, i);
    CHECKF(fails == 0, "%d postings failed", fails);
    CHECK(oracle_matches(l, o));
    check_books(l, "random");
    hearth_ledger_close(l);
    l = open_l(dir);  /* reopen keeps everything */
    CHECK(oracle_matches(l, o));
    check_books(l, "random reopened");
    hearth_ledger_close(l);
    free(o);
}

/* ---- kill -9 ---- */

#define CRASH_ROUNDS 24
#define CRASH_MAX 20000u

static uint32_t crash_ev(int round, uint32_t i)
{
    return 1000000u + (uint32_t)round * 100000u + i;
}

/* Step i of a round: a reservation and its release on every fourth and
 * fifth step, settlement postings otherwise. Deterministic, so the
 * parent knows what each reported step posted. */
static int crash_step(hearth_ledger *l, int round, uint32_t i)
{
    uint32_t ev = crash_ev(round, i);
    uint8_t job[32];
    if (i % 5 == 4) {
        mk_id('j', ev - 1, job);
        return hearth_ledger_release(l, job, i % 3 ? 250 : 0, ev, NULL);
    }
    int kind = i % 5 == 3 ? HEARTH_POST_RESERVE
                          : 1 + (int)(i % HEARTH_POST_PAYMENT);
    int rail = kind >= HEARTH_POST_PAYMENT ? LN : CR;
    hearth_ledger_post_req p = mk_req(kind, 1 + (int)(i % 2), rail, i % 7,
                                      500 + i % 100, ev);
    return post(l, &p);
}

static void crash_child(const char *dir, int round, int fd)
{
    hearth_ledger *l = NULL;
    if (hearth_ledger_open(dir, &l) != HEARTH_OK)
        _exit(2);
    for (uint32_t i = 0; i < CRASH_MAX; i++) {
        if (crash_step(l, round, i) != HEARTH_OK)
            _exit(3);
        if (write(fd, &i, 4) != 4)
            _exit(4);
    }
    hearth_ledger_close(l);
    _exit(0);
}

/* Every reported step is in the books exactly once (the committed steps
 * of a round are a prefix: the reported ones and at most one more). */
static int crash_verify(hearth_ledger *l, int round, uint32_t reported,
                        uint64_t before)
{
    int bad = 0;
    for (uint32_t i = 0; i < reported; i++) {
        uint8_t id[32], job[32];
        if (i % 5 != 4) {
            mk_id('e', crash_ev(round, i), id);
            hearth_ledger_entry e;
            bad += hearth_ledger_find_event(l, id, &e) != HEARTH_OK ||
                   e.amount_msat != 500 + i % 100;
            continue;
        }
        hearth_ledger_reservation r;
        mk_id('j', crash_ev(round, i) - 1, job);
        bad += hearth_ledger_reservation_get(l, job, &r) != HEARTH_OK ||
               r.state != HEARTH_RES_RELEASED;
    }
    uint64_t now = n_entries(l);
    bad += now != before + reported && now != before + reported + 1;
    return bad;
}

static void test_crash(const char *dir)
{
    uint32_t total = 0;
    uint64_t before = 0;
    for (int round = 0; round < CRASH_ROUNDS; round++) {
        int fds[2];
        CHECK(pipe(fds) == 0);
        pid_t pid = fork();
        if (pid == 0) {
            close(fds[0]);
            crash_child(dir, round, fds[1]);
        }
        close(fds[1]);
        usleep((useconds_t)(rand() % 100000));
        kill(pid, SIGKILL);
        int status;
        CHECK(waitpid(pid, &status, 0) == pid);
        CHECKF(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
               "round %d: child ended %d", round, status);
        uint32_t msg, reported = 0;
        while (read(fds[0], &msg, 4) == 4)
            reported = msg + 1;
        close(fds[0]);
        total += reported;
        hearth_ledger *l = open_l(dir);
        int bad = crash_verify(l, round, reported, before);
        CHECKF(bad == 0, "round %d: %d postings lost or doubled", round,
               bad);
        check_books(l, "after kill -9");
        /* replaying the whole round applies nothing twice */
        uint64_t n = n_entries(l);
        int redo = 0;
        for (uint32_t i = 0; i < reported; i++)
            redo += crash_step(l, round, i) != HEARTH_LEDGER_DUP;
        CHECKF(redo == 0, "round %d: %d replays applied", round, redo);
        CHECK(n_entries(l) == n);
        before = n;
        hearth_ledger_close(l);
    }
    printf("# crash: %u acknowledged postings checked\n", total);
    CHECK(total > 0);
}

/* ---- threads ---- */

#define THREADS 4
#define SHARED 200u
#define OWN 100u

struct worker {
    hearth_ledger *l;
    int t;
    uint32_t applied, dups, fails;
};

static void *post_worker(void *arg)
{
    struct worker *w = arg;
    for (uint32_t i = 0; i < SHARED + OWN; i++) {
        /* the shared ids, each thread in its own order, then its own */
        uint32_t ev = i < SHARED ? (i * 7u + (uint32_t)w->t * 53u) % SHARED
                                 : 10000u * (uint32_t)(w->t + 1) + i;
        hearth_ledger_post_req p = mk_req(HEARTH_POST_ACCEPTED, SELL, CR,
                                          ev % 5, 100 + ev, ev);
        int rc = post(w->l, &p);
        w->applied += rc == HEARTH_OK;
        w->dups += rc == HEARTH_LEDGER_DUP;
        w->fails += rc != HEARTH_OK && rc != HEARTH_LEDGER_DUP;
        hearth_ledger_balance b;
        w->fails += hearth_ledger_balance_get(w->l, p.counterparty, CR, &b) !=
                    HEARTH_OK;
    }
    return NULL;
}

static void test_threads(const char *dir)
{
    hearth_ledger *l = open_l(dir);
    pthread_t th[THREADS];
    struct worker w[THREADS];
    uint32_t applied = 0, dups = 0;
    for (int t = 0; t < THREADS; t++) {
        w[t] = (struct worker){l, t, 0, 0, 0};
        CHECK(pthread_create(&th[t], NULL, post_worker, &w[t]) == 0);
    }
    for (int t = 0; t < THREADS; t++) {
        pthread_join(th[t], NULL);
        CHECKF(w[t].fails == 0, "thread %d: %u failures", t, w[t].fails);
        applied += w[t].applied;
        dups += w[t].dups;
    }
    CHECKF(applied == SHARED + THREADS * OWN, "%u applied", applied);
    CHECKF(dups == (THREADS - 1) * SHARED, "%u duplicates", dups);
    CHECK(n_entries(l) == SHARED + THREADS * OWN);
    int64_t want = 0;
    for (uint32_t ev = 0; ev < SHARED; ev++)
        want += ev % 5 == 0 ? 100 + ev : 0;
    for (int t = 0; t < THREADS; t++)
        for (uint32_t i = SHARED; i < SHARED + OWN; i++) {
            uint32_t ev = 10000u * (uint32_t)(t + 1) + i;
            want += ev % 5 == 0 ? 100 + ev : 0;
        }
    CHECK(bal(l, 0, CR).acct[HEARTH_ACCT_RECEIVABLE] == want);
    check_books(l, "threads");
    hearth_ledger_close(l);
}

static void test_open_errors(void)
{
    hearth_ledger *l = (hearth_ledger *)1;
    CHECK(hearth_ledger_open("/proc/nonexistent/ledger", &l) == HEARTH_EIO);
    CHECK(l == NULL);
    hearth_ledger_close(NULL);
}

int main(void)
{
    void (*const tests[])(const char *) = {
        test_kinds, test_standing, test_settle_rail, test_idempotent,
        test_invalid,
        test_reservations, test_history, test_csv, test_random, test_crash,
        test_threads
    };
    test_names();
    test_open_errors();
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        char *base = tap_tmpdir("ledger");
        char dir[4200];
        /* a directory that does not exist yet: open makes it */
        snprintf(dir, sizeof dir, "%s/ledger", base);
        tests[i](dir);
        struct stat st;
        CHECK(stat(dir, &st) == 0 && (st.st_mode & 0777) == 0700);
        CHECK(tap_rmtree(base) == 0);
        free(base);
    }
    char *base = tap_tmpdir("ledger");
    test_mirror(base);
    CHECK(tap_rmtree(base) == 0);
    free(base);
    return tap_done();
}
