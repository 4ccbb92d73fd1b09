/* hearth nip44 encrypt|decrypt: NIP-44 v2 payloads between our key and a
 * peer's public key. Plaintext passes through byte for byte (no newline is
 * added or removed), so binary data and pipelines both work. */
#include "cli.h"
#include "hearth/error.h"
#include "hearth/hex.h"
#include "hearth/nip19.h"
#include "hearth/nip44.h"

#include <sodium.h>
#include <stdint.h>
#include <string.h>

/* Longest payload text we read: the base64 of the largest plaintext we
 * accept plus its framing, with room for surrounding whitespace. */
#define MAX_PAYLOAD_TEXT (HEARTH_NIP44_MAX_PLAINTEXT / 3 * 4 + 4096)

struct opts {
    const char *peer; /* --to / --from */
    const char *key;
    int json;
    int help;
};

/* peer_opt is "--to" or "--from"; the --json flag only if json_ok */
static int parse_opts(int argc, char **argv, const char *peer_opt,
                      int json_ok, struct opts *o)
{
    size_t plen = strlen(peer_opt);
    memset(o, 0, sizeof *o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help"))
            o->help = 1;
        else if (json_ok && !strcmp(a, "--json"))
            o->json = 1;
        else if (!strcmp(a, peer_opt) && i + 1 < argc)
            o->peer = argv[++i];
        else if (!strncmp(a, peer_opt, plen) && a[plen] == '=')
            o->peer = a + plen + 1;
        else if (!strcmp(a, "--key") && i + 1 < argc)
            o->key = argv[++i];
        else if (!strncmp(a, "--key=", 6))
            o->key = a + 6;
        else {
            cli_error("unexpected argument '%s' (see --help)", a);
            return -1;
        }
    }
    if (!o->help && !o->peer) {
        cli_error("missing %s PUBKEY (see --help)", peer_opt);
        return -1;
    }
    return 0;
}

/* 64 hex characters (either case: typed by people) or an npub */
static int parse_pubkey(const char *s, uint8_t pk[32])
{
    size_t n = strlen(s);
    int ok = (n == 64 && hearth_hex_decode(s, n, pk, 32, 1) == HEARTH_OK) ||
             (!strncmp(s, "npub1", 5) &&
              hearth_nip19_decode32(s, "npub", pk) == HEARTH_OK);
    if (!ok) {
        cli_error("'%s' is not a public key: give 64 hex characters or an "
                  "npub", s);
        return -1;
    }
    return 0;
}

/* Key, peer and conversation key; prints its own errors. */
static int setup(const struct opts *o, uint8_t ck[32])
{
    uint8_t sk[32], pk[32];
    if (parse_pubkey(o->peer, pk))
        return CLI_USAGE;
    if (cli_load_key(o->key, sk))
        return CLI_ERROR;
    int rc = hearth_nip44_conversation_key(sk, pk, ck);
    sodium_memzero(sk, sizeof sk);
    if (rc == HEARTH_EINVAL) {
        cli_error("'%s' is not a point on secp256k1", o->peer);
        return CLI_USAGE;
    }
    if (rc) {
        cli_error("%s", hearth_strerror(rc));
        return CLI_ERROR;
    }
    return CLI_OK;
}

/* All of f into b; -1 past max bytes, -2 on a read or memory error. */
static int read_all(FILE *f, hearth_buf *b, size_t max)
{
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (n > max - b->len)
            return -1;
        if (hearth_buf_add(b, chunk, n))
            return -2;
    }
    return ferror(f) ? -2 : 0;
}

static int read_stdin(hearth_buf *b, size_t max, const char *what)
{
    int r = read_all(stdin, b, max);
    if (r == -1)
        cli_error("%s exceeds hearth's NIP-44 bound of %u bytes of "
                  "plaintext", what, HEARTH_NIP44_MAX_PLAINTEXT);
    else if (r)
        cli_error("cannot read %s from stdin", what);
    return r == -1 ? CLI_FAIL : r ? CLI_ERROR : CLI_OK;
}

static int write_out(const char *p, size_t n)
{
    if (fwrite(p, 1, n, stdout) != n || fflush(stdout) != 0) {
        cli_error("cannot write to stdout");
        return CLI_ERROR;
    }
    return CLI_OK;
}

