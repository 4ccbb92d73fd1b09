/* Settlement events (hearth microstandard, docs/protocol-settlement.md):
 * metering notes (kind 7441, provider-signed) and receipts (kind 7442,
 * customer-signed). Pure functions only: build an unsigned event from a
 * struct, parse a received event strictly back into one (with a NIP-01
 * prefixed reason on rejection), and the checks a customer runs on a note
 * before it signs a receipt. Nothing here touches the ledger, the network
 * or the clock (callers pass "now"). */
#ifndef HEARTH_METER_H
#define HEARTH_METER_H

#include <stddef.h>
#include <stdint.h>

#include "hearth/event.h"
#include "hearth/offer.h"

/* Every amount is at most the 21 million bitcoin that can ever exist, in
 * millisatoshi (2.1e18 < 2^63): a ledger can add and subtract any two of
 * them in signed 64-bit arithmetic without overflow. */
#define HEARTH_MSAT_MAX          2100000000000000000ULL
#define HEARTH_METER_MAX_SEQ     UINT32_MAX
#define HEARTH_METER_BOLT11_MAX  2048u  /* chars of a bolt11 invoice */
#define HEARTH_METER_ADDR_MAX    160u   /* chars of the offer address */
#define HEARTH_RECEIPT_TEXT_MAX  280u   /* bytes of a dispute's content */
/* "no quote" for hearth_meter_check_note: an unlimited quote */
#define HEARTH_METER_NO_QUOTE    UINT64_MAX

/* One metering note: the cumulative state of one job so far. A note with
 * a higher seq for the same (provider, customer, request) supersedes the
 * earlier ones, so a lost note loses nothing. */
typedef struct hearth_meter_note {
    uint8_t id[32];            /* from the event (parse only) */
    uint8_t provider[32];      /* event pubkey (parse only) */
    int64_t created_at;        /* parse only */
    uint8_t request_id[32];    /* ["e", ...] the NIP-90 job request */
    uint8_t customer[32];      /* ["p", ...] */
    uint32_t seq;              /* 1, 2, 3, ... */
    int final;                 /* 1: the last note of the job */
    hearth_usage usage;        /* cumulative */
    uint64_t amount_msat;      /* cumulative amount due */
    hearth_price price;        /* the price vector the amount came from */
    uint8_t input_sha256[32];
    int has_output;            /* final notes only */
    uint8_t output_sha256[32];
    unsigned rail;             /* exactly one HEARTH_RAIL_* bit */
    int has_quote;
    uint64_t quote_msat;       /* the amount quoted before running */
    char bolt11[HEARTH_METER_BOLT11_MAX + 1];  /* "" if none */
    char offer[HEARTH_METER_ADDR_MAX + 1];     /* "31907:<pk>:<d>" or "" */
} hearth_meter_note;

typedef enum hearth_receipt_status {
    HEARTH_RECEIPT_ACCEPT = 1,
    HEARTH_RECEIPT_DISPUTE = 2
} hearth_receipt_status;

/* Dispute reason codes; NONE means "accept". */
typedef enum hearth_dispute {
    HEARTH_DISPUTE_NONE = 0,
    HEARTH_DISPUTE_WRONG_RESULT = 1,
    HEARTH_DISPUTE_NOT_DELIVERED = 2,
    HEARTH_DISPUTE_OVERCHARGED = 3,
    HEARTH_DISPUTE_TOO_SLOW = 4
} hearth_dispute;

typedef struct hearth_receipt {
    uint8_t id[32];            /* from the event (parse only) */
    uint8_t customer[32];      /* event pubkey (parse only) */
    int64_t created_at;        /* parse only */
    uint8_t note_id[32];       /* ["e", ...] the metering note */
    uint8_t request_id[32];    /* ["request", ...] */
    uint8_t provider[32];      /* ["p", ...] */
    hearth_receipt_status status;
    hearth_dispute reason;     /* NONE for accept, never NONE for dispute */
    uint64_t amount_msat;      /* accepted (a dispute may accept a part) */
    unsigned rail;             /* exactly one HEARTH_RAIL_* bit */
    int has_preimage;          /* Lightning payment proof */
    uint8_t preimage[32];
    int has_paid;
    uint64_t paid_msat;
    char text[HEARTH_RECEIPT_TEXT_MAX + 1]; /* dispute content, "" if none */
} hearth_receipt;

/* Unsigned kind-7441 event, created_at = now. provider, id and created_at
 * of n are not read. HEARTH_EINVAL (with *why, may be NULL) if the event
 * would not parse back: hearth never publishes a note it would refuse. */
int hearth_meter_note_to_event(const hearth_meter_note *n, int64_t now,
                               hearth_event **out, const char **why);
/* Strict parse (signature NOT checked here). Rejects with HEARTH_EINVAL
 * and a static "invalid: ..." *why. */
int hearth_meter_note_from_event(const hearth_event *ev, int64_t now,
                                 hearth_meter_note *out, const char **why);

/* 1 if a supersedes b: same provider, customer and request, higher seq. */
int hearth_meter_note_supersedes(const hearth_meter_note *a,
                                 const hearth_meter_note *b);
/* The cumulative rule: HEARTH_OK if later may follow earlier (same job,
 * higher seq, earlier not final, same price vector, input hash and quote,
 * no usage field and not the amount lower); else HEARTH_EINVAL, *why. */
int hearth_meter_note_follows(const hearth_meter_note *later,
                              const hearth_meter_note *earlier,
                              const char **why);

/* What a customer checks before accepting a note: the note's price vector
 * is not above the offer's (price), the amount is not above price(usage)
 * under the offer nor above quote_msat (HEARTH_METER_NO_QUOTE: none), and
 * every usage field is within max_usage (NULL: unbounded). HEARTH_OK
 * (*reason = NONE) or HEARTH_EINVAL with *reason (OVERCHARGED) and *why.
 * A lower amount is a discount and is accepted. */
int hearth_meter_check_note(const hearth_meter_note *n, uint64_t quote_msat,
                            const hearth_price *price,
                            const hearth_usage *max_usage,
                            hearth_dispute *reason, const char **why);
/* The delivery check on a final note against the SHA-256 of the result the
 * customer received (NULL: none received): NOT_DELIVERED if nothing came
 * or the note names no output while charging, WRONG_RESULT if the hashes
 * differ. A non-final note passes (nothing is delivered yet). */
int hearth_meter_check_output(const hearth_meter_note *n,
                              const uint8_t *got_sha256,
                              hearth_dispute *reason, const char **why);

/* The receipt for a note: accept (reason NONE, amount = the note's) or
 * dispute (amount 0: the caller may set the part it accepts, and text).
 * Payment fields are left empty for the caller. */
void hearth_receipt_for(const hearth_meter_note *n, hearth_dispute reason,
                        hearth_receipt *out);
/* 1 if r is a receipt for n: same note, request, provider and customer
 * (when r has one), same rail, amount equal (accept) or not above
 * (dispute) the note's. */
int hearth_receipt_matches(const hearth_receipt *r,
                           const hearth_meter_note *n);

int hearth_receipt_to_event(const hearth_receipt *r, int64_t now,
                            hearth_event **out, const char **why);
int hearth_receipt_from_event(const hearth_event *ev, int64_t now,
                              hearth_receipt *out, const char **why);

/* "wrong_result", ...; "" for NONE, "unknown" out of range */
const char *hearth_dispute_name(hearth_dispute d);
int hearth_dispute_parse(const char *name, hearth_dispute *out);

#endif
