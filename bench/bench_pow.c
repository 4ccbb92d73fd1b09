/* NIP-13 mining speed, side by side on one event (docs/benchmarks.md,
 * "NIP-13 proof of work"):
 *   (a) OpenSSL's SHA256_Transform, one block at a time on one thread:
 *       what one SHA-256 compression costs with the best code OpenSSL
 *       picks for this CPU;
 *   (b) hearth tries per second on one thread, for each implementation
 *       this CPU runs;
 *   (c) hearth on every thread (the fastest implementation);
 *   (d) nostr-tools minePow, measured by bench/pow_nostr_tools.mjs and
 *       passed in with --js (bench/pow.sh does both).
 * Mining runs at an unreachable target for a fixed time, so every run
 * does the same work per try and none stops early on a lucky nonce.
 *
 * usage: bench_pow [--seconds S] [--event FILE] [--write-event FILE]
 *                  [--js TRIES_PER_S] [--json] */
#include "hearth/error.h"
#include "hearth/event.h"
#include "hearth/nip13.h"
#include "hearth/pow.h"

#include <openssl/crypto.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif
#include <openssl/opensslv.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* the kind of note a customer would delegate: a short text with a tag */
static const char *default_event =
    "{\"pubkey\":\"a48380f4cfcc1ad5378294fcac36439770f9c878dd880ffa94bb74ea"
    "54a6f243\",\"created_at\":1700000000,\"kind\":1,\"tags\":[[\"t\","
    "\"hearth\"]],\"content\":\"GM, proof of work\"}";

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* SHA256_Transform is deprecated in OpenSSL 3 but is the only public
 * call that is exactly one compression, which is the yardstick here. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static double openssl_blocks_per_s(double seconds)
{
    SHA256_CTX ctx;
    SHA256_Init(&ctx);
    unsigned char block[64];
    memset(block, 'x', sizeof block);
    uint64_t n = 0;
    double t0 = now_s(), t;
    do {
        for (int i = 0; i < 10000; i++) {
            SHA256_Transform(&ctx, block);
            block[0] = (unsigned char)ctx.h[0]; /* keep it a chain */
        }
        n += 10000;
        t = now_s() - t0;
    } while (t < seconds);
    return (double)n / t;
}
#pragma GCC diagnostic pop

/* Which sha256_block_data_order OpenSSL's x86_64 code takes. OpenSSL 3
 * does not export its capability vector, so read the same CPUID bits its
 * dispatcher reads: leaf 7 EBX SHA (29), AVX2 (5), BMI1 (3), BMI2 (8);
 * leaf 1 ECX AVX (28). $OPENSSL_ia32cap, when set, can mask them. */
