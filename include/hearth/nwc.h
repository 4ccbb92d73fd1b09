/* NIP-47 Nostr Wallet Connect, client side: the Lightning rail's access to
 * a wallet (Alby Hub, Mutiny, LND through an NWC bridge, or the test
 * wallet tests/interop/nwc_wallet.mjs; the code is the same for all).
 *
 * A connection string
 *   nostr+walletconnect://<wallet pubkey hex>?relay=<url>&secret=<hex>
 *                                            [&relay=<url>...][&lud16=<addr>]
 * is a secret: whoever holds it spends from the wallet. Load it from a
 * file only readable by its owner (hearth_nwc_conn_load) and never log it;
 * nothing in this module prints or returns the secret in a message.
 *
 * The client (hearth_nwc) runs on the event loop with a relay pool of its
 * own, so wallet traffic goes only to the wallet's relays. It reads the
 * wallet's info event (kind 13194) to choose the encryption (NIP-44 v2 if
 * advertised, NIP-04 otherwise, as NIP-47 says), subscribes to responses
 * (kind 23195) before it publishes any request (kind 23194, ephemeral: a
 * response sent before the subscription is lost), matches responses by
 * their "e" tag, and ends every request with exactly one callback: a
 * result, a wallet error, or a timeout. docs/nwc.md has the details. */
#ifndef HEARTH_NWC_H
#define HEARTH_NWC_H

#include <stddef.h>
#include <stdint.h>

#include "hearth/loop.h"

#define HEARTH_NWC_KIND_INFO      13194u
#define HEARTH_NWC_KIND_REQUEST   23194u
#define HEARTH_NWC_KIND_RESPONSE  23195u

#define HEARTH_NWC_URI_MAX        4096u /* bytes of a connection string */
#define HEARTH_NWC_MAX_RELAYS     8u    /* relay= parameters */
#define HEARTH_NWC_MAX_PARAMS     32u   /* query parameters in all */
#define HEARTH_NWC_LUD16_MAX      320u  /* bytes of a lightning address */
#define HEARTH_NWC_INVOICE_MAX    4096u /* bytes of a bolt11 we send */
#define HEARTH_NWC_DESC_MAX       639u  /* bolt11 description limit */
#define HEARTH_NWC_REPLY_MAX      (64u << 10) /* bytes of a decrypted reply */

/* ---- connection strings ---- */

typedef struct hearth_nwc_conn {
    uint8_t wallet_pk[32];   /* the wallet service's key */
    uint8_t secret[32];      /* the client's key for this connection */
    uint8_t client_pk[32];   /* derived from secret */
    size_t nrelays;
    char *relays[HEARTH_NWC_MAX_RELAYS]; /* normalized, owned, no dups */
    char *lud16;             /* owned; NULL if absent */
} hearth_nwc_conn;

/* Strict parse of uri[0..len): the scheme exactly, a 64-hex wallet key on
 * the curve, then only relay (1..HEARTH_NWC_MAX_RELAYS, ws:// or wss://,
 * percent-decoded), secret (exactly one, 64 hex, a valid key) and lud16
 * (at most one, name@domain). Other parameters are skipped (wallets add
 * their own) if their names are [a-z0-9_]; HEARTH_NWC_MAX_PARAMS in all.
 * *why (if given) names the problem and never
 * contains the secret. Clear *out with hearth_nwc_conn_clear, also after
 * a failure. HEARTH_EINVAL or HEARTH_ETOOBIG (over HEARTH_NWC_URI_MAX). */
int hearth_nwc_uri_parse(const char *uri, size_t len, hearth_nwc_conn *out,
                         const char **why);

/* Read a connection string from a file that only its owner may read
 * (mode 0600 or stricter; HEARTH_EPERM otherwise, like hearth_key_load),
 * surrounding whitespace ignored, then hearth_nwc_uri_parse. */
