/* Event store: ingest rate of signed ~400-byte events in batches of 1, 64
 * and 512 (every batch one durable commit), then the latency of typical
 * relay queries on the store the largest run built.
 *
 *   bench_store [--dir DIR] [--events N] [--keep]
 *
 * DIR (default $TMPDIR or /tmp) must be on the disk being measured: on a
 * tmpfs fdatasync costs nothing and the batch-1 row means little. Wall
 * time throughout, since waiting for the disk is the point. */
#include "hearth/error.h"
#include "hearth/event.h"
#include "hearth/filter.h"
#include "hearth/hex.h"
#include "hearth/keys.h"
#include "hearth/store.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NKEYS 200
#define NTOPICS 100

struct bench {
    const char *base;
    long events;
    int keep;
    uint64_t rng;
    uint8_t sk[NKEYS][32];
    char pk[NKEYS][65];
    hearth_event **ev;
    size_t json_bytes;
};

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_store: %s: %s\n", what, hearth_strerror(rc));
    exit(1);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* xorshift64*: the same events on every run */
static uint64_t rnd(struct bench *b)
{
    b->rng ^= b->rng >> 12;
    b->rng ^= b->rng << 25;
    b->rng ^= b->rng >> 27;
    return b->rng * 0x2545f4914f6cdd1dull;
}

static hearth_event *make_event(struct bench *b, long i)
{
    static const uint32_t kinds[10] = {1, 1, 1, 1, 1, 1, 1, 7, 7, 6};
    char content[64], topic[16];
    size_t who = rnd(b) % NKEYS;
    uint32_t kind = kinds[i % 10];
    /* with the tags below, ~400 bytes of JSON on average */
    snprintf(content, sizeof content, "note %ld, brown fox %08x",
             i, (unsigned)rnd(b));
    hearth_event *ev;
    int rc = hearth_event_new(kind, 1700000000 + i / 3, content,
                              strlen(content), &ev);
    if (rc)
        die("event_new", rc);
    snprintf(topic, sizeof topic, "topic%llu",
             (unsigned long long)(rnd(b) % NTOPICS));
    hearth_event_add_tagv(ev, "t", topic, NULL);
    /* reactions and reposts point at one of the first 100 notes, so the
     * popular ones have a few hundred each */
    if (i >= 100 && kind != 1) {
        char ref[65];
        const hearth_event *to = b->ev[rnd(b) % 100];
        hearth_hex_encode(to->id, 32, ref);
        hearth_event_add_tagv(ev, "e", ref, NULL);
        hearth_hex_encode(to->pubkey, 32, ref);
        hearth_event_add_tagv(ev, "p", ref, NULL);
    }
    if ((rc = hearth_event_sign(ev, b->sk[who])))
        die("sign", rc);
    return ev;
}

static void make_events(struct bench *b)
{
    uint8_t pk[32];
    for (int k = 0; k < NKEYS; k++) {
        for (int j = 0; j < 32; j++)
            b->sk[k][j] = (uint8_t)rnd(b);
        if (hearth_key_pubkey(b->sk[k], pk))
            die("key", HEARTH_EINVAL);
        hearth_hex_encode(pk, 32, b->pk[k]);
    }
    b->ev = malloc((size_t)b->events * sizeof *b->ev);
    hearth_buf j = HEARTH_BUF_INIT;
    for (long i = 0; i < b->events; i++) {
        b->ev[i] = make_event(b, i);
        hearth_buf_reset(&j);
        hearth_event_to_json(b->ev[i], &j);
        b->json_bytes += j.len;
    }
    hearth_buf_free(&j);
}

static char *fresh_dir(const struct bench *b)
{
    char *p = malloc(4096);
    snprintf(p, 4096, "%s/hearth-bench-store-XXXXXX", b->base);
    if (!mkdtemp(p))
        die("mkdtemp", HEARTH_EIO);
    return p;
}

static void remove_dir(char *dir)
{
    char path[4200];
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.') {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
    if (d)
        closedir(d);
    rmdir(dir);
    free(dir);
}

/* ingest the first n events in batches; returns events per second */
static double ingest(struct bench *b, hearth_store *s, long n, size_t batch)
{
    hearth_store_result *res = malloc(batch * sizeof *res);
    double t0 = now_s();
    for (long i = 0; i < n; i += (long)batch) {
        size_t k = (size_t)(n - i) < batch ? (size_t)(n - i) : batch;
        int rc = hearth_store_put_batch(s, b->ev + i, k, 1700000000, res);
        if (rc)
            die("put_batch", rc);
        for (size_t j = 0; j < k; j++)
            if (res[j].status != HEARTH_STORE_STORED)
                die(res[j].why, HEARTH_EINVAL);
    }
    double dt = now_s() - t0;
    free(res);
    return (double)n / dt;
}

struct sink {
    size_t rows, bytes;
};

