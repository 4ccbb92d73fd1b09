/* The ledger (docs/ledger.md): environment, record encoding and the one
 * write path, hearth_ledger_post. The readers are in ledger_read.c. */
#include "ledger_internal.h"

#include "hearth/error.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* One entry is ~200 bytes: a modest map that doubles on MDB_MAP_FULL
 * covers years of a hobbyist's postings without reserving address space
 * up front. */
#define INITIAL_MAP_SIZE (8ull << 20)

static const char *const db_names[DB_COUNT] = {
    "entries", "by_event", "balances", "reservations", "standing"
};

/* ---- names ---- */

const char *hearth_ledger_account_name(int account)
{
    static const char *const names[] = {
        NULL, "receivable", "payable", "revenue", "expense", "cash",
        "reserved", "disputed"
    };
    return account >= 1 && account <= HEARTH_ACCT_MAX ? names[account]
                                                      : "unknown";
}

const char *hearth_ledger_rail_name(int rail)
{
    if (rail == HEARTH_RAIL_CREDIT)
        return "credit";
    return rail == HEARTH_RAIL_LIGHTNING ? "lightning" : "unknown";
}

const char *hearth_ledger_kind_name(int kind)
{
    static const char *const names[] = {
        NULL, "accepted", "disputed", "reversed", "upheld", "rejected",
        "payment", "refund", "reserve", "release", "billed", "contested"
    };
    return kind >= 1 && kind <= HEARTH_POST_KIND_MAX ? names[kind]
                                                     : "unknown";
}

/* ---- encoding ---- */

void hearth_ledger_put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

uint64_t hearth_ledger_get_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* big-endian, so LMDB's memcmp order is posting order */
void hearth_ledger_seq_key(uint64_t seq, uint8_t k[SEQ_KEY])
{
    for (int i = 0; i < 8; i++)
        k[i] = (uint8_t)(seq >> (56 - 8 * i));
}

uint64_t hearth_ledger_seq_of(const uint8_t k[SEQ_KEY])
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | k[i];
    return v;
}

static size_t entry_encode(const hearth_ledger_entry *e, uint8_t *buf)
{
    size_t mlen = strnlen(e->memo, HEARTH_LEDGER_MEMO_MAX);
    buf[0] = ENTRY_VERSION;
    buf[1] = e->kind;
    buf[2] = e->side;
    buf[3] = e->rail;
    buf[4] = e->settle_rail;
    buf[5] = e->nlegs;
    buf[6] = (uint8_t)mlen;
    memcpy(buf + 7, e->event_id, 32);
    memcpy(buf + 39, e->counterparty, 32);
    memcpy(buf + 71, e->job_id, 32);
    memcpy(buf + 103, e->preimage, 32);
    hearth_ledger_put_le(buf + 135, e->amount_msat, 8);
    hearth_ledger_put_le(buf + 143, (uint64_t)e->time, 8);
    uint8_t *p = buf + ENTRY_FIXED;
    for (unsigned i = 0; i < e->nlegs; i++, p += LEG_SIZE) {
        p[0] = e->legs[i].account;
        p[1] = e->legs[i].rail;
        hearth_ledger_put_le(p + 2, (uint64_t)e->legs[i].amount_msat, 8);
    }
    memcpy(p, e->memo, mlen);
    return (size_t)(p - buf) + mlen;
}

