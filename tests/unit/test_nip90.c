/* NIP-90: requests built, signed, sent as JSON and parsed back (plain,
 * NIP-44 and NIP-04 encrypted), every malformed tag refused with its
 * reason, the bounds, the route tag, feedback and results through
 * reply_parse both ways, cancellation, and a request made by NDK. */
#include "hearth/error.h"
#include "hearth/event.h"
#include "hearth/hex.h"
#include "hearth/keys.h"
#include "hearth/nip04.h"
#include "hearth/nip44.h"
#include "hearth/nip90.h"
#include "tap.h"

#include <jansson.h>
#include <stdint.h>

#define NOW 1700000000

static uint8_t sk_c[32], sk_p[32], sk_o[32]; /* customer, provider, other */
static uint8_t pk_c[32], pk_p[32], pk_o[32];
static char hex_c[65], hex_p[65], hex_o[65];

static void setup_keys(void)
{
    memset(sk_c, 0x11, 32);
    memset(sk_p, 0x22, 32);
    memset(sk_o, 0x33, 32);
    CHECK(hearth_key_pubkey(sk_c, pk_c) == HEARTH_OK);
    CHECK(hearth_key_pubkey(sk_p, pk_p) == HEARTH_OK);
    CHECK(hearth_key_pubkey(sk_o, pk_o) == HEARTH_OK);
    hearth_hex_encode(pk_c, 32, hex_c);
    hearth_hex_encode(pk_p, 32, hex_p);
    hearth_hex_encode(pk_o, 32, hex_o);
}

/* Sign, write as JSON and parse back: what a peer receives. Frees ev. */
static hearth_event *wire(hearth_event *ev, const uint8_t sk[32])
{
    if (!ev)
        return NULL;
    CHECK(hearth_event_sign(ev, sk) == HEARTH_OK);
    hearth_buf b = HEARTH_BUF_INIT;
    CHECK(hearth_event_to_json(ev, &b) == HEARTH_OK);
    hearth_event_free(ev);
    hearth_event *got = NULL;
    const char *why = NULL;
    int rc = hearth_event_parse(b.p, b.len, 0, &got, &why);
    CHECKF(rc == HEARTH_OK, "%s", why ? why : "?");
    if (rc == HEARTH_OK)
        CHECK(hearth_event_verify(got, NULL) == HEARTH_OK);
    hearth_buf_free(&b);
    return got;
}

static void add_json_tags(hearth_event *ev, const char *tags_json)
{
    json_error_t err;
    json_t *tags = json_loads(tags_json, JSON_ALLOW_NUL, &err);
    CHECKF(tags != NULL, "%s", err.text);
    size_t i;
    json_t *t;
    json_array_foreach(tags, i, t) {
        const char *vals[HEARTH_TAG_MAX_VALUES];
        size_t lens[HEARTH_TAG_MAX_VALUES];
        size_t n = json_array_size(t);
        for (size_t k = 0; k < n; k++) {
            vals[k] = json_string_value(json_array_get(t, k));
            lens[k] = json_string_length(json_array_get(t, k));
        }
        CHECK(hearth_event_add_tag(ev, n, vals, lens) == HEARTH_OK);
    }
    json_decref(tags);
}

/* An event of kind with tags given as JSON, signed by sk. */
static hearth_event *make(uint32_t kind, const char *tags_json,
                          const char *content, const uint8_t sk[32])
{
    hearth_event *ev = NULL;
    CHECK(hearth_event_new(kind, NOW, content, strlen(content), &ev) ==
          HEARTH_OK);
    if (!ev)
        return NULL;
    add_json_tags(ev, tags_json);
    return wire(ev, sk);
}

/* NIP-44 encryption of text from the customer to the provider */
static char *to_provider(const char *text)
{
    uint8_t ck[32];
    CHECK(hearth_nip44_conversation_key(sk_c, pk_p, ck) == HEARTH_OK);
    hearth_buf b = HEARTH_BUF_INIT;
    CHECK(hearth_nip44_encrypt(ck, text, strlen(text), NULL, &b) ==
          HEARTH_OK);
    return b.p;
}

static hearth_job_request *parse_ok(const hearth_event *ev,
                                    const uint8_t *sk)
{
    hearth_job_request *r = NULL;
    const char *why = NULL;
    int rc = hearth_nip90_request_parse(ev, sk, &r, &why);
    CHECKF(rc == HEARTH_OK && r, "%s", why ? why : "?");
    return r;
}

/* the reason a request is refused with ("" if it was accepted) */
static const char *req_why(const hearth_event *ev, const uint8_t *sk)
{
    hearth_job_request *r = NULL;
    const char *why = NULL;
    int rc = hearth_nip90_request_parse(ev, sk, &r, &why);
    CHECK(rc != HEARTH_OK && r == NULL);
    hearth_job_request_free(r);
    return rc != HEARTH_OK && why ? why : "";
}

static void reject(uint32_t kind, const char *tags, const char *content,
                   const uint8_t *sk, const char *want)
{
    hearth_event *ev = make(kind, tags, content, sk_c);
    if (!ev)
        return;
    const char *why = req_why(ev, sk);
    CHECKF(!strcmp(why, want), "%.200s: got \"%s\", want \"%s\"", tags,
           why, want);
    hearth_event_free(ev);
}

static int has_tag(const hearth_event *ev, const char *name)
{
    return hearth_event_find_tag(ev, name) != NULL;
}

/* ---- requests ---- */

