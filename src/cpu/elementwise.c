/*
 * elementwise.c — CPU loops for ReLU forward/backward, axpy (used to sum
 * the input gradients of parallel branches) and channel slices (concat
 * forward writes each branch into its slice; backward reads slices out).
 */
#include <string.h>
#include "cpu.h"

inc_status inc__cpu_relu_fwd(float *y, const float *x, int64_t count, inc_context *ctx)
{
#pragma omp parallel for simd schedule(static) num_threads(inc__cpu_threads(ctx, count))
  for (int64_t i = 0; i < count; i++) y[i] = inc__k_relu(x[i]);
  return INC_OK;
}

inc_status inc__cpu_relu_bwd(float *dx, const float *dy, const float *y, int64_t count,
                             inc_context *ctx)
{
#pragma omp parallel for simd schedule(static) num_threads(inc__cpu_threads(ctx, count))
  for (int64_t i = 0; i < count; i++) dx[i] = inc__k_relu_grad(dy[i], y[i]);
  return INC_OK;
}

inc_status inc__cpu_axpy(float *y, const float *x, float alpha, int64_t count, inc_context *ctx)
{
#pragma omp parallel for simd schedule(static) num_threads(inc__cpu_threads(ctx, count))
  for (int64_t i = 0; i < count; i++) y[i] += alpha * x[i];
  return INC_OK;
}

inc_status inc__cpu_slice(float *big, float *small, int to_big, int64_t n, int64_t cb, int64_t ct,
                          int64_t off, int64_t p, inc_context *ctx)
{
  /* big (N, CT, P), small (N, CB, P) = big[:, off:off+CB]: one contiguous
   * run of CB*P floats per image */
  const int64_t run = cb * p;
#pragma omp parallel for schedule(static) num_threads(inc__cpu_threads(ctx, n * run))
  for (int64_t i = 0; i < n; i++) {
    float *b = big + (i * ct + off) * p, *sm = small + i * run;
    if (to_big)
      memcpy(b, sm, (size_t)run * sizeof *b);
    else
      memcpy(sm, b, (size_t)run * sizeof *b);
  }
  return INC_OK;
}
