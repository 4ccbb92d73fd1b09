/* The exec runner (docs/runner-exec.md): the protocol with a well-behaved
 * program, the shipped hearth-html2text on real HTML, and programs that
 * crash, flood, hang, overspend memory, leave children behind, reach for
 * the network or the peer's files, or break the protocol. The programs
 * live in tests/exec; their paths come from the generated header. */
#include "hearth/error.h"
#include "hearth/runner.h"
#include "tap.h"
#include "tmpdir.h"

#include "exec/exec_paths.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_PIDS 16

/* What a run reported through io, and what the test learned meanwhile. */
typedef struct seen {
    unsigned progress[64];
    size_t nprogress;
    hearth_buf partial;
    int cancel_on_progress;   /* say "stop" once progress came */
    const char *marker;       /* find the program's processes by it */
    pid_t pids[MAX_PIDS];
    size_t npids;
    const char *fifo;         /* tell the program its pids were seen */
} seen;

/* processes whose command line holds marker as one argument */
static void find_pids(seen *s)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        char path[300], cmd[4096];
        snprintf(path, sizeof path, "/proc/%s/cmdline", e->d_name);
        int fd = open(path, O_RDONLY);
        ssize_t n = fd >= 0 ? read(fd, cmd, sizeof cmd - 1) : -1;
        if (fd >= 0)
            close(fd);
        for (ssize_t i = 0; n > 0 && i < n; i += (ssize_t)strlen(cmd + i) + 1) {
            cmd[n] = 0;
            if (!strcmp(cmd + i, s->marker) && s->npids < MAX_PIDS) {
                s->pids[s->npids++] = (pid_t)atoi(e->d_name);
                break;
            }
        }
    }
    if (d)
        closedir(d);
}

static void on_progress(void *user, unsigned pct)
{
    seen *s = user;
    if (s->nprogress < 64)
        s->progress[s->nprogress++] = pct;
    if (s->marker && !s->npids)
        find_pids(s);
    if (s->fifo) {
        int fd = open(s->fifo, O_WRONLY);
        CHECK(fd >= 0 && write(fd, "k", 1) == 1);
        if (fd >= 0)
            close(fd);
        s->fifo = NULL;
    }
}

static void on_partial(void *user, const char *data, size_t len)
{
    hearth_buf_add(&((seen *)user)->partial, data, len);
}

static int on_cancelled(void *user)
{
    seen *s = user;
    return s->cancel_on_progress && s->nprogress > 0;
}

/* gone, or a zombie waiting for whoever inherited it */
static int gone(pid_t pid)
{
    if (kill(pid, 0) != 0)
        return errno == ESRCH;
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (fd >= 0)
        close(fd);
    if (n <= 0)
        return 1;
    buf[n] = 0;
    const char *p = strrchr(buf, ')');
    return p && p[1] == ' ' && p[2] == 'Z';
}

/* Every process the program started must be gone: in the namespace
 * sandbox by the time run returns; with rlimits only, the SIGKILL sent to
 * the group may still be on its way, so wait (no deadline: the test's
 * own timeout catches a process that never dies). */
static void check_all_gone(seen *s, int strict)
{
    CHECKF(s->npids > 0, "no process with marker %s was seen", s->marker);
    for (size_t i = 0; i < s->npids; i++) {
        if (!strict)
            while (!gone(s->pids[i]))
                usleep(1000);
        CHECKF(gone(s->pids[i]), "pid %d outlived its job", (int)s->pids[i]);
    }
}

static void opts_for(hearth_exec_runner_opts *o, const char *const *args)
{
    static const uint32_t kinds[] = {5100};
    hearth_exec_runner_opts_default(o);
    o->program = EXEC_PROG;
    o->args = args;
    o->nkinds = 1;
    o->kinds = kinds;
    o->time_limit_ms = 60000;
}

static hearth_runner *make(const hearth_exec_runner_opts *o)
{
    hearth_runner *r = NULL;
    int rc = hearth_runner_exec_new(o, &r);
    CHECKF(rc == HEARTH_OK, "exec_new: %s", hearth_strerror(rc));
    if (!r)
        exit(tap_done());
    return r;
}

