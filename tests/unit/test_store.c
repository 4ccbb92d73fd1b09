/* Event store: puts and their verdicts, every filter field answered
 * through the indexes and compared with a brute-force oracle
 * (hearth_filter_match over the events in memory), limits and ordering,
 * replaceable and addressable versions, ephemeral kinds, NIP-09
 * deletion, NIP-40 expiration and purge, plans and scan counts on
 * thousands of events, persistence, kill -9 durability, large batches,
 * and readers on other threads during writes. */
#include "hearth/error.h"
#include "hearth/event.h"
#include "hearth/filter.h"
#include "hearth/hex.h"
#include "hearth/keys.h"
#include "hearth/store.h"
#include "tap.h"
#include "tmpdir.h"

#include <dirent.h>
#include <lmdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- fixtures ---- */

static char *tmp_dir(void)
{
    return tap_tmpdir("store");
}

static void rm_dir(char *dir)
{
    CHECKF(tap_rmtree(dir) == 0, "rmdir %s", dir);
    free(dir);
}

static hearth_store *open_store(const char *dir)
{
    hearth_store *s = NULL;
    int rc = hearth_store_open(dir, NULL, &s);
    CHECKF(rc == HEARTH_OK && s, "open %s: %s", dir, hearth_strerror(rc));
    if (!s)
        exit(1);
    return s;
}

struct key {
    uint8_t sk[32], pk[32];
    char hex[65];
};

static void key_new(struct key *k)
{
    CHECK(hearth_key_generate(k->sk) == HEARTH_OK);
    CHECK(hearth_key_pubkey(k->sk, k->pk) == HEARTH_OK);
    hearth_hex_encode(k->pk, 32, k->hex);
}

static hearth_event *ev_new(uint32_t kind, int64_t ts, const char *content)
{
    hearth_event *ev = NULL;
    CHECK(hearth_event_new(kind, ts, content, strlen(content), &ev) == 0);
    if (!ev)
        exit(1);
    return ev;
}

static hearth_event *ev_sign(hearth_event *ev, const struct key *k)
{
    CHECK(hearth_event_sign(ev, k->sk) == HEARTH_OK);
    return ev;
}

/* a signed event without tags */
static hearth_event *mk(const struct key *k, uint32_t kind, int64_t ts,
                        const char *content)
{
    return ev_sign(ev_new(kind, ts, content), k);
}

static void id_hex(const hearth_event *ev, char out[65])
{
    hearth_hex_encode(ev->id, 32, out);
}

static hearth_store_result put(hearth_store *s, hearth_event *ev, int64_t now)
{
    hearth_store_result r;
    int rc = hearth_store_put_batch(s, &ev, 1, now, &r);
    CHECKF(rc == HEARTH_OK, "put: %s", hearth_strerror(rc));
    return r;
}

static int status(hearth_store *s, hearth_event *ev, int64_t now)
{
    return (int)put(s, ev, now).status;
}

static int has(hearth_store *s, const hearth_event *ev)
{
    int found = -1;
    CHECK(hearth_store_has_id(s, ev->id, &found) == HEARTH_OK);
    return found;
}

static hearth_filter *filter(const char *json)
{
    hearth_filter *f = NULL;
    const char *why = "";
    int rc = hearth_filter_parse(json, strlen(json), &f, &why);
    CHECKF(rc == HEARTH_OK, "%s: %s", json, why);
    if (!f)
        exit(1);
    return f;
}

/* ---- running queries ---- */

struct got {
    size_t n;
    uint8_t ids[600][32];
    int64_t ts[600];
    int json_ok;
};

static int collect_cb(void *ctx, const hearth_store_row *row)
{
    struct got *g = ctx;
    hearth_event *ev = NULL;
    /* the row's JSON must be the event itself, ready to send */
    if (hearth_event_parse(row->json, row->len, 0, &ev, NULL) != HEARTH_OK ||
        memcmp(ev->id, row->id, 32) || ev->created_at != row->created_at ||
        ev->kind != row->kind || memcmp(ev->pubkey, row->pubkey, 32) ||
        hearth_event_verify(ev, NULL) != HEARTH_OK)
        g->json_ok = 0;
    hearth_event_free(ev);
    if (g->n < 600) {
        memcpy(g->ids[g->n], row->id, 32);
        g->ts[g->n] = row->created_at;
    }
    g->n++;
    return 0;
}

/* filters: a JSON array of filter objects */
static int run(hearth_store *s, const char *filters, size_t max, int64_t now,
               struct got *g, hearth_store_stats *st)
{
    hearth_filter *fs[8];
    size_t n = 0;
    const char *p = filters + 1;
    /* split the top-level objects of a flat array */
    while (*p == '{' && n < 8) {
        int depth = 0;
        const char *q = p;
        do {
            depth += (*q == '{' || *q == '[') - (*q == '}' || *q == ']');
            q++;
        } while (depth);
        hearth_filter *f = NULL;
        const char *why = "";
        CHECKF(hearth_filter_parse(p, (size_t)(q - p), &f, &why) == 0,
               "%.*s: %s", (int)(q - p), p, why);
        if (!f)
            return -1;
        fs[n++] = f;
        p = q + (*q == ',');
    }
    memset(g, 0, sizeof *g);
    g->json_ok = 1;
    int rc = hearth_store_query(s, fs, n, max, now, collect_cb, g, st);
    CHECKF(g->json_ok, "%s: rows are not their events", filters);
    for (size_t i = 0; i < n; i++)
        hearth_filter_free(fs[i]);
    return rc;
}

static size_t count_of(hearth_store *s, const char *json, int64_t now)
{
    hearth_filter *f = filter(json);
    uint64_t c = 0;
    CHECK(hearth_store_count(s, &f, 1, now, &c, NULL) == HEARTH_OK);
    hearth_filter_free(f);
    return (size_t)c;
}

static size_t nquery(hearth_store *s, const char *filters, int64_t now)
{
    struct got g;
    CHECK(run(s, filters, 500, now, &g, NULL) == HEARTH_OK);
    return g.n;
}

/* ---- put, get, duplicates ---- */

