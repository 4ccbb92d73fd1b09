/* The relay's message handling without sockets (hearth_relay_conn_*):
 * every answer and refusal, limits, live fan-out, AUTH, the threaded
 * pipeline, and the slow-reader bound. The socket side is covered by
 * tests/interop/relay_*.mjs. */
#include "tap.h"
#include "tmpdir.h"

#include "hearth/error.h"
#include "hearth/hex.h"
#include "hearth/keys.h"
#include "hearth/message.h"
#include "hearth/relay.h"
#include "hearth/store.h"

#include <dirent.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

/* ---- fixtures ---- */

struct fx {
    char dir[4096];
    hearth_store *store;
    hearth_relay *relay;
};


/* a relay on a fresh store; o may set anything (threads 0 unless set) */
static void fx_open(struct fx *f, hearth_relay_opts *o)
{
    const char *base = getenv("TMPDIR");
    snprintf(f->dir, sizeof f->dir, "%s/hearth-relay-XXXXXX",
             base ? base : "/tmp");
    if (!mkdtemp(f->dir)) {
        perror("mkdtemp");
        exit(1);
    }
    if (hearth_store_open(f->dir, NULL, &f->store)) {
        fprintf(stderr, "cannot open store\n");
        exit(1);
    }
    int rc = hearth_relay_new(NULL, f->store, o, &f->relay);
    CHECKF(rc == HEARTH_OK, "relay_new: %s", hearth_strerror(rc));
    if (rc)
        exit(1);
}

static void fx_close(struct fx *f)
{
    hearth_relay_free(f->relay);
    hearth_store_close(f->store);
    tap_rmtree(f->dir);
}

static void opts(hearth_relay_opts *o)
{
    hearth_relay_opts_init(o);
    o->threads = 0;
    o->rate_conn = 0;
    o->rate_pubkey = 0;
}

static uint8_t key_a[32], key_b[32];

static char *signed_event(const uint8_t sk[32], uint32_t kind,
                          const char *content)
{
    hearth_event *ev = NULL;
    hearth_buf b = HEARTH_BUF_INIT;
    hearth_event_new(kind, (int64_t)time(NULL), content, strlen(content), &ev);
    hearth_event_sign(ev, sk);
    hearth_buf_adds(&b, "[\"EVENT\",");
    hearth_event_to_json(ev, &b);
    hearth_buf_addc(&b, ']');
    hearth_event_free(ev);
    return b.p;
}

/* the 64-hex id inside an ["EVENT",{"id":"..."}] text */
static void id_of(const char *msg, char hex[65])
{
    const char *p = strstr(msg, "\"id\":\"");
    memcpy(hex, p + 6, 64);
    hex[64] = '\0';
}

/* feed one message; return everything the relay sent since (caller frees) */
static char *talk(hearth_relay_conn *c, const char *msg)
{
    hearth_buf out = HEARTH_BUF_INIT;
    if (msg)
        hearth_relay_conn_input(c, msg, strlen(msg));
    hearth_relay_conn_output(c, &out);
    return out.p ? out.p : strdup("");
}

static void expect_at(int line, hearth_relay_conn *c, const char *msg,
                      const char *needle)
{
    char *got = talk(c, msg);
    CHECKF(strstr(got, needle) != NULL, "line %d: sent %.200s\n  want %s\n"
           "  got %.400s", line, msg ? msg : "(nothing)", needle, got);
    free(got);
}
#define EXPECT(c, msg, needle) expect_at(__LINE__, (c), (msg), (needle))

/* ---- tests ---- */

