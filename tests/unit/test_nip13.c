/* NIP-13: the example mined note from the NIP, difficulty counting, the
 * committed target, relay-side rejections, and the CPU miner with its
 * midstate layout checked against the plain NIP-01 id. */
#include "hearth/error.h"
#include "hearth/event.h"
#include "hearth/hex.h"
#include "hearth/keys.h"
#include "hearth/nip13.h"
#include "tap.h"

#include <jansson.h>
#include <stdint.h>

static const char *vector_pubkey =
    "a48380f4cfcc1ad5378294fcac36439770f9c878dd880ffa94bb74ea54a6f243";

static void id_from_hex(const char *hex, uint8_t id[32])
{
    CHECK(hearth_hex_decode(hex, strlen(hex), id, 32, 0) == HEARTH_OK);
}

/* 64 hex chars: prefix, then fill repeated */
static void id_from_prefix(const char *prefix, char fill, uint8_t id[32])
{
    char hex[65];
    memset(hex, fill, 64);
    hex[64] = '\0';
    memcpy(hex, prefix, strlen(prefix));
    id_from_hex(hex, id);
}

static hearth_event *parse_json_value(json_t *obj)
{
    char *text = json_dumps(obj, JSON_COMPACT);
    hearth_event *ev = NULL;
    const char *why = NULL;
    int rc = hearth_event_parse(text, strlen(text), 0, &ev, &why);
    CHECKF(rc == HEARTH_OK, "parse: %s", why ? why : "?");
    free(text);
    return ev;
}

static char *serialize(const hearth_event *ev)
{
    hearth_buf b = HEARTH_BUF_INIT;
    CHECK(hearth_event_serialize(ev, &b) == HEARTH_OK);
    return b.p; /* caller frees */
}