static void test_put_get(void)
{
    char *dir = tmp_dir();
    hearth_store *s = open_store(dir);
    struct key a;
    key_new(&a);
    hearth_event *e = ev_new(1, 1000, "hello \"store\"\n\xe2\x9c\x93");
    hearth_event_add_tagv(e, "t", "greeting", NULL);
    ev_sign(e, &a);
    CHECK(has(s, e) == 0);
    hearth_store_result r = put(s, e, 2000);
    CHECK(r.status == HEARTH_STORE_STORED && r.ok && !strcmp(r.why, ""));
    CHECK(r.serial >= 1 && !r.replaced);
    uint64_t first = r.serial;
    CHECK(has(s, e) == 1);

    hearth_buf want = HEARTH_BUF_INIT, got = HEARTH_BUF_INIT;
    hearth_event_to_json(e, &want);
    CHECK(hearth_store_get_json(s, e->id, &got) == HEARTH_OK);
    CHECKF(got.len == want.len && !memcmp(got.p, want.p, want.len),
           "stored %s", got.p ? got.p : "(null)");

    r = put(s, e, 2000);
    CHECK(r.status == HEARTH_STORE_DUPLICATE && r.ok);
    CHECK(!strcmp(r.why, "duplicate: already have this event"));

    /* an unknown id */
    uint8_t zero[32] = {0};
    hearth_buf_reset(&got);
    CHECK(hearth_store_get_json(s, zero, &got) == HEARTH_ENOTFOUND);
    int found = 1;
    CHECK(hearth_store_has_id(s, zero, &found) == HEARTH_OK && found == 0);

    /* the same new event twice in one batch, and an unsigned one */
    hearth_event *e2 = mk(&a, 1, 1001, "twice");
    hearth_event *u = ev_new(1, 1002, "unsigned");
    hearth_event *batch[3] = {e2, e2, u};
    hearth_store_result rs[3];
    CHECK(hearth_store_put_batch(s, batch, 3, 2000, rs) == HEARTH_OK);
    CHECK(rs[0].status == HEARTH_STORE_STORED);
    CHECK(rs[1].status == HEARTH_STORE_DUPLICATE);
    CHECK(rs[2].status == HEARTH_STORE_ERROR && !rs[2].ok &&
          !strncmp(rs[2].why, "invalid: ", 9));
    CHECK(rs[0].serial > first);

    hearth_store_info info;
    CHECK(hearth_store_get_info(s, &info) == HEARTH_OK);
    CHECK(info.events == 2 && info.map_size >= (1ull << 30) && info.used > 0);

    /* a directory that cannot be made */
    hearth_store *bad = (hearth_store *)1;
    CHECK(hearth_store_open("/nonexistent-hearth/a/b", NULL, &bad) ==
              HEARTH_EIO && bad == NULL);

    hearth_buf_free(&want);
    hearth_buf_free(&got);
    hearth_event_free(e);
    hearth_event_free(e2);
    hearth_event_free(u);
    hearth_store_close(s);
    rm_dir(dir);
}

/* ---- queries against an oracle ---- */

#define NDATA 400
#define QNOW 2000

struct data {
    struct key k[3];
    hearth_event *ev[NDATA];
    char long_value[301];
    char hex_value[65];
};

static hearth_event *data_event(struct data *d, int i)
{
    static const uint32_t kinds[] = {1, 7, 1, 40, 1984};
    char content[64], t[16];
    snprintf(content, sizeof content, "event %d", i);
    /* four events per second, so limits cut through ties */
    hearth_event *e = ev_new(kinds[i % 5], 1000 + i / 4, content);
    snprintf(t, sizeof t, "tag%d", i % 5);
    hearth_event_add_tagv(e, "t", t, NULL);
    if (i % 7 == 0)
        hearth_event_add_tagv(e, "t", "extra", NULL);
    hearth_event_add_tagv(e, "p", d->k[(i + 1) % 3].hex, NULL);
    if (i >= 5 && i % 3 == 0) {
        char ref[65];
        id_hex(d->ev[i - 5], ref);
        hearth_event_add_tagv(e, "e", ref, "", "reply", NULL);
    }
    if (i % 17 == 0)
        hearth_event_add_tagv(e, "t", d->long_value, NULL);
    if (i % 13 == 0)
        hearth_event_add_tagv(e, "x", d->hex_value, NULL);
    if (i % 11 == 0)
        hearth_event_add_tagv(e, "title", "not indexed", NULL);
    if (i % 19 == 0) /* expired at query time */
        hearth_event_add_tagv(e, "expiration", "1500", NULL);
    if (i % 23 == 0)
        hearth_event_add_tagv(e, "expiration", "5000", NULL);
    return ev_sign(e, &d->k[i % 3]);
}

static void data_make(struct data *d)
{
    for (int i = 0; i < 3; i++)
        key_new(&d->k[i]);
    memset(d->long_value, 'L', 300);
    d->long_value[300] = '\0';
    memset(d->hex_value, 'f', 64);
    d->hex_value[64] = '\0';
    for (int i = 0; i < NDATA; i++)
        d->ev[i] = data_event(d, i);
}

static int ev_order(const void *a, const void *b)
{
    const hearth_event *x = *(hearth_event *const *)a;
    const hearth_event *y = *(hearth_event *const *)b;
    if (x->created_at != y->created_at)
        return x->created_at > y->created_at ? -1 : 1;
    return memcmp(x->id, y->id, 32);
}

/* what NIP-01 says the answer is */
static size_t oracle(struct data *d, hearth_filter *const *fs, size_t nf,
                     size_t max, hearth_event **out)
{
    size_t n = 0;
    for (size_t f = 0; f < nf; f++) {
        hearth_event *m[NDATA];
        size_t k = 0;
        for (int i = 0; i < NDATA; i++)
            if (hearth_filter_match(fs[f], d->ev[i]) &&
                !hearth_event_is_expired(d->ev[i], QNOW))
                m[k++] = d->ev[i];
        qsort(m, k, sizeof *m, ev_order);
        size_t lim = fs[f]->has_limit && fs[f]->limit < max ? fs[f]->limit
                                                              : max;
        for (size_t i = 0; i < k && i < lim; i++) {
            size_t j = 0;
            while (j < n && out[j] != m[i])
                j++;
            if (j == n)
                out[n++] = m[i];
        }
    }
    qsort(out, n, sizeof *out, ev_order);
    return n < max ? n : max;
}

static void expect_oracle(hearth_store *s, struct data *d, const char *json,
                          size_t max)
{
    struct got g;
    hearth_event *want[NDATA * 2];
    hearth_filter *fs[8];
    size_t nf = 0;
    hearth_store_stats st;
    CHECKF(run(s, json, max, QNOW, &g, &st) == HEARTH_OK, "%s", json);
    /* parse again for the oracle */
    const char *p = json + 1;
    while (*p == '{' && nf < 8) {
        int depth = 0;
        const char *q = p;
        do {
            depth += (*q == '{' || *q == '[') - (*q == '}' || *q == ']');
            q++;
        } while (depth);
        hearth_filter_parse(p, (size_t)(q - p), &fs[nf++], NULL);
        p = q + (*q == ',');
    }
    size_t n = oracle(d, fs, nf, max, want);
    CHECKF(g.n == n, "%s: %zu rows, want %zu", json, g.n, n);
    for (size_t i = 0; i < n && i < g.n; i++)
        CHECKF(!memcmp(g.ids[i], want[i]->id, 32), "%s: row %zu differs",
               json, i);
    CHECKF(st.returned == g.n, "%s: stats", json);
    /* count ignores limits; one filter at a time through the same path */
    if (nf == 1 && !fs[0]->has_limit) {
        uint64_t c = 0;
        CHECK(hearth_store_count(s, fs, 1, QNOW, &c, NULL) == HEARTH_OK);
        CHECKF(c == n || n == max, "%s: count %llu want %zu", json,
               (unsigned long long)c, n);
    }
    for (size_t i = 0; i < nf; i++)
        hearth_filter_free(fs[i]);
}

