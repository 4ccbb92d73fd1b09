/* hearth offer show|publish|check: the offers (kind 31907) this peer
 * advertises, built from flags and the detected hardware, printed or
 * signed, optionally mined, and sent to relays through the pool; and a
 * checker for offers read as JSON lines. The config file that will hold
 * prices and models comes with a later issue; until then flags say it. */
#include "cli.h"
#include "pool_cli.h"

#include "hearth/error.h"
#include "hearth/event.h"
#include "hearth/hex.h"
#include "hearth/hw.h"
#include "hearth/keys.h"
#include "hearth/keeper.h"
#include "hearth/kinds.h"
#include "hearth/nip13.h"
#include "hearth/offer.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_KINDS 16
#define MAX_POW 40   /* CPU mining past this takes days */
#define MAX_REFRESH 86400

struct offer_cli {
    struct pool_cli c;          /* publish: relays, key, timeout, --json */
    uint32_t kinds[MAX_KINDS];
    size_t nkinds;
    int has_backend;
    hearth_backend backend;
    hearth_offer tpl;           /* everything but kind and backend */
    int priced, rails_set, credit_set;
    const char *inbox[HEARTH_OFFER_MAX_RELAYS];
    size_t ninbox;
    const char *gpu, *cc;
    long long gpus, vram, cpu;  /* -1: not given */
    int no_gpu, no_detect;
    long long ttl;
    int ttl_set;
    int announce;
    const char *name;
    int pow;
    int json, help;
    /* publish */
    size_t pending;
    unsigned long ok, bad;
    hearth_buf out;
    hearth_offer offers[MAX_KINDS];   /* what build_all built */
    size_t noffers;
    /* publish --keep */
    int keep;
    long long refresh;          /* seconds; 0: $HEARTH_OFFER_REFRESH or 600 */
    hearth_keeper *keeper;
    int stopping, stop_ok;
};

static const char offer_help[] =
    "usage: hearth offer show [options]\n"
    "       hearth offer publish --relay URL [--relay URL...] [--key SPEC]\n"
    "                            [--pow N] [--keep [--refresh S]] [options]\n"
    "       hearth offer check [--json] < offers.jsonl\n"
    "\n"
    "show prints the offers (kind 31907, docs/protocol.md \"Offer\") this\n"
    "peer would advertise, one per --kind: a summary and the unsigned event,\n"
    "or with --json only the event as a JSON line (pipe it to 'hearth\n"
    "publish').\n"
    "publish signs them (mining NIP-13 proof of work with --pow N first) and\n"
    "sends them to the --relay relays, printing one line per offer and relay:\n"
    "  <kind>:<d> <id> <relay> ok | rejected: <message> | failed: <why>\n"
    "check reads offer events and prints 'ok <d> <id>' or the reason each is\n"
    "refused (it checks signatures too).\n"
    "\n"
    "Hardware comes from detection (CUDA/NVML when present) unless the\n"
    "--gpu/--vram/--cc/--gpus/--no-gpu/--cpu flags say otherwise.\n"
    "\n"
    "offer options:\n"
    "  --kind K            NIP-90 job kind, 5000-5999; repeat for more\n"
    "                      (default 5970, NIP-13 PoW delegation)\n"
    "  --backend B         pow, openai or exec (default pow for 5970,\n"
    "                      openai otherwise)\n"
    "  --price-job MSAT    price per job\n"
    "  --price-mtok-in MSAT, --price-mtok-out MSAT\n"
    "                      per million input / output tokens\n"
    "  --price-gpu-s MSAT  per GPU-second\n"
    "  --price-mhash MSAT  per million hashes\n"
    "                      (no price at all: the offer is free)\n"
    "  --model NAME        a model served; repeat (at most 16)\n"
    "  --inbox URL         a relay where this peer reads job requests;\n"
    "                      repeat (at most 8; publish: default the --relay)\n"
    "  --capacity N        job slots, all free (default 1)\n"
    "  --rail R            credit or lightning; repeat (default lightning,\n"
    "                      plus credit when --credit is given)\n"
    "  --credit MSAT       credit a new customer gets\n"
    "  --bench-mhash N     measured million hashes per second\n"
    "  --bench-tokens N    measured output tokens per second\n"
    "  --gpu NAME, --gpus N, --vram MIB, --cc X.Y, --no-gpu, --cpu N\n"
    "  --no-detect         do not detect hardware (CPU only unless --gpu)\n"
    "  --ttl S             seconds until the offer expires (default 1200,\n"
    "                      twice the 10-minute refresh; at most 86400)\n"
    "  --announce          also a NIP-89 announcement (kind 31990) with a k\n"
    "                      tag per job kind, named by --name (default hearth)\n"
    "  --json              JSON lines\n"
    "\n"
    "publish --keep (or --follow) keeps running: it publishes the offers at\n"
    "once, again every --refresh seconds (default $HEARTH_OFFER_REFRESH, else\n"
    "600) with a fresh created_at, again at once on SIGHUP (until the daemon\n"
    "exists, this is how to say 'capacity or prices changed'), and on\n"
    "SIGINT/SIGTERM withdraws them with a NIP-09 deletion (kind 5, an a tag\n"
    "per offer, k 31907) and exits once every relay answered it, or after 5\n"
    "seconds (exit status 1 if not every relay took it; a second signal\n"
    "exits at once). Deletions print as '5:deletion <id> <relay> ...'.\n"
    "  --keep, --follow    keep the offers alive until stopped\n"
    "  --refresh S         seconds between refreshes (1-86400); --ttl then\n"
    "                      defaults to twice this\n";

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

