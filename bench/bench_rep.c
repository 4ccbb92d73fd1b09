/* Reputation wiring: what one round of the reputation sync costs. A
 * synthetic market of N jobs (a metering note and a receipt each) is
 * stored in a receipt store in batches of 512, then the sync's
 * computation runs: read the facts back (hearth_repstore_facts),
 * hearth_rep_compute, and hearth_rep_fill_view into a market view (first
 * all scores, then again with nothing changed).
 *
 *   bench_rep [--dir DIR] [--jobs N] [--providers P] [--customers C]
 *
 * N defaults to 50000, P to 500, C to 5000. The local peer buys from ten
 * providers; each customer buys from a few random ones; 5% of receipts
 * are disputes. Events are not signed (the store is told they are
 * verified, as the pool's are), so the times are the store's and the
 * computation's alone. Wall time throughout. */
#include "hearth/error.h"
#include "hearth/event.h"
#include "hearth/keys.h"
#include "hearth/loop.h"
#include "hearth/meter.h"
#include "hearth/pool.h"
#include "hearth/repstore.h"
#include "hearth/repsync.h"
#include "hearth/reputation.h"
#include "hearth/view.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BATCH 512

struct bench {
    const char *base;
    long jobs, providers, customers;
    uint64_t rng;
    uint8_t (*prov)[32];
    uint8_t (*cust)[32];
    uint8_t local[32];
};

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_rep: %s: %s\n", what, hearth_strerror(rc));
    exit(1);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rnd(struct bench *b)
{
    b->rng ^= b->rng << 13;
    b->rng ^= b->rng >> 7;
    b->rng ^= b->rng << 17;
    return b->rng;
}

static void rnd_key(struct bench *b, uint8_t k[32])
{
    for (int i = 0; i < 32; i += 8) {
        uint64_t v = rnd(b);
        memcpy(k + i, &v, 8);
    }
}

/* job j: provider p bills customer c, who accepts or disputes */
static void job_events(struct bench *b, long j, const uint8_t p[32],
                       const uint8_t c[32], int64_t at, hearth_event *ev[2])
{
    hearth_meter_note n;
    hearth_receipt r;
    memset(&n, 0, sizeof n);
    memcpy(n.request_id, &j, sizeof j);
    memcpy(n.provider, p, 32);
    memcpy(n.customer, c, 32);
    n.seq = 1;
    n.final = 1;
    n.usage.jobs = 1;
    n.price.per_job = 1000 + rnd(b) % 100000;
    n.amount_msat = n.price.per_job;
    n.has_output = 1;
    n.rail = HEARTH_RAIL_CREDIT;
    int rc = hearth_meter_note_to_event(&n, at, &ev[0], NULL);
    if (rc)
        die("note", rc);
    memcpy(ev[0]->pubkey, p, 32);
    hearth_event_compute_id(ev[0], ev[0]->id);
    memcpy(n.id, ev[0]->id, 32);
    hearth_receipt_for(&n, rnd(b) % 20 ? HEARTH_DISPUTE_NONE
                                       : HEARTH_DISPUTE_WRONG_RESULT, &r);
    if ((rc = hearth_receipt_to_event(&r, at + 1, &ev[1], NULL)))
        die("receipt", rc);
    memcpy(ev[1]->pubkey, c, 32);
    hearth_event_compute_id(ev[1], ev[1]->id);
}

static void pick(struct bench *b, long j, const uint8_t **p,
                 const uint8_t **c)
{
    if (j % 50 == 0) { /* the local peer's own purchases */
        *c = b->local;
        *p = b->prov[rnd(b) % 10];
        return;
    }
    /* each customer sticks to a few providers near its own index */
    long ci = (long)(rnd(b) % (uint64_t)b->customers);
    *c = b->cust[ci];
    *p = b->prov[(ci + (long)(rnd(b) % 4)) % b->providers];
}

static double ingest(struct bench *b, hearth_repstore *s)
{
    hearth_event *evs[BATCH];
    hearth_repstore_result res[BATCH];
    int64_t at = (int64_t)time(NULL) - 86400;
    double t = 0;
    for (long j = 0; j < b->jobs; j += BATCH / 2) {
        size_t n = 0;
        for (long k = j; k < j + BATCH / 2 && k < b->jobs; k++, n += 2) {
            const uint8_t *p, *c;
            pick(b, k, &p, &c);
            job_events(b, k, p, c, at + k % 80000, evs + n);
        }
        double t0 = now_s();
        int rc = hearth_repstore_ingest(s, evs, n, time(NULL), 1, res);
        t += now_s() - t0;
        if (rc)
            die("ingest", rc);
        for (size_t i = 0; i < n; i++)
            hearth_event_free(evs[i]);
    }
    return t;
}

