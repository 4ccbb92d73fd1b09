/* hearth demo: a whole market on one machine with no internet, told as
 * it happens (docs/demo.md). It runs this same binary as separate
 * processes, as real peers would be: a relay, three PoW providers with
 * different prices and capacities, an HTML-to-text provider on the exec
 * runner, and a customer buying jobs with `hearth job submit`. One
 * provider is killed in the middle of a job; the customer moves on, the
 * restarted provider closes the job instead of running it twice; then
 * each ledger shows what was settled. */
#include "cli.h"

#include "hearth/error.h"
#include "hearth/hex.h"
#include "hearth/keys.h"
#include "hearth/nip19.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define MAX_PEERS 6

struct peer {
    const char *name;
    const char *what;           /* for the story */
    char *args[12];             /* runner and price options */
    pid_t pid;
    char pub[65];
};

struct demo {
    char work[PATH_MAX];
    char exe[PATH_MAX];
    char html2text[PATH_MAX];
    char url[256];
    pid_t relay;
    struct peer peers[MAX_PEERS];
    size_t npeers;
    int keep;
    int jobs_ok, jobs_failed;
};

static const char usage_text[] =
    "usage: hearth demo [--keep]\n"
    "\n"
    "Runs a small hearth market on this machine, with no internet, and\n"
    "tells what happens: a relay on 127.0.0.1, three PoW providers with\n"
    "different prices and capacities and an HTML-to-text provider, and a\n"
    "customer buying jobs; who was chosen and why, progress, verified\n"
    "results, metering notes and receipts, a provider killed in the middle\n"
    "of a job and the customer moving on, and every peer's ledger at the\n"
    "end. Everything lives in a temporary directory, removed afterwards.\n"
    "\n"
    "  --keep   leave the market running (and its dashboards up) until\n"
    "           Ctrl-C\n"
    "\n"
    "Exit status: 0 every job was delivered and verified, 1 some job\n"
    "failed, 3 the market could not start.\n";

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void say(const char *fmt, ...)
{
    va_list ap;
    int tty = isatty(1);
    printf(tty ? "\n\033[1m== " : "\n== ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf(tty ? "\033[0m\n" : "\n");
    fflush(stdout);
}

static void path_of(const struct demo *d, char *out, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void path_of(const struct demo *d, char *out, const char *fmt, ...)
{
    char leaf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(leaf, sizeof leaf, fmt, ap);
    va_end(ap);
    if (snprintf(out, PATH_MAX, "%s/%s", d->work, leaf) >= PATH_MAX)
        out[0] = '\0'; /* never act on a truncated path */
}

/* Start this binary with argv (argv[0] is ignored), stdout and stderr to
 * files (NULL: inherited). */
static pid_t spawn(const struct demo *d, char **argv, const char *out,
                   const char *err)
{
    posix_spawn_file_actions_t fa;
    pid_t pid;
    posix_spawn_file_actions_init(&fa);
    if (out)
        posix_spawn_file_actions_addopen(&fa, 1, out,
                                         O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (err)
        posix_spawn_file_actions_addopen(&fa, 2, err,
                                         O_WRONLY | O_CREAT | O_APPEND, 0600);
    argv[0] = (char *)d->exe;
    int rc = posix_spawn(&pid, d->exe, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    return rc ? -1 : pid;
}

static int wait_exit(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) && errno == EINTR)
        ;
}

/* The first line of a file a child writes (its ready line), within 20 s;
 * gives up early if the child died. */
static int first_line(const char *path, pid_t pid, char *buf, size_t n)
{
    for (int i = 0; i < 200; i++) {
        FILE *f = fopen(path, "r");
        if (f) {
            int ok = fgets(buf, (int)n, f) && strchr(buf, '\n');
            fclose(f);
            if (ok)
                return 0;
        }
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return -1;
        sleep_ms(100);
    }
    return -1;
}

/* "key":"value" out of a one-line JSON object */
static int json_str(const char *line, const char *key, char *out, size_t n)
{
    json_t *o = json_loads(line, 0, NULL);
    const char *v = json_string_value(json_object_get(o, key));
    int rc = v && strlen(v) < n ? 0 : -1;
    if (!rc)
        memcpy(out, v, strlen(v) + 1);
    json_decref(o);
    return rc;
}

static int count_lines(const char *path, const char *needle)
{
    char line[1024];
    int n = 0;
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof line, f))
        n += strstr(line, needle) != NULL;
    if (f)
        fclose(f);
    return n;
}

static int make_key(const struct demo *d, const char *name)
{
    char path[PATH_MAX];
    uint8_t sk[32];
    path_of(d, path, "%s.key", name);
    int rc = hearth_key_generate(sk) || hearth_key_save(path, sk);
    memset(sk, 0, sizeof sk);
    return rc ? -1 : 0;
}

static int start_relay(struct demo *d)
{
    char out[PATH_MAX], err[PATH_MAX], data[PATH_MAX], line[512];
    path_of(d, out, "relay.json");
    path_of(d, err, "relay.log");
    path_of(d, data, "relay");
    char *argv[] = {NULL, "relay", "--port", "0", "--json", "--data", data,
                    NULL};
    d->relay = spawn(d, argv, out, err);
    if (d->relay < 0 || first_line(out, d->relay, line, sizeof line) ||
        json_str(line, "url", d->url, sizeof d->url))
        return -1;
    say("a relay on 127.0.0.1 (hearth relay, its LMDB store in %s/relay)",
        d->work);
    printf("relay: %s\n", d->url);
    return 0;
}

static int start_peer(struct demo *d, struct peer *p)
{
    char out[PATH_MAX], err[PATH_MAX], data[PATH_MAX], key[PATH_MAX];
    char line[1024];
    char *argv[32] = {NULL, "run", "--relay", d->url, "--data", data, "--key",
                      key};
    int n = 8;
    path_of(d, out, "%s.out", p->name);
    path_of(d, err, "%s.log", p->name);
    path_of(d, data, "%s", p->name);
    path_of(d, key, "%s.key", p->name);
    for (size_t i = 0; p->args[i] && n < 31; i++)
        argv[n++] = p->args[i];
    argv[n] = NULL;
    p->pid = spawn(d, argv, out, err);
    if (p->pid < 0 || first_line(out, p->pid, line, sizeof line) ||
        json_str(line, "pubkey", p->pub, sizeof p->pub)) {
        cli_error("provider %s did not start (see %s)", p->name, err);
        return -1;
    }
    return 0;
}

/* as `hearth job submit` names providers: npub1abcdefg..uvwxyz */
static void print_peer(const struct peer *p)
{
    uint8_t pk[32];
    hearth_buf b = HEARTH_BUF_INIT;
    if (!hearth_hex_decode(p->pub, 64, pk, 32, 0) &&
        !hearth_nip19_encode32("npub", pk, &b) && !hearth_buf_error(&b) &&
        b.len > 20)
        printf("%-7s %.12s..%s  %s\n", p->name, b.p, b.p + b.len - 6,
               p->what);
    else
        printf("%-7s %.16s...  %s\n", p->name, p->pub, p->what);
    hearth_buf_free(&b);
}

static const char *name_of(const struct demo *d, const char *pub)
{
    for (size_t i = 0; i < d->npeers; i++)
        if (pub && !strcmp(d->peers[i].pub, pub))
            return d->peers[i].name;
    return "an unknown provider";
}

/* ---- the customer ---- */

/* What `hearth job submit --json` said, told plainly. */
static void tell(struct demo *d, const char *json_path)
{
    json_error_t e;
    json_t *o = json_load_file(json_path, 0, &e);
    const char *outcome = json_string_value(json_object_get(o, "outcome"));
    if (!o || !outcome) {
        printf("  (the customer printed no result)\n");
        d->jobs_failed++;
        json_decref(o);
        return;
    }
    json_t *atts = json_object_get(o, "attempts");
    size_t i;
    json_t *a;
    json_array_foreach(atts, i, a) {
        const char *who = name_of(d, json_string_value(
                                         json_object_get(a, "provider")));
        const char *oc = json_string_value(json_object_get(a, "outcome"));
        const char *why = json_string_value(json_object_get(a, "reason"));
        printf("  attempt %zu: %s -> %s%s%s\n", i + 1, who, oc ? oc : "?",
               why && *why ? ": " : "", why && *why ? why : "");
        json_t *r = json_object_get(a, "receipt");
        const char *st = json_string_value(json_object_get(r, "status"));
        if (st)
            printf("    metering note answered with a receipt: %s (%lld msat)"
                   "\n", st, (long long)json_integer_value(
                                 json_object_get(r, "amount_msat")));
    }
    int ok = !strcmp(outcome, "ok") &&
             json_is_true(json_object_get(o, "verified"));
    const char *checks = json_string_value(json_object_get(o, "checks"));
    if (ok)
        printf("  delivered by %s for %lld msat; verified: %s\n",
               name_of(d, json_string_value(json_object_get(o, "provider"))),
               (long long)json_integer_value(json_object_get(o,
                                                             "amount_msat")),
               checks ? checks : "yes");
    else
        printf("  not delivered: %s\n",
               json_string_value(json_object_get(o, "reason")));
    ok ? d->jobs_ok++ : d->jobs_failed++;
    json_decref(o);
}

/* `hearth job submit` with the customer's identity and extra arguments;
 * its progress goes to the terminal, its JSON to a file. Returns the pid
 * (background) or waits and tells. */
static pid_t submit(struct demo *d, const char *tag, char *const *extra,
                    int background)
{
    char out[PATH_MAX], data[PATH_MAX], key[PATH_MAX];
    char *argv[40] = {NULL, "job", "submit", "--relay", d->url, "--data",
                      data, "--key", key, "--json"};
    int n = 10;
    path_of(d, out, "%s.json", tag);
    path_of(d, data, "customer");
    path_of(d, key, "customer.key");
    for (size_t i = 0; extra[i] && n < 39; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    pid_t pid = spawn(d, argv, out, NULL);
    if (pid < 0 || background)
        return pid;
    wait_exit(pid);
    tell(d, out);
    return pid;
}

static void show_market(struct demo *d)
{
    char data[PATH_MAX], log[PATH_MAX];
    path_of(d, data, "customer/view");
    path_of(d, log, "sync.log");
    char *sync[] = {NULL, "market", "sync", "--relay", d->url, "--data", data,
                    "--timeout", "3", NULL};
    pid_t p = spawn(d, sync, log, log);
    if (p > 0)
        wait_exit(p);
    say("the market as the customer sees it (hearth peers: price, speed, "
        "capacity, score)");
    char *peers[] = {NULL, "peers", "--kind", "5970", "--data", data, NULL};
    p = spawn(d, peers, NULL, log);
    if (p > 0)
        wait_exit(p);
}

/* Job 4: the cheapest provider is killed with SIGKILL once it started the
 * job; the customer's attempt times out and it asks the next one. */
static void kill_mid_job(struct demo *d, struct peer *cheap)
{
    char log[PATH_MAX], out[PATH_MAX];
    path_of(d, log, "%s.log", cheap->name);
    path_of(d, out, "job4.json");
    int before = count_lines(log, "kind 5970 running");
    char *job[] = {"--pow", "27", "--strategy", "cheapest", "--max-price",
                   "1000000", "--attempt-timeout", "4", "--input",
                   "{\"kind\":1,\"content\":\"this provider will not "
                   "finish\",\"tags\":[]}", NULL};
    pid_t c = submit(d, "job4", job, 1);
    for (int i = 0; i < 100 && count_lines(log, "kind 5970 running") <= before;
         i++)
        sleep_ms(100);
    kill(cheap->pid, SIGKILL);
    wait_exit(cheap->pid);
    printf("  (killed %s with SIGKILL in the middle of the job)\n",
           cheap->name);
    if (c > 0)
        wait_exit(c);
    tell(d, out);
    say("%s restarts: the job it was running is closed, never run twice",
        cheap->name);
    start_peer(d, cheap);
    sleep_ms(1500);
    char line[1024];
    FILE *f = fopen(log, "r");
    while (f && fgets(line, sizeof line, f))
        if (strstr(line, "failed") || strstr(line, "resumed"))
            printf("  %s", line);
    if (f)
        fclose(f);
}

/* ---- settlement, the dashboard, the end ---- */

static void ledger_of(struct demo *d, const char *name)
{
    char data[PATH_MAX], log[PATH_MAX];
    path_of(d, data, "%s", name);
    path_of(d, log, "ledger.log");
    printf("%s:\n", name);
    fflush(stdout);
    char *argv[] = {NULL, "ledger", "balances", "--data", data, NULL};
    pid_t p = spawn(d, argv, NULL, log);
    if (p > 0)
        wait_exit(p);
}

static void show_ledgers(struct demo *d)
{
    say("settlement: metering notes answered by receipts, in each ledger");
    sleep_ms(1000); /* the last receipts reach the providers */
    for (size_t i = 0; i < d->npeers; i++)
        ledger_of(d, d->peers[i].name);
    ledger_of(d, "customer");
}

/* the first dashboard address a provider logged, if any */
static void show_dashboard(struct demo *d)
{
    char log[PATH_MAX], line[1024];
    path_of(d, log, "%s.log", d->peers[0].name);
    FILE *f = fopen(log, "r");
    while (f && fgets(line, sizeof line, f)) {
        char *u = strstr(line, "http://127.0.0.1");
        if (u) {
            printf("\ndashboard of %s: %s", d->peers[0].name, u);
            break;
        }
    }
    if (f)
        fclose(f);
}

static volatile sig_atomic_t stop_asked;

static void on_signal(int sig)
{
    (void)sig;
    stop_asked = 1;
}

static int rm_one(const char *p, const struct stat *st, int flag,
                  struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

static void stop_all(struct demo *d)
{
    for (size_t i = 0; i < d->npeers; i++)
        if (d->peers[i].pid > 0)
            kill(d->peers[i].pid, SIGTERM);
    for (size_t i = 0; i < d->npeers; i++)
        if (d->peers[i].pid > 0)
            wait_exit(d->peers[i].pid);
    if (d->relay > 0) {
        kill(d->relay, SIGTERM);
        wait_exit(d->relay);
    }
    nftw(d->work, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void define_peers(struct demo *d)
{
    static struct peer p[] = {
        {"cheap", "1 msat per million hashes, one job at a time",
         {"--runner", "pow,threads=1", "--price-mhash", "1", NULL}, 0, ""},
        {"middle", "3 msat per million hashes + 10 per job, two at a time",
         {"--runner", "pow,threads=1,slots=2", "--price-mhash", "3",
          "--price-job", "10", NULL}, 0, ""},
        {"dear", "9 msat per million hashes + 50 per job, both cores",
         {"--runner", "pow,threads=2", "--price-mhash", "9", "--price-job",
          "50", NULL}, 0, ""},
        {"text", "HTML to text (exec runner, kind 5000), 5 msat per job",
         {"--runner", NULL, "--price-job", "5", NULL}, 0, ""},
    };
    static char spec[PATH_MAX + 32];
    snprintf(spec, sizeof spec, "exec:%s,kind=5000", d->html2text);
    p[3].args[1] = spec;
    d->npeers = 4;
    memcpy(d->peers, p, sizeof p);
}

/* the example exec runner: next to the binary in a build tree, in
 * libexec when installed */
static int find_runner(struct demo *d)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", d->exe);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    const char *tries[] = {"%s/runners/hearth-html2text",
                           "%s/../libexec/hearth/hearth-html2text"};
    for (size_t i = 0; i < 2; i++) {
        char p[PATH_MAX * 2];
        snprintf(p, sizeof p, tries[i], dir);
        if (access(p, X_OK) == 0 && realpath(p, d->html2text))
            return 0;
    }
    return -1;
}

static int setup(struct demo *d)
{
    ssize_t n = readlink("/proc/self/exe", d->exe, sizeof d->exe - 1);
    if (n <= 0)
        return -1;
    d->exe[n] = '\0';
    if (find_runner(d)) {
        cli_error("the example runner hearth-html2text is not next to %s: "
                  "build the whole tree or install the package", d->exe);
        return -1;
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(d->work, sizeof d->work, "%s/hearth-demo.XXXXXX",
             tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(d->work))
        return -1;
    define_peers(d);
    return 0;
}

static void story(struct demo *d)
{
    char *job1[] = {"--pow", "16", "--strategy", "cheapest", "--max-price",
                    "100000", "--input",
                    "{\"kind\":1,\"content\":\"hello from a local hearth "
                    "market\",\"tags\":[]}", NULL};
    char *job2[] = {"--pow", "20", "--encrypt", "--max-price", "100000",
                    "--input", "{\"kind\":1,\"content\":\"a secret note\","
                    "\"tags\":[[\"t\",\"hearth\"]]}", NULL};
    char *job3[] = {"--kind", "5000", "--max-price", "100", "--input",
                    "<html><body><h1>Hearth</h1><p>GPU compute <b>over "
                    "Nostr</b>.</p><ul><li>no server</li><li>signed "
                    "receipts</li></ul></body></html>", NULL};
    show_market(d);
    say("job 1: mine a note to 16 bits of PoW (NIP-13), cheapest provider");
    submit(d, "job1", job1, 0);
    say("job 2: the same at 20 bits, balanced choice, NIP-44 encrypted");
    submit(d, "job2", job2, 0);
    say("job 3: HTML to text on the exec runner (kind 5000)");
    submit(d, "job3", job3, 0);
    say("job 4: 27 bits on the cheapest provider, killed mid-job");
    kill_mid_job(d, &d->peers[0]);
    show_ledgers(d);
}

int cmd_demo(int argc, char **argv)
{
    struct demo d;
    memset(&d, 0, sizeof d);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--keep"))
            d.keep = 1;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(usage_text, stdout);
            return CLI_OK;
        } else {
            cli_error("unknown argument '%s' (see 'hearth demo --help')",
                      argv[i]);
            return CLI_USAGE;
        }
    }
    umask(077); /* key files, data directories */
    if (setup(&d) || make_key(&d, "customer")) {
        cli_error("cannot prepare the demo: %s", strerror(errno));
        return CLI_ERROR;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    int rc = start_relay(&d) ? -1 : 0;
    if (!rc)
        say("providers: three for PoW at different prices and capacities, "
            "one for HTML to text");
    for (size_t i = 0; !rc && i < d.npeers; i++) {
        rc = make_key(&d, d.peers[i].name) || start_peer(&d, &d.peers[i]);
        if (!rc)
            print_peer(&d.peers[i]);
    }
    if (rc) {
        stop_all(&d);
        return CLI_ERROR;
    }
    sleep_ms(1000); /* the offers reach the relay */
    story(&d);
    say("done: %d jobs delivered and verified, %d not", d.jobs_ok,
        d.jobs_failed);
    show_dashboard(&d);
    if (d.keep) {
        printf("\nthe market keeps running; Ctrl-C ends it\n");
        fflush(stdout);
        while (!stop_asked)
            pause();
    }
    stop_all(&d);
    return d.jobs_failed ? CLI_FAIL : CLI_OK;
}
