/* The market view: environment, ingest of offers and of NIP-09 deletions
 * of offers, purge. Reading is in view_read.c. */
#include "view_internal.h"

#include "hearth/error.h"
#include "hearth/hex.h"
#include "hearth/kinds.h"
#include "hearth/nip13.h"

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#if SIZE_MAX > 0xffffffffu
#define DEFAULT_MAP_SIZE (1ull << 30)
#else
#define DEFAULT_MAP_SIZE (256ull << 20)
#endif
#define DEFAULT_RATE 30u
#define MAX_THREADS 64u

static const char *const db_names[VDB_COUNT] = {
    "meta", "offers", "expiry", "marks", "obs"
};

static const char R_DUP[] = "duplicate: already have this offer";
static const char R_OLDER[] = "duplicate: have a newer version of this offer";
static const char R_DELETED[] =
    "blocked: this offer was deleted by its author";
static const char R_POW[] =
    "pow: offer has less proof of work than this view requires";
static const char R_RATE[] =
    "rate-limited: too many offer updates from this provider";
static const char R_IGNORED[] = "blocked: not an offer or an offer deletion";
static const char R_FUTURE[] = "invalid: created_at is too far in the future";

void hearth_view_opts_default(hearth_view_opts *o)
{
    memset(o, 0, sizeof *o);
    o->rate_per_min = DEFAULT_RATE;
}

/* ---- environment ---- */

static int check_format(hearth_view *v, MDB_txn *txn)
{
    MDB_val k = {6, "format"}, val;
    uint8_t want[4] = {0, 0, 0, VIEW_FORMAT};
    int rc = mdb_get(txn, v->dbi[VDB_META], &k, &val);
    if (rc == MDB_NOTFOUND) {
        val = (MDB_val){4, want};
        return hearth_vw_err(mdb_put(txn, v->dbi[VDB_META], &k, &val, 0));
    }
    if (rc)
        return hearth_vw_err(rc);
    return val.mv_size == 4 && !memcmp(val.mv_data, want, 4) ? HEARTH_OK
                                                             : HEARTH_EINVAL;
}

static int env_setup(hearth_view *v, const char *dir)
{
    MDB_txn *txn;
    int rc = mdb_env_create(&v->env);
    if (rc)
        return hearth_vw_err(rc);
    if (v->opts.map_size > SIZE_MAX)
        return HEARTH_EINVAL;
    if ((rc = mdb_env_set_mapsize(v->env, (size_t)v->opts.map_size)) ||
        (rc = mdb_env_set_maxdbs(v->env, VDB_COUNT)))
        return hearth_vw_err(rc);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return HEARTH_EIO;
    /* The view can be refilled from relays, so the meta page is not
     * synced: a power cut may undo the last commit, never corrupt the
     * file (LMDB's MDB_NOMETASYNC guarantee). Data pages still are. */
    rc = mdb_env_open(v->env, dir, MDB_NOTLS | MDB_NOMETASYNC, 0600);
    if (rc)
        return hearth_vw_err(rc);
    int dead;
    mdb_reader_check(v->env, &dead);
    if ((rc = mdb_txn_begin(v->env, NULL, 0, &txn)))
        return hearth_vw_err(rc);
    for (int i = 0; i < VDB_COUNT && !rc; i++)
        rc = mdb_dbi_open(txn, db_names[i], MDB_CREATE, &v->dbi[i]);
    rc = rc ? hearth_vw_err(rc) : check_format(v, txn);
    if (rc) {
        mdb_txn_abort(txn);
        return rc;
    }
    return hearth_vw_err(mdb_txn_commit(txn));
}

int hearth_view_open(const char *dir, const hearth_view_opts *opts,
                     hearth_view **out)
{
    *out = NULL;
    if (sodium_init() < 0)
        return HEARTH_ECRYPTO;
    hearth_view *v = calloc(1, sizeof *v);
    if (!v)
        return HEARTH_ENOMEM;
    if (opts)
        v->opts = *opts;
    else
        hearth_view_opts_default(&v->opts);
    if (!v->opts.map_size)
        v->opts.map_size = DEFAULT_MAP_SIZE;
    int rc = env_setup(v, dir);
    if (rc) {
        int saved = errno;
        hearth_view_close(v);
        errno = saved;
        return rc;
    }
    *out = v;
    return HEARTH_OK;
}

