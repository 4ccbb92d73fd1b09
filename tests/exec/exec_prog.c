/* A runner program for tests/unit/test_runner_exec.c that behaves well
 * or badly on demand: `exec_prog MODE [MARKER] [--describe]`. MARKER is
 * never used here; it lets the test find this program's processes in
 * /proc. Built without sanitizers: they need more address space than the
 * memory limit under test allows. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>

extern char **environ;

static void line(json_t *msg)
{
    char *s = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    printf("%s\n", s);
    fflush(stdout);
    free(s);
}

static json_t *read_request(void)
{
    json_error_t err;
    return json_loadf(stdin, JSON_DISABLE_EOF_CHECK, &err);
}

static const char *param(json_t *req, const char *key)
{
    return json_string_value(json_object_get(json_object_get(req, "params"),
                                             key));
}

/* What the sandbox looks like from inside, for the test to judge. */
static int good(void)
{
    json_t *req = read_request();
    json_t *in0 = json_array_get(json_object_get(req, "inputs"), 0);
    json_t *out = json_object();
    char cwd[4096] = "";
    int nenv = 0, clean = 1;
    for (char **e = environ; *e; e++, nenv++)
        if (strncmp(*e, "PATH=", 5) && strncmp(*e, "HOME=", 5) &&
            strncmp(*e, "TMPDIR=", 7) && strncmp(*e, "LANG=", 5))
            clean = 0;
    int open_fds = 0;
    for (int fd = 3; fd < 1024; fd++)
        if (fcntl(fd, F_GETFD) >= 0)
            open_fds++;
    struct rlimit core;
    getrlimit(RLIMIT_CORE, &core);
    if (!getcwd(cwd, sizeof cwd))
        cwd[0] = 0;
    const char *home = getenv("HOME"), *tmp = getenv("TMPDIR");
    json_object_set_new(out, "kind", json_incref(json_object_get(req, "kind")));
    json_object_set_new(out, "value", json_incref(json_object_get(in0, "value")));
    json_object_set_new(out, "type", json_incref(json_object_get(in0, "type")));
    json_object_set_new(out, "marker", json_incref(json_object_get(in0, "marker")));
    json_object_set_new(out, "x", json_string(param(req, "x") ? param(req, "x") : ""));
    json_object_set_new(out, "output", json_incref(json_object_get(req, "output")));
    json_object_set_new(out, "limits", json_incref(json_object_get(req, "limits")));
    json_object_set_new(out, "env_clean", json_boolean(clean && nenv == 4));
    json_object_set_new(out, "path", json_string(getenv("PATH") ? getenv("PATH") : ""));
    json_object_set_new(out, "open_fds", json_integer(open_fds));
    json_object_set_new(out, "core", json_integer((json_int_t)core.rlim_cur));
    json_object_set_new(out, "cwd", json_string(cwd));
    json_object_set_new(out, "home_is_cwd", json_boolean(home && tmp &&
                        !strcmp(home, cwd) && !strcmp(tmp, cwd)));
    char *text = json_dumps(out, JSON_COMPACT);
    json_decref(out);
    json_decref(req);
    line(json_pack("{s:i}", "progress", 10));
    line(json_pack("{s:s}", "partial", "part1"));
    line(json_pack("{s:{s:i,s:i,s:i,s:i}}", "usage", "tokens_in", 3,
                   "tokens_out", 5, "gpu_ms", 7, "hashes", 11));
    line(json_pack("{s:i}", "progress", 100));
    line(json_pack("{s:s}", "result", text));
    free(text);
    return 0;
}

static int crash(void)
{
    json_decref(read_request());
    volatile int *p = NULL;
    *p = 1;   /* a real fault: raise() is ignored by a pid namespace init */
    return 0;
}

static __attribute__((noreturn)) int flood(void)
{
    for (;;)
        printf("{\"partial\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}\n");
}

