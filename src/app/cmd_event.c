/* hearth event sign|verify|id: line-oriented filters over stdin, so they
 * compose with nak, jq and shell pipelines. */
#include "cli.h"
#include "hearth/error.h"
#include "hearth/event.h"
#include "hearth/hex.h"

#include <sodium.h>
#include <string.h>
#include <time.h>

struct opts {
    const char *key;
    int json;
    int help;
};

/* --key SPEC / --key=SPEC / --json / -h; anything else is a usage error */
static int parse_opts(int argc, char **argv, struct opts *o, int want_key)
{
    memset(o, 0, sizeof *o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help"))
            o->help = 1;
        else if (!strcmp(a, "--json"))
            o->json = 1;
        else if (want_key && !strcmp(a, "--key") && i + 1 < argc)
            o->key = argv[++i];
        else if (want_key && !strncmp(a, "--key=", 6))
            o->key = a + 6;
        else {
            cli_error("unexpected argument '%s' (see --help)", a);
            return -1;
        }
    }
    return 0;
}

static void verdict(int json, long line, const hearth_event *ev,
                    const char *why)
{
    char idhex[65] = "";
    if (ev && (ev->has & HEARTH_EV_HAS_ID))
        hearth_hex_encode(ev->id, 32, idhex);
    if (json) {
        hearth_buf b = HEARTH_BUF_INIT;
        hearth_buf_addf(&b, "{\"line\":%ld,\"ok\":%s", line,
                        why ? "false" : "true");
        if (*idhex)
            hearth_buf_addf(&b, ",\"id\":\"%s\"", idhex);
        if (why) {
            hearth_buf_adds(&b, ",\"reason\":");
            hearth_buf_addjson(&b, why, strlen(why));
        }
        hearth_buf_addc(&b, '}');
        puts(b.p);
        hearth_buf_free(&b);
    } else if (why) {
        printf("line %ld: %s%s%s\n", line, why, *idhex ? " id=" : "", idhex);
    } else {
        printf("ok %s\n", idhex);
    }
}

/* Drives a verb over stdin: one event per line, blank lines skipped, each
 * parsed with flags and handed to fn with its line number (ev is NULL and
 * why set when the line did not parse). fn returns 0 ok, 1 a failed line,
 * or a CLI_* code >= 2 to stop. Returns the exit status. */
typedef int (*line_fn)(void *ctx, long line, hearth_event *ev,
                       const char *why);

static int each_event(unsigned flags, line_fn fn, void *ctx)
{
    hearth_buf line = HEARTH_BUF_INIT;
    long n = 0, failed = 0;
    int r, rc = CLI_OK;
    while (rc == CLI_OK && (r = cli_read_line(stdin, &line)) != 0) {
        n++;
        if (r > 0 && line.len == 0)
            continue;
        hearth_event *ev = NULL;
        const char *why = "invalid: line too long";
        if (r > 0 && hearth_event_parse(line.p, line.len, flags, &ev, &why) == 0)
            why = NULL;
        int v = fn(ctx, n, ev, why);
        if (v >= CLI_USAGE)
            rc = v;
        failed += v == 1;
        hearth_event_free(ev);
    }
    hearth_buf_free(&line);
    return rc ? rc : failed ? CLI_FAIL : CLI_OK;
}

static int verify_line(void *ctx, long line, hearth_event *ev,
                       const char *why)
{
    if (ev)
        hearth_event_verify(ev, &why);
    verdict(*(int *)ctx, line, ev, why);
    return why != NULL;
}

static int verify_run(int argc, char **argv)
{
    struct opts o;
    if (parse_opts(argc, argv, &o, 0))
        return CLI_USAGE;
    if (o.help) {
        puts("usage: hearth event verify [--json] < events.jsonl\n\n"
             "Reads one event per line. Recomputes each id, checks it against\n"
             "the claimed id, and checks the BIP-340 signature over it. Prints\n"
             "'ok <id>' or 'line N: <reason>' per event (--json: one object\n"
             "per line). Exit status 1 if any event failed.");
        return CLI_OK;
    }
    return each_event(0, verify_line, &o.json);
}

