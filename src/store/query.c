/* Queries: NIP-01 filters answered through the indexes. Each filter walks
 * one index: a range per list value, all newest first, merged in a heap
 * by created_at so that the first rows found are the newest across
 * values and a limit stops the walk early. Candidates are matched with
 * hearth_filter_match on a skeleton of the record (no JSON parsing). */
#include "store_internal.h"

#include "hearth/error.h"

#include <stdlib.h>
#include <string.h>

/* past this many (author, kind) pairs one range per author is cheaper
 * than thousands of cursors */
#define MAX_PAIRS 1024u

/* ---- plans ---- */

static int matches_nothing(const hearth_filter *f, int use_limit)
{
    if ((f->has_ids && !f->nids) || (f->has_authors && !f->nauthors) ||
        (f->has_kinds && !f->nkinds))
        return 1;
    for (size_t i = 0; i < f->ntags; i++)
        if (!f->tags[i].n)
            return 1;
    if (f->has_since && f->has_until && f->since > f->until)
        return 1;
    return use_limit && f->has_limit && f->limit == 0;
}

/* the tag list with the fewest values: fewest cursors, and usually the
 * rarest values */
static const hearth_filter_tag *best_tag(const hearth_filter *f)
{
    const hearth_filter_tag *best = NULL;
    for (size_t i = 0; i < f->ntags; i++)
        if (!best || f->tags[i].n < best->n)
            best = &f->tags[i];
    return best;
}

static void plan(const hearth_filter *f, int use_limit, hearth_store_plan *p)
{
    p->tag = 0;
    p->ranges = 0;
    p->index = HEARTH_INDEX_NONE;
    if (matches_nothing(f, use_limit))
        return;
    if (f->has_ids) {
        p->index = HEARTH_INDEX_IDS;
        p->ranges = f->nids;
    } else if (f->has_authors && f->has_kinds &&
               f->nauthors * f->nkinds <= MAX_PAIRS) {
        p->index = HEARTH_INDEX_PUBKEY_KIND;
        p->ranges = f->nauthors * f->nkinds;
    } else if (f->has_authors) {
        p->index = HEARTH_INDEX_PUBKEY;
        p->ranges = f->nauthors;
    } else if (f->ntags) {
        const hearth_filter_tag *t = best_tag(f);
        p->index = HEARTH_INDEX_TAG;
        p->ranges = t->n;
        p->tag = t->name;
    } else if (f->has_kinds) {
        p->index = HEARTH_INDEX_KIND;
        p->ranges = f->nkinds;
    } else {
        p->index = HEARTH_INDEX_CREATED;
        p->ranges = 1;
    }
}

void hearth_store_explain(const hearth_filter *f, hearth_store_plan *p)
{
    plan(f, 1, p);
}

const char *hearth_store_index_name(enum hearth_store_index index)
{
    switch (index) {
    case HEARTH_INDEX_NONE: return "none";
    case HEARTH_INDEX_IDS: return "ids";
    case HEARTH_INDEX_PUBKEY_KIND: return "pubkey+kind";
    case HEARTH_INDEX_PUBKEY: return "pubkey";
    case HEARTH_INDEX_TAG: return "tag";
    case HEARTH_INDEX_KIND: return "kind";
    case HEARTH_INDEX_CREATED: return "created_at";
    }
    return "unknown";
}

/* ---- a set of serials (0 never is one) ---- */

struct set {
    uint64_t *slot;
    size_t cap, n;
};

static size_t slot_of(uint64_t x, size_t cap)
{
    x *= 0x9e3779b97f4a7c15ull; /* Fibonacci hashing spreads serial runs */
    return (size_t)(x >> 32) & (cap - 1);
}

static int set_grow(struct set *s)
{
    size_t cap = s->cap ? 2 * s->cap : 256;
    uint64_t *slot = calloc(cap, sizeof *slot);
    if (!slot)
        return HEARTH_ENOMEM;
    for (size_t i = 0; i < s->cap; i++) {
        if (!s->slot[i])
            continue;
        size_t j = slot_of(s->slot[i], cap);
        while (slot[j])
            j = (j + 1) & (cap - 1);
        slot[j] = s->slot[i];
    }
    free(s->slot);
    s->slot = slot;
    s->cap = cap;
    return HEARTH_OK;
}

/* 1 if x was added, 0 if it was there, or HEARTH_ENOMEM */
static int set_add(struct set *s, uint64_t x)
{
    if (2 * (s->n + 1) > s->cap && set_grow(s))
        return HEARTH_ENOMEM;
    size_t j = slot_of(x, s->cap);
    for (; s->slot[j]; j = (j + 1) & (s->cap - 1))
        if (s->slot[j] == x)
            return 0;
    s->slot[j] = x;
    s->n++;
    return 1;
}

