/* hearth: one program, `hearth <noun> <verb>` subcommands. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

#ifndef HEARTH_VERSION
#define HEARTH_VERSION "0.1.0"
#endif

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} nouns[] = {
    {"demo", cmd_demo, "a whole market on this machine, told as it happens"},
    {"init", cmd_init, "set this machine up: key, hardware, prices, config file"},
    {"key", cmd_key, "create, show and convert Nostr keys"},
    {"event", cmd_event, "sign, verify and compute ids of Nostr events"},
    {"nip44", cmd_nip44, "encrypt and decrypt NIP-44 v2 payloads"},
    {"selftest", cmd_selftest, "check the Nostr core and print a fresh identity"},
    {"relay", cmd_relay, "run a Nostr relay on the local event store"},
    {"req", cmd_req, "query relays: print matching events once each"},
    {"publish", cmd_publish, "send events to relays, one OK line per relay"},
    {"offer", cmd_offer, "show, publish and check this peer's market offers"},
    {"hw", cmd_hw, "show this machine's CPU, memory, NVIDIA GPUs and tier"},
    {"sim", cmd_sim, "simulate the market: latency, cost, drops, bad providers"},
    {"peers", cmd_peers, "rank the providers in the market view, with the reasons"},
    {"market", cmd_market, "keep the local market view in step with relays"},
    {"run", cmd_run, "run this peer: publish offers and serve NIP-90 jobs"},
    {"ledger", cmd_ledger, "this peer's books: balances, history, CSV export"},
    {"job", cmd_job, "submit, follow and cancel NIP-90 jobs as a customer"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: hearth <command> [<verb>] [options]\n\n"
               "A peer of the hearth compute market over Nostr.\n\n"
               "commands:\n");
    for (size_t i = 0; i < sizeof nouns / sizeof nouns[0]; i++)
        fprintf(f, "  %-10s %s\n", nouns[i].name, nouns[i].summary);
    fprintf(f, "\nRun 'hearth <command> --help' for the verbs of a command.\n"
               "Exit status: 0 ok, 1 a check failed, 2 usage error, "
               "3 could not run.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
        !strcmp(argv[1], "help")) {
        usage(stdout);
        return CLI_OK;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("hearth %s\n", HEARTH_VERSION);
        return CLI_OK;
    }
    for (size_t i = 0; i < sizeof nouns / sizeof nouns[0]; i++)
        if (!strcmp(argv[1], nouns[i].name))
            return nouns[i].run(argc - 1, argv + 1);
    cli_error("unknown command '%s' (see 'hearth --help')", argv[1]);
    return CLI_USAGE;
}
