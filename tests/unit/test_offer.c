/* Offers: round trips through events and JSON, every rejection of the
 * parser with its reason, prices, and the NIP-89 announcement. */
#include "hearth/error.h"
#include "hearth/event.h"
#include "hearth/hw.h"
#include "hearth/keys.h"
#include "hearth/kinds.h"
#include "hearth/nip13.h"
#include "hearth/offer.h"
#include "tap.h"

#include <jansson.h>
#include <stdint.h>

#define NOW 1700000000LL

static uint8_t sk[32];

static void fixture(hearth_offer *o)
{
    memset(o, 0, sizeof *o);
    o->job_kind = 5100;
    o->backend = HEARTH_BACKEND_OPENAI;
    o->price.per_job = 10;
    o->price.per_mtok_in = 1000;
    o->price.per_mtok_out = 3000;
    snprintf(o->hw.gpu, sizeof o->hw.gpu, "NVIDIA GeForce RTX 4090");
    o->hw.gpu_count = 1;
    o->hw.vram_mb = 24564;
    o->hw.cc_major = 8;
    o->hw.cc_minor = 9;
    o->hw.cpu_cores = 16;
    o->nmodels = 2;
    snprintf(o->models[0], sizeof o->models[0], "llama3.1:8b");
    snprintf(o->models[1], sizeof o->models[1], "qwen2.5:7b-instruct");
    o->bench_tokens_s = 85;
    o->capacity_free = 2;
    o->capacity_total = 4;
    o->nrelays = 2;
    snprintf(o->relays[0], sizeof o->relays[0], "wss://relay.example.com");
    snprintf(o->relays[1], sizeof o->relays[1], "ws://10.0.0.2:7777/inbox");
    o->rails = HEARTH_RAIL_CREDIT | HEARTH_RAIL_LIGHTNING;
    o->credit_limit_msat = 50000;
}

static hearth_event *signed_offer(const hearth_offer *o, int64_t now)
{
    hearth_event *ev = NULL;
    CHECK(hearth_offer_to_event(o, now, &ev) == HEARTH_OK && ev);
    if (ev)
        CHECK(hearth_event_sign(ev, sk) == HEARTH_OK);
    return ev;
}

static void same_offer(const hearth_offer *a, const hearth_offer *b)
{
    CHECK(a->job_kind == b->job_kind && a->backend == b->backend);
    CHECK(!memcmp(&a->price, &b->price, sizeof a->price));
    CHECK(!strcmp(a->hw.gpu, b->hw.gpu));
    CHECK(a->hw.gpu_count == b->hw.gpu_count && a->hw.vram_mb == b->hw.vram_mb);
    CHECK(a->hw.cc_major == b->hw.cc_major && a->hw.cc_minor == b->hw.cc_minor);
    CHECK(a->hw.cpu_cores == b->hw.cpu_cores);
    CHECK(a->nmodels == b->nmodels && a->nrelays == b->nrelays);
    for (size_t i = 0; i < a->nmodels && i < b->nmodels; i++)
        CHECK(!strcmp(a->models[i], b->models[i]));
    for (size_t i = 0; i < a->nrelays && i < b->nrelays; i++)
        CHECK(!strcmp(a->relays[i], b->relays[i]));
    CHECK(a->bench_mhash_s == b->bench_mhash_s);
    CHECK(a->bench_tokens_s == b->bench_tokens_s);
    CHECK(a->capacity_free == b->capacity_free);
    CHECK(a->capacity_total == b->capacity_total);
    CHECK(a->rails == b->rails);
    CHECK(a->credit_limit_msat == b->credit_limit_msat);
}

