/* Writing: batched puts with NIP-01 replacement, NIP-09 deletion and
 * NIP-40 expiration, and the purge of expired events. Everything one call
 * changes happens in one write transaction: on any storage error it is
 * aborted and nothing is applied. */
#include "store_internal.h"

#include "hearth/error.h"
#include "hearth/hex.h"

#include <string.h>

struct writer {
    hearth_store *s;
    MDB_txn *txn;
    uint64_t next_serial;
    uint64_t first_serial;
    int mdb_rc;          /* the LMDB failure that ended the batch, if any */
    hearth_buf rec;      /* record being stored */
    hearth_buf old;      /* copy of a record being removed */
};

static int fail(struct writer *w, int rc)
{
    w->mdb_rc = rc;
    return hearth_st_err(rc);
}

static int dbget(struct writer *w, int db, const void *k, size_t kn,
                 MDB_val *v)
{
    MDB_val key = {kn, (void *)k};
    int rc = mdb_get(w->txn, w->s->dbi[db], &key, v);
    if (rc == MDB_NOTFOUND)
        return HEARTH_ENOTFOUND;
    return rc ? fail(w, rc) : HEARTH_OK;
}

static int dbput(struct writer *w, int db, const void *k, size_t kn,
                 const void *v, size_t vn, unsigned flags)
{
    MDB_val key = {kn, (void *)k}, val = {vn, (void *)v};
    int rc = mdb_put(w->txn, w->s->dbi[db], &key, &val, flags);
    return rc ? fail(w, rc) : HEARTH_OK;
}

/* an absent key is not an error: an event may carry the same tag twice,
 * and both map to one index key */
static int dbdel(struct writer *w, int db, const void *k, size_t kn)
{
    MDB_val key = {kn, (void *)k};
    int rc = mdb_del(w->txn, w->s->dbi[db], &key, NULL);
    return rc && rc != MDB_NOTFOUND ? fail(w, rc) : HEARTH_OK;
}

static int index_op(struct writer *w, int db, const uint8_t *k, size_t kn,
                    int del)
{
    return del ? dbdel(w, db, k, kn) : dbput(w, db, k, kn, "", 0, 0);
}

/* Put or delete every index entry of a record. Insertion and removal run
 * this same code on the same record, so they cannot disagree on keys. */
static int index_apply(struct writer *w, const struct rec *r,
                       uint64_t serial, int del)
{
    uint8_t k[KEY_MAX];
    int64_t ts = r->created_at;
    int rc = index_op(w, DB_CREATED, k, add_ts(k, 0, ts, serial), del);
    put_be16(k, r->kind);
    rc = rc ? rc : index_op(w, DB_KIND, k, add_ts(k, 2, ts, serial), del);
    memcpy(k, r->pubkey, 32);
    rc = rc ? rc : index_op(w, DB_PUBKEY, k, add_ts(k, 32, ts, serial), del);
    put_be16(k + 32, r->kind);
    rc = rc ? rc : index_op(w, DB_PUBKIND, k, add_ts(k, 34, ts, serial), del);
    const uint8_t *pos = r->tags;
    for (size_t i = 0; i < r->ntags && !rc; i++) {
        const char *letter, *v;
        size_t n;
        hearth_st_rec_tag_next(&pos, &letter, &v, &n);
        k[0] = (uint8_t)*letter;
        size_t kn = 1 + hearth_st_enc_value(v, n, k + 1);
        rc = index_op(w, DB_TAG, k, add_ts(k, kn, ts, serial), del);
    }
    if (!rc && r->has_exp) {
        put_be64(k, (uint64_t)r->exp);
        put_be64(k + 8, serial);
        rc = index_op(w, DB_EXPIRY, k, 16, del);
    }
    return rc;
}

static int is_versioned(uint32_t kind)
{
    enum hearth_kind_class c = hearth_kind_class(kind);
    return c == HEARTH_KIND_REPLACEABLE || c == HEARTH_KIND_ADDRESSABLE;
}

static size_t rec_addr(const struct rec *r, uint8_t *k)
{
    return hearth_st_addr_key(r->kind, r->pubkey, r->d, r->dlen, k);
}

