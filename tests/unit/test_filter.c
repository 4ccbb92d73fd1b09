/* NIP-01 filters: parsing and its rejections, normalization, canonical
 * JSON, and matching (time boundaries, empty lists, tag conditions). */
#include "hearth/error.h"
#include "hearth/event.h"
#include "hearth/filter.h"
#include "hearth/hex.h"
#include "hearth/keys.h"
#include "tap.h"

#include <stdint.h>

#define A64 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define B64 "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define C64 "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"

static hearth_filter *parse(const char *json)
{
    hearth_filter *f = NULL;
    const char *why = "";
    int rc = hearth_filter_parse(json, strlen(json), &f, &why);
    CHECKF(rc == HEARTH_OK && f, "%s: %s", json, why);
    return f;
}

/* reason "invalid: *" only checks the prefix: the JSON loader's own
 * texts belong to event.c */
static int reason_is(const char *why, const char *reason)
{
    size_t n = strlen(reason);
    if (n && reason[n - 1] == '*')
        return why && !strncmp(why, reason, n - 1);
    return why && !strcmp(why, reason);
}

static void rejects(const char *json, int code, const char *reason)
{
    hearth_filter *f = (hearth_filter *)1;
    const char *why = NULL;
    int rc = hearth_filter_parse(json, strlen(json), &f, &why);
    CHECKF(rc == code, "%s: rc %d want %d", json, rc, code);
    CHECKF(f == NULL, "%s: out not cleared", json);
    CHECKF(reason_is(why, reason), "%s: why '%s' want '%s'", json,
           why ? why : "(null)", reason);
    if (rc == HEARTH_OK)
        hearth_filter_free(f);
}

static void to_json_is(const hearth_filter *f, const char *want)
{
    hearth_buf b = HEARTH_BUF_INIT;
    CHECK(hearth_filter_to_json(f, &b) == HEARTH_OK);
    CHECKF(b.p && !strcmp(b.p, want), "got %s\nwant %s", b.p, want);
    hearth_buf_free(&b);
}

/* does json match ev? */
static int m(const char *json, const hearth_event *ev)
{
    hearth_filter *f = parse(json);
    int r = f ? hearth_filter_match(f, ev) : -1;
    hearth_filter_free(f);
    return r;
}

static void test_parse_normalizes(void)
{
    hearth_filter *f = parse(
        "{\"kinds\":[7,1,1,30023],\"ids\":[\"" B64 "\",\"" A64 "\",\"" B64
        "\"],\"authors\":[\"" C64 "\"],\"#t\":[\"b\",\"a\",\"b\",\"ab\"],"
        "\"#e\":[\"" A64 "\"],\"since\":10,\"until\":20,\"limit\":0}");
    if (!f)
        return;
    CHECK(f->has_ids && f->nids == 2);
    CHECK(f->ids[0][0] == 0xaa && f->ids[1][0] == 0xbb);
    CHECK(f->has_authors && f->nauthors == 1 && f->authors[0][31] == 0xcc);
    CHECK(f->has_kinds && f->nkinds == 3);
    CHECK(f->kinds[0] == 1 && f->kinds[1] == 7 && f->kinds[2] == 30023);
    CHECK(f->ntags == 2 && f->tags[0].name == 'e' && f->tags[1].name == 't');
    CHECK(f->tags[1].n == 3);
    CHECK(f->tags[1].values[0].n == 1 && f->tags[1].values[0].p[0] == 'a');
    CHECK(f->tags[1].values[1].n == 2 && !memcmp(f->tags[1].values[1].p,
                                                 "ab", 2));
    CHECK(f->tags[1].values[2].n == 1 && f->tags[1].values[2].p[0] == 'b');
    CHECK(f->has_since && f->since == 10 && f->has_until && f->until == 20);
    CHECK(f->has_limit && f->limit == 0);
    to_json_is(f, "{\"ids\":[\"" A64 "\",\"" B64 "\"],\"authors\":[\"" C64
                  "\"],\"kinds\":[1,7,30023],\"#e\":[\"" A64 "\"],"
                  "\"#t\":[\"a\",\"ab\",\"b\"],\"since\":10,\"until\":20,"
                  "\"limit\":0}");
    hearth_filter_free(f);

    f = parse("{}");
    if (f) {
        CHECK(!f->has_ids && !f->has_authors && !f->has_kinds && !f->ntags);
        CHECK(!f->has_since && !f->has_until && !f->has_limit);
        to_json_is(f, "{}");
        hearth_filter_free(f);
    }
    f = parse("{\"ids\":[],\"kinds\":[],\"#t\":[]}");
    if (f) {
        CHECK(f->has_ids && f->nids == 0 && f->has_kinds && f->nkinds == 0);
        CHECK(f->ntags == 1 && f->tags[0].n == 0);
        to_json_is(f, "{\"ids\":[],\"kinds\":[],\"#t\":[]}");
        hearth_filter_free(f);
    }
    /* escapes and NUL survive the round trip */
    f = parse("{\"#d\":[\"a\\u0000b\",\"q\\\"\\n\\u001f\"],\"limit\":"
              "9007199254740991,\"since\":0}");
    if (f) {
        CHECK(f->tags[0].values[0].n == 3 && f->tags[0].values[0].p[1] == 0);
        to_json_is(f, "{\"#d\":[\"a\\u0000b\",\"q\\\"\\n\\u001f\"],"
                      "\"since\":0,\"limit\":9007199254740991}");
        hearth_filter_free(f);
    }
}

