/* Settlement events: metering notes (kind 7441) and receipts (kind 7442)
 * <-> structs, the cumulative rule between notes, and the checks a
 * customer runs before it accepts a note (docs/protocol-settlement.md).
 * The parsers are the one place that decides what a note or receipt may
 * say; the builders run them on their own output, so hearth never signs
 * a settlement event that hearth would refuse. */
#include "hearth/meter.h"

#include "hearth/error.h"
#include "hearth/hex.h"
#include "hearth/kinds.h"
#include "hearth/utf8.h"

#include <stdio.h>
#include <string.h>

#define FAIL(msg)                                                          \
    do {                                                                   \
        *why = (msg);                                                      \
        return HEARTH_EINVAL;                                              \
    } while (0)

/* ---- small parsers ---- */

static int str_is(hearth_str s, const char *lit)
{
    size_t n = strlen(lit);
    return s.n == n && !memcmp(s.p, lit, n);
}

/* Canonical decimal (digits only, no sign, no leading zero) up to max:
 * one spelling per value, so two notes with equal fields are equal bytes. */
static int dec(hearth_str s, uint64_t max, uint64_t *out)
{
    uint64_t x = 0;
    if (s.n == 0 || s.n > 20 || (s.n > 1 && s.p[0] == '0'))
        return HEARTH_EINVAL;
    for (size_t i = 0; i < s.n; i++) {
        unsigned d = (unsigned)((unsigned char)s.p[i] - '0');
        if (d > 9 || x > (max - d) / 10)
            return HEARTH_EINVAL;
        x = x * 10 + d;
    }
    *out = x;
    return HEARTH_OK;
}

static int hex32(hearth_str s, uint8_t out[32])
{
    if (s.n != 64)
        return HEARTH_EINVAL;
    return hearth_hex_decode(s.p, s.n, out, 32, 0);
}

static int rail_of(hearth_str s, unsigned *rail)
{
    if (str_is(s, "credit"))
        *rail = HEARTH_RAIL_CREDIT;
    else if (str_is(s, "lightning"))
        *rail = HEARTH_RAIL_LIGHTNING;
    else
        return HEARTH_EINVAL;
    return HEARTH_OK;
}

static const char *rail_name(unsigned rail)
{
    return rail == HEARTH_RAIL_LIGHTNING ? "lightning" : "credit";
}

/* bolt11 is bech32: lowercase "ln" + letters and digits. Decoding it is
 * the wallet's job; this only keeps garbage and oversize strings out. */
static int bolt11_ok(const char *p, size_t n)
{
    if (n < 8 || n > HEARTH_METER_BOLT11_MAX || p[0] != 'l' || p[1] != 'n')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9')))
            return 0;
    return 1;
}

/* "31907:<64 hex>:<d>", d a non-empty printable ASCII string */
static int offer_addr_ok(const char *p, size_t n, const uint8_t *provider)
{
    uint8_t pk[32];
    if (n > HEARTH_METER_ADDR_MAX || n < 6 + 64 + 2 ||
        memcmp(p, "31907:", 6) || p[70] != ':' ||
        hearth_hex_decode(p + 6, 64, pk, 32, 0))
        return 0;
    if (provider && memcmp(pk, provider, 32))
        return 0;
    for (size_t i = 71; i < n; i++)
        if ((unsigned char)p[i] <= 0x20 || (unsigned char)p[i] >= 0x7f)
            return 0;
    return 1;
}

/* A dispute's human text: bounded, valid UTF-8, no control characters
 * but newline, so a UI can show it without escaping surprises. */
static int text_ok(const char *p, size_t n)
{
    if (n > HEARTH_RECEIPT_TEXT_MAX || !hearth_utf8_valid(p, n))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)p[i] < 0x20 && p[i] != '\n') || p[i] == 0x7f)
            return 0;
    return 1;
}

/* ---- tags that appear at most once ---- */

/* The reasons are spelled out because they go on the wire and must be
 * static strings. */
struct single {
    const char *name, *dup, *empty;
};

/* Remember the first tag of each single name; a second one or one without
 * a value is an error. */
static int collect(const hearth_tag *t, const struct single *s, size_t ns,
                   const hearth_tag **one, int *matched, const char **why)
{
    *matched = 0;
    for (size_t k = 0; k < ns; k++) {
        if (!str_is(t->v[0], s[k].name))
            continue;
        *matched = 1;
        if (one[k])
            FAIL(s[k].dup);
        if (t->n < 2)
            FAIL(s[k].empty);
        one[k] = t;
        return HEARTH_OK;
    }
    return HEARTH_OK;
}

