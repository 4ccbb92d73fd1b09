/* Internal: one-time initialisation of libsodium and the secp256k1 signing
 * context. The context is created once, randomised, and never written
 * again, so sharing it between threads is safe (libsecp256k1 only reads
 * it). Verification uses secp256k1_context_static and needs no init. */
#ifndef HEARTH_CRYPTO_H
#define HEARTH_CRYPTO_H

#include <secp256k1.h>
#include <stddef.h>
#include <stdint.h>

/* NULL only if libsodium or libsecp256k1 could not initialise */
const secp256k1_context *hearth_secp_sign_ctx(void);
int hearth_crypto_init(void);
void hearth_sha256(const void *p, size_t n, uint8_t out[32]);

#endif