static void test_example(void)
{
    char *text = tap_slurp("vectors/nip13_example_event.json", NULL);
    json_error_t err;
    json_t *root = json_loads(text, 0, &err);
    CHECK(root != NULL);
    if (!root) {
        free(text);
        return;
    }
    json_t *evj = json_object_get(root, "event");
    hearth_event *ev = parse_json_value(evj);
    if (!ev) {
        json_decref(root);
        free(text);
        return;
    }

    char *ser = serialize(ev);
    CHECK(ser && !strcmp(ser, json_string_value(json_object_get(
                                  root, "expected_serialization"))));
    free(ser);
    uint8_t id[32];
    CHECK(hearth_event_compute_id(ev, id) == HEARTH_OK &&
          !memcmp(id, ev->id, 32));
    const char *why = NULL;
    CHECKF(hearth_event_verify(ev, &why) == HEARTH_OK, "%s", why);

    int want_bits = (int)json_integer_value(
        json_object_get(root, "expected_leading_zero_bits"));
    CHECK(want_bits == 21);
    CHECK(hearth_nip13_leading_zero_bits(ev->id) == want_bits);
    CHECK(hearth_nip13_difficulty(ev) == want_bits);
    int target = -1;
    CHECK(hearth_nip13_committed_target(ev, &target) == 1 && target == 20);

    /* the NIP's own numbers */
    size_t i;
    json_t *ex;
    int examples = 0;
    json_array_foreach(json_object_get(root, "extra_difficulty_examples"), i,
                       ex) {
        int bits = (int)json_integer_value(
            json_object_get(ex, "leading_zero_bits"));
        const char *full = json_string_value(json_object_get(ex, "id"));
        const char *prefix =
            json_string_value(json_object_get(ex, "id_prefix"));
        if (full) {
            id_from_hex(full, id);
            CHECKF(hearth_nip13_leading_zero_bits(id) == bits, "%s", full);
            examples++;
        }
        if (prefix) {
            /* whatever follows the prefix cannot change the count */
            id_from_prefix(prefix, 'f', id);
            CHECKF(hearth_nip13_leading_zero_bits(id) == bits, "%s", prefix);
            id_from_prefix(prefix, '0', id);
            CHECKF(hearth_nip13_leading_zero_bits(id) == bits, "%s", prefix);
            examples++;
        }
    }
    CHECK(examples == 2);

    /* 21 bits aimed at 20: fine for 20, not for 21 although the id has
     * 21 bits (the case NIP-13's commitment exists for), nor for 22 */
    CHECK(hearth_nip13_check(ev, 20, &why) == HEARTH_OK);
    why = NULL;
    CHECK(hearth_nip13_check(ev, 21, &why) == HEARTH_EINVAL);
    CHECKF(why && !strcmp(why, "pow: committed target difficulty 20 is less "
                               "than 21"),
           "%s", why ? why : "(null)");
    why = NULL;
    CHECK(hearth_nip13_check(ev, 22, &why) == HEARTH_EINVAL);
    CHECKF(why && !strcmp(why, "pow: difficulty 21 is less than 22"), "%s",
           why ? why : "(null)");

    /* The job layout reproduces the example: rebuilding the nonce tag as
     * a 6-digit job and trying 776797 gives the published id, and applying
     * it gives back an event the original signature verifies. */
    hearth_nip13_job job;
    CHECK(hearth_nip13_job_init(ev, 20, 6, &job) == HEARTH_OK);
    CHECK(job.prefix_len % 64 == 0);
    CHECK(job.nonce_off + 6 <= job.tail_len);
    CHECK(hearth_nip13_job_try(&job, 776797, id) == 21);
    uint8_t want_id[32];
    id_from_hex(json_string_value(json_object_get(evj, "id")), want_id);
    CHECK(!memcmp(id, want_id, 32));
    CHECK(hearth_nip13_job_try(&job, 1000000, id) == HEARTH_EINVAL);
    CHECK(hearth_nip13_job_apply(ev, &job, 776797) == HEARTH_OK);
    CHECK(!memcmp(ev->id, want_id, 32));
    CHECK(!(ev->has & HEARTH_EV_HAS_SIG)); /* mining drops the signature */
    ev->has |= HEARTH_EV_HAS_SIG;          /* ... but this one still fits */
    CHECKF(hearth_event_verify(ev, &why) == HEARTH_OK, "%s", why);
    hearth_nip13_job_free(&job);

    hearth_event_free(ev);
    json_decref(root);
    free(text);
}

/* A signed-looking event with the given id and tags; check() reads only
 * those, so the signature need not be real. */
static hearth_event *event_with(const char *id_prefix, const char *tags)
{
    char json[1024];
    char idhex[65];
    memset(idhex, 'f', 64);
    idhex[64] = '\0';
    memcpy(idhex, id_prefix, strlen(id_prefix));
    snprintf(json, sizeof json,
             "{\"id\":\"%s\",\"pubkey\":\"%s\",\"created_at\":1,\"kind\":1,"
             "\"tags\":%s,\"content\":\"\",\"sig\":\"%0128d\"}",
             idhex, vector_pubkey, tags, 0);
    hearth_event *ev = NULL;
    const char *why = NULL;
    int rc = hearth_event_parse(json, strlen(json), 0, &ev, &why);
    CHECKF(rc == HEARTH_OK, "%s: %s", json, why ? why : "?");
    return ev;
}

static void expect_check(const char *id_prefix, const char *tags, int min,
                         int want_rc, const char *want_why)
{
    hearth_event *ev = event_with(id_prefix, tags);
    if (!ev)
        return;
    const char *why = NULL;
    int rc = hearth_nip13_check(ev, min, &why);
    CHECKF(rc == want_rc, "%s %s min %d: rc %d (%s)", id_prefix, tags, min,
           rc, why ? why : "");
    if (want_why)
        CHECKF(why && !strcmp(why, want_why), "%s %s min %d: why \"%s\"",
               id_prefix, tags, min, why ? why : "(null)");
    hearth_event_free(ev);
}