static int num(const char *opt, const char *v, unsigned long long max,
               unsigned long long *out)
{
    char *end;
    errno = 0;
    if (*v < '0' || *v > '9') {
        cli_error("%s wants a whole number, got '%s'", opt, v);
        return -1;
    }
    unsigned long long x = strtoull(v, &end, 10);
    if (*end || errno || x > max) {
        cli_error("%s wants a whole number up to %llu, got '%s'", opt, max, v);
        return -1;
    }
    *out = x;
    return 0;
}

static int copy_name(const char *opt, char *dst, size_t cap, const char *v)
{
    if (strlen(v) >= cap || !*v) {
        cli_error("%s: '%s' is empty or longer than %zu bytes", opt, v,
                  cap - 1);
        return -1;
    }
    strcpy(dst, v);
    return 0;
}

/* prices: option -> field */
static const struct {
    const char *opt;
    size_t off;
} price_opts[] = {
    {"--price-job", offsetof(hearth_price, per_job)},
    {"--price-mtok-in", offsetof(hearth_price, per_mtok_in)},
    {"--price-mtok-out", offsetof(hearth_price, per_mtok_out)},
    {"--price-gpu-s", offsetof(hearth_price, per_gpu_second)},
    {"--price-mhash", offsetof(hearth_price, per_mhash)},
};

/* numeric options: option -> where, bound */
static int numeric_opt(struct offer_cli *q, const char *name, const char *v)
{
    unsigned long long x;
    hearth_offer *t = &q->tpl;
    for (size_t i = 0; i < sizeof price_opts / sizeof price_opts[0]; i++)
        if (!strcmp(name, price_opts[i].opt)) {
            if (num(name, v, UINT64_MAX, &x))
                return -1;
            memcpy((char *)&t->price + price_opts[i].off, &x, sizeof x);
            q->priced = 1;
            return 1;
        }
    if (!strcmp(name, "--kind")) {
        if (num(name, v, HEARTH_KIND_JOB_MAX, &x) || x < HEARTH_KIND_JOB_MIN) {
            cli_error("--kind wants a NIP-90 job kind, 5000-5999");
            return -1;
        }
        if (q->nkinds == MAX_KINDS) {
            cli_error("at most %d --kind", MAX_KINDS);
            return -1;
        }
        q->kinds[q->nkinds++] = (uint32_t)x;
    } else if (!strcmp(name, "--capacity")) {
        if (num(name, v, UINT32_MAX, &x))
            return -1;
        if (x == 0) {
            cli_error("--capacity must be at least 1");
            return -1;
        }
        t->capacity_free = t->capacity_total = (uint32_t)x;
    } else if (!strcmp(name, "--credit")) {
        if (num(name, v, UINT64_MAX, &x))
            return -1;
        t->credit_limit_msat = x;
        q->credit_set = 1;
    } else if (!strcmp(name, "--bench-mhash")) {
        if (num(name, v, UINT64_MAX, &x))
            return -1;
        t->bench_mhash_s = x;
    } else if (!strcmp(name, "--bench-tokens")) {
        if (num(name, v, UINT32_MAX, &x))
            return -1;
        t->bench_tokens_s = (uint32_t)x;
    } else if (!strcmp(name, "--gpus")) {
        if (num(name, v, 1024, &x))
            return -1;
        q->gpus = (long long)x;
    } else if (!strcmp(name, "--vram")) {
        if (num(name, v, UINT32_MAX, &x))
            return -1;
        q->vram = (long long)x;
    } else if (!strcmp(name, "--cpu")) {
        if (num(name, v, UINT16_MAX, &x))
            return -1;
        q->cpu = (long long)x;
    } else if (!strcmp(name, "--ttl")) {
        if (num(name, v, HEARTH_OFFER_MAX_TTL_S, &x))
            return -1;
        if (x < 60) {
            cli_error("--ttl: 60 to %d seconds", HEARTH_OFFER_MAX_TTL_S);
            return -1;
        }
        q->ttl = (long long)x;
        q->ttl_set = 1;
    } else if (!strcmp(name, "--refresh")) {
        if (num(name, v, MAX_REFRESH, &x))
            return -1;
        if (x < 1) {
            cli_error("--refresh: 1 to %d seconds", MAX_REFRESH);
            return -1;
        }
        q->refresh = (long long)x;
    } else if (!strcmp(name, "--pow")) {
        if (num(name, v, MAX_POW, &x))
            return -1;
        q->pow = (int)x;
    } else {
        return 0;
    }
    return 1;
}