void hearth_view_close(hearth_view *v)
{
    if (!v)
        return;
    if (v->env)
        mdb_env_close(v->env);
    hearth_vw_rate_free(&v->rate);
    free(v);
}

/* ---- addresses ---- */

/* d = "<job kind>:<backend>" */
static int parse_d(const char *p, size_t n, uint32_t *kind,
                   hearth_backend *backend)
{
    const char *colon = memchr(p, ':', n);
    uint32_t k = 0;
    if (!colon || colon == p || colon - p > 4)
        return HEARTH_EINVAL;
    for (const char *c = p; c < colon; c++) {
        if (*c < '0' || *c > '9')
            return HEARTH_EINVAL;
        k = k * 10 + (uint32_t)(*c - '0');
    }
    const char *name = colon + 1;
    size_t len = n - (size_t)(name - p);
    if (k < HEARTH_KIND_JOB_MIN || k > HEARTH_KIND_JOB_MAX ||
        memchr(name, 0, len) || name[len] != '\0' ||
        hearth_backend_parse(name, backend))
        return HEARTH_EINVAL;
    *kind = k;
    return HEARTH_OK;
}

/* a = "31907:<pubkey hex>:<d>" */
static int parse_a(hearth_str a, uint8_t pk[32], uint32_t *kind,
                   hearth_backend *backend)
{
    static const char pre[] = "31907:";
    const size_t pl = sizeof pre - 1;
    if (a.n < pl + 65 || memcmp(a.p, pre, pl) || a.p[pl + 64] != ':' ||
        hearth_hex_decode(a.p + pl, 64, pk, 32, 0))
        return HEARTH_EINVAL;
    return parse_d(a.p + pl + 65, a.n - pl - 65, kind, backend);
}

/* ---- ingest ---- */

enum { P_DONE, P_VERIFY, P_OFFER, P_DELETE };

struct item {
    int state;
    unsigned worker;     /* whose buffer holds the record */
    size_t off, len;     /* the encoded record in that buffer */
};

struct batch {
    hearth_view *v;
    hearth_event *const *evs;
    size_t n;
    int64_t now;
    hearth_view_result *res;
    struct item *items;
    unsigned nworkers;
    hearth_buf *bufs;    /* one per worker */
    int oom;
};

struct worker {
    struct batch *b;
    unsigned index;
};

static void verdict(hearth_view_result *r, enum hearth_view_status st,
                    const char *why)
{
    r->status = st;
    r->why = why;
}

/* Signature, then the offer's own rules: the expensive part of a batch,
 * done without any transaction open, on several threads if wanted. */
static void check_one(struct batch *b, size_t i, unsigned w)
{
    const hearth_event *ev = b->evs[i];
    hearth_view_result *r = &b->res[i];
    struct item *it = &b->items[i];
    hearth_offer o;
    const char *why;
    it->state = P_DONE;
    if (hearth_event_verify(ev, &why)) {
        verdict(r, HEARTH_VIEW_REJECTED, why);
        return;
    }
    if (ev->kind == HEARTH_KIND_DELETION) {
        /* a mark dated far ahead would block the author's offers for
         * that long */
        if (ev->created_at > b->now + HEARTH_OFFER_MAX_SKEW_S)
            verdict(r, HEARTH_VIEW_REJECTED, R_FUTURE);
        else
            it->state = P_DELETE;
        return;
    }
    if (hearth_offer_from_event(ev, b->now, &o, &why)) {
        verdict(r, HEARTH_VIEW_REJECTED, why);
        return;
    }
    if (b->v->opts.min_pow > 0 &&
        hearth_nip13_check(ev, b->v->opts.min_pow, &why)) {
        /* nip13's reason lives in this thread's storage: use our own */
        verdict(r, HEARTH_VIEW_REJECTED, R_POW);
        return;
    }
    hearth_buf *buf = &b->bufs[w];
    it->off = buf->len;
    if (hearth_vw_rec_encode(&o, buf)) {
        b->oom = 1;
        return;
    }
    it->len = buf->len - it->off;
    it->worker = w;
    it->state = P_OFFER;
}

