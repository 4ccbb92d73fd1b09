/* hearth relay: run a NIP-01 relay on the local event store until SIGINT
 * or SIGTERM (docs/relay.md). */
#include "cli.h"
#include "hearth/error.h"
#include "hearth/hex.h"
#include "hearth/loop.h"
#include "hearth/relay.h"
#include "hearth/store.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* the one event loop, reachable from the signal handler */
static hearth_loop *the_loop;

static const char usage_text[] =
"usage: hearth relay [options]\n"
"\n"
"Runs a Nostr relay (NIP-01, 09, 11, 13, 40, 42, 45) on an LMDB event store\n"
"until SIGINT or SIGTERM. An event is acknowledged with OK true only once it\n"
"is committed to disk. Logs go to stderr and never contain event contents.\n"
"\n"
"  --data DIR          event store (default $XDG_DATA_HOME/hearth/relay,\n"
"                      i.e. ~/.local/share/hearth/relay)\n"
"  --host ADDR         listen address (default 127.0.0.1)\n"
"  --port N            listen port (default 7447; 0 picks a free one)\n"
"  --url URL           this relay's public URL, for NIP-42 (default ws://HOST:PORT)\n"
"  --json              print one JSON line {\"url\":...} once listening\n"
"  --threads N         signature-verify threads (default: one per CPU)\n"
"\n"
"limits (0 turns a rate limit off; sizes take k or m suffixes):\n"
"  --max-message BYTES largest client message (default 256k)\n"
"  --max-subs N        open subscriptions per connection (default 32)\n"
"  --max-filters N     filters per REQ or COUNT (default 10)\n"
"  --max-limit N       events per filter before EOSE (default 500)\n"
"  --rate-conn N       EVENTs per second per connection (default 100)\n"
"  --rate-pubkey N     EVENTs per second per author (default 50)\n"
"  --max-output BYTES  unsent output before a slow reader is closed (default 8m)\n"
"  --max-future S      refuse created_at more than S seconds ahead (default 900)\n"
"  --purge-interval S  seconds between removals of expired events (default 30)\n"
"\n"
"policy:\n"
"  --pow LIST          minimum NIP-13 difficulty per kind, e.g. 5970:20,*:0\n"
"  --discovery         accept only hearth market kinds (others: \"blocked:\")\n"
"  --job-kinds LIST    NIP-90 job kinds for --discovery, e.g. 5970,5100-5199\n"
"                      (default: all of 5000-5999)\n"
"  --auth MODE         none (default), write, read or all: what needs NIP-42\n"
"\n"
"NIP-11 document:\n"
"  --name TEXT, --description TEXT, --contact URI, --pubkey HEX\n";

static void log_line(void *ctx, const char *line)
{
    char ts[32];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    fprintf(stderr, "%s hearth relay: %s\n", ts, line);
}

static void on_signal(int sig)
{
    if (the_loop)
        hearth_loop_stop(the_loop);
}

/* decimal with an optional k or m (KiB, MiB) suffix */
static int parse_size(const char *s, unsigned long long max,
                      unsigned long long *out)
{
    char *end;
    unsigned long long v, mul = 1;
    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (*end == 'k' || *end == 'K')
        mul = 1024, end++;
    else if (*end == 'm' || *end == 'M')
        mul = 1024 * 1024, end++;
    if (errno || *end || v > max / mul)
        return -1;
    *out = v * mul;
    return 0;
}

struct cli {
    hearth_relay_opts o;
    const char *data;
    const char *pow, *job_kinds;
    int json;
};

static int set_auth(struct cli *c, const char *v)
{
    static const char *const names[] = {"none", "write", "read", "all"};
    for (int i = 0; i < 4; i++)
        if (!strcmp(v, names[i])) {
            c->o.auth = i;
            return 0;
        }
    return -1;
}

static int set_size(const char *v, unsigned long long max, size_t *out)
{
    unsigned long long n;
    if (parse_size(v, max, &n))
        return -1;
    *out = (size_t)n;
    return 0;
}