static int check_version(const hearth_tag *v, const char **why)
{
    uint64_t x;
    if (!v)
        FAIL("invalid: missing v tag (protocol version)");
    if (dec(v->v[1], UINT32_MAX, &x) || x != HEARTH_PROTOCOL_VERSION)
        FAIL("invalid: unsupported settlement version");
    return HEARTH_OK;
}

static int check_time(const hearth_event *ev, int64_t now, const char **why)
{
    if (ev->created_at > now + HEARTH_OFFER_MAX_SKEW_S)
        FAIL("invalid: created_at is too far in the future");
    return HEARTH_OK;
}

/* ---- usage and price vectors ---- */

static const struct {
    const char *name;
    size_t off;
} usage_units[] = {
    {"jobs", offsetof(hearth_usage, jobs)},
    {"tokens_in", offsetof(hearth_usage, tokens_in)},
    {"tokens_out", offsetof(hearth_usage, tokens_out)},
    {"gpu_ms", offsetof(hearth_usage, gpu_ms)},
    {"hashes", offsetof(hearth_usage, hashes)},
};
#define NUSAGE (sizeof usage_units / sizeof usage_units[0])

/* the offer's units (docs/protocol.md "Offer") */
static const struct {
    const char *name;
    size_t off;
} price_units[] = {
    {"job", offsetof(hearth_price, per_job)},
    {"mtok_in", offsetof(hearth_price, per_mtok_in)},
    {"mtok_out", offsetof(hearth_price, per_mtok_out)},
    {"gpu_s", offsetof(hearth_price, per_gpu_second)},
    {"mhash", offsetof(hearth_price, per_mhash)},
};
#define NPRICE (sizeof price_units / sizeof price_units[0])

static uint64_t field(const void *base, size_t off)
{
    uint64_t v;
    memcpy(&v, (const char *)base + off, sizeof v);
    return v;
}

static void set_field(void *base, size_t off, uint64_t v)
{
    memcpy((char *)base + off, &v, sizeof v);
}

static int usage_tag(const hearth_tag *t, hearth_usage *u, unsigned *seen,
                     const char **why)
{
    uint64_t v;
    size_t k;
    if (t->n < 3)
        FAIL("invalid: usage tag needs a unit and a count");
    for (k = 0; k < NUSAGE; k++)
        if (str_is(t->v[1], usage_units[k].name))
            break;
    if (k == NUSAGE)
        FAIL("invalid: unknown usage unit");
    if (*seen & (1u << k))
        FAIL("invalid: duplicate usage unit");
    if (dec(t->v[2], UINT64_MAX, &v))
        FAIL("invalid: usage is not a decimal count");
    *seen |= 1u << k;
    set_field(u, usage_units[k].off, v);
    return HEARTH_OK;
}

static int price_tag(const hearth_tag *t, hearth_price *p, unsigned *seen,
                     const char **why)
{
    uint64_t v;
    size_t k;
    if (t->n < 3)
        FAIL("invalid: price tag needs a unit and an amount");
    for (k = 0; k < NPRICE; k++)
        if (str_is(t->v[1], price_units[k].name))
            break;
    if (k == NPRICE)
        FAIL("invalid: unknown price unit");
    if (*seen & (1u << k))
        FAIL("invalid: duplicate price unit");
    if (dec(t->v[2], UINT64_MAX, &v))
        FAIL("invalid: price is not a decimal number of msat");
    *seen |= 1u << k;
    set_field(p, price_units[k].off, v);
    return HEARTH_OK;
}

/* ---- metering note: parsing ---- */

enum {
    N_E, N_P, N_V, N_SEQ, N_FINAL, N_AMOUNT, N_IN, N_OUT, N_RAIL, N_BOLT11,
    N_QUOTE, N_OFFER, N_NSINGLE
};

static const struct single note_singles[N_NSINGLE] = {
    {"e", "invalid: duplicate e tag", "invalid: e tag has no value"},
    {"p", "invalid: duplicate p tag", "invalid: p tag has no value"},
    {"v", "invalid: duplicate v tag", "invalid: v tag has no value"},
    {"seq", "invalid: duplicate seq tag", "invalid: seq tag has no value"},
    {"final", "invalid: duplicate final tag",
     "invalid: final tag has no value"},
    {"amount", "invalid: duplicate amount tag",
     "invalid: amount tag has no value"},
    {"input_sha256", "invalid: duplicate input_sha256 tag",
     "invalid: input_sha256 tag has no value"},
    {"output_sha256", "invalid: duplicate output_sha256 tag",
     "invalid: output_sha256 tag has no value"},
    {"rail", "invalid: duplicate rail tag", "invalid: rail tag has no value"},
    {"bolt11", "invalid: duplicate bolt11 tag",
     "invalid: bolt11 tag has no value"},
    {"quote", "invalid: duplicate quote tag",
     "invalid: quote tag has no value"},
    {"offer", "invalid: duplicate offer tag",
     "invalid: offer tag has no value"},
};

