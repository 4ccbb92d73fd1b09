/* Market view: ingest and its verdicts, newer versions replacing older
 * ones, expiry and purge, NIP-09 deletion, rejected events, PoW, the rate
 * limit, snapshots for the selector, observations and backoff, worker
 * threads, a full map, format checks and persistence. */
#include "hearth/error.h"
#include "hearth/event.h"
#include "hearth/hex.h"
#include "hearth/keys.h"
#include "hearth/kinds.h"
#include "hearth/nip13.h"
#include "hearth/offer.h"
#include "hearth/select.h"
#include "hearth/view.h"
#include "tap.h"
#include "tmpdir.h"

#include <dirent.h>
#include <lmdb.h>
#include <stdint.h>
#include <unistd.h>

#define NOW 1700000000LL
#define NKEYS 8

static uint8_t sks[NKEYS][32], pks[NKEYS][32];

/* ---- fixtures ---- */

static char *tmp_dir(void)
{
    return tap_tmpdir("view");
}

static void rm_dir(char *dir)
{
    CHECKF(tap_rmtree(dir) == 0, "rmdir %s", dir);
    free(dir);
}

static hearth_view *open_view(const char *dir, const hearth_view_opts *o)
{
    hearth_view *v = NULL;
    int rc = hearth_view_open(dir, o, &v);
    CHECKF(rc == HEARTH_OK && v, "open %s: %s", dir, hearth_strerror(rc));
    if (!v)
        exit(1);
    return v;
}

static void offer_fixture(hearth_offer *o, uint32_t kind, hearth_backend b,
                          uint64_t price)
{
    memset(o, 0, sizeof *o);
    o->job_kind = kind;
    o->backend = b;
    o->price.per_job = price;
    o->price.per_mtok_out = 2 * price;
    snprintf(o->hw.gpu, sizeof o->hw.gpu, "NVIDIA GeForce RTX 3060");
    o->hw.gpu_count = 1;
    o->hw.vram_mb = 12288;
    o->hw.cc_major = 8;
    o->hw.cc_minor = 6;
    o->hw.cpu_cores = 12;
    o->nmodels = 2;
    snprintf(o->models[0], sizeof o->models[0], "llama3.1:8b");
    snprintf(o->models[1], sizeof o->models[1], "mistral:7b");
    o->bench_tokens_s = 40;
    o->capacity_free = 1;
    o->capacity_total = 2;
    o->nrelays = 1;
    snprintf(o->relays[0], sizeof o->relays[0], "wss://inbox.example.com");
    o->rails = HEARTH_RAIL_CREDIT;
    o->credit_limit_msat = 1000;
}

/* signed offer of key k created at t (expires t + ttl) */
static hearth_event *offer_ev(int k, uint32_t kind, hearth_backend b,
                              uint64_t price, int64_t t, int64_t ttl)
{
    hearth_offer o;
    hearth_event *ev = NULL;
    offer_fixture(&o, kind, b, price);
    o.expires_at = t + ttl;
    CHECK(hearth_offer_to_event(&o, t, &ev) == HEARTH_OK);
    if (!ev)
        exit(1);
    CHECK(hearth_event_sign(ev, sks[k]) == HEARTH_OK);
    return ev;
}

/* kind 5 by key k at t naming the offer (kind, backend) of key owner */
static hearth_event *deletion_ev(int k, int owner, uint32_t kind,
                                 const char *backend, int64_t t)
{
    hearth_event *ev = NULL;
    char a[128], hex[65];
    hearth_hex_encode(pks[owner], 32, hex);
    snprintf(a, sizeof a, "31907:%s:%u:%s", hex, kind, backend);
    CHECK(hearth_event_new(HEARTH_KIND_DELETION, t, "", 0, &ev) == 0);
    CHECK(hearth_event_add_tagv(ev, "a", a, NULL) == 0);
    CHECK(hearth_event_add_tagv(ev, "k", "31907", NULL) == 0);
    CHECK(hearth_event_sign(ev, sks[k]) == 0);
    return ev;
}

static hearth_view_result ingest1(hearth_view *v, hearth_event *ev,
                                  int64_t now)
{
    hearth_view_result r;
    memset(&r, 0xff, sizeof r);
    CHECK(hearth_view_ingest(v, &ev, 1, now, &r) == HEARTH_OK);
    return r;
}

static uint64_t offers_in(hearth_view *v)
{
    hearth_view_info info;
    CHECK(hearth_view_get_info(v, &info) == HEARTH_OK);
    return info.offers;
}

static uint64_t price_of(hearth_view *v, int k, uint32_t kind,
                         hearth_backend b)
{
    hearth_offer o;
    if (hearth_view_get_offer(v, kind, pks[k], b, &o) != HEARTH_OK)
        return 0;
    return o.price.per_job;
}

/* ---- tests ---- */

