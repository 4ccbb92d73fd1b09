/* The LMDB environment: open, close, read transactions, point lookups. */
#include "store_internal.h"

#include "hearth/error.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#if SIZE_MAX > 0xffffffffu
#define DEFAULT_MAP_SIZE (16ull << 30)
#else
#define DEFAULT_MAP_SIZE (1ull << 30)  /* what a 32-bit address space allows */
#endif
#define DEFAULT_READERS 256u

static const char *const db_names[DB_COUNT] = {
    "meta", "events", "ids", "created", "kind", "pubkey", "pubkind", "tag",
    "expiry", "addr", "deleted"
};

int hearth_st_err(int rc)
{
    switch (rc) {
    case MDB_SUCCESS: return HEARTH_OK;
    case MDB_NOTFOUND: return HEARTH_ENOTFOUND;
    case ENOMEM: return HEARTH_ENOMEM;
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH: return HEARTH_EINVAL;
    }
    if (rc > 0)
        errno = rc;
    return HEARTH_EIO;
}

/* Record the format on first open; refuse a store written by another
 * format rather than misread it. */
static int check_format(hearth_store *s, MDB_txn *txn)
{
    MDB_val k = {6, "format"}, v;
    uint8_t want[4];
    put_be32(want, STORE_FORMAT);
    int rc = mdb_get(txn, s->dbi[DB_META], &k, &v);
    if (rc == MDB_NOTFOUND) {
        v = (MDB_val){4, want};
        return hearth_st_err(mdb_put(txn, s->dbi[DB_META], &k, &v, 0));
    }
    if (rc)
        return hearth_st_err(rc);
    if (v.mv_size != 4 || memcmp(v.mv_data, want, 4) != 0)
        return HEARTH_EINVAL;
    return HEARTH_OK;
}

static int open_dbs(hearth_store *s)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc)
        return hearth_st_err(rc);
    for (int i = 0; i < DB_COUNT && !rc; i++)
        rc = mdb_dbi_open(txn, db_names[i], MDB_CREATE, &s->dbi[i]);
    rc = rc ? hearth_st_err(rc) : check_format(s, txn);
    if (rc) {
        mdb_txn_abort(txn);
        return rc;
    }
    return hearth_st_err(mdb_txn_commit(txn));
}

static int env_setup(hearth_store *s, const char *dir,
                     const hearth_store_opts *o)
{
    int rc = mdb_env_create(&s->env);
    if (rc)
        return hearth_st_err(rc);
    s->map_size = o && o->map_size ? o->map_size : DEFAULT_MAP_SIZE;
    if (s->map_size > SIZE_MAX)
        return HEARTH_EINVAL;
    unsigned readers = o && o->max_readers ? o->max_readers : DEFAULT_READERS;
    if ((rc = mdb_env_set_mapsize(s->env, (size_t)s->map_size)) ||
        (rc = mdb_env_set_maxreaders(s->env, readers)) ||
        (rc = mdb_env_set_maxdbs(s->env, DB_COUNT)))
        return hearth_st_err(rc);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return HEARTH_EIO;
    /* MDB_NOTLS: read transactions belong to no thread, so an event loop
     * may hold several and they can be reset and reused (the pool below).
     * Sync flags stay at LMDB's default: every commit is fdatasync'ed. */
    rc = mdb_env_open(s->env, dir, MDB_NOTLS, 0600);
    if (rc)
        return hearth_st_err(rc);
    /* reader slots of processes killed with -9 would otherwise pin old
     * pages until the lock file is recreated */
    int dead;
    mdb_reader_check(s->env, &dead);
    return open_dbs(s);
}

int hearth_store_open(const char *dir, const hearth_store_opts *opts,
                      hearth_store **out)
{
    *out = NULL;
    hearth_store *s = calloc(1, sizeof *s);
    if (!s)
        return HEARTH_ENOMEM;
    if (pthread_mutex_init(&s->pool_mu, NULL) != 0) {
        free(s);
        return HEARTH_ENOMEM;
    }
    int rc = env_setup(s, dir, opts);
    if (rc) {
        int saved = errno;
        hearth_store_close(s);
        errno = saved;
        return rc;
    }
    *out = s;
    return HEARTH_OK;
}