static void expect_target(const char *tags, int want_rc, int want_target)
{
    hearth_event *ev = event_with("00", tags);
    if (!ev)
        return;
    int target = -1;
    int rc = hearth_nip13_committed_target(ev, &target);
    CHECKF(rc == want_rc, "%s: rc %d", tags, rc);
    if (rc == 1)
        CHECKF(target == want_target, "%s: target %d", tags, target);
    hearth_event_free(ev);
}

static void test_committed_target(void)
{
    expect_target("[]", 0, 0);
    expect_target("[[\"t\",\"nonce\"]]", 0, 0);
    expect_target("[[\"nonce\",\"5\"]]", 0, 0);      /* no commitment */
    expect_target("[[\"nonce\",\"5\",\"20\"]]", 1, 20);
    expect_target("[[\"nonce\",\"5\",\"0\"]]", 1, 0);
    expect_target("[[\"nonce\",\"5\",\"256\"]]", 1, 256);
    expect_target("[[\"nonce\",\"5\",\"020\"]]", 1, 20);
    expect_target("[[\"nonce\",\"5\",\"20\",\"x\"]]", 1, 20);
    expect_target("[[\"e\",\"x\"],[\"nonce\",\"5\",\"7\"],[\"p\",\"y\"]]", 1,
                  7);
    expect_target("[[\"nonce\"]]", HEARTH_EINVAL, 0);
    expect_target("[[\"nonce\",\"5\",\"\"]]", HEARTH_EINVAL, 0);
    expect_target("[[\"nonce\",\"5\",\"abc\"]]", HEARTH_EINVAL, 0);
    expect_target("[[\"nonce\",\"5\",\"-1\"]]", HEARTH_EINVAL, 0);
    expect_target("[[\"nonce\",\"5\",\"+20\"]]", HEARTH_EINVAL, 0);
    expect_target("[[\"nonce\",\"5\",\"2 \"]]", HEARTH_EINVAL, 0);
    expect_target("[[\"nonce\",\"5\",\"257\"]]", HEARTH_EINVAL, 0);
    expect_target("[[\"nonce\",\"5\",\"1000\"]]", HEARTH_EINVAL, 0);
    expect_target("[[\"nonce\",\"5\",\"20\"],[\"nonce\",\"6\",\"30\"]]",
                  HEARTH_EINVAL, 0);
}

static void test_check(void)
{
    /* 000f...: 12 bits */
    expect_check("000f", "[[\"nonce\",\"1\",\"20\"]]", 20, HEARTH_EINVAL,
                 "pow: difficulty 12 is less than 20");
    expect_check("000f", "[]", 13, HEARTH_EINVAL,
                 "pow: difficulty 12 is less than 13");
    expect_check("000f", "[]", 12, HEARTH_OK, NULL);
    /* 24 bits but aimed at 16 */
    expect_check("000000", "[[\"nonce\",\"1\",\"16\"]]", 20, HEARTH_EINVAL,
                 "pow: committed target difficulty 16 is less than 20");
    expect_check("000000", "[[\"nonce\",\"1\",\"16\"]]", 16, HEARTH_OK, NULL);
    expect_check("000000", "[[\"nonce\",\"1\",\"20\"]]", 20, HEARTH_OK, NULL);
    expect_check("000000", "[[\"nonce\",\"1\",\"24\"]]", 24, HEARTH_OK, NULL);
    expect_check("000000", "[[\"nonce\",\"1\",\"24\"]]", 25, HEARTH_EINVAL,
                 "pow: difficulty 24 is less than 25");
    /* no commitment: judged by the id */
    expect_check("000000", "[]", 20, HEARTH_OK, NULL);
    expect_check("000000", "[[\"nonce\",\"1\"]]", 20, HEARTH_OK, NULL);
    /* malformed nonce tags */
    expect_check("000000", "[[\"nonce\",\"1\",\"x\"]]", 20, HEARTH_EINVAL,
                 "pow: malformed nonce tag");
    expect_check("000000", "[[\"nonce\"]]", 20, HEARTH_EINVAL,
                 "pow: malformed nonce tag");
    expect_check("000000", "[[\"nonce\",\"1\",\"24\"],[\"nonce\",\"2\",\"8\"]]",
                 20, HEARTH_EINVAL, "pow: malformed nonce tag");
    /* no requirement, nothing to reject */
    expect_check("ffff", "[[\"nonce\",\"1\",\"x\"]]", 0, HEARTH_OK, NULL);
    /* 256 zero bits */
    expect_check("0000000000000000000000000000000000000000000000000000000000"
                 "000000",
                 "[[\"nonce\",\"1\",\"256\"]]", 256, HEARTH_OK, NULL);

    /* an unsigned event has no id to judge */
    const char *json = "{\"kind\":1,\"content\":\"\",\"tags\":[]}";
    hearth_event *ev = NULL;
    CHECK(hearth_event_parse(json, strlen(json), HEARTH_PARSE_UNSIGNED, &ev,
                             NULL) == HEARTH_OK);
    if (ev) {
        const char *why = NULL;
        CHECK(hearth_nip13_difficulty(ev) == HEARTH_EINVAL);
        CHECK(hearth_nip13_check(ev, 1, &why) == HEARTH_EINVAL);
        CHECK(why && !strcmp(why, "pow: event has no id"));
        hearth_event_free(ev);
    }
}

