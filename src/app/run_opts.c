/* hearth run: options, runner specs and the key. */
#include "run_opts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "pool_cli.h"
#include "hearth/error.h"
#include "hearth/keys.h"
#include "hearth/kinds.h"

static const char usage_text[] =
"usage: hearth run [--relay URL]... [--key SPEC] [--data DIR]\n"
"                  [--runner SPEC]... [options]\n"
"\n"
"Runs this peer: publishes its offers and serves NIP-90 jobs from any Nostr\n"
"client until SIGINT or SIGTERM, then drains (no new jobs; running ones get\n"
"--drain seconds), withdraws its offers and exits. Without --relay it starts\n"
"the embedded relay on 127.0.0.1 and uses it. Once serving it prints one\n"
"JSON line on stdout: {\"ready\":true,\"pubkey\":HEX,\"relays\":[...]}.\n"
"Logs go to stderr and never contain job inputs, outputs or keys.\n"
"\n"
"  --relay URL        a relay to serve on (repeat; default: embedded)\n"
"  --port N           embedded relay port (default 7447; 0: any free one)\n"
"  --key SPEC         nsec, 64-char hex secret or key file (default\n"
"                     $HEARTH_KEY, then $XDG_CONFIG_HOME/hearth/key, created\n"
"                     with mode 0600 on first run)\n"
"  --data DIR         job table and embedded relay (default\n"
"                     $XDG_DATA_HOME/hearth, i.e. ~/.local/share/hearth)\n"
"  --runner SPEC      what this peer runs (repeat; default pow):\n"
"                       pow[,threads=N][,cuda=auto|on|off]\n"
"                       openai:URL[,model=NAME]...[,slots=N]\n"
"                       exec:PROGRAM[,kind=K]...[,time=S][,mem=MIB]\n"
"                       none (serve nothing: a pure router, with --route)\n"
"                     any spec may add ,price-job=MSAT ,price-mhash=MSAT\n"
"                     ,price-mtok-in=MSAT ,price-mtok-out=MSAT\n"
"                     ,price-gpu-s=MSAT ,slots=N\n"
"  --price-job MSAT, --price-mhash MSAT, --price-mtok-in MSAT,\n"
"  --price-mtok-out MSAT, --price-gpu-s MSAT\n"
"                     prices of every runner without its own\n"
"  --credit MSAT      credit a new customer gets (default 0)\n"
"  --block NPUB       refuse jobs from this customer (npub or hex; repeat)\n"
"  --queue N          jobs waiting per runner before \"busy\" (default 8)\n"
"  --drain S          seconds running jobs get on shutdown (default 30)\n"
"  --route K          router role: take open jobs of kind K this peer cannot\n"
"                     serve (or has no room for), delegate them to a provider\n"
"                     from the market view, answer under its own key (repeat)\n"
"  --route-fee MSAT   added to the delegate's charge (default 0)\n"
"  --no-offers        serve jobs but publish no offers\n"
"  --name TEXT        name in the NIP-89 announcement (default hearth)\n";

static int num(const char *opt, const char *v, unsigned long long max,
               unsigned long long *out)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (*v < '0' || *v > '9' || *end || errno || x > max) {
        cli_error("%s wants a whole number from 0 to %llu, not '%s'", opt,
                  max, v);
        return -1;
    }
    *out = x;
    return 0;
}

/* the --price-* / price-* names, shared by options and runner specs */
static int price_opt(const char *name, const char *v, hearth_price *p)
{
    static const struct {
        const char *name;
        size_t off;
    } prices[] = {
        {"price-job", offsetof(hearth_price, per_job)},
        {"price-mhash", offsetof(hearth_price, per_mhash)},
        {"price-mtok-in", offsetof(hearth_price, per_mtok_in)},
        {"price-mtok-out", offsetof(hearth_price, per_mtok_out)},
        {"price-gpu-s", offsetof(hearth_price, per_gpu_second)},
    };
    for (size_t i = 0; i < sizeof prices / sizeof *prices; i++) {
        unsigned long long x;
        if (strcmp(name, prices[i].name))
            continue;
        if (num(name, v, 1000000000000ull, &x))
            return -1;
        *(uint64_t *)((char *)p + prices[i].off) = x;
        return 1;
    }
    return 0;
}

static void default_data(char *out, size_t n)
{
    const char *xdg = getenv("XDG_DATA_HOME");
    const char *home = getenv("HOME");
    if (xdg && *xdg)
        snprintf(out, n, "%s/hearth", xdg);
    else
        snprintf(out, n, "%s/.local/share/hearth", home ? home : ".");
}

