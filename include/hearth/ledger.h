/* The ledger (docs/ledger.md): a double-entry, append-only book of what
 * this peer earned, spent, owes and is owed, per counterparty and payment
 * rail, in an LMDB environment of its own (<data>/ledger).
 *
 * Every posting is one durable LMDB transaction that writes the entry,
 * its idempotency record (by event id) and every balance it moves, so a
 * crash leaves all of it or none of it. Applying the same settlement event
 * twice changes nothing and returns HEARTH_LEDGER_DUP.
 *
 * Sign convention: a leg's amount is positive for a debit and negative for
 * a credit; the legs of an entry sum to zero, and so do all balances.
 *
 * All calls are thread-safe (LMDB serialises writers). */
#ifndef HEARTH_LEDGER_H
#define HEARTH_LEDGER_H

#include <stddef.h>
#include <stdint.h>

#include "hearth/buf.h"
#include "hearth/offer.h"

typedef struct hearth_ledger hearth_ledger;

/* returned by the writers when the event was already applied */
#define HEARTH_LEDGER_DUP 1

/* Rails are offer.h's HEARTH_RAIL_CREDIT (1: mutual credit, no money
 * moves) and HEARTH_RAIL_LIGHTNING (2: Lightning through NWC), one
 * definition for the whole library. */
#define HEARTH_RAIL_MAX 2

/* The chart of accounts, kept per (counterparty, rail). */
enum hearth_ledger_account {
    HEARTH_ACCT_RECEIVABLE = 1, /* asset: the counterparty owes us */
    HEARTH_ACCT_PAYABLE = 2,    /* liability: we owe the counterparty */
    HEARTH_ACCT_REVENUE = 3,    /* income: work we sold (credit-normal) */
    HEARTH_ACCT_EXPENSE = 4,    /* work we bought (debit-normal) */
    HEARTH_ACCT_CASH = 5,       /* money moved on the rail with them */
    HEARTH_ACCT_RESERVED = 6,   /* prepayments held for open jobs: debit
                                   when we prepaid, credit when we hold
                                   the customer's money */
    HEARTH_ACCT_DISPUTED = 7    /* claims under dispute, not collectable */
};
#define HEARTH_ACCT_MAX 7
const char *hearth_ledger_account_name(int account);
const char *hearth_ledger_rail_name(int rail);

/* Which side of the deal we are on. The buyer's legs mirror the
 * seller's (receivable <-> payable, revenue <-> expense, signs flipped),
 * so both peers' books agree entry for entry. */
enum hearth_ledger_side {
    HEARTH_SIDE_SELL = 1,       /* we are the provider */
    HEARTH_SIDE_BUY = 2         /* we are the customer */
};

/* What happened; docs/ledger.md has the legs each posts on each side. */
enum hearth_ledger_kind {
    HEARTH_POST_ACCEPTED = 1,   /* metering note accepted by a receipt */
    HEARTH_POST_DISPUTED = 2,   /* note disputed: the claim is held */
    HEARTH_POST_REVERSED = 3,   /* accepted amount disputed afterwards */
    HEARTH_POST_UPHELD = 4,     /* held claim dropped (dispute upheld) */
    HEARTH_POST_REJECTED = 5,   /* held claim stands after all */
    HEARTH_POST_PAYMENT = 6,    /* payment for work (preimage for LN) */
    HEARTH_POST_REFUND = 7,     /* refund of an unused prepayment paid */
    HEARTH_POST_RESERVE = 8,    /* prepayment for a job (see reserve) */
    HEARTH_POST_RELEASE = 9,    /* prepaid job ended (see release) */
    HEARTH_POST_BILLED = 10,    /* our final metering note: the claim as
                                   delivered, before any receipt */
    HEARTH_POST_CONTESTED = 11  /* a billed claim disputed by a receipt */
};
#define HEARTH_POST_KIND_MAX 11
const char *hearth_ledger_kind_name(int kind);

