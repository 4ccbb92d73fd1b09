/* A stand-in for libnvidia-ml.so.1 matching tests/hw/fake_cuda.c, loaded
 * through HEARTH_LIBNVML. NVML numbers the GPUs by PCI bus, so its index 0
 * is CUDA's ordinal 1. The RTX 4090 runs a foreign CUDA job (pid 4242,
 * which also draws), a compositor (pid 1234, memory not reported) and the
 * calling process; the GTX 1060 is idle and cannot report its power.
 * FAKE_NVML_EXTRA_PROCS=N in the environment adds N more compute
 * processes to the 4090 (tests the list growing past what was asked).
 * Built two ways: (default), and -DFAKE_INIT_RESULT=N (nvmlInit fails). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef FAKE_INIT_RESULT
#define FAKE_INIT_RESULT 0
#endif

enum {
    OK = 0, UNINITIALIZED = 1, INVALID_ARGUMENT = 2, NOT_SUPPORTED = 3,
    NOT_FOUND = 6, INSUFFICIENT_SIZE = 7
};

#define NOT_AVAILABLE (~0ULL)
#define MIB (1024ULL * 1024ULL)

struct device {
    const char *name;
    unsigned domain, bus;
    unsigned long long total, free;
    unsigned temp, util_gpu, util_mem, power_mw;  /* power 0: unsupported */
};

static struct device devices[] = {
    {"NVIDIA GeForce GTX 1060 6GB", 0, 1, 6144 * MIB, 6000 * MIB, 41, 0, 0,
     0},
    {"NVIDIA GeForce RTX 4090", 0, 2, 24564 * MIB, 18000 * MIB, 63, 97, 41,
     312500},
};

#define NDEV (sizeof devices / sizeof devices[0])

typedef struct { unsigned pid; unsigned long long used; } proc_v1;
typedef struct {
    unsigned pid;
    unsigned long long used;
    unsigned gi, ci;
} proc_v2;

static int refs;  /* NVML counts nvmlInit_v2 calls against nvmlShutdown */

/* for the test: initialisations not yet shut down */
int fake_nvml_refcount(void)
{
    return refs;
}

int nvmlInit_v2(void)
{
    if (FAKE_INIT_RESULT)
        return FAKE_INIT_RESULT;
    refs++;
    return OK;
}

int nvmlShutdown(void)
{
    if (!refs)
        return UNINITIALIZED;
    refs--;
    return OK;
}

const char *nvmlErrorString(int rc)
{
    return rc == NOT_FOUND ? "Not Found" : "Fake NVML error";
}

int nvmlSystemGetDriverVersion(char *v, unsigned len)
{
    if (!refs)
        return UNINITIALIZED;
    if (len < 10)
        return INSUFFICIENT_SIZE;
    snprintf(v, len, "580.95.05");
    return OK;
}

int nvmlDeviceGetCount_v2(unsigned *n)
{
    if (!refs)
        return UNINITIALIZED;
    *n = NDEV;
    return OK;
}

int nvmlDeviceGetHandleByIndex_v2(unsigned i, struct device **d)
{
    if (!refs)
        return UNINITIALIZED;
    if (i >= NDEV)
        return INVALID_ARGUMENT;
    *d = &devices[i];
    return OK;
}

/* accepts domain:bus:device.function with any number of domain digits */
int nvmlDeviceGetHandleByPciBusId_v2(const char *id, struct device **d)
{
    unsigned domain, bus, dev, fn;
    char end;
    if (!refs)
        return UNINITIALIZED;
    if (sscanf(id, "%x:%x:%x.%x%c", &domain, &bus, &dev, &fn, &end) != 4)
        return INVALID_ARGUMENT;
    for (size_t i = 0; i < NDEV; i++)
        if (devices[i].domain == domain && devices[i].bus == bus &&
            dev == 0 && fn == 0) {
            *d = &devices[i];
            return OK;
        }
    return NOT_FOUND;
}

int nvmlDeviceGetName(struct device *d, char *name, unsigned len)
{
    if (!refs)
        return UNINITIALIZED;
    if (strlen(d->name) >= len)
        return INSUFFICIENT_SIZE;
    memcpy(name, d->name, strlen(d->name) + 1);
    return OK;
}

int nvmlDeviceGetMemoryInfo(struct device *d, unsigned long long m[3])
{
    if (!refs)
        return UNINITIALIZED;
    m[0] = d->total;
    m[1] = d->free;
    m[2] = d->total - d->free;
    return OK;
}

int nvmlDeviceGetTemperature(struct device *d, int sensor, unsigned *t)
{
    if (!refs)
        return UNINITIALIZED;
    if (sensor != 0)
        return INVALID_ARGUMENT;
    *t = d->temp;
    return OK;
}

int nvmlDeviceGetUtilizationRates(struct device *d, unsigned u[2])
{
    if (!refs)
        return UNINITIALIZED;
    u[0] = d->util_gpu;
    u[1] = d->util_mem;
    return OK;
}

int nvmlDeviceGetPowerUsage(struct device *d, unsigned *mw)
{
    if (!refs)
        return UNINITIALIZED;
    if (!d->power_mw)
        return NOT_SUPPORTED;
    *mw = d->power_mw;
    return OK;
}

/* Fill at most *n records; with too small a buffer say how many are
 * needed, as NVML does. */
static int give(unsigned *n, const proc_v2 *src, unsigned count, void *out,
                int v1)
{
    if (*n < count) {
        *n = count;
        return INSUFFICIENT_SIZE;
    }
    for (unsigned i = 0; i < count; i++) {
        if (v1) {
            proc_v1 p = {src[i].pid, src[i].used};
            memcpy((char *)out + i * sizeof p, &p, sizeof p);
        } else {
            memcpy((char *)out + i * sizeof *src, &src[i], sizeof *src);
        }
    }
    *n = count;
    return OK;
}

/* the newest version only, as a current driver has it */
int nvmlDeviceGetComputeRunningProcesses_v3(struct device *d, unsigned *n,
                                            proc_v2 *out)
{
    static proc_v2 list[2 + 1000];
    const char *extra = getenv("FAKE_NVML_EXTRA_PROCS");
    unsigned count = 0, more = extra ? (unsigned)atoi(extra) : 0;
    if (!refs)
        return UNINITIALIZED;
    if (d == &devices[1]) {
        list[count++] = (proc_v2){4242, 5120 * MIB, ~0u, ~0u};
        list[count++] = (proc_v2){(unsigned)getpid(), 512 * MIB, ~0u, ~0u};
        for (unsigned i = 0; i < more && i < 1000; i++)
            list[count++] = (proc_v2){10000 + i, 64 * MIB, ~0u, ~0u};
    }
    return give(n, list, count, out, 0);
}

/* only the unversioned (v1 records) call, as an older driver has it */
int nvmlDeviceGetGraphicsRunningProcesses(struct device *d, unsigned *n,
                                          proc_v1 *out)
{
    proc_v2 list[2];
    unsigned count = 0;
    if (!refs)
        return UNINITIALIZED;
    if (d == &devices[1]) {
        list[count++] = (proc_v2){1234, NOT_AVAILABLE, 0, 0};
        list[count++] = (proc_v2){4242, 100 * MIB, 0, 0};
    }
    return give(n, list, count, out, 1);
}