static const hearth_job_input test_inputs[] = {
    {"hello\0world", 11, "text", "prompt"},
    {"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
     64, "event", ""},
};
static const hearth_job_param test_params[] = {
    {"model", "llama3"},
    {"max_tokens", "512"},
};
static const char *const test_relays[] = {"wss://Relay.Example.com/",
                                          "wss://relay.example.com",
                                          "ws://127.0.0.1:7777"};

static hearth_job_spec base_spec(void)
{
    hearth_job_spec s = {0};
    s.kind = 5050;
    s.ninputs = 2;
    s.inputs = test_inputs;
    s.nparams = 2;
    s.params = test_params;
    s.output = "text/plain";
    s.bid_msat = 21000;
    s.nrelays = 3;
    s.relays = test_relays;
    s.expiration = NOW + 600;
    return s;
}

static void check_fields(const hearth_job_request *r)
{
    CHECK(r->kind == 5050 && r->created_at == NOW);
    CHECK(!memcmp(r->customer, pk_c, 32));
    CHECK(r->expiration == NOW + 600);
    CHECK(r->ninputs == 2);
    CHECK(r->inputs[0].len == 11 && !memcmp(r->inputs[0].value,
                                            "hello\0world", 11));
    CHECK(!strcmp(r->inputs[0].type, "text"));
    CHECK(!strcmp(r->inputs[0].marker, "prompt"));
    CHECK(!strcmp(r->inputs[1].type, "event"));
    CHECK(!strcmp(r->inputs[1].marker, ""));
    CHECK(r->nparams == 2 && !strcmp(r->params[0].key, "model") &&
          !strcmp(r->params[0].value, "llama3") &&
          !strcmp(r->params[1].key, "max_tokens"));
    CHECK(r->output && !strcmp(r->output, "text/plain"));
    CHECK(r->bid_msat == 21000);
    /* normalized, the repeat dropped */
    CHECK(r->nrelays == 2 && !strcmp(r->relays[0], "wss://relay.example.com")
          && !strcmp(r->relays[1], "ws://127.0.0.1:7777"));
}

static void test_plain(void)
{
    hearth_job_spec s = base_spec();
    uint8_t provs[2][32];
    memcpy(provs[0], pk_p, 32);
    memcpy(provs[1], pk_o, 32);
    s.nproviders = 2;
    s.providers = (const uint8_t(*)[32])provs;
    hearth_event *ev = NULL;
    CHECK(hearth_nip90_request_build(&s, sk_c, NOW, &ev) == HEARTH_OK);
    CHECK(ev && !has_tag(ev, "encrypted") && ev->content.n == 0);
    ev = wire(ev, sk_c);
    if (!ev)
        return;
    /* a plain request needs no key */
    hearth_job_request *r = parse_ok(ev, NULL);
    if (r) {
        check_fields(r);
        CHECK(r->enc == HEARTH_NIP90_PLAIN && r->nroute == 0);
        CHECK(!memcmp(r->id, ev->id, 32));
        CHECK(r->nproviders == 2 && !memcmp(r->providers[1], pk_o, 32));
        CHECK(hearth_nip90_request_is_for(r, pk_p) == 1);
        CHECK(hearth_nip90_request_is_for(r, pk_o) == 1);
        CHECK(hearth_nip90_request_is_for(r, pk_c) == 0);
        hearth_buf b = HEARTH_BUF_INIT;
        CHECK(hearth_event_to_json(ev, &b) == HEARTH_OK);
        CHECK(r->json && r->json_len == b.len && !memcmp(r->json, b.p, b.len));
        hearth_buf_free(&b);
        hearth_runner_job job;
        hearth_nip90_runner_job(r, &job);
        CHECK(job.kind == 5050 && job.ninputs == 2 && job.nparams == 2 &&
              job.inputs == r->inputs && job.output == r->output &&
              job.time_limit_ms == 0 && job.mem_limit == 0);
    }
    hearth_job_request_free(r);
    hearth_event_free(ev);

    /* open request: no p tag, for everyone */
    s.nproviders = 0;
    CHECK(hearth_nip90_request_build(&s, sk_c, NOW, &ev) == HEARTH_OK);
    ev = wire(ev, sk_c);
    r = ev ? parse_ok(ev, sk_p) : NULL;
    CHECK(r && hearth_nip90_request_is_for(r, pk_o) == 1 &&
          hearth_nip90_request_is_for(r, pk_c) == 1);
    hearth_job_request_free(r);
    hearth_event_free(ev);
}

static void test_encrypted(int enc)
{
    hearth_job_spec s = base_spec();
    s.enc = enc;
    s.nproviders = 1;
    s.providers = (const uint8_t(*)[32])pk_p;
    hearth_event *ev = NULL;
    CHECK(hearth_nip90_request_build(&s, sk_c, NOW, &ev) == HEARTH_OK);
    ev = wire(ev, sk_c);
    if (!ev)
        return;
    /* only p, expiration and encrypted stay public */
    CHECK(ev->ntags == 3 && has_tag(ev, "p") && has_tag(ev, "encrypted") &&
          has_tag(ev, "expiration") && !has_tag(ev, "i") &&
          !has_tag(ev, "param") && !has_tag(ev, "bid"));
    int iv = strstr(ev->content.p, "?iv=") != NULL;
    CHECK(iv == (enc == HEARTH_NIP90_NIP04));

    hearth_job_request *r = parse_ok(ev, sk_p);
    if (r) {
        check_fields(r);
        CHECK(r->enc == enc);
        CHECK(hearth_nip90_request_is_for(r, pk_p) == 1);
        CHECK(hearth_nip90_request_is_for(r, pk_o) == 0);
    }
    hearth_job_request_free(r);
    CHECK(!strcmp(req_why(ev, sk_o),
                  "invalid: encrypted request is not addressed to us"));
    CHECK(!strcmp(req_why(ev, NULL),
                  "invalid: encrypted request and no key to decrypt it"));
    hearth_event_free(ev);
}