static const hearth_tag *only_nonce_tag(const hearth_event *ev)
{
    const hearth_tag *found = NULL;
    int count = 0;
    for (size_t i = 0; i < ev->ntags; i++)
        if (ev->tags[i].n >= 1 && !strcmp(ev->tags[i].v[0].p, "nonce")) {
            found = &ev->tags[i];
            count++;
        }
    CHECK(count == 1);
    return found;
}

static uint64_t parse_u64(const char *s)
{
    uint64_t x = 0;
    for (; *s; s++)
        x = x * 10 + (uint64_t)(*s - '0');
    return x;
}

static hearth_event *new_event(const uint8_t sk[32], const char *content)
{
    hearth_event *ev = NULL;
    CHECK(hearth_event_new(1, 1700000000, content, strlen(content), &ev) ==
          HEARTH_OK);
    if (!ev)
        return NULL;
    CHECK(hearth_key_pubkey(sk, ev->pubkey) == HEARTH_OK);
    ev->has |= HEARTH_EV_HAS_PUBKEY;
    return ev;
}

static void test_mine(void)
{
    uint8_t sk[32];
    CHECK(hearth_key_generate(sk) == HEARTH_OK);
    hearth_event *ev = new_event(sk, "It's just me mining my own business");
    if (!ev)
        return;
    CHECK(hearth_event_add_tagv(ev, "t", "first", NULL) == HEARTH_OK);
    CHECK(hearth_event_add_tagv(ev, "nonce", "stale", "99", NULL) ==
          HEARTH_OK);
    CHECK(hearth_event_add_tagv(ev, "p", "second", NULL) == HEARTH_OK);

    uint64_t tries = 0;
    CHECK(hearth_nip13_mine(ev, 12, 0, &tries) == HEARTH_OK);
    CHECK(tries >= 1);
    CHECK(hearth_nip13_difficulty(ev) >= 12);
    uint8_t id[32];
    CHECK(hearth_event_compute_id(ev, id) == HEARTH_OK &&
          !memcmp(id, ev->id, 32));
    int target = -1;
    CHECK(hearth_nip13_committed_target(ev, &target) == 1 && target == 12);
    /* the old nonce tag is replaced, the others keep their order, the new
     * one is last */
    CHECK(ev->ntags == 3);
    CHECK(!strcmp(ev->tags[0].v[1].p, "first"));
    CHECK(!strcmp(ev->tags[1].v[1].p, "second"));
    const hearth_tag *nt = only_nonce_tag(ev);
    CHECK(nt == &ev->tags[2]);
    /* nonces run 0, 1, ..., with no gaps and no leading zeros */
    uint64_t nonce = parse_u64(nt->v[1].p);
    CHECK(nonce == tries - 1);
    CHECK(nt->v[1].n == 1 || nt->v[1].p[0] != '0');

    /* No false negatives: every smaller nonce, hashed through the plain
     * serializer, falls short of the target. */
    hearth_buf js = HEARTH_BUF_INIT;
    CHECK(hearth_event_to_json(ev, &js) == HEARTH_OK);
    hearth_event *copy = NULL;
    CHECK(hearth_event_parse(js.p, js.len, HEARTH_PARSE_UNSIGNED, &copy,
                             NULL) == HEARTH_OK);
    hearth_buf_free(&js);
    int misses = 0;
    if (copy) {
        char digits[24];
        hearth_str *v = &copy->tags[2].v[1];
        for (uint64_t n = 0; n < nonce; n++) {
            snprintf(digits, sizeof digits, "%llu", (unsigned long long)n);
            v->p = digits;
            v->n = strlen(digits);
            CHECK(hearth_event_compute_id(copy, id) == HEARTH_OK);
            if (hearth_nip13_leading_zero_bits(id) >= 12)
                misses++;
        }
        hearth_event_free(copy);
    }
    CHECKF(misses == 0, "%d smaller nonces reached the target", misses);

    /* signing keeps the mined id */
    uint8_t mined[32];
    memcpy(mined, ev->id, 32);
    CHECK(hearth_event_sign(ev, sk) == HEARTH_OK);
    CHECK(!memcmp(mined, ev->id, 32));
    const char *why = NULL;
    CHECKF(hearth_event_verify(ev, &why) == HEARTH_OK, "%s", why);
    CHECK(hearth_nip13_check(ev, 12, &why) == HEARTH_OK);
    CHECK(hearth_nip13_check(ev, 13, &why) == HEARTH_EINVAL);

    /* mining again starts over with one nonce tag */
    CHECK(hearth_nip13_mine(ev, 4, 0, &tries) == HEARTH_OK);
    only_nonce_tag(ev);
    CHECK(ev->ntags == 3);
    CHECK(hearth_nip13_difficulty(ev) >= 4);

    /* target 0: the first try wins */
    CHECK(hearth_nip13_mine(ev, 0, 0, &tries) == HEARTH_OK && tries == 1);
    nt = only_nonce_tag(ev);
    CHECK(nt && !strcmp(nt->v[1].p, "0") && !strcmp(nt->v[2].p, "0"));

    /* out of tries: consistent event holding the last nonce tried */
    CHECK(hearth_nip13_mine(ev, 64, 150, &tries) == HEARTH_ENOTFOUND);
    CHECK(tries == 150);
    nt = only_nonce_tag(ev);
    CHECK(nt && !strcmp(nt->v[1].p, "149") && !strcmp(nt->v[2].p, "64"));
    CHECK(hearth_event_compute_id(ev, id) == HEARTH_OK &&
          !memcmp(id, ev->id, 32));
    CHECK(ev->has & HEARTH_EV_HAS_ID);
    CHECK(hearth_nip13_mine(ev, 64, 10, &tries) == HEARTH_ENOTFOUND);
    CHECK(tries == 10); /* ends exactly at a width boundary */
    nt = only_nonce_tag(ev);
    CHECK(nt && !strcmp(nt->v[1].p, "9"));

    CHECK(hearth_nip13_mine(ev, -1, 0, NULL) == HEARTH_EINVAL);
    CHECK(hearth_nip13_mine(ev, 257, 0, NULL) == HEARTH_EINVAL);
    hearth_event_free(ev);

    /* the id covers the pubkey, so mining without one is refused */
    ev = NULL;
    CHECK(hearth_event_new(1, 1, "x", 1, &ev) == HEARTH_OK);
    if (ev) {
        CHECK(hearth_nip13_mine(ev, 1, 0, NULL) == HEARTH_EINVAL);
        hearth_event_free(ev);
    }
}

