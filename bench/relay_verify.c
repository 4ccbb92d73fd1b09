/* What signature verification alone allows on N cores: N threads parse
 * and verify (hearth_event_parse + hearth_event_verify, the same work the
 * relay's loop and verify threads split between them) the events of a
 * JSON-lines file, in wall-clock time and per CPU-second. bench/relay.sh
 * compares the relay's acknowledged events with this on the same events
 * and cores.
 *
 * --cache verifies as the relay's verify threads do: with a per-thread
 * cache of parsed public keys (hearth_event_verify_with), new for each
 * round as for a freshly started relay. Without it, the stateless
 * hearth_event_verify.
 *
 *   relay_verify FILE [--threads N] [--rounds R] [--cache] [--json] */
#include "hearth/error.h"
#include "hearth/event.h"
#include "hearth/keys.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct line {
    char *p;
    size_t n;
};

struct work {
    const struct line *lines;
    size_t from, to;
    int cache;
    long ok;
};

static void die(const char *what)
{
    fprintf(stderr, "relay_verify: %s\n", what);
    exit(1);
}

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *run(void *arg)
{
    struct work *w = arg;
    hearth_verifier *v = w->cache ? hearth_verifier_new() : NULL;
    if (w->cache && !v)
        die("out of memory");
    for (size_t i = w->from; i < w->to; i++) {
        hearth_event *ev = NULL;
        if (hearth_event_parse(w->lines[i].p, w->lines[i].n, 0, &ev, NULL) ==
                HEARTH_OK &&
            hearth_event_verify_with(v, ev, NULL) == HEARTH_OK)
            w->ok++;
        hearth_event_free(ev);
    }
    hearth_verifier_free(v);
    return NULL;
}

static struct line *load(const char *path, size_t *count)
{
    FILE *f = fopen(path, "rb");
    size_t n = 0, cap = 0, len = 0;
    char *buf = NULL;
    struct line *lines = NULL;
    ssize_t got;
    if (!f)
        die("cannot open the events file");
    while ((got = getline(&buf, &len, f)) > 0) {
        while (got && (buf[got - 1] == '\n' || buf[got - 1] == '\r'))
            buf[--got] = '\0';
        if (!got)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 1024;
            lines = realloc(lines, cap * sizeof *lines);
            if (!lines)
                die("out of memory");
        }
        lines[n].p = strdup(buf);
        lines[n].n = (size_t)got;
        if (!lines[n++].p)
            die("out of memory");
    }
    free(buf);
    fclose(f);
    *count = n;
    return lines;
}

/* One round over all events with t threads: events per wall-clock second,
 * and per CPU-second of the process in *per_cpu_s (what a core does when
 * it is not shared, the comparison for a relay sharing cores with its
 * load generator). */
static double round_rate(const struct line *lines, size_t n, int t,
                         int cache, double *per_cpu_s)
{
    pthread_t th[256];
    struct work w[256];
    double t0 = clock_s(CLOCK_MONOTONIC);
    double c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    for (int i = 0; i < t; i++) {
        w[i] = (struct work){lines, n * (size_t)i / (size_t)t,
                             n * (size_t)(i + 1) / (size_t)t, cache, 0};
        if (pthread_create(&th[i], NULL, run, &w[i]))
            die("pthread_create failed");
    }
    long ok = 0;
    for (int i = 0; i < t; i++) {
        pthread_join(th[i], NULL);
        ok += w[i].ok;
    }
    if ((size_t)ok != n)
        die("some events did not verify");
    *per_cpu_s = (double)n / (clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0);
    return (double)n / (clock_s(CLOCK_MONOTONIC) - t0);
}

int main(int argc, char **argv)
{
    int threads = (int)sysconf(_SC_NPROCESSORS_ONLN), rounds = 3, json = 0;
    int cache = 0;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (!strcmp(argv[i], "--cache"))
            cache = 1;
        else if (argv[i][0] != '-' && !path)
            path = argv[i];
        else
            die("usage: relay_verify FILE [--threads N] [--rounds R] [--cache] "
                "[--json]");
    }
    if (!path || threads < 1 || threads > 256 || rounds < 1)
        die("usage: relay_verify FILE [--threads N] [--rounds R] [--cache] "
                "[--json]");
    size_t n;
    struct line *lines = load(path, &n);
    double best = 0, best_cpu = 0, cpu;
    for (int r = 0; r < rounds; r++) {
        double rate = round_rate(lines, n, threads, cache, &cpu);
        if (rate > best)
            best = rate;
        if (cpu > best_cpu)
            best_cpu = cpu;
    }
    if (json)
        printf("{\"events\":%zu,\"threads\":%d,\"rounds\":%d,\"per_s\":%.0f,"
               "\"per_cpu_s\":%.0f,\"cache\":%s}\n", n, threads, rounds, best,
               best_cpu, cache ? "true" : "false");
    else
        printf("%zu events, %d threads: %.0f parse+verify per second, %.0f "
               "per CPU-second (best of %d)\n", n, threads, best, best_cpu,
               rounds);
    for (size_t i = 0; i < n; i++)
        free(lines[i].p);
    free(lines);
    return 0;
}
