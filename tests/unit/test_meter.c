/* Settlement events: metering notes and receipts built, signed, sent
 * through JSON and parsed back; every rejection of both parsers with its
 * reason; the cumulative rule; the customer's overcharge and delivery
 * checks; receipts built for notes. */
#include "hearth/error.h"
#include "hearth/event.h"
#include "hearth/hex.h"
#include "hearth/keys.h"
#include "hearth/kinds.h"
#include "hearth/meter.h"
#include "nostr/crypto.h"
#include "tap.h"

#include <stdint.h>

#define NOW 1700000000LL

static uint8_t psk[32], ppk[32]; /* provider */
static uint8_t csk[32], cpk[32]; /* customer */

static void note_fixture(hearth_meter_note *n)
{
    memset(n, 0, sizeof *n);
    memset(n->request_id, 0xab, 32);
    memcpy(n->customer, cpk, 32);
    n->seq = 1;
    n->usage.jobs = 1;
    n->usage.tokens_in = 1200;
    n->usage.tokens_out = 800;
    n->usage.gpu_ms = 2500;
    n->price.per_job = 10;
    n->price.per_mtok_in = 1000;
    n->price.per_mtok_out = 3000;
    n->amount_msat = hearth_offer_price(&n->price, &n->usage);
    hearth_sha256("prompt", 6, n->input_sha256);
    n->rail = HEARTH_RAIL_LIGHTNING;
    n->has_quote = 1;
    n->quote_msat = 100;
    snprintf(n->bolt11, sizeof n->bolt11, "lnbc150n1pjexample0qqq");
    char pkhex[65];
    hearth_hex_encode(ppk, 32, pkhex);
    snprintf(n->offer, sizeof n->offer, "31907:%s:5100:openai", pkhex);
}

static hearth_event *signed_note(const hearth_meter_note *n)
{
    hearth_event *ev = NULL;
    const char *why = "";
    CHECKF(hearth_meter_note_to_event(n, NOW, &ev, &why) == HEARTH_OK && ev,
           "%s", why);
    if (ev)
        CHECK(hearth_event_sign(ev, psk) == HEARTH_OK);
    return ev;
}

/* through JSON, as a relay hands it over; verified */
static hearth_event *via_json(const hearth_event *ev)
{
    hearth_buf js = HEARTH_BUF_INIT;
    hearth_event *back = NULL;
    CHECK(hearth_event_to_json(ev, &js) == HEARTH_OK);
    CHECK(hearth_event_parse(js.p, js.len, 0, &back, NULL) == HEARTH_OK);
    if (back)
        CHECK(hearth_event_verify(back, NULL) == HEARTH_OK);
    hearth_buf_free(&js);
    return back;
}

static void same_note(const hearth_meter_note *a, const hearth_meter_note *b)
{
    CHECK(!memcmp(a->request_id, b->request_id, 32));
    CHECK(!memcmp(a->customer, b->customer, 32));
    CHECK(a->seq == b->seq && a->final == b->final);
    CHECK(!memcmp(&a->usage, &b->usage, sizeof a->usage));
    CHECK(!memcmp(&a->price, &b->price, sizeof a->price));
    CHECK(a->amount_msat == b->amount_msat);
    CHECK(!memcmp(a->input_sha256, b->input_sha256, 32));
    CHECK(a->has_output == b->has_output);
    CHECK(!a->has_output || !memcmp(a->output_sha256, b->output_sha256, 32));
    CHECK(a->rail == b->rail);
    CHECK(a->has_quote == b->has_quote && a->quote_msat == b->quote_msat);
    CHECK(!strcmp(a->bolt11, b->bolt11) && !strcmp(a->offer, b->offer));
}

