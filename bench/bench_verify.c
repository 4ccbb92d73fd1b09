/* Event verification throughput on one core: hearth's full pipeline (parse
 * the JSON text, recompute the id, check the signature) against the floor
 * any Nostr verifier has to pay, raw libsecp256k1 over precomputed ids.
 *
 * All contenders run in the same process over the same events, taking
 * turns slice by slice, so CPU frequency drift and noisy neighbours hit
 * them alike; each reports its best time (see CHUNK). The events are signed
 * by hearth and can be written out (--write) for
 * bench/verify_nostr_tools.mjs. */
#include "hearth/error.h"
#include "hearth/event.h"
#include "hearth/hex.h"
#include "hearth/keys.h"

#include <errno.h>
#include <sched.h>
#include <secp256k1.h>
#include <secp256k1_extrakeys.h>
#include <secp256k1_schnorrsig.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct sample {
    char *json;
    size_t len;
    uint8_t id[32];
    uint8_t pubkey[32];
    uint8_t sig[64];
    secp256k1_xonly_pubkey xpk;     /* pubkey pre-parsed, for raw_verify */
};

struct config {
    long events;
    long keys;
    int rounds;
    int cpu;            /* -1: do not pin */
    int json;
    const char *write;
    const char *only;   /* time just this contender (for perf/callgrind) */
};

static void die(const char *what)
{
    fprintf(stderr, "bench_verify: %s\n", what);
    exit(1);
}

/* CPU time of this thread, not wall time: the question is throughput per
 * core, and on a shared machine wall time also counts the slices other
 * processes took from us. */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* xorshift64*: the events must be the same on every run and machine, so
 * the numbers in docs/benchmarks.md can be reproduced. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}
static size_t rnd_below(size_t n)
{
    return (size_t)(rnd() % n);
}

/* Secret key i: sha256 of a label and i, re-hashed in the (negligible)
 * case it is not a valid scalar. */
static void derive_key(long i, uint8_t sk[32])
{
    char label[64];
    int n = snprintf(label, sizeof label, "hearth bench key %ld", i);
    crypto_hash_sha256(sk, (const unsigned char *)label, (size_t)n);
    while (!secp256k1_ec_seckey_verify(secp256k1_context_static, sk))
        crypto_hash_sha256(sk, sk, 32);
}

static const char *const words[] = {
    "the", "relay", "nostr", "note", "zap", "sats", "good", "morning",
    "bitcoin", "lightning", "signal", "key", "client", "event", "follow",
    "today", "build", "with", "and", "of", "for", "this", "just", "shipped",
    "a", "new", "version", "thanks", "everyone", "gm", "pv", "\xf0\x9f\xa4\x99",
    "caf\xc3\xa9", "\xe2\x9a\xa1",
};

/* Short-note content: 60..220 bytes of words, sometimes a line break or a
 * quote (escaped in the JSON), like kind-1 notes on public relays. */
static void make_content(hearth_buf *b)
{
    size_t target = 60 + rnd_below(160);
    hearth_buf_reset(b);
    while (b->len < target) {
        if (b->len)
            hearth_buf_addc(b, rnd_below(25) ? ' ' : '\n');
        hearth_buf_adds(b, words[rnd_below(sizeof words / sizeof *words)]);
        if (!rnd_below(40))
            hearth_buf_adds(b, " \"quoted\"");
    }
}