static void test_route(void)
{
    /* a router (the "other" key) delegates the customer's job */
    uint8_t route[2][32];
    memcpy(route[0], pk_c, 32);
    memcpy(route[1], pk_o, 32);
    hearth_job_spec s = base_spec();
    s.nroute = 2;
    s.route = (const uint8_t(*)[32])route;
    s.nproviders = 1;
    s.providers = (const uint8_t(*)[32])pk_p;
    for (int enc = 0; enc <= HEARTH_NIP90_NIP44; enc += HEARTH_NIP90_NIP44) {
        s.enc = enc;
        hearth_event *ev = NULL;
        CHECK(hearth_nip90_request_build(&s, sk_o, NOW, &ev) == HEARTH_OK);
        ev = wire(ev, sk_o);
        if (!ev)
            continue;
        /* private jobs keep their route private too */
        CHECK(has_tag(ev, "route") == (enc == 0));
        hearth_job_request *r = parse_ok(ev, sk_p);
        CHECK(r && r->nroute == 2 && !memcmp(r->route[0], pk_c, 32) &&
              !memcmp(r->route[1], pk_o, 32) && !memcmp(r->customer, pk_o, 32));
        hearth_job_request_free(r);
        hearth_event_free(ev);
    }
    /* the route must end with the author */
    hearth_event *ev = NULL;
    CHECK(hearth_nip90_request_build(&s, sk_c, NOW, &ev) == HEARTH_EINVAL);
    CHECK(ev == NULL);

    char tags[512];
    snprintf(tags, sizeof tags, "[[\"route\",\"%s\",\"%s\"]]", hex_o, hex_c);
    hearth_event *e2 = make(5050, tags, "", sk_c);
    hearth_job_request *r = e2 ? parse_ok(e2, NULL) : NULL;
    CHECK(r && r->nroute == 2 && !memcmp(r->route[0], pk_o, 32));
    hearth_job_request_free(r);
    hearth_event_free(e2);
}

/* builds a tags JSON array of n copies of fmt (one %d: the index) */
static char *repeat_tags(const char *fmt, int n, const char *extra)
{
    hearth_buf b = HEARTH_BUF_INIT;
    hearth_buf_addc(&b, '[');
    for (int i = 0; i < n; i++) {
        if (i)
            hearth_buf_addc(&b, ',');
        hearth_buf_addf(&b, fmt, i);
    }
    if (extra)
        hearth_buf_addf(&b, "%s%s", n ? "," : "", extra);
    hearth_buf_addc(&b, ']');
    return b.p;
}

static char *long_string_tag(const char *before, size_t n, const char *after)
{
    hearth_buf b = HEARTH_BUF_INIT;
    hearth_buf_addf(&b, "[[%s\"", before);
    for (size_t i = 0; i < n; i++)
        hearth_buf_addc(&b, 'a');
    hearth_buf_addf(&b, "\"%s]]", after);
    return b.p;
}

