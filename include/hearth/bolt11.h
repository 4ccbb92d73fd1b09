/* BOLT 11 invoices, the little a customer checks before paying one
 * (docs/settlement.md "Payment"): the amount in the human-readable part,
 * the bech32 checksum, and the payment hash (tagged field p), so the hash
 * can be recorded before the payment and looked up after a crash. Pure
 * and bounded: no allocation, every loop limited by the input length
 * (at most HEARTH_BOLT11_MAX characters). The signature is the paying
 * wallet's business and is not checked here. */
#ifndef HEARTH_BOLT11_H
#define HEARTH_BOLT11_H

#include <stddef.h>
#include <stdint.h>

#define HEARTH_BOLT11_MAX 4096u   /* characters (= HEARTH_NWC_INVOICE_MAX) */

typedef struct hearth_bolt11 {
    char network[5];              /* "bc", "tb", "tbs" or "bcrt" */
    int has_amount;               /* 0: an invoice for any amount */
    uint64_t amount_msat;         /* <= HEARTH_MSAT_MAX */
    int has_payment_hash;
    uint8_t payment_hash[32];
} hearth_bolt11;

/* The human-readable part only: "ln" + network (bc, tb, tbs, bcrt) +
 * an optional amount (digits without leading zero, then m, u, n or p, or
 * nothing for whole bitcoin), up to the last '1'. Lower or upper case,
 * not mixed. *has is 0 for an invoice without an amount. HEARTH_EINVAL
 * with *why (may be NULL) for anything else: an unknown prefix, a
 * malformed amount, an amount that is not a whole msat (a p amount not
 * ending in 0) or that is above HEARTH_MSAT_MAX. */
int hearth_bolt11_amount(const char *s, size_t len, uint64_t *msat, int *has,
                         const char **why);

/* The amount as above, plus the bech32 checksum and the payment hash
 * (the first p field of 52 characters; a second one is refused, fields
 * of another length are skipped as BOLT 11 says). HEARTH_EINVAL with
 * *why when the checksum is wrong, the data part is too short for a
 * timestamp and a signature, or the fields run past it. */
int hearth_bolt11_parse(const char *s, size_t len, hearth_bolt11 *out,
                        const char **why);

#endif
