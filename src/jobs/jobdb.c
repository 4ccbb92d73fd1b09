/* The job table (docs/jobs.md "Job table"): job records as a persisted
 * state machine in an LMDB environment of their own. */
#include "hearth/jobdb.h"

#include "hearth/error.h"

#include <errno.h>
#include <lmdb.h>
#include "../store/lenv.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The table is small (one record per job, events kept only while
 * needed), so it starts with a modest map and doubles on MDB_MAP_FULL
 * rather than reserving the store's 16 GiB of address space. */
#define INITIAL_MAP_SIZE (32ull << 20)

enum { DB_JOBS, DB_BLOBS, DB_BY_TIME, DB_OPEN, DB_COUNT };

static const char *const db_names[DB_COUNT] = {
    "jobs", "blobs", "by_time", "open"
};

/* Record layout, version 2 (version 1 is version 2 without the tail and
 * reads with the settlement fields zero), integers little-endian:
 *   0 version (1)  1 role  2 state  3 attempts u16  5 kind u32
 *   9 customer, provider, upstream, result_id, input_hash, output_hash
 *     (6 x 32 bytes)
 * 201 created_at, updated_at, deadline (i64, two's complement),
 *     amount_msat, usage.jobs, tokens_in, tokens_out, gpu_ms, hashes (u64)
 * 273 reason length (< HEARTH_JOB_REASON_MAX)  274 reason, no NUL
 * then (version 2) payment_hash (32), paid_msat u64, settle u8.
 * The id is the key and is not repeated. */
#define REC_VERSION 2u
#define REC_FIXED 274u
#define REC_TAIL 41u
#define REC_MAX (REC_FIXED + HEARTH_JOB_REASON_MAX + REC_TAIL)
#define TIME_KEY 40u  /* by_time: biased created_at (BE) + id */
_Static_assert(HEARTH_JOB_REASON_MAX <= 256, "reason length is one byte");

struct hearth_jobdb {
    hearth_lenv e;  /* its databases indexed by DB_* */
};

/* ---- state machine ---- */

const char *hearth_job_state_name(int state)
{
    static const char *const names[] = {
        NULL, "quoted", "queued", "running", "result", "done", "failed",
        "cancelled"
    };
    if (state < HEARTH_JOB_QUOTED || state > HEARTH_JOB_CANCELLED)
        return "unknown";
    return names[state];
}

int hearth_job_state_final(int state)
{
    return state == HEARTH_JOB_DONE || state == HEARTH_JOB_FAILED ||
           state == HEARTH_JOB_CANCELLED;
}

static const char *final_why(int state)
{
    if (state == HEARTH_JOB_DONE)
        return "invalid: job is already done";
    if (state == HEARTH_JOB_FAILED)
        return "invalid: job is already failed";
    return "invalid: job is already cancelled";
}

/* Forward skips are allowed because not every role passes through every
 * state: a customer goes RUNNING -> DONE with no RESULT of its own, and a
 * provider may admit a paid job straight to RUNNING. */
static int transition_ok(int from, int to)
{
    if (from == to)
        return 1;
    if (to == HEARTH_JOB_FAILED || to == HEARTH_JOB_CANCELLED)
        return 1;
    if (to > from && to <= HEARTH_JOB_DONE)
        return 1;
    /* a customer retrying with another provider */
    return from == HEARTH_JOB_RUNNING && to == HEARTH_JOB_QUEUED;
}

static int rec_check(const hearth_job_rec *r, const char **why)
{
    if (r->role < HEARTH_JOB_PROVIDER || r->role > HEARTH_JOB_ROUTER) {
        *why = "invalid: unknown job role";
        return HEARTH_EINVAL;
    }
    if (r->state < HEARTH_JOB_QUOTED || r->state > HEARTH_JOB_CANCELLED) {
        *why = "invalid: unknown job state";
        return HEARTH_EINVAL;
    }
    if (memchr(r->reason, '\0', HEARTH_JOB_REASON_MAX) == NULL) {
        *why = "invalid: job reason is not terminated";
        return HEARTH_EINVAL;
    }
    return HEARTH_OK;
}