static void *worker_main(void *arg)
{
    struct worker *wk = arg;
    struct batch *b = wk->b;
    for (size_t i = wk->index; i < b->n; i += b->nworkers)
        if (b->items[i].state == P_VERIFY)
            check_one(b, i, wk->index);
    return NULL;
}

static void check_all(struct batch *b)
{
    pthread_t th[MAX_THREADS];
    struct worker wk[MAX_THREADS];
    unsigned started = 1;
    for (unsigned t = 1; t < b->nworkers; t++) {
        wk[t] = (struct worker){b, t};
        if (pthread_create(&th[t], NULL, worker_main, &wk[t]))
            break;
        started++;
    }
    /* threads that could not start: the caller takes their share */
    for (unsigned t = started; t < b->nworkers; t++) {
        wk[t] = (struct worker){b, t};
        worker_main(&wk[t]);
    }
    wk[0] = (struct worker){b, 0};
    worker_main(&wk[0]);
    for (unsigned t = 1; t < started; t++)
        pthread_join(th[t], NULL);
}

static int has_offer_addr(const hearth_event *ev)
{
    for (size_t i = 0; i < ev->ntags; i++) {
        const hearth_tag *t = &ev->tags[i];
        if (t->n >= 2 && t->v[0].n == 1 && t->v[0].p[0] == 'a' &&
            t->v[1].n > 6 && !memcmp(t->v[1].p, "31907:", 6))
            return 1;
    }
    return 0;
}

/* Sort events into work before any signature is checked: other kinds
 * are ignored, and an offer whose id is the stored one is a duplicate
 * (relays replay every stored offer on each subscription, and nothing is
 * written for it, so its signature does not matter). */