static hearth_exec_sandbox mode_of(hearth_runner *r)
{
    hearth_exec_sandbox m = 0;
    CHECK(hearth_exec_runner_sandbox(r, &m) == HEARTH_OK);
    return m;
}

/* Run one job of kind 5100 with one text input and the given params. */
static int run_job(hearth_runner *r, const char *input, size_t inlen,
                   const hearth_job_param *params, size_t nparams,
                   seen *s, hearth_runner_result *res)
{
    hearth_job_input in = {input, inlen, "text", ""};
    hearth_runner_job job = {0};
    job.kind = 5100;
    job.ninputs = 1;
    job.inputs = &in;
    job.nparams = nparams;
    job.params = params;
    hearth_runner_io io = {on_progress, on_partial, on_cancelled, s};
    hearth_runner_result_init(res);
    return hearth_runner_run(r, &job, &io, res);
}

/* One job of exec_prog in mode, expecting rc and, if why, that error. */
static void expect(const char *mode, const hearth_exec_runner_opts *base,
                   int want_rc, const char *why)
{
    const char *args[] = {mode, NULL};
    hearth_exec_runner_opts o = *base;
    o.args = args;
    hearth_runner *r = make(&o);
    seen s = {0};
    hearth_runner_result res;
    int rc = run_job(r, "1", 1, NULL, 0, &s, &res);
    CHECKF(rc == want_rc, "%s: rc %s (%s)", mode, hearth_strerror(rc),
           res.error);
    if (why)
        CHECKF(!strcmp(res.error, why), "%s: error '%s'", mode, res.error);
    CHECK(res.output.len == 0);
    hearth_runner_result_free(&res);
    hearth_buf_free(&s.partial);
    hearth_runner_free(r);
}

static void test_good(void)
{
    const char *args[] = {"good", NULL};
    hearth_exec_runner_opts o;
    opts_for(&o, args);
    setenv("HEARTH_TEST_SECRET", "must not reach the program", 1);
    /* an fd left open without close-on-exec must not reach it either */
    int leak = open("/dev/null", O_RDONLY);
    hearth_runner *r = make(&o);

    hearth_runner_desc d;
    CHECK(hearth_runner_describe(r, &d) == HEARTH_OK);
    CHECK(!strcmp(d.name, "exec") && d.backend == HEARTH_BACKEND_EXEC);
    CHECK(d.nkinds == 1 && d.kinds[0] == 5100 && d.slots == 1);
    char why[HEARTH_RUNNER_WHY_MAX];
    hearth_runner_job job = {0};
    job.kind = 5100;
    CHECK(hearth_runner_check(r, &job, why, sizeof why) == HEARTH_OK);
    job.kind = 5999;
    CHECK(hearth_runner_check(r, &job, why, sizeof why) == HEARTH_EINVAL);
    CHECK(strstr(why, "5999") != NULL);
    CHECK(hearth_runner_health(r, why, sizeof why) == HEARTH_OK);

    hearth_job_param params[] = {{"x", "ümlaut \"q\""}, {"x", "second"}};
    hearth_job_input in = {"hello\nworld!", 5, "text", "m"};
    hearth_runner_job j = {0};
    j.kind = 5100;
    j.ninputs = 1;
    j.inputs = &in;
    j.nparams = 2;
    j.params = params;
    j.output = "text/plain";
    j.time_limit_ms = 30000;
    j.mem_limit = 512u << 20;
    seen s = {0};
    hearth_runner_io io = {on_progress, on_partial, on_cancelled, &s};
    hearth_runner_result res;
    hearth_runner_result_init(&res);
    int rc = hearth_runner_run(r, &j, &io, &res);
    CHECKF(rc == HEARTH_OK, "good: %s", res.error);
    CHECK(s.nprogress == 2 && s.progress[0] == 10 && s.progress[1] == 100);
    CHECK(s.partial.len == 5 && !memcmp(s.partial.p, "part1", 5));
    CHECK(res.usage.jobs == 1 && res.usage.tokens_in == 3 &&
          res.usage.tokens_out == 5 && res.usage.gpu_ms == 7 &&
          res.usage.hashes == 11);
    json_error_t err;
    json_t *out = json_loads(res.output.p ? res.output.p : "", 0, &err);
    CHECK(out != NULL);
    json_t *lim = json_object_get(out, "limits");
    CHECK(json_integer_value(json_object_get(out, "kind")) == 5100);
    CHECK(!strcmp(json_string_value(json_object_get(out, "value")), "hello"));
    CHECK(!strcmp(json_string_value(json_object_get(out, "type")), "text"));
    CHECK(!strcmp(json_string_value(json_object_get(out, "marker")), "m"));
    CHECK(!strcmp(json_string_value(json_object_get(out, "x")),
                  "ümlaut \"q\""));
    CHECK(!strcmp(json_string_value(json_object_get(out, "output")),
                  "text/plain"));
    CHECK(json_integer_value(json_object_get(lim, "time_ms")) == 30000);
    CHECK(json_integer_value(json_object_get(lim, "mem")) == 512 << 20);
    CHECK(json_is_true(json_object_get(out, "env_clean")));
    CHECK(!strcmp(json_string_value(json_object_get(out, "path")),
                  "/usr/bin:/bin"));
    CHECK(json_integer_value(json_object_get(out, "open_fds")) == 0);
    CHECK(json_integer_value(json_object_get(out, "core")) == 0);
    CHECK(json_is_true(json_object_get(out, "home_is_cwd")));
    const char *cwd = json_string_value(json_object_get(out, "cwd"));
    struct stat st;
    CHECKF(cwd && cwd[0] == '/' && stat(cwd, &st) != 0,
           "the job directory %s was left behind", cwd ? cwd : "?");
    json_decref(out);
    hearth_runner_result_free(&res);
    hearth_buf_free(&s.partial);
    hearth_runner_free(r);
    close(leak);
    unsetenv("HEARTH_TEST_SECRET");
}