#define HEARTH_LEDGER_MEMO_MAX 128u  /* bytes, without the NUL */
#define HEARTH_LEDGER_LEGS_MAX 3u

typedef struct hearth_ledger_post_req {
    uint8_t event_id[32];     /* idempotency key: the note, receipt or
                                 payment event that causes the posting */
    uint8_t kind;             /* enum hearth_ledger_kind */
    uint8_t side;             /* enum hearth_ledger_side */
    uint8_t rail;             /* rail the amount moves on */
    uint8_t settle_rail;      /* PAYMENT: the rail whose receivable or
                                 payable it clears (0: same as rail) */
    uint8_t counterparty[32]; /* their pubkey */
    uint8_t job_id[32];       /* the job request id (zero if none) */
    uint8_t preimage[32];     /* PAYMENT/REFUND/RESERVE on Lightning:
                                 the proof of payment (required) */
    uint64_t amount_msat;     /* > 0; RELEASE: the amount used (>= 0) */
    int64_t time;             /* unix seconds */
    const char *memo;         /* NULL or short text; never job content */
} hearth_ledger_post_req;

typedef struct hearth_ledger_leg {
    uint8_t account;          /* enum hearth_ledger_account */
    uint8_t rail;
    int64_t amount_msat;      /* debit > 0, credit < 0 */
} hearth_ledger_leg;

typedef struct hearth_ledger_entry {
    uint64_t seq;             /* 1, 2, 3, ... in commit order */
    uint8_t event_id[32];
    uint8_t kind, side, rail, settle_rail;
    uint8_t counterparty[32];
    uint8_t job_id[32];
    uint8_t preimage[32];
    uint64_t amount_msat;
    int64_t time;
    uint8_t nlegs;
    hearth_ledger_leg legs[HEARTH_LEDGER_LEGS_MAX];
    char memo[HEARTH_LEDGER_MEMO_MAX + 1];
} hearth_ledger_entry;

/* Open (creating) the ledger under dir (made 0700). HEARTH_EIO with
 * errno when it cannot. */
int hearth_ledger_open(const char *dir, hearth_ledger **out);
void hearth_ledger_close(hearth_ledger *l);

/* Post one settlement event, durably. HEARTH_OK when applied,
 * HEARTH_LEDGER_DUP when this event id was applied before (nothing
 * changes), HEARTH_EINVAL with a reason in *why (may be NULL) for an
 * unknown kind, side or rail, a zero amount, a missing preimage, an
 * amount that does not fit in a balance, or an event id already applied
 * with different content. RESERVE and RELEASE go through the reservation
 * rules below. */
int hearth_ledger_post(hearth_ledger *l, const hearth_ledger_post_req *p,
                       const char **why);

/* Reservations (prepaid jobs). Reserve: p->kind is taken as RESERVE,
 * p->job_id must be set and not reserved before (HEARTH_LEDGER_DUP when
 * the same reservation exists, HEARTH_EINVAL when a different one does).
 * Release: closes the job's reservation, booking used_msat as revenue /
 * expense and the rest as a refund due; HEARTH_ENOTFOUND with no
 * reservation, HEARTH_EINVAL when used exceeds it, HEARTH_LEDGER_DUP when
 * it was already released with the same amount. The release's idempotency
 * key is derived from the job id. */
int hearth_ledger_reserve(hearth_ledger *l, const hearth_ledger_post_req *p,
                          const char **why);
int hearth_ledger_release(hearth_ledger *l, const uint8_t job_id[32],
                          uint64_t used_msat, int64_t time,
                          const char **why);

enum hearth_ledger_res_state {
    HEARTH_RES_OPEN = 1,
    HEARTH_RES_RELEASED = 2
};

typedef struct hearth_ledger_reservation {
    uint8_t job_id[32];
    uint8_t counterparty[32];
    uint8_t side, rail, state;
    uint64_t amount_msat;     /* reserved */
    uint64_t used_msat;       /* when released */
    uint64_t reserve_seq, release_seq;  /* entries; release 0 if open */
} hearth_ledger_reservation;