int hearth_ledger_entry_decode(const MDB_val *k, const MDB_val *v,
                               hearth_ledger_entry *e)
{
    const uint8_t *b = v->mv_data;
    if (k->mv_size != SEQ_KEY || v->mv_size < ENTRY_FIXED ||
        b[0] != ENTRY_VERSION || b[5] > HEARTH_LEDGER_LEGS_MAX ||
        b[6] > HEARTH_LEDGER_MEMO_MAX ||
        v->mv_size != ENTRY_FIXED + LEG_SIZE * b[5] + b[6])
        return HEARTH_EINVAL;
    memset(e, 0, sizeof *e);
    e->seq = hearth_ledger_seq_of(k->mv_data);
    e->kind = b[1];
    e->side = b[2];
    e->rail = b[3];
    e->settle_rail = b[4];
    e->nlegs = b[5];
    memcpy(e->event_id, b + 7, 32);
    memcpy(e->counterparty, b + 39, 32);
    memcpy(e->job_id, b + 71, 32);
    memcpy(e->preimage, b + 103, 32);
    e->amount_msat = hearth_ledger_get_le(b + 135, 8);
    e->time = (int64_t)hearth_ledger_get_le(b + 143, 8);
    const uint8_t *p = b + ENTRY_FIXED;
    for (unsigned i = 0; i < e->nlegs; i++, p += LEG_SIZE) {
        e->legs[i].account = p[0];
        e->legs[i].rail = p[1];
        e->legs[i].amount_msat = (int64_t)hearth_ledger_get_le(p + 2, 8);
    }
    memcpy(e->memo, p, b[6]);
    return HEARTH_OK;
}

static void res_encode(const hearth_ledger_reservation *r, uint8_t *b)
{
    b[0] = RES_VERSION;
    b[1] = r->side;
    b[2] = r->rail;
    b[3] = r->state;
    memcpy(b + 4, r->counterparty, 32);
    hearth_ledger_put_le(b + 36, r->amount_msat, 8);
    hearth_ledger_put_le(b + 44, r->used_msat, 8);
    hearth_ledger_put_le(b + 52, r->reserve_seq, 8);
    hearth_ledger_put_le(b + 60, r->release_seq, 8);
}

int hearth_ledger_res_decode(const uint8_t job[32], const MDB_val *v,
                             hearth_ledger_reservation *r)
{
    const uint8_t *b = v->mv_data;
    if (v->mv_size != RES_SIZE || b[0] != RES_VERSION)
        return HEARTH_EINVAL;
    memset(r, 0, sizeof *r);
    memcpy(r->job_id, job, 32);
    r->side = b[1];
    r->rail = b[2];
    r->state = b[3];
    memcpy(r->counterparty, b + 4, 32);
    r->amount_msat = hearth_ledger_get_le(b + 36, 8);
    r->used_msat = hearth_ledger_get_le(b + 44, 8);
    r->reserve_seq = hearth_ledger_get_le(b + 52, 8);
    r->release_seq = hearth_ledger_get_le(b + 60, 8);
    return HEARTH_OK;
}

/* ---- the chart: which legs each kind posts ---- */

/* The seller's legs; amounts in units of a (the amount) or u (used) and
 * r (the refund, a - u) for RELEASE. The buyer mirrors them. */
