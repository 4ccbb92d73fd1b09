/* Event core: BIP-340 vectors, NIP-01 canonical serialization, strict
 * parsing, verification, kind classes, addresses, NIP-40, and the
 * malformed-input corpus in tests/malformed/events.tsv. */
#include "hearth/error.h"
#include "hearth/event.h"
#include "hearth/hex.h"
#include "hearth/keys.h"
#include "tap.h"

#include <stdint.h>

static size_t unhex(const char *s, size_t n, uint8_t *out)
{
    CHECK(n % 2 == 0);
    CHECK(hearth_hex_decode(s, n, out, n / 2, 1) == HEARTH_OK);
    return n / 2;
}

/* split one CSV line into up to 8 fields (the file has no quoted commas) */
static int split(char *line, char **f)
{
    int n = 0;
    f[n++] = line;
    for (char *p = line; *p && n < 8; p++)
        if (*p == ',') {
            *p = '\0';
            f[n++] = p + 1;
        }
    return n;
}

static void test_bip340(void)
{
    char *csv = tap_slurp("vectors/bip340-test-vectors.csv", NULL);
    int rows = 0;
    char *save = NULL;
    strtok_r(csv, "\r\n", &save); /* header */
    for (char *line = strtok_r(NULL, "\r\n", &save); line;
         line = strtok_r(NULL, "\r\n", &save)) {
        char *f[8];
        if (split(line, f) < 7)
            continue;
        uint8_t sk[32], pk[32], aux[32], msg[128], sig[64], out[64], mypk[32];
        size_t msglen = unhex(f[4], strlen(f[4]), msg);
        unhex(f[2], 64, pk);
        unhex(f[5], 128, sig);
        int expect = !strcmp(f[6], "TRUE");
        if (*f[1]) {
            unhex(f[1], 64, sk);
            unhex(f[3], 64, aux);
            CHECKF(hearth_key_pubkey(sk, mypk) == 0 && !memcmp(mypk, pk, 32),
                   "vector %s pubkey", f[0]);
            CHECKF(hearth_schnorr_sign(sk, msg, msglen, aux, out) == 0 &&
                       !memcmp(out, sig, 64),
                   "vector %s signature", f[0]);
        }
        int ok = hearth_schnorr_verify(pk, msg, msglen, sig) == HEARTH_OK;
        CHECKF(ok == expect, "vector %s verify=%d want %d", f[0], ok, expect);
        rows++;
    }
    CHECKF(rows == 19, "read %d BIP-340 rows", rows);
    free(csv);
}

static void test_nip13_example_id(void)
{
    /* the NIP-13 example is a real signed event: id and sig must check */
    char *text = tap_slurp("vectors/nip13_example_event.json", NULL);
    char *start = strstr(text, "\"event\"");
    CHECK(start != NULL);
    start = strchr(start, '{');
    char *end = strchr(start, '}');
    hearth_event *ev = NULL;
    const char *why = NULL;
    CHECK(hearth_event_parse(start, (size_t)(end - start + 1), 0, &ev, &why) ==
          0);
    CHECKF(ev && hearth_event_verify(ev, &why) == 0, "%s", why);
    hearth_event_free(ev);
    free(text);
}

static hearth_event *signed_event(const char *content, size_t n,
                                  const uint8_t sk[32])
{
    hearth_event *ev = NULL;
    CHECK(hearth_event_new(1, 1700000000, content, n, &ev) == 0);
    CHECK(hearth_event_add_tagv(ev, "e", "ab", "wss://r.example", NULL) == 0);
    CHECK(hearth_event_add_tagv(ev, "t", "x\"y\\z", NULL) == 0);
    CHECK(hearth_event_sign(ev, sk) == 0);
    return ev;
}

