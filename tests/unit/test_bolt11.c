/* BOLT 11: amounts of the human-readable part (every multiplier, network
 * prefix, whole-msat and overflow rule), the checksum and the payment
 * hash, on the specification's own example invoices. */
#include "hearth/bolt11.h"
#include "hearth/error.h"
#include "hearth/hex.h"
#include "hearth/meter.h"
#include "tap.h"

#include <stdint.h>

/* BOLT 11 examples: no amount, and 2500u (both with payment hash
 * 0001020304050607080900010203040506070809000102030405060708090102) */
static const char ex_any[] =
    "lnbc1pvjluezsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygsp"
    "p5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdpl2pkx2ctnv5s"
    "xxmmwwd5kgetjypeh2ursdae8g6twvus8g6rfwvs8qun0dfjkxaq9qrsgq357wnc5r2u"
    "eh7ck6q93dj32dlqnls087fxdwk8qakdyafkq3yap9us6v52vjjsrvywa6rt52cm9r9z"
    "qt8r2t7mlcwspyetp5h2tztugp9lfyql";
static const char ex_2500u[] =
    "lnbc2500u1pvjluezsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3"
    "zygspp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdq5xysxxa"
    "tsyp3k7enxv4jsxqzpu9qrsgquk0rl77nj30yxdy8j9vdx85fkpmdla2087ne0xh8nhe"
    "dh8w27kyke0lp53ut353s06fv3qfegext0eh0ymjpf39tuven09sam30g4vgpfna3rh";
static const char ex_hash[] =
    "0001020304050607080900010203040506070809000102030405060708090102";

static int amount(const char *s, uint64_t *msat, int *has)
{
    const char *why = NULL;
    int rc = hearth_bolt11_amount(s, strlen(s), msat, has, &why);
    CHECK(rc == HEARTH_OK || (why && *why));
    return rc;
}

static void test_amounts(void)
{
    static const struct {
        const char *s;
        uint64_t msat;
    } ok[] = {
        {"lnbc10p1qqqq", 1},
        {"lnbc2500u1qqqq", 250000000},
        {"lnbc20m1qqqq", 2000000000},
        {"lnbc1n1qqqq", 100},
        {"lntb150n1qqqq", 15000},
        {"lnbcrt1230p1qqqq", 123},
        {"lntbs7m1qqqq", 700000000},
        {"lnbc1u1qqqq", 100000},
        {"lnbc210000001qqqq", 2100000000000000000ULL}, /* 21M BTC */
        {"LNBC2500U1QQQQ", 250000000},
    };
    uint64_t m;
    int has;
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        m = 7;
        has = -1;
        CHECKF(amount(ok[i].s, &m, &has) == HEARTH_OK && has == 1 &&
                   m == ok[i].msat, "%s: %llu", ok[i].s,
               (unsigned long long)m);
    }
    CHECK(amount("lnbc1qqqq", &m, &has) == HEARTH_OK && has == 0);
    CHECK(amount("lnbcrt1qqqq", &m, &has) == HEARTH_OK && has == 0);
    /* 10^-12 BTC is a tenth of a msat: refused */
    CHECK(amount("lnbc1p1qqqq", &m, &has) == HEARTH_EINVAL);
    CHECK(amount("lnbc15p1qqqq", &m, &has) == HEARTH_EINVAL);
    static const char *const bad[] = {
        "lnbc21000000011qqqq",       /* above 21M BTC */
        "lnbc9999999999999999999m1q", /* overflows 64 bits */
        "lnbc99999999999999999999p1q", /* 20 digits */
        "lnbc0u1qqqq",               /* zero */
        "lnbc010u1qqqq",             /* leading zero */
        "lnbcu1qqqq",                /* multiplier without digits */
        "lnbc10x1qqqq",              /* unknown multiplier */
        "lnbc1u5u1qqqq",
        "lnxx10u1qqqq",              /* unknown network */
        "bc10u1qqqq",
        "lnbcx",                     /* no separator */
        "",
        "LnBc10u1qqqq",              /* mixed case */
        "lnbc 10u1qqqq",
        "lnbc-1u1qqqq",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECKF(amount(bad[i], &m, &has) == HEARTH_EINVAL, "%s", bad[i]);
    CHECK(hearth_bolt11_amount(NULL, 0, &m, &has, NULL) == HEARTH_EINVAL);
    /* 2^64 / 10^11 < 10^9: the overflow guard in the multiply */
    CHECK(amount("lnbc184467440737m1q", &m, &has) == HEARTH_EINVAL);
}

static void test_parse(void)
{
    hearth_bolt11 b;
    uint8_t h[32];
    const char *why = NULL;
    hearth_hex_decode(ex_hash, 64, h, 32, 0);
    CHECK(hearth_bolt11_parse(ex_any, strlen(ex_any), &b, &why) ==
          HEARTH_OK);
    CHECK(!b.has_amount && !strcmp(b.network, "bc") && b.has_payment_hash &&
          !memcmp(b.payment_hash, h, 32));
    CHECK(hearth_bolt11_parse(ex_2500u, strlen(ex_2500u), &b, &why) ==
          HEARTH_OK);
    CHECK(b.has_amount && b.amount_msat == 250000000 &&
          b.has_payment_hash && !memcmp(b.payment_hash, h, 32));
    /* one character changed: the checksum catches it */
    char bad[sizeof ex_2500u];
    memcpy(bad, ex_2500u, sizeof bad);
    bad[40] = bad[40] == 'q' ? 'p' : 'q';
    why = NULL;
    CHECK(hearth_bolt11_parse(bad, strlen(bad), &b, &why) == HEARTH_EINVAL &&
          why && strstr(why, "checksum"));
    /* the amount changed: checksum too (the hrp is covered) */
    memcpy(bad, ex_2500u, sizeof bad);
    bad[5] = '6';
    CHECK(hearth_bolt11_parse(bad, strlen(bad), &b, &why) == HEARTH_EINVAL);
    /* upper case is the same invoice */
    for (size_t i = 0; i < sizeof bad - 1; i++)
        bad[i] = (char)(ex_2500u[i] >= 'a' && ex_2500u[i] <= 'z'
                            ? ex_2500u[i] - 32 : ex_2500u[i]);
    CHECK(hearth_bolt11_parse(bad, strlen(bad), &b, &why) == HEARTH_OK &&
          b.amount_msat == 250000000 && !memcmp(b.payment_hash, h, 32));
    CHECK(hearth_bolt11_parse("lnbc10u1qqqqqq", 14, &b, &why) ==
          HEARTH_EINVAL && strstr(why, "too short"));
    /* a truncated invoice */
    CHECK(hearth_bolt11_parse(ex_2500u, strlen(ex_2500u) - 1, &b, &why) ==
          HEARTH_EINVAL);
    CHECK(hearth_bolt11_parse(ex_2500u, 5000, &b, &why) == HEARTH_EINVAL);
}

int main(void)
{
    test_amounts();
    test_parse();
    return tap_done();
}