static int seller_legs(const hearth_ledger_entry *e, uint64_t reserved,
                       hearth_ledger_leg *lg)
{
    int64_t a = (int64_t)e->amount_msat;
    uint8_t rl = e->rail;
    uint8_t sr = e->settle_rail ? e->settle_rail : e->rail;
#define LEG(i, acc, rail_, amt) \
    (lg[i] = (hearth_ledger_leg){(uint8_t)(acc), (uint8_t)(rail_), (amt)})
    switch (e->kind) {
    case HEARTH_POST_ACCEPTED:
        LEG(0, HEARTH_ACCT_RECEIVABLE, rl, a);
        LEG(1, HEARTH_ACCT_REVENUE, rl, -a);
        return 2;
    case HEARTH_POST_DISPUTED:
        LEG(0, HEARTH_ACCT_DISPUTED, rl, a);
        LEG(1, HEARTH_ACCT_REVENUE, rl, -a);
        return 2;
    case HEARTH_POST_BILLED:
        /* the same legs as an accepted note: the claim exists from
         * delivery, so a customer who never answers still counts
         * against its credit limit */
        LEG(0, HEARTH_ACCT_RECEIVABLE, rl, a);
        LEG(1, HEARTH_ACCT_REVENUE, rl, -a);
        return 2;
    case HEARTH_POST_CONTESTED:
        LEG(0, HEARTH_ACCT_DISPUTED, rl, a);
        LEG(1, HEARTH_ACCT_RECEIVABLE, rl, -a);
        return 2;
    case HEARTH_POST_REVERSED:
        LEG(0, HEARTH_ACCT_REVENUE, rl, a);
        LEG(1, HEARTH_ACCT_RECEIVABLE, rl, -a);
        return 2;
    case HEARTH_POST_UPHELD:
        LEG(0, HEARTH_ACCT_REVENUE, rl, a);
        LEG(1, HEARTH_ACCT_DISPUTED, rl, -a);
        return 2;
    case HEARTH_POST_REJECTED:
        LEG(0, HEARTH_ACCT_RECEIVABLE, rl, a);
        LEG(1, HEARTH_ACCT_DISPUTED, rl, -a);
        return 2;
    case HEARTH_POST_PAYMENT:
        LEG(0, HEARTH_ACCT_CASH, rl, a);
        LEG(1, HEARTH_ACCT_RECEIVABLE, sr, -a);
        return 2;
    case HEARTH_POST_REFUND:
        LEG(0, HEARTH_ACCT_PAYABLE, rl, a);
        LEG(1, HEARTH_ACCT_CASH, rl, -a);
        return 2;
    case HEARTH_POST_RESERVE:
        LEG(0, HEARTH_ACCT_CASH, rl, a);
        LEG(1, HEARTH_ACCT_RESERVED, rl, -a);
        return 2;
    case HEARTH_POST_RELEASE: {
        /* zero legs are left out; reserved > 0 keeps at least two */
        int n = 0;
        LEG(n++, HEARTH_ACCT_RESERVED, rl, (int64_t)reserved);
        if (a > 0)
            LEG(n++, HEARTH_ACCT_REVENUE, rl, -a);
        if ((int64_t)reserved > a)
            LEG(n++, HEARTH_ACCT_PAYABLE, rl, a - (int64_t)reserved);
        return n;
    }
    }
#undef LEG
    return 0;
}

static uint8_t mirror_account(uint8_t acc)
{
    switch (acc) {
    case HEARTH_ACCT_RECEIVABLE: return HEARTH_ACCT_PAYABLE;
    case HEARTH_ACCT_PAYABLE: return HEARTH_ACCT_RECEIVABLE;
    case HEARTH_ACCT_REVENUE: return HEARTH_ACCT_EXPENSE;
    case HEARTH_ACCT_EXPENSE: return HEARTH_ACCT_REVENUE;
    }
    return acc;
}

static void make_legs(hearth_ledger_entry *e, uint64_t reserved)
{
    e->nlegs = (uint8_t)seller_legs(e, reserved, e->legs);
    if (e->side != HEARTH_SIDE_BUY)
        return;
    for (unsigned i = 0; i < e->nlegs; i++) {
        e->legs[i].account = mirror_account(e->legs[i].account);
        e->legs[i].amount_msat = -e->legs[i].amount_msat;
    }
}

/* ---- request validation ---- */

static int is_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= p[i];
    return acc == 0;
}

static int moves_cash(int kind)
{
    return kind == HEARTH_POST_PAYMENT || kind == HEARTH_POST_REFUND ||
           kind == HEARTH_POST_RESERVE;
}

static int rail_ok(int rail)
{
    return rail >= 1 && rail <= HEARTH_RAIL_MAX;
}

static int fail(const char **why, const char *reason)
{
    *why = reason;
    return HEARTH_EINVAL;
}