static void test_ingest_and_replace(void)
{
    char *dir = tmp_dir();
    hearth_view *v = open_view(dir, NULL);
    hearth_event *evs[4];
    hearth_view_result res[4];

    evs[0] = offer_ev(0, 5100, HEARTH_BACKEND_OPENAI, 10, NOW, 1200);
    evs[1] = offer_ev(0, 5970, HEARTH_BACKEND_POW, 20, NOW, 1200);
    evs[2] = offer_ev(1, 5100, HEARTH_BACKEND_OPENAI, 30, NOW, 1200);
    evs[3] = evs[0]; /* the same event twice in one batch */
    CHECK(hearth_view_ingest(v, evs, 4, NOW, res) == HEARTH_OK);
    for (int i = 0; i < 3; i++)
        CHECKF(res[i].status == HEARTH_VIEW_STORED && !res[i].replaced &&
               !strcmp(res[i].why, ""), "%d: %d %s", i, res[i].status,
               res[i].why);
    CHECK(res[3].status == HEARTH_VIEW_DUPLICATE);
    CHECK(!strcmp(res[3].why, "duplicate: already have this offer"));
    CHECK(offers_in(v) == 3);

    /* a stored offer seen again (relays replay): duplicate, nothing
     * written; also when its signature was mangled on the way, since the
     * stored copy is the verified one */
    hearth_view_result r = ingest1(v, evs[1], NOW + 5);
    CHECK(r.status == HEARTH_VIEW_DUPLICATE);
    evs[1]->sig[0] ^= 1;
    r = ingest1(v, evs[1], NOW + 5);
    CHECK(r.status == HEARTH_VIEW_DUPLICATE);
    evs[1]->sig[0] ^= 1;

    /* the full offer comes back as it went in */
    hearth_offer o, want;
    offer_fixture(&want, 5100, HEARTH_BACKEND_OPENAI, 10);
    CHECK(hearth_view_get_offer(v, 5100, pks[0], HEARTH_BACKEND_OPENAI, &o) ==
          HEARTH_OK);
    CHECK(!memcmp(o.pubkey, pks[0], 32) && !memcmp(o.event_id, evs[0]->id, 32));
    CHECK(o.job_kind == 5100 && o.backend == HEARTH_BACKEND_OPENAI);
    CHECK(o.created_at == NOW && o.expires_at == NOW + 1200);
    CHECK(!memcmp(&o.price, &want.price, sizeof o.price));
    CHECK(!strcmp(o.hw.gpu, want.hw.gpu) && o.hw.vram_mb == 12288);
    CHECK(o.hw.cc_major == 8 && o.hw.cc_minor == 6 && o.hw.tier == 2);
    CHECK(o.hw.gpu_count == 1 && o.hw.cpu_cores == 12);
    CHECK(o.nmodels == 2 && !strcmp(o.models[1], "mistral:7b"));
    CHECK(o.nrelays == 1 && !strcmp(o.relays[0], "wss://inbox.example.com"));
    CHECK(o.bench_tokens_s == 40 && o.capacity_free == 1 &&
          o.capacity_total == 2);
    CHECK(o.rails == HEARTH_RAIL_CREDIT && o.credit_limit_msat == 1000);
    CHECK(o.version == 1 && o.pow_bits == 0);
    CHECK(hearth_view_get_offer(v, 5100, pks[2], HEARTH_BACKEND_OPENAI, &o) ==
          HEARTH_ENOTFOUND);
    CHECK(hearth_view_get_offer(v, 5100, pks[0], HEARTH_BACKEND_EXEC, &o) ==
          HEARTH_ENOTFOUND);

    /* newer replaces older; the older one, arriving late, is dropped */
    hearth_event *newer = offer_ev(0, 5100, HEARTH_BACKEND_OPENAI, 11,
                                   NOW + 600, 1200);
    r = ingest1(v, newer, NOW + 600);
    CHECK(r.status == HEARTH_VIEW_STORED && r.replaced == 1);
    CHECK(price_of(v, 0, 5100, HEARTH_BACKEND_OPENAI) == 11);
    r = ingest1(v, evs[0], NOW + 601);
    CHECK(r.status == HEARTH_VIEW_OLDER);
    CHECK(!strcmp(r.why, "duplicate: have a newer version of this offer"));
    hearth_event *older = offer_ev(0, 5100, HEARTH_BACKEND_OPENAI, 9,
                                   NOW + 300, 1200);
    r = ingest1(v, older, NOW + 601);
    CHECK(r.status == HEARTH_VIEW_OLDER);
    CHECK(price_of(v, 0, 5100, HEARTH_BACKEND_OPENAI) == 11);
    CHECK(offers_in(v) == 3);

    /* same created_at: the lower id wins, whatever the order (NIP-01) */
    hearth_event *x = offer_ev(1, 5100, HEARTH_BACKEND_OPENAI, 100, NOW + 60,
                               1200);
    hearth_event *y = offer_ev(1, 5100, HEARTH_BACKEND_OPENAI, 200, NOW + 60,
                               1200);
    hearth_event *lo = memcmp(x->id, y->id, 32) < 0 ? x : y;
    hearth_event *hi = lo == x ? y : x;
    uint64_t lo_price = lo == x ? 100 : 200;
    r = ingest1(v, hi, NOW + 60);
    CHECK(r.status == HEARTH_VIEW_STORED && r.replaced);
    r = ingest1(v, lo, NOW + 60);
    CHECK(r.status == HEARTH_VIEW_STORED && r.replaced);
    r = ingest1(v, hi, NOW + 60);
    CHECK(r.status == HEARTH_VIEW_OLDER);
    CHECK(price_of(v, 1, 5100, HEARTH_BACKEND_OPENAI) == lo_price);

    /* the replaced version's expiry entry is gone: purging at its time
     * leaves the newer one alone */
    size_t purged = 99;
    CHECK(hearth_view_purge_expired(v, NOW + 1200, 100, &purged) == 0);
    CHECK(purged == 1); /* only the 5970 offer, created at NOW */
    CHECK(price_of(v, 0, 5100, HEARTH_BACKEND_OPENAI) == 11);
    CHECK(offers_in(v) == 2);

    for (int i = 0; i < 3; i++)
        hearth_event_free(evs[i]);
    hearth_event_free(newer);
    hearth_event_free(older);
    hearth_event_free(x);
    hearth_event_free(y);
    hearth_view_close(v);
    rm_dir(dir);
}