static void test_round_trip(void)
{
    hearth_offer o, back, back2;
    const char *why = "x";
    uint8_t pk[32];
    fixture(&o);
    hearth_key_pubkey(sk, pk);
    hearth_event *ev = signed_offer(&o, NOW);
    if (!ev)
        return;
    CHECK(ev->kind == HEARTH_KIND_OFFER);
    CHECK(hearth_event_verify(ev, NULL) == HEARTH_OK);
    CHECKF(hearth_offer_from_event(ev, NOW, &back, &why) == HEARTH_OK, "%s",
           why);
    CHECK(*why == '\0');
    same_offer(&o, &back);
    CHECK(!memcmp(back.pubkey, pk, 32));
    CHECK(!memcmp(back.event_id, ev->id, 32));
    CHECK(back.created_at == NOW);
    CHECK(back.expires_at == NOW + HEARTH_OFFER_TTL_S);
    CHECK(back.version == HEARTH_PROTOCOL_VERSION);
    CHECK(back.hw.tier == hearth_gpu_tier(24564, 8, 9));
    CHECK(back.hw.tier == 1);
    CHECK(back.pow_bits == 0);
    /* the tags relays and clients look at */
    hearth_str d = hearth_event_d(ev);
    CHECK(!strcmp(d.p, "5100:openai"));
    const hearth_tag *k = hearth_event_find_tag(ev, "k");
    CHECK(k && k->n == 2 && !strcmp(k->v[1].p, "5100"));
    int64_t exp = 0;
    CHECK(hearth_event_expiration(ev, &exp) == 1 && exp == NOW + 1200);
    CHECK(ev->content.n > 0);

    /* through JSON as a relay would hand it over */
    hearth_buf js = HEARTH_BUF_INIT;
    hearth_event *ev2 = NULL;
    CHECK(hearth_event_to_json(ev, &js) == HEARTH_OK);
    CHECK(hearth_event_parse(js.p, js.len, 0, &ev2, &why) == HEARTH_OK);
    if (ev2) {
        CHECK(hearth_event_verify(ev2, NULL) == HEARTH_OK);
        CHECK(hearth_offer_from_event(ev2, NOW + 60, &back2, &why) == 0);
        same_offer(&back, &back2);
        CHECK(!memcmp(back2.event_id, ev->id, 32));
    }
    hearth_event_free(ev2);
    hearth_buf_free(&js);
    /* still valid just before the expiration, not at it */
    CHECK(hearth_offer_from_event(ev, NOW + 1199, &back, &why) == 0);
    CHECK(hearth_offer_from_event(ev, NOW + 1200, &back, &why) ==
          HEARTH_EINVAL);
    CHECK(!strcmp(why, "invalid: offer has expired"));
    hearth_event_free(ev);
}