static const char *const numeric_names[] = {
    "--price-job", "--price-mtok-in", "--price-mtok-out", "--price-gpu-s",
    "--price-mhash", "--kind", "--capacity", "--credit", "--bench-mhash",
    "--bench-tokens", "--gpus", "--vram", "--cpu", "--ttl", "--pow",
    "--refresh"
};

static int string_opt(struct offer_cli *q, const char *name, const char *v)
{
    hearth_offer *t = &q->tpl;
    if (!strcmp(name, "--backend")) {
        if (hearth_backend_parse(v, &q->backend)) {
            cli_error("--backend: pow, openai or exec, not '%s'", v);
            return -1;
        }
        q->has_backend = 1;
    } else if (!strcmp(name, "--model")) {
        if (t->nmodels == HEARTH_OFFER_MAX_MODELS) {
            cli_error("at most %u --model", HEARTH_OFFER_MAX_MODELS);
            return -1;
        }
        if (copy_name(name, t->models[t->nmodels], HEARTH_OFFER_NAME_MAX, v))
            return -1;
        t->nmodels++;
    } else if (!strcmp(name, "--inbox")) {
        if (q->ninbox == HEARTH_OFFER_MAX_RELAYS) {
            cli_error("at most %u --inbox", HEARTH_OFFER_MAX_RELAYS);
            return -1;
        }
        q->inbox[q->ninbox++] = v;
    } else if (!strcmp(name, "--rail")) {
        if (!strcmp(v, "credit"))
            t->rails |= HEARTH_RAIL_CREDIT;
        else if (!strcmp(v, "lightning"))
            t->rails |= HEARTH_RAIL_LIGHTNING;
        else {
            cli_error("--rail: credit or lightning, not '%s'", v);
            return -1;
        }
        q->rails_set = 1;
    } else if (!strcmp(name, "--gpu")) {
        q->gpu = v;
    } else if (!strcmp(name, "--cc")) {
        q->cc = v;
    } else if (!strcmp(name, "--name")) {
        q->name = v;
    } else {
        return 0;
    }
    return 1;
}

static const char *const string_names[] = {
    "--backend", "--model", "--inbox", "--rail", "--gpu", "--cc", "--name"
};

/* 1 taken, 0 not an offer option, -1 usage error (printed) */
static int offer_opt(struct offer_cli *q, int argc, char **argv, int *i)
{
    const char *a = argv[*i], *v;
    int r;
    if (!strcmp(a, "-h") || !strcmp(a, "--help"))
        return q->help = 1;
    if (!strcmp(a, "--json"))
        return q->json = 1;
    if (!strcmp(a, "--no-gpu"))
        return q->no_gpu = 1;
    if (!strcmp(a, "--no-detect"))
        return q->no_detect = 1;
    if (!strcmp(a, "--announce"))
        return q->announce = 1;
    if (!strcmp(a, "--keep") || !strcmp(a, "--follow"))
        return q->keep = 1;
    for (size_t k = 0; k < sizeof numeric_names / sizeof *numeric_names; k++)
        if ((r = value_of(argc, argv, i, numeric_names[k], &v)) != 0)
            return r < 0 ? -1 : numeric_opt(q, numeric_names[k], v);
    for (size_t k = 0; k < sizeof string_names / sizeof *string_names; k++)
        if ((r = value_of(argc, argv, i, string_names[k], &v)) != 0)
            return r < 0 ? -1 : string_opt(q, string_names[k], v);
    return 0;
}

static void init(struct offer_cli *q)
{
    memset(q, 0, sizeof *q);
    q->gpus = q->vram = q->cpu = -1;
    q->ttl = HEARTH_OFFER_TTL_S;
    q->tpl.capacity_free = q->tpl.capacity_total = 1;
}

