#include "pool_cli.h"

#include "cli.h"
#include "hearth/error.h"
#include "hearth/hex.h"
#include "hearth/keys.h"
#include "hearth/kinds.h"
#include "hearth/nip19.h"

#include <signal.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char pool_cli_help[] =
    "  --relay URL      a relay (ws:// or wss://); repeat for more\n"
    "  --timeout S      give up after S seconds (decimals allowed)\n"
    "  --key SPEC       key for NIP-42 AUTH (and signing); default\n"
    "                   $HEARTH_KEY, then ~/.config/hearth/key if present\n"
    "  --ca-file FILE   CA bundle for wss:// (default " HEARTH_POOL_CA_FILE
    ")\n"
    "  --stats          print each relay's statistics (JSON) on stderr\n";

/* the one event loop, reachable from the signal handler */
static hearth_loop *signal_loop;

static void on_signal(int sig)
{
    (void)sig;
    if (signal_loop)
        hearth_loop_stop(signal_loop);
}

static int value_of(int argc, char **argv, int *i, const char *name,
                    const char **out)
{
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (!strncmp(a, name, n) && a[n] == '=') {
        *out = a + n + 1;
        return 1;
    }
    if (strcmp(a, name))
        return 0;
    if (*i + 1 >= argc) {
        cli_error("%s needs a value (see --help)", name);
        return -1;
    }
    *out = argv[++*i];
    return 1;
}

int pool_cli_opt(struct pool_cli *c, int argc, char **argv, int *i)
{
    const char *v;
    int r;
    if (!strcmp(argv[*i], "-h") || !strcmp(argv[*i], "--help")) {
        c->help = 1;
        return 1;
    }
    if (!strcmp(argv[*i], "--json"))
        return c->json = 1;
    if (!strcmp(argv[*i], "--stats"))
        return c->stats = 1;
    if ((r = value_of(argc, argv, i, "--relay", &v)) != 0) {
        if (r > 0 && c->nrelays >= HEARTH_POOL_MAX_RELAYS) {
            cli_error("at most %u relays", HEARTH_POOL_MAX_RELAYS);
            return -1;
        }
        if (r > 0)
            c->relays[c->nrelays++] = v;
        return r;
    }
    if ((r = value_of(argc, argv, i, "--key", &v)) != 0)
        return r > 0 ? (c->key = v, 1) : -1;
    if ((r = value_of(argc, argv, i, "--ca-file", &v)) != 0)
        return r > 0 ? (c->ca_file = v, 1) : -1;
    if ((r = value_of(argc, argv, i, "--timeout", &v)) != 0) {
        char *end;
        if (r < 0)
            return -1;
        c->timeout = strtod(v, &end);
        if (*end || !(c->timeout >= 0) || c->timeout > 86400 * 365) {
            cli_error("--timeout wants seconds, got '%s'", v);
            return -1;
        }
        c->has_timeout = 1;
        return 1;
    }
    return 0;
}

int pool_cli_key(struct pool_cli *c)
{
    char path[4096];
    const char *spec = getenv("HEARTH_KEY");
    if (c->key) {
        if (cli_load_key(c->key, c->sk))
            return -1;
        c->has_key = 1;
        return 0;
    }
    if (!spec || !*spec) {
        const char *xdg = getenv("XDG_CONFIG_HOME");
        const char *home = getenv("HOME");
        if (xdg && *xdg)
            snprintf(path, sizeof path, "%s/hearth/key", xdg);
        else
            snprintf(path, sizeof path, "%s/.config/hearth/key",
                     home ? home : ".");
        if (access(path, R_OK) != 0)
            return 0;
        spec = path;
    }
    c->has_key = hearth_key_load(spec, c->sk, NULL) == HEARTH_OK;
    return 0;
}

int pool_cli_open(struct pool_cli *c, hearth_pool_opts *o)
{
    if (c->nrelays == 0) {
        cli_error("no relay: give at least one --relay URL");
        return CLI_USAGE;
    }
    for (size_t i = 0; i < c->nrelays; i++) {
        hearth_buf b = HEARTH_BUF_INIT;
        int bad = hearth_relay_url_normalize(c->relays[i], &b);
        hearth_buf_free(&b);
        if (bad) {
            cli_error("'%s' is not a ws:// or wss:// relay URL",
                      c->relays[i]);
            return CLI_USAGE;
        }
    }
    o->sk = c->has_key ? c->sk : NULL;
    o->ca_file = c->ca_file;
    if (hearth_loop_new(&c->loop) ||
        hearth_pool_new(c->loop, o, &c->pool)) {
        cli_error("could not start the event loop (libwebsockets)");
        return CLI_ERROR;
    }
    for (size_t i = 0; i < c->nrelays; i++)
        if (hearth_pool_add_relay(c->pool, c->relays[i], NULL)) {
            cli_error("could not add relay '%s'", c->relays[i]);
            return CLI_ERROR;
        }
    signal_loop = c->loop;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    return CLI_OK;
}

static void timer_cb(lws_sorted_usec_list_t *sul)
{
    struct pool_cli *c = lws_container_of(sul, struct pool_cli, timer);
    c->timed_out = 1;
    if (c->on_timeout)
        c->on_timeout(c);
    else
        hearth_loop_stop(c->loop);
}