/* Load the record of serial into w->old (a copy: deleting keys may reuse
 * the pages the original lives in). */
static int load_old(struct writer *w, uint64_t serial, struct rec *r)
{
    uint8_t sk[8];
    MDB_val v;
    put_be64(sk, serial);
    int rc = dbget(w, DB_EVENTS, sk, 8, &v);
    if (rc)
        return rc;
    hearth_buf_reset(&w->old);
    rc = hearth_buf_add(&w->old, v.mv_data, v.mv_size);
    return rc ? rc : hearth_st_rec_view(w->old.p, w->old.len, r);
}

static int remove_serial(struct writer *w, uint64_t serial)
{
    struct rec r;
    uint8_t sk[8], ak[ADDR_KEY_MAX];
    MDB_val v;
    int rc = load_old(w, serial, &r);
    if (rc)
        return rc;
    put_be64(sk, serial);
    rc = index_apply(w, &r, serial, 1);
    rc = rc ? rc : dbdel(w, DB_IDS, r.id, 32);
    rc = rc ? rc : dbdel(w, DB_EVENTS, sk, 8);
    if (rc || !is_versioned(r.kind))
        return rc;
    /* the address may already point at a newer version */
    size_t an = rec_addr(&r, ak);
    rc = dbget(w, DB_ADDR, ak, an, &v);
    if (rc == HEARTH_ENOTFOUND)
        return HEARTH_OK;
    if (rc == HEARTH_OK && v.mv_size == 8 && !memcmp(v.mv_data, sk, 8))
        rc = dbdel(w, DB_ADDR, ak, an);
    return rc;
}

static int insert(struct writer *w, const hearth_event *ev,
                  hearth_store_result *res)
{
    struct rec r;
    uint8_t sk[8], ak[ADDR_KEY_MAX];
    hearth_buf_reset(&w->rec);
    int rc = hearth_st_rec_build(ev, &w->rec);
    rc = rc ? rc : hearth_st_rec_view(w->rec.p, w->rec.len, &r);
    if (rc)
        return rc;
    uint64_t serial = w->next_serial++;
    put_be64(sk, serial);
    /* serials only grow, so the events table is appended to */
    rc = dbput(w, DB_EVENTS, sk, 8, w->rec.p, w->rec.len, MDB_APPEND);
    rc = rc ? rc : dbput(w, DB_IDS, ev->id, 32, sk, 8, MDB_NOOVERWRITE);
    rc = rc ? rc : index_apply(w, &r, serial, 0);
    if (!rc && is_versioned(ev->kind)) {
        size_t an = rec_addr(&r, ak);
        rc = dbput(w, DB_ADDR, ak, an, sk, 8, 0);
    }
    if (rc)
        return rc;
    res->status = HEARTH_STORE_STORED;
    res->ok = 1;
    res->why = "";
    res->serial = serial;
    return HEARTH_OK;
}

static void verdict(hearth_store_result *res, enum hearth_store_status st,
                    int ok, const char *why)
{
    res->status = st;
    res->ok = ok;
    res->why = why;
}

/* ---- NIP-09 ---- */

/* "kind:pubkeyhex:d" of an "a" tag -> address key; 0 if malformed, not
 * replaceable or addressable, or not by pk (one may delete only one's
 * own events). */
static size_t parse_a_tag(const hearth_str *a, const uint8_t pk[32],
                          uint8_t *k)
{
    const char *p = a->p, *end = a->p + a->n;
    uint32_t kind = 0;
    size_t digits = 0;
    for (; p < end && *p >= '0' && *p <= '9' && digits < 6; p++, digits++)
        kind = kind * 10 + (uint32_t)(*p - '0');
    uint8_t who[32];
    if (!digits || kind > HEARTH_MAX_KIND || end - p < 66 || p[0] != ':' ||
        p[65] != ':' || hearth_hex_decode(p + 1, 64, who, 32, 0) ||
        memcmp(who, pk, 32) != 0)
        return 0;
    const char *d = p + 66;
    size_t dlen = (size_t)(end - d);
    enum hearth_kind_class c = hearth_kind_class(kind);
    if (c == HEARTH_KIND_ADDRESSABLE ||
        (c == HEARTH_KIND_REPLACEABLE && dlen == 0))
        return hearth_st_addr_key(kind, pk, d, dlen, k);
    return 0;
}

