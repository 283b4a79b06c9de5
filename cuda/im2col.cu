/*
 * im2col.cu — the convolution helpers around the GEMM: im2col over the
 * whole batch (one GEMM per layer, never one per image), col2im, the axis
 * swap between (N, C, P) images and (C, N*P) GEMM operands, the GEMM output
 * pass with bias and optional fused ReLU, bias add, and the bias gradient.
 *
 * Every kernel but bias_grad is one thread per output element calling the
 * INC_HD body of src/kernels.h that the CPU loop of src/cpu/conv.c calls,
 * so the CPU test suite checks their index arithmetic. col2im is a gather
 * (each input pixel sums the col entries it fed), so it needs no atomics
 * and is deterministic.
 *
 * bias_grad is a reduction (the sum over N*P values per channel), which a
 * thread per channel would do with too little parallelism: it runs one
 * block per channel, each thread summing a strided share and a shared-
 * memory tree adding the shares. The order is fixed by the launch shape,
 * so the result is deterministic; it differs from the CPU's sequential
 * float sum only by rounding.
 */
#include "common.cuh"

/* ---- kernels ------------------------------------------------------------ */

__global__ void inc__cuda_im2col_kernel(float *col, const float *x, inc__window g, int64_t total)
{
  /* col (C*KH*KW, N*OH*OW) <- x (N, C, H, W) */
  INC_CUDA_FOR(i, total) col[i] = inc__k_im2col(x, i, &g);
}

__global__ void inc__cuda_col2im_kernel(float *dx, const float *col, inc__window g, int64_t total)
{
  /* dx (N, C, H, W) <- col (C*KH*KW, N*OH*OW) */
  INC_CUDA_FOR(i, total) dx[i] = inc__k_col2im(col, i, &g);
}

__global__ void inc__cuda_swap01_kernel(float *dst, const float *src, int64_t a, int64_t b,
                                        int64_t p)
{
  /* dst (B, A, P) <- src (A, B, P) */
  const int64_t total = a * b * p;
  INC_CUDA_FOR(i, total) dst[i] = inc__k_swap01(src, i, a, b, p);
}

__global__ void inc__cuda_conv_out_kernel(float *y, const float *tmp, const float *bias,
                                          int64_t n, int64_t c, int64_t p, int relu)
{
  /* y (N, C, P) <- tmp (C, N*P) + bias (C), ReLU if relu */
  const int64_t total = n * c * p;
  INC_CUDA_FOR(i, total) y[i] = inc__k_conv_out(tmp, bias, i, n, c, p, relu);
}

__global__ void inc__cuda_bias_add_kernel(float *y, const float *bias, int64_t c, int64_t p,
                                          int64_t total)
{
  /* y (N, C, P) += bias (C) */
  INC_CUDA_FOR(i, total) y[i] = inc__k_bias_add(y, bias, i, c, p);
}

__global__ void inc__cuda_bias_grad_kernel(float *db, const float *dy, int64_t n, int64_t c,
                                           int64_t p)
{
  /* db (C) <- sum over n, p of dy (N, C, P); one block of INC_CUDA_THREADS threads per
   * channel (the tree below is sized by it, static_assert in common.cuh) */
  __shared__ float part[INC_CUDA_THREADS];
  const int64_t per = n * p;
  for (int64_t ch = blockIdx.x; ch < c; ch += gridDim.x) {
    float sum = 0.0f;
    for (int64_t j = threadIdx.x; j < per; j += INC_CUDA_THREADS) {
      int64_t ni = j / p, pi = j - ni * p;
      sum += dy[(ni * c + ch) * p + pi];
    }
    part[threadIdx.x] = sum;
    __syncthreads();
    for (unsigned half = INC_CUDA_THREADS / 2; half > 0; half /= 2) {
      if (threadIdx.x < half) part[threadIdx.x] += part[threadIdx.x + half];
      __syncthreads();
    }
    if (threadIdx.x == 0) db[ch] = part[0];
    __syncthreads(); /* part is reused by the next channel */
  }
}

/* ---- launchers ---------------------------------------------------------- */