struct sign_ctx {
    uint8_t sk[32];
    hearth_buf out;
};

static int sign_line(void *ctx, long line, hearth_event *ev, const char *why)
{
    struct sign_ctx *c = ctx;
    if (!ev) {
        cli_error("line %ld: %s", line, why);
        return 1;
    }
    if (!(ev->has & HEARTH_EV_HAS_CREATED_AT))
        ev->created_at = (int64_t)time(NULL);
    if (hearth_event_sign(ev, c->sk)) {
        cli_error("line %ld: signing failed", line);
        return CLI_ERROR;
    }
    hearth_buf_reset(&c->out);
    hearth_event_to_json(ev, &c->out);
    puts(c->out.p);
    return 0;
}

static int sign_run(int argc, char **argv)
{
    struct opts o;
    struct sign_ctx c = {.out = HEARTH_BUF_INIT};
    if (parse_opts(argc, argv, &o, 1))
        return CLI_USAGE;
    if (o.help) {
        puts("usage: hearth event sign [--key SPEC] < unsigned.jsonl\n\n"
             "Reads one unsigned event per line ({\"kind\":1,\"content\":\"..\"}\n"
             "at least; tags default to [], created_at to now), signs it and\n"
             "prints the signed event as one JSON line. SPEC is a key file,\n"
             "an nsec or a 64-character hex secret (default: $HEARTH_KEY,\n"
             "then ~/.config/hearth/key). Bad lines are reported on stderr\n"
             "and make the exit status 1.");
        return CLI_OK;
    }
    if (cli_load_key(o.key, c.sk))
        return CLI_ERROR;
    int rc = each_event(HEARTH_PARSE_UNSIGNED, sign_line, &c);
    sodium_memzero(c.sk, sizeof c.sk);
    hearth_buf_free(&c.out);
    return rc;
}

static int id_line(void *ctx, long line, hearth_event *ev, const char *why)
{
    if (ev && !(ev->has & HEARTH_EV_HAS_PUBKEY))
        why = "invalid: missing pubkey (the id covers it)";
    if (why) {
        cli_error("line %ld: %s", line, why);
        return 1;
    }
    uint8_t id[32];
    char hex[65];
    hearth_event_compute_id(ev, id);
    hearth_hex_encode(id, 32, hex);
    if (!*(int *)ctx) {
        puts(hex);
        return 0;
    }
    hearth_buf ser = HEARTH_BUF_INIT, out = HEARTH_BUF_INIT;
    hearth_event_serialize(ev, &ser);
    hearth_buf_addf(&out, "{\"id\":\"%s\",\"serialization\":", hex);
    hearth_buf_addjson(&out, ser.p, ser.len);
    hearth_buf_addc(&out, '}');
    puts(out.p);
    hearth_buf_free(&ser);
    hearth_buf_free(&out);
    return 0;
}

static int id_run(int argc, char **argv)
{
    struct opts o;
    if (parse_opts(argc, argv, &o, 0))
        return CLI_USAGE;
    if (o.help) {
        puts("usage: hearth event id [--json] < events.jsonl\n\n"
             "Prints the NIP-01 id (sha256 of the canonical serialization) of\n"
             "each event; the event needs a pubkey but no id or sig. --json\n"
             "adds the canonical serialization the id was computed from.");
        return CLI_OK;
    }
    return each_event(HEARTH_PARSE_UNSIGNED, id_line, &o.json);
}

static const cli_verb verbs[] = {
    {"sign", sign_run, "sign unsigned events read as JSON lines on stdin"},
    {"verify", verify_run, "check ids and signatures of events on stdin"},
    {"id", id_run, "print the NIP-01 id of events on stdin"},
    {NULL, NULL, NULL},
};

int cmd_event(int argc, char **argv)
{
    return cli_dispatch("event", verbs, argc, argv);
}
