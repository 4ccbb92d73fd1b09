/* Message parsers: any bytes must parse or be rejected with a reason, as a
 * client message and as a relay message. A parsed message must build; the
 * built text must parse to the same type and build to the same text again
 * (builders write one canonical form). */
#include "hearth/message.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef int (*parse_fn)(const char *, size_t, hearth_msg *, const char **);

static void exercise(const hearth_msg *m)
{
    const char *why = NULL;
    if (m->event && m->type == HEARTH_MSG_AUTH)
        hearth_auth_check(m->event, "wss://relay.example.com", "c", 1000,
                          &why);
    if (m->message)
        hearth_prefix_parse(m->message);
}

static void check(parse_fn parse, const uint8_t *data, size_t size)
{
    hearth_msg m, m2;
    const char *why = NULL;
    if (parse((const char *)data, size, &m, &why) != 0) {
        if (!why || m.type != HEARTH_MSG_NONE)
            abort();
        return;
    }
    exercise(&m);
    hearth_buf a = HEARTH_BUF_INIT, b = HEARTH_BUF_INIT;
    if (hearth_msg_build(&m, &a))
        abort(); /* whatever parses must build */
    if (parse(a.p, a.len, &m2, &why))
        abort(); /* and what we build must parse */
    if (m2.type != m.type || hearth_msg_build(&m2, &b))
        abort();
    if (a.len != b.len || memcmp(a.p, b.p, a.len))
        abort();
    hearth_buf_free(&a);
    hearth_buf_free(&b);
    hearth_msg_clear(&m);
    hearth_msg_clear(&m2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check(hearth_msg_parse_client, data, size);
    check(hearth_msg_parse_relay, data, size);
    return 0;
}