static void test_queries(void)
{
    static struct data d;
    char *dir = tmp_dir();
    hearth_store *s = open_store(dir);
    data_make(&d);
    hearth_store_result res[NDATA];
    CHECK(hearth_store_put_batch(s, d.ev, NDATA, 1000, res) == HEARTH_OK);
    for (int i = 0; i < NDATA; i++)
        CHECKF(res[i].status == HEARTH_STORE_STORED, "event %d", i);

    char A[65], B[65], C[65], id3[65], id4[65], id5[65], j[2048];
    memcpy(A, d.k[0].hex, 65);
    memcpy(B, d.k[1].hex, 65);
    memcpy(C, d.k[2].hex, 65);
    id_hex(d.ev[3], id3);
    id_hex(d.ev[4], id4);
    id_hex(d.ev[5], id5);

    expect_oracle(s, &d, "[{}]", 500);
    expect_oracle(s, &d, "[{\"limit\":20}]", 500);
    expect_oracle(s, &d, "[{}]", 37);  /* max_results cuts */
    expect_oracle(s, &d, "[{\"kinds\":[1]}]", 500);
    expect_oracle(s, &d, "[{\"kinds\":[7,1],\"limit\":15}]", 500);
    expect_oracle(s, &d, "[{\"kinds\":[40,1984,9],\"limit\":33}]", 500);
    snprintf(j, sizeof j, "[{\"authors\":[\"%s\"]}]", A);
    expect_oracle(s, &d, j, 500);
    snprintf(j, sizeof j, "[{\"authors\":[\"%s\",\"%s\"],\"limit\":10}]", A,
             B);
    expect_oracle(s, &d, j, 500);
    snprintf(j, sizeof j,
             "[{\"authors\":[\"%s\",\"%s\"],\"kinds\":[1,40],\"limit\":7}]", A,
             C);
    expect_oracle(s, &d, j, 500);
    snprintf(j, sizeof j, "[{\"authors\":[\"%s\"],\"kinds\":[7]}]", B);
    expect_oracle(s, &d, j, 500);
    expect_oracle(s, &d, "[{\"#t\":[\"tag1\"]}]", 500);
    expect_oracle(s, &d, "[{\"#t\":[\"tag1\",\"extra\"],\"limit\":9}]", 500);
    expect_oracle(s, &d, "[{\"#t\":[\"extra\",\"tag3\",\"nothing\"]}]", 500);
    snprintf(j, sizeof j, "[{\"#t\":[\"%s\"]}]", d.long_value);
    expect_oracle(s, &d, j, 500);
    snprintf(j, sizeof j, "[{\"#x\":[\"%s\"]}]", d.hex_value);
    expect_oracle(s, &d, j, 500);
    snprintf(j, sizeof j, "[{\"#p\":[\"%s\"],\"kinds\":[1]}]", B);
    expect_oracle(s, &d, j, 500);
    snprintf(j, sizeof j, "[{\"#e\":[\"%s\",\"%s\"]}]", id3, id4);
    expect_oracle(s, &d, j, 500);
    snprintf(j, sizeof j, "[{\"ids\":[\"%s\",\"%s\",\"%s\",\"%064d\"]}]", id3,
             id4, id5, 0);
    expect_oracle(s, &d, j, 500);
    snprintf(j, sizeof j, "[{\"ids\":[\"%s\",\"%s\",\"%s\"],\"kinds\":[7]}]",
             id3, id4, id5);
    expect_oracle(s, &d, j, 500);
    snprintf(j, sizeof j, "[{\"ids\":[\"%s\",\"%s\",\"%s\"],\"limit\":2}]",
             id3, id4, id5);
    expect_oracle(s, &d, j, 500);
    /* time boundaries are inclusive */
    expect_oracle(s, &d, "[{\"since\":1010,\"until\":1020}]", 500);
    expect_oracle(s, &d, "[{\"kinds\":[1],\"since\":1010,\"until\":1010}]",
                  500);
    snprintf(j, sizeof j, "[{\"authors\":[\"%s\"],\"until\":1005}]", A);
    expect_oracle(s, &d, j, 500);
    snprintf(j, sizeof j, "[{\"authors\":[\"%s\"],\"since\":1070}]", A);
    expect_oracle(s, &d, j, 500);
    expect_oracle(s, &d, "[{\"#t\":[\"tag2\"],\"since\":1099,\"until\":1099}]",
                  500);
    snprintf(j, sizeof j,
             "[{\"#t\":[\"tag2\"],\"kinds\":[7],\"authors\":[\"%s\"]}]", B);
    expect_oracle(s, &d, j, 500);
    snprintf(j, sizeof j, "[{\"#t\":[\"tag0\"],\"#x\":[\"%s\"]}]",
             d.hex_value);
    expect_oracle(s, &d, j, 500);
    /* nothing can match */
    expect_oracle(s, &d, "[{\"kinds\":[]}]", 500);
    expect_oracle(s, &d, "[{\"since\":1050,\"until\":1040}]", 500);
    expect_oracle(s, &d, "[{\"limit\":0}]", 500);
    expect_oracle(s, &d, "[{\"#t\":[]}]", 500);
    expect_oracle(s, &d, "[{\"until\":999}]", 500);
    /* several filters: each its own limit, union, each event once */
    snprintf(j, sizeof j,
             "[{\"authors\":[\"%s\"],\"limit\":3},{\"kinds\":[7],\"limit\":4}"
             ",{\"#t\":[\"tag1\"],\"limit\":5}]", A);
    expect_oracle(s, &d, j, 500);
    expect_oracle(s, &d, "[{\"kinds\":[1]},{\"#t\":[\"tag0\"]}]", 500);
    expect_oracle(s, &d, "[{\"kinds\":[1]},{\"#t\":[\"tag0\"]}]", 50);
    expect_oracle(s, &d, "[{\"kinds\":[1],\"limit\":5},{\"kinds\":[1],"
                         "\"limit\":8}]", 500);

    /* rows come newest first, ties by id */
    struct got g;
    CHECK(run(s, "[{\"limit\":100}]", 500, QNOW, &g, NULL) == 0);
    for (size_t i = 1; i < g.n; i++)
        CHECKF(g.ts[i - 1] > g.ts[i] ||
                   (g.ts[i - 1] == g.ts[i] &&
                    memcmp(g.ids[i - 1], g.ids[i], 32) < 0),
               "order at %zu", i);

    /* counts over several filters count each event once */
    hearth_filter *fs[2] = {filter("{\"kinds\":[1]}"),
                            filter("{\"#t\":[\"extra\"]}")};
    uint64_t c = 0, c1 = 0, c2 = 0;
    CHECK(hearth_store_count(s, fs, 2, QNOW, &c, NULL) == HEARTH_OK);
    CHECK(hearth_store_count(s, fs, 1, QNOW, &c1, NULL) == HEARTH_OK);
    CHECK(hearth_store_count(s, fs + 1, 1, QNOW, &c2, NULL) == HEARTH_OK);
    CHECKF(c < c1 + c2 && c > c1 && c > c2, "%llu %llu %llu",
           (unsigned long long)c, (unsigned long long)c1,
           (unsigned long long)c2);
    CHECK(c == nquery(s, "[{\"kinds\":[1]},{\"#t\":[\"extra\"]}]", QNOW));
    hearth_filter_free(fs[0]);
    hearth_filter_free(fs[1]);

    for (int i = 0; i < NDATA; i++)
        hearth_event_free(d.ev[i]);
    hearth_store_close(s);
    rm_dir(dir);
}

