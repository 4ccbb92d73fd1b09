/* Market view: how fast signed offers go into the view (signature check,
 * offer parse, one durable commit per batch), in batches of 1, 64 and 512
 * on one and more threads; how fast replays (offers already in the view)
 * go through; the size of a view of N offers; and how long a snapshot for
 * the selector takes at 1k, 10k and N offers.
 *
 *   bench_view [--dir DIR] [--offers N] [--threads T] [--rounds R] [--keep]
 *
 * N defaults to 100000, T (the most verify threads tried) to the number
 * of CPUs; each ingest row is the best of R runs (3) on fresh views. DIR (default $TMPDIR or /tmp) should be on the disk being
 * measured. Wall time throughout. */
#include "hearth/error.h"
#include "hearth/event.h"
#include "hearth/keys.h"
#include "hearth/offer.h"
#include "hearth/select.h"
#include "hearth/view.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NOW 1700000000LL
#define PER_KEY 10   /* offers per provider: job kinds 5000-5009 */

struct bench {
    const char *base;
    long n;
    unsigned max_threads;
    int keep, rounds;
    uint64_t rng;
    hearth_event **ev;
    size_t json_bytes;
};

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_view: %s: %s\n", what, hearth_strerror(rc));
    exit(1);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU time of the whole process, worker threads included */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rnd(struct bench *b)
{
    b->rng ^= b->rng >> 12;
    b->rng ^= b->rng << 25;
    b->rng ^= b->rng >> 27;
    return b->rng * 0x2545f4914f6cdd1dull;
}

/* a plausible offer: one to three models, two inbox relays, a GPU */
static void make_offer(struct bench *b, long i, hearth_offer *o)
{
    static const char *const models[] = {
        "llama3.1:8b", "llama3.1:70b", "qwen2.5:7b-instruct", "mistral:7b",
        "gemma2:9b", "phi3:mini", "deepseek-r1:14b", "codellama:13b"
    };
    static const struct {
        const char *name;
        uint32_t vram;
        uint16_t ma, mi;
    } gpus[] = {{"NVIDIA GeForce RTX 4090", 24564, 8, 9},
                {"NVIDIA GeForce RTX 3060", 12288, 8, 6},
                {"NVIDIA GeForce GTX 1080 Ti", 11264, 6, 1},
                {"NVIDIA GeForce RTX 2070 SUPER", 8192, 7, 5}};
    memset(o, 0, sizeof *o);
    o->job_kind = 5000 + (uint32_t)(i % PER_KEY);
    o->backend = o->job_kind == 5000 ? HEARTH_BACKEND_POW
                                     : HEARTH_BACKEND_OPENAI;
    o->price.per_job = rnd(b) % 100;
    o->price.per_mtok_in = 100 + rnd(b) % 5000;
    o->price.per_mtok_out = 300 + rnd(b) % 15000;
    size_t g = rnd(b) % 4;
    snprintf(o->hw.gpu, sizeof o->hw.gpu, "%s", gpus[g].name);
    o->hw.gpu_count = 1 + (uint32_t)(rnd(b) % 2);
    o->hw.vram_mb = gpus[g].vram;
    o->hw.cc_major = gpus[g].ma;
    o->hw.cc_minor = gpus[g].mi;
    o->hw.cpu_cores = 8;
    o->nmodels = 1 + rnd(b) % 3;
    for (size_t m = 0; m < o->nmodels; m++)
        snprintf(o->models[m], sizeof o->models[m], "%s",
                 models[(i + (long)m) % 8]);
    o->bench_tokens_s = 20 + (uint32_t)(rnd(b) % 100);
    o->capacity_total = 4;
    o->capacity_free = (uint32_t)(rnd(b) % 5);
    o->nrelays = 2;
    snprintf(o->relays[0], sizeof o->relays[0], "wss://relay%u.example.com",
             (unsigned)(rnd(b) % 50));
    snprintf(o->relays[1], sizeof o->relays[1], "wss://nos.lol");
    o->rails = HEARTH_RAIL_CREDIT | HEARTH_RAIL_LIGHTNING;
    o->credit_limit_msat = 10000;
}

static void generate(struct bench *b)
{
    uint8_t sk[32];
    hearth_buf js = HEARTH_BUF_INIT;
    b->ev = calloc((size_t)b->n, sizeof *b->ev);
    if (!b->ev)
        die("calloc", HEARTH_ENOMEM);
    for (long i = 0; i < b->n; i++) {
        hearth_offer o;
        if (i % PER_KEY == 0) {
            /* deterministic keys: the same offers on every run */
            memset(sk, 0, 32);
            for (int k = 0; k < 4; k++) {
                uint64_t x = rnd(b);
                memcpy(sk + 8 * k, &x, 8);
            }
            sk[0] &= 0x7f; /* below the group order */
        }
        make_offer(b, i, &o);
        int rc = hearth_offer_to_event(&o, NOW, &b->ev[i]);
        if (!rc)
            rc = hearth_event_sign(b->ev[i], sk);
        if (rc)
            die("offer", rc);
        hearth_buf_reset(&js);
        hearth_event_to_json(b->ev[i], &js);
        b->json_bytes += js.len;
    }
    hearth_buf_free(&js);
}