static void make_events(const struct config *cfg, struct sample *s)
{
    uint8_t(*sks)[32] = malloc((size_t)cfg->keys * 32);
    char(*pkhex)[65] = malloc((size_t)cfg->keys * 65);
    hearth_buf content = HEARTH_BUF_INIT, out = HEARTH_BUF_INIT;
    if (!sks || !pkhex)
        die("out of memory");
    for (long k = 0; k < cfg->keys; k++) {
        uint8_t pk[32];
        derive_key(k, sks[k]);
        if (hearth_key_pubkey(sks[k], pk))
            die("hearth_key_pubkey failed");
        hearth_hex_encode(pk, 32, pkhex[k]);
    }
    for (long i = 0; i < cfg->events; i++) {
        hearth_event *ev;
        make_content(&content);
        if (hearth_event_new(1, 1700000000 + i, content.p, content.len, &ev))
            die("hearth_event_new failed");
        /* a reply: e and p tags; some hashtags and a client tag */
        if (rnd_below(2)) {
            uint8_t ref[32];
            char refhex[65];
            for (int k = 0; k < 32; k++)
                ref[k] = (uint8_t)rnd();
            hearth_hex_encode(ref, 32, refhex);
            hearth_event_add_tagv(ev, "e", refhex, "wss://relay.example.com",
                                  "reply", NULL);
            hearth_event_add_tagv(ev, "p", pkhex[rnd_below((size_t)cfg->keys)],
                                  NULL);
        }
        if (rnd_below(2))
            hearth_event_add_tagv(ev, "t", words[rnd_below(12)], NULL);
        if (!rnd_below(4))
            hearth_event_add_tagv(ev, "client", "hearth-bench", NULL);
        if (hearth_event_sign(ev, sks[i % cfg->keys]))
            die("hearth_event_sign failed");
        hearth_buf_reset(&out);
        if (hearth_event_to_json(ev, &out))
            die("out of memory");
        s[i].json = malloc(out.len + 1);
        if (!s[i].json)
            die("out of memory");
        memcpy(s[i].json, out.p, out.len + 1);
        s[i].len = out.len;
        memcpy(s[i].id, ev->id, 32);
        memcpy(s[i].pubkey, ev->pubkey, 32);
        memcpy(s[i].sig, ev->sig, 64);
        hearth_event_free(ev);
    }
    sodium_memzero(sks, (size_t)cfg->keys * 32);
    free(sks);
    free(pkhex);
    hearth_buf_free(&content);
    hearth_buf_free(&out);
}

/* ---- the contenders: each returns how many events verified ---- */

static long raw_parse_verify(const struct sample *s, long n)
{
    const secp256k1_context *ctx = secp256k1_context_static;
    long ok = 0;
    for (long i = 0; i < n; i++) {
        secp256k1_xonly_pubkey xpk;
        ok += secp256k1_xonly_pubkey_parse(ctx, &xpk, s[i].pubkey) &&
              secp256k1_schnorrsig_verify(ctx, s[i].sig, s[i].id, 32, &xpk);
    }
    return ok;
}

static long raw_verify(const struct sample *s, long n)
{
    const secp256k1_context *ctx = secp256k1_context_static;
    long ok = 0;
    for (long i = 0; i < n; i++)
        ok += secp256k1_schnorrsig_verify(ctx, s[i].sig, s[i].id, 32,
                                          &s[i].xpk);
    return ok;
}

static long hearth_pipeline(const struct sample *s, long n)
{
    long ok = 0;
    for (long i = 0; i < n; i++) {
        hearth_event *ev;
        if (hearth_event_parse(s[i].json, s[i].len, 0, &ev, NULL))
            continue;
        ok += hearth_event_verify(ev, NULL) == HEARTH_OK;
        hearth_event_free(ev);
    }
    return ok;
}

/* diagnostics: the pipeline's steps without the signature check */
static long hearth_parse_only(const struct sample *s, long n)
{
    long ok = 0;
    for (long i = 0; i < n; i++) {
        hearth_event *ev;
        if (hearth_event_parse(s[i].json, s[i].len, 0, &ev, NULL))
            continue;
        ok++;
        hearth_event_free(ev);
    }
    return ok;
}

static long hearth_parse_id(const struct sample *s, long n)
{
    long ok = 0;
    for (long i = 0; i < n; i++) {
        hearth_event *ev;
        uint8_t id[32];
        if (hearth_event_parse(s[i].json, s[i].len, 0, &ev, NULL))
            continue;
        ok += hearth_event_compute_id(ev, id) == HEARTH_OK &&
              memcmp(id, s[i].id, 32) == 0;
        hearth_event_free(ev);
    }
    return ok;
}

struct contender {
    const char *key;    /* for --json */
    const char *label;
    long (*run)(const struct sample *, long);
    double best;        /* seconds */
};

