/* hearth init: from nothing to a configured peer in one command
 * (docs/configuration.md "hearth init"). It makes or imports the key,
 * looks at the hardware, measures the PoW speed, reads the market's prices
 * for comparable offers, proposes prices with an earnings estimate, and
 * writes the configuration file. Questions on a terminal; none with
 * --yes or without a terminal. */
#include "cli.h"
#include "config.h"
#include "init_price.h"

#include "hearth/error.h"
#include "hearth/hw.h"
#include "hearth/keys.h"
#include "hearth/kinds.h"
#include "hearth/nip19.h"
#include "hearth/nip49.h"
#include "hearth/runner.h"
#include "hearth/view.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#define MAX_RELAYS 8

/* Public relays that carry NIP-90 traffic; the relay operators' guide
 * (docs/relay-operators.md) says how to add one's own. */
static const char *const default_relays[] = {
    "wss://relay.damus.io", "wss://nos.lol", "wss://relay.primal.net"};

static const char usage_text[] =
    "usage: hearth init [--yes] [--config FILE] [--key FILE] [--data DIR]\n"
    "                   [--import NSEC] [--encrypt] [--relay URL]...\n"
    "                   [--runner SPEC]\n"
    "                   [--price-mhash MSAT] [--price-job MSAT]\n"
    "                   [--credit-limit MSAT] [--sync S] [--bench-ms MS]\n"
    "                   [--force] [--json]\n"
    "\n"
    "Sets this machine up as a hearth peer: creates the key (or imports an\n"
    "nsec), detects the CPU and NVIDIA GPUs, measures the PoW speed, reads\n"
    "the prices of comparable offers from the relays, proposes prices with\n"
    "a typical-earnings estimate, and writes the configuration file\n"
    "(default $XDG_CONFIG_HOME/hearth/hearth.conf). Then run 'hearth run'.\n"
    "On a terminal it asks before using each proposal; --yes takes them.\n"
    "\n"
    "  --yes              ask nothing: take every proposal\n"
    "  --config FILE      where to write the configuration\n"
    "  --key FILE         the key file (default $XDG_CONFIG_HOME/hearth/key;\n"
    "                     made 0600 if it does not exist)\n"
    "  --import NSEC      store this secret key (nsec, hex or ncryptsec)\n"
    "                     instead of a new one\n"
    "  --encrypt          store the key encrypted with a passphrase (NIP-49\n"
    "                     ncryptsec; from $HEARTH_PASSPHRASE or asked)\n"
    "  --data DIR         data directory (default $XDG_DATA_HOME/hearth)\n"
    "  --relay URL        a relay; repeat (default: three public relays)\n"
    "  --runner SPEC      what to serve (default pow; see 'hearth run')\n"
    "  --price-mhash MSAT, --price-job MSAT  prices instead of the proposal\n"
    "  --credit-limit MSAT  credit a new customer gets (default 20000)\n"
    "  --sync S           seconds to read the market (default 5; 0: skip)\n"
    "  --bench-ms MS      length of the PoW benchmark (default 1000)\n"
    "  --force            overwrite an existing configuration file\n"
    "  --json             print what was done as one JSON object\n"
    "\n"
    "Exit status: 0 written, 2 usage, 3 could not (key, file, benchmark).\n";

struct init {
    int yes, force, json, interactive, encrypt;
    const char *config, *key, *data, *import, *runner;
    const char *relays[MAX_RELAYS];
    size_t nrelays;
    long long price_mhash, price_job, credit_limit; /* -1: propose */
    double sync_s;
    unsigned bench_ms;
    char config_buf[4096], key_buf[4096], data_buf[4096];
    uint8_t pk[32];
    int key_created;
    hearth_hw hw;
    double bench_mhs;
    struct init_prices prop;
};

static int num_opt(const char *name, const char *v, long long max,
                   long long *out)
{
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end || x < 0 || x > max) {
        cli_error("%s wants a whole number from 0 to %lld, not '%s'", name,
                  max, v);
        return -1;
    }
    *out = x;
    return 0;
}

