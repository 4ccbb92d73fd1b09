/* Pure parts of the relay pool: backoff schedule, seen-id set with LRU
 * eviction, relay URL normalization, the publish retry policy by prefix,
 * NIP-11 and NIP-65 parsing. The networked parts are covered by
 * tests/interop/pool_*.mjs. */
#include "hearth/error.h"
#include "hearth/event.h"
#include "hearth/kinds.h"
#include "hearth/pool.h"
#include "net/pool_internal.h"
#include "tap.h"

#include <sodium.h>

static void test_backoff(void)
{
    /* equal jitter: [step/2, step] with step = min(max, base * 2^n) */
    CHECK(pool_backoff_ms(0, 500, 60000, 0) == 250);
    CHECK(pool_backoff_ms(0, 500, 60000, UINT32_MAX) <= 500);
    CHECK(pool_backoff_ms(0, 500, 60000, 250) == 500);
    CHECK(pool_backoff_ms(1, 500, 60000, 0) == 500);
    CHECK(pool_backoff_ms(3, 500, 60000, 0) == 2000);
    CHECK(pool_backoff_ms(3, 500, 60000, 2000) == 4000);
    CHECK(pool_backoff_ms(7, 500, 60000, 0) == 30000);
    CHECK(pool_backoff_ms(200, 500, 60000, 0) == 30000);
    CHECK(pool_backoff_ms(200, 500, 60000, 30000) == 60000);
    CHECK(pool_backoff_ms(0, 0, 0, 7) == 1);
    uint32_t prev_lo = 0;
    for (unsigned a = 0; a < 40; a++) {
        uint32_t lo = pool_backoff_ms(a, 500, 60000, 0);
        uint32_t r = randombytes_random();
        uint32_t x = pool_backoff_ms(a, 500, 60000, r);
        CHECKF(lo >= prev_lo, "attempt %u: %u < %u", a, lo, prev_lo);
        CHECKF(x >= lo && x <= 2 * lo + 1 && x <= 60000,
               "attempt %u: %u outside [%u, %u]", a, x, lo, 2 * lo);
        prev_lo = lo;
    }
}

static void id_of(unsigned n, uint8_t id[32])
{
    memset(id, 0, 32);
    memcpy(id, &n, sizeof n);
    id[31] = 0x5a;
}

static void test_seen_small(void)
{
    pool_seen s;
    uint8_t id[32];
    CHECK(pool_seen_init(&s, 0) == HEARTH_EINVAL);
    CHECK(pool_seen_init(&s, 4) == HEARTH_OK);
    for (unsigned i = 1; i <= 4; i++) {
        id_of(i, id);
        CHECK(!pool_seen_has(&s, id));
        CHECK(pool_seen_add(&s, id) == HEARTH_OK);
        CHECK(pool_seen_has(&s, id));
    }
    id_of(1, id);
    CHECK(pool_seen_has(&s, id)); /* 1 is now the most recent */
    id_of(5, id);
    CHECK(pool_seen_add(&s, id) == HEARTH_OK);
    CHECK(s.n == 4);
    id_of(2, id);
    CHECK(!pool_seen_has(&s, id)); /* the least recently used went */
    for (unsigned i = 1; i <= 5; i++) {
        if (i == 2)
            continue;
        id_of(i, id);
        CHECKF(pool_seen_has(&s, id), "id %u", i);
    }
    id_of(3, id);
    CHECK(pool_seen_add(&s, id) == HEARTH_OK); /* re-adding refreshes */
    CHECK(s.n == 4);
    pool_seen_free(&s);
}

/* Random operations against a plain array kept in recency order. */
static void test_seen_model(void)
{
    enum { CAP = 64, UNIVERSE = 200, OPS = 40000 };
    unsigned model[CAP], n = 0, mismatches = 0;
    pool_seen s;
    uint8_t id[32];
    CHECK(pool_seen_init(&s, CAP) == HEARTH_OK);
    for (unsigned op = 0; op < OPS; op++) {
        unsigned v = randombytes_uniform(UNIVERSE), pos = n;
        for (unsigned i = 0; i < n; i++)
            if (model[i] == v)
                pos = i;
        id_of(v, id);
        int add = randombytes_uniform(2);
        int got = add ? (pool_seen_add(&s, id), 1) : pool_seen_has(&s, id);
        if (!add && got != (pos < n))
            mismatches++;
        if (pos < n) { /* move to front */
            memmove(model + 1, model, pos * sizeof *model);
            model[0] = v;
        } else if (add) {
            if (n == CAP)
                n--;
            memmove(model + 1, model, n * sizeof *model);
            model[0] = v;
            n++;
        }
        if (s.n != n)
            mismatches++;
    }
    CHECKF(mismatches == 0, "%u mismatches", mismatches);
    for (unsigned v = 0; v < UNIVERSE; v++) {
        int in = 0;
        for (unsigned i = 0; i < n; i++)
            in |= model[i] == v;
        id_of(v, id);
        /* has() refreshes, so check membership in model order only */
        if (in)
            CHECKF(pool_seen_has(&s, id), "id %u lost", v);
    }
    pool_seen_free(&s);
}

