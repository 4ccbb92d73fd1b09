/* Protocol messages: every type in both directions (build, parse, and
 * parse of hand-written JSON), each rejection with its reason, builder
 * argument checks, OK/CLOSED prefixes, and NIP-42 AUTH events. */
#include "hearth/error.h"
#include "hearth/event.h"
#include "hearth/filter.h"
#include "hearth/hex.h"
#include "hearth/keys.h"
#include "hearth/message.h"
#include "tap.h"

#include <stdint.h>

#define A64 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SUB64 "0123456789012345678901234567890123456789012345678901234567890123"

/* the signed example event of NIP-13 */
#define NIP13_EVENT                                                          \
    "{\"id\":\"000006d8c378af1779d2feebc7603a125d99eca0ccf1085959b307f64e5d" \
    "d358\",\"pubkey\":\"a48380f4cfcc1ad5378294fcac36439770f9c878dd880ffa94" \
    "bb74ea54a6f243\",\"created_at\":1651794653,\"kind\":1,\"tags\":[[\"non" \
    "ce\",\"776797\",\"20\"]],\"content\":\"It's just me mining my own busi" \
    "ness\",\"sig\":\"284622fc0a3f4f1303455d5175f7ba962a3300d136085b9566801" \
    "bc2e0699de0c7e31e44c81fb40ad9049173742e904713c3594a1da0fc5d2382a25c11" \
    "aba977\"}"

#define RELAY "wss://relay.example.com/"
#define NOW 1700000000

static uint8_t sk[32];

typedef int (*parse_fn)(const char *, size_t, hearth_msg *, const char **);

static int reason_is(const char *why, const char *reason)
{
    size_t n = strlen(reason);
    if (n && reason[n - 1] == '*') /* prefix only (loader texts) */
        return why && !strncmp(why, reason, n - 1);
    return why && !strcmp(why, reason);
}

static int parses(parse_fn fn, const char *json, hearth_msg *m)
{
    const char *why = "";
    int rc = fn(json, strlen(json), m, &why);
    CHECKF(rc == HEARTH_OK, "%s: %s", json, why);
    return rc == HEARTH_OK;
}

static void rejects(parse_fn fn, const char *json, int code,
                    const char *reason)
{
    hearth_msg m;
    const char *why = NULL;
    memset(&m, 0x55, sizeof m);
    int rc = fn(json, strlen(json), &m, &why);
    CHECKF(rc == code, "%s: rc %d want %d (%s)", json, rc, code, why);
    CHECKF(reason_is(why, reason), "%s: why '%s' want '%s'", json,
           why ? why : "(null)", reason);
    CHECKF(m.type == HEARTH_MSG_NONE && !m.subid && !m.event && !m.filters &&
               !m.message && !m.challenge,
           "%s: out not cleared", json);
    if (rc == HEARTH_OK)
        hearth_msg_clear(&m);
}

#define CLIENT hearth_msg_parse_client
#define RELAYP hearth_msg_parse_relay

static hearth_event *signed_note(void)
{
    hearth_event *ev = NULL;
    CHECK(hearth_event_new(1, NOW, "hi \"there\"\n\xc3\xa9", 13, &ev) == 0);
    if (!ev)
        return NULL;
    CHECK(hearth_event_add_tagv(ev, "t", "nostr", NULL) == HEARTH_OK);
    CHECK(hearth_event_sign(ev, sk) == HEARTH_OK);
    return ev;
}

static hearth_filter *filter(const char *json)
{
    hearth_filter *f = NULL;
    CHECK(hearth_filter_parse(json, strlen(json), &f, NULL) == HEARTH_OK);
    return f;
}

/* build text -> parse -> build again gives the same text */
static void round_trip(parse_fn fn, const hearth_buf *b, hearth_msg *m)
{
    const char *why = "";
    int rc = fn(b->p, b->len, m, &why);
    CHECKF(rc == HEARTH_OK, "%s: %s", b->p, why);
    if (rc)
        return;
    hearth_buf again = HEARTH_BUF_INIT;
    CHECK(hearth_msg_build(m, &again) == HEARTH_OK);
    CHECKF(again.len == b->len && !memcmp(again.p, b->p, b->len),
           "rebuilt %s\nfrom %s", again.p, b->p);
    hearth_buf_free(&again);
}

static int same_event(const hearth_event *a, const hearth_event *b)
{
    return a && b && !memcmp(a->id, b->id, 32) && !memcmp(a->sig, b->sig, 64);
}

