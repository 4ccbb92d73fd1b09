/* Starting an exec runner's program in its sandbox, and stopping it
 * (docs/runner-exec.md, "Sandbox").
 *
 * The child comes from a raw clone(2) rather than posix_spawn because its
 * setup needs namespaces, mounts, rlimits and prctl between the clone and
 * the exec, and from a raw clone rather than fork(3) so the namespace
 * flags can be given at once: with CLONE_NEWPID the program becomes init
 * of its own pid namespace, and the kernel kills every process in it when
 * the program exits or is killed, so nothing it started can outlive the
 * job. Between clone and execve the child only makes async-signal-safe
 * calls: the peer is multithreaded, and another thread may hold the
 * allocator's lock at the moment of the clone. */
#include "exec_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <sched.h>

#include "hearth/error.h"

/* how long a program has to leave after SIGTERM before SIGKILL */
#define STOP_GRACE_MS 200
/* how long the child's sandbox setup may take before we give up on it */
#define SETUP_TIMEOUT_MS 10000

/* What the child reports on the status pipe when a setup step fails: the
 * step and its errno. A clean exec closes the pipe (close-on-exec) with
 * nothing written. */
enum stage {
    ST_SYNC = 1, ST_SESSION, ST_MOUNT, ST_HIDE, ST_PROC, ST_FDS, ST_CWD,
    ST_RLIMIT, ST_PRIVS, ST_CAPS, ST_EXEC
};

static const char *stage_name(int st)
{
    switch (st) {
    case ST_SYNC: return "namespace setup";
    case ST_SESSION: return "setsid";
    case ST_MOUNT: return "mount namespace";
    case ST_HIDE: return "hiding a path";
    case ST_PROC: return "mounting /proc";
    case ST_FDS: return "file descriptors";
    case ST_CWD: return "working directory";
    case ST_RLIMIT: return "resource limits";
    case ST_PRIVS: return "no_new_privs";
    case ST_CAPS: return "dropping capabilities";
    case ST_EXEC: return "execve";
    default: return "setup";
    }
}

/* Failures of these steps mean the namespaces are not really usable
 * here (e.g. a kernel or security module that allows creating a user
 * namespace but not mounting in it): fall back to rlimits only, as when
 * clone refuses outright. */
static int stage_is_namespace(int st)
{
    return st == ST_SYNC || st == ST_MOUNT || st == ST_HIDE ||
           st == ST_PROC || st == ST_CAPS;
}

static void set_why(char *why, size_t whylen, const char *fmt,
                    const char *a, int err)
{
    char buf[128];
    const char *msg = strerror_r(err, buf, sizeof buf);
    if (why && whylen)
        snprintf(why, whylen, fmt, a, msg);
}

static pid_t raw_clone(unsigned long flags)
{
    /* no new stack: the child goes on from here on a copy of ours, as
     * after fork; only s390 orders the first two arguments the other way */
#if defined(__s390__) || defined(__s390x__)
    return (pid_t)syscall(SYS_clone, 0UL, flags);
#else
    return (pid_t)syscall(SYS_clone, flags, 0UL, 0UL, 0UL, 0UL);
#endif
}

/* ---- the child, between clone and execve ---- */

static __attribute__((noreturn)) void child_fail(int fd, int stage)
{
    int rec[2] = {stage, errno};
    ssize_t n = write(fd, rec, sizeof rec);
    (void)n;
    _exit(127);
}

static int hide_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return errno == ENOENT ? 0 : -1;
    if (S_ISDIR(st.st_mode))
        return mount("tmpfs", path, "tmpfs",
                     MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                     "size=4k,mode=0555");
    return mount("/dev/null", path, NULL, MS_BIND, NULL);
}

static int child_mounts(const hearth_exec_spawn *s, int *stage)
{
    /* nothing mounted here may reach the peer's own mount namespace */
    *stage = ST_MOUNT;
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        return -1;
    *stage = ST_HIDE;
    for (size_t i = 0; s->hidden && s->hidden[i]; i++)
        if (hide_path(s->hidden[i]) != 0)
            return -1;
    /* the host's /proc would lead back to the peer's files through
     * /proc/<pid>/root and /proc/<pid>/fd; a fresh one shows only the
     * job's own pid namespace, and an empty one does when proc cannot be
     * mounted */
    *stage = ST_PROC;
    if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
              NULL) == 0)
        return 0;
    return mount("tmpfs", "/proc", "tmpfs",
                 MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k");
}