static int stop_after_two(void *ctx, const hearth_store_row *row)
{
    (void)row;
    return ++*(int *)ctx == 2 ? 1 : 0;
}

static int fail_cb(void *ctx, const hearth_store_row *row)
{
    (void)ctx;
    (void)row;
    return HEARTH_EIO;
}

static void test_callback_stops(void)
{
    char *dir = tmp_dir();
    hearth_store *s = open_store(dir);
    struct key a;
    key_new(&a);
    hearth_event *e[5];
    hearth_store_result r[5];
    for (int i = 0; i < 5; i++)
        e[i] = mk(&a, 1, 100 + i, "x");
    CHECK(hearth_store_put_batch(s, e, 5, 200, r) == HEARTH_OK);
    hearth_filter *f = filter("{}");
    int calls = 0;
    CHECK(hearth_store_query(s, &f, 1, 500, 200, stop_after_two, &calls,
                             NULL) == HEARTH_OK);
    CHECK(calls == 2);
    CHECK(hearth_store_query(s, &f, 1, 500, 200, fail_cb, NULL, NULL) ==
          HEARTH_EIO);
    hearth_filter_free(f);
    for (int i = 0; i < 5; i++)
        hearth_event_free(e[i]);
    hearth_store_close(s);
    rm_dir(dir);
}

/* ---- replaceable and addressable ---- */

static hearth_event *addressable(const struct key *k, int64_t ts,
                                 const char *d, const char *t)
{
    hearth_event *e = ev_new(30023, ts, "article");
    if (d)
        hearth_event_add_tagv(e, "d", d, NULL);
    hearth_event_add_tagv(e, "t", t, NULL);
    return ev_sign(e, k);
}

/* two kind-0 events of one author with the same created_at, ordered by id */
static void same_second_pair(const struct key *k, hearth_event **lo,
                             hearth_event **hi)
{
    hearth_event *x = mk(k, 0, 500, "{\"name\":\"x\"}");
    hearth_event *y = mk(k, 0, 500, "{\"name\":\"y\"}");
    int x_lower = memcmp(x->id, y->id, 32) < 0;
    *lo = x_lower ? x : y;
    *hi = x_lower ? y : x;
}

static void test_replaceable(void)
{
    char *dir = tmp_dir();
    hearth_store *s = open_store(dir);
    struct key a, b;
    key_new(&a);
    key_new(&b);
    char j[256];

    hearth_event *v1 = mk(&a, 0, 100, "{\"name\":\"one\"}");
    hearth_event *v2 = mk(&a, 0, 200, "{\"name\":\"two\"}");
    hearth_event *other = mk(&b, 0, 150, "{\"name\":\"bob\"}");
    CHECK(status(s, v1, 1000) == HEARTH_STORE_STORED);
    CHECK(status(s, other, 1000) == HEARTH_STORE_STORED);
    hearth_store_result r = put(s, v2, 1000);
    CHECK(r.status == HEARTH_STORE_STORED && r.replaced == 1);
    CHECK(has(s, v1) == 0 && has(s, v2) == 1 && has(s, other) == 1);
    snprintf(j, sizeof j, "[{\"authors\":[\"%s\"],\"kinds\":[0]}]", a.hex);
    CHECK(nquery(s, j, 1000) == 1);
    CHECK(nquery(s, "[{\"kinds\":[0]}]", 1000) == 2);
    /* the older version arriving later is refused */
    CHECK(hearth_store_put_batch(s, &v1, 1, 1000, &r) == HEARTH_OK);
    CHECK(r.status == HEARTH_STORE_OLDER && !r.ok &&
          !strncmp(r.why, "duplicate: ", 11));
    CHECK(has(s, v1) == 0 && has(s, v2) == 1);

    /* equal created_at: the lowest id wins, whichever arrives first */
    hearth_event *lo, *hi;
    same_second_pair(&b, &lo, &hi);
    hearth_event *pair[2] = {hi, lo};
    hearth_store_result rs[2];
    CHECK(hearth_store_put_batch(s, pair, 2, 1000, rs) == HEARTH_OK);
    CHECK(rs[0].status == HEARTH_STORE_STORED);
    CHECK(rs[1].status == HEARTH_STORE_STORED && rs[1].replaced);
    CHECK(has(s, lo) == 1 && has(s, hi) == 0 && has(s, other) == 0);
    hearth_event_free(lo);
    hearth_event_free(hi);
    same_second_pair(&a, &lo, &hi);
    hearth_event *v3 = mk(&a, 0, 400, "{}");
    CHECK(status(s, v3, 1000) == HEARTH_STORE_STORED);
    CHECK(status(s, lo, 1000) == HEARTH_STORE_STORED);
    CHECK(status(s, hi, 1000) == HEARTH_STORE_OLDER);
    CHECK(has(s, lo) == 1 && has(s, hi) == 0 && has(s, v3) == 0);

    /* kind 3 and 10002 are replaceable too; kinds do not interfere */
    hearth_event *c1 = mk(&a, 3, 100, ""), *c2 = mk(&a, 3, 101, "");
    hearth_event *r1 = mk(&a, 10002, 100, ""), *r2 = mk(&a, 10002, 99, "");
    CHECK(status(s, c1, 1000) == HEARTH_STORE_STORED);
    CHECK(status(s, r1, 1000) == HEARTH_STORE_STORED);
    CHECK(status(s, c2, 1000) == HEARTH_STORE_STORED);
    CHECK(status(s, r2, 1000) == HEARTH_STORE_OLDER);
    CHECK(has(s, c1) == 0 && has(s, r1) == 1 && has(s, lo) == 1);

    /* addressable: one version per d tag; no d tag means d = "" */
    hearth_event *x1 = addressable(&a, 100, "x", "oldtag");
    hearth_event *y1 = addressable(&a, 100, "y", "ytag");
    hearth_event *x2 = addressable(&a, 300, "x", "newtag");
    hearth_event *n1 = addressable(&a, 100, NULL, "nod");
    hearth_event *n2 = addressable(&a, 101, "", "emptyd");
    hearth_event *bx = addressable(&b, 50, "x", "bobtag");
    hearth_event *all[6] = {x1, y1, bx, n1, x2, n2};
    hearth_store_result ra[6];
    CHECK(hearth_store_put_batch(s, all, 6, 1000, ra) == HEARTH_OK);
    for (int i = 0; i < 6; i++)
        CHECKF(ra[i].status == HEARTH_STORE_STORED, "addressable %d", i);
    CHECK(ra[4].replaced && ra[5].replaced && !ra[2].replaced);
    CHECK(has(s, x1) == 0 && has(s, x2) && has(s, y1) && has(s, bx));
    CHECK(has(s, n1) == 0 && has(s, n2) == 1);
    /* the replaced version left no index entry behind */
    hearth_store_stats st;
    struct got g;
    CHECK(run(s, "[{\"#t\":[\"oldtag\"]}]", 500, 1000, &g, &st) == 0);
    CHECK(g.n == 0 && st.rows_scanned == 0);
    CHECK(nquery(s, "[{\"#t\":[\"newtag\"]}]", 1000) == 1);
    CHECK(count_of(s, "{\"kinds\":[30023]}", 1000) == 4);
    CHECK(status(s, x1, 1000) == HEARTH_STORE_OLDER);

    hearth_event *evs[] = {v1, v2, other, lo, hi, v3, c1, c2, r1, r2,
                           x1, y1, x2, n1, n2, bx};
    for (size_t i = 0; i < sizeof evs / sizeof *evs; i++)
        hearth_event_free(evs[i]);
    hearth_store_close(s);
    rm_dir(dir);
}

