/* Offers: hearth_offer <-> kind-31907 event (docs/protocol.md "Offer"),
 * job prices, and the NIP-89 announcement that lets generic DVM clients
 * find the peer. The parser is the one place that decides what an offer
 * may say; the builder runs it on its own output, so hearth never
 * publishes an offer that hearth would refuse. */
#include "hearth/offer.h"

#include "hearth/buf.h"
#include "hearth/error.h"
#include "hearth/hw.h"
#include "hearth/kinds.h"
#include "hearth/nip13.h"
#include "hearth/utf8.h"

#include <stdio.h>
#include <string.h>

#define FAIL(msg)                                                          \
    do {                                                                   \
        *why = (msg);                                                      \
        return HEARTH_EINVAL;                                              \
    } while (0)

/* ---- names ---- */

static const char *const backend_names[] = {NULL, "pow", "openai", "exec"};
#define NBACKENDS (sizeof backend_names / sizeof backend_names[0])

const char *hearth_backend_name(hearth_backend b)
{
    if ((unsigned)b >= 1 && (unsigned)b < NBACKENDS)
        return backend_names[b];
    return "unknown";
}

static int backend_of(const char *p, size_t n, hearth_backend *out)
{
    for (unsigned i = 1; i < NBACKENDS; i++)
        if (strlen(backend_names[i]) == n && !memcmp(backend_names[i], p, n)) {
            *out = (hearth_backend)i;
            return HEARTH_OK;
        }
    return HEARTH_EINVAL;
}

int hearth_backend_parse(const char *name, hearth_backend *out)
{
    return backend_of(name, strlen(name), out);
}

/* The tier is hw.h's rule (hearth_gpu_tier) so that an offer built from
 * hearth_hw_summarize always passes this parser; no GPU is tier 0. */
static uint8_t gpu_tier(uint32_t gpus, uint32_t vram_mb, unsigned major,
                        unsigned minor)
{
    return gpus ? hearth_gpu_tier(vram_mb, major, minor) : 0;
}

/* A model or GPU name: a short single line a UI can show as it is. */
static int name_ok(const char *p, size_t n)
{
    if (n == 0 || n >= HEARTH_OFFER_NAME_MAX || !hearth_utf8_valid(p, n))
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
            return 0;
    return 1;
}

/* ws:// or wss:// with a host, printable ASCII, no fragment. Full
 * normalisation is the pool's job (net layer); this keeps garbage out. */
static int relay_url_ok(const char *p, size_t n)
{
    size_t skip;
    if (n >= 6 && !memcmp(p, "wss://", 6))
        skip = 6;
    else if (n >= 5 && !memcmp(p, "ws://", 5))
        skip = 5;
    else
        return 0;
    if (n >= HEARTH_OFFER_URL_MAX || n == skip || p[skip] == '/' ||
        p[skip] == ':')
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] <= 0x20 || (unsigned char)p[i] >= 0x7f ||
            p[i] == '#')
            return 0;
    return 1;
}

/* ---- decimal numbers ---- */

enum { DEC_OK = 0, DEC_BAD = -1, DEC_BIG = -2 };

/* Canonical decimal (digits only, no sign, no leading zero) up to max.
 * One spelling per value keeps offers comparable byte for byte. */
static int dec(hearth_str s, uint64_t max, uint64_t *out)
{
    uint64_t x = 0;
    int big = 0;
    if (s.n == 0 || s.n > 64 || (s.n > 1 && s.p[0] == '0'))
        return DEC_BAD;
    for (size_t i = 0; i < s.n; i++) {
        unsigned d = (unsigned)((unsigned char)s.p[i] - '0');
        if (d > 9)
            return DEC_BAD;
        if (x > (max - d) / 10)
            big = 1;
        else
            x = x * 10 + d;
    }
    if (big)
        return DEC_BIG;
    *out = x;
    return DEC_OK;
}

/* "major.minor", e.g. "8.9" or "12.0" */
static int parse_cc(hearth_str s, uint16_t *major, uint16_t *minor)
{
    const char *dot = memchr(s.p, '.', s.n);
    uint64_t a, b;
    if (!dot)
        return DEC_BAD;
    hearth_str ma = {s.p, (size_t)(dot - s.p)};
    hearth_str mi = {dot + 1, s.n - ma.n - 1};
    if (dec(ma, 99, &a) || dec(mi, 9, &b) || a == 0)
        return DEC_BAD;
    *major = (uint16_t)a;
    *minor = (uint16_t)b;
    return DEC_OK;
}