static void test_round_trip(void)
{
    static const char *const cases[] = {
        "{\"authors\":[\"" A64 "\"],\"kinds\":[0,3,10002]}",
        "{\"#p\":[\"" B64 "\"],\"#P\":[\"x\"],\"#a\":[\"30023:" A64 ":d\"]}",
        "{\"until\":1700000000,\"since\":1600000000,\"limit\":500}",
        "{\"#t\":[\"\\u00e9t\\u00e9\",\"\xf0\x9f\x8d\x95\",\"\"]}",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hearth_filter *f = parse(cases[i]), *g = NULL;
        if (!f)
            continue;
        hearth_buf a = HEARTH_BUF_INIT, b = HEARTH_BUF_INIT;
        hearth_filter_to_json(f, &a);
        CHECKF(hearth_filter_parse(a.p, a.len, &g, NULL) == HEARTH_OK,
               "reparse %s", a.p);
        if (g)
            hearth_filter_to_json(g, &b);
        CHECKF(b.p && a.len == b.len && !memcmp(a.p, b.p, a.len), "%s vs %s",
               a.p, b.p);
        hearth_buf_free(&a);
        hearth_buf_free(&b);
        hearth_filter_free(f);
        hearth_filter_free(g);
    }
}

static void test_rejections(void)
{
    const char *bad_ids =
        "invalid: ids must be a list of 64 lowercase hex characters";
    const char *bad_authors =
        "invalid: authors must be a list of 64 lowercase hex characters";
    const char *bad_kinds =
        "invalid: kinds must be a list of integers from 0 to 65535";
    const char *bad_ep =
        "invalid: #e and #p values must be 64 lowercase hex characters";
    const char *bad_letter =
        "unsupported: tag filters must name a single letter a-z or A-Z";

    rejects("[]", HEARTH_EINVAL, "invalid: filter must be a JSON object");
    rejects("\"x\"", HEARTH_EINVAL, "invalid: filter must be a JSON object");
    rejects("{", HEARTH_EINVAL, "invalid: *");
    rejects("{} {}", HEARTH_EINVAL, "invalid: *");
    rejects("{\"kinds\":[1],\"kinds\":[2]}", HEARTH_EINVAL, "invalid: *");
    rejects("{\"k\\u0000\":[1]}", HEARTH_EINVAL, "invalid: *");

    rejects("{\"ids\":\"" A64 "\"}", HEARTH_EINVAL, bad_ids);
    rejects("{\"ids\":[1]}", HEARTH_EINVAL, bad_ids);
    rejects("{\"ids\":[\"aaaa\"]}", HEARTH_EINVAL, bad_ids); /* no prefixes */
    rejects("{\"ids\":[\"" A64 "a\"]}", HEARTH_EINVAL, bad_ids);
    rejects("{\"ids\":[\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
            "AAAAAAAAA\"]}", HEARTH_EINVAL, bad_ids);
    rejects("{\"ids\":null}", HEARTH_EINVAL, bad_ids);
    rejects("{\"authors\":[\"" A64 "\",\"zz\"]}", HEARTH_EINVAL, bad_authors);
    rejects("{\"authors\":{}}", HEARTH_EINVAL, bad_authors);

    rejects("{\"kinds\":[-1]}", HEARTH_EINVAL, bad_kinds);
    rejects("{\"kinds\":[65536]}", HEARTH_EINVAL, bad_kinds);
    rejects("{\"kinds\":[1.0]}", HEARTH_EINVAL, bad_kinds);
    rejects("{\"kinds\":[\"1\"]}", HEARTH_EINVAL, bad_kinds);
    rejects("{\"kinds\":1}", HEARTH_EINVAL, bad_kinds);

    rejects("{\"since\":-1}", HEARTH_EINVAL,
            "invalid: since must be an integer from 0 to 2^53-1");
    rejects("{\"since\":\"1\"}", HEARTH_EINVAL,
            "invalid: since must be an integer from 0 to 2^53-1");
    rejects("{\"until\":9007199254740992}", HEARTH_EINVAL,
            "invalid: until must be an integer from 0 to 2^53-1");
    rejects("{\"until\":1.5}", HEARTH_EINVAL,
            "invalid: until must be an integer from 0 to 2^53-1");
    rejects("{\"limit\":-5}", HEARTH_EINVAL,
            "invalid: limit must be an integer from 0 to 2^53-1");
    rejects("{\"limit\":null}", HEARTH_EINVAL,
            "invalid: limit must be an integer from 0 to 2^53-1");

    rejects("{\"#e\":[\"x\"]}", HEARTH_EINVAL, bad_ep);
    rejects("{\"#p\":[\"" A64 "\",\"npub1xyz\"]}", HEARTH_EINVAL, bad_ep);
    rejects("{\"#t\":\"x\"}", HEARTH_EINVAL,
            "invalid: tag filters must be lists of strings");
    rejects("{\"#t\":[1]}", HEARTH_EINVAL,
            "invalid: tag filter values must be strings");
    rejects("{\"#tt\":[\"x\"]}", HEARTH_EINVAL, bad_letter);
    rejects("{\"#1\":[\"x\"]}", HEARTH_EINVAL, bad_letter);
    rejects("{\"#\":[\"x\"]}", HEARTH_EINVAL, bad_letter);
    rejects("{\"#\\u00e9\":[\"x\"]}", HEARTH_EINVAL, bad_letter);
    rejects("{\"search\":\"cats\"}", HEARTH_EINVAL,
            "unsupported: search (NIP-50)");
    rejects("{\"kinds\":[1],\"foo\":1}", HEARTH_EINVAL,
            "unsupported: unknown filter field");
    rejects("{\"e\":[\"x\"]}", HEARTH_EINVAL,
            "unsupported: unknown filter field");
}