static struct contender contenders[] = {
    {"raw_parse_verify", "raw libsecp256k1: xonly parse + schnorrsig verify",
     raw_parse_verify, 0},
    {"raw_verify", "raw libsecp256k1: schnorrsig verify (keys pre-parsed)",
     raw_verify, 0},
    {"hearth_pipeline", "hearth: event_parse + event_verify (full pipeline)",
     hearth_pipeline, 0},
    {"hearth_parse", "  of which event_parse alone", hearth_parse_only, 0},
    {"hearth_parse_id", "  of which event_parse + compute_id", hearth_parse_id,
     0},
};
#define NCONT (sizeof contenders / sizeof *contenders)
enum { RAW, RAW_PREPARSED, HEARTH, PARSE, PARSE_ID };
#define CHUNK 500

static void pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0)
        fprintf(stderr, "bench_verify: cannot pin to cpu %d: %s\n", cpu,
                strerror(errno));
}

static void usage(void)
{
    puts("usage: bench_verify [--events N] [--keys K] [--rounds R] "
         "[--cpu C|-1] [--write FILE] [--json] [--only NAME]\n\n"
         "Signs N events (default 20000) with K keys (200), then times on one\n"
         "core raw libsecp256k1 verification of the precomputed ids against\n"
         "hearth's parse + verify of the JSON text; best of R rounds (5).\n"
         "--write saves the events as JSON lines for verify_nostr_tools.mjs.\n"
         "--only NAME runs just one contender (raw_parse_verify, raw_verify,\n"
         "hearth_pipeline, hearth_parse, hearth_parse_id) and prints its\n"
         "rate, for profiling under perf or callgrind.");
}

static long num_arg(int argc, char **argv, int *i, long min)
{
    if (*i + 1 >= argc)
        die("option needs a value (see --help)");
    char *end;
    long v = strtol(argv[++*i], &end, 10);
    if (*end || v < min)
        die("bad number (see --help)");
    return v;
}

