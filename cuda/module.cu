/*
 * module.cu — the CUDA backend as a module: its one exported entry point,
 * and the few core services the backend's code calls, forwarded to the
 * core that loaded it (src/module.h).
 *
 * The backend's files call inc__error, inc__calloc, inc__free and
 * inc__fault_should_fail as if they were linked into the core; here those
 * names are defined once, each calling through the table the core passed
 * to the entry point. So messages, allocations and the fault-injection
 * counter stay the core's own, and the module needs none of its code.
 */
#include <atomic>
#include <stdio.h>
#include "common.cuh"
#include "module.h"

/* The core's table: set by the entry point (always to the same table of
 * the one core that loads the module), read by every forwarder. */
static std::atomic<const inc__host *> inc__cuda_host{nullptr};

static const inc__host *host(void) { return inc__cuda_host.load(std::memory_order_acquire); }

inc_status inc__error(inc_context *ctx, inc_status s, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  s = host()->verror(ctx, s, fmt, ap);
  va_end(ap);
  return s;
}

void *inc__calloc(size_t count, size_t size) { return host()->calloc(count, size); }
void inc__free(void *p) { host()->free(p); }
int inc__fault_should_fail(void) { return host()->fault_should_fail(); }

static const inc__module inc__cuda_module = {
    INC__MODULE_VERSION, sizeof(inc_context), sizeof(inc__backend_ops), inc__cuda_probe,
    inc__cuda_init,
};

extern "C" __attribute__((visibility("default"))) int
inc_backend_module_entry(unsigned version, const inc__host *h, const inc__module **out, char *why,
                         size_t cap)
{
  if (version != INC__MODULE_VERSION || !h || h->context_size != sizeof(inc_context) ||
      h->ops_size != sizeof(inc__backend_ops)) {
    snprintf(why, cap,
             "the CUDA module has interface version %u (context %zu bytes, table %zu); the "
             "core that loads it has version %u (%zu, %zu): rebuild them together",
             (unsigned)INC__MODULE_VERSION, sizeof(inc_context), sizeof(inc__backend_ops),
             version, h ? h->context_size : (size_t)0, h ? h->ops_size : (size_t)0);
    return 0;
  }
  inc__cuda_host.store(h, std::memory_order_release);
  *out = &inc__cuda_module;
  return 1;
}
