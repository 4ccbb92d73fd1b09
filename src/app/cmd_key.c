/* hearth key new|show|convert|encrypt|import: create keys, show their
 * public half, translate between hex and NIP-19, and seal keys under a
 * passphrase (NIP-49). A secret reaches stdout only when the user asked
 * for it: `new` without --out, or `convert` of a secret. */
#include "cli.h"
#include "hearth/error.h"
#include "hearth/hex.h"
#include "hearth/keys.h"
#include "hearth/nip19.h"
#include "hearth/nip49.h"

#include <errno.h>
#include <ctype.h>
#include <getopt.h>
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct opts {
    const char *out;   /* new --out */
    const char *key;   /* show --key */
    const char *to;    /* convert --to */
    const char *value; /* convert/import VALUE */
    const char *log_n; /* encrypt --log-n */
    int json;
    int help;
};

static const struct option longopts[] = {
    {"out", required_argument, NULL, 'o'},
    {"key", required_argument, NULL, 'k'},
    {"to", required_argument, NULL, 't'},
    {"log-n", required_argument, NULL, 'n'},
    {"json", no_argument, NULL, 'j'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0}};

/* allowed lists the option letters of the verb; 'v' admits one VALUE.
 * The leading '-' returns operands in place (code 1) so options may follow
 * VALUE even under POSIXLY_CORRECT; ':' reports missing values apart. */
static int parse_opts(int argc, char **argv, const char *verb,
                      const char *allowed, struct opts *o)
{
    int c, li = -1;
    memset(o, 0, sizeof *o);
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "-:h", longopts, &li)) != -1) {
        if (c == 1 && strchr(allowed, 'v') && !o->value) {
            o->value = optarg;
        } else if (c == ':') {
            cli_error("option '%s' needs a value (see 'hearth key %s "
                      "--help')", argv[optind - 1], verb);
            return -1;
        } else if (c == 1 || c == '?' || !strchr(allowed, c)) {
            /* name the option itself, not a value it consumed */
            if (c != 1 && c != '?' && li >= 0)
                cli_error("option '--%s' does not apply to 'hearth key %s'",
                          longopts[li].name, verb);
            else
                cli_error("unexpected argument '%s' (see 'hearth key %s "
                          "--help')", c == 1 ? optarg : argv[optind - 1],
                          verb);
            return -1;
        }
        switch (c) {
        case 'o': o->out = optarg; break;
        case 'k': o->key = optarg; break;
        case 't': o->to = optarg; break;
        case 'n': o->log_n = optarg; break;
        case 'j': o->json = 1; break;
        case 'h': o->help = 1; break;
        }
        li = -1;
    }
    return 0;
}

/* One command's output: a JSON object, or "name: value" lines. It is
 * wiped before release because it may hold a secret. */
typedef struct out {
    hearth_buf b;
    int json;
    int nfields;
} out;

static void out_name(out *o, const char *name)
{
    if (!o->json) {
        hearth_buf_addf(&o->b, "%s: ", name);
        return;
    }
    hearth_buf_addc(&o->b, o->nfields++ ? ',' : '{');
    hearth_buf_addjson(&o->b, name, strlen(name));
    hearth_buf_addc(&o->b, ':');
}

/* s is bech32, hex or a relay: printable ASCII, safe unquoted in text */
static void out_str(out *o, const char *name, const char *s)
{
    out_name(o, name);
    if (o->json)
        hearth_buf_addjson(&o->b, s, strlen(s));
    else
        hearth_buf_adds(&o->b, s);
    if (!o->json)
        hearth_buf_addc(&o->b, '\n');
}

static void out_hex(out *o, const char *name, const uint8_t v[32])
{
    char hex[65];
    hearth_hex_encode(v, 32, hex);
    out_str(o, name, hex);
    sodium_memzero(hex, sizeof hex);
}

static void out_uint(out *o, const char *name, uint32_t v)
{
    out_name(o, name);
    hearth_buf_addf(&o->b, o->json ? "%u" : "%u\n", v);
}

/* Quoted in text too: an empty identifier is common (replaceable events)
 * and would otherwise print as nothing, and it may hold control bytes. */
static void out_quoted(out *o, const char *name, const char *s, size_t n)
{
    out_name(o, name);
    hearth_buf_addjson(&o->b, s, n);
    if (!o->json)
        hearth_buf_addc(&o->b, '\n');
}

