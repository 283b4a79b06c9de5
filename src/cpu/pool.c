/*
 * pool.c — CPU loops for max, average and global-average pooling, forward
 * and backward. Backward passes are gathers (one input pixel per iteration
 * summing the windows that cover it), so they need no atomics on the GPU
 * and are deterministic everywhere.
 */
#include <math.h>
#include <string.h>
#include "cpu.h"

inc_status inc__cpu_maxpool_fwd(float *y, int32_t *arg, const float *x, const inc__window *g,
                                inc_context *ctx)
{
  /* y, arg (N, C, OH, OW) <- x (N, C, H, W); one plane per iteration, each
   * window clipped to the input once and scanned in the body's order with
   * the body's rule (first maximum wins, NaN propagates) */
  const int64_t planes = g->n * g->c, h = g->h, w = g->w, oh_n = g->oh, ow_n = g->ow;
  const int64_t k = g->k, s = g->s, p = g->p;
#pragma omp parallel for schedule(static) num_threads(inc__cpu_threads(ctx, planes * oh_n * ow_n * k))
  for (int64_t nc = 0; nc < planes; nc++) {
    const float *plane = x + nc * h * w;
    float *yp = y + nc * oh_n * ow_n;
    int32_t *ap = arg ? arg + nc * oh_n * ow_n : NULL;
    for (int64_t oh = 0; oh < oh_n; oh++) {
      const int64_t h0 = oh * s - p;
      const int64_t i0 = h0 < 0 ? 0 : h0, i1 = h0 + k > h ? h : h0 + k;
      for (int64_t ow = 0; ow < ow_n; ow++) {
        const int64_t w0 = ow * s - p;
        const int64_t j0 = w0 < 0 ? 0 : w0, j1 = w0 + k > w ? w : w0 + k;
        float best = -INFINITY;
        int64_t besti = -1;
        for (int64_t i = i0; i < i1; i++)
          for (int64_t j = j0; j < j1; j++) {
            float v = plane[i * w + j];
            if (besti < 0 || v > best || v != v) {
              best = v;
              besti = i * w + j;
            }
          }
        yp[oh * ow_n + ow] = best;
        if (ap) ap[oh * ow_n + ow] = (int32_t)besti;
      }
    }
  }
  return INC_OK;
}

inc_status inc__cpu_maxpool_bwd(float *dx, const float *dy, const int32_t *arg,
                                const inc__window *g, inc_context *ctx)
{
  /* dx (N, C, H, W) <- dy, arg (N, C, OH, OW). One plane per iteration:
   * zeroed, then each output in order adds its dy at its argmax, so every
   * pixel sums the windows that chose it in the order the body does. */
  const int64_t planes = g->n * g->c, hw = g->h * g->w, ohw = g->oh * g->ow;
#pragma omp parallel for schedule(static) num_threads(inc__cpu_threads(ctx, planes * hw * 4))
  for (int64_t nc = 0; nc < planes; nc++) {
    float *dp = dx + nc * hw;
    const float *gp = dy + nc * ohw;
    const int32_t *ap = arg + nc * ohw;
    memset(dp, 0, (size_t)hw * sizeof *dp);
    for (int64_t o = 0; o < ohw; o++) {
      const int64_t a = ap[o];
      if (a >= 0 && a < hw) dp[a] += gp[o];
    }
  }
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