static char *fresh_dir(struct bench *b)
{
    char *p = malloc(4096);
    snprintf(p, 4096, "%s/hearth-bench-view-XXXXXX", b->base);
    if (!mkdtemp(p)) {
        perror("mkdtemp");
        exit(1);
    }
    return p;
}

static void rm_dir(struct bench *b, char *dir)
{
    if (!b->keep) {
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
    }
    free(dir);
}

static hearth_view *open_view(const char *dir, unsigned threads)
{
    hearth_view_opts o;
    hearth_view *v;
    hearth_view_opts_default(&o);
    o.verify_threads = threads;
    int rc = hearth_view_open(dir, &o, &v);
    if (rc)
        die("open", rc);
    return v;
}

/* ingest evs[0..n) in batches; returns wall seconds (and CPU seconds in
 * *cpu if not NULL), checks the verdicts */
static double ingest(hearth_view *v, hearth_event **evs, long n, long batch,
                     enum hearth_view_status want, double *cpu)
{
    hearth_view_result *res = calloc((size_t)batch, sizeof *res);
    double c0 = cpu_s(), t0 = now_s();
    for (long i = 0; i < n; i += batch) {
        long m = n - i < batch ? n - i : batch;
        int rc = hearth_view_ingest(v, evs + i, (size_t)m, NOW, res);
        if (rc)
            die("ingest", rc);
        for (long k = 0; k < m; k++)
            if (res[k].status != want) {
                fprintf(stderr, "bench_view: offer %ld: status %d %s\n",
                        i + k, res[k].status, res[k].why);
                exit(1);
            }
    }
    double t = now_s() - t0;
    if (cpu)
        *cpu = cpu_s() - c0;
    free(res);
    return t;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* median of rounds snapshots, in ms */
static double snapshot_ms(hearth_view *v, uint32_t kind, int want_obs,
                          int want_offers, int rounds, size_t *count)
{
    double t[64];
    if (rounds > 64)
        rounds = 64;
    for (int r = 0; r < rounds; r++) {
        hearth_peer *peers;
        hearth_peer_obs *obs = NULL;
        hearth_offer *offers = NULL;
        double t0 = now_s();
        int rc = hearth_view_snapshot(v, kind, NOW + 1, &peers,
                                      want_obs ? &obs : NULL,
                                      want_offers ? &offers : NULL, count);
        t[r] = (now_s() - t0) * 1e3;
        if (rc)
            die("snapshot", rc);
        free(peers);
        free(obs);
        free(offers);
    }
    qsort(t, (size_t)rounds, sizeof t[0], cmp_double);
    return t[rounds / 2];
}

static void verify_baseline(struct bench *b, long n)
{
    double c0 = cpu_s(), t0 = now_s();
    for (long i = 0; i < n; i++)
        if (hearth_event_verify(b->ev[i], NULL))
            die("verify", HEARTH_EBADSIG);
    double t = now_s() - t0, c = cpu_s() - c0;
    printf("signature check alone (hearth_event_verify, 1 thread): "
           "%.0f offers/s wall, %.0f per CPU-second (%.1f us CPU each)\n\n",
           n / t, n / c, c * 1e6 / n);
}

static void ingest_table(struct bench *b)
{
    const long batches[] = {1, 64, 512};
    unsigned ths[8];
    size_t nth = 0;
    for (unsigned t = 1; t < b->max_threads && nth < 7; t *= 2)
        ths[nth++] = t;
    ths[nth++] = b->max_threads;
    printf("%-8s %-8s %8s %12s %12s %14s %12s\n", "batch", "threads",
           "offers", "offers/s", "ms/batch", "per CPU-s", "CPU us/offer");
    for (size_t bi = 0; bi < 3; bi++)
        for (size_t ti = 0; ti < nth; ti++) {
            long batch = batches[bi];
            if (batch == 1 && ti > 0)
                continue; /* one event: no thread would start */
            long n = batch == 1 ? 2000 : b->n < 20000 ? b->n : 20000;
            double t = 1e30, c = 1e30;
            /* best of rounds: the machine may be shared */
            for (int r = 0; r < b->rounds; r++) {
                char *dir = fresh_dir(b);
                hearth_view *v = open_view(dir, ths[ti]);
                double cr, tr = ingest(v, b->ev, n, batch,
                                       HEARTH_VIEW_STORED, &cr);
                t = tr < t ? tr : t;
                c = cr < c ? cr : c;
                hearth_view_close(v);
                rm_dir(b, dir);
            }
            printf("%-8ld %-8u %8ld %12.0f %12.2f %14.0f %12.1f\n", batch,
                   ths[ti], n, n / t,
                   t * 1e3 / (double)((n + batch - 1) / batch), n / c,
                   c * 1e6 / n);
        }
    printf("\n");
}

static void size_and_snapshots(struct bench *b)
{
    const long sizes[] = {1000, 10000, b->n};
    printf("%-8s %10s %12s %10s %14s %14s %14s %14s\n", "offers",
           "ingest/s", "used MiB", "B/offer", "snap peers ms",
           "+obs ms", "+offers ms", "1 kind ms");
    for (size_t s = 0; s < 3; s++) {
        long n = sizes[s];
        if (n > b->n || (s == 2 && n <= 10000))
            continue;
        char *dir = fresh_dir(b);
        hearth_view *v = open_view(dir, b->max_threads);
        double t = ingest(v, b->ev, n, 512, HEARTH_VIEW_STORED, NULL);
        /* a tenth of the providers observed, as after a day of jobs */
        for (long i = 0; i < n / PER_KEY; i += 10)
            hearth_view_observe(v, b->ev[i * PER_KEY]->pubkey,
                                i % 20 ? HEARTH_OBS_OK : HEARTH_OBS_FAILED,
                                80 + (uint32_t)(i % 50), NOW);
        hearth_view_info info;
        hearth_view_get_info(v, &info);
        int rounds = n >= 100000 ? 7 : 21;
        size_t cnt = 0, kcnt = 0;
        double sp = snapshot_ms(v, 0, 0, 0, rounds, &cnt);
        double so = snapshot_ms(v, 0, 1, 0, rounds, &cnt);
        double sf = snapshot_ms(v, 0, 1, 1, rounds < 9 ? 3 : 9, &cnt);
        double sk = snapshot_ms(v, 5003, 1, 0, rounds, &kcnt);
        if (cnt != (size_t)n) {
            fprintf(stderr, "bench_view: snapshot has %zu of %ld\n", cnt, n);
            exit(1);
        }
        printf("%-8ld %10.0f %12.1f %10.0f %14.2f %14.2f %14.2f %14.2f\n", n,
               n / t, info.used / 1048576.0, (double)info.used / n, sp, so, sf,
               sk);
        if (s == 2 || n == b->n) {
            char path[4200];
            struct stat st;
            snprintf(path, sizeof path, "%s/data.mdb", dir);
            stat(path, &st);
            printf("\nview of %ld offers: %.1f MiB in use (offers database "
                   "%.1f MiB, %.0f B/offer), data.mdb %.1f MiB on disk\n",
                   n, info.used / 1048576.0, info.offer_bytes / 1048576.0,
                   (double)info.offer_bytes / n,
                   st.st_blocks * 512.0 / 1048576.0);
            printf("one kind (5003) = %zu offers\n", kcnt);
            /* relays replaying offers the view already has */
            double tr = ingest(v, b->ev, n < 20000 ? n : 20000, 512,
                               HEARTH_VIEW_DUPLICATE, NULL);
            printf("replayed offers (already in the view, batch 512): "
                   "%.0f offers/s\n", (n < 20000 ? n : 20000) / tr);
        }
        hearth_view_close(v);
        rm_dir(b, dir);
    }
}

int main(int argc, char **argv)
{
    struct bench b = {0};
    const char *tmp = getenv("TMPDIR");
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    b.base = tmp && *tmp ? tmp : "/tmp";
    b.n = 100000;
    b.max_threads = cpus > 0 ? (unsigned)cpus : 1;
    b.rng = 0x9e3779b97f4a7c15ull;
    b.rounds = 3;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            b.base = argv[++i];
        else if (!strcmp(argv[i], "--offers") && i + 1 < argc)
            b.n = atol(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            b.max_threads = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
            b.rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--keep"))
            b.keep = 1;
        else {
            fprintf(stderr, "usage: bench_view [--dir DIR] [--offers N] "
                            "[--threads T] [--rounds R] [--keep]\n");
            return 2;
        }
    }
    if (b.n < 1000 || b.max_threads < 1 || b.max_threads > 64 ||
        b.rounds < 1) {
        fprintf(stderr, "bench_view: --offers at least 1000, --threads "
                        "1-64, --rounds at least 1\n");
        return 2;
    }
    double t0 = now_s();
    generate(&b);
    printf("%ld signed offers from %ld providers, %zu B of JSON each on "
           "average (made in %.1f s); dir %s, %ld CPUs\n\n", b.n,
           b.n / PER_KEY, b.json_bytes / (size_t)b.n, now_s() - t0, b.base,
           cpus);
    verify_baseline(&b, b.n < 20000 ? b.n : 20000);
    ingest_table(&b);
    size_and_snapshots(&b);
    for (long i = 0; i < b.n; i++)
        hearth_event_free(b.ev[i]);
    free(b.ev);
    return 0;
}
