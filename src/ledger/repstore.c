/* The receipt store (include/hearth/repstore.h, docs/reputation.md
 * "Wiring"): settlement events seen on relays, reduced to the fields
 * reputation needs, in an LMDB environment of its own.
 *
 * Databases:
 *   recs     provider | created_at u64 BE | id -> record (below); keyed by
 *            provider first so a provider's oldest record is its first key
 *   by_id    id -> provider | created_at BE: idempotency, and the way back
 *            to a record
 *   by_time  created_at BE | id -> provider: the oldest record of all
 *   counts   provider -> records u32 LE, for the per-provider bound
 * Record, version 1, integers little-endian:
 *   0 version  1 type (1 note, 2 receipt)  2 flags (note: final; receipt:
 *   1 dispute)  3 reason  4 customer  36 request  68 amount u64
 *   76 seq u32 (notes) */
#include "hearth/repstore.h"

#include "hearth/error.h"
#include "hearth/kinds.h"
#include "hearth/meter.h"

#include <stdlib.h>
#include <string.h>

#include "../store/lenv.h"

enum { DB_RECS, DB_BY_ID, DB_BY_TIME, DB_COUNTS, DB_COUNT };

#define REC_VERSION 1u
#define REC_SIZE 80u
#define REC_KEY 72u    /* provider, time, id */
#define TIME_KEY 40u   /* time, id */
#define T_NOTE 1u
#define T_RECEIPT 2u

/* ~200 bytes per record with the indexes: the default bound of 262144
 * records needs ~64 MiB; start small, the map doubles on MDB_MAP_FULL */
#define INITIAL_MAP_SIZE (8ull << 20)

static const char *const db_names[DB_COUNT] = {
    "recs", "by_id", "by_time", "counts"
};

struct hearth_repstore {
    hearth_lenv e;
    hearth_repstore_opts o;
    uint64_t evicted;  /* updated after each commit, under the writer */
};

/* One record as decoded. */
typedef struct rec {
    uint8_t provider[32], id[32], customer[32], request[32];
    int64_t created_at;
    uint8_t type, flags, reason;
    uint64_t amount;
    uint32_t seq;
} rec;

void hearth_repstore_opts_default(hearth_repstore_opts *o)
{
    o->max_per_provider = 8192;
    o->max_total = 262144;
}

/* ---- encoding ---- */

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static void put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void rec_key(const rec *r, uint8_t k[REC_KEY])
{
    memcpy(k, r->provider, 32);
    put_be64(k + 32, (uint64_t)(r->created_at < 0 ? 0 : r->created_at));
    memcpy(k + 40, r->id, 32);
}

static void rec_encode(const rec *r, uint8_t b[REC_SIZE])
{
    memset(b, 0, REC_SIZE);
    b[0] = REC_VERSION;
    b[1] = r->type;
    b[2] = r->flags;
    b[3] = r->reason;
    memcpy(b + 4, r->customer, 32);
    memcpy(b + 36, r->request, 32);
    put_le(b + 68, r->amount, 8);
    put_le(b + 76, r->seq, 4);
}

static int rec_decode(const MDB_val *k, const MDB_val *v, rec *r)
{
    const uint8_t *kb = k->mv_data, *b = v->mv_data;
    if (k->mv_size != REC_KEY || v->mv_size != REC_SIZE ||
        b[0] != REC_VERSION || (b[1] != T_NOTE && b[1] != T_RECEIPT))
        return HEARTH_EINVAL;
    memcpy(r->provider, kb, 32);
    r->created_at = (int64_t)get_be64(kb + 32);
    memcpy(r->id, kb + 40, 32);
    r->type = b[1];
    r->flags = b[2];
    r->reason = b[3];
    memcpy(r->customer, b + 4, 32);
    memcpy(r->request, b + 36, 32);
    r->amount = get_le(b + 68, 8);
    r->seq = (uint32_t)get_le(b + 76, 4);
    return HEARTH_OK;
}

/* An event to a record: meter.h's strict parsers decide; *why on
 * refusal. HEARTH_ENOTFOUND for another kind. */
