/*
 * pool.c — CPU loops for max, average and global-average pooling, forward
 * and backward. Backward passes are gathers (one input pixel per iteration
 * summing the windows that cover it), so they need no atomics on the GPU
 * and are deterministic everywhere.
 */
#include "cpu.h"

inc_status inc__cpu_maxpool_fwd(float *y, int32_t *arg, const float *x, const inc__window *g,
                                inc_context *ctx)
{
  /* y, arg (N, C, OH, OW) <- x (N, C, H, W) */
  const int64_t total = g->n * g->c * g->oh * g->ow;
#pragma omp parallel for schedule(static) num_threads(inc__cpu_threads(ctx, total * g->k))
  for (int64_t i = 0; i < total; i++) {
    int32_t a;
    y[i] = inc__k_maxpool(x, i, g, &a);
    if (arg) arg[i] = a;
  }
  return INC_OK;
}

inc_status inc__cpu_maxpool_bwd(float *dx, const float *dy, const int32_t *arg,
                                const inc__window *g, inc_context *ctx)
{
  /* dx (N, C, H, W) <- dy, arg (N, C, OH, OW) */
  const int64_t total = g->n * g->c * g->h * g->w;
#pragma omp parallel for schedule(static) num_threads(inc__cpu_threads(ctx, total * 4))
  for (int64_t i = 0; i < total; i++) dx[i] = inc__k_maxpool_grad(dy, arg, i, g);
  return INC_OK;
}

inc_status inc__cpu_avgpool_fwd(float *y, const float *x, const inc__window *g, inc_context *ctx)
{
  const int64_t total = g->n * g->c * g->oh * g->ow;
#pragma omp parallel for schedule(static) num_threads(inc__cpu_threads(ctx, total * g->k))
  for (int64_t i = 0; i < total; i++) y[i] = inc__k_avgpool(x, i, g);
  return INC_OK;
}

inc_status inc__cpu_avgpool_bwd(float *dx, const float *dy, const inc__window *g,
                                inc_context *ctx)
{
  const int64_t total = g->n * g->c * g->h * g->w;
#pragma omp parallel for schedule(static) num_threads(inc__cpu_threads(ctx, total * 4))
  for (int64_t i = 0; i < total; i++) dx[i] = inc__k_avgpool_grad(dy, i, g);
  return INC_OK;
}

inc_status inc__cpu_gap_fwd(float *y, const float *x, int64_t planes, int64_t hw,
                            inc_context *ctx)
{
  /* y (planes) <- mean of x (planes, hw) */
#pragma omp parallel for schedule(static) num_threads(inc__cpu_threads(ctx, planes * hw))
  for (int64_t j = 0; j < planes; j++) y[j] = inc__k_gap(x, j, hw);
  return INC_OK;
}

inc_status inc__cpu_gap_bwd(float *dx, const float *dy, int64_t planes, int64_t hw,
                            inc_context *ctx)
{
  const int64_t total = planes * hw;
#pragma omp parallel for schedule(static) num_threads(inc__cpu_threads(ctx, total))
  for (int64_t i = 0; i < total; i++) dx[i] = inc__k_gap_grad(dy, i, hw);
  return INC_OK;
}