/* ---- encoding ---- */

static uint8_t *put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
    return p + n;
}

static uint64_t get_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint8_t *put_bytes(uint8_t *p, const uint8_t *src, size_t n)
{
    memcpy(p, src, n);
    return p + n;
}

/* buf holds REC_MAX bytes; the encoded length goes to *len */
static int rec_encode(const hearth_job_rec *r, uint8_t *buf, size_t *len)
{
    size_t rlen = strnlen(r->reason, HEARTH_JOB_REASON_MAX);
    uint8_t *p = buf;
    *p++ = REC_VERSION;
    *p++ = r->role;
    *p++ = r->state;
    p = put_le(p, r->attempts, 2);
    p = put_le(p, r->kind, 4);
    p = put_bytes(p, r->customer, 32);
    p = put_bytes(p, r->provider, 32);
    p = put_bytes(p, r->upstream, 32);
    p = put_bytes(p, r->result_id, 32);
    p = put_bytes(p, r->input_hash, 32);
    p = put_bytes(p, r->output_hash, 32);
    p = put_le(p, (uint64_t)r->created_at, 8);
    p = put_le(p, (uint64_t)r->updated_at, 8);
    p = put_le(p, (uint64_t)r->deadline, 8);
    p = put_le(p, r->amount_msat, 8);
    p = put_le(p, r->usage.jobs, 8);
    p = put_le(p, r->usage.tokens_in, 8);
    p = put_le(p, r->usage.tokens_out, 8);
    p = put_le(p, r->usage.gpu_ms, 8);
    p = put_le(p, r->usage.hashes, 8);
    *p++ = (uint8_t)rlen;
    p = put_bytes(p, (const uint8_t *)r->reason, rlen);
    p = put_bytes(p, r->payment_hash, 32);
    p = put_le(p, r->paid_msat, 8);
    *p++ = r->settle;
    *len = (size_t)(p - buf);
    return HEARTH_OK;
}

static const uint8_t *get_bytes(const uint8_t *p, uint8_t *dst, size_t n)
{
    memcpy(dst, p, n);
    return p + n;
}

static int rec_decode(const uint8_t id[32], const MDB_val *v,
                      hearth_job_rec *r)
{
    const uint8_t *p = v->mv_data;
    if (v->mv_size < REC_FIXED || (p[0] != 1 && p[0] != REC_VERSION) ||
        p[REC_FIXED - 1] >= HEARTH_JOB_REASON_MAX)
        return HEARTH_EINVAL;
    size_t tail = p[0] == 1 ? 0 : REC_TAIL;
    if (v->mv_size != REC_FIXED + p[REC_FIXED - 1] + tail)
        return HEARTH_EINVAL;
    memset(r, 0, sizeof *r);
    memcpy(r->id, id, 32);
    r->role = p[1];
    r->state = p[2];
    r->attempts = (uint16_t)get_le(p + 3, 2);
    r->kind = (uint32_t)get_le(p + 5, 4);
    p += 9;
    p = get_bytes(p, r->customer, 32);
    p = get_bytes(p, r->provider, 32);
    p = get_bytes(p, r->upstream, 32);
    p = get_bytes(p, r->result_id, 32);
    p = get_bytes(p, r->input_hash, 32);
    p = get_bytes(p, r->output_hash, 32);
    r->created_at = (int64_t)get_le(p, 8);
    r->updated_at = (int64_t)get_le(p + 8, 8);
    r->deadline = (int64_t)get_le(p + 16, 8);
    r->amount_msat = get_le(p + 24, 8);
    r->usage.jobs = get_le(p + 32, 8);
    r->usage.tokens_in = get_le(p + 40, 8);
    r->usage.tokens_out = get_le(p + 48, 8);
    r->usage.gpu_ms = get_le(p + 56, 8);
    r->usage.hashes = get_le(p + 64, 8);
    p += 72;
    memcpy(r->reason, p + 1, p[0]);
    if (tail) {
        p += 1 + p[0];
        p = get_bytes(p, r->payment_hash, 32);
        r->paid_msat = get_le(p, 8);
        r->settle = p[8];
    }
    return HEARTH_OK;
}