static void test_rejects(void)
{
    reject(1, "[]", "", NULL, "invalid: not a job request kind");
    reject(6050, "[]", "", NULL, "invalid: not a job request kind");
    reject(7000, "[]", "", NULL, "invalid: not a job request kind");
    reject(5000, "[[\"i\"]]", "", NULL, "invalid: i tag needs data and a type");
    reject(5000, "[[\"i\",\"x\"]]", "", NULL,
           "invalid: i tag needs data and a type");
    reject(5000, "[[\"i\",\"x\",\"blob\"]]", "", NULL,
           "invalid: unknown input type");
    reject(5000, "[[\"i\",\"abc\",\"event\"]]", "", NULL,
           "invalid: event or job input needs an event id");
    reject(5000, "[[\"i\",\"ABCDEF0123456789abcdef0123456789abcdef0123456789"
                 "abcdef0123456789\",\"job\"]]", "", NULL,
           "invalid: event or job input needs an event id");
    reject(5000, "[[\"i\",\"x\",\"text\",\"\",\"a\\u0000b\"]]", "", NULL,
           "invalid: bad input relay or marker");
    char *t = long_string_tag("\"i\",\"x\",\"text\",", 257, "");
    reject(5000, t, "", NULL, "invalid: bad input relay or marker");
    free(t);
    t = long_string_tag("\"i\",", HEARTH_NIP90_MAX_INPUT + 1, ",\"text\"");
    reject(5000, t, "", NULL, "invalid: input data too long");
    free(t);
    t = repeat_tags("[\"i\",\"%d\",\"text\"]", 17, NULL);
    reject(5000, t, "", NULL, "invalid: too many inputs");
    free(t);

    reject(5000, "[[\"param\",\"k\"]]", "", NULL,
           "invalid: param tag needs a key and a value");
    reject(5000, "[[\"param\",\"\",\"v\"]]", "", NULL, "invalid: bad param key");
    reject(5000, "[[\"param\",\"a\\u0000\",\"v\"]]", "", NULL,
           "invalid: bad param key");
    t = long_string_tag("\"param\",", 65, ",\"v\"");
    reject(5000, t, "", NULL, "invalid: bad param key");
    free(t);
    t = long_string_tag("\"param\",\"k\",", HEARTH_NIP90_MAX_PARAM_VALUE + 1,
                        "");
    reject(5000, t, "", NULL, "invalid: param value too long");
    free(t);
    reject(5000, "[[\"param\",\"k\",\"a\\u0000\"]]", "", NULL,
           "invalid: bad param value");
    t = repeat_tags("[\"param\",\"k%d\",\"v\"]", 33, NULL);
    reject(5000, t, "", NULL, "invalid: too many params");
    free(t);

    reject(5000, "[[\"output\"]]", "", NULL, "invalid: bad output tag");
    reject(5000, "[[\"output\",\"\"]]", "", NULL, "invalid: bad output tag");
    reject(5000, "[[\"output\",\"a\"],[\"output\",\"b\"]]", "", NULL,
           "invalid: duplicate output tag");
    reject(5000, "[[\"bid\"]]", "", NULL, "invalid: bad bid tag");
    reject(5000, "[[\"bid\",\"-1\"]]", "", NULL, "invalid: bad bid tag");
    reject(5000, "[[\"bid\",\"12a\"]]", "", NULL, "invalid: bad bid tag");
    reject(5000, "[[\"bid\",\"\"]]", "", NULL, "invalid: bad bid tag");
    reject(5000, "[[\"bid\",\"18446744073709551616\"]]", "", NULL,
           "invalid: bad bid tag");
    reject(5000, "[[\"bid\",\"1\"],[\"bid\",\"2\"]]", "", NULL,
           "invalid: duplicate bid tag");
    reject(5000, "[[\"relays\",\"https://relay.example.com\"]]", "", NULL,
           "invalid: bad relays tag");
    reject(5000, "[[\"relays\",\"wss://a.example\"],[\"relays\",\"wss://b.ex\"]]",
           "", NULL, "invalid: duplicate relays tag");
    reject(5000, "[[\"relays\",\"wss://a\",\"wss://b\",\"wss://c\",\"wss://d\","
                 "\"wss://e\",\"wss://f\",\"wss://g\",\"wss://h\",\"wss://i\"]]",
           "", NULL, "invalid: too many relays");
    reject(5000, "[[\"p\"]]", "", NULL, "invalid: bad p tag");
    reject(5000, "[[\"p\",\"4F355BDCB7CC0AF728EF3CCEB9615D90684BB5B2CA5F859AB0F0B"
                 "704075871AA\"]]", "", NULL, "invalid: bad p tag");
    reject(5000, "[[\"p\",\"abcd\"]]", "", NULL, "invalid: bad p tag");
    t = repeat_tags("[\"p\",\"%064d\"]", 17, NULL);
    reject(5000, t, "", NULL, "invalid: too many p tags");
    free(t);
    reject(5000, "[[\"expiration\",\"soon\"]]", "", NULL,
           "invalid: bad expiration tag");

    /* route */
    char buf[1024];
    reject(5000, "[[\"route\"]]", "", NULL, "invalid: bad route tag");
    reject(5000, "[[\"route\",\"zz\"]]", "", NULL, "invalid: bad route tag");
    snprintf(buf, sizeof buf, "[[\"route\",\"%s\",\"%s\",\"%s\",\"%s\",\"%s\"]]",
             hex_p, hex_o, hex_p, hex_o, hex_c);
    reject(5000, buf, "", NULL, "invalid: route too long");
    snprintf(buf, sizeof buf, "[[\"route\",\"%s\",\"%s\",\"%s\"]]", hex_c,
             hex_o, hex_c);
    reject(5000, buf, "", NULL, "invalid: route repeats a peer");
    snprintf(buf, sizeof buf, "[[\"route\",\"%s\",\"%s\"]]", hex_c, hex_o);
    reject(5000, buf, "", NULL,
           "invalid: route must end with the request's author");
    snprintf(buf, sizeof buf, "[[\"route\",\"%s\"],[\"route\",\"%s\"]]", hex_c,
             hex_c);
    reject(5000, buf, "", NULL, "invalid: duplicate route tag");

    t = repeat_tags("[\"t\",\"%d\"]", HEARTH_NIP90_MAX_TAGS + 1, NULL);
    reject(5000, t, "", NULL, "invalid: too many tags");
    free(t);
}