static void test_note_round_trip(void)
{
    hearth_meter_note n, back;
    const char *why = "x";
    note_fixture(&n);
    hearth_event *ev = signed_note(&n);
    if (!ev)
        return;
    CHECK(ev->kind == HEARTH_KIND_METERING_NOTE && ev->content.n == 0);
    const hearth_tag *e = hearth_event_find_tag(ev, "e");
    CHECK(e && e->n == 2 && e->v[1].n == 64);
    hearth_event *ev2 = via_json(ev);
    if (ev2) {
        CHECKF(hearth_meter_note_from_event(ev2, NOW, &back, &why) == 0,
               "%s", why);
        CHECK(*why == '\0');
        same_note(&n, &back);
        CHECK(!memcmp(back.id, ev->id, 32));
        CHECK(!memcmp(back.provider, ppk, 32));
        CHECK(back.created_at == NOW);
    }
    hearth_event_free(ev2);
    hearth_event_free(ev);

    /* final, with output, on credit, no quote, no bolt11, no offer; free */
    note_fixture(&n);
    n.final = 1;
    n.seq = 7;
    n.has_output = 1;
    hearth_sha256("answer", 6, n.output_sha256);
    n.rail = HEARTH_RAIL_CREDIT;
    n.has_quote = 0;
    n.quote_msat = 0;
    n.bolt11[0] = n.offer[0] = '\0';
    memset(&n.price, 0, sizeof n.price);
    n.amount_msat = 0;
    ev = signed_note(&n);
    if (ev) {
        const hearth_tag *p = hearth_event_find_tag(ev, "price");
        CHECK(p && p->n == 3 && !strcmp(p->v[1].p, "job") &&
              !strcmp(p->v[2].p, "0"));
        CHECK(hearth_meter_note_from_event(ev, NOW, &back, &why) == 0);
        same_note(&n, &back);
    }
    hearth_event_free(ev);

    /* the builder refuses what the parser would */
    note_fixture(&n);
    n.seq = 0;
    CHECK(hearth_meter_note_to_event(&n, NOW, &ev, &why) == HEARTH_EINVAL);
    CHECK(ev == NULL);
    CHECK(!strcmp(why, "invalid: seq is not a decimal number from 1 to "
                       "2^32-1"));
    note_fixture(&n);
    n.rail = HEARTH_RAIL_CREDIT; /* bolt11 stays */
    CHECK(hearth_meter_note_to_event(&n, NOW, &ev, &why) == HEARTH_EINVAL);
    CHECK(!strcmp(why, "invalid: bolt11 tag without the lightning rail"));
    note_fixture(&n);
    n.has_output = 1;
    CHECK(hearth_meter_note_to_event(&n, NOW, &ev, &why) == HEARTH_EINVAL);
    CHECK(!strcmp(why, "invalid: output_sha256 on a note that is not final"));
    note_fixture(&n);
    n.amount_msat = HEARTH_MSAT_MAX + 1;
    CHECK(hearth_meter_note_to_event(&n, NOW, &ev, &why) == HEARTH_EINVAL);
    note_fixture(&n);
    n.rail = 3;
    CHECK(hearth_meter_note_to_event(&n, NOW, &ev, &why) == HEARTH_EINVAL);
    CHECK(!strcmp(why, "invalid: unknown rail"));
    note_fixture(&n);
    memset(n.bolt11, 'a', sizeof n.bolt11);
    CHECK(hearth_meter_note_to_event(&n, NOW, &ev, &why) == HEARTH_EINVAL);
    /* bounds: the largest values that fit */
    note_fixture(&n);
    n.seq = UINT32_MAX;
    n.usage.hashes = UINT64_MAX;
    n.amount_msat = HEARTH_MSAT_MAX;
    n.has_quote = 1;
    n.quote_msat = HEARTH_MSAT_MAX;
    ev = signed_note(&n);
    if (ev)
        CHECK(hearth_meter_note_from_event(ev, NOW, &back, &why) == 0 &&
              back.usage.hashes == UINT64_MAX && back.seq == UINT32_MAX);
    hearth_event_free(ev);
}

/* A copy of src whose tags named drop (NULL: none) are left out and which
 * gets one extra tag of n values (n 0: none) appended, with the provider's
 * pubkey set but no signature: the parsers do not verify signatures. */
static hearth_event *mutate(const hearth_event *src, const char *drop,
                            const char *const *vals, size_t n,
                            const char *content)
{
    hearth_event *ev = NULL;
    const char *c = content ? content : src->content.p;
    size_t cn = content ? strlen(content) : src->content.n;
    if (hearth_event_new(src->kind, src->created_at, c, cn, &ev))
        return NULL;
    for (size_t i = 0; i < src->ntags; i++) {
        const hearth_tag *t = &src->tags[i];
        const char *v[8];
        size_t l[8];
        if (drop && t->n && !strcmp(t->v[0].p, drop))
            continue;
        for (size_t j = 0; j < t->n && j < 8; j++) {
            v[j] = t->v[j].p;
            l[j] = t->v[j].n;
        }
        hearth_event_add_tag(ev, t->n, v, l);
    }
    if (n)
        hearth_event_add_tag(ev, n, vals, NULL);
    memcpy(ev->pubkey, src->pubkey, 32);
    ev->has |= HEARTH_EV_HAS_PUBKEY;
    return ev;
}

struct bad {
    const char *drop;
    const char *tag[4];
    const char *why;
};

#define H64A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define H64U "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

