/* NIP-19 and bech32: the examples of the NIP-19 text, the BIP-173 (and
 * BIP-350, as must-reject) test vectors, round trips of all six entities
 * with random data, and every rejection with its reason. */
#include "hearth/error.h"
#include "hearth/hex.h"
#include "hearth/nip19.h"
#include "tap.h"

#include <stdint.h>

/* ---- helpers ---------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

/* xorshift64*: seeded, so a failure reproduces (HEARTH_TEST_SEED to vary) */
static uint32_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545f4914f6cdd1dull) >> 32);
}

static void rnd_bytes(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)rnd();
}

static void unhex(const char *hex, uint8_t *out, size_t n)
{
    if (hearth_hex_decode(hex, strlen(hex), out, n, 0)) {
        fprintf(stderr, "bad hex in test: %s\n", hex);
        exit(1);
    }
}

/* A TLV payload under construction. */
typedef struct payload {
    uint8_t p[4096];
    size_t n;
} payload;

static void tlv(payload *pl, unsigned t, const void *v, size_t l)
{
    pl->p[pl->n++] = (uint8_t)t;
    pl->p[pl->n++] = (uint8_t)l;
    memcpy(pl->p + pl->n, v, l);
    pl->n += l;
}

/* l bytes of value fill */
static void tlv_fill(payload *pl, unsigned t, size_t l, uint8_t fill)
{
    uint8_t v[255];
    memset(v, fill, l);
    tlv(pl, t, v, l);
}

static void tlv_kind(payload *pl, uint32_t k)
{
    uint8_t v[4] = {(uint8_t)(k >> 24), (uint8_t)(k >> 16), (uint8_t)(k >> 8),
                    (uint8_t)k};
    tlv(pl, 3, v, 4);
}

/* bech32 of arbitrary bytes; valid until the next call */
static const char *bech(const char *hrp, const void *p, size_t n)
{
    static hearth_buf b = HEARTH_BUF_INIT;
    hearth_buf_reset(&b);
    if (hearth_bech32_encode(hrp, p, n, &b)) {
        fprintf(stderr, "test setup: cannot encode %s payload\n", hrp);
        exit(1);
    }
    return b.p;
}

/* Decoding s must fail with code and exactly this reason. */
static void reject_n(const char *s, size_t n, int code, const char *reason)
{
    hearth_nip19 x;
    const char *why = NULL;
    int rc = hearth_nip19_decode(s, n, &x, &why);
    if (rc == HEARTH_OK)
        hearth_nip19_clear(&x);
    CHECKF(rc == code, "%.80s: rc %d, want %d (%s)", s, rc, code,
           why ? why : "no reason");
    CHECKF(why && !strcmp(why, reason), "%.80s: reason '%s', want '%s'", s,
           why ? why : "(null)", reason);
    /* a failed decode leaves nothing to free */
    CHECK(x.nrelays == 0 && x.identifier == NULL);
}

static void reject(const char *s, int code, const char *reason)
{
    reject_n(s, strlen(s), code, reason);
}

static int decode(const char *s, hearth_nip19 *x)
{
    const char *why = NULL;
    int rc = hearth_nip19_decode(s, strlen(s), x, &why);
    CHECKF(rc == HEARTH_OK, "%.80s: %s", s, why ? why : "(no reason)");
    return rc;
}

/* ---- NIP-19 examples -------------------------------------------------- */

static void check_bare(const char *bech32, const char *hrp, const char *hex)
{
    uint8_t want[32], got[32];
    hearth_buf b = HEARTH_BUF_INIT;
    unhex(hex, want, 32);
    CHECK(hearth_nip19_encode32(hrp, want, &b) == HEARTH_OK);
    CHECKF(b.p && !strcmp(b.p, bech32), "encode %s: %s", hex, b.p);
    CHECK(hearth_nip19_decode32(bech32, hrp, got) == HEARTH_OK);
    CHECK(!memcmp(got, want, 32));
    hearth_nip19 x;
    if (decode(bech32, &x) == HEARTH_OK) {
        CHECK(!strcmp(hrp, "npub") ? x.type == HEARTH_NIP19_NPUB
                                   : x.type == HEARTH_NIP19_NSEC);
        CHECK(!memcmp(x.data, want, 32));
        hearth_nip19_clear(&x);
    }
    hearth_buf_free(&b);
}