static int parse(struct init *in, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long long x;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage_text, stdout);
            return 1;
        } else if (!strcmp(a, "--yes") || !strcmp(a, "-y")) {
            in->yes = 1;
            continue;
        } else if (!strcmp(a, "--force")) {
            in->force = 1;
            continue;
        } else if (!strcmp(a, "--json")) {
            in->json = 1;
            continue;
        } else if (!strcmp(a, "--encrypt")) {
            in->encrypt = 1;
            continue;
        }
        if (!v || strncmp(a, "--", 2)) {
            cli_error(v ? "unknown argument '%s' (see 'hearth init --help')"
                        : "%s needs a value (see 'hearth init --help')", a);
            return -1;
        }
        i++;
        if (!strcmp(a, "--config"))
            in->config = v;
        else if (!strcmp(a, "--key"))
            in->key = v;
        else if (!strcmp(a, "--data"))
            in->data = v;
        else if (!strcmp(a, "--import"))
            in->import = v;
        else if (!strcmp(a, "--runner"))
            in->runner = v;
        else if (!strcmp(a, "--relay")) {
            if (in->nrelays == MAX_RELAYS) {
                cli_error("at most %d relays", MAX_RELAYS);
                return -1;
            }
            in->relays[in->nrelays++] = v;
        } else if (!strcmp(a, "--price-mhash")) {
            if (num_opt(a, v, 1000000000, &in->price_mhash))
                return -1;
        } else if (!strcmp(a, "--price-job")) {
            if (num_opt(a, v, 1000000000, &in->price_job))
                return -1;
        } else if (!strcmp(a, "--credit-limit")) {
            if (num_opt(a, v, 1000000000000LL, &in->credit_limit))
                return -1;
        } else if (!strcmp(a, "--sync")) {
            if (num_opt(a, v, 600, &x))
                return -1;
            in->sync_s = (double)x;
        } else if (!strcmp(a, "--bench-ms")) {
            if (num_opt(a, v, 60000, &x))
                return -1;
            in->bench_ms = (unsigned)x;
        } else {
            cli_error("unknown option '%s' (see 'hearth init --help')", a);
            return -1;
        }
    }
    return 0;
}

static void xdg_path(char *out, size_t n, const char *env, const char *dflt,
                     const char *leaf)
{
    const char *x = getenv(env), *home = getenv("HOME");
    if (x && *x == '/')
        snprintf(out, n, "%s/hearth%s", x, leaf);
    else
        snprintf(out, n, "%s/%s/hearth%s", home && *home ? home : ".", dflt,
                 leaf);
}

static void defaults(struct init *in)
{
    if (!in->config) {
        if (!config_default_path(in->config_buf, sizeof in->config_buf)) {
            snprintf(in->config_buf, sizeof in->config_buf, "hearth.conf");
        }
        in->config = in->config_buf;
    }
    if (!in->key) {
        xdg_path(in->key_buf, sizeof in->key_buf, "XDG_CONFIG_HOME",
                 ".config", "/key");
        in->key = in->key_buf;
    }
    if (!in->data) {
        xdg_path(in->data_buf, sizeof in->data_buf, "XDG_DATA_HOME",
                 ".local/share", "");
        in->data = in->data_buf;
    }
    if (!in->runner)
        in->runner = "pow";
    if (!in->nrelays)
        for (size_t i = 0; i < sizeof default_relays / sizeof *default_relays;
             i++)
            in->relays[in->nrelays++] = default_relays[i];
    in->interactive = !in->yes && !in->json && isatty(0) && isatty(1);
}

/* "Question [default]: " on a terminal; the answer, or the default for an
 * empty line (and always without a terminal). */
static void ask(const struct init *in, const char *q, const char *dflt,
                char *out, size_t n)
{
    snprintf(out, n, "%s", dflt);
    if (!in->interactive)
        return;
    printf("%s [%s]: ", q, dflt);
    fflush(stdout);
    char line[256];
    if (!fgets(line, sizeof line, stdin))
        return;
    line[strcspn(line, "\r\n")] = '\0';
    if (line[0])
        snprintf(out, n, "%s", line);
}