static int req_check(const hearth_ledger_post_req *p, const char **why)
{
    if (p->kind < 1 || p->kind > HEARTH_POST_KIND_MAX)
        return fail(why, "invalid: unknown posting kind");
    if (p->side != HEARTH_SIDE_SELL && p->side != HEARTH_SIDE_BUY &&
        p->kind != HEARTH_POST_RELEASE)
        return fail(why, "invalid: unknown side");
    if (p->kind != HEARTH_POST_RELEASE && !rail_ok(p->rail))
        return fail(why, "invalid: unknown rail");
    if (p->settle_rail && (p->kind != HEARTH_POST_PAYMENT ||
                           !rail_ok(p->settle_rail)))
        return fail(why, "invalid: settle rail only for a payment");
    if (p->amount_msat > INT64_MAX)
        return fail(why, "invalid: amount does not fit a balance");
    if (p->amount_msat == 0 && p->kind != HEARTH_POST_RELEASE)
        return fail(why, "invalid: amount is zero");
    if (moves_cash(p->kind) && p->rail == HEARTH_RAIL_CREDIT)
        return fail(why, "invalid: no money moves on mutual credit");
    if (moves_cash(p->kind) && p->rail == HEARTH_RAIL_LIGHTNING &&
        is_zero(p->preimage, 32))
        return fail(why, "invalid: a Lightning payment needs its preimage");
    if ((p->kind == HEARTH_POST_RESERVE || p->kind == HEARTH_POST_RELEASE) &&
        is_zero(p->job_id, 32))
        return fail(why, "invalid: a reservation needs a job id");
    if (p->memo && strlen(p->memo) > HEARTH_LEDGER_MEMO_MAX)
        return fail(why, "invalid: memo too long");
    return HEARTH_OK;
}

static void entry_from_req(const hearth_ledger_post_req *p,
                           hearth_ledger_entry *e)
{
    memset(e, 0, sizeof *e);
    memcpy(e->event_id, p->event_id, 32);
    e->kind = p->kind;
    e->side = p->side;
    e->rail = p->rail;
    e->settle_rail = p->settle_rail;
    memcpy(e->counterparty, p->counterparty, 32);
    memcpy(e->job_id, p->job_id, 32);
    memcpy(e->preimage, p->preimage, 32);
    e->amount_msat = p->amount_msat;
    e->time = p->time;
    if (p->memo)
        memcpy(e->memo, p->memo, strlen(p->memo));
}

/* ---- LMDB plumbing ---- */

static int wput(hearth_lenv_txn *w, int db, const void *k, size_t klen,
                const void *v, size_t vlen, unsigned flags)
{
    MDB_val key = {klen, (void *)k}, val = {vlen, (void *)v};
    int rc = mdb_put(w->txn, w->e->dbi[db], &key, &val, flags);
    return rc ? hearth_lenv_fail(w, rc) : HEARTH_OK;
}

/* HEARTH_ENOTFOUND when absent */
static int wget(hearth_lenv_txn *w, int db, const void *k, size_t klen,
                MDB_val *v)
{
    MDB_val key = {klen, (void *)k};
    int rc = mdb_get(w->txn, w->e->dbi[db], &key, v);
    if (rc == MDB_NOTFOUND)
        return HEARTH_ENOTFOUND;
    return rc ? hearth_lenv_fail(w, rc) : HEARTH_OK;
}

int hearth_ledger_open(const char *dir, hearth_ledger **out)
{
    *out = NULL;
    hearth_ledger *l = calloc(1, sizeof *l);
    if (!l)
        return HEARTH_ENOMEM;
    int rc = hearth_lenv_open(&l->e, dir, db_names, DB_COUNT,
                              INITIAL_MAP_SIZE);
    if (rc) {
        free(l);
        return rc;
    }
    *out = l;
    return HEARTH_OK;
}

void hearth_ledger_close(hearth_ledger *l)
{
    if (!l)
        return;
    hearth_lenv_close(&l->e);
    free(l);
}

/* ---- posting ---- */

struct post_ctx {
    const hearth_ledger_post_req *req;
    hearth_ledger_entry e;
    const char *why;
};