static int event_to_rec(const hearth_event *ev, int64_t now, rec *r,
                        const char **why)
{
    memset(r, 0, sizeof *r);
    memcpy(r->id, ev->id, 32);
    r->created_at = ev->created_at;
    if (ev->kind == HEARTH_KIND_METERING_NOTE) {
        hearth_meter_note n;
        if (hearth_meter_note_from_event(ev, now, &n, why))
            return HEARTH_EINVAL;
        r->type = T_NOTE;
        memcpy(r->provider, n.provider, 32);
        memcpy(r->customer, n.customer, 32);
        memcpy(r->request, n.request_id, 32);
        r->flags = n.final != 0;
        r->amount = n.amount_msat;
        r->seq = n.seq;
        return HEARTH_OK;
    }
    if (ev->kind == HEARTH_KIND_RECEIPT) {
        hearth_receipt rc;
        if (hearth_receipt_from_event(ev, now, &rc, why))
            return HEARTH_EINVAL;
        r->type = T_RECEIPT;
        memcpy(r->provider, rc.provider, 32);
        memcpy(r->customer, rc.customer, 32);
        memcpy(r->request, rc.request_id, 32);
        r->flags = rc.status == HEARTH_RECEIPT_DISPUTE;
        r->reason = (uint8_t)rc.reason;
        r->amount = rc.amount_msat;
        return HEARTH_OK;
    }
    return HEARTH_ENOTFOUND;
}

/* ---- open / close ---- */

int hearth_repstore_open(const char *dir, const hearth_repstore_opts *opts,
                         hearth_repstore **out)
{
    hearth_repstore_opts d;
    *out = NULL;
    hearth_repstore_opts_default(&d);
    hearth_repstore *s = calloc(1, sizeof *s);
    if (!s)
        return HEARTH_ENOMEM;
    s->o = opts ? *opts : d;
    if (!s->o.max_per_provider)
        s->o.max_per_provider = d.max_per_provider;
    if (!s->o.max_total)
        s->o.max_total = d.max_total;
    int rc = hearth_lenv_open(&s->e, dir, db_names, DB_COUNT,
                              INITIAL_MAP_SIZE);
    if (rc) {
        free(s);
        return rc;
    }
    *out = s;
    return HEARTH_OK;
}

void hearth_repstore_close(hearth_repstore *s)
{
    if (!s)
        return;
    hearth_lenv_close(&s->e);
    free(s);
}

/* ---- the write path ---- */

struct ingest_ctx {
    hearth_repstore *s;
    hearth_event *const *evs;
    size_t n;
    int64_t now;
    int verified;
    hearth_repstore_result *res;  /* n slots, never NULL here */
    uint64_t evicted;
};

static int count_add(hearth_lenv_txn *w, const uint8_t pk[32], int delta,
                     uint32_t *now_count)
{
    MDB_val k = {32, (void *)pk}, v;
    uint8_t b[4];
    uint32_t c = 0;
    int rc = mdb_get(w->txn, w->e->dbi[DB_COUNTS], &k, &v);
    if (rc == MDB_SUCCESS && v.mv_size == 4)
        c = (uint32_t)get_le(v.mv_data, 4);
    else if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND)
        return hearth_lenv_fail(w, rc);
    c = delta < 0 ? (c ? c - 1 : 0) : c + 1;
    *now_count = c;
    if (!c)
        rc = mdb_del(w->txn, w->e->dbi[DB_COUNTS], &k, NULL);
    else {
        put_le(b, c, 4);
        v.mv_size = 4;
        v.mv_data = b;
        rc = mdb_put(w->txn, w->e->dbi[DB_COUNTS], &k, &v, 0);
    }
    return rc && rc != MDB_NOTFOUND ? hearth_lenv_fail(w, rc) : HEARTH_OK;
}

/* Delete the record at recs key k (72 bytes) from all four databases. */
static int drop_rec(hearth_lenv_txn *w, const uint8_t k[REC_KEY])
{
    uint8_t tk[TIME_KEY];
    uint32_t left;
    MDB_val rk = {REC_KEY, (void *)k};
    MDB_val ik = {32, (void *)(k + 40)};
    MDB_val t = {TIME_KEY, tk};
    memcpy(tk, k + 32, 8);
    memcpy(tk + 8, k + 40, 32);
    int rc = mdb_del(w->txn, w->e->dbi[DB_RECS], &rk, NULL);
    if (!rc)
        rc = mdb_del(w->txn, w->e->dbi[DB_BY_ID], &ik, NULL);
    if (!rc)
        rc = mdb_del(w->txn, w->e->dbi[DB_BY_TIME], &t, NULL);
    if (rc)
        return hearth_lenv_fail(w, rc);
    return count_add(w, k, -1, &left);
}