static void test_expiry(void)
{
    char *dir = tmp_dir();
    hearth_view *v = open_view(dir, NULL);
    hearth_event *evs[4];
    hearth_view_result res[4];
    hearth_peer *peers;
    size_t n, purged;
    for (int i = 0; i < 4; i++)
        evs[i] = offer_ev(i, 5100, HEARTH_BACKEND_OPENAI, 1, NOW,
                          100 * (i + 1));
    CHECK(hearth_view_ingest(v, evs, 4, NOW, res) == 0);
    for (int i = 0; i < 4; i++)
        CHECK(res[i].status == HEARTH_VIEW_STORED);

    /* expired at arrival: refused with the parser's reason */
    hearth_view_result r = ingest1(v, evs[0], NOW + 100);
    CHECK(r.status == HEARTH_VIEW_DUPLICATE); /* same id is checked first */
    hearth_event *late = offer_ev(5, 5100, HEARTH_BACKEND_OPENAI, 1, NOW, 100);
    r = ingest1(v, late, NOW + 100);
    CHECK(r.status == HEARTH_VIEW_REJECTED);
    CHECK(!strcmp(r.why, "invalid: offer has expired"));

    /* snapshots hide expired offers before the purge */
    CHECK(hearth_view_snapshot(v, 0, NOW + 150, &peers, NULL, NULL, &n) == 0);
    CHECK(n == 3);
    free(peers);
    CHECK(hearth_view_snapshot(v, 5100, NOW + 400, &peers, NULL, NULL, &n) ==
          0);
    CHECK(n == 0 && peers == NULL);

    /* purge, bounded by max */
    CHECK(hearth_view_purge_expired(v, NOW + 250, 1, &purged) == 0);
    CHECK(purged == 1 && offers_in(v) == 3);
    CHECK(hearth_view_purge_expired(v, NOW + 250, 100, &purged) == 0);
    CHECK(purged == 1 && offers_in(v) == 2);
    CHECK(hearth_view_purge_expired(v, NOW + 250, 100, &purged) == 0);
    CHECK(purged == 0);
    CHECK(hearth_view_purge_expired(v, NOW + 10000, 100, NULL) == 0);
    CHECK(offers_in(v) == 0);
    for (int i = 0; i < 4; i++)
        hearth_event_free(evs[i]);
    hearth_event_free(late);
    hearth_view_close(v);
    rm_dir(dir);
}

