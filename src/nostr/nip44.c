#include "hearth/nip44.h"
#include "hearth/error.h"
#include "crypto.h"

#include <secp256k1.h>
#include <secp256k1_ecdh.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define B64_VARIANT sodium_base64_VARIANT_ORIGINAL
#define NONCE_LEN 32
#define MAC_LEN 32
#define KEYS_LEN 76 /* chacha key 32, chacha nonce 12, hmac key 32 */
#define CHACHA_NONCE(k) ((k) + 32)
#define HMAC_KEY(k) ((k) + 44)
#define OVERHEAD (1 + NONCE_LEN + MAC_LEN)
/* smallest valid message: 1 byte padded to 32, behind a 2-byte prefix */
#define MIN_RAW (OVERHEAD + 2 + 32)
#define SHORT_PREFIX 2
#define LONG_PREFIX 6

static size_t b64_len(size_t raw)
{
    return (raw + 2) / 3 * 4;
}

static size_t prefix_len(size_t n)
{
    return n < HEARTH_NIP44_EXTENDED_THRESHOLD ? SHORT_PREFIX : LONG_PREFIX;
}

/* Largest raw payload we accept, derived from the plaintext bound so the
 * two can never disagree. */
static size_t max_raw(void)
{
    return OVERHEAD + LONG_PREFIX +
           hearth_nip44_padded_len(HEARTH_NIP44_MAX_PLAINTEXT);
}

/* libsecp256k1 hashes the shared point by default; Nostr wants bare x. */
static int copy_x(unsigned char *out, const unsigned char *x32,
                  const unsigned char *y32, void *data)
{
    (void)y32;
    (void)data;
    memcpy(out, x32, 32);
    return 1;
}

int hearth_ecdh_x(const uint8_t sk[32], const uint8_t pk[32], uint8_t x[32])
{
    const secp256k1_context *ctx = hearth_secp_sign_ctx();
    unsigned char ser[33] = {0x02};
    secp256k1_pubkey point;
    if (!ctx)
        return HEARTH_ECRYPTO;
    memcpy(ser + 1, pk, 32);
    if (!secp256k1_ec_pubkey_parse(ctx, &point, ser, sizeof ser))
        return HEARTH_EINVAL;
    /* fails for a zero or out-of-range scalar */
    if (!secp256k1_ecdh(ctx, x, &point, sk, copy_x, NULL))
        return HEARTH_EINVAL;
    return HEARTH_OK;
}

int hearth_nip44_conversation_key(const uint8_t sk[32], const uint8_t pk[32],
                                  uint8_t ck[32])
{
    static const uint8_t salt[] = "nip44-v2";
    uint8_t x[32];
    int rc = hearth_ecdh_x(sk, pk, x);
    if (rc == HEARTH_OK) {
        /* HKDF-extract is HMAC keyed with the salt */
        crypto_auth_hmacsha256_state st;
        crypto_auth_hmacsha256_init(&st, salt, sizeof salt - 1);
        crypto_auth_hmacsha256_update(&st, x, sizeof x);
        crypto_auth_hmacsha256_final(&st, ck);
        sodium_memzero(&st, sizeof st);
    }
    sodium_memzero(x, sizeof x);
    return rc;
}

/* RFC 5869 HKDF-expand with SHA-256 (libsodium 1.0.18 has HMAC but no
 * HKDF). len must be at most 255 * 32. */
static void hkdf_expand(const uint8_t prk[32], const uint8_t *info,
                        size_t infolen, uint8_t *out, size_t len)
{
    crypto_auth_hmacsha256_state st;
    uint8_t t[32];
    size_t tlen = 0;
    for (uint8_t i = 1; len > 0; i++) {
        crypto_auth_hmacsha256_init(&st, prk, 32);
        crypto_auth_hmacsha256_update(&st, t, tlen);
        crypto_auth_hmacsha256_update(&st, info, infolen);
        crypto_auth_hmacsha256_update(&st, &i, 1);
        crypto_auth_hmacsha256_final(&st, t);
        tlen = sizeof t;
        size_t k = len < tlen ? len : tlen;
        memcpy(out, t, k);
        out += k;
        len -= k;
    }
    sodium_memzero(t, sizeof t);
    sodium_memzero(&st, sizeof st);
}

int hearth_nip44_message_keys(const uint8_t ck[32], const uint8_t nonce[32],
                              uint8_t chacha_key[32],
                              uint8_t chacha_nonce[12], uint8_t hmac_key[32])
{
    uint8_t keys[KEYS_LEN];
    if (hearth_crypto_init())
        return HEARTH_ECRYPTO;
    hkdf_expand(ck, nonce, NONCE_LEN, keys, sizeof keys);
    memcpy(chacha_key, keys, 32);
    memcpy(chacha_nonce, CHACHA_NONCE(keys), 12);
    memcpy(hmac_key, HMAC_KEY(keys), 32);
    sodium_memzero(keys, sizeof keys);
    return HEARTH_OK;
}