static void test_seen_big(void)
{
    enum { CAP = 10000, N = 200000 };
    pool_seen s;
    uint8_t id[32];
    unsigned missing = 0, stale = 0;
    CHECK(pool_seen_init(&s, CAP) == HEARTH_OK);
    for (unsigned i = 0; i < N; i++) {
        id_of(i, id);
        pool_seen_add(&s, id);
    }
    CHECK(s.n == CAP);
    for (unsigned i = N - CAP; i < N; i++) {
        id_of(i, id);
        missing += !pool_seen_has(&s, id);
    }
    for (unsigned i = 0; i < N - CAP; i += 7) {
        id_of(i, id);
        stale += pool_seen_has(&s, id);
    }
    CHECKF(missing == 0, "%u recent ids missing", missing);
    CHECKF(stale == 0, "%u evicted ids still present", stale);
    pool_seen_free(&s);
}

static int norm(const char *in, const char *want)
{
    hearth_buf b = HEARTH_BUF_INIT;
    int rc = hearth_relay_url_normalize(in, &b);
    int ok = want ? rc == HEARTH_OK && !strcmp(b.p, want)
                  : rc == HEARTH_EINVAL;
    if (!ok)
        fprintf(stderr, "normalize(%s) = %d '%s', want '%s'\n", in, rc,
                b.p ? b.p : "", want ? want : "(error)");
    hearth_buf_free(&b);
    return ok;
}

static void test_urls(void)
{
    CHECK(norm("wss://relay.example.com", "wss://relay.example.com"));
    CHECK(norm("wss://relay.example.com/", "wss://relay.example.com"));
    CHECK(norm("WSS://Relay.Example.COM:443/", "wss://relay.example.com"));
    CHECK(norm("ws://h:80", "ws://h"));
    CHECK(norm("ws://h:443", "ws://h:443"));
    CHECK(norm("wss://h:80/", "wss://h:80"));
    CHECK(norm("ws://127.0.0.1:7447", "ws://127.0.0.1:7447"));
    CHECK(norm("wss://h/Path/", "wss://h/Path/"));
    CHECK(norm("wss://h?x=1", "wss://h/?x=1"));
    CHECK(norm("wss://h/a?b=c", "wss://h/a?b=c"));
    CHECK(norm("ws://[::1]:7447/", "ws://[::1]:7447"));
    CHECK(norm("ws://[::1]", "ws://[::1]"));
    CHECK(norm("https://h", NULL));
    CHECK(norm("wss://", NULL));
    CHECK(norm("wss://:443", NULL));
    CHECK(norm("wss://user@h", NULL));
    CHECK(norm("wss://h#frag", NULL));
    CHECK(norm("wss://h:0", NULL));
    CHECK(norm("wss://h:65536", NULL));
    CHECK(norm("wss://h:12a", NULL));
    CHECK(norm("wss://h h", NULL));
    CHECK(norm("wss://h/a b", NULL));
    CHECK(norm("wss://h/\x01", NULL));
    CHECK(norm("wss://h\xc3\xa9", NULL));
    CHECK(norm("ws://[::1", NULL));
    CHECK(norm(NULL, NULL));
    char longurl[400] = "wss://h/";
    memset(longurl + 8, 'a', 300);
    CHECK(norm(longurl, NULL));

    pool_url u;
    CHECK(pool_url_split("wss://relay.example.com", &u) == HEARTH_OK);
    CHECK(u.tls && u.port == 443 && !strcmp(u.host, "relay.example.com") &&
          !strcmp(u.path, "/"));
    CHECK(pool_url_split("ws://127.0.0.1:7447/x?y", &u) == HEARTH_OK);
    CHECK(!u.tls && u.port == 7447 && !strcmp(u.host, "127.0.0.1") &&
          !strcmp(u.path, "/x?y"));
    CHECK(pool_url_split("ws://[::1]:9", &u) == HEARTH_OK);
    CHECK(u.port == 9 && !strcmp(u.host, "::1"));
}