static const char *openssl_sha256_impl(int *has_sha)
{
    *has_sha = 0;
#if defined(__x86_64__)
    unsigned a, b = 0, c = 0, d;
    __get_cpuid_count(7, 0, &a, &b, &c, &d);
    *has_sha = (b >> 29) & 1;
    if (getenv("OPENSSL_ia32cap"))
        return "as masked by $OPENSSL_ia32cap";
    if (*has_sha)
        return "shaext (SHA-NI)";
    if ((b & (1u << 5)) && (b & (1u << 3)) && (b & (1u << 8)))
        return "avx2+bmi";
    __get_cpuid(1, &a, &b, &c, &d);
    if (c & (1u << 28))
        return "avx";
    return "ssse3 or plain x86_64";
#else
    return "not x86_64";
#endif
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *p = malloc(1 << 20);
    size_t n = p ? fread(p, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    if (p)
        p[n] = 0;
    return p;
}

static double mine_rate(hearth_nip13_job *job, hearth_pow_impl impl,
                        unsigned threads, double seconds,
                        hearth_pow_impl *used)
{
    hearth_pow_opts o;
    hearth_pow_opts_default(&o);
    o.impl = impl;
    o.threads = threads;
    o.time_limit_ms = (uint32_t)(seconds * 1000);
    hearth_pow_result r;
    int rc = hearth_pow_mine(job, &o, &r);
    if (rc != HEARTH_ETIMEDOUT || !r.elapsed_us)
        return 0;
    *used = r.impl;
    return (double)r.tries / ((double)r.elapsed_us * 1e-6);
}

int main(int argc, char **argv)
{
    double seconds = 2.0, js = 0;
    int target = 24, rounds = 3;
    const char *event_path = NULL, *write_path = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--event") && i + 1 < argc)
            event_path = argv[++i];
        else if (!strcmp(argv[i], "--write-event") && i + 1 < argc)
            write_path = argv[++i];
        else if (!strcmp(argv[i], "--js") && i + 1 < argc)
            js = atof(argv[++i]);
        else if (!strcmp(argv[i], "--target") && i + 1 < argc)
            target = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--json"))
            json = 1;
        else {
            fprintf(stderr,
                    "usage: bench_pow [--seconds S] [--rounds R] [--target T] "
                    "[--event FILE] [--write-event FILE] [--js TRIES_PER_S] "
                    "[--json]\n");
            return 2;
        }
    }
    char *text = event_path ? slurp(event_path) : strdup(default_event);
    if (!text) {
        fprintf(stderr, "bench_pow: cannot read %s\n", event_path);
        return 1;
    }
    if (write_path) {
        FILE *f = fopen(write_path, "w");
        if (!f || fputs(text, f) < 0 || fclose(f)) {
            fprintf(stderr, "bench_pow: cannot write %s\n", write_path);
            return 1;
        }
    }
    hearth_event *ev = NULL;
    const char *why = NULL;
    if (hearth_event_parse(text, strlen(text), HEARTH_PARSE_UNSIGNED, &ev,
                           &why)) {
        fprintf(stderr, "bench_pow: %s\n", why ? why : "bad event");
        return 1;
    }
    /* laid out for a realistic target, mined for one never reached: the
     * work per try is that of a real job */
    hearth_nip13_job job;
    if (hearth_pow_job_init(ev, target, &job)) {
        fprintf(stderr, "bench_pow: cannot build a mining job\n");
        return 1;
    }
    /* blocks from the one holding the changing digits to the end */
    unsigned blocks =
        (unsigned)((job.tail_len + 9 + 63) / 64 -
                   (job.nonce_off + job.width - 4) / 64);
    job.target = HEARTH_NIP13_MAX_BITS;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

    int has_sha;
    const char *ossl = openssl_sha256_impl(&has_sha);
    /* the measurements take turns, round after round, and each keeps its
     * best: load from other processes then hits them all alike */
    double ossl_rate = 0, per_impl[HEARTH_POW_NIMPL] = {0}, all = 0;
    hearth_pow_impl best_impl = HEARTH_POW_SCALAR, used;
    for (int round = 0; round < (rounds > 0 ? rounds : 1); round++) {
        double x = openssl_blocks_per_s(seconds);
        ossl_rate = x > ossl_rate ? x : ossl_rate;
        for (int i = HEARTH_POW_SCALAR; i < HEARTH_POW_NIMPL; i++) {
            if (!hearth_pow_impl_available((hearth_pow_impl)i))
                continue;
            x = mine_rate(&job, (hearth_pow_impl)i, 1, seconds, &used);
            per_impl[i] = x > per_impl[i] ? x : per_impl[i];
        }
    }
    double best1 = 0;
    for (int i = HEARTH_POW_SCALAR; i < HEARTH_POW_NIMPL; i++)
        if (per_impl[i] > best1) {
            best1 = per_impl[i];
            best_impl = (hearth_pow_impl)i;
        }
    for (int round = 0; round < (rounds > 0 ? rounds : 1); round++) {
        double x = mine_rate(&job, best_impl, 0, seconds, &used);
        all = x > all ? x : all;
    }

    if (json) {
        printf("{\"openssl_blocks_s\":%.0f,\"openssl_impl\":\"%s\","
               "\"cpu_sha_ni\":%s,\"cpus\":%ld,\"event_bytes\":%llu,"
               "\"nonce_width\":%u,\"blocks_per_try\":%u",
               ossl_rate, ossl, has_sha ? "true" : "false", ncpu,
               (unsigned long long)(job.prefix_len + job.tail_len),
               job.width, blocks);
        for (int i = HEARTH_POW_SCALAR; i < HEARTH_POW_NIMPL; i++)
            if (per_impl[i] > 0)
                printf(",\"hearth_%s_1t\":%.0f",
                       hearth_pow_impl_name((hearth_pow_impl)i), per_impl[i]);
        printf(",\"hearth_all\":%.0f,\"nostr_tools\":%.0f}\n", all, js);
        return 0;
    }
    printf("event: %llu bytes serialized, laid out for target %d: nonce "
           "width %u, %u compression%s per try\n",
           (unsigned long long)(job.prefix_len + job.tail_len), target,
           job.width, blocks, blocks == 1 ? "" : "s");
    printf("OpenSSL %s: sha256 block function %s; CPU has SHA-NI: %s\n\n",
           OpenSSL_version(OPENSSL_VERSION), ossl, has_sha ? "yes" : "no");
    printf("%-34s %14s %10s\n", "what", "per second", "M/s");
    printf("%-34s %14.0f %10.2f\n", "openssl SHA256_Transform, 1 thread",
           ossl_rate, ossl_rate / 1e6);
    for (int i = HEARTH_POW_SCALAR; i < HEARTH_POW_NIMPL; i++) {
        if (per_impl[i] <= 0) {
            printf("hearth %-27s %14s\n",
                   hearth_pow_impl_name((hearth_pow_impl)i),
                   "(CPU lacks it)");
            continue;
        }
        char name[64];
        snprintf(name, sizeof name, "hearth %s, 1 thread",
                 hearth_pow_impl_name((hearth_pow_impl)i));
        printf("%-34s %14.0f %10.2f\n", name, per_impl[i], per_impl[i] / 1e6);
    }
    char name[64];
    snprintf(name, sizeof name, "hearth %s, %ld threads",
             hearth_pow_impl_name(best_impl), ncpu);
    printf("%-34s %14.0f %10.2f\n", name, all, all / 1e6);
    if (js > 0)
        printf("%-34s %14.0f %10.2f\n", "nostr-tools minePow, 1 thread", js,
               js / 1e6);
    printf("\nhearth %s per core / OpenSSL compressions per core: %.0f%% "
           "(target >= 80%%)\n",
           hearth_pow_impl_name(best_impl), 100.0 * best1 / ossl_rate);
    if (js > 0) {
        printf("hearth / minePow, per core: %.0fx (target >= 50x)\n",
               best1 / js);
        printf("hearth all %ld cores / minePow (one core, as it runs): "
               "%.0fx\n",
               ncpu, all / js);
    }
    hearth_nip13_job_free(&job);
    hearth_event_free(ev);
    free(text);
    return 0;
}