static void test_serialize_escapes(void)
{
    /* JSON.stringify escapes exactly: " \ \b \f \n \r \t, other C0 as
     * \u00xx lowercase; DEL, '/', U+2028 and non-ASCII stay raw. */
    static const char in[] = "\x00\x01\b\t\n\x0b\x0c\r\x1f \"\\/\x7f"
                             "\xe2\x80\xa8\xc3\xa9\xf0\x9f\x98\x80";
    static const char want[] = "\"\\u0000\\u0001\\b\\t\\n\\u000b\\f\\r"
                               "\\u001f \\\"\\\\/\x7f\xe2\x80\xa8\xc3\xa9"
                               "\xf0\x9f\x98\x80\"";
    hearth_buf b = HEARTH_BUF_INIT;
    hearth_buf_addjson(&b, in, sizeof in - 1);
    CHECKF(b.len == sizeof want - 1 && !memcmp(b.p, want, b.len), "got %s",
           b.p);
    hearth_buf_free(&b);
}

static void test_canonical_form(void)
{
    hearth_event *ev = NULL;
    CHECK(hearth_event_new(30023, 4102444800LL, "a\nb", 3, &ev) == 0);
    memset(ev->pubkey, 0xab, 32);
    CHECK(hearth_event_add_tagv(ev, "d", "x", NULL) == 0);
    hearth_buf b = HEARTH_BUF_INIT;
    CHECK(hearth_event_serialize(ev, &b) == 0);
    const char *want = "[0,\"abababababababababababababababababababababababab"
                       "abababababababab\",4102444800,30023,[[\"d\",\"x\"]],"
                       "\"a\\nb\"]";
    CHECKF(!strcmp(b.p, want), "got %s", b.p);
    hearth_buf_reset(&b);
    CHECK(hearth_event_address(ev, &b) == 0);
    CHECK(!strncmp(b.p, "30023:abab", 10) && b.p[b.len - 1] == 'x');
    hearth_buf_free(&b);
    hearth_event_free(ev);
}

static void test_roundtrip_and_verify(void)
{
    uint8_t sk[32];
    CHECK(hearth_key_generate(sk) == 0);
    static const char content[] = "nul\0inside \xe2\x80\xa8 \x7f done";
    hearth_event *ev = signed_event(content, sizeof content - 1, sk);
    CHECK(hearth_event_verify(ev, NULL) == 0);
    hearth_buf js = HEARTH_BUF_INIT;
    CHECK(hearth_event_to_json(ev, &js) == 0);
    hearth_event *back = NULL;
    const char *why = NULL;
    CHECKF(hearth_event_parse(js.p, js.len, 0, &back, &why) == 0, "%s", why);
    CHECK(back && back->content.n == sizeof content - 1 &&
          !memcmp(back->content.p, content, sizeof content - 1));
    CHECKF(back && hearth_event_verify(back, &why) == 0, "%s", why);
    hearth_buf js2 = HEARTH_BUF_INIT;
    hearth_event_to_json(back, &js2);
    CHECK(js.len == js2.len && !memcmp(js.p, js2.p, js.len));

    /* tampering: each changed field must be caught with its reason */
    back->content.p = "other";
    back->content.n = 5;
    CHECK(hearth_event_verify(back, &why) == HEARTH_EBADID);
    CHECK(!strcmp(why, "invalid: event id does not match its content"));
    hearth_event_free(back);
    ev->sig[10] ^= 1;
    CHECK(hearth_event_verify(ev, &why) == HEARTH_EBADSIG);
    CHECK(!strcmp(why, "invalid: bad signature"));
    ev->sig[10] ^= 1;
    ev->id[0] ^= 1;
    CHECK(hearth_event_verify(ev, &why) == HEARTH_EBADID);
    ev->id[0] ^= 1;
    ev->pubkey[5] ^= 1;
    CHECK(hearth_event_verify(ev, &why) != HEARTH_OK);
    hearth_buf_free(&js);
    hearth_buf_free(&js2);
    hearth_event_free(ev);
}