static void test_describe_mode(void)
{
    const char *args[] = {"good", NULL};
    hearth_exec_runner_opts o;
    opts_for(&o, args);
    o.nkinds = 0;
    o.kinds = NULL;
    o.slots = 3;
    hearth_runner *r = make(&o);
    hearth_runner_desc d;
    CHECK(hearth_runner_describe(r, &d) == HEARTH_OK);
    CHECK(d.nkinds == 2 && d.kinds[0] == 5100 && d.kinds[1] == 5101);
    CHECK(d.nmodels == 1 && !strcmp(d.models[0], "m1"));
    CHECK(d.slots == 3);
    hearth_runner_free(r);

    /* a program that cannot describe itself is refused at once */
    const char *bad[] = {"noresult", NULL};
    o.args = bad;
    o.program = "/bin/true";
    hearth_runner *r2 = NULL;
    CHECK(hearth_runner_exec_new(&o, &r2) == HEARTH_EIO && !r2);
}

static void test_bad_config(void)
{
    hearth_exec_runner_opts o;
    opts_for(&o, NULL);
    hearth_runner *r = NULL;
    o.program = "exec_prog";
    CHECK(hearth_runner_exec_new(&o, &r) == HEARTH_EINVAL && !r);
    o.program = "/nonexistent/runner";
    r = make(&o);   /* kinds given: nothing runs until a job comes */
    char why[HEARTH_RUNNER_WHY_MAX];
    CHECK(hearth_runner_health(r, why, sizeof why) == HEARTH_EIO);
    CHECK(strstr(why, "/nonexistent/runner") != NULL);
    seen s = {0};
    hearth_runner_result res;
    CHECK(run_job(r, "1", 1, NULL, 0, &s, &res) == HEARTH_EIO);
    CHECKF(strstr(res.error, "could not start the runner program (execve") ==
           res.error, "error '%s'", res.error);
    hearth_runner_result_free(&res);
    hearth_runner_free(r);

    static const hearth_runner_ops other = {0};
    hearth_runner fake = {&other, NULL};
    hearth_exec_sandbox m;
    CHECK(hearth_exec_runner_sandbox(&fake, &m) == HEARTH_EINVAL);
}

