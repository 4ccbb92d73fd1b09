/* NIP-47 responses: error codes and their sentences, and the strict parse
 * of a decrypted reply into a hearth_nwc_result. Everything here is pure,
 * so the unit tests cover it without a relay. */
#include "hearth/nwc.h"

#include <jansson.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "hearth/error.h"
#include "hearth/hex.h"

static const char *const method_names[] = {
    "pay_invoice", "make_invoice", "lookup_invoice", "get_balance", "get_info"};

const char *hearth_nwc_method_name(enum hearth_nwc_method m)
{
    return (unsigned)m < sizeof method_names / sizeof *method_names
               ? method_names[m]
               : "unknown";
}

static const struct {
    const char *name;
    const char *sentence;
    int err;
} codes[] = {
    [HEARTH_NWC_ERR_NONE] = {"", "", HEARTH_OK},
    [HEARTH_NWC_ERR_RATE_LIMITED] = {"RATE_LIMITED",
        "the wallet is limiting how fast requests come: retry in a few "
        "seconds", HEARTH_EBUSY},
    [HEARTH_NWC_ERR_NOT_IMPLEMENTED] = {"NOT_IMPLEMENTED",
        "the wallet does not support this command", HEARTH_EIO},
    [HEARTH_NWC_ERR_INSUFFICIENT_BALANCE] = {"INSUFFICIENT_BALANCE",
        "the wallet does not have enough funds for this payment and its "
        "fee reserve", HEARTH_EPERM},
    [HEARTH_NWC_ERR_QUOTA_EXCEEDED] = {"QUOTA_EXCEEDED",
        "this wallet connection has used up its spending budget", HEARTH_EPERM},
    [HEARTH_NWC_ERR_RESTRICTED] = {"RESTRICTED",
        "this wallet connection is not allowed to do that", HEARTH_EPERM},
    [HEARTH_NWC_ERR_UNAUTHORIZED] = {"UNAUTHORIZED",
        "the wallet does not know this connection (revoked, or made for "
        "another wallet)", HEARTH_EPERM},
    [HEARTH_NWC_ERR_INTERNAL] = {"INTERNAL",
        "the wallet had an internal error", HEARTH_EIO},
    [HEARTH_NWC_ERR_PAYMENT_FAILED] = {"PAYMENT_FAILED",
        "the payment failed (no route, not enough capacity, expired or "
        "already paid)", HEARTH_EIO},
    [HEARTH_NWC_ERR_NOT_FOUND] = {"NOT_FOUND",
        "the wallet has no such invoice", HEARTH_ENOTFOUND},
    [HEARTH_NWC_ERR_UNSUPPORTED_ENCRYPTION] = {"UNSUPPORTED_ENCRYPTION",
        "the wallet does not support the encryption hearth used", HEARTH_EIO},
    [HEARTH_NWC_ERR_OTHER] = {"OTHER", "the wallet reported an error",
        HEARTH_EIO},
};
#define NCODES (sizeof codes / sizeof *codes)

const char *hearth_nwc_code_name(enum hearth_nwc_code c)
{
    return (unsigned)c < NCODES ? codes[c].name : "OTHER";
}

const char *hearth_nwc_code_sentence(enum hearth_nwc_code c)
{
    return (unsigned)c < NCODES ? codes[c].sentence
                                : codes[HEARTH_NWC_ERR_OTHER].sentence;
}

enum hearth_nwc_code hearth_nwc_code_parse(const char *s)
{
    for (size_t i = 1; s && i < NCODES; i++)
        if (strcmp(codes[i].name, s) == 0)
            return (enum hearth_nwc_code)i;
    return HEARTH_NWC_ERR_OTHER;
}

int hearth_nwc_preimage_ok(const uint8_t preimage[32],
                           const uint8_t payment_hash[32])
{
    uint8_t h[32];
    crypto_hash_sha256(h, preimage, 32);
    return sodium_memcmp(h, payment_hash, 32) == 0;
}