static int triage(struct batch *b)
{
    hearth_view *v = b->v;
    MDB_txn *txn;
    int rc = mdb_txn_begin(v->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return hearth_vw_err(rc);
    for (size_t i = 0; i < b->n; i++) {
        const hearth_event *ev = b->evs[i];
        uint8_t key[OKEY_LEN];
        uint32_t kind;
        hearth_backend be;
        MDB_val k = {OKEY_LEN, key}, val;
        b->items[i].state = P_DONE;
        verdict(&b->res[i], HEARTH_VIEW_IGNORED, R_IGNORED);
        if (ev->kind == HEARTH_KIND_DELETION) {
            if (has_offer_addr(ev))
                b->items[i].state = P_VERIFY;
            continue;
        }
        if (ev->kind != HEARTH_KIND_OFFER)
            continue;
        b->items[i].state = P_VERIFY;
        hearth_str d = hearth_event_d(ev);
        if (!(ev->has & HEARTH_EV_HAS_ID) || parse_d(d.p, d.n, &kind, &be))
            continue;
        v_okey(key, kind, ev->pubkey, be);
        if (mdb_get(txn, v->dbi[VDB_OFFERS], &k, &val) == MDB_SUCCESS &&
            val.mv_size >= REC_HEAD &&
            !memcmp((const uint8_t *)val.mv_data + 1, ev->id, 32)) {
            verdict(&b->res[i], HEARTH_VIEW_DUPLICATE, R_DUP);
            b->items[i].state = P_DONE;
        }
    }
    mdb_txn_abort(txn);
    return HEARTH_OK;
}

static int del_expiry(hearth_view *v, MDB_txn *txn, int64_t exp,
                      const uint8_t key[OKEY_LEN])
{
    uint8_t ek[EKEY_LEN];
    v_put_be64(ek, (uint64_t)exp);
    memcpy(ek + 8, key, OKEY_LEN);
    MDB_val k = {EKEY_LEN, ek};
    int rc = mdb_del(txn, v->dbi[VDB_EXPIRY], &k, NULL);
    return rc == MDB_NOTFOUND ? MDB_SUCCESS : rc;
}

static int apply_offer(struct batch *b, MDB_txn *txn, size_t i)
{
    hearth_view *v = b->v;
    const hearth_event *ev = b->evs[i];
    hearth_view_result *r = &b->res[i];
    const struct item *it = &b->items[i];
    const uint8_t *rec = (const uint8_t *)b->bufs[it->worker].p + it->off;
    uint8_t key[OKEY_LEN], ek[EKEY_LEN];
    uint32_t kind;
    hearth_backend be;
    int64_t old_exp = 0;
    int have = 0;
    /* key fields: the record does not repeat them, the event has them */
    hearth_str d = hearth_event_d(ev);
    if (parse_d(d.p, d.n, &kind, &be))
        return MDB_CORRUPTED; /* cannot happen: the parser checked d */
    v_okey(key, kind, ev->pubkey, be);
    MDB_val k = {OKEY_LEN, key}, val;
    int rc = mdb_get(txn, v->dbi[VDB_MARKS], &k, &val);
    if (rc == MDB_SUCCESS && val.mv_size == 8 &&
        ev->created_at <= (int64_t)v_get_be64(val.mv_data)) {
        verdict(r, HEARTH_VIEW_DELETED, R_DELETED);
        return MDB_SUCCESS;
    }
    if (rc && rc != MDB_NOTFOUND)
        return rc;
    rc = mdb_get(txn, v->dbi[VDB_OFFERS], &k, &val);
    if (rc == MDB_SUCCESS && val.mv_size >= REC_HEAD) {
        const uint8_t *old = val.mv_data;
        int64_t oc = rec_created_at(old);
        int cmp = memcmp(old + 1, ev->id, 32);
        old_exp = rec_expires_at(old);
        if (cmp == 0) {
            verdict(r, HEARTH_VIEW_DUPLICATE, R_DUP);
            return MDB_SUCCESS;
        }
        /* an expired version counts as gone, whatever its date */
        if (old_exp > b->now &&
            (oc > ev->created_at || (oc == ev->created_at && cmp < 0))) {
            verdict(r, HEARTH_VIEW_OLDER, R_OLDER);
            return MDB_SUCCESS;
        }
        have = 1;
    } else if (rc && rc != MDB_NOTFOUND) {
        return rc;
    }
    rc = hearth_vw_rate_take(&v->rate, ev->pubkey, b->now,
                             v->opts.rate_per_min);
    if (rc < 0)
        return ENOMEM;
    if (rc == 0) {
        verdict(r, HEARTH_VIEW_RATE_LIMITED, R_RATE);
        return MDB_SUCCESS;
    }
    if (have && (rc = del_expiry(v, txn, old_exp, key)))
        return rc;
    val = (MDB_val){it->len, (void *)rec};
    if ((rc = mdb_put(txn, v->dbi[VDB_OFFERS], &k, &val, 0)))
        return rc;
    memcpy(ek, rec + 41, 8); /* the record's be64 expiration */
    memcpy(ek + 8, key, OKEY_LEN);
    k = (MDB_val){EKEY_LEN, ek};
    val = (MDB_val){0, ""};
    if ((rc = mdb_put(txn, v->dbi[VDB_EXPIRY], &k, &val, 0)))
        return rc;
    verdict(r, HEARTH_VIEW_STORED, "");
    r->replaced = have;
    return MDB_SUCCESS;
}

/* One ["a", "31907:<pk>:<d>"] of a deletion by pk: raise the mark and
 * remove the offer if it is not newer than the deletion. */
static int delete_addr(hearth_view *v, MDB_txn *txn, const hearth_event *ev,
                       uint32_t kind, hearth_backend be, unsigned *removed)
{
    uint8_t key[OKEY_LEN], when[8];
    MDB_val k = {OKEY_LEN, key}, val;
    v_okey(key, kind, ev->pubkey, be);
    int rc = mdb_get(txn, v->dbi[VDB_MARKS], &k, &val);
    if (rc == MDB_NOTFOUND ||
        (rc == MDB_SUCCESS && (val.mv_size != 8 ||
                               (int64_t)v_get_be64(val.mv_data) <
                                   ev->created_at))) {
        v_put_be64(when, (uint64_t)ev->created_at);
        val = (MDB_val){8, when};
        rc = mdb_put(txn, v->dbi[VDB_MARKS], &k, &val, 0);
    }
    if (rc)
        return rc;
    rc = mdb_get(txn, v->dbi[VDB_OFFERS], &k, &val);
    if (rc == MDB_NOTFOUND)
        return MDB_SUCCESS;
    if (rc)
        return rc;
    if (val.mv_size < REC_HEAD ||
        rec_created_at(val.mv_data) > ev->created_at)
        return MDB_SUCCESS;
    int64_t exp = rec_expires_at(val.mv_data);
    if ((rc = mdb_del(txn, v->dbi[VDB_OFFERS], &k, NULL)) ||
        (rc = del_expiry(v, txn, exp, key)))
        return rc;
    (*removed)++;
    return MDB_SUCCESS;
}

static int apply_deletion(struct batch *b, MDB_txn *txn, size_t i)
{
    hearth_view *v = b->v;
    const hearth_event *ev = b->evs[i];
    hearth_view_result *r = &b->res[i];
    uint8_t pk[32];
    uint32_t kind;
    hearth_backend be;
    int rc = hearth_vw_rate_take(&v->rate, ev->pubkey, b->now,
                                 v->opts.rate_per_min);
    if (rc < 0)
        return ENOMEM;
    if (rc == 0) {
        verdict(r, HEARTH_VIEW_RATE_LIMITED, R_RATE);
        return MDB_SUCCESS;
    }
    verdict(r, HEARTH_VIEW_DELETION, "");
    for (size_t t = 0; t < ev->ntags; t++) {
        const hearth_tag *tag = &ev->tags[t];
        /* only the author's own offers: anyone else's address is
         * ignored, as NIP-09 requires */
        if (tag->n < 2 || tag->v[0].n != 1 || tag->v[0].p[0] != 'a' ||
            parse_a(tag->v[1], pk, &kind, &be) ||
            memcmp(pk, ev->pubkey, 32))
            continue;
        if ((rc = delete_addr(v, txn, ev, kind, be, &r->removed)))
            return rc;
    }
    return MDB_SUCCESS;
}

static const char *storage_why(int mdb_rc)
{
    if (mdb_rc == MDB_MAP_FULL)
        return "error: view database is full";
    if (mdb_rc == ENOMEM)
        return "error: out of memory";
    return "error: storage failure";
}

static int fail_all(struct batch *b, int mdb_rc)
{
    const char *why = storage_why(mdb_rc);
    for (size_t i = 0; i < b->n; i++) {
        memset(&b->res[i], 0, sizeof b->res[i]);
        verdict(&b->res[i], HEARTH_VIEW_ERROR, why);
    }
    return mdb_rc == ENOMEM ? HEARTH_ENOMEM : hearth_vw_err(mdb_rc);
}

static int write_all(struct batch *b)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(b->v->env, NULL, 0, &txn);
    for (size_t i = 0; i < b->n && !rc; i++) {
        if (b->items[i].state == P_OFFER)
            rc = apply_offer(b, txn, i);
        else if (b->items[i].state == P_DELETE)
            rc = apply_deletion(b, txn, i);
    }
    if (rc) {
        if (txn)
            mdb_txn_abort(txn);
        return fail_all(b, rc);
    }
    rc = mdb_txn_commit(txn);
    return rc ? fail_all(b, rc) : HEARTH_OK;
}