static void test_deletion(void)
{
    char *dir = tmp_dir();
    hearth_view *v = open_view(dir, NULL);
    hearth_event *a = offer_ev(0, 5100, HEARTH_BACKEND_OPENAI, 1, NOW, 1200);
    hearth_event *b = offer_ev(0, 5970, HEARTH_BACKEND_POW, 1, NOW, 1200);
    hearth_view_result r;
    CHECK(ingest1(v, a, NOW).status == HEARTH_VIEW_STORED);
    CHECK(ingest1(v, b, NOW).status == HEARTH_VIEW_STORED);

    /* someone else cannot delete it */
    hearth_event *foreign = deletion_ev(1, 0, 5100, "openai", NOW + 10);
    r = ingest1(v, foreign, NOW + 10);
    CHECK(r.status == HEARTH_VIEW_DELETION && r.removed == 0);
    CHECK(offers_in(v) == 2);
    /* a deletion older than the offer leaves it */
    hearth_event *early = deletion_ev(0, 0, 5100, "openai", NOW - 10);
    r = ingest1(v, early, NOW + 10);
    CHECK(r.status == HEARTH_VIEW_DELETION && r.removed == 0);
    CHECK(offers_in(v) == 2);
    /* the author's own deletion removes exactly that offer */
    hearth_event *del = deletion_ev(0, 0, 5100, "openai", NOW + 10);
    r = ingest1(v, del, NOW + 10);
    CHECK(r.status == HEARTH_VIEW_DELETION && r.removed == 1);
    CHECK(!strcmp(r.why, ""));
    CHECK(offers_in(v) == 1);
    CHECK(price_of(v, 0, 5100, HEARTH_BACKEND_OPENAI) == 0);
    CHECK(price_of(v, 0, 5970, HEARTH_BACKEND_POW) == 1);
    /* and the deleted version cannot come back, nor one older than the
     * deletion, but a later one can */
    r = ingest1(v, a, NOW + 11);
    CHECK(r.status == HEARTH_VIEW_DELETED);
    CHECK(!strcmp(r.why, "blocked: this offer was deleted by its author"));
    hearth_event *mid = offer_ev(0, 5100, HEARTH_BACKEND_OPENAI, 2, NOW + 10,
                                 1200);
    CHECK(ingest1(v, mid, NOW + 11).status == HEARTH_VIEW_DELETED);
    hearth_event *later = offer_ev(0, 5100, HEARTH_BACKEND_OPENAI, 3, NOW + 11,
                                   1200);
    r = ingest1(v, later, NOW + 11);
    CHECK(r.status == HEARTH_VIEW_STORED && !r.replaced);
    CHECK(price_of(v, 0, 5100, HEARTH_BACKEND_OPENAI) == 3);

    /* a deletion that arrives before the offer still counts */
    hearth_event *pre = deletion_ev(2, 2, 5200, "exec", NOW + 20);
    CHECK(ingest1(v, pre, NOW + 20).status == HEARTH_VIEW_DELETION);
    hearth_event *c = offer_ev(2, 5200, HEARTH_BACKEND_EXEC, 1, NOW + 5, 1200);
    CHECK(ingest1(v, c, NOW + 20).status == HEARTH_VIEW_DELETED);

    /* deletions of other things, and other kinds, are not ours */
    hearth_event *other = NULL;
    CHECK(hearth_event_new(HEARTH_KIND_DELETION, NOW, "", 0, &other) == 0);
    hearth_event_add_tagv(other, "e", "00112233445566778899aabbccddeeff"
                                      "00112233445566778899aabbccddeeff",
                          NULL);
    hearth_event_sign(other, sks[0]);
    r = ingest1(v, other, NOW + 20);
    CHECK(r.status == HEARTH_VIEW_IGNORED);
    CHECK(!strcmp(r.why, "blocked: not an offer or an offer deletion"));
    hearth_event *note = NULL;
    hearth_event_new(1, NOW, "hi", 2, &note);
    hearth_event_sign(note, sks[0]);
    CHECK(ingest1(v, note, NOW).status == HEARTH_VIEW_IGNORED);
    /* a deletion dated far ahead would block the author for that long */
    hearth_event *ahead = deletion_ev(0, 0, 5970, "pow", NOW + 100000);
    r = ingest1(v, ahead, NOW + 20);
    CHECK(r.status == HEARTH_VIEW_REJECTED);
    CHECK(!strcmp(r.why, "invalid: created_at is too far in the future"));
    CHECK(price_of(v, 0, 5970, HEARTH_BACKEND_POW) == 1);

    /* marks age out with the purge once nothing they block can be live */
    hearth_view_info info;
    CHECK(hearth_view_get_info(v, &info) == 0 && info.marks == 2);
    CHECK(hearth_view_purge_expired(v, NOW + 20 + 86400, 100, NULL) == 0);
    CHECK(hearth_view_get_info(v, &info) == 0 && info.marks == 0);

    hearth_event *all[] = {a, b, foreign, early, del, mid, later, pre, c,
                           other, note, ahead};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        hearth_event_free(all[i]);
    hearth_view_close(v);
    rm_dir(dir);
}