static int fail(hearth_nwc_result *r, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(hearth_nwc_result *r, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof r->message, fmt, ap);
    va_end(ap);
    r->err = err;
    return err;
}

/* The wallet's own text is untrusted: printable ASCII only, bounded, so
 * it cannot forge log lines or terminal escapes when shown. */
static void clean_copy(char *dst, size_t cap, const char *src)
{
    size_t o = 0;
    for (; src && *src && o + 1 < cap; src++)
        dst[o++] = (*src >= 0x20 && *src < 0x7f) ? *src : '?';
    dst[o] = '\0';
}

static int wallet_error(hearth_nwc_result *r, json_t *err)
{
    json_t *jc = json_object_get(err, "code");
    json_t *jm = json_object_get(err, "message");
    char said[200];
    r->code = hearth_nwc_code_parse(json_string_value(jc));
    clean_copy(said, sizeof said, json_string_value(jm));
    if (said[0])
        return fail(r, codes[r->code].err, "%s (%s; the wallet says: %s)",
                    codes[r->code].sentence, codes[r->code].name, said);
    return fail(r, codes[r->code].err, "%s (%s)", codes[r->code].sentence,
                codes[r->code].name);
}

static int get_hex32(json_t *o, const char *key, uint8_t out[32], int *has)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return HEARTH_OK;
    if (!json_is_string(v) || json_string_length(v) != 64 ||
        hearth_hex_decode(json_string_value(v), 64, out, 32, 1))
        return HEARTH_EINVAL;
    *has = 1;
    return HEARTH_OK;
}

/* Non-negative integer or absent; JSON reals are refused (amounts are
 * whole millisats). */
static int get_u64(json_t *o, const char *key, uint64_t *out)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return HEARTH_OK;
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return HEARTH_EINVAL;
    *out = (uint64_t)json_integer_value(v);
    return HEARTH_OK;
}

static int get_i64(json_t *o, const char *key, int64_t *out)
{
    uint64_t u = 0;
    int rc = get_u64(o, key, &u);
    *out = (int64_t)u;
    return rc;
}

static int get_str(json_t *o, const char *key, char *dst, size_t cap)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return HEARTH_OK;
    if (!json_is_string(v) || json_string_length(v) >= cap ||
        strlen(json_string_value(v)) != json_string_length(v))
        return HEARTH_EINVAL;
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
    return HEARTH_OK;
}

static int invoice_fields(hearth_nwc_result *r, json_t *res)
{
    int has_pre = 0;
    if (get_str(res, "invoice", r->invoice, sizeof r->invoice) ||
        get_hex32(res, "payment_hash", r->payment_hash,
                  &r->has_payment_hash) ||
        get_hex32(res, "preimage", r->preimage, &has_pre) ||
        get_u64(res, "amount", &r->amount_msat) ||
        get_u64(res, "fees_paid", &r->fees_paid_msat) ||
        get_i64(res, "created_at", &r->created_at) ||
        get_i64(res, "expires_at", &r->expires_at) ||
        get_i64(res, "settled_at", &r->settled_at))
        return HEARTH_EINVAL;
    r->has_preimage = has_pre;
    r->settled = r->settled_at > 0 || has_pre;
    return HEARTH_OK;
}

static int info_fields(hearth_nwc_result *r, json_t *res)
{
    json_t *ms = json_object_get(res, "methods");
    size_t i;
    json_t *m;
    if (get_str(res, "alias", r->alias, sizeof r->alias) ||
        get_str(res, "network", r->network, sizeof r->network))
        return HEARTH_EINVAL;
    if (ms && !json_is_array(ms))
        return HEARTH_EINVAL;
    json_array_foreach(ms, i, m) {
        size_t have = strlen(r->methods);
        const char *s = json_string_value(m);
        if (!s || have + strlen(s) + 2 > sizeof r->methods)
            return HEARTH_EINVAL;
        snprintf(r->methods + have, sizeof r->methods - have, "%s%s",
                 have ? " " : "", s);
    }
    return HEARTH_OK;
}

