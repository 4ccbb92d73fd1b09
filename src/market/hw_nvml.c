/* Live GPU readings through NVML, loaded at run time. As for CUDA, only the
 * entry points used are declared, with the NVML API reference's types.
 * Devices are found by PCI bus id because CUDA numbers GPUs fastest first
 * (and after CUDA_VISIBLE_DEVICES) while NVML numbers them by bus. */
#include "hw_internal.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

typedef int nvml_ret;                  /* nvmlReturn_t */
typedef struct nvml_device *nvml_dev;  /* nvmlDevice_t, opaque */

enum {
    NVML_OK = 0,
    NVML_INVALID_ARGUMENT = 2,
    NVML_NOT_FOUND = 6,
    NVML_INSUFFICIENT_SIZE = 7,
    NVML_TEMPERATURE_GPU = 0
};

typedef struct { unsigned long long total, free, used; } nvml_memory;
typedef struct { unsigned gpu, memory; } nvml_utilization;
/* process lists: the unversioned call fills v1 records, _v2 and _v3 fill
 * v2 records (MIG instance ids added) */
typedef struct { unsigned pid; unsigned long long used; } nvml_proc_v1;
typedef struct {
    unsigned pid;
    unsigned long long used;
    unsigned gpu_instance, compute_instance;
} nvml_proc_v2;

#define NVML_VALUE_NOT_AVAILABLE (~0ULL)

typedef nvml_ret (*proc_fn)(nvml_dev, unsigned *, void *);

struct proc_list {
    proc_fn fn;
    size_t stride;   /* bytes per record the resolved version fills */
};

struct hearth_gpu_monitor {
    void *lib;
    nvml_ret (*shutdown)(void);
    nvml_ret (*by_bus_id)(const char *id, nvml_dev *dev);
    nvml_ret (*count)(unsigned *n);                                /* opt. */
    nvml_ret (*by_index)(unsigned i, nvml_dev *dev);               /* opt. */
    nvml_ret (*name)(nvml_dev dev, char *name, unsigned len);      /* opt. */
    nvml_ret (*memory)(nvml_dev dev, nvml_memory *m);              /* opt. */
    nvml_ret (*temperature)(nvml_dev dev, int sensor, unsigned *c); /* opt. */
    nvml_ret (*utilization)(nvml_dev dev, nvml_utilization *u);    /* opt. */
    nvml_ret (*power)(nvml_dev dev, unsigned *mw);                 /* opt. */
    struct proc_list compute, graphics;                            /* opt. */
    char driver[80];
};

static const char *nvml_meaning(void *lib, nvml_ret rc)
{
    const char *(*text)(nvml_ret) = NULL;
    switch (rc) {
    case 4: return "permission denied";
    case 9: return "the nvidia kernel module is not loaded";
    case 12: return "NVML cannot find the driver";
    case 18: return "the driver library and the kernel module differ in "
                    "version (reboot after a driver update)";
    }
    if (hearth_hw_dlsym(lib, "nvmlErrorString", &text) == 0 && text) {
        const char *s = text(rc);
        if (s)
            return s;
    }
    return "NVML reported an error";
}

/* newest version of a process-list call that this NVML exports */
static void find_procs(void *lib, const char *base, struct proc_list *l)
{
    static const char *const suffix[] = {"_v3", "_v2", ""};
    char name[80];
    for (size_t i = 0; i < 3; i++) {
        snprintf(name, sizeof name, "%s%s", base, suffix[i]);
        if (hearth_hw_dlsym(lib, name, &l->fn) == 0) {
            l->stride = *suffix[i] ? sizeof(nvml_proc_v2)
                                   : sizeof(nvml_proc_v1);
            return;
        }
    }
    l->fn = NULL;
}