static void say(const struct init *in, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void say(const struct init *in, const char *fmt, ...)
{
    va_list ap;
    if (in->json)
        return;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
}

static void npub_of(const uint8_t pk[32], char out[128])
{
    hearth_buf b = HEARTH_BUF_INIT;
    if (hearth_nip19_encode32("npub", pk, &b) || hearth_buf_error(&b) ||
        b.len >= 128)
        snprintf(out, 128, "(unknown)");
    else
        memcpy(out, b.p, b.len + 1);
    hearth_buf_free(&b);
}

/* ---- the steps ---- */

/* plain, or as an ncryptsec under a passphrase asked twice */
static int save_key(const struct init *in, const uint8_t sk[32])
{
    char pw[HEARTH_NIP49_MAX_PASSWORD + 1], enc[HEARTH_NIP49_LEN + 1];
    const char *why = NULL;
    if (!in->encrypt)
        return hearth_key_save(in->key, sk);
    int rc = cli_passphrase("passphrase for the new key", 1, pw, sizeof pw,
                            &why);
    if (!rc)
        rc = hearth_nip49_encrypt(sk, pw, HEARTH_NIP49_DEFAULT_LOG_N, 2, enc);
    sodium_memzero(pw, sizeof pw);
    if (!rc)
        rc = hearth_key_save_ncryptsec(in->key, enc);
    if (rc && why)
        cli_error("%s", why);
    errno = rc && !why ? EINVAL : errno;
    return rc;
}

static int step_key(struct init *in)
{
    uint8_t sk[32];
    struct stat st;
    const char *why = NULL;
    if (stat(in->key, &st) == 0) {
        if (in->import) {
            cli_error("%s exists: remove it first or pass another --key to "
                      "import into", in->key);
            return CLI_USAGE;
        }
        if (hearth_key_load_pw(in->key, cli_passphrase_cb, NULL, sk, &why)) {
            cli_error("%s: %s", in->key, why ? why : "cannot load the key");
            return CLI_ERROR;
        }
    } else {
        int rc = in->import ? hearth_key_load_pw(in->import, cli_passphrase_cb,
                                                 NULL, sk, &why)
                            : hearth_key_generate(sk);
        if (rc) {
            cli_error("--import: %s", why ? why : "not a secret key (nsec "
                      "or 64 hex digits)");
            return CLI_USAGE;
        }
        if (cli_mkdir_parents(in->key) || save_key(in, sk)) {
            cli_error("cannot write the key to %s: %s", in->key,
                      strerror(errno));
            sodium_memzero(sk, sizeof sk);
            return CLI_ERROR;
        }
        in->key_created = 1;
    }
    int rc = hearth_key_pubkey(sk, in->pk);
    sodium_memzero(sk, sizeof sk);
    return rc ? CLI_ERROR : CLI_OK;
}

static void step_hw(struct init *in)
{
    hearth_hw_detect(&in->hw);
    say(in, "Hardware: %s, %u threads", in->hw.cpu_model,
        in->hw.cpu_threads);
    for (uint32_t i = 0; i < in->hw.ngpus; i++)
        say(in, "; GPU %s (%llu MiB, tier %u)", in->hw.gpus[i].name,
            (unsigned long long)(in->hw.gpus[i].vram_total >> 20),
            in->hw.gpus[i].tier);
    if (!in->hw.ngpus)
        say(in, "; no NVIDIA GPU (%s): the CPU will serve PoW jobs",
            in->hw.no_gpu);
    say(in, "\n");
}

static int step_bench(struct init *in)
{
    hearth_pow_runner_opts o;
    hearth_runner *r = NULL;
    hearth_runner_desc d;
    hearth_pow_runner_opts_default(&o);
    o.bench_ms = in->bench_ms;
    say(in, "Benchmark: measuring PoW speed for %u ms...", in->bench_ms);
    fflush(stdout);
    if (hearth_runner_pow_new(&o, &r) || hearth_runner_describe(r, &d)) {
        hearth_runner_free(r);
        say(in, "\n");
        cli_error("the PoW benchmark could not run");
        return CLI_ERROR;
    }
    in->bench_mhs = (double)d.bench_mhash_s;
    hearth_runner_free(r);
    say(in, " %.0f million hashes/s\n", in->bench_mhs);
    return CLI_OK;
}

/* Read the market the way 'hearth market sync' does, into DATA/view;
 * its report goes to stderr so that --json stays one object. */
static void sync_market(struct init *in, char *view_dir, size_t n)
{
    snprintf(view_dir, n, "%s/view", in->data);
    if (in->sync_s <= 0)
        return;
    char secs[32];
    snprintf(secs, sizeof secs, "%.0f", in->sync_s);
    char *argv[4 + 2 * MAX_RELAYS + 6];
    int argc = 0;
    argv[argc++] = "market";
    argv[argc++] = "sync";
    for (size_t i = 0; i < in->nrelays; i++) {
        argv[argc++] = "--relay";
        argv[argc++] = (char *)in->relays[i];
    }
    argv[argc++] = "--data";
    argv[argc++] = view_dir;
    argv[argc++] = "--kind";
    argv[argc++] = "5970";
    argv[argc++] = "--timeout";
    argv[argc++] = secs;
    argv[argc] = NULL;
    say(in, "Market: reading offers from %zu relays for up to %s s...\n",
        in->nrelays, secs);
    fflush(stdout);
    int out = dup(1);
    if (out >= 0 && dup2(2, 1) >= 0) {
        cmd_market(argc, argv);
        fflush(stdout);
        dup2(out, 1);
    }
    if (out >= 0)
        close(out);
}

/* Prices of the PoW offers of others in the view. */
static void market_prices(struct init *in, const char *view_dir)
{
    hearth_view *v = NULL;
    hearth_peer *peers = NULL;
    hearth_offer *offers = NULL;
    size_t n = 0, k = 0;
    struct stat st;
    if (stat(view_dir, &st) == 0 && !hearth_view_open(view_dir, NULL, &v))
        hearth_view_snapshot(v, HEARTH_KIND_JOB_POW, (int64_t)time(NULL),
                             &peers, NULL, &offers, &n);
    hearth_price *p = n ? malloc(n * sizeof *p) : NULL;
    for (size_t i = 0; p && i < n; i++)
        if (memcmp(offers[i].pubkey, in->pk, 32))
            p[k++] = offers[i].price;
    init_propose(in->bench_mhs, p, k, &in->prop);
    free(p);
    free(peers);
    free(offers);
    hearth_view_close(v);
}

static void choose_prices(struct init *in)
{
    struct init_prices *pr = &in->prop;
    if (pr->from_market)
        say(in, "Prices: %zu comparable offers ask %llu-%llu msat per "
            "million hashes (middle half); proposing the median\n",
            pr->comparable, (unsigned long long)pr->mhash_lo,
            (unsigned long long)pr->mhash_hi);
    else
        say(in, "Prices: fewer than %u comparable offers in the market; "
            "proposing hearth's defaults\n", INIT_MIN_COMPARABLE);
    char dflt[32], ans[256];
    if (in->price_mhash < 0) {
        snprintf(dflt, sizeof dflt, "%llu", (unsigned long long)pr->per_mhash);
        ask(in, "  price per million hashes, msat", dflt, ans, sizeof ans);
        if (num_opt("the price", ans, 1000000000, &in->price_mhash))
            in->price_mhash = (long long)pr->per_mhash;
    }
    if (in->price_job < 0) {
        snprintf(dflt, sizeof dflt, "%llu", (unsigned long long)pr->per_job);
        ask(in, "  price per job, msat", dflt, ans, sizeof ans);
        if (num_opt("the price", ans, 1000000000, &in->price_job))
            in->price_job = (long long)pr->per_job;
    }
    if (in->credit_limit < 0)
        in->credit_limit = 20000;
    if (in->bench_mhs > 0)
        pr->earn_msat_day = in->bench_mhs * 86400.0 * INIT_UTILISATION *
                            (double)in->price_mhash;
    say(in, "Earnings: about %.0f sats a day if jobs keep this machine busy "
        "%.0f%% of the time\n", pr->earn_msat_day / 1000.0,
        INIT_UTILISATION * 100);
}

static int write_config(struct init *in)
{
    char tmp[4200], npub[128];
    struct stat st;
    if (stat(in->config, &st) == 0 && !in->force) {
        cli_error("%s exists: pass --force to replace it, or edit it (every "
                  "key is in docs/configuration.md)", in->config);
        return CLI_USAGE;
    }
    npub_of(in->pk, npub);
    snprintf(tmp, sizeof tmp, "%s.tmp", in->config);
    if (cli_mkdir_parents(in->config))
        goto fail;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f)
        goto fail;
    time_t now = time(NULL);
    fprintf(f, "# hearth configuration, written by 'hearth init' on %s"
               "# Every key, its default and its meaning: "
               "docs/configuration.md or 'man hearth'.\n"
               "# Identity: %s\n\n", ctime(&now), npub);
    fprintf(f, "key = %s\ndata = %s\n\n", in->key, in->data);
    for (size_t i = 0; i < in->nrelays; i++)
        fprintf(f, "relay = %s\n", in->relays[i]);
    fprintf(f, "\n# measured: %.0f million hashes/s\nrunner = %s\n"
               "price-mhash = %lld\nprice-job = %lld\n\n"
               "# what a customer may owe before paying first\n"
               "credit-limit = %lld\n",
            in->bench_mhs, in->runner, in->price_mhash, in->price_job,
            in->credit_limit);
    int bad = fflush(f) || fsync(fileno(f));
    bad |= fclose(f);
    if (bad || rename(tmp, in->config))
        goto fail;
    return CLI_OK;
fail:
    cli_error("cannot write %s: %s", in->config, strerror(errno));
    unlink(tmp);
    return CLI_ERROR;
}