static void test_ephemeral(void)
{
    char *dir = tmp_dir();
    hearth_store *s = open_store(dir);
    struct key a;
    key_new(&a);
    hearth_event *e = mk(&a, 20001, 100, "now only");
    hearth_store_result r = put(s, e, 1000);
    CHECK(r.status == HEARTH_STORE_EPHEMERAL && r.ok);
    CHECK(has(s, e) == 0);
    CHECK(nquery(s, "[{}]", 1000) == 0);
    hearth_event_free(e);
    hearth_store_close(s);
    rm_dir(dir);
}

/* ---- NIP-09 ---- */

static hearth_event *deletion(const struct key *k, int64_t ts,
                              const char *tag, const char *value)
{
    hearth_event *e = ev_new(5, ts, "");
    hearth_event_add_tagv(e, tag, value, NULL);
    return ev_sign(e, k);
}

static hearth_event *deletion_of(const struct key *k, int64_t ts,
                                 const hearth_event *target)
{
    char hex[65];
    id_hex(target, hex);
    return deletion(k, ts, "e", hex);
}

static void test_deletion_by_id(void)
{
    char *dir = tmp_dir();
    hearth_store *s = open_store(dir);
    struct key a, b;
    key_new(&a);
    key_new(&b);
    hearth_event *a1 = mk(&a, 1, 100, "mine");
    hearth_event *a2 = mk(&a, 1, 101, "mine too");
    hearth_event *b1 = mk(&b, 1, 102, "bob's");
    hearth_event *later = mk(&a, 1, 103, "not published yet");
    hearth_event *in[3] = {a1, a2, b1};
    hearth_store_result r[3];
    CHECK(hearth_store_put_batch(s, in, 3, 1000, r) == HEARTH_OK);

    /* a deletes a1 and tries b1; one deletion, two e tags */
    hearth_event *del = ev_new(5, 200, "spam");
    char h1[65], hb[65], hl[65];
    id_hex(a1, h1);
    id_hex(b1, hb);
    id_hex(later, hl);
    hearth_event_add_tagv(del, "e", h1, NULL);
    hearth_event_add_tagv(del, "e", hb, NULL);
    hearth_event_add_tagv(del, "e", hl, NULL);
    hearth_event_add_tagv(del, "k", "1", NULL);
    ev_sign(del, &a);
    CHECK(status(s, del, 1000) == HEARTH_STORE_STORED);
    CHECK(has(s, a1) == 0 && has(s, a2) == 1 && has(s, b1) == 1);
    CHECK(has(s, del) == 1);
    CHECK(nquery(s, "[{\"kinds\":[1]}]", 1000) == 2);
    CHECK(nquery(s, "[{\"kinds\":[5]}]", 1000) == 1);
    /* re-publication is refused, also of one deleted before it arrived */
    hearth_store_result rr = put(s, a1, 1000);
    CHECK(rr.status == HEARTH_STORE_DELETED && !rr.ok &&
          !strncmp(rr.why, "blocked: ", 9));
    CHECK(status(s, later, 1000) == HEARTH_STORE_DELETED);
    CHECK(has(s, a1) == 0 && has(s, later) == 0);

    /* b cannot delete a's events */
    hearth_event *bdel = deletion_of(&b, 300, a2);
    CHECK(status(s, bdel, 1000) == HEARTH_STORE_STORED);
    CHECK(has(s, a2) == 1);

    /* deleting a deletion has no effect, even before it arrives */
    hearth_event *dd = deletion_of(&a, 400, del);
    CHECK(status(s, dd, 1000) == HEARTH_STORE_STORED);
    CHECK(has(s, del) == 1);
    hearth_event *d3 = deletion_of(&a, 500, a2);
    hearth_event *dd3 = deletion_of(&a, 450, d3);
    CHECK(status(s, dd3, 1000) == HEARTH_STORE_STORED);
    CHECK(status(s, d3, 1000) == HEARTH_STORE_STORED);
    CHECK(has(s, a2) == 0 && has(s, d3) == 1);

    /* within one batch: an event and its deletion */
    hearth_event *a3 = mk(&a, 1, 600, "short-lived");
    hearth_event *d4 = deletion_of(&a, 601, a3);
    hearth_event *both[3] = {a3, d4, a3};
    hearth_store_result rb[3];
    CHECK(hearth_store_put_batch(s, both, 3, 1000, rb) == HEARTH_OK);
    CHECK(rb[0].status == HEARTH_STORE_STORED &&
          rb[1].status == HEARTH_STORE_STORED &&
          rb[2].status == HEARTH_STORE_DELETED);
    CHECK(has(s, a3) == 0);

    hearth_event *evs[] = {a1, a2, b1, later, del, bdel, dd, d3, dd3, a3, d4};
    for (size_t i = 0; i < sizeof evs / sizeof *evs; i++)
        hearth_event_free(evs[i]);
    hearth_store_close(s);
    rm_dir(dir);
}