static void out_relays(out *o, const hearth_nip19 *x)
{
    if (!o->json) {
        for (size_t i = 0; i < x->nrelays; i++)
            out_str(o, "relay", x->relays[i]);
        return;
    }
    out_name(o, "relays");
    hearth_buf_addc(&o->b, '[');
    for (size_t i = 0; i < x->nrelays; i++) {
        if (i)
            hearth_buf_addc(&o->b, ',');
        hearth_buf_addjson(&o->b, x->relays[i], strlen(x->relays[i]));
    }
    hearth_buf_addc(&o->b, ']');
}

static int out_flush(out *o)
{
    int rc = CLI_OK;
    if (o->json) {
        if (!o->nfields)
            hearth_buf_addc(&o->b, '{');
        hearth_buf_adds(&o->b, "}\n");
    }
    if (hearth_buf_error(&o->b)) {
        cli_error("out of memory");
        rc = CLI_ERROR;
    } else if (fwrite(o->b.p, 1, o->b.len, stdout) != o->b.len ||
               fflush(stdout) != 0) {
        cli_error("cannot write to standard output");
        rc = CLI_ERROR;
    }
    if (o->b.p)
        sodium_memzero(o->b.p, o->b.cap);
    hearth_buf_free(&o->b);
    return rc;
}

/* bech32 of a bare entity into a fixed array (always 63 chars + NUL) */
static int encode32(const char *hrp, const uint8_t v[32], char text[64])
{
    hearth_buf b = HEARTH_BUF_INIT;
    int rc = hearth_nip19_encode32(hrp, v, &b);
    if (rc == HEARTH_OK && b.len < 64)
        memcpy(text, b.p, b.len + 1);
    else if (rc == HEARTH_OK)
        rc = HEARTH_EINVAL;
    if (b.p)
        sodium_memzero(b.p, b.cap);
    hearth_buf_free(&b);
    return rc;
}

static int save_key(const char *path, const uint8_t sk[32])
{
    int rc = cli_mkdir_parents(path) ? HEARTH_EIO : hearth_key_save(path, sk);
    if (rc == HEARTH_OK)
        return 0;
    if (rc == HEARTH_EIO && errno == EEXIST)
        cli_error("%s already exists; a key file is never overwritten "
                  "(choose another --out path)", path);
    else if (rc == HEARTH_EIO)
        cli_error("cannot write key file %s: %s (check that the directory "
                  "exists and is writable)", path, strerror(errno));
    else
        cli_error("cannot write key file %s: %s", path, hearth_strerror(rc));
    return -1;
}

static int new_run(int argc, char **argv)
{
    struct opts o;
    uint8_t sk[32], pk[32];
    char nsec[64], npub[64];
    if (parse_opts(argc, argv, "new", "hjo", &o))
        return CLI_USAGE;
    if (o.help) {
        puts("usage: hearth key new [--out FILE] [--json]\n\n"
             "Generates a secp256k1 key from the OS random generator.\n"
             "Without --out, prints the secret (nsec), the npub and the hex\n"
             "public key: keep the nsec secret. With --out FILE, writes the\n"
             "nsec to FILE (mode 0600; an existing file is never\n"
             "overwritten) and prints only the npub and the path.\n"
             "--json prints one object: npub, pubkey, and nsec (without\n"
             "--out) or file (with --out).");
        return CLI_OK;
    }
    if (hearth_key_generate(sk) || hearth_key_pubkey(sk, pk) ||
        encode32("npub", pk, npub) || encode32("nsec", sk, nsec)) {
        sodium_memzero(sk, sizeof sk);
        cli_error("cannot generate a key: the crypto libraries failed to "
                  "initialise");
        return CLI_ERROR;
    }
    int saved = o.out && save_key(o.out, sk) == 0;
    sodium_memzero(sk, sizeof sk);
    if (o.out && !saved) {
        sodium_memzero(nsec, sizeof nsec);
        return CLI_ERROR;
    }
    out w = {HEARTH_BUF_INIT, o.json, 0};
    if (!o.out && !o.json)
        out_str(&w, "nsec", nsec);
    out_str(&w, "npub", npub);
    if (o.json || !o.out)
        out_hex(&w, "pubkey", pk);
    if (!o.out && o.json)
        out_str(&w, "nsec", nsec);
    if (o.out) {
        out_name(&w, "file");
        if (o.json)
            hearth_buf_addjson(&w.b, o.out, strlen(o.out));
        else
            hearth_buf_addf(&w.b, "%s\n", o.out);
    }
    sodium_memzero(nsec, sizeof nsec);
    return out_flush(&w);
}