/* The hashes must agree and the preimage must prove the payment. */
static int check_proof(hearth_nwc_result *r, const uint8_t *expect)
{
    if (expect && r->has_payment_hash &&
        memcmp(expect, r->payment_hash, 32) != 0)
        return fail(r, HEARTH_ECRYPTO, "the wallet answered about a "
                    "different payment hash than the one asked for");
    if (expect && !r->has_payment_hash) {
        memcpy(r->payment_hash, expect, 32);
        r->has_payment_hash = 1;
    }
    if (r->has_preimage && r->has_payment_hash &&
        !hearth_nwc_preimage_ok(r->preimage, r->payment_hash))
        return fail(r, HEARTH_ECRYPTO, "the wallet returned a preimage "
                    "that does not hash to the payment hash: no proof of "
                    "payment");
    return HEARTH_OK;
}

static int method_fields(hearth_nwc_result *r, json_t *res,
                         const uint8_t *expect)
{
    switch (r->method) {
    case HEARTH_NWC_GET_BALANCE:
        if (!json_is_integer(json_object_get(res, "balance")))
            return fail(r, HEARTH_EINVAL, "the wallet's get_balance reply "
                        "has no balance");
        return get_u64(res, "balance", &r->balance_msat)
                   ? fail(r, HEARTH_EINVAL, "negative balance in reply")
                   : HEARTH_OK;
    case HEARTH_NWC_GET_INFO:
        return info_fields(r, res)
                   ? fail(r, HEARTH_EINVAL, "malformed get_info reply")
                   : HEARTH_OK;
    default:
        break;
    }
    if (invoice_fields(r, res))
        return fail(r, HEARTH_EINVAL, "malformed %s reply from the wallet",
                    hearth_nwc_method_name(r->method));
    if (r->method == HEARTH_NWC_PAY_INVOICE && !r->has_preimage)
        return fail(r, HEARTH_EINVAL, "the wallet reported the payment "
                    "without a preimage");
    if (r->method == HEARTH_NWC_MAKE_INVOICE &&
        (!r->invoice[0] || !r->has_payment_hash))
        return fail(r, HEARTH_EINVAL, "the wallet's make_invoice reply "
                    "lacks the invoice or its payment hash");
    return check_proof(r, expect);
}

static int parse_obj(hearth_nwc_result *r, json_t *root,
                     const uint8_t *expect)
{
    json_t *rt = json_object_get(root, "result_type");
    json_t *err = json_object_get(root, "error");
    json_t *res = json_object_get(root, "result");
    if (!json_is_object(root))
        return fail(r, HEARTH_EINVAL, "the wallet's reply is not a JSON "
                    "object");
    /* an error reply is honoured even if its result_type is off: the
     * user learns more from the wallet's reason than from ours */
    if (err && json_is_object(err))
        return wallet_error(r, err);
    if (err && !json_is_null(err))
        return fail(r, HEARTH_EINVAL, "malformed error in the wallet's reply");
    if (!json_is_string(rt) ||
        strcmp(json_string_value(rt), hearth_nwc_method_name(r->method)))
        return fail(r, HEARTH_EINVAL, "the wallet answered a different "
                    "command than %s", hearth_nwc_method_name(r->method));
    if (!json_is_object(res))
        return fail(r, HEARTH_EINVAL, "the wallet's reply has no result");
    return method_fields(r, res, expect);
}

int hearth_nwc_reply_parse(enum hearth_nwc_method m, const char *json,
                           size_t n, const uint8_t *expect_hash,
                           hearth_nwc_result *r)
{
    memset(r, 0, sizeof *r);
    r->method = m;
    if (n > HEARTH_NWC_REPLY_MAX)
        return fail(r, HEARTH_EINVAL, "the wallet's reply is too large");
    json_t *root = json_loadb(json, n, JSON_REJECT_DUPLICATES, NULL);
    if (!root)
        return fail(r, HEARTH_EINVAL, "the wallet's reply is not JSON");
    int rc = parse_obj(r, root, expect_hash);
    json_decref(root);
    if (rc == HEARTH_OK)
        r->message[0] = '\0';
    return rc;
}