static void test_variants(void)
{
    hearth_offer o, back;
    const char *why;
    hearth_event *ev;

    /* CPU-only pow offer: tier 0, no GPU tags at all */
    memset(&o, 0, sizeof o);
    o.job_kind = HEARTH_KIND_JOB_POW;
    o.backend = HEARTH_BACKEND_POW;
    o.price.per_mhash = 2;
    o.hw.cpu_cores = 8;
    o.bench_mhash_s = 95;
    o.capacity_free = o.capacity_total = 1;
    o.rails = HEARTH_RAIL_LIGHTNING;
    o.expires_at = NOW + 600;
    ev = signed_offer(&o, NOW);
    if (ev) {
        CHECK(hearth_event_find_tag(ev, "gpu") == NULL);
        CHECK(hearth_event_find_tag(ev, "vram") == NULL);
        CHECK(hearth_event_find_tag(ev, "credit") == NULL);
        CHECK(!strcmp(hearth_event_d(ev).p, "5970:pow"));
        CHECK(hearth_offer_from_event(ev, NOW, &back, &why) == 0);
        same_offer(&o, &back);
        CHECK(back.hw.tier == 0);
        CHECK(back.expires_at == NOW + 600); /* the caller's expiration */
    }
    hearth_event_free(ev);

    /* free of charge: still one price tag */
    o.price.per_mhash = 0;
    ev = signed_offer(&o, NOW);
    if (ev) {
        const hearth_tag *p = hearth_event_find_tag(ev, "price");
        CHECK(p && p->n == 3 && !strcmp(p->v[1].p, "job") &&
              !strcmp(p->v[2].p, "0"));
        CHECK(hearth_offer_from_event(ev, NOW, &back, &why) == 0);
    }
    hearth_event_free(ev);

    /* every tier, as hw.h decides it */
    static const struct {
        uint32_t vram;
        uint16_t ma, mi;
    } gpus[] = {{24564, 8, 9}, {16384, 7, 5}, {8192, 8, 6}, {6144, 6, 1},
                {4096, 5, 2}, {2048, 8, 0}, {40960, 9, 0}, {12288, 12, 0}};
    for (size_t i = 0; i < sizeof gpus / sizeof gpus[0]; i++) {
        fixture(&o);
        o.hw.vram_mb = gpus[i].vram;
        o.hw.cc_major = gpus[i].ma;
        o.hw.cc_minor = gpus[i].mi;
        ev = signed_offer(&o, NOW);
        if (!ev)
            continue;
        CHECK(hearth_offer_from_event(ev, NOW, &back, &why) == 0);
        CHECK(back.hw.tier ==
              hearth_gpu_tier(gpus[i].vram, gpus[i].ma, gpus[i].mi));
        CHECK(back.hw.tier >= 1 && back.hw.tier <= 4);
        hearth_event_free(ev);
    }

    /* with NIP-13 proof of work: the committed target is reported */
    fixture(&o);
    CHECK(hearth_offer_to_event(&o, NOW, &ev) == 0);
    if (ev) {
        CHECK(hearth_key_pubkey(sk, ev->pubkey) == 0);
        ev->has |= HEARTH_EV_HAS_PUBKEY;
        CHECK(hearth_nip13_mine(ev, 8, 0, NULL) == 0);
        CHECK(hearth_event_sign(ev, sk) == 0);
        CHECK(hearth_nip13_difficulty(ev) >= 8);
        CHECK(hearth_offer_from_event(ev, NOW, &back, &why) == 0);
        CHECK(back.pow_bits == 8);
    }
    hearth_event_free(ev);

    /* the builder refuses what the parser would refuse, and says why */
    fixture(&o);
    o.capacity_free = 5;
    ev = (hearth_event *)1;
    CHECK(hearth_offer_to_event(&o, NOW, &ev) == HEARTH_EINVAL && !ev);
    CHECK(hearth_offer_check(&o, NOW, &why) == HEARTH_EINVAL);
    CHECK(!strcmp(why, "invalid: capacity free exceeds total"));
    fixture(&o);
    o.job_kind = 1;
    CHECK(hearth_offer_check(&o, NOW, &why) == HEARTH_EINVAL);
    CHECK(!strcmp(why, "invalid: job kind outside 5000-5999"));
    fixture(&o);
    o.models[1][0] = '\x7f';
    CHECK(hearth_offer_check(&o, NOW, &why) == HEARTH_EINVAL);
    CHECK(!strcmp(why, "invalid: bad model name"));
    fixture(&o);
    memset(o.hw.gpu, 'x', sizeof o.hw.gpu); /* no terminator */
    CHECK(hearth_offer_check(&o, NOW, &why) == HEARTH_EINVAL);
    fixture(&o);
    o.hw.gpu[0] = '\xff'; /* not UTF-8 */
    CHECK(hearth_offer_check(&o, NOW, &why) == HEARTH_EINVAL);
    fixture(&o);
    CHECK(hearth_offer_check(&o, NOW, &why) == HEARTH_OK);
}

/* ---- rejections: the fixture's tags with one change ---- */

typedef struct {
    const char *v[4];
} tagspec;

#define EXP "1700001200"

static const tagspec base_tags[] = {
    {{"d", "5100:openai"}},
    {{"k", "5100"}},
    {{"v", "1"}},
    {{"backend", "openai"}},
    {{"expiration", EXP}},
    {{"price", "job", "10"}},
    {{"price", "mtok_in", "1000"}},
    {{"gpu", "NVIDIA GeForce RTX 4090", "1"}},
    {{"vram", "24564"}},
    {{"cc", "8.9"}},
    {{"tier", "1"}},
    {{"cpu", "16"}},
    {{"model", "llama3.1:8b"}},
    {{"model", "qwen2.5:7b"}},
    {{"bench", "tokens_s", "85"}},
    {{"capacity", "2", "4"}},
    {{"relay", "wss://relay.example.com"}},
    {{"rail", "credit"}},
    {{"rail", "lightning"}},
    {{"credit", "50000"}},
};
#define NBASE (sizeof base_tags / sizeof base_tags[0])

static size_t nvals(const tagspec *t)
{
    size_t n = 0;
    while (n < 4 && t->v[n])
        n++;
    return n;
}

