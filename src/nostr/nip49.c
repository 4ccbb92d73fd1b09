/* NIP-49 (ncryptsec). The payload is parsed and every bound checked
 * before scrypt runs, because scrypt's memory is chosen by the string:
 * log_n comes from a file that may be hostile. */
#include "hearth/nip49.h"
#include "hearth/error.h"
#include "hearth/nip19.h"
#include "hearth/utf8.h"
#include "crypto.h"

#include <errno.h>
#include <secp256k1.h>
#include <sodium.h>
#include <string.h>
#include <strings.h>

#define FAIL(code, reason)      \
    do {                        \
        *why = (reason);        \
        return (code);          \
    } while (0)

#define HRP "ncryptsec"
#define SALT_LEN 16u
#define NONCE_LEN crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG_LEN crypto_aead_xchacha20poly1305_ietf_ABYTES
/* offsets in the 91-byte payload */
#define OFF_SALT 2u
#define OFF_NONCE (OFF_SALT + SALT_LEN)
#define OFF_KS (OFF_NONCE + NONCE_LEN)
#define OFF_CT (OFF_KS + 1u)

_Static_assert(OFF_CT + 32u + TAG_LEN == HEARTH_NIP49_BYTES,
               "NIP-49 payload layout");
_Static_assert(NONCE_LEN == 24 && TAG_LEN == 16, "XChaCha20-Poly1305");

/* 0: ASCII and U+00C0..U+00FF only (already NFKC); 1: other valid
 * UTF-8; -1: not UTF-8. U+00C0..U+00FF is 0xC3 0x80..0xBF in UTF-8. */
static int password_class(const char *pw, size_t n)
{
    int safe = 1;
    for (size_t i = 0; i < n && safe; i++) {
        unsigned char c = (unsigned char)pw[i];
        if (c < 0x80)
            continue;
        if (c == 0xC3 && i + 1 < n &&
            ((unsigned char)pw[i + 1] & 0xC0) == 0x80) {
            i++;
            continue;
        }
        safe = 0;
    }
    if (safe)
        return 0;
    return hearth_utf8_valid(pw, n) ? 1 : -1;
}

/* scrypt(password, salt, N = 2^log_n, r = 8, p = 1) into key[32] */
static int derive(const char *pw, size_t n, const uint8_t salt[SALT_LEN],
                  unsigned log_n, uint8_t key[32])
{
    errno = 0;
    if (crypto_pwhash_scryptsalsa208sha256_ll(
            (const uint8_t *)pw, n, salt, SALT_LEN, (uint64_t)1 << log_n,
            8, 1, key, 32) == 0)
        return HEARTH_OK;
    sodium_memzero(key, 32);
    return errno == ENOMEM ? HEARTH_ENOMEM : HEARTH_ECRYPTO;
}

static int check_encrypt_args(const uint8_t sk[32], const char *pw,
                              unsigned log_n, unsigned ks)
{
    size_t n = strlen(pw);
    if (log_n == 0)
        return HEARTH_EINVAL;
    if (log_n > HEARTH_NIP49_MAX_LOG_N || n > HEARTH_NIP49_MAX_PASSWORD)
        return HEARTH_ETOOBIG;
    if (ks > HEARTH_NIP49_KS_UNKNOWN || n == 0 || password_class(pw, n))
        return HEARTH_EINVAL;
    if (!secp256k1_ec_seckey_verify(secp256k1_context_static, sk))
        return HEARTH_EINVAL;
    return HEARTH_OK;
}

static int encode(const uint8_t p[HEARTH_NIP49_BYTES],
                  char out[HEARTH_NIP49_LEN + 1])
{
    hearth_buf b = HEARTH_BUF_INIT;
    int rc = hearth_bech32_encode(HRP, p, HEARTH_NIP49_BYTES, &b);
    if (rc == HEARTH_OK && b.len != HEARTH_NIP49_LEN)
        rc = HEARTH_EINVAL;
    if (rc == HEARTH_OK)
        memcpy(out, b.p, HEARTH_NIP49_LEN + 1);
    hearth_buf_free(&b);
    return rc;
}

int hearth_nip49_encrypt(const uint8_t sk[32], const char *password,
                         unsigned log_n, unsigned key_security,
                         char out[HEARTH_NIP49_LEN + 1])
{
    uint8_t p[HEARTH_NIP49_BYTES], key[32];
    int rc = check_encrypt_args(sk, password, log_n, key_security);
    if (rc)
        return rc;
    if (hearth_crypto_init())
        return HEARTH_ECRYPTO;
    p[0] = HEARTH_NIP49_VERSION;
    p[1] = (uint8_t)log_n;
    randombytes_buf(p + OFF_SALT, SALT_LEN + NONCE_LEN);
    p[OFF_KS] = (uint8_t)key_security;
    rc = derive(password, strlen(password), p + OFF_SALT, log_n, key);
    if (rc)
        return rc;
    crypto_aead_xchacha20poly1305_ietf_encrypt(p + OFF_CT, NULL, sk, 32,
                                               p + OFF_KS, 1, NULL,
                                               p + OFF_NONCE, key);
    sodium_memzero(key, sizeof key);
    return encode(p, out);
}

int hearth_nip49_is_ncryptsec(const char *s, size_t len)
{
    return len > sizeof HRP && strncasecmp(s, HRP "1", sizeof HRP) == 0;
}

