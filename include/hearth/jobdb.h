/* The job table (docs/jobs.md): every job this peer provides, buys or
 * routes, as a persisted state machine in its own LMDB environment
 * (<data>/jobs). A record changes state only through hearth_jobdb_put,
 * which commits durably before returning, so after a crash every job is
 * exactly where its last acknowledged transition left it: the provider
 * resumes or closes each one and never runs a job twice.
 *
 * Privacy: the table keeps the request event as received (it is public or
 * encrypted on the relays anyway) and hashes of inputs and outputs, never
 * an output in clear: a result awaiting publication is kept as the signed
 * result event only until a relay accepted it.
 *
 * All calls are thread-safe (LMDB serialises writers). */
#ifndef HEARTH_JOBDB_H
#define HEARTH_JOBDB_H

#include <stddef.h>
#include <stdint.h>

#include "hearth/buf.h"
#include "hearth/offer.h"

typedef struct hearth_jobdb hearth_jobdb;

enum hearth_job_role {
    HEARTH_JOB_PROVIDER = 1,  /* we run it */
    HEARTH_JOB_CUSTOMER = 2,  /* we asked for it */
    HEARTH_JOB_ROUTER = 3     /* we took it and delegated it */
};

/* Transitions (docs/jobs.md has the diagram):
 *   QUOTED -> QUEUED -> RUNNING -> RESULT -> DONE
 *   any non-final -> FAILED | CANCELLED
 * A restart turns RUNNING into FAILED (with an error feedback), keeps
 * QUEUED jobs to run, and republishes RESULT. */
enum hearth_job_state {
    HEARTH_JOB_QUOTED = 1,    /* waiting for payment / acceptance */
    HEARTH_JOB_QUEUED = 2,    /* admitted, waiting for a slot */
    HEARTH_JOB_RUNNING = 3,   /* on a runner (provider), or sent to a
                                 provider (customer, router) */
    HEARTH_JOB_RESULT = 4,    /* result signed, not yet accepted by a
                                 relay (provider) */
    HEARTH_JOB_DONE = 5,      /* final: result delivered / received */
    HEARTH_JOB_FAILED = 6,    /* final */
    HEARTH_JOB_CANCELLED = 7  /* final */
};
const char *hearth_job_state_name(int state);
int hearth_job_state_final(int state);

#define HEARTH_JOB_REASON_MAX 160u

typedef struct hearth_job_rec {
    uint8_t id[32];           /* the request event id (key) */
    uint8_t role;             /* enum hearth_job_role */
    uint8_t state;            /* enum hearth_job_state */
    uint16_t attempts;        /* providers tried (customer) / runs */
    uint32_t kind;
    uint8_t customer[32];
    uint8_t provider[32];     /* who runs it (zero if not chosen) */
    uint8_t upstream[32];     /* router: the original request id */
    uint8_t result_id[32];    /* zero until there is a result */
    uint8_t input_hash[32];   /* SHA-256 of the inputs' values */
    uint8_t output_hash[32];  /* SHA-256 of the output */
    int64_t created_at;       /* when the peer first saw it (unix s) */
    int64_t updated_at;
    int64_t deadline;         /* give up after (unix s), 0 none */
    uint64_t amount_msat;     /* quoted, then charged */
    hearth_usage usage;
    char reason[HEARTH_JOB_REASON_MAX]; /* why FAILED/CANCELLED, "" */
    /* settlement (docs/settlement.md) */
    uint8_t payment_hash[32]; /* the Lightning invoice of this job
                                 (provider: made, customer: paid); zero */
    uint64_t paid_msat;       /* its amount once paid (customer: pay_invoice
                                 succeeded; provider: lookup settled) */
    uint8_t settle;           /* enum hearth_job_settle bits */
} hearth_job_rec;

/* Settlement progress, bits that only ever get set. Unlike the rest of a
 * record they may change after the job reached a final state: receipts
 * and refunds come after the result. */
enum hearth_job_settle {
    HEARTH_SETTLE_INVOICED = 1,  /* an invoice was made / received */
    HEARTH_SETTLE_PAID = 2,      /* paid (payment_hash, paid_msat set) */
    HEARTH_SETTLE_BOOKED = 4,    /* the final note is in the ledger:
                                    provider BILLED / released, customer
                                    ACCEPTED / DISPUTED / released */
    HEARTH_SETTLE_RECEIPT = 8,   /* customer: receipt published;
                                    provider: receipt received */
    HEARTH_SETTLE_REFUNDED = 16  /* prepaid job failed or cancelled: the
                                    reservation was released unused */
};

/* Open (creating) the job table under dir (a directory; made 0700).
 * HEARTH_EIO with errno when it cannot. */
int hearth_jobdb_open(const char *dir, hearth_jobdb **out);
void hearth_jobdb_close(hearth_jobdb *db);

/* Insert or update a record and, when blob is not NULL, the event JSON
 * kept with it (the request when the job is new, the signed result while
 * state is RESULT; blob_len 0 with a non-NULL blob deletes it). One
 * durable transaction. HEARTH_EINVAL for a transition the state machine
 * forbids (a final state never changes; the old state is in *why). */
int hearth_jobdb_put(hearth_jobdb *db, const hearth_job_rec *rec,
                     const char *blob, size_t blob_len, const char **why);
/* Insert only if absent: HEARTH_OK when inserted, 1 when a record with
 * that id already exists (it is left alone and copied to *existing, which
 * may be NULL). The duplicate check for requests seen on many relays. */
int hearth_jobdb_insert(hearth_jobdb *db, const hearth_job_rec *rec,
                        const char *blob, size_t blob_len,
                        hearth_job_rec *existing);
/* HEARTH_ENOTFOUND if there is none. */
int hearth_jobdb_get(hearth_jobdb *db, const uint8_t id[32],
                     hearth_job_rec *out);
/* The JSON kept with a job, appended to out. HEARTH_ENOTFOUND if none. */
int hearth_jobdb_blob(hearth_jobdb *db, const uint8_t id[32],
                      hearth_buf *out);
/* Records by role (0: all) in created_at order, newest first, at most
 * max; returns the count written to out. Only non-final records when
 * open_only. */
int hearth_jobdb_list(hearth_jobdb *db, int role, int open_only,
                      hearth_job_rec *out, size_t max, size_t *n);
/* Records whose id starts with the hex prefix (for `hearth job status
 * abcd`): HEARTH_ENOTFOUND, HEARTH_EINVAL if it is ambiguous. */
int hearth_jobdb_find_prefix(hearth_jobdb *db, const char *hex_prefix,
                             hearth_job_rec *out);

#endif