static int show_run(int argc, char **argv)
{
    struct opts o;
    uint8_t sk[32], pk[32];
    char npub[64];
    if (parse_opts(argc, argv, "show", "hjk", &o))
        return CLI_USAGE;
    if (o.help) {
        puts("usage: hearth key show [--key SPEC] [--json]\n\n"
             "Prints the npub and the hex public key of a key (never the\n"
             "secret). SPEC is a key file, an nsec or a 64-character hex\n"
             "secret (default: $HEARTH_KEY, then $XDG_CONFIG_HOME/hearth/key\n"
             "or ~/.config/hearth/key).");
        return CLI_OK;
    }
    if (cli_load_key(o.key, sk))
        return CLI_ERROR;
    int rc = hearth_key_pubkey(sk, pk);
    sodium_memzero(sk, sizeof sk);
    if (rc == HEARTH_OK)
        rc = encode32("npub", pk, npub);
    if (rc) {
        cli_error("cannot derive the public key: %s", hearth_strerror(rc));
        return CLI_ERROR;
    }
    out w = {HEARTH_BUF_INIT, o.json, 0};
    out_str(&w, "npub", npub);
    out_hex(&w, "pubkey", pk);
    return out_flush(&w);
}

static const char *const type_names[] = {
    [HEARTH_NIP19_NPUB] = "npub",         [HEARTH_NIP19_NSEC] = "nsec",
    [HEARTH_NIP19_NOTE] = "note",         [HEARTH_NIP19_NPROFILE] = "nprofile",
    [HEARTH_NIP19_NEVENT] = "nevent",     [HEARTH_NIP19_NADDR] = "naddr",
};

/* JSON name of the hex form of a bare entity */
static const char *hex_name(hearth_nip19_type t)
{
    return t == HEARTH_NIP19_NPUB ? "pubkey"
         : t == HEARTH_NIP19_NSEC ? "seckey" : "id";
}

/* Keys are checked, not just converted: a string that is not a usable key
 * is far more likely a mistake (a swapped or truncated value) than intent. */
static int check_key(hearth_nip19_type t, const uint8_t v[32])
{
    uint8_t pk[32];
    if (t == HEARTH_NIP19_NPUB && !hearth_key_pubkey_valid(v)) {
        cli_error("not a valid public key: no secp256k1 point has this x "
                  "coordinate (check that VALUE is a public key)");
        return -1;
    }
    if (t == HEARTH_NIP19_NSEC && hearth_key_pubkey(v, pk) != HEARTH_OK) {
        cli_error("not a valid secret key: zero or not below the secp256k1 "
                  "group order");
        return -1;
    }
    return 0;
}

/* npub/nsec/note both ways: text mode prints only the converted value */
static int print_bare(hearth_nip19_type t, const uint8_t v[32], int to_hex,
                      int json)
{
    char bech[64], hex[65];
    if (check_key(t, v))
        return CLI_FAIL;
    if (encode32(type_names[t], v, bech)) {
        cli_error("out of memory");
        return CLI_ERROR;
    }
    hearth_hex_encode(v, 32, hex);
    out w = {HEARTH_BUF_INIT, json, 0};
    if (json) {
        out_str(&w, "type", type_names[t]);
        out_str(&w, type_names[t], bech);
        out_str(&w, hex_name(t), hex);
    } else {
        hearth_buf_adds(&w.b, to_hex ? hex : bech);
        hearth_buf_addc(&w.b, '\n');
    }
    sodium_memzero(bech, sizeof bech);
    sodium_memzero(hex, sizeof hex);
    return out_flush(&w);
}

static int print_tlv(const hearth_nip19 *x, int json)
{
    if (x->type == HEARTH_NIP19_NPROFILE && check_key(HEARTH_NIP19_NPUB,
                                                      x->data))
        return CLI_FAIL;
    if (x->has_author && check_key(HEARTH_NIP19_NPUB, x->author))
        return CLI_FAIL;
    out w = {HEARTH_BUF_INIT, json, 0};
    out_str(&w, "type", type_names[x->type]);
    if (x->type == HEARTH_NIP19_NPROFILE)
        out_hex(&w, "pubkey", x->data);
    if (x->type == HEARTH_NIP19_NEVENT)
        out_hex(&w, "id", x->data);
    if (x->type == HEARTH_NIP19_NADDR) {
        out_quoted(&w, "identifier", x->identifier, x->identifier_len);
        out_hex(&w, "pubkey", x->author);
    } else if (x->has_author) {
        out_hex(&w, "author", x->author);
    }
    if (x->has_kind)
        out_uint(&w, "kind", x->kind);
    out_relays(&w, x);
    return out_flush(&w);
}