struct note_parse {
    hearth_meter_note *n;
    const hearth_tag *one[N_NSINGLE];
    unsigned usage_seen, price_seen;
};

/* Unknown tags are ignored, so a later minor revision can add tags that
 * old peers skip; known ones are strict. */
static int note_walk(struct note_parse *ps, const hearth_event *ev,
                     const char **why)
{
    int rc = HEARTH_OK, matched;
    for (size_t i = 0; i < ev->ntags && !rc; i++) {
        const hearth_tag *t = &ev->tags[i];
        if (t->n < 1)
            continue;
        rc = collect(t, note_singles, N_NSINGLE, ps->one, &matched, why);
        if (rc || matched)
            continue;
        if (str_is(t->v[0], "usage"))
            rc = usage_tag(t, &ps->n->usage, &ps->usage_seen, why);
        else if (str_is(t->v[0], "price"))
            rc = price_tag(t, &ps->n->price, &ps->price_seen, why);
    }
    return rc;
}

/* e, p, seq, final: which job and where in it */
static int note_identity(struct note_parse *ps, const char **why)
{
    hearth_meter_note *n = ps->n;
    uint64_t x;
    if (!ps->one[N_E])
        FAIL("invalid: missing e tag (job request)");
    if (hex32(ps->one[N_E]->v[1], n->request_id))
        FAIL("invalid: e tag is not a 32-byte hex event id");
    if (!ps->one[N_P])
        FAIL("invalid: missing p tag (customer)");
    if (hex32(ps->one[N_P]->v[1], n->customer))
        FAIL("invalid: p tag is not a 32-byte hex public key");
    if (!ps->one[N_SEQ])
        FAIL("invalid: missing seq tag");
    if (dec(ps->one[N_SEQ]->v[1], HEARTH_METER_MAX_SEQ, &x) || x == 0)
        FAIL("invalid: seq is not a decimal number from 1 to 2^32-1");
    n->seq = (uint32_t)x;
    if (!ps->one[N_FINAL])
        FAIL("invalid: missing final tag");
    if (str_is(ps->one[N_FINAL]->v[1], "1"))
        n->final = 1;
    else if (!str_is(ps->one[N_FINAL]->v[1], "0"))
        FAIL("invalid: final is not 0 or 1");
    return HEARTH_OK;
}

static int note_hashes(struct note_parse *ps, const char **why)
{
    hearth_meter_note *n = ps->n;
    if (!ps->one[N_IN])
        FAIL("invalid: missing input_sha256 tag");
    if (hex32(ps->one[N_IN]->v[1], n->input_sha256))
        FAIL("invalid: input_sha256 is not 64 lowercase hex");
    if (!ps->one[N_OUT])
        return HEARTH_OK;
    /* an output exists only once the job is done */
    if (!n->final)
        FAIL("invalid: output_sha256 on a note that is not final");
    if (hex32(ps->one[N_OUT]->v[1], n->output_sha256))
        FAIL("invalid: output_sha256 is not 64 lowercase hex");
    n->has_output = 1;
    return HEARTH_OK;
}

static int note_money(struct note_parse *ps, const char **why)
{
    hearth_meter_note *n = ps->n;
    if (!ps->price_seen)
        FAIL("invalid: note has no price");
    if (!ps->one[N_AMOUNT])
        FAIL("invalid: missing amount tag");
    if (dec(ps->one[N_AMOUNT]->v[1], HEARTH_MSAT_MAX, &n->amount_msat))
        FAIL("invalid: amount is not a decimal number of msat up to 21M BTC");
    if (ps->one[N_QUOTE]) {
        if (dec(ps->one[N_QUOTE]->v[1], HEARTH_MSAT_MAX, &n->quote_msat))
            FAIL("invalid: quote is not a decimal number of msat up to "
                 "21M BTC");
        n->has_quote = 1;
    }
    if (!ps->one[N_RAIL])
        FAIL("invalid: missing rail tag");
    if (rail_of(ps->one[N_RAIL]->v[1], &n->rail))
        FAIL("invalid: unknown rail");
    return HEARTH_OK;
}