static void test_rejected(void)
{
    char *dir = tmp_dir();
    hearth_view_opts opts;
    hearth_view_opts_default(&opts);
    opts.min_pow = 8;
    hearth_view *v = open_view(dir, &opts);
    hearth_view_result r;

    hearth_event *bad_sig = offer_ev(0, 5100, HEARTH_BACKEND_OPENAI, 1, NOW,
                                     1200);
    bad_sig->sig[5] ^= 1;
    r = ingest1(v, bad_sig, NOW);
    CHECK(r.status == HEARTH_VIEW_REJECTED);
    CHECK(!strcmp(r.why, "invalid: bad signature"));

    hearth_event *bad_id = offer_ev(0, 5100, HEARTH_BACKEND_OPENAI, 1, NOW,
                                    1200);
    hearth_event_add_tagv(bad_id, "extra", "tag", NULL);
    bad_id->has |= HEARTH_EV_HAS_ID | HEARTH_EV_HAS_SIG; /* keep the old id */
    r = ingest1(v, bad_id, NOW);
    CHECK(r.status == HEARTH_VIEW_REJECTED);
    CHECK(!strcmp(r.why, "invalid: event id does not match its content"));

    hearth_event *unsigned_ev = NULL;
    hearth_offer o;
    offer_fixture(&o, 5100, HEARTH_BACKEND_OPENAI, 1);
    hearth_offer_to_event(&o, NOW, &unsigned_ev);
    r = ingest1(v, unsigned_ev, NOW);
    CHECK(r.status == HEARTH_VIEW_REJECTED);
    CHECK(!strcmp(r.why, "invalid: event is not signed"));

    /* signed, but not a valid offer */
    hearth_event *invalid = NULL;
    hearth_event_new(HEARTH_KIND_OFFER, NOW, "", 0, &invalid);
    hearth_event_add_tagv(invalid, "d", "5100:openai", NULL);
    hearth_event_add_tagv(invalid, "k", "5100", NULL);
    hearth_event_sign(invalid, sks[0]);
    r = ingest1(v, invalid, NOW);
    CHECK(r.status == HEARTH_VIEW_REJECTED);
    CHECK(!strcmp(r.why, "invalid: missing v tag (protocol version)"));

    /* PoW: 8 bits required */
    hearth_event *weak = offer_ev(0, 5100, HEARTH_BACKEND_OPENAI, 1, NOW,
                                  1200);
    if (hearth_nip13_difficulty(weak) < 8) {
        r = ingest1(v, weak, NOW);
        CHECK(r.status == HEARTH_VIEW_REJECTED);
        CHECK(!strcmp(r.why, "pow: offer has less proof of work than this "
                             "view requires"));
    }
    hearth_event *strong = NULL;
    hearth_offer_to_event(&o, NOW, &strong);
    hearth_key_pubkey(sks[0], strong->pubkey);
    strong->has |= HEARTH_EV_HAS_PUBKEY;
    CHECK(hearth_nip13_mine(strong, 8, 0, NULL) == 0);
    hearth_event_sign(strong, sks[0]);
    r = ingest1(v, strong, NOW);
    CHECK(r.status == HEARTH_VIEW_STORED);
    CHECK(offers_in(v) == 1);

    hearth_event *all[] = {bad_sig, bad_id, unsigned_ev, invalid, weak,
                           strong};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        hearth_event_free(all[i]);
    hearth_view_close(v);
    rm_dir(dir);
}

static void test_rate_limit(void)
{
    char *dir = tmp_dir();
    hearth_view_opts opts;
    hearth_view_opts_default(&opts);
    CHECK(opts.rate_per_min == 30);
    opts.rate_per_min = 3;
    hearth_view *v = open_view(dir, &opts);
    hearth_event *evs[6];
    hearth_view_result res[6];
    for (int i = 0; i < 5; i++)
        evs[i] = offer_ev(0, 5100, HEARTH_BACKEND_OPENAI, (uint64_t)i + 1,
                          NOW + i, 1200);
    evs[5] = offer_ev(1, 5100, HEARTH_BACKEND_OPENAI, 7, NOW, 1200);
    CHECK(hearth_view_ingest(v, evs, 6, NOW + 5, res) == 0);
    for (int i = 0; i < 3; i++)
        CHECK(res[i].status == HEARTH_VIEW_STORED);
    for (int i = 3; i < 5; i++) {
        CHECK(res[i].status == HEARTH_VIEW_RATE_LIMITED);
        CHECK(!strcmp(res[i].why, "rate-limited: too many offer updates "
                                  "from this provider"));
    }
    CHECK(res[5].status == HEARTH_VIEW_STORED); /* another provider */
    CHECK(price_of(v, 0, 5100, HEARTH_BACKEND_OPENAI) == 3);
    /* replays do not count against the provider */
    CHECK(ingest1(v, evs[2], NOW + 30).status == HEARTH_VIEW_DUPLICATE);
    CHECK(ingest1(v, evs[4], NOW + 59).status == HEARTH_VIEW_RATE_LIMITED);
    /* deletions count too */
    hearth_event *del = deletion_ev(0, 0, 5970, "pow", NOW + 6);
    CHECK(ingest1(v, del, NOW + 59).status == HEARTH_VIEW_RATE_LIMITED);
    /* a minute later the window is new */
    CHECK(ingest1(v, evs[4], NOW + 65).status == HEARTH_VIEW_STORED);
    CHECK(price_of(v, 0, 5100, HEARTH_BACKEND_OPENAI) == 5);
    CHECK(ingest1(v, del, NOW + 65).status == HEARTH_VIEW_DELETION);
    hearth_event_free(del);
    for (int i = 0; i < 6; i++)
        hearth_event_free(evs[i]);
    hearth_view_close(v);
    rm_dir(dir);
}