static int sink_cb(void *ctx, const hearth_store_row *row)
{
    struct sink *k = ctx;
    k->rows++;
    k->bytes += row->len;
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* median and p99 over runs of one query */
static void time_query(hearth_store *s, const char *name, const char *json,
                       int count)
{
    enum { RUNS = 300 };
    hearth_filter *f;
    const char *why = "";
    int rc = hearth_filter_parse(json, strlen(json), &f, &why);
    if (rc)
        die(why, rc);
    double t[RUNS];
    struct sink k = {0, 0};
    hearth_store_stats st;
    for (int r = 0; r < RUNS; r++) {
        uint64_t c = 0;
        k.rows = 0;
        double t0 = now_s();
        rc = count ? hearth_store_count(s, &f, 1, 1700000000, &c, &st)
                   : hearth_store_query(s, &f, 1, 500, 1700000000, sink_cb,
                                        &k, &st);
        t[r] = now_s() - t0;
        if (rc)
            die(name, rc);
    }
    qsort(t, RUNS, sizeof *t, cmp_double);
    hearth_store_plan p;
    hearth_store_explain(f, &p);
    printf("%-34s %-12s %6llu %8llu %9.1f %9.1f\n", name,
           hearth_store_index_name(p.index),
           (unsigned long long)st.returned,
           (unsigned long long)st.rows_scanned, t[RUNS / 2] * 1e6,
           t[RUNS * 99 / 100] * 1e6);
    hearth_filter_free(f);
}

static void time_has_id(struct bench *b, hearth_store *s)
{
    enum { N = 100000 };
    int found = 0;
    double t0 = now_s();
    for (long i = 0; i < N; i++)
        hearth_store_has_id(s, b->ev[i % b->events]->id, &found);
    printf("%-34s %-12s %6d %8d %9.2f\n", "has_id (duplicate check)", "ids",
           found, 1, (now_s() - t0) / N * 1e6);
}

static void queries(struct bench *b, hearth_store *s)
{
    char j[8192], id[65];
    printf("\nqueries on %ld events (max_results 500; us, median and p99 "
           "of 300 runs)\n", b->events);
    printf("%-34s %-12s %6s %8s %9s %9s\n", "filter", "index", "rows",
           "scanned", "median", "p99");
    time_query(s, "global feed kinds:[1] limit 100",
               "{\"kinds\":[1],\"limit\":100}", 0);
    snprintf(j, sizeof j, "{\"authors\":[\"%s\"],\"limit\":50}", b->pk[7]);
    time_query(s, "one author, limit 50", j, 0);
    char *p = j + sprintf(j, "{\"authors\":[");
    for (int i = 0; i < 50; i++)
        p += sprintf(p, "%s\"%s\"", i ? "," : "", b->pk[i]);
    sprintf(p, "],\"kinds\":[1,6],\"limit\":100}");
    time_query(s, "home: 50 authors x 2 kinds, 100", j, 0);
    time_query(s, "#t topic, limit 100",
               "{\"#t\":[\"topic7\"],\"limit\":100}", 0);
    hearth_hex_encode(b->ev[10]->id, 32, id);
    snprintf(j, sizeof j, "{\"#e\":[\"%s\"],\"kinds\":[7]}", id);
    time_query(s, "reactions: #e + kinds:[7]", j, 0);
    p = j + sprintf(j, "{\"ids\":[");
    for (int i = 0; i < 20; i++) {
        hearth_hex_encode(b->ev[(long)i * (b->events / 20)]->id, 32, id);
        p += sprintf(p, "%s\"%s\"", i ? "," : "", id);
    }
    sprintf(p, "]}");
    time_query(s, "20 ids", j, 0);
    snprintf(j, sizeof j, "{\"since\":%ld,\"until\":%ld}",
             1700000000 + b->events / 6, 1700000000 + b->events / 6 + 99);
    time_query(s, "100-second window, no limit", j, 0);
    time_query(s, "limit 500 (max), no conditions", "{\"limit\":500}", 0);
    time_query(s, "COUNT kinds:[7]", "{\"kinds\":[7]}", 1);
    time_query(s, "COUNT #t topic", "{\"#t\":[\"topic7\"]}", 1);
    time_has_id(b, s);
}

static void args(struct bench *b, int argc, char **argv)
{
    const char *tmp = getenv("TMPDIR");
    b->base = tmp ? tmp : "/tmp";
    b->events = 50000;
    b->rng = 0x9e3779b97f4a7c15ull;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            b->base = argv[++i];
        else if (!strcmp(argv[i], "--events") && i + 1 < argc)
            b->events = atol(argv[++i]);
        else if (!strcmp(argv[i], "--keep"))
            b->keep = 1;
        else {
            fprintf(stderr, "usage: bench_store [--dir DIR] [--events N] "
                            "[--keep]\n");
            exit(2);
        }
    }
    if (b->events < 2000)
        b->events = 2000;
}

int main(int argc, char **argv)
{
    static struct bench b;
    args(&b, argc, argv);
    make_events(&b);
    printf("%ld signed events, %zu B of JSON each on average; stores in %s\n",
           b.events, b.json_bytes / (size_t)b.events, b.base);
    printf("\n%-8s %10s %12s %12s\n", "batch", "events", "events/s",
           "ms/commit");
    static const size_t batches[] = {1, 64, 512};
    hearth_store *s = NULL;
    char *dir = NULL;
    for (int i = 0; i < 3; i++) {
        /* batch 1 pays a commit per event: a sample is enough */
        long n = batches[i] == 1 ? 1000 : batches[i] == 64 ? b.events / 4
                                                           : b.events;
        dir = fresh_dir(&b);
        int rc = hearth_store_open(dir, NULL, &s);
        if (rc)
            die("open", rc);
        double rate = ingest(&b, s, n, batches[i]);
        printf("%-8zu %10ld %12.0f %12.2f\n", batches[i], n, rate,
               1e3 * (double)batches[i] / rate);
        if (i < 2) {
            hearth_store_close(s);
            remove_dir(dir);
        }
    }
    hearth_store_info info;
    hearth_store_get_info(s, &info);
    printf("store: %llu events, %.1f MiB used (%.0f B/event incl. indexes)\n",
           (unsigned long long)info.events, (double)info.used / 1048576.0,
           (double)info.used / (double)info.events);
    queries(&b, s);
    hearth_store_close(s);
    if (b.keep)
        printf("kept %s\n", dir);
    else
        remove_dir(dir);
    for (long i = 0; i < b.events; i++)
        hearth_event_free(b.ev[i]);
    free(b.ev);
    return 0;
}
