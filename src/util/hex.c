#include "hearth/hex.h"
#include "hearth/error.h"

void hearth_hex_encode(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static int nibble(unsigned char c, int allow_upper)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (allow_upper && c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int hearth_hex_decode(const char *in, size_t inlen, uint8_t *out, size_t n,
                      int allow_upper)
{
    if (inlen != 2 * n)
        return HEARTH_EINVAL;
    for (size_t i = 0; i < n; i++) {
        int hi = nibble((unsigned char)in[2 * i], allow_upper);
        int lo = nibble((unsigned char)in[2 * i + 1], allow_upper);
        if (hi < 0 || lo < 0)
            return HEARTH_EINVAL;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return HEARTH_OK;
}
