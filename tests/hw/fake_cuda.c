/* A stand-in for libcuda.so.1 with two GPUs, for tests/unit/test_hw.c and
 * tests/hw/test_hw_cli.c (loaded through HEARTH_LIBCUDA). It numbers the
 * GPUs fastest first, as the real driver does, so CUDA ordinal 0 sits on
 * the higher PCI bus; the test checks that NVML readings still land on the
 * right GPU. Built three ways:
 *   (default)               both GPUs
 *   -DFAKE_OMIT_ATTRIBUTE   without cuDeviceGetAttribute (a broken library)
 *   -DFAKE_INIT_RESULT=N    cuInit fails with N */
#include <stddef.h>
#include <stdio.h>

#ifndef FAKE_INIT_RESULT
#define FAKE_INIT_RESULT 0
#endif

enum { OK = 0, INVALID_VALUE = 1, NOT_INITIALIZED = 3, INVALID_DEVICE = 101 };

static const struct {
    const char *name, *bus;
    size_t bytes;
    int major, minor, sms;
} gpus[] = {
    /* what the real cards report: less than their nominal size */
    {"NVIDIA GeForce RTX 4090", "0000:02:00.0", 25393692672u, 8, 9, 128},
    {"NVIDIA GeForce GTX 1060 6GB", "0000:01:00.0", 6370295808u, 6, 1, 10},
};

#define NGPUS ((int)(sizeof gpus / sizeof gpus[0]))
/* handles are not ordinals, so code that mixes them up fails the test */
#define HANDLE_BASE 7000

static int initialised;

static int lookup(int dev)
{
    if (!initialised)
        return -NOT_INITIALIZED;
    if (dev < HANDLE_BASE || dev >= HANDLE_BASE + NGPUS)
        return -INVALID_DEVICE;
    return dev - HANDLE_BASE;
}

int cuInit(unsigned flags)
{
    if (flags)
        return INVALID_VALUE;
    if (FAKE_INIT_RESULT)
        return FAKE_INIT_RESULT;
    initialised = 1;
    return OK;
}

int cuDriverGetVersion(int *version)
{
    if (!version)
        return INVALID_VALUE;
    *version = 13000;
    return OK;
}

int cuDeviceGetCount(int *count)
{
    if (!initialised)
        return NOT_INITIALIZED;
    *count = NGPUS;
    return OK;
}

int cuDeviceGet(int *dev, int ordinal)
{
    if (!initialised)
        return NOT_INITIALIZED;
    if (ordinal < 0 || ordinal >= NGPUS)
        return INVALID_DEVICE;
    *dev = HANDLE_BASE + ordinal;
    return OK;
}

int cuDeviceGetName(char *name, int len, int dev)
{
    int i = lookup(dev);
    if (i < 0)
        return -i;
    if (!name || len <= 0)
        return INVALID_VALUE;
    snprintf(name, (size_t)len, "%s", gpus[i].name);
    return OK;
}

int cuDeviceTotalMem_v2(size_t *bytes, int dev)
{
    int i = lookup(dev);
    if (i < 0)
        return -i;
    *bytes = gpus[i].bytes;
    return OK;
}

#ifndef FAKE_OMIT_ATTRIBUTE
int cuDeviceGetAttribute(int *value, int attr, int dev)
{
    int i = lookup(dev);
    if (i < 0)
        return -i;
    switch (attr) {
    case 16: *value = gpus[i].sms; return OK;
    case 75: *value = gpus[i].major; return OK;
    case 76: *value = gpus[i].minor; return OK;
    }
    return INVALID_VALUE;
}
#endif

int cuDeviceGetPCIBusId(char *id, int len, int dev)
{
    int i = lookup(dev);
    if (i < 0)
        return -i;
    if (!id || len < 13)
        return INVALID_VALUE;
    snprintf(id, (size_t)len, "%s", gpus[i].bus);
    return OK;
}

int cuGetErrorName(int err, const char **name)
{
    *name = err == INVALID_DEVICE ? "CUDA_ERROR_INVALID_DEVICE"
                                  : "CUDA_ERROR_FAKE";
    return OK;
}