/* The event was applied before: a duplicate if it says the same thing,
 * an error if the id is being reused for something else. */
static int seen_event(hearth_lenv_txn *w, struct post_ctx *c, const MDB_val *sv)
{
    MDB_val v;
    hearth_ledger_entry old;
    if (sv->mv_size != SEQ_KEY)
        return HEARTH_EINVAL;
    int rc = wget(w, DB_ENTRIES, sv->mv_data, SEQ_KEY, &v);
    if (rc)
        return rc == HEARTH_ENOTFOUND ? HEARTH_EINVAL : rc;
    MDB_val k = {SEQ_KEY, sv->mv_data};
    if ((rc = hearth_ledger_entry_decode(&k, &v, &old)))
        return rc;
    const hearth_ledger_post_req *p = c->req;
    if (old.kind != p->kind || old.amount_msat != p->amount_msat ||
        memcmp(old.job_id, p->job_id, 32) ||
        (p->kind != HEARTH_POST_RELEASE &&
         (old.side != p->side || old.rail != p->rail ||
          memcmp(old.counterparty, p->counterparty, 32))))
        return fail(&c->why,
                    "invalid: event already applied with other content");
    return HEARTH_LEDGER_DUP;
}

static int load_res(hearth_lenv_txn *w, const uint8_t job[32],
                    hearth_ledger_reservation *r)
{
    MDB_val v;
    int rc = wget(w, DB_RESERVATIONS, job, 32, &v);
    return rc ? rc : hearth_ledger_res_decode(job, &v, r);
}

/* RESERVE: one reservation per job */
static int check_reserve(hearth_lenv_txn *w, struct post_ctx *c)
{
    hearth_ledger_reservation r;
    int rc = load_res(w, c->e.job_id, &r);
    if (rc == HEARTH_ENOTFOUND)
        return HEARTH_OK;
    if (rc)
        return rc;
    if (r.side == c->e.side && r.rail == c->e.rail &&
        r.amount_msat == c->e.amount_msat &&
        !memcmp(r.counterparty, c->e.counterparty, 32))
        return HEARTH_LEDGER_DUP;
    return fail(&c->why, "invalid: job already has another reservation");
}

/* RELEASE: takes side, rail and counterparty from the reservation */
static int check_release(hearth_lenv_txn *w, struct post_ctx *c,
                         hearth_ledger_reservation *r)
{
    int rc = load_res(w, c->e.job_id, r);
    if (rc == HEARTH_ENOTFOUND)
        c->why = "invalid: no reservation for this job";
    if (rc)
        return rc;
    if (r->state == HEARTH_RES_RELEASED)
        return r->used_msat == c->e.amount_msat
            ? HEARTH_LEDGER_DUP
            : fail(&c->why, "invalid: reservation released already");
    if (c->e.amount_msat > r->amount_msat)
        return fail(&c->why, "invalid: used exceeds the reservation");
    c->e.side = r->side;
    c->e.rail = r->rail;
    memcpy(c->e.counterparty, r->counterparty, 32);
    return HEARTH_OK;
}

static int next_seq(hearth_lenv_txn *w, uint64_t *seq)
{
    MDB_cursor *cur;
    MDB_val k, v;
    int rc = mdb_cursor_open(w->txn, w->e->dbi[DB_ENTRIES], &cur);
    if (rc)
        return hearth_lenv_fail(w, rc);
    rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
    mdb_cursor_close(cur);
    if (rc == MDB_NOTFOUND) {
        *seq = 1;
        return HEARTH_OK;
    }
    if (rc)
        return hearth_lenv_fail(w, rc);
    if (k.mv_size != SEQ_KEY)
        return HEARTH_EINVAL;
    *seq = hearth_ledger_seq_of(k.mv_data) + 1;
    return HEARTH_OK;
}