int main(int argc, char **argv)
{
    struct config cfg = {20000, 200, 5, -2, 0, NULL, NULL};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--events") || !strcmp(a, "-n"))
            cfg.events = num_arg(argc, argv, &i, 1);
        else if (!strcmp(a, "--keys"))
            cfg.keys = num_arg(argc, argv, &i, 1);
        else if (!strcmp(a, "--rounds"))
            cfg.rounds = (int)num_arg(argc, argv, &i, 1);
        else if (!strcmp(a, "--cpu"))
            cfg.cpu = (int)num_arg(argc, argv, &i, -1);
        else if (!strcmp(a, "--write") && i + 1 < argc)
            cfg.write = argv[++i];
        else if (!strcmp(a, "--json"))
            cfg.json = 1;
        else if (!strcmp(a, "--only") && i + 1 < argc)
            cfg.only = argv[++i];
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage();
            return 0;
        } else
            die("unknown option (see --help)");
    }
    if (sodium_init() < 0)
        die("sodium_init failed");
    /* stay on the cpu we started on unless told otherwise: a migration
     * mid-round costs cache warmth that has nothing to do with the code */
    if (cfg.cpu == -2)
        cfg.cpu = sched_getcpu();
    if (cfg.cpu >= 0)
        pin(cfg.cpu);

    struct sample *s = calloc((size_t)cfg.events, sizeof *s);
    if (!s)
        die("out of memory");
    make_events(&cfg, s);
    size_t bytes = 0;
    for (long i = 0; i < cfg.events; i++) {
        bytes += s[i].len;
        if (!secp256k1_xonly_pubkey_parse(secp256k1_context_static,
                                          &s[i].xpk, s[i].pubkey))
            die("generated an invalid public key");
    }
    if (cfg.write) {
        FILE *f = fopen(cfg.write, "w");
        if (!f)
            die("cannot open the --write file");
        for (long i = 0; i < cfg.events; i++)
            fprintf(f, "%s\n", s[i].json);
        if (fclose(f) != 0)
            die("cannot write the --write file");
    }

    if (cfg.only) {
        for (size_t c = 0; c < NCONT; c++) {
            if (strcmp(cfg.only, contenders[c].key))
                continue;
            double t = now_s();
            long ok = 0;
            for (int r = 0; r < cfg.rounds; r++)
                ok += contenders[c].run(s, cfg.events);
            t = now_s() - t;
            printf("%s: %.0f events/s (%ld of %ld verified)\n", cfg.only,
                   (double)cfg.events * cfg.rounds / t, ok,
                   cfg.events * cfg.rounds);
            return ok == cfg.events * cfg.rounds ? 0 : 1;
        }
        die("--only: no such contender (see --help)");
    }

    /* one untimed pass warms caches and checks every contender agrees that
     * every event is valid (a benchmark of a broken verifier is no use) */
    for (size_t c = 0; c < NCONT; c++) {
        if (contenders[c].run(s, cfg.events) != cfg.events) {
            fprintf(stderr, "bench_verify: %s rejected events\n",
                    contenders[c].label);
            return 1;
        }
    }
    /* Timed in slices of CHUNK events, contenders taking turns on each
     * slice; a contender's time is the sum over slices of its best round.
     * A burst of interference then spoils one slice of one round, which a
     * later round replaces, instead of a whole round. */
    long nchunks = (cfg.events + CHUNK - 1) / CHUNK;
    double *best = malloc(NCONT * (size_t)nchunks * sizeof *best);
    if (!best)
        die("out of memory");
    for (size_t i = 0; i < NCONT * (size_t)nchunks; i++)
        best[i] = 1e30;
    for (int r = 0; r < cfg.rounds; r++) {
        for (long k = 0; k < nchunks; k++) {
            long n = k + 1 < nchunks ? CHUNK : cfg.events - k * CHUNK;
            for (size_t c = 0; c < NCONT; c++) {
                double t = now_s();
                long ok = contenders[c].run(s + k * CHUNK, n);
                t = now_s() - t;
                if (ok != n)
                    die("a contender changed its mind");
                if (t < best[c * nchunks + k])
                    best[c * nchunks + k] = t;
            }
        }
    }
    for (size_t c = 0; c < NCONT; c++) {
        contenders[c].best = 0;
        for (long k = 0; k < nchunks; k++)
            contenders[c].best += best[c * nchunks + k];
    }
    free(best);

    double rate[NCONT];
    for (size_t c = 0; c < NCONT; c++)
        rate[c] = (double)cfg.events / contenders[c].best;
    double pct = 100.0 * rate[HEARTH] / rate[RAW];
    double avg = (double)bytes / (double)cfg.events;

    if (cfg.json) {
        printf("{\"events\":%ld,\"keys\":%ld,\"rounds\":%d,\"cpu\":%d,"
               "\"avg_json_bytes\":%.1f", cfg.events, cfg.keys, cfg.rounds,
               cfg.cpu, avg);
        for (size_t c = 0; c < NCONT; c++)
            printf(",\"%s_per_s\":%.1f", contenders[c].key, rate[c]);
        printf(",\"hearth_pct_of_raw\":%.2f}\n", pct);
        return 0;
    }
    printf("%ld events from %ld keys, %.0f bytes of JSON each on average; "
           "best of %d rounds per %d-event slice, cpu %d\n\n", cfg.events,
           cfg.keys, avg, cfg.rounds, CHUNK, cfg.cpu);
    printf("%-54s %12s %10s %8s\n", "", "events/s", "us/event", "vs raw");
    for (size_t c = 0; c < NCONT; c++) {
        printf("%-54s %12.0f %10.2f", contenders[c].label, rate[c],
               1e6 / rate[c]);
        if (c <= HEARTH)
            printf(" %7.1f%%", 100.0 * rate[c] / rate[RAW]);
        putchar('\n');
    }
    /* the steps, by difference of the rows above */
    double parse = 1e6 / rate[PARSE], id = 1e6 / rate[PARSE_ID] - parse,
           sig = 1e6 / rate[HEARTH] - 1e6 / rate[PARSE_ID];
    printf("\nhearth per event: parse %.2f us, serialize + sha256 %.2f us, "
           "signature %.2f us (raw: %.2f us)\n", parse, id, sig,
           1e6 / rate[RAW]);
    printf("hearth pipeline: %.1f%% of raw libsecp256k1 (target >= 90%%)\n",
           pct);
    return 0;
}