static __attribute__((noreturn)) int longline(void)
{
    printf("{\"partial\":\"");
    for (;;)
        putchar('x');
}

static __attribute__((noreturn)) int sleeper(void)
{
    json_decref(read_request());
    line(json_pack("{s:i}", "progress", 1));
    for (;;)
        pause();
}

/* children that outlive their parent, still in its process group; the
 * parent leaves once the test has seen them (a byte on param "fifo") */
static int orphans(void)
{
    json_t *req = read_request();
    for (int i = 0; i < 3; i++)
        if (fork() == 0) {
            for (;;)
                pause();
        }
    line(json_pack("{s:i}", "progress", 1));
    const char *fifo = param(req, "fifo");
    int fd = fifo ? open(fifo, O_RDONLY) : -1;
    char b;
    if (fd < 0 || read(fd, &b, 1) != 1)
        return 2;
    json_decref(req);
    line(json_pack("{s:s}", "result", "left them"));
    return 0;
}

static int bigmem(void)
{
    json_decref(read_request());
    size_t chunk = 16u << 20, total = 0;
    while (total < (1u << 30)) {
        char *p = malloc(chunk);
        if (!p)
            return 3;   /* what a careless program does: no result */
        memset(p, 1, chunk);
        total += chunk;
    }
    line(json_pack("{s:s}", "result", "allocated 1 GiB"));
    return 0;
}

static int net(void)
{
    json_t *req = read_request();
    const char *port = param(req, "port");
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)atoi(port ? port : "0"));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    json_decref(req);
    if (ok)
        line(json_pack("{s:s}", "result", "connected"));
    else
        line(json_pack("{s:s,s:s}", "error", "connect failed", "cause",
                       "runner"));
    return 0;
}

/* read the file named by param "path", after trying to unmount whatever
 * hides param "dir" */
static int reader(void)
{
    json_t *req = read_request();
    const char *path = param(req, "path"), *dir = param(req, "dir");
    if (dir)
        umount2(dir, MNT_DETACH);
    char buf[256];
    int fd = path ? open(path, O_RDONLY) : -1;
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    json_decref(req);
    if (n < 0) {
        line(json_pack("{s:s,s:s}", "error", "cannot read", "cause",
                       "runner"));
        return 0;
    }
    buf[n] = 0;
    char out[300];
    snprintf(out, sizeof out, "read:%s", buf);
    line(json_pack("{s:s}", "result", out));
    return 0;
}

static int early(void)
{
    close(0);
    line(json_pack("{s:s}", "result", "early"));
    return 0;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--describe")) {
            line(json_pack("{s:i,s:s,s:[i,i],s:[s]}", "v", 1, "name",
                           "exec_prog", "kinds", 5100, 5101, "models",
                           "m1"));
            return 0;
        }
    if (!strcmp(mode, "good")) return good();
    if (!strcmp(mode, "crash")) return crash();
    if (!strcmp(mode, "flood")) return flood();
    if (!strcmp(mode, "longline")) return longline();
    if (!strcmp(mode, "sleep")) return sleeper();
    if (!strcmp(mode, "orphans")) return orphans();
    if (!strcmp(mode, "bigmem")) return bigmem();
    if (!strcmp(mode, "net")) return net();
    if (!strcmp(mode, "read")) return reader();
    if (!strcmp(mode, "early")) return early();
    json_decref(read_request());
    if (!strcmp(mode, "nonjson")) {
        printf("hello world\n");
        return 0;
    }
    if (!strcmp(mode, "errinput")) {
        line(json_pack("{s:s}", "error", "the input is not a number"));
        return 0;
    }
    if (!strcmp(mode, "errrunner")) {
        line(json_pack("{s:s,s:s}", "error", "the model file is missing",
                       "cause", "runner"));
        return 0;
    }
    if (!strcmp(mode, "exit3"))
        return 3;
    return 0;   /* "noresult" and anything unknown: silence */
}
