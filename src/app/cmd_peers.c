/* hearth peers: the market as this peer sees it, ranked by the same
 * selection `hearth job` uses (docs/selection.md): a table, or JSON, with
 * the parts of every score and the reasons the others were left out. */
#include "cli.h"
#include "hearth/error.h"
#include "hearth/hex.h"
#include "hearth/kinds.h"
#include "hearth/nip19.h"
#include "hearth/select.h"
#include "hearth/view.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static const char usage_text[] =
"usage: hearth peers [options]\n"
"\n"
"Ranks the offers in this peer's market view for one job kind and shows\n"
"the best: provider, price for the job, hardware, measured speed, free\n"
"capacity, expected latency and score. The first row (marked *) is the\n"
"one a job would go to: drawn by --seed among the best --top-n.\n"
"\n"
"  --kind K          NIP-90 job kind (default 5970, NIP-13 PoW)\n"
"  --strategy S      balanced (default), cheapest, fastest, least-loaded,\n"
"                    round-robin\n"
"  --model NAME      only providers serving this model\n"
"  --max-price MSAT  only providers asking at most this for the job\n"
"  --min-vram MB     only GPUs with at least this much memory\n"
"  --max-tier T      only hardware of tier T or better (1 best .. 4)\n"
"  --rail R          credit or lightning: only providers taking it\n"
"  --tokens-in N, --tokens-out N, --hashes N, --gpu-ms N\n"
"                    the size of the job the prices and times are for\n"
"                    (default: 2^30 hashes for 5970; 500 tokens in and\n"
"                    250 out for other kinds)\n"
"  --limit N         rows to show (default 20)\n"
"  --top-n N         choose among the best N (default 3)\n"
"  --seed N          for that choice (default: the time)\n"
"  --explain         the parts of each score and of each latency\n"
"  --json            one JSON object instead of the table\n"
"  --now UNIX        rank as of this time (default: now)\n"
"  --data DIR        the market view, as 'hearth market sync' keeps it\n"
"                    (default $XDG_DATA_HOME/hearth/view, i.e.\n"
"                    ~/.local/share/hearth/view)\n";

/* The market view is read through this one function, so a test or
 * another source of offers can stand in for LMDB. */
typedef int (*snapshot_fn)(void *src, uint32_t kind, int64_t now,
                           hearth_peer **peers, hearth_peer_obs **obs,
                           size_t *n);

static int view_snapshot(void *src, uint32_t kind, int64_t now,
                         hearth_peer **peers, hearth_peer_obs **obs,
                         size_t *n)
{
    return hearth_view_snapshot(src, kind, now, peers, obs, NULL, n);
}

struct peers_cli {
    hearth_select_req req;
    const char *data, *model;
    size_t limit;
    int explain, json, usage_set;
    int64_t now;
};

static int num(const char *opt, const char *v, unsigned long long max,
               unsigned long long *out)
{
    char *end;
    errno = 0;
    if (!v || *v < '0' || *v > '9') {
        cli_error("%s wants a whole number", opt);
        return -1;
    }
    unsigned long long x = strtoull(v, &end, 10);
    if (*end || errno || x > max) {
        cli_error("%s wants a whole number up to %llu, got '%s'", opt, max,
                  v);
        return -1;
    }
    *out = x;
    return 0;
}

