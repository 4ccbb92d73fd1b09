/* hearth_verifier: the per-thread cache of parsed public keys behind
 * hearth_event_verify_with. Results must match the stateless
 * hearth_schnorr_verify / hearth_event_verify exactly: cache hits, misses,
 * two keys sharing a slot, and invalid keys (never cached as valid). */
#include "hearth/error.h"
#include "hearth/event.h"
#include "hearth/hex.h"
#include "hearth/keys.h"
#include "tap.h"

#include <stdint.h>

static hearth_event *signed_note(const char *text, const uint8_t sk[32])
{
    hearth_event *ev = NULL;
    CHECK(hearth_event_new(1, 1700000000, text, strlen(text), &ev) == 0);
    CHECK(hearth_event_add_tagv(ev, "t", "hearth", NULL) == 0);
    CHECK(hearth_event_sign(ev, sk) == 0);
    return ev;
}

static void stats(const hearth_verifier *v, uint64_t *h, uint64_t *m)
{
    hearth_verifier_stats(v, h, m);
}

/* every BIP-340 verification vector, twice through one verifier: the
 * second pass is served from the cache and must agree */
static void test_bip340_twice(void)
{
    char *csv = tap_slurp("vectors/bip340-test-vectors.csv", NULL);
    hearth_verifier *v = hearth_verifier_new();
    CHECK(v != NULL);
    for (int pass = 0; pass < 2; pass++) {
        char *copy = strdup(csv), *save = NULL;
        int rows = 0;
        strtok_r(copy, "\r\n", &save);
        for (char *line = strtok_r(NULL, "\r\n", &save); line;
             line = strtok_r(NULL, "\r\n", &save)) {
            char *f[8];
            int n = 0;
            f[n++] = line;
            for (char *p = line; *p && n < 8; p++)
                if (*p == ',') {
                    *p = '\0';
                    f[n++] = p + 1;
                }
            if (n < 7)
                continue;
            uint8_t pk[32], msg[128], sig[64];
            size_t msglen = strlen(f[4]) / 2;
            CHECK(hearth_hex_decode(f[2], 64, pk, 32, 1) == 0);
            CHECK(hearth_hex_decode(f[4], strlen(f[4]), msg, msglen, 1) == 0);
            CHECK(hearth_hex_decode(f[5], 128, sig, 64, 1) == 0);
            int want = hearth_schnorr_verify(pk, msg, msglen, sig);
            int got = hearth_verifier_schnorr(v, pk, msg, msglen, sig);
            CHECKF(got == want && (want == 0) == !strcmp(f[6], "TRUE"),
                   "pass %d vector %s: %d want %d", pass, f[0], got, want);
            rows++;
        }
        CHECKF(rows == 19, "read %d rows", rows);
        free(copy);
    }
    uint64_t h, m;
    stats(v, &h, &m);
    CHECKF(h > 0 && h + m == 38, "hits %llu misses %llu",
           (unsigned long long)h, (unsigned long long)m);
    hearth_verifier_free(v);
    free(csv);
}

static void test_hit_and_miss(void)
{
    uint8_t sk[32];
    const char *why = NULL;
    uint64_t h, m;
    CHECK(hearth_key_generate(sk) == 0);
    hearth_event *a = signed_note("one", sk), *b = signed_note("two", sk);
    hearth_verifier *v = hearth_verifier_new();
    CHECK(v != NULL);
    CHECK(hearth_event_verify_with(v, a, &why) == HEARTH_OK);
    stats(v, &h, &m);
    CHECK(h == 0 && m == 1);
    CHECK(hearth_event_verify_with(v, b, &why) == HEARTH_OK);
    stats(v, &h, &m);
    CHECK(h == 1 && m == 1);
    /* a hit still checks the signature and the id */
    b->sig[3] ^= 1;
    CHECK(hearth_event_verify_with(v, b, &why) == HEARTH_EBADSIG);
    CHECK(!strcmp(why, "invalid: bad signature"));
    b->sig[3] ^= 1;
    b->id[0] ^= 1;
    CHECK(hearth_event_verify_with(v, b, &why) == HEARTH_EBADID);
    b->id[0] ^= 1;
    /* another author's key under a signature of this one: refused */
    uint8_t sk2[32];
    CHECK(hearth_key_generate(sk2) == 0);
    hearth_event *c = signed_note("three", sk2);
    memcpy(c->sig, a->sig, 64);
    CHECK(hearth_event_verify_with(v, c, &why) == HEARTH_EBADSIG);
    CHECK(hearth_event_verify_with(v, a, &why) == HEARTH_OK);
    /* NULL verifier: the stateless path */
    CHECK(hearth_event_verify_with(NULL, a, &why) == HEARTH_OK);
    hearth_verifier_stats(NULL, &h, &m);
    CHECK(h == 0 && m == 0);
    hearth_event_free(a);
    hearth_event_free(b);
    hearth_event_free(c);
    hearth_verifier_free(v);
    hearth_verifier_free(NULL);
}