static int delete_by_id(struct writer *w, const hearth_event *del,
                        const hearth_str *hex)
{
    uint8_t mark[65];
    MDB_val v;
    struct rec r;
    mark[0] = 'e';
    if (hearth_hex_decode(hex->p, hex->n, mark + 1, 32, 0))
        return HEARTH_OK;
    memcpy(mark + 33, del->pubkey, 32);
    /* remembered even if the event is not here yet, so it is refused
     * when it arrives; the mark names the deleter, so nobody can block
     * another author's events */
    int rc = dbput(w, DB_DELETED, mark, sizeof mark, "", 0, 0);
    rc = rc ? rc : dbget(w, DB_IDS, mark + 1, 32, &v);
    if (rc)
        return rc == HEARTH_ENOTFOUND ? HEARTH_OK : rc;
    if (v.mv_size != 8)
        return HEARTH_EIO;
    uint64_t serial = get_be64(v.mv_data);
    rc = load_old(w, serial, &r);
    if (rc)
        return rc;
    /* deleting a deletion has no effect (NIP-09) */
    if (memcmp(r.pubkey, del->pubkey, 32) || r.kind == 5)
        return HEARTH_OK;
    return remove_serial(w, serial);
}

static int delete_by_addr(struct writer *w, const hearth_event *del,
                          const hearth_str *a)
{
    uint8_t mark[1 + ADDR_KEY_MAX], sk[8];
    MDB_val v;
    struct rec r;
    size_t an = parse_a_tag(a, del->pubkey, mark + 1);
    if (!an)
        return HEARTH_OK;
    mark[0] = 'a';
    int rc = dbget(w, DB_DELETED, mark, 1 + an, &v);
    if (rc == HEARTH_OK && v.mv_size == 8 &&
        (int64_t)get_be64(v.mv_data) >= del->created_at)
        return HEARTH_OK; /* a later deletion of this address is stored */
    if (rc && rc != HEARTH_ENOTFOUND)
        return rc;
    put_be64(sk, (uint64_t)del->created_at);
    rc = dbput(w, DB_DELETED, mark, 1 + an, sk, 8, 0);
    rc = rc ? rc : dbget(w, DB_ADDR, mark + 1, an, &v);
    if (rc)
        return rc == HEARTH_ENOTFOUND ? HEARTH_OK : rc;
    if (v.mv_size != 8)
        return HEARTH_EIO;
    uint64_t serial = get_be64(v.mv_data);
    rc = load_old(w, serial, &r);
    if (rc || r.created_at > del->created_at)
        return rc;
    return remove_serial(w, serial);
}

static int apply_deletion(struct writer *w, const hearth_event *del)
{
    int rc = HEARTH_OK;
    for (size_t i = 0; i < del->ntags && !rc; i++) {
        const hearth_tag *t = &del->tags[i];
        if (t->n < 2 || t->v[0].n != 1)
            continue;
        if (t->v[0].p[0] == 'e')
            rc = delete_by_id(w, del, &t->v[1]);
        else if (t->v[0].p[0] == 'a')
            rc = delete_by_addr(w, del, &t->v[1]);
    }
    return rc;
}

/* ---- put ---- */

/* 1 if an earlier NIP-09 deletion covers ev */
static int is_deleted(struct writer *w, const hearth_event *ev, int *out)
{
    uint8_t mark[1 + ADDR_KEY_MAX];
    MDB_val v;
    *out = 0;
    if (ev->kind == 5)
        return HEARTH_OK;
    mark[0] = 'e';
    memcpy(mark + 1, ev->id, 32);
    memcpy(mark + 33, ev->pubkey, 32);
    int rc = dbget(w, DB_DELETED, mark, 65, &v);
    if (rc != HEARTH_ENOTFOUND) {
        *out = rc == HEARTH_OK;
        return rc;
    }
    if (!is_versioned(ev->kind))
        return HEARTH_OK;
    hearth_str d = {"", 0};
    if (hearth_kind_class(ev->kind) == HEARTH_KIND_ADDRESSABLE)
        d = hearth_event_d(ev);
    mark[0] = 'a';
    size_t n = 1 + hearth_st_addr_key(ev->kind, ev->pubkey, d.p, d.n,
                                      mark + 1);
    rc = dbget(w, DB_DELETED, mark, n, &v);
    if (rc == HEARTH_ENOTFOUND)
        return HEARTH_OK;
    *out = rc == HEARTH_OK && v.mv_size == 8 &&
           ev->created_at <= (int64_t)get_be64(v.mv_data);
    return rc;
}