static void test_client_round_trips(void)
{
    hearth_event *ev = signed_note();
    hearth_filter *fs[2] = {filter("{\"kinds\":[1],\"limit\":10}"),
                            filter("{\"#t\":[\"nostr\"],\"since\":5}")};
    hearth_buf b = HEARTH_BUF_INIT;
    hearth_msg m;
    if (!ev || !fs[0] || !fs[1])
        goto out;

    CHECK(hearth_msg_build_event(ev, &b) == HEARTH_OK);
    CHECK(!strncmp(b.p, "[\"EVENT\",{\"id\":\"", 16));
    round_trip(CLIENT, &b, &m);
    CHECK(m.type == HEARTH_MSG_EVENT && same_event(m.event, ev));
    CHECK(m.event && hearth_event_verify(m.event, NULL) == HEARTH_OK);
    hearth_msg_clear(&m);

    hearth_buf_reset(&b);
    CHECK(hearth_msg_build_req("sub 1", fs, 2, &b) == HEARTH_OK);
    CHECKF(!strcmp(b.p, "[\"REQ\",\"sub 1\",{\"kinds\":[1],\"limit\":10},"
                        "{\"#t\":[\"nostr\"],\"since\":5}]"), "%s", b.p);
    round_trip(CLIENT, &b, &m);
    CHECK(m.type == HEARTH_MSG_REQ && m.nfilters == 2 &&
          !strcmp(m.subid, "sub 1"));
    CHECK(m.nfilters == 2 && m.filters[1]->has_since &&
          m.filters[1]->since == 5);
    hearth_msg_clear(&m);

    hearth_buf_reset(&b);
    CHECK(hearth_msg_build_count("c", fs + 1, 1, &b) == HEARTH_OK);
    CHECKF(!strcmp(b.p, "[\"COUNT\",\"c\",{\"#t\":[\"nostr\"],\"since\":5}]"),
           "%s", b.p);
    round_trip(CLIENT, &b, &m);
    CHECK(m.type == HEARTH_MSG_COUNT && m.nfilters == 1);
    hearth_msg_clear(&m);

    hearth_buf_reset(&b);
    CHECK(hearth_msg_build_close(SUB64, &b) == HEARTH_OK);
    CHECK(!strcmp(b.p, "[\"CLOSE\",\"" SUB64 "\"]"));
    round_trip(CLIENT, &b, &m);
    CHECK(m.type == HEARTH_MSG_CLOSE && m.subid && !strcmp(m.subid, SUB64));
    hearth_msg_clear(&m);

    hearth_event *auth = NULL;
    CHECK(hearth_auth_build(RELAY, "chal", sk, NOW, &auth) == HEARTH_OK);
    hearth_buf_reset(&b);
    CHECK(hearth_msg_build_auth(auth, &b) == HEARTH_OK);
    CHECK(!strncmp(b.p, "[\"AUTH\",{", 9));
    round_trip(CLIENT, &b, &m);
    CHECK(m.type == HEARTH_MSG_AUTH && same_event(m.event, auth));
    CHECK(m.event && hearth_auth_check(m.event, RELAY, "chal", NOW, NULL) ==
                         HEARTH_OK);
    hearth_msg_clear(&m);
    hearth_event_free(auth);

    /* builders append: two messages in one buffer */
    hearth_buf_reset(&b);
    CHECK(hearth_msg_build_close("a", &b) == HEARTH_OK);
    CHECK(hearth_msg_build_close("b", &b) == HEARTH_OK);
    CHECK(!strcmp(b.p, "[\"CLOSE\",\"a\"][\"CLOSE\",\"b\"]"));
out:
    hearth_buf_free(&b);
    hearth_event_free(ev);
    hearth_filter_free(fs[0]);
    hearth_filter_free(fs[1]);
}

static void test_relay_round_trips(void)
{
    hearth_event *ev = signed_note();
    hearth_buf b = HEARTH_BUF_INIT;
    hearth_msg m;
    uint8_t id[32];
    memset(id, 0xab, 32);
    if (!ev)
        return;

    CHECK(hearth_msg_build_relay_event("s", ev, &b) == HEARTH_OK);
    CHECK(!strncmp(b.p, "[\"EVENT\",\"s\",{", 14));
    round_trip(RELAYP, &b, &m);
    CHECK(m.type == HEARTH_MSG_RELAY_EVENT && !strcmp(m.subid, "s") &&
          same_event(m.event, ev));
    hearth_msg_clear(&m);

    hearth_buf_reset(&b);
    CHECK(hearth_msg_build_ok(id, 1, NULL, &b) == HEARTH_OK);
    CHECK(!strcmp(b.p, "[\"OK\",\"abababababababababababababababababababab"
                       "abababababababababababab\",true,\"\"]"));
    round_trip(RELAYP, &b, &m);
    CHECK(m.type == HEARTH_MSG_OK && m.ok == 1 && !memcmp(m.id, id, 32) &&
          m.message && !strcmp(m.message, ""));
    hearth_msg_clear(&m);

    hearth_buf_reset(&b);
    CHECK(hearth_msg_build_ok(id, 0, "blocked: \"no\"\t\xe2\x9c\x8b", &b) ==
          HEARTH_OK);
    round_trip(RELAYP, &b, &m);
    CHECK(m.type == HEARTH_MSG_OK && m.ok == 0 &&
          !strcmp(m.message, "blocked: \"no\"\t\xe2\x9c\x8b"));
    CHECK(hearth_prefix_parse(m.message) == HEARTH_PREFIX_BLOCKED);
    hearth_msg_clear(&m);

    hearth_buf_reset(&b);
    CHECK(hearth_msg_build_eose("s", &b) == HEARTH_OK);
    CHECK(!strcmp(b.p, "[\"EOSE\",\"s\"]"));
    round_trip(RELAYP, &b, &m);
    CHECK(m.type == HEARTH_MSG_EOSE && !strcmp(m.subid, "s"));
    hearth_msg_clear(&m);

    hearth_buf_reset(&b);
    CHECK(hearth_msg_build_closed("s", "auth-required: log in", &b) == 0);
    CHECK(!strcmp(b.p, "[\"CLOSED\",\"s\",\"auth-required: log in\"]"));
    round_trip(RELAYP, &b, &m);
    CHECK(m.type == HEARTH_MSG_CLOSED && !strcmp(m.message,
                                                 "auth-required: log in"));
    hearth_msg_clear(&m);

    hearth_buf_reset(&b);
    CHECK(hearth_msg_build_notice("hello\n", &b) == HEARTH_OK);
    CHECK(!strcmp(b.p, "[\"NOTICE\",\"hello\\n\"]"));
    round_trip(RELAYP, &b, &m);
    CHECK(m.type == HEARTH_MSG_NOTICE && !strcmp(m.message, "hello\n"));
    hearth_msg_clear(&m);

    hearth_buf_reset(&b);
    CHECK(hearth_msg_build_auth_challenge("c-123", &b) == HEARTH_OK);
    CHECK(!strcmp(b.p, "[\"AUTH\",\"c-123\"]"));
    round_trip(RELAYP, &b, &m);
    CHECK(m.type == HEARTH_MSG_AUTH_CHALLENGE && !strcmp(m.challenge,
                                                         "c-123"));
    hearth_msg_clear(&m);

    static const struct { int approx; const char *want; } counts[] = {
        {-1, "[\"COUNT\",\"q\",{\"count\":238}]"},
        {0, "[\"COUNT\",\"q\",{\"count\":238,\"approximate\":false}]"},
        {1, "[\"COUNT\",\"q\",{\"count\":238,\"approximate\":true}]"},
    };
    for (int i = 0; i < 3; i++) {
        hearth_buf_reset(&b);
        CHECK(hearth_msg_build_count_result("q", 238, counts[i].approx, &b) ==
              HEARTH_OK);
        CHECKF(!strcmp(b.p, counts[i].want), "%s", b.p);
        round_trip(RELAYP, &b, &m);
        CHECK(m.type == HEARTH_MSG_COUNT_RESULT && m.count == 238 &&
              m.approximate == counts[i].approx);
        hearth_msg_clear(&m);
    }
    hearth_buf_free(&b);
    hearth_event_free(ev);
}

