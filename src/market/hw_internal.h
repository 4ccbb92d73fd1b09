/* Shared by hw.c (CPU, memory, tiers), hw_cuda.c (the CUDA driver API) and
 * hw_nvml.c (NVML). Not installed; the parsers are here so tests can feed
 * them the /proc text of other machines. */
#ifndef HEARTH_HW_INTERNAL_H
#define HEARTH_HW_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "hearth/error.h"
#include "hearth/hw.h"

/* dlopen the library named by $env, else soname. The NVIDIA libraries
 * stay mapped after dlclose (RTLD_NODELETE): they are not written to be
 * unloaded (handlers or threads they leave behind could outlive their
 * code), and a CUDA program keeps them loaded anyway. NULL with a reason
 * in why on failure; *shown is the name used (for messages). */
void *hearth_hw_dlopen(const char *env, const char *soname, char *why,
                       size_t whylen, const char **shown);

/* Resolve name into the function pointer at fp (of pointer size). */
int hearth_hw_dlsym(void *lib, const char *name, void *fp);

/* Find the GPUs with the CUDA driver API: fills hw->gpus, ngpus,
 * cuda_version, or hw->no_gpu. Returns 1 when the driver loaded and
 * initialised but reported no device (worth asking NVML why), else 0. */
int hearth_hw_cuda_scan(hearth_hw *hw);

/* How many GPUs NVML sees and the first one's name (for the reason when
 * CUDA sees none). 0 when it cannot tell. */
unsigned hearth_hw_nvml_count(hearth_gpu_monitor *m, char *first,
                              size_t firstlen);

/* "model name" (or the architecture's equivalent) from /proc/cpuinfo text;
 * 0 if found, HEARTH_ENOTFOUND otherwise */
int hearth_hw_parse_cpuinfo(const char *text, char *model, size_t n);
/* MemTotal and MemAvailable (else MemFree) from /proc/meminfo text, in
 * bytes; HEARTH_ENOTFOUND without MemTotal */
int hearth_hw_parse_meminfo(const char *text, uint64_t *total,
                            uint64_t *avail);

/* bounded copy that never ends inside a UTF-8 sequence */
void hearth_hw_copy(char *dst, size_t n, const char *src);

#endif