static int encrypt_run(int argc, char **argv)
{
    struct opts o;
    uint8_t ck[32];
    if (parse_opts(argc, argv, "--to", 1, &o))
        return CLI_USAGE;
    if (o.help) {
        puts("usage: hearth nip44 encrypt --to PUBKEY [--key SPEC] [--json]"
             " < plaintext\n\n"
             "Encrypts all of stdin, exactly as given (use printf or echo -n\n"
             "if a trailing newline is unwanted), to PUBKEY (64 hex\n"
             "characters or an npub) and prints the NIP-44 v2 payload.\n"
             "Plaintexts of 65536 bytes or more use the extended length\n"
             "prefix, which older NIP-44 readers cannot decrypt; the limit\n"
             "is 16 MiB. SPEC is a key file, an nsec or a 64-character hex\n"
             "secret (default: $HEARTH_KEY, then ~/.config/hearth/key).\n"
             "--json prints {\"payload\":\"...\"} instead.");
        return CLI_OK;
    }
    int rc = setup(&o, ck);
    if (rc)
        return rc;
    hearth_buf pt = HEARTH_BUF_INIT, out = HEARTH_BUF_INIT;
    rc = read_stdin(&pt, HEARTH_NIP44_MAX_PLAINTEXT, "plaintext");
    if (rc == CLI_OK && pt.len == 0) {
        cli_error("nothing to encrypt: NIP-44 needs at least one byte");
        rc = CLI_FAIL;
    }
    int err = rc == CLI_OK ? hearth_nip44_encrypt(ck, pt.p, pt.len, NULL, &out)
                           : HEARTH_OK;
    if (err) {
        cli_error("encryption failed: %s", hearth_strerror(err));
        rc = CLI_ERROR;
    }
    if (rc == CLI_OK) {
        hearth_buf line = HEARTH_BUF_INIT;
        if (o.json) {
            hearth_buf_adds(&line, "{\"payload\":");
            hearth_buf_addjson(&line, out.p, out.len);
            hearth_buf_adds(&line, "}\n");
        } else {
            hearth_buf_add(&line, out.p, out.len);
            hearth_buf_addc(&line, '\n');
        }
        rc = hearth_buf_error(&line) ? CLI_ERROR : write_out(line.p, line.len);
        hearth_buf_free(&line);
    }
    sodium_memzero(ck, sizeof ck);
    if (pt.p)
        sodium_memzero(pt.p, pt.len);
    hearth_buf_free(&pt);
    hearth_buf_free(&out);
    return rc;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* payloads never contain whitespace; a trailing newline from echo or a
 * file is expected, so trim both ends */
static void trim(const hearth_buf *b, const char **p, size_t *n)
{
    size_t a = 0, z = b->len;
    if (!b->p) {
        *p = "";
        *n = 0;
        return;
    }
    while (a < z && is_space(b->p[a]))
        a++;
    while (z > a && is_space(b->p[z - 1]))
        z--;
    *p = b->p + a;
    *n = z - a;
}

static int decrypt_run(int argc, char **argv)
{
    struct opts o;
    uint8_t ck[32];
    if (parse_opts(argc, argv, "--from", 0, &o))
        return CLI_USAGE;
    if (o.help) {
        puts("usage: hearth nip44 decrypt --from PUBKEY [--key SPEC]"
             " < payload\n\n"
             "Reads one NIP-44 v2 payload from stdin (surrounding whitespace\n"
             "is ignored), decrypts it with the conversation key between our\n"
             "key and PUBKEY (64 hex characters or an npub), and writes the\n"
             "plaintext to stdout exactly, without adding a newline.\n"
             "Extended-prefix payloads are accepted up to 16 MiB of\n"
             "plaintext. Exit status 1 with the reason if the payload is\n"
             "malformed or was not made for this key pair.");
        return CLI_OK;
    }
    int rc = setup(&o, ck);
    if (rc)
        return rc;
    hearth_buf in = HEARTH_BUF_INIT, pt = HEARTH_BUF_INIT;
    const char *why = NULL, *p = NULL;
    size_t n = 0;
    rc = read_stdin(&in, MAX_PAYLOAD_TEXT, "payload");
    if (rc == CLI_OK) {
        trim(&in, &p, &n);
        int err = hearth_nip44_decrypt(ck, p, n, &pt, &why);
        if (err == HEARTH_ENOMEM) {
            cli_error("out of memory");
            rc = CLI_ERROR;
        } else if (err) {
            cli_error("%s", why ? why : hearth_strerror(err));
            rc = CLI_FAIL;
        }
    }
    if (rc == CLI_OK)
        rc = write_out(pt.p, pt.len);
    sodium_memzero(ck, sizeof ck);
    if (pt.p)
        sodium_memzero(pt.p, pt.len);
    hearth_buf_free(&in);
    hearth_buf_free(&pt);
    return rc;
}

int cmd_nip44(int argc, char **argv)
{
    static const cli_verb verbs[] = {
        {"encrypt", encrypt_run, "encrypt stdin to a public key"},
        {"decrypt", decrypt_run, "decrypt a payload from a public key"},
        {NULL, NULL, NULL},
    };
    return cli_dispatch("nip44", verbs, argc, argv);
}