/* bech32 to the 91-byte payload, every field checked */
static int parse(const char *s, size_t len, unsigned max_log_n,
                 uint8_t p[HEARTH_NIP49_BYTES], const char **why)
{
    char hrp[84];
    hearth_buf d = HEARTH_BUF_INIT;
    if (len != HEARTH_NIP49_LEN || !hearth_nip49_is_ncryptsec(s, len))
        FAIL(HEARTH_EINVAL, "invalid: not an ncryptsec (expected 162 "
                            "characters starting ncryptsec1)");
    int rc = hearth_bech32_decode(s, len, hrp, &d);
    if (rc == HEARTH_OK && d.len == HEARTH_NIP49_BYTES)
        memcpy(p, d.p, HEARTH_NIP49_BYTES);
    size_t n = d.len;
    hearth_buf_free(&d);
    if (rc == HEARTH_ENOMEM)
        FAIL(rc, "error: out of memory");
    if (rc || n != HEARTH_NIP49_BYTES || strcmp(hrp, HRP))
        FAIL(HEARTH_EINVAL, "invalid: ncryptsec has a bad bech32 checksum "
                            "or length (was it copied completely?)");
    if (p[0] != HEARTH_NIP49_VERSION)
        FAIL(HEARTH_EINVAL, "invalid: unsupported ncryptsec version (only "
                            "version 2 exists)");
    if (p[1] == 0)
        FAIL(HEARTH_EINVAL, "invalid: ncryptsec log_n is 0");
    if (p[1] > max_log_n)
        FAIL(HEARTH_ETOOBIG, "invalid: ncryptsec log_n is above the limit "
                             "(22: scrypt would need more than 4 GiB)");
    if (p[OFF_KS] > HEARTH_NIP49_KS_UNKNOWN)
        FAIL(HEARTH_EINVAL, "invalid: ncryptsec key-security byte is not "
                            "0, 1 or 2");
    return HEARTH_OK;
}

int hearth_nip49_inspect(const char *s, size_t len, uint8_t *log_n,
                         uint8_t *key_security, const char **why)
{
    uint8_t p[HEARTH_NIP49_BYTES];
    const char *dummy;
    int rc = parse(s, len, HEARTH_NIP49_MAX_LOG_N, p, why ? why : &dummy);
    if (rc)
        return rc;
    if (log_n)
        *log_n = p[1];
    if (key_security)
        *key_security = p[OFF_KS];
    return HEARTH_OK;
}

static int check_password(const char *pw, int *unsafe, const char **why)
{
    size_t n = strlen(pw);
    if (n > HEARTH_NIP49_MAX_PASSWORD)
        FAIL(HEARTH_ETOOBIG, "password longer than 1024 bytes");
    int cls = password_class(pw, n);
    if (cls < 0)
        FAIL(HEARTH_EINVAL, "password is not valid UTF-8");
    *unsafe = cls;
    return HEARTH_OK;
}

/* scrypt, then open the AEAD with the key-security byte as its data */
static int open_payload(const uint8_t p[HEARTH_NIP49_BYTES], const char *pw,
                        int unsafe, uint8_t sk[32], const char **why)
{
    uint8_t key[32];
    int rc = derive(pw, strlen(pw), p + OFF_SALT, p[1], key);
    if (rc == HEARTH_ENOMEM)
        FAIL(rc, "error: not enough memory for scrypt at this log_n");
    if (rc)
        FAIL(rc, "error: scrypt failed");
    rc = crypto_aead_xchacha20poly1305_ietf_decrypt(
        sk, NULL, NULL, p + OFF_CT, 32 + TAG_LEN, p + OFF_KS, 1,
        p + OFF_NONCE, key);
    sodium_memzero(key, sizeof key);
    if (rc != 0)
        FAIL(HEARTH_ECRYPTO,
             unsafe ? "wrong password or altered ncryptsec (the password "
                      "has characters hearth cannot NFKC-normalise: type "
                      "it in NFKC form)"
                    : "wrong password or altered ncryptsec");
    if (!secp256k1_ec_seckey_verify(secp256k1_context_static, sk))
        FAIL(HEARTH_EINVAL, "invalid: ncryptsec decrypts to an invalid "
                            "secret key");
    return HEARTH_OK;
}

int hearth_nip49_decrypt_ex(const char *s, size_t len, const char *password,
                            unsigned max_log_n, uint8_t sk[32],
                            uint8_t *log_n, uint8_t *key_security,
                            const char **why)
{
    uint8_t p[HEARTH_NIP49_BYTES];
    const char *dummy;
    int unsafe = 0;
    if (!why)
        why = &dummy;
    sodium_memzero(sk, 32);
    if (max_log_n > HEARTH_NIP49_MAX_LOG_N)
        max_log_n = HEARTH_NIP49_MAX_LOG_N;
    int rc = parse(s, len, max_log_n, p, why);
    if (rc == HEARTH_OK)
        rc = check_password(password, &unsafe, why);
    if (rc == HEARTH_OK && hearth_crypto_init())
        FAIL(HEARTH_ECRYPTO, "error: crypto library failed to initialise");
    if (rc == HEARTH_OK)
        rc = open_payload(p, password, unsafe, sk, why);
    if (rc) {
        sodium_memzero(sk, 32);
        return rc;
    }
    if (log_n)
        *log_n = p[1];
    if (key_security)
        *key_security = p[OFF_KS];
    return HEARTH_OK;
}

int hearth_nip49_decrypt(const char *s, const char *password, uint8_t sk[32],
                         uint8_t *log_n, uint8_t *key_security)
{
    return hearth_nip49_decrypt_ex(s, strlen(s), password,
                                   HEARTH_NIP49_MAX_LOG_N, sk, log_n,
                                   key_security, NULL);
}
