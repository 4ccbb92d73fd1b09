/* NIP-47 connection strings, the file mode check, and the reply parser. */
#include "hearth/error.h"
#include "hearth/hex.h"
#include "hearth/keys.h"
#include "hearth/nwc.h"

#include <sodium.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap.h"
#include "tmpdir.h"

/* a valid x-only key (the secp256k1 generator's x) and a valid secret */
#define WALLET "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
#define SECRET "71a8c14c1407c113601079c4302dab36460f0ccd0ad506f1f2dc73b5100e4f3c"

static int parse(const char *uri, hearth_nwc_conn *c, const char **why)
{
    return hearth_nwc_uri_parse(uri, strlen(uri), c, why);
}

static void test_good(void)
{
    hearth_nwc_conn c;
    const char *why = NULL;
    uint8_t pk[32], sk[32];
    int rc = parse("nostr+walletconnect://" WALLET "?relay=wss%3A%2F%2F"
                   "relay.damus.io&secret=" SECRET
                   "&relay=ws://127.0.0.1:7447&relay=wss://relay.damus.io/"
                   "&lud16=me%40example.org&name=x",
                   &c, &why);
    CHECKF(rc == HEARTH_OK, "%s", why);
    CHECK(c.nrelays == 2); /* the duplicate (after normalizing) dropped */
    CHECK(c.nrelays == 2 && !strcmp(c.relays[0], "wss://relay.damus.io"));
    CHECK(c.nrelays == 2 && !strcmp(c.relays[1], "ws://127.0.0.1:7447"));
    CHECK(c.lud16 && !strcmp(c.lud16, "me@example.org"));
    hearth_hex_decode(SECRET, 64, sk, 32, 0);
    hearth_key_pubkey(sk, pk);
    CHECK(!memcmp(c.secret, sk, 32) && !memcmp(c.client_pk, pk, 32));
    hearth_nwc_conn_clear(&c);
    CHECK(c.nrelays == 0 && c.lud16 == NULL);

    rc = parse("nostr+walletconnect://" WALLET "?secret=" SECRET
               "&relay=ws%3A%2F%2Flocalhost%3A1&lud16=", &c, &why);
    CHECKF(rc == HEARTH_OK && c.lud16 == NULL, "%s", why);
    hearth_nwc_conn_clear(&c);
}

static void bad(const char *uri, const char *what)
{
    hearth_nwc_conn c;
    const char *why = NULL;
    int rc = parse(uri, &c, &why);
    CHECKF(rc != HEARTH_OK, "accepted: %s", what);
    CHECKF(why && !strstr(why, SECRET), "reason for %s", what);
    hearth_nwc_conn_clear(&c);
}