static int value(int argc, char **argv, int *i, const char **v)
{
    if (*i + 1 >= argc) {
        cli_error("%s needs a value (see --help)", argv[*i]);
        return -1;
    }
    *v = argv[++*i];
    return 0;
}

static int one_opt(struct run_opts *o, int argc, char **argv, int *i)
{
    const char *a = argv[*i], *v;
    unsigned long long x;
    if (!strcmp(a, "-h") || !strcmp(a, "--help"))
        return o->help = 1, 0;
    if (!strcmp(a, "--no-offers"))
        return o->offers = 0, 0;
    if (strncmp(a, "--", 2) || value(argc, argv, i, &v))
        return strncmp(a, "--", 2) ? (cli_error("unexpected argument '%s' "
                                                "(see --help)", a), -1)
                                   : -1;
    a += 2;
    int r = price_opt(a, v, &o->price);
    if (r)
        return r < 0 ? -1 : 0;
    if (!strcmp(a, "relay")) {
        if (o->nrelays == HEARTH_POOL_MAX_RELAYS) {
            cli_error("at most %u relays", HEARTH_POOL_MAX_RELAYS);
            return -1;
        }
        o->relays[o->nrelays++] = v;
    } else if (!strcmp(a, "runner")) {
        if (o->nspecs == RUN_MAX_RUNNERS) {
            cli_error("at most %d runners", RUN_MAX_RUNNERS);
            return -1;
        }
        o->specs[o->nspecs++] = v;
    } else if (!strcmp(a, "key")) {
        o->key = v;
    } else if (!strcmp(a, "data")) {
        snprintf(o->data, sizeof o->data, "%s", v);
    } else if (!strcmp(a, "name")) {
        o->name = v;
    } else if (!strcmp(a, "port")) {
        if (num("--port", v, 65535, &x))
            return -1;
        o->port = (int)x;
    } else if (!strcmp(a, "queue")) {
        if (num("--queue", v, 100000, &x))
            return -1;
        o->queue = (uint32_t)x;
        o->queue_set = 1;
    } else if (!strcmp(a, "drain")) {
        if (num("--drain", v, 86400, &x))
            return -1;
        o->drain_s = (uint32_t)x;
    } else if (!strcmp(a, "route")) {
        if (num("--route", v, 5999, &x) || x < 5000 || o->nroute == 16) {
            cli_error("--route wants a job kind 5000-5999 (at most 16)");
            return -1;
        }
        o->route_kinds[o->nroute++] = (uint32_t)x;
    } else if (!strcmp(a, "block")) {
        if (o->nblocked == 64) {
            cli_error("at most 64 --block keys");
            return -1;
        }
        if (pool_cli_pubkey(v, o->blocked[o->nblocked]))
            return -1;
        o->nblocked++;
    } else if (!strcmp(a, "route-fee")) {
        if (num("--route-fee", v, 1000000000000ull, &x))
            return -1;
        o->route_fee = x;
    } else if (!strcmp(a, "credit")) {
        if (num("--credit", v, 1000000000000ull, &x))
            return -1;
        o->credit_msat = x;
    } else {
        cli_error("unknown option '%s' (see --help)", argv[*i - 1]);
        return -1;
    }
    return 0;
}

int run_opts_parse(struct run_opts *o, int argc, char **argv)
{
    memset(o, 0, sizeof *o);
    o->port = 7447;
    o->offers = 1;
    o->drain_s = 30;
    o->name = "hearth";
    for (int i = 1; i < argc; i++)
        if (one_opt(o, argc, argv, &i))
            return CLI_USAGE;
    if (o->help) {
        fputs(usage_text, stdout);
        return CLI_OK;
    }
    if (!o->data[0])
        default_data(o->data, sizeof o->data);
    for (size_t i = 0; i < o->nspecs; i++)
        if (!strcmp(o->specs[i], "none") && !o->nroute) {
            cli_error("--runner none serves nothing: add --route KIND to "
                      "route jobs, or pick a runner");
            return CLI_USAGE;
        }
    return CLI_OK;
}

/* ---- the key ---- */

static void default_key_path(char *out, size_t n)
{
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");
    if (xdg && *xdg)
        snprintf(out, n, "%s/hearth/key", xdg);
    else
        snprintf(out, n, "%s/.config/hearth/key", home ? home : ".");
}