/* created_at with the sign bit flipped, big-endian, so memcmp order is
 * numeric order for negative times too; then the id breaks ties. */
static void time_key(int64_t created_at, const uint8_t id[32], uint8_t *k)
{
    uint64_t t = (uint64_t)created_at ^ (1ull << 63);
    for (int i = 0; i < 8; i++)
        k[i] = (uint8_t)(t >> (56 - 8 * i));
    memcpy(k + 8, id, 32);
}

/* ---- LMDB plumbing ---- */

static int wput(hearth_lenv_txn *w, int db, const void *k, size_t klen,
                const void *v, size_t vlen)
{
    MDB_val key = {klen, (void *)k}, val = {vlen, (void *)v};
    int rc = mdb_put(w->txn, w->e->dbi[db], &key, &val, 0);
    return rc ? hearth_lenv_fail(w, rc) : HEARTH_OK;
}

/* deleting what is absent is not an error */
static int wdel(hearth_lenv_txn *w, int db, const void *k, size_t klen)
{
    MDB_val key = {klen, (void *)k};
    int rc = mdb_del(w->txn, w->e->dbi[db], &key, NULL);
    return rc && rc != MDB_NOTFOUND ? hearth_lenv_fail(w, rc) : HEARTH_OK;
}

int hearth_jobdb_open(const char *dir, hearth_jobdb **out)
{
    *out = NULL;
    hearth_jobdb *db = calloc(1, sizeof *db);
    if (!db)
        return HEARTH_ENOMEM;
    int rc = hearth_lenv_open(&db->e, dir, db_names, DB_COUNT,
                              INITIAL_MAP_SIZE);
    if (rc) {
        free(db);
        return rc;
    }
    *out = db;
    return HEARTH_OK;
}

void hearth_jobdb_close(hearth_jobdb *db)
{
    if (!db)
        return;
    hearth_lenv_close(&db->e);
    free(db);
}

/* ---- writes ---- */

struct put_ctx {
    const hearth_job_rec *rec;
    const char *blob;
    size_t blob_len;
    hearth_job_rec *existing;  /* insert: copy of the record found */
    int insert_only;
    const char *why;
};

static int load(hearth_lenv_txn *w, const uint8_t id[32], hearth_job_rec *out)
{
    MDB_val k = {32, (void *)id}, v;
    int rc = mdb_get(w->txn, w->e->dbi[DB_JOBS], &k, &v);
    if (rc == MDB_NOTFOUND)
        return HEARTH_ENOTFOUND;
    if (rc)
        return hearth_lenv_fail(w, rc);
    return rec_decode(id, &v, out);
}

/* equal but for what may change after a final state: the settlement
 * bits, the payment, and the time of the last change */
static int frozen_equal(const hearth_job_rec *old, const hearth_job_rec *rec)
{
    hearth_job_rec a = *old, b = *rec;
    uint8_t x[REC_MAX], y[REC_MAX];
    size_t xlen, ylen;
    if (b.settle == a.settle && b.updated_at != a.updated_at)
        return 0; /* nothing settled: a plain change of a frozen record */
    b.settle = a.settle;
    b.updated_at = a.updated_at;
    if (!(a.settle & HEARTH_SETTLE_PAID)) {
        memcpy(b.payment_hash, a.payment_hash, 32);
        b.paid_msat = a.paid_msat;
    }
    rec_encode(&a, x, &xlen);
    rec_encode(&b, y, &ylen);
    return xlen == ylen && !memcmp(x, y, xlen);
}