/* add one leg to its balance, refusing to overflow */
static int apply_leg(hearth_lenv_txn *w, struct post_ctx *c,
                     const hearth_ledger_leg *lg)
{
    uint8_t key[BAL_KEY], val[8];
    MDB_val v;
    int64_t bal = 0;
    memcpy(key, c->e.counterparty, 32);
    key[32] = lg->rail;
    key[33] = lg->account;
    int rc = wget(w, DB_BALANCES, key, BAL_KEY, &v);
    if (rc == HEARTH_OK && v.mv_size == 8)
        bal = (int64_t)hearth_ledger_get_le(v.mv_data, 8);
    else if (rc == HEARTH_OK)
        return HEARTH_EINVAL;
    else if (rc != HEARTH_ENOTFOUND)
        return rc;
    if (__builtin_add_overflow(bal, lg->amount_msat, &bal))
        return fail(&c->why, "invalid: balance would overflow");
    hearth_ledger_put_le(val, (uint64_t)bal, 8);
    return wput(w, DB_BALANCES, key, BAL_KEY, val, 8, 0);
}

/* sum of one account of cp over every rail */
static int rails_sum(hearth_lenv_txn *w, const uint8_t cp[32], int account,
                     int64_t *sum)
{
    uint8_t key[BAL_KEY];
    MDB_val v;
    *sum = 0;
    memcpy(key, cp, 32);
    key[33] = (uint8_t)account;
    for (int r = 1; r <= HEARTH_RAIL_MAX; r++) {
        key[32] = (uint8_t)r;
        int rc = wget(w, DB_BALANCES, key, BAL_KEY, &v);
        if (rc == HEARTH_ENOTFOUND)
            continue;
        if (rc)
            return rc;
        if (v.mv_size != 8)
            return HEARTH_EINVAL;
        *sum += (int64_t)hearth_ledger_get_le(v.mv_data, 8);
    }
    return HEARTH_OK;
}

/* Since when the counterparty has owed us something without a break:
 * the credit policy's deadline runs from there (docs/settlement.md). */
static int update_standing(hearth_lenv_txn *w, struct post_ctx *c)
{
    int64_t rcv, pay;
    MDB_val v;
    uint8_t val[8];
    int rc = rails_sum(w, c->e.counterparty, HEARTH_ACCT_RECEIVABLE, &rcv);
    if (rc || (rc = rails_sum(w, c->e.counterparty, HEARTH_ACCT_PAYABLE,
                              &pay)))
        return rc;
    rc = wget(w, DB_STANDING, c->e.counterparty, 32, &v);
    if (rc && rc != HEARTH_ENOTFOUND)
        return rc;
    int had = rc == HEARTH_OK;
    if (rcv + pay <= 0) {
        if (!had)
            return HEARTH_OK;
        rc = mdb_del(w->txn, w->e->dbi[DB_STANDING],
                     &(MDB_val){32, c->e.counterparty}, NULL);
        return rc ? hearth_lenv_fail(w, rc) : HEARTH_OK;
    }
    if (had)
        return HEARTH_OK; /* still owing: the clock keeps running */
    hearth_ledger_put_le(val, (uint64_t)c->e.time, 8);
    return wput(w, DB_STANDING, c->e.counterparty, 32, val, 8, 0);
}

static int write_res(hearth_lenv_txn *w, struct post_ctx *c,
                     hearth_ledger_reservation *r, uint64_t seq)
{
    uint8_t buf[RES_SIZE];
    if (c->e.kind == HEARTH_POST_RESERVE) {
        memset(r, 0, sizeof *r);
        r->side = c->e.side;
        r->rail = c->e.rail;
        r->state = HEARTH_RES_OPEN;
        memcpy(r->counterparty, c->e.counterparty, 32);
        r->amount_msat = c->e.amount_msat;
        r->reserve_seq = seq;
    } else {
        r->state = HEARTH_RES_RELEASED;
        r->used_msat = c->e.amount_msat;
        r->release_seq = seq;
    }
    res_encode(r, buf);
    return wput(w, DB_RESERVATIONS, c->e.job_id, 32, buf, RES_SIZE, 0);
}