/* JSON as other software writes it: whitespace, key order, escapes */
static void test_hand_written(void)
{
    hearth_msg m;
    if (parses(CLIENT, " [ \"EVENT\" , " NIP13_EVENT " ] ", &m)) {
        CHECK(m.type == HEARTH_MSG_EVENT && m.event && m.event->kind == 1);
        CHECK(m.event && hearth_event_verify(m.event, NULL) == HEARTH_OK);
        hearth_msg_clear(&m);
    }
    if (parses(CLIENT, "[\"REQ\",\"\\u0073ub\",{\"authors\":[\"" A64 "\"]},"
                       "{},{\"#p\":[\"" A64 "\"],\"kinds\":[3]}]", &m)) {
        CHECK(m.type == HEARTH_MSG_REQ && !strcmp(m.subid, "sub"));
        CHECK(m.nfilters == 3 && m.filters[0]->nauthors == 1 &&
              m.filters[2]->ntags == 1);
        hearth_msg_clear(&m);
    }
    if (parses(CLIENT, "[\"CLOSE\",\"\xf0\x9f\x8d\x95\"]", &m)) {
        CHECK(m.type == HEARTH_MSG_CLOSE && !strcmp(m.subid,
                                                    "\xf0\x9f\x8d\x95"));
        hearth_msg_clear(&m);
    }
    if (parses(CLIENT, "[\"COUNT\",\"q\",{\"kinds\":[3],\"#p\":[\"" A64
                       "\"]}]", &m)) {
        CHECK(m.type == HEARTH_MSG_COUNT && m.nfilters == 1);
        hearth_msg_clear(&m);
    }
    if (parses(CLIENT, "[\"AUTH\"," NIP13_EVENT "]", &m)) {
        /* shape only: hearth_auth_check refuses this kind-1 event */
        CHECK(m.type == HEARTH_MSG_AUTH && m.event);
        CHECK(m.event && hearth_auth_check(m.event, RELAY, "x", NOW, NULL) ==
                             HEARTH_EINVAL);
        hearth_msg_clear(&m);
    }
    if (parses(RELAYP, "[\"EVENT\",\"sub1\"," NIP13_EVENT "]", &m)) {
        CHECK(m.type == HEARTH_MSG_RELAY_EVENT && !strcmp(m.subid, "sub1"));
        hearth_msg_clear(&m);
    }
    if (parses(RELAYP, "[\"OK\",\"000006d8c378af1779d2feebc7603a125d99eca0cc"
                       "f1085959b307f64e5dd358\",false,\"pow: difficulty 21 "
                       "is less than 30\"]", &m)) {
        CHECK(m.type == HEARTH_MSG_OK && !m.ok && m.id[2] == 0x06);
        CHECK(hearth_prefix_parse(m.message) == HEARTH_PREFIX_POW);
        hearth_msg_clear(&m);
    }
    if (parses(RELAYP, "[\"EOSE\",\"sub1\"]", &m)) {
        CHECK(m.type == HEARTH_MSG_EOSE);
        hearth_msg_clear(&m);
    }
    if (parses(RELAYP, "[\"CLOSED\",\"sub1\",\"unsupported: filter contains "
                       "unknown elements\"]", &m)) {
        CHECK(m.type == HEARTH_MSG_CLOSED);
        CHECK(hearth_prefix_parse(m.message) == HEARTH_PREFIX_UNSUPPORTED);
        hearth_msg_clear(&m);
    }
    if (parses(RELAYP, "[\"NOTICE\",\"\"]", &m)) {
        CHECK(m.type == HEARTH_MSG_NOTICE && !strcmp(m.message, ""));
        hearth_msg_clear(&m);
    }
    if (parses(RELAYP, "[\"AUTH\",\"challengestringhere\"]", &m)) {
        CHECK(m.type == HEARTH_MSG_AUTH_CHALLENGE &&
              !strcmp(m.challenge, "challengestringhere"));
        hearth_msg_clear(&m);
    }
    if (parses(RELAYP, "[\"COUNT\",\"q\",{\"approximate\":true,\"count\":5,"
                       "\"hll\":\"0a0b\"}]", &m)) {
        CHECK(m.type == HEARTH_MSG_COUNT_RESULT && m.count == 5 &&
              m.approximate == 1);
        hearth_msg_clear(&m);
    }
    if (parses(RELAYP, "[\"COUNT\",\"q\",{\"count\":0}]", &m)) {
        CHECK(m.count == 0 && m.approximate == -1);
        hearth_msg_clear(&m);
    }
    /* 64 characters of 2 bytes each is still a valid subid */
    hearth_buf b = HEARTH_BUF_INIT;
    hearth_buf_adds(&b, "[\"EOSE\",\"");
    for (int i = 0; i < 64; i++)
        hearth_buf_adds(&b, "\xc3\xa9");
    hearth_buf_adds(&b, "\"]");
    if (parses(RELAYP, b.p, &m))
        hearth_msg_clear(&m);
    b.len -= 2;
    hearth_buf_adds(&b, "x\"]");
    rejects(RELAYP, b.p, HEARTH_EINVAL,
            "invalid: subscription id longer than 64 characters");
    hearth_buf_free(&b);
}