int hearth_view_ingest(hearth_view *v, hearth_event *const *evs, size_t n,
                       int64_t now, hearth_view_result *results)
{
    struct batch b = {v, evs, n, now, results, NULL, 1, NULL, 0};
    if (n == 0)
        return HEARTH_OK;
    memset(results, 0, n * sizeof *results);
    unsigned t = v->opts.verify_threads;
    if (t > MAX_THREADS)
        t = MAX_THREADS;
    /* a thread per few dozen events at least, or starting it costs more
     * than it saves */
    while (t > 1 && n / t < 32)
        t--;
    b.nworkers = t ? t : 1;
    b.items = calloc(n, sizeof *b.items);
    b.bufs = calloc(b.nworkers, sizeof *b.bufs);
    int rc = b.items && b.bufs ? triage(&b) : HEARTH_ENOMEM;
    if (rc == HEARTH_OK) {
        check_all(&b);
        rc = b.oom ? fail_all(&b, ENOMEM) : write_all(&b);
    } else {
        fail_all(&b, rc == HEARTH_ENOMEM ? ENOMEM : MDB_PANIC);
    }
    for (unsigned w = 0; b.bufs && w < b.nworkers; w++)
        hearth_buf_free(&b.bufs[w]);
    free(b.bufs);
    free(b.items);
    return rc;
}