int hearth_ledger_reservation_get(hearth_ledger *l, const uint8_t job_id[32],
                                  hearth_ledger_reservation *out);

/* ---- queries ---- */

typedef struct hearth_ledger_balance {
    uint8_t counterparty[32];
    uint8_t rail;
    int64_t acct[HEARTH_ACCT_MAX + 1];  /* by account; [0] unused */
    int64_t net_owed;   /* receivable + payable (payable is a credit,
                           so negative): > 0 they owe us, < 0 we owe
                           them; the two peers' figures are opposite */
} hearth_ledger_balance;

/* One counterparty on one rail (all zero when it never dealt). */
int hearth_ledger_balance_get(hearth_ledger *l, const uint8_t cp[32],
                              int rail, hearth_ledger_balance *out);
/* Every (counterparty, rail) with balances, in key order, at most max. */
int hearth_ledger_balances(hearth_ledger *l, hearth_ledger_balance *out,
                           size_t max, size_t *n);

/* A counterparty's standing over every rail, for the credit policy
 * (credit.h). */
typedef struct hearth_ledger_standing {
    int64_t owed_msat;      /* sum of net_owed: > 0 they owe us */
    int64_t disputed_msat;  /* sum of the disputed account: > 0 our
                               held claims on them, < 0 theirs on us */
    int64_t owing_since;    /* unix s (entry time) since which owed_msat
                               has stayed > 0; 0 while it is <= 0 */
    int64_t paid_msat;      /* sum of the cash account: money they paid
                               us, less money we paid them */
} hearth_ledger_standing;

/* All zero for a counterparty never dealt with. */
int hearth_ledger_standing_get(hearth_ledger *l, const uint8_t cp[32],
                               hearth_ledger_standing *out);

typedef struct hearth_ledger_totals {
    uint64_t entries;
    int64_t acct[HEARTH_RAIL_MAX + 1][HEARTH_ACCT_MAX + 1]; /* [rail][a] */
} hearth_ledger_totals;
int hearth_ledger_totals_get(hearth_ledger *l, hearth_ledger_totals *out);

/* Entries newest first, at most max; only those with that counterparty
 * when cp is not NULL. */
int hearth_ledger_history(hearth_ledger *l, const uint8_t *cp,
                          hearth_ledger_entry *out, size_t max, size_t *n);
/* The entry an event id produced: HEARTH_ENOTFOUND if none. */
int hearth_ledger_find_event(hearth_ledger *l, const uint8_t event_id[32],
                             hearth_ledger_entry *out);

/* Export every entry, oldest first, appended to out. CSV: a header line,
 * then one line per leg, RFC 4180 (CRLF, quoted where needed):
 *   seq,time,event_id,kind,side,counterparty,job_id,account,rail,
 *   amount_msat,preimage,memo
 * JSON: an array of entries, each with its legs. */
int hearth_ledger_export_csv(hearth_ledger *l, hearth_buf *out);
int hearth_ledger_export_json(hearth_ledger *l, hearth_buf *out);

typedef struct hearth_ledger_report {
    uint64_t entries;
    uint64_t balances;        /* balance records */
    int64_t sum;              /* of all balances: 0 */
    uint64_t bad_entries;     /* legs not summing to 0, undecodable */
    uint64_t bad_balances;    /* differ from the replay of the entries */
    uint64_t bad_index;       /* by_event and entries disagree */
    uint64_t open_reservations;
} hearth_ledger_report;

/* Check the books: every entry balances, the balances equal a replay of
 * the entries and sum to zero, each entry is indexed by its event id.
 * HEARTH_OK when all holds, HEARTH_EINVAL (report says what) otherwise. */
int hearth_ledger_check(hearth_ledger *l, hearth_ledger_report *report);

#endif