static void test_client_rejections(void)
{
    rejects(CLIENT, "{}", HEARTH_EINVAL,
            "invalid: message must be a JSON array");
    rejects(CLIENT, "\"EVENT\"", HEARTH_EINVAL,
            "invalid: message must be a JSON array");
    rejects(CLIENT, "[]", HEARTH_EINVAL, "invalid: empty message");
    rejects(CLIENT, "[1]", HEARTH_EINVAL,
            "invalid: message type must be a string");
    rejects(CLIENT, "[\"PING\"]", HEARTH_EINVAL,
            "unsupported: unknown message type");
    rejects(CLIENT, "[\"event\",{}]", HEARTH_EINVAL,
            "unsupported: unknown message type");
    rejects(CLIENT, "[\"CLOSE\\u0000\",\"s\"]", HEARTH_EINVAL,
            "unsupported: unknown message type");
    /* relay-to-client messages are not client messages */
    rejects(CLIENT, "[\"OK\",\"" A64 "\",true,\"\"]", HEARTH_EINVAL,
            "unsupported: unknown message type");
    rejects(CLIENT, "[\"NOTICE\",\"x\"]", HEARTH_EINVAL,
            "unsupported: unknown message type");
    rejects(CLIENT, "[\"EVENT\"", HEARTH_EINVAL, "invalid: *");
    rejects(CLIENT, "[\"CLOSE\",\"a\"] x", HEARTH_EINVAL, "invalid: *");

    rejects(CLIENT, "[\"EVENT\"]", HEARTH_EINVAL,
            "invalid: EVENT takes exactly one event");
    rejects(CLIENT, "[\"EVENT\",\"s\"," NIP13_EVENT "]", HEARTH_EINVAL,
            "invalid: EVENT takes exactly one event");
    rejects(CLIENT, "[\"EVENT\",[]]", HEARTH_EINVAL,
            "invalid: event must be a JSON object");
    rejects(CLIENT, "[\"EVENT\",{\"kind\":1,\"content\":\"\"}]", HEARTH_EINVAL,
            "invalid: missing id");
    rejects(CLIENT, "[\"AUTH\"]", HEARTH_EINVAL,
            "invalid: AUTH takes exactly one event");
    rejects(CLIENT, "[\"AUTH\",\"challenge\"]", HEARTH_EINVAL,
            "invalid: event must be a JSON object");

    rejects(CLIENT, "[\"REQ\",\"s\"]", HEARTH_EINVAL,
            "invalid: REQ takes a subscription id and at least one filter");
    rejects(CLIENT, "[\"COUNT\",\"s\"]", HEARTH_EINVAL,
            "invalid: COUNT takes a subscription id and at least one filter");
    rejects(CLIENT, "[\"REQ\",\"s\",[]]", HEARTH_EINVAL,
            "invalid: filter must be a JSON object");
    rejects(CLIENT, "[\"REQ\",\"s\",{},{\"search\":\"x\"}]", HEARTH_EINVAL,
            "unsupported: search (NIP-50)");
    rejects(CLIENT, "[\"COUNT\",\"s\",{\"kinds\":[-1]}]", HEARTH_EINVAL,
            "invalid: kinds must be a list of integers from 0 to 65535");

    rejects(CLIENT, "[\"CLOSE\"]", HEARTH_EINVAL,
            "invalid: CLOSE takes exactly a subscription id");
    rejects(CLIENT, "[\"CLOSE\",\"a\",\"b\"]", HEARTH_EINVAL,
            "invalid: CLOSE takes exactly a subscription id");
    rejects(CLIENT, "[\"CLOSE\",1]", HEARTH_EINVAL,
            "invalid: subscription id must be a string");
    rejects(CLIENT, "[\"CLOSE\",null]", HEARTH_EINVAL,
            "invalid: subscription id must be a string");
    rejects(CLIENT, "[\"CLOSE\",\"\"]", HEARTH_EINVAL,
            "invalid: subscription id must not be empty");
    rejects(CLIENT, "[\"REQ\",\"a\\u0000b\",{}]", HEARTH_EINVAL,
            "invalid: subscription id must not contain NUL");
    rejects(CLIENT, "[\"REQ\",\"" SUB64 "4\",{}]", HEARTH_EINVAL,
            "invalid: subscription id longer than 64 characters");

    /* filters per REQ */
    hearth_buf b = HEARTH_BUF_INIT;
    hearth_msg m;
    hearth_buf_adds(&b, "[\"REQ\",\"s\"");
    for (unsigned i = 0; i < HEARTH_MSG_MAX_FILTERS; i++)
        hearth_buf_adds(&b, ",{}");
    hearth_buf_adds(&b, "]");
    if (parses(CLIENT, b.p, &m)) {
        CHECK(m.nfilters == HEARTH_MSG_MAX_FILTERS);
        hearth_msg_clear(&m);
    }
    b.len--;
    hearth_buf_adds(&b, ",{}]");
    rejects(CLIENT, b.p, HEARTH_ETOOBIG, "invalid: too many filters");
    hearth_buf_free(&b);

    /* whole-message bound, checked before any byte is read */
    size_t big = HEARTH_MSG_MAX_JSON + 1;
    char *p = malloc(big);
    CHECK(p != NULL);
    if (p) {
        memset(p, ' ', big);
        memcpy(p, "[\"CLOSE\",\"a\"]", 13);
        const char *why = NULL;
        CHECK(hearth_msg_parse_client(p, big, &m, &why) == HEARTH_ETOOBIG);
        CHECK(why && !strncmp(why, "invalid: ", 9));
        CHECK(hearth_msg_parse_relay(p, big, &m, &why) == HEARTH_ETOOBIG);
        free(p);
    }
}