static void test_deletion_by_address(void)
{
    char *dir = tmp_dir();
    hearth_store *s = open_store(dir);
    struct key a, b;
    key_new(&a);
    key_new(&b);
    char addr[128], baddr[128], raddr[128];
    snprintf(addr, sizeof addr, "30023:%s:post", a.hex);
    snprintf(baddr, sizeof baddr, "30023:%s:post", b.hex);
    snprintf(raddr, sizeof raddr, "10002:%s:", a.hex);

    hearth_event *p100 = addressable(&a, 100, "post", "t");
    hearth_event *other = addressable(&a, 100, "other", "t");
    hearth_event *bp = addressable(&b, 100, "post", "t");
    hearth_event *relays = mk(&a, 10002, 100, "");
    hearth_event *in[4] = {p100, other, bp, relays};
    hearth_store_result r[4];
    CHECK(hearth_store_put_batch(s, in, 4, 1000, r) == HEARTH_OK);

    /* b cannot delete a's address; a can, up to the deletion's time */
    hearth_event *bdel = deletion(&b, 150, "a", addr);
    hearth_event *adel = deletion(&a, 150, "a", addr);
    hearth_event *rdel = deletion(&a, 150, "a", raddr);
    CHECK(status(s, bdel, 1000) == HEARTH_STORE_STORED);
    CHECK(has(s, p100) == 1);
    CHECK(status(s, adel, 1000) == HEARTH_STORE_STORED);
    CHECK(status(s, rdel, 1000) == HEARTH_STORE_STORED);
    CHECK(has(s, p100) == 0 && has(s, other) == 1 && has(s, bp) == 1);
    CHECK(has(s, relays) == 0);

    hearth_event *p120 = addressable(&a, 120, "post", "t");
    hearth_event *p150 = addressable(&a, 150, "post", "t");
    hearth_event *p200 = addressable(&a, 200, "post", "t");
    CHECK(status(s, p120, 1000) == HEARTH_STORE_DELETED);
    CHECK(status(s, p150, 1000) == HEARTH_STORE_DELETED);
    CHECK(status(s, p200, 1000) == HEARTH_STORE_STORED);
    /* a deletion whose time is before the stored version leaves it */
    hearth_event *old_del = deletion(&a, 180, "a", addr);
    CHECK(status(s, old_del, 1000) == HEARTH_STORE_STORED);
    CHECK(has(s, p200) == 1);
    CHECK(nquery(s, "[{\"kinds\":[30023]}]", 1000) == 3);
    /* malformed a tags are ignored */
    hearth_event *junk = deletion(&a, 190, "a", "30023:nothex:post");
    CHECK(status(s, junk, 1000) == HEARTH_STORE_STORED);

    hearth_event *evs[] = {p100, other, bp, relays, bdel, adel, rdel, p120,
                           p150, p200, old_del, junk};
    for (size_t i = 0; i < sizeof evs / sizeof *evs; i++)
        hearth_event_free(evs[i]);
    hearth_store_close(s);
    rm_dir(dir);
}

/* ---- NIP-40 ---- */

static hearth_event *expiring(const struct key *k, int64_t ts, int64_t at)
{
    char v[32];
    snprintf(v, sizeof v, "%lld", (long long)at);
    hearth_event *e = ev_new(1, ts, "soon gone");
    hearth_event_add_tagv(e, "expiration", v, NULL);
    return ev_sign(e, k);
}

static void test_expiration(void)
{
    char *dir = tmp_dir();
    hearth_store *s = open_store(dir);
    struct key a;
    key_new(&a);
    hearth_event *past = expiring(&a, 100, 900);
    hearth_event *now = expiring(&a, 100, 1000);
    hearth_store_result r = put(s, past, 1000);
    CHECK(r.status == HEARTH_STORE_EXPIRED && !r.ok &&
          !strncmp(r.why, "invalid: ", 9));
    CHECK(status(s, now, 1000) == HEARTH_STORE_EXPIRED);
    CHECK(has(s, past) == 0);

    hearth_event *e[5], *keep = mk(&a, 1, 100, "stays");
    for (int i = 0; i < 5; i++)
        e[i] = expiring(&a, 100 + i, 2000 + i);
    hearth_store_result rs[5];
    CHECK(hearth_store_put_batch(s, e, 5, 1000, rs) == HEARTH_OK);
    CHECK(status(s, keep, 1000) == HEARTH_STORE_STORED);
    CHECK(nquery(s, "[{}]", 1999) == 6);
    CHECK(nquery(s, "[{}]", 2002) == 3);  /* 2000..2002 have expired */
    CHECK(count_of(s, "{\"kinds\":[1]}", 2002) == 3);

    size_t purged = 99;
    CHECK(hearth_store_purge_expired(s, 1999, 10, &purged) == 0);
    CHECK(purged == 0);
    CHECK(hearth_store_purge_expired(s, 2003, 2, &purged) == 0);
    CHECK(purged == 2 && has(s, e[0]) == 0 && has(s, e[1]) == 0);
    CHECK(has(s, e[2]) == 1);
    CHECK(hearth_store_purge_expired(s, 2003, 2, &purged) == 0);
    CHECK(purged == 2);
    CHECK(hearth_store_purge_expired(s, 2003, 2, &purged) == 0);
    CHECK(purged == 0 && has(s, e[4]) == 1 && has(s, keep) == 1);
    /* purged events left no index entries */
    hearth_store_stats st;
    struct got g;
    CHECK(run(s, "[{\"kinds\":[1]}]", 500, 0, &g, &st) == 0);
    CHECK(g.n == 2 && st.rows_scanned == 2);

    /* an expired replaceable version does not hide an older live one */
    hearth_event *p1 = ev_new(0, 200, "{}");
    hearth_event_add_tagv(p1, "expiration", "3000", NULL);
    ev_sign(p1, &a);
    hearth_event *p0 = mk(&a, 0, 100, "{}");
    CHECK(status(s, p1, 1000) == HEARTH_STORE_STORED);
    CHECK(status(s, p0, 1000) == HEARTH_STORE_OLDER);
    hearth_store_result rp = put(s, p0, 3000);
    CHECK(rp.status == HEARTH_STORE_STORED && rp.replaced);
    CHECK(has(s, p1) == 0 && has(s, p0) == 1);
    CHECK(hearth_store_put_batch(s, NULL, 0, 0, NULL) == HEARTH_OK);

    hearth_event_free(p0);
    hearth_event_free(p1);
    hearth_event_free(past);
    hearth_event_free(now);
    hearth_event_free(keep);
    for (int i = 0; i < 5; i++)
        hearth_event_free(e[i]);
    hearth_store_close(s);
    rm_dir(dir);
}

/* ---- plans and scan counts on thousands of events ---- */

#define NBIG 3000

static void expect_plan(const char *json, enum hearth_store_index index,
                        size_t ranges)
{
    hearth_filter *f = filter(json);
    hearth_store_plan p;
    hearth_store_explain(f, &p);
    CHECKF(p.index == index && p.ranges == ranges, "%s: plan %s/%zu", json,
           hearth_store_index_name(p.index), p.ranges);
    hearth_filter_free(f);
}