static void test_bounds(void)
{
    hearth_buf b = HEARTH_BUF_INIT;
    /* exactly HEARTH_FILTER_MAX_VALUES kinds pass, one more does not */
    hearth_buf_adds(&b, "{\"kinds\":[0");
    for (unsigned i = 1; i < HEARTH_FILTER_MAX_VALUES; i++)
        hearth_buf_addf(&b, ",%u", i);
    hearth_buf_adds(&b, "]}");
    hearth_filter *f = parse(b.p);
    CHECK(f && f->nkinds == HEARTH_FILTER_MAX_VALUES);
    hearth_filter_free(f);
    b.len -= 2;
    hearth_buf_adds(&b, ",5000]}");
    rejects(b.p, HEARTH_ETOOBIG, "invalid: too many values in a filter list");

    /* tag value length */
    hearth_buf_reset(&b);
    hearth_buf_adds(&b, "{\"#d\":[\"");
    for (unsigned i = 0; i < HEARTH_FILTER_MAX_VALUE_LEN; i++)
        hearth_buf_addc(&b, 'x');
    hearth_buf_adds(&b, "\"]}");
    f = parse(b.p);
    CHECK(f && f->tags[0].values[0].n == HEARTH_FILTER_MAX_VALUE_LEN);
    hearth_filter_free(f);
    b.len -= 3;
    hearth_buf_adds(&b, "x\"]}");
    rejects(b.p, HEARTH_ETOOBIG, "invalid: tag filter value too long");

    /* number of tag filters */
    hearth_buf_reset(&b);
    hearth_buf_addc(&b, '{');
    for (unsigned i = 0; i < HEARTH_FILTER_MAX_TAGS; i++)
        hearth_buf_addf(&b, "%s\"#%c\":[\"v\"]", i ? "," : "", 'A' + i);
    hearth_buf_addc(&b, '}');
    f = parse(b.p);
    CHECK(f && f->ntags == HEARTH_FILTER_MAX_TAGS);
    hearth_filter_free(f);
    b.len--;
    hearth_buf_adds(&b, ",\"#z\":[]}");
    rejects(b.p, HEARTH_ETOOBIG, "invalid: too many tag filters");
    hearth_buf_free(&b);

    /* whole-text bound: checked before any byte is read */
    size_t big = HEARTH_FILTER_MAX_JSON + 1;
    char *p = malloc(big);
    CHECK(p != NULL);
    if (p) {
        memset(p, ' ', big);
        p[0] = '{';
        p[big - 1] = '}';
        hearth_filter *g = NULL;
        const char *why = NULL;
        CHECK(hearth_filter_parse(p, big, &g, &why) == HEARTH_ETOOBIG);
        CHECK(g == NULL && why && !strncmp(why, "invalid: ", 9));
        free(p);
    }
}