static void test_encrypted_rejects(void)
{
    char buf[1024];
    reject(5000, "[[\"encrypted\"]]", "x", sk_p,
           "invalid: encrypted request needs exactly one p tag");
    snprintf(buf, sizeof buf, "[[\"p\",\"%s\"],[\"p\",\"%s\"],[\"encrypted\"]]",
             hex_p, hex_o);
    reject(5000, buf, "x", sk_p,
           "invalid: encrypted request needs exactly one p tag");
    snprintf(buf, sizeof buf, "[[\"p\",\"%s\"],[\"encrypted\"]]", hex_p);
    reject(5000, buf, "", sk_p, "invalid: encrypted request has no content");
    reject(5000, buf, "not a payload", sk_p,
           "invalid: encrypted content does not decrypt");
    reject(5000, buf, "bm90IGEgcGF5bG9hZA==?iv=AAAAAAAAAAAAAAAAAAAAAA==", sk_p,
           "invalid: encrypted content does not decrypt");
    /* decrypts, but to the wrong shape */
    static const char *const shapes[] = {"{}", "[1]", "[[]]", "[[\"i\",1]]",
                                         "not json", "[\"i\"]"};
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        char *ct = to_provider(shapes[i]);
        reject(5000, buf, ct, sk_p,
               "invalid: encrypted content is not a JSON array of tags");
        free(ct);
    }
    /* private tags are checked like public ones */
    char *ct = to_provider("[[\"i\",\"x\",\"blob\"]]");
    reject(5000, buf, ct, sk_p, "invalid: unknown input type");
    free(ct);
    /* the private tags count toward the tag limit */
    char *many = repeat_tags("[\"t\",\"%d\"]", HEARTH_NIP90_MAX_TAGS - 1, NULL);
    ct = to_provider(many);
    reject(5000, buf, ct, sk_p, "invalid: too many tags");
    free(ct);
    free(many);
    /* a p tag inside does not address the request */
    snprintf(buf, sizeof buf, "[[\"p\",\"%s\"]]", hex_o);
    ct = to_provider(buf);
    snprintf(buf, sizeof buf, "[[\"p\",\"%s\"],[\"encrypted\"]]", hex_p);
    hearth_event *ev = make(5000, buf, ct, sk_c);
    hearth_job_request *r = ev ? parse_ok(ev, sk_p) : NULL;
    CHECK(r && r->nproviders == 1 && !memcmp(r->providers[0], pk_p, 32));
    hearth_job_request_free(r);
    hearth_event_free(ev);
    free(ct);
    /* above the plaintext bound */
    hearth_buf big = HEARTH_BUF_INIT;
    hearth_buf_adds(&big, "[[\"t\",\"");
    for (size_t i = 0; i < HEARTH_NIP90_MAX_PLAIN; i++)
        hearth_buf_addc(&big, 'a');
    hearth_buf_adds(&big, "\"]]");
    ct = to_provider(big.p);
    reject(5000, buf, ct, sk_p, "invalid: encrypted tags too long");
    free(ct);
    hearth_buf_free(&big);
}

static void test_bounds(void)
{
    /* exactly at each bound is fine */
    hearth_buf b = HEARTH_BUF_INIT;
    hearth_buf_addc(&b, '[');
    for (int i = 0; i < 16; i++)
        hearth_buf_addf(&b, "[\"i\",\"%d\",\"text\"],", i);
    for (int i = 0; i < 32; i++)
        hearth_buf_addf(&b, "[\"param\",\"k%d\",\"v\"],", i);
    hearth_buf_adds(&b, "[\"param\",\"k0\",\"second\"],");
    for (int i = 0; i < 16; i++)
        hearth_buf_addf(&b, "[\"p\",\"%064d\"],", i);
    hearth_buf_adds(&b, "[\"relays\"");
    for (int i = 0; i < 8; i++)
        hearth_buf_addf(&b, ",\"wss://r%d.example\"", i);
    hearth_buf_addf(&b, "],[\"route\",\"%s\",\"%s\",\"%s\",\"%s\"],", hex_p,
                    hex_o, "00000000000000000000000000000000000000000000000000"
                           "00000000000001", hex_c);
    hearth_buf_adds(&b, "[\"bid\",\"18446744073709551615\"],");
    hearth_buf_adds(&b, "[\"x\",\"unknown tags are ignored\"]]");
    hearth_event *ev = make(5999, b.p, "", sk_c);
    hearth_buf_free(&b);
    hearth_job_request *r = ev ? parse_ok(ev, NULL) : NULL;
    if (r) {
        CHECK(r->ninputs == 16 && r->nparams == 32 && r->nproviders == 16 &&
              r->nrelays == 8 && r->nroute == 4);
        CHECK(r->bid_msat == UINT64_MAX);
        /* a repeated param key keeps its first value */
        CHECK(!strcmp(r->params[0].value, "v"));
        hearth_runner_job job;
        hearth_nip90_runner_job(r, &job);
        CHECK(!strcmp(hearth_job_param_get(&job, "k0"), "v"));
    }
    hearth_job_request_free(r);
    hearth_event_free(ev);

    char *t = long_string_tag("\"i\",", HEARTH_NIP90_MAX_INPUT, ",\"text\"");
    ev = make(5000, t, "", sk_c);
    free(t);
    r = ev ? parse_ok(ev, NULL) : NULL;
    CHECK(r && r->inputs[0].len == HEARTH_NIP90_MAX_INPUT);
    hearth_job_request_free(r);
    hearth_event_free(ev);
}

static void test_build_rejects(void)
{
    hearth_event *ev = NULL;
    hearth_job_spec s = base_spec();
    s.kind = 6050;
    CHECK(hearth_nip90_request_build(&s, sk_c, NOW, &ev) == HEARTH_EINVAL);
    s = base_spec();
    s.enc = HEARTH_NIP90_NIP44; /* no provider to encrypt to */
    CHECK(hearth_nip90_request_build(&s, sk_c, NOW, &ev) == HEARTH_EINVAL);
    s.enc = 7;
    s.nproviders = 1;
    s.providers = (const uint8_t(*)[32])pk_p;
    CHECK(hearth_nip90_request_build(&s, sk_c, NOW, &ev) == HEARTH_EINVAL);
    s = base_spec();
    hearth_job_param dup[2] = {{"k", "1"}, {"k", "2"}};
    s.params = dup;
    CHECK(hearth_nip90_request_build(&s, sk_c, NOW, &ev) == HEARTH_EINVAL);
    s = base_spec();
    hearth_job_input bad = {"x", 1, "blob", ""};
    s.ninputs = 1;
    s.inputs = &bad;
    CHECK(hearth_nip90_request_build(&s, sk_c, NOW, &ev) == HEARTH_EINVAL);
    s = base_spec();
    const char *const http[] = {"https://example.com"};
    s.relays = http;
    s.nrelays = 1;
    CHECK(hearth_nip90_request_build(&s, sk_c, NOW, &ev) == HEARTH_EINVAL);
    s = base_spec();
    s.ninputs = HEARTH_NIP90_MAX_INPUTS + 1;
    CHECK(hearth_nip90_request_build(&s, sk_c, NOW, &ev) == HEARTH_ETOOBIG);
    s = base_spec();
    uint8_t route[2][32];
    memcpy(route[0], pk_c, 32);
    memcpy(route[1], pk_c, 32);
    s.nroute = 2;
    s.route = (const uint8_t(*)[32])route;
    CHECK(hearth_nip90_request_build(&s, sk_c, NOW, &ev) == HEARTH_EINVAL);
    CHECK(ev == NULL);
}

