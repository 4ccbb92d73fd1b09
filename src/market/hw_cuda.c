/* GPUs through the CUDA driver API, loaded at run time. Only the few entry
 * points used are declared, with the types the driver API reference gives
 * them, so building hearth needs no NVIDIA package. Detection creates no
 * CUDA context: that would take VRAM and show hearth as a GPU process. */
#include "hw_internal.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

typedef int cu_result;  /* CUresult */
typedef int cu_device;  /* CUdevice */

enum {
    CU_OK = 0,
    CU_ATTR_SM_COUNT = 16,  /* CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT */
    CU_ATTR_CC_MAJOR = 75,  /* CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR */
    CU_ATTR_CC_MINOR = 76
};

struct cuda {
    cu_result (*init)(unsigned flags);
    cu_result (*driver_version)(int *version);
    cu_result (*count)(int *count);
    cu_result (*get)(cu_device *dev, int ordinal);
    cu_result (*name)(char *name, int len, cu_device dev);
    cu_result (*total_mem)(size_t *bytes, cu_device dev);
    cu_result (*attr)(int *value, int attr, cu_device dev);
    cu_result (*bus_id)(char *id, int len, cu_device dev);      /* optional */
    cu_result (*error_name)(cu_result err, const char **name);  /* optional */
};

/* The failures a user can act on, said in words; the rest by name. */
static const struct {
    cu_result code;
    const char *name, *meaning;
} cu_errors[] = {
    {3, "CUDA_ERROR_NOT_INITIALIZED", "the driver is not initialised"},
    {34, "CUDA_ERROR_STUB_LIBRARY", "this is the CUDA toolkit's stub "
         "library, not the driver's"},
    {35, "CUDA_ERROR_INSUFFICIENT_DRIVER", "the NVIDIA driver is too old"},
    {46, "CUDA_ERROR_DEVICE_UNAVAILABLE", "the GPU is in exclusive or "
         "prohibited compute mode"},
    {100, "CUDA_ERROR_NO_DEVICE", "the driver finds no CUDA GPU"},
    {304, "CUDA_ERROR_OPERATING_SYSTEM", "the operating system refused "
          "access to the GPU"},
    {803, "CUDA_ERROR_SYSTEM_DRIVER_MISMATCH", "the driver library and the "
          "kernel module differ in version (reboot after a driver update)"},
    {999, "CUDA_ERROR_UNKNOWN", "the driver failed (is the nvidia kernel "
          "module loaded?)"},
};

static void cu_why(const struct cuda *cu, const char *call, cu_result rc,
                   char *why, size_t n)
{
    const char *name = NULL, *meaning = "the driver reported an error";
    for (size_t i = 0; i < sizeof cu_errors / sizeof cu_errors[0]; i++)
        if (cu_errors[i].code == rc) {
            name = cu_errors[i].name;
            meaning = cu_errors[i].meaning;
        }
    if (!name && (!cu->error_name || cu->error_name(rc, &name) != CU_OK))
        name = NULL;
    snprintf(why, n, "%s failed: %s (%s%s%d)", call, meaning,
             name ? name : "", name ? " = " : "error ", rc);
}

static int cu_load(void *lib, const char *shown, struct cuda *cu, char *why,
                   size_t n)
{
    static const char *const required[] = {
        "cuInit", "cuDriverGetVersion", "cuDeviceGetCount", "cuDeviceGet",
        "cuDeviceGetName", "cuDeviceTotalMem_v2", "cuDeviceGetAttribute"};
    void *slots[] = {&cu->init, &cu->driver_version, &cu->count, &cu->get,
                     &cu->name, &cu->total_mem, &cu->attr};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        if (hearth_hw_dlsym(lib, required[i], slots[i])) {
            snprintf(why, n, "%s lacks %s (not an NVIDIA driver library, "
                     "or one too old)", shown, required[i]);
            return -1;
        }
    if (hearth_hw_dlsym(lib, "cuDeviceGetPCIBusId", &cu->bus_id))
        cu->bus_id = NULL;
    if (hearth_hw_dlsym(lib, "cuGetErrorName", &cu->error_name))
        cu->error_name = NULL;
    return 0;
}