/* ---- parsing ---- */

/* Tags that may appear at most once; the reasons are spelled out because
 * they go on the wire and must be static. */
enum {
    T_D, T_K, T_V, T_BACKEND, T_EXPIRATION, T_GPU, T_VRAM, T_CC, T_TIER,
    T_CPU, T_CAPACITY, T_CREDIT, T_NONCE, NSINGLE
};

static const struct {
    const char *name, *dup, *empty;
} singles[NSINGLE] = {
    {"d", "invalid: duplicate d tag", "invalid: d tag has no value"},
    {"k", "invalid: duplicate k tag", "invalid: k tag has no value"},
    {"v", "invalid: duplicate v tag", "invalid: v tag has no value"},
    {"backend", "invalid: duplicate backend tag",
     "invalid: backend tag has no value"},
    {"expiration", "invalid: duplicate expiration tag",
     "invalid: malformed expiration tag"},
    {"gpu", "invalid: duplicate gpu tag",
     "invalid: gpu tag needs a name and a count"},
    {"vram", "invalid: duplicate vram tag", "invalid: vram tag has no value"},
    {"cc", "invalid: duplicate cc tag", "invalid: cc tag has no value"},
    {"tier", "invalid: duplicate tier tag", "invalid: tier tag has no value"},
    {"cpu", "invalid: duplicate cpu tag", "invalid: cpu tag has no value"},
    {"capacity", "invalid: duplicate capacity tag",
     "invalid: capacity tag needs free and total"},
    {"credit", "invalid: duplicate credit tag",
     "invalid: credit tag has no value"},
    {"nonce", "invalid: duplicate nonce tag",
     "invalid: malformed nonce tag (NIP-13)"},
};

static const struct {
    const char *unit;
    size_t off;
} price_units[] = {
    {"job", offsetof(hearth_price, per_job)},
    {"mtok_in", offsetof(hearth_price, per_mtok_in)},
    {"mtok_out", offsetof(hearth_price, per_mtok_out)},
    {"gpu_s", offsetof(hearth_price, per_gpu_second)},
    {"mhash", offsetof(hearth_price, per_mhash)},
};
#define NUNITS (sizeof price_units / sizeof price_units[0])

static int str_is(hearth_str s, const char *lit)
{
    size_t n = strlen(lit);
    return s.n == n && !memcmp(s.p, lit, n);
}

/* state of one parse while walking the tags */
struct parse {
    hearth_offer *o;
    const hearth_tag *one[NSINGLE];
    unsigned units;      /* price units seen (bit per price_units entry) */
    unsigned benches;    /* bench names seen */
};

static int price_tag(struct parse *ps, const hearth_tag *t, const char **why)
{
    uint64_t v;
    size_t u;
    if (t->n < 3)
        FAIL("invalid: price tag needs a unit and an amount");
    for (u = 0; u < NUNITS; u++)
        if (str_is(t->v[1], price_units[u].unit))
            break;
    if (u == NUNITS)
        FAIL("invalid: unknown price unit");
    if (ps->units & (1u << u))
        FAIL("invalid: duplicate price unit");
    int rc = dec(t->v[2], UINT64_MAX, &v);
    if (rc == DEC_BIG)
        FAIL("invalid: price overflows 64 bits");
    if (rc)
        FAIL("invalid: price is not a decimal number of msat");
    ps->units |= 1u << u;
    memcpy((char *)&ps->o->price + price_units[u].off, &v, sizeof v);
    return HEARTH_OK;
}

static int bench_tag(struct parse *ps, const hearth_tag *t, const char **why)
{
    uint64_t v;
    unsigned bit;
    if (t->n < 3)
        FAIL("invalid: bench tag needs a name and a value");
    if (str_is(t->v[1], "mhash_s"))
        bit = 1;
    else if (str_is(t->v[1], "tokens_s"))
        bit = 2;
    else
        return HEARTH_OK; /* a figure a later version measures */
    if (ps->benches & bit)
        FAIL("invalid: duplicate bench tag");
    if (dec(t->v[2], bit == 1 ? UINT64_MAX : UINT32_MAX, &v))
        FAIL("invalid: bench value is not a decimal number in range");
    ps->benches |= bit;
    if (bit == 1)
        ps->o->bench_mhash_s = v;
    else
        ps->o->bench_tokens_s = (uint32_t)v;
    return HEARTH_OK;
}