/* two keys in one slot evict each other; each still verifies, and
 * neither's signatures pass under the other's cached key */
static void test_collision(void)
{
    uint8_t ska[32], skb[32];
    uint64_t h0, m0, h1, m1;
    CHECK(hearth_key_generate(ska) == 0);
    hearth_event *a = signed_note("a", ska), *b = NULL;
    hearth_verifier *v = hearth_verifier_new();
    CHECK(v != NULL);
    int found = 0;
    for (int i = 0; i < 20000 && !found; i++) {
        CHECK(hearth_key_generate(skb) == 0);
        hearth_event_free(b);
        b = signed_note("b", skb);
        CHECK(hearth_event_verify_with(v, a, NULL) == HEARTH_OK);
        CHECK(hearth_event_verify_with(v, b, NULL) == HEARTH_OK);
        stats(v, &h0, &m0);
        CHECK(hearth_event_verify_with(v, a, NULL) == HEARTH_OK);
        stats(v, &h1, &m1);
        found = m1 == m0 + 1; /* b pushed a out of its slot */
    }
    CHECKF(found, "no two keys shared a slot");
    /* a is cached now: b's event with a's signature fails, b alone passes */
    hearth_event *mixed = signed_note("b", skb);
    memcpy(mixed->sig, a->sig, 64);
    CHECK(hearth_event_verify_with(v, mixed, NULL) == HEARTH_EBADSIG);
    CHECK(hearth_event_verify_with(v, b, NULL) == HEARTH_OK);
    CHECK(hearth_event_verify_with(v, a, NULL) == HEARTH_OK);
    hearth_event_free(mixed);
    hearth_event_free(a);
    hearth_event_free(b);
    hearth_verifier_free(v);
}

/* a key that is not on the curve (BIP-340 vector 5) fails every time and
 * is never served from the cache */
static void test_bad_key_not_cached(void)
{
    static const char bad_hex[] =
        "EEFDEA4CDB677750A420FEE807EACF21EB9898AE79B9768766E4FAA04A2D4A34";
    uint8_t sk[32], bad[32];
    uint64_t h, m;
    CHECK(hearth_hex_decode(bad_hex, 64, bad, 32, 1) == 0);
    CHECK(!hearth_key_pubkey_valid(bad));
    CHECK(hearth_key_generate(sk) == 0);
    hearth_event *ev = signed_note("x", sk);
    hearth_verifier *v = hearth_verifier_new();
    CHECK(v != NULL);
    memcpy(ev->pubkey, bad, 32);
    CHECK(hearth_event_compute_id(ev, ev->id) == 0);
    for (int i = 0; i < 3; i++) {
        const char *why = NULL;
        CHECK(hearth_event_verify_with(v, ev, &why) == HEARTH_EBADSIG);
        CHECK(!strcmp(why, "invalid: bad signature"));
    }
    stats(v, &h, &m);
    CHECKF(h == 0 && m == 3, "hits %llu misses %llu", (unsigned long long)h,
           (unsigned long long)m);
    /* the slot it tried stays usable for a valid key */
    hearth_event *ok = signed_note("y", sk);
    CHECK(hearth_event_verify_with(v, ok, NULL) == HEARTH_OK);
    CHECK(hearth_event_verify_with(v, ok, NULL) == HEARTH_OK);
    stats(v, &h, &m);
    CHECK(h == 1 && m == 4);
    hearth_event_free(ok);
    hearth_event_free(ev);
    hearth_verifier_free(v);
}

int main(void)
{
    test_bip340_twice();
    test_hit_and_miss();
    test_collision();
    test_bad_key_not_cached();
    return tap_done();
}
