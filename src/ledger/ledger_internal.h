/* Shared between the ledger's writer (ledger.c) and its readers
 * (ledger_read.c): the environment, record layouts and LMDB plumbing. */
#ifndef HEARTH_LEDGER_INTERNAL_H
#define HEARTH_LEDGER_INTERNAL_H

#include "hearth/ledger.h"

#include <lmdb.h>

#include "../store/lenv.h"

/* standing: counterparty (32) -> i64 LE, the entry time since which
 * the counterparty has owed us without a break; absent when it does not */
enum { DB_ENTRIES, DB_BY_EVENT, DB_BALANCES, DB_RESERVATIONS, DB_STANDING,
       DB_COUNT };

/* Entry record, version 1, integers little-endian; key: seq u64 BE.
 *   0 version  1 kind  2 side  3 rail  4 settle_rail  5 nlegs
 *   6 memo length  7 event_id  39 counterparty  71 job_id  103 preimage
 *   135 amount u64  143 time i64  151 legs (account u8, rail u8,
 *   amount i64) x nlegs, then the memo without NUL. */
#define ENTRY_VERSION 1u
#define ENTRY_FIXED 151u
#define LEG_SIZE 10u
#define ENTRY_MAX (ENTRY_FIXED + LEG_SIZE * HEARTH_LEDGER_LEGS_MAX + \
                   HEARTH_LEDGER_MEMO_MAX)
#define SEQ_KEY 8u
/* balances key: counterparty, rail, account; value i64 LE */
#define BAL_KEY 34u
/* Reservation record, version 1: 0 version  1 side  2 rail  3 state
 *   4 counterparty  36 amount  44 used  52 reserve_seq  60 release_seq */
#define RES_VERSION 1u
#define RES_SIZE 68u
_Static_assert(HEARTH_LEDGER_MEMO_MAX <= 255, "memo length is one byte");

struct hearth_ledger {
    hearth_lenv e;  /* its databases indexed by DB_* */
};


void hearth_ledger_put_le(uint8_t *p, uint64_t v, int n);
uint64_t hearth_ledger_get_le(const uint8_t *p, int n);
void hearth_ledger_seq_key(uint64_t seq, uint8_t k[SEQ_KEY]);
uint64_t hearth_ledger_seq_of(const uint8_t k[SEQ_KEY]);
int hearth_ledger_entry_decode(const MDB_val *k, const MDB_val *v,
                               hearth_ledger_entry *e);
int hearth_ledger_res_decode(const uint8_t job[32], const MDB_val *v,
                             hearth_ledger_reservation *r);

#endif