static int model_tag(struct parse *ps, const hearth_tag *t, const char **why)
{
    hearth_offer *o = ps->o;
    if (t->n < 2 || !name_ok(t->v[1].p, t->v[1].n))
        FAIL("invalid: bad model name");
    if (o->nmodels >= HEARTH_OFFER_MAX_MODELS)
        FAIL("invalid: too many model tags");
    for (size_t i = 0; i < o->nmodels; i++)
        if (str_is(t->v[1], o->models[i]))
            FAIL("invalid: duplicate model");
    memcpy(o->models[o->nmodels], t->v[1].p, t->v[1].n);
    o->models[o->nmodels++][t->v[1].n] = '\0';
    return HEARTH_OK;
}

static int relay_tag(struct parse *ps, const hearth_tag *t, const char **why)
{
    hearth_offer *o = ps->o;
    if (t->n < 2 || !relay_url_ok(t->v[1].p, t->v[1].n))
        FAIL("invalid: relay URL must be ws:// or wss://");
    if (o->nrelays >= HEARTH_OFFER_MAX_RELAYS)
        FAIL("invalid: too many relay tags");
    for (size_t i = 0; i < o->nrelays; i++)
        if (str_is(t->v[1], o->relays[i]))
            FAIL("invalid: duplicate relay");
    memcpy(o->relays[o->nrelays], t->v[1].p, t->v[1].n);
    o->relays[o->nrelays++][t->v[1].n] = '\0';
    return HEARTH_OK;
}

/* One pass over the tags: singular ones are remembered for later checks,
 * repeated ones are parsed on the spot. Unknown tags are ignored, so a
 * later minor revision can add tags old peers skip. */
static int walk_tags(struct parse *ps, const hearth_event *ev,
                     const char **why)
{
    int rc = HEARTH_OK;
    for (size_t i = 0; i < ev->ntags && !rc; i++) {
        const hearth_tag *t = &ev->tags[i];
        if (t->n < 1)
            continue;
        hearth_str name = t->v[0];
        size_t k;
        for (k = 0; k < NSINGLE; k++)
            if (str_is(name, singles[k].name))
                break;
        if (k < NSINGLE) {
            if (ps->one[k])
                FAIL(singles[k].dup);
            if (t->n < 2 || (t->n < 3 && (k == T_GPU || k == T_CAPACITY)))
                FAIL(singles[k].empty);
            ps->one[k] = t;
        } else if (str_is(name, "price")) {
            rc = price_tag(ps, t, why);
        } else if (str_is(name, "bench")) {
            rc = bench_tag(ps, t, why);
        } else if (str_is(name, "model")) {
            rc = model_tag(ps, t, why);
        } else if (str_is(name, "relay")) {
            rc = relay_tag(ps, t, why);
        } else if (str_is(name, "rail") && t->n >= 2) {
            if (str_is(t->v[1], "credit"))
                ps->o->rails |= HEARTH_RAIL_CREDIT;
            else if (str_is(t->v[1], "lightning"))
                ps->o->rails |= HEARTH_RAIL_LIGHTNING;
        }
    }
    return rc;
}

/* v, k, backend and d: what the offer is for */
static int check_identity(struct parse *ps, const char **why)
{
    hearth_offer *o = ps->o;
    uint64_t x;
    char d[32];
    if (!ps->one[T_V])
        FAIL("invalid: missing v tag (protocol version)");
    if (dec(ps->one[T_V]->v[1], UINT32_MAX, &x) || x != HEARTH_PROTOCOL_VERSION)
        FAIL("invalid: unsupported offer version");
    o->version = (uint32_t)x;
    if (!ps->one[T_K])
        FAIL("invalid: missing k tag (job kind)");
    int r = dec(ps->one[T_K]->v[1], UINT32_MAX, &x);
    if (r == DEC_BAD)
        FAIL("invalid: k tag is not a job kind");
    if (r == DEC_BIG || x < HEARTH_KIND_JOB_MIN || x > HEARTH_KIND_JOB_MAX)
        FAIL("invalid: job kind outside 5000-5999");
    o->job_kind = (uint32_t)x;
    if (!ps->one[T_BACKEND])
        FAIL("invalid: missing backend tag");
    hearth_str b = ps->one[T_BACKEND]->v[1];
    if (backend_of(b.p, b.n, &o->backend))
        FAIL("invalid: unknown backend");
    if (!ps->one[T_D])
        FAIL("invalid: missing d tag");
    snprintf(d, sizeof d, "%u:%s", o->job_kind,
             hearth_backend_name(o->backend));
    if (!str_is(ps->one[T_D]->v[1], d))
        FAIL("invalid: d tag does not match k and backend");
    return HEARTH_OK;
}

