#include "hearth/nip04.h"
#include "hearth/error.h"
#include "hearth/nip44.h"
#include "crypto.h"

#include <openssl/evp.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define B64_VARIANT sodium_base64_VARIANT_ORIGINAL
#define BLOCK 16
#define IV_B64_LEN 24 /* 16 bytes, padded */
static const char iv_sep[] = "?iv=";

static size_t b64_len(size_t raw)
{
    return (raw + 2) / 3 * 4;
}

static int append_b64(hearth_buf *out, const uint8_t *bin, size_t n)
{
    size_t enc = sodium_base64_encoded_len(n, B64_VARIANT); /* +NUL */
    int rc = hearth_buf_reserve(out, enc);
    if (rc)
        return rc;
    sodium_bin2base64(out->p + out->len, enc, bin, n, B64_VARIANT);
    out->len += enc - 1;
    return HEARTH_OK;
}

/* One AES-256-CBC pass with PKCS#7; out needs room for n + BLOCK bytes.
 * Returns the output length, or -1 (for decryption: bad padding). */
static int aes_cbc(int enc, const uint8_t key[32], const uint8_t iv[16],
                   const uint8_t *in, size_t n, uint8_t *out)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int len1 = 0, len2 = 0, ok;
    if (!ctx)
        return -1;
    ok = EVP_CipherInit_ex(ctx, EVP_aes_256_cbc(), NULL, key, iv, enc) &&
         EVP_CipherUpdate(ctx, out, &len1, in, (int)n) &&
         EVP_CipherFinal_ex(ctx, out + len1, &len2);
    EVP_CIPHER_CTX_free(ctx); /* also wipes the key schedule */
    return ok ? len1 + len2 : -1;
}

int hearth_nip04_encrypt(const uint8_t sk[32], const uint8_t pk[32],
                         const char *pt, size_t n, const uint8_t iv[16],
                         hearth_buf *out)
{
    uint8_t key[32], fresh[BLOCK];
    if (n > HEARTH_NIP04_MAX_PLAINTEXT)
        return HEARTH_ETOOBIG;
    int rc = hearth_ecdh_x(sk, pk, key);
    if (rc)
        return rc;
    if (!iv) {
        randombytes_buf(fresh, sizeof fresh);
        iv = fresh;
    }
    uint8_t *ct = malloc(n + BLOCK);
    int ctlen = -1;
    if (ct)
        ctlen = aes_cbc(1, key, iv, (const uint8_t *)pt, n, ct);
    sodium_memzero(key, sizeof key);
    if (ctlen < 0) {
        rc = ct ? HEARTH_ECRYPTO : HEARTH_ENOMEM;
        free(ct);
        return rc;
    }
    size_t start = out->len;
    append_b64(out, ct, (size_t)ctlen); /* errors are sticky: checked below */
    hearth_buf_adds(out, iv_sep);
    rc = append_b64(out, iv, BLOCK);
    free(ct);
    if (rc && out->p) {
        out->len = start;
        out->p[start] = '\0';
    }
    return rc;
}

/* Split "ct?iv=iv" and decode both halves; *ct is malloc'd. */
static int parse(const char *s, size_t n, uint8_t **ct, size_t *ctlen,
                 uint8_t iv[16], const char **why)
{
    const char *sep = memmem(s, n, iv_sep, sizeof iv_sep - 1);
    if (!sep) {
        *why = "invalid: nip04 payload lacks '?iv='";
        return HEARTH_EINVAL;
    }
    size_t clen = (size_t)(sep - s);
    const char *ivs = sep + sizeof iv_sep - 1;
    size_t ivlen = n - clen - (sizeof iv_sep - 1), got = 0;
    if (clen == 0) {
        *why = "invalid: nip04 ciphertext is empty";
        return HEARTH_EINVAL;
    }
    if (clen > b64_len(HEARTH_NIP04_MAX_PLAINTEXT + BLOCK)) {
        *why = "invalid: nip04 payload exceeds hearth's plaintext bound";
        return HEARTH_ETOOBIG;
    }
    /* a fixed-size iv also rules out a second "?iv=" */
    if (ivlen != IV_B64_LEN ||
        sodium_base642bin(iv, BLOCK, ivs, ivlen, NULL, &got, NULL,
                          B64_VARIANT) != 0 || got != BLOCK) {
        *why = "invalid: nip04 iv is not 16 bytes of base64";
        return HEARTH_EINVAL;
    }
    size_t cap = clen / 4 * 3 + 3;
    if (!(*ct = malloc(cap))) {
        *why = "error: out of memory";
        return HEARTH_ENOMEM;
    }
    if (sodium_base642bin(*ct, cap, s, clen, NULL, ctlen, NULL,
                          B64_VARIANT) != 0) {
        *why = "invalid: nip04 ciphertext is not valid base64";
        return HEARTH_EINVAL;
    }
    if (*ctlen == 0 || *ctlen % BLOCK) {
        *why = "invalid: nip04 ciphertext is not whole AES blocks";
        return HEARTH_EINVAL;
    }
    return HEARTH_OK;
}

/* Decrypt straight into out, so the plaintext is never copied. */
static int decrypt_into(const uint8_t key[32], const uint8_t iv[16],
                        const uint8_t *ct, size_t ctlen, hearth_buf *out,
                        const char **why)
{
    if (hearth_buf_reserve(out, ctlen + BLOCK)) {
        *why = "error: out of memory";
        return HEARTH_ENOMEM;
    }
    uint8_t *dst = (uint8_t *)out->p + out->len;
    int n = aes_cbc(0, key, iv, ct, ctlen, dst);
    if (n < 0) {
        sodium_memzero(dst, ctlen + BLOCK);
        out->p[out->len] = '\0';
        *why = "invalid: nip04 decryption failed (wrong key or corrupted "
               "payload)";
        return HEARTH_ECRYPTO;
    }
    out->len += (size_t)n;
    out->p[out->len] = '\0';
    return HEARTH_OK;
}

int hearth_nip04_decrypt(const uint8_t sk[32], const uint8_t pk[32],
                         const char *payload, size_t n, hearth_buf *out,
                         const char **why)
{
    const char *dummy;
    uint8_t key[32], iv[BLOCK], *ct = NULL;
    size_t ctlen = 0;
    if (!why)
        why = &dummy;
    int rc = parse(payload, n, &ct, &ctlen, iv, why);
    if (rc == HEARTH_OK && (rc = hearth_ecdh_x(sk, pk, key)) != HEARTH_OK)
        *why = rc == HEARTH_EINVAL ? "invalid: nip04 bad secret or public key"
                                   : "error: crypto library failed";
    if (rc == HEARTH_OK)
        rc = decrypt_into(key, iv, ct, ctlen, out, why);
    sodium_memzero(key, sizeof key);
    free(ct);
    return rc;
}