static void report(const struct init *in)
{
    char npub[128];
    npub_of(in->pk, npub);
    if (!in->json) {
        printf("Wrote %s%s.\nIdentity %s%s.\n\nNext: hearth run\n",
               in->config, in->key_created ? " and a new key" : "", npub,
               in->key_created ? " (back up the key file: it is this peer's "
                                 "identity)" : "");
        return;
    }
    printf("{\"config\":\"%s\",\"key\":\"%s\",\"key_created\":%s,"
           "\"npub\":\"%s\",\"bench_mhash_s\":%.0f,\"comparable\":%zu,"
           "\"from_market\":%s,\"price_mhash\":%lld,\"price_job\":%lld,"
           "\"credit_limit\":%lld,\"earn_msat_day\":%.0f,"
           "\"next\":\"hearth run\"}\n",
           in->config, in->key, in->key_created ? "true" : "false", npub,
           in->bench_mhs, in->prop.comparable,
           in->prop.from_market ? "true" : "false", in->price_mhash,
           in->price_job, in->credit_limit, in->prop.earn_msat_day);
}

int cmd_init(int argc, char **argv)
{
    struct init in;
    char view_dir[4200];
    memset(&in, 0, sizeof in);
    in.price_mhash = in.price_job = in.credit_limit = -1;
    in.sync_s = 5;
    in.bench_ms = 1000;
    int rc = parse(&in, argc, argv);
    if (rc)
        return rc > 0 ? CLI_OK : CLI_USAGE;
    defaults(&in);
    if ((rc = step_key(&in)))
        return rc;
    step_hw(&in);
    if ((rc = step_bench(&in)))
        return rc;
    sync_market(&in, view_dir, sizeof view_dir);
    market_prices(&in, view_dir);
    choose_prices(&in);
    if ((rc = write_config(&in)))
        return rc;
    report(&in);
    return CLI_OK;
}