static int check_times(struct parse *ps, const hearth_event *ev, int64_t now,
                       const char **why)
{
    uint64_t x;
    if (!ps->one[T_EXPIRATION])
        FAIL("invalid: missing expiration tag (NIP-40)");
    if (dec(ps->one[T_EXPIRATION]->v[1], HEARTH_MAX_TIMESTAMP, &x))
        FAIL("invalid: malformed expiration tag");
    ps->o->expires_at = (int64_t)x;
    ps->o->created_at = ev->created_at;
    if (ev->created_at > now + HEARTH_OFFER_MAX_SKEW_S)
        FAIL("invalid: created_at is too far in the future");
    if ((int64_t)x <= now)
        FAIL("invalid: offer has expired");
    if ((int64_t)x > now + HEARTH_OFFER_MAX_TTL_S ||
        (int64_t)x > ev->created_at + HEARTH_OFFER_MAX_TTL_S)
        FAIL("invalid: expiration is more than a day ahead");
    return HEARTH_OK;
}

static int check_hw(struct parse *ps, const char **why)
{
    hearth_hw_summary *hw = &ps->o->hw;
    uint64_t x;
    if (ps->one[T_GPU]) {
        const hearth_tag *t = ps->one[T_GPU];
        if (!name_ok(t->v[1].p, t->v[1].n))
            FAIL("invalid: bad gpu name");
        if (dec(t->v[2], 1024, &x) || x == 0)
            FAIL("invalid: bad gpu count");
        memcpy(hw->gpu, t->v[1].p, t->v[1].n);
        hw->gpu[t->v[1].n] = '\0';
        hw->gpu_count = (uint32_t)x;
        if (!ps->one[T_VRAM] || !ps->one[T_CC])
            FAIL("invalid: gpu tag without vram and cc tags");
        if (dec(ps->one[T_VRAM]->v[1], UINT32_MAX, &x) || x == 0)
            FAIL("invalid: bad vram (MiB)");
        hw->vram_mb = (uint32_t)x;
        if (parse_cc(ps->one[T_CC]->v[1], &hw->cc_major, &hw->cc_minor))
            FAIL("invalid: bad cc (want major.minor)");
    } else if (ps->one[T_VRAM] || ps->one[T_CC]) {
        FAIL("invalid: vram or cc tag without a gpu tag");
    }
    hw->tier = gpu_tier(hw->gpu_count, hw->vram_mb, hw->cc_major,
                        hw->cc_minor);
    if (ps->one[T_TIER] && (dec(ps->one[T_TIER]->v[1], 4, &x) || x != hw->tier))
        FAIL("invalid: tier does not match vram and cc");
    if (ps->one[T_CPU]) {
        if (dec(ps->one[T_CPU]->v[1], UINT16_MAX, &x) || x == 0)
            FAIL("invalid: bad cpu core count");
        hw->cpu_cores = (uint16_t)x;
    }
    return HEARTH_OK;
}

