/* Offers (hearth microstandard, docs/protocol.md "Offer"): what a provider
 * sells for one (job kind, backend), at what price, on what hardware.
 * Pure functions turn an offer into an unsigned addressable event and a
 * received event back into an offer, rejecting out-of-range or
 * inconsistent fields with a reason. */
#ifndef HEARTH_OFFER_H
#define HEARTH_OFFER_H

#include <stddef.h>
#include <stdint.h>

#include "hearth/event.h"

#define HEARTH_PROTOCOL_VERSION 1u
#define HEARTH_OFFER_MAX_MODELS 16u
#define HEARTH_OFFER_MAX_RELAYS 8u
#define HEARTH_OFFER_NAME_MAX   64u   /* bytes of a model / GPU name, +NUL */
#define HEARTH_OFFER_URL_MAX    256u  /* bytes of a relay URL, +NUL */

/* Lifetimes (docs/protocol.md "Offer"): a provider republishes every
 * REFRESH seconds and each offer expires after TTL, twice the refresh, so
 * one lost refresh does not take it off the market. Parsers refuse an
 * expiration more than MAX_TTL ahead (of now or of created_at) and a
 * created_at more than MAX_SKEW in the future. */
#define HEARTH_OFFER_REFRESH_S  600
#define HEARTH_OFFER_TTL_S      1200
#define HEARTH_OFFER_MAX_TTL_S  86400
#define HEARTH_OFFER_MAX_SKEW_S 900

typedef enum hearth_backend {
    HEARTH_BACKEND_POW = 1,     /* NIP-13 mining, CPU or CUDA */
    HEARTH_BACKEND_OPENAI = 2,  /* llama.cpp server / Ollama / vLLM */
    HEARTH_BACKEND_EXEC = 3     /* any program, JSON lines on stdin/stdout */
} hearth_backend;

/* accepted payment rails (bit mask) */
enum { HEARTH_RAIL_CREDIT = 1u << 0, HEARTH_RAIL_LIGHTNING = 1u << 1 };

/* Price vector in millisatoshi; a job's price is the sum of each component
 * times the job's usage of it (hearth_offer_price). */
typedef struct hearth_price {
    uint64_t per_job;
    uint64_t per_mtok_in;    /* per million input tokens */
    uint64_t per_mtok_out;   /* per million output tokens */
    uint64_t per_gpu_second;
    uint64_t per_mhash;      /* per million hashes (pow) */
} hearth_price;

/* usage of one job, as estimated before or metered after */
typedef struct hearth_usage {
    uint64_t jobs;
    uint64_t tokens_in, tokens_out;
    uint64_t gpu_ms;
    uint64_t hashes;
} hearth_usage;

typedef struct hearth_hw_summary {
    char gpu[HEARTH_OFFER_NAME_MAX];  /* "" for CPU only */
    uint32_t gpu_count;
    uint32_t vram_mb;                 /* per GPU */
    uint16_t cc_major, cc_minor;      /* CUDA compute capability */
    uint8_t tier;                     /* 1 best .. 4; 0 = no GPU */
    uint16_t cpu_cores;
} hearth_hw_summary;

typedef struct hearth_offer {
    uint8_t pubkey[32];               /* the provider (from the event) */
    uint8_t event_id[32];
    int64_t created_at, expires_at;   /* NIP-40 expiration is required */
    uint32_t version;                 /* HEARTH_PROTOCOL_VERSION */
    uint32_t job_kind;                /* NIP-90 request kind 5000-5999 */
    hearth_backend backend;
    hearth_price price;
    hearth_hw_summary hw;
    size_t nmodels;
    char models[HEARTH_OFFER_MAX_MODELS][HEARTH_OFFER_NAME_MAX];
    /* measured benchmark figures (0 = not measured) */
    uint64_t bench_mhash_s;           /* million hashes per second */
    uint32_t bench_tokens_s;          /* output tokens per second */
    uint32_t capacity_free, capacity_total;  /* job slots */
    size_t nrelays;
    char relays[HEARTH_OFFER_MAX_RELAYS][HEARTH_OFFER_URL_MAX]; /* inbox */
    unsigned rails;                   /* HEARTH_RAIL_* */
    uint64_t credit_limit_msat;       /* credit a new customer gets */
    int pow_bits;                     /* NIP-13 committed, 0 if none */
} hearth_offer;

/* Unsigned addressable event (kind HEARTH_KIND_OFFER, d = "<kind>:<backend>")
 * carrying every field, with a NIP-40 expiration tag; the caller mines
 * (optional) and signs it. created_at is now; the expiration is
 * o->expires_at if that is after now, else now + HEARTH_OFFER_TTL_S.
 * pubkey, event_id, created_at, version and pow_bits of o are not read.
 * HEARTH_EINVAL if the event would not parse back (hearth_offer_check
 * says why). */
int hearth_offer_to_event(const hearth_offer *o, int64_t now,
                          hearth_event **out);
/* The verdict hearth_offer_from_event would give the event
 * hearth_offer_to_event builds from o: HEARTH_OK, or HEARTH_EINVAL with
 * *why (static, NIP-01 prefixed). */
int hearth_offer_check(const hearth_offer *o, int64_t now, const char **why);
/* Parse a signed offer event (signature NOT checked here). Rejects
 * expired, out-of-range or inconsistent offers with *why. */
int hearth_offer_from_event(const hearth_event *ev, int64_t now,
                            hearth_offer *out, const char **why);
/* Price of a job of the given usage under o, in msat (saturating). */
uint64_t hearth_offer_price(const hearth_price *p, const hearth_usage *u);
/* NIP-89 kind-31990 announcement for the job kinds of the given offers. */
int hearth_offer_announcement(const hearth_offer *offers, size_t n,
                              const char *name, int64_t now,
                              hearth_event **out);
const char *hearth_backend_name(hearth_backend b);
int hearth_backend_parse(const char *name, hearth_backend *out);

#endif