/* The midstate cut lands differently in the 64-byte blocks as the content
 * grows: for each length, the job's hash must equal the NIP-01 id of the
 * event with that nonce. Content with escapes and multibyte characters
 * checks that the digits are found in the escaped serialization. */
static void test_layouts(void)
{
    uint8_t sk[32];
    CHECK(hearth_key_generate(sk) == HEARTH_OK);
    /* quote, backslash and controls get escaped; the rest is multibyte */
    static const char *const pieces[] = {"a", "\"", "\\", "\n", "\x01",
                                         "\xc3\xa9", "\xe2\x82\xac", " "};
    char content[400];
    int bad = 0, cases = 0;
    for (size_t len = 0; len < 300; len++) {
        size_t n = 0;
        for (size_t i = 0; n < len; i++) {
            const char *p = pieces[(i * 5 + len) % 8];
            memcpy(content + n, p, strlen(p));
            n += strlen(p);
        }
        content[n] = '\0';
        hearth_event *ev = new_event(sk, content);
        if (!ev)
            return;
        unsigned width = 1 + (unsigned)(len % HEARTH_NIP13_MAX_WIDTH);
        hearth_nip13_job job;
        CHECK(hearth_nip13_job_init(ev, (int)(len % 40), width, &job) ==
              HEARTH_OK);
        uint64_t nonce = (uint64_t)len * 2654435761u % 10;
        for (unsigned k = 1; k < width; k++)
            nonce = nonce * 10 + (len + k) % 10;
        uint8_t id[32];
        int bits = hearth_nip13_job_try(&job, nonce, id);
        CHECK(hearth_nip13_job_apply(ev, &job, nonce) == HEARTH_OK);
        if (memcmp(id, ev->id, 32) != 0 ||
            bits != hearth_nip13_leading_zero_bits(ev->id)) {
            bad++;
            fprintf(stderr, "layout mismatch: content %zu width %u off %zu\n",
                    n, width, (size_t)job.prefix_len + job.nonce_off);
        }
        cases++;
        hearth_nip13_job_free(&job);
        hearth_event_free(ev);
    }
    CHECK(cases == 300);
    CHECKF(bad == 0, "%d layouts disagree with the NIP-01 id", bad);

    /* a mined event with long content: many tail blocks per try */
    memset(content, 'z', 390);
    content[390] = '\0';
    hearth_event *ev = new_event(sk, content);
    if (ev) {
        uint64_t tries;
        CHECK(hearth_nip13_mine(ev, 8, 0, &tries) == HEARTH_OK);
        uint8_t id[32];
        CHECK(hearth_event_compute_id(ev, id) == HEARTH_OK &&
              !memcmp(id, ev->id, 32));
        CHECK(hearth_nip13_leading_zero_bits(id) >= 8);
        hearth_event_free(ev);
    }

    /* apply refuses an event that no longer ends with the job's tag */
    ev = new_event(sk, "x");
    if (ev) {
        hearth_nip13_job job;
        CHECK(hearth_nip13_job_init(ev, 5, 3, &job) == HEARTH_OK);
        CHECK(hearth_event_add_tagv(ev, "t", "later", NULL) == HEARTH_OK);
        CHECK(hearth_nip13_job_apply(ev, &job, 123) == HEARTH_EINVAL);
        hearth_nip13_job_free(&job);
        CHECK(hearth_nip13_job_init(ev, 5, 0, &job) == HEARTH_EINVAL);
        CHECK(hearth_nip13_job_init(ev, 5, 20, &job) == HEARTH_EINVAL);
        CHECK(hearth_nip13_job_init(ev, 257, 3, &job) == HEARTH_EINVAL);
        hearth_event_free(ev);
    }
}

int main(void)
{
    test_example();
    test_committed_target();
    test_check();
    test_mine();
    test_layouts();
    return tap_done();
}
