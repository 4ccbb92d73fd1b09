/* NIP-90 job events (docs/protocol-jobs.md): requests (kinds 5000-5999),
 * results (request kind + 1000) and feedback (kind 7000), plain or
 * encrypted, plus the hearth "route" tag that routers use to delegate
 * without loops. Pure functions: they build unsigned events (sign them
 * with the same key that was passed for encryption) and parse received
 * ones, rejecting anything out of bounds with a reason that carries a
 * NIP-01 prefix ("invalid: ...").
 *
 * Encrypted jobs: the request has an ["encrypted"] tag, one ["p",
 * provider] tag, and its content is the encryption (to the provider) of
 * a JSON array of the private tags (i, param, output, bid, relays, ...).
 * NIP-44 v2 is what NDK sends and what hearth sends; NIP-04 (the NIP-90
 * text) is accepted too, recognised by its "?iv=" suffix. Replies to an
 * encrypted request are encrypted to the customer the same way. */
#ifndef HEARTH_NIP90_H
#define HEARTH_NIP90_H

#include <stddef.h>
#include <stdint.h>

#include "hearth/event.h"
#include "hearth/runner.h"

#define HEARTH_NIP90_MAX_INPUTS    16u
#define HEARTH_NIP90_MAX_PARAMS    32u
#define HEARTH_NIP90_MAX_RELAYS    8u
#define HEARTH_NIP90_MAX_PROVIDERS 16u   /* p tags */
#define HEARTH_NIP90_MAX_ROUTE     4u    /* route entries, customer included */
#define HEARTH_NIP90_MAX_PLAIN     (256u * 1024u) /* decrypted private tags */
/* Further bounds on what a request may carry (added with the parser):
 * tags counted on the event plus those decrypted from its content; one
 * input's data (inputs may be whole documents, yet a job that needs more
 * should pass a url); a param's key and value; the short strings (input
 * type, relay hint and marker, output MIME type); a feedback's status
 * info and a bolt11 invoice. */
#define HEARTH_NIP90_MAX_TAGS        256u
#define HEARTH_NIP90_MAX_INPUT       (1u << 20)
#define HEARTH_NIP90_MAX_PARAM_KEY   64u
#define HEARTH_NIP90_MAX_PARAM_VALUE (64u * 1024u)
#define HEARTH_NIP90_MAX_SHORT       256u
#define HEARTH_NIP90_MAX_INFO        4096u

enum hearth_nip90_enc {
    HEARTH_NIP90_PLAIN = 0,
    HEARTH_NIP90_NIP04 = 4,
    HEARTH_NIP90_NIP44 = 44
};

/* A parsed request. Every pointer points into storage owned by the
 * struct (freed by hearth_job_request_free). */
typedef struct hearth_job_request {
    uint8_t id[32];
    uint8_t customer[32];             /* the request's author */
    uint32_t kind;
    int64_t created_at;
    int64_t expiration;               /* NIP-40, 0 if none */
    int enc;                          /* enum hearth_nip90_enc */
    size_t ninputs;
    hearth_job_input inputs[HEARTH_NIP90_MAX_INPUTS];
    size_t nparams;
    hearth_job_param params[HEARTH_NIP90_MAX_PARAMS];
    const char *output;               /* "output" MIME type, NULL if none */
    uint64_t bid_msat;                /* "bid", 0 if none */
    size_t nrelays;                   /* "relays": where to answer */
    const char *relays[HEARTH_NIP90_MAX_RELAYS];
    size_t nproviders;                /* "p" tags: who is asked */
    uint8_t providers[HEARTH_NIP90_MAX_PROVIDERS][32];
    /* hearth ["route", <pubkey hex>...]: the peers this job already
     * passed through, the original customer first. Empty for a job that
     * comes straight from its customer. When present it ends with the
     * request's author (a router appends itself when it delegates), holds
     * no key twice, and has at most HEARTH_NIP90_MAX_ROUTE entries. */
    size_t nroute;
    uint8_t route[HEARTH_NIP90_MAX_ROUTE][32];
    char *json;                       /* the request event as received
                                       * (hearth_event_to_json of it:
                                       * same fields, same id) */
    size_t json_len;
    void *mem_;                       /* private */
} hearth_job_request;

/* Parse a request (signature NOT checked here; the pool and the relay
 * already did). sk is this peer's secret key, needed only to decrypt an
 * encrypted request addressed to it (NULL: encrypted requests are
 * refused). Rejects, with *why: a kind outside 5000-5999, more than the
 * bounds above, malformed i/param/bid/relays/p/route tags, an encrypted
 * request without exactly one p tag, one that is not addressed to sk's
 * key, or whose content does not decrypt to a JSON array of tags.
 * The caller frees *out with hearth_job_request_free. */
int hearth_nip90_request_parse(const hearth_event *ev, const uint8_t *sk,
                               hearth_job_request **out, const char **why);
void hearth_job_request_free(hearth_job_request *r);