static void test_timestamps(void)
{
    const char *fmt = "{\"id\":\"%064d\",\"pubkey\":\"%064d\",\"created_at\":%s,"
                      "\"kind\":1,\"tags\":[],\"content\":\"\",\"sig\":\"%0128d\"}";
    const char *ok[] = {"0", "2147483648", "4102444800", "9007199254740991"};
    const char *bad[] = {"9007199254740992", "-1", "1.5", "1e9", "\"1\""};
    char js[512];
    hearth_event *ev = NULL;
    for (size_t i = 0; i < 4; i++) {
        snprintf(js, sizeof js, fmt, 0, 0, ok[i], 0);
        CHECKF(hearth_event_parse(js, strlen(js), 0, &ev, NULL) == 0, "%s",
               ok[i]);
        hearth_buf b = HEARTH_BUF_INIT;
        hearth_event_to_json(ev, &b);
        CHECKF(!strcmp(b.p, js), "round trip %s -> %s", js, b.p);
        hearth_buf_free(&b);
        hearth_event_free(ev);
    }
    for (size_t i = 0; i < 5; i++) {
        const char *why = NULL;
        snprintf(js, sizeof js, fmt, 0, 0, bad[i], 0);
        CHECKF(hearth_event_parse(js, strlen(js), 0, &ev, &why) != 0, "%s",
               bad[i]);
        CHECK(why && !strncmp(why, "invalid: ", 9));
    }
}

static void test_kinds_and_expiration(void)
{
    CHECK(hearth_kind_class(0) == HEARTH_KIND_REPLACEABLE);
    CHECK(hearth_kind_class(1) == HEARTH_KIND_REGULAR);
    CHECK(hearth_kind_class(3) == HEARTH_KIND_REPLACEABLE);
    CHECK(hearth_kind_class(5970) == HEARTH_KIND_REGULAR);
    CHECK(hearth_kind_class(9999) == HEARTH_KIND_REGULAR);
    CHECK(hearth_kind_class(10000) == HEARTH_KIND_REPLACEABLE);
    CHECK(hearth_kind_class(19999) == HEARTH_KIND_REPLACEABLE);
    CHECK(hearth_kind_class(20000) == HEARTH_KIND_EPHEMERAL);
    CHECK(hearth_kind_class(29999) == HEARTH_KIND_EPHEMERAL);
    CHECK(hearth_kind_class(30000) == HEARTH_KIND_ADDRESSABLE);
    CHECK(hearth_kind_class(39999) == HEARTH_KIND_ADDRESSABLE);
    CHECK(hearth_kind_class(40000) == HEARTH_KIND_REGULAR);

    hearth_event *ev = NULL;
    int64_t at = 0;
    CHECK(hearth_event_new(1, 100, "", 0, &ev) == 0);
    CHECK(hearth_event_expiration(ev, &at) == 0);
    CHECK(!hearth_event_is_expired(ev, 1LL << 40));
    CHECK(hearth_event_address(ev, &(hearth_buf)HEARTH_BUF_INIT) ==
          HEARTH_EINVAL);
    CHECK(hearth_event_add_tagv(ev, "expiration", "5000", NULL) == 0);
    CHECK(hearth_event_expiration(ev, &at) == 1 && at == 5000);
    CHECK(!hearth_event_is_expired(ev, 4999));
    CHECK(hearth_event_is_expired(ev, 5000));
    hearth_event_free(ev);
    CHECK(hearth_event_new(1, 100, "", 0, &ev) == 0);
    CHECK(hearth_event_add_tagv(ev, "expiration", "12x", NULL) == 0);
    /* builders refuse what the parser would refuse */
    CHECK(hearth_event_add_tagv(ev, "t", "\xff", NULL) == HEARTH_EINVAL);
    CHECK(hearth_event_set_content(ev, "\xed\xa0\x80", 3) == HEARTH_EINVAL);
    CHECK(hearth_event_expiration(ev, &at) == HEARTH_EINVAL);
    CHECK(!hearth_event_is_expired(ev, 1LL << 40));
    hearth_event_free(ev);
}

/* tests/malformed/events.tsv: "<expected reason>\t<input>" per line; the
 * input is taken byte for byte (it may hold invalid UTF-8). */
static void test_malformed_corpus(void)
{
    size_t len;
    char *text = tap_slurp("malformed/events.tsv", &len);
    int n = 0;
    for (char *line = text; line < text + len;) {
        char *nl = memchr(line, '\n', (size_t)(text + len - line));
        char *end = nl ? nl : text + len;
        char *tab = memchr(line, '\t', (size_t)(end - line));
        if (*line != '#' && tab) {
            *tab = '\0';
            hearth_event *ev = NULL;
            const char *why = NULL;
            int rc = hearth_event_parse(tab + 1, (size_t)(end - tab - 1), 0,
                                        &ev, &why);
            if (rc == 0) {
                rc = hearth_event_verify(ev, &why);
                hearth_event_free(ev);
            }
            CHECKF(rc != 0 && why && !strcmp(why, line),
                   "input %.*s: want '%s' got '%s'", (int)(end - tab - 1),
                   tab + 1, line, why ? why : "(accepted)");
            n++;
        }
        line = end + 1;
    }
    CHECKF(n >= 30, "corpus has only %d cases", n);
    free(text);
}