/* For a replaceable or addressable ev: 1 in *older if the stored version
 * wins (newer created_at, or the same and a lower id); otherwise the
 * stored version is removed. An expired version counts as gone: queries
 * no longer show it, so it must not hide a live one. */
static int replace(struct writer *w, const hearth_event *ev, int64_t now,
                   int *older, int *replaced)
{
    uint8_t ak[ADDR_KEY_MAX];
    MDB_val v;
    struct rec r;
    hearth_str d = {"", 0};
    *older = *replaced = 0;
    if (hearth_kind_class(ev->kind) == HEARTH_KIND_ADDRESSABLE)
        d = hearth_event_d(ev);
    size_t an = hearth_st_addr_key(ev->kind, ev->pubkey, d.p, d.n, ak);
    int rc = dbget(w, DB_ADDR, ak, an, &v);
    if (rc)
        return rc == HEARTH_ENOTFOUND ? HEARTH_OK : rc;
    if (v.mv_size != 8)
        return HEARTH_EIO;
    uint64_t serial = get_be64(v.mv_data);
    rc = load_old(w, serial, &r);
    if (rc)
        return rc;
    int expired = r.has_exp && r.exp <= now;
    if (!expired && (r.created_at > ev->created_at ||
                     (r.created_at == ev->created_at &&
                      memcmp(r.id, ev->id, 32) < 0))) {
        *older = 1;
        return HEARTH_OK;
    }
    *replaced = 1;
    return remove_serial(w, serial);
}

static int signed_event(const hearth_event *ev)
{
    unsigned need = HEARTH_EV_HAS_ID | HEARTH_EV_HAS_PUBKEY |
                    HEARTH_EV_HAS_SIG | HEARTH_EV_HAS_CREATED_AT;
    return (ev->has & need) == need;
}

/* HEARTH_OK once res holds the verdict; an error ends the batch. */
static int put_one(struct writer *w, const hearth_event *ev, int64_t now,
                   hearth_store_result *res)
{
    MDB_val v;
    int deleted, older;
    if (!signed_event(ev)) {
        verdict(res, HEARTH_STORE_ERROR, 0, "invalid: event is not signed");
        return HEARTH_OK;
    }
    if (hearth_kind_class(ev->kind) == HEARTH_KIND_EPHEMERAL) {
        verdict(res, HEARTH_STORE_EPHEMERAL, 1, "");
        return HEARTH_OK;
    }
    if (hearth_event_is_expired(ev, now)) {
        verdict(res, HEARTH_STORE_EXPIRED, 0, "invalid: event has expired");
        return HEARTH_OK;
    }
    int rc = dbget(w, DB_IDS, ev->id, 32, &v);
    if (rc != HEARTH_ENOTFOUND) {
        verdict(res, HEARTH_STORE_DUPLICATE, 1,
                "duplicate: already have this event");
        return rc;
    }
    rc = is_deleted(w, ev, &deleted);
    if (rc || deleted) {
        verdict(res, HEARTH_STORE_DELETED, 0,
                "blocked: this event was deleted by its author");
        return rc;
    }
    if (is_versioned(ev->kind)) {
        rc = replace(w, ev, now, &older, &res->replaced);
        if (rc || older) {
            verdict(res, HEARTH_STORE_OLDER, 0,
                    "duplicate: have a newer version of this event");
            return rc;
        }
    }
    if (ev->kind == 5 && (rc = apply_deletion(w, ev)))
        return rc;
    return insert(w, ev, res);
}

static const char *batch_why(const struct writer *w, int rc)
{
    if (w->mdb_rc == MDB_MAP_FULL)
        return "error: database is full";
    if (rc == HEARTH_ENOMEM)
        return "error: out of memory";
    return "error: storage failure";
}