static int set_rate(const char *v, double *out)
{
    unsigned long long n;
    if (parse_size(v, 1000000, &n))
        return -1;
    *out = (double)n;
    return 0;
}

/* one "--name value" option; -1 unknown or bad value */
static int set_option(struct cli *c, const char *k, const char *v)
{
    hearth_relay_opts *o = &c->o;
    size_t n;
    uint8_t pk[32];
#define IS(name) (!strcmp(k, name))
    if (IS("--data")) c->data = v;
    else if (IS("--host")) o->host = v;
    else if (IS("--url")) o->url = v;
    else if (IS("--pow")) c->pow = v;
    else if (IS("--job-kinds")) c->job_kinds = v;
    else if (IS("--name")) o->name = v;
    else if (IS("--description")) o->description = v;
    else if (IS("--contact")) o->contact = v;
    else if (IS("--pubkey"))
        return strlen(v) == 64 && !hearth_hex_decode(v, 64, pk, 32, 0)
                   ? (o->pubkey = v, 0) : -1;
    else if (IS("--auth")) return set_auth(c, v);
    else if (IS("--port")) {
        if (set_size(v, 65535, &n)) return -1;
        o->port = (int)n;
    } else if (IS("--threads")) {
        if (set_size(v, 256, &n) || n == 0) return -1;
        o->threads = (unsigned)n;
    } else if (IS("--max-future")) {
        if (set_size(v, 1u << 30, &n)) return -1;
        o->policy.max_future = (int64_t)n;
    } else if (IS("--max-message")) return set_size(v, 4u << 20, &o->max_message) || !o->max_message ? -1 : 0;
    else if (IS("--max-subs")) return set_size(v, 1u << 16, &o->max_subs) || !o->max_subs ? -1 : 0;
    else if (IS("--max-filters")) return set_size(v, 32, &o->max_filters) || !o->max_filters ? -1 : 0;
    else if (IS("--max-limit")) return set_size(v, 1u << 20, &o->max_limit) || !o->max_limit ? -1 : 0;
    else if (IS("--max-output")) return set_size(v, 1ull << 32, &o->max_output) || !o->max_output ? -1 : 0;
    else if (IS("--purge-interval")) {
        if (set_size(v, 86400, &n)) return -1;
        o->purge_interval = (unsigned)n;
    } else if (IS("--rate-conn")) return set_rate(v, &o->rate_conn);
    else if (IS("--rate-pubkey")) return set_rate(v, &o->rate_pubkey);
    else return -1;
#undef IS
    return 0;
}

static int parse_args(int argc, char **argv, struct cli *c)
{
    for (int i = 1; i < argc; i++) {
        char key[64];
        const char *a = argv[i], *v = NULL, *eq;
        if (!strcmp(a, "--json")) {
            c->json = 1;
            continue;
        }
        if (!strcmp(a, "--discovery")) {
            c->o.policy.discovery = 1;
            continue;
        }
        if (strncmp(a, "--", 2) || strlen(a) >= sizeof key) {
            cli_error("unexpected argument '%s' (see 'hearth relay --help')", a);
            return -1;
        }
        snprintf(key, sizeof key, "%s", a);
        if ((eq = strchr(a, '='))) {
            key[eq - a] = '\0';
            v = eq + 1;
        } else if (i + 1 < argc) {
            v = argv[++i];
        }
        if (!v || set_option(c, key, v)) {
            cli_error("bad or unknown option '%s%s%s' (see 'hearth relay "
                      "--help')", key, v ? " " : "", v ? v : "");
            return -1;
        }
    }
    return 0;
}

static int apply_policy(struct cli *c)
{
    const char *why = NULL;
    if (c->pow && hearth_policy_parse_pow(&c->o.policy, c->pow, &why)) {
        cli_error("--pow: %s", why);
        return -1;
    }
    if (c->job_kinds &&
        hearth_policy_parse_kinds(&c->o.policy, c->job_kinds, &why)) {
        cli_error("--job-kinds: %s", why);
        return -1;
    }
    return 0;
}