static void test_spec_examples(void)
{
    check_bare("npub180cvv07tjdrrgpa0j7j7tmnyl2yr6yr7l8j4s3evf6u64th6gkwsyjh6w6",
               "npub",
               "3bf0c63fcb93463407af97a5e5ee64fa883d107ef9e558472c4eb9aaaefa459d");
    check_bare("npub10elfcs4fr0l0r8af98jlmgdh9c8tcxjvz9qkw038js35mp4dma8qzvjptg",
               "npub",
               "7e7e9c42a91bfef19fa929e5fda1b72e0ebc1a4c1141673e2794234d86addf4e");
    check_bare("nsec1vl029mgpspedva04g90vltkh6fvh240zqtv9k0t9af8935ke9laqsnlfe5",
               "nsec",
               "67dea2ed018072d675f5415ecfaed7d2597555e202d85b3d65ea4e58d2d92ffa");

    const char *np = "nprofile1qqsrhuxx8l9ex335q7he0f09aej04zpazpl0ne2cgukyawd"
                     "24mayt8gpp4mhxue69uhhytnc9e3k7mgpz4mhxue69uhkg6nzv9ejuum"
                     "pv34kytnrdaksjlyr9p";
    uint8_t pk[32];
    unhex("3bf0c63fcb93463407af97a5e5ee64fa883d107ef9e558472c4eb9aaaefa459d",
          pk, 32);
    hearth_nip19 x;
    if (decode(np, &x) == HEARTH_OK) {
        CHECK(x.type == HEARTH_NIP19_NPROFILE);
        CHECK(!memcmp(x.data, pk, 32));
        CHECK(x.nrelays == 2);
        CHECK(x.nrelays == 2 && !strcmp(x.relays[0], "wss://r.x.com"));
        CHECK(x.nrelays == 2 && !strcmp(x.relays[1], "wss://djbas.sadkb.com"));
        CHECK(!x.has_author && !x.has_kind && !x.identifier);
        /* and back: our encoder emits the same item order */
        hearth_buf b = HEARTH_BUF_INIT;
        CHECK(hearth_nip19_encode(&x, &b) == HEARTH_OK);
        CHECKF(b.p && !strcmp(b.p, np), "re-encoded: %s", b.p);
        hearth_buf_free(&b);
        hearth_nip19_clear(&x);
    }
    /* the TLV bytes themselves: type 0, length 32, the key */
    char hrp[84];
    hearth_buf d = HEARTH_BUF_INIT;
    CHECK(hearth_bech32_decode(np, strlen(np), hrp, &d) == HEARTH_OK);
    CHECK(!strcmp(hrp, "nprofile"));
    CHECK(d.len == 2 + 32 + 2 + 13 + 2 + 21);
    CHECK(d.len > 34 && d.p[0] == 0 && d.p[1] == 32 &&
          !memcmp(d.p + 2, pk, 32));
    hearth_buf_free(&d);
}

/* ---- BIP-173 ---------------------------------------------------------- */

static void bip173_valid(const char *s, const char *hrp_want,
                         const char *hex_want, size_t nbytes)
{
    char hrp[84], lower[100];
    hearth_buf d = HEARTH_BUF_INIT, e = HEARTH_BUF_INIT;
    int rc = hearth_bech32_decode(s, strlen(s), hrp, &d);
    CHECKF(rc == HEARTH_OK, "%s: rc %d", s, rc);
    if (rc)
        return;
    CHECKF(!strcmp(hrp, hrp_want), "%s: hrp %s", s, hrp);
    CHECKF(d.len == nbytes, "%s: %zu bytes", s, d.len);
    if (hex_want) {
        hearth_buf h = HEARTH_BUF_INIT;
        hearth_buf_addhex(&h, (const uint8_t *)d.p, d.len);
        CHECKF(!strcmp(h.p ? h.p : "", hex_want), "%s: data %s", s, h.p);
        hearth_buf_free(&h);
    } else {
        size_t zero = 0;
        while (zero < d.len && d.p[zero] == 0)
            zero++;
        CHECK(zero == d.len);
    }
    /* encoders emit lowercase: re-encoding gives the lowercase input */
    size_t n = strlen(s);
    for (size_t i = 0; i <= n; i++)
        lower[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]);
    CHECK(hearth_bech32_encode(hrp, (const uint8_t *)d.p, d.len, &e) ==
          HEARTH_OK);
    CHECKF(e.p && !strcmp(e.p, lower), "%s re-encoded as %s", s, e.p);
    hearth_buf_free(&d);
    hearth_buf_free(&e);
}

static void test_bip173_valid(void)
{
    bip173_valid("A12UEL5L", "a", "", 0);
    bip173_valid("a12uel5l", "a", "", 0);
    bip173_valid("an83characterlonghumanreadablepartthatcontainsthenumber1and"
                 "theexcludedcharactersbio1tt5tgs",
                 "an83characterlonghumanreadablepartthatcontainsthenumber1and"
                 "theexcludedcharactersbio",
                 "", 0);
    bip173_valid("abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw", "abcdef",
                 "00443214c74254b635cf84653a56d7c675be77df", 20);
    bip173_valid("11qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq"
                 "qqqqqqqqqqqqqqqqqqqqqqqqc8247j",
                 "1", NULL, 51);
    bip173_valid("split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
                 "split",
                 "c5f38b70305f519bf66d85fb6cf03058f3dde463ecd7918f2dc743918f2d",
                 30);
    bip173_valid("?1ezyfcl", "?", "", 0);
}

/* Rejected both by the generic decoder and, with this reason, by NIP-19 */
static void bad_bech32(const char *s, int code, const char *reason)
{
    char hrp[84];
    hearth_buf d = HEARTH_BUF_INIT;
    hearth_buf_adds(&d, "keep");
    int rc = hearth_bech32_decode(s, strlen(s), hrp, &d);
    CHECKF(rc == code, "%.60s: rc %d", s, rc);
    CHECKF(d.len == 4 && !strcmp(d.p, "keep"), "%.60s: output touched", s);
    hearth_buf_free(&d);
    reject(s, code, reason);
}