/* Put the pipes on 0, 1, 2 and the status pipe on 3; returns the status
 * fd, -1 on failure. Each is first moved above 9 so none is overwritten
 * by another's dup2 when the peer itself runs with 0-2 closed. */
static int child_fds(int in, int out, int err, int status)
{
    int fds[4] = {in, out, err, status};
    for (int i = 0; i < 4; i++) {
        fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 10);
        if (fds[i] < 0)
            return -1;
    }
    for (int i = 0; i < 3; i++)
        if (dup2(fds[i], i) != i)
            return -1;
    if (dup3(fds[3], 3, O_CLOEXEC) != 3)
        return -1;
    if (close_range(4, ~0U, 0) != 0) {
        struct rlimit rl;
        int max = 65536;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 65536)
            max = (int)rl.rlim_cur;
        for (int fd = 4; fd < max; fd++)
            close(fd);
    }
    return 3;
}

static int set_limit(int res, uint64_t v, uint64_t hard_extra)
{
    struct rlimit old, rl;
    if (getrlimit(res, &old) != 0)
        return -1;
    /* an unprivileged process cannot raise a hard limit: keep the lower */
    rl.rlim_cur = (rlim_t)v;
    rl.rlim_max = v + hard_extra < v ? RLIM_INFINITY
                                     : (rlim_t)(v + hard_extra);
    if (old.rlim_max != RLIM_INFINITY && rl.rlim_max > old.rlim_max)
        rl.rlim_max = old.rlim_max;
    if (rl.rlim_cur > rl.rlim_max)
        rl.rlim_cur = rl.rlim_max;
    return setrlimit(res, &rl);
}

static int child_limits(const hearth_exec_spawn *s)
{
    /* CPU: SIGXCPU at the soft limit, SIGKILL a second later */
    if ((s->mem_limit && set_limit(RLIMIT_AS, s->mem_limit, 0) != 0) ||
        (s->cpu_limit_s && set_limit(RLIMIT_CPU, s->cpu_limit_s, 1) != 0) ||
        (s->max_file && set_limit(RLIMIT_FSIZE, s->max_file, 0) != 0) ||
        (s->max_procs && set_limit(RLIMIT_NPROC, s->max_procs, 0) != 0) ||
        (s->max_files && set_limit(RLIMIT_NOFILE, s->max_files, 0) != 0) ||
        set_limit(RLIMIT_CORE, 0, 0) != 0)
        return -1;
    return 0;
}

/* In the user namespace the child is root with every capability until
 * execve; the program must keep none, or it could unmount what hides the
 * peer's files. The securebits stop execve from handing root's
 * capabilities back. */
static int child_drop_caps(void)
{
    if (prctl(PR_SET_SECUREBITS,
              SECBIT_NOROOT | SECBIT_NOROOT_LOCKED |
              SECBIT_NO_SETUID_FIXUP | SECBIT_NO_SETUID_FIXUP_LOCKED |
              SECBIT_KEEP_CAPS_LOCKED, 0, 0, 0) != 0)
        return -1;
    for (int cap = 0; cap <= 63; cap++)
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL)
            return -1;
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    return (int)syscall(SYS_capset, &hdr, data);
}

/* Signals the peer ignores stay ignored across execve, and its blocked
 * mask is inherited: give the program the defaults. */
static void child_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++)
        sigaction(sig, &sa, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

static __attribute__((noreturn)) void
child_main(const hearth_exec_spawn *s, int ns, pid_t parent, int in,
           int out, int err, int status, int sync)
{
    int stage = ST_SYNC;
    if (ns) {
        /* wait for the parent to write our uid and gid maps */
        char b;
        if (read(sync, &b, 1) != 1)
            child_fail(status, ST_SYNC);
    }
    if (setsid() < 0)
        child_fail(status, ST_SESSION);
    /* a peer that crashes leaves no program behind */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0)
        child_fail(status, ST_SESSION);
    if (!ns && getppid() != parent)
        _exit(127);
    if (ns && child_mounts(s, &stage) != 0)
        child_fail(status, stage);
    child_signals();
    int moved = child_fds(in, out, err, status);
    if (moved < 0)
        child_fail(status, ST_FDS);
    status = moved;
    if (chdir(s->cwd) != 0)
        child_fail(status, ST_CWD);
    if (child_limits(s) != 0)
        child_fail(status, ST_RLIMIT);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        child_fail(status, ST_PRIVS);
    if (ns && child_drop_caps() != 0)
        child_fail(status, ST_CAPS);
    if (!s->program)
        _exit(0);
    execve(s->program, s->argv, s->envp);
    child_fail(status, ST_EXEC);
}