static int all_hex(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!strchr("0123456789abcdefABCDEF", *s))
            return 0;
    return 1;
}

static int from_hex(const char *value, const char *to, int json)
{
    static const hearth_nip19_type bare[] = {
        HEARTH_NIP19_NPUB, HEARTH_NIP19_NSEC, HEARTH_NIP19_NOTE};
    uint8_t v[32];
    size_t i = 0;
    while (i < 3 && strcmp(to ? to : "npub", type_names[bare[i]]))
        i++;
    if (i == 3) {
        cli_error("--to takes npub, nsec or note");
        return CLI_USAGE;
    }
    if (hearth_hex_decode(value, strlen(value), v, 32, 1)) {
        cli_error("hex VALUE must be 64 characters (32 bytes), not %zu",
                  strlen(value));
        return CLI_USAGE;
    }
    int rc = print_bare(bare[i], v, 0, json);
    sodium_memzero(v, sizeof v);
    return rc;
}

/* "type1..." with a NIP-19 prefix, in either case */
static int nip19_prefix(const char *s)
{
    for (size_t i = 0; i < sizeof type_names / sizeof type_names[0]; i++) {
        size_t n = strlen(type_names[i]);
        if (!strncasecmp(s, type_names[i], n) && s[n] == '1')
            return 1;
    }
    return 0;
}

static int from_nip19(const char *value, int json)
{
    hearth_nip19 x;
    const char *why = NULL;
    int rc = hearth_nip19_decode(value, strlen(value), &x, &why);
    if (rc == HEARTH_ENOMEM) {
        cli_error("out of memory");
        return CLI_ERROR;
    }
    if (rc) {
        cli_error("%s (check that VALUE was copied completely)", why);
        return CLI_FAIL;
    }
    if (x.type == HEARTH_NIP19_NPUB || x.type == HEARTH_NIP19_NSEC ||
        x.type == HEARTH_NIP19_NOTE)
        rc = print_bare(x.type, x.data, 1, json);
    else
        rc = print_tlv(&x, json);
    hearth_nip19_clear(&x);
    return rc;
}

/* "-" reads VALUE from stdin, so a secret need not appear in argv (where
 * ps and shell history would see it). */
static int convert_value(const char *value, const struct opts *o)
{
    if (all_hex(value))
        return from_hex(value, o->to, o->json);
    if (o->to) {
        cli_error("--to applies only to hex input; a NIP-19 VALUE converts "
                  "to hex");
        return CLI_USAGE;
    }
    if (!nip19_prefix(value)) {
        cli_error("VALUE is neither 64 hex characters nor an npub, nsec, "
                  "note, nprofile, nevent or naddr");
        return CLI_USAGE;
    }
    return from_nip19(value, o->json);
}

static int convert_run(int argc, char **argv)
{
    struct opts o;
    if (parse_opts(argc, argv, "convert", "hjtv", &o))
        return CLI_USAGE;
    if (o.help) {
        puts("usage: hearth key convert VALUE [--to npub|nsec|note] "
             "[--json]\n\n"
             "64 hex characters become an npub (--to nsec: an nsec, --to\n"
             "note: a note id). An npub, nsec or note becomes hex. An\n"
             "nprofile, nevent or naddr is decoded into 'name: value'\n"
             "lines. VALUE '-' reads the value from stdin (keeps secrets\n"
             "out of argv). Public keys must be secp256k1 points and secret\n"
             "keys in range, else the exit status is 1. --json prints one\n"
             "object with \"type\" and the fields.");
        return CLI_OK;
    }
    if (!o.value) {
        cli_error("missing VALUE: give 64 hex characters or an npub, nsec, "
                  "note, nprofile, nevent or naddr");
        return CLI_USAGE;
    }
    if (strcmp(o.value, "-"))
        return convert_value(o.value, &o);
    hearth_buf line = HEARTH_BUF_INIT;
    int r = cli_read_line(stdin, &line), rc;
    if (r <= 0) {
        cli_error(r < 0 ? "VALUE on stdin is too long"
                        : "no VALUE on stdin (give one line)");
        rc = CLI_USAGE;
    } else {
        rc = convert_value(line.p ? line.p : "", &o);
    }
    if (line.p)
        sodium_memzero(line.p, line.cap);
    hearth_buf_free(&line);
    return rc;
}