static void test_bip173_invalid(void)
{
    const char *range = "invalid: bech32 character out of range";
    const char *empty = "invalid: bech32 prefix (hrp) is empty";
    bad_bech32("\x20" "1nwldj5", HEARTH_EINVAL, range);
    bad_bech32("\x7f" "1axkwrx", HEARTH_EINVAL, range);
    bad_bech32("\x80" "1eym55h", HEARTH_EINVAL, range);
    /* BIP-173's "overall max length exceeded": NIP-19 lifts the 90 limit,
     * but this string's 84-character prefix is still refused */
    bad_bech32("an84characterslonghumanreadablepartthatcontainsthenumber1and"
               "theexcludedcharactersbio1569pvx",
               HEARTH_EINVAL,
               "invalid: bech32 prefix longer than 83 characters");
    bad_bech32("pzry9x0s0muk", HEARTH_EINVAL,
               "invalid: bech32 separator '1' missing");
    bad_bech32("1pzry9x0s0muk", HEARTH_EINVAL, empty);
    bad_bech32("x1b4n0q5v", HEARTH_EINVAL,
               "invalid: bech32 data character outside the bech32 alphabet");
    bad_bech32("li1dgmt3", HEARTH_EINVAL,
               "invalid: bech32 checksum too short");
    bad_bech32("de1lg7wt\xff", HEARTH_EINVAL, range);
    bad_bech32("A1G7SGD8", HEARTH_EINVAL, "invalid: bad bech32 checksum");
    bad_bech32("10a06t8", HEARTH_EINVAL, empty);
    bad_bech32("1qzzfhee", HEARTH_EINVAL, empty);
    /* from the segwit lists */
    bad_bech32("tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sL5k7",
               HEARTH_EINVAL,
               "invalid: bech32 string mixes upper and lower case");
    bad_bech32("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5", HEARTH_EINVAL,
               "invalid: bad bech32 checksum");
    /* a valid segwit address, but its 33 data characters are 20 bytes and
     * 5 bits: not a byte payload */
    bad_bech32("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", HEARTH_EINVAL,
               "invalid: bech32 padding longer than 4 bits");

    /* BIP-350: valid bech32m is never valid bech32 (NIP-19 is bech32) */
    static const char *const bech32m[] = {
        "A1LQFN3A", "a1lqfn3a",
        "an83characterlonghumanreadablepartthatcontainsthetheexcludedcharacte"
        "rsbioandnumber11sg7hg6",
        "abcdef1l7aum6echk45nj3s0wdvt2fg8x9yrzpqzd3ryx",
        "11llllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllll"
        "llllllllllllllllludsr8",
        "split1checkupstagehandshakeupstreamerranterredcaperredlc445v",
        "?1v759aa"};
    for (size_t i = 0; i < sizeof bech32m / sizeof bech32m[0]; i++)
        bad_bech32(bech32m[i], HEARTH_EINVAL,
                   "invalid: bech32m checksum (NIP-19 uses bech32)");
}

/* ---- bech32 rules on NIP-19 strings ----------------------------------- */