inc_status inc__cuda_im2col(float *col, const float *x, const inc__window *g, inc_context *ctx)
{
  static const char op[] = "im2col";
  const int64_t total = g->c * g->kh * g->kw * g->n * g->oh * g->ow;
  if (total <= 0) return INC_OK;
  INC_CUDA_ENTER(ctx, op);
  INC_CUDA_LAUNCH(inc__cuda_im2col_kernel, inc__cuda_blocks(ctx, total), INC_CUDA_THREADS,
                  inc__cuda_be(ctx)->stream, col, x, *g, total);
  return inc__cuda_launched(ctx, op);
}

inc_status inc__cuda_col2im(float *dx, const float *col, const inc__window *g, inc_context *ctx)
{
  static const char op[] = "col2im";
  const int64_t total = g->n * g->c * g->h * g->w;
  if (total <= 0) return INC_OK;
  INC_CUDA_ENTER(ctx, op);
  INC_CUDA_LAUNCH(inc__cuda_col2im_kernel, inc__cuda_blocks(ctx, total), INC_CUDA_THREADS,
                  inc__cuda_be(ctx)->stream, dx, col, *g, total);
  return inc__cuda_launched(ctx, op);
}

inc_status inc__cuda_swap01(float *dst, const float *src, int64_t a, int64_t b, int64_t p,
                            inc_context *ctx)
{
  static const char op[] = "swap01";
  const int64_t total = a * b * p;
  if (total <= 0) return INC_OK;
  INC_CUDA_ENTER(ctx, op);
  INC_CUDA_LAUNCH(inc__cuda_swap01_kernel, inc__cuda_blocks(ctx, total), INC_CUDA_THREADS,
                  inc__cuda_be(ctx)->stream, dst, src, a, b, p);
  return inc__cuda_launched(ctx, op);
}

inc_status inc__cuda_conv_out(float *y, const float *tmp, const float *bias, int64_t n,
                              int64_t c, int64_t p, int relu, inc_context *ctx)
{
  static const char op[] = "conv_out";
  const int64_t total = n * c * p;
  if (total <= 0) return INC_OK;
  INC_CUDA_ENTER(ctx, op);
  INC_CUDA_LAUNCH(inc__cuda_conv_out_kernel, inc__cuda_blocks(ctx, total), INC_CUDA_THREADS,
                  inc__cuda_be(ctx)->stream, y, tmp, bias, n, c, p, relu);
  return inc__cuda_launched(ctx, op);
}

inc_status inc__cuda_bias_add(float *y, const float *bias, int64_t n, int64_t c, int64_t p,
                              inc_context *ctx)
{
  static const char op[] = "bias_add";
  const int64_t total = n * c * p;
  if (total <= 0) return INC_OK;
  INC_CUDA_ENTER(ctx, op);
  INC_CUDA_LAUNCH(inc__cuda_bias_add_kernel, inc__cuda_blocks(ctx, total), INC_CUDA_THREADS,
                  inc__cuda_be(ctx)->stream, y, bias, c, p, total);
  return inc__cuda_launched(ctx, op);
}

inc_status inc__cuda_bias_grad(float *db, const float *dy, int64_t n, int64_t c, int64_t p,
                               inc_context *ctx)
{
  static const char op[] = "bias_grad";
  if (c <= 0) return INC_OK;
  INC_CUDA_ENTER(ctx, op);
  inc__cuda *be = inc__cuda_be(ctx);
  if (n <= 0 || p <= 0) {
    INC_CUDA_TRY(ctx, cudaMemsetAsync(db, 0, (size_t)c * sizeof(float), be->stream), op);
    return INC_OK;
  }
  const int64_t max_blocks = 65535; /* the channel loop covers the rest */
  unsigned blocks = (unsigned)(c < max_blocks ? c : max_blocks);
  INC_CUDA_LAUNCH_COOP(inc__cuda_bias_grad_kernel, blocks, INC_CUDA_THREADS, be->stream, db, dy,
                       n, c, p);
  return inc__cuda_launched(ctx, op);
}