static void test_relay_rejections(void)
{
    rejects(RELAYP, "[]", HEARTH_EINVAL, "invalid: empty message");
    rejects(RELAYP, "[\"REQ\",\"s\",{}]", HEARTH_EINVAL,
            "unsupported: unknown message type");
    rejects(RELAYP, "[\"CLOSE\",\"s\"]", HEARTH_EINVAL,
            "unsupported: unknown message type");

    rejects(RELAYP, "[\"EVENT\"," NIP13_EVENT "]", HEARTH_EINVAL,
            "invalid: EVENT takes a subscription id and an event");
    rejects(RELAYP, "[\"EVENT\",\"\"," NIP13_EVENT "]", HEARTH_EINVAL,
            "invalid: subscription id must not be empty");
    rejects(RELAYP, "[\"EVENT\",\"s\",{\"kind\":1}]", HEARTH_EINVAL,
            "invalid: missing id");

    rejects(RELAYP, "[\"OK\",\"" A64 "\",true]", HEARTH_EINVAL,
            "invalid: OK takes an event id, a boolean and a message");
    rejects(RELAYP, "[\"OK\",\"" A64 "\",true,\"\",\"\"]", HEARTH_EINVAL,
            "invalid: OK takes an event id, a boolean and a message");
    rejects(RELAYP, "[\"OK\",\"aaaa\",true,\"\"]", HEARTH_EINVAL,
            "invalid: OK event id must be 64 lowercase hex characters");
    rejects(RELAYP, "[\"OK\",1,true,\"\"]", HEARTH_EINVAL,
            "invalid: OK event id must be 64 lowercase hex characters");
    rejects(RELAYP, "[\"OK\",\"" A64 "\",\"true\",\"\"]", HEARTH_EINVAL,
            "invalid: OK status must be true or false");
    rejects(RELAYP, "[\"OK\",\"" A64 "\",1,\"\"]", HEARTH_EINVAL,
            "invalid: OK status must be true or false");
    rejects(RELAYP, "[\"OK\",\"" A64 "\",true,null]", HEARTH_EINVAL,
            "invalid: message text must be a string");
    rejects(RELAYP, "[\"OK\",\"" A64 "\",false,\"x\\u0000\"]", HEARTH_EINVAL,
            "invalid: message text must not contain NUL");

    rejects(RELAYP, "[\"EOSE\"]", HEARTH_EINVAL,
            "invalid: EOSE takes exactly a subscription id");
    rejects(RELAYP, "[\"EOSE\",{}]", HEARTH_EINVAL,
            "invalid: subscription id must be a string");
    rejects(RELAYP, "[\"CLOSED\",\"s\"]", HEARTH_EINVAL,
            "invalid: CLOSED takes a subscription id and a message");
    rejects(RELAYP, "[\"CLOSED\",\"s\",5]", HEARTH_EINVAL,
            "invalid: message text must be a string");
    rejects(RELAYP, "[\"NOTICE\"]", HEARTH_EINVAL,
            "invalid: NOTICE takes exactly a message");
    rejects(RELAYP, "[\"NOTICE\",\"a\",\"b\"]", HEARTH_EINVAL,
            "invalid: NOTICE takes exactly a message");
    rejects(RELAYP, "[\"NOTICE\",[]]", HEARTH_EINVAL,
            "invalid: message text must be a string");

    rejects(RELAYP, "[\"AUTH\"]", HEARTH_EINVAL,
            "invalid: AUTH takes exactly a challenge");
    rejects(RELAYP, "[\"AUTH\",\"\"]", HEARTH_EINVAL,
            "invalid: AUTH challenge must be a non-empty string");
    rejects(RELAYP, "[\"AUTH\"," NIP13_EVENT "]", HEARTH_EINVAL,
            "invalid: AUTH challenge must be a non-empty string");
    rejects(RELAYP, "[\"AUTH\",\"a\\u0000\"]", HEARTH_EINVAL,
            "invalid: AUTH challenge must not contain NUL");
    hearth_buf b = HEARTH_BUF_INIT;
    hearth_buf_adds(&b, "[\"AUTH\",\"");
    for (unsigned i = 0; i <= HEARTH_CHALLENGE_MAX; i++)
        hearth_buf_addc(&b, 'c');
    hearth_buf_adds(&b, "\"]");
    rejects(RELAYP, b.p, HEARTH_ETOOBIG, "invalid: AUTH challenge too long");
    hearth_buf_free(&b);

    rejects(RELAYP, "[\"COUNT\",\"q\"]", HEARTH_EINVAL,
            "invalid: COUNT takes a subscription id and a result object");
    rejects(RELAYP, "[\"COUNT\",\"q\",{\"count\":1},{}]", HEARTH_EINVAL,
            "invalid: COUNT takes a subscription id and a result object");
    rejects(RELAYP, "[\"COUNT\",\"q\",5]", HEARTH_EINVAL,
            "invalid: COUNT result must be a JSON object");
    rejects(RELAYP, "[\"COUNT\",\"q\",{}]", HEARTH_EINVAL,
            "invalid: COUNT result lacks count");
    rejects(RELAYP, "[\"COUNT\",\"q\",{\"approximate\":true}]", HEARTH_EINVAL,
            "invalid: COUNT result lacks count");
    rejects(RELAYP, "[\"COUNT\",\"q\",{\"count\":-1}]", HEARTH_EINVAL,
            "invalid: count must be an integer from 0 to 2^53-1");
    rejects(RELAYP, "[\"COUNT\",\"q\",{\"count\":2.5}]", HEARTH_EINVAL,
            "invalid: count must be an integer from 0 to 2^53-1");
    rejects(RELAYP, "[\"COUNT\",\"q\",{\"count\":1,\"approximate\":1}]",
            HEARTH_EINVAL, "invalid: approximate must be true or false");
    rejects(RELAYP, "[\"COUNT\",\"q\",{\"count\":1,\"hll\":7}]", HEARTH_EINVAL,
            "invalid: hll must be a string");
    rejects(RELAYP, "[\"COUNT\",\"q\",{\"count\":1,\"total\":1}]",
            HEARTH_EINVAL, "invalid: unknown field in COUNT result");
    rejects(RELAYP, "[\"COUNT\",\"q\",{\"count\":1,\"count\":2}]",
            HEARTH_EINVAL, "invalid: *");
}