/* the record is valid against old (NULL when new) */
static int check_transition(const hearth_job_rec *old,
                            const hearth_job_rec *rec, const char **why)
{
    if (!old)
        return HEARTH_OK;
    if (old->role != rec->role) {
        *why = "invalid: job role cannot change";
        return HEARTH_EINVAL;
    }
    if ((old->settle & rec->settle) != old->settle) {
        *why = "invalid: settlement progress cannot be undone";
        return HEARTH_EINVAL;
    }
    if (hearth_job_state_final(old->state)) {
        /* a final record is frozen but for its settlement (receipts and
         * refunds come after the result); re-putting it unchanged (a
         * caller replaying after a crash) is accepted as a no-op */
        if (frozen_equal(old, rec))
            return HEARTH_OK;
        *why = final_why(old->state);
        return HEARTH_EINVAL;
    }
    if (!transition_ok(old->state, rec->state)) {
        *why = "invalid: job state cannot move backwards";
        return HEARTH_EINVAL;
    }
    return HEARTH_OK;
}

static int write_indexes(hearth_lenv_txn *w, const hearth_job_rec *old,
                         const hearth_job_rec *rec)
{
    uint8_t tk[TIME_KEY];
    int rc;
    if (old && old->created_at != rec->created_at) {
        time_key(old->created_at, old->id, tk);
        if ((rc = wdel(w, DB_BY_TIME, tk, TIME_KEY)))
            return rc;
    }
    if (!old || old->created_at != rec->created_at) {
        time_key(rec->created_at, rec->id, tk);
        if ((rc = wput(w, DB_BY_TIME, tk, TIME_KEY, "", 0)))
            return rc;
    }
    if (hearth_job_state_final(rec->state))
        return wdel(w, DB_OPEN, rec->id, 32);
    return wput(w, DB_OPEN, rec->id, 32, "", 0);
}

static int write_blob(hearth_lenv_txn *w, const struct put_ctx *c)
{
    if (!c->blob)
        return HEARTH_OK;
    if (c->blob_len == 0)
        return wdel(w, DB_BLOBS, c->rec->id, 32);
    return wput(w, DB_BLOBS, c->rec->id, 32, c->blob, c->blob_len);
}

static int put_fn(hearth_lenv_txn *w, void *ctx)
{
    struct put_ctx *c = ctx;
    hearth_job_rec old;
    uint8_t buf[REC_MAX];
    size_t len;
    int rc = load(w, c->rec->id, &old);
    if (rc && rc != HEARTH_ENOTFOUND)
        return rc;
    int have = rc == HEARTH_OK;
    if (have && c->insert_only) {
        if (c->existing)
            *c->existing = old;
        return 1;
    }
    if ((rc = check_transition(have ? &old : NULL, c->rec, &c->why)))
        return rc;
    rec_encode(c->rec, buf, &len);
    if ((rc = wput(w, DB_JOBS, c->rec->id, 32, buf, len)) ||
        (rc = write_indexes(w, have ? &old : NULL, c->rec)))
        return rc;
    return write_blob(w, c);
}

int hearth_jobdb_put(hearth_jobdb *db, const hearth_job_rec *rec,
                     const char *blob, size_t blob_len, const char **why)
{
    struct put_ctx c = {rec, blob, blob_len, NULL, 0, NULL};
    int rc = rec_check(rec, &c.why);
    if (rc == HEARTH_OK)
        rc = hearth_lenv_write(&db->e, put_fn, &c);
    if (why)
        *why = c.why;
    return rc;
}

int hearth_jobdb_insert(hearth_jobdb *db, const hearth_job_rec *rec,
                        const char *blob, size_t blob_len,
                        hearth_job_rec *existing)
{
    struct put_ctx c = {rec, blob, blob_len, existing, 1, NULL};
    int rc = rec_check(rec, &c.why);
    return rc ? rc : hearth_lenv_write(&db->e, put_fn, &c);
}

/* ---- reads ---- */

static int get_in(hearth_jobdb *db, MDB_txn *txn, const uint8_t id[32],
                  hearth_job_rec *out)
{
    MDB_val k = {32, (void *)id}, v;
    int rc = mdb_get(txn, db->e.dbi[DB_JOBS], &k, &v);
    return rc ? hearth_lenv_err(rc) : rec_decode(id, &v, out);
}

