/*
 * loss.c — softmax cross-entropy over logits (N, K) with host int32 labels:
 * argument and label checks here (dlogits must not alias logits), the per-row
 * work in the backend.
 */
#include <stdio.h>
#include "internal.h"

INC_API inc_status inc_softmax_cross_entropy(inc_context *ctx, const inc_tensor *logits,
                                             const int32_t *labels, float *mean_loss,
                                             inc_tensor *dlogits, int64_t *correct)
{
  if (!ctx) return INC_ERR_INVALID_ARGUMENT;
  inc_status s = inc__begin(ctx);
  if (s != INC_OK) return s;
  if (!logits || !labels)
    return inc__error(ctx, INC_ERR_INVALID_ARGUMENT, "softmax_cross_entropy: %s is NULL",
                      logits ? "labels" : "logits");
  if (logits->ctx != ctx || (dlogits && dlogits->ctx != ctx))
    return inc__error(ctx, INC_ERR_INVALID_ARGUMENT,
                      "softmax_cross_entropy: a tensor belongs to another context");
  char a[96], b[96];
  if (logits->ndim != 2)
    return inc__error(ctx, INC_ERR_SHAPE,
                      "softmax_cross_entropy: logits must be (N, classes), got %s",
                      inc__dims_str(logits->ndim, logits->dims, a, sizeof a));
  if (dlogits && (dlogits->ndim != 2 || dlogits->dims[0] != logits->dims[0] ||
                  dlogits->dims[1] != logits->dims[1]))
    return inc__error(ctx, INC_ERR_SHAPE,
                      "softmax_cross_entropy: dlogits is %s but logits are %s",
                      inc__dims_str(dlogits->ndim, dlogits->dims, a, sizeof a),
                      inc__dims_str(logits->ndim, logits->dims, b, sizeof b));
  /* The backend writes dlogits while it still reads logits (shapes are
   * equal by now, so are the two byte counts). */
  if (dlogits && (dlogits == logits ||
                  inc__ranges_overlap(dlogits->data, logits->data,
                                      (size_t)logits->numel * sizeof(float))))
    return inc__error(ctx, INC_ERR_INVALID_ARGUMENT,
                      "softmax_cross_entropy: dlogits %s; pass a separate tensor",
                      dlogits == logits ? "is the logits tensor" : "shares memory with logits");
  int64_t n = logits->dims[0], k = logits->dims[1];
  for (int64_t i = 0; i < n; i++)
    if (labels[i] < 0 || labels[i] >= k)
      return inc__error(ctx, INC_ERR_INVALID_ARGUMENT,
                        "softmax_cross_entropy: label %d of row %lld is outside [0, %lld)",
                        (int)labels[i], (long long)i, (long long)k);
  double sum = 0.0;
  int64_t hits = 0;
  s = ctx->ops->softmax_ce(&sum, &hits, dlogits ? dlogits->data : NULL, logits->data, labels, n,
                           k, 1.0f / (float)n, ctx);
  if (s != INC_OK) return s;
  if (mean_loss) *mean_loss = (float)(sum / (double)n);
  if (correct) *correct = hits;
  return INC_OK;
}