static int cmp_key(const hearth_peer *a, const hearth_peer *b)
{
    if (a->job_kind != b->job_kind)
        return a->job_kind < b->job_kind ? -1 : 1;
    int c = memcmp(a->pubkey, b->pubkey, 32);
    if (c)
        return c;
    return a->backend < b->backend ? -1 : a->backend > b->backend;
}

static void test_snapshot_and_obs(void)
{
    char *dir = tmp_dir();
    hearth_view *v = open_view(dir, NULL);
    hearth_event *evs[NKEYS * 2];
    hearth_view_result res[NKEYS * 2];
    size_t ne = 0;
    for (int k = 0; k < NKEYS; k++) {
        evs[ne++] = offer_ev(k, 5100, HEARTH_BACKEND_OPENAI, 100 + k, NOW,
                             1200);
        if (k % 2 == 0)
            evs[ne++] = offer_ev(k, k % 4 ? 5100 : 5970,
                                 k % 4 ? HEARTH_BACKEND_EXEC
                                       : HEARTH_BACKEND_POW,
                                 200 + k, NOW, 1200);
    }
    CHECK(hearth_view_ingest(v, evs, ne, NOW, res) == 0);
    for (size_t i = 0; i < ne; i++)
        CHECK(res[i].status == HEARTH_VIEW_STORED);

    /* observations: two failures on key 2, a success and RTTs on key 3 */
    CHECK(hearth_view_observe(v, pks[2], HEARTH_OBS_FAILED, 0, NOW) == 0);
    CHECK(hearth_view_observe(v, pks[2], HEARTH_OBS_FAILED, 0, NOW + 40) == 0);
    CHECK(hearth_view_observe(v, pks[3], HEARTH_OBS_OK, 100, NOW) == 0);
    CHECK(hearth_view_observe(v, pks[3], HEARTH_OBS_RTT, 200, NOW) == 0);
    CHECK(hearth_view_set_reputation(v, pks[3], 0.75f) == 0);
    /* key 4 has offers of two kinds: found again when the kind changes */
    CHECK(hearth_view_observe(v, pks[4], HEARTH_OBS_RTT, 50, NOW) == 0);
    CHECK(hearth_view_observe(v, pks[6], HEARTH_OBS_RTT, 70, NOW) == 0);

    hearth_peer *peers = NULL;
    hearth_peer_obs *obs = NULL;
    hearth_offer *offers = NULL;
    size_t n = 0;
    CHECK(hearth_view_snapshot(v, 0, NOW + 60, &peers, &obs, &offers, &n) ==
          0);
    CHECK(n == ne);
    for (size_t i = 0; i < n; i++) {
        hearth_peer want;
        hearth_peer_from_offer(&offers[i], &want);
        CHECK(!memcmp(&want, &peers[i], sizeof want));
        if (i)
            CHECK(cmp_key(&peers[i - 1], &peers[i]) < 0);
        CHECK(peers[i].nmodels == 2);
        CHECK(peers[i].model_hash[0] == hearth_model_hash("llama3.1:8b"));
        CHECK(peers[i].tier == 2 && peers[i].vram_mb == 12288);
        CHECK(peers[i].expires_at == NOW + 1200);
        CHECK(peers[i].capacity_free == 1 && peers[i].capacity_total == 2);
        int k = -1;
        for (int j = 0; j < NKEYS; j++)
            if (!memcmp(pks[j], peers[i].pubkey, 32))
                k = j;
        CHECK(k >= 0);
        if (k < 0)
            continue;
        hearth_peer_obs one;
        CHECK(hearth_view_get_obs(v, pks[k], &one) == 0);
        CHECK(!memcmp(&one, &obs[i], sizeof one));
        if (k == 4 || k == 6)
            CHECK(obs[i].rtt_ms == (k == 4 ? 50u : 70u));
        uint64_t base = peers[i].backend == HEARTH_BACKEND_OPENAI ? 100 : 200;
        CHECK(peers[i].price.per_job == base + (uint64_t)k);
        CHECK(offers[i].price.per_mtok_out == 2 * (base + (uint64_t)k));
        CHECK(!strcmp(offers[i].relays[0], "wss://inbox.example.com"));
        if (k == 2) {
            CHECK(obs[i].jobs_failed == 2 && obs[i].consecutive_failures == 2);
            CHECK(obs[i].last_failure == NOW + 40);
            CHECK(obs[i].cooldown_until == NOW + 40 + 60);
            CHECK(obs[i].reputation == 0.5f);
        } else if (k == 3) {
            CHECK(obs[i].jobs_ok == 1 && obs[i].jobs_failed == 0);
            CHECK(obs[i].rtt_ms == 125); /* 3/4 of 100 + 1/4 of 200 */
            CHECK(obs[i].reputation == 0.75f);
        } else if (k != 4 && k != 6) {
            CHECK(obs[i].jobs_ok == 0 && obs[i].rtt_ms == 0 &&
                  obs[i].cooldown_until == 0 && obs[i].reputation == 0.5f);
        }
    }
    free(peers);
    free(obs);
    free(offers);

    /* one kind only; the selector gets peers without asking for offers */
    CHECK(hearth_view_snapshot(v, 5970, NOW, &peers, &obs, NULL, &n) == 0);
    CHECK(n == 2);
    for (size_t i = 0; i < n; i++)
        CHECK(peers[i].job_kind == 5970 &&
              peers[i].backend == HEARTH_BACKEND_POW);
    free(peers);
    free(obs);
    CHECK(hearth_view_snapshot(v, 5100, NOW, &peers, NULL, NULL, &n) == 0);
    CHECK(n == NKEYS + 2);
    free(peers);
    CHECK(hearth_view_snapshot(v, 5300, NOW, &peers, &obs, &offers, &n) == 0);
    CHECK(n == 0 && !peers && !obs && !offers);

    /* a success ends the failure streak and the cooldown */
    CHECK(hearth_view_observe(v, pks[2], HEARTH_OBS_OK, 0, NOW + 50) == 0);
    hearth_peer_obs ob;
    CHECK(hearth_view_get_obs(v, pks[2], &ob) == 0);
    CHECK(ob.consecutive_failures == 0 && ob.cooldown_until == 0);
    CHECK(ob.jobs_ok == 1 && ob.jobs_failed == 2 && ob.last_failure == NOW + 40);
    /* backoff doubles from 30 s up to an hour */
    for (int i = 1; i <= 9; i++) {
        CHECK(hearth_view_observe(v, pks[5], HEARTH_OBS_FAILED, 0,
                                  NOW + i) == 0);
        CHECK(hearth_view_get_obs(v, pks[5], &ob) == 0);
        CHECK(ob.consecutive_failures == (uint32_t)i);
        CHECK(ob.cooldown_until == NOW + i + hearth_view_backoff((uint32_t)i));
    }
    CHECK(ob.cooldown_until == NOW + 9 + 3600);
    CHECK(hearth_view_backoff(0) == 0);
    CHECK(hearth_view_backoff(1) == 30);
    CHECK(hearth_view_backoff(2) == 60);
    CHECK(hearth_view_backoff(3) == 120);
    CHECK(hearth_view_backoff(7) == 1920);
    CHECK(hearth_view_backoff(8) == 3600);
    CHECK(hearth_view_backoff(UINT32_MAX) == 3600);
    CHECK(hearth_view_get_obs(v, pks[7], &ob) == 0);
    CHECK(ob.jobs_ok == 0 && ob.reputation == 0.5f);
    CHECK(hearth_view_set_reputation(v, pks[7], 1.5f) == HEARTH_EINVAL);
    CHECK(hearth_view_set_reputation(v, pks[7], -0.1f) == HEARTH_EINVAL);
    CHECK(hearth_view_observe(v, pks[7], (enum hearth_view_outcome)9, 0,
                              NOW) == HEARTH_EINVAL);

    /* everything survives a reopen */
    hearth_view_close(v);
    v = open_view(dir, NULL);
    CHECK(hearth_view_snapshot(v, 0, NOW + 60, &peers, &obs, NULL, &n) == 0);
    CHECK(n == ne);
    free(peers);
    free(obs);
    CHECK(hearth_view_get_obs(v, pks[3], &ob) == 0);
    CHECK(ob.rtt_ms == 125 && ob.reputation == 0.75f);
    CHECK(hearth_view_get_obs(v, pks[5], &ob) == 0);
    CHECK(ob.consecutive_failures == 9);
    hearth_view_info info;
    CHECK(hearth_view_get_info(v, &info) == 0);
    CHECK(info.offers == ne && info.observed == 5 && info.used > 0);
    CHECK(info.map_size >= (1u << 20));
    for (size_t i = 0; i < ne; i++)
        hearth_event_free(evs[i]);
    hearth_view_close(v);
    rm_dir(dir);
}