static void test_bad(void)
{
    const char *base = "?relay=ws://r.example&secret=" SECRET;
    char buf[HEARTH_NWC_URI_MAX + 200];
    bad("", "empty");
    bad("nostr+walletconnect://" WALLET, "no query");
    bad("nostr+walletauth://" WALLET "?relay=ws://r&secret=" SECRET, "scheme");
    bad("nostr+walletconnect:" WALLET "?relay=ws://r&secret=" SECRET, "no //");
    bad("nostr+walletconnect://" WALLET "?relay=ws://r", "no secret");
    bad("nostr+walletconnect://" WALLET "?secret=" SECRET, "no relay");
    bad("nostr+walletconnect://" WALLET "?relay=http://r&secret=" SECRET,
        "http relay");
    bad("nostr+walletconnect://" WALLET "?relay=ws://r&secret=" SECRET
        "&secret=" SECRET, "two secrets");
    bad("nostr+walletconnect://" WALLET "?relay=ws://r&secret=abcd", "short");
    bad("nostr+walletconnect://" WALLET "?relay=ws://r&secret="
        "0000000000000000000000000000000000000000000000000000000000000000",
        "zero secret");
    bad("nostr+walletconnect://" WALLET "?relay=ws://r&secret=" SECRET "#x",
        "fragment");
    bad("nostr+walletconnect://" WALLET "?relay=ws://r%00x&secret=" SECRET,
        "NUL");
    bad("nostr+walletconnect://" WALLET "?relay=ws://r%zz&secret=" SECRET,
        "bad percent");
    bad("nostr+walletconnect://" WALLET "?relay=ws://r&secret=" SECRET "%",
        "truncated percent");
    bad("nostr+walletconnect://" WALLET "?relay=ws://r&secret=" SECRET
        "&lud16=nobody", "lud16 without @");
    bad("nostr+walletconnect://" WALLET "?relay=ws://r&secret=" SECRET
        "&lud16=a@b&lud16=c@d", "two lud16");
    bad("nostr+walletconnect://" WALLET "?relay=ws://r&secret=" SECRET
        "&Bad-Name=1", "parameter name");
    bad("nostr+walletconnect://" WALLET "?relay=ws://r&&secret=" SECRET,
        "empty parameter");
    bad("nostr+walletconnect://abc?relay=ws://r&secret=" SECRET, "short key");
    bad("nostr+walletconnect://"
        "0000000000000000000000000000000000000000000000000000000000000005"
        "?relay=ws://r&secret=" SECRET, "key off the curve");
    snprintf(buf, sizeof buf, "nostr+walletconnect://%s%s", WALLET, base);
    for (int i = 0; i < 9; i++) {
        char r[40];
        snprintf(r, sizeof r, "&relay=ws://r%d.example", i);
        strcat(buf, r);
    }
    bad(buf, "nine relays");
    snprintf(buf, sizeof buf, "nostr+walletconnect://%s%s", WALLET, base);
    for (int i = 0; i < 40; i++)
        strcat(buf, "&x=1");
    bad(buf, "too many parameters");
    snprintf(buf, sizeof buf, "nostr+walletconnect://%s%s&x=", WALLET, base);
    while (strlen(buf) <= HEARTH_NWC_URI_MAX)
        strcat(buf, "aaaaaaaaaaaaaaaa");
    bad(buf, "too long");
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    chmod(path, mode);
}

static void test_load(void)
{
    char *dir = tap_tmpdir("nwc"), path[4200];
    hearth_nwc_conn c;
    const char *why = NULL;
    snprintf(path, sizeof path, "%s/nwc", dir);
    write_file(path, "  nostr+walletconnect://" WALLET
               "?relay=ws://r.example&secret=" SECRET "\n", 0600);
    CHECKF(hearth_nwc_conn_load(path, &c, &why) == HEARTH_OK, "%s", why);
    CHECK(c.nrelays == 1);
    hearth_nwc_conn_clear(&c);
    chmod(path, 0644);
    CHECK(hearth_nwc_conn_load(path, &c, &why) == HEARTH_EPERM);
    CHECK(why && strstr(why, "chmod 600"));
    hearth_nwc_conn_clear(&c);
    chmod(path, 0640);
    CHECK(hearth_nwc_conn_load(path, &c, &why) == HEARTH_EPERM);
    hearth_nwc_conn_clear(&c);
    snprintf(path, sizeof path, "%s/missing", dir);
    CHECK(hearth_nwc_conn_load(path, &c, &why) == HEARTH_EIO);
    hearth_nwc_conn_clear(&c);
    tap_rmtree(dir);
    free(dir);
}