int hearth_nwc_conn_load(const char *path, hearth_nwc_conn *out,
                         const char **why);

/* Frees the strings and wipes the secret. Safe on a zeroed struct. */
void hearth_nwc_conn_clear(hearth_nwc_conn *c);

/* ---- the client ---- */

enum hearth_nwc_enc {
    HEARTH_NWC_ENC_AUTO = 0, /* NIP-44 v2 if the info event offers it */
    HEARTH_NWC_ENC_NIP04,
    HEARTH_NWC_ENC_NIP44
};

typedef struct hearth_nwc_opts {
    uint32_t timeout_ms;      /* per request, from the call (60000) */
    uint32_t info_timeout_ms; /* wait for the info event before choosing
                                 NIP-04 (5000) */
    enum hearth_nwc_enc enc;  /* AUTO */
    const char *ca_file;      /* for wss:// relays; NULL: the system's */
} hearth_nwc_opts;

void hearth_nwc_opts_default(hearth_nwc_opts *o);

enum hearth_nwc_method {
    HEARTH_NWC_PAY_INVOICE = 0,
    HEARTH_NWC_MAKE_INVOICE,
    HEARTH_NWC_LOOKUP_INVOICE,
    HEARTH_NWC_GET_BALANCE,
    HEARTH_NWC_GET_INFO
};
/* "pay_invoice", ... */
const char *hearth_nwc_method_name(enum hearth_nwc_method m);

/* The NIP-47 error codes; HEARTH_NWC_ERR_NONE when the wallet did not
 * answer with an error (success, timeout or a local failure). */
enum hearth_nwc_code {
    HEARTH_NWC_ERR_NONE = 0,
    HEARTH_NWC_ERR_RATE_LIMITED,
    HEARTH_NWC_ERR_NOT_IMPLEMENTED,
    HEARTH_NWC_ERR_INSUFFICIENT_BALANCE,
    HEARTH_NWC_ERR_QUOTA_EXCEEDED,
    HEARTH_NWC_ERR_RESTRICTED,
    HEARTH_NWC_ERR_UNAUTHORIZED,
    HEARTH_NWC_ERR_INTERNAL,
    HEARTH_NWC_ERR_PAYMENT_FAILED,
    HEARTH_NWC_ERR_NOT_FOUND,
    HEARTH_NWC_ERR_UNSUPPORTED_ENCRYPTION,
    HEARTH_NWC_ERR_OTHER      /* OTHER, or a code we do not know */
};
/* "INSUFFICIENT_BALANCE", ...; "" for NONE */
const char *hearth_nwc_code_name(enum hearth_nwc_code c);
/* A plain sentence for the code (what it means for the user). */
const char *hearth_nwc_code_sentence(enum hearth_nwc_code c);
/* Pure: the code for a wallet's code string (unknown -> OTHER). */
enum hearth_nwc_code hearth_nwc_code_parse(const char *s);

/* What a request produced; the callback gets a pointer valid during the
 * call only. err is HEARTH_OK or:
 *   HEARTH_ETIMEDOUT  no answer in time (message says from where)
 *   HEARTH_EIO        the wallet answered with an error (code, message),
 *                     or no relay took the request
 *   HEARTH_EPERM      the wallet refused: UNAUTHORIZED, RESTRICTED,
 *                     QUOTA_EXCEEDED, INSUFFICIENT_BALANCE
 *   HEARTH_ENOTFOUND  NOT_FOUND
 *   HEARTH_EBUSY      RATE_LIMITED
 *   HEARTH_ECRYPTO    a preimage that does not hash to the payment hash,
 *                     or a reply we could not decrypt
 *   HEARTH_EINVAL     a malformed reply
 * message is a sentence for people on failure (the wallet's own text, if
 * any, is quoted at its end, cleaned of control characters), "" on
 * success. Strings are fixed arrays so that a result can be copied. */