/* Batches checked on worker threads give the same verdicts, in order. */
static void test_threads_and_size(void)
{
    enum { N = 3000 };
    char *dir = tmp_dir();
    hearth_view_opts opts;
    hearth_view_opts_default(&opts);
    opts.verify_threads = 4;
    opts.rate_per_min = 1; /* 3000 providers: the rate table grows */
    hearth_view *v = open_view(dir, &opts);
    hearth_event **evs = calloc(N, sizeof *evs);
    hearth_view_result *res = calloc(N, sizeof *res);
    uint8_t sk[32];
    for (size_t i = 0; i < N; i++) {
        hearth_offer o;
        /* a fresh key per offer, as 3000 providers */
        hearth_key_generate(sk);
        offer_fixture(&o, 5000 + (uint32_t)(i % 50), HEARTH_BACKEND_OPENAI,
                      i + 1);
        hearth_offer_to_event(&o, NOW, &evs[i]);
        hearth_event_sign(evs[i], sk);
        if (i % 97 == 5)
            evs[i]->sig[0] ^= 0x80;
    }
    CHECK(hearth_view_ingest(v, evs, N, NOW, res) == HEARTH_OK);
    size_t stored = 0, bad = 0;
    for (size_t i = 0; i < N; i++) {
        if (i % 97 == 5)
            bad += res[i].status == HEARTH_VIEW_REJECTED &&
                   !strcmp(res[i].why, "invalid: bad signature");
        else
            stored += res[i].status == HEARTH_VIEW_STORED;
    }
    CHECK(bad == (N + 91) / 97);
    CHECK(stored == N - bad);
    hearth_view_info info;
    CHECK(hearth_view_get_info(v, &info) == 0);
    CHECK(info.offers == stored);
    /* a view of 100,000 offers must stay well under 100 MB: here at most
     * 600 bytes an offer all included (bench_view measures 100,000) */
    CHECKF(info.used < stored * 600, "%llu bytes for %zu offers",
           (unsigned long long)info.used, stored);
    hearth_peer *peers;
    size_t n;
    CHECK(hearth_view_snapshot(v, 5007, NOW, &peers, NULL, NULL, &n) == 0);
    CHECK(n >= 55 && n <= 60); /* 60 offers of kind 5007, a few bad */
    free(peers);
    for (size_t i = 0; i < N; i++)
        hearth_event_free(evs[i]);
    free(evs);
    free(res);
    hearth_view_close(v);
    rm_dir(dir);
}