static const char page[] =
    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
    "<title>Ignored title</title>\n"
    "<style>body { font: 12px sans-serif; } p > a { color: red }</style>\n"
    "<script>if (a < b && c > d) { document.write('<p>no</p>'); }</script>\n"
    "</head>\n<body>\n<!-- a comment <p>hidden</p> -->\n"
    "<h1>Caf&eacute; &amp; Bar</h1>\n"
    "<p>Open   daily,\n  from <b>8&nbsp;am</b> to <i>6 pm</i>&hellip;</p>\n"
    "<ul><li>Espresso &ndash; &euro;2</li>\n<li>Tea&#160;&#x2615;</li></ul>\n"
    "<p>Line one<br>Line two</p>\n"
    "<pre>  keep\n    this</pre>\n"
    "<table><tr><td>a</td><td>b</td></tr><tr><td>c</td><td>d</td></tr>"
    "</table>\n"
    "<p>1 &lt; 2 &AMP 3 &bogus; 4 < 5</p>\n"
    "</body></html>\n";

static const char page_text[] =
    "Café & Bar\n\n"
    "Open daily, from 8 am to 6 pm…\n\n"
    "- Espresso – €2\n"
    "- Tea ☕\n\n"
    "Line one\nLine two\n\n"
    "  keep\n    this\n\n"
    "a b\nc d\n\n"
    "1 < 2 &AMP 3 &bogus; 4 < 5";

static void test_html2text(void)
{
    hearth_exec_runner_opts o;
    hearth_exec_runner_opts_default(&o);
    o.program = EXEC_HTML2TEXT;
#if defined(__SANITIZE_ADDRESS__)
    /* built with ASan too, which needs terabytes of address space */
    o.mem_limit = UINT64_MAX;
#endif
    hearth_runner *r = make(&o);   /* kinds from --describe */
    hearth_runner_desc d;
    CHECK(hearth_runner_describe(r, &d) == HEARTH_OK);
    CHECK(d.nkinds == 1 && d.kinds[0] == 5000);

    hearth_job_input in = {page, sizeof page - 1, "text", ""};
    hearth_runner_job job = {0};
    job.kind = 5000;
    job.ninputs = 1;
    job.inputs = &in;
    seen s = {0};
    hearth_runner_io io = {on_progress, on_partial, on_cancelled, &s};
    hearth_runner_result res;
    hearth_runner_result_init(&res);
    int rc = hearth_runner_run(r, &job, &io, &res);
    CHECKF(rc == HEARTH_OK, "html2text: %s", res.error);
    CHECKF(res.output.p && !strcmp(res.output.p, page_text),
           "html2text gave:\n%s", res.output.p ? res.output.p : "");
    CHECK(s.nprogress >= 1 && s.progress[0] == 0);
    CHECK(res.usage.jobs == 1);
    hearth_runner_result_free(&res);

    /* a url needs the network, which the sandbox does not have */
    hearth_job_input url = {"https://example.com/", 20, "url", ""};
    job.inputs = &url;
    hearth_runner_result_init(&res);
    rc = hearth_runner_run(r, &job, &io, &res);
    CHECK(rc == HEARTH_EINVAL && strstr(res.error, "text inputs") != NULL);
    hearth_runner_result_free(&res);
    hearth_buf_free(&s.partial);
    hearth_runner_free(r);
}

static void test_failures(void)
{
    hearth_exec_runner_opts o;
    opts_for(&o, NULL);
    expect("crash", &o, HEARTH_EIO, "the runner program crashed (signal 11)");
    expect("nonjson", &o, HEARTH_EIO,
           "the runner wrote a line that is not JSON");
    expect("longline", &o, HEARTH_EIO,
           "the runner wrote a line longer than 1 MiB");
    expect("errinput", &o, HEARTH_EINVAL, "the input is not a number");
    expect("errrunner", &o, HEARTH_EIO, "the model file is missing");
    expect("exit3", &o, HEARTH_EIO,
           "the runner program exited with status 3 without a result");
    expect("noresult", &o, HEARTH_EIO,
           "the runner program exited without a result");
    o.max_output = 64 * 1024;
    expect("flood", &o, HEARTH_EIO, "the runner wrote more than 64 KiB");
    opts_for(&o, NULL);
    o.mem_limit = 64u << 20;
    expect("bigmem", &o, HEARTH_EIO,
           "the runner program exited with status 3 without a result");
}

/* A program that closes stdin before the request is written must not
 * take the peer down with SIGPIPE. */
