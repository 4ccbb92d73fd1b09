/* `hearth hw` end to end: run the binary (argv[1]) against the fake
 * NVIDIA libraries named in HW_FAKE_CUDA / HW_FAKE_NVML and against none,
 * and check what it prints. */
#include "../unit/tap.h"

#include <jansson.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *hearth;

/* Output of `hearth ARGS` (stdout only) and its exit status. */
static char *run(const char *args, int *status)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' %s 2>/dev/null", hearth, args);
    FILE *p = popen(cmd, "r");
    if (!p) {
        perror("popen");
        exit(1);
    }
    size_t cap = 1 << 16, len = 0, n;
    char *out = malloc(cap);
    while (out && (n = fread(out + len, 1, cap - 1 - len, p)) > 0) {
        len += n;
        if (len == cap - 1)
            out = realloc(out, cap *= 2);
    }
    if (!out)
        exit(1);
    out[len] = '\0';
    int st = pclose(p);
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return out;
}

static json_t *at(json_t *o, const char *k)
{
    return o ? json_object_get(o, k) : NULL;
}

static int num(json_t *o, const char *k, json_int_t want)
{
    json_t *v = at(o, k);
    return json_is_integer(v) && json_integer_value(v) == want;
}

static int str(json_t *o, const char *k, const char *want)
{
    json_t *v = at(o, k);
    return json_is_string(v) && !strcmp(json_string_value(v), want);
}

static void test_json_with_gpus(void)
{
    int status;
    setenv("HEARTH_LIBCUDA", getenv("HW_FAKE_CUDA"), 1);
    setenv("HEARTH_LIBNVML", getenv("HW_FAKE_NVML"), 1);
    char *out = run("hw --json", &status);
    CHECK(status == 0);
    json_error_t err;
    json_t *root = json_loads(out, 0, &err);
    CHECKF(root != NULL, "%s in: %s", err.text, out);
    json_t *gpus = at(root, "gpus");
    CHECK(json_array_size(gpus) == 2);
    json_t *a = json_array_get(gpus, 0), *b = json_array_get(gpus, 1);
    CHECK(str(a, "name", "NVIDIA GeForce RTX 4090"));
    CHECK(str(a, "pci_bus_id", "0000:02:00.0"));
    CHECK(num(a, "ordinal", 0) && num(a, "tier", 1) && num(a, "sms", 128));
    CHECK(num(a, "vram_total_mib", 24217) && num(a, "vram_free_mib", 18000));
    CHECK(str(a, "compute_capability", "8.9"));
    CHECK(num(a, "temperature_c", 63) && num(a, "utilization_gpu", 97) &&
          num(a, "utilization_memory", 41) && num(a, "power_mw", 312500));
    CHECK(num(a, "other_processes", 2));
    CHECK(json_is_false(at(a, "processes_truncated")));
    json_t *procs = at(a, "processes");
    CHECK(json_array_size(procs) == 3);
    int seen = 0;
    for (size_t i = 0; i < json_array_size(procs); i++) {
        json_t *p = json_array_get(procs, i);
        if (num(p, "pid", 4242))
            seen += json_is_true(at(p, "compute")) &&
                    json_is_true(at(p, "graphics")) &&
                    json_is_false(at(p, "own")) && num(p, "used_mib", 5120);
        if (num(p, "pid", 1234))
            seen += json_is_null(at(p, "used_mib")) &&
                    json_is_true(at(p, "graphics"));
    }
    CHECK(seen == 2);
    CHECK(str(b, "name", "NVIDIA GeForce GTX 1060 6GB"));
    CHECK(num(b, "tier", 3) && num(b, "vram_total_mib", 6075));
    CHECK(str(b, "compute_capability", "6.1"));
    CHECK(json_is_null(at(b, "power_mw")) && num(b, "temperature_c", 41));
    CHECK(json_array_size(at(b, "processes")) == 0);
    json_t *drv = at(root, "driver");
    CHECK(str(drv, "version", "580.95.05") && str(drv, "cuda", "13.0"));
    CHECK(json_is_null(at(root, "no_gpu")) && json_is_null(at(root,
                                                              "no_live")));
    json_t *s = at(root, "summary");
    CHECK(num(s, "tier", 1) && str(s, "gpu", "NVIDIA GeForce RTX 4090") &&
          num(s, "gpu_count", 1) && num(s, "vram_mib", 24217));
    json_t *cpu = at(root, "cpu");
    CHECK(json_integer_value(at(cpu, "threads")) ==
          sysconf(_SC_NPROCESSORS_ONLN));
    CHECK(json_is_boolean(at(cpu, "sha")) && json_is_string(at(cpu,
                                                               "model")));
    json_decref(root);
    free(out);

    out = run("hw", &status);
    CHECK(status == 0);
    CHECKF(strstr(out, "GPU 0:          NVIDIA GeForce RTX 4090 (tier 1)") &&
               strstr(out, "24217 MiB total, 18000 MiB free") &&
               strstr(out, "capability 8.9, 128 SMs") &&
               strstr(out, "312.5 W") &&
               strstr(out, "4242 (compute+graphics, 5120 MiB)") &&
               strstr(out, "this hearth") &&
               strstr(out, "Power:        not reported") &&
               strstr(out, "580.95.05, CUDA 13.0") &&
               strstr(out, "Tier:           1 (1 x NVIDIA GeForce RTX 4090"),
           "%s", out);
    free(out);
}

static void test_no_gpu(void)
{
    int status;
    setenv("HEARTH_LIBCUDA", "/nonexistent/libcuda.so.1", 1);
    char *out = run("hw", &status);
    CHECK(status == 0);
    CHECKF(strstr(out, "No NVIDIA GPU found (/nonexistent/libcuda.so.1 "
                       "(from HEARTH_LIBCUDA) not found); hearth will use "
                       "the CPU.\n") &&
               strstr(out, "CPU:") && strstr(out, "Memory:") &&
               strstr(out, "Tier:           0 (CPU only"),
           "%s", out);
    free(out);
    out = run("hw --json", &status);
    json_t *root = json_loads(out, 0, NULL);
    CHECK(status == 0 && root);
    CHECK(json_array_size(at(root, "gpus")) == 0);
    CHECK(json_is_string(at(root, "no_gpu")));
    CHECK(num(at(root, "summary"), "tier", 0));
    CHECK(json_is_null(at(at(root, "summary"), "gpu")));
    json_decref(root);
    free(out);
}

static void test_usage(void)
{
    int status;
    char *out = run("hw --help", &status);
    CHECK(status == 0 && strstr(out, "usage: hearth hw [--json]"));
    free(out);
    out = run("hw --bogus", &status);
    CHECK(status == 2 && !*out);
    free(out);
    out = run("--help", &status);
    CHECK(status == 0 && strstr(out, "  hw "));
    free(out);
}

int main(int argc, char **argv)
{
    if (argc != 2 || !getenv("HW_FAKE_CUDA") || !getenv("HW_FAKE_NVML")) {
        fprintf(stderr, "usage: test_hw_cli HEARTH (through meson test)\n");
        return 1;
    }
    hearth = argv[1];
    test_json_with_gpus();
    test_no_gpu();
    test_usage();
    return tap_done();
}