int run_key(struct run_opts *o, uint8_t sk[32])
{
    struct stat st;
    const char *spec = o->key ? o->key : getenv("HEARTH_KEY");
    if (spec) {
        if (stat(spec, &st) == 0)
            snprintf(o->key_path, sizeof o->key_path, "%s", spec);
        return cli_load_key(spec, sk) ? CLI_ERROR : CLI_OK;
    }
    default_key_path(o->key_path, sizeof o->key_path);
    if (stat(o->key_path, &st) == 0)
        return cli_load_key(o->key_path, sk) ? CLI_ERROR : CLI_OK;
    /* first run: a peer needs an identity, and asking would only stop a
     * quick start; the file is 0600 and never overwritten */
    if (hearth_key_generate(sk) || cli_mkdir_parents(o->key_path) ||
        hearth_key_save(o->key_path, sk)) {
        cli_error("cannot create a key in %s: pass --key or create one with "
                  "'hearth key new --out %s'", o->key_path, o->key_path);
        return CLI_ERROR;
    }
    run_log("created a new key in %s (back it up: it is this peer's "
            "identity)", o->key_path);
    return CLI_OK;
}

/* ---- runner specs: NAME[:ARG][,key=value]... ---- */

struct spec {
    char buf[1024];
    char *name, *arg;
    char *keys[32], *vals[32];
    size_t n;
};

static int split_spec(const char *s, struct spec *sp)
{
    if (strlen(s) >= sizeof sp->buf) {
        cli_error("--runner '%.40s...' is too long", s);
        return -1;
    }
    strcpy(sp->buf, s);
    char *save = NULL, *tok = strtok_r(sp->buf, ",", &save);
    sp->name = tok ? tok : sp->buf;
    sp->arg = strchr(sp->name, ':');
    if (sp->arg)
        *sp->arg++ = 0;
    sp->n = 0;
    while ((tok = strtok_r(NULL, ",", &save))) {
        char *eq = strchr(tok, '=');
        if (!eq || sp->n == 32) {
            cli_error("--runner %s: '%s' is not key=value", sp->name, tok);
            return -1;
        }
        *eq = 0;
        sp->keys[sp->n] = tok;
        sp->vals[sp->n++] = eq + 1;
    }
    return 0;
}

static int make_pow(struct spec *sp, hearth_price *price, hearth_runner **r)
{
    hearth_pow_runner_opts po;
    unsigned long long x;
    hearth_pow_runner_opts_default(&po);
    for (size_t i = 0; i < sp->n; i++) {
        int pr = price_opt(sp->keys[i], sp->vals[i], price);
        if (pr < 0)
            return CLI_USAGE;
        if (pr)
            continue;
        if (!strcmp(sp->keys[i], "threads") &&
            !num("threads", sp->vals[i], 1024, &x)) {
            po.threads = (unsigned)x;
        } else if (!strcmp(sp->keys[i], "slots") &&
                   !num("slots", sp->vals[i], 64, &x)) {
            po.slots = (uint32_t)x;
        } else if (!strcmp(sp->keys[i], "cuda")) {
            const char *v = sp->vals[i];
            po.use_cuda = !strcmp(v, "on") ? 1 : !strcmp(v, "off") ? 0 : -1;
            if (po.use_cuda == -1 && strcmp(v, "auto")) {
                cli_error("--runner pow: cuda is auto, on or off");
                return CLI_USAGE;
            }
        } else {
            cli_error("--runner pow: unknown or bad '%s' (threads, slots, "
                      "cuda, price-*)", sp->keys[i]);
            return CLI_USAGE;
        }
    }
    int rc = hearth_runner_pow_new(&po, r);
    if (rc) {
        cli_error("cannot start the pow runner: %s", hearth_strerror(rc));
        return CLI_ERROR;
    }
    return CLI_OK;
}