static int check_terms(struct parse *ps, const hearth_event *ev,
                       const char **why)
{
    hearth_offer *o = ps->o;
    uint64_t fr, tot, x;
    if (!ps->units)
        FAIL("invalid: offer has no price");
    if (!ps->one[T_CAPACITY])
        FAIL("invalid: missing capacity tag");
    const hearth_tag *c = ps->one[T_CAPACITY];
    if (dec(c->v[1], UINT32_MAX, &fr) || dec(c->v[2], UINT32_MAX, &tot))
        FAIL("invalid: capacity is not decimal job slots");
    if (tot == 0)
        FAIL("invalid: capacity total is 0");
    if (fr > tot)
        FAIL("invalid: capacity free exceeds total");
    o->capacity_free = (uint32_t)fr;
    o->capacity_total = (uint32_t)tot;
    if (!o->rails)
        FAIL("invalid: offer accepts no known payment rail");
    if (ps->one[T_CREDIT]) {
        if (!(o->rails & HEARTH_RAIL_CREDIT))
            FAIL("invalid: credit tag without the credit rail");
        if (dec(ps->one[T_CREDIT]->v[1], UINT64_MAX, &x))
            FAIL("invalid: credit limit is not a decimal number of msat");
        o->credit_limit_msat = x;
    }
    int target;
    int rc = hearth_nip13_committed_target(ev, &target);
    if (rc < 0)
        FAIL("invalid: malformed nonce tag (NIP-13)");
    o->pow_bits = rc == 1 ? target : 0;
    return HEARTH_OK;
}

int hearth_offer_from_event(const hearth_event *ev, int64_t now,
                            hearth_offer *out, const char **why)
{
    const char *dummy;
    struct parse ps;
    if (!why)
        why = &dummy;
    *why = "";
    memset(out, 0, sizeof *out);
    memset(&ps, 0, sizeof ps);
    ps.o = out;
    if (ev->kind != HEARTH_KIND_OFFER)
        FAIL("invalid: not an offer (kind 31907)");
    memcpy(out->pubkey, ev->pubkey, 32);
    memcpy(out->event_id, ev->id, 32);
    int rc = walk_tags(&ps, ev, why);
    if (!rc)
        rc = check_identity(&ps, why);
    if (!rc)
        rc = check_times(&ps, ev, now, why);
    if (!rc)
        rc = check_hw(&ps, why);
    if (!rc)
        rc = check_terms(&ps, ev, why);
    return rc;
}

/* ---- building ---- */

static int tag_u64(hearth_event *ev, const char *name, const char *sub,
                   uint64_t v)
{
    char num[24];
    snprintf(num, sizeof num, "%llu", (unsigned long long)v);
    return sub ? hearth_event_add_tagv(ev, name, sub, num, NULL)
               : hearth_event_add_tagv(ev, name, num, NULL);
}

static int add_identity(hearth_event *ev, const hearth_offer *o, int64_t exp)
{
    char d[32], v[12], k[12];
    const char *b = hearth_backend_name(o->backend);
    snprintf(d, sizeof d, "%u:%s", o->job_kind, b);
    snprintf(k, sizeof k, "%u", o->job_kind);
    snprintf(v, sizeof v, "%u", HEARTH_PROTOCOL_VERSION);
    int rc = hearth_event_add_tagv(ev, "d", d, NULL);
    if (!rc)
        rc = hearth_event_add_tagv(ev, "k", k, NULL);
    if (!rc)
        rc = hearth_event_add_tagv(ev, "v", v, NULL);
    if (!rc)
        rc = hearth_event_add_tagv(ev, "backend", b, NULL);
    if (!rc)
        rc = tag_u64(ev, "expiration", NULL, (uint64_t)exp);
    return rc;
}

/* Components that are 0 are left out; an offer that is free altogether
 * still says so with one zero job price (an offer needs a price). */
static int add_prices(hearth_event *ev, const hearth_price *p)
{
    int rc = HEARTH_OK, any = 0;
    for (size_t u = 0; u < NUNITS && !rc; u++) {
        uint64_t v;
        memcpy(&v, (const char *)p + price_units[u].off, sizeof v);
        if (v) {
            rc = tag_u64(ev, "price", price_units[u].unit, v);
            any = 1;
        }
    }
    if (!rc && !any)
        rc = tag_u64(ev, "price", "job", 0);
    return rc;
}