size_t hearth_nip44_padded_len(size_t n)
{
    uint64_t len = n;
    if (len == 0 || len > UINT32_MAX)
        return 0;
    if (len <= 32)
        return 32;
    uint64_t next = 1; /* 1 << (floor(log2(len - 1)) + 1) */
    while (next <= len - 1)
        next <<= 1;
    uint64_t chunk = next <= 256 ? 32 : next / 8;
    uint64_t padded = chunk * ((len - 1) / chunk + 1);
    return (size_t)padded == padded ? (size_t)padded : 0;
}

/* MAC over nonce || ciphertext: the nonce is the associated data. */
static void payload_mac(const uint8_t hmac_key[32], const uint8_t *nonce,
                        const uint8_t *ct, size_t ctlen, uint8_t mac[32])
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, hmac_key, 32);
    crypto_auth_hmacsha256_update(&st, nonce, NONCE_LEN);
    crypto_auth_hmacsha256_update(&st, ct, ctlen);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_memzero(&st, sizeof st);
}

static void write_prefix(uint8_t *p, size_t n)
{
    if (n < HEARTH_NIP44_EXTENDED_THRESHOLD) {
        p[0] = (uint8_t)(n >> 8);
        p[1] = (uint8_t)n;
        return;
    }
    /* a zero u16 tells readers that a u32 length follows */
    p[0] = p[1] = 0;
    p[2] = (uint8_t)(n >> 24);
    p[3] = (uint8_t)(n >> 16);
    p[4] = (uint8_t)(n >> 8);
    p[5] = (uint8_t)n;
}

static int append_b64(hearth_buf *out, const uint8_t *raw, size_t rawlen)
{
    size_t enc = sodium_base64_encoded_len(rawlen, B64_VARIANT); /* +NUL */
    int rc = hearth_buf_reserve(out, enc);
    if (rc)
        return rc;
    sodium_bin2base64(out->p + out->len, enc, raw, rawlen, B64_VARIANT);
    out->len += enc - 1;
    return HEARTH_OK;
}

/* ChaCha20 over buf in place, then the MAC of the ciphertext */
static void seal(const uint8_t ck[32], const uint8_t nonce[32], uint8_t *buf,
                 size_t len, uint8_t mac[32])
{
    uint8_t keys[KEYS_LEN];
    hkdf_expand(ck, nonce, NONCE_LEN, keys, sizeof keys);
    crypto_stream_chacha20_ietf_xor_ic(buf, buf, len, CHACHA_NONCE(keys), 0,
                                       keys);
    payload_mac(HMAC_KEY(keys), nonce, buf, len, mac);
    sodium_memzero(keys, sizeof keys);
}

int hearth_nip44_encrypt(const uint8_t ck[32], const char *pt, size_t n,
                         const uint8_t *nonce, hearth_buf *out)
{
    if (n == 0)
        return HEARTH_EINVAL;
    if (n > HEARTH_NIP44_MAX_PLAINTEXT)
        return HEARTH_ETOOBIG;
    if (hearth_crypto_init())
        return HEARTH_ECRYPTO;
    size_t pre = prefix_len(n);
    size_t ctlen = pre + hearth_nip44_padded_len(n);
    size_t rawlen = OVERHEAD + ctlen;
    uint8_t *raw = calloc(1, rawlen); /* zeroed: the padding */
    if (!raw)
        return HEARTH_ENOMEM;
    uint8_t *ct = raw + 1 + NONCE_LEN;
    raw[0] = HEARTH_NIP44_VERSION;
    if (nonce)
        memcpy(raw + 1, nonce, NONCE_LEN);
    else
        randombytes_buf(raw + 1, NONCE_LEN);
    write_prefix(ct, n);
    memcpy(ct + pre, pt, n);
    seal(ck, raw + 1, ct, ctlen, ct + ctlen);
    int rc = append_b64(out, raw, rawlen);
    free(raw); /* holds only ciphertext by now */
    return rc;
}

static uint32_t read_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
           (uint32_t)p[2] << 8 | p[3];
}

/* Locate the plaintext in a padded blob (len >= 34, checked by the
 * caller): the prefix must be canonical and the padding exactly what the
 * sender's pad() produces for that length. The pad bytes themselves are
 * not checked, as in the spec: the MAC already vouches for them. */