typedef struct hearth_nwc_result {
    enum hearth_nwc_method method;
    int err;
    enum hearth_nwc_code code;
    char message[512];
    /* make_invoice, lookup_invoice, pay_invoice */
    char invoice[HEARTH_NWC_INVOICE_MAX + 1]; /* "" if the wallet gave none */
    int has_payment_hash;
    uint8_t payment_hash[32];
    int has_preimage;            /* checked against payment_hash whenever
                                    both are known */
    uint8_t preimage[32];
    int settled;                 /* settled_at or a preimage given */
    uint64_t amount_msat;
    uint64_t fees_paid_msat;
    int64_t created_at, expires_at, settled_at; /* 0 if absent */
    /* get_balance */
    uint64_t balance_msat;
    /* get_info */
    char alias[128], network[32];
    char methods[512];           /* space-separated, "" if absent */
} hearth_nwc_result;

/* Pure (the client's reply parser, exposed for tests): fill r from the
 * decrypted content of a response to method m. expect_hash (may be NULL)
 * is the payment hash the caller expects. Returns r->err. */
int hearth_nwc_reply_parse(enum hearth_nwc_method m, const char *json,
                           size_t n, const uint8_t *expect_hash,
                           hearth_nwc_result *r);

typedef void (*hearth_nwc_cb)(const hearth_nwc_result *r, void *user);

typedef struct hearth_nwc hearth_nwc;

/* A client for one connection on loop (conn is copied; the caller may
 * clear it afterwards). Starts connecting and reading the info event. */
int hearth_nwc_new(hearth_loop *loop, const hearth_nwc_conn *conn,
                   const hearth_nwc_opts *opts, hearth_nwc **out);
/* Drops pending requests without callbacks, closes the pool and wipes the
 * key. Not from inside a callback. */
void hearth_nwc_free(hearth_nwc *c);

/* 1 once the encryption is chosen and the response subscription is up;
 * requests made earlier wait for that (their timeout runs meanwhile). */
int hearth_nwc_ready(const hearth_nwc *c);
/* The encryption in use (AUTO until ready). */
enum hearth_nwc_enc hearth_nwc_encryption(const hearth_nwc *c);
/* Requests not answered yet. */
size_t hearth_nwc_pending(const hearth_nwc *c);

/* Every request calls cb exactly once from the loop (never from inside
 * the call), unless the client is freed first. HEARTH_EINVAL for bad
 * arguments, HEARTH_ENOMEM. */

/* An invoice for amount_msat (> 0); description may be NULL; expiry_s 0
 * leaves it to the wallet. Result: invoice, payment_hash, amount. */
int hearth_nwc_make_invoice(hearth_nwc *c, uint64_t amount_msat,
                            const char *description, uint32_t expiry_s,
                            hearth_nwc_cb cb, void *user);
/* Pay bolt11. payment_hash (may be NULL) is what the caller expects to
 * pay; given, the returned preimage must hash to it (HEARTH_ECRYPTO
 * otherwise: the wallet claims a payment that proves nothing). */
int hearth_nwc_pay_invoice(hearth_nwc *c, const char *bolt11,
                           const uint8_t *payment_hash, hearth_nwc_cb cb,
                           void *user);
/* By payment_hash, or by bolt11 when payment_hash is NULL. Result:
 * settled, preimage (checked), amount, settled_at. */
int hearth_nwc_lookup_invoice(hearth_nwc *c, const uint8_t *payment_hash,
                              const char *bolt11, hearth_nwc_cb cb,
                              void *user);
int hearth_nwc_get_balance(hearth_nwc *c, hearth_nwc_cb cb, void *user);
int hearth_nwc_get_info(hearth_nwc *c, hearth_nwc_cb cb, void *user);

/* Pure, for tests and the ledger: 1 if SHA-256(preimage) == hash. */
int hearth_nwc_preimage_ok(const uint8_t preimage[32],
                           const uint8_t payment_hash[32]);

#endif