/* price, bench and rail tags are told apart by their second value */
static int same_slot(const tagspec *a, const tagspec *b)
{
    if (strcmp(a->v[0], b->v[0]))
        return 0;
    if (!strcmp(a->v[0], "price") || !strcmp(a->v[0], "bench") ||
        !strcmp(a->v[0], "rail"))
        return a->v[1] && b->v[1] && !strcmp(a->v[1], b->v[1]);
    return 1;
}

struct change {
    uint32_t kind;          /* 0: 31907 */
    int64_t created_at;     /* 0: NOW */
    const char *drop;       /* remove every tag of this name */
    tagspec set[2];         /* replace the tag in the same slot */
    size_t nset;
    tagspec add[20];        /* append */
    size_t nadd;
};

static hearth_event *build(const struct change *c)
{
    hearth_event *ev = NULL;
    if (hearth_event_new(c->kind ? c->kind : HEARTH_KIND_OFFER,
                         c->created_at ? c->created_at : NOW, "an offer", 8,
                         &ev))
        return NULL;
    for (size_t i = 0; i < NBASE; i++) {
        const tagspec *t = &base_tags[i];
        if (c->drop && !strcmp(c->drop, t->v[0]))
            continue;
        for (size_t s = 0; s < c->nset; s++)
            if (same_slot(&c->set[s], t))
                t = &c->set[s];
        hearth_event_add_tag(ev, nvals(t), t->v, NULL);
    }
    for (size_t a = 0; a < c->nadd; a++)
        hearth_event_add_tag(ev, nvals(&c->add[a]), c->add[a].v, NULL);
    hearth_event_sign(ev, sk);
    return ev;
}

static const char *verdict_of(const struct change *c)
{
    hearth_offer o;
    const char *why = NULL;
    hearth_event *ev = build(c);
    if (!ev)
        return "(build failed)";
    int rc = hearth_offer_from_event(ev, NOW, &o, &why);
    hearth_event_free(ev);
    if (rc == HEARTH_OK)
        return "";
    return rc == HEARTH_EINVAL && why ? why : "(bad return)";
}

#define REJECT(want, ...)                                                  \
    do {                                                                   \
        struct change c_ = {__VA_ARGS__};                                  \
        const char *got_ = verdict_of(&c_);                                \
        CHECKF(!strcmp(got_, want), "got '%s', want '%s'", got_, want);    \
    } while (0)

#define SET1(...) .set = {{{__VA_ARGS__}}}, .nset = 1
#define ADD1(...) .add = {{{__VA_ARGS__}}}, .nadd = 1