static void load_optional(hearth_gpu_monitor *m)
{
    static const char *const names[] = {
        "nvmlDeviceGetCount_v2", "nvmlDeviceGetHandleByIndex_v2",
        "nvmlDeviceGetName", "nvmlDeviceGetMemoryInfo",
        "nvmlDeviceGetTemperature", "nvmlDeviceGetUtilizationRates",
        "nvmlDeviceGetPowerUsage"};
    void *slots[] = {&m->count, &m->by_index, &m->name, &m->memory,
                     &m->temperature, &m->utilization, &m->power};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (hearth_hw_dlsym(m->lib, names[i], slots[i]))
            memset(slots[i], 0, sizeof(void *));
    find_procs(m->lib, "nvmlDeviceGetComputeRunningProcesses", &m->compute);
    find_procs(m->lib, "nvmlDeviceGetGraphicsRunningProcesses", &m->graphics);
}

int hearth_gpu_monitor_open(hearth_gpu_monitor **out, char *why,
                            size_t whylen)
{
    const char *shown;
    nvml_ret (*init)(void);
    nvml_ret (*version)(char *v, unsigned len);
    *out = NULL;
    hearth_gpu_monitor *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(why, whylen, "out of memory");
        return HEARTH_ENOMEM;
    }
    m->lib = hearth_hw_dlopen("HEARTH_LIBNVML", "libnvidia-ml.so.1", why,
                              whylen, &shown);
    if (!m->lib) {
        free(m);
        return HEARTH_ENOTFOUND;
    }
    const char *missing =
        hearth_hw_dlsym(m->lib, "nvmlInit_v2", &init) ? "nvmlInit_v2"
        : hearth_hw_dlsym(m->lib, "nvmlShutdown", &m->shutdown)
            ? "nvmlShutdown"
        : hearth_hw_dlsym(m->lib, "nvmlDeviceGetHandleByPciBusId_v2",
                          &m->by_bus_id)
            ? "nvmlDeviceGetHandleByPciBusId_v2" : NULL;
    nvml_ret rc = 0;
    if (missing)
        snprintf(why, whylen, "%s lacks %s (driver too old?)", shown,
                 missing);
    else if ((rc = init()) != NVML_OK)
        snprintf(why, whylen, "nvmlInit_v2 failed: %s (error %d)",
                 nvml_meaning(m->lib, rc), rc);
    if (missing || rc != NVML_OK) {
        dlclose(m->lib);
        free(m);
        return HEARTH_ENOTFOUND;
    }
    load_optional(m);
    if (hearth_hw_dlsym(m->lib, "nvmlSystemGetDriverVersion", &version) ||
        version(m->driver, (unsigned)sizeof m->driver) != NVML_OK)
        m->driver[0] = '\0';
    m->driver[sizeof m->driver - 1] = '\0';
    *out = m;
    return HEARTH_OK;
}

void hearth_gpu_monitor_close(hearth_gpu_monitor *m)
{
    if (!m)
        return;
    m->shutdown();  /* NVML counts initialisations; this undoes ours */
    dlclose(m->lib);
    free(m);
}

const char *hearth_gpu_monitor_driver(const hearth_gpu_monitor *m)
{
    return m ? m->driver : "";
}

unsigned hearth_hw_nvml_count(hearth_gpu_monitor *m, char *first,
                              size_t firstlen)
{
    unsigned n = 0;
    nvml_dev dev;
    char name[HEARTH_GPU_NAME_MAX] = "";
    first[0] = '\0';
    if (!m->count || m->count(&n) != NVML_OK)
        return 0;
    if (n && m->by_index && m->name && m->by_index(0, &dev) == NVML_OK &&
        m->name(dev, name, (unsigned)sizeof name) == NVML_OK) {
        name[sizeof name - 1] = '\0';
        hearth_hw_copy(first, firstlen, name);
    }
    return n;
}

