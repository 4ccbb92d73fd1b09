/* The ledger's readers (docs/ledger.md): balances, totals, history,
 * CSV and JSON export, and the invariant check. Each runs in one read
 * transaction, so it sees one consistent snapshot of the books. */
#include "ledger_internal.h"

#include "hearth/error.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* ---- a cursor walk over one database ---- */

typedef int (*visit_fn)(const MDB_val *k, const MDB_val *v, void *ctx);

/* Visit every record from first (or from the first key >= start when
 * start is not NULL) forward, or from the last backwards. fn returning
 * non-zero stops the walk; 1 stops it without error. */
static int walk(hearth_ledger *l, MDB_txn *txn, int db, const MDB_val *start,
                int backwards, visit_fn fn, void *ctx)
{
    MDB_cursor *cur;
    MDB_val k = start ? *start : (MDB_val){0, NULL}, v;
    int rc = mdb_cursor_open(txn, l->e.dbi[db], &cur);
    if (rc)
        return hearth_lenv_err(rc);
    MDB_cursor_op op = start ? MDB_SET_RANGE : backwards ? MDB_LAST
                                                         : MDB_FIRST;
    MDB_cursor_op step = backwards ? MDB_PREV : MDB_NEXT;
    int hrc = HEARTH_OK;
    while ((rc = mdb_cursor_get(cur, &k, &v, op)) == MDB_SUCCESS) {
        if ((hrc = fn(&k, &v, ctx)))
            break;
        op = step;
    }
    mdb_cursor_close(cur);
    if (hrc)
        return hrc == 1 ? HEARTH_OK : hrc;
    return rc == MDB_NOTFOUND ? HEARTH_OK : hearth_lenv_err(rc);
}

typedef int (*read_fn)(hearth_ledger *l, MDB_txn *txn, void *ctx);

static int with_read(hearth_ledger *l, read_fn fn, void *ctx)
{
    MDB_txn *txn;
    int rc = hearth_lenv_rbegin(&l->e, &txn);
    if (rc)
        return rc;
    rc = fn(l, txn, ctx);
    hearth_lenv_rend(&l->e, txn);
    return rc;
}

/* ---- reservations ---- */

struct res_ctx {
    const uint8_t *job;
    hearth_ledger_reservation *out;
};

static int res_get(hearth_ledger *l, MDB_txn *txn, void *ctx)
{
    struct res_ctx *c = ctx;
    MDB_val k = {32, (void *)c->job}, v;
    int rc = mdb_get(txn, l->e.dbi[DB_RESERVATIONS], &k, &v);
    return rc ? hearth_lenv_err(rc)
              : hearth_ledger_res_decode(c->job, &v, c->out);
}

int hearth_ledger_reservation_get(hearth_ledger *l, const uint8_t job_id[32],
                                  hearth_ledger_reservation *out)
{
    struct res_ctx c = {job_id, out};
    return with_read(l, res_get, &c);
}

/* ---- balances ---- */

static int bal_value(const MDB_val *k, const MDB_val *v, int64_t *bal)
{
    if (k->mv_size != BAL_KEY || v->mv_size != 8)
        return HEARTH_EINVAL;
    *bal = (int64_t)hearth_ledger_get_le(v->mv_data, 8);
    return HEARTH_OK;
}

static void bal_add(hearth_ledger_balance *b, int account, int64_t bal)
{
    if (account < 1 || account > HEARTH_ACCT_MAX)
        return;
    b->acct[account] = bal;
    /* payable is credit-normal (negative when we owe), so the net
     * position is the plain sum */
    b->net_owed = b->acct[HEARTH_ACCT_RECEIVABLE] +
                  b->acct[HEARTH_ACCT_PAYABLE];
}

struct bal_ctx {
    hearth_ledger_balance *out;
    size_t max, n;
    uint8_t prefix[33];
};