static void test_rejections(void)
{
    REJECT("", .drop = NULL);  /* the base itself is a valid offer */
    REJECT("", ADD1("something", "new"));  /* unknown tags are skipped */
    REJECT("", ADD1("bench", "watts", "300"));
    REJECT("", ADD1("rail", "cashu"));

    REJECT("invalid: not an offer (kind 31907)", .kind = 30402);
    REJECT("invalid: not an offer (kind 31907)", .kind = 5100);

    /* version */
    REJECT("invalid: missing v tag (protocol version)", .drop = "v");
    REJECT("invalid: unsupported offer version", SET1("v", "2"));
    REJECT("invalid: unsupported offer version", SET1("v", "one"));
    REJECT("invalid: v tag has no value", SET1("v"));

    /* job kind, backend, d */
    REJECT("invalid: missing k tag (job kind)", .drop = "k");
    REJECT("invalid: k tag is not a job kind", SET1("k", "51OO"));
    REJECT("invalid: job kind outside 5000-5999",
           .set = {{{"k", "6100"}}, {{"d", "6100:openai"}}}, .nset = 2);
    REJECT("invalid: job kind outside 5000-5999",
           .set = {{{"k", "4999"}}, {{"d", "4999:openai"}}}, .nset = 2);
    REJECT("invalid: job kind outside 5000-5999",
           SET1("k", "99999999999999999999999"));
    REJECT("invalid: missing backend tag", .drop = "backend");
    REJECT("invalid: unknown backend", SET1("backend", "cuda"));
    REJECT("invalid: missing d tag", .drop = "d");
    REJECT("invalid: d tag does not match k and backend", SET1("d", "5100:pow"));
    REJECT("invalid: d tag does not match k and backend",
           SET1("d", "5101:openai"));
    REJECT("invalid: d tag does not match k and backend", SET1("d", "5100"));
    REJECT("invalid: d tag does not match k and backend", SET1("d", ""));
    REJECT("invalid: d tag does not match k and backend", SET1("k", "5101"));
    REJECT("invalid: d tag does not match k and backend",
           SET1("backend", "exec"));

    /* times */
    REJECT("invalid: missing expiration tag (NIP-40)", .drop = "expiration");
    REJECT("invalid: malformed expiration tag", SET1("expiration", "soon"));
    REJECT("invalid: malformed expiration tag", SET1("expiration", ""));
    REJECT("invalid: malformed expiration tag", SET1("expiration", "-5"));
    REJECT("invalid: malformed expiration tag", SET1("expiration", "01700001200"));
    REJECT("invalid: malformed expiration tag", SET1("expiration"));
    REJECT("invalid: offer has expired", SET1("expiration", "1700000000"));
    REJECT("invalid: offer has expired", SET1("expiration", "1699999999"));
    REJECT("invalid: offer has expired", SET1("expiration", "0"));
    REJECT("", SET1("expiration", "1700086400"));  /* exactly one day */
    REJECT("invalid: expiration is more than a day ahead",
           SET1("expiration", "1700086401"));
    REJECT("invalid: expiration is more than a day ahead",
           SET1("expiration", "9999999999"));
    /* an old event with a far expiration: a day after created_at at most */
    REJECT("invalid: expiration is more than a day ahead",
           .created_at = NOW - 86400, SET1("expiration", "1700000100"));
    REJECT("", .created_at = NOW + 900);
    REJECT("invalid: created_at is too far in the future",
           .created_at = NOW + 901);

    /* prices */
    REJECT("invalid: offer has no price", .drop = "price");
    REJECT("invalid: price is not a decimal number of msat",
           SET1("price", "job", "12a"));
    REJECT("invalid: price is not a decimal number of msat",
           SET1("price", "job", "-1"));
    REJECT("invalid: price is not a decimal number of msat",
           SET1("price", "job", "1.5"));
    REJECT("invalid: price is not a decimal number of msat",
           SET1("price", "job", "010"));
    REJECT("invalid: price is not a decimal number of msat",
           SET1("price", "job", ""));
    REJECT("invalid: price is not a decimal number of msat",
           SET1("price", "job", " 1"));
    REJECT("", SET1("price", "job", "18446744073709551615"));
    REJECT("invalid: price overflows 64 bits",
           SET1("price", "job", "18446744073709551616"));
    REJECT("invalid: price overflows 64 bits",
           SET1("price", "job", "99999999999999999999999999"));
    REJECT("invalid: unknown price unit", ADD1("price", "token", "5"));
    REJECT("invalid: duplicate price unit", ADD1("price", "job", "11"));
    REJECT("invalid: price tag needs a unit and an amount",
           SET1("price", "job"));
    REJECT("", ADD1("price", "gpu_s", "7"));
    REJECT("", ADD1("price", "mhash", "0"));
    REJECT("", ADD1("price", "mtok_out", "3000"));

    /* hardware */
    REJECT("invalid: tier does not match vram and cc", SET1("tier", "2"));
    REJECT("invalid: tier does not match vram and cc", SET1("tier", "0"));
    REJECT("invalid: tier does not match vram and cc", SET1("tier", "5"));
    REJECT("invalid: tier does not match vram and cc", SET1("vram", "4096"));
    REJECT("invalid: tier does not match vram and cc", SET1("cc", "6.1"));
    REJECT("", .drop = "tier");  /* optional: computed when absent */
    REJECT("invalid: bad cc (want major.minor)", SET1("cc", "9"));
    REJECT("invalid: bad cc (want major.minor)", SET1("cc", "8.10"));
    REJECT("invalid: bad cc (want major.minor)", SET1("cc", "0.5"));
    REJECT("invalid: bad cc (want major.minor)", SET1("cc", "8."));
    REJECT("invalid: bad vram (MiB)", SET1("vram", "0"));
    REJECT("invalid: bad vram (MiB)", SET1("vram", "24GB"));
    REJECT("invalid: bad vram (MiB)", SET1("vram", "4294967296"));
    REJECT("invalid: gpu tag without vram and cc tags", .drop = "vram");
    REJECT("invalid: gpu tag without vram and cc tags", .drop = "cc");
    REJECT("invalid: vram or cc tag without a gpu tag", .drop = "gpu");
    REJECT("invalid: bad gpu count", SET1("gpu", "RTX 4090", "0"));
    REJECT("invalid: bad gpu count", SET1("gpu", "RTX 4090", "two"));
    REJECT("invalid: gpu tag needs a name and a count", SET1("gpu", "RTX"));
    REJECT("invalid: bad gpu name", SET1("gpu", "", "1"));
    REJECT("invalid: bad gpu name", SET1("gpu", "RTX\n4090", "1"));
    REJECT("invalid: bad cpu core count", SET1("cpu", "0"));
    REJECT("invalid: bad cpu core count", SET1("cpu", "65536"));

    /* capacity */
    REJECT("invalid: missing capacity tag", .drop = "capacity");
    REJECT("invalid: capacity free exceeds total", SET1("capacity", "5", "4"));
    REJECT("invalid: capacity total is 0", SET1("capacity", "0", "0"));
    REJECT("", SET1("capacity", "0", "4"));
    REJECT("invalid: capacity tag needs free and total", SET1("capacity", "1"));
    REJECT("invalid: capacity is not decimal job slots",
           SET1("capacity", "1", "x"));

    /* models and relays */
    REJECT("invalid: bad model name", ADD1("model", ""));
    REJECT("invalid: bad model name", ADD1("model", "tab\there"));
    REJECT("invalid: bad model name", ADD1("model"));
    REJECT("invalid: bad model name",
           ADD1("model", "0123456789012345678901234567890123456789"
                         "012345678901234567890123"));  /* 64 bytes */
    REJECT("", ADD1("model", "0123456789012345678901234567890123456789"
                             "01234567890123456789012"));  /* 63 */
    REJECT("", ADD1("model", "Mistral-Größe-日本語"));
    REJECT("invalid: duplicate model", ADD1("model", "llama3.1:8b"));
    {
        struct change c = {0};
        char names[15][16];
        for (size_t i = 0; i < 15; i++) {
            snprintf(names[i], sizeof names[i], "model-%zu", i);
            c.add[i] = (tagspec){{"model", names[i]}};
        }
        c.nadd = 14;  /* 2 + 14 = 16 */
        CHECK(!strcmp(verdict_of(&c), ""));
        c.nadd = 15;
        CHECK(!strcmp(verdict_of(&c), "invalid: too many model tags"));
    }
    REJECT("invalid: relay URL must be ws:// or wss://",
           ADD1("relay", "https://relay.example.com"));
    REJECT("invalid: relay URL must be ws:// or wss://", ADD1("relay", "wss://"));
    REJECT("invalid: relay URL must be ws:// or wss://",
           ADD1("relay", "wss://a b"));
    REJECT("invalid: relay URL must be ws:// or wss://",
           ADD1("relay", "wss://relay.example.com/#x"));
    REJECT("invalid: relay URL must be ws:// or wss://",
           ADD1("relay", "wss://rélay.example.com"));
    REJECT("invalid: relay URL must be ws:// or wss://", ADD1("relay"));
    REJECT("invalid: duplicate relay", ADD1("relay", "wss://relay.example.com"));
    {
        struct change c = {0};
        char urls[8][32];
        for (size_t i = 0; i < 8; i++) {
            snprintf(urls[i], sizeof urls[i], "wss://r%zu.example", i);
            c.add[i] = (tagspec){{"relay", urls[i]}};
        }
        c.nadd = 7;  /* 1 + 7 = 8 */
        CHECK(!strcmp(verdict_of(&c), ""));
        c.nadd = 8;
        CHECK(!strcmp(verdict_of(&c), "invalid: too many relay tags"));
    }

    /* payment */
    REJECT("invalid: offer accepts no known payment rail", .drop = "rail");
    REJECT("invalid: offer accepts no known payment rail", .drop = "rail",
           ADD1("rail", "cashu"));
    REJECT("invalid: credit tag without the credit rail", .drop = "rail",
           ADD1("rail", "lightning"));
    REJECT("invalid: credit limit is not a decimal number of msat",
           SET1("credit", "lots"));
    REJECT("invalid: bench value is not a decimal number in range",
           SET1("bench", "tokens_s", "4294967296"));
    REJECT("invalid: duplicate bench tag", ADD1("bench", "tokens_s", "1"));

    /* NIP-13 */
    REJECT("invalid: malformed nonce tag (NIP-13)",
           ADD1("nonce", "17", "many"));
    REJECT("", ADD1("nonce", "17", "4"));
    REJECT("", ADD1("nonce", "17"));

    /* every singular tag, twice */
    static const char *const singles[] = {
        "d", "k", "v", "backend", "expiration", "gpu", "vram", "cc", "tier",
        "cpu", "capacity", "credit"
    };
    for (size_t i = 0; i < sizeof singles / sizeof singles[0]; i++) {
        struct change c = {0};
        char want[64];
        for (size_t b = 0; b < NBASE; b++)
            if (!strcmp(base_tags[b].v[0], singles[i]))
                c.add[0] = base_tags[b];
        c.nadd = 1;
        snprintf(want, sizeof want, "invalid: duplicate %s tag", singles[i]);
        const char *got = verdict_of(&c);
        CHECKF(!strcmp(got, want), "got '%s', want '%s'", got, want);
    }
    REJECT("invalid: duplicate nonce tag",
           .add = {{{"nonce", "1", "4"}}, {{"nonce", "2", "4"}}}, .nadd = 2);
}

