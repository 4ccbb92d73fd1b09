/* A growing LMDB environment (see lenv.h), shared by the job table and
 * the ledger. */
#include "lenv.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include "hearth/error.h"

#if SIZE_MAX > 0xffffffffu
#define MAX_MAP_SIZE (64ull << 30)
#else
#define MAX_MAP_SIZE (1ull << 30)
#endif
#define MAX_READERS 126u

int hearth_lenv_err(int rc)
{
    switch (rc) {
    case MDB_SUCCESS: return HEARTH_OK;
    case MDB_NOTFOUND: return HEARTH_ENOTFOUND;
    case ENOMEM: return HEARTH_ENOMEM;
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH: return HEARTH_EINVAL;
    case MDB_MAP_FULL:
        errno = ENOSPC;
        return HEARTH_EIO;
    }
    /* LMDB's own codes (READERS_FULL, TXN_FULL, ...) are negative and
     * mean nothing as errno */
    errno = rc > 0 ? rc : EIO;
    return HEARTH_EIO;
}

/* Another process grew the map: adopt its size. */
static int adopt_map(hearth_lenv *e)
{
    MDB_envinfo ei;
    pthread_rwlock_wrlock(&e->resize);
    int rc = mdb_env_set_mapsize(e->env, 0);
    if (rc == MDB_SUCCESS) {
        mdb_env_info(e->env, &ei);
        e->map_size = ei.me_mapsize;
    }
    pthread_rwlock_unlock(&e->resize);
    return hearth_lenv_err(rc);
}

/* Double the map unless another thread already grew it past seen. */
static int grow_map(hearth_lenv *e, uint64_t seen)
{
    int rc = MDB_SUCCESS;
    pthread_rwlock_wrlock(&e->resize);
    if (e->map_size == seen) {
        if (seen * 2 > MAX_MAP_SIZE || seen * 2 > SIZE_MAX)
            rc = MDB_MAP_FULL;
        else if ((rc = mdb_env_set_mapsize(e->env, (size_t)(seen * 2))) ==
                 MDB_SUCCESS)
            e->map_size = seen * 2;
    }
    pthread_rwlock_unlock(&e->resize);
    return hearth_lenv_err(rc);
}

int hearth_lenv_rbegin(hearth_lenv *e, MDB_txn **txn)
{
    for (;;) {
        pthread_rwlock_rdlock(&e->resize);
        int rc = mdb_txn_begin(e->env, NULL, MDB_RDONLY, txn);
        if (rc == MDB_SUCCESS)
            return HEARTH_OK;
        pthread_rwlock_unlock(&e->resize);
        if (rc != MDB_MAP_RESIZED)
            return hearth_lenv_err(rc);
        if ((rc = adopt_map(e)))
            return rc;
    }
}

void hearth_lenv_rend(hearth_lenv *e, MDB_txn *txn)
{
    mdb_txn_abort(txn);
    pthread_rwlock_unlock(&e->resize);
}

int hearth_lenv_fail(hearth_lenv_txn *w, int rc)
{
    w->mdb_rc = rc;
    return hearth_lenv_err(rc);
}

int hearth_lenv_write(hearth_lenv *e, hearth_lenv_write_fn fn, void *ctx)
{
    for (;;) {
        hearth_lenv_txn w = {e, NULL, 0};
        pthread_rwlock_rdlock(&e->resize);
        uint64_t seen = e->map_size;
        int rc = mdb_txn_begin(e->env, NULL, 0, &w.txn);
        if (rc) {
            pthread_rwlock_unlock(&e->resize);
            if (rc == MDB_MAP_RESIZED && adopt_map(e) == HEARTH_OK)
                continue;
            return hearth_lenv_err(rc);
        }
        rc = fn(&w, ctx);
        if (rc == HEARTH_OK) {
            int mrc = mdb_txn_commit(w.txn);
            if (mrc)
                rc = hearth_lenv_fail(&w, mrc);
        } else {
            mdb_txn_abort(w.txn);
        }
        pthread_rwlock_unlock(&e->resize);
        if (w.mdb_rc == MDB_MAP_FULL && grow_map(e, seen) == HEARTH_OK)
            continue;
        if (w.mdb_rc == MDB_MAP_FULL)
            return hearth_lenv_err(MDB_MAP_FULL); /* errno ENOSPC */
        return rc;
    }
}

static int open_dbs(hearth_lenv *e, const char *const *names, int n)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(e->env, NULL, 0, &txn);
    if (rc)
        return hearth_lenv_err(rc);
    for (int i = 0; i < n && !rc; i++)
        rc = mdb_dbi_open(txn, names[i], MDB_CREATE, &e->dbi[i]);
    if (rc) {
        mdb_txn_abort(txn);
        return hearth_lenv_err(rc);
    }
    return hearth_lenv_err(mdb_txn_commit(txn));
}

static int env_setup(hearth_lenv *e, const char *dir,
                     const char *const *names, int n, uint64_t initial)
{
    MDB_envinfo ei;
    int rc = mdb_env_create(&e->env);
    if (rc)
        return hearth_lenv_err(rc);
    if ((rc = mdb_env_set_mapsize(e->env, (size_t)initial)) ||
        (rc = mdb_env_set_maxreaders(e->env, MAX_READERS)) ||
        (rc = mdb_env_set_maxdbs(e->env, (MDB_dbi)n)))
        return hearth_lenv_err(rc);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return HEARTH_EIO;
    /* MDB_NOTLS: threads share one handle and a read transaction is not
     * tied to the thread that began it. Sync flags stay at LMDB's
     * default: a change is on disk before the write returns, which is
     * what the callers' crash guarantees rest on. */
    rc = mdb_env_open(e->env, dir, MDB_NOTLS, 0600);
    if (rc)
        return hearth_lenv_err(rc);
    int dead; /* free the reader slots of a process killed with -9 */
    mdb_reader_check(e->env, &dead);
    mdb_env_info(e->env, &ei); /* a previous run may have grown the map */
    e->map_size = ei.me_mapsize;
    return open_dbs(e, names, n);
}

int hearth_lenv_open(hearth_lenv *e, const char *dir,
                     const char *const *names, int n, uint64_t initial_map)
{
    pthread_rwlockattr_t attr;
    memset(e, 0, sizeof *e);
    if (n < 1 || n > HEARTH_LENV_MAX_DBS)
        return HEARTH_EINVAL;
    /* prefer the resizer, or a stream of readers could starve it */
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr,
        PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    int rc = pthread_rwlock_init(&e->resize, &attr);
    pthread_rwlockattr_destroy(&attr);
    if (rc)
        return HEARTH_ENOMEM;
    e->resize_init = 1;
    rc = env_setup(e, dir, names, n, initial_map);
    if (rc) {
        int saved = errno;
        hearth_lenv_close(e);
        errno = saved;
    }
    return rc;
}

void hearth_lenv_close(hearth_lenv *e)
{
    if (e->env)
        mdb_env_close(e->env);
    if (e->resize_init)
        pthread_rwlock_destroy(&e->resize);
    memset(e, 0, sizeof *e);
}
