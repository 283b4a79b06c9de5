/*
 * pool.cu — max, average and global-average pooling, forward and backward.
 *
 * Forward kernels are one thread per output element; backward kernels are
 * one thread per input element that gathers the windows covering it (for
 * max pooling: the windows whose saved argmax is that element). Gathers
 * need no atomics and are deterministic. Each thread runs the INC_HD body
 * of src/kernels.h that src/cpu/pool.c runs, with the same operations in
 * the same order, so the backends agree exactly: max pooling and its
 * argmax trivially, the averages too as long as neither compiler fuses or
 * reorders float operations (-fmad=false here, -ffp-contract=off there;
 * division is IEEE-rounded on both).
 */
#include "common.cuh"

/* ---- kernels ------------------------------------------------------------ */

__global__ void inc__cuda_maxpool_fwd_kernel(float *y, int32_t *arg, const float *x,
                                             inc__window g, int64_t total)
{
  /* y, arg (N, C, OH, OW) <- x (N, C, H, W); arg may be NULL */
  INC_CUDA_FOR(i, total)
  {
    int32_t a;
    y[i] = inc__k_maxpool(x, i, &g, &a);
    if (arg) arg[i] = a;
  }
}

__global__ void inc__cuda_maxpool_bwd_kernel(float *dx, const float *dy, const int32_t *arg,
                                             inc__window g, int64_t total)
{
  /* dx (N, C, H, W) <- dy, arg (N, C, OH, OW) */
  INC_CUDA_FOR(i, total) dx[i] = inc__k_maxpool_grad(dy, arg, i, &g);
}

__global__ void inc__cuda_avgpool_fwd_kernel(float *y, const float *x, inc__window g,
                                             int64_t total)
{
  /* y (N, C, OH, OW) <- x (N, C, H, W) */
  INC_CUDA_FOR(i, total) y[i] = inc__k_avgpool(x, i, &g);
}

__global__ void inc__cuda_avgpool_bwd_kernel(float *dx, const float *dy, inc__window g,
                                             int64_t total)
{
  /* dx (N, C, H, W) <- dy (N, C, OH, OW) */
  INC_CUDA_FOR(i, total) dx[i] = inc__k_avgpool_grad(dy, i, &g);
}

__global__ void inc__cuda_gap_fwd_kernel(float *y, const float *x, int64_t planes, int64_t hw)
{
  /* y (planes) <- mean of x (planes, hw) */
  INC_CUDA_FOR(j, planes) y[j] = inc__k_gap(x, j, hw);
}

__global__ void inc__cuda_gap_bwd_kernel(float *dx, const float *dy, int64_t hw, int64_t total)
{
  /* dx (planes, hw) <- dy (planes) / hw */
  INC_CUDA_FOR(i, total) dx[i] = inc__k_gap_grad(dy, i, hw);
}

/* ---- launchers ---------------------------------------------------------- */

inc_status inc__cuda_maxpool_fwd(float *y, int32_t *arg, const float *x, const inc__window *g,
                                 inc_context *ctx)
{
  static const char op[] = "maxpool_fwd";
  const int64_t total = g->n * g->c * g->oh * g->ow;
  if (total <= 0) return INC_OK;
  INC_CUDA_ENTER(ctx, op);
  INC_CUDA_LAUNCH(inc__cuda_maxpool_fwd_kernel, inc__cuda_blocks(ctx, total), INC_CUDA_THREADS,
                  inc__cuda_be(ctx)->stream, y, arg, x, *g, total);
  return inc__cuda_launched(ctx, op);
}

inc_status inc__cuda_maxpool_bwd(float *dx, const float *dy, const int32_t *arg,
                                 const inc__window *g, inc_context *ctx)
{
  static const char op[] = "maxpool_bwd";
  const int64_t total = g->n * g->c * g->h * g->w;
  if (total <= 0) return INC_OK;
  INC_CUDA_ENTER(ctx, op);
  INC_CUDA_LAUNCH(inc__cuda_maxpool_bwd_kernel, inc__cuda_blocks(ctx, total), INC_CUDA_THREADS,
                  inc__cuda_be(ctx)->stream, dx, dy, arg, *g, total);
  return inc__cuda_launched(ctx, op);
}

inc_status inc__cuda_avgpool_fwd(float *y, const float *x, const inc__window *g,
                                 inc_context *ctx)
{
  static const char op[] = "avgpool_fwd";
  const int64_t total = g->n * g->c * g->oh * g->ow;
  if (total <= 0) return INC_OK;
  INC_CUDA_ENTER(ctx, op);
  INC_CUDA_LAUNCH(inc__cuda_avgpool_fwd_kernel, inc__cuda_blocks(ctx, total), INC_CUDA_THREADS,
                  inc__cuda_be(ctx)->stream, y, x, *g, total);
  return inc__cuda_launched(ctx, op);
}

inc_status inc__cuda_avgpool_bwd(float *dx, const float *dy, const inc__window *g,
                                 inc_context *ctx)
{
  static const char op[] = "avgpool_bwd";
  const int64_t total = g->n * g->c * g->h * g->w;
  if (total <= 0) return INC_OK;
  INC_CUDA_ENTER(ctx, op);
  INC_CUDA_LAUNCH(inc__cuda_avgpool_bwd_kernel, inc__cuda_blocks(ctx, total), INC_CUDA_THREADS,
                  inc__cuda_be(ctx)->stream, dx, dy, *g, total);
  return inc__cuda_launched(ctx, op);
}

inc_status inc__cuda_gap_fwd(float *y, const float *x, int64_t planes, int64_t hw,
                             inc_context *ctx)
{
  static const char op[] = "gap_fwd";
  if (planes <= 0) return INC_OK;
  INC_CUDA_ENTER(ctx, op);
  INC_CUDA_LAUNCH(inc__cuda_gap_fwd_kernel, inc__cuda_blocks(ctx, planes), INC_CUDA_THREADS,
                  inc__cuda_be(ctx)->stream, y, x, planes, hw);
  return inc__cuda_launched(ctx, op);
}

inc_status inc__cuda_gap_bwd(float *dx, const float *dy, int64_t planes, int64_t hw,
                             inc_context *ctx)
{
  static const char op[] = "gap_bwd";
  const int64_t total = planes * hw;
  if (total <= 0) return INC_OK;
  INC_CUDA_ENTER(ctx, op);
  INC_CUDA_LAUNCH(inc__cuda_gap_bwd_kernel, inc__cuda_blocks(ctx, total), INC_CUDA_THREADS,
                  inc__cuda_be(ctx)->stream, dx, dy, hw, total);
  return inc__cuda_launched(ctx, op);
}