/* Names that are not UTF-8 cannot come through the JSON parser or
 * hearth_event_add_tag; an event assembled in memory by other code can
 * still carry them. */
static void test_bad_utf8(void)
{
    hearth_offer o;
    const char *why;
    struct change c = {0};
    hearth_event *ev = build(&c);
    if (!ev)
        return;
    for (size_t i = 0; i < ev->ntags; i++) {
        hearth_tag *t = &ev->tags[i];
        if (!strcmp(t->v[0].p, "model"))
            ((char *)t->v[1].p)[3] = (char)0xc0;
    }
    CHECK(hearth_offer_from_event(ev, NOW, &o, &why) == HEARTH_EINVAL);
    CHECK(!strcmp(why, "invalid: bad model name"));
    hearth_event_free(ev);
    ev = build(&c);
    for (size_t i = 0; ev && i < ev->ntags; i++) {
        hearth_tag *t = &ev->tags[i];
        if (!strcmp(t->v[0].p, "gpu"))
            ((char *)t->v[1].p)[0] = (char)0xed; /* surrogate lead */
    }
    CHECK(ev && hearth_offer_from_event(ev, NOW, &o, &why) == HEARTH_EINVAL);
    CHECK(ev && !strcmp(why, "invalid: bad gpu name"));
    hearth_event_free(ev);
}