static int note_refs(struct note_parse *ps, const hearth_event *ev,
                     const char **why)
{
    hearth_meter_note *n = ps->n;
    if (ps->one[N_BOLT11]) {
        hearth_str b = ps->one[N_BOLT11]->v[1];
        if (n->rail != HEARTH_RAIL_LIGHTNING)
            FAIL("invalid: bolt11 tag without the lightning rail");
        if (!bolt11_ok(b.p, b.n))
            FAIL("invalid: malformed bolt11 invoice");
        memcpy(n->bolt11, b.p, b.n);
        n->bolt11[b.n] = '\0';
    }
    if (ps->one[N_OFFER]) {
        hearth_str a = ps->one[N_OFFER]->v[1];
        /* an unsigned note (being built) has no provider to compare */
        const uint8_t *pk =
            (ev->has & HEARTH_EV_HAS_PUBKEY) ? ev->pubkey : NULL;
        if (!offer_addr_ok(a.p, a.n, pk))
            FAIL("invalid: offer tag is not the provider's 31907 address");
        memcpy(n->offer, a.p, a.n);
        n->offer[a.n] = '\0';
    }
    return HEARTH_OK;
}

int hearth_meter_note_from_event(const hearth_event *ev, int64_t now,
                                 hearth_meter_note *out, const char **why)
{
    const char *dummy;
    struct note_parse ps;
    if (!why)
        why = &dummy;
    *why = "";
    memset(out, 0, sizeof *out);
    memset(&ps, 0, sizeof ps);
    ps.n = out;
    if (ev->kind != HEARTH_KIND_METERING_NOTE)
        FAIL("invalid: not a metering note (kind 7441)");
    if (ev->content.n)
        FAIL("invalid: metering note content must be empty");
    memcpy(out->id, ev->id, 32);
    memcpy(out->provider, ev->pubkey, 32);
    out->created_at = ev->created_at;
    int rc = check_time(ev, now, why);
    if (!rc)
        rc = note_walk(&ps, ev, why);
    if (!rc)
        rc = check_version(ps.one[N_V], why);
    if (!rc)
        rc = note_identity(&ps, why);
    if (!rc)
        rc = note_hashes(&ps, why);
    if (!rc)
        rc = note_money(&ps, why);
    if (!rc)
        rc = note_refs(&ps, ev, why);
    return rc;
}

/* ---- building (shared) ---- */

static int tag_u64(hearth_event *ev, const char *name, const char *sub,
                   uint64_t v)
{
    char num[24];
    snprintf(num, sizeof num, "%llu", (unsigned long long)v);
    return sub ? hearth_event_add_tagv(ev, name, sub, num, NULL)
               : hearth_event_add_tagv(ev, name, num, NULL);
}

static int tag_hex(hearth_event *ev, const char *name, const uint8_t b[32])
{
    char hex[65];
    hearth_hex_encode(b, 32, hex);
    return hearth_event_add_tagv(ev, name, hex, NULL);
}

/* A failure while adding tags is either bad UTF-8 or memory. */
static int build_reason(int rc, const char **why)
{
    if (rc == HEARTH_EINVAL)
        *why = "invalid: field is not valid UTF-8";
    else if (rc)
        *why = "error: out of memory";
    return rc;
}

/* hand the event over only if it was built and parsed back */
static int finish(hearth_event *ev, int rc, hearth_event **out)
{
    if (rc) {
        hearth_event_free(ev);
        return rc;
    }
    *out = ev;
    return HEARTH_OK;
}

/* ---- metering note: building ---- */

static int note_add_identity(hearth_event *ev, const hearth_meter_note *n)
{
    int rc = tag_hex(ev, "e", n->request_id);
    if (!rc)
        rc = tag_hex(ev, "p", n->customer);
    if (!rc)
        rc = tag_u64(ev, "v", NULL, HEARTH_PROTOCOL_VERSION);
    if (!rc)
        rc = tag_u64(ev, "seq", NULL, n->seq);
    if (!rc)
        rc = hearth_event_add_tagv(ev, "final", n->final ? "1" : "0", NULL);
    return rc;
}

/* Every usage unit is written, zeros included, so an auditor sees the
 * whole vector; zero prices are left out as in offers, but a free job
 * still says so with one zero job price (a note needs a price). */