/* one "--name value" option: 1 used, 0 unknown, -1 bad value */
static int option(struct peers_cli *q, const char *k, const char *v)
{
    hearth_select_req *r = &q->req;
    unsigned long long x;
#define IS(name) (!strcmp(k, name))
    if (IS("--data")) {
        q->data = v;
        return v ? 1 : -1;
    }
    if (IS("--model")) {
        q->model = v;
        return v && *v ? 1 : -1;
    }
    if (IS("--strategy")) {
        if (v && hearth_strategy_parse(v, &r->strategy) == 0)
            return 1;
        cli_error("--strategy: balanced, cheapest, fastest, least-loaded "
                  "or round-robin");
        return -1;
    }
    if (IS("--rail")) {
        if (v && !strcmp(v, "credit"))
            r->rails = HEARTH_RAIL_CREDIT;
        else if (v && !strcmp(v, "lightning"))
            r->rails = HEARTH_RAIL_LIGHTNING;
        else {
            cli_error("--rail: credit or lightning");
            return -1;
        }
        return 1;
    }
    if (IS("--kind")) {
        if (num(k, v, HEARTH_KIND_JOB_MAX, &x))
            return -1;
        if (x < HEARTH_KIND_JOB_MIN) {
            cli_error("--kind wants a NIP-90 job kind, 5000-5999");
            return -1;
        }
        r->job_kind = (uint32_t)x;
        return 1;
    }
    struct {
        const char *name;
        unsigned long long max;
        void *dst;
        int size, usage;
    } nums[] = {
        {"--max-price", UINT64_MAX, &r->max_price_msat, 8, 0},
        {"--min-vram", UINT32_MAX, &r->min_vram_mb, 4, 0},
        {"--max-tier", 4, &r->max_tier, 1, 0},
        {"--tokens-in", UINT64_MAX, &r->usage.tokens_in, 8, 1},
        {"--tokens-out", UINT64_MAX, &r->usage.tokens_out, 8, 1},
        {"--hashes", UINT64_MAX, &r->usage.hashes, 8, 1},
        {"--gpu-ms", UINT64_MAX, &r->usage.gpu_ms, 8, 1},
        {"--limit", 100000, &q->limit, (int)sizeof q->limit, 0},
        {"--top-n", HEARTH_SELECT_TOPN_MAX, &r->top_n, (int)sizeof r->top_n,
         0},
        {"--seed", UINT64_MAX, &r->seed, 8, 0},
        {"--now", INT64_MAX, &q->now, 8, 0},
    };
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        if (strcmp(k, nums[i].name))
            continue;
        if (num(k, v, nums[i].max, &x))
            return -1;
        if (nums[i].size == 8) {
            uint64_t y = x;
            memcpy(nums[i].dst, &y, 8);
        } else if (nums[i].size == 4) {
            uint32_t y = (uint32_t)x;
            memcpy(nums[i].dst, &y, 4);
        } else {
            uint8_t y = (uint8_t)x;
            memcpy(nums[i].dst, &y, 1);
        }
        q->usage_set |= nums[i].usage;
        return 1;
    }
#undef IS
    return 0;
}

static void default_dir(char *out, size_t n)
{
    const char *xdg = getenv("XDG_DATA_HOME");
    const char *home = getenv("HOME");
    if (xdg && *xdg)
        snprintf(out, n, "%s/hearth/view", xdg);
    else
        snprintf(out, n, "%s/.local/share/hearth/view", home ? home : ".");
}

static void npub_short(const uint8_t pk[32], char out[24])
{
    hearth_buf b = HEARTH_BUF_INIT;
    if (hearth_nip19_encode32("npub", pk, &b) == 0 && b.len > 16)
        snprintf(out, 24, "%.10s..%s", b.p, b.p + b.len - 6);
    else
        snprintf(out, 24, "?");
    hearth_buf_free(&b);
}

static void speed(const hearth_peer *p, char out[32])
{
    if (p->bench_tokens_s)
        snprintf(out, 32, "%u tok/s", p->bench_tokens_s);
    else if (p->bench_mhash_s)
        snprintf(out, 32, "%llu MH/s", (unsigned long long)p->bench_mhash_s);
    else
        snprintf(out, 32, "-");
}

static const char *backend_of(uint8_t b)
{
    return hearth_backend_name((hearth_backend)b);
}

/* the GPU name is only in the full offer, read for the few shown */
static void gpu_of(hearth_view *v, const hearth_peer *p, char out[40])
{
    hearth_offer o;
    if (v && hearth_view_get_offer(v, p->job_kind, p->pubkey,
                                   (hearth_backend)p->backend, &o) == 0) {
        /* the vendor's prefix says nothing the column needs */
        const char *name = o.hw.gpu[0] ? o.hw.gpu : "CPU";
        static const char *const prefixes[] = {"NVIDIA GeForce ", "NVIDIA "};
        for (size_t i = 0; i < 2; i++)
            if (!strncmp(name, prefixes[i], strlen(prefixes[i]))) {
                name += strlen(prefixes[i]);
                break;
            }
        snprintf(out, 40, o.hw.gpu_count > 1 ? "%2$ux %1$s" : "%1$s", name,
                 o.hw.gpu_count);
    }
    else
        snprintf(out, 40, "-");
}