void pool_cli_arm_timeout(struct pool_cli *c, double secs)
{
    lws_sul_schedule(hearth_loop_lws(c->loop), 0, &c->timer, timer_cb,
                     (lws_usec_t)(secs * 1e6));
}

int pool_cli_report(struct pool_cli *c)
{
    int dropped = 0;
    hearth_pool_relay_info st;
    for (size_t i = 0; i < hearth_pool_nrelays(c->pool); i++) {
        hearth_pool_relay_stats(c->pool, i, &st);
        if (!st.drops)
            continue;
        dropped++;
        fprintf(stderr, "hearth: relay %s: dropped for misbehaviour "
                "(%llu bad signatures, %llu bad ids, %llu unparseable, "
                "%llu unmatched, %llu floods): %s\n", st.url,
                (unsigned long long)st.bad_sig,
                (unsigned long long)st.bad_id,
                (unsigned long long)st.bad_json,
                (unsigned long long)st.unmatched,
                (unsigned long long)st.floods, st.last_error);
    }
    if (c->stats) {
        hearth_buf b = HEARTH_BUF_INIT;
        hearth_pool_stats_json(c->pool, &b);
        fprintf(stderr, "%s\n", b.p ? b.p : "[]");
        hearth_buf_free(&b);
    }
    return dropped;
}

void pool_cli_close(struct pool_cli *c)
{
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    if (c->loop)
        lws_sul_cancel(&c->timer);
    hearth_pool_free(c->pool);
    hearth_loop_free(c->loop);
    signal_loop = NULL;
    c->pool = NULL;
    c->loop = NULL;
    sodium_memzero(c->sk, sizeof c->sk);
}

int pool_cli_pubkey(const char *s, uint8_t pk[32])
{
    size_t n = strlen(s);
    if ((n == 64 && hearth_hex_decode(s, n, pk, 32, 1) == HEARTH_OK) ||
        (!strncmp(s, "npub1", 5) &&
         hearth_nip19_decode32(s, "npub", pk) == HEARTH_OK))
        return 0;
    cli_error("'%s' is not a public key: give 64 hex characters or an npub",
              s);
    return -1;
}

struct list_fetch {
    struct pool_cli *c;
    hearth_event *best;       /* newest relay list seen (a copy) */
    pool_cli_list_cb done;
    void *user;
};

static int list_on_event(hearth_sub *s, const hearth_event *ev,
                         const char *relay, void *user)
{
    struct list_fetch *f = user;
    hearth_buf b = HEARTH_BUF_INIT;
    hearth_event *copy = NULL;
    if (f->best && f->best->created_at >= ev->created_at)
        return 0;
    /* the pool frees ev after this call: keep a copy */
    if (hearth_event_to_json(ev, &b) == HEARTH_OK && !hearth_buf_error(&b) &&
        hearth_event_parse(b.p, b.len, 0, &copy, NULL) == HEARTH_OK) {
        hearth_event_free(f->best);
        f->best = copy;
    }
    hearth_buf_free(&b);
    return 0;
}

static void list_on_all_eose(hearth_sub *s, void *user)
{
    struct list_fetch *f = user;
    hearth_relay_list l;
    hearth_pool_unsub(s);
    int have = f->best && hearth_nip65_parse(f->best, &l) == HEARTH_OK;
    f->done(f->c, have ? &l : NULL, f->user);
    if (have)
        hearth_relay_list_clear(&l);
    hearth_event_free(f->best);
    free(f);
}

int pool_cli_fetch_relay_list(struct pool_cli *c, const uint8_t pk[32],
                              pool_cli_list_cb done, void *user)
{
    char json[128], hex[65];
    hearth_filter *flt = NULL;
    hearth_sub *s = NULL;
    struct list_fetch *f = calloc(1, sizeof *f);
    if (!f)
        return CLI_ERROR;
    f->c = c;
    f->done = done;
    f->user = user;
    hearth_hex_encode(pk, 32, hex);
    snprintf(json, sizeof json, "{\"kinds\":[%u],\"authors\":[\"%s\"]}",
             HEARTH_KIND_RELAY_LIST, hex);
    hearth_sub_cbs cbs = {list_on_event, NULL, list_on_all_eose};
    int rc = hearth_filter_parse(json, strlen(json), &flt, NULL);
    if (rc == HEARTH_OK)
        rc = hearth_pool_sub(c->pool, &flt, 1, &cbs, f, &s);
    hearth_filter_free(flt);
    if (rc) {
        free(f);
        cli_error("could not ask for the relay list");
        return CLI_ERROR;
    }
    return CLI_OK;
}

size_t pool_cli_add_relays(struct pool_cli *c, char *const *urls, size_t n,
                           size_t max)
{
    size_t added = 0;
    for (size_t i = 0; i < n && added < max; i++) {
        size_t before = hearth_pool_nrelays(c->pool);
        if (hearth_pool_add_relay(c->pool, urls[i], NULL) == HEARTH_OK &&
            hearth_pool_nrelays(c->pool) > before)
            added++;
    }
    return added;
}