static void test_builder_checks(void)
{
    hearth_buf b = HEARTH_BUF_INIT;
    hearth_event *ev = signed_note(), *raw = NULL;
    hearth_filter *f = filter("{}");
    hearth_filter *fs[HEARTH_MSG_MAX_FILTERS + 1];
    uint8_t id[32] = {0};
    CHECK(hearth_event_new(1, 1, "", 0, &raw) == HEARTH_OK);
    for (size_t i = 0; i < sizeof fs / sizeof fs[0]; i++)
        fs[i] = f;
    if (!ev || !raw || !f)
        goto out;

    hearth_buf_adds(&b, "keep");
    CHECK(hearth_msg_build_event(raw, &b) == HEARTH_EINVAL);
    CHECK(hearth_msg_build_event(NULL, &b) == HEARTH_EINVAL);
    CHECK(hearth_msg_build_auth(raw, &b) == HEARTH_EINVAL);
    CHECK(hearth_msg_build_relay_event("s", raw, &b) == HEARTH_EINVAL);
    CHECK(hearth_msg_build_relay_event("", ev, &b) == HEARTH_EINVAL);
    CHECK(hearth_msg_build_relay_event(NULL, ev, &b) == HEARTH_EINVAL);
    CHECK(hearth_msg_build_req("s", fs, 0, &b) == HEARTH_EINVAL);
    CHECK(hearth_msg_build_req("s", fs, HEARTH_MSG_MAX_FILTERS + 1, &b) ==
          HEARTH_EINVAL);
    CHECK(hearth_msg_build_count(SUB64 "4", fs, 1, &b) == HEARTH_EINVAL);
    hearth_filter *nullf[1] = {NULL};
    CHECK(hearth_msg_build_req("s", nullf, 1, &b) == HEARTH_EINVAL);
    CHECK(hearth_msg_build_close("\xff", &b) == HEARTH_EINVAL);
    CHECK(hearth_msg_build_eose("", &b) == HEARTH_EINVAL);
    CHECK(hearth_msg_build_closed("s", "bad \xc3", &b) == HEARTH_EINVAL);
    CHECK(hearth_msg_build_notice("\xed\xa0\x80", &b) == HEARTH_EINVAL);
    CHECK(hearth_msg_build_ok(id, 1, "\xc0\x80", &b) == HEARTH_EINVAL);
    CHECK(hearth_msg_build_auth_challenge("", &b) == HEARTH_EINVAL);
    CHECK(hearth_msg_build_auth_challenge(NULL, &b) == HEARTH_EINVAL);
    CHECK(hearth_msg_build_count_result("q", 9007199254740992ull, -1, &b) ==
          HEARTH_EINVAL);
    CHECK(hearth_msg_build_count_result("q", 1, 2, &b) == HEARTH_EINVAL);
    hearth_msg none;
    memset(&none, 0, sizeof none);
    CHECK(hearth_msg_build(&none, &b) == HEARTH_EINVAL);
    CHECK(!strcmp(b.p, "keep")); /* nothing appended by a refusal */

    CHECK(hearth_msg_build_req("s", fs, HEARTH_MSG_MAX_FILTERS, &b) ==
          HEARTH_OK);
    CHECK(hearth_msg_build_count_result("q", 9007199254740991ull, -1, &b) ==
          HEARTH_OK);
out:
    hearth_buf_free(&b);
    hearth_event_free(ev);
    hearth_event_free(raw);
    hearth_filter_free(f);
}

/* an event near the size bound still fits a message with a long subid */
static void test_big_event(void)
{
    size_t n = HEARTH_EVENT_MAX_JSON - 1024;
    char *content = malloc(n);
    hearth_event *ev = NULL;
    hearth_buf b = HEARTH_BUF_INIT;
    hearth_msg m;
    CHECK(content != NULL);
    if (!content)
        return;
    memset(content, 'x', n);
    CHECK(hearth_event_new(1, NOW, content, n, &ev) == HEARTH_OK);
    if (ev && hearth_event_sign(ev, sk) == HEARTH_OK &&
        hearth_msg_build_relay_event(SUB64, ev, &b) == HEARTH_OK) {
        CHECK(b.len < HEARTH_MSG_MAX_JSON);
        round_trip(RELAYP, &b, &m);
        hearth_msg_clear(&m);
    } else {
        CHECK(!"big event built");
    }
    hearth_buf_free(&b);
    hearth_event_free(ev);
    free(content);
}

