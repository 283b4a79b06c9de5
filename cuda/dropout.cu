/*
 * dropout.cu — dropout on the device: one thread per element through the
 * INC_HD body of src/kernels.h that src/cpu/dropout.c runs, so the mask, a
 * pure function of (seed, stream, element index) from the counter-based
 * generator, and the result are the CPU backend's bit for bit (integer
 * mixing, one correctly rounded division, one product). Nothing is stored:
 * the backward pass runs the same kernel on dy with the step's stream.
 */
#include "common.cuh"

/* ---- kernels ------------------------------------------------------------ */

__global__ void inc__cuda_dropout_kernel(float *y, const float *x, int64_t n, int64_t c,
                                         int64_t plane, int cnhw, float p, uint64_t seed,
                                         uint64_t stream)
{
  /* x, y (N, C, P), or (C, N, P) when cnhw */
  const int64_t count = n * c * plane;
  INC_CUDA_FOR(i, count) y[i] = inc__k_dropout(x, i, n, c, plane, cnhw, p, seed, stream);
}

/* ---- launchers ---------------------------------------------------------- */

inc_status inc__cuda_dropout(float *y, const float *x, int64_t n, int64_t c, int64_t plane,
                             int cnhw, float p, uint64_t seed, uint64_t stream, inc_context *ctx)
{
  static const char op[] = "dropout";
  const int64_t count = n * c * plane;
  if (count <= 0) return INC_OK;
  INC_CUDA_ENTER(ctx, op);
  INC_CUDA_LAUNCH(inc__cuda_dropout_kernel, inc__cuda_blocks(ctx, count), INC_CUDA_THREADS,
                  inc__cuda_be(ctx)->stream, y, x, n, c, plane, cnhw, p, seed, stream);
  return inc__cuda_launched(ctx, op);
}