static void rmtree(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[4200];
    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (unlink(path))
            rmtree(path);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

static void stages(struct bench *b, hearth_repstore *s, hearth_view *v)
{
    size_t nf = 0;
    hearth_rep_result r;
    hearth_rep_receipt *f = calloc((size_t)b->jobs, sizeof *f);
    if (!f)
        die("facts", HEARTH_ENOMEM);
    double t0 = now_s();
    int rc = hearth_repstore_facts(s, 0, f, (size_t)b->jobs, &nf);
    double t1 = now_s();
    if (!rc)
        rc = hearth_rep_compute(b->local, f, nf, NULL, 0, NULL, &r);
    double t2 = now_s();
    if (rc)
        die("compute", rc);
    rc = hearth_rep_fill_view(v, &r);
    double t3 = now_s();
    if (rc)
        die("fill", rc);
    printf("facts read       %8zu receipts  %8.1f ms\n", nf, (t1 - t0) * 1e3);
    printf("rep_compute      %8zu scores    %8.1f ms  (%u steps%s)\n", r.n,
           (t2 - t1) * 1e3, r.iterations, r.converged ? "" : ", capped");
    printf("fill_view (all)  %8zu writes    %8.1f ms\n", r.n,
           (t3 - t2) * 1e3);
    hearth_rep_result_free(&r);
    free(f);
}

/* the sync's whole round, as the daemon runs it: twice, the second time
 * with nothing changed (no view writes) */
static void sync_round(struct bench *b, hearth_repstore *s, hearth_view *v)
{
    hearth_loop *loop;
    hearth_pool *pool;
    hearth_repsync *rs;
    hearth_repsync_opts o;
    hearth_repsync_opts_default(&o);
    o.max_facts = (uint32_t)b->jobs;
    if (hearth_loop_new(&loop) || hearth_pool_new(loop, NULL, &pool) ||
        hearth_repsync_new(loop, pool, v, NULL, s, b->local, &o, &rs))
        die("repsync", HEARTH_EINVAL);
    for (int i = 0; i < 2; i++) {
        int rc = hearth_repsync_compute(rs);
        const hearth_repsync_stats *st = hearth_repsync_get_stats(rs);
        if (rc)
            die("repsync compute", rc);
        printf("repsync round %d  %8llu facts     %8.1f ms  (%llu view "
               "writes)\n", i + 1, (unsigned long long)st->last_facts,
               st->last_us / 1e3, (unsigned long long)st->last_written);
    }
    hearth_repsync_free(rs);
    hearth_pool_free(pool);
    hearth_loop_free(loop);
}

static void parse(struct bench *b, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v && !strcmp(a, "--dir"))
            b->base = v;
        else if (v && !strcmp(a, "--jobs"))
            b->jobs = atol(v);
        else if (v && !strcmp(a, "--providers"))
            b->providers = atol(v);
        else if (v && !strcmp(a, "--customers"))
            b->customers = atol(v);
        else {
            fprintf(stderr, "usage: bench_rep [--dir DIR] [--jobs N] "
                    "[--providers P] [--customers C]\n");
            exit(2);
        }
        i++;
    }
    if (b->jobs < 1 || b->providers < 10 || b->customers < 1)
        die("arguments", HEARTH_EINVAL);
}

int main(int argc, char **argv)
{
    struct bench b = {getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", 50000,
                      500, 5000, 0x9e3779b97f4a7c15ull, NULL, NULL, {0}};
    char dir[4096], sub[4200];
    hearth_repstore *s;
    hearth_repstore_opts so = {UINT32_MAX, UINT32_MAX};
    hearth_view *v;
    parse(&b, argc, argv);
    b.prov = calloc((size_t)b.providers, 32);
    b.cust = calloc((size_t)b.customers, 32);
    for (long i = 0; i < b.providers; i++)
        rnd_key(&b, b.prov[i]);
    for (long i = 0; i < b.customers; i++)
        rnd_key(&b, b.cust[i]);
    rnd_key(&b, b.local);
    snprintf(dir, sizeof dir, "%s/bench-rep-XXXXXX", b.base);
    if (!mkdtemp(dir))
        die("mkdtemp", HEARTH_EIO);
    snprintf(sub, sizeof sub, "%s/reputation", dir);
    int rc = hearth_repstore_open(sub, &so, &s);
    snprintf(sub, sizeof sub, "%s/view", dir);
    if (!rc)
        rc = hearth_view_open(sub, NULL, &v);
    if (rc)
        die("open", rc);
    printf("%ld jobs (%ld events), %ld providers, %ld customers\n", b.jobs,
           2 * b.jobs, b.providers, b.customers);
    double t = ingest(&b, s);
    printf("ingest           %8ld events    %8.1f ms  (%.0f events/s, "
           "batches of %d)\n", 2 * b.jobs, t * 1e3, 2 * b.jobs / t, BATCH);
    stages(&b, s, v);
    sync_round(&b, s, v);
    hearth_view_close(v);
    hearth_repstore_close(s);
    rmtree(dir);
    free(b.prov);
    free(b.cust);
    return 0;
}
