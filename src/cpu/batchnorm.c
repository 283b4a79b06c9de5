/*
 * batchnorm.c — CPU loops for batch normalization (src/layers/batchnorm.c):
 * the training pass (batch statistics, normalisation), the update of the
 * running statistics once a training forward has succeeded,
 * the evaluation pass, the backward pass and the fold of an evaluation
 * batch norm into the convolution before it.
 *
 * The per-channel reductions are the INC_HD bodies of src/kernels.h, run
 * one channel per iteration (channels are independent, so the threads
 * split them) and summed in double over eight lanes: the statistics do not
 * depend on the thread count, and a channel of a 128-image batch at 96x96
 * (1.2 M values) loses nothing to float rounding. The per-element passes
 * go row by row, (n, c) rows of P values with the channel's values loaded
 * once, through the per-value bodies the CUDA kernels' per-index bodies
 * call: the same float operations, so the same bits.
 */
#include "cpu.h"

inc_status inc__cpu_bn_fwd_train(float *y, float *mean, float *invstd, float *var,
                                 const float *x, const float *weight, const float *bias,
                                 int64_t n, int64_t c, int64_t p, float eps, int relu,
                                 inc_context *ctx)
{
  /* mean, invstd, var (C) <- the statistics of x (N, C, P) */
#pragma omp parallel for schedule(static) num_threads(inc__cpu_threads(ctx, n * c * p))
  for (int64_t ci = 0; ci < c; ci++) {
    double mu, v;
    inc__k_bn_stats(x, ci, n, c, p, &mu, &v);
    mean[ci] = (float)mu;
    invstd[ci] = (float)(1.0 / sqrt(v + (double)eps));
    var[ci] = (float)v;
  }
  /* y (N, C, P), row (ni, ci) at a time */
#pragma omp parallel for schedule(static) num_threads(inc__cpu_threads(ctx, n * c * p))
  for (int64_t row = 0; row < n * c; row++) {
    const int64_t ci = row % c;
    const float mu = mean[ci], is = invstd[ci], w = weight[ci], b = bias[ci];
    const float *xr = x + row * p;
    float *yr = y + row * p;
    for (int64_t k = 0; k < p; k++) yr[k] = inc__k_bn_norm(xr[k], mu, is, w, b, relu);
  }
  return INC_OK;
}

inc_status inc__cpu_bn_running(float *running_mean, float *running_var, float *count,
                               const float *mean, const float *var, int64_t c, int64_t m,
                               float momentum, inc_context *ctx)
{
  (void)ctx; /* C values: one thread */
  for (int64_t ci = 0; ci < c; ci++)
    inc__k_bn_running(running_mean, running_var, ci, mean, var, m, momentum);
  count[0] += 1.0f;
  return INC_OK;
}

inc_status inc__cpu_bn_fwd_eval(float *y, const float *x, const float *weight, const float *bias,
                                const float *running_mean, const float *running_var, int64_t n,
                                int64_t c, int64_t p, float eps, int relu, inc_context *ctx)
{
  /* y (N, C, P) <- x (N, C, P) with the running statistics, row by row */
#pragma omp parallel for schedule(static) num_threads(inc__cpu_threads(ctx, n * c * p))
  for (int64_t row = 0; row < n * c; row++) {
    const int64_t ci = row % c;
    const float rm = running_mean[ci], sd = inc__k_bn_sd(running_var[ci], eps), w = weight[ci],
                b = bias[ci];
    const float *xr = x + row * p;
    float *yr = y + row * p;
    for (int64_t k = 0; k < p; k++) yr[k] = inc__k_bn_eval_val(xr[k], rm, sd, w, b, relu);
  }
  return INC_OK;
}

inc_status inc__cpu_bn_bwd(float *dx, float *dweight, float *dbias, const float *dy,
                           const float *x, const float *mean, const float *invstd,
                           const float *weight, int64_t n, int64_t c, int64_t p, inc_context *ctx)
{
  /* dweight, dbias (C) <- sums over each channel of dy, x (N, C, P) */
  const int64_t total = n * c * p;
#pragma omp parallel for schedule(static) num_threads(inc__cpu_threads(ctx, total))
  for (int64_t ci = 0; ci < c; ci++) {
    double db, dw;
    inc__k_bn_grad_sums(dy, x, ci, n, c, p, mean[ci], invstd[ci], &db, &dw);
    dbias[ci] = (float)db;
    dweight[ci] = (float)dw;
  }
  if (!dx) return INC_OK;
  /* dx (N, C, P), row by row */
  const float inv_m = 1.0f / (float)(n * p);
#pragma omp parallel for schedule(static) num_threads(inc__cpu_threads(ctx, total))
  for (int64_t row = 0; row < n * c; row++) {
    const int64_t ci = row % c;
    const float mu = mean[ci], is = invstd[ci], w = weight[ci], dw = dweight[ci], db = dbias[ci];
    const float *g = dy + row * p, *xr = x + row * p;
    float *d = dx + row * p;
    for (int64_t k = 0; k < p; k++) d[k] = inc__k_bn_dx_val(g[k], xr[k], mu, is, w, dw, db, inv_m);
  }
  return INC_OK;
}

inc_status inc__cpu_bn_fold(float *w_out, float *b_out, const float *w, const float *b,
                            const float *weight, const float *bias, const float *running_mean,
                            const float *running_var, int64_t oc, int64_t k, float eps,
                            inc_context *ctx)
{
  /* w_out (OC, K), b_out (OC) */
  const int64_t total = oc * k;
#pragma omp parallel for simd schedule(static) num_threads(inc__cpu_threads(ctx, total))
  for (int64_t i = 0; i < total; i++)
    w_out[i] = inc__k_bn_fold_w(w, i, k, weight, running_var, eps);
  for (int64_t o = 0; o < oc; o++)
    b_out[o] = inc__k_bn_fold_b(b, o, weight, bias, running_mean, running_var, eps);
  return INC_OK;
}
