/* Lowercase hex encoding, as Nostr uses it everywhere. */
#ifndef HEARTH_HEX_H
#define HEARTH_HEX_H

#include <stddef.h>
#include <stdint.h>

/* Writes 2*n lowercase hex chars and a NUL into out (size >= 2*n+1). */
void hearth_hex_encode(const uint8_t *in, size_t n, char *out);
/* Decodes exactly 2*n hex chars from in. Lowercase only unless
 * allow_upper is set (user input on the CLI). Returns HEARTH_OK or
 * HEARTH_EINVAL. */
int hearth_hex_decode(const char *in, size_t inlen, uint8_t *out, size_t n,
                      int allow_upper);

#endif