static void test_reply(void)
{
    hearth_nwc_result r;
    uint8_t pre[32], hash[32];
    char pre_hex[65], hash_hex[65], json[600];
    memset(pre, 7, sizeof pre);
    crypto_hash_sha256(hash, pre, 32);
    hearth_hex_encode(pre, 32, pre_hex);
    hearth_hex_encode(hash, 32, hash_hex);

    snprintf(json, sizeof json, "{\"result_type\":\"pay_invoice\",\"error\":"
             "null,\"result\":{\"preimage\":\"%s\"}}", pre_hex);
    CHECK(hearth_nwc_reply_parse(HEARTH_NWC_PAY_INVOICE, json, strlen(json),
                                 hash, &r) == HEARTH_OK);
    CHECK(r.has_preimage && r.settled && !memcmp(r.preimage, pre, 32));
    pre[0] ^= 1; /* expecting a different hash: the preimage proves nothing */
    crypto_hash_sha256(hash, pre, 32);
    CHECK(hearth_nwc_reply_parse(HEARTH_NWC_PAY_INVOICE, json, strlen(json),
                                 hash, &r) == HEARTH_ECRYPTO);
    hearth_hex_encode(hash, 32, hash_hex); /* not the hash of pre_hex */

    snprintf(json, sizeof json, "{\"result_type\":\"lookup_invoice\",\"result\":"
             "{\"invoice\":\"lnbcrt1x\",\"payment_hash\":\"%s\",\"preimage\":"
             "\"%s\",\"amount\":1000,\"settled_at\":5}}", hash_hex, pre_hex);
    CHECK(hearth_nwc_reply_parse(HEARTH_NWC_LOOKUP_INVOICE, json, strlen(json),
                                 NULL, &r) == HEARTH_ECRYPTO);
    pre[0] ^= 1;
    crypto_hash_sha256(hash, pre, 32);
    hearth_hex_encode(hash, 32, hash_hex);
    snprintf(json, sizeof json, "{\"result_type\":\"lookup_invoice\",\"result\":"
             "{\"invoice\":\"lnbcrt1x\",\"payment_hash\":\"%s\",\"preimage\":"
             "\"%s\",\"amount\":1000,\"settled_at\":5}}", hash_hex, pre_hex);
    CHECK(hearth_nwc_reply_parse(HEARTH_NWC_LOOKUP_INVOICE, json, strlen(json),
                                 NULL, &r) == HEARTH_OK);
    CHECK(r.settled && r.amount_msat == 1000 && !strcmp(r.invoice, "lnbcrt1x"));

    const char *e = "{\"result_type\":\"pay_invoice\",\"error\":{\"code\":"
                    "\"INSUFFICIENT_BALANCE\",\"message\":\"low\\u001b[31m\"}}";
    CHECK(hearth_nwc_reply_parse(HEARTH_NWC_PAY_INVOICE, e, strlen(e), NULL,
                                 &r) == HEARTH_EPERM);
    CHECK(r.code == HEARTH_NWC_ERR_INSUFFICIENT_BALANCE);
    CHECK(strstr(r.message, "enough funds") && !strchr(r.message, 0x1b));

    e = "{\"result_type\":\"get_balance\",\"result\":{\"balance\":-1}}";
    CHECK(hearth_nwc_reply_parse(HEARTH_NWC_GET_BALANCE, e, strlen(e), NULL,
                                 &r) == HEARTH_EINVAL);
    e = "{\"result_type\":\"get_balance\",\"result\":{\"balance\":42}}";
    CHECK(hearth_nwc_reply_parse(HEARTH_NWC_GET_BALANCE, e, strlen(e), NULL,
                                 &r) == HEARTH_OK && r.balance_msat == 42);
    CHECK(hearth_nwc_reply_parse(HEARTH_NWC_GET_INFO, e, strlen(e), NULL,
                                 &r) == HEARTH_EINVAL); /* wrong type */
    e = "{\"result_type\":\"get_info\",\"result\":{\"alias\":\"w\","
        "\"methods\":[\"pay_invoice\",\"get_info\"]}}";
    CHECK(hearth_nwc_reply_parse(HEARTH_NWC_GET_INFO, e, strlen(e), NULL,
                                 &r) == HEARTH_OK &&
          !strcmp(r.methods, "pay_invoice get_info"));
    CHECK(hearth_nwc_reply_parse(HEARTH_NWC_GET_INFO, "[1]", 3, NULL, &r) ==
          HEARTH_EINVAL);
    CHECK(hearth_nwc_code_parse("NOPE") == HEARTH_NWC_ERR_OTHER);
    CHECK(hearth_nwc_code_parse("NOT_FOUND") == HEARTH_NWC_ERR_NOT_FOUND);
}

int main(void)
{
    test_good();
    test_bad();
    test_load();
    test_reply();
    return tap_done();
}