/* one counterparty and rail: the keys sharing the 33-byte prefix */
static int bal_one(const MDB_val *k, const MDB_val *v, void *ctx)
{
    struct bal_ctx *c = ctx;
    int64_t bal;
    if (k->mv_size < 33 || memcmp(k->mv_data, c->prefix, 33))
        return 1;
    int rc = bal_value(k, v, &bal);
    if (rc == HEARTH_OK)
        bal_add(c->out, ((const uint8_t *)k->mv_data)[33], bal);
    return rc;
}

static int bal_get(hearth_ledger *l, MDB_txn *txn, void *ctx)
{
    struct bal_ctx *c = ctx;
    MDB_val start = {33, c->prefix};
    return walk(l, txn, DB_BALANCES, &start, 0, bal_one, c);
}

int hearth_ledger_balance_get(hearth_ledger *l, const uint8_t cp[32],
                              int rail, hearth_ledger_balance *out)
{
    struct bal_ctx c = {out, 1, 0, {0}};
    memset(out, 0, sizeof *out);
    memcpy(out->counterparty, cp, 32);
    out->rail = (uint8_t)rail;
    memcpy(c.prefix, cp, 32);
    c.prefix[32] = (uint8_t)rail;
    return with_read(l, bal_get, &c);
}

struct standing_ctx {
    const uint8_t *cp;
    hearth_ledger_standing *out;
};

static int standing_read(hearth_ledger *l, MDB_txn *txn, void *ctx)
{
    struct standing_ctx *c = ctx;
    uint8_t key[BAL_KEY];
    MDB_val k = {BAL_KEY, key}, v;
    memcpy(key, c->cp, 32);
    for (int r = 1; r <= HEARTH_RAIL_MAX; r++) {
        static const int accts[] = {HEARTH_ACCT_RECEIVABLE,
                                    HEARTH_ACCT_PAYABLE,
                                    HEARTH_ACCT_DISPUTED, HEARTH_ACCT_CASH};
        for (size_t i = 0; i < 4; i++) {
            int64_t bal;
            key[32] = (uint8_t)r;
            key[33] = (uint8_t)accts[i];
            int rc = mdb_get(txn, l->e.dbi[DB_BALANCES], &k, &v);
            if (rc == MDB_NOTFOUND)
                continue;
            if (rc)
                return hearth_lenv_err(rc);
            if ((rc = bal_value(&k, &v, &bal)))
                return rc;
            if (accts[i] == HEARTH_ACCT_DISPUTED)
                c->out->disputed_msat += bal;
            else if (accts[i] == HEARTH_ACCT_CASH)
                c->out->paid_msat += bal;
            else
                c->out->owed_msat += bal;
        }
    }
    MDB_val sk = {32, (void *)c->cp};
    int rc = mdb_get(txn, l->e.dbi[DB_STANDING], &sk, &v);
    if (rc == MDB_NOTFOUND)
        return HEARTH_OK;
    if (rc)
        return hearth_lenv_err(rc);
    if (v.mv_size != 8)
        return HEARTH_EINVAL;
    c->out->owing_since = (int64_t)hearth_ledger_get_le(v.mv_data, 8);
    return HEARTH_OK;
}

int hearth_ledger_standing_get(hearth_ledger *l, const uint8_t cp[32],
                               hearth_ledger_standing *out)
{
    struct standing_ctx c = {cp, out};
    memset(out, 0, sizeof *out);
    return with_read(l, standing_read, &c);
}

/* every pair: a new output slot whenever the 33-byte prefix changes */
static int bal_all(const MDB_val *k, const MDB_val *v, void *ctx)
{
    struct bal_ctx *c = ctx;
    int64_t bal;
    int rc = bal_value(k, v, &bal);
    if (rc)
        return rc;
    const uint8_t *key = k->mv_data;
    if (c->n == 0 || memcmp(key, c->prefix, 33)) {
        if (c->n == c->max)
            return 1;
        memcpy(c->prefix, key, 33);
        hearth_ledger_balance *b = &c->out[c->n++];
        memset(b, 0, sizeof *b);
        memcpy(b->counterparty, key, 32);
        b->rail = key[32];
    }
    bal_add(&c->out[c->n - 1], key[33], bal);
    return HEARTH_OK;
}