struct reason {
    const char *name, *why;
    size_t n;
};

static size_t reasons(const hearth_select_stats *st, struct reason r[12])
{
    struct reason all[] = {
        {"wrong_kind", "another job kind", st->wrong_kind},
        {"expired", "expired", st->expired},
        {"wrong_model", "without the model", st->wrong_model},
        {"too_small", "too little VRAM", st->too_small},
        {"wrong_tier", "below the tier", st->wrong_tier},
        {"no_rail", "without the payment rail", st->no_rail},
        {"full", "with no free slot", st->full},
        {"cooling_down", "cooling down after failures", st->cooling_down},
        {"hw_failed", "failed the hardware check", st->hw_failed},
        {"too_expensive", "over the price limit", st->too_expensive},
        {"blocked", "blocked", st->blocked},
        {"untrusted", "not trusted", st->untrusted},
    };
    memcpy(r, all, sizeof all);
    return sizeof all / sizeof all[0];
}

/* c: the ranking; chosen: the index of the peer a job would go to */
/* the hardware check's mark: "pass", "FAIL" or "-" (docs/challenge.md) */
static const char *hw_mark(const hearth_peer_obs *o)
{
    if (!o || o->hw_verdict == HEARTH_HW_UNCHECKED)
        return "-";
    return o->hw_verdict == HEARTH_HW_PASS ? "pass" : "FAIL";
}

static void hw_json(hearth_buf *b, const hearth_peer_obs *o)
{
    if (!o || o->hw_verdict == HEARTH_HW_UNCHECKED) {
        hearth_buf_adds(b, ",\"hw_check\":null");
        return;
    }
    hearth_buf_addf(b, ",\"hw_check\":{\"verdict\":\"%s\",\"measured_mhs\":"
                    "%.6g,\"claimed_mhs\":%.6g,\"checked_at\":%lld}",
                    o->hw_verdict == HEARTH_HW_PASS ? "pass" : "fail",
                    (double)o->hw_measured_hs / 1e6,
                    (double)o->hw_claimed_hs / 1e6,
                    (long long)o->hw_checked_at);
}

static void print_table(const struct peers_cli *q, hearth_view *v,
                        const hearth_peer *peers,
                        const hearth_peer_obs *obs, size_t n,
                        const hearth_candidate *c, size_t nc, size_t chosen,
                        const hearth_select_stats *st)
{
    if (q->req.strategy == HEARTH_STRATEGY_ROUND_ROBIN)
        printf("job kind %u, round-robin from eligible number %llu; %zu "
               "offers, %zu eligible\n", q->req.job_kind,
               st->eligible ? (unsigned long long)(q->req.seed % st->eligible)
                            : 0ull, n, st->eligible);
    else
        printf("job kind %u, %s, choosing among the best %zu; %zu offers, "
               "%zu eligible\n", q->req.job_kind,
               hearth_strategy_name(q->req.strategy), q->req.top_n, n,
               st->eligible);
    if (nc) {
        printf("%-4s %-20s %10s %4s %-20s %6s %11s %7s %9s %7s %4s\n",
               "rank", "provider", "price", "tier", "gpu", "vram", "speed",
               "slots", "latency", "score", "hw");
    }
    for (size_t i = 0; i < nc; i++) {
        const hearth_peer *p = &peers[c[i].index];
        char who[24], sp[32], gpu[40], slots[24];
        npub_short(p->pubkey, who);
        speed(p, sp);
        gpu_of(v, p, gpu);
        if (p->capacity_total)
            snprintf(slots, sizeof slots, "%u/%u", p->capacity_free,
                     p->capacity_total);
        else
            snprintf(slots, sizeof slots, "?");
        const hearth_peer_obs *o = obs ? &obs[c[i].index] : NULL;
        printf("%3zu%s %-20s %10llu %4u %-20.20s %5.1fG %11s %7s %8.2fs "
               "%7.2f %4s\n",
               i + 1, c[i].index == chosen ? "*" : " ", who,
               (unsigned long long)c[i].price_msat, p->tier, gpu,
               p->vram_mb / 1024.0, sp, slots, c[i].latency_ms / 1000.0,
               c[i].score, hw_mark(o));
        if (q->explain)
            printf("     %s; latency = rtt %.0f + queue %.0f + run %.0f ms; "
                   "reliability %.3f, reputation %.2f, load %.2f\n"
                   "     score %.2f = price %.2f + latency %.2f + "
                   "reliability %.2f + reputation %.2f + capacity %.2f\n",
                   backend_of(p->backend), c[i].rtt_ms, c[i].queue_ms,
                   c[i].run_ms, c[i].reliability, c[i].reputation,
                   c[i].load, c[i].score, c[i].part.price,
                   c[i].part.latency, c[i].part.reliability,
                   c[i].part.reputation, c[i].part.capacity);
        if (q->explain && o && o->hw_verdict != HEARTH_HW_UNCHECKED)
            printf("     hardware check: %s, %.4g MH/s of %.4g claimed\n",
                   hw_mark(o), (double)o->hw_measured_hs / 1e6,
                   (double)o->hw_claimed_hs / 1e6);
    }
    struct reason r[12];
    size_t nr = reasons(st, r), shown = 0;
    for (size_t i = 0; i < nr; i++) {
        if (!r[i].n)
            continue;
        printf("%s%zu %s", shown++ ? ", " : "left out: ", r[i].n, r[i].why);
    }
    if (shown)
        printf("\n");
    if (!nc)
        printf("no provider is eligible%s\n",
               n ? "" : " (the view has no offer of this kind)");
    else if (q->req.strategy == HEARTH_STRATEGY_ROUND_ROBIN)
        printf("* a job would go here: the next in turn (--seed moves "
               "the turn)\n");
    else
        printf("* a job would go here (drawn among the best %zu by "
               "--seed)\n", q->req.top_n);
}

