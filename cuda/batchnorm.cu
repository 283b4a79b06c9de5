/*
 * batchnorm.cu — batch normalization on the GPU (src/layers/batchnorm.c):
 * the training pass, the update of the running statistics after a
 * successful training forward, the evaluation pass, the backward pass and the fold
 * of an evaluation batch norm into the convolution before it.
 *
 * The per-channel reductions (the batch statistics, the two gradient sums)
 * run one block per channel: each thread sums a strided share in double
 * and a shared-memory tree adds the shares, in an order fixed by the launch
 * shape (deterministic). Statistics take two passes (the mean, then the
 * squared deviations from it), like the CPU's inc__k_bn_stats, so the two
 * backends differ only by the order of double adds. Every per-element pass
 * is one thread per element over the INC_HD body the CPU loop calls.
 */
#include "common.cuh"

/* ---- kernels ------------------------------------------------------------ */

/* The sum of v over the block's threads (part: INC_CUDA_THREADS doubles of
 * shared memory); every thread gets it. */
__device__ static double inc__cuda_block_sum(double v, double *part)
{
  part[threadIdx.x] = v;
  __syncthreads();
  for (unsigned half = INC_CUDA_THREADS / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) part[threadIdx.x] += part[threadIdx.x + half];
    __syncthreads();
  }
  double r = part[0];
  __syncthreads(); /* part is reused by the next sum */
  return r;
}

__global__ void inc__cuda_bn_stats_kernel(float *mean, float *invstd, float *var_out,
                                          const float *x, int64_t n, int64_t c, int64_t p,
                                          float eps)
{
  /* mean, invstd, var (C) <- x (N, C, P); one block per channel */
  __shared__ double part[INC_CUDA_THREADS];
  const int64_t m = n * p;
  for (int64_t ch = blockIdx.x; ch < c; ch += gridDim.x) {
    double s = 0.0;
    for (int64_t j = threadIdx.x; j < m; j += INC_CUDA_THREADS) {
      int64_t ni = j / p, pi = j - ni * p;
      s += x[(ni * c + ch) * p + pi];
    }
    double mu = inc__cuda_block_sum(s, part) / (double)m, sq = 0.0;
    for (int64_t j = threadIdx.x; j < m; j += INC_CUDA_THREADS) {
      int64_t ni = j / p, pi = j - ni * p;
      double d = x[(ni * c + ch) * p + pi] - mu;
      sq += d * d;
    }
    double var = inc__cuda_block_sum(sq, part) / (double)m;
    if (threadIdx.x == 0) {
      mean[ch] = (float)mu;
      invstd[ch] = (float)(1.0 / sqrt(var + (double)eps));
      var_out[ch] = (float)var;
    }
  }
}

__global__ void inc__cuda_bn_running_kernel(float *running_mean, float *running_var,
                                            float *count, const float *mean, const float *var,
                                            int64_t c, int64_t m, float momentum)
{
  /* running_mean, running_var (C), count (1) */
  INC_CUDA_FOR(ci, c)
  {
    inc__k_bn_running(running_mean, running_var, ci, mean, var, m, momentum);
    if (ci == 0) count[0] += 1.0f;
  }
}

__global__ void inc__cuda_bn_apply_kernel(float *y, const float *x, const float *mean,
                                          const float *invstd, const float *weight,
                                          const float *bias, int64_t c, int64_t p, int relu,
                                          int64_t total)
{
  /* y (N, C, P) <- x (N, C, P) */
  INC_CUDA_FOR(i, total) y[i] = inc__k_bn_apply(x, i, c, p, mean, invstd, weight, bias, relu);
}

__global__ void inc__cuda_bn_eval_kernel(float *y, const float *x, const float *weight,
                                         const float *bias, const float *running_mean,
                                         const float *running_var, int64_t c, int64_t p,
                                         float eps, int relu, int64_t total)
{
  /* y (N, C, P) <- x (N, C, P) */
  INC_CUDA_FOR(i, total)
  y[i] = inc__k_bn_eval(x, i, c, p, running_mean, running_var, weight, bias, eps, relu);
}

__global__ void inc__cuda_bn_sums_kernel(float *dweight, float *dbias, const float *dy,
                                         const float *x, const float *mean, const float *invstd,
                                         int64_t n, int64_t c, int64_t p)
{
  /* dweight, dbias (C) <- dy, x (N, C, P); one block per channel */
  __shared__ double part[INC_CUDA_THREADS];
  const int64_t m = n * p;
  for (int64_t ch = blockIdx.x; ch < c; ch += gridDim.x) {
    double db = 0.0, dw = 0.0;
    const float mu = mean[ch], is = invstd[ch];
    for (int64_t j = threadIdx.x; j < m; j += INC_CUDA_THREADS) {
      int64_t ni = j / p, pi = j - ni * p, k = (ni * c + ch) * p + pi;
      db += dy[k];
      dw += (double)dy[k] * (double)((x[k] - mu) * is);
    }
    db = inc__cuda_block_sum(db, part);
    dw = inc__cuda_block_sum(dw, part);
    if (threadIdx.x == 0) {
      dbias[ch] = (float)db;
      dweight[ch] = (float)dw;
    }
  }
}

__global__ void inc__cuda_bn_dx_kernel(float *dx, const float *dy, const float *x,
                                       const float *mean, const float *invstd,
                                       const float *weight, const float *dweight,
                                       const float *dbias, int64_t c, int64_t p, float inv_m,
                                       int64_t total)
{
  /* dx (N, C, P) */
  INC_CUDA_FOR(i, total)
  dx[i] = inc__k_bn_dx(dy, x, i, c, p, mean, invstd, weight, dweight, dbias, inv_m);
}