/* Whether the request is for the peer with this pubkey: 1 if it has no p
 * tag (open) or one of its p tags is pubkey, else 0. */
int hearth_nip90_request_is_for(const hearth_job_request *r,
                                const uint8_t pubkey[32]);

/* SHA-256 of a job's inputs, the input_sha256 of metering notes
 * (docs/protocol-settlement.md): for each input in order, its value's
 * length as 8 bytes little-endian, then the value. Provider and customer
 * compute it from the same (decrypted) i tags. */
void hearth_nip90_input_hash(const hearth_job_input *inputs, size_t n,
                             uint8_t out[32]);

/* The runner's view of a request (pointers into r; time and memory
 * limits left 0). */
void hearth_nip90_runner_job(const hearth_job_request *r,
                             hearth_runner_job *job);

/* What a customer asks for. */
typedef struct hearth_job_spec {
    uint32_t kind;
    size_t ninputs;
    const hearth_job_input *inputs;
    size_t nparams;
    const hearth_job_param *params;
    const char *output;               /* NULL: no output tag */
    uint64_t bid_msat;                /* 0: no bid tag */
    size_t nrelays;
    const char *const *relays;
    size_t nproviders;
    const uint8_t (*providers)[32];
    size_t nroute;                    /* route tag, as in the request:
                                       * must end with sk's key */
    const uint8_t (*route)[32];
    int enc;                          /* encrypt to providers[0] */
    int64_t expiration;               /* 0: none */
} hearth_job_spec;

/* Unsigned request event from the author with secret key sk (used for
 * encryption; sign the event with it). */
int hearth_nip90_request_build(const hearth_job_spec *spec,
                               const uint8_t sk[32], int64_t now,
                               hearth_event **out);

enum hearth_nip90_status {
    HEARTH_NIP90_PAYMENT_REQUIRED = 1,
    HEARTH_NIP90_PROCESSING,
    HEARTH_NIP90_ERROR,
    HEARTH_NIP90_SUCCESS,
    HEARTH_NIP90_PARTIAL
};
const char *hearth_nip90_status_name(enum hearth_nip90_status s);

typedef struct hearth_nip90_feedback {
    enum hearth_nip90_status status;
    const char *info;        /* third value of the status tag, NULL: none */
    int percent;             /* ["progress", "<0..100>"], -1: none */
    uint64_t amount_msat;    /* ["amount", msat(, bolt11)], 0: none */
    const char *bolt11;      /* NULL: none */
    const char *content;     /* partial output, NULL: empty */
    size_t content_len;
} hearth_nip90_feedback;

/* Unsigned kind-7000 feedback to req from the provider with key sk:
 * ["status", name(, info)], ["e", request id], ["p", customer], and the
 * optional tags above; encrypted (content and status, amount, progress
 * tags moved into it) when the request was. */
int hearth_nip90_feedback_build(const hearth_job_request *req,
                                const hearth_nip90_feedback *fb,
                                const uint8_t sk[32], int64_t now,
                                hearth_event **out);

/* Unsigned result (kind req->kind + 1000): content, ["request", request
 * JSON], ["e", id], ["p", customer], the request's i tags, and ["amount",
 * msat(, bolt11)] when amount_msat > 0. For an encrypted request the
 * content is encrypted to the customer and the tags are only
 * ["encrypted"], ["e", id], ["p", customer] (and amount). */
int hearth_nip90_result_build(const hearth_job_request *req,
                              const char *content, size_t len,
                              uint64_t amount_msat, const char *bolt11,
                              const uint8_t sk[32], int64_t now,
                              hearth_event **out);

/* A result or feedback as the customer reads it. */
typedef struct hearth_job_reply {
    int is_result;           /* 1 result, 0 feedback */
    uint8_t id[32];
    uint8_t provider[32];    /* the reply's author */
    uint8_t request_id[32];  /* its e tag */
    uint32_t kind;
    enum hearth_nip90_status status;  /* SUCCESS for a result */
    const char *info;        /* "" if none */
    int percent;             /* -1 if none */
    uint64_t amount_msat;    /* 0 if none */
    const char *bolt11;      /* "" if none */
    const char *content;     /* decrypted when it was encrypted */
    size_t content_len;
    int enc;
    void *mem_;
} hearth_job_reply;

/* Parse a result or feedback; sk (the customer's key, may be NULL)
 * decrypts encrypted ones. Rejects malformed ones with *why. */
int hearth_nip90_reply_parse(const hearth_event *ev, const uint8_t *sk,
                             hearth_job_reply **out, const char **why);
void hearth_job_reply_free(hearth_job_reply *r);

/* Unsigned NIP-09 deletion of a request (cancellation): ["e", id] and
 * ["k", "<kind>"], so providers can subscribe by #k. */
int hearth_nip90_cancel_build(const uint8_t request_id[32], uint32_t kind,
                              const char *reason, int64_t now,
                              hearth_event **out);

#endif