static void test_price(void)
{
    hearth_price p = {0};
    hearth_usage u = {0};
    CHECK(hearth_offer_price(&p, &u) == 0);
    p.per_job = 10;
    u.jobs = 3;
    CHECK(hearth_offer_price(&p, &u) == 30);
    p = (hearth_price){0};
    p.per_mtok_in = 1000;
    u = (hearth_usage){0};
    u.tokens_in = 1500;  /* 1.5 msat: rounded up */
    CHECK(hearth_offer_price(&p, &u) == 2);
    u.tokens_in = 1000;
    CHECK(hearth_offer_price(&p, &u) == 1);
    p.per_mtok_out = 1000000;
    u.tokens_out = 1000000;
    CHECK(hearth_offer_price(&p, &u) == 1000001);
    p = (hearth_price){0};
    p.per_gpu_second = 1000;
    u = (hearth_usage){0};
    u.gpu_ms = 1500;
    CHECK(hearth_offer_price(&p, &u) == 1500);
    u.gpu_ms = 1;
    CHECK(hearth_offer_price(&p, &u) == 1);
    p = (hearth_price){0};
    p.per_mhash = 1;
    u = (hearth_usage){0};
    u.hashes = 1ull << 40;  /* 1099511.627776 Mhash */
    CHECK(hearth_offer_price(&p, &u) == 1099512);
    /* large but exact: 3e12 msat/Mtok x 5e12 tokens = 1.5e19 msat */
    p = (hearth_price){0};
    p.per_mtok_in = 3000000000000ull;
    u = (hearth_usage){0};
    u.tokens_in = 5000000000000ull;
    CHECK(hearth_offer_price(&p, &u) == 15000000000000000000ull);
    /* saturation everywhere */
    p.per_mtok_in = UINT64_MAX;
    u.tokens_in = UINT64_MAX;
    CHECK(hearth_offer_price(&p, &u) == UINT64_MAX);
    p = (hearth_price){UINT64_MAX, 0, 0, 0, 0};
    u = (hearth_usage){2, 0, 0, 0, 0};
    CHECK(hearth_offer_price(&p, &u) == UINT64_MAX);
    p = (hearth_price){UINT64_MAX - 1, 0, 0, 0, 5};
    u = (hearth_usage){1, 0, 0, 0, 1000000};
    CHECK(hearth_offer_price(&p, &u) == UINT64_MAX);
}