static void test_early_close(void)
{
    const char *args[] = {"early", NULL};
    hearth_exec_runner_opts o;
    opts_for(&o, args);
    hearth_runner *r = make(&o);
    size_t n = 4u << 20;
    char *big = malloc(n);
    memset(big, 'a', n);
    seen s = {0};
    hearth_runner_result res;
    int rc = run_job(r, big, n, NULL, 0, &s, &res);
    CHECKF(rc == HEARTH_OK, "early: %s", res.error);
    CHECK(res.output.p && !strcmp(res.output.p, "early"));
    hearth_runner_result_free(&res);
    free(big);
    hearth_runner_free(r);
}

static void test_timeout_and_cancel(void)
{
    char marker[64];
    snprintf(marker, sizeof marker, "hearth-test-sleep-%d", (int)getpid());
    const char *args[] = {"sleep", marker, NULL};
    hearth_exec_runner_opts o;
    opts_for(&o, args);
    hearth_runner *r = make(&o);
    int strict = mode_of(r) == HEARTH_EXEC_SANDBOX_NAMESPACES;

    /* the job's own, shorter limit applies */
    hearth_job_input in = {"1", 1, "text", ""};
    hearth_runner_job job = {0};
    job.kind = 5100;
    job.ninputs = 1;
    job.inputs = &in;
    job.time_limit_ms = 300;
    seen s = {0};
    s.marker = marker;
    hearth_runner_io io = {on_progress, on_partial, on_cancelled, &s};
    hearth_runner_result res;
    hearth_runner_result_init(&res);
    int rc = hearth_runner_run(r, &job, &io, &res);
    CHECKF(rc == HEARTH_ETIMEDOUT, "sleep: %s", hearth_strerror(rc));
    CHECK(strstr(res.error, "time limit of 300 ms") != NULL);
    check_all_gone(&s, strict);
    hearth_runner_result_free(&res);

    seen c = {0};
    c.marker = marker;
    c.cancel_on_progress = 1;
    rc = run_job(r, "1", 1, NULL, 0, &c, &res);
    CHECKF(rc == HEARTH_ECANCELED, "cancel: %s", hearth_strerror(rc));
    CHECK(!strcmp(res.error, "the job was cancelled"));
    check_all_gone(&c, strict);
    hearth_runner_result_free(&res);
    hearth_runner_free(r);
}

static void test_orphans(void)
{
    char marker[64];
    snprintf(marker, sizeof marker, "hearth-test-orphans-%d", (int)getpid());
    const char *args[] = {"orphans", marker, NULL};
    hearth_exec_runner_opts o;
    opts_for(&o, args);
    hearth_runner *r = make(&o);
    char *dir = tap_tmpdir("exec-orphans");
    char fifo[4200];
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    CHECK(mkfifo(fifo, 0600) == 0);
    hearth_job_param p = {"fifo", fifo};
    seen s = {0};
    s.marker = marker;
    s.fifo = fifo;
    hearth_runner_result res;
    int rc = run_job(r, "1", 1, &p, 1, &s, &res);
    CHECKF(rc == HEARTH_OK, "orphans: %s", res.error);
    CHECKF(s.npids == 4, "saw %zu", s.npids); /* it and three children */
    tap_rmtree(dir);
    free(dir);
    check_all_gone(&s, mode_of(r) == HEARTH_EXEC_SANDBOX_NAMESPACES);
    hearth_runner_result_free(&res);
    hearth_runner_free(r);
}

static int listen_local(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {0};
    socklen_t len = sizeof a;
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(fd, 4) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        fprintf(stderr, "cannot listen on 127.0.0.1\n");
        exit(1);
    }
    *port = ntohs(a.sin_port);
    return fd;
}

static const char *run_net(int allow, int port, int *rc, int *mode)
{
    static char result[32];
    const char *args[] = {"net", NULL};
    hearth_exec_runner_opts o;
    opts_for(&o, args);
    o.allow_network = allow;
    hearth_runner *r = make(&o);
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    hearth_job_param p = {"port", portstr};
    seen s = {0};
    hearth_runner_result res;
    *rc = run_job(r, "1", 1, &p, 1, &s, &res);
    *mode = mode_of(r);
    snprintf(result, sizeof result, "%s", res.output.p ? res.output.p : "");
    hearth_runner_result_free(&res);
    hearth_runner_free(r);
    return result;
}