static void set_clear(struct set *s)
{
    if (s->n)
        memset(s->slot, 0, s->cap * sizeof *s->slot);
    s->n = 0;
}

/* ---- hits ---- */

struct hit {
    int64_t ts;
    uint64_t serial;
    const uint8_t *id, *pubkey;
    uint32_t kind;
    const char *json;
    size_t len;
};

struct hits {
    struct hit *v;
    size_t n, cap;
};

static int hits_push(struct hits *h, const struct hit *x)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 64;
        struct hit *v = realloc(h->v, cap * sizeof *v);
        if (!v)
            return HEARTH_ENOMEM;
        h->v = v;
        h->cap = cap;
    }
    h->v[h->n++] = *x;
    return HEARTH_OK;
}

/* NIP-01 order: created_at descending, then id ascending */
static int hit_cmp(const void *a, const void *b)
{
    const struct hit *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts > y->ts ? -1 : 1;
    return memcmp(x->id, y->id, 32);
}

/* ---- one query ---- */

struct query {
    hearth_store *s;
    MDB_txn *txn;
    int64_t now;
    const hearth_filter *f;
    hearth_store_stats st;
    struct skeleton sk;
    struct set seen;     /* serials visited for the current filter */
    struct hits local;   /* matches of the current filter */
    struct hits all;     /* matches of every filter so far */
    int counting;        /* hearth_store_count: count, keep no hits */
    struct set counted;  /* distinct matches over all filters */
};

/* A serial found through an index (or the ids table): read its record
 * and keep it if the filter matches and it has not expired. */
static int consider(struct query *q, uint64_t serial)
{
    uint8_t sk[8];
    MDB_val k = {8, sk}, v;
    struct rec r;
    int rc = set_add(&q->seen, serial);
    if (rc <= 0)
        return rc;
    put_be64(sk, serial);
    rc = mdb_get(q->txn, q->s->dbi[DB_EVENTS], &k, &v);
    if (rc)
        return hearth_st_err(rc);
    q->st.records_read++;
    rc = hearth_st_rec_view(v.mv_data, v.mv_size, &r);
    rc = rc ? rc : hearth_st_skeleton_fill(&q->sk, &r);
    if (rc)
        return rc;
    if (r.has_exp && r.exp <= q->now)
        return HEARTH_OK;
    if (!hearth_filter_match(q->f, &q->sk.ev))
        return HEARTH_OK;
    q->st.matched++;
    if (q->counting)
        return q->counted.cap ? set_add(&q->counted, serial) : HEARTH_OK;
    struct hit h = {r.created_at, serial, r.id, r.pubkey, r.kind, r.json,
                    r.json_len};
    return hits_push(&q->local, &h);
}

static int walk_ids(struct query *q)
{
    for (size_t i = 0; i < q->f->nids; i++) {
        MDB_val k = {32, q->f->ids[i]}, v;
        q->st.rows_scanned++;
        int rc = mdb_get(q->txn, q->s->dbi[DB_IDS], &k, &v);
        if (rc == MDB_NOTFOUND)
            continue;
        if (rc)
            return hearth_st_err(rc);
        if (v.mv_size != 8)
            return HEARTH_EIO;
        rc = consider(q, get_be64(v.mv_data));
        if (rc < 0)
            return rc;
    }
    return HEARTH_OK;
}

/* ---- ranges: one cursor over the keys prefix + ts + serial ---- */

struct range {
    MDB_cursor *c;
    uint8_t prefix[VALUE_KEY_MAX];
    size_t plen;
    int64_t ts;
    uint64_t serial;
};

/* Read the row under the cursor; 0 once it left the range. */
static int range_read(struct query *q, struct range *r, int rc,
                      const MDB_val *k)
{
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return hearth_st_err(rc);
    const uint8_t *p = k->mv_data;
    if (k->mv_size != r->plen + TS_LEN || memcmp(p, r->prefix, r->plen))
        return 0;
    r->ts = key_ts(p + r->plen);
    r->serial = get_be64(p + r->plen + 8);
    return !q->f->has_since || r->ts >= q->f->since;
}