static int note_add_vectors(hearth_event *ev, const hearth_meter_note *n)
{
    int rc = HEARTH_OK, any = 0;
    for (size_t k = 0; k < NUSAGE && !rc; k++)
        rc = tag_u64(ev, "usage", usage_units[k].name,
                     field(&n->usage, usage_units[k].off));
    for (size_t k = 0; k < NPRICE && !rc; k++) {
        uint64_t v = field(&n->price, price_units[k].off);
        if (v) {
            rc = tag_u64(ev, "price", price_units[k].name, v);
            any = 1;
        }
    }
    if (!rc && !any)
        rc = tag_u64(ev, "price", "job", 0);
    return rc;
}

static int note_add_rest(hearth_event *ev, const hearth_meter_note *n)
{
    int rc = tag_u64(ev, "amount", NULL, n->amount_msat);
    if (!rc)
        rc = tag_hex(ev, "input_sha256", n->input_sha256);
    if (!rc && n->has_output)
        rc = tag_hex(ev, "output_sha256", n->output_sha256);
    if (!rc)
        rc = hearth_event_add_tagv(ev, "rail", rail_name(n->rail), NULL);
    if (!rc && n->has_quote)
        rc = tag_u64(ev, "quote", NULL, n->quote_msat);
    if (!rc && n->bolt11[0])
        rc = hearth_event_add_tagv(ev, "bolt11", n->bolt11, NULL);
    if (!rc && n->offer[0])
        rc = hearth_event_add_tagv(ev, "offer", n->offer, NULL);
    return rc;
}

int hearth_meter_note_to_event(const hearth_meter_note *n, int64_t now,
                               hearth_event **out, const char **why)
{
    const char *dummy;
    hearth_event *ev = NULL;
    hearth_meter_note back;
    if (!why)
        why = &dummy;
    *out = NULL;
    if (!memchr(n->bolt11, 0, sizeof n->bolt11) ||
        !memchr(n->offer, 0, sizeof n->offer))
        FAIL("invalid: note field not NUL-terminated or over its bound");
    if (n->rail != HEARTH_RAIL_CREDIT && n->rail != HEARTH_RAIL_LIGHTNING)
        FAIL("invalid: unknown rail");
    int rc = hearth_event_new(HEARTH_KIND_METERING_NOTE, now, "", 0, &ev);
    if (!rc)
        rc = note_add_identity(ev, n);
    if (!rc)
        rc = note_add_vectors(ev, n);
    if (!rc)
        rc = note_add_rest(ev, n);
    rc = build_reason(rc, why);
    if (!rc)
        rc = hearth_meter_note_from_event(ev, now, &back, why);
    return finish(ev, rc, out);
}

/* ---- the cumulative rule ---- */

static int same_job(const hearth_meter_note *a, const hearth_meter_note *b)
{
    return !memcmp(a->provider, b->provider, 32) &&
           !memcmp(a->customer, b->customer, 32) &&
           !memcmp(a->request_id, b->request_id, 32);
}

int hearth_meter_note_supersedes(const hearth_meter_note *a,
                                 const hearth_meter_note *b)
{
    return same_job(a, b) && a->seq > b->seq;
}

int hearth_meter_note_follows(const hearth_meter_note *later,
                              const hearth_meter_note *earlier,
                              const char **why)
{
    const char *dummy;
    if (!why)
        why = &dummy;
    *why = "";
    if (!same_job(later, earlier))
        FAIL("invalid: notes are for different jobs");
    if (later->seq <= earlier->seq)
        FAIL("invalid: seq does not increase");
    if (earlier->final)
        FAIL("invalid: note follows a final note");
    /* the terms are fixed when the job starts: changing them mid-job is
     * how a provider would overcharge without touching the usage */
    if (memcmp(&later->price, &earlier->price, sizeof later->price))
        FAIL("invalid: price vector changed within a job");
    if (later->has_quote != earlier->has_quote ||
        later->quote_msat != earlier->quote_msat)
        FAIL("invalid: quote changed within a job");
    if (memcmp(later->input_sha256, earlier->input_sha256, 32))
        FAIL("invalid: input hash changed within a job");
    for (size_t k = 0; k < NUSAGE; k++)
        if (field(&later->usage, usage_units[k].off) <
            field(&earlier->usage, usage_units[k].off))
            FAIL("invalid: usage decreased (notes are cumulative)");
    if (later->amount_msat < earlier->amount_msat)
        FAIL("invalid: amount decreased (notes are cumulative)");
    return HEARTH_OK;
}

/* ---- the customer's checks ---- */

static int dispute(hearth_dispute *reason, hearth_dispute d)
{
    *reason = d;
    return HEARTH_EINVAL;
}