static void test_network(void)
{
    int port, rc, mode;
    int lfd = listen_local(&port);
    /* the program really can connect when allowed to */
    const char *out = run_net(1, port, &rc, &mode);
    CHECKF(rc == HEARTH_OK && !strcmp(out, "connected"),
           "allowed network: rc %d", rc);
    out = run_net(0, port, &rc, &mode);
    if (mode != HEARTH_EXEC_SANDBOX_NAMESPACES)
        printf("# skip network isolation: no namespace sandbox here\n");
    else
        CHECKF(rc == HEARTH_EIO && strcmp(out, "connected"),
               "the sandboxed program reached 127.0.0.1:%d", port);
    close(lfd);
}

/* Read path inside the sandbox with hidden set; the result line. */
static int read_hidden(const char *path, const char *dir,
                       const char *const *hidden, char *out, size_t len)
{
    const char *args[] = {"read", NULL};
    hearth_exec_runner_opts o;
    opts_for(&o, args);
    o.hidden = hidden;
    hearth_runner *r = make(&o);
    hearth_job_param p[] = {{"path", path}, {"dir", dir ? dir : ""}};
    seen s = {0};
    hearth_runner_result res;
    int rc = run_job(r, "1", 1, p, dir ? 2 : 1, &s, &res);
    snprintf(out, len, "%s", res.output.p ? res.output.p : "");
    int mode = mode_of(r);
    hearth_runner_result_free(&res);
    hearth_runner_free(r);
    return rc == HEARTH_OK && mode == HEARTH_EXEC_SANDBOX_NAMESPACES ? 1
           : rc == HEARTH_OK ? 0 : -1;
}

static void test_hidden(void)
{
    char *dir = tap_tmpdir("exec-hidden");
    char secret_dir[4200], key[4300], other[4300], via_proc[4400];
    snprintf(secret_dir, sizeof secret_dir, "%s/data", dir);
    snprintf(key, sizeof key, "%s/data/key", dir);
    snprintf(other, sizeof other, "%s/nsec", dir);
    mkdir(secret_dir, 0700);
    FILE *f = fopen(key, "w");
    fputs("SECRET", f);
    fclose(f);
    f = fopen(other, "w");
    fputs("NSEC", f);
    fclose(f);
    char out[300];

    /* visible without hiding: the test itself is sound */
    CHECK(read_hidden(key, NULL, NULL, out, sizeof out) >= 0);
    CHECK(!strcmp(out, "read:SECRET"));

    const char *hidden[] = {secret_dir, other, "/nonexistent/hearth", NULL};
    int ns = read_hidden(key, secret_dir, hidden, out, sizeof out);
    hearth_runner *probe;
    hearth_exec_runner_opts o;
    opts_for(&o, NULL);
    probe = make(&o);
    int sandboxed = mode_of(probe) == HEARTH_EXEC_SANDBOX_NAMESPACES;
    hearth_runner_free(probe);
    if (!sandboxed) {
        printf("# skip hidden paths: no namespace sandbox here\n");
    } else {
        /* covered directory: the file is not there, even after trying
         * to unmount what covers it */
        CHECKF(strstr(out, "SECRET") == NULL, "hidden dir read: %s", out);
        CHECK(ns == -1);
        /* covered file: reads as empty */
        read_hidden(other, NULL, hidden, out, sizeof out);
        CHECKF(!strcmp(out, "read:"), "hidden file read: %s", out);
        /* nor through the peer's /proc entry */
        snprintf(via_proc, sizeof via_proc, "/proc/%d/root%s",
                 (int)getpid(), key);
        read_hidden(via_proc, NULL, hidden, out, sizeof out);
        CHECKF(strstr(out, "SECRET") == NULL, "read via /proc: %s", out);
    }
    tap_rmtree(dir);
    free(dir);
}

int main(void)
{
    hearth_exec_runner_opts o;
    opts_for(&o, NULL);
    hearth_runner *r = make(&o);
    printf("# sandbox: %s\n", mode_of(r) == HEARTH_EXEC_SANDBOX_NAMESPACES
                                  ? "namespaces" : "rlimits only");
    hearth_runner_free(r);
    test_good();
    test_describe_mode();
    test_bad_config();
    test_html2text();
    test_failures();
    test_early_close();
    test_timeout_and_cancel();
    test_orphans();
    test_network();
    test_hidden();
    return tap_done();
}