/* Position on the newest row not after until; 1 if there is one. */
static int range_start(struct query *q, struct range *r, MDB_dbi dbi)
{
    uint8_t seek[VALUE_KEY_MAX + 8];
    int rc = mdb_cursor_open(q->txn, dbi, &r->c);
    if (rc)
        return hearth_st_err(rc);
    memcpy(seek, r->prefix, r->plen);
    MDB_val k = {r->plen, seek}, v;
    if (q->f->has_until) {
        put_be64(seek + r->plen, ~(uint64_t)q->f->until);
        k.mv_size += 8;
    }
    rc = k.mv_size ? mdb_cursor_get(r->c, &k, &v, MDB_SET_RANGE)
                   : mdb_cursor_get(r->c, &k, &v, MDB_FIRST);
    return range_read(q, r, rc, &k);
}

static int range_next(struct query *q, struct range *r)
{
    MDB_val k, v;
    int rc = mdb_cursor_get(r->c, &k, &v, MDB_NEXT);
    return range_read(q, r, rc, &k);
}

static int newer(const struct range *a, const struct range *b)
{
    return a->ts > b->ts || (a->ts == b->ts && a->serial > b->serial);
}

static void sift_down(struct range **h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < n && newer(h[l], h[m]))
            m = l;
        if (l + 1 < n && newer(h[l + 1], h[m]))
            m = l + 1;
        if (m == i)
            return;
        struct range *t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

/* Pop rows newest first until lim matches are found, then drain the
 * rows with the same created_at as the last match: the limit is cut
 * later by id, which the index order does not know. */
static int merge(struct query *q, struct range **heap, size_t n, uint64_t lim)
{
    for (size_t i = n / 2; i-- > 0;)
        sift_down(heap, n, i);
    int64_t last = 0;
    while (n) {
        struct range *top = heap[0];
        if (q->local.n >= lim && top->ts != last)
            break;
        uint64_t serial = top->serial;
        int64_t ts = top->ts;
        q->st.rows_scanned++;
        int rc = range_next(q, top);
        if (rc < 0)
            return rc;
        if (!rc)
            heap[0] = heap[--n];
        sift_down(heap, n, 0);
        size_t before = q->local.n;
        rc = consider(q, serial);
        if (rc < 0)
            return rc;
        if (q->local.n > before)
            last = ts;
    }
    return HEARTH_OK;
}

/* fill the prefixes of the plan's ranges; returns how many */
static size_t make_ranges(const hearth_filter *f, const hearth_store_plan *p,
                          struct range *r)
{
    size_t n = 0;
    switch (p->index) {
    case HEARTH_INDEX_PUBKEY_KIND:
        for (size_t a = 0; a < f->nauthors; a++)
            for (size_t k = 0; k < f->nkinds; k++, n++) {
                memcpy(r[n].prefix, f->authors[a], 32);
                put_be16(r[n].prefix + 32, f->kinds[k]);
                r[n].plen = 34;
            }
        return n;
    case HEARTH_INDEX_PUBKEY:
        for (; n < f->nauthors; n++) {
            memcpy(r[n].prefix, f->authors[n], 32);
            r[n].plen = 32;
        }
        return n;
    case HEARTH_INDEX_TAG: {
        const hearth_filter_tag *t = best_tag(f);
        for (; n < t->n; n++) {
            r[n].prefix[0] = (uint8_t)t->name;
            r[n].plen = 1 + hearth_st_enc_value(t->values[n].p,
                                                t->values[n].n,
                                                r[n].prefix + 1);
        }
        return n;
    }
    case HEARTH_INDEX_KIND:
        for (; n < f->nkinds; n++) {
            put_be16(r[n].prefix, f->kinds[n]);
            r[n].plen = 2;
        }
        return n;
    default:
        r[0].plen = 0;
        return 1;
    }
}

static int plan_db(enum hearth_store_index index)
{
    switch (index) {
    case HEARTH_INDEX_PUBKEY_KIND: return DB_PUBKIND;
    case HEARTH_INDEX_PUBKEY: return DB_PUBKEY;
    case HEARTH_INDEX_TAG: return DB_TAG;
    case HEARTH_INDEX_KIND: return DB_KIND;
    default: return DB_CREATED;
    }
}

static int walk_ranges(struct query *q, const hearth_store_plan *p,
                       uint64_t lim)
{
    struct range *r = calloc(p->ranges, sizeof *r);
    struct range **heap = calloc(p->ranges, sizeof *heap);
    int rc = r && heap ? HEARTH_OK : HEARTH_ENOMEM;
    size_t n = rc ? 0 : make_ranges(q->f, p, r), live = 0;
    MDB_dbi dbi = q->s->dbi[plan_db(p->index)];
    for (size_t i = 0; i < n && !rc; i++) {
        rc = range_start(q, &r[i], dbi);
        if (rc > 0)
            heap[live++] = &r[i];
        rc = rc < 0 ? rc : HEARTH_OK;
    }
    if (!rc)
        rc = merge(q, heap, live, lim);
    for (size_t i = 0; i < n; i++)
        if (r[i].c)
            mdb_cursor_close(r[i].c);
    free(r);
    free(heap);
    return rc;
}