/* The provider's oldest record key into k; HEARTH_ENOTFOUND if none. */
static int oldest_of(hearth_lenv_txn *w, const uint8_t pk[32],
                     uint8_t k[REC_KEY])
{
    MDB_cursor *c;
    uint8_t start[REC_KEY] = {0};
    MDB_val key = {REC_KEY, start}, val;
    memcpy(start, pk, 32);
    int rc = mdb_cursor_open(w->txn, w->e->dbi[DB_RECS], &c);
    if (rc)
        return hearth_lenv_fail(w, rc);
    rc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE);
    if (rc == MDB_SUCCESS && key.mv_size == REC_KEY &&
        !memcmp(key.mv_data, pk, 32))
        memcpy(k, key.mv_data, REC_KEY);
    else if (rc == MDB_SUCCESS || rc == MDB_NOTFOUND)
        rc = MDB_NOTFOUND;
    mdb_cursor_close(c);
    if (rc == MDB_NOTFOUND)
        return HEARTH_ENOTFOUND;
    return rc ? hearth_lenv_fail(w, rc) : HEARTH_OK;
}

/* The oldest record of all into k; HEARTH_ENOTFOUND if none. */
static int oldest_all(hearth_lenv_txn *w, uint8_t k[REC_KEY])
{
    MDB_cursor *c;
    MDB_val key, val;
    int rc = mdb_cursor_open(w->txn, w->e->dbi[DB_BY_TIME], &c);
    if (rc)
        return hearth_lenv_fail(w, rc);
    rc = mdb_cursor_get(c, &key, &val, MDB_FIRST);
    if (rc == MDB_SUCCESS && (key.mv_size != TIME_KEY || val.mv_size != 32))
        rc = MDB_CORRUPTED;
    if (rc == MDB_SUCCESS) {
        memcpy(k, val.mv_data, 32);
        memcpy(k + 32, key.mv_data, TIME_KEY);
    }
    mdb_cursor_close(c);
    if (rc == MDB_NOTFOUND)
        return HEARTH_ENOTFOUND;
    return rc ? hearth_lenv_fail(w, rc) : HEARTH_OK;
}

static int put_rec(hearth_lenv_txn *w, const rec *r, const uint8_t k[REC_KEY],
                   uint32_t *count)
{
    uint8_t b[REC_SIZE], tk[TIME_KEY];
    MDB_val rk = {REC_KEY, (void *)k}, rv = {REC_SIZE, b};
    MDB_val ik = {32, (void *)r->id}, iv = {40, (void *)k};
    MDB_val t = {TIME_KEY, tk}, tv = {32, (void *)r->provider};
    rec_encode(r, b);
    memcpy(tk, k + 32, TIME_KEY);
    int rc = mdb_put(w->txn, w->e->dbi[DB_RECS], &rk, &rv, 0);
    if (!rc)
        rc = mdb_put(w->txn, w->e->dbi[DB_BY_ID], &ik, &iv, 0);
    if (!rc)
        rc = mdb_put(w->txn, w->e->dbi[DB_BY_TIME], &t, &tv, 0);
    if (rc)
        return hearth_lenv_fail(w, rc);
    return count_add(w, r->provider, +1, count);
}

/* Enforce both bounds after a put; *gone is set when the record just put
 * (key k) was itself the one dropped. */
static int enforce(hearth_lenv_txn *w, struct ingest_ctx *c, uint32_t count,
                   const uint8_t k[REC_KEY], int *gone)
{
    uint8_t old[REC_KEY];
    MDB_stat st;
    int rc = HEARTH_OK;
    if (count > c->s->o.max_per_provider) {
        rc = oldest_of(w, k, old);
        if (rc == HEARTH_OK)
            rc = drop_rec(w, old);
        if (rc)
            return rc;
        c->evicted++;
        *gone |= !memcmp(old, k, REC_KEY);
    }
    rc = mdb_stat(w->txn, w->e->dbi[DB_BY_ID], &st);
    if (rc)
        return hearth_lenv_fail(w, rc);
    if (st.ms_entries <= c->s->o.max_total)
        return HEARTH_OK;
    rc = oldest_all(w, old);
    if (rc == HEARTH_OK)
        rc = drop_rec(w, old);
    if (rc)
        return rc;
    c->evicted++;
    *gone |= !memcmp(old, k, REC_KEY);
    return HEARTH_OK;
}

