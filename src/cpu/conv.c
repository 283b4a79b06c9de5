/*
 * conv.c — CPU loops for the convolution helpers: im2col over the whole
 * batch, col2im (a gather, one output pixel per iteration), the axis swap
 * between (N, C, P) images and (C, N*P) GEMM operands, the GEMM output pass
 * with bias (+ ReLU) and the bias gradient. Each loop runs the INC_HD body
 * of src/kernels.h that the CUDA kernel of cuda/im2col.cu runs per thread.
 */
#include "cpu.h"

inc_status inc__cpu_im2col(float *col, const float *x, const inc__window *g, inc_context *ctx)
{
  /* col (C*K*K, N*OH*OW) <- x (N, C, H, W) */
  const int64_t total = g->c * g->k * g->k * g->n * g->oh * g->ow;
#pragma omp parallel for schedule(static) num_threads(inc__cpu_threads(ctx, total))
  for (int64_t i = 0; i < total; i++) col[i] = inc__k_im2col(x, i, g);
  return INC_OK;
}

inc_status inc__cpu_col2im(float *dx, const float *col, const inc__window *g, inc_context *ctx)
{
  /* dx (N, C, H, W) <- col (C*K*K, N*OH*OW) */
  const int64_t total = g->n * g->c * g->h * g->w;
#pragma omp parallel for schedule(static) num_threads(inc__cpu_threads(ctx, total * g->k))
  for (int64_t i = 0; i < total; i++) dx[i] = inc__k_col2im(col, i, g);
  return INC_OK;
}

inc_status inc__cpu_swap01(float *dst, const float *src, int64_t a, int64_t b, int64_t p,
                           inc_context *ctx)
{
  /* dst (B, A, P) <- src (A, B, P) */
  const int64_t total = a * b * p;
#pragma omp parallel for schedule(static) num_threads(inc__cpu_threads(ctx, total))
  for (int64_t i = 0; i < total; i++) dst[i] = inc__k_swap01(src, i, a, b, p);
  return INC_OK;
}

inc_status inc__cpu_conv_out(float *y, const float *tmp, const float *bias, int64_t n, int64_t c,
                             int64_t p, int relu, inc_context *ctx)
{
  /* y (N, C, P) <- tmp (C, N*P) + bias (C) */
  const int64_t total = n * c * p;
#pragma omp parallel for schedule(static) num_threads(inc__cpu_threads(ctx, total))
  for (int64_t i = 0; i < total; i++) y[i] = inc__k_conv_out(tmp, bias, i, n, c, p, relu);
  return INC_OK;
}

inc_status inc__cpu_bias_add(float *y, const float *bias, int64_t n, int64_t c, int64_t p,
                             inc_context *ctx)
{
  /* y (N, C, P) += bias (C) */
  const int64_t total = n * c * p;
#pragma omp parallel for schedule(static) num_threads(inc__cpu_threads(ctx, total))
  for (int64_t i = 0; i < total; i++) y[i] = inc__k_bias_add(y, bias, i, c, p);
  return INC_OK;
}

inc_status inc__cpu_bias_grad(float *db, const float *dy, int64_t n, int64_t c, int64_t p,
                              inc_context *ctx)
{
  /* db (C) <- sum over n, p of dy (N, C, P) */
#pragma omp parallel for schedule(static) num_threads(inc__cpu_threads(ctx, n * c * p))
  for (int64_t j = 0; j < c; j++) db[j] = inc__k_bias_grad(dy, j, n, c, p);
  return INC_OK;
}