static hearth_store_stats stats_of(hearth_store *s, const char *json,
                                   size_t *rows)
{
    hearth_store_stats st;
    struct got g;
    char arr[1024];
    snprintf(arr, sizeof arr, "[%s]", json);
    CHECK(run(s, arr, 500, 0, &g, &st) == HEARTH_OK);
    *rows = g.n;
    return st;
}

static void test_plans(void)
{
    char *dir = tmp_dir();
    hearth_store *s = open_store(dir);
    struct key k[10];
    for (int i = 0; i < 10; i++)
        key_new(&k[i]);
    /* author i%10, kind 1 or (every 50th) 7, tag "rare" on every 100th */
    hearth_event **ev = malloc(NBIG * sizeof *ev);
    for (int i = 0; i < NBIG; i++) {
        hearth_event *e = ev_new(i % 50 == 0 ? 7 : 1, 10000 + i, "bulk");
        char t[16];
        snprintf(t, sizeof t, "t%d", i % 30);
        hearth_event_add_tagv(e, "t", t, NULL);
        if (i % 100 == 0)
            hearth_event_add_tagv(e, "t", "rare", NULL);
        ev[i] = ev_sign(e, &k[i % 10]);
    }
    hearth_store_result *rs = malloc(NBIG * sizeof *rs);
    CHECK(hearth_store_put_batch(s, ev, NBIG, 0, rs) == HEARTH_OK);

    char j[2048], id[65];
    id_hex(ev[1234], id);
    snprintf(j, sizeof j, "{\"ids\":[\"%s\"],\"authors\":[\"%s\"]}", id,
             k[0].hex);
    expect_plan(j, HEARTH_INDEX_IDS, 1);
    snprintf(j, sizeof j, "{\"authors\":[\"%s\",\"%s\"],\"kinds\":[1,7,9]}",
             k[0].hex, k[1].hex);
    expect_plan(j, HEARTH_INDEX_PUBKEY_KIND, 6);
    snprintf(j, sizeof j, "{\"authors\":[\"%s\"],\"#t\":[\"rare\"]}",
             k[0].hex);
    expect_plan(j, HEARTH_INDEX_PUBKEY, 1);
    expect_plan("{\"#t\":[\"a\",\"b\"],\"#r\":[\"x\"],\"kinds\":[1]}",
                HEARTH_INDEX_TAG, 1);
    expect_plan("{\"kinds\":[1,7],\"since\":5}", HEARTH_INDEX_KIND, 2);
    expect_plan("{\"since\":5,\"limit\":3}", HEARTH_INDEX_CREATED, 1);
    expect_plan("{\"kinds\":[1],\"authors\":[]}", HEARTH_INDEX_NONE, 0);

    size_t rows;
    hearth_store_stats st;
    /* ids: one lookup */
    snprintf(j, sizeof j, "{\"ids\":[\"%s\"]}", id);
    st = stats_of(s, j, &rows);
    CHECK(rows == 1 && st.rows_scanned == 1 && st.records_read == 1);
    /* one author: its 300 rows and nothing else */
    snprintf(j, sizeof j, "{\"authors\":[\"%s\"]}", k[3].hex);
    st = stats_of(s, j, &rows);
    CHECKF(rows == 300 && st.rows_scanned == 300 && st.records_read == 300,
           "author: %zu rows, %llu scanned", rows,
           (unsigned long long)st.rows_scanned);
    /* author + kind: only that pair's rows (author 0 has all the kind 7) */
    snprintf(j, sizeof j, "{\"authors\":[\"%s\"],\"kinds\":[7]}", k[0].hex);
    st = stats_of(s, j, &rows);
    CHECKF(rows == 60 && st.rows_scanned == 60, "pair: %zu, %llu", rows,
           (unsigned long long)st.rows_scanned);
    /* a rare tag */
    st = stats_of(s, "{\"#t\":[\"rare\"]}", &rows);
    CHECK(rows == 30 && st.rows_scanned == 30);
    /* kinds: the 60 kind-7 rows */
    st = stats_of(s, "{\"kinds\":[7]}", &rows);
    CHECK(rows == 60 && st.rows_scanned == 60);
    /* a limit stops the walk: the newest 10 of 3000 */
    st = stats_of(s, "{\"limit\":10}", &rows);
    CHECKF(rows == 10 && st.rows_scanned <= 11, "limit: %llu scanned",
           (unsigned long long)st.rows_scanned);
    /* merging ten authors newest first reads little more than the limit */
    char *p = j + snprintf(j, sizeof j, "{\"authors\":[");
    for (int i = 0; i < 10; i++)
        p += sprintf(p, "%s\"%s\"", i ? "," : "", k[i].hex);
    sprintf(p, "],\"limit\":25}");
    st = stats_of(s, j, &rows);
    CHECKF(rows == 25 && st.rows_scanned <= 35, "merge: %llu scanned",
           (unsigned long long)st.rows_scanned);
    /* since/until narrow the key range itself */
    st = stats_of(s, "{\"kinds\":[1],\"since\":10100,\"until\":10199}", &rows);
    CHECKF(rows == 98 && st.rows_scanned == 98, "range: %zu, %llu", rows,
           (unsigned long long)st.rows_scanned);
    /* the tag index answers a tag + kind filter, matching removes kind 1 */
    st = stats_of(s, "{\"#t\":[\"rare\"],\"kinds\":[7]}", &rows);
    CHECK(rows == 30 && st.rows_scanned == 30 && st.matched == 30);
    st = stats_of(s, "{\"#t\":[\"rare\"],\"kinds\":[1]}", &rows);
    CHECK(rows == 0 && st.rows_scanned == 30 && st.matched == 0);
    /* count walks the same index */
    hearth_filter *f = filter("{\"#t\":[\"t7\"]}");
    uint64_t c;
    CHECK(hearth_store_count(s, &f, 1, 0, &c, &st) == HEARTH_OK);
    CHECK(c == 100 && st.rows_scanned == 100);
    hearth_filter_free(f);

    for (int i = 0; i < NBIG; i++)
        hearth_event_free(ev[i]);
    free(ev);
    free(rs);
    hearth_store_close(s);
    rm_dir(dir);
}

/* ---- persistence, kill -9, large batches ---- */