int hearth_meter_check_note(const hearth_meter_note *n, uint64_t quote_msat,
                            const hearth_price *price,
                            const hearth_usage *max_usage,
                            hearth_dispute *reason, const char **why)
{
    const char *dummy;
    hearth_dispute r;
    if (!why)
        why = &dummy;
    if (!reason)
        reason = &r;
    *reason = HEARTH_DISPUTE_NONE;
    *why = "";
    for (size_t k = 0; k < NPRICE; k++)
        if (field(&n->price, price_units[k].off) >
            field(price, price_units[k].off)) {
            *why = "invalid: note's price vector is above the offer's";
            return dispute(reason, HEARTH_DISPUTE_OVERCHARGED);
        }
    for (size_t k = 0; max_usage && k < NUSAGE; k++)
        if (field(&n->usage, usage_units[k].off) >
            field(max_usage, usage_units[k].off)) {
            *why = "invalid: usage is implausible for this job";
            return dispute(reason, HEARTH_DISPUTE_OVERCHARGED);
        }
    if (n->amount_msat > hearth_offer_price(price, &n->usage)) {
        *why = "invalid: amount is above the offer's price for the usage";
        return dispute(reason, HEARTH_DISPUTE_OVERCHARGED);
    }
    if (n->amount_msat > quote_msat) {
        *why = "invalid: amount is above the quote";
        return dispute(reason, HEARTH_DISPUTE_OVERCHARGED);
    }
    return HEARTH_OK;
}

int hearth_meter_check_output(const hearth_meter_note *n,
                              const uint8_t *got_sha256,
                              hearth_dispute *reason, const char **why)
{
    const char *dummy;
    hearth_dispute r;
    if (!why)
        why = &dummy;
    if (!reason)
        reason = &r;
    *reason = HEARTH_DISPUTE_NONE;
    *why = "";
    if (!n->final)
        return HEARTH_OK;
    if (!got_sha256 || (!n->has_output && n->amount_msat > 0)) {
        *why = "invalid: no result was delivered";
        return dispute(reason, HEARTH_DISPUTE_NOT_DELIVERED);
    }
    if (n->has_output && memcmp(n->output_sha256, got_sha256, 32)) {
        *why = "invalid: result differs from the one the note names";
        return dispute(reason, HEARTH_DISPUTE_WRONG_RESULT);
    }
    return HEARTH_OK;
}

/* ---- receipts ---- */

static const char *const dispute_names[] = {
    "", "wrong_result", "not_delivered", "overcharged", "too_slow"};
#define NDISPUTES (sizeof dispute_names / sizeof dispute_names[0])

const char *hearth_dispute_name(hearth_dispute d)
{
    return (unsigned)d < NDISPUTES ? dispute_names[d] : "unknown";
}

static int dispute_of(hearth_str s, hearth_dispute *out)
{
    for (unsigned i = 1; i < NDISPUTES; i++)
        if (str_is(s, dispute_names[i])) {
            *out = (hearth_dispute)i;
            return HEARTH_OK;
        }
    return HEARTH_EINVAL;
}

int hearth_dispute_parse(const char *name, hearth_dispute *out)
{
    hearth_str s = {name, strlen(name)};
    return dispute_of(s, out);
}

void hearth_receipt_for(const hearth_meter_note *n, hearth_dispute reason,
                        hearth_receipt *out)
{
    memset(out, 0, sizeof *out);
    memcpy(out->note_id, n->id, 32);
    memcpy(out->request_id, n->request_id, 32);
    memcpy(out->provider, n->provider, 32);
    memcpy(out->customer, n->customer, 32);
    out->rail = n->rail;
    out->reason = reason;
    if (reason == HEARTH_DISPUTE_NONE) {
        out->status = HEARTH_RECEIPT_ACCEPT;
        out->amount_msat = n->amount_msat;
    } else {
        out->status = HEARTH_RECEIPT_DISPUTE;
    }
}

int hearth_receipt_matches(const hearth_receipt *r,
                           const hearth_meter_note *n)
{
    static const uint8_t zero[32];
    if (memcmp(r->note_id, n->id, 32) ||
        memcmp(r->request_id, n->request_id, 32) ||
        memcmp(r->provider, n->provider, 32) || r->rail != n->rail)
        return 0;
    /* a receipt being built has no signer yet */
    if (memcmp(r->customer, zero, 32) && memcmp(r->customer, n->customer, 32))
        return 0;
    if (r->status == HEARTH_RECEIPT_ACCEPT)
        return r->amount_msat == n->amount_msat;
    return r->amount_msat <= n->amount_msat;
}

