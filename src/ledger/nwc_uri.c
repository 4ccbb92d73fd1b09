/* NIP-47 connection strings: strict parsing and loading from a private
 * file. The secret never goes into a message, and every copy of it in a
 * temporary buffer is wiped before the buffer is released. */
#include "hearth/nwc.h"

#include <ctype.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hearth/buf.h"
#include "hearth/error.h"
#include "hearth/hex.h"
#include "hearth/keys.h"
#include "hearth/pool.h"

static const char scheme[] = "nostr+walletconnect://";

void hearth_nwc_conn_clear(hearth_nwc_conn *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nrelays; i++)
        free(c->relays[i]);
    free(c->lud16);
    sodium_memzero(c, sizeof *c);
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Percent-decode s[0..n) into out (NUL-terminated, at most cap-1 bytes).
 * NUL bytes and control characters are refused: no legitimate relay URL,
 * key or address contains them, and they would cut strings short later. */
static int pct_decode(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int ch = (unsigned char)s[i];
        if (ch == '%') {
            if (n - i < 3)
                return HEARTH_EINVAL;
            int a = hexval(s[i + 1]), b = hexval(s[i + 2]);
            if (a < 0 || b < 0)
                return HEARTH_EINVAL;
            ch = a * 16 + b;
            i += 2;
        }
        if (ch < 0x20 || ch == 0x7f)
            return HEARTH_EINVAL;
        if (o + 1 >= cap)
            return HEARTH_ETOOBIG;
        out[o++] = (char)ch;
    }
    out[o] = '\0';
    return HEARTH_OK;
}

static int add_relay(hearth_nwc_conn *c, const char *url, const char **why)
{
    hearth_buf b = HEARTH_BUF_INIT;
    if (hearth_relay_url_normalize(url, &b) != HEARTH_OK) {
        hearth_buf_free(&b);
        *why = "invalid: a relay parameter is not a ws:// or wss:// URL";
        return HEARTH_EINVAL;
    }
    for (size_t i = 0; i < c->nrelays; i++)
        if (strcmp(c->relays[i], b.p) == 0) {
            hearth_buf_free(&b); /* the same relay twice: one is enough */
            return HEARTH_OK;
        }
    if (c->nrelays == HEARTH_NWC_MAX_RELAYS) {
        hearth_buf_free(&b);
        *why = "invalid: too many relay parameters";
        return HEARTH_EINVAL;
    }
    c->relays[c->nrelays++] = b.p; /* the buffer's memory becomes ours */
    return HEARTH_OK;
}

static int set_secret(hearth_nwc_conn *c, const char *v, int *seen,
                      const char **why)
{
    if (*seen) {
        *why = "invalid: more than one secret parameter";
        return HEARTH_EINVAL;
    }
    *seen = 1;
    if (strlen(v) != 64 ||
        hearth_hex_decode(v, 64, c->secret, 32, 1) != HEARTH_OK ||
        hearth_key_pubkey(c->secret, c->client_pk) != HEARTH_OK) {
        *why = "invalid: the secret parameter is not a 64-character hex key";
        return HEARTH_EINVAL;
    }
    return HEARTH_OK;
}

/* name@domain, printable ASCII without spaces: enough to catch garbage;
 * hearth only passes it on, it never resolves it. */
static int set_lud16(hearth_nwc_conn *c, const char *v, const char **why)
{
    const char *at = strchr(v, '@');
    size_t n = strlen(v);
    int ok = !c->lud16 && at && at != v && at[1] && !strchr(at + 1, '@') &&
             n <= HEARTH_NWC_LUD16_MAX;
    for (size_t i = 0; ok && i < n; i++)
        if (v[i] <= 0x20 || v[i] >= 0x7f)
            ok = 0;
    if (!ok) {
        *why = "invalid: the lud16 parameter is not a single lightning "
               "address (name@domain)";
        return HEARTH_EINVAL;
    }
    c->lud16 = strdup(v);
    return c->lud16 ? HEARTH_OK : HEARTH_ENOMEM;
}

static int name_ok(const char *s, size_t n)
{
    if (n == 0 || n > 32)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) ||
              s[i] == '_'))
            return 0;
    return 1;
}

/* One key=value pair of the query. val is scratch space of
 * HEARTH_NWC_URI_MAX bytes that the caller wipes. */
static int one_param(hearth_nwc_conn *c, const char *p, size_t n, char *val,
                     int *seen_secret, const char **why)
{
    const char *eq = memchr(p, '=', n);
    size_t kn = eq ? (size_t)(eq - p) : n;
    if (!eq || !name_ok(p, kn)) {
        *why = "invalid: a query parameter is not name=value";
        return HEARTH_EINVAL;
    }
    if (pct_decode(eq + 1, n - kn - 1, val, HEARTH_NWC_URI_MAX) != HEARTH_OK) {
        *why = "invalid: bad percent-encoding or a control character in a "
               "parameter";
        return HEARTH_EINVAL;
    }
    if (kn == 5 && memcmp(p, "relay", 5) == 0)
        return add_relay(c, val, why);
    if (kn == 6 && memcmp(p, "secret", 6) == 0)
        return set_secret(c, val, seen_secret, why);
    if (kn == 5 && memcmp(p, "lud16", 5) == 0)
        return *val ? set_lud16(c, val, why) : HEARTH_OK; /* "lud16=" */
    return HEARTH_OK; /* a parameter of some wallet's own */
}