static void test_persistence(void)
{
    char *dir = tmp_dir();
    struct key a;
    key_new(&a);
    enum { N = 2000 };
    hearth_event **ev = malloc(N * sizeof *ev);
    hearth_store_result *rs = malloc(N * sizeof *rs);
    char content[400];
    memset(content, 'c', sizeof content - 1);
    content[sizeof content - 1] = '\0';
    for (int i = 0; i < N; i++) {
        hearth_event *e = ev_new(1, 5000 + i % 97, content);
        char t[16];
        snprintf(t, sizeof t, "n%d", i);
        hearth_event_add_tagv(e, "t", t, NULL);
        ev[i] = ev_sign(e, &a);
    }
    hearth_store *s = open_store(dir);
    CHECK(hearth_store_put_batch(s, ev, N, 0, rs) == HEARTH_OK);
    int stored = 0;
    uint64_t max_serial = 0;
    for (int i = 0; i < N; i++) {
        stored += rs[i].status == HEARTH_STORE_STORED;
        if (rs[i].serial > max_serial)
            max_serial = rs[i].serial;
    }
    CHECK(stored == N);
    hearth_store_close(s);

    s = open_store(dir);
    CHECK(count_of(s, "{}", 0) == N);
    CHECK(nquery(s, "[{\"#t\":[\"n1999\"]}]", 0) == 1);
    int all = 1;
    for (int i = 0; i < N; i += 7)
        all &= has(s, ev[i]) == 1;
    CHECK(all);
    /* serials keep growing across opens */
    hearth_event *more = mk(&a, 1, 1, "after reopen");
    hearth_store_result r = put(s, more, 0);
    CHECK(r.status == HEARTH_STORE_STORED && r.serial > max_serial);
    hearth_store_close(s);

    /* a store of another format is refused, not misread */
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_val k = {6, "format"}, v = {4, "\0\0\0\x09"};
    CHECK(mdb_env_create(&env) == 0 && mdb_env_set_maxdbs(env, 16) == 0);
    CHECK(mdb_env_open(env, dir, 0, 0600) == 0);
    CHECK(mdb_txn_begin(env, NULL, 0, &txn) == 0);
    CHECK(mdb_dbi_open(txn, "meta", 0, &dbi) == 0);
    CHECK(mdb_put(txn, dbi, &k, &v, 0) == 0 && mdb_txn_commit(txn) == 0);
    mdb_env_close(env);
    s = (hearth_store *)1;
    CHECK(hearth_store_open(dir, NULL, &s) == HEARTH_EINVAL && !s);

    for (int i = 0; i < N; i++)
        hearth_event_free(ev[i]);
    hearth_event_free(more);
    free(ev);
    free(rs);
    rm_dir(dir);
}

/* a full map fails the whole batch and leaves the store as it was */
static void test_map_full(void)
{
    char *dir = tmp_dir();
    hearth_store_opts o = {1u << 20, 0};
    hearth_store *s = NULL;
    CHECK(hearth_store_open(dir, &o, &s) == HEARTH_OK);
    if (!s)
        exit(1);
    struct key a;
    key_new(&a);
    char content[400];
    memset(content, 'z', sizeof content - 1);
    content[sizeof content - 1] = '\0';
    hearth_event *ev[50];
    hearth_store_result rs[50];
    size_t stored = 0;
    int rc = HEARTH_OK;
    for (int b = 0; b < 60 && rc == HEARTH_OK; b++) {
        for (int i = 0; i < 50; i++)
            ev[i] = mk(&a, 1, 50 * b + i, content);
        rc = hearth_store_put_batch(s, ev, 50, 0, rs);
        if (rc == HEARTH_OK)
            stored += 50;
        else
            CHECK(has(s, ev[0]) == 0 && rs[0].status == HEARTH_STORE_ERROR &&
                  !strcmp(rs[49].why, "error: database is full"));
        for (int i = 0; i < 50; i++)
            hearth_event_free(ev[i]);
    }
    CHECKF(rc == HEARTH_EIO && stored > 0, "rc %d after %zu", rc, stored);
    CHECK(count_of(s, "{}", 0) == stored);
    hearth_store_close(s);
    rm_dir(dir);
}

/* a child acknowledges an event after its commit and is killed with -9;
 * the event must be there, and the store writable, afterwards */
static void test_kill9(void)
{
    char *dir = tmp_dir();
    struct key a;
    key_new(&a);
    hearth_event *e = mk(&a, 1, 100, "acknowledged");
    int fd[2];
    CHECK(pipe(fd) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        hearth_store *s = NULL;
        hearth_store_result r;
        if (hearth_store_open(dir, NULL, &s) ||
            hearth_store_put_batch(s, &e, 1, 0, &r) ||
            r.status != HEARTH_STORE_STORED)
            _exit(1);
        int found; /* leave a read transaction in the pool */
        hearth_store_has_id(s, e->id, &found);
        if (write(fd[1], "k", 1) != 1)
            _exit(1);
        for (;;)
            pause();
    }
    char c = 0;
    CHECK(read(fd[0], &c, 1) == 1 && c == 'k');
    kill(pid, SIGKILL);
    int wst;
    waitpid(pid, &wst, 0);
    CHECK(WIFSIGNALED(wst) && WTERMSIG(wst) == SIGKILL);
    close(fd[0]);
    close(fd[1]);
    hearth_store *s = open_store(dir);
    CHECK(has(s, e) == 1);
    hearth_event *f = mk(&a, 1, 101, "after the crash");
    CHECK(status(s, f, 0) == HEARTH_STORE_STORED);
    hearth_store_close(s);
    hearth_event_free(e);
    hearth_event_free(f);
    rm_dir(dir);
}

/* ---- readers on other threads while a writer commits ---- */

struct reader {
    hearth_store *s;
    int failures;
    size_t last;
};

static void *reader_main(void *arg)
{
    struct reader *r = arg;
    hearth_filter *f = NULL;
    hearth_filter_parse("{\"kinds\":[1]}", 13, &f, NULL);
    for (int i = 0; i < 300; i++) {
        uint64_t c = 0;
        if (hearth_store_count(r->s, &f, 1, 0, &c, NULL) != HEARTH_OK ||
            c < r->last || c % 10 != 0) /* batches of 10 are atomic */
            r->failures++;
        r->last = (size_t)c;
    }
    hearth_filter_free(f);
    return NULL;
}

static void test_threads(void)
{
    char *dir = tmp_dir();
    hearth_store *s = open_store(dir);
    struct key a;
    key_new(&a);
    hearth_event *ev[200];
    for (int i = 0; i < 200; i++)
        ev[i] = mk(&a, 1, i, "threaded");
    struct reader rd[3] = {{s, 0, 0}, {s, 0, 0}, {s, 0, 0}};
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&th[i], NULL, reader_main, &rd[i]);
    hearth_store_result rs[10];
    int ok = 1;
    for (int b = 0; b < 20; b++)
        ok &= hearth_store_put_batch(s, ev + 10 * b, 10, 0, rs) == HEARTH_OK;
    CHECK(ok);
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        CHECKF(rd[i].failures == 0, "reader %d: %d failures", i,
               rd[i].failures);
    }
    CHECK(count_of(s, "{}", 0) == 200);
    for (int i = 0; i < 200; i++)
        hearth_event_free(ev[i]);
    hearth_store_close(s);
    rm_dir(dir);
}

int main(void)
{
    test_put_get();
    test_queries();
    test_callback_stops();
    test_replaceable();
    test_ephemeral();
    test_deletion_by_id();
    test_deletion_by_address();
    test_expiration();
    test_plans();
    test_persistence();
    test_map_full();
    test_kill9();
    test_threads();
    return tap_done();
}
