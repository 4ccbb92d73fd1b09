/* A small LMDB environment for a module of its own (the job table, the
 * ledger): named databases, durable commits, and a map that grows on
 * MDB_MAP_FULL, with the transaction replayed. Internal to libhearth. */
#ifndef HEARTH_LENV_H
#define HEARTH_LENV_H

#include <lmdb.h>
#include <pthread.h>
#include <stdint.h>

#define HEARTH_LENV_MAX_DBS 8

typedef struct hearth_lenv {
    MDB_env *env;
    MDB_dbi dbi[HEARTH_LENV_MAX_DBS];
    /* Every transaction holds this shared; growing the map takes it
     * exclusively, since LMDB forbids mdb_env_set_mapsize while any
     * transaction of this process is live. */
    pthread_rwlock_t resize;
    int resize_init;
    uint64_t map_size;  /* under resize */
} hearth_lenv;

/* One write transaction in progress. */
typedef struct hearth_lenv_txn {
    hearth_lenv *e;
    MDB_txn *txn;
    int mdb_rc;  /* the LMDB failure, to tell MAP_FULL from the rest */
} hearth_lenv_txn;

/* LMDB return code -> hearth error code (errno set for HEARTH_EIO). */
int hearth_lenv_err(int rc);
/* Create dir (0700) and open it with the n named databases (created when
 * missing), MDB_NOTLS and LMDB's default, durable sync. On failure the
 * environment is closed and errno kept. */
int hearth_lenv_open(hearth_lenv *e, const char *dir,
                     const char *const *names, int n, uint64_t initial_map);
void hearth_lenv_close(hearth_lenv *e);
/* A read transaction with the resize lock held shared. */
int hearth_lenv_rbegin(hearth_lenv *e, MDB_txn **txn);
void hearth_lenv_rend(hearth_lenv *e, MDB_txn *txn);
/* Record an LMDB failure in w and return its hearth code. */
int hearth_lenv_fail(hearth_lenv_txn *w, int rc);

typedef int (*hearth_lenv_write_fn)(hearth_lenv_txn *w, void *ctx);
/* Run fn in one write transaction and commit it (durable when this
 * returns). A non-zero result of fn aborts and is returned. On
 * MDB_MAP_FULL the map doubles and the whole transaction is replayed, so
 * fn must depend only on the database and ctx. */
int hearth_lenv_write(hearth_lenv *e, hearth_lenv_write_fn fn, void *ctx);

#endif