static const struct bad bad_notes[] = {
    {"e", {NULL}, "invalid: missing e tag (job request)"},
    {NULL, {"e", H64A}, "invalid: duplicate e tag"},
    {"e", {"e"}, "invalid: e tag has no value"},
    {"e", {"e", "abcd"}, "invalid: e tag is not a 32-byte hex event id"},
    {"e", {"e", H64U}, "invalid: e tag is not a 32-byte hex event id"},
    {"p", {NULL}, "invalid: missing p tag (customer)"},
    {NULL, {"p", H64A}, "invalid: duplicate p tag"},
    {"p", {"p", "xyz"}, "invalid: p tag is not a 32-byte hex public key"},
    {"v", {NULL}, "invalid: missing v tag (protocol version)"},
    {"v", {"v", "2"}, "invalid: unsupported settlement version"},
    {"v", {"v", "01"}, "invalid: unsupported settlement version"},
    {NULL, {"v", "1"}, "invalid: duplicate v tag"},
    {"seq", {NULL}, "invalid: missing seq tag"},
    {"seq", {"seq", "0"},
     "invalid: seq is not a decimal number from 1 to 2^32-1"},
    {"seq", {"seq", "4294967296"},
     "invalid: seq is not a decimal number from 1 to 2^32-1"},
    {"seq", {"seq", "-1"},
     "invalid: seq is not a decimal number from 1 to 2^32-1"},
    {"seq", {"seq", "01"},
     "invalid: seq is not a decimal number from 1 to 2^32-1"},
    {NULL, {"seq", "2"}, "invalid: duplicate seq tag"},
    {"final", {NULL}, "invalid: missing final tag"},
    {"final", {"final", "yes"}, "invalid: final is not 0 or 1"},
    {"final", {"final"}, "invalid: final tag has no value"},
    {"usage", {"usage", "jobs", "1"}, NULL}, /* alone is fine */
    {NULL, {"usage", "jobs", "1"}, "invalid: duplicate usage unit"},
    {NULL, {"usage", "watts", "1"}, "invalid: unknown usage unit"},
    {NULL, {"usage", "jobs"}, "invalid: usage tag needs a unit and a count"},
    {"usage", {"usage", "jobs", "1.5"}, "invalid: usage is not a decimal count"},
    {"usage", {"usage", "jobs", "18446744073709551616"},
     "invalid: usage is not a decimal count"},
    {"price", {NULL}, "invalid: note has no price"},
    {NULL, {"price", "job", "10"}, "invalid: duplicate price unit"},
    {NULL, {"price", "kwh", "10"}, "invalid: unknown price unit"},
    {NULL, {"price", "gpu_s"}, "invalid: price tag needs a unit and an amount"},
    {NULL, {"price", "gpu_s", "x"},
     "invalid: price is not a decimal number of msat"},
    {"amount", {NULL}, "invalid: missing amount tag"},
    {NULL, {"amount", "1"}, "invalid: duplicate amount tag"},
    {"amount", {"amount", "2100000000000000001"},
     "invalid: amount is not a decimal number of msat up to 21M BTC"},
    {"amount", {"amount", ""},
     "invalid: amount is not a decimal number of msat up to 21M BTC"},
    {"input_sha256", {NULL}, "invalid: missing input_sha256 tag"},
    {"input_sha256", {"input_sha256", "00"},
     "invalid: input_sha256 is not 64 lowercase hex"},
    {NULL, {"output_sha256", H64A},
     "invalid: output_sha256 on a note that is not final"},
    {"rail", {NULL}, "invalid: missing rail tag"},
    {"rail", {"rail", "cash"}, "invalid: unknown rail"},
    {NULL, {"rail", "credit"}, "invalid: duplicate rail tag"},
    {"quote", {"quote", "1e3"},
     "invalid: quote is not a decimal number of msat up to 21M BTC"},
    {NULL, {"quote", "5"}, "invalid: duplicate quote tag"},
    {"bolt11", {"bolt11", "LNBC1000N1P"}, "invalid: malformed bolt11 invoice"},
    {"bolt11", {"bolt11", "lnbc1"}, "invalid: malformed bolt11 invoice"},
    {"bolt11", {"bolt11", "lnbc1 000n1p"}, "invalid: malformed bolt11 invoice"},
    {NULL, {"bolt11", "lnbc1000n1p"}, "invalid: duplicate bolt11 tag"},
    {"offer", {"offer", "31907:" H64A ":5100:openai"},
     "invalid: offer tag is not the provider's 31907 address"},
    {"offer", {"offer", "30023:" H64A ":x"},
     "invalid: offer tag is not the provider's 31907 address"},
    {"offer", {"offer", "31907:"},
     "invalid: offer tag is not the provider's 31907 address"},
    {NULL, {"offer", "x"}, "invalid: duplicate offer tag"},
    {NULL, {"future", "tag"}, NULL}, /* unknown tags are skipped */
};

