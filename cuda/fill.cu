/*
 * fill.cu — parameter fills from the counter-based generator of
 * src/kernels.h: element i is inc__k_fill(dist, a, b, seed, stream, i), a
 * pure function of its arguments, so a fill needs no generator state on the
 * device and gives the CPU backend's values: bit for bit for the uniform
 * distribution (integer mixing, exact scaling, one fmaf), within a few ulp
 * for the normal one (CUDA's logf/cosf differ from libm's in the last bits).
 */
#include "common.cuh"

/* ---- kernels ------------------------------------------------------------ */

__global__ void inc__cuda_fill_kernel(float *dst, int64_t count, int dist, float a, float b,
                                      uint64_t seed, uint64_t stream)
{
  /* dst (count) */
  INC_CUDA_FOR(i, count) dst[i] = inc__k_fill(dist, a, b, seed, stream, i);
}

/* ---- launchers ---------------------------------------------------------- */

inc_status inc__cuda_fill(float *dst, int64_t count, int dist, float a, float b, uint64_t seed,
                          uint64_t stream, inc_context *ctx)
{
  static const char op[] = "fill";
  if (count <= 0) return INC_OK;
  INC_CUDA_ENTER(ctx, op);
  INC_CUDA_LAUNCH(inc__cuda_fill_kernel, inc__cuda_blocks(ctx, count), INC_CUDA_THREADS,
                  inc__cuda_be(ctx)->stream, dst, count, dist, a, b, seed, stream);
  return inc__cuda_launched(ctx, op);
}