static void test_full_and_format(void)
{
    char *dir = tmp_dir();
    hearth_view_opts opts;
    hearth_view_opts_default(&opts);
    opts.map_size = 64 << 10; /* 16 pages */
    opts.rate_per_min = 0;
    hearth_view *v = open_view(dir, &opts);
    enum { N = 400 };
    hearth_event *evs[N];
    hearth_view_result res[N];
    uint8_t sk[32];
    for (int i = 0; i < N; i++) {
        hearth_offer o;
        hearth_key_generate(sk);
        offer_fixture(&o, 5100, HEARTH_BACKEND_OPENAI, 1);
        hearth_offer_to_event(&o, NOW, &evs[i]);
        hearth_event_sign(evs[i], sk);
    }
    int rc = hearth_view_ingest(v, evs, N, NOW, res);
    CHECK(rc == HEARTH_EIO);
    for (int i = 0; i < N; i++)
        CHECK(res[i].status == HEARTH_VIEW_ERROR &&
              !strcmp(res[i].why, "error: view database is full"));
    CHECK(offers_in(v) == 0);
    /* a smaller batch still fits: the failed one left nothing behind */
    CHECK(hearth_view_ingest(v, evs, 10, NOW, res) == HEARTH_OK);
    CHECK(offers_in(v) == 10);
    hearth_view_close(v);
    for (int i = 0; i < N; i++)
        hearth_event_free(evs[i]);

    /* a view written in another format is refused, not misread */
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    uint8_t other[4] = {0, 0, 0, 99};
    MDB_val k = {6, "format"}, val = {4, other};
    mdb_env_create(&env);
    mdb_env_set_maxdbs(env, 8);
    mdb_env_set_mapsize(env, 64 << 10);
    CHECK(mdb_env_open(env, dir, 0, 0600) == 0);
    mdb_txn_begin(env, NULL, 0, &txn);
    mdb_dbi_open(txn, "meta", 0, &dbi);
    CHECK(mdb_put(txn, dbi, &k, &val, 0) == 0);
    mdb_txn_commit(txn);
    mdb_env_close(env);
    CHECK(hearth_view_open(dir, &opts, &v) == HEARTH_EINVAL && !v);
    rm_dir(dir);
}

int main(void)
{
    for (int i = 0; i < NKEYS; i++) {
        hearth_key_generate(sks[i]);
        hearth_key_pubkey(sks[i], pks[i]);
    }
    test_ingest_and_replace();
    test_expiry();
    test_deletion();
    test_rejected();
    test_rate_limit();
    test_snapshot_and_obs();
    test_threads_and_size();
    test_full_and_format();
    return tap_done();
}
