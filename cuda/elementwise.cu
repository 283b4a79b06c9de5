/*
 * elementwise.cu — ReLU forward and backward and axpy (y += alpha * x, used
 * to sum the input gradients of parallel branches).
 *
 * One thread per element through the INC_HD bodies of src/kernels.h that
 * src/cpu/elementwise.c uses. axpy has no body there: it is the single
 * expression y[i] += alpha * x[i], written here exactly as on the CPU; with
 * -fmad=false (and -ffp-contract=off on the CPU) neither side fuses it into
 * an FMA, so both backends round the same way.
 */
#include "common.cuh"

/* ---- kernels ------------------------------------------------------------ */

__global__ void inc__cuda_relu_fwd_kernel(float *y, const float *x, int64_t count)
{
  /* y (count) <- max(x (count), 0) */
  INC_CUDA_FOR(i, count) y[i] = inc__k_relu(x[i]);
}

__global__ void inc__cuda_relu_bwd_kernel(float *dx, const float *dy, const float *y,
                                          int64_t count)
{
  /* dx (count) <- dy (count) where the saved output y (count) > 0 */
  INC_CUDA_FOR(i, count) dx[i] = inc__k_relu_grad(dy[i], y[i]);
}

__global__ void inc__cuda_axpy_kernel(float *y, const float *x, float alpha, int64_t count)
{
  /* y (count) += alpha * x (count) */
  INC_CUDA_FOR(i, count) y[i] += alpha * x[i];
}

/* ---- launchers ---------------------------------------------------------- */

inc_status inc__cuda_relu_fwd(float *y, const float *x, int64_t count, inc_context *ctx)
{
  static const char op[] = "relu_fwd";
  if (count <= 0) return INC_OK;
  INC_CUDA_ENTER(ctx, op);
  INC_CUDA_LAUNCH(inc__cuda_relu_fwd_kernel, inc__cuda_blocks(ctx, count), INC_CUDA_THREADS,
                  inc__cuda_be(ctx)->stream, y, x, count);
  return inc__cuda_launched(ctx, op);
}

inc_status inc__cuda_relu_bwd(float *dx, const float *dy, const float *y, int64_t count,
                              inc_context *ctx)
{
  static const char op[] = "relu_bwd";
  if (count <= 0) return INC_OK;
  INC_CUDA_ENTER(ctx, op);
  INC_CUDA_LAUNCH(inc__cuda_relu_bwd_kernel, inc__cuda_blocks(ctx, count), INC_CUDA_THREADS,
                  inc__cuda_be(ctx)->stream, dx, dy, y, count);
  return inc__cuda_launched(ctx, op);
}

inc_status inc__cuda_axpy(float *y, const float *x, float alpha, int64_t count,
                          inc_context *ctx)
{
  static const char op[] = "axpy";
  if (count <= 0) return INC_OK;
  INC_CUDA_ENTER(ctx, op);
  INC_CUDA_LAUNCH(inc__cuda_axpy_kernel, inc__cuda_blocks(ctx, count), INC_CUDA_THREADS,
                  inc__cuda_be(ctx)->stream, y, x, alpha, count);
  return inc__cuda_launched(ctx, op);
}