/* ---- the parent ---- */

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static int write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t n = strlen(text);
    ssize_t w = write(fd, text, n);
    close(fd);
    return w == (ssize_t)n ? 0 : -1;
}

/* Map our own uid and gid into the child's user namespace, the one
 * mapping an unprivileged process may write. */
static int write_maps(pid_t pid)
{
    char path[64], map[64];
    snprintf(path, sizeof path, "/proc/%d/setgroups", (int)pid);
    if (write_file(path, "deny") != 0 && errno != ENOENT)
        return -1;
    snprintf(path, sizeof path, "/proc/%d/gid_map", (int)pid);
    snprintf(map, sizeof map, "%u %u 1\n", (unsigned)getegid(),
             (unsigned)getegid());
    if (write_file(path, map) != 0)
        return -1;
    snprintf(path, sizeof path, "/proc/%d/uid_map", (int)pid);
    snprintf(map, sizeof map, "%u %u 1\n", (unsigned)geteuid(),
             (unsigned)geteuid());
    return write_file(path, map);
}

static void reap(pid_t pid, int *status)
{
    while (waitpid(pid, status, 0) < 0 && errno == EINTR)
        ;
}

/* Wait for the child's report on the status pipe: 0 when it reached
 * execve (or, probing, exited), else the failed stage with *err set. */
static int read_status(int fd, int *err)
{
    int rec[2];
    size_t got = 0;
    struct pollfd p = {fd, POLLIN, 0};
    while (got < sizeof rec) {
        int r = poll(&p, 1, SETUP_TIMEOUT_MS);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            *err = ETIMEDOUT;
            return ST_SYNC;
        }
        ssize_t n = read(fd, (char *)rec + got, sizeof rec - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return 0;
        got += (size_t)n;
    }
    *err = rec[1];
    return rec[0] ? rec[0] : ST_SYNC;
}

static int pipes_open(int p[5][2])
{
    for (int i = 0; i < 5; i++)
        p[i][0] = p[i][1] = -1;
    for (int i = 0; i < 5; i++)
        if (pipe2(p[i], O_CLOEXEC) != 0)
            return -1;
    return 0;
}

static void pipes_close(int p[5][2])
{
    for (int i = 0; i < 5; i++) {
        close_fd(&p[i][0]);
        close_fd(&p[i][1]);
    }
}

static int clone_refused(int e)
{
    return e == EPERM || e == EINVAL || e == ENOSPC || e == EUSERS ||
           e == ENOSYS || e == EACCES;
}

/* One attempt. HEARTH_EPERM: the namespaces are not usable here, try
 * again without. */
