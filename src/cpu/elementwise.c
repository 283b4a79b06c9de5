/*
 * elementwise.c — CPU loops for ReLU forward/backward, axpy (used to sum
 * the input gradients of parallel branches) and channel slices (concat
 * forward writes each branch into its slice; backward reads slices out).
 */
#include "cpu.h"

inc_status inc__cpu_relu_fwd(float *y, const float *x, int64_t count, inc_context *ctx)
{
#pragma omp parallel for schedule(static) num_threads(inc__cpu_threads(ctx, count))
  for (int64_t i = 0; i < count; i++) y[i] = inc__k_relu(x[i]);
  return INC_OK;
}

inc_status inc__cpu_relu_bwd(float *dx, const float *dy, const float *y, int64_t count,
                             inc_context *ctx)
{
#pragma omp parallel for schedule(static) num_threads(inc__cpu_threads(ctx, count))
  for (int64_t i = 0; i < count; i++) dx[i] = inc__k_relu_grad(dy[i], y[i]);
  return INC_OK;
}

inc_status inc__cpu_axpy(float *y, const float *x, float alpha, int64_t count, inc_context *ctx)
{
#pragma omp parallel for schedule(static) num_threads(inc__cpu_threads(ctx, count))
  for (int64_t i = 0; i < count; i++) y[i] += alpha * x[i];
  return INC_OK;
}

inc_status inc__cpu_slice(float *big, float *small, int to_big, int64_t n, int64_t cb, int64_t ct,
                          int64_t off, int64_t p, inc_context *ctx)
{
  /* big (N, CT, P), small (N, CB, P) = big[:, off:off+CB] */
  const int64_t total = n * cb * p;
  if (to_big) {
#pragma omp parallel for schedule(static) num_threads(inc__cpu_threads(ctx, total))
    for (int64_t i = 0; i < total; i++) big[inc__k_slice_index(i, cb, ct, off, p)] = small[i];
  } else {
#pragma omp parallel for schedule(static) num_threads(inc__cpu_threads(ctx, total))
    for (int64_t i = 0; i < total; i++) small[i] = big[inc__k_slice_index(i, cb, ct, off, p)];
  }
  return INC_OK;
}
