/* NIP-49 (ncryptsec): the vector of 49.md (vectors/nip49.json, see
 * vectors/SOURCES.md), round trips at a cheap log_n, wrong passwords,
 * tampered strings, bad versions and every bound. */
#include "hearth/error.h"
#include "hearth/hex.h"
#include "hearth/keys.h"
#include "hearth/nip19.h"
#include "hearth/nip49.h"
#include "tap.h"

#include <jansson.h>
#include <sodium.h>

#define VECTORS "vectors/nip49.json"
#define FAST 4u /* log_n for round trips: scrypt in well under 1 ms */

static const uint8_t sk1[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
                                13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
                                23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

static const char *str_of(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    if (!s) {
        fprintf(stderr, "%s: missing \"%s\"\n", VECTORS, key);
        exit(1);
    }
    return s;
}

static void test_vector(void)
{
    size_t n;
    char *text = tap_slurp(VECTORS, &n);
    json_t *root = json_loadb(text, n, 0, NULL);
    free(text);
    const json_t *v = json_array_get(json_object_get(root, "decrypt"), 0);
    CHECK(v != NULL);
    if (!v)
        return;
    uint8_t want[32], got[32], log_n = 0, ks = 9;
    CHECK(hearth_hex_decode(str_of(v, "seckey"), 64, want, 32, 1) == 0);
    int rc = hearth_nip49_decrypt(str_of(v, "ncryptsec"), str_of(v, "password"),
                                  got, &log_n, &ks);
    CHECKF(rc == HEARTH_OK, "rc %d", rc);
    CHECK(memcmp(got, want, 32) == 0);
    CHECK(log_n == json_integer_value(json_object_get(v, "log_n")));
    CHECK(ks <= 2);
    CHECK(hearth_nip49_decrypt(str_of(v, "ncryptsec"), "Nostr", got, NULL,
                               NULL) == HEARTH_ECRYPTO);
    /* a log_n bound below the string's is refused before scrypt */
    const char *s = str_of(v, "ncryptsec");
    CHECK(hearth_nip49_decrypt_ex(s, strlen(s), "nostr", 15, got, NULL, NULL,
                                  NULL) == HEARTH_ETOOBIG);
    /* the spec's un-normalised password cannot be encrypted with */
    const json_t *u = json_array_get(json_object_get(root, "nfkc"), 0);
    char pw[64] = {0}, out[HEARTH_NIP49_LEN + 1];
    const char *hex = str_of(u, "input_utf8");
    CHECK(hearth_hex_decode(hex, strlen(hex), (uint8_t *)pw, strlen(hex) / 2,
                            1) == 0);
    CHECK(hearth_nip49_encrypt(sk1, pw, FAST, 2, out) == HEARTH_EINVAL);
    json_decref(root);
}

static void test_round_trip(void)
{
    char out[HEARTH_NIP49_LEN + 1], out2[HEARTH_NIP49_LEN + 1];
    uint8_t got[32], log_n, ks;
    const char *pws[] = {"nostr", "a", "correct horse battery staple",
                         "Zoë and Ærø: ÿ", " spaces \t inside "};
    for (size_t i = 0; i < sizeof pws / sizeof pws[0]; i++) {
        for (unsigned k = 0; k <= 2; k++) {
            CHECK(hearth_nip49_encrypt(sk1, pws[i], FAST, k, out) == 0);
            CHECK(strlen(out) == HEARTH_NIP49_LEN);
            CHECK(strncmp(out, "ncryptsec1", 10) == 0);
            CHECK(hearth_nip49_decrypt(out, pws[i], got, &log_n, &ks) == 0);
            CHECK(memcmp(got, sk1, 32) == 0 && log_n == FAST && ks == k);
            CHECK(hearth_nip49_inspect(out, strlen(out), &log_n, &ks,
                                       NULL) == 0);
            CHECK(log_n == FAST && ks == k);
        }
    }
    /* fresh salt and nonce every time */
    CHECK(hearth_nip49_encrypt(sk1, "nostr", FAST, 2, out) == 0);
    CHECK(hearth_nip49_encrypt(sk1, "nostr", FAST, 2, out2) == 0);
    CHECK(strcmp(out, out2) != 0);
    /* uppercase bech32 is the same string */
    for (char *p = out; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 32);
    CHECK(hearth_nip49_decrypt(out, "nostr", got, NULL, NULL) == 0);
    CHECK(memcmp(got, sk1, 32) == 0);
}

static void test_wrong_password(void)
{
    char out[HEARTH_NIP49_LEN + 1];
    uint8_t got[32];
    const char *why = NULL;
    CHECK(hearth_nip49_encrypt(sk1, "nostr", FAST, 1, out) == 0);
    CHECK(hearth_nip49_decrypt(out, "nost", got, NULL, NULL) ==
          HEARTH_ECRYPTO);
    CHECK(hearth_nip49_decrypt(out, "", got, NULL, NULL) == HEARTH_ECRYPTO);
    /* non-NFKC-checkable passwords are tried as given, and named */
    CHECK(hearth_nip49_decrypt_ex(out, strlen(out), "Ωmega", 22, got, NULL,
                                  NULL, &why) == HEARTH_ECRYPTO);
    CHECK(why && strstr(why, "NFKC"));
    CHECK(hearth_nip49_decrypt(out, "\xff\xfe", got, NULL, NULL) ==
          HEARTH_EINVAL);
    static const uint8_t zero[32];
    CHECK(memcmp(got, zero, 32) == 0); /* wiped on failure */
}

/* re-encode a modified payload so only the field changes, not the
 * checksum */
static void reencode(const char *s, size_t at, uint8_t val, char *out)
{
    char hrp[84];
    hearth_buf d = HEARTH_BUF_INIT, e = HEARTH_BUF_INIT;
    CHECK(hearth_bech32_decode(s, strlen(s), hrp, &d) == 0);
    if (at < d.len)
        ((uint8_t *)d.p)[at] = val;
    CHECK(hearth_bech32_encode(hrp, (uint8_t *)d.p, d.len, &e) == 0);
    memcpy(out, e.p, e.len + 1);
    hearth_buf_free(&d);
    hearth_buf_free(&e);
}

static void test_tampered(void)
{
    char good[HEARTH_NIP49_LEN + 1], bad[HEARTH_NIP49_LEN + 1];
    uint8_t got[32];
    CHECK(hearth_nip49_encrypt(sk1, "nostr", FAST, 2, good) == 0);
    /* any payload byte after log_n: MAC (salt, nonce, ks, ct, tag) */
    for (size_t at = 2; at < HEARTH_NIP49_BYTES; at++) {
        char hrp[84];
        hearth_buf d = HEARTH_BUF_INIT;
        hearth_bech32_decode(good, strlen(good), hrp, &d);
        uint8_t v = (uint8_t)(((uint8_t *)d.p)[at] ^ 1);
        hearth_buf_free(&d);
        reencode(good, at, v, bad);
        int rc = hearth_nip49_decrypt(bad, "nostr", got, NULL, NULL);
        CHECKF(rc == (at == 42 && v > 2 ? HEARTH_EINVAL : HEARTH_ECRYPTO),
               "byte %zu rc %d", at, rc);
    }
    /* a changed character: checksum */
    memcpy(bad, good, sizeof good);
    bad[40] = bad[40] == 'q' ? 'p' : 'q';
    CHECK(hearth_nip49_decrypt(bad, "nostr", got, NULL, NULL) ==
          HEARTH_EINVAL);
    /* truncated, extended, wrong prefix, empty */
    CHECK(hearth_nip49_decrypt_ex(good, HEARTH_NIP49_LEN - 1, "nostr", 22,
                                  got, NULL, NULL, NULL) == HEARTH_EINVAL);
    CHECK(hearth_nip49_decrypt("", "nostr", got, NULL, NULL) ==
          HEARTH_EINVAL);
    hearth_buf e = HEARTH_BUF_INIT;
    CHECK(hearth_nip19_encode32("nsec", sk1, &e) == 0);
    CHECK(hearth_nip49_decrypt(e.p, "nostr", got, NULL, NULL) ==
          HEARTH_EINVAL);
    hearth_buf_free(&e);
    uint8_t p[92] = {2, FAST};
    CHECK(hearth_bech32_encode("ncryptsec", p, 92, &e) == 0);
    CHECK(hearth_nip49_decrypt(e.p, "nostr", got, NULL, NULL) ==
          HEARTH_EINVAL);
    hearth_buf_free(&e);
}

static void test_versions_and_bounds(void)
{
    char good[HEARTH_NIP49_LEN + 1], bad[HEARTH_NIP49_LEN + 1];
    uint8_t got[32];
    const char *why = NULL;
    CHECK(hearth_nip49_encrypt(sk1, "nostr", FAST, 2, good) == 0);
    const uint8_t versions[] = {0, 1, 3, 0x42, 0xff};
    for (size_t i = 0; i < sizeof versions; i++) {
        reencode(good, 0, versions[i], bad);
        CHECK(hearth_nip49_decrypt_ex(bad, strlen(bad), "nostr", 22, got,
                                      NULL, NULL, &why) == HEARTH_EINVAL);
        CHECK(why && strstr(why, "version"));
        CHECK(hearth_nip49_inspect(bad, strlen(bad), NULL, NULL, NULL) ==
              HEARTH_EINVAL);
    }
    /* log_n: 0 is invalid; above the bound refused without scrypt (a
     * log_n of 255 would otherwise ask for 2^265 bytes) */
    reencode(good, 1, 0, bad);
    CHECK(hearth_nip49_decrypt(bad, "nostr", got, NULL, NULL) ==
          HEARTH_EINVAL);
    const uint8_t big[] = {23, 40, 64, 255};
    for (size_t i = 0; i < sizeof big; i++) {
        reencode(good, 1, big[i], bad);
        CHECK(hearth_nip49_decrypt(bad, "nostr", got, NULL, NULL) ==
              HEARTH_ETOOBIG);
        CHECK(hearth_nip49_inspect(bad, strlen(bad), NULL, NULL, NULL) ==
              HEARTH_ETOOBIG);
    }
    /* a smaller log_n in the header changes the key: MAC fails */
    reencode(good, 1, FAST - 1, bad);
    CHECK(hearth_nip49_decrypt(bad, "nostr", got, NULL, NULL) ==
          HEARTH_ECRYPTO);
    /* the fuzz-mode bound */
    CHECK(hearth_nip49_decrypt_ex(good, strlen(good), "nostr", FAST - 1, got,
                                  NULL, NULL, NULL) == HEARTH_ETOOBIG);
}

static void test_encrypt_args(void)
{
    char out[HEARTH_NIP49_LEN + 1], pw[HEARTH_NIP49_MAX_PASSWORD + 2];
    uint8_t zero[32] = {0}, order[32];
    hearth_hex_decode("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd"
                      "0364141", 64, order, 32, 1);
    CHECK(hearth_nip49_encrypt(sk1, "nostr", 0, 2, out) == HEARTH_EINVAL);
    CHECK(hearth_nip49_encrypt(sk1, "nostr", 23, 2, out) == HEARTH_ETOOBIG);
    CHECK(hearth_nip49_encrypt(sk1, "nostr", 300, 2, out) == HEARTH_ETOOBIG);
    CHECK(hearth_nip49_encrypt(sk1, "nostr", FAST, 3, out) == HEARTH_EINVAL);
    CHECK(hearth_nip49_encrypt(sk1, "", FAST, 2, out) == HEARTH_EINVAL);
    CHECK(hearth_nip49_encrypt(sk1, "Ωmega", FAST, 2, out) == HEARTH_EINVAL);
    CHECK(hearth_nip49_encrypt(sk1, "e\xcc\x81", FAST, 2, out) ==
          HEARTH_EINVAL); /* e + combining acute: NFKC composes it */
    CHECK(hearth_nip49_encrypt(sk1, "\xc3", FAST, 2, out) == HEARTH_EINVAL);
    CHECK(hearth_nip49_encrypt(zero, "nostr", FAST, 2, out) == HEARTH_EINVAL);
    CHECK(hearth_nip49_encrypt(order, "nostr", FAST, 2, out) ==
          HEARTH_EINVAL);
    memset(pw, 'x', sizeof pw - 1);
    pw[sizeof pw - 1] = '\0';
    CHECK(hearth_nip49_encrypt(sk1, pw, FAST, 2, out) == HEARTH_ETOOBIG);
    pw[HEARTH_NIP49_MAX_PASSWORD] = '\0';
    CHECK(hearth_nip49_encrypt(sk1, pw, FAST, 2, out) == HEARTH_OK);
    CHECK(hearth_nip49_is_ncryptsec(out, strlen(out)));
    CHECK(!hearth_nip49_is_ncryptsec("nsec1abc", 8));
}

int main(void)
{
    test_vector();
    test_round_trip();
    test_wrong_password();
    test_tampered();
    test_versions_and_bounds();
    test_encrypt_args();
    return tap_done();
}
