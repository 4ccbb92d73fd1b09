/* NIP-44 and NIP-04 decryption of arbitrary bytes must fail cleanly with a
 * reason and leave the output alone. Random payloads almost never get past
 * the MAC, so the input is also sealed as a padded blob under a valid MAC to
 * reach the length-prefix checks. Encrypt-then-decrypt must give the input
 * back. Any violation aborts. */
#include "hearth/error.h"
#include "hearth/keys.h"
#include "hearth/nip04.h"
#include "hearth/nip44.h"

#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t ck[32] = {0x4e, 0x49, 0x50, 0x34, 0x34};
static const uint8_t nonce[32] = {1};
static const uint8_t iv[16] = {2};
static uint8_t sk[32] = {[31] = 1}, pk[32];

/* decrypt must either succeed or say why, and not touch out on failure */
static int check_decrypt(int rc, const char *why, const hearth_buf *out)
{
    if (rc != HEARTH_OK && (!why || out->len != 0))
        abort();
    return rc;
}

static void decrypt_raw(const uint8_t *data, size_t size)
{
    hearth_buf out = HEARTH_BUF_INIT;
    const char *why = NULL;
    check_decrypt(hearth_nip44_decrypt(ck, (const char *)data, size, &out,
                                       &why),
                  why, &out);
    hearth_buf_free(&out);
    why = NULL;
    check_decrypt(hearth_nip04_decrypt(sk, pk, (const char *)data, size,
                                       &out, &why),
                  why, &out);
    hearth_buf_free(&out);
}

/* Seal data as the padded plaintext with a valid MAC, then decrypt: an
 * accepted blob must carry a canonical prefix that frames the output. */
static void decrypt_sealed(const uint8_t *data, size_t size)
{
    uint8_t key[32], cn[12], hk[32];
    uint8_t *raw = malloc(65 + size);
    crypto_auth_hmacsha256_state st;
    if (!raw)
        return;
    hearth_nip44_message_keys(ck, nonce, key, cn, hk);
    raw[0] = 2;
    memcpy(raw + 1, nonce, 32);
    if (size)
        crypto_stream_chacha20_ietf_xor_ic(raw + 33, data, size, cn, 0, key);
    crypto_auth_hmacsha256_init(&st, hk, 32);
    crypto_auth_hmacsha256_update(&st, raw + 1, 32 + size);
    crypto_auth_hmacsha256_final(&st, raw + 33 + size);
    size_t enclen = sodium_base64_encoded_len(65 + size,
                                              sodium_base64_VARIANT_ORIGINAL);
    char *enc = malloc(enclen);
    if (enc) {
        sodium_bin2base64(enc, enclen, raw, 65 + size,
                          sodium_base64_VARIANT_ORIGINAL);
        hearth_buf out = HEARTH_BUF_INIT;
        const char *why = NULL;
        int rc = hearth_nip44_decrypt(ck, enc, enclen - 1, &out, &why);
        if (check_decrypt(rc, why, &out) == HEARTH_OK) {
            size_t pre = out.len < 65536 ? 2 : 6;
            if (size != pre + hearth_nip44_padded_len(out.len) ||
                memcmp(out.p, data + pre, out.len) != 0)
                abort();
        }
        hearth_buf_free(&out);
        free(enc);
    }
    free(raw);
}

static void round_trip(const uint8_t *data, size_t size)
{
    hearth_buf enc = HEARTH_BUF_INIT, dec = HEARTH_BUF_INIT;
    const char *why = NULL;
    if (size >= 1 && size <= 65536) {
        if (hearth_nip44_encrypt(ck, (const char *)data, size, nonce, &enc) ||
            hearth_nip44_decrypt(ck, enc.p, enc.len, &dec, &why) ||
            dec.len != size || memcmp(dec.p, data, size) != 0)
            abort();
        hearth_buf_reset(&enc);
        hearth_buf_reset(&dec);
    }
    if (hearth_nip04_encrypt(sk, pk, (const char *)data, size, iv, &enc) ||
        hearth_nip04_decrypt(sk, pk, enc.p, enc.len, &dec, &why) ||
        dec.len != size || (size && memcmp(dec.p, data, size) != 0))
        abort();
    hearth_buf_free(&enc);
    hearth_buf_free(&dec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        if (hearth_key_pubkey(sk, pk))
            abort();
        ready = 1;
    }
    decrypt_raw(data, size);
    decrypt_sealed(data, size);
    round_trip(data, size);
    return 0;
}