static int ingest_one(hearth_lenv_txn *w, struct ingest_ctx *c,
                      const hearth_event *ev, hearth_repstore_result *res)
{
    rec r;
    uint8_t k[REC_KEY];
    uint32_t count = 0;
    int gone = 0;
    MDB_val ik = {32, (void *)ev->id}, iv;
    res->why = NULL;
    int rc = event_to_rec(ev, c->now, &r, &res->why);
    if (rc == HEARTH_ENOTFOUND) {
        res->status = HEARTH_REPSTORE_IGNORED;
        return HEARTH_OK;
    }
    if (rc == HEARTH_OK && !c->verified && hearth_event_verify(ev, &res->why))
        rc = HEARTH_EINVAL;
    if (rc) {
        res->status = HEARTH_REPSTORE_REJECTED;
        return HEARTH_OK;
    }
    rc = mdb_get(w->txn, w->e->dbi[DB_BY_ID], &ik, &iv);
    if (rc == MDB_SUCCESS) {
        res->status = HEARTH_REPSTORE_DUPLICATE;
        return HEARTH_OK;
    }
    if (rc != MDB_NOTFOUND)
        return hearth_lenv_fail(w, rc);
    rec_key(&r, k);
    rc = put_rec(w, &r, k, &count);
    if (rc == HEARTH_OK)
        rc = enforce(w, c, count, k, &gone);
    res->status = gone ? HEARTH_REPSTORE_TOO_OLD : HEARTH_REPSTORE_STORED;
    return rc;
}

static int ingest_fn(hearth_lenv_txn *w, void *ctx)
{
    struct ingest_ctx *c = ctx;
    c->evicted = 0; /* the transaction may be replayed after MAP_FULL */
    for (size_t i = 0; i < c->n; i++) {
        int rc = ingest_one(w, c, c->evs[i], &c->res[i]);
        if (rc)
            return rc;
    }
    return HEARTH_OK;
}

int hearth_repstore_ingest(hearth_repstore *s, hearth_event *const *evs,
                           size_t n, int64_t now, int verified,
                           hearth_repstore_result *res)
{
    struct ingest_ctx c = {s, evs, n, now, verified, res, 0};
    if (!n)
        return HEARTH_OK;
    if (!res && !(c.res = calloc(n, sizeof *c.res)))
        return HEARTH_ENOMEM;
    int rc = hearth_lenv_write(&s->e, ingest_fn, &c);
    if (rc == HEARTH_OK)
        __atomic_add_fetch(&s->evicted, c.evicted, __ATOMIC_RELAXED);
    if (!res)
        free(c.res);
    return rc;
}

/* ---- the read path ---- */

/* What facts need of a note: the job and the largest amount billed. */
typedef struct note_key {
    uint8_t pcr[96];  /* provider, customer, request */
    uint64_t amount;
} note_key;

typedef struct fact_acc {
    note_key *notes;
    size_t nn, capn;
    rec *rcpts;
    size_t nr, capr;
} fact_acc;

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return HEARTH_OK;
    size_t c = *cap ? *cap * 2 : 1024;
    void *q = realloc(*p, c * size);
    if (!q)
        return HEARTH_ENOMEM;
    *p = q;
    *cap = c;
    return HEARTH_OK;
}

static int acc_add(fact_acc *a, const rec *r, int64_t since)
{
    if (r->type == T_NOTE) {
        if (grow((void **)&a->notes, &a->capn, a->nn + 1, sizeof *a->notes))
            return HEARTH_ENOMEM;
        note_key *k = &a->notes[a->nn++];
        memcpy(k->pcr, r->provider, 32);
        memcpy(k->pcr + 32, r->customer, 32);
        memcpy(k->pcr + 64, r->request, 32);
        k->amount = r->amount;
        return HEARTH_OK;
    }
    if (r->created_at < since)
        return HEARTH_OK;
    if (grow((void **)&a->rcpts, &a->capr, a->nr + 1, sizeof *a->rcpts))
        return HEARTH_ENOMEM;
    a->rcpts[a->nr++] = *r;
    return HEARTH_OK;
}

static int load_all(hearth_repstore *s, int64_t since, fact_acc *a)
{
    MDB_txn *txn;
    MDB_cursor *c;
    MDB_val k, v;
    rec r;
    int rc = hearth_lenv_rbegin(&s->e, &txn);
    if (rc)
        return rc;
    rc = mdb_cursor_open(txn, s->e.dbi[DB_RECS], &c);
    if (rc) {
        hearth_lenv_rend(&s->e, txn);
        return hearth_lenv_err(rc);
    }
    int op = MDB_FIRST, hrc = HEARTH_OK;
    while (hrc == HEARTH_OK && !(rc = mdb_cursor_get(c, &k, &v, op))) {
        op = MDB_NEXT;
        if (rec_decode(&k, &v, &r) == HEARTH_OK) /* skip what we can't read */
            hrc = acc_add(a, &r, since);
    }
    mdb_cursor_close(c);
    hearth_lenv_rend(&s->e, txn);
    if (hrc)
        return hrc;
    return rc == MDB_NOTFOUND ? HEARTH_OK : hearth_lenv_err(rc);
}