static int start_once(const hearth_exec_spawn *s, int ns,
                      hearth_exec_child *c, char *why, size_t whylen)
{
    enum { IN, OUT, ERR, STATUS, SYNC };
    int p[5][2];
    if (pipes_open(p) != 0) {
        set_why(why, whylen, "could not start the runner program (%s: %s)",
                "pipe", errno);
        pipes_close(p);
        return HEARTH_EIO;
    }
    unsigned long flags = SIGCHLD;
    if (ns)
        flags |= CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC |
                 (s->network ? 0 : CLONE_NEWNET);
    pid_t parent = getpid();
    pid_t pid = raw_clone(flags);
    if (pid == 0)
        child_main(s, ns, parent, p[IN][0], p[OUT][1], p[ERR][1],
                   p[STATUS][1], p[SYNC][0]);
    int e = errno;
    close_fd(&p[IN][0]);
    close_fd(&p[OUT][1]);
    close_fd(&p[ERR][1]);
    close_fd(&p[STATUS][1]);
    close_fd(&p[SYNC][0]);
    if (pid < 0) {
        pipes_close(p);
        if (ns && clone_refused(e))
            return HEARTH_EPERM;
        set_why(why, whylen, "could not start the runner program (%s: %s)",
                "clone", e);
        return HEARTH_EIO;
    }
    int status = 0;
    if (ns && (write_maps(pid) != 0 || write(p[SYNC][1], "g", 1) != 1)) {
        kill(pid, SIGKILL);
        reap(pid, &status);
        pipes_close(p);
        return HEARTH_EPERM;
    }
    close_fd(&p[SYNC][1]);
    int st = read_status(p[STATUS][0], &e);
    close_fd(&p[STATUS][0]);
    if (st != 0 || !s->program) {
        if (st == ST_SYNC && e == ETIMEDOUT)
            kill(pid, SIGKILL);
        reap(pid, &status);
        pipes_close(p);
        if (st == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
            c->namespaces = ns;   /* a probe that went through */
            return HEARTH_OK;
        }
        if (ns && (st == 0 || stage_is_namespace(st)))
            return HEARTH_EPERM;
        set_why(why, whylen, "could not start the runner program (%s: %s)",
                stage_name(st), st ? e : ECHILD);
        return HEARTH_EIO;
    }
    memset(c, 0, sizeof *c);
    c->pid = pid;
    c->in = p[IN][1];
    c->out = p[OUT][0];
    c->err = p[ERR][0];
    c->namespaces = ns;
#ifdef SYS_pidfd_open
    c->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
#else
    c->pidfd = -1;
#endif
    return HEARTH_OK;
}

int hearth_exec_start(const hearth_exec_spawn *s, hearth_exec_child *c,
                      char *why, size_t whylen)
{
    int rc = HEARTH_EPERM;
    memset(c, 0, sizeof *c);
    c->pid = -1;
    c->pidfd = c->in = c->out = c->err = -1;
    if (s->namespaces)
        rc = start_once(s, 1, c, why, whylen);
    if (rc == HEARTH_EPERM)
        rc = start_once(s, 0, c, why, whylen);
    return rc;
}

int hearth_exec_exited(hearth_exec_child *c)
{
    if (c->reaped || c->pid <= 0)
        return 1;
    siginfo_t si;
    memset(&si, 0, sizeof si);
    /* WNOWAIT: a zombie keeps the process group id reserved, so a later
     * kill(-pid) cannot reach an unrelated group that reused it */
    if (waitid(P_PID, (id_t)c->pid, &si, WEXITED | WNOHANG | WNOWAIT) != 0)
        return errno == ECHILD;
    return si.si_pid == c->pid;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

int hearth_exec_stop(hearth_exec_child *c)
{
    if (!c->reaped && c->pid > 0) {
        if (!hearth_exec_exited(c)) {
            kill(-c->pid, SIGTERM);
            for (int waited = 0; waited < STOP_GRACE_MS &&
                                 !hearth_exec_exited(c); waited += 10)
                sleep_ms(10);
        }
        /* the rest of the group, even when the leader already left */
        kill(-c->pid, SIGKILL);
        reap(c->pid, &c->status);
        c->reaped = 1;
    }
    close_fd(&c->pidfd);
    close_fd(&c->in);
    close_fd(&c->out);
    close_fd(&c->err);
    return HEARTH_OK;
}

/* ---- the job directory ---- */

int hearth_exec_tmpdir(char *path, size_t len)
{
    const char *base = getenv("TMPDIR");
    if (!base || base[0] != '/')
        base = "/tmp";
    int n = snprintf(path, len, "%s/hearth-exec-XXXXXX", base);
    if (n < 0 || (size_t)n >= len)
        return HEARTH_ETOOBIG;
    return mkdtemp(path) ? HEARTH_OK : HEARTH_EIO;   /* mkdtemp: 0700 */
}

static int rm_at(int at, const char *name, int depth)
{
    if (unlinkat(at, name, 0) == 0 || errno == ENOENT)
        return 0;
    if (depth > 64)
        return -1;
    /* the program may have left directories we cannot list or write */
    fchmodat(at, name, 0700, 0);
    int fd = openat(at, name,
                    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -1;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return -1;
    }
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            rm_at(dirfd(d), e->d_name, depth + 1);
    closedir(d);
    return unlinkat(at, name, AT_REMOVEDIR);
}

int hearth_exec_rmtree(const char *dir)
{
    return rm_at(AT_FDCWD, dir, 0) == 0 ? HEARTH_OK : HEARTH_EIO;
}