static void add_proc(hearth_gpu_reading *r, unsigned pid,
                     unsigned long long used, int graphics, unsigned self)
{
    hearth_gpu_proc *p = NULL;
    for (uint32_t i = 0; i < r->nprocs && !p; i++)
        if (r->procs[i].pid == pid)
            p = &r->procs[i];
    if (!p) {
        /* beyond the array the process still counts, so a full GPU is
         * never mistaken for a free one */
        if (pid != self)
            r->nforeign++;
        if (r->nprocs == HEARTH_GPU_MAX_PROCS) {
            r->procs_truncated = 1;
            return;
        }
        p = &r->procs[r->nprocs++];
        p->pid = pid;
        p->own = pid == self;
        p->used_bytes = HEARTH_GPU_USED_UNKNOWN;
    }
    if (graphics)
        p->graphics = 1;
    else
        p->compute = 1;
    if (used != NVML_VALUE_NOT_AVAILABLE &&
        (p->used_bytes == HEARTH_GPU_USED_UNKNOWN || used > p->used_bytes))
        p->used_bytes = used;
}

/* The list can grow between asking its size and reading it, so retry a
 * few times with the size NVML last gave. */
static int read_procs(const struct proc_list *l, nvml_dev dev,
                      hearth_gpu_reading *r, int graphics)
{
    unsigned cap = 64, self = (unsigned)getpid();
    for (int tries = 0; l->fn && tries < 4; tries++) {
        unsigned n = cap;
        unsigned char *buf = malloc((size_t)cap * l->stride);
        if (!buf)
            return -1;
        nvml_ret rc = l->fn(dev, &n, buf);
        if (rc == NVML_OK) {
            for (unsigned i = 0; i < n && i < cap; i++) {
                nvml_proc_v1 v1;
                nvml_proc_v2 v2;
                if (l->stride == sizeof v1) {
                    memcpy(&v1, buf + i * l->stride, sizeof v1);
                    add_proc(r, v1.pid, v1.used, graphics, self);
                } else {
                    memcpy(&v2, buf + i * l->stride, sizeof v2);
                    add_proc(r, v2.pid, v2.used, graphics, self);
                }
            }
        }
        free(buf);
        if (rc == NVML_OK)
            return 0;
        if (rc != NVML_INSUFFICIENT_SIZE || n <= cap)
            return -1;
        cap = n + 8;
    }
    return -1;
}

int hearth_gpu_sample(hearth_gpu_monitor *m, const char *pci_bus_id,
                      hearth_gpu_reading *out)
{
    nvml_dev dev;
    nvml_memory mem;
    nvml_utilization util;
    unsigned v;
    if (!out)
        return HEARTH_EINVAL;
    memset(out, 0, sizeof *out);
    if (!m || !pci_bus_id || !*pci_bus_id)
        return HEARTH_EINVAL;
    nvml_ret rc = m->by_bus_id(pci_bus_id, &dev);
    if (rc == NVML_NOT_FOUND)
        return HEARTH_ENOTFOUND;
    if (rc == NVML_INVALID_ARGUMENT)
        return HEARTH_EINVAL;
    if (rc != NVML_OK)
        return HEARTH_EIO;
    if (m->memory && m->memory(dev, &mem) == NVML_OK) {
        out->mem_total = mem.total;
        out->mem_free = mem.free;
        out->have |= HEARTH_GPU_HAVE_MEM;
    }
    if (m->temperature &&
        m->temperature(dev, NVML_TEMPERATURE_GPU, &v) == NVML_OK) {
        out->temp_c = v;
        out->have |= HEARTH_GPU_HAVE_TEMP;
    }
    if (m->utilization && m->utilization(dev, &util) == NVML_OK) {
        out->util_gpu = util.gpu;
        out->util_mem = util.memory;
        out->have |= HEARTH_GPU_HAVE_UTIL;
    }
    if (m->power && m->power(dev, &v) == NVML_OK) {
        out->power_mw = v;
        out->have |= HEARTH_GPU_HAVE_POWER;
    }
    /* both lists or neither: half a list would hide a game */
    int c = read_procs(&m->compute, dev, out, 0);
    int g = read_procs(&m->graphics, dev, out, 1);
    if (c == 0 && g == 0)
        out->have |= HEARTH_GPU_HAVE_PROCS;
    else
        out->nprocs = out->nforeign = out->procs_truncated = 0;
    return HEARTH_OK;
}