static int bal_list(hearth_ledger *l, MDB_txn *txn, void *ctx)
{
    return walk(l, txn, DB_BALANCES, NULL, 0, bal_all, ctx);
}

int hearth_ledger_balances(hearth_ledger *l, hearth_ledger_balance *out,
                           size_t max, size_t *n)
{
    struct bal_ctx c = {out, max, 0, {0}};
    *n = 0;
    if (max == 0)
        return HEARTH_OK;
    int rc = with_read(l, bal_list, &c);
    *n = rc ? 0 : c.n;
    return rc;
}

/* ---- totals ---- */

static int tot_one(const MDB_val *k, const MDB_val *v, void *ctx)
{
    hearth_ledger_totals *t = ctx;
    int64_t bal;
    int rc = bal_value(k, v, &bal);
    if (rc)
        return rc;
    const uint8_t *key = k->mv_data;
    if (key[32] >= 1 && key[32] <= HEARTH_RAIL_MAX && key[33] >= 1 &&
        key[33] <= HEARTH_ACCT_MAX)
        t->acct[key[32]][key[33]] += bal;
    return HEARTH_OK;
}

static int tot_get(hearth_ledger *l, MDB_txn *txn, void *ctx)
{
    hearth_ledger_totals *t = ctx;
    MDB_stat st;
    int rc = mdb_stat(txn, l->e.dbi[DB_ENTRIES], &st);
    if (rc)
        return hearth_lenv_err(rc);
    t->entries = st.ms_entries;
    return walk(l, txn, DB_BALANCES, NULL, 0, tot_one, t);
}

int hearth_ledger_totals_get(hearth_ledger *l, hearth_ledger_totals *out)
{
    memset(out, 0, sizeof *out);
    return with_read(l, tot_get, out);
}

/* ---- history ---- */

struct hist_ctx {
    const uint8_t *cp;
    hearth_ledger_entry *out;
    size_t max, n;
};

static int hist_one(const MDB_val *k, const MDB_val *v, void *ctx)
{
    struct hist_ctx *c = ctx;
    if (c->n == c->max)
        return 1;
    int rc = hearth_ledger_entry_decode(k, v, &c->out[c->n]);
    if (rc == HEARTH_OK &&
        (!c->cp || !memcmp(c->out[c->n].counterparty, c->cp, 32)))
        c->n++;
    return rc;
}

static int hist_get(hearth_ledger *l, MDB_txn *txn, void *ctx)
{
    return walk(l, txn, DB_ENTRIES, NULL, 1, hist_one, ctx);
}

int hearth_ledger_history(hearth_ledger *l, const uint8_t *cp,
                          hearth_ledger_entry *out, size_t max, size_t *n)
{
    struct hist_ctx c = {cp, out, max, 0};
    *n = 0;
    if (max == 0)
        return HEARTH_OK;
    int rc = with_read(l, hist_get, &c);
    *n = rc ? 0 : c.n;
    return rc;
}

struct find_ctx {
    const uint8_t *event_id;
    hearth_ledger_entry *out;
};

static int find_get(hearth_ledger *l, MDB_txn *txn, void *ctx)
{
    struct find_ctx *c = ctx;
    MDB_val k = {32, (void *)c->event_id}, sv, v;
    int rc = mdb_get(txn, l->e.dbi[DB_BY_EVENT], &k, &sv);
    if (rc)
        return hearth_lenv_err(rc);
    if (sv.mv_size != SEQ_KEY)
        return HEARTH_EINVAL;
    if ((rc = mdb_get(txn, l->e.dbi[DB_ENTRIES], &sv, &v)))
        return rc == MDB_NOTFOUND ? HEARTH_EINVAL : hearth_lenv_err(rc);
    return hearth_ledger_entry_decode(&sv, &v, c->out);
}