static void test_prefixes(void)
{
    static const struct { hearth_prefix p; const char *s; } all[] = {
        {HEARTH_PREFIX_DUPLICATE, "duplicate"},
        {HEARTH_PREFIX_POW, "pow"},
        {HEARTH_PREFIX_BLOCKED, "blocked"},
        {HEARTH_PREFIX_RATE_LIMITED, "rate-limited"},
        {HEARTH_PREFIX_INVALID, "invalid"},
        {HEARTH_PREFIX_RESTRICTED, "restricted"},
        {HEARTH_PREFIX_MUTE, "mute"},
        {HEARTH_PREFIX_ERROR, "error"},
        {HEARTH_PREFIX_AUTH_REQUIRED, "auth-required"},
        {HEARTH_PREFIX_UNSUPPORTED, "unsupported"},
    };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        hearth_buf b = HEARTH_BUF_INIT;
        char want[64];
        CHECK(!strcmp(hearth_prefix_str(all[i].p), all[i].s));
        CHECK(hearth_prefix_build(all[i].p, "some text", &b) == HEARTH_OK);
        snprintf(want, sizeof want, "%s: some text", all[i].s);
        CHECKF(!strcmp(b.p, want), "%s", b.p);
        CHECKF(hearth_prefix_parse(b.p) == all[i].p, "%s", b.p);
        snprintf(want, sizeof want, "%s:", all[i].s);
        CHECK(hearth_prefix_parse(want) == all[i].p);
        hearth_buf_free(&b);
    }
    CHECK(!strcmp(hearth_prefix_str(HEARTH_PREFIX_NONE), ""));
    CHECK(!strcmp(hearth_prefix_str(HEARTH_PREFIX_OTHER), ""));
    CHECK(!strcmp(hearth_prefix_str((hearth_prefix)999), ""));
    CHECK(hearth_prefix_parse(NULL) == HEARTH_PREFIX_NONE);
    CHECK(hearth_prefix_parse("") == HEARTH_PREFIX_NONE);
    CHECK(hearth_prefix_parse("duplicate") == HEARTH_PREFIX_NONE);
    CHECK(hearth_prefix_parse(":x") == HEARTH_PREFIX_NONE);
    CHECK(hearth_prefix_parse(" invalid: x") == HEARTH_PREFIX_NONE);
    CHECK(hearth_prefix_parse("Invalid: x") == HEARTH_PREFIX_NONE);
    CHECK(hearth_prefix_parse("not an error: x") == HEARTH_PREFIX_NONE);
    CHECK(hearth_prefix_parse("invalid:x") == HEARTH_PREFIX_INVALID);
    CHECK(hearth_prefix_parse("invalidity: x") == HEARTH_PREFIX_OTHER);
    CHECK(hearth_prefix_parse("payment-required: x") == HEARTH_PREFIX_OTHER);
    CHECK(hearth_prefix_parse("pow2: x") == HEARTH_PREFIX_OTHER);

    hearth_buf b = HEARTH_BUF_INIT;
    CHECK(hearth_prefix_build(HEARTH_PREFIX_NONE, "plain", &b) == HEARTH_OK);
    CHECK(hearth_prefix_build(HEARTH_PREFIX_ERROR, NULL, &b) == HEARTH_OK);
    CHECK(!strcmp(b.p, "plainerror: "));
    hearth_buf_free(&b);

    /* parser reasons go on the wire as they are */
    const char *why = NULL;
    hearth_msg m;
    CHECK(hearth_msg_parse_client("[]", 2, &m, &why) == HEARTH_EINVAL);
    CHECK(hearth_prefix_parse(why) == HEARTH_PREFIX_INVALID);
    CHECK(hearth_msg_parse_client("[\"X\"]", 5, &m, &why) == HEARTH_EINVAL);
    CHECK(hearth_prefix_parse(why) == HEARTH_PREFIX_UNSUPPORTED);
}

static hearth_event *auth_event(uint32_t kind, const char *relay,
                                const char *challenge, int64_t at)
{
    hearth_event *ev = NULL;
    CHECK(hearth_event_new(kind, at, "", 0, &ev) == HEARTH_OK);
    if (!ev)
        return NULL;
    if (relay)
        CHECK(hearth_event_add_tagv(ev, "relay", relay, NULL) == HEARTH_OK);
    if (challenge)
        CHECK(hearth_event_add_tagv(ev, "challenge", challenge, NULL) == 0);
    CHECK(hearth_event_sign(ev, sk) == HEARTH_OK);
    return ev;
}

static void auth_fails(const hearth_event *ev, const char *relay,
                       const char *challenge, int64_t now, int code,
                       const char *reason)
{
    const char *why = NULL;
    int rc = ev ? hearth_auth_check(ev, relay, challenge, now, &why) : -100;
    CHECKF(rc == code, "rc %d want %d (%s)", rc, code, why);
    CHECKF(reason_is(why, reason), "why '%s' want '%s'", why ? why : "-",
           reason);
}