static int add_hw(hearth_event *ev, const hearth_hw_summary *hw)
{
    char num[24], cc[16];
    int rc = HEARTH_OK;
    if (hw->gpu_count) {
        snprintf(num, sizeof num, "%u", hw->gpu_count);
        snprintf(cc, sizeof cc, "%u.%u", hw->cc_major, hw->cc_minor);
        rc = hearth_event_add_tagv(ev, "gpu", hw->gpu, num, NULL);
        if (!rc)
            rc = tag_u64(ev, "vram", NULL, hw->vram_mb);
        if (!rc)
            rc = hearth_event_add_tagv(ev, "cc", cc, NULL);
    }
    if (!rc)
        rc = tag_u64(ev, "tier", NULL,
                     gpu_tier(hw->gpu_count, hw->vram_mb, hw->cc_major,
                              hw->cc_minor));
    if (!rc && hw->cpu_cores)
        rc = tag_u64(ev, "cpu", NULL, hw->cpu_cores);
    return rc;
}

static int add_terms(hearth_event *ev, const hearth_offer *o)
{
    char fr[12], tot[12];
    int rc = HEARTH_OK;
    /* build() checked the counts against the bounds */
    for (size_t i = 0; i < o->nmodels && !rc; i++)
        rc = hearth_event_add_tagv(ev, "model", o->models[i], NULL);
    if (!rc && o->bench_mhash_s)
        rc = tag_u64(ev, "bench", "mhash_s", o->bench_mhash_s);
    if (!rc && o->bench_tokens_s)
        rc = tag_u64(ev, "bench", "tokens_s", o->bench_tokens_s);
    snprintf(fr, sizeof fr, "%u", o->capacity_free);
    snprintf(tot, sizeof tot, "%u", o->capacity_total);
    if (!rc)
        rc = hearth_event_add_tagv(ev, "capacity", fr, tot, NULL);
    for (size_t i = 0; i < o->nrelays && !rc; i++)
        rc = hearth_event_add_tagv(ev, "relay", o->relays[i], NULL);
    if (!rc && (o->rails & HEARTH_RAIL_CREDIT))
        rc = hearth_event_add_tagv(ev, "rail", "credit", NULL);
    if (!rc && (o->rails & HEARTH_RAIL_LIGHTNING))
        rc = hearth_event_add_tagv(ev, "rail", "lightning", NULL);
    if (!rc && (o->rails & HEARTH_RAIL_CREDIT))
        rc = tag_u64(ev, "credit", NULL, o->credit_limit_msat);
    return rc;
}

static int describe(hearth_event *ev, const hearth_offer *o)
{
    hearth_buf b = HEARTH_BUF_INIT;
    hearth_buf_addf(&b, "hearth offer: %s jobs of kind %u on ",
                    hearth_backend_name(o->backend), o->job_kind);
    if (o->hw.gpu_count)
        hearth_buf_addf(&b, "%ux %.*s (%u MiB)", o->hw.gpu_count,
                        (int)strnlen(o->hw.gpu, HEARTH_OFFER_NAME_MAX),
                        o->hw.gpu, o->hw.vram_mb);
    else
        hearth_buf_adds(&b, "CPU");
    int rc = hearth_buf_error(&b);
    if (!rc)
        rc = hearth_event_set_content(ev, b.p, b.len);
    hearth_buf_free(&b);
    return rc;
}

/* names are fixed arrays: make sure each is terminated before use */
static int strings_terminated(const hearth_offer *o)
{
    if (!memchr(o->hw.gpu, 0, sizeof o->hw.gpu) ||
        o->nmodels > HEARTH_OFFER_MAX_MODELS ||
        o->nrelays > HEARTH_OFFER_MAX_RELAYS)
        return 0;
    for (size_t i = 0; i < o->nmodels; i++)
        if (!memchr(o->models[i], 0, sizeof o->models[i]))
            return 0;
    for (size_t i = 0; i < o->nrelays; i++)
        if (!memchr(o->relays[i], 0, sizeof o->relays[i]))
            return 0;
    return 1;
}

static int build(const hearth_offer *o, int64_t now, hearth_event **out,
                 const char **why)
{
    hearth_event *ev = NULL;
    hearth_offer back;
    *out = NULL;
    if (!strings_terminated(o))
        FAIL("invalid: offer field not NUL-terminated or over its bound");
    int64_t exp = o->expires_at > now ? o->expires_at
                                      : now + HEARTH_OFFER_TTL_S;
    int rc = hearth_event_new(HEARTH_KIND_OFFER, now, "", 0, &ev);
    if (!rc)
        rc = add_identity(ev, o, exp);
    if (!rc)
        rc = add_prices(ev, &o->price);
    if (!rc)
        rc = add_hw(ev, &o->hw);
    if (!rc)
        rc = add_terms(ev, o);
    if (!rc)
        rc = describe(ev, o);
    if (rc == HEARTH_EINVAL)
        *why = "invalid: offer field is not valid UTF-8";
    else if (rc)
        *why = "error: out of memory";
    else
        rc = hearth_offer_from_event(ev, now, &back, why);
    if (rc) {
        hearth_event_free(ev);
        return rc;
    }
    *out = ev;
    return HEARTH_OK;
}