static void default_data_dir(char *out, size_t n)
{
    const char *xdg = getenv("XDG_DATA_HOME");
    const char *home = getenv("HOME");
    if (xdg && *xdg)
        snprintf(out, n, "%s/hearth/relay", xdg);
    else
        snprintf(out, n, "%s/.local/share/hearth/relay", home ? home : ".");
}

static void announce(const struct cli *c, hearth_relay *r, const char *data)
{
    if (c->json) {
        hearth_buf b = HEARTH_BUF_INIT;
        hearth_buf_adds(&b, "{\"url\":");
        hearth_buf_addjson(&b, hearth_relay_url(r), strlen(hearth_relay_url(r)));
        hearth_buf_adds(&b, ",\"host\":");
        hearth_buf_addjson(&b, c->o.host, strlen(c->o.host));
        hearth_buf_addf(&b, ",\"port\":%d,\"data\":", hearth_relay_port(r));
        hearth_buf_addjson(&b, data, strlen(data));
        hearth_buf_addf(&b, ",\"threads\":%u,\"pid\":%ld}", c->o.threads,
                        (long)getpid());
        puts(b.p ? b.p : "{}");
        hearth_buf_free(&b);
    } else {
        printf("hearth relay: listening on %s (data %s)\n",
               hearth_relay_url(r), data);
    }
    fflush(stdout);
}

static void catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static void summary(hearth_relay *r)
{
    hearth_relay_stats st;
    hearth_relay_get_stats(r, &st);
    fprintf(stderr, "hearth relay: %" PRIu64 " connections, %" PRIu64
            " events stored, %" PRIu64 " refused, %" PRIu64 " duplicates, %"
            PRIu64 " commits, %" PRIu64 " queries\n", st.accepted,
            st.events_stored, st.events_refused, st.duplicates, st.batches,
            st.queries);
}

static int serve(struct cli *c, const char *data)
{
    hearth_store *store = NULL;
    hearth_relay *relay = NULL;
    int rc = hearth_store_open(data, NULL, &store);
    if (rc) {
        cli_error("cannot open the event store in %s: %s", data,
                  rc == HEARTH_EIO ? strerror(errno) : hearth_strerror(rc));
        return CLI_ERROR;
    }
    if ((rc = hearth_loop_new(&the_loop))) {
        cli_error("cannot start the event loop");
        hearth_store_close(store);
        return CLI_ERROR;
    }
    if ((rc = hearth_relay_new(the_loop, store, &c->o, &relay))) {
        cli_error("cannot listen on %s port %d: %s", c->o.host, c->o.port,
                  rc == HEARTH_EIO ? "address in use or not available"
                                   : hearth_strerror(rc));
        hearth_loop_free(the_loop);
        the_loop = NULL;
        hearth_store_close(store);
        return CLI_ERROR;
    }
    announce(c, relay, data);
    catch_signals();
    rc = hearth_loop_run(the_loop);
    log_line(NULL, "stopping");
    hearth_relay_stop(relay);    /* commits what is in the pipeline */
    hearth_relay_poll(relay);    /* (only counts it: the loop is done) */
    summary(relay);
    hearth_loop_free(the_loop);  /* closes the connections */
    the_loop = NULL;
    hearth_relay_free(relay);
    hearth_store_close(store);
    return rc ? CLI_ERROR : CLI_OK;
}

int cmd_relay(int argc, char **argv)
{
    struct cli c;
    char data[PATH_MAX];
    memset(&c, 0, sizeof c);
    hearth_relay_opts_init(&c.o);
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(usage_text, stdout);
            return CLI_OK;
        }
    if (parse_args(argc, argv, &c) || apply_policy(&c))
        return CLI_USAGE;
    c.o.log = log_line;
    if (c.data)
        snprintf(data, sizeof data, "%s", c.data);
    else
        default_data_dir(data, sizeof data);
    if (cli_mkdir_parents(data)) {
        cli_error("cannot create the parents of %s: %s", data, strerror(errno));
        return CLI_ERROR;
    }
    return serve(&c, data);
}