/* the checks that need the database; fills in what a release inherits */
static int post_checks(hearth_lenv_txn *w, struct post_ctx *c,
                       hearth_ledger_reservation *r)
{
    MDB_val sv;
    int rc = wget(w, DB_BY_EVENT, c->e.event_id, 32, &sv);
    if (rc == HEARTH_OK)
        return seen_event(w, c, &sv);
    if (rc != HEARTH_ENOTFOUND)
        return rc;
    if (c->e.kind == HEARTH_POST_RESERVE)
        return check_reserve(w, c);
    if (c->e.kind == HEARTH_POST_RELEASE)
        return check_release(w, c, r);
    return HEARTH_OK;
}

static int post_fn(hearth_lenv_txn *w, void *ctx)
{
    struct post_ctx *c = ctx;
    hearth_ledger_reservation r = {.amount_msat = 0};
    uint8_t key[SEQ_KEY], buf[ENTRY_MAX];
    uint64_t seq = 0;
    entry_from_req(c->req, &c->e);  /* afresh: a replay after MAP_FULL */
    int rc = post_checks(w, c, &r);
    if (rc || (rc = next_seq(w, &seq)))
        return rc;
    c->e.seq = seq;
    make_legs(&c->e, r.amount_msat);
    hearth_ledger_seq_key(seq, key);
    size_t len = entry_encode(&c->e, buf);
    /* MDB_APPEND: the sequence only grows, and LMDB checks it */
    if ((rc = wput(w, DB_ENTRIES, key, SEQ_KEY, buf, len, MDB_APPEND)) ||
        (rc = wput(w, DB_BY_EVENT, c->e.event_id, 32, key, SEQ_KEY,
                   MDB_NOOVERWRITE)))
        return rc;
    for (unsigned i = 0; i < c->e.nlegs; i++)
        if ((rc = apply_leg(w, c, &c->e.legs[i])))
            return rc;
    if ((rc = update_standing(w, c)))
        return rc;
    if (c->e.kind == HEARTH_POST_RESERVE || c->e.kind == HEARTH_POST_RELEASE)
        return write_res(w, c, &r, seq);
    return HEARTH_OK;
}

int hearth_ledger_post(hearth_ledger *l, const hearth_ledger_post_req *p,
                       const char **why)
{
    struct post_ctx c;
    memset(&c, 0, sizeof c);
    c.req = p;
    int rc = req_check(p, &c.why);
    if (rc == HEARTH_OK)
        rc = hearth_lenv_write(&l->e, post_fn, &c);
    if (why)
        *why = c.why;
    return rc;
}

int hearth_ledger_reserve(hearth_ledger *l, const hearth_ledger_post_req *p,
                          const char **why)
{
    hearth_ledger_post_req q = *p;
    q.kind = HEARTH_POST_RESERVE;
    return hearth_ledger_post(l, &q, why);
}

int hearth_ledger_release(hearth_ledger *l, const uint8_t job_id[32],
                          uint64_t used_msat, int64_t time, const char **why)
{
    static const char tag[] = "hearth ledger release";
    uint8_t pre[sizeof tag + 32];
    hearth_ledger_post_req q;
    memset(&q, 0, sizeof q);
    /* a key of its own, so a release needs no event and a repeated
     * release of the same job is recognised by by_event too */
    memcpy(pre, tag, sizeof tag);
    memcpy(pre + sizeof tag, job_id, 32);
    crypto_hash_sha256(q.event_id, pre, sizeof pre);
    q.kind = HEARTH_POST_RELEASE;
    memcpy(q.job_id, job_id, 32);
    q.amount_msat = used_msat;
    q.time = time;
    return hearth_ledger_post(l, &q, why);
}