enum {
    R_E, R_REQUEST, R_P, R_V, R_STATUS, R_REASON, R_AMOUNT, R_RAIL,
    R_PREIMAGE, R_PAID, R_NSINGLE
};

static const struct single receipt_singles[R_NSINGLE] = {
    {"e", "invalid: duplicate e tag", "invalid: e tag has no value"},
    {"request", "invalid: duplicate request tag",
     "invalid: request tag has no value"},
    {"p", "invalid: duplicate p tag", "invalid: p tag has no value"},
    {"v", "invalid: duplicate v tag", "invalid: v tag has no value"},
    {"status", "invalid: duplicate status tag",
     "invalid: status tag has no value"},
    {"reason", "invalid: duplicate reason tag",
     "invalid: reason tag has no value"},
    {"amount", "invalid: duplicate amount tag",
     "invalid: amount tag has no value"},
    {"rail", "invalid: duplicate rail tag", "invalid: rail tag has no value"},
    {"preimage", "invalid: duplicate preimage tag",
     "invalid: preimage tag has no value"},
    {"paid", "invalid: duplicate paid tag", "invalid: paid tag has no value"},
};

static int receipt_identity(const hearth_tag **one, hearth_receipt *r,
                            const char **why)
{
    if (!one[R_E])
        FAIL("invalid: missing e tag (metering note)");
    if (hex32(one[R_E]->v[1], r->note_id))
        FAIL("invalid: e tag is not a 32-byte hex event id");
    if (!one[R_REQUEST])
        FAIL("invalid: missing request tag");
    if (hex32(one[R_REQUEST]->v[1], r->request_id))
        FAIL("invalid: request tag is not a 32-byte hex event id");
    if (!one[R_P])
        FAIL("invalid: missing p tag (provider)");
    if (hex32(one[R_P]->v[1], r->provider))
        FAIL("invalid: p tag is not a 32-byte hex public key");
    return HEARTH_OK;
}

static int receipt_verdict(const hearth_tag **one, const hearth_event *ev,
                           hearth_receipt *r, const char **why)
{
    if (!one[R_STATUS])
        FAIL("invalid: missing status tag");
    if (str_is(one[R_STATUS]->v[1], "accept"))
        r->status = HEARTH_RECEIPT_ACCEPT;
    else if (str_is(one[R_STATUS]->v[1], "dispute"))
        r->status = HEARTH_RECEIPT_DISPUTE;
    else
        FAIL("invalid: status is not accept or dispute");
    if (r->status == HEARTH_RECEIPT_ACCEPT) {
        if (one[R_REASON])
            FAIL("invalid: reason tag on an accepting receipt");
        if (ev->content.n)
            FAIL("invalid: accepting receipt content must be empty");
        return HEARTH_OK;
    }
    if (!one[R_REASON])
        FAIL("invalid: dispute without a reason tag");
    if (dispute_of(one[R_REASON]->v[1], &r->reason))
        FAIL("invalid: unknown dispute reason");
    if (!text_ok(ev->content.p, ev->content.n))
        FAIL("invalid: dispute text over 280 bytes or not plain UTF-8");
    memcpy(r->text, ev->content.p, ev->content.n);
    r->text[ev->content.n] = '\0';
    return HEARTH_OK;
}

static int receipt_money(const hearth_tag **one, hearth_receipt *r,
                         const char **why)
{
    if (!one[R_AMOUNT])
        FAIL("invalid: missing amount tag");
    if (dec(one[R_AMOUNT]->v[1], HEARTH_MSAT_MAX, &r->amount_msat))
        FAIL("invalid: amount is not a decimal number of msat up to 21M BTC");
    if (!one[R_RAIL])
        FAIL("invalid: missing rail tag");
    if (rail_of(one[R_RAIL]->v[1], &r->rail))
        FAIL("invalid: unknown rail");
    if (one[R_PREIMAGE]) {
        if (r->rail != HEARTH_RAIL_LIGHTNING)
            FAIL("invalid: preimage without the lightning rail");
        if (hex32(one[R_PREIMAGE]->v[1], r->preimage))
            FAIL("invalid: preimage is not 64 lowercase hex");
        r->has_preimage = 1;
    }
    if (one[R_PAID]) {
        /* a payment claim is worth only what its proof is worth */
        if (!r->has_preimage)
            FAIL("invalid: paid tag without a preimage");
        if (dec(one[R_PAID]->v[1], HEARTH_MSAT_MAX, &r->paid_msat))
            FAIL("invalid: paid is not a decimal number of msat up to "
                 "21M BTC");
        r->has_paid = 1;
    }
    return HEARTH_OK;
}