static hearth_event *signed_event(const uint8_t sk[32], uint32_t kind,
                                  int64_t at)
{
    hearth_event *ev = NULL;
    CHECK(hearth_event_new(kind, at, "hello", 5, &ev) == HEARTH_OK);
    if (!ev)
        return NULL;
    CHECK(hearth_event_add_tagv(ev, "e", A64, "wss://r.example", NULL) == 0);
    CHECK(hearth_event_add_tagv(ev, "p", B64, NULL) == 0);
    CHECK(hearth_event_add_tagv(ev, "t", "nostr", NULL) == 0);
    CHECK(hearth_event_add_tagv(ev, "t", "c", NULL) == 0);
    CHECK(hearth_event_add_tagv(ev, "x", "one", "two", NULL) == 0);
    CHECK(hearth_event_add_tagv(ev, "tt", "long", NULL) == 0);
    CHECK(hearth_event_add_tagv(ev, "T", "upper", NULL) == 0);
    CHECK(hearth_event_add_tagv(ev, "q", NULL) == 0); /* name only */
    CHECK(hearth_event_sign(ev, sk) == HEARTH_OK);
    return ev;
}

static void test_match(void)
{
    uint8_t sk[32];
    char id[65], pk[65], buf[512];
    CHECK(hearth_key_generate(sk) == HEARTH_OK);
    hearth_event *ev = signed_event(sk, 1, 1000);
    if (!ev)
        return;
    hearth_hex_encode(ev->id, 32, id);
    hearth_hex_encode(ev->pubkey, 32, pk);

    CHECK(m("{}", ev) == 1);
    /* since <= created_at <= until, both ends inclusive */
    CHECK(m("{\"since\":1000}", ev) == 1);
    CHECK(m("{\"since\":1001}", ev) == 0);
    CHECK(m("{\"until\":1000}", ev) == 1);
    CHECK(m("{\"until\":999}", ev) == 0);
    CHECK(m("{\"since\":1000,\"until\":1000}", ev) == 1);
    CHECK(m("{\"since\":1001,\"until\":999}", ev) == 0);
    CHECK(m("{\"since\":0}", ev) == 1);
    /* limit is for the initial query only */
    CHECK(m("{\"limit\":0}", ev) == 1);

    CHECK(m("{\"kinds\":[0,1,2]}", ev) == 1);
    CHECK(m("{\"kinds\":[0,2]}", ev) == 0);
    snprintf(buf, sizeof buf, "{\"ids\":[\"" A64 "\",\"%s\"]}", id);
    CHECK(m(buf, ev) == 1);
    CHECK(m("{\"ids\":[\"" A64 "\"]}", ev) == 0);
    snprintf(buf, sizeof buf, "{\"authors\":[\"%s\"],\"kinds\":[1]}", pk);
    CHECK(m(buf, ev) == 1);
    snprintf(buf, sizeof buf, "{\"authors\":[\"%s\"],\"kinds\":[7]}", pk);
    CHECK(m(buf, ev) == 0); /* conditions are AND'ed */
    CHECK(m("{\"authors\":[\"" C64 "\"]}", ev) == 0);

    /* an empty list matches nothing, even where the rest would match */
    CHECK(m("{\"ids\":[]}", ev) == 0);
    CHECK(m("{\"authors\":[]}", ev) == 0);
    CHECK(m("{\"kinds\":[]}", ev) == 0);
    CHECK(m("{\"#t\":[]}", ev) == 0);

    /* tags: first value only, single-letter name, case matters */
    CHECK(m("{\"#e\":[\"" A64 "\"]}", ev) == 1);
    CHECK(m("{\"#p\":[\"" A64 "\"]}", ev) == 0);
    CHECK(m("{\"#t\":[\"nostr\"]}", ev) == 1);
    CHECK(m("{\"#t\":[\"c\"]}", ev) == 1);   /* the second t tag */
    CHECK(m("{\"#t\":[\"x\",\"c\"]}", ev) == 1);
    CHECK(m("{\"#t\":[\"nost\"]}", ev) == 0);
    CHECK(m("{\"#t\":[\"long\"]}", ev) == 0); /* ["tt", ...] is not t */
    CHECK(m("{\"#x\":[\"one\"]}", ev) == 1);
    CHECK(m("{\"#x\":[\"two\"]}", ev) == 0);  /* not a first value */
    CHECK(m("{\"#T\":[\"upper\"]}", ev) == 1);
    CHECK(m("{\"#T\":[\"nostr\"]}", ev) == 0);
    CHECK(m("{\"#q\":[\"\"]}", ev) == 0);     /* the tag has no value */
    CHECK(m("{\"#z\":[\"nostr\"]}", ev) == 0);
    /* several tag conditions: all must hold */
    CHECK(m("{\"#e\":[\"" A64 "\"],\"#t\":[\"nostr\"]}", ev) == 1);
    CHECK(m("{\"#e\":[\"" A64 "\"],\"#t\":[\"other\"]}", ev) == 0);
    CHECK(m("{\"#e\":[\"" A64 "\"],\"#p\":[\"" B64 "\"],\"#t\":[\"c\"],"
            "\"kinds\":[1],\"since\":999,\"until\":1001}", ev) == 1);

    /* OR across the filters of one REQ */
    hearth_filter *fs[2] = {parse("{\"kinds\":[5]}"),
                            parse("{\"#t\":[\"nostr\"]}")};
    if (fs[0] && fs[1]) {
        CHECK(hearth_filter_match_any(fs, 2, ev) == 1);
        CHECK(hearth_filter_match_any(fs, 1, ev) == 0);
        CHECK(hearth_filter_match_any(fs, 0, ev) == 0);
    }
    hearth_filter_free(fs[0]);
    hearth_filter_free(fs[1]);

    /* ids and authors never match an event that lacks them */
    hearth_event *raw = NULL;
    CHECK(hearth_event_new(1, 1000, "", 0, &raw) == HEARTH_OK);
    if (raw) {
        raw->id[0] = 0xaa; /* would match A64's first byte, but no HAS_ID */
        CHECK(m("{\"ids\":[\"" A64 "\"]}", raw) == 0);
        CHECK(m("{\"authors\":[\"" A64 "\"]}", raw) == 0);
        CHECK(m("{\"kinds\":[1]}", raw) == 1);
        hearth_event_free(raw);
    }
    hearth_event_free(ev);
}

static void test_match_nul_values(void)
{
    hearth_event *ev = NULL;
    CHECK(hearth_event_new(1, 5, "", 0, &ev) == HEARTH_OK);
    if (!ev)
        return;
    const char *vals[] = {"d", "a\0b"};
    size_t lens[] = {1, 3};
    CHECK(hearth_event_add_tag(ev, 2, vals, lens) == HEARTH_OK);
    CHECK(m("{\"#d\":[\"a\\u0000b\"]}", ev) == 1);
    CHECK(m("{\"#d\":[\"a\"]}", ev) == 0);
    CHECK(m("{\"#d\":[\"a\\u0000bc\"]}", ev) == 0);
    hearth_event_free(ev);
}

int main(void)
{
    test_parse_normalizes();
    test_round_trip();
    test_rejections();
    test_bounds();
    test_match();
    test_match_nul_values();
    return tap_done();
}
