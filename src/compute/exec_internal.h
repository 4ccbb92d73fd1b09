/* The exec runner's private parts: starting a program in its sandbox,
 * stopping it, and the per-job temporary directory
 * (docs/runner-exec.md). */
#ifndef HEARTH_EXEC_INTERNAL_H
#define HEARTH_EXEC_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "hearth/buf.h"
#include "hearth/runner.h"

/* How to start one program. Everything the child needs is prepared here
 * by the parent, because after clone the child may only make
 * async-signal-safe calls (the peer is multithreaded). */
typedef struct hearth_exec_spawn {
    const char *program;        /* absolute path; NULL = probe: set the
                                   sandbox up, then exit 0 */
    char *const *argv;
    char *const *envp;
    const char *cwd;            /* the job directory */
    const char *const *hidden;  /* NULL-terminated, or NULL */
    int namespaces;             /* try the namespace sandbox first */
    int network;                /* keep the host's network */
    uint64_t mem_limit;         /* RLIMIT_AS; 0 = none */
    uint64_t cpu_limit_s;       /* RLIMIT_CPU; 0 = none */
    uint64_t max_file;          /* RLIMIT_FSIZE; 0 = none */
    uint32_t max_procs;         /* RLIMIT_NPROC; 0 = none */
    uint32_t max_files;         /* RLIMIT_NOFILE; 0 = none */
} hearth_exec_spawn;

/* A started program. The parent's ends of its pipes are close-on-exec;
 * -1 once closed. */
typedef struct hearth_exec_child {
    pid_t pid;                  /* also its process group and session */
    int pidfd;                  /* readable once it exits; -1 if the
                                   kernel has no pidfd_open */
    int in, out, err;
    int namespaces;             /* 1 if it runs in the namespace sandbox */
    int reaped;
    int status;                 /* wait status once reaped */
} hearth_exec_child;

/* Start s. Falls back from the namespace sandbox to rlimits only when
 * the kernel refuses namespaces. HEARTH_EIO with why when the program
 * cannot be started. */
int hearth_exec_start(const hearth_exec_spawn *s, hearth_exec_child *c,
                      char *why, size_t whylen);
/* Nonzero once the program (the group leader) has exited; not reaped
 * yet, so its process group id stays reserved for hearth_exec_stop. */
int hearth_exec_exited(hearth_exec_child *c);
/* Kill the whole process group (SIGTERM, a short grace, SIGKILL), reap
 * the program and close the pipes. Safe to call twice. */
int hearth_exec_stop(hearth_exec_child *c);

/* One conversation with a started program (runner_exec_io.c). */
typedef struct hearth_exec_talk {
    const hearth_runner_io *io;    /* never NULL */
    hearth_runner_result *res;     /* output, usage and error land here */
    int describe;                  /* --describe: keep the one line */
    json_t *described;             /* that line, owned */
    const char *request;           /* written to stdin, then closed */
    size_t request_len;
    uint64_t max_output;           /* stdout bytes allowed */
    int64_t deadline_ms;           /* on hearth_exec_now_ms's clock */
    /* filled while talking */
    hearth_buf line;               /* the stdout line being assembled */
    uint64_t total;                /* stdout bytes read */
    int final;                     /* 0, FINAL_RESULT or FINAL_ERROR */
    int error_rc;                  /* HEARTH_EINVAL or HEARTH_EIO */
    int broken;                    /* a protocol failure, res->error set */
} hearth_exec_talk;

enum { HEARTH_EXEC_FINAL_RESULT = 1, HEARTH_EXEC_FINAL_ERROR = 2 };

/* Longest stdout line a program may write. */
#define HEARTH_EXEC_LINE_MAX (1024u * 1024u)

int64_t hearth_exec_now_ms(void);
/* Write the request, read and act on every line until the program is
 * gone, the deadline passes (HEARTH_ETIMEDOUT), io says stop
 * (HEARTH_ECANCELED) or it breaks the protocol (HEARTH_EIO, res->error
 * set). Leaves the program running on failure: hearth_exec_stop it. */
int hearth_exec_talk_run(hearth_exec_talk *t, hearth_exec_child *c);
void hearth_exec_talk_free(hearth_exec_talk *t);
/* "8 MiB", "64 KiB", "1000 bytes" */
void hearth_exec_fmt_size(uint64_t n, char *out, size_t len);

/* A fresh 0700 directory under $TMPDIR or /tmp; path holds PATH_MAX. */
int hearth_exec_tmpdir(char *path, size_t len);
/* Remove dir and everything below it, whatever the program left. */
int hearth_exec_rmtree(const char *dir);

#endif