/* One device into g; a failing query is reported in why. */
static int cu_device_read(const struct cuda *cu, int ordinal, hearth_gpu *g,
                          char *why, size_t n)
{
    cu_device dev;
    size_t bytes = 0;
    int major = 0, minor = 0, sms = 0;
    char name[256] = "";
    cu_result rc;
    if ((rc = cu->get(&dev, ordinal)) != CU_OK) {
        cu_why(cu, "cuDeviceGet", rc, why, n);
        return -1;
    }
    if ((rc = cu->name(name, (int)sizeof name - 1, dev)) != CU_OK ||
        (rc = cu->total_mem(&bytes, dev)) != CU_OK ||
        (rc = cu->attr(&major, CU_ATTR_CC_MAJOR, dev)) != CU_OK ||
        (rc = cu->attr(&minor, CU_ATTR_CC_MINOR, dev)) != CU_OK ||
        (rc = cu->attr(&sms, CU_ATTR_SM_COUNT, dev)) != CU_OK) {
        cu_why(cu, "reading a CUDA device", rc, why, n);
        return -1;
    }
    memset(g, 0, sizeof *g);
    name[sizeof name - 1] = '\0';
    hearth_hw_copy(g->name, sizeof g->name, name);
    /* without the bus id the GPU still computes, only its live readings
     * cannot be matched to NVML's device */
    if (cu->bus_id &&
        cu->bus_id(g->pci_bus_id, (int)sizeof g->pci_bus_id, dev) != CU_OK)
        g->pci_bus_id[0] = '\0';
    g->pci_bus_id[sizeof g->pci_bus_id - 1] = '\0';
    g->ordinal = ordinal;
    g->vram_total = bytes;
    g->cc_major = major > 0 && major < 100 ? (uint16_t)major : 0;
    g->cc_minor = minor > 0 && minor < 100 ? (uint16_t)minor : 0;
    g->sm_count = sms > 0 ? (uint32_t)sms : 0;
    uint64_t mb = bytes >> 20;
    g->tier = hearth_gpu_tier(mb > UINT32_MAX ? UINT32_MAX : (uint32_t)mb,
                              g->cc_major, g->cc_minor);
    return 0;
}

int hearth_hw_cuda_scan(hearth_hw *hw)
{
    const char *shown;
    struct cuda cu;
    char *why = hw->no_gpu;
    size_t n = sizeof hw->no_gpu;
    void *lib = hearth_hw_dlopen("HEARTH_LIBCUDA", "libcuda.so.1", why, n,
                                 &shown);
    if (!lib)
        return 0;
    int count = 0, empty = 0;
    cu_result rc;
    if (cu_load(lib, shown, &cu, why, n))
        goto out;
    /* answers before cuInit: says which CUDA the driver speaks even when
     * it then finds no GPU */
    if (cu.driver_version(&hw->cuda_version) != CU_OK)
        hw->cuda_version = 0;
    if ((rc = cu.init(0)) != CU_OK) {
        cu_why(&cu, "cuInit", rc, why, n);
        empty = rc == 100;
        goto out;
    }
    if ((rc = cu.count(&count)) != CU_OK) {
        cu_why(&cu, "cuDeviceGetCount", rc, why, n);
        goto out;
    }
    if (count <= 0) {
        snprintf(why, n, "the CUDA driver reports no devices");
        empty = 1;
        goto out;
    }
    for (int i = 0; i < count && hw->ngpus < HEARTH_HW_MAX_GPUS; i++)
        if (cu_device_read(&cu, i, &hw->gpus[hw->ngpus], why, n) == 0)
            hw->ngpus++;
    if (hw->ngpus)
        why[0] = '\0';  /* a skipped device does not mean "no GPU" */
out:
    dlclose(lib);
    return empty;
}