#define SERIAL_KEY "serial"

static int writer_begin(hearth_store *s, struct writer *w)
{
    MDB_val v;
    memset(w, 0, sizeof *w);
    w->s = s;
    w->next_serial = 1;
    int rc = mdb_txn_begin(s->env, NULL, 0, &w->txn);
    if (rc)
        return fail(w, rc);
    rc = dbget(w, DB_META, SERIAL_KEY, strlen(SERIAL_KEY), &v);
    if (rc == HEARTH_OK && v.mv_size == 8)
        w->next_serial = get_be64(v.mv_data);
    w->first_serial = w->next_serial;
    return rc == HEARTH_ENOTFOUND ? HEARTH_OK : rc;
}

/* commit (if rc is HEARTH_OK) or abort, and free the writer */
static int writer_end(struct writer *w, int rc)
{
    uint8_t sk[8];
    if (!rc && w->next_serial != w->first_serial) {
        put_be64(sk, w->next_serial);
        rc = dbput(w, DB_META, SERIAL_KEY, strlen(SERIAL_KEY), sk, 8, 0);
    }
    if (!rc) {
        int mrc = mdb_txn_commit(w->txn);
        rc = mrc ? fail(w, mrc) : HEARTH_OK;
    } else if (w->txn) {
        mdb_txn_abort(w->txn);
    }
    w->txn = NULL;
    hearth_buf_free(&w->rec);
    hearth_buf_free(&w->old);
    return rc;
}

int hearth_store_put_batch(hearth_store *s, hearth_event *const *evs,
                           size_t n, int64_t now,
                           hearth_store_result *results)
{
    struct writer w;
    if (n == 0)
        return HEARTH_OK; /* not worth a commit */
    memset(results, 0, n * sizeof *results);
    int rc = writer_begin(s, &w);
    for (size_t i = 0; i < n && !rc; i++)
        rc = put_one(&w, evs[i], now, &results[i]);
    rc = writer_end(&w, rc);
    if (rc) {
        const char *why = batch_why(&w, rc);
        for (size_t i = 0; i < n; i++) {
            memset(&results[i], 0, sizeof results[i]);
            verdict(&results[i], HEARTH_STORE_ERROR, 0, why);
        }
    }
    return rc;
}

/* ---- NIP-40 purge ---- */

/* The earliest expiration entry if it is due: its serial in *serial. */
static int next_expired(struct writer *w, MDB_cursor *c, int64_t now,
                        uint64_t *serial, int *due)
{
    MDB_val k, v;
    *due = 0;
    int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
    if (rc == MDB_NOTFOUND)
        return HEARTH_OK;
    if (rc)
        return fail(w, rc);
    if (k.mv_size != 16)
        return HEARTH_EIO;
    *due = (int64_t)get_be64(k.mv_data) <= now;
    *serial = get_be64((const uint8_t *)k.mv_data + 8);
    return HEARTH_OK;
}

static int purge(struct writer *w, int64_t now, size_t max, size_t *purged)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(w->txn, w->s->dbi[DB_EXPIRY], &c);
    if (rc)
        return fail(w, rc);
    while (*purged < max) {
        uint64_t serial;
        int due;
        rc = next_expired(w, c, now, &serial, &due);
        if (rc || !due)
            break;
        rc = remove_serial(w, serial);
        if (rc == HEARTH_ENOTFOUND) {
            /* an entry without its event cannot be removed through it */
            rc = mdb_cursor_del(c, 0);
            if (rc) {
                rc = fail(w, rc);
                break;
            }
            continue;
        }
        if (rc)
            break;
        (*purged)++;
    }
    mdb_cursor_close(c);
    return rc;
}

int hearth_store_purge_expired(hearth_store *s, int64_t now, size_t max,
                               size_t *purged)
{
    struct writer w;
    size_t count = 0;
    int rc = writer_begin(s, &w);
    if (!rc)
        rc = purge(&w, now, max, &count);
    rc = writer_end(&w, rc);
    if (purged)
        *purged = rc ? 0 : count;
    return rc;
}