/* Matches of one filter into q->local, at most lim of them, best first. */
static int run_filter(struct query *q, const hearth_filter *f, uint64_t lim)
{
    hearth_store_plan p;
    plan(f, !q->counting, &p);
    q->f = f;
    q->local.n = 0;
    set_clear(&q->seen);
    if (p.index == HEARTH_INDEX_NONE)
        return HEARTH_OK;
    int rc = p.index == HEARTH_INDEX_IDS ? walk_ids(q)
                                         : walk_ranges(q, &p, lim);
    if (rc || q->counting)
        return rc;
    if (q->local.n > 1)
        qsort(q->local.v, q->local.n, sizeof *q->local.v, hit_cmp);
    if (q->local.n > lim)
        q->local.n = (size_t)lim;
    return HEARTH_OK;
}

static int query_begin(hearth_store *s, int64_t now, struct query *q)
{
    memset(q, 0, sizeof *q);
    q->s = s;
    q->now = now;
    return hearth_st_read_begin(s, &q->txn);
}

static void query_end(struct query *q, hearth_store_stats *stats)
{
    if (q->txn)
        hearth_st_read_end(q->s, q->txn);
    hearth_st_skeleton_free(&q->sk);
    free(q->seen.slot);
    free(q->counted.slot);
    free(q->local.v);
    free(q->all.v);
    if (stats)
        *stats = q->st;
}

/* sort, drop the events several filters found, cut at max */
static void finish(struct hits *h, size_t max)
{
    if (h->n > 1)
        qsort(h->v, h->n, sizeof *h->v, hit_cmp);
    size_t k = 0;
    for (size_t i = 0; i < h->n; i++)
        if (!k || h->v[i].serial != h->v[k - 1].serial)
            h->v[k++] = h->v[i];
    h->n = k < max ? k : max;
}

static int emit(struct query *q, hearth_store_cb cb, void *ctx)
{
    for (size_t i = 0; i < q->all.n; i++) {
        const struct hit *h = &q->all.v[i];
        hearth_store_row row = {h->json, h->len, h->id, h->pubkey, h->ts,
                                h->kind, h->serial};
        q->st.returned++;
        int rc = cb(ctx, &row);
        if (rc)
            return rc < 0 ? rc : HEARTH_OK;
    }
    return HEARTH_OK;
}

static int collect(struct query *q, hearth_filter *const *filters, size_t n,
                   size_t max_results)
{
    for (size_t i = 0; i < n; i++) {
        const hearth_filter *f = filters[i];
        uint64_t lim = max_results;
        if (f->has_limit && f->limit < lim)
            lim = f->limit;
        int rc = run_filter(q, f, lim);
        for (size_t k = 0; k < q->local.n && !rc; k++)
            rc = hits_push(&q->all, &q->local.v[k]);
        if (rc)
            return rc;
    }
    finish(&q->all, max_results);
    return HEARTH_OK;
}

int hearth_store_query(hearth_store *s, hearth_filter *const *filters,
                       size_t n, size_t max_results, int64_t now,
                       hearth_store_cb cb, void *ctx,
                       hearth_store_stats *stats)
{
    struct query q;
    int rc = query_begin(s, now, &q);
    if (!rc && max_results)
        rc = collect(&q, filters, n, max_results);
    if (!rc)
        rc = emit(&q, cb, ctx);
    query_end(&q, stats);
    return rc;
}

int hearth_store_count(hearth_store *s, hearth_filter *const *filters,
                       size_t n, int64_t now, uint64_t *count,
                       hearth_store_stats *stats)
{
    struct query q;
    *count = 0;
    int rc = query_begin(s, now, &q);
    q.counting = 1;
    /* one filter needs no set: its matches are distinct already */
    if (!rc && n > 1)
        rc = set_grow(&q.counted);
    for (size_t i = 0; i < n && !rc; i++)
        rc = run_filter(&q, filters[i], UINT64_MAX);
    if (!rc) {
        *count = n > 1 ? q.counted.n : q.st.matched;
        q.st.returned = *count;
    }
    query_end(&q, stats);
    return rc;
}
