/* The game guard's readings of this machine: the clock, CPU load from
 * /proc, and the GPU from NVML (docs/guard.md). */
#include "hearth/guard.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hearth/error.h"
#include "hearth/hw.h"

struct hearth_guard_sampler {
    hearth_gpu_monitor *mon;      /* NULL without NVML */
    char pci[32];
    uint64_t busy, total, self;   /* the previous CPU reading */
    int have_prev;
    unsigned ncpu;
};

/* small kernel files: read whole, bounded, NUL-terminated */
static int slurp(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n;
    do
        n = read(fd, buf, cap - 1);
    while (n < 0 && errno == EINTR);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    return 0;
}

int hearth_guard_parse_cpu(const char *t, uint64_t *busy, uint64_t *total)
{
    unsigned long long v[8] = {0};
    if (strncmp(t, "cpu ", 4) ||
        sscanf(t + 4, "%llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
               &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) < 4)
        return HEARTH_EINVAL;
    uint64_t sum = 0;
    for (int i = 0; i < 8; i++)
        sum += v[i];
    *total = sum;
    *busy = sum - v[3] - v[4]; /* idle and iowait are not load */
    return HEARTH_OK;
}

int hearth_guard_parse_self(const char *t, uint64_t *ticks)
{
    /* the command name may hold spaces and ')': fields start after the
     * last ')' */
    const char *p = strrchr(t, ')');
    unsigned long long ut, st;
    if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
                            "%llu %llu", &ut, &st) != 2)
        return HEARTH_EINVAL;
    *ticks = ut + st;
    return HEARTH_OK;
}

int hearth_guard_sampler_new(const char *pci, hearth_guard_sampler **out)
{
    hearth_guard_sampler *sm = calloc(1, sizeof *sm);
    char why[256];
    *out = NULL;
    if (!sm)
        return HEARTH_ENOMEM;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    sm->ncpu = n > 0 ? (unsigned)n : 1;
    if (pci && *pci) {
        snprintf(sm->pci, sizeof sm->pci, "%s", pci);
        if (hearth_gpu_monitor_open(&sm->mon, why, sizeof why))
            sm->mon = NULL; /* no NVML: CPU and clock only */
    }
    *out = sm;
    return HEARTH_OK;
}

void hearth_guard_sampler_free(hearth_guard_sampler *sm)
{
    if (!sm)
        return;
    hearth_gpu_monitor_close(sm->mon);
    free(sm);
}

/* Load by others, % of all cores, between this reading and the last. */
static void read_cpu(hearth_guard_sampler *sm, hearth_guard_sample *out)
{
    char buf[4096];
    uint64_t busy, total, self;
    if (slurp("/proc/stat", buf, sizeof buf) ||
        hearth_guard_parse_cpu(buf, &busy, &total) ||
        slurp("/proc/self/stat", buf, sizeof buf) ||
        hearth_guard_parse_self(buf, &self))
        return;
    if (sm->have_prev && total > sm->total && busy >= sm->busy) {
        /* /proc/stat counts all cores; ours is per process: same unit */
        double all = (double)(total - sm->total);
        double others = (double)(busy - sm->busy) - (double)(self - sm->self);
        out->have_cpu = 1;
        out->cpu_foreign_pct = others > 0 ? 100.0 * others / all : 0;
    }
    sm->busy = busy;
    sm->total = total;
    sm->self = self;
    sm->have_prev = 1;
}

static void proc_name(uint32_t pid, char out[HEARTH_GUARD_NAME_MAX])
{
    char path[64], buf[64];
    out[0] = '\0';
    snprintf(path, sizeof path, "/proc/%u/comm", pid);
    if (slurp(path, buf, sizeof buf))
        return;
    size_t n = strcspn(buf, "\n");
    if (n >= HEARTH_GUARD_NAME_MAX)
        n = HEARTH_GUARD_NAME_MAX - 1; /* comm is 15 bytes at most */
    memcpy(out, buf, n);
    out[n] = '\0';
}

static void read_gpu(hearth_guard_sampler *sm, hearth_guard_sample *out)
{
    hearth_gpu_reading r;
    if (!sm->mon || hearth_gpu_sample(sm->mon, sm->pci, &r))
        return;
    out->have_gpu = !!(r.have & (HEARTH_GPU_HAVE_UTIL | HEARTH_GPU_HAVE_PROCS));
    out->gpu_util = r.util_gpu;
    out->have_temp = !!(r.have & HEARTH_GPU_HAVE_TEMP);
    out->gpu_temp_c = r.temp_c;
    out->have_power = !!(r.have & HEARTH_GPU_HAVE_POWER);
    out->gpu_power_mw = r.power_mw;
    for (uint32_t i = 0; i < r.nprocs && out->nprocs < HEARTH_GUARD_MAX_PROCS;
         i++) {
        if (r.procs[i].own)
            continue;
        hearth_guard_proc *p = &out->procs[out->nprocs++];
        proc_name(r.procs[i].pid, p->name);
        p->graphics = r.procs[i].graphics;
        p->compute = r.procs[i].compute;
        p->used_bytes = r.procs[i].used_bytes;
    }
}

int hearth_guard_sampler_read(hearth_guard_sampler *sm, int owner_paused,
                              int gpu_ours_busy, hearth_guard_sample *out)
{
    struct tm tm;
    memset(out, 0, sizeof *out);
    time_t now = time(NULL);
    out->now = (int64_t)now;
    if (localtime_r(&now, &tm))
        out->minute_of_day = (uint16_t)(tm.tm_hour * 60 + tm.tm_min);
    out->owner_paused = owner_paused;
    out->gpu_ours_busy = gpu_ours_busy;
    read_cpu(sm, out);
    read_gpu(sm, out);
    return HEARTH_OK;
}