/* --log-n: 16 (NIP-49's "fast computer" setting) up to the library's
 * bound; below 16 is too cheap to brute-force for a key kept on disk */
static int parse_log_n(const char *text, unsigned *log_n)
{
    char *end;
    unsigned long v;
    *log_n = HEARTH_NIP49_DEFAULT_LOG_N;
    if (!text)
        return 0;
    errno = 0;
    v = strtoul(text, &end, 10);
    if (errno || end == text || *end || v < 16 ||
        v > HEARTH_NIP49_MAX_LOG_N) {
        cli_error("--log-n takes 16 to %u (scrypt memory 64 MiB to 4 GiB)",
                  HEARTH_NIP49_MAX_LOG_N);
        return -1;
    }
    *log_n = (unsigned)v;
    return 0;
}

static int seal(const uint8_t sk[32], unsigned log_n,
                char enc[HEARTH_NIP49_LEN + 1])
{
    char pass[HEARTH_NIP49_MAX_PASSWORD + 2];
    const char *why = NULL;
    int rc = cli_passphrase("New passphrase: ", 1, pass, sizeof pass, &why);
    if (rc) {
        cli_error("%s", why);
        return CLI_ERROR;
    }
    /* hearth does not track how the key was handled before: 0x02 */
    rc = hearth_nip49_encrypt(sk, pass, log_n, HEARTH_NIP49_KS_UNKNOWN, enc);
    sodium_memzero(pass, sizeof pass);
    if (rc == HEARTH_EINVAL) {
        cli_error("the passphrase is empty or has characters other than "
                  "ASCII and Latin-1 letters, which hearth cannot "
                  "NFKC-normalise (NIP-49); choose another");
        return CLI_FAIL;
    }
    if (rc) {
        cli_error("cannot encrypt the key: %s%s", hearth_strerror(rc),
                  rc == HEARTH_ENOMEM ? " (lower --log-n)" : "");
        return CLI_ERROR;
    }
    return CLI_OK;
}

static int save_ncryptsec(const char *path, const char *text)
{
    int rc = cli_mkdir_parents(path) ? HEARTH_EIO
                                     : hearth_key_save_ncryptsec(path, text);
    if (rc == HEARTH_OK)
        return 0;
    if (rc == HEARTH_EIO && errno == EEXIST)
        cli_error("%s already exists; a key file is never overwritten "
                  "(choose another --out path)", path);
    else
        cli_error("cannot write key file %s: %s", path,
                  rc == HEARTH_EIO ? strerror(errno) : hearth_strerror(rc));
    return -1;
}

static int print_file_or_value(const char *path, const char *value)
{
    out w = {HEARTH_BUF_INIT, 0, 0};
    out_str(&w, path ? "file" : "ncryptsec", path ? path : value);
    return out_flush(&w);
}

static int encrypt_run(int argc, char **argv)
{
    struct opts o;
    uint8_t sk[32];
    unsigned log_n;
    char enc[HEARTH_NIP49_LEN + 1];
    if (parse_opts(argc, argv, "encrypt", "hkon", &o))
        return CLI_USAGE;
    if (o.help) {
        puts("usage: hearth key encrypt [--key SPEC] [--log-n N] "
             "[--out FILE]\n\n"
             "Encrypts a key under a passphrase (NIP-49: scrypt with\n"
             "N = 2^log_n, XChaCha20-Poly1305) and prints the ncryptsec, or\n"
             "writes it to FILE (mode 0600, never overwritten). The\n"
             "passphrase comes from $HEARTH_PASSPHRASE, else it is asked\n"
             "twice on the terminal. --log-n 16 (default, 64 MiB) to 22\n"
             "(4 GiB). Passphrases must be ASCII or Latin-1 letters.");
        return CLI_OK;
    }
    if (parse_log_n(o.log_n, &log_n))
        return CLI_USAGE;
    if (cli_load_key(o.key, sk))
        return CLI_ERROR;
    int rc = seal(sk, log_n, enc);
    sodium_memzero(sk, sizeof sk);
    if (rc)
        return rc;
    if (o.out && save_ncryptsec(o.out, enc))
        return CLI_ERROR;
    return print_file_or_value(o.out, enc);
}