int hearth_ledger_find_event(hearth_ledger *l, const uint8_t event_id[32],
                             hearth_ledger_entry *out)
{
    struct find_ctx c = {event_id, out};
    return with_read(l, find_get, &c);
}

/* ---- export ---- */

static const char *side_name(int side)
{
    if (side == HEARTH_SIDE_SELL)
        return "sell";
    return side == HEARTH_SIDE_BUY ? "buy" : "unknown";
}

static int is_zero32(const uint8_t *p)
{
    static const uint8_t zero[32];
    return !memcmp(p, zero, 32);
}

/* RFC 4180: a field with a comma, quote, CR or LF is quoted and its
 * quotes doubled; others go as they are. */
static void csv_field(hearth_buf *b, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        hearth_buf_adds(b, s);
        return;
    }
    hearth_buf_addc(b, '"');
    for (; *s; s++) {
        if (*s == '"')
            hearth_buf_addc(b, '"');
        hearth_buf_addc(b, *s);
    }
    hearth_buf_addc(b, '"');
}

static int csv_one(const MDB_val *k, const MDB_val *v, void *ctx)
{
    hearth_buf *b = ctx;
    hearth_ledger_entry e;
    int rc = hearth_ledger_entry_decode(k, v, &e);
    if (rc)
        return rc;
    for (unsigned i = 0; i < e.nlegs; i++) {
        hearth_buf_addf(b, "%" PRIu64 ",%" PRId64 ",", e.seq, e.time);
        hearth_buf_addhex(b, e.event_id, 32);
        hearth_buf_addf(b, ",%s,%s,", hearth_ledger_kind_name(e.kind),
                        side_name(e.side));
        hearth_buf_addhex(b, e.counterparty, 32);
        hearth_buf_addc(b, ',');
        if (!is_zero32(e.job_id))
            hearth_buf_addhex(b, e.job_id, 32);
        hearth_buf_addf(b, ",%s,%s,%" PRId64 ",",
                        hearth_ledger_account_name(e.legs[i].account),
                        hearth_ledger_rail_name(e.legs[i].rail),
                        e.legs[i].amount_msat);
        if (!is_zero32(e.preimage))
            hearth_buf_addhex(b, e.preimage, 32);
        hearth_buf_addc(b, ',');
        csv_field(b, e.memo);
        hearth_buf_adds(b, "\r\n");
    }
    return hearth_buf_error(b);
}

static int csv_get(hearth_ledger *l, MDB_txn *txn, void *ctx)
{
    return walk(l, txn, DB_ENTRIES, NULL, 0, csv_one, ctx);
}

int hearth_ledger_export_csv(hearth_ledger *l, hearth_buf *out)
{
    hearth_buf_adds(out, "seq,time,event_id,kind,side,counterparty,job_id,"
                         "account,rail,amount_msat,preimage,memo\r\n");
    int rc = with_read(l, csv_get, out);
    return rc ? rc : hearth_buf_error(out);
}

struct json_ctx {
    hearth_buf *b;
    int first;
};

static void json_hex(hearth_buf *b, const char *name, const uint8_t *p)
{
    hearth_buf_addf(b, ",\"%s\":", name);
    if (is_zero32(p)) {
        hearth_buf_adds(b, "null");
        return;
    }
    hearth_buf_addc(b, '"');
    hearth_buf_addhex(b, p, 32);
    hearth_buf_addc(b, '"');
}

static void json_legs(hearth_buf *b, const hearth_ledger_entry *e)
{
    hearth_buf_adds(b, ",\"legs\":[");
    for (unsigned i = 0; i < e->nlegs; i++)
        hearth_buf_addf(b, "%s{\"account\":\"%s\",\"rail\":\"%s\","
                        "\"amount_msat\":%" PRId64 "}", i ? "," : "",
                        hearth_ledger_account_name(e->legs[i].account),
                        hearth_ledger_rail_name(e->legs[i].rail),
                        e->legs[i].amount_msat);
    hearth_buf_addc(b, ']');
}

