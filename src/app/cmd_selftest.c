/* hearth selftest: exercise the Nostr core end to end on this machine and
 * print a fresh identity. It is what the README's first command runs until
 * the peer daemon exists, and a quick health check afterwards. */
#include "cli.h"
#include "hearth/error.h"
#include "hearth/event.h"
#include "hearth/hex.h"
#include "hearth/keys.h"
#include "hearth/nip19.h"
#include "hearth/nip44.h"

#include <sodium.h>
#include <string.h>
#include <time.h>

static int failures;

static void step(const char *what, int ok)
{
    printf("  [%s] %s\n", ok ? " ok " : "FAIL", what);
    failures += !ok;
}

/* sign, verify, and reject a tampered copy */
static void check_events(const uint8_t sk[32])
{
    hearth_event *ev = NULL;
    const char *why = NULL;
    static const char text[] = "hearth selftest \xe2\x9c\x93 \"quoted\"\n";
    int ok = hearth_event_new(1, (int64_t)time(NULL), text, sizeof text - 1,
                              &ev) == 0 &&
             hearth_event_add_tagv(ev, "t", "hearth", NULL) == 0 &&
             hearth_event_sign(ev, sk) == 0;
    step("sign a NIP-01 event (BIP-340)", ok);
    if (!ok)
        return;
    hearth_buf js = HEARTH_BUF_INIT;
    hearth_event *back = NULL;
    ok = hearth_event_to_json(ev, &js) == 0 &&
         hearth_event_parse(js.p, js.len, 0, &back, &why) == 0 &&
         hearth_event_verify(back, &why) == 0;
    step("parse it back strictly, recompute the id, verify", ok);
    if (back) {
        back->created_at++;
        step("reject it after tampering",
             hearth_event_verify(back, &why) == HEARTH_EBADID);
    }
    hearth_event_free(back);
    hearth_event_free(ev);
    hearth_buf_free(&js);
}

static void check_nip44(const uint8_t sk[32], const uint8_t pk[32])
{
    uint8_t other[32], other_pk[32], ck1[32], ck2[32];
    hearth_key_generate(other);
    hearth_key_pubkey(other, other_pk);
    int ok = hearth_nip44_conversation_key(sk, other_pk, ck1) == 0 &&
             hearth_nip44_conversation_key(other, pk, ck2) == 0 &&
             !memcmp(ck1, ck2, 32);
    step("NIP-44 conversation keys agree (ECDH)", ok);
    hearth_buf payload = HEARTH_BUF_INIT, plain = HEARTH_BUF_INIT;
    const char *why = NULL;
    static const char msg[] = "job params stay private";
    ok = ok && hearth_nip44_encrypt(ck1, msg, sizeof msg - 1, NULL,
                                    &payload) == 0 &&
         hearth_nip44_decrypt(ck2, payload.p, payload.len, &plain, &why) == 0 &&
         plain.len == sizeof msg - 1 && !memcmp(plain.p, msg, plain.len);
    step("NIP-44 v2 encrypt/decrypt round trip", ok);
    sodium_memzero(other, sizeof other);
    hearth_buf_free(&payload);
    hearth_buf_free(&plain);
}

int cmd_selftest(int argc, char **argv)
{
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            puts("usage: hearth selftest [--json]\n\n"
                 "Checks key generation, event signing and strict\n"
                 "verification, NIP-19 and NIP-44 on this machine, then\n"
                 "prints a fresh identity (not saved: use 'hearth key new\n"
                 "--out FILE' to keep one).");
            return CLI_OK;
        }
        if (strcmp(argv[i], "--json")) {
            cli_error("unexpected argument '%s' (see --help)", argv[i]);
            return CLI_USAGE;
        }
        json = 1;
    }
    uint8_t sk[32], pk[32], back[32];
    printf("hearth selftest\n");
    int ok = hearth_key_generate(sk) == 0 && hearth_key_pubkey(sk, pk) == 0;
    step("generate a secp256k1 key", ok);
    if (!ok)
        return CLI_ERROR;
    hearth_buf npub = HEARTH_BUF_INIT, nsec = HEARTH_BUF_INIT;
    ok = hearth_nip19_encode32("npub", pk, &npub) == 0 &&
         hearth_nip19_encode32("nsec", sk, &nsec) == 0 &&
         hearth_nip19_decode32(npub.p, "npub", back) == 0 &&
         !memcmp(back, pk, 32);
    step("NIP-19 npub/nsec round trip", ok);
    check_events(sk);
    check_nip44(sk, pk);
    char hex[65];
    hearth_hex_encode(pk, 32, hex);
    if (json)
        printf("{\"ok\":%s,\"npub\":\"%s\",\"pubkey\":\"%s\",\"nsec\":\"%s\"}\n",
               failures ? "false" : "true", npub.p, hex, nsec.p);
    else
        printf("%s\n\nA fresh identity (not saved):\n  npub   %s\n  pubkey %s\n"
               "  nsec   %s\n\nKeep one with: hearth key new --out "
               "~/.config/hearth/key\n",
               failures ? "SELFTEST FAILED" : "all checks passed", npub.p, hex,
               nsec.p);
    sodium_memzero(sk, sizeof sk);
    sodium_memzero(nsec.p, nsec.len);
    hearth_buf_free(&npub);
    hearth_buf_free(&nsec);
    return failures ? CLI_FAIL : CLI_OK;
}
