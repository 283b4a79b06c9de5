/*
 * loss.c — CPU softmax cross-entropy: one row per iteration through the
 * INC_HD row body, the loss summed in double in row order so the result
 * does not depend on the thread count.
 */
#include "cpu.h"

inc_status inc__cpu_softmax_ce(double *loss_sum, int64_t *correct, float *dlogits,
                               const float *logits, const int32_t *labels, int64_t n, int64_t k,
                               float scale, float smoothing, inc_context *ctx)
{
  /* logits, dlogits (N, K); labels (N) */
  double sum = 0.0;
  int64_t hits = 0;
  for (int64_t r = 0; r < n; r++) {
    int hit = 0;
    sum += inc__k_softmax_ce_row(logits + r * k, labels[r], k, scale, smoothing,
                                 dlogits ? dlogits + r * k : NULL, &hit);
    hits += hit;
  }
  (void)ctx;
  *loss_sum = sum;
  *correct = hits;
  return INC_OK;
}