/* ---- replies ---- */

static hearth_job_request *sample_request(int enc)
{
    hearth_job_spec s = base_spec();
    s.enc = enc;
    s.nproviders = 1;
    s.providers = (const uint8_t(*)[32])pk_p;
    hearth_event *ev = NULL;
    CHECK(hearth_nip90_request_build(&s, sk_c, NOW, &ev) == HEARTH_OK);
    ev = wire(ev, sk_c);
    hearth_job_request *r = ev ? parse_ok(ev, sk_p) : NULL;
    hearth_event_free(ev);
    return r;
}

static hearth_job_reply *reply_ok(const hearth_event *ev, const uint8_t *sk)
{
    hearth_job_reply *r = NULL;
    const char *why = NULL;
    int rc = hearth_nip90_reply_parse(ev, sk, &r, &why);
    CHECKF(rc == HEARTH_OK && r, "%s", why ? why : "?");
    return r;
}

static const char *reply_why(const hearth_event *ev, const uint8_t *sk)
{
    hearth_job_reply *r = NULL;
    const char *why = NULL;
    int rc = hearth_nip90_reply_parse(ev, sk, &r, &why);
    CHECK(rc != HEARTH_OK && r == NULL);
    hearth_job_reply_free(r);
    return rc != HEARTH_OK && why ? why : "";
}

static void test_feedback(int enc)
{
    hearth_job_request *req = sample_request(enc);
    if (!req)
        return;
    hearth_nip90_feedback fb = {HEARTH_NIP90_PARTIAL, "42%", 42, 5000,
                                "lnbc50n1fake", "partial\0out", 11};
    hearth_event *ev = NULL;
    CHECK(hearth_nip90_feedback_build(req, &fb, sk_p, NOW, &ev) == HEARTH_OK);
    ev = wire(ev, sk_p);
    if (ev) {
        CHECK(ev->kind == 7000 && has_tag(ev, "e") && has_tag(ev, "p"));
        CHECK(has_tag(ev, "encrypted") == (enc != 0));
        CHECK(has_tag(ev, "status") == (enc == 0));
        CHECK(has_tag(ev, "progress") == (enc == 0));
        const hearth_tag *e = hearth_event_find_tag(ev, "e");
        CHECK(e && e->n == 3 && !strcmp(e->v[2].p, "wss://relay.example.com"));
        hearth_job_reply *r = reply_ok(ev, sk_c);
        if (r) {
            CHECK(!r->is_result && r->kind == 7000 && r->enc == enc);
            CHECK(!memcmp(r->request_id, req->id, 32));
            CHECK(!memcmp(r->provider, pk_p, 32));
            CHECK(r->status == HEARTH_NIP90_PARTIAL);
            CHECK(!strcmp(r->info, "42%") && r->percent == 42);
            CHECK(r->amount_msat == 5000 && !strcmp(r->bolt11, "lnbc50n1fake"));
            CHECK(r->content_len == 11 &&
                  !memcmp(r->content, "partial\0out", 11));
        }
        hearth_job_reply_free(r);
        if (enc) {
            CHECK(!strcmp(reply_why(ev, NULL),
                          "invalid: encrypted reply and no key to decrypt it"));
            CHECK(!strcmp(reply_why(ev, sk_o),
                          "invalid: encrypted content does not decrypt"));
        }
    }
    hearth_event_free(ev);

    /* minimal: status only */
    hearth_nip90_feedback fb2 = {HEARTH_NIP90_PROCESSING, NULL, -1, 0, NULL,
                                 NULL, 0};
    CHECK(hearth_nip90_feedback_build(req, &fb2, sk_p, NOW, &ev) == HEARTH_OK);
    ev = wire(ev, sk_p);
    hearth_job_reply *r = ev ? reply_ok(ev, sk_c) : NULL;
    CHECK(r && r->status == HEARTH_NIP90_PROCESSING && !strcmp(r->info, "") &&
          r->percent == -1 && r->amount_msat == 0 && !strcmp(r->bolt11, "") &&
          r->content_len == 0);
    hearth_job_reply_free(r);
    hearth_event_free(ev);

    fb2.percent = 101;
    CHECK(hearth_nip90_feedback_build(req, &fb2, sk_p, NOW, &ev) ==
          HEARTH_EINVAL);
    fb2.percent = -1;
    fb2.status = 0;
    CHECK(hearth_nip90_feedback_build(req, &fb2, sk_p, NOW, &ev) ==
          HEARTH_EINVAL);
    hearth_job_request_free(req);
}