static void test_note_rejections(void)
{
    hearth_meter_note n, back;
    const char *why;
    note_fixture(&n);
    hearth_event *good = signed_note(&n);
    if (!good)
        return;
    for (size_t i = 0; i < sizeof bad_notes / sizeof bad_notes[0]; i++) {
        const struct bad *b = &bad_notes[i];
        size_t nv = 0;
        while (nv < 4 && b->tag[nv])
            nv++;
        hearth_event *ev = mutate(good, b->drop, b->tag, nv, NULL);
        CHECK(ev != NULL);
        if (!ev)
            continue;
        why = "";
        int rc = hearth_meter_note_from_event(ev, NOW, &back, &why);
        if (b->why)
            CHECKF(rc == HEARTH_EINVAL && !strcmp(why, b->why),
                   "case %zu: got \"%s\"", i, why);
        else
            CHECKF(rc == HEARTH_OK, "case %zu: %s", i, why);
        hearth_event_free(ev);
    }
    /* content must be empty; wrong kind; from the future */
    hearth_event *ev = mutate(good, NULL, NULL, 0, "the answer is 42");
    CHECK(hearth_meter_note_from_event(ev, NOW, &back, &why) == HEARTH_EINVAL);
    CHECK(!strcmp(why, "invalid: metering note content must be empty"));
    hearth_event_free(ev);
    ev = mutate(good, NULL, NULL, 0, NULL);
    ev->kind = HEARTH_KIND_RECEIPT;
    CHECK(hearth_meter_note_from_event(ev, NOW, &back, &why) == HEARTH_EINVAL);
    CHECK(!strcmp(why, "invalid: not a metering note (kind 7441)"));
    hearth_event_free(ev);
    CHECK(hearth_meter_note_from_event(good, NOW - 901, &back, &why) ==
          HEARTH_EINVAL);
    CHECK(!strcmp(why, "invalid: created_at is too far in the future"));
    CHECK(hearth_meter_note_from_event(good, NOW - 900, &back, NULL) == 0);
    /* an output hash on a final note is fine */
    const char *fin[] = {"final", "1"};
    hearth_event *f = mutate(good, "final", fin, 2, NULL);
    const char *out[] = {"output_sha256", H64A};
    ev = mutate(f, NULL, out, 2, NULL);
    CHECK(hearth_meter_note_from_event(ev, NOW, &back, &why) == 0 &&
          back.final && back.has_output && back.output_sha256[0] == 0xaa);
    hearth_event_free(ev);
    const char *bad_out[] = {"output_sha256", "zz"};
    ev = mutate(f, NULL, bad_out, 2, NULL);
    CHECK(hearth_meter_note_from_event(ev, NOW, &back, &why) == HEARTH_EINVAL);
    CHECK(!strcmp(why, "invalid: output_sha256 is not 64 lowercase hex"));
    hearth_event_free(ev);
    hearth_event_free(f);
    /* the offer address must name the provider that signed the note */
    const char *lightning[] = {"rail", "credit"};
    ev = mutate(good, "bolt11", NULL, 0, NULL);
    f = mutate(ev, "rail", lightning, 2, NULL);
    CHECK(hearth_meter_note_from_event(f, NOW, &back, &why) == 0 &&
          back.rail == HEARTH_RAIL_CREDIT && !back.bolt11[0]);
    hearth_event_free(f);
    hearth_event_free(ev);
    hearth_event_free(good);
}