static int print_json(const struct peers_cli *q, const hearth_peer *peers,
                      const hearth_peer_obs *obs, size_t n, const hearth_candidate *c, size_t nc,
                      size_t chosen, const hearth_select_stats *st)
{
    hearth_buf b = HEARTH_BUF_INIT;
    hearth_buf_addf(&b, "{\"kind\":%u,\"strategy\":\"%s\",\"top_n\":%zu,"
                        "\"considered\":%zu,\"eligible\":%zu,\"left_out\":{",
                    q->req.job_kind, hearth_strategy_name(q->req.strategy),
                    q->req.top_n, n, st->eligible);
    struct reason r[12];
    size_t nr = reasons(st, r);
    for (size_t i = 0; i < nr; i++)
        hearth_buf_addf(&b, "%s\"%s\":%zu", i ? "," : "", r[i].name, r[i].n);
    hearth_buf_adds(&b, "},\"candidates\":[");
    for (size_t i = 0; i < nc; i++) {
        const hearth_peer *p = &peers[c[i].index];
        hearth_buf_addf(&b, "%s{\"rank\":%zu,\"chosen\":%s,\"pubkey\":\"",
                        i ? "," : "", i + 1,
                        c[i].index == chosen ? "true" : "false");
        hearth_buf_addhex(&b, p->pubkey, 32);
        hearth_buf_addf(
            &b,
            "\",\"backend\":\"%s\",\"price_msat\":%llu,\"tier\":%u,"
            "\"vram_mb\":%u,\"bench_mhash_s\":%llu,\"bench_tokens_s\":%u,"
            "\"capacity_free\":%u,\"capacity_total\":%u,"
            "\"latency_ms\":%.1f,\"rtt_ms\":%.1f,\"queue_ms\":%.1f,"
            "\"run_ms\":%.1f,\"reliability\":%.4f,\"reputation\":%.4f,"
            "\"load\":%.4f,\"score\":%.4f,\"parts\":{\"price\":%.4f,"
            "\"latency\":%.4f,\"reliability\":%.4f,\"reputation\":%.4f,"
            "\"capacity\":%.4f}",
            backend_of(p->backend), (unsigned long long)c[i].price_msat,
            p->tier, p->vram_mb, (unsigned long long)p->bench_mhash_s,
            p->bench_tokens_s, p->capacity_free, p->capacity_total,
            c[i].latency_ms, c[i].rtt_ms, c[i].queue_ms, c[i].run_ms,
            c[i].reliability, c[i].reputation, c[i].load, c[i].score,
            c[i].part.price, c[i].part.latency, c[i].part.reliability,
            c[i].part.reputation, c[i].part.capacity);
        hw_json(&b, obs ? &obs[c[i].index] : NULL);
        hearth_buf_addc(&b, '}');
    }
    hearth_buf_adds(&b, "]}\n");
    int rc = hearth_buf_error(&b);
    if (!rc && fwrite(b.p, 1, b.len, stdout) != b.len)
        rc = HEARTH_EIO;
    hearth_buf_free(&b);
    return rc;
}