static void test_result(int enc)
{
    hearth_job_request *req = sample_request(enc);
    if (!req)
        return;
    hearth_event *ev = NULL;
    CHECK(hearth_nip90_result_build(req, "Paris", 5, 21000, "lnbc210n1fake",
                                    sk_p, NOW, &ev) == HEARTH_OK);
    ev = wire(ev, sk_p);
    if (ev) {
        CHECK(ev->kind == 6050);
        const hearth_tag *t = hearth_event_find_tag(ev, "request");
        if (enc) {
            CHECK(!t && !has_tag(ev, "i") && has_tag(ev, "encrypted") &&
                  strcmp(ev->content.p, "Paris"));
            CHECK(ev->ntags == 4); /* encrypted, e, p, amount */
        } else {
            CHECK(t && t->v[1].n == req->json_len &&
                  !memcmp(t->v[1].p, req->json, req->json_len));
            size_t ni = 0;
            for (size_t i = 0; i < ev->ntags; i++)
                ni += !strcmp(ev->tags[i].v[0].p, "i");
            CHECK(ni == 2);
            CHECK(!strcmp(ev->content.p, "Paris"));
        }
        const hearth_tag *p = hearth_event_find_tag(ev, "p");
        CHECK(p && !strcmp(p->v[1].p, hex_c));
        hearth_job_reply *r = reply_ok(ev, sk_c);
        if (r) {
            CHECK(r->is_result && r->kind == 6050 && r->enc == enc);
            CHECK(r->status == HEARTH_NIP90_SUCCESS && r->percent == -1);
            CHECK(!memcmp(r->request_id, req->id, 32));
            CHECK(r->content_len == 5 && !memcmp(r->content, "Paris", 5));
            CHECK(r->amount_msat == 21000 &&
                  !strcmp(r->bolt11, "lnbc210n1fake"));
        }
        hearth_job_reply_free(r);
    }
    hearth_event_free(ev);

    /* empty output, no amount */
    CHECK(hearth_nip90_result_build(req, NULL, 0, 0, NULL, sk_p, NOW, &ev) ==
          HEARTH_OK);
    ev = wire(ev, sk_p);
    hearth_job_reply *r = ev ? reply_ok(ev, sk_c) : NULL;
    CHECK(r && r->content_len == 0 && r->amount_msat == 0 &&
          !has_tag(ev, "amount"));
    hearth_job_reply_free(r);
    hearth_event_free(ev);
    hearth_job_request_free(req);
}

static void reply_reject(uint32_t kind, const char *tags, const char *content,
                         const char *want)
{
    hearth_event *ev = make(kind, tags, content, sk_p);
    if (!ev)
        return;
    const char *why = reply_why(ev, sk_c);
    CHECKF(!strcmp(why, want), "%s: got \"%s\", want \"%s\"", tags, why, want);
    hearth_event_free(ev);
}

static void test_reply_rejects(void)
{
    char e[128], buf[512];
    snprintf(e, sizeof e, "[\"e\",\"%s\"]", hex_o);
    reply_reject(5050, "[]", "", "invalid: not a job result or feedback kind");
    reply_reject(7001, "[]", "", "invalid: not a job result or feedback kind");
    reply_reject(6050, "[]", "",
                 "invalid: reply needs an e tag with the request id");
    reply_reject(6050, "[[\"e\",\"xyz\"]]", "",
                 "invalid: reply needs an e tag with the request id");
    snprintf(buf, sizeof buf, "[%s]", e);
    reply_reject(7000, buf, "", "invalid: feedback needs a status tag");
    snprintf(buf, sizeof buf, "[%s,[\"status\"]]", e);
    reply_reject(7000, buf, "", "invalid: bad status tag");
    snprintf(buf, sizeof buf, "[%s,[\"status\",\"scheduled\"]]", e);
    reply_reject(7000, buf, "", "invalid: unknown feedback status");
    snprintf(buf, sizeof buf, "[%s,[\"status\",\"error\",\"a\\u0000\"]]", e);
    reply_reject(7000, buf, "", "invalid: bad status tag");
    snprintf(buf, sizeof buf, "[%s,[\"status\",\"error\"],[\"amount\",\"x\"]]",
             e);
    reply_reject(7000, buf, "", "invalid: bad amount tag");
    snprintf(buf, sizeof buf, "[%s,[\"amount\",\"1\",\"a\\u0000\"]]", e);
    reply_reject(6050, buf, "", "invalid: bad amount tag");
    static const char *const bad_pct[] = {"101", "-1", "", "0042", "4.5"};
    for (size_t i = 0; i < sizeof bad_pct / sizeof *bad_pct; i++) {
        snprintf(buf, sizeof buf,
                 "[%s,[\"status\",\"processing\"],[\"progress\",\"%s\"]]", e,
                 bad_pct[i]);
        reply_reject(7000, buf, "", "invalid: bad progress tag");
    }
    /* NDK's spelling of payment-required; other clients' plain encrypted
     * partial output (not a tag array) */
    snprintf(buf, sizeof buf, "[%s,[\"status\",\"payment_required\"]]", e);
    hearth_event *ev = make(7000, buf, "", sk_p);
    hearth_job_reply *r = ev ? reply_ok(ev, sk_c) : NULL;
    CHECK(r && r->status == HEARTH_NIP90_PAYMENT_REQUIRED);
    hearth_job_reply_free(r);
    hearth_event_free(ev);

    uint8_t ck[32];
    hearth_buf ct = HEARTH_BUF_INIT;
    CHECK(hearth_nip44_conversation_key(sk_p, pk_c, ck) == HEARTH_OK);
    CHECK(hearth_nip44_encrypt(ck, "sample", 6, NULL, &ct) == HEARTH_OK);
    snprintf(buf, sizeof buf, "[%s,[\"status\",\"partial\"],[\"encrypted\"]]",
             e);
    ev = make(7000, buf, ct.p, sk_p);
    r = ev ? reply_ok(ev, sk_c) : NULL;
    CHECK(r && r->status == HEARTH_NIP90_PARTIAL && r->content_len == 6 &&
          !memcmp(r->content, "sample", 6));
    hearth_job_reply_free(r);
    hearth_event_free(ev);
    hearth_buf_free(&ct);
    CHECK(!strcmp(hearth_nip90_status_name(HEARTH_NIP90_PAYMENT_REQUIRED),
                  "payment-required"));
    CHECK(hearth_nip90_status_name(0) == NULL);
}