static void test_generated_malformed(void)
{
    const char *why = NULL;
    hearth_event *ev = NULL;
    /* deep nesting: an event's shape bounds its depth, so the parser
     * stops at the first level that cannot be there */
    size_t depth = 100000;
    char *deep = malloc(2 * depth + 32);
    memset(deep, '[', depth);
    memset(deep + depth, ']', depth);
    CHECK(hearth_event_parse(deep, 2 * depth, 0, &ev, &why) != 0);
    CHECKF(why && !strcmp(why, "invalid: event must be a JSON object"), "%s",
           why);
    memcpy(deep, "{\"tags\":[[", 11);
    CHECK(hearth_event_parse(deep, 2 * depth, 0, &ev, &why) != 0);
    CHECKF(why && !strcmp(why, "invalid: tag values must be strings"), "%s",
           why);
    free(deep);
    /* overlong input */
    size_t big = HEARTH_EVENT_MAX_JSON + 10;
    char *huge = malloc(big);
    memset(huge, ' ', big);
    CHECK(hearth_event_parse(huge, big, 0, &ev, &why) == HEARTH_ETOOBIG);
    free(huge);
    /* too many tags */
    hearth_buf b = HEARTH_BUF_INIT;
    hearth_buf_addf(&b, "{\"id\":\"%064d\",\"pubkey\":\"%064d\",\"created_at\":1,"
                        "\"kind\":1,\"content\":\"\",\"sig\":\"%0128d\","
                        "\"tags\":[", 0, 0, 0);
    for (unsigned i = 0; i <= HEARTH_EVENT_MAX_TAGS; i++)
        hearth_buf_adds(&b, i ? ",[\"t\"]" : "[\"t\"]");
    hearth_buf_adds(&b, "]}");
    CHECK(hearth_event_parse(b.p, b.len, 0, &ev, &why) == HEARTH_ETOOBIG);
    CHECKF(why && !strcmp(why, "invalid: too many tags"), "%s", why);
    /* every truncation of a valid event fails cleanly */
    uint8_t sk[32];
    hearth_key_generate(sk);
    hearth_event *good = signed_event("hello", 5, sk);
    hearth_buf_reset(&b);
    hearth_event_to_json(good, &b);
    int truncated_ok = 0;
    for (size_t i = 0; i < b.len; i++)
        if (hearth_event_parse(b.p, i, 0, &ev, &why) == 0) {
            truncated_ok++;
            hearth_event_free(ev);
        }
    CHECK(truncated_ok == 0);
    hearth_event_free(good);
    hearth_buf_free(&b);
}

static void test_unsigned_parse(void)
{
    hearth_event *ev = NULL;
    const char *why = NULL;
    const char *js = "{\"kind\":1,\"content\":\"hi\"}";
    CHECK(hearth_event_parse(js, strlen(js), 0, &ev, &why) != 0);
    CHECK(!strcmp(why, "invalid: missing id"));
    CHECK(hearth_event_parse(js, strlen(js), HEARTH_PARSE_UNSIGNED, &ev,
                             &why) == 0);
    CHECK(ev && ev->ntags == 0 && !(ev->has & HEARTH_EV_HAS_CREATED_AT));
    CHECK(ev && hearth_event_verify(ev, &why) == HEARTH_EINVAL);
    hearth_event_free(ev);
}

int main(void)
{
    test_bip340();
    test_nip13_example_id();
    test_serialize_escapes();
    test_canonical_form();
    test_roundtrip_and_verify();
    test_timestamps();
    test_kinds_and_expiration();
    test_malformed_corpus();
    test_generated_malformed();
    test_unsigned_parse();
    return tap_done();
}