static int unpad(const uint8_t *p, size_t len, size_t *off, size_t *n,
                 const char **why)
{
    size_t plen = (size_t)p[0] << 8 | p[1], pre = SHORT_PREFIX;
    if (plen == 0) {
        plen = read_u32(p + 2);
        pre = LONG_PREFIX;
        if (plen == 0) {
            *why = "invalid: nip44 plaintext length is zero";
            return HEARTH_EINVAL;
        }
        if (plen < HEARTH_NIP44_EXTENDED_THRESHOLD) {
            *why = "invalid: nip44 extended length prefix on a short message";
            return HEARTH_EINVAL;
        }
    }
    if (len != pre + hearth_nip44_padded_len(plen)) {
        *why = "invalid: nip44 padding does not match the length prefix";
        return HEARTH_EINVAL;
    }
    *off = pre;
    *n = plen;
    return HEARTH_OK;
}

/* The cheap checks on the text, in the order 44.md gives them. */
static int check_text(const char *payload, size_t n, const char **why)
{
    if (n == 0) {
        *why = "invalid: nip44 payload is empty";
        return HEARTH_EINVAL;
    }
    if (payload[0] == '#') {
        *why = "invalid: nip44 payload uses an unsupported encoding ('#')";
        return HEARTH_EINVAL;
    }
    if (n < b64_len(MIN_RAW)) {
        *why = "invalid: nip44 payload too short";
        return HEARTH_EINVAL;
    }
    if (n > b64_len(max_raw())) {
        *why = "invalid: nip44 payload exceeds hearth's plaintext bound";
        return HEARTH_ETOOBIG;
    }
    return HEARTH_OK;
}

/* Base64-decode into a fresh buffer and check the framing around it. */
static int decode(const char *payload, size_t n, uint8_t **raw,
                  size_t *rawlen, const char **why)
{
    size_t cap = n / 4 * 3 + 3;
    *raw = malloc(cap);
    if (!*raw) {
        *why = "error: out of memory";
        return HEARTH_ENOMEM;
    }
    /* no ignored characters, padding required, whole input consumed */
    if (sodium_base642bin(*raw, cap, payload, n, NULL, rawlen, NULL,
                          B64_VARIANT) != 0) {
        *why = "invalid: nip44 payload is not valid base64";
        return HEARTH_EINVAL;
    }
    if (*rawlen < MIN_RAW) {
        *why = "invalid: nip44 decoded payload too short";
        return HEARTH_EINVAL;
    }
    if (*rawlen > max_raw()) {
        *why = "invalid: nip44 payload exceeds hearth's plaintext bound";
        return HEARTH_ETOOBIG;
    }
    if ((*raw)[0] != HEARTH_NIP44_VERSION) {
        *why = "invalid: nip44 unknown encryption version";
        return HEARTH_EINVAL;
    }
    return HEARTH_OK;
}

/* Check the MAC, then decrypt raw's ciphertext in place. */
static int open_raw(const uint8_t ck[32], uint8_t *raw, size_t rawlen,
                    const char **why)
{
    uint8_t keys[KEYS_LEN], mac[MAC_LEN];
    const uint8_t *nonce = raw + 1;
    uint8_t *ct = raw + 1 + NONCE_LEN;
    size_t ctlen = rawlen - OVERHEAD;
    int rc = HEARTH_OK;
    hkdf_expand(ck, nonce, NONCE_LEN, keys, sizeof keys);
    payload_mac(HMAC_KEY(keys), nonce, ct, ctlen, mac);
    if (sodium_memcmp(mac, ct + ctlen, MAC_LEN) != 0) {
        *why = "invalid: nip44 MAC mismatch";
        rc = HEARTH_ECRYPTO;
    } else {
        crypto_stream_chacha20_ietf_xor_ic(ct, ct, ctlen, CHACHA_NONCE(keys),
                                           0, keys);
    }
    sodium_memzero(keys, sizeof keys);
    return rc;
}

int hearth_nip44_decrypt(const uint8_t ck[32], const char *payload, size_t n,
                         hearth_buf *out, const char **why)
{
    const char *dummy;
    uint8_t *raw = NULL;
    size_t rawlen = 0, off = 0, len = 0;
    if (!why)
        why = &dummy;
    if (hearth_crypto_init()) {
        *why = "error: crypto library failed to initialise";
        return HEARTH_ECRYPTO;
    }
    int rc = check_text(payload, n, why);
    if (rc == HEARTH_OK)
        rc = decode(payload, n, &raw, &rawlen, why);
    if (rc == HEARTH_OK)
        rc = open_raw(ck, raw, rawlen, why);
    if (rc == HEARTH_OK)
        rc = unpad(raw + 1 + NONCE_LEN, rawlen - OVERHEAD, &off, &len, why);
    if (rc == HEARTH_OK &&
        (rc = hearth_buf_add(out, raw + 1 + NONCE_LEN + off, len)))
        *why = "error: out of memory";
    if (raw) {
        sodium_memzero(raw, rawlen); /* may hold plaintext by now */
        free(raw);
    }
    return rc;
}