int hearth_jobdb_get(hearth_jobdb *db, const uint8_t id[32],
                     hearth_job_rec *out)
{
    MDB_txn *txn;
    int rc = hearth_lenv_rbegin(&db->e, &txn);
    if (rc)
        return rc;
    rc = get_in(db, txn, id, out);
    hearth_lenv_rend(&db->e, txn);
    return rc;
}

int hearth_jobdb_blob(hearth_jobdb *db, const uint8_t id[32],
                      hearth_buf *out)
{
    MDB_txn *txn;
    MDB_val k = {32, (void *)id}, v;
    int rc = hearth_lenv_rbegin(&db->e, &txn);
    if (rc)
        return rc;
    rc = mdb_get(txn, db->e.dbi[DB_BLOBS], &k, &v);
    rc = rc ? hearth_lenv_err(rc) : hearth_buf_add(out, v.mv_data, v.mv_size);
    hearth_lenv_rend(&db->e, txn);
    return rc;
}

/* newest first over every record, via by_time */
static int list_all(hearth_jobdb *db, MDB_txn *txn, int role,
                    hearth_job_rec *out, size_t max, size_t *n)
{
    MDB_cursor *cur;
    MDB_val k, v;
    int rc = mdb_cursor_open(txn, db->e.dbi[DB_BY_TIME], &cur);
    if (rc)
        return hearth_lenv_err(rc);
    for (int op = MDB_LAST; *n < max; op = MDB_PREV) {
        if ((rc = mdb_cursor_get(cur, &k, &v, op)))
            break;
        if (k.mv_size != TIME_KEY) {
            rc = MDB_CORRUPTED;
            break;
        }
        int hrc = get_in(db, txn, (const uint8_t *)k.mv_data + 8, &out[*n]);
        if (hrc) {
            mdb_cursor_close(cur);
            return hrc;
        }
        if (!role || out[*n].role == role)
            (*n)++;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? HEARTH_OK : hearth_lenv_err(rc);
}

static int cmp_time_key_desc(const void *a, const void *b)
{
    return memcmp(b, a, TIME_KEY);
}

/* Collect the by_time keys of the open records of that role. */
static int open_keys(hearth_jobdb *db, MDB_txn *txn, int role,
                     uint8_t **keys, size_t *nkeys)
{
    MDB_stat st;
    MDB_cursor *cur;
    MDB_val k, v;
    hearth_job_rec r;
    int rc = mdb_stat(txn, db->e.dbi[DB_OPEN], &st);
    if (rc || (rc = mdb_cursor_open(txn, db->e.dbi[DB_OPEN], &cur)))
        return hearth_lenv_err(rc);
    *keys = malloc((st.ms_entries ? st.ms_entries : 1) * TIME_KEY);
    if (!*keys) {
        mdb_cursor_close(cur);
        return HEARTH_ENOMEM;
    }
    int hrc = HEARTH_OK;
    /* the snapshot's entry count bounds the walk and the array */
    for (size_t seen = 0; seen < st.ms_entries && !hrc; seen++) {
        rc = mdb_cursor_get(cur, &k, &v, seen ? MDB_NEXT : MDB_FIRST);
        if (rc)
            hrc = hearth_lenv_err(rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc);
        else if (k.mv_size != 32)
            hrc = HEARTH_EINVAL;
        else if ((hrc = get_in(db, txn, k.mv_data, &r)) == HEARTH_OK &&
                 (!role || r.role == role))
            time_key(r.created_at, r.id, *keys + TIME_KEY * (*nkeys)++);
    }
    mdb_cursor_close(cur);
    return hrc;
}

/* only the open records: their count, not the table's, bounds the work */
static int list_open(hearth_jobdb *db, MDB_txn *txn, int role,
                     hearth_job_rec *out, size_t max, size_t *n)
{
    uint8_t *keys = NULL;
    size_t nkeys = 0;
    int rc = open_keys(db, txn, role, &keys, &nkeys);
    if (rc == HEARTH_OK)
        qsort(keys, nkeys, TIME_KEY, cmp_time_key_desc);
    for (size_t i = 0; rc == HEARTH_OK && i < nkeys && *n < max; i++)
        if ((rc = get_in(db, txn, keys + TIME_KEY * i + 8, &out[*n])) ==
            HEARTH_OK)
            (*n)++;
    free(keys);
    return rc;
}

int hearth_jobdb_list(hearth_jobdb *db, int role, int open_only,
                      hearth_job_rec *out, size_t max, size_t *n)
{
    MDB_txn *txn;
    *n = 0;
    if (max == 0)
        return HEARTH_OK;
    int rc = hearth_lenv_rbegin(&db->e, &txn);
    if (rc)
        return rc;
    rc = open_only ? list_open(db, txn, role, out, max, n)
                   : list_all(db, txn, role, out, max, n);
    hearth_lenv_rend(&db->e, txn);
    if (rc)
        *n = 0;
    return rc;
}

static int nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;  /* typed by a user on the command line */
    return -1;
}