static void test_basics(void)
{
    struct fx f;
    hearth_relay_opts o;
    hearth_relay_conn *c;
    char id[65], want[160];
    opts(&o);
    fx_open(&f, &o);
    hearth_relay_conn_new(f.relay, &c);
    EXPECT(c, NULL, "[\"AUTH\",\"");

    char *ev = signed_event(key_a, 1, "hello");
    id_of(ev, id);
    snprintf(want, sizeof want, "[\"OK\",\"%s\",true,\"\"]", id);
    EXPECT(c, ev, want);
    snprintf(want, sizeof want, "[\"OK\",\"%s\",true,\"duplicate:", id);
    EXPECT(c, ev, want);

    EXPECT(c, "[\"REQ\",\"s\",{\"kinds\":[1]}]", "[\"EVENT\",\"s\",{\"id\":");
    EXPECT(c, "[\"REQ\",\"s\",{\"kinds\":[2]}]", "[\"EOSE\",\"s\"]");
    EXPECT(c, "[\"COUNT\",\"n\",{\"kinds\":[1]}]", "[\"COUNT\",\"n\",{\"count\":1}]");

    /* a tampered copy: same id, other content */
    char *bad = strdup(ev);
    char *h = strstr(bad, "hello");
    h[0] = 'j';
    char *ev2 = signed_event(key_a, 1, "hello two");
    char *bad2 = strdup(ev2);
    h = strstr(bad2, "hello");
    h[0] = 'j';
    EXPECT(c, bad2, "false,\"invalid: event id does not match");
    EXPECT(c, bad, "duplicate:"); /* the id is known: no verification spent */

    EXPECT(c, "[\"EVENT\",{\"id\":\"" "0123456789abcdef0123456789abcdef"
              "0123456789abcdef0123456789abcdef\",\"kind\":\"x\"}]",
           "[\"OK\",\"0123456789abcdef0123456789abcdef"
           "0123456789abcdef0123456789abcdef\",false,\"invalid:");
    EXPECT(c, "[\"REQ\",\"q\",{\"search\":\"x\"}]",
           "[\"CLOSED\",\"q\",\"unsupported: search");
    EXPECT(c, "[\"REQ\"", "[\"NOTICE\",\"invalid:");
    EXPECT(c, "nonsense", "[\"NOTICE\",\"invalid:");

    hearth_relay_stats st;
    hearth_relay_get_stats(f.relay, &st);
    CHECK(st.events_stored == 1);
    CHECK(st.duplicates == 2);
    CHECK(st.connections == 1);
    free(ev);
    free(ev2);
    free(bad);
    free(bad2);
    hearth_relay_conn_free(c);
    fx_close(&f);
}

