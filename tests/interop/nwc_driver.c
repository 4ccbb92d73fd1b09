/* Runs one NIP-47 command through hearth's NWC client and prints the
 * result as one JSON line (tests/interop/nwc.mjs drives it):
 *
 *   nwc_driver FILE [--timeout MS] [--enc auto|nip04|nip44] METHOD [ARGS]
 *     make_invoice AMOUNT_MSAT DESCRIPTION EXPIRY_S
 *     pay_invoice BOLT11 [PAYMENT_HASH]
 *     lookup_invoice PAYMENT_HASH | lookup_invoice --invoice BOLT11
 *     get_balance | get_info
 *     check            (only load the connection file)
 *
 * FILE holds the connection string (mode 0600). The output never contains
 * the secret. Exit status 0 on success, 1 on a failed command, 2 on usage.
 * A second, idle pool runs on the same loop, as a provider's market pool
 * would, to show the two coexist. */
#include "hearth/error.h"
#include "hearth/hex.h"
#include "hearth/loop.h"
#include "hearth/nwc.h"
#include "hearth/pool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct drv {
    hearth_loop *loop;
    int rc;
};

static const char *err_name(int err)
{
    static const char *const names[] = {
        "OK", "EINVAL", "ENOMEM", "ETOOBIG", "EBADID", "EBADSIG", "ECRYPTO",
        "EIO", "ENOTFOUND", "EPERM", "ECANCELED", "ETIMEDOUT", "EBUSY"};
    return err <= 0 && -err < (int)(sizeof names / sizeof *names) ? names[-err]
                                                                   : "E?";
}

static void print_fail(int err, const char *code, const char *message)
{
    hearth_buf b = HEARTH_BUF_INIT;
    hearth_buf_addf(&b, "{\"ok\":false,\"err\":\"%s\",\"code\":\"%s\","
                    "\"message\":", err_name(err), code);
    hearth_buf_addjson(&b, message, strlen(message));
    hearth_buf_adds(&b, "}");
    puts(b.p);
    hearth_buf_free(&b);
}

static void add_hex(hearth_buf *b, const char *key, const uint8_t *v)
{
    hearth_buf_addf(b, ",\"%s\":\"", key);
    hearth_buf_addhex(b, v, 32);
    hearth_buf_addc(b, '"');
}

static void add_str(hearth_buf *b, const char *key, const char *v)
{
    hearth_buf_addf(b, ",\"%s\":", key);
    hearth_buf_addjson(b, v, strlen(v));
}

static void print_ok(const hearth_nwc_result *r)
{
    hearth_buf b = HEARTH_BUF_INIT;
    hearth_buf_addf(&b, "{\"ok\":true,\"method\":\"%s\",\"settled\":%s,"
                    "\"amount\":%llu,\"balance\":%llu,\"settled_at\":%lld",
                    hearth_nwc_method_name(r->method),
                    r->settled ? "true" : "false",
                    (unsigned long long)r->amount_msat,
                    (unsigned long long)r->balance_msat,
                    (long long)r->settled_at);
    add_str(&b, "invoice", r->invoice);
    add_str(&b, "alias", r->alias);
    add_str(&b, "methods", r->methods);
    if (r->has_payment_hash)
        add_hex(&b, "payment_hash", r->payment_hash);
    if (r->has_preimage)
        add_hex(&b, "preimage", r->preimage);
    hearth_buf_adds(&b, "}");
    puts(b.p);
    hearth_buf_free(&b);
}

static void on_result(const hearth_nwc_result *r, void *user)
{
    struct drv *d = user;
    if (r->err == HEARTH_OK)
        print_ok(r);
    else
        print_fail(r->err, hearth_nwc_code_name(r->code), r->message);
    d->rc = r->err == HEARTH_OK ? 0 : 1;
    hearth_loop_stop(d->loop);
}

static int hash_arg(const char *s, uint8_t h[32])
{
    return s && strlen(s) == 64 && !hearth_hex_decode(s, 64, h, 32, 1);
}