/* Prefix as bytes: an odd final nibble becomes the high half of a last
 * byte whose low half is zero, the smallest id sharing the prefix. */
static int parse_prefix(const char *hex, uint8_t *bytes, size_t *nhex)
{
    size_t len = hex ? strnlen(hex, 65) : 0;
    if (len == 0 || len > 64)
        return HEARTH_EINVAL;
    memset(bytes, 0, 32);
    for (size_t i = 0; i < len; i++) {
        int v = nibble(hex[i]);
        if (v < 0)
            return HEARTH_EINVAL;
        bytes[i / 2] |= (uint8_t)(i % 2 ? v : v << 4);
    }
    *nhex = len;
    return HEARTH_OK;
}

static int has_prefix(const MDB_val *k, const uint8_t *bytes, size_t nhex)
{
    const uint8_t *id = k->mv_data;
    if (k->mv_size != 32 || memcmp(id, bytes, nhex / 2))
        return 0;
    return nhex % 2 == 0 || (id[nhex / 2] & 0xf0) == bytes[nhex / 2];
}

static int find_in(hearth_jobdb *db, MDB_txn *txn, const uint8_t *bytes,
                   size_t nhex, hearth_job_rec *out)
{
    MDB_cursor *cur;
    MDB_val k = {(nhex + 1) / 2, (void *)bytes}, v, k2, v2;
    int rc = mdb_cursor_open(txn, db->e.dbi[DB_JOBS], &cur);
    if (rc)
        return hearth_lenv_err(rc);
    /* the short key sorts before every id it prefixes (LMDB compares
     * bytes, then length) */
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    int hrc;
    if (rc)
        hrc = hearth_lenv_err(rc);
    else if (!has_prefix(&k, bytes, nhex))
        hrc = HEARTH_ENOTFOUND;
    else if ((rc = mdb_cursor_get(cur, &k2, &v2, MDB_NEXT)) == MDB_SUCCESS &&
             has_prefix(&k2, bytes, nhex))
        hrc = HEARTH_EINVAL;  /* ambiguous */
    else if (rc && rc != MDB_NOTFOUND)
        hrc = hearth_lenv_err(rc);
    else
        hrc = rec_decode(k.mv_data, &v, out);
    mdb_cursor_close(cur);
    return hrc;
}

int hearth_jobdb_find_prefix(hearth_jobdb *db, const char *hex_prefix,
                             hearth_job_rec *out)
{
    uint8_t bytes[32];
    size_t nhex;
    MDB_txn *txn;
    int rc = parse_prefix(hex_prefix, bytes, &nhex);
    if (rc)
        return rc;
    if ((rc = hearth_lenv_rbegin(&db->e, &txn)))
        return rc;
    rc = find_in(db, txn, bytes, nhex, out);
    hearth_lenv_rend(&db->e, txn);
    return rc;
}