__global__ void inc__cuda_bn_fold_kernel(float *w_out, float *b_out, const float *w,
                                         const float *b, const float *weight, const float *bias,
                                         const float *running_mean, const float *running_var,
                                         int64_t oc, int64_t k, float eps)
{
  /* w_out (OC, K), then b_out (OC), as one index range */
  const int64_t total = oc * k + oc;
  INC_CUDA_FOR(i, total)
  {
    if (i < oc * k)
      w_out[i] = inc__k_bn_fold_w(w, i, k, weight, running_var, eps);
    else
      b_out[i - oc * k] =
          inc__k_bn_fold_b(b, i - oc * k, weight, bias, running_mean, running_var, eps);
  }
}

/* ---- launchers ---------------------------------------------------------- */

/* Blocks for a one-block-per-channel reduction (the channel loop covers the rest). */
static unsigned channel_blocks(int64_t c) { return (unsigned)(c < 65535 ? c : 65535); }

inc_status inc__cuda_bn_fwd_train(float *y, float *mean, float *invstd, float *var,
                                  const float *x, const float *weight, const float *bias,
                                  int64_t n, int64_t c, int64_t p, float eps, int relu,
                                  inc_context *ctx)
{
  static const char op[] = "bn_fwd_train";
  const int64_t total = n * c * p;
  if (total <= 0) return INC_OK;
  INC_CUDA_ENTER(ctx, op);
  cudaStream_t st = inc__cuda_be(ctx)->stream;
  INC_CUDA_LAUNCH_COOP(inc__cuda_bn_stats_kernel, channel_blocks(c), INC_CUDA_THREADS, st, mean,
                       invstd, var, x, n, c, p, eps);
  INC_CUDA_LAUNCH(inc__cuda_bn_apply_kernel, inc__cuda_blocks(ctx, total), INC_CUDA_THREADS, st,
                  y, x, mean, invstd, weight, bias, c, p, relu, total);
  return inc__cuda_launched(ctx, op);
}

inc_status inc__cuda_bn_running(float *running_mean, float *running_var, float *count,
                                const float *mean, const float *var, int64_t c, int64_t m,
                                float momentum, inc_context *ctx)
{
  static const char op[] = "bn_running";
  if (c <= 0) return INC_OK;
  INC_CUDA_ENTER(ctx, op);
  INC_CUDA_LAUNCH(inc__cuda_bn_running_kernel, inc__cuda_blocks(ctx, c), INC_CUDA_THREADS,
                  inc__cuda_be(ctx)->stream, running_mean, running_var, count, mean, var, c, m,
                  momentum);
  return inc__cuda_launched(ctx, op);
}

inc_status inc__cuda_bn_fwd_eval(float *y, const float *x, const float *weight,
                                 const float *bias, const float *running_mean,
                                 const float *running_var, int64_t n, int64_t c, int64_t p,
                                 float eps, int relu, inc_context *ctx)
{
  static const char op[] = "bn_fwd_eval";
  const int64_t total = n * c * p;
  if (total <= 0) return INC_OK;
  INC_CUDA_ENTER(ctx, op);
  INC_CUDA_LAUNCH(inc__cuda_bn_eval_kernel, inc__cuda_blocks(ctx, total), INC_CUDA_THREADS,
                  inc__cuda_be(ctx)->stream, y, x, weight, bias, running_mean, running_var, c, p,
                  eps, relu, total);
  return inc__cuda_launched(ctx, op);
}

inc_status inc__cuda_bn_bwd(float *dx, float *dweight, float *dbias, const float *dy,
                            const float *x, const float *mean, const float *invstd,
                            const float *weight, int64_t n, int64_t c, int64_t p,
                            inc_context *ctx)
{
  static const char op[] = "bn_bwd";
  const int64_t total = n * c * p;
  if (total <= 0) return INC_OK;
  INC_CUDA_ENTER(ctx, op);
  cudaStream_t st = inc__cuda_be(ctx)->stream;
  INC_CUDA_LAUNCH_COOP(inc__cuda_bn_sums_kernel, channel_blocks(c), INC_CUDA_THREADS, st, dweight,
                       dbias, dy, x, mean, invstd, n, c, p);
  if (dx)
    INC_CUDA_LAUNCH(inc__cuda_bn_dx_kernel, inc__cuda_blocks(ctx, total), INC_CUDA_THREADS, st,
                    dx, dy, x, mean, invstd, weight, dweight, dbias, c, p,
                    1.0f / (float)(n * p), total);
  return inc__cuda_launched(ctx, op);
}

inc_status inc__cuda_bn_fold(float *w_out, float *b_out, const float *w, const float *b,
                             const float *weight, const float *bias, const float *running_mean,
                             const float *running_var, int64_t oc, int64_t k, float eps,
                             inc_context *ctx)
{
  static const char op[] = "bn_fold";
  const int64_t total = oc * k + oc;
  if (oc <= 0) return INC_OK;
  INC_CUDA_ENTER(ctx, op);
  INC_CUDA_LAUNCH(inc__cuda_bn_fold_kernel, inc__cuda_blocks(ctx, total), INC_CUDA_THREADS,
                  inc__cuda_be(ctx)->stream, w_out, b_out, w, b, weight, bias, running_mean,
                  running_var, oc, k, eps);
  return inc__cuda_launched(ctx, op);
}