int hearth_receipt_from_event(const hearth_event *ev, int64_t now,
                              hearth_receipt *out, const char **why)
{
    const char *dummy;
    const hearth_tag *one[R_NSINGLE] = {0};
    int rc = HEARTH_OK, matched;
    if (!why)
        why = &dummy;
    *why = "";
    memset(out, 0, sizeof *out);
    if (ev->kind != HEARTH_KIND_RECEIPT)
        FAIL("invalid: not a receipt (kind 7442)");
    memcpy(out->id, ev->id, 32);
    memcpy(out->customer, ev->pubkey, 32);
    out->created_at = ev->created_at;
    rc = check_time(ev, now, why);
    for (size_t i = 0; i < ev->ntags && !rc; i++)
        if (ev->tags[i].n >= 1)
            rc = collect(&ev->tags[i], receipt_singles, R_NSINGLE, one,
                         &matched, why);
    if (!rc)
        rc = check_version(one[R_V], why);
    if (!rc)
        rc = receipt_identity(one, out, why);
    if (!rc)
        rc = receipt_verdict(one, ev, out, why);
    if (!rc)
        rc = receipt_money(one, out, why);
    return rc;
}

static int receipt_add_tags(hearth_event *ev, const hearth_receipt *r)
{
    int rc = tag_hex(ev, "e", r->note_id);
    if (!rc)
        rc = tag_hex(ev, "request", r->request_id);
    if (!rc)
        rc = tag_hex(ev, "p", r->provider);
    if (!rc)
        rc = tag_u64(ev, "v", NULL, HEARTH_PROTOCOL_VERSION);
    if (!rc)
        rc = hearth_event_add_tagv(
            ev, "status",
            r->status == HEARTH_RECEIPT_ACCEPT ? "accept" : "dispute", NULL);
    if (!rc && r->status == HEARTH_RECEIPT_DISPUTE)
        rc = hearth_event_add_tagv(ev, "reason",
                                   hearth_dispute_name(r->reason), NULL);
    if (!rc)
        rc = tag_u64(ev, "amount", NULL, r->amount_msat);
    if (!rc)
        rc = hearth_event_add_tagv(ev, "rail", rail_name(r->rail), NULL);
    if (!rc && r->has_preimage)
        rc = tag_hex(ev, "preimage", r->preimage);
    if (!rc && r->has_paid)
        rc = tag_u64(ev, "paid", NULL, r->paid_msat);
    return rc;
}

static int receipt_shape(const hearth_receipt *r, const char **why)
{
    if (!memchr(r->text, 0, sizeof r->text))
        FAIL("invalid: dispute text not NUL-terminated or over its bound");
    if (r->rail != HEARTH_RAIL_CREDIT && r->rail != HEARTH_RAIL_LIGHTNING)
        FAIL("invalid: unknown rail");
    if (r->status == HEARTH_RECEIPT_ACCEPT &&
        (r->reason != HEARTH_DISPUTE_NONE || r->text[0]))
        FAIL("invalid: accepting receipt with a reason or text");
    if (r->status == HEARTH_RECEIPT_DISPUTE &&
        (r->reason == HEARTH_DISPUTE_NONE || (unsigned)r->reason >= NDISPUTES))
        FAIL("invalid: unknown dispute reason");
    if (r->status != HEARTH_RECEIPT_ACCEPT &&
        r->status != HEARTH_RECEIPT_DISPUTE)
        FAIL("invalid: status is not accept or dispute");
    return HEARTH_OK;
}

int hearth_receipt_to_event(const hearth_receipt *r, int64_t now,
                            hearth_event **out, const char **why)
{
    const char *dummy;
    hearth_event *ev = NULL;
    hearth_receipt back;
    if (!why)
        why = &dummy;
    *out = NULL;
    int rc = receipt_shape(r, why);
    if (rc)
        return rc;
    const char *text = r->status == HEARTH_RECEIPT_DISPUTE ? r->text : "";
    rc = hearth_event_new(HEARTH_KIND_RECEIPT, now, text, strlen(text), &ev);
    if (!rc)
        rc = receipt_add_tags(ev, r);
    rc = build_reason(rc, why);
    if (!rc)
        rc = hearth_receipt_from_event(ev, now, &back, why);
    return finish(ev, rc, out);
}