static int parse_args(struct offer_cli *q, int argc, char **argv,
                      int with_pool)
{
    for (int i = 1; i < argc; i++) {
        int r = with_pool ? pool_cli_opt(&q->c, argc, argv, &i) : 0;
        if (r == 0)
            r = offer_opt(q, argc, argv, &i);
        if (r == 0)
            cli_error("unexpected argument '%s' (see --help)", argv[i]);
        if (r <= 0)
            return -1;
    }
    q->json |= q->c.json;
    q->help |= q->c.help;
    return 0;
}

/* ---- building the offers ---- */

static void drop_gpu(hearth_hw_summary *s)
{
    memset(s->gpu, 0, sizeof s->gpu);
    s->gpu_count = s->vram_mb = 0;
    s->cc_major = s->cc_minor = 0;
    s->tier = 0;
}

/* detected hardware, then the flags on top: a --gpu replaces the
 * detected GPU altogether, so its --vram and --cc must be given too */
static int hardware(struct offer_cli *q)
{
    hearth_hw_summary *s = &q->tpl.hw;
    memset(s, 0, sizeof *s);
    if (!q->no_detect) {
        hearth_hw *hw = calloc(1, sizeof *hw);
        if (!hw || hearth_hw_detect(hw) || hearth_hw_summarize(hw, s)) {
            free(hw);
            cli_error("hardware detection failed");
            return -1;
        }
        free(hw);
    }
    if (q->no_gpu || q->gpu)
        drop_gpu(s);
    if (q->gpu) {
        if (q->vram < 0 || !q->cc) {
            cli_error("--gpu needs --vram MIB and --cc X.Y too");
            return -1;
        }
        if (copy_name("--gpu", s->gpu, sizeof s->gpu, q->gpu))
            return -1;
        s->gpu_count = 1;
    }
    if (q->gpus >= 0)
        s->gpu_count = (uint32_t)q->gpus;
    if (q->vram >= 0)
        s->vram_mb = (uint32_t)q->vram;
    if (q->cc) {
        unsigned ma, mi;
        char tail;
        if (sscanf(q->cc, "%u.%u%c", &ma, &mi, &tail) != 2 || ma > 99 ||
            mi > 9) {
            cli_error("--cc wants major.minor, e.g. 8.6");
            return -1;
        }
        s->cc_major = (uint16_t)ma;
        s->cc_minor = (uint16_t)mi;
    }
    if (q->cpu >= 0)
        s->cpu_cores = (uint16_t)q->cpu;
    return 0;
}

static int inboxes(struct offer_cli *q)
{
    const char *const *list = q->ninbox ? q->inbox : q->c.relays;
    size_t n = q->ninbox ? q->ninbox : q->c.nrelays;
    hearth_offer *t = &q->tpl;
    for (size_t i = 0; i < n && t->nrelays < HEARTH_OFFER_MAX_RELAYS; i++) {
        hearth_buf b = HEARTH_BUF_INIT;
        int bad = hearth_relay_url_normalize(list[i], &b) ||
                  b.len >= HEARTH_OFFER_URL_MAX;
        if (!bad)
            memcpy(t->relays[t->nrelays++], b.p, b.len + 1);
        hearth_buf_free(&b);
        if (bad) {
            cli_error("'%s' is not a ws:// or wss:// relay URL", list[i]);
            return -1;
        }
    }
    return 0;
}

/* one unsigned event per job kind, plus the announcement if asked */
static int build_all(struct offer_cli *q, int64_t now, hearth_event **evs,
                     size_t *n)
{
    hearth_offer *offers = q->offers;
    *n = 0;
    if (hardware(q) || inboxes(q))
        return CLI_USAGE;
    if (!q->nkinds)
        q->kinds[q->nkinds++] = HEARTH_KIND_JOB_POW;
    if (!q->rails_set)
        q->tpl.rails = HEARTH_RAIL_LIGHTNING |
                       (q->credit_set ? HEARTH_RAIL_CREDIT : 0);
    if (!q->priced)
        fprintf(stderr, "hearth: note: no --price-* given: the offer is "
                        "free\n");
    q->tpl.expires_at = now + q->ttl;
    for (size_t i = 0; i < q->nkinds; i++) {
        const char *why;
        hearth_offer *o = &offers[i];
        *o = q->tpl;
        o->job_kind = q->kinds[i];
        o->backend = q->has_backend ? q->backend
                     : o->job_kind == HEARTH_KIND_JOB_POW
                         ? HEARTH_BACKEND_POW
                         : HEARTH_BACKEND_OPENAI;
        if (hearth_offer_check(o, now, &why)) {
            cli_error("offer for kind %u: %s", o->job_kind, why);
            return CLI_USAGE;
        }
        if (hearth_offer_to_event(o, now, &evs[(*n)++])) {
            cli_error("out of memory");
            return CLI_ERROR;
        }
        q->noffers = i + 1;
    }
    if (q->announce &&
        hearth_offer_announcement(offers, q->nkinds, q->name, now,
                                  &evs[(*n)++])) {
        cli_error("could not build the NIP-89 announcement");
        return CLI_ERROR;
    }
    return CLI_OK;
}