/* nsec or 64 hex characters, in range */
static int plain_secret(const char *v, uint8_t sk[32])
{
    uint8_t pk[32];
    size_t n = strlen(v);
    int rc = n == 64 ? hearth_hex_decode(v, n, sk, 32, 1)
                     : hearth_nip19_decode32(v, "nsec", sk);
    if (rc == HEARTH_OK)
        rc = hearth_key_pubkey(sk, pk);
    return rc;
}

static int import_plain(const char *v, const char *path)
{
    uint8_t sk[32], pk[32];
    char npub[64];
    if (plain_secret(v, sk)) {
        sodium_memzero(sk, sizeof sk);
        cli_error("not a valid key: give an nsec, a 64-character hex "
                  "secret or an ncryptsec (check it was copied completely)");
        return CLI_FAIL;
    }
    int bad = hearth_key_pubkey(sk, pk) || encode32("npub", pk, npub) ||
              save_key(path, sk);
    sodium_memzero(sk, sizeof sk);
    if (bad)
        return CLI_ERROR;
    out w = {HEARTH_BUF_INIT, 0, 0};
    out_str(&w, "npub", npub);
    out_str(&w, "file", path);
    return out_flush(&w);
}

static int import_value(const char *v, const char *out_path)
{
    char path[4096];
    const char *why = NULL;
    if (!out_path) {
        cli_default_key_path(path, sizeof path);
        out_path = path;
    }
    if (!hearth_nip49_is_ncryptsec(v, strlen(v)))
        return import_plain(v, out_path);
    int rc = hearth_nip49_inspect(v, strlen(v), NULL, NULL, &why);
    if (rc) {
        cli_error("%s", why);
        return CLI_FAIL;
    }
    if (save_ncryptsec(out_path, v))
        return CLI_ERROR;
    return print_file_or_value(out_path, v);
}

static int import_run(int argc, char **argv)
{
    struct opts o;
    if (parse_opts(argc, argv, "import", "hov", &o))
        return CLI_USAGE;
    if (o.help) {
        puts("usage: hearth key import NSEC|HEX|NCRYPTSEC [--out FILE]\n\n"
             "Writes the key to FILE (default $XDG_CONFIG_HOME/hearth/key or\n"
             "~/.config/hearth/key), mode 0600, never over an existing\n"
             "file. An ncryptsec is stored as given (checked, not\n"
             "decrypted); hearth asks its passphrase when it loads the\n"
             "key. VALUE '-' reads the value from stdin.");
        return CLI_OK;
    }
    if (!o.value) {
        cli_error("missing VALUE: give an nsec, a 64-character hex secret "
                  "or an ncryptsec ('-' reads it from stdin)");
        return CLI_USAGE;
    }
    if (strcmp(o.value, "-"))
        return import_value(o.value, o.out);
    hearth_buf line = HEARTH_BUF_INIT;
    int r = cli_read_line(stdin, &line), rc;
    size_t a = 0, b = line.len;
    while (a < b && isspace((unsigned char)line.p[a]))
        a++;
    while (b > a && isspace((unsigned char)line.p[b - 1]))
        line.p[--b] = '\0';
    if (r <= 0 || a == b) {
        cli_error(r < 0 ? "VALUE on stdin is too long"
                        : "no VALUE on stdin (give one line)");
        rc = CLI_USAGE;
    } else {
        rc = import_value(line.p + a, o.out);
    }
    if (line.p)
        sodium_memzero(line.p, line.cap);
    hearth_buf_free(&line);
    return rc;
}

static const cli_verb verbs[] = {
    {"new", new_run, "generate a key; print it or save it to a file"},
    {"show", show_run, "print the npub and hex public key of a key"},
    {"convert", convert_run, "convert between hex and NIP-19 (npub, nsec, "
                             "note, nprofile, nevent, naddr)"},
    {"encrypt", encrypt_run, "encrypt a key under a passphrase (NIP-49 "
                             "ncryptsec)"},
    {"import", import_run, "save an nsec or ncryptsec as a key file"},
    {NULL, NULL, NULL}};

int cmd_key(int argc, char **argv)
{
    return cli_dispatch("key", verbs, argc, argv);
}