static void test_cancel(void)
{
    uint8_t id[32];
    memset(id, 0xab, 32);
    hearth_event *ev = NULL;
    CHECK(hearth_nip90_cancel_build(id, 5050, "changed my mind", NOW, &ev) ==
          HEARTH_OK);
    if (ev) {
        CHECK(ev->kind == 5 && ev->created_at == NOW && ev->ntags == 2);
        CHECK(!strcmp(ev->content.p, "changed my mind"));
        const hearth_tag *e = hearth_event_find_tag(ev, "e");
        const hearth_tag *k = hearth_event_find_tag(ev, "k");
        char hex[65];
        hearth_hex_encode(id, 32, hex);
        CHECK(e && e->n == 2 && !strcmp(e->v[1].p, hex));
        CHECK(k && k->n == 2 && !strcmp(k->v[1].p, "5050"));
    }
    hearth_event_free(ev);
    CHECK(hearth_nip90_cancel_build(id, 5050, NULL, NOW, &ev) == HEARTH_OK &&
          ev && ev->content.n == 0);
    hearth_event_free(ev);
    ev = NULL;
    CHECK(hearth_nip90_cancel_build(id, 6050, NULL, NOW, &ev) ==
          HEARTH_EINVAL && !ev);
}

/* tests/unit/data/ndk_dvm_request.json: made by NDK, see its README */
static void test_ndk_fixture(void)
{
    char *text = tap_slurp("unit/data/ndk_dvm_request.json", NULL);
    json_t *root = json_loads(text, 0, NULL);
    free(text);
    CHECK(root != NULL);
    if (!root)
        return;
    uint8_t sk[32], csk[32], cpk[32];
    const char *h = json_string_value(json_object_get(root, "provider_sk"));
    CHECK(h && hearth_hex_decode(h, 64, sk, 32, 0) == HEARTH_OK);
    h = json_string_value(json_object_get(root, "customer_sk"));
    CHECK(h && hearth_hex_decode(h, 64, csk, 32, 0) == HEARTH_OK);
    CHECK(hearth_key_pubkey(csk, cpk) == HEARTH_OK);
    char *evjson = json_dumps(json_object_get(root, "event"), JSON_COMPACT);
    hearth_event *ev = NULL;
    const char *why = NULL;
    CHECKF(hearth_event_parse(evjson, strlen(evjson), 0, &ev, &why) ==
           HEARTH_OK, "%s", why);
    free(evjson);
    hearth_job_request *r = NULL;
    if (ev) {
        CHECK(hearth_event_verify(ev, NULL) == HEARTH_OK);
        r = parse_ok(ev, sk);
    }
    if (r) {
        CHECK(r->enc == HEARTH_NIP90_NIP44 && r->kind == 5050);
        CHECK(!memcmp(r->customer, cpk, 32));
        CHECK(r->ninputs == 2 && !strcmp(r->inputs[0].value,
                                         "What is the capital of France?"));
        CHECK(!strcmp(r->inputs[0].type, "text"));
        CHECK(!strcmp(r->inputs[1].type, "url") &&
              !strcmp(r->inputs[1].marker, "context"));
        CHECK(r->nparams == 2 && !strcmp(r->params[0].key, "model") &&
              !strcmp(r->params[0].value, "llama3") &&
              !strcmp(r->params[1].value, "512"));
        CHECK(r->output && !strcmp(r->output, "text/plain"));
        CHECK(r->bid_msat == 21000);
        CHECK(r->nrelays == 2 && !strcmp(r->relays[1], "wss://nos.lol"));
        uint8_t pk[32];
        CHECK(hearth_key_pubkey(sk, pk) == HEARTH_OK);
        CHECK(hearth_nip90_request_is_for(r, pk) == 1);
        /* and the answer decrypts with the customer's key */
        hearth_event *res = NULL;
        CHECK(hearth_nip90_result_build(r, "Paris", 5, 0, NULL, sk, NOW,
                                        &res) == HEARTH_OK);
        res = wire(res, sk);
        hearth_job_reply *rep = res ? reply_ok(res, csk) : NULL;
        CHECK(rep && rep->content_len == 5 && !memcmp(rep->content, "Paris", 5));
        hearth_job_reply_free(rep);
        hearth_event_free(res);
    }
    hearth_job_request_free(r);
    hearth_event_free(ev);
    json_decref(root);
}

int main(void)
{
    setup_keys();
    test_plain();
    test_encrypted(HEARTH_NIP90_NIP44);
    test_encrypted(HEARTH_NIP90_NIP04);
    test_route();
    test_rejects();
    test_encrypted_rejects();
    test_bounds();
    test_build_rejects();
    test_feedback(HEARTH_NIP90_PLAIN);
    test_feedback(HEARTH_NIP90_NIP44);
    test_feedback(HEARTH_NIP90_NIP04);
    test_result(HEARTH_NIP90_PLAIN);
    test_result(HEARTH_NIP90_NIP44);
    test_result(HEARTH_NIP90_NIP04);
    test_reply_rejects();
    test_cancel();
    test_ndk_fixture();
    return tap_done();
}