static int json_one(const MDB_val *k, const MDB_val *v, void *ctx)
{
    struct json_ctx *c = ctx;
    hearth_ledger_entry e;
    int rc = hearth_ledger_entry_decode(k, v, &e);
    if (rc)
        return rc;
    hearth_buf *b = c->b;
    hearth_buf_addf(b, "%s{\"seq\":%" PRIu64 ",\"time\":%" PRId64,
                    c->first ? "" : ",", e.seq, e.time);
    c->first = 0;
    json_hex(b, "event_id", e.event_id);
    hearth_buf_addf(b, ",\"kind\":\"%s\",\"side\":\"%s\",\"rail\":\"%s\"",
                    hearth_ledger_kind_name(e.kind), side_name(e.side),
                    hearth_ledger_rail_name(e.rail));
    json_hex(b, "counterparty", e.counterparty);
    json_hex(b, "job_id", e.job_id);
    json_hex(b, "preimage", e.preimage);
    hearth_buf_addf(b, ",\"amount_msat\":%" PRIu64 ",\"memo\":",
                    e.amount_msat);
    hearth_buf_addjson(b, e.memo, strlen(e.memo));
    json_legs(b, &e);
    hearth_buf_addc(b, '}');
    return hearth_buf_error(b);
}

static int json_get(hearth_ledger *l, MDB_txn *txn, void *ctx)
{
    return walk(l, txn, DB_ENTRIES, NULL, 0, json_one, ctx);
}

int hearth_ledger_export_json(hearth_ledger *l, hearth_buf *out)
{
    struct json_ctx c = {out, 1};
    hearth_buf_addc(out, '[');
    int rc = with_read(l, json_get, &c);
    hearth_buf_addc(out, ']');
    return rc ? rc : hearth_buf_error(out);
}

/* ---- the invariant check ---- */

struct leg_rec {
    uint8_t key[BAL_KEY];
    int64_t amount;
};

struct check_ctx {
    hearth_ledger *l;
    MDB_txn *txn;
    hearth_ledger_report *r;
    struct leg_rec *legs;
    size_t nlegs, cap;
    size_t next;  /* merge position while walking balances */
};

static int keep_leg(struct check_ctx *c, const hearth_ledger_entry *e,
                    const hearth_ledger_leg *lg)
{
    if (c->nlegs == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 1024;
        struct leg_rec *p = realloc(c->legs, cap * sizeof *p);
        if (!p)
            return HEARTH_ENOMEM;
        c->legs = p;
        c->cap = cap;
    }
    struct leg_rec *r = &c->legs[c->nlegs++];
    memcpy(r->key, e->counterparty, 32);
    r->key[32] = lg->rail;
    r->key[33] = lg->account;
    r->amount = lg->amount_msat;
    return HEARTH_OK;
}

/* the entry's by_event record points back at it */
static int indexed(struct check_ctx *c, const hearth_ledger_entry *e)
{
    MDB_val k = {32, (void *)e->event_id}, v;
    int rc = mdb_get(c->txn, c->l->e.dbi[DB_BY_EVENT], &k, &v);
    return rc == MDB_SUCCESS && v.mv_size == SEQ_KEY &&
           hearth_ledger_seq_of(v.mv_data) == e->seq;
}

static int check_entry(const MDB_val *k, const MDB_val *v, void *ctx)
{
    struct check_ctx *c = ctx;
    hearth_ledger_entry e;
    int64_t sum = 0;
    c->r->entries++;
    if (hearth_ledger_entry_decode(k, v, &e)) {
        c->r->bad_entries++;
        return HEARTH_OK;
    }
    int over = 0;
    for (unsigned i = 0; i < e.nlegs; i++)
        over |= __builtin_add_overflow(sum, e.legs[i].amount_msat, &sum);
    if (e.nlegs < 2 || sum != 0 || over)
        c->r->bad_entries++;
    if (!indexed(c, &e))
        c->r->bad_index++;
    int rc = HEARTH_OK;
    for (unsigned i = 0; i < e.nlegs && !rc; i++)
        rc = keep_leg(c, &e, &e.legs[i]);
    return rc;
}