static void test_limits(void)
{
    struct fx f;
    hearth_relay_opts o;
    hearth_relay_conn *c;
    opts(&o);
    o.max_subs = 2;
    o.max_filters = 2;
    o.max_message = 2048;
    o.rate_conn = 1; /* a burst of two, then one a second */
    fx_open(&f, &o);
    hearth_relay_conn_new(f.relay, &c);
    free(talk(c, NULL));

    EXPECT(c, "[\"REQ\",\"a\",{},{},{}]", "[\"CLOSED\",\"a\",\"invalid: too many filters");
    EXPECT(c, "[\"REQ\",\"a\",{\"limit\":1}]", "[\"EOSE\",\"a\"]");
    EXPECT(c, "[\"REQ\",\"b\",{\"limit\":1}]", "[\"EOSE\",\"b\"]");
    EXPECT(c, "[\"REQ\",\"c\",{\"limit\":1}]", "[\"CLOSED\",\"c\",\"rate-limited:");
    EXPECT(c, "[\"REQ\",\"a\",{\"limit\":2}]", "[\"EOSE\",\"a\"]"); /* replaces */
    EXPECT(c, "[\"CLOSE\",\"b\"]", "");
    EXPECT(c, "[\"REQ\",\"c\",{\"limit\":1}]", "[\"EOSE\",\"c\"]");

    char *e1 = signed_event(key_a, 1, "r1"), *e2 = signed_event(key_a, 1, "r2");
    char *e3 = signed_event(key_a, 1, "r3");
    EXPECT(c, e1, "true");
    EXPECT(c, e2, "true");
    EXPECT(c, e3, "false,\"rate-limited:");

    char big[4096];
    memset(big, ' ', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    big[0] = '[';
    CHECK(hearth_relay_conn_input(c, big, strlen(big)) == 1);
    EXPECT(c, NULL, "[\"NOTICE\",\"invalid: message too large");
    CHECK(hearth_relay_conn_input(c, e1, strlen(e1)) == 1); /* closing */
    free(e1);
    free(e2);
    free(e3);
    hearth_relay_conn_free(c);
    fx_close(&f);
}

static void test_fanout_and_kinds(void)
{
    struct fx f;
    hearth_relay_opts o;
    hearth_relay_conn *pub, *sub;
    opts(&o);
    fx_open(&f, &o);
    hearth_relay_conn_new(f.relay, &pub);
    hearth_relay_conn_new(f.relay, &sub);
    free(talk(pub, NULL));
    free(talk(sub, NULL));
    EXPECT(sub, "[\"REQ\",\"live\",{\"kinds\":[1,20001]}]", "EOSE");
    char *n = signed_event(key_a, 1, "live note");
    char *other = signed_event(key_a, 7, "not matched");
    char *eph = signed_event(key_b, 20001, "ephemeral");
    free(talk(pub, n));
    free(talk(pub, other));
    EXPECT(pub, eph, "true");
    char *got = talk(sub, NULL);
    CHECK(strstr(got, "live note") != NULL);
    CHECK(strstr(got, "ephemeral") != NULL);
    CHECK(strstr(got, "not matched") == NULL);
    free(got);
    /* ephemeral is not stored */
    EXPECT(sub, "[\"COUNT\",\"c\",{\"kinds\":[20001]}]", "{\"count\":0}");
    EXPECT(sub, "[\"CLOSE\",\"live\"]", "");
    char *n2 = signed_event(key_b, 1, "after close");
    free(talk(pub, n2));
    got = talk(sub, NULL);
    CHECK(strstr(got, "after close") == NULL);
    free(got);
    /* kind 22242 only in AUTH */
    char *a = signed_event(key_a, 22242, "");
    EXPECT(pub, a, "false,\"invalid: kind 22242");
    free(a);
    free(n);
    free(n2);
    free(other);
    free(eph);
    hearth_relay_conn_free(pub);
    hearth_relay_conn_free(sub);
    fx_close(&f);
}

/* the challenge out of ["AUTH","..."] */
static void challenge_of(const char *out, char ch[64])
{
    const char *p = strstr(out, "[\"AUTH\",\"") + 9;
    size_t n = (size_t)(strchr(p, '"') - p);
    memcpy(ch, p, n);
    ch[n] = '\0';
}

static char *auth_msg(hearth_relay *r, const char *challenge,
                      const uint8_t sk[32])
{
    hearth_event *ev = NULL;
    hearth_buf b = HEARTH_BUF_INIT;
    hearth_auth_build(hearth_relay_url(r), challenge, sk, (int64_t)time(NULL),
                      &ev);
    hearth_msg_build_auth(ev, &b);
    hearth_event_free(ev);
    return b.p;
}

static void test_auth(void)
{
    struct fx f;
    hearth_relay_opts o;
    hearth_relay_conn *c;
    char ch[64];
    opts(&o);
    o.auth = HEARTH_RELAY_AUTH_ALL;
    fx_open(&f, &o);
    CHECK(strcmp(hearth_relay_url(f.relay), "ws://127.0.0.1:7447") == 0);
    hearth_relay_conn_new(f.relay, &c);
    char *hello = talk(c, NULL);
    challenge_of(hello, ch);
    free(hello);
    CHECK(strlen(ch) == 32);
    char *ev = signed_event(key_a, 1, "needs auth");
    EXPECT(c, ev, "false,\"auth-required:");
    EXPECT(c, "[\"REQ\",\"r\",{}]", "[\"CLOSED\",\"r\",\"auth-required:");
    EXPECT(c, "[\"COUNT\",\"r\",{}]", "[\"CLOSED\",\"r\",\"auth-required:");
    char *wrong = auth_msg(f.relay, "not-it", key_a);
    EXPECT(c, wrong, "false,\"invalid:");
    char *right = auth_msg(f.relay, ch, key_a);
    EXPECT(c, right, "true,\"\"]");
    EXPECT(c, ev, "true,\"\"]");
    char *theirs = signed_event(key_b, 1, "someone else");
    EXPECT(c, theirs, "false,\"restricted:");
    EXPECT(c, "[\"REQ\",\"r\",{}]", "[\"EOSE\",\"r\"]");
    char *info = strstr(hearth_relay_info_json(f.relay), "\"auth_required\":true");
    CHECK(info != NULL);
    free(ev);
    free(wrong);
    free(right);
    free(theirs);
    hearth_relay_conn_free(c);
    fx_close(&f);
}

static void test_policy(void)
{
    struct fx f;
    hearth_relay_opts o;
    hearth_relay_conn *c;
    const char *why;
    opts(&o);
    o.policy.discovery = 1;
    CHECK(hearth_policy_parse_pow(&o.policy, "5970:30", &why) == HEARTH_OK);
    fx_open(&f, &o);
    hearth_relay_conn_new(f.relay, &c);
    free(talk(c, NULL));
    char *k1 = signed_event(key_a, 1, "note");
    char *pow = signed_event(key_a, 5970, "");
    char *ann = signed_event(key_a, 31990, "");
    EXPECT(c, k1, "false,\"blocked:");
    EXPECT(c, pow, "false,\"pow:");
    EXPECT(c, ann, "true");
    CHECK(strstr(hearth_relay_info_json(f.relay), "\"restricted_writes\":true"));
    free(k1);
    free(pow);
    free(ann);
    hearth_relay_conn_free(c);
    fx_close(&f);
}

/* verify threads + writer: every event gets its OK, in batches */
static void test_threads(void)
{
    struct fx f;
    hearth_relay_opts o;
    hearth_relay_conn *c[2];
    enum { N = 300 };
    opts(&o);
    o.threads = 2;
    fx_open(&f, &o);
    for (int i = 0; i < 2; i++) {
        hearth_relay_conn_new(f.relay, &c[i]);
        free(talk(c[i], NULL));
    }
    for (int i = 0; i < N; i++) {
        char content[32];
        snprintf(content, sizeof content, "threaded %d", i);
        char *ev = signed_event(i % 2 ? key_a : key_b, 1, content);
        hearth_relay_conn_input(c[i % 2], ev, strlen(ev));
        free(ev);
    }
    for (int spin = 0; spin < 5000 && hearth_relay_poll(f.relay); spin++)
        usleep(2000);
    CHECK(hearth_relay_poll(f.relay) == 0);
    int oks = 0;
    for (int i = 0; i < 2; i++) {
        char *out = talk(c[i], NULL);
        for (char *p = out; (p = strstr(p, ",true,\"\"]")); p++)
            oks++;
        free(out);
    }
    CHECKF(oks == N, "%d OKs", oks);
    hearth_relay_stats st;
    hearth_relay_get_stats(f.relay, &st);
    CHECK(st.events_stored == N);
    CHECKF(st.batches >= 1 && st.batches <= N, "%llu batches",
           (unsigned long long)st.batches);
    /* committed, OK not yet delivered, then a REQ: the event is in the
     * answer and must not come again live */
    char *late = signed_event(key_a, 1, "committed before the REQ");
    char lid[65];
    uint8_t lraw[32];
    id_of(late, lid);
    hearth_hex_decode(lid, 64, lraw, 32, 0);
    hearth_relay_conn_input(c[0], late, strlen(late));
    int found = 0;
    for (int spin = 0; spin < 5000 && !found; spin++) {
        hearth_store_has_id(f.store, lraw, &found);
        if (!found)
            usleep(1000);
    }
    CHECK(found);
    char req[128];
    snprintf(req, sizeof req, "[\"REQ\",\"late\",{\"ids\":[\"%s\"]}]", lid);
    EXPECT(c[1], req, lid);
    for (int spin = 0; spin < 5000 && hearth_relay_poll(f.relay); spin++)
        usleep(1000);
    char *again = talk(c[1], NULL);
    CHECKF(strstr(again, lid) == NULL, "sent twice: %.300s", again);
    free(again);
    free(late);
    /* a connection that goes away with events in flight */
    char *ev = signed_event(key_a, 1, "orphan");
    hearth_relay_conn_input(c[0], ev, strlen(ev));
    hearth_relay_conn_free(c[0]);
    free(ev);
    hearth_relay_stop(f.relay); /* drains: the orphan is still committed */
    hearth_relay_poll(f.relay);
    hearth_relay_get_stats(f.relay, &st);
    CHECK(st.events_stored == N + 2);
    hearth_relay_conn_free(c[1]);
    fx_close(&f);
}

static void test_slow_reader(void)
{
    struct fx f;
    hearth_relay_opts o;
    hearth_relay_conn *pub, *sub;
    opts(&o);
    o.max_message = 1024;
    o.max_inflight = 4;
    o.max_output = 1; /* raised to the floor: 2 messages + in-flight OKs */
    fx_open(&f, &o);
    hearth_relay_conn_new(f.relay, &pub);
    hearth_relay_conn_new(f.relay, &sub);
    free(talk(pub, NULL));
    EXPECT(sub, "[\"REQ\",\"all\",{\"kinds\":[1]}]", "EOSE");
    int closing = 0;
    for (int i = 0; i < 40 && !closing; i++) {
        char content[300];
        memset(content, 'x', sizeof content - 1);
        content[sizeof content - 1] = '\0';
        content[0] = (char)('a' + i % 26);
        content[1] = (char)('a' + i / 26);
        char *ev = signed_event(key_a, 1, content);
        free(talk(pub, ev));
        free(ev);
        closing = hearth_relay_conn_input(sub, "[\"CLOSE\",\"x\"]", 13);
    }
    CHECK(closing == 1);
    EXPECT(sub, NULL, "[\"NOTICE\",\"error: closing the connection");
    hearth_relay_stats st;
    hearth_relay_get_stats(f.relay, &st);
    CHECK(st.slow_closed == 1);
    hearth_relay_conn_free(pub);
    hearth_relay_conn_free(sub);
    fx_close(&f);
}

int main(void)
{
    hearth_key_generate(key_a);
    hearth_key_generate(key_b);
    test_basics();
    test_limits();
    test_fanout_and_kinds();
    test_auth();
    test_policy();
    test_threads();
    test_slow_reader();
    return tap_done();
}