void hearth_store_close(hearth_store *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->npool; i++)
        mdb_txn_abort(s->pool[i]);
    if (s->env)
        mdb_env_close(s->env);
    pthread_mutex_destroy(&s->pool_mu);
    free(s);
}

int hearth_st_read_begin(hearth_store *s, MDB_txn **txn)
{
    MDB_txn *t = NULL;
    pthread_mutex_lock(&s->pool_mu);
    if (s->npool)
        t = s->pool[--s->npool];
    pthread_mutex_unlock(&s->pool_mu);
    if (t) {
        int rc = mdb_txn_renew(t);
        if (rc == MDB_SUCCESS) {
            *txn = t;
            return HEARTH_OK;
        }
        mdb_txn_abort(t);
    }
    return hearth_st_err(mdb_txn_begin(s->env, NULL, MDB_RDONLY, txn));
}

void hearth_st_read_end(hearth_store *s, MDB_txn *txn)
{
    /* reset drops the snapshot at once; only the handle is kept */
    mdb_txn_reset(txn);
    pthread_mutex_lock(&s->pool_mu);
    if (s->npool < READ_POOL) {
        s->pool[s->npool++] = txn;
        txn = NULL;
    }
    pthread_mutex_unlock(&s->pool_mu);
    if (txn)
        mdb_txn_abort(txn);
}

static int get_serial(hearth_store *s, MDB_txn *txn, const uint8_t id[32],
                      MDB_val *rec)
{
    MDB_val k = {32, (void *)id}, v;
    int rc = mdb_get(txn, s->dbi[DB_IDS], &k, &v);
    if (rc)
        return hearth_st_err(rc);
    if (v.mv_size != 8)
        return HEARTH_EIO;
    return hearth_st_err(mdb_get(txn, s->dbi[DB_EVENTS], &v, rec));
}

int hearth_store_has_id(hearth_store *s, const uint8_t id[32], int *found)
{
    MDB_txn *txn;
    *found = 0;
    int rc = hearth_st_read_begin(s, &txn);
    if (rc)
        return rc;
    MDB_val k = {32, (void *)id}, v;
    rc = mdb_get(txn, s->dbi[DB_IDS], &k, &v);
    hearth_st_read_end(s, txn);
    if (rc == MDB_SUCCESS)
        *found = 1;
    return rc == MDB_NOTFOUND ? HEARTH_OK : hearth_st_err(rc);
}

int hearth_store_get_json(hearth_store *s, const uint8_t id[32],
                          hearth_buf *out)
{
    MDB_txn *txn;
    MDB_val v;
    struct rec r;
    int rc = hearth_st_read_begin(s, &txn);
    if (rc)
        return rc;
    rc = get_serial(s, txn, id, &v);
    if (rc == HEARTH_OK)
        rc = hearth_st_rec_view(v.mv_data, v.mv_size, &r);
    if (rc == HEARTH_OK)
        rc = hearth_buf_add(out, r.json, r.json_len);
    hearth_st_read_end(s, txn);
    return rc;
}

int hearth_store_get_info(hearth_store *s, hearth_store_info *info)
{
    MDB_txn *txn;
    MDB_stat st;
    MDB_envinfo ei;
    memset(info, 0, sizeof *info);
    int rc = hearth_st_read_begin(s, &txn);
    if (rc)
        return rc;
    rc = mdb_stat(txn, s->dbi[DB_EVENTS], &st);
    hearth_st_read_end(s, txn);
    if (rc)
        return hearth_st_err(rc);
    MDB_stat envst;
    mdb_env_info(s->env, &ei);
    mdb_env_stat(s->env, &envst);
    info->events = st.ms_entries;
    info->map_size = ei.me_mapsize;
    info->used = (uint64_t)(ei.me_last_pgno + 1) * envst.ms_psize;
    return HEARTH_OK;
}
