/*
 * context.c — contexts: backend choice, seed and random stream, threads,
 * GEMM precision, scratch workspaces.
 *
 * A context owns its backend state (for CUDA: device, stream, cuBLAS
 * handle), the counter-based RNG position used by parameter fills, and a few
 * scratch buffers that grow to the largest request and are then reused, so
 * a steady-state training step allocates nothing.
 */
#include <stdio.h>
#include <string.h>
#include "internal.h"

INC_API inc_status inc_backend_probe(inc_backend b, char *why, size_t cap)
{
  if (why && cap) why[0] = '\0';
  switch (b) {
  case INC_BACKEND_CPU: return INC_OK;
  case INC_BACKEND_AUTO:
  case INC_BACKEND_CUDA:
    if (inc__cuda_usable(why, cap) || b == INC_BACKEND_AUTO) return INC_OK;
    return INC_ERR_UNAVAILABLE;
  }
  return INC_ERR_INVALID_ARGUMENT;
}

INC_API int inc_backend_available(inc_backend b) { return inc_backend_probe(b, NULL, 0) == INC_OK; }

INC_API inc_status inc_context_create(inc_backend b, inc_context **out)
{
  if (!out) return INC_ERR_INVALID_ARGUMENT;
  *out = NULL;
  if (b != INC_BACKEND_AUTO && b != INC_BACKEND_CPU && b != INC_BACKEND_CUDA)
    return INC_ERR_INVALID_ARGUMENT;
  inc_context *ctx = (inc_context *)inc__calloc(1, sizeof *ctx);
  if (!ctx) return INC_ERR_OUT_OF_MEMORY;
  ctx->next_uid = 1;
  inc_status s;
  char why[INC__ERR_CAP];
  why[0] = '\0';
  if (b != INC_BACKEND_CPU) {
    ctx->backend = INC_BACKEND_CUDA;
    s = inc__cuda_backend_init(ctx);
    /* AUTO settles for the CPU only where CUDA is unavailable (no module,
     * no device); a device error, above all a broken CUDA state
     * (INC_ERR_DEVICE_LOST), is returned, never hidden behind a slow CPU. */
    if (s == INC_ERR_UNAVAILABLE && b == INC_BACKEND_AUTO) {
      snprintf(why, sizeof why, "%s", ctx->err);
      b = INC_BACKEND_CPU;
    }
  }
  if (b == INC_BACKEND_CPU) {
    ctx->backend = INC_BACKEND_CPU;
    s = inc__cpu_backend_init(ctx);
  }
  if (s != INC_OK) {
    inc__module_close(ctx);
    inc__free(ctx);
    return s;
  }
  /* After AUTO fell back, the message says why CUDA was not used. */
  if (why[0])
    snprintf(ctx->err, sizeof ctx->err, "INC_BACKEND_AUTO chose the CPU: %.900s", why);
  else
    ctx->err[0] = '\0';
  *out = ctx;
  return INC_OK;
}

INC_API void inc_context_destroy(inc_context *ctx)
{
  if (!ctx) return;
  ctx->ops->destroy(ctx);
  inc__module_close(ctx);
  inc__free(ctx);
}

INC_API inc_backend inc_context_backend(const inc_context *ctx)
{
  return ctx ? ctx->backend : INC_BACKEND_AUTO;
}

INC_API const char *inc_context_device_name(const inc_context *ctx)
{
  return ctx ? ctx->device_name : "";
}

INC_API inc_status inc_context_set_seed(inc_context *ctx, uint64_t seed)
{
  if (!ctx) return INC_ERR_INVALID_ARGUMENT;
  inc__begin(ctx);
  ctx->seed = seed;
  ctx->rng_stream = 0;
  return INC_OK;
}

INC_API uint64_t inc_context_seed(const inc_context *ctx) { return ctx ? ctx->seed : 0; }

INC_API inc_status inc_context_set_num_threads(inc_context *ctx, int n)
{
  if (!ctx) return INC_ERR_INVALID_ARGUMENT;
  inc__begin(ctx);
  if (n < 0)
    return inc__error(ctx, INC_ERR_INVALID_ARGUMENT, "inc_context_set_num_threads: %d < 0", n);
  ctx->num_threads = n;
  if (ctx->backend == INC_BACKEND_CPU) inc__cpu_describe(ctx);
  return INC_OK;
}

INC_API inc_status inc_context_synchronize(inc_context *ctx)
{
  if (!ctx) return INC_ERR_INVALID_ARGUMENT;
  inc_status s = inc__begin(ctx);
  if (s != INC_OK) return s;
  return ctx->ops->synchronize(ctx);
}

INC_API inc_status inc_context_set_precision(inc_context *ctx, inc_precision p)
{
  if (!ctx) return INC_ERR_INVALID_ARGUMENT;
  inc__begin(ctx);
  if (p != INC_PRECISION_FP32 && p != INC_PRECISION_BF16)
    return inc__error(ctx, INC_ERR_INVALID_ARGUMENT,
                      "inc_context_set_precision: unknown precision %d", (int)p);
  if (p == ctx->precision) return INC_OK;
  if (ctx->backend != INC_BACKEND_CPU)
    return inc__error(ctx, INC_ERR_UNAVAILABLE,
                      "inc_context_set_precision: bf16 runs on the CPU backend only (the CUDA "
                      "backend's GEMMs are float32)");
  inc_status s = inc__cpu_bf16_enable(ctx, p == INC_PRECISION_BF16);
  if (s == INC_OK) ctx->precision = p;
  return s;
}

INC_API inc_precision inc_context_precision(const inc_context *ctx)
{
  return ctx ? ctx->precision : INC_PRECISION_FP32;
}

inc_status inc__fill_random(inc_context *ctx, float *dst, int64_t count, int dist, float a,
                            float b)
{
  uint64_t stream = ctx->rng_stream++;
  return ctx->ops->fill(dst, count, dist, a, b, ctx->seed, stream, ctx);
}