static void free_all(hearth_event **evs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        hearth_event_free(evs[i]);
}

static void print_summary(const hearth_event *ev, int64_t now)
{
    hearth_offer o;
    const char *why;
    if (ev->kind != HEARTH_KIND_OFFER ||
        hearth_offer_from_event(ev, now, &o, &why)) {
        printf("NIP-89 announcement (kind %u)\n", ev->kind);
        return;
    }
    printf("offer %u:%s (kind 31907), expires in %lld s\n", o.job_kind,
           hearth_backend_name(o.backend), (long long)(o.expires_at - now));
    printf("  price     ");
    static const char *const units[] = {"job", "Mtok in", "Mtok out",
                                        "GPU-s", "Mhash"};
    const uint64_t p[] = {o.price.per_job, o.price.per_mtok_in,
                          o.price.per_mtok_out, o.price.per_gpu_second,
                          o.price.per_mhash};
    int any = 0;
    for (size_t i = 0; i < 5; i++)
        if (p[i]) {
            printf("%s%llu msat/%s", any ? ", " : "",
                   (unsigned long long)p[i], units[i]);
            any = 1;
        }
    printf("%s\n", any ? "" : "free");
    if (o.hw.gpu_count)
        printf("  hardware  %ux %s, %u MiB, cc %u.%u, tier %u; %u CPU cores\n",
               o.hw.gpu_count, o.hw.gpu, o.hw.vram_mb, o.hw.cc_major,
               o.hw.cc_minor, o.hw.tier, o.hw.cpu_cores);
    else
        printf("  hardware  CPU only, %u cores\n", o.hw.cpu_cores);
    for (size_t i = 0; i < o.nmodels; i++)
        printf("  model     %s\n", o.models[i]);
    printf("  capacity  %u free of %u\n", o.capacity_free, o.capacity_total);
    for (size_t i = 0; i < o.nrelays; i++)
        printf("  inbox     %s\n", o.relays[i]);
    printf("  payment   %s%s%s", o.rails & HEARTH_RAIL_LIGHTNING ?
           "lightning" : "", o.rails == 3 ? ", " : "",
           o.rails & HEARTH_RAIL_CREDIT ? "credit" : "");
    if (o.rails & HEARTH_RAIL_CREDIT)
        printf(" (limit %llu msat)", (unsigned long long)o.credit_limit_msat);
    printf("\n");
}

static int show_run(int argc, char **argv)
{
    struct offer_cli *q = malloc(sizeof *q);
    hearth_event *evs[MAX_KINDS + 1];
    size_t n = 0;
    int64_t now = (int64_t)time(NULL);
    if (!q)
        return CLI_ERROR;
    init(q);
    int rc = parse_args(q, argc, argv, 0) ? CLI_USAGE : CLI_OK;
    if (rc == CLI_OK && q->help)
        fputs(offer_help, stdout);
    else if (rc == CLI_OK)
        rc = build_all(q, now, evs, &n);
    for (size_t i = 0; rc == CLI_OK && i < n; i++) {
        hearth_buf b = HEARTH_BUF_INIT;
        hearth_event_to_json(evs[i], &b);
        if (!q->json)
            print_summary(evs[i], now);
        printf("%s%s\n", q->json ? "" : "  event     ", b.p);
        hearth_buf_free(&b);
    }
    free_all(evs, n);
    free(q);
    return rc;
}

/* ---- publish ---- */