/* ---- purge ---- */

/* Marks older than a day block nothing: an offer created before the
 * deletion has expired by then (expiration <= created_at + 1 day). */
static int purge_marks(hearth_view *v, MDB_txn *txn, int64_t now,
                       size_t max)
{
    MDB_cursor *c;
    MDB_val k, val;
    size_t done = 0;
    int rc = mdb_cursor_open(txn, v->dbi[VDB_MARKS], &c);
    if (rc)
        return rc;
    rc = mdb_cursor_get(c, &k, &val, MDB_FIRST);
    while (rc == MDB_SUCCESS && done < max) {
        if (val.mv_size != 8 ||
            (int64_t)v_get_be64(val.mv_data) <= now - HEARTH_OFFER_MAX_TTL_S) {
            uint8_t copy[OKEY_LEN];
            size_t kn = k.mv_size < OKEY_LEN ? k.mv_size : OKEY_LEN;
            memcpy(copy, k.mv_data, kn);
            if ((rc = mdb_cursor_del(c, 0)))
                break;
            done++;
            k = (MDB_val){kn, copy};
            rc = mdb_cursor_get(c, &k, &val, MDB_SET_RANGE);
        } else {
            rc = mdb_cursor_get(c, &k, &val, MDB_NEXT);
        }
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND || rc == MDB_SUCCESS ? MDB_SUCCESS : rc;
}

static int purge_offers(hearth_view *v, MDB_txn *txn, int64_t now,
                        size_t max, size_t *purged)
{
    MDB_cursor *c;
    MDB_val k, val;
    int rc = mdb_cursor_open(txn, v->dbi[VDB_EXPIRY], &c);
    if (rc)
        return rc;
    while (*purged < max &&
           (rc = mdb_cursor_get(c, &k, &val, MDB_FIRST)) == MDB_SUCCESS) {
        const uint8_t *ek = k.mv_data;
        if (k.mv_size != EKEY_LEN || (int64_t)v_get_be64(ek) > now)
            break;
        uint8_t key[OKEY_LEN];
        memcpy(key, ek + 8, OKEY_LEN);
        MDB_val okey = {OKEY_LEN, key}, rec;
        int64_t exp = (int64_t)v_get_be64(ek);
        if ((rc = mdb_cursor_del(c, 0)))
            break;
        rc = mdb_get(txn, v->dbi[VDB_OFFERS], &okey, &rec);
        if (rc == MDB_SUCCESS && rec.mv_size >= REC_HEAD &&
            rec_expires_at(rec.mv_data) == exp) {
            if ((rc = mdb_del(txn, v->dbi[VDB_OFFERS], &okey, NULL)))
                break;
            (*purged)++;
        } else if (rc && rc != MDB_NOTFOUND) {
            break;
        }
        rc = MDB_SUCCESS;
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? MDB_SUCCESS : rc;
}

int hearth_view_purge_expired(hearth_view *v, int64_t now, size_t max,
                              size_t *purged)
{
    MDB_txn *txn;
    size_t count = 0;
    if (purged)
        *purged = 0;
    int rc = mdb_txn_begin(v->env, NULL, 0, &txn);
    if (rc)
        return hearth_vw_err(rc);
    rc = purge_offers(v, txn, now, max, &count);
    if (!rc)
        rc = purge_marks(v, txn, now, max);
    if (rc) {
        mdb_txn_abort(txn);
        return hearth_vw_err(rc);
    }
    rc = mdb_txn_commit(txn);
    if (rc)
        return hearth_vw_err(rc);
    if (purged)
        *purged = count;
    return HEARTH_OK;
}
