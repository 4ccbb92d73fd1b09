/* The game guard (docs/guard.md): decides, from periodic readings of the
 * machine, whether this peer may take jobs now. A gaming PC belongs to its
 * owner first: a game on the GPU, GPU or CPU load this peer did not cause,
 * a hot or power-hungry GPU, hours the owner has not allowed, or the
 * owner's pause switch all make the peer step aside at once; it comes back
 * only after a quiet period without any of them.
 *
 * Pure: the daemon samples NVML, /proc and the clock and hands the readings
 * in (hearth_guard_sample); tests hand in simulated ones. No global state;
 * the caller owns the guard. */
#ifndef HEARTH_GUARD_H
#define HEARTH_GUARD_H

#include <stddef.h>
#include <stdint.h>

#define HEARTH_GUARD_MAX_WINDOWS 8u
#define HEARTH_GUARD_MAX_IGNORE 16u
#define HEARTH_GUARD_NAME_MAX 16u    /* /proc/PID/comm: 15 chars + NUL */
#define HEARTH_GUARD_MAX_PROCS 32u

/* Allowed hours: [start, end) in minutes of the local day; end < start
 * wraps past midnight ("22:00-08:00"). */
typedef struct hearth_guard_window {
    uint16_t start, end;
} hearth_guard_window;

typedef struct hearth_guard_opts {
    uint32_t quiet_s;            /* back after this long without a reason
                                    to step aside (300) */
    uint32_t gpu_temp_max_c;     /* step aside at or above (83; 0: off) */
    uint32_t gpu_temp_resume_c;  /* and stay aside until below (75) */
    uint32_t gpu_power_max_mw;   /* at or above (0: off) */
    uint32_t gpu_foreign_util;   /* GPU busy % while we run nothing on it
                                    that means someone else uses it (25) */
    uint64_t gpu_foreign_mem;    /* bytes of VRAM a foreign graphics
                                    process must hold to count as a game
                                    (256 MiB) */
    uint32_t cpu_foreign_pct;    /* CPU % of all cores used by others
                                    (40; 0: off) */
    hearth_guard_window windows[HEARTH_GUARD_MAX_WINDOWS];
    size_t nwindows;             /* 0: any time */
    /* graphics processes that are always there (desktop, compositor):
     * never a game, whatever they hold */
    char ignore[HEARTH_GUARD_MAX_IGNORE][HEARTH_GUARD_NAME_MAX];
    size_t nignore;
} hearth_guard_opts;

void hearth_guard_opts_default(hearth_guard_opts *o);
/* Parse "HH:MM-HH:MM"; HEARTH_EINVAL with a reason. */
int hearth_guard_window_parse(const char *s, hearth_guard_window *w,
                              const char **why);

typedef struct hearth_guard_proc {
    char name[HEARTH_GUARD_NAME_MAX];  /* its comm, "" unknown */
    uint8_t graphics, compute;
    uint64_t used_bytes;               /* UINT64_MAX: not reported */
} hearth_guard_proc;

/* One reading. Missing readings (no GPU, no NVML) are simply absent: the
 * guard decides on what it has. */
typedef struct hearth_guard_sample {
    int64_t now;                 /* unix seconds */
    uint16_t minute_of_day;      /* local time, 0..1439 */
    int owner_paused;            /* the pause switch (dashboard, CLI) */
    int have_gpu;                /* the GPU fields below are valid */
    int gpu_ours_busy;           /* we run a job on the GPU right now */
    uint32_t gpu_util;           /* % */
    int have_temp, have_power;
    uint32_t gpu_temp_c, gpu_power_mw;
    hearth_guard_proc procs[HEARTH_GUARD_MAX_PROCS]; /* foreign ones */
    size_t nprocs;
    int have_cpu;
    double cpu_foreign_pct;      /* of all cores, used by other processes */
} hearth_guard_sample;

enum hearth_guard_reason {
    HEARTH_GUARD_NONE = 0,
    HEARTH_GUARD_OWNER,          /* paused by the owner */
    HEARTH_GUARD_GAME,           /* a graphics process on the GPU */
    HEARTH_GUARD_GPU_BUSY,       /* GPU load or a compute process not ours */
    HEARTH_GUARD_CPU_BUSY,       /* CPU load not ours */
    HEARTH_GUARD_HOT,            /* GPU temperature */
    HEARTH_GUARD_POWER,          /* GPU power draw */
    HEARTH_GUARD_SCHEDULE        /* outside the allowed hours */
};
const char *hearth_guard_reason_name(int reason);

typedef struct hearth_guard {
    hearth_guard_opts o;
    int aside;                   /* 1: not taking jobs */
    int reason;                  /* why (the first that held) */
    int64_t since;               /* when the current state began */
    int64_t last_cause;          /* last sample with a reason to be aside */
    int hot;                     /* inside the temperature hysteresis */
    char why[160];               /* a sentence for logs and offers */
} hearth_guard;

void hearth_guard_init(hearth_guard *g, const hearth_guard_opts *o);

/* Feed one reading. Returns 1 when the state changed (g->aside, g->reason
 * and g->why tell the new one), 0 otherwise. Stepping aside is immediate;
 * coming back needs quiet_s without any reason (the owner's switch and the
 * schedule take effect at once, since nobody is playing then). */
int hearth_guard_step(hearth_guard *g, const hearth_guard_sample *s);

/* ---- readings from this machine (src/compute/guard_sample.c) ---- */

/* Pure, for tests: busy and total jiffies from the first line of
 * /proc/stat; this process's own (utime + stime) from /proc/self/stat.
 * HEARTH_EINVAL for text that does not parse. */
int hearth_guard_parse_cpu(const char *proc_stat, uint64_t *busy,
                           uint64_t *total);
int hearth_guard_parse_self(const char *self_stat, uint64_t *ticks);

typedef struct hearth_guard_sampler hearth_guard_sampler;

/* pci_bus_id: the GPU to watch ("" or NULL: none; the GPU fields then
 * stay absent). Without NVML the sampler still reads CPU and clock. */
int hearth_guard_sampler_new(const char *pci_bus_id,
                             hearth_guard_sampler **out);
void hearth_guard_sampler_free(hearth_guard_sampler *sm);
/* Take a reading now. The first call has no CPU figure (it needs two
 * readings); gpu_ours_busy and owner_paused are the caller's to say. */
int hearth_guard_sampler_read(hearth_guard_sampler *sm, int owner_paused,
                              int gpu_ours_busy, hearth_guard_sample *out);

#endif