static void print_result(struct offer_cli *q, const hearth_event *ev,
                         const char *relay, enum hearth_pub_result r,
                         const char *msg)
{
    static const char *const words[] = {"ok", "rejected", "failed"};
    char id[65];
    hearth_str d = hearth_event_d(ev);
    hearth_buf *b = &q->out;
    if (ev->kind == HEARTH_KIND_DELETION)
        d = (hearth_str){"deletion", 8};
    hearth_hex_encode(ev->id, 32, id);
    hearth_buf_reset(b);
    if (q->json) {
        hearth_buf_addf(b, "{\"kind\":%u,\"d\":", ev->kind);
        hearth_buf_addjson(b, d.p, d.n);
        hearth_buf_addf(b, ",\"id\":\"%s\",\"relay\":", id);
        hearth_buf_addjson(b, relay, strlen(relay));
        hearth_buf_addf(b, ",\"result\":\"%s\",\"message\":", words[r]);
        hearth_buf_addjson(b, msg, strlen(msg));
        hearth_buf_addc(b, '}');
    } else {
        hearth_buf_addf(b, "%u:%.*s %s %s %s", ev->kind, (int)d.n, d.p, id,
                        relay, words[r]);
        if (r != HEARTH_PUB_OK)
            hearth_buf_addf(b, ": %s", *msg ? msg : "(no message)");
    }
    if (!hearth_buf_error(b))
        puts(b->p);
    fflush(stdout);
}

struct pub_ctx {
    struct offer_cli *q;
    const hearth_event *ev;
};

static void on_result(const uint8_t id[32], const char *relay,
                      enum hearth_pub_result r, const char *msg, void *user)
{
    struct pub_ctx *x = user;
    struct offer_cli *q = x->q;
    (void)id;
    if (r == HEARTH_PUB_OK)
        q->ok++;
    else
        q->bad++;
    print_result(q, x->ev, relay, r, msg);
    if (--q->pending == 0)
        hearth_loop_stop(q->c.loop);
}

static int sign_all(struct offer_cli *q, hearth_event **evs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        hearth_event *ev = evs[i];
        if (q->pow && ev->kind == HEARTH_KIND_OFFER) {
            if (hearth_key_pubkey(q->c.sk, ev->pubkey))
                return -1;
            ev->has |= HEARTH_EV_HAS_PUBKEY;
            if (hearth_nip13_mine(ev, q->pow, 0, NULL))
                return -1;
        }
        if (hearth_event_sign(ev, q->c.sk))
            return -1;
    }
    return 0;
}

static int publish_all(struct offer_cli *q, hearth_event **evs, size_t n)
{
    hearth_pool_opts o;
    struct pub_ctx ctx[MAX_KINDS + 1];
    hearth_pool_opts_default(&o);
    double t = q->c.has_timeout ? q->c.timeout : 30.0;
    o.pub_timeout_ms = t > 0 ? (uint32_t)(t * 1000) : UINT32_MAX / 2;
    int rc = pool_cli_open(&q->c, &o);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++) {
        ctx[i] = (struct pub_ctx){q, evs[i]};
        if (hearth_pool_publish(q->c.pool, evs[i], on_result, &ctx[i])) {
            cli_error("could not send an event to the pool");
            return CLI_ERROR;
        }
        q->pending += hearth_pool_nrelays(q->c.pool);
    }
    if (hearth_loop_run(q->c.loop)) {
        cli_error("event loop failed");
        return CLI_ERROR;
    }
    int dropped = pool_cli_report(&q->c);
    return q->bad || q->pending || dropped ? CLI_FAIL : CLI_OK;
}

/* ---- publish --keep ---- */

/* Signals only set these and wake the loop; the loop thread acts on
 * them (keep_wake), since the pool must not be touched from a handler. */
static volatile sig_atomic_t keep_term, keep_hup;
static hearth_loop *keep_loop;

static void keep_signal(int sig)
{
    if (sig == SIGHUP) {
        keep_hup = 1;
    } else if (keep_term) {
        hearth_loop_stop(keep_loop); /* asked twice: do not wait */
        return;
    } else {
        keep_term = 1;
    }
    hearth_loop_wake(keep_loop);
}

static void keep_wake(void *user)
{
    struct offer_cli *q = user;
    if (keep_term && !q->stopping) {
        q->stopping = 1;
        fprintf(stderr, "hearth: withdrawing the offers\n");
        hearth_keeper_stop(q->keeper);
    } else if (keep_hup && !q->stopping) {
        keep_hup = 0;
        fprintf(stderr, "hearth: publishing the offers again (SIGHUP)\n");
        if (hearth_keeper_publish(q->keeper))
            cli_error("could not publish the offers again");
    }
}

static void keep_result(hearth_keeper *k, const hearth_event *ev,
                        const char *relay, enum hearth_pub_result r,
                        const char *msg, void *user)
{
    struct offer_cli *q = user;
    (void)k;
    if (r == HEARTH_PUB_OK)
        q->ok++;
    else
        q->bad++;
    print_result(q, ev, relay, r, msg);
}