/* rank and print what snap() returns; v (may be NULL) names GPUs */
static int show(struct peers_cli *q, snapshot_fn snap, void *src,
                hearth_view *v)
{
    hearth_peer *peers = NULL;
    hearth_peer_obs *obs = NULL;
    size_t n = 0, nc = 0;
    int rc = snap(src, q->req.job_kind, q->now, &peers, &obs, &n);
    if (rc) {
        cli_error("cannot read the market view: %s", hearth_strerror(rc));
        return CLI_ERROR;
    }
    /* the ranking in order, then the choice the top-N draw makes */
    hearth_candidate *c = calloc(q->limit ? q->limit : 1, sizeof *c);
    hearth_candidate pick;
    hearth_select_stats st;
    hearth_select_req rank = q->req;
    size_t npick = 0, chosen = SIZE_MAX;
    if (q->req.strategy != HEARTH_STRATEGY_ROUND_ROBIN)
        rank.top_n = 1;
    if (!c) {
        rc = HEARTH_ENOMEM;
    } else {
        rc = hearth_select(peers, obs, n, &rank, c, q->limit, &nc, &st);
        if (!rc)
            rc = hearth_select(peers, obs, n, &q->req, &pick, 1, &npick,
                               NULL);
        if (npick)
            chosen = pick.index;
    }
    if (!rc && q->json)
        rc = print_json(q, peers, obs, n, c, nc, chosen, &st);
    else if (!rc)
        print_table(q, v, peers, obs, n, c, nc, chosen, &st);
    free(c);
    free(peers);
    free(obs);
    if (rc) {
        cli_error("%s", hearth_strerror(rc));
        return CLI_ERROR;
    }
    return nc ? CLI_OK : CLI_FAIL;
}

int cmd_peers(int argc, char **argv)
{
    struct peers_cli q;
    memset(&q, 0, sizeof q);
    q.req.job_kind = HEARTH_KIND_JOB_POW;
    q.req.top_n = 3;
    q.req.seed = (uint64_t)time(NULL);
    q.limit = 20;
    q.now = (int64_t)time(NULL);
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i];
        if (!strcmp(k, "-h") || !strcmp(k, "--help")) {
            fputs(usage_text, stdout);
            return CLI_OK;
        }
        if (!strcmp(k, "--explain")) {
            q.explain = 1;
            continue;
        }
        if (!strcmp(k, "--json")) {
            q.json = 1;
            continue;
        }
        int used = option(&q, k, i + 1 < argc ? argv[i + 1] : NULL);
        if (used < 0)
            return CLI_USAGE;
        if (!used) {
            cli_error("unknown option '%s' (see 'hearth peers --help')", k);
            return CLI_USAGE;
        }
        i++;
    }
    hearth_select_req *r = &q.req;
    r->now = q.now;
    r->usage.jobs = 1;
    if (!q.usage_set) {
        if (r->job_kind == HEARTH_KIND_JOB_POW)
            r->usage.hashes = 1ull << 30;
        else
            r->usage.tokens_in = 500, r->usage.tokens_out = 250;
    }
    if (q.model)
        r->model_hash = hearth_model_hash(q.model);

    char dir[4096];
    if (!q.data) {
        default_dir(dir, sizeof dir);
        q.data = dir;
    }
    struct stat sb;
    if (stat(q.data, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        cli_error("no market view in %s: fill one with 'hearth market sync "
                  "--relay URL', or pass --data DIR", q.data);
        return CLI_ERROR;
    }
    hearth_view *v = NULL;
    int rc = hearth_view_open(q.data, NULL, &v);
    if (rc) {
        cli_error("cannot open the market view in %s: %s", q.data,
                  hearth_strerror(rc));
        return CLI_ERROR;
    }
    int out = show(&q, view_snapshot, v, v);
    hearth_view_close(v);
    return out;
}