static int cmp_note(const void *a, const void *b)
{
    return memcmp(((const note_key *)a)->pcr, ((const note_key *)b)->pcr, 96);
}

static int cmp_newest(const void *a, const void *b)
{
    const rec *x = a, *y = b;
    if (x->created_at != y->created_at)
        return x->created_at > y->created_at ? -1 : 1;
    return memcmp(x->id, y->id, 32);
}

/* Sort the notes and keep one per job, with the largest amount (notes
 * are cumulative, so the largest is the latest). */
static void fold_notes(fact_acc *a)
{
    size_t w = 0;
    if (!a->nn)
        return; /* qsort may not take NULL */
    qsort(a->notes, a->nn, sizeof *a->notes, cmp_note);
    for (size_t i = 0; i < a->nn; i++) {
        if (w && !memcmp(a->notes[w - 1].pcr, a->notes[i].pcr, 96)) {
            if (a->notes[i].amount > a->notes[w - 1].amount)
                a->notes[w - 1].amount = a->notes[i].amount;
            continue;
        }
        a->notes[w++] = a->notes[i];
    }
    a->nn = w;
}

static void to_fact(const fact_acc *a, const rec *r, hearth_rep_receipt *f)
{
    note_key key;
    memset(f, 0, sizeof *f);
    memcpy(f->customer, r->customer, 32);
    memcpy(f->provider, r->provider, 32);
    memcpy(f->job_id, r->request, 32);
    f->disputed = r->flags != 0;
    f->reason = f->disputed ? r->reason : 0;
    f->amount_msat = r->amount;
    memcpy(key.pcr, r->provider, 32);
    memcpy(key.pcr + 32, r->customer, 32);
    memcpy(key.pcr + 64, r->request, 32);
    const note_key *n = a->nn ? bsearch(&key, a->notes, a->nn,
                                        sizeof *a->notes, cmp_note)
                              : NULL;
    if (!n)
        return; /* unbacked: anyone can sign a receipt for free */
    f->backed = 1;
    /* a customer cannot claim more than the provider billed; a dispute
     * weighs what was billed, whatever part of it the customer accepts */
    if (f->disputed || f->amount_msat > n->amount)
        f->amount_msat = n->amount;
}

int hearth_repstore_facts(hearth_repstore *s, int64_t since,
                          hearth_rep_receipt *out, size_t max, size_t *n)
{
    fact_acc a;
    memset(&a, 0, sizeof a);
    *n = 0;
    int rc = load_all(s, since, &a);
    if (rc == HEARTH_OK) {
        fold_notes(&a);
        if (a.nr)
            qsort(a.rcpts, a.nr, sizeof *a.rcpts, cmp_newest);
        for (size_t i = 0; i < a.nr && i < max; i++)
            to_fact(&a, &a.rcpts[i], &out[i]);
        *n = a.nr < max ? a.nr : max;
    }
    free(a.notes);
    free(a.rcpts);
    return rc;
}

int hearth_repstore_get_info(hearth_repstore *s, hearth_repstore_info *out)
{
    MDB_txn *txn;
    MDB_stat st;
    MDB_envinfo ei;
    memset(out, 0, sizeof *out);
    int rc = hearth_lenv_rbegin(&s->e, &txn);
    if (rc)
        return rc;
    int m = mdb_stat(txn, s->e.dbi[DB_RECS], &st);
    if (!m)
        out->records = st.ms_entries;
    if (!m && !(m = mdb_stat(txn, s->e.dbi[DB_COUNTS], &st)))
        out->providers = st.ms_entries;
    if (!m && !(m = mdb_env_info(s->e.env, &ei)))
        out->map_size = ei.me_mapsize;
    /* notes vs receipts: one pass over the records, bounded by max_total */
    MDB_cursor *c;
    MDB_val k, v;
    if (!m && !(m = mdb_cursor_open(txn, s->e.dbi[DB_RECS], &c))) {
        int op = MDB_FIRST;
        while (!(m = mdb_cursor_get(c, &k, &v, op))) {
            op = MDB_NEXT;
            if (v.mv_size != REC_SIZE)
                continue;
            if (((const uint8_t *)v.mv_data)[1] == T_NOTE)
                out->notes++;
            else
                out->receipts++;
        }
        mdb_cursor_close(c);
        if (m == MDB_NOTFOUND)
            m = 0;
    }
    hearth_lenv_rend(&s->e, txn);
    out->evicted = __atomic_load_n(&s->evicted, __ATOMIC_RELAXED);
    return m ? hearth_lenv_err(m) : HEARTH_OK;
}