static void test_policy(void)
{
    static const struct {
        int ok;
        const char *msg;
        enum hearth_pub_action want;
    } cases[] = {
        {1, "", HEARTH_PUB_ACCEPT},
        {1, "duplicate: have it", HEARTH_PUB_ACCEPT},
        {1, "anything", HEARTH_PUB_ACCEPT},
        {0, "duplicate: already have this event", HEARTH_PUB_ACCEPT},
        {0, "invalid: bad signature", HEARTH_PUB_REJECT},
        {0, "blocked: you are banned", HEARTH_PUB_REJECT},
        {0, "pow: difficulty 3 is less than 20", HEARTH_PUB_REJECT},
        {0, "restricted: not allowed", HEARTH_PUB_REJECT},
        {0, "mute: no one was listening", HEARTH_PUB_REJECT},
        {0, "unsupported: kind", HEARTH_PUB_REJECT},
        {0, "whatever: else", HEARTH_PUB_REJECT},
        {0, "", HEARTH_PUB_REJECT},
        {0, "no prefix here", HEARTH_PUB_REJECT},
        {0, "rate-limited: slow down", HEARTH_PUB_RETRY},
        {0, "error: database unavailable", HEARTH_PUB_RETRY},
        {0, "auth-required: sign in", HEARTH_PUB_AUTH},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECKF(hearth_pub_policy(cases[i].ok, cases[i].msg) == cases[i].want,
               "ok=%d '%s'", cases[i].ok, cases[i].msg);
    CHECK(hearth_pub_policy(0, NULL) == HEARTH_PUB_REJECT);
}

static void test_nip11(void)
{
    hearth_relay_limits l;
    const char *doc = "{\"name\":\"x\",\"limitation\":{"
                      "\"max_message_length\":16384,\"max_subscriptions\":20,"
                      "\"max_limit\":500,\"min_pow_difficulty\":12,"
                      "\"auth_required\":true,\"payment_required\":false,"
                      "\"restricted_writes\":true,\"unknown\":[1]}}";
    CHECK(hearth_nip11_parse(doc, strlen(doc), &l) == HEARTH_OK);
    CHECK(l.fetched && l.max_message_length == 16384 &&
          l.max_subscriptions == 20 && l.max_limit == 500 &&
          l.min_pow_difficulty == 12 && l.auth_required &&
          !l.payment_required && l.restricted_writes);
    const char *wrong = "{\"limitation\":{\"max_message_length\":\"big\","
                        "\"max_subscriptions\":-3,\"min_pow_difficulty\":999,"
                        "\"auth_required\":\"yes\"}}";
    CHECK(hearth_nip11_parse(wrong, strlen(wrong), &l) == HEARTH_OK);
    CHECK(l.max_message_length == 0 && l.max_subscriptions == 0 &&
          l.min_pow_difficulty == 256 && !l.auth_required);
    CHECK(hearth_nip11_parse("{}", 2, &l) == HEARTH_OK && l.fetched);
    CHECK(hearth_nip11_parse("[]", 2, &l) == HEARTH_EINVAL);
    CHECK(hearth_nip11_parse("<html>", 6, &l) == HEARTH_EINVAL);
    CHECK(hearth_nip11_parse("", 0, &l) == HEARTH_EINVAL);
}

static void add_r(hearth_event *ev, const char *url, const char *marker)
{
    const char *v[3] = {"r", url, marker};
    CHECK(hearth_event_add_tag(ev, marker ? 3 : 2, v, NULL) == HEARTH_OK);
}

static void test_nip65(void)
{
    hearth_event *ev = NULL;
    hearth_relay_list l;
    CHECK(hearth_event_new(HEARTH_KIND_RELAY_LIST, 1700000000, "", 0, &ev) ==
          HEARTH_OK);
    add_r(ev, "wss://both.example.com/", NULL);
    add_r(ev, "wss://READ.example.com", "read");
    add_r(ev, "wss://write.example.com", "write");
    add_r(ev, "wss://both.example.com", "read");    /* duplicate */
    add_r(ev, "https://not-a-relay.example.com", NULL);
    add_r(ev, "wss://odd.example.com", "sometimes"); /* unknown marker */
    const char *p[2] = {"p", "x"};
    hearth_event_add_tag(ev, 2, p, NULL);
    const char *bare[1] = {"r"};
    hearth_event_add_tag(ev, 1, bare, NULL);
    CHECK(hearth_nip65_parse(ev, &l) == HEARTH_OK);
    CHECK(l.nread == 2 && l.nwrite == 2);
    if (l.nread == 2 && l.nwrite == 2) {
        CHECK(!strcmp(l.read[0], "wss://both.example.com"));
        CHECK(!strcmp(l.read[1], "wss://read.example.com"));
        CHECK(!strcmp(l.write[0], "wss://both.example.com"));
        CHECK(!strcmp(l.write[1], "wss://write.example.com"));
    }
    hearth_relay_list_clear(&l);
    CHECK(l.nread == 0 && l.nwrite == 0);
    hearth_event_free(ev);

    CHECK(hearth_event_new(1, 1700000000, "", 0, &ev) == HEARTH_OK);
    CHECK(hearth_nip65_parse(ev, &l) == HEARTH_EINVAL);
    hearth_event_free(ev);
    CHECK(hearth_nip65_parse(NULL, &l) == HEARTH_EINVAL);

    /* more than the cap: the rest is ignored, nothing overflows */
    CHECK(hearth_event_new(HEARTH_KIND_RELAY_LIST, 1, "", 0, &ev) ==
          HEARTH_OK);
    for (unsigned i = 0; i < HEARTH_POOL_MAX_RELAYS + 10; i++) {
        char url[64];
        snprintf(url, sizeof url, "wss://r%u.example.com", i);
        add_r(ev, url, "write");
    }
    CHECK(hearth_nip65_parse(ev, &l) == HEARTH_OK);
    CHECK(l.nwrite == HEARTH_POOL_MAX_RELAYS && l.nread == 0);
    hearth_relay_list_clear(&l);
    hearth_event_free(ev);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    test_backoff();
    test_seen_small();
    test_seen_model();
    test_seen_big();
    test_urls();
    test_policy();
    test_nip11();
    test_nip65();
    return tap_done();
}
