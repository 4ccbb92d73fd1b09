/* The relay's message handling (hearth_relay_conn_input) on arbitrary
 * bytes, without sockets. The input is split at newlines into messages
 * sent on one fresh connection, so sequences (REQ then EVENT then CLOSE)
 * get explored. Whatever the relay answers must be a relay message that
 * hearth parses. Odd-sized inputs go to a relay that requires AUTH and
 * runs in discovery mode with a PoW rule, even-sized ones to a plain one.
 * State (the store) carries over between inputs, as on a real relay. */
#include "hearth/error.h"
#include "hearth/message.h"
#include "hearth/relay.h"
#include "hearth/store.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct target {
    char dir[256];
    hearth_store *store;
    hearth_relay *relay;
};

static struct target plain, strict;

static void rm_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[512];
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

static void close_target(struct target *t)
{
    hearth_relay_free(t->relay);
    hearth_store_close(t->store);
    rm_dir(t->dir);
}

static void at_exit(void)
{
    close_target(&plain);
    close_target(&strict);
}

static void open_target(struct target *t, int strict_rules)
{
    hearth_relay_opts o;
    const char *why;
    snprintf(t->dir, sizeof t->dir, "/tmp/hearth-fuzz-relay-XXXXXX");
    if (!mkdtemp(t->dir) || hearth_store_open(t->dir, NULL, &t->store))
        abort();
    hearth_relay_opts_init(&o);
    o.threads = 0;          /* deterministic: verify and write inline */
    o.rate_conn = 0;        /* time-dependent: off */
    o.rate_pubkey = 0;
    o.max_subs = 4;
    o.max_filters = 4;
    o.max_limit = 20;
    o.max_message = 1 << 16;
    if (strict_rules) {
        o.auth = HEARTH_RELAY_AUTH_ALL;
        o.policy.discovery = 1;
        if (hearth_policy_parse_pow(&o.policy, "5970:4,*:0", &why))
            abort();
    }
    if (hearth_relay_new(NULL, t->store, &o, &t->relay))
        abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    open_target(&plain, 0);
    open_target(&strict, 1);
    atexit(at_exit);
    return 0;
}

/* every line the relay wrote must parse as a relay message */
static void check_output(const hearth_buf *out)
{
    const char *p = out->p, *end = out->p + out->len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        hearth_msg m;
        const char *why = NULL;
        if (!nl)
            abort(); /* every message ends with a newline */
        if (hearth_msg_parse_relay(p, (size_t)(nl - p), &m, &why)) {
            fprintf(stderr, "relay sent what it cannot parse (%s): %.*s\n",
                    why, (int)(nl - p), p);
            abort();
        }
        hearth_msg_clear(&m);
        p = nl + 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct target *t = size & 1 ? &strict : &plain;
    hearth_relay_conn *c;
    hearth_buf out = HEARTH_BUF_INIT;
    const char *p = (const char *)data, *end = p + size;
    if (hearth_relay_conn_new(t->relay, &c))
        abort();
    while (p <= end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (hearth_relay_conn_input(c, p, n) == 1)
            break;
        if (!nl)
            break;
        p = nl + 1;
    }
    hearth_relay_poll(t->relay);
    hearth_relay_conn_output(c, &out);
    if (hearth_buf_error(&out))
        abort();
    check_output(&out);
    hearth_buf_free(&out);
    hearth_relay_conn_free(c);
    return 0;
}