static int start(hearth_nwc *c, struct drv *d, int argc, char **argv)
{
    const char *m = argv[0];
    uint8_t h[32];
    if (!strcmp(m, "make_invoice") && argc == 4)
        return hearth_nwc_make_invoice(c, strtoull(argv[1], NULL, 10),
                                       argv[2], (uint32_t)atoi(argv[3]),
                                       on_result, d);
    if (!strcmp(m, "pay_invoice") && (argc == 2 || argc == 3)) {
        if (argc == 3 && !hash_arg(argv[2], h))
            return HEARTH_EINVAL;
        return hearth_nwc_pay_invoice(c, argv[1], argc == 3 ? h : NULL,
                                      on_result, d);
    }
    if (!strcmp(m, "lookup_invoice") && argc == 3 &&
        !strcmp(argv[1], "--invoice"))
        return hearth_nwc_lookup_invoice(c, NULL, argv[2], on_result, d);
    if (!strcmp(m, "lookup_invoice") && argc == 2)
        return hash_arg(argv[1], h)
                   ? hearth_nwc_lookup_invoice(c, h, NULL, on_result, d)
                   : HEARTH_EINVAL;
    if (!strcmp(m, "get_balance") && argc == 1)
        return hearth_nwc_get_balance(c, on_result, d);
    if (!strcmp(m, "get_info") && argc == 1)
        return hearth_nwc_get_info(c, on_result, d);
    return HEARTH_EINVAL;
}

static int run(const hearth_nwc_conn *conn, const hearth_nwc_opts *o,
               int argc, char **argv)
{
    struct drv d = {NULL, 1};
    hearth_pool *market = NULL;
    hearth_nwc *c = NULL;
    int rc = hearth_loop_new(&d.loop);
    if (rc == HEARTH_OK)
        rc = hearth_pool_new(d.loop, NULL, &market);
    if (rc == HEARTH_OK)
        rc = hearth_nwc_new(d.loop, conn, o, &c);
    if (rc == HEARTH_OK)
        rc = start(c, &d, argc, argv);
    if (rc == HEARTH_OK)
        rc = hearth_loop_run(d.loop);
    else
        print_fail(rc, "", "bad arguments or the client did not start");
    if (rc == HEARTH_OK && hearth_nwc_pending(c) == 0)
        rc = d.rc;
    else if (rc == HEARTH_OK)
        rc = 1;
    hearth_nwc_free(c);
    hearth_pool_free(market);
    hearth_loop_free(d.loop);
    return rc == HEARTH_OK ? 0 : 1;
}

int main(int argc, char **argv)
{
    hearth_nwc_opts o;
    hearth_nwc_conn conn;
    const char *why = "";
    int i = 2;
    hearth_nwc_opts_default(&o);
    o.info_timeout_ms = 3000;
    for (; i + 1 < argc && !strncmp(argv[i], "--", 2); i += 2) {
        if (!strcmp(argv[i], "--timeout"))
            o.timeout_ms = (uint32_t)atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--enc"))
            o.enc = !strcmp(argv[i + 1], "nip04")   ? HEARTH_NWC_ENC_NIP04
                    : !strcmp(argv[i + 1], "nip44") ? HEARTH_NWC_ENC_NIP44
                                                    : HEARTH_NWC_ENC_AUTO;
    }
    if (argc < 3 || i >= argc) {
        fprintf(stderr, "usage: nwc_driver FILE [--timeout MS] [--enc E] "
                        "METHOD [ARGS]\n");
        return 2;
    }
    int rc = hearth_nwc_conn_load(argv[1], &conn, &why);
    if (rc != HEARTH_OK) {
        print_fail(rc, "", why);
        hearth_nwc_conn_clear(&conn);
        return 1;
    }
    if (!strcmp(argv[i], "check")) {
        printf("{\"ok\":true,\"relays\":%zu}\n", conn.nrelays);
        rc = 0;
    } else {
        rc = run(&conn, &o, argc - i, argv + i);
    }
    hearth_nwc_conn_clear(&conn);
    return rc;
}