static int parse_query(hearth_nwc_conn *c, const char *q, size_t n,
                       const char **why)
{
    char *val = malloc(HEARTH_NWC_URI_MAX);
    int seen_secret = 0, rc = HEARTH_OK;
    size_t nparams = 0;
    if (!val)
        return HEARTH_ENOMEM;
    for (size_t i = 0; i <= n && rc == HEARTH_OK;) {
        const char *amp = memchr(q + i, '&', n - i);
        size_t end = amp ? (size_t)(amp - q) : n;
        if (++nparams > HEARTH_NWC_MAX_PARAMS) {
            *why = "invalid: too many query parameters";
            rc = HEARTH_EINVAL;
            break;
        }
        rc = one_param(c, q + i, end - i, val, &seen_secret, why);
        i = end + 1;
    }
    sodium_memzero(val, HEARTH_NWC_URI_MAX);
    free(val);
    if (rc == HEARTH_OK && !seen_secret) {
        *why = "invalid: the secret parameter is missing";
        rc = HEARTH_EINVAL;
    }
    if (rc == HEARTH_OK && c->nrelays == 0) {
        *why = "invalid: no relay parameter";
        rc = HEARTH_EINVAL;
    }
    return rc;
}

static int parse_wallet_key(hearth_nwc_conn *c, const char *p, size_t n,
                            const char **why)
{
    if (n != 64 || hearth_hex_decode(p, 64, c->wallet_pk, 32, 1) ||
        !hearth_key_pubkey_valid(c->wallet_pk)) {
        *why = "invalid: the wallet public key is not 64 hex characters of "
               "a valid key";
        return HEARTH_EINVAL;
    }
    return HEARTH_OK;
}

int hearth_nwc_uri_parse(const char *uri, size_t len, hearth_nwc_conn *out,
                         const char **why)
{
    const char *dummy;
    if (!why)
        why = &dummy;
    memset(out, 0, sizeof *out);
    if (!uri) {
        *why = "invalid: no connection string";
        return HEARTH_EINVAL;
    }
    if (len > HEARTH_NWC_URI_MAX) {
        *why = "invalid: connection string too long";
        return HEARTH_ETOOBIG;
    }
    size_t sn = sizeof scheme - 1;
    if (len < sn || memcmp(uri, scheme, sn) != 0) {
        *why = "invalid: not a nostr+walletconnect:// connection string";
        return HEARTH_EINVAL;
    }
    const char *q = memchr(uri + sn, '?', len - sn);
    if (!q || memchr(uri, '#', len)) {
        *why = q ? "invalid: a fragment (#) in the connection string"
                 : "invalid: the connection string has no parameters";
        return HEARTH_EINVAL;
    }
    int rc = parse_wallet_key(out, uri + sn, (size_t)(q - uri) - sn, why);
    if (rc == HEARTH_OK)
        rc = parse_query(out, q + 1, len - (size_t)(q + 1 - uri), why);
    if (rc == HEARTH_OK && memcmp(out->wallet_pk, out->client_pk, 32) == 0) {
        *why = "invalid: the secret is the wallet's own key";
        rc = HEARTH_EINVAL;
    }
    return rc;
}

static int read_private(const char *path, char *text, size_t cap, size_t *n,
                        const char **why)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    if (fd < 0) {
        *why = "cannot open the wallet connection file";
        return HEARTH_EIO;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        *why = "the wallet connection path is not a regular file";
        return HEARTH_EIO;
    }
    if (st.st_mode & 077) {
        close(fd);
        *why = "the wallet connection file is readable by group or others: "
               "run chmod 600 on it";
        return HEARTH_EPERM;
    }
    size_t got = 0;
    ssize_t r;
    while (got < cap && (r = read(fd, text + got, cap - got)) > 0)
        got += (size_t)r;
    close(fd);
    *n = got;
    if (got == cap) {
        *why = "the wallet connection file is too long";
        return HEARTH_ETOOBIG;
    }
    return HEARTH_OK;
}

int hearth_nwc_conn_load(const char *path, hearth_nwc_conn *out,
                         const char **why)
{
    const char *dummy;
    size_t cap = HEARTH_NWC_URI_MAX + 64, n = 0;
    char *text = malloc(cap);
    if (!why)
        why = &dummy;
    memset(out, 0, sizeof *out);
    if (!text)
        return HEARTH_ENOMEM;
    int rc = read_private(path, text, cap, &n, why);
    if (rc == HEARTH_OK) {
        size_t a = 0, b = n;
        while (a < b && isspace((unsigned char)text[a]))
            a++;
        while (b > a && isspace((unsigned char)text[b - 1]))
            b--;
        rc = hearth_nwc_uri_parse(text + a, b - a, out, why);
    }
    sodium_memzero(text, cap);
    free(text);
    return rc;
}
