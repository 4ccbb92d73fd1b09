/* The header-only SHA-256 core the miners share (src/util/sha256_core.h):
 * FIPS 180-4 examples, then every length 0..300 against libsodium, hashed
 * in one go, from each possible midstate, and with patched bytes. */
#include "util/sha256_core.h"
#include "hearth/hex.h"
#include "tap.h"

#include <sodium.h>
#include <stdint.h>

static int digest_is(const uint8_t d[32], const char *hex)
{
    char got[65];
    hearth_hex_encode(d, 32, got);
    if (strcmp(got, hex) == 0)
        return 1;
    fprintf(stderr, "  got  %s\n  want %s\n", got, hex);
    return 0;
}

static void test_fips_examples(void)
{
    uint8_t d[32];
    /* FIPS 180-4 / its example document: one block, and two blocks where
     * the padding does not fit behind the 448-bit message */
    hearth_sha256_oneshot((const uint8_t *)"abc", 3, d);
    CHECK(digest_is(d, "ba7816bf8f01cfea414140de5dae2223"
                       "b00361a396177a9cb410ff61f20015ad"));
    const char *m448 =
        "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    CHECK(strlen(m448) == 56);
    hearth_sha256_oneshot((const uint8_t *)m448, 56, d);
    CHECK(digest_is(d, "248d6a61d20638b8e5c026930c3e6039"
                       "a33ce45964ff2167f6ecedd419db06c1"));
    hearth_sha256_oneshot((const uint8_t *)"", 0, d);
    CHECK(digest_is(d, "e3b0c44298fc1c149afbf4c8996fb924"
                       "27ae41e4649b934ca495991b7852b855"));
    /* the long example: one million 'a' */
    size_t n = 1000000;
    uint8_t *a = malloc(n);
    CHECK(a != NULL);
    if (a) {
        memset(a, 'a', n);
        hearth_sha256_oneshot(a, n, d);
        CHECK(digest_is(d, "cdc76e5c9914fb9281a1c7e284d73e67"
                           "f1809a48a497200e046d39ccc7112cd0"));
        free(a);
    }
}

static void test_against_libsodium(void)
{
    enum { MAXLEN = 300, ROUNDS = 8 };
    uint8_t msg[MAXLEN], patched[MAXLEN], want[32], got[32];
    int bad_one = 0, bad_mid = 0, bad_patch = 0, cases = 0;
    for (int round = 0; round < ROUNDS; round++) {
        for (size_t len = 0; len <= MAXLEN; len++) {
            randombytes_buf(msg, len);
            crypto_hash_sha256(want, msg, len);
            cases++;

            hearth_sha256_oneshot(msg, len, got);
            if (memcmp(got, want, 32)) {
                bad_one++;
                fprintf(stderr, "oneshot differs at length %zu\n", len);
            }

            /* every block boundary as the midstate cut */
            for (size_t blocks = 0; 64 * blocks <= len; blocks++) {
                uint32_t mid[8], s[8];
                hearth_sha256_midstate(mid, msg, blocks);
                hearth_sha256_finish(mid, 64 * blocks, msg + 64 * blocks,
                                     len - 64 * blocks, 0, NULL, 0, s);
                hearth_sha256_digest(s, got);
                if (memcmp(got, want, 32)) {
                    bad_mid++;
                    fprintf(stderr, "midstate differs at length %zu cut %zu\n",
                            len, 64 * blocks);
                }
            }

            /* overlay random bytes somewhere in the tail, as the miners
             * overlay nonce digits; the reference hashes the edited copy */
            if (len == 0)
                continue;
            size_t cut = 64 * (randombytes_uniform((uint32_t)(len / 64 + 1)));
            if (cut == len)
                cut -= 64 * (cut > 0);
            size_t tail = len - cut;
            size_t off = randombytes_uniform((uint32_t)tail);
            size_t plen = 1 + randombytes_uniform((uint32_t)(tail - off));
            uint8_t patch[MAXLEN];
            randombytes_buf(patch, plen);
            memcpy(patched, msg, len);
            memcpy(patched + cut + off, patch, plen);
            crypto_hash_sha256(want, patched, len);
            uint32_t mid[8], s[8];
            hearth_sha256_midstate(mid, msg, cut / 64);
            hearth_sha256_finish(mid, cut, msg + cut, tail, off, patch, plen,
                                 s);
            hearth_sha256_digest(s, got);
            if (memcmp(got, want, 32)) {
                bad_patch++;
                fprintf(stderr, "patch differs: len %zu cut %zu off %zu n %zu\n",
                        len, cut, off, plen);
            }
        }
    }
    CHECK(cases == ROUNDS * (MAXLEN + 1));
    CHECKF(bad_one == 0, "%d one-shot mismatches", bad_one);
    CHECKF(bad_mid == 0, "%d midstate mismatches", bad_mid);
    CHECKF(bad_patch == 0, "%d patched mismatches", bad_patch);
}

static void test_zero_bits(void)
{
    uint32_t s[8] = {0};
    CHECK(hearth_sha256_zero_bits(s) == 256);
    s[0] = 0x80000000u;
    CHECK(hearth_sha256_zero_bits(s) == 0);
    s[0] = 0x002f0000u;
    CHECK(hearth_sha256_zero_bits(s) == 10);
    s[0] = 0;
    s[1] = 1;
    CHECK(hearth_sha256_zero_bits(s) == 63);
    s[1] = 0;
    s[7] = 0x00000100u;
    CHECK(hearth_sha256_zero_bits(s) == 7 * 32 + 23);
}

static void test_pow_helpers(void)
{
    uint8_t d[HEARTH_POW_MAX_WIDTH + 1];
    memset(d, 'x', sizeof d);
    hearth_pow_decimal(42, 5, d);
    CHECK(memcmp(d, "00042x", 6) == 0);
    hearth_pow_decimal(0, 1, d);
    CHECK(d[0] == '0');
    hearth_pow_decimal(9999999999999999999ull, 19, d);
    CHECK(memcmp(d, "9999999999999999999x", 20) == 0);

    /* a try equals hashing the message with the digits written in */
    const char *tmpl = "[\"nonce\",\"000000\",\"20\"] and some text after "
                       "the digits that runs into a second block of input";
    size_t len = strlen(tmpl), off = 10;
    uint8_t msg[256], want[32], got[32];
    memcpy(msg, tmpl, len);
    memcpy(msg + off, "776797", 6);
    crypto_hash_sha256(want, msg, len);
    uint32_t mid[8], s[8];
    hearth_sha256_init(mid);
    int bits = hearth_pow_try(mid, 0, (const uint8_t *)tmpl, len, off, 6,
                              776797, s);
    hearth_sha256_digest(s, got);
    CHECK(memcmp(got, want, 32) == 0);
    CHECK(bits == hearth_sha256_zero_bits(s));
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    test_fips_examples();
    test_against_libsodium();
    test_zero_bits();
    test_pow_helpers();
    return tap_done();
}