static void test_bech32_rules(void)
{
    const char *npub =
        "npub180cvv07tjdrrgpa0j7j7tmnyl2yr6yr7l8j4s3evf6u64th6gkwsyjh6w6";
    uint8_t want[32], got[32];
    unhex("3bf0c63fcb93463407af97a5e5ee64fa883d107ef9e558472c4eb9aaaefa459d",
          want, 32);

    /* all uppercase is valid (QR codes); mixed case is not */
    char up[100];
    for (size_t i = 0; i <= strlen(npub); i++)
        up[i] = (char)(npub[i] >= 'a' && npub[i] <= 'z' ? npub[i] - 32
                                                         : npub[i]);
    hearth_nip19 x;
    if (decode(up, &x) == HEARTH_OK) {
        CHECK(x.type == HEARTH_NIP19_NPUB && !memcmp(x.data, want, 32));
        hearth_nip19_clear(&x);
    }
    CHECK(hearth_nip19_decode32(up, "npub", got) == HEARTH_OK &&
          !memcmp(got, want, 32));
    char mixed[100];
    strcpy(mixed, npub);
    mixed[7] = 'C'; /* npub180c... */
    reject(mixed, HEARTH_EINVAL,
           "invalid: bech32 string mixes upper and lower case");

    /* one wrong character, anywhere in the data part: always caught
     * (bech32 detects any 4 substitutions in strings this short) */
    static const char cs[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
    int caught = 0, tried = 0;
    for (size_t i = 5; i < strlen(npub); i++)
        for (const char *c = cs; *c; c++) {
            char t[100];
            if (*c == npub[i])
                continue;
            strcpy(t, npub);
            t[i] = *c;
            tried++;
            caught += hearth_nip19_decode32(t, "npub", got) == HEARTH_EINVAL;
        }
    CHECKF(caught == tried && tried == 58 * 31, "%d of %d caught", caught,
           tried);
    /* the same key in a changed prefix fails the checksum too */
    char nsec[100];
    strcpy(nsec, npub);
    memcpy(nsec, "nsec", 4);
    reject(nsec, HEARTH_EINVAL, "invalid: bad bech32 checksum");

    /* characters that are not in the alphabet, or not printable */
    char t[100];
    strcpy(t, npub);
    t[20] = 'b';
    reject(t, HEARTH_EINVAL,
           "invalid: bech32 data character outside the bech32 alphabet");
    strcpy(t, npub);
    t[20] = ' ';
    reject(t, HEARTH_EINVAL, "invalid: bech32 character out of range");
    reject_n("npub1\0", 6, HEARTH_EINVAL,
             "invalid: bech32 character out of range");
    reject("npub", HEARTH_EINVAL, "invalid: bech32 separator '1' missing");
    reject("", HEARTH_EINVAL, "invalid: bech32 separator '1' missing");
    reject("npub1qqqqq", HEARTH_EINVAL, "invalid: bech32 checksum too short");

    /* padding: the same key with a non-zero pad bit, and with its last
     * data character dropped (31 bytes and 7 bits), each with a correct
     * checksum. Built with an independent bech32 implementation. */
    reject("npub180cvv07tjdrrgpa0j7j7tmnyl2yr6yr7l8j4s3evf6u64th6gkw3eyr0ng",
           HEARTH_EINVAL, "invalid: bech32 padding bits are not zero");
    reject("npub180cvv07tjdrrgpa0j7j7tmnyl2yr6yr7l8j4s3evf6u64th6gkw9r0f3g",
           HEARTH_EINVAL, "invalid: bech32 padding longer than 4 bits");
    /* the example key with a bech32m checksum */
    reject("npub180cvv07tjdrrgpa0j7j7tmnyl2yr6yr7l8j4s3evf6u64th6gkws3w8ktc",
           HEARTH_EINVAL, "invalid: bech32m checksum (NIP-19 uses bech32)");
}

static void test_length_limit(void)
{
    static uint8_t big[4000];
    hearth_buf b = HEARTH_BUF_INIT, d = HEARTH_BUF_INIT;
    char hrp[84];
    rnd_bytes(big, sizeof big);
    /* "x1" + 4992 data characters + 6 = exactly HEARTH_NIP19_MAX_LEN */
    CHECK(hearth_bech32_encode("x", big, 3120, &b) == HEARTH_OK);
    CHECK(b.len == HEARTH_NIP19_MAX_LEN);
    CHECK(hearth_bech32_decode(b.p, b.len, hrp, &d) == HEARTH_OK);
    CHECK(d.len == 3120 && !memcmp(d.p, big, 3120));
    hearth_buf_reset(&b);
    CHECK(hearth_bech32_encode("x", big, 3121, &b) == HEARTH_ETOOBIG);
    CHECK(hearth_bech32_encode("x", big, sizeof big, &b) == HEARTH_ETOOBIG);

    /* one character over: refused before anything else is looked at */
    char *s = malloc(HEARTH_NIP19_MAX_LEN + 2);
    memset(s, 'q', HEARTH_NIP19_MAX_LEN + 1);
    memcpy(s, "nprofile1", 9);
    s[HEARTH_NIP19_MAX_LEN + 1] = '\0';
    reject(s, HEARTH_ETOOBIG,
           "invalid: bech32 string longer than 5000 characters");
    hearth_buf_reset(&d);
    CHECK(hearth_bech32_decode(s, strlen(s), hrp, &d) == HEARTH_ETOOBIG);
    uint8_t out[32];
    CHECK(hearth_nip19_decode32(s, "npub", out) == HEARTH_ETOOBIG);
    free(s);
    hearth_buf_free(&b);
    hearth_buf_free(&d);
}

/* ---- TLV -------------------------------------------------------------- */

static void test_tlv_rejects(void)
{
    payload pl;
    const char *nonascii = "invalid: TLV relay is empty or not printable ASCII";
    const char *notutf8 = "invalid: naddr identifier (TLV 0) is not UTF-8";

    reject(bech("nrelay", "\x00\x03wss", 5), HEARTH_EINVAL,
           "invalid: unknown NIP-19 prefix (expected npub, nsec, note, "
           "nprofile, nevent or naddr)");
    reject(bech("npubx", "", 0), HEARTH_EINVAL,
           "invalid: unknown NIP-19 prefix (expected npub, nsec, note, "
           "nprofile, nevent or naddr)");
    uint8_t k[33] = {0};
    const char *bare32 = "invalid: npub, nsec and note must hold 32 bytes";
    reject(bech("npub", k, 31), HEARTH_EINVAL, bare32);
    reject(bech("nsec", k, 33), HEARTH_EINVAL, bare32);
    reject(bech("note", k, 0), HEARTH_EINVAL, bare32);

    pl.n = 0;
    tlv_fill(&pl, 0, 31, 7);
    reject(bech("nprofile", pl.p, pl.n), HEARTH_EINVAL,
           "invalid: nprofile pubkey (TLV 0) is not 32 bytes");
    pl.n = 0;
    tlv_fill(&pl, 0, 33, 7);
    reject(bech("nevent", pl.p, pl.n), HEARTH_EINVAL,
           "invalid: nevent id (TLV 0) is not 32 bytes");

    /* required items */
    pl.n = 0;
    tlv(&pl, 1, "wss://a", 7);
    reject(bech("nprofile", pl.p, pl.n), HEARTH_EINVAL,
           "invalid: nprofile has no pubkey (TLV 0)");
    reject(bech("nprofile", "", 0), HEARTH_EINVAL,
           "invalid: nprofile has no pubkey (TLV 0)");
    reject(bech("nevent", pl.p, pl.n), HEARTH_EINVAL,
           "invalid: nevent has no event id (TLV 0)");
    pl.n = 0;
    tlv_fill(&pl, 2, 32, 1);
    tlv_kind(&pl, 30023);
    reject(bech("naddr", pl.p, pl.n), HEARTH_EINVAL,
           "invalid: naddr has no identifier (TLV 0)");
    pl.n = 0;
    tlv(&pl, 0, "x", 1);
    tlv_kind(&pl, 30023);
    reject(bech("naddr", pl.p, pl.n), HEARTH_EINVAL,
           "invalid: naddr has no author (TLV 2)");
    pl.n = 0;
    tlv(&pl, 0, "x", 1);
    tlv_fill(&pl, 2, 32, 1);
    reject(bech("naddr", pl.p, pl.n), HEARTH_EINVAL,
           "invalid: naddr has no kind (TLV 3)");

    /* framing */
    pl.n = 0;
    tlv_fill(&pl, 0, 32, 9);
    pl.p[pl.n++] = 1;
    reject(bech("nprofile", pl.p, pl.n), HEARTH_EINVAL,
           "invalid: truncated TLV header");
    pl.n = 0;
    tlv_fill(&pl, 0, 32, 9);
    pl.n -= 1;
    reject(bech("nevent", pl.p, pl.n), HEARTH_EINVAL,
           "invalid: TLV value runs past the end");
    pl.n = 0;
    tlv_fill(&pl, 0, 32, 9);
    tlv(&pl, 77, "abc", 3);
    pl.n -= 1; /* an unknown type must still fit */
    reject(bech("nevent", pl.p, pl.n), HEARTH_EINVAL,
           "invalid: TLV value runs past the end");

    /* repeats of single-valued types */
    pl.n = 0;
    tlv_fill(&pl, 0, 32, 9);
    tlv_fill(&pl, 0, 32, 8);
    reject(bech("nprofile", pl.p, pl.n), HEARTH_EINVAL,
           "invalid: TLV 0 (special) appears twice");
    pl.n = 0;
    tlv_fill(&pl, 0, 32, 9);
    tlv_fill(&pl, 2, 32, 1);
    tlv_fill(&pl, 2, 32, 2);
    reject(bech("nevent", pl.p, pl.n), HEARTH_EINVAL,
           "invalid: TLV 2 (author) appears twice");
    pl.n = 0;
    tlv(&pl, 0, "d", 1);
    tlv_fill(&pl, 2, 32, 1);
    tlv_kind(&pl, 1);
    tlv_kind(&pl, 2);
    reject(bech("naddr", pl.p, pl.n), HEARTH_EINVAL,
           "invalid: TLV 3 (kind) appears twice");

    /* wrong lengths of known types */
    for (size_t l = 0; l < 40; l += 31) { /* 0 and 31 */
        pl.n = 0;
        tlv_fill(&pl, 0, 32, 9);
        tlv_fill(&pl, 2, l, 1);
        reject(bech("nevent", pl.p, pl.n), HEARTH_EINVAL,
               "invalid: TLV author is not 32 bytes");
    }
    pl.n = 0;
    tlv(&pl, 0, "d", 1);
    tlv_fill(&pl, 2, 33, 1);
    tlv_kind(&pl, 1);
    reject(bech("naddr", pl.p, pl.n), HEARTH_EINVAL,
           "invalid: TLV author is not 32 bytes");
    for (size_t l = 3; l <= 5; l += 2) {
        pl.n = 0;
        tlv_fill(&pl, 0, 32, 9);
        tlv_fill(&pl, 3, l, 1);
        reject(bech("nevent", pl.p, pl.n), HEARTH_EINVAL,
               "invalid: TLV kind is not 4 bytes");
    }

    /* relays */
    static const char *const badrelay[] = {"", "wss://a b", "wss://\x7f",
                                           "wss://\xc3\xa9", "\n"};
    for (size_t i = 0; i < sizeof badrelay / sizeof badrelay[0]; i++) {
        pl.n = 0;
        tlv_fill(&pl, 0, 32, 9);
        tlv(&pl, 1, badrelay[i], strlen(badrelay[i]));
        reject(bech("nprofile", pl.p, pl.n), HEARTH_EINVAL, nonascii);
    }
    pl.n = 0;
    tlv_fill(&pl, 0, 32, 9);
    for (int i = 0; i < 17; i++)
        tlv(&pl, 1, "wss://r.example", 15);
    reject(bech("nevent", pl.p, pl.n), HEARTH_ETOOBIG,
           "invalid: more than 16 TLV relays");
    hearth_nip19 x;
    pl.n -= 17; /* 16 is the limit, not past it */
    if (decode(bech("nevent", pl.p, pl.n), &x) == HEARTH_OK) {
        CHECK(x.nrelays == 16 && !strcmp(x.relays[15], "wss://r.example"));
        hearth_nip19_clear(&x);
    }

    /* naddr identifiers must be UTF-8: overlong, surrogate, past
     * U+10FFFF, truncated, stray continuation, invalid lead byte */
    static const char *const badid[] = {"\xc0\x80", "\xe0\x80\xaf",
                                        "\xed\xa0\x80", "\xf4\x90\x80\x80",
                                        "ab\xe2\x82", "\x80", "\xff",
                                        "\xf0\x9f\x98"};
    for (size_t i = 0; i < sizeof badid / sizeof badid[0]; i++) {
        pl.n = 0;
        tlv(&pl, 0, badid[i], strlen(badid[i]));
        tlv_fill(&pl, 2, 32, 1);
        tlv_kind(&pl, 30023);
        reject(bech("naddr", pl.p, pl.n), HEARTH_EINVAL, notutf8);
    }
}

static void test_tlv_accepts(void)
{
    payload pl;
    hearth_nip19 x;
    uint8_t id[32], au[32];
    rnd_bytes(id, 32);
    rnd_bytes(au, 32);

    /* unknown types are skipped wherever they appear; for nprofile, 2 and
     * 3 are not defined, so even a wrong length there is ignored */
    pl.n = 0;
    tlv(&pl, 9, "skip", 4);
    tlv(&pl, 0, id, 32);
    tlv(&pl, 255, "", 0);
    tlv(&pl, 1, "wss://a", 7);
    tlv(&pl, 2, "short", 5);
    tlv(&pl, 3, "x", 1);
    tlv(&pl, 4, id, 32);
    if (decode(bech("nprofile", pl.p, pl.n), &x) == HEARTH_OK) {
        CHECK(x.type == HEARTH_NIP19_NPROFILE && !memcmp(x.data, id, 32));
        CHECK(x.nrelays == 1 && !strcmp(x.relays[0], "wss://a"));
        CHECK(!x.has_author && !x.has_kind);
        hearth_nip19_clear(&x);
    }

    /* any order; kind is big-endian */
    pl.n = 0;
    tlv_kind(&pl, 0x01020304);
    tlv(&pl, 2, au, 32);
    tlv(&pl, 1, "wss://b", 7);
    tlv(&pl, 0, "", 0); /* empty identifier: a replaceable event */
    if (decode(bech("naddr", pl.p, pl.n), &x) == HEARTH_OK) {
        CHECK(x.type == HEARTH_NIP19_NADDR);
        CHECK(x.has_kind && x.kind == 0x01020304);
        CHECK(x.has_author && !memcmp(x.author, au, 32));
        CHECK(x.identifier && x.identifier_len == 0 && !*x.identifier);
        CHECK(x.nrelays == 1);
        hearth_nip19_clear(&x);
        CHECK(x.identifier == NULL && x.nrelays == 0);
    }

    /* identifiers: multibyte UTF-8 and an embedded NUL survive */
    static const char id_ok[] = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\0z";
    pl.n = 0;
    tlv(&pl, 0, id_ok, sizeof id_ok - 1);
    tlv(&pl, 2, au, 32);
    tlv_kind(&pl, 30023);
    if (decode(bech("naddr", pl.p, pl.n), &x) == HEARTH_OK) {
        CHECK(x.identifier_len == sizeof id_ok - 1);
        CHECK(!memcmp(x.identifier, id_ok, sizeof id_ok));
        hearth_nip19_clear(&x);
    }

    /* nevent: author and kind optional */
    pl.n = 0;
    tlv(&pl, 0, id, 32);
    if (decode(bech("nevent", pl.p, pl.n), &x) == HEARTH_OK) {
        CHECK(x.type == HEARTH_NIP19_NEVENT && !memcmp(x.data, id, 32));
        CHECK(!x.has_author && !x.has_kind && x.nrelays == 0);
        hearth_nip19_clear(&x);
    }

    /* the encoder writes kind big-endian, after the author */
    x = (hearth_nip19){.type = HEARTH_NIP19_NEVENT, .has_kind = 1,
                       .kind = 0xa1b2c3d4};
    memcpy(x.data, id, 32);
    hearth_buf b = HEARTH_BUF_INIT, d = HEARTH_BUF_INIT;
    char hrp[84];
    CHECK(hearth_nip19_encode(&x, &b) == HEARTH_OK);
    CHECK(hearth_bech32_decode(b.p, b.len, hrp, &d) == HEARTH_OK);
    CHECK(d.len == 40 && !memcmp(d.p + 34, "\x03\x04\xa1\xb2\xc3\xd4", 6));
    hearth_buf_free(&b);
    hearth_buf_free(&d);
}

static void test_encode_rejects(void)
{
    hearth_buf b = HEARTH_BUF_INIT;
    uint8_t k[32] = {1};
    char hrp84[85];
    memset(hrp84, 'a', 84);
    hrp84[84] = '\0';
    CHECK(hearth_bech32_encode("", k, 32, &b) == HEARTH_EINVAL);
    CHECK(hearth_bech32_encode("NPUB", k, 32, &b) == HEARTH_EINVAL);
    CHECK(hearth_bech32_encode("a b", k, 32, &b) == HEARTH_EINVAL);
    CHECK(hearth_bech32_encode(hrp84, k, 0, &b) == HEARTH_EINVAL);
    CHECK(hearth_bech32_encode(hrp84 + 1, k, 0, &b) == HEARTH_OK);
    hearth_buf_reset(&b);
    CHECK(hearth_nip19_encode32("nprofile", k, &b) == HEARTH_EINVAL);
    CHECK(hearth_nip19_encode32("npubx", k, &b) == HEARTH_EINVAL);
    CHECK(b.len == 0);

    hearth_nip19 x = {.type = HEARTH_NIP19_NADDR, .has_kind = 1};
    char *relays[HEARTH_NIP19_MAX_RELAYS + 1];
    CHECK(hearth_nip19_encode(&x, &b) == HEARTH_EINVAL); /* no author */
    x.has_author = 1;
    x.has_kind = 0;
    CHECK(hearth_nip19_encode(&x, &b) == HEARTH_EINVAL); /* no kind */
    x.has_kind = 1;
    CHECK(hearth_nip19_encode(&x, &b) == HEARTH_OK); /* NULL identifier = "" */
    hearth_buf_reset(&b);
    x.identifier_len = 3;
    CHECK(hearth_nip19_encode(&x, &b) == HEARTH_EINVAL); /* NULL, len 3 */
    char longid[300];
    memset(longid, 'i', sizeof longid);
    x.identifier = longid;
    x.identifier_len = 256;
    CHECK(hearth_nip19_encode(&x, &b) == HEARTH_EINVAL); /* over 255 */
    x.identifier_len = 255;
    CHECK(hearth_nip19_encode(&x, &b) == HEARTH_OK);
    hearth_buf_reset(&b);
    x.identifier = "\xc0\x80";
    x.identifier_len = 2;
    CHECK(hearth_nip19_encode(&x, &b) == HEARTH_EINVAL); /* not UTF-8 */

    x = (hearth_nip19){.type = HEARTH_NIP19_NPROFILE, .relays = {NULL}};
    x.nrelays = 1;
    CHECK(hearth_nip19_encode(&x, &b) == HEARTH_EINVAL); /* NULL relay */
    x.relays[0] = "";
    CHECK(hearth_nip19_encode(&x, &b) == HEARTH_EINVAL);
    x.relays[0] = "wss://a b";
    CHECK(hearth_nip19_encode(&x, &b) == HEARTH_EINVAL);
    x.relays[0] = longid;
    longid[256] = '\0';
    CHECK(hearth_nip19_encode(&x, &b) == HEARTH_EINVAL); /* 256 chars */
    longid[255] = '\0';
    CHECK(hearth_nip19_encode(&x, &b) == HEARTH_OK);
    hearth_buf_reset(&b);
    x.nrelays = HEARTH_NIP19_MAX_RELAYS + 1;
    for (size_t i = 0; i < x.nrelays; i++)
        relays[i] = "wss://r";
    memcpy(x.relays, relays, sizeof x.relays);
    CHECK(hearth_nip19_encode(&x, &b) == HEARTH_EINVAL);
    /* 12 relays of 255 characters fit the TLV space but not 5000 chars */
    x.nrelays = 12;
    for (size_t i = 0; i < x.nrelays; i++)
        x.relays[i] = longid;
    CHECK(hearth_nip19_encode(&x, &b) == HEARTH_ETOOBIG);
    x.nrelays = 11;
    CHECK(hearth_nip19_encode(&x, &b) == HEARTH_OK);
    CHECK(b.len <= HEARTH_NIP19_MAX_LEN);
    hearth_buf_reset(&b);

    x.type = (hearth_nip19_type)42;
    CHECK(hearth_nip19_encode(&x, &b) == HEARTH_EINVAL);
    CHECK(b.len == 0);
    hearth_buf_free(&b);
}

static void test_decode32(void)
{
    const char *npub =
        "npub10elfcs4fr0l0r8af98jlmgdh9c8tcxjvz9qkw038js35mp4dma8qzvjptg";
    uint8_t out[32], before[32];
    memset(out, 0xaa, 32);
    memcpy(before, out, 32);
    CHECK(hearth_nip19_decode32(npub, "nsec", out) == HEARTH_EINVAL);
    CHECK(hearth_nip19_decode32(npub, "note", out) == HEARTH_EINVAL);
    CHECK(hearth_nip19_decode32(
              "nprofile1qqsrhuxx8l9ex335q7he0f09aej04zpazpl0ne2cgukyawd24mayt"
              "8gpp4mhxue69uhhytnc9e3k7mgpz4mhxue69uhkg6nzv9ejuumpv34kytnrdak"
              "sjlyr9p",
              "nprofile", out) == HEARTH_EINVAL);
    CHECK(hearth_nip19_decode32("npub1", "npub", out) == HEARTH_EINVAL);
    CHECK(!memcmp(out, before, 32)); /* untouched on failure */
    CHECK(hearth_nip19_decode32(npub, "npub", out) == HEARTH_OK);
}

/* ---- round trips ------------------------------------------------------ */

static void rnd_relay(char *r)
{
    static const char host[] = "abcdefghijklmnopqrstuvwxyz0123456789.-";
    size_t n = 1 + rnd() % 40;
    memcpy(r, "wss://", 6);
    for (size_t i = 0; i < n; i++)
        r[6 + i] = host[rnd() % (sizeof host - 1)];
    r[6 + n] = '\0';
}

/* random UTF-8, NUL included, up to 255 bytes */
static size_t rnd_identifier(char *id)
{
    static const char *const pieces[] = {"a", "Z", "-", ":", " ", "\0",
                                         "\xc3\xa9", "\xe2\x82\xac",
                                         "\xf0\x9f\x98\x80", "\n"};
    size_t want = rnd() % 256, n = 0;
    for (;;) {
        size_t k = rnd() % (sizeof pieces / sizeof pieces[0]);
        size_t l = k == 5 ? 1 : strlen(pieces[k]);
        if (n + l > want)
            return n;
        memcpy(id + n, pieces[k], l);
        n += l;
    }
}

static int same(const hearth_nip19 *a, const hearth_nip19 *b)
{
    int naddr = a->type == HEARTH_NIP19_NADDR;
    int tlv = a->type >= HEARTH_NIP19_NPROFILE;
    int evt = a->type == HEARTH_NIP19_NEVENT || naddr;
    if (a->type != b->type || (!naddr && memcmp(a->data, b->data, 32)))
        return 0;
    if (tlv && a->nrelays != b->nrelays)
        return 0;
    for (size_t i = 0; tlv && i < a->nrelays; i++)
        if (strcmp(a->relays[i], b->relays[i]))
            return 0;
    if (evt && (a->has_author != b->has_author || a->has_kind != b->has_kind))
        return 0;
    if (evt && a->has_author && memcmp(a->author, b->author, 32))
        return 0;
    if (evt && a->has_kind && a->kind != b->kind)
        return 0;
    if (naddr && (a->identifier_len != b->identifier_len ||
                  memcmp(a->identifier ? a->identifier : "", b->identifier,
                         a->identifier_len)))
        return 0;
    return 1;
}

static void roundtrip_one(hearth_nip19_type t)
{
    char relays[HEARTH_NIP19_MAX_RELAYS][48], ident[256];
    hearth_nip19 in = {.type = t}, out;
    hearth_buf b = HEARTH_BUF_INIT, c = HEARTH_BUF_INIT;
    rnd_bytes(in.data, 32);
    if (t >= HEARTH_NIP19_NPROFILE) {
        in.nrelays = rnd() % (HEARTH_NIP19_MAX_RELAYS + 1);
        for (size_t i = 0; i < in.nrelays; i++) {
            rnd_relay(relays[i]);
            in.relays[i] = relays[i];
        }
    }
    if (t == HEARTH_NIP19_NEVENT || t == HEARTH_NIP19_NADDR) {
        in.has_author = t == HEARTH_NIP19_NADDR || rnd() % 2;
        in.has_kind = t == HEARTH_NIP19_NADDR || rnd() % 2;
        if (in.has_author)
            rnd_bytes(in.author, 32);
        in.kind = rnd();
    }
    if (t == HEARTH_NIP19_NADDR) {
        in.identifier_len = rnd_identifier(ident);
        in.identifier = ident;
    }
    int rc = hearth_nip19_encode(&in, &b);
    CHECKF(rc == HEARTH_OK, "encode type %d: %d", t, rc);
    if (rc)
        return;
    if (decode(b.p, &out) != HEARTH_OK)
        return;
    CHECKF(same(&in, &out), "round trip of %s differs", b.p);
    /* decoding then encoding gives the same string back */
    CHECK(hearth_nip19_encode(&out, &c) == HEARTH_OK);
    CHECK(c.p && !strcmp(b.p, c.p));
    hearth_nip19_clear(&out);
    /* so does the uppercase form (QR codes) */
    for (size_t i = 0; i < b.len; i++)
        if (b.p[i] >= 'a' && b.p[i] <= 'z')
            b.p[i] = (char)(b.p[i] - 32);
    if (decode(b.p, &out) == HEARTH_OK) {
        CHECK(same(&in, &out));
        hearth_nip19_clear(&out);
    }
    hearth_buf_free(&b);
    hearth_buf_free(&c);
}

static void test_roundtrips(void)
{
    for (int i = 0; i < 200; i++)
        for (int t = HEARTH_NIP19_NPUB; t <= HEARTH_NIP19_NADDR; t++)
            roundtrip_one((hearth_nip19_type)t);
    /* generic bech32 over every payload size up to the limit's region */
    uint8_t p[300];
    char hrp[84];
    int ok = 0;
    for (size_t n = 0; n < sizeof p; n++) {
        hearth_buf b = HEARTH_BUF_INIT, d = HEARTH_BUF_INIT;
        rnd_bytes(p, n);
        ok += hearth_bech32_encode("h1x", p, n, &b) == HEARTH_OK &&
              hearth_bech32_decode(b.p, b.len, hrp, &d) == HEARTH_OK &&
              !strcmp(hrp, "h1x") && d.len == n && !memcmp(d.p, p, n);
        hearth_buf_free(&b);
        hearth_buf_free(&d);
    }
    CHECKF(ok == (int)sizeof p, "%d of %zu sizes", ok, sizeof p);
}

int main(void)
{
    const char *seed = getenv("HEARTH_TEST_SEED");
    if (seed && *seed)
        rng_state = strtoull(seed, NULL, 0) | 1;
    test_spec_examples();
    test_bip173_valid();
    test_bip173_invalid();
    test_bech32_rules();
    test_length_limit();
    test_tlv_rejects();
    test_tlv_accepts();
    test_encode_rejects();
    test_decode32();
    test_roundtrips();
    return tap_done();
}