static void test_names(void)
{
    hearth_backend b;
    CHECK(!strcmp(hearth_backend_name(HEARTH_BACKEND_POW), "pow"));
    CHECK(!strcmp(hearth_backend_name(HEARTH_BACKEND_OPENAI), "openai"));
    CHECK(!strcmp(hearth_backend_name(HEARTH_BACKEND_EXEC), "exec"));
    CHECK(!strcmp(hearth_backend_name((hearth_backend)9), "unknown"));
    CHECK(hearth_backend_parse("exec", &b) == 0 && b == HEARTH_BACKEND_EXEC);
    CHECK(hearth_backend_parse("openai", &b) == 0 &&
          b == HEARTH_BACKEND_OPENAI);
    CHECK(hearth_backend_parse("po", &b) == HEARTH_EINVAL);
    CHECK(hearth_backend_parse("", &b) == HEARTH_EINVAL);
}

static void test_announcement(void)
{
    hearth_offer o[3];
    hearth_event *ev = NULL;
    fixture(&o[0]);
    fixture(&o[1]);
    o[1].job_kind = 5970;
    o[1].backend = HEARTH_BACKEND_POW;
    fixture(&o[2]);
    o[2].backend = HEARTH_BACKEND_EXEC; /* same kind as o[0] */
    CHECK(hearth_offer_announcement(o, 3, "Kitchen \"GPU\"", NOW, &ev) == 0);
    if (!ev)
        return;
    CHECK(ev->kind == HEARTH_KIND_HANDLER_INFO && ev->created_at == NOW);
    CHECK(!strcmp(hearth_event_d(ev).p, "hearth"));
    size_t nk = 0;
    for (size_t i = 0; i < ev->ntags; i++)
        if (!strcmp(ev->tags[i].v[0].p, "k")) {
            CHECK(!strcmp(ev->tags[i].v[1].p, nk == 0 ? "5100" : "5970"));
            nk++;
        }
    CHECK(nk == 2);
    json_error_t err;
    json_t *j = json_loadb(ev->content.p, ev->content.n, 0, &err);
    CHECK(j && json_is_object(j));
    CHECK(j && !strcmp(json_string_value(json_object_get(j, "name")),
                       "Kitchen \"GPU\""));
    const char *about = j ? json_string_value(json_object_get(j, "about"))
                          : NULL;
    CHECK(about && strstr(about, "5100") && strstr(about, "5970"));
    json_decref(j);
    CHECK(hearth_event_sign(ev, sk) == 0);
    CHECK(hearth_event_verify(ev, NULL) == 0);
    hearth_event_free(ev);

    CHECK(hearth_offer_announcement(o, 1, NULL, NOW, &ev) == 0);
    if (ev)
        CHECK(strstr(ev->content.p, "\"name\":\"hearth\"") != NULL);
    hearth_event_free(ev);
    ev = (hearth_event *)1;
    CHECK(hearth_offer_announcement(o, 0, "x", NOW, &ev) == HEARTH_EINVAL &&
          !ev);
    o[0].job_kind = 7000;
    CHECK(hearth_offer_announcement(o, 1, "x", NOW, &ev) == HEARTH_EINVAL);
}

int main(void)
{
    CHECK(hearth_key_generate(sk) == HEARTH_OK);
    test_round_trip();
    test_variants();
    test_rejections();
    test_bad_utf8();
    test_price();
    test_names();
    test_announcement();
    return tap_done();
}