int hearth_offer_to_event(const hearth_offer *o, int64_t now,
                          hearth_event **out)
{
    const char *why;
    return build(o, now, out, &why);
}

int hearth_offer_check(const hearth_offer *o, int64_t now, const char **why)
{
    hearth_event *ev;
    const char *dummy;
    int rc = build(o, now, &ev, why ? why : &dummy);
    hearth_event_free(ev);
    return rc;
}

/* ---- prices ---- */

static uint64_t sat_add(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t sat_mul(uint64_t a, uint64_t b)
{
    return b && a > UINT64_MAX / b ? UINT64_MAX : a * b;
}

/* ceil(a * b / d), saturating, without 128-bit integers: with a = q*d + r
 * and b = s*d + t, a*b/d = q*b + r*s + r*t/d, and r*t < d*d fits. */
static uint64_t mul_div_ceil(uint64_t a, uint64_t b, uint64_t d)
{
    uint64_t q = a / d, r = a % d, s = b / d, t = b % d;
    uint64_t x = sat_add(sat_mul(q, b), r * s);
    return sat_add(x, (r * t + d - 1) / d);
}

uint64_t hearth_offer_price(const hearth_price *p, const hearth_usage *u)
{
    uint64_t x = sat_mul(p->per_job, u->jobs);
    x = sat_add(x, mul_div_ceil(p->per_mtok_in, u->tokens_in, 1000000));
    x = sat_add(x, mul_div_ceil(p->per_mtok_out, u->tokens_out, 1000000));
    x = sat_add(x, mul_div_ceil(p->per_gpu_second, u->gpu_ms, 1000));
    return sat_add(x, mul_div_ceil(p->per_mhash, u->hashes, 1000000));
}

/* ---- NIP-89 ---- */

int hearth_offer_announcement(const hearth_offer *offers, size_t n,
                              const char *name, int64_t now,
                              hearth_event **out)
{
    uint32_t kinds[64];
    size_t nk = 0;
    hearth_event *ev = NULL;
    hearth_buf c = HEARTH_BUF_INIT;
    *out = NULL;
    if (n == 0)
        return HEARTH_EINVAL;
    for (size_t i = 0; i < n; i++) {
        uint32_t k = offers[i].job_kind;
        size_t j = 0;
        if (k < HEARTH_KIND_JOB_MIN || k > HEARTH_KIND_JOB_MAX)
            return HEARTH_EINVAL;
        while (j < nk && kinds[j] != k)
            j++;
        if (j == nk && nk == sizeof kinds / sizeof kinds[0])
            return HEARTH_ETOOBIG;
        if (j == nk)
            kinds[nk++] = k;
    }
    if (!name || !*name)
        name = "hearth";
    /* content: NIP-01 kind-0 style metadata, as NIP-89 suggests */
    hearth_buf_adds(&c, "{\"name\":");
    hearth_buf_addjson(&c, name, strlen(name));
    hearth_buf_adds(&c, ",\"about\":\"hearth compute peer; offers are "
                        "kind 31907 events. Job kinds:");
    for (size_t j = 0; j < nk; j++)
        hearth_buf_addf(&c, " %u", kinds[j]);
    hearth_buf_adds(&c, "\"}");
    int rc = hearth_buf_error(&c);
    if (!rc)
        rc = hearth_event_new(HEARTH_KIND_HANDLER_INFO, now, c.p, c.len, &ev);
    if (!rc)
        rc = hearth_event_add_tagv(ev, "d", "hearth", NULL);
    for (size_t j = 0; j < nk && !rc; j++)
        rc = tag_u64(ev, "k", NULL, kinds[j]);
    hearth_buf_free(&c);
    if (rc) {
        hearth_event_free(ev);
        return rc;
    }
    *out = ev;
    return HEARTH_OK;
}
