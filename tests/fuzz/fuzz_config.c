/* libFuzzer: the configuration file reader (src/app/config.c). Every
 * accepted entry must have a key of the allowed alphabet and a value that
 * is a NUL-terminated string inside the parsed memory. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "app/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct config c;
    char err[CONFIG_ERR_MAX];
    if (config_parse((const char *)data, size, &c, err, sizeof err) != 0) {
        if (!memchr(err, '\0', sizeof err) || c.e || c.mem)
            abort();
        return 0;
    }
    for (size_t i = 0; i < c.n; i++) {
        size_t kl = strlen(c.e[i].key);
        if (!kl || kl > CONFIG_KEY_MAX ||
            strspn(c.e[i].key, "abcdefghijklmnopqrstuvwxyz0123456789-") != kl)
            abort();
        if (strlen(c.e[i].value) > size || c.e[i].line == 0)
            abort();
    }
    config_free(&c);
    return 0;
}