static void test_auth(void)
{
    hearth_event *ev = NULL;
    uint8_t pk[32];
    CHECK(hearth_key_pubkey(sk, pk) == HEARTH_OK);
    CHECK(hearth_auth_build(RELAY, "chal-1", sk, NOW, &ev) == HEARTH_OK);
    if (!ev)
        return;
    CHECK(ev->kind == 22242 && ev->created_at == NOW && ev->content.n == 0);
    CHECK(!memcmp(ev->pubkey, pk, 32));
    const hearth_tag *t = hearth_event_find_tag(ev, "relay");
    CHECK(t && t->n == 2 && !strcmp(t->v[1].p, RELAY));
    t = hearth_event_find_tag(ev, "challenge");
    CHECK(t && t->n == 2 && !strcmp(t->v[1].p, "chal-1"));
    CHECK(hearth_event_verify(ev, NULL) == HEARTH_OK);

    const char *why = "unset";
    CHECK(hearth_auth_check(ev, RELAY, "chal-1", NOW, &why) == HEARTH_OK);
    CHECK(hearth_auth_check(ev, RELAY, "chal-1", NOW, NULL) == HEARTH_OK);
    /* ~10 minutes either way, inclusive */
    CHECK(hearth_auth_check(ev, RELAY, "chal-1", NOW + 600, NULL) == 0);
    CHECK(hearth_auth_check(ev, RELAY, "chal-1", NOW - 600, NULL) == 0);
    const char *stale =
        "invalid: AUTH event created_at is too far from the current time";
    auth_fails(ev, RELAY, "chal-1", NOW + 601, HEARTH_EINVAL, stale);
    auth_fails(ev, RELAY, "chal-1", NOW - 601, HEARTH_EINVAL, stale);
    auth_fails(ev, RELAY, "chal-1", INT64_MIN, HEARTH_EINVAL, stale);
    auth_fails(ev, RELAY, "chal-1", INT64_MAX, HEARTH_EINVAL, stale);

    /* relay URL: case of scheme and host, trailing '/' do not matter */
    CHECK(hearth_auth_check(ev, "wss://relay.example.com", "chal-1", NOW,
                            NULL) == HEARTH_OK);
    CHECK(hearth_auth_check(ev, "WSS://Relay.EXAMPLE.com//", "chal-1", NOW,
                            NULL) == HEARTH_OK);
    const char *other = "invalid: AUTH event is for another relay";
    auth_fails(ev, "wss://relay.example.org/", "chal-1", NOW, HEARTH_EINVAL,
               other);
    auth_fails(ev, "wss://relay.example.com/x", "chal-1", NOW, HEARTH_EINVAL,
               other);
    auth_fails(ev, "ws://relay.example.com/", "chal-1", NOW, HEARTH_EINVAL,
               other);
    auth_fails(ev, "wss://relay.example.com:444/", "chal-1", NOW,
               HEARTH_EINVAL, other);
    auth_fails(ev, NULL, "chal-1", NOW, HEARTH_EINVAL, other);

    const char *wrong = "invalid: AUTH challenge does not match";
    auth_fails(ev, RELAY, "chal-2", NOW, HEARTH_EINVAL, wrong);
    auth_fails(ev, RELAY, "chal-", NOW, HEARTH_EINVAL, wrong);
    auth_fails(ev, RELAY, "CHAL-1", NOW, HEARTH_EINVAL, wrong);
    auth_fails(ev, RELAY, NULL, NOW, HEARTH_EINVAL, wrong);

    /* a bad signature, then a changed field under the same signature */
    ev->sig[10] ^= 1;
    auth_fails(ev, RELAY, "chal-1", NOW, HEARTH_EBADSIG,
               "invalid: bad signature");
    ev->sig[10] ^= 1;
    ev->created_at++;
    auth_fails(ev, RELAY, "chal-1", NOW, HEARTH_EBADID, "invalid: *");
    hearth_event_free(ev);

    ev = auth_event(1, RELAY, "c", NOW);
    auth_fails(ev, RELAY, "c", NOW, HEARTH_EINVAL,
               "invalid: AUTH event must be of kind 22242");
    hearth_event_free(ev);
    ev = auth_event(22242, RELAY, NULL, NOW);
    auth_fails(ev, RELAY, "c", NOW, HEARTH_EINVAL,
               "invalid: AUTH event lacks a challenge tag");
    hearth_event_free(ev);
    ev = auth_event(22242, NULL, "c", NOW);
    auth_fails(ev, RELAY, "c", NOW, HEARTH_EINVAL,
               "invalid: AUTH event lacks a relay tag");
    hearth_event_free(ev);
    /* another key signing is fine: AUTH proves whoever signed */
    uint8_t sk2[32];
    CHECK(hearth_key_generate(sk2) == HEARTH_OK);
    CHECK(hearth_auth_build(RELAY, "c", sk2, NOW, &ev) == HEARTH_OK);
    CHECK(ev && hearth_auth_check(ev, RELAY, "c", NOW, NULL) == HEARTH_OK);
    hearth_event_free(ev);

    CHECK(hearth_auth_build(NULL, "c", sk, NOW, &ev) == HEARTH_EINVAL);
    CHECK(ev == NULL);
    CHECK(hearth_auth_build(RELAY, "c", sk, -1, &ev) == HEARTH_EINVAL);
    uint8_t zero[32] = {0};
    CHECK(hearth_auth_build(RELAY, "c", zero, NOW, &ev) != HEARTH_OK);
    CHECK(ev == NULL);
}

int main(void)
{
    if (hearth_key_generate(sk) != HEARTH_OK) {
        fprintf(stderr, "no key\n");
        return 1;
    }
    test_client_round_trips();
    test_relay_round_trips();
    test_hand_written();
    test_client_rejections();
    test_relay_rejections();
    test_builder_checks();
    test_big_event();
    test_prefixes();
    test_auth();
    return tap_done();
}