static void test_cumulative(void)
{
    hearth_meter_note a, b;
    const char *why;
    note_fixture(&a);
    memcpy(a.provider, ppk, 32);
    b = a;
    b.seq = 2;
    b.usage.tokens_out += 500;
    b.amount_msat = hearth_offer_price(&b.price, &b.usage);
    CHECK(hearth_meter_note_supersedes(&b, &a));
    CHECK(!hearth_meter_note_supersedes(&a, &b));
    CHECK(!hearth_meter_note_supersedes(&a, &a));
    CHECKF(hearth_meter_note_follows(&b, &a, &why) == 0, "%s", why);
    CHECK(hearth_meter_note_follows(&a, &b, &why) == HEARTH_EINVAL);
    CHECK(!strcmp(why, "invalid: seq does not increase"));
    /* a gap in seq is fine: a lost note loses nothing */
    b.seq = 9;
    CHECK(hearth_meter_note_follows(&b, &a, NULL) == 0);

    static const struct {
        int field;
        const char *why;
    } cases[] = {
        {0, "invalid: usage decreased (notes are cumulative)"},
        {1, "invalid: usage decreased (notes are cumulative)"},
        {2, "invalid: usage decreased (notes are cumulative)"},
        {3, "invalid: amount decreased (notes are cumulative)"},
        {4, "invalid: price vector changed within a job"},
        {5, "invalid: quote changed within a job"},
        {6, "invalid: input hash changed within a job"},
        {7, "invalid: notes are for different jobs"},
        {8, "invalid: notes are for different jobs"},
        {9, "invalid: notes are for different jobs"},
        {10, "invalid: note follows a final note"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hearth_meter_note e = a, l = a;
        l.seq = 2;
        switch (cases[i].field) {
        case 0: l.usage.tokens_in--; break;
        case 1: l.usage.gpu_ms--; break;
        case 2: l.usage.jobs = 0; break;
        case 3: l.amount_msat--; break;
        case 4: l.price.per_mtok_out++; break;
        case 5: l.quote_msat++; break;
        case 6: l.input_sha256[3] ^= 1; break;
        case 7: l.request_id[0] ^= 1; break;
        case 8: l.customer[0] ^= 1; break;
        case 9: l.provider[0] ^= 1; break;
        case 10: e.final = 1; break;
        }
        why = "";
        CHECKF(hearth_meter_note_follows(&l, &e, &why) == HEARTH_EINVAL &&
                   !strcmp(why, cases[i].why),
               "case %zu: %s", i, why);
    }
    b = a;
    b.provider[5] ^= 1;
    b.seq = 5;
    CHECK(!hearth_meter_note_supersedes(&b, &a));
}

static void test_check_note(void)
{
    hearth_meter_note n;
    hearth_price offer;
    hearth_usage max = {1, 4096, 4096, 60000, 0};
    hearth_dispute r = HEARTH_DISPUTE_TOO_SLOW;
    const char *why = "x";
    note_fixture(&n);
    offer = n.price;
    /* the fixture costs 10 + ceil(1.2) + ceil(2.4) = 15 msat */
    CHECK(n.amount_msat == 15);
    CHECK(hearth_meter_check_note(&n, 100, &offer, &max, &r, &why) == 0);
    CHECK(r == HEARTH_DISPUTE_NONE && *why == '\0');
    CHECK(hearth_meter_check_note(&n, HEARTH_METER_NO_QUOTE, &offer, NULL,
                                  &r, &why) == 0);
    /* exactly the quote is fine, a msat more is not */
    CHECK(hearth_meter_check_note(&n, 15, &offer, &max, &r, &why) == 0);
    CHECK(hearth_meter_check_note(&n, 14, &offer, &max, &r, &why) ==
          HEARTH_EINVAL);
    CHECK(r == HEARTH_DISPUTE_OVERCHARGED);
    CHECK(!strcmp(why, "invalid: amount is above the quote"));
    /* a discount is accepted */
    n.amount_msat = 3;
    CHECK(hearth_meter_check_note(&n, 100, &offer, &max, &r, &why) == 0);
    /* above the price of the metered usage */
    n.amount_msat = 16;
    CHECK(hearth_meter_check_note(&n, 100, &offer, &max, &r, &why) ==
          HEARTH_EINVAL);
    CHECK(r == HEARTH_DISPUTE_OVERCHARGED);
    CHECK(!strcmp(why,
                  "invalid: amount is above the offer's price for the usage"));
    /* a price vector higher than the offer's, even with consistent math */
    note_fixture(&n);
    n.price.per_mtok_in = 5000;
    n.amount_msat = hearth_offer_price(&n.price, &n.usage);
    CHECK(hearth_meter_check_note(&n, 100, &offer, &max, &r, &why) ==
          HEARTH_EINVAL);
    CHECK(!strcmp(why, "invalid: note's price vector is above the offer's"));
    /* a lower one is a discount */
    note_fixture(&n);
    n.price.per_job = 0;
    n.amount_msat = hearth_offer_price(&n.price, &n.usage);
    CHECK(hearth_meter_check_note(&n, 100, &offer, &max, &r, &why) == 0);
    /* inflated usage: priced right, but implausible */
    note_fixture(&n);
    n.usage.tokens_out = 4097;
    n.amount_msat = hearth_offer_price(&n.price, &n.usage);
    CHECK(hearth_meter_check_note(&n, 100, &offer, &max, &r, &why) ==
          HEARTH_EINVAL);
    CHECK(r == HEARTH_DISPUTE_OVERCHARGED);
    CHECK(!strcmp(why, "invalid: usage is implausible for this job"));
    note_fixture(&n);
    n.usage.hashes = 1; /* max says none for a chat job */
    CHECK(hearth_meter_check_note(&n, 100, &offer, &max, NULL, NULL) ==
          HEARTH_EINVAL);
    /* saturating prices do not wrap around into "cheap" */
    note_fixture(&n);
    n.usage.jobs = UINT64_MAX;
    n.amount_msat = HEARTH_MSAT_MAX;
    CHECK(hearth_meter_check_note(&n, HEARTH_METER_NO_QUOTE, &offer, NULL, &r,
                                  &why) == 0);
}

static void test_check_output(void)
{
    hearth_meter_note n;
    hearth_dispute r;
    const char *why;
    uint8_t got[32], other[32];
    hearth_sha256("answer", 6, got);
    hearth_sha256("wrong", 5, other);
    note_fixture(&n);
    /* nothing is due to be delivered before the final note */
    CHECK(hearth_meter_check_output(&n, NULL, &r, &why) == 0);
    n.final = 1;
    n.has_output = 1;
    memcpy(n.output_sha256, got, 32);
    CHECK(hearth_meter_check_output(&n, got, &r, &why) == 0);
    CHECK(r == HEARTH_DISPUTE_NONE);
    CHECK(hearth_meter_check_output(&n, other, &r, &why) == HEARTH_EINVAL);
    CHECK(r == HEARTH_DISPUTE_WRONG_RESULT);
    CHECK(!strcmp(why, "invalid: result differs from the one the note names"));
    CHECK(hearth_meter_check_output(&n, NULL, &r, &why) == HEARTH_EINVAL);
    CHECK(r == HEARTH_DISPUTE_NOT_DELIVERED);
    n.has_output = 0;
    CHECK(hearth_meter_check_output(&n, got, &r, &why) == HEARTH_EINVAL);
    CHECK(r == HEARTH_DISPUTE_NOT_DELIVERED);
    CHECK(!strcmp(why, "invalid: no result was delivered"));
    /* a final note for a failed job that charges nothing is fine */
    n.amount_msat = 0;
    CHECK(hearth_meter_check_output(&n, got, &r, &why) == 0);
}

static void same_receipt(const hearth_receipt *a, const hearth_receipt *b)
{
    CHECK(!memcmp(a->note_id, b->note_id, 32));
    CHECK(!memcmp(a->request_id, b->request_id, 32));
    CHECK(!memcmp(a->provider, b->provider, 32));
    CHECK(a->status == b->status && a->reason == b->reason);
    CHECK(a->amount_msat == b->amount_msat && a->rail == b->rail);
    CHECK(a->has_preimage == b->has_preimage);
    CHECK(!a->has_preimage || !memcmp(a->preimage, b->preimage, 32));
    CHECK(a->has_paid == b->has_paid && a->paid_msat == b->paid_msat);
    CHECK(!strcmp(a->text, b->text));
}

static hearth_event *signed_receipt(const hearth_receipt *r)
{
    hearth_event *ev = NULL;
    const char *why = "";
    CHECKF(hearth_receipt_to_event(r, NOW, &ev, &why) == HEARTH_OK && ev,
           "%s", why);
    if (ev)
        CHECK(hearth_event_sign(ev, csk) == HEARTH_OK);
    return ev;
}

/* the customer's side of one job: note in, receipt out, both ways */
static void test_receipts(void)
{
    hearth_meter_note n;
    hearth_receipt r, back;
    const char *why = "x";
    note_fixture(&n);
    hearth_event *nev = signed_note(&n);
    if (!nev)
        return;
    CHECK(hearth_meter_note_from_event(nev, NOW, &n, &why) == 0);

    hearth_receipt_for(&n, HEARTH_DISPUTE_NONE, &r);
    CHECK(r.status == HEARTH_RECEIPT_ACCEPT && r.amount_msat == 15);
    CHECK(hearth_receipt_matches(&r, &n));
    r.has_preimage = 1;
    memset(r.preimage, 0x5a, 32);
    r.has_paid = 1;
    r.paid_msat = 15;
    hearth_event *ev = signed_receipt(&r);
    hearth_event *ev2 = ev ? via_json(ev) : NULL;
    if (ev2) {
        CHECK(ev2->kind == HEARTH_KIND_RECEIPT && ev2->content.n == 0);
        CHECKF(hearth_receipt_from_event(ev2, NOW, &back, &why) == 0, "%s",
               why);
        same_receipt(&r, &back);
        CHECK(!memcmp(back.customer, cpk, 32));
        CHECK(!memcmp(back.id, ev->id, 32));
        CHECK(!memcmp(back.note_id, nev->id, 32));
        CHECK(hearth_receipt_matches(&back, &n));
        const hearth_tag *e = hearth_event_find_tag(ev2, "e");
        CHECK(e && e->v[1].n == 64);
        const hearth_tag *p = hearth_event_find_tag(ev2, "p");
        char pkhex[65];
        hearth_hex_encode(ppk, 32, pkhex);
        CHECK(p && !strcmp(p->v[1].p, pkhex));
    }
    hearth_event_free(ev2);
    hearth_event_free(ev);

    /* a dispute accepting a part, with text */
    for (int d = HEARTH_DISPUTE_WRONG_RESULT; d <= HEARTH_DISPUTE_TOO_SLOW;
         d++) {
        hearth_receipt_for(&n, (hearth_dispute)d, &r);
        CHECK(r.status == HEARTH_RECEIPT_DISPUTE && r.amount_msat == 0);
        r.amount_msat = 10;
        snprintf(r.text, sizeof r.text, "took 10 min, quoted 1\nsorry");
        ev = signed_receipt(&r);
        if (!ev)
            continue;
        CHECK(ev->content.n > 0);
        CHECK(hearth_receipt_from_event(ev, NOW, &back, &why) == 0);
        same_receipt(&r, &back);
        CHECK(hearth_receipt_matches(&back, &n));
        const hearth_tag *t = hearth_event_find_tag(ev, "reason");
        CHECK(t && !strcmp(t->v[1].p, hearth_dispute_name((hearth_dispute)d)));
        hearth_event_free(ev);
    }
    hearth_dispute d;
    CHECK(hearth_dispute_parse("overcharged", &d) == 0 &&
          d == HEARTH_DISPUTE_OVERCHARGED);
    CHECK(hearth_dispute_parse("", &d) == HEARTH_EINVAL);
    CHECK(hearth_dispute_parse("bored", &d) == HEARTH_EINVAL);
    CHECK(!strcmp(hearth_dispute_name(HEARTH_DISPUTE_NONE), ""));
    CHECK(!strcmp(hearth_dispute_name((hearth_dispute)99), "unknown"));

    /* matching a receipt to a note */
    hearth_receipt_for(&n, HEARTH_DISPUTE_NONE, &r);
    r.amount_msat--;
    CHECK(!hearth_receipt_matches(&r, &n)); /* accept means all of it */
    hearth_receipt_for(&n, HEARTH_DISPUTE_OVERCHARGED, &r);
    r.amount_msat = n.amount_msat + 1;
    CHECK(!hearth_receipt_matches(&r, &n));
    hearth_receipt_for(&n, HEARTH_DISPUTE_NONE, &r);
    r.note_id[0] ^= 1;
    CHECK(!hearth_receipt_matches(&r, &n));
    hearth_receipt_for(&n, HEARTH_DISPUTE_NONE, &r);
    r.customer[0] ^= 1;
    CHECK(!hearth_receipt_matches(&r, &n));
    hearth_receipt_for(&n, HEARTH_DISPUTE_NONE, &r);
    r.rail = HEARTH_RAIL_CREDIT;
    CHECK(!hearth_receipt_matches(&r, &n));

    /* the builder refuses inconsistent receipts */
    hearth_receipt_for(&n, HEARTH_DISPUTE_NONE, &r);
    snprintf(r.text, sizeof r.text, "great");
    CHECK(hearth_receipt_to_event(&r, NOW, &ev, &why) == HEARTH_EINVAL);
    CHECK(!strcmp(why, "invalid: accepting receipt with a reason or text"));
    hearth_receipt_for(&n, HEARTH_DISPUTE_TOO_SLOW, &r);
    r.reason = (hearth_dispute)9;
    CHECK(hearth_receipt_to_event(&r, NOW, &ev, &why) == HEARTH_EINVAL);
    CHECK(!strcmp(why, "invalid: unknown dispute reason"));
    hearth_receipt_for(&n, HEARTH_DISPUTE_TOO_SLOW, &r);
    memset(r.text, 'x', sizeof r.text); /* no room left for the NUL */
    CHECK(hearth_receipt_to_event(&r, NOW, &ev, &why) == HEARTH_EINVAL);
    CHECK(!strcmp(why, "invalid: dispute text not NUL-terminated or over "
                       "its bound"));
    hearth_receipt_for(&n, HEARTH_DISPUTE_TOO_SLOW, &r);
    snprintf(r.text, sizeof r.text, "tab\there");
    CHECK(hearth_receipt_to_event(&r, NOW, &ev, &why) == HEARTH_EINVAL);
    CHECK(!strcmp(why,
                  "invalid: dispute text over 280 bytes or not plain UTF-8"));
    hearth_receipt_for(&n, HEARTH_DISPUTE_TOO_SLOW, &r);
    memset(r.text, 'x', HEARTH_RECEIPT_TEXT_MAX); /* exactly the bound */
    ev = signed_receipt(&r);
    hearth_event_free(ev);
    hearth_receipt_for(&n, HEARTH_DISPUTE_TOO_SLOW, &r);
    r.text[0] = '\x80';
    CHECK(hearth_receipt_to_event(&r, NOW, &ev, &why) == HEARTH_EINVAL);
    hearth_receipt_for(&n, HEARTH_DISPUTE_TOO_SLOW, &r);
    r.rail = HEARTH_RAIL_CREDIT;
    r.has_preimage = 1;
    CHECK(hearth_receipt_to_event(&r, NOW, &ev, &why) == HEARTH_EINVAL);
    CHECK(!strcmp(why, "invalid: preimage without the lightning rail"));
    hearth_event_free(nev);
}

static const struct bad bad_receipts[] = {
    {"e", {NULL}, "invalid: missing e tag (metering note)"},
    {NULL, {"e", H64A}, "invalid: duplicate e tag"},
    {"e", {"e", "12"}, "invalid: e tag is not a 32-byte hex event id"},
    {"request", {NULL}, "invalid: missing request tag"},
    {"request", {"request", H64U},
     "invalid: request tag is not a 32-byte hex event id"},
    {NULL, {"request", H64A}, "invalid: duplicate request tag"},
    {"p", {NULL}, "invalid: missing p tag (provider)"},
    {"p", {"p", ""}, "invalid: p tag is not a 32-byte hex public key"},
    {"v", {NULL}, "invalid: missing v tag (protocol version)"},
    {"v", {"v", "0"}, "invalid: unsupported settlement version"},
    {"status", {NULL}, "invalid: missing status tag"},
    {"status", {"status", "maybe"}, "invalid: status is not accept or dispute"},
    {NULL, {"status", "accept"}, "invalid: duplicate status tag"},
    {NULL, {"reason", "too_slow"}, "invalid: reason tag on an accepting receipt"},
    {"status", {"status", "dispute"}, "invalid: dispute without a reason tag"},
    {"amount", {NULL}, "invalid: missing amount tag"},
    {"amount", {"amount", "00"},
     "invalid: amount is not a decimal number of msat up to 21M BTC"},
    {NULL, {"amount", "1"}, "invalid: duplicate amount tag"},
    {"rail", {NULL}, "invalid: missing rail tag"},
    {"rail", {"rail", "Lightning"}, "invalid: unknown rail"},
    {"preimage", {"preimage", "beef"},
     "invalid: preimage is not 64 lowercase hex"},
    {NULL, {"preimage", H64A}, "invalid: duplicate preimage tag"},
    {"preimage", {NULL}, "invalid: paid tag without a preimage"},
    {"paid", {"paid", "-5"},
     "invalid: paid is not a decimal number of msat up to 21M BTC"},
    {NULL, {"paid", "5"}, "invalid: duplicate paid tag"},
    {NULL, {"note", H64A}, NULL}, /* unknown tags are skipped */
    {"paid", {NULL}, NULL},       /* a preimage alone is fine */
};

static void test_receipt_rejections(void)
{
    hearth_meter_note n;
    hearth_receipt r, back;
    const char *why;
    note_fixture(&n);
    memset(n.id, 0x77, 32);
    memcpy(n.provider, ppk, 32);
    hearth_receipt_for(&n, HEARTH_DISPUTE_NONE, &r);
    r.has_preimage = r.has_paid = 1;
    r.paid_msat = 15;
    hearth_event *good = signed_receipt(&r);
    if (!good)
        return;
    for (size_t i = 0; i < sizeof bad_receipts / sizeof bad_receipts[0];
         i++) {
        const struct bad *b = &bad_receipts[i];
        size_t nv = 0;
        while (nv < 4 && b->tag[nv])
            nv++;
        hearth_event *ev = mutate(good, b->drop, b->tag, nv, NULL);
        if (!ev)
            continue;
        why = "";
        int rc = hearth_receipt_from_event(ev, NOW, &back, &why);
        if (b->why)
            CHECKF(rc == HEARTH_EINVAL && !strcmp(why, b->why),
                   "case %zu: got \"%s\"", i, why);
        else
            CHECKF(rc == HEARTH_OK, "case %zu: %s", i, why);
        hearth_event_free(ev);
    }
    hearth_event *ev = mutate(good, NULL, NULL, 0, "thanks");
    CHECK(hearth_receipt_from_event(ev, NOW, &back, &why) == HEARTH_EINVAL);
    CHECK(!strcmp(why, "invalid: accepting receipt content must be empty"));
    hearth_event_free(ev);
    ev = mutate(good, NULL, NULL, 0, NULL);
    ev->kind = HEARTH_KIND_METERING_NOTE;
    CHECK(hearth_receipt_from_event(ev, NOW, &back, &why) == HEARTH_EINVAL);
    CHECK(!strcmp(why, "invalid: not a receipt (kind 7442)"));
    hearth_event_free(ev);
    CHECK(hearth_receipt_from_event(good, NOW - 901, &back, &why) ==
          HEARTH_EINVAL);
    /* disputes: reason and text rules */
    const char *disp[] = {"status", "dispute"};
    hearth_event *d = mutate(good, "status", disp, 2, NULL);
    const char *bogus[] = {"reason", "bored"};
    ev = mutate(d, NULL, bogus, 2, NULL);
    CHECK(hearth_receipt_from_event(ev, NOW, &back, &why) == HEARTH_EINVAL);
    CHECK(!strcmp(why, "invalid: unknown dispute reason"));
    hearth_event_free(ev);
    const char *slow[] = {"reason", "too_slow"};
    ev = mutate(d, NULL, slow, 2, "bell\a");
    CHECK(hearth_receipt_from_event(ev, NOW, &back, &why) == HEARTH_EINVAL);
    CHECK(!strcmp(why,
                  "invalid: dispute text over 280 bytes or not plain UTF-8"));
    hearth_event_free(ev);
    char longtext[HEARTH_RECEIPT_TEXT_MAX + 2];
    memset(longtext, 'y', sizeof longtext - 1);
    longtext[sizeof longtext - 1] = '\0';
    ev = mutate(d, NULL, slow, 2, longtext);
    CHECK(hearth_receipt_from_event(ev, NOW, &back, &why) == HEARTH_EINVAL);
    hearth_event_free(ev);
    longtext[HEARTH_RECEIPT_TEXT_MAX] = '\0';
    ev = mutate(d, NULL, slow, 2, longtext);
    CHECK(hearth_receipt_from_event(ev, NOW, &back, &why) == 0 &&
          back.reason == HEARTH_DISPUTE_TOO_SLOW &&
          strlen(back.text) == HEARTH_RECEIPT_TEXT_MAX);
    hearth_event_free(ev);
    hearth_event_free(d);
    /* preimage on the credit rail */
    const char *credit[] = {"rail", "credit"};
    ev = mutate(good, "rail", credit, 2, NULL);
    CHECK(hearth_receipt_from_event(ev, NOW, &back, &why) == HEARTH_EINVAL);
    CHECK(!strcmp(why, "invalid: preimage without the lightning rail"));
    hearth_event_free(ev);
    hearth_event_free(good);
}

/* the whole customer decision, as `hearth job submit` will run it */
static void test_overcharge_flow(void)
{
    hearth_meter_note n;
    hearth_receipt r;
    hearth_price offer;
    const char *why;
    hearth_dispute reason;
    note_fixture(&n);
    offer = n.price;
    n.final = 1;
    n.has_output = 1;
    hearth_sha256("answer", 6, n.output_sha256);
    n.amount_msat = 90; /* within the quote of 100, but price(usage) is 15 */
    hearth_event *ev = signed_note(&n);
    if (!ev)
        return;
    hearth_meter_note got;
    CHECK(hearth_meter_note_from_event(ev, NOW, &got, &why) == 0);
    int rc = hearth_meter_check_note(&got, 100, &offer, NULL, &reason, &why);
    CHECK(rc == HEARTH_EINVAL && reason == HEARTH_DISPUTE_OVERCHARGED);
    hearth_receipt_for(&got, reason, &r);
    r.amount_msat = hearth_offer_price(&offer, &got.usage); /* fair part */
    hearth_event *rev = signed_receipt(&r);
    hearth_receipt back;
    if (rev) {
        CHECK(hearth_receipt_from_event(rev, NOW, &back, &why) == 0);
        CHECK(back.status == HEARTH_RECEIPT_DISPUTE &&
              back.reason == HEARTH_DISPUTE_OVERCHARGED &&
              back.amount_msat == 15);
        CHECK(hearth_receipt_matches(&back, &got));
        const hearth_tag *t = hearth_event_find_tag(rev, "reason");
        CHECK(t && !strcmp(t->v[1].p, "overcharged"));
    }
    hearth_event_free(rev);
    hearth_event_free(ev);
}

int main(void)
{
    memset(psk, 0x22, 32);
    memset(csk, 0x11, 32);
    if (hearth_key_pubkey(psk, ppk) || hearth_key_pubkey(csk, cpk))
        return 1;
    test_note_round_trip();
    test_note_rejections();
    test_cumulative();
    test_check_note();
    test_check_output();
    test_receipts();
    test_receipt_rejections();
    test_overcharge_flow();
    return tap_done();
}
