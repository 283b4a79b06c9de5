/*
 * sgd.cu — the SGD update (PyTorch's rule with momentum and weight decay)
 * over one parameter tensor, one thread per element through inc__k_sgd,
 * the body src/cpu/sgd.c runs. The body uses fmaf, which is correctly
 * rounded on the GPU and in the C library alike, so an update is
 * bit-identical on both backends given identical inputs.
 */
#include "common.cuh"

/* ---- kernels ------------------------------------------------------------ */

__global__ void inc__cuda_sgd_kernel(float *param, float *buf, const float *grad, int64_t count,
                                     float lr, float momentum, float weight_decay, int first)
{
  /* param, buf, grad (count); buf unused when momentum == 0 */
  INC_CUDA_FOR(i, count) inc__k_sgd(param, buf, grad, i, lr, momentum, weight_decay, first);
}

/* ---- launchers ---------------------------------------------------------- */

inc_status inc__cuda_sgd(float *param, float *buf, const float *grad, int64_t count, float lr,
                         float momentum, float weight_decay, int first, inc_context *ctx)
{
  static const char op[] = "sgd";
  if (count <= 0) return INC_OK;
  INC_CUDA_ENTER(ctx, op);
  INC_CUDA_LAUNCH(inc__cuda_sgd_kernel, inc__cuda_blocks(ctx, count), INC_CUDA_THREADS,
                  inc__cuda_be(ctx)->stream, param, buf, grad, count, lr, momentum, weight_decay,
                  first);
  return inc__cuda_launched(ctx, op);
}
