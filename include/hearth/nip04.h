/* NIP-04 encrypted direct messages, for compatibility only: new code should
 * use NIP-44. The key is the unhashed ECDH x coordinate; the payload is
 * "base64(AES-256-CBC/PKCS#7 ciphertext)?iv=base64(16-byte iv)". The scheme
 * has no MAC, so a ciphertext can be altered without detection. */
#ifndef HEARTH_NIP04_H
#define HEARTH_NIP04_H

#include <stddef.h>
#include <stdint.h>

#include "hearth/buf.h"

/* Same bound and reason as HEARTH_NIP44_MAX_PLAINTEXT. */
#define HEARTH_NIP04_MAX_PLAINTEXT (16u << 20)

/* Appends the payload for pt[0..n) (n may be 0) to out. iv may be NULL
 * (fresh random iv, the only safe choice outside tests). HEARTH_EINVAL for a
 * bad key, HEARTH_ETOOBIG above HEARTH_NIP04_MAX_PLAINTEXT. */
int hearth_nip04_encrypt(const uint8_t sk[32], const uint8_t pk[32],
                         const char *pt, size_t n, const uint8_t iv[16],
                         hearth_buf *out);

/* Appends the plaintext to out. Strict: exactly one "?iv=", canonical
 * padded base64 on both sides, a whole number of AES blocks, a 16-byte iv.
 * A wrong key and a corrupted ciphertext give the same reason on purpose
 * (telling bad padding apart would be a padding oracle). HEARTH_EINVAL,
 * HEARTH_ETOOBIG or HEARTH_ECRYPTO, with *why (if given) set. */
int hearth_nip04_decrypt(const uint8_t sk[32], const uint8_t pk[32],
                         const char *payload, size_t n, hearth_buf *out,
                         const char **why);

#endif