static void keep_stopped(hearth_keeper *k, int all_ok, void *user)
{
    struct offer_cli *q = user;
    (void)k;
    q->stop_ok = all_ok;
    if (!all_ok)
        cli_error("the deletion did not reach every relay in time; the "
                  "offers expire by themselves within their ttl");
    hearth_loop_stop(q->c.loop);
}

static void keep_announce_result(const uint8_t id[32], const char *relay,
                                 enum hearth_pub_result r, const char *msg,
                                 void *user)
{
    struct pub_ctx *x = user;
    (void)id;
    keep_result(NULL, x->ev, relay, r, msg, x->q);
}

/* refresh interval: --refresh, else $HEARTH_OFFER_REFRESH, else 600 s */
static int keep_refresh(struct offer_cli *q)
{
    const char *env = getenv("HEARTH_OFFER_REFRESH");
    unsigned long long x;
    if (q->refresh)
        return 0;
    q->refresh = HEARTH_OFFER_REFRESH_S;
    if (!env || !*env)
        return 0;
    if (num("HEARTH_OFFER_REFRESH", env, MAX_REFRESH, &x) || x < 1)
        return -1;
    q->refresh = (long long)x;
    return 0;
}

/* ann: the signed NIP-89 announcement, or NULL */
static int keep_run(struct offer_cli *q, const hearth_event *ann)
{
    hearth_pool_opts o;
    hearth_keeper_opts ko;
    struct pub_ctx ctx = {q, ann};
    hearth_pool_opts_default(&o);
    if (q->c.has_timeout && q->c.timeout > 0)
        o.pub_timeout_ms = (uint32_t)(q->c.timeout * 1000);
    o.on_wake = keep_wake;
    o.user = q;
    int rc = pool_cli_open(&q->c, &o);
    if (rc)
        return rc;
    keep_loop = q->c.loop;
    keep_term = keep_hup = 0;
    signal(SIGINT, keep_signal);
    signal(SIGTERM, keep_signal);
    signal(SIGHUP, keep_signal);
    hearth_keeper_opts_default(&ko);
    ko.refresh_s = (uint32_t)q->refresh;
    ko.ttl_s = q->ttl_set ? (uint32_t)q->ttl : 0;
    ko.pow_bits = q->pow;
    ko.on_result = keep_result;
    ko.on_stopped = keep_stopped;
    ko.user = q;
    if (hearth_keeper_new(q->c.loop, q->c.pool, q->c.sk, q->offers,
                          q->noffers, &ko, &q->keeper)) {
        cli_error("could not set up the offers");
        return CLI_ERROR;
    }
    if (ann && hearth_pool_publish(q->c.pool, ann, keep_announce_result,
                                   &ctx)) {
        cli_error("could not send the announcement to the pool");
        return CLI_ERROR;
    }
    if (hearth_keeper_start(q->keeper)) {
        cli_error("could not publish the offers");
        return CLI_ERROR;
    }
    fprintf(stderr, "hearth: keeping %zu offers alive: refresh every %lld "
            "s; SIGHUP publishes again, SIGINT/SIGTERM withdraws them\n",
            q->noffers, q->refresh);
    rc = hearth_loop_run(q->c.loop);
    signal(SIGHUP, SIG_DFL);
    if (rc) {
        cli_error("event loop failed");
        return CLI_ERROR;
    }
    int dropped = pool_cli_report(&q->c);
    return q->stop_ok && !dropped ? CLI_OK : CLI_FAIL;
}