static int make_openai(struct spec *sp, hearth_price *price,
                       hearth_runner **r)
{
    hearth_openai_runner_opts oo;
    const char *models[HEARTH_OFFER_MAX_MODELS];
    unsigned long long x;
    hearth_openai_runner_opts_default(&oo);
    if (!sp->arg || !*sp->arg) {
        cli_error("--runner openai needs the backend URL, e.g. "
                  "openai:http://127.0.0.1:8080/v1");
        return CLI_USAGE;
    }
    oo.base_url = sp->arg;
    oo.models = models;
    for (size_t i = 0; i < sp->n; i++) {
        int pr = price_opt(sp->keys[i], sp->vals[i], price);
        if (pr < 0)
            return CLI_USAGE;
        if (pr)
            continue;
        if (!strcmp(sp->keys[i], "model") &&
            oo.nmodels < HEARTH_OFFER_MAX_MODELS) {
            models[oo.nmodels++] = sp->vals[i];
            if (!oo.default_model)
                oo.default_model = sp->vals[i];
        } else if (!strcmp(sp->keys[i], "slots") &&
                   !num("slots", sp->vals[i], 64, &x)) {
            oo.slots = (uint32_t)x;
        } else {
            cli_error("--runner openai: unknown or bad '%s' (model, slots, "
                      "price-*)", sp->keys[i]);
            return CLI_USAGE;
        }
    }
    int rc = hearth_runner_openai_new(&oo, r);
    if (rc) {
        cli_error("cannot start the openai runner: %s", hearth_strerror(rc));
        return CLI_ERROR;
    }
    return CLI_OK;
}

static int make_exec(const struct run_opts *o, struct spec *sp,
                     hearth_price *price, hearth_runner **r)
{
    hearth_exec_runner_opts eo;
    uint32_t kinds[HEARTH_RUNNER_MAX_KINDS];
    const char *hidden[3] = {o->data, o->key_path[0] ? o->key_path : NULL,
                             NULL};
    unsigned long long x;
    hearth_exec_runner_opts_default(&eo);
    if (!sp->arg || sp->arg[0] != '/') {
        cli_error("--runner exec needs the program's absolute path, e.g. "
                  "exec:/usr/libexec/hearth/hearth-html2text");
        return CLI_USAGE;
    }
    eo.program = sp->arg;
    eo.kinds = kinds;
    eo.hidden = hidden;
    for (size_t i = 0; i < sp->n; i++) {
        const char *k = sp->keys[i], *v = sp->vals[i];
        int pr = price_opt(k, v, price);
        if (pr < 0)
            return CLI_USAGE;
        if (pr)
            continue;
        if (!strcmp(k, "kind") && !num("kind", v, 5999, &x) && x >= 5000 &&
            eo.nkinds < HEARTH_RUNNER_MAX_KINDS) {
            kinds[eo.nkinds++] = (uint32_t)x;
        } else if (!strcmp(k, "time") && !num("time", v, 86400, &x)) {
            eo.time_limit_ms = (uint32_t)(x * 1000);
        } else if (!strcmp(k, "mem") && !num("mem", v, 1 << 20, &x)) {
            eo.mem_limit = x << 20;
        } else if (!strcmp(k, "slots") && !num("slots", v, 64, &x)) {
            eo.slots = (uint32_t)x;
        } else {
            cli_error("--runner exec: unknown or bad '%s' (kind 5000-5999, "
                      "time, mem, slots, price-*)", k);
            return CLI_USAGE;
        }
    }
    int rc = hearth_runner_exec_new(&eo, r);
    if (rc) {
        cli_error("cannot start the exec runner %s: %s", eo.program,
                  hearth_strerror(rc));
        return CLI_ERROR;
    }
    return CLI_OK;
}

int run_make_runners(const struct run_opts *o, hearth_runner **rs,
                     hearth_price *prices, size_t *n)
{
    static const char *const dflt[] = {"pow"};
    const char *const *specs = o->nspecs ? o->specs : dflt;
    size_t nspecs = o->nspecs ? o->nspecs : 1;
    struct spec *sp = malloc(sizeof *sp);
    int rc = sp ? CLI_OK : CLI_ERROR;
    *n = 0;
    for (size_t i = 0; rc == CLI_OK && i < nspecs; i++) {
        if (split_spec(specs[i], sp)) {
            rc = CLI_USAGE;
            break;
        }
        prices[*n] = o->price;
        if (!strcmp(sp->name, "none"))
            continue; /* a pure router */
        if (!strcmp(sp->name, "pow"))
            rc = make_pow(sp, &prices[*n], &rs[*n]);
        else if (!strcmp(sp->name, "openai"))
            rc = make_openai(sp, &prices[*n], &rs[*n]);
        else if (!strcmp(sp->name, "exec"))
            rc = make_exec(o, sp, &prices[*n], &rs[*n]);
        else {
            cli_error("unknown runner '%s' (pow, openai, exec or none)",
                      sp->name);
            rc = CLI_USAGE;
        }
        if (rc == CLI_OK)
            (*n)++;
    }
    free(sp);
    return rc;
}