static int cmp_leg(const void *a, const void *b)
{
    return memcmp(((const struct leg_rec *)a)->key,
                  ((const struct leg_rec *)b)->key, BAL_KEY);
}

/* The replayed sum of the legs for the next key, advancing past keys
 * with no balance record (each a mismatch unless it sums to zero). */
static int64_t replay_until(struct check_ctx *c, const uint8_t *key)
{
    int64_t sum = 0;
    while (c->next < c->nlegs) {
        int d = memcmp(c->legs[c->next].key, key, BAL_KEY);
        if (d > 0)
            break;
        if (d == 0) {
            /* each balance was range-checked when posted */
            sum = (int64_t)((uint64_t)sum +
                            (uint64_t)c->legs[c->next++].amount);
            continue;
        }
        /* legs for a key the balances lack: their total must be 0 */
        int64_t lost = 0;
        size_t at = c->next;
        while (c->next < c->nlegs &&
               !memcmp(c->legs[c->next].key, c->legs[at].key, BAL_KEY))
            lost = (int64_t)((uint64_t)lost +
                             (uint64_t)c->legs[c->next++].amount);
        c->r->bad_balances += lost != 0;
    }
    return sum;
}

static int check_balance(const MDB_val *k, const MDB_val *v, void *ctx)
{
    struct check_ctx *c = ctx;
    int64_t bal;
    c->r->balances++;
    if (bal_value(k, v, &bal)) {
        c->r->bad_balances++;
        return HEARTH_OK;
    }
    if (__builtin_add_overflow(c->r->sum, bal, &c->r->sum))
        c->r->bad_balances++;
    if (replay_until(c, k->mv_data) != bal)
        c->r->bad_balances++;
    return HEARTH_OK;
}

static int check_res(const MDB_val *k, const MDB_val *v, void *ctx)
{
    struct check_ctx *c = ctx;
    hearth_ledger_reservation r;
    if (k->mv_size != 32 || hearth_ledger_res_decode(k->mv_data, v, &r))
        c->r->bad_index++;
    else
        c->r->open_reservations += r.state == HEARTH_RES_OPEN;
    return HEARTH_OK;
}

static int check_all(hearth_ledger *l, MDB_txn *txn, void *ctx)
{
    struct check_ctx *c = ctx;
    MDB_stat st;
    c->txn = txn;
    int rc = walk(l, txn, DB_ENTRIES, NULL, 0, check_entry, c);
    if (rc)
        return rc;
    if ((rc = mdb_stat(txn, l->e.dbi[DB_BY_EVENT], &st)))
        return hearth_lenv_err(rc);
    if (st.ms_entries != c->r->entries)
        c->r->bad_index++;
    if (c->nlegs)
        qsort(c->legs, c->nlegs, sizeof *c->legs, cmp_leg);
    if ((rc = walk(l, txn, DB_BALANCES, NULL, 0, check_balance, c)))
        return rc;
    /* legs after the last balance record */
    while (c->next < c->nlegs) {
        uint8_t key[BAL_KEY];
        memcpy(key, c->legs[c->next].key, BAL_KEY);
        int64_t lost = replay_until(c, key);
        c->r->bad_balances += lost != 0;
    }
    return walk(l, txn, DB_RESERVATIONS, NULL, 0, check_res, c);
}

int hearth_ledger_check(hearth_ledger *l, hearth_ledger_report *report)
{
    struct check_ctx c;
    memset(&c, 0, sizeof c);
    memset(report, 0, sizeof *report);
    c.l = l;
    c.r = report;
    int rc = with_read(l, check_all, &c);
    free(c.legs);
    if (rc)
        return rc;
    if (report->sum || report->bad_entries || report->bad_balances ||
        report->bad_index)
        return HEARTH_EINVAL;
    return HEARTH_OK;
}