static int publish_run(int argc, char **argv)
{
    struct offer_cli *q = malloc(sizeof *q);
    hearth_event *evs[MAX_KINDS + 1];
    size_t n = 0;
    if (!q)
        return CLI_ERROR;
    init(q);
    int rc = parse_args(q, argc, argv, 1) ? CLI_USAGE : CLI_OK;
    if (rc == CLI_OK && q->help) {
        printf("%s%s", offer_help, pool_cli_help);
        printf("  --pow N          mine N bits of NIP-13 proof of work on "
               "each offer\n");
    } else if (rc == CLI_OK && !q->c.nrelays) {
        cli_error("no relay: give at least one --relay URL");
        rc = CLI_USAGE;
    } else if (rc == CLI_OK && pool_cli_key(&q->c)) {
        rc = CLI_ERROR;
    } else if (rc == CLI_OK && !q->c.has_key) {
        cli_error("no key to sign with: give --key, set $HEARTH_KEY or "
                  "create one with "
                  "'hearth key new --out ~/.config/hearth/key'");
        rc = CLI_ERROR;
    } else if (rc == CLI_OK && q->refresh && !q->keep) {
        cli_error("--refresh only means something with --keep");
        rc = CLI_USAGE;
    } else if (rc == CLI_OK && q->keep && keep_refresh(q)) {
        cli_error("$HEARTH_OFFER_REFRESH wants seconds, 1-%d", MAX_REFRESH);
        rc = CLI_USAGE;
    } else if (rc == CLI_OK && q->keep) {
        if (q->ttl_set && q->ttl <= q->refresh)
            fprintf(stderr, "hearth: note: --ttl %lld is not longer than the "
                    "refresh (%lld s): the offers lapse between refreshes\n",
                    q->ttl, q->refresh);
        /* the keeper builds and signs each refresh itself; only the
         * announcement is signed here */
        rc = build_all(q, (int64_t)time(NULL), evs, &n);
        const hearth_event *ann = q->announce && n ? evs[n - 1] : NULL;
        if (rc == CLI_OK && ann && hearth_event_sign(evs[n - 1], q->c.sk)) {
            cli_error("signing failed");
            rc = CLI_ERROR;
        }
        if (rc == CLI_OK)
            rc = keep_run(q, ann);
    } else if (rc == CLI_OK) {
        rc = build_all(q, (int64_t)time(NULL), evs, &n);
        if (rc == CLI_OK && sign_all(q, evs, n)) {
            cli_error("signing failed");
            rc = CLI_ERROR;
        }
        if (rc == CLI_OK)
            rc = publish_all(q, evs, n);
    }
    /* the pool first: the keeper's publishes cannot be cancelled, and
     * once the pool is gone no callback can reach the keeper */
    pool_cli_close(&q->c);
    hearth_keeper_free(q->keeper);
    free_all(evs, n);
    hearth_buf_free(&q->out);
    free(q);
    return rc;
}

/* ---- check ---- */

static int check_run(int argc, char **argv)
{
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            puts("usage: hearth offer check [--json] < offers.jsonl\n\n"
                 "Reads one event per line; checks its id and signature and\n"
                 "the offer rules of docs/protocol.md. Prints 'ok <d> <id>'\n"
                 "or 'line N: <reason>' (--json: one object per line). Exit\n"
                 "status 1 if any line failed.");
            return CLI_OK;
        }
        if (strcmp(argv[i], "--json")) {
            cli_error("unexpected argument '%s' (see --help)", argv[i]);
            return CLI_USAGE;
        }
        json = 1;
    }
    hearth_buf line = HEARTH_BUF_INIT, out = HEARTH_BUF_INIT;
    long n = 0, failed = 0;
    int r;
    int64_t now = (int64_t)time(NULL);
    while ((r = cli_read_line(stdin, &line)) != 0) {
        hearth_event *ev = NULL;
        hearth_offer o;
        const char *why = "invalid: line too long";
        char id[65] = "";
        n++;
        if (r > 0 && line.len == 0)
            continue;
        if (r > 0 && !hearth_event_parse(line.p, line.len, 0, &ev, &why) &&
            !hearth_event_verify(ev, &why) &&
            !hearth_offer_from_event(ev, now, &o, &why))
            why = NULL;
        if (ev)
            hearth_hex_encode(ev->id, 32, id);
        failed += why != NULL;
        hearth_buf_reset(&out);
        if (json) {
            hearth_buf_addf(&out, "{\"line\":%ld,\"ok\":%s", n,
                            why ? "false" : "true");
            if (*id)
                hearth_buf_addf(&out, ",\"id\":\"%s\"", id);
            if (!why)
                hearth_buf_addf(&out, ",\"d\":\"%u:%s\"", o.job_kind,
                                hearth_backend_name(o.backend));
            else {
                hearth_buf_adds(&out, ",\"reason\":");
                hearth_buf_addjson(&out, why, strlen(why));
            }
            hearth_buf_addc(&out, '}');
        } else if (why) {
            hearth_buf_addf(&out, "line %ld: %s", n, why);
        } else {
            hearth_buf_addf(&out, "ok %u:%s %s", o.job_kind,
                            hearth_backend_name(o.backend), id);
        }
        if (!hearth_buf_error(&out))
            puts(out.p);
        hearth_event_free(ev);
    }
    hearth_buf_free(&line);
    hearth_buf_free(&out);
    return failed ? CLI_FAIL : CLI_OK;
}

static const cli_verb verbs[] = {
    {"show", show_run, "print the offers this peer would advertise"},
    {"publish", publish_run, "sign offers and send them to relays"},
    {"check", check_run, "check offer events read as JSON lines"},
    {NULL, NULL, NULL}
};

int cmd_offer(int argc, char **argv)
{
    return cli_dispatch("offer", verbs, argc, argv);
}
